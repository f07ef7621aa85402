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


@pytest.fixture(scope="module")
def cli_run_lenet5(tmp_path_factory):
    import torch

    out = tmp_path_factory.mktemp("compress_lenet5")
    threads = torch.get_num_threads()
    rc = cli_main(["compress", "--example", "lenet5", "--dataset", "digits", "-o", str(out / "lenet5.onnx"),
                   "--quick", "--threads", "1", "--no-progress"])
    torch.set_num_threads(threads)
    return rc, out


def test_cli_lenet5_end_to_end(cli_run_lenet5, tmp_path):
    from fpga_flow.compress.flow import CompressConfig

    rc, out = cli_run_lenet5
    assert rc == 0
    rep_dir = out / "lenet5_report"
    report = json.loads((rep_dir / "compression_report.json").read_text())
    layers = report["layers"]
    assert [(lay["name"], lay["kind"]) for lay in layers] == [
        ("conv1", "conv2d"), ("conv2", "conv2d"), ("fc1", "dense"), ("fc2", "dense")]
    assert [lay["weight_shape"] for lay in layers] == [[20, 1, 5, 5], [50, 20, 5, 5], [500, 200], [10, 500]]
    # the preset's per-layer densities, kept exactly (round(density * weights) of each layer)
    cfg = CompressConfig.preset("digits", quick=True, example="lenet5")
    for lay, d in zip(layers, cfg.final_density, strict=True):
        assert lay["nonzero"] == round(d * lay["weights"]) and lay["density"] == lay["nonzero"] / lay["weights"]
        assert lay["n_in"] * lay["n_out"] == lay["weights"]
        assert lay["huffman"]["relative_columns"]["symbols"] == lay["nonzero"]
    assert [lay["n_in"] for lay in layers] == [25, 500, 200, 500]  # conv rows: C_in/groups * kh * kw
    assert [lay["code_bits"] for lay in layers] == [8, 8, 5, 5] and layers[1]["codebook_size"] == 256
    assert report["bits"]["dense_float32"] == (130500 + 580) * 32
    assert report["bits"]["dense_float32"] > report["bits"]["hardware"] > report["bits"]["huffman"]
    a = report["accuracy"]
    assert a["exported_reference"] == a["final"] > 0.8 and report["bit_exact"]["test_samples"] == 359
    assert report["paper"]["model"] == "LeNet-5"
    md = (rep_dir / "compression_report.md").read_text()
    assert "| conv2 (conv2) | 25000 | 12% |" in md and "50x20x5x5 (50 rows of 500)" in md
    for name in ("weights_conv1.png", "weights_conv2.png", "weights_fc1.png", "weights_fc2.png", "density.png"):
        assert (rep_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the stimulus is 4-D like the model's input, and `fpga-flow run` reproduces its outputs bit for bit
    x = np.load(rep_dir / "stimulus_x.npy")
    y = np.load(rep_dir / "stimulus_y.npy")
    assert x.dtype == np.float32 and x.shape == (256, 1, 8, 8)
    assert cli_main(["run", str(out / "lenet5.onnx"), "--input", str(rep_dir / "stimulus_x.npy"),
                     "--output", str(tmp_path / "y.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), y)
    np.save(tmp_path / "x_flat.npy", x.reshape(256, 64))
    assert cli_main(["run", str(out / "lenet5.onnx"), "--input", str(tmp_path / "x_flat.npy"),
                     "--output", str(tmp_path / "y2.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y2.npy"), y)


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
    assert cli_main(["compress", "--example", "lenet5", "--dataset", "digits", "-o", str(tmp_path / "m.onnx"),
                     "--density", "0.5", "0.1", "0.1"]) == 2
    assert "--density takes 4 values" in capsys.readouterr().err
    assert cli_main(["compress", "--example", "lenet5", "--dataset", "digits", "-o", str(tmp_path / "m.onnx"),
                     "--codebook-bits", "8", "5"]) == 2
    assert "--codebook-bits takes 1 or 4 values" in capsys.readouterr().err


def test_fashion_mnist_reader_when_installed():
    try:
        d = load_fashion_mnist()
    except FlowError:
        pytest.skip("dataset-fashion-mnist is not installed")
    assert d.x_train.shape == (60000, 784) and d.x_test.shape == (10000, 784) and d.image_shape == (1, 28, 28)
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


def test_cli_examples_are_the_flows():
    from fpga_flow.commands.compress import EXAMPLES as CLI_EXAMPLES
    from fpga_flow.compress import EXAMPLES, CompressConfig

    assert CLI_EXAMPLES == EXAMPLES
    for example in EXAMPLES:
        for dataset in ("fashion-mnist", "digits"):
            cfg = CompressConfig.preset(dataset, example=example)
            assert cfg.example == example and len(cfg.final_density) == {"lenet300": 3, "lenet5": 4}[example]
    assert CompressConfig.preset("fashion-mnist", example="lenet5").codebook_bits == (8, 8, 5, 5)
    with pytest.raises(FlowError, match="unknown example"):
        CompressConfig.preset("digits", example="alexnet")
