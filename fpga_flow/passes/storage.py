"""Choose each MAC (dense or convolution) layer's weight storage (dense, CSR or codebook-CSR) by bit cost.

The cost model is :func:`fpga_flow.analysis.storage.storage_cost`; the report shows its
numbers. A codebook is built from the distinct nonzero weights when none came with the model
and one is cheaper (at most 256 entries). ``force`` overrides the choice for every layer.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from fpga_flow.analysis.storage import MAX_AUTO_CODEBOOK, storage_cost
from fpga_flow.errors import UnsupportedError
from fpga_flow.ir import CodebookCsrWeights, DenseWeights, Graph, Layer, MacLayer, csr_from_dense

__all__ = ["STORAGE_KINDS", "choose_storage", "convert_storage"]

M = TypeVar("M", bound=MacLayer)

STORAGE_KINDS = ("auto", "dense", "csr", "codebook_csr")


def convert_storage(layer: M, kind: str) -> M:
    """The same layer with its weights stored as ``kind`` (values unchanged)."""
    if kind == layer.weights.kind:
        return layer
    dense = layer.weights.to_dense()
    if kind == "dense":
        return layer.with_weights(DenseWeights(dense))
    csr = csr_from_dense(dense)
    if kind == "csr":
        return layer.with_weights(csr)
    if kind == "codebook_csr":
        if isinstance(layer.weights, CodebookCsrWeights):
            return layer
        book, codes = np.unique(csr.values, return_inverse=True)
        if book.size == 0:
            return layer.with_weights(csr)
        return layer.with_weights(CodebookCsrWeights(csr.row_ptr, csr.col_idx, codes, book, csr.n_cols))
    raise ValueError(f"unknown storage kind {kind!r}; known: {', '.join(STORAGE_KINDS)}")


def choose_storage(graph: Graph, force: str = "auto") -> Graph:
    """Return a graph where every MAC layer uses the cheapest storage (or ``force``)."""
    if force not in STORAGE_KINDS:
        raise ValueError(f"unknown storage kind {force!r}; known: {', '.join(STORAGE_KINDS)}")
    layers: list[Layer] = []
    for lay in graph.layers:
        if isinstance(lay, MacLayer):
            kind = storage_cost(lay).best if force == "auto" else force
            if kind == "codebook_csr" and storage_cost(lay).codebook is None and force != "auto":
                raise UnsupportedError(
                    f"layer {lay.label}: --storage codebook_csr needs at most {MAX_AUTO_CODEBOOK} distinct nonzero "
                    f"weights, the layer has {np.unique(lay.weights.to_dense()).size - 1}; share its weights "
                    "(fpga-flow compress, or a Gather(codebook, indices) in the model) or choose --storage csr"
                )
            lay = convert_storage(lay, kind)
        layers.append(lay)
    return graph.replace_layers(layers).verify()


