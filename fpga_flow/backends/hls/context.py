"""Render contexts of the HLS templates: plain functions from the hardware plan to plain data.

Identifiers: every per-layer C++ name is ``<layer.name><suffix>`` with a suffix from
:data:`SUFFIXES`, all inside ``namespace fpga_flow_model`` (stream variables, suffix ``_s``, are
locals of the top function). Layer names are distinct legal identifiers and no suffix ends with
another suffix, so the generated names are distinct too; no suffix ends like a C++ keyword
(``_t``, ``_cast``, ``_eq`` ...), so ``wchar`` or ``int`` stay harmless; :func:`check_name`
rejects names with ``__`` or a trailing ``_``. ``layer.origin`` (the model's own
node name) never reaches a generated file.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from fpga_flow.boards import Board
from fpga_flow.errors import UnsupportedError
from fpga_flow.fixed import FixedType
from fpga_flow.hw.figures import plan_figures
from fpga_flow.hw.plan import DesignPlan, LayerPlan, Rom
from fpga_flow.ir import DenseLayer
from fpga_flow.stream import StreamFormat

from .spelling import cpp_type

__all__ = [
    "SUFFIXES",
    "HLS_ENGINES",
    "build_context",
    "check_name",
    "fixed_literal",
    "ident",
    "layer_files",
    "readme_context",
    "top_context",
    "weights_context",
]

#: role -> identifier suffix. No suffix is a suffix of another (so names never collide).
SUFFIXES: dict[str, str] = {
    "type": "_type",
    "cfg": "_cfg",
    "stream": "_s",
    "w": "_w",
    "code": "_code",
    "col": "_col",
    "last": "_last",
    "lane": "_lane",
    "slot": "_slot",
    "b": "_b",
}

#: Engine of the hardware plan -> the library function spelling it, and the ROM roles it takes after
#: the two streams. Every hardware engine has one (``alias`` needs none: it reuses its input's stream).
HLS_ENGINES: dict[str, tuple[str, tuple[str, ...]]] = {
    "dense": ("dense_layer", ("w", "b")),
    "csr": ("csr_layer", ("w", "col", "last", "lane", "slot", "b")),
    "codebook": ("codebook_layer", ("code", "col", "last", "lane", "slot", "b")),
    "codebook_factored": ("codebook_factored_layer", ("code", "col", "last", "lane", "slot", "b")),
    "pointwise": ("pointwise_layer", ()),
}

#: Widest mantissa a C++ double literal carries exactly.
MAX_LITERAL_BITS = 53

#: C++ element type of each ROM role, relative to the layer's config struct (None: fixed spelling).
_ROM_TYPES: dict[str, str | None] = {
    "w": "weight_t",
    "code": "code_t",
    "col": "col_t",
    "last": None,
    "lane": "lane_t",
    "slot": "slot_t",
    "b": "bias_t",
}

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

#: Literals per line in weight arrays.
PER_LINE = 16


def check_name(name: str) -> str:
    """``name`` if C++ identifiers can be built from it by appending a suffix, else ``ValueError``.

    Every generated name carries a suffix, so keywords (``int`` -> ``int_type``) are harmless;
    what must not happen is an illegal character, a double underscore or a trailing underscore.
    """
    if not _IDENT.match(name) or "__" in name or name.endswith("_"):
        raise ValueError(
            f"layer name {name!r} is not a safe C++ identifier; sanitize model names with fpga_flow.names.NameTable"
        )
    return name


def ident(name: str, role: str) -> str:
    """The C++ identifier of ``role`` (a key of :data:`SUFFIXES`) for layer ``name``."""
    return check_name(name) + SUFFIXES[role]


def _cpp_uint(bits: int) -> str:
    return f"ap_uint<{bits}>"


def _rom_ctype(p: LayerPlan, rom: Rom) -> str:
    """The ROM word type: raw bits of the element type (``fpga_flow::rom``, fpga_flow_common.h)."""
    t = _ROM_TYPES[rom.role]
    elem = _cpp_uint(1) + " " if t is None else f"{ident(p.name, 'cfg')}::{t}"
    return f"fpga_flow::rom<{elem}>::type"


def _int_literal(v: int) -> str:
    """C++ integer literal, portable where ``long`` has 32 bits."""
    return f"{v}LL" if not -(1 << 31) < v < (1 << 31) else str(v)


def _literals(rom: Rom) -> list[str]:
    """The ROM words: two's-complement mantissas of fixed-point elements, unsigned indices as they are."""
    return [_int_literal(int(v)) for v in np.asarray(rom.values, np.int64).ravel()]


