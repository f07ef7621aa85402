"""The first-order resource model: DSP tiling, BRAM aspect ratios, lanes, and per-layer sums."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fpga_flow.analysis.resources import (
    RESOURCES,
    bram36_blocks,
    dsp_per_multiplier,
    dsp_slice_of,
    estimate_resources,
)
from fpga_flow.boards import load_board
from fpga_flow.fixed import FixedType
from fpga_flow.ir import DenseLayer, DenseWeights, Graph, InputLayer, csr_from_dense
from fpga_flow.ir.accum import overflow_free_accumulator_type
from fpga_flow.pipeline import lower
from tests.graphs import B_T, IN_T, W_T, unfused_mlp


def s(w: int) -> FixedType:
    return FixedType(w, 1, True)


def u(w: int) -> FixedType:
    return FixedType(w, 1, False)


@pytest.mark.parametrize(
    ("a", "b", "e1", "e2"),
    [
        (s(8), s(8), 1, 1),
        (s(4), s(16), 0, 0),  # LUT multiplier
        (s(26), s(18), 2, 1),  # 26 bits fit the DSP48E2's 27-bit port only
        (s(27), s(18), 2, 1),
        (s(30), s(20), 2, 2),  # best orientation: ceil(20/25) * ceil(30/18)
        (s(25), s(18), 1, 1),
        (s(25), u(18), 2, 2),  # an unsigned 18-bit operand needs 19 signed bits
    ],
)
def test_dsp_per_multiplier(a, b, e1, e2):
    assert dsp_per_multiplier(a, b, "DSP48E1") == e1
    assert dsp_per_multiplier(a, b, "DSP48E2") == e2


def test_dsp_slice_by_family():
    assert dsp_slice_of(load_board("pynq-z2")) == "DSP48E1"
    assert dsp_slice_of(load_board("arty-a7-100t")) == "DSP48E1"
    assert dsp_slice_of(load_board("zcu104")) == "DSP48E2"
    assert dsp_slice_of(load_board("alveo-u250")) == "DSP48E2"
    assert dsp_slice_of(None) == "DSP48E1"


@pytest.mark.parametrize(
    ("depth", "width", "blocks"),
    [(64, 16, 0.0), (1024, 1, 0.0), (1025, 1, 0.5), (512, 72, 1.0), (1024, 36, 1.0), (1024, 18, 0.5),
     (2048, 36, 2.0), (600, 8, 0.5), (16384, 1, 0.5), (32768, 1, 1.0), (6272, 8, 2.0), (100000, 1, 3.5)],
)
def test_bram36_blocks(depth, width, blocks):
    assert bram36_blocks(depth, width) == blocks


def test_totals_are_sums_of_rows_and_json_clean():
    g = lower(unfused_mlp())
    est = estimate_resources(g, 4, load_board("pynq-z2"))
    assert json.loads(json.dumps(est)) == est
    for r in RESOURCES:
        assert est["totals"][r] == pytest.approx(sum(row[r] for row in est["layers"]))
    assert [row["op"] for row in est["layers"]][0] == "stream" and est["layers"][-1]["name"] == "axis_out"
    assert est == estimate_resources(g, 4, load_board("pynq-z2"))


def test_lanes_dsp_and_luts_grow_with_parallelism():
    g = lower(unfused_mlp())  # 32 -> 20 -> 12 -> 6, 8-bit weights and inputs: 1 DSP per lane
    prev = None
    for p in (1, 2, 4, 8, 100):
        est = estimate_resources(g, p)
        dense = [row for row in est["layers"] if row["op"] == "dense"]
        assert [row["detail"]["lanes"] for row in dense] == [min(p, n) for n in (20, 12, 6)]
        assert est["totals"]["dsp"] == sum(min(p, n) for n in (20, 12, 6))
        if prev is not None:
            assert est["totals"]["lut"] > prev["totals"]["lut"] and est["totals"]["ff"] > prev["totals"]["ff"]
        prev = est
    with pytest.raises(ValueError):
        estimate_resources(g, 0)


def _one_layer(w: np.ndarray, storage: str) -> Graph:
    inp = InputLayer("x", (), (w.shape[1],), IN_T)
    weights = csr_from_dense(w) if storage == "csr" else DenseWeights(w)
    tmp = DenseLayer("fc", ("x",), (w.shape[0],), W_T, n_in=w.shape[1], n_out=w.shape[0], weights=weights,
                     weight_type=W_T, bias=np.zeros(w.shape[0], np.int64),
                     bias_type=B_T, acc_type=FixedType(40, 20, True))
    acc = overflow_free_accumulator_type(tmp, IN_T)
    lay = DenseLayer("fc", ("x",), (w.shape[0],), acc, n_in=w.shape[1], n_out=w.shape[0], weights=tmp.weights,
                     weight_type=W_T, bias=tmp.bias, bias_type=B_T, acc_type=acc)
    return Graph("one", (inp, lay), ("fc",)).verify()


def test_weight_rom_shapes_by_storage():
    rng = np.random.default_rng(0)
    w = rng.integers(1, 100, size=(4, 300))
    w[:, 4:] = 0  # 4 nonzeros per row
    csr = estimate_resources(_one_layer(w, "csr"), 2)["layers"][1]
    assert csr["detail"]["storage"] == "csr"
    assert csr["detail"]["weight_rom_depth"] == 8  # 2 rows of 4 nonzeros per lane
    assert csr["detail"]["weight_rom_width"] == 8 + 9 + 1  # value, column index (300 columns), row end
    dense = estimate_resources(_one_layer(w, "dense"), 2)["layers"][1]
    assert dense["detail"]["weight_rom_depth"] == 2 * 300 and dense["detail"]["weight_rom_width"] == 8
    rom = {m["what"]: m for m in csr["memories"]}
    assert rom["weights"]["bram36"] == 0.0 and rom["weights"]["lutram_luts"] == 2 * 18  # 8 x 18 bits: LUTRAM
    assert rom["input buffer"]["copies"] == 1 and rom["input buffer"]["bram36"] == 0.5  # 300 x 8 bits, 2 ports
    assert {m["what"]: m for m in dense["memories"]}["weights"]["bram36"] == 2 * 0.5  # 600 x 8 bits: a BRAM18 per lane


def test_big_dense_layer_needs_block_ram():
    rng = np.random.default_rng(1)
    w = rng.integers(-100, 100, size=(256, 784))
    est = estimate_resources(_one_layer(w, "dense"), 16)
    fc = est["layers"][1]
    # 16 lanes x (16 rows x 784 weights) x 8 bits: 12544 x 8 -> 7 BRAM18 (2048 x 9) per lane
    assert fc["detail"]["weight_rom_depth"] == 16 * 784
    assert {m["what"]: m for m in fc["memories"]}["weights"]["bram36"] == 16 * 3.5
    assert fc["dsp"] == 16
