"""Bit-cost model of a MAC layer's weight storage (dense vs CSR vs codebook-CSR).

* dense:        ``n_out * n_in * W`` (zeros stored, what hls4ml does)
* CSR:          ``nnz * (W + C) + (n_out + 1) * P``
* codebook-CSR: ``nnz * (K + C) + (n_out + 1) * P + entries * W``

``W`` weight bits, ``C = ceil(log2 n_in)`` column-index bits, ``P = bitlen(nnz)`` row-pointer bits,
``K = ceil(log2 entries)`` code bits. The element widths are the ones the backends store; the
row bookkeeping differs: instead of row pointers the HLS and RTL kernels keep a 1-bit row-end
flag per nonzero, a lane and slot number per row, and zero padding that evens out the lanes.
The hardware plan's ``weight_bits`` (report section ``plan``) counts those generated arrays
exactly (4-5 % more than this model on a 90 %-sparse 784-300-100-10 layer stack); this model
chooses the format.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from fpga_flow.hw.plan import bits_for
from fpga_flow.ir import MacLayer

__all__ = ["StorageCost", "bits_for", "storage_cost"]


@dataclass(frozen=True)
class StorageCost:
    """Weight bits of one layer in each format, and the format that is smallest."""

    dense: int
    csr: int
    codebook: int | None  # None: the layer has more distinct nonzero values than a codebook holds
    codebook_entries: int | None
    col_bits: int
    ptr_bits: int
    code_bits: int | None

    @property
    def best(self) -> str:
        options = [("dense", self.dense), ("csr", self.csr)]
        if self.codebook is not None:
            options.append(("codebook_csr", self.codebook))
        return min(options, key=lambda kv: kv[1])[0]

    def bits(self, kind: str) -> int:
        return {"dense": self.dense, "csr": self.csr, "codebook_csr": self.codebook}[kind]  # type: ignore[return-value]

    def as_dict(self) -> dict:
        return {**asdict(self), "best": self.best}


#: Largest codebook the storage pass builds from the distinct nonzero weights by itself.
MAX_AUTO_CODEBOOK = 256


def storage_cost(layer: MacLayer) -> StorageCost:
    """Bits of every storage format for ``layer``'s current weights (a convolution's rows are its
    output channels, ``n_in`` its ``C_in/groups * kh * kw`` window)."""
    w = layer.weights
    nnz = w.nnz
    wb = layer.weight_type.width
    n_out, n_in = layer.rows, layer.row_length
    col = bits_for(n_in)
    ptr = max(1, int(nnz).bit_length())
    dense = n_out * n_in * wb
    csr = nnz * (wb + col) + (n_out + 1) * ptr
    if hasattr(w, "codebook"):
        entries: int | None = int(w.codebook.size)
    else:
        vals = w.values if w.kind != "dense" else w.values[w.values != 0]
        n_distinct = int(np.unique(vals).size)
        entries = n_distinct if 0 < n_distinct <= MAX_AUTO_CODEBOOK else None
    if entries is None:
        return StorageCost(dense, csr, None, None, col, ptr, None)
    kb = bits_for(entries)
    cb = nnz * (kb + col) + (n_out + 1) * ptr + entries * wb
    return StorageCost(dense, csr, cb, entries, col, ptr, kb)
