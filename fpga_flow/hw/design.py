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
reads the map through the buffer's (bank, address) table like any other input. A convolution with
several lanes reads its map *shared* (:func:`shares_map`): fewer copies than lanes (``ceil(lanes /
banks)``; of a one-bank map, as few as keep the schedule short), read through a per-pixel bank
schedule (:func:`window_banking`), so its map's storage does not grow with its lanes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np

from fpga_flow.boards import Board
from fpga_flow.errors import UnsupportedError
from fpga_flow.fixed import FixedType
from fpga_flow.hw.banking import BankSchedule, schedule_banks
from fpga_flow.hw.cost import Cost, act_buffer_cost, dsp_slice, pack_cost, shared_buffer_cost, unpack_cost
from fpga_flow.hw.engines import (
    ENGINE_MODELS,
    HLS_LOOP_DEPTH,
    buffer_cost,
    pack_cycles,
    unpack_cycles,
    unpack_fm_cycles,
)
from fpga_flow.hw.plan import BufferPlan, DesignPlan, FeatureMapLayout, LayerPlan, StreamPlan, bits_for
from fpga_flow.hw.planners import plan_layer, row_nnz
from fpga_flow.hw.skipping import SKIP_ENGINES, make_skip_plan
from fpga_flow.hw.window import is_feature_map, plan_window_layer, tap_sources
from fpga_flow.ir import Conv2dLayer, Graph, InputLayer, Layer, ReshapeLayer
from fpga_flow.stream import StreamFormat, stream_format

__all__ = ["DEFAULT_FAMILY", "SHARED_READERS", "Parallelism", "check_parallelism", "check_per_layer", "plan_design",
           "plan_stage", "shares_input", "shares_map", "window_banking"]

#: Lanes of a design: one ``P`` for every layer, or a layer name -> lanes mapping (layers left out
#: get 1 lane; see :func:`plan_design`).
Parallelism = int | Mapping[str, int]

#: Device family assumed without a board (7-series: DSP48E1).
DEFAULT_FAMILY = "xc7"
#: Engines whose lanes read their input from a shared buffer through a bank schedule
#: (:mod:`fpga_flow.hw.banking`) when they have several lanes.
SHARED_READERS = ("dense", "csr", "codebook", "codebook_factored")
#: ROM bits that weigh as much as one LUT when the input banking is chosen (a BRAM36 holds 36 kbit
#: and the PYNQ-Z2 has about 350 LUTs per BRAM36).
ROM_BITS_PER_LUT = 100


def check_parallelism(parallelism: object) -> int:
    """``parallelism`` as a positive int, or a ValueError that says what is allowed."""
    if not isinstance(parallelism, int) or isinstance(parallelism, bool) or parallelism < 1:
        raise ValueError(f"parallelism must be a positive integer, got {parallelism!r}")
    return parallelism


def check_per_layer(graph: Graph, lanes: Mapping[str, int]) -> dict[str, int]:
    """``lanes`` (layer name -> lanes) checked against ``graph``: every name a layer, every value a
    positive int; a ValueError says which is wrong."""
    names = {lay.name for lay in graph.layers}
    unknown = sorted(n for n in lanes if n not in names)
    if unknown:
        raise ValueError(f"lanes given for unknown layer(s) {', '.join(map(repr, unknown))}; "
                         f"the layers are {', '.join(lay.name for lay in graph.layers[1:])}")
    out: dict[str, int] = {}
    for n, v in lanes.items():
        try:
            out[n] = check_parallelism(v)
        except ValueError:
            raise ValueError(f"lanes of layer {n!r} must be a positive integer, got {v!r}") from None
    return out


def _topology(graph: Graph) -> tuple[InputLayer, list[Layer]]:
    """The graph's one input (listed first) and the other layers in graph (topological) order; the
    one output must be the last layer. Layers may read several producers (a residual ``Add``)."""
    graph.verify()
    first = graph.layers[0]
    if not isinstance(first, InputLayer) or len(graph.inputs) != 1:
        raise UnsupportedError("the hardware backends support graphs with exactly one input, listed first")
    if len(graph.outputs) != 1 or graph.outputs[0] != graph.layers[-1].name:
        raise UnsupportedError("the hardware backends support graphs with exactly one output, the last layer")
    return first, list(graph.layers[1:])


