"""Every generated Tcl script runs through tclsh with the Vivado commands stubbed (stub_vivado.tcl).

The stubs accept only real Vivado / Vivado HLS commands and only pins of created cells, and they
write what the tools write (the .xpr, the bitstream, the .hwh, HLS reports), so a script that
passes here has valid Tcl syntax, calls no misspelled command, wires existing cells and finds
its inputs where the tools put them.
"""

from __future__ import annotations

import os
import re

import pytest

from fpga_flow.backends.board import (
    BITFILE,
    DMA_CELL,
    HLS_IP_CELL,
    HLS_IP_VLNV,
    HLS_PROJECT,
    HLS_SOLUTION,
    HLS_TOP,
    emit_board,
)
from fpga_flow.backends.hls import emit_hls
from fpga_flow.boards import load_board
from fpga_flow.hw import plan_design

from .helpers import OTHER_BOARDS, ZYNQ_BOARDS, fake_hls_ip, mlp, narrow_io, run_tcl


def _calls(recorded: list[list[str]], name: str) -> list[list[str]]:
    """Arguments of every call of ``name``, in order."""
    return [c[1:] for c in recorded if c[0] == name]


def _joined(recorded: list[list[str]]) -> str:
    return "\n".join(" ".join(c) for c in recorded)


@pytest.mark.parametrize("preset", [False, True], ids=["part-only", "board-files"])
@pytest.mark.parametrize("board_name", ZYNQ_BOARDS)
def test_block_design_and_bitstream_scripts_run(tmp_path, board_name, preset):
    board = load_board(board_name)
    emit_board(mlp(), board, tmp_path, parallelism=2)
    fake_hls_ip(tmp_path)
    env = dict(os.environ)
    env["STUB_BOARD_PART"] = f"vendor.com:{board_name}:part0:1.0" if preset else ""

    rc, err, calls = run_tcl(tmp_path / "vivado" / "build_bd.tcl", env=env, cwd=tmp_path)
    assert rc == 0, err
    text = _joined(calls)
    create = _calls(calls, "create_project")
    assert create and create[0][:2] == ["fpga_flow", str(tmp_path / "vivado" / "project")]
    assert create[0][create[0].index("-part") + 1] == board.part
    assert ("set_property board_part" in text) == preset
    ps_cell = "processing_system7_0" if board.ps == "zynq7" else "zynq_ultra_ps_e_0"
    cells = [c[-1] for c in _calls(calls, "create_bd_cell")]
    assert cells[0] == ps_cell
    for cell in (DMA_CELL, HLS_IP_CELL, "rst_pl", "ctrl_interconnect", "mem_smartconnect"):
        assert cell in cells
    assert ["-type", "ip", "-vlnv", HLS_IP_VLNV, HLS_IP_CELL] in _calls(calls, "create_bd_cell")
    # newest catalog version picked (1.10 > 1.2 > 1.0)
    assert ["-type", "ip", "-vlnv", "xilinx.com:ip:axi_dma:1.10", DMA_CELL] in _calls(calls, "create_bd_cell")
    # DMA in simple mode at the stream widths, clock at the board's frequency
    assert "CONFIG.c_include_sg 0" in text
    assert "CONFIG.c_m_axis_mm2s_tdata_width 64" in text and "CONFIG.c_s_axis_s2mm_tdata_width 64" in text
    freq = "PCW_FPGA0_PERIPHERAL_FREQMHZ" if board.ps == "zynq7" else "PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"
    assert f"CONFIG.{freq} {board.clock_mhz:g}" in text
    # streams, clock and resets of the kernel, address map, wrapper
    assert [f"/{DMA_CELL}/M_AXIS_MM2S", f"/{HLS_IP_CELL}/in_r"] in _calls(calls, "connect_bd_intf_net")
    nets = _calls(calls, "connect_bd_net")
    assert [nets_src for nets_src in nets if nets_src[1] == f"/{HLS_IP_CELL}/ap_clk"]
    assert ["/rst_pl/peripheral_aresetn", f"/{HLS_IP_CELL}/ap_rst_n"] in nets
    assign = _calls(calls, "assign_bd_address")
    assert assign[0][assign[0].index("-offset") + 1] == ("0x40400000" if board.ps == "zynq7" else "0xA0000000")
    assert assign[-1] == []
    for step in ("validate_bd_design", "save_bd_design", "make_wrapper", "close_project"):
        assert _calls(calls, step), step

    rc, err, calls = run_tcl(tmp_path / "vivado" / "build_bitstream.tcl", "jobs=7", env=env, cwd=tmp_path)
    assert rc == 0, err
    launch = _calls(calls, "launch_runs")[0]
    assert launch[:3] == ["impl_1", "-to_step", "write_bitstream"] and launch[-1] == "7"
    out = tmp_path / "vivado" / "output"
    assert (out / f"{BITFILE}.bit").read_text() == "bit"
    assert (out / f"{BITFILE}.hwh").read_text() == "<hwh/>"


def test_input_converter_when_tdata_is_not_a_dma_width(tmp_path):
    emit_board(narrow_io(), load_board("pynq-z2"), tmp_path)
    fake_hls_ip(tmp_path)
    rc, err, calls = run_tcl(tmp_path / "vivado" / "build_bd.tcl", cwd=tmp_path)
    assert rc == 0, err
    text = _joined(calls)
    # 3 x 8-bit inputs: 24-bit kernel beats from 32-bit DMA words; 2 x 16-bit outputs: 32 bits, direct
    assert "CONFIG.c_m_axis_mm2s_tdata_width 32" in text and "CONFIG.c_s_axis_s2mm_tdata_width 32" in text
    assert "CONFIG.S_TDATA_NUM_BYTES 4 CONFIG.M_TDATA_NUM_BYTES 3" in text
    assert "CONFIG.TDATA_REMAP {tdata[23:0]}" in text
    intf = _calls(calls, "connect_bd_intf_net")
    assert [f"/{DMA_CELL}/M_AXIS_MM2S", "/in_pad/S_AXIS"] in intf
    assert ["/in_pad/M_AXIS", f"/{HLS_IP_CELL}/in_r"] in intf
    # the output always passes out_pad, which drives TKEEP; here without padding
    assert [f"/{HLS_IP_CELL}/out_r", "/out_pad/S_AXIS"] in intf
    assert "CONFIG.TDATA_REMAP {tdata[31:0]}" in text and "CONFIG.TKEEP_REMAP 4'b1111" in text


