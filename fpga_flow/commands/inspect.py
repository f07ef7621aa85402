"""``fpga-flow inspect MODEL.onnx [--json]``: per-layer shapes, sparsity, types, storage and bits."""

from __future__ import annotations

import argparse
import json

from fpga_flow.analysis.summary import layer_rows, totals
from fpga_flow.commands._common import add_model_arguments
from fpga_flow.pipeline import LowerOptions, load_and_lower


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    graph = load_and_lower(args.model, args.precision, LowerOptions(storage=args.storage))
    rows = layer_rows(graph)
    tot = totals(rows)
    if args.json:
        print(json.dumps({"model": graph.name, "layers": rows, "totals": tot}, indent=2))
        return 0
    print(f"model {graph.name}: {len(graph.layers)} layers, outputs {', '.join(graph.outputs)}")
    for r in rows:
        if r["op"] != "dense":
            print(f"  {r['name']:<20} {r['op']:<9} shape {tuple(r['shape'])}  out {r['output_type']}")
            continue
        cb = f"  codebook {r['codebook_size']}" if r["codebook_size"] else ""
        print(
            f"  {r['name']:<20} dense     {r['n_in']}->{r['n_out']} {r['activation']}  "
            f"nnz {r['nonzeros']}/{r['weights']} ({100 * r['density']:.1f}%){cb}"
        )
        print(
            f"  {'':<20}           w {r['weight_type']}  b {r['bias_type']}  "
            f"acc {r['accumulator_type']}  out {r['output_type']}"
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
    return 0
