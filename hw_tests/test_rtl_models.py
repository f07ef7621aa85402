"""Whole generated designs (``emit_rtl(plan_design(graph, P), dest)``) in RTL simulation against the IR
reference, bit for bit, under an ideal stream and under random TVALID gaps / TREADY backpressure;
measured latency and initiation interval equal the plan's (``DesignPlan.latency`` / ``.ii``)
exactly; Verilator -Wall lint; Icarus as second simulator; the plan's schedule and cycle figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hwutil import needs_verilator
from rtl_models import MODEL_KINDS, make_graph, random_inputs

from fpga_flow.backends.rtl import TOP_MODULE, emit_rtl
from fpga_flow.errors import FlowError, ModelError, UnsupportedError
from fpga_flow.hw import DesignPlan, plan_design, plan_figures
from fpga_flow.ir import Graph, ReluLayer
from fpga_flow.sim.rtl_sim import RtlSimResult, lint_verilog, run_rtl_sim
from fpga_flow.tbdata import EXPECTED_FILE, TbData, write_tb_data

N_SAMPLES = 10


def _build(graph: Graph, root: Path, parallelism: int, n: int = N_SAMPLES) -> tuple[Path, Path, DesignPlan]:
    rtl, tb = root / "rtl", root / "tb_data"
    plan = plan_design(graph, parallelism)
    emit_rtl(plan, rtl)
    x = random_inputs(graph, n)
    vals = graph.execute(x)
    inp, out = graph.inputs[0], graph.output_layers[0]
    write_tb_data(tb, TbData(vals[inp.name], vals[out.name], inp.out_type, out.out_type))
    return rtl, tb, plan


def _check_cycles(res: RtlSimResult, plan: DesignPlan) -> None:
    assert res.latency == plan.latency, (res.latency, plan.latency, plan_figures(plan)["layers"])
    assert res.ii == plan.ii, (res.ii, plan.ii, plan_figures(plan)["layers"])
    ideal = res.phases["ideal"]
    # steady state: every interval after the pipeline fills is the II
    assert set(ideal.intervals[2:]) == {plan.ii}, ideal.intervals


#: each storage once (mlp3 has all three, at one lane and at four)
CASES = [
    ("dense", 4, 0.5, 0.25),
    ("csr", 1, 0.5, 0.25),
    ("codebook", 4, 0.3, 0.6),
    ("mlp3", 1, 0.3, 0.6),
    ("mlp3", 4, 0.5, 0.25),
    ("eltwise", 3, 0.5, 0.25),
    ("emptyrows", 8, 0.4, 0.4),
    ("passthrough", 1, 0.5, 0.25),
]


@needs_verilator
@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind,parallelism,gap,ready", CASES, ids=[f"{k}-P{p}" for k, p, _, _ in CASES])
def test_model_bit_exact_under_backpressure(tmp_path: Path, kind: str, parallelism: int, gap: float,
                                            ready: float) -> None:
    graph = make_graph(kind)
    rtl, tb, plan = _build(graph, tmp_path, parallelism)
    # the point-wise chain and the pass-through in Icarus (no C++ build); the point-wise engine also
    # runs in Verilator in test_rtl_plan_engines.py
    sim = "icarus" if kind in ("eltwise", "passthrough") else "verilator"
    res = run_rtl_sim(rtl, tb, simulator=sim, build_dir=tmp_path / "build", gap_prob=gap, ready_prob=ready,
                      seed=parallelism)
    assert res.simulator == sim
    assert res.passed, res.summary()
    assert res.phases["backpressure"].samples_out == N_SAMPLES
    _check_cycles(res, plan)


@needs_verilator
@pytest.mark.timeout(600)
def test_icarus_runs_the_same_bench(tmp_path: Path) -> None:
    graph = make_graph("mlp3")
    rtl, tb, plan = _build(graph, tmp_path, 4, n=6)
    res = run_rtl_sim(rtl, tb, simulator="icarus", build_dir=tmp_path / "build", gap_prob=0.4, ready_prob=0.4)
    assert res.passed, res.summary()
    _check_cycles(res, plan)


@needs_verilator
@pytest.mark.timeout(600)
def test_checker_names_sample_element_expected_got(tmp_path: Path) -> None:
    graph = make_graph("csr")
    rtl, tb, _ = _build(graph, tmp_path, 2, n=4)
    lines = (tb / EXPECTED_FILE).read_text().splitlines()
    row = [int(v) for v in lines[2].split()]
    good = row[3]
    row[3] = good + 1 if good + 1 <= graph.output_layers[0].out_type.max_mantissa else good - 1
    lines[2] = " ".join(map(str, row))
    (tb / EXPECTED_FILE).write_text("\n".join(lines) + "\n")
    res = run_rtl_sim(rtl, tb, build_dir=tmp_path / "build", phases=("ideal",))
    assert not res.passed
    assert [(m.sample, m.element, m.expected, m.got) for m in res.mismatches] == [(2, 3, row[3], good)]
    assert "sample 2, element 3: expected" in str(res.mismatches[0])


@needs_verilator
@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("parallelism", [1, 4])
def test_generated_design_is_lint_clean(tmp_path: Path, kind: str, parallelism: int) -> None:
    files = emit_rtl(plan_design(make_graph(kind), parallelism), tmp_path)
    sources = [f for f in files if f.suffix == ".v"]
    lint = lint_verilog(sources, TOP_MODULE)
    assert lint.ok, lint.output


def test_emit_is_deterministic_and_self_contained(tmp_path: Path) -> None:
    graph = make_graph("mlp3")
    a = emit_rtl(plan_design(graph, 4), tmp_path / "a")
    b = emit_rtl(plan_design(graph, 4), tmp_path / "b")
    assert [p.name for p in a] == [p.name for p in b]
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes(), pa.name
    top = (tmp_path / "a" / f"{TOP_MODULE}.v").read_text()
    for port in ("ap_clk", "ap_rst_n", "in_r_TDATA", "in_r_TVALID", "in_r_TREADY", "in_r_TLAST",
                 "out_r_TDATA", "out_r_TVALID", "out_r_TREADY", "out_r_TLAST"):
        assert f" {port}," in top or f" {port}\n" in top, port
    # layer names "input" / "out" are Verilog keywords or reserved: sanitized identifiers only
    assert "u_l1_layer_out" in top
    sources = (tmp_path / "a" / "sources.f").read_text().split()
    assert sources[-1] == f"{TOP_MODULE}.v" and all((tmp_path / "a" / s).is_file() for s in sources)


#: ff_sparse_mac's DRAIN (its header): 5 cycles for ff_mac_lane, 5 + CB_BITS for ff_factored_lane.
def _verilog_drain(engine: str, code_bits: int) -> int:
    return 5 + max(1, code_bits) if engine == "codebook_factored" else 5


def test_plan_cycles_are_sum_and_max_of_stages() -> None:
    graph = make_graph("mlp3")
    for p in (1, 4, 16):
        plan = plan_design(graph, p)
        fig = plan_figures(plan)
        stages = fig["layers"]
        engines = [s["engine"] for s in stages]
        assert engines[:2] == ["unpack", "csr"] and engines[3:] == ["dense", "pack"], engines
        assert engines[2] in ("codebook", "codebook_factored"), engines
        assert fig["totals"]["latency"] == plan.latency == sum(s["latency"] for s in stages)
        assert fig["totals"]["ii"] == plan.ii == max(s["ii"] for s in stages)
        for s, lp in zip(stages[1:-1], plan.layers, strict=True):
            assert s["name"] == lp.name and s["lanes"] == lp.lanes <= p
            assert s["entries"] >= s["entries_lower_bound"]
            assert s["ii"] == s["latency"] == lp.cycles.ii == lp.cycles.latency
            # 1 start cycle + one ROM word per cycle + the lane pipeline
            assert s["ii"] == 1 + s["entries"] + _verilog_drain(lp.engine, lp.code_bits), (s, lp.code_bits)
    # more lanes never cost cycles
    assert plan_design(graph, 4).ii <= plan_design(graph, 1).ii


def test_dense_storage_stores_every_weight() -> None:
    graph = make_graph("dense")
    lp = plan_design(graph, 1).layers[0]
    assert lp.engine == "dense" and lp.lanes == 1
    assert lp.entries == 12 * 7  # n_in * n_out, zeros included
    assert np.count_nonzero(graph.dense_layers()[0].weights.values) < 12 * 7


def test_rows_without_nonzeros_cost_one_entry_and_no_lane() -> None:
    """Sparse layers get min(P, rows with nonzeros) lanes; an empty row costs one zero-weight entry in
    the least-loaded lane; a codebook without 0 gets a 0 entry (the one those rows use)."""
    graph = make_graph("emptyrows")
    fc1, fc2 = graph.dense_layers()
    for p in (1, 4, 8):
        plan = plan_design(graph, p)
        for lay, lp in zip((fc1, fc2), plan.layers, strict=True):
            nnz = np.diff(np.asarray(lay.weights.row_ptr))
            assert (nnz == 0).any()
            assert lp.lanes == min(p, int(np.count_nonzero(nnz)))
            s = lp.schedule
            assert s.row_cost == tuple(max(1, int(c)) for c in nnz)
            assert sorted(r for rows in s.lane_rows for r in rows) == list(range(lay.n_out))
            assert sum(s.lane_entries) == lay.nnz + int(np.count_nonzero(nnz == 0))
            # every lane ends each row with a row-end bit, one per row it computes
            last = lp.arrays["last"]
            for lane, rows in enumerate(s.lane_rows):
                assert int(last[lane].sum()) == len(rows)
                assert s.lane_entries[lane] <= lp.entries
                # rows dealt largest first to the least-loaded lane: no lane exceeds another by more
                # than its own lightest row
                if rows:
                    light = min(s.row_cost[r] for r in rows)
                    assert s.lane_entries[lane] - light <= min(s.lane_entries), (s.lane_rows, s.lane_entries)
        book = np.asarray(fc2.weights.codebook)
        lp2 = plan.layers[1]
        assert 0 not in book and lp2.codebook is not None
        assert list(lp2.codebook) == [*book.tolist(), 0]
        # the empty rows' single entry is the appended zero code
        val, last = lp2.arrays["val"], lp2.arrays["last"]
        for r in np.flatnonzero(np.diff(np.asarray(fc2.weights.row_ptr)) == 0):
            lane = int(lp2.schedule.row_lane[r])
            t = sum(lp2.schedule.row_cost[q] for q in lp2.schedule.lane_rows[lane] if q < r)
            assert int(val[lane, t]) == book.size and int(last[lane, t]) == 1


def test_unsupported_graph_is_a_clear_error() -> None:
    g = make_graph("csr")
    inp, fc = g.layers
    branch = ReluLayer("side", ("input",), inp.shape, inp.out_type)
    side_branch = Graph("branchy", (inp, branch, fc), ("fc",)).verify()  # nothing reads "side"
    with pytest.raises(UnsupportedError, match="layer side: nothing reads its output") as e:
        plan_design(side_branch, 1)
    assert isinstance(e.value, ModelError) and isinstance(e.value, FlowError)
    dangling = Graph("dangling", (inp, fc, branch), ("fc",)).verify()  # the output is not the last layer
    with pytest.raises(UnsupportedError, match="exactly one output"):
        plan_design(dangling, 1)
    with pytest.raises(ValueError, match="parallelism"):
        plan_design(g, 0)
