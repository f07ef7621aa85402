"""Host-side quantization and dequantization with scales that are not powers of two."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from fpga_flow.fixed import Dequant, FixedType, Overflow, Rounding, quantize_scaled, round_int


@pytest.mark.parametrize("mode", list(Rounding))
def test_round_int_matches_the_fraction_definition(mode: Rounding) -> None:
    for num in range(-40, 41):
        for den in (1, 2, 3, 4, 6, 8):
            q = Fraction(num, den)
            f = q.numerator // q.denominator
            rest = q - f
            if rest == 0:
                want = f
            elif mode is Rounding.TRN:
                want = f
            elif mode is Rounding.TRN_ZERO:
                want = f if q > 0 else f + 1
            elif rest != Fraction(1, 2):
                want = f + (1 if rest > Fraction(1, 2) else 0)
            else:
                want = {Rounding.RND: f + 1, Rounding.RND_ZERO: f if q > 0 else f + 1, Rounding.RND_MIN_INF: f,
                        Rounding.RND_INF: f + 1 if q > 0 else f, Rounding.RND_CONV: round(q)}[mode]
            assert round_int(num, den, mode) == want, (num, den)


def test_quantize_scaled_is_exact_with_a_zero_point() -> None:
    s = Fraction(float(np.float32(0.0123)))
    t = FixedType(8, 8, False, Rounding.RND_CONV, Overflow.SAT)  # uint8
    x = np.array([[-1.0, 0.0, 0.006150000123, 1.0, 3.1, 100.0]])
    got = quantize_scaled(x, t, s, zero_point=17)
    want = [[min(max(round(Fraction(float(v)) / s) + 17, 0), 255) for v in x[0]]]
    assert got.tolist() == want


def test_dequant_per_channel_with_rational_zero_and_relu() -> None:
    dq = Dequant((Fraction(3, 1024), Fraction(5, 2048)), (Fraction(7, 3), Fraction(0)), relu=True)
    m = np.array([[10, -4], [1, 9]])
    exact = dq.exact(m)
    assert exact[0, 0] == (10 - Fraction(7, 3)) * Fraction(3, 1024) and exact[0, 1] == 0
    assert exact[1, 0] == 0 and exact[1, 1] == 9 * Fraction(5, 2048)
    back = Dequant.from_json(dq.to_json())
    assert back == dq
    np.testing.assert_array_equal(dq.values(m), np.vectorize(float)(exact))
