"""Bit-exact fixed-point arithmetic with the semantics of Xilinx ``ap_fixed`` / ``ap_ufixed``.

Values travel as integer mantissas (``numpy.int64``) scaled by ``2**-frac`` where
``frac = width - integer``. No float ever touches the datapath: float inputs are decomposed
exactly (from their IEEE-754 bit fields) into an integer mantissa and a binary exponent before
rounding.

``FixedType(width, integer, signed, rounding, overflow)`` mirrors
``ap_fixed<W, I, Q, O>`` (signed) and ``ap_ufixed<W, I, Q, O>`` (unsigned), including
``I < 0`` and ``I > W``. A cast is: exact value -> round to the target LSB with ``rounding``
-> handle out-of-range with ``overflow``. This order is what the ``ap_fixed`` headers do (their
carry logic is equivalent); a g++ test against the real headers proves it for every mode.

Widths are limited to :data:`MAX_WIDTH` bits so that every intermediate (products, aligned sums,
rounding carries) is exact in int64; wider types raise :class:`FixedPointRangeError`.

Neutral type forms
------------------
A ``FixedType`` is abstract: each backend spells it in its own language (the HLS backend's
``ap_fixed<...>``, the RTL backend's signed width and binary point). Files that tools read back
(``tb_data/meta.json``, the PYNQ driver's ``model.json``, ``report.json``) and texts for people
use two backend-neutral forms instead:

* **JSON** (:meth:`FixedType.to_json` / :meth:`FixedType.from_json`): an object with exactly
  five keys, all required::

      {"width": 8, "integer": 1, "signed": true, "rounding": "RND_CONV", "overflow": "SAT"}

  ``width`` is a positive integer (at most :data:`MAX_WIDTH`), ``integer`` any integer (it counts
  the sign bit; negative or above ``width`` is allowed), ``signed`` a boolean, ``rounding`` one of
  ``TRN TRN_ZERO RND RND_ZERO RND_MIN_INF RND_INF RND_CONV`` and ``overflow`` one of
  ``WRAP SAT SAT_ZERO SAT_SYM`` (the :class:`Rounding` / :class:`Overflow` member names).
* **Text** (``str(t)``, read back by :func:`parse_fixed_type`): ``fixed<W,I>`` for signed,
  ``ufixed<W,I>`` for unsigned types; when either mode differs from the defaults (``TRN``,
  ``WRAP``) both are appended: ``fixed<8,1,RND_CONV,SAT>``, ``ufixed<8,0,TRN,SAT>``.

:func:`parse_fixed_type` also reads the ``ap_fixed<...>`` / ``ap_ufixed<...>`` spelling users
know from Vivado/Vitis HLS and hls4ml (``--precision 'ap_fixed<16,6>'``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

import numpy as np

__all__ = [
    "MAX_WIDTH",
    "Dequant",
    "fraction_text",
    "is_power_of_two",
    "log2_exact",
    "parse_fraction",
    "quantize_scaled",
    "round_int",
    "FixedPointRangeError",
    "FixedType",
    "Overflow",
    "OverflowCount",
    "OverflowRecorder",
    "Rounding",
    "add_type",
    "cast",
    "cast_ratio",
    "fixed_add",
    "fixed_mul",
    "from_float",
    "min_exact_type",
    "mul_type",
    "overflow_label",
    "parse_fixed_type",
    "record_overflows",
    "to_float",
]

#: Widest mantissa (in bits) this module handles exactly on int64.
MAX_WIDTH = 60


class FixedPointRangeError(ValueError):
    """A width or an intermediate would not be exact in int64."""


class Rounding(enum.Enum):
    """``ap_q_mode``: what happens to bits below the target LSB."""

    TRN = "AP_TRN"  # toward minus infinity (floor); ap_fixed default
    TRN_ZERO = "AP_TRN_ZERO"  # toward zero
    RND = "AP_RND"  # nearest, ties toward plus infinity
    RND_ZERO = "AP_RND_ZERO"  # nearest, ties toward zero
    RND_MIN_INF = "AP_RND_MIN_INF"  # nearest, ties toward minus infinity
    RND_INF = "AP_RND_INF"  # nearest, ties away from zero
    RND_CONV = "AP_RND_CONV"  # nearest, ties to even (convergent)


class Overflow(enum.Enum):
    """``ap_o_mode``: what happens to values outside the target range."""

    WRAP = "AP_WRAP"  # keep the low W bits (two's complement wrap); ap_fixed default
    SAT = "AP_SAT"  # clamp to [min, max]
    SAT_ZERO = "AP_SAT_ZERO"  # out of range -> 0
    SAT_SYM = "AP_SAT_SYM"  # signed: clamp to [-max, max] (the most negative code only for W == 1)


_ModeT = TypeVar("_ModeT", Rounding, Overflow)

#: Keys of the neutral JSON form of a :class:`FixedType`, in the order :meth:`FixedType.to_json` writes them.
_JSON_KEYS = ("width", "integer", "signed", "rounding", "overflow")


def _json_int(d: Mapping[str, object], key: str) -> int:
    """``d[key]`` as an integer (JSON booleans and floats refused); a ``ValueError`` naming ``key``."""
    value = d[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"fixed-point type key {key!r} must be an integer, got {value!r}")
    return value


def _enum_by_name(enum_cls: type[_ModeT], key: str, value: object) -> _ModeT:
    """The member of ``enum_cls`` named ``value`` (the neutral JSON form); a ``ValueError`` naming ``key``."""
    names = [m.name for m in enum_cls]
    if not isinstance(value, str) or value not in names:
        raise ValueError(f"fixed-point type key {key!r} must be one of {', '.join(names)}, got {value!r}")
    return enum_cls[value]


@dataclass(frozen=True)
class FixedType:
    """A fixed-point format: ``width`` bits, ``integer`` of them above the binary point.

    ``integer`` counts the sign bit for signed types, exactly as ``ap_fixed<W, I>`` does.
    ``integer`` may be negative or larger than ``width``.
    """

    width: int
    integer: int
    signed: bool = True
    rounding: Rounding = Rounding.TRN
    overflow: Overflow = Overflow.WRAP

    def __post_init__(self) -> None:
        if not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"fixed-point width must be a positive integer, got {self.width!r}")
        if self.width > MAX_WIDTH:
            raise FixedPointRangeError(
                f"fixed-point width {self.width} exceeds the {MAX_WIDTH} bits handled exactly on int64; "
                "narrow the type (e.g. add a Quant node) or lower the precision"
            )
        if not isinstance(self.integer, int):
            raise ValueError(f"integer bits must be an integer, got {self.integer!r}")

    # ---------------------------------------------------------------- properties
    @property
    def frac(self) -> int:
        """Fractional bits ``F = W - I`` (negative when ``I > W``)."""
        return self.width - self.integer

    @property
    def min_mantissa(self) -> int:
        """Smallest representable mantissa."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_mantissa(self) -> int:
        """Largest representable mantissa."""
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def max_abs_mantissa(self) -> int:
        """Largest magnitude any representable mantissa can have."""
        return max(-self.min_mantissa, self.max_mantissa)

    def with_modes(self, rounding: Rounding | None = None, overflow: Overflow | None = None) -> FixedType:
        """Same format with other rounding/overflow modes."""
        return FixedType(
            self.width,
            self.integer,
            self.signed,
            rounding if rounding is not None else self.rounding,
            overflow if overflow is not None else self.overflow,
        )

    def __str__(self) -> str:
        """The neutral notation: ``fixed<W,I>`` / ``ufixed<W,I>``, modes appended unless TRN and WRAP."""
        base = "fixed" if self.signed else "ufixed"
        if self.rounding is Rounding.TRN and self.overflow is Overflow.WRAP:
            return f"{base}<{self.width},{self.integer}>"
        return f"{base}<{self.width},{self.integer},{self.rounding.name},{self.overflow.name}>"

    def to_json(self) -> dict[str, int | bool | str]:
        """The neutral JSON form (see the module docstring), e.g.
        ``{"width": 8, "integer": 1, "signed": True, "rounding": "RND_CONV", "overflow": "SAT"}``."""
        return {
            "width": self.width,
            "integer": self.integer,
            "signed": self.signed,
            "rounding": self.rounding.name,
            "overflow": self.overflow.name,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> FixedType:
        """Read :meth:`to_json`'s form back; any missing, unknown or ill-typed key is a ``ValueError``
        that names it."""
        if not isinstance(d, Mapping):
            raise ValueError(f"a fixed-point type must be a JSON object with keys {', '.join(_JSON_KEYS)}, "
                             f"got {type(d).__name__} {d!r}")
        missing = [k for k in _JSON_KEYS if k not in d]
        if missing:
            raise ValueError(f"fixed-point type {dict(d)!r} lacks key(s) {', '.join(map(repr, missing))}; "
                             f"expected keys {', '.join(_JSON_KEYS)}")
        unknown = sorted(str(k) for k in d if k not in _JSON_KEYS)
        if unknown:
            raise ValueError(f"fixed-point type {dict(d)!r} has unknown key(s) {', '.join(map(repr, unknown))}; "
                             f"expected keys {', '.join(_JSON_KEYS)}")
        signed = d["signed"]
        if not isinstance(signed, bool):
            raise ValueError(f"fixed-point type key 'signed' must be true or false, got {signed!r}")
        return cls(
            _json_int(d, "width"),
            _json_int(d, "integer"),
            signed,
            _enum_by_name(Rounding, "rounding", d["rounding"]),
            _enum_by_name(Overflow, "overflow", d["overflow"]),
        )

    def representable(self, m: np.ndarray, mantissa_frac: int) -> np.ndarray:
        """True where the exact value ``m * 2**-mantissa_frac`` is representable in this type."""
        exact = self.with_modes(Rounding.TRN, Overflow.SAT)
        with _not_recorded():  # a question about values, not a cast of them
            back = cast(cast(m, mantissa_frac, exact), self.frac, FixedType(MAX_WIDTH, MAX_WIDTH - mantissa_frac))
        return back == _as_i64(m)


_TYPE_RE = re.compile(
    r"^\s*(?:ap_)?(u?)fixed\s*<\s*(-?\d+)\s*,\s*(-?\d+)\s*(?:,\s*(\w+)\s*)?(?:,\s*(\w+)\s*)?(?:,\s*(\d+)\s*)?>\s*$"
)


def parse_fixed_type(text: str) -> FixedType:
    """Parse a fixed-point type in the neutral notation or the ``ap_fixed`` spelling.

    ``fixed<W,I[,Q[,O]]>`` / ``ufixed<...>`` (what ``str(t)`` writes) and
    ``ap_fixed<W,I[,Q[,O[,N]]]>`` / ``ap_ufixed<...>`` give the same type; the ``AP_`` prefix of
    the modes is optional in either (``fixed<8,1,RND_CONV,SAT>`` == ``ap_fixed<8,1,AP_RND_CONV,AP_SAT>``).
    """
    m = _TYPE_RE.match(text)
    if not m:
        raise ValueError(
            f"cannot parse fixed-point type {text!r}; expected e.g. 'fixed<16,6>', 'ap_fixed<16,6>' or "
            "'ufixed<8,0,RND_CONV,SAT>'"
        )
    unsigned, w, i, q, o, n = m.groups()
    rounding = Rounding.TRN
    overflow = Overflow.WRAP
    if q is not None:
        key = q.upper() if q.upper().startswith("AP_") else "AP_" + q.upper()
        try:
            rounding = Rounding(key)
        except ValueError:
            raise ValueError(
                f"unknown rounding mode {q!r} in {text!r}; known: {', '.join(r.value for r in Rounding)}"
            ) from None
    if o is not None:
        key = o.upper() if o.upper().startswith("AP_") else "AP_" + o.upper()
        try:
            overflow = Overflow(key)
        except ValueError:
            raise ValueError(
                f"unknown overflow mode {o!r} in {text!r}; known: {', '.join(v.value for v in Overflow)}"
            ) from None
    if n is not None and int(n) != 0:
        raise ValueError(f"saturation bits N={n} in {text!r} are not supported (only N=0)")
    return FixedType(int(w), int(i), signed=not unsigned, rounding=rounding, overflow=overflow)


# ------------------------------------------------------------ overflow recorder
@dataclass(frozen=True)
class OverflowCount:
    """Elements that left their target type's range in the casts under one label."""

    saturated: int = 0  #: clamped (or zeroed) by a ``SAT*`` mode
    wrapped: int = 0  #: wrapped modulo ``2**W`` by ``WRAP``

    @property
    def total(self) -> int:
        return self.saturated + self.wrapped


class OverflowRecorder:
    """What :func:`record_overflows` yields: out-of-range element counts per label.

    An element counts when its value, *after* rounding to the target LSB, lies outside the target
    range, so the overflow mode changes it (a value that rounds to exactly ``max`` does not count;
    one that rounds up to ``max + 1`` and is clamped does). ``SAT_SYM`` also counts a signed source
    landing on the most negative code (ap_fixed moves it to ``-max``). The label is the innermost
    :func:`overflow_label` around the cast (``""`` outside any).
    """

    def __init__(self) -> None:
        self._counts: dict[str, list[int]] = {}

    def _add(self, n: int, saturating: bool) -> None:
        c = self._counts.setdefault(_LABEL.get(), [0, 0])
        c[0 if saturating else 1] += n

    def counts(self) -> dict[str, OverflowCount]:
        """A snapshot: label -> counts, in the order the labels first overflowed."""
        return {k: OverflowCount(s, w) for k, (s, w) in self._counts.items()}

    def count(self, label: str) -> OverflowCount:
        """The counts under ``label`` (zero when nothing overflowed there)."""
        s, w = self._counts.get(label, (0, 0))
        return OverflowCount(s, w)

    @property
    def total(self) -> OverflowCount:
        """The counts over every label."""
        return OverflowCount(sum(c[0] for c in self._counts.values()), sum(c[1] for c in self._counts.values()))


#: The active recorders (innermost last); empty when nobody records, the only cost then is one lookup.
_RECORDERS: ContextVar[tuple[OverflowRecorder, ...]] = ContextVar("fpga_flow_overflow_recorders", default=())
_LABEL: ContextVar[str] = ContextVar("fpga_flow_overflow_label", default="")


@contextmanager
def record_overflows() -> Iterator[OverflowRecorder]:
    """Count, while active, every element a :func:`cast`, :func:`cast_ratio` or :func:`from_float`
    brings outside its target type's range (see :class:`OverflowRecorder`). Opt-in: outside it
    casts do no counting at all. Nested recorders each see every cast in their scope."""
    rec = OverflowRecorder()
    token = _RECORDERS.set((*_RECORDERS.get(), rec))
    try:
        yield rec
    finally:
        _RECORDERS.reset(token)


@contextmanager
def overflow_label(name: str) -> Iterator[None]:
    """Attribute the overflows of the casts inside to ``name`` (e.g. the layer performing them)."""
    token = _LABEL.set(name)
    try:
        yield
    finally:
        _LABEL.reset(token)


@contextmanager
def _not_recorded() -> Iterator[None]:
    """Casts inside are internal questions (e.g. :meth:`FixedType.representable`), never counted."""
    token = _RECORDERS.set(())
    try:
        yield
    finally:
        _RECORDERS.reset(token)


def _record(q: np.ndarray, k: np.ndarray | np.integer, t: FixedType, src_signed: bool,
            recorders: tuple[OverflowRecorder, ...]) -> None:
    """Count the elements of the exact value ``q * 2**k`` (``k >= 0``) that ``t``'s overflow mode changes."""
    lo, hi = t.min_mantissa, t.max_mantissa
    sym = t.overflow is Overflow.SAT_SYM and t.signed and t.width > 1 and src_signed
    if np.ndim(k) == 0 and int(k) == 0:
        outside = (q > hi) | (q < lo)
        n = int(np.count_nonzero(outside)) + (int(np.count_nonzero(q == lo)) if sym else 0)
    else:
        kc = np.minimum(np.broadcast_to(k, q.shape).astype(np.int64), 62)
        # the same exact bounds as _overflow: q << k > hi <=> q > floor(hi / 2**k), likewise for lo
        outside = (q > np.right_shift(np.int64(hi), kc)) | (q < -np.right_shift(np.int64(-lo), kc))
        n = int(np.count_nonzero(outside))
        if sym:  # ap_fixed moves a signed source landing on the most negative code to -max
            n += int(np.count_nonzero(~outside & (np.left_shift(np.where(outside, 0, q), kc) == lo)))
    if n:
        for rec in recorders:
            rec._add(n, t.overflow is not Overflow.WRAP)


# ------------------------------------------------------------------------- core
def _as_i64(m: np.ndarray | int) -> np.ndarray:
    a = np.asarray(m)
    if a.dtype != np.int64:
        if a.dtype.kind not in "iub":
            raise TypeError(f"mantissas must be integers, got dtype {a.dtype}")
        a = a.astype(np.int64)
    return a


def _round_shift(m: np.ndarray, s: np.ndarray | np.integer, rounding: Rounding) -> np.ndarray:
    """``round(m / 2**s)`` for ``s >= 0`` (elementwise), with the given rounding mode."""
    if np.ndim(s) == 0 and 0 <= int(s) < 63:
        return _round_shift_scalar(m, int(s), rounding)
    s = np.broadcast_to(s, m.shape).astype(np.int64)
    # |m| < 2**62, so for s >= 63 the quotient is strictly inside (-0.5, 0.5): only its sign
    # matters, and m -> sign(m), s -> 2 keeps every mode's answer (x = +-0.25).
    big = s >= 63
    if np.any(big):
        m = np.where(big, np.sign(m), m)
        s = np.where(big, 2, s)
    fl = m >> s
    r = m - (fl << s)  # remainder in [0, 2**s)
    half = np.where(s > 0, np.left_shift(1, np.maximum(s - 1, 0)), 1)  # r == 0 where s == 0: no increment
    return _apply_rounding(fl, r, half, m, rounding)


def _round_shift_scalar(m: np.ndarray, s: int, rounding: Rounding) -> np.ndarray:
    """:func:`_round_shift` for one shift ``0 <= s < 63`` (the common case: no per-element arrays)."""
    if s == 0:
        return m
    fl = m >> s
    if rounding is Rounding.TRN:
        return fl
    r = m & ((1 << s) - 1)  # remainder in [0, 2**s)
    return _apply_rounding(fl, r, 1 << (s - 1), m, rounding)


def _apply_rounding(fl: np.ndarray, r: np.ndarray, half: np.ndarray | int | float, sign_src: np.ndarray,
                    rounding: Rounding) -> np.ndarray:
    """``fl`` (the floor) plus the rounding increment given the remainder ``r`` and ``half``.

    ``sign_src`` carries the sign of the exact value (ties and TRN_ZERO look at it).
    """
    if rounding is Rounding.TRN:
        return fl
    if rounding is Rounding.TRN_ZERO:
        inc = (r != 0) & (sign_src < 0)
    elif rounding is Rounding.RND:
        inc = r >= half
    elif rounding is Rounding.RND_ZERO:
        inc = (r > half) | ((r == half) & (sign_src < 0))
    elif rounding is Rounding.RND_MIN_INF:
        inc = r > half
    elif rounding is Rounding.RND_INF:
        inc = (r > half) | ((r == half) & (sign_src > 0))
    elif rounding is Rounding.RND_CONV:
        inc = (r > half) | ((r == half) & ((fl & 1) == 1))
    else:  # pragma: no cover - enum is closed
        raise AssertionError(rounding)
    return fl + inc


def _overflow_unshifted(q: np.ndarray, t: FixedType) -> np.ndarray | None:
    """:func:`_overflow` for ``k == 0`` without per-element temporaries; None where it does not apply."""
    lo, hi = t.min_mantissa, t.max_mantissa
    o = t.overflow
    if o is Overflow.WRAP:
        if q.size and lo <= int(q.min()) and int(q.max()) <= hi:
            return q
        low = q & ((1 << t.width) - 1)
        if t.signed:
            low = np.where(low >= (1 << (t.width - 1)), low - (1 << t.width), low)
        return low
    if o is Overflow.SAT or (o is Overflow.SAT_SYM and not t.signed):
        return np.clip(q, lo, hi)
    return None


def _overflow(q: np.ndarray, k: np.ndarray | np.integer, t: FixedType, src_signed: bool) -> np.ndarray:
    """Map the exact value ``q * 2**k`` (in target LSBs, ``k >= 0``) into ``t``'s range."""
    recorders = _RECORDERS.get()
    if recorders:
        _record(q, k, t, src_signed, recorders)
    if np.ndim(k) == 0 and int(k) == 0:
        fast = _overflow_unshifted(q, t)
        if fast is not None:
            return fast
    k = np.broadcast_to(k, q.shape).astype(np.int64)
    lo, hi = t.min_mantissa, t.max_mantissa
    kc = np.minimum(k, 62)
    # q << k > hi  <=>  q > floor(hi / 2**k);  q << k < lo  <=>  q < ceil(lo / 2**k)
    hi_b = np.right_shift(np.int64(hi), kc)
    lo_b = -np.right_shift(np.int64(-lo), kc)
    ovf_hi = q > hi_b
    ovf_lo = q < lo_b
    inside = ~(ovf_hi | ovf_lo)
    exact = np.left_shift(np.where(inside, q, 0), np.where(inside, kc, 0))
    o = t.overflow
    if o is Overflow.WRAP:
        wk = np.clip(t.width - k, 0, 62)
        low = q & (np.left_shift(1, wk) - 1)
        u = np.left_shift(low, np.where(wk > 0, kc, 0))
        if t.signed:
            u = np.where(u >= (1 << (t.width - 1)), u - (1 << t.width), u)
        return u
    if o is Overflow.SAT:
        return np.where(ovf_hi, hi, np.where(ovf_lo, lo, exact))
    if o is Overflow.SAT_ZERO:
        return np.where(inside, exact, 0)
    if o is Overflow.SAT_SYM:
        if t.signed:
            # ap_fixed writes the code 100..01 on underflow: -max, except for W == 1 where that
            # code is the most negative one itself (ap_fixed<1, I, Q, AP_SAT_SYM> acts as AP_SAT).
            sym_lo = -hi if t.width > 1 else lo
            res = np.where(ovf_hi, hi, np.where(ovf_lo, sym_lo, exact))
            if src_signed:
                # ap_fixed: a signed source landing exactly on the most negative code -> sym_lo
                res = np.where(res == lo, sym_lo, res)
            return res
        return np.where(ovf_hi, hi, np.where(ovf_lo, lo, exact))
    raise AssertionError(o)  # pragma: no cover


def cast(m: np.ndarray | int, src_frac: int, t: FixedType, src_signed: bool = True) -> np.ndarray:
    """Cast mantissas ``m`` (value ``m * 2**-src_frac``) to ``t`` with ``t``'s rounding and overflow.

    ``src_signed`` tells whether the source type is signed (only ``SAT_SYM`` cares: ap_fixed
    applies its symmetric rule only to signed sources). Mantissas must satisfy ``|m| < 2**62``.

    When the source has no bit at or above the target's rounding position
    (``src_frac - t.frac > source width``), ap_fixed's own cast stops on an internal assertion
    ("Attempting to read bit beyond MSB") in the rounding modes other than ``TRN``; this function
    returns the correctly rounded value.
    """
    m = _as_i64(m)
    s = int(src_frac) - t.frac
    if s > 0:
        q = _round_shift(m, np.int64(s), t.rounding)
        k = np.int64(0)
    else:
        q = m
        k = np.int64(-s)
    out = _overflow(q, k, t, src_signed)
    return out.copy() if out is m else out  # never hand back the caller's array


def cast_ratio(
    m: np.ndarray | int, src_frac: int, divisor: np.ndarray | int, t: FixedType, src_signed: bool = True
) -> np.ndarray:
    """Cast the exact rationals ``m * 2**-src_frac / divisor`` to ``t``, rounding once.

    ``divisor`` holds positive integers (broadcast against ``m``). The quotient is computed
    exactly in integers (floor division and its remainder) and rounded with ``t``'s rounding mode
    (ties compare twice the remainder with the divisor), then ``t``'s overflow mode applies. With
    ``divisor == 1`` this is :func:`cast`. This is the one exact rule for every division the model
    holds: an average pool's window count, a non-power-of-two requantization.
    """
    m = _as_i64(m)
    d = _as_i64(divisor)
    if d.size and int(d.min()) < 1:
        raise ValueError("cast_ratio: the divisor must be a positive integer")
    if d.size and int(d.max()) == 1:
        return cast(m, src_frac, t, src_signed)
    s = int(src_frac) - t.frac
    if s >= 0:
        if s > 62 or (d.size and int(d.max()).bit_length() + s > 62):
            raise FixedPointRangeError(f"cast_ratio: divisor << {s} exceeds 62 bits")
        num, den = m, d << s
    else:
        top = int(np.abs(m).max()).bit_length() if m.size else 0
        if top - s > 62:
            raise FixedPointRangeError(f"cast_ratio: mantissas << {-s} exceed 62 bits")
        num, den = m << (-s), d
    num, den = np.broadcast_arrays(num, den)
    fl = np.floor_divide(num, den)
    r = num - fl * den  # in [0, den)
    q = _apply_rounding(fl, 2 * r, den, num, t.rounding)
    return _overflow(q, np.int64(0), t, src_signed)


def _decode_double(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split doubles into ``(mant, exp)`` with ``value = mant * 2**exp`` as ``ap_fixed`` reads them.

    Like the header's double constructor this works on the IEEE-754 bit fields and always sets
    the hidden bit: a subnormal ``d`` (biased exponent 0) is read as ``(2**52 + fraction) * 2**-1075``
    rather than its true value ``fraction * 2**-1074``. That only shows in types whose LSB is
    below about ``2**-1022``. Zeros (either sign) give ``mant = 0``.
    """
    bits = np.asarray(x, dtype=np.float64).view(np.uint64)  # same item size: fine for any strides, 0-d
    biased = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64)
    fraction = (bits & np.uint64((1 << 52) - 1)).astype(np.int64)
    negative = (bits >> np.uint64(63)).astype(bool)
    mag = np.where((bits << np.uint64(1)) == 0, 0, fraction | (1 << 52))
    mant = np.where(negative, -mag, mag)
    exp = biased - (1023 + 52)
    return mant, exp


def from_float(x: np.ndarray | float, t: FixedType) -> np.ndarray:
    """Exact ``double -> ap_fixed`` conversion: mantissas of ``t`` (int64) for float array ``x``.

    The float is decomposed exactly as ``M * 2**E`` (``|M| < 2**53``, from its bit fields, see
    :func:`_decode_double`) and then rounded and overflow-handled as ``ap_fixed``'s double
    constructor does. NaN and infinities raise.
    """
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("cannot convert NaN or infinity to fixed point")
    fast = _from_float_scaled(x, t)
    if fast is not None:
        return fast
    return _from_float_exact(x, t)


#: Doubles below this magnitude are subnormal (ap_fixed reads them with the hidden bit set).
_MIN_NORMAL = float(np.finfo(np.float64).tiny)


def _from_float_scaled(x: np.ndarray, t: FixedType) -> np.ndarray | None:
    """Fast :func:`from_float` on float64 arithmetic, or None where it would not be exact.

    ``y = x * 2**frac`` is exact when no nonzero ``x`` is subnormal (ap_fixed reads those with the
    hidden bit set) and no ``y`` underflows; with ``|y| < 2**52``, ``floor(y)`` and
    ``y - floor(y)`` are exact too, so rounding needs no integer decomposition.
    """
    if x.size == 0:
        return None
    ax = np.abs(x)
    # smallest nonzero |x| allowed: a normal double whose scaled value is normal too
    tiny = max(_MIN_NORMAL, float(np.ldexp(_MIN_NORMAL, -t.frac))) if t.frac < 0 else _MIN_NORMAL
    if float(ax.min()) < tiny and np.any((ax < tiny) & (ax > 0)):
        return None
    if float(ax.max()) >= float(np.ldexp(1.0, 52 - t.frac)):
        return None
    y = np.ldexp(x, t.frac)
    if t.rounding is Rounding.RND_CONV:
        q = np.rint(y).astype(np.int64)  # IEEE round half to even of the exact y: AP_RND_CONV
    else:
        fl = np.floor(y)
        q = _apply_rounding(fl.astype(np.int64), y - fl, 0.5, y, t.rounding)
    return _overflow(q, np.int64(0), t, src_signed=True)


def _from_float_exact(x: np.ndarray, t: FixedType) -> np.ndarray:
    """:func:`from_float` through the IEEE-754 fields, valid for every finite double."""
    mant, exp = _decode_double(x)
    # value = mant * 2**exp; in target LSBs: mant * 2**(exp + frac)
    shift = -(exp + t.frac)  # right shift amount (negative: left shift)
    right = shift > 0
    q = _round_shift(mant, np.where(right, shift, 0), t.rounding)
    k = np.where(right, 0, -shift)
    return _overflow(q, k, t, src_signed=True)


def to_float(m: np.ndarray | int, t_or_frac: FixedType | int) -> np.ndarray:
    """Mantissas to float64 (exact whenever the width is at most 53 bits)."""
    frac = t_or_frac.frac if isinstance(t_or_frac, FixedType) else int(t_or_frac)
    return np.ldexp(_as_i64(m).astype(np.float64), -frac)


# ------------------------------------------------------------------ arithmetic
def mul_type(a: FixedType, b: FixedType) -> FixedType:
    """Result type of ``a * b`` in ap_fixed: ``W1+W2`` bits, ``I1+I2`` integer bits, exact."""
    return FixedType(a.width + b.width, a.integer + b.integer, a.signed or b.signed)


def add_type(a: FixedType, b: FixedType) -> FixedType:
    """Result type of ``a + b`` in ap_fixed (one growth bit, sign-extension for mixed signedness)."""
    ia = a.integer + (1 if (b.signed and not a.signed) else 0)
    ib = b.integer + (1 if (a.signed and not b.signed) else 0)
    i = max(ia, ib) + 1
    f = max(a.frac, b.frac)
    return FixedType(i + f, i, a.signed or b.signed)


def fixed_mul(ma: np.ndarray, a: FixedType, mb: np.ndarray, b: FixedType) -> tuple[np.ndarray, FixedType]:
    """Exact product; returns ``(mantissas, result type)``."""
    rt = mul_type(a, b)
    return _as_i64(ma) * _as_i64(mb), rt


def fixed_add(ma: np.ndarray, a: FixedType, mb: np.ndarray, b: FixedType) -> tuple[np.ndarray, FixedType]:
    """Exact sum; returns ``(mantissas, result type)``."""
    rt = add_type(a, b)
    f = rt.frac
    return (_as_i64(ma) << (f - a.frac)) + (_as_i64(mb) << (f - b.frac)), rt


def min_exact_type(values: np.ndarray, max_width: int = 32) -> FixedType | None:
    """Narrowest signed ``FixedType`` that holds every float in ``values`` exactly, or None.

    Returns None when no type of at most ``max_width`` bits does (e.g. arbitrary float32 data).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(v)):
        return None
    nz = v[v != 0]
    if nz.size == 0:
        return FixedType(2, 1, True, Rounding.RND_CONV, Overflow.SAT)
    fr, ex = np.frexp(nz)
    mant = np.ldexp(fr, 53).astype(np.int64)
    tz = _trailing_zeros(mant)
    lsb_exp = int(np.min(ex.astype(np.int64) - 53 + tz))  # value = odd * 2**lsb_exp
    frac = -lsb_exp
    mag = np.abs(np.ldexp(nz, frac))  # exact integers (fits: checked below)
    if float(np.max(mag)) >= 2.0**61:
        return None
    mm = mag.astype(np.int64)
    need_pos = int(np.max(np.where(nz > 0, mm, 0)))
    need_neg = int(np.max(np.where(nz < 0, mm, 0)))
    width = max(need_pos.bit_length() + 1, (need_neg - 1).bit_length() + 1 if need_neg else 1, 2)
    if width > max_width:
        return None
    return FixedType(width, width - frac, True, Rounding.RND_CONV, Overflow.SAT)


def _trailing_zeros(m: np.ndarray) -> np.ndarray:
    a = np.abs(m)
    low = a & (-a)  # lowest set bit
    return np.log2(low.astype(np.float64)).astype(np.int64)

# ------------------------------------------------------- scales that are not powers of two
# Scales that are not powers of two: the host-side ends of an all-integer datapath.
#
# A quantized model written by Brevitas with its default quantizers, by onnxruntime's
# ``quantize_static`` or in the QCDQ format gives each tensor a float scale ``s`` (e.g. 0.00897) and
# a zero point ``z``: its real value is ``(q - z) * s``. A float32 ``s`` is an exact dyadic rational,
# so every such value is exact in integers. The hardware computes on the integers ``q`` only; the
# two conversions to and from real numbers happen on the host, exactly:
#
# * the graph input: :class:`~fpga_flow.ir.InputLayer` with ``factor`` and ``zero_point`` quantizes
#   ``q = clamp(round(x * 2^F / factor) + zero_point)`` (:func:`quantize_scaled`; ``F`` is its type's
#   frac, the rounding and clamp its type's modes), computed exactly from the float64 ``x``;
# * a graph output: :class:`Dequant` turns its mantissas ``m`` into ``(m - zero_c) * scale_c``
#   (then ``max(., 0)`` when the model's last op is a ReLU the hardware did not apply), per channel
#   (axis 0 of the sample) or per tensor, exactly, then rounded once to float64.
#
# Between them, a requantization from one scale to another is a per-channel integer multiply, add
# and shift proven equal to the exact rounding (see :mod:`fpga_flow.onnx_io.requant`).


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

