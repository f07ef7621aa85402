"""Handlers for convolutional networks: ``Conv``, pooling, ``BatchNormalization``, per-channel
``Mul``/``Add`` by constants, the residual ``Add`` of two feature maps and ``Concat``.

``BatchNormalization`` is folded without touching the weights of the layer before it (a folded
scale would move every shared weight off its codebook centroid) into a per-channel
:class:`~fpga_flow.ir.ScaleLayer`, by the rule of :func:`fold_batchnorm`.
"""

from __future__ import annotations

import math
import sys
from dataclasses import replace
from fractions import Fraction

import numpy as np
import onnx

from fpga_flow.fixed import FixedPointRangeError, FixedType, Overflow, Rounding, cast, from_float, min_exact_type
from fpga_flow.ir import (
    AddLayer,
    AvgPool2dLayer,
    ConcatLayer,
    Conv2dLayer,
    Layer,
    MaxPool2dLayer,
    ReshapeLayer,
    ScaleLayer,
)
from fpga_flow.ir.accum import scale_accumulator_type, signed_type_for
from fpga_flow.ir.conv import window_out_shape
from fpga_flow.onnx_io.bn_exact import exact_bn_rounded, input_values
from fpga_flow.onnx_io.reader import Reader, _Const
from fpga_flow.onnx_io.registry import attr, onnx_handler
from fpga_flow.onnx_io.scaled import BnParams

__all__ = ["BN_MAX_MULT_BITS", "BN_MULT_BITS", "fold_batchnorm"]

#: Width of the signed per-channel multiplier a non-power-of-two BatchNormalization scale is
#: rounded to (the 25-bit port of a DSP48 multiplier): relative error at most 2^-24 on the channel of
#: largest |scale|, below float32's own (Brevitas' and onnxruntime's BN arithmetic). 18 bits (the
#: other port) differed from Brevitas' float32 forward on 5 of 12 LeNet-5 samples; 24 matched all.
BN_MULT_BITS = 25
#: Widest BatchNorm multiplier the fold tries (two DSP48 slices; products and sums stay in int64).
BN_MAX_MULT_BITS = 44


# ----------------------------------------------------------------------------- geometry
def _pair(r: Reader, node: onnx.NodeProto, name: str, default: list[int]) -> tuple[int, int]:
    v = [int(a) for a in attr(node, name, default)]
    if len(v) != 2:
        raise r.fail(node, f"{name}={v}: only 2-D windows (two values) are supported", True)
    return v[0], v[1]


