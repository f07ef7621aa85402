"""``fpga-flow synth OUT [--top fpga_flow_top] [--yosys PATH]``: yosys synthesis of the generated Verilog.

Writes ``OUT/synth/`` (script, log, ``stat -json``), the report's ``"synth"`` section, and
replaces the ``"fit"`` section by one based on the synthesized counts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fpga_flow.analysis.fit import fit_report
from fpga_flow.boards import load_board
from fpga_flow.commands._common import print_fit_verdict
from fpga_flow.pipeline import progress
from fpga_flow.report import load_report, write_report
from fpga_flow.sim.synth import run_synth


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=Path, metavar="OUT", help="project folder written by `fpga-flow build`")
    p.add_argument("--top", default="fpga_flow_top", help="top module (default fpga_flow_top)")
    p.add_argument("--yosys", default=None, metavar="PATH", help="yosys executable (default: yosys on PATH)")


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:g}"
    return str(int(v)) if isinstance(v, float) else str(v)


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    report = load_report(out)
    board = load_board(report["board"]["name"])
    res = run_synth(out, board, top=args.top, yosys=args.yosys, log=progress)
    fit = fit_report(report.get("plan", {}), board, res.counts)
    report["synth"] = res.section(out.resolve())
    report["fit"] = fit
    write_report(out, report)  # report.json and report.md, both sections at once
    c = res.counts
    print(f"synth: {res.tool}, synth_xilinx -family {res.family}, top {res.top}, {res.seconds:.1f} s")
    print(f"  LUT {c['lut']} (logic {c['lut_logic']}, LUTRAM {c['lutram']}, SRL {c['srl']}), FF {c['ff']}, "
          f"DSP {c['dsp']}, BRAM36 {_fmt(c['bram36'])} (RAMB36 {c['ramb36']}, RAMB18 {c['ramb18']})")
    if c["unmapped"]:
        print(f"  warning: {c['unmapped']} cell(s) left unmapped; see {res.log}")
    print(f"  {'resource':<9} {'kernel':>9} {'platform':>9} {'used':>9} {'available':>10} {'util':>7}")
    for row in fit["resources"]:
        util = row["utilization_percent"]
        print(f"  {row['resource']:<9} {_fmt(row['synth'] if row['synth'] is not None else row['estimate']):>9} "
              f"{_fmt(row['platform']):>9} {_fmt(row['used']):>9} {row['available']:>10} "
              f"{(f'{util:.1f}%' if util is not None else '-'):>7}{'' if row['fits'] else '  OVER'}")
    scope = ", DMA and interconnect included" if fit["platform"] else ""
    print_fit_verdict(fit, f"fits {board.name} (synthesis{scope})")
    print(f"  log: {res.log}   report: {out}/report.md")
    return 0
