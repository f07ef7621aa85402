"""fpga-flow sweep on a real Dask LocalCluster (2 worker processes): figures equal the plans made one by one,
failures are recorded, reruns come from the cache, fronts equal a brute-force computation, the CLI writes its files."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from fpga_flow.analysis.fit import fit_report
from fpga_flow.boards import load_board
from fpga_flow.cli import main
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.hw import plan_figures
from fpga_flow.pipeline import LowerOptions, load_and_lower, plan
from fpga_flow.sweep import COLUMNS, FRONT_RESOURCES, DesignPoint, SweepOptions, expand_points, pareto_front, run_sweep

distributed = pytest.importorskip("distributed")

BOARDS = ["pynq-z2", "zcu104", "no-such-board"]
PARALLELISM = [1, 2, 4, 0]
STORAGES = ["auto", "csr", "dense"]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("m") / "model.onnx"
    onnx.save(sparse_mlp(48, [LayerSpec(30, codebook_bits=3), LayerSpec(20), LayerSpec(10, relu=False, act=None)],
                         seed=2), p)
    return p


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c, \
            distributed.Client(c) as cl:
        yield cl


@pytest.fixture(scope="module")
def estimate_sweep(model_file, client, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    points = expand_points([model_file], BOARDS, PARALLELISM, STORAGES)
    result = run_sweep(points, out, SweepOptions(), client=client, stream=None)
    return out, points, result


def _direct(model: Path, board: str, p: int, storage: str) -> tuple[dict, dict]:
    """The plan's figures and fit of one point, computed one by one without the sweep."""
    b = load_board(board)
    figures = plan_figures(plan(load_and_lower(model, None, LowerOptions(storage=storage)), p, b))
    return figures, fit_report(figures, b)


def test_sweep_figures_equal_plans_made_one_by_one(estimate_sweep, model_file):
    out, points, result = estimate_sweep
    assert len(result.rows) == len(BOARDS) * len(PARALLELISM) * len(STORAGES)
    ok = [r for r in result.rows if r["status"] == "ok"]
    assert len(ok) == 2 * 3 * 3  # two real boards, P in 1, 2, 4, three storages
    for r in ok:
        figures, fit = _direct(model_file, r["board"], r["parallelism"], r["storage"])
        t = figures["totals"]
        assert {k: r[k] for k in ("ii", "latency", "lut", "ff", "dsp", "bram36", "uram")} == \
            {k: t[k] for k in ("ii", "latency", "lut", "ff", "dsp", "bram36", "uram")}
        assert r["fits"] == fit["fits"]
        clock = load_board(r["board"]).clock_mhz
        assert r["clock_mhz"] == clock and r["us_per_sample"] == pytest.approx(t["ii"] / clock)
        assert r["latency_us"] == pytest.approx(t["latency"] / clock)
        assert r["csim"] is None and r["cached"] is False
    assert not (out / "points").exists()  # estimate-only points write no project tree


def test_failed_points_are_recorded_and_the_rest_complete(estimate_sweep):
    _, _, result = estimate_sweep
    failed = [r for r in result.rows if r["status"] == "failed"]
    assert result.failed == len(failed) == len(result.rows) - 18
    for r in failed:
        assert r["board"] == "no-such-board" or r["parallelism"] == 0
        assert "\n" not in r["error"] and r["error"].startswith("estimate: ")
        assert r["ii"] is None and all(r[f"front_{x}"] is None for x in FRONT_RESOURCES)
    assert any("unknown board 'no-such-board'" in r["error"] for r in failed)
    assert any("parallelism must be a positive integer, got 0" in r["error"] for r in failed)


def test_rerun_takes_every_point_from_the_cache(estimate_sweep, client):
    out, points, first = estimate_sweep
    again = run_sweep(points, out, SweepOptions(), client=client, stream=None)
    assert again.computed == 0 and again.cached == len(points)
    assert all(r["cached"] for r in again.rows)
    assert [r["computed_at"] for r in again.rows] == [r["computed_at"] for r in first.rows]
    strip = ("cached",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in again.rows] == \
        [{k: v for k, v in r.items() if k not in strip} for r in first.rows]
    assert len(list((out / "cache").glob("*.json"))) == len(points)


def test_retry_failed_recomputes_only_the_failed_points(estimate_sweep, client):
    out, points, first = estimate_sweep
    again = run_sweep(points, out, SweepOptions(retry_failed=True), client=client, stream=None)
    assert again.computed == first.failed and again.failed == first.failed
    assert [r["cached"] for r in again.rows] == [r["status"] == "ok" for r in first.rows]


