"""A seeded generator of mutated ONNX files, and the check every mutant must pass (tests only).

Five valid base models (QONNX MLPs with and without weight sharing, a QONNX CNN, a float MLP and a
float CNN) are mutated byte-level (flipped, inserted and deleted bytes, truncation) and
structurally (attribute types and values, initializer sizes, data types and contents, Quant
parameters, op types, inputs, names, shapes). Each mutant goes through what ``fpga-flow inspect``
runs (read, lower, plan) and must either be accepted or raise a :class:`~fpga_flow.errors.FlowError`;
anything else (a Python exception, a crash) is a finding. An accepted all-QONNX mutant must compute
what the independent exact interpreter (:mod:`tests.exact_onnx`) computes.

``python -m tests.fuzz_onnx N`` runs ``N`` mutants and prints the outcome counts (``make fuzz``).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fpga_flow.errors import FlowError
from fpga_flow.examples import LayerSpec, sparse_mlp

__all__ = ["FuzzResult", "base_models", "mutate", "run_campaign"]


# ------------------------------------------------------------------------------ base models
def _float_mlp() -> onnx.ModelProto:
    rng = np.random.default_rng(5)
    w1 = numpy_helper.from_array((rng.integers(-8, 8, (12, 8)) / 8).astype(np.float32), "w1")
    b1 = numpy_helper.from_array((rng.integers(-8, 8, (8,)) / 16).astype(np.float32), "b1")
    w2 = numpy_helper.from_array((rng.integers(-8, 8, (6, 8)) / 8).astype(np.float32), "w2")
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm1"),
        helper.make_node("Add", ["h", "b1"], ["hb"], name="add1"),
        helper.make_node("Relu", ["hb"], ["r"], name="relu1"),
        helper.make_node("Gemm", ["r", "w2"], ["y"], name="gemm2", transB=1),
    ]
    g = helper.make_graph(nodes, "float_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 12])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6])], [w1, b1, w2])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def _float_cnn() -> onnx.ModelProto:
    rng = np.random.default_rng(6)
    f = np.float32
    inits = [
        numpy_helper.from_array((rng.integers(-4, 4, (4, 2, 3, 3)) / 8).astype(f), "cw"),
        numpy_helper.from_array((rng.integers(-4, 4, (4,)) / 8).astype(f), "cb"),
        numpy_helper.from_array(np.full(4, 1.0, f), "g"),
        numpy_helper.from_array(np.full(4, 0.25, f), "beta"),
        numpy_helper.from_array(np.zeros(4, f), "mean"),
        numpy_helper.from_array(np.full(4, 1.0, f), "var"),
        numpy_helper.from_array((rng.integers(-4, 4, (3, 36)) / 8).astype(f), "fw"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], name="conv", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization", ["c", "g", "beta", "mean", "var"], ["bn"], name="bn", epsilon=0.0),
        helper.make_node("Relu", ["bn"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["fl"], name="flat", axis=1),
        helper.make_node("Gemm", ["fl", "fw"], ["y"], name="fc", transB=1),
    ]
    g = helper.make_graph(nodes, "float_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def _quant(nodes: list, inits: list, src: str, dst: str, frac: int, bits: int, tag: str, signed: int = 1) -> None:
    inits += [numpy_helper.from_array(np.array(2.0 ** -frac, np.float32), f"{tag}_s"),
              numpy_helper.from_array(np.array(0.0, np.float32), f"{tag}_z"),
              numpy_helper.from_array(np.array(float(bits), np.float32), f"{tag}_b")]
    nodes.append(helper.make_node("Quant", [src, f"{tag}_s", f"{tag}_z", f"{tag}_b"], [dst], name=tag,
                                  domain="qonnx.custom_op.general", signed=signed, narrow=0, rounding_mode="ROUND"))


def _qonnx_cnn() -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    nodes: list = []
    inits = [numpy_helper.from_array((rng.integers(-4, 4, (3, 1, 3, 3)) / 4).astype(np.float32), "cw"),
             numpy_helper.from_array((rng.integers(-4, 4, (4, 27)) / 4).astype(np.float32), "fw")]
    _quant(nodes, inits, "x", "xq", 4, 8, "qin")
    _quant(nodes, inits, "cw", "cwq", 2, 4, "qcw")
    nodes.append(helper.make_node("Conv", ["xq", "cwq"], ["c"], name="conv", kernel_shape=[3, 3], strides=[1, 1]))
    nodes.append(helper.make_node("Relu", ["c"], ["r"], name="relu"))
    _quant(nodes, inits, "r", "rq", 3, 8, "qr", signed=0)
    nodes.append(helper.make_node("MaxPool", ["rq"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]))
    nodes.append(helper.make_node("Flatten", ["p"], ["fl"], name="flat", axis=1))
    _quant(nodes, inits, "fw", "fwq", 2, 4, "qfw")
    nodes.append(helper.make_node("Gemm", ["fl", "fwq"], ["y"], name="fc", transB=1))
    g = helper.make_graph(nodes, "qonnx_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    opsets = [helper.make_opsetid("", 13), helper.make_opsetid("qonnx.custom_op.general", 1)]
    return helper.make_model(g, opset_imports=opsets)


def base_models() -> dict[str, onnx.ModelProto]:
    """The five valid models the mutants come from."""
    return {
        "qonnx_mlp_codebook": sparse_mlp(10, [LayerSpec(8, codebook_bits=2), LayerSpec(4, relu=False, act=None)],
                                         seed=1),
        "qonnx_mlp": sparse_mlp(9, [LayerSpec(7), LayerSpec(5), LayerSpec(3, relu=False, act=None)], seed=2),
        "qonnx_cnn": _qonnx_cnn(),
        "float_mlp": _float_mlp(),
        "float_cnn": _float_cnn(),
    }


# -------------------------------------------------------------------------------- mutations
_BAD_STRINGS = [b"\xff\xfe", b"a\nb", b"\x00", b"x" * 300, b"\xc3\x28", b"", b"'; rm -rf /", b"$(x)"]
_OPS = ["Conv", "Gemm", "MatMul", "Relu", "Add", "Quant", "Reshape", "Flatten", "Transpose", "Gather", "LSTM",
        "Softmax", "Cast", "MaxPool", "AveragePool", "BatchNormalization", "Concat", "Identity", "Mul", "Squeeze"]
_NUMBERS = [0, -1, 1, 2, 3, 7, 64, -7, 2**31 - 1, -(2**31), 2**62, 10**9]
_FLOATS = [float("nan"), float("inf"), -float("inf"), 0.0, -1.0, 0.5, 1.5, 1e30, -1e-30, 3.0, 2.0**-40]


def _mutate_attribute(rng: random.Random, m: onnx.ModelProto) -> None:
    nodes = [n for n in m.graph.node if n.attribute] or list(m.graph.node)
    n = rng.choice(nodes)
    if not n.attribute or rng.random() < 0.2:
        name = rng.choice(["axis", "perm", "narrow", "signed", "rounding_mode", "kernel_shape", "pads", "strides",
                           "group", "transB", "epsilon", "dilations", "auto_pad", "ceil_mode", "alpha"])
        n.attribute.append(helper.make_attribute(name, rng.choice(_NUMBERS)))
        return
    a = rng.choice(list(n.attribute))
    kind = rng.randrange(7)
    name = a.name
    n.attribute.remove(a)
    if kind == 0:  # another type
        n.attribute.append(helper.make_attribute(name, [rng.choice(_NUMBERS) for _ in range(rng.randrange(0, 5))],
                                                 attr_type=onnx.AttributeProto.INTS))
    elif kind == 1:
        n.attribute.append(helper.make_attribute(name, rng.choice(_FLOATS)))
    elif kind == 2:
        n.attribute.append(helper.make_attribute(name, rng.choice(_BAD_STRINGS)))
    elif kind == 3:
        n.attribute.append(helper.make_attribute(name, rng.choice(_NUMBERS)))
    elif kind == 4:
        n.attribute.append(helper.make_attribute(name, [rng.choice(_FLOATS), rng.choice(_FLOATS)]))
    elif kind == 5:
        n.attribute.append(helper.make_attribute(name, numpy_helper.from_array(np.array([rng.choice(_NUMBERS)]))))
    # kind 6: the attribute removed


def _mutate_initializer(rng: random.Random, m: onnx.ModelProto) -> None:
    if not m.graph.initializer:
        return
    t = rng.choice(list(m.graph.initializer))
    arr = numpy_helper.to_array(t).copy()
    kind = rng.randrange(8)
    if kind == 0 and arr.size:  # NaN / Inf / huge / fractional values
        flat = arr.reshape(-1).astype(np.float64)
        flat[rng.randrange(flat.size)] = rng.choice(_FLOATS)
        new = numpy_helper.from_array(flat.reshape(arr.shape).astype(arr.dtype if arr.dtype.kind == "f" else
                                                                     np.float32), t.name)
    elif kind == 1:  # dims that do not match the data
        new = numpy_helper.from_array(arr, t.name)
        if new.dims:
            new.dims[rng.randrange(len(new.dims))] += rng.choice([1, -1, 5, 1000])
        else:
            new.dims.append(rng.choice([0, 2, 3]))
    elif kind == 2:  # another / unknown data type on the same bytes
        new = numpy_helper.from_array(arr, t.name)
        new.data_type = rng.choice([0, 2, 3, 5, 7, 8, 9, 10, 11, 12, 14, 15, 16, 17, 99])
    elif kind == 3:  # truncated raw data
        new = numpy_helper.from_array(arr, t.name)
        if new.raw_data:
            new.raw_data = new.raw_data[: rng.randrange(len(new.raw_data))]
    elif kind == 4:  # another shape, same number of elements
        new = numpy_helper.from_array(arr.reshape(-1), t.name)
    elif kind == 5:  # empty
        new = numpy_helper.from_array(np.zeros((0,), arr.dtype), t.name)
    elif kind == 6:  # complex values
        new = numpy_helper.from_array(arr.astype(np.complex64) + 1j, t.name)
    else:  # scaled (a Quant bit width or scale becomes odd)
        new = numpy_helper.from_array((arr * rng.choice([0, -1, 3, 0.3, 1e9])).astype(arr.dtype), t.name)
    t.CopyFrom(new)


def _mutate_node(rng: random.Random, m: onnx.ModelProto) -> None:
    nodes = list(m.graph.node)
    if not nodes:
        return
    n = rng.choice(nodes)
    kind = rng.randrange(7)
    names = [i for nd in nodes for i in nd.input] + [t.name for t in m.graph.initializer]
    if kind == 0:
        n.op_type = rng.choice(_OPS)
    elif kind == 1 and n.input:
        del n.input[rng.randrange(len(n.input))]
    elif kind == 2:
        n.input.append(rng.choice([*names, "nowhere"]))
    elif kind == 3 and len(n.input) > 1:
        i, j = rng.sample(range(len(n.input)), 2)
        n.input[i], n.input[j] = n.input[j], n.input[i]
    elif kind == 4:
        n.domain = rng.choice(["", "qonnx.custom_op.general", "com.microsoft", "finn.custom_op.general", "x"])
    elif kind == 5 and len(nodes) > 1:  # reorder
        i, j = rng.sample(range(len(nodes)), 2)
        a, b = onnx.NodeProto(), onnx.NodeProto()
        a.CopyFrom(nodes[i])
        b.CopyFrom(nodes[j])
        m.graph.node[i].CopyFrom(b)
        m.graph.node[j].CopyFrom(a)
    elif n.input:
        n.input[rng.randrange(len(n.input))] = rng.choice([*names, ""])


def _mutate_graph(rng: random.Random, m: onnx.ModelProto) -> None:
    kind = rng.randrange(5)
    vi = m.graph.input[0] if m.graph.input else None
    if kind == 0 and vi is not None and vi.type.tensor_type.shape.dim:
        dims = vi.type.tensor_type.shape.dim
        d = dims[rng.randrange(len(dims))]
        d.Clear()
        if rng.random() < 0.7:
            d.dim_value = rng.choice([0, 1, 2, 3, 7, 100000])
        else:
            d.dim_param = "S"
    elif kind == 1 and m.graph.output:
        out = m.graph.output[0]
        dims = out.type.tensor_type.shape.dim
        if dims:
            dims[-1].Clear()
            dims[-1].dim_value = rng.choice([1, 2, 5, 999])
    elif kind == 2 and m.graph.output:
        m.graph.output[0].name = rng.choice([i for n in m.graph.node for i in n.input] or ["x"])
    elif kind == 3 and vi is not None:
        vi.type.tensor_type.elem_type = rng.choice([TensorProto.INT8, TensorProto.DOUBLE, TensorProto.STRING, 0])
    else:
        m.graph.node.append(rng.choice(list(m.graph.node)))  # a duplicate node


def _set_bad_name(rng: random.Random, data: bytearray, base: onnx.ModelProto) -> None:
    """Replace a name's bytes in the serialized model with bytes of the same length (invalid UTF-8)."""
    names = sorted({n.name for n in base.graph.node if len(n.name) >= 2})
    if not names:
        return
    target = rng.choice(names).encode()
    i = bytes(data).find(target)
    if i >= 0:
        data[i: i + 2] = rng.choice([b"\xff\xfe", b"\xc3\x28", b"\n\n", b"\x00\x01"])


