"""Per-layer pruning sensitivity (Han et al. 2015, Fig. 6) and densities chosen from it.

:func:`layer_sensitivity` sweeps ONE weighted layer at a time: its mask keeps the ``d`` fraction of
its weights of largest magnitude, every other layer stays as it is (dense after the dense stage), no
fine-tuning, and ``eval_fn()`` (the test accuracy in the flow) is measured, for every ``d`` of
``densities`` (default :data:`DEFAULT_DENSITIES`). The result is a :class:`SensitivityTable`.

:func:`allocate` (:func:`allocate_densities`) turns the table into per-layer densities for a target
overall density ``D`` with one rule, **equal predicted accuracy loss**:

* a layer's predicted loss at density ``d`` is ``max(0, baseline - accuracy)`` interpolated
  linearly between the swept densities, made monotone (pruning more never predicts less loss: the
  running maximum from dense downwards) and strictly so by a tie-break of ``1e-6 x (1 - d)`` (so
  a plateau of equal loss resolves to its lowest density);
* at a loss level ``L`` each layer takes the lowest density whose predicted loss is ``<= L``, kept
  within ``[min(densities), 1]`` (never extrapolated below the sweep);
* ``L`` is found by bisection so that the kept weights add up to ``D x total``; the per-layer
  counts are then rounded by largest remainder so that they add up to ``round(D x total)`` exactly.

A layer whose accuracy falls fast (a sensitive one, often a small layer) thus keeps more weights,
and a layer that tolerates pruning gives up more; a small layer is never pruned below what its
curve allows at the common loss level just to make the count. A target below what the floors allow
(every layer at ``min(densities)``) is an error that says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from fpga_flow.compress.prune import keep_largest
from fpga_flow.errors import FlowError

if TYPE_CHECKING:
    from fpga_flow.compress.graphnet import Compressible

__all__ = [
    "DEFAULT_DENSITIES",
    "Allocation",
    "Sensitivity",
    "SensitivityTable",
    "allocate",
    "allocate_densities",
    "layer_sensitivity",
    "markdown_lines",
    "plot_sensitivity",
    "predicted_loss",
]

#: The densities :func:`layer_sensitivity` sweeps by default (fraction of a layer's weights kept).
DEFAULT_DENSITIES = (1.0, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02)

#: The allocation rule in one line (the report quotes it).
RULE = ("equal predicted accuracy loss per layer (bisection on the common loss level), "
        "kept weights = round(target x total weights)")

#: The tie-break slope that makes a predicted-loss curve strictly monotone.
_TIE = 1e-6


@dataclass(frozen=True)
class SensitivityTable:
    """Test accuracy with ONE layer pruned by magnitude to each density, the others unchanged.

    ``densities`` descending; ``accuracy[layer][i]`` at ``densities[i]``; ``baseline`` the accuracy
    with no layer pruned; ``weights[layer]`` the layer's weight count."""

    densities: tuple[float, ...]
    baseline: float
    accuracy: Mapping[str, tuple[float, ...]]
    weights: Mapping[str, int]

    def __post_init__(self) -> None:
        if list(self.densities) != sorted(self.densities, reverse=True) or len(set(self.densities)) != len(
                self.densities):
            raise ValueError("sensitivity densities must be distinct and in descending order")
        if not self.densities or not all(0 < d <= 1 for d in self.densities):
            raise ValueError("sensitivity densities must lie in (0, 1]")
        for name, accs in self.accuracy.items():
            if len(accs) != len(self.densities):
                raise ValueError(f"layer {name}: {len(accs)} accuracies for {len(self.densities)} densities")

    @property
    def layers(self) -> list[str]:
        return list(self.accuracy)

    def to_json(self) -> dict[str, Any]:
        return {
            "densities": list(self.densities),
            "baseline": self.baseline,
            "layers": {n: {"weights": int(self.weights[n]), "accuracy": list(a)} for n, a in self.accuracy.items()},
        }


@dataclass(frozen=True)
class Allocation:
    """Densities chosen by :func:`allocate` for ``target``: the common predicted ``loss_level``, per
    layer the density (``nonzero / weights``), the kept count, the weight count and the predicted
    loss at that density."""

    target: float
    loss_level: float
    densities: Mapping[str, float]
    nonzero: Mapping[str, int]
    weights: Mapping[str, int]
    predicted_loss: Mapping[str, float]

    @property
    def overall(self) -> float:
        """Kept weights over all weights."""
        return sum(self.nonzero.values()) / sum(self.weights.values())

    def to_json(self) -> dict[str, Any]:
        return {"target_density": self.target, "overall_density": self.overall, "loss_level": self.loss_level,
                "densities": dict(self.densities), "nonzero": dict(self.nonzero), "weights": dict(self.weights),
                "predicted_loss": dict(self.predicted_loss)}


