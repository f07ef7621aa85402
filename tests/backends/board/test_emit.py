"""The board files: which are written per board kind, golden text, byte-identical rebuilds,
relative paths only, and agreement with the trees the HLS and RTL backends write next to them.

Golden files live in ``tests/backends/board/golden/<board>/`` (driver copies of stream.py and
fixed.py excluded: they are compared with their sources). After an intended change::

    FPGA_FLOW_REGEN_GOLDEN=1 .venv/bin/pytest tests/backends/board/test_emit.py -k golden
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from fpga_flow.backends.board import (
    DRIVER_PACKAGE,
    SHARED_MODULES,
    deploy_section,
    dma_word_bits,
    emit_board,
    render_board,
)
from fpga_flow.backends.hls import emit_hls
from fpga_flow.backends.rtl import emit_rtl
from fpga_flow.boards import Board, list_boards, load_board
from fpga_flow.errors import FlowError
from fpga_flow.hw import plan_design
from fpga_flow.ir import Graph

from .helpers import OTHER_BOARDS, ZYNQ_BOARDS, mlp, narrow_io, tree

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("FPGA_FLOW_REGEN_GOLDEN") == "1"

ZYNQ_FILES = {
    "Makefile", "DEPLOY.md", "vivado/build_bd.tcl", "vivado/build_bitstream.tcl", "driver/README.md",
    "driver/example.py", *(f"driver/{DRIVER_PACKAGE}/{n}" for n in
                           ("__init__.py", "codec.py", "overlay.py", "stream.py", "fixed.py", "model.json")),
}
OTHER_FILES = {"Makefile", "DEPLOY.md", "vivado/package_rtl_ip.tcl"}


def test_every_known_board_is_covered():
    assert {b.name for b in list_boards()} == set(ZYNQ_BOARDS) | set(OTHER_BOARDS)
    assert all(load_board(n).has_ps for n in ZYNQ_BOARDS)
    assert not any(load_board(n).has_ps for n in OTHER_BOARDS)


@pytest.mark.parametrize("board_name", ZYNQ_BOARDS + OTHER_BOARDS)
def test_files_per_board_kind(tmp_path, board_name):
    written = emit_board(mlp(), load_board(board_name), tmp_path, 2)
    rel = {p.relative_to(tmp_path).as_posix() for p in written}
    assert rel == (ZYNQ_FILES if board_name in ZYNQ_BOARDS else OTHER_FILES)
    assert written == sorted(written)
    assert set(tree(tmp_path)) == rel


@pytest.mark.parametrize("board_name", ["pynq-z2", "kv260", "arty-a7-100t"])
def test_golden_files(tmp_path, board_name):
    emit_board(mlp(), load_board(board_name), tmp_path, 2)
    shared = {f"driver/{DRIVER_PACKAGE}/{n}" for n in SHARED_MODULES}
    got = {k: v for k, v in tree(tmp_path).items() if k not in shared}
    folder = GOLDEN / board_name
    if REGEN:
        shutil.rmtree(folder, ignore_errors=True)
        for rel, data in got.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
    want = tree(folder)
    assert sorted(got) == sorted(want), "file list changed; see the module docstring to regenerate"
    for rel in want:
        assert got[rel].decode() == want[rel].decode(), f"{rel} differs from the golden file"


@pytest.mark.parametrize("board_name", ["pynq-z2", "zcu102", "alveo-u250"])
def test_byte_identical_rebuilds_and_relative_paths(tmp_path, board_name):
    board = load_board(board_name)
    a, b = tmp_path / "first_tree", tmp_path / "second_tree"
    emit_board(narrow_io(), board, a, 3)
    emit_board(narrow_io(), board, b, 3)
    emit_board(narrow_io(), board, b, 3)  # over an existing tree
    assert tree(a) == tree(b)
    assert render_board(narrow_io(), board, 3) == {k: v for k, v in tree(a).items()}
    for rel, data in tree(a).items():
        text = data.decode()
        assert str(tmp_path) not in text and "first_tree" not in text, rel
        if not rel.endswith(".md"):  # the notes may show where files go on the board (/home/xilinx/...)
            assert not re.search(r"(?<![\w.])/(home|tmp|work|usr|opt|root)/", text), f"absolute path in {rel}"


def test_full_tree_has_what_the_board_files_reference(tmp_path):
    """With hls/ and rtl/ written as the pipeline does, every path the Makefile and scripts need exists."""
    graph, board = mlp(), load_board("pynq-z2")
    plan = plan_design(graph, 2, board)
    emit_hls(plan, board, tmp_path)
    emit_rtl(plan, tmp_path / "rtl")
    emit_board(graph, board, tmp_path, 2)
    make = (tmp_path / "Makefile").read_text()
    for rel in ("hls/build_prj.tcl", "vivado/build_bd.tcl", "vivado/build_bitstream.tcl"):
        assert rel in make and (tmp_path / rel).is_file()
    assert (tmp_path / "hls" / "firmware" / "fpga_flow_top.cpp").is_file()
    arty = tmp_path / "arty"
    arty_board = load_board("arty-a7-100t")
    arty_plan = plan_design(graph, 2, arty_board)
    emit_hls(arty_plan, arty_board, arty)
    emit_rtl(arty_plan, arty / "rtl")
    emit_board(graph, load_board("arty-a7-100t"), arty, 2)
    assert (arty / "rtl" / "sources.f").is_file() and (arty / "rtl" / "fpga_flow_top.v").is_file()


def test_deploy_notes_say_what_is_not_generated(tmp_path):
    for name in OTHER_BOARDS:
        text = deploy_section(mlp(), load_board(name), 1)
        assert "fpga-flow writes no block design, no\nbitstream and no PYNQ driver for it." in text
        assert "make rtl_ip" in text and "not generated" in text
    zynq = deploy_section(mlp(), load_board("pynq-z2"), 1)
    assert "make bitstream" in zynq and "FpgaFlowOverlay()" in zynq and "## Not generated" in zynq


def test_dma_word_widths():
    assert [dma_word_bits(b) for b in (8, 24, 32, 40, 56, 64, 72)] == [32, 32, 32, 64, 64, 64, 128]
    with pytest.raises(FlowError):
        dma_word_bits(2048)


def test_unsafe_board_fields_are_refused():
    good = load_board("pynq-z2")
    bad = Board(**{**good.__dict__, "name": "pynq z2; rm -rf /"})
    with pytest.raises(FlowError, match="unsafe"):
        render_board(mlp(), bad, 1)


def test_model_names_are_sanitized_in_scripts(tmp_path):
    g = mlp()
    hostile = Graph('x"; exec rm -rf ~ ;#\n[puts hi]', g.layers, g.outputs)
    emit_board(hostile, load_board("pynq-z2"), tmp_path)
    emit_board(hostile, load_board("arty-a7-100t"), tmp_path / "arty")
    for rel, data in {**tree(tmp_path)}.items():
        if rel.endswith((".tcl", "Makefile")):
            assert b"exec rm" not in data and b"[puts" not in data, rel


def test_parallelism_must_be_positive():
    with pytest.raises(FlowError):
        render_board(mlp(), load_board("pynq-z2"), 0)
