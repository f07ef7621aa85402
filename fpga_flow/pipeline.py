"""The one explicit pipeline. Every CLI command goes through here::

    read ONNX -> passes (fuse, scales, accumulators, storage) -> hardware plan (once) -> fit ->
    tb_data (reference) -> HLS, RTL, board files (each spells the plan) -> report
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fpga_flow.boards import Board
from fpga_flow.errors import FlowError
from fpga_flow.fixed import FixedType, to_float
from fpga_flow.hw import DesignPlan, check_parallelism, plan_design
from fpga_flow.hw.design import check_per_layer
from fpga_flow.ir import Graph
from fpga_flow.onnx_io import read_onnx

if TYPE_CHECKING:
    from fpga_flow.analysis.numerics import FloatComparison, RangeAudit
    from fpga_flow.onnx_io.calibrate import TensorRange
from fpga_flow.passes import (
    align_merge_inputs,
    choose_storage,
    fuse_activations,
    infer_accumulators,
    scales_to_dense,
)

__all__ = [
    "BuildOptions", "BuildResult", "LowerOptions", "build", "calibration_ranges", "check_numerics", "kernel_budget",
    "folding_budget", "load_and_lower", "lower", "make_stimulus", "plan", "write_project_readme",
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
    model: str | Path, precision: FixedType | str | None = None, options: LowerOptions = LowerOptions(),
    calibrate: Path | None = None,
) -> Graph:
    """Read an ONNX file and lower it (what ``inspect``, ``run`` and ``build`` start from).

    ``calibrate``: a float ``.npy`` of representative inputs; the float model runs on it
    (onnxruntime) and each tensor's type is chosen from the range observed
    (:mod:`fpga_flow.onnx_io.calibrate`)."""
    calibration = calibration_ranges(model, calibrate) if calibrate is not None else None
    return lower(read_onnx(model, precision, calibration), options)


def calibration_ranges(model: str | Path, data: Path) -> dict[str, TensorRange]:
    """The range of every float tensor of ``model`` on the inputs in ``data`` (``--calibrate``)."""
    import onnx

    from fpga_flow.inputs import load_input
    from fpga_flow.onnx_io.calibrate import graph_input, observe_ranges

    path = Path(model)
    if not path.is_file():
        raise FlowError(f"{path}: no such file")
    try:
        proto = onnx.load(str(path))
    except Exception as e:  # noqa: BLE001 - protobuf raises many kinds
        raise FlowError(f"{path}: not a readable ONNX file ({type(e).__name__}: {e})") from None
    dims = [d.dim_value for d in graph_input(proto).type.tensor_type.shape.dim[1:]]
    if not dims or any(d <= 0 for d in dims):
        raise FlowError(f"{path}: --calibrate needs one graph input with a fixed shape (batch, features...)")
    progress(f"calibrating: running the float model on {data}")
    return observe_ranges(proto, load_input(data, int(np.prod(dims))))


# ---------------------------------------------------------------------------- build
@dataclass(frozen=True)
class BuildOptions:
    """Options of ``fpga-flow build``."""

    board: str = "pynq-z2"
    #: MAC lanes of every layer; ``None`` (the default): automatic folding (lanes per layer, see :func:`plan`).
    parallelism: int | None = None
    target_ii: int | None = None  # automatic folding: cycles between samples to meet with the fewest lanes
    target_us: float | None = None  # the same in microseconds per sample at the board clock
    precision: str | None = None
    storage: str = "auto"
    n_stimulus: int = 32
    stimulus: Path | None = None  # a float .npy; default: the calibration data, else seeded random values
    calibrate: Path | None = None  # a float .npy: each float tensor's type from its range on this data
    strict: bool = False
    #: fully-connected layers built as activation-skipping engines: "off", "all", "auto" (those faster
    #: on the stimulus, :func:`choose_skipping`; folds automatically without ``parallelism``) or layer
    #: names separated by commas (those need ``parallelism``)
    skip_zeros: str = "off"


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


def kernel_budget(board: Board) -> dict[str, float]:
    """What the kernel may use on ``board``: the fit check's capacity less the platform's share
    (DMA, interconnect: :data:`fpga_flow.analysis.fit.PLATFORM_COST`) on a board with a PS."""
    from fpga_flow.analysis.fit import PLATFORM_COST
    from fpga_flow.hw.folding import board_budget

    return board_budget(board, PLATFORM_COST if board.has_ps else None)


def folding_budget(board: Board) -> dict[str, float]:
    """What an automatically folded design may use on ``board``: :func:`kernel_budget`, with LUTs
    and FFs capped at the fit check's "tight" mark (:data:`fpga_flow.analysis.fit.TIGHT_PERCENT` of
    the board, platform included), so that placement and routing keep room. A forced
    ``--parallelism`` may fill the board up to the fit check's 100 %."""
    from fpga_flow.analysis.fit import PLATFORM_COST, TIGHT_PERCENT

    b = kernel_budget(board)
    share = PLATFORM_COST if board.has_ps else {}
    for k, cap in (("lut", board.lut), ("ff", board.ff)):
        b[k] = min(b[k], cap * TIGHT_PERCENT / 100 - float(share.get(k, 0.0)))
    return b


