"""First-order FPGA resource model of a lowered graph: LUT, FF, DSP, BRAM36, URAM per layer.

Read-only (contract 3) and independent of either backend, so one model feeds the fit report
whatever is built. The figures are planning numbers, not synthesis results:

* **Lanes.** A layer with ``n`` outputs runs ``min(parallelism, n)`` MAC lanes; rows are dealt
  to lanes largest-first (sparse storage) or round-robin (dense), as both backends do.
* **DSP.** One multiplier per lane, ``weight x activation`` bits (an unsigned operand takes one
  more bit in the signed DSP multiplier). A DSP48E1 (7-series, Zynq-7000) multiplies 25x18, a
  DSP48E2 (UltraScale+) 27x18; wider products tile ``ceil(a/A) * ceil(b/18)`` slices. Products
  with an operand of at most :data:`LUT_MULT_MAX_BITS` bits are built from LUTs.
* **BRAM36.** Each lane has its own weight ROM: dense ``W`` bits per weight; CSR ``W + C + 1``
  (value, column index, row-end flag); codebook CSR ``K + C + 1`` (code instead of value), with
  ``C`` column-index and ``K`` code bits. Plus bias and accumulator slots per lane, and the layer's
  input buffer (one copy for the dense kernel, whose lanes read the same input; one per two lanes
  for the sparse kernels, whose lanes read different columns through the two BRAM ports). Every
  memory takes its cheapest BRAM36/BRAM18 aspect ratio (BRAM18 = 0.5); memories of at most
  :data:`LUTRAM_MAX_BITS` bits are LUTRAM (one LUT per 64 x 1 bits) instead.
* **LUT/FF.** Per lane: the accumulator adder and register, operand and control registers, the
  requantizer (rounding add + saturation) and, for LUT multipliers, the multiplier; per layer a
  small controller; per stream the packer/unpacker.
* **URAM** is not used by this model (0); the fit report mentions it when BRAM overflows.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from fpga_flow.analysis.storage import bits_for
from fpga_flow.boards import Board
from fpga_flow.fixed import FixedType
from fpga_flow.ir import CodebookCsrWeights, DenseLayer, DenseWeights, Graph, InputLayer, Layer
from fpga_flow.stream import stream_format

__all__ = [
    "DSP_SLICES",
    "FAMILY_DSP",
    "LUTRAM_MAX_BITS",
    "LUT_MULT_MAX_BITS",
    "RESOURCES",
    "bram36_blocks",
    "dsp_per_multiplier",
    "dsp_slice_of",
    "estimate_resources",
]

#: Resource keys of every estimate row and of the totals.
RESOURCES = ("lut", "ff", "dsp", "bram36", "uram")

#: Multiplier port widths (signed bits) of each DSP slice type.
DSP_SLICES: dict[str, tuple[int, int]] = {"DSP48E1": (25, 18), "DSP48E2": (27, 18)}

#: Board family -> DSP slice type (unknown families get the narrower, more conservative DSP48E1).
FAMILY_DSP: dict[str, str] = {
    "zynq7": "DSP48E1", "artix7": "DSP48E1", "kintex7": "DSP48E1", "virtex7": "DSP48E1", "spartan7": "DSP48E1",
    "zynqmp": "DSP48E2", "alveo": "DSP48E2", "kintexu": "DSP48E2", "virtexu": "DSP48E2",
    "kintexuplus": "DSP48E2", "virtexuplus": "DSP48E2", "artixuplus": "DSP48E2",
}

#: A product with an operand of at most this many bits is built from LUTs, not a DSP.
LUT_MULT_MAX_BITS = 4
#: Memories of at most this many bits are LUTRAM / registers, not block RAM.
LUTRAM_MAX_BITS = 1024

# Per-unit LUT / FF costs of the first-order model.
_LANE_CTRL_LUT, _LANE_CTRL_FF = 40, 40  # address counter, valid/last pipeline of one lane
_LAYER_CTRL_LUT, _LAYER_CTRL_FF = 120, 150  # per-layer sequencer and handshakes
_STREAM_LUT, _STREAM_FF = 30, 20  # per-stream counters, plus TDATA-wide shift registers

_BRAM36_SHAPES = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72))
_BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


def dsp_slice_of(board: Board | None) -> str:
    """The DSP slice type of ``board`` (``"DSP48E1"`` when unknown or None)."""
    if board is None:
        return "DSP48E1"
    return FAMILY_DSP.get(board.family, "DSP48E1")


def dsp_per_multiplier(a: FixedType, b: FixedType, dsp_slice: str = "DSP48E1") -> int:
    """DSP slices of one ``a x b`` multiplier (0 when it is built from LUTs)."""
    wa = a.width + (0 if a.signed else 1)
    wb = b.width + (0 if b.signed else 1)
    if min(a.width, b.width) <= LUT_MULT_MAX_BITS:
        return 0
    pa, pb = DSP_SLICES[dsp_slice]
    return min(math.ceil(wa / pa) * math.ceil(wb / pb), math.ceil(wb / pa) * math.ceil(wa / pb))


def bram36_blocks(depth: int, width: int) -> float:
    """BRAM36 blocks of one ``depth x width`` memory (0.5 per BRAM18; 0 when it is LUTRAM)."""
    if depth <= 0 or width <= 0 or depth * width <= LUTRAM_MAX_BITS:
        return 0.0
    full = min(math.ceil(depth / d) * math.ceil(width / w) for d, w in _BRAM36_SHAPES)
    half = min(math.ceil(depth / d) * math.ceil(width / w) for d, w in _BRAM18_SHAPES)
    return float(min(full, 0.5 * half))


def _lutram_luts(depth: int, width: int) -> int:
    if depth <= 0 or width <= 0 or depth * width > LUTRAM_MAX_BITS:
        return 0
    return math.ceil(depth / 64) * width


class _Cost:
    """Accumulates one layer's resources and the memories behind its BRAM figure."""

    def __init__(self) -> None:
        self.lut = 0
        self.ff = 0
        self.dsp = 0
        self.bram36 = 0.0
        self.memories: list[dict] = []

    def memory(self, what: str, depth: int, width: int, copies: int = 1) -> None:
        if depth <= 0 or width <= 0 or copies <= 0:
            return
        blocks = bram36_blocks(depth, width) * copies
        luts = _lutram_luts(depth, width) * copies
        self.bram36 += blocks
        self.lut += luts
        self.memories.append({"what": what, "depth": int(depth), "width": int(width), "copies": int(copies),
                              "bram36": blocks, "lutram_luts": luts})


