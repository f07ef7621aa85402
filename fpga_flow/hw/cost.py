"""PROVISIONAL stub (the calibrated model replaces it): resources of the Verilog library's blocks."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Cost", "act_buffer_cost", "dsp_slice", "mac_engine_cost", "pack_cost", "unpack_cost"]


@dataclass(frozen=True)
class Cost:
    lut: int = 0
    ff: int = 0
    dsp: int = 0
    bram36: float = 0.0
    uram: int = 0
    lutram: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.lut + other.lut, self.ff + other.ff, self.dsp + other.dsp, self.bram36 + other.bram36,
                    self.uram + other.uram, self.lutram + other.lutram)

    def times(self, k: int) -> Cost:
        return Cost(self.lut * k, self.ff * k, self.dsp * k, self.bram36 * k, self.uram * k, self.lutram * k)

    def as_dict(self) -> dict[str, int | float]:
        return {"lut": self.lut, "ff": self.ff, "dsp": self.dsp, "bram36": self.bram36, "uram": self.uram,
                "lutram": self.lutram}


def dsp_slice(family: str) -> str:
    return "DSP48E1" if family == "xc7" else "DSP48E2"


def act_buffer_cost(*, width: int, banks: int, addr_bits: int, read_ports: int, family: str) -> Cost:
    bits = width * (2 << addr_bits)
    lut = banks * read_ports * math.ceil(bits / 64)
    return Cost(lut=lut, ff=read_ports * width, lutram=lut)


def mac_engine_cost(*, lanes: int, entries: int, entry_bits: int, x_bits: int, x_signed: bool, w_bits: int,
                    w_signed: bool, weight_field_bits: int, codebook: bool, codebook_bits: int, bias_bits: int,
                    acc_bits: int, out_bits: int, in_addr_bits: int, in_bank_bits: int, out_addr_bits: int,
                    relu: bool, family: str, factored: bool = False, sum_bits: int = 0) -> Cost:
    rom_bits = entries * lanes * entry_bits
    bram = math.ceil(rom_bits / 36864) if rom_bits > 1024 else 0
    dsp = 0 if factored or min(x_bits, w_bits) <= 4 else lanes
    return Cost(lut=lanes * (acc_bits * 3 + 40), ff=lanes * (acc_bits * 2 + entry_bits), dsp=dsp, bram36=float(bram))


def unpack_cost(*, width: int, per_beat: int, beats: int, tdata_bits: int, addr_bits: int, family: str) -> Cost:
    return Cost(lut=30 + tdata_bits, ff=20 + 2 * tdata_bits)


def pack_cost(*, width: int, per_beat: int, beats: int, tdata_bits: int, addr_bits: int, bank_bits: int,
              beat_addr_bits: int, family: str) -> Cost:
    return Cost(lut=30 + tdata_bits, ff=20 + 2 * tdata_bits)
