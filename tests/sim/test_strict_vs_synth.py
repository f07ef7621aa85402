"""``--strict`` against synthesis: on a board whose LUTs lie between what yosys gives an MLP at one lane
and at eight lanes (platform share included), the fit check (the plan's estimate, what ``--strict``
decides on) accepts the design yosys says fits and refuses the one yosys says does not: it never
accepts a design that synthesis rejects."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import onnx
import pytest

from fpga_flow.analysis.fit import PLATFORM_COST, fit_report
from fpga_flow.backends.rtl import emit_rtl
from fpga_flow.boards import load_board
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.hw import plan_figures
from fpga_flow.pipeline import load_and_lower, plan
from fpga_flow.sim.synth import run_synth

pytestmark = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")


def test_strict_never_accepts_what_synthesis_rejects(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    onnx.save(sparse_mlp(48, [LayerSpec(30, 0.6), LayerSpec(20, 0.5), LayerSpec(10, 0.5, relu=False, act=None)],
                         seed=4), model)
    graph = load_and_lower(model)
    pynq = load_board("pynq-z2")
    lut = {}
    for p in (1, 8):
        d = tmp_path / f"p{p}"
        emit_rtl(plan(graph, p, pynq), d / "rtl")
        lut[p] = run_synth(d, pynq).counts["lut"]
    assert lut[8] > 1.5 * lut[1]
    # a board with room for the one-lane design and not for the eight-lane one, as yosys counts them
    cap = int(PLATFORM_COST["lut"] + (lut[1] + lut[8]) / 2)
    board = replace(pynq, lut=cap)
    verdict = {p: fit_report(plan_figures(plan(graph, p, board)), board)["fits"] for p in (1, 8)}
    synth_fits = {p: lut[p] + PLATFORM_COST["lut"] <= cap for p in (1, 8)}
    assert synth_fits == {1: True, 8: False}
    for p in (1, 8):
        assert not (verdict[p] and not synth_fits[p]), (p, lut, cap)
    assert verdict == {1: True, 8: False}
