"""Malformed models found by the fuzz campaign, one by one: each is a one-line ModelError naming
the file and the tensor or node, never a traceback."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from fpga_flow.errors import ModelError
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.onnx_io import read_onnx


def _model() -> onnx.ModelProto:
    return sparse_mlp(6, [LayerSpec(4), LayerSpec(3, relu=False, act=None)], seed=4)


def _init(m: onnx.ModelProto, pred) -> onnx.TensorProto:  # noqa: ANN001
    return next(t for t in m.graph.initializer if pred(t))


def _read(m: onnx.ModelProto, tmp_path) -> str:
    p = tmp_path / "m.onnx"
    p.write_bytes(m.SerializeToString())
    with pytest.raises(ModelError) as e:
        read_onnx(p)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg
    return msg


def test_nan_in_a_quantized_weight(tmp_path):
    m = _model()
    t = _init(m, lambda t: len(t.dims) == 2)
    a = numpy_helper.to_array(t).copy()
    a[0, 0] = np.nan
    t.CopyFrom(numpy_helper.from_array(a, t.name))
    assert "NaN or infinity" in _read(m, tmp_path) and t.name in _read(m, tmp_path)


def test_data_that_does_not_match_the_dims(tmp_path):
    m = _model()
    t = _init(m, lambda t: len(t.dims) == 2)
    t.dims[0] -= 1  # more data than the dims hold (onnx.checker only catches too little)
    assert "does not match its type and dims" in _read(m, tmp_path)


def test_complex_and_unknown_data_types(tmp_path):
    m = _model()
    t = _init(m, lambda t: len(t.dims) == 2)
    t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.complex64), t.name))
    assert "complex values" in _read(m, tmp_path)
    m = _model()
    _init(m, lambda t: len(t.dims) == 2).data_type = 99
    assert "unknown data type 99" in _read(m, tmp_path)


def test_quant_attributes_of_the_wrong_type(tmp_path):
    m = _model()
    q = next(n for n in m.graph.node if n.op_type == "Quant")
    q.attribute.remove(next(a for a in q.attribute if a.name == "narrow"))
    q.attribute.append(helper.make_attribute("narrow", [0, 1]))
    assert "'narrow' must be one int" in _read(m, tmp_path)
    m = _model()
    q = next(n for n in m.graph.node if n.op_type == "Quant")
    q.attribute.remove(next(a for a in q.attribute if a.name == "rounding_mode"))
    q.attribute.append(helper.make_attribute("rounding_mode", b"\xff\xfe"))
    assert "not valid UTF-8" in _read(m, tmp_path)


def test_a_non_integer_bit_width(tmp_path):
    m = _model()
    q = next(n for n in m.graph.node if n.op_type == "Quant")
    t = _init(m, lambda t: t.name == q.input[3])
    t.CopyFrom(numpy_helper.from_array(np.array(4.5, np.float32), t.name))
    assert "bitwidth" in _read(m, tmp_path)


def test_the_graph_input_as_the_output(tmp_path):
    m = _model()
    m.graph.output[0].name = m.graph.input[0].name
    assert "is the graph input itself" in _read(m, tmp_path)


def _reshape_model(batch: int | str) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.eye(4, 2, dtype=np.float32), "w")
    shape = numpy_helper.from_array(np.array([1, -1], np.int64), "shape")
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "w"], ["y"], name="mm")]
    g = helper.make_graph(nodes, "r", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [batch, 2, 2])],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [batch, 2])], [w, shape])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def test_a_literal_reshape_to_one_row_merges_the_batch(tmp_path):
    assert "merges the samples of a batch" in _read(_reshape_model("N"), tmp_path)
    p = tmp_path / "one.onnx"
    p.write_bytes(_reshape_model(1).SerializeToString())
    assert read_onnx(p).inputs[0].shape == (2, 2)  # with a batch of 1 it is the per-sample flatten


def test_an_empty_zero_point(tmp_path):
    m = _model()
    q = next(n for n in m.graph.node if n.op_type == "Quant")
    t = _init(m, lambda t: t.name == q.input[2])
    t.CopyFrom(numpy_helper.from_array(np.zeros((0,), np.float32), t.name))
    assert "zero point is an empty tensor" in _read(m, tmp_path)


def test_a_declared_output_shape_that_is_not_computed(tmp_path):
    m = _model()
    dims = m.graph.output[0].type.tensor_type.shape.dim
    dims[-1].dim_value = 5  # the last layer has 3 outputs
    assert "is declared (N, 5) but the graph computes (N, 3)" in _read(m, tmp_path)


def test_a_transpose_with_a_bad_perm_on_a_weight(tmp_path):
    for perm in ([0, 0], [2, 0], [1, 0, 2]):
        m = _model()
        i = next(k for k, n in enumerate(m.graph.node) if n.name == "fc0_w_quant")
        m.graph.node.insert(i, helper.make_node("Transpose", ["fc0_w"], ["fc0_wt"], name="t", perm=perm))
        m.graph.node[i + 1].input[0] = "fc0_wt"
        msg = _read(m, tmp_path)
        assert "node 't' (Transpose): perm" in msg and "is not a permutation of the 2 axes" in msg


def test_an_integer_rounding_mode(tmp_path):
    m = _model()
    q = next(n for n in m.graph.node if n.op_type == "Quant")
    q.attribute.remove(next(a for a in q.attribute if a.name == "rounding_mode"))
    q.attribute.append(helper.make_attribute("rounding_mode", 1))
    assert "'rounding_mode' must be one string" in _read(m, tmp_path)
