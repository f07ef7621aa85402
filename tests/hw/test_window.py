"""The window engine plan (fpga_flow/hw/window.py, design.py): every nonzero tap of a convolution
exactly once, pixel-major buffers, the cycle formula, and clear refusals. Expectations are
recomputed here from the IR layers' weights and geometry, not taken from the planner."""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest

from fpga_flow.errors import UnsupportedError
from fpga_flow.fixed import FixedType
from fpga_flow.hw import plan_design
from fpga_flow.hw.engines import WINDOW_DRAIN
from fpga_flow.hw.plan import LayerPlan
from fpga_flow.hw.window import plan_window_layer, tap_fields, tap_sources
from fpga_flow.ir import AvgPool2dLayer, Conv2dLayer, DenseWeights, Graph, InputLayer, ReshapeLayer
from tests.cnn_graphs import CNN_KINDS, cnn_graph


def _lane_rows(p: LayerPlan) -> list[list[list[int]]]:
    """Per lane, per row walked in one pixel, the entry indices (rows end at last == 1)."""
    out = []
    last = p.arrays["last"]
    for lane in range(p.lanes):
        rows: list[list[int]] = []
        cur: list[int] = []
        for t in range(p.entries):
            cur.append(t)
            if last[lane, t]:
                rows.append(cur)
                cur = []
        out.append(rows)
    return out