def mutate(rng: random.Random, base: onnx.ModelProto) -> bytes:
    """One mutant of ``base`` as serialized bytes (one to three mutations)."""
    if rng.random() < 0.4:  # byte level
        data = bytearray(base.SerializeToString())
        for _ in range(rng.randrange(1, 4)):
            kind = rng.randrange(5)
            if kind == 0 and data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            elif kind == 1:
                data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
            elif kind == 2 and data:
                del data[rng.randrange(len(data))]
            elif kind == 3 and data:
                del data[rng.randrange(len(data)):]
            else:
                _set_bad_name(rng, data, base)
        return bytes(data)
    m = onnx.ModelProto()
    m.CopyFrom(base)
    ops: list[Callable[[random.Random, onnx.ModelProto], None]] = [
        _mutate_attribute, _mutate_initializer, _mutate_node, _mutate_graph]
    for _ in range(rng.randrange(1, 4)):
        try:
            rng.choice(ops)(rng, m)
        except (ValueError, TypeError, IndexError, KeyError):  # a mutation an earlier one made impossible: skipped
            pass
    return m.SerializeToString()


# -------------------------------------------------------------------------------- the check
@dataclass
class FuzzResult:
    """Outcome counts of a campaign, and the findings (mutant bytes with their traceback)."""

    accepted: int = 0
    rejected: int = 0
    compared: int = 0
    findings: list[tuple[str, bytes, str]] = field(default_factory=list)
    where: Counter = field(default_factory=Counter)
    slowest: float = 0.0

    crashed: int = 0
    safety_net: int = 0  #: rejected by the reader's generic safety net (no specific check caught them)

    @property
    def total(self) -> int:
        return self.accepted + self.rejected + self.crashed


