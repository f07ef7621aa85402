"""Where skipping pays (fpga_flow/hw/skip_choice.py) and ``--skip-zeros auto`` after the automatic
folding (:func:`fpga_flow.pipeline.choose_skipping` without lanes).

The per-sample interval of a design is checked on an all-zero sample, whose skipping stages cost
exactly their scan, one drain cycle and the output phase (``scan + slots + 4``, the engine's own
figure, counted here from the plan's geometry); the choice is checked structurally: on a board
with three DSPs and inputs 90 % zero the folded design keeps its lanes, the chosen design fits,
its expected II is below the lock-step one, dropping any chosen layer makes it slower and adding
any other layer does not make it faster; where the lock-step design is faster (the same model on
the PYNQ-Z2), or meets a target, nothing skips and the folding says so."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest

from fpga_flow.boards import load_board
from fpga_flow.cli import main
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.hw import plan_design
from fpga_flow.hw.folding import over_budget
from fpga_flow.hw.skip_choice import expected_ii, sample_intervals
from fpga_flow.pipeline import choose_skipping, folding_budget, load_and_lower, plan

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hw_tests"))
from rtl_models import make_graph  # noqa: E402

FC = frozenset({"fc0_matmul", "fc1_matmul", "fc2_matmul"})


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("m") / "model.onnx"
    onnx.save(sparse_mlp(48, [LayerSpec(30, codebook_bits=3), LayerSpec(20), LayerSpec(10, relu=False, act=None)],
                         seed=2), p)
    return p


def _sparse_inputs(n: int, zeros: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, size=(n, 48))
    x[rng.random(x.shape) < zeros] = 0.0
    return x


def test_interval_of_an_all_zero_sample_is_the_slowest_fixed_stage() -> None:
    g = make_graph("mlp3")
    d = plan_design(g, {"out": 3, "fc2": 2, "fc3": 1}, skip=frozenset({"fc2"}))
    vals = g.execute(np.zeros((2, g.inputs[0].size)))
    k = d.layer("fc2").skip
    assert k is not None
    idle = k.scan + k.slots + 4  # scan, drain, output phase and the commit
    fixed = [d.in_stream.cycles.ii, d.out_stream.cycles.ii, d.layer("out").cycles.ii, d.layer("fc3").cycles.ii]
    assert list(sample_intervals(d, vals)) == [max(*fixed, idle)] * 2
    assert idle < k.worst


@pytest.mark.parametrize("dsp", [3, 4])
def test_auto_after_folding_skips_where_it_pays_and_fits(model_file, dsp: int) -> None:
    g = load_and_lower(model_file, None)
    board = replace(load_board("pynq-z2"), dsp=dsp)
    x = _sparse_inputs(16, 0.9, dsp)
    vals = g.execute(x)
    lock = plan(g, None, board)
    d = choose_skipping(g, None, board, x)
    assert d.folding is not None and lock.folding is not None
    assert d.folding.lanes == lock.folding.lanes
    assert {p.name: p.lanes for p in d.hardware_layers} == {p.name: p.lanes for p in lock.hardware_layers}
    chosen = frozenset(p.name for p in d.hardware_layers if p.skip is not None)
    assert chosen and chosen <= FC
    budget = folding_budget(board)
    assert not over_budget(d.cost, budget)
    e = expected_ii(d, vals)
    assert e < lock.ii == expected_ii(lock, vals)
    lanes = dict(lock.folding.lanes)
    for n in chosen:
        assert expected_ii(plan_design(g, lanes, board, skip=chosen - {n}), vals) > e, n
    for n in FC - chosen:
        more = plan_design(g, lanes, board, skip=chosen | {n})
        assert over_budget(more.cost, budget) or expected_ii(more, vals) >= e, n
    assert d.ii >= lock.ii  # the guaranteed figure never improves
    assert ", ".join(sorted(chosen)) in d.folding.sparsity and f"{e:.1f}" in d.folding.sparsity


def test_auto_after_folding_keeps_lock_step_where_it_is_faster(model_file, tmp_path, capsys) -> None:
    x = _sparse_inputs(16, 0.7, 6)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "o"
    assert main(["build", str(model_file), "-o", str(out), "--skip-zeros", "auto", "--stimulus",
                 str(tmp_path / "x.npy")]) == 0
    text = capsys.readouterr().out
    folding = json.loads((out / "report.json").read_text())["plan"]["folding"]
    assert folding["sparsity"].startswith("no layer skips zero activations")
    assert folding["sparsity"] in text
    assert "skipping" not in json.loads((out / "report.json").read_text())["plan"]
    g = load_and_lower(model_file, None)
    lock = plan(g, None, load_board("pynq-z2"))
    assert lock.folding is not None and folding["lanes"] == dict(lock.folding.lanes)
    for n in FC:  # every layer alone would be slower than the lock-step design
        d = plan_design(g, dict(lock.folding.lanes), load_board("pynq-z2"), skip=frozenset({n}))
        assert expected_ii(d, g.execute(x)) >= lock.ii


def test_auto_after_folding_to_a_met_target_skips_nothing(model_file) -> None:
    g = load_and_lower(model_file, None)
    board = replace(load_board("pynq-z2"), dsp=3)
    d = choose_skipping(g, None, board, _sparse_inputs(8, 0.9, 1), target_ii=400)
    assert d.folding is not None and d.folding.bound == "target"
    assert all(p.skip is None for p in d.hardware_layers)
    assert "meets the target" in d.folding.sparsity
