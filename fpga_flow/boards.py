"""Boards as data: one JSON file per board in ``boards/``; adding a board needs no code."""

from __future__ import annotations

import json
from dataclasses import dataclass

from fpga_flow.errors import FlowError
from fpga_flow.resources import boards_dir

__all__ = ["Board", "list_boards", "load_board"]


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
        return round(1000.0 / self.clock_mhz, 3)

    @property
    def has_ps(self) -> bool:
        return self.ps is not None


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
