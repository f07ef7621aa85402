"""Give every input of a residual ``Add`` or a ``Concat`` one common type, without changing a value.

An :class:`~fpga_flow.ir.AddLayer` sums its inputs exactly at the largest input frac; a
:class:`~fpga_flow.ir.ConcatLayer` casts each input to its output type, which holds every input
type exactly. Hardware reads all inputs of such a stage with one element type, so this pass puts
an exact widening :class:`~fpga_flow.ir.QuantizeLayer` (``<layer>_in<k>``) in front of each input
whose type differs from the common one: signed if any input is, the largest frac, enough integer
bits for every input. A widening is lossless, so the graph computes the same bits.
"""

from __future__ import annotations

import dataclasses

from fpga_flow.fixed import FixedType, Overflow, Rounding
from fpga_flow.ir import AddLayer, ConcatLayer, Graph, Layer, QuantizeLayer

__all__ = ["align_merge_inputs", "common_type"]


def common_type(types: list[FixedType]) -> FixedType:
    """The narrowest type that holds every value of every type in ``types`` exactly."""
    signed = any(t.signed for t in types)
    frac = max(t.frac for t in types)
    # integer bits of each type as a signed number (an unsigned one needs a sign bit more)
    integer = max(t.integer + (1 if signed and not t.signed else 0) for t in types)
    return FixedType(integer + frac, integer, signed, Rounding.TRN, Overflow.WRAP)


def align_merge_inputs(graph: Graph) -> Graph:
    """Return a graph where every Add and Concat reads inputs of one type (see the module docstring)."""
    names = {lay.name for lay in graph.layers}
    out: list[Layer] = []
    for lay in graph.layers:
        if isinstance(lay, AddLayer | ConcatLayer):
            srcs = [graph.layer(n) for n in lay.inputs]
            t = common_type([s.out_type for s in srcs])
            inputs = []
            for k, s in enumerate(srcs):
                if _same(s.out_type, t):
                    inputs.append(s.name)
                    continue
                name = f"{lay.name}_in{k}"
                while name in names:
                    name += "x"
                names.add(name)
                out.append(QuantizeLayer(name, (s.name,), tuple(s.shape), t, origin=lay.origin))
                inputs.append(name)
            if tuple(inputs) != lay.inputs:
                lay = dataclasses.replace(lay, inputs=tuple(inputs))
        out.append(lay)
    return graph.replace_layers(out).verify()


def _same(a: FixedType, b: FixedType) -> bool:
    """The same values (modes do not matter for a value that is never rounded or saturated)."""
    return (a.width, a.integer, a.signed) == (b.width, b.integer, b.signed)
