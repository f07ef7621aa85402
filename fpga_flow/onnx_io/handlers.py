"""The handlers of the ONNX dispatch table (:mod:`fpga_flow.onnx_io.registry`), one per op type."""

from __future__ import annotations

import numpy as np
import onnx

from fpga_flow.ir import Layer, QuantizeLayer, ReluLayer, ReshapeLayer
from fpga_flow.onnx_io.reader import PASS_THROUGH, Reader
from fpga_flow.onnx_io.registry import attr, onnx_handler

__all__: list[str] = []


@onnx_handler(*PASS_THROUGH)
def read_pass_through(r: Reader, node: onnx.NodeProto) -> None:
    r.alias(node.output[0], r.activation(node))


@onnx_handler("Relu")
def read_relu(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node)
    name, origin = r.new_name(node, "relu")
    out_t = src.out_type if r.quantized else r.precision
    r.add_layer(ReluLayer(name, (src.name,), src.shape, out_t, origin=origin), node.output[0])


@onnx_handler("Quant", note="QONNX, power-of-two scales")
def read_quant(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node)
    t = r.quant_type(node)
    if t == src.out_type:  # quantizing to the type the values already have: an identity
        r.alias(node.output[0], src)
        return
    name, origin = r.new_name(node, "quant")
    r.add_layer(QuantizeLayer(name, (src.name,), src.shape, t, origin=origin), node.output[0])


def _reshape(r: Reader, node: onnx.NodeProto, src: Layer, shape: tuple[int, ...]) -> None:
    if shape == src.shape:
        r.alias(node.output[0], src)
        return
    name, origin = r.new_name(node, "reshape")
    r.add_layer(ReshapeLayer(name, (src.name,), shape, src.out_type, origin=origin), node.output[0])


@onnx_handler("Flatten", note="axis=1")
def read_flatten(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node)
    if attr(node, "axis", 1) != 1:
        raise r.fail(node, "only Flatten with axis=1 (keep the batch dimension) is supported", True)
    _reshape(r, node, src, (src.size,))


@onnx_handler("Reshape", note="keeping the batch dimension")
def read_reshape(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node)
    shp = r.const(node.input[1]) if len(node.input) > 1 else None
    if shp is None:
        raise r.fail(node, "the target shape must be a constant", True)
    target = [int(v) for v in np.asarray(shp.values).ravel()]
    shape = _target_shape(target, src.shape)
    if shape is None:
        raise r.fail(node, f"cannot reshape a sample of shape {src.shape} to {target} keeping the batch dimension "
                     "first", True)
    _reshape(r, node, src, shape)


def _target_shape(target: list[int], src: tuple[int, ...]) -> tuple[int, ...] | None:
    """The per-sample shape of ONNX ``Reshape(x, target)`` for ``x`` of shape ``(batch, *src)``."""
    if len(target) < 2 or target.count(-1) > 1:
        return None
    size = int(np.prod(src))
    full = (None, *src)
    rest: list[int] = []
    for i, d in enumerate(target[1:], start=1):
        if d == 0:
            if i >= len(full):
                return None
            d = int(full[i])  # type: ignore[arg-type]
        rest.append(d)
    if target[0] not in (0, 1, -1):
        return None  # a literal batch size other than 1: unknown here
    if -1 in rest:
        known = int(np.prod([d for d in rest if d != -1]))
        if target[0] == -1 or known <= 0 or size % known:
            return None
        rest[rest.index(-1)] = size // known
    if any(d <= 0 for d in rest) or int(np.prod(rest)) != size:
        return None
    return tuple(rest)


@onnx_handler("MatMul", note="constant weight, + Add bias")
def read_matmul(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node, 0)
    w = r.const(node.input[1])
    if w is None:
        raise r.fail(node, "the second operand must be a constant weight (activation x activation "
                     "is not supported)", True)
    if w.values.ndim != 2:
        raise r.fail(node, f"weight must be 2-D (n_in, n_out), got shape {w.values.shape}", True)
    out_tensor = node.output[0]
    bias = None
    add = r.single_consumer(out_tensor)
    if add is not None and add.op_type == "Add":
        other = add.input[1] if add.input[0] == out_tensor else add.input[0]
        b = r.const(other)
        if b is not None:
            bias = (b, add)
            r.mark_consumed(add)
            out_tensor = add.output[0]
    r.make_dense(node, src, w, transposed=False, bias=bias, out_tensor=out_tensor)


@onnx_handler("Gemm", note="transA=0, alpha=beta=1")
def read_gemm(r: Reader, node: onnx.NodeProto) -> None:
    if attr(node, "transA", 0) != 0:
        raise r.fail(node, "Gemm with transA=1 is not supported", True)
    if attr(node, "alpha", 1.0) != 1.0 or attr(node, "beta", 1.0) != 1.0:
        raise r.fail(node, "Gemm with alpha or beta other than 1.0 is not supported", True)
    src = r.activation(node, 0)
    w = r.const(node.input[1])
    if w is None or w.values.ndim != 2:
        raise r.fail(node, "input B must be a constant 2-D weight", True)
    bias = r.input_bias(node, 2, "input C (bias)")
    r.make_dense(node, src, w, transposed=bool(attr(node, "transB", 0)), bias=bias, out_tensor=node.output[0])
