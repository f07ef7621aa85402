"""The HLS build plan: per layer, the kernel, lane layout and every ROM array, as plain data.

A plan is a pure function of the graph and the parallelism. The render contexts
(:mod:`fpga_flow.backends.hls.context`) and the estimates (:mod:`fpga_flow.backends.hls.estimate`)
both read it, so the numbers in the report are those of the arrays actually written.

Lane layout of the sparse kernels (``csr``, ``codebook``, ``codebook_factored``): rows with
nonzeros are dealt to ``L`` lanes (:func:`~fpga_flow.backends.hls.kernels.assign_rows`); lane ``l``
stores its rows' nonzeros back to back in ``col[l][t]`` (column), ``w[l][t]`` (weight mantissa) or
``code[l][t]`` (codebook index) and ``last[l][t]`` (1 on a row's final nonzero), padded with
zero weights up to the longest lane (``lane_len``). Row ``r``'s result sits in slot
``row_slot[r]`` of lane ``row_lane[r]``; ``row_slot[r] == slots`` marks a row without nonzeros.
The dense kernel deals row ``r`` to lane ``r % L``, slot ``r // L`` and stores all its weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fpga_flow.analysis.storage import bits_for
from fpga_flow.errors import UnsupportedError
from fpga_flow.fixed import FixedType
from fpga_flow.ir import (
    CodebookCsrWeights,
    DenseLayer,
    DenseWeights,
    Graph,
    InputLayer,
    Layer,
    QuantizeLayer,
    ReluLayer,
)
from fpga_flow.stream import StreamFormat, stream_format

from .kernels import KernelChoice, assign_rows, choose_kernel, row_nnz

__all__ = ["ElementwisePlan", "GraphPlan", "MacPlan", "Rom", "plan_graph"]

#: Widest mantissa a C++ double literal carries exactly.
MAX_LITERAL_BITS = 53


@dataclass(frozen=True, eq=False)
class Rom:
    """One constant array of a layer: ``values`` are integer mantissas or indices (1-D or 2-D).

    ``frac`` is the fractional bits of a fixed-point element (value ``mantissa * 2**-frac``; the
    generated ROM word is the mantissa itself); ``None`` for an unsigned index (``ap_uint<bits>``).
    """

    role: str
    bits: int
    values: np.ndarray
    frac: int | None = None

    @property
    def n_bits(self) -> int:
        """Bits stored (elements times element width)."""
        return int(self.values.size) * self.bits

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.values.shape)


@dataclass(frozen=True, eq=False)
class MacPlan:
    """A dense layer lowered to one library kernel."""

    layer: DenseLayer
    in_type: FixedType
    choice: KernelChoice
    lanes: int
    lane_len: int  # loop trip count of the MAC loop (per lane entries, padded)
    slots: int  # result slots per lane
    col_bits: int
    lane_bits: int
    slot_bits: int
    code_bits: int
    sum_type: FixedType | None  # per-codebook-entry input sums (factored kernel only)
    codebook: np.ndarray | None  # mantissas of weight_type
    roms: tuple[Rom, ...]

    @property
    def kernel(self) -> str:
        return self.choice.kernel

    @property
    def name(self) -> str:
        return self.layer.name

    def rom(self, role: str) -> Rom:
        for r in self.roms:
            if r.role == role:
                return r
        raise KeyError(role)


@dataclass(frozen=True, eq=False)
class ElementwisePlan:
    """A standalone ReLU or requantization on the stream."""

    layer: ReluLayer | QuantizeLayer
    in_type: FixedType

    @property
    def kernel(self) -> str:
        return "relu" if isinstance(self.layer, ReluLayer) else "quantize"

    @property
    def name(self) -> str:
        return self.layer.name


LayerPlan = MacPlan | ElementwisePlan


@dataclass(frozen=True, eq=False)
class GraphPlan:
    """The whole design: the input, the chain of layer plans and the two AXI4-Stream formats."""

    graph: Graph
    parallelism: int
    input: InputLayer
    layers: tuple[LayerPlan, ...]
    in_stream: StreamFormat
    out_stream: StreamFormat

    @property
    def output_type(self) -> FixedType:
        return self.layers[-1].layer.out_type if self.layers else self.input.out_type

    @property
    def output_name(self) -> str:
        return self.layers[-1].name if self.layers else self.input.name


def _chain(graph: Graph) -> tuple[InputLayer, list[Layer]]:
    """The graph as input -> layer -> ... -> output, or an error naming what breaks the chain."""
    graph.verify()
    first = graph.layers[0]
    if not isinstance(first, InputLayer) or len(graph.inputs) != 1:
        raise UnsupportedError("the HLS backend supports graphs with exactly one input, listed first")
    if len(graph.outputs) != 1 or graph.outputs[0] != graph.layers[-1].name:
        raise UnsupportedError("the HLS backend supports graphs with exactly one output, the last layer")
    prev = first
    rest: list[Layer] = []
    for lay in graph.layers[1:]:
        if lay.inputs != (prev.name,):
            raise UnsupportedError(
                f"layer {lay.origin or lay.name}: the HLS backend supports chains only "
                f"(each layer reads the one before it)"
            )
        if not isinstance(lay, DenseLayer | ReluLayer | QuantizeLayer):
            raise UnsupportedError(
                f"layer {lay.origin or lay.name}: op '{lay.op}' has no HLS kernel (supported: dense, relu, quantize)"
            )
        rest.append(lay)
        prev = lay
    return first, rest


def _check_literal(lay: DenseLayer, what: str, t: FixedType) -> None:
    if t.width > MAX_LITERAL_BITS:
        raise UnsupportedError(
            f"layer {lay.origin or lay.name}: {what} type {t.cpp()} is wider than {MAX_LITERAL_BITS} bits, "
            "which C++ literals cannot carry exactly; quantize it to fewer bits"
        )


def _factored_sum_type(layer: DenseLayer, in_type: FixedType) -> FixedType:
    """Narrowest signed type holding the sum of the inputs sharing one code within one row."""
    w = layer.weights
    assert isinstance(w, CodebookCsrWeights)
    k = int(w.codebook.size)
    rows = np.repeat(np.arange(layer.n_out, dtype=np.int64), np.diff(w.row_ptr))
    counts = np.bincount(rows * k + w.codes, minlength=layer.n_out * k) if w.nnz else np.zeros(1, np.int64)
    bound = max(1, int(counts.max())) * in_type.max_abs_mantissa
    width = max(bound.bit_length() + 1, 2)
    return FixedType(width, width - in_type.frac, True)


def _sparse_layout(layer: DenseLayer, lanes: int) -> tuple[int, int, dict[str, np.ndarray]]:
    """Lane arrays of a CSR or codebook-CSR layer (see the module docstring)."""
    w = layer.weights
    counts = row_nnz(layer)
    lane_rows = assign_rows(counts, lanes)
    lane_len = max(1, max(int(sum(int(counts[r]) for r in rows)) for rows in lane_rows))
    slots = max(1, max(len(rows) for rows in lane_rows))
    coded = isinstance(w, CodebookCsrWeights)
    entries = w.codes if coded else w.values
    col = np.zeros((lanes, lane_len), np.int64)
    val = np.zeros((lanes, lane_len), np.int64)
    last = np.zeros((lanes, lane_len), np.int64)
    row_lane = np.zeros(layer.n_out, np.int64)
    row_slot = np.full(layer.n_out, slots, np.int64)
    # padding entries (zeros) follow a lane's last row end, so their sums are never stored
    for lane, rows in enumerate(lane_rows):
        t = 0
        for slot, r in enumerate(rows):
            a, b = int(w.row_ptr[r]), int(w.row_ptr[r + 1])
            n = b - a
            col[lane, t : t + n] = w.col_idx[a:b]
            val[lane, t : t + n] = entries[a:b]
            last[lane, t + n - 1] = 1
            row_lane[r] = lane
            row_slot[r] = slot
            t += n
    arrays = {"col": col, "val": val, "last": last, "row_lane": row_lane, "row_slot": row_slot}
    return lane_len, slots, arrays


def _mac_plan(layer: DenseLayer, in_type: FixedType, parallelism: int) -> MacPlan:
    choice = choose_kernel(layer, parallelism)
    lanes = choice.lanes
    _check_literal(layer, "weight", layer.weight_type)
    _check_literal(layer, "bias", layer.bias_type)
    bias = Rom("b", layer.bias_type.width, np.asarray(layer.bias, np.int64), layer.bias_type.frac)
    wt = layer.weight_type
    if isinstance(layer.weights, DenseWeights):
        slots = -(-layer.n_out // lanes)
        padded = np.zeros((slots * lanes, layer.n_in), np.int64)
        padded[: layer.n_out] = layer.weights.values
        # row r -> lane r % L, slot r // L; lane l holds its slots' rows back to back
        per_lane = padded.reshape(slots, lanes, layer.n_in).transpose(1, 0, 2).reshape(lanes, slots * layer.n_in)
        return MacPlan(
            layer, in_type, choice, lanes, slots * layer.n_in, slots,
            col_bits=bits_for(layer.n_in), lane_bits=bits_for(lanes), slot_bits=bits_for(slots + 1), code_bits=0,
            sum_type=None, codebook=None,
            roms=(Rom("w", wt.width, per_lane, wt.frac), bias),
        )  # fmt: skip
    lane_len, slots, arr = _sparse_layout(layer, lanes)
    col_bits = bits_for(layer.n_in)
    lane_bits = bits_for(lanes)
    slot_bits = bits_for(slots + 1)
    common = (
        Rom("col", col_bits, arr["col"]),
        Rom("last", 1, arr["last"]),
        Rom("lane", lane_bits, arr["row_lane"]),
        Rom("slot", slot_bits, arr["row_slot"]),
        bias,
    )
    if isinstance(layer.weights, CodebookCsrWeights):
        book = np.asarray(layer.weights.codebook, np.int64)
        code_bits = bits_for(int(book.size))
        sum_type = _factored_sum_type(layer, in_type) if choice.kernel == "codebook_factored" else None
        return MacPlan(
            layer, in_type, choice, lanes, lane_len, slots, col_bits, lane_bits, slot_bits, code_bits,
            sum_type=sum_type, codebook=book, roms=(Rom("code", code_bits, arr["val"]), *common),
        )  # fmt: skip
    return MacPlan(
        layer, in_type, choice, lanes, lane_len, slots, col_bits, lane_bits, slot_bits, 0,
        sum_type=None, codebook=None, roms=(Rom("w", wt.width, arr["val"], wt.frac), *common),
    )  # fmt: skip


def plan_graph(graph: Graph, parallelism: int = 1) -> GraphPlan:
    """Plan every layer of ``graph`` (a chain from one input to one output) at ``parallelism`` lanes."""
    if not isinstance(parallelism, int) or isinstance(parallelism, bool) or parallelism < 1:
        raise ValueError(f"parallelism must be a positive integer, got {parallelism!r}")
    inp, rest = _chain(graph)
    plans: list[LayerPlan] = []
    in_type = inp.out_type
    for lay in rest:
        if isinstance(lay, DenseLayer):
            plans.append(_mac_plan(lay, in_type, parallelism))
        else:
            plans.append(ElementwisePlan(lay, in_type))
        in_type = lay.out_type
    out_layer = rest[-1] if rest else inp
    in_fmt = stream_format(inp.out_type.width, inp.out_type.signed, inp.size)
    out_fmt = stream_format(out_layer.out_type.width, out_layer.out_type.signed, out_layer.size)
    return GraphPlan(graph, parallelism, inp, tuple(plans), in_fmt, out_fmt)


def fixed_literal(mantissa: int, frac: int) -> str:
    """Exact C++ double literal of ``mantissa * 2**-frac`` (|mantissa| < 2**53)."""
    m = int(mantissa)
    if abs(m) >= 1 << MAX_LITERAL_BITS:
        raise ValueError(f"mantissa {m} does not fit a double exactly")
    return repr(math.ldexp(float(m), -int(frac)))
