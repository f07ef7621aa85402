"""Planners: the engine choice, the lane schedule and the lane arrays of the hardware plan (pure Python)."""

from __future__ import annotations

import numpy as np
import pytest

from fpga_flow.errors import UnsupportedError
from fpga_flow.hw import deal_rows, plan_design, plan_figures, plan_layer
from fpga_flow.hw.planners import FACTORED_REGISTER_BUDGET, lane_count
from fpga_flow.ir import Graph, InputLayer, ReluLayer
from tests.backends.hls.models import IN_T, dense, mixed_mlp, single_layer


def choose_kernel(layer, parallelism):
    return plan_layer(layer, IN_T, parallelism)


def plan_graph(graph, parallelism=1):
    return plan_design(graph, parallelism)


def _layer(kind: str):
    return single_layer(kind).layers[1]


@pytest.mark.parametrize("kind", ["dense", "csr", "codebook", "codebook_factored"])
def test_each_storage_gets_its_kernel(kind):
    assert choose_kernel(_layer(kind), 1).engine == kind
    assert choose_kernel(_layer(kind), 3).engine == kind


def test_factored_needs_rows_longer_than_the_codebook():
    rng = np.random.default_rng(3)
    inp = InputLayer("x_in", (), (24,), IN_T)
    book = np.array([-77, -20, 9, 64])
    long_rows = dense("fc", inp, 10, rng, kind="codebook", sparsity=0.3, codebook=book)
    short_rows = dense("fc", inp, 10, rng, kind="codebook", sparsity=0.9, codebook=book)  # ~2.4 nonzeros/row
    c = choose_kernel(long_rows, 1)
    assert c.engine == "codebook_factored"
    assert c.multiplies == 4 * 10 < long_rows.nnz
    p = choose_kernel(short_rows, 1)
    assert p.engine == "codebook" and p.multiplies == short_rows.nnz
    assert "multiplies" in p.reason


def test_factored_register_budget_depends_on_parallelism():
    rng = np.random.default_rng(4)
    inp = InputLayer("x_in", (), (64,), IN_T)
    book = np.arange(-80, 80, 10)[:16]
    book = book[book != 0]
    layer = dense("fc", inp, 40, rng, kind="codebook", sparsity=0.3, codebook=book)
    assert choose_kernel(layer, 1).engine == "codebook_factored"
    k = int(layer.codebook_size)
    big = next(p for p in range(1, 41) if p * k * layer.acc_type.width > FACTORED_REGISTER_BUDGET)
    assert choose_kernel(layer, big - 1).engine == "codebook_factored"
    c = choose_kernel(layer, big)
    assert c.engine == "codebook" and "register" in c.reason


def test_choice_is_a_pure_function():
    layer = _layer("codebook_factored")
    a, b = choose_kernel(layer, 2), choose_kernel(layer, 2)
    key = [(p.engine, p.reason, p.multiplies, p.schedule.lane_rows) for p in (a, b)]
    assert key[0] == key[1]
    for role in ("code", "col", "last", "lane", "slot", "b"):
        np.testing.assert_array_equal(a.rom(role).values, b.rom(role).values)


def test_lane_count_is_clamped_to_rows_with_work():
    layer = _layer("csr")  # 10 rows, row 3 empty
    assert lane_count(layer, 1) == 1
    assert lane_count(layer, 4) == 4
    assert lane_count(layer, 64) == 9
    assert lane_count(_layer("dense"), 64) == 10
    with pytest.raises(ValueError):
        lane_count(layer, 0)


def test_deal_rows_balances_by_entries():
    counts = [5, 1, 9, 1, 1, 7, 3, 3, 1, 2]  # rows without nonzeros cost one (zero-weight) entry
    lanes = deal_rows(counts, 3)
    assert sorted(r for lane in lanes for r in lane) == list(range(len(counts)))
    assert all(list(lane) == sorted(lane) for lane in lanes)
    loads = [sum(counts[r] for r in lane) for lane in lanes]
    assert max(loads) - min(loads) <= max(counts)
    assert max(loads) == 11  # LPT: 9+1+1 | 7+3 +1 | 5+3+2+1 ... best possible is ceil(33/3) = 11
    assert deal_rows(counts, 3) == lanes
    assert deal_rows([4] * 7, 3) == ((0, 3, 6), (1, 4), (2, 5))  # equal costs: round-robin


