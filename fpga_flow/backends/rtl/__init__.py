"""Verilog backend: the hand-written ``ff_*`` library (``templates/rtl/lib``) wired per model.

``emit_rtl(graph, dest, parallelism)`` writes the design; ``estimate_cycles(graph, parallelism)``
is its cycle model (checked against RTL simulation by ``hw_tests/``).
"""

from .cycles import estimate_cycles, plan_cycles
from .emit import LIBRARY_FILES, TOP_MODULE, emit_rtl, library_dir, render_context
from .plan import RtlPlan, RtlPlanError, deal_rows, plan_rtl
from .spelling import OVF_CODE, RND_CODE, VerilogFixed, verilog_fixed

__all__ = [
    "LIBRARY_FILES",
    "OVF_CODE",
    "RND_CODE",
    "TOP_MODULE",
    "RtlPlan",
    "RtlPlanError",
    "VerilogFixed",
    "deal_rows",
    "emit_rtl",
    "estimate_cycles",
    "library_dir",
    "plan_cycles",
    "plan_rtl",
    "render_context",
    "verilog_fixed",
]
