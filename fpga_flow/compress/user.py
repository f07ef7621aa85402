"""Compress the user's own ``torch.nn.Module``: :func:`compress_model` (``compress(model, train, test, config)``).

1. the data (numpy ``(x, y)``, a torch ``Dataset`` of ``(x, y)`` items or a ``DataLoader`` of
   ``(x, y)`` batches) is read into a :class:`~fpga_flow.compress.data.Dataset`;
2. the model is traced and every node checked (:func:`fpga_flow.compress.trace.trace_model`): an
   unsupported module or function is one :class:`~fpga_flow.compress.trace.UnsupportedModelError`,
   before any training;
3. **dense**: the user's module itself is trained as written (BatchNorm in training mode), unless a
   ``checkpoint`` (a state dict, or a file ``torch.save`` wrote) is given: then it is loaded and the
   dense stage is skipped;
4. the trained module is converted (:func:`fpga_flow.compress.convert.convert`: BatchNorm folded,
   ReLUs fused, a :class:`~fpga_flow.compress.graphnet.CompressibleGraph` of compressible layers);
5. the stages of the examples (:func:`fpga_flow.compress.flow.run_stages`): pruning with a per-layer
   schedule, fixed point + QAT, weight sharing, QONNX export.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from fpga_flow.compress.config import CompressConfig
from fpga_flow.compress.convert import convert
from fpga_flow.compress.data import Dataset
from fpga_flow.compress.flow import CompressResult, run_stages, set_threads, snapshot
from fpga_flow.compress.graphnet import CompressibleGraph, DenseModel
from fpga_flow.compress.trace import trace_model
from fpga_flow.compress.training import TrainStats, evaluate
from fpga_flow.compress.training import train as train_model
from fpga_flow.errors import FlowError

__all__ = ["Checkpoint", "DataSource", "compress_model", "load_checkpoint", "to_arrays"]

#: Training or test data: ``(x, y)`` arrays, a torch ``Dataset`` of ``(x, y)`` or a ``DataLoader``.
DataSource: TypeAlias = "tuple[np.ndarray, np.ndarray] | TorchDataset[Any] | DataLoader[Any]"
#: A state dict, or the path of a file holding one (``torch.save``; ``{"state_dict": ...}`` too).
Checkpoint: TypeAlias = "Mapping[str, torch.Tensor] | str | Path"


def _np(v: Any) -> np.ndarray:  # noqa: ANN401 - a tensor, an array or a number
    return v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)


def to_arrays(src: DataSource, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of ``src``: ``x`` float32 ``(N, *sample_shape)``, ``y`` int64 ``(N,)``."""
    if isinstance(src, tuple | list) and len(src) == 2 and not isinstance(src[0], tuple | list):
        x, y = _np(src[0]), _np(src[1])
    elif isinstance(src, DataLoader):
        xs, ys = [], []
        for batch in src:
            if not isinstance(batch, tuple | list) or len(batch) != 2:
                raise FlowError(f"{what}: a DataLoader must yield (x, y) batches")
            xs.append(_np(batch[0]))
            ys.append(_np(batch[1]))
        if not xs:
            raise FlowError(f"{what}: the DataLoader is empty")
        x, y = np.concatenate(xs), np.concatenate(ys)
    elif isinstance(src, TorchDataset):
        items = [src[i] for i in range(len(src))]  # type: ignore[arg-type]
        if not items or not all(isinstance(it, tuple | list) and len(it) == 2 for it in items):
            raise FlowError(f"{what}: a Dataset must hold (x, y) items")
        x = np.stack([_np(it[0]) for it in items])
        y = np.array([int(_np(it[1])) for it in items])
    else:
        raise FlowError(f"{what}: expected (x, y) numpy arrays, a torch Dataset or a DataLoader, "
                        f"got {type(src).__name__}")
    if x.ndim < 2 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise FlowError(f"{what}: x must be (N, ...) and y (N,) labels, got shapes {x.shape} and {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.array_equal(y, np.round(y)):
            raise FlowError(f"{what}: the labels y must be class indices (integers)")
    return x.astype(np.float32), y.astype(np.int64)


def load_checkpoint(checkpoint: Checkpoint) -> Mapping[str, torch.Tensor]:
    """A state dict: ``checkpoint`` itself, or read from the file (``{"state_dict": ...}`` unwrapped)."""
    if isinstance(checkpoint, str | Path):
        path = Path(checkpoint)
        if not path.is_file():
            raise FlowError(f"checkpoint {path} not found")
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - torch.load raises many kinds
            raise FlowError(f"checkpoint {path}: cannot read it with torch.load ({type(e).__name__}: {e})") from None
        if isinstance(sd, Mapping) and "state_dict" in sd and isinstance(sd["state_dict"], Mapping):
            sd = sd["state_dict"]
        if not isinstance(sd, Mapping):
            raise FlowError(f"checkpoint {path} holds a {type(sd).__name__}, not a state dict")
        return sd
    return checkpoint


def _per_layer(values: tuple[Any, ...] | Any, names: list[str], what: str) -> Any:  # noqa: ANN401
    if not isinstance(values, tuple):
        return values
    if len(values) == 1:
        return tuple(values[0] for _ in names)
    if len(values) != len(names):
        raise FlowError(f"{what} takes 1 value or {len(names)} (one per weighted layer: {', '.join(names)}), "
                        f"got {len(values)}")
    return values


def _per_layer_config(config: CompressConfig, names: list[str]) -> CompressConfig:
    """``config`` with ``final_density``, ``codebook_bits`` and ``prune_quality`` one value per layer."""
    config = replace(config, final_density=_per_layer(config.final_density, names, "final_density"),
                     codebook_bits=_per_layer(config.codebook_bits, names, "codebook_bits"))
    if config.prune_quality is not None:
        config = replace(config, prune_quality=_per_layer(config.prune_quality, names, "prune_quality"))
    return config


def compress_model(
    model: nn.Module,
    train: DataSource,
    test: DataSource,
    config: CompressConfig | None = None,
    *,
    checkpoint: Checkpoint | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> CompressResult:
    """Compress the user's ``model`` (see the module doc); export to ``out`` (``None``: in memory).

    ``config`` defaults to :meth:`CompressConfig.for_model`; its ``final_density`` and
    ``codebook_bits`` take one value for every layer or one per weighted layer (in the order of the
    converted model, ``result.model.layers``). ``model`` is trained in place by the dense stage.
    Raises :class:`~fpga_flow.compress.trace.UnsupportedModelError` (before any training) for a
    module or function the flow cannot convert. Pass the result to
    :func:`fpga_flow.verify_export.verify_and_report` for the read-back check and the report.
    """
    config = config if config is not None else CompressConfig.for_model()
    say = log or (lambda _m: None)
    torch.manual_seed(config.seed)
    t_start = time.perf_counter()
    x_tr, y_tr = to_arrays(train, "training data")
    x_te, y_te = to_arrays(test, "test data")
    shape = tuple(int(d) for d in x_tr.shape[1:])
    if tuple(x_te.shape[1:]) != shape:
        raise FlowError(f"training samples have shape {shape}, test samples {tuple(x_te.shape[1:])}")
    traced = trace_model(model, shape)  # every node checked: nothing trains before this
    layer_nodes = [n.name for n in traced.nodes if n.op in ("linear", "conv")]
    config = _per_layer_config(config, layer_nodes)
    by_name = {n.name: n for n in traced.nodes}
    n_out = math.prod(by_name[traced.output].shape)
    classes = int(max(y_tr.max(), y_te.max())) + 1
    if classes > n_out:
        raise FlowError(f"the labels name {classes} classes but the model has {n_out} outputs")
    n = x_tr.shape[0]
    data = Dataset(traced.name, x_tr.reshape(n, -1), y_tr, x_te.reshape(x_te.shape[0], -1), y_te, classes=n_out,
                   image_shape=(shape[0], shape[1], shape[2]) if len(shape) == 3 else None)
    data = data.subset(config.train_subset, config.test_subset, seed=config.seed)
    timings: dict[str, float] = {}
    acc: dict[str, float] = {}
    snaps: dict[str, dict[str, np.ndarray]] = {}
    dense = DenseModel(model, shape, n_out)
    config = set_threads(config, model, shape, dense.dtype, say)

    # 1. dense: the user's module as written, or the checkpoint --------------------------
    t0 = time.perf_counter()
    if checkpoint is not None:
        try:
            model.load_state_dict(load_checkpoint(checkpoint))
        except RuntimeError as e:
            raise FlowError(f"the checkpoint does not fit model {traced.name}: {e}") from None
        how = "from the checkpoint"
    else:
        stats = TrainStats()
        train_model(dense, data.x_train, data.y_train, config.dense, seed=config.seed, progress=progress, desc="dense",
                    stats=stats)
        how = f"trained, {stats.text()}"
    model.eval()
    acc["dense"] = evaluate(dense, data.x_test, data.y_test)
    graph: CompressibleGraph = convert(model, traced)
    snaps["dense"] = snapshot(graph)
    timings["dense"] = time.perf_counter() - t0
    say(f"dense float32 ({how}): test accuracy {acc['dense']:.4f} ({timings['dense']:.0f} s); converted: "
        f"{graph.describe()}")

    return run_stages(graph, data, config, out, progress, say, acc, snaps, timings, t_start)
