"""Logic synthesis of the generated Verilog with yosys (``synth_xilinx``): measured resources.

:func:`run_synth` runs, in ``OUT/rtl`` (so the ``$readmemh`` ROM files are found by their
relative names)::

    read_verilog -defer <sources.f>
    synth_xilinx -family <xc7|xcup|xcu> -top fpga_flow_top -flatten -noiopad -noclkbuf
    tee -q -o OUT/synth/stat.json stat -json

``-defer`` elaborates each module only with the parameters the top gives it (the library's
default ``ROM_FILE`` names do not exist); ``-flatten`` gives one cell list for the whole design
(and lets yosys optimize across module boundaries, as Vivado does by default); ``-noiopad`` and
``-noclkbuf`` synthesize the kernel out of context, as an IP inside a block design, so no I/O
buffers are counted. The script is written to ``OUT/synth/synth.ys`` and the log to
``OUT/synth/yosys.log``. Yosys is deterministic: same design, same counts.

Cells are counted the way Vivado's utilization report does (:func:`count_cells`):

* LUT: ``LUT1``..``LUT6``, ``LUT6_2`` (one physical LUT with two outputs) and ``INV`` (a LUT1 in
  Vivado) are logic LUTs; distributed RAM (``RAM32M`` = 4 LUTs, ``RAM64X1D`` = 2, ...) and shift
  registers (``SRL16E``/``SRLC32E`` = 1 LUT each) add their LUTs ("LUT as memory").
* FF: every ``FD*`` cell (``FDRE``, ``FDSE``, ``FDCE``, ``FDPE``); latches (``LD*``) apart.
* DSP: ``DSP48E1`` / ``DSP48E2``.
* BRAM36: ``RAMB36E*`` plus half of each ``RAMB18E*`` (the fit report's unit).
* URAM: ``URAM288`` (only with ``-uram``, never used here).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fpga_flow.boards import Board, yosys_family_of_part
from fpga_flow.errors import FlowError

__all__ = [
    "SYNTH_DIR",
    "SynthResult",
    "count_cells",
    "find_yosys",
    "parse_stat_json",
    "rtl_sources",
    "run_synth",
    "yosys_family",
    "yosys_version",
]

#: Output folder, relative to the project.
SYNTH_DIR = "synth"
INSTALL_HINT = "install it with 'apt-get install yosys' (or run 'make setup')"

#: LUTs taken by each distributed-RAM primitive (Vivado "LUT as Memory").
LUTRAM_LUTS: dict[str, int] = {
    "RAM16X1S": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4, "RAM512X1S": 8,
    "RAM16X1D": 2, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1D": 8,
    "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8, "RAM32X16DR8": 8, "RAM64X8SW": 8,
}
SRL_CELLS = ("SRL16", "SRL16E", "SRLC16E", "SRLC32E")
LOGIC_LUTS = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "LUT6_2", "INV")
DSP_CELLS = ("DSP48E1", "DSP48E2", "DSP48A1", "DSP48")
#: Cells that take no countable resource (carry chains and wide muxes sit in the slices' LUT sites'
#: neighbours; buffers are absent with -noiopad -noclkbuf).
_OTHER_KNOWN = ("CARRY4", "CARRY8", "MUXF7", "MUXF8", "MUXF9", "BUFG", "IBUF", "OBUF", "GND", "VCC")


@dataclass(frozen=True)
class SynthResult:
    """Outcome of :func:`run_synth`."""

    tool: str  # "Yosys 0.23 (git sha1 ...)"
    family: str  # synth_xilinx -family
    top: str
    counts: dict[str, Any]  # count_cells(): lut, ff, dsp, bram36, ...
    cells: dict[str, int]  # every cell type and its count
    seconds: float
    log: Path
    script: Path

    def section(self, out_dir: Path) -> dict[str, Any]:
        """The report's ``"synth"`` section."""
        return {
            "tool": self.tool, "family": self.family, "top": self.top, **self.counts,
            "seconds": round(self.seconds, 1), "log": self.log.relative_to(out_dir).as_posix(),
            "cells": dict(sorted(self.cells.items())),
        }


def find_yosys(path: str | None = None) -> str:
    """The yosys executable (``path`` or ``yosys`` on PATH); a FlowError saying how to install it."""
    if path is not None:
        p = Path(path)
        if p.is_file():
            return str(p)
        found = shutil.which(path)
        if found is None:
            raise FlowError(f"yosys not found at {path}; {INSTALL_HINT}")
        return found
    found = shutil.which("yosys")
    if found is None:
        raise FlowError(f"yosys not found on PATH; {INSTALL_HINT}")
    return found


def yosys_version(exe: str) -> str:
    """``Yosys 0.23 (git sha1 ...)``."""
    r = subprocess.run([exe, "-V"], capture_output=True, text=True, check=False)
    text = (r.stdout or r.stderr).strip()
    if r.returncode != 0 or not text:
        raise FlowError(f"{exe} -V failed (exit status {r.returncode}); is it a working yosys? {INSTALL_HINT}")
    return text.splitlines()[0]


def yosys_family(part: str) -> str:
    """The ``synth_xilinx -family`` of an FPGA part name (:func:`fpga_flow.boards.yosys_family_of_part`;
    for a board, :attr:`Board.yosys_family <fpga_flow.boards.Board.yosys_family>`)."""
    return yosys_family_of_part(part)


