"""fpga-flow vs hls4ml on one 784-300-100-10 MLP at 90 % sparsity, ap_fixed<16,6> (issue 3).

Both tools read the same plain float ONNX model (MatMul + Add + Relu, weights and biases already
on the ap_fixed<16,6> grid, 90 % of the weights exact zeros). Printed side by side:

* weight bits stored in the project: hls4ml's ``firmware/weights/*.h`` arrays (every element times
  its type width, zeros included) against fpga-flow's ``report.json`` totals and generated arrays;
  also fpga-flow with ``--storage codebook_csr`` on a 32-entry codebook variant of the model;
* g++ build time of the C simulation: hls4ml ``compile()`` against fpga-flow ``compile_csim`` (cold);
* C simulation time per sample: hls4ml ``predict`` against fpga-flow ``run_csim``, timed interleaved
  (``--pairs`` pairs of one hls4ml ``predict`` call then one fpga-flow ``run_csim``, after one warm-up
  call each), printed as min and median per side and the median and min of the per-pair ratios;
* equal outputs where the types agree, and each tool against fpga-flow's bit-exact Python reference.

hls4ml runs in a child process (one per strategy) so that a phase longer than ``--hls4ml-timeout``
can be stopped; after its first predict calls it serves one timed ``predict`` per line on its stdin.
Asserts nothing.

Run: .venv/bin/python bench/bench_hls4ml.py [--quick] [--latency] [--samples N] [--pairs K] [--hls4ml-timeout S]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZES = (784, 300, 100, 10)
SPARSITY = 0.9
W, I = 16, 6  # ap_fixed<16,6>
FRAC = W - I
PRECISION = f"ap_fixed<{W},{I}>"
HLS4ML_PRECISION = f"fixed<{W},{I}>"
HLS4ML_ACCUM = "fixed<40,20>"  # wide enough that no product or partial sum is rounded or wrapped
CODEBOOK_BITS = 5
PART = "xc7z020clg400-1"  # the PYNQ-Z2 part fpga-flow builds for


# ----------------------------------------------------------------------------- model
def _on_grid(a: np.ndarray) -> np.ndarray:
    """Round to the ap_fixed<16,6> grid (inside its range): exactly representable in float32."""
    m = np.clip(np.round(np.ldexp(a, FRAC)), -(1 << (W - 1)), (1 << (W - 1)) - 1)
    return np.ldexp(m, -FRAC)


def make_weights(seed: int, codebook_bits: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight (n_in, n_out), bias) per layer; ``codebook_bits``: nonzeros snapped to 2**bits values."""
    rng = np.random.default_rng(seed)
    layers = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        keep = rng.random((n_in, n_out)) >= SPARSITY
        w = _on_grid(rng.normal(0.0, 1.0 / np.sqrt(n_in * (1 - SPARSITY)), (n_in, n_out)))
        b = _on_grid(rng.normal(0.0, 0.1, n_out))
        if codebook_bits is not None:
            nz = w[keep & (w != 0)]
            qs = np.quantile(nz, (np.arange(1 << codebook_bits) + 0.5) / (1 << codebook_bits))
            book = np.unique(_on_grid(qs))
            book = book[book != 0]
            w = book[np.abs(w[..., None] - book).argmin(axis=-1)]
        layers.append((np.where(keep, w, 0.0), b))
    return layers


def float_onnx(layers: list[tuple[np.ndarray, np.ndarray]], name: str) -> onnx.ModelProto:
    """Plain float ONNX: MatMul + Add (+ Relu) per layer, batch dimension 1 (what hls4ml expects)."""
    nodes, inits, cur = [], [], "x"
    for i, (w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"w{i}"),
                  numpy_helper.from_array(b.astype(np.float32), f"b{i}")]
        nodes.append(helper.make_node("MatMul", [cur, f"w{i}"], [f"mm{i}"], name=f"fc{i}"))
        nodes.append(helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"add{i}"], name=f"add{i}"))
        cur = f"add{i}"
        if i < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [cur], [f"relu{i}"], name=f"relu{i}"))
            cur = f"relu{i}"
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, SIZES[0]])],
        [helper.make_tensor_value_info(cur, TensorProto.FLOAT, [1, SIZES[-1]])], initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="bench_hls4ml")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# ------------------------------------------------------------------------ bit counting
