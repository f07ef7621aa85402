"""Magnitude pruning with masks that hold through fine-tuning (Han et al. 2015).

A layer's mask keeps the weights whose magnitude exceeds a threshold: ``quality * std`` of the
layer's weights (the paper's rule; the standard deviation over all entries of the weight tensor,
pruned zeros included) or the magnitude that leaves a target sparsity. Every weighted layer, conv
or linear, has its own threshold, so each keeps its own density (convolutions, with few weights
that every output reuses, are kept denser). Pruning is iterative: a
:class:`PruneStep` per round, fine-tuning in between (:func:`density_schedule`,
:func:`quality_schedule`). A pruned weight never comes back in these magnitude schedules; the
stochastic DropPruning schedule (:mod:`fpga_flow.compress.droppruning`) lets some come back, through
:meth:`Pruner.set_masks`.

Masks survive optimizer steps, momentum included, in three ways at once: the forward uses
``weight * mask`` (so pruned entries get zero gradient), :meth:`Pruner.prune` zeroes the
optimizer state (momentum buffers, Adam moments) at newly pruned positions, and
:meth:`Pruner.after_step` re-zeroes weights and state after every step (decoupled weight decay or
any other optimizer rule cannot revive them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from fpga_flow.compress.graphnet import Compressible
from fpga_flow.compress.layers import CompressibleLayer

__all__ = [
    "PruneStep",
    "Pruner",
    "density_schedule",
    "keep_largest",
    "magnitude_mask",
    "prune_steps_from",
    "quality_schedule",
    "sparsity_of",
]


@dataclass(frozen=True)
class PruneStep:
    """One pruning round: per layer name either a target ``sparsity`` or a ``quality`` factor."""

    sparsity: Mapping[str, float] | None = None
    quality: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        if (self.sparsity is None) == (self.quality is None):
            raise ValueError("a PruneStep takes exactly one of sparsity= or quality=")


def magnitude_mask(
    weight: torch.Tensor,
    *,
    sparsity: float | None = None,
    quality: float | None = None,
    current: torch.Tensor | None = None,
) -> torch.Tensor:
    """Boolean mask of the weights to keep.

    ``sparsity``: keep exactly ``round((1 - sparsity) * n)`` weights of largest magnitude (ties by
    position). ``quality``: keep ``|w| > quality * std(weight)``. Either way the result is a subset
    of ``current`` (pruned weights stay pruned).
    """
    if (sparsity is None) == (quality is None):
        raise ValueError("give exactly one of sparsity= or quality=")
    w = weight.detach()
    if sparsity is not None:
        if not 0.0 <= sparsity <= 1.0:
            raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
        mask = keep_largest(w, int(round((1.0 - sparsity) * w.numel())), current)
    else:
        assert quality is not None
        thr = float(quality) * float(w.std().item())
        mask = w.abs() > thr
    if current is not None:
        mask &= current
    return mask


def keep_largest(weight: torch.Tensor, keep: int, current: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean mask of the ``keep`` weights of largest magnitude (ties by position), within ``current``
    if given (at most all of ``current``). The ranking :func:`magnitude_mask` and DropPruning share."""
    w = weight.detach()
    mag = w.abs() if current is None else torch.where(current, w.abs(), torch.full_like(w, -1.0))
    if current is not None:
        keep = min(keep, int(current.sum().item()))
    flat = torch.zeros(w.numel(), dtype=torch.bool, device=w.device)
    if keep > 0:
        idx = torch.topk(mag.reshape(-1), keep, largest=True, sorted=False).indices
        flat[idx] = True
    return flat.reshape(w.shape)


def density_schedule(final_density: Mapping[str, float], steps: int) -> list[PruneStep]:
    """``steps`` rounds whose per-layer density falls geometrically from 1 to ``final_density``."""
    if steps < 1:
        raise ValueError("a schedule needs at least one step")
    return [
        PruneStep(sparsity={k: 1.0 - d ** ((i + 1) / steps) for k, d in final_density.items()})
        for i in range(steps)
    ]


