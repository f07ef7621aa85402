"""split_pixels (fpga_flow/passes/pixels.py): a convolution computing several output pixels per step
and the max pool after it reading the phases. The rewritten graph's outputs are compared with the
original graph's (its own convolution and pooling references) exactly; the structure is checked
against the original layers' weights."""

from __future__ import annotations

import numpy as np
import pytest

from fpga_flow.ir import Conv2dLayer, Graph, MaxPool2dLayer
from fpga_flow.passes import pixel_splits, split_pixels
from tests.cnn_graphs import cnn_graph, cnn_inputs


def _layer(g: Graph, name: str):  # type: ignore[no-untyped-def]
    return next(lay for lay in g.layers if lay.name == name)


@pytest.mark.parametrize("storage", ["csr", "dense", "codebook_csr"])
@pytest.mark.parametrize("phases", [(1, 2), (2, 1), (2, 2)])
def test_split_is_exact_and_keeps_the_macs(storage: str, phases: tuple[int, int]) -> None:
    g = cnn_graph("lenet", storage=storage)
    assert phases in pixel_splits(g, "conv1")
    gy, gx = phases
    s = split_pixels(g, "conv1", gy, gx)
    conv, new = _layer(g, "conv1"), _layer(s, "conv1")
    assert isinstance(new, Conv2dLayer) and new.pixel_phases == phases
    assert new.weights.kind == conv.weights.kind
    c, oh, ow = conv.shape
    assert new.shape == (c * gy * gx, oh // gy, ow // gx)
    assert new.stride == (gy * conv.stride[0], gx * conv.stride[1])
    # row (c, py, px) is row c with every tap moved by (py, px): the same nonzeros, so the same MACs
    w, w2 = conv.weights.to_dense(), new.weights.to_dense()
    kh, kw = conv.kernel
    kh2, kw2 = new.kernel
    for co in range(c):
        for py in range(gy):
            for px in range(gx):
                row = np.zeros((conv.in_channels, kh2, kw2), np.int64)
                row[:, py:py + kh, px:px + kw] = w[co].reshape(conv.in_channels, kh, kw)
                assert np.array_equal(w2[(co * gy + py) * gx + px], row.reshape(-1))
    assert new.nnz * (oh // gy) * (ow // gx) == conv.nnz * oh * ow
    pool = _layer(s, "pool1")
    assert isinstance(pool, MaxPool2dLayer) and pool.channel_group == gy * gx and pool.shape == _layer(g, "pool1").shape
    x = cnn_inputs(g, 48)
    want, got = g.execute(x), s.execute(x)
    for name in ("pool1", "conv2", "fc2"):
        assert np.array_equal(got[name], want[name])


def test_splits_need_a_max_pool_whose_window_the_phases_divide() -> None:
    g = cnn_graph("lenet")
    assert pixel_splits(g, "conv2") == []  # pool2 has stride 1: no phase can be read by it
    assert pixel_splits(g, "fc1") == []
    assert pixel_splits(cnn_graph("conv_s1"), "conv1") == []  # no pool after it
    with pytest.raises(ValueError, match="max pool"):
        split_pixels(g, "conv2", 1, 2)
    s = split_pixels(g, "conv1", 2, 2)
    assert pixel_splits(s, "conv1") == []  # already split
