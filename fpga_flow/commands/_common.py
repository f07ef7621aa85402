"""Arguments shared by commands that read a model."""

from __future__ import annotations

import argparse

from fpga_flow.passes.storage import STORAGE_KINDS


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="ONNX model (plain float or QONNX)")
    p.add_argument(
        "--precision",
        default=None,
        metavar="TYPE",
        help="type for float tensors without a Quant, e.g. 'ap_fixed<16,6>' "
        "(default for plain float models: ap_fixed<16,6>)",
    )
    p.add_argument(
        "--storage",
        default="auto",
        choices=STORAGE_KINDS,
        help="weight storage for every dense layer (default: the cheapest in bits, per layer)",
    )
