"""ff_sparse_mac (with ff_mac_lane, ff_codebook, ff_requant) against numpy: CSR and codebook
weights, lanes dealt by nonzeros, empty rows, ReLU, unsigned input, and its cycle count. The ROM
words are the Verilog backend's (``spell_engine``) of the plan's ``LayerPlan`` (``plan_layer``
with its buffers attached); the expected outputs are computed here, independently."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hwutil import HW_TESTS, lib_sources, needs_verilator
from rtl_models import dense_layer

from fpga_flow.backends.rtl import spell_engine
from fpga_flow.backends.rtl.emit import write_mem
from fpga_flow.fixed import FixedType, Overflow, Rounding, cast
from fpga_flow.hw import BufferPlan, LayerPlan, plan_layer
from fpga_flow.hw.engines import ENGINE_MODELS
from fpga_flow.ir import Activation, Layer
from fpga_flow.sim.rtl_sim import run_cocotb_module

LIB = ("ff_requant.v", "ff_codebook.v", "ff_act_mem.v", "ff_mac_lane.v", "ff_sparse_mac.v")


def _bits(n: int) -> int:
    return max(1, (int(n) - 1).bit_length())


def _buffer(index: int, layer: str, width: int, bank_of: np.ndarray, addr_of: np.ndarray,
            read_ports: int) -> BufferPlan:
    banks = int(bank_of.max()) + 1
    return BufferPlan(index, layer, width, banks, _bits(int(addr_of.max()) + 1), _bits(banks), read_ports,
                      np.asarray(bank_of, np.int64), np.asarray(addr_of, np.int64))


def _plan(layer: Layer, in_type: FixedType, lanes: int, engine: str | None = None) -> LayerPlan:
    """``plan_layer`` with the harness's buffers attached: input in one bank (element j at address
    j, one read port per lane), output row r in bank ``row_lane[r]`` at ``row_slot[r]`` (one read
    port); then the engine model's cycles."""
    p = plan_layer(layer, in_type, lanes)
    if engine is not None and p.engine != engine:
        p = replace(p, engine=engine, sum_type=None, reason=f"forced to {engine} by the test")
    n_in = int(getattr(layer, "n_in", layer.size))  # a point-wise layer reads as many elements as it writes
    in_buf = _buffer(0, "x", in_type.width, np.zeros(n_in, np.int64), np.arange(n_in), p.lanes)
    s = p.schedule
    out_buf = _buffer(1, layer.name, layer.out_type.width, s.row_lane, s.row_slot, 1)
    p = replace(p, in_buffer=in_buf, out_buffer=out_buf)
    return replace(p, cycles=ENGINE_MODELS[p.engine].cycles(p))


def _case(storage: str, lanes: int, in_type: FixedType, out_type: FixedType, act: Activation, seed: int):
    rng = np.random.default_rng(seed)
    n_in, n_out = 11, 9
    lay = dense_layer(rng, "fc", "x", in_type, n_in, n_out, storage, out_type, density=0.45, activation=act,
                      codebook_size=4, empty_rows=2)
    # the ff_mac_lane codebook path (ff_codebook decode); the factored lane has its own test
    plan = _plan(lay, in_type, lanes, "codebook" if storage == "codebook_csr" else None)
    x = rng.integers(in_type.min_mantissa, in_type.max_mantissa + 1, size=(4, n_in))
    x[0] = in_type.max_mantissa
    # independent reference: dense weight matrix in Python ints, bias aligned to the accumulator
    w = lay.weights.to_dense().astype(np.int64)
    acc_frac = lay.acc_type.frac
    sp = acc_frac - (lay.weight_type.frac + in_type.frac)
    sb = acc_frac - lay.bias_type.frac
    assert sp >= 0 and sb >= 0
    acc = (x @ w.T) * (1 << sp) + np.asarray(lay.bias, np.int64) * (1 << sb)
    acc = np.maximum(acc, 0) if act is Activation.RELU else acc
    want = cast(acc, acc_frac, out_type, src_signed=True)
    assert np.array_equal(want, lay.reference([x], [in_type]))
    return lay, plan, x, want


