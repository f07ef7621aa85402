"""ff_axis_unpack -> ff_act_mem -> ff_axis_pack loopback against fpga_flow/stream.py: element
packing (little-end first, padding, partial last beat), TLAST, one beat per cycle, ping-pong
hand-off, under random TVALID gaps and TREADY backpressure; its cycles are the plan's stream stages
(the design of an input-only graph)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hwutil import HW_TESTS, lib_sources, needs_verilator

from fpga_flow.backends.rtl.emit import write_mem
from fpga_flow.backends.rtl.spelling import clog2
from fpga_flow.fixed import FixedType
from fpga_flow.hw import plan_design
from fpga_flow.ir import Graph, InputLayer
from fpga_flow.sim.rtl_sim import run_rtl_sim
from fpga_flow.stream import stream_format
from fpga_flow.tbdata import TbData, write_tb_data

LIB = ("ff_act_mem.v", "ff_axis_unpack.v", "ff_axis_pack.v")


@needs_verilator
@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "width,signed,n",
    [(8, True, 13), (12, False, 11), (24, True, 3), (7, True, 1)],
    ids=["s8x13", "u12x11", "s24x3", "s7x1"],
)
def test_stream_loopback_matches_stream_py(tmp_path: Path, width: int, signed: bool, n: int) -> None:
    fmt = stream_format(width, signed, n)
    k, beats = fmt.per_beat, fmt.beats
    aw, bw = clog2(beats), clog2(k)
    ew = 1 + bw + aw
    words = []
    for b in range(beats):
        w = 0
        for i in range(k):
            e = b * k + i
            if e < n:
                w |= ((1 << (aw + bw)) | ((e % k) << aw) | (e // k)) << (i * ew)
        words.append(w)
    rtl = tmp_path / "rtl"
    rtl.mkdir()
    write_mem(rtl / "pack.mem", words, k * ew)
    t = FixedType(width, width // 2, signed)
    rng = np.random.default_rng(width)
    x = rng.integers(t.min_mantissa, t.max_mantissa + 1, size=(10, n))
    x[0], x[1] = t.min_mantissa, t.max_mantissa
    write_tb_data(tmp_path / "tb", TbData(x, x, t, t))
    res = run_rtl_sim(
        rtl, tmp_path / "tb", top="stream_loopback",
        sources=[*lib_sources(*LIB), HW_TESTS / "rtl" / "stream_loopback.v"],
        build_dir=tmp_path / "build", gap_prob=0.4, ready_prob=0.3, seed=3,
        parameters={"W": width, "N": n, "PER_BEAT": k, "BEATS": beats, "TDATA_W": fmt.tdata_bits, "AW": aw,
                    "BW": bw, "BEAT_AW": clog2(beats), "ROM_FILE": '"pack.mem"'},
    )
    assert res.passed, res.summary()
    # one beat per cycle in, one out: a sample every max(beats, beats + 2) cycles
    assert res.ii == beats + 2
    # the same blocks are the whole design of an input-only graph: the plan's stream stages
    plan = plan_design(Graph("loop", (InputLayer("x", (), (n,), t),), ("x",)).verify(), 1)
    assert plan.layers == () and plan.in_stream.fmt == fmt == plan.out_stream.fmt
    assert (plan.in_stream.cycles.ii, plan.out_stream.cycles.ii) == (beats, beats + 2)
    assert res.ii == plan.ii
    assert res.latency == plan.latency == plan.in_stream.cycles.latency + plan.out_stream.cycles.latency
