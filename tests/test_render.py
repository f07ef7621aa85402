"""Names from a model in Markdown: one line, Markdown's special characters taken literally."""

from __future__ import annotations

import onnx

from fpga_flow.cli import main
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.render import markdown_text


def test_markdown_text_escapes_specials_and_control_characters():
    assert markdown_text("a_b|c`d") == "a\\_b\\|c\\`d"
    assert markdown_text("x\n# y") == "x\\\\n\\# y"
    assert "\n" not in markdown_text("\n\r\t")


def test_a_hostile_model_file_name_stays_one_literal_line(tmp_path):
    name = "m\n# title | `code` *x*.onnx"
    path = tmp_path / name
    onnx.save(sparse_mlp(6, [LayerSpec(3, relu=False, act=None)], seed=1), path)
    out = tmp_path / "o"
    assert main(["build", str(path), "-o", str(out), "--samples", "2"]) == 0
    for f in ("report.md", "README.md"):
        first = (out / f).read_text().splitlines()[0]
        assert first.startswith("# ") and "\\# title \\| \\`code\\` \\*x\\*.onnx" in first and "m\\\\n" in first
