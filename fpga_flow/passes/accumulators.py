"""Tighten every MAC (dense or convolution) layer's accumulator to the narrowest overflow-free type.

The bound comes from the actual nonzero weights of each row (sum of their magnitudes times the
largest input magnitude, plus the bias), not from ``n_in``. Layers that output their accumulator
unchanged (no requantization) get the new type as output type too, and the ReLU, max-pool and
reshape layers that pass it through follow, so every downstream layer sees the tighter type. Values never change.
"""

from __future__ import annotations

from dataclasses import replace

from fpga_flow.fixed import FixedType
from fpga_flow.ir import Graph, Layer, MacLayer, MaxPool2dLayer, ReluLayer, ReshapeLayer, ScaleLayer
from fpga_flow.ir.accum import overflow_free_accumulator_type, scale_accumulator_type

__all__ = ["infer_accumulators"]


def infer_accumulators(graph: Graph) -> Graph:
    """Return a graph whose accumulators are the narrowest overflow-free types."""
    types: dict[str, FixedType] = {}
    renamed: dict[str, tuple[FixedType, FixedType]] = {}  # layer -> (old out type, new out type)
    layers: list[Layer] = []
    for lay in graph.layers:
        if isinstance(lay, MacLayer | ScaleLayer):
            in_type = types[lay.inputs[0]]
            if isinstance(lay, MacLayer):
                acc = overflow_free_accumulator_type(lay, in_type)
            else:
                acc = scale_accumulator_type(lay, in_type)
            passes_acc = lay.out_type == lay.acc_type
            new = replace(lay, acc_type=acc, out_type=acc if passes_acc else lay.out_type)
            if passes_acc:
                renamed[lay.name] = (lay.out_type, acc)
            lay = new
        elif isinstance(lay, ReluLayer | MaxPool2dLayer | ReshapeLayer) and lay.inputs[0] in renamed:
            old, acc = renamed[lay.inputs[0]]
            if lay.out_type == old:
                lay = replace(lay, out_type=acc)
                renamed[lay.name] = (old, acc)
        layers.append(lay)
        types[lay.name] = lay.out_type
    return graph.replace_layers(layers).verify()
