"""DropPruning: exact final densities, masks held through fine-tuning, the magnitude special case,
weights that come back, reproducibility."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from fpga_flow.compress import CompressConfig, Pruner, TrainSpec, density_schedule, lenet300, train
from fpga_flow.compress.droppruning import DropPruner, DropPruning, drop_round_mask
from fpga_flow.compress.flow import compress_example
from fpga_flow.errors import FlowError

FINAL = {"fc1": 0.1, "fc2": 0.2, "fc3": 0.5}
FT = TrainSpec(epochs=1, lr=1e-3, batch_size=64)


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return lenet300(64, 10)


def _perturb(model, seed: int) -> None:
    """Stand-in for fine-tuning: every kept weight moves a little (pruned weights stay 0)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for lay in model.layers:
            lay.weight.add_(0.3 * lay.weight.std() * torch.randn(lay.weight.shape, generator=g))
            lay.weight.mul_(lay.mask)


def _masks(model) -> dict[str, np.ndarray]:
    return {lay.name: lay.mask.numpy().copy() for lay in model.layers}


def _numpy_top_k(weight: np.ndarray, current: np.ndarray, keep: int) -> np.ndarray:
    """The ``keep`` largest |w| among ``current``: the magnitude rule, written independently."""
    mag = np.where(current, np.abs(weight), -1.0).reshape(-1)
    out = np.zeros(mag.size, dtype=bool)
    out[np.argsort(-mag, kind="stable")[:keep]] = True
    return out.reshape(weight.shape)


@pytest.mark.parametrize("params", [DropPruning(0.5, 0.01), DropPruning(0.2, 0.1), DropPruning(1.0, 0.3),
                                    DropPruning(0.05, 0.0)], ids=["default", "wide", "greedy-back", "tiny-p"])
@pytest.mark.parametrize("steps", [1, 3, 5])
def test_final_masks_reach_exactly_the_target_density(params, steps):
    m = _model()
    drop = DropPruner(Pruner(m), FINAL, steps, params, seed=3)
    for i in range(steps):
        drop.step()
        _perturb(m, i)
    for lay in m.layers:
        assert int(lay.mask.sum()) == round(FINAL[lay.name] * lay.mask.numel()), lay.name
        assert bool((lay.weight[~lay.mask] == 0).all())
    with pytest.raises(RuntimeError):
        drop.step()


def test_intermediate_rounds_are_stochastic_but_never_below_the_final_target():
    m = _model()
    drop = DropPruner(Pruner(m), FINAL, 4, DropPruning(0.3, 0.05), seed=0)
    schedule = density_schedule(FINAL, 4)
    off_schedule = False
    for i in range(4):
        dens = drop.step()
        _perturb(m, i)
        for lay in m.layers:
            n = lay.mask.numel()
            kept = int(lay.mask.sum())
            assert kept >= round(FINAL[lay.name] * n)
            off_schedule |= kept != round((1 - schedule[i].sparsity[lay.name]) * n)
            assert dens[lay.name] == pytest.approx(kept / n)
    assert off_schedule  # p < 1 and q > 0: the rounds do not follow the schedule exactly


def test_pruned_weights_stay_zero_through_fine_tuning(digits):
    m = _model()
    train(m, digits.x_train, digits.y_train, TrainSpec(epochs=2, lr=2e-3, batch_size=64), progress=False)
    pruner = Pruner(m)
    drop = DropPruner(pruner, FINAL, 3, DropPruning(0.5, 0.1), seed=1)
    for i in range(3):
        drop.step()
        masks = _masks(m)
        train(m, digits.x_train, digits.y_train, TrainSpec(epochs=1, lr=0.05, batch_size=64, optimizer="sgd"),
              pruner=pruner, seed=i, progress=False)
        for lay in m.layers:
            np.testing.assert_array_equal(lay.mask.numpy(), masks[lay.name])
            assert bool((lay.weight[~lay.mask] == 0).all()), lay.name
            assert bool((lay.effective_weight()[~lay.mask] == 0).all()), lay.name
    for lay in m.layers:
        assert int(lay.mask.sum()) == round(FINAL[lay.name] * lay.mask.numel())


