"""IR layers' references against independent exact arithmetic; verify() catches broken graphs."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from fpga_flow.fixed import FixedType, Overflow, Rounding
from fpga_flow.ir import (
    Activation,
    CodebookCsrWeights,
    DenseLayer,
    DenseWeights,
    Graph,
    GraphError,
    InputLayer,
    csr_from_dense,
)
from fpga_flow.ir.accum import overflow_free_accumulator_type
from tests.graphs import B_T, IN_T, W_T, random_weights


def _round_frac(v: Fraction, t: FixedType) -> int:
    """Independent model of one cast for the modes used here (RND_CONV or TRN, SAT or WRAP)."""
    s = v * 2**t.frac
    q = round(s) if t.rounding is Rounding.RND_CONV else s.numerator // s.denominator
    lo, hi = t.min_mantissa, t.max_mantissa
    if t.overflow is Overflow.SAT:
        return min(max(q, lo), hi)
    span = 2**t.width
    q %= span
    return q - span if t.signed and q > hi else q


@pytest.mark.parametrize("kind", ["dense", "csr", "codebook"])
@pytest.mark.parametrize("act", [Activation.LINEAR, Activation.RELU])
@pytest.mark.parametrize(
    "out_t", [FixedType(8, 4, False, Rounding.RND_CONV, Overflow.SAT), FixedType(6, 3, True)], ids=["usat", "wrap"]
)
def test_dense_reference_matches_exact_arithmetic(kind, act, out_t):
    rng = np.random.default_rng(0)
    n_in, n_out = 20, 7
    w = random_weights(rng, n_out, n_in, 0.7)
    if kind == "codebook":
        book = np.array([-77, -5, 3, 64])
        w = np.where(w != 0, book[rng.integers(0, 4, size=w.shape)], 0)
    storage = {"dense": DenseWeights(w), "csr": csr_from_dense(w)}.get(kind)
    if kind == "codebook":
        csr = csr_from_dense(w)
        vals, codes = np.unique(csr.values, return_inverse=True)
        storage = CodebookCsrWeights(csr.row_ptr, csr.col_idx, codes, vals, n_in)
    b = rng.integers(-2000, 2000, size=n_out)
    inp = InputLayer("x", (), (n_in,), IN_T)
    tmp = DenseLayer("d", ("x",), (n_out,), out_t, n_in=n_in, n_out=n_out, weights=storage, weight_type=W_T,
                     bias=b, bias_type=B_T, acc_type=W_T, activation=act)
    lay = dataclasses.replace(tmp, acc_type=overflow_free_accumulator_type(tmp, IN_T))
    g = Graph("g", (inp, lay), ("d",)).verify()
    x = rng.uniform(-10, 10, size=(30, n_in))
    y, t = g.run(x)
    for n in range(x.shape[0]):
        xq = [Fraction(_round_frac(Fraction(float(v)), IN_T), 2**IN_T.frac) for v in x[n]]
        for j in range(n_out):
            acc = Fraction(int(b[j]), 2**B_T.frac) + sum(
                Fraction(int(w[j, i]), 2**W_T.frac) * xq[i] for i in range(n_in)
            )
            if act is Activation.RELU:
                acc = max(acc, Fraction(0))
            assert y[n, j] == _round_frac(acc, out_t), (n, j)
    assert t == out_t


def _graph(**changes) -> Graph:
    rng = np.random.default_rng(1)
    inp = InputLayer("x", (), (6,), IN_T)
    w = random_weights(rng, 4, 6, 0.3)
    base = DenseLayer("d", ("x",), (4,), W_T, n_in=6, n_out=4, weights=DenseWeights(w), weight_type=W_T,
                      bias=np.zeros(4, np.int64), bias_type=B_T, acc_type=W_T)
    base = dataclasses.replace(base, acc_type=overflow_free_accumulator_type(base, IN_T))
    base = dataclasses.replace(base, out_type=base.acc_type)
    lay = dataclasses.replace(base, **changes)
    return Graph("g", (inp, lay), ("d",))


def test_verify_accepts_good_graph():
    _graph().verify()


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"name": "bad name"}, "identifier"),
        ({"inputs": ("nope",)}, "earlier layer"),
        ({"n_in": 5}, "n_in"),
        ({"acc_type": FixedType(6, 6 - 11)}, "overflow"),
        ({"acc_type": FixedType(30, 30)}, "fractional"),
        ({"bias": np.full(4, 5000)}, "bias"),
    ],
)
def test_verify_rejects_broken_graphs(changes, needle):
    with pytest.raises(GraphError, match=needle):
        _graph(**changes).verify()


def test_layers_and_weights_are_immutable():
    g = _graph()
    d = g.dense_layers()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "z"  # type: ignore[misc]
    with pytest.raises(ValueError):
        d.weights.values[0, 0] = 1
    with pytest.raises(ValueError):
        d.bias[0] = 1
