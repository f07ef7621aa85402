"""The passes on convolutional graphs: equal outputs before/after, plus the structural change."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
from onnx import TensorProto, helper
from onnx import numpy_helper as nh

from fpga_flow.examples import QuantSpecF, quant_node
from fpga_flow.fixed import FixedType, to_float
from fpga_flow.ir import Activation, Conv2dLayer, Graph, MaxPool2dLayer, ReluLayer, ScaleLayer
from fpga_flow.ir.accum import accumulator_bound
from fpga_flow.onnx_io import read_onnx
from fpga_flow.passes import choose_storage, fuse_activations, infer_accumulators

Q_IN = QuantSpecF(8, 4)
Q_W = QuantSpecF(6, 5)
Q_B = QuantSpecF(12, 8)
Q_ACT = QuantSpecF(8, 4, signed=False)


def _qcnn(seed: int = 0, sparsity: float = 0.6, bn: bool = False) -> onnx.ModelProto:
    """input -> Quant -> Conv(Quant W, Quant B) [-> Mul -> Add] -> Relu -> Quant -> MaxPool -> Conv -> output."""
    rng = np.random.default_rng(seed)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def grid(shape: tuple[int, ...], q: QuantSpecF) -> np.ndarray:
        m = rng.integers(-(1 << (q.bits - 1)), 1 << (q.bits - 1), size=shape)
        m[rng.random(shape) < sparsity] = 0
        return (m / 2.0**q.frac).astype(np.float32)

    quant_node(nodes, inits, "input", "xq", Q_IN, "qin")
    inits += [nh.from_array(grid((4, 2, 3, 3), Q_W), "w1"), nh.from_array(grid((4,), Q_B), "b1"),
              nh.from_array(grid((3, 4, 2, 2), Q_W), "w2")]
    quant_node(nodes, inits, "w1", "w1q", Q_W, "qw1")
    quant_node(nodes, inits, "b1", "b1q", Q_B, "qb1")
    quant_node(nodes, inits, "w2", "w2q", Q_W, "qw2")
    nodes.append(helper.make_node("Conv", ["xq", "w1q", "b1q"], ["c1"], name="conv1", pads=[1, 1, 1, 1]))
    cur = "c1"
    if bn:
        inits += [nh.from_array(np.array([0.5, -1.0, 2.0, 0.25], dtype=np.float32).reshape(1, 4, 1, 1), "m"),
                  nh.from_array(np.array([0.125, 0.5, -1.5, 0.0], dtype=np.float32).reshape(1, 4, 1, 1), "a")]
        nodes += [helper.make_node("Mul", [cur, "m"], ["bn_m"], name="bn_mul"),
                  helper.make_node("Add", ["bn_m", "a"], ["bn_a"], name="bn_add")]
        cur = "bn_a"
    nodes.append(helper.make_node("Relu", [cur], ["r1"], name="relu1"))
    quant_node(nodes, inits, "r1", "a1", Q_ACT, "qa1")
    nodes.append(helper.make_node("MaxPool", ["a1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]))
    nodes.append(helper.make_node("Conv", ["p1", "w2q"], ["output"], name="conv2", strides=[2, 2]))
    g = helper.make_graph(nodes, "qcnn", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 2, 8, 8])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, 2, 2])],
                          initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid("qonnx.custom_op.general", 1)])
    m.ir_version = 8
    return m


def _x(n: int = 16) -> np.ndarray:
    return np.random.default_rng(7).uniform(-9, 9, size=(n, 2, 8, 8))


def _same(a: Graph, b: Graph) -> None:
    ya, ta = a.run(_x())
    yb, tb = b.run(_x())
    np.testing.assert_array_equal(ya, yb)
    assert ta.frac == tb.frac


def test_fuse_folds_relu_and_quant_into_the_conv() -> None:
    g = read_onnx(_qcnn())
    f = fuse_activations(g)
    _same(g, f)
    assert [lay.op for lay in g.layers] == ["input", "conv2d", "relu", "quantize", "maxpool2d", "conv2d"]
    assert [lay.op for lay in f.layers] == ["input", "conv2d", "maxpool2d", "conv2d"]
    conv1 = f.layers[1]
    assert isinstance(conv1, Conv2dLayer) and conv1.activation is Activation.RELU
    assert conv1.out_type.width == Q_ACT.bits and not conv1.out_type.signed


def test_mul_add_pair_becomes_one_scale_with_relu_and_quant_fused() -> None:
    g = read_onnx(_qcnn(bn=True))
    f = fuse_activations(g)
    _same(g, f)
    assert [lay.op for lay in g.layers] == ["input", "conv2d", "scale", "scale", "relu", "quantize", "maxpool2d",
                                            "conv2d"]
    assert [lay.op for lay in f.layers] == ["input", "conv2d", "scale", "maxpool2d", "conv2d"]
    s = f.layers[2]
    assert isinstance(s, ScaleLayer) and s.activation is Activation.RELU
    # the merged multiplier and offset are the model's, exactly: m in 2^-mult_frac, o in 2^-offset_frac
    np.testing.assert_array_equal(s.mult / 2.0**s.mult_type.frac, [0.5, -1.0, 2.0, 0.25])
    np.testing.assert_array_equal(s.offset / 2.0**s.offset_type.frac, [0.125, 0.5, -1.5, 0.0])


def test_accumulators_narrow_conv_rows_from_their_nonzero_weights() -> None:
    g = fuse_activations(read_onnx(_qcnn(sparsity=0.7)))
    t = infer_accumulators(g)
    _same(g, t)
    types = {lay.name: lay.out_type for lay in t.layers}
    for before, after in zip(g.mac_layers(), t.mac_layers(), strict=True):
        assert after.acc_type.width < before.acc_type.width and after.acc_type.frac == before.acc_type.frac
        bound = accumulator_bound(after, types[after.inputs[0]])
        assert bound <= after.acc_type.max_mantissa < 2 * bound + 1  # tight: one bit less would not hold it


def test_storage_converts_conv_weights_without_changing_values() -> None:
    g = infer_accumulators(fuse_activations(read_onnx(_qcnn(sparsity=0.8))))
    for kind in ("dense", "csr", "codebook_csr"):
        s = choose_storage(g, kind)
        _same(g, s)
        assert {lay.weights.kind for lay in s.mac_layers()} == {kind}


def _bn_vector_model() -> onnx.ModelProto:
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    quant_node(nodes, inits, "input", "xq", Q_IN, "qin")
    inits += [nh.from_array(np.array([[0.5, -1.25, 3.0]], dtype=np.float32), "m"),
              nh.from_array(np.array([[0.0625, 1.0, -2.5]], dtype=np.float32), "a")]
    nodes += [helper.make_node("Mul", ["xq", "m"], ["y"], name="mul"),
              helper.make_node("Add", ["y", "a"], ["z"], name="add"),
              helper.make_node("Relu", ["z"], ["r"], name="relu")]
    quant_node(nodes, inits, "r", "output", Q_ACT, "qout")
    g = helper.make_graph(nodes, "bnvec", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid("qonnx.custom_op.general", 1)])
    m.ir_version = 8
    return m


def test_vector_scale_becomes_a_diagonal_dense_layer() -> None:
    from fpga_flow.ir import CsrWeights, DenseLayer
    from fpga_flow.passes import scales_to_dense

    g = fuse_activations(read_onnx(_bn_vector_model()))
    d = scales_to_dense(g)
    x = np.random.default_rng(3).uniform(-9, 9, size=(200, 3))
    np.testing.assert_array_equal(g.run(x)[0], d.run(x)[0])
    assert [lay.op for lay in g.layers] == ["input", "scale"] and [lay.op for lay in d.layers] == ["input", "dense"]
    dense = d.layers[1]
    assert isinstance(dense, DenseLayer) and isinstance(dense.weights, CsrWeights)
    np.testing.assert_array_equal(dense.weights.to_dense() / 2.0**dense.weight_type.frac, np.diag([0.5, -1.25, 3.0]))
    # exact against the model's own arithmetic: Quant(x) * m + a, ReLU, Quant (ROUND = half to even, saturating)
    xq = np.clip(np.round(x * 16), -128, 127) / 16
    z = np.maximum(xq * np.array([0.5, -1.25, 3.0]) + np.array([0.0625, 1.0, -2.5]), 0)
    np.testing.assert_array_equal(d.run_float(x), np.clip(np.round(z * 16), 0, 255) / 16)


def _relu_pool_graph(relu_t: FixedType, extra_reader: bool = False) -> Graph:
    """A wrapping conv (its ReLU cannot fold into the requantization), a ReLU of type ``relu_t``,
    a 3x3 max pool with padding 1 and stride 2; ``extra_reader``: a second pool also reads the ReLU."""
    from tests.cnn_graphs import cnn_graph

    base = cnn_graph("maxpool")  # conv1 (wrapping) -> [relu folded] -> pool1 -> flat -> fc
    conv = base.layer("conv1")
    inp = base.layers[0]
    c, h, w = conv.shape
    relu = ReluLayer("relu1", (conv.name,), (c, h, w), relu_t)
    layers: list = [inp, conv, relu]
    pool = MaxPool2dLayer(name="pool1", inputs=(relu.name,), shape=(c, 3, 3), out_type=relu_t, kernel=(3, 3),
                          stride=(2, 2), pads=(1, 1, 1, 1))
    layers.append(pool)
    outs = [pool.name]
    if extra_reader:
        layers.append(dataclasses.replace(pool, name="pool2"))
        outs.append("pool2")
    return Graph("relu_pool", tuple(layers), tuple(outs)).verify()


def test_a_relu_before_a_max_pool_moves_into_the_pool() -> None:
    g = _relu_pool_graph(FixedType(6, 2, True))
    fused = fuse_activations(g)
    assert [lay.op for lay in fused.layers] == ["input", "conv2d", "maxpool2d"]
    pool = fused.layer("pool1")
    assert isinstance(pool, MaxPool2dLayer) and pool.activation is Activation.RELU and pool.inputs == ("conv1",)
    rng = np.random.default_rng(3)
    t = g.layers[0].out_type
    m = rng.integers(t.min_mantissa, t.max_mantissa + 1, size=(64, g.layers[0].size))
    m[0] = t.min_mantissa
    x = to_float(m, t)
    want = g.execute(x)["pool1"]
    got = fused.execute(x)["pool1"]
    # independently: max over each padded 3x3 window of relu(conv), the padding never the maximum
    conv = g.execute(x)["conv1"]
    xp = np.pad(np.maximum(conv, 0), ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-(1 << 40))
    loops = np.zeros_like(want)
    for oy in range(3):
        for ox in range(3):
            loops[:, :, oy, ox] = xp[:, :, 2 * oy:2 * oy + 3, 2 * ox:2 * ox + 3].max(axis=(2, 3))
    assert np.array_equal(got, want) and np.array_equal(got, loops)
    assert (conv < 0).mean() > 0.2 and np.all(got >= 0)


def test_a_relu_that_changes_type_or_has_two_readers_stays() -> None:
    narrower = fuse_activations(_relu_pool_graph(FixedType(5, 2, True)))  # the ReLU casts: not exact in the pool
    assert "relu" in [lay.op for lay in narrower.layers]
    shared = fuse_activations(_relu_pool_graph(FixedType(6, 2, True), extra_reader=True))
    assert "relu" in [lay.op for lay in shared.layers]
    assert all(lay.activation is Activation.LINEAR for lay in shared.layers if isinstance(lay, MaxPool2dLayer))
