"""Feature-map layer kinds: 2-D convolution and pooling, each with a bit-exact reference.

A feature map is ``(C, H, W)`` per sample (ONNX NCHW). Windows follow the ONNX operator
definitions: ``kernel (kh, kw)``, ``stride (sh, sw)``, ``pads (top, left, bottom, right)`` (the
ONNX ``pads`` order ``[x1_begin, x2_begin, x1_end, x2_end]``), dilation 1; the output size is
``(H + top + bottom - kh) // sh + 1`` (ONNX ``ceil_mode=0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fpga_flow.fixed import FixedType, cast, cast_ratio
from fpga_flow.ir.layers import Activation, GraphError, Layer, MacLayer, apply_activation, register_layer

__all__ = ["AvgPool2dLayer", "Conv2dLayer", "MaxPool2dLayer", "Pool2dLayer", "Window", "window_out_shape"]

Pair = tuple[int, int]
Pads = tuple[int, int, int, int]

#: Elements of the largest patch matrix one reference step builds (bounds the reference's memory).
_CHUNK_ELEMENTS = 1 << 23


def window_out_shape(h: int, w: int, kernel: Pair, stride: Pair, pads: Pads) -> Pair:
    """Output height and width of a window op on an ``h x w`` map (floor, as ONNX ``ceil_mode=0``)."""
    top, left, bottom, right = pads
    return (h + top + bottom - kernel[0]) // stride[0] + 1, (w + left + right - kernel[1]) // stride[1] + 1


@dataclass(frozen=True, eq=False, kw_only=True)
class Window:
    """The geometry fields of a window layer (convolution or pooling) and their checks."""

    kernel: Pair
    stride: Pair = (1, 1)
    pads: Pads = (0, 0, 0, 0)

    def check_window(self, name: str, in_shape: tuple[int, ...]) -> None:
        if len(in_shape) != 3:
            raise GraphError(f"layer {name}: the input must be a feature map (C, H, W), it has shape {in_shape}")
        if len(self.kernel) != 2 or min(self.kernel) < 1:
            raise GraphError(f"layer {name}: kernel {self.kernel} must be two positive sizes")
        if len(self.stride) != 2 or min(self.stride) < 1:
            raise GraphError(f"layer {name}: stride {self.stride} must be two positive sizes")
        if len(self.pads) != 4 or min(self.pads) < 0:
            raise GraphError(f"layer {name}: pads {self.pads} must be four sizes >= 0 (top, left, bottom, right)")
        _, h, w = in_shape
        top, left, bottom, right = self.pads
        if self.kernel[0] > h + top + bottom or self.kernel[1] > w + left + right:
            raise GraphError(
                f"layer {name}: kernel {self.kernel} is larger than the padded input "
                f"{h + top + bottom}x{w + left + right}"
            )

    def out_hw(self, in_shape: tuple[int, ...]) -> Pair:
        return window_out_shape(int(in_shape[1]), int(in_shape[2]), self.kernel, self.stride, self.pads)

    def windows(self, x: np.ndarray, fill: int) -> np.ndarray:
        """``(batch, C, H_out, W_out, kh, kw)`` view of every window of ``x`` padded with ``fill``."""
        top, left, bottom, right = self.pads
        xp = np.pad(np.asarray(x, dtype=np.int64), ((0, 0), (0, 0), (top, bottom), (left, right)),
                    constant_values=fill)
        v = np.lib.stride_tricks.sliding_window_view(xp, self.kernel, axis=(2, 3))
        ho, wo = self.out_hw(x.shape[1:])
        sh, sw = self.stride
        return v[:, :, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw]


@register_layer
@dataclass(frozen=True, eq=False, kw_only=True)
class Conv2dLayer(Window, MacLayer):
    """2-D convolution with zero padding and ``groups`` (see :class:`~fpga_flow.ir.layers.MacLayer`).

    ``weights`` row ``co`` is output channel ``co``: the ONNX weight ``W[co, ci, ky, kx]`` (``ci``
    local to the group) at column ``(ci * kh + ky) * kw + kx``, so a row holds ``C_in/groups * kh * kw``
    weights. Output channel ``co`` reads the input channels of group ``co // (C_out / groups)``.
    ``shape`` is ``(C_out, H_out, W_out)``; ``in_shape`` is ``(C_in, H, W)``.
    """

    in_shape: tuple[int, int, int]
    groups: int = 1
    #: ``(gy, gx)``: the rows are ``(c, py, px)`` at ``(c * gy + py) * gx + px``, each computing output
    #: pixel phase ``(py, px)`` of an original channel ``c`` (:func:`fpga_flow.passes.split_pixels`;
    #: the hardware groups the lanes of a phase). Values do not depend on it.
    pixel_phases: tuple[int, int] = (1, 1)

    op: ClassVar[str] = "conv2d"

    @property
    def in_channels(self) -> int:
        return int(self.in_shape[0])

    def infer_shape(self, in_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        return (self.rows, *self.out_hw(in_shapes[0]))

    def check(self, srcs: Sequence[Layer]) -> None:
        src = srcs[0]
        self.check_window(self.name, tuple(src.shape))
        if tuple(src.shape) != tuple(self.in_shape):
            raise GraphError(f"layer {self.name}: in_shape {self.in_shape} but its input {src.name} is {src.shape}")
        c_in, g = self.in_channels, self.groups
        if g < 1 or c_in % g or self.rows % g:
            raise GraphError(
                f"layer {self.name}: groups={g} must divide both {c_in} input and {self.rows} output channels"
            )
        want = (c_in // g) * self.kernel[0] * self.kernel[1]
        if self.row_length != want:
            raise GraphError(
                f"layer {self.name}: a weight row has {self.row_length} entries, expected "
                f"{c_in // g}*{self.kernel[0]}*{self.kernel[1]} = {want}"
            )
        super().check(srcs)  # the shape
        self.check_mac(src)

    def accumulate(self, x: np.ndarray, in_type: FixedType) -> np.ndarray:
        sp_, sb = self._acc_shifts(in_type)
        x = np.asarray(x, dtype=np.int64).reshape((len(x), *self.in_shape))
        n = x.shape[0]
        c_out, (ho, wo) = self.rows, self.out_hw(self.in_shape)
        cg, og = self.in_channels // self.groups, c_out // self.groups
        mat = self.weights.matrix.tocsr()
        out = np.empty((n, c_out, ho, wo), dtype=np.int64)
        step = max(1, _CHUNK_ELEMENTS // max(1, ho * wo * self.row_length))
        for b0 in range(0, n, step):
            win = self.windows(x[b0 : b0 + step], 0)  # (b, C, ho, wo, kh, kw)
            b = win.shape[0]
            for g in range(self.groups):
                patches = win[:, g * cg : (g + 1) * cg].transpose(1, 4, 5, 0, 2, 3).reshape(self.row_length, -1)
                prod = np.asarray(mat[g * og : (g + 1) * og] @ patches, dtype=np.int64)  # (og, b*ho*wo)
                out[b0 : b0 + b, g * og : (g + 1) * og] = prod.reshape(og, b, ho, wo).transpose(1, 0, 2, 3)
        return (out << sp_) + (self.bias[None, :, None, None] << sb)


@dataclass(frozen=True, eq=False, kw_only=True)
class Pool2dLayer(Window, Layer):
    """What the pooling kinds share: one output per window and channel, padding smaller than the kernel."""

    def infer_shape(self, in_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        return (int(in_shapes[0][0]), *self.out_hw(in_shapes[0]))

    def check(self, srcs: Sequence[Layer]) -> None:
        self.check_window(self.name, tuple(srcs[0].shape))
        top, left, bottom, right = self.pads  # every window must hold an input element (as ONNX)
        if max(top, bottom) >= self.kernel[0] or max(left, right) >= self.kernel[1]:
            raise GraphError(f"layer {self.name}: a padding of {self.pads} is not smaller than the kernel "
                             f"{self.kernel} (a window of padding only has no maximum or average)")
        super().check(srcs)


@register_layer
@dataclass(frozen=True, eq=False, kw_only=True)
class MaxPool2dLayer(Pool2dLayer):
    """Max over each window (padding never wins), then ``activation`` (a ReLU folded from before the
    pool: ``max(relu(x)) == relu(max(x))``, :func:`fpga_flow.passes.fuse_activations`), cast to
    ``out_type`` (exact when it is the input's).

    ``channel_group`` ``g`` > 1: output channel ``c`` is the maximum over input channels ``c*g`` ..
    ``c*g + g - 1`` and the window (the pool after a convolution that computes several output
    pixels at once, :func:`fpga_flow.passes.split_pixels`: each input channel one pixel phase)."""

    activation: Activation = Activation.LINEAR
    channel_group: int = 1

    op: ClassVar[str] = "maxpool2d"

    def infer_shape(self, in_shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
        return (int(in_shapes[0][0]) // max(1, self.channel_group), *self.out_hw(in_shapes[0]))

    def check(self, srcs: Sequence[Layer]) -> None:
        c_in = int(srcs[0].shape[0]) if len(srcs[0].shape) == 3 else 0
        if self.channel_group < 1 or (c_in and c_in % self.channel_group):
            raise GraphError(f"layer {self.name}: channel_group {self.channel_group} must divide the {c_in} "
                             "input channels")
        super().check(srcs)

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        fill = np.iinfo(np.int64).min
        win = self.windows(xs[0], fill)  # (batch, C*g, ho, wo, kh, kw)
        g = self.channel_group
        n, cg, ho, wo, kh, kw = win.shape
        m = win.reshape(n, cg // g, g, ho, wo, kh, kw).max(axis=(2, 5, 6))
        m = apply_activation(m, self.activation)
        return cast(m, in_types[0].frac, self.out_type, src_signed=in_types[0].signed)


@register_layer
@dataclass(frozen=True, eq=False, kw_only=True)
class AvgPool2dLayer(Pool2dLayer):
    """Average over each window: the exact rational ``sum / count`` rounded once to ``out_type``
    (its rounding and overflow modes; :func:`~fpga_flow.fixed.cast_ratio`).

    ``count`` is ``kh * kw``, or, with ``count_include_pad`` false (the ONNX default), the number of
    window elements inside the input. ONNX ``GlobalAveragePool`` is the window of the whole map.
    """

    count_include_pad: bool = False

    op: ClassVar[str] = "avgpool2d"

    def counts(self, in_shape: tuple[int, ...]) -> np.ndarray:
        """Divisor per output position ``(H_out, W_out)``."""
        ho, wo = self.out_hw(in_shape)
        if self.count_include_pad or not any(self.pads):
            return np.full((ho, wo), self.kernel[0] * self.kernel[1], dtype=np.int64)
        ones = np.ones((1, 1, int(in_shape[1]), int(in_shape[2])), dtype=np.int64)
        return self.windows(ones, 0).sum(axis=(4, 5))[0, 0]

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        x = xs[0]
        s = self.windows(x, 0).sum(axis=(4, 5))
        return cast_ratio(s, in_types[0].frac, self.counts(x.shape[1:])[None, None], self.out_type,
                          src_signed=in_types[0].signed)
