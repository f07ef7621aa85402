"""The handlers of the ONNX dispatch table (:mod:`fpga_flow.onnx_io.registry`), one per op type."""

from __future__ import annotations

import numpy as np
import onnx

from fpga_flow.ir import Layer, QuantizeLayer, ReluLayer, ReshapeLayer
from fpga_flow.onnx_io.calibrate import RAW_SCORES
from fpga_flow.onnx_io.reader import FINAL_DROPPED, FLOAT_TYPES, PASS_THROUGH, Reader, _Const, esc
from fpga_flow.onnx_io.registry import attr, onnx_handler
from fpga_flow.onnx_io.scaled import requantize, spread_to, target_of_quant

__all__: list[str] = []


@onnx_handler(*PASS_THROUGH)
def read_pass_through(r: Reader, node: onnx.NodeProto) -> None:
    r.alias(node.output[0], r.activation(node))


@onnx_handler("Relu")
def read_relu(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node)
    info = r.scaled.get(src.name)
    bn = r.bn_pending.get(node.input[0])
    if bn is not None or (info is not None and not info.zero_free):  # folded into the next quantizer
        nxt = r.single_consumer(node.output[0])
        final = node.output[0] in r.kept_outputs
        if not final and (nxt is None or not (r.is_quant(nxt) or nxt.op_type == "QuantizeLinear")):
            raise r.fail(node, "a ReLU on a tensor with a nonzero zero point (or a float bias) is supported only right "
                         "before a quantizer (Quant/QuantizeLinear) or at the output", True)
        if bn is not None and final:
            raise r.fail(node, "a BatchNormalization and ReLU at the output of a model whose scales are not powers of "
                         "two are not supported: quantize the output", True)
        r.alias(node.output[0], src)
        r.relu_pending.add(node.output[0])
        if bn is not None:
            r.bn_pending[node.output[0]] = bn
        return
    name, origin = r.new_name(node, "relu")
    out_t = src.out_type if r.quantized else r.act_type(node.output[0])
    lay = r.add_layer(ReluLayer(name, (src.name,), src.shape, out_t, origin=origin), node.output[0])
    if info is not None:
        r.scaled[lay.name] = info


@onnx_handler("Cast", note="float to float, on activations (a no-op)")
def read_cast(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node)
    to = attr(node, "to", 0)
    if to not in FLOAT_TYPES:
        name = onnx.TensorProto.DataType.Name(to) if to in onnx.TensorProto.DataType.values() else str(to)
        raise r.fail(node, f"a Cast of an activation to {name} is not supported: only float-to-float casts (no-ops) "
                     "are; export the model without the cast to an integer type", True)
    r.alias(node.output[0], src)


@onnx_handler(*FINAL_DROPPED, note="only the last op: dropped, the logits are output")
def read_final_softmax(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node)
    if not r.is_final(node.output[0]):
        raise r.fail(node, f"{node.op_type} is only supported as the last op (feeding a graph output)", True)
    axis = int(attr(node, "axis", -1))  # -1 and 1 agree on (batch, n)
    if len(src.shape) != 1 or axis not in (-1, 1):
        raise r.fail(node, f"only a {node.op_type} over the features of a vector (axis=-1 or 1) is supported, got "
                     f"axis={axis} on shape (N, {', '.join(map(str, src.shape))})", True)
    r.alias(node.output[0], src)
    r.dropped.add(node.output[0])
    r.notes.append(f"final {node.op_type} (node {esc(node.name or node.output[0])}) not computed: the outputs are the "
                   "logits; argmax is unchanged")


@onnx_handler("Quant", note="QONNX, power-of-two scales")
def read_quant(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node)
    target = target_of_quant(r, node)
    if src.name in r.scaled or not target.plain or node.input[0] in r.relu_pending:
        requantize(r, node, src, target, node.output[0], relu=node.input[0] in r.relu_pending,
                   bn=r.bn_pending.get(node.input[0]))
        return
    t = r.quant_type(node)
    if t == src.out_type:  # quantizing to the type the values already have: an identity
        r.alias(node.output[0], src)
        return
    name, origin = r.new_name(node, "quant")
    r.add_layer(QuantizeLayer(name, (src.name,), src.shape, t, origin=origin), node.output[0])


