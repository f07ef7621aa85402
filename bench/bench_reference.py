"""Reference executor throughput: 784-300-100-10 MLP at 90 % sparsity, 10,000 samples.

Goal (issue 2): <= 1 s on the 2-core machine. Prints the figures; asserts nothing.
Run: .venv/bin/python bench/bench_reference.py
"""

from __future__ import annotations

import time

import numpy as np

from fpga_flow.examples import benchmark_mlp
from fpga_flow.onnx_io import read_onnx
from fpga_flow.pipeline import lower


def main() -> None:
    t0 = time.perf_counter()
    model = benchmark_mlp(seed=0)
    graph = lower(read_onnx(model))
    t_read = time.perf_counter() - t0
    x = np.random.default_rng(0).uniform(-8, 8, size=(10_000, 784))
    graph.run(x[:100])  # warm-up (builds the sparse matrices)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        y, _t = graph.run(x)
        best = min(best, time.perf_counter() - t0)
    nnz = sum(d.nnz for d in graph.dense_layers())
    print(f"model: 784-300-100-10, {nnz} nonzero weights ({100 * nnz / (784 * 300 + 300 * 100 + 100 * 10):.1f}%), "
          f"storage {[d.storage for d in graph.dense_layers()]}")
    print(f"read + lower: {t_read:.3f} s")
    print(f"reference: 10,000 samples in {best:.3f} s ({10_000 / best:,.0f} samples/s, "
          f"{nnz * 10_000 / best / 1e6:,.0f} M MAC/s)  goal <= 1 s: {'met' if best <= 1 else 'MISSED'}")
    assert y.shape == (10_000, 10)


if __name__ == "__main__":
    main()
