"""Calibrated types: observed ranges (onnxruntime) -> fixed-point types, checked against numpy ranges
and an independent brute-force choice of integer bits; the big-logit MLP that the default type breaks."""

from __future__ import annotations

import io
import warnings
from fractions import Fraction

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper
from sklearn.datasets import load_digits

from fpga_flow.errors import ModelError, UnsupportedError
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.fixed import Overflow, Rounding, parse_fixed_type
from fpga_flow.ir import DenseLayer, InputLayer, ReluLayer
from fpga_flow.onnx_io import CALIBRATION_MARGIN, DEFAULT_PRECISION, TensorRange, observe_ranges, read_onnx
from fpga_flow.onnx_io.reader import calibrated_type

MARGIN = Fraction(5, 4)


def _digits() -> np.ndarray:
    return load_digits().data.astype(np.float32)


def _integer_bits(lo: float, hi: float, width: int) -> tuple[int, bool]:
    """Independently: the fewest integer bits of a ``width``-bit type whose range holds [lo, hi]
    (exact rationals, every candidate tried), unsigned when lo >= 0."""
    signed = lo < 0
    lo_f, hi_f = Fraction(lo), Fraction(hi)
    for i in range(-40, 60):
        step = Fraction(2) ** (i - width)
        lo_min = -(2 ** (width - 1)) * step if signed else Fraction(0)
        hi_max = ((2 ** (width - 1) if signed else 2**width) - 1) * step
        if lo_min <= lo_f and hi_f <= hi_max:
            return i, signed
    raise AssertionError("no type fits")


@pytest.fixture(scope="module")
def big_logit_mlp() -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """A float MLP trained briefly on digits, its last layer scaled so the logits reach -60
    (argmax unchanged), exported by torch.onnx.export."""
    import torch

    x = _digits()
    y = load_digits().target
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    with torch.no_grad():
        k = 60.0 / -float(net(xt).min())
        net[2].weight *= k
        net[2].bias *= k
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (xt[:1],), f, input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}}, dynamo=False)
    params = {k: v.detach().numpy().astype(np.float64) for k, v in net.state_dict().items()}
    return onnx.load_from_string(f.getvalue()), params


def _numpy_ranges(params: dict[str, np.ndarray], x: np.ndarray) -> list[tuple[float, float]]:
    """Ranges of the input, the hidden pre-activation, the ReLU and the logits, by numpy (float64)."""
    xx = x.astype(np.float64)
    h = xx @ params["0.weight"].T + params["0.bias"]
    r = np.maximum(h, 0)
    z = r @ params["2.weight"].T + params["2.bias"]
    return [(float(a.min()), float(a.max())) for a in (xx, h, r, z)]


def test_observed_ranges_match_numpy(big_logit_mlp):
    model, params = big_logit_mlp
    x = _digits()
    got = observe_ranges(model, x)
    want = _numpy_ranges(params, x)
    layers = [n.output[0] for n in model.graph.node]  # Gemm, Relu, Gemm
    assert set(got) == {"x", *layers}
    assert (got["x"].lo, got["x"].hi) == want[0]
    for name, (lo, hi) in zip(layers, want[1:], strict=True):
        assert got[name].lo == pytest.approx(lo, rel=1e-5, abs=1e-5)
        assert got[name].hi == pytest.approx(hi, rel=1e-5, abs=1e-5)
    assert got[layers[-1]].lo == pytest.approx(-60.0, rel=1e-5)
    # chunking does not change the result
    assert observe_ranges(model, x[:300]) == observe_ranges(model, x[:300].reshape(300, 64))


def test_calibrated_types_are_the_fewest_integer_bits_of_range_times_margin(big_logit_mlp):
    model, params = big_logit_mlp
    x = _digits()
    g = read_onnx(model, calibration=observe_ranges(model, x))
    inp, d0, relu, d1 = g.layers
    assert isinstance(inp, InputLayer) and isinstance(d0, DenseLayer) and isinstance(relu, ReluLayer)
    assert isinstance(d1, DenseLayer)
    assert CALIBRATION_MARGIN == float(MARGIN)
    for lay, (lo, hi) in zip((inp, d0, relu, d1), _numpy_ranges(params, x), strict=True):
        integer, signed = _integer_bits(float(Fraction(lo) * MARGIN), float(Fraction(hi) * MARGIN), 16)
        assert (lay.out_type.width, lay.out_type.integer, lay.out_type.signed) == (16, integer, signed), lay.name
        assert (lay.out_type.rounding, lay.out_type.overflow) == (Rounding.RND_CONV, Overflow.SAT)
    assert (inp.out_type.integer, inp.out_type.signed) == (5, False)  # 16 * 1.25 = 20 < 32
    assert (d1.out_type.integer, d1.out_type.signed) == (8, True)  # -75 needs [-128, 128)
    # constants: W bits, integer bits covering their own values exactly (no margin)
    for lay, prefix in ((d0, "0"), (d1, "2")):
        w = params[f"{prefix}.weight"].astype(np.float32).astype(np.float64)
        b = params[f"{prefix}.bias"].astype(np.float32).astype(np.float64)
        assert (lay.weight_type.width, lay.weight_type.integer) == (16, _integer_bits(w.min(), w.max(), 16)[0])
        assert (lay.bias_type.width, lay.bias_type.integer) == (16, _integer_bits(b.min(), b.max(), 16)[0])


