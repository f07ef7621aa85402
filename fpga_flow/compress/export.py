"""Export a fixed-point :class:`~fpga_flow.compress.network.CompressibleNet` to QONNX (contract 2).

The graph, for input ``x`` float32 ``[N, *input_shape]`` (symbolic batch ``N``; ``[N, n_in]`` for an
MLP, ``[N, C, H, W]`` for a CNN), opset 13::

    x -> Quant(input type) -> per stage, in the model's order:
      linear layer:
        W  (float32 [n_in, n_out])                    -> Quant(weight type) -> MatMul
        or Gather(codebook float32 [K+1], idx int64 [n_in, n_out]) -> Quant(weight type) -> MatMul
        b  (float32 [n_out]) -> Quant(bias type) -> Add
      conv layer:
        Conv(x, W float32 [C_out, C_in/g, kh, kw] -> Quant(weight type)
                or Gather(codebook, idx int64 [C_out, C_in/g, kh, kw]) -> Quant(weight type),
             b float32 [C_out] -> Quant(bias type);
             kernel_shape, strides, pads [top, left, bottom, right], group, dilations [1, 1])
      hidden layers then: -> Relu -> Quant(activation type, unsigned)
      max pool: MaxPool(kernel_shape, strides, pads)      (after Relu -> Quant, as the torch forward)
      flatten:  Flatten(axis=1)
    the last layer ends at its Add: the output is the exact accumulator (no output Quant)

Every ``Quant`` (domain ``qonnx.custom_op.general``) takes, by position, ``x``, ``scale = 2**-F``
(float32 scalar), ``zero_point = 0`` and ``bitwidth = W``, with ``signed``, ``narrow=0`` and
``rounding_mode`` ``ROUND`` (RND_CONV + SAT) or ``FLOOR`` (TRN + SAT).
Weights, codebooks and biases are written already on their grid (float32 holds them exactly), so
their ``Quant`` is the identity; pruned weights are exactly ``0.0``, and in a shared layer the
codebook's entry 0 is ``0.0`` (the pruned weights' index).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from fpga_flow.compress.graphnet import Compressible, CompressibleGraph
from fpga_flow.compress.layers import CompressibleConv2d, CompressibleLayer, CompressibleLinear
from fpga_flow.compress.network import pool_geometry
from fpga_flow.compress.quant import quant_rounding_mode
from fpga_flow.fixed import FixedType

__all__ = ["QONNX_DOMAIN", "export_onnx"]

QONNX_DOMAIN = "qonnx.custom_op.general"


def _exact_f32(a: np.ndarray, what: str) -> np.ndarray:
    a64 = np.asarray(a, dtype=np.float64)
    a32 = a64.astype(np.float32)
    if not np.array_equal(a32.astype(np.float64), a64):
        raise ValueError(f"{what} is not exactly representable in float32 (type wider than 24 bits?)")
    return a32


def _quant(nodes: list, inits: list, src: str, dst: str, t: FixedType, tag: str) -> None:
    params = (("scale", 2.0**-t.frac), ("zeropt", 0.0), ("bitwidth", float(t.width)))
    for suffix, val in params:
        inits.append(numpy_helper.from_array(_exact_f32(np.array(val), f"{tag} {suffix}"), f"{tag}_{suffix}"))
    nodes.append(
        helper.make_node(
            "Quant",
            [src, f"{tag}_scale", f"{tag}_zeropt", f"{tag}_bitwidth"],
            [dst],
            name=f"{tag}_quant",
            domain=QONNX_DOMAIN,
            signed=int(t.signed),
            narrow=0,
            rounding_mode=quant_rounding_mode(t),
        )
    )


def _weight(nodes: list, inits: list, lay: CompressibleLayer, transpose: bool) -> str:
    """The layer's weight tensor (``Gather`` of codebook and indices when shared), through its Quant.

    ``transpose``: write the ``(n_out, n_in)`` matrix of a linear layer as MatMul's ``[n_in, n_out]``."""
    tag = lay.name
    assert lay.weight_type is not None

    def layout(a: np.ndarray) -> np.ndarray:
        return a.T.copy() if transpose else a.copy()

    if lay.shared:
        book = np.concatenate([[0.0], lay.codebook().cpu().numpy().astype(np.float64)])
        idx = layout(lay.codes.cpu().numpy().astype(np.int64))
        inits.append(numpy_helper.from_array(_exact_f32(book, f"{tag} codebook"), f"{tag}_codebook"))
        inits.append(numpy_helper.from_array(idx, f"{tag}_indices"))
        nodes.append(
            helper.make_node("Gather", [f"{tag}_codebook", f"{tag}_indices"], [f"{tag}_w"], name=f"{tag}_gather",
                             axis=0)
        )
        wsrc = f"{tag}_w"
    else:
        w = layout(lay.effective_weight().cpu().numpy().astype(np.float64))
        inits.append(numpy_helper.from_array(_exact_f32(w, f"{tag} weight"), f"{tag}_weight"))
        wsrc = f"{tag}_weight"
    _quant(nodes, inits, wsrc, f"{tag}_wq", lay.weight_type, f"{tag}_w")
    return f"{tag}_wq"


