"""Test-suite settings shared by tests/ and hw_tests/."""

import os

# Verilator's C++ at -O0: the suite's designs are small, so building dominates simulating
# (fpga_flow.sim.rtl_sim.OPT_ENV); a value already set in the environment wins.
os.environ.setdefault("FPGA_FLOW_VERILATOR_OPT", "-O0")
