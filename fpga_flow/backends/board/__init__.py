"""Board backend: what it takes to put the model on a board, next to ``hls/`` and ``rtl/``.

For a Zynq board (``board.has_ps``: pynq-z2, ultra96-v2, zcu104, zcu102, kv260)
:func:`emit_board` writes, under the project root ``dest``::

    Makefile                          csim, hls, cosim, ip, bitstream (checks tools, exit codes, products)
    DEPLOY.md                         what is generated, and the steps from here to a notebook call
    vivado/build_bd.tcl               Vivado project + block design: PS, AXI DMA, HLS IP, clock, reset, addresses
    vivado/build_bitstream.tcl        synthesis, implementation, exports output/fpga_flow.bit + .hwh (+ .xsa)
    driver/README.md                  the PYNQ driver, how to copy it to the board and call it
    driver/example.py                 notebook-style script: bit-exact check against tb_data/, then predict()
    driver/fpga_flow_driver/          the driver package (imports without pynq):
        __init__.py, overlay.py       FpgaFlowOverlay (a pynq.Overlay; pynq imported on first use)
        codec.py                      floats <-> mantissas <-> DMA words
        stream.py, fixed.py           byte-for-byte copies of fpga_flow/stream.py and fpga_flow/fixed.py
        model.json                    types, stream formats, DMA widths, board (see :func:`driver_metadata`)

For a board without a processing system (Alveo, Arty) it writes ``Makefile`` (csim, hls, cosim,
ip, rtl_ip; ``bitstream`` stops with a one-line explanation), ``vivado/package_rtl_ip.tcl`` (the
Verilog design as a Vivado IP) and ``DEPLOY.md`` saying what is and is not generated. No
block design, bitstream or driver is written for them.

Every text comes from a Jinja2 template under ``templates/board/`` (StrictUndefined); paths
inside files are relative; the same input gives byte-identical files.
"""

from __future__ import annotations

import json
from pathlib import Path

from fpga_flow.boards import Board
from fpga_flow.errors import FlowError
from fpga_flow.fixed import fraction_text
from fpga_flow.ir import Graph
from fpga_flow.render import render

from .context import (
    BITFILE,
    BOARD_PRESETS,
    DMA_CELL,
    HLS_IP_CELL,
    HLS_IP_VLNV,
    HLS_PROJECT,
    HLS_SOLUTION,
    HLS_TOP,
    RTL_IP_VLNV,
    StreamPort,
    board_context,
    dma_word_bits,
    stream_ports,
)

__all__ = [
    "BITFILE",
    "BOARD_PRESETS",
    "DMA_CELL",
    "DRIVER_PACKAGE",
    "HLS_IP_CELL",
    "HLS_IP_VLNV",
    "HLS_PROJECT",
    "HLS_SOLUTION",
    "HLS_TOP",
    "MODEL_FORMAT",
    "RTL_IP_VLNV",
    "StreamPort",
    "board_context",
    "deploy_section",
    "dma_word_bits",
    "driver_metadata",
    "emit_board",
    "render_board",
    "stream_ports",
]

#: Name of the driver package inside ``driver/``.
DRIVER_PACKAGE = "fpga_flow_driver"

#: Modules of fpga_flow copied byte for byte into the driver package: the one packing code
#: (``stream.py``) and the fixed-point quantization it is fed with (``fixed.py``).
SHARED_MODULES = ("stream.py", "fixed.py")

#: Driver package files rendered from ``templates/board/driver/fpga_flow_driver/<name>.j2``.
_DRIVER_TEMPLATES = ("__init__.py", "codec.py", "overlay.py")


#: Version of ``model.json``; 2: the port types are the neutral JSON form (1 had ``ap_fixed`` strings).
MODEL_FORMAT = 2


