"""Convolutional layers through every stage: exact float64 conv, pruning masks, sharing, export read back."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from torch import nn

from fpga_flow.compress import (
    CompressibleConv2d,
    CompressibleLinear,
    CompressibleNet,
    Pruner,
    PruneStep,
    TrainSpec,
    export_onnx,
    lenet5,
    magnitude_mask,
    quantize_model,
    share_weights,
    train,
)
from fpga_flow.compress.qat import TypePolicy
from fpga_flow.compress.training import predict
from fpga_flow.fixed import FixedType, Overflow, Rounding, from_float, to_float
from fpga_flow.onnx_io import read_onnx
from fpga_flow.pipeline import load_and_lower

QD = "qonnx.custom_op.general"


def _int_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int, groups: int) -> np.ndarray:
    """Exact integer convolution on Python ints (object arrays): the definition, nothing shared."""
    n, c, h, wd = x.shape
    co, cg, kh, kw = w.shape
    xp = np.pad(x.astype(object), ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=0)
    ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = np.empty((n, co, ho, wo), dtype=object)
    per_group = co // groups
    for o in range(co):
        g = o // per_group
        acc = np.full((n, ho, wo), int(b[o]), dtype=object)
        for ci in range(cg):
            for ky in range(kh):
                for kx in range(kw):
                    rows = slice(ky, ky + stride * (ho - 1) + 1, stride)
                    cols = slice(kx, kx + stride * (wo - 1) + 1, stride)
                    win = xp[:, g * cg + ci, rows, cols]
                    acc = acc + win * int(w[o, ci, ky, kx])
        out[:, o] = acc
    return out


@pytest.mark.parametrize(
    ("c_in", "c_out", "k", "stride", "pad", "groups"),
    [(1, 6, 5, 1, 0, 1), (4, 6, 3, 2, 1, 1), (6, 6, 3, 1, 2, 6), (4, 8, 3, 2, 0, 2)],
    ids=["5x5", "stride2-pad1", "depthwise-pad2", "groups2-stride2"],
)
def test_float64_conv_is_the_exact_integer_convolution(c_in, c_out, k, stride, pad, groups):
    """Products and sums up to ~2**50 LSBs: torch's float64 conv equals the integer convolution."""
    rng = np.random.default_rng(k + stride + pad + groups)
    lay = CompressibleConv2d(c_in, c_out, k, stride=stride, padding=pad, groups=groups, name="c").double()
    fx, fw, fb = 8, 20, 28  # LSBs 2**-8 (input), 2**-20 (weights), 2**-28 (bias = the product LSB)
    xm = rng.integers(0, 1 << 16, size=(3, c_in, 9, 9))
    wm = rng.integers(-(1 << 23), 1 << 23, size=tuple(lay.weight.shape))
    bm = rng.integers(-(1 << 45), 1 << 45, size=c_out)
    x = torch.as_tensor(xm * 2.0**-fx)
    y = lay.mac(x, torch.as_tensor(wm * 2.0**-fw), torch.as_tensor(bm * 2.0**-fb)).numpy()
    exact = _int_conv(xm, wm, bm, stride, pad, groups)  # at 2**-(fx+fw) = 2**-28
    assert y.shape == exact.shape and max(abs(int(v)) for v in exact.ravel()).bit_length() >= 45
    assert all(float(a) * 2.0**28 == int(e) for a, e in zip(y.ravel(), exact.ravel(), strict=True))
    assert lay.fan_in == c_in // groups * k * k


def test_magnitude_mask_on_conv_weights_keeps_the_largest():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(50, 20, 5, 5, generator=g)
    mask = magnitude_mask(w, sparsity=0.88)
    assert mask.shape == w.shape and int(mask.sum()) == round(0.12 * 25000)
    assert w.abs()[mask].min() >= w.abs()[~mask].max()


def test_conv_pruning_masks_survive_fine_tuning(digits):
    torch.manual_seed(0)
    m = lenet5((1, 8, 8))
    opt = torch.optim.SGD(m.trainable_parameters(), lr=0.02, momentum=0.9)
    train(m, digits.x_train[:256], digits.y_train[:256], TrainSpec(epochs=1, lr=0.02, batch_size=64),
          optimizer=opt, progress=False)
    pruner = Pruner(m)
    dens = pruner.prune(PruneStep(sparsity={"conv1": 0.34, "conv2": 0.8, "fc1": 0.9, "fc2": 0.7}), opt)
    assert dens == {"conv1": 0.66, "conv2": 0.2, "fc1": 0.1, "fc2": 0.3}
    masks = {lay.name: lay.mask.clone() for lay in m.layers}
    assert masks["conv2"].shape == (50, 20, 5, 5)
    train(m, digits.x_train, digits.y_train, TrainSpec(epochs=1, lr=0.02, optimizer="sgd", batch_size=64),
          pruner=pruner, optimizer=opt, progress=False)
    for lay in m.layers:
        assert torch.equal(lay.mask, masks[lay.name])
        assert bool((lay.weight[~lay.mask] == 0).all()) and bool((lay.weight[lay.mask] != 0).all()), lay.name
        mom = opt.state[lay.weight]["momentum_buffer"]
        assert bool((mom[~lay.mask] == 0).all()), lay.name


