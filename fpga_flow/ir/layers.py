"""IR layers: frozen dataclasses, edges by name, each with a bit-exact numpy ``reference()``.

A layer *kind* is the unit of extension (see "Adding a layer kind" in the README): a subclass of
:class:`Layer` with a unique ``op`` string, registered with :func:`register_layer`, that defines

* ``reference(xs, in_types)`` -- bit-exact output mantissas from input mantissas;
* ``infer_shape(in_shapes)`` -- its output shape from its inputs' shapes;
* ``check(srcs)`` -- its invariants against its producers (shapes, types, accumulator bounds),
  raising :class:`GraphError`;
* ``n_inputs`` -- how many producers it reads (``None``: one or more, e.g. a residual ``Add``).

Activations are integer mantissa arrays ``(batch, *shape)``; the producer's ``out_type`` gives
their scale. A ``shape`` is a vector ``(n,)`` or a feature map ``(C, H, W)`` in ONNX NCHW order;
the element order of a flattened shape is row-major (NCHW) -- what the hardware streams and how
it orders them is stated by the hardware plan.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import ClassVar, Self, TypeVar

import numpy as np

from fpga_flow.fixed import FixedType, cast, from_float, quantize_scaled
from fpga_flow.ir.weights import CodebookCsrWeights, WeightStorage

__all__ = [
    "LAYER_KINDS",
    "Activation",
    "DenseLayer",
    "GraphError",
    "InputLayer",
    "Layer",
    "MacLayer",
    "QuantizeLayer",
    "ReluLayer",
    "ReshapeLayer",
    "layer_kind",
    "register_layer",
]


class GraphError(ValueError):
    """The graph breaks an IR invariant (shape, type, name, edge)."""


#: Every layer kind: ``op`` string -> layer class. Extend it with :func:`register_layer`.
LAYER_KINDS: dict[str, type[Layer]] = {}

L = TypeVar("L", bound="type[Layer]")


def register_layer(cls: L) -> L:
    """Class decorator: make ``cls`` (a :class:`Layer` subclass with a unique ``op``) a layer kind."""
    op = cls.op
    if not isinstance(op, str) or not op or op == Layer.op:
        raise ValueError(f"{cls.__name__} needs its own 'op' string to be a layer kind")
    if op in LAYER_KINDS and LAYER_KINDS[op] is not cls:
        raise ValueError(f"layer kind {op!r} is already registered by {LAYER_KINDS[op].__name__}")
    LAYER_KINDS[op] = cls
    return cls


def layer_kind(layer: Layer) -> str:
    """The registered kind of ``layer`` (a :class:`GraphError` for an unregistered class)."""
    op = type(layer).op
    if LAYER_KINDS.get(op) is not type(layer):
        raise GraphError(
            f"layer {layer.name}: {type(layer).__name__} is not a registered layer kind "
            f"(known: {', '.join(sorted(LAYER_KINDS))}); decorate it with @register_layer"
        )
    return op


def _per_sample(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Mantissas ``x`` (batch first) as ``(batch, *shape)``, the same elements in row-major order."""
    a = np.asarray(x, dtype=np.int64)
    return a.reshape((a.shape[0], *shape))


class Activation(enum.Enum):
    """Activation applied to the accumulator before requantization."""

    LINEAR = "linear"
    RELU = "relu"


def apply_activation(acc: np.ndarray, act: Activation) -> np.ndarray:
    """Exact activation on mantissas (ReLU commutes with the positive scale)."""
    if act is Activation.RELU:
        return np.maximum(acc, 0)
    return acc


