"""Export a fixed-point :class:`~fpga_flow.compress.model.CompressibleMLP` to QONNX (contract 2).

The graph, for input ``x`` float32 ``[N, n_in]`` (symbolic batch ``N``)::

    x -> Quant(input type) -> per layer:
        W  (float32 [n_in, n_out])                    -> Quant(weight type) -> MatMul
        or Gather(codebook float32 [K+1], idx int64 [n_in, n_out]) -> Quant(weight type) -> MatMul
        b  (float32 [n_out]) -> Quant(bias type) -> Add
        -> Relu -> Quant(activation type, unsigned)      (hidden layers)
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

from fpga_flow.compress.model import CompressibleMLP
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


def export_onnx(
    model: CompressibleMLP, path: str | Path | None = None, graph_name: str | None = None
) -> onnx.ModelProto:
    """Write ``model`` as QONNX (see the module doc); returns the checked ``ModelProto``.

    The model must be fully fixed point (``model.quantized``); shared layers are written as
    ``Gather(codebook, indices)``. ``path`` (optional) is written atomically.
    """
    if not model.quantized:
        raise ValueError("export needs a fixed-point model: set the input, weight, bias and activation types")
    model.check_exact()
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    assert model.input_type is not None
    _quant(nodes, inits, "input", "input_q", model.input_type, "input")
    cur = "input_q"
    with torch.no_grad():
        for lay in model.layers:
            tag = lay.name
            assert lay.weight_type is not None and lay.bias_type is not None
            if lay.shared:
                book = np.concatenate([[0.0], lay.codebook().cpu().numpy().astype(np.float64)])
                idx = lay.codes.cpu().numpy().astype(np.int64).T.copy()  # (n_in, n_out)
                inits.append(numpy_helper.from_array(_exact_f32(book, f"{tag} codebook"), f"{tag}_codebook"))
                inits.append(numpy_helper.from_array(idx, f"{tag}_indices"))
                nodes.append(
                    helper.make_node("Gather", [f"{tag}_codebook", f"{tag}_indices"], [f"{tag}_w"],
                                     name=f"{tag}_gather", axis=0)
                )
                wsrc = f"{tag}_w"
            else:
                w = lay.effective_weight().cpu().numpy().astype(np.float64).T.copy()
                inits.append(numpy_helper.from_array(_exact_f32(w, f"{tag} weight"), f"{tag}_weight"))
                wsrc = f"{tag}_weight"
            _quant(nodes, inits, wsrc, f"{tag}_wq", lay.weight_type, f"{tag}_w")
            b = lay.effective_bias().cpu().numpy().astype(np.float64)
            inits.append(numpy_helper.from_array(_exact_f32(b, f"{tag} bias"), f"{tag}_bias"))
            _quant(nodes, inits, f"{tag}_bias", f"{tag}_bq", lay.bias_type, f"{tag}_b")
            nodes.append(helper.make_node("MatMul", [cur, f"{tag}_wq"], [f"{tag}_mm"], name=f"{tag}_matmul"))
            nodes.append(helper.make_node("Add", [f"{tag}_mm", f"{tag}_bq"], [f"{tag}_acc"], name=f"{tag}_add"))
            cur = f"{tag}_acc"
            if lay.relu:
                nodes.append(helper.make_node("Relu", [cur], [f"{tag}_relu"], name=f"{tag}_relu"))
                cur = f"{tag}_relu"
            if lay.act_type is not None:
                _quant(nodes, inits, cur, f"{tag}_out", lay.act_type, f"{tag}_a")
                cur = f"{tag}_out"
    n_out = model.sizes[-1]
    nodes.append(helper.make_node("Identity", [cur], ["output"], name="output"))
    graph = helper.make_graph(
        nodes,
        graph_name or model.name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", model.sizes[0]])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", n_out])],
        initializer=inits,
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX_DOMAIN, 1)],
        producer_name="fpga-flow compress",
    )
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        onnx.save(proto, str(tmp))
        tmp.replace(path)
    return proto
