"""Exact requantization between arbitrary scales as an integer multiply, add and shift.

A tensor of mantissas ``m`` (integers in ``[lo, hi]``) stands for ``(m - z) * u`` (``u > 0`` its
real LSB, ``z`` a rational zero). Quantizing it to scale ``s`` and zero point ``zp`` is, per
channel, ``g(m) = clamp(R(a * m + b) + zp, qmin, qmax)`` with ``a = u / s`` and ``b = -z * a``
(exact rationals: float32 scales are dyadic), ``R`` the model's rounding (round half to even for
``QuantizeLinear`` and QONNX ``ROUND``) and optionally a ReLU first (``R(max(v, 0))``).

``g`` is non-decreasing, so it is fixed by its *thresholds*: ``T_L``, the least ``m`` with
``g(m) >= L``, for every level ``L`` in ``(qmin, qmax]`` (at most ``2^W - 1`` of them, FINN's
representation). The hardware computes ``h(m) = clamp(floor((m * M + O) / 2^k), qmin, qmax)``, one
multiplier per lane; :func:`find_multiplier` searches the smallest ``k`` (then ``M``, ``O``) for which
``h`` has exactly the same thresholds over ``[lo, hi]`` -- a finite set of linear inequalities in
``M`` and ``O``, so the check *is* the proof that ``h == g`` on every reachable mantissa (both are
monotone, and they agree at and just below every step). When the ratio is a power of two the
search finds ``M = 1`` or a shift. The choice of a multiplier over a threshold table: one
``W_acc x W_M`` product per lane against ``2^W - 1`` stored thresholds per channel (255 for 8 bits),
so the multiplier wins from 3-bit outputs up; it fails only when no ``k`` keeps ``|m * M + O|``
under 60 bits, which the reader reports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

from fpga_flow.fixed import MAX_WIDTH, Rounding, round_int

__all__ = ["BnRequantizer", "Multiplier", "RequantError", "Requantizer", "find_multiplier", "thresholds"]


#: The most levels a requantization's output may step through (16-bit outputs).
MAX_LEVELS = (1 << 16) - 1


class RequantError(ValueError):
    """No multiplier within :data:`~fpga_flow.fixed.MAX_WIDTH` bits reproduces the requantization."""


@dataclass(frozen=True)
class Requantizer:
    """``g(m) = clamp(R(a*m + b) + zp, qmin, qmax)`` (``R(max(., 0))`` with ``relu``) for integer ``m``."""

    a: Fraction
    b: Fraction
    zp: int
    qmin: int
    qmax: int
    rounding: Rounding
    relu: bool = False

    def __post_init__(self) -> None:
        if self.a <= 0:
            raise ValueError("the requantization ratio must be positive")
        if self.qmin > self.qmax:
            raise ValueError("empty output range")

    @cached_property
    def _ints(self) -> tuple[int, int, int]:
        """``(A, B, D)`` with ``a = A/D``, ``b = B/D``, ``D > 0``."""
        d = self.a.denominator * self.b.denominator // math.gcd(self.a.denominator, self.b.denominator)
        return self.a.numerator * (d // self.a.denominator), self.b.numerator * (d // self.b.denominator), d

    def pre_clamp(self, m: int) -> int:
        """``R(a*m + b) + zp`` before the clamp, exactly."""
        big_a, big_b, d = self._ints
        num = big_a * m + big_b
        if self.relu and num < 0:
            num = 0
        return round_int(num, d, self.rounding) + self.zp

    def __call__(self, m: int) -> int:
        return min(max(self.pre_clamp(m), self.qmin), self.qmax)


    def first_at_least(self, level: int) -> int | None:
        """The least integer ``m`` with ``pre_clamp(m) >= level`` (None: every ``m``, with a ReLU)."""
        return _first_at_least(self, level)


@dataclass(frozen=True)
class BnRequantizer:
    """A quantizer after an inference BatchNormalization, exactly: ``g(m) = clamp(R(v) + zp)`` with
    ``v = (alpha*m + delta) * sqrt(rho) + c`` (``rho > 0`` rational, so ``v`` is usually irrational),
    ``R`` round half to even, optionally ``R(max(v, 0))``. ``alpha > 0``: the BN's sign is folded
    into ``alpha`` by the caller (mirroring ``m`` for a negative gamma). Exact comparisons with
    integer square roots (:mod:`fpga_flow.onnx_io.bn_exact`)."""

    alpha: Fraction
    delta: Fraction
    rho: Fraction
    c: Fraction
    zp: int
    qmin: int
    qmax: int
    relu: bool = False
    rounding: Rounding = Rounding.RND_CONV

    def __post_init__(self) -> None:
        if self.alpha <= 0 or self.rho <= 0:
            raise ValueError("a BatchNorm requantizer needs alpha > 0 and rho > 0")
        if self.rounding is not Rounding.RND_CONV:
            raise ValueError("a quantizer after a BatchNormalization must round half to even")

    @cached_property
    def _root(self) -> Fraction | None:
        p, q = self.rho.numerator, self.rho.denominator
        sp, sq = math.isqrt(p), math.isqrt(q)
        return Fraction(sp, sq) if sp * sp == p and sq * sq == q else None

    @cached_property
    def a(self) -> Fraction:
        """The slope ``alpha * sqrt(rho)``, to 2^-90 relative (for the multiplier's first guess)."""
        p, q = self.rho.numerator, self.rho.denominator
        root = Fraction(math.isqrt((p << 180) // q), 1 << 90)
        return self.alpha * root

    def pre_clamp(self, m: int) -> int:
        from fpga_flow.onnx_io.bn_exact import floor_a_sqrt_r_plus_b

        k = self.alpha * m + self.delta  # v = k * sqrt(rho) + c
        if self._root is not None or k == 0:  # a rational v: round it exactly (ties by the mode)
            v = k * (self._root or 0) + self.c
            if self.relu and v < 0:
                v = Fraction(0)
            return round_int(v.numerator, v.denominator, self.rounding) + self.zp
        # an irrational v: never a tie, R(v) = floor(v + 1/2)
        guess = math.floor(float(k) * math.sqrt(float(self.rho)) + float(self.c) + 0.5) if abs(k) < 1e300 else 0
        n = floor_a_sqrt_r_plus_b(k, self.rho, self.c + Fraction(1, 2), guess)
        if self.relu and n < 0:
            n = 0
        return n + self.zp

    def __call__(self, m: int) -> int:
        return min(max(self.pre_clamp(m), self.qmin), self.qmax)

    def first_at_least(self, level: int) -> int | None:
        if self.relu and level - self.zp <= 0:
            return None
        # from the float estimate, then exactly: pre_clamp is non-decreasing in m
        target = (level - self.zp - 0.5 - float(self.c)) / float(self.a) - float(self.delta) / float(self.alpha)
        guess = math.ceil(target) if math.isfinite(target) and abs(target) < 2**62 else 0
        lo, hi = guess - 1, guess
        step = 1
        while self.pre_clamp(lo) >= level:
            lo -= step
            step *= 2
        step = 1
        while self.pre_clamp(hi) < level:
            hi += step
            step *= 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.pre_clamp(mid) >= level:
                hi = mid
            else:
                lo = mid
        return hi


def _ceil_div(p: int, q: int) -> int:
    return -((-p) // q)


def _first_at_least(g: Requantizer, level: int) -> int | None:
    """The least integer ``m`` with ``g.pre_clamp(m) >= level`` (None: every ``m``, with a ReLU)."""
    n = level - g.zp  # R(v) >= n
    if g.relu and n <= round_int(0, 1, g.rounding):
        return None
    big_a, big_b, d = g._ints
    # R(v) <= n - 1 whenever v <= n - 1, and R(v) >= n whenever v >= n, for every rounding mode
    lo = ((n - 1) * d - big_b) // big_a  # pre_clamp(lo) < level
    hi = _ceil_div(n * d - big_b, big_a)  # pre_clamp(hi) >= level
    guess = _ceil_div((2 * n - 1) * d - 2 * big_b, 2 * big_a)  # round-to-nearest modes: the usual answer
    if lo < guess <= hi and g.pre_clamp(guess) >= level and g.pre_clamp(guess - 1) < level:
        return guess
    while hi - lo > 1:  # invariant: pre_clamp(lo) < level <= pre_clamp(hi)
        mid = (lo + hi) // 2
        if g.pre_clamp(mid) >= level:
            hi = mid
        else:
            lo = mid
    return hi


def thresholds(g: Requantizer | BnRequantizer, lo: int, hi: int) -> list[tuple[int, int]]:
    """``(T_L, L)`` for the levels ``L`` in ``(qmin, qmax]`` that ``g`` steps to inside ``(lo, hi]``,
    plus ``(lo, L_always)`` for the highest level already reached at ``lo`` (if above ``qmin``) and
    ``(hi + 1, L_never)`` for the lowest level not reached at ``hi`` (if at most ``qmax``)."""
    if g.qmax - g.qmin > MAX_LEVELS:
        raise RequantError(f"an output of {g.qmax - g.qmin + 1} levels is too wide for an exact requantization with a "
                           f"scale that is not a power of two (at most {MAX_LEVELS + 1}: 16 bits)")
    out: list[tuple[int, int]] = []
    always: int | None = None
    never: int | None = None
    for level in range(g.qmin + 1, g.qmax + 1):
        t = g.first_at_least(level)
        if t is None or t <= lo:
            always = level
        elif t > hi:
            never = level
            break  # every higher level starts even later
        else:
            out.append((t, level))
    if always is not None:
        out.insert(0, (lo, always))
    if never is not None:
        out.append((hi + 1, never))
    return out


@dataclass(frozen=True)
class Multiplier:
    """``h(m) = clamp(floor((m * mult + offset) / 2^shift), qmin, qmax)``."""

    mult: int
    offset: int
    shift: int

    def scaled_to(self, shift: int) -> Multiplier:
        """The same function at a larger ``shift``."""
        d = shift - self.shift
        if d < 0:
            raise ValueError("can only grow the shift")
        return Multiplier(self.mult << d, self.offset << d, shift)


def _offset_range(steps: Sequence[tuple[int, int]], lo: int, hi: int, mult: int, k: int) -> tuple[int, int] | None:
    """The integers ``O`` for which ``floor((m*mult + O)/2^k)`` steps exactly at ``steps``, as ``[lo, hi]``."""
    o_lo: int | None = None
    o_hi: int | None = None
    for t, level in steps:
        base = level << k
        if t <= hi:  # reached at t: t*M + O >= L*2^k
            need = base - t * mult
            o_lo = need if o_lo is None else max(o_lo, need)
        if t > lo:  # not reached at t - 1: (t-1)*M + O < L*2^k
            cap = base - (t - 1) * mult - 1
            o_hi = cap if o_hi is None else min(o_hi, cap)
        if o_lo is not None and o_hi is not None and o_lo > o_hi:
            return None
    if o_lo is None and o_hi is None:
        return 0, 0
    if o_lo is None:
        assert o_hi is not None
        return o_hi, o_hi
    if o_hi is None:
        return o_lo, o_lo
    return o_lo, o_hi


def find_multiplier(g: Requantizer | BnRequantizer, lo: int, hi: int, max_bits: int = MAX_WIDTH - 1) -> Multiplier:
    """The smallest-shift :class:`Multiplier` equal to ``g`` on every integer of ``[lo, hi]``,
    with ``|m * mult + offset|`` below ``2^max_bits`` there; :class:`RequantError` when none is."""
    steps = thresholds(g, lo, hi)
    top = max(abs(lo), abs(hi), 1)
    k0 = max(0, -math.floor(math.log2(g.a)) - 1)  # below this, M < 1
    for k in range(k0, 2 * max_bits):
        ideal = g.a * (1 << k)
        base = math.floor(ideal)
        cands = sorted({c for c in (base, base + 1, base - 1, base + 2) if c >= 0}, key=lambda c: abs(c - ideal))
        for mult in cands:
            rng = _offset_range(steps, lo, hi, mult, k)
            if rng is None:
                continue
            o_lo, o_hi = rng
            offset = min(max(0, o_lo), o_hi) if o_lo <= 0 <= o_hi else (o_lo if abs(o_lo) <= abs(o_hi) else o_hi)
            bound = top * mult + abs(offset)
            if bound.bit_length() >= max_bits:
                raise RequantError(f"the exact requantization needs more than {max_bits + 1} bits "
                                   f"(ratio {float(g.a):.6g}, inputs in [{lo}, {hi}])")
            return Multiplier(mult, offset, k)
        if (top * max(base, 1)).bit_length() >= max_bits:
            break
    raise RequantError(f"no multiplier within {max_bits + 1} bits reproduces the requantization "
                       f"(ratio {float(g.a):.6g}, inputs in [{lo}, {hi}])")