def _small_cnn() -> CompressibleNet:
    """Every conv feature the export writes: padding, stride 2, a depthwise conv, two poolings."""
    stages = [
        CompressibleConv2d(1, 6, 3, padding=1, name="conv1"),
        nn.MaxPool2d(2),
        CompressibleConv2d(6, 6, 3, stride=2, padding=1, groups=6, name="dw"),
        CompressibleConv2d(6, 8, 1, name="pw"),
        nn.Flatten(),
        CompressibleLinear(8 * 2 * 2, 10, relu=False, name="fc"),
    ]
    return CompressibleNet(stages, (1, 8, 8), name="small_cnn")


@pytest.fixture(scope="module")
def small_cnn_state():
    from fpga_flow.compress import load_digits

    d = load_digits()
    torch.manual_seed(1)
    m = _small_cnn()
    train(m, d.x_train, d.y_train, TrainSpec(epochs=8, lr=5e-3, batch_size=64), progress=False)
    pruner = Pruner(m)
    pruner.prune(PruneStep(sparsity={"conv1": 0.2, "dw": 0.3, "pw": 0.5, "fc": 0.6}))
    train(m, d.x_train, d.y_train, TrainSpec(epochs=2, lr=1e-3, batch_size=64), pruner=pruner, progress=False)
    return {k: v.clone() for k, v in m.state_dict().items()}


@pytest.fixture
def small_cnn(small_cnn_state, digits):
    m = _small_cnn()
    m.load_state_dict(small_cnn_state)
    quantize_model(m, digits.x_train, TypePolicy(layer_weight_width={"conv1": 10, "pw": 10}))
    return m


def test_sharing_puts_every_kept_conv_weight_on_a_centroid(small_cnn):
    m = small_cnn
    masks = {lay.name: lay.mask.clone() for lay in m.layers}
    sizes = share_weights(m, {"conv1": 8, "dw": 3, "pw": 8, "fc": 4})
    for lay in m.layers:
        w = lay.effective_weight().detach().numpy()
        book = lay.codebook().detach().numpy()
        kept = masks[lay.name].numpy()
        np.testing.assert_array_equal(w != 0, kept)  # zero exactly where pruned, nowhere else
        assert np.isin(w[kept], book).all() and np.unique(w[kept]).size == book.size == sizes[lay.name]
        n_distinct = np.unique(lay.weight.detach().numpy()[kept]).size
        assert sizes[lay.name] == min(n_distinct, {"conv1": 256, "dw": 8, "pw": 256, "fc": 16}[lay.name])
        np.testing.assert_array_equal(to_float(from_float(book, lay.weight_type), lay.weight_type), book)
    assert sizes["conv1"] == int(masks["conv1"].sum())  # 43 kept weights: fewer than 256 clusters
    assert sizes["pw"] == 24 and sizes["dw"] == 8  # 24 weights kept in pw, K capped; dw: 2**3


@pytest.mark.parametrize("shared", [False, True], ids=["fixed-point", "shared"])
def test_conv_export_read_back_equals_the_torch_forward(small_cnn, digits, tmp_path, shared):
    m = small_cnn
    if shared:
        share_weights(m, {"conv1": 8, "dw": 3, "pw": 8, "fc": 4})
    path = tmp_path / "cnn.onnx"
    export_onnx(m, path)
    x = digits.x_test
    y_torch = predict(m, x)
    assert np.unique(y_torch).size > 1000  # not vacuous
    x4 = x.reshape(-1, 1, 8, 8).astype(np.float64)
    for graph in (read_onnx(path), load_and_lower(path)):
        np.testing.assert_array_equal(graph.run_float(x4), y_torch)
    # the reader holds the torch weights: row co = W[co] flattened (ci, ky, kx), mantissas of weight_type
    macs = read_onnx(path).mac_layers()
    assert [lay.label for lay in macs] != [] and len(macs) == 4
    for lay_t, lay in zip(m.layers, macs, strict=True):
        w = lay_t.effective_weight().detach().numpy().reshape(lay_t.rows, -1)
        assert lay.weight_type == lay_t.weight_type and lay.bias_type == lay_t.bias_type
        np.testing.assert_array_equal(lay.dense_weights(), from_float(w, lay_t.weight_type))
        assert lay.nnz == int(lay_t.mask.sum())


