"""The hardware plan of a graph: which library block does what, with which parameters and ROMs.

A linear chain ``InputLayer -> layer -> ... -> output`` becomes

``ff_axis_unpack -> buffer 0 -> engine 1 -> buffer 1 -> ... -> engine L -> buffer L -> ff_axis_pack``

Every buffer is an ``ff_act_mem`` (ping-pong, banked); every non-input layer is an
``ff_sparse_mac`` engine. Dense, CSR and codebook layers are CSR walks (dense storage stores every
weight); ``ReluLayer`` and ``QuantizeLayer`` are the same engine walking an identity matrix (one
weight 1 per row), so their ReLU/requantize is the engine's ``ff_requant``.

Element locations: the unpacker puts element ``j`` in bank ``j % per_beat`` at address
``j // per_beat``; an engine puts output row ``j`` in bank ``lane(j)`` at the row's ordinal within
its lane. The consumer's ROM stores those (bank, address) pairs, so no hardware ever divides.

This module is pure data: no files, no templates (see :mod:`.emit`).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from fpga_flow.fixed import FixedType
from fpga_flow.ir import (
    Activation,
    CodebookCsrWeights,
    CsrWeights,
    DenseLayer,
    DenseWeights,
    Graph,
    InputLayer,
    Layer,
    QuantizeLayer,
    ReluLayer,
)
from fpga_flow.names import NameTable
from fpga_flow.stream import StreamFormat, stream_format

from .spelling import OVF_CODE, RND_CODE, clog2

__all__ = [
    "ENGINE_DRAIN",
    "BufferPlan",
    "EnginePlan",
    "PackPlan",
    "RtlPlan",
    "RtlPlanError",
    "UnpackPlan",
    "deal_rows",
    "make_buffer",
    "plan_engine",
    "plan_rtl",
]

#: Cycles from an engine's last ROM entry to its last output write (ff_mac_lane pipeline).
ENGINE_DRAIN = 5


class RtlPlanError(ValueError):
    """The graph cannot be mapped onto the Verilog library (the message says what to change)."""


@dataclass(frozen=True, eq=False)
class BufferPlan:
    """One ``ff_act_mem``: where each element of a layer's output lives."""

    ident: str
    layer: str
    width: int
    banks: int
    aw: int
    bw: int
    rd_ports: int
    bank_of: np.ndarray
    addr_of: np.ndarray

    @property
    def n_elems(self) -> int:
        return int(self.bank_of.size)


@dataclass(frozen=True, eq=False)
class UnpackPlan:
    """``ff_axis_unpack``: the input stream into buffer 0."""

    stream: StreamFormat
    buffer: BufferPlan


@dataclass(frozen=True, eq=False)
class EnginePlan:
    """One ``ff_sparse_mac`` instance and its ROM."""

    index: int
    ident: str
    layer: str
    op: str
    storage: str
    lanes: int
    entries: int
    params: dict[str, int]
    rom_words: list[int]
    rom_width: int
    codebook_literal: str | None
    in_buf: BufferPlan
    out_buf: BufferPlan
    lane_entries: tuple[int, ...] = field(default=())

    @property
    def rom_file(self) -> str:
        return f"{self.ident}.mem"

    @property
    def cycles(self) -> int:
        """Cycles per sample: start + one ROM word per cycle + pipeline drain."""
        return 1 + self.entries + ENGINE_DRAIN


@dataclass(frozen=True, eq=False)
class PackPlan:
    """``ff_axis_pack``: the last buffer out as a stream."""

    stream: StreamFormat
    buffer: BufferPlan
    rom_words: list[int]
    rom_width: int
    beat_aw: int
    rom_file: str = "out_pack.mem"


@dataclass(frozen=True, eq=False)
class RtlPlan:
    """Everything the top template instantiates."""

    graph_name: str
    in_type: FixedType
    out_type: FixedType
    unpack: UnpackPlan
    engines: tuple[EnginePlan, ...]
    pack: PackPlan
    buffers: tuple[BufferPlan, ...]
    parallelism: int