def skip_layers(graph: Graph, text: str) -> frozenset[str]:
    """``--skip-zeros``: ``off`` (none), ``all`` (every fully-connected layer) or layer names separated
    by commas, checked against ``graph`` (a FlowError names the layers that can skip)."""
    fc = [lay.name for lay in graph.layers[1:] if lay.op == "dense"]
    t = text.strip()
    if t.lower() in ("", "off", "none"):
        return frozenset()
    if t.lower() == "auto":
        raise FlowError("--skip-zeros auto chooses from the activations on data: `fpga-flow build` measures them on "
                        "its stimulus; here give 'all' or the layers")
    if t.lower() == "all":
        if not fc:
            raise FlowError("--skip-zeros all: the model has no fully-connected layer")
        return frozenset(fc)
    names = [n.strip() for n in t.split(",") if n.strip()]
    bad = [n for n in names if n not in fc]
    if bad:
        raise FlowError(f"--skip-zeros: {', '.join(map(repr, bad))} is not a fully-connected layer of the model; "
                        f"those are {', '.join(map(repr, fc)) or 'none'} (or give 'all' / 'off')")
    return frozenset(names)


def choose_skipping(graph: Graph, parallelism: int | Mapping[str, int] | None, board: Board | None,
                    x: np.ndarray, *, target_ii: int | None = None, target_us: float | None = None) -> DesignPlan:
    """``--skip-zeros auto``: the design with activation-skipping engines where they pay on the
    stimulus ``x`` (float inputs).

    With ``parallelism``: every fully-connected layer whose skipping engine takes fewer cycles on
    average than its lock-step engine at the same lanes (each layer's choice is its own: the output
    layout is the same either way). Without: the automatic folding's lanes (lock-step engines,
    guaranteed IIs), then :func:`fpga_flow.hw.skip_choice.choose_skips`: one layer at a time turned
    into a skipping engine at its folded lanes while the design's expected II on the stimulus falls
    and it still fits the folding budget; the folding's ``sparsity`` sentence says what it chose."""
    from fpga_flow.hw.skip_choice import choose_skips, skip_activity

    fc = frozenset(lay.name for lay in graph.layers[1:] if lay.op == "dense")
    mantissas = graph.execute(x)
    if parallelism is not None:
        lock = plan(graph, parallelism, board)
        if not fc:
            return lock
        every = plan(graph, parallelism, board, skip=fc)
        mean = {r["layer"]: r["mean"] for r in skip_activity(every, mantissas)}
        faster = frozenset(p.name for p in lock.hardware_layers
                           if p.name in mean and mean[p.name] is not None and mean[p.name] < p.cycles.ii)
        return plan(graph, parallelism, board, skip=faster) if faster else lock
    from fpga_flow.hw.folding import over_budget

    folded = plan(graph, None, board, target_ii=target_ii, target_us=target_us)
    info = folded.folding
    assert info is not None
    if info.bound == "target":
        return replace(folded, folding=replace(info, sparsity="no layer skips zero activations: the lock-step "
                                                              "design meets the target"))
    lanes = dict(info.lanes)
    rom_block = frozenset(p.name for p in folded.hardware_layers if p.rom_block)
    budget = folding_budget(board) if board is not None else {}
    choice = choose_skips(folded, fc, mantissas,
                          lambda s: plan_design(graph, lanes, board, rom_block=rom_block, skip=s),
                          lambda d: not over_budget(d.cost, budget))
    return replace(choice.design, folding=replace(info, sparsity=choice.summary))


