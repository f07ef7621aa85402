"""Quantizers with any scale and zero point (QONNX ``Quant``, ``QuantizeLinear``/``DequantizeLinear``).

The reader keeps the contract's fixed-point types (``2^-frac`` scales) wherever a model has them.
Where a scale is not a power of two, or a zero point is not 0, a layer's mantissas ``m`` stand for
``(m - zero_c) * 2^-frac * factor_c`` (:class:`Scaled`, per channel = axis 0 of the sample, or one
value): integers on the datapath, the factor and zero carried by the reader only. What they cost:

* a MAC layer accumulates the integer products exactly; its input's zero point and its bias move
  into the output's (rational) zero, its weights' and input's factors into the output's factor;
* a quantizer becomes a per-channel integer requantization (:class:`~fpga_flow.ir.ScaleLayer`:
  multiply, add, shift, clamp), searched and proven exact by :mod:`fpga_flow.onnx_io.requant`;
* a ReLU on a tensor with a zero point is folded into the next quantizer's thresholds;
* the graph input is quantized exactly on the host (``InputLayer.factor``/``zero_point``) and each
  graph output is turned into real numbers exactly on the host (:class:`~fpga_flow.fixed.Dequant`).

Refused with a message: weight zero points on convolutions with padding, per-channel activation
factors feeding a MAC, and every other op (add, concat, pooling averages, batch norm) on a tensor
whose scale is not a power of two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
import onnx

from fpga_flow.fixed import (
    MAX_WIDTH,
    Dequant,
    FixedPointRangeError,
    FixedType,
    Overflow,
    Rounding,
    is_power_of_two,
    log2_exact,
    round_int,
)
from fpga_flow.ir import Activation, Layer, MacLayer, ReluLayer, ScaleLayer
from fpga_flow.ir.accum import signed_type_for
from fpga_flow.onnx_io.quant import ROUNDING_MODES
from fpga_flow.onnx_io.registry import attr
from fpga_flow.onnx_io.requant import BnRequantizer, Multiplier, RequantError, Requantizer, find_multiplier

if TYPE_CHECKING:
    from fpga_flow.onnx_io.reader import Reader, _Const

__all__ = ["QuantTarget", "Scaled", "dequant_of", "requantize", "target_of_dq", "target_of_q", "target_of_quant"]

#: Integer ranges of the ONNX element types a QuantizeLinear can write.
INT_RANGES: dict[int, tuple[int, int]] = {
    onnx.TensorProto.UINT8: (0, 255), onnx.TensorProto.INT8: (-128, 127),
    onnx.TensorProto.UINT16: (0, 65535), onnx.TensorProto.INT16: (-32768, 32767),
    onnx.TensorProto.INT32: (-(2**31), 2**31 - 1),
    onnx.TensorProto.UINT4: (0, 15), onnx.TensorProto.INT4: (-8, 7),
}
_NP_TO_ONNX: dict[np.dtype, int] = {
    np.dtype(np.uint8): onnx.TensorProto.UINT8, np.dtype(np.int8): onnx.TensorProto.INT8,
    np.dtype(np.uint16): onnx.TensorProto.UINT16, np.dtype(np.int16): onnx.TensorProto.INT16,
    np.dtype(np.int32): onnx.TensorProto.INT32,
}


def exact(v: float | int | np.generic) -> Fraction:
    """The exact rational value of a float (or int) constant."""
    return Fraction(float(v)) if isinstance(v, float | np.floating) else Fraction(int(v))


@dataclass(frozen=True)
class Scaled:
    """``real = (m - zero_c) * 2^-frac * factor_c`` for a layer's mantissas ``m`` (see module doc);
    one value in ``factor``/``zero`` applies to every channel."""

    factor: tuple[Fraction, ...]
    zero: tuple[Fraction, ...]

    def per_channel(self, channels: int) -> tuple[list[Fraction], list[Fraction]]:
        def spread(v: tuple[Fraction, ...]) -> list[Fraction]:
            if len(v) == 1:
                return list(v) * channels
            if len(v) != channels:
                raise ValueError(f"{len(v)} per-channel values for {channels} channels")
            return list(v)

        return spread(self.factor), spread(self.zero)

    @property
    def uniform_factor(self) -> Fraction | None:
        return self.factor[0] if len(set(self.factor)) == 1 else None

    @property
    def zero_free(self) -> bool:
        return all(z == 0 for z in self.zero)


@dataclass(frozen=True)
class QuantTarget:
    """What a quantizer asks for: ``q = clamp(round(x / scale_c) + zp_c, qmin, qmax)``, its real
    value ``(q - zp_c) * scale_c``."""

    scale: tuple[Fraction, ...]
    zp: tuple[int, ...]
    qmin: int
    qmax: int
    rounding: Rounding

    @property
    def fixed_point(self) -> bool:
        """Power-of-two scales (one or per channel) and zero points 0: ordinary fixed-point types."""
        return all(is_power_of_two(v) for v in self.scale) and all(z == 0 for z in self.zp)

    @property
    def plain(self) -> bool:
        """One power-of-two scale and zero point 0: an ordinary fixed-point type."""
        return len(set(self.scale)) == 1 and is_power_of_two(self.scale[0]) and all(z == 0 for z in self.zp)

    def out_type(self, frac: int) -> FixedType:
        """The type whose mantissa range is exactly ``[qmin, qmax]`` at ``frac``."""
        lo, hi = self.qmin, self.qmax
        if lo == 0 and hi > 0 and (hi + 1) & hi == 0:
            w = hi.bit_length()
            return FixedType(w, w - frac, False, self.rounding, Overflow.SAT)
        if lo < 0 and (hi + 1) & hi == 0:
            w = hi.bit_length() + 1
            if lo == -(hi + 1):
                return FixedType(w, w - frac, True, self.rounding, Overflow.SAT)
            if lo == -hi and w > 1:
                return FixedType(w, w - frac, True, self.rounding, Overflow.SAT_SYM)
        raise ValueError(f"the integer range [{lo}, {hi}] is not the range of a W-bit integer")

    def with_range(self, lo: int, hi: int) -> QuantTarget:
        return QuantTarget(self.scale, self.zp, max(self.qmin, lo), min(self.qmax, hi), self.rounding)

    def frac_and_scaled(self) -> tuple[int, Scaled | None]:
        """The output's ``frac`` and its :class:`Scaled` (None when :attr:`plain`)."""
        if self.plain:
            return -log2_exact(self.scale[0]), None
        return 0, Scaled(self.scale, tuple(Fraction(z) for z in self.zp))


