"""cocotb side of test_rtl_factored.py: write the input vectors into the engine's input buffer
back to back, read every output row back and compare with the Python reference; measure the
engine's cycles per sample (start -> done) and that consecutive samples run back to back.

Signals are driven and sampled at falling edges (the design changes only on rising edges)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

ENV = "FPGA_FLOW_FACTORED_CASE"


@cocotb.test(timeout_time=20, timeout_unit="ms")
async def factored_engine_vs_reference(dut) -> None:
    case = json.loads(Path(os.environ[ENV]).read_text())
    xs, expected = case["inputs"], case["expected"]
    bank_of, addr_of = case["bank_of"], case["addr_of"]
    w_x, w_out, out_signed = case["w_x"], case["w_out"], case["out_signed"]
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst_n.value = 0
    for sig in (dut.x_commit, dut.x_we, dut.x_waddr, dut.x_wdata, dut.y_release, dut.y_bank, dut.y_addr):
        sig.value = 0
    for _ in range(4):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst_n.value = 1

    cycle = 0  # rising edges since reset; at a falling edge, the current cycle
    commit_cycle: list[int] = []
    start_cycle: list[int] = []
    done_cycle: list[int] = []
    bad: list[str] = []

    async def count() -> None:
        nonlocal cycle
        while True:
            await RisingEdge(dut.clk)
            cycle += 1

    async def watch() -> None:  # the engine's start and done (in_release) strobes
        while True:
            await FallingEdge(dut.clk)
            if str(dut.u_mac.start.value) == "1":
                start_cycle.append(cycle)
            if str(dut.u_mac.in_release.value) == "1":
                done_cycle.append(cycle)

    async def writer() -> None:
        for x in xs:
            await FallingEdge(dut.clk)
            while str(dut.x_ready.value) != "1":
                await FallingEdge(dut.clk)
            for i, v in enumerate(x):
                if i:
                    await FallingEdge(dut.clk)
                dut.x_we.value = 1
                dut.x_waddr.value = i
                dut.x_wdata.value = v & ((1 << w_x) - 1)
                dut.x_commit.value = int(i == len(x) - 1)
            commit_cycle.append(cycle)
            await FallingEdge(dut.clk)
            dut.x_we.value = 0
            dut.x_commit.value = 0

    cocotb.start_soon(count())
    cocotb.start_soon(watch())
    cocotb.start_soon(writer())
    for s, want in enumerate(expected):
        await FallingEdge(dut.clk)
        while str(dut.y_valid.value) != "1":
            assert cycle < 100_000, "engine never produced a sample"
            await FallingEdge(dut.clk)
        for j, e in enumerate(want):
            dut.y_bank.value = bank_of[j]
            dut.y_addr.value = addr_of[j]
            await FallingEdge(dut.clk)  # one cycle of read latency
            got = int(dut.y_data.value.to_unsigned())
            if out_signed and got >> (w_out - 1):
                got -= 1 << w_out
            if got != e and len(bad) < 20:
                bad.append(f"sample {s}, row {j}: expected {e}, got {got}")
        dut.y_release.value = 1
        await FallingEdge(dut.clk)
        dut.y_release.value = 0
    dut._log.info("commit %s, start %s, done %s", commit_cycle, start_cycle, done_cycle)
    assert not bad, "\n".join(bad)
    n = len(xs)
    assert len(start_cycle) == n and len(done_cycle) == n, (start_cycle, done_cycle)
    # cycles per sample: the start cycle through the done cycle
    per_sample = [d - s + 1 for s, d in zip(start_cycle, done_cycle, strict=True)]
    assert per_sample == [case["engine_cycles"]] * n, per_sample
    # back to back: every later input was committed while the engine ran the previous sample,
    # so the engine starts it in the cycle after the previous done
    for s in range(1, n):
        assert commit_cycle[s] < done_cycle[s - 1], (commit_cycle, done_cycle)
        assert start_cycle[s] == done_cycle[s - 1] + 1, (start_cycle, done_cycle)
