"""Automatic folding (fpga_flow.hw.folding): lanes per layer from the plan's own cycle and cost model.

A hand-made MLP with a known number of nonzeros per row makes every walk exact: a CSR layer with
``rows`` rows of ``k`` nonzeros on ``L`` lanes walks ``ceil(rows / L) * k`` entries, so its stage
takes at least ``1 + entries + 5`` cycles (``ENGINE_DRAIN``), exactly that with one lane, and
``1 + schedule + 5`` on a shared input, where the bank schedule (``fpga_flow.hw.banking``) may add
bubbles: the folding's choices are therefore checked against the planned designs themselves."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from fpga_flow.boards import load_board
from fpga_flow.fixed import FixedType, Overflow, Rounding
from fpga_flow.hw import fold, plan_design, plan_figures
from fpga_flow.hw.engines import ENGINE_DRAIN
from fpga_flow.hw.folding import board_budget, lanes_for, over_budget
from fpga_flow.ir import Activation, DenseLayer, Graph, InputLayer, Layer, csr_from_dense
from fpga_flow.ir.accum import overflow_free_accumulator_type

IN_T = FixedType(8, 4, True, Rounding.RND_CONV, Overflow.SAT)
W_T = FixedType(8, 1, True, Rounding.RND_CONV, Overflow.SAT)
B_T = FixedType(12, 4, True, Rounding.RND_CONV, Overflow.SAT)
ACT_T = FixedType(8, 4, False, Rounding.RND_CONV, Overflow.SAT)
#: (rows, nonzeros per row) of the three layers: 192, 48 and 12 nonzeros
SHAPE = ((24, 8), (12, 4), (6, 2))
UNLIMITED = {"lut": 1e9, "ff": 1e9, "dsp": 1e9, "bram36": 1e9, "uram": 1e9}


def _layer(name: str, src: Layer, rows: int, k: int, rng: np.random.Generator, last: bool) -> DenseLayer:
    w = np.zeros((rows, src.size), np.int64)
    for r in range(rows):
        cols = rng.choice(src.size, size=k, replace=False)
        w[r, cols] = rng.choice([v for v in range(-100, 101) if v], size=k)
    bias = rng.integers(-200, 201, size=rows)
    lay = DenseLayer(name, (src.name,), (rows,), W_T, n_in=src.size, n_out=rows, weights=csr_from_dense(w),
                     weight_type=W_T, bias=bias, bias_type=B_T, acc_type=W_T,
                     activation=Activation.LINEAR if last else Activation.RELU)
    acc = overflow_free_accumulator_type(lay, src.out_type)
    return replace(lay, acc_type=acc, out_type=acc if last else ACT_T)


def known_mlp(seed: int = 3) -> Graph:
    rng = np.random.default_rng(seed)
    layers: list[Layer] = [InputLayer("x_in", (), (16,), IN_T)]
    for i, (rows, k) in enumerate(SHAPE):
        layers.append(_layer(f"fc{i + 1}", layers[-1], rows, k, rng, last=i == len(SHAPE) - 1))
    return Graph("known", tuple(layers), (layers[-1].name,)).verify()


def stage_ii(rows: int, k: int, lanes: int) -> int:
    return 1 + -(-rows // lanes) * k + ENGINE_DRAIN


def lanes_of(plan) -> dict[str, int]:  # noqa: ANN001 - a DesignPlan
    return {p.name: p.lanes for p in plan.hardware_layers}


def test_stage_iis_are_the_hand_computed_ones():
    g = known_mlp()
    d = plan_design(g, {"fc1": 8, "fc2": 2, "fc3": 1})
    walks = [stage_ii(24, 8, 8), stage_ii(12, 4, 2), stage_ii(6, 2, 1)]
    assert [1 + p.entries + ENGINE_DRAIN for p in d.layers] == walks == [30, 30, 18]
    for p, w in zip(d.layers, walks, strict=True):
        assert p.cycles.ii == 1 + p.rtl_entries + ENGINE_DRAIN
        if p.lanes == 1:  # one lane reads its own copy: no schedule, no bubble
            assert p.banking is None and p.cycles.ii == w
        else:  # a shared input: the schedule takes every entry, a few bubbles at most
            assert p.banking is not None and w <= p.cycles.ii <= w + p.entries // 8 + 1
    assert d.ii == max(p.cycles.ii for p in d.layers)
    assert d.per_layer and d.lanes_requested == (("fc1", 8), ("fc2", 2), ("fc3", 1))


@pytest.mark.parametrize(("target", "lanes"), [
    (54, {"fc1": 4, "fc2": 1, "fc3": 1}),   # fc1 48 entries on 4 lanes; fc2's 48 on one
    (30, {"fc1": 8, "fc2": 2, "fc3": 1}),   # 24 entries per lane: fc1 and fc2 balanced at II 30
    (22, {"fc1": 12, "fc2": 3, "fc3": 1}),  # 16 entries: fc1 2 rows per lane, fc2 4 rows, fc3 all 6
])
def test_a_target_ii_is_met_with_the_fewest_lanes_and_balanced(target, lanes):
    """``lanes``: what the walks alone need (a lower bound: bubbles may need more)."""
    g = known_mlp()
    d = fold(g, budget=UNLIMITED, target_ii=target)
    got = lanes_of(d)
    assert d.ii <= target and d.folding is not None
    assert d.folding.bound == "target" and d.folding.lanes == tuple(got.items())
    for (name, n), (rows, k) in zip(got.items(), SHAPE, strict=True):
        assert n >= lanes[name] and d.layer(name).cycles.ii <= target
        assert stage_ii(rows, k, lanes[name]) <= target
        if lanes[name] > 1:  # the walk at one lane fewer misses the target
            assert stage_ii(rows, k, lanes[name] - 1) > target
    # the first layer's II depends only on its own lanes: one fewer misses the target
    if got["fc1"] > 1:
        assert plan_design(g, {**got, "fc1": got["fc1"] - 1}).layer("fc1").cycles.ii > target


def test_without_a_target_the_fastest_design_is_bound_by_the_rows():
    g = known_mlp()
    d = fold(g, budget=UNLIMITED)
    # every layer can go to one lane per row: fc1 at 24 lanes walks 8 entries (II 14), the slowest
    assert lanes_of(d)["fc1"] == 24 and d.ii >= stage_ii(24, 8, 24) == 14
    assert d.ii == d.layer("fc1").cycles.ii
    assert d.folding is not None and d.folding.mode == "fastest" and d.folding.bound == "rows"
    # the other layers get only what the II needs: at most what II 14 needs with no bubble
    assert lanes_of(d)["fc2"] <= 12 and lanes_of(d)["fc3"] <= 6
    assert all(p.cycles.ii <= d.ii for p in d.layers)


def test_fit_limits_are_respected_and_the_choice_is_the_fastest_that_fits():
    g = known_mlp()
    budget = {**UNLIMITED, "dsp": 7.0}  # one DSP per MAC lane: at most 7 lanes in all
    d = fold(g, budget=budget)
    assert d.cost.dsp <= 7 and not over_budget(d.cost, budget)
    assert d.folding is not None and d.folding.bound == "dsp"
    assert d.folding.faster is not None and d.folding.faster["dsp"] > 7 and d.folding.faster["ii"] < d.ii
    # brute force over every combination of lanes: none that fits is faster
    best = min(plan_design(g, {"fc1": a, "fc2": b, "fc3": c}).ii
               for a, b, c in itertools.product(range(1, 7), range(1, 7), range(1, 7)) if a + b + c <= 7)
    assert d.ii == best


def test_input_bandwidth_bounds_a_small_model_on_a_big_budget():
    rng = np.random.default_rng(0)
    inp = InputLayer("x_in", (), (64,), IN_T)  # 64 bytes: 8 beats of 64 bits
    fc = _layer("fc", inp, 4, 1, rng, last=True)  # 4 nonzeros: II 7 at one lane per row, 10 at one lane
    d = fold(Graph("thin", (inp, fc), ("fc",)).verify(), budget=UNLIMITED)
    assert d.in_stream.cycles.ii == 8 == d.ii
    assert d.folding is not None and d.folding.bound == "input_bandwidth"
    assert lanes_of(d) == {"fc": 2}  # 2 entries per lane: II 8, as the stream; one lane would take 10


def test_nothing_fits_is_one_lane_per_layer_and_names_the_resource():
    d = fold(known_mlp(), budget={**UNLIMITED, "dsp": 2.0})
    assert lanes_of(d) == {"fc1": 1, "fc2": 1, "fc3": 1}
    assert d.folding is not None and d.folding.bound == "dsp" and "even at one lane" in d.folding.detail


def test_forced_p_is_unchanged_by_the_per_layer_form():
    g = known_mlp()
    for p in (1, 3, 8):
        uniform = plan_design(g, p)
        mapped = plan_design(g, {"fc1": p, "fc2": p, "fc3": p})
        fu, fm = plan_figures(uniform), plan_figures(mapped)
        assert "folding" not in fu and "lanes_requested" not in fu and uniform.parallelism_text == str(p)
        assert fu["layers"] == fm["layers"] and fu["totals"] == fm["totals"]
        for a, b in zip(uniform.layers, mapped.layers, strict=True):
            assert a.schedule.lane_rows == b.schedule.lane_rows
            for key in a.arrays:
                np.testing.assert_array_equal(a.arrays[key], b.arrays[key])


def test_per_layer_lanes_are_checked():
    g = known_mlp()
    with pytest.raises(ValueError, match="unknown layer"):
        plan_design(g, {"fc9": 2})
    with pytest.raises(ValueError, match="positive integer"):
        plan_design(g, {"fc1": 0})
    with pytest.raises(ValueError, match="target II"):
        fold(g, target_ii=0)
    assert lanes_of(plan_design(g, {"fc1": 5})) == {"fc1": 5, "fc2": 1, "fc3": 1}  # left out: 1 lane


def test_lanes_for_matches_a_linear_scan():
    from fpga_flow.hw.folding import StageModel

    g = known_mlp()
    by_name = {lay.name: lay for lay in g.layers}
    st = StageModel(by_name["fc1"], by_name)
    for t in range(10, 200, 7):
        scan = next((n for n in range(1, 25) if st.ii(n) <= t), None)
        assert lanes_for(st, t) == scan


def test_board_budget_subtracts_the_platform():
    b = load_board("pynq-z2")
    bud = board_budget(b, {"lut": 3500, "bram36": 2.0})
    assert bud["lut"] == b.lut - 3500 and bud["bram36"] == b.bram36 - 2 and bud["dsp"] == b.dsp


def test_the_folding_beats_every_forced_p_that_fits_even_when_block_ram_is_not_monotone(tmp_path):
    """The 16-bit benchmark MLP: block RAM first grows with the lanes, then shrinks (shallow ROMs go
    to distributed RAM), so bisection alone stops early; the walk after it, which also widens the
    narrower layers (shallower ROMs), finds designs at least as fast as the best forced P."""
    import onnx

    from fpga_flow.examples import benchmark_mlp
    from fpga_flow.pipeline import kernel_budget, load_and_lower

    onnx.save(benchmark_mlp(seed=0), tmp_path / "mlp.onnx")
    g = load_and_lower(tmp_path / "mlp.onnx")
    board = load_board("pynq-z2")
    budget = kernel_budget(board)
    forced = [plan_design(g, p, board) for p in range(2, 65, 2)]
    best = min(d.ii for d in forced if not over_budget(d.cost, budget))
    auto = fold(g, board, budget=budget)
    assert not over_budget(auto.cost, budget)
    assert auto.ii <= best
    assert auto.folding is not None and auto.folding.faster is not None
    assert over_budget(plan_design(g, auto.folding.faster["lanes"], board).cost, budget)


def test_roms_go_to_block_ram_when_luts_run_out():
    """A LUT budget the design at one lane per row misses only by its logic ROMs: the folding moves
    ROMs into block RAM (fewer LUTs, more BRAM36) rather than give up speed."""
    g = known_mlp()
    fastest = plan_design(g, {"fc1": 24, "fc2": 6, "fc3": 2})
    blocked = plan_design(g, {"fc1": 24, "fc2": 6, "fc3": 2}, rom_block=frozenset({"fc1", "fc2", "fc3"}))
    assert blocked.cost.lut < fastest.cost.lut and blocked.cost.bram36 > fastest.cost.bram36
    budget = {**UNLIMITED, "lut": float(blocked.cost.lut)}
    d = fold(g, budget=budget)
    assert not over_budget(d.cost, budget)
    assert any(p.rom_block for p in d.layers) and d.ii <= fastest.ii


def test_a_convolution_with_one_lane_per_row_computes_several_pixels_per_step():
    """LeNet's conv1 (4 channels) bounds the folding at 4 lanes; fold_pixels rewrites it to compute
    2x2 output pixels per step (16 rows), folds again and keeps the faster design, whose graph has
    the same outputs as the original and whose folding says what was rewritten."""
    from fpga_flow.hw.folding import fold_pixels
    from tests.cnn_graphs import cnn_graph, cnn_inputs

    board = load_board("pynq-z2")
    g = cnn_graph("lenet")
    plain = fold(g, board)
    assert plain.folding.bound == "rows" and plain.folding.bound_layer == "conv1"
    d = fold_pixels(g, board)
    conv = d.layer("conv1").layer
    phases = dict((n, (gy, gx)) for n, gy, gx in d.folding.pixels)
    assert phases == {"conv1": conv.pixel_phases} and conv.pixel_phases != (1, 1)
    assert d.ii < plain.ii and not over_budget(d.cost, board_budget(board))
    assert d.layer("conv1").lanes > plain.layer("conv1").lanes
    assert "conv1 computes" in d.folding.pixels_detail and f"II {plain.ii} -> {d.ii}" in d.folding.pixels_detail
    x = cnn_inputs(g, 16)
    assert np.array_equal(d.graph.execute(x)["fc2"], g.execute(x)["fc2"])
    # a met target needs no rewrite
    easy = fold_pixels(g, board, target_ii=plain.ii)
    assert easy.folding.pixels == () and easy.ii <= plain.ii