def _const_values(r: Reader, node: onnx.NodeProto, pos: int, what: str) -> np.ndarray | None:
    if len(node.input) <= pos or not node.input[pos]:
        return None
    c = r.const(node.input[pos])
    if c is None:
        raise r.fail(node, f"the {what} (input {pos}) must be a constant", True)
    return np.asarray(c.values)


def _scales(r: Reader, node: onnx.NodeProto, s: np.ndarray) -> tuple[Fraction, ...]:
    flat = np.asarray(s, dtype=np.float64).ravel()
    if flat.size == 0 or not np.all(np.isfinite(flat)) or np.any(flat <= 0):
        raise r.fail(node, "every scale must be a positive finite number")
    return tuple(exact(v) for v in flat.tolist())


def target_of_quant(r: Reader, node: onnx.NodeProto) -> QuantTarget:
    """A QONNX ``Quant``'s target (any positive scale, integer zero point)."""
    s = _const_values(r, node, 1, "scale")
    z = _const_values(r, node, 2, "zero point")
    b = _const_values(r, node, 3, "bitwidth")
    if s is None or z is None or b is None:
        raise r.fail(node, "Quant needs 4 inputs (x, scale, zero_point, bitwidth)")
    bw = np.asarray(b, dtype=np.float64).ravel()
    if bw.size != 1 or bw[0] != int(bw[0]) or bw[0] < 1:
        raise r.fail(node, "the bitwidth must be one positive integer", True)
    if bw[0] > MAX_WIDTH:
        raise r.fail(node, f"bitwidth {bw[0]:g} exceeds the {MAX_WIDTH} bits handled exactly", True)
    w = int(bw[0])
    signed, narrow = int(attr(node, "signed", 1)), int(attr(node, "narrow", 0))
    if signed and w == 1:
        raise r.fail(node, "1-bit signed (bipolar) Quant is not supported", True)
    mode = str(attr(node, "rounding_mode", "ROUND") or "ROUND").upper()
    if mode not in ROUNDING_MODES:
        raise r.fail(node, f"rounding_mode {mode!r} is not supported; supported: {', '.join(ROUNDING_MODES)}", True)
    if narrow and not signed:
        raise r.fail(node, "narrow=1 on an unsigned Quant (max 2^W-2) is not supported", True)
    zf = np.asarray(z, dtype=np.float64).ravel()
    if np.any(zf != np.round(zf)):
        raise r.fail(node, "a zero point must be an integer", True)
    if signed:
        lo, hi = -(2 ** (w - 1)) + (1 if narrow else 0), 2 ** (w - 1) - 1
    else:
        lo, hi = 0, 2**w - 1 - (1 if narrow else 0)
    scale = _scales(r, node, s)
    zps = tuple(int(v) for v in zf.tolist())
    if len(zps) not in (1, len(scale)) and len(scale) != 1:
        raise r.fail(node, f"{len(zps)} zero points for {len(scale)} scales")
    return QuantTarget(scale, zps, lo, hi, ROUNDING_MODES[mode])