@dataclass(frozen=True, eq=False)
class Layer:
    """Base: ``name`` is a legal identifier; ``inputs`` name producer layers; ``origin`` is the
    model's own node name (reports and error messages only, never generated code)."""

    name: str
    inputs: tuple[str, ...]
    shape: tuple[int, ...]
    out_type: FixedType
    origin: str = field(default="", kw_only=True)

    op: ClassVar[str] = "layer"
    #: Producers read (None: one or more).
    n_inputs: ClassVar[int | None] = 1

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        """Bit-exact output mantissas ``(batch, *shape)`` of ``out_type`` from input mantissas."""
        raise NotImplementedError

    def infer_shape(self, in_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        """Output shape from the input shapes (default: element-wise, the first input's shape)."""
        return tuple(in_shapes[0])

    def check(self, srcs: Sequence[Layer]) -> None:
        """Invariants against the producers ``srcs``; raise :class:`GraphError` (default: the shape)."""
        want = self.infer_shape([s.shape for s in srcs])
        if tuple(self.shape) != tuple(want):
            raise GraphError(f"layer {self.name}: shape {self.shape} differs from the inferred {want}")

    @property
    def label(self) -> str:
        """The name people know the layer by: the model's node name when it has one."""
        return self.origin or self.name

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@register_layer
@dataclass(frozen=True, eq=False)
class InputLayer(Layer):
    """Graph input: floats are quantized to ``out_type`` (its rounding and overflow modes).

    A model whose input scale is not a power of two (or has a zero point) sets ``factor`` and
    ``zero_point``: the mantissas are ``clamp(round(x * 2^frac / factor) + zero_point)``, computed
    exactly on the host (:func:`fpga_flow.fixed.quantize_scaled`)."""

    factor: Fraction = field(default=Fraction(1), kw_only=True)
    zero_point: int = field(default=0, kw_only=True)

    op: ClassVar[str] = "input"
    n_inputs: ClassVar[int | None] = 0

    @property
    def scaled(self) -> bool:
        """The input's scale is not ``2^-frac`` (a factor or a zero point applies)."""
        return self.factor != 1 or self.zero_point != 0

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Float array ``(batch, *shape)`` (or ``(batch, size)``) to mantissas ``(batch, *shape)``."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim < 1 or x.shape[1:] != self.shape:
            flat = x.reshape(x.shape[0] if x.ndim else 1, -1)
            if flat.shape[1:] != (self.size,):
                raise ValueError(f"input '{self.label}' expects {self.size} features per sample")
            x = flat
        flat = x.reshape(x.shape[0], -1)
        if self.scaled:
            m = quantize_scaled(flat, self.out_type, self.factor, self.zero_point)
        else:
            m = from_float(flat, self.out_type)
        return m.reshape((x.shape[0], *self.shape))

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        return _per_sample(xs[0], self.shape)

    def infer_shape(self, in_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        return tuple(self.shape)

    def check(self, srcs: Sequence[Layer]) -> None:
        if not self.shape or any(int(d) < 1 for d in self.shape):
            raise GraphError(f"input layer {self.name}: shape {self.shape} must have positive dimensions")


@dataclass(frozen=True, eq=False, kw_only=True)
class MacLayer(Layer):
    """A layer of multiply-accumulate rows: ``out = requant(act(bias + W @ patch))`` per output.

    ``weights`` is 2-D ``(rows, row length)``: one row per output neuron (dense) or output channel
    (convolution). The sum is exact in ``acc_type`` (an overflow-free type: bias and every product
    are aligned to ``acc_type.frac`` without loss, so summation order cannot change the result);
    the activation acts on the accumulator; the single requantization to ``out_type`` uses
    ``out_type``'s rounding and overflow modes. Subclasses say what a row reads (``accumulate``).
    """

    weights: WeightStorage
    weight_type: FixedType
    bias: np.ndarray
    bias_type: FixedType
    acc_type: FixedType
    activation: Activation = Activation.LINEAR

    def __post_init__(self) -> None:
        b = np.array(self.bias, dtype=np.int64, copy=True)
        b.setflags(write=False)
        object.__setattr__(self, "bias", b)

    @property
    def rows(self) -> int:
        """Output neurons / channels (rows of ``weights``)."""
        return int(self.weights.shape[0])

    @property
    def row_length(self) -> int:
        """Products per output (columns of ``weights``)."""
        return int(self.weights.shape[1])

    def _acc_shifts(self, in_type: FixedType) -> tuple[int, int]:
        fa = self.acc_type.frac
        fp = self.weight_type.frac + in_type.frac
        if fa < fp or fa < self.bias_type.frac:
            raise ValueError(
                f"layer {self.name}: accumulator {self.acc_type} drops product/bias bits "
                f"(needs >= {max(fp, self.bias_type.frac)} fractional bits)"
            )
        return fa - fp, fa - self.bias_type.frac

    def accumulate(self, x: np.ndarray, in_type: FixedType) -> np.ndarray:
        """Exact accumulator mantissas (``acc_type``) before activation, ``(batch, *shape)``."""
        raise NotImplementedError

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        acc = apply_activation(self.accumulate(xs[0], in_types[0]), self.activation)
        return cast(acc, self.acc_type.frac, self.out_type, src_signed=self.acc_type.signed)

    def check_mac(self, src: Layer) -> None:
        """The invariants every MAC layer shares: weights, bias, types and the accumulator bound."""
        from fpga_flow.ir.accum import accumulator_bound

        if self.bias.shape != (self.rows,):
            raise GraphError(f"layer {self.name}: bias shape {self.bias.shape} != ({self.rows},)")
        fp = self.weight_type.frac + src.out_type.frac
        if self.acc_type.frac < max(fp, self.bias_type.frac):
            raise GraphError(
                f"layer {self.name}: accumulator {self.acc_type} has {self.acc_type.frac} fractional bits, "
                f"needs {max(fp, self.bias_type.frac)} to hold products and bias exactly"
            )
        w = self.weights
        vals = w.codebook if isinstance(w, CodebookCsrWeights) else w.values
        for what, arr, t in (("weight", vals, self.weight_type), ("bias", self.bias, self.bias_type)):
            if arr.size and (arr.min() < t.min_mantissa or arr.max() > t.max_mantissa):
                raise GraphError(f"layer {self.name}: a {what} mantissa is outside {t}")
        bound = accumulator_bound(self, src.out_type)
        if bound > self.acc_type.max_mantissa or -bound < self.acc_type.min_mantissa:
            raise GraphError(
                f"layer {self.name}: accumulator {self.acc_type} can overflow (partial sums reach {bound} LSBs)"
            )

    def dense_weights(self) -> np.ndarray:
        return self.weights.to_dense()

    def with_weights(self, weights: WeightStorage) -> Self:
        from dataclasses import replace

        return replace(self, weights=weights)

    @property
    def nnz(self) -> int:
        return self.weights.nnz

    @property
    def codebook_size(self) -> int | None:
        return int(self.weights.codebook.size) if isinstance(self.weights, CodebookCsrWeights) else None

    @property
    def storage(self) -> str:
        return self.weights.kind


@register_layer
@dataclass(frozen=True, eq=False, kw_only=True)
class DenseLayer(MacLayer):
    """Fully connected (see :class:`MacLayer`): the input is a vector ``(n_in,)``, row ``j`` of
    ``weights`` is output neuron ``j``."""

    n_in: int
    n_out: int

    op: ClassVar[str] = "dense"

    def accumulate(self, x: np.ndarray, in_type: FixedType) -> np.ndarray:
        sp_, sb = self._acc_shifts(in_type)
        x2 = np.asarray(x, dtype=np.int64).reshape(len(x), -1)
        prod = np.asarray(self.weights.matrix @ x2.T).T.astype(np.int64)
        return (prod << sp_) + (self.bias[None, :] << sb)

    def infer_shape(self, in_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        return (self.n_out,)

    def check(self, srcs: Sequence[Layer]) -> None:
        src = srcs[0]
        if tuple(src.shape) != (self.n_in,):
            raise GraphError(
                f"layer {self.name}: n_in={self.n_in} but its input {src.name} has shape {src.shape}"
                + ("; flatten the feature map first" if len(src.shape) > 1 and src.size == self.n_in else "")
            )
        if self.shape != (self.n_out,):
            raise GraphError(f"layer {self.name}: shape {self.shape} must be ({self.n_out},)")
        if self.weights.shape != (self.n_out, self.n_in):
            raise GraphError(f"layer {self.name}: weights shape {self.weights.shape} != ({self.n_out}, {self.n_in})")
        self.check_mac(src)


@register_layer
@dataclass(frozen=True, eq=False)
class ReluLayer(Layer):
    """Standalone ReLU; the result is cast to ``out_type`` (exact when it equals the input type)."""

    op: ClassVar[str] = "relu"

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        return cast(np.maximum(xs[0], 0), in_types[0].frac, self.out_type, src_signed=in_types[0].signed)


@register_layer
@dataclass(frozen=True, eq=False)
class QuantizeLayer(Layer):
    """Requantize the input to ``out_type`` with its rounding/overflow modes (a QONNX Quant)."""

    op: ClassVar[str] = "quantize"

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        return cast(xs[0], in_types[0].frac, self.out_type, src_signed=in_types[0].signed)


@register_layer
@dataclass(frozen=True, eq=False)
class ReshapeLayer(Layer):
    """A shape change (ONNX ``Flatten``/``Reshape``): the same elements in the same row-major
    (NCHW) order, the same type. Values never change; hardware needs no logic for it."""

    op: ClassVar[str] = "reshape"

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        return _per_sample(xs[0], self.shape)

    def infer_shape(self, in_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        return tuple(self.shape)

    def check(self, srcs: Sequence[Layer]) -> None:
        src = srcs[0]
        if self.size != src.size:
            raise GraphError(f"layer {self.name}: reshape to {self.shape} changes the size of {src.shape}")
        if self.out_type != src.out_type:
            raise GraphError(f"layer {self.name}: a reshape keeps its input's type {src.out_type}")
