"""The hardware plan: what each layer becomes in hardware, decided once, as plain data.

:func:`fpga_flow.hw.design.plan_design` turns a lowered graph into a :class:`DesignPlan`: one
:class:`LayerPlan` per layer (the engine, its lanes, the row schedule, the ROM arrays and their
widths, cycles and resources), the activation buffers between them and the two AXI4-Stream ends.
The HLS and RTL backends only *spell* it; fit, ``--strict``, the report and ``inspect`` read its
figures. Nothing here knows a backend.

Engines (``LayerPlan.engine``):

========================  ==========================================================================
``dense``                 every weight stored (zeros too); rows dealt round-robin; ``slots * n_in``
                          entries per lane
``csr``                   the nonzeros: weight + column index + row-end bit per entry
``codebook``              as ``csr`` with a narrow code per entry into the layer's codebook (registers)
``codebook_factored``     codebook CSR computed as ``sum_k c_k * S_k``: per lane K running input sums
                          (adders), K constant multiplies per row (no DSP)
``pointwise``             ``y = requant(act(x * 2^shift))`` per element (ReLU, requantization, scaling)
``window``                a feature-map stage (convolution, pooling, per-channel scale, element-wise on a
                          map): for each output pixel in raster order, every lane walks its output
                          channels' taps (the same lane arrays as ``csr``/``codebook``/``dense``, one
                          entry per nonzero tap), see :class:`WindowPlan`
``alias``                 a shape change: no hardware, the buffer/stream of its input is reused
========================  ==========================================================================

Lane arrays of the MAC engines (``dense``, ``csr``, ``codebook``, ``codebook_factored``): lane ``l``
stores its rows' entries back to back, ``col[l][t]``, ``val[l][t]`` (weight mantissa or code) and
``last[l][t]`` (1 on a row's final entry), zero-padded to ``entries``; a row without nonzeros takes
one zero-weight entry (a zero code), so every row's result is written by its lane. Row ``r``'s
result sits in slot ``row_slot[r]`` of lane ``row_lane[r]``.

Window engines use the same arrays per output pixel: ``col`` is the tap ``(ci * kh + ky) * kw + kx``
(``ci`` the absolute input channel), and every lane walks exactly ``slots`` rows per pixel (a lane
with fewer channels ends with one-entry dummy rows whose result lands in an unused slot), so output
channel ``c`` of pixel ``p`` sits at address ``p * slots + row_slot[c]`` of bank ``row_lane[c]``:
the pixel-major :class:`FeatureMapLayout` of the buffer after the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from fpga_flow.fixed import FixedType
from fpga_flow.hw.banking import BankSchedule
from fpga_flow.hw.cost import Cost
from fpga_flow.hw.schedule import Schedule
from fpga_flow.ir import Graph, InputLayer, Layer
from fpga_flow.stream import StreamFormat

if TYPE_CHECKING:
    from fpga_flow.hw.skipping import SkipPlan

__all__ = [
    "ENGINES",
    "FOLDING_BOUNDS",
    "FOLDING_BOUND_LABELS",
    "BufferPlan",
    "Cycles",
    "FeatureMapLayout",
    "DesignPlan",
    "Folding",
    "LayerPlan",
    "MacFields",
    "Rom",
    "StreamPlan",
    "WindowPlan",
]

#: Every engine a planner may choose (the backends have one spelling per engine).
ENGINES = ("dense", "csr", "codebook", "codebook_factored", "pointwise", "window", "alias")

#: What a window engine's lane does with a tap (``WindowPlan.op``): multiply-accumulate, sum with
#: every weight the constant ``2^-k`` (``MacFields.w_frac = k``: average pooling, ReLU/requantization
#: of a map, a residual add), running maximum (max pooling: a padding tap reads the smallest input
#: value, which never wins).
WINDOW_OPS = ("mac", "sum", "max")


@dataclass(frozen=True, eq=False)
class Rom:
    """One constant array of a layer: ``values`` are integer mantissas or indices (1-D or 2-D).

    ``frac`` is the fractional bits of a fixed-point element (value ``mantissa * 2**-frac``);
    ``None`` for an unsigned index. ``signed`` tells how the ``bits``-bit word is read.
    """

    role: str
    bits: int
    values: np.ndarray
    frac: int | None = None
    signed: bool = False

    @property
    def n_bits(self) -> int:
        """Bits stored (elements times element width)."""
        return int(self.values.size) * self.bits

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.values.shape)


@dataclass(frozen=True)
class Cycles:
    """Cycles of one stage per sample: ``ii`` between samples, ``latency`` through the stage."""

    ii: int
    latency: int


@dataclass(frozen=True)
class MacFields:
    """The arithmetic of a MAC-style engine entry, as the hardware sees it.

    ``weight_field_bits`` bits of weight per entry (the mantissa, or the code when ``codebook``);
    weights are ``w_bits`` wide with ``w_frac`` fractional bits; biases ``bias_bits`` / ``bias_frac``;
    the exact accumulator ``acc_bits`` / ``acc_frac`` (signed). ``shift_p`` / ``shift_b`` align a
    product / the bias to the accumulator; ``rq_shift = acc_frac - out.frac``.
    """

    weight_field_bits: int
    w_bits: int
    w_signed: bool
    w_frac: int
    bias_bits: int
    bias_signed: bool
    bias_frac: int
    acc_bits: int
    acc_frac: int
    x_type: FixedType
    out_type: FixedType
    relu: bool

    @property
    def shift_p(self) -> int:
        return self.acc_frac - (self.w_frac + self.x_type.frac)

    @property
    def shift_b(self) -> int:
        return self.acc_frac - self.bias_frac

    @property
    def rq_shift(self) -> int:
        return self.acc_frac - self.out_type.frac


@dataclass(frozen=True, eq=False)
class FeatureMapLayout:
    """A ``(C, H, W)`` feature map held pixel-major: element ``(c, pixel)`` (pixel ``y * W + x``) in
    bank ``chan_bank[c]`` at address ``pixel * slots + chan_slot[c]``.

    Every window engine reads its input in this layout and writes its output in it (``chan_bank``
    its lanes, ``chan_slot`` its row slots); the input stream's unpacker writes it with one bank."""

    channels: int
    height: int
    width: int
    slots: int
    chan_bank: np.ndarray
    chan_slot: np.ndarray

    @property
    def pixels(self) -> int:
        return self.height * self.width

    def bank_addr(self) -> tuple[np.ndarray, np.ndarray]:
        """(bank, address) of every element in ONNX (NCHW) order."""
        pix = np.arange(self.pixels, dtype=np.int64)
        bank = np.repeat(np.asarray(self.chan_bank, np.int64), self.pixels)
        addr = (pix[None, :] * self.slots + np.asarray(self.chan_slot, np.int64)[:, None]).reshape(-1)
        return bank, addr