_TYPE_WIDTH = re.compile(r"^ap_u?(?:fixed|int)<\s*(\d+)")


def _typedefs(*headers: Path) -> dict[str, str]:
    """``name`` -> C++ type of every ap_* typedef; typedefs inside ``struct S`` are named ``S::name``."""
    out: dict[str, str] = {}
    tdef = r"typedef\s+(ap_u?(?:fixed|int)<[^;]*>)\s+(\w+)\s*;"
    for h in headers:
        if not h.is_file():
            continue
        text = h.read_text()
        for m in re.finditer(r"struct\s+(\w+)\s*\{(.*?)\};", text, re.S):
            for t in re.finditer(tdef, m.group(2)):
                out[f"{m.group(1)}::{t.group(2)}"] = t.group(1)
        for t in re.finditer(tdef, re.sub(r"struct\s+\w+\s*\{.*?\};", "", text, flags=re.S)):
            out[t.group(2)] = t.group(1)
    return out


def _width(ctype: str, typedefs: dict[str, str]) -> int:
    rom = re.fullmatch(r"fpga_flow::rom<\s*(.+?)\s*>::type", ctype.strip())  # ROM word of element type T
    if rom:
        ctype = rom.group(1)
    ctype = typedefs.get(ctype.strip(), ctype)
    m = _TYPE_WIDTH.match(ctype)
    if not m:
        raise ValueError(f"cannot tell the bit width of C++ type {ctype!r}")
    return int(m.group(1))


def hls4ml_weight_bits(prj: Path) -> dict[str, int]:
    """Bits of every array in hls4ml's firmware/weights/*.h, by prefix (w, b, s, ...), zeros included."""
    fw = prj / "firmware"
    tds = _typedefs(fw / "defines.h", fw / "parameters.h")
    bits: dict[str, int] = {}
    for h in sorted((fw / "weights").glob("*.h")):
        m = re.search(r"^\s*(?:const\s+)?([\w:<>, ]+?)\s+(\w+)\[(\d+)\]\s*;", h.read_text(), re.M)
        if m is None:
            continue
        ctype, name, n = m.groups()
        key = re.match(r"[a-z]+", name).group(0) if re.match(r"[a-z]+", name) else name
        bits[key] = bits.get(key, 0) + int(n) * _width(ctype, tds)
    return bits


def fpga_flow_array_bits(out: Path) -> dict[str, int]:
    """Bits of every constant array fpga-flow declares in hls/firmware/weights.h, by array suffix."""
    fw = out / "hls" / "firmware"
    tds = _typedefs(fw / "parameters.h")
    bits: dict[str, int] = {}
    for m in re.finditer(r"extern const\s+([\w:<>, ]+?)\s+(\w+)((?:\[\d+\])+)\s*;", (fw / "weights.h").read_text()):
        ctype, name, dims = m.groups()
        n = int(np.prod([int(d) for d in re.findall(r"\d+", dims)]))
        key = name.rsplit("_", 1)[-1]
        bits[key] = bits.get(key, 0) + n * _width(ctype, tds)
    # codebooks are constants in parameters.h (a function that fills cb[n] per layer)
    for m in re.finditer(r"struct\s+(\w+)\s*\{(.*?)\};", (fw / "parameters.h").read_text(), re.S):
        cb = re.search(r"codebook\(\s*weight_t\s+\w+\[(\d+)\]\s*\)", m.group(2))
        if cb:
            bits["codebook"] = bits.get("codebook", 0) + int(cb.group(1)) * _width(f"{m.group(1)}::weight_t", tds)
    return bits


