"""Turn names from a model into legal, unique identifiers for C++ and Verilog alike.

Anything may arrive as an ONNX node name (``input``, ``out``, ``int``, ``"; system("x"); //``,
``../x``, unicode). Names are reduced to ``[A-Za-z0-9_]``, must start with a letter, avoid
every C++/Verilog/SystemVerilog keyword, the names the generated code itself uses, and
double underscores (reserved in C++), and are made unique by a numeric suffix.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["RESERVED", "NameTable", "sanitize"]

_CPP = """alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
char32_t class compl concept const consteval constexpr constinit const_cast continue co_await
co_return co_yield decltype default delete do double dynamic_cast else enum explicit export extern
false float for friend goto if inline int long mutable namespace new noexcept not not_eq nullptr
operator or or_eq private protected public register reinterpret_cast requires return short signed
sizeof static static_assert static_cast struct switch template this thread_local throw true try
typedef typeid typename union unsigned using virtual void volatile wchar_t while xor xor_eq
main std printf system exit abort include define pragma NULL assert"""
_VERILOG = """always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config
deassign default defparam design disable edge else end endcase endconfig endfunction endgenerate
endmodule endprimitive endspecify endtable endtask event for force forever fork function generate
genvar highz0 highz1 if ifnone incdir include initial inout input instance integer join large
liblist library localparam macromodule medium module nand negedge nmos nor noshowcancelled not
notif0 notif1 or output parameter pmos posedge primitive pull0 pull1 pulldown pullup
pulsestyle_onevent pulsestyle_ondetect rcmos real realtime reg release repeat rnmos rpmos rtran
rtranif0 rtranif1 scalared showcancelled signed small specify specparam strong0 strong1 supply0
supply1 table task time tran tranif0 tranif1 tri tri0 tri1 triand trior trireg unsigned use uwire
vectored wait wand weak0 weak1 while wire wor xnor xor logic bit byte int shortint longint
always_ff always_comb always_latch interface modport program class package endpackage import
export typedef enum struct union void return break continue string final unique priority"""
_OURS = """in_r out_r ap_clk ap_rst_n ap_start ap_done ap_idle ap_ready top myproject out in data
tmp acc i j k n w x y b idx tb hls ap_fixed ap_ufixed ap_int ap_uint ap_axiu ap_axis stream"""

#: Every identifier a sanitized name must avoid (lower-cased comparison).
RESERVED: frozenset[str] = frozenset(w.lower() for w in (_CPP + " " + _VERILOG + " " + _OURS).split())


def sanitize(name: str, prefix: str = "n") -> str:
    """A legal identifier derived from ``name`` (not yet unique; see :class:`NameTable`)."""
    s = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    s = re.sub(r"[^A-Za-z0-9_]+", "_", s)
    s = re.sub(r"_+", "_", s).strip("_")
    if not s or not s[0].isalpha():
        s = f"{prefix}_{s}" if s else prefix
    if s.lower() in RESERVED or s.lower().startswith(("ap_", "hls_", "xil_", "sc_")):
        s = f"{prefix}_{s}"
    return s[:48].rstrip("_") or prefix


class NameTable:
    """Assigns unique sanitized identifiers, deterministically in the order names arrive."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._taken = {t.lower() for t in taken}

    def add(self, name: str, prefix: str = "n") -> str:
        """A new identifier for ``name``, unique among all handed out so far."""
        base = sanitize(name, prefix)
        cand, k = base, 1
        while cand.lower() in self._taken:
            k += 1
            cand = f"{base}_{k}"
        self._taken.add(cand.lower())
        return cand
