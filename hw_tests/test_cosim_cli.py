"""``fpga-flow cosim`` end to end through the CLI: real Verilator (and Icarus once), the report's
plan cycles (``report["plan"]["totals"]``) equal the measurement, a wrong expected value fails with its coordinates, and
``--input/--output`` gives the same outputs as ``fpga-flow run``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from hwutil import needs_verilator

from fpga_flow.cli import main
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.report import record_checksums
from fpga_flow.tbdata import EXPECTED_FILE

N_SAMPLES = 12


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cosim")
    model = root / "mlp.onnx"
    onnx.save(sparse_mlp(20, [LayerSpec(9, 0.6), LayerSpec(5, 0.5, codebook_bits=2),
                              LayerSpec(3, 0.4, relu=False, act=None)], seed=5), model)
    out = root / "out"
    assert main(["build", str(model), "-o", str(out), "-P", "3", "--samples", str(N_SAMPLES)]) == 0
    return model, out


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


@needs_verilator
@pytest.mark.timeout(600)
def test_cosim_passes_and_measures_the_estimate(built: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    _, out = built
    assert main(["cosim", str(out), "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "PASS" in printed and "DIFFERS" not in printed
    r = _report(out)
    c, est = r["cosim"], r["plan"]["totals"]
    assert c["simulator"] == "verilator" and c["passed"] is True
    assert c["samples"] == N_SAMPLES and c["mismatches"] == 0
    assert c["latency"] == est["latency"] == c["estimate_latency"]
    assert c["ii"] == est["ii"] == c["estimate_ii"]
    # the totals are the stages': latency the sum, II the slowest (stages overlap on samples)
    stages = r["plan"]["layers"]
    assert [s["engine"] for s in stages][0] == "unpack" and stages[-1]["engine"] == "pack"
    assert est["latency"] == sum(s["latency"] for s in stages)
    assert est["ii"] == max(s["ii"] for s in stages)
    # N samples back to back: the first takes the latency, every further one the II (cycles are
    # counted inclusively, first input beat to last output beat)
    assert c["cycles_per_sample"] == round((est["latency"] + 1 + (N_SAMPLES - 1) * est["ii"]) / N_SAMPLES, 3)
    assert f"initiation interval  {est['ii']} (estimate {est['ii']})" in printed
    assert f"{'latency':<20} {est['latency']} (estimate {est['latency']}) cycles" in printed
    assert "## RTL simulation" in (out / "report.md").read_text()


@needs_verilator
@pytest.mark.timeout(600)
def test_wrong_expected_value_fails_with_coordinates(built: tuple[Path, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    _, src = built
    out = tmp_path / "out"
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("sim_build"))
    lines = (out / "tb_data" / EXPECTED_FILE).read_text().splitlines()
    row = [int(v) for v in lines[4].split()]
    good = row[1]
    row[1] = good + 1 if good < 0 else good - 1
    lines[4] = " ".join(map(str, row))
    (out / "tb_data" / EXPECTED_FILE).write_text("\n".join(lines) + "\n")
    record_checksums(out)  # accept the edit: this test checks the comparison, not the tree's integrity
    assert main(["cosim", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "FAIL" in printed
    assert f"[ideal] sample 4 element 1: expected {row[1]} got {good}" in printed
    assert f"[backpressure] sample 4 element 1: expected {row[1]} got {good}" in printed
    c = _report(out)["cosim"]
    assert c["passed"] is False and c["mismatches"] == 4  # the ideal run, then three backpressure passes


@needs_verilator
@pytest.mark.timeout(600)
def test_input_output_equals_run_on_icarus(built: tuple[Path, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    model, out = built
    before = _report(out).get("cosim")
    x = np.random.default_rng(11).uniform(-9.0, 9.0, size=(7, 20))  # beyond the input range: saturates
    np.save(tmp_path / "x.npy", x)
    y_rtl, y_ref = tmp_path / "y_rtl.npy", tmp_path / "y_ref.npy"
    assert main(["cosim", str(out), "--simulator", "icarus", "--input", str(tmp_path / "x.npy"),
                 "--output", str(y_rtl)]) == 0
    assert "icarus, 7 sample(s): PASS" in capsys.readouterr().out
    assert main(["run", str(model), "--input", str(tmp_path / "x.npy"), "--output", str(y_ref)]) == 0
    a, b = np.load(y_rtl), np.load(y_ref)
    assert a.dtype == np.float64 and a.shape == (7, 3)
    np.testing.assert_array_equal(a, b)
    assert _report(out).get("cosim") == before  # a user input does not change the project's report


def test_errors_exit_2(built: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    _, out = built
    assert main(["cosim", str(tmp_path)]) == 2
    assert "not an fpga-flow project" in capsys.readouterr().err
    monkeypatch.setenv("PATH", str(tmp_path))  # no iverilog/vvp reachable
    assert main(["cosim", str(out), "--simulator", "icarus"]) == 2
    err = capsys.readouterr().err
    assert "Icarus Verilog not found" in err and "make setup" in err
    assert main(["cosim", str(out), "--output", str(tmp_path / "y.npy")]) == 2
    assert "--output needs --input" in capsys.readouterr().err
