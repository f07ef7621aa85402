"""Planners: layer kind -> the function that decides its engine, lanes, schedule and ROM arrays.

A planner is ``planner(layer, in_type, parallelism) -> LayerPlan`` (pure: no files, no backend);
register one with :func:`register_planner`. :func:`plan_layer` dispatches on the layer's kind and
refuses a kind without a planner. Cycles and resources are filled in afterwards by the engine
models (:mod:`fpga_flow.hw.engines`), once the buffers between layers are known.

Kernel choice for codebook layers: the factored form (``codebook_factored``) is chosen when it
does fewer multiplies (``K * rows < nnz``), the codebook is small (``K <=``
:data:`MAX_FACTORED_CODEBOOK`) and its ``lanes * K`` sum registers fit
:data:`FACTORED_REGISTER_BUDGET` bits (sized by the accumulator width); otherwise ``codebook``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from fpga_flow.errors import UnsupportedError
from fpga_flow.fixed import FixedType
from fpga_flow.hw.plan import LayerPlan, MacFields, Rom, bits_for
from fpga_flow.hw.schedule import Schedule, make_schedule
from fpga_flow.ir import (
    CodebookCsrWeights,
    CsrWeights,
    DenseLayer,
    DenseWeights,
    Layer,
    MacLayer,
    QuantizeLayer,
    ReluLayer,
    ReshapeLayer,
    layer_kind,
)

__all__ = [
    "FACTORED_REGISTER_BUDGET",
    "MAX_FACTORED_CODEBOOK",
    "PLANNERS",
    "Planner",
    "lane_count",
    "plan_layer",
    "plan_pointwise",
    "register_planner",
    "row_nnz",
    "dense_lane_arrays",
    "sparse_lane_arrays",
]

#: Largest codebook the factored kernel accepts (its per-lane sums and constant multipliers grow with K).
MAX_FACTORED_CODEBOOK = 16
#: Bits of per-entry sum registers (over all lanes) a factored layer may use.
FACTORED_REGISTER_BUDGET = 8192
#: Widest mantissa a constant may have (C++ double literals and int64 words carry it exactly).
MAX_CONSTANT_BITS = 53

Planner = Callable[[Layer, FixedType, int], LayerPlan]

#: layer kind (``Layer.op``) -> planner. Extend it with :func:`register_planner`.
PLANNERS: dict[str, Planner] = {}

P = TypeVar("P", bound=Planner)


def register_planner(*kinds: str) -> Callable[[P], P]:
    """Decorator: ``planner`` plans layers of ``kinds``."""

    def deco(fn: P) -> P:
        for k in kinds:
            if k in PLANNERS and PLANNERS[k] is not fn:
                raise ValueError(f"layer kind {k!r} already has a planner")
            PLANNERS[k] = fn
        return fn

    return deco


def plan_layer(layer: Layer, in_type: FixedType, parallelism: int) -> LayerPlan:
    """The plan of ``layer`` (reading ``in_type``) at ``parallelism`` lanes, by its kind's planner."""
    kind = layer_kind(layer)
    planner = PLANNERS.get(kind)
    if planner is None:
        raise UnsupportedError(
            f"layer {layer.label}: op '{kind}' has no hardware planner yet (planned: {', '.join(sorted(PLANNERS))}); "
            "`fpga-flow inspect` and `fpga-flow run` (the bit-exact reference) work on this model"
        )
    return planner(layer, in_type, parallelism)


# ----------------------------------------------------------------------------- MAC layers
def row_nnz(layer: MacLayer) -> np.ndarray:
    """Nonzeros per output row (stored nonzeros for CSR kinds, count of nonzero weights for dense)."""
    w = layer.weights
    if isinstance(w, DenseWeights):
        return np.count_nonzero(w.values, axis=1).astype(np.int64)
    return np.diff(w.row_ptr).astype(np.int64)


def lane_count(layer: MacLayer, parallelism: int) -> int:
    """Lanes instantiated: at most ``parallelism``, never more than rows with work (at least 1).

    Every row of dense storage is work; with sparse storage a row without nonzeros is not (it
    costs its lane one zero-weight entry, dealt to the least-loaded lane)."""
    if parallelism < 1:
        raise ValueError(f"parallelism must be at least 1, got {parallelism}")
    if isinstance(layer.weights, DenseWeights):
        return max(1, min(parallelism, layer.rows))
    return max(1, min(parallelism, int(np.count_nonzero(row_nnz(layer)))))


def _check_constant(lay: MacLayer, what: str, t: FixedType) -> None:
    if t.width > MAX_CONSTANT_BITS:
        raise UnsupportedError(
            f"layer {lay.label}: {what} type {t} is wider than {MAX_CONSTANT_BITS} bits, which the "
            "generated constant tables cannot carry exactly; quantize it to fewer bits"
        )


