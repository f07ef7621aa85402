"""How the HLS C++ backend spells IR fixed-point types: ``ap_fixed<W,I,Q,O>`` / ``ap_ufixed<...>``.

The IR's :class:`~fpga_flow.fixed.FixedType` is backend-neutral; this module is the one place
that writes Xilinx's ``ap_fixed`` spelling (two tables for the ``ap_q_mode`` / ``ap_o_mode``
names and one function). As ``ap_fixed`` itself does, the modes are left out when they are the
defaults (``AP_TRN``, ``AP_WRAP``) and written both otherwise.
"""

from __future__ import annotations

from fpga_flow.fixed import FixedType, Overflow, Rounding

__all__ = ["O_MODE", "Q_MODE", "cpp_type"]

#: ``ap_q_mode`` enumerator per rounding mode.
Q_MODE: dict[Rounding, str] = {
    Rounding.TRN: "AP_TRN",
    Rounding.TRN_ZERO: "AP_TRN_ZERO",
    Rounding.RND: "AP_RND",
    Rounding.RND_ZERO: "AP_RND_ZERO",
    Rounding.RND_MIN_INF: "AP_RND_MIN_INF",
    Rounding.RND_INF: "AP_RND_INF",
    Rounding.RND_CONV: "AP_RND_CONV",
}

#: ``ap_o_mode`` enumerator per overflow mode.
O_MODE: dict[Overflow, str] = {
    Overflow.WRAP: "AP_WRAP",
    Overflow.SAT: "AP_SAT",
    Overflow.SAT_ZERO: "AP_SAT_ZERO",
    Overflow.SAT_SYM: "AP_SAT_SYM",
}


def cpp_type(t: FixedType) -> str:
    """The C++ type of ``t``: ``ap_fixed<16,6>``, ``ap_ufixed<8,0,AP_RND_CONV,AP_SAT>``."""
    base = "ap_fixed" if t.signed else "ap_ufixed"
    if t.rounding is Rounding.TRN and t.overflow is Overflow.WRAP:
        return f"{base}<{t.width},{t.integer}>"
    return f"{base}<{t.width},{t.integer},{Q_MODE[t.rounding]},{O_MODE[t.overflow]}>"
