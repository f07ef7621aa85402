"""C simulation of a built project with plain g++ (no Xilinx tools needed).

:func:`run_csim` compiles ``OUT/hls/`` (the top function, the per-layer weight sources and the
C testbench) against the ``ap_fixed`` headers of :func:`fpga_flow.resources.ap_types_include_dir`
into ``OUT/hls/csim_build/``, then runs the testbench either on ``OUT/tb_data/`` (comparing with
the expected outputs of the bit-exact Python reference) or on any float ``.npy`` input, quantized
with the input type recorded in ``OUT/tb_data/meta.json``.

Objects are cached: a source is recompiled only when it, a header, the compiler or the flags
change. The weight sources are plain constant tables, so they are compiled without optimization
(the same data, much faster); everything uses ``-fno-exceptions``, which keeps g++ linear on
large constant arrays of ``ap_fixed``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from fpga_flow.errors import FlowError
from fpga_flow.fixed import FixedType, to_float
from fpga_flow.inputs import check_output_path, load_input, save_output
from fpga_flow.resources import ap_types_include_dir
from fpga_flow.tbdata import EXPECTED_FILE, INPUT_FILE, META_FILE, TbData, read_tb_data

__all__ = ["BUILD_DIR", "CsimResult", "Mismatch", "compile_csim", "default_jobs", "run_csim"]

#: Build folder, relative to ``OUT/hls/``.
BUILD_DIR = "csim_build"
BINARY = "fpga_flow_csim"
CXX_STD = "-std=c++98"  # what Vivado HLS 2019.2-2020.2 csim compiles; Vitis HLS accepts it too
COMMON_FLAGS = (CXX_STD, "-fno-exceptions", "-Wno-unknown-pragmas")
#: Mismatches kept in a result (the testbench log has them all).
MAX_REPORTED = 20


class Mismatch(NamedTuple):
    """One output element that differs from the reference (mantissas)."""

    sample: int
    element: int
    expected: int
    got: int


@dataclass(frozen=True)
class CsimResult:
    """Outputs of one C simulation run and how they compare with the reference."""

    n_samples: int
    outputs: np.ndarray  # (n_samples, n_outputs) int64 mantissas of out_type
    out_type: FixedType
    compared: bool  # False when running a user input (no expected values)
    mismatches: int
    first_mismatches: tuple[Mismatch, ...]
    stream_errors: tuple[str, ...]  # protocol problems the testbench saw (beats, TLAST)
    output_npy: Path | None
    compiled: bool  # False when every object was up to date
    compile_seconds: float
    run_seconds: float
    log: Path  # the testbench's full output

    @property
    def ok(self) -> bool:
        """No mismatch and no stream error."""
        return self.mismatches == 0 and not self.stream_errors

    @property
    def float_outputs(self) -> np.ndarray:
        """Outputs as float64 (exact)."""
        return to_float(self.outputs, self.out_type)


def _say(log: Callable[[str], None] | None, msg: str) -> None:
    if log is not None:
        log(msg)


def _project(out_dir: Path) -> tuple[Path, Path]:
    hls = out_dir / "hls"
    tb = out_dir / "tb_data"
    if not (hls / "firmware" / "fpga_flow_top.cpp").is_file():
        raise FlowError(
            f"{out_dir} is not an fpga-flow project (no hls/firmware/fpga_flow_top.cpp); "
            "run 'fpga-flow build MODEL.onnx -o OUT' first"
        )
    if not (tb / META_FILE).is_file():
        raise FlowError(f"{out_dir} has no tb_data/{META_FILE}; rebuild the project with 'fpga-flow build'")
    return hls, tb


def _compiler(cxx: str | None) -> str:
    path = shutil.which(cxx or "g++")
    if path is None:
        raise FlowError(f"C++ compiler '{cxx or 'g++'}' not found; install g++ (e.g. apt-get install g++)")
    return path


def _headers_digest(hls: Path) -> str:
    h = hashlib.sha256()
    for p in sorted((hls / "firmware").rglob("*.h")):
        h.update(p.relative_to(hls).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def compile_csim(
    hls: Path,
    *,
    opt: str = "-O2",
    cxx: str | None = None,
    jobs: int = 2,
    log: Callable[[str], None] | None = print,
    defines: tuple[str, ...] = (),
) -> tuple[Path, bool, float]:
    """Compile ``hls/`` into ``hls/csim_build/fpga_flow_csim``; returns (binary, compiled anything, seconds).

    ``defines`` are preprocessor macros (``-D``); ``FPGA_FLOW_AP_ROMS`` compiles the ROM words as
    synthesis sees them (``ap_int``/``ap_uint``, read through ``range()``).
    """
    compiler = _compiler(cxx)
    include = ap_types_include_dir()
    build = hls / BUILD_DIR
    build.mkdir(parents=True, exist_ok=True)
    sources = [hls / "firmware" / "fpga_flow_top.cpp", hls / "tb" / "fpga_flow_tb.cpp"]
    weights = sorted((hls / "firmware" / "weights").glob("*.cpp"))
    if len(weights) > 1:  # one translation unit for every weight table: the ap_fixed headers are parsed once
        unity = build / "weights_all.cpp"
        text = "// fpga-flow csim: every weights/*.cpp in one translation unit. Do not edit.\n" + "".join(
            f'#include "../firmware/weights/{w.name}"\n' for w in weights)
        if not unity.is_file() or unity.read_text() != text:
            unity.write_text(text)
        weights = [unity]
    headers = _headers_digest(hls)
    jobs_list: list[tuple[list[str], Path, Path, str]] = []
    obj_keys: list[str] = []
    for src in sources + weights:
        is_weights = src in weights
        flags = [*COMMON_FLAGS, "-O0" if is_weights else opt, *(f"-D{d}" for d in defines), f"-I{include}",
                 f"-I{hls / 'firmware'}"]
        obj = build / (("w_" if is_weights else "") + src.stem + ".o")
        cmd = [compiler, *flags, "-c", str(src), "-o", str(obj)]
        body = src.read_bytes()
        if src.name == "weights_all.cpp":  # its content is the included tables
            body += b"".join(w.read_bytes() for w in sorted((hls / "firmware" / "weights").glob("*.cpp")))
        key = hashlib.sha256("\0".join([*cmd, str(include), headers]).encode() + b"\0" + body).hexdigest()
        stamp = obj.with_suffix(".key")
        obj_keys.append(key)
        if obj.is_file() and stamp.is_file() and stamp.read_text() == key:
            continue
        jobs_list.append((cmd, obj, stamp, key))
    binary = build / BINARY
    objects = [build / (("w_" if s in weights else "") + s.stem + ".o") for s in sources + weights]
    # the link depends on every object's key (its sources' content): a binary from other objects relinks
    link_key = hashlib.sha256("\0".join([compiler, *map(str, objects), *obj_keys]).encode()).hexdigest()
    link_stamp = build / (BINARY + ".key")
    if not jobs_list and binary.is_file() and link_stamp.is_file() and link_stamp.read_text() == link_key:
        _say(log, "csim: build is up to date")
        return binary, False, 0.0
    t0 = time.perf_counter()
    if jobs_list:
        _say(log, f"csim: compiling {len(jobs_list)} source(s) with g++ {opt} (weights -O0) ...")

    def compile_one(job: tuple[list[str], Path, Path, str]) -> None:
        cmd, obj, stamp, key = job
        stamp.unlink(missing_ok=True)
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            tail = "\n".join(r.stderr.strip().splitlines()[-40:])
            raise FlowError(f"g++ failed on {Path(cmd[-3]).name}:\n{tail}")
        stamp.write_text(key)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for fut in [pool.submit(compile_one, j) for j in jobs_list]:
            fut.result()
    link_stamp.unlink(missing_ok=True)
    r = subprocess.run([compiler, *map(str, objects), "-o", str(binary)], capture_output=True, text=True)
    if r.returncode != 0:
        raise FlowError("linking the C simulation failed:\n" + "\n".join(r.stderr.strip().splitlines()[-40:]))
    link_stamp.write_text(link_key)
    dt = time.perf_counter() - t0
    _say(log, f"csim: compiled in {dt:.1f} s")
    return binary, True, dt


def _read_outputs(path: Path, n_out: int) -> np.ndarray:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        return np.zeros((0, n_out), np.int64)
    return np.array(rows, dtype=np.int64).reshape(len(rows), n_out)


def run_csim(
    out_dir: Path,
    input_npy: Path | None = None,
    output_npy: Path | None = None,
    *,
    opt: str = "-O2",
    cxx: str | None = None,
    jobs: int = 2,
    log: Callable[[str], None] | None = print,
    defines: tuple[str, ...] = (),
) -> CsimResult:
    """Compile and run the C simulation of the project ``out_dir`` (see the module docstring).

    Without ``input_npy`` the testbench runs ``tb_data/`` and the outputs are compared with the
    expected ones; with it, the float input is quantized to the input type and run (no
    comparison). ``output_npy`` receives the outputs as float64 (each value exact).
    Raises :class:`~fpga_flow.errors.FlowError` when ``out_dir`` is not a project, g++ is
    missing, compilation fails or the testbench cannot run.
    """
    out_dir = Path(out_dir)
    hls, tb_dir = _project(out_dir)
    tb: TbData = read_tb_data(tb_dir)  # checked against its meta.json (fpga_flow.tbdata)
    if output_npy is not None:
        check_output_path(Path(output_npy))  # before compiling, not after
    mant = None
    if input_npy is not None:
        x = load_input(Path(input_npy), int(tb.inputs.shape[1]))
        try:
            mant = tb.quantize_input(x)
        except ValueError as e:
            raise FlowError(f"input {input_npy}: {e}") from None
    binary, compiled, compile_s = compile_csim(hls, opt=opt, cxx=cxx, jobs=jobs, log=log, defines=defines)
    build = hls / BUILD_DIR
    out_txt = build / "csim_output_mantissas.txt"
    out_txt.unlink(missing_ok=True)
    n_out = int(tb.expected.shape[1])
    if mant is None:
        args = [str((tb_dir / INPUT_FILE).resolve()), str(out_txt.resolve()), str((tb_dir / EXPECTED_FILE).resolve())]
        n = int(tb.inputs.shape[0])
    else:
        in_txt = build / "csim_input_mantissas.txt"
        in_txt.write_text("".join(" ".join(str(int(v)) for v in row) + "\n" for row in mant))
        args = [str(in_txt.resolve()), str(out_txt.resolve())]
        n = int(mant.shape[0])
    _say(log, f"csim: running {n} sample(s) ...")
    t0 = time.perf_counter()
    r = subprocess.run([str(binary.resolve()), *args], capture_output=True, text=True, cwd=build)
    run_s = time.perf_counter() - t0
    log_path = build / "csim.log"
    log_path.write_text(r.stdout + r.stderr)
    if r.returncode not in (0, 1) or not out_txt.is_file():
        raise FlowError(
            f"the C simulation testbench failed (exit status {r.returncode}):\n"
            + "\n".join((r.stderr or r.stdout).strip().splitlines()[-20:])
        )
    per = f" ({1e3 * run_s / n:.3f} ms/sample)" if n else ""
    _say(log, f"csim: ran {n} sample(s) in {run_s:.2f} s{per}")
    outputs = _read_outputs(out_txt, n_out)
    if outputs.shape[0] != n:
        raise FlowError(f"the C simulation wrote {outputs.shape[0]} output samples for {n} inputs; see {log_path}")
    stream_errors = tuple(line for line in r.stdout.splitlines() if line.startswith("error:"))
    compared = input_npy is None
    first: list[Mismatch] = []
    count = 0
    if compared:
        diff = outputs != tb.expected
        count = int(np.count_nonzero(diff))
        for smp, el in zip(*np.nonzero(diff), strict=True):
            if len(first) == MAX_REPORTED:
                break
            first.append(Mismatch(int(smp), int(el), int(tb.expected[smp, el]), int(outputs[smp, el])))
    if output_npy is not None:
        output_npy = save_output(Path(output_npy), tb.output_values(outputs))
    return CsimResult(
        n_samples=n,
        outputs=outputs,
        out_type=tb.out_type,
        compared=compared,
        mismatches=count,
        first_mismatches=tuple(first),
        stream_errors=stream_errors,
        output_npy=output_npy,
        compiled=compiled,
        compile_seconds=compile_s,
        run_seconds=run_s,
        log=log_path,
    )


def default_jobs() -> int:
    """Parallel g++ processes: at most 2 (builds share the machine)."""
    return max(1, min(2, os.cpu_count() or 1))
