"""Handlers for the standard quantizer pair (``QuantizeLinear``/``DequantizeLinear``, the QCDQ/QDQ
format of Brevitas' ``export_onnx_qcdq`` and onnxruntime's ``quantize_static``) and ``Clip``.

A ``QuantizeLinear`` on an activation is an exact requantization (:func:`~fpga_flow.onnx_io.scaled.requantize`);
a ``Clip`` of its integers right after it narrows its range (how Brevitas writes sub-8-bit types);
the ``DequantizeLinear`` that follows reads the same integers with the same scale and zero point,
so it is an identity on the mantissas.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import onnx

from fpga_flow.onnx_io.reader import Reader, esc
from fpga_flow.onnx_io.registry import attr, onnx_handler
from fpga_flow.onnx_io.scaled import QuantTarget, requantize, target_of_dq, target_of_q

__all__: list[str] = []


def _clip_bounds(r: Reader, node: onnx.NodeProto) -> tuple[float | None, float | None]:
    vals: list[float | None] = []
    for pos, name in ((1, "min"), (2, "max")):
        if len(node.input) > pos and node.input[pos]:
            c = r.const(node.input[pos])
            if c is None:
                raise r.fail(node, f"the {name} (input {pos}) must be a constant", True)
            vals.append(float(np.asarray(c.values).ravel()[0]))
        else:
            v = attr(node, name, None)
            vals.append(None if v is None else float(v))
    return vals[0], vals[1]


@onnx_handler("QuantizeLinear", note="per tensor or per channel (axis 1), any scale and zero point, int4..int32")
def read_quantize_linear(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node)
    target = target_of_q(r, node)
    out_tensor = node.output[0]
    clip: tuple[int, int] | None = None
    nxt = r.single_consumer(out_tensor)
    if nxt is not None and nxt.op_type == "Clip":
        lo, hi = _clip_bounds(r, nxt)
        lo_i = target.qmin if lo is None else lo
        hi_i = target.qmax if hi is None else hi
        if lo_i != int(lo_i) or hi_i != int(hi_i):
            raise r.fail(nxt, f"a Clip of quantized integers needs integer bounds, got [{lo}, {hi}]", True)
        clip = (int(lo_i), int(hi_i))
        r.mark_consumed(nxt)
        out_tensor = nxt.output[0]
    requantize(r, node, src, target, out_tensor, clip=clip, relu=node.input[0] in r.relu_pending,
               bn=r.bn_pending.get(node.input[0]))
    r.quantizers[out_tensor] = target.with_range(*clip) if clip else target


@onnx_handler("DequantizeLinear", note="of a QuantizeLinear's integers (same scale and zero point)")
def read_dequantize_linear(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node)
    q: QuantTarget | None = r.quantizers.get(node.input[0])
    if q is None:
        raise r.fail(node, f"DequantizeLinear of {esc(node.input[0])}, which no QuantizeLinear of this graph wrote, is "
                     "not supported", True)
    d = target_of_dq(r, node)
    channels = int(src.shape[0])

    def spread(v: tuple) -> tuple:
        return v * channels if len(v) == 1 else v

    if spread(d.scale) != spread(q.scale) or spread(d.zp) != spread(q.zp):
        raise r.fail(node, "its scale or zero point differs from the QuantizeLinear's that wrote its input: only the "
                     "matching pair (QCDQ) is supported", True)
    r.alias(node.output[0], src)


@onnx_handler("Clip", note="of QuantizeLinear integers (QCDQ); in a float model [0, hi] (ReLU6) or [-hi, hi]")
def read_clip(r: Reader, node: onnx.NodeProto) -> None:
    """A ``Clip`` of a float model's activation (``ReLU6`` as ``torch.onnx.export`` writes it): the
    clamped range is split into ``2^W - 1`` equal steps (``W`` the width of ``--precision``, else 16),
    so the clamp is the saturation of that integer grid -- a scale that is not a power of two,
    carried exactly like a quantized model's (a rounding of at most half a step, like any type)."""
    src = r.activation(node)
    if r.quantized:
        raise r.fail(node, "a Clip of a quantized activation is supported only on the integers between a "
                     "QuantizeLinear and its DequantizeLinear (QCDQ)", True)
    lo, hi = _clip_bounds(r, node)
    if hi is None or not np.isfinite(hi) or hi <= 0 or lo not in (0.0, -hi):
        raise r.fail(node, f"Clip to [{lo}, {hi}] is not supported: only [0, hi] (ReLU6) and [-hi, hi] with a finite "
                     "hi > 0", True)
    width = r.cal_width
    if lo == 0.0:
        qmin, qmax = 0, (1 << width) - 1
    else:
        qmax = (1 << (width - 1)) - 1
        qmin = -qmax
    target = QuantTarget((Fraction(float(hi)) / qmax,), (0,), qmin, qmax, r.cal_rounding)
    requantize(r, node, src, target, node.output[0])
