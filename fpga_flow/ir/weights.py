"""Weight storage formats of a dense (fully-connected) layer.

Rows are output neurons, columns input features: ``W[out, in]``. All values are integer
mantissas of the layer's ``weight_type``; pruned weights are absent (CSR) or exactly 0 (dense).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

__all__ = ["CodebookCsrWeights", "CsrWeights", "DenseWeights", "WeightStorage", "csr_from_dense"]


def _frozen(a: np.ndarray, dtype: type = np.int64) -> np.ndarray:
    out: np.ndarray = np.array(a, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class DenseWeights:
    """All ``n_out x n_in`` mantissas, zeros included."""

    values: np.ndarray

    kind = "dense"

    def __post_init__(self) -> None:
        if np.asarray(self.values).ndim != 2:
            raise ValueError("DenseWeights.values must be 2-D (n_out, n_in)")
        object.__setattr__(self, "values", _frozen(self.values))

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.values.shape[0]), int(self.values.shape[1]))

    @property
    def nnz(self) -> int:
        return int(np.count_nonzero(self.values))

    def to_dense(self) -> np.ndarray:
        return self.values

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """Integer sparse matrix of the same values (for the reference executor)."""
        return sp.csr_matrix(self.values)


@dataclass(frozen=True, eq=False)
class CsrWeights:
    """Compressed sparse rows: ``row_ptr[n_out+1]``, ``col_idx[nnz]``, ``values[nnz]``."""

    row_ptr: np.ndarray
    col_idx: np.ndarray
    values: np.ndarray
    n_cols: int

    kind = "csr"

    def __post_init__(self) -> None:
        object.__setattr__(self, "row_ptr", _frozen(self.row_ptr))
        object.__setattr__(self, "col_idx", _frozen(self.col_idx))
        object.__setattr__(self, "values", _frozen(self.values))
        _check_csr(self.row_ptr, self.col_idx, self.n_cols, self.values.size)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.row_ptr.size - 1), int(self.n_cols))

    @property
    def nnz(self) -> int:
        return int(self.col_idx.size)

    def row_values(self) -> np.ndarray:
        return self.values

    def to_dense(self) -> np.ndarray:
        return self.matrix.toarray()

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.values, self.col_idx, self.row_ptr), shape=self.shape)


@dataclass(frozen=True, eq=False)
class CodebookCsrWeights:
    """CSR whose nonzeros are indices into a small codebook of mantissas (weight sharing)."""

    row_ptr: np.ndarray
    col_idx: np.ndarray
    codes: np.ndarray
    codebook: np.ndarray
    n_cols: int

    kind = "codebook_csr"

    def __post_init__(self) -> None:
        object.__setattr__(self, "row_ptr", _frozen(self.row_ptr))
        object.__setattr__(self, "col_idx", _frozen(self.col_idx))
        object.__setattr__(self, "codes", _frozen(self.codes))
        object.__setattr__(self, "codebook", _frozen(self.codebook))
        _check_csr(self.row_ptr, self.col_idx, self.n_cols, self.codes.size)
        if self.codebook.ndim != 1 or self.codebook.size == 0:
            raise ValueError("codebook must be a non-empty 1-D array")
        if self.codes.size and (self.codes.min() < 0 or self.codes.max() >= self.codebook.size):
            raise ValueError("codebook index out of range")

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.row_ptr.size - 1), int(self.n_cols))

    @property
    def nnz(self) -> int:
        return int(self.col_idx.size)

    @property
    def values(self) -> np.ndarray:
        """Decoded mantissa per nonzero."""
        return self.codebook[self.codes]

    def to_dense(self) -> np.ndarray:
        return self.matrix.toarray()

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.values, self.col_idx, self.row_ptr), shape=self.shape)


WeightStorage = DenseWeights | CsrWeights | CodebookCsrWeights


def _check_csr(row_ptr: np.ndarray, col_idx: np.ndarray, n_cols: int, n_vals: int) -> None:
    if row_ptr.ndim != 1 or row_ptr.size < 1 or row_ptr[0] != 0:
        raise ValueError("row_ptr must be 1-D and start at 0")
    if np.any(np.diff(row_ptr) < 0) or row_ptr[-1] != col_idx.size or col_idx.size != n_vals:
        raise ValueError("row_ptr must be non-decreasing and end at nnz; col_idx/values must have nnz entries")
    if col_idx.size and (col_idx.min() < 0 or col_idx.max() >= n_cols):
        raise ValueError("column index out of range")


def csr_from_dense(w: np.ndarray) -> CsrWeights:
    """CSR of the nonzeros of ``w`` (row-major, columns ascending)."""
    w = np.asarray(w, dtype=np.int64)
    rows, cols = np.nonzero(w)
    row_ptr = np.zeros(w.shape[0] + 1, dtype=np.int64)
    np.add.at(row_ptr, rows + 1, 1)
    return CsrWeights(np.cumsum(row_ptr), cols, w[rows, cols], w.shape[1])
