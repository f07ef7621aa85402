"""The Deep Compression flow end to end: dense -> pruned -> fixed point -> shared -> ONNX + report.

:func:`compress` runs, on a :class:`~fpga_flow.compress.data.Dataset`:

1. **dense**: train the float32 baseline (LeNet-300-100 by default);
2. **pruned**: iterative magnitude pruning to per-layer target densities (or quality x std
   thresholds), fine-tuning after every round with the masks held;
3. **quantized**: per-tensor fixed-point types from the observed ranges (or user-given), then
   quantization-aware fine-tuning (float64, straight-through estimator), masks still held;
4. **shared**: per-layer k-means codebooks of ``2**bits`` values over the kept weights, centroids
   fine-tuned with the summed gradients of their members;
5. **export**: QONNX (contract 2), read back with :func:`fpga_flow.onnx_io.read_onnx` and run with
   the bit-exact reference on the whole test set, which must equal the torch forward bit for bit
   (otherwise :class:`ExportMismatch`);
6. **report**: storage in dense float32, in the hardware format, Huffman-coded; accuracies;
   plots (:mod:`fpga_flow.compress.report`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from fpga_flow.compress.data import Dataset
from fpga_flow.compress.export import export_onnx
from fpga_flow.compress.kmeans import share_weights
from fpga_flow.compress.model import CompressibleMLP, lenet300
from fpga_flow.compress.prune import Pruner, PruneStep, density_schedule, prune_steps_from, quality_schedule
from fpga_flow.compress.qat import TypePolicy, quantize_model
from fpga_flow.compress.training import TrainSpec, evaluate, predict, train
from fpga_flow.errors import FlowError

__all__ = ["CompressConfig", "CompressResult", "ExportMismatch", "compress", "verify_export"]


class ExportMismatch(FlowError):
    """The exported model, read back and run by the reference, differs from the torch forward."""


@dataclass(frozen=True)
class CompressConfig:
    """Every knob of :func:`compress`. ``preset()`` gives the tuned settings per data set.

    ``final_density``: fraction of weights kept per layer (in layer order) after the last of
    ``prune_steps`` rounds (geometric schedule); or ``prune_quality`` (quality x std thresholds,
    linear schedule) instead. ``codebook_bits``: ``K = 2**bits`` shared values per layer.
    ``train_subset`` / ``test_subset`` shrink the data (``--quick``).
    """

    hidden: tuple[int, ...] = (300, 100)
    seed: int = 0
    dense: TrainSpec = TrainSpec(epochs=20, lr=1e-3)
    final_density: tuple[float, ...] = (0.07, 0.15, 0.3)
    prune_quality: tuple[float, ...] | None = None
    prune_steps: int = 5
    prune: TrainSpec = TrainSpec(epochs=5, lr=0.05, optimizer="sgd")
    types: TypePolicy = field(default_factory=TypePolicy)
    qat: TrainSpec = TrainSpec(epochs=2, lr=5e-3, optimizer="sgd")
    codebook_bits: int | tuple[int, ...] = 5
    share: TrainSpec = TrainSpec(epochs=3, lr=1e-4)
    train_subset: int | None = None
    test_subset: int | None = None
    calib_samples: int = 10000
    threads: int | None = 2
    stimulus_samples: int = 256

    @classmethod
    def preset(cls, dataset: str, quick: bool = False) -> CompressConfig:
        """Settings for ``fashion-mnist`` or ``digits``; ``quick`` trades accuracy for a short run."""
        if dataset == "digits":
            cfg = cls(
                dense=TrainSpec(epochs=40, lr=2e-3, batch_size=64),
                final_density=(0.15, 0.15, 0.4),
                prune=TrainSpec(epochs=8, lr=1e-3, batch_size=64),
                qat=TrainSpec(epochs=8, lr=2e-4, batch_size=64),
                codebook_bits=4,
                share=TrainSpec(epochs=8, lr=2e-4, batch_size=64),
                calib_samples=2000,
            )
            if quick:
                cfg = replace(
                    cfg,
                    dense=replace(cfg.dense, epochs=15),
                    prune_steps=2,
                    prune=replace(cfg.prune, epochs=3),
                    qat=replace(cfg.qat, epochs=2),
                    share=replace(cfg.share, epochs=2),
                )
            return cfg
        if dataset == "fashion-mnist":
            cfg = cls()
            if quick:
                cfg = replace(
                    cfg,
                    dense=replace(cfg.dense, epochs=3),
                    prune_steps=2,
                    prune=replace(cfg.prune, epochs=1),
                    qat=replace(cfg.qat, epochs=1),
                    share=replace(cfg.share, epochs=1),
                    train_subset=10000,
                    test_subset=2000,
                    calib_samples=2000,
                )
            return cfg
        raise FlowError(f"no preset for data set {dataset!r}")


@dataclass
class CompressResult:
    """What :func:`compress` produced: the final torch model, the report and the files written."""

    model: CompressibleMLP
    report: dict
    onnx_path: Path | None
    files: dict[str, Path]
    snapshots: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def verify_export(model: CompressibleMLP, onnx_path: str | Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Torch forward vs ``fpga-flow run``'s computation (read, lower, reference) on ``x``.

    Returns ``(torch outputs, reference outputs)`` (float64) and raises :class:`ExportMismatch`
    unless they are equal bit for bit.
    """
    from fpga_flow.pipeline import load_and_lower

    graph = load_and_lower(onnx_path)
    y_ref = graph.run_float(np.asarray(x, dtype=np.float64))
    y_torch = predict(model, x)
    if y_ref.shape != y_torch.shape or not np.array_equal(y_ref, y_torch):
        bad = int(np.sum(y_ref != y_torch)) if y_ref.shape == y_torch.shape else -1
        raise ExportMismatch(
            f"{onnx_path}: the reference run of the exported model differs from the torch forward "
            f"({bad} of {y_torch.size} outputs); this is a bug in fpga_flow.compress, please report it"
        )
    return y_torch, y_ref


