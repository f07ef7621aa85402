"""An independent exact reference for the CNN operators (tests only).

Written from the ONNX operator definitions (Conv, MaxPool, AveragePool, GlobalAveragePool,
BatchNormalization, Add, Concat, Flatten, Gemm/MatMul, QONNX Quant) and the documented
BatchNormalization folding rule of the issue-11 contract. It shares no code with fpga_flow: no
``fpga_flow.fixed`` cast, no IR reference. ``FixedType`` / ``Rounding`` / ``Overflow`` are used only as
plain descriptions of a target format (width, integer bits, signedness, mode names); every rounding
and overflow rule is re-implemented here on Python integers.

Values are :class:`Fx`: integer mantissas and one binary point (value = m * 2**-frac). Arithmetic is
on int64 numpy arrays with an explicit bound check before every multiply-accumulate (so an int64
overflow can never go unnoticed), or on Python ints / ``Fraction`` where a division or a float64
parameter is involved.
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import onnx
from onnx import numpy_helper

from fpga_flow.fixed import FixedType, Overflow, Rounding

__all__ = [
    "Fx",
    "add",
    "avgpool2d",
    "bn_fold",
    "concat",
    "conv2d",
    "exact_float",
    "fx_from_float",
    "global_avgpool",
    "linear",
    "maxpool2d",
    "quant",
    "requantize",
    "round_int",
    "run_qonnx_exact",
    "scale",
]

_LIMIT = 1 << 62


@dataclass(frozen=True)
class Fx:
    """Exact dyadic values: ``m * 2**-frac`` (``m`` an int64 array)."""

    m: np.ndarray
    frac: int

    def at(self, frac: int) -> np.ndarray:
        """Mantissas at a finer (or equal) binary point, exactly."""
        if frac < self.frac:
            raise ValueError(f"cannot move {self.frac} fractional bits to {frac} exactly")
        _check_bound(int(np.abs(self.m).max(initial=0)) << (frac - self.frac), "alignment")
        return np.asarray(self.m, dtype=np.int64) << (frac - self.frac)

    def fractions(self) -> np.ndarray:
        out = np.empty(self.m.shape, dtype=object)
        for idx, v in np.ndenumerate(self.m):
            out[idx] = Fraction(int(v), 1 << self.frac) if self.frac >= 0 else Fraction(int(v) << -self.frac)
        return out

    def floats(self) -> np.ndarray:
        """float64 values (exact: every mantissa here stays below 2**53)."""
        assert int(np.abs(self.m).max(initial=0)) < (1 << 53)
        return np.asarray(self.m, dtype=np.float64) * (2.0 ** -self.frac)


def _check_bound(bound: int, what: str) -> None:
    if bound >= _LIMIT:
        raise OverflowError(f"exact_cnn: {what} could exceed int64 ({bound.bit_length()} bits)")


def exact_float(v: float) -> Fraction:
    """The exact rational value of a float (float32 values are dyadic)."""
    return Fraction(float(v))


def fx_from_float(a: np.ndarray) -> Fx:
    """Exact Fx of float data (float32/float64): the common binary point of all the values."""
    a = np.asarray(a, dtype=np.float64)
    fr = [exact_float(v) for v in a.ravel()]
    frac = max((f.denominator.bit_length() - 1 for f in fr), default=0)
    m = np.array([int(f * (1 << frac)) for f in fr], dtype=object)
    assert all(f * (1 << frac) == int(f * (1 << frac)) for f in fr)
    _check_bound(max((abs(int(v)) for v in m), default=0), "float import")
    return Fx(m.astype(np.int64).reshape(a.shape), frac)


# ----------------------------------------------------------------------------- rounding / overflow
def round_int(num: int, den: int, mode: Rounding) -> int:
    """``num / den`` (den > 0) rounded to an integer with an ap_fixed rounding mode, in integers."""
    assert den > 0
    q, r = divmod(num, den)  # floor, remainder in [0, den)
    if r == 0 or mode is Rounding.TRN:
        return q
    neg = num < 0
    if mode is Rounding.TRN_ZERO:
        return q + 1 if neg else q
    twice = 2 * r
    if twice > den:
        return q + 1
    if twice < den:
        return q
    # an exact tie
    if mode is Rounding.RND:
        return q + 1
    if mode is Rounding.RND_ZERO:
        return q + 1 if neg else q
    if mode is Rounding.RND_MIN_INF:
        return q
    if mode is Rounding.RND_INF:
        return q if neg else q + 1
    if mode is Rounding.RND_CONV:
        return q + (q & 1)
    raise AssertionError(mode)


def _range(t: FixedType) -> tuple[int, int]:
    if t.signed:
        return -(1 << (t.width - 1)), (1 << (t.width - 1)) - 1
    return 0, (1 << t.width) - 1


def _overflow(q: int, t: FixedType) -> int:
    lo, hi = _range(t)
    if lo <= q <= hi:
        return q
    o = t.overflow
    if o is Overflow.WRAP:
        w = q % (1 << t.width)
        return w - (1 << t.width) if t.signed and w > hi else w
    if o is Overflow.SAT:
        return hi if q > hi else lo
    if o is Overflow.SAT_ZERO:
        return 0
    if o is Overflow.SAT_SYM:
        if q > hi:
            return hi
        return -hi if t.signed else lo
    raise AssertionError(o)


def _requant_scalar(num: int, den: int, src_frac: int, t: FixedType) -> int:
    """The value ``num / den * 2**-src_frac`` cast to ``t`` (one rounding, then overflow)."""
    s = t.frac - src_frac  # target mantissa = num * 2**s / den
    if s >= 0:
        num <<= s
    else:
        den <<= -s
    q = round_int(num, den, t.rounding)
    if t.overflow is Overflow.SAT_SYM and t.signed and q == -(1 << (t.width - 1)):
        return -((1 << (t.width - 1)) - 1)  # the symmetric range excludes the most negative code
    return _overflow(q, t)


def requantize(x: Fx, t: FixedType, divisor: np.ndarray | int = 1) -> Fx:
    """``x / divisor`` (exact rationals) cast to ``t``: one rounding with ``t.rounding``, then
    ``t.overflow``. ``divisor`` holds positive integers broadcast against ``x.m``."""
    m = np.asarray(x.m, dtype=object)
    d = np.broadcast_to(np.asarray(divisor, dtype=object), m.shape)
    out = np.empty(m.shape, dtype=np.int64)
    for idx, v in np.ndenumerate(m):
        out[idx] = _requant_scalar(int(v), int(d[idx]), x.frac, t)
    return Fx(out, t.frac)


# ----------------------------------------------------------------------------- window geometry
def _out_size(n: int, k: int, s: int, p0: int, p1: int) -> int:
    # ONNX (ceil_mode=0, dilation 1): floor((n + p0 + p1 - k) / s) + 1
    return (n + p0 + p1 - k) // s + 1


def _pads4(pads) -> tuple[int, int, int, int]:
    """ONNX pads [top, left, bottom, right]; a pair (ph, pw) or an int means symmetric."""
    if isinstance(pads, int):
        return pads, pads, pads, pads
    pads = tuple(int(p) for p in pads)
    if len(pads) == 2:
        return pads[0], pads[1], pads[0], pads[1]
    assert len(pads) == 4
    return pads  # type: ignore[return-value]


# ----------------------------------------------------------------------------- operators
def conv2d(x: Fx, w: Fx, b: Fx | None = None, stride=(1, 1), pads=0, groups: int = 1) -> Fx:
    """ONNX Conv (zero padding, dilation 1): ``y[n,co,oy,ox] = b[co] + sum_{ci,ky,kx}
    W[co,ci,ky,kx] * xpad[n, g*Cg+ci, oy*sh+ky, ox*sw+kx]``, exact, at frac ``x.frac + w.frac``
    (or the bias frac when finer)."""
    n, c, h, wd = x.m.shape
    co_n, cg, kh, kw = w.m.shape
    assert c % groups == 0 and co_n % groups == 0 and cg == c // groups, (c, co_n, cg, groups)
    og = co_n // groups
    top, left, bottom, right = _pads4(pads)
    sh, sw = stride
    ho, wo = _out_size(h, kh, sh, top, bottom), _out_size(wd, kw, sw, left, right)
    frac = x.frac + w.frac
    if b is not None:
        frac = max(frac, b.frac)
    shift = frac - (x.frac + w.frac)
    xmax = int(np.abs(x.m).max(initial=0))
    wabs = np.abs(w.m).astype(object).reshape(co_n, -1).sum(axis=1)
    bmax = int(np.abs(b.at(frac)).max(initial=0)) if b is not None else 0
    _check_bound((int(max(wabs, default=0)) * xmax << shift) + bmax, "conv accumulator")
    xp = np.zeros((n, c, h + top + bottom, wd + left + right), dtype=np.int64)
    xp[:, :, top : top + h, left : left + wd] = x.m
    acc = np.zeros((n, co_n, ho, wo), dtype=np.int64)
    for co in range(co_n):
        g = co // og
        for ci in range(cg):
            for ky in range(kh):
                for kx in range(kw):
                    wv = int(w.m[co, ci, ky, kx])
                    if wv == 0:
                        continue
                    patch = xp[:, g * cg + ci, ky : ky + sh * (ho - 1) + 1 : sh, kx : kx + sw * (wo - 1) + 1 : sw]
                    acc[:, co] += wv * patch
    acc <<= shift
    if b is not None:
        acc += b.at(frac).reshape(1, co_n, 1, 1)
    return Fx(acc, frac)


def linear(x: Fx, w: Fx, b: Fx | None = None) -> Fx:
    """Gemm with transB=1: ``y[n, j] = b[j] + sum_i W[j, i] x[n, i]``, exact."""
    frac = x.frac + w.frac
    if b is not None:
        frac = max(frac, b.frac)
    shift = frac - (x.frac + w.frac)
    xmax = int(np.abs(x.m).max(initial=0))
    wabs = np.abs(w.m).astype(object).sum(axis=1)
    bmax = int(np.abs(b.at(frac)).max(initial=0)) if b is not None else 0
    _check_bound((int(max(wabs, default=0)) * xmax << shift) + bmax, "linear accumulator")
    xo = np.asarray(x.m, dtype=object)
    wo = np.asarray(w.m, dtype=object)
    acc = (xo @ wo.T) * (1 << shift)
    if b is not None:
        acc = acc + np.asarray(b.at(frac), dtype=object)[None, :]
    return Fx(acc.astype(np.int64), frac)


def _window_positions(n: int, k: int, s: int, p0: int, p1: int):
    """For each output index: the in-image input range [lo, hi) and the full window count."""
    for o in range(_out_size(n, k, s, p0, p1)):
        start = o * s - p0
        yield o, max(start, 0), min(start + k, n)


def maxpool2d(x: Fx, kernel, stride=None, pads=0) -> Fx:
    """ONNX MaxPool: the max over the in-image elements of each window (padding never wins)."""
    kh, kw = kernel
    sh, sw = stride or kernel
    top, left, bottom, right = _pads4(pads)
    n, c, h, w = x.m.shape
    ho, wo = _out_size(h, kh, sh, top, bottom), _out_size(w, kw, sw, left, right)
    out = np.empty((n, c, ho, wo), dtype=np.int64)
    for oy, y0, y1 in _window_positions(h, kh, sh, top, bottom):
        for ox, x0, x1 in _window_positions(w, kw, sw, left, right):
            out[:, :, oy, ox] = x.m[:, :, y0:y1, x0:x1].max(axis=(2, 3))
    return Fx(out, x.frac)


def avgpool2d(x: Fx, kernel, stride=None, pads=0, count_include_pad: bool = False) -> tuple[Fx, np.ndarray]:
    """ONNX AveragePool (ceil_mode=0) as an exact ratio: ``(window sums, counts)``. The count is
    ``kh*kw`` when ``count_include_pad`` or the number of in-image elements otherwise."""
    kh, kw = kernel
    sh, sw = stride or kernel
    top, left, bottom, right = _pads4(pads)
    n, c, h, w = x.m.shape
    ho, wo = _out_size(h, kh, sh, top, bottom), _out_size(w, kw, sw, left, right)
    sums = np.empty((n, c, ho, wo), dtype=np.int64)
    counts = np.empty((ho, wo), dtype=np.int64)
    for oy, y0, y1 in _window_positions(h, kh, sh, top, bottom):
        for ox, x0, x1 in _window_positions(w, kw, sw, left, right):
            sums[:, :, oy, ox] = x.m[:, :, y0:y1, x0:x1].sum(axis=(2, 3))
            counts[oy, ox] = kh * kw if count_include_pad else (y1 - y0) * (x1 - x0)
    return Fx(sums, x.frac), counts


def global_avgpool(x: Fx) -> tuple[Fx, np.ndarray]:
    """ONNX GlobalAveragePool: the sum over H and W of each channel and the count H*W."""
    n, c, h, w = x.m.shape
    return Fx(x.m.sum(axis=(2, 3), keepdims=True), x.frac), np.full((1, 1), h * w, dtype=np.int64)


def add(*xs: Fx) -> Fx:
    """Exact element-wise sum at the finest binary point."""
    frac = max(v.frac for v in xs)
    parts = [v.at(frac) for v in xs]
    _check_bound(sum(int(np.abs(p).max(initial=0)) for p in parts), "add")
    return Fx(sum(parts[1:], start=parts[0].copy()), frac)


def concat(*xs: Fx, axis: int = 1) -> Fx:
    """Channel concatenation, exact at the finest binary point."""
    frac = max(v.frac for v in xs)
    return Fx(np.concatenate([v.at(frac) for v in xs], axis=axis), frac)


def relu(x: Fx) -> Fx:
    return Fx(np.maximum(x.m, 0), x.frac)


# ----------------------------------------------------------------------------- BatchNormalization folding
@dataclass(frozen=True)
class BnFold:
    """The documented fold of BN into a per-channel scale: ``y = x*mult*2^-(fx+fm) + offset*2^-(fx+fm)``."""

    mult: np.ndarray  # int mantissas at frac fm
    fm: int
    offset: np.ndarray  # int mantissas at frac fx + fm
    fx: int
    pow2: bool


def _is_pow2(v: float) -> bool:
    if v <= 0 or not math.isfinite(v):
        return False
    m, _ = math.frexp(v)
    return m == 0.5


def bn_fold(gamma, beta, mean, var, eps: float, fx: int, mult_bits: int = 25) -> BnFold:
    """The issue-11 rule, computed here independently.

    1. ``s_c = gamma_c / sqrt(var_c + eps)`` in float64 (float32 parameters converted to float64).
    2. every ``s_c`` an exact power of two: exact multipliers at the finest frac of the ``s_c``;
       otherwise a signed 25-bit multiplier ``FixedType(25, I)``, ``I`` the smallest integer width
       whose rounded mantissas ``round_half_even(s_c * 2**(25-I))`` fit in 25 bits (``mult_bits``
       other than 25 is not the documented rule: tests use it to show where a difference comes from).
    3. ``offset_c = beta_c - mean_c * mult_c * 2**-fm`` exactly, rounded half to even to ``2**-(fx+fm)``.
    """
    g64 = np.asarray(gamma, dtype=np.float32).astype(np.float64)
    v64 = np.asarray(var, dtype=np.float32).astype(np.float64)
    e64 = np.float64(np.float32(eps))
    s = g64 / np.sqrt(v64 + e64)
    sf = [exact_float(v) for v in s]
    if all(_is_pow2(abs(float(v))) for v in s):  # note: a zero or negative s_c is never a power of two
        fm = max(f.denominator.bit_length() - 1 for f in sf)
        fm = max(fm, 0)
        mult = [int(f * (1 << fm)) for f in sf]
        pow2 = True
    else:
        pow2 = False
        for integer in range(-64, 80):
            fm = mult_bits - integer
            scaled = [f * 2**fm for f in sf]
            mult = [round_int(q.numerator, q.denominator, Rounding.RND_CONV) for q in scaled]
            if all(-(1 << (mult_bits - 1)) <= m <= (1 << (mult_bits - 1)) - 1 for m in mult):
                break
        else:  # pragma: no cover
            raise AssertionError("no 25-bit multiplier type")
    lsb = fx + fm
    offset = []
    for b_c, m_c, mu_c in zip(np.asarray(beta, np.float32), mult, np.asarray(mean, np.float32), strict=True):
        o = exact_float(b_c) - exact_float(mu_c) * Fraction(m_c, 1) / Fraction(2) ** fm
        o = o * Fraction(2) ** lsb
        offset.append(round_int(o.numerator, o.denominator, Rounding.RND_CONV))
    return BnFold(np.array(mult, dtype=np.int64), fm, np.array(offset, dtype=np.int64), fx, pow2)


def scale(x: Fx, mult: np.ndarray, fm: int, offset: np.ndarray, fo: int, do_relu: bool, out: FixedType,
          divisor: np.ndarray | None = None) -> Fx:
    """Per-channel ``cast(act(x*mult_c*2^-(fx+fm) + offset_c*2^-fo) / divisor_c, out)`` exactly
    (channel = axis 1 of ``x.m``)."""
    shape = (1, -1) + (1,) * (x.m.ndim - 2)
    frac = max(x.frac + fm, fo)
    xo = np.asarray(x.m, dtype=object)
    acc = xo * np.asarray(mult, dtype=object).reshape(shape) * (1 << (frac - x.frac - fm))
    acc = acc + np.asarray(offset, dtype=object).reshape(shape) * (1 << (frac - fo))
    if do_relu:
        acc = np.where(acc > 0, acc, 0)
    d = np.ones(1, dtype=object) if divisor is None else np.asarray(divisor, dtype=object).reshape(shape)
    db = np.broadcast_to(d, acc.shape)
    m = np.empty(acc.shape, dtype=np.int64)
    for idx, v in np.ndenumerate(acc):
        m[idx] = _requant_scalar(int(v), int(db[idx]), frac, out)
    return Fx(m, out.frac)


def bn_exact(x: Fx, gamma, beta, mean, var, eps: float, do_relu: bool, out: FixedType) -> Fx:
    """The ONNX ``BatchNormalization`` of ``x`` computed as real numbers, the float32 parameters taken
    as the exact rationals they are (then the ReLU and ONE rounding to ``out``): 120-digit decimals,
    so every value is decided (an irrational value is never a tie; asserted far from a boundary)."""
    ctx = decimal.Context(prec=120)
    d = [[ctx.create_decimal_from_float(float(np.float32(v))) for v in np.asarray(a).reshape(-1)]
         for a in (gamma, beta, mean, var)]
    e = ctx.create_decimal_from_float(float(np.float32(eps)))
    s = [ctx.divide(g, ctx.sqrt(ctx.add(v, e))) for g, v in zip(d[0], d[3], strict=True)]
    hp = out.frac + 100  # a floor-rounded mantissa this fine rounds exactly like the real value
    scale = ctx.power(decimal.Decimal(2), hp)
    inv = ctx.power(decimal.Decimal(2), -x.frac)
    m = np.empty(x.m.shape, dtype=np.int64)
    for idx, xv in np.ndenumerate(x.m):
        c = idx[1]
        y = ctx.add(ctx.multiply(ctx.subtract(ctx.multiply(decimal.Decimal(int(xv)), inv), d[2][c]), s[c]), d[1][c])
        if do_relu and y < 0:
            y = decimal.Decimal(0)
        t = ctx.multiply(y, scale)
        fl = int(t.to_integral_value(rounding=decimal.ROUND_FLOOR))
        m[idx] = _requant_scalar(fl, 1, hp, out)
    return Fx(m, out.frac)


# ----------------------------------------------------------------------------- QONNX Quant
def _pow2_frac(scale_v: float) -> int:
    f = exact_float(scale_v)
    assert f > 0 and (f.numerator == 1 or f.denominator == 1), f"not a power of two: {scale_v}"
    if f.denominator == 1:
        assert f.numerator & (f.numerator - 1) == 0
        return -(f.numerator.bit_length() - 1)
    assert f.denominator & (f.denominator - 1) == 0
    return f.denominator.bit_length() - 1


def _float_parts(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(m, e)`` int64 arrays with ``a == m * 2**e`` for finite float64 data (|m| < 2**53)."""
    a = np.asarray(a, dtype=np.float64)
    assert np.all(np.isfinite(a))
    fr, ex = np.frexp(a)
    m = np.ldexp(fr, 53).astype(np.int64)  # exact: fr has at most 53 significant bits
    return m, ex.astype(np.int64) - 53


