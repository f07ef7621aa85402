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

Constants with no ``Quant``: in a model without any ``Quant`` (plain float) every constant,
the input and each layer's output use the ``precision`` type, as hls4ml does. In a QONNX model a
raw constant is taken exactly (narrowest exact type) when that needs at most 32 bits, else it is
rounded to ``precision`` if the user gave one, else it is an error that says what to do.

Everything else is a :class:`~fpga_flow.errors.UnsupportedError` naming the node, its op type and
what is supported.

Each op type is read by one handler in the dispatch table :data:`fpga_flow.onnx_io.registry.ONNX_HANDLERS`
(the handlers are in :mod:`fpga_flow.onnx_io.handlers`); this module holds what they share: the
constant folding, the types of constants, naming and error messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from fpga_flow.errors import ModelError, UnsupportedError
from fpga_flow.fixed import FixedPointRangeError, FixedType, from_float, min_exact_type, parse_fixed_type
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
from fpga_flow.onnx_io.quant import QuantSpec, quant_types
from fpga_flow.onnx_io.registry import ONNX_HANDLERS, attr, supported_ops

__all__ = ["DEFAULT_PRECISION", "Reader", "read_onnx"]

#: Default type for plain float models (what hls4ml uses by default).
DEFAULT_PRECISION = "ap_fixed<16,6>"

QUANT_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas", "qonnx")
#: Ops that pass their input through unchanged (when constant, their input's value).
PASS_THROUGH = ("Identity", "Dropout")
#: Integer shape arithmetic folded when its inputs are constant (or shapes of activations).
SHAPE_OPS = ("Shape", "Cast", "Unsqueeze", "Squeeze", "Concat")


@dataclass(frozen=True)
class _Const:
    """A folded constant: float values, or fixed-point mantissas with their type."""

    values: np.ndarray  # float64 (exact value of the constant)
    mant: np.ndarray | None = None
    ftype: FixedType | None = None
    codebook: np.ndarray | None = None  # mantissas of the codebook (ftype) when shared weights
    codes: np.ndarray | None = None  # integer indices, same shape as values

    @property
    def is_fixed(self) -> bool:
        return self.ftype is not None


