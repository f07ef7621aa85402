"""An independent exact interpreter of the ONNX subset fpga-flow reads (tests only).

Every value is a ``fractions.Fraction``; a float constant is the exact (dyadic) value of its float.
The operators compute what the ONNX / QONNX specifications define mathematically, with no float
rounding anywhere:

* QONNX ``Quant`` follows qonnx's ``int_quant``: x / scale + zero point, clamp to the integer
  range of (bit width, signed, narrow), round with the named mode, subtract the zero point and
  rescale (1-bit signed is bipolar, as qonnx does).
* ``QuantizeLinear``: round(x / scale) half to even, + zero point, saturate to the output type
  (int8 / uint8 / int16 / uint16 / int32 ...); ``DequantizeLinear``: (q - zero point) * scale.
  Both per tensor or per axis (``axis`` attribute, default 1).
* ``Clip``, ``Conv`` (group 1), ``MaxPool``, ``Relu``, ``MatMul``, ``Gemm``, ``Add`` / ``Sub`` /
  ``Mul`` / ``Div``, ``Flatten``, ``Reshape``, ``Transpose``, ``Identity`` / ``Dropout``,
  ``Gather``, ``Constant`` and a value-preserving ``Cast``.

Anything else (or an attribute value this interpreter does not model) raises instead of being
approximated. It shares no code with fpga_flow, so agreeing with it proves the reader + reference
bit for bit.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import onnx
from onnx import numpy_helper

ZERO = Fraction(0)

# integer ranges of the ONNX integer element types QuantizeLinear can saturate to
_INT_RANGE = {
    np.dtype(np.int8): (-(2**7), 2**7 - 1),
    np.dtype(np.uint8): (0, 2**8 - 1),
    np.dtype(np.int16): (-(2**15), 2**15 - 1),
    np.dtype(np.uint16): (0, 2**16 - 1),
    np.dtype(np.int32): (-(2**31), 2**31 - 1),
    np.dtype(np.uint32): (0, 2**32 - 1),
}


def _frac_array(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    out = np.empty(a.shape, dtype=object)
    for idx, v in np.ndenumerate(a):
        out[idx] = Fraction(float(v)) if a.dtype.kind == "f" else Fraction(int(v))
    return out


def _map(fn, a: np.ndarray) -> np.ndarray:  # noqa: ANN001
    return np.vectorize(fn, otypes=[object])(a) if a.size else np.empty(a.shape, dtype=object)


def _round(v: Fraction, mode: str) -> int:
    mode = mode.upper()
    if mode in ("ROUND", "HALF_EVEN"):
        return round(v)  # Fraction.__round__ rounds half to even
    if mode == "FLOOR":
        return math.floor(v)
    if mode == "CEIL":
        return math.ceil(v)
    if mode == "DOWN":
        return math.trunc(v)
    if mode == "UP":  # away from zero
        return int(math.copysign(math.ceil(abs(v)), v)) if v else 0
    if mode == "HALF_UP":
        return int(math.copysign(math.floor(abs(v) + Fraction(1, 2)), v)) if v else 0
    if mode == "HALF_DOWN":
        return int(math.copysign(math.ceil(abs(v) - Fraction(1, 2)), v)) if v else 0
    raise ValueError(mode)


def _quant(x: np.ndarray, scale: np.ndarray, zp: np.ndarray, bits: np.ndarray, attrs: dict) -> np.ndarray:
    """QONNX Quant (qonnx.custom_op.general.intquant.int_quant), exactly."""
    signed, narrow = int(attrs.get("signed", 1)), int(attrs.get("narrow", 0))
    mode = attrs.get("rounding_mode", "ROUND")
    widths = {int(b) for b in np.asarray(bits).ravel()}
    if len(widths) != 1 or any(Fraction(int(b)) != b for b in np.asarray(bits).ravel()):
        raise NotImplementedError("Quant with a non-integer or per-channel bit width")
    w = widths.pop()
    lo = (-(2 ** (w - 1)) + (1 if narrow else 0)) if signed else 0
    hi = (2 ** (w - 1) - 1) if signed else (2**w - 1 - (1 if narrow else 0))
    s = np.broadcast_to(np.asarray(scale, dtype=object), x.shape)
    z = np.broadcast_to(np.asarray(zp, dtype=object), x.shape)
    out = np.empty(x.shape, dtype=object)
    for idx, v in np.ndenumerate(x):
        y = v / s[idx] + z[idx]
        if w == 1 and signed:  # qonnx: 1-bit signed is bipolar {-1, +1}
            q = 1 if y >= 0 else -1
        else:
            q = _round(min(max(y, Fraction(lo)), Fraction(hi)), mode)
        out[idx] = (Fraction(q) - z[idx]) * s[idx]
    return out


def _per_axis(p: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    """Scale / zero point of (De)QuantizeLinear shaped to broadcast against ``x``."""
    p = np.asarray(p, dtype=object)
    if p.size == 1:  # per tensor (ORT writes bias scales as float[1])
        return p.reshape(())
    if p.ndim != 1:
        raise NotImplementedError("blocked (De)QuantizeLinear")
    axis = axis % x.ndim
    if p.shape[0] != x.shape[axis]:
        raise ValueError(f"per-axis parameter of length {p.shape[0]} for axis {axis} of shape {x.shape}")
    shape = [1] * x.ndim
    shape[axis] = p.shape[0]
    return p.reshape(shape)


def _quantize_linear(x: np.ndarray, scale: np.ndarray, zp: np.ndarray | None, out_dtype: np.dtype,
                     axis: int) -> np.ndarray:
    if out_dtype not in _INT_RANGE:
        raise NotImplementedError(f"QuantizeLinear to {out_dtype}")
    lo, hi = _INT_RANGE[out_dtype]
    s = _per_axis(scale, x, axis)
    z = _per_axis(zp, x, axis) if zp is not None else np.asarray(ZERO, dtype=object)
    s, z = np.broadcast_to(s, x.shape), np.broadcast_to(z, x.shape)
    out = np.empty(x.shape, dtype=object)
    for idx, v in np.ndenumerate(x):
        q = round(v / s[idx]) + z[idx]  # round half to even, then add the zero point
        out[idx] = Fraction(min(max(q, lo), hi))
    return out


def _dequantize_linear(q: np.ndarray, scale: np.ndarray, zp: np.ndarray | None, axis: int) -> np.ndarray:
    s = _per_axis(scale, q, axis)
    z = _per_axis(zp, q, axis) if zp is not None else np.asarray(ZERO, dtype=object)
    return (q - z) * s


def _clip(x: np.ndarray, lo: Fraction | None, hi: Fraction | None) -> np.ndarray:
    def one(v: Fraction) -> Fraction:
        if lo is not None and v < lo:
            v = lo
        if hi is not None and v > hi:
            v = hi
        return v

    return _map(one, x)


def _ints(a: dict, name: str, default: list[int]) -> list[int]:
    v = a.get(name, default)
    if not isinstance(v, list) or not all(isinstance(i, int) for i in v):
        raise NotImplementedError(f"{name}={v!r}")
    return list(v)


def _window_attrs(a: dict, nd: int) -> tuple[list[int], list[int], list[int], list[int]]:
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise NotImplementedError(f"auto_pad={a['auto_pad']!r}")
    strides = _ints(a, "strides", [1] * nd)
    dil = _ints(a, "dilations", [1] * nd)
    pads = _ints(a, "pads", [0] * (2 * nd))
    if len(strides) != nd or len(dil) != nd or len(pads) != 2 * nd or min(strides + dil) < 1 or min(pads) < 0:
        raise NotImplementedError(f"strides={strides} dilations={dil} pads={pads}")
    return strides, dil, pads[:nd], pads[nd:]


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, a: dict) -> np.ndarray:
    """2-D convolution, group 1:
    out[n, m, i, j] = sum_{c, u, v} x_pad[n, c, i*s + u*d, j*s + v*d] * w[m, c, u, v] + b[m]."""
    if x.ndim != 4 or w.ndim != 4 or int(a.get("group", 1)) != 1 or w.shape[1] != x.shape[1]:
        raise NotImplementedError(f"Conv of {x.shape} with {w.shape}, group {a.get('group', 1)}")
    if "kernel_shape" in a and _ints(a, "kernel_shape", []) != list(w.shape[2:]):
        raise ValueError("kernel_shape does not match the weight")
    (sh, sw), (dh, dw), (pt, pl), (pb, pr) = _window_attrs(a, 2)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=ZERO)
    kh, kw = w.shape[2], w.shape[3]
    oh = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    wm = w.reshape(w.shape[0], -1).T  # (C*kh*kw, M)
    out = np.empty((x.shape[0], w.shape[0], oh, ow), dtype=object)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * sh : i * sh + dh * (kh - 1) + 1 : dh, j * sw : j * sw + dw * (kw - 1) + 1 : dw]
            out[:, :, i, j] = patch.reshape(x.shape[0], -1).dot(wm)
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return out


def _maxpool(x: np.ndarray, a: dict) -> np.ndarray:
    """2-D max pooling; padded positions are ignored (as ONNX defines), ceil_mode 0 or 1."""
    if x.ndim != 4 or int(a.get("storage_order", 0)) != 0:
        raise NotImplementedError(f"MaxPool of {x.shape}")
    kh, kw = _ints(a, "kernel_shape", [])
    (sh, sw), (dh, dw), (pt, pl), (pb, pr) = _window_attrs(a, 2)
    ceil = int(a.get("ceil_mode", 0))
    if ceil not in (0, 1):
        raise NotImplementedError(f"ceil_mode={ceil}")
    rnd = math.ceil if ceil else math.floor

    def size(n: int, k: int, s: int, d: int, p0: int, p1: int) -> int:
        o = rnd(Fraction(n + p0 + p1 - d * (k - 1) - 1, s)) + 1
        if ceil and (o - 1) * s >= n + p0:  # the last window must start inside the input or left pad
            o -= 1
        return o

    oh, ow = size(x.shape[2], kh, sh, dh, pt, pb), size(x.shape[3], kw, sw, dw, pl, pr)
    out = np.empty((x.shape[0], x.shape[1], oh, ow), dtype=object)
    for i in range(oh):
        rows = [r for r in (i * sh - pt + u * dh for u in range(kh)) if 0 <= r < x.shape[2]]
        for j in range(ow):
            cols = [c for c in (j * sw - pl + v * dw for v in range(kw)) if 0 <= c < x.shape[3]]
            win = x[:, :, rows][:, :, :, cols]
            out[:, :, i, j] = np.max(win.reshape(x.shape[0], x.shape[1], -1), axis=2)
    return out


def _attrs(node: onnx.NodeProto) -> dict:
    res = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        res[a.name] = v.decode() if isinstance(v, bytes) else v
    return res


def _np_dtype(elem_type: int) -> np.dtype:
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))


def _scalar(v: np.ndarray | None) -> Fraction | None:
    if v is None:
        return None
    if v.size != 1:
        raise ValueError("expected a scalar")
    return v.ravel()[0]


def _float_attr(a: dict, name: str, default: float) -> Fraction:
    v = a.get(name, default)
    if not isinstance(v, float) or not math.isfinite(v):
        raise NotImplementedError(f"{name}={v!r}")
    return Fraction(v)


def _sqrt(q: Fraction) -> Fraction:
    """sqrt(q) to 2^-200 (below): a following Quant's rounding of the BatchNorm's irrational value is
    then decided exactly unless the value lies within ~2^-190 of a rounding boundary."""
    return Fraction(math.isqrt((q.numerator << 400) // q.denominator), 1 << 200)


def _batchnorm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray, mean: np.ndarray, var: np.ndarray,
               eps: Fraction) -> np.ndarray:
    """Inference BatchNormalization on axis 1: (x - mean) / sqrt(var + eps) * scale + bias."""
    out = np.empty(x.shape, dtype=object)
    for c in range(x.shape[1]):
        inv = 1 / _sqrt(var[c] + eps)
        sl = (slice(None), c)
        out[sl] = np.vectorize(lambda v, c=c, inv=inv: (v - mean[c]) * inv * scale[c] + bias[c],
                               otypes=[object])(x[sl])
    return out


def run_exact_all(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    """Exact values (Fraction object arrays) of all graph outputs for the input ``x``.

    Shapes follow ``x`` (its batch size need not match the model's declared one)."""
    env: dict[str, np.ndarray] = {}
    dtype: dict[str, np.dtype] = {}  # element type of the integer-valued tensors QuantizeLinear etc. need
    for t in model.graph.initializer:
        arr = numpy_helper.to_array(t)
        env[t.name], dtype[t.name] = _frac_array(arr), arr.dtype
    inp = [i for i in model.graph.input if i.name not in env][0]
    x = np.asarray(x)
    env[inp.name] = _frac_array(x.astype(np.float64) if x.dtype.kind == "f" else x)
    if inp.type.tensor_type.elem_type:
        dtype[inp.name] = _np_dtype(inp.type.tensor_type.elem_type)
    for node in model.graph.node:
        a = _attrs(node)
        ins = [env[i] if i else None for i in node.input]
        while ins and ins[-1] is None:
            ins.pop()
        op = node.op_type
        out_dtype = None
        if op == "Quant":
            r = _quant(ins[0], ins[1], ins[2], ins[3], a)
        elif op == "QuantizeLinear":
            if int(a.get("saturate", 1)) != 1 or int(a.get("block_size", 0)) != 0:
                raise NotImplementedError("QuantizeLinear saturate/block_size")
            zp = ins[2] if len(ins) > 2 else None
            if zp is not None:
                out_dtype = dtype[node.input[2]]
            elif "output_dtype" in a and a["output_dtype"]:
                out_dtype = _np_dtype(a["output_dtype"])
            else:
                out_dtype = np.dtype(np.uint8)
            r = _quantize_linear(ins[0], ins[1], zp, out_dtype, int(a.get("axis", 1)))
        elif op == "DequantizeLinear":
            if int(a.get("block_size", 0)) != 0:
                raise NotImplementedError("DequantizeLinear block_size")
            r = _dequantize_linear(ins[0], ins[1], ins[2] if len(ins) > 2 else None, int(a.get("axis", 1)))
        elif op == "Clip":
            if len(ins) > 1 or "min" in a or "max" in a:
                lo = _scalar(ins[1]) if len(ins) > 1 else (_float_attr(a, "min", 0.0) if "min" in a else None)
                hi = _scalar(ins[2]) if len(ins) > 2 else (_float_attr(a, "max", 0.0) if "max" in a else None)
            else:
                lo = hi = None
            r = _clip(ins[0], lo, hi)
            out_dtype = dtype.get(node.input[0])
        elif op == "Conv":
            r = _conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a)
        elif op == "MaxPool":
            if len(node.output) > 1 and node.output[1]:
                raise NotImplementedError("MaxPool indices")
            r = _maxpool(ins[0], a)
        elif op == "MatMul":
            r = np.matmul(ins[0], ins[1])
        elif op == "Gemm":
            aa = ins[0].T if int(a.get("transA", 0)) else ins[0]
            b = ins[1].T if int(a.get("transB", 0)) else ins[1]
            if aa.ndim != 2 or b.ndim != 2:
                raise ValueError("Gemm needs 2-D operands")
            r = aa.dot(b)
            alpha, beta = _float_attr(a, "alpha", 1.0), _float_attr(a, "beta", 1.0)
            if alpha != 1:
                r = r * alpha
            if len(ins) > 2:
                r = r + (ins[2] * beta if beta != 1 else ins[2])
        elif op == "Add":
            r = ins[0] + ins[1]
        elif op == "Sub":
            r = ins[0] - ins[1]
        elif op == "Mul":
            r = ins[0] * ins[1]
        elif op == "Div":
            if any(v == 0 for v in np.asarray(ins[1]).ravel()):
                raise ZeroDivisionError("Div by zero")
            r = ins[0] / ins[1]
        elif op == "Relu":
            r = _map(lambda v: v if v > 0 else ZERO, ins[0])
        elif op == "Gather":
            r = np.take(ins[0], np.vectorize(int)(ins[1]), axis=int(a.get("axis", 0)))
        elif op in ("Identity", "Dropout"):
            r = ins[0]
            out_dtype = dtype.get(node.input[0])
        elif op == "Flatten":
            ax = int(a.get("axis", 1)) % (ins[0].ndim + 1) if ins[0].ndim else 0
            r = ins[0].reshape(int(np.prod(ins[0].shape[:ax], dtype=np.int64)), -1)
        elif op == "Reshape":
            shape = [int(v) for v in ins[1]]
            if not int(a.get("allowzero", 0)):
                shape = [ins[0].shape[k] if v == 0 else v for k, v in enumerate(shape)]
            r = ins[0].reshape(shape)
            out_dtype = dtype.get(node.input[0])
        elif op == "Transpose":
            perm = _ints(a, "perm", list(range(ins[0].ndim))[::-1])
            r = ins[0].transpose(perm)
            out_dtype = dtype.get(node.input[0])
        elif op == "Cast":
            out_dtype = _np_dtype(a["to"])
            r = _cast(ins[0], out_dtype)
        elif op == "BatchNormalization":
            r = _batchnorm(ins[0], ins[1], ins[2], ins[3], ins[4], Fraction(float(np.float32(a.get("epsilon", 1e-5)))))
        elif op == "Constant":
            if "value" not in a:
                raise NotImplementedError(f"Constant {sorted(a)}")
            arr = numpy_helper.to_array(a["value"])
            r, out_dtype = _frac_array(arr), arr.dtype
        else:
            raise NotImplementedError(op)
        env[node.output[0]] = r
        if out_dtype is not None:
            dtype[node.output[0]] = out_dtype
    return [env[o.name] for o in model.graph.output]


