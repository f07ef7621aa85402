"""The Deep Compression flow end to end: dense -> pruned -> fixed point -> shared -> ONNX + report.

:func:`compress` runs, on a :class:`~fpga_flow.compress.data.Dataset` (:func:`compress_example`), or on the
user's own ``torch.nn.Module`` (``compress(model, train, test, config)``,
:func:`fpga_flow.compress.user.compress_model`: traced, checked, trained as written or loaded from a
checkpoint, then converted into a :class:`~fpga_flow.compress.graphnet.CompressibleGraph`; stages
2-5 are the same, :func:`run_stages`):

1. **dense**: train the float32 baseline (``config.example``: LeNet-300-100 by default, or LeNet-5);
   then, with ``config.sensitivity``, the per-layer sensitivity sweep
   (:mod:`fpga_flow.compress.sensitivity`: one layer pruned at a time, no fine-tuning), which with a
   target density chooses the per-layer densities of stage 2;
2. **pruned**: iterative magnitude pruning of every weighted layer (conv and linear) to per-layer
   target densities (or quality x std thresholds), or DropPruning (``config.pruning == "drop"``) to
   the same densities, fine-tuning after every round with the masks held;
3. **quantized**: per-tensor fixed-point types from the observed ranges (or user-given), then
   quantization-aware fine-tuning (float64, straight-through estimator), masks still held;
4. **shared**: per-layer k-means codebooks of ``2**bits`` values over the kept weights (by default
   8 bits for convolutions and 5 for linear layers, as Han et al.), centroids
   fine-tuned with the summed gradients of their members;
5. **export**: QONNX (contract 2), and the torch forward of the whole test set that the export
   must reproduce.

:func:`compress` stops there: this package knows no ONNX reader and no pipeline. The read-back
check (the exported file, read and run by the bit-exact reference, equals the torch forward bit for
bit) and the report that depends on it (storage in dense float32, in the hardware format,
Huffman-coded; accuracies; plots, :mod:`fpga_flow.compress.report`) are
:func:`fpga_flow.verify_export.verify_and_report`, which ``fpga-flow compress`` runs next.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import onnx
import torch
from torch import nn

from fpga_flow.compress.config import EXAMPLES, CompressConfig, build_model
from fpga_flow.compress.data import Dataset
from fpga_flow.compress.droppruning import DropPruner
from fpga_flow.compress.export import export_onnx
from fpga_flow.compress.graphnet import Compressible
from fpga_flow.compress.kmeans import share_weights
from fpga_flow.compress.prune import Pruner, density_schedule, prune_steps_from, quality_schedule
from fpga_flow.compress.qat import quantize_model
from fpga_flow.compress.sensitivity import Sensitivity, allocate, layer_sensitivity
from fpga_flow.compress.threads import choose_threads, macs_per_sample
from fpga_flow.compress.training import TrainStats, evaluate, predict, train
from fpga_flow.errors import FlowError
from fpga_flow.fixed import FixedType

if TYPE_CHECKING:
    from fpga_flow.compress.user import Checkpoint, DataSource

__all__ = ["EXAMPLES", "CompressConfig", "CompressResult", "build_model", "compress", "compress_example", "run_stages",
           "sensitivity_stage", "set_threads", "snapshot"]


@dataclass
class CompressResult:
    """What :func:`compress` produced: the final torch model, its export, and what the read-back
    check and the report need (:func:`fpga_flow.verify_export.verify_and_report` fills ``report``
    and ``files``)."""

    model: Compressible
    proto: onnx.ModelProto  # the exported QONNX model
    onnx_path: Path | None  # where it was written (None: not written)
    data: Dataset  # the data the flow ran on (after train_subset / test_subset)
    config: CompressConfig
    accuracies: dict[str, float]
    types: dict[str, FixedType]
    timings: dict[str, float]  # seconds per stage, and "total"
    y_test: np.ndarray  # torch forward (float64) of data.x_test: what the export must reproduce
    snapshots: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    codebooks: dict[str, np.ndarray] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def sensitivity(self) -> Sensitivity | None:
        """The sensitivity sweep (table, and the allocation when a target density was given), if run."""
        return self.config.sensitivity

    def stimulus(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first ``n`` test samples (default ``config.stimulus_samples``): float32 inputs shaped
        as the exported model's input (``(n, C, H, W)`` for a CNN, ``(n, features)`` for an MLP), the
        expected float64 outputs (``fpga-flow run`` reproduces them exactly) and the labels."""
        n = min(self.config.stimulus_samples if n is None else n, self.data.x_test.shape[0])
        x = self.data.x_test[:n].reshape(n, *self.model.input_shape)
        return x, self.y_test[:n], self.data.y_test[:n]


