"""A compressible network: a sequence of conv / max-pool / flatten / linear stages with an input type.

:class:`CompressibleNet` holds the stages the export and the fpga-flow IR know, in order:

* :class:`~fpga_flow.compress.layers.CompressibleConv2d` and
  :class:`~fpga_flow.compress.layers.CompressibleLinear` (the weighted layers, :attr:`CompressibleNet.layers`,
  which pruning, quantization, sharing, Huffman coding and the report iterate over), each with its
  ReLU and activation ``Quant``;
* :class:`torch.nn.MaxPool2d` (dilation 1, ``ceil_mode=False``): the max of values on one
  fixed-point grid is one of them, so pooling after ``Relu -> Quant`` is exact and commutes with
  the quantization;
* :class:`torch.nn.Flatten` (``start_dim=1``): row-major (NCHW) order, as ONNX ``Flatten(axis=1)``.

``input_shape`` is the per-sample shape (``(n,)`` for a vector, ``(C, H, W)`` for images); the
forward accepts ``(N, *input_shape)`` or the same elements flattened, ``(N, prod(input_shape))``.
``input_type`` quantizes the input like the exported graph's input ``Quant``. The last stage is a
weighted layer without activation type: the network's output is its exact accumulator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from fpga_flow.compress.layers import CompressibleConv2d, CompressibleLayer, CompressibleLinear
from fpga_flow.compress.quant import FLOAT64_EXACT_BITS, accumulator_bits, fake_quant
from fpga_flow.fixed import FixedType

__all__ = ["CompressibleNet", "pool_geometry"]


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def pool_geometry(pool: nn.MaxPool2d) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """``(kernel, stride, padding)`` of a max-pool stage, each ``(h, w)``; ``ValueError`` for what the
    export does not write (dilation, ``ceil_mode``, ``return_indices``)."""
    if _pair(pool.dilation) != (1, 1) or pool.ceil_mode or pool.return_indices:
        raise ValueError("max pooling needs dilation 1, ceil_mode=False and return_indices=False")
    kernel = _pair(pool.kernel_size)
    stride = _pair(pool.stride if pool.stride is not None else pool.kernel_size)
    return kernel, stride, _pair(pool.padding)


def _stage_out_shape(stage: nn.Module, shape: tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(stage, CompressibleLinear | CompressibleConv2d):
        return stage.out_shape(shape)
    if isinstance(stage, nn.MaxPool2d):
        kernel, stride, pad = pool_geometry(stage)
        if len(shape) != 3:
            raise ValueError(f"max pooling needs a feature map (C, H, W), got shape {shape}")
        if pad[0] * 2 > kernel[0] or pad[1] * 2 > kernel[1]:
            raise ValueError(f"max-pool padding {pad} must be at most half the kernel {kernel}")
        hw = [(int(s) + 2 * p - k) // st + 1 for s, k, st, p in zip(shape[1:], kernel, stride, pad, strict=True)]
        if min(hw) < 1:
            raise ValueError(f"max-pool kernel {kernel} does not fit the input {shape}")
        return (shape[0], hw[0], hw[1])
    if isinstance(stage, nn.Flatten):
        if stage.start_dim != 1 or stage.end_dim != -1:
            raise ValueError("Flatten must flatten every per-sample dimension (start_dim=1, end_dim=-1)")
        return (math.prod(shape),)
    raise ValueError(
        f"unsupported stage {type(stage).__name__}: "
        "use CompressibleConv2d, CompressibleLinear, nn.MaxPool2d or nn.Flatten"
    )


class CompressibleNet(nn.Module):
    """Stages (conv, max-pool, flatten, linear) applied in order; see the module doc."""

    def __init__(self, stages: Sequence[nn.Module], input_shape: Sequence[int], name: str = "net") -> None:
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.name = name
        self.input_type: FixedType | None = None
        if not self.layers or self.stages[-1] is not self.layers[-1]:
            raise ValueError(f"{name}: the last stage must be a weighted layer (the output is its accumulator)")
        if len({lay.name for lay in self.layers}) != len(self.layers):
            raise ValueError(f"{name}: layer names must be unique, got {[lay.name for lay in self.layers]}")
        self.shapes = self._infer_shapes()

    def _infer_shapes(self) -> tuple[tuple[int, ...], ...]:
        shape = self.input_shape
        out = []
        for st in self.stages:
            shape = _stage_out_shape(st, shape)
            out.append(shape)
        return tuple(out)

    # ------------------------------------------------------------ structure
    @property
    def layers(self) -> tuple[CompressibleLayer, ...]:
        """The weighted layers, in order (what pruning, QAT, sharing and the report iterate over)."""
        return tuple(st for st in self.stages if isinstance(st, CompressibleLayer))

    @property
    def n_outputs(self) -> int:
        return math.prod(self.shapes[-1])

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].bias.dtype

    @property
    def quantized(self) -> bool:
        """True when the input and every layer are fixed point (exportable)."""
        return self.input_type is not None and all(lay.quantized for lay in self.layers)

    def describe(self) -> str:
        """The architecture in one line, e.g. ``1x28x28 - conv1 20@5x5 - pool 2x2 - ... - fc2 10``."""
        parts = ["x".join(map(str, self.input_shape))]
        for st in self.stages:
            if isinstance(st, CompressibleConv2d):
                s = f"{st.name} {st.out_channels}@{st.kernel[0]}x{st.kernel[1]}"
                if st.padding != (0, 0):
                    s += f" pad {st.padding[0]}" if st.padding[0] == st.padding[1] else f" pad {st.padding}"
                if st.stride != (1, 1):
                    s += f" stride {st.stride[0]}"
                parts.append(s + (f" g{st.groups}" if st.groups > 1 else ""))
            elif isinstance(st, CompressibleLinear):
                parts.append(f"{st.name} {st.n_out}")
            elif isinstance(st, nn.MaxPool2d):
                k, _, _ = pool_geometry(st)
                parts.append(f"maxpool {k[0]}x{k[1]}")
            else:
                parts.append("flatten")
        return " - ".join(parts)

    # -------------------------------------------------------------- forward
    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as ``(N, *input_shape)`` in the model's dtype, quantized by ``input_type`` if set."""
        x = x.reshape(x.shape[0], *self.input_shape).to(self.dtype)
        if self.input_type is not None:
            x = fake_quant(x, self.input_type)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prepare_input(x)
        for st in self.stages:
            x = st(x)
        return x

    def check_exact(self) -> None:
        """Raise ``ValueError`` unless the fixed-point forward is exact in float64.

        Every weighted layer's accumulator (bias + ``fan_in`` products, see
        :func:`fpga_flow.compress.quant.accumulator_bits`) must fit the 53 bits float64 holds
        exactly; every layer but the last needs an activation type (pooling and flattening keep it).
        """
        if not self.quantized:
            raise ValueError("the model is not fully fixed point: quantize it first")
        if self.dtype != torch.float64:
            raise ValueError("a fixed-point model must run in float64 to be bit-exact")
        xt = self.input_type
        last = self.layers[-1]
        for lay in self.layers:
            assert lay.weight_type is not None and xt is not None
            bits = accumulator_bits(lay.fan_in, lay.weight_type, xt, lay.bias_type)
            if bits > FLOAT64_EXACT_BITS:
                raise ValueError(
                    f"layer {lay.name}: the accumulator needs {bits} bits, more than float64 holds exactly "
                    f"({FLOAT64_EXACT_BITS}); narrow the weight, bias or activation types"
                )
            if lay.act_type is None and lay is not last:
                raise ValueError(f"layer {lay.name}: hidden layers need an activation type")
            xt = lay.act_type

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters that the current stage trains (weights, or centroids once shared; biases)."""
        return [p for p in self.parameters() if p.requires_grad]