def _expected_taps(layer: Conv2dLayer) -> Counter:
    kh, kw = layer.kernel
    cg, og = layer.in_channels // layer.groups, layer.rows // layer.groups
    w = layer.weights.to_dense()
    taps: Counter = Counter()
    for co in range(layer.rows):
        for j in np.flatnonzero(w[co]):
            ci_local, r = divmod(int(j), kh * kw)
            ky, kx = divmod(r, kw)
            taps[(co, (co // og) * cg + ci_local, ky, kx, int(w[co, j]))] += 1
    return taps


@pytest.mark.parametrize("parallelism", [1, 3, 8])
@pytest.mark.parametrize("kind", ["conv_s1", "conv_s2_pad", "conv_same_codebook", "conv_dense_storage",
                                  "depthwise", "lenet"])
def test_every_nonzero_tap_is_walked_once_per_pixel(kind: str, parallelism: int) -> None:
    g = cnn_graph(kind)
    plan = plan_design(g, parallelism)
    for p in plan.hardware_layers:
        if not isinstance(p.layer, Conv2dLayer):
            continue
        lay = p.layer
        kh, kw = lay.kernel
        book = p.codebook
        got: Counter = Counter()
        for lane, rows in enumerate(_lane_rows(p)):
            real = p.schedule.lane_rows[lane]
            assert len(rows) >= p.slots  # exactly `slots` rows, then invalid padding entries
            for k, entries in enumerate(rows[: p.slots]):
                for t in entries:
                    c = int(p.arrays["col"][lane, t])
                    v = int(p.arrays["val"][lane, t])
                    w = int(book[v]) if book is not None else v
                    if k < len(real) and w != 0:
                        ci, r = divmod(c, kh * kw)
                        got[(real[k], ci, *divmod(r, kw), w)] += 1
                    else:  # a dummy row or a row without nonzeros: one zero-weight entry
                        assert len(entries) == 1 and w == 0
        assert got == _expected_taps(lay)
        # cycles grow with the nonzero taps, never with the dense MACs
        assert p.multiplies == lay.nnz * p.window.out_pixels
        s = p.schedule
        assert p.entries <= s.entries_lower_bound + max(s.row_cost) + s.slots
        # one pixel's walk: the lanes' entries, or on a shared input map the bank schedule (entries + bubbles)
        walk = p.banking.cycles if p.banking is not None else p.entries
        assert p.banking is None or p.banking.cycles >= p.entries
        assert p.cycles.ii == p.cycles.latency == 1 + p.window.out_pixels * walk + WINDOW_DRAIN


@pytest.mark.parametrize("parallelism", [3, 8])
@pytest.mark.parametrize("kind", ["conv_s1", "conv_s2_pad", "conv_same_codebook", "depthwise", "lenet", "lenet_pixels"])
def test_a_convolution_reads_a_shared_map_without_conflicts(kind: str, parallelism: int) -> None:
    """A convolution with several lanes on a map of several banks reads one copy per group: per cycle
    each bank of a copy opens one address, which is the tap offset of every lane selecting it; every
    walk entry is taken once, rows in order."""
    g = cnn_graph(kind)
    plan = plan_design(g, parallelism)
    shared = 0
    for p in plan.hardware_layers:
        if not isinstance(p.layer, Conv2dLayer) or p.in_buffer is None or p.in_buffer.fm is None:
            continue
        fm = p.in_buffer.fm
        banks = int(np.max(fm.chan_bank)) + 1
        s = p.schedule
        longest = max(sum(s.row_cost[r] for r in rows) + s.slots - len(rows) for rows in s.lane_rows)
        if banks > 1:
            assert (p.banking is not None) == (p.lanes > 1)
        if p.banking is None:
            continue
        shared += 1
        bs = p.banking
        if banks > 1:
            assert p.in_buffer.shared and p.in_buffer.groups == bs.groups == -(-p.lanes // banks)
        else:  # a one-bank map: fewer copies than lanes, at no cycle (a pixel-phase conv: within 1.25x)
            slack = 1.25 if p.layer.pixel_phases != (1, 1) else 1.0
            assert bs.groups < p.lanes and bs.cycles <= slack * longest
        kh, kw = p.window.kernel
        col, last = p.arrays["col"], p.arrays["last"]
        for lane in range(p.lanes):
            walk = sum(s.row_cost[r] for r in s.lane_rows[lane]) + s.slots - len(s.lane_rows[lane])
            taken = [int(t) for t in bs.take[lane] if t >= 0]
            assert sorted(taken) == list(range(walk))
            ends = [k for k in range(bs.cycles) if bs.last[lane, k]]
            assert len(ends) == s.slots  # every row (and dummy row) closes once
            row_of = np.cumsum(np.concatenate([[0], last[lane, :walk - 1]]))  # walk position -> its row
            assert list(row_of[taken]) == sorted(row_of[taken])  # a row finishes before the next starts
            n_real = sum(s.row_cost[r] for r in s.lane_rows[lane])
            for k in range(bs.cycles):
                t = int(bs.take[lane, k])
                if t < 0 or t >= n_real or int(p.arrays["val"][lane, t]) == 0:
                    continue  # a bubble, a dummy row, a row without nonzero taps: reads nothing that counts
                ci, r = divmod(int(col[lane, t]), kh * kw)
                ky, kx = divmod(r, kw)
                assert bs.bank[lane, k] == fm.chan_bank[ci]
                g = bs.lane_group[lane]
                assert bs.addr[g, fm.chan_bank[ci], k] == (ky * fm.width + kx) * fm.slots + fm.chan_slot[ci]
    if kind in ("depthwise", "lenet"):  # a convolution after a multi-lane stage
        assert shared >= 1


def test_pixel_phases_share_the_input_one_copy_per_phase() -> None:
    """conv1 computing 2x2 output pixels (16 rows, one per lane) reads the one-bank input through 4
    copies, the lanes of one phase (their row's index mod 4) on one copy; each copy opens the taps
    its phase needs, so the schedule is no longer than the longest row."""
    g = cnn_graph("lenet_pixels")
    p = plan_design(g, 16).layer("conv1")
    assert p.lanes == 16 and p.layer.pixel_phases == (2, 2)
    buf, bs = p.in_buffer, p.banking
    assert buf is not None and bs is not None and buf.banks == 1 and buf.groups == bs.groups == 4
    assert buf.port_group == bs.lane_group == tuple(rows[0] % 4 for rows in p.schedule.lane_rows)
    assert bs.cycles == p.entries


@pytest.mark.parametrize("kind", CNN_KINDS)
def test_window_buffers_are_pixel_major_and_collision_free(kind: str) -> None:
    g = cnn_graph(kind)
    plan = plan_design(g, 3)
    first = plan.buffers[0]
    c, h, w = plan.hardware_layers[0].window.in_shape
    pix = np.arange(h * w)
    np.testing.assert_array_equal(first.bank_of, np.zeros(c * h * w))
    np.testing.assert_array_equal(first.addr_of, (pix[None, :] * c + np.arange(c)[:, None]).reshape(-1))
    for p in plan.hardware_layers:
        if p.window is None:
            continue
        out = p.out_buffer
        co, oh, ow = p.window.out_shape
        assert out.fm is not None and out.n_elems == co * oh * ow
        for ch in range(co):
            sl = slice(ch * oh * ow, (ch + 1) * oh * ow)
            assert set(out.bank_of[sl].tolist()) == {int(p.schedule.row_lane[ch])}
            np.testing.assert_array_equal(out.addr_of[sl], np.arange(oh * ow) * p.slots + p.schedule.row_slot[ch])
        assert len(set(zip(out.bank_of.tolist(), out.addr_of.tolist(), strict=True))) == out.n_elems
        # the tap offsets read the element the reference reads
        t = tap_fields(p)
        fm = p.in_buffer.fm
        kh, kw = p.window.kernel
        ci, r = np.divmod(p.arrays["col"], kh * kw)
        ky, kx = np.divmod(r, kw)
        np.testing.assert_array_equal(t.offset, (ky * fm.width + kx) * fm.slots + fm.chan_slot[ci])
        np.testing.assert_array_equal(t.bank, fm.chan_bank[ci])


def test_pool_and_relu_stages_cost_no_multiplier() -> None:
    plan = plan_design(cnn_graph("lenet"), 4)
    ops = {p.name: (p.window.op, p.cost.dsp) for p in plan.hardware_layers if p.window is not None}
    assert ops["pool1"] == ("max", 0) and ops["pool2"] == ("max", 0)
    assert ops["conv1"][0] == "mac" and ops["conv1"][1] > 0
    avg = {p.name: p.window.op for p in plan_design(cnn_graph("avgpool"), 2).hardware_layers if p.window}
    assert avg["pool1"] == "sum"


def test_average_over_nine_is_refused_with_the_layer_named() -> None:
    g = cnn_graph("avgpool")
    i = next(k for k, lay in enumerate(g.layers) if isinstance(lay, AvgPool2dLayer))
    src, pool = g.layers[i - 1], g.layers[i]
    ch, h, w = src.shape
    pool9 = dataclasses.replace(pool, kernel=(3, 3), stride=(3, 3), shape=(ch, h // 3, w // 3))
    with pytest.raises(UnsupportedError, match=r"layer .*pool1.*divides by 9.*power of two"):
        plan_window_layer(pool9, src.out_type, src.shape, 1)
    padded = dataclasses.replace(pool, pads=(1, 1, 1, 1), shape=(ch, h // 2 + 1, w // 2 + 1))  # 1, 2 or 4 inside
    with pytest.raises(UnsupportedError, match=r"divides by 1, 2, 4"):
        plan_window_layer(padded, src.out_type, src.shape, 1)
    assert plan_window_layer(dataclasses.replace(padded, count_include_pad=True), src.out_type, src.shape,
                             1).window.op == "sum"


def test_a_convolution_after_a_dense_layer_is_refused() -> None:
    g = cnn_graph("conv_out")
    inp, conv1, conv2 = g.layers
    flat_in = InputLayer("v", (), (inp.size,), inp.out_type)
    as_map = ReshapeLayer("as_map", ("v",), tuple(inp.shape), inp.out_type)
    g2 = Graph("m", (flat_in, as_map, dataclasses.replace(conv1, inputs=("as_map",)), conv2), (conv2.name,))
    g2.verify()
    plan_design(g2, 2)  # a reshape of the input is still the input: fine
    mlp = cnn_graph("conv_s1")
    fc = mlp.layers[-1]
    back = ReshapeLayer("back", (fc.name,), (5, 1, 1), fc.out_type)
    conv = dataclasses.replace(conv1, name="c3", inputs=("back",), in_shape=(5, 1, 1), shape=(3, 1, 1),
                               kernel=(1, 1), stride=(1, 1), pads=(0, 0, 0, 0),
                               weights=DenseWeights(np.ones((3, 5), np.int64)))
    conv = dataclasses.replace(conv, acc_type=FixedType(24, 12))
    g3 = Graph("bad", (*mlp.layers, back, conv), ("c3",))
    g3.verify()
    with pytest.raises(UnsupportedError, match="c3.*must read the model input or another feature-map stage"):
        plan_design(g3, 2)


@pytest.mark.parametrize("parallelism", [3, 4])
def test_a_pool_keeps_each_channel_in_the_lane_of_its_bank(parallelism: int) -> None:
    """Depthwise stages after a window engine read one bank per lane: one copy of the map."""
    plan = plan_design(cnn_graph("lenet"), parallelism)
    by_name = {p.name: p for p in plan.hardware_layers}
    for conv, pool in (("conv1", "pool1"), ("conv2", "pool2")):
        c, p = by_name[conv], by_name[pool]
        assert p.lanes == c.lanes
        np.testing.assert_array_equal(p.schedule.row_lane, c.schedule.row_lane)
        t = tap_fields(p)
        for lane in range(p.lanes):
            assert set(t.bank[lane].tolist()) == {lane}  # padding entries included


@pytest.mark.parametrize("kind", ["residual", "concat"])
def test_a_map_read_twice_gets_one_buffer_per_reader(kind: str) -> None:
    g = cnn_graph(kind)
    plan = plan_design(g, 3)
    assert not plan.is_chain
    by_name = {p.name: p for p in plan.hardware_layers}
    merge = by_name["sum" if kind == "residual" else "cat"]
    assert len(merge.in_buffers) == 2
    for k, (src, buf) in enumerate(zip(merge.layer.inputs, merge.in_buffers, strict=True)):
        producer = by_name[src]
        assert buf in producer.out_buffers and buf.fm is not None
        assert merge.window.source_channels[k] == buf.fm.channels
    # every reader of every buffer is a distinct (consumer, input) edge; each copy has its consumer's ports
    edges = [(p.name, k) for p in plan.hardware_layers for k in range(len(p.in_buffers))]
    assert len({id(b) for p in plan.hardware_layers for b in p.in_buffers}) == len(edges)
    t = tap_fields(merge)
    src, ci, _, _ = tap_sources(merge)
    np.testing.assert_array_equal(t.src, src)
    c_out = merge.window.out_shape[0]
    for lane, rows in enumerate(merge.schedule.lane_rows):
        e = 0
        for c in rows:  # an Add row sums channel c of both inputs; a Concat row takes one input's channel
            want = [(0, c), (1, c)] if kind == "residual" else [(0, c) if c < 3 else (1, c - 3)]
            got = [(int(src[lane, e + i]), int(ci[lane, e + i])) for i in range(len(want))]
            assert got == want, (lane, c, got)
            e += len(want)
    assert merge.cycles.ii == 1 + merge.window.out_pixels * merge.entries + WINDOW_DRAIN
    assert c_out == (4 if kind == "residual" else 6)
