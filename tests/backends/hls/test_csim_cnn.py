"""C simulation of the window engine (lib/fpga_flow_window.h) with g++ equals the bit-exact reference:
every CNN kind of tests/cnn_graphs.py at parallelism 1 and 3 (LeNet also at 4), the residual add and
the concatenation (a map read twice: stream_fork, window_merge_layer) at parallelism 1 and 3, and every
window kernel with the ROM and arithmetic words synthesis sees (``FPGA_FLOW_AP_ROMS``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from fpga_flow.backends.hls.context import kernel_of
from fpga_flow.ir import AvgPool2dLayer, Graph, InputLayer
from fpga_flow.pipeline import LowerOptions, lower
from fpga_flow.sim.csim import CsimResult, run_csim
from tests import cnn_graphs
from tests.cnn_graphs import CNN_KINDS, cnn_graph, cnn_inputs

from .models import plan, write_project

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")

#: Tests compile with -O1, as test_csim.py: the same semantics, less compile time.
OPT = "-O1"
#: Samples per project (sample 0 all maximum, 1 all minimum, then random).
N_SAMPLES = 12

#: every kind at 3 lanes (uneven lanes, dummy rows); one lane for the geometries with padding and for LeNet
ONE_LANE = ("conv_s2_pad", "maxpool_pad", "lenet")
CASES = [(kind, 3) for kind in CNN_KINDS] + [(kind, 1) for kind in ONE_LANE] + [("lenet", 4)]
MERGE_CASES = [("residual", 1), ("residual", 3), ("concat", 3)]


def assert_bit_exact(graph: Graph, res: CsimResult, x: np.ndarray) -> None:
    expected = graph.execute(x)[graph.outputs[0]].reshape(len(x), -1)  # a feature map: NCHW order
    assert res.compared and res.n_samples == len(x)
    assert res.stream_errors == ()
    assert res.mismatches == 0, res.first_mismatches
    np.testing.assert_array_equal(res.outputs, expected)
    assert res.ok


@pytest.mark.parametrize(("kind", "parallelism"), CASES, ids=[f"{k}-P{p}" for k, p in CASES])
def test_cnn_is_bit_exact(kind: str, parallelism: int, tmp_path: Path) -> None:
    g = cnn_graph(kind)
    assert any(p.engine == "window" for p in plan(g, parallelism).layers)
    x = cnn_inputs(g, N_SAMPLES)
    write_project(g, tmp_path, parallelism, x)
    assert_bit_exact(g, run_csim(tmp_path, opt=OPT, log=None), x)


def every_window_kernel() -> Graph:
    """Signed input -> codebook conv ('same', signed output) -> 3x3 max pool (stride 2, padding 1:
    signed, the smallest value pads) -> per-channel scale with ReLU -> 2x2 average pool -> dense."""
    rng = np.random.default_rng(3)
    inp = InputLayer("x_in", (), (4, 7, 7), cnn_graphs.IN_T)
    conv = cnn_graphs._conv(rng, "conv1", inp, 5, (3, 3), pads=(1, 1, 1, 1), relu=False, out_t=cnn_graphs.SACT_T,
                            book=np.array([-13, -4, 6, 11], np.int64))
    pool = cnn_graphs._maxpool("pool1", conv, k=3, stride=2, pad=1)
    bn = cnn_graphs._scale(rng, "bn1", pool)
    c, h, w = bn.shape
    avg = AvgPool2dLayer(name="pool2", inputs=(bn.name,), shape=(c, h // 2, w // 2), out_type=cnn_graphs.ACT_T,
                         kernel=(2, 2), stride=(2, 2))
    flat = cnn_graphs._flatten("flat", avg)
    fc = cnn_graphs._dense(rng, "fc", flat, 5)
    g = Graph("every_window_kernel", (inp, conv, pool, bn, avg, flat, fc), ("fc",)).verify()
    return lower(g, LowerOptions(storage="auto"))


def test_synthesis_words_are_bit_exact_on_every_window_kernel(tmp_path: Path) -> None:
    """FPGA_FLOW_AP_ROMS: the ROM, map and accumulator words as synthesis sees them (ap_int/ap_uint)
    instead of the plain C integers of a C simulation; the same outputs, bit for bit. (The plain words
    run every kernel in test_cnn_is_bit_exact; test_csim.py checks that the macro reaches g++.)"""
    g = every_window_kernel()
    kernels = {kernel_of(p)[0] for p in plan(g, 2).layers if p.engine == "window"}
    assert kernels == {"window_codebook_layer", "window_max_layer", "window_mac_layer", "window_sum_layer"}
    x = cnn_inputs(g, N_SAMPLES)
    write_project(g, tmp_path, 2, x)
    res = run_csim(tmp_path, opt=OPT, log=None, defines=("FPGA_FLOW_AP_ROMS",))
    assert res.compiled
    assert_bit_exact(g, res, x)


@pytest.mark.parametrize(("kind", "parallelism"), MERGE_CASES, ids=[f"{k}-P{p}" for k, p in MERGE_CASES])
def test_merge_is_bit_exact(kind: str, parallelism: int, tmp_path: Path) -> None:
    """A residual add / a concatenation: the map read twice is forked, the merge kernel reads both maps.
    (The project is written by the backend directly, as write_project does: the pipeline's own guard
    is not involved.)"""
    g = cnn_graph(kind)
    p = plan(g, parallelism)
    assert not p.is_chain
    assert "window_merge_layer" in {kernel_of(q)[0] for q in p.hardware_layers}
    x = cnn_inputs(g, N_SAMPLES)
    write_project(g, tmp_path, parallelism, x)
    cpp = (tmp_path / "hls" / "firmware" / "fpga_flow_top.cpp").read_text()
    assert "fpga_flow::stream_fork<" in cpp and "fpga_flow::window_merge_layer<" in cpp
    assert_bit_exact(g, run_csim(tmp_path, opt=OPT, log=None), x)


def test_synthesis_words_are_bit_exact_on_a_residual_add(tmp_path: Path) -> None:
    """The merge kernel and the fork with the words synthesis sees (FPGA_FLOW_AP_ROMS)."""
    g = cnn_graph("residual")
    x = cnn_inputs(g, N_SAMPLES)
    write_project(g, tmp_path, 2, x)
    res = run_csim(tmp_path, opt=OPT, log=None, defines=("FPGA_FLOW_AP_ROMS",))
    assert res.compiled
    assert_bit_exact(g, res, x)
