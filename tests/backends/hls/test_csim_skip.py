"""The activation-skipping engine in HLS C++ (fpga_flow_skip.h): C simulation with g++ equals the
bit-exact reference for every storage and parallelism, inputs with many exact zeros included."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from fpga_flow.backends.hls import emit_hls
from fpga_flow.backends.hls.context import SKIP_KERNELS, ident, kernel_of, readme_context, skip_roms, top_context
from fpga_flow.boards import load_board
from fpga_flow.hw import DesignPlan, plan_design
from fpga_flow.ir import DenseLayer, Graph
from fpga_flow.sim.csim import run_csim
from fpga_flow.tbdata import TbData, write_tb_data

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "hw_tests"))
from rtl_models import make_graph, random_inputs  # noqa: E402

KINDS = ("dense", "csr", "codebook", "mlp3", "emptyrows")
BOARD = "pynq-z2"
OPT = "-O1"

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")


def skip_plan(g: Graph, parallelism: int) -> DesignPlan:
    """Every fully-connected layer of ``g`` as an activation-skipping engine."""
    return plan_design(g, parallelism, load_board(BOARD), skip=frozenset(l.name for l in g.dense_layers()))


def sparse_inputs(g: Graph, n: int = 48) -> np.ndarray:
    """Random inputs, half of every vector (a different half per sample) exactly 0, an all-zero one."""
    x = random_inputs(g, n, seed=5)
    rng = np.random.default_rng(9)
    size = x.shape[1]
    for row in x[2:]:
        row[rng.permutation(size)[: size // 2]] = 0.0
    x[-1] = 0.0
    return x


#: one g++ build each (about 10 s of CPU): every storage at 4 lanes, one lane on the mixed MLP
CSIM_CASES = [("dense", 4), ("csr", 4), ("codebook", 4), ("mlp3", 1), ("mlp3", 4), ("emptyrows", 4)]


@needs_gxx
@pytest.mark.parametrize("kind,parallelism", CSIM_CASES, ids=[f"{k}-P{p}" for k, p in CSIM_CASES])
def test_skipping_csim_is_bit_exact(kind, parallelism, tmp_path):
    g = make_graph(kind)
    plan = skip_plan(g, parallelism)
    assert all(p.skip is not None for p in plan.layers if isinstance(p.layer, DenseLayer))
    board = load_board(BOARD)
    emit_hls(plan, board, tmp_path)
    x = sparse_inputs(g)
    vals = g.execute(x)
    out = g.output_layers[0]
    n = len(x)
    write_tb_data(tmp_path / "tb_data", TbData(vals[g.inputs[0].name].reshape(n, -1), vals[out.name].reshape(n, -1),
                                              g.inputs[0].out_type, out.out_type))
    # mlp3 at P=4 (all three storages) runs with the synthesis words (ap_int/ap_uint ROMs and indices)
    defines = ("FPGA_FLOW_AP_ROMS",) if (kind, parallelism) == ("mlp3", 4) else ()
    res = run_csim(tmp_path, opt=OPT, log=None, defines=defines)
    expected = vals[g.outputs[0]]
    assert res.compared and res.n_samples == n and res.stream_errors == ()
    assert res.mismatches == 0, res.first_mismatches
    np.testing.assert_array_equal(res.outputs, expected)
    assert res.ok
    top = (tmp_path / "hls" / "firmware" / "fpga_flow_top.cpp").read_text()
    for p in plan.layers:
        if p.skip is not None:
            func = "skip_codebook_layer" if p.codebook is not None else "skip_layer"
            assert f"fpga_flow::{func}<" in top
    assert "csr_layer<" not in top and "::codebook_layer<" not in top and "dense_layer<" not in top


@pytest.mark.parametrize("kind", KINDS)
def test_skipping_layers_call_the_skip_kernel(kind):
    g = make_graph(kind)
    plan = skip_plan(g, 4)
    top = top_context(plan)
    calls = {c["name"]: c for c in top["calls"] if not c["fork"]}
    configs = {c["name"]: c for c in top["configs"]}
    for p in plan.layers:
        if p.skip is None:
            continue
        func, roles = SKIP_KERNELS[p.engine]
        assert kernel_of(p) == (func, roles)
        assert func == ("skip_codebook_layer" if p.codebook is not None else "skip_layer")
        assert calls[p.name]["func"] == func
        assert calls[p.name]["args"] == [ident(p.name, r) for r in roles]
        assert configs[p.name]["summary"].startswith("activation-skipping kernel")
    rows = {r["name"]: r for r in readme_context(plan, load_board(BOARD))["rows"]}
    assert all(rows[p.name]["kernel"].startswith("activation-skipping") for p in plan.layers if p.skip is not None)
    # the same graph without skipping keeps the lock-step kernels
    lock = plan_design(g, 4, load_board(BOARD))
    assert all(not kernel_of(p)[0].startswith("skip") for p in lock.layers)


@pytest.mark.parametrize("parallelism", [1, 4])
@pytest.mark.parametrize("kind", KINDS)
def test_skip_roms_hold_every_weight_column_by_column(kind, parallelism):
    """The ROMs the kernel walks give back the layer's weight matrix (rows by lane/slot, columns by
    the column pointers), each weight once."""
    g = make_graph(kind)
    for p in skip_plan(g, parallelism).layers:
        if p.skip is None:
            continue
        lay = p.layer
        assert isinstance(lay, DenseLayer)
        roms = {r.role: r.values for r in skip_roms(p)}
        field = roms["code"] if p.codebook is not None else roms["w"]
        row_of = {(int(ln), int(s)): r for r, (ln, s) in enumerate(zip(roms["lane"], roms["slot"], strict=True))}
        got = np.zeros((lay.n_out, lay.n_in), np.int64)
        for lane in range(p.lanes):
            for j in range(lay.n_in):
                a = int(roms["cstart"][lane, j])
                for t in range(a, a + int(roms["ccount"][lane, j])):
                    r = row_of[(lane, int(roms["eslot"][lane, t]))]
                    assert got[r, j] == 0
                    v = int(field[lane, t])
                    got[r, j] = int(p.codebook[v]) if p.codebook is not None else v
        np.testing.assert_array_equal(got, lay.weights.to_dense())
