"""Ops real exporters emit (skl2onnx, torch.onnx.export): no-op Cast, Squeeze/Unsqueeze, a final
Softmax/LogSoftmax dropped with a note, a classifier's label output left out; and the error that
lists every unsupported op type at once."""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_digits

from fpga_flow.errors import UnsupportedError
from fpga_flow.ir import DenseLayer
from fpga_flow.onnx_io import observe_ranges, read_onnx


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    d = load_digits()
    return d.data.astype(np.float32), d.target


def _ort(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})


def _skl(est, x: np.ndarray, y: np.ndarray) -> onnx.ModelProto:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(x, y)
        opts = {id(est): {"zipmap": False}} if hasattr(est, "predict_proba") else None
        return convert_sklearn(est, initial_types=[("x", FloatTensorType([None, 64]))], options=opts)


def test_skl2onnx_mlp_regressor_cast_and_reshape(digits):
    from sklearn.neural_network import MLPRegressor

    x, y = digits
    model = _skl(MLPRegressor(hidden_layer_sizes=(16,), max_iter=60, random_state=0), x, y.astype(np.float64))
    assert [n.op_type for n in model.graph.node] == ["Cast", "MatMul", "Add", "Relu", "MatMul", "Add", "Reshape"]
    g = read_onnx(model, calibration=observe_ranges(model, x))
    assert [type(lay).__name__ for lay in g.layers] == ["InputLayer", "DenseLayer", "ReluLayer", "DenseLayer"]
    assert g.notes == ()
    got = g.run_float(x)
    want = _ort(model, x)[0].astype(np.float64)
    assert got.shape == want.shape == (x.shape[0], 1)
    assert np.max(np.abs(got - want)) < 0.01  # 16-bit calibrated types on a regression in [0, 9]


def test_skl2onnx_mlp_classifier_drops_softmax_and_label(digits):
    from sklearn.neural_network import MLPClassifier

    x, y = digits
    model = _skl(MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, random_state=0), x, y)
    ops = [n.op_type for n in model.graph.node]
    assert ops[-6:] == ["Softmax", "Identity", "ArgMax", "ArrayFeatureExtractor", "Reshape", "Cast"]
    g = read_onnx(model, calibration=observe_ranges(model, x))
    softmax = next(n for n in model.graph.node if n.op_type == "Softmax")
    assert g.notes == (
        "graph output 'label' (int64, e.g. a class label) not computed: the hardware outputs 'probabilities'",
        f"final Softmax (node '{softmax.name}') not computed: the outputs are the logits; argmax is unchanged",
    )
    assert len(g.outputs) == 1 and isinstance(g.output_layers[0], DenseLayer)
    label, proba = _ort(model, x)
    got = g.run_float(x)
    np.testing.assert_array_equal(got.argmax(1), proba.argmax(1))
    np.testing.assert_array_equal(got.argmax(1), label)


def test_skl2onnx_logistic_regression_linear_classifier(digits):
    from sklearn.linear_model import LogisticRegression

    x, y = digits
    model = _skl(LogisticRegression(max_iter=40), x, y)
    assert [n.op_type for n in model.graph.node] == ["LinearClassifier", "Normalizer"]
    ranges = observe_ranges(model, x)
    g = read_onnx(model, calibration=ranges)
    assert [type(lay).__name__ for lay in g.layers] == ["InputLayer", "DenseLayer"]
    assert len(g.notes) == 3 and "post_transform SOFTMAX" in g.notes[1] and "Normalizer" in g.notes[2]
    # the raw scores were observed (the model's output holds probabilities in [0, 1])
    raw = ranges["probability_tensor:raw_scores"]
    assert raw.lo < -1.0 and g.output_layers[0].out_type.integer > 1
    label, proba = _ort(model, x)
    got = g.run_float(x)
    np.testing.assert_array_equal(got.argmax(1), proba.argmax(1))
    np.testing.assert_array_equal(got.argmax(1), label)


def _torch_mlp(tail: str) -> onnx.ModelProto:
    import torch

    torch.manual_seed(1)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch.nn.Linear(64, 16)
            self.fc2 = torch.nn.Linear(16, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.fc1(x.unsqueeze(-1).squeeze(-1).double().float()))
            z = self.fc2(h.unsqueeze(1).squeeze(1))
            return torch.log_softmax(z, dim=1) if tail == "logsoftmax" else z

    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Net().eval(), (torch.zeros(1, 64),), f, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, dynamo=False)
    return onnx.load_from_string(f.getvalue())


