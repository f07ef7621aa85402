"""The settings of :func:`fpga_flow.compress.compress`: :class:`CompressConfig`, the tuned presets per
example and data set, and the example networks (:func:`build_model`).

Presets (``CompressConfig.preset(dataset, quick, example)``):

* ``lenet300`` (LeNet-300-100): 7 / 15 / 30 % of the weights kept, 5-bit codebooks (Fashion-MNIST);
* ``lenet5`` (LeNet-5): the convolutions kept denser than the linear layers, as in the paper
  (which kept conv1 66 %, conv2 12 %, ip1 8 %, ip2 19 %), 8-bit codebooks on the convolutions
  (10-bit weight types: room for 256 distinct values) and 5-bit codebooks on the linear layers.

``quick`` shortens training (and, on Fashion-MNIST, uses a data subset) for demos and smoke tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from fpga_flow.compress.data import Dataset
from fpga_flow.compress.droppruning import DropPruning
from fpga_flow.compress.model import lenet5, lenet300
from fpga_flow.compress.network import CompressibleNet
from fpga_flow.compress.qat import TypePolicy
from fpga_flow.compress.sensitivity import Sensitivity
from fpga_flow.compress.threads import Threads
from fpga_flow.compress.training import TrainSpec
from fpga_flow.errors import FlowError

__all__ = ["EXAMPLES", "PRUNING", "CompressConfig", "build_model"]

#: The example networks :func:`compress` trains.
EXAMPLES = ("lenet300", "lenet5")
#: The pruning schedules: iterative magnitude pruning (Han et al.) or DropPruning (Jia et al.).
PRUNING = ("magnitude", "drop")


@dataclass(frozen=True)
class CompressConfig:
    """Every knob of :func:`compress`. ``preset()`` gives the tuned settings per example and data set.

    ``example``: ``lenet300`` (``hidden`` sizes) or ``lenet5``. ``final_density``: fraction of
    weights kept per weighted layer (in layer order: 3 for LeNet-300-100, 4 for LeNet-5) after the
    last of ``prune_steps`` rounds (geometric schedule); or ``prune_quality`` (quality x std
    thresholds, linear schedule) instead. ``pruning``: ``"magnitude"`` (those schedules) or ``"drop"``
    (DropPruning, :mod:`fpga_flow.compress.droppruning`, with the parameters ``drop``: the same
    geometric density schedule and the same final densities, rounds that drop low-magnitude weights
    at random and let pruned ones come back; needs ``final_density``). ``codebook_bits``:
    ``K = 2**bits`` shared values, one value for every layer or one per layer. ``train_subset`` /
    ``test_subset`` shrink the data (``--quick``).

    ``sensitivity`` (optional, :class:`~fpga_flow.compress.sensitivity.Sensitivity`): after the
    dense stage, sweep each layer's density alone against the test accuracy (a table and a plot in
    the report); with its ``target_density`` the per-layer densities are chosen from the sweep and
    replace ``final_density`` (the result's config holds the chosen ones).

    ``threads``: torch CPU threads, ``"auto"`` (default: the cores free of other processes, one
    for a model under 1 M MACs per sample, :mod:`fpga_flow.compress.threads`), a count, or ``None``
    (torch's setting). The count changes float summation order: runs with different counts may
    differ in the last bits; a fixed count is deterministic. The result's config holds the count used.
    """

    example: str = "lenet300"
    hidden: tuple[int, ...] = (300, 100)
    seed: int = 0
    dense: TrainSpec = TrainSpec(epochs=20, lr=1e-3)
    final_density: tuple[float, ...] = (0.07, 0.15, 0.3)
    prune_quality: tuple[float, ...] | None = None
    prune_steps: int = 5
    pruning: str = "magnitude"
    drop: DropPruning = DropPruning()
    prune: TrainSpec = TrainSpec(epochs=5, lr=0.05, optimizer="sgd")
    types: TypePolicy = field(default_factory=TypePolicy)
    qat: TrainSpec = TrainSpec(epochs=2, lr=5e-3, optimizer="sgd")
    codebook_bits: int | tuple[int, ...] = 5
    share: TrainSpec = TrainSpec(epochs=3, lr=1e-4)
    train_subset: int | None = None
    test_subset: int | None = None
    calib_samples: int = 10000
    threads: Threads = "auto"
    stimulus_samples: int = 256
    sensitivity: Sensitivity | None = None

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads != "auto" and (
                isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1):
            raise FlowError(f"threads must be 'auto', an integer >= 1 or None, got {self.threads!r}")
        if (self.sensitivity is not None and self.sensitivity.target_density is not None
                and self.prune_quality is not None):
            raise FlowError("a sensitivity target density chooses per-layer densities: give it without "
                            "prune_quality")
        if self.pruning not in PRUNING:
            raise FlowError(f"unknown pruning schedule {self.pruning!r}; known: {', '.join(PRUNING)}")
        if self.pruning == "drop" and self.prune_quality is not None:
            raise FlowError("DropPruning (pruning='drop') follows a density schedule: give final_density, "
                            "not prune_quality")

    @classmethod
    def preset(cls, dataset: str, quick: bool = False, example: str = "lenet300") -> CompressConfig:
        """Settings for ``example`` on ``fashion-mnist`` or ``digits``; ``quick`` trades accuracy for a
        short run."""
        if example == "lenet5":
            return _lenet5_preset(dataset, quick)
        if example != "lenet300":
            raise FlowError(f"unknown example {example!r}; known: {', '.join(EXAMPLES)}")
        if dataset == "digits":
            cfg = cls(
                dense=TrainSpec(epochs=40, lr=2e-3, batch_size=64),
                final_density=(0.15, 0.15, 0.4),
                prune=TrainSpec(epochs=8, lr=1e-3, batch_size=64),
                qat=TrainSpec(epochs=8, lr=2e-4, batch_size=64),
                codebook_bits=4,
                share=TrainSpec(epochs=8, lr=2e-4, batch_size=64),
                calib_samples=2000,
            )
            return _quick(cfg, dense=15, prune=3, qat=2, share=2) if quick else cfg
        if dataset == "fashion-mnist":
            cfg = cls()
            return _quick(cfg, dense=3, subset=True) if quick else cfg
        raise FlowError(f"no preset for data set {dataset!r}")

    @classmethod
    def for_model(cls, quick: bool = False) -> CompressConfig:
        """Settings for the user's own model (``compress(model, train, test, config)``): every weighted
        layer keeps 50 % of its weights (``final_density`` of one value applies to every layer; give
        one per layer, in the model's order, for a per-layer schedule), 8-bit weights, 4-bit codebooks
        on every layer. ``quick``: a few epochs per stage (tests, smoke runs)."""
        cfg = cls(
            example="user",
            dense=TrainSpec(epochs=20, lr=1e-2, batch_size=64),
            final_density=(0.5,),
            prune_steps=3,
            prune=TrainSpec(epochs=4, lr=1e-3, batch_size=64),
            qat=TrainSpec(epochs=4, lr=2e-4, batch_size=64),
            codebook_bits=4,
            share=TrainSpec(epochs=4, lr=2e-4, batch_size=64),
            calib_samples=2000,
        )
        return _quick(cfg, dense=6) if quick else cfg


def _quick(cfg: CompressConfig, dense: int, prune: int = 1, qat: int = 1, share: int = 1,
           subset: bool = False) -> CompressConfig:
    """The ``--quick`` form of a preset: two pruning rounds and these epochs per stage; ``subset``:
    10,000 training and 2,000 test samples (2,000 for calibration)."""
    cfg = replace(cfg, dense=replace(cfg.dense, epochs=dense), prune_steps=2, prune=replace(cfg.prune, epochs=prune),
                  qat=replace(cfg.qat, epochs=qat), share=replace(cfg.share, epochs=share))
    return replace(cfg, train_subset=10000, test_subset=2000, calib_samples=2000) if subset else cfg


def _lenet5_preset(dataset: str, quick: bool) -> CompressConfig:
    """LeNet-5: convolutions kept denser than the linear layers (the paper kept 66 / 12 / 8 / 19 %),
    8-bit codebooks on the convolutions (their weights 10 bits wide, room for 256 distinct values)
    and 5-bit codebooks on the linear layers, as Han et al."""
    types = TypePolicy(layer_weight_width={"conv1": 10, "conv2": 10})
    if dataset == "digits":
        cfg = CompressConfig(
            example="lenet5",
            dense=TrainSpec(epochs=30, lr=2e-3, batch_size=64),
            final_density=(0.66, 0.2, 0.1, 0.3),
            prune_steps=4,
            prune=TrainSpec(epochs=6, lr=1e-3, batch_size=64),
            types=types,
            qat=TrainSpec(epochs=6, lr=2e-4, batch_size=64),
            codebook_bits=(8, 8, 5, 5),
            share=TrainSpec(epochs=6, lr=2e-4, batch_size=64),
            calib_samples=2000,
        )
        return _quick(cfg, dense=8, prune=2) if quick else cfg
    if dataset == "fashion-mnist":
        cfg = CompressConfig(
            example="lenet5",
            dense=TrainSpec(epochs=12, lr=1e-3),
            final_density=(0.66, 0.12, 0.06, 0.19),
            prune_steps=5,
            prune=TrainSpec(epochs=3, lr=0.05, optimizer="sgd"),
            types=types,
            qat=TrainSpec(epochs=2, lr=2e-3, optimizer="sgd"),
            codebook_bits=(8, 8, 5, 5),
            share=TrainSpec(epochs=2, lr=1e-4),
        )
        return _quick(cfg, dense=3, subset=True) if quick else cfg
    raise FlowError(f"no preset for data set {dataset!r}")


def build_model(config: CompressConfig, data: Dataset) -> CompressibleNet:
    """The untrained network of ``config.example`` for ``data`` (its features and classes)."""
    if config.example == "lenet300":
        return lenet300(data.n_features, data.classes, config.hidden)
    if config.example == "lenet5":
        if data.image_shape is None:
            raise FlowError(f"LeNet-5 needs images: data set {data.name!r} has no image shape")
        return lenet5(data.image_shape, data.classes)
    raise FlowError(f"unknown example {config.example!r}; known: {', '.join(EXAMPLES)}")