def test_output_converter_pads_with_zeros(tmp_path):
    emit_board(mlp(), load_board("zcu104"), tmp_path)
    fake_hls_ip(tmp_path)
    rc, err, calls = run_tcl(tmp_path / "vivado" / "build_bd.tcl", cwd=tmp_path)
    assert rc == 0, err
    text = _joined(calls)
    # 6 x 18-bit outputs, 3 per beat: 56-bit kernel beats into 64-bit DMA words
    assert "CONFIG.S_TDATA_NUM_BYTES 7 CONFIG.M_TDATA_NUM_BYTES 8" in text
    pad = re.search(r"CONFIG.TDATA_REMAP \{(\d+)'b(0+),tdata\[(\d+):0\]\}", text)
    assert pad is not None and (int(pad.group(1)), pad.group(2), int(pad.group(3))) == (8, "0" * 8, 55)
    assert "CONFIG.M_HAS_TKEEP 1" in text and "CONFIG.TKEEP_REMAP 8'b11111111" in text
    intf = _calls(calls, "connect_bd_intf_net")
    assert [f"/{HLS_IP_CELL}/out_r", "/out_pad/S_AXIS"] in intf
    assert ["/out_pad/M_AXIS", f"/{DMA_CELL}/S_AXIS_S2MM"] in intf
    assert [f"/{DMA_CELL}/M_AXIS_MM2S", f"/{HLS_IP_CELL}/in_r"] in intf


def test_block_design_stops_without_exported_ip(tmp_path):
    emit_board(mlp(), load_board("pynq-z2"), tmp_path)
    rc, err, calls = run_tcl(tmp_path / "vivado" / "build_bd.tcl", cwd=tmp_path)
    assert rc == 1
    assert "run 'make ip' first" in err
    assert not _calls(calls, "create_project")


def test_bitstream_stops_when_implementation_fails(tmp_path):
    emit_board(mlp(), load_board("kv260"), tmp_path)
    fake_hls_ip(tmp_path)
    assert run_tcl(tmp_path / "vivado" / "build_bd.tcl", cwd=tmp_path)[0] == 0
    env = dict(os.environ, STUB_NO_PRODUCTS="1")
    rc, err, _ = run_tcl(tmp_path / "vivado" / "build_bitstream.tcl", env=env, cwd=tmp_path)
    assert rc == 1 and "fpga_flow_bd_wrapper.bit is missing" in err
    assert not (tmp_path / "vivado" / "output" / f"{BITFILE}.bit").exists()


@pytest.mark.parametrize("board_name", OTHER_BOARDS)
def test_rtl_ip_packaging_script_runs(tmp_path, board_name):
    board = load_board(board_name)
    emit_board(mlp(), board, tmp_path)
    rtl = tmp_path / "rtl"
    rtl.mkdir()
    (rtl / "sources.f").write_text("ff_lib.v\nfpga_flow_top.v\n")
    (rtl / "fc0.mem").write_text("00\n")
    rc, err, calls = run_tcl(tmp_path / "vivado" / "package_rtl_ip.tcl", cwd=tmp_path)
    assert rc == 0, err
    create = _calls(calls, "create_project")[0]
    assert create[create.index("-part") + 1] == board.part
    added = [f for c in _calls(calls, "add_files") for a in c if a != "-norecurse" for f in a.split()]
    assert added == [str(rtl / "ff_lib.v"), str(rtl / "fpga_flow_top.v"), str(rtl / "fc0.mem")]
    pkg = _calls(calls, "ipx::package_project")[0]
    assert pkg[pkg.index("-vendor") + 1] == "fpgaflow" and pkg[pkg.index("-library") + 1] == "rtl"
    assert ["-busif", "in_r", "-clock", "ap_clk", "core"] in _calls(calls, "ipx::associate_bus_interfaces")
    assert not (tmp_path / "vivado" / "build_bd.tcl").exists()


def test_hls_project_names_match_the_block_design(tmp_path):
    """The HLS backend's build_prj.tcl exports the IP where and as build_bd.tcl expects it."""
    board = load_board("pynq-z2")
    emit_hls(plan_design(mlp(), 2, board), board, tmp_path)
    rc, err, calls = run_tcl(tmp_path / "hls" / "build_prj.tcl", "reset=1 csim=1 synth=1 cosim=1 export=1",
                             cwd=tmp_path / "hls")
    assert rc == 0, err
    assert _calls(calls, "open_project")[0][-1] == HLS_PROJECT
    assert _calls(calls, "open_solution")[0][-1] == HLS_SOLUTION
    assert _calls(calls, "set_top")[0] == [HLS_TOP]
    export = _calls(calls, "export_design")[0]
    vendor, library, version = (export[export.index(k) + 1] for k in ("-vendor", "-library", "-version"))
    assert f"{vendor}:{library}:{HLS_TOP}:{version}" == HLS_IP_VLNV
    assert (tmp_path / "hls" / HLS_PROJECT / HLS_SOLUTION / "impl" / "ip" / "component.xml").is_file()
