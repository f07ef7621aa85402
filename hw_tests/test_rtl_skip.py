"""Whole designs with activation-skipping engines (``ff_skip_mac``) in RTL simulation against the IR
reference, bit for bit, under an ideal stream and random TVALID gaps / TREADY backpressure, on
inputs with many exact zeros; the first sample's latency equals the stream ends plus every
layer's cycles from the cycle model (fpga_flow/hw/skipping.py) on that sample's activations,
exactly; no sample takes longer than the plan's guaranteed figure; Verilator -Wall lint. A mixed
design (lanes per layer, lock-step engines feeding skipping ones and back, as ``--skip-zeros auto``
builds after the automatic folding) is checked the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hwutil import needs_verilator
from rtl_models import make_graph, random_inputs

from fpga_flow.backends.rtl import emit_rtl
from fpga_flow.hw import plan_design
from fpga_flow.hw.skipping import skip_cycles, skip_masks
from fpga_flow.sim.rtl_sim import lint_verilog, run_rtl_sim
from fpga_flow.tbdata import TbData, write_tb_data

N_SAMPLES = 12
#: (graph, lanes, broadcasts per cycle: None is the default for the lanes, 1 here)
CASES: list[tuple[str, int | dict[str, int], int | None]] = [
    ("dense", 4, None), ("csr", 1, None), ("codebook", 4, 2), ("mlp3", 4, None), ("mlp3", 3, 4),
    ("emptyrows", 8, 3), ("mlp3", {"out": 3, "fc2": 2, "fc3": 1}, None)]
#: the layers that skip in a case with lanes per layer (the others are lock-step engines)
MIXED_SKIP = frozenset({"fc2"})


def _case_id(kind: str, lanes: int | dict[str, int], bcast: int | None) -> str:
    p = lanes if isinstance(lanes, int) else "-".join(map(str, lanes.values())) + "-mixed"
    return f"{kind}-P{p}-B{bcast}"


@needs_verilator
@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind,lanes,bcast", CASES, ids=[_case_id(*c) for c in CASES])
def test_skipping_design_bit_exact_with_modelled_cycles(tmp_path: Path, kind: str, lanes: int | dict[str, int],
                                                        bcast: int | None) -> None:
    g = make_graph(kind)
    names = frozenset(lay.name for lay in g.layers[1:] if hasattr(lay, "weights"))
    if isinstance(lanes, dict):
        names = MIXED_SKIP
    plan = plan_design(g, lanes, skip=names, skip_bcast=bcast)
    assert {p.name for p in plan.hardware_layers if p.skip is not None} == names
    assert all(p.skip.bcast == (bcast or 1) for p in plan.hardware_layers if p.skip is not None)
    seed = lanes if isinstance(lanes, int) else sum(lanes.values())
    rtl, tb = tmp_path / "rtl", tmp_path / "tb"
    emit_rtl(plan, rtl)
    x = random_inputs(g, N_SAMPLES)
    rng = np.random.default_rng(seed)
    x[2:][rng.random(x[2:].shape) < 0.5] = 0.0  # many exact zeros (rows 0, 1 are the range's edges)
    x[3] = 0.0
    vals = g.execute(x)
    inp, out = g.inputs[0], g.output_layers[0]
    write_tb_data(tb, TbData(vals[inp.name], vals[out.name], inp.out_type, out.out_type))
    if kind == "mlp3" or bcast:
        lint = lint_verilog([rtl / n for n in (rtl / "sources.f").read_text().split()])
        assert lint.ok, lint
    res = run_rtl_sim(rtl, tb, build_dir=tmp_path / "build", gap_prob=0.3, ready_prob=0.5, seed=seed)
    assert res.passed, res.summary()
    assert res.phases["backpressure"].samples_out == N_SAMPLES
    first = plan.in_stream.cycles.latency + plan.out_stream.cycles.latency
    for p in plan.hardware_layers:
        k = p.skip
        if k is None:  # a lock-step engine: its plan's cycles
            first += p.cycles.latency
            continue
        cycles = [skip_cycles(k, m) for m in skip_masks(k, vals[p.layer.inputs[0]])]
        assert max(cycles) <= k.worst
        first += cycles[0]
    assert res.latency == first, (res.latency, first)
    ideal = res.phases["ideal"]
    assert ideal.latencies[0] == first
    # back to back, N samples take at most the guaranteed II each after the first
    assert sum(ideal.intervals) <= (N_SAMPLES - 1) * plan.ii