def shares_input(consumer: LayerPlan | None) -> bool:
    """``consumer`` reads its input from a shared buffer: a MAC engine (:data:`SHARED_READERS`) of
    one vector with several lanes."""
    return (consumer is not None and consumer.window is None and consumer.engine in SHARED_READERS
            and consumer.lanes > 1 and len(consumer.layer.inputs) == 1 and not consumer.skipping)


def shares_map(consumer: LayerPlan | None) -> bool:
    """``consumer`` reads its feature map through a bank schedule: a convolution with several lanes
    (its lanes walk taps of many input channels; with per-port copies every lane would hold the
    whole map). Pooling, ReLU and scale stages read each channel in its own bank already."""
    return (consumer is not None and consumer.window is not None and isinstance(consumer.layer, Conv2dLayer)
            and consumer.lanes > 1 and len(consumer.layer.inputs) == 1)


#: A convolution computing several output pixels per step (``pixel_phases``) shares copies of a
#: one-bank map (the model input) by phase when its bank schedule then takes at most this many times
#: the cycles of its longest lane: each copy opens the taps its phase needs (a 5x5 kernel's 25, against
#: a longest row of 20 nonzero taps), where one copy per lane would hold the map once per lane. Any
#: other convolution shares a one-bank map only when that costs no cycle (see :func:`_map_groups`).
SHARED_MAP_SLACK = 1.25


