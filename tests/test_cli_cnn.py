"""``fpga-flow run`` / ``inspect`` on convolutional models made by torch.onnx.export and Brevitas.

* ``run`` on a float torch CNN: within the propagated quantization bound of onnxruntime
  (tests/exact_cnn.float_error_bound, see tests/onnx_io/test_cnn_reader.py);
* ``run`` on a Brevitas QONNX CNN: bit for bit tests/exact_cnn.run_qonnx_exact;
* the input as ``(N, C, H, W)`` or as ``(N, C*H*W)`` gives the same outputs;
* ``inspect`` lists the convolution and pooling layers; an unsupported op is exit 2 and one line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from fpga_flow.cli import main
from tests import cnn_models as cm
from tests import exact_cnn as ec


@pytest.fixture(scope="module")
def float_cnn(tmp_path_factory) -> tuple[Path, object]:
    model, _ = cm.float_cnn_onnx("ts13_dynbatch")
    path = tmp_path_factory.mktemp("float") / "torch_cnn.onnx"
    cm.save(model, path)
    return path, model


@pytest.fixture(scope="module")
def qonnx_cnn(tmp_path_factory) -> tuple[Path, object]:
    model, _ = cm.brevitas_rescnn()
    path = tmp_path_factory.mktemp("qonnx") / "brevitas_rescnn.onnx"
    cm.save(model, path)
    return path, model


def _run(model: Path, x: np.ndarray, tmp: Path, *extra: str) -> np.ndarray:
    xin, out = tmp / f"x{x.ndim}.npy", tmp / f"y{x.ndim}.npy"
    np.save(xin, x)
    assert main(["run", str(model), "--input", str(xin), "--output", str(out), *extra]) == 0
    return np.load(out)


@pytest.mark.parametrize("precision", ["ap_fixed<16,6>", "ap_fixed<24,10>"])
def test_run_float_torch_cnn_is_within_the_bound_of_onnxruntime(float_cnn, tmp_path, precision, capsys):
    path, model = float_cnn
    x = cm.images(7, cm.TorchCNN.in_shape, seed=11, scale=2.0)
    y4 = _run(path, x, tmp_path, "--precision", precision)
    y2 = _run(path, x.reshape(len(x), -1), tmp_path, "--precision", precision)
    assert "7 samples" in capsys.readouterr().out
    np.testing.assert_array_equal(y4, y2)  # (N, C, H, W) and (N, C*H*W) are the same samples
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"input": x.astype(np.float32)})[0].astype(np.float64)
    width, integer = (int(v) for v in precision[len("ap_fixed<"):-1].split(","))
    _, bound = ec.float_error_bound(model, x, width, integer)
    assert y4.shape == (7, 3)
    assert np.all(np.abs(y4 - ref) <= bound + 1e-6)  # 1e-6: onnxruntime's float32 rounding
    assert np.abs(y4 - ref).max() > 0  # a fixed-point result, not a copy of the float one


def test_run_brevitas_qonnx_cnn_is_bit_exact(qonnx_cnn, tmp_path):
    path, model = qonnx_cnn
    x = cm.images(10, cm.QuantResCNN.in_shape, seed=12, scale=2.5)
    x[0, 0, 0, :3] = [0.03125, 50.0, -50.0]  # a tie of the input Quant and saturating values
    want = ec.run_qonnx_exact(model, x).floats()
    np.testing.assert_array_equal(_run(path, x, tmp_path), want)
    np.testing.assert_array_equal(_run(path, x.reshape(len(x), -1), tmp_path), want)
    assert np.unique(want).size > 10


def test_run_rejects_an_image_of_the_wrong_size(qonnx_cnn, tmp_path, capsys):
    path, _ = qonnx_cnn
    np.save(tmp_path / "x.npy", np.zeros((2, 2, 7, 8)))
    rc = main(["run", str(path), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")])
    assert rc == 2
    assert "expected shape (N, 128)" in capsys.readouterr().err
    assert not (tmp_path / "y.npy").exists()


def test_inspect_lists_conv_and_pool_layers(qonnx_cnn, capsys):
    path, _ = qonnx_cnn
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("conv2d") >= 3 and "avgpool2d" in out and "concat" in out and "add" in out
    assert "groups 4" in out and "3x3" in out  # the depthwise convolution's geometry
    assert main(["inspect", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["layers"]
    convs = [r for r in rows if r["op"] == "conv2d"]
    assert [(r["kernel"], r["groups"]) for r in convs] == [([3, 3], 1), ([3, 3], 1), ([3, 3], 4)]
    assert [r["shape"] for r in convs] == [[4, 8, 8], [4, 8, 8], [4, 4, 4]]
    assert {r["op"] for r in rows} >= {"conv2d", "avgpool2d", "add", "concat", "dense"}


def test_inspect_float_cnn_lists_maxpool(float_cnn, capsys):
    path, _ = float_cnn
    assert main(["inspect", str(path), "--precision", "ap_fixed<24,10>"]) == 0
    out = capsys.readouterr().out
    assert "maxpool2d" in out and "avgpool2d" in out and "stride 2x2" in out


def test_unsupported_op_in_a_cnn_is_exit_2_and_one_line(tmp_path):
    path = cm.save(cm.unsupported_onnx("sigmoid"), tmp_path / "sigmoid_cnn.onnx")
    for cmd in (["inspect", path], ["run", path, "--input", str(tmp_path / "x.npy"), "--output",
                                    str(tmp_path / "y.npy")]):
        np.save(tmp_path / "x.npy", np.zeros((1, 2, 8, 8)))
        r = subprocess.run([sys.executable, "-m", "fpga_flow.cli", *cmd], capture_output=True, text=True)
        assert r.returncode == 2, r.stderr
        err = r.stderr.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err
        assert "/1/Sigmoid" in err and "Sigmoid" in err and "supported" in err
        assert "Conv" in err and "MaxPool" in err and "BatchNormalization" in err
    assert not (tmp_path / "y.npy").exists()


def test_build_and_csim_of_the_brevitas_residual_cnn_equal_the_exact_result(qonnx_cnn, tmp_path, capsys):
    """A Brevitas QONNX CNN with a residual Add, a Concat, pooling and a depthwise convolution
    builds, and its C simulation gives tests/exact_cnn's result on images the test chooses."""
    path, model = qonnx_cnn
    x = cm.images(12, cm.QuantResCNN.in_shape, seed=21, scale=2.5)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "prj"
    assert main(["build", str(path), "-o", str(out), "--parallelism", "3", "--stimulus", str(tmp_path / "x.npy")]) == 0
    report = json.loads((out / "report.json").read_text())
    assert {r["engine"] for r in report["plan"]["layers"]} >= {"window", "unpack", "pack"}
    assert main(["csim", str(out), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]) == 0
    want = ec.run_qonnx_exact(model, x).floats()
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), want.reshape(len(x), -1))
    assert main(["csim", str(out)]) == 0  # the tb_data stimulus: csim = the reference it was built with
    assert "all 12 samples equal the bit-exact reference" in capsys.readouterr().out
