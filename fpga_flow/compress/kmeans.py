"""Weight sharing: per-layer 1-D k-means over the nonzero weights (Deep Compression, section 3).

* :func:`kmeans_1d`: Lloyd's algorithm with *linear* initialization (``K`` centroids evenly spaced
  between the smallest and the largest weight, the paper's best choice for accuracy because it
  keeps the rare large weights represented). An empty cluster is re-seeded at the worst-fitted
  weight, so every one of the ``K`` centroids ends up with members (when there are ``>= K``
  distinct weights).
* :func:`project_codebook`: centroids -> ``K`` *distinct, nonzero* values of the layer's weight
  ``FixedType`` (round to nearest even, saturate, then the fewest moves that make them distinct and
  keep their order and sign). Zero is reserved for pruned weights.
* :func:`share_weights`: replaces every weighted layer's weights of a fixed-point model by ``codes`` into a
  codebook; the centroids are then trained by the optimizer with the *sum* of the gradients of
  their member weights, which is what autograd computes for ``table[codes]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from fpga_flow.fixed import FixedType, from_float, to_float

if TYPE_CHECKING:  # torch is imported only by share_weights
    from fpga_flow.compress.graphnet import Compressible

__all__ = ["kmeans_1d", "project_codebook", "share_weights"]


def kmeans_1d(values: np.ndarray, k: int, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Cluster 1-D ``values`` into ``k`` groups. Returns ``(centroids[k] sorted, labels)``.

    Linear initialization between ``min`` and ``max``; at most ``max_iter`` Lloyd iterations (stops
    when no label changes). ``k`` is capped by the number of distinct values.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("k-means needs at least one value")
    if k < 1:
        raise ValueError("k must be >= 1")
    k = min(k, int(np.unique(v).size))
    lo, hi = float(v.min()), float(v.max())
    c = np.linspace(lo, hi, k) if k > 1 else np.array([v.mean()])
    labels = np.full(v.size, -1, dtype=np.int64)
    for _ in range(max_iter):
        c = np.sort(c)
        new = _assign(v, c)
        counts = np.bincount(new, minlength=k)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            # re-seed each empty centroid at the value farthest from its current centroid
            err = np.abs(v - c[new])
            for e in empty:
                far = int(np.argmax(err))
                c[e] = v[far]
                err[v == v[far]] = -1.0
            labels[:] = -1
            continue
        c = np.bincount(new, weights=v, minlength=k) / counts
        done = np.array_equal(new, labels)
        labels = new
        if done:
            break
    if labels[0] < 0:  # the last iteration re-seeded: assign once more and drop empty clusters
        c = np.sort(c)
        labels = _assign(v, c)
        used = np.flatnonzero(np.bincount(labels, minlength=c.size) > 0)
        c = np.bincount(labels, weights=v, minlength=c.size)[used] / np.bincount(labels)[used]
        labels = np.searchsorted(used, labels)
    return c, labels


def _assign(v: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Index of the nearest of the sorted centroids ``c`` for each value (ties to the lower one)."""
    return np.searchsorted((c[:-1] + c[1:]) / 2, v, side="left")


def project_codebook(centroids: np.ndarray, t: FixedType) -> np.ndarray:
    """``centroids`` as distinct nonzero values of ``t`` (float64, same order as the input).

    Each centroid is rounded to ``t`` (its rounding, saturation); then, per sign, the rounded
    mantissas are made strictly increasing in magnitude with the fewest moves, away from zero first
    and back toward zero where the range ends. Raises ``ValueError`` when ``t`` has too few values.
    """
    c = np.asarray(centroids, dtype=np.float64)
    m = from_float(c, t).astype(np.int64)
    out = np.empty_like(m)
    neg = c < 0
    for side, sel in ((1, ~neg), (-1, neg)):
        idx = np.flatnonzero(sel)
        if idx.size == 0:
            continue
        limit = t.max_mantissa if side > 0 else -t.min_mantissa
        if idx.size > limit:
            raise ValueError(
                f"{idx.size} {'positive' if side > 0 else 'negative'} centroids do not fit as distinct "
                f"nonzero values of {t}; widen the weight type or use fewer centroids"
            )
        order = idx[np.argsort(side * c[idx], kind="stable")]
        mag = np.clip(side * m[order], 1, limit)  # magnitudes, ascending order of |centroid|
        for i in range(1, mag.size):  # push up to make them distinct
            mag[i] = max(mag[i], mag[i - 1] + 1)
        for i in range(mag.size - 1, -1, -1):  # pull back below the range end
            cap = limit if i == mag.size - 1 else mag[i + 1] - 1
            mag[i] = min(mag[i], cap)
        out[order] = side * mag
    return to_float(out, t)


def share_weights(
    model: Compressible, bits: int | Sequence[int] | Mapping[str, int], max_iter: int = 100
) -> dict[str, int]:
    """Replace each weighted layer's kept weights by ``2**bits`` shared values (k-means, linear init).

    ``model`` is a fixed-point :class:`~fpga_flow.compress.network.CompressibleNet` (conv and
    linear layers alike: one codebook per layer over all its kept weights); ``bits`` one value for
    all layers, one per layer, or a mapping by layer name. Clusters the float weights the mask
    keeps; returns the codebook size per layer (fewer than ``2**bits`` when the layer keeps fewer
    distinct weights).
    """
    import torch

    layers = list(model.layers)
    if isinstance(bits, Mapping):
        per = {lay.name: int(bits[lay.name]) for lay in layers}
    elif isinstance(bits, int):
        per = {lay.name: int(bits) for lay in layers}
    else:
        if len(bits) != len(layers):
            raise ValueError(f"expected {len(layers)} codebook widths, got {len(bits)}")
        per = {lay.name: int(b) for lay, b in zip(layers, bits, strict=True)}
    sizes: dict[str, int] = {}
    with torch.no_grad():
        for lay in layers:
            mask = lay.mask.cpu().numpy()
            w = lay.weight.detach().cpu().numpy().astype(np.float64)
            vals = w[mask]
            if vals.size == 0:
                raise ValueError(f"layer {lay.name}: every weight is pruned, nothing to share")
            cents, labels = kmeans_1d(vals, 1 << per[lay.name], max_iter=max_iter)
            codes = np.zeros(mask.shape, dtype=np.int64)
            codes[mask] = labels + 1
            lay.set_codebook(cents, codes)
            sizes[lay.name] = int(cents.size)
    return sizes
