"""Observed value ranges of a model's float tensors on sample inputs (calibration data).

:func:`observe_ranges` runs the model in onnxruntime (CPU, float32) with every intermediate float
tensor added as a graph output and returns each tensor's minimum and maximum over the samples
(and, for an ``ai.onnx.ml`` ``LinearClassifier``, its raw scores under :data:`RAW_SCORES`). The
reader (:func:`fpga_flow.onnx_io.read_onnx` with ``calibration=``) turns these ranges into
fixed-point types for a plain float model, and into the input type of a QONNX model whose input
has no ``Quant`` after it. A QONNX model (custom-domain ``Quant``) that onnxruntime cannot run gives
only the graph input's range, taken from the samples themselves: that is all such a model needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from fpga_flow.errors import ModelError

__all__ = ["CHUNK", "RAW_SCORES", "TensorRange", "graph_input", "observe_ranges"]

#: Samples per onnxruntime run.
CHUNK = 256
#: The name under which the raw scores (before ``post_transform``) of an ``ai.onnx.ml``
#: ``LinearClassifier`` with scores output ``s`` are recorded: the reader outputs those logits.
RAW_SCORES = "{}:raw_scores"

_FLOAT_TYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16)


@dataclass(frozen=True)
class TensorRange:
    """The smallest and largest value a tensor took on the calibration samples."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.lo) and np.isfinite(self.hi)) or self.lo > self.hi:
            raise ValueError(f"a tensor range needs finite lo <= hi, got [{self.lo}, {self.hi}]")

    def union(self, other: TensorRange) -> TensorRange:
        return TensorRange(min(self.lo, other.lo), max(self.hi, other.hi))


def graph_input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    """The model's one graph input that is not an initializer (a ModelError when there are several)."""
    inits = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ModelError(f"the model needs exactly one (non-initializer) graph input, found {len(inputs)}")
    return inputs[0]


def _samples(vi: onnx.ValueInfoProto, x: np.ndarray) -> np.ndarray:
    """``x`` as float32 ``(n, *input dims)``; a flat ``(n, features)`` array is reshaped when the
    sizes agree. A ModelError when they do not."""
    dims = []
    for d in list(vi.type.tensor_type.shape.dim)[1:]:
        if not d.HasField("dim_value") or d.dim_value <= 0:
            raise ModelError(f"calibration: input {vi.name!r}: all but the batch dimension must be fixed")
        dims.append(int(d.dim_value))
    x = np.asarray(x)
    want = f"(n, {', '.join(map(str, dims))})"
    if x.ndim < 1 or x.shape[0] < 1:
        raise ModelError(f"calibration data of shape {x.shape} has no samples; input {vi.name!r} expects {want}")
    if not np.issubdtype(x.dtype, np.number):
        raise ModelError(f"calibration data must be numeric, got dtype {x.dtype}")
    if tuple(x.shape[1:]) != tuple(dims):
        if int(np.prod(x.shape[1:])) != int(np.prod(dims)):
            raise ModelError(f"calibration data of shape {x.shape} does not match input {vi.name!r}: expected {want}")
        x = x.reshape((x.shape[0], *dims))
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ModelError("calibration data contains NaN or infinity")
    return x


def _float_tensors(model: onnx.ModelProto) -> list[str]:
    """Names of the float tensors produced by nodes (no initializers, no ``Constant`` outputs)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - shape inference can fail on custom ops; fall back to what is listed
        inferred = model
    g = inferred.graph
    types = {vi.name: vi.type.tensor_type.elem_type for vi in [*g.value_info, *g.output, *g.input]}
    inits = {t.name for t in g.initializer}
    out: list[str] = []
    for n in g.node:
        if n.op_type == "Constant":
            continue
        for o in n.output:
            if o and o not in inits and types.get(o) in _FLOAT_TYPES and o not in out:
                out.append(o)
    return out


def observe_ranges(model: onnx.ModelProto, x: np.ndarray) -> dict[str, TensorRange]:
    """Min and max of the graph input and of every intermediate float tensor over the samples ``x``.

    ``x`` is ``(n, *input shape)`` (or flat ``(n, features)`` of the same size); it is run through
    onnxruntime in chunks of :data:`CHUNK` samples. A model onnxruntime cannot run that has QONNX
    ``Quant`` nodes gives only the input's range. Raises :class:`~fpga_flow.errors.ModelError` when
    ``x`` does not match the input or onnxruntime fails on a plain ONNX model.
    """
    import onnxruntime as ort

    vi = graph_input(model)
    xs = _samples(vi, x)
    ranges = {vi.name: TensorRange(float(xs.min()), float(xs.max()))}
    names = _float_tensors(model)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    listed = {o.name for o in probe.graph.output}
    for n in model.graph.node:
        if n.op_type == "LinearClassifier" and len(n.output) > 1 and n.output[1]:
            raw = onnx.NodeProto()
            raw.CopyFrom(n)
            raw.name = RAW_SCORES.format(n.name or n.output[1])
            del raw.output[:]
            raw.output.extend([n.output[0] + ":raw_label", RAW_SCORES.format(n.output[1])])
            for a in raw.attribute:
                if a.name == "post_transform":
                    a.s = b"NONE"
            probe.graph.node.append(raw)
            names.append(raw.output[1])
    for name in names:
        if name not in listed:
            probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    quantized = any(n.op_type == "Quant" for n in model.graph.node)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        sess = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
        if quantized:
            return ranges
        raise ModelError(f"calibration: onnxruntime cannot run the model ({_first_line(e)})") from None
    outs = [o.name for o in sess.get_outputs()]
    for start in range(0, xs.shape[0], CHUNK):
        try:
            vals = sess.run(outs, {vi.name: xs[start:start + CHUNK]})
        except Exception as e:  # noqa: BLE001
            raise ModelError(f"calibration: onnxruntime failed on the samples ({_first_line(e)})") from None
        for name, v in zip(outs, vals, strict=True):
            a = np.asarray(v)
            if name not in names or a.size == 0 or not np.issubdtype(a.dtype, np.floating):
                continue
            finite = a[np.isfinite(a)]
            if finite.size == 0:
                continue
            r = TensorRange(float(finite.min()), float(finite.max()))
            ranges[name] = ranges[name].union(r) if name in ranges else r
    return ranges


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:300]
