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
