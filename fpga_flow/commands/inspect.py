"""``fpga-flow inspect MODEL.onnx [--board B] [--parallelism P|auto] [--json]``: per-layer shapes, sparsity,
types, storage and bits, and the hardware plan (engine, lanes, cycles, resources) at ``P``, or as
``build`` folds it by default."""

from __future__ import annotations

import argparse
import json

from fpga_flow.analysis.summary import layer_rows, totals
from fpga_flow.boards import load_board
from fpga_flow.commands._common import add_model_arguments, parallelism_arg
from fpga_flow.errors import UnsupportedError
from fpga_flow.fixed import FixedType
from fpga_flow.hw import plan_figures
from fpga_flow.pipeline import LowerOptions, load_and_lower, plan, skip_layers


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument("--board", default="pynq-z2", help="board the plan is costed for (default pynq-z2)")
    p.add_argument("--parallelism", "-P", type=parallelism_arg, default=None, metavar="P|auto",
                   help="MAC lanes of every layer of the plan, or 'auto' (the default): the lanes `build` would choose")
    p.add_argument("--skip-zeros", default="off", metavar="off|all|LAYER[,LAYER...]",
                   help="plan these fully-connected layers as activation-skipping engines (needs --parallelism)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _t(d: dict) -> str:
    return str(FixedType.from_json(d))


def run(args: argparse.Namespace) -> int:
    board = load_board(args.board)
    graph = load_and_lower(args.model, args.precision, LowerOptions(storage=args.storage), args.calibrate)
    rows = layer_rows(graph)
    tot = totals(rows)
    try:
        fig: dict | None = plan_figures(plan(graph, args.parallelism, board, skip=skip_layers(graph, args.skip_zeros)))
        no_plan = ""
    except UnsupportedError as e:  # the model is readable, its hardware is not planned yet
        fig, no_plan = None, str(e)
    if args.json:
        doc = {"model": graph.name, "layers": rows, "totals": tot, "plan": fig}
        if fig is None:
            doc["plan_error"] = no_plan
        print(json.dumps(doc, indent=2))
        return 0
    print(f"model {graph.name}: {len(graph.layers)} layers, outputs {', '.join(graph.outputs)}")
    for r in rows:
        if "weights" not in r:
            print(f"  {r['name']:<20} {r['op']:<9} shape {tuple(r['shape'])}  out {_t(r['output_type'])}")
            continue
        cb = f"  codebook {r['codebook_size']}" if r["codebook_size"] else ""
        if r["op"] == "conv2d":
            k, st, p = r["kernel"], r["stride"], r["pads"]
            g = f" groups {r['groups']}" if r["groups"] != 1 else ""
            print(f"  {r['name']:<20} conv2d    {tuple(r['in_shape'])}->{tuple(r['shape'])} {k[0]}x{k[1]} "
                  f"stride {st[0]}x{st[1]} pads {tuple(p)}{g} {r['activation']}")
            print(f"  {'':<20}           nnz {r['nonzeros']}/{r['weights']} ({100 * r['density']:.1f}%){cb}")
        else:
            print(
                f"  {r['name']:<20} dense     {r['n_in']}->{r['n_out']} {r['activation']}  "
                f"nnz {r['nonzeros']}/{r['weights']} ({100 * r['density']:.1f}%){cb}"
            )
        print(
            f"  {'':<20}           w {_t(r['weight_type'])}  b {_t(r['bias_type'])}  "
            f"acc {_t(r['accumulator_type'])}  out {_t(r['output_type'])}"
        )
        cbb = r["bits_codebook"] if r["bits_codebook"] is not None else "-"
        print(
            f"  {'':<20}           storage {r['storage']}: bits dense {r['bits_dense']}  "
            f"csr {r['bits_csr']}  codebook {cbb}"
        )
    ratio = tot["compression_vs_dense"]
    print(
        f"total: {tot['nonzeros']}/{tot['weights']} nonzero ({100 * tot['density']:.1f}%), "
        f"{tot['bits_stored']} weight bits stored vs {tot['bits_dense']} dense"
        + (f" ({ratio:.2f}x smaller)" if ratio else "")
    )
    if fig is None:
        print(f"no hardware plan yet: {no_plan}")
        return 0
    pt = fig["totals"]
    print(f"plan for {board.name} at parallelism {fig['parallelism']} ({fig['dsp_slice']}):")
    for s in fig["layers"]:
        if s["engine"] == "alias":
            continue
        lanes = f"lanes {s['lanes']:>3}  entries {s['entries']:>7}" if s["lanes"] else f"{'':<26}"
        print(f"  {s['name']:<20} {s['engine']:<18} {lanes}  II {s['ii']:>7}  LUT {s['lut']:>6}  FF {s['ff']:>6}  "
              f"DSP {s['dsp']:>3}  BRAM36 {s['bram36']:g}")
    print(f"  total: II {pt['ii']} cycles, latency {pt['latency']}; LUT {pt['lut']}, FF {pt['ff']}, DSP {pt['dsp']}, "
          f"BRAM36 {pt['bram36']:g} (estimate; `fpga-flow build` checks it against the board)")
    return 0
