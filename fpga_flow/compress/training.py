"""Training and evaluation loops (plain tensors in memory, seeded, with tqdm progress bars)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from fpga_flow.compress.graphnet import Compressible, DenseModel
from fpga_flow.compress.prune import Pruner

__all__ = ["TrainSpec", "TrainStats", "evaluate", "predict", "train"]


@dataclass(frozen=True)
class TrainSpec:
    """One training phase: ``epochs`` over the data, ``optimizer`` "adam" or "sgd" (momentum 0.9),
    learning rate ``lr`` annealed by a cosine to ``lr * final_lr_fraction``.

    ``batch_size``: 128 by default (64 in the digits presets, 1437 training samples). A step's work
    is ``batch_size x`` the model's MACs per sample (128 x 0.27 M for LeNet-300-100): large enough
    that the fixed cost of a step (Python, the optimizer, thread synchronisation) stays a small
    fraction, small enough for the paper's schedules to converge in the presets' epochs. The
    progress bar and :class:`TrainStats` show the samples per second this gives.
    """

    epochs: int
    lr: float
    optimizer: str = "adam"
    batch_size: int = 128
    weight_decay: float = 0.0
    final_lr_fraction: float = 0.05


@dataclass
class TrainStats:
    """Samples trained and seconds spent, summed over the :func:`train` calls it is passed to."""

    samples: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Samples per second (0 before any training)."""
        return self.samples / self.seconds if self.seconds > 0 else 0.0

    def text(self) -> str:
        """``"12,345 samples/s"`` (empty before any training)."""
        return f"{self.rate:,.0f} samples/s" if self.samples else ""


@torch.no_grad()
def predict(model: Compressible | DenseModel, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Model outputs for ``x`` as a float64 numpy array (eval mode, no gradient)."""
    model.eval()
    outs = []
    for i in range(0, x.shape[0], batch):
        outs.append(model(torch.as_tensor(x[i : i + batch])).double().cpu().numpy())
    return np.concatenate(outs) if outs else np.zeros((0, model.n_outputs))


def evaluate(model: Compressible | DenseModel, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy on ``(x, y)``."""
    return float(np.mean(predict(model, x).argmax(axis=1) == y))


def _optimizer(params: list[torch.nn.Parameter], spec: TrainSpec) -> torch.optim.Optimizer:
    if spec.optimizer == "adam":
        return torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)
    if spec.optimizer == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=0.9, weight_decay=spec.weight_decay)
    raise ValueError(f"unknown optimizer {spec.optimizer!r}; known: adam, sgd")


def train(
    model: Compressible | DenseModel,
    x: np.ndarray,
    y: np.ndarray,
    spec: TrainSpec,
    *,
    pruner: Pruner | None = None,
    seed: int = 0,
    progress: bool = True,
    desc: str = "train",
    optimizer: torch.optim.Optimizer | None = None,
    stats: TrainStats | None = None,
) -> list[float]:
    """Train ``model.trainable_parameters()`` with cross-entropy; returns the mean loss per epoch.

    With a ``pruner``, masks are re-applied after every optimizer step (momentum included).
    ``optimizer`` (optional) continues with an existing optimizer instead of a fresh one. ``stats``
    (optional) accumulates the samples and seconds (the progress bar shows samples/s).
    """
    if spec.epochs <= 0:
        return []
    params = model.trainable_parameters()
    opt = optimizer or _optimizer(params, spec)
    for g in opt.param_groups:
        g["lr"] = spec.lr
    if pruner is not None:
        pruner.apply(opt)
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32)).to(model.dtype)
    yt = torch.as_tensor(np.asarray(y, dtype=np.int64))
    n = xt.shape[0]
    steps_per_epoch = math.ceil(n / spec.batch_size)
    total = steps_per_epoch * spec.epochs
    gen = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    step = 0
    bar = tqdm(total=n * spec.epochs, desc=desc, unit="sample", unit_scale=True, disable=not progress, leave=False,
               dynamic_ncols=True)
    t0 = time.perf_counter()
    try:
        for epoch in range(spec.epochs):
            model.train()
            perm = torch.randperm(n, generator=gen)
            run_loss = 0.0
            for i in range(0, n, spec.batch_size):
                frac = step / max(1, total - 1)
                scale = spec.final_lr_fraction + (1 - spec.final_lr_fraction) * 0.5 * (1 + math.cos(math.pi * frac))
                for g in opt.param_groups:
                    g["lr"] = spec.lr * scale
                idx = perm[i : i + spec.batch_size]
                loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if pruner is not None:
                    pruner.after_step(opt)
                run_loss += float(loss.item()) * idx.numel()
                step += 1
                bar.update(idx.numel())
            losses.append(run_loss / n)
            bar.set_postfix(epoch=f"{epoch + 1}/{spec.epochs}", loss=f"{losses[-1]:.4f}")
    finally:
        bar.close()
        if stats is not None:
            stats.samples += n * len(losses)
            stats.seconds += time.perf_counter() - t0
    return losses