def _rom_comment(rom: Rom) -> str:
    t = _ROM_TYPES[rom.role]
    if rom.frac is None:
        return f"{_cpp_uint(rom.bits) if t is None else t}: unsigned integers"
    return f"{t} mantissas: value = word * 2^{-rom.frac}"


def _lines(items: list[str]) -> list[str]:
    return [", ".join(items[i : i + PER_LINE]) + "," for i in range(0, len(items), PER_LINE)]


def _rom_decl(p: LayerPlan, rom: Rom) -> dict:
    dims = "".join(f"[{d}]" for d in rom.shape)
    return {"ctype": _rom_ctype(p, rom), "ident": ident(p.name, rom.role), "dims": dims}


def weights_context(p: LayerPlan) -> dict:
    """Context of ``firmware/weights/<layer>.cpp``: the layer's constant arrays as exact literals."""
    arrays = []
    for rom in p.roms:
        lits = _literals(rom)
        if rom.values.ndim == 2:
            n = rom.shape[1]
            blocks = [_lines(lits[i * n : (i + 1) * n]) for i in range(rom.shape[0])]
        else:
            blocks = [_lines(lits)]
        arrays.append({**_rom_decl(p, rom), "comment": _rom_comment(rom), "two_d": rom.values.ndim == 2,
                       "blocks": blocks, "role": rom.role})
    return {"name": p.name, "arrays": arrays}


def _mac_config(p: LayerPlan) -> dict[str, Any]:
    lay = p.layer
    f = p.fields
    assert isinstance(lay, DenseLayer) and f is not None
    n_in = lay.n_in
    consts = [
        ("n_in", n_in),
        ("n_out", lay.size),
        ("lanes", p.lanes),
        ("lane_len", p.entries),
        ("slots", p.slots),
    ]
    types = [
        ("weight_t", cpp_type(lay.weight_type)),
        ("bias_t", cpp_type(lay.bias_type)),
        ("acc_t", cpp_type(lay.acc_type)),
        ("lane_t", _cpp_uint(p.lane_bits)),
        ("slot_t", _cpp_uint(p.slot_bits)),
    ]
    if p.engine != "dense":
        types.append(("col_t", _cpp_uint(p.col_bits)))
    codebook: list[str] = []
    if p.codebook is not None:
        consts.append(("n_codes", int(p.codebook.size)))
        types.append(("code_t", _cpp_uint(p.code_bits)))
        codebook = [fixed_literal(int(v), f.w_frac) for v in p.codebook]
    if p.sum_type is not None:
        types.append(("sum_t", cpp_type(p.sum_type)))
    nnz = lay.nnz
    return {
        "name": p.name,
        "cfg": ident(p.name, "cfg"),
        "summary": f"{p.engine} kernel, {n_in} -> {lay.size}, {nnz} nonzeros, {p.lanes} lane(s), {p.entries} entries",
        "consts": consts,
        "relu": "true" if f.relu else "false",
        "types": types,
        "codebook": codebook,
    }


def _pointwise_config(p: LayerPlan) -> dict[str, Any]:
    f = p.fields
    assert f is not None
    x = f.x_type
    ext = FixedType(f.acc_bits, f.acc_bits - x.frac, True)
    acc = FixedType(f.acc_bits, f.acc_bits - f.acc_frac, True)
    how = "" if p.shift == 0 else f", scaled by 2^{p.shift}"
    return {
        "name": p.name,
        "cfg": ident(p.name, "cfg"),
        "summary": f"point-wise{' ReLU' if f.relu else ''}{how}, {p.layer.size} elements",
        "consts": [("n", p.layer.size), ("lanes", p.lanes), ("acc_width", f.acc_bits)],
        "relu": "true" if f.relu else "false",
        "types": [("ext_t", cpp_type(ext)), ("acc_t", cpp_type(acc))],
        "codebook": [],
    }


def _io(fmt: StreamFormat, t: FixedType) -> dict[str, Any]:
    return {
        "n": fmt.n_elems,
        "width": fmt.width,
        "per_beat": fmt.per_beat,
        "beats": fmt.beats,
        "tdata": fmt.tdata_bits,
        "signed": "true" if fmt.signed else "false",
        "type": cpp_type(t),
    }


def _check_literals(p: LayerPlan) -> None:
    f = p.fields
    if f is None:
        return
    for what, bits in (("weight", f.w_bits), ("bias", f.bias_bits)):
        if bits > MAX_LITERAL_BITS:
            raise UnsupportedError(
                f"layer {p.layer.label}: {what} type is wider than {MAX_LITERAL_BITS} bits, "
                "which C++ literals cannot carry exactly; quantize it to fewer bits"
            )


