"""Quantized models written by the real tools (Brevitas QONNX / QCDQ, onnxruntime quantize_static)
computed exactly by the independent interpreter (tests/exact_onnx.py) agree with the tools' own
runtimes (qonnx ``execute_onnx`` for ``Quant`` graphs, onnxruntime for QDQ graphs) to within float32
rounding, and each model really is what its builder claims.

onnxruntime is run two ways. With graph optimizations disabled it executes every node as the ONNX
specification defines it (in float32): that is the reference the exact values must match. Its
default session (level ALL) rewrites QDQ graphs before running them (float Gemm biases quantized
to int32 with scale s_x * s_w at level BASIC, DQ -> Gemm/Conv -> Q fused into QGemm/QLinearConv
integer kernels at level EXTENDED), which computes something measurably different from the model
(several output quanta on some samples): for that session only the predicted class is compared.
"""

from __future__ import annotations

import functools
import math
import warnings
from fractions import Fraction

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from onnx import numpy_helper as nh

from tests.exact_onnx import exact_float_outputs, run_exact, to_float
from tests.thirdparty_quant import ALL_BUILDERS, quant_params

NAMES = list(ALL_BUILDERS)
QDQ_NAMES = [n for n in NAMES if "qonnx" not in n]
QD = "qonnx.custom_op.general"
#: samples run through the tools' own executors (the reader's exactness uses all 64)
RUNTIME_SAMPLES = 24


def _built(name: str):  # noqa: ANN202
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ALL_BUILDERS[name]()


@functools.cache
def _exact(name: str) -> np.ndarray:
    """The exact outputs of the builder's test inputs (computed once per model: Fractions are slow)."""
    b = _built(name)
    return exact_float_outputs(b.model, b.x)


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def _session(model: onnx.ModelProto, optimized: bool) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 3  # Brevitas lists its biases as graph inputs too: ORT warns about each
    if not optimized:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _run_per_sample(run, x: np.ndarray) -> np.ndarray:  # noqa: ANN001
    # the Brevitas exports fix the batch dimension to 1 (the export sample's shape): run one by one
    return np.concatenate([np.asarray(run(x[i : i + 1]), dtype=np.float64) for i in range(len(x))])


def _reference(model: onnx.ModelProto, x: np.ndarray, optimized: bool = False) -> np.ndarray:
    if "Quant" in _ops(model):
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx
        from qonnx.transformation.infer_shapes import InferShapes

        mw = ModelWrapper(model).transform(InferShapes())
        i, o = mw.graph.input[0].name, mw.graph.output[0].name
        return _run_per_sample(lambda v: execute_onnx(mw, {i: v})[o], x)
    s = _session(model, optimized)
    i = s.get_inputs()[0].name
    return _run_per_sample(lambda v: s.run(None, {i: v})[0], x)


def _is_pow2(v: float) -> bool:
    return v > 0 and math.frexp(v)[0] == 0.5


# ------------------------------------------------------------------------------ agreement


@pytest.mark.parametrize("name", NAMES)
def test_exact_interpreter_agrees_with_the_tools_runtime(name):
    b = _built(name)
    n = RUNTIME_SAMPLES  # the tools' executors run one sample at a time (Brevitas fixes the batch to 1): slow
    exact = _exact(name)[:n]
    ref = _reference(b.model, b.x[:n])
    assert exact.shape == ref.shape == (n, 10)
    err = np.abs(exact - ref)
    tol = 1e-4 * max(1.0, float(np.abs(exact).max()))
    bad = int((err > tol).any(axis=1).sum())
    diff = int((exact.argmax(1) != ref.argmax(1)).sum())
    acc = (_exact(name).argmax(1) == b.y).mean()
    print(f"{name}: max |exact - runtime| = {err.max():.3g} (tol {tol:.3g}), {bad} samples over tol, "
          f"{diff} argmax differences, exact accuracy {acc:.3f}")
    assert err.max() <= tol
    assert diff <= 0.02 * n
    assert acc > 0.8  # a sensibly trained model
    assert b.accuracy is not None and b.accuracy > 0.8


