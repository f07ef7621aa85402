"""Weight sharing: k-means over nonzero weights, zeros kept, exactly K representable values per layer,
centroid gradients equal to the summed member gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fpga_flow.compress import TrainSpec, evaluate, kmeans_1d, project_codebook, share_weights, train
from fpga_flow.fixed import FixedType, Overflow, Rounding, from_float, to_float

W8 = FixedType(8, 1, True, Rounding.RND_CONV, Overflow.SAT)


def test_kmeans_linear_init_converges_to_cluster_means():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(-0.5, 0.01, 300), rng.normal(0.2, 0.01, 100), rng.normal(0.9, 0.01, 50)])
    c, labels = kmeans_1d(v, 3)
    assert c.shape == (3,) and np.all(np.diff(c) > 0)
    np.testing.assert_allclose(c, [-0.5, 0.2, 0.9], atol=0.01)
    for k in range(3):
        assert c[k] == pytest.approx(v[labels == k].mean())
    # every value sits with its nearest centroid
    assert np.array_equal(labels, np.argmin(np.abs(v[:, None] - c[None, :]), axis=1))


def test_kmeans_fills_every_cluster_and_caps_k():
    rng = np.random.default_rng(1)
    v = np.concatenate([rng.normal(0, 0.01, 1000), [5.0]])  # linear init puts most centroids in the gap
    c, labels = kmeans_1d(v, 16)
    assert c.size == 16 and np.bincount(labels, minlength=16).min() > 0
    c2, labels2 = kmeans_1d(np.array([1.0, 1.0, 2.0]), 8)
    assert c2.tolist() == [1.0, 2.0] and labels2.tolist() == [0, 0, 1]


def test_project_codebook_gives_distinct_nonzero_representable_values():
    lsb = 2.0**-W8.frac
    cents = np.array([-1.5, -0.999, -0.3 * lsb, 0.0, 0.2 * lsb, 0.4 * lsb, 0.5, 0.5 + lsb / 4, 0.5 + lsb / 3, 0.99,
                      0.995, 2.0])
    p = project_codebook(cents, W8)
    m = from_float(p, W8)
    np.testing.assert_array_equal(to_float(m, W8), p)  # on the grid
    assert np.unique(p).size == p.size and np.all(p != 0)
    assert np.all(np.sign(p) == np.where(cents < 0, -1, 1))
    assert np.all(np.diff(p) > 0)  # order kept (input was sorted)
    assert np.max(np.abs(p - np.clip(cents, -1, 1 - lsb))) <= 3 * lsb  # few moves
    with pytest.raises(ValueError, match="distinct"):
        project_codebook(np.linspace(0.1, 0.2, 200), W8)


@pytest.mark.parametrize("bits", [2, 4, 5])
def test_sharing_keeps_zeros_and_shares_exactly_k_values(quantized_model, digits, bits):
    m = quantized_model
    masks = {lay.name: lay.mask.clone() for lay in m.layers}
    sizes = share_weights(m, bits)
    assert sizes == {lay.name: 2**bits for lay in m.layers}
    train(m, digits.x_train, digits.y_train, TrainSpec(epochs=2, lr=1e-3, batch_size=64), progress=False)
    for lay in m.layers:
        w = lay.effective_weight().detach().numpy()
        np.testing.assert_array_equal(w != 0, masks[lay.name].numpy())  # zero stays zero, nothing else is 0
        vals = np.unique(w[w != 0])
        assert vals.size == 2**bits, lay.name  # exactly K shared values, every one in use
        np.testing.assert_array_equal(vals, np.sort(lay.codebook().detach().numpy()))
        np.testing.assert_array_equal(to_float(from_float(vals, lay.weight_type), lay.weight_type), vals)
    assert evaluate(m, digits.x_test, digits.y_test) > 0.8


def test_sharing_without_fixed_point_types_is_refused(pruned_model):
    with pytest.raises(ValueError, match="FixedType"):
        share_weights(pruned_model, 4)


def test_centroid_gradient_is_the_sum_of_member_gradients(quantized_model, digits):
    m = quantized_model
    share_weights(m, 4)
    rng = np.random.default_rng(0)
    # exact check: loss = sum(W * G) with small dyadic G, so dL/dW = G and every sum is exact
    loss = 0
    gs = {}
    for lay in m.layers:
        g = torch.as_tensor(rng.integers(-8, 9, size=(lay.n_out, lay.n_in)) / 4.0)
        gs[lay.name] = g
        loss = loss + (lay.effective_weight() * g).sum()
    loss.backward()
    for lay in m.layers:
        codes = lay.codes.numpy()
        g = gs[lay.name].numpy()
        expected = np.array([g[codes == k + 1].sum() for k in range(lay.centroids.numel())])
        np.testing.assert_array_equal(lay.centroids.grad.numpy(), expected)
        assert lay.weight.grad is None  # the dense weights are frozen once shared
    # and on the real loss: centroid gradient == member gradients of the weight matrix, summed
    m.zero_grad()
    lay = m.layers[1]
    w = lay.effective_weight()
    w.retain_grad()
    lay.effective_weight = lambda: w  # reuse the same tensor in the forward
    x = torch.as_tensor(digits.x_train[:128])
    torch.nn.functional.cross_entropy(m(x), torch.as_tensor(digits.y_train[:128])).backward()
    del lay.effective_weight
    codes = lay.codes.numpy()
    wg = w.grad.numpy()
    expected = np.array([wg[codes == k + 1].sum() for k in range(lay.centroids.numel())])
    np.testing.assert_allclose(lay.centroids.grad.numpy(), expected, rtol=1e-12, atol=1e-15)
    assert np.abs(expected).max() > 0