def _pads(r: Reader, node: onnx.NodeProto, hw: tuple[int, int], kernel: tuple[int, int],
          stride: tuple[int, int]) -> tuple[int, int, int, int]:
    """ONNX ``pads``/``auto_pad`` as ``(top, left, bottom, right)``."""
    auto = attr(node, "auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        p = [int(v) for v in attr(node, "pads", [0, 0, 0, 0])]
        if len(p) != 4 or min(p) < 0:
            raise r.fail(node, f"pads={p}: expected four values >= 0", True)
        return p[0], p[1], p[2], p[3]
    if auto == "VALID":
        return 0, 0, 0, 0
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        tot = [max((math.ceil(n / s) - 1) * s + k - n, 0) for n, k, s in zip(hw, kernel, stride, strict=True)]
        small = [t // 2 for t in tot]
        big = [t - t // 2 for t in tot]
        begin, end = (small, big) if auto == "SAME_UPPER" else (big, small)
        return begin[0], begin[1], end[0], end[1]
    raise r.fail(node, f"auto_pad={auto!r} is not supported (NOTSET, VALID, SAME_UPPER, SAME_LOWER)", True)


def _feature_map(r: Reader, node: onnx.NodeProto) -> Layer:
    src = r.activation(node)
    if len(src.shape) != 3:
        raise r.fail(node, f"the input must be a 2-D feature map (N, C, H, W); it has shape (N, "
                     f"{', '.join(map(str, src.shape))})", True)
    return src


def _no_dilation(r: Reader, node: onnx.NodeProto) -> None:
    d = [int(v) for v in attr(node, "dilations", [1, 1])]
    if any(v != 1 for v in d):
        raise r.fail(node, f"dilations={d} are not supported (only 1)", True)


def _one_output(r: Reader, node: onnx.NodeProto) -> None:
    if len([o for o in node.output if o]) > 1:
        raise r.fail(node, "only the first output is supported (e.g. no MaxPool indices, no BatchNormalization "
                     "running statistics)", True)


# ----------------------------------------------------------------------------- Conv
@onnx_handler("Conv", note="2-D, dilation 1, constant weight and bias")
def read_conv(r: Reader, node: onnx.NodeProto) -> None:
    src = _feature_map(r, node)
    w = r.const(node.input[1])
    if w is None:
        raise r.fail(node, "the weight (input 1) must be a constant", True)
    if w.values.ndim != 4:
        raise r.fail(node, f"the weight must be 4-D (C_out, C_in/group, kh, kw), got shape {w.values.shape}", True)
    c_out, cg, kh, kw = (int(v) for v in w.values.shape)
    kernel = _pair(r, node, "kernel_shape", [kh, kw])
    if kernel != (kh, kw):
        raise r.fail(node, f"kernel_shape {list(kernel)} differs from the weight's {[kh, kw]}")
    _no_dilation(r, node)
    stride = _pair(r, node, "strides", [1, 1])
    c_in, h, wd = (int(v) for v in src.shape)
    pads = _pads(r, node, (h, wd), kernel, stride)
    groups = int(attr(node, "group", 1))
    if groups < 1 or cg * groups != c_in or c_out % groups:
        raise r.fail(node, f"group={groups} does not fit {c_in} input channels, weight {list(w.values.shape)}", True)
    bias = r.input_bias(node, 2, "the bias (input 2)")
    ho, wo = window_out_shape(h, wd, kernel, stride, pads)
    if ho < 1 or wo < 1:
        raise r.fail(node, f"the {kh}x{kw} kernel does not fit the {h}x{wd} input with pads {list(pads)}", True)
    r.make_mac(node, src, w, lambda a: a.reshape(a.shape[0], -1), bias, node.output[0], "conv",
               lambda **kw: Conv2dLayer(**kw, shape=(c_out, ho, wo), in_shape=(c_in, h, wd), kernel=kernel,
                                        stride=stride, pads=pads, groups=groups))


# ----------------------------------------------------------------------------- pooling
def _window(r: Reader, node: onnx.NodeProto, src: Layer) -> tuple[tuple[int, int], tuple[int, int], tuple[int, ...]]:
    if int(attr(node, "ceil_mode", 0)) != 0:
        raise r.fail(node, "ceil_mode=1 is not supported (only the floor output size)", True)
    _no_dilation(r, node)
    kernel = _pair(r, node, "kernel_shape", [])
    stride = _pair(r, node, "strides", [1, 1])
    pads = _pads(r, node, (int(src.shape[1]), int(src.shape[2])), kernel, stride)
    return kernel, stride, pads


def _pool_shape(r: Reader, node: onnx.NodeProto, src: Layer, kernel: tuple[int, int], stride: tuple[int, int],
                pads: tuple[int, ...]) -> tuple[int, int, int]:
    p4 = (pads[0], pads[1], pads[2], pads[3])
    ho, wo = window_out_shape(int(src.shape[1]), int(src.shape[2]), kernel, stride, p4)
    if ho < 1 or wo < 1:
        raise r.fail(node, f"the window {list(kernel)} does not fit the input {list(src.shape[1:])}", True)
    return int(src.shape[0]), ho, wo


@onnx_handler("MaxPool", note="2-D, ceil_mode=0, dilation 1")
def read_maxpool(r: Reader, node: onnx.NodeProto) -> None:
    _one_output(r, node)
    src = _feature_map(r, node)
    if int(attr(node, "storage_order", 0)) != 0:
        raise r.fail(node, "storage_order=1 is not supported", True)
    kernel, stride, pads = _window(r, node, src)
    shape = _pool_shape(r, node, src, kernel, stride, pads)
    name, origin = r.new_name(node, "maxpool")
    lay = r.add_layer(MaxPool2dLayer(name, (src.name,), shape, src.out_type, kernel=kernel, stride=stride,
                                     pads=(pads[0], pads[1], pads[2], pads[3]), origin=origin), node.output[0])
    if src.name in r.scaled:  # a positive scale and a zero point commute with the max
        r.scaled[lay.name] = r.scaled[src.name]


def _avg_out_type(r: Reader, src: Layer, count: int, out_tensor: str) -> FixedType:
    """The output type of an average: exact when ``count`` is a power of two (the input type grown
    by ``log2(count)`` fractional bits), else those bits rounded to nearest even; a following
    ``Quant`` is fused into it, so the exact average is rounded once. ``precision`` in a float model."""
    if not r.quantized:
        return r.act_type(out_tensor)
    t = src.out_type
    extra = max(0, (count - 1).bit_length())
    return FixedType(t.width + extra, t.integer, t.signed, Rounding.RND_CONV, Overflow.SAT)


def _add_avgpool(r: Reader, node: onnx.NodeProto, src: Layer, kernel: tuple[int, int], stride: tuple[int, int],
                 pads: tuple[int, ...], include_pad: bool, out_tensor: str, prefix: str) -> Layer:
    shape = _pool_shape(r, node, src, kernel, stride, pads)
    name, origin = r.new_name(node, prefix)
    out_t = _avg_out_type(r, src, kernel[0] * kernel[1], out_tensor)
    nxt = r.single_consumer(out_tensor)
    if nxt is not None and r.is_quant(nxt) and nxt.input[0] == out_tensor:
        # the model rounds the exact average once, to the Quant's type: so does the layer
        out_t = r.quant_type(nxt)
        r.mark_consumed(nxt)
        out_tensor = nxt.output[0]
    layer = AvgPool2dLayer(name, (src.name,), shape, out_t, kernel=kernel,
                           stride=stride, pads=(pads[0], pads[1], pads[2], pads[3]),
                           count_include_pad=include_pad, origin=origin)
    r.add_layer(layer, out_tensor)
    return layer


@onnx_handler("AveragePool", note="2-D, ceil_mode=0")
def read_avgpool(r: Reader, node: onnx.NodeProto) -> None:
    src = _feature_map(r, node)
    kernel, stride, pads = _window(r, node, src)
    _add_avgpool(r, node, src, kernel, stride, pads, bool(attr(node, "count_include_pad", 0)), node.output[0],
                 "avgpool")


@onnx_handler("GlobalAveragePool")
def read_global_avgpool(r: Reader, node: onnx.NodeProto) -> None:
    src = _feature_map(r, node)
    hw = (int(src.shape[1]), int(src.shape[2]))
    _add_avgpool(r, node, src, hw, hw, (0, 0, 0, 0), False, node.output[0], "gap")


@onnx_handler("GlobalMaxPool")
def read_global_maxpool(r: Reader, node: onnx.NodeProto) -> None:
    src = _feature_map(r, node)
    hw = (int(src.shape[1]), int(src.shape[2]))
    name, origin = r.new_name(node, "gmp")
    r.add_layer(MaxPool2dLayer(name, (src.name,), (int(src.shape[0]), 1, 1), src.out_type, kernel=hw, stride=hw,
                               origin=origin), node.output[0])


@onnx_handler("ReduceMean", note="over the spatial axes (2, 3) of a feature map")
def read_reduce_mean(r: Reader, node: onnx.NodeProto) -> None:
    src = _feature_map(r, node)
    axes = attr(node, "axes", None)
    if axes is None and len(node.input) > 1 and node.input[1]:
        c = r.const(node.input[1])
        axes = None if c is None else [int(v) for v in np.asarray(c.values).ravel()]
    if axes is None or sorted(a % 4 for a in axes) != [2, 3]:
        raise r.fail(node, f"only a mean over the spatial axes [2, 3] (a global average pool) is supported, "
                     f"got axes={axes}", True)
    keep = int(attr(node, "keepdims", 1))
    hw = (int(src.shape[1]), int(src.shape[2]))
    tensor = node.output[0] if keep else node.output[0] + "\0pooled"
    pooled = _add_avgpool(r, node, src, hw, hw, (0, 0, 0, 0), False, tensor, "gap")
    if not keep:
        name, origin = r.new_name(node, "reshape")
        r.add_layer(ReshapeLayer(name, (pooled.name,), (int(src.shape[0]),), pooled.out_type, origin=origin),
                    node.output[0])


# ----------------------------------------------------------------------------- per-channel
def _fold_at(s: np.ndarray, b: np.ndarray, mu: np.ndarray, bits: int, in_type: FixedType
             ) -> tuple[np.ndarray, FixedType, np.ndarray, int]:
    """Multipliers ``s`` rounded half to even to a signed ``bits``-bit type just holding ``max |s|``,
    offsets ``beta - mean * m`` exact, rounded half to even to the LSB of ``x * m``."""
    top = float(np.max(np.abs(s)))
    frac = bits - 2 - math.floor(math.log2(top))
    while round(top * 2.0**frac) > (1 << (bits - 1)) - 1:
        frac -= 1
    mult_type = FixedType(bits, bits - frac, True, Rounding.RND_CONV, Overflow.SAT)
    mult = from_float(s, mult_type)
    fo = in_type.frac + mult_type.frac
    step = Fraction(2) ** -mult_type.frac
    scale = Fraction(2) ** fo
    off = [round((Fraction(float(bc)) - Fraction(float(mc)) * int(m) * step) * scale)  # half to even
           for bc, mc, m in zip(b, mu, mult.tolist(), strict=True)]
    return mult, mult_type, np.array(off, dtype=object), fo


#: fold_batchnorm results by their arguments (a model read twice in one process folds once)
_FOLDS: dict[tuple, tuple[np.ndarray, FixedType, np.ndarray, FixedType, int]] = {}


def fold_batchnorm(
    gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray, eps: float, in_type: FixedType,
    grid: tuple[int, Rounding] | None = None,
) -> tuple[np.ndarray, FixedType, np.ndarray, FixedType, int]:
    """``BatchNormalization`` folded into a per-channel scale (the rule: :func:`_fold_batchnorm`)."""
    key = (*(np.asarray(a, dtype=np.float64).tobytes() for a in (gamma, beta, mean, var)), float(eps), in_type, grid)
    if key not in _FOLDS:
        if len(_FOLDS) > 256:
            _FOLDS.clear()
        _FOLDS[key] = _fold_batchnorm(gamma, beta, mean, var, eps, in_type, grid)
    mult, mt, off, ot, inexact = _FOLDS[key]
    return mult.copy(), mt, off.copy(), ot, inexact


def _fold_batchnorm(
    gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray, eps: float, in_type: FixedType,
    grid: tuple[int, Rounding] | None = None,
) -> tuple[np.ndarray, FixedType, np.ndarray, FixedType, int]:
    """``BatchNormalization`` as ``y = x * m_c * 2^-fm + o_c * 2^-(fx+fm)``:
    ``(mult, mult_type, offset, offset_type, inexact)``.

    1. ``s_c = gamma_c / sqrt(var_c + eps)``.
    2. If every ``s_c`` is zero or a power of two, ``mult_type`` is the narrowest type holding them
       exactly (the fold is exact).
    3. Else ``m_c`` is ``s_c`` rounded half to even to a signed ``w``-bit type whose range just holds
       ``max |s_c|``, and ``o_c = beta_c - mean_c * m_c * 2^-fm`` (exact rationals of the
       parameters) rounded half to even to the LSB ``2^-(fx + fm)`` of ``x * m``. ``w`` is the
       narrowest width from :data:`BN_MULT_BITS` up for which, on every value the input type holds
       (a 2^16 sample above 16 bits), ``x * m + o`` rounds on ``grid`` (frac, rounding mode: the
       output grid) exactly as the exact ``BatchNormalization`` does
       (:func:`fpga_flow.onnx_io.bn_exact.exact_bn_rounded`); ``inexact`` counts the values where
       even the widest (:data:`BN_MAX_MULT_BITS`) differs. Without ``grid``, ``w`` is
       :data:`BN_MULT_BITS`.
    """
    g, b, mu, v = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (gamma, beta, mean, var))
    s = g / np.sqrt(v + float(eps))
    if not np.all(np.isfinite(s)):
        raise ValueError("the scale gamma / sqrt(var + epsilon) is not finite (var + epsilon <= 0?)")
    exact = min_exact_type(s, max_width=BN_MULT_BITS)
    nz = s[s != 0]
    pow2 = nz.size == 0 or bool(np.all(np.frexp(np.abs(nz))[0] == 0.5))
    inexact = 0
    if pow2 and exact is not None:
        mult_type = exact
        mult = from_float(s, mult_type)
        fo = in_type.frac + mult_type.frac
        off = np.array([round((Fraction(float(bc)) - Fraction(float(mc)) * int(m) * Fraction(2) ** -mult_type.frac)
                              * Fraction(2) ** fo) for bc, mc, m in zip(b, mu, mult.tolist(), strict=True)],
                       dtype=object)
    elif grid is None:
        mult, mult_type, off, fo = _fold_at(s, b, mu, BN_MULT_BITS, in_type)
    else:
        x = input_values(in_type)
        want = [exact_bn_rounded(x, in_type.frac, gamma.reshape(-1)[c], beta.reshape(-1)[c], mean.reshape(-1)[c],
                                 var.reshape(-1)[c], eps, grid[0], grid[1]) for c in range(s.size)]
        widest = max(BN_MULT_BITS, min(BN_MAX_MULT_BITS, 60 - in_type.width))
        # the narrowest exact width, by bisection (a wider multiplier is never less exact in practice;
        # the result is checked whatever the search did)
        lo, hi = BN_MULT_BITS, widest
        m_, _, o_, f_ = _fold_at(s, b, mu, lo, in_type)
        if _fold_misses(x, m_, o_, f_, grid, want):
            while lo < hi:
                mid = (lo + hi) // 2
                m_, _, o_, f_ = _fold_at(s, b, mu, mid, in_type)
                if _fold_misses(x, m_, o_, f_, grid, want):
                    lo = mid + 1
                else:
                    hi = mid
        mult, mult_type, off, fo = _fold_at(s, b, mu, lo, in_type)
        inexact = _fold_misses(x, mult, off, fo, grid, want)
    offset_type = signed_type_for(max((abs(int(o)) for o in off), default=0), fo, "BatchNormalization offset")
    return mult, mult_type, np.array([int(o) for o in off], dtype=np.int64), offset_type, inexact


def _fold_misses(x: np.ndarray, mult: np.ndarray, off: np.ndarray, fo: int, grid: tuple[int, Rounding],
                 want: list[np.ndarray]) -> int:
    """Input values (over all channels) where ``x * m + o`` rounds on ``grid`` unlike the exact BN."""
    t = FixedType(60, 60 - grid[0], True, grid[1], Overflow.WRAP)  # the grid, wide enough never to wrap
    misses = 0
    for c, m in enumerate(mult.tolist()):
        acc = x * np.int64(m) + np.int64(int(off[c]))
        got = cast(acc, fo, t)
        misses += int(np.count_nonzero(got != want[c]))
    return misses


def _bn_param(r: Reader, node: onnx.NodeProto, a: np.ndarray, src: Layer, what: str) -> np.ndarray:
    """A BatchNormalization parameter: one value per channel (``[C]``)."""
    a = np.asarray(a).reshape(-1)
    if a.size != int(src.shape[0]):
        raise r.fail(node, f"the {what} has {a.size} values for {src.shape[0]} channels")
    return a


def _channel_vector(r: Reader, node: onnx.NodeProto, a: np.ndarray, src: Layer, what: str) -> np.ndarray:
    """The constant operand of a ``Mul``/``Add`` as one value per channel, by ONNX (numpy)
    broadcasting against ``(N, *shape)``: every axis but the channel axis (1) must be 1."""
    c = int(src.shape[0])
    a = np.asarray(a)
    rank = len(src.shape) + 1
    if a.ndim > rank:
        raise r.fail(node, f"the {what} of shape {list(a.shape)} has more axes than the input", True)
    full = [1] * (rank - a.ndim) + [int(d) for d in a.shape]
    if all(d == 1 for i, d in enumerate(full) if i != 1) and full[1] in (1, c):
        return np.broadcast_to(a.reshape(-1), (c,)).copy() if a.size == 1 else a.reshape(-1)
    raise r.fail(node, f"the {what} of shape {list(a.shape)} is not one value per channel of the input "
                 f"(N, {', '.join(map(str, src.shape))}): use a scalar or shape [1, C"
                 + (", 1, 1]" if len(src.shape) == 3 else "]"), True)


def _add_scale(r: Reader, node: onnx.NodeProto, src: Layer, mult: np.ndarray, mult_type: FixedType,
               offset: np.ndarray, offset_type: FixedType, prefix: str) -> None:
    c = int(src.shape[0])
    name, origin = r.new_name(node, prefix)
    probe = ScaleLayer(name, (src.name,), src.shape, mult_type, mult=mult, mult_type=mult_type, offset=offset,
                       offset_type=offset_type, divisor=np.ones(c, dtype=np.int64), acc_type=mult_type, origin=origin)
    try:
        acc = scale_accumulator_type(probe, src.out_type)
    except FixedPointRangeError as e:
        raise r.fail(node, str(e), True) from None
    layer = replace(probe, acc_type=acc, out_type=acc if r.quantized else r.act_type(node.output[0]))
    r.add_layer(layer, node.output[0])


@onnx_handler("BatchNormalization", note="inference form, folded into a per-channel scale")
def read_batchnorm(r: Reader, node: onnx.NodeProto) -> None:
    _one_output(r, node)
    if int(attr(node, "training_mode", 0)) != 0:
        raise r.fail(node, "training_mode=1 is not supported: export the model in eval mode", True)
    src = r.activation(node)
    params = []
    for pos, what in ((1, "scale"), (2, "bias"), (3, "mean"), (4, "var")):
        c = r.const(node.input[pos]) if len(node.input) > pos else None
        if c is None:
            raise r.fail(node, f"the {what} (input {pos}) must be a constant", True)
        params.append(_bn_param(r, node, c.values, src, what))
    eps = float(attr(node, "epsilon", 1e-5))
    if src.name in r.scaled or node.input[0] in r.relu_pending:
        _pending_batchnorm(r, node, src, params, eps)
        return
    grid = _output_grid(r, node)
    try:
        mult, mt, off, ot, inexact = fold_batchnorm(params[0], params[1], params[2], params[3], eps, src.out_type,
                                                    grid)
    except (ValueError, FixedPointRangeError) as e:
        raise r.fail(node, str(e), True) from None
    if inexact:
        print(f"fpga-flow: warning: node '{node.name}' (BatchNormalization): even a {mt.width}-bit multiplier rounds "
              f"{inexact} input value(s) differently from the exact BatchNorm", file=sys.stderr)
    _add_scale(r, node, src, mult, mt, off, ot, "bn")


def _pending_batchnorm(r: Reader, node: onnx.NodeProto, src: Layer, params: list[np.ndarray], eps: float) -> None:
    """A BatchNormalization on a tensor whose scale is not a power of two: folded, exactly, into the
    quantizer that follows it (through a ``Relu``), see :class:`~fpga_flow.onnx_io.requant.BnRequantizer`."""
    if node.input[0] in r.relu_pending:
        raise r.fail(node, "a BatchNormalization after a ReLU on a tensor with a zero point is not supported", True)
    nxt = r.single_consumer(node.output[0])
    if nxt is not None and nxt.op_type == "Relu":
        nxt = r.single_consumer(nxt.output[0])
    if nxt is None or not (r.is_quant(nxt) or nxt.op_type == "QuantizeLinear"):
        raise r.fail(node, "a BatchNormalization on a tensor whose scale is not a power of two is supported only when "
                     "a quantizer (Quant/QuantizeLinear) follows it, optionally after a Relu", True)
    frac = [tuple(Fraction(float(v)) for v in np.asarray(p, dtype=np.float64).ravel()) for p in params]
    r.bn_pending[node.output[0]] = BnParams(frac[0], frac[1], frac[2], frac[3], Fraction(float(np.float32(eps))))
    r.alias(node.output[0], src)


def _output_grid(r: Reader, node: onnx.NodeProto) -> tuple[int, Rounding]:
    """The grid the BatchNorm's result is rounded to: the ``Quant`` that reads it (through a ``Relu``),
    else the float model's precision, else 8 fractional bits finer than the input (documented)."""
    nxt = r.single_consumer(node.output[0])
    if nxt is not None and nxt.op_type == "Relu":
        nxt = r.single_consumer(nxt.output[0])
    if nxt is not None and r.is_quant(nxt):
        t = r.quant_type(nxt)
        return t.frac, t.rounding
    if not r.quantized:
        t = r.act_type(node.output[0])
        return t.frac, t.rounding
    src = r.activation(node)
    return src.out_type.frac + 8, Rounding.RND_CONV


def _const_operand(r: Reader, node: onnx.NodeProto) -> tuple[Layer, np.ndarray] | None:
    """``(activation, constant)`` for a binary op with one constant operand, else None."""
    a, b = node.input[0], node.input[1]
    ca, cb = r.const(a), r.const(b)
    if ca is None and cb is not None:
        return r.activation(node, 0), cb.values
    if cb is None and ca is not None:
        return r.activation(node, 1), ca.values
    return None


def _typed(r: Reader, node: onnx.NodeProto, values: np.ndarray, what: str) -> tuple[np.ndarray, FixedType]:
    c = r.fixed_const(node, _Const(np.asarray(values, dtype=np.float64)), what)
    assert c.mant is not None and c.ftype is not None
    return np.asarray(c.mant).reshape(-1), c.ftype


@onnx_handler("Mul", note="by a per-channel or scalar constant")
def read_mul(r: Reader, node: onnx.NodeProto) -> None:
    pair = _const_operand(r, node)
    if pair is None:
        raise r.fail(node, "only a Mul by a constant (scalar or one value per channel) is supported", True)
    src, k = pair
    mult, mt = _typed(r, node, _channel_vector(r, node, k, src, "multiplier"), "multiplier")
    fo = src.out_type.frac + mt.frac
    _add_scale(r, node, src, mult, mt, np.zeros_like(mult), FixedType(2, 2 - fo), "mul")


@onnx_handler("Add", note="bias of a MatMul, per-channel constant, or two activations (residual)")
def read_add(r: Reader, node: onnx.NodeProto) -> None:
    pair = _const_operand(r, node)
    if pair is not None:
        src, k = pair
        off, ot = _typed(r, node, _channel_vector(r, node, k, src, "addend"), "addend")
        one = FixedType(2, 2)
        _add_scale(r, node, src, np.ones_like(off), one, off, ot, "add")
        return
    srcs = [r.activation(node, i) for i in range(len(node.input))]
    shapes = {tuple(s.shape) for s in srcs}
    if len(shapes) != 1:
        raise r.fail(node, f"the inputs have shapes {sorted(shapes)}; only an Add of equal shapes (no broadcast) "
                     "is supported", True)
    if r.quantized:
        frac = max(s.out_type.frac for s in srcs)
        bound = sum(s.out_type.max_abs_mantissa << (frac - s.out_type.frac) for s in srcs)
        try:
            out_t = signed_type_for(bound, frac, "Add")
        except FixedPointRangeError as e:
            raise r.fail(node, str(e), True) from None
    else:
        out_t = r.act_type(node.output[0])
    name, origin = r.new_name(node, "add")
    r.add_layer(AddLayer(name, tuple(s.name for s in srcs), srcs[0].shape, out_t, origin=origin), node.output[0])


@onnx_handler("Concat", note="on the channel axis")
def read_concat(r: Reader, node: onnx.NodeProto) -> None:
    srcs = [r.activation(node, i) for i in range(len(node.input))]
    rank = len(srcs[0].shape) + 1
    axis = int(attr(node, "axis", 1))
    if axis % rank != 1 or any(len(s.shape) + 1 != rank for s in srcs):
        raise r.fail(node, f"only a Concat on the channel axis (axis=1) of equal-rank inputs is supported, "
                     f"got axis={axis}", True)
    types = {s.out_type for s in srcs}
    if len(types) == 1:
        out_t = next(iter(types))
    else:
        frac = max(t.frac for t in types)
        signed = any(t.signed for t in types)
        integer = max(t.integer + (1 if signed and not t.signed else 0) for t in types)
        try:
            out_t = FixedType(integer + frac, integer, signed, Rounding.RND_CONV, Overflow.SAT)
        except FixedPointRangeError as e:
            raise r.fail(node, str(e), True) from None
    rest = {tuple(s.shape[1:]) for s in srcs}
    if len(rest) != 1:
        raise r.fail(node, f"the inputs differ outside the channel axis: {[list(s.shape) for s in srcs]}", True)
    shape = (sum(int(s.shape[0]) for s in srcs), *next(iter(rest)))
    name, origin = r.new_name(node, "concat")
    r.add_layer(ConcatLayer(name, tuple(s.name for s in srcs), shape, out_t, origin=origin), node.output[0])
