"""QONNX export of a fixed-point :class:`~fpga_flow.compress.graphnet.CompressibleGraph` (contract 2).

The conventions of :mod:`fpga_flow.compress.export` (which calls this for a graph), node by node in
topological order, each reading its inputs' tensors: a weighted layer as there; an addition
``Add(a, b) [-> Relu] -> Quant``; a standalone ReLU ``Relu [-> Quant]`` (ReLU6); an average
``AveragePool`` (no padding) or ``GlobalAveragePool``, then ``Quant`` (the reader rounds the exact
average once, to that type); ``MaxPool``; ``Flatten(axis=1)``. The output layer ends at its
accumulator.
"""

from __future__ import annotations

import onnx
import torch
from onnx import TensorProto, helper
from torch import nn

from fpga_flow.compress.graphnet import ActNode, AddNode, AvgNode, CompressibleGraph
from fpga_flow.compress.layers import CompressibleLayer
from fpga_flow.compress.network import pool_geometry

__all__ = ["graph_to_onnx"]


def graph_to_onnx(model: CompressibleGraph, graph_name: str) -> onnx.ModelProto:
    """The unchecked ``ModelProto`` of ``model`` (``export_onnx`` checks and writes it)."""
    from fpga_flow.compress.export import QONNX_DOMAIN, _layer, _quant

    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    assert model.input_type is not None
    _quant(nodes, inits, "input", "input_q", model.input_type, "input")
    tensor = {"input": "input_q"}
    with torch.no_grad():
        for n in model.nodes:
            m = model.ops[n.name]
            ins = [tensor[i] for i in n.inputs]
            tag = n.name
            if isinstance(m, CompressibleLayer):
                cur = _layer(nodes, inits, m, ins[0])
            elif isinstance(m, AddNode | ActNode):
                cur = ins[0]
                if isinstance(m, AddNode):
                    nodes.append(helper.make_node("Add", ins, [f"{tag}_sum"], name=f"{tag}_add"))
                    cur = f"{tag}_sum"
                if isinstance(m, ActNode) or m.relu:
                    nodes.append(helper.make_node("Relu", [cur], [f"{tag}_relu"], name=f"{tag}_relu"))
                    cur = f"{tag}_relu"
                if m.act_type is not None:
                    _quant(nodes, inits, cur, f"{tag}_out", m.act_type, f"{tag}_a")
                    cur = f"{tag}_out"
            elif isinstance(m, AvgNode):
                if m.global_:
                    nodes.append(helper.make_node("GlobalAveragePool", ins, [f"{tag}_avg"], name=f"{tag}_gap"))
                else:
                    nodes.append(helper.make_node("AveragePool", ins, [f"{tag}_avg"], name=f"{tag}_avgpool",
                                                  kernel_shape=list(m.kernel), strides=list(m.stride),
                                                  pads=[0, 0, 0, 0]))
                assert m.act_type is not None
                _quant(nodes, inits, f"{tag}_avg", f"{tag}_out", m.act_type, f"{tag}_a")
                cur = f"{tag}_out"
            elif isinstance(m, nn.MaxPool2d):
                kernel, stride, (ph, pw) = pool_geometry(m)
                nodes.append(helper.make_node("MaxPool", ins, [f"{tag}_out"], name=f"{tag}_maxpool",
                                              kernel_shape=list(kernel), strides=list(stride), pads=[ph, pw, ph, pw]))
                cur = f"{tag}_out"
            elif isinstance(m, nn.Flatten):
                nodes.append(helper.make_node("Flatten", ins, [f"{tag}_out"], name=f"{tag}_flatten", axis=1))
                cur = f"{tag}_out"
            else:  # pragma: no cover - CompressibleGraph admits no other node
                raise TypeError(f"cannot export node {tag} ({type(m).__name__})")
            tensor[n.name] = cur
    nodes.append(helper.make_node("Identity", [tensor[model.nodes[-1].name]], ["output"], name="output"))
    graph = helper.make_graph(
        nodes, graph_name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *model.input_shape])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", model.n_outputs])],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX_DOMAIN, 1)],
                             producer_name="fpga-flow compress")