@dataclass(frozen=True)
class Sensitivity:
    """``CompressConfig.sensitivity``: sweep these ``densities`` after the dense stage; with
    ``target_density`` choose the per-layer densities from the sweep (they replace the preset's
    ``final_density``). The flow fills ``table``, ``allocation`` and ``replaced`` (the densities the
    allocation replaced) in the config of its result."""

    densities: tuple[float, ...] = DEFAULT_DENSITIES
    target_density: float | None = None
    table: SensitivityTable | None = field(default=None, compare=False)
    allocation: Allocation | None = field(default=None, compare=False)
    replaced: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not self.densities or not all(0 < d <= 1 for d in self.densities):
            raise FlowError(f"sensitivity densities must lie in (0, 1], got {self.densities}")
        if self.target_density is not None and not 0 < self.target_density <= 1:
            raise FlowError(f"the target density must lie in (0, 1], got {self.target_density}")
        if self.target_density is not None and self.target_density < min(self.densities):
            raise FlowError(f"target density {self.target_density} is below the lowest swept density "
                            f"{min(self.densities)}: add lower sensitivity densities")

    def to_report(self) -> dict[str, Any]:
        """The report's ``sensitivity`` section (the table, the allocation if any)."""
        return {"table": self.table.to_json() if self.table else None,
                "target_density": self.target_density,
                "allocation": self.allocation.to_json() if self.allocation else None,
                "replaced_densities": list(self.replaced) if self.replaced is not None else None,
                "rule": RULE}


@torch.no_grad()
def layer_sensitivity(
    model: Compressible,
    layers: Sequence[str] | None,
    eval_fn: Callable[[], float],
    densities: Sequence[float] = DEFAULT_DENSITIES,
) -> SensitivityTable:
    """Prune each of ``layers`` (default: every weighted layer) alone to each of ``densities`` by
    magnitude (``round(d x weights)`` kept, within its current mask), measure ``eval_fn()``, restore
    the mask. No fine-tuning; the other layers stay as they are. The model is unchanged afterwards."""
    by_name = {lay.name: lay for lay in model.layers}
    names = list(by_name) if layers is None else list(layers)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise KeyError(f"unknown layer(s) {unknown}; layers: {sorted(by_name)}")
    dens = tuple(sorted({float(d) for d in densities}, reverse=True))
    baseline = float(eval_fn())
    acc: dict[str, tuple[float, ...]] = {}
    for name in names:
        lay = by_name[name]
        saved = lay.mask.clone()
        row = []
        try:
            for d in dens:
                lay.mask = keep_largest(lay.weight, int(round(d * lay.weight.numel())), saved)
                row.append(float(eval_fn()))
        finally:
            lay.mask = saved
        acc[name] = tuple(row)
    return SensitivityTable(dens, baseline, acc, {n: int(by_name[n].weight.numel()) for n in names})


def _curve(table: SensitivityTable, layer: str) -> list[float]:
    """The monotone, tie-broken predicted loss at each of ``table.densities``."""
    out, run = [], 0.0
    for d, a in zip(table.densities, table.accuracy[layer], strict=True):
        run = max(run, table.baseline - a, 0.0)
        out.append(run + _TIE * (1.0 - d))
    return out


def predicted_loss(table: SensitivityTable, layer: str, density: float) -> float:
    """The predicted accuracy loss of ``layer`` alone at ``density`` (the curve :func:`allocate` uses)."""
    ds, ls = table.densities, _curve(table, layer)
    if density >= ds[0]:
        return ls[0]
    for i in range(len(ds) - 1):
        if ds[i + 1] <= density <= ds[i]:
            t = (ds[i] - density) / (ds[i] - ds[i + 1])
            return ls[i] + t * (ls[i + 1] - ls[i])
    return ls[-1]


def _density_at(ds: Sequence[float], ls: Sequence[float], level: float) -> float:
    """The lowest density whose predicted loss is ``<= level`` (``ls`` strictly increasing)."""
    if level <= ls[0]:
        return ds[0]
    for i in range(len(ds) - 1):
        if level < ls[i + 1]:
            t = (level - ls[i]) / (ls[i + 1] - ls[i])
            return ds[i] + t * (ds[i + 1] - ds[i])
    return ds[-1]


