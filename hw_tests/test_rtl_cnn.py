"""Whole generated CNN designs (``emit_rtl(plan_design(cnn_graph(kind), P), dest)``: the feature-map
unpacker, ``ff_window`` engines, dense layers after a flatten, the packer) in RTL simulation against
the IR reference, bit for bit, under an ideal stream and under random TVALID gaps / TREADY
backpressure; measured latency and initiation interval equal the plan's exactly; Verilator -Wall
lint; Icarus as second simulator (six geometry variants run there, :data:`ICARUS_CASES`). The merge
designs (:data:`MERGE_KINDS`: a residual add, a concat) have a map read by two layers (one buffer
copy per reader, written together) and an ``ff_window`` reading two buffers."""

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
from tests.cnn_graphs import CNN_KINDS, MERGE_KINDS, cnn_graph, cnn_inputs

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


def _path_latency(plan: DesignPlan) -> int:
    """Latency of the plan's stages composed along the design's longest path, computed here from the
    buffers: a stage starts when every buffer it reads is committed, so parallel branches overlap.
    On a chain it is the sum of every stage."""
    done = {b.index: plan.in_stream.cycles.latency for b in plan.buffers if b.layer == plan.input.name}
    for p in plan.hardware_layers:
        start = max(done[b.index] for b in p.in_buffers)
        for b in p.out_buffers:
            done[b.index] = start + p.cycles.latency
    return done[plan.out_stream.buffer.index] + plan.out_stream.cycles.latency


def _check_cycles(res: RtlSimResult, plan: DesignPlan) -> None:
    want = _path_latency(plan)
    if plan.is_chain:
        assert want == plan.in_stream.cycles.latency + plan.out_stream.cycles.latency + sum(
            p.cycles.latency for p in plan.layers)
    assert res.latency == want == plan.latency, (res.latency, want, plan.latency, plan_figures(plan)["layers"])
    assert res.ii == plan.ii, (res.ii, plan.ii, plan_figures(plan)["layers"])
    ideal = res.phases["ideal"]
    # steady state: every interval after the pipeline fills is the II
    assert set(ideal.intervals[2:]) == {plan.ii}, ideal.intervals


#: every kind at 3 lanes; one lane for LeNet and a residual block; LeNet wider (8 lanes: more lanes
#: than some layers have channels)
ONE_LANE = ("lenet", "residual")
CASES = ([(kind, 3) for kind in (*CNN_KINDS, *MERGE_KINDS)] + [(kind, 1) for kind in ONE_LANE]
         + [("lenet", 8), ("lenet_pixels", 16)])
#: Geometry and op variants of the window engine simulated with Icarus (no C++ build: about a third
#: of a cold Verilator build's time); every other case, LeNet, the merges and every engine kind run
#: in Verilator. The same cocotb bench, checks and cycle assertions either way.
ICARUS_CASES = {("conv_s2_pad", 3), ("conv_dense_storage", 3), ("maxpool_pad", 3), ("avgpool", 3),
                ("relu_map", 3), ("conv_out", 3)}


@needs_verilator
@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind,parallelism", CASES, ids=[f"{k}-P{p}" for k, p in CASES])
def test_cnn_bit_exact_under_backpressure(tmp_path: Path, fast_build: None, kind: str, parallelism: int) -> None:
    graph = cnn_graph(kind)
    rtl, tb, plan = _build(graph, tmp_path, parallelism)
    assert any(p.engine == "window" for p in plan.layers)
    assert plan.in_stream.buffer.fm is not None  # the feature-map unpacker
    gap, ready = (0.3, 0.6) if parallelism % 2 else (0.5, 0.3)
    sim = "icarus" if (kind, parallelism) in ICARUS_CASES else "verilator"
    res = run_rtl_sim(rtl, tb, simulator=sim, build_dir=tmp_path / "build", gap_prob=gap, ready_prob=ready,
                      seed=parallelism)
    assert res.simulator == sim
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
@pytest.mark.parametrize("kind,parallelism", [("conv_same_codebook", 3), ("maxpool_pad", 3), ("bn", 3), ("lenet", 3),
                                              ("concat", 3), ("lenet_pixels", 16)])
def test_generated_cnn_design_is_lint_clean(tmp_path: Path, kind: str, parallelism: int) -> None:
    """lenet_pixels at 16 lanes: the input shared by pixel phase (ff_act_mem PORT_MAP)."""
    files = emit_rtl(plan_design(cnn_graph(kind), parallelism), tmp_path)
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
        assert len(e.rom_words) == p.rtl_entries  # the walk, or the bank schedule on a shared input
        if p.window is not None:
            assert e.params["MAX_MODE"] == int(p.window.op == "max")
            assert (e.params["OH"], e.params["OW"]) == p.window.out_shape[1:]


@pytest.mark.parametrize("kind", MERGE_KINDS)
def test_merge_designs_wire_every_buffer_copy(kind: str) -> None:
    """A merge is one ff_window with N_SRC = 2 reading two buffers; a map read twice is two buffer
    copies, both written by its producer (ready: both copies' wr_ready) and committed together."""
    plan = plan_design(cnn_graph(kind), 3)
    assert not plan.is_chain
    engines = spell_engines(plan)
    ctx = render_context(plan, engines)
    merges = [(e, p) for e, p in zip(engines, plan.hardware_layers, strict=True) if len(p.in_buffers) > 1]
    assert len(merges) == 1
    e, p = merges[0]
    assert e.module == "ff_window" and e.params["N_SRC"] == 2 and e.slots_literal is not None
    assert p.window is not None and e.params["SLOTS_IN"] == p.in_buffers[0].fm.slots  # type: ignore[union-attr]
    assert e.params["AW_IN"] == max(b.addr_bits for b in p.in_buffers)
    shared = [b.layer for b in plan.buffers]
    twice = {n for n in shared if shared.count(n) > 1}
    assert len(twice) == 1
    writers = [ctx["unpack"], *(c["out"] for c in ctx["engines"])]
    drives = [w for w in writers if w["copies"]]
    assert len(drives) == 1 and drives[0]["ready"].count("_wr_ready") == 2
