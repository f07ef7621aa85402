"""Fuse ReLU and requantization into the preceding accumulating layer (dense, convolution, scale).

``Dense(out=acc) -> Relu -> Quant(T)`` becomes ``Dense(act=relu, out=T)``; ``Dense(out=acc) ->
Quant(T)`` becomes ``Dense(out=T)``; the same for a ``Conv2d`` and a per-channel ``Scale`` (a folded
BatchNormalization). A ReLU *after* a requantization, ``Dense(out=T) -> Relu``, is fused only when
``relu(q(a)) == q(relu(a))`` for every reachable accumulator value ``a``: that holds when ``q`` is
monotone with ``q(0) = 0`` on the accumulator's range, i.e. when ``T`` saturates or when no
reachable value overflows ``T``. (A scale's positive divisor commutes with the ReLU.)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fpga_flow.fixed import FixedType, Overflow, cast
from fpga_flow.ir import Activation, Graph, Layer, MacLayer, QuantizeLayer, ReluLayer, ScaleLayer
from fpga_flow.ir.accum import accumulator_bound

__all__ = ["fuse_activations"]


Accumulating = MacLayer | ScaleLayer


def _requant_is_monotone(layer: Accumulating, in_type: FixedType) -> bool:
    t = layer.out_type
    if t.overflow in (Overflow.SAT, Overflow.SAT_SYM):
        return True
    if isinstance(layer, ScaleLayer):
        if not np.all(layer.divisor == 1):
            return False
        bound = layer.bound(in_type)
    else:
        bound = accumulator_bound(layer, in_type)
    fa = layer.acc_type.frac
    wide = FixedType(60, 60 - t.frac)
    edges = np.array([-bound, bound], dtype=np.int64)
    exact = cast(edges, fa, wide.with_modes(t.rounding))
    fitted = cast(edges, fa, t)
    return bool(np.all(exact == fitted))


def _is_plain_acc(layer: Accumulating) -> bool:
    """The layer outputs its accumulator unchanged (no requantization yet)."""
    if isinstance(layer, ScaleLayer) and not np.all(layer.divisor == 1):
        return False
    return layer.out_type == layer.acc_type


def fuse_activations(graph: Graph) -> Graph:
    """Return a graph where ReLU/Quant layers that follow an accumulating layer are folded into it."""
    layers: list[Layer] = list(graph.layers)
    outputs = list(graph.outputs)
    types = {lay.name: lay.out_type for lay in layers}
    changed = True
    while changed:
        changed = False
        by_name = {lay.name: lay for lay in layers}
        for nxt in layers:
            if not isinstance(nxt, ReluLayer | QuantizeLayer):
                continue
            prod = by_name[nxt.inputs[0]]
            if not isinstance(prod, Accumulating):
                continue
            if prod.name in outputs or sum(prod.name in lay.inputs for lay in layers) != 1:
                continue
            in_type = types[prod.inputs[0]]
            fused: Accumulating | None = None
            if isinstance(nxt, QuantizeLayer) and _is_plain_acc(prod):
                fused = replace(prod, out_type=nxt.out_type)
            elif isinstance(nxt, ReluLayer) and prod.activation is Activation.LINEAR:
                if _is_plain_acc(prod) or _requant_is_monotone(prod, in_type):
                    relu_exact = nxt.out_type == prod.out_type
                    if relu_exact:
                        fused = replace(prod, activation=Activation.RELU)
            if fused is None:
                continue
            # the fused layer keeps the producer's name; consumers of the folded layer follow it
            layers = [fused if lay is prod else lay for lay in layers if lay is not nxt]
            layers = [
                replace(lay, inputs=tuple(prod.name if i == nxt.name else i for i in lay.inputs))
                if nxt.name in lay.inputs
                else lay
                for lay in layers
            ]
            outputs = [prod.name if o == nxt.name else o for o in outputs]
            types = {lay.name: lay.out_type for lay in layers}
            changed = True
            break
    return graph.replace_layers(layers, tuple(outputs)).verify()