@dataclass(frozen=True)
class WindowPlan:
    """The geometry of a window engine: ``in_shape`` / ``out_shape`` ``(C, H, W)``, the kernel,
    stride and pads ``(top, left, bottom, right)`` of its taps, and the lane operation ``op``
    (:data:`WINDOW_OPS`). ``entries`` is each lane's walk per output pixel (rows plus dummy rows)."""

    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pads: tuple[int, int, int, int]
    op: str
    entries: int
    #: channels of each input (a residual ``Add`` or a ``Concat`` reads several maps of one size; the
    #: taps index their channels one after another: input ``s`` starts at ``sum(source_channels[:s])``)
    source_channels: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.source_channels:
            object.__setattr__(self, "source_channels", (self.in_shape[0],))

    @property
    def out_pixels(self) -> int:
        return self.out_shape[1] * self.out_shape[2]

    @property
    def taps(self) -> int:
        """Taps of one window over every input channel (``C_in * kh * kw``)."""
        return self.in_shape[0] * self.kernel[0] * self.kernel[1]


@dataclass(frozen=True, eq=False)
class BufferPlan:
    """An activation buffer (ping-pong, banked) holding one layer's output for its consumer.

    Element ``j`` of the producer's output lives in bank ``bank_of[j]`` at address ``addr_of[j]``;
    ``read_ports`` consumers read it at once (the consumer's lanes, or the packer's elements per beat).
    ``groups`` 0: every read port has its own copy of every bank (``ff_act_mem``'s per-port
    copies); ``groups`` >= 1: the buffer is *shared* (:mod:`fpga_flow.hw.banking`): ``groups``
    copies, every bank of a copy read at one address per cycle, each read port selecting a bank of
    its group's copy (the consumer's :class:`~fpga_flow.hw.banking.BankSchedule` gives the addresses).
    """

    index: int
    layer: str
    width: int
    banks: int
    addr_bits: int
    bank_bits: int
    read_ports: int
    bank_of: np.ndarray
    addr_of: np.ndarray
    cost: Cost = field(default_factory=Cost)
    fm: FeatureMapLayout | None = None
    groups: int = 0
    #: the copy each read port reads (shared only; empty: runs of ``ceil(read_ports / groups)``,
    #: :func:`~fpga_flow.hw.banking.group_lanes`)
    port_group: tuple[int, ...] = ()

    @property
    def shared(self) -> bool:
        """One copy per group, read through the consumer's bank schedule (not one per read port)."""
        return self.groups >= 1

    @property
    def n_elems(self) -> int:
        return int(self.bank_of.size)

    @property
    def depth(self) -> int:
        """Words per bank and slot (``2**addr_bits``)."""
        return 1 << self.addr_bits