def test_torch_squeeze_unsqueeze_cast_and_final_logsoftmax(digits):
    x, _ = digits
    plain, soft = _torch_mlp("logits"), _torch_mlp("logsoftmax")
    ops = {n.op_type for n in soft.graph.node}
    assert {"Unsqueeze", "Squeeze", "Cast", "LogSoftmax"} <= ops
    g_plain = read_onnx(plain, calibration=observe_ranges(plain, x))
    g_soft = read_onnx(soft, calibration=observe_ranges(soft, x))
    assert g_plain.notes == ()
    node = next(n for n in soft.graph.node if n.op_type == "LogSoftmax")
    assert g_soft.notes == (f"final LogSoftmax (node '{node.name}') not computed: the outputs are the logits; "
                            "argmax is unchanged",)
    np.testing.assert_array_equal(g_soft.run_float(x), g_plain.run_float(x))  # bit-exact: the same logits
    np.testing.assert_array_equal(g_soft.run_float(x).argmax(1), _ort(soft, x)[0].argmax(1))
    assert g_soft.replace_layers(g_soft.layers).notes == g_soft.notes


# ----------------------------------------------------------------------------- errors
def _float_graph(nodes: list, extra_inits: list | None = None, name: str = "ops", out: str = "y",
                 out_type: int = TensorProto.FLOAT, n_out: int = 4) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(8, 4)).astype(np.float32), "W"), *(extra_inits or [])]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"), *nodes], name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info(out, out_type, ["N", n_out] if out_type == TensorProto.FLOAT else ["N"])],
        inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def test_every_unsupported_op_type_is_listed_at_once_with_counts_and_hints():
    lstm_w = numpy_helper.from_array(np.zeros((1, 16, 4), np.float32), "lw")
    lstm_r = numpy_helper.from_array(np.zeros((1, 16, 4), np.float32), "lr")
    scale = numpy_helper.from_array(np.array(0.5, np.float32), "s")
    zero = numpy_helper.from_array(np.array(0, np.uint8), "z")
    nodes = [
        helper.make_node("Sigmoid", ["h"], ["s1"], name="sig_a"),
        helper.make_node("Sigmoid", ["s1"], ["s2"], name="sig_b"),
        helper.make_node("Tanh", ["s2"], ["t"], name="tanh"),
        helper.make_node("QLinearMatMul", ["t", "s", "z", "t", "s", "z", "s", "z"], ["q"], name="ql"),
        helper.make_node("DynamicQuantizeLinear", ["q"], ["dq", "dqs", "dqz"], name="dql"),
        helper.make_node("Softmax", ["dq"], ["sm"], name="mid_softmax"),
        helper.make_node("Unsqueeze", ["sm", "ax"], ["u"], name="unsq"),
        helper.make_node("LSTM", ["u", "lw", "lr"], ["", "lh"], name="lstm", hidden_size=4),
        helper.make_node("Squeeze", ["lh", "ax"], ["y"], name="sq"),
        # a constant sub-graph with an op no handler reads: folded, never reported
        helper.make_node("Sqrt", ["s"], ["unused_const"], name="const_sqrt"),
    ]
    ax = numpy_helper.from_array(np.array([0], np.int64), "ax")
    with pytest.raises(UnsupportedError) as e:
        read_onnx(_float_graph(nodes, [lstm_w, lstm_r, scale, zero, ax]))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("'ops': 6 unsupported op types: ")
    for part in ("Sigmoid (2 nodes, first 'sig_a')", "Tanh (1 node, first 'tanh')",
                 "QLinearMatMul (1 node, first 'ql'): the QOperator format (QLinear*/...Integer ops) is not "
                 "supported: quantize in the QDQ format",
                 "DynamicQuantizeLinear (1 node, first 'dql'): dynamic quantization is not supported",
                 "Softmax (1 node, first 'mid_softmax'): Softmax is only supported as the last op",
                 "LSTM (1 node, first 'lstm'): recurrent layers are not supported yet", "Supported: Add"):
        assert part in msg
    listed = msg.split("Supported:")[0]
    assert "Sqrt" not in listed and "Squeeze" not in listed and "Unsqueeze" not in listed


