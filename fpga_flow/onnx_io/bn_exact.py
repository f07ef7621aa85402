"""The exact result of an inference ``BatchNormalization`` and the search for a fold that equals it.

ONNX defines ``y = (x - mean) / sqrt(var + epsilon) * scale + bias``. With the float parameters
taken as the exact dyadic rationals they are, ``y`` is ``a * sqrt(r) + b`` with ``a``, ``r``, ``b``
rational: usually irrational, so no finite multiplier reproduces it. What the hardware must
reproduce is ``y`` *after the rounding to the output grid* (the following ``Quant``, or the
``--precision`` of a float model): :func:`exact_bn_rounded` computes that exactly (integer square
roots and rational comparisons), and :func:`fold_batchnorm` (in ``cnn_handlers``) widens its
multiplier until the folded ``x * m + o`` rounds to the same integers for *every* value the
input type can hold.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from fpga_flow.fixed import FixedType, Rounding

__all__ = ["exact_bn_rounded", "floor_a_sqrt_r_plus_b", "input_values"]

#: Inputs of more bits than this are checked on a sample (every value up to 2^16 of them).
MAX_EXHAUSTIVE_BITS = 16


def input_values(t: FixedType, seed: int = 0) -> np.ndarray:
    """Every mantissa of ``t`` (a sample of 2^16 with both ends for wider types)."""
    if t.width <= MAX_EXHAUSTIVE_BITS:
        return np.arange(t.min_mantissa, t.max_mantissa + 1, dtype=np.int64)
    rng = np.random.default_rng(seed)
    v = rng.integers(t.min_mantissa, t.max_mantissa + 1, size=1 << MAX_EXHAUSTIVE_BITS, dtype=np.int64)
    v[:2] = (t.min_mantissa, t.max_mantissa)
    return np.unique(v)


def floor_a_sqrt_r_plus_b(a: Fraction, r: Fraction, b: Fraction, guess: int) -> int:
    """``floor(a * sqrt(r) + b)`` exactly (``r >= 0``), starting the search at ``guess``."""

    def at_least(n: int) -> bool:  # a*sqrt(r) + b >= n  <=>  a*sqrt(r) >= n - b
        c = n - b
        if a >= 0:
            return c <= 0 or a * a * r >= c * c
        return c <= 0 and a * a * r <= c * c

    n = guess
    while not at_least(n):
        n -= 1
    while at_least(n + 1):
        n += 1
    return n


def _is_square(q: Fraction) -> Fraction | None:
    """``sqrt(q)`` when it is rational, else None."""
    p, d = q.numerator, q.denominator
    sp, sd = math.isqrt(p), math.isqrt(d)
    return Fraction(sp, sd) if sp * sp == p and sd * sd == d else None


def _round_rational(q: Fraction, mode: Rounding) -> int:
    """``q`` rounded to an integer with ``mode`` (the ap_fixed quantization modes)."""
    f = math.floor(q)
    rest = q - f
    if mode is Rounding.TRN:
        return f
    if mode is Rounding.TRN_ZERO:
        return f if q >= 0 or rest == 0 else f + 1
    if rest != Fraction(1, 2):
        return f + 1 if rest > Fraction(1, 2) else f
    tie = {Rounding.RND: f + 1, Rounding.RND_ZERO: f if q > 0 else f + 1, Rounding.RND_MIN_INF: f,
           Rounding.RND_INF: f + 1 if q > 0 else f, Rounding.RND_CONV: f + (f & 1)}
    return tie[mode]


def exact_bn_rounded(x: np.ndarray, fx: int, gamma: float, beta: float, mean: float, var: float, eps: float,
                     grid: int, mode: Rounding) -> np.ndarray:
    """``round(((x * 2^-fx - mean) * gamma / sqrt(var + eps) + beta) * 2^grid)`` for every mantissa in
    ``x``, exactly, with ``mode`` (pre-saturation integers at frac ``grid``, int64: the grid must
    keep them below 2^62)."""
    g, b, mu, v, e = (Fraction(float(p)) for p in (gamma, beta, mean, var, eps))
    r = g * g / (v + e)  # s^2, s = sign(g) * sqrt(r)
    sign = -1 if g < 0 else 1
    root = _is_square(r)
    scale = Fraction(2) ** grid
    xs = np.asarray(x, dtype=np.int64)
    ld = np.longdouble
    s_ld = ld(sign) * np.sqrt(ld(r.numerator) / ld(r.denominator))
    a_ld = xs.astype(ld) * ld(2.0) ** -fx - ld(float(mu))
    t = (a_ld * s_ld + ld(float(b))) * ld(2.0) ** grid
    if mode is not Rounding.TRN and mode is not Rounding.TRN_ZERO:
        t = t + ld(0.5)  # every round-to-nearest mode is floor(t + 1/2) away from a tie
    fl = np.floor(t)
    # long double carries 64 bits: a value farther than this from an integer is decided
    tol = (np.abs(a_ld * s_ld) + abs(float(b)) + 1.0) * ld(2.0) ** grid * ld(2.0) ** -50 + ld(2.0) ** -50
    near = np.minimum(t - fl, fl + 1 - t) <= tol
    out = fl.astype(np.int64)
    for i in np.flatnonzero(near | (root is not None)).tolist():
        xv = int(xs[i])
        a = (Fraction(xv, 1 << fx) if fx >= 0 else Fraction(xv * (1 << -fx))) - mu
        if root is not None:  # rational: round the exact value (ties follow the mode)
            out[i] = _round_rational((a * sign * root + b) * scale, mode)
        elif mode is Rounding.TRN or mode is Rounding.TRN_ZERO:
            out[i] = floor_a_sqrt_r_plus_b(a * sign * scale, r, b * scale, int(fl[i]))
        else:  # no ties for an irrational value
            out[i] = floor_a_sqrt_r_plus_b(a * sign * scale, r, b * scale + Fraction(1, 2), int(fl[i]))
    if mode is Rounding.TRN_ZERO and root is None:  # toward zero: negatives (never integers) go up
        out = np.where(out < 0, out + 1, out)
    return out