def _linear_params(r: Reader, node: onnx.NodeProto) -> tuple[tuple[Fraction, ...], tuple[int, ...], int, int]:
    """Scale, zero point and integer range of a ``QuantizeLinear``/``DequantizeLinear``."""
    if attr(node, "block_size", 0):
        raise r.fail(node, "blocked quantization (block_size) is not supported", True)
    s = _const_values(r, node, 1, "scale")
    if s is None:
        raise r.fail(node, "the scale (input 1) is missing")
    scale = _scales(r, node, s)
    zc = r.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if len(node.input) > 2 and node.input[2] and zc is None:
        raise r.fail(node, "the zero point (input 2) must be a constant", True)
    elem: int = onnx.TensorProto.UINT8
    if zc is not None:
        elem = _NP_TO_ONNX.get(np.asarray(zc.values).dtype, _zero_point_elem(r, node))
    out_dtype = int(attr(node, "output_dtype", 0))
    if out_dtype:
        elem = out_dtype
    if elem not in INT_RANGES:
        raise r.fail(node, f"the quantized element type {onnx.TensorProto.DataType.Name(elem)} is not supported "
                     "(int4/uint4/int8/uint8/int16/uint16/int32)", True)
    lo, hi = INT_RANGES[elem]
    zps = (0,) if zc is None else tuple(int(v) for v in np.asarray(zc.values).ravel().tolist())
    if not zps:
        zps = (0,)
    return scale, zps, lo, hi


def _zero_point_elem(r: Reader, node: onnx.NodeProto) -> int:
    """The element type of a zero-point initializer (when its numpy dtype did not say)."""
    name = node.input[2]
    for t in r.g.initializer:
        if t.name == name:
            return int(t.data_type)
    return onnx.TensorProto.UINT8


def target_of_q(r: Reader, node: onnx.NodeProto) -> QuantTarget:
    """A ``QuantizeLinear``'s target (round half to even, saturating)."""
    scale, zps, lo, hi = _linear_params(r, node)
    return QuantTarget(scale, zps, lo, hi, Rounding.RND_CONV)


def target_of_dq(r: Reader, node: onnx.NodeProto) -> QuantTarget:
    """A ``DequantizeLinear``'s scale and zero point as a target (rounding unused)."""
    scale, zps, lo, hi = _linear_params(r, node)
    return QuantTarget(scale, zps, lo, hi, Rounding.RND_CONV)


def _check_axis(r: Reader, node: onnx.NodeProto, target: QuantTarget, src: Layer) -> None:
    """Per-channel parameters act on axis 1 (the channel axis of ``(N, C, ...)``)."""
    n = max(len(target.scale), len(target.zp))
    if n == 1:
        return
    rank = len(src.shape) + 1
    axis = int(attr(node, "axis", 1)) % rank
    if axis != 1 or n != int(src.shape[0]):
        raise r.fail(node, f"per-channel parameters ({n} values) on axis {axis} of shape "
                     f"(N, {', '.join(map(str, src.shape))}): only axis 1, one value per channel, is supported", True)


