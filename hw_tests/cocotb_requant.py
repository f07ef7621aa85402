"""cocotb side of test_requant.py: drive every harness input, compare every ff_requant output
with fpga_flow.fixed.cast (the bit-exact reference)."""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import Timer

from fpga_flow.fixed import FixedType, Overflow, Rounding, cast

ENV = "FPGA_FLOW_REQUANT_CASES"


def _to_signed(v: int, width: int, signed: bool) -> int:
    return v - (1 << width) if signed and v >> (width - 1) else v


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def requant_all_modes(dut) -> None:
    spec = json.loads(open(os.environ[ENV]).read())
    bad: list[str] = []
    checked = 0
    for c, cfg in enumerate(spec["configs"]):
        w_in, s_in, w_out, s_out, shift, relu = (cfg[k] for k in ("w_in", "in_signed", "w_out", "out_signed",
                                                                  "shift", "relu"))
        f_out = 3
        values = np.array(cfg["values"], dtype=np.int64)
        src = np.maximum(values, 0) if relu else values
        expected = {}
        for m, (rnd, ovf) in enumerate(spec["modes"]):
            t = FixedType(w_out, w_out - f_out, bool(s_out), Rounding(rnd), Overflow(ovf))
            expected[m] = cast(src, shift + f_out, t, src_signed=bool(s_in))
        din = getattr(dut, f"din_{c}")
        outs = [getattr(dut, f"dout_{c}_{m}") for m in range(len(spec["modes"]))]
        for i, v in enumerate(values):
            din.value = int(v) & ((1 << w_in) - 1)
            await Timer(1, unit="ns")
            for m, sig in enumerate(outs):
                got = _to_signed(int(sig.value.to_unsigned()), w_out, bool(s_out))
                checked += 1
                if got != int(expected[m][i]) and len(bad) < 30:
                    rnd, ovf = spec["modes"][m]
                    what = {k: x for k, x in cfg.items() if k != "values"}
                    bad.append(f"config {what} {rnd}/{ovf}: in {int(v)} -> expected {int(expected[m][i])}, got {got}")
    dut._log.info("checked %d outputs", checked)
    assert not bad, "\n".join(bad)
