"""The activation-skipping engine (EIE style): what each lane stores, and its cycles, exactly.

A MAC layer built as a skipping engine (``LayerPlan.skip``) keeps the rows its schedule dealt to
its lanes (row ``r`` in slot ``row_slot[r]`` of lane ``row_lane[r]``: the same output layout as the
lock-step engine), but each lane stores its nonzero weights *column by column*, and only the
nonzero input activations are broadcast: a lane walks the weights it has in each broadcast column,
one per cycle, and its multiply-accumulate goes into the row's slot accumulator. Zero activations
cost nothing beyond the scan that finds them.

The scan reads the input buffer one address per cycle, every bank at once: *position*
``a * banks + b`` is bank ``b`` at address ``a`` (``a < scan``). Of a word's positions that hold an
element some lane uses (``scan_mask``) and are nonzero, the ``bcast`` lowest are broadcast per
cycle, one per channel (a word takes ``max(1, ceil(m / bcast))`` cycles for ``m`` of them); every
lane has one FIFO per channel. For every position, ``start[pos, l]`` / ``count[pos, l]``
locate lane ``l``'s entries of that element's column in its entry list (``val``, ``slot``).

:func:`skip_cycles` is the cycle model of ``ff_skip_mac.v`` (checked cycle for cycle by RTL
simulation): the FIFOs of :attr:`SkipPlan.depth` columns per lane, the broadcast stalling while a
FIFO holds ``depth - 2`` columns or more, the drain and the output phase. The plan's guaranteed
figure is the cycles with every activation nonzero (:attr:`SkipPlan.worst`): a zero only removes
work (a broadcast, a FIFO entry, its walk), so no input takes longer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fpga_flow.errors import UnsupportedError
from fpga_flow.hw.plan import BufferPlan, LayerPlan, bits_for

__all__ = ["BCAST_LANES", "MAX_BCAST", "SKIP_DEPTH", "SKIP_ENGINES", "SkipPlan", "default_bcast", "make_skip_plan",
           "skip_cycles", "skip_masks"]

#: Columns each lane's FIFO holds (EIE uses 8: enough to absorb the imbalance between lanes).
SKIP_DEPTH = 8
#: Lanes per broadcast channel: a layer with L lanes broadcasts ``min(MAX_BCAST, max(1, L // 16))``
#: nonzero inputs per cycle (one broadcast per cycle caps a layer at about its nonzero inputs, which
#: starts to bind at ~30 lanes on LeNet-300-100; each channel costs a pointer ROM copy and a FIFO per lane).
BCAST_LANES = 16
MAX_BCAST = 4
#: Storage kinds a skipping engine is built from (their weights as lane arrays).
SKIP_ENGINES = ("dense", "csr", "codebook", "codebook_factored")


@dataclass(frozen=True, eq=False)
class SkipPlan:
    """What a skipping engine stores (see the module docstring); arrays are plain integers."""

    depth: int
    scan: int
    banks: int
    #: (scan, banks): the position holds an input element some lane has a weight for
    scan_mask: np.ndarray
    #: (scan * banks,): the input element at each position (-1: none)
    pos_elem: np.ndarray
    #: (scan * banks, lanes): each lane's first entry and entry count of the position's column
    start: np.ndarray
    count: np.ndarray
    #: (lanes, entries): each lane's entries in column order: weight field and accumulator slot
    val: np.ndarray
    slot: np.ndarray
    lane_entries: tuple[int, ...]
    slots: int
    #: cycles with every input activation nonzero (the guaranteed figure)
    worst: int
    #: nonzero inputs broadcast per cycle (each lane has one FIFO per broadcast channel)
    bcast: int = 1

    @property
    def lanes(self) -> int:
        return int(self.start.shape[1])

    @property
    def entries(self) -> int:
        """Entries of the longest lane (at least 1): the depth of every lane's entry ROM."""
        return max(1, max(self.lane_entries, default=0))

    @property
    def positions(self) -> int:
        return self.scan * self.banks

    @property
    def count_bits(self) -> int:
        """Bits of a count field (at least 2, as ``ff_skip_mac`` needs)."""
        return max(2, int(self.count.max(initial=0)).bit_length())

    @property
    def stored_entries(self) -> int:
        return int(sum(self.lane_entries))

    @property
    def max_count(self) -> int:
        """Most entries one lane has in one column (at least 1)."""
        return max(1, int(self.count.max(initial=0)))


