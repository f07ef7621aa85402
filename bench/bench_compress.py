"""Benchmark: the full Deep Compression flow on Fashion-MNIST, LeNet-300-100 or LeNet-5 (``--threads auto``).

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

``--load-test`` measures the flow on a shared machine: ``fpga-flow compress --example lenet300``
(or ``--example lenet5``; ``--quick``: the quick Fashion-MNIST preset, 10,000 training samples; ``--dataset digits`` for
seconds) as a subprocess, alone (A) and beside one CPU-bound competitor (B, ``python -c 'while True:
pass'`` at the same priority as the flow), interleaved A B A B for ``--pairs`` pairs, with
``--threads`` (default ``auto``; ``2`` shows the former default). It prints per run the wall time,
the CPU time of the flow's process (``getrusage(RUSAGE_CHILDREN)``, the competitor excluded), the
thread count the flow chose and its dense-stage samples/s, then min / median per side and the
loaded / quiet ratios (the goal: loaded <= ~2x quiet).

Figures, not assertions: the exit code is 0 unless the flow itself fails. Needs
``dataset-fashion-mnist`` (``make setup``).

    .venv/bin/python bench/bench_compress.py [--example lenet300|lenet5] [--out DIR] [--quick]
    .venv/bin/python bench/bench_compress.py --compare-pruning [--quick] [--examples lenet300 lenet5] [--seeds N]
    .venv/bin/python bench/bench_compress.py --load-test [--quick] [--dataset digits] [--pairs N] [--threads auto|N]
"""

from __future__ import annotations

import argparse
import copy
import re
import resource
import statistics
import subprocess
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
    ap.add_argument("--load-test", action="store_true",
                    help="compress --example (default lenet300) alone and beside a CPU-bound process, interleaved")
    ap.add_argument("--pairs", type=int, default=3, help="with --load-test: quiet/loaded pairs (default 3)")
    ap.add_argument("--threads", default="auto", help="with --load-test: the flow's --threads (default auto)")
    args = ap.parse_args(argv)
    if args.dataset is None:
        args.dataset = "digits" if args.compare_pruning and args.quick else "fashion-mnist"
    if args.compare_pruning:
        return compare_pruning(args)
    if args.load_test:
        return load_test(args)
    out = args.out or Path("build") / ("bench_compress" if args.example == "lenet300" else f"bench_{args.example}")
    targets = TARGETS[args.example]

    from fpga_flow.compress import CompressConfig, compress, load_dataset
    from fpga_flow.errors import FlowError
    from fpga_flow.verify_export import verify_and_report

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
          f"{r['model']['test_samples']} test, torch threads {r['threads']} (--threads auto)")
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
    from fpga_flow.compress.flow import run_stages, set_threads, snapshot
    from fpga_flow.compress.training import evaluate, train
    from fpga_flow.verify_export import verify_and_report

    base = CompressConfig.preset(dataset, quick=quick and dataset != "digits", example=example)
    base = replace(base, seed=seed, drop=drop)
    torch.manual_seed(seed)
    data = load_dataset(dataset).subset(base.train_subset, base.test_subset, seed=seed)
    model = build_model(base, data)
    base = set_threads(base, model, model.input_shape, model.dtype, lambda m: print(f"  {m}", flush=True))
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


#: The CLI in a fresh interpreter (what a user runs).
_CLI = "import sys; from fpga_flow.cli import main; sys.exit(main(sys.argv[1:]))"
#: The competing process: one core kept busy.
_SPIN = "while True: pass"


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (``/proc/stat``, all cores; 0 where unreadable)."""
    import os

    try:
        with open("/proc/stat") as f:
            v = [float(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def _timed_run(cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd`` to the end: wall seconds, its CPU seconds (user + system), the machine's busy CPU
    seconds meanwhile, its stdout."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    m0 = _machine_busy()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    m1 = _machine_busy()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[3:])} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    threads = re.search(r"torch threads: (\d+)", proc.stdout)
    rate = re.search(r"dense float32.*?([\d,]+) samples/s", proc.stdout)
    return {"wall": wall, "cpu": cpu, "machine": m1 - m0, "threads": int(threads.group(1)) if threads else None,
            "dense_rate": int(rate.group(1).replace(",", "")) if rate else None, "stdout": proc.stdout}


def load_test(args: argparse.Namespace) -> int:
    """Quiet (A) vs beside one busy process (B), interleaved A B A B (see the module doc)."""
    import os

    out = args.out or Path("build") / "bench_load_test"
    out.mkdir(parents=True, exist_ok=True)
    flags = ["--example", args.example, "--dataset", args.dataset, "--no-progress", "--threads", str(args.threads)]
    if args.quick:
        flags.append("--quick")
    cores = len(os.sched_getaffinity(0))
    print(f"load test: fpga-flow compress {' '.join(flags)}; {cores} cores, {args.pairs} pair(s) A (quiet) "
          f"B (beside python -c {_SPIN!r})", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {"quiet": [], "loaded": []}
    t_all = time.perf_counter()
    for i in range(args.pairs):
        for side in ("quiet", "loaded"):
            cmd = [sys.executable, "-c", _CLI, "compress", *flags, "-o", str(out / f"{side}_{i}.onnx")]
            spin = subprocess.Popen([sys.executable, "-c", _SPIN]) if side == "loaded" else None
            try:
                if spin is not None:
                    time.sleep(1.0)  # running, and visible to the flow's free-core measurement
                r = _timed_run(cmd)
            finally:
                if spin is not None:
                    spin.kill()
                    spin.wait()
            # the rest of the machine's load: busy cores less the flow and (while it ran) the competitor
            r["others"] = max(0.0, r["machine"] / r["wall"] - r["cpu"] / r["wall"] - (1.0 if spin else 0.0))
            runs[side].append(r)
            print(f"  pair {i + 1} {side:<6}: wall {r['wall']:6.1f} s  cpu {r['cpu']:6.1f} s  threads {r['threads']}  "
                  f"dense {r['dense_rate'] or 0:,} samples/s  other load ~{r['others']:.2f} cores", flush=True)
    print()
    stat = {}
    for side, rs in runs.items():
        walls, cpus = [r["wall"] for r in rs], [r["cpu"] for r in rs]
        stat[side] = {"wall_min": min(walls), "wall_med": statistics.median(walls), "cpu_min": min(cpus),
                      "cpu_med": statistics.median(cpus)}
        st = stat[side]
        print(f"  {side:<6}: wall min {st['wall_min']:.1f} s, median {st['wall_med']:.1f} s; cpu min "
              f"{st['cpu_min']:.1f} s, median {st['cpu_med']:.1f} s; threads "
              f"{sorted({r['threads'] for r in rs})}")
    q, ld = stat["quiet"], stat["loaded"]
    ratio = ld["wall_med"] / q["wall_med"]
    print(f"  loaded / quiet: wall median {ratio:.2f}x (min {ld['wall_min'] / q['wall_min']:.2f}x), "
          f"cpu median {ld['cpu_med'] / q['cpu_med']:.2f}x  [{'ok ' if ratio <= 2.0 else 'MISS'}] goal <= 2x")
    print(f"  bench wall time {time.perf_counter() - t_all:.0f} s; models under {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
