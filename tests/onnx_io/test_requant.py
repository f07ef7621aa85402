"""The exact requantization search: the multiplier it returns equals the exact rounding on every
reachable mantissa (checked by brute force with Fractions, Python's round-half-to-even)."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest

from fpga_flow.fixed import Rounding
from fpga_flow.onnx_io.requant import RequantError, Requantizer, find_multiplier, thresholds


def _exact(m: int, a: Fraction, b: Fraction, zp: int, qmin: int, qmax: int, relu: bool = False) -> int:
    v = a * m + b
    if relu:
        v = max(v, Fraction(0))
    return min(max(round(v) + zp, qmin), qmax)  # Fraction.__round__: half to even


def _apply(mul, m: int, qmin: int, qmax: int) -> int:
    return min(max((m * mul.mult + mul.offset) >> mul.shift, qmin), qmax)


def _float32(v: float) -> Fraction:
    return Fraction(float(np.float32(v)))


@pytest.mark.parametrize("seed", range(12))
def test_multiplier_equals_the_exact_rounding_on_every_mantissa(seed: int) -> None:
    rng = random.Random(seed)
    # float32 scales as exporters write them: s_in * s_w / s_out, with a rational zero from a bias
    a = _float32(rng.uniform(0.001, 0.05)) * _float32(rng.uniform(0.002, 0.02)) / _float32(rng.uniform(0.01, 0.1))
    b = _float32(rng.uniform(-3, 3))
    zp, (qmin, qmax) = rng.choice([(0, (-128, 127)), (0, (0, 255)), (128, (0, 255)), (3, (0, 15)), (0, (-7, 7))])
    relu = zp == 0 and qmin == 0 and rng.random() < 0.5
    g = Requantizer(a, b, zp, qmin, qmax, Rounding.RND_CONV, relu)
    lo, hi = -(1 << 12), (1 << 12) - 1
    mul = find_multiplier(g, lo, hi)
    for m in range(lo, hi + 1):
        assert _apply(mul, m, qmin, qmax) == _exact(m, a, b, zp, qmin, qmax, relu), m
    assert (max(-lo, hi) * mul.mult + abs(mul.offset)).bit_length() < 60


def test_thresholds_are_the_first_mantissa_of_each_level() -> None:
    a, b = Fraction(3, 7), Fraction(-1, 5)
    g = Requantizer(a, b, 0, -4, 3, Rounding.RND_CONV)
    steps = thresholds(g, -20, 20)
    levels = {level: t for t, level in steps}
    for level in range(-3, 4):
        first = min(m for m in range(-20, 21) if _exact(m, a, b, 0, -4, 3) >= level)
        assert levels[level] == first


def test_power_of_two_ratios_need_no_multiplier() -> None:
    g = Requantizer(Fraction(1, 1 << 6), Fraction(0), 0, -128, 127, Rounding.TRN)
    mul = find_multiplier(g, -(1 << 20), 1 << 20)
    assert mul.mult == 1 and mul.offset == 0 and mul.shift == 6


def test_exact_ties_of_round_half_even_are_not_a_floor_and_are_refused() -> None:
    # a ratio of 1/16 puts exact ties (m = 8, 24, ...) in range: half to even is no floor of a line
    g = Requantizer(Fraction(1, 16), Fraction(0), 0, 0, 255, Rounding.RND_CONV)
    with pytest.raises(RequantError, match="no multiplier"):
        find_multiplier(g, 0, 4095)


def test_the_search_is_exact_at_every_step_of_a_layer_of_distinct_channels() -> None:
    rng = random.Random(3)
    shifts = []
    for _ in range(64):
        a = _float32(rng.uniform(1e-4, 1e-2))
        g = Requantizer(a, _float32(rng.uniform(-50, 50)), 0, -128, 127, Rounding.RND_CONV)
        mul = find_multiplier(g, -(1 << 22), 1 << 22)
        shifts.append(mul.shift)
        for m in (-(1 << 22), -1, 0, 1, 1 << 22, *(t for t, _ in thresholds(g, -(1 << 22), 1 << 22))):
            for d in (-1, 0):
                assert _apply(mul, m + d, -128, 127) == _exact(m + d, a, g.b, 0, -128, 127)
    assert max(shifts) < 60


def test_a_batchnorm_before_the_quantizer_is_exact_on_every_mantissa() -> None:
    """``round((alpha*m + delta) * sqrt(rho) + c)``: the irrational value compared with Decimal at
    60 digits (independent of the integer square roots the requantizer uses)."""
    from decimal import ROUND_FLOOR, Decimal, getcontext

    from fpga_flow.onnx_io.requant import BnRequantizer

    getcontext().prec = 60
    rng = random.Random(9)
    for trial in range(6):
        g = BnRequantizer(_float32(rng.uniform(1e-3, 1e-2)), _float32(rng.uniform(-3, 3)),
                          _float32(rng.uniform(0.5, 30)), _float32(rng.uniform(-2, 2)), 0, 0, 255, relu=trial % 2 == 0)
        mul = find_multiplier(g, -(1 << 12), 1 << 12)
        root = (Decimal(g.rho.numerator) / Decimal(g.rho.denominator)).sqrt()
        for m in range(-(1 << 12), (1 << 12) + 1):
            k = g.alpha * m + g.delta
            v = Decimal(k.numerator) / Decimal(k.denominator) * root + Decimal(g.c.numerator) / Decimal(g.c.denominator)
            vv = max(v, Decimal(0)) if g.relu else v
            want = min(max(int((vv + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR)), 0), 255)
            assert _apply(mul, m, 0, 255) == want, (trial, m)
