"""A built tree verifies itself: ``report.json`` records the checksums of ``tb_data/`` and the ROM files,
``fpga-flow csim`` refuses a tree that does not match them (or whose ``meta.json`` disagrees with the
report) with one line naming the file, exit 2, and writes nothing; a tampered ``meta.json`` or
``tb_data`` is refused by :func:`~fpga_flow.tbdata.read_tb_data` itself, report or not."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest

from fpga_flow.checksums import SECTION, TB_FILES, tree_checksums, verify_project
from fpga_flow.cli import main
from fpga_flow.errors import FlowError
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.tbdata import EXPECTED_FILE, INPUT_FILE, META_FILE, read_tb_data

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
N_IN = 20


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("integrity")
    model = root / "mlp.onnx"
    onnx.save(sparse_mlp(N_IN, [LayerSpec(9, 0.6), LayerSpec(5, 0.5, codebook_bits=2),
                                LayerSpec(3, 0.4, relu=False, act=None)], seed=5), model)
    out = root / "out"
    assert main(["build", str(model), "-o", str(out), "--samples", "4"]) == 0
    return out


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("csim_build", "sim_build"))
    return dst


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def _write_report(out: Path, r: dict) -> None:
    (out / "report.json").write_text(json.dumps(r, indent=2, sort_keys=True) + "\n")


def _edit_meta(out: Path, **changes: object) -> None:
    _set_meta(out / "tb_data", **changes)


def _set_meta(tb_dir: Path, **changes: object) -> None:
    p = tb_dir / META_FILE
    meta = json.loads(p.read_text())
    meta.update(changes)
    p.write_text(json.dumps(meta, indent=2) + "\n")


def _rerecord(out: Path) -> None:
    """What a careful forger does: the checksums recomputed after the edit."""
    r = _report(out)
    r[SECTION] = tree_checksums(out)
    _write_report(out, r)


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if "error:" in line]
    assert len(errors) == 1, err
    assert "Traceback" not in "\n".join(err)
    for n in needles:
        assert n in errors[0], errors[0]
    return errors[0]


def test_build_records_every_tb_data_and_rom_checksum(built: Path) -> None:
    section = _report(built)[SECTION]
    assert section["algorithm"] == "sha256"
    roms = sorted(f"rtl/{p.name}" for p in (built / "rtl").glob("*.mem"))
    assert len(roms) >= 3
    assert sorted(section["files"]) == sorted([*roms, *TB_FILES])
    for rel, digest in section["files"].items():
        assert digest == hashlib.sha256((built / rel).read_bytes()).hexdigest(), rel
    tb = verify_project(built, _report(built))
    assert tb.inputs.shape == (4, N_IN)


@needs_gxx
def test_verified_tree_runs_csim_and_user_inputs(built: Path, tmp_path: Path) -> None:
    assert main(["csim", str(built)]) == 0
    x = np.random.default_rng(1).uniform(-3, 3, size=(5, N_IN))
    np.save(tmp_path / "x.npy", x)
    assert main(["csim", str(built), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y")]) == 0
    assert np.load(tmp_path / "y").shape == (5, 3)  # exactly the path given: no ".npy" appended
    assert not list(tmp_path.glob("*.tmp*"))


def _delete_rom(out: Path) -> str:
    rom = sorted((out / "rtl").glob("*.mem"))[0]
    rom.unlink()
    return f"rtl/{rom.name}"


def _change_rom(out: Path) -> str:
    rom = sorted((out / "rtl").glob("*.mem"))[0]
    lines = rom.read_text().splitlines()
    lines[0] = "0" * len(lines[0]) if set(lines[0]) != {"0"} else "1" * len(lines[0])
    rom.write_text("\n".join(lines) + "\n")
    return f"rtl/{rom.name}"


def _output_type(out: Path) -> str:
    t = json.loads((out / "tb_data" / META_FILE).read_text())["output_type"]
    _edit_meta(out, output_type={**t, "integer": t["integer"] + 1})  # every value would read doubled
    return f"tb_data/{META_FILE}"


def _n_samples(out: Path) -> str:
    _edit_meta(out, n_samples=3)
    return f"tb_data/{META_FILE}"


def _truncate_expected(out: Path) -> str:
    p = out / "tb_data" / EXPECTED_FILE
    p.write_text(p.read_text()[:-9])
    return f"tb_data/{EXPECTED_FILE}"


def _corrupt_report(out: Path) -> str:
    (out / "report.json").write_text('{"model": ')
    return "report.json"


def _old_report(out: Path) -> str:
    r = _report(out)
    del r[SECTION]
    _write_report(out, r)
    return "report.json"


def _bad_section(out: Path) -> str:
    r = _report(out)
    r[SECTION]["files"] = {"../etc/passwd": "0" * 64, **r[SECTION]["files"]}
    _write_report(out, r)
    return "report.json"


TAMPER: dict[str, tuple[Callable[[Path], str], str]] = {
    "rom deleted": (_delete_rom, "is missing"),
    "rom changed": (_change_rom, "changed after the build"),
    "output type": (_output_type, "changed after the build"),
    "n_samples": (_n_samples, "changed after the build"),
    "expected truncated": (_truncate_expected, "changed after the build"),
    "report unreadable": (_corrupt_report, "not a readable report"),
    "report without checksums": (_old_report, "records no checksums"),
    "checksums malformed": (_bad_section, "malformed"),
}


@pytest.mark.parametrize("case", list(TAMPER))
def test_csim_refuses_a_tampered_tree(built: Path, tmp_path: Path, case: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = _copy(built, tmp_path / "out")
    tamper, why = TAMPER[case]
    rel = tamper(out)
    np.save(tmp_path / "x.npy", np.zeros((2, N_IN)))
    capsys.readouterr()
    rc = main(["csim", str(out), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")])
    assert rc == 2
    line = _one_line_error(capsys, str(out / rel), why, "fpga-flow build")
    assert line.startswith("fpga-flow csim: error:")
    assert not (tmp_path / "y.npy").exists()
    assert not (out / "hls" / "csim_build").exists()  # refused before compiling anything


@pytest.mark.parametrize("edit, needle", [
    ({"output_type": {"width": 16, "integer": 6, "signed": True, "rounding": "TRN", "overflow": "WRAP"}},
     "output_type fixed<16,6> does not match the project's fixed<16,5>"),
    ({"input_type": {"width": 8, "integer": 3, "signed": True, "rounding": "RND_CONV", "overflow": "SAT"}},
     "input_type"),
])
def test_meta_must_match_the_report_even_with_recomputed_checksums(built: Path, tmp_path: Path, edit: dict,
                                                                   needle: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = _copy(built, tmp_path / "out")
    r = _report(out)
    assert r["output_type"] == {"width": 16, "integer": 5, "signed": True, "rounding": "TRN", "overflow": "WRAP"}
    _edit_meta(out, **edit)
    _rerecord(out)
    assert main(["csim", str(out)]) == 2
    _one_line_error(capsys, str(out / "tb_data" / META_FILE), needle, "does not match")


@pytest.mark.parametrize("what, edit, needle", [
    ("n_samples", lambda d: _set_meta(d, n_samples=5), "holds 4 sample(s) but meta.json says n_samples = 5"),
    ("n_inputs", lambda d: _set_meta(d, n_inputs=19), "sample 0 has 20 values, meta.json says 19"),
    ("not json", lambda d: (d / META_FILE).write_text("{"), "not readable JSON"),
    ("not an object", lambda d: (d / META_FILE).write_text("[1, 2]"), "expected a JSON object"),
    ("n_samples text", lambda d: _set_meta(d, n_samples="4"), "n_samples must be an integer"),
    ("stream", lambda d: _set_meta(d, output_stream={"width": 16, "per_beat": 2, "tdata_bits": 32, "beats": 2}),
     "output_stream"),
    ("not integers", lambda d: (d / EXPECTED_FILE).write_text((d / EXPECTED_FILE).read_text().replace(" ", " x", 1)),
     "not decimal 64-bit integers"),
    ("binary", lambda d: (d / EXPECTED_FILE).write_bytes(b"\xff\xfe\x00"), "not a readable text file"),
    ("missing", lambda d: (d / INPUT_FILE).unlink(), "is missing"),
])
def test_read_tb_data_checks_everything_against_meta(built: Path, tmp_path: Path, what: str,
                                                     edit: Callable[[Path], object], needle: str) -> None:
    tb = tmp_path / "tb_data"
    shutil.copytree(built / "tb_data", tb)
    edit(tb)
    with pytest.raises(FlowError) as e:
        read_tb_data(tb)
    assert needle in str(e.value) and "fpga-flow build" in str(e.value)
    assert "\n" not in str(e.value)


@needs_gxx
def test_editing_the_hls_sources_is_the_users_business(built: Path, tmp_path: Path) -> None:
    out = _copy(built, tmp_path / "out")
    top = out / "hls" / "firmware" / "fpga_flow_top.cpp"
    top.write_text(top.read_text() + "\n// edited by hand\n")
    assert main(["csim", str(out)]) == 0


def test_console_script_prints_one_line_for_a_deleted_rom(built: Path, tmp_path: Path) -> None:
    out = _copy(built, tmp_path / "out")
    rel = _delete_rom(out)
    r = subprocess.run([sys.executable, "-m", "fpga_flow.cli", "csim", str(out)], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"fpga-flow csim: error: {out / rel} is missing (report.json records it); "
        "rebuild the project with 'fpga-flow build'"
    ]
