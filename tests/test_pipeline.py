"""fpga-flow build: the whole tree, atomic, byte-identical, relocatable."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from fpga_flow.cli import main
from fpga_flow.errors import FlowError
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.pipeline import BuildOptions, build


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("model") / "tiny.onnx"
    onnx.save(sparse_mlp(24, [LayerSpec(12, codebook_bits=2), LayerSpec(6, relu=False, act=None)], seed=4), p)
    return p


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_build_is_byte_identical_and_relocatable(model_file, tmp_path):
    a, b = tmp_path / "one" / "out", tmp_path / "two" / "deeper" / "prj"
    build(model_file, a, BuildOptions(board="pynq-z2", parallelism=2, n_stimulus=4))
    build(model_file, b, BuildOptions(board="pynq-z2", parallelism=2, n_stimulus=4))
    ta, tb = _tree(a), _tree(b)
    assert ta == tb
    for name, data in ta.items():
        assert str(tmp_path).encode() not in data, f"absolute path inside {name}"
    assert {"report.json", "report.md", "tb_data/input_mantissas.txt"} <= set(ta)
    assert any(n.startswith("hls/") for n in ta) and any(n.startswith("rtl/") for n in ta)
    rep = json.loads(ta["report.json"])
    assert rep["board"]["part"] == "xc7z020clg400-1"
    assert [r["name"] for r in rep["layers"] if r["op"] == "dense"] == ["fc0_matmul", "fc1_matmul"]


def test_rebuild_replaces_project_and_leaves_no_temp(model_file, tmp_path):
    out = tmp_path / "prj"
    build(model_file, out, BuildOptions(n_stimulus=2))
    (out / "stale.txt").write_text("old")
    build(model_file, out, BuildOptions(n_stimulus=2))
    assert not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prj"]


def test_failed_build_leaves_nothing(model_file, tmp_path):
    m = onnx.load(model_file)
    m.graph.node[3].op_type = "Tanh"
    bad = tmp_path / "bad.onnx"
    onnx.save(m, bad)
    out = tmp_path / "out"
    with pytest.raises(FlowError, match="Tanh"):
        build(bad, out, BuildOptions())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]


def test_refuses_to_overwrite_a_foreign_folder(model_file, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(FlowError, match="not an fpga-flow project"):
        build(model_file, tmp_path / "mine", BuildOptions())
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_cli_build_unknown_board_is_exit_2(model_file, tmp_path, capsys):
    assert main(["build", str(model_file), "--board", "nope", "-o", str(tmp_path / "o")]) == 2
    assert "pynq-z2" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_build_writes_the_whole_tree_with_fit(model_file, tmp_path):
    out = tmp_path / "o"
    res = build(model_file, out, BuildOptions(board="pynq-z2", parallelism=2, n_stimulus=4))
    for rel in ("README.md", "DEPLOY.md", "Makefile", "vivado/build_bd.tcl", "vivado/build_bitstream.tcl",
                "driver/fpga_flow_driver/overlay.py", "hls/build_prj.tcl", "rtl/fpga_flow_top.v",
                "tb_data/expected_mantissas.txt", "report.md"):
        assert (out / rel).is_file(), rel
    fit = json.loads((out / "report.json").read_text())["fit"]
    assert fit == res.report["fit"] and fit["fits"] is True and fit["board"] == "pynq-z2"
    assert {r["resource"] for r in fit["resources"]} == {"LUT", "FF", "DSP", "BRAM36", "URAM"}
    md = (out / "report.md").read_text()
    assert "## Fit on pynq-z2" in md and "The design fits pynq-z2" in md
    assert "fpga-flow cosim OUT" in (out / "README.md").read_text()


@pytest.fixture(scope="module")
def big_model_file(tmp_path_factory) -> Path:
    """Dense 784-1024-1024-10 at 8-bit weights: ~1.8M weights, far more BRAM than the XC7Z020 has."""
    p = tmp_path_factory.mktemp("big") / "big.onnx"
    spec = [LayerSpec(1024, sparsity=0.0), LayerSpec(1024, sparsity=0.0), LayerSpec(10, relu=False, act=None)]
    onnx.save(sparse_mlp(784, spec, seed=1), p)
    return p


def test_strict_build_that_does_not_fit_fails_and_names_layer(big_model_file, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["build", str(big_model_file), "--board", "pynq-z2", "-o", str(out), "--strict"]) == 2
    err = capsys.readouterr().err
    assert "does not fit pynq-z2" in err and "BRAM36" in err and "fc1_matmul" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_non_strict_build_that_does_not_fit_warns_and_records(big_model_file, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["build", str(big_model_file), "--board", "pynq-z2", "-o", str(out), "--samples", "2", "-P", "1"]) == 0
    assert "WARNING: design does not fit pynq-z2" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["fit"]["fits"] is False and report["fit"]["overflow"]["resource"] == "bram36"
    # the same design fits a larger board. (Not zcu102 any more: the plan counts the Verilog engine's
    # ROM, 37-38 bits per stored weight -- weight, input address and bank, bias, flags -- so the
    # 1.85 M weights need ~1890 BRAM36, more than zcu102's 912.)
    assert main(["build", str(big_model_file), "--board", "alveo-u250", "-o", str(tmp_path / "z"), "--strict",
                 "--samples", "2", "-P", "1"]) == 0
    big = json.loads((tmp_path / "z" / "report.json").read_text())
    assert big["fit"]["fits"] is True and big["fit"]["board"] == "alveo-u250"


@pytest.fixture(scope="module")
def lenet_sized_file(tmp_path_factory) -> Path:
    """784-300-100-10 with 93 / 85 / 70 % zeros and 5-bit codebooks: LeNet-300-100 as `make demo` compresses it."""
    p = tmp_path_factory.mktemp("lenet") / "lenet.onnx"
    spec = [LayerSpec(300, 0.93, codebook_bits=5), LayerSpec(100, 0.85, codebook_bits=5),
            LayerSpec(10, 0.7, codebook_bits=5, relu=False, act=None)]
    onnx.save(sparse_mlp(784, spec, seed=2), p)
    return p


def test_strict_accepts_the_ps_that_fit_and_refuses_the_first_that_does_not(lenet_sized_file, tmp_path, capsys):
    from fpga_flow.analysis.fit import fit_report
    from fpga_flow.boards import load_board
    from fpga_flow.hw import plan_figures
    from fpga_flow.pipeline import load_and_lower, plan

    board = load_board("pynq-z2")
    graph = load_and_lower(lenet_sized_file)
    fits = {p: fit_report(plan_figures(plan(graph, p, board)), board)["fits"] for p in range(16, 129, 16)}
    largest = max(p for p, ok in fits.items() if ok)
    assert fits[16] and not fits[128] and not fits[largest + 16]  # the cost model's figures decide
    assert main(["build", str(lenet_sized_file), "-o", str(tmp_path / "ok"), "-P", str(largest), "--strict",
                 "--samples", "2"]) == 0
    capsys.readouterr()
    assert main(["build", str(lenet_sized_file), "-o", str(tmp_path / "no"), "-P", str(largest + 16), "--strict",
                 "--samples", "2"]) == 2
    assert "does not fit pynq-z2" in capsys.readouterr().err and not (tmp_path / "no").exists()
    forced_ii = plan(graph, largest, board).ii
    # no --parallelism: the automatic folding fits (--strict accepts it) and is faster than every forced P that fits
    assert main(["build", str(lenet_sized_file), "-o", str(tmp_path / "auto"), "--parallelism", "auto", "--strict",
                 "--samples", "2"]) == 0
    printed = capsys.readouterr().out
    assert "folding (the fastest that fits): lanes fc0_matmul " in printed and "bound by " in printed
    r = json.loads((tmp_path / "auto" / "report.json").read_text())
    assert r["fit"]["fits"] is True and r["options"]["parallelism"] is None
    assert r["plan"]["totals"]["ii"] < forced_ii
    assert r["plan"]["folding"]["bound"] in ("lut", "ff", "dsp", "bram36")
    assert "lanes per layer by automatic folding" in (tmp_path / "auto" / "report.md").read_text()


def test_targets_and_parallelism_exclude_each_other(model_file, tmp_path, capsys):
    assert main(["build", str(model_file), "-o", str(tmp_path / "a"), "-P", "2", "--target-ii", "50"]) == 2
    assert "leave out --parallelism" in capsys.readouterr().err
    assert main(["build", str(model_file), "-o", str(tmp_path / "b"), "--target-ii", "50", "--target-us", "1"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["build", str(model_file), "-o", str(tmp_path / "c"), "--target-us", "0.4", "--samples", "2"]) == 0
    r = json.loads((tmp_path / "c" / "report.json").read_text())
    assert r["plan"]["folding"]["target_ii"] == 40 and r["plan"]["totals"]["ii"] <= 40  # 0.4 us at 100 MHz