@dataclass(frozen=True, eq=False)
class StreamPlan:
    """One AXI4-Stream end: the unpacker into the first buffer, or the packer out of the last."""

    name: str  # "axis_in" | "axis_out"
    fmt: StreamFormat
    type: FixedType
    buffer: BufferPlan
    cycles: Cycles
    hls_cycles: int
    cost: Cost


@dataclass(frozen=True, eq=False)
class LayerPlan:
    """What one layer becomes in hardware (see the module docstring for the engines).

    ``schedule`` deals rows to ``lanes``; ``arrays`` holds the lane arrays ``col``, ``val``, ``last``
    (``lanes x entries``) of MAC engines; ``roms`` the constant arrays the engine stores (what the
    HLS backend writes, what ``weight_bits`` counts); ``codebook`` the codebook as the hardware
    holds it (mantissas of the weight type, a 0 entry added when a row has no nonzeros and the
    codebook has none). ``cycles`` (the Verilog engine: equal to RTL simulation), ``hls_cycles``
    (the HLS C++ loop schedule: load, walk, emit), ``cost`` (LUT/FF/DSP/BRAM36/URAM: the engine
    with its output buffer) are filled in by :func:`fpga_flow.hw.design.plan_design`.
    """

    layer: Layer
    in_type: FixedType
    engine: str
    reason: str
    schedule: Schedule
    fields: MacFields | None = None
    roms: tuple[Rom, ...] = ()
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    codebook: np.ndarray | None = None
    code_bits: int = 0
    col_bits: int = 0
    sum_type: FixedType | None = None
    multiplies: int = 0
    shift: int = 0
    window: WindowPlan | None = None
    in_buffer: BufferPlan | None = None
    out_buffer: BufferPlan | None = None
    #: the buffer of each input (``in_buffers[0] is in_buffer``), and one per reader of the output
    in_buffers: tuple[BufferPlan, ...] = ()
    out_buffers: tuple[BufferPlan, ...] = ()
    cycles: Cycles = Cycles(0, 0)
    hls_cycles: int = 0
    cost: Cost = field(default_factory=Cost)
    #: the read schedule on a shared input buffer (``in_buffer.shared``), which the Verilog engine stores
    banking: BankSchedule | None = None
    #: the Verilog engine's ROM is forced into block RAM (``rom_style = "block"``), freeing the LUTs a
    #: shallow ROM would take as logic (chosen by the folding when LUTs run out and block RAM is left)
    rom_block: bool = False
    #: the engine skips zero input activations (:mod:`fpga_flow.hw.skipping`); ``skip`` holds what it
    #: stores once its input buffer is planned
    skipping: bool = False
    skip: SkipPlan | None = None

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def rtl_entries(self) -> int:
        """ROM words per sample (per output pixel for a window) of the Verilog engine: the bank
        schedule's cycles on a shared input, else :attr:`entries`."""
        return self.banking.cycles if self.banking is not None else self.entries

    @property
    def lanes(self) -> int:
        return self.schedule.lanes

    @property
    def entries(self) -> int:
        """Entries of the longest lane (the MAC loop's trip count; per output pixel for a window)."""
        return self.window.entries if self.window is not None else self.schedule.entries

    @property
    def slots(self) -> int:
        return self.schedule.slots

    @property
    def lane_bits(self) -> int:
        return bits_for(self.lanes)

    @property
    def slot_bits(self) -> int:
        return bits_for(self.slots)

    @property
    def weight_bits(self) -> int:
        """Bits of every constant the engine stores (ROMs plus the codebook)."""
        cb = 0 if self.codebook is None or self.fields is None else int(self.codebook.size) * self.fields.w_bits
        return sum(r.n_bits for r in self.roms) + cb

    @property
    def is_alias(self) -> bool:
        return self.engine == "alias"

    def rom(self, role: str) -> Rom:
        for r in self.roms:
            if r.role == role:
                return r
        raise KeyError(role)