def _bias(nodes: list, inits: list, lay: CompressibleLayer) -> str:
    tag = lay.name
    assert lay.bias_type is not None
    b = lay.effective_bias().cpu().numpy().astype(np.float64)
    inits.append(numpy_helper.from_array(_exact_f32(b, f"{tag} bias"), f"{tag}_bias"))
    _quant(nodes, inits, f"{tag}_bias", f"{tag}_bq", lay.bias_type, f"{tag}_b")
    return f"{tag}_bq"


def _layer(nodes: list, inits: list, lay: CompressibleLayer, cur: str) -> str:
    """Nodes of one weighted layer reading ``cur``: MAC, then Relu and the activation Quant."""
    tag = lay.name
    if isinstance(lay, CompressibleConv2d):
        w, b = _weight(nodes, inits, lay, transpose=False), _bias(nodes, inits, lay)
        nodes.append(helper.make_node(
            "Conv", [cur, w, b], [f"{tag}_acc"], name=f"{tag}_conv", kernel_shape=list(lay.kernel),
            strides=list(lay.stride), pads=list(lay.pads), group=lay.groups, dilations=[1, 1],
        ))
    elif isinstance(lay, CompressibleLinear):
        w, b = _weight(nodes, inits, lay, transpose=True), _bias(nodes, inits, lay)
        nodes.append(helper.make_node("MatMul", [cur, w], [f"{tag}_mm"], name=f"{tag}_matmul"))
        nodes.append(helper.make_node("Add", [f"{tag}_mm", b], [f"{tag}_acc"], name=f"{tag}_add"))
    else:  # pragma: no cover - CompressibleNet admits no other weighted layer
        raise TypeError(f"layer {tag}: cannot export a {type(lay).__name__}")
    cur = f"{tag}_acc"
    if lay.relu:
        nodes.append(helper.make_node("Relu", [cur], [f"{tag}_relu"], name=f"{tag}_relu"))
        cur = f"{tag}_relu"
    if lay.act_type is not None:
        _quant(nodes, inits, cur, f"{tag}_out", lay.act_type, f"{tag}_a")
        cur = f"{tag}_out"
    return cur


def export_onnx(
    model: Compressible, path: str | Path | None = None, graph_name: str | None = None
) -> onnx.ModelProto:
    """Write ``model`` as QONNX (see the module doc); returns the checked ``ModelProto``.

    The model must be fully fixed point (``model.quantized``); shared layers are written as
    ``Gather(codebook, indices)``. ``path`` (optional) is written atomically. A
    :class:`~fpga_flow.compress.graphnet.CompressibleGraph` is written by
    :func:`fpga_flow.compress.graph_export.graph_to_onnx`.
    """
    if not model.quantized:
        raise ValueError("export needs a fixed-point model: set the input, weight, bias and activation types")
    model.check_exact()
    if isinstance(model, CompressibleGraph):
        from fpga_flow.compress.graph_export import graph_to_onnx

        return _finish(graph_to_onnx(model, graph_name or model.name), path)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    assert model.input_type is not None
    _quant(nodes, inits, "input", "input_q", model.input_type, "input")
    cur = "input_q"
    n_pool = n_flat = 0
    with torch.no_grad():
        for st in model.stages:
            if isinstance(st, CompressibleLayer):
                cur = _layer(nodes, inits, st, cur)
            elif isinstance(st, nn.MaxPool2d):
                n_pool += 1
                kernel, stride, (ph, pw) = pool_geometry(st)
                nodes.append(helper.make_node(
                    "MaxPool", [cur], [f"pool{n_pool}_out"], name=f"pool{n_pool}", kernel_shape=list(kernel),
                    strides=list(stride), pads=[ph, pw, ph, pw],
                ))
                cur = f"pool{n_pool}_out"
            elif isinstance(st, nn.Flatten):
                n_flat += 1
                tag = "flatten" if n_flat == 1 else f"flatten{n_flat}"
                nodes.append(helper.make_node("Flatten", [cur], [f"{tag}_out"], name=tag, axis=1))
                cur = f"{tag}_out"
            else:  # pragma: no cover - CompressibleNet admits no other stage
                raise TypeError(f"cannot export a {type(st).__name__} stage")
    nodes.append(helper.make_node("Identity", [cur], ["output"], name="output"))
    graph = helper.make_graph(
        nodes,
        graph_name or model.name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *model.input_shape])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", model.n_outputs])],
        initializer=inits,
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX_DOMAIN, 1)],
        producer_name="fpga-flow compress",
    )
    return _finish(proto, path)


def _finish(proto: onnx.ModelProto, path: str | Path | None) -> onnx.ModelProto:
    """Check ``proto`` and write it atomically to ``path`` (if given)."""
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        onnx.save(proto, str(tmp))
        tmp.replace(path)
    return proto