def _stimulus(graph, seed: int) -> np.ndarray:  # noqa: ANN001 - an IR graph
    return np.random.default_rng(seed).uniform(-3, 3, size=(4, graph.inputs[0].size))


def _check_one(path: Path, base_name: str, res: FuzzResult, seed: int, data: bytes) -> None:
    from fpga_flow.pipeline import load_and_lower, plan

    try:
        graph = load_and_lower(path)
        plan(graph, 2)
    except FlowError as e:
        msg = str(e)
        res.rejected += 1
        res.safety_net += type(e).__name__ == "MalformedModelError"
        if "\n" in msg or not msg:
            res.findings.append((base_name, data, f"multi-line or empty message: {msg!r}"))
        return
    except Exception:  # noqa: BLE001 - exactly what the campaign looks for
        tb = traceback.format_exc()
        res.findings.append((base_name, data, tb))
        res.crashed += 1
        last = [ln for ln in tb.strip().splitlines() if ln.strip().startswith("File ")]
        res.where[last[-1].strip() if last else "?"] += 1
        return
    res.accepted += 1
    if base_name.startswith("qonnx"):
        _compare_exact(path, graph, base_name, res, seed, data)


def _compare_exact(path: Path, graph, base_name: str, res: FuzzResult, seed: int, data: bytes) -> None:  # noqa: ANN001
    from tests.exact_onnx import run_exact, to_float

    model = onnx.load(str(path))
    x = _stimulus(graph, seed)
    try:
        shaped = x.reshape((x.shape[0], *graph.inputs[0].shape))
        want = to_float(run_exact(model, shaped)).reshape(x.shape[0], -1)
    except Exception:  # noqa: BLE001 - the interpreter only knows the unmutated subset: nothing to compare
        return
    got = graph.run_float(x).reshape(x.shape[0], -1)
    res.compared += 1
    if got.shape != want.shape or not np.array_equal(got, want):
        res.findings.append((base_name, data, f"accepted but differs from the exact interpreter: {got} vs {want}"))


def run_campaign(n: int, seed: int = 2026, workdir: Path | None = None) -> FuzzResult:
    """``n`` mutants (seeded), round-robin over the base models."""
    rng = random.Random(seed)
    bases = list(base_models().items())
    res = FuzzResult()
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = Path(tmp) / "mutant.onnx"
        for i in range(n):
            name, base = bases[i % len(bases)]
            data = mutate(rng, base)
            path.write_bytes(data)
            t0 = time.perf_counter()
            _check_one(path, name, res, i, data)
            res.slowest = max(res.slowest, time.perf_counter() - t0)
    return res


if __name__ == "__main__":  # make fuzz
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 16000
    t = time.perf_counter()
    r = run_campaign(count)
    print(f"{r.total} mutants in {time.perf_counter() - t:.1f} s: {r.accepted} accepted ({r.compared} compared "
          f"with the exact interpreter), {r.rejected} rejected with a clear error ({r.safety_net} by the safety net), "
          f"{len(r.findings)} findings; "
          f"slowest {r.slowest:.2f} s")
    for where, k in r.where.most_common():
        print(f"  {k:5d}  {where}")
    sys.exit(1 if r.findings else 0)
