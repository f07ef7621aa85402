"""A user's input array: the ``.npy`` file given to ``run``, ``csim``, ``cosim`` and ``build --stimulus``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fpga_flow.errors import FlowError

__all__ = ["load_input"]


def load_input(path: Path, n_features: int) -> np.ndarray:
    """A float64 ``(N, n_features)`` array from the ``.npy`` file ``path``.

    A 1-D array of ``n_features`` values is one sample; trailing dimensions are flattened (an
    ``(N, C, H, W)`` array feeds a model with ``C*H*W`` inputs). Raises
    :class:`~fpga_flow.errors.FlowError` saying what is wrong when the file is missing, is not a
    readable ``.npy``, is not numeric, has the wrong shape or holds NaN or infinity.
    """
    path = Path(path)
    if not path.is_file():
        raise FlowError(f"{path}: no such file")
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - numpy raises several kinds
        raise FlowError(f"{path}: not a readable .npy file ({e})") from None
    if x.dtype.kind not in "fiub":
        raise FlowError(f"{path}: expected a numeric array, got dtype {x.dtype}")
    if x.ndim == 1 and x.size == n_features:
        x = x.reshape(1, -1)
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != n_features:
        raise FlowError(f"{path}: expected shape (N, {n_features}), got {x.shape}")
    x = x.reshape(x.shape[0], -1).astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise FlowError(f"{path}: the input contains NaN or infinity")
    return x