@needs_verilator
@pytest.mark.timeout(600)
@pytest.mark.parametrize("storage,lanes", [("csr", 3), ("codebook_csr", 2)])
def test_mac_engine_matches_numpy(tmp_path: Path, storage: str, lanes: int) -> None:
    if storage == "csr":
        in_t = FixedType(7, 2, False)
        out_t = FixedType(9, 3, True, Rounding.RND_CONV, Overflow.SAT_SYM)
        act = Activation.RELU
    else:
        in_t = FixedType(8, 3, True)
        out_t = FixedType(6, 4, False, Rounding.RND_INF, Overflow.SAT)
        act = Activation.LINEAR
    lay, plan, x, want = _case(storage, lanes, in_t, out_t, act, seed=lanes)
    assert plan.lanes == lanes and plan.engine == {"csr": "csr", "codebook_csr": "codebook"}[storage]
    # rows without nonzeros cost one entry each
    nnz = np.diff(np.asarray(lay.weights.matrix.indptr))
    assert (nnz == 0).sum() == 2
    lane_entries = plan.schedule.lane_entries
    assert sum(lane_entries) == int(nnz.sum()) + 2 and plan.entries == max(lane_entries)
    # balanced dealing: no lane has more than the lightest lane plus the heaviest row
    row_cost = max(max(1, int(c)) for c in nnz)
    assert max(lane_entries) - min(lane_entries) <= row_cost
    if storage == "codebook_csr":  # the empty rows need a zero weight: the codebook has none, so one is added
        assert 0 not in np.asarray(lay.weights.codebook)
        assert plan.codebook is not None and plan.codebook[-1] == 0
        assert plan.codebook.size == np.asarray(lay.weights.codebook).size + 1
    eng = spell_engine(plan, "l1_fc")
    assert eng.module == "ff_sparse_mac" and len(eng.rom_words) == plan.entries
    assert eng.params["P"] == lanes and eng.params["ENTRIES"] == plan.entries
    assert "FACTORED" not in eng.params
    assert (eng.codebook_literal is not None) == (storage == "codebook_csr")
    write_mem(tmp_path / eng.rom_file, eng.rom_words, eng.rom_width)
    out_buf = plan.out_buffer
    assert out_buf is not None
    params: dict[str, object] = dict(eng.params)
    params["BW_OUT"] = out_buf.bank_bits
    params["ROM_FILE"] = f'"{eng.rom_file}"'
    if eng.codebook_literal:
        params["CODEBOOK"] = eng.codebook_literal
    case = {
        "inputs": x.tolist(), "expected": want.tolist(), "bank_of": out_buf.bank_of.tolist(),
        "addr_of": out_buf.addr_of.tolist(), "w_x": in_t.width, "w_out": out_t.width,
        "out_signed": int(out_t.signed), "engine_cycles": plan.cycles.latency,
    }
    assert plan.cycles.ii == plan.cycles.latency == 1 + plan.entries + 5  # ff_sparse_mac: DRAIN = 5
    (tmp_path / "case.json").write_text(json.dumps(case))
    run = run_cocotb_module(
        [*lib_sources(*LIB), HW_TESTS / "rtl" / "mac_harness.v"], "mac_harness", "cocotb_mac", tmp_path / "build",
        parameters=params, env={"FPGA_FLOW_MAC_CASE": str(tmp_path / "case.json")},
        data_files=[tmp_path / eng.rom_file],
    )
    assert run.passed, run.log_tail()


def test_identity_engine_is_relu_then_cast() -> None:
    """Relu/Quantize layers run on the same engine with weight 1: check the planned parameters."""
    from fpga_flow.ir import ReluLayer

    in_t = FixedType(6, 2, False)
    relu = ReluLayer("r", ("x",), (5,), FixedType(4, 1, True, Rounding.RND, Overflow.SAT))
    plan = _plan(relu, in_t, 2)
    assert plan.engine == "pointwise" and plan.lanes == 2
    eng = spell_engine(plan, "l1_r")
    assert eng.params["RELU"] == 1 and eng.params["W_ACC"] == 7 and eng.params["RQ_SHIFT"] == in_t.frac - 3
    assert eng.params["ENTRIES"] == 3 and plan.entries == 3 and plan.schedule.lane_entries == (3, 2)
    assert len(eng.rom_words) == 3 and plan.cycles.latency == 1 + 3 + 5
    assert replace(relu, name="r2").op == "relu"
