"""C simulation with g++ equals the bit-exact reference, for every kernel and parallelism."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from fpga_flow.cli import main
from fpga_flow.errors import FlowError
from fpga_flow.fixed import FixedType, Overflow, Rounding
from fpga_flow.ir import Activation, Graph, InputLayer
from fpga_flow.sim.csim import run_csim
from fpga_flow.tbdata import EXPECTED_FILE

from .models import dense, fine_bias_mlp, mixed_mlp, plan, single_layer, stimulus, write_project

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")

#: Tests compile with -O1: the same semantics, less compile time.
OPT = "-O1"


def csim(graph: Graph, out, parallelism: int, x: np.ndarray | None = None):
    write_project(graph, out, parallelism, x)
    return run_csim(out, opt=OPT, log=None)


def assert_bit_exact(graph: Graph, res, x: np.ndarray) -> None:
    expected = graph.execute(x)[graph.outputs[0]]
    assert res.compared and res.n_samples == len(x)
    assert res.stream_errors == ()
    assert res.mismatches == 0, res.first_mismatches
    np.testing.assert_array_equal(res.outputs, expected)
    assert res.ok


@pytest.mark.parametrize("parallelism", [1, 3])
@pytest.mark.parametrize("kind", ["dense", "csr", "codebook", "codebook_factored"])
def test_single_layer_kernel_is_bit_exact(kind, parallelism, tmp_path):
    g = single_layer(kind)
    assert plan(g, parallelism).layers[0].engine == kind
    x = stimulus(g)
    assert_bit_exact(g, csim(g, tmp_path, parallelism, x), x)


@pytest.mark.parametrize("parallelism", [1, 4])
def test_mixed_mlp_is_bit_exact(parallelism, tmp_path):
    g = mixed_mlp()
    assert [p.engine for p in plan(g, parallelism).layers] == [
        "csr", "codebook_factored", "pointwise", "dense", "pointwise"
    ]
    x = stimulus(g, n=60)
    res = csim(g, tmp_path, parallelism, x)
    assert_bit_exact(g, res, x)
    assert res.out_type == g.output_layers[0].out_type


def edge_graph() -> Graph:
    """Unsigned 5-bit input (12 per beat), an all-zero layer (nnz=0: bias only) and the accumulator
    as output (16 bits, 4 per 64-bit beat)."""
    rng = np.random.default_rng(11)
    inp = InputLayer("x_in", (), (13,), FixedType(5, 2, False, Rounding.RND_CONV, Overflow.SAT))
    zero = dense("zero", inp, 6, rng, kind="csr", sparsity=1.0, out_type=FixedType(6, 3, True))
    wide = dense("wide", zero, 5, rng, kind="csr", sparsity=0.1, act=Activation.LINEAR)
    g = Graph("edge", (inp, zero, wide), ("wide",)).verify()
    assert zero.nnz == 0 and wide.out_type.width >= 16
    return g


@pytest.mark.parametrize(("kind", "parallelism"), [("mixed", 2), ("codebook", 2), ("edge", 8), ("fine_bias", 2)])
def test_synthesis_rom_words_are_bit_exact(kind, parallelism, tmp_path):
    """FPGA_FLOW_AP_ROMS: the ROM, input and accumulator words as synthesis sees them (ap_int/ap_uint,
    read through range()) instead of the plain C integers of a C simulation; the same outputs, bit for
    bit (edge: unsigned input words, an empty layer, more lanes than rows; fine_bias: every MLP kernel
    with its products shifted to the bias's binary point)."""
    g = {"mixed": mixed_mlp, "codebook": lambda: single_layer("codebook"), "edge": edge_graph,
         "fine_bias": fine_bias_mlp}[kind]()
    if kind == "fine_bias":
        fields = [p.fields for p in plan(g, parallelism).layers]
        assert [p.engine for p in plan(g, parallelism).layers] == ["csr", "dense", "codebook", "codebook_factored"]
        assert all(f is not None and f.shift_p == 5 and f.shift_b == 0 for f in fields)
    x = stimulus(g, n=20)
    write_project(g, tmp_path, parallelism, x)
    top_obj = tmp_path / "hls" / "csim_build" / "fpga_flow_top.o"
    assert_bit_exact(g, run_csim(tmp_path, opt=OPT, log=None), x)
    native_code = top_obj.read_bytes()
    res = run_csim(tmp_path, opt=OPT, log=None, defines=("FPGA_FLOW_AP_ROMS",))
    assert res.compiled and top_obj.read_bytes() != native_code  # the macro reached g++ and changed the kernels
    assert_bit_exact(g, res, x)


def test_edge_cases_are_bit_exact(tmp_path):
    """The edge graph (edge_graph) with more lanes than rows."""
    g = edge_graph()
    x = stimulus(g)
    assert_bit_exact(g, csim(g, tmp_path, 8, x), x)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    g = mixed_mlp(seed=5)
    out = tmp_path_factory.mktemp("proj") / "out"
    x = stimulus(g, n=25)
    res = csim(g, out, 2, x)
    assert_bit_exact(g, res, x)
    assert res.compiled
    return g, out


def test_rerun_reuses_the_build(project):
    g, out = project
    res = run_csim(out, opt=OPT, log=None)
    assert not res.compiled and res.ok


def test_user_input_writes_exact_float_outputs(project, tmp_path):
    g, out = project
    x = np.random.default_rng(3).uniform(-12, 12, size=(9, g.inputs[0].size))
    np.save(tmp_path / "x.npy", x)
    res = run_csim(out, tmp_path / "x.npy", tmp_path / "y.npy", opt=OPT, log=None)
    assert not res.compared and res.n_samples == 9 and res.ok
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, g.run_float(x))


