"""The CNN handlers on hand-written float graphs whose every value is a small dyadic rational.

With inputs and weights on a 2^-4 grid and a wide ``--precision``, onnxruntime's float32 result is
exact, so the reference must equal it bit for bit: an independent oracle for the geometry (pads,
``auto_pad``, strides, groups) and for each op's arithmetic. Errors name the node and op.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from onnx import numpy_helper as nh

from fpga_flow.errors import UnsupportedError
from fpga_flow.fixed import FixedType, Overflow
from fpga_flow.ir import AvgPool2dLayer, Conv2dLayer, ScaleLayer
from fpga_flow.onnx_io import read_onnx
from fpga_flow.pipeline import lower
from tests import exact_cnn as ec

PRECISION = "ap_fixed<24,12>"  # 12 fractional bits: every value below is exact in it and in float32


def _model(nodes: list, inits: list, in_shape: tuple[int, ...], opset: int = 13) -> onnx.ModelProto:
    g = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *in_shape])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [])],
        initializer=[nh.from_array(np.asarray(v, dtype=np.float32), k) for k, v in inits],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _grid(rng: np.random.Generator, shape: tuple[int, ...], den: int = 16) -> np.ndarray:
    return rng.integers(-2 * den, 2 * den, size=shape).astype(np.float64) / den


def _check_exact(m: onnx.ModelProto, in_shape: tuple[int, ...], n: int = 3, seed: int = 0, den: int = 16) -> None:
    x = _grid(np.random.default_rng(seed), (n, *in_shape), den)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"input": x.astype(np.float32)})[0].astype(np.float64)
    g = lower(read_onnx(m, PRECISION))
    got = g.run_float(x)
    np.testing.assert_array_equal(got, want.reshape(got.shape))


@pytest.mark.parametrize(
    "attrs",
    [
        dict(pads=[0, 0, 0, 0], strides=[1, 1]),
        dict(pads=[1, 1, 1, 1], strides=[2, 2]),
        dict(pads=[2, 0, 1, 2], strides=[1, 2]),
        dict(auto_pad="SAME_UPPER", strides=[2, 2]),
        dict(auto_pad="SAME_LOWER", strides=[2, 1]),
        dict(auto_pad="VALID", strides=[1, 1]),
    ],
)
def test_conv_geometry_equals_onnxruntime(attrs: dict) -> None:
    rng = np.random.default_rng(1)
    w, b = _grid(rng, (4, 3, 3, 2)), _grid(rng, (4,))
    m = _model([helper.make_node("Conv", ["input", "w", "b"], ["output"], name="c", kernel_shape=[3, 2], **attrs)],
               [("w", w), ("b", b)], (3, 7, 6))
    _check_exact(m, (3, 7, 6))


@pytest.mark.parametrize("groups", [2, 6])
def test_grouped_and_depthwise_conv_equal_onnxruntime(groups: int) -> None:
    rng = np.random.default_rng(2)
    w = _grid(rng, (6, 6 // groups, 3, 3))
    m = _model([helper.make_node("Conv", ["input", "w"], ["output"], name="c", group=groups, pads=[1, 1, 1, 1])],
               [("w", w)], (6, 5, 5))
    g = read_onnx(m, PRECISION)
    conv = next(lay for lay in g.layers if isinstance(lay, Conv2dLayer))
    assert conv.groups == groups and conv.row_length == (6 // groups) * 9
    _check_exact(m, (6, 5, 5))


def test_pools_mul_add_concat_and_residual_equal_onnxruntime() -> None:
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("Conv", ["input", "w"], ["c"], name="c", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="r"),
        helper.make_node("Add", ["r", "c"], ["res"], name="residual"),
        helper.make_node("Mul", ["res", "m"], ["mul"], name="mul"),
        helper.make_node("Add", ["mul", "a"], ["aff"], name="add_const"),
        helper.make_node("MaxPool", ["aff"], ["mp"], name="mp", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("AveragePool", ["aff"], ["ap"], name="ap", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Concat", ["mp", "ap"], ["cat"], name="cat", axis=1),
        helper.make_node("GlobalAveragePool", ["cat"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["output"], name="flat", axis=1),
    ]
    # inputs and weights on 2^-2, so that the two averages (2^-4 each) stay on the 2^-12 grid
    inits = [("w", _grid(rng, (2, 2, 3, 3), 4)), ("m", np.array([0.5, -2.0]).reshape(1, 2, 1, 1)),
             ("a", np.array([0.25, 1.0]).reshape(1, 2, 1, 1))]
    m = _model(nodes, inits, (2, 4, 4))
    ops = [lay.op for lay in lower(read_onnx(m, PRECISION)).layers]
    assert ops.count("scale") == 2 and "add" in ops and "concat" in ops and ops.count("avgpool2d") == 2
    _check_exact(m, (2, 4, 4), den=4)


def test_reduce_mean_over_space_is_a_global_average_pool() -> None:
    nodes = [helper.make_node("ReduceMean", ["input", "axes"], ["output"], name="rm", keepdims=0)]
    m = _model(nodes, [], (3, 4, 2), opset=18)
    m.graph.initializer.append(nh.from_array(np.array([-1, -2], dtype=np.int64), "axes"))
    g = read_onnx(m, PRECISION)
    pool = next(lay for lay in g.layers if isinstance(lay, AvgPool2dLayer))
    assert pool.kernel == (4, 2) and g.output_layers[0].shape == (3,)
    _check_exact(m, (3, 4, 2))


def test_dynamic_view_flatten_chain_is_folded() -> None:
    nodes = [
        helper.make_node("Shape", ["input"], ["s"], name="shape"),
        helper.make_node("Constant", [], ["i0"], name="k0", value=nh.from_array(np.array(0, dtype=np.int64))),
        helper.make_node("Gather", ["s", "i0"], ["n"], name="g", axis=0),
        helper.make_node("Constant", [], ["ax"], name="k1", value=nh.from_array(np.array([0], dtype=np.int64))),
        helper.make_node("Unsqueeze", ["n", "ax"], ["n1"], name="u"),
        helper.make_node("Constant", [], ["m1"], name="k2", value=nh.from_array(np.array([-1], dtype=np.int64))),
        helper.make_node("Concat", ["n1", "m1"], ["shp"], name="cat", axis=0),
        helper.make_node("Reshape", ["input", "shp"], ["output"], name="view"),
    ]
    m = _model(nodes, [], (2, 3, 3))
    g = read_onnx(m, PRECISION)
    assert g.output_layers[0].shape == (18,)
    _check_exact(m, (2, 3, 3))


def test_batchnorm_becomes_one_scale_with_untouched_conv_weights() -> None:
    rng = np.random.default_rng(4)
    w = _grid(rng, (3, 2, 3, 3))
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], name="c"),
             helper.make_node("BatchNormalization", ["c", "g", "b", "mu", "var"], ["output"], name="bn",
                              epsilon=1e-5)]
    inits = [("w", w), ("g", [1.0, -0.5, 2.0]), ("b", [0.1, 0.0, -0.3]), ("mu", [0.5, -1.0, 0.0]),
             ("var", [1.0, 4.0, 0.25])]
    g = read_onnx(_model(nodes, inits, (2, 5, 5)), PRECISION)
    conv = next(lay for lay in g.layers if isinstance(lay, Conv2dLayer))
    np.testing.assert_array_equal(conv.weights.to_dense(), (w * 2**12).reshape(3, -1))  # the --precision grid
    scale = next(lay for lay in g.layers if isinstance(lay, ScaleLayer))
    assert scale.mult_type.width >= 25 and scale.mult_type.signed  # eps makes the scales non-dyadic


@pytest.mark.parametrize(
    ("node", "needle"),
    [
        (helper.make_node("Conv", ["input", "w"], ["output"], name="dil", dilations=[2, 2]), "dilations"),
        (helper.make_node("MaxPool", ["input"], ["output"], name="cm", kernel_shape=[2, 2], ceil_mode=1), "ceil_mode"),
        (helper.make_node("ReduceMean", ["input"], ["output"], name="rm", axes=[1]), "spatial axes"),
        (helper.make_node("Mul", ["input", "input"], ["output"], name="sq"), "by a constant"),
    ],
)
def test_unsupported_cnn_forms_name_the_node(node: onnx.NodeProto, needle: str) -> None:
    m = _model([node], [("w", np.ones((2, 2, 3, 3)))], (2, 6, 6))
    with pytest.raises(UnsupportedError) as e:
        read_onnx(m, PRECISION)
    msg = str(e.value)
    assert f"'{node.name}' ({node.op_type})" in msg and needle in msg


# ------------------------------------------------------------------ QONNX convolutions, exact
QDOM = "qonnx.custom_op.general"


def _quant(nodes: list, inits: list, src: str, dst: str, scale: np.ndarray | float, bits: int, signed: int = 1,
           tag: str = "q") -> None:
    inits += [(f"{tag}_s", np.asarray(scale)), (f"{tag}_z", np.array(0.0)), (f"{tag}_b", np.array(float(bits)))]
    nodes.append(helper.make_node("Quant", [src, f"{tag}_s", f"{tag}_z", f"{tag}_b"], [dst], name=tag, domain=QDOM,
                                  signed=signed, narrow=0, rounding_mode="ROUND"))


def _qmodel(nodes: list, inits: list, in_shape: tuple[int, ...]) -> onnx.ModelProto:
    m = _model(nodes, inits, in_shape)
    m.opset_import.append(helper.make_opsetid(QDOM, 1))
    return m


def _conv_loops(x: np.ndarray, w: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    """Plain loops over integer arrays: NCHW input, OIHW weight, stride 1, group 1."""
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    n, _, h, wd = xp.shape
    co, ci, kh, kw = w.shape
    out = np.zeros((n, co, h - kh + 1, wd - kw + 1), dtype=object)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            patch = xp[:, :, i : i + kh, j : j + kw].astype(object)
            out[:, :, i, j] = np.tensordot(patch, w.astype(object), axes=([1, 2, 3], [1, 2, 3]))
    return out


def test_per_output_channel_weight_scales_and_a_shared_codebook_are_exact() -> None:
    rng = np.random.default_rng(5)
    # conv1: per-output-channel scales 2^-3, 2^-5, 2^-4 on raw float weights the Quant rounds
    fw = np.array([3, 5, 4])
    w_raw = rng.uniform(-0.9, 0.9, size=(3, 2, 3, 3))
    # conv2: weights shared through Gather(codebook, indices), codebook entry 0 = 0.0 (pruned)
    book = np.array([0.0, -0.75, 0.25, 0.5])
    idx = rng.integers(0, 4, size=(2, 3, 2, 2))
    nodes: list = []
    inits: list = [("w1", w_raw), ("book", book)]
    m_idx = nh.from_array(idx.astype(np.int64), "idx")
    _quant(nodes, inits, "input", "xq", 2.0**-4, 8, tag="qin")
    _quant(nodes, inits, "w1", "w1q", (2.0 ** -fw).reshape(3, 1, 1, 1), 8, tag="qw1")
    nodes.append(helper.make_node("Conv", ["xq", "w1q"], ["c1"], name="conv1", pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Relu", ["c1"], ["r1"], name="relu1"))
    _quant(nodes, inits, "r1", "a1", 2.0**-3, 8, signed=0, tag="qa1")
    nodes.append(helper.make_node("Gather", ["book", "idx"], ["w2"], name="gather", axis=0))
    _quant(nodes, inits, "w2", "w2q", 2.0**-2, 4, tag="qw2")
    nodes.append(helper.make_node("Conv", ["a1", "w2q"], ["output"], name="conv2"))
    m = _qmodel(nodes, inits, (2, 5, 5))
    m.graph.initializer.append(m_idx)
    read = read_onnx(m)
    c1, c2 = (lay for lay in read.layers if isinstance(lay, Conv2dLayer))
    assert c1.weight_type.frac == 5 and c1.weights.kind == "dense"  # the channel scales unified exactly
    assert c2.weights.kind == "codebook_csr" and c2.codebook_size == 3  # the 0.0 entry is not stored
    g = lower(read)
    x = rng.uniform(-8, 8, size=(4, 2, 5, 5))
    # independent integer computation: every tensor as integers at its own scale
    xi = np.clip(np.round(x * 16), -128, 127).astype(np.int64)  # 2^-4
    w1i = np.clip(np.round(w_raw * 2.0 ** fw.reshape(3, 1, 1, 1)), -128, 127).astype(np.int64)
    w1i = w1i << (5 - fw).reshape(3, 1, 1, 1)  # all on 2^-5
    acc1 = _conv_loops(xi, w1i, (1, 1, 1, 1))  # 2^-9
    a1 = np.array([[[[min(max(_round_half_even(int(v), 6), 0), 255) for v in row] for row in ch] for ch in s]
                   for s in acc1])  # relu, then 2^-9 -> 2^-3, saturating unsigned 8-bit
    w2i = np.round(book[idx] * 4).astype(np.int64)  # 2^-2
    acc2 = _conv_loops(a1.astype(np.int64), w2i, (0, 0, 0, 0))  # 2^-5
    np.testing.assert_array_equal(g.run_float(x), acc2.astype(np.float64) / 32)


def _round_half_even(v: int, shift: int) -> int:
    q, r = divmod(v, 1 << shift)
    half = 1 << (shift - 1)
    return q + (1 if r > half or (r == half and q % 2) else 0)


def test_a_constant_that_broadcasts_along_width_is_not_a_channel_scale() -> None:
    # numpy broadcasting aligns [2] with W, not with C: reading it per channel would be wrong
    m = _model([helper.make_node("Mul", ["input", "k"], ["output"], name="mulw")], [("k", [0.5, 2.0])], (2, 6, 2))
    with pytest.raises(UnsupportedError) as e:
        read_onnx(m, PRECISION)
    assert "'mulw' (Mul)" in str(e.value) and "one value per channel" in str(e.value)
    ok = _model([helper.make_node("Mul", ["input", "k"], ["output"], name="mulc")],
                [("k", np.array([0.5, 2.0]).reshape(2, 1, 1))], (2, 6, 2))
    _check_exact(ok, (2, 6, 2))


def test_batchnorm_fold_is_minimal_on_a_12_bit_input() -> None:
    """A float model read at ap_fixed<12,4>: on every one of the 4,096 input values the fold rounds
    like the real BatchNorm (tests/exact_cnn.bn_exact, 120-digit decimals), and one bit narrower it
    does not (25 bits are not enough here, so the reader widened the multiplier)."""
    rng = np.random.default_rng(7)
    c = 6
    gamma, beta = rng.uniform(0.3, 2.0, c), rng.uniform(-1, 1, c)
    mean, var = rng.uniform(-1, 1, c), rng.uniform(0.2, 3.0, c)
    nodes = [helper.make_node("BatchNormalization", ["input", "g", "b", "mu", "var"], ["output"], name="bn",
                              epsilon=1e-5)]
    m = _model(nodes, [("g", gamma), ("b", beta), ("mu", mean), ("var", var)], (c, 1, 1))
    t = FixedType(12, 4, True)
    scale = next(lay for lay in lower(read_onnx(m, "ap_fixed<12,4>")).layers if isinstance(lay, ScaleLayer))
    params = [np.asarray(v, dtype=np.float32) for v in (gamma, beta, mean, var)]
    xs = np.arange(t.min_mantissa, t.max_mantissa + 1)
    x = ec.Fx(np.broadcast_to(xs[:, None], (xs.size, c)).copy(), t.frac)
    grid = FixedType(40, 40 - scale.out_type.frac, True, scale.out_type.rounding, Overflow.WRAP)
    want = ec.bn_exact(x, *params, 1e-5, False, grid).m

    def folded(bits: int) -> np.ndarray:
        f = ec.bn_fold(*params, 1e-5, t.frac, bits)
        return ec.scale(x, f.mult, f.fm, f.offset, f.fx + f.fm, False, grid).m

    w = scale.mult_type.width
    assert w > 25
    f = ec.bn_fold(*params, 1e-5, t.frac, w)
    np.testing.assert_array_equal(scale.mult, f.mult)
    np.testing.assert_array_equal(scale.offset, f.offset)
    np.testing.assert_array_equal(folded(w), want)
    assert np.any(folded(w - 1) != want)
