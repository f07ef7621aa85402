"""Per-channel and multi-input layer kinds: ``ScaleLayer`` (per-channel requantization), the
residual ``AddLayer`` and the channel ``ConcatLayer``.

The channel of an element is axis 0 of the per-sample shape: ``c`` of a ``(C, H, W)`` feature
map, the index itself of a vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fpga_flow.fixed import FixedType, cast, cast_ratio
from fpga_flow.ir.layers import Activation, GraphError, Layer, apply_activation, register_layer

__all__ = ["AddLayer", "ConcatLayer", "ScaleLayer"]


def _per_channel(a: np.ndarray, ndim: int) -> np.ndarray:
    """A channel vector broadcast against ``(batch, C, ...)`` of ``ndim`` dimensions."""
    return a.reshape((1, -1) + (1,) * (ndim - 2))


def _frozen(a: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.array(a, dtype=np.int64, copy=True).reshape(-1)
    out.setflags(write=False)
    return out


@register_layer
@dataclass(frozen=True, eq=False, kw_only=True)
class ScaleLayer(Layer):
    """Per-channel requantization ``y_c = q(act(x * m_c + o_c) / d_c)``, exact up to the one rounding.

    ``mult`` (mantissas of ``mult_type``), ``offset`` (mantissas of ``offset_type``) and
    ``divisor`` (positive integers) hold one value per channel. The sum ``x * m_c + o_c`` is exact
    in ``acc_type`` (frac at least ``x.frac + mult_type.frac`` and ``offset_type.frac``); the
    activation acts on it; the exact quotient by ``d_c`` is rounded once to ``out_type`` with its
    rounding and overflow modes (:func:`~fpga_flow.fixed.cast_ratio`).

    It is the one mechanism for a folded ``BatchNormalization`` (the weights of the layer before it
    stay untouched), a ``Mul``/``Add`` by per-channel constants and a non-power-of-two
    requantization.
    """

    mult: np.ndarray
    mult_type: FixedType
    offset: np.ndarray
    offset_type: FixedType
    divisor: np.ndarray
    acc_type: FixedType
    activation: Activation = Activation.LINEAR

    op: ClassVar[str] = "scale"

    def __post_init__(self) -> None:
        for f in ("mult", "offset", "divisor"):
            object.__setattr__(self, f, _frozen(getattr(self, f)))

    @property
    def channels(self) -> int:
        return int(self.shape[0])

    def accumulate(self, x: np.ndarray, in_type: FixedType) -> np.ndarray:
        """Exact ``x * m_c + o_c`` in ``acc_type`` mantissas, before activation and division."""
        fa = self.acc_type.frac
        fp = in_type.frac + self.mult_type.frac
        if fa < fp or fa < self.offset_type.frac:
            raise ValueError(f"layer {self.name}: accumulator {self.acc_type} drops product/offset bits")
        x = np.asarray(x, dtype=np.int64)
        m = _per_channel(self.mult, x.ndim)
        o = _per_channel(self.offset, x.ndim)
        return ((x * m) << (fa - fp)) + (o << (fa - self.offset_type.frac))

    def bound(self, in_type: FixedType, frac: int | None = None) -> int:
        """Largest ``|x * m_c + o_c|`` over the channels, in LSBs of ``frac`` (default ``acc_type``'s)."""
        fa = self.acc_type.frac if frac is None else frac
        fp = in_type.frac + self.mult_type.frac
        xmax = in_type.max_abs_mantissa
        return max(
            (abs(int(m)) * xmax << (fa - fp)) + (abs(int(o)) << (fa - self.offset_type.frac))
            for m, o in zip(self.mult.tolist(), self.offset.tolist(), strict=True)
        )

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        acc = apply_activation(self.accumulate(xs[0], in_types[0]), self.activation)
        d = _per_channel(self.divisor, acc.ndim)
        return cast_ratio(acc, self.acc_type.frac, d, self.out_type, src_signed=self.acc_type.signed)

    def check(self, srcs: Sequence[Layer]) -> None:
        super().check(srcs)
        src = srcs[0]
        c = self.channels
        for f in ("mult", "offset", "divisor"):
            if getattr(self, f).shape != (c,):
                raise GraphError(f"layer {self.name}: {f} has {getattr(self, f).size} values, expected {c} (channels)")
        if self.divisor.size and int(self.divisor.min()) < 1:
            raise GraphError(f"layer {self.name}: every divisor must be a positive integer")
        for what, arr, t in (("multiplier", self.mult, self.mult_type), ("offset", self.offset, self.offset_type)):
            if arr.size and (arr.min() < t.min_mantissa or arr.max() > t.max_mantissa):
                raise GraphError(f"layer {self.name}: a {what} mantissa is outside {t}")
        need = max(src.out_type.frac + self.mult_type.frac, self.offset_type.frac)
        if self.acc_type.frac < need:
            raise GraphError(f"layer {self.name}: accumulator {self.acc_type} needs >= {need} fractional bits")
        b = self.bound(src.out_type)
        if b > self.acc_type.max_mantissa or -b < self.acc_type.min_mantissa:
            raise GraphError(f"layer {self.name}: accumulator {self.acc_type} can overflow (values reach {b} LSBs)")

    @property
    def is_shift(self) -> bool:
        """Every channel multiplies by a power of two and divides by 1 (a shift, no multiplier)."""
        m = np.abs(self.mult)
        return bool(np.all(self.divisor == 1) and np.all((m & (m - 1)) == 0))


@register_layer
@dataclass(frozen=True, eq=False, kw_only=True)
class AddLayer(Layer):
    """Element-wise sum of two or more inputs of one shape (a residual ``Add``): exact at the
    largest input frac, cast once to ``out_type`` (the reader makes it an exact type)."""

    op: ClassVar[str] = "add"
    n_inputs: ClassVar[int | None] = None

    def check(self, srcs: Sequence[Layer]) -> None:
        if len(srcs) < 2:
            raise GraphError(f"layer {self.name}: an add needs at least two inputs")
        shapes = {tuple(s.shape) for s in srcs}
        if len(shapes) != 1:
            raise GraphError(f"layer {self.name}: inputs have different shapes {sorted(shapes)}")
        super().check(srcs)
        frac = max(s.out_type.frac for s in srcs)
        top = sum(s.out_type.max_abs_mantissa << (frac - s.out_type.frac) for s in srcs)
        if top.bit_length() > 62:
            raise GraphError(f"layer {self.name}: the exact sum needs more than 62 bits")

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        frac = max(t.frac for t in in_types)
        acc = sum((np.asarray(x, dtype=np.int64) << (frac - t.frac) for x, t in zip(xs, in_types, strict=True)),
                  start=np.zeros_like(np.asarray(xs[0], dtype=np.int64)))
        return cast(acc, frac, self.out_type, src_signed=True)


@register_layer
@dataclass(frozen=True, eq=False, kw_only=True)
class ConcatLayer(Layer):
    """Concatenation on the channel axis (axis 0 per sample); each input is cast to ``out_type``
    (exact when ``out_type`` holds every input type, which the reader ensures)."""

    op: ClassVar[str] = "concat"
    n_inputs: ClassVar[int | None] = None

    def infer_shape(self, in_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        rest = {tuple(s[1:]) for s in in_shapes}
        if len(rest) != 1:
            raise GraphError(f"layer {self.name}: inputs {list(in_shapes)} differ outside the channel axis")
        return (sum(int(s[0]) for s in in_shapes), *next(iter(rest)))

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        parts = [cast(x, t.frac, self.out_type, src_signed=t.signed) for x, t in zip(xs, in_types, strict=True)]
        return np.concatenate(parts, axis=1)
