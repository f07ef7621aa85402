"""A new layer kind, added the way the README's "Adding a layer kind" says, goes through every stage.

The kind lives in this file only: ``ScalePow2`` (a custom ONNX op ``fpgaflow.test.ScalePow2`` with
attributes ``shift``, ``bits``, ``frac``: ``y = saturate(floor(x * 2**shift))`` to a signed
``bits``-bit type with ``frac`` fractional bits). It is registered as

1. an IR layer kind (``@register_layer``: ``reference()``, shape inference by default),
2. an ONNX handler (``@onnx_handler("ScalePow2")``),
3. a planner (``@register_planner``) onto the existing point-wise engine, which both backends spell,

and then read -> lowered -> planned -> built -> HLS C simulation -> RTL simulation, each compared
with an independent Python-integer computation of the model (not fpga-flow's reference).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnx
import pytest
from hwutil import needs_verilator
from onnx import TensorProto, helper, numpy_helper

from fpga_flow.cli import main
from fpga_flow.examples import QONNX_DOMAIN, QuantSpecF, quant_node
from fpga_flow.fixed import FixedType, Overflow, Rounding, cast
from fpga_flow.hw import PLANNERS, LayerPlan, plan_pointwise, register_planner
from fpga_flow.ir import LAYER_KINDS, Layer, register_layer
from fpga_flow.onnx_io import ONNX_HANDLERS, Reader, onnx_handler
from fpga_flow.onnx_io.registry import attr
from fpga_flow.pipeline import load_and_lower
from fpga_flow.tbdata import EXPECTED_FILE, INPUT_FILE

DOMAIN = "fpgaflow.test"
SHIFT, BITS, FRAC = -1, 6, 3  # y = x / 2 in fixed<6,3> (floor, saturate)


@dataclass(frozen=True, eq=False)
class ScalePow2Layer(Layer):
    """``y = cast(x * 2**shift)`` to ``out_type`` (its rounding and overflow modes)."""

    shift: int = 0

    op: ClassVar[str] = "test_scale_pow2"

    def reference(self, xs: Sequence[np.ndarray], in_types: Sequence[FixedType]) -> np.ndarray:
        # x's mantissa read with the binary point moved by `shift` is exactly x * 2**shift
        return cast(xs[0], in_types[0].frac - self.shift, self.out_type, src_signed=in_types[0].signed)


def read_scale(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node)
    name, origin = r.new_name(node, "scale")
    out_t = FixedType(int(attr(node, "bits", 8)), int(attr(node, "bits", 8)) - int(attr(node, "frac", 0)), True,
                      Rounding.TRN, Overflow.SAT)
    r.add_layer(ScalePow2Layer(name, (src.name,), src.shape, out_t, shift=int(attr(node, "shift", 0)),
                               origin=origin), node.output[0])


def plan_scale(layer: Layer, in_type: FixedType, parallelism: int) -> LayerPlan:
    assert isinstance(layer, ScalePow2Layer)
    return plan_pointwise(layer, in_type, parallelism, relu=False, shift=layer.shift, reason="x * 2^shift")


@pytest.fixture(scope="module")
def new_kind() -> Iterator[None]:
    """Register the kind in the three tables, and take it out again afterwards."""
    register_layer(ScalePow2Layer)
    onnx_handler("ScalePow2")(read_scale)
    register_planner(ScalePow2Layer.op)(plan_scale)
    yield
    del LAYER_KINDS[ScalePow2Layer.op], ONNX_HANDLERS["ScalePow2"], PLANNERS[ScalePow2Layer.op]


W = np.array([[3, 0, -5, 0, 7, 0], [0, 0, 0, 0, 0, 0], [-8, 2, 0, 0, 0, 1], [0, 6, 0, -7, 0, 0]])  # w * 2^-3
B = np.array([5, -3, 0, 9])  # b * 2^-4


def _model(path: Path) -> None:
    """x (6, fixed<8,4>) -> MatMul(W)+B -> ScalePow2(shift=-1, fixed<6,3>) -> output."""
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    quant_node(nodes, inits, "x", "xq", QuantSpecF(8, 4), "in")
    inits.append(numpy_helper.from_array((W.T * 2.0**-3).astype(np.float32), "w_raw"))
    quant_node(nodes, inits, "w_raw", "w", QuantSpecF(5, 3), "w")
    inits.append(numpy_helper.from_array((B * 2.0**-4).astype(np.float32), "b_raw"))
    quant_node(nodes, inits, "b_raw", "b", QuantSpecF(10, 4), "b")
    nodes.append(helper.make_node("MatMul", ["xq", "w"], ["mm"], name="fc"))
    nodes.append(helper.make_node("Add", ["mm", "b"], ["acc"], name="fc_bias"))
    nodes.append(helper.make_node("ScalePow2", ["acc"], ["y"], name="scale", domain=DOMAIN, shift=SHIFT, bits=BITS,
                                  frac=FRAC))
    graph = helper.make_graph(nodes, "scale_net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(DOMAIN, 1),
                                                    helper.make_opsetid(QONNX_DOMAIN, 1)])
    onnx.save(model, path)


def _exact(x_mant: np.ndarray) -> np.ndarray:
    """The model in Python integers: acc = W x + B in units of 2^-7; y = floor(acc * 2^-7 * 2^SHIFT) in
    units of 2^-FRAC, i.e. acc // 2^(7 - SHIFT - FRAC); saturated to BITS signed bits."""
    out = []
    for row in x_mant.tolist():
        ys = []
        for j in range(W.shape[0]):
            acc = sum(int(W[j, i]) * int(row[i]) for i in range(W.shape[1])) + (int(B[j]) << 3)  # units 2^-7
            y = acc // 2 ** (7 - SHIFT - FRAC)
            ys.append(min(max(y, -(2 ** (BITS - 1))), 2 ** (BITS - 1) - 1))
        out.append(ys)
    return np.array(out, dtype=np.int64)