def plan(graph: Graph, parallelism: int | Mapping[str, int] | None, board: Board | None = None, *,
         target_ii: int | None = None, target_us: float | None = None,
         skip: frozenset[str] = frozenset()) -> DesignPlan:
    """The hardware plan of a lowered graph (what ``build`` and ``inspect`` read).

    ``parallelism``: lanes of every layer (an int), or per layer (layer name -> lanes); ``None``
    folds automatically (:func:`fpga_flow.hw.folding.fold`): each layer's lanes chosen so that the
    stages' IIs balance, as fast as fits ``board`` (its capacity less the platform's share), or
    meeting ``target_ii`` cycles / ``target_us`` microseconds per sample at the board clock with the
    fewest lanes. ``skip``: the layers built as activation-skipping engines (with ``parallelism``
    only: the folding plans lock-step engines)."""
    if skip and parallelism is None:
        raise FlowError("--skip-zeros with layer names needs --parallelism: the automatic folding chooses lanes for "
                        "lock-step engines (their cycles do not depend on the data); give the lanes, e.g. "
                        "--parallelism 16, or let `fpga-flow build --skip-zeros auto` choose on the stimulus")
    if parallelism is not None:
        if target_ii is not None or target_us is not None:
            raise FlowError("--target-ii/--target-us choose the lanes automatically: leave out --parallelism")
        try:
            if isinstance(parallelism, Mapping):
                return plan_design(graph, check_per_layer(graph, parallelism), board, skip=skip)
            parallelism = check_parallelism(parallelism)
        except ValueError as e:
            raise FlowError(f"--parallelism: {e}") from None
        return plan_design(graph, parallelism, board, skip=skip)
    from fpga_flow.hw.folding import fold_pixels

    if target_ii is not None and target_us is not None:
        raise FlowError("give --target-ii or --target-us, not both")
    if target_us is not None:
        if board is None:
            raise FlowError("--target-us needs a board (its clock)")
        if not target_us > 0:
            raise FlowError(f"--target-us must be positive, got {target_us:g}")
        target_ii = max(1, int(target_us * board.clock_mhz + 1e-9))
    if target_ii is not None and target_ii < 1:
        raise FlowError(f"--target-ii must be at least 1 cycle, got {target_ii}")
    return fold_pixels(graph, board, budget=folding_budget(board) if board is not None else None,
                       target_ii=target_ii)


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
    graph = load_and_lower(model, options.precision, LowerOptions(storage=options.storage), options.calibrate)
    if options.stimulus is not None:
        x = load_input(Path(options.stimulus), graph.inputs[0].size)
    elif options.calibrate is not None:  # real data rather than random values
        x = load_input(Path(options.calibrate), graph.inputs[0].size)[: options.n_stimulus]
    else:
        x = make_stimulus(graph, options.n_stimulus)
    lanes = options.parallelism
    how = f"at parallelism {lanes}" if lanes is not None else "folding automatically"
    progress(f"planning the hardware for {board.name} {how}")
    if options.skip_zeros.strip().lower() == "auto":
        progress(f"measuring where skipping zero activations pays, on the stimulus ({len(x)} samples)")
        design = choose_skipping(graph, lanes, board, x, target_ii=options.target_ii, target_us=options.target_us)
        skip = sorted(p.name for p in design.hardware_layers if p.skip is not None)
        progress(f"skipping zero activations in {', '.join(skip) or 'no layer'} (faster on the stimulus)")
    else:
        design = plan(graph, lanes, board, target_ii=options.target_ii, target_us=options.target_us,
                      skip=skip_layers(graph, options.skip_zeros))
    figures = plan_figures(design)
    fit = fit_report(figures, board)
    if options.strict and not fit["fits"]:
        raise FlowError(fit["message"])
    progress(f"checking the fixed-point types on the stimulus ({len(x)} samples, against the float model)")
    audit, versus_float = check_numerics(graph, model, x, strict=options.strict)
    vals = audit.mantissas
    n = len(x)
    inp = graph.inputs[0]
    tb = TbData(vals[inp.name].reshape(n, -1), vals[graph.outputs[0]].reshape(n, -1), inp.out_type,
                graph.output_layers[0].out_type, in_factor=inp.factor, in_zero_point=inp.zero_point,
                out_dequant=graph.output_dequant(graph.outputs[0]))
    from fpga_flow.project_tree import StagingTree, flow_error, is_environmental

    staging = StagingTree.create(out)  # a locked folder beside out (parents made); OS errors are FlowErrors
    tmp = staging.path
    try:
        progress("writing tb_data/ (stimulus and expected outputs from the bit-exact reference)")
        write_tb_data(tmp / "tb_data", tb)
        progress(f"writing hls/ (HLS C++ for {board.part} at {board.clock_mhz:g} MHz, P={design.parallelism_text})")
        emit_hls(design, board, tmp)
        progress("writing rtl/ (Verilog top, library and ROM files)")
        emit_rtl(design, tmp / "rtl")
        progress(f"writing board files for {board.name} (Makefile, vivado/, driver/, DEPLOY.md)")
        emit_board(graph, board, tmp, design.parallelism)
        report = build_report(graph, design, figures, fit, board, options, Path(model).name)
        report["numerics"] = {**audit.to_dict(), "float": versus_float.to_dict()}
        if any(p.skip is not None for p in design.hardware_layers):
            from fpga_flow.hw.skip_choice import expected_ii, skip_activity

            cycles: dict = {}  # each skipping stage's cycles on the stimulus, simulated once for both
            report["plan"]["skipping"] = skip_activity(design, vals, cycles)
            report["plan"]["expected_ii"] = expected_ii(design, vals, cycles)
        from fpga_flow.checksums import SECTION, tree_checksums  # tb_data/ and rtl ROM files verify themselves
        report[SECTION] = tree_checksums(tmp)
        write_report(tmp, report)
        write_project_readme(tmp, report, board)
        staging.commit()  # one atomic exchange where the platform allows (fpga_flow.project_tree)
    except OSError as e:  # disk full, read-only, permissions: a message, never a traceback
        staging.discard()
        if is_environmental(e):
            raise flow_error(e, out) from None
        raise
    except BaseException:
        staging.discard()
        raise
    return BuildResult(out, graph, design, report)


