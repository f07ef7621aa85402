"""``threads="auto"``: the count from the free cores and the model size; forced counts; MACs per sample."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
import torch
from torch import nn

from fpga_flow.compress import CompressConfig, compress, lenet5, lenet300
from fpga_flow.compress.threads import SMALL_MODEL_MACS, busy_cores, choose_threads, macs_per_sample
from fpga_flow.compress.training import TrainSpec, TrainStats, train
from fpga_flow.errors import FlowError


def test_macs_per_sample_counts_linear_and_conv_exactly():
    assert macs_per_sample(lenet300(784, 10), (784,)) == 784 * 300 + 300 * 100 + 100 * 10
    # LeNet-5 on 28x28: conv1 20x24x24 outputs of 25 products, conv2 50x8x8 of 500, fc1 800 -> 500, fc2
    m5 = lenet5((1, 28, 28), 10)
    assert macs_per_sample(m5, (1, 28, 28)) == 20 * 24 * 24 * 25 + 50 * 8 * 8 * 500 + 800 * 500 + 500 * 10
    user = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    user.train()
    assert macs_per_sample(user, (1, 8, 8)) == 4 * 8 * 8 * 9 + 256 * 10
    assert user.training  # the probe restores the mode


def test_choose_threads_rules():
    cores = len(os.sched_getaffinity(0))
    assert choose_threads(3).threads == 3 and choose_threads(3).reason == "forced"
    assert choose_threads("auto", macs=SMALL_MODEL_MACS - 1, busy=0.0).threads == 1
    assert choose_threads("auto", macs=SMALL_MODEL_MACS, busy=0.0).threads == cores
    assert choose_threads("auto", macs=10**8, busy=float(cores)).threads == 1  # never 0
    if cores >= 2:
        assert choose_threads("auto", macs=10**8, busy=0.8).threads == cores - 1  # a core 80 % taken is not free
        assert choose_threads("auto", macs=10**8, busy=0.2).threads == cores  # 20 % taken still counts as free
    assert choose_threads(None).threads == torch.get_num_threads()
    for bad in (0, -1, True, "2"):
        with pytest.raises(ValueError, match="auto"):
            choose_threads(bad)  # type: ignore[arg-type]
    with pytest.raises(FlowError, match="threads must be"):
        CompressConfig(threads=0)


def test_busy_cores_is_a_plausible_load():
    b = busy_cores(0.05)
    assert 0.0 <= b <= len(os.sched_getaffinity(0)) + 0.5


def test_auto_threads_recorded_and_small_model_uses_one(digits):
    before = torch.get_num_threads()
    logs: list[str] = []
    cfg = CompressConfig.preset("digits", quick=True)
    assert cfg.threads == "auto"
    cfg = replace(cfg, dense=replace(cfg.dense, epochs=1), prune_steps=1)
    res = compress(digits, cfg, progress=False, log=logs.append)
    torch.set_num_threads(before)
    assert res.config.threads == 1  # LeNet-300-100 on digits: 0.05 M MACs per sample
    assert logs[0] == "torch threads: 1 (auto: 0.05 M MACs per sample < 1 M, one thread)"
    assert "samples/s" in logs[1] and logs[1].startswith("dense float32")


def test_train_stats_count_samples(digits):
    stats = TrainStats()
    m = lenet300(64, 10, hidden=(16, 8))
    train(m, digits.x_train, digits.y_train, TrainSpec(epochs=2, lr=1e-3, batch_size=500), progress=False,
          stats=stats)
    assert stats.samples == 2 * digits.x_train.shape[0] and stats.seconds > 0 and stats.rate > 0
    assert stats.text().endswith(" samples/s")
