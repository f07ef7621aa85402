"""``plan_design``: the one place a lowered graph becomes a hardware plan (see :mod:`fpga_flow.hw.plan`).

The design is a chain ``input -> layer -> ... -> output``::

    axis_in -> buffer 0 -> engine 1 -> buffer 1 -> ... -> engine L -> buffer L -> axis_out

Buffer 0 holds the input as the stream delivers it (element ``j`` in bank ``j % per_beat`` at
address ``j // per_beat``); the buffer after an engine holds row ``r`` in bank ``row_lane[r]`` at
``row_slot[r]``. Each buffer has as many read ports as its consumer has lanes (or the packer
elements per beat). A shape change (``alias``) reuses its input's buffer. Elements stream in
row-major order of the input's ONNX shape (NCHW) at both ends.

Feature maps: every feature-map layer (convolution, pooling, a per-channel scale, ReLU or
requantization of a map) is a ``window`` engine, which reads and writes pixel-major buffers
(:class:`~fpga_flow.hw.plan.FeatureMapLayout`): channel ``c`` of pixel ``p`` in bank ``row_lane[c]``
at ``p * slots + row_slot[c]``. When the first hardware stage is a window engine, the unpacker
writes the map one element per cycle into one bank (``p * C + c``). A dense layer after a flatten
reads the map through the buffer's (bank, address) table like any other input.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fpga_flow.boards import Board
from fpga_flow.errors import UnsupportedError
from fpga_flow.fixed import FixedType
from fpga_flow.hw.cost import dsp_slice, pack_cost, unpack_cost
from fpga_flow.hw.engines import (
    ENGINE_MODELS,
    HLS_LOOP_DEPTH,
    buffer_cost,
    pack_cycles,
    unpack_cycles,
    unpack_fm_cycles,
)
from fpga_flow.hw.plan import BufferPlan, DesignPlan, FeatureMapLayout, LayerPlan, StreamPlan, bits_for
from fpga_flow.hw.planners import plan_layer
from fpga_flow.hw.window import is_feature_map, plan_window_layer
from fpga_flow.ir import Graph, InputLayer, Layer, ReshapeLayer
from fpga_flow.stream import StreamFormat, stream_format

__all__ = ["DEFAULT_FAMILY", "check_parallelism", "plan_design"]

#: Device family assumed without a board (7-series: DSP48E1).
DEFAULT_FAMILY = "xc7"


def check_parallelism(parallelism: object) -> int:
    """``parallelism`` as a positive int, or a ValueError that says what is allowed."""
    if not isinstance(parallelism, int) or isinstance(parallelism, bool) or parallelism < 1:
        raise ValueError(f"parallelism must be a positive integer, got {parallelism!r}")
    return parallelism


def _chain(graph: Graph) -> tuple[InputLayer, list[Layer]]:
    """The graph as input -> layer -> ... -> output, or an error naming what breaks the chain."""
    graph.verify()
    first = graph.layers[0]
    if not isinstance(first, InputLayer) or len(graph.inputs) != 1:
        raise UnsupportedError("the hardware backends support graphs with exactly one input, listed first")
    if len(graph.outputs) != 1 or graph.outputs[0] != graph.layers[-1].name:
        raise UnsupportedError("the hardware backends support graphs with exactly one output, the last layer")
    prev: Layer = first
    rest: list[Layer] = []
    for lay in graph.layers[1:]:
        if lay.inputs != (prev.name,):
            raise UnsupportedError(
                f"layer {lay.label}: the hardware backends support chains only (each layer reads the one before it)"
            )
        rest.append(lay)
        prev = lay
    return first, rest


def _buffer(index: int, layer: str, t: FixedType, banks: int, bank_of: np.ndarray, addr_of: np.ndarray,
            read_ports: int, family: str, consumer: LayerPlan | None, out_fmt: StreamFormat,
            fm: FeatureMapLayout | None = None) -> BufferPlan:
    depth = int(addr_of.max()) + 1 if addr_of.size else 1
    b = BufferPlan(index, layer, t.width, banks, bits_for(depth), bits_for(banks), read_ports,
                   np.asarray(bank_of, np.int64), np.asarray(addr_of, np.int64), fm=fm)
    return replace(b, cost=buffer_cost(b, family, _bank_reads(b, consumer, out_fmt)))


def _fm_buffer(index: int, layer: str, t: FixedType, fm: FeatureMapLayout, read_ports: int, family: str,
               consumer: LayerPlan | None, out_fmt: StreamFormat) -> BufferPlan:
    bank_of, addr_of = fm.bank_addr()
    banks = int(np.max(fm.chan_bank)) + 1 if fm.channels else 1
    return _buffer(index, layer, t, banks, bank_of, addr_of, read_ports, family, consumer, out_fmt, fm)


def _check_window_input(p: LayerPlan, buf: BufferPlan) -> None:
    """A window engine reads a pixel-major map of its input's shape (another window stage, or the input)."""
    w = p.window
    assert w is not None
    fm = buf.fm
    if fm is None:
        raise UnsupportedError(
            f"layer {p.layer.label}: a feature-map stage must read the model input or another feature-map stage "
            f"(it reads the output of {buf.layer}, which is not a feature map in hardware)"
        )
    if (fm.channels, fm.height, fm.width) != w.in_shape:
        raise UnsupportedError(
            f"layer {p.layer.label}: it reads a {w.in_shape} map, but {buf.layer} holds a "
            f"{(fm.channels, fm.height, fm.width)} map (a reshape between feature maps is not supported in hardware)"
        )