def _reshape(r: Reader, node: onnx.NodeProto, src: Layer, shape: tuple[int, ...]) -> None:
    if node.input[0] in r.relu_pending:
        raise r.fail(node, "a reshape after a ReLU on a tensor with a zero point is not supported: quantize first",
                     True)
    if shape == src.shape:
        r.alias(node.output[0], src)
        return
    info = r.scaled.get(src.name)
    moved = spread_to(info, src.shape, shape) if info is not None else None
    if info is not None and moved is None:
        raise r.fail(node, "a reshape of a tensor with per-channel scales to anything but a vector is not supported",
                     True)
    name, origin = r.new_name(node, "reshape")
    lay = r.add_layer(ReshapeLayer(name, (src.name,), shape, src.out_type, origin=origin), node.output[0])
    if moved is not None:
        r.scaled[lay.name] = moved


@onnx_handler("Flatten", note="axis=1")
def read_flatten(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node)
    if attr(node, "axis", 1) != 1:
        raise r.fail(node, "only Flatten with axis=1 (keep the batch dimension) is supported", True)
    _reshape(r, node, src, (src.size,))


@onnx_handler("Reshape", note="keeping the batch dimension")
def read_reshape(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node)
    shp = r.const(node.input[1]) if len(node.input) > 1 else None
    if shp is None:
        raise r.fail(node, "the target shape must be a constant", True)
    target = [int(v) for v in np.asarray(shp.values).ravel()]
    if target and target[0] == 1 and _literal(r, node.input[1]) and not _batch_of_one(r):
        raise r.fail(node, f"Reshape to {target} merges the samples of a batch into one (ONNX semantics; the "
                     "model's input batch is not fixed to 1): reshape to [-1, ...] or [0, ...] to keep the batch, "
                     "or export the model with a batch of 1", True)
    shape = _target_shape(target, src.shape)
    if shape is None:
        raise r.fail(node, f"cannot reshape a sample of shape {src.shape} to {target} keeping the batch dimension "
                     "first", True)
    _reshape(r, node, src, shape)


@onnx_handler("Squeeze", "Unsqueeze", note="of size-1 axes, keeping the batch")
def read_squeeze(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node)
    axes = attr(node, "axes", None)
    if axes is None and len(node.input) > 1 and node.input[1]:
        c = r.const(node.input[1])
        if c is None:
            raise r.fail(node, "the axes must be a constant", True)
        axes = [int(a) for a in np.asarray(c.values).ravel()]
    full = [1, *(int(d) for d in src.shape)]  # the batch taken as 1
    if node.op_type == "Squeeze":
        rank = len(full)
        picked = [a % rank for a in axes] if axes is not None else [i for i in range(1, rank) if full[i] == 1]
        if any(not -rank <= a < rank for a in (axes or [])) or 0 in picked or any(full[a] != 1 for a in picked):
            raise r.fail(node, f"axes={axes}: only size-1 axes other than the batch can be squeezed from shape "
                         f"(N, {', '.join(map(str, src.shape))})", True)
        shape = tuple(d for i, d in enumerate(full) if i not in picked)[1:]
    else:
        if not axes:
            raise r.fail(node, "Unsqueeze needs axes", True)
        rank = len(full) + len(axes)
        picked = sorted(a % rank for a in axes)
        if any(not -rank <= a < rank for a in axes) or 0 in picked or len(set(picked)) != len(picked):
            raise r.fail(node, f"axes={axes}: only new axes after the batch are supported", True)
        out = list(full)
        for a in picked:
            out.insert(a, 1)
        shape = tuple(out[1:])
    if not shape:
        raise r.fail(node, "squeezing every axis but the batch leaves a scalar per sample; keep one axis", True)
    _reshape(r, node, src, shape)


