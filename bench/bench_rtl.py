"""RTL benchmark (issue 5): 784-300-100-10 MLP at 90 % sparsity, built at P = 1, 4, 16 lanes per layer.

For each design it prints:

* measured cycles per sample in RTL simulation (Verilator, ideal stream, 8 samples back to back:
  first input beat to last output beat, divided by 8), the measured initiation interval (II) and
  latency, next to the hardware plan's (``report["plan"]["totals"]``);
* the lower bound on cycles per sample and the ratio measured / bound (goal <= 1.1). A layer's
  engine streams its weight ROM one entry per lane per cycle, so with ``lanes`` lanes it needs at
  least ``ceil(entries / lanes)`` cycles (rows dealt perfectly evenly; the plan's layer rows carry
  it as ``entries_lower_bound``) plus its fixed pipeline overhead (1 start cycle + the drain, the
  plan's ``ii - entries``). Stages overlap (double buffers), so the design's bound is the slowest
  stage's: ``max(ceil(entries / lanes) + overhead)`` over layers, and the stream stages' own II;
* simulation wall time (the cocotb test itself, from results.xml, and with the Verilator build)
  and simulated cycles per second;
* yosys ``synth_xilinx -family xc7`` LUT / FF / DSP / BRAM36 of the same Verilog against PYNQ-Z2
  capacity (53200 LUT, 106400 FF, 220 DSP, 140 BRAM36; kernel only, no DMA), next to the plan's
  figures (``report["plan"]["totals"]``) and the ratio yosys / plan.

``--auto`` adds the automatic folding (no ``--parallelism``: lanes per layer, the fastest design
the plan says fits the PYNQ-Z2 with its DMA platform) to the table, and prints its lanes and what
bounds it; ``--parallelism 1,4,16`` chooses the forced P values (``--parallelism none``: only the
automatic design).

``--lenet300 DIR`` benchmarks the compressed LeNet-300-100 instead (``DIR/model.onnx`` and its
stimulus ``DIR/model_report/stimulus_x.npy``, 256 Fashion-MNIST test images: what ``make demo``'s
``fpga-flow compress --example lenet300 --dataset fashion-mnist`` writes into ``demo_out``): the
automatic design (``--parallelism`` adds forced P values), RTL simulation of every image on an
ideal stream and three times under random backpressure, the interval between consecutive outputs
(mean, 99th percentile, worst), against the DSP bound (nonzero MACs / the board's DSPs) and the
issue's starting point (P = 41: 420 cycles), and yosys with the platform's DMA share added, next to
the plan's estimate. ``--skip 16,32`` adds those P with every layer an activation-skipping engine
(``--skip-zeros all``: data-dependent cycles, so the mean, p99 and worst intervals differ).

Prints the figures; asserts nothing. Takes a few minutes (yosys dominates).
Run: PATH=.venv/bin:$PATH .venv/bin/python bench/bench_rtl.py [--no-synth] [--auto] [--parallelism 1,4,16]
     PATH=.venv/bin:$PATH .venv/bin/python bench/bench_rtl.py --lenet300 demo_out [--no-synth] [--parallelism 41]
         [--skip 16,32]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import onnx

from fpga_flow.boards import load_board
from fpga_flow.examples import benchmark_mlp
from fpga_flow.pipeline import BuildOptions, build
from fpga_flow.sim.rtl_sim import run_rtl_sim
from fpga_flow.sim.synth import run_synth

PARALLELISM = (1, 4, 16)
N_SAMPLES = 8
GOAL = 1.1


def _model(path: Path) -> None:
    onnx.save(benchmark_mlp(seed=0), path)


def _engines(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan's layer rows that walk a ROM (lanes > 0; not the stream ends, not aliases)."""
    return [s for s in plan["layers"] if s["lanes"] > 0]


def lower_bound(plan: dict[str, Any]) -> int:
    """Cycles per sample no schedule of these engines can beat (see the module docstring)."""
    best = 0
    for s in plan["layers"]:
        if s["lanes"] > 0:
            best = max(best, s["entries_lower_bound"] + (s["ii"] - s["entries"]))
        else:
            best = max(best, s["ii"])
    return best


def _test_seconds(build_dir: Path) -> float | None:
    try:
        root = ET.parse(build_dir / "results.xml").getroot()
    except (OSError, ET.ParseError):
        return None
    times = [float(tc.get("time", "nan")) for tc in root.iter("testcase")]
    return sum(times) if times else None


