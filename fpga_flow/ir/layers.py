"""IR layers: frozen dataclasses, edges by name, each with a bit-exact numpy ``reference()``.

Activations are 2-D integer mantissa arrays ``(batch, features)``; the producer's
``out_type`` gives their scale. Conv/pooling/LSTM layers add classes here with the same
``reference(inputs, in_types)`` contract and a ``shape`` tuple of any rank.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fpga_flow.fixed import FixedType, cast, from_float
from fpga_flow.ir.weights import CodebookCsrWeights, CsrWeights, DenseWeights, WeightStorage

__all__ = [
    "Activation",
    "DenseLayer",
    "InputLayer",
    "Layer",
    "QuantizeLayer",
    "ReluLayer",
]


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

    op = "layer"

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        """Bit-exact output mantissas (``out_type``) from input mantissas."""
        raise NotImplementedError

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True, eq=False)
class InputLayer(Layer):
    """Graph input: floats are quantized to ``out_type`` (its rounding and overflow modes)."""

    op = "input"

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Float array ``(batch, *shape)`` to mantissas of ``out_type``."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[1:] != self.shape:
            x = x.reshape(x.shape[0], -1)
            if x.shape[1:] != (self.size,):
                raise ValueError(f"input '{self.origin or self.name}' expects {self.size} features per sample")
        return from_float(x.reshape(x.shape[0], -1), self.out_type)

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        return np.asarray(xs[0], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class DenseLayer(Layer):
    """Fully connected: ``out = requant(act(bias + W @ x))``.

    The sum is exact in ``acc_type`` (an overflow-free type: bias and every product are
    aligned to ``acc_type.frac`` without loss, so summation order cannot change the result);
    the activation acts on the accumulator; the single requantization to ``out_type`` uses
    ``out_type``'s rounding and overflow modes.
    """

    n_in: int
    n_out: int
    weights: WeightStorage
    weight_type: FixedType
    bias: np.ndarray
    bias_type: FixedType
    acc_type: FixedType
    activation: Activation = Activation.LINEAR

    op = "dense"

    def __post_init__(self) -> None:
        b = np.array(self.bias, dtype=np.int64, copy=True)
        b.setflags(write=False)
        object.__setattr__(self, "bias", b)

    def accumulate(self, x: np.ndarray, in_type: FixedType) -> np.ndarray:
        """Exact accumulator mantissas (``acc_type``) before activation."""
        fa = self.acc_type.frac
        fp = self.weight_type.frac + in_type.frac
        if fa < fp or fa < self.bias_type.frac:
            raise ValueError(
                f"layer {self.name}: accumulator {self.acc_type} drops product/bias bits "
                f"(needs >= {max(fp, self.bias_type.frac)} fractional bits)"
            )
        prod = np.asarray(self.weights.matrix @ np.asarray(x, dtype=np.int64).T).T.astype(np.int64)
        return (prod << (fa - fp)) + (self.bias[None, :] << (fa - self.bias_type.frac))

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        acc = apply_activation(self.accumulate(xs[0], in_types[0]), self.activation)
        return cast(acc, self.acc_type.frac, self.out_type, src_signed=self.acc_type.signed)

    def dense_weights(self) -> np.ndarray:
        return self.weights.to_dense()

    def with_weights(self, weights: WeightStorage) -> DenseLayer:
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


@dataclass(frozen=True, eq=False)
class ReluLayer(Layer):
    """Standalone ReLU; the result is cast to ``out_type`` (exact when it equals the input type)."""

    op = "relu"

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        return cast(np.maximum(xs[0], 0), in_types[0].frac, self.out_type, src_signed=in_types[0].signed)


@dataclass(frozen=True, eq=False)
class QuantizeLayer(Layer):
    """Requantize the input to ``out_type`` with its rounding/overflow modes (a QONNX Quant)."""

    op = "quantize"

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        return cast(xs[0], in_types[0].frac, self.out_type, src_signed=in_types[0].signed)


_ = (CsrWeights, DenseWeights)  # re-exported storage kinds are used by type annotations