def _reachable(banks_read: set[int], n_banks: int) -> int:
    """Banks a read port can select as yosys sees it: the constant bits of its ROM bank column are
    removed (``opt_mem``) and fold the select; the varying bits can take any value."""
    if not banks_read:
        return 1
    width = max(1, (n_banks - 1).bit_length())
    ones = [all((b >> i) & 1 for b in banks_read) for i in range(width)]
    zeros = [not any((b >> i) & 1 for b in banks_read) for i in range(width)]
    return sum(1 for b in range(n_banks)
               if all(not (ones[i] and not (b >> i) & 1) and not (zeros[i] and (b >> i) & 1) for i in range(width)))


def _bank_reads(buf: BufferPlan, consumer: LayerPlan | None, out_fmt: StreamFormat) -> int:
    """(read port, bank) pairs of ``buf`` that its consumer (an engine, or the packer) may select:
    the bank copies the Verilog keeps (``ff_act_mem`` has one per pair; yosys drops the others)."""
    per_port: list[set[int]] = []
    if consumer is None:  # the packer: port k reads element b * per_beat + k of every beat b
        n = buf.n_elems
        for k in range(out_fmt.per_beat):
            elems = [b * out_fmt.per_beat + k for b in range(out_fmt.beats)]
            banks = {int(buf.bank_of[e]) for e in elems if e < n}
            per_port.append(banks | ({0} if any(e >= n for e in elems) else set()))  # invalid slots read 0
    elif consumer.engine == "window" and consumer.window is not None:
        kk = consumer.window.kernel[0] * consumer.window.kernel[1]
        col = consumer.arrays["col"]
        fm = buf.fm
        if fm is None or fm.channels * kk != consumer.window.taps:  # refused by _check_window_input
            return consumer.lanes
        per_port = [{int(fm.chan_bank[int(c) // kk]) for c in col[lane]} for lane in range(col.shape[0])]
    elif consumer.engine == "pointwise":  # lane l reads the elements of its rows
        per_port = [{int(buf.bank_of[r]) for r in rows} for rows in consumer.schedule.lane_rows]
    else:
        s = consumer.schedule
        col = consumer.arrays["col"]
        for lane, n_l in enumerate(s.lane_entries):
            banks = {int(buf.bank_of[c]) for c in col[lane, :n_l]}
            per_port.append(banks | ({0} if n_l < s.entries else set()))  # padding entries are zero words
    return sum(_reachable(b, buf.banks) for b in per_port)


def plan_design(graph: Graph, parallelism: int = 1, board: Board | None = None) -> DesignPlan:
    """Plan every layer of ``graph`` (a lowered chain) at ``parallelism`` lanes for ``board``."""
    p_lanes = check_parallelism(parallelism)
    family = board.yosys_family if board is not None else DEFAULT_FAMILY
    inp, rest = _chain(graph)
    plans: list[LayerPlan] = []
    in_type = inp.out_type
    in_shape = tuple(inp.shape)
    in_banks: np.ndarray | None = None  # the bank of each channel of the map a window engine wrote
    for lay in rest:
        if is_feature_map(lay) and not isinstance(lay, ReshapeLayer):
            plans.append(plan_window_layer(lay, in_type, in_shape, p_lanes, in_banks))
        else:
            plans.append(plan_layer(lay, in_type, p_lanes))
        if plans[-1].window is not None:
            in_banks = plans[-1].schedule.row_lane
        elif not plans[-1].is_alias:
            in_banks = None
        in_type = lay.out_type
        in_shape = tuple(lay.shape)
    hw = [p for p in plans if not p.is_alias]
    out_layer = rest[-1] if rest else inp
    in_fmt = stream_format(inp.out_type.width, inp.out_type.signed, inp.size)
    out_fmt = stream_format(out_layer.out_type.width, out_layer.out_type.signed, out_layer.size)
    # read ports of each buffer: the lanes of the next hardware stage, or the packer's elements per beat
    ports = [p.lanes for p in hw] + [out_fmt.per_beat]
    first_hw = hw[0] if hw else None
    if first_hw is not None and first_hw.window is not None:  # the serial unpacker: one bank, p * C + c
        c, h, w = first_hw.window.in_shape
        fm0 = FeatureMapLayout(c, h, w, c, np.zeros(c, np.int64), np.arange(c, dtype=np.int64))
        buf = _fm_buffer(0, inp.name, inp.out_type, fm0, ports[0], family, first_hw, out_fmt)
    else:
        j = np.arange(inp.size, dtype=np.int64)
        buf = _buffer(0, inp.name, inp.out_type, in_fmt.per_beat, j % in_fmt.per_beat, j // in_fmt.per_beat,
                      ports[0], family, first_hw, out_fmt)
    buffers = [buf]
    done: list[LayerPlan] = []
    k = 0
    for p in plans:
        if p.is_alias:
            done.append(replace(p, in_buffer=buf, out_buffer=buf))
            continue
        k += 1
        s = p.schedule
        consumer = hw[k] if k < len(hw) else None
        if p.window is not None:
            _check_window_input(p, buf)
            c, h, w = p.window.out_shape
            fm = FeatureMapLayout(c, h, w, s.slots, s.row_lane.copy(), s.row_slot.copy())
            out = _fm_buffer(k, p.name, p.layer.out_type, fm, ports[k], family, consumer, out_fmt)
        else:
            out = _buffer(k, p.name, p.layer.out_type, s.lanes, s.row_lane, s.row_slot, ports[k], family,
                          consumer, out_fmt)
        p = replace(p, in_buffer=buf, out_buffer=out)
        model = ENGINE_MODELS.get(p.engine)
        if model is None:
            raise UnsupportedError(f"layer {p.layer.label}: engine '{p.engine}' has no cycle/cost model")
        p = replace(p, cycles=model.cycles(p), hls_cycles=model.hls_cycles(p), cost=model.cost(p, family) + out.cost)
        done.append(p)
        buffers.append(out)
        buf = out
    in_stream = StreamPlan(
        "axis_in", in_fmt, inp.out_type, buffers[0],
        unpack_fm_cycles(in_fmt.n_elems) if buffers[0].fm is not None else unpack_cycles(in_fmt.beats),
        in_fmt.n_elems + HLS_LOOP_DEPTH,
        unpack_cost(width=in_fmt.width, per_beat=in_fmt.per_beat, beats=in_fmt.beats, tdata_bits=in_fmt.tdata_bits,
                    addr_bits=buffers[0].addr_bits, family=family) + buffers[0].cost,
    )  # fmt: skip
    last = buffers[-1]
    out_stream = StreamPlan(
        "axis_out", out_fmt, out_layer.out_type, last, pack_cycles(out_fmt.beats), out_fmt.n_elems + HLS_LOOP_DEPTH,
        pack_cost(width=out_fmt.width, per_beat=out_fmt.per_beat, beats=out_fmt.beats, tdata_bits=out_fmt.tdata_bits,
                  addr_bits=last.addr_bits, bank_bits=last.bank_bits, beat_addr_bits=bits_for(out_fmt.beats),
                  family=family, n_elems=out_fmt.n_elems),
    )  # fmt: skip
    return DesignPlan(graph, p_lanes, family, dsp_slice(family), inp, in_stream, tuple(done), tuple(buffers),
                      out_stream)
