"""A plain float torch model, as a new user brings it: without calibration the default type wraps
its logits (the build says so, ``--strict`` refuses it); with ``--calibrate`` every prediction
agrees with onnxruntime and the project simulates bit-exact.

The model is a normally trained MLP on scikit-learn's digits whose last layer is scaled so its
logits reach about -60 (as a model trained longer gets): the default ``ap_fixed<16,6>`` holds only
[-32, 32). The expected predictions come from onnxruntime, not from fpga-flow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from fpga_flow.cli import main

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def float_mlp(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    train, test = order[:1400], order[1400:1528]
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x[train]), torch.from_numpy(y[train])
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    with torch.no_grad():  # logits as wide as a model trained much longer
        net[2].weight.mul_(6.0)
        net[2].bias.mul_(6.0)
    net.eval()
    root = tmp_path_factory.mktemp("float_mlp")
    path = root / "mlp.onnx"
    torch.onnx.export(net, (torch.zeros(1, 64),), str(path), input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    np.save(root / "train.npy", x[train])
    np.save(root / "test.npy", x[test])
    return path, x[train], x[test]


def _ort(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]


def test_the_model_really_overflows_the_default_type(float_mlp):
    path, _, xte = float_mlp
    logits = _ort(path, xte)
    assert logits.min() < -40 and onnx.load(path).graph.node  # beyond ap_fixed<16,6>'s [-32, 32)


def test_default_type_warns_and_reports_the_wrapped_values(float_mlp, tmp_path, capsys):
    path, _, xte = float_mlp
    out = tmp_path / "o"
    assert main(["build", str(path), "-o", str(out), "--stimulus", str(path.parent / "test.npy")]) == 0
    err = capsys.readouterr().err
    rep = json.loads((out / "report.json").read_text())
    num = rep["numerics"]
    wrapped = {r["name"]: r["wrapped"] for r in num["layers"] if r["wrapped"]}
    assert wrapped and "warning" in err and all(name in err for name in wrapped)
    # the report's agreement figure, checked against onnxruntime and the reference run independently
    assert main(["run", str(path), "--input", str(path.parent / "test.npy"), "--output", str(tmp_path / "y.npy")]) == 0
    agree = int(np.sum(np.load(tmp_path / "y.npy").argmax(axis=1) == _ort(path, xte).argmax(axis=1)))
    assert num["float"]["samples"] == len(xte) and num["float"]["argmax_agree"] == agree < len(xte)


def test_strict_refuses_wrapped_values_and_writes_nothing(float_mlp, tmp_path, capsys):
    path, _, _ = float_mlp
    out = tmp_path / "o"
    code = main(["build", str(path), "-o", str(out), "--stimulus", str(path.parent / "test.npy"), "--strict"])
    assert code == 2 and not out.exists()
    assert "wrapped" in capsys.readouterr().err


def test_calibrated_build_agrees_with_onnxruntime_and_simulates_exactly(float_mlp, tmp_path, capsys):
    path, _, xte = float_mlp
    cal, stim = path.parent / "train.npy", path.parent / "test.npy"
    out = tmp_path / "o"
    assert main(["build", str(path), "-o", str(out), "--calibrate", str(cal), "--stimulus", str(stim), "--strict"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert all(r["wrapped"] == 0 for r in rep["numerics"]["layers"])
    # every prediction of the fixed-point reference equals onnxruntime's
    assert main(["run", str(path), "--calibrate", str(cal), "--input", str(stim), "--output",
                 str(tmp_path / "y.npy")]) == 0
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(y.argmax(axis=1), _ort(path, xte).argmax(axis=1))
    assert rep["numerics"]["float"]["argmax_agree"] == len(xte)
    capsys.readouterr()
    assert main(["csim", str(out)]) == 0
    assert f"all {len(xte)} samples equal the bit-exact reference" in capsys.readouterr().out
