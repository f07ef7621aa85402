"""The build report: ``report.json`` for tools, ``report.md`` for people (rendered from the JSON).

Later steps (``cosim``, ``synth``) add their sections with :func:`update_report`, which rewrites
both files, so the Markdown always shows everything measured so far.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fpga_flow.analysis.summary import layer_rows, totals
from fpga_flow.boards import Board
from fpga_flow.errors import FlowError
from fpga_flow.ir import Graph
from fpga_flow.render import render

__all__ = ["build_report", "load_report", "update_report", "write_report"]

REPORT_JSON = "report.json"
REPORT_MD = "report.md"


def build_report(graph: Graph, board: Board, options: Any, model_name: str) -> dict[str, Any]:
    """The report of a fresh build: layers, storage, estimates against the board."""
    from fpga_flow.backends.hls import estimate_hls
    from fpga_flow.backends.rtl import estimate_cycles

    rows = layer_rows(graph)
    hls = estimate_hls(graph, options.parallelism)
    rtl = estimate_cycles(graph, options.parallelism)
    return {
        "model": model_name,
        "graph": graph.name,
        "board": {
            "name": board.name, "part": board.part, "clock_mhz": board.clock_mhz, "lut": board.lut, "ff": board.ff,
            "dsp": board.dsp, "bram36": board.bram36, "uram": board.uram,
        },
        "options": {"parallelism": options.parallelism, "storage": options.storage, "precision": options.precision},
        "input_type": graph.inputs[0].out_type.cpp(),
        "output_type": graph.output_layers[0].out_type.cpp(),
        "layers": rows,
        "totals": totals(rows),
        "hls_estimate": hls,
        "rtl_estimate": rtl,
    }


def write_report(out_dir: Path, report: dict[str, Any]) -> None:
    """Write report.json and report.md into ``out_dir``."""
    (out_dir / REPORT_JSON).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    (out_dir / REPORT_MD).write_text(render("report/report.md.j2", {"r": report}))


def load_report(out_dir: Path) -> dict[str, Any]:
    """The report of the project in ``out_dir`` (a FlowError if it is not an fpga-flow project)."""
    p = out_dir / REPORT_JSON
    if not p.is_file():
        raise FlowError(f"{out_dir} is not an fpga-flow project (no {REPORT_JSON}); run fpga-flow build first")
    return json.loads(p.read_text())


def update_report(out_dir: Path, section: str, data: dict[str, Any]) -> dict[str, Any]:
    """Add or replace one section (e.g. ``"cosim"``, ``"synth"``) and rewrite both files."""
    report = load_report(out_dir)
    report[section] = data
    write_report(out_dir, report)
    return report
