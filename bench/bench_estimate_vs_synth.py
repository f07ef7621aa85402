"""Resource estimate (the hardware plan's cost model, fpga_flow/hw/cost.py) against yosys.

For each design point -- the benchmark MLP (784-300-100-10, ~90 % sparse, 16-bit) at P = 1, 4,
16 lanes per layer with ``--storage`` auto, csr, codebook_csr and dense, plus small models -- it
plans the design (:func:`fpga_flow.hw.plan_design`), writes its Verilog (:func:`emit_rtl`), runs
``fpga-flow synth``'s yosys (:func:`fpga_flow.sim.synth.run_synth`: ``synth_xilinx -family xc7
-flatten -noiopad -noclkbuf`` for the PYNQ-Z2, cells counted by ``count_cells``) and prints
estimate vs synthesis for LUT, FF, DSP and BRAM36 with the ratio and whether it is inside the
stated tolerance (:data:`TOLERANCE`: DSP exact, BRAM36 +-10 %, LUT and FF +-25 %), then the
synthesis times (min / median). Designs whose Verilog is byte-identical (``auto`` picks CSR for
every layer of this model) are synthesized once.

The benchmark MLP's 16-bit weights have too many distinct values for a codebook, so the
``codebook_csr`` points use the same network with 32-entry codebooks per layer
(:func:`benchmark_codebook_mlp`). Small models: an 8-bit MLP (codebook + CSR), a factored
codebook MLP (8-entry codebooks: the ``codebook_factored`` engine) and an unfused MLP whose
ReLU and requantization are point-wise engines.

Every point runs by default (about 40 minutes on a 2-core VM): the dense-storage designs take
yosys 5-8 minutes each (P = 1 has a 235,200-entry ROM), under the 10 minutes above which a point
would go to :data:`SLOW_POINTS` (left out unless named with ``--points``); ``--quick`` runs
:data:`QUICK_POINTS` (a few minutes).

The estimate is the plan's own figure (``DesignPlan.cost``: the cost model of fpga_flow/hw/cost.py
over the plan's blocks, what the report, ``inspect`` and fit show).

Prints the figures; asserts nothing.
Run: .venv/bin/python bench/bench_estimate_vs_synth.py [--quick] [--points auto:1,dense:16,small] [--keep DIR]
(the Verilog in a temporary folder, removed at the end unless ``--keep``; with ``--keep`` a later
run reuses the synthesis results of byte-identical Verilog, keyed by its SHA-256).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from fpga_flow.backends.rtl import emit_rtl
from fpga_flow.boards import Board, load_board
from fpga_flow.examples import LayerSpec, QuantSpecF, benchmark_mlp, sparse_mlp
from fpga_flow.fixed import Overflow, Rounding
from fpga_flow.hw import Cost, DesignPlan, plan_design
from fpga_flow.ir import Graph
from fpga_flow.pipeline import LowerOptions, load_and_lower
from fpga_flow.sim.synth import run_synth

PARALLELISM = (1, 4, 16)
STORAGES = ("auto", "csr", "codebook_csr", "dense")
#: Benchmark points left out of the default run (yosys over 10 minutes); none at present: dense:1, the
#: slowest, took 6 minutes (yosys 0.23, 2-core VM).
SLOW_POINTS: tuple[str, ...] = ()
QUICK_POINTS = ("auto:1", "auto:4", "codebook_csr:4", "small")
SMALL_MODELS = ("mlp8", "factored", "unfused")
#: ``--storage`` of each small model.
SMALL_STORAGE = {"mlp8": "auto", "factored": "codebook_csr", "unfused": "auto"}

#: Stated tolerance of the estimate against yosys: |estimate / synth - 1| <= this (0: exact).
TOLERANCE: dict[str, float] = {"lut": 0.25, "ff": 0.25, "dsp": 0.0, "bram36": 0.10}
RESOURCES = ("lut", "ff", "dsp", "bram36")


def benchmark_codebook_mlp(seed: int = 0) -> onnx.ModelProto:
    """The benchmark MLP's shapes and types with a 32-entry codebook per layer (weight sharing)."""
    w16 = QuantSpecF(16, 10)
    a16 = QuantSpecF(16, 10, signed=False)
    return sparse_mlp(
        784,
        [LayerSpec(300, 0.9, codebook_bits=5, weight=w16, act=a16),
         LayerSpec(100, 0.9, codebook_bits=5, weight=w16, act=a16),
         LayerSpec(10, 0.9, codebook_bits=5, weight=w16, relu=False, act=None)],
        input_quant=QuantSpecF(16, 10), seed=seed, name="benchmark_codebook_mlp",
    )  # fmt: skip


def _small_model(name: str) -> onnx.ModelProto:
    if name == "mlp8":  # 8-bit weights/activations: few distinct weights, so "auto" picks a codebook for fc0
        return sparse_mlp(128, [LayerSpec(64, 0.8), LayerSpec(10, 0.8, relu=False, act=None)], seed=1, name="mlp8")
    if name == "factored":  # 8-entry codebooks: the factored codebook engine (no DSP)
        return sparse_mlp(64, [LayerSpec(32, 0.7, codebook_bits=3), LayerSpec(10, 0.7, codebook_bits=3, relu=False,
                                                                                act=None)], seed=2, name="factored")
    raise ValueError(name)


