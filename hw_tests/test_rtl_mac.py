"""ff_sparse_mac (with ff_mac_lane, ff_codebook, ff_requant) against numpy: CSR and codebook
weights, lanes dealt by nonzeros, empty rows, ReLU, unsigned input, and its cycle count."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hwutil import HW_TESTS, lib_sources, needs_verilator
from rtl_models import dense_layer

from fpga_flow.backends.rtl.emit import write_mem
from fpga_flow.backends.rtl.plan import make_buffer, plan_engine
from fpga_flow.fixed import FixedType, Overflow, Rounding, cast
from fpga_flow.ir import Activation
from fpga_flow.sim.rtl_sim import run_cocotb_module

LIB = ("ff_requant.v", "ff_codebook.v", "ff_act_mem.v", "ff_mac_lane.v", "ff_sparse_mac.v")


def _case(storage: str, lanes: int, in_type: FixedType, out_type: FixedType, act: Activation, seed: int):
    rng = np.random.default_rng(seed)
    n_in, n_out = 11, 9
    lay = dense_layer(rng, "fc", "x", in_type, n_in, n_out, storage, out_type, density=0.45, activation=act,
                      codebook_size=4, empty_rows=2)
    # input buffer: one bank, element j at address j
    j = np.arange(n_in)
    in_buf = make_buffer("bx", "x", in_type.width, 1, np.zeros(n_in, np.int64), j, lanes)
    eng = plan_engine(1, "mac", lay, in_type, in_buf, lanes, "by", 1)
    x = rng.integers(in_type.min_mantissa, in_type.max_mantissa + 1, size=(4, n_in))
    x[0] = in_type.max_mantissa
    acc = lay.accumulate(x, in_type)
    acc = np.maximum(acc, 0) if act is Activation.RELU else acc
    want = cast(acc, lay.acc_type.frac, out_type, src_signed=True)
    assert np.array_equal(want, lay.reference([x], [in_type]))
    return lay, eng, x, want


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
    lay, eng, x, want = _case(storage, lanes, in_t, out_t, act, seed=lanes)
    assert eng.lanes == lanes
    # balanced dealing: no lane has more than the lightest lane plus the heaviest row
    row_cost = max(max(1, int(c)) for c in np.diff(np.asarray(lay.weights.matrix.indptr)))
    assert max(eng.lane_entries) - min(eng.lane_entries) <= row_cost
    write_mem(tmp_path / eng.rom_file, eng.rom_words, eng.rom_width)
    params: dict[str, object] = dict(eng.params)
    params["BW_OUT"] = eng.out_buf.bw
    params["ROM_FILE"] = f'"{eng.rom_file}"'
    if eng.codebook_literal:
        params["CODEBOOK"] = eng.codebook_literal
    case = {
        "inputs": x.tolist(), "expected": want.tolist(), "bank_of": eng.out_buf.bank_of.tolist(),
        "addr_of": eng.out_buf.addr_of.tolist(), "w_x": in_t.width, "w_out": out_t.width,
        "out_signed": int(out_t.signed), "engine_cycles": eng.cycles,
    }
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
    buf = make_buffer("bx", "x", in_t.width, 1, np.zeros(5, np.int64), np.arange(5), 2)
    eng = plan_engine(1, "r", relu, in_t, buf, 2, "by", 1)
    assert eng.params["RELU"] == 1 and eng.params["W_ACC"] == 7 and eng.params["RQ_SHIFT"] == in_t.frac - 3
    assert eng.entries == 3 and eng.lane_entries == (3, 2)
    assert replace(relu, name="r2").op == "relu"
