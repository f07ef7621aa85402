"""The ONNX reader + reference executor against an independent exact interpreter (contract 2)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fpga_flow.errors import ModelError, UnsupportedError
from fpga_flow.examples import LayerSpec, QuantSpecF, quant_node, sparse_mlp
from fpga_flow.fixed import Overflow, Rounding
from fpga_flow.ir import CodebookCsrWeights, DenseLayer
from fpga_flow.onnx_io import read_onnx
from fpga_flow.pipeline import lower
from tests.exact_onnx import run_exact, to_float

QD = "qonnx.custom_op.general"


def _inputs(n: int, features: int, seed: int = 0, scale: float = 4.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-scale, scale, size=(n, features))
    # sprinkle exact ties and out-of-range values to exercise rounding and saturation
    x[0, :4] = [0.03125, -0.09375, 100.0, -100.0]
    return x


def _assert_exact(model: onnx.ModelProto, x: np.ndarray, **kw) -> np.ndarray:
    exact = run_exact(model, x)
    for g in (read_onnx(model, **kw), lower(read_onnx(model, **kw))):
        y = g.run_float(x)
        assert y.shape == exact.shape
        # every produced value is exactly the rational the model defines
        assert all(Fraction(float(a)) == b for a, b in zip(y.ravel(), exact.ravel(), strict=True))
        np.testing.assert_array_equal(y, to_float(exact))
    return to_float(exact)


def test_qonnx_mlp_with_codebook_and_90pct_zeros_is_bit_exact():
    model = sparse_mlp(
        64,
        [
            LayerSpec(40, sparsity=0.9, codebook_bits=3),
            LayerSpec(24, sparsity=0.9),
            LayerSpec(10, relu=False, act=None),
        ],
        seed=3,
    )
    g = read_onnx(model)
    dense = [lay for lay in g.layers if isinstance(lay, DenseLayer)]
    assert isinstance(dense[0].weights, CodebookCsrWeights)
    assert dense[0].weights.codebook.size == 8  # the 0.0 entry is dropped: pruned weights are absent
    assert sum(d.nnz for d in dense) < 0.15 * sum(d.n_in * d.n_out for d in dense)
    y = _assert_exact(model, _inputs(12, 64))
    assert np.unique(y).size > 20  # the test is not vacuous


def test_quant_before_gather_and_floor_rounding_and_narrow_weights():
    w_q = QuantSpecF(6, 4, narrow=True)
    model = sparse_mlp(
        16,
        [
            LayerSpec(12, sparsity=0.5, weight=w_q, act=QuantSpecF(6, 2, signed=False, rounding="FLOOR")),
            LayerSpec(5, sparsity=0.3, relu=False, act=QuantSpecF(9, 5, rounding="FLOOR")),
        ],
        input_quant=QuantSpecF(7, 3, rounding="FLOOR"),
        seed=5,
    )
    g = read_onnx(model)
    assert g.inputs[0].out_type.rounding is Rounding.TRN
    w_t = g.dense_layers()[0].weight_type
    assert w_t.overflow is Overflow.SAT_SYM and w_t.width == 6 and w_t.frac == 4
    _assert_exact(model, _inputs(10, 16, seed=1))


def _gemm_model(per_channel: bool, trans_b: bool, graph_inputs_have_inits: bool, raw_bias: bool) -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    nodes: list = []
    inits: list = []
    quant_node(nodes, inits, "x", "xq", QuantSpecF(8, 5), "in")
    n_in, n_out = 10, 6
    w = np.ldexp(rng.integers(-100, 100, size=(n_out, n_in)).astype(np.float64), -7)
    w[rng.random(w.shape) < 0.6] = 0.0
    w_store = w if trans_b else w.T
    inits.append(numpy_helper.from_array(w_store.astype(np.float32), "W"))
    if per_channel:
        shape = (n_out, 1) if trans_b else (1, n_out)
        scales = np.ldexp(1.0, -rng.integers(3, 7, size=n_out)).reshape(shape)
        inits.append(numpy_helper.from_array(scales.astype(np.float32), "w_scale"))
    else:
        inits.append(numpy_helper.from_array(np.array(2.0**-5, np.float32), "w_scale"))
    inits.append(numpy_helper.from_array(np.array(0.0, np.float32), "zero"))
    inits.append(numpy_helper.from_array(np.array(8.0, np.float32), "eight"))
    # parameters shared across Quant nodes (exporters do this): read by position, not by name
    nodes.append(helper.make_node("Quant", ["W", "w_scale", "zero", "eight"], ["Wq"], domain=QD, signed=1,
                                  narrow=0, rounding_mode="ROUND", name="wq"))
    b = np.ldexp(rng.integers(-50, 50, size=n_out).astype(np.float64), -6)
    inits.append(numpy_helper.from_array(b.astype(np.float32), "B"))
    if raw_bias:
        bias = "B"
    else:
        inits.append(numpy_helper.from_array(np.array(2.0**-12, np.float32), "acc_scale"))
        inits.append(numpy_helper.from_array(np.array(24.0, np.float32), "acc_bits"))
        nodes.append(helper.make_node("Quant", ["B", "acc_scale", "zero", "acc_bits"], ["Bq"], domain=QD,
                                      signed=1, narrow=0, rounding_mode="ROUND", name="bq"))
        bias = "Bq"
    nodes.append(helper.make_node("Gemm", ["xq", "Wq", bias], ["h"], transB=int(trans_b), name="gemm"))
    nodes.append(helper.make_node("Relu", ["h"], ["y"], name="relu"))
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n_in])]
    if graph_inputs_have_inits:
        inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
    graph = helper.make_graph(nodes, "gemm", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                                                     ["N", n_out])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QD, 1)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_per_channel_shared_params_init_inputs(per_channel, trans_b):
    model = _gemm_model(per_channel, trans_b, graph_inputs_have_inits=True, raw_bias=False)
    y = _assert_exact(model, _inputs(9, 10, seed=2))
    assert np.count_nonzero(y) > 5


def test_raw_float_bias_is_taken_exactly_and_last_layer_outputs_accumulator():
    model = _gemm_model(False, True, graph_inputs_have_inits=False, raw_bias=True)
    g = read_onnx(model)
    dense = g.dense_layers()[0]
    assert dense.bias_type.frac == 6  # narrowest exact type of the raw bias
    _assert_exact(model, _inputs(9, 10, seed=4))


def test_flatten_of_image_input():
    base = sparse_mlp(16, [LayerSpec(6, relu=False, act=None)], seed=1)
    g = base.graph
    new_in = helper.make_tensor_value_info("img", TensorProto.FLOAT, ["N", 1, 4, 4])
    flat = helper.make_node("Flatten", ["img"], ["x"], axis=1, name="flatten")
    graph = helper.make_graph([flat, *g.node], g.name, [new_in], list(g.output), list(g.initializer))
    model = helper.make_model(graph, opset_imports=list(base.opset_import))
    model.ir_version = 8
    x = _inputs(5, 16, seed=9)
    exact = to_float(run_exact(model, x.reshape(5, 1, 4, 4)))
    np.testing.assert_array_equal(read_onnx(model).run_float(x), exact)


def _float_model(n_in: int, n_out: int, seed: int) -> tuple[onnx.ModelProto, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.5, size=(n_in, n_out))
    b = rng.normal(0, 0.5, size=n_out)
    inits = [numpy_helper.from_array(w.astype(np.float32), "W"), numpy_helper.from_array(b.astype(np.float32), "B")]
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["m"], name="mm"),
        helper.make_node("Add", ["m", "B"], ["a"], name="add"),
        helper.make_node("Relu", ["a"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(nodes, "float", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n_in])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", n_out])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m, w.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64)


def _trn_wrap(v: Fraction, width: int, frac: int) -> Fraction:
    """ap_fixed<W, W-F> default modes (AP_TRN, AP_WRAP), computed independently."""
    q = int(np.floor(float(v * 2**frac))) if (v * 2**frac).denominator != 1 else int(v * 2**frac)
    q = (v * 2**frac).numerator // (v * 2**frac).denominator
    q = ((q + 2 ** (width - 1)) % 2**width) - 2 ** (width - 1)
    return Fraction(q, 2**frac)


def test_plain_float_model_uses_precision_like_hls4ml():
    model, w, b = _float_model(8, 5, seed=11)
    x = _inputs(6, 8, seed=3, scale=6.0)
    width, frac = 12, 6  # ap_fixed<12,6>
    g = read_onnx(model, precision="ap_fixed<12,6>")
    y = g.run_float(x)
    for n in range(x.shape[0]):
        xq = [_trn_wrap(Fraction(float(v)), width, frac) for v in x[n]]
        for j in range(5):
            acc = _trn_wrap(Fraction(float(b[j])), width, frac) + sum(
                _trn_wrap(Fraction(float(w[i, j])), width, frac) * xq[i] for i in range(8)
            )
            out = _trn_wrap(acc, width, frac)  # dense result_t, then ReLU
            out = max(out, Fraction(0))
            assert Fraction(float(y[n, j])) == out


# ------------------------------------------------------------------------ errors
def _with_node(node: onnx.NodeProto, extra_inits=()) -> onnx.ModelProto:
    base = sparse_mlp(8, [LayerSpec(4, relu=False, act=None)], seed=0)
    g = base.graph
    nodes = list(g.node)[:-1] + [node, helper.make_node("Identity", [node.output[0]], ["y"], name="output")]
    graph = helper.make_graph(nodes, g.name, list(g.input), list(g.output), list(g.initializer) + list(extra_inits))
    m = helper.make_model(graph, opset_imports=list(base.opset_import))
    m.ir_version = 8
    return m


def test_unsupported_op_names_node_op_and_supported_list():
    m = _with_node(helper.make_node("Sigmoid", ["fc0_acc"], ["s"], name="my_sigmoid"))
    with pytest.raises(UnsupportedError) as e:
        read_onnx(m)
    msg = str(e.value)
    assert "my_sigmoid" in msg and "Sigmoid" in msg and "MatMul" in msg and "\n" not in msg


@pytest.mark.parametrize(("scale", "zp", "attrs"), [(0.3, 0.0, {}), (0.25, 1.0, {}), (0.0123, 3.0, {"signed": 0}),
                                                    (0.3, 0.0, {"rounding_mode": "FLOOR"})])
def test_quant_with_any_scale_and_zero_point_is_exact(scale, zp, attrs):
    inits = [
        numpy_helper.from_array(np.array(scale, np.float32), "s_any"),
        numpy_helper.from_array(np.array(zp, np.float32), "z_any"),
        numpy_helper.from_array(np.array(8.0, np.float32), "b_any"),
    ]
    kw = {"signed": 1, "narrow": 0, "rounding_mode": "ROUND", **attrs}
    node = helper.make_node("Quant", ["fc0_acc", "s_any", "z_any", "b_any"], ["q"], domain=QD, name="any_quant", **kw)
    m = _with_node(node, inits)
    g = read_onnx(m)
    x = np.random.default_rng(1).uniform(-4, 4, size=(64, 8))
    np.testing.assert_array_equal(g.run_float(x), to_float(run_exact(m, x)))
    assert g.output_dequant(g.outputs[0]) is not None  # integers on the datapath, the scale on the host


@pytest.mark.parametrize(
    ("scale", "zp", "attrs", "needle"),
    [
        (0.25, 0.0, {"rounding_mode": "CEIL"}, "CEIL"),
        (0.25, 0.0, {"signed": 0, "narrow": 1}, "narrow"),
    ],
)
def test_quant_without_ap_fixed_equivalent_is_a_clear_error(scale, zp, attrs, needle):
    inits = [
        numpy_helper.from_array(np.array(scale, np.float32), "s_bad"),
        numpy_helper.from_array(np.array(zp, np.float32), "z_bad"),
        numpy_helper.from_array(np.array(8.0, np.float32), "b_bad"),
    ]
    kw = {"signed": 1, "narrow": 0, "rounding_mode": "ROUND", **attrs}
    node = helper.make_node("Quant", ["fc0_acc", "s_bad", "z_bad", "b_bad"], ["q"], domain=QD, name="bad_quant", **kw)
    with pytest.raises(UnsupportedError) as e:
        read_onnx(_with_node(node, inits))
    assert "bad_quant" in str(e.value) and needle in str(e.value)


def test_checker_failure_and_missing_file(tmp_path):
    with pytest.raises(ModelError, match="no such file"):
        read_onnx(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all \x00\xff")
    with pytest.raises(ModelError, match="bad.onnx"):
        read_onnx(bad)
    m = sparse_mlp(8, [LayerSpec(4)], seed=0)
    m.graph.node[1].input[0] = "does_not_exist"
    with pytest.raises(ModelError, match="onnx.checker"):
        read_onnx(m)


def test_hostile_node_names_become_unique_identifiers():
    m = sparse_mlp(8, [LayerSpec(6), LayerSpec(4, relu=False, act=None)], seed=0)
    hostile = ["input", "out", '"; system("x"); //', "../x", "ünï", "int"]
    for node, name in zip(m.graph.node, hostile * 10, strict=False):
        node.name = name
    g = read_onnx(m)
    names = [lay.name for lay in g.layers]
    assert len(set(names)) == len(names)
    assert all(n.isidentifier() and n.isascii() for n in names)
    assert {"input", "out", "int"}.isdisjoint(names)


@pytest.mark.parametrize(("scale", "zp"), [(0.00029297, 0.0), (0.0009765625, 3.0)])
def test_a_bias_alone_with_a_scale_that_is_not_a_power_of_two_is_exact(scale, zp):
    """Found by make fuzz: power-of-two weights and input, but the bias Quant has a float scale (or
    a zero point); the bias must enter the accumulator at its exact value."""
    from tests.fuzz_onnx import base_models

    m = onnx.ModelProto()
    m.CopyFrom(base_models()["qonnx_mlp"])
    bias_quant = next(n for n in m.graph.node if n.op_type == "Quant" and n.input[1] == "fc1_b_scale")
    for t in m.graph.initializer:
        if t.name == bias_quant.input[1]:
            t.CopyFrom(numpy_helper.from_array(np.array(scale, np.float32), t.name))
        if t.name == bias_quant.input[2]:
            t.CopyFrom(numpy_helper.from_array(np.array(zp, np.float32), t.name))
    g = lower(read_onnx(m))
    x = np.random.default_rng(3).uniform(-3, 3, size=(8, g.inputs[0].size))
    np.testing.assert_array_equal(g.run_float(x), to_float(run_exact(m, x)).reshape(8, -1))