def _shift_round(m: np.ndarray, s: np.ndarray, mode: str) -> np.ndarray:
    """``m / 2**s`` (``s >= 0``, |m| < 2**62) rounded to an integer: ROUND = half to even, FLOOR."""
    m = np.asarray(m, dtype=np.int64)
    s = np.minimum(np.broadcast_to(np.asarray(s, dtype=np.int64), m.shape), 62)  # |m| < 2**62: sign kept, < 1/2
    q = m >> s
    if mode == "FLOOR":
        return q
    if mode != "ROUND":
        raise NotImplementedError(mode)
    r = m - (q << s)  # remainder in [0, 2**s)
    half = np.where(s > 0, np.left_shift(np.int64(1), np.maximum(s - 1, 0)), 1)  # s == 0: r == 0 < half
    inc = (r > half) | ((r == half) & ((q & 1) == 1))
    return q + inc


def quant(x: np.ndarray | Fx, scale_arr: np.ndarray, bits: int, signed: bool, narrow: bool,
          mode: str = "ROUND") -> Fx:
    """QONNX Quant with a power-of-two scale and zero point 0: ``clamp(round(x / s)) * s`` exactly.

    ``x`` is float data (taken exactly) or an :class:`Fx`; ``scale_arr`` a scalar or per-channel
    scales broadcasting against ``x`` (e.g. ``[C,1,1,1]``); the result is at the finest scale's frac.
    Clamping to the integer range before or after rounding is the same (the bounds are integers).
    """
    sc = np.asarray(scale_arr, dtype=np.float64)
    fr = np.vectorize(_pow2_frac, otypes=[np.int64])(sc.reshape(-1)).reshape(sc.shape)
    lo = (-(1 << (bits - 1)) + (1 if narrow else 0)) if signed else 0
    hi = ((1 << (bits - 1)) - 1) if signed else ((1 << bits) - 1 - (1 if narrow else 0))
    if isinstance(x, Fx):
        m, e = np.asarray(x.m, dtype=np.int64), np.full(x.m.shape, -x.frac, dtype=np.int64)
    else:
        m, e = _float_parts(np.asarray(x))
    f = np.broadcast_to(fr, m.shape)
    k = e + f  # x / s = m * 2**k
    up = np.maximum(k, 0)
    assert int(np.abs(m).max(initial=0)).bit_length() + int(up.max(initial=0)) < 62, "Quant input too large"
    q = np.where(k >= 0, m << up, _shift_round(m, np.maximum(-k, 0), mode))
    q = np.clip(q, lo, hi)
    fmax = int(fr.max())
    return Fx(q << (fmax - f), fmax)


