"""ff_requant against fpga_flow.fixed.cast: every rounding x overflow mode, ReLU, shifts right,
left, zero and wider than the input, signed/unsigned both sides, edge and random values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hwutil import lib_sources, needs_verilator

from fpga_flow.backends.rtl import OVF_CODE, RND_CODE
from fpga_flow.fixed import Overflow, Rounding
from fpga_flow.sim.rtl_sim import run_cocotb_module

# (w_in, in_signed, w_out, out_signed, shift = F_in - F_out, relu)
CONFIGS = [
    (16, 1, 8, 1, 5, 0),
    (16, 1, 8, 0, 3, 1),
    (10, 0, 6, 1, 2, 0),
    (12, 1, 12, 1, -3, 0),
    (9, 1, 4, 1, 1, 1),
    (8, 1, 5, 1, 12, 0),
    (20, 1, 16, 1, 0, 0),
    (40, 1, 18, 1, 9, 0),
    (6, 0, 1, 1, 2, 0),
    (7, 1, 3, 0, 1, 0),
]
MODES = [(r, o) for r in Rounding for o in Overflow]


def _values(w: int, signed: bool, shift: int, rng: np.random.Generator) -> list[int]:
    lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if signed else (0, (1 << w) - 1)
    vals = {lo, hi, 0, 1, -1, lo + 1, hi - 1}
    if shift > 0:
        h = 1 << (shift - 1)
        for k in range(-4, 5):
            for d in (-1, 0, 1):
                vals.add(k * (1 << shift) + h + d)
                vals.add(k * (1 << shift) + d)
    vals |= set(int(v) for v in rng.integers(lo, hi + 1, size=120))
    return sorted(v for v in vals if lo <= v <= hi)


def _harness(configs: list[tuple[int, ...]]) -> str:
    ports, body = [], []
    for c, (w_in, s_in, w_out, s_out, shift, relu) in enumerate(configs):
        ports.append(f"    input  wire [{w_in - 1}:0] din_{c}")
        for m, (rnd, ovf) in enumerate(MODES):
            ports.append(f"    output wire [{w_out - 1}:0] dout_{c}_{m}")
            body.append(
                f"    ff_requant #(.W_IN({w_in}), .IN_SIGNED({s_in}), .W_OUT({w_out}), .OUT_SIGNED({s_out}), "
                f".SHIFT({shift}), .RND({RND_CODE[rnd]}), .OVF({OVF_CODE[ovf]}), .RELU({relu})) "
                f"u_{c}_{m} (.din(din_{c}), .dout(dout_{c}_{m}));"
            )
    return "module requant_harness (\n" + ",\n".join(ports) + "\n);\n" + "\n".join(body) + "\nendmodule\n"


@needs_verilator
@pytest.mark.timeout(600)
def test_requant_every_mode_matches_fixed_cast(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    harness = tmp_path / "requant_harness.v"
    harness.write_text(_harness(CONFIGS))
    spec = {
        "modes": [(r.value, o.value) for r, o in MODES],
        "configs": [
            {"w_in": w, "in_signed": s, "w_out": wo, "out_signed": so, "shift": sh, "relu": rl,
             "values": _values(w, bool(s), sh, rng)}
            for (w, s, wo, so, sh, rl) in CONFIGS
        ],
    }
    spec_file = tmp_path / "cases.json"
    spec_file.write_text(json.dumps(spec))
    run = run_cocotb_module(
        [*lib_sources("ff_requant.v"), harness], "requant_harness", "cocotb_requant", tmp_path / "build",
        env={"FPGA_FLOW_REQUANT_CASES": str(spec_file)},
    )
    assert run.passed, run.log_tail()