# --------------------------------------------------------------------------- lanes
def deal_rows(costs: np.ndarray | list[int], lanes: int) -> list[list[int]]:
    """Deal rows to ``lanes`` lanes balanced by cost (entries per row), largest first (LPT).

    Ties go to the lowest lane, so equal costs are dealt round-robin. Each lane's rows come back
    in ascending row order (the order the lane computes and stores them)."""
    costs = [int(c) for c in costs]
    order = sorted(range(len(costs)), key=lambda r: (-costs[r], r))
    heap = [(0, lane) for lane in range(lanes)]
    out: list[list[int]] = [[] for _ in range(lanes)]
    for r in order:
        load, lane = heapq.heappop(heap)
        out[lane].append(r)
        heapq.heappush(heap, (load + costs[r], lane))
    return [sorted(rows) for rows in out]


def _chain(graph: Graph) -> list[Layer]:
    """The graph as a linear chain from its one input to its one output, or a clear error."""
    ins = graph.inputs
    if len(ins) != 1 or len(graph.outputs) != 1:
        raise RtlPlanError(
            f"the Verilog backend handles one input and one output; graph {graph.name!r} has "
            f"{len(ins)} inputs and {len(graph.outputs)} outputs"
        )
    if not isinstance(graph.layers[0], InputLayer):
        raise RtlPlanError("the first layer must be the input layer")
    chain = [graph.layers[0]]
    for lay in graph.layers[1:]:
        if lay.inputs != (chain[-1].name,):
            raise RtlPlanError(
                f"layer {lay.origin or lay.name} ({lay.op}) does not consume the layer before it; "
                "the Verilog backend handles a linear chain of layers only"
            )
        if not isinstance(lay, DenseLayer | ReluLayer | QuantizeLayer):
            raise RtlPlanError(
                f"layer {lay.origin or lay.name}: op {lay.op!r} has no Verilog block; supported: "
                "input, dense (dense/csr/codebook_csr weights), relu, quantize"
            )
        chain.append(lay)
    if graph.outputs[0] != chain[-1].name:
        raise RtlPlanError(f"graph output {graph.outputs[0]!r} must be the last layer of the chain")
    return chain


# --------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class _Rows:
    """A layer as CSR rows of entries: columns, weight fields and biases (raw bit patterns)."""

    cols: list[np.ndarray]
    wfield: list[np.ndarray]
    bias: np.ndarray
    wf: int
    w_w: int
    w_signed: bool
    w_frac: int
    bias_w: int
    b_signed: bool
    b_frac: int
    cb_bits: int = 0
    codebook: np.ndarray | None = None


def _mask(v: np.ndarray | int, width: int) -> np.ndarray:
    return np.asarray(v, dtype=np.int64) & ((1 << width) - 1)


def _dense_rows(lay: DenseLayer) -> _Rows:
    w = lay.weights
    wt, bt = lay.weight_type, lay.bias_type
    n_out, n_in = lay.n_out, lay.n_in
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    cb_bits = 0
    codebook = None
    if isinstance(w, DenseWeights):
        for j in range(n_out):
            cols.append(np.arange(n_in, dtype=np.int64))
            vals.append(_mask(w.values[j], wt.width))
        wf = wt.width
    elif isinstance(w, CsrWeights):
        rp = w.row_ptr
        for j in range(n_out):
            c = w.col_idx[rp[j] : rp[j + 1]]
            v = w.values[rp[j] : rp[j + 1]]
            if c.size == 0:  # empty row: one zero-weight entry, the output is the bias
                c, v = np.zeros(1, np.int64), np.zeros(1, np.int64)
            cols.append(np.asarray(c, np.int64))
            vals.append(_mask(v, wt.width))
        wf = wt.width
    elif isinstance(w, CodebookCsrWeights):
        rp = w.row_ptr
        cb = np.asarray(w.codebook, np.int64)
        n = int(cb.size)
        cb_bits = clog2(n)
        zero_code = next((i for i in range(n) if cb[i] == 0), None)
        empty = any(rp[j] == rp[j + 1] for j in range(n_out))
        if empty and zero_code is None:
            zero_code = n  # a padding entry (always 0) serves empty rows
            if n == (1 << cb_bits):
                cb_bits += 1
        codebook = np.zeros(1 << cb_bits, np.int64)
        codebook[:n] = cb
        for j in range(n_out):
            c = w.col_idx[rp[j] : rp[j + 1]]
            k = w.codes[rp[j] : rp[j + 1]]
            if c.size == 0:
                c, k = np.zeros(1, np.int64), np.full(1, zero_code, np.int64)
            cols.append(np.asarray(c, np.int64))
            vals.append(np.asarray(k, np.int64))
        wf = cb_bits
    else:  # pragma: no cover - WeightStorage is closed
        raise RtlPlanError(f"layer {lay.name}: unknown weight storage {type(w).__name__}")
    return _Rows(
        cols, vals, _mask(lay.bias, bt.width), wf, wt.width, wt.signed, wt.frac,
        bt.width, bt.signed, bt.frac, cb_bits, codebook,
    )


