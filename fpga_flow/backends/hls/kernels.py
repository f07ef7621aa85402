"""Which HLS kernel computes each dense layer, and how its rows are dealt to parallel lanes.

Everything here is a pure function of a layer and the parallelism ``P`` (no files, no templates):

* :func:`choose_kernel` -- the kernel of the hand-written library (``templates/hls/lib``) a layer uses:

  ========================  =====================================================================
  ``dense``                 ``DenseWeights``: every weight (zeros too), ``P`` MAC lanes, rows
                            dealt round-robin; ``ceil(n_out/P) * n_in`` cycles.
  ``csr``                   ``CsrWeights``: one flattened loop over the nonzeros (II=1), ``P``
                            lanes; rows dealt to lanes balanced by nonzero count (as EIE does).
  ``codebook``              ``CodebookCsrWeights``: as ``csr`` but each nonzero stores a narrow
                            code; the codebook sits in registers; one multiplier per lane.
  ``codebook_factored``     ``CodebookCsrWeights``: per lane, ``K`` running sums of the inputs
                            (one per codebook entry, adders only); at each row end
                            ``sum_k c_k * S_k`` with ``K`` constant-coefficient multipliers
                            (shift-add logic, no DSP): ``K`` multiplies per row instead of ``nnz``.
  ========================  =====================================================================

  The factored form is chosen when it does fewer multiplies (``K * rows < nnz``, i.e. rows hold
  more nonzeros than the codebook has entries on average), the codebook is small
  (``K <= MAX_FACTORED_CODEBOOK``) and its ``P * K`` sum registers fit the register budget
  (:data:`FACTORED_REGISTER_BUDGET` bits, sized by the accumulator width as an upper bound).
  Otherwise the plain codebook kernel (one DSP multiplier per lane) is used.

* :func:`assign_rows` -- longest-processing-time-first dealing of rows to lanes by nonzero count,
  deterministic; each lane then walks its rows in ascending order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fpga_flow.ir import CodebookCsrWeights, CsrWeights, DenseLayer, DenseWeights

__all__ = [
    "FACTORED_REGISTER_BUDGET",
    "KERNELS",
    "MAX_FACTORED_CODEBOOK",
    "KernelChoice",
    "assign_rows",
    "choose_kernel",
    "lane_count",
    "row_nnz",
]

#: Every kernel name the backend emits.
KERNELS = ("dense", "csr", "codebook", "codebook_factored")

#: Largest codebook the factored kernel accepts (its per-lane sums and constant multipliers grow with K).
MAX_FACTORED_CODEBOOK = 16

#: Bits of per-entry sum registers (over all lanes) a factored layer may use.
FACTORED_REGISTER_BUDGET = 8192


@dataclass(frozen=True)
class KernelChoice:
    """The kernel of one dense layer, its lane count and why it was chosen."""

    kernel: str
    lanes: int
    multiplies: int  # multiplies per sample
    reason: str


def row_nnz(layer: DenseLayer) -> np.ndarray:
    """Nonzeros per output row (stored nonzeros for CSR kinds, count of nonzero weights for dense)."""
    w = layer.weights
    if isinstance(w, DenseWeights):
        return np.count_nonzero(w.values, axis=1).astype(np.int64)
    return np.diff(w.row_ptr).astype(np.int64)


def lane_count(layer: DenseLayer, parallelism: int) -> int:
    """Lanes actually instantiated: at most ``parallelism``, never more than rows with work (at least 1)."""
    if parallelism < 1:
        raise ValueError(f"parallelism must be at least 1, got {parallelism}")
    if isinstance(layer.weights, DenseWeights):
        return max(1, min(parallelism, layer.n_out))
    return max(1, min(parallelism, int(np.count_nonzero(row_nnz(layer)))))


def choose_kernel(layer: DenseLayer, parallelism: int) -> KernelChoice:
    """The kernel for ``layer`` at ``parallelism`` lanes (a pure function; see the module docstring)."""
    lanes = lane_count(layer, parallelism)
    w = layer.weights
    if isinstance(w, DenseWeights):
        return KernelChoice("dense", lanes, layer.n_out * layer.n_in, "dense weight storage")
    if isinstance(w, CsrWeights):
        return KernelChoice("csr", lanes, w.nnz, "CSR weight storage")
    if not isinstance(w, CodebookCsrWeights):  # pragma: no cover - storage kinds are closed
        raise TypeError(f"unknown weight storage {type(w).__name__}")
    k = int(w.codebook.size)
    rows = int(np.count_nonzero(row_nnz(layer)))
    factored_mults = k * rows
    if k > MAX_FACTORED_CODEBOOK:
        return KernelChoice("codebook", lanes, w.nnz, f"codebook has {k} > {MAX_FACTORED_CODEBOOK} entries")
    if factored_mults >= w.nnz:
        return KernelChoice(
            "codebook", lanes, w.nnz, f"factoring needs {factored_mults} multiplies, not fewer than {w.nnz} nonzeros"
        )
    regs = lanes * k * layer.acc_type.width
    if regs > FACTORED_REGISTER_BUDGET:
        return KernelChoice(
            "codebook", lanes, w.nnz, f"{lanes} lanes x {k} sums need {regs} > {FACTORED_REGISTER_BUDGET} register bits"
        )
    return KernelChoice(
        "codebook_factored", lanes, factored_mults, f"{factored_mults} multiplies instead of {w.nnz} (K={k})"
    )


def assign_rows(nnz_per_row: Sequence[int] | np.ndarray, lanes: int) -> tuple[tuple[int, ...], ...]:
    """Deal the rows with nonzeros to ``lanes`` lanes balanced by nonzero count.

    Longest rows first, each to the least-loaded lane (lowest lane index on ties); rows without
    nonzeros go to no lane (their output is the bias alone). Each lane lists its rows ascending.
    """
    counts = [int(c) for c in nnz_per_row]
    order = sorted((r for r, c in enumerate(counts) if c > 0), key=lambda r: (-counts[r], r))
    load = [0] * lanes
    rows: list[list[int]] = [[] for _ in range(lanes)]
    for r in order:
        lane = min(range(lanes), key=lambda i: (load[i], i))
        load[lane] += counts[r]
        rows[lane].append(r)
    return tuple(tuple(sorted(lane_rows)) for lane_rows in rows)
