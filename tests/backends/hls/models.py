"""IR graphs for the HLS backend tests, built directly from the dataclasses (no ONNX).

Every dense layer gets the overflow-free accumulator of
:func:`fpga_flow.ir.accum.overflow_free_accumulator_type`; expected values come from
:meth:`fpga_flow.ir.Graph.execute`, the bit-exact reference.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from fpga_flow.backends.hls import emit_hls
from fpga_flow.boards import Board, load_board
from fpga_flow.fixed import FixedType, Overflow, Rounding
from fpga_flow.hw import DesignPlan, plan_design
from fpga_flow.ir import (
    Activation,
    CodebookCsrWeights,
    DenseLayer,
    DenseWeights,
    Graph,
    InputLayer,
    Layer,
    QuantizeLayer,
    ReluLayer,
    csr_from_dense,
)
from fpga_flow.ir.accum import overflow_free_accumulator_type
from fpga_flow.tbdata import TbData, write_tb_data

IN_T = FixedType(8, 4, True, Rounding.RND_CONV, Overflow.SAT)
W_T = FixedType(8, 1, True, Rounding.RND_CONV, Overflow.SAT)
B_T = FixedType(12, 4, True, Rounding.RND_CONV, Overflow.SAT)
ACT_T = FixedType(8, 4, False, Rounding.RND_CONV, Overflow.SAT)


def weight_matrix(
    rng: np.random.Generator,
    n_out: int,
    n_in: int,
    sparsity: float,
    codebook: np.ndarray | None = None,
    empty_rows: tuple[int, ...] = (),
    w_t: FixedType = W_T,
) -> np.ndarray:
    """Random weight mantissas (from ``codebook`` when given), pruned, some rows emptied."""
    if codebook is not None:
        w = np.asarray(codebook)[rng.integers(0, len(codebook), size=(n_out, n_in))]
    else:
        w = rng.integers(w_t.min_mantissa, w_t.max_mantissa + 1, size=(n_out, n_in))
    w = np.where(rng.random((n_out, n_in)) < sparsity, 0, w)
    w[list(empty_rows)] = 0
    return w.astype(np.int64)


def storage_of(w: np.ndarray, kind: str, codebook: np.ndarray | None = None):
    """``w`` as DenseWeights / CsrWeights / CodebookCsrWeights (codes index ``codebook``)."""
    if kind == "dense":
        return DenseWeights(w)
    csr = csr_from_dense(w)
    if kind == "csr":
        return csr
    book = np.asarray(codebook, np.int64)
    index = {int(v): i for i, v in enumerate(book)}
    codes = np.array([index[int(v)] for v in csr.values], dtype=np.int64)
    return CodebookCsrWeights(csr.row_ptr, csr.col_idx, codes, book, csr.n_cols)


def dense(
    name: str,
    src: Layer,
    n_out: int,
    rng: np.random.Generator,
    *,
    kind: str = "csr",
    sparsity: float = 0.6,
    codebook: np.ndarray | None = None,
    empty_rows: tuple[int, ...] = (),
    out_type: FixedType | None = None,
    act: Activation = Activation.RELU,
    w_t: FixedType = W_T,
    b_t: FixedType = B_T,
    origin: str = "",
) -> DenseLayer:
    """A dense layer with the overflow-free accumulator; outputs the accumulator unless ``out_type``."""
    w = weight_matrix(rng, n_out, src.size, sparsity, codebook, empty_rows, w_t)
    bias = rng.integers(b_t.min_mantissa // 2, b_t.max_mantissa // 2 + 1, size=n_out)
    layer = DenseLayer(
        name, (src.name,), (n_out,), w_t, n_in=src.size, n_out=n_out, weights=storage_of(w, kind, codebook),
        weight_type=w_t, bias=bias, bias_type=b_t, acc_type=w_t, activation=act, origin=origin,
    )  # fmt: skip
    acc = overflow_free_accumulator_type(layer, src.out_type)
    return replace(layer, acc_type=acc, out_type=out_type or acc)


def single_layer(kind: str, seed: int = 0) -> Graph:
    """input -> one dense layer of storage ``kind`` (the kernel the cost model picks for it)."""
    rng = np.random.default_rng(seed)
    inp = InputLayer("x_in", (), (24,), IN_T)
    if kind == "codebook_factored":  # K=4, ~10 nonzeros per row: factoring pays
        d = dense("fc", inp, 10, rng, kind="codebook", sparsity=0.55, codebook=np.array([-77, -20, 9, 64]),
                  empty_rows=(3,), out_type=ACT_T)
    elif kind == "codebook":  # K=24 > 16 entries: the plain codebook kernel
        book = np.array(sorted(set(range(-120, 121, 10)) - {0}))
        d = dense("fc", inp, 10, rng, kind="codebook", sparsity=0.55, codebook=book, empty_rows=(3,),
                  out_type=ACT_T)
    else:
        d = dense("fc", inp, 10, rng, kind=kind, sparsity=0.55, empty_rows=(3,), out_type=ACT_T)
    return Graph("g", (inp, d), (d.name,)).verify()


def fine_bias_mlp(seed: int = 3) -> Graph:
    """csr -> dense -> codebook -> codebook_factored, every bias with more fractional bits (16) than
    the products (11): the accumulator's binary point is the bias's, so each product is shifted left
    (shift_p 5) and the bias is not (shift_b 0)."""
    rng = np.random.default_rng(seed)
    fine = FixedType(20, 4, True)
    inp = InputLayer("x_in", (), (24,), IN_T)
    a = dense("fa", inp, 16, rng, kind="csr", b_t=fine, out_type=ACT_T)
    b = dense("fb", a, 12, rng, kind="dense", b_t=fine, out_type=ACT_T)
    book = np.array(sorted(set(range(-120, 121, 10)) - {0}))
    c = dense("fc", b, 12, rng, kind="codebook", sparsity=0.4, codebook=book, b_t=fine, out_type=ACT_T)
    d = dense("fd", c, 6, rng, kind="codebook", sparsity=0.3, codebook=np.array([-77, -20, 9, 64]), b_t=fine,
              out_type=ACT_T)
    return Graph("fine", (inp, a, b, c, d), ("fd",)).verify()


def mixed_mlp(seed: int = 1) -> Graph:
    """A 3-layer MLP mixing CSR, factored codebook and dense kernels, with standalone relu/quantize,
    odd widths (10-bit output: partial beats), rounding/overflow modes and empty rows."""
    rng = np.random.default_rng(seed)
    inp = InputLayer("x_in", (), (20,), FixedType(7, 3, True, Rounding.RND, Overflow.SAT))
    l1 = dense("fc1", inp, 16, rng, kind="csr", sparsity=0.7, empty_rows=(0, 5),
               out_type=FixedType(8, 4, False, Rounding.RND_CONV, Overflow.SAT))
    l2 = dense("fc2", l1, 12, rng, kind="codebook", sparsity=0.3, codebook=np.array([-100, -33, -5, 12, 50, 90]),
               act=Activation.LINEAR, out_type=FixedType(9, 5, True, Rounding.RND_INF, Overflow.SAT_SYM))
    r2 = ReluLayer("relu2", (l2.name,), l2.shape, FixedType(7, 3, False, Rounding.RND_ZERO, Overflow.SAT))
    l3 = dense("fc3", r2, 7, rng, kind="dense", sparsity=0.2, act=Activation.LINEAR,
               out_type=FixedType(10, 4, True, Rounding.TRN, Overflow.WRAP))
    q3 = QuantizeLayer("q3", (l3.name,), l3.shape, FixedType(10, 3, True, Rounding.RND_MIN_INF, Overflow.SAT_ZERO))
    return Graph("mlp", (inp, l1, l2, r2, l3, q3), (q3.name,)).verify()


def stimulus(graph: Graph, n: int = 40, seed: int = 7) -> np.ndarray:
    """Floats over (and a little beyond) the input type's range, zeros and extremes included."""
    t = graph.inputs[0].out_type
    hi = (t.max_mantissa + 2) * 2.0**-t.frac
    lo = (t.min_mantissa - 2) * 2.0**-t.frac
    x = np.random.default_rng(seed).uniform(lo, hi, size=(n, graph.inputs[0].size))
    x[0] = 0.0
    x[1] = hi
    x[2] = lo
    return x


def write_project(graph: Graph, out: Path, parallelism: int = 1, x: np.ndarray | None = None,
                  board: str = "pynq-z2") -> list[Path]:
    """What the pipeline does: ``out/hls`` from the backend, ``out/tb_data`` from the reference."""
    files = emit(graph, load_board(board), out, parallelism)
    x = stimulus(graph) if x is None else x
    vals = graph.execute(x)
    out_layer = graph.output_layers[0]
    n = len(x)
    write_tb_data(out / "tb_data", TbData(vals[graph.inputs[0].name].reshape(n, -1),
                                          vals[out_layer.name].reshape(n, -1),
                                          graph.inputs[0].out_type, out_layer.out_type))
    return files


def plan(graph: Graph, parallelism: int = 1, board: str = "pynq-z2") -> DesignPlan:
    """The hardware plan of ``graph`` (what the pipeline computes once per build)."""
    return plan_design(graph, parallelism, load_board(board))


def emit(graph: Graph, board: Board, out: Path, parallelism: int = 1) -> list[Path]:
    """Plan ``graph`` and write its HLS project (what the pipeline does)."""
    return emit_hls(plan_design(graph, parallelism, board), board, out)
