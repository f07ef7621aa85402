"""QONNX ``Quant`` parameters -> :class:`FixedType` (contract 2).

A Quant with scale ``2**-F``, zero point 0 and bit width ``W`` is ``ap_fixed<W, W-F>`` with
saturation. Rounding modes map as QONNX defines them (``qonnx.custom_op.general.intquant``):
ROUND/HALF_EVEN -> AP_RND_CONV, FLOOR -> AP_TRN, DOWN -> AP_TRN_ZERO, HALF_UP -> AP_RND_INF,
HALF_DOWN -> AP_RND_ZERO. ``narrow=1`` on a signed Quant is AP_SAT_SYM (range [-max, max]).
CEIL/UP, unsigned narrow ranges, non-power-of-two scales and nonzero zero points have no
ap_fixed equivalent and are rejected with a clear message.
"""

from __future__ import annotations

import math

import numpy as np

from fpga_flow.fixed import FixedType, Overflow, Rounding

__all__ = ["ROUNDING_MODES", "QuantSpec", "quant_types"]

ROUNDING_MODES: dict[str, Rounding] = {
    "ROUND": Rounding.RND_CONV,
    "HALF_EVEN": Rounding.RND_CONV,
    "FLOOR": Rounding.TRN,
    "DOWN": Rounding.TRN_ZERO,
    "HALF_UP": Rounding.RND_INF,
    "HALF_DOWN": Rounding.RND_ZERO,
}


class QuantSpec(ValueError):
    """Raised with a user-facing reason when Quant parameters have no FixedType equivalent."""


def _pow2_exponent(s: float) -> int:
    if not (s > 0 and math.isfinite(s)):
        raise QuantSpec(f"scale {s!r} must be a positive power of two")
    m, e = math.frexp(s)
    if m != 0.5:
        raise QuantSpec(f"scale {s!r} is not a power of two (only 2^-F scales map to ap_fixed)")
    return e - 1  # s == 2**(e-1)


def quant_types(
    scale: np.ndarray, zero_point: np.ndarray, bitwidth: np.ndarray, signed: int, narrow: int, rounding_mode: str
) -> np.ndarray:
    """FixedType per element of the (broadcast) ``scale`` array; usually a single type.

    Returns an object array of FixedType with ``scale``'s shape (a 0-d array for per-tensor).
    """
    zp = np.asarray(zero_point, dtype=np.float64)
    for what, v in (("scale", scale), ("zero point", zp), ("bitwidth", bitwidth)):
        if np.asarray(v).size == 0:
            raise QuantSpec(f"the {what} is an empty tensor (it needs one value, or one per channel)")
    if np.any(zp != 0):
        raise QuantSpec("nonzero zero point is not supported (fixed point needs zero_point = 0)")
    bw = np.asarray(bitwidth, dtype=np.float64)
    if bw.size != 1:
        raise QuantSpec("per-channel bit widths are not supported (use one bitwidth per tensor)")
    w = float(bw.reshape(-1)[0])
    if w != int(w) or w < 1:
        raise QuantSpec(f"bitwidth {w!r} must be a positive integer")
    width = int(w)
    if signed and width == 1:
        raise QuantSpec("1-bit signed (bipolar) Quant is not supported")
    mode = str(rounding_mode or "ROUND").upper()
    if mode not in ROUNDING_MODES:
        raise QuantSpec(
            f"rounding_mode {rounding_mode!r} has no ap_fixed equivalent; supported: {', '.join(ROUNDING_MODES)}"
        )
    if narrow and not signed:
        raise QuantSpec("narrow=1 on an unsigned Quant (max 2^W-2) has no ap_fixed equivalent")
    overflow = Overflow.SAT_SYM if (narrow and signed) else Overflow.SAT
    rounding = ROUNDING_MODES[mode]
    sc = np.asarray(scale, dtype=np.float64)
    out = np.empty(sc.shape, dtype=object)
    cache: dict[float, FixedType] = {}
    for idx, s64 in np.ndenumerate(sc):
        s = float(s64)
        if s not in cache:
            frac = -_pow2_exponent(s)
            cache[s] = FixedType(width, width - frac, bool(signed), rounding, overflow)
        out[idx] = cache[s]
    return out