def test_cast_of_an_activation_to_an_integer_is_a_clear_error():
    nodes = [helper.make_node("Cast", ["h"], ["c"], name="to_int", to=TensorProto.INT32),
             helper.make_node("Cast", ["c"], ["y"], name="back", to=TensorProto.FLOAT)]
    with pytest.raises(UnsupportedError, match=r"node 'to_int' \(Cast\): a Cast of an activation to INT32 is not "
                       "supported: only float-to-float casts"):
        read_onnx(_float_graph(nodes))


def test_integer_only_output_and_hostile_names_are_escaped():
    nodes = [helper.make_node("ArgMax", ["h"], ["y"], name="am", axis=0, keepdims=0)]  # over the batch
    with pytest.raises(UnsupportedError, match=r"every graph output \('y'\) is an integer tensor"):
        read_onnx(_float_graph(nodes, out_type=TensorProto.INT64))
    evil = "evil\n\x1b[31mname"
    nodes = [helper.make_node("Sigmoid", ["h"], ["y"], name="x\r\ny")]
    with pytest.raises(UnsupportedError) as e:
        read_onnx(_float_graph(nodes, name=evil))
    msg = str(e.value)
    assert "\n" not in msg and "\r" not in msg and "\x1b" not in msg
    assert msg.startswith(repr(evil) + ": ") and repr("x\r\ny") in msg


def test_a_final_argmax_outputs_the_logits_and_says_so():
    nodes = [helper.make_node("Softmax", ["h"], ["p"], name="sm", axis=1),
             helper.make_node("ArgMax", ["p"], ["y"], name="am", axis=1, keepdims=0)]
    m = _float_graph(nodes, out_type=TensorProto.INT64)
    g = read_onnx(m, precision="ap_fixed<24,12>")
    x = np.random.default_rng(2).uniform(-1, 1, size=(16, 8))
    w = numpy_helper.to_array(m.graph.initializer[0]).astype(np.float64)
    logits = g.run_float(x)
    assert logits.shape == (16, 4) and any("ArgMax" in n and "logits" in n for n in g.notes)
    np.testing.assert_array_equal(logits.argmax(axis=1), (x @ w).argmax(axis=1))  # well separated at 12 bits


def _transposed(nodes_before: list, shape_in: list) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(8, 4)).astype(np.float32)
    graph = helper.make_graph(
        [*nodes_before, helper.make_node("Reshape", ["t", "shp"], ["f"]),
         helper.make_node("MatMul", ["f", "W"], ["y"])],
        "tr", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape_in)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(np.array([-1, 8], np.int64), "shp")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def test_transposes_that_keep_the_element_order_are_reshapes_and_a_cancelling_pair_is_nothing():
    plain = read_onnx(_transposed([helper.make_node("Identity", ["x"], ["t"])], ["N", 2, 4]),
                      precision="ap_fixed<20,8>")
    x = np.random.default_rng(1).uniform(-2, 2, size=(6, 2, 4))
    pair = _transposed([helper.make_node("Transpose", ["x"], ["u"], perm=[0, 2, 1], name="to_nhwc"),
                        helper.make_node("Transpose", ["u"], ["t"], perm=[0, 2, 1], name="back")], ["N", 2, 4])
    np.testing.assert_array_equal(read_onnx(pair, precision="ap_fixed<20,8>").run_float(x), plain.run_float(x))
    unit = _transposed([helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1], name="unit_axes")], ["N", 1, 8])
    plain1 = read_onnx(_transposed([helper.make_node("Identity", ["x"], ["t"])], ["N", 1, 8]),
                       precision="ap_fixed<20,8>")
    x1 = x.reshape(6, 1, 8)
    np.testing.assert_array_equal(read_onnx(unit, precision="ap_fixed<20,8>").run_float(x1), plain1.run_float(x1))
    reorder = _transposed([helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1], name="reorders")],
                          ["N", 2, 4])
    with pytest.raises(UnsupportedError, match="'reorders'.*reorders the elements"):
        read_onnx(reorder)
