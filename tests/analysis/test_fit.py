"""The fit report: a model that fits PYNQ-Z2, models that do not, and what the message blames."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fpga_flow.analysis.fit import PLATFORM_COST, RESOURCES, TIGHT_PERCENT, fit_error_message, fit_report
from fpga_flow.boards import Board, load_board
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.hw import plan_design, plan_figures
from fpga_flow.ir import Graph, InputLayer
from fpga_flow.onnx_io import read_onnx
from fpga_flow.pipeline import lower
from tests.graphs import IN_T, dense, unfused_mlp

PYNQ = load_board("pynq-z2")


def _row(fit: dict, label: str) -> dict:
    return next(r for r in fit["resources"] if r["resource"] == label)


def _figures(graph: Graph, parallelism: int, board: Board = PYNQ) -> dict:
    """The estimate fit reads: the plan's figures."""
    return plan_figures(plan_design(graph, parallelism, board))


def _utilization(est: dict, board: Board, resource: str) -> float:
    cap = {"lut": board.lut, "ff": board.ff, "dsp": board.dsp, "bram36": board.bram36, "uram": board.uram}[resource]
    used = est["totals"][resource] + (PLATFORM_COST[resource] if board.has_ps else 0)
    if not cap:
        return float("inf") if used else 0.0
    return 100.0 * used / cap


def _most(est: dict, resource: str) -> dict:
    """The figures' row (stage) with the most of ``resource``."""
    return max(est["layers"], key=lambda r: r[resource])


def test_small_mlp_fits_pynq_z2():
    est = _figures(lower(unfused_mlp()), 4)
    fit = fit_report(est, PYNQ)
    assert fit["fits"] and fit["overflow"] is None and fit["overflows"] == []
    assert fit_error_message(fit) == "" == fit["message"]
    assert fit["basis"] == "estimate" and fit["platform"] == PLATFORM_COST
    lut = _row(fit, "LUT")
    assert lut["estimate"] == est["totals"]["lut"]
    assert lut["used"] == lut["estimate"] + PLATFORM_COST["lut"]
    assert lut["utilization_percent"] == round(100 * lut["used"] / PYNQ.lut, 1)
    assert [r["resource"] for r in fit["resources"]] == ["LUT", "FF", "DSP", "BRAM36", "URAM"]
    for r, label in zip(RESOURCES, ("LUT", "FF", "DSP", "BRAM36", "URAM"), strict=True):
        assert _row(fit, label)["estimate"] == est["totals"][r]
    assert json.loads(json.dumps(fit)) == fit


def test_wide_dense_layer_at_high_parallelism_does_not_fit():
    """784 -> 2048 (dense, unpruned) -> 10 at 256 lanes: 1.6 M 8-bit weights are ~12.8 Mbit of ROM
    against 4.9 Mbit of block RAM, and 256 multiplier lanes against 220 DSPs: block RAM and DSPs
    overflow, block RAM most, and the 2048 layer is to blame."""
    model = sparse_mlp(784, [LayerSpec(2048, sparsity=0.0), LayerSpec(10, relu=False, act=None)], name="wide")
    graph = lower(read_onnx(model))
    big = next(lay for lay in graph.dense_layers() if lay.n_out == 2048)
    est = _figures(graph, 256)
    fit = fit_report(est, PYNQ)
    assert not fit["fits"]
    o = fit["overflow"]
    assert {x["resource"] for x in fit["overflows"]} >= {"bram36", "dsp"}
    # the reported overflow is the worst one, and it is the block RAM
    worst = max(RESOURCES, key=lambda r: _utilization(est, PYNQ, r))
    assert o["resource"] == worst == "bram36"
    assert [x["resource"] for x in fit["overflows"]] == sorted(
        (x["resource"] for x in fit["overflows"]), key=lambda r: -_utilization(est, PYNQ, r))
    # blamed: the stage with the most block RAM in the figures, the big layer
    assert o["layer"]["name"] == _most(est, "bram36")["name"] == big.name
    assert o["layer"]["amount"] == _most(est, "bram36")["bram36"]
    assert o["utilization_percent"] > 100 and o["layer_share_percent"] > 90
    dsp = next(x for x in fit["overflows"] if x["resource"] == "dsp")
    assert dsp["layer"]["name"] == _most(est, "dsp")["name"] == big.name
    msg = fit_error_message(fit)
    assert msg == fit["message"] and "\n" not in msg
    assert msg.startswith("design does not fit pynq-z2 (xc7z020clg400-1): BRAM36 ")
    assert f"layer {big.name}" in msg and "plan estimate" in msg and "first-order" not in msg
    assert "DSP " in msg.split("also over: ")[1]


def test_dsp_bound_design_names_the_layer_with_the_most_lanes():
    rng = np.random.default_rng(7)
    inp = InputLayer("x", (), (64,), IN_T)
    wide = dense("wide_fc", inp, 512, rng, sparsity=0.5)
    narrow = dense("narrow_fc", wide, 8, rng, sparsity=0.5)
    graph = Graph("dspheavy", (inp, wide, narrow), ("narrow_fc",)).verify()
    est = _figures(graph, 300)
    rows = {r["name"]: r for r in est["layers"]}
    assert rows["wide_fc"]["lanes"] == 300 and rows["narrow_fc"]["lanes"] == 8
    fit = fit_report(est, PYNQ)
    assert not fit["fits"]
    d = next(x for x in fit["overflows"] if x["resource"] == "dsp")
    assert d["layer"]["name"] == _most(est, "dsp")["name"] == "wide_fc"
    assert d["layer"]["amount"] == rows["wide_fc"]["dsp"] >= 300  # at least one multiplier per lane
    assert fit["overflow"]["resource"] == max(RESOURCES, key=lambda r: _utilization(est, PYNQ, r))
    assert "DSP" in fit_error_message(fit) and "wide_fc" in fit_error_message(fit)
    assert "lower --parallelism" in fit_error_message(fit)
    # the same design fits with few lanes
    assert fit_report(_figures(graph, 8), PYNQ)["fits"]