def _identity_rows(n: int) -> _Rows:
    """Relu/Quantize as an engine: row j = 1 * x_j (weight ap_fixed<2,2> = 1, no bias)."""
    cols = [np.array([j], np.int64) for j in range(n)]
    ones = [np.array([1], np.int64) for _ in range(n)]
    return _Rows(cols, ones, np.zeros(n, np.int64), 2, 2, True, 0, 1, False, 0)


# --------------------------------------------------------------------------- planning
def make_buffer(
    ident: str, layer: str, width: int, banks: int, bank_of: np.ndarray, addr_of: np.ndarray, rd_ports: int
) -> BufferPlan:
    """A buffer whose element ``j`` lives in bank ``bank_of[j]`` at address ``addr_of[j]``."""
    depth = int(addr_of.max()) + 1 if addr_of.size else 1
    return BufferPlan(ident, layer, width, banks, clog2(depth), clog2(banks), rd_ports, bank_of, addr_of)


def _lanes(lay: Layer, parallelism: int) -> int:
    return max(1, min(int(parallelism), lay.size))


def plan_engine(
    index: int, ident: str, lay: Layer, in_type: FixedType, in_buf: BufferPlan, parallelism: int, out_ident: str,
    out_ports: int,
) -> EnginePlan:
    """The ``ff_sparse_mac`` of one layer reading ``in_buf``; its output buffer gets ``out_ports`` read ports."""
    n_out = lay.size
    out_t = lay.out_type
    if isinstance(lay, DenseLayer):
        rows = _dense_rows(lay)
        acc = lay.acc_type
        if not acc.signed:
            raise RtlPlanError(f"layer {lay.origin or lay.name}: the accumulator type {acc} must be signed")
        relu = lay.activation is Activation.RELU
        w_acc, acc_frac = acc.width, acc.frac
        op = "dense"
        storage = lay.weights.kind
    else:
        rows = _identity_rows(n_out)
        # exact accumulator for 1 * x: x's width (+1 for an unsigned x), x's binary point
        w_acc, acc_frac = in_type.width + (0 if in_type.signed else 1), in_type.frac
        w_acc = max(w_acc, 2)
        relu = isinstance(lay, ReluLayer)
        op = lay.op
        storage = "identity"
    shift_p = acc_frac - (rows.w_frac + in_type.frac)
    shift_b = acc_frac - rows.b_frac
    if shift_p < 0 or shift_b < 0:
        raise RtlPlanError(
            f"layer {lay.origin or lay.name}: the accumulator drops product or bias bits; run graph.verify()"
        )

    lanes = _lanes(lay, parallelism)
    costs = [c.size for c in rows.cols]
    dealt = deal_rows(costs, lanes)
    lane_entries = tuple(sum(costs[r] for r in rows_l) for rows_l in dealt)
    entries = max(max(lane_entries), 1)

    aw_in, bw_in = in_buf.aw, in_buf.bw
    f_addr = rows.wf
    f_bank = f_addr + aw_in
    f_bias = f_bank + bw_in
    f_first = f_bias + rows.bias_w
    entry_w = f_first + 3
    words = [0] * entries
    bank_of = np.zeros(n_out, np.int64)
    addr_of = np.zeros(n_out, np.int64)
    for lane, rows_l in enumerate(dealt):
        k = 0
        shift = lane * entry_w
        for ordinal, r in enumerate(rows_l):
            bank_of[r], addr_of[r] = lane, ordinal
            cols, wv = rows.cols[r], rows.wfield[r]
            last_i = cols.size - 1
            for i in range(cols.size):
                c = int(cols[i])
                e = int(wv[i]) | (int(in_buf.addr_of[c]) << f_addr) | (int(in_buf.bank_of[c]) << f_bank)
                if i == 0:
                    e |= (int(rows.bias[r]) << f_bias) | (1 << f_first)
                if i == last_i:
                    e |= 1 << (f_first + 1)
                e |= 1 << (f_first + 2)
                words[k] |= e << shift
                k += 1
    out_buf = make_buffer(out_ident, lay.name, out_t.width, lanes, bank_of, addr_of, out_ports)

    params = {
        "P": lanes,
        "ENTRIES": entries,
        "EAW": clog2(entries),
        "W_X": in_type.width,
        "X_SIGNED": int(in_type.signed),
        "WF": rows.wf,
        "W_W": rows.w_w,
        "W_SIGNED": int(rows.w_signed),
        "CB": int(rows.codebook is not None),
        "CB_BITS": max(rows.cb_bits, 1),
        "BIAS_W": rows.bias_w,
        "B_SIGNED": int(rows.b_signed),
        "W_ACC": w_acc,
        "SHIFT_P": shift_p,
        "SHIFT_B": shift_b,
        "AW_IN": aw_in,
        "BW_IN": bw_in,
        "W_OUT": out_t.width,
        "OUT_SIGNED": int(out_t.signed),
        "RQ_SHIFT": acc_frac - out_t.frac,
        "RND": RND_CODE[out_t.rounding],
        "OVF": OVF_CODE[out_t.overflow],
        "RELU": int(relu),
        "AW_OUT": out_buf.aw,
    }
    literal = None
    if rows.codebook is not None:
        bits = rows.w_w << rows.cb_bits
        packed = 0
        for i, v in enumerate(rows.codebook):
            packed |= (int(v) & ((1 << rows.w_w) - 1)) << (i * rows.w_w)
        literal = f"{bits}'h{packed:0{(bits + 3) // 4}x}"
    return EnginePlan(
        index=index, ident=ident, layer=lay.name, op=op, storage=storage, lanes=lanes, entries=entries,
        params=params, rom_words=words, rom_width=lanes * entry_w, codebook_literal=literal,
        in_buf=in_buf, out_buf=out_buf, lane_entries=lane_entries,
    )


