"""cocotb side of test_rtl_window.py: write each input map into the window engine's input buffer
(element by element at its (bank, address) of the pixel-major layout; a merge's inputs one after
another, each committed on its own last element), read every output element back, compare with the
numpy reference; check the engine's cycle count.

Signals are driven and sampled at falling edges (the design changes only on rising edges)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

ENV = "FPGA_FLOW_WINDOW_CASE"


@cocotb.test(timeout_time=50, timeout_unit="ms")
async def window_engine_vs_numpy(dut) -> None:
    case = json.loads(Path(os.environ[ENV]).read_text())
    xs, expected = case["inputs"], case["expected"]
    in_bank, in_addr = case["in_bank"], case["in_addr"]
    in_src = case.get("in_src") or [0] * len(in_bank)
    bank_of, addr_of = case["bank_of"], case["addr_of"]
    w_x, w_out, out_signed = case["w_x"], case["w_out"], case["out_signed"]
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst_n.value = 0
    for sig in (dut.x_commit, dut.x_src, dut.x_we, dut.x_bank, dut.x_waddr, dut.x_wdata, dut.y_release, dut.y_bank,
                dut.y_addr):
        sig.value = 0
    for _ in range(4):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst_n.value = 1

    cycle = 0  # rising edges since reset; at a falling edge, the current cycle
    commit_cycle: list[int] = []
    valid_cycle: list[int] = []
    bad: list[str] = []

    async def count() -> None:
        nonlocal cycle
        while True:
            await RisingEdge(dut.clk)
            cycle += 1

    async def writer() -> None:
        for x in xs:
            await FallingEdge(dut.clk)
            while str(dut.x_ready.value) != "1":
                await FallingEdge(dut.clk)
            for i, v in enumerate(x):
                if i:
                    await FallingEdge(dut.clk)
                dut.x_we.value = 1
                dut.x_src.value = in_src[i]
                dut.x_bank.value = in_bank[i]
                dut.x_waddr.value = in_addr[i]
                dut.x_wdata.value = v & ((1 << w_x) - 1)
                dut.x_commit.value = int(i == len(x) - 1 or in_src[i + 1] != in_src[i])
            commit_cycle.append(cycle)
            await FallingEdge(dut.clk)
            dut.x_we.value = 0
            dut.x_commit.value = 0

    cocotb.start_soon(count())
    cocotb.start_soon(writer())
    for s, want in enumerate(expected):
        await FallingEdge(dut.clk)
        while str(dut.y_valid.value) != "1":
            assert cycle < 1_000_000, "engine never produced a sample"
            await FallingEdge(dut.clk)
        valid_cycle.append(cycle)
        for j, e in enumerate(want):
            dut.y_bank.value = bank_of[j]
            dut.y_addr.value = addr_of[j]
            await FallingEdge(dut.clk)  # one cycle of read latency
            got = int(dut.y_data.value.to_unsigned())
            if out_signed and got >> (w_out - 1):
                got -= 1 << w_out
            if got != e and len(bad) < 20:
                bad.append(f"sample {s}, element {j}: expected {e}, got {got}")
        dut.y_release.value = 1
        await FallingEdge(dut.clk)
        dut.y_release.value = 0
    dut._log.info("commit cycles %s, output-valid cycles %s", commit_cycle, valid_cycle)
    assert not bad, "\n".join(bad)
    # first sample: input committed -> output visible = 1 hand-off cycle + the engine's cycles
    assert valid_cycle[0] - commit_cycle[0] == case["engine_cycles"] + 1, (commit_cycle, valid_cycle)