def _literal(r: Reader, name: str) -> bool:
    """``name`` is an initializer or a ``Constant`` (not shape arithmetic on an activation)."""
    if name in r.inits:
        return True
    prod = r.producer.get(name)
    return prod is not None and prod[1].op_type == "Constant"


def _batch_of_one(r: Reader) -> bool:
    """The graph input's batch dimension is fixed to 1."""
    ins = [i for i in r.g.input if i.name not in r.inits]
    dims = ins[0].type.tensor_type.shape.dim if ins else []
    return bool(dims) and dims[0].HasField("dim_value") and dims[0].dim_value == 1


def _target_shape(target: list[int], src: tuple[int, ...]) -> tuple[int, ...] | None:
    """The per-sample shape of ONNX ``Reshape(x, target)`` for ``x`` of shape ``(batch, *src)``."""
    if len(target) < 2 or target.count(-1) > 1:
        return None
    size = int(np.prod(src))
    full = (None, *src)
    rest: list[int] = []
    for i, d in enumerate(target[1:], start=1):
        if d == 0:
            if i >= len(full):
                return None
            d = int(full[i])  # type: ignore[arg-type]
        rest.append(d)
    if target[0] not in (0, 1, -1):
        return None  # a literal batch size other than 1: unknown here
    if -1 in rest:
        known = int(np.prod([d for d in rest if d != -1]))
        if target[0] == -1 or known <= 0 or size % known:
            return None
        rest[rest.index(-1)] = size // known
    if any(d <= 0 for d in rest) or int(np.prod(rest)) != size:
        return None
    return tuple(rest)


@onnx_handler("MatMul", note="constant weight, + Add bias")
def read_matmul(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node, 0)
    w = r.const(node.input[1])
    if w is None:
        raise r.fail(node, "the second operand must be a constant weight (activation x activation "
                     "is not supported)", True)
    if w.values.ndim != 2:
        raise r.fail(node, f"weight must be 2-D (n_in, n_out), got shape {w.values.shape}", True)
    out_tensor = node.output[0]
    bias = None
    add = r.single_consumer(out_tensor)
    if add is not None and add.op_type == "Add":
        other = add.input[1] if add.input[0] == out_tensor else add.input[0]
        b = r.const(other)
        if b is not None:
            bias = (b, add)
            r.mark_consumed(add)
            out_tensor = add.output[0]
    r.make_dense(node, src, w, transposed=False, bias=bias, out_tensor=out_tensor)


@onnx_handler("Gemm", note="transA=0, alpha=beta=1")
def read_gemm(r: Reader, node: onnx.NodeProto) -> None:
    if attr(node, "transA", 0) != 0:
        raise r.fail(node, "Gemm with transA=1 is not supported", True)
    if attr(node, "alpha", 1.0) != 1.0 or attr(node, "beta", 1.0) != 1.0:
        raise r.fail(node, "Gemm with alpha or beta other than 1.0 is not supported", True)
    src = r.activation(node, 0)
    w = r.const(node.input[1])
    if w is None or w.values.ndim != 2:
        raise r.fail(node, "input B must be a constant 2-D weight", True)
    bias = r.input_bias(node, 2, "input C (bias)")
    r.make_dense(node, src, w, transposed=bool(attr(node, "transB", 0)), bias=bias, out_tensor=node.output[0])


#: LinearClassifier post-transforms that are monotonic per class (argmax unchanged when dropped).
_MONOTONIC = ("NONE", "SOFTMAX", "LOGISTIC")


@onnx_handler("LinearClassifier", note="ai.onnx.ml (scikit-learn's linear models): the scores output, "
              "post_transform NONE/SOFTMAX/LOGISTIC as the last op")
