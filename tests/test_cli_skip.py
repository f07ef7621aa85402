"""``--skip-zeros``: activation-skipping engines from the command line. inspect names them; a build
at a given parallelism is bit-exact in csim and cosim (against the exact ONNX computation) and its
report gives each skipping layer's measured cycles next to the guaranteed ones, with the share of
nonzero inputs counted here independently; bad uses are one clear error, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from fpga_flow.cli import main
from fpga_flow.examples import LayerSpec, sparse_mlp
from tests.exact_onnx import run_exact, to_float

FC = ("fc0_matmul", "fc1_matmul", "fc2_matmul")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("m") / "model.onnx"
    onnx.save(sparse_mlp(48, [LayerSpec(30, codebook_bits=3), LayerSpec(20), LayerSpec(10, relu=False, act=None)],
                         seed=2), p)
    return p


def test_inspect_names_the_skipping_engines(model_file, capsys) -> None:
    assert main(["inspect", str(model_file), "-P", "4", "--skip-zeros", "fc0_matmul,fc2_matmul", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    engines = {r["name"]: r["engine"] for r in plan["layers"] if r["op"] == "dense"}
    assert engines["fc0_matmul"].endswith("+skip") and engines["fc2_matmul"].endswith("+skip")
    assert not engines["fc1_matmul"].endswith("+skip")


@pytest.mark.parametrize("args,message", [
    (["--skip-zeros", "all"], "needs --parallelism"),
    (["-P", "2", "--skip-zeros", "fc9"], "'fc9' is not a fully-connected layer"),
])
def test_bad_skip_zeros_is_exit_2(model_file, capsys, args: list[str], message: str) -> None:
    assert main(["inspect", str(model_file), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_build_csim_cosim_with_every_layer_skipping(model_file, tmp_path, capsys) -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(-4, 4, size=(24, 48))
    x[rng.random(x.shape) < 0.5] = 0.0
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "o"
    assert main(["build", str(model_file), "-o", str(out), "-P", "4", "--skip-zeros", "all",
                 "--stimulus", str(tmp_path / "x.npy")]) == 0
    text = capsys.readouterr().out
    assert "skipping zeros" in text
    rep = json.loads((out / "report.json").read_text())
    rows = {r["layer"]: r for r in rep["plan"]["skipping"]}
    assert set(rows) == set(FC)
    # nonzero inputs of each layer, from the exact ONNX computation of every intermediate value
    m = onnx.load(model_file)
    exact_in = x  # the first layer reads the quantized input: zeros stay zeros, nonzeros may round to 0
    assert rows["fc0_matmul"]["nonzero_inputs"] <= np.count_nonzero(exact_in) / exact_in.size + 1e-12
    for r in rows.values():
        assert r["samples"] == len(x)
        assert r["worst_measured"] <= r["guaranteed"] and r["mean"] <= r["worst_measured"]
    assert "Activation-skipping engines" in (out / "report.md").read_text()
    assert main(["csim", str(out), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "c.npy")]) == 0
    c = np.load(tmp_path / "c.npy")
    np.testing.assert_array_equal(c, to_float(run_exact(m, x)).reshape(c.shape))
    capsys.readouterr()
    assert main(["cosim", str(out)]) == 0
    text = capsys.readouterr().out
    assert "PASS" in text and " 0 mismatch" in text
    assert "guaranteed at most" in text and "DIFFERS" not in text and "EXCEEDS" not in text


def test_auto_skips_the_layers_faster_on_the_stimulus(model_file, tmp_path, capsys) -> None:
    rng = np.random.default_rng(6)
    x = rng.uniform(-4, 4, size=(16, 48))
    x[rng.random(x.shape) < 0.7] = 0.0
    np.save(tmp_path / "x.npy", x)
    assert main(["inspect", str(model_file), "-P", "4", "--json"]) == 0
    lock = {r["name"]: r["ii"] for r in json.loads(capsys.readouterr().out)["plan"]["layers"] if r["op"] == "dense"}
    means = {}
    for mode in ("all", "auto"):
        out = tmp_path / mode
        assert main(["build", str(model_file), "-o", str(out), "-P", "4", "--skip-zeros", mode,
                     "--stimulus", str(tmp_path / "x.npy")]) == 0
        rep = json.loads((out / "report.json").read_text())
        rows = {r["layer"]: r["mean"] for r in rep["plan"].get("skipping", [])}
        means[mode] = rows
    faster = {n for n, m in means["all"].items() if m < lock[n]}
    assert set(means["auto"]) == faster
    assert faster, "with 70 % zero inputs some layer should skip"
    for n in faster:
        assert means["auto"][n] == means["all"][n]
    capsys.readouterr()
    assert main(["inspect", str(model_file), "-P", "4", "--skip-zeros", "auto"]) == 2
    assert "build" in capsys.readouterr().err
