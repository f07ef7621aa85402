"""``ReLU6`` in a float torch model, as both exporters write it (``Clip(x, 0, 6)``): the clamp is the
saturation of a 2^16-step grid on [0, 6], the next layer folds that grid's scale into its float
weights, and the build agrees with onnxruntime on every prediction. The expectations come from
onnxruntime and from the model's own float weights, not from fpga-flow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from fpga_flow.cli import main
from fpga_flow.onnx_io import observe_ranges, read_onnx

torch = pytest.importorskip("torch")


def _export(root: Path, exporter: str) -> tuple[Path, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU6(), torch.nn.Linear(32, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x[:1400]), torch.from_numpy(d.target[:1400].astype(np.int64))
    for _ in range(80):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    net.eval()
    path = root / "m.onnx"
    torch.onnx.export(net, (torch.zeros(1, 64),), str(path), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "b"}, "y": {0: "b"}}, dynamo=exporter == "dynamo")
    return path, x[:1400], x[1400:1528]


@pytest.fixture(scope="module", params=["torchscript", "dynamo"])
def relu6_mlp(request, tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    return _export(tmp_path_factory.mktemp(f"relu6_{request.param}"), request.param)


@pytest.fixture(scope="module")
def relu6_torchscript(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    return _export(tmp_path_factory.mktemp("relu6_build"), "torchscript")


def _ort(path: Path, x: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def test_clip_is_read_as_a_saturating_activation(relu6_mlp):
    path, xtr, xte = relu6_mlp
    model = onnx.load(str(path))
    assert "Clip" in [n.op_type for n in model.graph.node]
    g = read_onnx(model, calibration=observe_ranges(model, xtr))
    # the hidden layer's values: exactly the clamp of the float pre-activation, to half a step of 6/65535
    clip = next(n for n in model.graph.node if n.op_type == "Clip")
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    inits = {t.name: np.asarray(onnx.numpy_helper.to_array(t), dtype=np.float64) for t in model.graph.initializer}
    w, b = inits[gemm.input[1]], inits[gemm.input[2]]
    w = w.T if any(a.name == "transB" and a.i for a in gemm.attribute) else w
    vals = g.execute(xte.astype(np.float64))
    clip_layer = next(lay for lay in g.layers if lay.origin == (clip.name or "requant"))
    hidden = vals[clip_layer.name].astype(np.float64) * 6 / 65535
    pre = xte.astype(np.float64) @ w + b
    assert np.abs(hidden - np.clip(pre, 0, 6)).max() < 1e-3 and hidden.max() <= 6.0
    y = g.run_float(xte.astype(np.float64))
    np.testing.assert_array_equal(y.argmax(axis=1), _ort(path, xte).argmax(axis=1))
    assert np.abs(y - _ort(path, xte)).max() < 0.01


def test_build_and_csim(relu6_torchscript, tmp_path, capsys):
    path, xtr, xte = relu6_torchscript
    np.save(tmp_path / "cal.npy", xtr)
    np.save(tmp_path / "stim.npy", xte)
    out = tmp_path / "o"
    assert main(["build", str(path), "-o", str(out), "--calibrate", str(tmp_path / "cal.npy"), "--stimulus",
                 str(tmp_path / "stim.npy"), "--strict"]) == 0
    assert "argmax equal on 128 of 128" in capsys.readouterr().err
    assert main(["csim", str(out)]) == 0
    assert "all 128 samples equal the bit-exact reference" in capsys.readouterr().out