def test_cli_csim_passes_and_prints(project, tmp_path, capsys):
    g, out = project
    assert main(["csim", str(out), "--opt-level", "1", "--output", str(tmp_path / "y.npy")]) == 0
    captured = capsys.readouterr()
    assert "all 25 samples equal the bit-exact reference" in captured.out
    assert "running 25 sample(s)" in captured.err
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), g.run_float(stimulus(g, n=25)))
    x = stimulus(g, n=3)
    np.save(tmp_path / "x.npy", x)
    assert main(["csim", str(out), "--opt-level", "1", "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y3.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y3.npy"), g.run_float(x))


def test_cli_csim_fails_on_any_mismatch(project, capsys):
    g, out = project
    path = out / "tb_data" / EXPECTED_FILE
    original = path.read_text()
    rows = [line.split() for line in original.splitlines()]
    rows[4][2] = str(int(rows[4][2]) + 1)
    path.write_text("".join(" ".join(r) + "\n" for r in rows))
    try:
        assert main(["csim", str(out), "--opt-level", "1"]) == 1
        text = capsys.readouterr().out
        assert "1 output value(s) differ" in text
        assert f"sample 4 element 2: expected {int(rows[4][2])} got {int(rows[4][2]) - 1}" in text
        res = run_csim(out, opt=OPT, log=None)
        assert res.mismatches == 1 and res.first_mismatches[0][:2] == (4, 2) and not res.ok
        assert "mismatch: sample 4 element 2" in res.log.read_text()
    finally:
        path.write_text(original)


def test_errors_are_clear(project, tmp_path, capsys):
    g, out = project
    with pytest.raises(FlowError, match="not an fpga-flow project"):
        run_csim(tmp_path, log=None)
    assert main(["csim", str(tmp_path)]) == 2
    assert "not an fpga-flow project" in capsys.readouterr().err
    with pytest.raises(FlowError, match="not found"):
        run_csim(out, cxx="no-such-compiler-g++", log=None)
    np.save(tmp_path / "bad.npy", np.zeros((2, 3)))
    with pytest.raises(FlowError, match=r"expected shape \(N, 20\), got \(2, 3\)"):
        run_csim(out, tmp_path / "bad.npy", opt=OPT, log=None)
    np.save(tmp_path / "nan.npy", np.full((1, g.inputs[0].size), np.nan))
    with pytest.raises(FlowError, match="NaN"):
        run_csim(out, tmp_path / "nan.npy", opt=OPT, log=None)