def _map_groups(consumer: LayerPlan, fm: FeatureMapLayout, banks: int) -> tuple[int, tuple[int, ...]]:
    """Copies of a ``banks``-bank map a sharing convolution reads (0: one per lane), and the copy of
    each lane (empty: runs of lanes, :func:`~fpga_flow.hw.banking.group_lanes`).

    With several banks: enough copies that no copy serves more lanes than it has banks. With one bank
    every copy opens one address per cycle, shared by the lanes of its copy that need that tap, so
    lanes that need the same taps share a copy (:func:`_tap_groups`): the
    fewest copies (powers of two) whose schedule stays within the longest lane's walk (within
    :data:`SHARED_MAP_SLACK` of it for a convolution computing several pixel phases), or one per lane
    when none does."""
    if banks > 1:
        return -(-consumer.lanes // banks), ()
    lay = consumer.layer
    phased = isinstance(lay, Conv2dLayer) and lay.pixel_phases != (1, 1)
    walk = max(_walks(consumer)[0]) * (SHARED_MAP_SLACK if phased else 1.0)
    g = 1
    while g < consumer.lanes:
        pg = _tap_groups(consumer, g)
        if _map_schedule(consumer, fm, g, pg).cycles <= walk:
            return g, pg
        g *= 2
    return 0, ()


def _tap_groups(p: LayerPlan, groups: int) -> tuple[int, ...]:
    """The copy of each lane of convolution ``p`` when ``groups`` copies of its one-bank map serve
    its lanes: each copy opens one tap per cycle, which all its lanes needing it take, so lanes that
    need the same taps should share a copy. A convolution computing several output pixels per step
    (:mod:`fpga_flow.passes.pixels`, ``pixel_phases``) puts the lanes of one pixel phase (the phase of
    their first row) in the same copies, phase after phase; any other keeps runs of
    ``ceil(lanes / groups)`` lanes (:func:`~fpga_flow.hw.banking.group_lanes`)."""
    lay = p.layer
    phases = lay.pixel_phases[0] * lay.pixel_phases[1] if isinstance(lay, Conv2dLayer) else 1
    if phases == 1:
        return ()
    first = [rows[0] % phases if rows else 0 for rows in p.schedule.lane_rows]
    order = sorted(range(p.lanes), key=lambda q: (first[q], q))
    per = -(-p.lanes // max(1, min(groups, p.lanes)))
    out = [0] * p.lanes
    for rank, q in enumerate(order):
        out[q] = rank // per
    return tuple(out)


def _groups_for(consumer: LayerPlan | None, banks: int) -> int:
    """Copies of a buffer whose ``banks`` its writer fixes, for a sharing MAC ``consumer`` (0:
    per-port copies): enough that no copy serves more lanes than it has banks."""
    if consumer is None or not shares_input(consumer):
        return 0
    return -(-consumer.lanes // max(1, banks))


def _input_banking(consumer: LayerPlan, n: int, per_beat: int, width: int, family: str) -> tuple[int, int]:
    """``(groups, banks)`` of the input buffer a sharing ``consumer`` reads: ``groups`` copies of
    ``banks`` banks (a multiple of the elements per beat, at least the lanes per copy), the choice
    with the fewest LUTs (the copies' memories and selects, plus the ROM's per-bank addresses at
    :data:`ROM_BITS_PER_LUT`); ``(0, per_beat)`` when per-lane copies of the stream's banks cost less."""
    lanes, entries = consumer.lanes, consumer.entries
    beats = -(-n // per_beat)
    aw0 = bits_for(beats)
    best = (act_buffer_cost(width=width, banks=per_beat, addr_bits=aw0, read_ports=lanes, family=family).lut
            + lanes * aw0 * entries / ROM_BITS_PER_LUT, 0, per_beat)
    g = 1
    while g < lanes:
        per_copy = -(-lanes // g)
        banks = min(per_beat * -(-per_copy // per_beat), per_beat * beats)
        aw = bits_for(-(-n // banks))
        lut = (shared_buffer_cost(width=width, banks=banks, addr_bits=aw, groups=g, read_ports=lanes,
                                  family=family).lut + g * banks * aw * entries / ROM_BITS_PER_LUT)
        if lut < best[0]:
            best = (lut, g, banks)
        g *= 2
    return best[1], best[2]


def _buffer(index: int, layer: str, t: FixedType, banks: int, bank_of: np.ndarray, addr_of: np.ndarray,
            read_ports: int, family: str, consumer: LayerPlan | None, out_fmt: StreamFormat,
            fm: FeatureMapLayout | None = None, source: int = 0, groups: int = 0,
            port_group: tuple[int, ...] = ()) -> BufferPlan:
    depth = int(addr_of.max()) + 1 if addr_of.size else 1
    if consumer is not None and consumer.skipping:  # the scan reads every bank at one address: one copy
        read_ports, groups = banks, 1
    b = BufferPlan(index, layer, t.width, banks, bits_for(depth), bits_for(banks), read_ports,
                   np.asarray(bank_of, np.int64), np.asarray(addr_of, np.int64), fm=fm, groups=groups,
                   port_group=port_group)
    return replace(b, cost=buffer_cost(b, family, None if b.shared else _bank_reads(b, consumer, out_fmt, source)))


def _fm_buffer(index: int, layer: str, t: FixedType, fm: FeatureMapLayout, read_ports: int, family: str,
               consumer: LayerPlan | None, out_fmt: StreamFormat, source: int = 0) -> BufferPlan:
    bank_of, addr_of = fm.bank_addr()
    banks = int(np.max(fm.chan_bank)) + 1 if fm.channels else 1
    groups, port_group = _map_groups(consumer, fm, banks) if consumer is not None and shares_map(consumer) else (0, ())
    return _buffer(index, layer, t, banks, bank_of, addr_of, read_ports, family, consumer, out_fmt, fm, source,
                   groups=groups, port_group=port_group)


def _banking(p: LayerPlan, buf: BufferPlan) -> BankSchedule:
    """The bank schedule of MAC engine ``p`` on its shared input ``buf`` (:mod:`fpga_flow.hw.banking`):
    a row without stored weights (its one zero-weight entry) reads nothing."""
    walk, free = _walks(p, dummy_rows=False)
    return schedule_banks(p.arrays["col"], p.arrays["last"], walk, free, buf.bank_of, buf.addr_of, buf.banks,
                          buf.groups)


def window_banking(p: LayerPlan, buf: BufferPlan) -> BankSchedule:
    """The bank schedule of one output pixel's walk of convolution ``p`` on its shared input map
    ``buf``: tap ``(ci, ky, kx)`` lies in bank ``chan_bank[ci]`` at ``(ky * W + kx) * slots +
    chan_slot[ci]`` past the pixel's base address, which every bank of every copy adds, so two lanes
    share a bank only at one tap offset. Dummy rows and rows without nonzero taps read nothing."""
    assert buf.fm is not None
    return _map_schedule(p, buf.fm, buf.groups, buf.port_group)


def _map_schedule(p: LayerPlan, fm: FeatureMapLayout, groups: int, port_group: tuple[int, ...]) -> BankSchedule:
    """:func:`window_banking` on ``groups`` copies of map ``fm`` (``port_group``: each lane's copy)."""
    w = p.window
    assert w is not None
    key = (p.layer, p.lanes, p.schedule.lane_rows, fm.width, fm.slots, np.asarray(fm.chan_bank).tobytes(),
           np.asarray(fm.chan_slot).tobytes(), groups, port_group)
    hit = _BANKING_CACHE.get(key)
    if hit is not None:
        return hit
    if len(_BANKING_CACHE) >= BANKING_CACHE_SIZE:
        _BANKING_CACHE.clear()
    kh, kw = w.kernel
    ci, rest = np.divmod(np.arange(w.taps, dtype=np.int64), kh * kw)
    ky, kx = np.divmod(rest, kw)
    bank_of = np.asarray(fm.chan_bank, np.int64)[ci]
    addr_of = (ky * fm.width + kx) * fm.slots + np.asarray(fm.chan_slot, np.int64)[ci]
    walk, free = _walks(p)
    banks = int(np.max(fm.chan_bank)) + 1 if fm.channels else 1
    bs = schedule_banks(p.arrays["col"], p.arrays["last"], walk, free, bank_of, addr_of, banks, groups, port_group)
    _BANKING_CACHE[key] = bs
    return bs


#: Bank schedules of window engines already made (the folding plans the same stage many times).
_BANKING_CACHE: dict[tuple, BankSchedule] = {}
BANKING_CACHE_SIZE = 1024


def _walks(p: LayerPlan, dummy_rows: bool = True) -> tuple[list[int], np.ndarray]:
    """Per lane of plan ``p`` the entries of its walk (its rows, then with ``dummy_rows`` the one-entry
    dummy rows a window engine walks up to ``slots``), and which of them read nothing (dummy rows,
    the one zero-weight entry of a row without stored weights; dense storage stores every weight)."""
    s = p.schedule
    nnz = row_nnz(p.layer) if p.engine != "dense" else None  # type: ignore[arg-type]
    free = np.zeros(p.arrays["col"].shape, bool)
    walk = []
    for lane, rows in enumerate(s.lane_rows):
        t = 0
        for r in rows:
            if nnz is not None and nnz[r] == 0:
                free[lane, t] = True
            t += s.row_cost[r]
        dummies = s.slots - len(rows) if dummy_rows else 0
        free[lane, t:t + dummies] = True
        walk.append(t + dummies)
    return walk, free


def _check_window_input(p: LayerPlan, buf: BufferPlan, source: int) -> None:
    """A window engine reads a pixel-major map of its input's shape (another window stage, or the input)."""
    w = p.window
    assert w is not None
    fm = buf.fm
    shape = (w.source_channels[source], w.in_shape[1], w.in_shape[2])
    if fm is None:
        raise UnsupportedError(
            f"layer {p.layer.label}: a feature-map stage must read the model input or another feature-map stage "
            f"(it reads the output of {buf.layer}, which is not a feature map in hardware)"
        )
    if (fm.channels, fm.height, fm.width) != shape:
        raise UnsupportedError(
            f"layer {p.layer.label}: it reads a {shape} map, but {buf.layer} holds a "
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


def _bank_reads(buf: BufferPlan, consumer: LayerPlan | None, out_fmt: StreamFormat, source: int = 0) -> int:
    """(read port, bank) pairs of ``buf`` that its consumer (an engine, or the packer; ``source``: which
    of the consumer's inputs ``buf`` is) may select: the bank copies the Verilog keeps (``ff_act_mem``
    has one per pair; yosys drops the others)."""
    per_port: list[set[int]] = []
    if consumer is None:  # the packer: port k reads element b * per_beat + k of every beat b
        n = buf.n_elems
        for k in range(out_fmt.per_beat):
            elems = [b * out_fmt.per_beat + k for b in range(out_fmt.beats)]
            banks = {int(buf.bank_of[e]) for e in elems if e < n}
            per_port.append(banks | ({0} if any(e >= n for e in elems) else set()))  # invalid slots read 0
    elif consumer.engine == "window" and consumer.window is not None:
        fm = buf.fm
        w = consumer.window
        if fm is None or fm.channels != w.source_channels[source]:  # refused by _check_window_input
            return consumer.lanes
        src, ci, _, _ = tap_sources(consumer)
        per_port = [{int(fm.chan_bank[c]) for c in ci[lane][src[lane] == source]} for lane in range(ci.shape[0])]
    elif consumer.engine == "pointwise":  # lane l reads the elements of its rows
        per_port = [{int(buf.bank_of[r]) for r in rows} for rows in consumer.schedule.lane_rows]
    else:
        s = consumer.schedule
        col = consumer.arrays["col"]
        for lane, n_l in enumerate(s.lane_entries):
            banks = {int(buf.bank_of[c]) for c in col[lane, :n_l]}
            per_port.append(banks | ({0} if n_l < s.entries else set()))  # padding entries are zero words
    return sum(_reachable(b, buf.banks) for b in per_port)


def plan_stage(layer: Layer, by_name: Mapping[str, Layer], lanes: int, in_banks: np.ndarray | None = None
               ) -> LayerPlan:
    """The plan of one layer at ``lanes`` lanes, before buffers, cycles and costs are known (its
    producers looked up in ``by_name``). ``in_banks``: the bank of each input channel when a window
    engine wrote the map (a following window stage keeps them)."""
    srcs = [by_name[n] for n in layer.inputs]
    s0 = srcs[0]
    if is_feature_map(layer) and not isinstance(layer, ReshapeLayer):
        return plan_window_layer(layer, s0.out_type, tuple(s0.shape), lanes, in_banks,
                                 [tuple(s.shape) for s in srcs], [s.out_type for s in srcs])
    if len(srcs) != 1:
        raise UnsupportedError(f"layer {layer.label}: op '{layer.op}' on vectors has no hardware planner yet")
    return plan_layer(layer, s0.out_type, lanes)


def _check_skip(graph: Graph, skip: frozenset[str]) -> None:
    names = {lay.name for lay in graph.layers[1:]}
    unknown = sorted(n for n in skip if n not in names)
    if unknown:
        raise ValueError(f"activation skipping asked for unknown layer(s) {', '.join(map(repr, unknown))}; "
                         f"the layers are {', '.join(lay.name for lay in graph.layers[1:])}")


def plan_design(graph: Graph, parallelism: Parallelism = 1, board: Board | None = None, *,
                rom_block: frozenset[str] = frozenset(), skip: frozenset[str] = frozenset(),
                skip_bcast: int | None = None) -> DesignPlan:
    """Plan every layer of ``graph`` (lowered; one input, one output) for ``board``.

    ``parallelism`` is the lanes a layer may use: one ``P`` for every layer, or a mapping from layer
    name to lanes (a layer left out gets 1; :mod:`fpga_flow.hw.folding` chooses one). A layer never
    gets more lanes than it has rows (channels) with work.

    Each hardware layer writes one buffer per consumer (a residual block's input feeds two); a shape
    change (``alias``) adds no buffer: its consumers read its source's. The MAC layers named in
    ``rom_block`` keep their ROM in block RAM (:attr:`~fpga_flow.hw.plan.LayerPlan.rom_block`); those
    named in ``skip`` are activation-skipping engines (:mod:`fpga_flow.hw.skipping`; a factored
    codebook layer is then a plain codebook one, whose lanes multiply), broadcasting ``skip_bcast``
    nonzero inputs per cycle (default: by their lanes, :func:`fpga_flow.hw.skipping.default_bcast`)."""
    per_layer: dict[str, int] | None = None
    if isinstance(parallelism, Mapping):
        per_layer = check_per_layer(graph, parallelism)
        p_lanes = max(per_layer.values(), default=1)
    else:
        p_lanes = check_parallelism(parallelism)
    family = board.yosys_family if board is not None else DEFAULT_FAMILY
    _check_skip(graph, skip)
    inp, rest = _topology(graph)
    by_name = {lay.name: lay for lay in graph.layers}
    holder = {inp.name: inp.name}  # the hardware producer (or the input) whose buffer holds a layer's values
    banks: dict[str, np.ndarray | None] = {inp.name: None}  # the bank of each channel a window engine wrote
    plans: list[LayerPlan] = []
    for lay in rest:
        s0 = by_name[lay.inputs[0]]
        lanes = p_lanes if per_layer is None else per_layer.get(lay.name, 1)
        p = plan_stage(lay, by_name, lanes, banks[holder[s0.name]])
        if lay.name in skip:
            p = _as_skipping(p)
        plans.append(p)
        holder[lay.name] = holder[s0.name] if p.is_alias else lay.name
        banks[lay.name] = banks[holder[s0.name]] if p.is_alias else p.schedule.row_lane if p.window else None
    out_layer = rest[-1] if rest else inp
    in_fmt = stream_format(inp.out_type.width, inp.out_type.signed, inp.size)
    out_fmt = stream_format(out_layer.out_type.width, out_layer.out_type.signed, out_layer.size)
    hw = [p for p in plans if not p.is_alias]
    # the readers of each holder's buffer, in graph order: (consumer, which of its inputs); None is the packer
    readers: dict[str, list[tuple[LayerPlan | None, int]]] = {inp.name: [], **{p.name: [] for p in hw}}
    for p in hw:
        for k, n in enumerate(p.layer.inputs):
            readers[holder[n]].append((p, k))
    readers[holder[out_layer.name]].append((None, 0))
    for p in hw:
        if not readers[p.name]:
            raise UnsupportedError(
                f"layer {p.layer.label}: nothing reads its output (the hardware computes the graph's one output); "
                "remove the dead branch from the model"
            )

    buffers: list[BufferPlan] = []

    def copies(name: str, t: FixedType, layout: Callable[[int, LayerPlan | None, int, int], BufferPlan]
               ) -> list[BufferPlan]:
        made = []
        for consumer, k in readers[name]:
            ports = consumer.lanes if consumer is not None else out_fmt.per_beat
            made.append(layout(len(buffers), consumer, k, ports))
            buffers.append(made[-1])
        return made

    window_readers = [(c, k) for c, k in readers[inp.name] if c is not None and c.window is not None]
    if window_readers:  # the serial unpacker: one bank, p * C + c
        c0, k0 = window_readers[0]
        assert c0.window is not None
        ch, h, w = c0.window.source_channels[k0], c0.window.in_shape[1], c0.window.in_shape[2]
        fm0 = FeatureMapLayout(ch, h, w, ch, np.zeros(ch, np.int64), np.arange(ch, dtype=np.int64))

        def in_layout(i: int, c: LayerPlan | None, k: int, ports: int) -> BufferPlan:
            return _fm_buffer(i, inp.name, inp.out_type, fm0, ports, family, c, out_fmt, k)
    else:
        j = np.arange(inp.size, dtype=np.int64)
        sole = readers[inp.name][0][0] if len(readers[inp.name]) == 1 else None
        in_groups, in_banks = (_input_banking(sole, inp.size, in_fmt.per_beat, inp.out_type.width, family)
                               if sole is not None and shares_input(sole) else (0, in_fmt.per_beat))

        def in_layout(i: int, c: LayerPlan | None, k: int, ports: int) -> BufferPlan:
            return _buffer(i, inp.name, inp.out_type, in_banks, j % in_banks, j // in_banks,
                           ports, family, c, out_fmt, source=k, groups=in_groups)
    in_copies = copies(inp.name, inp.out_type, in_layout)
    if not in_copies:
        raise UnsupportedError("the model input is not read by any layer")
    made: dict[str, list[BufferPlan]] = {inp.name: in_copies}
    done: list[LayerPlan] = []
    for p in plans:
        if p.is_alias:
            b = made[holder[p.layer.inputs[0]]][0]
            done.append(replace(p, in_buffer=b, out_buffer=b, in_buffers=(b,), out_buffers=(b,)))
            continue
        outs = copies(p.name, p.layer.out_type, _output_layout(p, family, out_fmt))
        made[p.name] = outs
        ins = tuple(_reader_copy(made[holder[n]], readers[holder[n]], p.name, k) for k, n in enumerate(p.layer.inputs))
        if p.window is not None:
            for k, b in enumerate(ins):
                _check_window_input(p, b, k)
        p = replace(p, in_buffer=ins[0], out_buffer=outs[0], in_buffers=ins, out_buffers=tuple(outs))
        if p.skipping:
            p = replace(p, skip=make_skip_plan(p, ins[0], bcast=skip_bcast))
        elif ins[0].shared:
            p = replace(p, banking=window_banking(p, ins[0]) if p.window is not None else _banking(p, ins[0]))
        if p.name in rom_block and p.engine in SHARED_READERS:
            p = replace(p, rom_block=True)
        model = ENGINE_MODELS.get(p.engine)
        if model is None:
            raise UnsupportedError(f"layer {p.layer.label}: engine '{p.engine}' has no cycle/cost model")
        out_cost = Cost()
        for b in outs:
            out_cost = out_cost + b.cost
        p = replace(p, cycles=model.cycles(p), hls_cycles=model.hls_cycles(p), cost=model.cost(p, family) + out_cost)
        done.append(p)
    in_cost = Cost()
    for b in in_copies:
        in_cost = in_cost + b.cost
    first = in_copies[0]
    in_stream = StreamPlan(
        "axis_in", in_fmt, inp.out_type, first,
        unpack_fm_cycles(in_fmt.n_elems) if first.fm is not None else unpack_cycles(in_fmt.beats),
        in_fmt.n_elems + HLS_LOOP_DEPTH,
        unpack_cost(width=in_fmt.width, per_beat=in_fmt.per_beat, beats=in_fmt.beats, tdata_bits=in_fmt.tdata_bits,
                    addr_bits=first.addr_bits, family=family, banks=first.banks) + in_cost,
    )  # fmt: skip
    last = _reader_copy(made[holder[out_layer.name]], readers[holder[out_layer.name]], None, 0)
    out_stream = StreamPlan(
        "axis_out", out_fmt, out_layer.out_type, last, pack_cycles(out_fmt.beats), out_fmt.n_elems + HLS_LOOP_DEPTH,
        pack_cost(width=out_fmt.width, per_beat=out_fmt.per_beat, beats=out_fmt.beats, tdata_bits=out_fmt.tdata_bits,
                  addr_bits=last.addr_bits, bank_bits=last.bank_bits, beat_addr_bits=bits_for(out_fmt.beats),
                  family=family, n_elems=out_fmt.n_elems),
    )  # fmt: skip
    requested = () if per_layer is None else tuple(
        (p.name, per_layer.get(p.name, 1)) for p in done if not p.is_alias)
    return DesignPlan(graph, p_lanes, family, dsp_slice(family), inp, in_stream, tuple(done), tuple(buffers),
                      out_stream, lanes_requested=requested)


def _as_skipping(p: LayerPlan) -> LayerPlan:
    """``p`` as an activation-skipping engine (a clear error for a layer that cannot be one)."""
    if p.window is not None or p.engine not in SKIP_ENGINES or len(p.layer.inputs) != 1:
        raise UnsupportedError(
            f"layer {p.layer.label}: a {p.engine} stage cannot skip zero activations (only fully-connected "
            f"layers can: {', '.join(SKIP_ENGINES)} weights)")
    if p.engine == "codebook_factored":
        p = replace(p, engine="codebook", sum_type=None,
                    reason=p.reason + "; skipping zero activations: the lanes multiply (not factored)")
    return replace(p, skipping=True)


def _output_layout(p: LayerPlan, family: str, out_fmt: StreamFormat
                   ) -> Callable[[int, LayerPlan | None, int, int], BufferPlan]:
    """How the buffer copies after ``p`` are laid out: pixel-major after a window engine, else row
    ``r`` in bank ``row_lane[r]`` at ``row_slot[r]``."""
    s = p.schedule
    fm = None
    if p.window is not None:
        c, h, w = p.window.out_shape
        fm = FeatureMapLayout(c, h, w, s.slots, s.row_lane.copy(), s.row_slot.copy())

    def make(index: int, consumer: LayerPlan | None, source: int, ports: int) -> BufferPlan:
        if fm is not None:
            return _fm_buffer(index, p.name, p.layer.out_type, fm, ports, family, consumer, out_fmt, source)
        return _buffer(index, p.name, p.layer.out_type, s.lanes, s.row_lane, s.row_slot, ports, family, consumer,
                       out_fmt, source=source, groups=_groups_for(consumer, s.lanes))

    return make


def _reader_copy(copies: list[BufferPlan], readers: list[tuple[LayerPlan | None, int]], consumer: str | None,
                 source: int) -> BufferPlan:
    """The copy of a producer's buffer that ``consumer`` (None: the packer) reads as its input ``source``."""
    for b, (c, k) in zip(copies, readers, strict=True):
        if (c.name if c is not None else None) == consumer and k == source:
            return b
    raise AssertionError(f"no buffer copy for {consumer} input {source}")
