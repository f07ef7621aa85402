"""Write the Verilog design of a graph: the generated top, the library it uses, the ROM files."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jinja2

from fpga_flow.ir import Graph
from fpga_flow.names import sanitize
from fpga_flow.resources import templates_dir

from .plan import RtlPlan, plan_rtl
from .spelling import verilog_fixed

__all__ = ["LIBRARY_FILES", "TOP_MODULE", "emit_rtl", "library_dir", "render_context", "write_mem"]

#: Name of the generated top module (contract 4 ports).
TOP_MODULE = "fpga_flow_top"

#: The hand-written library, in dependency order (leaves first).
LIBRARY_FILES = (
    "ff_requant.v",
    "ff_codebook.v",
    "ff_act_mem.v",
    "ff_axis_unpack.v",
    "ff_axis_pack.v",
    "ff_mac_lane.v",
    "ff_sparse_mac.v",
)


def library_dir() -> Path:
    """Folder holding the hand-written Verilog library (``templates/rtl/lib``)."""
    return templates_dir() / "rtl" / "lib"


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / "rtl")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_context(plan: RtlPlan) -> dict[str, Any]:
    """The template context of ``top.v.j2`` for a plan (plain data only)."""
    def buf(b: Any) -> dict[str, Any]:
        return {"ident": b.ident, "layer": sanitize(b.layer, "layer"), "width": b.width, "banks": b.banks,
                "aw": b.aw, "bw": b.bw, "rd_ports": b.rd_ports, "n_elems": b.n_elems}

    u = plan.unpack
    p = plan.pack
    first = plan.buffers[0]
    return {
        "graph_name": sanitize(plan.graph_name, "graph"),
        "parallelism": plan.parallelism,
        "in_type": verilog_fixed(plan.in_type).comment(),
        "out_type": verilog_fixed(plan.out_type).comment(),
        "n_in": u.stream.n_elems,
        "n_out": p.stream.n_elems,
        "in_stream": u.stream,
        "out_stream": p.stream,
        "buffers": [buf(b) for b in plan.buffers],
        "unpack": {"buf": first.ident, "width": u.stream.width, "per_beat": u.stream.per_beat,
                   "beats": u.stream.beats, "tdata_bits": u.stream.tdata_bits, "aw": first.aw},
        "engines": [
            {"ident": e.ident, "op": e.op, "storage": e.storage, "lanes": e.lanes, "entries": e.entries,
             "in_buf": e.in_buf.ident, "out_buf": e.out_buf.ident, "params": list(e.params.items()),
             "codebook": e.codebook_literal, "rom_file": e.rom_file}
            for e in plan.engines
        ],
        "pack": {"buf": p.buffer.ident, "width": p.stream.width, "per_beat": p.stream.per_beat,
                 "beats": p.stream.beats, "tdata_bits": p.stream.tdata_bits, "aw": p.buffer.aw,
                 "bw": p.buffer.bw, "beat_aw": p.beat_aw, "rom_file": p.rom_file},
    }


def write_mem(path: Path, words: list[int], width: int) -> None:
    """A ``$readmemh`` file: one word per line, ``ceil(width/4)`` hex digits."""
    digits = max(1, (width + 3) // 4)
    path.write_text("".join(f"{w:0{digits}x}\n" for w in words))


def emit_rtl(graph: Graph, dest: Path, parallelism: int = 1) -> list[Path]:
    """Write the Verilog design of ``graph`` into ``dest`` and return the files written.

    ``dest`` gets ``fpga_flow_top.v`` (ports ``ap_clk``, ``ap_rst_n``, ``in_r_*``, ``out_r_*``),
    a copy of the ``ff_*.v`` library, one ``$readmemh`` ROM file per layer plus ``out_pack.mem``
    (simulators and Vivado look for them in the working / source directory), and ``sources.f``,
    the compile order. ``parallelism`` is the number of MAC lanes per layer.
    """
    plan = plan_rtl(graph, parallelism)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in LIBRARY_FILES:
        target = dest / name
        shutil.copyfile(library_dir() / name, target)
        written.append(target)
    top = dest / f"{TOP_MODULE}.v"
    top.write_text(_env().get_template("top.v.j2").render(render_context(plan)))
    written.append(top)
    for e in plan.engines:
        path = dest / e.rom_file
        write_mem(path, e.rom_words, e.rom_width)
        written.append(path)
    path = dest / plan.pack.rom_file
    write_mem(path, plan.pack.rom_words, plan.pack.rom_width)
    written.append(path)
    flist = dest / "sources.f"
    flist.write_text("".join(f"{n}\n" for n in (*LIBRARY_FILES, top.name)))
    written.append(flist)
    return written
