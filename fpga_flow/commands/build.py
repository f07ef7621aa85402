"""``fpga-flow build MODEL.onnx --board pynq-z2 -o OUT``: the complete project tree (contract 5)."""

from __future__ import annotations

import argparse
from pathlib import Path

from fpga_flow.commands._common import add_model_arguments, parallelism_arg, print_fit_verdict
from fpga_flow.inputs import check_sample_count
from fpga_flow.pipeline import BuildOptions, build


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument("--board", default="pynq-z2", help="target board (see `fpga-flow boards`; default pynq-z2)")
    p.add_argument("-o", "--out", required=True, type=Path, help="project folder to write (replaced atomically)")
    p.add_argument("--parallelism", "-P", type=parallelism_arg, default=None, metavar="P|auto",
                   help="MAC lanes of every layer, or 'auto' (the default): lanes chosen per layer, the fastest design "
                   "that fits the board with room for placement (--target-ii/--target-us: the fewest lanes meeting it)")
    p.add_argument("--skip-zeros", default="off", metavar="off|all|auto|LAYER[,LAYER...]",
                   help="build these fully-connected layers as activation-skipping engines (only nonzero inputs are "
                   "multiplied; cycles depend on the data, the plan counts every input nonzero); 'auto': the layers "
                   "that make the design faster on the stimulus (also after the automatic folding, within its budget); "
                   "'all' and a list need --parallelism")
    p.add_argument("--target-ii", type=int, default=None, metavar="N",
                   help="automatic folding: meet N cycles between samples with the fewest lanes")
    p.add_argument("--target-us", type=float, default=None, metavar="T",
                   help="automatic folding: meet T microseconds per sample at the board clock with the fewest lanes")
    p.add_argument("--stimulus", type=Path, default=None,
                   help="float .npy (N x features) for the testbenches (default: the first --samples of --calibrate, "
                   "else seeded random samples)")
    p.add_argument("--samples", type=int, default=32, help="number of random stimulus samples (default 32)")
    p.add_argument("--strict", action="store_true", help="exit non-zero when the design does not fit the board")


def run(args: argparse.Namespace) -> int:
    opts = BuildOptions(
        board=args.board, parallelism=args.parallelism, target_ii=args.target_ii, target_us=args.target_us,
        precision=args.precision, storage=args.storage,
        n_stimulus=check_sample_count(args.samples), stimulus=args.stimulus, strict=args.strict,
        calibrate=args.calibrate, skip_zeros=args.skip_zeros,
    )
    res = build(args.model, args.out, opts)
    r = res.report
    t = r["totals"]
    print(f"built {args.out}/ for {r['board']['name']} ({r['board']['part']}, {r['board']['clock_mhz']:g} MHz)")
    for row in r["layers"]:
        if row["op"] == "dense":
            print(f"  {row['name']:<20} {row['n_in']:>5}->{row['n_out']:<5} {row['storage']:<13} "
                  f"nnz {row['nonzeros']:>7} ({100 * row['density']:5.1f}%)  {row['bits_stored']:>9} bits")
    ratio = t["compression_vs_dense"]
    print(f"  weights: {t['bits_stored']} bits stored vs {t['bits_dense']} dense"
          + (f" ({ratio:.1f}x smaller)" if ratio else ""))
    pt = r["plan"]["totals"]
    clock = r["board"]["clock_mhz"]
    print(f"  plan: II {pt['ii']} cycles ({pt['ii'] / clock:.2f} us/sample at {clock:g} MHz), latency {pt['latency']}; "
          f"LUT {pt['lut']}, FF {pt['ff']}, DSP {pt['dsp']}, BRAM36 {pt['bram36']:g}")
    for row in r["plan"]["layers"]:
        if row["op"] != "stream" and row["engine"] != "alias":
            print(f"    {row['name']:<20} {row['engine']:<18} lanes {row['lanes']:>3}  entries {row['entries']:>7}  "
                  f"II {row['ii']:>7}  DSP {row['dsp']:>3}  BRAM36 {row['bram36']:g}")
    for row in r["plan"].get("skipping", []):
        print(f"    {row['layer']:<20} skipping zeros: {100 * row['nonzero_inputs']:.1f}% of its inputs nonzero, "
              f"cycles mean {row['mean']:.1f}, p99 {row['p99']:.0f}, worst {row['worst_measured']} on "
              f"{row['samples']} samples (guaranteed {row['guaranteed']})")
    if r["plan"].get("expected_ii") is not None:
        print(f"    expected II on the stimulus {r['plan']['expected_ii']:.1f} cycles (the slowest stage per sample, "
              f"averaged; the plan's II {pt['ii']} is guaranteed)")
    folding = r["plan"].get("folding")
    if folding is not None:
        lanes = ", ".join(f"{n} {v}" for n, v in folding["lanes"].items())
        goal = f"target II {folding['target_ii']}" if folding["target_ii"] is not None else "the fastest that fits"
        print(f"  folding ({goal}): lanes {lanes}; bound by {folding['bound_label']}: "
              f"{folding['detail']}")
        if folding.get("pixels_detail"):
            print(f"  pixel parallelism: {folding['pixels_detail']}")
        if folding.get("sparsity"):
            print(f"  {folding['sparsity']}")
    fit = r["fit"]
    used = ", ".join(f"{x['resource']} {x['utilization_percent']}%" for x in fit["resources"]
                     if x["utilization_percent"] is not None and x["available"])
    print_fit_verdict(fit, f"fits {r['board']['name']} ({fit['basis']}): {used}")
    print(f"  report: {args.out}/report.md   next: fpga-flow csim {args.out}")
    return 0