# ----------------------------------------------------------------------------- a QONNX interpreter
def _attrs(node: onnx.NodeProto) -> dict:
    res = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        res[a.name] = v.decode() if isinstance(v, bytes) else v
    return res


def _quant_type_of(node: onnx.NodeProto, env: dict) -> FixedType:
    """The fixed-point type a Quant produces (for a BN fold's output): RND_CONV (ROUND) or TRN
    (FLOOR), saturating (narrow -> symmetric), width = bit width, frac from the scale."""
    a = _attrs(node)
    bits = int(np.asarray(env[node.input[3]]).ravel()[0])
    f = _pow2_frac(float(np.asarray(env[node.input[1]]).ravel()[0]))
    rnd = Rounding.RND_CONV if a.get("rounding_mode", "ROUND") == "ROUND" else Rounding.TRN
    signed = bool(a.get("signed", 1))
    ovf = Overflow.SAT_SYM if (a.get("narrow", 0) and signed) else Overflow.SAT
    return FixedType(bits, bits - f, signed, rnd, ovf)


def run_qonnx_exact(model: onnx.ModelProto, x: np.ndarray, bn_mult_bits: int | None = None) -> Fx:
    """Exact output of a QONNX model with power-of-two Quant scales for float input ``x``.

    Every activation is an :class:`Fx`. A ``BatchNormalization`` follows the documented fold (its
    output is requantized once to the type of the ``Quant`` after its ``Relu``; the only pattern the
    test models contain). Raises NotImplementedError for anything else.
    """
    g = model.graph
    consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for node in g.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(_attrs(node)["value"])
    inp = [i.name for i in g.input if i.name not in consts][0]
    env: dict[str, object] = dict(consts)
    env[inp] = np.asarray(x, dtype=np.float64)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in g.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    done: set[str] = set()  # output tensors already computed by a fused pattern

    def fx(name: str) -> Fx:
        v = env[name]
        return v if isinstance(v, Fx) else fx_from_float(np.asarray(v))

    for node in g.node:
        if node.output[0] in done:
            continue
        op, a = node.op_type, _attrs(node)
        ins = list(node.input)
        if op == "Constant":
            continue
        if op == "Quant":
            src = env[ins[0]]
            r = quant(src, np.asarray(env[ins[1]]), int(np.asarray(env[ins[3]]).ravel()[0]), bool(a.get("signed", 1)),
                      bool(a.get("narrow", 0)), a.get("rounding_mode", "ROUND"))
            assert float(np.abs(np.asarray(env[ins[2]])).max()) == 0.0, "zero point must be 0"
        elif op == "Conv":
            assert all(d == 1 for d in a.get("dilations", [1, 1])) and a.get("auto_pad", "NOTSET") == "NOTSET"
            b = fx(ins[2]) if len(ins) > 2 and ins[2] else None
            r = conv2d(fx(ins[0]), fx(ins[1]), b, tuple(a.get("strides", [1, 1])), a.get("pads", [0, 0, 0, 0]),
                       int(a.get("group", 1)))
        elif op == "Relu":
            r = relu(fx(ins[0]))
        elif op == "MaxPool":
            assert a.get("ceil_mode", 0) == 0
            k = tuple(a["kernel_shape"])
            r = maxpool2d(fx(ins[0]), k, tuple(a.get("strides", k)), a.get("pads", [0, 0, 0, 0]))
        elif op in ("Flatten",):
            v = fx(ins[0])
            r = Fx(v.m.reshape(v.m.shape[0], -1), v.frac)
        elif op == "Reshape":
            v = fx(ins[0])
            shape = [int(s) for s in np.asarray(env[ins[1]]).ravel()]
            shape[0] = v.m.shape[0] if shape[0] in (0, 1, -1) else shape[0]
            r = Fx(v.m.reshape(shape), v.frac)
        elif op == "Transpose":
            v = fx(ins[0])
            r = Fx(np.transpose(v.m, a.get("perm")), v.frac)
        elif op == "MatMul":
            w = fx(ins[1])
            r = linear(fx(ins[0]), Fx(w.m.T, w.frac))
        elif op == "Gemm":
            assert a.get("alpha", 1.0) == 1.0 and a.get("beta", 1.0) == 1.0 and not a.get("transA", 0)
            w = fx(ins[1])
            w = w if a.get("transB", 0) else Fx(w.m.T, w.frac)
            r = linear(fx(ins[0]), w, fx(ins[2]) if len(ins) > 2 and ins[2] else None)
        elif op == "Add":
            r = add(fx(ins[0]), fx(ins[1]))
        elif op == "BatchNormalization":
            xin = fx(ins[0])
            nxt = consumers[node.output[0]]
            assert len(nxt) == 1 and nxt[0].op_type == "Relu", "BN must be followed by Relu -> Quant here"
            q = consumers[nxt[0].output[0]]
            assert len(q) == 1 and q[0].op_type == "Quant"
            t = _quant_type_of(q[0], env)
            bn = [consts[ins[k]] for k in (1, 2, 3, 4)]
            if bn_mult_bits is None:  # the real BatchNorm: what the model means
                r = bn_exact(xin, *bn, a.get("epsilon", 1e-5), True, t)
            else:  # a fold at a given multiplier width (to show where a difference comes from)
                fold = bn_fold(*bn, a.get("epsilon", 1e-5), xin.frac, bn_mult_bits)
                r = scale(xin, fold.mult, fold.fm, fold.offset, fold.fx + fold.fm, True, t)
            done.update({nxt[0].output[0], q[0].output[0]})
            env[q[0].output[0]] = r
            continue
        elif op in ("AveragePool", "GlobalAveragePool", "ReduceMean"):
            xin = fx(ins[0])
            if op == "AveragePool":
                assert a.get("ceil_mode", 0) == 0
                k = tuple(a["kernel_shape"])
                sums, counts = avgpool2d(xin, k, tuple(a.get("strides", [1, 1])), a.get("pads", [0, 0, 0, 0]),
                                         bool(a.get("count_include_pad", 0)))
            else:
                if op == "ReduceMean":
                    axes = a.get("axes", None)
                    axes = [int(v) for v in np.asarray(consts[ins[1]]).ravel()] if axes is None else axes
                    assert sorted(v % 4 for v in axes) == [2, 3] and a.get("keepdims", 1) == 1
                sums, counts = global_avgpool(xin)
            # the model's meaning: the exact real average, then the Quant after it rounds it once
            q = consumers[node.output[0]]
            assert len(q) == 1 and q[0].op_type == "Quant", "an average must be followed by a Quant here"
            r = requantize(sums, _quant_type_of(q[0], env), counts[None, None])
            done.add(q[0].output[0])
            env[q[0].output[0]] = r
            continue
        elif op == "Concat":
            assert int(a.get("axis", 1)) == 1
            r = concat(*(fx(i) for i in ins))
        elif op in ("Identity", "Dropout"):
            r = fx(ins[0])
        else:
            raise NotImplementedError(op)
        env[node.output[0]] = r
    out = env[g.output[0].name]
    assert isinstance(out, Fx)
    return out


