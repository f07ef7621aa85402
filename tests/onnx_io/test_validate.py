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
