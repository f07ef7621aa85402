"""ONNX import (plain float and QONNX) into the IR: the reader core and its dispatch table."""

from fpga_flow.onnx_io import cnn_handlers as _cnn_handlers  # noqa: F401 - registers the CNN handlers
from fpga_flow.onnx_io import handlers as _handlers  # noqa: F401 - registers the handlers
from fpga_flow.onnx_io import qcdq_handlers as _qcdq_handlers  # noqa: F401 - registers QuantizeLinear & co
from fpga_flow.onnx_io.calibrate import TensorRange, observe_ranges
from fpga_flow.onnx_io.reader import CALIBRATION_MARGIN, CALIBRATION_WIDTH, DEFAULT_PRECISION, Reader, read_onnx
from fpga_flow.onnx_io.registry import ONNX_HANDLERS, onnx_handler

__all__ = [
    "CALIBRATION_MARGIN",
    "CALIBRATION_WIDTH",
    "DEFAULT_PRECISION",
    "ONNX_HANDLERS",
    "Reader",
    "TensorRange",
    "observe_ranges",
    "onnx_handler",
    "read_onnx",
]
