"""Benchmark: the full Deep Compression flow on Fashion-MNIST, LeNet-300-100 or LeNet-5 (2 CPU threads).

Runs ``fpga_flow.compress.compress`` with the preset of ``--example`` on ``--dataset``, exactly what
``fpga-flow compress --example lenet300|lenet5 --dataset fashion-mnist`` does, and prints the
figures against the targets and the paper's row (Han, Mao, Dally 2015):

* lenet300: >= 40x Huffman, >= 20x hardware format, <= 0.5 pp below the dense float accuracy,
  <= 10 minutes;
* lenet5: >= 39x Huffman, <= 0.5 pp below the dense float accuracy, <= 30 minutes; per layer the
  weights kept and the codebook bits next to the paper's (conv1 66 %, conv2 12 %, ip1 8 %, ip2 19 %;
  8-bit codebooks on the convolutions, 5-bit on the linear layers).

Figures, not assertions: the exit code is 0 unless the flow itself fails. Needs
``dataset-fashion-mnist`` (``make setup``).

    .venv/bin/python bench/bench_compress.py [--example lenet300|lenet5] [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

TARGETS = {
    "lenet300": {"huffman_ratio": 40.0, "hardware_ratio": 20.0, "max_drop_pp": 0.5, "max_seconds": 600.0},
    "lenet5": {"huffman_ratio": 39.0, "hardware_ratio": None, "max_drop_pp": 0.5, "max_seconds": 1800.0},
}
TITLES = {"lenet300": "LeNet-300-100", "lenet5": "LeNet-5"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--example", default="lenet300", choices=tuple(TARGETS))
    ap.add_argument("--out", type=Path, default=None, help="output directory (default build/bench_<example>)")
    ap.add_argument("--quick", action="store_true", help="the --quick preset (smoke run, targets not expected)")
    ap.add_argument("--dataset", default="fashion-mnist", choices=("fashion-mnist", "digits"))
    args = ap.parse_args(argv)
    out = args.out or Path("build") / ("bench_compress" if args.example == "lenet300" else f"bench_{args.example}")
    targets = TARGETS[args.example]

    import torch

    from fpga_flow.compress import CompressConfig, compress, load_dataset
    from fpga_flow.errors import FlowError
    from fpga_flow.verify_export import verify_and_report

    torch.set_num_threads(2)
    try:
        data = load_dataset(args.dataset)
    except FlowError as e:
        print(f"bench_compress: {e}", file=sys.stderr)
        return 2
    cfg = CompressConfig.preset(args.dataset, quick=args.quick, example=args.example)
    t0 = time.perf_counter()
    log = lambda m: print("  " + m, flush=True)  # noqa: E731
    res = verify_and_report(
        compress(data, cfg, out=out / f"{args.example}.onnx", progress=sys.stderr.isatty(), log=log),
        out / "report", log=log,
    )
    seconds = time.perf_counter() - t0
    r = res.report
    a, q, b = r["accuracy"], r["ratios"], r["bits"]
    drop = r["accuracy_drop_pp"]

    def mark(ok: bool) -> str:
        return "ok " if ok else "MISS"

    print()
    print(f"{TITLES[args.example]} on {data.name}, {r['model']['train_samples']} train / "
          f"{r['model']['test_samples']} test, torch threads {torch.get_num_threads()}")
    print(f"  accuracy dense float32     {100 * a['dense']:.2f}%")
    print(f"  accuracy pruned (float)    {100 * a['pruned']:.2f}%   density {100 * r['density']:.2f}%")
    print(f"  accuracy fixed point (QAT) {100 * a['quantized']:.2f}%")
    print(f"  accuracy final (shared)    {100 * a['final']:.2f}%   == fpga-flow reference on the export "
          f"({100 * a['exported_reference']:.2f}%, bit-exact on {r['bit_exact']['test_samples']} samples)")
    print(f"  storage dense float32      {b['dense_float32']:>9} bits  {b['dense_float32'] / 8192:8.1f} KiB")
    for label, key in (("hardware format", "hardware"), ("Huffman", "huffman")):
        print(f"  storage {label:<18} {b[key]:>9} bits  {b[key] / 8192:8.1f} KiB  {q[key]:5.1f}x")
    p = r["paper"]
    print()
    print("  layer        weights  kept (paper)  kept (run)  codebook bits (paper / run)  Huffman bits")
    for lay in r["layers"]:
        ref = (p.get("layers") or {}).get(lay["name"]) if p else None
        kept_p = f"{100 * ref['kept']:.0f}%" if ref else "-"
        bits_p = str(ref["codebook_bits"]) if ref else "-"
        name = f"{lay['name']} ({ref['paper_name']})" if ref and ref["paper_name"] != lay["name"] else lay["name"]
        print(f"  {name:<11} {lay['weights']:>8}  {kept_p:>12}  {100 * lay['density']:9.1f}%  "
              f"{bits_p:>17} / {lay['code_bits']:<9} {lay['bits']['huffman']:>10}")
    print()
    print(f"  [{mark(q['huffman'] >= targets['huffman_ratio'])}] Huffman compression {q['huffman']:.1f}x "
          f"(target >= {targets['huffman_ratio']:.0f}x)")
    if targets["hardware_ratio"] is not None:
        print(f"  [{mark(q['hardware'] >= targets['hardware_ratio'])}] hardware-format compression "
              f"{q['hardware']:.1f}x (target >= {targets['hardware_ratio']:.0f}x)")
    else:
        print(f"  [info] hardware-format compression {q['hardware']:.1f}x")
    print(f"  [{mark(drop <= targets['max_drop_pp'])}] accuracy {-drop:+.2f} pp vs dense "
          f"(target >= -{targets['max_drop_pp']} pp)")
    print(f"  [{mark(seconds <= targets['max_seconds'])}] wall time {seconds:.0f} s (target <= "
          f"{targets['max_seconds']:.0f} s on 2 cores)")
    if p:
        print(f"  paper ({p['model']}, {p['dataset']}): {100 * p['top1_error_dense']:.2f}% -> "
              f"{100 * p['top1_error_compressed']:.2f}% error, {100 * p['weights_kept']:.0f}% kept, "
              f"{p['compression_ratio']}x; this run ({data.name}): {100 * (1 - a['dense']):.2f}% -> "
              f"{100 * (1 - a['final']):.2f}% error, {100 * r['density']:.1f}% kept, {q['huffman']:.1f}x")
    print("  stages: " + ", ".join(f"{k} {v:.0f} s" for k, v in r["timings_s"].items()))
    print(f"  report: {res.files.get('report_md')}")
    for key in sorted(k for k in res.files if k.startswith("weights_") or k == "density"):
        print(f"  plot:   {res.files[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
