"""Lower a per-channel scale on a vector to a diagonal dense layer.

A :class:`~fpga_flow.ir.ScaleLayer` on a vector (a folded ``BatchNorm1d`` between two dense
layers, FINN's tutorial style) computes ``y_j = q(act(x_j * m_j + o_j))``: that is a dense layer
whose weight matrix is ``diag(m)`` (stored as CSR: one nonzero per row), whose bias is ``o`` and
whose accumulator is the scale's. The values are identical (same products, same alignment, same
one rounding), and the MAC engines build it with no new hardware. Scales on feature maps and
scales that divide (``divisor != 1``) are left alone.
"""

from __future__ import annotations

import numpy as np

from fpga_flow.ir import CsrWeights, DenseLayer, Graph, Layer, ScaleLayer

__all__ = ["scales_to_dense"]


def _as_dense(s: ScaleLayer) -> DenseLayer:
    n = s.channels
    w = CsrWeights(np.arange(n + 1), np.arange(n), s.mult, n)
    return DenseLayer(s.name, s.inputs, s.shape, s.out_type, n_in=n, n_out=n, weights=w, weight_type=s.mult_type,
                      bias=s.offset, bias_type=s.offset_type, acc_type=s.acc_type, activation=s.activation,
                      origin=s.origin)


def scales_to_dense(graph: Graph) -> Graph:
    """Return a graph where every vector scale with unit divisors is a diagonal dense layer."""
    layers: list[Layer] = [
        _as_dense(lay) if isinstance(lay, ScaleLayer) and len(lay.shape) == 1 and np.all(lay.divisor == 1) else lay
        for lay in graph.layers
    ]
    return graph.replace_layers(layers).verify()