def driver_metadata(graph: Graph, board: Board, parallelism: int = 1) -> dict:
    """``driver/fpga_flow_driver/model.json``: what the driver needs to talk to the kernel.

    ``input`` and ``output`` each hold ``type``, the port's fixed-point type in the neutral JSON
    form of :meth:`fpga_flow.fixed.FixedType.to_json` (``{"width": 8, "integer": 1, "signed": true,
    "rounding": "RND_CONV", "overflow": "SAT"}``, read back by the driver's copy of ``fixed.py``),
    and the stream format: ``n`` elements, ``width``, ``signed``, ``per_beat``, ``tdata_bits``,
    ``beats``, ``dma_bits``. A scale that is not a power of two adds ``factor``/``zero_point`` to
    ``input`` and ``dequant`` to ``output`` (:func:`fpga_flow.fixed.quantize_scaled`,
    :class:`fpga_flow.fixed.Dequant`: exact, on the host).
    """
    ctx = board_context(graph, board, parallelism)
    return {
        "format": MODEL_FORMAT,
        "model": ctx["model"],
        "board": board.name,
        "part": board.part,
        "clock_mhz": board.clock_mhz,
        "parallelism": int(parallelism),
        "bitfile": f"{BITFILE}.bit",
        "dma": DMA_CELL,
        "ip": HLS_IP_CELL,
        "max_transfer_bytes": ctx["dma"]["max_bytes"],
        "input_shape": ctx["input_shape"],
        "input": {**_port_meta(ctx["input"]), **_input_scale(graph)},
        "output": {**_port_meta(ctx["output"]), **_output_dequant(graph)},
    }


def _input_scale(graph: Graph) -> dict:
    """``factor`` and ``zero_point`` of an input whose scale is not a power of two (else nothing)."""
    inp = graph.inputs[0]
    return {"factor": fraction_text(inp.factor), "zero_point": inp.zero_point} if inp.scaled else {}


def _output_dequant(graph: Graph) -> dict:
    """``dequant`` of an output whose scale is not a power of two (else nothing)."""
    dq = graph.output_dequant(graph.outputs[0])
    return {"dequant": dq.to_json()} if dq is not None else {}


def _port_meta(p: dict) -> dict:
    keys = ("n", "width", "signed", "per_beat", "tdata_bits", "beats", "dma_bits")
    return {"type": p["type_json"], **{k: p[k] for k in keys}}


def deploy_section(graph: Graph, board: Board, parallelism: int = 1) -> str:
    """The Markdown of ``DEPLOY.md``: what is generated for ``board`` and, for Zynq boards, the
    steps from this folder to a PYNQ notebook call (the lead's OUT README can include it)."""
    return render("board/DEPLOY.md.j2", board_context(graph, board, parallelism))


def render_board(graph: Graph, board: Board, parallelism: int = 1) -> dict[str, bytes]:
    """Every file of the board backend, by path relative to the project root (deterministic)."""
    if parallelism < 1:
        raise FlowError(f"parallelism must be at least 1, got {parallelism}")
    ctx = board_context(graph, board, parallelism)
    files: dict[str, str | bytes] = {
        "Makefile": render("board/Makefile.j2", ctx),
        "DEPLOY.md": render("board/DEPLOY.md.j2", ctx),
    }
    if board.has_ps:
        files["vivado/build_bd.tcl"] = render("board/vivado/build_bd.tcl.j2", ctx)
        files["vivado/build_bitstream.tcl"] = render("board/vivado/build_bitstream.tcl.j2", ctx)
        files["driver/README.md"] = render("board/driver/README.md.j2", ctx)
        files["driver/example.py"] = render("board/driver/example.py.j2", ctx)
        pkg = f"driver/{DRIVER_PACKAGE}"
        for name in _DRIVER_TEMPLATES:
            files[f"{pkg}/{name}"] = render(f"board/driver/fpga_flow_driver/{name}.j2", ctx)
        for name in SHARED_MODULES:
            files[f"{pkg}/{name}"] = _shared_module(name).read_bytes()
        meta = driver_metadata(graph, board, parallelism)
        files[f"{pkg}/model.json"] = json.dumps(meta, indent=2, sort_keys=True) + "\n"
    else:
        files["vivado/package_rtl_ip.tcl"] = render("board/vivado/package_rtl_ip.tcl.j2", ctx)
    return {k: (v.encode() if isinstance(v, str) else v) for k, v in files.items()}


def _shared_module(name: str) -> Path:
    """Source file of ``fpga_flow/<name>`` (``stream.py``, ``fixed.py``), copied as bytes."""
    import fpga_flow

    return Path(fpga_flow.__file__).resolve().parent / name


def emit_board(graph: Graph, board: Board, dest: Path, parallelism: int = 1) -> list[Path]:
    """Write the board files of ``graph`` for ``board`` into the project root ``dest``.

    ``dest`` is the folder that becomes ``OUT`` (``hls/``, ``rtl/`` and ``tb_data/`` are its
    siblings of the files written here). Returns the files written, sorted. Same input, same bytes.
    """
    root = Path(dest)
    written: list[Path] = []
    files = render_board(graph, board, parallelism)
    for rel in sorted(files):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[rel])
        written.append(path)
    return written
