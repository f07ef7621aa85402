"""A compressible network that is a graph: the converted form of a user's model (residual additions).

:class:`CompressibleGraph` has the API of :class:`~fpga_flow.compress.network.CompressibleNet`
(``layers``, ``input_type``, ``quantized``, ``check_exact``, ``describe``, ...) that pruning,
QAT, sharing, the export and the report use, over nodes in topological order, each reading the
outputs of earlier nodes by name:

* a weighted layer (:class:`~fpga_flow.compress.layers.CompressibleConv2d` /
  :class:`~fpga_flow.compress.layers.CompressibleLinear`, its ReLU fused, BatchNorm folded);
* :class:`AddNode`: the exact sum of two fixed-point tensors, optional ReLU, then one requantization
  to its ``act_type``;
* :class:`ActNode`: a ReLU that no layer or addition absorbed (the type is kept; a ReLU6 also gets an
  ``act_type``);
* :class:`AvgNode`: average pooling (a window, or global): the exact sum divided by the count, rounded
  once to ``act_type`` (as the reader's ``AveragePool`` + ``Quant``);
* ``nn.MaxPool2d`` and ``nn.Flatten`` (exact, the type kept).

ReLU6: before quantization the forward clamps at 6; once fixed point, a ReLU6 is a ReLU whose
activation type saturates at its own maximum (the smallest type that holds 6, e.g. 7.97 for 8 bits
unsigned): the ONNX reader has no ``Clip``. QAT fine-tunes with that form, which the export matches
bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from fpga_flow.compress.layers import CompressibleConv2d, CompressibleLayer, CompressibleLinear
from fpga_flow.compress.network import CompressibleNet, pool_geometry
from fpga_flow.compress.quant import FLOAT64_EXACT_BITS, accumulator_bits, fake_quant
from fpga_flow.fixed import FixedType

__all__ = ["ActNode", "AddNode", "AvgNode", "Compressible", "CompressibleGraph", "DenseModel", "GraphNode"]


class AddNode(nn.Module):
    """``act_q(relu?(a + b))``: the exact sum, optional ReLU (clamped at ``cap`` in float), one rounding."""

    def __init__(self, relu: bool, cap: float | None = None) -> None:
        super().__init__()
        self.relu, self.cap = relu, cap
        self.act_type: FixedType | None = None

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return _activate(y, self.relu, self.cap, self.act_type)


class ActNode(nn.Module):
    """A standalone ReLU (``cap`` 6 for a ReLU6, which is then requantized to its ``act_type``)."""

    def __init__(self, cap: float | None = None) -> None:
        super().__init__()
        self.cap = cap
        self.act_type: FixedType | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _activate(x, True, self.cap, self.act_type)


def _activate(y: torch.Tensor, relu: bool, cap: float | None, t: FixedType | None) -> torch.Tensor:
    if relu:
        y = torch.relu(y)
    if t is not None:
        return fake_quant(y, t, clip=True)
    if cap is not None:
        y = torch.clamp(y, max=cap)
    return y


class AvgNode(nn.Module):
    """Average pooling: ``kernel``/``stride`` windows without padding, or ``global_`` (the whole map)."""

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int], global_: bool) -> None:
        super().__init__()
        self.kernel, self.stride, self.global_ = kernel, stride, global_
        self.act_type: FixedType | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.global_:
            count = int(x.shape[2]) * int(x.shape[3])
            s = x.sum(dim=(2, 3), keepdim=True)
        else:
            count = self.kernel[0] * self.kernel[1]
            s = torch.nn.functional.avg_pool2d(x, self.kernel, self.stride, divisor_override=1)
        y = s / count  # one correctly rounded division of an exact sum; then one rounding to the type
        return fake_quant(y, self.act_type, clip=True) if self.act_type is not None else y


@dataclass(frozen=True)
class GraphNode:
    """One node: ``kind`` ``layer``, ``add``, ``act``, ``avg``, ``maxpool`` or ``flatten``; ``inputs``
    names of earlier nodes (``"input"``: the model's input); ``shape`` the per-sample output shape."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    shape: tuple[int, ...]


class CompressibleGraph(nn.Module):
    """Nodes in topological order (see the module doc); the last node is the output, a weighted layer."""

    def __init__(self, nodes: Sequence[GraphNode], modules: dict[str, nn.Module], input_shape: Sequence[int],
                 name: str = "net", caps: dict[str, float] | None = None) -> None:
        super().__init__()
        self.nodes = tuple(nodes)
        self.ops = nn.ModuleDict({n.name: modules[n.name] for n in self.nodes})
        self.input_shape = tuple(int(d) for d in input_shape)
        self.name = name
        self.input_type: FixedType | None = None
        #: ReLU6 fused into a layer: its cap (applied in float only)
        self.caps = dict(caps or {})
        if not self.nodes or self.nodes[-1].kind != "layer":
            raise ValueError(f"{name}: the last node must be a weighted layer (the output is its accumulator)")
        if len({lay.name for lay in self.layers}) != len(self.layers):
            raise ValueError(f"{name}: layer names must be unique")

    # ------------------------------------------------------------ structure
    @property
    def layers(self) -> tuple[CompressibleLayer, ...]:
        """The weighted layers, in order."""
        return tuple(m for n in self.nodes if isinstance(m := self.ops[n.name], CompressibleLayer))

    @property
    def n_outputs(self) -> int:
        return math.prod(self.nodes[-1].shape)

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].bias.dtype

    @property
    def quantized(self) -> bool:
        return self.input_type is not None and all(lay.quantized for lay in self.layers)

    def describe(self) -> str:
        """The architecture in one line, e.g. ``1x8x8 - conv1 8@3x3 - add(conv2, relu) - ... - fc 10``."""
        parts = ["x".join(map(str, self.input_shape))]
        for n in self.nodes:
            m = self.ops[n.name]
            if isinstance(m, CompressibleConv2d):
                s = f"{m.name} {m.out_channels}@{m.kernel[0]}x{m.kernel[1]}"
                if m.stride != (1, 1):
                    s += f" stride {m.stride[0]}"
                parts.append(s + (f" g{m.groups}" if m.groups > 1 else ""))
            elif isinstance(m, CompressibleLinear):
                parts.append(f"{m.name} {m.n_out}")
            elif n.kind == "add":
                parts.append(f"add({', '.join(n.inputs)})")
            elif n.kind == "avg":
                parts.append("global avgpool" if isinstance(m, AvgNode) and m.global_ else "avgpool")
            elif isinstance(m, nn.MaxPool2d):
                k, _, _ = pool_geometry(m)
                parts.append(f"maxpool {k[0]}x{k[1]}")
            else:
                parts.append(n.kind)
        return " - ".join(parts)

    def source_types(self) -> dict[str, FixedType | None]:
        """The fixed-point type of every node's output (``"input"`` too); None where not yet typed."""
        out: dict[str, FixedType | None] = {"input": self.input_type}
        for n in self.nodes:
            m = self.ops[n.name]
            if n.kind in ("maxpool", "flatten") or (isinstance(m, ActNode) and m.cap is None):
                out[n.name] = out[n.inputs[0]]
            else:
                out[n.name] = getattr(m, "act_type", None)
        return out

    # -------------------------------------------------------------- forward
    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.input_shape).to(self.dtype)
        return fake_quant(x, self.input_type) if self.input_type is not None else x

    def run(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every node's output for ``x`` (``"input"``: the prepared input)."""
        vals = {"input": self.prepare_input(x)}
        for n in self.nodes:
            m = self.ops[n.name]
            y = m(*(vals[i] for i in n.inputs))
            cap = self.caps.get(n.name)
            if cap is not None and isinstance(m, CompressibleLayer) and m.act_type is None:
                y = torch.clamp(y, max=cap)
            vals[n.name] = y
        return vals

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)[self.nodes[-1].name]

    def check_exact(self) -> None:
        """Raise ``ValueError`` unless the fixed-point forward is exact in float64 (as
        :meth:`CompressibleNet.check_exact`; additions and averages need their types too)."""
        if not self.quantized:
            raise ValueError("the model is not fully fixed point: quantize it first")
        if self.dtype != torch.float64:
            raise ValueError("a fixed-point model must run in float64 to be bit-exact")
        types = self.source_types()
        last = self.nodes[-1].name
        for n in self.nodes:
            m = self.ops[n.name]
            if isinstance(m, CompressibleLayer):
                xt = types[n.inputs[0]]
                assert m.weight_type is not None and xt is not None
                bits = accumulator_bits(m.fan_in, m.weight_type, xt, m.bias_type)
                if bits > FLOAT64_EXACT_BITS:
                    raise ValueError(f"layer {m.name}: the accumulator needs {bits} bits, more than float64 holds "
                                     "exactly; narrow the weight, bias or activation types")
            if n.name != last and types[n.name] is None:
                raise ValueError(f"node {n.name}: needs an activation type")

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]


class DenseModel(nn.Module):
    """The user's own module as the dense stage trains it: inputs reshaped to ``(N, *input_shape)``."""

    def __init__(self, module: nn.Module, input_shape: Sequence[int], n_outputs: int) -> None:
        super().__init__()
        self.module = module
        self.input_shape = tuple(int(d) for d in input_shape)
        self._n_outputs = int(n_outputs)

    @property
    def n_outputs(self) -> int:
        return self._n_outputs

    @property
    def dtype(self) -> torch.dtype:
        return next(self.module.parameters()).dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.module(x.reshape(x.shape[0], *self.input_shape).to(self.dtype))
        return out

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.module.parameters() if p.requires_grad]


#: A network the compression stages take.
Compressible = CompressibleNet | CompressibleGraph
