"""Output-pixel parallelism as a graph rewrite: a convolution that computes ``gy x gx`` neighbouring
output pixels per step, the max pooling after it taking the pixel phases as channels.

A window engine deals a convolution's *rows* (output channels) to lanes, so it never has more lanes
than output channels: LeNet-5's first convolution (20 channels, 576 output pixels) is bound at 20
lanes. :func:`split_pixels` turns ``conv (C, H, W) -> MaxPool`` into an equal pair whose convolution
has ``C * gy * gx`` rows, one per channel and pixel *phase* ``(py, px)``:

* ``conv'`` row ``(c * gy + py) * gx + px`` holds channel ``c``'s taps moved by ``(py * sh, px * sw)``
  in a kernel of ``(kh + (gy - 1) * sh) x (kw + (gx - 1) * sw)`` taps, stride ``(gy * sh, gx * sw)``:
  its output ``((c, py, px), y, x)`` is ``conv(c, gy * y + py, gx * x + px)``. The nonzeros of a row
  are channel ``c``'s (zero taps are not stored), so the MACs per image do not change;
* the max pool (kernel ``(kh_p, kw_p)``, stride ``(sh_p, sw_p)``, no padding, ``gy`` dividing ``kh_p``
  and ``sh_p``, ``gx`` dividing ``kw_p`` and ``sw_p``) becomes a pool of kernel ``(kh_p / gy, kw_p / gx)``
  and stride ``(sh_p / gy, sw_p / gx)`` over the ``gy * gx`` phases of each channel
  (``channel_group``): ``max`` over the same elements, so the pool's output is the same map.

Nothing else changes: the rewrite is exact, the pool's output and every later layer are the same
tensors, and both backends spell the new layers as they spell any convolution and pooling.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fpga_flow.ir import (
    CodebookCsrWeights,
    Conv2dLayer,
    CsrWeights,
    DenseWeights,
    Graph,
    MaxPool2dLayer,
)
from fpga_flow.ir.conv import window_out_shape

__all__ = ["pixel_splits", "split_pixels"]

#: Phase counts tried per dimension.
MAX_PHASES = 4


def _pool_after(graph: Graph, conv: Conv2dLayer) -> MaxPool2dLayer | None:
    """The max pool that is the only reader of ``conv`` (not an output), else None."""
    if conv.name in graph.outputs:
        return None
    readers = [lay for lay in graph.layers if conv.name in lay.inputs]
    if len(readers) != 1 or not isinstance(readers[0], MaxPool2dLayer) or readers[0].channel_group != 1:
        return None
    return readers[0]


def _applies(conv: Conv2dLayer, pool: MaxPool2dLayer, gy: int, gx: int) -> bool:
    _, oh, ow = conv.shape
    (kh, kw), (sh, sw) = pool.kernel, pool.stride
    return (gy >= 1 and gx >= 1 and gy * gx > 1 and conv.groups == 1 and not any(pool.pads)
            and oh % gy == 0 and ow % gx == 0 and kh % gy == 0 and sh % gy == 0 and kw % gx == 0 and sw % gx == 0)


def pixel_splits(graph: Graph, name: str) -> list[tuple[int, int]]:
    """The ``(gy, gx)`` phases :func:`split_pixels` can apply to convolution ``name``, fewest first."""
    conv = next((lay for lay in graph.layers if lay.name == name), None)
    if not isinstance(conv, Conv2dLayer):
        return []
    pool = _pool_after(graph, conv)
    if pool is None or conv.pixel_phases != (1, 1):
        return []
    out = [(gy, gx) for gy in range(1, MAX_PHASES + 1) for gx in range(1, MAX_PHASES + 1)
           if _applies(conv, pool, gy, gx)]
    return sorted(out, key=lambda g: (g[0] * g[1], -g[1]))


def _moved_weights(conv: Conv2dLayer, gy: int, gx: int, kh2: int, kw2: int):  # type: ignore[no-untyped-def]
    """The weights of ``conv'``: row ``(c, py, px)`` is row ``c`` with tap ``(ci, ky, kx)`` at
    ``(ci, ky + py * sh, kx + px * sw)`` of the larger kernel (same storage kind, same values)."""
    (kh, kw), (sh, sw) = conv.kernel, conv.stride
    c_out, n_cols = conv.rows, conv.in_channels * kh2 * kw2
    w = conv.weights
    ci, rest = np.divmod(np.arange(conv.row_length, dtype=np.int64), kh * kw)
    ky, kx = np.divmod(rest, kw)

    def col_map(py: int, px: int) -> np.ndarray:  # old column -> new column, monotone
        return (ci * kh2 + ky + py * sh) * kw2 + kx + px * sw

    phases = [(py, px) for py in range(gy) for px in range(gx)]
    if isinstance(w, DenseWeights):
        dense = np.zeros((c_out * gy * gx, n_cols), np.int64)
        for c in range(c_out):
            for k, (py, px) in enumerate(phases):
                dense[c * gy * gx + k, col_map(py, px)] = w.values[c]
        return DenseWeights(dense)
    row_ptr = [0]
    cols: list[np.ndarray] = []
    idx: list[np.ndarray] = []
    for c in range(c_out):
        a, b = int(w.row_ptr[c]), int(w.row_ptr[c + 1])
        for py, px in phases:
            cols.append(col_map(py, px)[w.col_idx[a:b]])
            idx.append(np.arange(a, b, dtype=np.int64))
            row_ptr.append(row_ptr[-1] + b - a)
    col_idx = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    take = np.concatenate(idx) if idx else np.zeros(0, np.int64)
    rp = np.asarray(row_ptr, np.int64)
    if isinstance(w, CodebookCsrWeights):
        return CodebookCsrWeights(rp, col_idx, w.codes[take], w.codebook, n_cols)
    assert isinstance(w, CsrWeights)
    return CsrWeights(rp, col_idx, w.values[take], n_cols)


def split_pixels(graph: Graph, name: str, gy: int, gx: int) -> Graph:
    """``graph`` with convolution ``name`` computing ``gy x gx`` output pixels per step and the max
    pool after it reading the phases (see the module docstring); a ValueError when the rewrite does
    not apply (:func:`pixel_splits` lists the ones that do)."""
    conv = next((lay for lay in graph.layers if lay.name == name), None)
    if not isinstance(conv, Conv2dLayer):
        raise ValueError(f"{name!r} is not a convolution of the graph")
    if conv.pixel_phases != (1, 1):
        raise ValueError(f"layer {conv.label} already computes {conv.pixel_phases} output pixels per step")
    pool = _pool_after(graph, conv)
    if pool is None or not _applies(conv, pool, gy, gx):
        raise ValueError(f"layer {conv.label}: {gy}x{gx} output pixels per step need a max pool without padding "
                         "whose kernel and stride the phases divide, read by nothing else")
    (kh, kw), (sh, sw) = conv.kernel, conv.stride
    top, left, bottom, right = conv.pads
    c_in, h, w = conv.in_shape
    _, oh, ow = conv.shape
    kh2, kw2 = kh + (gy - 1) * sh, kw + (gx - 1) * sw
    # the padding the last step's window needs (never more than the original's: its taps past the
    # original window have zero weights)
    bottom2 = max(0, (oh - 1) * sh + kh - h - top)
    right2 = max(0, (ow - 1) * sw + kw - w - left)
    stride2 = (gy * sh, gx * sw)
    pads2 = (top, left, bottom2, right2)
    if window_out_shape(h, w, (kh2, kw2), stride2, pads2) != (oh // gy, ow // gx):
        raise ValueError(f"layer {conv.label}: the {gy}x{gx} phases do not tile its {oh}x{ow} output")
    conv2 = replace(conv, shape=(conv.rows * gy * gx, oh // gy, ow // gx),
                    weights=_moved_weights(conv, gy, gx, kh2, kw2),
                    bias=np.repeat(np.asarray(conv.bias, np.int64), gy * gx), kernel=(kh2, kw2), stride=stride2,
                    pads=pads2, pixel_phases=(gy, gx))
    (pkh, pkw), (psh, psw) = pool.kernel, pool.stride
    pool2 = replace(pool, kernel=(pkh // gy, pkw // gx), stride=(psh // gy, psw // gx), channel_group=gy * gx)
    layers = tuple(conv2 if lay is conv else pool2 if lay is pool else lay for lay in graph.layers)
    return graph.replace_layers(layers, graph.outputs).verify()