#: What can bound an automatically folded design (``Folding.bound``): a resource of the fit check,
#: the stream ends, a layer that has one lane per row already, the target the user gave, or
#: (``search``) the folding's probe limit.
FOLDING_BOUNDS = ("lut", "ff", "dsp", "bram36", "uram", "input_bandwidth", "output_bandwidth", "rows", "target",
                  "search")
#: How reports name each bound.
FOLDING_BOUND_LABELS = {"lut": "LUT", "ff": "FF", "dsp": "DSP", "bram36": "BRAM36", "uram": "URAM",
                        "input_bandwidth": "the input stream's bandwidth",
                        "output_bandwidth": "the output stream's bandwidth", "rows": "a layer with one lane per row",
                        "target": "the target", "search": "the search's probe limit"}


@dataclass(frozen=True)
class Folding:
    """How the lanes of a design were chosen by :func:`fpga_flow.hw.folding.fold` (plain data).

    ``mode`` ``"fastest"`` (the lowest II that fits) or ``"target"`` (the fewest lanes meeting
    ``target_ii``); ``lanes`` per hardware layer, as chosen; ``bound`` what stops a faster design
    (:data:`FOLDING_BOUNDS`), ``detail`` one sentence with the numbers; ``faster`` the figures of the
    next faster design that was refused (``None`` when none exists); ``probes`` designs planned;
    ``sparsity`` what ``--skip-zeros auto`` chose on the folded lanes (one sentence, empty without it:
    :func:`fpga_flow.hw.skip_choice.choose_skips`); ``bound_layer`` the layer with one lane per row
    when ``bound`` is ``"rows"``; ``pixels`` the convolutions made to compute several output pixels
    per step, ``(layer, gy, gx)`` (:func:`fpga_flow.passes.split_pixels`), and ``pixels_detail`` one
    sentence about them."""

    mode: str
    target_ii: int | None
    lanes: tuple[tuple[str, int], ...]
    bound: str
    detail: str
    faster: dict | None = None
    probes: int = 0
    sparsity: str = ""
    bound_layer: str = ""
    pixels: tuple[tuple[str, int, int], ...] = ()
    pixels_detail: str = ""

    def to_json(self) -> dict:
        return {"mode": self.mode, "target_ii": self.target_ii, "lanes": dict(self.lanes), "bound": self.bound,
                "bound_label": FOLDING_BOUND_LABELS[self.bound], "detail": self.detail, "faster": self.faster,
                "probes": self.probes, "sparsity": self.sparsity,
                "pixels": [{"layer": n, "gy": gy, "gx": gx} for n, gy, gx in self.pixels],
                "pixels_detail": self.pixels_detail}