class Reader:
    """The state of one model being read; handlers (:mod:`fpga_flow.onnx_io.handlers`) call its
    methods to fold constants, type them, name layers and add them."""

    def __init__(self, model: onnx.ModelProto, source: str, precision: FixedType | None) -> None:
        self.model = model
        self.source = source
        self.g = model.graph
        self.user_precision = precision
        self.precision = precision or parse_fixed_type(DEFAULT_PRECISION)
        self.inits = {t.name: numpy_helper.to_array(t) for t in self.g.initializer}
        self.producer: dict[str, tuple[int, onnx.NodeProto]] = {}
        for i, n in enumerate(self.g.node):
            for o in n.output:
                self.producer[o] = (i, n)
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in self.g.node:
            for t in n.input:
                self.consumers.setdefault(t, []).append(n)
        self.quantized = any(n.op_type == "Quant" for n in self.g.node)
        self.names = NameTable()
        self.layers: list[Layer] = []
        self.tensor_layer: dict[str, Layer] = {}  # activation tensor -> producing layer
        self.consumed: set[int] = set()  # indices of nodes folded into a layer
        self._const_cache: dict[str, _Const | None] = {}

    # ------------------------------------------------------------------ errors
    def node_label(self, node: onnx.NodeProto) -> str:
        idx = list(self.g.node).index(node)
        return f"node '{node.name or f'#{idx}'}' ({node.op_type})"

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
            return self._fold_quant(node, src)
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
        frac = max(t.frac for t in groups)
        integer = max(t.integer for t in groups)
        any_t = next(iter(groups))
        try:
            unified = FixedType(integer + frac, integer, any_t.signed, any_t.rounding, any_t.overflow)
        except FixedPointRangeError as e:
            raise self.fail(node, f"per-channel scales unify to a type that is too wide: {e}", True) from None
        m = np.zeros(vals.shape, dtype=np.int64)
        for t, mask in groups.items():
            m[mask] = from_float(vals[mask], t) << (frac - t.frac)
        return _Const(_to_float(m, unified), m, unified)

    def fixed_const(self, node: onnx.NodeProto, c: _Const, what: str) -> _Const:
        """Give a raw float constant a fixed-point type (see module doc)."""
        if c.is_fixed:
            return c
        raw = c.codebook if c.codebook is not None else c.values
        raw = np.asarray(raw, dtype=np.float64)
        if not np.all(np.isfinite(raw)):
            raise self.fail(node, f"the {what} contains NaN or infinity")
        t: FixedType | None = None
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
        self._read_input()
        for i, node in enumerate(self.g.node):
            if i in self.consumed:
                continue
            if all(self.const(o) is not None for o in node.output if o) and node.output:
                continue  # part of a constant sub-graph (weights, codebooks, Quant params)
            self._read_node(node)
        outputs = []
        for o in self.g.output:
            if o.name not in self.tensor_layer:
                raise self.fail(None, f"graph output '{o.name}' is not produced by a supported layer")
            outputs.append(self.tensor_layer[o.name].name)
        if not outputs:
            raise self.fail(None, "the graph has no outputs")
        graph = Graph(_model_name(self.model), tuple(self.layers), tuple(outputs))
        try:
            return graph.verify()
        except GraphError as e:
            raise ModelError(f"{self.source}: {e}") from None

    def _read_input(self) -> None:
        inputs = [i for i in self.g.input if i.name not in self.inits]
        if len(inputs) != 1:
            raise self.fail(None, f"expected exactly one (non-initializer) graph input, found {len(inputs)}", True)
        vi = inputs[0]
        tt = vi.type.tensor_type
        if not tt.HasField("shape") or len(tt.shape.dim) < 2:
            raise self.fail(None, f"input '{vi.name}' must have a shape (batch, features...) of rank >= 2", True)
        dims = []
        for d in list(tt.shape.dim)[1:]:
            if not d.HasField("dim_value") or d.dim_value <= 0:
                raise self.fail(None, f"input '{vi.name}': all but the batch dimension must be fixed", True)
            dims.append(int(d.dim_value))
        in_type = self.precision
        # a Quant on the input (possibly behind Flatten/Reshape/Identity) gives the input type; the
        # Quant itself is then an identity (read as an alias by its handler)
        cur = vi.name
        while True:
            cons = self.consumers.get(cur, [])
            if len(cons) != 1 or cons[0].input[0] != cur:
                break
            nxt = cons[0]
            if self.is_quant(nxt):
                in_type = self.quant_type(nxt)
                break
            if nxt.op_type not in ("Flatten", "Reshape", *PASS_THROUGH):
                break
            cur = nxt.output[0]
        name, origin = self.names.add(vi.name or "input", prefix="in"), vi.name
        self.add_layer(InputLayer(name, (), tuple(dims), in_type, origin=origin), vi.name)

    def _read_node(self, node: onnx.NodeProto) -> None:
        key = "Quant" if self.is_quant(node) else node.op_type
        handler = ONNX_HANDLERS.get(key)
        if handler is None or (key == "Quant" and not self.is_quant(node)):
            raise self.fail(node, f"op type {node.op_type!r} is not supported; supported: {supported_ops()}", True)
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
        layer = build(**fields, out_type=acc if self.quantized else self.precision, acc_type=acc)
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


def read_onnx(model: str | Path | onnx.ModelProto, precision: FixedType | str | None = None) -> Graph:
    """Read a plain float or QONNX model into a verified IR :class:`~fpga_flow.ir.Graph`.

    ``precision`` (e.g. ``"ap_fixed<16,6>"``) is the default type for float tensors without a
    ``Quant``. Raises :class:`~fpga_flow.errors.ModelError` (or its subclass
    :class:`~fpga_flow.errors.UnsupportedError`) naming the file, the node and the fix.
    """
    if isinstance(precision, str):
        try:
            precision = parse_fixed_type(precision)
        except ValueError as e:
            raise ModelError(f"--precision: {e}") from None
    if isinstance(model, onnx.ModelProto):
        source, proto = model.graph.name or "<model>", model
    else:
        path = Path(model)
        source = str(path)
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
        raise ModelError(f"{source}: onnx.checker rejected the model: {first}") from None
    try:
        return Reader(proto, source, precision).read()
    except FixedPointRangeError as e:
        raise UnsupportedError(f"{source}: {e}") from None



