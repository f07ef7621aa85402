"""Run a sweep on Dask: every design point an ordinary build, cached, failures recorded, progress on stderr.

By default an embedded ``LocalCluster`` (one single-threaded worker process per core) runs the
points; ``scheduler="tcp://host:8786"`` sends them to an existing cluster (e.g. dask-jobqueue on
Slurm). Tasks of the tool stages (csim, cosim, synth) can be pinned to workers that declare a
Dask resource (``tool_resource``, e.g. workers started with ``--resources vivado=1``).
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from fpga_flow.errors import FlowError
from fpga_flow.sweep.cache import PointCache
from fpga_flow.sweep.evaluate import TOOL_STAGES, evaluate_point, one_line
from fpga_flow.sweep.points import STAGES, DesignPoint, fpga_flow_version
from fpga_flow.sweep.results import FRONT_RESOURCES, add_fronts, make_row

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["SweepOptions", "SweepResult", "cluster_client", "run_sweep"]

OBJECTIVES = ("latency", "ii")


@dataclass(frozen=True)
class SweepOptions:
    """How a sweep runs (the points themselves are :class:`~fpga_flow.sweep.points.DesignPoint`)."""

    stages: tuple[str, ...] = ("estimate",)
    scheduler: str | None = None  # tcp://host:port of an existing Dask scheduler; None: an embedded LocalCluster
    workers: int | None = None  # LocalCluster worker processes (default: one per core)
    synth_front: bool = False  # synth only the points on the estimated Pareto front
    retry_failed: bool = False  # recompute points whose cached entry records an error
    tool_resource: str | None = None  # Dask worker resource the csim/cosim/synth tasks need (e.g. "vivado")
    objective: str = "latency"  # latency | ii: the time axis of the Pareto fronts

    def __post_init__(self) -> None:
        bad = [s for s in self.stages if s not in STAGES]
        if bad or not self.stages:
            raise FlowError(f"unknown stage(s) {', '.join(bad) or '(none)'}; stages are {', '.join(STAGES)}")
        if self.objective not in OBJECTIVES:
            raise FlowError(f"objective must be one of {', '.join(OBJECTIVES)}, got '{self.objective}'")
        if self.workers is not None and self.workers < 1:
            raise FlowError(f"--workers must be at least 1, got {self.workers}")


@dataclass(frozen=True)
class SweepResult:
    """Rows in point order (see :mod:`fpga_flow.sweep.results`) and what this run did."""

    rows: list[dict[str, Any]]
    computed: int  # points with at least one stage computed by this run
    cached: int  # points taken whole from SWEEP/cache/
    failed: int


@contextmanager
def cluster_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Client]:
    """A Dask client: to ``scheduler`` when given, else to an embedded ``LocalCluster`` of ``workers`` single-threaded
    processes (default one per core); both are closed on exit."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise FlowError("fpga-flow sweep needs Dask: pip install 'fpga-flow[sweep]'") from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as e:
            raise FlowError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
        with client:
            yield client
        return
    n = workers or max(1, os.cpu_count() or 1)
    with warnings.catch_warnings():  # the scheduler's HTTP server moves off a busy port 8787: nothing to act on
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:
        yield client


class _Progress:
    """One line on stderr per finished point: done / running / failed / cached."""

    def __init__(self, total: int, stream: TextIO | None) -> None:
        self.total, self.stream = total, stream
        self.done = self.failed = self.cached = 0
        self.running = 0

    def say(self, msg: str) -> None:
        if self.stream is not None:
            print(f"fpga-flow sweep: {msg}", file=self.stream, flush=True)

    def finished(self, row_id: str, error: str | None, figures: str) -> None:
        self.running -= 1
        self.done += 1
        self.failed += bool(error)
        self.say(f"[{self.done + self.cached:>{len(str(self.total))}}/{self.total}] done {self.done}, running "
                 f"{self.running}, failed {self.failed}, cached {self.cached}  {row_id}: {error or figures}")


def _figures(entry: dict[str, Any]) -> str:
    est = entry["stages"].get("estimate")
    if not est:
        return "ok"
    text = f"II {est['ii']} latency {est['latency']} LUT {est['lut']} BRAM36 {est['bram36']:g}"
    for s in TOOL_STAGES:
        res = entry["stages"].get(s)
        if res is not None:
            text += f" {s} {res['verdict']}" if "verdict" in res else f" {s} LUT {res.get('lut')}"
    return text


def _needs(entry: dict[str, Any] | None, stages: Sequence[str], retry_failed: bool) -> bool:
    """Whether ``entry`` (the cache) lacks something ``stages`` needs."""
    if entry is None:
        return True
    if entry.get("error"):
        failed = str(entry["error"]).split(":", 1)[0]
        if failed in stages or failed == "estimate":
            return retry_failed
    want = set(stages) | ({"estimate"} if set(stages) & set(TOOL_STAGES) else set())
    return not want <= set(entry["stages"])


