"""Shaped tensors: a feature-map input, Reshape and Flatten as real shape changes (row-major NCHW
order), exact against an independent interpreter; the hardware treats them as aliases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fpga_flow.errors import UnsupportedError
from fpga_flow.examples import QuantSpecF, quant_node
from fpga_flow.hw import plan_design
from fpga_flow.ir import InputLayer, ReshapeLayer
from fpga_flow.onnx_io import read_onnx
from fpga_flow.pipeline import lower
from tests.exact_onnx import run_exact, to_float


def shaped_model(flatten: bool = True, quant_first: bool = True) -> onnx.ModelProto:
    """x (N, 2, 3, 4) -> [Quant] -> Reshape (N, 6, 4) -> Flatten -> [Quant] -> MatMul (24x5) + b."""
    rng = np.random.default_rng(11)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    cur = "x"
    if quant_first:
        quant_node(nodes, inits, "x", "xq", QuantSpecF(8, 4), "in")
        cur = "xq"
    inits.append(numpy_helper.from_array(np.array([-1, 6, 4], np.int64), "shape"))
    nodes.append(helper.make_node("Reshape", [cur, "shape"], ["r"], name="reshape"))
    cur = "r"
    if flatten:
        nodes.append(helper.make_node("Flatten", [cur], ["f"], name="flatten", axis=1))
        cur = "f"
    if not quant_first:
        quant_node(nodes, inits, cur, "fq", QuantSpecF(8, 4), "in")
        cur = "fq"
    w = rng.integers(-60, 60, size=(24, 5)) * 2.0**-6
    w[rng.random(w.shape) < 0.6] = 0.0
    inits.append(numpy_helper.from_array(w.astype(np.float32), "w_raw"))
    quant_node(nodes, inits, "w_raw", "w", QuantSpecF(8, 6), "w")
    inits.append(numpy_helper.from_array((rng.integers(-99, 99, size=5) * 2.0**-8).astype(np.float32), "b_raw"))
    quant_node(nodes, inits, "b_raw", "b", QuantSpecF(12, 8), "b")
    nodes.append(helper.make_node("MatMul", [cur, "w"], ["mm"], name="fc"))
    nodes.append(helper.make_node("Add", ["mm", "b"], ["y"], name="fc_bias"))
    g = helper.make_graph(nodes, "shaped", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2, 3, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 5])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                               helper.make_opsetid("qonnx.custom_op.general", 1)])


@pytest.mark.parametrize("quant_first", [True, False], ids=["quant-then-reshape", "reshape-then-quant"])
def test_feature_map_input_reshape_and_flatten_are_exact(quant_first: bool) -> None:
    model = shaped_model(quant_first=quant_first)
    g = read_onnx(model)
    inp = g.layers[0]
    assert isinstance(inp, InputLayer) and inp.shape == (2, 3, 4)
    reshapes = [lay for lay in g.layers if isinstance(lay, ReshapeLayer)]
    assert [r.shape for r in reshapes] == [(6, 4), (24,)]
    assert all(r.out_type == inp.out_type for r in reshapes)
    x = np.random.default_rng(0).uniform(-9, 9, size=(17, 2, 3, 4))
    x[0, 0, 0, :3] = [0.03125, 100.0, -100.0]
    exact = to_float(run_exact(model, x))
    for graph in (g, lower(g)):
        vals = graph.execute(x)
        assert vals[inp.name].shape == (17, 2, 3, 4)
        assert vals[reshapes[0].name].shape == (17, 6, 4)
        np.testing.assert_array_equal(vals[reshapes[0].name].reshape(17, -1), vals[inp.name].reshape(17, -1))
        np.testing.assert_array_equal(graph.run_float(x), exact)
        # flat (N, 24) input means the same samples in row-major order
        np.testing.assert_array_equal(graph.run_float(x.reshape(17, -1)), exact)


def test_reshapes_are_aliases_in_the_plan() -> None:
    g = lower(read_onnx(shaped_model()))
    plan = plan_design(g, 2)
    assert [p.engine for p in plan.layers] == ["alias", "alias", "csr"]
    alias = plan.layers[0]
    assert alias.in_buffer is alias.out_buffer is plan.buffers[0] and alias.cost.lut == 0
    assert plan.layers[2].in_buffer is plan.buffers[0] and len(plan.buffers) == 2


def test_matmul_on_a_feature_map_asks_for_a_flatten() -> None:
    model = shaped_model(flatten=False)
    with pytest.raises(UnsupportedError, match="Flatten"):
        read_onnx(model)


def test_reshape_that_drops_the_batch_dimension_is_refused(tmp_path: Path) -> None:
    model = shaped_model()
    for init in model.graph.initializer:
        if init.name == "shape":
            init.CopyFrom(numpy_helper.from_array(np.array([6, 4, -1], np.int64), "shape"))
    with pytest.raises(UnsupportedError, match="keeping the batch"):
        read_onnx(model)
