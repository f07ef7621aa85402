"""``fpga-flow compress --example lenet300|lenet5 --dataset fashion-mnist|digits -o model.onnx [--quick]``, or
``fpga-flow compress --model file.py:factory [--checkpoint W.pt] --data data.npz -o model.onnx``;
``--sensitivity`` adds the per-layer sensitivity sweep to the report, ``--target-density D`` chooses
the per-layer densities from it; ``--threads auto`` (default) or a count.

``--model`` names a Python file and a function in it that returns the user's ``torch.nn.Module``
(called without arguments); ``--data`` an ``.npz`` holding ``x_train``, ``y_train``, ``x_test``,
``y_test`` (``x`` shaped ``(N, C, H, W)`` or ``(N, features)``); ``--checkpoint`` a state dict
(``torch.save``) to start from, which skips the dense training.

Trains the dense baseline, prunes, quantizes to fixed point, shares weights, fine-tunes, exports
QONNX (see :mod:`fpga_flow.compress`), then reads the export back, checks it bit for bit against
the torch forward and writes the compression report (:mod:`fpga_flow.verify_export`). torch is
imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from fpga_flow.errors import FlowError

EXAMPLES = ("lenet300", "lenet5")  # fpga_flow.compress.flow.EXAMPLES (not imported: it imports torch)
DATASETS = ("fashion-mnist", "digits")
PRUNING = ("magnitude", "drop")  # fpga_flow.compress.config.PRUNING


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--example", default="lenet300", choices=EXAMPLES,
                   help="model to train and compress: lenet300 (LeNet-300-100, n_in-300-100-10) or lenet5 "
                        "(Caffe LeNet-5: conv 20@5x5, pool, conv 50@5x5, pool, fc 500, fc 10)")
    p.add_argument("--dataset", default="fashion-mnist", choices=DATASETS,
                   help="fashion-mnist (Debian package dataset-fashion-mnist, 784 inputs) or digits "
                        "(scikit-learn's 8x8 digits, 64 inputs; seconds)")
    p.add_argument("--model", default=None, metavar="FILE.py:FACTORY",
                   help="compress your own torch model: FACTORY() in FILE.py returns the nn.Module "
                        "(replaces --example; needs --data)")
    p.add_argument("--checkpoint", type=Path, default=None, metavar="W.pt",
                   help="with --model: a state dict (torch.save) to start from; skips the dense training")
    p.add_argument("--data", type=Path, default=None, metavar="DATA.npz",
                   help="with --model: an .npz holding x_train, y_train, x_test, y_test")
    p.add_argument("-o", "--output", required=True, type=Path, help="the QONNX model to write (.onnx)")
    p.add_argument("--report-dir", type=Path, default=None,
                   help="where to write compression_report.json/.md, plots and a stimulus "
                        "(default: <output stem>_report/ beside the model)")
    p.add_argument("--quick", action="store_true", help="short training on a data subset (demo, smoke tests)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--codebook-bits", type=int, nargs="+", default=None, metavar="B",
                   help="share 2^B values per layer: one value for every layer or one per weighted layer "
                        "(default: the preset's; lenet300 5, lenet5 8 8 5 5 as Han et al.)")
    p.add_argument("--density", type=float, nargs="+", default=None, metavar="D",
                   help="fraction of weights kept per weighted layer, one value per layer: 3 for lenet300, "
                        "4 for lenet5 (default: the preset's)")
    p.add_argument("--pruning", default="magnitude", choices=PRUNING,
                   help="pruning schedule: magnitude (iterative magnitude pruning, Han et al.; default) or drop "
                        "(DropPruning, Jia et al. 2018: low-magnitude weights dropped at random, pruned ones "
                        "brought back at random; the same final densities)")
    p.add_argument("--weight-bits", type=int, default=None, metavar="W",
                   help="weight (and codebook value) width in bits for every layer (default 8, lenet5's "
                        "convolutions 10; types from the observed ranges)")
    p.add_argument("--bias-bits", type=int, default=None, metavar="W", help="bias width in bits (default 16)")
    p.add_argument("--act-bits", type=int, default=None, metavar="W",
                   help="hidden activation width in bits (default 8)")
    p.add_argument("--sensitivity", action="store_true",
                   help="after the dense stage, prune each weighted layer alone to 100..2%% of its weights (no "
                        "fine-tuning) and measure the test accuracy: a table and a plot (sensitivity.png) in the "
                        "report")
    p.add_argument("--target-density", type=float, default=None, metavar="D",
                   help="overall fraction of weights to keep (e.g. 0.08); the per-layer densities are chosen from "
                        "the sensitivity sweep (implies --sensitivity; replaces the preset's per-layer densities; "
                        "not with --density): every layer at the same predicted accuracy loss")
    p.add_argument("--sensitivity-densities", type=float, nargs="+", default=None, metavar="D",
                   help="the densities the sweep tries (default 1 0.8 0.6 0.4 0.3 0.2 0.1 0.05 0.02; 1 is "
                        "always added)")
    p.add_argument("--threads", type=_threads, default="auto", metavar="N|auto",
                   help="torch CPU threads: auto (default: the cores not busy with other processes, and 1 for "
                        "a model under 1 M MACs per sample) or a count; a different count may change the last "
                        "bits of the results, a fixed count is deterministic")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _threads(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a thread count, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("--threads must be at least 1")
    return n


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from fpga_flow.compress import CompressConfig, compress, load_dataset
    from fpga_flow.verify_export import verify_and_report

    if args.output.suffix.lower() != ".onnx":
        raise FlowError(f"{args.output}: the output must be an .onnx file")
    user = args.model is not None
    if not user and (args.data is not None or args.checkpoint is not None):
        raise FlowError("--data and --checkpoint go with --model FILE.py:FACTORY")
    if user and args.data is None:
        raise FlowError("--model needs --data DATA.npz (x_train, y_train, x_test, y_test)")
    if user:
        cfg = CompressConfig.for_model(quick=args.quick)
    else:
        cfg = CompressConfig.preset(args.dataset, quick=args.quick, example=args.example)
    cfg = replace(cfg, seed=args.seed, threads=args.threads, pruning=args.pruning)
    n_layers = len(cfg.final_density)
    counts = "1 value or one per weighted layer" if user else f"1 or {n_layers} values (one per layer)"
    if args.codebook_bits is not None:
        bad_count = not user and len(args.codebook_bits) not in (1, n_layers)
        if bad_count or not all(1 <= b <= 8 for b in args.codebook_bits):
            raise FlowError(f"--codebook-bits takes {counts} between 1 and 8")
        bits = args.codebook_bits
        cfg = replace(cfg, codebook_bits=bits[0] if len(bits) == 1 else tuple(bits))
    if args.density is not None:
        if (not user and len(args.density) != n_layers) or not all(0 < d <= 1 for d in args.density):
            what = counts if user else f"{n_layers} values"
            where = "" if user else f", one per layer of {args.example}"
            raise FlowError(f"--density takes {what} in (0, 1]{where}")
        cfg = replace(cfg, final_density=tuple(args.density))
    if args.target_density is not None and args.density is not None:
        raise FlowError("--target-density chooses the per-layer densities from the sensitivity sweep: give it or "
                        "--density, not both")
    if args.sensitivity or args.target_density is not None or args.sensitivity_densities is not None:
        from fpga_flow.compress.sensitivity import DEFAULT_DENSITIES, Sensitivity

        dens = tuple(args.sensitivity_densities) if args.sensitivity_densities is not None else DEFAULT_DENSITIES
        if not all(0 < d <= 1 for d in dens):
            raise FlowError("--sensitivity-densities take values in (0, 1]")
        dens = tuple(sorted(set(dens) | {1.0}, reverse=True))
        cfg = replace(cfg, sensitivity=Sensitivity(densities=dens, target_density=args.target_density))
    widths = {"weight_width": args.weight_bits, "bias_width": args.bias_bits, "act_width": args.act_bits}
    for key, w in widths.items():
        if w is not None:
            if not 2 <= w <= 24:
                raise FlowError(f"--{key.split('_')[0]}-bits must be between 2 and 24")
            cfg = replace(cfg, types=replace(cfg.types, **{key: w}))
    if args.weight_bits is not None:  # every layer, the preset's per-layer widths included
        cfg = replace(cfg, types=replace(cfg.types, layer_weight_width={}))
    report_dir = args.report_dir or args.output.with_name(args.output.stem + "_report")
    t0 = time.perf_counter()
    progress = not args.no_progress and sys.stderr.isatty()

    def log(m: str) -> None:
        print("  " + m, flush=True)

    if user:
        from fpga_flow.compress.cli_inputs import load_factory, load_npz

        model = load_factory(args.model)
        train_xy, test_xy = load_npz(args.data)
        print(f"compressing {args.model} on {args.data}{' (quick)' if args.quick else ''}", flush=True)
        result = compress(model, train_xy, test_xy, cfg, checkpoint=args.checkpoint, out=args.output,
                          progress=progress, log=log)
    else:
        data = load_dataset(args.dataset)
        print(f"compressing {args.example} on {args.dataset}{' (quick)' if args.quick else ''}", flush=True)
        result = compress(data, cfg, out=args.output, progress=progress, log=log)
    verify_and_report(result, report_dir, log=log)  # read back, bit-exact check, report
    r = result.report
    a, q = r["accuracy"], r["ratios"]
    print(
        f"accuracy: dense {100 * a['dense']:.2f}%, pruned {100 * a['pruned']:.2f}%, "
        f"quantized {100 * a['quantized']:.2f}%, final {100 * a['final']:.2f}% "
        f"({-r['accuracy_drop_pp']:+.2f} pp)"
    )
    print(
        f"storage: dense float32 {r['bits']['dense_float32']} bits, hardware {r['bits']['hardware']} bits "
        f"({q['hardware']:.1f}x), Huffman {r['bits']['huffman']} bits ({q['huffman']:.1f}x)"
    )
    print("weights kept: " + ", ".join(f"{lay['name']} {100 * lay['density']:.1f}% (K={lay['codebook_size']})"
                                       for lay in r["layers"]) + f"; overall {100 * r['density']:.2f}%")
    sens = r.get("sensitivity")
    if sens and sens.get("allocation"):
        print(f"densities chosen from the sensitivity sweep for {100 * args.target_density:g}% overall "
              f"(they replace the preset's): " + ", ".join(f"{k} {100 * v:.2f}%"
                                                           for k, v in sens["allocation"]["densities"].items()))
    print(f"wrote {args.output} and {report_dir}/compression_report.md ({time.perf_counter() - t0:.0f} s, "
          f"{r['threads']} torch thread{'s' if r['threads'] != 1 else ''})")
    return 0
