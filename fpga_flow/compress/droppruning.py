"""DropPruning: stochastic iterative pruning with drop-away and drop-back (Jia et al. 2018, arXiv 1812.02035).

The paper ("DropPruning for Model Compression", Jia, Xiang, Fan, Huang, Sun, Meng, He, Chen; v2
"Stochastic Model Pruning via Weight Dropping Away and Back") keeps the iterative prune-retrain
procedure of Han et al. and adds a *drop* strategy to every pruning step: **drop away** (v1: "drop
out") stochastically deletes some unimportant weights, against the *local importance judgment* of
deterministic magnitude pruning; **drop back** (v1: "drop in") stochastically recovers some pruned
weights, against the *irretrievable pruning process*. Suitable drop probabilities make the model
shrink during the process and "flow" to the target sparsity. That much is the paper's abstract;
its method section (the exact candidate set and probabilities) could not be read here (no internet,
and the stored copies of the paper stop after the introduction), so the rule below is **assumed**
from that description and the parameters are named after the paper's two operations.

One round ``t`` of ``T`` per weighted layer (``n`` weights, mask ``M`` of ``kept`` weights, target
``k_t = round(d_t * n)`` from the same geometric density schedule as
:func:`~fpga_flow.compress.prune.density_schedule`, final target ``k_T``):

1. **drop back** (rounds ``t < T``): every weight pruned in an earlier round comes back with
   probability ``drop_back`` (value 0 and optimizer state 0: the fine-tuning decides whether it
   grows; it competes again in the next round). ``B`` weights come back.
2. **drop away**: ``r = kept + B - k_t`` weights must go for the round to meet the schedule. The
   candidates are the ``min(kept, ceil(r / drop_away))`` kept weights of smallest magnitude (the
   restored ones excluded); each candidate is dropped with probability ``drop_away``, so on average
   ``r`` go and which ones is random. Rounds ``t < T`` never go below ``k_T`` (excess drops of the
   largest dropped candidates are undone); the last round takes exactly ``r``: excess drops are
   undone from the largest, missing ones taken from the smallest remaining weights. So every layer
   ends at exactly the schedule's final count, the same as magnitude pruning (comparisons are at
   equal density), and the masks of the last fine-tuning round are fixed.

Fine-tuning follows every round with the masks held (:class:`~fpga_flow.compress.prune.Pruner`).
With ``drop_away = 1`` and ``drop_back = 0`` a round is exactly magnitude pruning to ``k_t``: the
same masks as the magnitude density schedule. Random draws come from one ``torch.Generator`` seeded
with ``seed``, layers in model order: the same seed, weights and schedule give the same masks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from fpga_flow.compress.prune import Pruner, density_schedule, keep_largest

__all__ = ["DropPruner", "DropPruning", "DropRound", "drop_round_mask"]


@dataclass(frozen=True)
class DropPruning:
    """DropPruning's parameters: ``drop_away``, the probability that a candidate (a low-magnitude kept
    weight) is dropped in a round (the candidate set is ``1 / drop_away`` times the weights the
    round must remove); ``drop_back``, the probability that an already pruned weight comes back."""

    drop_away: float = 0.5
    drop_back: float = 0.01

    def __post_init__(self) -> None:
        if not 0.0 < self.drop_away <= 1.0:
            raise ValueError(f"drop_away must be in (0, 1], got {self.drop_away}")
        if not 0.0 <= self.drop_back < 1.0:
            raise ValueError(f"drop_back must be in [0, 1), got {self.drop_back}")


@dataclass(frozen=True)
class DropRound:
    """What one round did to one layer: weights that came back, candidates, dropped, kept after."""

    restored: int
    candidates: int
    dropped: int
    kept: int


def _undo_largest(weight: torch.Tensor, dropped: torch.Tensor, excess: int) -> torch.Tensor:
    """``dropped`` without its ``excess`` members of largest magnitude."""
    if excess <= 0:
        return dropped
    return dropped & ~keep_largest(weight, excess, dropped)


def drop_round_mask(
    weight: torch.Tensor,
    current: torch.Tensor,
    keep: int,
    floor: int,
    params: DropPruning,
    generator: torch.Generator,
    *,
    final: bool,
) -> tuple[torch.Tensor, DropRound]:
    """One DropPruning round on one layer (see the module doc): the new mask and what it did.

    ``current``: the mask before the round; ``keep``: the round's target count; ``floor``: the final
    target (no round goes below it); ``final``: the last round (no drop back, exactly ``keep`` kept).
    """
    kept = int(current.sum().item())
    shape = weight.shape
    restored = torch.zeros(shape, dtype=torch.bool, device=current.device)
    if not final and params.drop_back > 0.0:
        draw = torch.rand(shape, generator=generator).to(current.device)
        restored = ~current & (draw < params.drop_back)
    n_back = int(restored.sum().item())
    need = kept + n_back - keep  # n_back is 0 in the final round
    dropped = torch.zeros(shape, dtype=torch.bool, device=current.device)
    n_cand = 0
    if need > 0:
        n_cand = min(kept, math.ceil(need / params.drop_away - 1e-9))
        candidates = current & ~keep_largest(weight, kept - n_cand, current)
        draw = torch.rand(shape, generator=generator).to(current.device)
        dropped = candidates & (draw < params.drop_away)
        limit = need if final else kept + n_back - floor
        dropped = _undo_largest(weight, dropped, int(dropped.sum().item()) - limit)
        if final:  # exactly ``need``: the missing ones are the smallest of the rest
            missing = need - int(dropped.sum().item())
            if missing > 0:
                rest = current & ~dropped
                dropped |= rest & ~keep_largest(weight, int(rest.sum().item()) - missing, rest)
    mask = (current & ~dropped) | restored
    stats = DropRound(n_back, n_cand, int(dropped.sum().item()), int(mask.sum().item()))
    return mask, stats


class DropPruner:
    """DropPruning rounds over the weighted layers a :class:`~fpga_flow.compress.prune.Pruner` holds.

    ``final_density``: per layer name the fraction kept after the last of ``steps`` rounds (the
    geometric schedule of :func:`~fpga_flow.compress.prune.density_schedule`). Call :meth:`step` once
    per round, fine-tune with ``train(..., pruner=drop_pruner.pruner)`` in between.
    """

    def __init__(
        self,
        pruner: Pruner,
        final_density: Mapping[str, float],
        steps: int,
        params: DropPruning | None = None,
        seed: int = 0,
    ) -> None:
        layers = pruner.layers()
        unknown = set(final_density) - set(layers)
        if unknown:
            raise KeyError(f"unknown layer(s) {sorted(unknown)}; layers: {sorted(layers)}")
        for name, d in final_density.items():
            if not 0.0 <= d <= 1.0:
                raise ValueError(f"layer {name}: density must be in [0, 1], got {d}")
        self.pruner = pruner
        self.params = params if params is not None else DropPruning()
        self.schedule = density_schedule(final_density, steps)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.done = 0
        self.history: list[dict[str, DropRound]] = []

    @property
    def steps(self) -> int:
        return len(self.schedule)

    def _keep(self, name: str, index: int) -> int:
        sparsity = self.schedule[index].sparsity
        assert sparsity is not None
        n = self.pruner.layers()[name].mask.numel()
        return int(round((1.0 - sparsity[name]) * n))  # the count magnitude_mask keeps

    def step(self, optimizer: torch.optim.Optimizer | None = None) -> dict[str, float]:
        """The next round on every scheduled layer; returns the per-layer density after it."""
        if self.done >= self.steps:
            raise RuntimeError(f"all {self.steps} DropPruning rounds are done")
        i, last = self.done, self.steps - 1
        sparsity = self.schedule[i].sparsity
        assert sparsity is not None
        masks: dict[str, torch.Tensor] = {}
        record: dict[str, DropRound] = {}
        with torch.no_grad():
            for lay in self.pruner.model.layers:  # model order: the draws are reproducible
                if lay.name not in sparsity:
                    continue
                masks[lay.name], record[lay.name] = drop_round_mask(
                    lay.weight, lay.mask, self._keep(lay.name, i), self._keep(lay.name, last),
                    self.params, self.generator, final=i == last,
                )
        self.done += 1
        self.history.append(record)
        return self.pruner.set_masks(masks, optimizer)
