"""An independent exact interpreter of the ONNX subset fpga-flow reads (tests only).

Every value is a ``fractions.Fraction``; QONNX ``Quant`` follows qonnx's ``int_quant`` (scale,
clamp to the integer range, round with the named mode, rescale) with exact arithmetic. It shares
no code with fpga_flow, so agreeing with it proves the reader + reference bit for bit.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import onnx
from onnx import numpy_helper


def _frac_array(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    out = np.empty(a.shape, dtype=object)
    for idx, v in np.ndenumerate(a):
        out[idx] = Fraction(float(v)) if a.dtype.kind == "f" else Fraction(int(v))
    return out


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
    if mode == "HALF_UP":
        return int(math.copysign(math.floor(abs(v) + Fraction(1, 2)), v)) if v else 0
    if mode == "HALF_DOWN":
        return int(math.copysign(math.ceil(abs(v) - Fraction(1, 2)), v)) if v else 0
    raise ValueError(mode)


def _quant(x: np.ndarray, scale: np.ndarray, zp: np.ndarray, bits: np.ndarray, attrs: dict) -> np.ndarray:
    signed, narrow = int(attrs.get("signed", 1)), int(attrs.get("narrow", 0))
    mode = attrs.get("rounding_mode", "ROUND")
    w = int(np.asarray(bits).ravel()[0])
    lo = (-(2 ** (w - 1)) + (1 if narrow else 0)) if signed else 0
    hi = (2 ** (w - 1) - 1) if signed else (2**w - 1 - (1 if narrow else 0))
    s = np.broadcast_to(np.asarray(scale, dtype=object), x.shape)
    z = np.broadcast_to(np.asarray(zp, dtype=object), x.shape)
    out = np.empty(x.shape, dtype=object)
    for idx, v in np.ndenumerate(x):
        y = v / s[idx] + z[idx]
        y = min(max(y, Fraction(lo)), Fraction(hi))
        out[idx] = (Fraction(_round(y, mode)) - z[idx]) * s[idx]
    return out


def _attrs(node: onnx.NodeProto) -> dict:
    res = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        res[a.name] = v.decode() if isinstance(v, bytes) else v
    return res


def run_exact(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """Exact outputs (Fraction object array) of the model's single output for float input ``x``."""
    env: dict[str, np.ndarray] = {t.name: _frac_array(numpy_helper.to_array(t)) for t in model.graph.initializer}
    inp = [i.name for i in model.graph.input if i.name not in env][0]
    env[inp] = _frac_array(np.asarray(x, dtype=np.float64))
    for node in model.graph.node:
        a = _attrs(node)
        ins = [env[i] for i in node.input if i]
        op = node.op_type
        if op == "Quant":
            r = _quant(ins[0], ins[1], ins[2], ins[3], a)
        elif op == "MatMul":
            r = ins[0].dot(ins[1])
        elif op == "Gemm":
            b = ins[1].T if a.get("transB", 0) else ins[1]
            r = ins[0].dot(b)
            if len(ins) > 2:
                r = r + ins[2]
        elif op == "Add":
            r = ins[0] + ins[1]
        elif op == "Relu":
            r = np.vectorize(lambda v: v if v > 0 else Fraction(0), otypes=[object])(ins[0])
        elif op == "Gather":
            r = ins[0][np.vectorize(int)(ins[1])]
        elif op in ("Identity", "Dropout"):
            r = ins[0]
        elif op == "Flatten":
            r = ins[0].reshape(ins[0].shape[0], -1)
        elif op == "Reshape":
            r = ins[0].reshape([int(v) for v in ins[1]])
        elif op == "Constant":
            r = _frac_array(numpy_helper.to_array(a["value"]))
        else:
            raise NotImplementedError(op)
        env[node.output[0]] = r
    return env[model.graph.output[0].name]


def to_float(a: np.ndarray) -> np.ndarray:
    """Fractions with small denominators to float64 (exact for dyadic values of < 53 bits)."""
    return np.vectorize(float, otypes=[np.float64])(a)