def _src_range(t: FixedType) -> tuple[int, int]:
    lo = -t.max_mantissa if t.overflow is Overflow.SAT_SYM and t.signed else t.min_mantissa
    return lo, t.max_mantissa


@dataclass(frozen=True)
class BnParams:
    """An inference ``BatchNormalization`` folded into the quantizer that follows it (exact values)."""

    gamma: tuple[Fraction, ...]
    beta: tuple[Fraction, ...]
    mean: tuple[Fraction, ...]
    var: tuple[Fraction, ...]
    eps: Fraction


def _bn_multiplier(bn: BnParams, c: int, unit: Fraction, zero: Fraction, scale: Fraction, zp: int, target: QuantTarget,
                   relu: bool, lo: int, hi: int) -> Multiplier:
    """The multiplier of channel ``c``: ``R(BN((m - zero) * unit) / scale) + zp`` clamped, exactly."""
    g, b, mu, var = bn.gamma[c], bn.beta[c], bn.mean[c], bn.var[c]
    if var + bn.eps <= 0:
        raise RequantError(f"variance + epsilon of channel {c} is not positive")
    cst = b / scale
    if g == 0:  # a constant channel
        v = cst if not relu or cst > 0 else Fraction(0)
        level = min(max(round_int(v.numerator, v.denominator, target.rounding) + zp, target.qmin), target.qmax)
        return Multiplier(0, level, 0)
    rho = g * g / (scale * scale * (var + bn.eps))
    if g > 0:
        q = BnRequantizer(unit, -unit * zero - mu, rho, cst, zp, target.qmin, target.qmax, relu, target.rounding)
        return find_multiplier(q, lo, hi)
    q = BnRequantizer(unit, unit * zero + mu, rho, cst, zp, target.qmin, target.qmax, relu, target.rounding)
    mirrored = find_multiplier(q, -hi, -lo)  # in m' = -m
    return Multiplier(-mirrored.mult, mirrored.offset, mirrored.shift)