def set_threads(config: CompressConfig, model: nn.Module, input_shape: tuple[int, ...], dtype: torch.dtype,
                say: Callable[[str], None]) -> CompressConfig:
    """Choose and set torch's thread count for ``config.threads`` (``"auto"``: from the free cores and
    ``model``'s MACs per sample, :func:`fpga_flow.compress.threads.choose_threads`); ``config`` with
    the count used."""
    macs = macs_per_sample(model, input_shape, dtype) if config.threads == "auto" else None
    choice = choose_threads(config.threads, macs)
    torch.set_num_threads(choice.threads)
    say(f"torch threads: {choice.threads} ({choice.reason})")
    return replace(config, threads=choice.threads)


def sensitivity_stage(model: Compressible, data: Dataset, config: CompressConfig, say: Callable[[str], None],
                      timings: dict[str, float]) -> CompressConfig:
    """With ``config.sensitivity``: the per-layer sweep on the dense ``model`` (test accuracy), and
    with a target density the allocation; ``config`` with the table (and the chosen
    ``final_density``, the replaced densities recorded). Without: ``config`` unchanged."""
    spec = config.sensitivity
    if spec is None:
        return config
    t0 = time.perf_counter()
    table = layer_sensitivity(model, None, lambda: evaluate(model, data.x_test, data.y_test), spec.densities)
    timings["sensitivity"] = time.perf_counter() - t0
    worst = ", ".join(f"{n} {100 * a[-1]:.1f}%" for n, a in table.accuracy.items())
    say(f"sensitivity: {len(table.layers)} layers x {len(table.densities)} densities "
        f"({timings['sensitivity']:.0f} s); accuracy at {100 * table.densities[-1]:g}% kept: {worst}")
    if spec.target_density is None:
        return replace(config, sensitivity=replace(spec, table=table))
    if config.prune_quality is not None:
        raise FlowError("a sensitivity target density chooses per-layer densities: give it without prune_quality")
    names = [lay.name for lay in model.layers]
    sizes = {lay.name: int(lay.weight.numel()) for lay in model.layers}
    alloc = allocate(table, sizes, spec.target_density)
    replaced = tuple(config.final_density)
    say(f"sensitivity: target {100 * spec.target_density:g}% overall -> "
        + ", ".join(f"{n} {100 * alloc.densities[n]:.2f}%" for n in names)
        + f" (equal predicted loss {100 * alloc.loss_level:.2f} pp; replaces "
        + ", ".join(f"{100 * d:g}%" for d in replaced) + ")")
    return replace(config, final_density=tuple(alloc.densities[n] for n in names),
                   sensitivity=replace(spec, table=table, allocation=alloc, replaced=replaced))


def _took(seconds: float, stats: TrainStats) -> str:
    """``"12 s, 34,567 samples/s"`` for a stage's log line (the rate of its training)."""
    return f"{seconds:.0f} s, {stats.text()}" if stats.samples else f"{seconds:.0f} s"


def snapshot(model: Compressible) -> dict[str, np.ndarray]:
    with torch.no_grad():
        return {lay.name: lay.effective_weight().detach().double().cpu().numpy().copy() for lay in model.layers}