def _snapshot(model: CompressibleMLP) -> dict[str, np.ndarray]:
    with torch.no_grad():
        return {lay.name: lay.effective_weight().detach().double().cpu().numpy().copy() for lay in model.layers}


def compress(
    data: Dataset,
    config: CompressConfig = CompressConfig(),
    out: str | Path | None = None,
    report_dir: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> CompressResult:
    """Run the whole flow on ``data``; export to ``out`` (ONNX) and write the report to ``report_dir``.

    Both paths are optional (``None``: nothing written, the report is still returned). ``log``
    receives one line per finished stage. Deterministic for a given ``config.seed`` and thread count.
    """
    from fpga_flow.compress.report import build_report, write_report

    say = log or (lambda _m: None)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    data = data.subset(config.train_subset, config.test_subset, seed=config.seed)
    x_tr, y_tr, x_te, y_te = data.x_train, data.y_train, data.x_test, data.y_test
    model = lenet300(data.n_features, data.classes, config.hidden)
    acc: dict[str, float] = {}
    snaps: dict[str, dict[str, np.ndarray]] = {}

    def phase(name: str, t0: float) -> None:
        timings[name] = time.perf_counter() - t0

    # 1. dense baseline ------------------------------------------------------------
    t0 = time.perf_counter()
    train(model, x_tr, y_tr, config.dense, seed=config.seed, progress=progress, desc="dense")
    acc["dense"] = evaluate(model, x_te, y_te)
    snaps["dense"] = _snapshot(model)
    phase("dense", t0)
    say(f"dense float32: test accuracy {acc['dense']:.4f} ({timings['dense']:.0f} s)")

    # 2. iterative pruning -----------------------------------------------------------
    t0 = time.perf_counter()
    pruner = Pruner(model)
    steps: list[PruneStep]
    if config.prune_quality is not None:
        steps = quality_schedule(prune_steps_from(model, config.prune_quality), config.prune_steps)
    else:
        steps = density_schedule(prune_steps_from(model, config.final_density), config.prune_steps)
    for i, step in enumerate(steps):
        pruner.prune(step)
        train(model, x_tr, y_tr, config.prune, pruner=pruner, seed=config.seed + 1 + i, progress=progress,
              desc=f"prune {i + 1}/{len(steps)}")
    acc["pruned"] = evaluate(model, x_te, y_te)
    snaps["pruned"] = _snapshot(model)
    phase("pruned", t0)
    dens = ", ".join(f"{lay.name} {lay.density():.3f}" for lay in model.layers)
    say(f"pruned ({dens}): test accuracy {acc['pruned']:.4f} ({timings['pruned']:.0f} s)")

    # 3. fixed point + QAT -----------------------------------------------------------
    t0 = time.perf_counter()
    calib = x_tr[: config.calib_samples]
    types = quantize_model(model, calib, config.types)
    acc["quantized_before_finetune"] = evaluate(model, x_te, y_te)
    train(model, x_tr, y_tr, config.qat, pruner=pruner, seed=config.seed + 100, progress=progress, desc="QAT")
    acc["quantized"] = evaluate(model, x_te, y_te)
    snaps["quantized"] = _snapshot(model)
    phase("quantized", t0)
    say(f"fixed point ({', '.join(f'{k} {v}' for k, v in types.items())}): test accuracy {acc['quantized']:.4f}")

    # 4. weight sharing --------------------------------------------------------------
    t0 = time.perf_counter()
    sizes = share_weights(model, config.codebook_bits)
    acc["shared_before_finetune"] = evaluate(model, x_te, y_te)
    train(model, x_tr, y_tr, config.share, seed=config.seed + 200, progress=progress, desc="centroids")
    acc["final"] = evaluate(model, x_te, y_te)
    snaps["shared"] = _snapshot(model)
    phase("shared", t0)
    say(f"shared ({', '.join(f'{k} K={v}' for k, v in sizes.items())}): test accuracy {acc['final']:.4f}")

    # 5. export + bit-exact check on the whole test set -----------------------------
    t0 = time.perf_counter()
    files: dict[str, Path] = {}
    tmp_dir = None
    if out is None:
        import tempfile

        tmp_dir = tempfile.TemporaryDirectory()
        onnx_path = Path(tmp_dir.name) / "model.onnx"
    else:
        onnx_path = Path(out)
    try:
        export_onnx(model, onnx_path, graph_name=model.name)
        y_torch, y_ref = verify_export(model, onnx_path, x_te)
        acc["exported_reference"] = float(np.mean(y_ref.argmax(axis=1) == y_te))
        phase("export", t0)
        say(f"exported {onnx_path if out is not None else '(not written)'}: reference == torch bit for bit "
            f"on {x_te.shape[0]} test samples")
        timings["total"] = time.perf_counter() - t_start
        report = build_report(
            model=model,
            onnx_path=onnx_path,
            data=data,
            config=config,
            accuracies=acc,
            types=types,
            timings=timings,
            bit_exact_samples=int(x_te.shape[0]),
        )
    finally:
        if tmp_dir is not None:
            tmp_dir.cleanup()
    if out is not None:
        files["onnx"] = onnx_path
        report["onnx"] = str(onnx_path)
    if report_dir is not None:
        n = min(config.stimulus_samples, x_te.shape[0])
        files.update(
            write_report(
                report,
                Path(report_dir),
                snapshots=snaps,
                codebooks={lay.name: lay.codebook().detach().cpu().numpy() for lay in model.layers},
                stimulus=(x_te[:n], y_torch[:n], y_te[:n]),
            )
        )
    return CompressResult(model, report, onnx_path if out is not None else None, files, snaps)