def requantize(r: Reader, node: onnx.NodeProto, src: Layer, target: QuantTarget, out_tensor: str,
               clip: tuple[int, int] | None = None, relu: bool = False, bn: BnParams | None = None) -> Layer:
    """Add the exact requantization of ``src`` to ``target`` (a Quant or QuantizeLinear node) and
    map ``out_tensor`` to it; returns the new layer (or ``src`` when it is already of that type)."""
    info = r.scaled.get(src.name)
    _check_axis(r, node, target, src)
    if clip is not None:
        target = target.with_range(*clip)
    frac_out, out_info = target.frac_and_scaled()
    try:
        out_t = target.out_type(frac_out)
    except (ValueError, FixedPointRangeError) as e:
        raise r.fail(node, f"{e}", True) from None
    channels = int(src.shape[0])
    if info is None:
        factors, zeros = [Fraction(1)] * channels, [Fraction(0)] * channels
    else:
        factors, zeros = info.per_channel(channels)
    if relu and bn is None and all(z == 0 for z in zeros):  # an exact ReLU on the mantissas, nothing to fold
        name, origin = r.new_name(node, "relu")
        src = r.add_layer(ReluLayer(name, (src.name,), src.shape, src.out_type, origin=origin), out_tensor)
        r.scaled[src.name] = Scaled(tuple(factors), tuple(zeros))
        relu = False
    scales = list(target.scale) * channels if len(target.scale) == 1 else list(target.scale)
    zps = list(target.zp) * channels if len(target.zp) == 1 else list(target.zp)
    # with zero points 0, R(max(v, 0)) = max(R(v), 0): the ReLU acts on the multiplier's sum
    act = Activation.LINEAR
    if relu and all(z == 0 for z in zps) and target.qmin <= 0:
        act, relu = Activation.RELU, False
    lo, hi = _src_range(src.out_type)
    unit = Fraction(2) ** -src.out_type.frac
    ratios = [(unit * factors[c] / scales[c], -zeros[c] * unit * factors[c] / scales[c]) for c in range(channels)]
    dyadic = _dyadic_multipliers(ratios, zps, lo, hi) if not relu and bn is None else None
    muls: list[Multiplier] = []
    cache: dict[tuple[Fraction, Fraction, int], Multiplier] = {}
    for c in range(channels if dyadic is None else 0):
        a, b = ratios[c]
        key = (a, b, zps[c]) if bn is None else (Fraction(c), Fraction(0), 0)
        if key not in cache:
            try:
                if bn is not None:
                    cache[key] = _bn_multiplier(bn, c, unit * factors[c], zeros[c], scales[c], zps[c], target, relu,
                                                lo, hi)
                else:
                    g = Requantizer(a, b, zps[c], target.qmin, target.qmax, target.rounding, relu)
                    cache[key] = find_multiplier(g, lo, hi)
            except (RequantError, ValueError) as e:
                hint = (" (a ReLU on a tensor with a zero point, before a quantizer whose zero point is above its "
                        "minimum, is not supported)") if relu else ""
                raise r.fail(node, f"channel {c}: {e}{hint}", True) from None
        muls.append(cache[key])
    rounding = Rounding.TRN  # the searched form is floor((m*M + O) / 2^k)
    if dyadic is not None:  # exact products: the cast rounds with the model's own mode, ties included
        muls, rounding = dyadic, target.rounding
    if (bn is None and out_info == info and out_t == src.out_type and act is Activation.LINEAR
            and all(m.mult == 1 << m.shift and m.offset == 0 for m in muls)):
        r.alias(out_tensor, src)
        return src
    k = max(m.shift for m in muls)
    muls = [m.scaled_to(k) for m in muls]
    fx = src.out_type.frac
    fa = k + frac_out
    fm = fa - fx
    mult = np.array([m.mult for m in muls], dtype=np.int64)
    offset = np.array([m.offset for m in muls], dtype=np.int64)
    try:
        wm = max(int(np.abs(mult).max()).bit_length() + 1, 2)
        mult_type = FixedType(wm, wm - fm, True)
        offset_type = signed_type_for(int(np.abs(offset).max()), fa, "offset")
        bound = max(max(abs(lo), abs(hi)) * abs(int(m)) + abs(int(o)) for m, o in zip(mult.tolist(), offset.tolist(),
                                                                                       strict=True))
        acc_type = signed_type_for(bound, fa, "requantization")
    except FixedPointRangeError as e:
        raise r.fail(node, f"the exact requantization is too wide: {e}", True) from None
    levels = target.qmax - target.qmin
    how = ("the exact products (a dyadic ratio: the cast rounds with the model's own mode)" if dyadic is not None
           else f"floor((m*M + O) / 2^{k}), proven equal to the exact rounding at all {levels} steps of every channel "
                "over the whole input range")
    r.notes.append(f"requantization at node {esc_name(node)}: a {mult_type.width}-bit multiplier per lane, {how}; a "
                   f"threshold table would store {levels} x {channels} values of {src.out_type.width} bits")
    name, origin = r.new_name(node, "requant")
    layer = ScaleLayer(name, (src.name,), src.shape, out_t.with_modes(rounding), mult=mult, mult_type=mult_type,
                       offset=offset, offset_type=offset_type, divisor=np.ones(channels, dtype=np.int64),
                       acc_type=acc_type, activation=act, origin=origin)
    r.add_layer(layer, out_tensor)
    if out_info is not None:
        r.scaled[layer.name] = out_info
    return layer


def _dyadic_multipliers(ratios: Sequence[tuple[Fraction, Fraction]], zps: Sequence[int], lo: int,
                        hi: int) -> list[Multiplier] | None:
    """``M = a * 2^k``, ``O = (b + zp) * 2^k`` when every ``a`` and ``b`` is dyadic: ``(m*M + O) / 2^k``
    is then the exact value and the cast's own rounding (ties included) is the model's; None when a
    ratio has an odd denominator or the products would pass 60 bits."""
    out = []
    for (a, b), zp in zip(ratios, zps, strict=True):
        dens = (a.denominator, b.denominator)
        if any(d & (d - 1) for d in dens):
            return None
        k = max(d.bit_length() - 1 for d in dens)
        mult = int(a * (1 << k))
        offset = int((b + zp) * (1 << k))
        if (max(abs(lo), abs(hi)) * mult + abs(offset)).bit_length() >= MAX_WIDTH - 1:
            return None
        out.append(Multiplier(mult, offset, k))
    return out


