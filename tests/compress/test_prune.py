"""Magnitude pruning: exact target counts, quality x std thresholds, masks that survive fine-tuning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fpga_flow.compress import (
    Pruner,
    PruneStep,
    TrainSpec,
    density_schedule,
    lenet300,
    magnitude_mask,
    quality_schedule,
    train,
)


def test_target_sparsity_keeps_exactly_the_largest_magnitudes():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(50, 40, generator=g)
    mask = magnitude_mask(w, sparsity=0.9)
    assert int(mask.sum()) == 200
    assert w.abs()[mask].min() >= w.abs()[~mask].max()
    # a later round never revives a pruned weight, even one that grew
    w2 = w.clone()
    w2[~mask] = 100.0
    mask2 = magnitude_mask(w2, sparsity=0.95, current=mask)
    assert int(mask2.sum()) == 100
    assert not bool((mask2 & ~mask).any())


def test_quality_threshold_is_quality_times_std():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(30, 30, generator=g)
    mask = magnitude_mask(w, quality=1.5)
    thr = 1.5 * float(w.std())
    np.testing.assert_array_equal(mask.numpy(), (w.abs() > thr).numpy())


def test_schedules():
    steps = density_schedule({"fc1": 0.01, "fc2": 0.25}, 2)
    assert [round(1 - s.sparsity["fc1"], 6) for s in steps] == [0.1, 0.01]
    assert [round(1 - s.sparsity["fc2"], 6) for s in steps] == [0.5, 0.25]
    q = quality_schedule({"fc1": 2.0}, 4)
    assert [s.quality["fc1"] for s in q] == [0.5, 1.0, 1.5, 2.0]
    with pytest.raises(ValueError):
        PruneStep()


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
        lambda p: torch.optim.Adam(p, lr=1e-2),
        lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
    ],
    ids=["sgd-momentum", "sgd-nesterov-wd", "adam", "adamw"],
)
def test_masks_survive_fine_tuning_with_momentum(digits, make_opt):
    torch.manual_seed(0)
    m = lenet300(64, 10)
    opt = make_opt(m.trainable_parameters())
    # build up momentum / Adam moments on every weight first
    train(m, digits.x_train[:512], digits.y_train[:512], TrainSpec(epochs=1, lr=0.05, batch_size=64),
          optimizer=opt, progress=False)
    assert all(len(opt.state[lay.weight]) > 0 for lay in m.layers)
    pruner = Pruner(m)
    dens = pruner.prune(PruneStep(sparsity={"fc1": 0.9, "fc2": 0.8, "fc3": 0.5}), opt)
    assert dens == pytest.approx({"fc1": 0.1, "fc2": 0.2, "fc3": 0.5}, abs=1e-3)
    masks = {lay.name: lay.mask.clone() for lay in m.layers}
    train(m, digits.x_train, digits.y_train, TrainSpec(epochs=2, lr=0.05, batch_size=64), pruner=pruner,
          optimizer=opt, progress=False)
    for lay in m.layers:
        assert torch.equal(lay.mask, masks[lay.name])
        assert bool((lay.weight[~lay.mask] == 0).all()), lay.name
        assert bool((lay.weight[lay.mask] != 0).any())
        for v in opt.state[lay.weight].values():
            if isinstance(v, torch.Tensor) and v.shape == lay.weight.shape:
                assert bool((v[~lay.mask] == 0).all()), lay.name


def test_pruned_weights_get_no_gradient(pruned_model, digits):
    x = torch.as_tensor(digits.x_train[:64])
    loss = torch.nn.functional.cross_entropy(pruned_model(x), torch.as_tensor(digits.y_train[:64]))
    loss.backward()
    for lay in pruned_model.layers:
        assert bool((lay.weight.grad[~lay.mask] == 0).all())
        assert 0 < lay.density() < 1
