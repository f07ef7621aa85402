"""Write the Verilog design of a hardware plan: the generated top, the library it uses, the ROM files.

A map read by several layers (a residual block, a concat) has one ``ff_act_mem`` per reader (the plan's
buffer copies): its writer drives the first copy's write port, every other copy is wired to it, and
the writer's ready is all the copies' ``wr_ready`` (a sample is committed to all of them at once, so
they stay in step). A merge engine (``ff_window`` with ``N_SRC`` inputs) takes every input's valid,
release and read data, and drives every input's read port with its (bank, address), each input
taking the low bits its own buffer uses."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from fpga_flow.errors import UnsupportedError
from fpga_flow.hw.plan import BufferPlan, DesignPlan, LayerPlan
from fpga_flow.names import NameTable, sanitize
from fpga_flow.resources import templates_dir

from .engines import RtlEngine, spell_engine
from .spelling import clog2, verilog_fixed

__all__ = ["LIBRARY_FILES", "TOP_MODULE", "emit_rtl", "library_dir", "render_context", "spell_engines", "write_mem"]

#: Name of the generated top module (contract 4 ports).
TOP_MODULE = "fpga_flow_top"

#: The hand-written library, in dependency order (leaves first).
LIBRARY_FILES = (
    "ff_requant.v",
    "ff_codebook.v",
    "ff_act_mem.v",
    "ff_axis_unpack.v",
    "ff_axis_unpack_fm.v",
    "ff_axis_pack.v",
    "ff_mac_lane.v",
    "ff_factored_lane.v",
    "ff_sparse_mac.v",
    "ff_skip_mac.v",
    "ff_window.v",
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


def spell_engines(plan: DesignPlan) -> list[RtlEngine]:
    """The Verilog instance of every hardware layer, in order (idents ``l<k>_<layer>``)."""
    names = NameTable()
    out = []
    for k, p in enumerate(plan.hardware_layers, start=1):
        out.append(spell_engine(p, f"l{k}_{names.add(p.name, prefix='layer')}"))
    return out


def _buf(b: BufferPlan) -> dict[str, Any]:
    """A buffer as the template spells it; a shared one (``groups``) has one read address per
    (copy, bank) (``ra_fields``) instead of one per read port."""
    port_group = ""
    if b.shared and b.port_group:  # one 16-bit copy number per read port, port 0 in the low bits
        assert len(b.port_group) == b.read_ports
        port_group = f"{16 * b.read_ports}'h{sum(int(g) << (16 * k) for k, g in enumerate(b.port_group)):x}"
    return {"ident": f"b{b.index}", "layer": sanitize(b.layer, "layer"), "width": b.width, "banks": b.banks,
            "aw": b.addr_bits, "bw": b.bank_bits, "rd_ports": b.read_ports, "n_elems": b.n_elems,
            "groups": b.groups, "ra_fields": b.groups * b.banks if b.shared else b.read_ports,
            "port_group": port_group}


def _copies(plan: DesignPlan, first: BufferPlan) -> list[BufferPlan]:
    """The other copies of the map ``first`` holds (one buffer per reader: their writer drives them all)."""
    out = [b for b in plan.buffers if b.layer == first.layer and b is not first]
    for b in out:
        same = (b.width, b.banks, b.addr_bits) == (first.width, first.banks, first.addr_bits)
        if not (same and np.array_equal(b.bank_of, first.bank_of) and np.array_equal(b.addr_of, first.addr_of)):
            raise UnsupportedError(f"the copies b{first.index} and b{b.index} of '{first.layer}' differ in layout")
    return out


def _write_side(plan: DesignPlan, first: BufferPlan) -> dict[str, Any]:
    """How a writer drives every copy of its output: the first copy's write port, ``ready`` (all the
    copies' wr_ready: a sample is committed to all of them at once) and the ``copies`` wired to it."""
    copies = _copies(plan, first)
    return {"ready": " & ".join(f"b{b.index}_wr_ready" for b in (first, *copies)),
            "copies": [f"b{b.index}" for b in copies]}


def _slices(wire: str, lanes: int, full: int, bits: int) -> str:
    """``wire`` (``lanes`` fields of ``full`` bits) with each field cut to its low ``bits`` bits."""
    if bits == full:
        return wire
    return "{" + ", ".join(f"{wire}[{lane * full + bits - 1}:{lane * full}]" for lane in reversed(range(lanes))) + "}"


def _reads(p: LayerPlan, e: RtlEngine, ident: str) -> dict[str, Any] | None:
    """The read side of a window engine with several inputs (None with one): every input's valid /
    release / read data concatenated (input 0 lowest), its rbank / raddr cut from the engine's."""
    ins = p.in_buffers
    if len(ins) <= 1:
        return None
    bw, aw = e.params["BW_IN"], e.params["AW_IN"]
    for b in ins:
        if b.read_ports != p.lanes:
            raise UnsupportedError(f"layer {p.layer.label}: input buffer b{b.index} has {b.read_ports} read ports "
                                   f"for {p.lanes} lanes")
    cat = lambda suffix: "{" + ", ".join(f"b{b.index}_{suffix}" for b in reversed(ins)) + "}"  # noqa: E731
    return {
        "bw": bw, "aw": aw, "valid": cat("rd_valid"), "release": cat("rd_release"), "rdata": cat("rdata"),
        "desc": " + ".join(f"b{b.index}" for b in ins),
        "wires": [{"buf": f"b{b.index}", "rbank": _slices(f"{ident}_rbank", p.lanes, bw, b.bank_bits),
                   "raddr": _slices(f"{ident}_raddr", p.lanes, aw, b.addr_bits)} for b in ins],
    }


