"""The example networks of ``fpga-flow compress``: LeNet-300-100 and LeNet-5 (Han et al. 2015).

* :func:`lenet300`: the multilayer perceptron ``n_in-300-100-n_classes`` (:class:`CompressibleMLP`);
* :func:`lenet5`: Caffe's LeNet-5 (431K weights): ``conv1 20@5x5 -> ReLU -> maxpool 2x2 -> conv2
  50@5x5 -> ReLU -> maxpool 2x2 -> flatten (800) -> fc1 500 -> ReLU -> fc2 n_classes``.

Both are :class:`~fpga_flow.compress.network.CompressibleNet`; their layers are
:class:`~fpga_flow.compress.layers.CompressibleConv2d` / :class:`~fpga_flow.compress.layers.CompressibleLinear`
(re-exported here).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from fpga_flow.compress.layers import CompressibleConv2d, CompressibleLayer, CompressibleLinear
from fpga_flow.compress.network import CompressibleNet

__all__ = ["CompressibleConv2d", "CompressibleLayer", "CompressibleLinear", "CompressibleMLP", "CompressibleNet",
           "lenet300", "lenet5"]


class CompressibleMLP(CompressibleNet):
    """A stack of :class:`CompressibleLinear` ``sizes[0] -> ... -> sizes[-1]`` (ReLU on all but the
    last), layers named ``fc1``, ``fc2``, ..."""

    def __init__(self, sizes: Sequence[int], name: str = "mlp") -> None:
        if len(sizes) < 2:
            raise ValueError("an MLP needs at least an input and an output size")
        sizes = tuple(int(s) for s in sizes)
        layers = [
            CompressibleLinear(a, b, relu=i < len(sizes) - 2, name=f"fc{i + 1}")
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))
        ]
        super().__init__(layers, (sizes[0],), name=name)
        self.sizes = sizes


def lenet300(n_in: int = 784, n_classes: int = 10, hidden: Sequence[int] = (300, 100)) -> CompressibleMLP:
    """LeNet-300-100 (Han et al.): ``n_in-300-100-n_classes`` with ReLU (784 inputs for MNIST-like
    28x28 images, 64 for scikit-learn's 8x8 digits)."""
    return CompressibleMLP([n_in, *hidden, n_classes], name="lenet300")


def lenet5(in_shape: Sequence[int] = (1, 28, 28), n_classes: int = 10, padding: int | None = None) -> CompressibleNet:
    """LeNet-5 as in Caffe and Deep Compression (431,080 weights for 1x28x28 inputs).

    ``conv1 20@5x5 -> ReLU -> maxpool 2x2 -> conv2 50@5x5 -> ReLU -> maxpool 2x2 -> flatten -> fc1 500
    -> ReLU -> fc2 n_classes``; ReLU after both convolutions (sparse activations), the output is
    fc2's accumulator. ``padding`` (both convolutions) defaults to 0 (the paper's network, 28x28 ->
    24 -> 12 -> 8 -> 4, flatten 800) for inputs of at least 16x16, and to 2 ("same") for smaller
    ones: scikit-learn's 8x8 digits give 8x8 -> 8 -> 4 -> 4 -> 2, flatten 50*2*2 = 200, fc1 200->500
    (130,500 weights), the same layers and kinds with padded convolutions.
    """
    c, h, w = (int(d) for d in in_shape)
    pad = padding if padding is not None else (0 if min(h, w) >= 16 else 2)
    conv1 = CompressibleConv2d(c, 20, 5, padding=pad, relu=True, name="conv1")
    conv2 = CompressibleConv2d(20, 50, 5, padding=pad, relu=True, name="conv2")
    shape = conv2.out_shape(_pooled(conv1.out_shape((c, h, w))))
    n_flat = shape[0] * (shape[1] // 2) * (shape[2] // 2)
    stages = [conv1, nn.MaxPool2d(2), conv2, nn.MaxPool2d(2), nn.Flatten(),
              CompressibleLinear(n_flat, 500, relu=True, name="fc1"),
              CompressibleLinear(500, n_classes, relu=False, name="fc2")]
    return CompressibleNet(stages, (c, h, w), name="lenet5")


def _pooled(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[0], shape[1] // 2, shape[2] // 2)