def test_conv_export_follows_the_onnx_conventions(small_cnn):
    m = small_cnn
    share_weights(m, {"conv1": 8, "dw": 3, "pw": 8, "fc": 4})
    g = export_onnx(m).graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    (inp,) = [i for i in g.input if i.name not in inits]
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 8, 8]
    ops = [n.op_type for n in g.node if n.op_type not in ("Gather",)]
    # Quant(input); per conv: weight Quant, bias Quant, Conv, Relu, act Quant; MaxPool after conv1's act Quant
    i_conv1 = ops.index("Conv")
    assert ops[i_conv1 + 1 : i_conv1 + 4] == ["Relu", "Quant", "MaxPool"]
    assert ops.count("Conv") == 3 and ops.count("Flatten") == 1 and ops.count("MatMul") == 1
    convs = [n for n in g.node if n.op_type == "Conv"]
    attrs = [{a.name: onnx.helper.get_attribute_value(a) for a in n.attribute} for n in convs]
    assert [a["pads"] for a in attrs] == [[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]]
    assert [a["strides"] for a in attrs] == [[1, 1], [2, 2], [1, 1]]
    assert [a["group"] for a in attrs] == [1, 6, 1] and [a["kernel_shape"] for a in attrs] == [[3, 3]] * 2 + [[1, 1]]
    gathers = {n.output[0]: n for n in g.node if n.op_type == "Gather"}
    for lay, conv in zip(m.layers[:3], convs, strict=True):
        w_quant = next(n for n in g.node if n.output[0] == conv.input[1])
        assert w_quant.op_type == "Quant" and w_quant.domain == QD
        idx = inits[gathers[w_quant.input[0]].input[1]]
        assert idx.dtype == np.int64 and idx.shape == tuple(lay.weight.shape)
        np.testing.assert_array_equal(idx != 0, lay.mask.numpy())
        b_quant = next(n for n in g.node if n.output[0] == conv.input[2])
        assert b_quant.op_type == "Quant" and inits[b_quant.input[0]].shape == (lay.rows,)
    pool = next(n for n in g.node if n.op_type == "MaxPool")
    pa = {a.name: onnx.helper.get_attribute_value(a) for a in pool.attribute}
    assert pa["kernel_shape"] == [2, 2] and pa["strides"] == [2, 2]
    flat = next(n for n in g.node if n.op_type == "Flatten")
    assert onnx.helper.get_attribute_value(flat.attribute[0]) == 1


def test_check_exact_counts_the_conv_window():
    m = CompressibleNet([CompressibleConv2d(8, 4, 5, groups=2, relu=False, name="c"), nn.Flatten(),
                         CompressibleLinear(4 * 4 * 4, 2, relu=False, name="fc")], (8, 8, 8))
    wide = FixedType(24, 2, True, Rounding.RND_CONV, Overflow.SAT)
    m.input_type = FixedType(20, 2, False, Rounding.RND_CONV, Overflow.SAT)
    m.layers[0].set_types(wide, wide, FixedType(8, 4, True, Rounding.RND_CONV, Overflow.SAT))
    m.layers[1].set_types(wide, wide, None)
    m.double()
    # a window of C_in/groups * kh * kw = 4 * 25 = 100 products, at 22 + 18 = 40 fractional bits
    assert (100 * 2**23 * (2**20 - 1) + (2**23 << 18)).bit_length() + 1 == 51
    m.check_exact()  # <= 53 bits: exact
    m.input_type = FixedType(24, 2, False, Rounding.RND_CONV, Overflow.SAT)  # 22 + 22 fractional bits
    bits = (100 * 2**23 * (2**24 - 1) + (2**23 << 22)).bit_length() + 1
    with pytest.raises(ValueError, match=rf"layer c: the accumulator needs {bits} bits"):
        m.check_exact()
    assert bits == 55


def test_network_rejects_what_the_export_cannot_write():
    with pytest.raises(ValueError, match="flatten the feature map first"):
        CompressibleNet([CompressibleConv2d(1, 2, 3, name="c"), CompressibleLinear(72, 2, relu=False, name="f")],
                        (1, 8, 8))
    with pytest.raises(ValueError, match="last stage must be a weighted layer"):
        CompressibleNet([CompressibleConv2d(1, 2, 3, name="c"), nn.MaxPool2d(2)], (1, 8, 8))
    with pytest.raises(ValueError, match="unsupported stage"):
        CompressibleNet([nn.ReLU(), CompressibleLinear(4, 2, relu=False, name="f")], (4,))
    with pytest.raises(ValueError, match="ceil_mode"):
        CompressibleNet([CompressibleConv2d(1, 2, 3, name="c"), nn.MaxPool2d(2, ceil_mode=True), nn.Flatten(),
                         CompressibleLinear(18, 2, relu=False, name="f")], (1, 8, 8))


def test_lenet5_has_the_papers_431k_weights():
    m = lenet5()
    assert [tuple(lay.weight.shape) for lay in m.layers] == [(20, 1, 5, 5), (50, 20, 5, 5), (500, 800), (10, 500)]
    assert sum(lay.weight.numel() + lay.bias.numel() for lay in m.layers) == 431080
    assert m.shapes == ((20, 24, 24), (20, 12, 12), (50, 8, 8), (50, 4, 4), (800,), (500,), (10,))
    small = lenet5((1, 8, 8))
    assert small.shapes[4] == (200,) and small.layers[0].padding == (2, 2)
    x = torch.rand(3, 784)
    assert m(x).shape == (3, 10) and torch.equal(m(x), m(x.reshape(3, 1, 28, 28)))
