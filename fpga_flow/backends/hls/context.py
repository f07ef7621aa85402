"""Render contexts of the HLS templates: plain functions from the hardware plan to plain data.

Identifiers: every per-layer C++ name is ``<layer.name><suffix>`` with a suffix from
:data:`SUFFIXES`, all inside ``namespace fpga_flow_model`` (stream variables, suffix ``_s``, are
locals of the top function). Layer names are distinct legal identifiers and no suffix ends with
another suffix, so the generated names are distinct too; no suffix ends like a C++ keyword
(``_t``, ``_cast``, ``_eq`` ...), so ``wchar`` or ``int`` stay harmless; :func:`check_name`
rejects names with ``__`` or a trailing ``_``. ``layer.origin`` (the model's own
node name) never reaches a generated file.

A map read by several kernels (a residual add, a concatenation: ``plan.is_chain`` false) is copied by
``stream_fork`` into one stream per reader, ``<name>_s<k>`` (:func:`copy_ident`); a merge window
engine (``window_merge_layer``) reads one stream per input. Chains have neither.
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
from fpga_flow.hw.plan import DesignPlan, LayerPlan, Rom, bits_for
from fpga_flow.ir import AvgPool2dLayer, Conv2dLayer, DenseLayer, MacLayer, QuantizeLayer, ReluLayer, ScaleLayer
from fpga_flow.stream import StreamFormat

from .spelling import cpp_type

__all__ = [
    "SUFFIXES",
    "HLS_ENGINES",
    "SKIP_KERNELS",
    "WINDOW_KERNELS",
    "build_context",
    "check_name",
    "copy_ident",
    "fixed_literal",
    "ident",
    "kernel_of",
    "layer_files",
    "readme_context",
    "rom_arrays",
    "skip_roms",
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
    "eslot": "_eslot",
    "cstart": "_cstart",
    "ccount": "_ccount",
}

#: Window engine (fpga_flow_window.h): the plan's lane op and weight storage -> the library function
#: and the ROM roles it takes after the two streams.
WINDOW_KERNELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mac": ("window_mac_layer", ("w", "col", "last", "lane", "slot", "b")),
    "codebook": ("window_codebook_layer", ("code", "col", "last", "lane", "slot", "b")),
    "sum": ("window_sum_layer", ("col", "last", "lane", "slot")),
    "max": ("window_max_layer", ("col", "last", "lane", "slot")),
    "merge": ("window_merge_layer", ("col", "last", "lane", "slot")),
}

#: Most maps a merge kernel reads (``window_merge_layer``), and most readers of one map
#: (``stream_fork``): the library's overloads.
MAX_MERGE_INPUTS = 4
MAX_FORK_READERS = 4

#: Engine of the hardware plan -> the library function spelling it, and the ROM roles it takes after
#: the two streams. Every hardware engine has one (``alias`` needs none: it reuses its input's stream);
#: ``window`` has one per lane op and storage (:data:`WINDOW_KERNELS`, chosen by :func:`kernel_of`).
HLS_ENGINES: dict[str, tuple[str, tuple[str, ...]]] = {
    "dense": ("dense_layer", ("w", "b")),
    "csr": ("csr_layer", ("w", "col", "last", "lane", "slot", "b")),
    "codebook": ("codebook_layer", ("code", "col", "last", "lane", "slot", "b")),
    "codebook_factored": ("codebook_factored_layer", ("code", "col", "last", "lane", "slot", "b")),
    "pointwise": ("pointwise_layer", ()),
    "window": WINDOW_KERNELS["mac"],
}

#: Activation-skipping engine (``LayerPlan.skip``, fpga_flow_skip.h): the library function by the weight
#: storage of its entries, and the ROM roles it takes after the two streams (:func:`skip_roms`).
SKIP_KERNELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dense": ("skip_layer", ("w", "eslot", "cstart", "ccount", "lane", "slot", "b")),
    "csr": ("skip_layer", ("w", "eslot", "cstart", "ccount", "lane", "slot", "b")),
    "codebook": ("skip_codebook_layer", ("code", "eslot", "cstart", "ccount", "lane", "slot", "b")),
}

#: Widest mantissa a C++ double literal carries exactly.
MAX_LITERAL_BITS = 53
#: Widest accumulator of the MAC and window kernels (their sums are 64-bit integers in a C simulation).
MAX_WINDOW_ACC_BITS = 64

#: C++ element type of each ROM role, relative to the layer's config struct (None: fixed spelling).
_ROM_TYPES: dict[str, str | None] = {
    "w": "weight_t",
    "code": "code_t",
    "col": "col_t",
    "last": None,
    "lane": "lane_t",
    "slot": "slot_t",
    "b": "bias_t",
    "eslot": "slot_t",
    "cstart": "ptr_t",
    "ccount": "cnt_t",
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


def copy_ident(name: str, k: int) -> str:
    """The stream variable of reader ``k``'s copy of layer ``name``'s output (``<name>_s<k>``, after a
    ``stream_fork``): no suffix of :data:`SUFFIXES` ends with a digit, and ``_s<k>`` ends with
    ``_s<j>`` only when ``k == j``, so these names collide neither with each other nor with the rest."""
    return ident(name, "stream") + str(int(k))


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


def skip_roms(p: LayerPlan) -> tuple[Rom, ...]:
    """The constant arrays of the activation-skipping kernel (``fpga_flow_skip.h``) of ``p``, from its
    :class:`~fpga_flow.hw.skipping.SkipPlan`, in the order the kernel takes them (:data:`SKIP_KERNELS`).

    Per lane, its entries column by column: ``w`` (weight mantissas) or ``code`` (codes into the
    codebook) and ``eslot`` (the accumulator slot of the entry's row), ``lanes x entries``; per lane
    and input element ``j`` (element order: the SkipPlan's positions mapped back to elements), the
    first entry ``cstart`` and the entry count ``ccount`` of column ``j``, ``lanes x n_in``; then the
    row layout (``lane``, ``slot``) and the bias ``b``, as the lock-step engines store them."""
    k = p.skip
    assert k is not None
    n_in = p.in_buffer.n_elems if p.in_buffer is not None else int(np.count_nonzero(k.pos_elem >= 0))
    have = k.pos_elem >= 0
    pos_of = np.full(n_in, -1, np.int64)
    pos_of[k.pos_elem[have]] = np.flatnonzero(have)
    if np.any(pos_of < 0):
        raise UnsupportedError(f"layer {p.layer.label}: the skipping engine's input buffer misses elements")
    field = p.rom("code" if p.codebook is not None else "w")
    sched = p.schedule
    return (
        Rom(field.role, field.bits, np.asarray(k.val, np.int64).copy(), field.frac, field.signed),
        Rom("eslot", bits_for(p.slots), np.asarray(k.slot, np.int64).copy()),
        Rom("cstart", bits_for(k.entries), np.ascontiguousarray(np.asarray(k.start, np.int64)[pos_of].T)),
        Rom("ccount", bits_for(k.max_count + 1), np.ascontiguousarray(np.asarray(k.count, np.int64)[pos_of].T)),
        Rom("lane", bits_for(p.lanes), np.asarray(sched.row_lane, np.int64).copy()),
        Rom("slot", bits_for(p.slots), np.asarray(sched.row_slot, np.int64).copy()),
        p.rom("b"),
    )


def rom_arrays(p: LayerPlan) -> tuple[Rom, ...]:
    """The constant arrays the HLS kernel of ``p`` takes: :func:`skip_roms` for an activation-skipping
    engine, else the plan's own ROMs."""
    return skip_roms(p) if p.skip is not None else p.roms


def weights_context(p: LayerPlan) -> dict:
    """Context of ``firmware/weights/<layer>.cpp``: the layer's constant arrays as exact literals."""
    arrays = []
    for rom in rom_arrays(p):
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
    if f.acc_bits > MAX_WINDOW_ACC_BITS:
        raise UnsupportedError(
            f"layer {lay.label}: the {f.acc_bits}-bit accumulator is wider than the "
            f"{MAX_WINDOW_ACC_BITS} bits of the HLS kernel's accumulator word"
        )
    if f.shift_p < 0 or f.shift_b < 0:
        raise UnsupportedError(f"layer {lay.label}: the accumulator drops product or bias bits")
    k = p.skip
    consts = [
        ("n_in", n_in),
        ("n_out", lay.size),
        ("lanes", p.lanes),
        ("lane_len", p.entries if k is None else k.entries),
        ("slots", p.slots),
        ("shift_p", f.shift_p),
        ("shift_b", f.shift_b),
    ]
    types = [
        ("weight_t", cpp_type(lay.weight_type)),
        ("bias_t", cpp_type(lay.bias_type)),
        ("acc_t", cpp_type(lay.acc_type)),
        ("lane_t", _cpp_uint(p.lane_bits)),
        ("slot_t", _cpp_uint(p.slot_bits)),
    ]
    if k is not None:  # fpga_flow_skip.h: the column pointers
        consts.append(("max_count", k.max_count))
        types += [("ptr_t", _cpp_uint(bits_for(k.entries))), ("cnt_t", _cpp_uint(bits_for(k.max_count + 1)))]
    elif p.engine != "dense":
        types.append(("col_t", _cpp_uint(p.col_bits)))
    codebook: list[str] = []
    if p.codebook is not None:
        consts.append(("n_codes", int(p.codebook.size)))
        types.append(("code_t", _cpp_uint(p.code_bits)))
        codebook = [fixed_literal(int(v), f.w_frac) for v in p.codebook]
    if p.sum_type is not None:
        types.append(("sum_t", cpp_type(p.sum_type)))
    nnz = lay.nnz
    if k is None:
        summary = f"{p.engine} kernel, {n_in} -> {lay.size}, {nnz} nonzeros, {p.lanes} lane(s), {p.entries} entries"
    else:
        summary = (f"activation-skipping kernel ({p.engine} weights), {n_in} -> {lay.size}, {nnz} nonzeros, "
                   f"{p.lanes} lane(s), {k.entries} entries in the longest lane, zero inputs skipped")
    return {
        "name": p.name,
        "cfg": ident(p.name, "cfg"),
        "summary": summary,
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


def _fixed(bits: int, frac: int, signed: bool = True) -> FixedType:
    """The fixed-point type of ``bits`` bits with ``frac`` fractional bits (``TRN``/``WRAP``)."""
    return FixedType(bits, bits - frac, signed)


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(int(v)) for v in shape)


def _window_what(p: LayerPlan) -> str:
    """What a window engine computes, as the summary line says it: ``conv 3x3, stride 2``."""
    lay, w = p.layer, p.window
    assert w is not None
    kernel = f"{w.kernel[0]}x{w.kernel[1]}"
    sh, sw = w.stride
    geometry = kernel + ("" if (sh, sw) == (1, 1) else f", stride {sh}" if sh == sw else f", stride {sh}x{sw}")
    if any(w.pads):
        geometry += ", pads " + "/".join(str(v) for v in w.pads)
    if isinstance(lay, ScaleLayer):
        return "per-channel scale"
    if isinstance(lay, Conv2dLayer):
        groups = f", {lay.groups} groups" if lay.groups > 1 else ""
        return f"conv {geometry}{groups}{', codebook' if p.codebook is not None else ''}"
    if w.op == "max":
        return f"max pool {geometry}"
    if isinstance(lay, AvgPool2dLayer):
        assert p.fields is not None
        return f"average pool {geometry}, sum / 2^{p.fields.w_frac}"
    if isinstance(lay, ReluLayer):
        return "ReLU"
    if isinstance(lay, QuantizeLayer):
        return "requantization"
    return f"{w.op} {geometry}"


def _window_config(p: LayerPlan) -> dict[str, Any]:
    """The config struct of a window engine (fpga_flow_window.h): geometry, lanes, types."""
    f, w = p.fields, p.window
    assert f is not None and w is not None
    c_in, ih, iw = w.in_shape
    c_out, oh, ow = w.out_shape
    kh, kw = w.kernel
    sh, sw = w.stride
    top, left, bottom, right = w.pads
    # the padded map: every tap of every output pixel inside it (no bounds check in the walk)
    ph = max(ih + top + bottom, (oh - 1) * sh + kh)
    pw = max(iw + left + right, (ow - 1) * sw + kw)
    consts = [
        ("in_c", c_in), ("in_h", ih), ("in_w", iw), ("out_c", c_out), ("out_h", oh), ("out_w", ow),
        ("pixels", oh * ow), ("kh", kh), ("kw", kw), ("sh", sh), ("sw", sw), ("pad_t", top), ("pad_l", left),
        ("ph", ph), ("pw", pw), ("lanes", p.lanes), ("lane_len", p.entries), ("slots", p.slots),
    ]  # fmt: skip
    types: list[tuple[str, str]] = []
    codebook: list[str] = []
    if w.op != "max" and f.acc_bits > MAX_WINDOW_ACC_BITS:
        raise UnsupportedError(
            f"layer {p.layer.label}: the {f.acc_bits}-bit accumulator is wider than the "
            f"{MAX_WINDOW_ACC_BITS} bits of the HLS window kernel's accumulator word"
        )
    if w.op == "mac":
        if f.shift_p < 0 or f.shift_b < 0:
            raise UnsupportedError(f"layer {p.layer.label}: the accumulator drops product or bias bits")
        consts += [("shift_p", f.shift_p), ("shift_b", f.shift_b)]
        types += [
            ("weight_t", cpp_type(_fixed(f.w_bits, f.w_frac, f.w_signed))),
            ("bias_t", cpp_type(_fixed(f.bias_bits, f.bias_frac, f.bias_signed))),
            ("acc_t", cpp_type(_fixed(f.acc_bits, f.acc_frac))),
        ]
        if p.codebook is not None:
            consts.append(("n_codes", int(p.codebook.size)))
            types.append(("code_t", _cpp_uint(p.code_bits)))
            codebook = [fixed_literal(int(v), f.w_frac) for v in p.codebook]
    elif w.op == "sum":  # the exact sum of the mantissas, read as acc_t: x's binary point moved by k
        types.append(("acc_t", cpp_type(_fixed(f.acc_bits, f.acc_frac))))
    types += [("col_t", _cpp_uint(p.col_bits)), ("lane_t", _cpp_uint(p.lane_bits)), ("slot_t", _cpp_uint(p.slot_bits))]
    if len(w.source_channels) > 1:  # window_merge_layer: the channels of each input map
        consts += [(f"src_c{s}", int(c)) for s, c in enumerate(w.source_channels)]
    if isinstance(p.layer, MacLayer):
        taps = f"{p.layer.nnz} nonzero taps"
    else:
        taps = f"{c_out * (1 if isinstance(p.layer, ScaleLayer) else kh * kw)} taps"
    return {
        "name": p.name,
        "cfg": ident(p.name, "cfg"),
        "summary": f"window kernel ({_window_what(p)}), {_shape(w.in_shape)} -> {_shape(w.out_shape)}, {taps}, "
        f"{p.lanes} lane(s), {p.entries} entries per pixel",
        "consts": consts,
        "relu": "true" if f.relu else "false",
        "types": types,
        "codebook": codebook,
    }


def kernel_of(p: LayerPlan) -> tuple[str, tuple[str, ...]]:
    """The library function spelling ``p`` and the ROM roles it takes after the two streams."""
    if p.engine == "window":
        assert p.window is not None
        n_src = len(p.window.source_channels)
        if n_src > 1 and (p.window.op != "sum" or n_src > MAX_MERGE_INPUTS):
            raise UnsupportedError(
                f"layer {p.layer.label}: a window engine reading {n_src} maps with op '{p.window.op}' has no HLS "
                f"spelling (the merge kernel sums the taps of 2 to {MAX_MERGE_INPUTS} maps)"
            )
        if n_src > 1:
            key = "merge"
        else:
            key = "codebook" if p.window.op == "mac" and p.codebook is not None else p.window.op
        spelled = WINDOW_KERNELS.get(key)
        if spelled is not None and set(spelled[1]) != {r.role for r in p.roms}:
            raise UnsupportedError(
                f"layer {p.layer.label}: the {key} window kernel takes ROMs {', '.join(spelled[1])}; "
                f"the plan has {', '.join(r.role for r in p.roms)}"
            )
        what = f"window op '{key}'"
    elif p.skip is not None:
        spelled = SKIP_KERNELS.get(p.engine)
        what = f"activation-skipping engine with {p.engine} weights"
        if spelled is None:
            raise UnsupportedError(
                f"layer {p.layer.label}: {what} has no HLS spelling (skipping kernels spell "
                f"{', '.join(sorted(SKIP_KERNELS))} weights)"
            )
    else:
        spelled = HLS_ENGINES.get(p.engine)
        what = f"engine '{p.engine}'"
    if spelled is None:
        raise UnsupportedError(
            f"layer {p.layer.label}: {what} has no HLS spelling "
            f"(spelled: {', '.join(sorted(HLS_ENGINES))}; window ops {', '.join(sorted(WINDOW_KERNELS))})"
        )
    return spelled


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


def _holders(plan: DesignPlan) -> dict[str, str]:
    """Layer name -> the layer (or the input) whose stream carries its values (an alias reuses its source's)."""
    holder = {plan.input.name: plan.input.name}
    for p in plan.layers:
        holder[p.name] = holder[p.layer.inputs[0]] if p.is_alias else p.name
    return holder


Edges = dict[tuple[str | None, int], str]


def _edges(plan: DesignPlan, holder: dict[str, str]) -> tuple[Edges, dict[str, list[str]]]:
    """(reader, which of its inputs) -> the stream it reads (None: the output packer), and the copies of
    each stream read by several readers.

    A map with one reader is read from its producer's stream; a map with several readers is copied by
    a ``stream_fork`` into one stream per reader, ``<name>_s<k>`` for its ``k``-th reader in graph order
    (the packer last), as :func:`fpga_flow.hw.design.plan_design` orders the buffer copies."""
    out = plan.output.name if plan.output is not None else plan.input.name
    readers: dict[str, list[tuple[str | None, int]]] = {}
    for p in plan.hardware_layers:
        for k, n in enumerate(p.layer.inputs):
            readers.setdefault(holder[n], []).append((p.name, k))
    readers.setdefault(holder[out], []).append((None, 0))
    edges: Edges = {}
    copies: dict[str, list[str]] = {}
    for h, rs in readers.items():
        if len(rs) > 1:
            copies[h] = [copy_ident(h, j) for j in range(len(rs))]
        for j, r in enumerate(rs):
            edges[r] = copies[h][j] if h in copies else ident(h, "stream")
    return edges, copies


def _stream_decls(name: str, n_elems: int, copies: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The stream of ``name`` and its copies, and the fork call writing the copies (None: one reader)."""
    streams: list[dict[str, Any]] = [{"ident": ident(name, "stream"), "type": ident(name, "type"), "depth": 0}]
    if not copies:
        return streams, None
    if len(copies) > MAX_FORK_READERS:
        raise UnsupportedError(
            f"layer {name}: its output is read by {len(copies)} kernels; the HLS stream_fork copies a map to at "
            f"most {MAX_FORK_READERS}"
        )
    # each copy holds a whole map: a reader waiting for another of its inputs never stalls the fork
    streams += [{"ident": c, "type": ident(name, "type"), "depth": n_elems} for c in copies]
    fork = {"fork": True, "name": name, "x_t": ident(name, "type"), "n": n_elems, "src": ident(name, "stream"),
            "dsts": copies}
    return streams, fork


def top_context(plan: DesignPlan) -> dict[str, Any]:
    """Context of the top function, its header, the parameters and weights headers.

    Kernels are called in graph order, one stream per edge: a map read by several kernels (a residual
    add, a concatenation) is copied by ``stream_fork`` right after its producer; a merge kernel reads
    one stream per input."""
    inp = plan.input
    holder = _holders(plan)
    edges, copies = _edges(plan, holder)
    types = [{"ident": ident(inp.name, "type"), "cpp": cpp_type(inp.out_type), "name": inp.name}]
    streams, fork = _stream_decls(inp.name, inp.size, copies.get(inp.name, []))
    calls: list[dict[str, Any]] = [fork] if fork is not None else []
    configs = []
    decls = []
    for p in plan.hardware_layers:
        name = p.name
        func, roles = kernel_of(p)
        _check_literals(p)
        types.append({"ident": ident(name, "type"), "cpp": cpp_type(p.layer.out_type), "name": name})
        own, fork = _stream_decls(name, p.layer.size, copies.get(name, []))
        streams += own
        calls.append(
            {
                "fork": False,
                "name": name,
                "func": func,
                "x_t": ident(holder[p.layer.inputs[0]], "type"),
                "y_t": ident(name, "type"),
                "cfg": ident(name, "cfg"),
                "src": ", ".join(edges[(name, k)] for k in range(len(p.layer.inputs))),
                "dst": ident(name, "stream"),
                "args": [ident(name, r) for r in roles],
            }
        )
        if fork is not None:
            calls.append(fork)
        if p.engine == "pointwise":
            configs.append(_pointwise_config(p))
        elif p.engine == "window":
            configs.append(_window_config(p))
            decls += [_rom_decl(p, rom) for rom in p.roms]
        else:
            configs.append(_mac_config(p))
            decls += [_rom_decl(p, rom) for rom in rom_arrays(p)]
    out = holder[plan.output.name if plan.output is not None else inp.name]
    return {
        "types": types,
        "streams": streams,
        "calls": calls,
        "configs": configs,
        "decls": decls,
        "in_t": ident(inp.name, "type"),
        "out_t": ident(out, "type"),
        "first_stream": ident(inp.name, "stream"),
        "last_stream": edges[(None, 0)],
        "io_in": _io(plan.in_stream.fmt, inp.out_type),
        "io_out": _io(plan.out_stream.fmt, plan.output_type),
        "weight_files": layer_files(plan),
    }


def layer_files(plan: DesignPlan) -> list[str]:
    """Relative paths (from ``hls/``) of the per-layer weight sources."""
    return [f"firmware/weights/{p.name}.cpp" for p in plan.hardware_layers if rom_arrays(p)]


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
        w = p.window
        shape = f"{n_in} -> {p.layer.size}" if w is None else f"{_shape(w.in_shape)} -> {_shape(w.out_shape)}"
        if w is not None:
            kernel = f"window ({_window_what(p)})"
        elif p.skip is not None:
            kernel = f"activation-skipping ({p.engine} weights)"
        else:
            kernel = e["engine"]
        rows.append(
            {
                "name": e["name"],
                "kernel": kernel,
                "shape": shape,
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
        "parallelism": plan.parallelism_text,
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
