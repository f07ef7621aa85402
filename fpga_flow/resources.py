"""The one resolver for files that ship with fpga-flow: templates, boards, ap_fixed headers.

In a wheel, ``templates/`` and ``boards/`` are installed as the data packages
``fpga_flow._templates`` / ``fpga_flow._boards`` (see setup.py); in a source checkout they are
the top-level folders. No environment variable is consulted.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

__all__ = ["ap_types_include_dir", "boards_dir", "templates_dir"]

_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_ROOT = _PACKAGE_DIR.parent


def _data_dir(package_dir: str, folder: str) -> Path:
    installed = _PACKAGE_DIR / package_dir  # wheel install: fpga_flow/_templates, fpga_flow/_boards
    if installed.is_dir():
        return installed
    checkout = _REPO_ROOT / folder  # source checkout or editable install
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"fpga-flow data folder '{folder}' not found (looked in {installed}); reinstall fpga-flow")


@cache
def templates_dir() -> Path:
    """Folder with the Jinja2 templates and the hand-written HLS/Verilog libraries."""
    return _data_dir("_templates", "templates")


@cache
def boards_dir() -> Path:
    """Folder with one JSON file per board."""
    return _data_dir("_boards", "boards")


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
