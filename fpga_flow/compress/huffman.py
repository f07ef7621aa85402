"""Canonical Huffman coding of integer symbol streams, and relative (gap) column indices.

Deep Compression's last stage (Han, Mao, Dally 2015, section 4) Huffman-codes the quantized weights
(here: the codebook indices of the nonzeros) and the sparse index structure (here: the relative
column index of every nonzero in its CSR row). This module does the real thing, not only the bit
count: :func:`encode` packs a stream into bytes and :func:`decode` restores it exactly.

The code is *canonical*: it is fully described by the code length of each symbol, so its table
costs ``n_symbols * (symbol_bits + length_bits)`` bits (:meth:`HuffmanCode.table_bits`), which the
compression report adds to the payload. No torch here.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

__all__ = [
    "HuffmanCode",
    "absolute_columns",
    "decode",
    "encode",
    "huffman_code",
    "relative_columns",
]


@dataclass(frozen=True)
class HuffmanCode:
    """A canonical prefix code: ``lengths[s]`` bits for symbol ``s``; ``codes[s]`` its bit pattern."""

    lengths: dict[int, int]
    codes: dict[int, int]

    @property
    def symbols(self) -> list[int]:
        """Symbols in canonical order (by code length, then value)."""
        return sorted(self.lengths, key=lambda s: (self.lengths[s], s))

    def payload_bits(self, stream: np.ndarray) -> int:
        """Bits of the coded ``stream`` (without the table)."""
        vals, counts = np.unique(np.asarray(stream, dtype=np.int64), return_counts=True)
        return int(sum(self.lengths[int(v)] * int(c) for v, c in zip(vals, counts, strict=True)))

    def table_bits(self, symbol_bits: int | None = None) -> int:
        """Bits to transmit the code: per symbol its value (``symbol_bits``, default: enough for the
        largest symbol) and its length (enough bits for the longest code length)."""
        if not self.lengths:
            return 0
        sb = symbol_bits if symbol_bits is not None else max(1, max(self.lengths).bit_length())
        lb = max(1, max(self.lengths.values()).bit_length())
        return len(self.lengths) * (sb + lb)


def huffman_code(stream: np.ndarray) -> HuffmanCode:
    """Optimal canonical prefix code for the symbol frequencies of ``stream`` (non-negative ints).

    A stream with a single distinct symbol gets a 1-bit code (so that lengths stay decodable).
    """
    s = np.asarray(stream, dtype=np.int64).ravel()
    if s.size and s.min() < 0:
        raise ValueError("Huffman symbols must be non-negative integers")
    vals, counts = np.unique(s, return_counts=True)
    if vals.size == 0:
        return HuffmanCode({}, {})
    if vals.size == 1:
        lengths = {int(vals[0]): 1}
    else:
        # heap of (weight, tiebreak, symbols in subtree); every merge deepens its symbols by one
        depth = {int(v): 0 for v in vals}
        heap = [(int(c), i, [int(v)]) for i, (v, c) in enumerate(zip(vals, counts, strict=True))]
        heapq.heapify(heap)
        tie = len(heap)
        while len(heap) > 1:
            wa, _, sa = heapq.heappop(heap)
            wb, _, sb = heapq.heappop(heap)
            for sym in sa + sb:
                depth[sym] += 1
            heapq.heappush(heap, (wa + wb, tie, sa + sb))
            tie += 1
        lengths = depth
    return HuffmanCode(lengths, _canonical_codes(lengths))


def _canonical_codes(lengths: dict[int, int]) -> dict[int, int]:
    codes: dict[int, int] = {}
    code = 0
    prev_len = 0
    for sym in sorted(lengths, key=lambda s: (lengths[s], s)):
        ln = lengths[sym]
        code <<= ln - prev_len
        codes[sym] = code
        code += 1
        prev_len = ln
    return codes


def encode(stream: np.ndarray, code: HuffmanCode) -> tuple[bytes, int]:
    """Pack ``stream`` with ``code``: returns ``(bytes, number of valid bits)`` (MSB first)."""
    s = np.asarray(stream, dtype=np.int64).ravel()
    if s.size == 0:
        return b"", 0
    syms = np.array(sorted(code.lengths), dtype=np.int64)
    pos = np.searchsorted(syms, s)
    if np.any(pos >= syms.size) or np.any(syms[np.minimum(pos, syms.size - 1)] != s):
        raise ValueError("stream holds a symbol the code does not know")
    max_len = max(code.lengths.values())
    # bit matrix: row = symbol, columns = its code bits left-aligned; then keep each row's prefix
    lens = np.array([code.lengths[int(v)] for v in syms], dtype=np.int64)
    pats = np.array([code.codes[int(v)] for v in syms], dtype=np.int64)
    shifts = np.arange(max_len - 1, -1, -1, dtype=np.int64)
    bits = ((pats[:, None] << (max_len - lens[:, None])) >> shifts[None, :]) & 1
    keep = np.arange(max_len)[None, :] < lens[:, None]
    sel_bits = bits[pos][keep[pos]]  # row-major: symbol after symbol, each code's bits in order
    nbits = int(sel_bits.size)
    return np.packbits(sel_bits.astype(np.uint8)).tobytes(), nbits


def decode(data: bytes, nbits: int, code: HuffmanCode, count: int | None = None) -> np.ndarray:
    """Inverse of :func:`encode`: the symbols in the first ``nbits`` bits of ``data``.

    Canonical decoding: per code length, the first code and the symbols of that length.
    ``count`` (optional) checks the number of decoded symbols.
    """
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[:nbits].tolist()
    if nbits and not code.lengths:
        raise ValueError("cannot decode bits with an empty code")
    by_len: dict[int, tuple[int, list[int]]] = {}
    for sym in code.symbols:
        ln = code.lengths[sym]
        if ln not in by_len:
            by_len[ln] = (code.codes[sym], [])
        by_len[ln][1].append(sym)
    max_len = max(by_len) if by_len else 0
    out: list[int] = []
    acc = 0
    ln = 0
    for b in bits:
        acc = (acc << 1) | b
        ln += 1
        entry = by_len.get(ln)
        if entry is not None:
            first, syms = entry
            if 0 <= acc - first < len(syms):
                out.append(syms[acc - first])
                acc = 0
                ln = 0
                continue
        if ln > max_len:
            raise ValueError("invalid Huffman bit stream")
    if ln != 0:
        raise ValueError("Huffman bit stream ends inside a code word")
    res = np.array(out, dtype=np.int64)
    if count is not None and res.size != count:
        raise ValueError(f"decoded {res.size} symbols, expected {count}")
    return res


def relative_columns(row_ptr: np.ndarray, col_idx: np.ndarray) -> np.ndarray:
    """Relative column index of each CSR nonzero: the number of zeros skipped since the previous
    nonzero of the same row (``col - previous col - 1``, the first one counting from column 0)."""
    row_ptr = np.asarray(row_ptr, dtype=np.int64)
    col_idx = np.asarray(col_idx, dtype=np.int64)
    prev = np.empty_like(col_idx)
    if col_idx.size:
        prev[1:] = col_idx[:-1]
        starts = row_ptr[:-1][np.diff(row_ptr) > 0]
        prev[starts] = -1
    gaps = col_idx - prev - 1
    if np.any(gaps < 0):
        raise ValueError("column indices must be strictly increasing within each row")
    return gaps


def absolute_columns(row_ptr: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """Inverse of :func:`relative_columns`."""
    row_ptr = np.asarray(row_ptr, dtype=np.int64)
    steps = np.asarray(gaps, dtype=np.int64) + 1
    csum = np.cumsum(steps)
    # subtract, per row, the cumulative sum up to the row's start
    n_per_row = np.diff(row_ptr)
    base = np.concatenate([[0], csum])[row_ptr[:-1]]
    return csum - np.repeat(base, n_per_row) - 1
