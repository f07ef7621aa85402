"""Numerics on the stimulus: which layers saturate or wrap, and how far fixed point is from float.

Nothing is silently wrong: :func:`audit_ranges` runs the graph with the overflow recorder of
:mod:`fpga_flow.fixed` and counts, per layer, the output values its cast brought outside the layer's
type (saturated under ``SAT*``, wrapped under ``WRAP``); :func:`compare_with_float` runs the original
ONNX model in float32 and measures the error of the fixed-point outputs. Both have a ``to_dict()``
of plain numbers and strings for ``report.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import onnx

from fpga_flow.fixed import record_overflows
from fpga_flow.ir.graph import Graph
from fpga_flow.onnx_io.calibrate import graph_input

__all__ = [
    "QONNX_SAMPLE_LIMIT",
    "FloatComparison",
    "LayerRange",
    "RangeAudit",
    "audit_ranges",
    "compare_with_float",
]

#: Samples the qonnx executor runs when it must take them one at a time (it is slow).
QONNX_SAMPLE_LIMIT = 32

#: Operator domains onnxruntime runs natively.
_STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})


# ------------------------------------------------------------------ range audit
@dataclass(frozen=True)
class LayerRange:
    """One layer's out-of-range count on the stimulus."""

    name: str  #: IR layer name
    origin: str  #: the model's node name ("" when none)
    out_type: str  #: the layer's output type, neutral text form (``str(FixedType)``)
    values: int  #: output values computed (samples x layer size)
    saturated: int  #: values clamped or zeroed by a ``SAT*`` overflow mode
    wrapped: int  #: values wrapped modulo ``2**W`` by ``WRAP``

    def to_dict(self) -> dict[str, int | str]:
        return {"name": self.name, "origin": self.origin, "out_type": self.out_type, "values": self.values,
                "saturated": self.saturated, "wrapped": self.wrapped}


@dataclass(frozen=True)
class RangeAudit:
    """Per-layer out-of-range counts in graph order, and the mantissas the audited run computed."""

    samples: int
    layers: tuple[LayerRange, ...]
    #: Output mantissas per layer name (what ``Graph.execute`` returns), so nobody runs the graph twice.
    mantissas: Mapping[str, np.ndarray] = field(compare=False, repr=False)
    #: The first graph output as float64, equal to ``Graph.run_float`` on the same input.
    y_fixed: np.ndarray = field(compare=False, repr=False)

    @property
    def values(self) -> int:
        return sum(r.values for r in self.layers)

    @property
    def saturated(self) -> int:
        return sum(r.saturated for r in self.layers)

    @property
    def wrapped(self) -> int:
        return sum(r.wrapped for r in self.layers)

    @property
    def clean(self) -> bool:
        """True when no value saturated or wrapped."""
        return self.saturated == 0 and self.wrapped == 0

    def wrapped_layers(self) -> tuple[LayerRange, ...]:
        """The layers where at least one value wrapped, in graph order."""
        return tuple(r for r in self.layers if r.wrapped)

    def saturated_layers(self) -> tuple[LayerRange, ...]:
        """The layers where at least one value saturated, in graph order."""
        return tuple(r for r in self.layers if r.saturated)

    def to_dict(self) -> dict[str, object]:
        return {
            "samples": self.samples,
            "values": self.values,
            "saturated": self.saturated,
            "wrapped": self.wrapped,
            "saturated_layers": [r.name for r in self.saturated_layers()],
            "wrapped_layers": [r.name for r in self.wrapped_layers()],
            "layers": [r.to_dict() for r in self.layers],
        }


def audit_ranges(graph: Graph, x: np.ndarray | dict[str, np.ndarray]) -> RangeAudit:
    """Run ``graph`` on float input ``x`` (as ``Graph.execute`` takes it) counting out-of-range values.

    Each cast is attributed to the layer that performs it (``Graph.execute`` labels every layer's
    step); the input layer's quantization of ``x`` counts for the input layer. A value counts when,
    after rounding to the type's LSB, it lies outside the type's range (a value rounding to exactly
    the maximum does not).
    """
    with record_overflows() as rec:
        vals = graph.execute(x)
    counts = rec.counts()
    known = {lay.name for lay in graph.layers}
    stray = sorted(k for k, c in counts.items() if k not in known and c.total)
    if stray:  # pragma: no cover - every cast in Graph.execute is inside a layer label
        raise AssertionError(f"overflows outside any layer: {stray}")
    rows = []
    for lay in graph.layers:
        c = rec.count(lay.name)
        rows.append(LayerRange(lay.name, lay.origin, str(lay.out_type), int(vals[lay.name].size),
                               c.saturated, c.wrapped))
    out = graph.layer(graph.outputs[0])
    samples = int(next(iter(vals.values())).shape[0]) if vals else 0
    return RangeAudit(samples, tuple(rows), vals, graph.output_values(out.name, vals[out.name]))