def _unfused_mlp() -> Graph:
    """input -> [dense -> relu -> quantize] x 2 -> dense, nothing fused: the point-wise engines."""
    from fpga_flow.fixed import FixedType
    from fpga_flow.ir import DenseLayer, DenseWeights, InputLayer, Layer, QuantizeLayer, ReluLayer
    from fpga_flow.ir.accum import naive_accumulator_type

    in_t = FixedType(8, 4, True, Rounding.RND_CONV, Overflow.SAT)
    w_t = FixedType(8, 1, True, Rounding.RND_CONV, Overflow.SAT)
    b_t = FixedType(12, 4, True, Rounding.RND_CONV, Overflow.SAT)
    act_t = FixedType(8, 4, False, Rounding.RND_CONV, Overflow.SAT)
    rng = np.random.default_rng(0)
    inp = InputLayer("x", (), (32,), in_t)
    layers: list[Layer] = [inp]
    src: Layer = inp
    sizes = (32, 20, 12, 6)
    for i, n in enumerate(sizes[1:]):
        w = rng.integers(w_t.min_mantissa, w_t.max_mantissa + 1, size=(n, src.size))
        w[rng.random(w.shape) < 0.8] = 0
        b = rng.integers(-300, 300, size=n)
        tmp = DenseLayer(f"fc{i}", (src.name,), (n,), w_t, n_in=src.size, n_out=n, weights=DenseWeights(w),
                         weight_type=w_t, bias=b, bias_type=b_t, acc_type=w_t)
        acc = naive_accumulator_type(tmp, src.out_type)
        d = DenseLayer(f"fc{i}", (src.name,), (n,), acc, n_in=src.size, n_out=n, weights=DenseWeights(w),
                       weight_type=w_t, bias=b, bias_type=b_t, acc_type=acc)
        layers.append(d)
        src = d
        if i < len(sizes) - 2:
            r = ReluLayer(f"relu{i}", (src.name,), src.shape, src.out_type)
            q = QuantizeLayer(f"q{i}", (r.name,), r.shape, act_t)
            layers += [r, q]
            src = q
    return Graph("unfused_mlp", tuple(layers), (src.name,)).verify()


@dataclass(frozen=True)
class Point:
    """One design: a model, its storage and the lanes per layer."""

    model: str  # "mlp" (the benchmark), "mlp_codebook", or a small model
    storage: str
    parallelism: int

    @property
    def label(self) -> str:
        return f"{self.model} {self.storage} P={self.parallelism}"

    @property
    def slug(self) -> str:
        return f"{self.model}_{self.storage}_p{self.parallelism}"


def parse_points(spec: str) -> list[Point]:
    """``auto:1,dense:16,small,...``: storage:P of the benchmark MLP, ``all`` (every benchmark point
    but the slow ones), ``small`` (the small models at P = 1 and 4), ``name:P`` of a small model."""
    out: list[Point] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if item == "all":
            out += [p for st in STORAGES for pp in PARALLELISM if f"{st}:{pp}" not in SLOW_POINTS
                    for p in parse_points(f"{st}:{pp}")]
        elif item == "small":
            out += [Point(m, SMALL_STORAGE[m], pp) for m in SMALL_MODELS for pp in (1, 4)]
        else:
            name, _, p = item.partition(":")
            if name in STORAGES:
                out.append(Point("mlp_codebook" if name == "codebook_csr" else "mlp", name, int(p)))
            elif name in SMALL_MODELS:
                out.append(Point(name, SMALL_STORAGE[name], int(p)))
            else:
                raise SystemExit(f"unknown point {item!r}: use storage:P ({', '.join(STORAGES)}), "
                                 f"{'/'.join(SMALL_MODELS)}:P, 'small' or 'all'")
    return out


def _graph(point: Point, models: Path) -> Graph:
    if point.model == "unfused":
        return _unfused_mlp()
    makers: dict[str, Callable[[], onnx.ModelProto]] = {
        "mlp": lambda: benchmark_mlp(seed=0),
        "mlp_codebook": lambda: benchmark_codebook_mlp(seed=0),
        "mlp8": lambda: _small_model("mlp8"),
        "factored": lambda: _small_model("factored"),
    }
    path = models / f"{point.model}.onnx"
    if not path.exists():
        onnx.save(makers[point.model](), path)
    return load_and_lower(path, None, LowerOptions(storage=point.storage))


def estimate_from_plan(plan: DesignPlan, family: str) -> Cost:
    """The plan's own figure: the cost model over every block, with every fact the plan knows
    (fpga_flow/hw/engines.py and design.py pass them). ``family`` must be the plan's."""
    assert family == plan.family, (family, plan.family)
    return plan.cost


