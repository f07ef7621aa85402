"""Benchmark: the full Deep Compression flow on Fashion-MNIST LeNet-300-100 (2 CPU threads).

Runs ``fpga_flow.compress.compress`` with the ``fashion-mnist`` preset, exactly what
``fpga-flow compress --example lenet300 --dataset fashion-mnist`` does, and prints the figures
against the targets (>= 40x Huffman, >= 20x hardware format, <= 0.5 pp below the dense float
accuracy, <= 10 minutes) and the paper's LeNet-300-100 row. Figures, not assertions: the exit
code is 0 unless the flow itself fails. Needs ``dataset-fashion-mnist`` (``make setup``).

    .venv/bin/python bench/bench_compress.py [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

TARGETS = {"huffman_ratio": 40.0, "hardware_ratio": 20.0, "max_drop_pp": 0.5, "max_seconds": 600.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/bench_compress"), help="output directory")
    ap.add_argument("--quick", action="store_true", help="the --quick preset (smoke run, targets not expected)")
    ap.add_argument("--dataset", default="fashion-mnist", choices=("fashion-mnist", "digits"))
    args = ap.parse_args(argv)

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
    cfg = CompressConfig.preset(args.dataset, quick=args.quick)
    t0 = time.perf_counter()
    log = lambda m: print("  " + m, flush=True)  # noqa: E731
    res = verify_and_report(compress(data, cfg, out=args.out / "lenet300.onnx", progress=sys.stderr.isatty(), log=log),
                            args.out / "report", log=log)
    seconds = time.perf_counter() - t0
    r = res.report
    a, q, b = r["accuracy"], r["ratios"], r["bits"]
    drop = r["accuracy_drop_pp"]

    def mark(ok: bool) -> str:
        return "ok " if ok else "MISS"

    print()
    print(f"LeNet-300-100 on {data.name}, {r['model']['train_samples']} train / {r['model']['test_samples']} test, "
          f"torch threads {torch.get_num_threads()}")
    print(f"  accuracy dense float32     {100 * a['dense']:.2f}%")
    print(f"  accuracy pruned (float)    {100 * a['pruned']:.2f}%   density {100 * r['density']:.2f}%")
    print(f"  accuracy fixed point (QAT) {100 * a['quantized']:.2f}%")
    print(f"  accuracy final (shared)    {100 * a['final']:.2f}%   == fpga-flow reference on the export "
          f"({100 * a['exported_reference']:.2f}%, bit-exact on {r['bit_exact']['test_samples']} samples)")
    print(f"  storage dense float32      {b['dense_float32']:>9} bits  {b['dense_float32'] / 8192:8.1f} KiB")
    for label, key in (("hardware format", "hardware"), ("Huffman", "huffman")):
        print(f"  storage {label:<18} {b[key]:>9} bits  {b[key] / 8192:8.1f} KiB  {q[key]:5.1f}x")
    print()
    print(f"  [{mark(q['huffman'] >= TARGETS['huffman_ratio'])}] Huffman compression {q['huffman']:.1f}x "
          f"(target >= {TARGETS['huffman_ratio']:.0f}x)")
    print(f"  [{mark(q['hardware'] >= TARGETS['hardware_ratio'])}] hardware-format compression {q['hardware']:.1f}x "
          f"(target >= {TARGETS['hardware_ratio']:.0f}x)")
    print(f"  [{mark(drop <= TARGETS['max_drop_pp'])}] accuracy {-drop:+.2f} pp vs dense "
          f"(target >= -{TARGETS['max_drop_pp']} pp)")
    print(f"  [{mark(seconds <= TARGETS['max_seconds'])}] wall time {seconds:.0f} s (target <= "
          f"{TARGETS['max_seconds']:.0f} s on 2 cores)")
    p = r["paper"]
    print(f"  paper (MNIST): {100 * p['top1_error_dense']:.2f}% -> {100 * p['top1_error_compressed']:.2f}% error, "
          f"{p['compression_ratio']}x; this run: {100 * (1 - a['dense']):.2f}% -> {100 * (1 - a['final']):.2f}% "
          f"error, {q['huffman']:.1f}x")
    print(f"  report: {res.files.get('report_md')}")
    for key in sorted(k for k in res.files if k.startswith("weights_") or k == "density"):
        print(f"  plot:   {res.files[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