def plan_rtl(graph: Graph, parallelism: int = 1) -> RtlPlan:
    """Map a verified graph onto the Verilog library with ``parallelism`` lanes per layer."""
    if int(parallelism) < 1:
        raise RtlPlanError(f"parallelism must be at least 1, got {parallelism}")
    graph.verify()
    chain = _chain(graph)
    names = NameTable()
    inp = chain[0]
    in_t = inp.out_type
    out_t = chain[-1].out_type
    in_stream = stream_format(in_t.width, in_t.signed, inp.size)
    out_stream = stream_format(out_t.width, out_t.signed, chain[-1].size)
    # read ports of the buffer after chain[i]: the lanes of its consumer, or the packer's elements per beat
    ports = [_lanes(lay, parallelism) for lay in chain[1:]] + [out_stream.per_beat]
    j = np.arange(inp.size, dtype=np.int64)
    buf = make_buffer("b0", inp.name, in_t.width, in_stream.per_beat, j % in_stream.per_beat,
                  j // in_stream.per_beat, ports[0])
    buffers = [buf]
    engines: list[EnginePlan] = []
    prev_type = in_t
    for i, lay in enumerate(chain[1:], start=1):
        ident = f"l{i}_{names.add(lay.name, prefix='layer')}"
        eng = plan_engine(i, ident, lay, prev_type, buf, parallelism, f"b{i}", ports[i])
        engines.append(eng)
        buf = eng.out_buf
        buffers.append(buf)
        prev_type = lay.out_type
    last = buf
    ew = 1 + last.bw + last.aw
    words = []
    for b in range(out_stream.beats):
        word = 0
        for k in range(out_stream.per_beat):
            e = b * out_stream.per_beat + k
            if e < last.n_elems:
                loc = (1 << (last.aw + last.bw)) | (int(last.bank_of[e]) << last.aw) | int(last.addr_of[e])
                word |= loc << (k * ew)
        words.append(word)
    pack = PackPlan(out_stream, last, words, out_stream.per_beat * ew, clog2(out_stream.beats))
    return RtlPlan(
        graph_name=graph.name, in_type=in_t, out_type=out_t,
        unpack=UnpackPlan(in_stream, buffers[0]), engines=tuple(engines), pack=pack,
        buffers=tuple(buffers), parallelism=int(parallelism),
    )