def read_linear_classifier(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node)
    post = attr(node, "post_transform", "NONE")
    if post not in _MONOTONIC:
        raise r.fail(node, f"post_transform={post!r} is not supported ({', '.join(_MONOTONIC)})", True)
    labels = attr(node, "classlabels_ints", None) or attr(node, "classlabels_strings", None) or []
    coef = np.asarray(attr(node, "coefficients", []), dtype=np.float64)
    rows = len(labels)
    if rows < 2 or coef.size != rows * src.size:
        raise r.fail(node, f"expected {len(labels)} x {src.size} coefficients (one row per class), got {coef.size}",
                     True)
    icpt = np.asarray(attr(node, "intercepts", [0.0] * rows), dtype=np.float64)
    if len(node.output) < 2 or not node.output[1]:
        raise r.fail(node, "the scores output (output 1) is missing", True)
    scores = node.output[1]
    if post != "NONE":
        if not r.is_final(scores):
            raise r.fail(node, f"post_transform={post} is only supported when the scores are the last op's output",
                         True)
        r.dropped.add(scores)
        r.notes.append(f"final post_transform {post} of node {esc(node.name or scores)} (LinearClassifier) not "
                       "computed: the outputs are the raw scores (logits); argmax is unchanged")
        # the calibration observed the raw scores under their own name (the output holds probabilities)
        r.type_key[scores] = RAW_SCORES.format(scores)
    r.make_dense(node, src, _Const(coef.reshape(rows, src.size)), transposed=True, bias=(_Const(icpt), node),
                 out_tensor=scores)


@onnx_handler("Normalizer", note="ai.onnx.ml, of dropped final probabilities")
def read_normalizer(r: Reader, node: onnx.NodeProto) -> None:
    src = r.activation(node)
    if node.input[0] not in r.dropped or not r.is_final(node.output[0]):
        raise r.fail(node, "a Normalizer is only supported after a dropped final Softmax/post-transform (it then "
                     "only rescales probabilities)", True)
    r.dropped.add(node.output[0])
    r.alias(node.output[0], src)
    r.notes.append(f"final Normalizer (node {esc(node.name or node.output[0])}) not computed: the outputs are the "
                   "logits; argmax is unchanged")


@onnx_handler("Transpose", note="of activations: only when it keeps the element order (size-1 axes) or is undone "
              "by the next Transpose")
def read_transpose(r: Reader, node: onnx.NodeProto) -> None:
    """An exporter's layout change on an activation: a permutation that keeps the row-major element
    order (it only moves size-1 axes) is a reshape; a pair of Transposes that undo each other is an
    identity. Anything else would reorder the stream and is refused."""
    src = r.activation(node)
    full = [1, *(int(d) for d in src.shape)]  # the batch taken as 1
    perm = attr(node, "perm", None)
    perm = list(range(len(full)))[::-1] if perm is None else [int(p) for p in perm]
    if sorted(perm) != list(range(len(full))) or perm[0] != 0:
        raise r.fail(node, f"perm {perm} must permute the {len(full)} axes and keep the batch axis first", True)
    moved = [full[p] for p in perm]
    order = [p for p in perm if full[p] != 1]
    if order == sorted(order):  # only size-1 axes move: the same elements in the same order
        _reshape(r, node, src, tuple(moved[1:]))
        return
    nxt = r.single_consumer(node.output[0])
    if nxt is not None and nxt.op_type == "Transpose":
        back = attr(nxt, "perm", None)
        back = list(range(len(full)))[::-1] if back is None else [int(p) for p in back]
        if len(back) == len(perm) and [perm[b] for b in back] == list(range(len(full))):
            r.mark_consumed(nxt)
            r.alias(nxt.output[0], src)
            return
    raise r.fail(node, f"Transpose with perm {perm} of (N, {', '.join(map(str, src.shape))}) reorders the elements "
                 "of each sample: only layout changes that keep the order, or a pair that undoes itself, are "
                 "supported", True)
