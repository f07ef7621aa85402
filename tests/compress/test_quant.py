"""fake_quant is bit-exact with fpga_flow.fixed (the semantics of the exported Quant nodes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fpga_flow.compress.quant import accumulator_bits, check_quant_type, choose_type, fake_quant
from fpga_flow.fixed import FixedType, Overflow, Rounding, from_float, to_float

TYPES = [
    FixedType(8, 0, False, Rounding.RND_CONV, Overflow.SAT),
    FixedType(8, 3, False, Rounding.RND_CONV, Overflow.SAT),
    FixedType(8, 1, True, Rounding.RND_CONV, Overflow.SAT),
    FixedType(16, -2, True, Rounding.RND_CONV, Overflow.SAT),
    FixedType(6, 9, True, Rounding.RND_CONV, Overflow.SAT),  # I > W: LSB of 8
    FixedType(8, 2, True, Rounding.TRN, Overflow.SAT),
    FixedType(5, 1, False, Rounding.TRN, Overflow.SAT),
    FixedType(40, 12, True, Rounding.RND_CONV, Overflow.SAT),
]


def _values(t: FixedType, n: int = 4000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lsb = 2.0**-t.frac
    lo, hi = t.min_mantissa * lsb, t.max_mantissa * lsb
    span = max(abs(lo), abs(hi))
    m = rng.integers(2 * t.min_mantissa - 4, 2 * t.max_mantissa + 5, size=n // 2)
    ties = m.astype(np.float64) * lsb / 2  # exact halves: every tie case, both signs
    rand = rng.uniform(-1.5 * span, 1.5 * span, size=n // 2)
    edges = np.array([0.0, -0.0, lo, hi, lo - lsb / 2, hi + lsb / 2, lo - lsb, hi + lsb, lsb / 2, -lsb / 2,
                      1.5 * lsb, -1.5 * lsb, 2.5 * lsb, -2.5 * lsb, 1e-300, -1e-300, 3 * span, -3 * span])
    return np.concatenate([ties, rand, edges])


@pytest.mark.parametrize("t", TYPES, ids=str)
def test_fake_quant_equals_fixed_from_float(t):
    x = _values(t)
    ours = fake_quant(torch.as_tensor(x, dtype=torch.float64), t).numpy()
    ref = to_float(from_float(x, t), t)
    np.testing.assert_array_equal(ours, ref)
    assert np.unique(ours).size > 10


def test_fake_quant_float32_is_exact_for_narrow_types():
    t = FixedType(8, 1, True, Rounding.RND_CONV, Overflow.SAT)
    x = _values(t).astype(np.float32)
    ours = fake_quant(torch.as_tensor(x), t).numpy().astype(np.float64)
    np.testing.assert_array_equal(ours, to_float(from_float(x.astype(np.float64), t), t))
    with pytest.raises(ValueError, match="float32"):
        fake_quant(torch.zeros(3), FixedType(30, 2, True, Rounding.RND_CONV, Overflow.SAT))


def test_straight_through_gradients():
    t = FixedType(4, 1, True, Rounding.RND_CONV, Overflow.SAT)  # range [-1, 0.875]
    x = torch.tensor([-3.0, -0.3, 0.1, 0.6, 5.0], dtype=torch.float64, requires_grad=True)
    fake_quant(x, t).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(5))
    x.grad = None
    fake_quant(x, t, clip=True).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 1, 0])


def test_only_qonnx_expressible_types_are_accepted():
    check_quant_type(FixedType(8, 2, True, Rounding.TRN, Overflow.SAT))
    for bad in (FixedType(8, 2, True, Rounding.RND, Overflow.SAT), FixedType(8, 2, True, Rounding.RND_CONV)):
        with pytest.raises(ValueError, match="QONNX"):
            check_quant_type(bad)


@pytest.mark.parametrize("max_abs", [0.0, 1e-3, 0.3, 0.5, 0.99, 1.0, 7.9, 8.0, 300.0])
@pytest.mark.parametrize("signed", [True, False])
def test_choose_type_holds_the_maximum_with_the_finest_lsb(max_abs, signed):
    t = choose_type(max_abs, 8, signed)
    top = t.max_mantissa * 2.0**-t.frac
    assert top >= max_abs
    finer = FixedType(8, t.integer - 1, signed, t.rounding, t.overflow)
    if max_abs > 0:
        assert finer.max_mantissa * 2.0**-finer.frac < max_abs
    assert t.signed == signed and t.overflow is Overflow.SAT and t.rounding is Rounding.RND_CONV


def test_accumulator_bits_bound_is_tight_and_float64_sums_are_exact():
    w = FixedType(8, 1, True, Rounding.RND_CONV, Overflow.SAT)
    x = FixedType(8, 0, False, Rounding.RND_CONV, Overflow.SAT)
    b = FixedType(16, 1, True, Rounding.RND_CONV, Overflow.SAT)
    bits = accumulator_bits(784, w, x, b)
    # worst case: 784 * 128 * 255 at 15 fractional bits plus |bias| 2**15 at 15 -> 26 bits + sign
    assert bits == (784 * 128 * 255 + (1 << 15)).bit_length() + 1
    # the extreme accumulator is exact in float64 whatever the order of the sum
    xs = torch.full((1, 784), 255 / 256, dtype=torch.float64)
    ws = torch.full((1, 784), -1.0, dtype=torch.float64)
    acc = torch.nn.functional.linear(xs, ws, torch.tensor([-1.0], dtype=torch.float64))
    assert acc.item() == -(784 * 255) / 256 - 1.0
