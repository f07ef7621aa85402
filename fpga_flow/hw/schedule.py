"""How rows are dealt to lanes: the one schedule every backend and every estimate uses.

A layer's work is a list of *rows* (output neurons, or output elements of a point-wise stage),
each costing some number of *entries* (one entry per lane per cycle). :func:`deal_rows` deals
rows to lanes longest-first, each to the least-loaded lane (lowest index on ties), so equal
costs go round-robin; each lane then computes its rows in ascending order, and a row's result
lands in slot ``ordinal`` of its lane's bank. Deterministic.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["Schedule", "deal_rows", "make_schedule"]


def deal_rows(costs: Sequence[int] | np.ndarray, lanes: int) -> tuple[tuple[int, ...], ...]:
    """Rows dealt to ``lanes`` lanes balanced by cost (largest first, LPT); each lane ascending."""
    if lanes < 1:
        raise ValueError(f"lanes must be at least 1, got {lanes}")
    cost = [int(c) for c in costs]
    order = sorted(range(len(cost)), key=lambda r: (-cost[r], r))
    heap = [(0, lane) for lane in range(lanes)]
    out: list[list[int]] = [[] for _ in range(lanes)]
    for r in order:
        load, lane = heapq.heappop(heap)
        out[lane].append(r)
        heapq.heappush(heap, (load + cost[r], lane))
    return tuple(tuple(sorted(rows)) for rows in out)


@dataclass(frozen=True, eq=False)
class Schedule:
    """Rows of one layer dealt to its lanes.

    ``row_cost[r]`` entries for row ``r`` (at least 1: a row without stored weights still takes
    one entry, a zero weight, so that its output -- the bias -- is written by its lane);
    ``lane_rows[l]`` the rows of lane ``l`` in the order it computes them.
    """

    row_cost: tuple[int, ...]
    lane_rows: tuple[tuple[int, ...], ...]

    @property
    def lanes(self) -> int:
        return len(self.lane_rows)

    @property
    def n_rows(self) -> int:
        return len(self.row_cost)

    @cached_property
    def lane_entries(self) -> tuple[int, ...]:
        """Entries each lane walks per sample."""
        return tuple(sum(self.row_cost[r] for r in rows) for rows in self.lane_rows)

    @property
    def entries(self) -> int:
        """Entries of the longest lane (at least 1): the engine's cycles per sample, less its pipeline."""
        return max(1, max(self.lane_entries, default=0))

    @property
    def entries_lower_bound(self) -> int:
        """The perfectly balanced lane length (ceil of total / lanes)."""
        return max(1, -(-sum(self.row_cost) // self.lanes))

    @property
    def slots(self) -> int:
        """Result slots per lane (the most rows any lane has, at least 1)."""
        return max(1, max((len(rows) for rows in self.lane_rows), default=0))

    @cached_property
    def row_lane(self) -> np.ndarray:
        out = np.zeros(self.n_rows, np.int64)
        for lane, rows in enumerate(self.lane_rows):
            out[list(rows)] = lane
        out.setflags(write=False)
        return out

    @cached_property
    def row_slot(self) -> np.ndarray:
        out = np.zeros(self.n_rows, np.int64)
        for rows in self.lane_rows:
            out[list(rows)] = np.arange(len(rows))
        out.setflags(write=False)
        return out


def make_schedule(row_cost: Sequence[int] | np.ndarray, lanes: int) -> Schedule:
    """The schedule of rows costing ``row_cost`` entries on ``lanes`` lanes."""
    costs = tuple(max(1, int(c)) for c in row_cost)
    return Schedule(costs, deal_rows(costs, lanes))
