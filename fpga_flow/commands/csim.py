"""``fpga-flow csim OUT [--input X.npy --output Y.npy]``: C simulation of a built project with g++.

A project written by ``fpga-flow build`` is verified first (:func:`fpga_flow.checksums.verify_project`):
``tb_data/`` and the ROM files must match the checksums of ``report.json``, ``meta.json`` the report's
types. A tree without ``report.json`` (HLS sources and tb_data written by other means) is simulated
unverified, with a note.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fpga_flow.checksums import verify_project
from fpga_flow.inputs import check_output_path
from fpga_flow.report import REPORT_JSON, load_report, update_report
from fpga_flow.sim.csim import default_jobs, run_csim

#: Mismatches printed on the console (the full list is in OUT/hls/csim_build/csim.log).
SHOWN = 10


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=Path, metavar="OUT", help="project folder written by `fpga-flow build`")
    p.add_argument("--input", type=Path, default=None, metavar="X.npy",
                   help="float input (N x features) to run instead of the tb_data stimulus (no comparison)")
    p.add_argument("--output", type=Path, default=None, metavar="Y.npy",
                   help="write the outputs here as float64 (exact fixed-point values)")
    p.add_argument("--opt-level", type=int, default=2, choices=(0, 1, 2, 3),
                   help="g++ optimization level of the kernels and testbench (default 2)")


def _progress(msg: str) -> None:
    print(f"fpga-flow {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    has_report = (args.out / REPORT_JSON).is_file()
    if has_report:
        verify_project(args.out, load_report(args.out))
    elif (args.out / "tb_data").is_dir():
        _progress(f"csim: note: {args.out} has no {REPORT_JSON}, so tb_data/ is not checked against a build's "
                  "checksums")
    if args.output is not None:
        check_output_path(args.output)
    res = run_csim(args.out, args.input, args.output, opt=f"-O{args.opt_level}", jobs=default_jobs(), log=_progress)
    for line in res.stream_errors[:SHOWN]:
        print(line)
    if res.compared:
        if res.mismatches:
            print(f"csim: {res.mismatches} output value(s) differ from the bit-exact reference "
                  f"over {res.n_samples} samples; first:")
            for m in res.first_mismatches[:SHOWN]:
                print(f"  sample {m.sample} element {m.element}: expected {m.expected} got {m.got} (mantissas)")
            print(f"  full log: {res.log}")
        elif res.ok:
            print(f"csim: all {res.n_samples} samples equal the bit-exact reference")
    else:
        print(f"csim: ran {res.n_samples} samples")
    if res.stream_errors:
        print(f"csim: {len(res.stream_errors)} stream error(s); full log: {res.log}")
    if res.output_npy is not None:
        print(f"csim: outputs written to {res.output_npy} (float64, {res.out_type})")
    if res.compared and has_report:
        update_report(args.out, "csim", {
            "samples": res.n_samples, "mismatches": res.mismatches, "stream_errors": len(res.stream_errors),
            "bit_exact": res.ok,
        })  # fmt: skip
    return 0 if res.ok else 1
