"""The whole flow on digits through the CLI: ONNX, report, plots, stimulus; data-set errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fpga_flow.cli import main as cli_main
from fpga_flow.compress.data import load_dataset, load_fashion_mnist
from fpga_flow.errors import FlowError
from fpga_flow.fixed import FixedType
from fpga_flow.pipeline import load_and_lower


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    import torch

    out = tmp_path_factory.mktemp("compress")
    threads = torch.get_num_threads()
    rc = cli_main(["compress", "--example", "lenet300", "--dataset", "digits", "-o", str(out / "model.onnx"),
                   "--quick", "--threads", "1", "--no-progress"])
    torch.set_num_threads(threads)
    return rc, out


def test_cli_writes_model_report_plots_and_stimulus(cli_run):
    rc, out = cli_run
    assert rc == 0
    rep_dir = out / "model_report"
    report = json.loads((rep_dir / "compression_report.json").read_text())
    for name in ("weights_fc1.png", "weights_fc2.png", "weights_fc3.png", "density.png"):
        assert (rep_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (rep_dir / "compression_report.md").read_text()
    assert "Huffman" in md and "paper" in md and "weights_fc1.png" in md
    b, r, a = report["bits"], report["ratios"], report["accuracy"]
    assert b["dense_float32"] == sum((lay["weights"] + lay["n_out"]) * 32 for lay in report["layers"])
    assert b["dense_float32"] > b["hardware"] > b["huffman"] > 0
    assert r["hardware"] == pytest.approx(b["dense_float32"] / b["hardware"])
    assert r["huffman"] == pytest.approx(b["dense_float32"] / b["huffman"])
    assert set(a) >= {"dense", "pruned", "quantized", "final", "exported_reference"}
    assert a["exported_reference"] == a["final"] and a["final"] > 0.8
    assert report["bit_exact"]["equal"] and report["bit_exact"]["test_samples"] == 359
    # fixed-point types: the neutral JSON form in the file, the neutral notation in the Markdown
    for key, t in report["types"].items():
        assert str(FixedType.from_json(t)).startswith(("fixed<", "ufixed<")), key
    for lay in report["layers"]:
        for key in ("weight_type", "bias_type"):
            assert f"`{FixedType.from_json(lay[key])}`" in md
    assert "ap_fixed" not in md and "AP_" not in json.dumps(report)
    for lay in report["layers"]:
        assert 0 < lay["density"] < 1 and lay["codebook_size"] == lay["distinct_nonzero_values"] == 16
        h = lay["huffman"]
        assert h["codes"]["symbols"] == h["relative_columns"]["symbols"] == lay["nonzero"]
        assert h["codes"]["payload_bits"] <= h["codes"]["fixed_width_bits"]
        # hardware bits == the backend's codebook-CSR cost + biases
        assert lay["bits"]["hardware"] == lay["bits"]["storage_cost"]["codebook"] + lay["bits"]["bias"]


def test_stimulus_replays_bit_exactly_through_the_reference(cli_run):
    _, out = cli_run
    rep_dir = out / "model_report"
    x = np.load(rep_dir / "stimulus_x.npy")
    y = np.load(rep_dir / "stimulus_y.npy")
    assert x.dtype == np.float32 and x.shape == (256, 64)
    graph = load_and_lower(out / "model.onnx")
    np.testing.assert_array_equal(graph.run_float(x.astype(np.float64)), y)


def test_missing_fashion_mnist_says_how_to_install(tmp_path):
    with pytest.raises(FlowError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)
    with pytest.raises(FlowError, match="unknown data set"):
        load_dataset("cifar")


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    assert cli_main(["compress", "--dataset", "digits", "-o", str(tmp_path / "m.txt")]) == 2
    assert ".onnx" in capsys.readouterr().err
    assert cli_main(["compress", "--dataset", "digits", "-o", str(tmp_path / "m.onnx"), "--density", "0.5"]) == 2
    assert "--density" in capsys.readouterr().err


def test_fashion_mnist_reader_when_installed():
    try:
        d = load_fashion_mnist()
    except FlowError:
        pytest.skip("dataset-fashion-mnist is not installed")
    assert d.x_train.shape == (60000, 784) and d.x_test.shape == (10000, 784)
    assert d.x_train.dtype == np.float32 and 0 <= d.x_train.min() and d.x_train.max() <= 255 / 256
    assert np.array_equal(np.unique(d.y_test), np.arange(10))
    # pixels / 256 are exact 8-bit fixed-point values
    assert np.array_equal(np.round(d.x_test[:100] * 256) / 256, d.x_test[:100])


def test_cli_help_and_torch_free_modules_do_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from fpga_flow.cli import main\n"
        "try:\n    main(['compress', '--help'])\nexcept SystemExit:\n    pass\n"
        "import fpga_flow.compress.huffman, fpga_flow.compress.data, fpga_flow.commands.compress\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
