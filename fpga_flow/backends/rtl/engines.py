"""How the Verilog backend spells each engine of the hardware plan (one entry per engine).

Every hardware engine of :mod:`fpga_flow.hw` becomes one ``ff_sparse_mac`` instance between two
``ff_act_mem`` buffers: the MAC engines walk their lane arrays, the point-wise engine an identity
matrix (one weight 1 per element, the binary point moved by the plan's shift), so ReLU and the
requantization are the engine's ``ff_requant``. The ROM word ``k`` holds entry ``k`` of every lane
(lane ``l`` in bits ``[l*ENTRY_W +: ENTRY_W]``, LSB first: weight field, input address, input bank,
bias, first, last, valid -- see ``ff_mac_lane.v``); an entry's input element is located through
the input buffer's (bank, address) table, so no hardware divides. Short lanes are padded with
invalid entries. The point-wise engine sets ``IDENTITY`` (every weight is 1: the lanes have no
multiplier).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fpga_flow.errors import UnsupportedError
from fpga_flow.hw.plan import LayerPlan

from .spelling import OVF_CODE, RND_CODE, clog2

__all__ = ["RTL_ENGINES", "RtlEngine", "spell_engine"]


@dataclass(frozen=True, eq=False)
class RtlEngine:
    """One engine instance as the top template instantiates it."""

    module: str
    ident: str
    params: dict[str, int]
    rom_words: list[int]
    rom_width: int
    codebook_literal: str | None

    @property
    def rom_file(self) -> str:
        return f"{self.ident}.mem"


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


def spell_mac(p: LayerPlan, ident: str) -> RtlEngine:
    """``ff_sparse_mac`` of a MAC or point-wise plan (its buffers must be planned)."""
    f, inb, outb = p.fields, p.in_buffer, p.out_buffer
    assert f is not None and inb is not None and outb is not None
    if f.shift_p < 0 or f.shift_b < 0:
        raise UnsupportedError(f"layer {p.layer.label}: the accumulator drops product or bias bits")
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
    cb = p.codebook is not None
    cb_bits = max(p.code_bits, 1)
    params = {
        "P": p.lanes,
        "ENTRIES": p.entries,
        "EAW": clog2(p.entries),
        "W_X": f.x_type.width,
        "X_SIGNED": int(f.x_type.signed),
        "WF": wf,
        "W_W": f.w_bits,
        "W_SIGNED": int(f.w_signed),
        "CB": int(cb),
        "CB_BITS": cb_bits,
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
    if p.engine == "pointwise":
        params["IDENTITY"] = 1
    if p.engine == "codebook_factored":
        assert p.sum_type is not None
        params["FACTORED"] = 1
        params["SUM_W"] = p.sum_type.width
    literal = None
    if cb:
        assert p.codebook is not None
        bits = f.w_bits << cb_bits
        packed = 0
        for i, v in enumerate(p.codebook):
            packed |= (int(v) & ((1 << f.w_bits) - 1)) << (i * f.w_bits)
        literal = f"{bits}'h{packed:0{(bits + 3) // 4}x}"
    return RtlEngine("ff_sparse_mac", ident, params, words, p.lanes * entry_w, literal)


#: engine -> its Verilog spelling. Every hardware engine of :data:`fpga_flow.hw.ENGINES` has one
#: (``alias`` needs none: it reuses its input's buffer).
RTL_ENGINES: dict[str, Callable[[LayerPlan, str], RtlEngine]] = {
    "dense": spell_mac,
    "csr": spell_mac,
    "codebook": spell_mac,
    "codebook_factored": spell_mac,
    "pointwise": spell_mac,
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
