"""The generated HLS tree: golden text, byte-identical rebuilds, relative paths, hostile names.

Golden files live in ``tests/backends/hls/golden/tiny/`` (the ``hls/`` tree of :func:`tiny`
without the copied library). After an intended change to the templates or the backend,
regenerate them and review the diff::

    FPGA_FLOW_REGEN_GOLDEN=1 .venv/bin/pytest tests/backends/hls/test_emit.py -k golden
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from fpga_flow.backends.hls import LIB_FILES
from fpga_flow.boards import load_board
from fpga_flow.fixed import FixedType, Overflow, Rounding
from fpga_flow.ir import Activation, Graph, InputLayer, QuantizeLayer, ReluLayer
from fpga_flow.names import NameTable
from fpga_flow.resources import templates_dir
from fpga_flow.sim.csim import run_csim

from .models import ACT_T, IN_T, dense, emit, stimulus, write_project

GOLDEN = Path(__file__).parent / "golden" / "tiny"
REGEN = os.environ.get("FPGA_FLOW_REGEN_GOLDEN") == "1"


def tiny() -> Graph:
    """6 -> CSR(5, relu, an empty row) -> factored codebook(3, K=3) -> quantize."""
    rng = np.random.default_rng(42)
    inp = InputLayer("x_in", (), (6,), IN_T)
    a = dense("fc_a", inp, 5, rng, kind="csr", sparsity=0.5, empty_rows=(2,), out_type=ACT_T)
    b = dense("fc_b", a, 3, rng, kind="codebook", sparsity=0.1, codebook=np.array([-50, 13, 70]),
              act=Activation.LINEAR, out_type=FixedType(10, 4, True, Rounding.RND, Overflow.SAT))
    q = QuantizeLayer("q", ("fc_b",), (3,), FixedType(8, 3, True, Rounding.RND_CONV, Overflow.SAT_SYM))
    return Graph("tiny", (inp, a, b, q), ("q",)).verify()


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_golden_files(tmp_path):
    emit(tiny(), load_board("pynq-z2"), tmp_path, 2)
    got = {k: v for k, v in tree(tmp_path / "hls").items() if not k.startswith("firmware/lib/")}
    if REGEN:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for rel, data in got.items():
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_bytes(data)
    want = tree(GOLDEN)
    assert sorted(got) == sorted(want), "file list changed; see the module docstring to regenerate"
    for rel in want:
        assert got[rel].decode() == want[rel].decode(), f"{rel} differs from the golden file"


def test_library_is_copied_verbatim(tmp_path):
    files = emit(tiny(), load_board("pynq-z2"), tmp_path)
    lib = templates_dir() / "hls" / "lib"
    assert sorted(p.name for p in lib.glob("*.h")) == sorted(LIB_FILES)
    for name in LIB_FILES:
        assert (tmp_path / "hls" / "firmware" / "lib" / name).read_bytes() == (lib / name).read_bytes()
    assert len(set(files)) == len(files) and all(p.is_file() for p in files)


def test_rebuild_is_byte_identical_and_relocatable(tmp_path):
    g = tiny()
    board = load_board("zcu104")
    emit(g, board, tmp_path / "a", 3)
    emit(g, board, tmp_path / "deeper" / "b", 3)
    first = tree(tmp_path / "a")
    assert first == tree(tmp_path / "deeper" / "b")
    emit(g, board, tmp_path / "a", 3)
    assert tree(tmp_path / "a") == first
    for rel, data in first.items():
        text = data.decode()
        assert str(tmp_path) not in text and "/tmp" not in text, rel
    assert tree(tmp_path / "a") != tree(emit_dir(g, board, tmp_path / "c", 1))


def emit_dir(g: Graph, board, out: Path, parallelism: int) -> Path:
    emit(g, board, out, parallelism)
    return out


def test_project_files_name_the_board_and_the_interface(tmp_path):
    board = load_board("pynq-z2")
    emit(tiny(), board, tmp_path, 2)
    hls = tmp_path / "hls"
    tcl = (hls / "build_prj.tcl").read_text()
    assert "set_part {xc7z020clg400-1}" in tcl
    assert f"create_clock -period {board.clock_period_ns:g} -name default" in tcl
    for switch in ("csim", "synth", "cosim", "export"):
        assert f"if {{$opt({switch})}}" in tcl
    assert "add_files firmware/weights/fc_a.cpp" in tcl and "add_files -tb ../tb_data" in tcl
    top = (hls / "firmware" / "fpga_flow_top.cpp").read_text()
    for pragma in ("INTERFACE axis port=in_r", "INTERFACE axis port=out_r", "INTERFACE ap_ctrl_none port=return",
                   "DATAFLOW"):
        assert f"#pragma HLS {pragma}" in top
    assert "void fpga_flow_top(hls::stream<fpga_flow_in_t> &in_r, hls::stream<fpga_flow_out_t> &out_r)" in top
    readme = (hls / "README.md").read_text()
    assert "vivado_hls -f build_prj.tcl" in readme and "../tb_data/" in readme and "xc7z020clg400-1" in readme
    params = (hls / "firmware" / "parameters.h").read_text()
    assert "typedef ap_uint<3> col_t;" in params  # 6 columns
    assert "typedef ap_uint<2> code_t;" in params  # 3 codebook entries
    assert "static void codebook(weight_t cb[3])" in params


HOSTILE = ["input", "out", "int", '"; system("x"); //', "../x", "ünïcödé层", "wchar", "main"]


def hostile_graph() -> tuple[Graph, list[str]]:
    names = NameTable()
    s = [names.add(n) for n in HOSTILE]
    rng = np.random.default_rng(8)
    inp = InputLayer(s[0], (), (9,), IN_T, origin=HOSTILE[0])
    l1 = dense(s[1], inp, 7, rng, kind="csr", act=Activation.LINEAR, origin=HOSTILE[1])
    r1 = ReluLayer(s[2], (s[1],), (7,), ACT_T, origin=HOSTILE[2])
    l2 = dense(s[3], r1, 6, rng, kind="codebook", sparsity=0.2, codebook=np.array([-9, 4, 30]),
               out_type=ACT_T, origin=HOSTILE[3])
    l3 = dense(s[4], l2, 5, rng, kind="dense", out_type=ACT_T, origin=HOSTILE[4])
    l4 = dense(s[5], l3, 4, rng, kind="codebook", sparsity=0.4, codebook=np.arange(-120, 120, 9),
               out_type=ACT_T, origin=HOSTILE[5])
    q = QuantizeLayer(s[6], (s[5],), (4,), IN_T, origin=HOSTILE[6])
    r2 = ReluLayer(s[7], (s[6],), (4,), IN_T, origin=HOSTILE[7])
    return Graph("hostile", (inp, l1, r1, l2, l3, l4, q, r2), (s[7],)).verify(), s


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
def test_hostile_names_compile_and_stay_out_of_the_code(tmp_path):
    g, sanitized = hostile_graph()
    assert sanitized[:4] == ["n_input", "n_out", "n_int", "system_x"]
    x = stimulus(g)
    files = write_project(g, tmp_path, parallelism=2, x=x)
    for p in files:
        text = p.read_text()
        for raw in ('"; system(', "../x", "ünïcödé", "层"):
            assert raw not in text, (p, raw)
    res = run_csim(tmp_path, opt="-O1", log=None)
    assert res.ok and res.mismatches == 0
    np.testing.assert_array_equal(res.outputs, g.execute(x)[g.outputs[0]])


def test_unsafe_layer_names_are_rejected(tmp_path):
    rng = np.random.default_rng(0)
    inp = InputLayer("x_in", (), (4,), IN_T)
    bad = dense("fc__1", inp, 2, rng)
    with pytest.raises(ValueError, match="NameTable"):
        emit(Graph("g", (inp, bad), ("fc__1",)).verify(), load_board("pynq-z2"), tmp_path)


def test_emit_over_an_older_project_drops_its_layer_sources(tmp_path):
    board = load_board("pynq-z2")
    g, _ = hostile_graph()
    emit(g, board, tmp_path)
    emit(tiny(), board, tmp_path)
    weights = sorted(p.name for p in (tmp_path / "hls" / "firmware" / "weights").iterdir())
    assert weights == ["fc_a.cpp", "fc_b.cpp"]
