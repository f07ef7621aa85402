"""What ``fpga-flow compress --model FILE.py:FACTORY --data DATA.npz`` reads: the user's model factory
and the data arrays, each failure a :class:`~fpga_flow.errors.FlowError` that says what to fix."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
from torch import nn

from fpga_flow.errors import FlowError

__all__ = ["NPZ_KEYS", "load_factory", "load_npz"]

#: The arrays ``--data`` must hold.
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_factory(spec: str) -> nn.Module:
    """Import ``FILE.py`` of ``spec`` (``FILE.py:FACTORY``) and return ``FACTORY()``, an ``nn.Module``."""
    file, sep, factory = spec.rpartition(":")
    if not sep or not file or not factory.isidentifier():
        raise FlowError(f"--model {spec!r}: expected FILE.py:FACTORY (a Python file and a function in it)")
    path = Path(file)
    if not path.is_file():
        raise FlowError(f"--model: file {path} not found")
    name = f"fpga_flow_user_model_{abs(hash(str(path.resolve())))}"
    mod_spec = importlib.util.spec_from_file_location(name, path)
    if mod_spec is None or mod_spec.loader is None:
        raise FlowError(f"--model: {path} is not a Python file")
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[name] = module  # torch.fx and pickling look classes up by module
    try:
        mod_spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - the user's code can raise anything
        raise FlowError(f"--model: importing {path} failed: {type(e).__name__}: {e}") from None
    fn = getattr(module, factory, None)
    if fn is None or not callable(fn):
        known = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))
        raise FlowError(f"--model: {path} has no function {factory!r} (it defines: {', '.join(known) or 'nothing'})")
    try:
        model = fn()
    except Exception as e:  # noqa: BLE001 - the user's code can raise anything
        raise FlowError(f"--model: {factory}() failed: {type(e).__name__}: {e}") from None
    if not isinstance(model, nn.Module):
        raise FlowError(f"--model: {factory}() returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def load_npz(path: Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((x_train, y_train), (x_test, y_test))`` from the ``.npz`` at ``path``."""
    if not path.is_file():
        raise FlowError(f"--data: file {path} not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in NPZ_KEYS if k not in z.files]
            if missing:
                raise FlowError(f"--data {path}: missing array(s) {', '.join(missing)}; it must hold "
                                f"{', '.join(NPZ_KEYS)} (it holds {', '.join(z.files) or 'nothing'})")
            a = {k: np.asarray(z[k]) for k in NPZ_KEYS}
    except FlowError:
        raise
    except Exception as e:  # noqa: BLE001 - a corrupt or non-npz file
        raise FlowError(f"--data {path}: not a readable .npz file ({type(e).__name__}: {e})") from None
    return (a["x_train"], a["y_train"]), (a["x_test"], a["y_test"])
