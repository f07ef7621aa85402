"""The inspect/run/boards commands, end to end, including their errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from fpga_flow.cli import main
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.fixed import FixedType
from tests.exact_onnx import run_exact, to_float


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("m") / "model.onnx"
    onnx.save(sparse_mlp(48, [LayerSpec(30, codebook_bits=3), LayerSpec(20), LayerSpec(10, relu=False, act=None)],
                         seed=2), p)
    return p


def test_inspect_json_reports_every_layer(model_file, capsys):
    assert main(["inspect", str(model_file), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    dense = [r for r in data["layers"] if r["op"] == "dense"]
    assert [(r["n_in"], r["n_out"]) for r in dense] == [(48, 30), (30, 20), (20, 10)]
    m = onnx.load(model_file)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    assert dense[0]["nonzeros"] == int(np.count_nonzero(inits["fc0_idx"]))
    assert dense[1]["nonzeros"] == int(np.count_nonzero(inits["fc1_w"]))
    assert dense[0]["codebook_size"] == 8 and dense[0]["storage"] == "codebook_csr"
    for r in dense:
        assert r["bits_stored"] == min(v for v in (r["bits_dense"], r["bits_csr"], r["bits_codebook"]) if v)
        assert r["bits_dense"] == r["n_in"] * r["n_out"] * 8
        assert FixedType.from_json(r["accumulator_type"]).signed  # neutral type form, signed accumulator


def test_inspect_text(model_file, capsys):
    assert main(["inspect", str(model_file)]) == 0
    out = capsys.readouterr().out
    assert "codebook_csr" in out and "nnz" in out and "weight bits stored" in out


def test_run_writes_exact_outputs(model_file, tmp_path):
    x = np.random.default_rng(0).uniform(-5, 5, size=(8, 48))
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(model_file), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]) == 0
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, to_float(run_exact(onnx.load(model_file), x)))


def test_run_bad_input_shape_is_exit_2(model_file, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((3, 7)))
    rc = main(["run", str(model_file), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")])
    assert rc == 2
    assert "expected shape (N, 48)" in capsys.readouterr().err
    assert not (tmp_path / "y.npy").exists()


def test_console_script_errors_without_traceback_and_without_torch(model_file, tmp_path):
    bad = tmp_path / "bad.onnx"
    m = onnx.load(model_file)
    m.graph.node[3].op_type = "Softmax"
    onnx.save(m, bad)
    code = (
        "import sys; from fpga_flow.cli import main; rc = main(sys.argv[1:]); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)"
    )
    r = subprocess.run([sys.executable, "-c", code, "inspect", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "Softmax" in r.stderr and "supported" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run([sys.executable, "-c", code, "inspect", str(model_file)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_boards_lists_pynq_z2(capsys):
    assert main(["boards", "--json"]) == 0
    boards = {b["name"]: b for b in json.loads(capsys.readouterr().out)}
    assert boards["pynq-z2"]["part"] == "xc7z020clg400-1"
    assert {"zcu104", "ultra96-v2", "kv260", "arty-a7-100t", "zcu102", "alveo-u250"} <= set(boards)


def test_a_closed_pipe_ends_quietly(monkeypatch, capsys):
    """``fpga-flow cosim OUT | head -1``: when the reader of stdout goes away, exit 141, no traceback."""
    import fpga_flow.cli as cli

    def closed(argv):  # noqa: ANN001, ANN202 - a print after `head` exited
        raise BrokenPipeError

    monkeypatch.setattr(cli, "_main", closed)
    assert cli.main(["cosim", "out"]) == 141
    assert capsys.readouterr().err == ""


def test_ctrl_c_during_start_up_is_one_line(monkeypatch, capsys):
    import fpga_flow.cli as cli

    def interrupted(argv):  # noqa: ANN001, ANN202 - stands for a Ctrl-C while importing a command
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_main", interrupted)
    assert cli.main(["inspect", "x.onnx"]) == 130
    assert capsys.readouterr().err == "fpga-flow: interrupted\n"