@dataclass(frozen=True, eq=False)
class DesignPlan:
    """The whole design: input stream, one plan per layer (graph order), output stream, totals.

    ``parallelism`` is the one ``P`` every layer was planned at, or with per-layer lanes the largest
    requested (then ``lanes_requested`` lists them per hardware layer, and ``folding`` says how an
    automatic folding chose them)."""

    graph: Graph
    parallelism: int
    family: str
    dsp_slice: str
    input: InputLayer
    in_stream: StreamPlan
    layers: tuple[LayerPlan, ...]
    buffers: tuple[BufferPlan, ...]
    out_stream: StreamPlan
    lanes_requested: tuple[tuple[str, int], ...] = ()
    folding: Folding | None = None

    @property
    def per_layer(self) -> bool:
        """Lanes were given per layer (not one ``P`` for all)."""
        return bool(self.lanes_requested)

    @property
    def parallelism_text(self) -> str:
        """How generated files name the lanes: ``"4"``, or ``"per layer (fc1 24, fc2 8, fc3 1)"``
        (the lanes each hardware layer got)."""
        if not self.per_layer:
            return str(self.parallelism)
        how = "automatic folding, " if self.folding is not None else ""
        lanes = ", ".join(f"{p.name} {p.lanes}" for p in self.hardware_layers)
        return f"per layer ({how}{lanes})"

    @property
    def output(self) -> LayerPlan | None:
        return self.layers[-1] if self.layers else None

    @property
    def output_type(self) -> FixedType:
        return self.out_stream.type

    @property
    def is_chain(self) -> bool:
        """Every hardware stage reads one buffer and every buffer has one reader (no residual block)."""
        names = [b.layer for b in self.buffers]
        return len(set(names)) == len(names) and all(len(p.in_buffers) <= 1 for p in self.layers)

    @property
    def hardware_layers(self) -> tuple[LayerPlan, ...]:
        """The layers that are hardware (aliases left out), in order."""
        return tuple(p for p in self.layers if not p.is_alias)

    def layer(self, name: str) -> LayerPlan:
        for p in self.layers:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def cost(self) -> Cost:
        """LUT/FF/DSP/BRAM36/URAM of the kernel: every stage and buffer."""
        total = self.in_stream.cost + self.out_stream.cost
        for p in self.layers:
            total = total + p.cost
        return total

    @property
    def ii(self) -> int:
        """Cycles between samples, back to back: the slowest stage (stages overlap on samples)."""
        return max([self.in_stream.cycles.ii, self.out_stream.cycles.ii, *(p.cycles.ii for p in self.layers)])

    @property
    def latency(self) -> int:
        """Cycles from a sample's first input beat to its last output beat (an ideal stream): the
        longest path through the stages (a chain: their sum; branches of a residual block overlap)."""
        done = {b.layer: self.in_stream.cycles.latency for b in self.buffers if b.layer == self.input.name}
        for p in self.layers:
            if p.is_alias:
                continue
            start = max((done.get(b.layer, 0) for b in p.in_buffers), default=0)
            done[p.name] = start + p.cycles.latency
        return done.get(self.out_stream.buffer.layer, 0) + self.out_stream.cycles.latency

    @property
    def hls_ii(self) -> int:
        return max([self.in_stream.hls_cycles, self.out_stream.hls_cycles, *(p.hls_cycles for p in self.layers)])

    @property
    def hls_latency(self) -> int:
        return self.in_stream.hls_cycles + self.out_stream.hls_cycles + sum(p.hls_cycles for p in self.layers)

    @property
    def weight_bits(self) -> int:
        return sum(p.weight_bits for p in self.layers)


def bits_for(n: int) -> int:
    """Bits of an unsigned index that takes ``n`` distinct values (at least 1)."""
    return max(1, int(n - 1).bit_length())
