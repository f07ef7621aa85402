"""Canonical Huffman coding round-trips and is optimal; relative column indices restore the columns."""

from __future__ import annotations

import numpy as np
import pytest

from fpga_flow.compress.huffman import absolute_columns, decode, encode, huffman_code, relative_columns
from fpga_flow.ir import csr_from_dense


def _entropy_bits(s: np.ndarray) -> float:
    _, c = np.unique(s, return_counts=True)
    p = c / c.sum()
    return float(-(c * np.log2(p)).sum())


STREAMS = {
    "geometric": np.random.default_rng(0).geometric(0.1, size=5000) - 1,
    "uniform32": np.random.default_rng(1).integers(0, 32, size=3000),
    "skewed": np.random.default_rng(2).choice(8, size=2000, p=[0.6, 0.2, 0.1, 0.05, 0.02, 0.01, 0.01, 0.01]),
    "single": np.full(17, 5),
    "two": np.array([3, 900, 3, 3]),
    "empty": np.zeros(0, dtype=np.int64),
}


@pytest.mark.parametrize("name", STREAMS)
def test_round_trip_and_optimal_length(name):
    s = STREAMS[name]
    code = huffman_code(s)
    data, nbits = encode(s, code)
    assert len(data) == (nbits + 7) // 8
    np.testing.assert_array_equal(decode(data, nbits, code, count=s.size), s)
    assert nbits == code.payload_bits(s)
    if np.unique(s).size > 1:
        h = _entropy_bits(s)
        assert h <= nbits < h + s.size  # within one bit per symbol of the entropy
    # prefix-free
    words = [format(code.codes[k], f"0{code.lengths[k]}b") for k in code.lengths]
    assert not any(a != b and b.startswith(a) for a in words for b in words)


def test_canonical_code_is_described_by_its_lengths():
    s = STREAMS["skewed"]
    code = huffman_code(s)
    assert code.lengths[0] == 1 and code.codes[0] == 0  # the most frequent symbol gets the 1-bit word 0
    assert code.table_bits(3) == len(code.lengths) * (3 + max(code.lengths.values()).bit_length())


def test_decode_rejects_a_truncated_stream():
    s = STREAMS["uniform32"][:50]
    code = huffman_code(s)
    data, nbits = encode(s, code)
    with pytest.raises(ValueError):
        decode(data, nbits - 1, code)
    with pytest.raises(ValueError, match="does not know"):
        encode(np.array([99]), code)


def test_relative_columns_round_trip_on_csr():
    rng = np.random.default_rng(3)
    w = np.where(rng.random((40, 300)) < 0.08, rng.integers(1, 9, (40, 300)), 0)
    w[5] = 0  # an empty row
    w[7, :] = 1  # a full row
    csr = csr_from_dense(w)
    gaps = relative_columns(csr.row_ptr, csr.col_idx)
    assert gaps.min() >= 0 and gaps.size == csr.nnz
    assert np.all(gaps[csr.row_ptr[7] : csr.row_ptr[8]] == 0)
    np.testing.assert_array_equal(absolute_columns(csr.row_ptr, gaps), csr.col_idx)
    # Huffman of the gaps, then back to the exact CSR structure
    code = huffman_code(gaps)
    data, nbits = encode(gaps, code)
    back = absolute_columns(csr.row_ptr, decode(data, nbits, code))
    np.testing.assert_array_equal(back, csr.col_idx)