def _lane_weights(p: LayerPlan) -> list[list[tuple[int, int, int]]]:
    """Per lane, its nonzero weights as (input element, weight field, slot), row by row."""
    s = p.schedule
    col, val, last = p.arrays["col"], p.arrays["val"], p.arrays["last"]
    cb = p.codebook
    out: list[list[tuple[int, int, int]]] = []
    for lane, rows in enumerate(s.lane_rows):
        ents: list[tuple[int, int, int]] = []
        t = 0
        for slot, _r in enumerate(rows):
            while True:
                v = int(val[lane, t])
                weight = int(cb[v]) if cb is not None else v
                if weight != 0:
                    ents.append((int(col[lane, t]), v, slot))
                end = bool(last[lane, t])
                t += 1
                if end:
                    break
        out.append(ents)
    return out


def default_bcast(lanes: int, banks: int) -> int:
    """Broadcasts per cycle for ``lanes`` lanes reading ``banks`` banks per scanned word."""
    return max(1, min(MAX_BCAST, lanes // BCAST_LANES, banks))


def make_skip_plan(p: LayerPlan, inb: BufferPlan, depth: int = SKIP_DEPTH, bcast: int | None = None) -> SkipPlan:
    """The skipping engine of MAC plan ``p`` (lane arrays and schedule planned) reading ``inb``, with
    ``bcast`` broadcasts per cycle (default :func:`default_bcast`)."""
    if p.engine not in SKIP_ENGINES or p.window is not None:
        raise UnsupportedError(f"layer {p.layer.label}: a {p.engine} engine cannot skip zero activations")
    lanes = p.lanes
    banks = inb.banks
    scan = int(inb.addr_of.max()) + 1 if inb.addr_of.size else 1
    npos = scan * banks
    pos_of = np.asarray(inb.addr_of, np.int64) * banks + np.asarray(inb.bank_of, np.int64)
    pos_elem = np.full(npos, -1, np.int64)
    pos_elem[pos_of] = np.arange(pos_of.size)
    weights = _lane_weights(p)
    start = np.zeros((npos, lanes), np.int64)
    count = np.zeros((npos, lanes), np.int64)
    lane_entries = []
    per_lane_val: list[list[int]] = []
    per_lane_slot: list[list[int]] = []
    for lane, ents in enumerate(weights):
        ents = sorted(ents, key=lambda e: (int(pos_of[e[0]]), e[2]))
        vals, slots_ = [], []
        for k, (c, v, sl) in enumerate(ents):
            pos = int(pos_of[c])
            if count[pos, lane] == 0:
                start[pos, lane] = k
            count[pos, lane] += 1
            vals.append(v)
            slots_.append(sl)
        per_lane_val.append(vals)
        per_lane_slot.append(slots_)
        lane_entries.append(len(ents))
    entries = max(1, max(lane_entries, default=0))
    val = np.zeros((lanes, entries), np.int64)
    slot = np.zeros((lanes, entries), np.int64)
    for lane in range(lanes):
        n = lane_entries[lane]
        val[lane, :n] = per_lane_val[lane]
        slot[lane, :n] = per_lane_slot[lane]
    used = count.sum(axis=1) > 0
    scan_mask = used.reshape(scan, banks)
    if bcast is None:
        bcast = default_bcast(lanes, banks)
    if bcast < 1:
        raise ValueError(f"broadcasts per cycle must be at least 1, got {bcast}")
    plan = SkipPlan(depth, scan, banks, scan_mask, pos_elem, start, count, val, slot, tuple(lane_entries),
                    p.slots, 0, bcast)
    worst = skip_cycles(plan, np.ones(npos, bool))
    return replace(plan, worst=worst)


def skip_masks(plan: SkipPlan, x: np.ndarray) -> np.ndarray:
    """(samples, positions) bool: which positions hold a nonzero activation, for input vectors ``x``
    (samples x elements, the layer's input mantissas in element order)."""
    x = np.atleast_2d(np.asarray(x))
    out = np.zeros((x.shape[0], plan.positions), bool)
    have = plan.pos_elem >= 0
    out[:, have] = x[:, plan.pos_elem[have]] != 0
    return out


def skip_cycles(plan: SkipPlan, nonzero: np.ndarray) -> int:
    """Cycles of one sample from the start cycle to the commit cycle, both counted (the engine's
    initiation interval and latency), for ``nonzero`` (positions,) bool: ``ff_skip_mac`` cycle for
    cycle (``bcast`` broadcasts per cycle, one FIFO per broadcast channel in every lane, the walker
    taking the lowest channel whose FIFO holds a column)."""
    depth, lanes, nb = plan.depth, plan.lanes, plan.bcast
    m_all = (np.asarray(nonzero, bool).reshape(plan.scan, plan.banks) & plan.scan_mask)
    words = [np.flatnonzero(m_all[a]) for a in range(plan.scan)]
    count = plan.count
    af = depth - 2
    fifo = np.zeros((nb, lanes, depth), np.int64)
    wp = np.zeros((nb, lanes), np.int64)
    rp = np.zeros((nb, lanes), np.int64)
    occ = np.zeros((nb, lanes), np.int64)
    busy = np.zeros(lanes, bool)
    rem = np.zeros(lanes, np.int64)
    e1 = np.zeros(lanes, bool)
    e2 = np.zeros(lanes, bool)
    bc = [(False, 0)] * nb  # per channel: (valid, position) of the broadcast register
    pv = [(False, 0)] * nb  # and of the pointer ROM's output
    rows = np.arange(lanes)
    cycles = 1  # the start cycle
    cur, sent = 0, 0
    scanning = True
    while True:
        cycles += 1
        # ---- this cycle, from the registers
        if scanning:
            stall = bool(np.any(occ >= af))
            left = words[cur][sent:]
            emit = not stall and left.size > 0
            word_end = not stall and left.size <= nb
            idle = False
        else:
            emit = word_end = False
            idle = (not any(v for v, _ in bc) and not any(v for v, _ in pv) and not np.any(occ)
                    and not np.any(busy) and not np.any(e1) and not np.any(e2))
        push = np.array([count[pos] > 0 if v else np.zeros(lanes, bool) for v, pos in pv])  # (nb, lanes)
        can_pop = ~busy | (rem == 1)
        nonempty = occ > 0
        first = np.argmax(nonempty, axis=0)  # the lowest channel holding a column
        pop = np.zeros((nb, lanes), bool)
        any_pop = nonempty.any(axis=0) & can_pop
        pop[first[any_pop], rows[any_pop]] = True
        head = fifo[first, rows, rp[first, rows] % depth]
        # ---- the clock edge
        new_busy = np.where(any_pop, True, np.where(busy & (rem == 1), False, busy))
        new_rem = np.where(any_pop, head, np.where(busy, rem - 1, rem))
        e2 = e1.copy()
        e1 = busy.copy()
        busy, rem = new_busy, new_rem
        for c in range(nb):
            if pv[c][0] and np.any(push[c]):
                fifo[c, push[c], wp[c, push[c]] % depth] = count[pv[c][1]][push[c]]
        wp = wp + push
        rp = rp + pop
        occ = occ + push - pop
        pv = list(bc)
        bc = [(emit and c < left.size, cur * plan.banks + int(left[c]) if emit and c < left.size else 0)
              for c in range(nb)] if scanning else [(False, 0)] * nb
        if scanning:
            if word_end:
                sent = 0
                if cur == plan.scan - 1:
                    scanning = False
                else:
                    cur += 1
            elif emit:
                sent += nb
        elif idle:
            return cycles + plan.slots + 2


def lane_entry_bits(plan: SkipPlan, weight_field_bits: int) -> int:
    """Bits of one entry ROM word: the weight field and the slot."""
    return weight_field_bits + bits_for(plan.slots)
