"""HLS C++ backend: spells the hardware plan as a Vivado HLS / Vitis HLS project under ``dest/hls/``.

The generated tree (all paths relative, byte-identical for the same input)::

    hls/
      README.md                     what to run (csim, synthesis, cosim, export)
      build_prj.tcl                 csim/synth/cosim/export switches, the board's part and clock
      firmware/fpga_flow_top.cpp    the top function: axis unpack -> one kernel per layer -> axis pack
                                    (a stream_fork copies a map read by several kernels)
      firmware/fpga_flow_top.h      stream formats, AXI4-Stream word types, the top's declaration
      firmware/parameters.h         per-layer types and kernel configurations (codebooks)
      firmware/weights.h            extern declarations of the constant arrays
      firmware/weights/<layer>.cpp  the arrays as raw words (mantissas, indices; one file per layer)
      firmware/lib/*.h              the hand-written library (copied from templates/hls/lib)
      tb/fpga_flow_tb.cpp           C testbench; reads ../tb_data/ (fpga_flow.tbdata files)

Every kernel, lane count, row schedule and constant array comes from the plan
(:mod:`fpga_flow.hw`); this package only writes them in C++. ``tb_data/`` itself is written next
to ``hls/`` by the pipeline (:func:`fpga_flow.tbdata.write_tb_data`).
"""

from __future__ import annotations

from pathlib import Path

from fpga_flow.boards import Board
from fpga_flow.hw.plan import DesignPlan
from fpga_flow.render import render
from fpga_flow.resources import templates_dir

from .context import HLS_ENGINES, build_context, readme_context, rom_arrays, top_context, weights_context
from .spelling import cpp_type

__all__ = ["HLS_ENGINES", "LIB_FILES", "cpp_type", "emit_hls", "render_hls"]

#: Files of the hand-written library copied into every project.
LIB_FILES = (
    "fpga_flow.h",
    "fpga_flow_axis.h",
    "fpga_flow_codebook.h",
    "fpga_flow_common.h",
    "fpga_flow_csr.h",
    "fpga_flow_dense.h",
    "fpga_flow_elementwise.h",
    "fpga_flow_skip.h",
    "fpga_flow_window.h",
)


def _render(template: str, context: dict) -> str:
    return render(f"hls/{template}", context)


def render_hls(plan: DesignPlan, board: Board) -> dict[str, str]:
    """Every generated text file of the project, by path relative to ``hls/`` (library excluded)."""
    top = top_context(plan)
    files = {
        "firmware/fpga_flow_top.h": _render("fpga_flow_top.h.j2", top),
        "firmware/fpga_flow_top.cpp": _render("fpga_flow_top.cpp.j2", top),
        "firmware/parameters.h": _render("parameters.h.j2", top),
        "firmware/weights.h": _render("weights.h.j2", top),
        "tb/fpga_flow_tb.cpp": _render("fpga_flow_tb.cpp.j2", {}),
        "build_prj.tcl": _render("build_prj.tcl.j2", build_context(plan, board)),
        "README.md": _render("README.md.j2", readme_context(plan, board)),
    }
    for p in plan.hardware_layers:
        if rom_arrays(p):
            files[f"firmware/weights/{p.name}.cpp"] = _render("weights_layer.cpp.j2", weights_context(p))
    return files


def emit_hls(plan: DesignPlan, board: Board, dest: Path) -> list[Path]:
    """Write the HLS project of ``plan`` for ``board`` into ``dest/hls/``; return the files written.

    Layer names must be sanitized identifiers (:class:`fpga_flow.names.NameTable`). The same
    plan always gives byte-identical files.
    """
    files = render_hls(plan, board)
    lib = templates_dir() / "hls" / "lib"
    for name in LIB_FILES:
        files[f"firmware/lib/{name}"] = (lib / name).read_text()
    root = Path(dest) / "hls"
    stale = root / "firmware" / "weights"
    if stale.is_dir():  # generated-only folder: drop sources of layers an earlier build had
        for old in stale.glob("*.cpp"):
            if f"firmware/weights/{old.name}" not in files:
                old.unlink()
    written: list[Path] = []
    for rel in sorted(files):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(files[rel], newline="\n")
        written.append(path)
    return written