def quality_schedule(final_quality: Mapping[str, float], steps: int) -> list[PruneStep]:
    """``steps`` rounds whose per-layer quality factor rises linearly to ``final_quality``."""
    if steps < 1:
        raise ValueError("a schedule needs at least one step")
    return [PruneStep(quality={k: q * (i + 1) / steps for k, q in final_quality.items()}) for i in range(steps)]


class Pruner:
    """Applies pruning steps to the weighted layers (conv and linear) of a :class:`CompressibleNet` and
    keeps their masks through training."""

    def __init__(self, model: Compressible) -> None:
        self.model = model

    def layers(self) -> dict[str, CompressibleLayer]:
        return {lay.name: lay for lay in self.model.layers}

    def prune(self, step: PruneStep, optimizer: torch.optim.Optimizer | None = None) -> dict[str, float]:
        """Shrink the masks by ``step``; zero pruned weights and their optimizer state.

        Returns the per-layer density after the step. Layers not named in the step are untouched.
        """
        layers = self.layers()
        targets = step.sparsity if step.sparsity is not None else step.quality
        assert targets is not None
        unknown = set(targets) - set(layers)
        if unknown:
            raise KeyError(f"unknown layer(s) {sorted(unknown)}; layers: {sorted(layers)}")
        for name, value in targets.items():
            lay = layers[name]
            kw = {"sparsity": value} if step.sparsity is not None else {"quality": value}
            lay.mask = magnitude_mask(lay.weight, current=lay.mask, **kw)
        self.apply(optimizer)
        return {name: lay.density() for name, lay in layers.items()}

    def set_masks(self, masks: Mapping[str, torch.Tensor], optimizer: torch.optim.Optimizer | None = None
                  ) -> dict[str, float]:
        """Replace the masks of the named layers (they may grow: a restored weight restarts from 0,
        its optimizer state zero); zero pruned weights and their state. Returns the per-layer density."""
        layers = self.layers()
        unknown = set(masks) - set(layers)
        if unknown:
            raise KeyError(f"unknown layer(s) {sorted(unknown)}; layers: {sorted(layers)}")
        for name, mask in masks.items():
            lay = layers[name]
            if tuple(mask.shape) != tuple(lay.mask.shape) or mask.dtype != torch.bool:
                raise ValueError(f"layer {name}: a mask must be a bool tensor of shape {tuple(lay.mask.shape)}")
            lay.mask = mask.to(lay.mask.device).clone()
        self.apply(optimizer)
        return {name: lay.density() for name, lay in layers.items()}

    @torch.no_grad()
    def apply(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Zero pruned weights (and their gradients and optimizer state)."""
        for lay in self.model.layers:
            m = lay.mask.to(lay.weight.dtype)
            lay.weight.mul_(m)
            if lay.weight.grad is not None:
                lay.weight.grad.mul_(m)
            if optimizer is not None:
                for v in optimizer.state.get(lay.weight, {}).values():
                    if isinstance(v, torch.Tensor) and v.shape == lay.weight.shape:
                        v.mul_(m)

    def after_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Call after every ``optimizer.step()``: pruned weights and their state stay exactly zero."""
        self.apply(optimizer)


def sparsity_of(model: Compressible) -> dict[str, float]:
    """Per-layer fraction of pruned weights."""
    return {lay.name: 1.0 - lay.density() for lay in model.layers}


def prune_steps_from(
    model: Compressible, densities: Sequence[float] | Mapping[str, float]
) -> dict[str, float]:
    """Per-layer densities from a sequence (in layer order) or a mapping by layer name."""
    if isinstance(densities, Mapping):
        return dict(densities)
    names = [lay.name for lay in model.layers]
    if len(densities) != len(names):
        raise ValueError(f"expected {len(names)} densities (one per layer: {names}), got {len(densities)}")
    return dict(zip(names, (float(d) for d in densities), strict=True))
