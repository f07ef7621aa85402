"""Board facts live on the Board record: DSP slice, yosys family, processing system."""

from __future__ import annotations

import dataclasses

import pytest

from fpga_flow.boards import FAMILY_DSP, PS_KINDS, Board, list_boards, load_board, yosys_family_of_part
from fpga_flow.errors import FlowError


def test_every_shipped_board_has_its_facts() -> None:
    boards = {b.name: b for b in list_boards()}
    assert {b: (x.dsp_slice, x.yosys_family, x.has_ps) for b, x in boards.items()} == {
        "alveo-u250": ("DSP48E2", "xcup", False),
        "arty-a7-100t": ("DSP48E1", "xc7", False),
        "kv260": ("DSP48E2", "xcup", True),
        "pynq-z2": ("DSP48E1", "xc7", True),
        "ultra96-v2": ("DSP48E2", "xcup", True),
        "zcu102": ("DSP48E2", "xcup", True),
        "zcu104": ("DSP48E2", "xcup", True),
    }
    for b in boards.values():
        assert b.family in FAMILY_DSP, f"{b.name}: family {b.family!r} missing from FAMILY_DSP"
        assert b.ps is None or b.ps in PS_KINDS


def test_dsp_slice_follows_the_family() -> None:
    base = load_board("pynq-z2")
    for family, slice_ in (("artix7", "DSP48E1"), ("kintex7", "DSP48E1"), ("zynqmp", "DSP48E2"),
                           ("virtexuplus", "DSP48E2"), ("somethingnew", "DSP48E1")):
        assert dataclasses.replace(base, family=family).dsp_slice == slice_


def test_has_ps_only_for_a_processing_system_we_build_a_block_design_for() -> None:
    base = load_board("pynq-z2")
    assert dataclasses.replace(base, ps="zynq7").has_ps and dataclasses.replace(base, ps="zynqmp").has_ps
    assert not dataclasses.replace(base, ps=None).has_ps
    assert not dataclasses.replace(base, ps="versal").has_ps  # a PS we have no block design for


def test_yosys_family_of_parts() -> None:
    assert yosys_family_of_part("xc7z020clg400-1") == "xc7"
    assert yosys_family_of_part("XC7A100TCSG324-1") == "xc7"
    assert yosys_family_of_part("xczu3eg-sbva484-1-i") == "xcup"
    assert yosys_family_of_part("xck26-sfvc784-2LV-c") == "xcup"
    assert yosys_family_of_part("xcu250-figd2104-2L-e") == "xcup"
    assert yosys_family_of_part("xcku040-ffva1156-2-e") == "xcu"
    assert yosys_family_of_part("xcku5p-ffvb676-2-e") == "xcup"
    assert yosys_family_of_part("xcvu9p-flga2104-2L-e") == "xcup"
    board = dataclasses.replace(load_board("pynq-z2"), part="5cgxfc7c7f23c8")
    with pytest.raises(FlowError, match="no yosys synth_xilinx family for part '5cgxfc7c7f23c8'"):
        _ = board.yosys_family


def test_board_is_frozen_data() -> None:
    b = load_board("kv260")
    assert isinstance(b, Board) and b.clock_period_ns == 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.part = "x"  # type: ignore[misc]