def check_numerics(graph: Graph, model: str | Path, x: np.ndarray, *, strict: bool = False
                   ) -> tuple[RangeAudit, FloatComparison]:
    """Run the reference on ``x`` counting the values that saturate or wrap in each layer, and compare
    its outputs with the float model (onnxruntime, or qonnx's executor for a QONNX model).

    A wrapped value is a wrong result: a warning names the layers (``strict``: a FlowError, exit 2).
    Saturations are clamps to the type's range (what a QONNX ``Quant`` does by definition): a note."""
    import onnx

    from fpga_flow.analysis.numerics import audit_ranges, compare_with_float

    audit = audit_ranges(graph, x)
    versus = compare_with_float(onnx.load(str(model)), graph, x, audit.y_fixed)
    where = ", ".join(f"{r.name} ({r.wrapped} of {r.values}, type {r.out_type})" for r in audit.wrapped_layers())
    if where:
        msg = (f"on the stimulus ({audit.samples} samples) values wrap around in {where}: those results are wrong; "
               "pass --calibrate X.npy (each tensor's type from your data) or a wider --precision")
        if strict:
            raise FlowError(msg + " (--strict refuses wrapped values)")
        print(f"fpga-flow: warning: {msg}", file=sys.stderr, flush=True)
    sat = ", ".join(f"{r.name} ({r.saturated} of {r.values})" for r in audit.saturated_layers())
    if sat:
        print(f"fpga-flow: note: values saturate (clamped to the type's range) in {sat}", file=sys.stderr, flush=True)
    if versus.compared:
        figures = [f"argmax equal on {versus.argmax_agree} of {versus.samples} samples"
                   if versus.argmax_agree is not None else "",
                   f"max abs error {versus.max_abs_error:.4g}" if versus.max_abs_error is not None else ""]
        progress(f"against the float model ({versus.runtime}): " + ", ".join(f for f in figures if f))
    return audit, versus


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
    """Refuse an output that cannot be a project (a file, a foreign folder, an unwritable place); restore a
    tree that a killed build left aside and remove the temporaries of dead builds (fpga_flow.project_tree)."""
    from fpga_flow.project_tree import prepare_output

    prep = prepare_output(out)
    if prep.restored_from is not None:
        progress(f"restored {out} from {prep.restored_from} (a build was killed while replacing it)")
    if prep.removed:
        progress(f"removed {len(prep.removed)} temporary folder(s) of killed builds beside {out}")
    if out.exists() and not out.is_dir():
        raise FlowError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / _PROJECT_MARKER).is_file():
        raise FlowError(
            f"output folder {out} is not empty and is not an fpga-flow project; choose another -o or empty it"
        )