def test_without_drop_back_and_with_drop_probability_one_it_is_magnitude_pruning(digits):
    """p = 1, q = 0: every round equals the magnitude rule (computed here with numpy on the same
    weights), and the whole fine-tuned run equals the magnitude density schedule's run."""
    steps = 3
    a = _model()
    train(a, digits.x_train, digits.y_train, TrainSpec(epochs=2, lr=2e-3, batch_size=64), progress=False)
    b = lenet300(64, 10)
    b.load_state_dict(a.state_dict())
    pa, pb = Pruner(a), Pruner(b)
    drop = DropPruner(pa, FINAL, steps, DropPruning(drop_away=1.0, drop_back=0.0), seed=123)
    for i, step in enumerate(density_schedule(FINAL, steps)):
        before = {lay.name: (lay.weight.detach().numpy().copy(), lay.mask.numpy().copy()) for lay in a.layers}
        drop.step()
        pb.prune(step)
        for lay in a.layers:
            w, cur = before[lay.name]
            keep = round(FINAL[lay.name] ** ((i + 1) / steps) * w.size)
            np.testing.assert_array_equal(lay.mask.numpy(), _numpy_top_k(w, cur, keep), err_msg=lay.name)
        for la, lb in zip(a.layers, b.layers, strict=True):
            assert torch.equal(la.mask, lb.mask), la.name
        train(a, digits.x_train, digits.y_train, FT, pruner=pa, seed=i, progress=False)
        train(b, digits.x_train, digits.y_train, FT, pruner=pb, seed=i, progress=False)
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert torch.equal(la.mask, lb.mask) and torch.equal(la.weight, lb.weight), la.name


def test_a_pruned_weight_comes_back_with_drop_back(digits):
    m = _model()
    train(m, digits.x_train, digits.y_train, TrainSpec(epochs=2, lr=2e-3, batch_size=64), progress=False)
    pruner = Pruner(m)
    drop = DropPruner(pruner, FINAL, 3, DropPruning(0.5, 0.05), seed=7)
    drop.step()
    train(m, digits.x_train, digits.y_train, FT, pruner=pruner, seed=0, progress=False)
    after1 = _masks(m)
    drop.step()
    back = {lay.name: ~after1[lay.name] & lay.mask.numpy() for lay in m.layers}
    assert sum(int(v.sum()) for v in back.values()) > 0
    assert {k: int(v.sum()) for k, v in back.items()} == {k: r.restored for k, r in drop.history[1].items()}
    train(m, digits.x_train, digits.y_train, FT, pruner=pruner, seed=1, progress=False)
    # the restored weights were 0; fine-tuning moved them: they are really back in the network
    grown = sum(int((lay.weight.detach().numpy()[back[lay.name]] != 0).sum()) for lay in m.layers)
    assert grown > 0
    # and without drop back, nothing ever comes back
    m2 = _model()
    drop2 = DropPruner(Pruner(m2), FINAL, 3, DropPruning(0.5, 0.0), seed=7)
    prev = _masks(m2)
    for i in range(3):
        drop2.step()
        _perturb(m2, i)
        for lay in m2.layers:
            assert not bool((lay.mask.numpy() & ~prev[lay.name]).any())
        prev = _masks(m2)


def test_same_seed_same_masks_other_seed_other_masks():
    def run(seed: int) -> dict[str, np.ndarray]:
        m = _model()
        drop = DropPruner(Pruner(m), FINAL, 3, DropPruning(0.5, 0.05), seed=seed)
        for i in range(3):
            drop.step()
            _perturb(m, i)
        return _masks(m)

    a, b, c = run(5), run(5), run(6)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert any(not np.array_equal(a[k], c[k]) for k in a)