@pytest.mark.parametrize("name", QDQ_NAMES)
def test_default_onnxruntime_session_predicts_the_same_classes(name):
    """ORT's default session runs its fused integer kernels (see the module docstring): values differ by
    up to several output units here (AVX2 without VNNI), the predicted classes mostly agree (>= 90 %)."""
    b = _built(name)
    exact = _exact(name)[:RUNTIME_SAMPLES]
    ref = _reference(b.model, b.x[:RUNTIME_SAMPLES], optimized=True)
    diff = int((exact.argmax(1) != ref.argmax(1)).sum())
    print(f"{name} (ORT default session): max |exact - ort| = {np.abs(exact - ref).max():.3g}, "
          f"{diff} argmax differences")
    assert diff <= 0.25 * RUNTIME_SAMPLES  # a few on this CPU; none where the integer kernels agree


def test_builders_are_deterministic_and_cached():
    b = _built("brevitas_qcdq_mlp_w8")
    assert _built("brevitas_qcdq_mlp_w8") is b
    assert b.x.dtype == np.float32 and b.x.shape == (64, 64)
    assert _built("ort_qdq_cnn").x.shape == (64, 1, 8, 8)


# ---------------------------------------------------------------------------- structure


@pytest.mark.parametrize("name", NAMES)
def test_some_scale_is_not_a_power_of_two(name):
    scales = [float(v) for _, _, s, _ in quant_params(_built(name).model) for v in np.ravel(s)]
    assert scales and any(not _is_pow2(v) for v in scales)


@pytest.mark.parametrize("name", [n for n in NAMES if "qonnx" in n])
def test_brevitas_qonnx_models_use_quant_nodes(name):
    m = _built(name).model
    ops = _ops(m)
    assert "Quant" in ops and "QuantizeLinear" not in ops and "DequantizeLinear" not in ops
    assert all(n.domain == QD for n in m.graph.node if n.op_type == "Quant")
    params = quant_params(m)
    if name.endswith("perchannel"):
        w = [s for _, n, s, _ in params if "weight" in n]
        assert w[0].shape == (32, 1) and len(set(w[0].ravel())) > 1
    if name.endswith("int32bias"):
        consts = {t.name: nh.to_array(t) for t in m.graph.initializer}
        quant_out = {n.output[0]: n for n in m.graph.node if n.op_type == "Quant"}
        gemms = [n for n in m.graph.node if n.op_type == "Gemm"]
        bias_q = [quant_out[g.input[2]] for g in gemms if g.input[2] in quant_out]
        assert len(bias_q) == 2 and all(float(consts[q.input[3]]) == 32.0 for q in bias_q)


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("brevitas_qcdq")])
def test_brevitas_qcdq_models_use_qdq_and_clip(name):
    m = _built(name).model
    ops = _ops(m)
    assert "Quant" not in ops and "QuantizeLinear" in ops and "DequantizeLinear" in ops and "Clip" in ops
    consts = {t.name: nh.to_array(t) for t in m.graph.initializer}
    dq_inputs = {n.input[0] for n in m.graph.node if n.op_type == "DequantizeLinear"}
    clips = [n for n in m.graph.node if n.op_type == "Clip"]
    # the weights are int8 initializers clipped to the narrow range, then dequantized
    bits = 4 if name.endswith("w4") else 8
    for c in clips:
        assert c.output[0] in dq_inputs
        assert consts[c.input[0]].dtype == np.int8
        assert (int(consts[c.input[1]]), int(consts[c.input[2]])) == (-(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1)


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("ort")])
def test_ort_models_are_qdq_with_the_requested_parameters(name):
    m = _built(name).model
    ops = _ops(m)
    assert "Quant" not in ops and "QuantizeLinear" in ops and "DequantizeLinear" in ops
    params = quant_params(m)
    act = [(s, z) for op, _, s, z in params if op == "QuantizeLinear"]
    if "symact" in name:
        assert all(z.dtype == np.int8 and not z.any() for _, z in act)
    else:
        assert all(z.dtype == np.uint8 for _, z in act)
        assert any(z.any() for _, z in act)  # asymmetric: some activation has a nonzero zero point
    weight_dq = [(s, z) for op, n, s, z in params if op == "DequantizeLinear" and "weight" in n]
    assert all(z.dtype == np.int8 for _, z in weight_dq)
    if "perchannel" in name:
        assert weight_dq[0][0].shape == (32,)
        assert all(helper.get_attribute_value(a) == 0 for n in m.graph.node if n.op_type == "DequantizeLinear"
                   and "weight" in n.input[0] for a in n.attribute if a.name == "axis")
    else:
        assert all(s.size == 1 for s, _ in weight_dq)
    # the biases are int32 initializers dequantized with scale s_x * s_w
    assert any(z is not None and z.dtype == np.int32 for op, _, _, z in params if op == "DequantizeLinear")


