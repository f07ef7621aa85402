"""Shared input buffers: one copy of a layer's input, its banks read at one address each per cycle.

A MAC engine with ``P`` lanes used to give every lane its own copy of every bank of its input (so
each lane reads any element every cycle), which grows the input's storage with ``P`` and, between
two parallel layers, with ``P_producer * P_consumer``. With a *shared* buffer the input is held
``groups`` times (usually once), in ``banks`` banks; in each cycle every bank of every copy is read
at one address, and each lane takes the element it needs from its group's banks through a
``banks``-way select. Two lanes of a group may read one bank in one cycle only at the same address
(the element is broadcast).

The sparsity pattern is a constant, so the conflicts are resolved when the design is planned:
:func:`schedule_banks` reorders each lane's walk. A row's entries may be taken in any order (the
accumulator is exact, so the sum does not depend on it), but a lane finishes one row before it
starts the next (one accumulator per lane) and keeps its rows in the plan's order (their result
slots). Cycle by cycle, lanes with the most work left choose first; a lane takes an entry of its
current row whose bank is already open at the entry's address, else one in the free bank that holds
most of the row's remaining entries (so that a row's tail does not pile up in one bank), at the
address most lanes of its copy still need (so that they share the read), or idles for one cycle (a
*bubble*: an invalid ROM word). A row without stored weights (one zero-weight entry) reads nothing.

The result, :class:`BankSchedule`, is what the Verilog engine stores: per cycle the address of every
bank of every copy, and per lane which entry of its walk it takes (or a bubble). The walk itself (the
plan's lane arrays ``col``/``val``/``last``) is unchanged, so every other reader of the plan (the HLS
C++, which keeps a copy per lane, the reference, the weight count) sees the same layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["BankSchedule", "group_lanes", "schedule_banks"]


@dataclass(frozen=True, eq=False)
class BankSchedule:
    """The conflict-free read schedule of one MAC engine on a shared input buffer.

    ``take[l, k]``: the position in lane ``l``'s walk (the plan's lane arrays) of the entry lane
    ``l`` computes in cycle ``k``, or -1 for a bubble (lane idle: an invalid ROM word).
    ``first[l, k]`` / ``last[l, k]``: that entry opens / closes its row (the bias goes with the
    first). ``bank[l, k]``: the bank lane ``l`` selects in cycle ``k`` (in its group's copy).
    ``addr[g, b, k]``: the address bank ``b`` of copy ``g`` reads in cycle ``k`` (0 when idle).
    ``lane_group[l]``: the copy lane ``l`` reads. ``bubbles``: idle lane-cycles before a lane's
    walk ends (the schedule's cost over the walk's longest lane)."""

    groups: int
    banks: int
    lane_group: tuple[int, ...]
    take: np.ndarray
    first: np.ndarray
    last: np.ndarray
    bank: np.ndarray
    addr: np.ndarray
    bubbles: int

    @property
    def cycles(self) -> int:
        """ROM words per sample (at least 1)."""
        return max(1, int(self.take.shape[1]))

    @property
    def lanes(self) -> int:
        return int(self.take.shape[0])


def group_lanes(lanes: int, groups: int) -> tuple[int, ...]:
    """Lanes dealt to ``groups`` copies in contiguous runs of ``ceil(lanes / groups)``."""
    per = -(-lanes // max(1, groups))
    return tuple(lane // per for lane in range(lanes))


class _CycleReads:
    """The reads of one cycle: per copy, each open bank's address and readers; per lane its choice."""

    def __init__(self, lane_group: tuple[int, ...], n_groups: int,
                 pending: list[dict[int, dict[int, list[int]]] | None]) -> None:
        self.lane_group = lane_group
        self.pending = pending
        self.op: list[dict[int, int]] = [{} for _ in range(n_groups)]  # bank -> the address it reads
        self.users: list[dict[int, set[int]]] = [{} for _ in range(n_groups)]  # bank -> its readers
        self.choice: dict[int, tuple[int, int]] = {}  # lane -> (bank, address)

    def assign(self, lane: int, b: int, a: int) -> None:
        g = self.lane_group[lane]
        self.op[g][b] = a
        self.users[g].setdefault(b, set()).add(lane)
        self.choice[lane] = (b, a)

    def unassign(self, lane: int) -> tuple[int, int]:
        g = self.lane_group[lane]
        b, a = self.choice.pop(lane)
        self.users[g][b].discard(lane)
        if not self.users[g][b]:
            del self.users[g][b]
            del self.op[g][b]
        return b, a

    def augment(self, lane: int, seen: set[int]) -> bool:
        """Find ``lane`` a bank of its current row: a free one, or one whose single reader can move
        to another of its own (an augmenting path; ``seen``: banks already on the path)."""
        d = self.pending[lane]
        assert d is not None
        g = self.lane_group[lane]
        for b, by_addr in sorted(d.items(), key=lambda kv: -sum(len(v) for v in kv[1].values())):
            if b in seen:
                continue
            seen.add(b)
            if b not in self.op[g]:
                self.assign(lane, b, next(iter(by_addr)))
                return True
            if len(self.users[g][b]) == 1:
                other = next(iter(self.users[g][b]))
                old = self.unassign(other)
                if self.augment(other, seen):
                    self.assign(lane, b, next(iter(by_addr)))
                    return True
                self.assign(other, *old)
        return False


def _popular(by_addr: dict[int, list[int]], g: int, b: int, lane_group: tuple[int, ...],
             pending: list[dict[int, dict[int, list[int]]] | None]) -> int:
    """The address a lane opens in bank ``b`` of copy ``g``: of its own pending ones, the one most
    lanes of the copy still need in their current rows (so that they share the read; ties: the first)."""
    if len(by_addr) == 1:
        return next(iter(by_addr))
    demand = dict.fromkeys(by_addr, 0)
    for other, d in enumerate(pending):
        if d is not None and lane_group[other] == g and b in d:
            for a in d[b]:
                if a in demand:
                    demand[a] += 1
    return max(by_addr, key=lambda a: demand[a])


def schedule_banks(col: np.ndarray, last: np.ndarray, walk: Sequence[int], free: np.ndarray,
                   bank_of: np.ndarray, addr_of: np.ndarray, banks: int, groups: int = 1,
                   lane_group: Sequence[int] = ()) -> BankSchedule:
    """The bank schedule of lanes walking ``col``/``last`` (``lanes x entries``; lane ``l`` walks its
    first ``walk[l]`` entries) on a shared buffer of ``banks`` banks holding element ``j`` in bank
    ``bank_of[j]`` at ``addr_of[j]``, ``groups`` copies (see the module docstring; ``lane_group``: the
    copy each lane reads, default :func:`group_lanes`). ``free[l, t]`` marks entries that read
    nothing (the zero-weight entry of a row without stored weights)."""
    lanes = int(col.shape[0])
    lane_group = tuple(int(g) for g in lane_group) if len(lane_group) else group_lanes(lanes, groups)
    n_groups = max(lane_group, default=0) + 1
    # per lane: its rows, each a dict bank -> {addr: [walk positions]} (None: a free entry)
    rows: list[list[list[int]]] = []
    for lane in range(lanes):
        lr: list[list[int]] = []
        cur: list[int] = []
        for t in range(int(walk[lane])):
            cur.append(t)
            if last[lane, t]:
                lr.append(cur)
                cur = []
        if cur:
            lr.append(cur)
        rows.append(lr)
    left = [int(walk[lane]) for lane in range(lanes)]
    nxt = [0] * lanes  # the lane's next row
    pending: list[dict[int, dict[int, list[int]]] | None] = [None] * lanes
    free_left: list[list[int]] = [[] for _ in range(lanes)]
    n_in_row = [0] * lanes
    taken_in_row = [0] * lanes

    def open_row(lane: int) -> None:
        if nxt[lane] >= len(rows[lane]):
            pending[lane] = None
            return
        d: dict[int, dict[int, list[int]]] = {}
        fl: list[int] = []
        for t in rows[lane][nxt[lane]]:
            if free[lane, t]:
                fl.append(t)
            else:
                c = int(col[lane, t])
                d.setdefault(int(bank_of[c]), {}).setdefault(int(addr_of[c]), []).append(t)
        pending[lane] = d
        free_left[lane] = fl
        n_in_row[lane] = len(rows[lane][nxt[lane]])
        taken_in_row[lane] = 0
        nxt[lane] += 1

    for lane in range(lanes):
        open_row(lane)
    take_cols: list[list[int]] = []
    first_cols: list[list[bool]] = []
    last_cols: list[list[bool]] = []
    bank_cols: list[list[int]] = []
    addr_cols: list[np.ndarray] = []
    bubbles = 0
    while any(p is not None for p in pending):
        cyc = _CycleReads(lane_group, n_groups, pending)
        order = sorted(range(lanes), key=lambda q: (-left[q], q))
        blocked: list[int] = []
        for lane in order:  # greedy: share an open read, else the first free bank
            d = pending[lane]
            if d is None or free_left[lane]:
                continue
            g = lane_group[lane]
            best: tuple[int, int] | None = None
            most = 0
            for b, by_addr in d.items():
                a = cyc.op[g].get(b)
                if a is None:
                    n = sum(len(v) for v in by_addr.values())
                    if n > most:  # a free bank: the one with the most of the row's entries left
                        best, most = (b, _popular(by_addr, g, b, lane_group, pending)), n
                elif a in by_addr:
                    best = (b, a)
                    break
            if best is None:
                blocked.append(lane)
            else:
                cyc.assign(lane, *best)
        for lane in blocked:  # augmenting paths: move a single reader to another of its banks
            cyc.augment(lane, set())
        tk = [-1] * lanes
        fs = [False] * lanes
        ls = [False] * lanes
        bk = [0] * lanes
        for lane in order:
            d = pending[lane]
            if d is None:
                continue
            if free_left[lane]:
                t = free_left[lane].pop()
            elif lane in cyc.choice:
                b, a = cyc.choice[lane]
                ts = d[b][a]
                t = ts.pop()
                if not ts:
                    del d[b][a]
                    if not d[b]:
                        del d[b]
                bk[lane] = b
            else:
                bubbles += 1
                continue
            tk[lane] = t
            fs[lane] = taken_in_row[lane] == 0
            taken_in_row[lane] += 1
            left[lane] -= 1
            if taken_in_row[lane] == n_in_row[lane]:
                ls[lane] = True
                open_row(lane)
        take_cols.append(tk)
        first_cols.append(fs)
        last_cols.append(ls)
        bank_cols.append(bk)
        arr = np.zeros((n_groups, banks), np.int64)
        for g, reads in enumerate(cyc.op):
            for b, addr in reads.items():
                arr[g, b] = addr
        addr_cols.append(arr)
    n = len(take_cols)
    take = np.array(take_cols, np.int64).T.reshape(lanes, n)
    addr_table: np.ndarray = np.stack(addr_cols, axis=2) if addr_cols else np.zeros((n_groups, banks, 0), np.int64)
    return BankSchedule(n_groups, banks, lane_group, take,
                        np.array(first_cols, bool).T.reshape(lanes, n), np.array(last_cols, bool).T.reshape(lanes, n),
                        np.array(bank_cols, np.int64).T.reshape(lanes, n), addr_table, bubbles)