def test_unknown_kind_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "m.onnx"
    _model(path)
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert "ScalePow2" in err and "unsupported op type" in err and "Traceback" not in err


@needs_verilator
@pytest.mark.timeout(900)
def test_new_kind_reads_plans_builds_and_simulates_bit_exact(new_kind: None, tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    _model(path)
    graph = load_and_lower(path)
    kinds = [lay.op for lay in graph.layers]
    assert kinds == ["input", "dense", "test_scale_pow2"]
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, size=(40, 6))
    x[0], x[1], x[2] = 127, -128, 0
    want = _exact(x)
    assert (want == 2 ** (BITS - 1) - 1).any() and (want == -(2 ** (BITS - 1))).any()  # saturation both ways
    got = graph.execute(x, quantized=True)[graph.outputs[0]]
    np.testing.assert_array_equal(got, want)

    stim = tmp_path / "x.npy"
    np.save(stim, x * 2.0**-4)
    out = tmp_path / "out"
    assert main(["build", str(path), "-o", str(out), "-P", "3", "--stimulus", str(stim)]) == 0
    report = json.loads((out / "report.json").read_text())
    stage = next(s for s in report["plan"]["layers"] if s["op"] == "test_scale_pow2")
    assert stage["engine"] == "pointwise" and stage["lanes"] == 3
    tb_in = np.loadtxt(out / "tb_data" / INPUT_FILE, dtype=np.int64, ndmin=2)
    np.testing.assert_array_equal(tb_in, x)
    np.testing.assert_array_equal(np.loadtxt(out / "tb_data" / EXPECTED_FILE, dtype=np.int64, ndmin=2), want)
    assert main(["csim", str(out)]) == 0
    assert main(["cosim", str(out)]) == 0
    cosim = json.loads((out / "report.json").read_text())["cosim"]
    assert cosim["passed"] and cosim["mismatches"] == 0
    assert cosim["ii"] == report["plan"]["totals"]["ii"] and cosim["latency"] == report["plan"]["totals"]["latency"]
