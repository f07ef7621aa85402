"""The ONNX dispatch table: op type -> the handler that turns a node into IR layers.

A handler is ``handler(reader, node) -> None``: it reads the node's inputs through the
:class:`~fpga_flow.onnx_io.reader.Reader` (``reader.activation(node)``, ``reader.const(name)``), adds
layers with ``reader.add_layer(layer, out_tensor)`` or maps its output to an existing layer with
``reader.alias(tensor, layer)``, and raises ``reader.fail(node, "...", unsupported=True)`` for what it
cannot read. Register one with :func:`onnx_handler`. Custom-domain ops (QONNX ``Quant``) are keyed by
their op type; the reader checks the domain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import onnx

if TYPE_CHECKING:
    from fpga_flow.onnx_io.reader import Reader

__all__ = ["ONNX_HANDLERS", "Handler", "attr", "onnx_handler", "supported_ops"]

Handler = Callable[["Reader", onnx.NodeProto], None]

#: op type -> handler. Extend it with :func:`onnx_handler`.
ONNX_HANDLERS: dict[str, Handler] = {}

#: What each op type's handler accepts, for error messages (op type -> short note).
NOTES: dict[str, str] = {}

H = TypeVar("H", bound=Handler)


def onnx_handler(*op_types: str, note: str = "") -> Callable[[H], H]:
    """Decorator: ``handler`` reads nodes of ``op_types`` (one handler per op type)."""

    def deco(fn: H) -> H:
        for op in op_types:
            if op in ONNX_HANDLERS and ONNX_HANDLERS[op] is not fn:
                raise ValueError(f"ONNX op type {op!r} already has a handler")
            ONNX_HANDLERS[op] = fn
            if note:
                NOTES[op] = note
        return fn

    return deco


def supported_ops() -> str:
    """The op types with a handler, for error messages."""
    return ", ".join(f"{op} ({NOTES[op]})" if op in NOTES else op for op in sorted(ONNX_HANDLERS))


def attr(node: onnx.NodeProto, name: str, default: Any) -> Any:  # noqa: ANN401 - ONNX attributes are any type
    """Attribute ``name`` of ``node`` (bytes decoded to str), or ``default``."""
    for a in node.attribute:
        if a.name == name:
            v = onnx.helper.get_attribute_value(a)
            return v.decode() if isinstance(v, bytes) else v
    return default