@pytest.mark.parametrize("name", ["ort_qdq_cnn", "brevitas_qonnx_cnn", "brevitas_qcdq_cnn"])
def test_cnn_models_have_an_unpadded_conv_and_a_maxpool(name):
    m = _built(name).model
    ops = _ops(m)
    assert "MaxPool" in ops and "Flatten" in ops
    conv = next(n for n in m.graph.node if n.op_type == "Conv")
    pads = next((helper.get_attribute_value(a) for a in conv.attribute if a.name == "pads"), [0, 0, 0, 0])
    assert list(pads) == [0, 0, 0, 0]


# ------------------------------------------------------ the interpreter's ops, one by one


def test_quant_matches_qonnx_int_quant_for_every_mode():
    from qonnx.custom_op.general.quant import quant as qonnx_quant

    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-3, 3, 200), np.arange(-40, 41) * 0.125])  # ties at scale 0.25
    for scale in (np.float64(0.25), np.float64(0.0123456789), rng.uniform(0.01, 0.5, (x.size,))):
        for bits, signed, narrow in [(8, 1, 0), (8, 1, 1), (4, 0, 0), (4, 0, 1), (3, 1, 1), (1, 1, 0)]:
            for mode in ("ROUND", "HALF_EVEN", "FLOOR", "CEIL", "UP", "DOWN", "HALF_UP", "HALF_DOWN"):
                want = qonnx_quant(x, scale, np.float64(0), np.float64(bits), signed, narrow, mode)
                got = _single("Quant", x, [np.asarray(scale), np.float32(0), np.float32(bits)],
                              {"signed": signed, "narrow": narrow, "rounding_mode": mode}, domain=QD)
                np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, err_msg=f"{bits} {signed} {narrow} {mode}")


def _single(op: str, x: np.ndarray, params: list, attrs: dict, domain: str = "") -> np.ndarray:
    """Run one node exactly: x is the graph input, params become initializers (float64 kept)."""
    inits = [nh.from_array(np.asarray(p), f"p{i}") for i, p in enumerate(params)]
    node = helper.make_node(op, ["x"] + [f"p{i}" for i in range(len(params))], ["y"], domain=domain, **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, None)],
                          [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)], inits)
    return to_float(run_exact(helper.make_model(g), x))


