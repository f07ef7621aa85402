"""Small IR graphs built directly from the dataclasses (tests only)."""

from __future__ import annotations

import numpy as np

from fpga_flow.fixed import FixedType, Overflow, Rounding
from fpga_flow.ir import Activation, DenseLayer, DenseWeights, Graph, InputLayer, Layer, QuantizeLayer, ReluLayer
from fpga_flow.ir.accum import naive_accumulator_type

IN_T = FixedType(8, 4, True, Rounding.RND_CONV, Overflow.SAT)
W_T = FixedType(8, 1, True, Rounding.RND_CONV, Overflow.SAT)
B_T = FixedType(12, 4, True, Rounding.RND_CONV, Overflow.SAT)
ACT_T = FixedType(8, 4, False, Rounding.RND_CONV, Overflow.SAT)


def random_weights(rng: np.random.Generator, n_out: int, n_in: int, sparsity: float, t: FixedType = W_T):
    w = rng.integers(t.min_mantissa, t.max_mantissa + 1, size=(n_out, n_in))
    w[rng.random(w.shape) < sparsity] = 0
    return w


def dense(name: str, src: Layer, n_out: int, rng: np.random.Generator, sparsity: float = 0.8,
          out_type: FixedType | None = None, act: Activation = Activation.LINEAR) -> DenseLayer:
    """A dense layer whose accumulator is the naive (n_in based) type; out = acc unless given."""
    w = random_weights(rng, n_out, src.size, sparsity)
    b = rng.integers(-300, 300, size=n_out)
    tmp = DenseLayer(name, (src.name,), (n_out,), W_T, n_in=src.size, n_out=n_out, weights=DenseWeights(w),
                     weight_type=W_T, bias=b, bias_type=B_T, acc_type=W_T)
    acc = naive_accumulator_type(tmp, src.out_type)
    return DenseLayer(name, (src.name,), (n_out,), out_type or acc, n_in=src.size, n_out=n_out,
                      weights=DenseWeights(w), weight_type=W_T, bias=b, bias_type=B_T, acc_type=acc, activation=act)


def unfused_mlp(seed: int = 0, sizes: tuple[int, ...] = (32, 20, 12, 6)) -> Graph:
    """input -> [dense -> relu -> quant] * (L-1) -> dense (accumulator out), nothing fused yet."""
    rng = np.random.default_rng(seed)
    inp = InputLayer("x", (), (sizes[0],), IN_T)
    layers: list[Layer] = [inp]
    src: Layer = inp
    for i, n in enumerate(sizes[1:]):
        d = dense(f"fc{i}", src, n, rng)
        layers.append(d)
        src = d
        if i < len(sizes) - 2:
            r = ReluLayer(f"relu{i}", (src.name,), src.shape, src.out_type)
            q = QuantizeLayer(f"q{i}", (r.name,), r.shape, ACT_T)
            layers += [r, q]
            src = q
    return Graph("mlp", tuple(layers), (src.name,)).verify()


def stimulus(graph: Graph, n: int = 64, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-9, 9, size=(n, graph.inputs[0].size))