def allocate(table: SensitivityTable, sizes: Mapping[str, int], target: float) -> Allocation:
    """Per-layer densities for the overall density ``target`` by the equal-loss rule (module doc).

    ``sizes``: weight count per layer (every layer of the table). The kept counts add up to
    ``round(target x sum(sizes))`` exactly."""
    names = list(table.accuracy)
    missing = [n for n in names if n not in sizes]
    if missing:
        raise KeyError(f"no size for layer(s) {missing}")
    total = sum(int(sizes[n]) for n in names)
    want = int(round(target * total))
    ds = list(table.densities)
    if ds[0] != 1.0:  # the dense end of every curve: no loss
        raise ValueError("a sensitivity table for allocation must include density 1.0")
    curves = {n: _curve(table, n) for n in names}
    floor = sum(ds[-1] * sizes[n] for n in names)
    if not 0 < target <= 1:
        raise FlowError(f"the target density must lie in (0, 1], got {target}")
    if want < math.ceil(floor - 1e-9):
        raise FlowError(f"target density {target} keeps {want} weights, fewer than every layer at the lowest "
                        f"swept density {ds[-1]} ({math.ceil(floor)}): sweep lower densities or raise the target")

    def kept(level: float) -> float:
        return sum(_density_at(ds, curves[n], level) * sizes[n] for n in names)

    lo, hi = 0.0, max(c[-1] for c in curves.values()) + 1.0
    for _ in range(200):  # kept() is continuous and non-increasing in the level
        mid = 0.5 * (lo + hi)
        if kept(mid) > want:
            lo = mid
        else:
            hi = mid
    level = hi
    exact = {n: _density_at(ds, curves[n], level) * sizes[n] for n in names}
    counts = {n: math.floor(x) for n, x in exact.items()}
    rest = want - sum(counts.values())
    order = sorted(names, key=lambda n: (-(exact[n] - counts[n]), names.index(n)))
    i = 0
    while rest > 0:  # largest remainder first; a layer never exceeds its size
        n = order[i % len(order)]
        if counts[n] < sizes[n]:
            counts[n] += 1
            rest -= 1
        i += 1
    while rest < 0:  # (bisection overshoot) smallest remainder gives back
        n = order[-1 - (i % len(order))]
        if counts[n] > 0:
            counts[n] -= 1
            rest += 1
        i += 1
    dens = {n: counts[n] / sizes[n] for n in names}
    loss = {n: predicted_loss(table, n, dens[n]) for n in names}
    return Allocation(target, level, dens, counts, {n: int(sizes[n]) for n in names}, loss)


def allocate_densities(table: SensitivityTable, sizes: Mapping[str, int], target: float) -> dict[str, float]:
    """The per-layer densities of :func:`allocate` (kept / weights per layer)."""
    return dict(allocate(table, sizes, target).densities)


def markdown_lines(section: Mapping[str, Any]) -> list[str]:
    """The report's Markdown for its ``sensitivity`` section (:meth:`Sensitivity.to_report`)."""
    t = section.get("table")
    if not t:
        return []
    dens = t["densities"]
    lines = [
        "",
        "## Per-layer pruning sensitivity",
        "",
        "Test accuracy with ONE layer pruned by magnitude to each density (no fine-tuning), the others dense; "
        f"no layer pruned: {100 * t['baseline']:.2f}%.",
        "",
        "| layer | weights | " + " | ".join(f"{100 * d:g}%" for d in dens) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in dens) + " |",
    ]
    for name, row in t["layers"].items():
        lines.append(f"| {name} | {row['weights']} | " + " | ".join(f"{100 * a:.2f}" for a in row["accuracy"]) + " |")
    alloc = section.get("allocation")
    if alloc:
        rep = section.get("replaced_densities")
        lines += [
            "",
            f"Densities chosen from this table for a target overall density of {100 * alloc['target_density']:g}% "
            f"(rule: {section['rule']}; common predicted loss {100 * alloc['loss_level']:.2f} pp); they "
            "replace the preset's per-layer densities"
            + (f" ({', '.join(f'{100 * d:g}%' for d in rep)})" if rep else "") + ":",
            "",
            "| layer | density | kept | predicted loss (pp) |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, d in alloc["densities"].items():
            lines.append(f"| {name} | {100 * d:.2f}% | {alloc['nonzero'][name]} "
                         f"| {100 * alloc['predicted_loss'][name]:.2f} |")
    return lines


def plot_sensitivity(section: Mapping[str, Any], path: Path) -> Path:
    """Accuracy vs density, one curve per layer (the chosen densities marked), written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = section["table"]
    alloc = section.get("allocation")
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    xs = [100 * d for d in t["densities"]]
    for name, row in t["layers"].items():
        (line,) = ax.plot(xs, [100 * a for a in row["accuracy"]], marker="o", ms=3,
                          label=f"{name} ({row['weights']} weights)")
        if alloc and name in alloc["densities"]:
            d = alloc["densities"][name]
            acc = t["baseline"] - alloc["predicted_loss"][name]
            ax.plot([100 * d], [100 * acc], marker="*", ms=12, color=line.get_color(), ls="none")
    ax.axhline(100 * t["baseline"], color="grey", lw=0.8, ls="--", label="no layer pruned")
    ax.set_xscale("log")
    ax.set_xlim(105, 0.9 * xs[-1])
    ax.set_xticks(xs, [f"{x:g}" for x in xs])
    ax.minorticks_off()
    ax.set_xlabel("weights kept in the one pruned layer (%, log scale)")
    ax.set_ylabel("test accuracy (%)")
    title = "per-layer sensitivity (one layer pruned, no fine-tuning)"
    if alloc:
        title += f"\nstars: densities chosen for {100 * alloc['target_density']:g}% overall (predicted accuracy)"
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