def _designs(argv: list[str] | None) -> tuple[bool, list[tuple[str, int | None]], Path | None]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-synth", action="store_true", help="skip yosys")
    ap.add_argument("--auto", action="store_true", help="also the automatic folding (lanes per layer)")
    ap.add_argument("--parallelism", default=None,
                    help="forced P values, comma-separated, or 'none' (default 1,4,16; with --lenet300 none)")
    ap.add_argument("--skip", default="", metavar="P[,P...]",
                    help="with --lenet300: also these P with every layer skipping zero activations (--skip-zeros all)")
    ap.add_argument("--lenet300", type=Path, default=None, metavar="DIR",
                    help="the compressed LeNet-300-100 of DIR (model.onnx, model_report/stimulus_x.npy)")
    args = ap.parse_args(argv)
    spec = args.parallelism if args.parallelism is not None else (
        "none" if args.lenet300 is not None else ",".join(map(str, PARALLELISM)))
    forced = [] if spec.strip().lower() == "none" else [int(v) for v in spec.split(",") if v]
    designs: list[tuple[str, int | None]] = [(f"P={p}", p) for p in forced]
    if args.auto or not designs or args.lenet300 is not None:
        designs.append(("auto", None))
    designs += [(f"P={int(v)} skip", int(v)) for v in args.skip.split(",") if v.strip()]
    return not args.no_synth, designs, args.lenet300


#: The issue's starting point on the compressed LeNet-300-100: the largest single P that fit (P = 41).
START_CYCLES = 420


def _percentile(values: list[int], q: float) -> int:
    """The ``q``-th percentile (nearest rank) of ``values``."""
    v = sorted(values)
    return v[max(0, math.ceil(q / 100 * len(v)) - 1)]


