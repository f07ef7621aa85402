"""Deep Compression in PyTorch: pruning, fixed-point QAT, codebook weight sharing, Huffman, QONNX export.

The only package of fpga-flow that imports torch (hardware commands never import it). Public API:

* :func:`compress` with :class:`CompressConfig` -- the whole flow, up to the export (a
  :class:`CompressResult`), of an example on a :class:`Dataset` (:func:`load_dataset`,
  :func:`load_fashion_mnist`, :func:`load_digits`), or ``compress(model, train, test, config)`` of
  the user's own ``torch.nn.Module`` (:func:`compress_model`; traced and checked first by
  :func:`trace_model`, :class:`UnsupportedModelError`; converted into a :class:`CompressibleGraph`);
* the model: :class:`CompressibleNet` (conv / max-pool / flatten / linear stages),
  :class:`CompressibleMLP`, the weighted layers :class:`CompressibleLinear` and
  :class:`CompressibleConv2d` (common API :class:`CompressibleLayer`), the examples :func:`lenet300`
  and :func:`lenet5` (:func:`build_model`, :data:`EXAMPLES`);
* pruning: :class:`Pruner`, :class:`PruneStep`, :func:`magnitude_mask`, :func:`density_schedule`,
  :func:`quality_schedule`; per-layer sensitivity and densities chosen from it: :class:`Sensitivity`,
  :func:`layer_sensitivity`, :func:`allocate_densities`;
* threads: :func:`choose_threads` (``CompressConfig.threads="auto"``);
* fixed point: :func:`fake_quant`, :func:`choose_type`, :class:`TypePolicy`, :func:`quantize_model`;
* weight sharing: :func:`kmeans_1d`, :func:`project_codebook`, :func:`share_weights`;
* Huffman: :func:`huffman_code`, :func:`encode`, :func:`decode`, :func:`relative_columns`,
  :func:`absolute_columns`;
* export: :func:`export_onnx`; training: :class:`TrainSpec`, :func:`train`, :func:`evaluate`.

The check that the export, read back and run by the bit-exact reference, equals the torch forward
is not here (this package imports neither the ONNX reader nor the pipeline): it is
:func:`fpga_flow.verify_export.verify_and_report`, which also writes the compression report.

Names are imported lazily, so ``fpga_flow.compress.huffman`` and ``fpga_flow.compress.data`` work
without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "compress": "flow",
    "compress_model": "user",
    "CompressibleGraph": "graphnet",
    "UnsupportedModelError": "trace",
    "trace_model": "trace",
    "CompressConfig": "config",
    "CompressResult": "flow",
    "EXAMPLES": "config",
    "build_model": "config",
    "Dataset": "data",
    "load_dataset": "data",
    "load_digits": "data",
    "load_fashion_mnist": "data",
    "CompressibleConv2d": "layers",
    "CompressibleLayer": "layers",
    "CompressibleLinear": "layers",
    "CompressibleNet": "network",
    "CompressibleMLP": "model",
    "lenet300": "model",
    "lenet5": "model",
    "Pruner": "prune",
    "PruneStep": "prune",
    "magnitude_mask": "prune",
    "density_schedule": "prune",
    "quality_schedule": "prune",
    "Sensitivity": "sensitivity",
    "SensitivityTable": "sensitivity",
    "layer_sensitivity": "sensitivity",
    "allocate_densities": "sensitivity",
    "choose_threads": "threads",
    "fake_quant": "quant",
    "choose_type": "quant",
    "TypePolicy": "qat",
    "quantize_model": "qat",
    "kmeans_1d": "kmeans",
    "project_codebook": "kmeans",
    "share_weights": "kmeans",
    "huffman_code": "huffman",
    "encode": "huffman",
    "decode": "huffman",
    "relative_columns": "huffman",
    "absolute_columns": "huffman",
    "export_onnx": "export",
    "TrainSpec": "training",
    "train": "training",
    "evaluate": "training",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"fpga_flow.compress.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'fpga_flow.compress' has no attribute {name!r}")
