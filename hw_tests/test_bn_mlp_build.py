"""A Brevitas MLP with ``BatchNorm1d`` between ``QuantLinear`` and ``QuantReLU`` (FINN's tutorial
style), exported by Brevitas itself, built and simulated: the folded BN runs on the existing MAC
engines as a diagonal CSR layer, and C simulation and RTL simulation equal the reference bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hwutil import needs_verilator

from fpga_flow.cli import main
from tests.cnn_models import brevitas_mlp_bn1d, save


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bnmlp")
    model, _ = brevitas_mlp_bn1d()
    path = root / "mlp_bn.onnx"
    save(model, path)
    out = root / "out"
    assert main(["build", str(path), "-o", str(out), "-P", "2", "--samples", "16"]) == 0
    return out


def test_bn_layers_are_planned_as_diagonal_csr(built: Path) -> None:
    r = json.loads((built / "report.json").read_text())
    stages = {s["name"]: s for s in r["plan"]["layers"]}
    bn = [s for name, s in stages.items() if "BatchNormalization" in name]
    assert len(bn) == 2 and all(s["engine"] == "csr" for s in bn)


def test_csim_equals_the_reference(built: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["csim", str(built)]) == 0
    assert "all 16 samples equal the bit-exact reference" in capsys.readouterr().out


@needs_verilator
@pytest.mark.timeout(600)
def test_cosim_equals_the_reference(built: Path) -> None:
    assert main(["cosim", str(built), "--seed", "1"]) == 0
    c = json.loads((built / "report.json").read_text())["cosim"]
    assert c["passed"] is True and c["mismatches"] == 0 and c["samples"] == 16