@overload
def compress(
    data: Dataset,
    config: CompressConfig | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> CompressResult: ...


@overload
def compress(
    data: nn.Module,
    train: DataSource,
    test: DataSource,
    config: CompressConfig | None = None,
    *,
    checkpoint: Checkpoint | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> CompressResult: ...


def compress(data: Dataset | nn.Module, *args: Any, **kwargs: Any) -> CompressResult:
    """Compress an example network on a :class:`Dataset`, or the user's own ``torch.nn.Module``.

    * ``compress(data, config=None, out=None, progress=True, log=None)``: the example of
      ``config.example`` (LeNet-300-100 or LeNet-5), see :func:`compress_example`;
    * ``compress(model, train, test, config=None, *, checkpoint=None, out=None, progress=True,
      log=None)``: the user's model on ``train``/``test`` (``(x, y)`` numpy arrays, a torch
      ``Dataset`` or ``DataLoader``), see :func:`fpga_flow.compress.user.compress_model`.
    """
    if isinstance(data, nn.Module):
        from fpga_flow.compress.user import compress_model

        return compress_model(data, *args, **kwargs)
    return compress_example(data, *args, **kwargs)


def compress_example(
    data: Dataset,
    config: CompressConfig | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> CompressResult:
    """Train, prune, quantize and share on ``data``, then export to ``out`` (ONNX; ``None``: kept in memory).

    ``config`` defaults to ``CompressConfig()`` (LeNet-300-100 for Fashion-MNIST). ``log`` receives
    one line per finished stage. Deterministic for a given ``config.seed`` and thread count. The
    result is not yet checked: pass it to :func:`fpga_flow.verify_export.verify_and_report` (the
    read-back check and the report).
    """
    config = config if config is not None else CompressConfig()
    say = log or (lambda _m: None)
    torch.manual_seed(config.seed)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    data = data.subset(config.train_subset, config.test_subset, seed=config.seed)
    x_tr, y_tr, x_te, y_te = data.x_train, data.y_train, data.x_test, data.y_test
    model = build_model(config, data)
    config = set_threads(config, model, model.input_shape, model.dtype, say)
    acc: dict[str, float] = {}
    snaps: dict[str, dict[str, np.ndarray]] = {}

    def phase(name: str, t0: float) -> None:
        timings[name] = time.perf_counter() - t0

    # 1. dense baseline ------------------------------------------------------------
    t0 = time.perf_counter()
    stats = TrainStats()
    train(model, x_tr, y_tr, config.dense, seed=config.seed, progress=progress, desc="dense", stats=stats)
    acc["dense"] = evaluate(model, x_te, y_te)
    snaps["dense"] = snapshot(model)
    phase("dense", t0)
    say(f"dense float32: test accuracy {acc['dense']:.4f} ({_took(timings['dense'], stats)})")
    return run_stages(model, data, config, out, progress, say, acc, snaps, timings, t_start)


def run_stages(
    model: Compressible,
    data: Dataset,
    config: CompressConfig,
    out: str | Path | None,
    progress: bool,
    say: Callable[[str], None],
    acc: dict[str, float],
    snaps: dict[str, dict[str, np.ndarray]],
    timings: dict[str, float],
    t_start: float,
) -> CompressResult:
    """Stages 2-5 (prune, fixed point + QAT, sharing, export) on a dense-trained ``model``, after the
    sensitivity sweep if ``config.sensitivity`` (:func:`sensitivity_stage`); ``acc``, ``snaps`` and
    ``timings`` hold what the dense stage recorded."""
    x_tr, y_tr, x_te, y_te = data.x_train, data.y_train, data.x_test, data.y_test
    config = sensitivity_stage(model, data, config, say, timings)

    def phase(name: str, t0: float) -> None:
        timings[name] = time.perf_counter() - t0

    # 2. iterative pruning -----------------------------------------------------------
    t0 = time.perf_counter()
    pruner = Pruner(model)
    rounds: list[Callable[[], object]]
    if config.pruning == "drop":
        drop = DropPruner(pruner, prune_steps_from(model, config.final_density), config.prune_steps, config.drop,
                          seed=config.seed)
        rounds = [drop.step] * drop.steps
    elif config.prune_quality is not None:
        steps = quality_schedule(prune_steps_from(model, config.prune_quality), config.prune_steps)
        rounds = [partial(pruner.prune, s) for s in steps]
    else:
        steps = density_schedule(prune_steps_from(model, config.final_density), config.prune_steps)
        rounds = [partial(pruner.prune, s) for s in steps]
    stats = TrainStats()
    for i, prune_round in enumerate(rounds):
        prune_round()
        train(model, x_tr, y_tr, config.prune, pruner=pruner, seed=config.seed + 1 + i, progress=progress,
              desc=f"prune {i + 1}/{len(rounds)}", stats=stats)
    acc["pruned"] = evaluate(model, x_te, y_te)
    snaps["pruned"] = snapshot(model)
    phase("pruned", t0)
    dens = ", ".join(f"{lay.name} {lay.density():.3f}" for lay in model.layers)
    say(f"pruned, {config.pruning} schedule ({dens}): test accuracy {acc['pruned']:.4f} "
        f"({_took(timings['pruned'], stats)})")

    # 3. fixed point + QAT -----------------------------------------------------------
    t0 = time.perf_counter()
    calib = x_tr[: config.calib_samples]
    types = quantize_model(model, calib, config.types)
    acc["quantized_before_finetune"] = evaluate(model, x_te, y_te)
    stats = TrainStats()
    train(model, x_tr, y_tr, config.qat, pruner=pruner, seed=config.seed + 100, progress=progress, desc="QAT",
          stats=stats)
    acc["quantized"] = evaluate(model, x_te, y_te)
    snaps["quantized"] = snapshot(model)
    phase("quantized", t0)
    say(f"fixed point ({', '.join(f'{k} {v}' for k, v in types.items())}): test accuracy {acc['quantized']:.4f} "
        f"({_took(timings['quantized'], stats)})")

    # 4. weight sharing --------------------------------------------------------------
    t0 = time.perf_counter()
    sizes = share_weights(model, config.codebook_bits)
    acc["shared_before_finetune"] = evaluate(model, x_te, y_te)
    stats = TrainStats()
    train(model, x_tr, y_tr, config.share, seed=config.seed + 200, progress=progress, desc="centroids", stats=stats)
    acc["final"] = evaluate(model, x_te, y_te)
    snaps["shared"] = snapshot(model)
    phase("shared", t0)
    say(f"shared ({', '.join(f'{k} K={v}' for k, v in sizes.items())}): test accuracy {acc['final']:.4f} "
        f"({_took(timings['shared'], stats)})")

    # 5. export, and the torch outputs on the whole test set the export must reproduce --------
    t0 = time.perf_counter()
    onnx_path = Path(out) if out is not None else None
    proto = export_onnx(model, onnx_path, graph_name=model.name)
    y_test = predict(model, x_te)
    phase("export", t0)
    timings["total"] = time.perf_counter() - t_start
    codebooks = {lay.name: lay.codebook().detach().cpu().numpy() for lay in model.layers}
    return CompressResult(model, proto, onnx_path, data, config, acc, types, timings, y_test, snaps, codebooks)
