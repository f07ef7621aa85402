"""The generated Makefile: one-line stops without the Xilinx tools, exit codes, expected products.

"Tools" here are fake ``vivado_hls`` / ``vivado`` executables that run the generated Tcl scripts
under the stubs of ``stub_vivado.tcl`` (which write the reports, IP and bitstream the real tools
write), so ``make ip`` and ``make bitstream`` run end to end with the real scripts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from fpga_flow.backends.board import BITFILE, HLS_PROJECT, HLS_SOLUTION, emit_board
from fpga_flow.backends.hls import emit_hls
from fpga_flow.boards import load_board
from fpga_flow.hw import plan_design

from .helpers import STUB, mlp, tclsh

SOL = f"hls/{HLS_PROJECT}/{HLS_SOLUTION}"

FAKE_HLS = """#!/bin/sh
# fake vivado_hls: vivado_hls -f SCRIPT "SWITCHES"
[ "$1" = "-f" ] || exit 2
exec {tclsh} {stub} "$2" .calls-hls.txt "$3"
"""
FAKE_VIVADO = """#!/bin/sh
# fake vivado: vivado -mode batch ... -source SCRIPT [-tclargs ARGS...]
script=""
while [ $# -gt 0 ]; do
    case "$1" in
        -source) script="$2"; shift 2 ;;
        -tclargs) shift; break ;;
        *) shift ;;
    esac
done
exec {tclsh} {stub} "$script" .calls-vivado.txt "$@"
"""


def _make():
    exe = shutil.which("make")
    if exe is None:
        pytest.skip("make is not installed")
    return exe


def _env(bin_dir: Path | None = None, **extra: str) -> dict:
    """A PATH without any Xilinx tool (plus ``bin_dir``), and no make state of an outer make."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "HLS_TOOL", "VIVADO", "JOBS") and not k.startswith("STUB_")}
    env["PATH"] = (f"{bin_dir}:" if bin_dir else "") + "/usr/bin:/bin"
    env.update(extra)
    return env


def _run(root: Path, target: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_make(), "-C", str(root), "--no-print-directory", target, *args], capture_output=True,
                          text=True, env=env, timeout=120)


def _fake_tools(tmp_path: Path, hls: bool = True, vivado: bool = True) -> Path:
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir(parents=True)
    for name, text, wanted in (("vivado_hls", FAKE_HLS, hls), ("vivado", FAKE_VIVADO, vivado)):
        if wanted:
            exe = bin_dir / name
            exe.write_text(text.format(tclsh=tclsh(), stub=STUB))
            exe.chmod(0o755)
    return bin_dir


def _project(tmp_path: Path, board: str = "pynq-z2") -> Path:
    root = tmp_path / "OUT"
    b = load_board(board)
    emit_hls(plan_design(mlp(), 2, b), b, root)
    emit_board(mlp(), b, root, 2)
    return root


@pytest.fixture(scope="module", autouse=True)
def _tools_absent():
    for tool in ("vivado", "vivado_hls", "vitis_hls"):
        for d in ("/usr/bin", "/bin"):
            if Path(d, tool).exists():
                pytest.skip(f"{d}/{tool} exists: cannot test the missing-tool messages here")


@pytest.mark.parametrize("target", ["csim", "hls", "cosim", "ip"])
def test_hls_targets_stop_with_one_line_when_no_hls_tool(tmp_path, target):
    root = _project(tmp_path)
    res = _run(root, target, _env())
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert f"make {target} needs vitis_hls or vivado_hls on PATH and it is not there" in lines[0]
    assert not (root / "hls" / HLS_PROJECT).exists()


def test_csim_message_points_to_the_toolless_csim(tmp_path):
    res = _run(_project(tmp_path), "csim", _env())
    assert "fpga-flow csim" in res.stderr


def test_named_hls_tool_that_is_missing_is_named(tmp_path):
    res = _run(_project(tmp_path), "hls", _env(HLS_TOOL="vitis_hls"))
    assert res.returncode == 2
    assert "make hls needs vitis_hls on PATH" in res.stderr and "vivado_hls" not in res.stderr


def test_bitstream_stops_before_hls_when_vivado_is_missing(tmp_path):
    root = _project(tmp_path)
    res = _run(root, "bitstream", _env(_fake_tools(tmp_path, vivado=False)))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "make bitstream needs vivado on PATH and it is not there" in lines[0]
    assert not (root / "hls" / HLS_PROJECT).exists(), "HLS ran although the bitstream could not be built"


