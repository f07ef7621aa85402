"""Verilog backend: spells the hardware plan with the hand-written ``ff_*`` library (``templates/rtl/lib``).

``emit_rtl(plan, dest)`` writes the design; its cycles and resources are the plan's
(:mod:`fpga_flow.hw`), checked against RTL simulation and yosys by ``hw_tests/`` and the benchmarks.
"""

from .emit import LIBRARY_FILES, TOP_MODULE, emit_rtl, library_dir, render_context, spell_engines, write_mem
from .engines import RTL_ENGINES, RtlEngine, spell_engine
from .spelling import OVF_CODE, RND_CODE, VerilogFixed, verilog_fixed

__all__ = [
    "LIBRARY_FILES",
    "OVF_CODE",
    "RND_CODE",
    "RTL_ENGINES",
    "TOP_MODULE",
    "RtlEngine",
    "VerilogFixed",
    "emit_rtl",
    "library_dir",
    "render_context",
    "spell_engine",
    "spell_engines",
    "verilog_fixed",
    "write_mem",
]