def _has_resource(client: Client, name: str) -> bool:
    workers = client.scheduler_info().get("workers", {})
    return any(name in (w.get("resources") or {}) for w in workers.values())


def _evaluate(client: Client, points: Sequence[DesignPoint], stages: tuple[str, ...], out: Path, cache: PointCache,
              options: SweepOptions, progress: _Progress, entries: dict[str, dict[str, Any]],
              computed: set[str]) -> None:
    """Submit every point that the cache does not cover, merge each result into the cache as it arrives."""
    from distributed import as_completed

    todo = [p for p in points if _needs(entries.get(p.key), stages, options.retry_failed)]
    progress.cached += len(points) - len(todo)
    if not todo:
        return
    resources = {options.tool_resource: 1} if options.tool_resource and set(stages) & set(TOOL_STAGES) else None
    if resources and not _has_resource(client, str(options.tool_resource)):
        progress.say(f"note: no worker declares the resource '{options.tool_resource}' yet; the tool stages wait for "
                     f"one (start workers with --resources {options.tool_resource}=1)")
    points_dir = str((out / "points").resolve())
    futures: dict[Any, DesignPoint] = {}  # Future -> its point
    pending = []
    for p in todo:
        done = dict(entries[p.key]["stages"]) if p.key in entries else None
        fut = client.submit(evaluate_point, p, stages, points_dir, done, key=f"fpga-flow-point-{p.point_id}-"
                            f"{uuid.uuid4().hex[:8]}", pure=False, resources=resources)
        futures[fut] = p
        pending.append(fut)
    progress.running += len(todo)
    for fut in as_completed(pending):
        p = futures[fut]
        try:
            res = fut.result()
        except Exception as e:  # noqa: BLE001 - a worker died or the task could not run: this point's error
            res = {"stages": {}, "error": f"dask: {one_line(e)}", "host": None}
        old = entries.get(p.key)
        stages_now = {**(old["stages"] if old else {}), **res["stages"]}
        entries[p.key] = cache.put(p, stages_now, res["error"], res.get("host"))
        computed.add(p.key)
        progress.finished(p.point_id, res["error"], _figures(entries[p.key]))


def run_sweep(points: Sequence[DesignPoint], out: Path, options: SweepOptions = SweepOptions(), *,
              client: Client | None = None, stream: TextIO | None = sys.stderr) -> SweepResult:
    """Run ``points`` into the sweep folder ``out`` (``cache/``, ``points/``) and return their rows with the Pareto
    flags set. Nothing is written besides the cache and the project trees of the tool stages; see
    :func:`fpga_flow.sweep.report.write_sweep` for results.csv/json, report.md and the plots.

    ``client``: an existing Dask client (else one is made from ``options``, see :func:`cluster_client`).
    ``synth_front``: the other stages run first on every point; synth then runs on the points on an estimated
    Pareto front (any resource of :data:`~fpga_flow.sweep.results.FRONT_RESOURCES`)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache = PointCache(out / "cache")
    entries: dict[str, dict[str, Any]] = {}
    for p in points:
        e = cache.get(p)
        if e is not None:
            entries[p.key] = e
    computed: set[str] = set()
    progress = _Progress(len(points), stream)
    first = tuple(s for s in options.stages if not (options.synth_front and s == "synth")) or ("estimate",)
    progress.say(f"{len(points)} point(s), stages {', '.join(options.stages)}"
                 + (" (synth on the estimated Pareto front)" if options.synth_front else "")
                 + f", fpga-flow {fpga_flow_version()}")
    with _maybe_client(client, options) as c:
        _evaluate(c, points, first, out, cache, options, progress, entries, computed)
        if options.synth_front and "synth" in options.stages:
            rows = _rows(points, entries, computed, first, options.objective)
            front = [p for p, r in zip(points, rows, strict=True)
                     if any(r.get(f"front_{x}") for x in FRONT_RESOURCES)]
            progress.say(f"synth on {len(front)} point(s) of the estimated Pareto front")
            progress.total += len(front)
            _evaluate(c, front, (*first, "synth"), out, cache, options, progress, entries, computed)
    rows = _rows(points, entries, computed, options.stages, options.objective)
    failed = sum(1 for r in rows if r["error"])
    progress.say(f"{len(computed)} computed, {len(points) - len(computed)} from the cache, {failed} failed")
    return SweepResult(rows, len(computed), len(points) - len(computed), failed)


def _rows(points: Sequence[DesignPoint], entries: dict[str, dict[str, Any]], computed: set[str],
          stages: Sequence[str], objective: str) -> list[dict[str, Any]]:
    rows = []
    for p in points:
        e = entries.get(p.key) or {"stages": {}, "error": "not run", "host": None}
        rows.append(make_row(p, e, p.key not in computed, stages))
    add_fronts(rows, objective)
    return rows


@contextmanager
def _maybe_client(client: Client | None, options: SweepOptions) -> Iterator[Client]:
    if client is not None:
        yield client
        return
    with cluster_client(options.scheduler, options.workers) as c:
        yield c

