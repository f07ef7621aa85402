"""``fpga-flow sweep MODEL.onnx [MODEL2.onnx ...] --board B [--board ...] --parallelism 1,4,16 --storage auto,csr
-o SWEEP/``: design-space exploration on Dask (:mod:`fpga_flow.sweep`).

Exit status: 0 when every point succeeded, 1 when some failed (their errors are in the results),
2 on a usage error (no model, a bad stage, an unreachable scheduler).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fpga_flow.errors import FlowError
from fpga_flow.passes.storage import STORAGE_KINDS
from fpga_flow.sweep import STAGES, SweepOptions, expand_points, run_sweep, write_sweep


def _split(values: list[str] | None, default: list[str]) -> list[str]:
    """Repeated and comma-separated values, in order, without empties."""
    out = [v.strip() for arg in (values or []) for v in arg.split(",") if v.strip()]
    return out or default


def _ints(values: list[str] | None) -> list[int]:
    out = []
    for v in _split(values, ["1"]):
        try:
            out.append(int(v))
        except ValueError:
            raise FlowError(f"--parallelism takes integers (e.g. 1,4,16), got '{v}'") from None
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", type=Path, metavar="MODEL.onnx", help="ONNX models (plain float or QONNX)")
    p.add_argument("--board", action="append", metavar="B[,B...]",
                   help="target board(s), repeatable or comma-separated (default pynq-z2)")
    p.add_argument("--parallelism", "-P", action="append", metavar="P[,P...]",
                   help="MAC lanes per layer, e.g. 1,4,16 (default 1)")
    p.add_argument("--storage", action="append", metavar="S[,S...]",
                   help=f"weight storage(s): {', '.join(STORAGE_KINDS)} (default auto)")
    p.add_argument("--precision", action="append", metavar="TYPE",
                   help="type for float tensors without a Quant, e.g. 'ap_fixed<16,6>'; repeat for several "
                   "(not comma-separated: types contain commas)")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="SWEEP",
                   help="sweep folder: results.csv/json, report.md, plots/, cache/, points/")
    p.add_argument("--stages", default="estimate", metavar="S[,S...]",
                   help=f"stages per point, from {','.join(STAGES)} (default estimate: the plan only, no project "
                   "tree; the others build SWEEP/points/<id>/)")
    p.add_argument("--synth-front", action="store_true",
                   help="run synth only on the points of the estimated Pareto front (adds synth to --stages)")
    p.add_argument("--objective", default="latency", choices=("latency", "ii"),
                   help="time axis of the Pareto fronts (default latency)")
    p.add_argument("--samples", type=int, default=8, help="stimulus samples of the csim/cosim stages (default 8)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="an existing Dask scheduler (tcp://host:8786); default: an embedded LocalCluster")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes of the embedded LocalCluster (default: one per core)")
    p.add_argument("--tool-resource", default=None, metavar="NAME",
                   help="Dask worker resource the csim/cosim/synth tasks need (workers started with --resources "
                   "NAME=1, e.g. the ones with Vivado)")
    p.add_argument("--retry-failed", action="store_true", help="recompute points whose cached result is an error")


def run(args: argparse.Namespace) -> int:
    stages = _split([args.stages], ["estimate"])
    if args.synth_front and "synth" not in stages:
        stages.append("synth")
    options = SweepOptions(stages=tuple(stages), scheduler=args.scheduler, workers=args.workers,
                           synth_front=args.synth_front, retry_failed=args.retry_failed,
                           tool_resource=args.tool_resource, objective=args.objective)
    if args.samples < 1:
        raise FlowError(f"--samples must be at least 1, got {args.samples}")
    precisions: list[str | None] = list(args.precision) if args.precision else [None]
    points = expand_points(args.models, _split(args.board, ["pynq-z2"]), _ints(args.parallelism),
                           _split(args.storage, ["auto"]), precisions, samples=args.samples)
    result = run_sweep(points, args.out, options)
    paths = write_sweep(args.out, points, result, options)
    fronts = sum(1 for r in result.rows if r.get("front_lut"))
    print(f"sweep: {len(points)} point(s), {len(points) - result.failed} ok, {result.failed} failed, "
          f"{result.cached} from the cache; {fronts} on the {options.objective}/LUT front")
    print(f"  results: {paths['csv']}  {paths['json']}")
    print(f"  report:  {paths['report']}  plots: {args.out / 'plots'}/")
    return 1 if result.failed else 0
