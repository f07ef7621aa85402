"""Unit tests of :mod:`fpga_flow.fixed` (pure Python, fast).

Expected values are written out by hand or computed with :class:`fractions.Fraction` by a small
scalar model written here from the ``ap_fixed`` documentation, never by the code under test.
``tests/test_fixed_apfixed.py`` checks the same module against the real ``ap_fixed`` headers.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from fpga_flow.backends.hls.spelling import cpp_type
from fpga_flow.fixed import (
    MAX_WIDTH,
    FixedPointRangeError,
    FixedType,
    Overflow,
    Rounding,
    add_type,
    cast,
    fixed_add,
    fixed_mul,
    from_float,
    min_exact_type,
    mul_type,
    parse_fixed_type,
    to_float,
)

R, O = Rounding, Overflow


# ----------------------------------------------------------------------------- independent model
def ref_round(v: Fraction, frac: int, mode: Rounding) -> int:
    """Round the exact value ``v`` to a multiple of ``2**-frac``; returns the mantissa."""
    x = v * (Fraction(2) ** frac)
    fl = math.floor(x)
    r = x - fl
    half = Fraction(1, 2)
    inc = {
        R.TRN: False,
        R.TRN_ZERO: r != 0 and x < 0,
        R.RND: r >= half,
        R.RND_ZERO: r > half or (r == half and x < 0),
        R.RND_MIN_INF: r > half,
        R.RND_INF: r > half or (r == half and x > 0),
        R.RND_CONV: r > half or (r == half and fl % 2 == 1),
    }[mode]
    return fl + int(inc)


def ref_overflow(q: int, t: FixedType) -> int:
    """Overflow handling of a rounded mantissa ``q`` from a signed source (double or ap_fixed)."""
    w = t.width
    lo, hi = (-(2 ** (w - 1)), 2 ** (w - 1) - 1) if t.signed else (0, 2**w - 1)
    if t.overflow is O.WRAP:
        return (q - lo) % 2**w + lo
    if t.overflow is O.SAT:
        return min(max(q, lo), hi)
    if t.overflow is O.SAT_ZERO:
        return q if lo <= q <= hi else 0
    # SAT_SYM: signed targets never produce the most negative code (except W == 1, where the
    # code ap_fixed writes, 1...01, is that code)
    sym_lo = -hi if (t.signed and w > 1) else lo
    return min(max(q, sym_lo), hi)


def ref_convert(v: Fraction, t: FixedType) -> int:
    return ref_overflow(ref_round(v, t.frac, t.rounding), t)


ALL_MODES = [(q, o) for q in Rounding for o in Overflow]


# ----------------------------------------------------------------------------- parsing / spelling
@pytest.mark.parametrize(
    "text, expected",
    [
        ("ap_fixed<16,6>", FixedType(16, 6, True, R.TRN, O.WRAP)),
        ("ap_ufixed<8,0,AP_RND_CONV,AP_SAT>", FixedType(8, 0, False, R.RND_CONV, O.SAT)),
        ("fixed<8,3,RND,SAT_SYM>", FixedType(8, 3, True, R.RND, O.SAT_SYM)),
        ("ufixed<6,9>", FixedType(6, 9, False)),
        ("  ap_fixed < 5 , -2 >  ", FixedType(5, -2)),
        ("ap_fixed<8, 3, ap_rnd_zero, ap_sat_zero>", FixedType(8, 3, True, R.RND_ZERO, O.SAT_ZERO)),
        ("ap_fixed<8,3,AP_TRN_ZERO>", FixedType(8, 3, True, R.TRN_ZERO, O.WRAP)),
        ("ap_fixed<8,3,AP_RND_MIN_INF,AP_WRAP,0>", FixedType(8, 3, True, R.RND_MIN_INF, O.WRAP)),
        ("ap_fixed<1,1,AP_RND_INF,AP_SAT>", FixedType(1, 1, True, R.RND_INF, O.SAT)),
        ("ap_fixed<60,30>", FixedType(60, 30)),
    ],
)
def test_parse_fixed_type(text: str, expected: FixedType) -> None:
    assert parse_fixed_type(text) == expected


@pytest.mark.parametrize(
    "text, match",
    [
        ("ap_int<8>", "cannot parse"),
        ("ap_fixed<8>", "cannot parse"),
        ("ap_fixed<8,3", "cannot parse"),
        ("ap_fixed<8.5,3>", "cannot parse"),
        ("ap_fixed<8,3,AP_FOO>", "unknown rounding mode"),
        ("ap_fixed<8,3,AP_SAT>", "unknown rounding mode"),  # C++ order: Q before O
        ("ap_fixed<8,3,AP_TRN,AP_BAR>", "unknown overflow mode"),
        ("ap_fixed<8,3,AP_TRN,AP_SAT,2>", "saturation bits"),
        ("ap_fixed<0,0>", "positive integer"),
        ("ap_fixed<-4,0>", "positive integer"),
    ],
)
def test_parse_fixed_type_errors(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_fixed_type(text)


def test_parse_too_wide_is_range_error() -> None:
    with pytest.raises(FixedPointRangeError, match="exceeds"):
        parse_fixed_type("ap_fixed<64,32>")


def test_ap_fixed_spelling_of_the_hls_backend() -> None:
    assert cpp_type(FixedType(16, 6)) == "ap_fixed<16,6>"
    assert cpp_type(FixedType(8, 0, False, R.RND_CONV, O.SAT)) == "ap_ufixed<8,0,AP_RND_CONV,AP_SAT>"
    assert cpp_type(FixedType(8, 3, True, R.RND, O.WRAP)) == "ap_fixed<8,3,AP_RND,AP_WRAP>"
    assert cpp_type(FixedType(8, 3, True, R.TRN, O.SAT)) == "ap_fixed<8,3,AP_TRN,AP_SAT>"


def test_neutral_notation() -> None:
    assert str(FixedType(16, 6)) == "fixed<16,6>"
    assert str(FixedType(6, 9, False)) == "ufixed<6,9>"
    assert str(FixedType(5, -2)) == "fixed<5,-2>"
    assert str(FixedType(8, 1, True, R.RND_CONV, O.SAT)) == "fixed<8,1,RND_CONV,SAT>"
    assert str(FixedType(8, 0, False, R.RND_CONV, O.SAT)) == "ufixed<8,0,RND_CONV,SAT>"
    # as in cpp(): both modes are written as soon as one differs from TRN, WRAP
    assert str(FixedType(8, 3, True, R.RND, O.WRAP)) == "fixed<8,3,RND,WRAP>"
    assert str(FixedType(8, 3, True, R.TRN, O.SAT)) == "fixed<8,3,TRN,SAT>"
    assert f"{FixedType(4, 2, True, R.TRN_ZERO, O.SAT_SYM)}" == "fixed<4,2,TRN_ZERO,SAT_SYM>"


TYPE_SHAPES = [(8, 3, True), (5, -2, False), (5, -2, True), (6, 9, True), (6, 9, False), (1, 1, False),
               (1, 0, True), (60, 0, True), (12, -20, False)]


@pytest.mark.parametrize("q, o", ALL_MODES)
@pytest.mark.parametrize("w, i, signed", TYPE_SHAPES)
def test_cpp_round_trip(w: int, i: int, signed: bool, q: Rounding, o: Overflow) -> None:
    t = FixedType(w, i, signed, q, o)
    assert parse_fixed_type(cpp_type(t)) == t


@pytest.mark.parametrize("q, o", ALL_MODES)
@pytest.mark.parametrize("w, i, signed", TYPE_SHAPES)
def test_neutral_forms_round_trip(w: int, i: int, signed: bool, q: Rounding, o: Overflow) -> None:
    t = FixedType(w, i, signed, q, o)
    d = t.to_json()
    assert d == {"width": w, "integer": i, "signed": signed, "rounding": q.name, "overflow": o.name}
    assert list(d) == ["width", "integer", "signed", "rounding", "overflow"]
    assert FixedType.from_json(d) == t
    assert FixedType.from_json(json.loads(json.dumps(d))) == t  # through a JSON file
    text = str(t)
    assert "ap_" not in text.lower() and text.startswith("fixed<" if signed else "ufixed<")
    assert parse_fixed_type(text) == t
    # the neutral notation and the ap_fixed spelling of the same type parse alike
    assert parse_fixed_type(text) == parse_fixed_type(cpp_type(t))
    assert parse_fixed_type("ap_" + text) == t


@pytest.mark.parametrize(
    "neutral, ap",
    [
        ("fixed<16,6>", "ap_fixed<16,6>"),
        ("ufixed<8,0,RND_CONV,SAT>", "ap_ufixed<8,0,AP_RND_CONV,AP_SAT>"),
        ("fixed<5,-2,RND_INF,SAT_ZERO>", "ap_fixed<5,-2,AP_RND_INF,AP_SAT_ZERO>"),
        ("ufixed<6,9,TRN,SAT_SYM>", "ap_ufixed<6,9,AP_TRN,AP_SAT_SYM,0>"),
        ("fixed<8,3,RND_ZERO>", "ap_fixed<8,3,AP_RND_ZERO>"),
    ],
)
def test_parse_neutral_equals_parse_ap(neutral: str, ap: str) -> None:
    assert parse_fixed_type(neutral) == parse_fixed_type(ap)


_GOOD = {"width": 8, "integer": 1, "signed": True, "rounding": "RND_CONV", "overflow": "SAT"}


@pytest.mark.parametrize(
    "bad, match",
    [
        ({k: v for k, v in _GOOD.items() if k != "width"}, "lacks key.*'width'"),
        ({k: v for k, v in _GOOD.items() if k not in ("rounding", "overflow")}, "lacks key.*'rounding', 'overflow'"),
        ({**_GOOD, "frac": 7}, "unknown key.*'frac'"),
        ({**_GOOD, "width": "8"}, "key 'width' must be an integer"),
        ({**_GOOD, "width": 8.0}, "key 'width' must be an integer"),
        ({**_GOOD, "width": True}, "key 'width' must be an integer"),
        ({**_GOOD, "integer": None}, "key 'integer' must be an integer"),
        ({**_GOOD, "signed": 1}, "key 'signed' must be true or false"),
        ({**_GOOD, "signed": "true"}, "key 'signed' must be true or false"),
        ({**_GOOD, "rounding": "AP_RND_CONV"}, "key 'rounding' must be one of TRN, "),
        ({**_GOOD, "rounding": "rnd_conv"}, "key 'rounding' must be one of"),
        ({**_GOOD, "overflow": "SATURATE"}, "key 'overflow' must be one of WRAP, SAT, SAT_ZERO, SAT_SYM"),
        ({**_GOOD, "overflow": 1}, "key 'overflow' must be one of"),
        ({**_GOOD, "width": 0}, "positive integer"),
        ("fixed<8,1,RND_CONV,SAT>", "must be a JSON object"),
        ([8, 1, True, "RND_CONV", "SAT"], "must be a JSON object"),
        (None, "must be a JSON object"),
    ],
)
def test_from_json_rejects_malformed(bad: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FixedType.from_json(bad)  # type: ignore[arg-type]


def test_from_json_too_wide_is_range_error() -> None:
    with pytest.raises(FixedPointRangeError, match="exceeds"):
        FixedType.from_json({**_GOOD, "width": 64})


# ----------------------------------------------------------------------------- type properties
@pytest.mark.parametrize(
    "t, lo, hi, frac",
    [
        (FixedType(8, 3), -128, 127, 5),
        (FixedType(8, 3, False), 0, 255, 5),
        (FixedType(1, 1), -1, 0, 0),
        (FixedType(1, 0, False), 0, 1, 1),
        (FixedType(6, 9), -32, 31, -3),
        (FixedType(5, -2, False), 0, 31, 7),
        (FixedType(60, 30), -(2**59), 2**59 - 1, 30),
    ],
)
def test_mantissa_range(t: FixedType, lo: int, hi: int, frac: int) -> None:
    assert (t.min_mantissa, t.max_mantissa, t.frac) == (lo, hi, frac)
    assert t.max_abs_mantissa == max(-lo, hi)


def test_with_modes() -> None:
    t = FixedType(8, 3, False)
    assert t.with_modes(R.RND) == FixedType(8, 3, False, R.RND, O.WRAP)
    assert t.with_modes(overflow=O.SAT) == FixedType(8, 3, False, R.TRN, O.SAT)


def test_width_limits() -> None:
    FixedType(MAX_WIDTH, 10)  # fine
    with pytest.raises(FixedPointRangeError):
        FixedType(MAX_WIDTH + 1, 10)
    with pytest.raises(ValueError):
        FixedType(0, 0)
    with pytest.raises(ValueError):
        FixedType(8, 3.0)  # type: ignore[arg-type]
    assert issubclass(FixedPointRangeError, ValueError)


# ----------------------------------------------------------------------------- from_float
# <8,3>: LSB = 1/32. Ties at +-1/64 and +-3/64, a 0.7-LSB and a -0.3-LSB value.
ROUNDING_TABLE = {
    #                 1/64  3/64  -1/64  -3/64  0.7/32  -0.3/32
    R.TRN: (0, 1, -1, -2, 0, -1),
    R.TRN_ZERO: (0, 1, 0, -1, 0, 0),
    R.RND: (1, 2, 0, -1, 1, 0),
    R.RND_ZERO: (0, 1, 0, -1, 1, 0),
    R.RND_MIN_INF: (0, 1, -1, -2, 1, 0),
    R.RND_INF: (1, 2, -1, -2, 1, 0),
    R.RND_CONV: (0, 2, 0, -2, 1, 0),
}


@pytest.mark.parametrize("q", list(Rounding))
def test_from_float_rounding_table(q: Rounding) -> None:
    x = np.array([1 / 64, 3 / 64, -1 / 64, -3 / 64, 0.7 / 32, -0.3 / 32])
    got = from_float(x, FixedType(8, 3, True, q, O.SAT))
    assert got.dtype == np.int64
    assert got.tolist() == list(ROUNDING_TABLE[q])


def test_from_float_exact_values() -> None:
    t = FixedType(8, 3)
    assert from_float(np.array([1.0, -1.0, 0.03125, 0.0, -0.0, 3.96875, -4.0]), t).tolist() == [
        32,
        -32,
        1,
        0,
        0,
        127,
        -128,
    ]
    assert int(from_float(2.5, t)) == 80  # scalar in, 0-d array out
    assert from_float(np.zeros((2, 3)), t).shape == (2, 3)


# <8,3> signed: range [-4, 3.96875]; unsigned: [0, 7.96875]
OVERFLOW_TABLE = [
    # (value, signed, {overflow: expected mantissa}) with TRN rounding
    (5.0, True, {O.WRAP: 160 - 256, O.SAT: 127, O.SAT_ZERO: 0, O.SAT_SYM: 127}),
    (-5.0, True, {O.WRAP: 96, O.SAT: -128, O.SAT_ZERO: 0, O.SAT_SYM: -127}),
    (-4.0, True, {O.WRAP: -128, O.SAT: -128, O.SAT_ZERO: -128, O.SAT_SYM: -127}),
    (-1.0, False, {O.WRAP: 224, O.SAT: 0, O.SAT_ZERO: 0, O.SAT_SYM: 0}),
    (8.0, False, {O.WRAP: 0, O.SAT: 255, O.SAT_ZERO: 0, O.SAT_SYM: 255}),
    (1e10, True, {O.WRAP: 0, O.SAT: 127, O.SAT_ZERO: 0, O.SAT_SYM: 127}),  # 1e10 * 32 = 2**15 * odd
    (-(2.0**70), False, {O.WRAP: 0, O.SAT: 0, O.SAT_ZERO: 0, O.SAT_SYM: 0}),
]


@pytest.mark.parametrize("value, signed, table", OVERFLOW_TABLE)
def test_from_float_overflow_table(value: float, signed: bool, table: dict[Overflow, int]) -> None:
    for o, expected in table.items():
        assert int(from_float(value, FixedType(8, 3, signed, R.TRN, o))) == expected, o


def test_from_float_rounding_carries_into_overflow() -> None:
    # 3.99 * 32 = 127.68 rounds up to 128: one past the signed max
    assert int(from_float(3.99, FixedType(8, 3, True, R.RND, O.SAT))) == 127
    assert int(from_float(3.99, FixedType(8, 3, True, R.RND, O.WRAP))) == -128
    assert int(from_float(3.99, FixedType(8, 3, True, R.RND, O.SAT_ZERO))) == 0
    # -1/64 rounds to 0 (no underflow) or to -1 (underflow) in an unsigned type
    assert int(from_float(-1 / 64, FixedType(8, 3, False, R.RND, O.SAT))) == 0
    assert int(from_float(-1 / 64, FixedType(8, 3, False, R.RND_MIN_INF, O.WRAP))) == 255
    assert int(from_float(-1 / 64, FixedType(8, 3, False, R.RND_MIN_INF, O.SAT))) == 0


def test_from_float_negative_and_large_integer_bits() -> None:
    # <5,-2>: LSB 1/128, signed range [-16, 15]/128
    t = FixedType(5, -2, True, R.TRN, O.SAT)
    assert int(from_float(0.1, t)) == 12  # 12.8 LSB
    assert int(from_float(0.1, t.with_modes(R.RND))) == 13
    assert int(from_float(0.125, t)) == 15  # 16 LSB saturates
    assert int(from_float(0.125, t.with_modes(overflow=O.WRAP))) == -16
    # <6,9>: LSB 8, signed range [-32, 31] * 8
    t = FixedType(6, 9, True, R.TRN, O.WRAP)
    assert int(from_float(100.0, t)) == 12  # 12.5 LSB
    assert int(from_float(100.0, t.with_modes(R.RND))) == 13
    assert int(from_float(100.0, t.with_modes(R.RND_CONV))) == 12
    assert int(from_float(300.0, t)) == 37 - 64
    assert int(from_float(300.0, t.with_modes(overflow=O.SAT))) == 31


def test_sat_sym_one_bit_signed_acts_as_sat() -> None:
    # ap_fixed<1,I,Q,AP_SAT_SYM> writes 1...01 on underflow, which for W=1 is the code -1.
    t = FixedType(1, 1, True, R.TRN, O.SAT_SYM)
    assert from_float(np.array([-1.0, -0.5, -7.0, 0.5, 3.0]), t).tolist() == [-1, -1, -1, 0, 0]
    assert cast(np.array([-4, -1, 5]), 2, t).tolist() == [-1, -1, 0]


def test_from_float_subnormal_like_ap_fixed() -> None:
    # ap_fixed reads a subnormal double with the hidden bit set: 5e-324 (fraction 1) becomes
    # (2**52 + 1) * 2**-1075, i.e. 2**51 + 1/2 LSBs of a type whose LSB is 2**-1074.
    t = FixedType(10, -1064, True, R.TRN, O.WRAP)  # frac = 1074
    assert int(from_float(5e-324, t)) == 0  # low 10 bits of 2**51
    assert int(from_float(5e-324, t.with_modes(R.RND_INF, O.WRAP))) == 1
    assert int(from_float(5e-324, t.with_modes(overflow=O.SAT))) == 511
    # ordinary types only see a tiny positive/negative value
    assert int(from_float(5e-324, FixedType(8, 3, True, R.TRN, O.SAT))) == 0
    assert int(from_float(-5e-324, FixedType(8, 3, True, R.TRN, O.SAT))) == -1
    assert int(from_float(-5e-324, FixedType(8, 3, True, R.RND, O.SAT))) == 0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_from_float_rejects_nan_inf(bad: float) -> None:
    with pytest.raises(ValueError, match="NaN or infinity"):
        from_float(np.array([1.0, bad]), FixedType(8, 3))


@pytest.mark.parametrize("w, i, signed", [(8, 3, True), (8, 3, False), (5, -2, True), (6, 9, False), (24, 10, True)])
def test_from_float_matches_fraction_model(w: int, i: int, signed: bool) -> None:
    rng = np.random.default_rng(w * 100 + i + signed)
    f = w - i
    # dyadic values up to 3 bits finer than the LSB (frequent ties), over twice the range
    fine = rng.integers(-(2 ** (w + 4)), 2 ** (w + 4), 150)
    x = np.concatenate(
        [np.ldexp(fine.astype(np.float64), -(f + 3)), rng.uniform(-(2.0 ** (i + 1)), 2.0 ** (i + 1), 50)]
    )
    for q, o in ALL_MODES:
        t = FixedType(w, i, signed, q, o)
        expected = [ref_convert(Fraction(float(v)), t) for v in x]
        assert from_float(x, t).tolist() == expected, t


# ----------------------------------------------------------------------------- cast
def test_cast_left_shift_is_exact() -> None:
    assert cast(np.array([45, -45]), 4, FixedType(8, 3)).tolist() == [90, -90]


@pytest.mark.parametrize(
    "q, pos, neg",
    [
        (R.TRN, 22, -23),
        (R.TRN_ZERO, 22, -22),
        (R.RND, 23, -22),
        (R.RND_ZERO, 22, -22),
        (R.RND_MIN_INF, 22, -23),
        (R.RND_INF, 23, -23),
        (R.RND_CONV, 22, -22),
    ],
)
def test_cast_ties(q: Rounding, pos: int, neg: int) -> None:
    # +-45/64 = +-22.5 LSBs of <8,3>
    assert cast(np.array([45, -45]), 6, FixedType(8, 3, True, q, O.SAT)).tolist() == [pos, neg]


def test_cast_sat_sym_most_negative() -> None:
    t = FixedType(8, 3, True, R.TRN, O.SAT_SYM)
    # -4.0 from a signed source is representable but SAT_SYM maps it to -max
    assert cast(np.array([-128, -258, 127, 0]), 5, t).tolist() == [-127, -127, 127, 0]
    assert cast(np.array([-256]), 6, t).tolist() == [-127]


def test_cast_huge_shifts() -> None:
    # source LSB far below the target LSB: only the sign survives
    tiny = np.array([1, -1, 0], dtype=np.int64)
    assert cast(tiny, 100, FixedType(8, 3, True, R.TRN, O.SAT)).tolist() == [0, -1, 0]
    assert cast(tiny, 100, FixedType(8, 3, True, R.RND, O.SAT)).tolist() == [0, 0, 0]
    assert cast(tiny, 100, FixedType(8, 3, True, R.TRN_ZERO, O.SAT)).tolist() == [0, 0, 0]
    # source LSB far above the target MSB: everything nonzero overflows
    t = FixedType(8, -60)  # frac 68
    assert cast(tiny, 0, t).tolist() == [0, 0, 0]
    assert cast(tiny, 0, t.with_modes(overflow=O.SAT)).tolist() == [127, -128, 0]


def test_cast_accepts_ints_rejects_floats() -> None:
    assert cast(3, 0, FixedType(8, 3)).tolist() == 96
    assert cast(np.array([3], dtype=np.int32), 0, FixedType(8, 3)).tolist() == [96]
    with pytest.raises(TypeError, match="integers"):
        cast(np.array([1.5]), 0, FixedType(8, 3))


@pytest.mark.parametrize("src_frac", [12, 5, 2, -3])
def test_cast_matches_fraction_model(src_frac: int) -> None:
    rng = np.random.default_rng(src_frac + 50)
    m = rng.integers(-(2**20), 2**20, 200)
    for w, i, signed in [(8, 3, True), (8, 3, False), (6, 9, True), (5, -2, False)]:
        for q, o in ALL_MODES:
            t = FixedType(w, i, signed, q, o)
            expected = [ref_convert(Fraction(int(v), 1) / Fraction(2) ** src_frac, t) for v in m]
            assert cast(m, src_frac, t).tolist() == expected, (t, src_frac)


def test_to_float_and_representable() -> None:
    t = FixedType(8, 3)
    assert to_float(np.array([32, -1, 127]), t).tolist() == [1.0, -0.03125, 3.96875]
    assert to_float(np.array([3]), -2).tolist() == [12.0]
    # mantissas at frac 6: 1/32 yes, 1/64 no (below LSB), 4.0 no (above max), -4.0 yes
    assert t.representable(np.array([2, 1, 256, -256]), 6).tolist() == [True, False, False, True]


# ----------------------------------------------------------------------------- arithmetic
@pytest.mark.parametrize(
    "a, b, mul, add",
    [
        (FixedType(8, 3), FixedType(16, 6), FixedType(24, 9), FixedType(17, 7)),
        (FixedType(12, 0, False), FixedType(8, 3), FixedType(20, 3), FixedType(16, 4)),
        (FixedType(6, 9, False), FixedType(2, 1, False), FixedType(8, 10, False), FixedType(11, 10, False)),
        (FixedType(5, -2), FixedType(6, 9, False), FixedType(11, 7), FixedType(18, 11)),
        (FixedType(16, 16, False), FixedType(16, 16), FixedType(32, 32), FixedType(18, 18)),
    ],
)
def test_result_types(a: FixedType, b: FixedType, mul: FixedType, add: FixedType) -> None:
    assert mul_type(a, b) == mul
    assert add_type(a, b) == add
    # modes of the operands do not matter; results are TRN/WRAP
    assert mul_type(a.with_modes(R.RND, O.SAT), b) == mul


def test_result_type_too_wide() -> None:
    with pytest.raises(FixedPointRangeError):
        mul_type(FixedType(40, 10), FixedType(30, 10))
    with pytest.raises(FixedPointRangeError):
        add_type(FixedType(60, 10), FixedType(60, 10))


def _frac_value(m: int, t: FixedType) -> Fraction:
    return Fraction(m) / Fraction(2) ** t.frac


@pytest.mark.parametrize(
    "a, b",
    [
        (FixedType(8, 3), FixedType(16, 6)),
        (FixedType(12, 0, False), FixedType(8, 3)),
        (FixedType(5, -2), FixedType(6, 9, False)),
        (FixedType(30, 5), FixedType(30, -3)),
        (FixedType(1, 1), FixedType(1, 0, False)),
    ],
)
def test_mul_add_exact(a: FixedType, b: FixedType) -> None:
    rng = np.random.default_rng(a.width * 7 + b.width)
    ma = np.concatenate([[a.min_mantissa, a.max_mantissa, 0], rng.integers(a.min_mantissa, a.max_mantissa + 1, 300)])
    mb = np.concatenate(
        [[b.min_mantissa, b.min_mantissa, b.max_mantissa], rng.integers(b.min_mantissa, b.max_mantissa + 1, 300)]
    )
    prod, pt = fixed_mul(ma, a, mb, b)
    summ, st = fixed_add(ma, a, mb, b)
    assert pt == mul_type(a, b) and st == add_type(a, b)
    assert prod.dtype == np.int64 and summ.dtype == np.int64
    for x, y, p, s in zip(ma.tolist(), mb.tolist(), prod.tolist(), summ.tolist(), strict=True):
        assert _frac_value(p, pt) == _frac_value(x, a) * _frac_value(y, b)
        assert _frac_value(s, st) == _frac_value(x, a) + _frac_value(y, b)
        assert pt.min_mantissa <= p <= pt.max_mantissa
        assert st.min_mantissa <= s <= st.max_mantissa


# ----------------------------------------------------------------------------- min_exact_type
def test_min_exact_type() -> None:
    t = min_exact_type(np.array([0.5, -0.25, 1.75]))
    assert t == FixedType(4, 2, True, R.RND_CONV, O.SAT)  # LSB 1/4, range [-2, 1.75]
    assert min_exact_type(np.array([-2.0])) == FixedType(2, 3, True, R.RND_CONV, O.SAT)  # {-4, -2, 0, 2}
    assert min_exact_type(np.array([-1.0, 0.5])) == FixedType(2, 1, True, R.RND_CONV, O.SAT)
    assert min_exact_type(np.zeros(4)) == FixedType(2, 1, True, R.RND_CONV, O.SAT)
    assert min_exact_type(np.array([0.1])) is None  # 0.1 needs 55 bits
    assert min_exact_type(np.array([1.0, np.nan])) is None
    v = np.array([1 + 1 / 1024])  # 1025 * 2**-10: 11 magnitude bits + sign
    assert min_exact_type(v, max_width=11) is None
    assert min_exact_type(v, max_width=12) == FixedType(12, 2, True, R.RND_CONV, O.SAT)


def test_min_exact_type_holds_values_exactly() -> None:
    rng = np.random.default_rng(7)
    v = np.ldexp(rng.integers(-500, 500, 40).astype(np.float64), -6)
    t = min_exact_type(v)
    assert t is not None
    for x in v.tolist():
        assert ref_convert(Fraction(x), t.with_modes(R.TRN, O.SAT_ZERO)) / Fraction(2) ** t.frac == Fraction(x)
    # and one bit fewer would not do
    smaller = FixedType(t.width - 1, t.integer - 1, True, R.TRN, O.SAT_ZERO)
    assert any(ref_convert(Fraction(x), smaller) / Fraction(2) ** smaller.frac != Fraction(x) for x in v.tolist())


# ------------------------------------------------- fast paths equal the exact decomposition
def _fast_path_inputs(t: FixedType, rng: np.random.Generator) -> np.ndarray:
    lsb = math.ldexp(1.0, -t.frac)
    m = np.arange(t.min_mantissa - 3, t.max_mantissa + 4, max(1, (t.max_mantissa - t.min_mantissa) // 200))
    ties = np.concatenate([(m + 0.5) * lsb, (m + 0.25) * lsb, (m + 0.75) * lsb, m * lsb])
    edges = np.array([0.0, -0.0, lsb / 2, -lsb / 2, lsb * (1 - 2**-40), -lsb * (1 - 2**-40),
                      2.0**51 * lsb, -(2.0**51) * lsb, (2.0**52 - 1) * lsb, -(2.0**52 - 0.5) * lsb,
                      1e-300, -1e-300, 5e-324, -5e-324, 2.2250738585072014e-308, 1e300, -1e300])
    rand = rng.uniform(-4, 4, 4000) * lsb * 2.0 ** rng.integers(0, t.width + 2, 4000)
    return np.concatenate([ties, edges, rand])


@pytest.mark.parametrize("q, o", ALL_MODES)
@pytest.mark.parametrize("w, i, signed", [(8, 3, True), (8, 3, False), (5, -2, True), (6, 9, False), (40, 20, True)])
def test_from_float_fast_path_equals_exact_path(w: int, i: int, signed: bool, q: Rounding, o: Overflow) -> None:
    """The float64 fast path of from_float gives the mantissas of the IEEE-field decomposition,
    on ties, quarter steps, out-of-range values, subnormals and huge values (which fall back)."""
    from fpga_flow import fixed

    t = FixedType(w, i, signed, q, o)
    x = _fast_path_inputs(t, np.random.default_rng(w * 100 + i))
    exact = fixed._from_float_exact(x, t)
    np.testing.assert_array_equal(from_float(x, t), exact)
    smallest = max(2.2250738585072014e-308, math.ldexp(2.2250738585072014e-308, -t.frac))  # x and x * 2**frac normal
    normal = x[(np.abs(x) >= smallest) & (np.abs(x) < math.ldexp(1.0, 52 - t.frac))]
    fast = fixed._from_float_scaled(normal, t)
    assert fast is not None  # the fast path is taken where it is exact ...
    np.testing.assert_array_equal(fast, fixed._from_float_exact(normal, t))
    assert fixed._from_float_scaled(np.array([5e-324, 1.0]), t) is None  # ... and refused on a subnormal


@pytest.mark.parametrize("q, o", ALL_MODES)
def test_cast_fast_paths_equal_per_element_shifts(q: Rounding, o: Overflow) -> None:
    """cast with one shift for the whole array equals the same cast with per-element shift arrays."""
    from fpga_flow import fixed

    rng = np.random.default_rng(3)
    m = np.concatenate([rng.integers(-(2**20), 2**20, 3000), np.arange(-70, 71), [2**30, -(2**30)]])
    for t in (FixedType(8, 3, True, q, o), FixedType(7, 2, False, q, o)):
        for src_frac in (12, 5, 0):
            s = src_frac - t.frac
            if s > 0:
                ref = fixed._overflow(fixed._round_shift(m, np.full(m.shape, s), t.rounding), np.zeros(m.shape, int), t,
                                      True)
            else:
                ref = fixed._overflow(m, np.full(m.shape, -s), t, True)
            got = cast(m, src_frac, t)
            np.testing.assert_array_equal(got, ref)
            assert got is not m
