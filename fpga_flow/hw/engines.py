"""Engine models: for each engine, its cycles (Verilog and HLS C++ schedules) and its resources.

One model per engine, in one place. Resources come from :mod:`fpga_flow.hw.cost` (the Verilog
library's blocks, checked against yosys); cycles are exact for the Verilog engines (checked by RTL
simulation):

* MAC and point-wise engines (``ff_sparse_mac``): 1 start cycle + ``entries`` (one ROM word per
  cycle, all lanes in lockstep) + the lane pipeline (:data:`ENGINE_DRAIN`; the factored codebook
  lane: :func:`factored_drain`). A sample finishes before the next starts, so II = latency.
* the window engine (``ff_window``): 1 start cycle + ``pixels * entries`` (the lanes walk their
  per-pixel ROM once per output pixel, back to back) + :data:`WINDOW_DRAIN`; a convolution on a
  shared input map walks the per-pixel bank schedule instead (``rtl_entries`` words: its entries
  plus the bubbles);
* the unpacker: one beat per cycle (``beats`` cycles); the feature-map unpacker (``ff_axis_unpack_fm``,
  before a window engine) one element per cycle plus :data:`UNPACK_FM_EXTRA`; the packer: its first
  beat :data:`PACK_LATENCY_EXTRA` cycles after the buffer fills, then one beat per cycle.

The HLS C++ kernels stream between layers, one element per cycle: a MAC layer loads ``n_in``
inputs, walks ``entries`` and emits ``n_out`` results (three II=1 loops of :data:`HLS_LOOP_DEPTH`
fill each), a point-wise layer ``n + HLS_LOOP_DEPTH``, a window layer loads its map, walks
``pixels * entries`` and emits its map. Those figures are the HLS schedule's
estimate (Vivado HLS reports the real one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from fpga_flow.fixed import Overflow, Rounding
from fpga_flow.hw.cost import Cost, act_buffer_cost, mac_engine_cost, shared_buffer_cost, skip_engine_cost
from fpga_flow.hw.plan import BufferPlan, Cycles, LayerPlan, bits_for
from fpga_flow.hw.window import tap_fields

__all__ = [
    "ENGINE_DRAIN",
    "ENGINE_MODELS",
    "HLS_LOOP_DEPTH",
    "PACK_II_EXTRA",
    "PACK_LATENCY_EXTRA",
    "UNPACK_FM_EXTRA",
    "WINDOW_DRAIN",
    "EngineModel",
    "bank_addr_bits",
    "buffer_cost",
    "entry_bits",
    "factored_drain",
    "pack_cycles",
    "unpack_cycles",
    "unpack_fm_cycles",
    "window_entry_bits",
]

#: Cycles from an engine's last ROM entry to its last output write (ff_mac_lane pipeline).
ENGINE_DRAIN = 5
#: Cycles from the last buffer filling to the packer's first output beat, minus one.
PACK_LATENCY_EXTRA = 3
#: Packer cycles per sample beyond one per beat (start and release).
PACK_II_EXTRA = 2
#: Pipeline fill cycles of each HLS loop.
HLS_LOOP_DEPTH = 4
#: Cycles from a window engine's last ROM entry to its last output write (the address stage + ff_mac_lane).
WINDOW_DRAIN = ENGINE_DRAIN + 1
#: Cycles of the feature-map unpacker per sample beyond one per element.
UNPACK_FM_EXTRA = 1


def factored_drain(code_bits: int) -> int:
    """Pipeline cycles of the factored codebook lane after its last entry (``ff_factored_lane.v``:
    the plain lane's 5 plus one registered adder-tree level per code bit)."""
    return ENGINE_DRAIN + max(1, int(code_bits))


def entry_bits(p: LayerPlan) -> int:
    """Bits of one lane's ROM entry: weight field, input address (one unused bit on a shared input,
    whose addresses are per bank: :func:`bank_addr_bits`) and bank, bias, first/last/valid."""
    assert p.fields is not None and p.in_buffer is not None
    inb = p.in_buffer
    addr = 1 if inb.shared else inb.addr_bits
    return p.fields.weight_field_bits + addr + inb.bank_bits + p.fields.bias_bits + 3


def bank_addr_bits(p: LayerPlan) -> int:
    """Bits per ROM word of the per-bank read addresses on a shared input (0 otherwise); a window
    engine stores per-bank tap offsets (the pixel base is added in the engine)."""
    inb = p.in_buffer
    if inb is None or not inb.shared:
        return 0
    return inb.groups * inb.banks * (tap_fields(p).offset_bits if p.window is not None else inb.addr_bits)


def window_entry_bits(p: LayerPlan) -> int:
    """Bits of one lane's window ROM entry: weight field, tap offset, ky, kx, input bank, bias,
    first/last/valid (``ff_window.v``)."""
    assert p.fields is not None and p.in_buffer is not None
    t = tap_fields(p)
    f = p.fields
    ins = p.in_buffers or (p.in_buffer,)
    src = bits_for(len(ins)) if len(ins) > 1 else 0  # a merge: which input the entry reads
    bank = max(b.bank_bits for b in ins)
    offset = 1 if p.in_buffer.shared else t.offset_bits  # shared: the offsets are per bank (bank_addr_bits)
    return f.weight_field_bits + offset + t.ky_bits + t.kx_bits + bank + f.bias_bits + 3 + src


class EngineModel:
    """Cycles and resources of one engine kind."""

    def __init__(self, cycles: Callable[[LayerPlan], Cycles], hls_cycles: Callable[[LayerPlan], int],
                 cost: Callable[[LayerPlan, str], Cost]) -> None:
        self.cycles = cycles
        self.hls_cycles = hls_cycles
        self.cost = cost


def _mac_cycles(p: LayerPlan) -> Cycles:
    if p.skip is not None:  # data-dependent: the guaranteed figure (every activation nonzero)
        return Cycles(p.skip.worst, p.skip.worst)
    drain = factored_drain(p.code_bits) if p.engine == "codebook_factored" else ENGINE_DRAIN
    c = 1 + p.rtl_entries + drain
    return Cycles(c, c)


def _window_cycles(p: LayerPlan) -> Cycles:
    assert p.window is not None
    c = 1 + p.window.out_pixels * p.rtl_entries + WINDOW_DRAIN
    return Cycles(c, c)


def _window_hls_cycles(p: LayerPlan) -> int:
    """``fpga_flow_window.h``: load the padded map, decode the taps, walk every pixel, emit the map."""
    w = p.window
    assert w is not None
    c, h, wd = w.in_shape
    (oh, ow), (kh, kw), (sh, sw) = w.out_shape[1:], w.kernel, w.stride
    top, left, bottom, right = w.pads
    ph = max(h + top + bottom, (oh - 1) * sh + kh)
    pw = max(wd + left + right, (ow - 1) * sw + kw)
    return c * ph * pw + p.entries + w.out_pixels * p.entries + p.layer.size + 4 * HLS_LOOP_DEPTH


def _mac_hls_cycles(p: LayerPlan) -> int:
    n_in = p.in_buffer.n_elems if p.in_buffer is not None else p.layer.size
    return n_in + p.entries + p.layer.size + 3 * HLS_LOOP_DEPTH


def _pointwise_hls_cycles(p: LayerPlan) -> int:
    return p.layer.size + HLS_LOOP_DEPTH


def _skip_cost(p: LayerPlan, family: str) -> Cost:
    f, k = p.fields, p.skip
    assert f is not None and k is not None and p.in_buffer is not None
    out = f.out_type
    return skip_engine_cost(
        lanes=p.lanes, banks_in=k.banks, positions=k.positions, entries=k.entries, count_bits=k.count_bits,
        slots=k.slots, depth=k.depth, x_bits=f.x_type.width, x_signed=f.x_type.signed, w_bits=f.w_bits,
        w_signed=f.w_signed, weight_field_bits=f.weight_field_bits, codebook=p.codebook is not None,
        codebook_bits=max(1, p.code_bits), bias_bits=f.bias_bits, acc_bits=f.acc_bits, out_bits=out.width,
        relu=f.relu, rq_shift=f.rq_shift, rounds=f.rq_shift > 0 and out.rounding is not Rounding.TRN,
        saturates=out.overflow is not Overflow.WRAP, family=family, rom_block=p.rom_block, bcast=k.bcast)


def _mac_cost(p: LayerPlan, family: str) -> Cost:
    if p.skip is not None:
        return _skip_cost(p, family)
    f = p.fields
    assert f is not None and p.in_buffer is not None and p.out_buffer is not None
    codebook = p.codebook is not None
    out = f.out_type
    s = p.schedule
    return mac_engine_cost(
        lanes=p.lanes, entries=p.rtl_entries, entry_bits=entry_bits(p) + -(-bank_addr_bits(p) // p.lanes),
        x_bits=f.x_type.width,
        x_signed=f.x_type.signed, w_bits=f.w_bits, w_signed=f.w_signed, weight_field_bits=f.weight_field_bits,
        codebook=codebook, codebook_bits=p.code_bits if codebook else 1, bias_bits=f.bias_bits,
        acc_bits=f.acc_bits, out_bits=f.out_type.width, in_addr_bits=p.in_buffer.addr_bits,
        in_bank_bits=p.in_buffer.bank_bits, out_addr_bits=p.out_buffer.addr_bits, relu=f.relu, family=family,
        factored=p.engine == "codebook_factored", sum_bits=p.sum_type.width if p.sum_type is not None else 0,
        rq_shift=f.rq_shift, rounds=f.rq_shift > 0 and out.rounding is not Rounding.TRN,
        saturates=out.overflow is not Overflow.WRAP, shift_p=f.shift_p, shift_b=f.shift_b,
        pointwise=p.engine == "pointwise", in_banks=p.in_buffer.banks,
        full_lanes=(sum(1 for n in s.lane_entries if n == s.entries) if p.banking is None
                    else int(np.count_nonzero(np.all(p.banking.take >= 0, axis=1)))),
        codebook_nonzero=int(np.count_nonzero(p.codebook)) if p.codebook is not None else None,
        rom_block=p.rom_block,
    )  # fmt: skip


def _window_cost(p: LayerPlan, family: str) -> Cost:
    """The lanes and their ROM as ``ff_sparse_mac`` counts them (the ROM is ``entries`` deep: one
    pixel's walk), plus the address stage: per lane an address adder and two bounds checks, and
    the pixel counters."""
    f, w = p.fields, p.window
    assert f is not None and w is not None and p.in_buffer is not None and p.out_buffer is not None
    base = replace(p, engine="pointwise" if w.op != "mac" else "codebook" if p.codebook is not None else "csr")
    lanes_cost = _mac_cost(base, family)
    t = tap_fields(p)
    hb, wb = bits_for(w.in_shape[1] + 1) + 1, bits_for(w.in_shape[2] + 1) + 1
    aw = p.in_buffer.addr_bits
    per_lane = (0 if p.banking is not None else aw) + 2 * (hb + wb) + 2
    counters = 4 * (hb + wb) + 2 * (aw + 2) + p.out_buffer.addr_bits + t.offset_bits
    if p.banking is not None:  # one address adder and register per (copy, bank) instead of one per lane
        counters += p.banking.groups * p.banking.banks * aw
    extra_rom = (window_entry_bits(p) - entry_bits(p)) * p.lanes
    return lanes_cost + Cost(lut=per_lane * p.lanes + counters, ff=counters + extra_rom)


def _alias_cycles(p: LayerPlan) -> Cycles:
    return Cycles(0, 0)


#: engine -> its model. Every engine of :data:`fpga_flow.hw.plan.ENGINES` has one.
ENGINE_MODELS: dict[str, EngineModel] = {
    "dense": EngineModel(_mac_cycles, _mac_hls_cycles, _mac_cost),
    "csr": EngineModel(_mac_cycles, _mac_hls_cycles, _mac_cost),
    "codebook": EngineModel(_mac_cycles, _mac_hls_cycles, _mac_cost),
    "codebook_factored": EngineModel(_mac_cycles, _mac_hls_cycles, _mac_cost),
    "pointwise": EngineModel(_mac_cycles, _pointwise_hls_cycles, _mac_cost),
    "window": EngineModel(_window_cycles, _window_hls_cycles, _window_cost),
    "alias": EngineModel(_alias_cycles, lambda p: 0, lambda p, family: Cost()),
}


def buffer_cost(b: BufferPlan, family: str, bank_reads: int | None = None) -> Cost:
    """The activation buffer ``ff_act_mem``: banks x 2 slots x depth words, one copy per (read port,
    bank) pair its consumer may select (``bank_reads``; default every pair); a shared buffer
    (``b.groups`` copies read through the consumer's bank schedule) by :func:`shared_buffer_cost`."""
    if b.shared:
        return shared_buffer_cost(width=b.width, banks=b.banks, addr_bits=b.addr_bits, groups=b.groups,
                                  read_ports=b.read_ports, family=family)
    return act_buffer_cost(width=b.width, banks=b.banks, addr_bits=b.addr_bits, read_ports=b.read_ports,
                           family=family, bank_reads=bank_reads)


def unpack_cycles(beats: int) -> Cycles:
    return Cycles(beats, beats)


def unpack_fm_cycles(n_elems: int) -> Cycles:
    c = n_elems + UNPACK_FM_EXTRA
    return Cycles(c, c)


def pack_cycles(beats: int) -> Cycles:
    return Cycles(beats + PACK_II_EXTRA, beats + PACK_LATENCY_EXTRA)