# ------------------------------------------------------------- float comparison
@dataclass(frozen=True)
class FloatComparison:
    """Fixed-point outputs against the original model run in float32.

    When the model could not be run, ``reason`` says why and the figures are None.
    """

    runtime: str  #: "onnxruntime", "qonnx" or "" (not run)
    samples: int  #: samples compared
    total_samples: int  #: samples given
    max_abs_error: float | None
    mean_abs_error: float | None  #: over every output element of the compared samples
    #: samples whose fixed-point and float argmax agree; None for one output value per sample
    argmax_agree: int | None
    note: str = ""  #: e.g. that only the first samples were compared
    reason: str = ""  #: why nothing was compared ("" when compared)

    @property
    def compared(self) -> bool:
        return not self.reason

    def to_dict(self) -> dict[str, int | float | str | None]:
        return {"runtime": self.runtime, "samples": self.samples, "total_samples": self.total_samples,
                "max_abs_error": self.max_abs_error, "mean_abs_error": self.mean_abs_error,
                "argmax_agree": self.argmax_agree, "note": self.note, "reason": self.reason}


def _dims(vi: onnx.ValueInfoProto) -> list[int | None]:
    """Declared dimensions: an int, or None for a symbolic / unknown one."""
    return [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]


def _shaped_input(model: onnx.ModelProto, graph: Graph, x: np.ndarray) -> np.ndarray:
    """``x`` as ``(N, *per-sample shape)`` the model declares (the graph input's shape where unknown)."""
    n = int(x.shape[0])
    per = [d for d in _dims(graph_input(model))[1:] if d]
    shape = tuple(per) if per and len(per) == len(_dims(graph_input(model))) - 1 else graph.inputs[0].shape
    return np.asarray(x, dtype=np.float32).reshape((n, *shape))


#: Ops of the QDQ format: onnxruntime then runs the model without graph optimizations.
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


def _run_onnxruntime(model: onnx.ModelProto, xs: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if any(n.op_type in QDQ_OPS for n in model.graph.node):
        # as written: the default optimizations fuse QDQ around Gemm/Conv into integer kernels and
        # quantize float biases, which computes measurably different values from the model
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    name = graph_input(model).name
    batch = _dims(graph_input(model))[0]
    if batch is None or batch == len(xs):
        return np.asarray(sess.run(None, {name: xs})[0])
    if batch != 1:
        raise ValueError(f"the model's input has a fixed batch of {batch}, the stimulus {len(xs)} samples")
    return np.concatenate([np.asarray(sess.run(None, {name: xs[i: i + 1]})[0]) for i in range(len(xs))])


def _with_batch(model: onnx.ModelProto, batch: int) -> onnx.ModelProto:
    """A copy of ``model`` whose input and outputs have batch ``batch`` and no stale intermediate shapes."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.value_info[:]
    name = graph_input(m).name
    for vi in [*(i for i in m.graph.input if i.name == name), *m.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        if dims:
            dims[0].Clear()
            dims[0].dim_value = batch
    return m


def _run_qonnx(model: onnx.ModelProto, xs: np.ndarray) -> tuple[np.ndarray, str]:
    """The model on ``xs`` with qonnx's executor: the whole batch at once, or else one sample at a time
    for the first :data:`QONNX_SAMPLE_LIMIT` samples (the note says so)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    name = graph_input(model).name
    out = model.graph.output[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        w = ModelWrapper(_with_batch(model, len(batch))).transform(InferShapes())
        return np.asarray(execute_onnx(w, {name: batch})[out])

    try:
        return run(xs), ""
    except Exception:  # noqa: BLE001 - e.g. a Reshape to a constant batch-1 shape: fall back to single samples
        n = min(len(xs), QONNX_SAMPLE_LIMIT)
        y = np.concatenate([run(xs[i: i + 1]) for i in range(n)])
        note = (f"qonnx executor, one sample at a time: first {n} of {len(xs)} samples compared"
                if n < len(xs) else "qonnx executor, one sample at a time")
        return y, note


#: Ops between a compared tensor and the graph output that change nothing.
_NOOP_OPS = ("Identity", "Cast")
#: Final ops the reader leaves out (``Graph.notes`` says so): the fixed-point outputs are their input.
_DROPPED_FINAL = ("Softmax", "LogSoftmax", "ArgMax")


def _compared_output(model: onnx.ModelProto, graph: Graph) -> tuple[onnx.ModelProto, bool]:
    """``model`` with one graph output: the float tensor the fixed-point outputs correspond to.

    The first float output of the model (a classifier's integer label is left out by the reader); when
    the reader dropped a final Softmax (``graph.notes``), the Softmax's input, the logits. The flag is
    False when the values are not comparable (a dropped transform with no logits tensor): argmax only."""
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16)
    outs = [o for o in model.graph.output if o.type.tensor_type.elem_type in floats] or list(model.graph.output)
    name, comparable = outs[0].name, True
    if any("not computed" in n for n in graph.notes):
        producer = {o: n for n in model.graph.node for o in n.output}
        t, dropped = name, False
        while t in producer and producer[t].op_type in (*_NOOP_OPS, *_DROPPED_FINAL):
            dropped = dropped or producer[t].op_type in _DROPPED_FINAL
            t = producer[t].input[0]
        if dropped:
            name = t
        else:
            comparable = False
    m = onnx.ModelProto()
    m.CopyFrom(model)
    if [o.name for o in m.graph.output] != [name]:
        keep = [o for o in m.graph.output if o.name == name]
        del m.graph.output[:]
        m.graph.output.extend(keep or [onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)])
    return m, comparable