def _lane_entries(row_costs: np.ndarray, lanes: int) -> int:
    """Longest lane after dealing rows largest-first to the least-loaded lane (LPT)."""
    heap = [(0, lane) for lane in range(lanes)]
    for c in sorted((int(v) for v in row_costs), reverse=True):
        load, lane = heapq.heappop(heap)
        heapq.heappush(heap, (load + c, lane))
    return max(load for load, _ in heap)


def _dense_layer(lay: DenseLayer, in_t: FixedType, parallelism: int, dsp_slice: str) -> tuple[_Cost, dict]:
    c = _Cost()
    lanes = max(1, min(parallelism, lay.n_out))
    rows_per_lane = math.ceil(lay.n_out / lanes)
    w_t, acc_t, out_t = lay.weight_type, lay.acc_type, lay.out_type
    col_bits = bits_for(lay.n_in)
    weights = lay.weights
    if isinstance(weights, DenseWeights):
        depth = rows_per_lane * lay.n_in
        word = w_t.width
        in_copies = 1
    else:
        row_nnz = np.diff(np.asarray(weights.row_ptr, dtype=np.int64))
        depth = _lane_entries(row_nnz, lanes)
        if isinstance(weights, CodebookCsrWeights):
            entries = int(weights.codebook.size)
            word = bits_for(entries) + col_bits + 1
            c.lut += lanes * math.ceil(entries / 64) * w_t.width  # codebook decode ROM per lane
        else:
            word = w_t.width + col_bits + 1
        in_copies = math.ceil(lanes / 2)
    c.memory("weights", depth, word, lanes)
    c.memory("bias", rows_per_lane, lay.bias_type.width, lanes)
    c.memory("accumulators", rows_per_lane, acc_t.width, lanes)
    c.memory("input buffer", lay.n_in, in_t.width, in_copies)

    dsp = dsp_per_multiplier(w_t, in_t, dsp_slice)
    c.dsp += lanes * dsp
    if dsp == 0:
        c.lut += lanes * (w_t.width * in_t.width // 2 + max(w_t.width, in_t.width))
        c.ff += lanes * (w_t.width + in_t.width)
    c.lut += lanes * (acc_t.width + _LANE_CTRL_LUT + 2 * col_bits)  # accumulator adder, address
    c.ff += lanes * (acc_t.width + w_t.width + in_t.width + _LANE_CTRL_FF + col_bits)
    c.lut += lanes * (acc_t.width + 2 * out_t.width)  # requantizer: round, activation, saturate
    c.ff += lanes * out_t.width
    c.lut += _LAYER_CTRL_LUT
    c.ff += _LAYER_CTRL_FF
    detail = {"lanes": lanes, "storage": weights.kind, "weight_rom_depth": int(depth), "weight_rom_width": int(word),
              "dsp_per_lane": dsp}
    return c, detail


def _elementwise_layer(lay: Layer, in_t: FixedType, parallelism: int) -> tuple[_Cost, dict]:
    c = _Cost()
    lanes = max(1, min(parallelism, lay.size))
    c.lut += lanes * (in_t.width + 2 * lay.out_type.width) + _LAYER_CTRL_LUT // 2
    c.ff += lanes * lay.out_type.width + _LAYER_CTRL_FF // 2
    return c, {"lanes": lanes}


def _stream(n: int, t: FixedType) -> tuple[_Cost, dict]:
    fmt = stream_format(t.width, t.signed, n)
    c = _Cost()
    c.lut += _STREAM_LUT + fmt.tdata_bits
    c.ff += _STREAM_FF + 2 * fmt.tdata_bits
    return c, {"tdata_bits": fmt.tdata_bits, "beats": fmt.beats}


def estimate_resources(graph: Graph, parallelism: int = 1, board: Board | None = None) -> dict:
    """First-order LUT/FF/DSP/BRAM36/URAM of ``graph`` at ``parallelism`` MAC lanes per layer.

    ``board`` only selects the DSP slice type (DSP48E1 or DSP48E2; DSP48E1 when None). Returns::

        {"model": "first-order", "parallelism": P, "dsp_slice": "DSP48E1",
         "layers": [{"name", "origin", "op", "lut", "ff", "dsp", "bram36", "uram", "detail", "memories"}, ...],
         "totals": {"lut", "ff", "dsp", "bram36", "uram"}}

    ``layers`` also holds the stream interfaces (``op`` ``"stream"``). The format is the input of
    :func:`fpga_flow.analysis.fit.fit_report`. Deterministic and JSON-serializable.
    """
    if parallelism < 1:
        raise ValueError(f"parallelism must be at least 1, got {parallelism}")
    dsp_slice = dsp_slice_of(board)
    types: dict[str, FixedType] = {}
    rows: list[dict] = []

    def add(name: str, origin: str, op: str, cost: _Cost, detail: dict) -> None:
        rows.append({"name": name, "origin": origin, "op": op, "lut": int(cost.lut), "ff": int(cost.ff),
                     "dsp": int(cost.dsp), "bram36": float(cost.bram36), "uram": 0, "detail": detail,
                     "memories": cost.memories})

    for lay in graph.layers:
        if isinstance(lay, InputLayer):
            cost, detail = _stream(lay.size, lay.out_type)
            add("axis_in", lay.origin or lay.name, "stream", cost, detail)
        else:
            in_t = types[lay.inputs[0]]
            if isinstance(lay, DenseLayer):
                cost, detail = _dense_layer(lay, in_t, parallelism, dsp_slice)
            else:
                cost, detail = _elementwise_layer(lay, in_t, parallelism)
            add(lay.name, lay.origin or lay.name, lay.op, cost, detail)
        types[lay.name] = lay.out_type
    out = graph.output_layers[0]
    cost, detail = _stream(out.size, out.out_type)
    cost.memory("output buffer", out.size, out.out_type.width)
    add("axis_out", out.origin or out.name, "stream", cost, detail)
    totals = {k: sum(r[k] for r in rows) for k in RESOURCES}
    totals["bram36"] = float(totals["bram36"])
    return {"model": "first-order", "parallelism": int(parallelism), "dsp_slice": dsp_slice, "layers": rows,
            "totals": totals}
