"""Arguments and output shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

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
        "--calibrate",
        default=None,
        type=Path,
        metavar="X.npy",
        help="representative float inputs: the float model runs on them and each tensor's fixed-point type "
        "is chosen from its observed range (plain float models; a QONNX model's unquantized input)",
    )
    p.add_argument(
        "--storage",
        default="auto",
        choices=STORAGE_KINDS,
        help="weight storage for every dense layer (default: the cheapest in bits, per layer)",
    )


def print_fit_verdict(fit: dict[str, Any], fits_line: str) -> None:
    """``fits_line`` when the fit report says the design fits, else its one-line message; then its warnings."""
    if fit["fits"]:
        print(f"  {fits_line}")
    else:
        print(f"  WARNING: {fit['message']}")
    for w in fit["warnings"]:
        print(f"  warning: {w}")


def parallelism_arg(text: str) -> int | None:
    """``--parallelism``: ``auto`` (None: automatic folding) or a lane count."""
    if text.strip().lower() == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of lanes or 'auto', got {text!r}") from None
