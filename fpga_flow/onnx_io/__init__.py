"""ONNX import (plain float and QONNX) into the IR."""

from fpga_flow.onnx_io.reader import DEFAULT_PRECISION, read_onnx

__all__ = ["DEFAULT_PRECISION", "read_onnx"]