# ------------------------------------------------------------------------ hls4ml worker
def hls4ml_worker(args: dict) -> None:
    """Child process: convert, write, compile and predict with hls4ml; progress goes to status.json."""
    work = Path(args["work"])
    status: dict = {}

    def phase(name: str) -> None:
        status["phase"], status["phase_start"] = name, time.time()
        (work / "status.tmp").write_text(json.dumps(status))
        (work / "status.tmp").replace(work / "status.json")

    phase("convert")
    import hls4ml
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    strategy = args["strategy"]
    model = cleanup_model(ModelWrapper(onnx.load(args["model"])))
    cfg = hls4ml.utils.config_from_onnx_model(model.model, granularity="name", backend="Vivado",
                                              default_precision=HLS4ML_PRECISION)
    cfg["Model"]["Strategy"] = strategy
    for layer in cfg["LayerName"].values():
        prec = layer.get("Precision", {})
        for k in prec:  # every type explicit: no 'auto' inference, no Dense+bias fusion into a wide type
            if k == "accum":
                prec[k] = HLS4ML_ACCUM
            elif prec[k] == "auto":
                prec[k] = HLS4ML_PRECISION
        layer["Strategy"] = strategy
    hm = hls4ml.converters.convert_from_onnx_model(
        model.model, output_dir=str(work / "prj"), backend="Vivado", hls_config=cfg, part=PART,
    )
    status["layers"] = [
        f"{lay.name} ({lay.class_name}): " + ", ".join(f"{k}={v.precision}" for k, v in lay.types.items())
        for lay in hm.get_layers()
    ]
    phase("write")
    t0 = time.perf_counter()
    hm.write()
    status["write_s"] = time.perf_counter() - t0
    phase("compile")
    t0 = time.perf_counter()
    hm._compile()  # what compile() does after write(): build_lib.sh (g++) and load the library
    status["compile_s"] = time.perf_counter() - t0
    phase("predict")
    x = np.load(args["x"]).astype(np.float32)
    t0 = time.perf_counter()
    y = hm.predict(x)  # first call: also loads the weights from firmware/weights/*.txt
    status["predict_cold_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    hm.predict(x)
    status["predict_warm_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    hm.predict(x[:1])
    status["predict_one_s"] = time.perf_counter() - t0
    np.save(work / "y.npy", np.asarray(y, dtype=np.float64).reshape(x.shape[0], -1))
    status["predict_s"] = []
    phase("serve")
    for line in sys.stdin:  # one timed predict per line, until "quit" or end of input
        if line.strip() != "predict":
            break
        t0 = time.perf_counter()
        hm.predict(x)
        status["predict_s"].append(time.perf_counter() - t0)
        phase("serve")
    phase("done")


class Hls4mlWorker:
    """:func:`hls4ml_worker` in a child process; a phase longer than ``timeout`` stops it."""

    def __init__(self, strategy: str, model: Path, x_npy: Path, work: Path, timeout: float) -> None:
        work.mkdir(parents=True)
        self.work, self.timeout, self.status = work, timeout, {}
        spec = json.dumps({"strategy": strategy, "model": str(model), "x": str(x_npy), "work": str(work)})
        self.log = open(work / "worker.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, __file__, "--hls4ml-worker", spec], stdin=subprocess.PIPE,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, text=True)

    def _read(self) -> dict:
        sfile = self.work / "status.json"
        if sfile.is_file():
            self.status = json.loads(sfile.read_text())
        return self.status

    def wait(self, ready: Callable[[dict], bool]) -> bool:
        """Poll the status until ``ready(status)``; False (and ``status`` says why) if the worker ended
        or a phase ran out of time."""
        while True:
            st = self._read()
            if st and ready(st):
                return True
            if self.proc.poll() is not None:
                st = self._read()
                if st.get("phase") not in ("serve", "done"):
                    tail = "\n".join((self.work / "worker.log").read_text().splitlines()[-15:])
                    st["error"] = f"hls4ml worker failed (exit status {self.proc.returncode}):\n{tail}"
                return bool(st) and ready(st)
            if st and time.time() - st["phase_start"] > self.timeout:
                self.stop()
                st["timeout"] = st["phase"]
                return False
            time.sleep(0.05)

    def predict(self) -> float | None:
        """Seconds of one more ``predict`` call on all samples (None: the worker is gone)."""
        done = len(self.status.get("predict_s", []))
        assert self.proc.stdin is not None
        self.proc.stdin.write("predict\n")
        self.proc.stdin.flush()
        if not self.wait(lambda st: len(st.get("predict_s", [])) > done):
            return None
        return float(self.status["predict_s"][done])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the worker and its g++ children
            self.proc.wait()
        self.log.close()

    def close(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                pass
        self.stop()


def run_hls4ml(strategy: str, model: Path, x_npy: Path, work: Path, timeout: float) -> tuple[dict, Hls4mlWorker]:
    """Start :func:`hls4ml_worker`; return its status once it serves predict calls (or failed)."""
    w = Hls4mlWorker(strategy, model, x_npy, work, timeout)
    w.wait(lambda st: st.get("phase") in ("serve", "done"))
    return w.status, w


# ------------------------------------------------------------------------ fpga-flow
def run_fpga_flow(model: Path, out: Path, x_npy: Path, jobs: int, storage: str = "auto", sim: bool = True) -> dict:
    """Build, compile the C simulation cold, run it on ``x_npy`` (and on one sample)."""
    import contextlib
    import io

    from fpga_flow.pipeline import BuildOptions, build
    from fpga_flow.sim.csim import compile_csim, run_csim

    res: dict = {}
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        b = build(model, out, BuildOptions(board="pynq-z2", precision=PRECISION, storage=storage))
    res["build_s"] = time.perf_counter() - t0
    res["report_totals"] = json.loads((out / "report.json").read_text())["totals"]
    res["storage"] = [lay["storage"] for lay in b.report["layers"] if lay.get("op") == "dense"]
    res["array_bits"] = fpga_flow_array_bits(out)
    res["types"] = [f"{lay['name']}: acc {lay['accumulator_type']}, out {lay['output_type']}"
                    for lay in b.report["layers"] if lay.get("op") == "dense"]
    if not sim:
        return res
    shutil.rmtree(out / "hls" / "csim_build", ignore_errors=True)  # cold: no cached object
    _, _, res["compile_s"] = compile_csim(out / "hls", jobs=jobs, log=None)
    r = run_csim(out, x_npy, out / "y_csim.npy", jobs=jobs, log=None)
    res["run_s"], res["y"], res["out_type"] = r.run_seconds, r.float_outputs, str(r.out_type)
    one = out / "x_one.npy"
    np.save(one, np.load(x_npy)[:1])
    res["run_one_s"] = run_csim(out, one, None, jobs=jobs, log=None).run_seconds
    return res


def interleaved_pairs(worker: Hls4mlWorker, out: Path, x_npy: Path, jobs: int, k: int) -> list[tuple[float, float]]:
    """``k`` pairs (hls4ml ``predict`` seconds, fpga-flow ``run_csim`` seconds) on the same samples, timed
    one after the other so that both sides see the same machine load (the first calls were the warm-up)."""
    from fpga_flow.sim.csim import run_csim

    got = []
    for _ in range(k):
        h = worker.predict()
        if h is None:
            break
        got.append((h, run_csim(out, x_npy, None, jobs=jobs, log=None).run_seconds))
    return got


def reference(model: Path, x: np.ndarray) -> tuple[np.ndarray, float]:
    """fpga-flow's bit-exact Python reference (float values of the output mantissas) and its time."""
    from fpga_flow.fixed import to_float
    from fpga_flow.pipeline import load_and_lower

    g = load_and_lower(model, PRECISION)
    t0 = time.perf_counter()
    mant, t = g.run(x)
    return to_float(mant, t), time.perf_counter() - t0


# ------------------------------------------------------------------------ printing
def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_facts() -> None:
    cpu = "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    print(f"machine: {platform.machine()}, {cpu}, {os.cpu_count()} cores ({usable} usable), "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"versions: python {platform.python_version()}, fpga-flow {_version('fpga-flow')}, hls4ml "
          f"{_version('hls4ml')}, qonnx {_version('qonnx')}, onnx {_version('onnx')}, numpy {np.__version__}, "
          f"{gxx[0] if gxx else 'g++ ?'}")


def _fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} s"


def _fmt_ms(v: float | None) -> str:
    return "-" if v is None else f"{1e3 * v:.3f} ms"


def table(rows: list[list[str]], head: list[str]) -> None:
    cols = [head, *rows]
    widths = [max(len(r[i]) for r in cols) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    print(line)
    for r in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))


def goal(name: str, met: bool | None, detail: str) -> None:
    verdict = "n/a" if met is None else ("met" if met else "NOT MET")
    print(f"  {name:<57} {verdict:<8} {detail}")


# ------------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="100 samples, Resource strategy only")
    ap.add_argument("--samples", type=int, default=None, help="samples to simulate (default 1000; --quick: 100)")
    ap.add_argument("--latency", action="store_true", help="also build hls4ml with Strategy: Latency")
    ap.add_argument("--pairs", type=int, default=None, help="interleaved timing pairs per strategy (default 5; "
                    "--quick: 3)")
    ap.add_argument("--hls4ml-timeout", type=float, default=900.0, help="seconds allowed per hls4ml phase")
    ap.add_argument("--jobs", type=int, default=None, help="parallel g++ jobs of fpga-flow csim (default 2)")
    ap.add_argument("--keep", type=Path, default=None, help="keep all outputs in this folder (default: temp dir)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hls4ml-worker", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.hls4ml_worker is not None:
        hls4ml_worker(json.loads(a.hls4ml_worker))
        return
    from fpga_flow.sim.csim import default_jobs

    n = a.samples or (100 if a.quick else 1000)
    a.pairs = max(1, a.pairs or (3 if a.quick else 5))
    strategies = ["Resource"] + (["Latency"] if a.latency and not a.quick else [])
    jobs = a.jobs or default_jobs()
    tmp = Path(tempfile.mkdtemp(prefix="bench_hls4ml-")) if a.keep is None else a.keep
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        _run(a, n, strategies, jobs, tmp)
    finally:
        if a.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(a: argparse.Namespace, n: int, strategies: list[str], jobs: int, tmp: Path) -> None:
    machine_facts()
    layers = make_weights(a.seed)
    model = tmp / "mlp.onnx"
    onnx.save(float_onnx(layers, "mlp"), model)
    cb_model = tmp / "mlp_codebook.onnx"
    onnx.save(float_onnx(make_weights(a.seed, CODEBOOK_BITS), "mlp_codebook"), cb_model)
    nnz = sum(int(np.count_nonzero(w)) for w, _ in layers)
    total = sum(w.size for w, _ in layers)
    # MNIST-like input: pixels k/256, exactly on the ap_fixed<16,6> grid (no input rounding in either tool)
    x = np.random.default_rng(a.seed + 1).integers(0, 256, size=(n, SIZES[0])) / 256.0
    x_npy = tmp / "x.npy"
    np.save(x_npy, x)
    print(f"model: float ONNX MatMul+Add+Relu {'-'.join(map(str, SIZES))}, {nnz}/{total} nonzero weights "
          f"({100 * (1 - nnz / total):.1f}% zeros), weights/biases on the {PRECISION} grid; "
          f"{n} input samples (pixels k/256); outputs in {tmp}")
    print(f"hls4ml strategies: {', '.join(strategies)} (timeout {a.hls4ml_timeout:g} s per phase); "
          f"fpga-flow csim g++ jobs: {jobs}; hls4ml's build_lib.sh runs its g++ steps one after another")
    print()

    print("fpga-flow: build, csim (cold compile), reference ...", flush=True)
    ff = run_fpga_flow(model, tmp / "ff_csr", x_npy, jobs)
    ff_cb = run_fpga_flow(cb_model, tmp / "ff_codebook", x_npy, jobs, storage="codebook_csr", sim=False)
    y_ref, ref_s = reference(model, x)
    hl: dict[str, dict] = {}
    pairs: dict[str, list[tuple[float, float]]] = {}
    for s in strategies:
        print(f"hls4ml {s}: convert, write, compile, predict ...", flush=True)
        hl[s], worker = run_hls4ml(s, model, x_npy, tmp / f"hls4ml_{s.lower()}", a.hls4ml_timeout)
        try:
            if "error" in hl[s]:
                print(hl[s]["error"])
            elif hl[s].get("phase") == "serve":
                print(f"  {a.pairs} interleaved pairs: hls4ml {s} predict, fpga-flow run_csim ...", flush=True)
                pairs[s] = interleaved_pairs(worker, tmp / "ff_csr", x_npy, jobs, a.pairs)
        finally:
            worker.close()
        prj = tmp / f"hls4ml_{s.lower()}" / "prj"
        if (prj / "firmware" / "weights").is_dir():
            hl[s]["bits"] = hls4ml_weight_bits(prj)
    print()

    # ---- storage
    print("1. weight bits stored in the project")
    rows = []
    hl_total = None
    for s in strategies:
        bits = hl[s].get("bits")
        if bits:
            tot = sum(bits.values())
            hl_total = hl_total or tot
            parts = ", ".join(f"{k}* {v:,}" for k, v in sorted(bits.items()))
            rows.append([f"hls4ml {s} (firmware/weights/*.h: {parts})", f"{tot:,}", "1.00x", "-"])
    for label, r in (("fpga-flow csr (auto storage)", ff),
                     (f"fpga-flow codebook_csr ({1 << CODEBOOK_BITS}-entry codebook model)", ff_cb)):
        stored = r["report_totals"]["bits_stored"]
        arrays = sum(r["array_bits"].values())
        ratio = f"1/{hl_total / stored:.1f}" if hl_total else "-"
        ratio_arr = f"1/{hl_total / arrays:.1f}" if hl_total else "-"
        parts = ", ".join(f"*_{k} {v:,}" for k, v in sorted(r["array_bits"].items()))
        rows.append([f"{label}: report.json bits_stored", f"{stored:,}", ratio, ""])
        rows.append([f"  same, generated hls/ arrays ({parts})", f"{arrays:,}", ratio_arr, ""])
    table([r[:3] for r in rows], ["project", "bits", "vs hls4ml"])
    print("  (hls4ml stores every weight, zeros included, plus a zero Dense bias and a 1-bit scale per neuron for "
          "the separate bias Add; report.json bits_stored counts weights only, the generated arrays add biases, "
          "CSR last-flags, lane/slot tables (no row pointers) and codebooks; "
          "the codebook model has the same shapes, so hls4ml stores the same "
          "bits for it)")
    print()

    # ---- build time
    print("2. g++ build time of the C simulation")
    rows = []
    for s in strategies:
        h = hl[s]
        comp = h.get("compile_s")
        if h.get("timeout") == "compile":
            comp_txt = f"> {a.hls4ml_timeout:g} s (timeout)"
        else:
            comp_txt = _fmt_s(comp)
        rows.append([f"hls4ml {s}: compile() = write() + build_lib.sh (g++ -O3, 2 files)",
                     _fmt_s(h.get("write_s")), comp_txt])
    rows.append([f"fpga-flow: build + compile_csim cold (g++ -O2, weights -O0, {jobs} jobs)",
                 _fmt_s(ff["build_s"]), _fmt_s(ff["compile_s"])])
    table(rows, ["tool", "write/emit", "g++ compile"])
    print("  (hls4ml's csim does not compile its weights: firmware/weights/*.h are empty arrays under "
          "#ifndef __SYNTHESIS__ and the library reads weights/*.txt at the first predict; fpga-flow compiles "
          "its weight tables into the binary)")
    print()

    # ---- run time
    print(f"3. C simulation time, {n} samples")
    rows = []
    for s in strategies:
        h = hl[s]
        if "predict_warm_s" in h:
            marg = (h["predict_warm_s"] - h["predict_one_s"]) / max(1, n - 1)
            rows.append([f"hls4ml {s} predict (1st call, reads weights .txt)", _fmt_s(h["predict_cold_s"]),
                         _fmt_ms(h["predict_cold_s"] / n), "-"])
            rows.append([f"hls4ml {s} predict (2nd call)", _fmt_s(h["predict_warm_s"]),
                         _fmt_ms(h["predict_warm_s"] / n), _fmt_ms(marg)])
        else:
            why = f"> {a.hls4ml_timeout:g} s (timeout in {h['timeout']})" if "timeout" in h else "failed"
            rows.append([f"hls4ml {s} predict", why, "-", "-"])
    ff_marg = (ff["run_s"] - ff["run_one_s"]) / max(1, n - 1)
    rows.append(["fpga-flow run_csim (a new process: start-up, text I/O)", _fmt_s(ff["run_s"]),
                 _fmt_ms(ff["run_s"] / n), _fmt_ms(ff_marg)])
    rows.append(["fpga-flow Python reference (graph.run, for scale)", _fmt_s(ref_s), _fmt_ms(ref_s / n), "-"])
    table(rows, ["run", "total", "per sample", "marginal/sample"])
    print("  (marginal = (time for n samples - time for 1 sample) / (n - 1): the cost without start-up)")
    print()
    speedups: dict[str, tuple[float, float]] = {}
    for s, ps in pairs.items():
        if not ps:
            continue
        h_t, f_t = [p_[0] for p_ in ps], [p_[1] for p_ in ps]
        ratios = [h_ / f_ for h_, f_ in ps]
        speedups[s] = (statistics.median(ratios), min(ratios))
        print(f"3b. interleaved, hls4ml {s} predict then fpga-flow run_csim, {len(ps)} pairs of {n} samples "
              f"(load average {' '.join(f'{v:.2f}' for v in os.getloadavg())})")
        table([[f"hls4ml {s} predict", _fmt_ms(min(h_t) / n), _fmt_ms(statistics.median(h_t) / n)],
               ["fpga-flow run_csim", _fmt_ms(min(f_t) / n), _fmt_ms(statistics.median(f_t) / n)],
               ["ratio hls4ml / fpga-flow per pair", f"{speedups[s][1]:.1f}x", f"{speedups[s][0]:.1f}x"]],
              ["per sample", "min", "median"])
        each = ", ".join(f"{1e3 * h_ / n:.3f}/{1e3 * f_ / n:.3f} ms" for h_, f_ in ps)
        print(f"  pairs (hls4ml / fpga-flow per sample): {each}")
        print()

    # ---- equality
    print("4. equal outputs (types that agree in both tools)")
    print(f"  compared: input, weights, biases, every layer output and ReLU output {PRECISION} (AP_TRN, AP_WRAP);")
    print(f"  hls4ml: accum_t {HLS4ML_ACCUM} (products and sums exact), MatMul -> cast to result_t, bias Add "
          f"(ApplyAlpha, scale 1) -> {PRECISION}, Relu -> {PRECISION};")
    print(f"  fpga-flow (--precision {PRECISION}): overflow-free accumulators ({'; '.join(ff['types'])}),")
    print("  bias added before the single requantization; with AP_TRN on a bias that is on the output grid and "
          "AP_WRAP (modular), both orders give the same bits.")
    rows = []
    y_ff = ff["y"]

    def eq(a_: np.ndarray, b_: np.ndarray) -> str:
        same = np.all(a_ == b_, axis=1)
        return f"{int(same.sum())}/{len(same)} samples ({int((a_ == b_).sum())}/{a_.size} values)"

    rows.append(["fpga-flow csim vs fpga-flow reference", eq(y_ff, y_ref)])
    for s in strategies:
        y_path = tmp / f"hls4ml_{s.lower()}" / "y.npy"
        if y_path.is_file():
            y_h = np.load(y_path)
            rows.append([f"hls4ml {s} predict vs fpga-flow csim", eq(y_h, y_ff)])
            rows.append([f"hls4ml {s} predict vs fpga-flow reference", eq(y_h, y_ref)])
    table(rows, ["pair", "equal"])
    print()

    # ---- goals
    print("goals (issue 3)")
    base = next((hl[s] for s in strategies if "bits" in hl[s]), None)
    if base is not None and hl_total:
        stored = ff["report_totals"]["bits_stored"]
        stored_cb = ff_cb["report_totals"]["bits_stored"]
        goal("weight bits: fpga-flow <= 1/10 of hls4ml (csr)", stored * 10 <= hl_total,
             f"1/{hl_total / stored:.1f} ({stored:,} vs {hl_total:,})")
        goal("weight bits: fpga-flow <= 1/10 of hls4ml (codebook_csr)", stored_cb * 10 <= hl_total,
             f"1/{hl_total / stored_cb:.1f} ({stored_cb:,} vs {hl_total:,})")
    for s in strategies:
        h = hl[s]
        if h.get("timeout") == "compile":
            met = True if ff["compile_s"] <= a.hls4ml_timeout else None  # unknown: hls4ml was stopped first
            goal(f"g++ build: fpga-flow <= hls4ml {s}", met,
                 f"{ff['compile_s']:.1f} s vs > {a.hls4ml_timeout:g} s (timeout)")
        elif "compile_s" in h:
            goal(f"g++ build: fpga-flow <= hls4ml {s}", ff["compile_s"] <= h["compile_s"],
                 f"{ff['compile_s']:.1f} s vs {h['compile_s']:.1f} s")
        if s in speedups:
            med, low = speedups[s]
            goal(f"csim per sample: fpga-flow >= 10x faster than {s}", med >= 10,
                 f"{med:.1f}x median of {len(pairs[s])} interleaved pairs ({low:.1f}x min)")
        elif "predict_warm_s" in h:
            sp = h["predict_warm_s"] / ff["run_s"]
            goal(f"csim per sample: fpga-flow >= 10x faster than {s}", sp >= 10, f"{sp:.1f}x vs 2nd predict call")
    for s in strategies:
        y_path = tmp / f"hls4ml_{s.lower()}" / "y.npy"
        if y_path.is_file():
            same = int(np.all(np.load(y_path) == y_ff, axis=1).sum())
            goal(f"same outputs as hls4ml {s} where types agree", same == n, f"{same}/{n} samples equal")


if __name__ == "__main__":
    main()
