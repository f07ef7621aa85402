"""Whole generated CNN designs (``emit_rtl(plan_design(cnn_graph(kind), P), dest)``: the feature-map
unpacker, ``ff_window`` engines, dense layers after a flatten, the packer) in RTL simulation against
the IR reference, bit for bit, under an ideal stream and under random TVALID gaps / TREADY
backpressure; measured latency and initiation interval equal the plan's exactly; Verilator -Wall
lint; Icarus as second simulator."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hwutil import needs_verilator

from fpga_flow.backends.rtl import TOP_MODULE, emit_rtl
from fpga_flow.backends.rtl.emit import render_context, spell_engines
from fpga_flow.hw import DesignPlan, plan_design, plan_figures
from fpga_flow.ir import Graph
from fpga_flow.sim.rtl_sim import RtlSimResult, lint_verilog, run_rtl_sim
from fpga_flow.tbdata import TbData, write_tb_data
from tests.cnn_graphs import CNN_KINDS, cnn_graph, cnn_inputs

N_SAMPLES = 6
#: Unoptimized C++ for the Verilated model: these simulations take well under a second, the C++
#: compile of each design is the cost (about half of it at -O0).
FAST_BUILD = "OPT_FAST=-O0 OPT_SLOW=-O0"


@pytest.fixture
def fast_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAKEFLAGS", f"{os.environ.get('MAKEFLAGS', '')} {FAST_BUILD}".strip())


def _build(graph: Graph, root: Path, parallelism: int, n: int = N_SAMPLES) -> tuple[Path, Path, DesignPlan]:
    rtl, tb = root / "rtl", root / "tb_data"
    plan = plan_design(graph, parallelism)
    emit_rtl(plan, rtl)
    x = cnn_inputs(graph, n)
    vals = graph.execute(x)
    inp, out = graph.inputs[0], graph.output_layers[0]
    write_tb_data(tb, TbData(vals[inp.name].reshape(n, -1), vals[out.name].reshape(n, -1), inp.out_type,
                             out.out_type))
    return rtl, tb, plan


def _check_cycles(res: RtlSimResult, plan: DesignPlan) -> None:
    assert res.latency == plan.latency, (res.latency, plan.latency, plan_figures(plan)["layers"])
    assert res.ii == plan.ii, (res.ii, plan.ii, plan_figures(plan)["layers"])
    ideal = res.phases["ideal"]
    # steady state: every interval after the pipeline fills is the II
    assert set(ideal.intervals[2:]) == {plan.ii}, ideal.intervals


CASES = [(kind, p) for kind in CNN_KINDS for p in (1, 3)] + [("lenet", 4), ("lenet", 8)]


@needs_verilator
@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind,parallelism", CASES, ids=[f"{k}-P{p}" for k, p in CASES])
def test_cnn_bit_exact_under_backpressure(tmp_path: Path, fast_build: None, kind: str, parallelism: int) -> None:
    graph = cnn_graph(kind)
    rtl, tb, plan = _build(graph, tmp_path, parallelism)
    assert any(p.engine == "window" for p in plan.layers)
    assert plan.in_stream.buffer.fm is not None  # the feature-map unpacker
    gap, ready = (0.3, 0.6) if parallelism % 2 else (0.5, 0.3)
    res = run_rtl_sim(rtl, tb, build_dir=tmp_path / "build", gap_prob=gap, ready_prob=ready, seed=parallelism)
    assert res.passed, res.summary()
    assert res.phases["backpressure"].samples_out == N_SAMPLES
    _check_cycles(res, plan)


@needs_verilator
@pytest.mark.timeout(600)
def test_icarus_runs_a_cnn(tmp_path: Path) -> None:
    graph = cnn_graph("maxpool_pad")
    rtl, tb, plan = _build(graph, tmp_path, 3, n=4)
    res = run_rtl_sim(rtl, tb, simulator="icarus", build_dir=tmp_path / "build", gap_prob=0.4, ready_prob=0.4)
    assert res.passed, res.summary()
    _check_cycles(res, plan)


@needs_verilator
@pytest.mark.parametrize("kind", CNN_KINDS)
def test_generated_cnn_design_is_lint_clean(tmp_path: Path, kind: str) -> None:
    files = emit_rtl(plan_design(cnn_graph(kind), 3), tmp_path)
    sources = [f for f in files if f.suffix == ".v"]
    lint = lint_verilog(sources, TOP_MODULE)
    assert lint.ok, lint.output


def test_window_designs_use_the_window_library() -> None:
    """A CNN design instantiates ff_axis_unpack_fm and one ff_window per feature-map layer; the
    ROM of a window engine is one output pixel's walk."""
    plan = plan_design(cnn_graph("lenet"), 3)
    engines = spell_engines(plan)
    ctx = render_context(plan, engines)
    assert ctx["unpack"]["fm"] == {"channels": 1, "pixels": 144, "kbw": 3, "pxw": 8}
    hw = plan.hardware_layers
    assert [e.module for e in engines] == ["ff_window"] * 4 + ["ff_sparse_mac"] * 2
    for e, p in zip(engines, hw, strict=True):
        assert len(e.rom_words) == p.entries
        if p.window is not None:
            assert e.params["MAX_MODE"] == int(p.window.op == "max")
            assert (e.params["OH"], e.params["OW"]) == p.window.out_shape[1:]
