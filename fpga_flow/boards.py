"""Boards as data: one JSON file per board in ``boards/``; adding a board needs no code.

Facts derived from a board's data (its DSP slice, its yosys ``synth_xilinx`` family, whether it
has a processing system we build a block design for) are properties of :class:`Board`, so every
stage asks the board instead of keeping its own table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from fpga_flow.errors import FlowError
from fpga_flow.resources import boards_dir

__all__ = ["FAMILY_DSP", "PS_KINDS", "Board", "list_boards", "load_board", "yosys_family_of_part"]

#: Processing systems we build a block design (PS + AXI DMA + the kernel) for.
PS_KINDS = ("zynq7", "zynqmp")

#: Board family -> DSP slice type: DSP48E1 on 7-series / Zynq-7000, DSP48E2 on UltraScale(+) and
#: Zynq UltraScale+ (unknown families get the narrower, more conservative DSP48E1).
FAMILY_DSP: dict[str, str] = {
    "zynq7": "DSP48E1", "artix7": "DSP48E1", "kintex7": "DSP48E1", "virtex7": "DSP48E1", "spartan7": "DSP48E1",
    "zynqmp": "DSP48E2", "alveo": "DSP48E2", "kintexu": "DSP48E2", "virtexu": "DSP48E2",
    "kintexuplus": "DSP48E2", "virtexuplus": "DSP48E2", "artixuplus": "DSP48E2",
}  # fmt: skip


def yosys_family_of_part(part: str) -> str:
    """The yosys ``synth_xilinx -family`` of an FPGA part name.

    ``xc7*`` (7 series and Zynq-7000) -> ``xc7``; Zynq UltraScale+ (``xczu*``), Kria (``xck26``),
    Alveo (``xcu2*``, ``xcu5*``) and ``xcvu*p``/``xcku*p`` -> ``xcup``; other ``xcvu``/``xcku``
    (UltraScale) -> ``xcu``. Any other part is a :class:`~fpga_flow.errors.FlowError`.
    """
    p = part.lower()
    if p.startswith("xc7"):
        return "xc7"
    if p.startswith(("xczu", "xck2")) or re.match(r"xcu\d", p):
        return "xcup"
    m = re.match(r"xc(vu|ku)(\d+)(p?)", p)
    if m:
        return "xcup" if m.group(3) else "xcu"
    raise FlowError(f"no yosys synth_xilinx family for part '{part}' (supported: xc7*, xczu*, xck26, xcu*, xcvu*, "
                    "xcku*)")


@dataclass(frozen=True)
class Board:
    """A target board: FPGA part, default clock and the device's resource counts."""

    name: str
    part: str
    clock_mhz: float
    lut: int
    ff: int
    dsp: int
    bram36: int
    uram: int
    family: str
    ps: str | None
    vendor: str
    description: str

    @property
    def clock_period_ns(self) -> float:
        """The default clock period in ns (rounded to ps)."""
        return round(1000.0 / self.clock_mhz, 3)

    @property
    def has_ps(self) -> bool:
        """Whether the board has a processing system we build a block design for (``ps`` in :data:`PS_KINDS`)."""
        return self.ps in PS_KINDS

    @property
    def dsp_slice(self) -> str:
        """The DSP slice type of the device (``"DSP48E1"`` or ``"DSP48E2"``, see :data:`FAMILY_DSP`)."""
        return FAMILY_DSP.get(self.family, "DSP48E1")

    @property
    def yosys_family(self) -> str:
        """The yosys ``synth_xilinx -family`` of the board's part (:func:`yosys_family_of_part`)."""
        return yosys_family_of_part(self.part)


def list_boards() -> list[Board]:
    """Every known board, sorted by name."""
    return [load_board(p.stem) for p in sorted(boards_dir().glob("*.json"))]


def load_board(name: str) -> Board:
    """The board called ``name``; an unknown name is a :class:`FlowError` listing the known ones."""
    path = boards_dir() / f"{name}.json"
    if not path.is_file() or "/" in name or "\\" in name:
        known = ", ".join(sorted(p.stem for p in boards_dir().glob("*.json")))
        raise FlowError(f"unknown board '{name}'; known boards: {known} (add one as boards/<name>.json)")
    data = json.loads(path.read_text())
    return Board(**data)