def _rtl_digest(rtl: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(rtl.iterdir()):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _ratio(est: float, syn: float) -> float:
    if syn == 0:
        return 1.0 if est == 0 else float("inf")
    return est / syn


def _inside(key: str, est: float, syn: float) -> bool:
    if TOLERANCE[key] == 0.0:
        return est == syn
    return abs(_ratio(est, syn) - 1.0) <= TOLERANCE[key] + 1e-9


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_POINTS)}")
    ap.add_argument("--points", default=None, help="comma-separated points (see parse_points); default: all + small")
    ap.add_argument("--board", default="pynq-z2")
    ap.add_argument("--keep", type=Path, default=None,
                    help="keep the designs and synthesis results in this folder; a later run with the same folder "
                         "reuses the synthesis of unchanged Verilog")
    a = ap.parse_args(argv)
    spec = a.points if a.points is not None else (",".join(QUICK_POINTS) if a.quick else "all,small")
    points = parse_points(spec)
    board: Board = load_board(a.board)
    print(f"estimate (fpga_flow/hw/cost.py via plan_design) vs yosys synth_xilinx -family {board.yosys_family} "
          f"({board.part}); tolerance: DSP exact, BRAM36 +-10 %, LUT/FF +-25 %", flush=True)
    if a.points is None and SLOW_POINTS:
        print(f"left out (too slow for yosys): {', '.join(SLOW_POINTS)}; run them with --points", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench_est_")) if a.keep is None else a.keep
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        _run(points, board, tmp)
    finally:
        if a.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


def _cells(est: Cost, counts: dict[str, Any]) -> str:
    out = []
    for k in RESOURCES:
        e, y = float(getattr(est, k)), float(counts[k])
        out.append(f"{e:>7g}/{y:<7g} {_ratio(e, y):5.2f} {'ok' if _inside(k, e, y) else 'OUT':3}")
    return " ".join(out)


def _run(points: list[Point], board: Board, root: Path) -> None:
    models = root / "models"
    models.mkdir(exist_ok=True)
    family = board.yosys_family
    done: dict[str, tuple[dict[str, Any], float, str]] = {}
    rows: list[tuple[Point, Cost, Cost, dict[str, Any]]] = []
    print(f"{'design':28} " + " ".join(f"{k.upper():>7} est/synth   ratio   " for k in RESOURCES)
          + "synth s | plan.cost ratios LUT FF DSP BRAM36", flush=True)
    for pt in points:
        plan = plan_design(_graph(pt, models), pt.parallelism, board)
        t0 = time.perf_counter()
        est = estimate_from_plan(plan, family)
        t_est = time.perf_counter() - t0
        out = root / pt.slug
        if out.exists():
            shutil.rmtree(out)
        emit_rtl(plan, out / "rtl")
        digest = _rtl_digest(out / "rtl")
        note = ""
        cached = root / "synth_cache" / f"{digest}.json"
        if digest in done:
            counts, seconds, first = done[digest]
            note = f" (same Verilog as {first})"
        elif cached.is_file():  # --keep DIR of an earlier run: this very Verilog was synthesized there
            c = json.loads(cached.read_text())
            counts, seconds = c["counts"], float(c["seconds"])
            done[digest] = (counts, seconds, pt.label)
            note = " (synthesis reused from an earlier run in this folder)"
        else:
            r = run_synth(out, board)
            counts, seconds = r.counts, r.seconds
            done[digest] = (counts, seconds, pt.label)
            cached.parent.mkdir(exist_ok=True)
            cached.write_text(json.dumps({"label": pt.label, "counts": counts, "seconds": seconds}))
        rows.append((pt, est, plan.cost, counts))
        pc = plan.cost
        plan_r = " ".join(f"{_ratio(float(getattr(pc, k)), float(counts[k])):.2f}" for k in RESOURCES)
        print(f"{pt.label:28} {_cells(est, counts)} {seconds:7.1f} | {plan_r}{note} "
              f"(estimate {1e3 * t_est:.0f} ms)", flush=True)
        shutil.rmtree(out / "synth", ignore_errors=True)
    print()
    for name, pick in (("estimate", 1), ("plan.cost", 2)):
        inside = {k: sum(_inside(k, float(getattr(r[pick], k)), float(r[3][k])) for r in rows) for k in RESOURCES}
        print(f"{name:9} inside tolerance: " + ", ".join(f"{k.upper()} {inside[k]}/{len(rows)}" for k in RESOURCES))
    for k in ("lut", "ff"):
        rs = [_ratio(float(getattr(r[1], k)), float(r[3][k])) for r in rows]
        if rs:
            print(f"{k.upper()} estimate/synth: min {min(rs):.2f}, median {statistics.median(rs):.2f}, "
                  f"max {max(rs):.2f}")
    times = [d[1] for d in done.values()]
    if times:
        print(f"yosys time over {len(times)} distinct designs: min {min(times):.1f} s, median "
              f"{statistics.median(times):.1f} s, max {max(times):.1f} s, total {sum(times) / 60:.1f} min")


if __name__ == "__main__":
    main(sys.argv[1:])