def esc_name(node: onnx.NodeProto) -> str:
    from fpga_flow.onnx_io.reader import esc

    return esc(node.name or node.output[0])


def dequant_of(src: Layer, info: Scaled, relu: bool = False) -> Dequant:
    """The host-side conversion of an output's mantissas to real values."""
    unit = Fraction(2) ** -src.out_type.frac
    return Dequant(tuple(unit * f for f in info.factor), info.zero, relu)


def spread_to(info: Scaled, src_shape: tuple[int, ...], shape: tuple[int, ...]) -> Scaled | None:
    """``info`` after a reshape from ``src_shape`` to ``shape`` (None when per-channel values cannot follow)."""
    if len(set(info.factor)) == 1 and len(set(info.zero)) == 1:
        return Scaled(info.factor[:1], info.zero[:1])
    channels = int(src_shape[0])
    per = int(np.prod(src_shape[1:])) if len(src_shape) > 1 else 1
    if len(shape) != 1:
        return None
    f, z = info.per_channel(channels)
    return Scaled(tuple(v for v in f for _ in range(per)), tuple(v for v in z for _ in range(per)))


#: Op types that read a tensor whose scale is not a power of two (the others refuse it).
SCALED_AWARE = ("Quant", "QuantizeLinear", "DequantizeLinear", "Relu", "BatchNormalization", "Flatten", "Reshape",
                "Squeeze", "Unsqueeze", "Clip", "Transpose",
                "Identity", "Dropout", "Cast", "MaxPool", "MatMul", "Gemm", "Conv", "Softmax",
                "LogSoftmax")


def quantize_exact(values: np.ndarray, target: QuantTarget, axis_shape: Sequence[int] | None = None) -> np.ndarray:
    """``clamp(round(x / scale) + zp, qmin, qmax)`` of float ``values`` exactly (int64), the
    per-channel parameters broadcast by ``axis_shape`` (a shape that broadcasts against ``values``)."""
    v = np.asarray(values, dtype=np.float64)
    s = on_axis(np.array(target.scale, dtype=object), axis_shape)
    z = on_axis(np.array(target.zp, dtype=object), axis_shape)
    sb = np.broadcast_to(s, v.shape)
    zb = np.broadcast_to(z, v.shape)
    out = np.empty(v.shape, dtype=np.int64)
    for idx, x in np.ndenumerate(v):
        q = Fraction(float(x)) / sb[idx]
        n = round_int(q.numerator, q.denominator, target.rounding) + int(zb[idx])
        out[idx] = min(max(n, target.qmin), target.qmax)
    return out


def on_axis(values: np.ndarray, shape: Sequence[int] | None) -> np.ndarray:
    """Per-tensor (one value: a scalar) or per-axis parameters laid out to broadcast as ``shape``."""
    if values.size == 1:
        return values.reshape(())
    return values.reshape(tuple(shape)) if shape is not None else values


def axis_shape(node: onnx.NodeProto, n: int, rank: int) -> tuple[int, ...] | None:
    """The broadcast shape of ``n`` per-axis parameters of a ``QuantizeLinear``/``DequantizeLinear``
    on a tensor of ``rank`` (None: per tensor)."""
    if n == 1:
        return None
    axis = int(attr(node, "axis", 1)) % max(rank, 1)
    return tuple(n if i == axis else 1 for i in range(rank))


