"""Render contexts of the board templates: plain functions from (graph, board) to plain data.

Everything a template needs is computed here (stream widths, DMA widths, names of the HLS IP,
board presets), so the templates only place values; no file is edited after rendering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fpga_flow.boards import Board
from fpga_flow.errors import FlowError
from fpga_flow.fixed import FixedType
from fpga_flow.ir import Graph
from fpga_flow.names import sanitize
from fpga_flow.stream import StreamFormat, stream_format

__all__ = [
    "BITFILE",
    "BOARD_PRESETS",
    "DMA_CELL",
    "DMA_LENGTH_WIDTH",
    "HLS_IP_CELL",
    "HLS_IP_VLNV",
    "HLS_PROJECT",
    "HLS_SOLUTION",
    "HLS_TOP",
    "RTL_IP_VLNV",
    "StreamPort",
    "board_context",
    "dma_word_bits",
    "stream_ports",
]

#: Board name -> pattern of its Vivado board part (board files). When the board files are
#: installed, the block design applies the board's processing-system preset; otherwise it uses
#: the part alone (PYNQ's boot image configures the PS, so the bitstream works either way).
#: A ``board_part`` attribute on the Board (a future boards/*.json field) takes precedence.
BOARD_PRESETS: dict[str, str] = {
    "pynq-z2": "*:pynq-z2:part0:*",
    "ultra96-v2": "*:ultra96v2:part0:*",
    "zcu104": "*:zcu104:part0:*",
    "zcu102": "*:zcu102:part0:*",
    "kv260": "*:kv260_som:part0:*",
}

# The HLS project written by fpga_flow.backends.hls (templates/hls/build_prj.tcl.j2):
# ``open_project fpga_flow_prj``, ``open_solution solution1``, ``set_top fpga_flow_top`` and
# ``export_design -format ip_catalog -vendor fpgaflow -library hls -version 1.0``.
HLS_PROJECT = "fpga_flow_prj"
HLS_SOLUTION = "solution1"
HLS_TOP = "fpga_flow_top"
HLS_IP_VLNV = "fpgaflow:hls:fpga_flow_top:1.0"
#: VLNV of the Verilog design packaged by ``vivado/package_rtl_ip.tcl`` (boards without a PS).
RTL_IP_VLNV = "fpgaflow:rtl:fpga_flow_top:1.0"

#: Cell names in the block design (the PYNQ driver finds the DMA by this name in the .hwh).
DMA_CELL = "axi_dma_0"
HLS_IP_CELL = "fpga_flow_top_0"
#: Basename of the bitstream and hardware handoff PYNQ loads (``fpga_flow.bit`` + ``fpga_flow.hwh``).
BITFILE = "fpga_flow"
#: Width of the AXI DMA length register: transfers up to 2**26 - 1 bytes.
DMA_LENGTH_WIDTH = 26

#: Address of the DMA's AXI-Lite registers as seen by the PS (GP0 / HPM0_FPD windows).
_CTRL_OFFSET = {"zynq7": "0x40400000", "zynqmp": "0xA0000000"}

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_PRESET = re.compile(r"^[A-Za-z0-9_.:*\-]*$")


def dma_word_bits(tdata_bits: int) -> int:
    """Width of the AXI DMA stream (and memory) side for a kernel stream of ``tdata_bits``.

    AXI DMA streams are 8..1024 bits, powers of two; at least 32 bits keeps every sample's
    buffer offset aligned to the memory-map width, so per-sample transfers need no realignment
    engine. Narrower kernel streams are zero-padded (output) / truncated (input) by an AXI4-Stream
    subset converter; the padding bits are always zero.
    """
    w = 32
    while w < tdata_bits:
        w *= 2
    if w > 1024:
        raise FlowError(f"a {tdata_bits}-bit stream is wider than the 1024 bits an AXI DMA supports")
    return w


@dataclass(frozen=True)
class StreamPort:
    """One AXI4-Stream port of the kernel and the DMA channel that serves it."""

    name: str  # in_r / out_r
    type: FixedType
    fmt: StreamFormat

    @property
    def dma_bits(self) -> int:
        return dma_word_bits(self.fmt.tdata_bits)

    @property
    def needs_converter(self) -> bool:
        return self.dma_bits != self.fmt.tdata_bits

    def as_dict(self) -> dict:
        """The port for the templates; ``type`` is the neutral notation (``fixed<8,1,RND_CONV,SAT>``)
        the notes show people, ``type_json`` the JSON form files for tools carry."""
        f = self.fmt
        return {
            "name": self.name,
            "type": str(self.type),
            "type_json": self.type.to_json(),
            "n": f.n_elems,
            "width": f.width,
            "signed": f.signed,
            "per_beat": f.per_beat,
            "tdata_bits": f.tdata_bits,
            "tdata_bytes": f.tdata_bits // 8,
            "beats": f.beats,
            "dma_bits": self.dma_bits,
            "dma_bytes": self.dma_bits // 8,
            "sample_bytes": f.beats * self.dma_bits // 8,
            "converter": self.needs_converter,
            "pad_bits": self.dma_bits - f.tdata_bits,
        }


def stream_ports(graph: Graph) -> tuple[StreamPort, StreamPort]:
    """The input and output streams of ``graph`` (contract 4 formats, as the HLS and RTL tops use)."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise FlowError(
            f"graph {graph.name}: board projects need exactly one input and one output "
            f"(got {len(graph.inputs)} and {len(graph.outputs)})"
        )
    inp = graph.inputs[0]
    out = graph.output_layers[0]
    fin = stream_format(inp.out_type.width, inp.out_type.signed, inp.size)
    fout = stream_format(out.out_type.width, out.out_type.signed, out.size)
    return StreamPort("in_r", inp.out_type, fin), StreamPort("out_r", out.out_type, fout)