def _pack_words(plan: DesignPlan) -> tuple[list[int], int]:
    """The packer's ROM: per beat, the (valid, bank, address) of each element it sends."""
    last = plan.out_stream.buffer
    fmt = plan.out_stream.fmt
    ew = 1 + last.bank_bits + last.addr_bits
    words = []
    for b in range(fmt.beats):
        word = 0
        for k in range(fmt.per_beat):
            e = b * fmt.per_beat + k
            if e < last.n_elems:
                loc = (1 << (last.addr_bits + last.bank_bits)) | (int(last.bank_of[e]) << last.addr_bits)
                word |= (loc | int(last.addr_of[e])) << (k * ew)
        words.append(word)
    return words, fmt.per_beat * ew


def _unpack(plan: DesignPlan) -> dict[str, Any]:
    """The unpacker: ``ff_axis_unpack`` (one beat per cycle, element ``j`` in bank ``j % banks``, the
    buffer's banks a multiple of the elements per beat), or
    ``ff_axis_unpack_fm`` before a window engine (``fm`` set: one element per cycle, pixel-major)."""
    ins = plan.in_stream
    first = ins.buffer
    ctx: dict[str, Any] = {"buf": f"b{first.index}", "width": ins.fmt.width, "per_beat": ins.fmt.per_beat,
                           "beats": ins.fmt.beats, "tdata_bits": ins.fmt.tdata_bits, "aw": first.addr_bits,
                           "banks": first.banks, "fm": None}
    ctx.update(_write_side(plan, first))
    fm = first.fm
    if fm is not None:
        ctx["fm"] = {"channels": fm.channels, "pixels": fm.pixels, "kbw": clog2(ins.fmt.per_beat),
                     "pxw": clog2(fm.pixels)}
    return ctx


def render_context(plan: DesignPlan, engines: list[RtlEngine] | None = None) -> dict[str, Any]:
    """The template context of ``top.v.j2`` for a plan (plain data only)."""
    engines = spell_engines(plan) if engines is None else engines
    ins, outs = plan.in_stream, plan.out_stream
    hw = plan.hardware_layers
    pack_words, pack_width = _pack_words(plan)
    last = outs.buffer
    return {
        "graph_name": sanitize(plan.graph.name, "graph"),
        "parallelism": plan.parallelism_text,
        "in_type": verilog_fixed(ins.type).comment(),
        "out_type": verilog_fixed(outs.type).comment(),
        "n_in": ins.fmt.n_elems,
        "n_out": outs.fmt.n_elems,
        "in_stream": ins.fmt,
        "out_stream": outs.fmt,
        "buffers": [_buf(b) for b in plan.buffers],
        "unpack": _unpack(plan),
        "engines": [
            {"ident": e.ident, "module": e.module, "op": p.layer.op, "storage": p.engine, "lanes": p.lanes,
             "entries": p.rtl_entries, "in_buf": f"b{p.in_buffer.index}", "out_buf": f"b{p.out_buffer.index}",
             "params": list(e.params.items()), "codebook": e.codebook_literal, "slots": e.slots_literal,
             "rom_param": e.rom_param, "rom_value": e.rom_value,
             "reads": _reads(p, e, e.ident), "out": _write_side(plan, p.out_buffer)}
            for e, p in zip(engines, hw, strict=True)
            if p.in_buffer is not None and p.out_buffer is not None
        ],
        "pack": {"buf": f"b{last.index}", "width": outs.fmt.width, "per_beat": outs.fmt.per_beat,
                 "beats": outs.fmt.beats, "tdata_bits": outs.fmt.tdata_bits, "aw": last.addr_bits,
                 "bw": last.bank_bits, "beat_aw": clog2(outs.fmt.beats), "rom_file": "out_pack.mem",
                 "rom_width": pack_width, "rom_words": pack_words},
    }


def write_mem(path: Path, words: list[int], width: int) -> None:
    """A ``$readmemh`` file: one word per line, ``ceil(width/4)`` hex digits."""
    digits = max(1, (width + 3) // 4)
    path.write_text("".join(f"{w:0{digits}x}\n" for w in words))


def emit_rtl(plan: DesignPlan, dest: Path) -> list[Path]:
    """Write the Verilog design of ``plan`` into ``dest`` and return the files written.

    ``dest`` gets ``fpga_flow_top.v`` (ports ``ap_clk``, ``ap_rst_n``, ``in_r_*``, ``out_r_*``),
    a copy of the ``ff_*.v`` library, one ``$readmemh`` ROM file per engine plus ``out_pack.mem``
    (simulators and Vivado look for them in the working / source directory), and ``sources.f``,
    the compile order.
    """
    engines = spell_engines(plan)
    ctx = render_context(plan, engines)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in LIBRARY_FILES:
        target = dest / name
        shutil.copyfile(library_dir() / name, target)
        written.append(target)
    top = dest / f"{TOP_MODULE}.v"
    top.write_text(_env().get_template("top.v.j2").render(ctx))
    written.append(top)
    for e in engines:
        path = dest / e.rom_file
        write_mem(path, e.rom_words, e.rom_width)
        written.append(path)
        for name, words, width in e.extra_roms:
            path = dest / name
            write_mem(path, words, width)
            written.append(path)
    path = dest / ctx["pack"]["rom_file"]
    write_mem(path, ctx["pack"]["rom_words"], ctx["pack"]["rom_width"])
    written.append(path)
    flist = dest / "sources.f"
    flist.write_text("".join(f"{n}\n" for n in (*LIBRARY_FILES, top.name)))
    written.append(flist)
    return written