@pytest.mark.parametrize("kind", ["dense", "csr", "codebook", "codebook_factored"])
@pytest.mark.parametrize("parallelism", [1, 2, 3, 16])
def test_lane_arrays_hold_exactly_the_weights(kind, parallelism):
    g = single_layer(kind)
    p = plan_graph(g, parallelism).layers[0]
    layer = p.layer
    w = np.zeros((layer.n_out, layer.n_in), np.int64)
    if kind == "dense":
        vals = p.rom("w").values
        for r in range(layer.n_out):
            lane, slot = r % p.lanes, r // p.lanes
            assert p.schedule.row_lane[r] == lane and p.schedule.row_slot[r] == slot
            w[r] = vals[lane, slot * layer.n_in : (slot + 1) * layer.n_in]
    else:
        vals = p.rom("code").values if p.codebook is not None else p.rom("w").values
        if p.codebook is not None:
            vals = p.codebook[vals]
        col, last = p.rom("col").values, p.rom("last").values
        row_lane, row_slot = p.rom("lane").values, p.rom("slot").values
        seen = np.zeros(layer.n_out, np.int64)
        for lane in range(p.lanes):
            slot, t = 0, 0
            rows = {int(row_slot[r]): r for r in range(layer.n_out) if row_lane[r] == lane}
            while t < p.entries and slot in rows:
                w[rows[slot], col[lane, t]] += vals[lane, t]
                if last[lane, t]:
                    seen[rows[slot]] += 1
                    slot += 1
                t += 1
        assert np.all(seen == 1)  # every row, empty ones too, ends exactly once in its lane
        empty = np.flatnonzero(np.diff(layer.weights.row_ptr) == 0)
        if p.lanes == 1:
            assert p.entries == layer.nnz + empty.size
    np.testing.assert_array_equal(w, layer.weights.to_dense())


def test_sparse_lanes_are_balanced():
    g = single_layer("csr")
    layer = g.layers[1]
    for parallelism in (1, 2, 4):
        p = plan_graph(g, parallelism).layers[0]
        longest_row = int(np.diff(layer.weights.row_ptr).max())
        assert p.entries <= -(-layer.nnz // p.lanes) + longest_row
        assert p.rom("col").shape == (p.lanes, p.entries)


def test_index_widths_are_the_narrowest():
    p = plan_graph(single_layer("codebook_factored"), 2).layers[0]
    assert p.col_bits == 5  # 24 columns
    assert p.code_bits == 3  # 4 codebook entries + the 0 that row 3 (no nonzeros) needs
    assert p.codebook is not None and list(p.codebook[-1:]) == [0]
    assert p.lane_bits == 1
    assert p.slots == 5 and p.slot_bits == 3  # 10 rows (one empty) on 2 lanes
    assert p.rom("last").bits == 1


def test_figures_count_the_written_arrays():
    g = mixed_mlp()
    for parallelism in (1, 4):
        plan = plan_graph(g, parallelism)
        fig = plan_figures(plan)
        rows = [e for e in fig["layers"] if e["op"] != "stream"]
        assert [e["name"] for e in rows] == [p.name for p in plan.layers]
        for e, p in zip(rows, plan.layers, strict=True):
            if e["op"] != "dense":
                assert e["weight_bits"] == 0 and e["dsp"] == 0 and e["engine"] == "pointwise"
                continue
            book = 0 if p.codebook is None else p.codebook.size * p.layer.weight_type.width
            assert e["weight_bits"] == sum(r.values.size * r.bits for r in p.roms) + book
            assert e["weight_bits"] == sum(e["rom_bits"].values())
            sparse_arrays = {"col_idx", "row_end", "row_lane", "row_slot", "bias"}
            assert sparse_arrays <= set(e["rom_bits"]) or e["engine"] == "dense"
            assert e["engine"] == p.engine and e["lanes"] == p.lanes and e["entries"] == p.entries
            assert e["ii"] == e["latency"] == p.cycles.ii
        t = fig["totals"]
        assert t["weight_bits"] == sum(e["weight_bits"] for e in fig["layers"])
        assert t["ii"] == max(e["ii"] for e in fig["layers"])
        assert t["latency"] == sum(e["latency"] for e in fig["layers"])
        for k in ("lut", "ff", "dsp", "bram36"):
            assert t[k] == pytest.approx(sum(e[k] for e in fig["layers"]))
    csr1 = plan_graph(g, 1).layers[0]
    csr4 = plan_graph(g, 4).layers[0]
    assert csr4.cycles.ii < csr1.cycles.ii and csr4.cost.dsp == 4 * csr1.cost.dsp


def test_csr_weight_bits_grow_with_nonzeros_not_rows_times_cols():
    rng = np.random.default_rng(9)
    inp = InputLayer("x_in", (), (200,), IN_T)
    sparse = dense("fc", inp, 100, rng, kind="csr", sparsity=0.95)
    denser = dense("fc", inp, 100, rng, kind="csr", sparsity=0.5)
    bits = [choose_kernel(lay, 1).weight_bits for lay in (sparse, denser)]
    assert bits[0] < 0.2 * 100 * 200 * 8 < bits[1]


def test_unsupported_graphs_are_clear_errors():
    inp = InputLayer("x_in", (), (4,), IN_T)
    r1 = ReluLayer("r1", ("x_in",), (4,), IN_T)
    r2 = ReluLayer("r2", ("x_in",), (4,), IN_T)  # a branch
    with pytest.raises(UnsupportedError, match="layer r1: nothing reads its output"):
        plan_graph(Graph("g", (inp, r1, r2), ("r2",)).verify())
    with pytest.raises(UnsupportedError, match="one output"):
        plan_graph(Graph("g", (inp, r1, r2), ("r1", "r2")).verify())
    with pytest.raises(ValueError, match="parallelism"):
        plan_graph(Graph("g", (inp, r1), ("r1",)).verify(), 0)
