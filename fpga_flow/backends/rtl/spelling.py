"""How the Verilog backend spells IR fixed-point types and modes (one table, one function)."""

from __future__ import annotations

from dataclasses import dataclass

from fpga_flow.fixed import FixedType, Overflow, Rounding

__all__ = ["OVF_CODE", "RND_CODE", "VerilogFixed", "clog2", "verilog_fixed"]

#: ``ff_requant`` RND parameter per rounding mode.
RND_CODE: dict[Rounding, int] = {
    Rounding.TRN: 0,
    Rounding.TRN_ZERO: 1,
    Rounding.RND: 2,
    Rounding.RND_ZERO: 3,
    Rounding.RND_MIN_INF: 4,
    Rounding.RND_INF: 5,
    Rounding.RND_CONV: 6,
}

#: ``ff_requant`` OVF parameter per overflow mode.
OVF_CODE: dict[Overflow, int] = {
    Overflow.WRAP: 0,
    Overflow.SAT: 1,
    Overflow.SAT_ZERO: 2,
    Overflow.SAT_SYM: 3,
}


@dataclass(frozen=True)
class VerilogFixed:
    """A fixed-point type as Verilog sees it: a ``width``-bit vector, ``signed`` or not, with the
    binary point ``frac`` bits above the LSB (``frac`` may be negative or exceed ``width``)."""

    width: int
    signed: bool
    frac: int

    @property
    def signed_param(self) -> int:
        return 1 if self.signed else 0

    def comment(self) -> str:
        sign = "signed" if self.signed else "unsigned"
        return f"{sign} [{self.width - 1}:0], binary point {self.frac}"


def verilog_fixed(t: FixedType) -> VerilogFixed:
    """The Verilog spelling of an IR :class:`~fpga_flow.fixed.FixedType`."""
    return VerilogFixed(t.width, t.signed, t.frac)


def clog2(n: int) -> int:
    """Bits to address ``n`` items, at least 1 (a Verilog vector needs one bit)."""
    return max(1, (int(n) - 1).bit_length())