def test_ip_and_bitstream_end_to_end_with_stubbed_tools(tmp_path):
    root = _project(tmp_path)
    env = _env(_fake_tools(tmp_path))
    res = _run(root, "csim", env)
    assert res.returncode == 0, res.stderr
    assert "csim passed" in res.stdout
    res = _run(root, "cosim", env)
    assert res.returncode == 0, res.stderr
    assert (root / SOL / "syn" / "report" / "fpga_flow_top_csynth.rpt").is_file()
    res = _run(root, "bitstream", env, "JOBS=3")
    assert res.returncode == 0, res.stderr
    assert (root / SOL / "impl" / "ip" / "component.xml").is_file()
    for suffix in ("bit", "hwh"):
        assert (root / "vivado" / "output" / f"{BITFILE}.{suffix}").is_file()
        assert (root / "driver" / f"{BITFILE}.{suffix}").is_file()
    # up to date: nothing runs again, so no tool is needed
    res = _run(root, "bitstream", _env(_fake_tools(tmp_path / "again", hls=False)))
    assert res.returncode == 0, res.stderr
    assert "vivado_hls" not in res.stdout
    res = _run(root, "clean", env)
    assert res.returncode == 0
    assert not (root / "hls" / HLS_PROJECT).exists() and not (root / "driver" / f"{BITFILE}.bit").exists()
    assert (root / "hls" / "build_prj.tcl").is_file() and (root / "vivado" / "build_bd.tcl").is_file()


def test_failing_tool_stops_with_its_exit_code(tmp_path):
    root = _project(tmp_path)
    res = _run(root, "hls", _env(_fake_tools(tmp_path), STUB_FAIL="csynth_design"))
    assert res.returncode == 2  # make's status when a recipe fails
    assert "fpga-flow: make hls: vivado_hls failed (exit 1); see hls/vivado_hls.log" in res.stderr


def test_missing_product_is_an_error(tmp_path):
    root = _project(tmp_path)
    res = _run(root, "ip", _env(_fake_tools(tmp_path), STUB_NO_PRODUCTS="1"))
    assert res.returncode == 2
    assert f"make hls: the tool exited 0 but {SOL}/syn/report/fpga_flow_top_csynth.rpt is missing" in res.stderr


def test_failed_cosim_report_is_an_error(tmp_path):
    root = _project(tmp_path)
    env = _env(_fake_tools(tmp_path))
    assert _run(root, "hls", env).returncode == 0
    # a tool that writes a failing report (it runs in hls/)
    rpt = f"{HLS_PROJECT}/{HLS_SOLUTION}/sim/report/fpga_flow_top_cosim.rpt"
    fake = tmp_path / "fakebin" / "vivado_hls"
    fake.write_text(f"#!/bin/sh\nmkdir -p {Path(rpt).parent}\necho '|  Verilog|  Fail|' > {rpt}\n")
    res = _run(root, "cosim", env)
    assert res.returncode == 2 and "the co-simulation did not pass" in res.stderr


@pytest.mark.parametrize("board_name", ["arty-a7-100t", "alveo-u250"])
def test_boards_without_ps_explain_that_there_is_no_bitstream(tmp_path, board_name):
    root = _project(tmp_path, board_name)
    res = _run(root, "bitstream", _env(_fake_tools(tmp_path)))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"no bitstream for {board_name}: it has no processing system" in lines[0]
    assert not (root / "hls" / HLS_PROJECT).exists()
    rtl = root / "rtl"
    rtl.mkdir()
    (rtl / "fpga_flow_top.v").write_text("module fpga_flow_top; endmodule\n")
    (rtl / "sources.f").write_text("fpga_flow_top.v\n")
    res = _run(root, "rtl_ip", _env(_fake_tools(tmp_path / "t2")))
    assert res.returncode == 0, res.stderr
    assert (root / "vivado" / "ip_repo" / "component.xml").is_file()


def test_help_is_the_default_target(tmp_path):
    res = _run(_project(tmp_path), "help", _env())
    assert res.returncode == 0 and "make csim | hls | cosim | ip | bitstream" in res.stdout
    res = subprocess.run([_make(), "-C", str(tmp_path / "OUT"), "--no-print-directory"], capture_output=True,
                         text=True, env=_env(), timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("fpga-flow project for pynq-z2")
