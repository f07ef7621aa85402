"""Typed IR: fixed-point layers, weight storage, graph and reference executor."""

from fpga_flow.ir.graph import Graph, GraphError
from fpga_flow.ir.layers import Activation, DenseLayer, InputLayer, Layer, QuantizeLayer, ReluLayer
from fpga_flow.ir.weights import CodebookCsrWeights, CsrWeights, DenseWeights, WeightStorage, csr_from_dense

__all__ = [
    "Activation",
    "CodebookCsrWeights",
    "CsrWeights",
    "DenseLayer",
    "DenseWeights",
    "Graph",
    "GraphError",
    "InputLayer",
    "Layer",
    "QuantizeLayer",
    "ReluLayer",
    "WeightStorage",
    "csr_from_dense",
]