def _cast(x: np.ndarray, to: np.dtype) -> np.ndarray:
    """Cast that keeps every value (the interpreter does not model float rounding): raise otherwise."""
    if to.kind == "f":
        finfo = np.finfo(to)
        for v in x.ravel():
            f = Fraction(float(to.type(float(v))))
            if f != v or abs(v) > Fraction(float(finfo.max)):
                raise NotImplementedError(f"Cast of {v} to {to} rounds")
        return x
    if to in _INT_RANGE or to.kind in "iu":
        lo, hi = np.iinfo(to).min, np.iinfo(to).max
        if any(v.denominator != 1 or not lo <= v <= hi for v in x.ravel()):
            raise NotImplementedError(f"Cast to {to} of a non-integer or out-of-range value")
        return x
    raise NotImplementedError(f"Cast to {to}")


def run_exact(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """Exact outputs (Fraction object array) of the model's (first) output for input ``x``."""
    return run_exact_all(model, x)[0]


def to_float(a: np.ndarray) -> np.ndarray:
    """Fractions with small denominators to float64 (exact for dyadic values of < 53 bits)."""
    return np.vectorize(float, otypes=[np.float64])(a)


def exact_float_outputs(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """The exact outputs of ``run_exact`` as float64 (each the nearest double of the exact value)."""
    return to_float(run_exact(model, x))
