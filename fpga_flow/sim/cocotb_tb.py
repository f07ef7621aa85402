"""cocotb testbench for any design with the contract-4 ports (ours or Vivado HLS's exported RTL).

It reads ``OUT/tb_data`` (:mod:`fpga_flow.tbdata`), drives the input samples on ``in_r_*`` and
checks every ``out_r_*`` beat bit for bit against the expected mantissas packed by
:mod:`fpga_flow.stream`. Two cocotb tests run in one simulation:

* ``ideal_stream``: TVALID always high when data is left, TREADY always high, samples back to
  back; measures latency (first input beat to last output beat of sample 0) and the initiation
  interval (cycles between the last beats of consecutive samples);
* ``random_backpressure``: random TVALID gaps and random TREADY backpressure. A gap or a stall lasts
  1 to ``gap_burst`` / ``stall_burst`` cycles (uniform); :func:`fpga_flow.sim.rtl_sim.stall_bursts`
  scales them to the design's initiation interval, so that a compute-bound design (few beats, long
  II) is stalled as hard as an I/O-bound one. With ``rounds`` > 1 the stimulus is streamed that many
  times back to back, round ``r`` stressing both sides, then the output only, then the input only
  (``r`` mod 3), each with its own random pattern.

The simulation is configured by one environment variable, :data:`ENV_CONFIG` (JSON, written by
:func:`fpga_flow.sim.rtl_sim.run_rtl_sim`), and each test adds its measurements and mismatches to
the JSON result file named there. Everything is cycle-bounded: a design that hangs fails with the
count of samples it produced.

Per clock cycle the bench does, at the falling edge: drivers set TVALID/TDATA/TLAST/TREADY; then
at ReadOnly: every handshake that the next rising edge will complete is observed. So no value is
sampled on the edge that changes it, on every simulator.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, First, ReadOnly, RisingEdge, Timer
from cocotb.utils import get_sim_time

from fpga_flow.sim.rtl_sim import ENV_CONFIG
from fpga_flow.stream import StreamFormat
from fpga_flow.tbdata import read_tb_data

__all__ = [
    "ENV_CONFIG",
    "AxisSink",
    "AxisSource",
    "Bench",
    "BenchConfig",
    "Scoreboard",
    "TbMismatch",
]

#: Cycles to keep watching the output after the last expected beat (extra beats are errors).
TAIL_CYCLES = 32
#: Reset length in cycles (Vivado HLS designs want a few).
RESET_CYCLES = 8


@dataclass(frozen=True)
class BenchConfig:
    """What the bench reads from :data:`ENV_CONFIG`."""

    tb_dir: str
    result: str
    seed: int = 0
    gap_prob: float = 0.3
    ready_prob: float = 0.6
    max_samples: int | None = None
    max_cycles: int = 1_000_000
    gap_burst: int = 1
    stall_burst: int = 1
    rounds: int = 1
    clock: str = "ap_clk"
    reset: str = "ap_rst_n"
    in_prefix: str = "in_r"
    out_prefix: str = "out_r"
    period_ns: int = 10

    @classmethod
    def from_env(cls) -> BenchConfig:
        raw = os.environ.get(ENV_CONFIG)
        if not raw:
            raise RuntimeError(f"{ENV_CONFIG} is not set; run this bench through fpga_flow.sim.rtl_sim.run_rtl_sim")
        return cls(**json.loads(raw))


@dataclass(frozen=True)
class TbMismatch:
    """One wrong output element (``element`` is -1 for padding bits or a framing error)."""

    sample: int
    element: int
    expected: int
    got: int
    beat: int = -1
    note: str = ""

    def __str__(self) -> str:
        if self.element < 0:
            return f"sample {self.sample}, beat {self.beat}: {self.note}"
        return f"sample {self.sample}, element {self.element}: expected {self.expected}, got {self.got}"


def _bit(sig: Any) -> int:
    return 1 if str(sig.value) == "1" else 0


def _word(sig: Any) -> int | None:
    try:
        return int(sig.value.to_unsigned())
    except ValueError:  # X or Z
        return None


class AxisSource:
    """AXI4-Stream master driver: offers beats in order, holds TVALID until accepted (AXI rule),
    inserts a random gap before a new beat with probability ``gap_prob``."""

    def __init__(self, dut: Any, prefix: str, samples: list[list[int]], gap_prob: float, rng: random.Random,
                 burst: int = 1, profile: Any = None):
        self.tdata = getattr(dut, f"{prefix}_TDATA")
        self.tvalid = getattr(dut, f"{prefix}_TVALID")
        self.tready = getattr(dut, f"{prefix}_TREADY")
        self.tlast = getattr(dut, f"{prefix}_TLAST")
        self.beats = [(s, b, word, b == len(beats) - 1) for s, beats in enumerate(samples) for b, word in
                      enumerate(beats)]
        self.gap_prob = gap_prob
        self.rng = rng
        self.burst = max(1, int(burst))
        self.profile = profile  # beat index -> gap probability (rounds), else gap_prob throughout
        self.gap_until = -1
        self.next = 0
        self.offering = False
        self.accepted: list[int] = []  # handshake cycle per beat

    @property
    def done(self) -> bool:
        return self.next >= len(self.beats)

    def idle(self) -> None:
        self.tvalid.value = 0
        self.tlast.value = 0
        self.tdata.value = 0

    def drive(self, cycle: int = 0) -> None:
        if self.offering or self.done:
            if self.done:
                self.tvalid.value = 0
            return
        if cycle < self.gap_until:
            self.tvalid.value = 0
            return
        p = self.profile(self.next) if self.profile is not None else self.gap_prob
        if p and self.rng.random() < p:
            if self.burst > 1:
                self.gap_until = cycle + self.rng.randint(1, self.burst)
            self.tvalid.value = 0
            return
        _, _, word, last = self.beats[self.next]
        self.tdata.value = word
        self.tlast.value = int(last)
        self.tvalid.value = 1
        self.offering = True

    def observe(self, cycle: int) -> None:
        if self.offering and _bit(self.tready):
            self.accepted.append(cycle)
            self.next += 1
            self.offering = False

    def first_beat_cycles(self, beats_per_sample: int) -> list[int]:
        return self.accepted[::beats_per_sample]


class AxisSink:
    """AXI4-Stream slave monitor: random TREADY (probability ``ready_prob``), records each beat."""

    def __init__(self, dut: Any, prefix: str, ready_prob: float, rng: random.Random, burst: int = 1,
                 profile: Any = None):
        self.tdata = getattr(dut, f"{prefix}_TDATA")
        self.tvalid = getattr(dut, f"{prefix}_TVALID")
        self.tready = getattr(dut, f"{prefix}_TREADY")
        self.tlast = getattr(dut, f"{prefix}_TLAST")
        self.ready_prob = ready_prob
        self.rng = rng
        self.burst = max(1, int(burst))
        self.profile = profile  # beats received -> TREADY probability (rounds), else ready_prob throughout
        self.stall_until = -1
        self.ready = 0
        self.beats: list[tuple[int | None, int, int]] = []  # (tdata, tlast, cycle)

    def drive(self, cycle: int = 0) -> None:
        p = self.profile(len(self.beats)) if self.profile is not None else self.ready_prob
        if cycle < self.stall_until:
            self.ready = 0
        elif p >= 1 or self.rng.random() < p:
            self.ready = 1
        else:
            self.ready = 0
            if self.burst > 1:
                self.stall_until = cycle + self.rng.randint(1, self.burst)
        self.tready.value = self.ready

    def observe(self, cycle: int) -> None:
        if self.ready and _bit(self.tvalid):
            self.beats.append((_word(self.tdata), _bit(self.tlast), cycle))


@dataclass
class Scoreboard:
    """Checks output beats against the expected samples, bit for bit, TLAST included."""

    fmt: StreamFormat
    expected: list[list[int]]
    per_round: int = 0  # samples per pass of the stimulus (rounds): mismatches name the stimulus sample
    mismatches: list[TbMismatch] = field(default_factory=list)
    n_mismatches: int = 0
    max_kept: int = 100

    def _add(self, m: TbMismatch) -> None:
        self.n_mismatches += 1
        if len(self.mismatches) < self.max_kept:
            self.mismatches.append(m)

    def check(self, beats: list[tuple[int | None, int, int]]) -> list[int]:
        """Compare; returns the cycle of each sample's last beat (as far as received)."""
        per = self.fmt.beats
        last_cycles: list[int] = []
        mask = (1 << self.fmt.width) - 1
        n_exp = len(self.expected) * per
        for i, (word, tlast, cycle) in enumerate(beats):
            s, b = divmod(i, per)
            if i < n_exp and self.per_round:
                s %= self.per_round
            if i >= n_exp:
                self._add(TbMismatch(s, -1, 0, word or 0, b, "extra output beat after the last sample"))
                continue
            want = self.expected[i // per][b]
            want_last = int(b == per - 1)
            if tlast != want_last:
                self._add(TbMismatch(s, -1, want_last, tlast, b, f"TLAST={tlast}, expected {want_last}"))
            if b == per - 1:
                last_cycles.append(cycle)
            if word is None:
                self._add(TbMismatch(s, -1, want, 0, b, "TDATA has X/Z bits"))
                continue
            if word == want:
                continue
            found = False
            for k in range(self.fmt.per_beat):
                e = b * self.fmt.per_beat + k
                if e >= self.fmt.n_elems:
                    break
                got_v = (word >> (k * self.fmt.width)) & mask
                want_v = (want >> (k * self.fmt.width)) & mask
                if got_v != want_v:
                    found = True
                    self._add(TbMismatch(s, e, self._signed(want_v), self._signed(got_v), b))
            if not found:
                self._add(TbMismatch(s, -1, want, word, b, f"padding bits differ: TDATA {word:#x}, expected {want:#x}"))
        return last_cycles

    def _signed(self, v: int) -> int:
        if self.fmt.signed and v >> (self.fmt.width - 1):
            return v - (1 << self.fmt.width)
        return v


class Bench:
    """Clock, reset and the per-cycle loop around one source, one sink and one scoreboard."""

    def __init__(self, dut: Any, cfg: BenchConfig, phase: str, gap_prob: float, ready_prob: float,
                 gap_burst: int = 1, stall_burst: int = 1, rounds: int = 1):
        self.dut = dut
        self.cfg = cfg
        self.phase = phase
        data = read_tb_data(Path(cfg.tb_dir))
        n = data.inputs.shape[0] if cfg.max_samples is None else min(cfg.max_samples, data.inputs.shape[0])
        rounds = max(1, int(rounds))
        self.n_samples = int(n) * rounds
        self.in_fmt = data.in_stream
        self.out_fmt = data.out_stream
        rng = random.Random(f"{cfg.seed}:{phase}")
        in_beats, out_beats = int(n) * self.in_fmt.beats, int(n) * self.out_fmt.beats
        gap_at = _round_profile(in_beats, gap_prob, 0.0, (1, 0, 1)) if rounds > 1 else None
        ready_at = _round_profile(out_beats, ready_prob, 1.0, (1, 1, 0)) if rounds > 1 else None
        self.source = AxisSource(dut, cfg.in_prefix, self.in_fmt.pack(data.inputs[:n]) * rounds, gap_prob, rng,
                                 gap_burst, gap_at)
        self.sink = AxisSink(dut, cfg.out_prefix, ready_prob, rng, stall_burst, ready_at)
        self.board = Scoreboard(self.out_fmt, self.out_fmt.pack(data.expected[:n]) * rounds, int(n))
        self.clk = getattr(dut, cfg.clock)
        self.rst = getattr(dut, cfg.reset)

    async def reset(self) -> None:
        Clock(self.clk, self.cfg.period_ns, unit="ns").start()  # each cocotb test starts its own
        self.rst.value = 0
        start = getattr(self.dut, "ap_start", None)  # HLS tops built with ap_ctrl_hs: keep running
        if start is not None:
            start.value = 1
        self.source.idle()
        self.sink.tready.value = 0
        for _ in range(RESET_CYCLES):
            await RisingEdge(self.clk)
        await FallingEdge(self.clk)
        self.rst.value = 1

    def _quiet(self) -> bool:
        """The next port event needs the kernel: the source waits for TREADY (or is done) and the
        sink sees no TVALID (values as observed in this cycle's read-only phase)."""
        src = self.source
        waiting = src.done or (src.offering and not _bit(src.tready))
        return waiting and not _bit(self.sink.tvalid)

    async def run(self) -> dict[str, Any]:
        await self.reset()
        want = self.n_samples * self.out_fmt.beats
        fe = FallingEdge(self.clk)
        ro = ReadOnly()
        period = self.cfg.period_ns
        cycle = 0
        tail = None
        errors: list[str] = []
        await fe
        t0 = get_sim_time(unit="ns")
        while True:
            # the cycle index comes from the simulation time, so quiet stretches can be skipped below
            cycle = round((get_sim_time(unit="ns") - t0) / period)
            self.source.drive(cycle)
            self.sink.drive(cycle)
            await ro
            self.source.observe(cycle)
            self.sink.observe(cycle)
            cycle += 1
            if tail is None and len(self.sink.beats) >= want and self.source.done:
                tail = cycle + TAIL_CYCLES
            if tail is not None and cycle >= tail:
                break
            if cycle < self.cfg.max_cycles and tail is None and self._quiet():
                # nothing can happen at the ports until the kernel takes a beat or offers one: wait for
                # that edge instead of stepping every cycle (a convolution computes for many cycles)
                await First(RisingEdge(self.source.tready), RisingEdge(self.sink.tvalid),
                            Timer((self.cfg.max_cycles - cycle) * period, unit="ns"))
            await fe
            if cycle >= self.cfg.max_cycles:
                errors.append(
                    f"timeout after {cycle} cycles: {len(self.source.accepted)} of {len(self.source.beats)} input "
                    f"beats accepted, {len(self.sink.beats)} of {want} output beats received"
                )
                break
        last_out = self.board.check(self.sink.beats)
        first_in = self.source.first_beat_cycles(self.in_fmt.beats)
        done = min(len(first_in), len(last_out))
        lat = [last_out[s] - first_in[s] for s in range(done)]
        intervals = [last_out[s] - last_out[s - 1] for s in range(1, len(last_out))]
        return {
            "phase": self.phase,
            "n_samples": self.n_samples,
            "samples_out": len(last_out),
            "cycles": (last_out[-1] - first_in[0] + 1) if last_out and first_in else cycle,
            "latency": lat[0] if lat else None,
            "latencies": lat,
            "ii": intervals[-1] if intervals else None,
            "intervals": intervals,
            "n_mismatches": self.board.n_mismatches,
            "mismatches": [asdict(m) for m in self.board.mismatches],
            "errors": errors,
        }


def _round_profile(beats_per_round: int, active: float, idle: float, pattern: tuple[int, int, int]) -> Any:
    """Probability by beat index: ``active`` in the rounds where ``pattern[r % 3]`` is 1, else ``idle``."""
    def at(beat: int) -> float:
        return active if pattern[(beat // max(1, beats_per_round)) % 3] else idle
    return at


def _record(cfg: BenchConfig, result: dict[str, Any]) -> None:
    path = Path(cfg.result)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[result["phase"]] = result
    path.write_text(json.dumps(data, indent=1))


async def _run_phase(dut: Any, phase: str, gap_prob: float, ready_prob: float, gap_burst: int = 1,
                     stall_burst: int = 1, rounds: int = 1) -> None:
    cfg = BenchConfig.from_env()
    bench = Bench(dut, cfg, phase, gap_prob, ready_prob, gap_burst, stall_burst, rounds)
    result = await bench.run()
    _record(cfg, result)
    problems = result["errors"] + [str(TbMismatch(**m)) for m in result["mismatches"][:10]]
    assert not problems, f"{phase}: " + "; ".join(problems)


@cocotb.test(timeout_time=100_000, timeout_unit="ms")
async def ideal_stream(dut: Any) -> None:
    """Back-to-back samples, no gaps, no backpressure: correctness, latency and II."""
    await _run_phase(dut, "ideal", 0.0, 1.0)


@cocotb.test(timeout_time=100_000, timeout_unit="ms")
async def random_backpressure(dut: Any) -> None:
    """Random TVALID gaps and TREADY backpressure in bursts, over ``rounds`` passes: correctness."""
    cfg = BenchConfig.from_env()
    await _run_phase(dut, "backpressure", cfg.gap_prob, cfg.ready_prob, cfg.gap_burst, cfg.stall_burst, cfg.rounds)
