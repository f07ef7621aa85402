"""Simulators of a built project: C simulation (g++) and RTL simulation (cocotb)."""
