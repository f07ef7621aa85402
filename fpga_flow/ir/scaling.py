"""Scales that are not powers of two: the host-side ends of an all-integer datapath.

A quantized model written by Brevitas with its default quantizers, by onnxruntime's
``quantize_static`` or in the QCDQ format gives each tensor a float scale ``s`` (e.g. 0.00897) and
a zero point ``z``: its real value is ``(q - z) * s``. A float32 ``s`` is an exact dyadic rational,
so every such value is exact in integers. The hardware computes on the integers ``q`` only; the
two conversions to and from real numbers happen on the host, exactly:

* the graph input: :class:`~fpga_flow.ir.InputLayer` with ``factor`` and ``zero_point`` quantizes
  ``q = clamp(round(x * 2^F / factor) + zero_point)`` (:func:`quantize_scaled`; ``F`` is its type's
  frac, the rounding and clamp its type's modes), computed exactly from the float64 ``x``;
* a graph output: :class:`Dequant` turns its mantissas ``m`` into ``(m - zero_c) * scale_c``
  (then ``max(., 0)`` when the model's last op is a ReLU the hardware did not apply), per channel
  (axis 0 of the sample) or per tensor, exactly, then rounded once to float64.

Between them, a requantization from one scale to another is a per-channel integer multiply, add
and shift proven equal to the exact rounding (see :mod:`fpga_flow.onnx_io.requant`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from fpga_flow.fixed import FixedType, Overflow, Rounding

__all__ = ["Dequant", "fraction_text", "is_power_of_two", "log2_exact", "parse_fraction", "quantize_scaled",
           "round_int"]


def round_int(num: int, den: int, mode: Rounding) -> int:
    """``num / den`` (``den > 0``) rounded to an integer with an ap_fixed quantization ``mode``, exactly."""
    q, r = divmod(num, den)  # floor division: num = q * den + r, 0 <= r < den
    if r == 0 or mode is Rounding.TRN:
        return q
    if mode is Rounding.TRN_ZERO:
        return q + 1 if num < 0 else q
    twice = 2 * r
    if twice != den:
        return q + 1 if twice > den else q
    # an exact tie between q and q + 1
    if mode is Rounding.RND:
        return q + 1
    if mode is Rounding.RND_ZERO:
        return q if num > 0 else q + 1
    if mode is Rounding.RND_MIN_INF:
        return q
    if mode is Rounding.RND_INF:
        return q + 1 if num > 0 else q
    return q + (q & 1)  # RND_CONV: to even


def _clamp(q: int, t: FixedType) -> int:
    lo, hi = t.min_mantissa, t.max_mantissa
    if t.overflow is Overflow.SAT_SYM and t.signed:
        lo = -hi
    if lo <= q <= hi:
        return q
    if t.overflow in (Overflow.SAT, Overflow.SAT_SYM, Overflow.SAT_ZERO):
        if t.overflow is Overflow.SAT_ZERO:
            return 0
        return lo if q < lo else hi
    span = 1 << t.width  # wrap-around
    q = (q - t.min_mantissa) % span + t.min_mantissa
    return q


def quantize_scaled(x: np.ndarray, t: FixedType, factor: Fraction, zero_point: int = 0) -> np.ndarray:
    """Mantissas ``clamp_t(round_t(x * 2^t.frac / factor) + zero_point)`` of float ``x``, exactly
    (``factor > 0``; with ``factor == 1`` and ``zero_point == 0`` this is ``from_float``)."""
    a = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("input values must be finite")
    if factor <= 0:
        raise ValueError(f"the scale factor {factor} must be positive")
    f = Fraction(factor) / (Fraction(2) ** t.frac)  # real per mantissa LSB
    p, q = f.numerator, f.denominator

    def one(v: float) -> int:
        r = Fraction(v)  # exact: x / f = r * q / p
        return _clamp(round_int(r.numerator * q, r.denominator * p, t.rounding) + zero_point, t)

    out = np.frompyfunc(one, 1, 1)(a.ravel()) if a.size else np.zeros(0, dtype=object)
    return np.asarray(out, dtype=np.int64).reshape(a.shape)


def fraction_text(v: Fraction) -> str:
    """``"p/q"`` (or ``"p"``): exact, for JSON files."""
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


def parse_fraction(text: object) -> Fraction:
    """The inverse of :func:`fraction_text` (a :class:`ValueError` for anything else)."""
    if not isinstance(text, str | int):
        raise ValueError(f"expected a fraction 'p/q', got {text!r}")
    return Fraction(str(text))


@dataclass(frozen=True)
class Dequant:
    """Real values of an output's mantissas: ``(m - zero_c) * scale_c`` per channel ``c`` (axis 0 of
    the sample shape), then ``max(., 0)`` when ``relu``. One value in ``scale``/``zero`` applies to
    every channel."""

    scale: tuple[Fraction, ...]
    zero: tuple[Fraction, ...]
    relu: bool = False

    def __post_init__(self) -> None:
        if not self.scale or not self.zero or any(s <= 0 for s in self.scale):
            raise ValueError("a Dequant needs positive scales and one zero per scale (or one of each)")

    def _per_channel(self, values: Sequence[Fraction], channels: int) -> list[Fraction]:
        if len(values) == 1:
            return list(values) * channels
        if len(values) != channels:
            raise ValueError(f"{len(values)} per-channel values for {channels} channels")
        return list(values)

    def exact(self, m: np.ndarray) -> np.ndarray:
        """The real values as an object array of Fractions, shape of ``m`` ``(batch, C, ...)``."""
        a = np.asarray(m, dtype=np.int64)
        channels = int(a.shape[1]) if a.ndim > 1 else 1
        s = self._per_channel(self.scale, channels)
        z = self._per_channel(self.zero, channels)
        out = np.empty(a.shape, dtype=object)
        for c in range(channels):
            view = a[:, c] if a.ndim > 1 else a
            vals = [(Fraction(int(v)) - z[c]) * s[c] for v in view.ravel().tolist()]
            if self.relu:
                vals = [v if v > 0 else Fraction(0) for v in vals]
            target = out[:, c] if a.ndim > 1 else out
            target[...] = np.array(vals, dtype=object).reshape(view.shape)
        return out

    def values(self, m: np.ndarray) -> np.ndarray:
        """The real values rounded once to float64."""
        return np.vectorize(float, otypes=[np.float64])(self.exact(m)) if np.asarray(m).size else np.zeros(
            np.asarray(m).shape)

    def to_json(self) -> dict[str, object]:
        return {"scale": [fraction_text(s) for s in self.scale], "zero": [fraction_text(z) for z in self.zero],
                "relu": self.relu}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> Dequant:
        scale, zero = d.get("scale"), d.get("zero")
        if not isinstance(scale, list) or not isinstance(zero, list):
            raise ValueError("a dequantization needs 'scale' and 'zero' lists")
        return cls(tuple(parse_fraction(s) for s in scale), tuple(parse_fraction(z) for z in zero),
                   bool(d.get("relu", False)))

    def describe(self) -> str:
        """One line for reports: the scale (and zero) applied on the host."""
        def short(vals: tuple[Fraction, ...]) -> str:
            if len(vals) == 1:
                return f"{float(vals[0]):.6g}"
            return f"{len(vals)} per-channel values ({float(min(vals)):.4g} .. {float(max(vals)):.4g})"

        zero = "" if all(z == 0 for z in self.zero) else f", minus a zero point of {short(self.zero)} LSBs"
        relu = ", then ReLU" if self.relu else ""
        return f"real = mantissa x {short(self.scale)}{zero}{relu} (exact, on the host)"


def is_power_of_two(v: Fraction) -> bool:
    """``v`` is ``2^k`` for an integer ``k``."""
    p, q = v.numerator, v.denominator
    return p > 0 and (p & (p - 1)) == 0 and (q & (q - 1)) == 0 and (p == 1 or q == 1)


def log2_exact(v: Fraction) -> int:
    """``k`` with ``v == 2^k`` (see :func:`is_power_of_two`)."""
    return (v.numerator.bit_length() - 1) - (v.denominator.bit_length() - 1)