def make_mac_scaled(r: Reader, node: onnx.NodeProto, src: Layer, w: _Const, layout: Callable[[np.ndarray], np.ndarray],
                    bias: tuple[_Const, onnx.NodeProto] | None, out_tensor: str, prefix: str,
                    build: Callable[..., MacLayer]) -> MacLayer:
    """A MAC layer on integer mantissas where the input or the weights carry a scale factor or a
    zero point: the products are summed exactly, the input's zero point and the bias go into the
    output's rational zero, the factors into its factor (see the module doc)."""
    from fpga_flow.ir import CodebookCsrWeights, Conv2dLayer, DenseWeights
    from fpga_flow.ir.accum import accumulator_bound
    from fpga_flow.onnx_io.reader import _codebook_storage, esc

    info = r.scaled.get(src.name)
    if node.input[0] in r.relu_pending:
        raise r.fail(node, "a ReLU on a tensor with a zero point must be followed by a quantizer before a MAC layer",
                     True)
    if info is not None and info.uniform_factor is None:
        raise r.fail(node, "the input has per-channel scales; only a per-tensor input scale can feed a MAC layer "
                     "(quantize the activation per tensor)", True)
    f_x = info.factor[0] if info is not None else Fraction(1)
    w = r.fixed_const(node, w, "weight")
    assert w.mant is not None and w.ftype is not None
    mant = np.ascontiguousarray(layout(w.mant))
    rows, row_len = mant.shape
    if w.factor is not None:
        fac = layout(np.broadcast_to(w.factor, w.values.shape))
        row_f = [fac[i, 0] if row_len else Fraction(1) for i in range(rows)]
        for i in range(rows):
            if row_len and any(v != row_f[i] for v in fac[i].tolist()):
                raise r.fail(node, "weight scales differ within one output row (per-input-channel scales): only "
                             "per-tensor or per-output-channel weight scales are supported", True)
    else:
        row_f = [Fraction(1)] * rows
    if w.codebook is not None and w.codes is not None:
        storage: CodebookCsrWeights | DenseWeights = _codebook_storage(mant, np.ascontiguousarray(layout(w.codes)),
                                                                      w.codebook)
    else:
        storage = DenseWeights(mant)
    # the input's zero point, summed through each row (exact)
    if info is not None and not info.zero_free:
        if len(info.zero) == 1:
            z_row = [info.zero[0] * int(v) for v in mant.sum(axis=1).tolist()]
        elif prefix == "dense" and len(info.zero) == row_len:
            zs = list(info.zero)
            z_row = [sum((zs[j] * int(v) for j, v in enumerate(mant[i].tolist()) if v), Fraction(0))
                     for i in range(rows)]
        else:
            raise r.fail(node, "the input's zero point differs per channel: only a per-tensor zero point can feed a "
                         "convolution", True)
    else:
        z_row = [Fraction(0)] * rows
    fp = w.ftype.frac + src.out_type.frac
    unit = [Fraction(2) ** -fp * f_x * f for f in row_f]
    if bias is not None:
        b, bnode = bias
        bex = b.exact if b.exact is not None else np.vectorize(exact, otypes=[object])(np.asarray(b.values))
        bv = list(np.asarray(bex, dtype=object).reshape(-1))
        if len(bv) == 1 and rows > 1:
            bv = bv * rows
        if len(bv) != rows:
            raise r.fail(bnode, f"bias has {len(bv)} values, expected {rows}")
    else:
        bv = [Fraction(0)] * rows
    zero = tuple(z_row[i] - bv[i] / unit[i] for i in range(rows))
    name, origin = r.new_name(node, prefix)
    zero_bias = np.zeros(rows, dtype=np.int64)
    fields = dict(name=name, inputs=(src.name,), weights=storage, weight_type=w.ftype, bias=zero_bias,
                  bias_type=FixedType(2, 2 - fp), origin=origin)
    tmp = build(**fields, out_type=w.ftype, acc_type=FixedType(60, 60 - fp))
    if isinstance(tmp, Conv2dLayer) and any(tmp.pads) and info is not None and not info.zero_free:
        raise r.fail(node, "a convolution with padding on an input with a nonzero zero point is not supported (the "
                     "padded zeros would not be real zeros): export with zero point 0 or without padding", True)
    try:
        acc = signed_type_for(accumulator_bound(tmp, src.out_type, frac=fp), fp, f"layer {esc(origin)}")
    except FixedPointRangeError as e:
        raise r.fail(node, str(e), True) from None
    layer = build(**fields, out_type=acc, acc_type=acc)
    r.add_layer(layer, out_tensor)
    factor = tuple(f_x * f for f in row_f)
    r.scaled[layer.name] = Scaled(factor if len(set(factor)) > 1 else factor[:1],
                                  zero if len(set(zero)) > 1 else zero[:1])
    if not r.quantized:  # a float model: back to the tensor's own fixed-point type at once
        t = r.act_type(out_tensor)
        lo, hi = _src_range(t)
        requantize(r, node, layer, QuantTarget((Fraction(2) ** -t.frac,), (0,), lo, hi, t.rounding), out_tensor)
    return layer
