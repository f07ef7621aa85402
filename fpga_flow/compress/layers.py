"""Compressible weighted layers: masked, fixed-point, codebook-shared ``Linear`` and ``Conv2d``.

One :class:`CompressibleLayer` goes through every stage of the flow:

1. float: ``acc = mac(x, W) + b`` (float32 while training the dense baseline and pruning);
2. pruned: ``W * mask`` (``mask`` a boolean buffer of ``W``'s shape; see :mod:`fpga_flow.compress.prune`);
3. fixed point: ``weight_type``, ``bias_type`` and ``act_type`` set (float64 model): the forward is
   the hardware's, ``act_q(relu(bias_q + sum_i w_q x_i))`` with ONE rounding after the activation;
4. shared: ``W = table[codes]`` with ``table = [0, c_1 .. c_K]``, the ``K`` centroids projected to
   distinct nonzero values of ``weight_type`` (:func:`fpga_flow.compress.kmeans.project_codebook`);
   ``codes == 0`` marks pruned weights, so zero stays exactly zero.

The two kinds differ only in what an output sums over (:meth:`CompressibleLayer.mac`):

* :class:`CompressibleLinear`: ``weight`` ``(n_out, n_in)`` as in :class:`torch.nn.Linear`; an
  output sums ``n_in`` products;
* :class:`CompressibleConv2d`: ``weight`` ``(C_out, C_in/groups, kh, kw)`` as in
  :class:`torch.nn.Conv2d` (zero padding, dilation 1); an output sums ``C_in/groups * kh * kw``
  products (:attr:`CompressibleLayer.fan_in`). torch's float64 CPU convolution (im2col + GEMM,
  no Winograd or FFT) adds exact products exactly, like the linear layer (the tests compare it with
  an integer convolution).

The fixed-point forward in float64 is bit-exact with the ONNX export read by
:func:`fpga_flow.onnx_io.read_onnx` (see :mod:`fpga_flow.compress.quant` for the argument).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from fpga_flow.compress.quant import check_quant_type, fake_quant
from fpga_flow.fixed import FixedType

__all__ = ["CompressibleConv2d", "CompressibleLayer", "CompressibleLinear"]


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


class CompressibleLayer(nn.Module):
    """A weighted layer with optional mask, fixed-point types and shared weights (the common API).

    ``relu`` applies ReLU to the accumulator; ``act_type`` (optional) requantizes the result once,
    as the hardware does. Subclasses define :meth:`mac` (the float multiply-accumulate).
    """

    #: The kind of layer, as the report names it.
    kind: ClassVar[str] = "layer"

    # registered buffers (declared for the type checker; nn.Module keeps them in _buffers)
    mask: torch.Tensor
    codes: torch.Tensor

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, relu: bool, name: str) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone())
        self.bias = nn.Parameter(bias.detach().clone())
        self.register_buffer("mask", torch.ones(weight.shape, dtype=torch.bool))
        self.register_buffer("codes", torch.zeros(0, dtype=torch.int64))
        self.centroids: nn.Parameter | None
        self.register_parameter("centroids", None)
        self.relu, self.name = relu, name
        self.weight_type: FixedType | None = None
        self.bias_type: FixedType | None = None
        self.act_type: FixedType | None = None

    # ------------------------------------------------------------------ shape
    @property
    def rows(self) -> int:
        """Outputs that have their own weights: neurons (linear) or output channels (conv)."""
        return int(self.weight.shape[0])

    @property
    def fan_in(self) -> int:
        """Products one output sums (the columns of the weights as a ``(rows, fan_in)`` matrix)."""
        return math.prod(int(d) for d in self.weight.shape[1:])

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
        """Share weights: ``codes`` (the weight's shape) int, 0 = pruned, ``k`` = ``centroids[k-1]``."""
        if self.weight_type is None:
            raise ValueError(f"layer {self.name}: weight sharing needs a weight FixedType (quantize first)")
        codes_t = torch.as_tensor(np.asarray(codes, dtype=np.int64), device=self.weight.device)
        if tuple(codes_t.shape) != tuple(self.weight.shape):
            raise ValueError(f"layer {self.name}: codes must have shape {tuple(self.weight.shape)}")
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
        """The weights the forward uses (masked, quantized or shared), the shape of ``weight``."""
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

    def mac(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``bias + sum of products`` per output (the accumulator, before the activation)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acc = self.mac(x, self.effective_weight(), self.effective_bias())
        if self.relu:
            acc = torch.relu(acc)
        if self.act_type is not None:
            acc = fake_quant(acc, self.act_type, clip=True)
        return acc

    def density(self) -> float:
        """Fraction of weights kept by the mask."""
        return float(self.mask.sum().item()) / self.mask.numel()

    def extra_repr(self) -> str:
        return f"{self.name}: relu={self.relu}, density={self.density():.3f}"


class CompressibleLinear(CompressibleLayer):
    """Dense layer ``n_in -> n_out``; ``weight`` is ``(n_out, n_in)`` as in :class:`torch.nn.Linear`."""

    kind: ClassVar[str] = "dense"

    def __init__(self, n_in: int, n_out: int, relu: bool, name: str) -> None:
        lin = nn.Linear(n_in, n_out)
        super().__init__(lin.weight, lin.bias, relu, name)
        self.n_in, self.n_out = n_in, n_out

    def mac(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x, weight, bias)

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape for the per-sample input shape ``in_shape`` (a vector)."""
        if tuple(in_shape) != (self.n_in,):
            raise ValueError(f"layer {self.name} takes a vector of {self.n_in}, got shape {tuple(in_shape)}"
                             + ("; flatten the feature map first" if len(in_shape) > 1 else ""))
        return (self.n_out,)

    def extra_repr(self) -> str:
        return f"{self.name}: {self.n_in}->{self.n_out}, relu={self.relu}, density={self.density():.3f}"


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


class CompressibleConv2d(CompressibleLayer):
    """2-D convolution ``C_in -> C_out`` with zero ``padding`` (symmetric), ``stride`` and ``groups``.

    ``weight`` is ``(C_out, C_in/groups, kh, kw)`` as in :class:`torch.nn.Conv2d`; the mask, the
    codes and the codebook have the same API as :class:`CompressibleLinear` (masks and codes of the
    weight's 4-D shape). The input is a feature map ``(C_in, H, W)`` per sample.
    """

    kind: ClassVar[str] = "conv2d"

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int | tuple[int, int],
        *,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        groups: int = 1,
        relu: bool = True,
        name: str,
    ) -> None:
        if groups < 1 or c_in % groups or c_out % groups:
            raise ValueError(f"layer {name}: groups={groups} must divide {c_in} input and {c_out} output channels")
        conv = nn.Conv2d(c_in, c_out, _pair(kernel), stride=_pair(stride), padding=_pair(padding), groups=groups)
        assert conv.bias is not None
        super().__init__(conv.weight, conv.bias, relu, name)
        self.in_channels, self.out_channels, self.groups = c_in, c_out, groups
        self.kernel, self.stride, self.padding = _pair(kernel), _pair(stride), _pair(padding)

    @property
    def pads(self) -> tuple[int, int, int, int]:
        """The ONNX ``pads`` (top, left, bottom, right)."""
        ph, pw = self.padding
        return (ph, pw, ph, pw)

    def mac(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(x, weight, bias, stride=self.stride, padding=self.padding,
                                          groups=self.groups)

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape ``(C_out, H_out, W_out)`` for the input shape ``(C_in, H, W)``."""
        if len(in_shape) != 3 or int(in_shape[0]) != self.in_channels:
            raise ValueError(f"layer {self.name} takes a feature map ({self.in_channels}, H, W), got {tuple(in_shape)}")
        hw = []
        for size, k, s, p in zip(in_shape[1:], self.kernel, self.stride, self.padding, strict=True):
            if int(size) + 2 * p < k:
                raise ValueError(f"layer {self.name}: kernel {self.kernel} does not fit the input {tuple(in_shape)}")
            hw.append((int(size) + 2 * p - k) // s + 1)
        return (self.out_channels, hw[0], hw[1])

    def extra_repr(self) -> str:
        return (f"{self.name}: {self.in_channels}->{self.out_channels} {self.kernel[0]}x{self.kernel[1]}, "
                f"stride={self.stride}, padding={self.padding}, groups={self.groups}, relu={self.relu}, "
                f"density={self.density():.3f}")
