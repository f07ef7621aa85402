"""Small IR graphs for the RTL tests, built directly from the dataclasses (no ONNX, no torch)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fpga_flow.fixed import FixedType, Overflow, Rounding
from fpga_flow.ir import (
    Activation,
    CodebookCsrWeights,
    CsrWeights,
    DenseLayer,
    DenseWeights,
    Graph,
    InputLayer,
    QuantizeLayer,
    ReluLayer,
    csr_from_dense,
)
from fpga_flow.ir.accum import overflow_free_accumulator_type

__all__ = ["MODEL_KINDS", "dense_layer", "make_graph", "random_inputs"]

#: The graphs :func:`make_graph` builds.
MODEL_KINDS = ("dense", "csr", "codebook", "mlp3", "eltwise", "emptyrows", "passthrough")
_W_TYPE = FixedType(6, 2)
_B_TYPE = FixedType(8, 3)


def _weights(rng: np.random.Generator, n_out: int, n_in: int, wt: FixedType, density: float) -> np.ndarray:
    w = rng.integers(wt.min_mantissa, wt.max_mantissa + 1, size=(n_out, n_in))
    w[rng.random((n_out, n_in)) >= density] = 0
    return w


def dense_layer(
    rng: np.random.Generator,
    name: str,
    src: str,
    in_type: FixedType,
    n_in: int,
    n_out: int,
    storage: str,
    out_type: FixedType,
    *,
    weight_type: FixedType = _W_TYPE,
    bias_type: FixedType = _B_TYPE,
    density: float = 0.3,
    activation: Activation = Activation.LINEAR,
    codebook_size: int = 6,
    empty_rows: int = 1,
) -> DenseLayer:
    """A dense layer with random weights in ``storage`` (dense, csr, codebook_csr), some empty rows,
    and the overflow-free accumulator."""
    if storage == "codebook_csr":
        cb = np.unique(rng.integers(weight_type.min_mantissa, weight_type.max_mantissa + 1, size=codebook_size * 3))
        cb = cb[cb != 0][:codebook_size]
        mask = rng.random((n_out, n_in)) < density
        mask[:empty_rows] = False
        rows, cols = np.nonzero(mask)
        codes = rng.integers(0, cb.size, size=rows.size)
        row_ptr = np.zeros(n_out + 1, np.int64)
        np.add.at(row_ptr, rows + 1, 1)
        weights = CodebookCsrWeights(np.cumsum(row_ptr), cols, codes, cb, n_in)
    else:
        w = _weights(rng, n_out, n_in, weight_type, density)
        w[:empty_rows] = 0
        weights = DenseWeights(w) if storage == "dense" else csr_from_dense(w)
        assert isinstance(weights, DenseWeights | CsrWeights)
    bias = rng.integers(bias_type.min_mantissa, bias_type.max_mantissa + 1, size=n_out)
    lay = DenseLayer(
        name, (src,), (n_out,), out_type, n_in=n_in, n_out=n_out, weights=weights, weight_type=weight_type,
        bias=bias, bias_type=bias_type, acc_type=FixedType(2, 2), activation=activation,
    )
    return replace(lay, acc_type=overflow_free_accumulator_type(lay, in_type))


def make_graph(kind: str, seed: int = 0) -> Graph:
    """Named test graphs: dense, csr, codebook, mlp3 (3 layers, mixed storage), eltwise (quantize,
    dense, relu, quantize), emptyrows (CSR then codebook, most rows without nonzeros: fewer rows with
    work than lanes at P=8, a codebook without 0), passthrough (input only)."""
    rng = np.random.default_rng(seed)
    t_in = FixedType(8, 3, True, Rounding.RND_CONV, Overflow.SAT)
    inp = InputLayer("input", (), (12,), t_in)
    if kind in ("dense", "csr", "codebook"):
        storage = {"dense": "dense", "csr": "csr", "codebook": "codebook_csr"}[kind]
        out_t = FixedType(10, 4, True, Rounding.RND, Overflow.SAT)
        fc = dense_layer(rng, "fc", "input", t_in, 12, 7, storage, out_t, density=0.4)
        return Graph(kind, (inp, fc), ("fc",)).verify()
    if kind == "mlp3":
        inp = InputLayer("input", (), (20,), t_in)
        h = FixedType(8, 4, False, Rounding.RND_CONV, Overflow.SAT)  # ReLU output: unsigned
        fc1 = dense_layer(rng, "out", "input", t_in, 20, 16, "csr", h, activation=Activation.RELU, density=0.35)
        fc2 = dense_layer(rng, "fc2", "out", h, 16, 12, "codebook_csr", FixedType(7, 3, True, Rounding.TRN_ZERO,
                          Overflow.SAT_SYM), activation=Activation.RELU, density=0.5)
        fc3 = dense_layer(rng, "fc3", "fc2", fc2.out_type, 12, 5, "dense", FixedType(12, 6, True, Rounding.RND_INF,
                          Overflow.WRAP), density=0.6)
        return Graph("mlp3", (inp, fc1, fc2, fc3), ("fc3",)).verify()
    if kind == "eltwise":
        q0 = QuantizeLayer("q0", ("input",), (12,), FixedType(6, 2, True, Rounding.RND, Overflow.SAT))
        fc = dense_layer(rng, "fc", "q0", q0.out_type, 12, 9, "csr", FixedType(12, 6), density=0.5)
        relu = ReluLayer("relu", ("fc",), (9,), FixedType(9, 5, False, Rounding.RND_ZERO, Overflow.SAT))
        q = QuantizeLayer("q", ("relu",), (9,), FixedType(5, 3, True, Rounding.RND_MIN_INF, Overflow.SAT_ZERO))
        return Graph("eltwise", (inp, q0, fc, relu, q), ("q",)).verify()
    if kind == "emptyrows":
        h = FixedType(8, 4, False, Rounding.RND_CONV, Overflow.SAT)
        fc1 = dense_layer(rng, "fc1", "input", t_in, 12, 10, "csr", h, activation=Activation.RELU, density=0.5,
                          empty_rows=6)
        out_t = FixedType(9, 5, True, Rounding.RND, Overflow.SAT)
        fc2 = dense_layer(rng, "fc2", "fc1", h, 10, 8, "codebook_csr", out_t, density=0.6, codebook_size=4,
                          empty_rows=5)
        return Graph("emptyrows", (inp, fc1, fc2), ("fc2",)).verify()
    if kind == "passthrough":
        return Graph("passthrough", (inp,), ("input",)).verify()
    raise ValueError(kind)


def random_inputs(graph: Graph, n: int, seed: int = 1) -> np.ndarray:
    """Float inputs covering the input type's range, with exact edge values in the first rows."""
    rng = np.random.default_rng(seed)
    t = graph.inputs[0].out_type
    size = graph.inputs[0].size
    lo, hi = t.min_mantissa * 2.0**-t.frac, t.max_mantissa * 2.0**-t.frac
    x = rng.uniform(lo * 1.2, hi * 1.2, size=(n, size))
    x[0] = hi
    if n > 1:
        x[1] = lo
    return x
