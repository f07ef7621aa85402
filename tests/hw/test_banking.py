"""The bank schedule of a shared input buffer (fpga_flow.hw.banking), checked entry by entry.

For every lane the schedule must take each entry of its walk exactly once, finish a row before the
next (in the walk's row order), flag each row's first and last scheduled entry, and, in every
cycle, read each bank of each copy at one address only: the address of every element a lane takes
there. These are checked directly against the walk, for random sparse walks, dense walks (every
lane reads the same columns: one read serves them all) and rows without stored weights."""

from __future__ import annotations

import numpy as np
import pytest

from fpga_flow.hw.banking import BankSchedule, group_lanes, schedule_banks


def _walk(rng: np.random.Generator, lanes: int, n_in: int, rows_per_lane: int, density: float,
          empty_rows: bool = False) -> tuple[np.ndarray, np.ndarray, list[int], np.ndarray]:
    """Random CSR lane walks: ``col``, ``last``, the walk lengths and the free (no weight) entries."""
    walks: list[list[tuple[int, bool, bool]]] = []
    for _ in range(lanes):
        w: list[tuple[int, bool, bool]] = []
        for _ in range(rows_per_lane):
            k = int(rng.binomial(n_in, density))
            if k == 0 or (empty_rows and rng.random() < 0.2):
                w.append((0, True, True))
                continue
            cols = rng.choice(n_in, size=k, replace=False)
            w.extend((int(c), i == k - 1, False) for i, c in enumerate(cols))
        walks.append(w)
    n = max(len(w) for w in walks)
    col = np.zeros((lanes, n), np.int64)
    last = np.zeros((lanes, n), np.int64)
    free = np.zeros((lanes, n), bool)
    for lane, w in enumerate(walks):
        for t, (c, e, f) in enumerate(w):
            col[lane, t], last[lane, t], free[lane, t] = c, int(e), f
    return col, last, [len(w) for w in walks], free


def _check(bs: BankSchedule, col: np.ndarray, last: np.ndarray, walk: list[int], free: np.ndarray,
           bank_of: np.ndarray, addr_of: np.ndarray) -> None:
    lanes = col.shape[0]
    assert bs.take.shape == (lanes, bs.cycles)
    for lane in range(lanes):
        taken = [int(t) for t in bs.take[lane] if t >= 0]
        assert sorted(taken) == list(range(walk[lane])), lane  # every entry exactly once
        # rows in walk order, each contiguous: the row index of the taken entries never decreases
        row_of = np.cumsum(np.concatenate([[0], last[lane, : walk[lane] - 1]]))
        rows = [int(row_of[t]) for t in taken]
        assert rows == sorted(rows), lane
        ks = [k for k in range(bs.cycles) if bs.take[lane, k] >= 0]
        for i, k in enumerate(ks):
            starts = i == 0 or rows[i] != rows[i - 1]
            ends = i == len(ks) - 1 or rows[i] != rows[i + 1]
            assert bool(bs.first[lane, k]) == starts and bool(bs.last[lane, k]) == ends, (lane, k)
        for k in range(bs.cycles):
            if bs.take[lane, k] < 0:
                assert not bs.first[lane, k] and not bs.last[lane, k]
    # one address per bank and copy and cycle, and it is the address of what each lane takes there
    for k in range(bs.cycles):
        for lane in range(lanes):
            t = int(bs.take[lane, k])
            if t < 0 or free[lane, t]:
                continue
            c = int(col[lane, t])
            b = int(bs.bank[lane, k])
            assert b == int(bank_of[c])
            assert int(bs.addr[bs.lane_group[lane], b, k]) == int(addr_of[c]), (lane, k)


@pytest.mark.parametrize(("lanes", "banks", "groups", "density"), [
    (4, 4, 1, 0.3), (8, 16, 1, 0.1), (16, 16, 1, 0.07), (16, 8, 2, 0.2), (12, 8, 3, 0.15), (5, 3, 2, 0.5),
])
def test_schedule_takes_every_entry_once_without_bank_conflicts(lanes: int, banks: int, groups: int,
                                                                density: float) -> None:
    rng = np.random.default_rng(lanes * 100 + banks)
    n_in = 97
    col, last, walk, free = _walk(rng, lanes, n_in, 6, density, empty_rows=True)
    j = np.arange(n_in)
    bank_of, addr_of = j % banks, j // banks
    bs = schedule_banks(col, last, walk, free, bank_of, addr_of, banks, groups)
    assert bs.groups == groups and bs.lane_group == group_lanes(lanes, groups)
    _check(bs, col, last, walk, free, bank_of, addr_of)
    assert bs.cycles >= max(walk)


def test_enough_banks_give_close_to_the_longest_walk() -> None:
    """With as many banks as lanes per copy, the schedule costs a few bubbles at most (a lane always
    has several banks to choose from until its row's last entries)."""
    rng = np.random.default_rng(7)
    col, last, walk, free = _walk(rng, 32, 784, 9, 0.07)
    j = np.arange(784)
    bs = schedule_banks(col, last, walk, free, j % 32, j // 32, 32)
    _check(bs, col, last, walk, free, j % 32, j // 32)
    assert bs.cycles <= max(walk) * 1.02 + 2


def test_dense_lanes_share_each_read() -> None:
    """Every lane walks the same columns (a dense layer): one bank read serves all lanes, so even
    one bank gives no bubble."""
    lanes, n_in, rows = 6, 10, 3
    col = np.tile(np.tile(np.arange(n_in), rows), (lanes, 1))
    last = np.tile(np.tile((np.arange(n_in) == n_in - 1).astype(np.int64), rows), (lanes, 1))
    free = np.zeros(col.shape, bool)
    j = np.arange(n_in)
    for banks in (1, 2, 5):
        bs = schedule_banks(col, last, [n_in * rows] * lanes, free, j % banks, j // banks, banks)
        _check(bs, col, last, [n_in * rows] * lanes, free, j % banks, j // banks)
        assert bs.cycles == n_in * rows and bs.bubbles == 0


def test_a_single_bank_serialises_distinct_reads() -> None:
    """Two lanes reading different elements of one bank cannot share a cycle: the walk of 3 + 3
    distinct elements takes 6 cycles; each lane idles while the other reads (5 idle cycles before
    the walks end: the lane with more work left goes first, so they alternate)."""
    col = np.array([[0, 1, 2], [3, 4, 5]])
    last = np.array([[0, 0, 1], [0, 0, 1]])
    free = np.zeros(col.shape, bool)
    j = np.arange(6)
    bs = schedule_banks(col, last, [3, 3], free, np.zeros(6, np.int64), j, 1)
    _check(bs, col, last, [3, 3], free, np.zeros(6, np.int64), j)
    assert bs.cycles == 6 and bs.bubbles == 5
