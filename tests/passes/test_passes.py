"""Each pass: equal outputs before/after on the reference, plus the structural change it promises."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fpga_flow.fixed import FixedType, Overflow, Rounding
from fpga_flow.ir import Activation, CodebookCsrWeights, CsrWeights, DenseLayer, DenseWeights, Graph, ReluLayer
from fpga_flow.ir.accum import accumulator_bound
from fpga_flow.passes import choose_storage, fuse_activations, infer_accumulators
from fpga_flow.passes.storage import convert_storage
from tests.graphs import dense, stimulus, unfused_mlp


def _same_outputs(a: Graph, b: Graph, x: np.ndarray) -> None:
    ya, ta = a.run(x)
    yb, tb = b.run(x)
    np.testing.assert_array_equal(ya, yb)
    assert ta.frac == tb.frac


def test_fuse_activations_folds_relu_and_quant_into_dense():
    g = unfused_mlp()
    f = fuse_activations(g)
    _same_outputs(g, f, stimulus(g))
    assert [lay.op for lay in f.layers] == ["input", "dense", "dense", "dense"]
    d0, d1, d2 = f.dense_layers()
    assert d0.activation is Activation.RELU and d0.out_type == g.layer("q0").out_type
    assert d1.inputs == ("fc0",) and d2.activation is Activation.LINEAR


def test_fuse_relu_after_wrapping_requant_only_when_no_overflow_is_reachable():
    g = unfused_mlp()
    rng = np.random.default_rng(3)
    inp = g.inputs[0]
    narrow = FixedType(6, 2, True)  # TRN/WRAP: relu(q(a)) != q(relu(a)) when a overflows
    wide = FixedType(24, 14, True)  # never overflows for this layer
    for out_t, expect_fused in ((narrow, False), (wide, True)):
        d = dense("fc", inp, 10, rng, out_type=out_t)
        r = ReluLayer("r", ("fc",), (10,), out_t)
        gg = Graph("t", (inp, d, r), ("r",)).verify()
        f = fuse_activations(gg)
        _same_outputs(gg, f, stimulus(gg, 200))
        assert (len(f.layers) == 2) is expect_fused


def test_infer_accumulators_narrows_from_actual_weights():
    g = fuse_activations(unfused_mlp(seed=4))
    t = infer_accumulators(g)
    _same_outputs(g, t, stimulus(g))
    in_types = {lay.name: lay.out_type for lay in t.layers}
    for before, after in zip(g.dense_layers(), t.dense_layers(), strict=True):
        assert after.acc_type.width < before.acc_type.width
        assert after.acc_type.frac == before.acc_type.frac
        bound = accumulator_bound(after, in_types[after.inputs[0]])
        # tight: the bound fits, one bit less would not
        assert bound <= after.acc_type.max_mantissa
        assert bound > (1 << (after.acc_type.width - 2)) - 1


def test_accumulator_bound_is_nearly_reached_by_worst_case_input():
    """The bound is tight: the most negative input against positive weights (and 127 against
    negative ones) comes within one input LSB per weight of it, and still fits the type."""
    g = infer_accumulators(fuse_activations(unfused_mlp(seed=5)))
    d = g.dense_layers()[0]
    in_t = g.inputs[0].out_type
    w = d.weights.to_dense()
    row = int(np.argmax(np.abs(w).sum(axis=1)))
    x = np.where(w[row] > 0, in_t.min_mantissa, np.where(w[row] < 0, in_t.max_mantissa, 0))
    acc = d.accumulate(x[None, :].astype(np.int64), in_t)[0, row]
    shift = d.acc_type.frac - d.weight_type.frac - in_t.frac
    products = int(acc) - (int(d.bias[row]) << (d.acc_type.frac - d.bias_type.frac))
    bound_products = (int(np.abs(w[row]).sum()) * in_t.max_abs_mantissa) << shift
    assert -products >= bound_products - (int(np.abs(w[row]).sum()) << shift)
    assert d.acc_type.min_mantissa <= acc <= d.acc_type.max_mantissa


def test_choose_storage_picks_cheapest_and_keeps_values():
    g = infer_accumulators(fuse_activations(unfused_mlp(seed=6)))
    s = choose_storage(g)
    _same_outputs(g, s, stimulus(g))
    kinds = [d.storage for d in s.dense_layers()]
    assert all(k in ("csr", "codebook_csr") for k in kinds)  # 80 % zeros: never dense
    for kind, cls in (("dense", DenseWeights), ("csr", CsrWeights), ("codebook_csr", CodebookCsrWeights)):
        forced = choose_storage(g, force=kind)
        _same_outputs(g, forced, stimulus(g))
        assert all(isinstance(d.weights, cls) for d in forced.dense_layers())


def test_storage_prefers_dense_for_dense_weights_and_codebook_for_few_values():
    rng = np.random.default_rng(0)
    g = unfused_mlp(seed=7)
    d = g.dense_layers()[0]
    full = rng.integers(-100, 100, size=(d.n_out, d.n_in))
    full[full == 0] = 1
    few = rng.choice(np.array([-64, -3, 5, 77]), size=(d.n_out, d.n_in))
    few[rng.random(few.shape) < 0.5] = 0
    for w, want in ((full, "dense"), (few, "codebook_csr")):
        lay = replace(d, weights=DenseWeights(w))
        gg = g.replace_layers([lay if x.name == d.name else x for x in g.layers])
        gg = infer_accumulators(gg)
        assert choose_storage(gg).dense_layers()[0].storage == want


def test_convert_storage_round_trip():
    rng = np.random.default_rng(1)
    g = unfused_mlp(seed=8)
    d: DenseLayer = g.dense_layers()[1]
    for k in ("csr", "codebook_csr", "dense"):
        c = convert_storage(d, k)
        np.testing.assert_array_equal(c.weights.to_dense(), d.weights.to_dense())
    _ = rng, Overflow, Rounding