def _factored_sum_type(layer: DenseLayer, codes: np.ndarray, k: int, in_type: FixedType) -> FixedType:
    """Narrowest signed type holding the sum of the inputs sharing one code within one row."""
    w = layer.weights
    rows = np.repeat(np.arange(layer.n_out, dtype=np.int64), np.diff(w.row_ptr))  # type: ignore[union-attr]
    counts = np.bincount(rows * k + codes, minlength=layer.n_out * k) if codes.size else np.zeros(1, np.int64)
    bound = max(1, int(counts.max())) * in_type.max_abs_mantissa
    width = max(bound.bit_length() + 1, 2)
    return FixedType(width, width - in_type.frac, True)


def _choose_codebook_kernel(layer: DenseLayer, k: int, lanes: int) -> tuple[str, int, str]:
    """(engine, multiplies per sample, reason) of a codebook layer with ``k`` hardware entries."""
    nnz = layer.nnz
    rows = int(np.count_nonzero(row_nnz(layer)))
    factored = k * rows
    if k > MAX_FACTORED_CODEBOOK:
        return "codebook", nnz, f"codebook has {k} > {MAX_FACTORED_CODEBOOK} entries"
    if factored >= nnz:
        return "codebook", nnz, f"factoring needs {factored} multiplies, not fewer than {nnz} nonzeros"
    regs = lanes * k * layer.acc_type.width
    if regs > FACTORED_REGISTER_BUDGET:
        return "codebook", nnz, f"{lanes} lanes x {k} sums need {regs} > {FACTORED_REGISTER_BUDGET} register bits"
    return "codebook_factored", factored, f"{factored} multiplies instead of {nnz} (K={k})"