def test_cache_key_is_model_bytes_options_and_version(model_file, tmp_path):
    a = expand_points([model_file], ["pynq-z2"], [1])[0]
    copy = tmp_path / "same.onnx"
    copy.write_bytes(model_file.read_bytes())
    assert expand_points([copy], ["pynq-z2"], [1])[0].key == a.key  # same bytes, another name
    other = tmp_path / "other.onnx"
    onnx.save(sparse_mlp(48, [LayerSpec(10, relu=False, act=None)], seed=3), other)
    keys = {a.key, expand_points([other], ["pynq-z2"], [1])[0].key,
            expand_points([model_file], ["pynq-z2"], [2])[0].key,
            expand_points([model_file], ["pynq-z2"], [1], ["csr"])[0].key,
            expand_points([model_file], ["zcu104"], [1])[0].key,
            expand_points([model_file], ["pynq-z2"], [1], precisions=["ap_fixed<16,6>"])[0].key}
    assert len(keys) == 6


def _brute_front(rows: list[dict], x: str, y: str) -> set[int]:
    front = set()
    for i, a in enumerate(rows):
        if a.get("error") or a.get(x) is None or a.get(y) is None:
            continue
        peers = [b for j, b in enumerate(rows) if j != i and not b.get("error") and b.get(x) is not None
                 and b.get(y) is not None and (b["model"], b["board"]) == (a["model"], a["board"])]
        if not any(b[x] <= a[x] and b[y] <= a[y] and (b[x] < a[x] or b[y] < a[y]) for b in peers):
            front.add(i)
    return front


def test_pareto_front_equals_brute_force(estimate_sweep):
    rows = estimate_sweep[2].rows
    for res, obj in itertools.product(FRONT_RESOURCES, ("latency", "ii")):
        assert pareto_front(rows, res, obj) == _brute_front(rows, res, obj)
    for res in FRONT_RESOURCES:
        assert {i for i, r in enumerate(rows) if r[f"front_{res}"]} == _brute_front(rows, res, "latency")
    rng = np.random.default_rng(0)  # many ties: small integer grids, two groups, some failures
    for _ in range(50):
        rand = [{"model": "m", "board": str(rng.integers(2)), "lut": int(rng.integers(5)),
                 "latency": int(rng.integers(5)), "error": "x" if rng.random() < 0.1 else None} for _ in range(30)]
        assert pareto_front(rand, "lut") == _brute_front(rand, "lut", "latency")


def test_csim_stage_builds_the_point_and_matches_the_plan(model_file, client, tmp_path):
    """One real build + g++ C simulation (about 15 s of compilation) next to a point that fails at the plan."""
    points = expand_points([model_file], ["pynq-z2"], [4, 0], samples=4)
    options = SweepOptions(stages=("estimate", "csim"))
    result = run_sweep(points, tmp_path, options, client=client, stream=None)
    good, bad = result.rows
    assert good["error"] is None and bad["error"].startswith("estimate: --parallelism")
    assert good["csim"] == "pass" and good["csim_mismatches"] == 0 and good["build_seconds"] > 0
    assert bad["csim"] is None and not (tmp_path / "points" / points[1].point_id).exists()
    report = json.loads((tmp_path / "points" / points[0].point_id / "report.json").read_text())
    figures, _ = _direct(model_file, "pynq-z2", 4, "auto")
    assert report["plan"]["totals"] == figures["totals"]
    assert (good["ii"], good["latency"], good["lut"]) == tuple(figures["totals"][k] for k in ("ii", "latency", "lut"))
    again = run_sweep(points, tmp_path, options, client=client, stream=None)
    assert again.computed == 0 and [r["csim"] for r in again.rows] == ["pass", None]
    assert again.rows[0]["computed_at"] == good["computed_at"]


def test_design_point_ids_are_unique_folder_names(model_file):
    points = expand_points([model_file], ["pynq-z2"], [1, 4], ["auto", "csr"], ["ap_fixed<16,6>", None])
    ids = [p.point_id for p in points]
    assert len(set(ids)) == len(ids) == 8
    assert all("/" not in i and "<" not in i and "," not in i for i in ids)
    assert isinstance(points[0], DesignPoint)


def test_cli_sweep_end_to_end_estimate(model_file, tmp_path, capsys):
    out = tmp_path / "S"
    rc = main(["sweep", str(model_file), "--board", "pynq-z2", "--board", "zcu104", "--parallelism", "1,4,16",
               "--storage", "auto,csr", "-o", str(out), "--workers", "1"])
    assert rc == 0
    assert "12 point(s), 12 ok, 0 failed" in capsys.readouterr().out
    with (out / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == list(COLUMNS) and len(table) == 12
    data = json.loads((out / "results.json").read_text())
    assert [r["point_id"] for r in data["points"]] == [r["point_id"] for r in table]
    for row, r in zip(table, data["points"], strict=True):
        assert int(row["ii"]) == r["ii"] and row["front_lut"] == str(r["front_lut"])
    md = (out / "report.md").read_text()
    assert "Pareto front, latency vs LUT" in md and "model.onnx on zcu104" in md
    for board in ("pynq-z2", "zcu104"):
        for res in ("lut", "bram36"):
            png = out / "plots" / f"{board}_latency_vs_{res}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert f"plots/{png.name}" in md
    assert main(["sweep", str(model_file), "--parallelism", "1,0", "-o", str(tmp_path / "T"), "--workers", "1"]) == 1
    assert "1 failed" in capsys.readouterr().out