def test_round_mask_counts_on_a_random_tensor():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(40, 50, generator=g)
    cur = torch.rand(40, 50, generator=g) < 0.6
    kept = int(cur.sum())
    mask, st = drop_round_mask(w * cur, cur, 600, 200, DropPruning(0.25, 0.1), torch.Generator().manual_seed(1),
                               final=False)
    assert st.kept == int(mask.sum()) and st.kept == kept - st.dropped + st.restored
    assert st.candidates == min(kept, int(np.ceil((kept + st.restored - 600) / 0.25)))
    assert st.restored > 0 and not bool((mask & ~cur).sum() != st.restored)
    # a dropped weight was a candidate: among the smallest magnitudes of the kept ones
    dropped = cur & ~mask
    kept_mags = np.sort((w * cur).abs()[cur].numpy())
    assert float((w * cur).abs()[dropped].max()) <= kept_mags[st.candidates - 1]
    final, st2 = drop_round_mask(w * cur, cur, 200, 200, DropPruning(0.25, 0.1), torch.Generator().manual_seed(1),
                                 final=True)
    assert int(final.sum()) == 200 and st2.restored == 0 and not bool((final & ~cur).any())


def test_parameters_config_and_cli_option():
    with pytest.raises(ValueError):
        DropPruning(drop_away=0.0)
    with pytest.raises(ValueError):
        DropPruning(drop_back=1.0)
    with pytest.raises(FlowError, match="unknown pruning"):
        CompressConfig(pruning="random")
    with pytest.raises(FlowError, match="final_density"):
        CompressConfig(pruning="drop", prune_quality=(1.0, 1.0, 1.0))
    cfg = CompressConfig(pruning="drop", drop=DropPruning(0.4, 0.02))
    assert cfg.drop.drop_away == 0.4 and cfg.pruning == "drop"
    with pytest.raises(KeyError):
        DropPruner(Pruner(_model()), {"nope": 0.5}, 2)
    from fpga_flow.commands.compress import add_arguments

    p = argparse.ArgumentParser()
    add_arguments(p)
    assert p.parse_args(["-o", "m.onnx", "--pruning", "drop"]).pruning == "drop"
    assert p.parse_args(["-o", "m.onnx"]).pruning == "magnitude"
    with pytest.raises(SystemExit):
        p.parse_args(["-o", "m.onnx", "--pruning", "random"])


def test_flow_with_drop_pruning_reaches_the_preset_densities(digits):
    cfg = replace(CompressConfig.preset("digits", quick=True), pruning="drop", threads=1,
                  dense=TrainSpec(epochs=2, lr=2e-3, batch_size=64))
    lines: list[str] = []
    res = compress_example(digits, cfg, progress=False, log=lines.append)
    for lay, d in zip(res.model.layers, cfg.final_density, strict=True):
        assert int(lay.mask.sum()) == round(d * lay.mask.numel()), lay.name
        assert bool((lay.effective_weight()[~lay.mask] == 0).all())
    assert res.accuracies["pruned"] > 0.5
    assert any(line.startswith("pruned, drop schedule") for line in lines)


def test_cli_pruning_drop(tmp_path, capsys):
    from fpga_flow.cli import main as cli_main

    threads = torch.get_num_threads()
    rc = cli_main(["compress", "--example", "lenet300", "--dataset", "digits", "-o", str(tmp_path / "m.onnx"),
                   "--quick", "--threads", "1", "--no-progress", "--pruning", "drop"])
    torch.set_num_threads(threads)
    assert rc == 0
    assert "pruned, drop schedule" in capsys.readouterr().out
    report = json.loads((tmp_path / "m_report" / "compression_report.json").read_text())
    assert report["bit_exact"]["equal"]
    kept = [lay["density"] for lay in report["layers"]]
    assert kept == pytest.approx(list(CompressConfig.preset("digits", quick=True).final_density), abs=5e-4)
