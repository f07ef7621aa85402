"""Automatic folding: the lanes of every layer, chosen so that the stages' IIs are balanced and the
design fits the board (FINN's SetFolding, on nonzeros).

The design's II is its slowest stage (stages overlap on consecutive samples). A stage's II at
``L`` lanes comes from the same plan every estimate reads (:func:`fpga_flow.hw.design.plan_stage`
and the engine's cycle model): for a MAC layer ``1 + entries + drain``, ``entries`` the longest
lane of the nonzeros dealt to ``L`` lanes. So for an II target ``T`` each layer needs the fewest
lanes ``L`` with ``II(L) <= T`` (:func:`lanes_for`); that design is the cheapest one meeting
``T``. :func:`fold` searches ``T``:

* with a target (``target_ii``): the design at ``T = target_ii`` when it fits, else the fastest
  fitting design slower than the target;
* without one: the lowest ``T`` whose design fits, between the design at one lane per layer and
  the fastest design there is (every layer at one lane per row, or the stream's bandwidth,
  whichever is slower): bisection on the whole budget, then, because block RAM can shrink as lanes
  grow (shallow ROMs go to distributed RAM), a walk down to the lowest ``T`` whose LUT/FF/DSP
  still fit, one design at a time.

"Fits" is the plan's resources against ``budget`` (what the kernel may use: the board's
LUT/FF/DSP/BRAM36/URAM less the platform's share, see :func:`fpga_flow.pipeline.kernel_budget`).
The result says what stops a faster design (:attr:`~fpga_flow.hw.plan.Folding.bound`): the
resource the next faster design overflows, the input (or output) stream's bandwidth, a layer that
already has one lane per row, or the target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace

from fpga_flow.boards import Board
from fpga_flow.hw.cost import Cost
from fpga_flow.hw.design import SHARED_READERS, plan_design, plan_stage
from fpga_flow.hw.engines import ENGINE_MODELS
from fpga_flow.hw.plan import DesignPlan, Folding, LayerPlan
from fpga_flow.ir import Conv2dLayer, Graph, InputLayer, Layer

__all__ = ["RESOURCE_LABELS", "StageModel", "board_budget", "fold", "fold_pixels", "lanes_for", "over_budget"]

#: Resource keys of a budget, and how people spell them.
RESOURCE_LABELS = {"lut": "LUT", "ff": "FF", "dsp": "DSP", "bram36": "BRAM36", "uram": "URAM"}
#: More lanes than this are never tried (a safety net for layers with very many rows).
MAX_LANES = 4096
#: Designs planned at most while walking between the two bisections (see :func:`fold`).
MAX_PROBES = 400
#: Resources that never shrink when a layer gets more lanes (block RAM may: see :func:`fold`).
MONOTONE = ("lut", "ff", "dsp")


def board_budget(board: Board, reserved: Mapping[str, float] | None = None) -> dict[str, float]:
    """What the kernel may use on ``board``: its capacity less ``reserved`` (e.g. the platform's DMA
    and interconnect) per resource."""
    cap = {"lut": board.lut, "ff": board.ff, "dsp": board.dsp, "bram36": board.bram36, "uram": board.uram}
    res = reserved or {}
    return {k: float(v) - float(res.get(k, 0.0)) for k, v in cap.items()}


def over_budget(cost: Cost, budget: Mapping[str, float]) -> list[tuple[str, float]]:
    """The resources ``cost`` exceeds, worst first, as ``(resource, used / available)``."""
    used = {"lut": cost.lut, "ff": cost.ff, "dsp": cost.dsp, "bram36": cost.bram36, "uram": cost.uram}
    out = []
    for k, avail in budget.items():
        u = float(used[k])
        if u > avail:
            out.append((k, u / avail if avail > 0 else math.inf))
    return sorted(out, key=lambda t: -t[1])


class StageModel:
    """II of one layer's stage as a function of its lanes (cached; the plan's own cycle model)."""

    def __init__(self, layer: Layer, by_name: Mapping[str, Layer]) -> None:
        self.layer = layer
        self._by_name = by_name
        self._ii: dict[int, int] = {}
        one = self.plan(1)
        self.max_lanes = min(MAX_LANES, self.plan(MAX_LANES).lanes)
        self.pixels = one.window.out_pixels if one.window is not None else 1
        self.total_entries = sum(one.schedule.row_cost)
        #: a feature-map stage (a window engine)
        self.map = one.window is not None

    def plan(self, lanes: int) -> LayerPlan:
        return plan_stage(self.layer, self._by_name, lanes)

    def ii(self, lanes: int) -> int:
        """The stage's II at ``lanes`` lanes (``lanes`` capped at the rows with work)."""
        lanes = max(1, min(lanes, self.max_lanes))
        if lanes not in self._ii:
            p = self.plan(lanes)
            self._ii[lanes] = ENGINE_MODELS[p.engine].cycles(p).ii
        return self._ii[lanes]

    @property
    def fastest(self) -> int:
        return self.ii(self.max_lanes)


