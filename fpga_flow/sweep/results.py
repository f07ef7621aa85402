"""Result rows of a sweep: one flat row per point (every option, figures, verdicts, error), CSV and JSON.

Columns (:data:`COLUMNS`): the point's options; ``status`` (``ok`` | ``failed``) and ``error``;
the plan's ``ii``/``latency`` (cycles), ``clock_mhz``, ``us_per_sample`` (II at the board clock)
and ``latency_us``; estimated ``lut``/``ff``/``dsp``/``bram36``/``uram`` and ``fits`` (platform
included on boards with a processing system); ``csim``/``cosim`` verdicts (``pass`` | ``fail`` |
empty when not run), the cosim-measured II and latency; ``synth_*`` counts and ``synth_fits``;
``build_seconds`` (the project tree) and ``seconds`` (all stages); ``front_<resource>`` (on the
Pareto front of the objective against that resource); ``cached``, ``computed_at``, ``host``,
``version``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fpga_flow.sweep.pareto import pareto_front
from fpga_flow.sweep.points import DesignPoint

__all__ = ["COLUMNS", "FRONT_RESOURCES", "add_fronts", "make_row", "write_results"]

#: Resources each Pareto front is drawn against.
FRONT_RESOURCES = ("lut", "ff", "dsp", "bram36")

COLUMNS = (
    "point_id", "key", "model", "model_sha256", "board", "parallelism", "storage", "precision", "samples",
    "status", "error", "ii", "latency", "clock_mhz", "us_per_sample", "latency_us",
    "lut", "ff", "dsp", "bram36", "uram", "fits", "util_lut", "util_ff", "util_dsp", "util_bram36",
    "csim", "csim_mismatches", "cosim", "cosim_ii", "cosim_latency",
    "synth_lut", "synth_ff", "synth_dsp", "synth_bram36", "synth_fits",
    "build_seconds", "seconds", *(f"front_{r}" for r in FRONT_RESOURCES), "cached", "computed_at", "host", "version",
)  # fmt: skip


def make_row(point: DesignPoint, entry: dict[str, Any], cached: bool, stages: Sequence[str]) -> dict[str, Any]:
    """The flat row of ``point`` from its cache entry (``cached``: no stage was computed by this run).

    Only the requested ``stages`` show (a cached csim verdict is not shown by an estimate-only sweep); the error
    shows when its stage was requested."""
    st: dict[str, Any] = entry.get("stages", {})
    est = st.get("estimate") or {}
    error = entry.get("error")
    if error and error.split(":", 1)[0] not in stages and all(s in st for s in stages):
        error = None  # a stage this sweep does not ask for failed before
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(point_id=point.point_id, key=point.key, model=point.model, model_sha256=point.model_sha256,
               board=point.board, parallelism=point.parallelism, storage=point.storage, precision=point.precision,
               samples=point.samples, error=error, status="failed" if error else "ok", cached=cached,
               host=entry.get("host"), version=entry.get("version"))
    if est:
        clock = float(est["clock_mhz"])
        row.update({k: est[k] for k in ("ii", "latency", "clock_mhz", "lut", "ff", "dsp", "bram36", "uram", "fits")})
        row["us_per_sample"] = round(est["ii"] / clock, 6)
        row["latency_us"] = round(est["latency"] / clock, 6)
        util = est.get("utilization", {})
        for r in ("lut", "ff", "dsp", "bram36"):
            row[f"util_{r}"] = util.get(r.upper())
    if "csim" in stages and "csim" in st:
        row.update(csim=st["csim"]["verdict"], csim_mismatches=st["csim"]["mismatches"])
    if "cosim" in stages and "cosim" in st:
        row.update(cosim=st["cosim"]["verdict"], cosim_ii=st["cosim"]["ii"], cosim_latency=st["cosim"]["latency"])
    if "synth" in st and ("synth" in stages):
        s = st["synth"]
        row.update(synth_lut=s["lut"], synth_ff=s["ff"], synth_dsp=s["dsp"], synth_bram36=s["bram36"],
                   synth_fits=s["fits"])
    shown = [v for k, v in st.items() if k in stages or k == "estimate"]
    builds = [v["build_seconds"] for v in shown if v.get("build_seconds") is not None]
    row["build_seconds"] = round(sum(builds), 3) if builds else None
    row["seconds"] = round(sum(float(v.get("seconds", 0.0)) for v in shown), 3) if shown else None
    stamps = [str(v["computed_at"]) for v in shown if v.get("computed_at")]
    row["computed_at"] = max(stamps) if stamps else None
    return row


def add_fronts(rows: list[dict[str, Any]], objective: str = "latency") -> None:
    """Set ``front_<resource>`` of every row: on the front of ``objective`` against the resource, per model+board."""
    for r in FRONT_RESOURCES:
        front = pareto_front(rows, r, objective)
        for i, row in enumerate(rows):
            row[f"front_{r}"] = i in front if not row.get("error") else None


def write_results(out: Path, rows: Sequence[dict[str, Any]], meta: dict[str, Any]) -> tuple[Path, Path]:
    """``out/results.csv`` (columns :data:`COLUMNS`) and ``out/results.json`` (``{"sweep": meta, "points": rows}``)."""
    csv_path, json_path = out / "results.csv", out / "results.json"
    with csv_path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS), extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({k: "" if row.get(k) is None else row[k] for k in COLUMNS})
    json_path.write_text(json.dumps({"sweep": meta, "points": list(rows)}, indent=1) + "\n")
    return csv_path, json_path
