"""Fuse ReLU and requantization into the preceding accumulating layer (dense, convolution, scale).

``Dense(out=acc) -> Relu -> Quant(T)`` becomes ``Dense(act=relu, out=T)``; ``Dense(out=acc) ->
Quant(T)`` becomes ``Dense(out=T)``; the same for a ``Conv2d`` and a per-channel ``Scale`` (a folded
BatchNormalization). A ReLU *after* a requantization, ``Dense(out=T) -> Relu``, is fused only when
``relu(q(a)) == q(relu(a))`` for every reachable accumulator value ``a``: that holds when ``q`` is
monotone with ``q(0) = 0`` on the accumulator's range, i.e. when ``T`` saturates or when no
reachable value overflows ``T``. (A scale's positive divisor commutes with the ReLU.) Two scales in
a row, the first exact, become one (an exporter's ``Mul`` + ``Add`` pair for a BatchNormalization).

A ReLU that keeps its input's type and feeds only a max pooling moves into the pool, whatever the
producer: ``max(relu(x)) == relu(max(x))`` (the ReLU is monotone and the padding never wins), so
``Conv(out=T, wrapping) -> Relu -> MaxPool`` needs no ReLU stage and no buffer for its full-size map.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fpga_flow.fixed import FixedPointRangeError, FixedType, Overflow, cast
from fpga_flow.ir import Activation, Graph, Layer, MacLayer, MaxPool2dLayer, QuantizeLayer, ReluLayer, ScaleLayer
from fpga_flow.ir.accum import accumulator_bound, signed_type_for

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


def _merge_scales(a: ScaleLayer, b: ScaleLayer) -> ScaleLayer | None:
    """``b(a(x))`` as one scale when ``a`` is exact (no rounding, no activation): ``x * (m_a m_b) +
    (o_a m_b + o_b)``, e.g. the ``Mul`` and ``Add`` an exporter writes for a BatchNormalization."""
    if not _is_plain_acc(a) or a.activation is not Activation.LINEAR:
        return None
    try:
        mt = FixedType(a.mult_type.width + b.mult_type.width, a.mult_type.integer + b.mult_type.integer, True)
        fo = max(a.offset_type.frac + b.mult_type.frac, b.offset_type.frac)
        off = ((a.offset * b.mult) << (fo - a.offset_type.frac - b.mult_type.frac)) + (
            b.offset << (fo - b.offset_type.frac))
        ot = signed_type_for(int(np.abs(off).max()) if off.size else 0, fo, f"layer {b.label}")
        probe = replace(b, inputs=a.inputs, mult=a.mult * b.mult, mult_type=mt, offset=off, offset_type=ot,
                        name=a.name, origin=a.origin or b.origin)
    except FixedPointRangeError:
        return None
    # b's accumulator holds the merged sum exactly: its frac covers every merged term and its range
    # covers b's values over all of a's outputs, which the merged values are
    return probe


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
            if isinstance(nxt, MaxPool2dLayer) and nxt.activation is Activation.LINEAR:
                relu = by_name[nxt.inputs[0]]
                if (isinstance(relu, ReluLayer) and relu.out_type == types[relu.inputs[0]]
                        and relu.name not in outputs and sum(relu.name in lay.inputs for lay in layers) == 1):
                    pool = replace(nxt, inputs=relu.inputs, activation=Activation.RELU)
                    layers = [pool if lay is nxt else lay for lay in layers if lay is not relu]
                    types = {lay.name: lay.out_type for lay in layers}
                    changed = True
                    break
            if not isinstance(nxt, ReluLayer | QuantizeLayer | ScaleLayer):
                continue
            prod = by_name[nxt.inputs[0]]
            if not isinstance(prod, Accumulating):
                continue
            if prod.name in outputs or sum(prod.name in lay.inputs for lay in layers) != 1:
                continue
            in_type = types[prod.inputs[0]]
            fused: Accumulating | None = None
            if isinstance(nxt, ScaleLayer):
                if isinstance(prod, ScaleLayer):
                    fused = _merge_scales(prod, nxt)
            elif isinstance(nxt, QuantizeLayer) and _is_plain_acc(prod):
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
