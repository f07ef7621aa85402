"""Resource cost model of the Verilog library (``templates/rtl/lib``), calibrated on yosys.

One cost function per library block, in the units of ``fpga-flow synth`` (yosys 0.23
``synth_xilinx -family F -flatten -noiopad -noclkbuf``, cells counted by
:func:`fpga_flow.sim.synth.count_cells`): LUT (logic LUTs plus LUTs used as memory), FF, DSP,
BRAM36 (RAMB36 + 0.5 * RAMB18) and URAM (never used: yosys maps no URAM without ``-uram``).
A design is the sum of its blocks: synthesized standalone with a design's parameters and ROM
files, the blocks add up to the flattened design within 1 % (LUT) and exactly (FF, DSP, BRAM),
once yosys' few cross-module simplifications are counted, as the functions here do:

* a ROM column that is constant is removed before mapping (``opt_mem``): the valid bit of a lane
  that is never padded, the bank field when the input buffer has one bank;
* an activation buffer bank a read port never selects loses that port's copy, and a port that
  only ever reads one bank has no select (``act_buffer_cost(bank_reads=...)``);
* but a multiplier by a constant ROM field still takes its DSP: ``map_dsp`` runs before the
  memories are optimized (the point-wise engines' ``x * 1``).

Stated tolerance against ``fpga-flow synth`` (``bench/bench_estimate_vs_synth.py``, the benchmark
MLP at P = 1, 4, 16 with every storage): DSP exact, BRAM36 within 10 %, LUT and FF within 25 %.

How yosys maps each piece, and so how it is counted here:

* **Memories** go through ``memory_libmap``, which prices every way to build a memory and takes
  the cheapest (:func:`map_memory` mirrors its arithmetic for the memory shapes of this library):
  soft logic costs 1 per bit for a RAM and 1/64 per bit for a ROM; a RAMB18 129, a RAMB36 257, a
  cascaded RAMB36 pair 513; a LUTRAM cell 8 on 7-series (16 on UltraScale); plus 0.5 per bit of
  read multiplexer and write decoder when the depth is split over several blocks, and 2 per read
  port that shares no write port. Block RAM geometries: RAMB18 16Kx1 .. 1Kx18 (512x36 simple
  dual port), RAMB36 32Kx1 .. 1Kx36 (512x72), the cascade pair 64Kx1 .. 8Kx9; words may straddle
  blocks (a 45-bit ROM in 9-bit wide blocks takes exactly 5). A ROM never becomes LUTRAM
  (``prune_rom``); it becomes block RAM, or a LUT tree over the address (soft logic). The ping-pong
  buffers' banks (one write, one registered read port) become RAMB18/RAMB36, or simple-dual-port
  LUTRAM (RAM32M 32x6, RAM64M 64x3; RAM32M16/RAM64M8 on UltraScale) with the read register in FFs.
* **Multipliers** (``mul2dsp`` + ``xilinx_dsp``): a product of a ``a`` x ``b`` bit signed
  multiplier (an unsigned operand takes one bit more) goes to DSP slices when ``a, b >= 2`` and
  ``a + b >= 9``, else to LUTs; a DSP48E1 multiplies 25 x 18, a DSP48E2 27 x 18, wider products
  tile. On 7-series ``xilinx_dsp`` also packs the weight register (BREG), the product register
  (MREG), the bias register (CREG, when the bias is not shifted) and the whole accumulator with
  its first-entry bias select (PREG, OPMODE) when the accumulator fits 48 bits and the product is
  not shifted; on UltraScale (yosys 0.23) it packs none of them.
* **Adders** are carry chains: one LUT per bit (CARRY4/CARRY8 are not counted).
* **Multiplexers**: an ``n``-way mux costs ``ceil((n-1)/3)`` LUTs per bit (LUT6 4:1 stages), a
  little more above 16 ways; the read mux behind a ROM split over ``n`` block-RAM chunks about
  ``0.42 n`` (measured).

Every constant below is named and says what hardware it counts; the numbers were measured by
synthesizing each module standalone over sweeps of its parameters. The optional keyword
parameters carry facts only the plan's data knows (ROM contents, the consumer's access pattern,
the requantizer's modes); their defaults are the common case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "FAMILIES",
    "Cost",
    "MemoryMap",
    "act_buffer_cost",
    "bram_mux_luts_per_bit",
    "dsp_slice",
    "dsp_per_product",
    "mac_engine_cost",
    "map_memory",
    "mux_luts",
    "pack_cost",
    "requant_luts",
    "rom_logic_luts_per_bit",
    "unpack_cost",
]

#: ``synth_xilinx -family`` values the model knows.
FAMILIES = ("xc7", "xcu", "xcup")


@dataclass(frozen=True)
class Cost:
    """Resources of a block, in ``count_cells`` units."""

    lut: int = 0  # logic LUTs + LUTs as memory (LUTRAM, SRL), as count_cells' "lut"
    ff: int = 0
    dsp: int = 0
    bram36: float = 0.0  # RAMB36 + 0.5 * RAMB18
    uram: int = 0
    lutram: int = 0  # the part of `lut` used as memory (informative)

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.lut + other.lut, self.ff + other.ff, self.dsp + other.dsp, self.bram36 + other.bram36,
                    self.uram + other.uram, self.lutram + other.lutram)

    def times(self, k: int) -> Cost:
        """``k`` copies of the block."""
        return Cost(self.lut * k, self.ff * k, self.dsp * k, self.bram36 * k, self.uram * k, self.lutram * k)

    def as_dict(self) -> dict[str, int | float]:
        return {"lut": self.lut, "ff": self.ff, "dsp": self.dsp, "bram36": self.bram36, "uram": self.uram,
                "lutram": self.lutram}


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"unknown yosys synth_xilinx family {family!r}; known: {', '.join(FAMILIES)}")


def dsp_slice(family: str) -> str:
    """The DSP slice yosys maps multipliers to: ``DSP48E1`` (7-series), ``DSP48E2`` (UltraScale, UltraScale+)."""
    _check_family(family)
    return "DSP48E1" if family == "xc7" else "DSP48E2"


def _clog2(n: int) -> int:
    return max(0, int(n - 1).bit_length())


# ============================================================================ multiplexers
#: LUTs per output bit of a wide (more than 16 way) multiplexer, per 16 inputs, beyond the 4:1 LUT6
#: stages (the tree's extra levels abc builds; measured 13 LUTs/bit at 32 ways, 24 at 64).
MUX_WIDE_EXTRA_PER_16 = 1


def mux_luts(n: int) -> int:
    """LUTs per output bit of an ``n``-way multiplexer (0 for ``n <= 1``).

    A LUT6 is a 4:1 mux (4 data + 2 select inputs), so a tree of them removes 3 inputs per LUT:
    ``ceil((n - 1) / 3)``; abc adds about one LUT per 16 inputs above 16 ways (measured on
    ``ff_act_mem``'s bank select: 1 LUT/bit up to 4 banks, 3 at 8, 5 at 16, 13 at 32, 24 at 64)."""
    if n <= 1:
        return 0
    extra = MUX_WIDE_EXTRA_PER_16 * (n // 16) if n > 16 else 0
    return -(-(n - 1) // 3) + extra


# ============================================================================ memories
@dataclass(frozen=True)
class _Ram:
    """One ``memory_libmap`` RAM definition (yosys share/xilinx/brams_xc4v.txt, lutrams_*.txt)."""

    name: str
    kind: str  # "block" | "distributed"
    cost: int  # memory_libmap cost of one cell
    widthscale: int  # part of `cost` that scales with the bits used (LUTRAM)
    abits: int  # address bits at the narrowest width
    dbits: tuple[int, ...]  # data widths; width dbits[i] has abits - i address bits
    byte: int  # write-enable granularity (0: none)
    bram36: float  # BRAM36 per cell (RAMB18 = 0.5)
    luts: int  # LUTs per cell (LUTRAM)
    rom: bool  # may hold a ROM (LUTRAM definitions have prune_rom)
    ports: str  # "tdp" | "sdp" (block); "sdp" | "dp" | "qp" | "op" (LUTRAM)


#: Block RAM (brams_xc4v.txt with HAS_SIZE_36 and HAS_CASCADE, all three families): true dual port
#: (A, B) and simple dual port (W, R) RAMB18 ("HALF") and RAMB36 ("FULL"), and two cascaded RAMB36.
_BLOCK_RAMS = (
    _Ram("RAMB18 TDP", "block", 129, 0, 14, (1, 2, 4, 9, 18), 9, 0.5, 0, True, "tdp"),
    _Ram("RAMB36 TDP", "block", 257, 0, 15, (1, 2, 4, 9, 18, 36), 9, 1.0, 0, True, "tdp"),
    _Ram("RAMB36 cascade", "block", 513, 0, 16, (1, 2, 4, 9), 9, 2.0, 0, True, "tdp"),
    _Ram("RAMB18 SDP", "block", 129, 0, 14, (1, 2, 4, 9, 18, 36), 9, 0.5, 0, True, "sdp"),
    _Ram("RAMB36 SDP", "block", 257, 0, 15, (1, 2, 4, 9, 18, 36, 72), 9, 1.0, 0, True, "sdp"),
)

#: Distributed RAM usable with separate write and read addresses (the single-port kinds are not).
#: 7-series (lutrams_xc5v.txt): RAM32M = 32x6 / RAM64M = 64x3 simple dual port (4 LUTs each),
#: RAM32M / RAM64M / RAM128X1D as dual and quad port.
_LUTRAMS_XC7 = (
    _Ram("RAM32M DP", "distributed", 8, 8, 5, (4,), 0, 0.0, 4, False, "dp"),
    _Ram("RAM64M DP", "distributed", 8, 8, 6, (2,), 0, 0.0, 4, False, "dp"),
    _Ram("RAM128X1D", "distributed", 8, 8, 7, (1,), 0, 0.0, 4, False, "dp"),
    _Ram("RAM32M QP", "distributed", 7, 7, 5, (2,), 0, 0.0, 4, False, "qp"),
    _Ram("RAM64M QP", "distributed", 7, 7, 6, (1,), 0, 0.0, 4, False, "qp"),
    _Ram("RAM32M", "distributed", 8, 7, 5, (6,), 0, 0.0, 4, False, "sdp"),
    _Ram("RAM64M", "distributed", 8, 7, 6, (3,), 0, 0.0, 4, False, "sdp"),
)
#: UltraScale / UltraScale+ (lutrams_xcu.txt): RAM32M16 = 32x14, RAM64M8 = 64x7 (8 LUTs each), ...
_LUTRAMS_XCU = (
    _Ram("RAM32X1D x8", "distributed", 16, 16, 5, (8,), 0, 0.0, 8, False, "dp"),
    _Ram("RAM64X1D x4", "distributed", 16, 16, 6, (4,), 0, 0.0, 8, False, "dp"),
    _Ram("RAM128X1D x2", "distributed", 16, 16, 7, (2,), 0, 0.0, 8, False, "dp"),
    _Ram("RAM256X1D", "distributed", 16, 16, 8, (1,), 0, 0.0, 8, False, "dp"),
    _Ram("RAM32M16 QP", "distributed", 16, 16, 5, (4,), 0, 0.0, 8, False, "qp"),
    _Ram("RAM64M8 QP", "distributed", 16, 16, 6, (2,), 0, 0.0, 8, False, "qp"),
    _Ram("RAM32M16 OP", "distributed", 16, 16, 5, (2,), 0, 0.0, 8, False, "op"),
    _Ram("RAM64M8 OP", "distributed", 16, 16, 6, (1,), 0, 0.0, 8, False, "op"),
    _Ram("RAM32M16", "distributed", 16, 16, 5, (14,), 0, 0.0, 8, False, "sdp"),
    _Ram("RAM64M8", "distributed", 16, 16, 6, (7,), 0, 0.0, 8, False, "sdp"),
)

#: memory_libmap's price of one bit of soft logic: a RAM (flip-flops) and a ROM (a LUT tree).
LOGIC_COST_RAM = 1.0
LOGIC_COST_ROM = 1.0 / 64
#: memory_libmap's price of one bit of read mux / write decoder, and of an emulation point
#: (1 point: a read port not shared with a write port, the tie-breaker every mapping here pays).
FACTOR_MUX = 0.5
FACTOR_DEMUX = 0.5
FACTOR_EMU = 2
EMU_SCORE = 1


@dataclass(frozen=True)
class MemoryMap:
    """How yosys builds one memory: ``kind`` "logic", "block" or "distributed"; ``cells`` primitives
    (RAMB18/RAMB36/LUTRAM cells) of ``unit_width`` bits each; ``chunks`` address ranges the depth
    is split into (each read is a ``chunks``-way mux of them); ``bram36``/``lutram_luts`` the cells'
    resources; ``cell`` the primitive."""

    kind: str
    cell: str = ""
    cells: int = 0
    unit_width: int = 0
    chunks: int = 1
    bram36: float = 0.0
    lutram_luts: int = 0


def _lutrams(family: str) -> tuple[_Ram, ...]:
    return _LUTRAMS_XC7 if family == "xc7" else _LUTRAMS_XCU


def _geometry(r: _Ram, width: int, depth: int, writable: bool) -> tuple[float, int, int, int]:
    """memory_libmap ``handle_geom`` for one memory with (at most) one write port of uniform enable
    and one read port: the cheapest base width of ``r`` as (cost, cells, unit width, address chunks)."""
    best: tuple[float, int, int, int] | None = None
    for i, unit in enumerate(r.dbits):
        # write-enable granularity: a written word is padded to whole "bytes" (9 bits in block RAM)
        eb = r.byte if (writable and r.byte and r.byte <= unit) else (unit if writable else 1)
        swizzle = -(-width // eb) * eb
        chunk_words = 1 << (r.abits - i)
        chunks = (depth - 1) // chunk_words + 1
        cells = -(-(chunks * swizzle) // unit)  # words may straddle cells
        demux = chunks if (writable and chunks != 1) else 0
        mux = (chunks - 1) * width
        cost = float((r.cost - r.widthscale) * cells)
        cost += (r.widthscale * chunks * width) // unit
        cost += mux * FACTOR_MUX + demux * FACTOR_DEMUX + EMU_SCORE * FACTOR_EMU
        if best is None or cost < best[0]:
            best = (cost, cells, unit, chunks)
    assert best is not None
    return best


def map_memory(width: int, depth: int, *, writable: bool, family: str, block: bool = False) -> MemoryMap:
    """The mapping yosys' ``memory_libmap`` chooses for a ``depth`` x ``width`` memory.

    ``writable``: one write port (a RAM), else a ROM (``$readmemh``). Either way one read port.
    Mirrors memory_libmap: the cheapest of soft logic (``int(bits * LOGIC_COST_*)``, the pass
    truncates it) and every block/distributed RAM geometry (:func:`_geometry`), first on a tie.
    ``block``: the memory carries ``(* rom_style = "block" *)`` (yosys and Vivado): the cheapest
    block RAM geometry."""
    _check_family(family)
    if width <= 0 or depth <= 0:
        return MemoryMap("logic")
    logic_cost = int(width * depth * (LOGIC_COST_RAM if writable else LOGIC_COST_ROM))
    best_cost: float = math.inf if block else logic_cost
    best = MemoryMap("logic")
    for r in (*_BLOCK_RAMS, *(() if block else _lutrams(family))):
        if not writable and not r.rom:
            continue
        cost, cells, unit, chunks = _geometry(r, width, depth, writable)
        if cost < best_cost:
            best_cost = cost
            best = MemoryMap(r.kind, r.name, cells, unit, chunks, cells * r.bram36, cells * r.luts)
    return best


# ============================================================================ ROMs as soft logic
#: Words of a ROM bit column one LUT6 holds (6 address bits); four of them (256 words) combine
#: through MUXF7/MUXF8 for free, larger columns need a LUT mux over those groups.
ROM_LUT_WORDS = 64
ROM_F8_WORDS = 256


def rom_logic_luts_per_bit(depth: int) -> float:
    """LUTs per data bit of a ROM that yosys builds as logic (``memory_map`` then abc), for a bit
    column of random contents: one LUT6 per 64 words (MUXF7/MUXF8 combine up to four for free),
    plus a mux LUT tree over the 256-word groups (measured: 1 LUT/bit up to 64 words, 2 at 100,
    4 at 200, 6.4 at 300, 12 at 600)."""
    if depth <= 1:
        return 0.0
    luts = -(-depth // ROM_LUT_WORDS)
    groups = -(-depth // ROM_F8_WORDS)
    return float(luts + mux_luts(groups))


#: LUTs per bit of the read mux behind a ROM split over ``n`` block-RAM address chunks, per chunk:
#: yosys builds it from its $bmux with fewer MUXF7/F8 than a plain mux (measured per bit: 1 at 3
#: chunks, 3 at 7, 3.2 at 9, 6.1 at 15, 8.7 at 17, 10 at 20, 11.1 at 25, 12.1 at 29, 15.8 at 33).
BRAM_MUX_LUTS_PER_CHUNK = 0.42


def bram_mux_luts_per_bit(chunks: int, cell: str = "") -> float:
    """LUTs per data bit of the read mux of a block-RAM memory split into ``chunks`` address ranges.

    A cascaded RAMB36 pair (``RAMB36 cascade``) is muxed as two blocks: even one pair costs a LUT
    per bit (measured: 1, 1, 3, 5.7, 12.6, 13.2 LUTs/bit at 1, 2, 4, 8, 14, 16 pairs)."""
    n = 2 * chunks if "cascade" in cell else chunks
    if n <= 1:
        return 0.0
    return max(1.0, BRAM_MUX_LUTS_PER_CHUNK * n)


# ============================================================================ requantizer
#: ReLU alone (no rounding, no saturation) is the output register's synchronous reset (FDRE R):
#: one LUT for the condition, whatever the width (measured).
RELU_ONLY_LUT = 1


def requant_luts(*, in_bits: int, out_bits: int, shift: int, rounds: bool, saturates: bool, relu: bool) -> int:
    """LUTs of ``ff_requant`` (ReLU, round the ``shift`` dropped bits, handle overflow).

    ``d = in_bits + 1 - shift`` significant bits are left after the shift (the signed view adds one).
    Rounding is an incrementer over what is kept (``out_bits`` bits when overflow wraps, else
    ``d + 1``), plus the half/sticky detection of the dropped bits (one LUT per 6). Saturation is
    a range compare of the ``d - out_bits`` high bits (two per LUT) and the output mux
    (``out_bits``, a quarter more with ReLU); ReLU with rounding but no saturation zeroes the sum
    (a third of ``out_bits``: merged into the adder's LUTs); ReLU alone is the output register's
    reset (:data:`RELU_ONLY_LUT`). Measured within 15 % over 20 parameter sets (0 to 60 LUTs)."""
    s = max(0, shift)
    d = in_bits + 1 - s + max(0, -shift)
    luts = 0
    if rounds and s > 0:
        luts += (d + 1 if saturates else out_bits) + -(-s // 6) + 1
    if saturates and d > out_bits:
        luts += out_bits + -(-(d - out_bits) // 2) + (out_bits // 4 if relu else 0)
    elif relu:
        luts += out_bits // 3 if (rounds and s > 0) else RELU_ONLY_LUT
    return luts


# ============================================================================ activation buffer
#: ff_act_mem's slot bookkeeping (``full[wslot] <= 1`` ...): yosys' Verilog frontend turns the
#: dynamic bit-selects into 32-bit shifts that synthesis does not fold: 41 LUTs (36 on UltraScale)
#: and 16 CARRY4 for 4 flip-flops (full[1:0], wslot, rslot), measured on the block alone.
ACT_MEM_CTRL_LUT = {"xc7": 41, "xcu": 36, "xcup": 36}
ACT_MEM_CTRL_FF = 4


def act_buffer_cost(*, width: int, banks: int, addr_bits: int, read_ports: int, family: str,
                    bank_reads: int | None = None) -> Cost:
    """``ff_act_mem``: W=width, BANKS=banks, AW=addr_bits, RD_PORTS=read_ports (BW = clog2(banks)).

    Every read port has its own copy of every bank: ``read_ports * banks`` memories of
    ``2 * 2**addr_bits`` words (two slots) x ``width`` bits, each with one write and one registered
    read port (:func:`map_memory`): block RAM (the read register inside), or LUTRAM (simple dual
    port; the read register in ``width`` FFs), or flip-flops. A memory split over several cells in
    depth adds a read mux and a write decoder. Per read port a registered bank select
    (``clog2(banks)`` FFs) and a ``banks``-way mux of ``width`` bits (:func:`mux_luts`).

    In a design yosys removes what the consumer never reads: its ROM holds each read port's bank
    numbers, so a bank a port never selects loses its copy, and a port that reads one bank has no
    select and no mux. ``bank_reads`` is the number of (read port, bank) pairs the consumer really
    reads (default: all, ``read_ports * banks``, as a MAC engine whose lanes each read every input);
    a point-wise consumer whose lane ``l`` reads only the elements of bank ``l`` has ``read_ports``.
    With one bank the (constant) select is always gone."""
    _check_family(family)
    depth = 2 << max(0, addr_bits)
    mems = banks * read_ports if bank_reads is None else max(1, min(banks * read_ports, int(bank_reads)))
    per_port = mems / max(1, read_ports)  # banks a read port selects among
    m = map_memory(width, depth, writable=True, family=family)
    lut = ACT_MEM_CTRL_LUT[family]
    ff = ACT_MEM_CTRL_FF
    lutram = 0
    bram = 0.0
    if m.kind == "logic":  # flip-flops with a write decoder, a read mux and the read register
        ff += mems * (width * depth + width)
        lut += mems * (width * mux_luts(depth) + depth)
    else:
        bram = mems * m.bram36
        lutram = mems * m.lutram_luts
        if m.kind == "distributed":
            ff += mems * width  # the registered read of an asynchronous LUTRAM read port
        if m.chunks > 1:  # split in depth: read mux (select registered) and write enable decoder
            per_bit = bram_mux_luts_per_bit(m.chunks, m.cell) if m.kind == "block" else mux_luts(m.chunks)
            lut += mems * (math.ceil(width * per_bit) + 2 * m.chunks - 2)
            if m.kind == "block":
                ff += mems * _clog2(m.chunks)
    if per_port > 1:
        ff += read_ports * _clog2(math.ceil(per_port))
        lut += read_ports * width * mux_luts(math.ceil(per_port))
    return Cost(lut=lut + lutram, ff=ff, bram36=bram, lutram=lutram)


def shared_buffer_cost(*, width: int, banks: int, addr_bits: int, groups: int, read_ports: int,
                       family: str) -> Cost:
    """``ff_act_mem`` in shared mode (SHARED=1, GROUPS=groups): ``groups * banks`` memories as
    :func:`act_buffer_cost` maps them (each read at its own address, the address coming from the
    consumer's ROM word), and per read port a registered bank select and a ``banks``-way mux of
    ``width`` bits over its copy's banks."""
    g = max(1, groups)
    c = act_buffer_cost(width=width, banks=banks, addr_bits=addr_bits, read_ports=g, family=family,
                        bank_reads=g * banks)
    extra = max(0, read_ports - g)
    if banks > 1 and extra:
        c = c + Cost(lut=extra * width * mux_luts(banks), ff=extra * _clog2(banks))
    return c


# ============================================================================ streams
#: ff_axis_unpack: the beat counter's increment/compare beyond one LUT per address bit.
UNPACK_CTRL_LUT = 4


def unpack_cost(*, width: int, per_beat: int, beats: int, tdata_bits: int, addr_bits: int, family: str,
                banks: int | None = None) -> Cost:
    """``ff_axis_unpack``: a beat counter (``addr_bits`` FFs, an incrementer and the last-beat
    compare); the data goes straight to the buffer's write ports (no register). Into more banks
    than elements per beat (``banks``, a shared input buffer): a beat counter, a bank-group counter
    and an address counter, and one write-enable compare per bank."""
    _check_family(family)
    if banks is None or banks <= per_beat:
        return Cost(lut=addr_bits + UNPACK_CTRL_LUT, ff=addr_bits)
    groups = banks // per_beat
    bits = _clog2(beats) + _clog2(groups) + addr_bits
    return Cost(lut=bits + UNPACK_CTRL_LUT + banks, ff=bits)


#: ff_axis_pack's control flip-flops besides the beat counter and the ROM word: state (2), FIFO
#: count (3), the two pipeline valid/last pairs (4), FIFO pointers (2 + 2).
PACK_CTRL_FF = 13
#: ff_axis_pack's control LUTs (issue, FIFO count and pointers, state, the LUTRAM write path's
#: inverters) and per beat-counter bit (its incrementer, last-beat compare and the ROM decode of
#: the element locations, simple functions of the beat number): measured 31 LUTs with 1 beat bit,
#: 45 with 4, whatever the widths.
PACK_CTRL_LUT = 26
PACK_LUT_PER_BEAT_BIT = 5


def pack_cost(*, width: int, per_beat: int, beats: int, tdata_bits: int, addr_bits: int, bank_bits: int,
              beat_addr_bits: int, family: str, n_elems: int | None = None) -> Cost:
    """``ff_axis_pack``: a ROM of ``beats`` words of ``per_beat`` element locations
    (``1 + bank_bits + addr_bits`` bits each) read into a register, the element mask, a 4-deep
    FIFO of ``tdata_bits + 1`` bits (LUTRAM, asynchronous read: no register) and the beat/FIFO
    control.

    The locations count up with the beat, so the ROM is a few LUTs and its register keeps about
    two distinct columns per word (the rest are constant or equal and merged). The mask is
    constant (removed) when every beat is full; a partial last beat (``n_elems`` not a multiple of
    ``per_beat``; default: full) keeps an AND gate per bit of each element it leaves out."""
    _check_family(family)
    ew = 1 + bank_bits + addr_bits
    rom_w = per_beat * ew
    m = map_memory(rom_w, beats, writable=False, family=family)
    lut = PACK_CTRL_LUT + PACK_LUT_PER_BEAT_BIT * beat_addr_bits
    ff = PACK_CTRL_FF + beat_addr_bits
    if n_elems is not None and n_elems % per_beat:
        left_out = per_beat - n_elems % per_beat
        lut += left_out * width  # word[k] = mask[k] ? rdata[k] : 0 for the elements a beat may leave out
        ff += left_out  # their s2_mask bits
    bram = 0.0
    if m.kind == "logic":
        ff += min(rom_w, 2 * beats)
    else:  # a long output stream: the locations in block RAM
        bram = m.bram36
        lut += math.ceil(rom_w * bram_mux_luts_per_bit(m.chunks, m.cell))
    fifo = map_memory(tdata_bits + 1, 4, writable=True, family=family)
    lutram = fifo.lutram_luts
    if fifo.kind == "logic":
        ff += 4 * (tdata_bits + 1)
        lut += (tdata_bits + 1) * mux_luts(4)
    return Cost(lut=lut + lutram, ff=ff, bram36=bram, lutram=lutram)


# ============================================================================ the MAC engine
#: DSP multiplier port widths (signed bits) per slice.
DSP_PORTS = {"DSP48E1": (25, 18), "DSP48E2": (27, 18)}
#: mul2dsp leaves a product to LUTs below these widths (DSP_A/B_MINWIDTH=2, DSP_Y_MINWIDTH=9).
DSP_MIN_OPERAND_BITS = 2
DSP_MIN_PRODUCT_BITS = 9
#: Widest accumulator the DSP's P register holds.
DSP_ACC_BITS = 48

#: ff_sparse_mac control: state (2), drain counter (3), s1_v (1), the ROM read enable (1), plus
#: the entry counter (EAW).
ENGINE_CTRL_FF = 7
#: ff_sparse_mac control LUTs besides two per entry-counter bit (its incrementer and the last-entry
#: compare): state decode, drain count, done, start (measured 38 LUTs at EAW = 10, 43 at 12).
ENGINE_CTRL_LUT = 18
ENGINE_CTRL_LUT_PER_EAW = 2
#: ff_mac_lane's small logic (valid pipeline, output ordinal enable) besides the requantizer.
LANE_CTRL_LUT = 6
#: ff_mac_lane flip-flops besides the data registers: s2_v, s3_v, s4_v, s5_we and first/last x 2.
LANE_CTRL_FF = 8
#: ... of which the first/last flags of stages 2 and 3.
LANE_FLAG_FF = 4
#: Fraction of the logic-ROM bit columns of the sparse fields (bias, first/last/valid flags: ones
#: only on a row's first/last entry) that cost LUTs like a random column (measured 0.3-0.6), and
#: the LUTs per one such a column holds, at most (short lanes: a few ones per column).
ROM_SPARSE_LOGIC_FRACTION = 0.45
ROM_SPARSE_LUT_PER_ONE = 0.2
#: Nonzero canonical-signed-digit (CSD) digits of a ``b``-bit constant, on average: ``b / 3 + 1/2``
#: (CSD density 1/3, plus the leading digit).
CSD_DIGITS_PER_BIT = 1.0 / 3.0
CSD_DIGITS_EXTRA = 0.5


def _operand_bits(bits: int, signed: bool) -> int:
    """Width of an operand as a signed multiplier input (an unsigned one needs a zero sign bit)."""
    return bits + (0 if signed else 1)


def dsp_per_product(a: int, b: int, family: str) -> int:
    """DSP slices of one ``a`` x ``b`` signed product (0: built from LUTs), as mul2dsp tiles it."""
    if min(a, b) < DSP_MIN_OPERAND_BITS or a + b < DSP_MIN_PRODUCT_BITS:
        return 0
    pa, pb = DSP_PORTS[dsp_slice(family)]
    return min(math.ceil(a / pa) * math.ceil(b / pb), math.ceil(b / pa) * math.ceil(a / pb))


def _table_luts_per_bit(n: int) -> float:
    """LUTs per output bit of an ``n``-entry constant table (ff_codebook): none for 2 entries (a
    wire or an inverter of the code bit), half a LUT for 4 (two outputs share a LUT6_2), one LUT
    up to 64 entries, then as a ROM column (measured: 7 LUTs for 16 bits at 4 entries, 16 at 8..64,
    64 at 256)."""
    if n <= 2:
        return 0.0
    if n <= 4:
        return 0.5
    return rom_logic_luts_per_bit(n)


def _lut_multiplier_luts(a: int, b: int) -> int:
    """LUTs of a small signed multiplier built from LUTs (an adder array: about a*b + a + b;
    4 x 4 measured 26)."""
    return a * b + a + b


def _rom_fields_logic(*, lanes: int, entries: int, dense_bits: int, sparse_bits: int,
                      rows_per_lane: float) -> tuple[int, int]:
    """(LUTs, FFs) of an engine ROM built as logic, by field.

    Dense fields (weight or code, input address and bank) have random contents: one column costs
    :func:`rom_logic_luts_per_bit`. Sparse fields (bias, flags) have ones only on a row's first or
    last entry (about ``2 * rows - 1`` per column): a column costs
    :data:`ROM_SPARSE_LOGIC_FRACTION` of a random one, at most :data:`ROM_SPARSE_LUT_PER_ONE` per
    one it holds. With few rows per lane many of their columns are constant or equal (the bias's
    sign bits, a one-row lane's flags), which yosys removes or merges, and so are the lane's
    registers behind them: the kept fraction of sparse columns is about ``rows / 8`` (at most 3/4;
    measured on the benchmark's logic ROMs, 14 to 210 words)."""
    per_bit = rom_logic_luts_per_bit(entries)
    sparse_kept = min(0.75, rows_per_lane / 8.0)
    sparse_lut = min(ROM_SPARSE_LOGIC_FRACTION * per_bit, ROM_SPARSE_LUT_PER_ONE * max(0.0, 2 * rows_per_lane - 1))
    lut = lanes * (dense_bits * per_bit + sparse_bits * sparse_lut)
    ff = lanes * (dense_bits + sparse_bits * sparse_kept)
    return math.ceil(lut), math.ceil(ff)


def mac_engine_cost(*, lanes: int, entries: int, entry_bits: int, x_bits: int, x_signed: bool,
                    w_bits: int, w_signed: bool, weight_field_bits: int, codebook: bool, codebook_bits: int,
                    bias_bits: int, acc_bits: int, out_bits: int, in_addr_bits: int, in_bank_bits: int,
                    out_addr_bits: int, relu: bool, family: str, factored: bool = False, sum_bits: int = 0,
                    rq_shift: int | None = None, rounds: bool | None = None, saturates: bool | None = None,
                    shift_p: int = 0, shift_b: int | None = None, pointwise: bool | None = None,
                    in_banks: int | None = None, full_lanes: int = 1, codebook_nonzero: int | None = None,
                    rom_block: bool = False) -> Cost:
    """``ff_sparse_mac`` with P=lanes, ENTRIES, ENTRY_W=entry_bits, W_X, X_SIGNED, W_W, W_SIGNED,
    WF=weight_field_bits, CB, CB_BITS, BIAS_W, W_ACC, AW_IN, BW_IN, W_OUT, AW_OUT, RELU (and
    FACTORED/SUM_W).

    The requantizer's shift, rounding and saturation are not engine parameters of the plan yet:
    ``rq_shift``/``rounds``/``saturates`` default to an identity cast when the output keeps the
    accumulator (``out_bits >= acc_bits`` and no ReLU) and otherwise to RND_CONV + SAT (the
    QONNX ``ROUND`` convention) dropping half of the extra accumulator bits. ``shift_p``/``shift_b``
    (the product's/bias's alignment to the accumulator): a shifted product keeps the accumulator
    out of the DSP; ``shift_b`` defaults to "shifted" (> 0: the bias's binary point is rarely the
    accumulator's). ``pointwise`` (a ReLU/requantize layer walking an identity matrix: every weight
    is the constant 1, every bias 0 and every entry a whole row, so yosys removes those ROM columns
    and their registers; the lanes' ``IDENTITY`` parameter replaces the ``x * 1`` product by ``x``,
    so no DSP and no multiplier) defaults to the plan's point-wise signature (2-bit weight field and
    weight, 1-bit bias).
    ROM columns that are constant are removed by yosys before mapping (``opt_mem``): the valid bit
    of every lane that is never padded (``full_lanes``, at least the longest lane) and, when the
    input buffer has one bank (``in_banks == 1``), the bank field. ``codebook_nonzero``: the
    codebook's nonzero entries (factored lanes keep a sum and a multiplier per nonzero code onl.
    ``rom_block``: the engine's ROM is forced into block RAM (``ROM_BLOCK=1``) instead of yosys' choice.

    Blocks:

    * ROM (``entries`` x ``lanes * entry_bits``, :func:`map_memory`): block RAM, whose output
      register is the read register; or logic (:func:`_rom_fields_logic`) and the read register.
      Split in depth, a ``chunks``-way read mux per bit with a registered select.
    * control: entry counter (EAW bits) and the state/drain logic.
    * per lane (``ff_mac_lane``): codebook decode (``w_bits`` LUTs per bit of a ``2**codebook_bits``
      entry table), the product (DSP or LUTs, :func:`dsp_per_product`), the accumulator (in the
      DSP on 7-series when it fits; else ``acc_bits`` LUTs and FFs), the requantizer
      (:func:`requant_luts`) and the registers: valid/first/last pipeline, bias (2 stages, one in
      the DSP's CREG when it is not shifted), output ordinal and write address (``out_addr_bits``
      each), write data (``out_bits``).
    * factored lanes (``ff_factored_lane``, no DSP): see :func:`_factored_lane`.
    """
    _check_family(family)
    if pointwise is None:
        pointwise = (not codebook and not factored and weight_field_bits == 2 and w_bits == 2 and bias_bits == 1)
    if rq_shift is None or rounds is None or saturates is None:
        identity = out_bits >= acc_bits and not relu
        if rq_shift is None:
            rq_shift = 0 if identity else max(0, (acc_bits - out_bits) // 2)
        if rounds is None:
            rounds = not identity
        if saturates is None:
            saturates = not identity
    if shift_b is None:
        shift_b = 1
    eaw = max(1, _clog2(entries))
    rom_w = lanes * entry_bits
    rows_per_lane = 0.75 * (1 << max(0, out_addr_bits))

    # ---- ROM
    dense_bits = weight_field_bits + in_addr_bits + in_bank_bits
    sparse_bits = bias_bits + 3
    if in_banks == 1:  # the bank field is constant 0
        dense_bits -= in_bank_bits
    if pointwise:  # constant weight (1), bias (0) and flags (1): only the input location varies
        dense_bits, sparse_bits = dense_bits - weight_field_bits, 0
    rom_w_used = lanes * (dense_bits + sparse_bits) - (0 if pointwise else min(lanes, max(0, full_lanes)))
    rom_w_used = max(1, min(rom_w, rom_w_used))
    m = map_memory(rom_w_used, entries, writable=False, family=family, block=rom_block)
    lut = ENGINE_CTRL_LUT + ENGINE_CTRL_LUT_PER_EAW * eaw
    ff = ENGINE_CTRL_FF + eaw
    bram = 0.0
    bias_kept = 1.0
    if m.kind == "logic":
        rl, rf = _rom_fields_logic(lanes=lanes, entries=entries, dense_bits=dense_bits, sparse_bits=sparse_bits,
                                   rows_per_lane=rows_per_lane)
        lut += rl
        ff += rf
        bias_kept = min(0.75, rows_per_lane / 8.0)
    else:
        bram = m.bram36
        lut += math.ceil(rom_w_used * bram_mux_luts_per_bit(m.chunks, m.cell))
        if m.chunks > 1:
            ff += _clog2(m.chunks)  # the registered chunk select

    # ---- lanes
    lane = _factored_lane(
        x_bits=x_bits, x_signed=x_signed, w_bits=w_bits, codebook_bits=codebook_bits,
        codebook_nonzero=codebook_nonzero, sum_bits=sum_bits,
        bias_bits=bias_bits, acc_bits=acc_bits, out_bits=out_bits, out_addr_bits=out_addr_bits, relu=relu,
        rq_shift=rq_shift, rounds=rounds, saturates=saturates, bias_kept=bias_kept,
    ) if factored else _mac_lane(
        x_bits=x_bits, x_signed=x_signed, w_bits=w_bits, w_signed=w_signed, codebook=codebook,
        codebook_bits=codebook_bits, bias_bits=bias_bits, acc_bits=acc_bits, out_bits=out_bits,
        out_addr_bits=out_addr_bits, relu=relu, rq_shift=rq_shift, rounds=rounds, saturates=saturates,
        shift_p=shift_p, shift_b=shift_b, pointwise=pointwise, bias_kept=bias_kept, family=family,
    )
    return Cost(lut=lut, ff=ff, bram36=bram) + lane.times(lanes)


def _mac_lane(*, x_bits: int, x_signed: bool, w_bits: int, w_signed: bool, codebook: bool, codebook_bits: int,
              bias_bits: int, acc_bits: int, out_bits: int, out_addr_bits: int, relu: bool, rq_shift: int,
              rounds: bool, saturates: bool, shift_p: int, shift_b: int, pointwise: bool, bias_kept: float,
              family: str) -> Cost:
    """One ``ff_mac_lane`` (see :func:`mac_engine_cost`)."""
    lut = LANE_CTRL_LUT
    ff = LANE_CTRL_FF + 2 * out_addr_bits + out_bits
    rq = requant_luts(in_bits=acc_bits, out_bits=out_bits, shift=rq_shift, rounds=rounds, saturates=saturates,
                      relu=relu)
    if pointwise:  # x * 1 + 0, first = last = 1: the bias and flag registers are constant (removed)
        ff -= LANE_FLAG_FF
        bias_bits = 0
    if codebook:  # ff_codebook: a 2**codebook_bits-entry constant table per weight bit
        lut += math.ceil(w_bits * _table_luts_per_bit(1 << codebook_bits))
    a = _operand_bits(x_bits, x_signed)
    b = _operand_bits(w_bits, w_signed)
    # the point-wise engine sets IDENTITY: its product is x itself (no multiplier, no weight register)
    dsp = 0 if pointwise else dsp_per_product(a, b, family)
    bias_ff = math.ceil(bias_bits * bias_kept)
    ff += bias_ff  # S2 bias register
    acc_in_dsp = (family == "xc7" and dsp == 1 and acc_bits <= DSP_ACC_BITS and shift_p == 0)
    if acc_in_dsp:
        if shift_b > 0:
            ff += bias_ff  # the S3 bias register stays in fabric when the bias is shifted (no CREG)
    else:
        ff += bias_ff + acc_bits
        lut += acc_bits  # the accumulator's adder and first-entry select
        if pointwise:
            ff += a  # the product register holds x
        elif dsp == 0:
            lut += _lut_multiplier_luts(a, b)
            ff += a + b + w_bits  # product and weight registers
        elif family != "xc7":
            ff += a + b + w_bits  # yosys 0.23 packs no DSP48E2 register
        elif dsp > 1:
            ff += max(0, a + b - DSP_PORTS["DSP48E1"][0])  # partial product register between the slices
            lut += max(0, dsp - 2) * (a + b) // 2  # adders joining more than two partial products
    return Cost(lut=lut + rq, ff=ff, dsp=dsp)


def _factored_lane(*, x_bits: int, x_signed: bool, w_bits: int, codebook_bits: int, codebook_nonzero: int | None,
                   sum_bits: int, bias_bits: int, acc_bits: int, out_bits: int, out_addr_bits: int, relu: bool,
                   rq_shift: int, rounds: bool, saturates: bool, bias_kept: float) -> Cost:
    """One ``ff_factored_lane``: running sums per code, constant multipliers, a registered tree.

    With K = 2**codebook_bits codes of which ``nz`` have a nonzero codebook entry (default all;
    a zero entry, the padding up to K included, keeps no sum and no multiplier):

    * S2: ``nz`` sums (``nz * sum_bits`` FFs), one shared adder (``sum_bits`` LUTs) behind a K-way
      select of the current sum (:func:`mux_luts`);
    * S3: per nonzero code a constant multiplier as shift-adds over the canonical signed digits
      (CSD) of its entry, one adder per digit beyond the first (plus the bias adder of leaf 0),
      ``LW = min(w_bits + sum_bits + 1, acc_bits)`` bits each, into a registered leaf (``LW`` FFs);
    * a registered adder tree over the leaves (``nz - 1`` adders, plus a pass-through register per
      level above them; ``LW`` .. ``acc_bits`` bits);
    * the requantizer and the write registers as ff_mac_lane; control: valid/first/last, the code,
      the bias (2 x ``bias_bits``) and the tree's valid shift register.

    The codebook's values are not parameters, so the digits per constant are the average for
    random ``w_bits``-bit constants (:data:`CSD_DIGITS_PER_BIT`; measured within 5 % on 8-bit
    codebooks). The sum/leaf/tree flip-flops are exact."""
    k = 1 << codebook_bits
    nz = k if codebook_nonzero is None else max(1, min(k, int(codebook_nonzero)))
    sw = max(2, sum_bits)
    lw = min(w_bits + sw + 1, acc_bits)
    digits = max(1.0, w_bits * CSD_DIGITS_PER_BIT + CSD_DIGITS_EXTRA)
    adders = nz * (digits - 1) + 1  # per constant: one adder per digit beyond the first; + the bias
    tree_w = min(lw + codebook_bits // 2 + 1, acc_bits)
    nodes = max(1, nz - 1)
    passes = max(0, codebook_bits - _clog2(nz))  # levels above the nonzero leaves: registers only
    lut = LANE_CTRL_LUT + sw * (1 + mux_luts(k)) + math.ceil(adders * lw) + nodes * tree_w
    lut += requant_luts(in_bits=acc_bits, out_bits=out_bits, shift=rq_shift, rounds=rounds, saturates=saturates,
                        relu=relu)
    bias_ff = math.ceil(bias_bits * bias_kept)
    ff = (LANE_CTRL_FF + codebook_bits + 1 + 2 * bias_ff + 2 * out_addr_bits + out_bits
          + nz * sw + nz * lw + (nodes + passes) * tree_w)
    return Cost(lut=lut, ff=ff)


# ============================================================================ activation-skipping engine
#: Control of ``ff_skip_mac`` beyond its counters: state, handshake, output-slot counter.
SKIP_CTRL_LUT = 30
SKIP_CTRL_FF = 12
#: Per lane: FIFO pointers and occupancy compare, walker control.
SKIP_LANE_CTRL_LUT = 8


def _rom_luts(width: int, depth: int, family: str, block: bool = False) -> Cost:
    """A registered-read ROM of ``depth`` x ``width``: block RAM (with its read mux) or logic."""
    m = map_memory(width, depth, writable=False, family=family, block=block)
    if m.kind == "logic":
        return Cost(lut=math.ceil(width * rom_logic_luts_per_bit(depth)), ff=width)
    if m.kind == "block":
        return Cost(lut=math.ceil(width * bram_mux_luts_per_bit(m.chunks, m.cell)), bram36=m.bram36)
    return Cost(lut=m.lutram_luts, ff=width)


def _ram_luts(width: int, depth: int, family: str) -> Cost:
    """A small RAM with an asynchronous read (FIFO, accumulators): distributed RAM, or registers."""
    m = map_memory(width, depth, writable=True, family=family)
    if m.kind in ("logic", "block"):  # yosys keeps an asynchronous read out of block RAM: registers
        return Cost(lut=math.ceil(width * max(1, mux_luts(depth))), ff=width * depth)
    return Cost(lut=m.lutram_luts)


def skip_engine_cost(*, lanes: int, banks_in: int, positions: int, entries: int, count_bits: int, slots: int,
                     depth: int, x_bits: int, x_signed: bool, w_bits: int, w_signed: bool, weight_field_bits: int,
                     codebook: bool, codebook_bits: int, bias_bits: int, acc_bits: int, out_bits: int,
                     relu: bool, rq_shift: int, rounds: bool, saturates: bool, family: str,
                     rom_block: bool = False, bcast: int = 1) -> Cost:
    """``ff_skip_mac``: the scan (nonzero detect, priority select and the ``banks_in``-way mux of
    the broadcast value, the scan ROM), the pointer ROM (``positions`` x ``lanes`` (start, count)),
    the bias ROM, and per lane its FIFO (``depth`` columns), walker, entry ROM, multiplier,
    accumulator RAM (``slots`` words), bias adder, requantizer and output registers; ``bcast``
    broadcast channels: that many selects, broadcast registers, pointer ROM copies and FIFOs per lane."""
    _check_family(family)
    eaw = max(1, _clog2(entries))
    sw = max(1, _clog2(slots))
    scan_words = -(-positions // max(1, banks_in))
    lut = (SKIP_CTRL_LUT + banks_in * (-(-x_bits // 6) + 2)
           + bcast * (x_bits * mux_luts(banks_in) + 2 * _clog2(positions) + banks_in))
    ff = SKIP_CTRL_FF + bcast * 2 * (x_bits + _clog2(positions) + 1) + banks_in + _clog2(scan_words) + sw
    total = Cost(lut=lut, ff=ff)
    total = total + _rom_luts(banks_in, scan_words, family)
    total = total + _rom_luts(lanes * (eaw + count_bits), positions, family, block=rom_block).times(bcast)
    total = total + _rom_luts(lanes * bias_bits, slots, family)
    fw = x_bits + eaw + count_bits
    a = _operand_bits(x_bits, x_signed)
    b = _operand_bits(w_bits, w_signed)
    dsp = dsp_per_product(a, b, family)
    lane = Cost(lut=SKIP_LANE_CTRL_LUT + eaw + count_bits + 2 * _clog2(depth),
                ff=3 * _clog2(depth) + 2 + eaw + count_bits + x_bits + 3 + x_bits + sw)
    lane = lane + _ram_luts(fw, depth, family).times(bcast) + Cost(lut=4 * (bcast - 1), ff=(bcast - 1) * 9)
    lane = lane + _rom_luts(weight_field_bits + sw, entries, family)
    if codebook:
        lane = lane + Cost(lut=math.ceil(w_bits * _table_luts_per_bit(1 << codebook_bits)))
    if dsp == 0:
        lane = lane + Cost(lut=_lut_multiplier_luts(a, b), ff=a + b)
    lane = lane + Cost(ff=0 if dsp else a + b, dsp=dsp)
    lane = lane + _ram_luts(acc_bits, slots, family) + Cost(lut=2 * acc_bits, ff=acc_bits)  # acc add, bias add
    rq = requant_luts(in_bits=acc_bits, out_bits=out_bits, shift=rq_shift, rounds=rounds, saturates=saturates,
                      relu=relu)
    lane = lane + Cost(lut=rq, ff=out_bits + sw + 1)
    return total + lane.times(lanes)
