"""The one resolver for files that ship with fpga-flow: templates, boards, ap_fixed headers.

In a wheel, ``templates/`` and ``boards/`` are installed as the data packages
``fpga_flow._templates`` / ``fpga_flow._boards`` (see setup.py); in a source checkout they are
the top-level folders. No environment variable is consulted.
"""

from __future__ import annotations

import importlib.resources
from functools import cache
from pathlib import Path

__all__ = ["ap_types_include_dir", "boards_dir", "templates_dir"]

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _data_dir(package: str, folder: str) -> Path:
    try:
        p = Path(str(importlib.resources.files(package)))
        if p.is_dir() and any(p.iterdir()):
            return p
    except (ModuleNotFoundError, TypeError):
        pass
    p = _REPO_ROOT / folder
    if p.is_dir():
        return p
    raise FileNotFoundError(
        f"fpga-flow data folder '{folder}' not found (package {package}); reinstall fpga-flow"
    )


@cache
def templates_dir() -> Path:
    """Folder with the Jinja2 templates and the hand-written HLS/Verilog libraries."""
    return _data_dir("fpga_flow._templates", "templates")


@cache
def boards_dir() -> Path:
    """Folder with one JSON file per board."""
    return _data_dir("fpga_flow._boards", "boards")


@cache
def ap_types_include_dir() -> Path:
    """The ``ap_fixed``/``ap_int`` headers shipped by the installed hls4ml package."""
    import importlib.util

    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the ap_fixed headers come from the hls4ml package: pip install hls4ml==1.3.0 "
            "(make setup does this)"
        )
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "templates" / "vivado" / "ap_types"
        if (p / "ap_fixed.h").is_file():
            return p
    raise FileNotFoundError("hls4ml is installed but ships no templates/vivado/ap_types/ap_fixed.h")