def lanes_for(stage: StageModel, target_ii: int) -> int | None:
    """The fewest lanes whose II is at most ``target_ii`` (``None``: not even one lane per row).

    No ``L`` below ``total / floor(T / pixels)`` can meet ``T`` (a lane walks at least its share of
    the entries per pixel), so the scan starts there and returns the first ``L`` that meets it."""
    if stage.fastest > target_ii:
        return None
    per_pixel = target_ii // stage.pixels
    start = max(1, -(-stage.total_entries // per_pixel)) if per_pixel > 0 else stage.max_lanes
    for lanes in range(min(start, stage.max_lanes), stage.max_lanes + 1):
        if stage.ii(lanes) <= target_ii:
            return lanes
    return stage.max_lanes


class _Search:
    """The designs planned while folding one graph (cached by their lanes)."""

    def __init__(self, graph: Graph, board: Board | None, budget: Mapping[str, float]) -> None:
        self.graph, self.board, self.budget = graph, board, budget
        by_name = {lay.name: lay for lay in graph.layers}
        self.stages = {lay.name: StageModel(lay, by_name) for lay in graph.layers[1:]
                       if not isinstance(lay, InputLayer) and not plan_stage(lay, by_name, 1).is_alias}
        self._cache: dict[tuple[tuple[str, int], ...], DesignPlan] = {}

    @property
    def probes(self) -> int:
        return len(self._cache)

    def design(self, lanes: Mapping[str, int]) -> DesignPlan:
        key = tuple(sorted(lanes.items()))
        if key not in self._cache:
            self._cache[key] = self._roms_to_block(plan_design(self.graph, dict(lanes), self.board), lanes)
        return self._cache[key]

    def _roms_to_block(self, d: DesignPlan, lanes: Mapping[str, int]) -> DesignPlan:
        """``d``, or when its LUTs or FFs overflow the budget while block RAM is left, the same lanes
        with the largest MAC layers' ROMs forced into block RAM, one at a time (largest LUT count
        first), as long as block RAM fits and it helps, until the design fits."""
        def logic_over(x: DesignPlan) -> bool:
            return any(k in ("lut", "ff") for k, _ in over_budget(x.cost, self.budget))

        if not logic_over(d) or any(k in ("bram36", "dsp") for k, _ in over_budget(d.cost, self.budget)):
            return d
        moved: frozenset[str] = frozenset()
        for p in sorted((p for p in d.hardware_layers if p.engine in SHARED_READERS and not p.rom_block),
                        key=lambda p: -p.cost.lut):
            trial = plan_design(self.graph, dict(lanes), self.board, rom_block=moved | {p.name})
            if trial.cost.lut < d.cost.lut and not any(k == "bram36" for k, _ in over_budget(trial.cost, self.budget)):
                d, moved = trial, moved | {p.name}
                if not logic_over(d):
                    break
        return d

    def lanes_at(self, target_ii: int) -> dict[str, int]:
        """Per layer the fewest lanes meeting ``target_ii`` (the most it has when none does)."""
        return {n: (lanes_for(s, target_ii) or s.max_lanes) for n, s in self.stages.items()}

    def at(self, target_ii: int) -> DesignPlan:
        """The design with the fewest lanes per layer meeting ``target_ii``: the stage models' choice,
        then one more lane for every stage whose planned II still misses the target (a shared
        input's bank schedule may add bubbles the stage model does not see), until none does or
        every such stage has one lane per row."""
        lanes = self.lanes_at(target_ii)
        d = self.design(lanes)
        while True:
            late = [p.name for p in d.hardware_layers if p.name in self.stages and p.cycles.ii > target_ii
                    and lanes[p.name] < self.stages[p.name].max_lanes]
            if not late:
                return d
            for n in late:
                lanes[n] += 1
            d = self.design(lanes)

    def widened(self, d: DesignPlan) -> list[DesignPlan]:
        """Designs as fast as ``d`` that may need less block RAM: each narrower layer raised to the
        widest layer's lanes, and every layer at once (as a forced ``P`` would plan it). More lanes
        make shallower ROMs, which may leave block RAM for distributed RAM."""
        lanes = {n: d.layer(n).lanes for n in self.stages}
        widest = max(lanes.values(), default=1)
        out = [self.design({**lanes, n: min(widest, self.stages[n].max_lanes)})
               for n in self.stages if lanes[n] < min(widest, self.stages[n].max_lanes)]
        out.append(self.design({n: min(widest, st.max_lanes) for n, st in self.stages.items()}))
        return out

    def fits(self, d: DesignPlan) -> bool:
        return not over_budget(d.cost, self.budget)


def fold(graph: Graph, board: Board | None = None, *, budget: Mapping[str, float] | None = None,
         target_ii: int | None = None) -> DesignPlan:
    """The design of ``graph`` with automatically chosen lanes per layer (see the module docstring).

    ``budget``: resource -> what the kernel may use (default: the whole ``board``; without a board
    nothing is refused). ``target_ii``: cycles between samples to meet with the fewest lanes
    (default: as fast as fits). The plan's :attr:`~fpga_flow.hw.plan.DesignPlan.folding` says how
    the lanes were chosen and what bounds the design."""
    if target_ii is not None and (isinstance(target_ii, bool) or not isinstance(target_ii, int) or target_ii < 1):
        raise ValueError(f"the target II must be a positive number of cycles, got {target_ii!r}")
    if budget is None:
        budget = board_budget(board) if board is not None else {}
    s = _Search(graph, board, budget)
    slowest = s.design({n: 1 for n in s.stages})
    streams = max(slowest.in_stream.cycles.ii, slowest.out_stream.cycles.ii)
    floor_ii = max([streams, *(st.fastest for st in s.stages.values())])
    goal = floor_ii if target_ii is None else max(target_ii, floor_ii)
    chosen = slowest
    if goal < slowest.ii and s.fits(slowest):
        chosen = s.at(goal)
        if not s.fits(chosen):
            chosen = _fastest_fitting(s, goal, slowest)
        wide = _wide_maps(s, target_ii)
        if wide is not None and s.fits(wide) and wide.ii < chosen.ii:
            chosen = wide
    bound, detail, faster, bound_layer = _bound(s, chosen, target_ii, floor_ii)
    info = Folding("target" if target_ii is not None else "fastest", target_ii,
                   tuple((n, chosen.layer(n).lanes) for n in s.stages), bound, detail, faster, s.probes,
                   bound_layer=bound_layer)
    return replace(chosen, folding=info)


#: Convolutions :func:`fold_pixels` rewrites at most.
MAX_PIXEL_SPLITS = 2


def _wide_maps(s: _Search, target_ii: int | None) -> DesignPlan | None:
    """The design with every feature-map stage at one lane per row and the other layers at the fewest
    lanes that keep up with them (``None`` without feature maps): the bisection's designs give a cheap
    pooling stage one lane, whose one-bank output a wide convolution must then hold once per lane,
    while full-width map stages keep every map in many banks, read shared."""
    maps = [n for n, st in s.stages.items() if st.map]
    if not maps:
        return None
    ii = max(s.stages[n].fastest for n in maps)
    if target_ii is not None:
        ii = max(ii, target_ii)
    lanes = {n: (st.max_lanes if st.map and (target_ii is None or st.fastest > target_ii)
                 else (lanes_for(st, ii) or st.max_lanes)) for n, st in s.stages.items()}
    return s.design(lanes)


def fold_pixels(graph: Graph, board: Board | None = None, *, budget: Mapping[str, float] | None = None,
                target_ii: int | None = None) -> DesignPlan:
    """``fold``, then, while a target is not met, the slowest convolution that has one lane per
    row computing several output pixels per step (:func:`fpga_flow.passes.split_pixels`: more rows,
    so more lanes), folded again, each split tried; the fastest design is kept. The design's graph is
    then the rewritten one (equal outputs); its folding lists the rewrites
    (:attr:`~fpga_flow.hw.plan.Folding.pixels`)."""
    from fpga_flow.passes.pixels import pixel_splits, split_pixels

    best = fold(graph, board, budget=budget, target_ii=target_ii)
    done: list[tuple[str, int, int]] = []
    steps: list[str] = []  # one sentence per rewrite
    while len(done) < MAX_PIXEL_SPLITS:
        if target_ii is not None and best.ii <= target_ii:
            break
        # the slowest convolution at one lane per row that a max pool follows
        splits = {p.name: (p.cycles.ii, pixel_splits(best.graph, p.name)) for p in best.hardware_layers
                  if isinstance(p.layer, Conv2dLayer) and p.lanes >= p.layer.rows}
        bound = [n for n, (_, options) in splits.items() if options]
        if not bound:
            break
        name = max(bound, key=lambda n: splits[n][0])
        found: tuple[DesignPlan, int, int] | None = None
        for gy, gx in splits[name][1]:
            cand = fold(split_pixels(best.graph, name, gy, gx), board, budget=budget, target_ii=target_ii)
            if cand.ii < (found[0] if found is not None else best).ii:
                found = (cand, gy, gx)
        if found is None:
            break
        before = best.ii
        best, gy, gx = found
        done.append((name, gy, gx))
        assert best.folding is not None
        steps.append(f"{name} computes {gy}x{gx} output pixels per step (its rows times {gy * gx}, each an "
                     f"output pixel phase; the max pool after it reads the phases): II {before} -> {best.ii}")
        best = replace(best, folding=replace(best.folding, pixels=tuple(done), pixels_detail="; ".join(steps)))
    return best


def _bisect(s: _Search, lo: int, hi: int, ok: Callable[[DesignPlan], bool]) -> int:
    """The lowest ``T`` in ``(lo, hi]`` whose design passes ``ok`` (``ok`` holds at ``hi``; taken as
    monotone in ``T``)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(s.at(mid)) else (mid, hi)
    return hi


def _fastest_fitting(s: _Search, goal: int, slowest: DesignPlan) -> DesignPlan:
    """The fastest design slower than ``goal`` that fits (the design at ``goal`` does not; the one at
    one lane per layer does).

    LUT, FF and DSP grow with the lanes, block RAM not always: a lane's ROM is ``entries`` deep, and
    below a depth the plan keeps it in distributed RAM (LUTs) instead. So: bisect ``T`` on the whole
    budget, bisect it again on LUT/FF/DSP alone (no faster design can fit), and walk the designs
    between the two, each one step faster than the last, keeping the fastest that fits."""
    def logic_fits(d: DesignPlan) -> bool:
        return not any(k in MONOTONE for k, _ in over_budget(d.cost, s.budget))

    t_fit = _bisect(s, goal, slowest.ii, s.fits)
    best = s.at(t_fit) if t_fit < slowest.ii else slowest
    t_logic = goal if logic_fits(s.at(goal)) else _bisect(s, goal, t_fit, logic_fits)
    t = best.ii - 1
    while t >= t_logic and s.probes < MAX_PROBES:
        d = s.at(t)
        for c in (d,) if s.fits(d) else (d, *s.widened(d)):
            if s.fits(c) and c.ii < best.ii:
                best = c
        t = min(t, d.ii) - 1  # the design's II may exceed its target (bubbles of a shared input's schedule)
    return best


def _next_faster(s: _Search, d: DesignPlan, floor_ii: int) -> DesignPlan | None:
    """The design at the highest target below ``d.ii`` that is faster than ``d`` (None: none above
    ``floor_ii``). A target's design may be slower than the target (a shared input's bank schedule
    adds bubbles the stage model does not see), so targets are tried one cycle at a time."""
    t = d.ii - 1
    while t >= floor_ii:
        f = s.at(t)
        if f.ii < d.ii:
            return f
        t -= 1
    return None


def _figures(d: DesignPlan) -> dict:
    c = d.cost
    return {"ii": int(d.ii), "lanes": {p.name: p.lanes for p in d.hardware_layers}, "lut": int(c.lut),
            "ff": int(c.ff), "dsp": int(c.dsp), "bram36": float(c.bram36), "uram": int(c.uram)}


def _bound(s: _Search, chosen: DesignPlan, target_ii: int | None, floor_ii: int
           ) -> tuple[str, str, dict | None, str]:
    """What stops a faster design than ``chosen``: (bound, one sentence, the refused faster design,
    the layer with one lane per row that bounds it or "")."""
    ii = chosen.ii
    over = over_budget(chosen.cost, s.budget)
    if over:
        k, ratio = over[0]
        return k, (f"does not fit even at one lane per layer: {RESOURCE_LABELS[k]} {_used(chosen.cost, k):g} "
                   f"of {s.budget[k]:g} available to the kernel ({100 * ratio:.0f} %)"), None, ""
    if target_ii is not None and ii <= target_ii:
        return "target", f"meets the target II of {target_ii} cycles (II {ii}) with the fewest lanes", None, ""
    if ii <= floor_ii:
        ins, outs = chosen.in_stream, chosen.out_stream
        if ii <= ins.cycles.ii:
            return "input_bandwidth", (f"the input stream takes {ins.cycles.ii} cycles per sample "
                                       f"({ins.fmt.beats} beats of {ins.fmt.tdata_bits} bits)"), None, ""
        if ii <= outs.cycles.ii:
            return "output_bandwidth", f"the output stream takes {outs.cycles.ii} cycles per sample", None, ""
        full = [n for n, st in s.stages.items() if st.fastest >= ii]
        st = s.stages[full[0]]
        lanes = chosen.layer(full[0]).lanes
        if lanes >= st.max_lanes:
            return "rows", (f"layer {full[0]} has one lane per row with work ({st.max_lanes} lanes, "
                            f"II {st.fastest})"), None, full[0]
        return "rows", (f"layer {full[0]} at {lanes} lanes is as fast as at one lane per row with work "
                        f"({st.max_lanes} lanes, II {st.fastest}): its longest row bounds it"), None, full[0]
    nxt = _next_faster(s, chosen, floor_ii)
    if nxt is None:
        return "rows", f"no faster design exists above the floor of {floor_ii} cycles", None, ""
    faster = nxt
    refused = over_budget(faster.cost, s.budget)
    if not refused:  # the walk stopped at MAX_PROBES designs
        return "search", f"the search stopped after {s.probes} designs (II {faster.ii} also fits)", _figures(faster), ""
    k, ratio = refused[0]
    return k, (f"the next faster design (II {faster.ii}) needs {RESOURCE_LABELS[k]} {_used(faster.cost, k):g} "
               f"of {s.budget[k]:g} available to the kernel ({100 * ratio:.0f} %)"), _figures(faster), ""


def _used(cost: Cost, k: str) -> float:
    return float(getattr(cost, k))
