"""What a sweep leaves for people and tools: ``results.csv``, ``results.json``, ``report.md`` and ``plots/*.png``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fpga_flow.errors import FlowError
from fpga_flow.sweep.plots import PLOTTED, plot_board
from fpga_flow.sweep.points import DesignPoint, fpga_flow_version
from fpga_flow.sweep.results import write_results
from fpga_flow.sweep.run import SweepOptions, SweepResult

__all__ = ["REPORT_MD", "report_context", "write_sweep"]

REPORT_MD = "report.md"
#: Fronts tabulated in report.md (every front is in results.csv).
TABULATED = ("lut", "bram36", "dsp")
_LABEL = {"lut": "LUT", "ff": "FF", "dsp": "DSP", "bram36": "BRAM36"}


def _cell(v: Any) -> str:
    """A Markdown table cell: '-' for nothing, yes/no for booleans, pipes escaped."""
    if v is None or v == "":
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}" if not v.is_integer() else str(int(v))
    return str(v).replace("|", "\\|").replace("\n", " ")


def _board_facts(name: str) -> tuple[dict[str, float], dict[str, float], float] | None:
    """(capacity, platform cost, clock) of a known board, None for an unknown one."""
    from fpga_flow.analysis.fit import PLATFORM_COST
    from fpga_flow.boards import load_board

    try:
        b = load_board(name)
    except FlowError:
        return None
    cap = {"lut": float(b.lut), "ff": float(b.ff), "dsp": float(b.dsp), "bram36": float(b.bram36)}
    plat = {k: float(v) for k, v in PLATFORM_COST.items()} if b.has_ps else {}
    return cap, plat, b.clock_mhz


def _axes(points: Sequence[DesignPoint]) -> list[tuple[str, str]]:
    def values(f: str) -> str:
        seen: list[str] = []
        for p in points:
            v = _cell(getattr(p, f) if f != "model" else Path(p.model).name)
            if v not in seen:
                seen.append(v)
        return ", ".join(f"`{v}`" for v in seen)

    return [(f, values(f)) for f in ("model", "board", "parallelism", "storage", "precision", "samples")]


def report_context(rows: Sequence[dict[str, Any]], points: Sequence[DesignPoint], result: SweepResult,
                   options: SweepOptions, plots: dict[tuple[str, str], list[dict[str, str]]]) -> dict[str, Any]:
    """The render context of ``templates/sweep/report.md.j2`` (cells preformatted)."""
    groups = []
    for model, board in dict.fromkeys((r["model"], r["board"]) for r in rows):
        mine = [r for r in rows if r["model"] == model and r["board"] == board]
        ok = [r for r in mine if not r["error"]]
        if not ok:
            continue
        facts = _board_facts(board)
        fronts = []
        for res in TABULATED:
            front = sorted((r for r in ok if r.get(f"front_{res}")), key=lambda r: (r[res], r[options.objective]))
            fronts.append({"label": _LABEL[res], "rows": [
                {**{k: _cell(r[k]) for k in ("parallelism", "storage", "precision", "ii", "latency", "us_per_sample",
                                              "fits")}, "value": _cell(r[res])} for r in front]})
        cap = ""
        if facts:
            cap = ", ".join(f"{_LABEL[k]} {_cell(v)}" for k, v in facts[0].items())
        groups.append({
            "model": Path(model).name, "board": board, "capacity": cap, "clock": _cell(facts[2]) if facts else "-",
            "n_ok": len(ok), "fronts": fronts, "plots": plots.get((model, board), []),
            "rows": [{k: _cell(v) for k, v in r.items()} for r in mine if not r["error"]],
        })  # fmt: skip
    failed = [{k: _cell(v) for k, v in r.items()} for r in rows if r["error"]]
    for f, r in zip(failed, [r for r in rows if r["error"]], strict=True):
        f["model"] = _cell(Path(r["model"]).name)
    meta = {"points": len(rows), "ok": len(rows) - result.failed, "failed": result.failed,
            "computed": result.computed, "cached": result.cached, "stages": ", ".join(options.stages)
            + (" (synth on the estimated front)" if options.synth_front else ""),
            "version": fpga_flow_version(), "objective": options.objective, "axes": _axes(points)}
    return {"meta": meta, "groups": groups, "failed": failed}


def write_sweep(out: Path, points: Sequence[DesignPoint], result: SweepResult, options: SweepOptions
                ) -> dict[str, Path | list[Path]]:
    """Write ``out/results.csv``, ``out/results.json``, ``out/plots/<board>_<objective>_vs_<resource>.png`` (one
    per board and plotted resource, every model of the board in it) and ``out/report.md``."""
    from fpga_flow.render import render

    out = Path(out)
    rows = result.rows
    meta = {"version": fpga_flow_version(), "stages": list(options.stages), "synth_front": options.synth_front,
            "objective": options.objective, "points": len(rows), "computed": result.computed,
            "cached": result.cached, "failed": result.failed}
    csv_path, json_path = write_results(out, rows, meta)
    pngs: list[Path] = []
    plots: dict[tuple[str, str], list[dict[str, str]]] = {}
    for board in dict.fromkeys(r["board"] for r in rows):
        if not any(r["board"] == board and not r["error"] for r in rows):
            continue
        facts = _board_facts(board)
        for res in PLOTTED:
            name = f"plots/{board}_{options.objective}_vs_{res}.png"
            path = plot_board(rows, board, res, options.objective, out / name,
                              capacity=facts[0][res] if facts else None,
                              platform=facts[1].get(res) if facts else None)
            pngs.append(path)
            for model in dict.fromkeys(r["model"] for r in rows if r["board"] == board):
                plots.setdefault((model, board), []).append(
                    {"path": name, "title": f"{options.objective} vs {_LABEL[res]} on {board}"})
    md = out / REPORT_MD
    md.write_text(render("sweep/report.md.j2", report_context(rows, points, result, options, plots)))
    return {"csv": csv_path, "json": json_path, "report": md, "plots": pngs}
