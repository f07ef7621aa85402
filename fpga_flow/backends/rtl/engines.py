"""How the Verilog backend spells each engine of the hardware plan (one entry per engine).

Every MAC and point-wise engine of :mod:`fpga_flow.hw` becomes one ``ff_sparse_mac`` instance between
two ``ff_act_mem`` buffers: the MAC engines walk their lane arrays, the point-wise engine an identity
matrix (one weight 1 per element, the binary point moved by the plan's shift), so ReLU and the
requantization are the engine's ``ff_requant``. The ROM word ``k`` holds entry ``k`` of every lane
(lane ``l`` in bits ``[l*ENTRY_W +: ENTRY_W]``, LSB first: weight field, input address, input bank,
bias, first, last, valid -- see ``ff_mac_lane.v``); an entry's input element is located through
the input buffer's (bank, address) table, so no hardware divides. Short lanes are padded with
invalid entries. The point-wise engine sets ``IDENTITY`` (every weight is 1: the lanes have no
multiplier).

A ``window`` engine becomes one ``ff_window`` instance: its ROM holds one output pixel's walk
(``entries`` words, every lane's entry ``k`` in word ``k``), and each entry stores where its tap
lies relative to the pixel's window (:func:`fpga_flow.hw.window.tap_fields`: offset, ky, kx,
input bank) instead of an absolute address; the engine adds the pixel's base address and checks
the padding. Entry (LSB first): weight field, offset, ky, kx, input bank, bias, first, last,
valid (``ff_window.v``). Every lane walks exactly ``slots`` rows per pixel (its rows, then the
dummy rows, without bias); entries past them are invalid but keep the plan's tap (the lane's own
banks). Op ``sum`` sets ``IDENTITY``, op ``max`` sets ``MAX_MODE``.

A merge (a residual ``Add`` or a ``Concat``: a 1x1 ``sum`` window reading several maps) is one
``ff_window`` with ``N_SRC`` inputs: each entry's offset and bank are in the layout of the input it
reads (``tap_fields(p).src``), stored in one more field above valid (``SRCW`` bits); ``AW_IN`` /
``BW_IN`` are the widest input's, ``SLOTS_SRC`` packs each input's words per pixel (32 bits each).
A single-input window gets neither parameter nor field (its spelling is the chain's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fpga_flow.errors import UnsupportedError
from fpga_flow.hw.plan import LayerPlan
from fpga_flow.hw.window import TapFields, tap_fields

from .spelling import OVF_CODE, RND_CODE, clog2

__all__ = ["RTL_ENGINES", "RtlEngine", "spell_engine", "spell_mac", "spell_skip", "spell_window"]


@dataclass(frozen=True, eq=False)
class RtlEngine:
    """One engine instance as the top template instantiates it."""

    module: str
    ident: str
    params: dict[str, int]
    rom_words: list[int]
    rom_width: int
    codebook_literal: str | None
    #: ``SLOTS_SRC`` of a window engine reading several maps (None otherwise)
    slots_literal: str | None = None
    #: the ROM files beyond :attr:`rom_file` (file name, words, width): ``ff_skip_mac``'s scan, bias and
    #: per-lane entry ROMs
    extra_roms: tuple[tuple[str, list[int], int], ...] = ()
    #: the engine's ROM parameter: ``ROM_FILE`` (the file) or ``ROM_PREFIX`` (``ff_skip_mac``: its files'
    #: common prefix, the ident)
    rom_param: str = "ROM_FILE"

    @property
    def rom_file(self) -> str:
        return f"{self.ident}_ptr.mem" if self.rom_param == "ROM_PREFIX" else f"{self.ident}.mem"

    @property
    def rom_value(self) -> str:
        return self.ident if self.rom_param == "ROM_PREFIX" else self.rom_file


def _entries(p: LayerPlan) -> list[list[tuple[int, int, int, bool, bool]]]:
    """Per lane, its entries as (input element, weight field, row, first, last)."""
    s = p.schedule
    if p.engine == "pointwise":
        return [[(r, 1, r, True, True) for r in rows] for rows in s.lane_rows]
    col, val, last = p.arrays["col"], p.arrays["val"], p.arrays["last"]
    out: list[list[tuple[int, int, int, bool, bool]]] = []
    for lane, rows in enumerate(s.lane_rows):
        ents: list[tuple[int, int, int, bool, bool]] = []
        t = 0
        for r in rows:
            first = True
            while True:
                end = bool(last[lane, t])
                ents.append((int(col[lane, t]), int(val[lane, t]), r, first, end))
                t += 1
                first = False
                if end:
                    break
        out.append(ents)
    return out


def _check_shifts(p: LayerPlan) -> None:
    f = p.fields
    assert f is not None
    if f.shift_p < 0 or f.shift_b < 0:
        raise UnsupportedError(f"layer {p.layer.label}: the accumulator drops product or bias bits")


def _lane_params(p: LayerPlan) -> dict[str, int]:
    """The ``ff_mac_lane`` parameters every MAC-style engine passes (arithmetic and buffer widths)."""
    f, inb, outb = p.fields, p.in_buffer, p.out_buffer
    assert f is not None and inb is not None and outb is not None
    return {
        "P": p.lanes,
        "ENTRIES": p.entries,
        "EAW": clog2(p.entries),
        "W_X": f.x_type.width,
        "X_SIGNED": int(f.x_type.signed),
        "WF": f.weight_field_bits,
        "W_W": f.w_bits,
        "W_SIGNED": int(f.w_signed),
        "CB": int(p.codebook is not None),
        "CB_BITS": max(p.code_bits, 1),
        "BIAS_W": f.bias_bits,
        "B_SIGNED": int(f.bias_signed),
        "W_ACC": f.acc_bits,
        "SHIFT_P": f.shift_p,
        "SHIFT_B": f.shift_b,
        "AW_IN": inb.addr_bits,
        "BW_IN": inb.bank_bits,
        "W_OUT": f.out_type.width,
        "OUT_SIGNED": int(f.out_type.signed),
        "RQ_SHIFT": f.rq_shift,
        "RND": RND_CODE[f.out_type.rounding],
        "OVF": OVF_CODE[f.out_type.overflow],
        "RELU": int(f.relu),
        "AW_OUT": outb.addr_bits,
    }


def _codebook_literal(p: LayerPlan) -> str | None:
    """The ``CODEBOOK`` parameter (entry ``i`` in bits ``[i*W +: W]``), or None without a codebook."""
    f = p.fields
    if p.codebook is None or f is None:
        return None
    cb_bits = max(p.code_bits, 1)
    bits = f.w_bits << cb_bits
    packed = 0
    for i, v in enumerate(p.codebook):
        packed |= (int(v) & ((1 << f.w_bits) - 1)) << (i * f.w_bits)
    return f"{bits}'h{packed:0{(bits + 3) // 4}x}"


def _shared_words(p: LayerPlan, entry_w: int, f_bank: int, f_bias: int, f_first: int, field_bits: int,
                  bias: np.ndarray | None, tap: Callable[[int, int], int] | None = None) -> list[int]:
    """The ROM of an engine on a shared input: word ``k`` is cycle ``k`` of the bank schedule (lane
    ``l``'s scheduled entry, or an invalid word for a bubble) with every bank's read field of
    ``field_bits`` above the lanes' entries (copy ``g``, bank ``b`` in field ``g * banks + b``): the
    address of a MAC engine, the tap offset of a window engine. ``tap(lane, pos)``: more bits of the
    entry at walk position ``pos`` (a window's ky / kx); ``bias``: per row, set on a row's first entry
    (a window's dummy rows have none)."""
    f, bs = p.fields, p.banking
    assert f is not None and bs is not None
    val = p.arrays["val"]
    wmask = (1 << f.weight_field_bits) - 1
    bmask = (1 << f.bias_bits) - 1
    s = p.schedule
    row_at: list[list[int | None]] = []  # the row of each walk position (None: a window's dummy row)
    for rows in s.lane_rows:
        row_at.append([r for r in rows for _ in range(s.row_cost[r])] + [None] * (s.slots - len(rows)))
    base = p.lanes * entry_w
    words = []
    for k in range(bs.cycles):
        word = 0
        for lane in range(p.lanes):
            t = int(bs.take[lane, k])
            if t < 0:
                continue
            e = (int(val[lane, t]) & wmask) | (int(bs.bank[lane, k]) << f_bank)
            if tap is not None:
                e |= tap(lane, t)
            if bs.first[lane, k]:
                r = row_at[lane][t]
                if bias is not None and r is not None:
                    e |= (int(bias[r]) & bmask) << f_bias
                e |= 1 << f_first
            if bs.last[lane, k]:
                e |= 1 << (f_first + 1)
            e |= 1 << (f_first + 2)
            word |= e << (lane * entry_w)
        for g in range(bs.groups):
            for b in range(bs.banks):
                word |= int(bs.addr[g, b, k]) << (base + (g * bs.banks + b) * field_bits)
        words.append(word)
    return words


def spell_skip(p: LayerPlan, ident: str) -> RtlEngine:
    """``ff_skip_mac`` of an activation-skipping plan: the pointer ROM (one word per input position,
    lane ``l``'s ``{count, start}`` in bits ``[l*(EAW+CW) +: EAW+CW]``), the scan ROM (one mask bit per
    bank), the bias ROM (word ``s``: lane ``l``'s bias of slot ``s`` in bits ``[l*BIAS_W +: BIAS_W]``, 0
    for a slot without a row) and each lane's entry ROM (``{slot, weight field}``)."""
    f, inb, outb, k = p.fields, p.in_buffer, p.out_buffer, p.skip
    assert f is not None and inb is not None and outb is not None and k is not None
    _check_shifts(p)
    eaw, cw, sw = clog2(k.entries), k.count_bits, clog2(k.slots)
    if outb.addr_bits != sw:
        raise UnsupportedError(f"layer {p.layer.label}: the output buffer's {outb.addr_bits} address bits are not "
                               f"the engine's {sw} slot bits")
    ptr_w = eaw + cw
    ptr_words = []
    for pos in range(k.positions):
        word = 0
        for lane in range(k.lanes):
            word |= ((int(k.count[pos, lane]) << eaw) | int(k.start[pos, lane])) << (lane * ptr_w)
        ptr_words.append(word)
    scan_words = [sum(1 << b for b in range(k.banks) if k.scan_mask[a, b]) for a in range(k.scan)]
    bmask = (1 << f.bias_bits) - 1
    bias = np.asarray(p.layer.bias, np.int64) if hasattr(p.layer, "bias") else None
    bias_words = [0] * k.slots
    if bias is not None:
        for lane, rows in enumerate(p.schedule.lane_rows):
            for slot, r in enumerate(rows):
                bias_words[slot] |= (int(bias[r]) & bmask) << (lane * f.bias_bits)
    wmask = (1 << f.weight_field_bits) - 1
    ent_w = f.weight_field_bits + sw
    extra: list[tuple[str, list[int], int]] = [(f"{ident}_scan.mem", scan_words, k.banks),
                                               (f"{ident}_bias.mem", bias_words, k.lanes * f.bias_bits)]
    for lane in range(k.lanes):
        n = k.lane_entries[lane]
        words = [(int(k.slot[lane, t]) << f.weight_field_bits) | (int(k.val[lane, t]) & wmask) for t in range(n)]
        words += [0] * (k.entries - n)
        extra.append((f"{ident}_e{lane:04d}.mem", words, ent_w))
    lp = _lane_params(p)
    params = {name: lp[name] for name in ("P", "W_X", "X_SIGNED", "WF", "W_W", "W_SIGNED", "CB", "CB_BITS", "BIAS_W",
                                         "B_SIGNED", "W_ACC", "SHIFT_P", "SHIFT_B", "AW_IN", "BW_IN", "W_OUT",
                                         "OUT_SIGNED", "RQ_SHIFT", "RND", "OVF", "RELU", "AW_OUT")}
    params.update({"BANKS_IN": k.banks, "SCAN": k.scan, "SAW": clog2(k.scan), "NPOS": k.positions,
                   "PAW": clog2(k.positions), "ENTRIES": k.entries, "EAW": eaw, "CW": cw, "SLOTS": k.slots, "SW": sw,
                   "DEPTH": k.depth, "DW": clog2(k.depth), "BCAST": k.bcast, "CSW": clog2(k.bcast)})
    if p.rom_block:
        params["ROM_BLOCK"] = 1
    return RtlEngine("ff_skip_mac", ident, params, ptr_words, k.lanes * ptr_w, _codebook_literal(p),
                     extra_roms=tuple(extra), rom_param="ROM_PREFIX")


def spell_mac(p: LayerPlan, ident: str) -> RtlEngine:
    """``ff_sparse_mac`` of a MAC or point-wise plan (its buffers must be planned; an
    activation-skipping plan is ``ff_skip_mac``: :func:`spell_skip`)."""
    f, inb, outb = p.fields, p.in_buffer, p.out_buffer
    assert f is not None and inb is not None and outb is not None
    if p.skip is not None:
        return spell_skip(p, ident)
    _check_shifts(p)
    if len(p.in_buffers) > 1:
        raise UnsupportedError(f"layer {p.layer.label}: a {p.engine} engine reads one vector")
    if p.banking is not None:
        wf = f.weight_field_bits
        f_bank = wf + 1
        f_bias = f_bank + inb.bank_bits
        f_first = f_bias + f.bias_bits
        entry_w = f_first + 3
        bias = np.asarray(p.layer.bias, np.int64) if hasattr(p.layer, "bias") else None
        words = _shared_words(p, entry_w, f_bank, f_bias, f_first, inb.addr_bits, bias)
        params = _lane_params(p)
        params.update({"ENTRIES": p.rtl_entries, "EAW": clog2(p.rtl_entries), "SHARED": 1,
                       "GROUPS": p.banking.groups, "BANKS_IN": p.banking.banks})
        if p.engine == "codebook_factored":
            assert p.sum_type is not None
            params["FACTORED"] = 1
            params["SUM_W"] = p.sum_type.width
        if p.rom_block:
            params["ROM_BLOCK"] = 1
        width = p.lanes * entry_w + p.banking.groups * p.banking.banks * inb.addr_bits
        return RtlEngine("ff_sparse_mac", ident, params, words, width, _codebook_literal(p))
    wf = f.weight_field_bits
    f_addr = wf
    f_bank = f_addr + inb.addr_bits
    f_bias = f_bank + inb.bank_bits
    f_first = f_bias + f.bias_bits
    entry_w = f_first + 3
    wmask = (1 << wf) - 1
    bmask = (1 << f.bias_bits) - 1
    bias = np.asarray(p.layer.bias, np.int64) if hasattr(p.layer, "bias") else None
    words = [0] * p.entries
    for lane, ents in enumerate(_entries(p)):
        shift = lane * entry_w
        for k, (c, w, r, first, last) in enumerate(ents):
            e = (w & wmask) | (int(inb.addr_of[c]) << f_addr) | (int(inb.bank_of[c]) << f_bank)
            if first and bias is not None:
                e |= (int(bias[r]) & bmask) << f_bias
            if first:
                e |= 1 << f_first
            if last:
                e |= 1 << (f_first + 1)
            e |= 1 << (f_first + 2)
            words[k] |= e << shift
    params = _lane_params(p)
    if p.rom_block:
        params["ROM_BLOCK"] = 1
    if p.engine == "pointwise":
        params["IDENTITY"] = 1
    if p.engine == "codebook_factored":
        assert p.sum_type is not None
        params["FACTORED"] = 1
        params["SUM_W"] = p.sum_type.width
    return RtlEngine("ff_sparse_mac", ident, params, words, p.lanes * entry_w, _codebook_literal(p))


def _signed_bits(lo: int, hi: int) -> int:
    """Bits of a two's complement value in ``[lo, hi]``."""
    return max(int(-lo - 1).bit_length() if lo < 0 else 0, int(hi).bit_length()) + 1


def spell_window(p: LayerPlan, ident: str) -> RtlEngine:
    """``ff_window`` of a window plan (its buffers must be planned): the ROM of one output pixel's
    walk and the geometry parameters."""
    f, w, inb, outb = p.fields, p.window, p.in_buffer, p.out_buffer
    assert f is not None and w is not None and inb is not None and outb is not None and inb.fm is not None
    _check_shifts(p)
    if w.op not in ("mac", "sum", "max"):
        raise UnsupportedError(f"layer {p.layer.label}: window op '{w.op}' has no Verilog spelling")
    ins = p.in_buffers or (inb,)
    if any(b.fm is None for b in ins):
        raise UnsupportedError(f"layer {p.layer.label}: a window engine reads a map that is not pixel-major")
    n_src = len(ins)
    if n_src > 1 and (w.kernel, w.stride, w.pads) != ((1, 1), (1, 1), (0, 0, 0, 0)):
        raise UnsupportedError(f"layer {p.layer.label}: a window engine reading {n_src} maps must be a 1x1 window "
                               "(stride 1, no padding)")
    t = tap_fields(p)
    slots_in = [b.fm.slots for b in ins if b.fm is not None]
    s_in = max(slots_in)
    aw_in, bw_in = max(b.addr_bits for b in ins), max(b.bank_bits for b in ins)
    srcw = clog2(n_src)
    wf, kyw, kxw = f.weight_field_bits, t.ky_bits, t.kx_bits
    f_off = wf
    f_ky = f_off + (1 if p.banking is not None else t.offset_bits)  # on a shared input: one unused bit
    f_kx = f_ky + kyw
    f_bank = f_kx + kxw
    f_bias = f_bank + bw_in
    f_first = f_bias + f.bias_bits
    f_src = f_first + 3
    entry_w = f_src + (srcw if n_src > 1 else 0)
    wmask = (1 << wf) - 1
    bmask = (1 << f.bias_bits) - 1
    bias = p.rom("b").values if w.op == "mac" else None
    val, last = p.arrays["val"], p.arrays["last"]
    if p.banking is not None:
        return _spell_shared_window(p, ident, t, f_ky, f_kx, f_bank, f_bias, f_first, entry_w, aw_in, bw_in, s_in)
    words = [0] * p.entries
    for lane, rows in enumerate(p.schedule.lane_rows):
        shift = lane * entry_w
        n_rows, first = 0, True
        for k in range(p.entries):
            # where the entry reads; a padding entry (valid 0, past the lane's `slots` rows) keeps the
            # plan's tap (the lane's own first tap), so a lane only ever selects its channels' banks
            e = ((int(t.offset[lane, k]) << f_off) | (int(t.ky[lane, k]) << f_ky) | (int(t.kx[lane, k]) << f_kx)
                 | (int(t.bank[lane, k]) << f_bank))
            if n_src > 1:
                e |= int(t.src[lane, k]) << f_src
            if n_rows == p.slots:
                words[k] |= e << shift
                continue
            e |= int(val[lane, k]) & wmask
            if first:
                if bias is not None and n_rows < len(rows):  # a real row's bias; dummy rows have none
                    e |= (int(bias[rows[n_rows]]) & bmask) << f_bias
                e |= 1 << f_first
            end = bool(last[lane, k])
            if end:
                e |= 1 << (f_first + 1)
                n_rows += 1
            e |= 1 << (f_first + 2)
            words[k] |= e << shift
            first = end
        assert n_rows == p.slots, (p.layer.label, lane, n_rows, p.slots)
    params = _window_params(p, t, aw_in, bw_in, s_in, slots_in[0])
    if n_src > 1:
        params.update({"N_SRC": n_src, "SRCW": srcw})
    return RtlEngine("ff_window", ident, params, words, p.lanes * entry_w, _codebook_literal(p),
                     _slots_literal(slots_in) if n_src > 1 else None)


def _spell_shared_window(p: LayerPlan, ident: str, t: TapFields, f_ky: int, f_kx: int, f_bank: int, f_bias: int,
                         f_first: int, entry_w: int, aw_in: int, bw_in: int, s_in: int) -> RtlEngine:
    """``ff_window`` with SHARED=1: the ROM is the per-pixel bank schedule (:func:`_shared_words`),
    every bank's tap offset above the lanes' entries. The lane's offset field is one unused bit."""
    bs = p.banking
    assert bs is not None
    ofw = t.offset_bits

    def ky_kx(lane: int, pos: int) -> int:
        return (int(t.ky[lane, pos]) << f_ky) | (int(t.kx[lane, pos]) << f_kx)

    words = _shared_words(p, entry_w, f_bank, f_bias, f_first, ofw, p.rom("b").values, ky_kx)
    params = _window_params(p, t, aw_in, bw_in, s_in, s_in)
    params.update({"ENTRIES": bs.cycles, "EAW": clog2(bs.cycles), "SHARED": 1, "GROUPS": bs.groups,
                   "BANKS_IN": bs.banks})
    return RtlEngine("ff_window", ident, params, words, p.lanes * entry_w + bs.groups * bs.banks * ofw,
                     _codebook_literal(p))


def _window_params(p: LayerPlan, t: TapFields, aw_in: int, bw_in: int, s_in: int, slots_in: int) -> dict[str, int]:
    """The geometry and lane parameters of ``ff_window``."""
    w = p.window
    assert w is not None
    _, ih, iw = w.in_shape
    _, oh, ow = w.out_shape
    kh, kw = w.kernel
    sh, sw = w.stride
    top, left = w.pads[0], w.pads[1]
    ofw, kyw, kxw = t.offset_bits, t.ky_bits, t.kx_bits
    # two's complement widths: a row / column index from the top-left padding to a step past the map,
    # and the pixel's base address plus any tap offset
    yw = _signed_bits(-top, max(ih, (oh - 1) * sh - top + kh) + sh)
    xw = _signed_bits(-left, max(iw, (ow - 1) * sw - left + kw) + sw)
    yw, xw = max(yw, kyw + 1), max(xw, kxw + 1)
    base_lo = -(top * iw + left) * s_in
    base_hi = ((oh * sh + kh) * iw + ow * sw + kw) * s_in + (1 << ofw)
    base_w = max(_signed_bits(base_lo, base_hi), aw_in + 1, ofw + 1)
    if base_w > 32:
        raise UnsupportedError(f"layer {p.layer.label}: a {base_w}-bit feature-map address does not fit 32 bits")
    params = _lane_params(p)
    params.update({
        "IDENTITY": int(w.op in ("sum", "max")),
        "MAX_MODE": int(w.op == "max"),
        "IH": ih, "IW": iw, "OH": oh, "OW": ow, "KH": kh, "KW": kw, "SH": sh, "SW": sw,
        "PAD_T": top, "PAD_L": left, "SLOTS_IN": slots_in,
        "OFW": ofw, "KYW": kyw, "KXW": kxw, "YW": yw, "XW": xw, "BASE_W": base_w,
    })  # fmt: skip
    params.update({"AW_IN": aw_in, "BW_IN": bw_in})
    return params


def _slots_literal(slots: list[int]) -> str:
    """The ``SLOTS_SRC`` parameter: input ``s``'s words per pixel in bits ``[s*32 +: 32]``."""
    return "{" + ", ".join(f"32'd{v}" for v in reversed(slots)) + "}"


#: engine -> its Verilog spelling. Every hardware engine of :data:`fpga_flow.hw.ENGINES` has one
#: (``alias`` needs none: it reuses its input's buffer).
RTL_ENGINES: dict[str, Callable[[LayerPlan, str], RtlEngine]] = {
    "dense": spell_mac,
    "csr": spell_mac,
    "codebook": spell_mac,
    "codebook_factored": spell_mac,
    "pointwise": spell_mac,
    "window": spell_window,
}


def spell_engine(p: LayerPlan, ident: str) -> RtlEngine:
    """The Verilog instance of ``p`` (a clear error for an engine without a Verilog spelling)."""
    fn = RTL_ENGINES.get(p.engine)
    if fn is None:
        raise UnsupportedError(
            f"layer {p.layer.label}: engine '{p.engine}' has no Verilog spelling "
            f"(spelled: {', '.join(sorted(RTL_ENGINES))})"
        )
    return fn(p, ident)
