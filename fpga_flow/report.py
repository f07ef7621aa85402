"""The build report: ``report.json`` for tools, ``report.md`` for people (rendered from the JSON).

Fixed-point types appear in ``report.json`` in the neutral form of
:meth:`fpga_flow.fixed.FixedType.to_json` (width, integer bits, signed, rounding, overflow) and in
``report.md`` in the neutral notation (``fixed<8,1,RND_CONV,SAT>``). Every hardware figure (lanes,
entries, cycles, LUT/FF/DSP/BRAM36/URAM) is the plan's (section ``"plan"``, see
:func:`fpga_flow.hw.plan_figures`); ``"fit"`` compares it with the board. Later steps (``cosim``,
``synth``) add their sections with :func:`update_report`, which rewrites both files, so the Markdown
always shows everything measured so far.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fpga_flow.analysis.summary import layer_rows, totals
from fpga_flow.boards import Board
from fpga_flow.checksums import SECTION, tree_checksums
from fpga_flow.errors import FlowError
from fpga_flow.fixed import FixedType
from fpga_flow.hw import DesignPlan
from fpga_flow.ir import Graph
from fpga_flow.render import render

__all__ = ["build_report", "for_people", "load_report", "record_checksums", "update_report", "write_report"]

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
_TYPE_KEYS = {"width", "integer", "signed", "rounding", "overflow"}


def build_report(graph: Graph, plan: DesignPlan, figures: dict[str, Any], fit: dict[str, Any], board: Board,
                 options: Any, model_name: str) -> dict[str, Any]:  # noqa: ANN401 - BuildOptions (no import cycle)
    """The report of a fresh build: layers, storage, the plan's figures against the board."""
    rows = layer_rows(graph)
    return {
        "model": model_name,
        "graph": graph.name,
        "board": {
            "name": board.name, "part": board.part, "clock_mhz": board.clock_mhz, "lut": board.lut, "ff": board.ff,
            "dsp": board.dsp, "bram36": board.bram36, "uram": board.uram,
        },
        "options": {"parallelism": options.parallelism, "storage": options.storage, "precision": options.precision,
                    "calibrate": Path(options.calibrate).name if options.calibrate is not None else None},
        "notes": list(graph.notes),
        "input_type": graph.inputs[0].out_type.to_json(),
        "output_type": graph.output_layers[0].out_type.to_json(),
        "input_shape": list(graph.inputs[0].shape),
        "input_scale": _input_scale(graph),
        "output_dequant": _output_dequant(graph),
        "stream_order": "row-major (NCHW) order of the input shape",
        "layers": rows,
        "totals": totals(rows),
        "plan": figures,
        "fit": fit,
    }  # fmt: skip


def _input_scale(graph: Graph) -> dict[str, Any] | None:
    """The input's host-side quantization when its scale is not a power of two (None otherwise)."""
    from fpga_flow.fixed import fraction_text

    inp = graph.inputs[0]
    if not inp.scaled:
        return None
    return {"factor": fraction_text(inp.factor), "zero_point": inp.zero_point,
            "meaning": f"mantissa = clamp(round(x * 2^{inp.out_type.frac} / {float(inp.factor):.6g}) + "
                       f"{inp.zero_point}) (exact, on the host)"}


def _output_dequant(graph: Graph) -> dict[str, Any] | None:
    """The first output's host-side dequantization when its scale is not a power of two."""
    dq = graph.output_dequant(graph.outputs[0])
    if dq is None:
        return None
    return {**dq.to_json(), "meaning": dq.describe()}


def for_people(value: Any) -> Any:  # noqa: ANN401 - any JSON value
    """``value`` with every neutral type object replaced by its notation (``fixed<8,1,RND_CONV,SAT>``)."""
    if isinstance(value, dict):
        if set(value) == _TYPE_KEYS:
            try:
                return str(FixedType.from_json(value))
            except ValueError:
                return value
        return {k: for_people(v) for k, v in value.items()}
    if isinstance(value, list):
        return [for_people(v) for v in value]
    return value


def write_report(out_dir: Path, report: dict[str, Any]) -> None:
    """Write report.json and report.md into ``out_dir``."""
    (out_dir / REPORT_JSON).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    (out_dir / REPORT_MD).write_text(render("report/report.md.j2", {"r": for_people(report)}))


def load_report(out_dir: Path) -> dict[str, Any]:
    """The report of the project in ``out_dir`` (a FlowError if it is not an fpga-flow project)."""
    p = out_dir / REPORT_JSON
    if not p.is_file():
        raise FlowError(f"{out_dir} is not an fpga-flow project (no {REPORT_JSON}); run fpga-flow build first")
    try:
        data = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FlowError(f"{p} is not a readable report ({e}); rebuild the project with 'fpga-flow build'") from None
    if not isinstance(data, dict):
        raise FlowError(f"{p} is not an fpga-flow report; rebuild the project with 'fpga-flow build'")
    return data


def update_report(out_dir: Path, section: str, data: dict[str, Any]) -> dict[str, Any]:
    """Add or replace one section (e.g. ``"cosim"``, ``"synth"``) and rewrite both files."""
    report = load_report(out_dir)
    report[section] = data
    write_report(out_dir, report)
    return report


def record_checksums(out_dir: Path) -> dict[str, Any]:
    """Record the current checksums of ``tb_data/`` and the ROM files of ``out_dir`` in its report (section
    ``"checksums"``, :mod:`fpga_flow.checksums`): accepts the tree as it is now, e.g. after a deliberate edit
    of the expected outputs in a test of the simulators' comparison. ``fpga-flow build`` records them itself."""
    return update_report(out_dir, SECTION, tree_checksums(out_dir))
