"""Fixed-point fake quantization in torch, bit-exact with :mod:`fpga_flow.fixed` and QONNX ``Quant``.

A :class:`~fpga_flow.fixed.FixedType` with saturation (overflow ``SAT``) and rounding ``RND_CONV``
(QONNX ``ROUND``: nearest, ties to even) or ``TRN`` (QONNX ``FLOOR``) is exactly a QONNX
``Quant`` with scale ``2**-F``, zero point 0, bit width ``W``, ``narrow=0``. :func:`fake_quant`
computes it with float ops that are all exact:

* ``x * 2**F`` and ``q * 2**-F`` only move the binary exponent (no rounding, far from the
  float64 exponent limits for the types used here);
* ``torch.round`` (ties to even) and ``torch.floor`` of a float are exact integers;
* clamping to the integer bounds ``[min_mantissa, max_mantissa]`` before or after rounding gives
  the same result because the bounds are integers and rounding is monotone.

So ``fake_quant(x, t) == to_float(from_float(x, t), t)`` for every float64 ``x`` (the tests check it
on ties, edges and random values), as long as ``t.width <= 53`` (``<= 24`` in float32).

Gradients use the straight-through estimator: identity, or (``clip=True``, for activations) zero
where the input saturates.

The dense layer's sum ``bias + sum_i w_i x_i`` is exact in float64 when its accumulator needs at
most 53 bits: every product and partial sum is then an integer multiple of the accumulator LSB
below ``2**53``, in any summation order. :func:`accumulator_bits` gives that width (the same
bound as :func:`fpga_flow.ir.accum.naive_accumulator_type`); the model checks it.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from fpga_flow.fixed import FixedType, Overflow, Rounding

__all__ = [
    "FLOAT64_EXACT_BITS",
    "accumulator_bits",
    "check_quant_type",
    "choose_type",
    "fake_quant",
    "quant_rounding_mode",
]

#: Integers up to this many bits (sign included) are exact in float64.
FLOAT64_EXACT_BITS = 53

_QONNX_MODES = {Rounding.RND_CONV: "ROUND", Rounding.TRN: "FLOOR"}


def check_quant_type(t: FixedType) -> None:
    """Raise ``ValueError`` unless ``t`` is expressible as a QONNX Quant (SAT; RND_CONV or TRN)."""
    if t.overflow is not Overflow.SAT or t.rounding not in _QONNX_MODES:
        raise ValueError(
            f"{t} has no QONNX Quant equivalent: use overflow SAT with rounding RND_CONV (ROUND) or TRN (FLOOR)"
        )
    if t.width > FLOAT64_EXACT_BITS:
        raise ValueError(f"{t} is wider than the {FLOAT64_EXACT_BITS} bits float64 holds exactly")


def quant_rounding_mode(t: FixedType) -> str:
    """QONNX ``rounding_mode`` attribute of ``t`` ("ROUND" or "FLOOR")."""
    check_quant_type(t)
    return _QONNX_MODES[t.rounding]


def choose_type(
    max_abs: float, width: int, signed: bool = True, rounding: Rounding = Rounding.RND_CONV
) -> FixedType:
    """Narrowest-range (most fractional bits) ``width``-bit type whose range holds ``max_abs``.

    Picks the smallest integer-bit count ``I`` with ``max representable value >= max_abs`` (for a
    signed type also ``-max_abs >= min``). Saturating, with ``rounding`` (RND_CONV by default).
    """
    if not math.isfinite(max_abs) or max_abs < 0:
        raise ValueError(f"max_abs must be a finite non-negative number, got {max_abs!r}")
    if max_abs == 0:
        max_abs = 2.0**-width  # any small range will do
    sign_bits = 1 if signed else 0
    integer = math.floor(math.log2(max_abs)) + sign_bits - 1
    while True:
        t = FixedType(width, integer, signed, rounding, Overflow.SAT)
        if t.max_mantissa * 2.0**-t.frac >= max_abs:
            return t
        integer += 1


def accumulator_bits(n_in: int, weight: FixedType, x: FixedType, bias: FixedType | None) -> int:
    """Bits (sign included) of an accumulator that holds ``bias + sum of n_in products`` exactly,
    at ``max(F_w + F_x, F_b)`` fractional bits, for the worst-case operand values."""
    fp = weight.frac + x.frac
    fa = max(fp, bias.frac) if bias is not None else fp
    bound = (weight.max_abs_mantissa * x.max_abs_mantissa * n_in) << (fa - fp)
    if bias is not None:
        bound += bias.max_abs_mantissa << (fa - bias.frac)
    return bound.bit_length() + 1


class _FakeQuant(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, frac: int, lo: int, hi: int, floor: bool, clip: bool) -> torch.Tensor:
        y = x * (2.0**frac)
        y = torch.floor(y) if floor else torch.round(y)  # torch.round: half to even
        y = torch.clamp(y, lo, hi)
        if clip:
            ctx.save_for_backward((x * (2.0**frac) >= lo - 0.5) & (x * (2.0**frac) <= hi + 0.5))
        ctx.clip = clip
        return y * (2.0**-frac)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None, None, None]:
        if ctx.clip:
            (inside,) = ctx.saved_tensors
            grad = grad * inside.to(grad.dtype)
        return grad, None, None, None, None, None


def fake_quant(x: torch.Tensor, t: FixedType, clip: bool = False) -> torch.Tensor:
    """Values of ``x`` rounded and saturated to ``t`` (same float dtype), straight-through gradient.

    Equal to ``fpga_flow.fixed.to_float(fpga_flow.fixed.from_float(x, t), t)`` and to a QONNX
    ``Quant`` with ``t``'s parameters. ``clip=True`` zeroes the gradient where ``x`` saturates.
    """
    check_quant_type(t)
    if x.dtype == torch.float32 and t.width > 24:
        raise ValueError(f"{t} is not exact in float32; use a float64 model")
    return _FakeQuant.apply(x, t.frac, t.min_mantissa, t.max_mantissa, t.rounding is Rounding.TRN, clip)