def test_calibration_fixes_the_big_logit_mlp_that_the_default_type_wraps(big_logit_mlp):
    model, _ = big_logit_mlp
    x = _digits()
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    calibrated = read_onnx(model, calibration=observe_ranges(model, x)).run_float(x)
    np.testing.assert_array_equal(calibrated.argmax(1), ref.argmax(1))
    default = read_onnx(model).run_float(x)  # ap_fixed<16,6>: wraps beyond +-32
    assert np.count_nonzero(default.argmax(1) != ref.argmax(1)) > 100


def test_user_precision_gives_width_and_modes_and_unobserved_keeps_default(big_logit_mlp):
    model, _ = big_logit_mlp
    x = _digits()
    ranges = observe_ranges(model, x)
    p = parse_fixed_type("ap_fixed<12,4,AP_RND,AP_SAT_SYM>")
    g = read_onnx(model, precision=p, calibration=ranges)
    for lay in g.layers:
        t = lay.out_type
        assert (t.width, t.rounding, t.overflow) == (12, Rounding.RND, Overflow.SAT_SYM)
    logits = g.layers[-1]
    r = ranges["logits"]
    assert logits.out_type.integer == _integer_bits(float(Fraction(r.lo) * MARGIN), float(Fraction(r.hi) * MARGIN),
                                                    12)[0]
    partial = {k: v for k, v in ranges.items() if k != "logits"}
    assert read_onnx(model, calibration=partial).layers[-1].out_type == parse_fixed_type(DEFAULT_PRECISION)


def test_calibrated_type_edges():
    assert calibrated_type(0.0, 0.0, 8) == calibrated_type(0.0, 0.0, 8, Rounding.RND_CONV, Overflow.SAT)
    assert calibrated_type(0.0, 0.0, 8).integer == 1
    for lo, hi in ((-1.0, 0.5), (-1.0, 1.0), (0.0, 1.0), (0.0, 255.0), (-3e-3, 1e-3), (5.0, 5.0)):
        t = calibrated_type(lo, hi, 8)
        assert (t.integer, t.signed) == _integer_bits(lo, hi, 8)
    with pytest.raises(ValueError):
        TensorRange(1.0, 0.0)


def test_calibration_data_of_the_wrong_shape_is_a_model_error(big_logit_mlp):
    model, _ = big_logit_mlp
    with pytest.raises(ModelError, match=r"does not match input 'x': expected \(n, 64\)"):
        observe_ranges(model, np.zeros((4, 63), np.float32))
    with pytest.raises(ModelError, match="NaN"):
        observe_ranges(model, np.full((2, 64), np.nan))


def _qonnx_without_input_quant() -> onnx.ModelProto:
    m = sparse_mlp(16, [LayerSpec(8), LayerSpec(4, relu=False, act=None)], seed=2)
    nodes = [n for n in m.graph.node if "x_q" not in n.output]
    for n in nodes:
        for i, t in enumerate(n.input):
            if t == "x_q":
                n.input[i] = "x"
    g = m.graph
    graph = helper.make_graph(nodes, "no\ninput quant", list(g.input), list(g.output), list(g.initializer))
    out = helper.make_model(graph, opset_imports=list(m.opset_import))
    out.ir_version = m.ir_version
    return out


def test_qonnx_input_without_quant_needs_precision_or_calibration():
    model = _qonnx_without_input_quant()
    with pytest.raises(UnsupportedError) as e:
        read_onnx(model)
    msg = str(e.value)
    assert "graph input 'x'" in msg and "add a Quant after the input" in msg
    assert "--precision 'ap_fixed<W,I>'" in msg and "--calibrate X.npy" in msg
    assert "'no\\ninput quant'" in msg and "\n" not in msg  # the model name, escaped
    assert read_onnx(model, precision="ap_fixed<10,4>").inputs[0].out_type == parse_fixed_type("ap_fixed<10,4>")
    x = np.random.default_rng(0).uniform(-3.0, 5.0, size=(50, 16))
    ranges = observe_ranges(model, x)  # onnxruntime cannot run QONNX Quant: only the input's range
    assert set(ranges) == {"x"}
    t = read_onnx(model, calibration=ranges).inputs[0].out_type
    integer, signed = _integer_bits(float(Fraction(float(x.astype(np.float32).min())) * MARGIN),
                                    float(Fraction(float(x.astype(np.float32).max())) * MARGIN), 16)
    assert (t.width, t.integer, t.signed, t.overflow) == (16, integer, signed, Overflow.SAT)
    # the rest of a QONNX model keeps its Quant types: calibration changes nothing else
    with_p = read_onnx(model, precision="ap_fixed<16,4>")
    assert [lay.out_type for lay in with_p.layers[1:]] == [
        lay.out_type for lay in read_onnx(model, calibration=ranges).layers[1:]]
