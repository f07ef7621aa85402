"""The one explicit pipeline. Every CLI command goes through here::

    read ONNX -> passes (fuse, scales, accumulators, storage) -> hardware plan (once) -> fit ->
    tb_data (reference) -> HLS, RTL, board files (each spells the plan) -> report
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fpga_flow.boards import Board
from fpga_flow.errors import FlowError
from fpga_flow.fixed import FixedType, to_float
from fpga_flow.hw import DesignPlan, check_parallelism, plan_design
from fpga_flow.ir import Graph
from fpga_flow.onnx_io import read_onnx
from fpga_flow.passes import (
    align_merge_inputs,
    choose_storage,
    fuse_activations,
    infer_accumulators,
    scales_to_dense,
)

__all__ = [
    "BuildOptions", "BuildResult", "LowerOptions", "build", "load_and_lower", "lower", "make_stimulus", "plan",
    "write_project_readme",
]


@dataclass(frozen=True)
class LowerOptions:
    """Options of the lowering passes."""

    storage: str = "auto"  # auto | dense | csr | codebook_csr


def lower(graph: Graph, options: LowerOptions = LowerOptions()) -> Graph:
    """Run the passes in order: fuse activations, one type for the inputs of each Add/Concat, vector
    scales to diagonal dense layers, tighten accumulators, choose storage."""
    graph = fuse_activations(graph)
    graph = align_merge_inputs(graph)
    graph = scales_to_dense(graph)
    graph = infer_accumulators(graph)
    graph = choose_storage(graph, options.storage)
    return graph


def load_and_lower(
    model: str | Path, precision: FixedType | str | None = None, options: LowerOptions = LowerOptions()
) -> Graph:
    """Read an ONNX file and lower it (what ``inspect``, ``run`` and ``build`` start from)."""
    return lower(read_onnx(model, precision), options)


# ---------------------------------------------------------------------------- build
@dataclass(frozen=True)
class BuildOptions:
    """Options of ``fpga-flow build``."""

    board: str = "pynq-z2"
    parallelism: int = 1
    precision: str | None = None
    storage: str = "auto"
    n_stimulus: int = 32
    stimulus: Path | None = None  # a float .npy; default: seeded random values over the input range
    strict: bool = False


@dataclass(frozen=True)
class BuildResult:
    """What a build produced."""

    out_dir: Path
    graph: Graph
    plan: DesignPlan
    report: dict


def make_stimulus(graph: Graph, n: int, seed: int = 2024) -> np.ndarray:
    """Deterministic float stimulus spanning the input type's range (edges included)."""
    t = graph.inputs[0].out_type
    lo, hi = to_float(np.array([t.min_mantissa, t.max_mantissa]), t)
    rng = np.random.default_rng(seed)
    x = rng.uniform(lo, hi, size=(n, graph.inputs[0].size))
    x[0, :] = 0.0
    if n > 1:
        x[1, :] = hi
    if n > 2:
        x[2, :] = lo
    return x


def plan(graph: Graph, parallelism: int, board: Board | None = None) -> DesignPlan:
    """The hardware plan of a lowered graph (what ``build`` and ``inspect`` read)."""
    try:
        parallelism = check_parallelism(parallelism)
    except ValueError as e:
        raise FlowError(f"--parallelism: {e}") from None
    return plan_design(graph, parallelism, board)


def build(model: str | Path, out_dir: str | Path, options: BuildOptions = BuildOptions()) -> BuildResult:
    """Compile ``model`` into the complete project tree ``out_dir`` (contract 5).

    The hardware plan is computed once and every backend, the fit check and the report read it.
    The tree is written into a temporary sibling folder and renamed into place only when
    everything succeeded, so a failed build leaves nothing half-written. Same input, same bytes.
    """
    from fpga_flow.analysis.fit import fit_report
    from fpga_flow.backends.board import emit_board
    from fpga_flow.backends.hls import emit_hls
    from fpga_flow.backends.rtl import emit_rtl
    from fpga_flow.boards import load_board
    from fpga_flow.hw import plan_figures
    from fpga_flow.inputs import load_input
    from fpga_flow.report import build_report, write_report
    from fpga_flow.tbdata import TbData, write_tb_data

    out = Path(out_dir)
    board = load_board(options.board)
    _check_out_dir(out)
    progress(f"reading {model}")
    graph = load_and_lower(model, options.precision, LowerOptions(storage=options.storage))
    if options.stimulus is not None:
        x = load_input(Path(options.stimulus), graph.inputs[0].size)
    else:
        x = make_stimulus(graph, options.n_stimulus)
    progress(f"planning the hardware for {board.name} at parallelism {options.parallelism}")
    design = plan(graph, options.parallelism, board)
    figures = plan_figures(design)
    fit = fit_report(figures, board)
    if options.strict and not fit["fits"]:
        raise FlowError(fit["message"])
    vals = graph.execute(x)
    n = len(x)
    tb = TbData(vals[graph.inputs[0].name].reshape(n, -1), vals[graph.outputs[0]].reshape(n, -1),
                graph.inputs[0].out_type, graph.output_layers[0].out_type)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o755)
    try:
        progress("writing tb_data/ (stimulus and expected outputs from the bit-exact reference)")
        write_tb_data(tmp / "tb_data", tb)
        progress(f"writing hls/ (HLS C++ for {board.part} at {board.clock_mhz:g} MHz, P={options.parallelism})")
        emit_hls(design, board, tmp)
        progress("writing rtl/ (Verilog top, library and ROM files)")
        emit_rtl(design, tmp / "rtl")
        progress(f"writing board files for {board.name} (Makefile, vivado/, driver/, DEPLOY.md)")
        emit_board(graph, board, tmp, options.parallelism)
        report = build_report(graph, design, figures, fit, board, options, Path(model).name)
        write_report(tmp, report)
        write_project_readme(tmp, report, board)
        _replace_tree(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(out, graph, design, report)


def write_project_readme(out: Path, report: dict, board: Board) -> None:
    """``OUT/README.md``: the map of the tree and the commands to run, for a hardware engineer."""
    from fpga_flow.render import render

    text = render("project/README.md.j2", {"r": report, "has_ps": board.has_ps})
    (out / "README.md").write_text(text)


def progress(msg: str) -> None:
    """One line of progress on stderr (long steps say what they are doing)."""
    print(f"fpga-flow: {msg}", file=sys.stderr, flush=True)


_PROJECT_MARKER = "report.json"


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise FlowError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / _PROJECT_MARKER).is_file():
        raise FlowError(
            f"output folder {out} is not empty and is not an fpga-flow project; choose another -o or empty it"
        )


def _replace_tree(tmp: Path, out: Path) -> None:
    """Swap the finished tree into place (an older project there is removed afterwards)."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
