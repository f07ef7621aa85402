"""Compressible multilayer perceptron: masked, fixed-point, codebook-shared dense layers.

One :class:`CompressibleLinear` goes through every stage of the flow:

1. float: ``y = x @ W.T + b`` (float32 while training the dense baseline and pruning);
2. pruned: ``W * mask`` (``mask`` a boolean buffer; see :mod:`fpga_flow.compress.prune`);
3. fixed point: ``weight_type``, ``bias_type`` and ``act_type`` set (float64 model): the forward is
   the hardware's, ``act_q(relu(bias_q + sum_i w_q x_i))`` with ONE rounding after the activation;
4. shared: ``W = table[codes]`` with ``table = [0, c_1 .. c_K]``, the ``K`` centroids projected to
   distinct nonzero values of ``weight_type`` (:func:`fpga_flow.compress.kmeans.project_codebook`);
   ``codes == 0`` marks pruned weights, so zero stays exactly zero.

The fixed-point forward in float64 is bit-exact with the ONNX export read by
:func:`fpga_flow.onnx_io.read_onnx` (see :mod:`fpga_flow.compress.quant` for the argument).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast, overload

import numpy as np
import torch
from torch import nn

from fpga_flow.compress.quant import FLOAT64_EXACT_BITS, accumulator_bits, check_quant_type, fake_quant
from fpga_flow.fixed import FixedType

__all__ = ["CompressibleLinear", "CompressibleMLP", "LayerList", "lenet300"]


class _ProjectCodebook(torch.autograd.Function):
    """Forward: centroids -> their projection on the weight grid; backward: identity (STE)."""

    @staticmethod
    def forward(ctx: Any, centroids: torch.Tensor, t: FixedType) -> torch.Tensor:
        from fpga_flow.compress.kmeans import project_codebook

        vals = project_codebook(centroids.detach().cpu().numpy().astype(np.float64), t)
        return torch.as_tensor(vals, dtype=centroids.dtype, device=centroids.device)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


class CompressibleLinear(nn.Module):
    """Dense layer ``n_in -> n_out`` with optional mask, fixed-point types and shared weights.

    ``weight`` is ``(n_out, n_in)`` as in :class:`torch.nn.Linear`. ``relu`` applies ReLU to the
    accumulator; ``act_type`` (optional) requantizes the result once, as the hardware does.
    """

    # registered buffers (declared for the type checker; nn.Module keeps them in _buffers)
    mask: torch.Tensor
    codes: torch.Tensor

    def __init__(self, n_in: int, n_out: int, relu: bool, name: str) -> None:
        super().__init__()
        lin = nn.Linear(n_in, n_out)
        self.weight = nn.Parameter(lin.weight.detach().clone())
        self.bias = nn.Parameter(lin.bias.detach().clone())
        self.register_buffer("mask", torch.ones(n_out, n_in, dtype=torch.bool))
        self.register_buffer("codes", torch.zeros(0, dtype=torch.int64))
        self.centroids: nn.Parameter | None
        self.register_parameter("centroids", None)
        self.n_in, self.n_out, self.relu, self.name = n_in, n_out, relu, name
        self.weight_type: FixedType | None = None
        self.bias_type: FixedType | None = None
        self.act_type: FixedType | None = None

    # ------------------------------------------------------------------ state
    @property
    def shared(self) -> bool:
        """True once the layer uses a codebook (weight sharing)."""
        return self.centroids is not None

    @property
    def quantized(self) -> bool:
        """True when weights and bias are fixed point."""
        return self.weight_type is not None and self.bias_type is not None

    def set_types(self, weight: FixedType, bias: FixedType, act: FixedType | None) -> None:
        """Make the layer fixed point (each type must map to a QONNX Quant)."""
        for t in (weight, bias, act):
            if t is not None:
                check_quant_type(t)
        self.weight_type, self.bias_type, self.act_type = weight, bias, act

    def set_codebook(self, centroids: np.ndarray, codes: np.ndarray) -> None:
        """Share weights: ``codes`` (n_out, n_in) int, 0 = pruned, ``k`` = ``centroids[k-1]``."""
        if self.weight_type is None:
            raise ValueError(f"layer {self.name}: weight sharing needs a weight FixedType (quantize first)")
        codes_t = torch.as_tensor(np.asarray(codes, dtype=np.int64), device=self.weight.device)
        if tuple(codes_t.shape) != (self.n_out, self.n_in):
            raise ValueError(f"layer {self.name}: codes must have shape {(self.n_out, self.n_in)}")
        if not torch.equal(codes_t != 0, self.mask):
            raise ValueError(f"layer {self.name}: codes must be nonzero exactly where the mask keeps weights")
        self.codes = codes_t
        self.centroids = nn.Parameter(torch.as_tensor(centroids, dtype=self.weight.dtype, device=self.weight.device))
        self.weight.requires_grad_(False)

    # ---------------------------------------------------------------- values
    def codebook(self) -> torch.Tensor:
        """The ``K`` shared values as the hardware holds them (projected on ``weight_type``)."""
        if self.centroids is None:
            raise ValueError(f"layer {self.name} is not shared")
        assert self.weight_type is not None
        return _ProjectCodebook.apply(self.centroids, self.weight_type)

    def effective_weight(self) -> torch.Tensor:
        """The ``(n_out, n_in)`` weights the forward uses (masked, quantized or shared)."""
        if self.centroids is not None:
            table = torch.cat([torch.zeros(1, dtype=self.centroids.dtype, device=self.centroids.device),
                               self.codebook()])
            return table[self.codes]
        w = self.weight * self.mask
        if self.weight_type is not None:
            w = fake_quant(w, self.weight_type)
        return w

    def effective_bias(self) -> torch.Tensor:
        """The bias the forward uses (quantized when ``bias_type`` is set)."""
        return fake_quant(self.bias, self.bias_type) if self.bias_type is not None else self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acc = torch.nn.functional.linear(x, self.effective_weight(), self.effective_bias())
        if self.relu:
            acc = torch.relu(acc)
        if self.act_type is not None:
            acc = fake_quant(acc, self.act_type, clip=True)
        return acc

    def extra_repr(self) -> str:
        return f"{self.name}: {self.n_in}->{self.n_out}, relu={self.relu}, density={self.density():.3f}"

    def density(self) -> float:
        """Fraction of weights kept by the mask."""
        return float(self.mask.sum().item()) / self.mask.numel()


class LayerList(nn.ModuleList):
    """The :class:`CompressibleLinear` layers of a :class:`CompressibleMLP` (an ``nn.ModuleList``
    whose iteration and indexing say what they hold)."""

    def __iter__(self) -> Iterator[CompressibleLinear]:
        return cast(Iterator[CompressibleLinear], super().__iter__())

    @overload
    def __getitem__(self, idx: slice) -> LayerList: ...

    @overload
    def __getitem__(self, idx: int) -> CompressibleLinear: ...

    def __getitem__(self, idx: int | slice) -> CompressibleLinear | LayerList:
        return cast("CompressibleLinear | LayerList", super().__getitem__(idx))


class CompressibleMLP(nn.Module):
    """A stack of :class:`CompressibleLinear` (ReLU on all but the last) with an optional input type.

    ``input_type`` quantizes the input like the exported graph's input Quant.
    """

    def __init__(self, sizes: Sequence[int], name: str = "mlp") -> None:
        super().__init__()
        if len(sizes) < 2:
            raise ValueError("an MLP needs at least an input and an output size")
        self.sizes = tuple(int(s) for s in sizes)
        self.name = name
        self.layers = LayerList(
            CompressibleLinear(a, b, relu=i < len(sizes) - 2, name=f"fc{i + 1}")
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))
        )
        self.input_type: FixedType | None = None

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].bias.dtype

    @property
    def quantized(self) -> bool:
        """True when the input and every layer are fixed point (exportable)."""
        return self.input_type is not None and all(lay.quantized for lay in self.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1).to(self.dtype)
        if self.input_type is not None:
            x = fake_quant(x, self.input_type)
        for lay in self.layers:
            x = lay(x)
        return x

    def check_exact(self) -> None:
        """Raise ``ValueError`` unless the fixed-point forward is exact in float64 (see module doc)."""
        if not self.quantized:
            raise ValueError("the model is not fully fixed point: quantize it first")
        if self.dtype != torch.float64:
            raise ValueError("a fixed-point model must run in float64 to be bit-exact")
        xt = self.input_type
        for lay in self.layers:
            assert lay.weight_type is not None and xt is not None
            bits = accumulator_bits(lay.n_in, lay.weight_type, xt, lay.bias_type)
            if bits > FLOAT64_EXACT_BITS:
                raise ValueError(
                    f"layer {lay.name}: the accumulator needs {bits} bits, more than float64 holds exactly "
                    f"({FLOAT64_EXACT_BITS}); narrow the weight, bias or activation types"
                )
            xt = lay.act_type
            if xt is None and lay is not self.layers[-1]:
                raise ValueError(f"layer {lay.name}: hidden layers need an activation type")

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters that the current stage trains (weights, or centroids once shared; biases)."""
        return [p for p in self.parameters() if p.requires_grad]


def lenet300(n_in: int = 784, n_classes: int = 10, hidden: Sequence[int] = (300, 100)) -> CompressibleMLP:
    """LeNet-300-100 (Han et al.): ``n_in-300-100-n_classes`` with ReLU (784 inputs for MNIST-like
    28x28 images, 64 for scikit-learn's 8x8 digits)."""
    return CompressibleMLP([n_in, *hidden, n_classes], name="lenet300")
