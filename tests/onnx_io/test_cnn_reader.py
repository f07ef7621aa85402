"""The ONNX reader on convolutional models made by the tools users have (tests/cnn_models.py):
torch.onnx.export (TorchScript at opset 13 and 18, dynamo at 18, static and dynamic batch) and
Brevitas export_qonnx (LeNet-5 with and without BatchNorm2d, an MLP with BatchNorm1d, a residual
CNN with average pools and a concat; TorchScript and dynamo paths).

* QONNX models: ``graph.run_float(x)`` equals tests/exact_cnn.run_qonnx_exact bit for bit (an
  independent integer evaluation of the ONNX graph: Quant = round half to even, saturating; a
  BatchNormalization by the documented fold). exact_cnn also agrees with Brevitas' own forward on
  these inputs (checked here too), so the expectation is what the model means.
* float models: ``|fpga-flow - onnxruntime| <= bound + 1e-6``, the bound propagated layer by layer
  from the precision's LSB by exact_cnn.float_error_bound (a rigorous worst case, see its
  docstring), 1e-6 covering onnxruntime's own float32 rounding (measured < 1e-7 here, and also
  asserted against a float64 evaluation). More fractional bits must shrink the error.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from fpga_flow.errors import UnsupportedError
from fpga_flow.fixed import FixedType, Overflow, Rounding
from fpga_flow.ir import (
    Activation,
    AvgPool2dLayer,
    Conv2dLayer,
    DenseLayer,
    Graph,
    MaxPool2dLayer,
    ScaleLayer,
    layer_kind,
)
from fpga_flow.onnx_io import read_onnx
from fpga_flow.onnx_io.bn_exact import input_values
from fpga_flow.pipeline import lower
from tests import cnn_models as cm
from tests import exact_cnn as ec

ORT_TOL = 1e-6  # onnxruntime's float32 evaluation vs float64 (measured <= 5e-8 on these models)


def _kinds(g: Graph) -> Counter:
    return Counter(layer_kind(lay) for lay in g.layers)


def _ort(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    dim0 = model.graph.input[0].type.tensor_type.shape.dim[0]
    if dim0.dim_param:  # symbolic batch: the whole batch at once
        return sess.run(None, {"input": x.astype(np.float32)})[0].astype(np.float64)
    return np.concatenate([sess.run(None, {"input": x[i : i + 1].astype(np.float32)})[0]
                           for i in range(len(x))]).astype(np.float64)


def _qonnx_inputs(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    x = cm.images(n, shape, seed=seed, scale=2.5)
    flat = x.reshape(n, -1)
    flat[0, :6] = [0.03125, -0.09375, 100.0, -100.0, 0.15625, -7.96875]  # ties of 2^-4 and out-of-range values
    return flat.reshape(x.shape)


def _assert_bit_exact(model: onnx.ModelProto, x: np.ndarray, module: torch.nn.Module | None = None) -> np.ndarray:
    want = ec.run_qonnx_exact(model, x).floats()
    if module is not None:  # the exact evaluation is what the Brevitas model computes
        with torch.no_grad():
            torch_y = module(torch.tensor(x, dtype=torch.float32)).numpy().astype(np.float64)
        # with BN, the exact evaluation computes the real BatchNorm; Brevitas computes it in float32,
        # which on these samples rounds the same way
        np.testing.assert_array_equal(torch_y, want)
    for g in (read_onnx(model), lower(read_onnx(model))):
        y = g.run_float(x)
        assert y.shape == want.shape
        np.testing.assert_array_equal(y, want)
    # the flat (N, C*H*W) form of the same input gives the same outputs
    np.testing.assert_array_equal(read_onnx(model).run_float(x.reshape(len(x), -1)), want)
    assert np.unique(want).size > want.size // 4  # not a saturated / constant output
    return want


def _quant_nodes(model: onnx.ModelProto) -> dict[str, tuple[float, int, int, int]]:
    """Quant output tensor -> (scale, bits, signed, narrow), read from the model itself."""
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    out = {}
    for n in model.graph.node:
        if n.op_type == "Quant":
            a = {x.name: onnx.helper.get_attribute_value(x) for x in n.attribute}
            out[n.output[0]] = (float(inits[n.input[1]].ravel()[0]), int(inits[n.input[3]].ravel()[0]),
                                int(a.get("signed", 1)), int(a.get("narrow", 0)))
    return out


# ============================================================================ float torch models
CONVS_TORCHCNN = [  # (kernel, stride, pads, groups) of conv1..conv4, in graph order
    ((3, 3), (1, 1), (1, 1, 1, 1), 1), ((3, 3), (1, 1), (1, 1, 1, 1), 1),
    ((3, 3), (2, 2), (1, 1, 1, 1), 1), ((2, 2), (1, 1), (0, 0, 0, 0), 1),
]


@pytest.mark.parametrize("variant", list(cm.FLOAT_VARIANTS))
def test_float_torch_cnn_structure(variant):
    model, _ = cm.float_cnn_onnx(variant)
    g = read_onnx(model, precision="ap_fixed<24,10>")
    k = _kinds(g)
    assert k["conv2d"] == 4 and k["add"] == 1 and k["scale"] == 1 and k["maxpool2d"] == 1
    assert k["avgpool2d"] == 1 and k["concat"] == 1 and k["reshape"] == 1 and k["dense"] == 1
    assert g.inputs[0].shape == cm.TorchCNN.in_shape
    convs = [lay for lay in g.layers if isinstance(lay, Conv2dLayer)]
    assert [(c.kernel, c.stride, c.pads, c.groups) for c in convs] == CONVS_TORCHCNN
    assert [c.shape for c in convs] == [(4, 10, 10), (4, 10, 10), (6, 3, 3), (5, 2, 2)]
    avg = next(lay for lay in g.layers if isinstance(lay, AvgPool2dLayer))
    assert (avg.kernel, avg.stride, avg.pads, avg.count_include_pad) == ((3, 3), (2, 2), (1, 1, 1, 1), True)
    assert g.layer(g.outputs[0]).shape == (3,)
    # the --precision type wraps (ap_fixed's default AP_WRAP), so relu(q(a)) == q(relu(a)) is not
    # guaranteed and the fuse pass keeps the ReLUs out of the convolutions (fuse_activations' rule);
    # of the 4 ReLU layers, the one before the max pool moves into the pool (max and ReLU commute)
    low = lower(g)
    assert _kinds(g)["relu"] == 4 and _kinds(low)["relu"] == 3
    pool = next(lay for lay in low.layers if isinstance(lay, MaxPool2dLayer))
    assert pool.activation is Activation.RELU


@pytest.mark.parametrize("variant", list(cm.FLOAT_VARIANTS))
@pytest.mark.parametrize(("width", "integer"), [(16, 6), (24, 10)])
def test_float_torch_cnn_within_propagated_bound_of_onnxruntime(variant, width, integer):
    model, _ = cm.float_cnn_onnx(variant)
    x = cm.images(6, cm.TorchCNN.in_shape, seed=2, scale=2.0)
    ref = _ort(model, x)
    v, bound = ec.float_error_bound(model, x, width, integer)
    assert np.abs(ref - v).max() <= ORT_TOL  # onnxruntime and the float64 evaluation agree
    g = read_onnx(model, precision=f"ap_fixed<{width},{integer}>")
    y = g.run_float(x)
    assert np.all(np.abs(y - ref) <= bound + ORT_TOL)
    np.testing.assert_array_equal(lower(g).run_float(x), y)  # the passes change no value
    # the worst case grows with fan-in and depth (about 2000 LSBs at the output here; the measured
    # error is about 100x smaller): it must stay a statement about LSBs, not about the value range
    assert bound.max() < 4096 * 2.0 ** (integer - width)


@pytest.mark.parametrize("variant", ["ts13", "dynamo18_dynbatch"])
def test_more_fractional_bits_shrink_the_error(variant):
    model, _ = cm.float_cnn_onnx(variant)
    x = cm.images(6, cm.TorchCNN.in_shape, seed=3, scale=2.0)
    ref = _ort(model, x)
    err = {p: float(np.abs(read_onnx(model, precision=p).run_float(x) - ref).max())
           for p in ("ap_fixed<16,6>", "ap_fixed<24,10>", "ap_fixed<32,10>")}
    # 4 more fractional bits: about 16x smaller; 8 more: about 256x (at least 8x / 100x required)
    assert err["ap_fixed<24,10>"] * 8 < err["ap_fixed<16,6>"]
    assert err["ap_fixed<32,10>"] * 100 < err["ap_fixed<24,10>"]
    assert err["ap_fixed<32,10>"] < 1e-5


def test_dynamic_batch_models_run_any_batch():
    for variant in ("ts13_dynbatch", "dynamo18_dynbatch"):
        model, _ = cm.float_cnn_onnx(variant)
        assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param
        x = cm.images(9, cm.TorchCNN.in_shape, seed=4, scale=2.0)
        _, bound = ec.float_error_bound(model, x, 24, 10)
        y = read_onnx(model, precision="ap_fixed<24,10>").run_float(x)
        assert y.shape == (9, 3)
        assert np.all(np.abs(y - _ort(model, x)) <= bound + ORT_TOL)


@pytest.mark.parametrize(("opset", "dynamo"), [(13, False), (18, False), (18, True)])
def test_depthwise_and_global_average_pool(opset, dynamo):
    model, _ = cm.depthwise_gap_onnx(opset, dynamo)
    ops = {n.op_type for n in model.graph.node}
    assert ("ReduceMean" if dynamo else "GlobalAveragePool") in ops  # what each exporter writes
    g = read_onnx(model)  # default precision ap_fixed<16,6>
    convs = [lay for lay in g.layers if isinstance(lay, Conv2dLayer)]
    assert [(c.groups, c.stride, c.pads) for c in convs] == [(1, (1, 1), (0, 0, 0, 0)), (6, (2, 2), (1, 1, 1, 1))]
    assert convs[1].weights.shape == (6, 9)  # depthwise: one 3x3 window per channel
    pools = [lay for lay in g.layers if isinstance(lay, AvgPool2dLayer)]
    assert [(p.kernel, p.stride, p.pads, p.count_include_pad, p.shape) for p in pools] == [
        ((2, 2), (1, 1), (1, 1, 1, 1), False, (6, 5, 5)), ((5, 5), (5, 5), (0, 0, 0, 0), False, (6, 1, 1))]
    x = cm.images(8, cm.DepthwiseGapCNN.in_shape, seed=5, scale=2.0)
    ref = _ort(model, x)
    for width, integer in ((16, 6), (24, 10)):
        _, bound = ec.float_error_bound(model, x, width, integer)
        y = read_onnx(model, precision=f"ap_fixed<{width},{integer}>").run_float(x)
        assert np.all(np.abs(y - ref) <= bound + ORT_TOL)


# ============================================================================ Brevitas QONNX models
# export_qonnx's default on torch >= 2.9 is the dynamo path; it is taken for the BN model (Conv, BN,
# Gemm, Reshape as dynamo writes them), the TorchScript path for both
@pytest.mark.parametrize(("bn", "dynamo"), [(False, False), (True, False), (True, True)],
                         ids=["plain-torchscript", "bn-torchscript", "bn-dynamo"])
def test_brevitas_lenet5_is_bit_exact(bn, dynamo):
    model, module = cm.brevitas_lenet5(bn, dynamo=dynamo)
    g = read_onnx(model)
    k = _kinds(g)
    assert (k["conv2d"], k["maxpool2d"], k["dense"], k["reshape"], k["scale"]) == (2, 2, 3, 1, 2 if bn else 0)
    quants = _quant_nodes(model)
    s_in, bits, signed, narrow = next(iter(quants.values()))  # the input Quant comes first
    t_in = g.inputs[0].out_type
    assert (t_in.width, t_in.frac, t_in.signed) == (bits, -int(np.log2(s_in)), bool(signed))
    assert t_in.rounding is Rounding.RND_CONV and t_in.overflow is Overflow.SAT
    convs = [lay for lay in g.layers if isinstance(lay, Conv2dLayer)]
    assert [(c.kernel, c.pads, c.in_shape) for c in convs] == [((5, 5), (2, 2, 2, 2), (1, 28, 28)),
                                                               ((5, 5), (0, 0, 0, 0), (6, 14, 14))]
    assert all(c.weight_type.width == 8 and c.weight_type.overflow is Overflow.SAT_SYM for c in convs)  # narrow
    low = lower(g)
    assert all(c.activation is (Activation.LINEAR if bn else Activation.RELU)
               for c in low.layers if isinstance(c, Conv2dLayer))
    assert all(s.activation is Activation.RELU for s in low.layers if isinstance(s, ScaleLayer))
    _assert_bit_exact(model, _qonnx_inputs(12, cm.QuantLeNet5.in_shape, seed=6), module)


def _frac_of(model: onnx.ModelProto, tensor: str) -> int:
    """Fractional bits of a tensor of a QONNX graph, traced from its Quant scales (independently of
    the reader): a Quant sets them, pooling/reshaping keeps them, a MAC adds input and weight fracs."""
    producers = {o: n for n in model.graph.node for o in n.output}
    quants = _quant_nodes(model)
    n = producers[tensor]
    if n.op_type == "Quant":
        return -int(np.log2(quants[tensor][0]))
    if n.op_type in ("MaxPool", "Flatten", "Reshape", "Transpose", "Relu"):
        return _frac_of(model, n.input[0])
    if n.op_type in ("Conv", "MatMul", "Gemm"):
        return _frac_of(model, n.input[0]) + _frac_of(model, n.input[1])
    raise NotImplementedError(n.op_type)


def _folded(params: list, eps: float, x: ec.Fx, bits: int, grid: FixedType) -> np.ndarray:
    fold = ec.bn_fold(*params, eps, x.frac, bits)
    return ec.scale(x, fold.mult, fold.fm, fold.offset, fold.fx + fold.fm, False, grid).m


@pytest.mark.parametrize("which", ["lenet5_bn", "mlp_bn1d"])
def test_batchnorm_fold_is_the_narrowest_exact_one(which):
    """The reader's per-channel scale holds the documented fold (exact_cnn.bn_fold) at the narrowest
    width from 25 bits for which every value of the input type rounds, on the following Quant's
    grid, exactly as the real BatchNorm (exact_cnn.bn_exact, 120-digit decimals): checked on every
    input value here, and one bit narrower is not exact (when wider than 25)."""
    model = cm.brevitas_lenet5(True)[0] if which == "lenet5_bn" else cm.brevitas_mlp_bn1d()[0]
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    bns = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    read = read_onnx(model)
    g = lower(read)  # the Quant after each BN (through its ReLU) fused: its grid is the scale's type
    scales = [lay for lay in g.layers if isinstance(lay, ScaleLayer | DenseLayer) and lay.name.startswith("bn")]
    assert len(bns) == len(scales) == 2
    for node, lay in zip(bns, scales, strict=True):
        eps = next(onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "epsilon")
        src = read.layer(lay.inputs[0]).out_type  # the input type as the reader saw it (before lowering)
        params = [inits[i] for i in node.input[1:5]]
        c = int(np.asarray(params[0]).size)
        xs = input_values(src)  # every value up to 16 bits, else the reader's documented 2^16 sample
        full = xs.size <= 4096
        if not full:  # the 120-digit oracle on a seeded part of that domain, both ends included
            pick = np.random.default_rng(1).choice(xs.size, 4096, replace=False)
            xs = np.unique(np.concatenate([xs[pick], xs[[0, -1]]]))
        x = ec.Fx(np.broadcast_to(xs[:, None], (xs.size, c)).copy(), src.frac)
        grid = FixedType(40, 40 - lay.out_type.frac, True, lay.out_type.rounding, Overflow.WRAP)  # no saturation
        want = ec.bn_exact(x, *params, eps, False, grid).m

        mt, ot = (lay.mult_type, lay.offset_type) if isinstance(lay, ScaleLayer) else (lay.weight_type, lay.bias_type)
        mult = lay.mult if isinstance(lay, ScaleLayer) else np.diag(lay.weights.to_dense())  # a BN1d: diagonal
        offset = lay.offset if isinstance(lay, ScaleLayer) else lay.bias
        w = mt.width
        fold = ec.bn_fold(*params, eps, src.frac, w)
        assert not fold.pow2 and mt.signed and mt.frac == fold.fm
        np.testing.assert_array_equal(mult, fold.mult)
        assert ot.frac == src.frac + fold.fm
        np.testing.assert_array_equal(offset, fold.offset)
        np.testing.assert_array_equal(_folded(params, eps, x, w, grid), want)
        if w > 25 and full:  # minimal: one bit narrower is not exact on the whole domain
            assert np.any(_folded(params, eps, x, w - 1, grid) != want)


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
def test_brevitas_mlp_with_batchnorm1d_is_bit_exact(dynamo):
    model, module = cm.brevitas_mlp_bn1d(dynamo=dynamo)
    g = read_onnx(model)
    assert (_kinds(g)["dense"], _kinds(g)["scale"]) == (3, 2)
    assert [lay.shape for lay in g.layers if isinstance(lay, ScaleLayer)] == [(16,), (12,)]
    x = _qonnx_inputs(64, cm.BrevitasMlpBn.in_shape, seed=7)
    _assert_bit_exact(model, x, module)


@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_brevitas_residual_cnn_with_pools_and_concat_is_bit_exact(per_channel):
    model, module = cm.brevitas_rescnn(per_channel=per_channel)
    inits = {t.name: t for t in model.graph.initializer}
    w_scales = [list(inits[n.input[1]].dims) for n in model.graph.node
                if n.op_type == "Quant" and n.input[0] in inits and len(inits[n.input[0]].dims) == 4]
    assert w_scales == ([[4, 1, 1, 1], [], [4, 1, 1, 1]] if per_channel else [[], [], []])  # what Brevitas wrote
    g = read_onnx(model)
    k = _kinds(g)
    assert (k["conv2d"], k["add"], k["avgpool2d"], k["concat"], k["dense"]) == (3, 1, 2, 1, 1)
    convs = [lay for lay in g.layers if isinstance(lay, Conv2dLayer)]
    assert [c.groups for c in convs] == [1, 1, 4]
    if per_channel:  # one weight type for the layer: the finest channel scale, every channel exact on it
        fr = [-int(np.log2(v)) for v in onnx.numpy_helper.to_array(inits[_weight_scale(model, 0)]).ravel()]
        assert convs[0].weight_type.frac == max(fr)
    # each average is rounded once, to the type of the Quant that follows it in the model
    pools = [lay for lay in g.layers if isinstance(lay, AvgPool2dLayer)]
    assert all(p.out_type.rounding is Rounding.RND_CONV and not p.out_type.signed for p in pools)
    _assert_bit_exact(model, _qonnx_inputs(24, cm.QuantResCNN.in_shape, seed=8), module)


def _weight_scale(model: onnx.ModelProto, i: int) -> str:
    """The scale initializer of the ``i``-th Quant on a 4-D weight."""
    inits = {t.name: t for t in model.graph.initializer}
    nodes = [n for n in model.graph.node if n.op_type == "Quant" and n.input[0] in inits
             and len(inits[n.input[0]].dims) == 4]
    return nodes[i].input[1]


# ============================================================================ what the reader refuses
@pytest.mark.parametrize(("kind", "node", "op", "needle"), [
    ("dilated_conv", "/0/Conv", "Conv", "dilations"),
    ("ceil_maxpool", "/1/MaxPool", "MaxPool", "ceil_mode"),
    ("sigmoid", "/1/Sigmoid", "Sigmoid", "Conv"),  # the supported list names the CNN ops
])
def test_unsupported_cnn_constructs_are_one_line_errors_naming_the_node(kind, node, op, needle):
    model = cm.unsupported_onnx(kind)
    assert any(n.name == node and n.op_type == op for n in model.graph.node)  # what the exporter wrote
    with pytest.raises(UnsupportedError) as e:
        read_onnx(model)
    msg = str(e.value)
    assert node in msg and op in msg and needle in msg and "\n" not in msg
    if kind == "sigmoid":
        for supported in ("MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "Concat", "Gemm"):
            assert supported in msg
