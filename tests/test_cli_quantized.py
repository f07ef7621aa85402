"""Quantized models as the tools write them (Brevitas QONNX with float per-channel scales, Brevitas
QCDQ with a float BatchNorm1d, onnxruntime quantize_static QDQ with zero points on a CNN) through the
command line: ``run`` equals the independent exact interpreter, ``build --strict`` reports the
exact figures, and ``csim`` (all three) and ``cosim`` (ideal and backpressure; the BatchNorm MLP and
the CNN) equal the reference bit for bit.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest

from fpga_flow.cli import main
from tests.exact_onnx import exact_float_outputs
from tests.thirdparty_quant import ALL_BUILDERS

MODELS = ["brevitas_qonnx_mlp_perchannel", "brevitas_qcdq_mlp_bn", "ort_qdq_cnn"]
#: cosim (Verilator, ideal and backpressure) for these: the requantization on a vector and on a feature map
COSIM = ["brevitas_qcdq_mlp_bn", "ort_qdq_cnn"]


@pytest.fixture(scope="module", params=MODELS)
def saved(request, tmp_path_factory) -> tuple[str, Path, Path, onnx.ModelProto, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = ALL_BUILDERS[request.param]()
    root = tmp_path_factory.mktemp(request.param)
    path, xp = root / "model.onnx", root / "x.npy"
    onnx.save(b.model, str(path))
    x = np.asarray(b.x[:32], dtype=np.float32)
    np.save(xp, x)
    return request.param, path, xp, b.model, x.astype(np.float64)


def test_run_equals_the_exact_interpreter(saved, tmp_path):
    _, path, xp, model, x = saved
    assert main(["run", str(path), "--input", str(xp), "--output", str(tmp_path / "y.npy")]) == 0
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(y, exact_float_outputs(model, x).reshape(y.shape))


def test_build_csim_and_cosim_are_bit_exact(saved, tmp_path, capsys):
    name, path, xp, model, x = saved
    out = tmp_path / "o"
    assert main(["build", str(path), "-o", str(out), "--stimulus", str(xp), "--strict"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["output_dequant"] is not None and rep["numerics"]["wrapped"] == 0
    fl = rep["numerics"]["float"]
    # the float run (the tool's own executor, float32) agrees with the exact values to float32 rounding
    assert fl["samples"] == len(x) and fl["max_abs_error"] is not None and fl["max_abs_error"] < 1e-4
    meta = json.loads((out / "tb_data" / "meta.json").read_text())
    assert "output_dequant" in meta
    capsys.readouterr()
    assert main(["csim", str(out), "--input", str(xp), "--output", str(tmp_path / "c.npy")]) == 0
    c = np.load(tmp_path / "c.npy")
    np.testing.assert_array_equal(c, exact_float_outputs(model, x).reshape(c.shape))
    if name in COSIM:
        assert main(["cosim", str(out)]) == 0
        text = capsys.readouterr().out
        assert "PASS" in text and " 0 mismatch" in text
