"""Design-space exploration: the cross product of build options, each point an ordinary build, run on Dask.

::

    points = expand_points(["m.onnx"], ["pynq-z2"], [1, 4, 16], ["auto", "csr"])
    result = run_sweep(points, Path("SWEEP"), SweepOptions(stages=("estimate", "csim")))
    write_sweep(Path("SWEEP"), points, result, options)   # results.csv/json, report.md, plots/

``fpga-flow sweep`` (:mod:`fpga_flow.commands.sweep`) is the command line of the same calls.
Dask is imported only when a sweep runs.
"""

from fpga_flow.sweep.evaluate import evaluate_point
from fpga_flow.sweep.pareto import dominates, pareto_front
from fpga_flow.sweep.points import STAGES, DesignPoint, expand_points, fpga_flow_version, point_key
from fpga_flow.sweep.report import write_sweep
from fpga_flow.sweep.results import COLUMNS, FRONT_RESOURCES
from fpga_flow.sweep.run import SweepOptions, SweepResult, cluster_client, run_sweep

__all__ = [
    "COLUMNS", "FRONT_RESOURCES", "STAGES", "DesignPoint", "SweepOptions", "SweepResult", "cluster_client",
    "dominates", "evaluate_point", "expand_points", "fpga_flow_version", "pareto_front", "point_key", "run_sweep",
    "write_sweep",
]
