"""Shared fixtures: a small LeNet-300-100 trained on scikit-learn's digits (seconds, one CPU thread)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fpga_flow.compress import (  # noqa: E402
    Pruner,
    TrainSpec,
    density_schedule,
    lenet300,
    load_digits,
    quantize_model,
    train,
)
from fpga_flow.compress.prune import prune_steps_from  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def digits():
    return load_digits()


@pytest.fixture(scope="session")
def pruned_state(digits):
    """State dict of a dense-trained then pruned (20/20/50% kept) digits LeNet-300-100."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    m = lenet300(64, 10)
    train(m, digits.x_train, digits.y_train, TrainSpec(epochs=6, lr=2e-3, batch_size=64), progress=False)
    pruner = Pruner(m)
    for i, step in enumerate(density_schedule(prune_steps_from(m, [0.2, 0.2, 0.5]), 2)):
        pruner.prune(step)
        train(m, digits.x_train, digits.y_train, TrainSpec(epochs=2, lr=1e-3, batch_size=64), pruner=pruner,
              seed=i, progress=False)
    return {k: v.clone() for k, v in m.state_dict().items()}


@pytest.fixture
def pruned_model(pruned_state):
    m = lenet300(64, 10)
    m.load_state_dict(pruned_state)
    return m


@pytest.fixture
def quantized_model(pruned_model, digits):
    quantize_model(pruned_model, digits.x_train)
    return pruned_model


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)
