"""Overflow-free accumulator sizing from the actual nonzero weights of each row.

For row ``j`` the accumulator holds ``bias_j + sum_i w_ji * x_i``. With ``|x_i| <= X`` (the
input type's largest magnitude) every partial sum, in any order, is bounded by
``|bias_j| + X * sum_i |w_ji|``. An accumulator holding the largest such bound over the rows
can never overflow, so any parallel schedule is bit-exact with the reference. A convolution's
row is one output channel over its ``C_in/groups * kh * kw`` window; zero padding only drops terms,
so the same bound holds at every output position.
"""

from __future__ import annotations

import numpy as np

from fpga_flow.fixed import MAX_WIDTH, FixedPointRangeError, FixedType
from fpga_flow.ir.elementwise import ScaleLayer
from fpga_flow.ir.layers import MacLayer

__all__ = [
    "accumulator_bound",
    "naive_accumulator_type",
    "overflow_free_accumulator_type",
    "scale_accumulator_type",
    "signed_type_for",
]


def _acc_frac(layer: MacLayer, in_type: FixedType) -> int:
    return max(layer.weight_type.frac + in_type.frac, layer.bias_type.frac)


def accumulator_bound(layer: MacLayer, in_type: FixedType, frac: int | None = None) -> int:
    """Largest |partial sum| of any row, in LSBs of an accumulator with ``frac`` fractional bits
    (default: the layer's ``acc_type``). Exact Python integer arithmetic."""
    fa = layer.acc_type.frac if frac is None else frac
    fp = layer.weight_type.frac + in_type.frac
    m = layer.weights.matrix
    abs_rows = np.asarray(abs(m).sum(axis=1)).ravel().astype(object)  # exact python ints
    xmax = in_type.max_abs_mantissa
    best = 0
    bias = layer.bias.astype(object)
    for j in range(layer.rows):
        b = abs(int(bias[j])) << (fa - layer.bias_type.frac)
        s = (int(abs_rows[j]) * xmax) << (fa - fp)
        best = max(best, b + s)
    return best


def overflow_free_accumulator_type(layer: MacLayer, in_type: FixedType) -> FixedType:
    """Narrowest signed accumulator that holds every partial sum of every row exactly."""
    fa = _acc_frac(layer, in_type)
    bound = accumulator_bound(layer, in_type, frac=fa)
    width = max(bound.bit_length() + 1, 2)  # signed: [-2**(W-1), 2**(W-1)-1] covers [-bound, bound]
    if width > MAX_WIDTH:
        raise FixedPointRangeError(
            f"layer {layer.origin or layer.name}: an exact accumulator needs {width} bits "
            f"(> {MAX_WIDTH}); quantize its input or weights to fewer bits"
        )
    return FixedType(width, width - fa, True)


def naive_accumulator_type(layer: MacLayer, in_type: FixedType) -> FixedType:
    """hls4ml-style accumulator: product width grown by ceil(log2(row length)) plus bias headroom.

    Always overflow-free (it assumes every weight is the type's extreme value) but wider
    than what the actual weights need."""
    fa = _acc_frac(layer, in_type)
    wmax = layer.weight_type.max_abs_mantissa
    xmax = in_type.max_abs_mantissa
    fp = layer.weight_type.frac + in_type.frac
    bias_max = layer.bias_type.max_abs_mantissa << (fa - layer.bias_type.frac)
    bound = ((wmax * xmax * layer.row_length) << (fa - fp)) + bias_max
    width = max(bound.bit_length() + 1, 2)
    if width > MAX_WIDTH:
        return overflow_free_accumulator_type(layer, in_type)
    return FixedType(width, width - fa, True)


def signed_type_for(bound: int, frac: int, what: str) -> FixedType:
    """Narrowest signed type with ``frac`` fractional bits holding ``[-bound, bound]`` LSBs."""
    width = max(int(bound).bit_length() + 1, 2)
    if width > MAX_WIDTH:
        raise FixedPointRangeError(f"{what}: an exact result needs {width} bits (> {MAX_WIDTH})")
    return FixedType(width, width - frac, True)


def scale_accumulator_type(layer: ScaleLayer, in_type: FixedType) -> FixedType:
    """Narrowest signed type that holds ``x * m_c + o_c`` exactly for every reachable ``x``."""
    fa = max(in_type.frac + layer.mult_type.frac, layer.offset_type.frac)
    return signed_type_for(layer.bound(in_type, frac=fa), fa, f"layer {layer.origin or layer.name}")
