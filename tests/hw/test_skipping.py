"""The activation-skipping engine's plan (fpga_flow/hw/skipping.py): its column-ordered lane arrays
hold every nonzero weight exactly once (checked against the layer's dense matrix), and its cycle
model's guaranteed figure bounds every input; an all-zero input costs the scan, one drain cycle
and the output phase. The cycle model itself is checked against RTL simulation in
hw_tests/test_rtl_skip.py."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from fpga_flow.errors import UnsupportedError
from fpga_flow.hw import plan_design
from fpga_flow.hw.skipping import SkipPlan, skip_cycles, skip_masks

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hw_tests"))
from rtl_models import make_graph  # noqa: E402

KINDS = ("dense", "csr", "codebook", "mlp3", "emptyrows")


def _skipping(kind: str, lanes: int, bcast: int | None = None):
    g = make_graph(kind)
    names = frozenset(lay.name for lay in g.layers[1:] if hasattr(lay, "weights"))
    return g, plan_design(g, lanes, skip=names, skip_bcast=bcast)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lanes", [1, 3, 8])
def test_lane_arrays_hold_every_nonzero_weight_once(kind: str, lanes: int) -> None:
    g, plan = _skipping(kind, lanes)
    for p in plan.hardware_layers:
        k = p.skip
        assert isinstance(k, SkipPlan) and p.skipping
        w = p.layer.weights.to_dense().astype(np.int64)  # type: ignore[attr-defined]
        got = np.zeros_like(w)
        hits = np.zeros_like(w)
        s = p.schedule
        for pos in range(k.positions):
            j = int(k.pos_elem[pos])
            for lane in range(k.lanes):
                n = int(k.count[pos, lane])
                assert n == 0 or j >= 0, "a lane has weights at an empty position"
                for t in range(int(k.start[pos, lane]), int(k.start[pos, lane]) + n):
                    row = s.lane_rows[lane][int(k.slot[lane, t])]
                    v = int(k.val[lane, t])
                    got[row, j] += int(p.codebook[v]) if p.codebook is not None else v
                    hits[row, j] += 1
        assert np.array_equal(got, w), p.name
        assert np.array_equal(hits, (w != 0).astype(np.int64)), p.name
        assert k.stored_entries == int(np.count_nonzero(w))
        # the scan mask: exactly the positions of elements some weight reads
        used = np.zeros(k.positions, bool)
        have = k.pos_elem >= 0
        used[have] = np.any(w != 0, axis=0)[k.pos_elem[have]]
        assert np.array_equal(k.scan_mask.reshape(-1), used)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bcast", [1, 2, 4])
def test_the_guaranteed_figure_bounds_every_input(kind: str, bcast: int) -> None:
    g, plan = _skipping(kind, 4, bcast)
    rng = np.random.default_rng(3)
    for p in plan.hardware_layers:
        k = p.skip
        assert k is not None and k.bcast == bcast and p.cycles.ii == k.worst == p.cycles.latency
        zero = skip_cycles(k, np.zeros(k.positions, bool))
        assert zero == k.scan + k.slots + 4  # start, one cycle per word, one drain cycle, slots, two
        for density in (0.1, 0.5, 0.9):
            for _ in range(10):
                c = skip_cycles(k, rng.random(k.positions) < density)
                assert zero <= c <= k.worst


def test_masks_follow_the_buffer_positions() -> None:
    g, plan = _skipping("mlp3", 4)
    p = plan.hardware_layers[1]
    k = p.skip
    assert k is not None
    x = np.zeros((2, p.in_buffer.n_elems), np.int64)  # type: ignore[union-attr]
    x[1, 5] = 3
    m = skip_masks(k, x)
    assert not m[0].any()
    pos = int(p.in_buffer.addr_of[5]) * k.banks + int(p.in_buffer.bank_of[5])  # type: ignore[union-attr]
    assert np.flatnonzero(m[1]).tolist() == [pos]


def test_the_input_buffer_is_one_copy_read_by_bank() -> None:
    g, plan = _skipping("mlp3", 4)
    for p in plan.hardware_layers:
        b = p.in_buffer
        assert b is not None and b.groups == 1 and b.read_ports == b.banks and p.banking is None


def test_only_fully_connected_layers_skip() -> None:
    g = make_graph("eltwise")
    with pytest.raises(UnsupportedError, match="cannot skip zero activations"):
        plan_design(g, 2, skip=frozenset({"relu"}))
    with pytest.raises(ValueError, match="unknown layer"):
        plan_design(g, 2, skip=frozenset({"nope"}))


def test_broadcasts_per_cycle_grow_with_the_lanes() -> None:
    from fpga_flow.hw.skipping import default_bcast

    assert [default_bcast(lanes, 8) for lanes in (1, 16, 31, 32, 64, 500)] == [1, 1, 1, 2, 4, 4]
    assert default_bcast(64, 2) == 2  # never more than the banks a word has
