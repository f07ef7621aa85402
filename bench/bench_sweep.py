"""Estimate-only sweeps on a Dask LocalCluster: points per second with 1 and 2 workers.

The model is the benchmarks' LeNet-300-100-sized MLP (``fpga_flow.examples.benchmark_mlp``); the
points are 5 boards x 13 parallelisms x 3 storages = 195. Each worker loads and lowers the model
once (a warm-up sweep, not timed), then every timed sweep runs in a fresh folder (nothing from the
cache). The two configurations are timed interleaved (1 worker, 2 workers, 1, 2, ...) on one
pair of clusters, as the machine is shared; the script prints min and median wall time, points
per second and the scaling ratio, and the client's CPU time (the work itself runs in the worker
processes).

    .venv/bin/python bench/bench_sweep.py [--pairs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import onnx

from fpga_flow.examples import benchmark_mlp
from fpga_flow.sweep.points import expand_points
from fpga_flow.sweep.run import SweepOptions, cluster_client, run_sweep

BOARDS = ("pynq-z2", "zcu104", "zcu102", "ultra96-v2", "kv260")
PARALLELISM = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32)
STORAGES = ("auto", "csr", "dense")


def _sweep(client, points, root: Path, tag: str) -> tuple[float, float]:  # noqa: ANN001 - a dask Client
    out = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=root))
    c0, t0 = time.process_time(), time.perf_counter()
    res = run_sweep(points, out, SweepOptions(), client=client, stream=None)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if res.failed or res.cached:
        raise SystemExit(f"unexpected: {res.failed} failed, {res.cached} cached")
    return wall, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = root / "mlp.onnx"
        onnx.save(benchmark_mlp(), model)
        points = expand_points([model], BOARDS, PARALLELISM, STORAGES)
        n = len(points)
        times: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
        with cluster_client(None, 1) as c1, cluster_client(None, 2) as c2:
            clients = {1: c1, 2: c2}
            for w, c in clients.items():  # warm-up: each worker reads and lowers the model once
                _sweep(c, points, root, f"warm{w}")
            for _ in range(args.pairs):
                for w, c in clients.items():
                    times[w].append(_sweep(c, points, root, f"w{w}"))
    print(f"{n} estimate-only points (LeNet-300-100-sized MLP, {len(BOARDS)} boards x {len(PARALLELISM)} "
          f"parallelisms x {len(STORAGES)} storages), {args.pairs} interleaved pairs")
    med = {}
    for w, ts in times.items():
        walls = [t for t, _ in ts]
        med[w] = statistics.median(walls)
        print(f"  {w} worker(s): wall min {min(walls):.2f} s, median {med[w]:.2f} s -> {n / med[w]:.0f} points/s "
              f"(median); client CPU median {statistics.median(c for _, c in ts):.2f} s")
    print(f"  scaling 1 -> 2 workers: {med[1] / med[2]:.2f}x (median wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
