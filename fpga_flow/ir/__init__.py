"""Typed IR: fixed-point layers (one registered class per layer kind), weight storage, graph and
reference executor."""

from fpga_flow.ir.conv import AvgPool2dLayer, Conv2dLayer, MaxPool2dLayer
from fpga_flow.ir.elementwise import AddLayer, ConcatLayer, ScaleLayer
from fpga_flow.ir.graph import Graph
from fpga_flow.ir.layers import (
    LAYER_KINDS,
    Activation,
    DenseLayer,
    GraphError,
    InputLayer,
    Layer,
    MacLayer,
    QuantizeLayer,
    ReluLayer,
    ReshapeLayer,
    layer_kind,
    register_layer,
)
from fpga_flow.ir.weights import CodebookCsrWeights, CsrWeights, DenseWeights, WeightStorage, csr_from_dense

__all__ = [
    "LAYER_KINDS",
    "Activation",
    "AddLayer",
    "AvgPool2dLayer",
    "CodebookCsrWeights",
    "ConcatLayer",
    "Conv2dLayer",
    "CsrWeights",
    "DenseLayer",
    "DenseWeights",
    "Graph",
    "GraphError",
    "InputLayer",
    "Layer",
    "MacLayer",
    "MaxPool2dLayer",
    "QuantizeLayer",
    "ReluLayer",
    "ReshapeLayer",
    "ScaleLayer",
    "WeightStorage",
    "csr_from_dense",
    "layer_kind",
    "register_layer",
]
