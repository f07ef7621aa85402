"""Where activation skipping pays, measured on data: the cycles every skipping engine takes on a
stimulus, the interval that gives the design per sample, and the choice of the layers to skip.

A lock-step engine takes the same cycles for every sample; a skipping engine's cycles depend on
how many of its inputs are zero (:func:`fpga_flow.hw.skipping.skip_cycles`, exact). The stages of
a design overlap on consecutive samples, so a sample costs the design about its slowest stage:
:func:`sample_intervals` gives that per sample (the streams' and lock-step stages' fixed IIs, the
skipping stages' cycles on that sample), and its mean is the **expected II** on the stimulus. The
plan's II stays the guaranteed figure (every input nonzero).

:func:`choose_skips` is ``--skip-zeros auto``: from a design (forced lanes or an automatic folding)
it turns one fully-connected layer at a time into a skipping engine at the same lanes, the one
that lowers the expected II most while the design still fits the budget, until none does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from fpga_flow.hw.plan import DesignPlan, LayerPlan
from fpga_flow.hw.skipping import skip_cycles, skip_masks

__all__ = ["SkipChoice", "choose_skips", "expected_ii", "sample_intervals", "skip_activity", "stage_samples"]


def stage_samples(p: LayerPlan, mantissas: Mapping[str, np.ndarray], cache: dict | None = None) -> np.ndarray:
    """Cycles of skipping stage ``p`` for each sample of ``mantissas`` (every layer's values, samples
    first), from the sample's zero inputs. ``cache`` (optional, for one ``mantissas``) keeps them
    between calls, keyed by the layer, its lanes and its broadcasts per cycle."""
    k = p.skip
    if k is None:
        raise ValueError(f"layer {p.name} is not a skipping engine")
    key = (p.name, p.lanes, k.bcast)
    if cache is not None and key in cache:
        return cache[key]
    x = np.asarray(mantissas[p.layer.inputs[0]])
    x = x.reshape(x.shape[0], -1)
    c = np.array([skip_cycles(k, m) for m in skip_masks(k, x)], np.int64)
    if cache is not None:
        cache[key] = c
    return c


def sample_intervals(design: DesignPlan, mantissas: Mapping[str, np.ndarray],
                     cache: dict | None = None) -> np.ndarray:
    """Per sample, the cycles of the design's slowest stage on it (see the module docstring);
    ``cache`` as for :func:`stage_samples`."""
    fixed = max([design.in_stream.cycles.ii, design.out_stream.cycles.ii,
                 *(p.cycles.ii for p in design.layers if p.skip is None)])
    n = len(next(iter(mantissas.values())))
    out = np.full(n, fixed, np.int64)
    for p in design.hardware_layers:
        if p.skip is not None:
            out = np.maximum(out, stage_samples(p, mantissas, cache))
    return out


def expected_ii(design: DesignPlan, mantissas: Mapping[str, np.ndarray], cache: dict | None = None) -> float:
    """The mean of :func:`sample_intervals`: the design's II on average over the stimulus."""
    return float(sample_intervals(design, mantissas, cache).mean())


def skip_activity(design: DesignPlan, mantissas: Mapping[str, np.ndarray], cache: dict | None = None) -> list[dict]:
    """The measured cycles of every activation-skipping engine of ``design`` on the stimulus
    (``mantissas``: every layer's values, samples first): mean, 99th percentile and worst, next to
    the guaranteed figure (every activation nonzero) and the share of nonzero inputs; ``cache`` as
    for :func:`stage_samples`."""
    rows = []
    for p in design.hardware_layers:
        k = p.skip
        if k is None:
            continue
        x = np.asarray(mantissas[p.layer.inputs[0]])
        c = stage_samples(p, mantissas, cache)
        rows.append({"layer": p.name, "lanes": p.lanes, "samples": int(c.size), "guaranteed": int(k.worst),
                     "mean": float(c.mean()) if c.size else None,
                     "p99": float(np.percentile(c, 99)) if c.size else None,
                     "worst_measured": int(c.max()) if c.size else None,
                     "nonzero_inputs": float(np.count_nonzero(x) / max(1, x.size))})
    return rows


@dataclass(frozen=True)
class SkipChoice:
    """What :func:`choose_skips` chose: the layers, the design with them, the expected II before and
    after, and one sentence for the report."""

    skip: frozenset[str]
    design: DesignPlan
    before: float
    after: float
    summary: str


def choose_skips(design: DesignPlan, candidates: frozenset[str], mantissas: Mapping[str, np.ndarray],
                 replan: Callable[[frozenset[str]], DesignPlan], fits: Callable[[DesignPlan], bool]) -> SkipChoice:
    """Greedy ``--skip-zeros auto`` from lock-step ``design`` (see the module docstring): ``replan(S)``
    is the design at the same lanes with the layers ``S`` skipping, ``fits`` the budget check. Only
    a strictly lower expected II is taken."""
    cache: dict = {}
    base = expected_ii(design, mantissas, cache)
    cur, cur_ii, chosen = design, base, frozenset[str]()
    tried: dict[str, tuple[float, bool]] = {}
    while True:
        best: tuple[float, str, DesignPlan] | None = None
        for name in sorted(candidates - chosen):
            d = replan(chosen | {name})
            e = expected_ii(d, mantissas, cache)
            ok = fits(d)
            tried[name] = (e, ok)
            if ok and e < cur_ii and (best is None or e < best[0]):
                best = (e, name, d)
        if best is None:
            break
        cur_ii, name, cur = best
        chosen = chosen | {name}
    if chosen:
        summary = (f"skipping zero activations in {', '.join(sorted(chosen))}: expected II {cur_ii:.1f} cycles on the "
                   f"stimulus, against {base:.1f} lock-step (guaranteed II {cur.ii})")
    else:
        why = [f"{name} {e:.1f}" + ("" if ok else " (does not fit)") for name, (e, ok) in sorted(tried.items())]
        summary = (f"no layer skips zero activations: lock-step expected II {base:.1f} cycles; skipping one more "
                   f"layer would give {', '.join(why) or 'nothing (no fully-connected layer)'}")
    return SkipChoice(chosen, cur, base, cur_ii, summary)