def rtl_sources(rtl_dir: Path) -> list[str]:
    """The Verilog sources of ``rtl_dir``, in ``sources.f`` order (names relative to ``rtl_dir``)."""
    flist = rtl_dir / "sources.f"
    if not flist.is_file():
        raise FlowError(f"{rtl_dir} has no sources.f; rebuild the project with 'fpga-flow build'")
    names = [ln.strip() for ln in flist.read_text().splitlines() if ln.strip()]
    missing = [n for n in names if not (rtl_dir / n).is_file()]
    if missing:
        raise FlowError(f"{rtl_dir}: sources.f lists missing file(s) {', '.join(missing)}; rebuild the project")
    return names


def count_cells(cells: Mapping[str, int]) -> dict[str, Any]:
    """Resource counts (Vivado's categories, see the module docstring) from yosys cell counts."""
    def total(names: tuple[str, ...] | list[str]) -> int:
        return int(sum(int(cells.get(n, 0)) for n in names))

    lut_logic = total(LOGIC_LUTS)
    lutram = int(sum(int(n) * LUTRAM_LUTS[c] for c, n in cells.items() if c in LUTRAM_LUTS))
    srl = total(SRL_CELLS)
    ff = int(sum(int(n) for c, n in cells.items() if c.startswith("FD")))
    latch = int(sum(int(n) for c, n in cells.items() if c.startswith("LD")))
    ramb36 = int(sum(int(n) for c, n in cells.items() if c.startswith(("RAMB36", "FIFO36"))))
    ramb18 = int(sum(int(n) for c, n in cells.items() if c.startswith(("RAMB18", "FIFO18"))))
    bram36 = ramb36 + 0.5 * ramb18
    return {
        "lut": lut_logic + lutram + srl,
        "lut_logic": lut_logic,
        "lutram": lutram,
        "srl": srl,
        "ff": ff,
        "latch": latch,
        "dsp": total(DSP_CELLS),
        "bram36": int(bram36) if float(bram36).is_integer() else bram36,
        "ramb36": ramb36,
        "ramb18": ramb18,
        "uram": total(("URAM288", "URAM288_BASE")),
        "carry": total(("CARRY4", "CARRY8")),
        "unmapped": int(sum(int(n) for c, n in cells.items() if c.startswith("$"))),
    }


def parse_stat_json(text: str, top: str | None = None) -> dict[str, int]:
    """Cell counts by type from ``stat -json`` output (the ``design`` totals, else the top module)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise FlowError(f"cannot parse yosys 'stat -json' output: {e}") from None
    block = data.get("design")
    if block is None:
        mods = data.get("modules", {})
        key = next((k for k in mods if top is not None and k.lstrip("\\") == top), None)
        if key is None and len(mods) == 1:
            key = next(iter(mods))
        if key is None:
            raise FlowError("yosys 'stat -json' output has no design totals and no single top module")
        block = mods[key]
    return {str(k): int(v) for k, v in block.get("num_cells_by_type", {}).items()}


def _script(sources: list[str], family: str, top: str, stat_json: Path) -> str:
    srcs = " ".join(sources)
    return (
        "# fpga-flow synth: run from OUT/rtl (the ROM files are read by their relative names)\n"
        f"read_verilog -defer {srcs}\n"
        f"synth_xilinx -family {family} -top {top} -flatten -noiopad -noclkbuf\n"
        f"tee -q -o {stat_json} stat -json\n"
        "stat\n"
    )


def run_synth(
    out_dir: Path,
    target: Board | str,
    *,
    top: str = "fpga_flow_top",
    yosys: str | None = None,
    log: Callable[[str], None] | None = None,
) -> SynthResult:
    """Synthesize ``out_dir/rtl`` with yosys for ``target``, a board (its :attr:`~fpga_flow.boards.Board.yosys_family`)
    or an FPGA part name (see the module docstring).

    Raises :class:`~fpga_flow.errors.FlowError` when yosys is missing, the project has no RTL or
    synthesis fails (with the end of the log).
    """
    out_dir = Path(out_dir).resolve()
    rtl = out_dir / "rtl"
    if not rtl.is_dir():
        raise FlowError(f"{out_dir} has no rtl/ folder; run 'fpga-flow build MODEL.onnx -o {out_dir}' first")
    sources = rtl_sources(rtl)
    exe = find_yosys(yosys)
    tool = yosys_version(exe)
    if isinstance(target, Board):
        part, family = target.part, target.yosys_family
    else:
        part, family = target, yosys_family(target)
    sdir = out_dir / SYNTH_DIR
    sdir.mkdir(parents=True, exist_ok=True)
    stat_json = sdir / "stat.json"
    stat_json.unlink(missing_ok=True)
    script = sdir / "synth.ys"
    script.write_text(_script(sources, family, top, Path("..") / SYNTH_DIR / "stat.json"))
    log_path = sdir / "yosys.log"
    if log is not None:
        log(f"synth: yosys synth_xilinx -family {family} ({part}) on {len(sources)} Verilog files, "
            f"log {log_path} (large designs take minutes) ...")
    t0 = time.perf_counter()
    r = subprocess.run([exe, "-q", "-l", str(log_path), "-s", str(script)], cwd=rtl, capture_output=True,
                       text=True, check=False)
    seconds = time.perf_counter() - t0
    if r.returncode != 0 or not stat_json.is_file():
        text = log_path.read_text(errors="replace") if log_path.is_file() else r.stderr
        errs = [ln for ln in text.splitlines() if "ERROR" in ln]
        tail = "\n".join(errs[-5:] or text.strip().splitlines()[-20:])
        raise FlowError(f"yosys failed (exit status {r.returncode}); see {log_path}:\n{tail}")
    cells = parse_stat_json(stat_json.read_text(), top)
    return SynthResult(tool, family, top, count_cells(cells), cells, seconds, log_path, script)
