"""Checks of a model at the boundary, before any arithmetic: every initializer decodes to a real,
finite numeric array of its declared size; every attribute a handler reads as a string is valid
UTF-8; every QONNX ``Quant`` has attributes of the right types. A failure is a
:class:`~fpga_flow.errors.ModelError` naming the file, the tensor or node and the problem (names
escaped); the reader then only sees well-formed data.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from fpga_flow.errors import ModelError

__all__ = ["checked_initializers", "validate_attributes"]

#: Attributes of a QONNX Quant and the one type each must have.
_QUANT_ATTRS = {"signed": onnx.AttributeProto.INT, "narrow": onnx.AttributeProto.INT,
                "rounding_mode": onnx.AttributeProto.STRING}


def _esc(s: object) -> str:
    return repr(str(s))


def checked_initializers(graph: onnx.GraphProto, source: str) -> dict[str, np.ndarray]:
    """Every initializer as a numpy array, or a ModelError saying which one is malformed."""
    out: dict[str, np.ndarray] = {}
    for t in graph.initializer:
        where = f"{source}: initializer {_esc(t.name)}"
        if t.data_type == onnx.TensorProto.UNDEFINED or t.data_type not in onnx.TensorProto.DataType.values():
            raise ModelError(f"{where}: unknown data type {t.data_type}")
        if any(d < 0 for d in t.dims):
            raise ModelError(f"{where}: negative dimension in {list(t.dims)}")
        try:
            arr = numpy_helper.to_array(t)
        except Exception as e:  # noqa: BLE001 - onnx raises ValueError/TypeError/KeyError for bad data
            raise ModelError(f"{where}: its data does not match its type and dims {list(t.dims)} "
                             f"({type(e).__name__}); re-export the model") from None
        if arr.dtype.kind == "c":
            raise ModelError(f"{where}: complex values are not supported (only real numbers)")
        if arr.dtype.kind not in "biuf":
            raise ModelError(f"{where}: {arr.dtype} data is not supported (only numbers)")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ModelError(f"{where}: holds NaN or infinity")
        out[t.name] = arr
    return out


def validate_attributes(graph: onnx.GraphProto, source: str) -> None:
    """String attributes decode as UTF-8; a ``Quant``'s attributes have their types (0/1 flags)."""
    for i, node in enumerate(graph.node):
        label = f"{source}: node {_esc(node.name or f'#{i}')} ({_esc(node.op_type)})"
        for a in node.attribute:
            if a.type == onnx.AttributeProto.STRING:
                try:
                    a.s.decode("utf-8")
                except UnicodeDecodeError:
                    raise ModelError(f"{label}: attribute {_esc(a.name)} is not valid UTF-8") from None
        if node.op_type != "Quant":
            continue
        for a in node.attribute:
            want = _QUANT_ATTRS.get(a.name)
            if want is None:
                continue
            if a.type != want:
                kind = onnx.AttributeProto.AttributeType.Name(want).lower()
                raise ModelError(f"{label}: attribute {_esc(a.name)} must be one {kind}")
            if want == onnx.AttributeProto.INT and a.i not in (0, 1):
                raise ModelError(f"{label}: attribute {_esc(a.name)} must be 0 or 1, not {a.i}")
