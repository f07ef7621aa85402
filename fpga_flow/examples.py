"""Example QONNX models built with ``onnx.helper`` (no torch): for the demo, benchmarks and tests.

:func:`sparse_mlp` writes exactly the conventions of contract 2: a ``Quant`` on the input, each
layer ``Quant(weight) -> MatMul -> Add(Quant(bias)) -> Relu -> Quant(activation)``, weights
pruned to exact zeros, optionally shared through ``Gather(codebook, indices) -> Quant``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["LayerSpec", "QuantSpecF", "quant_node", "sparse_mlp"]

QONNX_DOMAIN = "qonnx.custom_op.general"


@dataclass(frozen=True)
class QuantSpecF:
    """A QONNX Quant: ``bits`` wide, ``frac`` fractional bits (scale 2^-frac)."""

    bits: int
    frac: int
    signed: bool = True
    rounding: str = "ROUND"
    narrow: bool = False


@dataclass(frozen=True)
class LayerSpec:
    """One dense layer of :func:`sparse_mlp`."""

    n_out: int
    sparsity: float = 0.9
    codebook_bits: int | None = None  # share weights through a 2**bits codebook (plus 0.0)
    relu: bool = True
    weight: QuantSpecF = QuantSpecF(8, 7)
    bias: QuantSpecF = QuantSpecF(16, 10)
    act: QuantSpecF | None = QuantSpecF(8, 4, signed=False)  # None: no output Quant (accumulator out)


def quant_node(
    nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], src: str, dst: str, q: QuantSpecF, tag: str
) -> None:
    """Append a QONNX Quant ``src -> dst`` with scalar parameter initializers named after ``tag``."""
    for suffix, val in (("scale", 2.0 ** -q.frac), ("zp", 0.0), ("bw", float(q.bits))):
        inits.append(numpy_helper.from_array(np.array(val, dtype=np.float32), f"{tag}_{suffix}"))
    nodes.append(
        helper.make_node(
            "Quant",
            [src, f"{tag}_scale", f"{tag}_zp", f"{tag}_bw"],
            [dst],
            name=f"{tag}_quant",
            domain=QONNX_DOMAIN,
            signed=int(q.signed),
            narrow=int(q.narrow),
            rounding_mode=q.rounding,
        )
    )


def _grid(rng: np.random.Generator, shape: tuple[int, ...], q: QuantSpecF) -> np.ndarray:
    """Random values on q's grid, inside its range (exactly representable in float32)."""
    lo = -(1 << (q.bits - 1)) + (1 if q.narrow else 0) if q.signed else 0
    hi = (1 << (q.bits - 1)) - 1 if q.signed else (1 << q.bits) - 1
    m = rng.integers(lo // 2, hi // 2 + 1, size=shape)
    return np.ldexp(m.astype(np.float64), -q.frac)


def sparse_mlp(
    n_in: int,
    layers: Sequence[LayerSpec],
    seed: int = 0,
    input_quant: QuantSpecF = QuantSpecF(8, 4),
    name: str = "sparse_mlp",
) -> onnx.ModelProto:
    """A QONNX MLP with pruned (and optionally codebook-shared) layers, valid for onnx.checker."""
    rng = np.random.default_rng(seed)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    quant_node(nodes, inits, "x", "x_q", input_quant, "inp")
    cur, width = "x_q", n_in
    for li, spec in enumerate(layers):
        tag = f"fc{li}"
        shape = (width, spec.n_out)
        keep = rng.random(shape) >= spec.sparsity
        if spec.codebook_bits is not None:
            k = 1 << spec.codebook_bits
            book = np.unique(_grid(rng, (4 * k,), spec.weight))
            book = book[book != 0][:k]
            book = np.concatenate([[0.0], book])
            idx = rng.integers(1, book.size, size=shape)
            idx = np.where(keep, idx, 0).astype(np.int64)
            inits.append(numpy_helper.from_array(book.astype(np.float32), f"{tag}_codebook"))
            inits.append(numpy_helper.from_array(idx, f"{tag}_idx"))
            nodes.append(helper.make_node("Gather", [f"{tag}_codebook", f"{tag}_idx"], [f"{tag}_wg"],
                                          name=f"{tag}_gather", axis=0))
            quant_node(nodes, inits, f"{tag}_wg", f"{tag}_wq", spec.weight, f"{tag}_w")
        else:
            w = np.where(keep, _grid(rng, shape, spec.weight), 0.0)
            inits.append(numpy_helper.from_array(w.astype(np.float32), f"{tag}_w"))
            quant_node(nodes, inits, f"{tag}_w", f"{tag}_wq", spec.weight, f"{tag}_w")
        b = _grid(rng, (spec.n_out,), spec.bias) / 4
        b = np.ldexp(np.round(np.ldexp(b, spec.bias.frac)), -spec.bias.frac)
        inits.append(numpy_helper.from_array(b.astype(np.float32), f"{tag}_b"))
        quant_node(nodes, inits, f"{tag}_b", f"{tag}_bq", spec.bias, f"{tag}_b")
        nodes.append(helper.make_node("MatMul", [cur, f"{tag}_wq"], [f"{tag}_mm"], name=f"{tag}_matmul"))
        nodes.append(helper.make_node("Add", [f"{tag}_mm", f"{tag}_bq"], [f"{tag}_acc"], name=f"{tag}_add"))
        cur = f"{tag}_acc"
        if spec.relu:
            nodes.append(helper.make_node("Relu", [cur], [f"{tag}_relu"], name=f"{tag}_relu"))
            cur = f"{tag}_relu"
        if spec.act is not None:
            quant_node(nodes, inits, cur, f"{tag}_out", spec.act, f"{tag}_a")
            cur = f"{tag}_out"
        width = spec.n_out
    nodes.append(helper.make_node("Identity", [cur], ["y"], name="output"))
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX_DOMAIN, 1)],
        producer_name="fpga-flow examples",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def benchmark_mlp(seed: int = 0) -> onnx.ModelProto:
    """The benchmarks' model: 784-300-100-10 at 90 % sparsity, 16-bit weights (10 fractional bits),
    unsigned 16-bit activations, 16-bit input; no codebook."""
    w16 = QuantSpecF(16, 10)
    a16 = QuantSpecF(16, 10, signed=False)
    return sparse_mlp(
        784,
        [LayerSpec(300, 0.9, weight=w16, act=a16), LayerSpec(100, 0.9, weight=w16, act=a16),
         LayerSpec(10, 0.9, weight=w16, relu=False, act=None)],
        input_quant=QuantSpecF(16, 10),
        seed=seed,
    )
