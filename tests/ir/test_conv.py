"""The CNN layer kinds' references against tests/exact_cnn.py (an independent exact implementation
from the ONNX operator definitions and the documented BN fold), plus shape inference and check().

Every expectation below is computed by tests/exact_cnn.py on Python/int64 integers; fpga_flow only
supplies the layer under test. exact_cnn itself is checked against torch (float64 on small
integers is exact) so a wrong reference cannot make both sides agree by accident.
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest
import torch

from fpga_flow.fixed import FixedType, Overflow, Rounding
from fpga_flow.ir import (
    Activation,
    AddLayer,
    AvgPool2dLayer,
    ConcatLayer,
    Conv2dLayer,
    DenseWeights,
    Graph,
    GraphError,
    InputLayer,
    MaxPool2dLayer,
    QuantizeLayer,
    ReluLayer,
    ScaleLayer,
)
from fpga_flow.ir.accum import overflow_free_accumulator_type, scale_accumulator_type
from fpga_flow.passes import fuse_activations
from fpga_flow.passes.storage import convert_storage
from tests import exact_cnn as ec

IN_T = FixedType(8, 4, True, Rounding.RND_CONV, Overflow.SAT)
W_T = FixedType(6, 1, True, Rounding.RND_CONV, Overflow.SAT)
B_T = FixedType(12, 4, True, Rounding.RND_CONV, Overflow.SAT)
OUT_TYPES = {
    "usat_conv": FixedType(8, 4, False, Rounding.RND_CONV, Overflow.SAT),
    "wrap_trn": FixedType(7, 3, True),  # ap_fixed defaults TRN, WRAP: overflows wrap
    "ssym_rnd": FixedType(6, 2, True, Rounding.RND, Overflow.SAT_SYM),
}


def _feature_map(rng: np.random.Generator, n: int, shape: tuple[int, ...], t: FixedType = IN_T) -> np.ndarray:
    x = rng.integers(t.min_mantissa, t.max_mantissa + 1, size=(n, *shape))
    x[0, ..., 0] = t.min_mantissa  # extremes reach every edge
    x[-1, ..., -1] = t.max_mantissa
    return x


def _conv_weights(rng, c_out, cg, k, sparsity=0.5, book: np.ndarray | None = None) -> np.ndarray:
    w = rng.integers(W_T.min_mantissa, W_T.max_mantissa + 1, size=(c_out, cg, *k))
    if book is not None:
        w = book[rng.integers(0, book.size, size=w.shape)]
    w[rng.random(w.shape) < sparsity] = 0
    empty = ~w.reshape(c_out, -1).any(axis=1)
    w[empty, 0, 0, 0] = book[-1] if book is not None else 7  # every output channel keeps a weight
    return w


def _conv_layer(w4: np.ndarray, bias, in_shape, stride, pads, groups, out_t, act, storage="dense",
                in_t: FixedType = IN_T) -> Conv2dLayer:
    c_out, _, kh, kw = w4.shape
    h_out = (in_shape[1] + pads[0] + pads[2] - kh) // stride[0] + 1  # ONNX, ceil_mode 0
    w_out = (in_shape[2] + pads[1] + pads[3] - kw) // stride[1] + 1
    tmp = Conv2dLayer(name="conv", inputs=("x",), shape=(c_out, h_out, w_out), out_type=out_t,
                      weights=DenseWeights(w4.reshape(c_out, -1)), weight_type=W_T, bias=bias, bias_type=B_T,
                      acc_type=W_T, activation=act, in_shape=tuple(in_shape), kernel=(kh, kw), stride=stride,
                      pads=pads, groups=groups)
    lay = dataclasses.replace(tmp, acc_type=overflow_free_accumulator_type(tmp, in_t))
    return convert_storage(lay, storage)


def _exact_conv(x, w4, bias, stride, pads, groups, out_t, act, in_t=IN_T) -> np.ndarray:
    acc = ec.conv2d(ec.Fx(x, in_t.frac), ec.Fx(w4, W_T.frac), ec.Fx(np.asarray(bias), B_T.frac), stride, pads, groups)
    if act is Activation.RELU:
        acc = ec.relu(acc)
    return ec.requantize(acc, out_t).m


# ------------------------------------------------------------------- the reference itself
@pytest.mark.parametrize(("stride", "pads", "groups"), [((1, 1), (0, 0, 0, 0), 1), ((2, 1), (1, 2, 0, 1), 2),
                                                         ((2, 2), (2, 2, 2, 2), 4)])
def test_exact_cnn_agrees_with_torch_on_integers(stride, pads, groups):
    """float64 is exact on these small integers: torch checks the independent reference."""
    rng = np.random.default_rng(5)
    x = rng.integers(-60, 60, size=(2, 4, 7, 6))
    w = rng.integers(-9, 10, size=(4, 4 // groups, 3, 3))
    b = rng.integers(-99, 99, size=4)
    got = ec.conv2d(ec.Fx(x, 0), ec.Fx(w, 0), ec.Fx(b, 0), stride, pads, groups).m
    t, left, bottom, right = pads
    xt = torch.nn.functional.pad(torch.tensor(x, dtype=torch.float64), (left, right, t, bottom))
    want = torch.nn.functional.conv2d(xt, torch.tensor(w, dtype=torch.float64), torch.tensor(b, dtype=torch.float64),
                                      stride=stride, groups=groups)
    np.testing.assert_array_equal(got, want.numpy().astype(np.int64))
    xt = torch.tensor(x, dtype=torch.float64)
    np.testing.assert_array_equal(ec.maxpool2d(ec.Fx(x, 0), (3, 3), (2, 2), (1, 1, 1, 1)).m,
                                  torch.nn.functional.max_pool2d(xt, 3, 2, 1).numpy())
    for cip in (True, False):
        s, cnt = ec.avgpool2d(ec.Fx(x, 0), (3, 3), (2, 2), (1, 1, 1, 1), cip)
        want = torch.nn.functional.avg_pool2d(xt, 3, 2, 1, count_include_pad=cip).numpy()
        np.testing.assert_allclose(s.m / cnt, want, rtol=0, atol=1e-12)


def test_exact_rounding_modes_by_hand():
    # 5/2 = 2.5, -5/2 = -2.5, 7/4 = 1.75, -7/4
    table = {
        Rounding.TRN: (2, -3, 1, -2), Rounding.TRN_ZERO: (2, -2, 1, -1), Rounding.RND: (3, -2, 2, -2),
        Rounding.RND_ZERO: (2, -2, 2, -2), Rounding.RND_MIN_INF: (2, -3, 2, -2), Rounding.RND_INF: (3, -3, 2, -2),
        Rounding.RND_CONV: (2, -2, 2, -2),
    }
    for mode, want in table.items():
        assert tuple(ec.round_int(n, d, mode) for n, d in ((5, 2), (-5, 2), (7, 4), (-7, 4))) == want, mode


# ------------------------------------------------------------------- Conv2d
GEOMETRIES = {
    # name: (C_in, H, W, C_out, kernel, stride, pads (top, left, bottom, right), groups)
    "k3_s1_p0": (3, 7, 7, 4, (3, 3), (1, 1), (0, 0, 0, 0), 1),
    "k3_s1_p1": (3, 7, 6, 4, (3, 3), (1, 1), (1, 1, 1, 1), 1),
    "k3_s2_p1": (4, 8, 7, 6, (3, 3), (2, 2), (1, 1, 1, 1), 1),
    "k5_s1_p2": (2, 6, 6, 3, (5, 5), (1, 1), (2, 2, 2, 2), 1),
    "k3_s2_p2": (2, 7, 7, 2, (3, 3), (2, 2), (2, 2, 2, 2), 1),
    "asym_pads": (3, 6, 7, 4, (3, 2), (2, 1), (0, 1, 2, 0), 1),
    "groups2": (4, 6, 6, 6, (3, 3), (1, 2), (1, 0, 1, 1), 2),
    "depthwise": (5, 7, 7, 5, (3, 3), (2, 2), (1, 1, 1, 1), 5),
    "depthwise_x2": (3, 6, 6, 6, (3, 3), (1, 1), (1, 1, 1, 1), 3),
    "pointwise": (6, 4, 5, 3, (1, 1), (1, 1), (0, 0, 0, 0), 1),
    # a padding as large as the kernel is legal for Conv (torch Conv2d(k=1, padding=1)): border = bias
    "k1_p1": (3, 4, 5, 2, (1, 1), (1, 1), (1, 1, 1, 1), 1),
    "k2_s2_p2": (2, 5, 5, 3, (2, 2), (2, 2), (2, 2, 2, 2), 1),
}


@pytest.mark.parametrize("storage", ["dense", "csr", "codebook_csr"])
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
@pytest.mark.parametrize(("out_name", "act"), [("usat_conv", Activation.RELU), ("wrap_trn", Activation.LINEAR),
                                               ("ssym_rnd", Activation.RELU)])
def test_conv2d_reference_matches_exact(geometry, storage, out_name, act):
    c_in, h, w, c_out, k, stride, pads, groups = GEOMETRIES[geometry]
    rng = np.random.default_rng(zlib.crc32(f"{geometry}/{storage}/{out_name}".encode()))
    book = np.array([-29, -3, 5, 17]) if storage == "codebook_csr" else None
    w4 = _conv_weights(rng, c_out, c_in // groups, k, book=book)
    bias = rng.integers(-800, 800, size=c_out)
    out_t = OUT_TYPES[out_name]
    lay = _conv_layer(w4, bias, (c_in, h, w), stride, pads, groups, out_t, act, storage)
    assert lay.weights.kind == storage
    inp = InputLayer("x", (), (c_in, h, w), IN_T)
    g = Graph("g", (inp, lay), ("conv",)).verify()  # shape inference and every check pass
    x = _feature_map(rng, 3, (c_in, h, w))
    got = g.execute(x, quantized=True)["conv"]
    want = _exact_conv(x, w4, bias, stride, pads, groups, out_t, act)
    assert got.shape == want.shape == (3, *lay.shape)
    np.testing.assert_array_equal(got, want)
    assert np.unique(want).size > 4  # not a vacuous (all-saturated / all-zero) comparison


def test_conv2d_fused_relu_and_quant_equals_unfused_and_exact():
    """Conv(out=acc) -> Relu -> Quant(T) fused into one Conv(act=relu, out=T): same mantissas, and
    equal to the exact computation."""
    rng = np.random.default_rng(3)
    w4 = _conv_weights(rng, 4, 3, (3, 3))
    bias = rng.integers(-500, 500, size=4)
    acc_lay = _conv_layer(w4, bias, (3, 6, 6), (1, 1), (1, 1, 1, 1), 1, W_T, Activation.LINEAR)
    acc_lay = dataclasses.replace(acc_lay, out_type=acc_lay.acc_type)
    relu = ReluLayer("r", ("conv",), acc_lay.shape, acc_lay.acc_type)
    out_t = OUT_TYPES["usat_conv"]
    q = QuantizeLayer("q", ("r",), acc_lay.shape, out_t)
    g = Graph("g", (InputLayer("x", (), (3, 6, 6), IN_T), acc_lay, relu, q), ("q",)).verify()
    fused = fuse_activations(g)
    convs = [lay for lay in fused.layers if isinstance(lay, Conv2dLayer)]
    assert len(fused.layers) == 2 and convs[0].activation is Activation.RELU and convs[0].out_type == out_t
    x = _feature_map(rng, 4, (3, 6, 6))
    want = _exact_conv(x, w4, bias, (1, 1), (1, 1, 1, 1), 1, out_t, Activation.RELU)
    np.testing.assert_array_equal(g.execute(x, quantized=True)["q"], want)
    np.testing.assert_array_equal(fused.execute(x, quantized=True)[fused.outputs[0]], want)


def test_conv2d_input_of_another_frac_and_wide_accumulator():
    in_t = FixedType(10, 3, True, Rounding.RND_CONV, Overflow.SAT)  # frac 7
    rng = np.random.default_rng(8)
    w4 = _conv_weights(rng, 3, 2, (2, 3), sparsity=0.2)
    bias = rng.integers(-2000, 2000, size=3)
    out_t = FixedType(16, 8, True, Rounding.RND_CONV, Overflow.SAT)
    lay = _conv_layer(w4, bias, (2, 5, 5), (1, 2), (1, 0, 0, 2), 1, out_t, Activation.LINEAR, in_t=in_t)
    x = _feature_map(rng, 2, (2, 5, 5), in_t)
    np.testing.assert_array_equal(lay.reference([x], [in_t]),
                                  _exact_conv(x, w4, bias, (1, 2), (1, 0, 0, 2), 1, out_t, Activation.LINEAR, in_t))


@pytest.mark.parametrize(("in_shape", "kernel", "stride", "pads", "want"), [
    ((3, 28, 28), (5, 5), (1, 1), (2, 2, 2, 2), (28, 28)),
    ((3, 10, 10), (3, 3), (2, 2), (1, 1, 1, 1), (5, 5)),
    ((3, 7, 8), (3, 2), (2, 3), (0, 1, 2, 0), (4, 3)),  # (7+0+2-3)//2+1, (8+1+0-2)//3+1
    ((3, 5, 5), (5, 5), (1, 1), (0, 0, 0, 0), (1, 1)),
])
def test_conv2d_shape_inference(in_shape, kernel, stride, pads, want):
    w4 = np.ones((4, 3, *kernel), dtype=np.int64)
    lay = _conv_layer(w4, np.zeros(4, dtype=np.int64), in_shape, stride, pads, 1, W_T, Activation.LINEAR)
    assert lay.infer_shape([in_shape]) == (4, *want)
    Graph("g", (InputLayer("x", (), in_shape, IN_T), lay), ("conv",)).verify()
    bad = dataclasses.replace(lay, shape=(4, want[0] + 1, want[1]))
    with pytest.raises(GraphError, match="shape"):
        Graph("g", (InputLayer("x", (), in_shape, IN_T), bad), ("conv",)).verify()


def _verify_conv(lay: Conv2dLayer, in_shape) -> None:
    Graph("g", (InputLayer("x", (), in_shape, IN_T), lay), ("conv",)).verify()


def test_conv2d_check_rejects_bad_groups_kernel_and_shapes():
    w4 = np.ones((6, 2, 3, 3), dtype=np.int64)
    good = _conv_layer(w4, np.zeros(6, dtype=np.int64), (4, 6, 6), (1, 1), (0, 0, 0, 0), 2, W_T, Activation.LINEAR)
    _verify_conv(good, (4, 6, 6))
    with pytest.raises(GraphError, match="groups"):  # 3 does not divide 4 input channels
        _verify_conv(dataclasses.replace(good, groups=3), (4, 6, 6))
    with pytest.raises(GraphError, match="groups"):  # 4 divides C_in but not the 6 output channels
        _verify_conv(dataclasses.replace(good, groups=4), (4, 6, 6))
    with pytest.raises(GraphError, match="row"):  # a row of 18 weights, groups=1 needs 4*3*3 = 36
        _verify_conv(dataclasses.replace(good, groups=1), (4, 6, 6))
    with pytest.raises(GraphError, match="larger"):  # 7x7 kernel on a 6x6 unpadded map
        w7 = np.ones((6, 2, 7, 7), dtype=np.int64)
        big = dataclasses.replace(good, weights=DenseWeights(w7.reshape(6, -1)), kernel=(7, 7), shape=(6, 1, 1))
        _verify_conv(big, (4, 6, 6))
    with pytest.raises(GraphError, match="overflow"):  # frac 9 = 4 + 5 but 10 bits cannot hold 18 products
        _verify_conv(dataclasses.replace(good, acc_type=FixedType(10, 1)), (4, 6, 6))
    with pytest.raises(GraphError, match="fractional bits"):  # products have 9 fractional bits
        _verify_conv(dataclasses.replace(good, acc_type=FixedType(30, 25)), (4, 6, 6))
    with pytest.raises(GraphError, match="in_shape"):
        _verify_conv(dataclasses.replace(good, in_shape=(4, 7, 7)), (4, 6, 6))
    with pytest.raises(GraphError, match="feature map"):
        flat = InputLayer("x", (), (144,), IN_T)
        Graph("g", (flat, good), ("conv",)).verify()


# ------------------------------------------------------------------- pooling
POOLS = {
    # name: (C, H, W, kernel, stride, pads)
    "k2_s2": (3, 8, 8, (2, 2), (2, 2), (0, 0, 0, 0)),
    "k2_s2_odd": (2, 7, 9, (2, 2), (2, 2), (0, 0, 0, 0)),  # floor: the last row/column is dropped
    "k3_s2_p1": (2, 7, 7, (3, 3), (2, 2), (1, 1, 1, 1)),
    "k3_s1_asym": (2, 6, 5, (3, 2), (1, 2), (0, 1, 2, 0)),
    "k3_s3_p2": (1, 7, 8, (3, 3), (3, 3), (2, 2, 2, 2)),
}


@pytest.mark.parametrize("pool", list(POOLS))
def test_maxpool_reference_matches_exact_padding_never_wins(pool):
    c, h, w, k, s, p = POOLS[pool]
    rng = np.random.default_rng(11)
    x = _feature_map(rng, 3, (c, h, w))
    x[1] = -np.abs(x[1]) - 1  # all-negative sample: a zero pad would win if it could
    ho = (h + p[0] + p[2] - k[0]) // s[0] + 1
    wo = (w + p[1] + p[3] - k[1]) // s[1] + 1
    lay = MaxPool2dLayer(name="mp", inputs=("x",), shape=(c, ho, wo), out_type=IN_T, kernel=k, stride=s, pads=p)
    g = Graph("g", (InputLayer("x", (), (c, h, w), IN_T), lay), ("mp",)).verify()
    got = g.execute(x, quantized=True)["mp"]
    want = ec.maxpool2d(ec.Fx(x, IN_T.frac), k, s, p).m
    np.testing.assert_array_equal(got, want)
    assert (got[1] < 0).all()


AVG_TYPES = {
    "rnd_conv_sat": FixedType(8, 4, True, Rounding.RND_CONV, Overflow.SAT),
    "trn_wrap": FixedType(6, 3, True),
    "rnd_inf_sat": FixedType(10, 3, True, Rounding.RND_INF, Overflow.SAT),
    "rnd_zero": FixedType(7, 4, True, Rounding.RND_ZERO, Overflow.SAT),
    "rnd_min_inf": FixedType(9, 4, True, Rounding.RND_MIN_INF, Overflow.SAT_ZERO),
    "trn_zero": FixedType(8, 4, True, Rounding.TRN_ZERO, Overflow.SAT),
    "rnd_usat": FixedType(5, 3, False, Rounding.RND, Overflow.SAT),
}


@pytest.mark.parametrize("count_include_pad", [False, True])
@pytest.mark.parametrize("out_name", list(AVG_TYPES))
@pytest.mark.parametrize("pool", ["k2_s2", "k3_s2_p1", "k3_s1_asym", "k3_s3_p2"])
def test_avgpool_is_the_exact_ratio_rounded_once(pool, out_name, count_include_pad):
    c, h, w, k, s, p = POOLS[pool]
    out_t = AVG_TYPES[out_name]
    rng = np.random.default_rng(12)
    x = _feature_map(rng, 4, (c, h, w))
    ho = (h + p[0] + p[2] - k[0]) // s[0] + 1
    wo = (w + p[1] + p[3] - k[1]) // s[1] + 1
    lay = AvgPool2dLayer(name="ap", inputs=("x",), shape=(c, ho, wo), out_type=out_t, kernel=k, stride=s, pads=p,
                         count_include_pad=count_include_pad)
    g = Graph("g", (InputLayer("x", (), (c, h, w), IN_T), lay), ("ap",)).verify()
    got = g.execute(x, quantized=True)["ap"]
    sums, counts = ec.avgpool2d(ec.Fx(x, IN_T.frac), k, s, p, count_include_pad)
    want = ec.requantize(sums, out_t, counts[None, None]).m
    np.testing.assert_array_equal(got, want)


def test_global_avgpool_is_a_whole_map_window():
    rng = np.random.default_rng(13)
    x = _feature_map(rng, 5, (4, 5, 3))  # 15 elements: a non-dyadic divisor
    out_t = FixedType(12, 4, True, Rounding.RND_CONV, Overflow.SAT)
    lay = AvgPool2dLayer(name="gap", inputs=("x",), shape=(4, 1, 1), out_type=out_t, kernel=(5, 3), stride=(5, 3))
    g = Graph("g", (InputLayer("x", (), (4, 5, 3), IN_T), lay), ("gap",)).verify()
    sums, counts = ec.global_avgpool(ec.Fx(x, IN_T.frac))
    want = ec.requantize(sums, out_t, counts[None, None]).m
    np.testing.assert_array_equal(g.execute(x, quantized=True)["gap"], want)
    assert want.shape == (5, 4, 1, 1)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_check_rejects_kernel_larger_than_input_and_vectors(kind):
    cls = MaxPool2dLayer if kind == "max" else AvgPool2dLayer
    lay = cls(name="p", inputs=("x",), shape=(2, 1, 1), out_type=IN_T, kernel=(5, 5), stride=(1, 1))
    with pytest.raises(GraphError, match="larger"):
        Graph("g", (InputLayer("x", (), (2, 4, 4), IN_T), lay), ("p",)).verify()
    with pytest.raises(GraphError, match="feature map"):
        Graph("g", (InputLayer("x", (), (32,), IN_T), lay), ("p",)).verify()


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_check_rejects_padding_not_smaller_than_the_kernel(kind):
    """A window made of padding only has no maximum and, without count_include_pad, a count of 0
    (onnxruntime refuses such a pool: "Pad should be smaller than kernel"): verify() must say so
    instead of the reference failing later on a division by zero."""
    cls = MaxPool2dLayer if kind == "max" else AvgPool2dLayer
    lay = cls(name="p", inputs=("x",), shape=(1, 4, 4), out_type=IN_T, kernel=(2, 2), stride=(1, 1),
              pads=(2, 2, 2, 2))
    with pytest.raises(GraphError, match="padding"):
        Graph("g", (InputLayer("x", (), (1, 1, 1), IN_T), lay), ("p",)).verify()


# ------------------------------------------------------------------- Scale (folded BatchNormalization)
def _bn_params(rng: np.random.Generator, c: int):
    gamma = (rng.uniform(0.3, 2.5, size=c) * rng.choice([-1, 1], size=c)).astype(np.float32)
    beta = rng.normal(0, 0.7, size=c).astype(np.float32)
    mean = rng.normal(0, 0.8, size=c).astype(np.float32)
    var = rng.uniform(0.05, 3.0, size=c).astype(np.float32)
    return gamma, beta, mean, var


def _scale_layer(shape, in_t, mult, mult_t, offset, offset_t, out_t, act, divisor=None) -> ScaleLayer:
    c = shape[0]
    d = np.ones(c, dtype=np.int64) if divisor is None else divisor
    tmp = ScaleLayer(name="s", inputs=("x",), shape=shape, out_type=out_t, mult=mult, mult_type=mult_t,
                     offset=offset, offset_type=offset_t, divisor=d, acc_type=FixedType(60, 30), activation=act)
    return dataclasses.replace(tmp, acc_type=scale_accumulator_type(tmp, in_t))


def _narrowest_signed(values: np.ndarray, frac: int) -> FixedType:
    top = max(int(np.abs(values).max()), 1)
    w = top.bit_length() + 1
    return FixedType(w, w - frac, True)


@pytest.mark.parametrize("shape", [(5,), (4, 3, 3)], ids=["vector", "feature_map"])
@pytest.mark.parametrize("act", [Activation.RELU, Activation.LINEAR])
def test_scale_layer_with_the_documented_bn_fold_matches_exact(shape, act):
    rng = np.random.default_rng(21)
    c = shape[0]
    gamma, beta, mean, var = _bn_params(rng, c)
    in_t = FixedType(16, 6, True, Rounding.RND_CONV, Overflow.SAT)  # a conv accumulator, frac 10
    fold = ec.bn_fold(gamma, beta, mean, var, 1e-5, in_t.frac)
    assert not fold.pow2 and int(np.abs(fold.mult).max()) >= 2**23  # 25 bits used: the top bit below the sign
    mult_t = FixedType(25, 25 - fold.fm, True, Rounding.RND_CONV, Overflow.SAT)
    offset_t = _narrowest_signed(fold.offset, fold.fx + fold.fm)
    out_t = FixedType(10, 5, act is Activation.LINEAR, Rounding.RND_CONV, Overflow.SAT)
    lay = _scale_layer(shape, in_t, fold.mult, mult_t, fold.offset, offset_t, out_t, act)
    g = Graph("g", (InputLayer("x", (), shape, in_t), lay), ("s",)).verify()
    x = _feature_map(rng, 6, shape, in_t)
    x[1:-1] //= 16  # most values in +-2, the extremes of the type kept in the first and last sample
    got = g.execute(x, quantized=True)["s"]
    want = ec.scale(ec.Fx(x, in_t.frac), fold.mult, fold.fm, fold.offset, fold.fx + fold.fm,
                    act is Activation.RELU, out_t).m
    np.testing.assert_array_equal(got, want)
    assert np.unique(want).size > 10
    # the fold is close to the real BN (relative error of the multiplier <= 2^-17 of the largest)
    s = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + np.float64(np.float32(1e-5)))
    assert np.abs(fold.mult * 2.0**-fold.fm - s).max() <= np.abs(s).max() * 2.0**-17


def test_bn_fold_power_of_two_scales_give_an_exact_shift_scale():
    gamma = np.array([0.5, -2.0, 1.0], dtype=np.float32)
    var = np.array([4.0, 1.0, 0.25], dtype=np.float32)  # eps 0: s = 0.25, -2, 2 exactly
    beta = np.array([0.75, -0.5, 0.125], dtype=np.float32)
    mean = np.array([1.5, 0.25, -1.0], dtype=np.float32)
    fold = ec.bn_fold(gamma, beta, mean, var, 0.0, IN_T.frac)
    assert fold.pow2
    np.testing.assert_array_equal(fold.mult * 2.0**-fold.fm, [0.25, -2.0, 2.0])
    mult_t = _narrowest_signed(fold.mult, fold.fm)
    offset_t = _narrowest_signed(fold.offset, fold.fx + fold.fm)
    out_t = FixedType(12, 6, True, Rounding.RND_CONV, Overflow.SAT)
    lay = _scale_layer((3, 2, 2), IN_T, fold.mult, mult_t, fold.offset, offset_t, out_t, Activation.LINEAR)
    assert lay.is_shift
    rng = np.random.default_rng(23)
    x = _feature_map(rng, 3, (3, 2, 2))
    got = Graph("g", (InputLayer("x", (), (3, 2, 2), IN_T), lay), ("s",)).verify().execute(x, quantized=True)["s"]
    # a power-of-two fold is the real BN exactly (no rounding anywhere for these values)
    real = (x * 2.0**-IN_T.frac - mean[None, :, None, None]) * np.array([0.25, -2.0, 2.0])[None, :, None, None]
    real = real + beta[None, :, None, None]
    np.testing.assert_array_equal(got * 2.0**-out_t.frac, real)


@pytest.mark.parametrize("out_name", ["usat_conv", "wrap_trn", "ssym_rnd"])
def test_scale_layer_with_divisor_and_any_mult_matches_exact(out_name):
    rng = np.random.default_rng(22)
    c, shape = 6, (6, 2, 3)
    mult_t = FixedType(10, 3, True)
    mult = rng.integers(mult_t.min_mantissa, mult_t.max_mantissa + 1, size=c)
    offset_t = FixedType(12, 5, True)
    offset = rng.integers(offset_t.min_mantissa, offset_t.max_mantissa + 1, size=c)
    divisor = np.array([1, 3, 5, 7, 2, 9])
    out_t = OUT_TYPES[out_name]
    lay = _scale_layer(shape, IN_T, mult, mult_t, offset, offset_t, out_t, Activation.RELU, divisor)
    g = Graph("g", (InputLayer("x", (), shape, IN_T), lay), ("s",)).verify()
    x = _feature_map(rng, 5, shape)
    want = ec.scale(ec.Fx(x, IN_T.frac), mult, mult_t.frac, offset, offset_t.frac, True, out_t, divisor).m
    np.testing.assert_array_equal(g.execute(x, quantized=True)["s"], want)


def test_scale_layer_check_rejects_wrong_channel_count_and_bad_divisor():
    lay = _scale_layer((3, 2, 2), IN_T, np.array([1, 2, 3]), FixedType(4, 3), np.zeros(3, np.int64),
                       FixedType(4, 2), IN_T, Activation.LINEAR)
    inp = InputLayer("x", (), (3, 2, 2), IN_T)
    Graph("g", (inp, lay), ("s",)).verify()
    with pytest.raises(GraphError, match="mult"):
        Graph("g", (inp, dataclasses.replace(lay, mult=np.array([1, 2]))), ("s",)).verify()
    with pytest.raises(GraphError, match="divisor"):
        Graph("g", (inp, dataclasses.replace(lay, divisor=np.array([1, 0, 2]))), ("s",)).verify()
    with pytest.raises(GraphError, match="outside"):
        Graph("g", (inp, dataclasses.replace(lay, mult=np.array([1, 2, 99]))), ("s",)).verify()


# ------------------------------------------------------------------- residual Add and Concat
def test_add_is_exact_at_the_finest_frac_then_cast_once():
    rng = np.random.default_rng(31)
    ta = FixedType(8, 4, True, Rounding.RND_CONV, Overflow.SAT)  # frac 4
    tb = FixedType(10, 3, True, Rounding.RND_CONV, Overflow.SAT)  # frac 7
    tc = FixedType(6, 6, False, Rounding.RND_CONV, Overflow.SAT)  # frac 0
    shape = (3, 4, 4)
    a, b, c = (InputLayer(n, (), shape, t) for n, t in (("a", ta), ("b", tb), ("c", tc)))
    xs = {n: _feature_map(rng, 4, shape, t) for n, t in (("a", ta), ("b", tb), ("c", tc))}
    for out_t in (FixedType(16, 8, True, Rounding.RND_CONV, Overflow.SAT),  # exact: holds every sum
                  FixedType(7, 4, True, Rounding.RND, Overflow.SAT),  # rounds once and saturates
                  FixedType(9, 5, True)):  # TRN + WRAP
        lay = AddLayer(name="add", inputs=("a", "b", "c"), shape=shape, out_type=out_t)
        g = Graph("g", (a, b, c, lay), ("add",)).verify()
        got = g.execute(xs, quantized=True)["add"]
        total = ec.add(ec.Fx(xs["a"], ta.frac), ec.Fx(xs["b"], tb.frac), ec.Fx(xs["c"], tc.frac))
        np.testing.assert_array_equal(got, ec.requantize(total, out_t).m)
    with pytest.raises(GraphError, match="shape"):
        d = InputLayer("d", (), (3, 4, 5), ta)
        Graph("g", (a, d, AddLayer(name="add", inputs=("a", "d"), shape=shape, out_type=ta)), ("add",)).verify()


def test_concat_on_channels_matches_exact():
    rng = np.random.default_rng(32)
    ta = FixedType(8, 4, False, Rounding.RND_CONV, Overflow.SAT)
    tb = FixedType(8, 2, True, Rounding.RND_CONV, Overflow.SAT)
    out_t = FixedType(12, 6, True, Rounding.RND_CONV, Overflow.SAT)  # holds both exactly
    a, b = InputLayer("a", (), (2, 3, 3), ta), InputLayer("b", (), (3, 3, 3), tb)
    lay = ConcatLayer(name="cat", inputs=("a", "b"), shape=(5, 3, 3), out_type=out_t)
    g = Graph("g", (a, b, lay), ("cat",)).verify()
    xs = {"a": _feature_map(rng, 3, (2, 3, 3), ta), "b": _feature_map(rng, 3, (3, 3, 3), tb)}
    want = ec.concat(ec.Fx(xs["a"], ta.frac), ec.Fx(xs["b"], tb.frac))
    assert want.frac == out_t.frac
    np.testing.assert_array_equal(g.execute(xs, quantized=True)["cat"], want.m)
    assert lay.infer_shape([(2, 3, 3), (3, 3, 3)]) == (5, 3, 3)
    with pytest.raises(GraphError, match="channel"):
        lay.infer_shape([(2, 3, 3), (3, 3, 4)])
    vec = ConcatLayer(name="v", inputs=("p", "q"), shape=(7,), out_type=out_t)
    assert vec.infer_shape([(3,), (4,)]) == (7,)
