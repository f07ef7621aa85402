"""The overflow recorder, the per-layer range audit and the float comparison, against exact counts.

Every expected count is computed independently: the float inputs as ``Fraction``, sums of Python
integers, rounding with Python's ``round`` (half to even = ``RND_CONV``) or ``math.floor`` (``TRN``),
and the type's range from its width; the float model's outputs in numpy on values whose float32 sums
are exact.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fpga_flow.analysis.numerics import (
    QONNX_SAMPLE_LIMIT,
    FloatComparison,
    audit_ranges,
    compare_with_float,
)
from fpga_flow.fixed import (
    FixedType,
    Overflow,
    Rounding,
    cast,
    cast_ratio,
    from_float,
    overflow_label,
    record_overflows,
)
from fpga_flow.ir import DenseLayer, DenseWeights, Graph, InputLayer, QuantizeLayer, ReluLayer
from fpga_flow.ir.accum import naive_accumulator_type
from fpga_flow.onnx_io.reader import read_onnx


# ------------------------------------------------------------ exact reference
def _round(v: Fraction, rounding: Rounding) -> int:
    if rounding is Rounding.RND_CONV:
        return round(v)  # Fraction.__round__: half to even
    if rounding is Rounding.TRN:
        return math.floor(v)
    raise AssertionError(rounding)


def _ref_cast(v: Fraction, t: FixedType) -> tuple[int, bool]:
    """``v`` in ``t`` as a mantissa, and whether it was out of range after rounding."""
    r = _round(v * Fraction(2) ** t.frac, t.rounding)
    lo = -(2 ** (t.width - 1)) if t.signed else 0
    hi = lo + 2**t.width - 1
    if lo <= r <= hi:
        return r, False
    if t.overflow is Overflow.WRAP:
        return (r - lo) % 2**t.width + lo, True
    assert t.overflow is Overflow.SAT
    return min(max(r, lo), hi), True


def _value(m: int, t: FixedType) -> Fraction:
    return Fraction(m) / Fraction(2) ** t.frac


# ----------------------------------------------------------------- the recorder
T83_SAT = FixedType(8, 3, True, Rounding.RND_CONV, Overflow.SAT)  # [-4, 4 - 1/32], LSB 1/32


@pytest.mark.parametrize("overflow", [Overflow.SAT, Overflow.WRAP])
@pytest.mark.parametrize("rounding", [Rounding.RND_CONV, Rounding.TRN])
def test_from_float_counts_exactly_the_values_out_of_range_after_rounding(rounding: Rounding,
                                                                          overflow: Overflow) -> None:
    t = FixedType(8, 3, True, rounding, overflow)
    lsb = 1 / 32
    edges = [4 - lsb, 4 - lsb + lsb / 4, 4 - lsb / 2, 4 - lsb + 0.9 * lsb, 4.0, -4.0, -4 - lsb / 4, -4 - lsb / 2,
             -4 - lsb, 100.0, -100.0, 0.0, 1.5]
    rng = np.random.default_rng(3)
    x = np.array(edges + list(rng.uniform(-6, 6, size=200)))
    with record_overflows() as rec:
        got = from_float(x, t)
    ref = [_ref_cast(Fraction(float(v)), t) for v in x]
    n_out = sum(o for _, o in ref)
    assert [int(m) for m in got] == [m for m, _ in ref]
    c = rec.count("")
    assert (c.saturated, c.wrapped) == ((n_out, 0) if overflow is Overflow.SAT else (0, n_out))
    assert n_out > 50  # the test can fail


def test_rounding_to_exactly_max_is_not_an_overflow_rounding_past_it_is() -> None:
    lsb = 1 / 32
    with record_overflows() as rec:
        with overflow_label("to_max"):  # RND_CONV: 127.25 -> 127, TRN: 127.9 -> 127, -128.5 -> -128 (even)
            from_float(np.array([4 - lsb + lsb / 4, -4 - lsb / 2]), T83_SAT)
            from_float(np.array([4 - lsb + 0.9 * lsb]), T83_SAT.with_modes(Rounding.TRN))
        with overflow_label("past_max"):  # 127.5 -> 128 (even), TRN: -128.1 -> -129
            from_float(np.array([4 - lsb / 2]), T83_SAT)
            from_float(np.array([-4 - lsb / 10]), T83_SAT.with_modes(Rounding.TRN))
    assert rec.count("to_max").total == 0
    assert rec.count("past_max").saturated == 2 and rec.count("past_max").wrapped == 0
    assert list(rec.counts()) == ["past_max"]


@pytest.mark.parametrize("overflow", [Overflow.WRAP, Overflow.SAT, Overflow.SAT_ZERO, Overflow.SAT_SYM])
@pytest.mark.parametrize("shift", [-3, 0, 5])
def test_cast_counts_elements_whatever_the_shift_and_mode(overflow: Overflow, shift: int) -> None:
    t = FixedType(6, 2, True, Rounding.RND_CONV, overflow)  # mantissas [-32, 31], frac 4
    src_frac = t.frac + shift
    rng = np.random.default_rng(7 + shift)
    m = rng.integers(-(2 ** (8 + max(shift, 0))), 2 ** (8 + max(shift, 0)), size=(40, 7))
    m[0, :3] = [-32 << max(shift, 0), 31 << max(shift, 0), -32 << max(shift, 0)]  # exactly lo / hi
    with record_overflows() as rec:
        cast(m, src_frac, t)
    rounded = [_round(Fraction(int(v)) / Fraction(2) ** shift, t.rounding) for v in m.ravel()]
    want = sum(not (-32 <= r <= 31) for r in rounded)
    if overflow is Overflow.SAT_SYM:  # a signed source on the most negative code becomes -max
        want += sum(r == -32 for r in rounded)
    c = rec.count("")
    assert (c.wrapped, c.saturated) == ((want, 0) if overflow is Overflow.WRAP else (0, want))
    assert want > 0


def test_cast_ratio_counts_and_labels_nest() -> None:
    t = FixedType(5, 5, True, Rounding.RND_CONV, Overflow.SAT)  # integers [-16, 15]
    m = np.array([-200, -99, -97, 60, 61, 62, 94, 95])  # / 4: 15 and 15.25 stay, 15.5 ties up to 16: 6 saturate
    want = sum(not (-16 <= _round(Fraction(int(v), 4), t.rounding) <= 15) for v in m)
    with record_overflows() as outer:
        with overflow_label("a"):
            with record_overflows() as inner:
                cast_ratio(m, 0, 4, t)
                with overflow_label("b"):
                    cast_ratio(m, 0, 4, t)
            from_float(np.array([99.0]), t)
    assert inner.count("a").saturated == want and inner.count("b").saturated == want
    assert outer.count("a").saturated == want + 1 and outer.total.saturated == 2 * want + 1
    assert want == 6


def test_recorder_off_counts_nothing_and_representable_is_never_counted() -> None:
    x = np.linspace(-20, 20, 101)
    with record_overflows() as rec:
        inside = from_float(x, T83_SAT)
        T83_SAT.representable(np.array([10**6, -(10**6)]), 0)
    n = rec.total.saturated
    outside = from_float(x, T83_SAT)  # after the block: no recorder, nothing counted
    assert np.array_equal(inside, outside)
    assert rec.total.saturated == n == sum(_ref_cast(Fraction(float(v)), T83_SAT)[1] for v in x)


# ------------------------------------------------------------------ range audit
def _graph(overflow: Overflow) -> Graph:
    """input fixed<6,3> -> dense 4x3 out fixed<7,4> -> relu -> quantize ufixed<5,2>, all RND_CONV."""
    in_t = FixedType(6, 3, True, Rounding.RND_CONV, overflow)
    w_t = FixedType(6, 2, True, Rounding.RND_CONV, Overflow.SAT)
    b_t = FixedType(8, 4, True, Rounding.RND_CONV, Overflow.SAT)
    out_t = FixedType(7, 4, True, Rounding.RND_CONV, overflow)
    q_t = FixedType(5, 2, False, Rounding.RND_CONV, overflow)
    w = np.array([[15, -16, 7, 3], [-9, 12, 15, -16], [1, 2, -3, 4]])
    b = np.array([40, -100, 3])
    inp = InputLayer("x", (), (4,), in_t, origin="input0")
    tmp = DenseLayer("fc", ("x",), (3,), w_t, n_in=4, n_out=3, weights=DenseWeights(w), weight_type=w_t, bias=b,
                     bias_type=b_t, acc_type=w_t)
    acc = naive_accumulator_type(tmp, in_t)
    fc = DenseLayer("fc", ("x",), (3,), out_t, n_in=4, n_out=3, weights=DenseWeights(w), weight_type=w_t, bias=b,
                    bias_type=b_t, acc_type=acc, origin="Gemm_0")
    relu = ReluLayer("relu", ("fc",), (3,), out_t)
    q = QuantizeLayer("q", ("relu",), (3,), q_t)
    return Graph("g", (inp, fc, relu, q), ("q",)).verify()


def _exact_counts(g: Graph, x: np.ndarray) -> tuple[dict[str, int], list[list[int]]]:
    """Out-of-range counts per layer and the final mantissas, in Python integers and fractions."""
    inp, fc, _relu, q = g.layers
    assert isinstance(fc, DenseLayer)
    w = fc.weights.to_dense()
    counts = {"x": 0, "fc": 0, "relu": 0, "q": 0}
    finals = []
    for row in x:
        xm = []
        for v in row:
            m, o = _ref_cast(Fraction(float(v)), inp.out_type)
            xm.append(m)
            counts["x"] += o
        ys = []
        for j in range(fc.rows):
            s = _value(int(fc.bias[j]), fc.bias_type) + sum(
                (_value(int(w[j, i]), fc.weight_type) * _value(xm[i], inp.out_type) for i in range(4)), Fraction(0))
            m, o = _ref_cast(s, fc.out_type)
            counts["fc"] += o
            r = max(m, 0)  # relu into the same type: never out of range
            m2, o2 = _ref_cast(_value(r, fc.out_type), q.out_type)
            counts["q"] += o2
            ys.append(m2)
        finals.append(ys)
    return counts, finals


@pytest.mark.parametrize("overflow", [Overflow.WRAP, Overflow.SAT])
def test_audit_counts_every_layer_exactly(overflow: Overflow) -> None:
    g = _graph(overflow)
    rng = np.random.default_rng(11)
    x = np.round(rng.uniform(-7, 7, size=(64, 4)) * 64) / 64
    x[0] = [3.9375, 3.96875, -4.0, -4.015625]  # 3.9375 = max; 3.96875 ties up to 4 (counted); -4.015625 -> -4
    audit = audit_ranges(g, x)
    counts, finals = _exact_counts(g, x)
    key = "wrapped" if overflow is Overflow.WRAP else "saturated"
    other = "saturated" if overflow is Overflow.WRAP else "wrapped"
    assert [(r.name, getattr(r, key), getattr(r, other)) for r in audit.layers] == [
        (n, counts[n], 0) for n in ("x", "fc", "relu", "q")]
    assert all(counts[n] > 0 for n in ("x", "fc", "q"))  # every kind of cast overflowed
    assert [r.values for r in audit.layers] == [64 * 4, 64 * 3, 64 * 3, 64 * 3]
    assert [r.origin for r in audit.layers] == ["input0", "Gemm_0", "", ""]
    assert audit.layers[1].out_type == str(g.layer("fc").out_type)
    assert getattr(audit, key) == sum(counts.values()) and getattr(audit, other) == 0
    flagged = audit.wrapped_layers() if overflow is Overflow.WRAP else audit.saturated_layers()
    assert [r.name for r in flagged] == ["x", "fc", "q"]
    assert audit.mantissas["q"].tolist() == finals
    assert np.array_equal(audit.y_fixed, g.run_float(x))
    d = audit.to_dict()
    assert d[key] == sum(counts.values()) and d["samples"] == 64 and d[f"{key}_layers"] == ["x", "fc", "q"]
    assert d["layers"][1] == {"name": "fc", "origin": "Gemm_0", "out_type": str(g.layer("fc").out_type),
                              "values": 192, "saturated": counts["fc"] if key == "saturated" else 0,
                              "wrapped": counts["fc"] if key == "wrapped" else 0}


def test_audit_equals_execute_and_in_range_stimulus_is_clean() -> None:
    g = _graph(Overflow.WRAP)
    x = np.array([[0.5, -0.25, 0.125, 0.0], [0.25, 0.25, -0.5, 0.75]])
    before = g.execute(x)
    audit = audit_ranges(g, x)
    assert audit.clean and audit.wrapped_layers() == () and audit.saturated_layers() == ()
    assert all(np.array_equal(before[k], audit.mantissas[k]) for k in before)
    assert _exact_counts(g, x)[0] == {"x": 0, "fc": 0, "relu": 0, "q": 0}


# ------------------------------------------------------------ float comparison
def _float_mlp(w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> onnx.ModelProto:
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"),
                                                                            (b2, "b2"))]
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1, name="fc1"),
             helper.make_node("Relu", ["h"], ["r"], name="relu1"),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1, name="fc2")]
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", w1.shape[1]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", w2.shape[0]])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def _input_only(n: int) -> Graph:
    return Graph("in", (InputLayer("x", (), (n,), FixedType(16, 6)),), ("x",)).verify()


def _dyadic(rng: np.random.Generator, shape: tuple[int, ...], den: int, top: int) -> np.ndarray:
    """Multiples of 1/den in [-top, top]: every float32 sum below is exact."""
    return rng.integers(-top * den, top * den + 1, size=shape) / den


def test_float_comparison_equals_numpy_float_model_and_counts_argmax_exactly() -> None:
    rng = np.random.default_rng(5)
    w1, b1 = _dyadic(rng, (6, 5), 8, 2), _dyadic(rng, (6,), 8, 2)
    w2, b2 = _dyadic(rng, (4, 6), 8, 2), _dyadic(rng, (4,), 8, 2)
    x = _dyadic(rng, (40, 5), 16, 6)
    model = _float_mlp(w1, b1, w2, b2)
    y = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2  # exact in float64: small dyadic values
    graph = _input_only(5)  # only its input shape matters here
    # a fixed-point result that differs from the float one in known places
    y_fixed = y.copy()
    y_fixed[:7] += 0.25
    flips = [i for i in range(40) if i % 3 == 0]
    for i in flips:  # make the smallest logit the largest
        y_fixed[i, int(np.argmin(y[i]))] = float(y[i].max()) + 1.0
    c = compare_with_float(model, graph, x, y_fixed)
    assert c is not None and c.compared and c.runtime == "onnxruntime" and c.note == "" and c.reason == ""
    err = [abs(Fraction(float(a)) - Fraction(float(b))) for a, b in zip(y_fixed.ravel(), y.ravel(), strict=True)]
    assert Fraction(c.max_abs_error) == max(err)  # type: ignore[arg-type]
    assert c.mean_abs_error == pytest.approx(float(sum(err) / len(err)), rel=1e-12)
    ties = [i for i in range(40) if i not in flips and int(np.argmax(y_fixed[i])) != int(np.argmax(y[i]))]
    assert c.argmax_agree == 40 - len(flips) - len(ties) and not ties
    assert (c.samples, c.total_samples) == (40, 40)
    assert c.to_dict() == {"runtime": "onnxruntime", "samples": 40, "total_samples": 40,
                           "max_abs_error": c.max_abs_error, "mean_abs_error": c.mean_abs_error,
                           "argmax_agree": c.argmax_agree, "note": "", "reason": ""}


def test_float_model_default_precision_wraps_large_logits_and_the_audit_says_where() -> None:
    rng = np.random.default_rng(9)
    w1, b1 = _dyadic(rng, (6, 5), 8, 1), _dyadic(rng, (6,), 8, 1)  # |hidden| <= 5 * 6 + 1 < 32: in range
    w2, b2 = np.full((1, 6), 4.0), np.array([0.0])
    model = _float_mlp(w1, b1, w2, b2)
    x = _dyadic(rng, (30, 5), 16, 6)
    graph = read_onnx(model, "ap_fixed<16,6>")
    audit = audit_ranges(graph, x)
    y = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2
    big = int(np.count_nonzero((y > 32 - 2.0**-10) | (y < -32)))  # every value here is exact in fixed<16,6>
    assert 0 < big < len(x) and audit.wrapped == big and audit.saturated == 0  # only logits leave [-32, 32)
    assert [r.name for r in audit.wrapped_layers()] == [graph.outputs[0]]
    c = compare_with_float(model, graph, x, audit.y_fixed)
    assert c.compared and c.argmax_agree is None  # one value per sample
    assert c.max_abs_error is not None and c.max_abs_error >= 32


QDOM = "qonnx.custom_op.general"


def _qonnx_model(w: np.ndarray, bits: int, frac: int, batch_one_reshape: bool = False) -> onnx.ModelProto:
    """x -> Quant -> MatMul, optionally then a Reshape to the constant shape (1, n) (runs one sample only)."""
    inits = [numpy_helper.from_array(np.array(2.0**-frac, dtype=np.float32), "s"),
             numpy_helper.from_array(np.array(0.0, dtype=np.float32), "z"),
             numpy_helper.from_array(np.array(float(bits), dtype=np.float32), "b"),
             numpy_helper.from_array(w.astype(np.float32), "w"),
             numpy_helper.from_array(np.array([1, w.shape[1]], dtype=np.int64), "shape1")]
    mm_out = "ym" if batch_one_reshape else "y"
    nodes = [helper.make_node("Quant", ["x", "s", "z", "b"], ["xq"], name="q0", domain=QDOM, signed=1, narrow=0,
                              rounding_mode="ROUND"),
             helper.make_node("MatMul", ["xq", "w"], [mm_out], name="mm")]
    if batch_one_reshape:
        nodes.append(helper.make_node("Reshape", ["ym", "shape1"], ["y"], name="rs"))
    g = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, w.shape[0]])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, w.shape[1]])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QDOM, 1)])


@pytest.mark.parametrize("batch_one", [False, True])
def test_qonnx_model_runs_in_the_qonnx_executor(batch_one: bool) -> None:
    rng = np.random.default_rng(2)
    w = _dyadic(rng, (4, 3), 4, 2)
    model = _qonnx_model(w, 6, 3, batch_one)  # signed 6 bits, scale 1/8: [-4, 3.875], round half to even
    n = QONNX_SAMPLE_LIMIT + 8
    x = _dyadic(rng, (n, 4), 32, 5)
    xq = np.clip(np.round(x * 8), -32, 31) / 8  # np.round is half to even
    y = xq @ w
    y_fixed = y + np.where(np.arange(n)[:, None] % 5 == 0, 0.5, 0.0)
    c = compare_with_float(model, _input_only(4), x, y_fixed)
    assert c.runtime == "qonnx" and c.compared
    lim = c.samples
    assert c.total_samples == n
    if batch_one:  # the batch fails on the constant Reshape: one sample at a time, the first 32 only
        assert lim == QONNX_SAMPLE_LIMIT and f"first {QONNX_SAMPLE_LIMIT} of {n} samples" in c.note
    else:
        assert lim == n and c.note == ""
    err = np.abs(y_fixed[:lim] - y[:lim])
    assert c.max_abs_error == float(err.max()) == 0.5 and c.mean_abs_error == pytest.approx(float(err.mean()))
    assert c.argmax_agree == int(np.count_nonzero(y_fixed[:lim].argmax(1) == y[:lim].argmax(1)))


def test_a_model_nobody_can_run_gives_a_reason_not_figures() -> None:
    g = helper.make_graph([helper.make_node("Bogus", ["x"], ["y"], domain="no.such.domain")], "bad",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("no.such.domain", 1)])
    c = compare_with_float(model, _input_only(3), np.zeros((2, 3)), np.zeros((2, 3)))
    assert isinstance(c, FloatComparison) and not c.compared and c.runtime == ""
    assert c.reason.startswith("qonnx: ") and "Bogus" in c.reason
    assert (c.max_abs_error, c.mean_abs_error, c.argmax_agree, c.samples) == (None, None, None, 0)
    assert c.to_dict()["reason"] == c.reason
