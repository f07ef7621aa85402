"""Graphs, the stubbed-Tcl runner and the driver loader shared by the board backend tests."""

from __future__ import annotations

import importlib.util
import itertools
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from fpga_flow.backends.board import DRIVER_PACKAGE, HLS_PROJECT, HLS_SOLUTION
from fpga_flow.ir import Graph
from fpga_flow.pipeline import lower
from tests.graphs import unfused_mlp

STUB = Path(__file__).with_name("stub_vivado.tcl")
ZYNQ_BOARDS = ("pynq-z2", "ultra96-v2", "zcu104", "zcu102", "kv260")
OTHER_BOARDS = ("alveo-u250", "arty-a7-100t")

_counter = itertools.count()


def mlp() -> Graph:
    """32 -> 20 -> 12 -> 6, 8-bit input (64-bit beats), 18-bit output (56-bit beats: padded to 64)."""
    return lower(unfused_mlp(seed=3))


def narrow_io() -> Graph:
    """3 inputs (24-bit beats: the DMA's 32-bit words are truncated) -> 5 -> 2 outputs."""
    return lower(unfused_mlp(seed=4, sizes=(3, 5, 2)))


def tclsh() -> str:
    exe = shutil.which("tclsh")
    if exe is None:
        pytest.skip("tclsh is not installed (apt-get install tcl; make setup does it)")
    return exe


def run_tcl(
    script: Path, *args: str, env: dict | None = None, cwd: Path | None = None
) -> tuple[int, str, list[list[str]]]:
    """Source ``script`` under the Vivado stubs; returns (exit code, stderr, calls as lists of words)."""
    calls = script.parent / f".calls-{script.stem}-{next(_counter)}.txt"
    proc = subprocess.run([tclsh(), str(STUB), str(script), str(calls), *args], capture_output=True, text=True,
                          env=env, cwd=cwd or script.parent, timeout=60)
    recorded = [line.split("\x1f") for line in calls.read_text().splitlines()] if calls.exists() else []
    calls.unlink(missing_ok=True)
    return proc.returncode, proc.stderr, recorded


def fake_hls_ip(root: Path) -> Path:
    """What ``make ip`` leaves behind: the exported IP's component.xml."""
    xml = root / "hls" / HLS_PROJECT / HLS_SOLUTION / "impl" / "ip" / "component.xml"
    xml.parent.mkdir(parents=True, exist_ok=True)
    xml.write_text("<component/>\n")
    return xml


def load_driver(root: Path) -> ModuleType:
    """Import ``root/driver/fpga_flow_driver`` under a unique name (no sys.path changes)."""
    pkg = root / "driver" / DRIVER_PACKAGE
    name = f"_ffdriver_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, pkg / "__init__.py", submodule_search_locations=[str(pkg)])
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
