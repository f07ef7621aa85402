"""AXI4-Stream packing of fixed-point vectors (contract 4), shared by every producer/consumer.

Elements are two's-complement mantissas of ``width`` bits, packed little-end first (element 0
in the lowest bits), ``per_beat`` elements per beat, the beat padded with zeros up to
``tdata_bits`` (a multiple of 8). The last beat of a sample may be partly filled and carries
TLAST. The testbench data writer, the cocotb testbench and the PYNQ driver all use this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

__all__ = ["StreamFormat", "stream_format"]

#: Default widest TDATA: 64 bits (a Zynq HP port / AXI DMA friendly width).
DEFAULT_MAX_TDATA = 64


@dataclass(frozen=True)
class StreamFormat:
    """How ``n_elems`` elements of ``width`` bits travel on one AXI4-Stream."""

    width: int
    signed: bool
    per_beat: int
    n_elems: int

    @property
    def tdata_bits(self) -> int:
        return ((self.per_beat * self.width + 7) // 8) * 8

    @property
    def beats(self) -> int:
        """Beats per sample (TLAST on the last)."""
        return -(-self.n_elems // self.per_beat)

    def pack(self, mantissas: np.ndarray) -> list[list[int]]:
        """``(batch, n_elems)`` mantissas -> per sample, a list of TDATA integers (beats)."""
        m = np.asarray(mantissas, dtype=np.int64).reshape(-1, self.n_elems)
        mask = (1 << self.width) - 1
        out: list[list[int]] = []
        for row in m:
            beats = []
            for b in range(self.beats):
                word = 0
                for k, v in enumerate(row[b * self.per_beat : (b + 1) * self.per_beat]):
                    word |= (int(v) & mask) << (k * self.width)
                beats.append(word)
            out.append(beats)
        return out

    def unpack(self, beats: list[list[int]] | list[int]) -> np.ndarray:
        """Inverse of :meth:`pack`: per sample beats (or one flat list of beats) -> mantissas."""
        flat: list[list[int]]
        if beats and isinstance(beats[0], list | tuple):
            flat = [[int(v) for v in cast(Sequence[int], b)] for b in beats]
        else:
            seq = [int(cast(int, b)) for b in beats]
            if len(seq) % self.beats:
                raise ValueError(f"{len(seq)} beats is not a multiple of {self.beats} beats per sample")
            flat = [seq[i : i + self.beats] for i in range(0, len(seq), self.beats)]
        mask = (1 << self.width) - 1
        sign = 1 << (self.width - 1)
        res = np.zeros((len(flat), self.n_elems), dtype=np.int64)
        for s, sample in enumerate(flat):
            if len(sample) != self.beats:
                raise ValueError(f"sample {s}: got {len(sample)} beats, expected {self.beats}")
            for i in range(self.n_elems):
                v = (int(sample[i // self.per_beat]) >> ((i % self.per_beat) * self.width)) & mask
                if self.signed and v & sign:
                    v -= 1 << self.width
                res[s, i] = v
        return res


def stream_format(width: int, signed: bool, n_elems: int, max_tdata: int = DEFAULT_MAX_TDATA) -> StreamFormat:
    """As many elements per beat as fit in ``max_tdata`` bits (at least one)."""
    per_beat = max(1, min(n_elems, max_tdata // width))
    return StreamFormat(width, signed, per_beat, n_elems)
