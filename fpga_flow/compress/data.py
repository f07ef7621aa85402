"""Data sets for the compression examples (no torch here).

* ``fashion-mnist``: Zalando's Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package
  (``/usr/share/datasets/fashion-mnist/``, the original gzipped IDX files). 60000 training and
  10000 test images of 28x28 = 784 pixels (image shape ``(1, 28, 28)``).
* ``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images, 64 pixels), split
  80/20 with a fixed seed; small enough for tests that run in seconds (image shape ``(1, 8, 8)``).

Pixels are scaled to ``[0, 1)`` by powers of two (``p / 256`` for 8-bit pixels, ``p / 16`` for
the digits' 0..16 levels), so the inputs are float32 values that an unsigned fixed-point input
type of 8 bits holds exactly: the input quantization loses nothing.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fpga_flow.errors import FlowError

__all__ = ["DATASETS", "FASHION_MNIST_DIR", "Dataset", "load_dataset", "load_digits", "load_fashion_mnist"]

#: Where Debian's dataset-fashion-mnist package installs the files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

DATASETS = ("fashion-mnist", "digits")


@dataclass(frozen=True)
class Dataset:
    """Training and test arrays: ``x_*`` float32 ``(N, features)``, ``y_*`` int64 labels.

    ``image_shape`` ``(C, H, W)``: what a sample's features are, in row-major (NCHW) order
    (``x.reshape(N, *image_shape)`` gives the images a convolutional network reads); ``None`` for
    plain feature vectors.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int = 10
    image_shape: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        if self.image_shape is not None and int(np.prod(self.image_shape)) != self.x_train.shape[1]:
            raise ValueError(f"image shape {self.image_shape} does not hold {self.x_train.shape[1]} features")

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def subset(self, n_train: int | None = None, n_test: int | None = None, seed: int = 0) -> Dataset:
        """A smaller data set (random training subset, first ``n_test`` test samples)."""
        xt, yt = self.x_train, self.y_train
        if n_train is not None and n_train < xt.shape[0]:
            idx = np.sort(np.random.default_rng(seed).permutation(xt.shape[0])[:n_train])
            xt, yt = xt[idx], yt[idx]
        xs, ys = self.x_test, self.y_test
        if n_test is not None:
            xs, ys = xs[:n_test], ys[:n_test]
        return Dataset(self.name, xt, yt, xs, ys, self.classes, self.image_shape)


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise FlowError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise FlowError(f"{path}: truncated IDX file ({data.size} bytes for shape {dims})")
    return data.reshape(dims)


def load_fashion_mnist(root: str | Path = FASHION_MNIST_DIR) -> Dataset:
    """Fashion-MNIST from ``root`` (the Debian package's directory by default)."""
    root = Path(root)
    files = {
        "x_train": "train-images-idx3-ubyte.gz",
        "y_train": "train-labels-idx1-ubyte.gz",
        "x_test": "t10k-images-idx3-ubyte.gz",
        "y_test": "t10k-labels-idx1-ubyte.gz",
    }
    missing = [name for name in files.values() if not (root / name).is_file()]
    if missing:
        raise FlowError(
            f"Fashion-MNIST not found in {root} (missing {', '.join(missing)}); install it with "
            "'apt-get install dataset-fashion-mnist' (as root) or 'make setup'"
        )
    arr = {k: _read_idx(root / v) for k, v in files.items()}
    x_train = (arr["x_train"].reshape(arr["x_train"].shape[0], -1).astype(np.float32) / np.float32(256))
    x_test = (arr["x_test"].reshape(arr["x_test"].shape[0], -1).astype(np.float32) / np.float32(256))
    return Dataset(
        "fashion-mnist", x_train, arr["y_train"].astype(np.int64), x_test, arr["y_test"].astype(np.int64),
        image_shape=(1, 28, 28),
    )


def load_digits(seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """scikit-learn's 8x8 digits, pixels ``p / 16``, a seeded stratification-free 80/20 split."""
    try:
        from sklearn.datasets import load_digits as _sk_digits
    except ImportError:  # pragma: no cover - sklearn is in the compress extra
        raise FlowError("the digits data set needs scikit-learn: pip install 'fpga-flow[compress]'") from None
    d = _sk_digits()
    x = (d.data.astype(np.float32) / np.float32(16)).astype(np.float32)
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(x.shape[0])
    n_test = int(round(test_fraction * x.shape[0]))
    te, tr = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    return Dataset("digits", x[tr], y[tr], x[te], y[te], image_shape=(1, 8, 8))


def load_dataset(name: str) -> Dataset:
    """``fashion-mnist`` or ``digits`` (raises :class:`~fpga_flow.errors.FlowError` otherwise)."""
    if name == "fashion-mnist":
        return load_fashion_mnist()
    if name == "digits":
        return load_digits()
    raise FlowError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