def test_synthesis_numbers_replace_the_estimate():
    est = _figures(lower(unfused_mlp()), 4)
    fit = fit_report(est, PYNQ, synth={"tool": "yosys", "totals": {"LUT": 60000, "FF": 900, "DSP": 3, "BRAM18": 4}})
    assert fit["basis"] == "synth" and not fit["fits"]
    lut = _row(fit, "LUT")
    assert (lut["synth"], lut["estimate"], lut["used"]) == (60000, est["totals"]["lut"], 60000 + PLATFORM_COST["lut"])
    assert _row(fit, "BRAM36")["synth"] == 2 and _row(fit, "BRAM36")["used"] == 2 + PLATFORM_COST["bram36"]
    assert _row(fit, "URAM")["synth"] is None and _row(fit, "URAM")["used"] == 0
    o = fit["overflow"]
    costliest = max((r for r in est["layers"]), key=lambda r: r["lut"])
    assert o["resource"] == "lut" and o["layer"]["name"] == costliest["name"]
    assert "(synthesis)" in fit_error_message(fit)


def test_board_without_ps_has_no_platform_cost():
    arty = load_board("arty-a7-100t")
    est = {"totals": {"lut": 1000, "ff": 1000, "dsp": 241, "bram36": 1, "uram": 0},
           "layers": [{"name": "a", "dsp": 200, "origin": "node_a"}, {"name": "b", "dsp": 41}]}
    fit = fit_report(est, arty)
    assert fit["platform"] is None and _row(fit, "DSP")["used"] == 241
    assert fit["overflow"]["layer"] == {"name": "a", "origin": "node_a", "op": "", "amount": 200}
    assert "layer a (ONNX node 'node_a'): 200 (83 %)" in fit_error_message(fit)


def test_uram_on_a_board_without_uram():
    est = {"totals": {"lut": 10, "ff": 10, "dsp": 0, "bram36": 0, "uram": 4}, "layers": [{"name": "big", "uram": 4}]}
    fit = fit_report(est, PYNQ)
    assert not fit["fits"] and fit["overflow"]["resource"] == "uram"
    assert fit["overflow"]["utilization_percent"] is None
    assert "URAM 4 of 0 (the board has none)" in fit_error_message(fit)


def test_tight_resources_are_flagged():
    lut = int(PYNQ.lut * (TIGHT_PERCENT + 5) / 100) - PLATFORM_COST["lut"]
    fit = fit_report({"totals": {"lut": lut, "ff": 0, "dsp": 0, "bram36": 0, "uram": 0}, "layers": []}, PYNQ)
    assert fit["fits"] and _row(fit, "LUT")["tight"]
    assert any(w.startswith("LUT at 90.0 %") for w in fit["warnings"])


def test_bram_overflow_mentions_uram_when_the_board_has_some():
    zcu104 = load_board("zcu104")
    est = {"totals": {"lut": 1, "ff": 1, "dsp": 0, "bram36": 400, "uram": 0}, "layers": [{"name": "fc", "bram36": 400}]}
    fit = fit_report(est, zcu104)
    assert fit["overflow"]["resource"] == "bram36"
    assert any("96 URAM" in w for w in fit["warnings"])


def test_an_estimate_without_lut_ff_figures_is_reported_as_such():
    """An estimate without LUT/FF figures is reported as not estimated, never as zero."""
    est = _figures(lower(unfused_mlp()), 2)
    for row in (est["totals"], *est["layers"]):
        del row["lut"], row["ff"]
    fit = fit_report(est, PYNQ)
    assert _row(fit, "LUT")["estimate"] is None and _row(fit, "LUT")["used"] is None
    assert _row(fit, "FF")["estimate"] is None and _row(fit, "FF")["used"] is None
    assert _row(fit, "DSP")["estimate"] == est["totals"]["dsp"]
    assert "LUT: no estimate" in fit["warnings"] and "FF: no estimate" in fit["warnings"]


def test_report_markdown_shows_the_fit(tmp_path):
    from fpga_flow.pipeline import BuildOptions
    from fpga_flow.report import build_report, write_report

    graph = lower(unfused_mlp())
    plan = plan_design(graph, 2, PYNQ)
    figures = plan_figures(plan)
    fit = fit_report(figures, PYNQ)
    report = build_report(graph, plan, figures, fit, PYNQ, BuildOptions(parallelism=2), "model.onnx")
    assert report["plan"] == figures and report["fit"] == fit
    write_report(tmp_path, report)
    md = (tmp_path / "report.md").read_text()
    assert "## Fit on pynq-z2" in md
    lut = next(x for x in fit["resources"] if x["resource"] == "LUT")
    assert (f"| LUT | {lut['estimate']} | – | {lut['platform']} | {lut['used']} | 53200 | "
            f"{lut['utilization_percent']:.1f} % | yes | – |") in md


@pytest.mark.parametrize("fits", [True, False])
def test_message_is_empty_exactly_when_it_fits(fits):
    est = {"totals": {"lut": 10, "ff": 10, "dsp": 10 if fits else 1000, "bram36": 0, "uram": 0},
           "layers": [{"name": "fc", "dsp": 10 if fits else 1000}]}
    fit = fit_report(est, PYNQ)
    assert fit["fits"] is fits and (fit_error_message(fit) == "") is fits
