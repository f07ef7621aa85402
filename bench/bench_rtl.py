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

Prints the figures; asserts nothing. Takes a few minutes (yosys dominates).
Run: PATH=.venv/bin:$PATH .venv/bin/python bench/bench_rtl.py [--no-synth] [--auto] [--parallelism 1,4,16]
"""

from __future__ import annotations

import argparse
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


def _designs(argv: list[str] | None) -> tuple[bool, list[tuple[str, int | None]]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-synth", action="store_true", help="skip yosys")
    ap.add_argument("--auto", action="store_true", help="also the automatic folding (lanes per layer)")
    ap.add_argument("--parallelism", default=",".join(map(str, PARALLELISM)),
                    help="forced P values, comma-separated, or 'none' (default 1,4,16)")
    args = ap.parse_args(argv)
    forced = [] if args.parallelism.strip().lower() == "none" else [int(v) for v in args.parallelism.split(",") if v]
    designs: list[tuple[str, int | None]] = [(f"P={p}", p) for p in forced]
    if args.auto or not designs:
        designs.append(("auto", None))
    return not args.no_synth, designs


def main(argv: list[str] | None = None) -> None:
    do_synth, designs = _designs(argv)
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
