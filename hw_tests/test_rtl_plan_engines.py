"""Every engine of the hardware plan, as the Verilog backend spells it, in RTL simulation: bit-exact
with the IR reference under an ideal stream and under backpressure, and the measured latency and
initiation interval equal the plan's -- for the same graphs the HLS C simulation tests use (dense,
CSR, codebook, factored codebook, point-wise ReLU/requantization, rows without nonzeros)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hwutil import needs_verilator

from fpga_flow.backends.rtl import emit_rtl
from fpga_flow.hw import plan_design
from fpga_flow.ir import Graph
from fpga_flow.sim.rtl_sim import run_rtl_sim
from fpga_flow.tbdata import TbData, write_tb_data
from tests.backends.hls.models import mixed_mlp, single_layer, stimulus

CASES = [("dense", 1), ("csr", 3), ("codebook", 2), ("codebook_factored", 1), ("codebook_factored", 3),
         ("mixed", 1), ("mixed", 4)]


def _graph(kind: str) -> Graph:
    return mixed_mlp() if kind == "mixed" else single_layer(kind)


@needs_verilator
@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind,parallelism", CASES, ids=[f"{k}-P{p}" for k, p in CASES])
def test_engine_is_bit_exact_and_cycles_equal_the_plan(tmp_path: Path, kind: str, parallelism: int) -> None:
    g = _graph(kind)
    plan = plan_design(g, parallelism)
    engines = [p.engine for p in plan.layers]
    if kind != "mixed":
        assert engines == [kind]
    else:
        assert engines == ["csr", "codebook_factored", "pointwise", "dense", "pointwise"]
    rtl, tb = tmp_path / "rtl", tmp_path / "tb_data"
    emit_rtl(plan, rtl)
    x = stimulus(g, n=9)
    vals = g.execute(x)
    write_tb_data(tb, TbData(vals[g.inputs[0].name], vals[g.outputs[0]], g.inputs[0].out_type,
                             g.output_layers[0].out_type))
    res = run_rtl_sim(rtl, tb, seed=parallelism)
    assert res.passed, res.summary()
    assert sum(p.n_mismatches for p in res.phases.values()) == 0
    assert res.latency == plan.latency and res.ii == plan.ii, (res.latency, res.ii, plan.latency, plan.ii)
    ideal = res.phases["ideal"]
    assert set(ideal.intervals[2:]) == {plan.ii}


@needs_verilator
@pytest.mark.timeout(600)
def test_block_rom_engines_are_bit_exact(tmp_path: Path) -> None:
    """The mixed MLP with every MAC layer's ROM forced into block RAM (``ROM_BLOCK``, as the folding
    does when LUTs run out): the same results and cycles, block RAM in the plan's cost."""
    g = mixed_mlp()
    names = frozenset(lay.name for lay in g.layers)
    plan = plan_design(g, 4, rom_block=names)
    free = plan_design(g, 4)
    macs = [p for p in plan.layers if p.engine in ("csr", "codebook_factored", "dense")]
    assert macs and all(p.rom_block for p in macs)
    assert plan.cost.bram36 > free.cost.bram36 and plan.ii == free.ii
    rtl, tb = tmp_path / "rtl", tmp_path / "tb_data"
    emit_rtl(plan, rtl)
    assert (rtl / "fpga_flow_top.v").read_text().count(".ROM_BLOCK(1)") == len(macs)
    x = stimulus(g, n=9)
    vals = g.execute(x)
    write_tb_data(tb, TbData(vals[g.inputs[0].name], vals[g.outputs[0]], g.inputs[0].out_type,
                             g.output_layers[0].out_type))
    res = run_rtl_sim(rtl, tb, seed=4)
    assert res.passed, res.summary()
    assert res.latency == plan.latency and res.ii == plan.ii
