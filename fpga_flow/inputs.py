"""A user's arrays: the ``.npy`` file given to ``run``, ``csim``, ``cosim`` and ``build --stimulus``,
the sample count of ``build --samples`` and the ``.npy`` those commands write (``--output``).

Every problem is a :class:`~fpga_flow.errors.FlowError` that names the file (or the option) and
says what is expected, so the command line prints one line and exits with status 2.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from fpga_flow.errors import FlowError

__all__ = ["check_output_path", "check_sample_count", "load_input", "save_output"]

#: The first bytes of every ``.npy`` file.
_NPY_MAGIC = b"\x93NUMPY"


def _check_readable_file(path: Path) -> None:
    if path.is_dir():
        raise FlowError(f"{path}: is a folder, not a .npy file")
    if not path.exists():
        raise FlowError(f"{path}: no such file")
    if not path.is_file():
        raise FlowError(f"{path}: not a regular file; give a .npy file written by numpy.save")
    try:
        with path.open("rb") as f:
            head = f.read(len(_NPY_MAGIC))
    except OSError as e:
        raise FlowError(f"{path}: cannot be read ({e.strerror or e})") from None
    if not head:
        raise FlowError(f"{path}: the file is empty; give a .npy file written by numpy.save")
    if zipfile.is_zipfile(path):
        raise FlowError(f"{path}: a .npz archive holds several arrays; save the one input array with "
                        "numpy.save(path, x) as .npy")
    if head != _NPY_MAGIC:
        raise FlowError(f"{path}: not a .npy file (it does not start with the .npy header); "
                        "write it with numpy.save")


def load_input(path: Path, n_features: int) -> np.ndarray:
    """A float64 ``(N, n_features)`` array, ``N >= 1``, from the ``.npy`` file ``path``.

    A 1-D array of ``n_features`` values is one sample; trailing dimensions are flattened (an
    ``(N, C, H, W)`` array feeds a model with ``C*H*W`` inputs). Raises
    :class:`~fpga_flow.errors.FlowError` saying what is wrong when the path is missing or a folder,
    the file is empty, a ``.npz`` archive or not a readable ``.npy``, is not numeric, holds a single
    value or no sample, has the wrong shape or holds NaN or infinity.
    """
    path = Path(path)
    _check_readable_file(path)
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - numpy raises several kinds
        raise FlowError(f"{path}: not a readable .npy file ({e})") from None
    if not isinstance(x, np.ndarray):
        raise FlowError(f"{path}: not a single array; save the input with numpy.save(path, x)")
    if x.dtype.kind not in "fiub":
        raise FlowError(f"{path}: expected a numeric array, got dtype {x.dtype}")
    if x.ndim == 0:
        raise FlowError(f"{path}: holds a single number (a 0-d array); expected shape (N, {n_features})")
    if x.ndim == 1 and x.size == n_features:
        x = x.reshape(1, -1)
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != n_features:
        raise FlowError(f"{path}: expected shape (N, {n_features}), got {x.shape}")
    if x.shape[0] == 0:
        raise FlowError(f"{path}: holds no sample (shape {x.shape}); give at least one sample")
    x = x.reshape(x.shape[0], -1).astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise FlowError(f"{path}: the input contains NaN or infinity")
    return x


def check_sample_count(n: int, option: str = "--samples") -> int:
    """``n`` when it is a usable number of stimulus samples (at least 1), else a FlowError naming ``option``."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise FlowError(f"{option} must be at least 1 (the testbenches need a sample), got {n}")
    return int(n)


def check_output_path(path: Path, option: str = "--output") -> Path:
    """``path`` when an output ``.npy`` can be written there; checked before any long computation.

    A folder, a path whose parent is a file, or a parent that cannot be created is a FlowError
    naming ``option``. The parent folder is not created here (:func:`save_output` does it)."""
    path = Path(path)
    if path.is_dir():
        raise FlowError(f"{option} {path}: is a folder; give a file name such as {path / 'y.npy'}")
    if path.exists() and not path.is_file():
        raise FlowError(f"{option} {path}: not a regular file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise FlowError(f"{option} {path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise FlowError(f"{option} {path}: {parent} is not writable")
            break
    return path


def save_output(path: Path, array: np.ndarray, option: str = "--output") -> Path:
    """Write ``array`` to exactly ``path`` as ``.npy`` (no suffix added), atomically: into a temporary
    sibling first, renamed into place; nothing is left behind when writing fails."""
    path = check_output_path(path, option)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FlowError(f"{option} {path}: cannot create {path.parent} ({e.strerror or e})") from None
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("wb") as f:
            np.save(f, array, allow_pickle=False)
        tmp.replace(path)
    except OSError as e:
        raise FlowError(f"{option} {path}: cannot be written ({e.strerror or e})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path