def lenet300(src: Path, do_synth: bool, designs: list[tuple[str, int | None]]) -> None:
    """The compressed LeNet-300-100 of ``src`` on the PYNQ-Z2 (see the module docstring)."""
    import numpy as np

    from fpga_flow.analysis.fit import PLATFORM_COST
    from fpga_flow.sim.rtl_sim import stall_bursts

    board = load_board("pynq-z2")
    model, stim = src / "model.onnx", src / "model_report" / "stimulus_x.npy"
    n_img = int(np.load(stim).shape[0])
    with tempfile.TemporaryDirectory(prefix="bench_rtl_lenet300_") as tmp:
        for label, p in designs:
            out = Path(tmp) / label.replace("=", "").replace(" ", "_")
            t0 = time.perf_counter()
            res = build(model, out, BuildOptions(board=board.name, parallelism=p, stimulus=stim,
                                                 skip_zeros="all" if label.endswith("skip") else "off"))
            plan = res.report["plan"]
            est = plan["totals"]
            nnz = sum(int(s["multiplies"]) for s in _engines(plan))
            bound = -(-nnz // board.dsp)
            print(f"{label}: build {time.perf_counter() - t0:.1f} s; lanes "
                  + ", ".join(f"{s['name']} {s['lanes']}" for s in _engines(plan))
                  + (f"; bound by {plan['folding']['bound_label']}: {plan['folding']['detail']}"
                     if p is None else ""), flush=True)
            t0 = time.perf_counter()
            gap, stall = stall_bursts(est["ii"], res.plan.in_stream.fmt.beats, res.plan.out_stream.fmt.beats)
            sim = run_rtl_sim(out / "rtl", out / "tb_data", build_dir=out / "sim_build", gap_burst=gap,
                              stall_burst=stall, rounds=3,
                              max_cycles=8 * (est["latency"] + n_img * est["ii"]) + 100_000)
            wall = time.perf_counter() - t0
            ideal, bp = sim.phases.get("ideal"), sim.phases.get("backpressure")
            print(f"     cosim (Verilator, {n_img} test images): {'PASS' if sim.passed else 'FAIL'}; ideal "
                  f"{ideal.samples_out if ideal else 0}/{n_img}, {ideal.n_mismatches if ideal else '-'} mismatches; "
                  f"backpressure {bp.samples_out if bp else 0}/{3 * n_img}, {bp.n_mismatches if bp else '-'} "
                  f"mismatches; {wall:.1f} s with the Verilator build", flush=True)
            if not sim.passed or ideal is None:
                print(sim.summary())
                continue
            iv = list(ideal.intervals)
            mean = sum(iv) / len(iv)
            print(f"     II per image (ideal stream, {len(iv)} intervals): mean {mean:.1f}, 99th percentile "
                  f"{_percentile(iv, 99)}, worst {max(iv)} (plan {est['ii']}"
                  + (", guaranteed: every input nonzero" if plan.get("skipping") else "")
                  + f"); latency {ideal.latency} (plan {est['latency']}); {board.clock_mhz * 1e6 / mean:,.0f} images/s "
                  f"at {board.clock_mhz:g} MHz")
            print(f"     bound: {nnz} nonzero MACs / {board.dsp} DSP = {bound} cycles (mean II / bound "
                  f"{mean / bound:.2f}); the issue's start {START_CYCLES} (speed-up {START_CYCLES / mean:.2f}x)",
                  flush=True)
            if not do_synth:
                continue
            r = run_synth(out, board, log=None)
            c = r.counts
            share = {"lut": PLATFORM_COST.get("lut", 0), "ff": PLATFORM_COST.get("ff", 0),
                     "dsp": PLATFORM_COST.get("dsp", 0), "bram36": PLATFORM_COST.get("bram36", 0)}
            caps = {"lut": board.lut, "ff": board.ff, "dsp": board.dsp, "bram36": board.bram36}
            cells = []
            for k, name in (("lut", "LUT"), ("ff", "FF"), ("dsp", "DSP"), ("bram36", "BRAM36")):
                tot = c[k] + share[k]
                cells.append(f"{name} {c[k]:g} (plan {est[k]:g}, yosys/plan {c[k] / est[k] if est[k] else 0:.2f}) "
                             f"+ DMA {share[k]:g} = {100 * tot / caps[k]:.1f}%")
            fits = all(c[k] + share[k] <= caps[k] for k in caps)
            print(f"     yosys ({r.seconds:.0f} s): " + "; ".join(cells) + f" -> {'fits' if fits else 'DOES NOT FIT'}",
                  flush=True)


def main(argv: list[str] | None = None) -> None:
    do_synth, designs, lenet = _designs(argv)
    if lenet is not None:
        lenet300(lenet, do_synth, designs)
        return
    board = load_board("pynq-z2")
    with tempfile.TemporaryDirectory(prefix="bench_rtl_") as tmp:
        root = Path(tmp)
        _model(root / "mlp.onnx")
        rows = []
        for label, p in designs:
            out = root / label.replace("=", "")
            res = build(root / "mlp.onnx", out, BuildOptions(board=board.name, parallelism=p, n_stimulus=N_SAMPLES))
            plan = res.report["plan"]
            if p is None:
                f = plan["folding"]
                lanes = ", ".join(f"{n} {v}" for n, v in f["lanes"].items())
                print(f"auto: lanes {lanes}; bound by {f['bound_label']}: {f['detail']}", flush=True)
            est = plan["totals"]
            t0 = time.perf_counter()
            sim = run_rtl_sim(out / "rtl", out / "tb_data", phases=("ideal",), build_dir=out / "sim_build",
                              max_cycles=4 * (est["latency"] + N_SAMPLES * est["ii"]) + 10_000)
            wall = time.perf_counter() - t0
            test_s = _test_seconds(out / "sim_build")
            lb = lower_bound(plan)
            ph = sim.phases.get("ideal")
            rows.append((label, est, sim, ph, lb, wall, test_s))
            cps = sim.cycles_per_sample
            print(f"{label:<5} {'PASS' if sim.passed else 'FAIL'}  layers (longest lane / balanced, entries): "
                  + ", ".join(f"{s['name']} {s['entries']}/{s['entries_lower_bound']}"
                              for s in _engines(plan)), flush=True)
            if not sim.passed:
                print(sim.summary())
                continue
            ratio = cps / lb
            print(f"     cycles/sample {cps:.1f} (ideal, {N_SAMPLES} samples)  lower bound {lb}  ratio {ratio:.3f} "
                  f"(goal <= {GOAL}: {'met' if ratio <= GOAL else 'MISSED'})  II {sim.ii} / bound {lb} = "
                  f"{sim.ii / lb:.3f}")
            print(f"     latency {sim.latency} (plan {est['latency']})  II {sim.ii} (plan {est['ii']})  "
                  f"-> {board.clock_mhz * 1e6 / sim.ii:,.0f} samples/s at {board.clock_mhz:g} MHz")
            run_s = f"{test_s:.2f} s run, " if test_s else ""
            rate = f"{ph.cycles / test_s:,.0f} cycles/s" if test_s else "n/a"
            print(f"     simulation: {ph.cycles} cycles, {run_s}{wall:.1f} s with the Verilator build; {rate}",
                  flush=True)
        if not do_synth:
            return
        print(f"yosys synth_xilinx -family xc7 ({board.part}), kernel only; capacity LUT {board.lut}, FF {board.ff}, "
              f"DSP {board.dsp}, BRAM36 {board.bram36}", flush=True)

        def synth(label: str) -> Any:
            return run_synth(root / label.replace("=", ""), board, log=None)

        totals = {row[0]: row[1] for row in rows}

        def vs_plan(measured: float, planned: float) -> str:
            return f"{measured / planned:.2f}" if planned else "n/a"

        with ThreadPoolExecutor(max_workers=2) as pool:
            labels = [label for label, _ in designs]
            results = dict(zip(labels, pool.map(synth, labels), strict=True))
        for label in labels:
            r = results[label]
            c = r.counts

            def pct(v: float, cap: int) -> str:
                return f"{v:g} ({100 * v / cap:.1f}%)"

            print(f"{label:<5} LUT {pct(c['lut'], board.lut)} [LUTRAM {c['lutram']}]  FF {pct(c['ff'], board.ff)}  "
                  f"DSP {pct(c['dsp'], board.dsp)}  BRAM36 {pct(c['bram36'], board.bram36)} "
                  f"[RAMB36 {c['ramb36']}, RAMB18 {c['ramb18']}]  yosys {r.seconds:.0f} s")
            t = totals[label]
            print(f"     plan: LUT {t['lut']} (yosys/plan {vs_plan(c['lut'], t['lut'])})  FF {t['ff']} "
                  f"({vs_plan(c['ff'], t['ff'])})  DSP {t['dsp']} ({vs_plan(c['dsp'], t['dsp'])})  "
                  f"BRAM36 {t['bram36']:g} ({vs_plan(c['bram36'], t['bram36'])})", flush=True)


if __name__ == "__main__":
    main()