@pytest.mark.parametrize("zp_dtype", [np.int8, np.uint8, np.int16, np.uint16])
@pytest.mark.parametrize("per_axis", [False, True])
def test_quantize_dequantize_linear_match_onnxruntime(zp_dtype, per_axis):
    rng = np.random.default_rng(5)
    info = np.iinfo(zp_dtype)
    x = rng.uniform(-1, 1, (6, 4, 3)).astype(np.float32) * (info.max - info.min) * 0.02
    x[0, 0] = [1e9, -1e9, 0.0]  # saturation
    # float per-axis scales; per tensor a power of two, so that exact ties are float ties too
    scale = (rng.uniform(0.003, 0.03, 4) if per_axis else np.array(2.0**-6)).astype(np.float32)
    zp = rng.integers(info.min // 4, info.max // 4 + 1, scale.shape).astype(zp_dtype)
    if not per_axis:
        x[1, :, 0] = (np.arange(4) - 1.5) * scale  # ties: round half to even
    inits = [nh.from_array(scale, "s"), nh.from_array(zp, "z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=1),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=1)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, x.shape)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    want = _session(m, optimized=False).run(None, {"x": x})[0].astype(np.float64)
    got = exact_float_outputs(m, x)
    np.testing.assert_allclose(got, want, rtol=2e-7, atol=0)
    # and the integer codes saturate to the type's range
    q = run_exact(_with_output(m, "q", onnx.helper.np_dtype_to_tensor_dtype(np.dtype(zp_dtype))), x)
    assert min(q.ravel()) == info.min and max(q.ravel()) == info.max


def _with_output(m: onnx.ModelProto, name: str, elem: int) -> onnx.ModelProto:
    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    del m2.graph.output[:]
    m2.graph.output.append(helper.make_tensor_value_info(name, elem, None))
    return m2


def test_int32_dequantize_clip_conv_and_maxpool_match_onnxruntime():
    rng = np.random.default_rng(9)
    x = rng.uniform(-1, 1, (3, 2, 7, 6)).astype(np.float32)
    w = rng.integers(-100, 100, (4, 2, 3, 2)).astype(np.int32)
    inits = [nh.from_array(w, "w"), nh.from_array(np.float32(0.0031), "ws"), nh.from_array(np.int32(3), "wz"),
             nh.from_array(np.float32(-0.2), "lo"), nh.from_array(np.float32(0.45), "hi"),
             nh.from_array(np.float32([0.1, -0.3, 0.0, 0.7]), "b")]
    nodes = [helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wf"]),
             helper.make_node("Conv", ["x", "wf", "b"], ["c"], pads=[1, 0, 2, 1], strides=[2, 1]),
             helper.make_node("Clip", ["c", "lo", ""], ["cl"]),
             helper.make_node("Clip", ["cl", "", "hi"], ["ch"]),
             helper.make_node("MaxPool", ["ch"], ["p"], kernel_shape=[2, 3], strides=[2, 2], pads=[0, 1, 1, 1],
                              ceil_mode=1),
             helper.make_node("Flatten", ["p"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    want = _session(m, optimized=False).run(None, {"x": x})[0].astype(np.float64)
    got = exact_float_outputs(m, x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_float_constants_are_their_exact_dyadic_values():
    x = np.array([[0.1]], dtype=np.float32)
    y = run_exact(_identity_model(), x)
    assert y[0, 0] == Fraction(float(np.float32(0.1))) and y[0, 0] != Fraction(1, 10)


def _identity_model() -> onnx.ModelProto:
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])])
    return helper.make_model(g)


# ------------------------------------------------------------------------------ fpga-flow's reader
@pytest.mark.parametrize("name", NAMES)
def test_the_reader_is_bit_exact_on_what_the_tools_write(name):
    """Every model (float scales, zero points, per-channel weights, int32 biases, Clip ranges,
    QONNX and QDQ) read by fpga-flow computes exactly what the independent interpreter computes."""
    from fpga_flow.onnx_io import read_onnx
    from fpga_flow.pipeline import lower

    b = _built(name)
    x = np.asarray(b.x, dtype=np.float64)
    graph = lower(read_onnx(b.model))
    got = graph.run_float(x)
    want = _exact(name).reshape(got.shape)
    np.testing.assert_array_equal(got, want)
    assert graph.output_dequant(graph.outputs[0]) is not None  # integers on the datapath
