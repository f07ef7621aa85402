"""Small lowered CNN graphs for the hardware tests (plan, HLS csim, RTL cosim), built directly from
the IR dataclasses (no ONNX, no torch) and lowered by the real passes.

:func:`cnn_graph` builds one of :data:`CNN_KINDS`; every graph is a chain from a ``(C, H, W)``
input, mostly ending in a dense layer after a flatten. :func:`cnn_inputs` draws float inputs
over the input type's range (its extremes included).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fpga_flow.fixed import FixedType, Overflow, Rounding, to_float
from fpga_flow.ir import (
    Activation,
    AddLayer,
    AvgPool2dLayer,
    ConcatLayer,
    Conv2dLayer,
    DenseLayer,
    DenseWeights,
    Graph,
    InputLayer,
    Layer,
    MaxPool2dLayer,
    QuantizeLayer,
    ReluLayer,
    ReshapeLayer,
    ScaleLayer,
)
from fpga_flow.ir.accum import overflow_free_accumulator_type, scale_accumulator_type
from fpga_flow.passes import split_pixels
from fpga_flow.pipeline import LowerOptions, lower

__all__ = ["CNN_KINDS", "MERGE_KINDS", "cnn_graph", "cnn_inputs"]

IN_T = FixedType(8, 3, True, Rounding.RND_CONV, Overflow.SAT)
U_IN_T = FixedType(8, 1, False, Rounding.RND_CONV, Overflow.SAT)
W_T = FixedType(6, 1, True, Rounding.RND_CONV, Overflow.SAT)
B_T = FixedType(10, 4, True, Rounding.RND_CONV, Overflow.SAT)
ACT_T = FixedType(8, 4, False, Rounding.RND_CONV, Overflow.SAT)  # after a ReLU
SACT_T = FixedType(8, 4, True, Rounding.RND_CONV, Overflow.SAT)

#: What :func:`cnn_graph` builds (each name says what it exercises).
CNN_KINDS = (
    "conv_s1",  # 3x3 conv, stride 1, no padding, CSR, then dense
    "conv_s2_pad",  # 3x3 conv, stride 2, asymmetric padding
    "conv_same_codebook",  # 3x3 conv with 'same' padding, codebook weights
    "conv_dense_storage",  # a conv whose weights are stored dense (zeros included)
    "depthwise",  # depthwise 3x3 then pointwise 1x1 conv
    "maxpool",  # conv (wrapping, no activation), ReLU, 2x2 max pool (stride 2): the ReLU moves into the pool
    "maxpool_pad",  # 3x3 max pool, stride 2, padding 1
    "avgpool",  # conv, 2x2 average pool, dense
    "bn",  # conv, per-channel scale (a folded BatchNorm, 25-bit multipliers) with ReLU, dense
    "relu_map",  # conv without activation, standalone ReLU and requantization on the map
    "lenet",  # conv-pool-conv-pool-dense-dense (a small LeNet-5), unsigned input
    "conv_out",  # the output is a feature map (no dense at the end)
    "lenet_pixels",  # lenet with conv1 computing 2x2 output pixels per step (split_pixels: 16 rows, pool over phases)
)

#: Graphs with a residual Add or a Concat (two readers of one map).
MERGE_KINDS = (
    "residual",  # conv1 -> conv2 -> add(conv1, conv2) -> dense (inputs of two types: widened)
    "concat",  # concat(conv1, maxpool(x)) -> dense
)


def _conv(rng: np.random.Generator, name: str, src: Layer, c_out: int, k: tuple[int, int], *,
          stride: tuple[int, int] = (1, 1), pads: tuple[int, int, int, int] = (0, 0, 0, 0), groups: int = 1,
          sparsity: float = 0.5, relu: bool = True, out_t: FixedType = ACT_T,
          book: np.ndarray | None = None) -> Conv2dLayer:
    c_in, h, w = src.shape
    cg = c_in // groups
    if book is not None:
        wm = book[rng.integers(0, book.size, size=(c_out, cg * k[0] * k[1]))]
    else:
        wm = rng.integers(W_T.min_mantissa, W_T.max_mantissa + 1, size=(c_out, cg * k[0] * k[1]))
    wm[rng.random(wm.shape) < sparsity] = 0
    if c_out > 2:
        wm[1] = 0  # one output channel without nonzeros: its output is the bias
    bias = rng.integers(B_T.min_mantissa // 4, B_T.max_mantissa // 4 + 1, size=c_out)
    ho = (h + pads[0] + pads[2] - k[0]) // stride[0] + 1
    wo = (w + pads[1] + pads[3] - k[1]) // stride[1] + 1
    lay = Conv2dLayer(name=name, inputs=(src.name,), shape=(c_out, ho, wo), out_type=out_t,
                      weights=DenseWeights(wm), weight_type=W_T, bias=bias, bias_type=B_T, acc_type=W_T,
                      activation=Activation.RELU if relu else Activation.LINEAR, in_shape=tuple(src.shape),
                      kernel=k, stride=stride, pads=pads, groups=groups)
    return dataclasses.replace(lay, acc_type=overflow_free_accumulator_type(lay, src.out_type))


def _dense(rng: np.random.Generator, name: str, src: Layer, n_out: int, relu: bool = False,
           out_t: FixedType = SACT_T) -> DenseLayer:
    n_in = src.size
    wm = rng.integers(W_T.min_mantissa, W_T.max_mantissa + 1, size=(n_out, n_in))
    wm[rng.random(wm.shape) < 0.6] = 0
    bias = rng.integers(B_T.min_mantissa // 4, B_T.max_mantissa // 4 + 1, size=n_out)
    lay = DenseLayer(name=name, inputs=(src.name,), shape=(n_out,), out_type=out_t, weights=DenseWeights(wm),
                     weight_type=W_T, bias=bias, bias_type=B_T, acc_type=W_T, n_in=n_in, n_out=n_out,
                     activation=Activation.RELU if relu else Activation.LINEAR)
    return dataclasses.replace(lay, acc_type=overflow_free_accumulator_type(lay, src.out_type))


def _flatten(name: str, src: Layer) -> ReshapeLayer:
    return ReshapeLayer(name, (src.name,), (src.size,), src.out_type)


def _maxpool(name: str, src: Layer, k: int = 2, stride: int = 2, pad: int = 0) -> MaxPool2dLayer:
    c, h, w = src.shape
    ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    return MaxPool2dLayer(name=name, inputs=(src.name,), shape=(c, ho, wo), out_type=src.out_type,
                          kernel=(k, k), stride=(stride, stride), pads=(pad, pad, pad, pad))


def _scale(rng: np.random.Generator, name: str, src: Layer) -> ScaleLayer:
    c = src.shape[0]
    mt = FixedType(25, 3, True)  # as the BatchNorm fold writes it: 25-bit multipliers
    ot = FixedType(20, 6, True)
    mult = rng.integers(-(1 << 23), 1 << 23, size=c)
    offset = rng.integers(-(1 << 17), 1 << 17, size=c)
    tmp = ScaleLayer(name=name, inputs=(src.name,), shape=tuple(src.shape), out_type=ACT_T, mult=mult,
                     mult_type=mt, offset=offset, offset_type=ot, divisor=np.ones(c, np.int64), acc_type=mt,
                     activation=Activation.RELU)
    return dataclasses.replace(tmp, acc_type=scale_accumulator_type(tmp, src.out_type))


def _layers(kind: str, rng: np.random.Generator) -> list[Layer]:
    if kind == "lenet":
        inp: Layer = InputLayer("image", (), (1, 12, 12), U_IN_T)
    elif kind in ("depthwise", "bn", "maxpool_pad"):
        inp = InputLayer("x_in", (), (4, 7, 7), IN_T)
    else:
        inp = InputLayer("x_in", (), (3, 8, 8), IN_T)
    out: list[Layer] = [inp]

    def add(lay: Layer) -> Layer:
        out.append(lay)
        return lay

    if kind == "conv_s1":
        c = add(_conv(rng, "conv1", inp, 5, (3, 3)))
    elif kind == "conv_s2_pad":
        c = add(_conv(rng, "conv1", inp, 4, (3, 3), stride=(2, 2), pads=(1, 0, 2, 1)))
    elif kind == "conv_same_codebook":
        book = np.array([-12, -5, 3, 9], np.int64)
        c = add(_conv(rng, "conv1", inp, 6, (3, 3), pads=(1, 1, 1, 1), book=book))
    elif kind == "conv_dense_storage":
        c = add(_conv(rng, "conv1", inp, 4, (2, 2), sparsity=0.1))
    elif kind == "depthwise":
        d = add(_conv(rng, "dw", inp, 4, (3, 3), pads=(1, 1, 1, 1), groups=4, sparsity=0.2))
        c = add(_conv(rng, "pw", d, 6, (1, 1), sparsity=0.3))
    elif kind == "maxpool":
        wrap = FixedType(6, 2, True)  # wraps: the ReLU cannot fold into the conv's requantization
        c0 = add(_conv(rng, "conv1", inp, 4, (3, 3), relu=False, out_t=wrap))
        r = add(ReluLayer("relu1", (c0.name,), tuple(c0.shape), wrap))
        c = add(_maxpool("pool1", r))
    elif kind == "maxpool_pad":
        c = add(_maxpool("pool1", inp, k=3, stride=2, pad=1))
    elif kind == "avgpool":
        c0 = add(_conv(rng, "conv1", inp, 4, (3, 3), pads=(0, 0, 1, 1)))
        ch, h, w = c0.shape
        c = add(AvgPool2dLayer(name="pool1", inputs=(c0.name,), shape=(ch, h // 2, w // 2), out_type=ACT_T,
                               kernel=(2, 2), stride=(2, 2)))
    elif kind == "bn":
        c0 = add(_conv(rng, "conv1", inp, 5, (3, 3), relu=False, out_t=SACT_T))
        c = add(_scale(rng, "bn1", c0))
    elif kind == "relu_map":
        c0 = add(_conv(rng, "conv1", inp, 4, (3, 3), relu=False, out_t=FixedType(10, 5, True)))
        r = add(ReluLayer("relu1", (c0.name,), tuple(c0.shape), FixedType(10, 5, True)))
        c = add(QuantizeLayer("q1", (r.name,), tuple(r.shape), ACT_T))
    elif kind == "lenet":
        c1 = add(_conv(rng, "conv1", inp, 4, (3, 3), sparsity=0.3))
        p1 = add(_maxpool("pool1", c1))
        c2 = add(_conv(rng, "conv2", p1, 6, (3, 3), sparsity=0.6))
        c = add(_maxpool("pool2", c2, k=2, stride=1))
        f = add(_flatten("flat", c))
        h1 = add(_dense(rng, "fc1", f, 12, relu=True, out_t=ACT_T))
        add(_dense(rng, "fc2", h1, 5))
        return out
    elif kind == "residual":
        c1 = add(_conv(rng, "conv1", inp, 4, (3, 3), pads=(1, 1, 1, 1)))
        c2 = add(_conv(rng, "conv2", c1, 4, (3, 3), pads=(1, 1, 1, 1), out_t=FixedType(7, 2, False, Rounding.RND_CONV,
                                                                                         Overflow.SAT)))
        c = add(AddLayer("sum", (c1.name, c2.name), tuple(c1.shape), FixedType(10, 4, False)))
    elif kind == "concat":
        c1 = add(_conv(rng, "conv1", inp, 3, (3, 3), pads=(1, 1, 1, 1), out_t=SACT_T, relu=False))
        m = add(_maxpool("pool0", inp, k=3, stride=1, pad=1))
        c = add(ConcatLayer("cat", (c1.name, m.name), (6, *c1.shape[1:]), SACT_T))
    elif kind == "conv_out":
        c0 = add(_conv(rng, "conv1", inp, 3, (3, 3), stride=(1, 2)))
        add(_conv(rng, "conv2", c0, 2, (2, 2), relu=False, out_t=SACT_T))
        return out
    else:
        raise ValueError(f"unknown CNN kind {kind!r}; known: {', '.join(CNN_KINDS)}")
    f = add(_flatten("flat", c))
    add(_dense(rng, "fc", f, 5))
    return out


def cnn_graph(kind: str, seed: int = 0, storage: str = "auto") -> Graph:
    """The lowered graph of ``kind`` (:data:`CNN_KINDS`)."""
    if kind == "lenet_pixels":
        return split_pixels(cnn_graph("lenet", seed, storage), "conv1", 2, 2)
    layers = _layers(kind, np.random.default_rng(seed))
    g = Graph(kind, tuple(layers), (layers[-1].name,))
    g.verify()
    if kind == "conv_dense_storage":
        storage = "dense"
    return lower(g, LowerOptions(storage=storage))  # lower() also widens the inputs of an Add/Concat


def cnn_inputs(graph: Graph, n: int, seed: int = 1) -> np.ndarray:
    """``(n, C*H*W)`` float inputs over the input type's range; sample 0 all maximum, 1 all minimum."""
    t = graph.inputs[0].out_type
    rng = np.random.default_rng(seed)
    m = rng.integers(t.min_mantissa, t.max_mantissa + 1, size=(n, graph.inputs[0].size))
    m[0] = t.max_mantissa
    if n > 1:
        m[1] = t.min_mantissa
    return to_float(m, t)
