"""Benchmark: the full Deep Compression flow on Fashion-MNIST, LeNet-300-100 or LeNet-5 (2 CPU threads).

Runs ``fpga_flow.compress.compress`` with the preset of ``--example`` on ``--dataset``, exactly what
``fpga-flow compress --example lenet300|lenet5 --dataset fashion-mnist`` does, and prints the
figures against the targets and the paper's row (Han, Mao, Dally 2015):

* lenet300: >= 40x Huffman, >= 20x hardware format, <= 0.5 pp below the dense float accuracy,
  <= 10 minutes;
* lenet5: >= 39x Huffman, <= 0.5 pp below the dense float accuracy, <= 30 minutes; per layer the
  weights kept and the codebook bits next to the paper's (conv1 66 %, conv2 12 %, ip1 8 %, ip2 19 %;
  8-bit codebooks on the convolutions, 5-bit on the linear layers).

``--compare-pruning`` compares the two pruning schedules at equal density: for LeNet-300-100 and
LeNet-5 (``--examples``), per seed (``--seeds``), the dense model is trained once and the rest of the
flow (pruning to the preset's per-layer densities, QAT, sharing, export, bit-exact read-back) runs
from the same dense weights with iterative magnitude pruning (Han et al. 2015) and with DropPruning
(Jia et al. 2018, ``--drop-away P --drop-back Q``); it prints accuracies, weights kept and
compression ratios side by side. With ``--quick`` it runs on scikit-learn's 8x8 digits (the digits
presets: seconds) unless ``--dataset`` says otherwise; DropPruning's paper figures (LeNet-5 on MNIST
14.3x by pruning alone, VGG-16 on CIFAR-10 11.1x) are printed for reference.

Figures, not assertions: the exit code is 0 unless the flow itself fails. Needs
``dataset-fashion-mnist`` (``make setup``).

    .venv/bin/python bench/bench_compress.py [--example lenet300|lenet5] [--out DIR] [--quick]
    .venv/bin/python bench/bench_compress.py --compare-pruning [--quick] [--examples lenet300 lenet5] [--seeds N]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

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
    ap.add_argument("--dataset", default=None, choices=("fashion-mnist", "digits"),
                    help="default fashion-mnist; digits for --compare-pruning --quick")
    ap.add_argument("--compare-pruning", action="store_true",
                    help="magnitude pruning vs DropPruning at equal density, side by side")
    ap.add_argument("--examples", nargs="+", default=list(TARGETS), choices=tuple(TARGETS),
                    help="with --compare-pruning: the examples to run (default both)")
    ap.add_argument("--seeds", type=int, default=1, help="with --compare-pruning: seeds 0..N-1 (default 1)")
    ap.add_argument("--drop-away", type=float, default=None, help="DropPruning's drop-away probability")
    ap.add_argument("--drop-back", type=float, default=None, help="DropPruning's drop-back probability")
    args = ap.parse_args(argv)
    if args.dataset is None:
        args.dataset = "digits" if args.compare_pruning and args.quick else "fashion-mnist"
    if args.compare_pruning:
        return compare_pruning(args)
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


#: DropPruning's own figures (Jia et al. 2018, abstract): compression by pruning alone, no accuracy loss.
DROP_PAPER = "DropPruning paper (pruning only, no accuracy loss): LeNet-5 on MNIST 14.3x, VGG-16 on CIFAR-10 11.1x"


def _run_schedules(example: str, dataset: str, quick: bool, seed: int, out: Path, drop: Any) -> dict[str, Any]:
    """Dense once, then stages 2-5 with each pruning schedule from the same dense weights."""
    import torch

    from fpga_flow.compress import CompressConfig, load_dataset
    from fpga_flow.compress.config import build_model
    from fpga_flow.compress.flow import run_stages, snapshot
    from fpga_flow.compress.training import evaluate, train
    from fpga_flow.verify_export import verify_and_report

    base = CompressConfig.preset(dataset, quick=quick and dataset != "digits", example=example)
    base = replace(base, seed=seed, drop=drop)
    torch.set_num_threads(base.threads or 2)
    torch.manual_seed(seed)
    data = load_dataset(dataset).subset(base.train_subset, base.test_subset, seed=seed)
    model = build_model(base, data)
    t0 = time.perf_counter()
    train(model, data.x_train, data.y_train, base.dense, seed=seed, progress=sys.stderr.isatty(), desc="dense")
    dense_s = time.perf_counter() - t0
    acc = {"dense": evaluate(model, data.x_test, data.y_test)}
    snaps = {"dense": snapshot(model)}
    print(f"  {TITLES[example]} seed {seed}: dense {100 * acc['dense']:.2f}% ({dense_s:.0f} s)", flush=True)
    runs: dict[str, Any] = {}
    for pruning in ("magnitude", "drop"):
        cfg = replace(base, pruning=pruning)
        torch.manual_seed(seed)
        log = lambda m, p=pruning: print(f"    [{p}] {m}", flush=True)  # noqa: E731
        t1 = time.perf_counter()
        res = run_stages(copy.deepcopy(model), data, cfg, out / f"{example}_{pruning}_s{seed}.onnx",
                         sys.stderr.isatty(), log, dict(acc), dict(snaps), {"dense": dense_s}, t1)
        runs[pruning] = verify_and_report(res, out / f"{example}_{pruning}_s{seed}_report", log=log).report
    return runs


def compare_pruning(args: argparse.Namespace) -> int:
    """Magnitude pruning vs DropPruning at equal density (see the module doc)."""
    from fpga_flow.compress.droppruning import DropPruning
    from fpga_flow.errors import FlowError

    d0 = DropPruning()
    drop = DropPruning(d0.drop_away if args.drop_away is None else args.drop_away,
                       d0.drop_back if args.drop_back is None else args.drop_back)
    out = args.out or Path("build") / "bench_compare_pruning"
    print(f"magnitude pruning vs DropPruning (drop_away {drop.drop_away}, drop_back {drop.drop_back}) on "
          f"{args.dataset}{' (quick)' if args.quick else ''}, seeds 0..{args.seeds - 1}", flush=True)
    t0 = time.perf_counter()
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        for ex in args.examples:
            results[ex] = [_run_schedules(ex, args.dataset, args.quick, s, out, drop) for s in range(args.seeds)]
    except FlowError as e:
        print(f"bench_compress: {e}", file=sys.stderr)
        return 2
    rows = (
        ("accuracy dense float32", lambda r: 100 * r["accuracy"]["dense"], "{:.2f}%"),
        ("accuracy pruned (float)", lambda r: 100 * r["accuracy"]["pruned"], "{:.2f}%"),
        ("accuracy fixed point", lambda r: 100 * r["accuracy"]["quantized"], "{:.2f}%"),
        ("accuracy final (shared)", lambda r: 100 * r["accuracy"]["final"], "{:.2f}%"),
        ("change vs dense (pp)", lambda r: -r["accuracy_drop_pp"], "{:+.2f}"),
        ("weights kept", lambda r: 100 * r["density"], "{:.2f}%"),
        ("compression, pruning only", lambda r: 1 / r["density"], "{:.1f}x"),
        ("compression hardware", lambda r: r["ratios"]["hardware"], "{:.1f}x"),
        ("compression Huffman", lambda r: r["ratios"]["huffman"], "{:.1f}x"),
        ("pruning stage time", lambda r: r["timings_s"]["pruned"], "{:.0f} s"),
    )
    for ex, per_seed in results.items():
        first = per_seed[0]["magnitude"]
        print()
        print(f"{TITLES[ex]} on {args.dataset}, {first['model']['train_samples']} train / "
              f"{first['model']['test_samples']} test; mean over {len(per_seed)} seed(s)"
              + (" [per seed]" if len(per_seed) > 1 else ""))
        print(f"  {'':<27} {'magnitude':>12} {'DropPruning':>12} {'drop - mag':>11}")
        for label, get, fmt in rows:
            m = [get(r["magnitude"]) for r in per_seed]
            d = [get(r["drop"]) for r in per_seed]
            mm, dm = statistics.fmean(m), statistics.fmean(d)
            extra = ("  [" + ", ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(m, d, strict=True)) + "]"
                     if len(per_seed) > 1 else "")
            print(f"  {label:<27} {fmt.format(mm):>12} {fmt.format(dm):>12} {dm - mm:>+11.2f}{extra}")
        names = [lay["name"] for lay in first["layers"]]
        kept_m = " / ".join(f"{100 * lay['density']:.1f}" for lay in first["layers"])
        kept_d = " / ".join(f"{100 * lay['density']:.1f}" for lay in per_seed[0]["drop"]["layers"])
        print(f"  kept per layer ({' / '.join(names)}) %: magnitude {kept_m}; DropPruning {kept_d}")
        same = all(r["magnitude"]["bits"]["dense_float32"] == r["drop"]["bits"]["dense_float32"]
                   and [lay["nonzero"] for lay in r["magnitude"]["layers"]]
                   == [lay["nonzero"] for lay in r["drop"]["layers"]] for r in per_seed)
        print(f"  equal density (same nonzero count per layer): {'yes' if same else 'NO'}; "
              f"bit-exact exports: {all(r[k]['bit_exact']['equal'] for r in per_seed for k in r)}")
    print()
    print(f"  {DROP_PAPER}")
    print(f"  wall time {time.perf_counter() - t0:.0f} s; reports under {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