def dense_lane_arrays(layer: MacLayer, sched: Schedule, entries: int, pad_rows: int = 0,
                      col_of: Callable[[int, np.ndarray], np.ndarray] | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``col``, ``val``, ``last`` lane arrays of dense storage: every weight of a row, zeros
    too (dummy rows and ``col_of`` as in :func:`sparse_lane_arrays`)."""
    w = layer.weights
    assert isinstance(w, DenseWeights)
    n = layer.row_length
    col = np.zeros((sched.lanes, entries), np.int64)
    val = np.zeros((sched.lanes, entries), np.int64)
    last = np.zeros((sched.lanes, entries), np.int64)
    cols = np.arange(n, dtype=np.int64)
    for lane, rows in enumerate(sched.lane_rows):
        for slot, r in enumerate(rows):
            a = slot * n
            col[lane, a : a + n] = cols if col_of is None else col_of(r, cols)
            val[lane, a : a + n] = w.values[r]
            last[lane, a + n - 1] = 1
        for k in range(len(rows), pad_rows):  # dummy rows: one zero-weight entry each
            last[lane, len(rows) * n + k - len(rows)] = 1
    return col, val, last


def sparse_lane_arrays(layer: MacLayer, sched: Schedule, entries: int, pad_rows: int = 0,
                       col_of: Callable[[int, np.ndarray], np.ndarray] | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The ``col``, ``val``, ``last`` lane arrays (``lanes x entries``) of a CSR or codebook CSR layer
    dealt by ``sched``, and the codebook as the hardware holds it (``None`` without one).

    A row without nonzeros takes one zero-weight entry (a zero code: one codebook entry 0 is added
    when the codebook has none). With ``pad_rows``, every lane ends with one-entry dummy rows up to
    ``pad_rows`` rows (a zero weight; its result lands in an unused slot). ``col_of(row, cols)`` maps
    a row's stored columns to the column the hardware reads (default: unchanged).
    """
    w = layer.weights
    assert isinstance(w, CsrWeights | CodebookCsrWeights)
    counts = row_nnz(layer)
    coded = isinstance(w, CodebookCsrWeights)
    book: np.ndarray | None = None
    zero_code = 0
    if isinstance(w, CodebookCsrWeights):
        book = np.asarray(w.codebook, np.int64)
        if np.any(counts == 0) or pad_rows:
            zeros = np.flatnonzero(book == 0)
            if zeros.size:
                zero_code = int(zeros[0])
            else:  # a row without nonzeros needs a zero weight: one more codebook entry
                zero_code = int(book.size)
                book = np.append(book, 0)
        entries_v = np.asarray(w.codes, np.int64)
    else:
        entries_v = np.asarray(w.values, np.int64)
    lanes = sched.lanes
    col = np.zeros((lanes, entries), np.int64)
    val = np.zeros((lanes, entries), np.int64)
    last = np.zeros((lanes, entries), np.int64)
    for lane, rows in enumerate(sched.lane_rows):
        t = 0
        for r in rows:
            a, b = int(w.row_ptr[r]), int(w.row_ptr[r + 1])
            if b == a:  # no nonzeros: one zero-weight entry writes the bias
                val[lane, t] = zero_code if coded else 0
                last[lane, t] = 1
                t += 1
                continue
            cols = np.asarray(w.col_idx[a:b], np.int64)
            col[lane, t : t + b - a] = cols if col_of is None else col_of(r, cols)
            val[lane, t : t + b - a] = entries_v[a:b]
            last[lane, t + b - a - 1] = 1
            t += b - a
        for _ in range(len(rows), pad_rows):  # dummy rows: one zero-weight entry each
            val[lane, t] = zero_code if coded else 0
            last[lane, t] = 1
            t += 1
    return col, val, last, book


@register_planner("dense")
def plan_dense(layer: Layer, in_type: FixedType, parallelism: int) -> LayerPlan:
    """A dense layer on one of the MAC engines, by its weight storage."""
    assert isinstance(layer, DenseLayer)
    _check_constant(layer, "weight", layer.weight_type)
    _check_constant(layer, "bias", layer.bias_type)
    if not layer.acc_type.signed:
        raise UnsupportedError(f"layer {layer.label}: the accumulator type {layer.acc_type} must be signed")
    lanes = lane_count(layer, parallelism)
    w = layer.weights
    wt, bt = layer.weight_type, layer.bias_type
    col_bits = bits_for(layer.n_in)
    bias = Rom("b", bt.width, np.asarray(layer.bias, np.int64), bt.frac, bt.signed)
    relu = layer.activation.value == "relu"

    def fields(wf: int) -> MacFields:
        return MacFields(wf, wt.width, wt.signed, wt.frac, bt.width, bt.signed, bt.frac,
                         layer.acc_type.width, layer.acc_type.frac, in_type, layer.out_type, relu)

    if isinstance(w, DenseWeights):
        sched = make_schedule([layer.n_in] * layer.n_out, lanes)
        col, val, last = dense_lane_arrays(layer, sched, sched.entries)
        return LayerPlan(
            layer, in_type, "dense", "dense weight storage", sched, fields(wt.width),
            roms=(Rom("w", wt.width, val, wt.frac, wt.signed), bias),
            arrays={"col": col, "val": val, "last": last}, col_bits=col_bits,
            multiplies=layer.n_out * layer.n_in,
        )  # fmt: skip

    assert isinstance(w, CsrWeights | CodebookCsrWeights)
    counts = row_nnz(layer)
    sched = make_schedule(counts, lanes)
    col, val, last, book = sparse_lane_arrays(layer, sched, sched.entries)
    entries_v = np.asarray(w.codes if isinstance(w, CodebookCsrWeights) else w.values, np.int64)
    common = (
        Rom("col", col_bits, col),
        Rom("last", 1, last),
        Rom("lane", bits_for(lanes), sched.row_lane.copy()),
        Rom("slot", bits_for(sched.slots), sched.row_slot.copy()),
        bias,
    )
    arrays = {"col": col, "val": val, "last": last}
    if book is not None:
        k = int(book.size)
        code_bits = bits_for(k)
        engine, mults, reason = _choose_codebook_kernel(layer, k, lanes)
        sum_type = _factored_sum_type(layer, entries_v, k, in_type) if engine == "codebook_factored" else None
        return LayerPlan(
            layer, in_type, engine, reason, sched, fields(code_bits),
            roms=(Rom("code", code_bits, val), *common), arrays=arrays, codebook=book, code_bits=code_bits,
            col_bits=col_bits, sum_type=sum_type, multiplies=mults,
        )  # fmt: skip
    return LayerPlan(
        layer, in_type, "csr", "CSR weight storage", sched, fields(wt.width),
        roms=(Rom("w", wt.width, val, wt.frac, wt.signed), *common), arrays=arrays, col_bits=col_bits,
        multiplies=layer.nnz,
    )  # fmt: skip


# ----------------------------------------------------------------------------- point-wise layers
def plan_pointwise(layer: Layer, in_type: FixedType, parallelism: int, *, relu: bool, shift: int = 0,
                   reason: str = "") -> LayerPlan:
    """``y = requant(act(x * 2**shift))`` per element, ``min(parallelism, n)`` lanes, one entry per
    element (elements dealt round-robin). The exact intermediate keeps ``x``'s mantissa with the
    binary point moved by ``shift`` (one more bit for an unsigned ``x``: the engine is signed)."""
    n = layer.size
    lanes = max(1, min(int(parallelism), n))
    sched = make_schedule([1] * n, lanes)
    acc_bits = max(in_type.width + (0 if in_type.signed else 1), 2)
    acc_frac = in_type.frac - shift
    f = MacFields(2, 2, True, -shift, 1, False, acc_frac, acc_bits, acc_frac, in_type, layer.out_type, relu)
    return LayerPlan(layer, in_type, "pointwise", reason or f"element-wise {layer.op}", sched, f, shift=shift)


@register_planner("relu")
def plan_relu(layer: Layer, in_type: FixedType, parallelism: int) -> LayerPlan:
    assert isinstance(layer, ReluLayer)
    return plan_pointwise(layer, in_type, parallelism, relu=True, reason="ReLU, then cast to the output type")


@register_planner("quantize")
def plan_quantize(layer: Layer, in_type: FixedType, parallelism: int) -> LayerPlan:
    assert isinstance(layer, QuantizeLayer)
    return plan_pointwise(layer, in_type, parallelism, relu=False, reason="requantization to the output type")


@register_planner("reshape")
def plan_reshape(layer: Layer, in_type: FixedType, parallelism: int) -> LayerPlan:
    assert isinstance(layer, ReshapeLayer)
    return LayerPlan(layer, in_type, "alias", "shape change, same elements in the same order",
                     make_schedule([], 1))
