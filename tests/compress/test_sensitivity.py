"""Per-layer sensitivity: the sweep (one layer pruned at a time), the equal-loss allocation, the CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from fpga_flow.cli import main as cli_main
from fpga_flow.compress import CompressConfig, TrainSpec, compress, lenet300, train
from fpga_flow.compress.sensitivity import (
    DEFAULT_DENSITIES,
    Sensitivity,
    SensitivityTable,
    allocate,
    allocate_densities,
    layer_sensitivity,
    predicted_loss,
)
from fpga_flow.compress.training import evaluate, predict
from fpga_flow.errors import FlowError
from fpga_flow.verify_export import verify_and_report


def _table() -> SensitivityTable:
    """a loses 0.1 at half density, 0.4 at a tenth; b nothing at half, 0.1 at a tenth."""
    return SensitivityTable((1.0, 0.5, 0.1), 0.9, {"a": (0.9, 0.8, 0.5), "b": (0.9, 0.9, 0.8)},
                            {"a": 1000, "b": 1000})


def test_allocation_on_a_hand_made_table_is_exact():
    # level L <= 0.1: a at 1 - 5L, b at 0.5 - 4L (its flat top resolves to 0.5); 1.5 - 9L = 0.8 -> L = 0.7/9
    alloc = allocate(_table(), {"a": 1000, "b": 1000}, 0.4)
    level = 0.7 / 9
    assert alloc.loss_level == pytest.approx(level, abs=1e-5)
    assert dict(alloc.nonzero) == {"a": 611, "b": 189}  # 611.1 and 188.9: the larger remainder rounds up
    assert dict(alloc.densities) == {"a": 0.611, "b": 0.189}
    assert sum(alloc.nonzero.values()) == 800 and alloc.overall == 0.4
    assert alloc.densities["a"] > alloc.densities["b"]  # the more sensitive layer keeps more
    assert alloc.predicted_loss["a"] == pytest.approx(level, abs=1e-3)
    assert alloc.predicted_loss["b"] == pytest.approx(level, abs=1e-3)
    # swapping the curves swaps the densities
    t = _table()
    swapped = SensitivityTable(t.densities, t.baseline, {"a": t.accuracy["b"], "b": t.accuracy["a"]}, t.weights)
    assert allocate_densities(swapped, {"a": 1000, "b": 1000}, 0.4) == {"a": 0.189, "b": 0.611}


@pytest.mark.parametrize("target", [0.021, 0.05, 0.08, 0.15, 0.3, 0.77, 1.0])
def test_allocation_hits_the_target_within_one_weight(target):
    sizes = {"fc1": 19200, "fc2": 30000, "fc3": 1000}
    t = SensitivityTable(DEFAULT_DENSITIES, 0.97, {
        "fc1": (0.97, 0.97, 0.96, 0.95, 0.95, 0.93, 0.90, 0.80, 0.60),
        "fc2": (0.97, 0.975, 0.98, 0.97, 0.97, 0.97, 0.95, 0.93, 0.80),  # better when pruned a little
        "fc3": (0.97, 0.97, 0.95, 0.93, 0.90, 0.80, 0.60, 0.50, 0.20),
    }, sizes)
    alloc = allocate(t, sizes, target)
    total = sum(sizes.values())
    assert abs(sum(alloc.nonzero.values()) - target * total) <= 1
    for n, k in alloc.nonzero.items():
        assert 0.02 * sizes[n] - 1 <= k <= sizes[n] and alloc.densities[n] == k / sizes[n]
    if target < 1.0:
        # fc3 falls fastest, fc2 slowest: fc3 >= fc1 >= fc2 (ties only at the floor or at 1)
        assert alloc.densities["fc3"] >= alloc.densities["fc1"] >= alloc.densities["fc2"]
    # every layer not at a bound of the sweep sits at the common predicted loss
    for n, d in alloc.densities.items():
        if 0.03 < d < 0.99:
            assert predicted_loss(t, n, d) == pytest.approx(alloc.loss_level, abs=2e-3)


def test_predicted_loss_is_the_monotone_envelope():
    t = SensitivityTable((1.0, 0.5, 0.25), 0.9, {"x": (0.9, 0.95, 0.85)}, {"x": 100})
    assert predicted_loss(t, "x", 1.0) == 0.0
    assert predicted_loss(t, "x", 0.5) == pytest.approx(0.0, abs=1e-5)  # improving is no negative loss
    assert predicted_loss(t, "x", 0.25) == pytest.approx(0.05, abs=1e-5)
    assert predicted_loss(t, "x", 0.375) == pytest.approx(0.025, abs=1e-5)
    assert predicted_loss(t, "x", 0.1) == predicted_loss(t, "x", 0.25)  # no extrapolation below the sweep


def test_allocation_refuses_what_the_sweep_cannot_reach():
    with pytest.raises(FlowError, match="lowest swept density"):
        allocate(_table(), {"a": 1000, "b": 1000}, 0.05)
    with pytest.raises(FlowError, match="lowest swept density"):
        Sensitivity(densities=(1.0, 0.5, 0.1), target_density=0.05)
    with pytest.raises(ValueError, match="descending"):
        SensitivityTable((0.5, 1.0), 0.9, {"a": (0.9, 0.9)}, {"a": 10})


@pytest.fixture(scope="module")
def trained_digits(digits):
    torch.manual_seed(0)
    m = lenet300(64, 10, hidden=(64, 32))
    train(m, digits.x_train, digits.y_train, TrainSpec(epochs=8, lr=3e-3, batch_size=64), progress=False)
    return m


def test_sweep_on_digits_has_the_expected_shape(trained_digits, digits):
    m = trained_digits
    before = predict(m, digits.x_test)
    seen: list[dict[str, int]] = []

    def eval_fn() -> float:
        seen.append({lay.name: int(lay.mask.sum()) for lay in m.layers})
        return evaluate(m, digits.x_test, digits.y_test)

    table = layer_sensitivity(m, None, eval_fn, DEFAULT_DENSITIES)
    assert table.layers == ["fc1", "fc2", "fc3"] and table.densities == DEFAULT_DENSITIES
    sizes = {lay.name: lay.weight.numel() for lay in m.layers}
    assert dict(table.weights) == sizes
    # one evaluation dense, then per layer and density exactly round(d x n) weights of that layer kept
    assert len(seen) == 1 + 3 * len(DEFAULT_DENSITIES) and seen[0] == sizes
    it = iter(seen[1:])
    for name in table.layers:
        for d in DEFAULT_DENSITIES:
            kept = next(it)
            assert kept == {n: (round(d * sizes[n]) if n == name else sizes[n]) for n in sizes}
    for accs in table.accuracy.values():
        assert accs[0] == table.baseline  # 100 % kept is the unpruned model
        assert accs[-1] < table.baseline - 0.05  # 2 % of one layer hurts
        assert min(accs[:3]) > table.baseline - 0.05  # 60 % and more barely does
        assert accs[-1] <= min(accs[:5])  # monotone-ish: the sparsest is the worst region
    # the model is unchanged: masks dense again, outputs bit for bit
    assert all(bool(lay.mask.all()) for lay in m.layers)
    np.testing.assert_array_equal(predict(m, digits.x_test), before)


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc1 = nn.Linear(4 * 6 * 6, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(torch.relu(self.conv(x)).flatten(1))))


def test_user_model_with_a_target_density(digits):
    torch.manual_seed(0)
    cfg = CompressConfig.for_model(quick=True)
    cfg = replace(cfg, dense=replace(cfg.dense, epochs=4), threads=1,
                  sensitivity=Sensitivity(target_density=0.3))
    x_tr, x_te = digits.x_train.reshape(-1, 1, 8, 8), digits.x_test.reshape(-1, 1, 8, 8)
    res = verify_and_report(compress(Small(), (x_tr, digits.y_train), (x_te, digits.y_test), cfg))
    sens = res.sensitivity
    assert sens is not None and sens.table is not None and sens.allocation is not None
    assert sens.replaced == (0.5, 0.5, 0.5)  # for_model's densities, replaced
    names = [lay.name for lay in res.model.layers]
    assert res.config.final_density == tuple(sens.allocation.densities[n] for n in names)
    kept = {lay["name"]: lay["nonzero"] for lay in res.report["layers"]}
    assert kept == dict(sens.allocation.nonzero)  # pruning kept exactly the allocated counts
    total = sum(lay["weights"] for lay in res.report["layers"])
    assert abs(sum(kept.values()) - 0.3 * total) <= 1
    assert res.report["sensitivity"]["allocation"]["nonzero"] == kept and res.report["threads"] == 1


@pytest.fixture(scope="module")
def cli_sensitivity(tmp_path_factory):
    out = tmp_path_factory.mktemp("sens")
    threads = torch.get_num_threads()
    rc = cli_main(["compress", "--example", "lenet300", "--dataset", "digits", "-o", str(out / "m.onnx"), "--quick",
                   "--threads", "1", "--no-progress", "--target-density", "0.12"])
    torch.set_num_threads(threads)
    return rc, out / "m_report"


def test_cli_target_density_end_to_end(cli_sensitivity):
    rc, rep_dir = cli_sensitivity
    assert rc == 0
    r = json.loads((rep_dir / "compression_report.json").read_text())
    s = r["sensitivity"]
    t, alloc = s["table"], s["allocation"]
    assert list(t["layers"]) == ["fc1", "fc2", "fc3"] and t["densities"] == list(DEFAULT_DENSITIES)
    kept = {lay["name"]: lay["nonzero"] for lay in r["layers"]}
    assert kept == alloc["nonzero"]
    total = sum(lay["weights"] for lay in r["layers"])
    assert sum(kept.values()) == round(0.12 * total) and r["density"] == pytest.approx(0.12, abs=1 / total)
    assert r["config"]["final_density"] == [alloc["densities"][n] for n in ("fc1", "fc2", "fc3")]
    assert s["replaced_densities"] == [0.15, 0.15, 0.4]  # the digits preset's
    assert r["config"]["sensitivity"] == {"densities": list(DEFAULT_DENSITIES), "target_density": 0.12}
    # the fc3 layer (1000 weights, 10 outputs) falls fastest in this sweep and keeps the most
    order = sorted(kept, key=lambda n: alloc["densities"][n])
    at2 = {n: t["layers"][n]["accuracy"][-1] for n in kept}
    assert order[-1] == min(at2, key=at2.get)
    md = (rep_dir / "compression_report.md").read_text()
    assert "## Per-layer pruning sensitivity" in md and "replace the preset's per-layer densities" in md
    assert "(15%, 15%, 40%)" in md and "![sensitivity](sensitivity.png)" in md
    for n in kept:
        row = next(line for line in md.splitlines() if line.startswith(f"| {n} | {t['layers'][n]['weights']} |"))
        assert row.count("|") == 3 + len(DEFAULT_DENSITIES)
    png = rep_dir / "sensitivity.png"
    assert str(png) in r["plots"] and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert r["threads"] == 1 and "sensitivity" in r["timings_s"]


def test_cli_sensitivity_flag_errors(tmp_path, capsys):
    base = ["compress", "--dataset", "digits", "-o", str(tmp_path / "m.onnx"), "--no-progress"]
    assert cli_main([*base, "--target-density", "0.1", "--density", "0.1", "0.1", "0.1"]) != 0
    assert "not both" in capsys.readouterr().err
    assert math.isclose(min(DEFAULT_DENSITIES), 0.02)
    assert cli_main([*base, "--target-density", "0.01"]) != 0
    assert "lowest swept density 0.02" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