def _is_custom(model: onnx.ModelProto) -> bool:
    return any(node.domain not in _STANDARD_DOMAINS for node in model.graph.node)


def compare_with_float(model: onnx.ModelProto, graph: Graph, x: np.ndarray, y_fixed: np.ndarray) -> FloatComparison:
    """Run the original ``model`` in float32 on ``x`` and compare with the fixed-point outputs ``y_fixed``.

    ``y_fixed`` holds floats ``(N, ...)`` (``Graph.run_float(x)`` or :attr:`RangeAudit.y_fixed`).
    Plain ONNX runs in onnxruntime; a model with custom-domain ops (QONNX ``Quant``) in qonnx's
    executor, possibly on the first :data:`QONNX_SAMPLE_LIMIT` samples only (``note`` says so).
    When neither runs it, the figures are None and ``reason`` says why.
    """
    x = np.asarray(x)
    n_total = int(x.shape[0])
    errors: list[str] = []
    model, comparable = _compared_output(model, graph)
    runners = ("qonnx",) if _is_custom(model) else ("onnxruntime", "qonnx")
    for runtime in runners:
        try:
            xs = _shaped_input(model, graph, x)
            if runtime == "onnxruntime":
                y_float, note = _run_onnxruntime(model, xs), ""
            else:
                y_float, note = _run_qonnx(model, xs)
        except Exception as e:  # noqa: BLE001 - any failure of the float run is reported, never raised
            errors.append(f"{runtime}: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}")
            continue
        n = int(y_float.shape[0])
        fl = np.asarray(y_float, dtype=np.float64).reshape(n, -1)
        fx = np.asarray(y_fixed, dtype=np.float64).reshape(n_total, -1)[:n]
        if fl.shape != fx.shape:
            return FloatComparison(runtime, 0, n_total, None, None, None, note,
                                   f"output shapes differ: float {fl.shape}, fixed {fx.shape}")
        err = np.abs(fx - fl)
        agree = int(np.count_nonzero(fx.argmax(axis=1) == fl.argmax(axis=1))) if fl.shape[1] > 1 else None
        if not comparable:
            note = "; ".join(v for v in (note, "the model's outputs are transformed scores: argmax compared only") if v)
            return FloatComparison(runtime, n, n_total, None, None, agree, note)
        return FloatComparison(runtime, n, n_total, float(err.max()) if err.size else 0.0,
                               float(err.mean()) if err.size else 0.0, agree, note)
    return FloatComparison("", 0, n_total, None, None, None, "", "; ".join(errors))
