"""ONNX (plain float or QONNX) -> IR graph, per contract 2 of DESIGN.md.

Supported:

* ``MatMul`` (+ ``Add`` bias) and ``Gemm`` (``transA=0``, ``alpha=beta=1``, any ``transB``);
* ``Relu``; ``Flatten`` / ``Reshape`` (keeping the batch); ``Identity`` / ``Dropout`` (pass-through);
* convolutional networks (:mod:`fpga_flow.onnx_io.cnn_handlers`): ``Conv``, pooling,
  ``BatchNormalization`` (folded into a per-channel scale), ``Mul``/``Add`` by constants, residual
  ``Add``, ``Concat``; the exporters' shape arithmetic (``Shape``, ``Gather``, ``Unsqueeze``,
  ``Concat``, ``Cast``) is folded with the batch taken as 1;
* QONNX ``Quant`` on the input, on activations, on weights and biases (constant-folded, read by
  input position), with per-tensor or per-channel power-of-two scales;
* weight sharing as ``Gather(codebook, indices)`` feeding the weight (a ``Quant`` before or after
  the ``Gather`` gives the weight type); pruned weights are exact zeros.

* exporters' no-op ops on activations: a float-to-float ``Cast``, ``Squeeze``/``Unsqueeze`` of
  size-1 axes, and a final ``Softmax``/``LogSoftmax`` (feeding a graph output): it is dropped, the
  hardware outputs the logits (the argmax is unchanged) and :attr:`fpga_flow.ir.Graph.notes` says so;
  integer graph outputs beside float ones (a classifier's label) are left out, with a note;
* scikit-learn models as skl2onnx writes them: MLPs (``Cast``, ``MatMul``/``Add``, ``Softmax``, label
  path left out) and ``ai.onnx.ml`` ``LinearClassifier`` (raw scores, its ``post_transform`` and a
  following ``Normalizer`` dropped as a final Softmax is).

Before any node is read, every op type no handler reads is listed in one error (count, first node,
a fix hint for QCDQ, recurrent layers and a Softmax not at the output); model names in messages are
escaped by :func:`esc`.

Constants with no ``Quant``: in a model without any ``Quant`` (plain float) every constant,
the input and each layer's output use the ``precision`` type, as hls4ml does. In a QONNX model a
raw constant is taken exactly (narrowest exact type) when that needs at most 32 bits, else it is
rounded to ``precision`` if the user gave one, else it is an error that says what to do.

Calibrated types (``calibration=``, ranges from :func:`fpga_flow.onnx_io.calibrate.observe_ranges`):
in a float model each activation tensor with an observed range ``[lo, hi]`` (the input, every
layer output) gets a ``W``-bit type (``W`` = the width of ``precision`` if given, else 16) with the
fewest integer bits holding ``[lo, hi]`` times :data:`CALIBRATION_MARGIN`, unsigned when
``lo >= 0``; its rounding and overflow modes are those of ``precision`` if given, else ``RND_CONV``
and ``SAT``. Each constant gets a ``W``-bit type with the fewest integer bits holding its own
values exactly in range (no margin). A tensor with no observation keeps ``precision``. In a QONNX
model the calibration gives only the type of a graph input with no ``Quant`` after it (overflow
``SAT``); with neither a calibration nor ``precision`` such an input is an error.

Everything else is a :class:`~fpga_flow.errors.UnsupportedError` naming the node, its op type and
what is supported.

Each op type is read by one handler in the dispatch table :data:`fpga_flow.onnx_io.registry.ONNX_HANDLERS`
(the handlers are in :mod:`fpga_flow.onnx_io.handlers`); this module holds what they share: the
constant folding, the types of constants, naming and error messages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from fpga_flow.errors import ModelError, UnsupportedError
from fpga_flow.fixed import (
    Dequant,
    FixedPointRangeError,
    FixedType,
    Overflow,
    Rounding,
    from_float,
    log2_exact,
    min_exact_type,
    parse_fixed_type,
)
from fpga_flow.ir import (
    CodebookCsrWeights,
    DenseLayer,
    DenseWeights,
    Graph,
    GraphError,
    InputLayer,
    Layer,
    MacLayer,
    csr_from_dense,
)
from fpga_flow.names import NameTable
from fpga_flow.onnx_io.calibrate import TensorRange
from fpga_flow.onnx_io.quant import QuantSpec, quant_types
from fpga_flow.onnx_io.registry import ONNX_HANDLERS, attr, supported_ops
from fpga_flow.onnx_io.scaled import (
    SCALED_AWARE,
    BnParams,
    QuantTarget,
    Scaled,
    _const_values,
    axis_shape,
    dequant_of,
    make_mac_scaled,
    on_axis,
    quantize_exact,
    target_of_dq,
    target_of_q,
    target_of_quant,
)
from fpga_flow.onnx_io.validate import checked_initializers, validate_attributes

__all__ = ["CALIBRATION_MARGIN", "CALIBRATION_WIDTH", "DEFAULT_PRECISION", "Reader", "calibrated_type", "esc",
           "read_onnx"]

#: Default type for plain float models (what hls4ml uses by default).
DEFAULT_PRECISION = "ap_fixed<16,6>"
#: A calibrated activation type holds the observed range times this factor (25 % headroom for
#: inputs beyond the calibration samples; saturation beyond it).
CALIBRATION_MARGIN = 1.25
#: Width of calibrated types when the user gave no ``precision``.
CALIBRATION_WIDTH = 16
#: Float element types (a ``Cast`` between them is a no-op on the fixed-point datapath).
FLOAT_TYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16)
#: Final ops that are dropped (the hardware outputs their input, the logits; argmax is unchanged).
FINAL_DROPPED = ("Softmax", "LogSoftmax")
#: Fix hints for op types users commonly meet, for the unsupported-ops error.
_QOP_HINT = ("the QOperator format (QLinear*/...Integer ops) is not supported: quantize in the QDQ format "
             "(onnxruntime: quant_format=QuantFormat.QDQ; Brevitas: export_onnx_qcdq or export_qonnx)")
OP_HINTS = {
    **{op: _QOP_HINT for op in ("QLinearMatMul", "QLinearConv", "MatMulInteger", "ConvInteger", "QLinearAdd")},
    "DynamicQuantizeLinear": "dynamic quantization is not supported: quantize statically (quantize_static, QDQ)",
    **{op: "recurrent layers are not supported yet" for op in ("LSTM", "GRU", "RNN")},
}



def esc(text: object, quote: bool = True) -> str:
    """``text`` (a name from a model or a path) safe inside a one-line message: repr-style quoting,
    so no raw newline or control character reaches the user; with ``quote=False`` a printable text
    stays bare."""
    s = str(text)
    if not quote and s.isprintable():
        return s
    return repr(s)


def calibrated_type(lo: float, hi: float, width: int, rounding: Rounding = Rounding.RND_CONV,
                    overflow: Overflow = Overflow.SAT) -> FixedType:
    """The ``width``-bit type with the fewest integer bits whose range holds ``[lo, hi]``:
    unsigned when ``lo >= 0``, else signed; ``[0, 0]`` gets one integer bit. (The reader passes the
    observed range times :data:`CALIBRATION_MARGIN` for activations, the exact range for constants.)"""
    signed = lo < 0
    top = max(abs(lo), abs(hi))
    if top == 0:
        return FixedType(width, 1, signed, rounding, overflow)
    integer = math.frexp(top)[1] + (1 if signed else 0) - 1  # just below: the loop settles it
    while True:
        t = FixedType(width, integer, signed, rounding, overflow)
        lo_ok = math.ldexp(t.min_mantissa, -t.frac) <= lo
        hi_ok = math.ldexp(t.max_mantissa, -t.frac) >= hi
        if lo_ok and hi_ok:
            return t
        integer += 1

QUANT_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas", "qonnx")
#: Ops that pass their input through unchanged (when constant, their input's value).
PASS_THROUGH = ("Identity", "Dropout")
#: Integer shape arithmetic folded when its inputs are constant (or shapes of activations).
SHAPE_OPS = ("Shape", "Cast", "Unsqueeze", "Squeeze", "Concat")
#: Ops the reader folds when all their inputs are constants.
FOLDED_OPS = ("Constant", *PASS_THROUGH, "Quant", "QuantizeLinear", "DequantizeLinear", "Clip", "Gather", *SHAPE_OPS,
              "Transpose")
#: The standard ONNX quantizer pair (QCDQ / QDQ format).
LINEAR_QUANT = ("QuantizeLinear", "DequantizeLinear")


class MalformedModelError(ModelError):
    """A model that breaks an assumption no specific check caught (the reader's safety net)."""


@dataclass(frozen=True)
class _Const:
    """A folded constant: float values, or fixed-point mantissas with their type."""

    values: np.ndarray  # float64 (exact value of the constant)
    mant: np.ndarray | None = None
    ftype: FixedType | None = None
    codebook: np.ndarray | None = None  # mantissas of the codebook (ftype) when shared weights
    codes: np.ndarray | None = None  # integer indices, same shape as values
    #: a scale that is not 2^-frac: real = mant * 2^-frac * factor (object array of Fractions,
    #: broadcastable to values); None: 1
    factor: np.ndarray | None = None
    exact: np.ndarray | None = None  # the exact real values (object array of Fractions) when known

    @property
    def is_fixed(self) -> bool:
        return self.ftype is not None


class Reader:
    """The state of one model being read; handlers (:mod:`fpga_flow.onnx_io.handlers`) call its
    methods to fold constants, type them, name layers and add them."""

    def __init__(self, model: onnx.ModelProto, source: str, precision: FixedType | None,
                 calibration: Mapping[str, TensorRange] | None = None) -> None:
        self.model = model
        self.source = source
        self.g = model.graph
        self.user_precision = precision
        self.precision = precision or parse_fixed_type(DEFAULT_PRECISION)
        self.calibration: Mapping[str, TensorRange] = calibration or {}
        self.cal_width = precision.width if precision is not None else CALIBRATION_WIDTH
        self.cal_rounding = precision.rounding if precision is not None else Rounding.RND_CONV
        self.cal_overflow = precision.overflow if precision is not None else Overflow.SAT
        self.notes: list[str] = []
        self.dropped: set[str] = set()  # tensors of dropped final ops (their values are the logits)
        self.type_key: dict[str, str] = {}  # tensor -> the calibration entry giving its type, when not its name
        self.live: set[int] = set(range(len(self.g.node)))  # nodes a kept graph output depends on
        self.kept_outputs: list[str] = [o.name for o in self.g.output]
        validate_attributes(self.g, source)
        self.inits = checked_initializers(self.g, source)
        self.current: onnx.NodeProto | None = None  # the node being read (named by an unexpected failure)
        self.producer: dict[str, tuple[int, onnx.NodeProto]] = {}
        for i, n in enumerate(self.g.node):
            for o in n.output:
                self.producer[o] = (i, n)
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in self.g.node:
            for t in n.input:
                self.consumers.setdefault(t, []).append(n)
        self.quantized = any(n.op_type == "Quant" or n.op_type in LINEAR_QUANT for n in self.g.node)
        #: layers whose scale is not 2^-frac (see :mod:`fpga_flow.onnx_io.scaled`), by layer name
        self.scaled: dict[str, Scaled] = {}
        #: tensors that are a ReLU of their layer's output not applied yet (folded into the next quantizer)
        self.relu_pending: set[str] = set()
        #: tensors that are a BatchNormalization of their layer's output not applied yet (folded, with
        #: any ReLU after it, into the next quantizer: exactly, see BnRequantizer)
        self.bn_pending: dict[str, BnParams] = {}
        #: tensors written by a QuantizeLinear, with its target (its DequantizeLinear must match)
        self.quantizers: dict[str, QuantTarget] = {}
        self.calibrated = calibration is not None and not self.quantized
        self.names = NameTable()
        self.layers: list[Layer] = []
        self.tensor_layer: dict[str, Layer] = {}  # activation tensor -> producing layer
        self.consumed: set[int] = set()  # indices of nodes folded into a layer
        self._const_cache: dict[str, _Const | None] = {}

    # ------------------------------------------------------------------ errors
    def node_label(self, node: onnx.NodeProto) -> str:
        idx = list(self.g.node).index(node)
        return f"node {esc(node.name or f'#{idx}')} ({esc(node.op_type, quote=False)})"

    def fail(self, node: onnx.NodeProto | None, msg: str, unsupported: bool = False) -> ModelError:
        where = f"{self.source}: " + (self.node_label(node) + ": " if node is not None else "")
        cls = UnsupportedError if unsupported else ModelError
        return cls(where + msg)

    # --------------------------------------------------------------- constants
    def const(self, name: str) -> _Const | None:
        """Fold the constant sub-graph producing ``name`` (None if it depends on the input)."""
        if name in self._const_cache:
            return self._const_cache[name]
        res = self._fold(name)
        self._const_cache[name] = res
        return res

    def _fold(self, name: str) -> _Const | None:
        if name in self.inits:
            return _Const(np.asarray(self.inits[name]))
        if name not in self.producer:
            return None
        _, node = self.producer[name]
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    return _Const(numpy_helper.to_array(a.t))
            raise self.fail(node, "only Constant nodes with a 'value' tensor are supported", True)
        if node.op_type in PASS_THROUGH:
            return self.const(node.input[0])
        if node.op_type == "Quant" and self.is_quant(node):
            src = self.const(node.input[0])
            if src is None:
                return None
            target = target_of_quant(self, node)
            if not target.fixed_point:
                return self._fold_scaled(node, src, target, numpy_broadcast=True)
            return self._fold_quant(node, src)
        if node.op_type in (*LINEAR_QUANT, "Clip"):
            src = self.const(node.input[0])
            if src is None:
                return None
            return self._fold_linear(node, src)
        if node.op_type == "Gather":
            book, idx = self.const(node.input[0]), self.const(node.input[1])
            if book is None or idx is None:
                return None
            axis = attr(node, "axis", 0)
            if book.values.ndim != 1 or axis != 0:
                raise self.fail(node, "a weight-sharing Gather needs a 1-D codebook and axis=0", True)
            codes = np.asarray(idx.values).astype(np.int64)
            if codes.size and (codes.min() < -book.values.size or codes.max() >= book.values.size):
                raise self.fail(node, f"index out of range for a codebook of {book.values.size} entries")
            codes = np.where(codes < 0, codes + book.values.size, codes)
            if book.mant is not None and book.ftype is not None:
                return _Const(
                    book.values[codes], book.mant[codes], book.ftype, codebook=book.mant, codes=codes
                )
            return _Const(book.values[codes], codebook=book.values, codes=codes)
        if node.op_type in SHAPE_OPS:
            return self._fold_shape_op(node)
        if node.op_type in ("Transpose",):
            src = self.const(node.input[0])
            if src is None:
                return None
            perm = attr(node, "perm", None)
            if perm is not None and sorted(int(p) for p in perm) != list(range(src.values.ndim)):
                raise self.fail(node, f"perm {list(perm)} is not a permutation of the {src.values.ndim} axes of its "
                                "input")
            t = (lambda a: np.transpose(a, perm)) if perm is not None else np.transpose
            return _Const(
                t(src.values),
                None if src.mant is None else t(src.mant),
                src.ftype,
                src.codebook,
                None if src.codes is None else t(src.codes),
            )
        return None

    def _fold_shape_op(self, node: onnx.NodeProto) -> _Const | None:
        """Fold the integer shape arithmetic exporters write around a ``Reshape`` (``x.view(x.size(0), -1)``).

        ``Shape`` of an activation is ``[1, *sample shape]``: the batch taken as 1, which a
        ``Reshape`` target keeps as the batch dimension."""
        op = node.op_type
        if op == "Shape":
            src = self.tensor_layer.get(node.input[0])
            if src is None:
                c = self.const(node.input[0])
                return None if c is None else _Const(np.array(c.values.shape, dtype=np.int64))
            full = np.array([1, *src.shape], dtype=np.int64)
            start, end = int(attr(node, "start", 0)), attr(node, "end", None)
            return _Const(full[start:end])
        ins = [self.const(t) if t else None for t in node.input]
        if any(c is None for t, c in zip(node.input, ins, strict=True) if t):
            return None
        vals = [np.asarray(c.values) if c is not None else None for c in ins]
        x = vals[0]
        assert x is not None
        if op == "Cast":
            return _Const(x.copy())
        if op in ("Unsqueeze", "Squeeze"):
            axes = attr(node, "axes", None)
            if axes is None and len(vals) > 1 and vals[1] is not None:
                axes = [int(a) for a in vals[1].ravel()]
            if op == "Unsqueeze":
                out = x
                rank = x.ndim + len(axes or [])
                for a in sorted(a % rank for a in (axes or [])):
                    out = np.expand_dims(out, a)
                return _Const(out)
            return _Const(np.squeeze(x, axis=None if axes is None else tuple(int(a) for a in axes)))
        if op == "Concat":
            return _Const(np.concatenate([np.atleast_1d(v) for v in vals if v is not None],
                                         axis=int(attr(node, "axis", 0))))
        return None

    def is_quant(self, node: onnx.NodeProto) -> bool:
        return node.op_type == "Quant" and (node.domain in QUANT_DOMAINS or node.domain.startswith("qonnx"))

    def _quant_params(self, node: onnx.NodeProto) -> np.ndarray:
        if len(node.input) < 4:
            raise self.fail(node, "Quant needs 4 inputs (x, scale, zero_point, bitwidth)")
        params = []
        for pos, what in ((1, "scale"), (2, "zero_point"), (3, "bitwidth")):
            c = self.const(node.input[pos])
            if c is None:
                raise self.fail(node, f"the {what} input (position {pos}) must be a constant", True)
            params.append(np.asarray(c.values, dtype=np.float64))
        try:
            return quant_types(
                params[0],
                params[1],
                params[2],
                int(attr(node, "signed", 1)),
                int(attr(node, "narrow", 0)),
                attr(node, "rounding_mode", "ROUND"),
            )
        except QuantSpec as e:
            raise self.fail(node, f"{e}", True) from None
        except FixedPointRangeError as e:
            raise self.fail(node, f"{e}", True) from None

    def quant_type(self, node: onnx.NodeProto) -> FixedType:
        types = self._quant_params(node)
        uniq = set(types.ravel().tolist())
        if len(uniq) != 1:
            raise self.fail(node, "per-channel scales are only supported on constant weights/biases", True)
        return next(iter(uniq))

    def _fold_quant(self, node: onnx.NodeProto, src: _Const) -> _Const:
        types = self._quant_params(node)
        vals = src.values.astype(np.float64)
        if types.ndim == 0 or types.size == 1:
            t = types.ravel()[0]
            if src.codebook is not None and src.codes is not None:
                # quantizing the shared values is quantizing every member: keep the codebook
                book_vals = src.codebook if src.ftype is None else _to_float(src.codebook, src.ftype)
                book = from_float(np.asarray(book_vals, dtype=np.float64), t)
                return _Const(_to_float(book[src.codes], t), book[src.codes], t, codebook=book, codes=src.codes)
            m = from_float(vals, t)
            return _Const(_to_float(m, t), m, t)
        # per-channel: broadcast the type array over the tensor, quantize per group, unify
        try:
            tarr = np.broadcast_to(types, vals.shape)
        except ValueError:
            raise self.fail(node, f"scale shape {types.shape} does not broadcast to {vals.shape}") from None
        groups = {t: tarr == t for t in set(tarr.ravel().tolist())}
        quantized = {t: from_float(vals[mask], t) for t, mask in groups.items()}
        # a channel whose values all quantize to zero (a pruned row, often with a tiny scale such as
        # 2^-36) holds no information: it must not widen the type of the live channels
        live = [t for t, q in quantized.items() if np.any(q)] or list(groups)
        frac = max(t.frac for t in live)
        integer = max(t.integer for t in live)
        any_t = live[0]
        try:
            unified = FixedType(integer + frac, integer, any_t.signed, any_t.rounding, any_t.overflow)
        except FixedPointRangeError as e:
            raise self.fail(node, f"per-channel scales unify to a type that is too wide: {e}", True) from None
        m = np.zeros(vals.shape, dtype=np.int64)
        for t, mask in groups.items():
            q = quantized[t]
            m[mask] = (q << (frac - t.frac)) if frac >= t.frac else q >> (t.frac - frac)  # dead: zeros either way
        return _Const(_to_float(m, unified), m, unified)

    def _fold_scaled(self, node: onnx.NodeProto, src: _Const, target: QuantTarget, numpy_broadcast: bool) -> _Const:
        """A constant quantized with any scale: integer mantissas ``q - zp`` with the scale as factor."""
        if src.exact is not None:
            raise self.fail(node, "a quantizer of an already quantized constant is not supported", True)
        vals = np.asarray(src.values, dtype=np.float64)
        if src.codebook is not None and src.codes is not None and len(target.scale) == 1:
            book = np.asarray(src.codebook if src.ftype is None else _to_float(src.codebook, src.ftype),
                              dtype=np.float64)
            qb = quantize_exact(book, target) - target.zp[0]
            q = qb[src.codes]
            return self._scaled_const(node, q, target, None, codebook=qb, codes=src.codes)
        if numpy_broadcast:
            s_arr = np.asarray(self.const(node.input[1]).values)  # type: ignore[union-attr]
            shape = s_arr.shape if s_arr.size > 1 else None
        else:
            shape = axis_shape(node, max(len(target.scale), len(target.zp)), vals.ndim)
        try:
            q = quantize_exact(vals, target, shape)
        except ValueError as e:
            raise self.fail(node, f"the parameters do not broadcast to the constant of shape {np.shape(vals)}: {e}") \
                from None
        zp = np.array(target.zp, dtype=np.int64)
        zp = on_axis(zp, shape)
        return self._scaled_const(node, q - zp, target, shape)

    def _scaled_const(self, node: onnx.NodeProto, mant: np.ndarray, target: QuantTarget,
                      shape: tuple[int, ...] | None, codebook: np.ndarray | None = None,
                      codes: np.ndarray | None = None) -> _Const:
        s = np.array(target.scale, dtype=object)
        s = on_axis(s, shape)
        mant = np.asarray(mant, dtype=np.int64)
        factor = np.broadcast_to(s, mant.shape)
        ex = np.empty(mant.shape, dtype=object)
        for idx, m in np.ndenumerate(mant):
            ex[idx] = int(m) * factor[idx]
        top = int(np.abs(mant).max()) if mant.size else 0
        width = max(top.bit_length() + 1, 2)
        try:
            t = FixedType(width, width, True)
        except FixedPointRangeError as e:
            raise self.fail(node, str(e), True) from None
        values = np.vectorize(float, otypes=[np.float64])(ex) if ex.size else np.zeros(ex.shape)
        if codebook is not None:
            return _Const(values, mant, t, codebook=np.asarray(codebook, dtype=np.int64), codes=codes,
                          factor=np.asarray(factor), exact=ex)
        return _Const(values, mant, t, factor=np.asarray(factor), exact=ex)

    def _fold_linear(self, node: onnx.NodeProto, src: _Const) -> _Const:
        """``QuantizeLinear`` (to integers), ``Clip`` (of integers) and ``DequantizeLinear`` on constants."""
        op = node.op_type
        if op == "Clip":
            lo = _const_values(self, node, 1, "min")
            hi = _const_values(self, node, 2, "max")
            v = np.asarray(src.values)
            lo_v = attr(node, "min", None) if lo is None else float(np.asarray(lo).ravel()[0])
            hi_v = attr(node, "max", None) if hi is None else float(np.asarray(hi).ravel()[0])
            if src.mant is not None or src.exact is not None:
                raise self.fail(node, "a Clip of a dequantized constant is not supported", True)
            return _Const(np.clip(v, -np.inf if lo_v is None else lo_v, np.inf if hi_v is None else hi_v))
        if op == "QuantizeLinear":
            target = target_of_q(self, node)
            if src.exact is not None:
                raise self.fail(node, "a QuantizeLinear of an already quantized constant is not supported", True)
            shape = axis_shape(node, max(len(target.scale), len(target.zp)), np.asarray(src.values).ndim)
            return _Const(quantize_exact(src.values, target, shape).astype(np.float64))
        target = target_of_dq(self, node)
        v = np.asarray(src.values)
        if src.exact is not None or np.any(v != np.round(v)):
            raise self.fail(node, "DequantizeLinear needs an integer constant", True)
        shape = axis_shape(node, max(len(target.scale), len(target.zp)), v.ndim)
        zp = np.array(target.zp, dtype=np.int64)
        zp = on_axis(zp, shape)
        mant = v.astype(np.int64) - zp
        if target.plain:
            frac = -log2_exact(target.scale[0])
            top = int(np.abs(mant).max()) if mant.size else 0
            width = max(top.bit_length() + 1, 2)
            t = FixedType(width, width - frac, True)
            return _Const(_to_float(mant, t), mant, t)
        return self._scaled_const(node, mant, target, shape)

    def fixed_const(self, node: onnx.NodeProto, c: _Const, what: str) -> _Const:
        """Give a raw float constant a fixed-point type (see module doc)."""
        if c.is_fixed:
            return c
        raw = c.codebook if c.codebook is not None else c.values
        raw = np.asarray(raw, dtype=np.float64)
        if not np.all(np.isfinite(raw)):
            raise self.fail(node, f"the {what} contains NaN or infinity")
        t: FixedType | None = None
        if self.calibrated and raw.size:
            try:
                t = calibrated_type(float(raw.min()), float(raw.max()), self.cal_width, self.cal_rounding,
                                    self.cal_overflow)
            except FixedPointRangeError as e:
                raise self.fail(node, f"the {what}: {e}", True) from None
        if self.quantized and self.user_precision is None:
            t = min_exact_type(raw, max_width=32)
            if t is None:
                raise self.fail(
                    node,
                    f"the {what} is a float constant with no Quant and is not exactly representable in 32 bits; "
                    "add a QONNX Quant node for it or pass --precision to round it",
                )
        if t is None:
            t = self.precision
        book = from_float(raw, t)
        if c.codebook is not None and c.codes is not None:
            return _Const(_to_float(book[c.codes], t), book[c.codes], t, codebook=book, codes=c.codes)
        return _Const(_to_float(book, t), book, t)

    def act_type(self, tensor: str) -> FixedType:
        """The type of float-model activation ``tensor``: calibrated when its range was observed,
        else ``precision`` (see module doc)."""
        rng = self.calibration.get(self.type_key.get(tensor, tensor)) if self.calibrated else None
        if rng is None:
            return self.precision
        return self._range_type(tensor, rng, self.cal_overflow)

    def _range_type(self, tensor: str, rng: TensorRange, overflow: Overflow) -> FixedType:
        try:
            return calibrated_type(rng.lo * CALIBRATION_MARGIN, rng.hi * CALIBRATION_MARGIN, self.cal_width,
                                   self.cal_rounding, overflow)
        except FixedPointRangeError as e:
            raise self.fail(None, f"the calibrated type of tensor {esc(tensor)}: {e}", True) from None

    # ------------------------------------------------------------------ layers
    def add_layer(self, layer: Layer, out_tensor: str) -> Layer:
        self.layers.append(layer)
        self.tensor_layer[out_tensor] = layer
        return layer

    def new_name(self, node: onnx.NodeProto | None, fallback: str) -> tuple[str, str]:
        origin = (node.name if node is not None and node.name else "") or fallback
        return self.names.add(origin, prefix=fallback.split("_")[0] or "n"), origin

    def activation(self, node: onnx.NodeProto, pos: int = 0) -> Layer:
        t = node.input[pos]
        if t not in self.tensor_layer:
            if self.const(t) is not None:
                raise self.fail(node, f"input {pos} is a constant where an activation is expected", True)
            raise self.fail(node, f"input '{t}' is not produced by a supported layer")
        return self.tensor_layer[t]

    def alias(self, tensor: str, layer: Layer) -> None:
        """``tensor`` carries ``layer``'s output unchanged (a pass-through op, an identity)."""
        self.tensor_layer[tensor] = layer

    def single_consumer(self, tensor: str) -> onnx.NodeProto | None:
        """The one node reading ``tensor`` (None when several read it or it is a graph output)."""
        cons = self.consumers.get(tensor, [])
        outs = {o.name for o in self.g.output}
        return cons[0] if len(cons) == 1 and tensor not in outs else None

    def input_bias(self, node: onnx.NodeProto, pos: int, what: str) -> tuple[_Const, onnx.NodeProto] | None:
        """The constant bias input ``pos`` of ``node`` with the node, None when absent (an error
        naming ``what`` when it is not a constant)."""
        if len(node.input) <= pos or not node.input[pos]:
            return None
        b = self.const(node.input[pos])
        if b is None:
            raise self.fail(node, f"{what} must be a constant", True)
        return b, node

    def mark_consumed(self, node: onnx.NodeProto) -> None:
        """``node`` was folded into a layer another handler built (e.g. a bias ``Add``)."""
        self.consumed.add(list(self.g.node).index(node))

    def read(self) -> Graph:
        self._choose_outputs()
        self._check_ops()
        self._read_input()
        for i, node in enumerate(self.g.node):
            if i in self.consumed or i not in self.live:
                continue
            self.current = node
            if all(self.const(o) is not None for o in node.output if o) and node.output:
                continue  # part of a constant sub-graph (weights, codebooks, Quant params)
            self._read_node(node)
        self.current = None
        outputs = []
        dequant: list[Dequant | None] = []
        for o in self.kept_outputs:
            if o not in self.tensor_layer:
                raise self.fail(None, f"graph output {esc(o)} is not produced by a supported layer")
            if isinstance(self.tensor_layer[o], InputLayer) and o not in self.producer:
                raise self.fail(None, f"graph output {esc(o)} is the graph input itself: there is nothing to compute")
            self._check_declared_shape(o, self.tensor_layer[o])
            out_layer = self.tensor_layer[o]
            outputs.append(out_layer.name)
            info = self.scaled.get(out_layer.name)
            dequant.append(None if info is None else dequant_of(out_layer, info, relu=o in self.relu_pending))
        if not outputs:
            raise self.fail(None, "the graph has no outputs")
        graph = Graph(_model_name(self.model), tuple(self.layers), tuple(outputs), notes=tuple(self.notes),
                      dequant=tuple(dequant) if any(d is not None for d in dequant) else ())
        try:
            return graph.verify()
        except GraphError as e:
            raise ModelError(f"{self.source}: {e}") from None

    def _choose_outputs(self) -> None:
        """Leave out integer graph outputs beside float ones (a classifier's label: an ArgMax and a
        class lookup), with a note; mark the nodes the kept outputs depend on as live."""
        floats: list[onnx.ValueInfoProto] = []
        ints: list[onnx.ValueInfoProto] = []
        for o in self.g.output:
            et = o.type.tensor_type.elem_type
            (ints if et and et not in FLOAT_TYPES else floats).append(o)
        if ints and not floats:
            logits = self._argmax_inputs(ints)
            if logits is not None:
                self.kept_outputs = logits
                self._mark_live()
                return
            names = ", ".join(esc(o.name) for o in ints)
            raise self.fail(None, f"every graph output ({names}) is an integer tensor (e.g. an ArgMax class index); "
                            "the hardware outputs the logits: export the model up to its float scores", True)
        for o in ints:
            dtype = onnx.TensorProto.DataType.Name(o.type.tensor_type.elem_type).lower()
            kept = ", ".join(esc(f.name) for f in floats)
            self.notes.append(f"graph output {esc(o.name)} ({dtype}, e.g. a class label) not computed: the hardware "
                              f"outputs {kept}")
        self.kept_outputs = [o.name for o in floats]
        self._mark_live()

    def _argmax_inputs(self, ints: list[onnx.ValueInfoProto]) -> list[str] | None:
        """The float tensors a final ``ArgMax`` reads, for integer outputs that are class indices
        (through ``Cast``/``Identity``); a note says the logits are output. None if one is not."""
        found: list[str] = []
        for o in ints:
            t = o.name
            while t in self.producer and self.producer[t][1].op_type in ("Cast", "Identity"):
                t = self.producer[t][1].input[0]
            node = self.producer[t][1] if t in self.producer else None
            if node is None or node.op_type != "ArgMax" or int(attr(node, "axis", 0)) not in (1, -1):
                return None
            if int(attr(node, "select_last_index", 0)) != 0:
                return None
            found.append(node.input[0])
            self.notes.append(f"final ArgMax (node {esc(node.name or t)}) not computed: the hardware outputs the "
                              "logits; the class index is their argmax (first maximum)")
        return found

    def _mark_live(self) -> None:
        need = set(self.kept_outputs)
        self.live = set()
        for i in range(len(self.g.node) - 1, -1, -1):
            n = self.g.node[i]
            if any(o in need for o in n.output if o):
                self.live.add(i)
                need.update(t for t in n.input if t)

    def is_final(self, tensor: str) -> bool:
        """True when ``tensor`` only reaches kept graph outputs, through pass-through ops, float
        ``Cast``s and ``Normalizer``s (so a ``Softmax`` producing it can be dropped)."""
        index = {id(n): i for i, n in enumerate(self.g.node)}
        todo, reached = [tensor], False
        while todo:
            t = todo.pop()
            if t in self.kept_outputs:
                reached = True
            for c in self.consumers.get(t, []):
                if index[id(c)] not in self.live:
                    continue
                if c.op_type in (*PASS_THROUGH, "Normalizer") or (c.op_type == "Cast"
                                                                  and attr(c, "to", 0) in FLOAT_TYPES):
                    todo.extend(o for o in c.output[:1] if o)
                else:
                    return False
        return reached

    def _check_ops(self) -> None:
        """Before reading any node: every op type no handler reads, in one error (count, first node,
        fix hint). Nodes of constant sub-graphs (not depending on the input's values) are checked
        only for being foldable; nodes no kept output needs are not checked."""
        data = {i.name for i in self.g.input if i.name not in self.inits}
        bad: dict[str, list[onnx.NodeProto]] = {}
        hints: dict[str, str] = {}
        for i, n in enumerate(self.g.node):
            if n.op_type == "Shape":
                continue  # a Shape of an activation is folded (the batch taken as 1)
            if not any(t in data for t in n.input):
                if i in self.live and n.op_type not in FOLDED_OPS:
                    label = f"{esc(n.op_type, quote=False)} on constants"
                    bad.setdefault(label, []).append(n)
                    hints[label] = f"only {', '.join(FOLDED_OPS)} are folded on constants"
                continue
            data.update(o for o in n.output if o)
            if i not in self.live:
                continue
            key = "Quant" if self.is_quant(n) else n.op_type
            unknown = key not in ONNX_HANDLERS or (key == "Quant" and not self.is_quant(n))
            if key in FINAL_DROPPED and not unknown and not self.is_final(n.output[0]):
                unknown = True
                hints[key] = (f"{key} is only supported as the last op (feeding a graph output), where it is dropped "
                              "and the logits are output")
            if unknown:
                label = key if not n.domain or n.domain == "ai.onnx" else f"{n.domain}.{key}"
                bad.setdefault(label, []).append(n)
                if key in OP_HINTS:
                    hints[label] = OP_HINTS[key]
        if not bad:
            return
        parts = []
        for label, nodes in bad.items():
            first = nodes[0].name or f"#{list(self.g.node).index(nodes[0])}"
            count = f"{len(nodes)} node{'s' if len(nodes) > 1 else ''}"
            text = f"{esc(label, quote=False)} ({count}, first {esc(first)})"
            hint = hints.get(label) or hints.get(nodes[0].op_type)
            parts.append(text + (f": {hint}" if hint else ""))
        raise self.fail(None, f"{len(bad)} unsupported op type{'s' if len(bad) > 1 else ''}: " + "; ".join(parts)
                        + f". Supported: {supported_ops()}", True)

    def _check_declared_shape(self, name: str, layer: Layer) -> None:
        """A graph output's declared per-sample shape (where its dims are numbers) is what it computes."""
        vi = next((o for o in self.g.output if o.name == name), None)
        if vi is None or not vi.type.tensor_type.HasField("shape"):
            return
        dims = list(vi.type.tensor_type.shape.dim)[1:]
        declared = [int(d.dim_value) if d.HasField("dim_value") else None for d in dims]
        computed = list(layer.shape)
        if all(d is None for d in declared):
            return  # nothing declared beyond the batch
        if len(declared) != len(computed) and int(np.prod([d or 1 for d in declared])) == layer.size:
            return  # the same elements declared flat or with unit axes
        if len(declared) != len(computed) or any(d is not None and d != c for d, c in zip(declared, computed,
                                                                                           strict=True)):
            shown = ["?" if d is None else str(d) for d in declared]
            raise self.fail(None, f"graph output {esc(name)} is declared (N, {', '.join(shown)}) but the graph "
                            f"computes (N, {', '.join(str(c) for c in computed)}) per sample")

    def _read_input(self) -> None:
        inputs = [i for i in self.g.input if i.name not in self.inits]
        if len(inputs) != 1:
            raise self.fail(None, f"expected exactly one (non-initializer) graph input, found {len(inputs)}", True)
        vi = inputs[0]
        tt = vi.type.tensor_type
        if not tt.HasField("shape") or len(tt.shape.dim) < 2:
            raise self.fail(None, f"input {esc(vi.name)} must have a shape (batch, features...) of rank >= 2", True)
        dims = []
        for d in list(tt.shape.dim)[1:]:
            if not d.HasField("dim_value") or d.dim_value <= 0:
                raise self.fail(None, f"input {esc(vi.name)}: all but the batch dimension must be fixed", True)
            dims.append(int(d.dim_value))
        quant: onnx.NodeProto | None = None
        # a Quant on the input (possibly behind Flatten/Reshape/Identity) gives the input type; the
        # Quant itself is then an identity (read as an alias by its handler)
        cur = vi.name
        while True:
            cons = self.consumers.get(cur, [])
            if len(cons) != 1 or cons[0].input[0] != cur:
                break
            nxt = cons[0]
            if self.is_quant(nxt) or nxt.op_type == "QuantizeLinear":
                quant = nxt
                break
            if nxt.op_type not in ("Flatten", "Reshape", "Squeeze", "Unsqueeze", *PASS_THROUGH) and not (
                    nxt.op_type == "Cast" and attr(nxt, "to", 0) in FLOAT_TYPES):
                break
            cur = nxt.output[0]
        name, origin = self.names.add(vi.name or "input", prefix="in"), vi.name
        target = None
        if quant is not None:
            target = target_of_quant(self, quant) if self.is_quant(quant) else target_of_q(self, quant)
        if target is not None and not target.plain:
            if len(set(target.scale)) != 1 or len(set(target.zp)) != 1:
                raise self.fail(quant, "per-channel scales on the graph input are not supported", True)
            frac, info = target.frac_and_scaled()
            try:
                t = target.out_type(frac)
            except (ValueError, FixedPointRangeError) as e:
                raise self.fail(quant, str(e), True) from None
            lay = InputLayer(name, (), tuple(dims), t, origin=origin, factor=target.scale[0],
                             zero_point=target.zp[0])
            self.add_layer(lay, vi.name)
            if info is not None:
                self.scaled[lay.name] = Scaled(info.factor[:1], info.zero[:1])
            return
        in_type = self._input_type(vi.name, quant)
        self.add_layer(InputLayer(name, (), tuple(dims), in_type, origin=origin), vi.name)

    def _input_type(self, tensor: str, quant: onnx.NodeProto | None) -> FixedType:
        if quant is not None and quant.op_type == "QuantizeLinear":
            target = target_of_q(self, quant)
            return target.out_type(-log2_exact(target.scale[0]))
        if quant is not None:
            return self.quant_type(quant)
        if not self.quantized:
            return self.act_type(tensor)
        rng = self.calibration.get(tensor)
        if rng is not None:
            return self._range_type(tensor, rng, Overflow.SAT)
        if self.user_precision is not None:
            return self.user_precision
        raise self.fail(None, f"graph input {esc(tensor)} of this QONNX model has no Quant after it, so its "
                        "fixed-point type is unknown (a default type would silently wrap large values): add a Quant "
                        "after the input, or pass --precision 'ap_fixed<W,I>' or --calibrate X.npy", True)

    def _read_node(self, node: onnx.NodeProto) -> None:
        key = "Quant" if self.is_quant(node) else node.op_type
        handler = ONNX_HANDLERS.get(key)
        if handler is None or (key == "Quant" and not self.is_quant(node)):
            raise self.fail(node, f"op type {esc(node.op_type)} is not supported; supported: {supported_ops()}",
                            True)
        for t in node.input:
            if t in self.bn_pending and key not in ("Relu", "Quant", "QuantizeLinear"):
                raise self.fail(node, "only a Relu or a quantizer can read a BatchNormalization of a tensor whose "
                                "scale is not a power of two", True)
        if key not in SCALED_AWARE:
            for t in node.input:
                lay = self.tensor_layer.get(t)
                if t in self.relu_pending or (lay is not None and lay.name in self.scaled):
                    raise self.fail(node, f"{esc(node.op_type, quote=False)} on a tensor whose scale is not a power of "
                                    "two (or has a zero point) is not supported yet: only "
                                    f"{', '.join(SCALED_AWARE)} read such tensors; use power-of-two scales (Brevitas' "
                                    "fixed-point quantizers) around this op", True)
        handler(self, node)

    def make_dense(
        self,
        node: onnx.NodeProto,
        src: Layer,
        w: _Const,
        transposed: bool,
        bias: tuple[_Const, onnx.NodeProto] | None,
        out_tensor: str,
    ) -> None:
        """A :class:`~fpga_flow.ir.DenseLayer` from a constant weight (``(n_in, n_out)``, or
        ``(n_out, n_in)`` when ``transposed``) and an optional constant bias."""
        if len(src.shape) != 1:
            raise self.fail(node, f"the input must be a vector (batch, n); it is a feature map {src.shape}: "
                            "add a Flatten before it", True)
        w = self.fixed_const(node, w, "weight")
        assert w.mant is not None
        n_in = w.mant.shape[1] if transposed else w.mant.shape[0]
        if n_in != src.size:
            raise self.fail(node, f"weight expects {n_in} inputs but the incoming activation has {src.size}")
        n_out = w.mant.shape[0] if transposed else w.mant.shape[1]
        self.make_mac(
            node, src, w, (lambda a: a) if transposed else (lambda a: a.T), bias, out_tensor, "dense",
            lambda **kw: DenseLayer(**kw, shape=(n_out,), n_in=n_in, n_out=n_out),
        )

    def make_mac(
        self,
        node: onnx.NodeProto,
        src: Layer,
        w: _Const,
        layout: Callable[[np.ndarray], np.ndarray],
        bias: tuple[_Const, onnx.NodeProto] | None,
        out_tensor: str,
        prefix: str,
        build: Callable[..., MacLayer],
    ) -> MacLayer:
        """Add a MAC layer (dense or convolution) from a constant weight whose ``layout`` gives the
        IR's 2-D ``(rows, row length)`` array, and an optional constant bias (one per row).

        ``build(**fields)`` makes the layer from the common fields (name, inputs, out_type, weights,
        types, origin). The accumulator starts at the hls4ml-style width; the accumulator pass
        tightens it. A QONNX layer outputs its exact accumulator; a float one rounds to ``precision``."""
        from fpga_flow.ir.accum import naive_accumulator_type

        info = self.scaled.get(src.name)
        if (info is not None and not self.quantized and w.factor is None and info.zero_free
                and info.uniform_factor is not None and node.input[0] not in self.relu_pending):
            # a float model reading a grid that is not 2^-F (a Clip's, e.g. ReLU6): the factor goes into
            # the float weights, which get their own (calibrated) type; the layer is ordinary again
            w = _Const(np.asarray(w.values, dtype=np.float64) * float(info.uniform_factor), codebook=(
                None if w.codebook is None else np.asarray(w.codebook, dtype=np.float64) * float(info.uniform_factor)),
                codes=w.codes)
        elif info is not None or w.factor is not None or (bias is not None and bias[0].factor is not None):
            return make_mac_scaled(self, node, src, w, layout, bias, out_tensor, prefix, build)
        w = self.fixed_const(node, w, "weight")
        assert w.mant is not None and w.ftype is not None
        mant = np.ascontiguousarray(layout(w.mant))
        n_out = mant.shape[0]
        if w.codebook is not None and w.codes is not None:
            codes = np.ascontiguousarray(layout(w.codes))
            storage: CodebookCsrWeights | DenseWeights = _codebook_storage(mant, codes, w.codebook)
        else:
            storage = DenseWeights(mant)
        fp = w.ftype.frac + src.out_type.frac
        if bias is not None:
            b, bnode = bias
            b = self.fixed_const(bnode, b, "bias")
            assert b.mant is not None and b.ftype is not None
            bm = np.asarray(b.mant).reshape(-1)
            if bm.size == 1 and n_out > 1:
                bm = np.full(n_out, bm[0])
            if bm.size != n_out:
                raise self.fail(bnode, f"bias has {bm.size} values, expected {n_out}")
            btype = b.ftype
        else:
            bm = np.zeros(n_out, dtype=np.int64)
            btype = FixedType(2, 2 - fp)
        name, origin = self.new_name(node, prefix)
        fields = dict(name=name, inputs=(src.name,), weights=storage, weight_type=w.ftype, bias=bm, bias_type=btype,
                      origin=origin)
        tmp = build(**fields, out_type=w.ftype, acc_type=w.ftype)
        try:
            acc = naive_accumulator_type(tmp, src.out_type)
        except FixedPointRangeError as e:
            raise self.fail(node, str(e), True) from None
        layer = build(**fields, out_type=acc if self.quantized else self.act_type(out_tensor), acc_type=acc)
        self.add_layer(layer, out_tensor)
        return layer


def _codebook_storage(mant: np.ndarray, codes: np.ndarray, book: np.ndarray) -> CodebookCsrWeights | DenseWeights:
    """CSR over nonzero weights with codes into the nonzero codebook entries (zeros dropped)."""
    keep = np.flatnonzero(book != 0)
    if keep.size == 0:
        return DenseWeights(mant)
    remap = np.full(book.size, -1, dtype=np.int64)
    remap[keep] = np.arange(keep.size)
    csr = csr_from_dense(mant)
    rows = np.repeat(np.arange(mant.shape[0]), np.diff(csr.row_ptr))
    new_codes = remap[codes[rows, csr.col_idx]]
    return CodebookCsrWeights(csr.row_ptr, csr.col_idx, new_codes, book[keep], mant.shape[1])


def _to_float(m: np.ndarray, t: FixedType) -> np.ndarray:
    return np.ldexp(np.asarray(m, dtype=np.int64).astype(np.float64), -t.frac)


def _model_name(model: onnx.ModelProto) -> str:
    return NameTable().add(model.graph.name or "model", prefix="model")


def read_onnx(model: str | Path | onnx.ModelProto, precision: FixedType | str | None = None,
              calibration: Mapping[str, TensorRange] | None = None) -> Graph:
    """Read a plain float or QONNX model into a verified IR :class:`~fpga_flow.ir.Graph`.

    ``precision`` (e.g. ``"ap_fixed<16,6>"``) is the default type for float tensors without a
    ``Quant``. ``calibration`` (tensor name -> observed range, from
    :func:`~fpga_flow.onnx_io.calibrate.observe_ranges`) gives a float model's tensors calibrated
    types and a QONNX model's unquantized input its type (see the module doc). What the reader left
    out (a final Softmax, a label output) is in the graph's ``notes``. Raises
    :class:`~fpga_flow.errors.ModelError` (or its subclass
    :class:`~fpga_flow.errors.UnsupportedError`) naming the file, the node and the fix.
    """
    if isinstance(precision, str):
        try:
            precision = parse_fixed_type(precision)
        except ValueError as e:
            raise ModelError(f"--precision: {e}") from None
    if isinstance(model, onnx.ModelProto):
        source, proto = (esc(model.graph.name) if model.graph.name else "<model>"), model
    else:
        path = Path(model)
        source = esc(str(path), quote=False)
        if not path.is_file():
            raise ModelError(f"{source}: no such file")
        try:
            proto = onnx.load(str(path))
        except Exception as e:  # noqa: BLE001 - protobuf raises many kinds
            raise ModelError(f"{source}: not a readable ONNX file ({type(e).__name__}: {e})") from None
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "invalid model"
        raise ModelError(f"{source}: onnx.checker rejected the model: {esc(first, quote=False)}") from None
    except UnicodeDecodeError as e:
        raise ModelError(f"{source}: a name or string in the model is not valid UTF-8 (byte {e.start} of "
                         f"{esc(e.object[max(0, e.start - 8): e.end + 8])}); re-export the model") from None
    reader: Reader | None = None
    try:
        reader = Reader(proto, source, precision, calibration)
        return reader.read()
    except FixedPointRangeError as e:
        raise UnsupportedError(f"{source}: {e}") from None
    except ModelError:
        raise
    except (ArithmeticError, AttributeError, IndexError, KeyError, LookupError, TypeError, ValueError) as e:
        # the safety net: a malformed model the checks above did not foresee is still one clear line
        node = reader.current if reader is not None else None
        where = reader.node_label(node) + ": " if reader is not None and node is not None else ""
        detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise MalformedModelError(
            f"{esc(source, quote=False)}: {where}cannot be read ({type(e).__name__}: {esc(detail)}); the model is "
            "malformed or uses the op in a way fpga-flow does not expect: check it with onnx.checker and onnxruntime"
        ) from None