def top_context(plan: DesignPlan) -> dict[str, Any]:
    """Context of the top function, its header, the parameters and weights headers."""
    inp = plan.input
    types = [{"ident": ident(inp.name, "type"), "cpp": cpp_type(inp.out_type), "name": inp.name}]
    streams = [{"ident": ident(inp.name, "stream"), "type": ident(inp.name, "type")}]
    calls = []
    configs = []
    decls = []
    prev = inp.name
    for p in plan.hardware_layers:
        name = p.name
        spelled = HLS_ENGINES.get(p.engine)
        if spelled is None:
            raise UnsupportedError(
                f"layer {p.layer.label}: engine '{p.engine}' has no HLS spelling "
                f"(spelled: {', '.join(sorted(HLS_ENGINES))})"
            )
        _check_literals(p)
        func, roles = spelled
        types.append({"ident": ident(name, "type"), "cpp": cpp_type(p.layer.out_type), "name": name})
        streams.append({"ident": ident(name, "stream"), "type": ident(name, "type")})
        calls.append(
            {
                "name": name,
                "func": func,
                "x_t": ident(prev, "type"),
                "y_t": ident(name, "type"),
                "cfg": ident(name, "cfg"),
                "src": ident(prev, "stream"),
                "dst": ident(name, "stream"),
                "args": [ident(name, r) for r in roles],
            }
        )
        if p.engine == "pointwise":
            configs.append(_pointwise_config(p))
        else:
            configs.append(_mac_config(p))
            decls += [_rom_decl(p, rom) for rom in p.roms]
        prev = name
    return {
        "types": types,
        "streams": streams,
        "calls": calls,
        "configs": configs,
        "decls": decls,
        "in_t": ident(inp.name, "type"),
        "out_t": ident(prev, "type"),
        "first_stream": ident(inp.name, "stream"),
        "last_stream": ident(prev, "stream"),
        "io_in": _io(plan.in_stream.fmt, inp.out_type),
        "io_out": _io(plan.out_stream.fmt, plan.output_type),
        "weight_files": layer_files(plan),
    }


def layer_files(plan: DesignPlan) -> list[str]:
    """Relative paths (from ``hls/``) of the per-layer weight sources."""
    return [f"firmware/weights/{p.name}.cpp" for p in plan.hardware_layers if p.roms]


def build_context(plan: DesignPlan, board: Board) -> dict[str, Any]:
    """Context of ``build_prj.tcl``."""
    if not _PART.match(board.part):
        raise ValueError(f"board {board.name}: part {board.part!r} is not a plain part name")
    return {
        "board": board.name if _PART.match(board.name) else "board",
        "part": board.part,
        "clock_mhz": f"{board.clock_mhz:g}",
        "period": f"{board.clock_period_ns:g}",
        "weight_files": layer_files(plan),
    }


def readme_context(plan: DesignPlan, board: Board) -> dict[str, Any]:
    """Context of ``hls/README.md``: the plan's figures per layer."""
    fig = plan_figures(plan)
    rows = []
    for e in fig["layers"]:
        if e["op"] == "stream" or e["engine"] == "alias":
            continue
        p = plan.layer(e["name"])
        n_in = p.in_buffer.n_elems if p.in_buffer is not None else 0
        rows.append(
            {
                "name": e["name"],
                "kernel": e["engine"],
                "shape": f"{n_in} -> {p.layer.size}",
                "nnz": getattr(p.layer, "nnz", "-"),
                "lanes": e["lanes"],
                "weight_bits": e["weight_bits"],
                "cycles": e["hls_cycles"],
                "dsp": e["dsp"],
                "bram36": f"{e['bram36']:g}",
            }
        )
    t = fig["totals"]
    return {
        **build_context(plan, board),
        "io_in": _io(plan.in_stream.fmt, plan.input.out_type),
        "io_out": _io(plan.out_stream.fmt, plan.output_type),
        "parallelism": plan.parallelism,
        "rows": rows,
        "totals": {"weight_bits": t["weight_bits"], "dsp": t["dsp"], "bram36": f"{t['bram36']:g}",
                   "lut": t["lut"], "ff": t["ff"], "interval_cycles": t["hls_ii"],
                   "latency_cycles": t["hls_latency"], "rtl_ii": t["ii"], "rtl_latency": t["latency"]},
    }


def fixed_literal(mantissa: int, frac: int) -> str:
    """Exact C++ double literal of ``mantissa * 2**-frac`` (|mantissa| < 2**53)."""
    m = int(mantissa)
    if abs(m) >= 1 << MAX_LITERAL_BITS:
        raise ValueError(f"mantissa {m} does not fit a double exactly")
    return repr(math.ldexp(float(m), -int(frac)))