def _check_safe(what: str, value: str) -> str:
    if not _SAFE.match(value):
        raise FlowError(f"board {what} {value!r} has characters that are unsafe in Tcl/Makefiles; "
                        "use letters, digits, '_', '.', '-' in boards/<name>.json")
    return value


def _preset(board: Board) -> str:
    pattern = str(getattr(board, "board_part", "") or BOARD_PRESETS.get(board.name, ""))
    if not _PRESET.match(pattern):
        raise FlowError(f"board part pattern {pattern!r} of {board.name} may use letters, digits and _ . : * - only")
    return pattern


def board_context(graph: Graph, board: Board, parallelism: int) -> dict:
    """Everything the ``templates/board/`` templates place, as plain data (deterministic)."""
    sin, sout = stream_ports(graph)
    ps = board.ps if board.has_ps else None  # zynq7 / zynqmp: the kinds the block-design templates know
    return {
        "model": sanitize(graph.name, "model"),
        "parallelism": int(parallelism),
        "board": {
            "name": _check_safe("name", board.name),
            "part": _check_safe("part", board.part),
            "family": board.family,
            "description": board.description,
            "vendor": board.vendor,
            "clock_mhz": f"{board.clock_mhz:g}",
            "period_ns": f"{board.clock_period_ns:g}",
            "ps": ps or "",
            "has_ps": ps is not None,
            "other_ps": board.ps if board.ps and not board.has_ps else "",
            "preset": _preset(board),
            "resources": {"lut": board.lut, "ff": board.ff, "dsp": board.dsp, "bram36": board.bram36,
                          "uram": board.uram},
        },
        "hls": {
            "project": HLS_PROJECT,
            "solution": HLS_SOLUTION,
            "top": HLS_TOP,
            "vlnv": HLS_IP_VLNV,
            "solution_dir": f"hls/{HLS_PROJECT}/{HLS_SOLUTION}",
            "ip_dir": f"hls/{HLS_PROJECT}/{HLS_SOLUTION}/impl/ip",
        },
        "rtl_vlnv": RTL_IP_VLNV,
        "input": sin.as_dict(),
        "output": sout.as_dict(),
        "input_shape": list(graph.inputs[0].shape),
        "dma": {
            "cell": DMA_CELL,
            "length_width": DMA_LENGTH_WIDTH,
            "max_bytes": (1 << DMA_LENGTH_WIDTH) - 1,
            "addr_width": 64 if ps == "zynqmp" else 32,
            "ctrl_offset": _CTRL_OFFSET.get(ps or "", ""),
        },
        "ip_cell": HLS_IP_CELL,
        "bitfile": BITFILE,
        "project_name": "fpga_flow",
        "bd_name": "fpga_flow_bd",
    }
