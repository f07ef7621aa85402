"""``fpga-flow run MODEL.onnx --input X.npy --output Y.npy``: the bit-exact fixed-point reference."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fpga_flow.commands._common import add_model_arguments
from fpga_flow.errors import FlowError
from fpga_flow.pipeline import LowerOptions, load_and_lower


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument("--input", required=True, type=Path, help="float array (N x features) as .npy")
    p.add_argument("--output", required=True, type=Path, help="where to write the outputs (.npy, float64)")


def load_input(path: Path, n_features: int) -> np.ndarray:
    """A float (N, n_features) array from ``path`` with a clear error otherwise."""
    if not path.is_file():
        raise FlowError(f"{path}: no such file")
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - numpy raises several kinds
        raise FlowError(f"{path}: not a readable .npy file ({e})") from None
    if x.dtype.kind not in "fiub":
        raise FlowError(f"{path}: expected a numeric array, got dtype {x.dtype}")
    if x.ndim == 1 and x.size == n_features:
        x = x.reshape(1, -1)
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != n_features:
        raise FlowError(f"{path}: expected shape (N, {n_features}), got {x.shape}")
    x = x.reshape(x.shape[0], -1).astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise FlowError(f"{path}: the input contains NaN or infinity")
    return x


def run(args: argparse.Namespace) -> int:
    graph = load_and_lower(args.model, args.precision, LowerOptions(storage=args.storage))
    x = load_input(args.input, graph.inputs[0].size)
    y = graph.run_float(x)
    out = graph.output_layers[0]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".tmp.npy")
    np.save(tmp, y)
    tmp.replace(args.output)
    print(f"{x.shape[0]} samples -> {args.output} ({y.shape[1]} outputs each, type {out.out_type.cpp()})")
    return 0
