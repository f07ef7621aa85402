"""``fpga-flow run MODEL.onnx --input X.npy --output Y.npy``: the bit-exact fixed-point reference."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fpga_flow.commands._common import add_model_arguments
from fpga_flow.inputs import check_output_path, load_input, save_output
from fpga_flow.pipeline import LowerOptions, load_and_lower


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument("--input", required=True, type=Path,
                   help="float array as .npy: (N, features), or (N, C, H, W) for a convolutional model")
    p.add_argument("--output", required=True, type=Path, help="where to write the outputs (.npy, float64)")


def run(args: argparse.Namespace) -> int:
    check_output_path(args.output)
    graph = load_and_lower(args.model, args.precision, LowerOptions(storage=args.storage), args.calibrate)
    x = load_input(args.input, graph.inputs[0].size)
    y = graph.run_float(x)
    out = graph.output_layers[0]
    save_output(args.output, np.asarray(y, dtype=np.float64))
    print(f"{x.shape[0]} samples -> {args.output} ({y.shape[1]} outputs each, type {out.out_type})")
    return 0