# ----------------------------------------------------------------------------- float models: an error bound
def float_error_bound(model: onnx.ModelProto, x: np.ndarray, width: int, integer: int) -> tuple[np.ndarray, np.ndarray]:
    """``(value, bound)`` for a plain float ONNX model read with ``--precision ap_fixed<width, integer>``.

    ``value`` is the model evaluated in float64 (torch.nn.functional on float64, the float32
    initializers taken exactly); ``bound`` a rigorous element-wise bound on ``|fixed - value|`` for
    a fixed-point evaluation where every tensor (input, weights, biases, BN constants, every layer
    output) is in ``ap_fixed<width, integer>`` (AP_TRN, AP_WRAP: each cast errs by less than one LSB
    ``d = 2^-F``) and a BatchNormalization follows the documented fold (25-bit multiplier, relative
    error <= 2^-17 of the largest channel scale; offset rounded half to even below the LSB).
    Propagation, with ``e`` the bound of the input:

    * MAC (Conv, Gemm): ``|W'x' - Wx| <= (|W| + d)·e + d·sum|x|``, + d (bias) + d (the output cast);
    * BN: ``|m x' + o' - (s(x - mu) + b)| <= (|s| + em)·e + em·|x - mu| + d/2 + d``;
    * MaxPool: the window's largest e; AveragePool / GlobalAveragePool / ReduceMean: the window's
      mean e + d; residual Add: e1 + e2 + d; Relu, Concat, Flatten, Reshape: unchanged.

    It also checks that no value (plus its bound) can leave the type's range: WRAP would be wrong
    by 2^I, and the bound would not hold.
    """
    import torch
    import torch.nn.functional as F  # noqa: N812

    d = 2.0 ** -(width - integer)
    limit = 2.0 ** (integer - 1) - d
    g = model.graph
    consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    t64 = {k: torch.tensor(v.astype(np.float64)) for k, v in consts.items() if v.dtype.kind == "f"}
    inp = [i.name for i in g.input if i.name not in consts][0]
    x = np.asarray(x, dtype=np.float64)
    val: dict[str, torch.Tensor] = {inp: torch.tensor(x)}
    err: dict[str, torch.Tensor] = {inp: torch.full(x.shape, d, dtype=torch.float64)}
    ints: dict[str, np.ndarray] = {k: v for k, v in consts.items() if v.dtype.kind in "iu"}

    def guard(name: str) -> None:
        top = float((val[name].abs() + err[name]).max())
        assert top <= limit, f"{name}: values reach {top}, outside ap_fixed<{width},{integer}>: the bound is invalid"

    for node in g.node:
        op, a, ins, out = node.op_type, _attrs(node), list(node.input), node.output[0]
        if op == "Constant":
            v = numpy_helper.to_array(a["value"])
            (ints if v.dtype.kind in "iu" else t64)[out] = v if v.dtype.kind in "iu" else torch.tensor(v.astype(float))
            continue
        if op in ("Shape", "Gather", "Unsqueeze", "Cast") or (op == "Concat" and ins[0] in ints):
            if op == "Shape":
                ints[out] = np.array([1, *val[ins[0]].shape[1:]], dtype=np.int64)  # batch 1, as the reader folds it
            elif op == "Gather":
                ints[out] = np.take(ints[ins[0]], ints[ins[1]], axis=int(a.get("axis", 0)))
            elif op == "Unsqueeze":
                ints[out] = np.expand_dims(ints[ins[0]], tuple(int(v) for v in ints[ins[1]]))
            elif op == "Cast":
                ints[out] = ints[ins[0]]
            else:
                ints[out] = np.concatenate([ints[i].reshape(-1) for i in ins])
            continue
        xv, xe = val.get(ins[0]), err.get(ins[0])
        if op == "Conv":
            w, b = t64[ins[1]], t64[ins[2]] if len(ins) > 2 and ins[2] else None
            top, left, bottom, right = a.get("pads", [0, 0, 0, 0])
            kw = {"stride": tuple(a.get("strides", [1, 1])), "groups": int(a.get("group", 1))}
            pad = (left, right, top, bottom)
            y = F.conv2d(F.pad(xv, pad), w, b, **kw)
            e = F.conv2d(F.pad(xe, pad), w.abs() + d, None, **kw)
            e = e + F.conv2d(F.pad(xv.abs(), pad), torch.full_like(w, d), None, **kw) + 2 * d
        elif op in ("Gemm", "MatMul"):
            w = t64[ins[1]]
            if op == "Gemm":
                assert a.get("alpha", 1.0) == 1.0 and a.get("beta", 1.0) == 1.0 and not a.get("transA", 0)
                w = w if a.get("transB", 0) else w.T
            else:
                w = w.T
            b = t64[ins[2]] if op == "Gemm" and len(ins) > 2 else None
            y = xv @ w.T + (b if b is not None else 0)
            e = xe @ (w.abs() + d).T + xv.abs().sum(dim=1, keepdim=True) * d + 2 * d
        elif op == "Relu":
            y, e = torch.relu(xv), xe
        elif op == "MaxPool":
            k, s = tuple(a["kernel_shape"]), tuple(a.get("strides", a["kernel_shape"]))
            p = a.get("pads", [0, 0, 0, 0])
            assert p[0] == p[2] and p[1] == p[3] and a.get("ceil_mode", 0) == 0
            y = F.max_pool2d(xv, k, s, (p[0], p[1]))
            e = F.max_pool2d(xe, k, s, (p[0], p[1]))
        elif op == "AveragePool":
            k, s = tuple(a["kernel_shape"]), tuple(a.get("strides", [1, 1]))
            p = a.get("pads", [0, 0, 0, 0])
            assert p[0] == p[2] and p[1] == p[3] and a.get("ceil_mode", 0) == 0
            cip = bool(a.get("count_include_pad", 0))
            y = F.avg_pool2d(xv, k, s, (p[0], p[1]), count_include_pad=cip)
            e = F.avg_pool2d(xe, k, s, (p[0], p[1]), count_include_pad=cip) + d
        elif op in ("GlobalAveragePool", "ReduceMean"):
            y, e = xv.mean(dim=(2, 3), keepdim=True), xe.mean(dim=(2, 3), keepdim=True) + d
        elif op == "BatchNormalization":
            gamma, beta, mu, var = (t64[i] for i in ins[1:5])
            eps = float(np.float32(a.get("epsilon", 1e-5)))
            s = gamma / torch.sqrt(var + eps)
            em = float(s.abs().max()) * 2.0**-17
            sh = (1, -1) + (1,) * (xv.dim() - 2)
            y = (xv - mu.reshape(sh)) * s.reshape(sh) + beta.reshape(sh)
            e = (s.abs().reshape(sh) + em) * xe + em * (xv - mu.reshape(sh)).abs() + 1.5 * d
        elif op == "Add":
            assert ins[0] in val and ins[1] in val, "only the residual Add of two activations"
            y, e = xv + val[ins[1]], xe + err[ins[1]] + d
        elif op == "Concat":
            y = torch.cat([val[i] for i in ins], dim=int(a.get("axis", 1)))
            e = torch.cat([err[i] for i in ins], dim=int(a.get("axis", 1)))
        elif op == "Flatten":
            y, e = xv.reshape(xv.shape[0], -1), xe.reshape(xe.shape[0], -1)
        elif op == "Reshape":
            shape = [int(v) for v in ints[ins[1]]]
            shape[0] = xv.shape[0]  # the batch (the exporters write 1, -1 or N here)
            y, e = xv.reshape(shape), xe.reshape(shape)
        elif op in ("Identity", "Dropout"):
            y, e = xv, xe
        else:
            raise NotImplementedError(op)
        val[out], err[out] = y, e
        guard(out)
    o = g.output[0].name
    return val[o].numpy(), err[o].numpy()
