"""The backend-neutral hardware plan: per layer one plan (engine, lanes, schedule, ROMs, cycles,
resources), computed once per build and spelled by the HLS and RTL backends.

* :mod:`.schedule` -- rows dealt to lanes (the one rule);
* :mod:`.plan` -- the plan records;
* :mod:`.planners` -- layer kind -> planner (the extension table);
* :mod:`.engines` -- per engine, its cycle and resource model;
* :mod:`.cost` -- resources of the Verilog library's blocks (checked against yosys);
* :mod:`.design` -- :func:`plan_design`, the whole design (one ``P``, or lanes per layer);
* :mod:`.folding` -- :func:`fold`, lanes per layer chosen to balance the stages and fit the board;
* :mod:`.figures` -- the plan's figures as plain data for reports, ``inspect`` and fit.
"""

from fpga_flow.hw.cost import Cost
from fpga_flow.hw.design import Parallelism, check_parallelism, plan_design
from fpga_flow.hw.figures import plan_figures
from fpga_flow.hw.folding import board_budget, fold
from fpga_flow.hw.plan import (
    ENGINES,
    BufferPlan,
    Cycles,
    DesignPlan,
    Folding,
    LayerPlan,
    MacFields,
    Rom,
    StreamPlan,
)
from fpga_flow.hw.planners import PLANNERS, plan_layer, plan_pointwise, register_planner
from fpga_flow.hw.schedule import Schedule, deal_rows, make_schedule

__all__ = [
    "ENGINES",
    "PLANNERS",
    "BufferPlan",
    "Cost",
    "Cycles",
    "DesignPlan",
    "Folding",
    "LayerPlan",
    "MacFields",
    "Parallelism",
    "Rom",
    "Schedule",
    "StreamPlan",
    "board_budget",
    "check_parallelism",
    "deal_rows",
    "fold",
    "make_schedule",
    "plan_design",
    "plan_figures",
    "plan_layer",
    "plan_pointwise",
    "register_planner",
]
