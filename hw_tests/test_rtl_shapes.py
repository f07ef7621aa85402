"""A feature-map input (N, 2, 3, 4) with Reshape and Flatten: built, and bit-exact in the C simulation
and in RTL simulation (the shape changes are aliases: no hardware, the same stream order)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from hwutil import needs_verilator

from fpga_flow.cli import main
from fpga_flow.tbdata import EXPECTED_FILE
from tests.exact_onnx import run_exact, to_float
from tests.onnx_io.test_shapes import shaped_model


@needs_verilator
@pytest.mark.timeout(900)
def test_shaped_model_builds_and_simulates_bit_exact(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    onnx.save(shaped_model(), model)
    x = np.random.default_rng(5).uniform(-9, 9, size=(12, 2, 3, 4))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out"
    assert main(["build", str(model), "-o", str(out), "-P", "2", "--stimulus", str(tmp_path / "x.npy")]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["input_shape"] == [2, 3, 4]
    assert [s["engine"] for s in report["plan"]["layers"]] == ["unpack", "alias", "alias", "csr", "pack"]
    exact = to_float(run_exact(onnx.load(model), x))
    got = np.loadtxt(out / "tb_data" / EXPECTED_FILE, dtype=np.int64, ndmin=2)
    assert got.shape == exact.shape
    np.testing.assert_array_equal(got * 2.0 ** -(report["layers"][-1]["accumulator_type"]["width"]
                                                 - report["layers"][-1]["accumulator_type"]["integer"]), exact)
    assert main(["csim", str(out)]) == 0
    assert main(["cosim", str(out)]) == 0
    cosim = json.loads((out / "report.json").read_text())["cosim"]
    assert cosim["passed"] and cosim["ii"] == report["plan"]["totals"]["ii"]
    assert cosim["latency"] == report["plan"]["totals"]["latency"]
