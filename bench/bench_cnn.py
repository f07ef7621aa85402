"""fpga-flow vs hls4ml 1.3.0 on a pruned LeNet-5, and FINN's CNV topology on a PYNQ-Z2 (the CNN benchmark).

The LeNet-5 is the Caffe / Deep Compression one: input 1x28x28, conv 20 5x5 + ReLU, maxpool 2, conv 50
5x5 + ReLU, maxpool 2, fc 500 + ReLU, fc 10; magnitude-pruned to Deep Compression's densities (conv1
66 %, conv2 12 %, fc1 8 %, fc2 19 %: about 415k nonzero MACs per image), every weight and bias on the
ap_fixed<16,6> grid so that both tools hold them exactly, exported by ``torch.onnx.export`` (TorchScript
exporter, opset 13). A second model adds a BatchNorm2d after each convolution (non-trivial statistics,
kept as ONNX BatchNormalization). Inputs: Fashion-MNIST test images (pixels k/256, on the grid) when
Debian's dataset-fashion-mnist is installed, else random pixels k/256.

Printed side by side (hls4ml: ``convert_from_onnx_model`` after qonnx's channels-last conversion,
io_stream, Resource strategy, every type ap_fixed<16,6>, accumulators fixed<40,20>; fpga-flow:
``build`` with ``precision=ap_fixed<16,6>``):

1. weight bits stored in the project (hls4ml's firmware/weights/*.h, zeros included; fpga-flow's plan
   ROMs: values or codes, tap indices, row ends, lane/slot tables, biases, codebooks), also for a
   weight-shared variant of the model (256 values per conv, 32 per fc; planned only);
2. g++ build time of the C simulation (hls4ml ``compile()``'s build_lib.sh vs fpga-flow ``compile_csim``,
   both cold) and C simulation time per image (hls4ml ``predict`` vs fpga-flow ``run_csim``, a new
   process with text I/O): the two tools are timed interleaved, A B A B over several pairs, wall and
   CPU seconds (CPU: the process's own for ``predict``, its reaped children's for g++ and run_csim),
   min / median, and the ratio per pair;
3. outputs: each tool against an exact evaluation written here (integer arithmetic; a BatchNorm in
   exact rational arithmetic to the last bit) and against each other; fpga-flow csim and RTL
   simulation against fpga-flow's bit-exact reference;
4. fpga-flow RTL cycles per image (Verilator, back-to-back stream, steady-state II) at P = 1, 4, 16, ...
   up to the largest P that yosys ``synth`` says fits the PYNQ-Z2 (the plan's resource estimate picks
   the candidates; yosys runs on a few), against the bound: nonzero MACs / lanes of the slowest MAC
   stage, and the board's nonzero MACs / 220 DSPs; images/s at 100 MHz; and the same for the
   automatic folding ("auto": ``build`` without ``-P``, lanes per layer), yosys on it unless ``--no-synth``;
5. FINN's CNV topology (3x32x32, conv 64-64-pool-128-128-pool-256-256 3x3 unpadded, fc 512-512-10,
   8-bit weights at 10-20 % density, random values): the fpga-flow plan's fit on the PYNQ-Z2, cycles
   and images/s at 100 MHz, next to FINN's figures as the issue quotes them: 661 images/s single-stream
   (3,020 batched) in 22.7k LUT, 100 BRAM36, 0 DSP. ``--cnv-synth`` also runs yosys on the largest CNV
   design whose estimate fits (none does today).

Goals are printed next to the measured figures. hls4ml runs in a child process (commands over a pipe)
so that a phase longer than ``--hls4ml-timeout`` can be stopped. Asserts nothing. A full run takes about
16 minutes on a 2-core VM (yosys about 9 of them), ``--quick`` (20 images, one compile pair, P in {1, 4},
no yosys) about 4.

Run: .venv/bin/python bench/bench_cnn.py [--quick] [--samples N] [--hls4ml-timeout S] [--no-synth] [--skip-hls4ml]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from fractions import Fraction
from math import isqrt
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from bench_hls4ml import _fmt_s, goal, hls4ml_weight_bits, machine_facts, table
from onnx import numpy_helper

W, I = 16, 6  # ap_fixed<16,6> everywhere in the LeNet-5
FRAC = W - I
PRECISION = f"ap_fixed<{W},{I}>"
HLS4ML_PRECISION = f"fixed<{W},{I}>"
HLS4ML_ACCUM = "fixed<40,20>"  # no product or partial sum is rounded or wrapped
BOARD = "pynq-z2"
PART = "xc7z020clg400-1"
#: Deep Compression's LeNet-5 densities per layer (Han, Mao, Dally 2015).
LENET_KEEP = {"conv1": 0.66, "conv2": 0.12, "fc1": 0.08, "fc2": 0.19}
#: Code bits of the weight-shared variant (counted for storage only): 256 shared values per conv, 32 per fc.
SHARE_BITS = {"conv1": 8, "conv2": 8, "fc1": 5, "fc2": 5}
#: Parallelism candidates of the estimate sweep; the RTL is simulated at the powers of 4 among them.
P_SWEEP = (1, 2, 4, 8, 16, 32, 64)
#: Most yosys runs per model (the largest fitting P is searched around the estimate's).
MAX_SYNTH = 3
#: FINN CNV: 3x3 convolutions without padding, 2x2 max pools after the 2nd and 4th, then fc.
CNV_CONVS = (64, 64, "pool", 128, 128, "pool", 256, 256)
CNV_FC = (512, 512, 10)
CNV_PRECISION = "ap_fixed<8,3>"  # 8-bit weights, biases and activations
CNV_KEEP_FIRST, CNV_KEEP_CONV, CNV_KEEP_FC = 0.20, 0.15, 0.10
#: FINN's CNV figures (PYNQ, 100 MHz) as the issue quotes them.
FINN_CNV = {"fps": 661, "fps_batched": 3020, "lut": 22_700, "bram36": 100, "dsp": 0}
GOAL_BUILD_S = 10.0
GOAL_CSIM_SPEEDUP = 10.0
GOAL_CYCLES = 1.2
GOAL_BITS = 10.0


# ----------------------------------------------------------------------------- models
def _on_grid(a: np.ndarray, frac: int = FRAC, width: int = W) -> np.ndarray:
    m = np.clip(np.round(np.ldexp(a, frac)), -(1 << (width - 1)), (1 << (width - 1)) - 1)
    return np.ldexp(m, -frac)


def _torch():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import torch
        from torch import nn
    return torch, nn


def _prune_init(weight: Any, keep: float, gain: float, rng: np.random.Generator, frac: int, width: int) -> None:
    """Magnitude pruning of a normal draw to ``keep`` of the weights, kept weights scaled so that each
    output has the He variance ``gain / kept fan-in``, rounded onto the fixed-point grid (in place)."""
    torch, _ = _torch()
    shape = tuple(weight.shape)
    w = rng.normal(size=shape)
    flat = np.abs(w).ravel()
    n_keep = max(1, int(round(keep * flat.size)))
    thr = np.partition(flat, flat.size - n_keep)[flat.size - n_keep]
    w = np.where(np.abs(w) >= thr, w, 0.0)
    kept = w[w != 0]
    fan = n_keep / shape[0]
    w *= np.sqrt(gain / fan) / np.sqrt(np.mean(kept**2))
    weight.copy_(torch.from_numpy(_on_grid(w, frac, width)).to(weight.dtype))


def _share(weight: Any, bits: int) -> None:
    """Weight sharing: every nonzero snapped to the nearest of 2**bits grid values (quantiles of the
    nonzeros); pruned weights stay exact zeros (in place)."""
    torch, _ = _torch()
    w = weight.detach().double().numpy()
    nz = w[w != 0]
    book = np.unique(_on_grid(np.quantile(nz, (np.arange(1 << bits) + 0.5) / (1 << bits))))
    book = book[book != 0]
    snapped = book[np.abs(w[..., None] - book).argmin(axis=-1)]
    weight.copy_(torch.from_numpy(np.where(w != 0, snapped, 0.0)).to(weight.dtype))


def lenet5(seed: int, bn: bool, share: bool = False) -> Any:
    """The pruned LeNet-5 (eval mode), weights and biases on the ap_fixed<16,6> grid; ``share``: weight
    sharing too (:data:`SHARE_BITS` per layer)."""
    torch, nn = _torch()

    class LeNet5(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 20, 5)
            self.bn1 = nn.BatchNorm2d(20) if bn else nn.Identity()
            self.pool1 = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(20, 50, 5)
            self.bn2 = nn.BatchNorm2d(50) if bn else nn.Identity()
            self.pool2 = nn.MaxPool2d(2)
            self.fc1 = nn.Linear(800, 500)
            self.fc2 = nn.Linear(500, 10)

        def forward(self, x: Any) -> Any:
            x = self.pool1(torch.relu(self.bn1(self.conv1(x))))
            x = self.pool2(torch.relu(self.bn2(self.conv2(x))))
            return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))

    torch.manual_seed(seed)
    m = LeNet5().eval()
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, keep in LENET_KEEP.items():
            mod = getattr(m, name)
            _prune_init(mod.weight, keep, 1.0 if name == "fc2" else 2.0, rng, FRAC, W)
            mod.bias.copy_(torch.from_numpy(_on_grid(rng.normal(0.0, 0.05, mod.bias.shape))).float())
            if share:
                _share(mod.weight, SHARE_BITS[name])
        if bn:
            for b in (m.bn1, m.bn2):
                c = b.num_features
                b.weight.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, c)).float())
                b.weight[0] = -b.weight[0]  # a negative gamma: the multiplier changes sign
                b.bias.copy_(torch.from_numpy(rng.normal(0.0, 0.3, c)).float())
                b.running_mean.copy_(torch.from_numpy(rng.normal(0.0, 0.3, c)).float())
                b.running_var.copy_(torch.from_numpy(rng.uniform(0.4, 1.6, c)).float())
    return m


def cnv(seed: int) -> Any:
    """FINN's CNV topology in float, pruned, 8-bit weights and biases (random values)."""
    torch, nn = _torch()
    frac, width = 8 - 3, 8
    layers: list[Any] = []
    c_in = 3
    for spec in CNV_CONVS:
        if spec == "pool":
            layers.append(nn.MaxPool2d(2))
            continue
        layers += [nn.Conv2d(c_in, int(spec), 3), nn.ReLU()]
        c_in = int(spec)
    layers.append(nn.Flatten())
    n_in = c_in  # 32 -> 30 -> 28 -> 14 -> 12 -> 10 -> 5 -> 3 -> 1: a 256x1x1 map
    for i, n in enumerate(CNV_FC):
        layers.append(nn.Linear(n_in, n))
        if i < len(CNV_FC) - 1:
            layers.append(nn.ReLU())
        n_in = n
    torch.manual_seed(seed)
    m = nn.Sequential(*layers).eval()
    rng = np.random.default_rng(seed)
    weighted = [mod for mod in m if isinstance(mod, nn.Conv2d | nn.Linear)]
    with torch.no_grad():
        for k, mod in enumerate(weighted):
            keep = CNV_KEEP_FIRST if k == 0 else CNV_KEEP_CONV if isinstance(mod, nn.Conv2d) else CNV_KEEP_FC
            _prune_init(mod.weight, keep, 2.0, rng, frac, width)
            mod.bias.copy_(torch.from_numpy(_on_grid(rng.normal(0.0, 0.05, mod.bias.shape), frac, width)).float())
    return m


def export(module: Any, in_shape: tuple[int, ...], path: Path) -> None:
    """``torch.onnx.export`` (TorchScript exporter, opset 13, batch 1); a BatchNorm stays a node."""
    torch, _ = _torch()
    buf = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros((1, *in_shape)),), buf, input_names=["input"],
                          output_names=["output"], opset_version=13, dynamo=False,
                          training=torch.onnx.TrainingMode.PRESERVE)
    onnx.save(onnx.load_from_string(buf.getvalue()), path)


def images(n: int, seed: int) -> tuple[np.ndarray, str]:
    """(n, 1, 28, 28) float64 pixels k/256 and where they come from."""
    with contextlib.suppress(Exception):
        from fpga_flow.compress.data import load_fashion_mnist

        ds = load_fashion_mnist()
        x = ds.x_test[:n].reshape(-1, 1, 28, 28).astype(np.float64)
        if len(x) == n and np.all(np.ldexp(x, 8) == np.round(np.ldexp(x, 8))):
            return x, f"Fashion-MNIST test images 0..{n - 1}"
    x = np.random.default_rng(seed + 1).integers(0, 256, size=(n, 1, 28, 28)) / 256.0
    return x, "random pixels k/256 (Fashion-MNIST not installed)"


# ----------------------------------------------------------------------------- exact evaluation
def _wrap(v: np.ndarray) -> tuple[np.ndarray, int]:
    """AP_WRAP to W bits (mantissas); also how many values wrapped."""
    w = ((v + (1 << (W - 1))) % (1 << W)) - (1 << (W - 1))
    return w.astype(np.int64), int(np.count_nonzero(w != v))


def _mant(a: np.ndarray, what: str) -> np.ndarray:
    m = np.ldexp(np.asarray(a, np.float64), FRAC)
    if not np.all(m == np.round(m)):
        raise ValueError(f"{what} is not on the {PRECISION} grid")
    return np.round(m).astype(np.int64)


def _bn_exact(x: np.ndarray, gamma: float, beta: float, mean: float, var: float, eps: float) -> tuple[int, int]:
    """Per channel: floor(2^FRAC * ((x - mean) * gamma / sqrt(var + eps) + beta)) for the int mantissas ``x``
    (in place), in exact rational arithmetic; returns (values, undecided) -- undecided: the 2^-96 bracket of
    the irrational scale straddles an integer (then the lower end is taken)."""
    p = 96
    g, b, mu, v, e = (Fraction(float(t)) for t in (gamma, beta, mean, var, eps))
    s2 = g * g * (1 << (2 * p)) / (v + e)
    s_lo = isqrt(s2.numerator // s2.denominator)  # floor(|s| 2^p)
    sign = -1 if g < 0 else 1
    mu_s = mu * (1 << FRAC)
    den = max(mu_s.denominator, (b * (1 << FRAC)).denominator)  # a power of two
    mu_n = int(mu_s * den)
    b_n = int(b * (1 << FRAC) * den) << p
    flat = x.reshape(-1)
    t = flat.astype(object) * den - mu_n  # (x - mean) * 2^FRAC * den, exact
    lo = np.where(t >= 0, t * s_lo, t * (s_lo + 1)) * sign
    hi = np.where(t >= 0, t * (s_lo + 1), t * s_lo) * sign
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    q = den << p
    f_lo = (lo + b_n) // q
    f_hi = (hi + b_n) // q
    flat[:] = f_lo.astype(np.int64)
    return int(flat.size), int(np.count_nonzero(f_lo != f_hi))


def exact_outputs(model_path: Path, x: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """The model on ``x`` (N, C, H, W) with every tensor ap_fixed<16,6> (AP_TRN, AP_WRAP) and every
    product and sum exact: an evaluation of the ONNX graph independent of both tools (integer mantissas;
    a BatchNormalization in exact rational arithmetic). Returns float64 outputs and counters."""
    m = onnx.load(model_path)
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    a = _mant(x, "input")
    stats = {"wrapped": 0, "bn_values": 0, "bn_undecided": 0}
    names = {m.graph.input[0].name: a}
    for node in m.graph.node:
        attrs = {at.name: onnx.helper.get_attribute_value(at) for at in node.attribute}
        src = names.get(node.input[0]) if node.input else None
        op = node.op_type
        if op in ("Identity", "Dropout"):
            out = src
        elif op == "Conv":
            wm = _mant(init[node.input[1]], node.name)
            bm = _mant(init[node.input[2]], node.name) if len(node.input) > 2 else np.zeros(wm.shape[0], np.int64)
            strided = any(v != 1 for v in attrs.get("strides", [1]))
            if attrs.get("group", 1) != 1 or any(attrs.get("pads", [0])) or strided:
                raise ValueError(f"{node.name}: only group 1, no padding, stride 1")
            co, ci, kh, kw = wm.shape
            n, _, h, w = src.shape
            oh, ow = h - kh + 1, w - kw + 1
            cols = np.stack([src[:, :, y:y + oh, xx:xx + ow] for y in range(kh) for xx in range(kw)], axis=2)
            cols = cols.reshape(n, ci * kh * kw, oh * ow)  # (ci, ky, kx) row-major, as W[co, ci, ky, kx]
            acc = np.einsum("ok,nkp->nop", wm.reshape(co, -1), cols) + (bm[None, :, None] << FRAC)
            out, k = _wrap((acc >> FRAC).reshape(n, co, oh, ow))  # AP_TRN: floor
            stats["wrapped"] += k
        elif op == "BatchNormalization":
            gamma, beta, mean, var = (init[t] for t in node.input[1:5])
            out = src.copy()
            for c in range(out.shape[1]):
                ch = np.ascontiguousarray(out[:, c])
                nv, und = _bn_exact(ch, gamma[c], beta[c], mean[c], var[c], attrs.get("epsilon", 1e-5))
                out[:, c] = ch
                stats["bn_values"] += nv
                stats["bn_undecided"] += und
            out, k = _wrap(out)
            stats["wrapped"] += k
        elif op == "Relu":
            out = np.maximum(src, 0)
        elif op == "MaxPool":
            (kh, kw), (sh, sw) = attrs["kernel_shape"], attrs.get("strides", attrs["kernel_shape"])
            if (kh, kw) != (sh, sw) or any(attrs.get("pads", [0])):
                raise ValueError(f"{node.name}: only non-overlapping pools without padding")
            n, c, h, w = src.shape
            out = src[:, :, : h // kh * kh, : w // kw * kw].reshape(n, c, h // kh, kh, w // kw, kw).max(axis=(3, 5))
        elif op == "Flatten":
            out = src.reshape(src.shape[0], -1)
        elif op == "Gemm":
            wm = _mant(init[node.input[1]], node.name)
            wm = wm if attrs.get("transB", 0) else wm.T
            bm = _mant(init[node.input[2]], node.name)
            out, k = _wrap((src @ wm.T + (bm << FRAC)) >> FRAC)
            stats["wrapped"] += k
        else:
            raise ValueError(f"exact evaluator: op {op} ({node.name}) not handled")
        names[node.output[0]] = out
    return np.ldexp(names[m.graph.output[0].name].astype(np.float64), -FRAC), stats


def bn_rule_check(model_path: Path, x: np.ndarray) -> list[tuple[str, int, int]]:
    """Per BatchNormalization: (layer, values of fpga-flow's folded BN that differ from the exact BN of
    the same input, values), on fpga-flow's own reference tensors (no upstream difference carried in)."""
    from fpga_flow.pipeline import load_and_lower

    m = onnx.load(model_path)
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    g = load_and_lower(model_path, PRECISION)
    vals = g.execute(x.reshape(len(x), -1))
    by_origin = {lay.origin: lay for lay in g.layers}
    out = []
    for node in m.graph.node:
        if node.op_type != "BatchNormalization" or node.name not in by_origin:
            continue
        lay = by_origin[node.name]
        shape = (len(x), *lay.shape)
        xin = np.asarray(vals[lay.inputs[0]], np.int64).reshape(shape).copy()
        eps = next((at.f for at in node.attribute if at.name == "epsilon"), 1e-5)
        gamma, beta, mean, var = (init[t] for t in node.input[1:5])
        for c in range(shape[1]):
            ch = np.ascontiguousarray(xin[:, c])
            _bn_exact(ch, gamma[c], beta[c], mean[c], var[c], eps)
            xin[:, c] = ch
        want, _ = _wrap(xin)
        got = np.asarray(vals[lay.name], np.int64).reshape(shape)
        out.append((lay.name, int(np.count_nonzero(want != got)), int(got.size)))
    return out


# ----------------------------------------------------------------------------- hls4ml worker (child process)
def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def hls4ml_worker() -> None:
    """Child process: one JSON command per stdin line, one JSON reply per line on the original stdout
    (everything hls4ml and g++ print goes to stderr, the worker log)."""
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    hm = None
    for line in sys.stdin:
        req = json.loads(line)
        res: dict[str, Any] = {"ok": True}
        try:
            if req["cmd"] == "convert":
                hm, res = _h4_convert(req["model"], req["prj"])
                res["ok"] = True
            elif req["cmd"] == "compile":
                assert hm is not None
                c0, t0 = _cpu_children(), time.perf_counter()
                hm._compile()  # what compile() does after write(): build_lib.sh (g++), then load the library
                res.update(wall=time.perf_counter() - t0, cpu=_cpu_children() - c0)
                hm.predict(np.zeros((1, *hm.get_input_variables()[0].shape), np.float32))  # loads weights .txt
            elif req["cmd"] == "predict":
                assert hm is not None
                x = np.load(req["x"]).transpose(0, 2, 3, 1).astype(np.float32)  # NCHW -> NHWC
                c0, t0 = time.process_time(), time.perf_counter()
                y = hm.predict(x)
                res.update(wall=time.perf_counter() - t0, cpu=time.process_time() - c0, n=len(x))
                if req.get("y"):
                    np.save(req["y"], np.asarray(y, np.float64).reshape(len(x), -1))
            elif req["cmd"] == "quit":
                break
        except Exception:
            res = {"ok": False, "error": traceback.format_exc(limit=6)}
        reply.write(json.dumps(res) + "\n")


def _h4_convert(model: str, prj: str) -> tuple[Any, dict[str, Any]]:
    t0 = time.perf_counter()
    import hls4ml
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    qm = cleanup_model(ModelWrapper(onnx.load(model)))
    qm = qm.transform(ConvertToChannelsLastAndClean(make_input_channels_last=True))
    qm = cleanup_model(qm.transform(GemmToMatMul()))
    cfg = hls4ml.utils.config_from_onnx_model(qm.model, granularity="name", backend="Vivado",
                                              default_precision=HLS4ML_PRECISION)
    cfg["Model"]["Strategy"] = "Resource"
    for layer in cfg["LayerName"].values():
        prec = layer.get("Precision", {})
        for k in prec:  # every type explicit: no 'auto' inference (and so no BN fused into a conv)
            if k == "accum":
                prec[k] = HLS4ML_ACCUM
            elif prec[k] == "auto":
                prec[k] = HLS4ML_PRECISION
        layer["Strategy"] = "Resource"
    hm = hls4ml.converters.convert_from_onnx_model(qm.model, output_dir=prj, backend="Vivado", io_type="io_stream",
                                                   hls_config=cfg, part=PART)
    convert_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    hm.write()
    layers = [f"{lay.name} ({lay.class_name}): " + ", ".join(f"{k}={v.precision}" for k, v in lay.types.items())
              for lay in hm.get_layers()]
    return hm, {"convert_s": convert_s, "write_s": time.perf_counter() - t0, "layers": layers}


class Hls4mlTimeout(RuntimeError):
    pass


class Hls4ml:
    """The parent's handle on one worker process (one hls4ml project)."""

    def __init__(self, work: Path, timeout: float) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.work, self.timeout = work, timeout
        self.log = open(work / "worker.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, __file__, "--hls4ml-worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, start_new_session=True)

    def call(self, cmd: str, **kw: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"hls4ml {cmd}: the worker is not running (exit status {self.proc.returncode})")
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        if not ready:
            self.kill()
            raise Hls4mlTimeout(f"hls4ml {cmd}: > {self.timeout:g} s (stopped)")
        line = self.proc.stdout.readline()
        if not line:
            self.kill()
            tail = "\n".join((self.work / "worker.log").read_text(errors="replace").splitlines()[-15:])
            raise RuntimeError(f"hls4ml worker died during {cmd} (exit status {self.proc.returncode}):\n{tail}")
        res = json.loads(line)
        if not res.get("ok"):
            raise RuntimeError(f"hls4ml {cmd} failed:\n{res.get('error')}")
        return res

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # the worker and its g++ children
            self.proc.wait()
        self.log.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


# ----------------------------------------------------------------------------- fpga-flow
def ff_build(model: Path, out: Path, p: int | None, stimulus: Path, precision: str = PRECISION) -> tuple[Any, float]:
    """``fpga-flow build`` at parallelism ``p`` (``None``: the automatic folding)."""
    from fpga_flow.pipeline import BuildOptions, build

    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        b = build(model, out, BuildOptions(board=BOARD, parallelism=p, precision=precision, stimulus=stimulus))
    return b, time.perf_counter() - t0


def ff_compile(out: Path, jobs: int) -> dict[str, float]:
    """fpga-flow's C simulation compiled cold (no cached object)."""
    from fpga_flow.sim.csim import compile_csim

    shutil.rmtree(out / "hls" / "csim_build", ignore_errors=True)
    c0, t0 = _cpu_children(), time.perf_counter()
    compile_csim(out / "hls", jobs=jobs, log=None)
    return {"wall": time.perf_counter() - t0, "cpu": _cpu_children() - c0}


def ff_run(out: Path, x_npy: Path, jobs: int) -> dict[str, Any]:
    from fpga_flow.sim.csim import run_csim

    c0 = _cpu_children()
    r = run_csim(out, x_npy, None, jobs=jobs, log=None)
    return {"wall": r.run_seconds, "cpu": _cpu_children() - c0, "y": r.float_outputs, "n": r.n_samples}


def reference(model: Path, x: np.ndarray) -> np.ndarray:
    """fpga-flow's bit-exact Python reference."""
    from fpga_flow.fixed import to_float
    from fpga_flow.pipeline import load_and_lower

    mant, t = load_and_lower(model, PRECISION).run(x.reshape(len(x), -1))
    return to_float(mant, t)


def mac_stages(graph: Any) -> dict[str, int]:
    """Nonzero MACs per image of every convolution and dense layer, by layer name."""
    from fpga_flow.ir import Conv2dLayer, MacLayer

    out = {}
    for lay in graph.layers:
        if isinstance(lay, Conv2dLayer):
            out[lay.name] = int(lay.nnz) * int(lay.shape[1]) * int(lay.shape[2])
        elif isinstance(lay, MacLayer):
            out[lay.name] = int(lay.nnz)
    return out


def plan_point(graph: Any, p: int | None, board: Any, design: Any = None) -> dict[str, Any]:
    """The plan's figures at parallelism ``p`` (``None``: the automatic folding, as ``build`` without
    ``-P`` plans it; ``design``: that plan, already made), its fit (estimate) and the cycle bounds."""
    from fpga_flow.analysis.fit import fit_report
    from fpga_flow.hw import plan_design, plan_figures
    from fpga_flow.pipeline import plan

    if design is None:
        design = plan_design(graph, p, board) if p is not None else plan(graph, None, board)
    fig = plan_figures(design)
    macs = mac_stages(graph)
    lanes = {r["name"]: r["lanes"] for r in fig["layers"]}
    stage = max(-(-m // max(1, lanes[n])) for n, m in macs.items())
    total_lanes = sum(lanes[n] for n in macs)
    return {"p": p, "fig": fig, "fit": fit_report(fig, board), "bound_stage": stage,
            "bound_lanes": sum(macs.values()) / total_lanes, "mac_lanes": total_lanes}


def synth_fit(out: Path, board: Any, fig: dict[str, Any]) -> dict[str, Any]:
    from fpga_flow.analysis.fit import fit_report
    from fpga_flow.sim.synth import run_synth

    r = run_synth(out, board, log=None)
    return {"counts": r.counts, "seconds": r.seconds, "fit": fit_report(fig, board, synth=r.counts)}


def rtl_cycles(out: Path, fig: dict[str, Any], n: int) -> dict[str, Any]:
    """RTL cycles in Verilator. The generated C++ is compiled at -O0 unless FPGA_FLOW_VERILATOR_OPT
    says otherwise: the cycles do not depend on it, and a design of 200 lanes takes 12 minutes to build
    and simulate at -O0 against over 30 at Verilator's -Os."""
    from fpga_flow.sim.rtl_sim import OPT_ENV, run_rtl_sim

    os.environ.setdefault(OPT_ENV, "-O0")
    t = fig["totals"]
    t0 = time.perf_counter()
    sim = run_rtl_sim(out / "rtl", out / "tb_data", phases=("ideal",), build_dir=out / "sim_build",
                      max_samples=n, max_cycles=4 * (t["latency"] + n * t["ii"]) + 10_000)
    ph = sim.phases.get("ideal")
    return {"passed": sim.passed, "ii": sim.ii, "latency": sim.latency, "wall": time.perf_counter() - t0,
            "mismatches": ph.n_mismatches if ph else None, "samples": ph.samples_out if ph else 0,
            "summary": sim.summary()}


# ----------------------------------------------------------------------------- printing helpers
def _stats(v: list[float]) -> str:
    if not v:
        return "-"
    return f"{min(v):.3f} / {statistics.median(v):.3f}"


def _ms(v: list[float], n: int) -> str:
    if not v:
        return "-"
    return f"{1e3 * min(v) / n:.3f} / {1e3 * statistics.median(v) / n:.3f}"


def _ratios(a: list[float], b: list[float]) -> list[float]:
    return [x / y for x, y in zip(a, b, strict=False) if y > 0]


def _rstats(r: list[float]) -> str:
    if not r:
        return "-"
    return f"{min(r):.2f} / {statistics.median(r):.2f} / {max(r):.2f}"


def _eq(a: np.ndarray | None, b: np.ndarray | None) -> str:
    if a is None or b is None:
        return "-"
    if a.shape != b.shape:
        return f"shapes differ {a.shape} vs {b.shape}"
    same = np.all(a == b, axis=1)
    return (f"{int(same.sum())}/{len(same)} images equal, {int((a != b).sum())}/{a.size} values differ"
            + (f" (max |diff| {np.max(np.abs(a - b)):.6g})" if (a != b).any() else ""))


def _n_diff(a: np.ndarray | None, b: np.ndarray | None) -> int | None:
    return None if a is None or b is None or a.shape != b.shape else int((a != b).sum())


def _short(e: BaseException, lines: int = 4) -> str:
    """An exception as a few lines (a g++ failure carries 40 lines of template errors)."""
    text = f"{type(e).__name__}: {e}".strip().splitlines()
    more = f" ... ({len(text) - lines} more lines)" if len(text) > lines else ""
    return "\n    ".join(ln[:300] for ln in text[:lines]) + more


def _fits(fit: dict[str, Any]) -> str:
    if fit["fits"]:
        return "fits"
    o = fit.get("overflow") or {}
    return f"NO ({o.get('label', '?')} {o.get('utilization_percent', 0):.0f}%)"


# ----------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 images, 1 compile pair, P in {1, 4}, no synth")
    ap.add_argument("--samples", type=int, default=None, help="images for csim and predict (default 100; --quick 20)")
    ap.add_argument("--pairs", type=int, default=None, help="interleaved timing pairs of predict/run_csim "
                    "(default 5; --quick 2); compile pairs: 3 (--quick 1)")
    ap.add_argument("--rtl-samples", type=int, default=None, help="images per RTL simulation (default 3; --quick 2)")
    ap.add_argument("--hls4ml-timeout", type=float, default=900.0, help="seconds allowed per hls4ml command")
    ap.add_argument("--no-synth", action="store_true", help="no yosys: the estimate decides what fits")
    ap.add_argument("--skip-hls4ml", action="store_true", help="fpga-flow only")
    ap.add_argument("--cnv-synth", action="store_true", help="also yosys on the largest CNV design that fits")
    ap.add_argument("--jobs", type=int, default=None, help="parallel g++ jobs of fpga-flow csim (default 2)")
    ap.add_argument("--keep", type=Path, default=None, help="keep all outputs in this folder (default: temp dir)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hls4ml-worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.hls4ml_worker:
        hls4ml_worker()
        return
    from fpga_flow.sim.csim import default_jobs

    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # verilator, cocotb
    a.n = a.samples or (20 if a.quick else 100)
    a.pairs = a.pairs or (2 if a.quick else 5)
    a.compile_pairs = 1 if a.quick else 3
    a.rtl_n = a.rtl_samples or (2 if a.quick else 3)
    a.jobs = a.jobs or default_jobs()
    a.synth = not (a.no_synth or a.quick)
    tmp = Path(tempfile.mkdtemp(prefix="bench_cnn-")) if a.keep is None else a.keep
    tmp.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    try:
        _run(a, tmp)
    finally:
        if a.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"\nbench_cnn: {time.perf_counter() - t_start:.0f} s in all")


def _run(a: argparse.Namespace, tmp: Path) -> None:
    from fpga_flow.analysis.summary import layer_rows, totals
    from fpga_flow.boards import load_board
    from fpga_flow.pipeline import load_and_lower

    machine_facts()
    board = load_board(BOARD)
    x, x_what = images(a.n, a.seed)
    x_npy = tmp / "x.npy"
    np.save(x_npy, x.reshape(len(x), -1))
    x_nchw = tmp / "x_nchw.npy"
    np.save(x_nchw, x)
    x_rtl = tmp / "x_rtl.npy"
    np.save(x_rtl, x[: a.rtl_n].reshape(a.rtl_n, -1))
    models = {}
    for bn in (False, True):
        path = tmp / f"lenet5{'_bn' if bn else ''}.onnx"
        export(lenet5(a.seed, bn), (1, 28, 28), path)
        models[bn] = path
    shared = tmp / "lenet5_shared.onnx"
    export(lenet5(a.seed, False, share=True), (1, 28, 28), shared)
    graph = load_and_lower(models[False], PRECISION)
    macs = mac_stages(graph)
    nnz_macs = sum(macs.values())
    dense_macs = sum(int(lay.row_length) * int(lay.rows) * (int(lay.shape[1]) * int(lay.shape[2])
                                                            if len(lay.shape) == 3 else 1)
                     for lay in graph.layers if lay.name in macs)
    print(f"model: LeNet-5 (Caffe / Deep Compression) 1x28x28 -> conv 20 5x5 -> pool -> conv 50 5x5 -> pool -> "
          f"fc 500 -> fc 10, ReLU after convs and fc1; torch.onnx.export opset 13; {PRECISION} grid; "
          f"densities {', '.join(f'{k} {100 * v:.0f}%' for k, v in LENET_KEEP.items())}; nonzero MACs/image "
          f"{nnz_macs:,} of {dense_macs:,} ({', '.join(f'{k} {v:,}' for k, v in macs.items())})")
    print(f"inputs: {a.n} {x_what}; hls4ml: io_stream, Resource, {HLS4ML_PRECISION} everywhere, accum "
          f"{HLS4ML_ACCUM}, timeout {a.hls4ml_timeout:g} s per command; fpga-flow csim g++ jobs {a.jobs}; "
          f"timing pairs: compile {a.compile_pairs}, predict/run {a.pairs}; outputs in {tmp}")
    print()

    # ---------------------------------------------------------------- exact evaluation and the builds
    exact = {bn: exact_outputs(models[bn], x) for bn in (False, True)}
    ref = {bn: reference(models[bn], x) for bn in (False, True)}
    bn_rule = bn_rule_check(models[True], x)
    ff: dict[bool, dict[str, Any]] = {}
    for bn in (False, True):
        out = tmp / f"ff{'_bn' if bn else ''}_p1"
        r: dict[str, Any] = {"out": out}
        try:
            b, r["build_s"] = ff_build(models[bn], out, 1, x_rtl)
            r["report"] = b.report
        except Exception as e:  # noqa: BLE001 -- reported, the bench goes on
            r["error"] = _short(e)
            print(f"fpga-flow build ({'BN' if bn else 'no BN'}) failed: {r['error']}")
        ff[bn] = r

    # ---------------------------------------------------------------- hls4ml projects
    hl: dict[bool, dict[str, Any]] = {False: {}, True: {}}
    workers: dict[bool, Hls4ml] = {}
    if not a.skip_hls4ml:
        for bn in (False, True):
            h = hl[bn]
            print(f"hls4ml ({'BN' if bn else 'no BN'}): convert, write ...", flush=True)
            wk = Hls4ml(tmp / f"hls4ml{'_bn' if bn else ''}", a.hls4ml_timeout)
            workers[bn] = wk
            try:
                h.update(wk.call("convert", model=str(models[bn]), prj=str(wk.work / "prj")))
                h["bits"] = hls4ml_weight_bits(wk.work / "prj")
            except (RuntimeError, Hls4mlTimeout) as e:
                h["error"] = str(e)
                print(h["error"])
    try:
        _timed(a, tmp, x_npy, x_nchw, ff, hl, workers)
    finally:
        for wk in workers.values():
            wk.close()

    # ---------------------------------------------------------------- 1. weight bits
    print("\n1. weight bits stored in the project (no BN model)")
    rows = []
    h_bits = hl[False].get("bits")
    h_total = sum(h_bits.values()) if h_bits else None
    if h_bits:
        rows.append([f"hls4ml firmware/weights/*.h ({', '.join(f'{k}* {v:,}' for k, v in sorted(h_bits.items()))})",
                     f"{h_total:,}", "1.00x"])

    def ratio(v: int) -> str:
        return f"1/{h_total / v:.1f}" if h_total else "-"

    def bits_rows(g: Any, label: str) -> tuple[int, list[list[str]]]:
        """Plan ROM bits at P=1 (what the generated project stores) and the report's weight-only count."""
        fig = plan_point(g, 1, board)["fig"]
        rom = int(fig["totals"]["weight_bits"])
        parts: dict[str, int] = {}
        for lay in fig["layers"]:
            for k, v in lay["rom_bits"].items():
                parts[k] = parts.get(k, 0) + int(v)
        lrows = layer_rows(g)
        stored = int(totals(lrows)["bits_stored"])
        storage = ", ".join(f"{r['name']} {r['storage']}" for r in lrows if "storage" in r)
        return rom, [[f"{label}: plan ROMs at P=1 ({', '.join(f'{k} {v:,}' for k, v in sorted(parts.items()))})",
                      f"{rom:,}", ratio(rom)],
                     [f"  same, report bits_stored (weights only; {storage})", f"{stored:,}", ratio(stored)]]

    ff_rom, more = bits_rows(graph, "fpga-flow")
    rows += more
    sh_rom, more = bits_rows(load_and_lower(shared, PRECISION), "fpga-flow, weight-shared variant ("
                             + ", ".join(f"{k} {1 << v}" for k, v in SHARE_BITS.items()) + " values)")
    rows += more
    table(rows, ["project", "bits", "vs hls4ml"])
    print("  (hls4ml stores every weight, zeros included, plus the biases and a 1-bit scale per output of the "
          "separate bias Add -- the same bits for the weight-shared variant, which has the same shapes; fpga-flow "
          "stores the nonzero taps only, with their indices; the shared variant is planned, not simulated)")

    # ---------------------------------------------------------------- 2. build and csim time
    print(f"\n2. g++ build of the C simulation (cold) and C simulation per image ({a.n} images); "
          "wall / CPU seconds as min / median over the interleaved runs")
    t0 = ff[False]
    h0 = hl[False]
    rows = []
    if "convert_s" in h0:
        rows.append(["hls4ml convert (import, qonnx cleanup, channels-last, config) + write()",
                     f"{h0['convert_s']:.2f} + {h0['write_s']:.2f} s", "-", "-"])
    if "build_s" in t0:
        rows.append(["fpga-flow build (read, plan, tb_data, HLS, RTL, board files)", _fmt_s(t0["build_s"]), "-", "-"])
    rows.append([f"hls4ml compile(): build_lib.sh, g++ -O3, 3 steps in series ({len(h0.get('compile_wall', []))} runs)",
                 _stats(h0.get("compile_wall", [])), _stats(h0.get("compile_cpu", [])), "-"])
    n_ff = len(t0.get("compile_wall", []))
    rows.append([f"fpga-flow compile_csim: g++ -O2 (weights -O0), {a.jobs} jobs ({n_ff} runs)",
                 _stats(t0.get("compile_wall", [])), _stats(t0.get("compile_cpu", [])),
                 _rstats(_ratios(h0.get("compile_wall", []), t0.get("compile_wall", [])))])
    table(rows, ["build", "wall s (min / med)", "CPU s (min / med)", "hls4ml/fpga-flow per pair"])
    print()
    rows = [[f"hls4ml predict, library loaded, weights read ({len(h0.get('predict_wall', []))} runs)",
             _ms(h0.get("predict_wall", []), a.n), _ms(h0.get("predict_cpu", []), a.n), "-"],
            [f"fpga-flow run_csim: a new process, text I/O ({len(t0.get('run_wall', []))} runs)",
             _ms(t0.get("run_wall", []), a.n), _ms(t0.get("run_cpu", []), a.n),
             _rstats(_ratios(h0.get("predict_wall", []), t0.get("run_wall", [])))]]
    if h0.get("one_wall") and t0.get("one_wall"):
        rows.append(["  marginal per image: (n images - 1 image) / (n - 1), median, hls4ml vs fpga-flow",
                     f"{1e3 * _marg(h0['predict_wall'], h0['one_wall'], a.n):.3f} vs "
                     f"{1e3 * _marg(t0['run_wall'], t0['one_wall'], a.n):.3f}", "-", "-"])
    table(rows, ["C simulation per image", "wall ms (min / med)", "CPU ms (min / med)", "hls4ml/fpga-flow per pair"])

    # ---------------------------------------------------------------- 3. equality
    print(f"\n3. outputs on {a.n} images (10 values each), every type {PRECISION} (AP_TRN, AP_WRAP) in both tools")
    for bn in (False, True):
        y_ex, st = exact[bn]
        print(f"  {'with BatchNorm2d after each conv' if bn else 'no BN'}: exact evaluation wrapped "
              f"{st['wrapped']} values" + (f"; BN values {st['bn_values']:,}, undecided at 2^-96 "
                                           f"{st['bn_undecided']}" if bn else ""))
        rows = [["fpga-flow Python reference vs exact", _eq(ref[bn], y_ex)],
                ["fpga-flow csim vs fpga-flow reference", _eq(ff[bn].get("y"), ref[bn])],
                ["fpga-flow csim vs exact", _eq(ff[bn].get("y"), y_ex)],
                ["hls4ml predict vs exact", _eq(hl[bn].get("y"), y_ex)],
                ["hls4ml predict vs fpga-flow csim", _eq(hl[bn].get("y"), ff[bn].get("y"))]]
        table(rows, ["pair", "equal"])
        if bn:
            print("  fpga-flow's folded BN (25-bit multiplier m_c, offset o_c) against the exact BN of the same "
                  "input tensor: " + "; ".join(f"{name} {d} of {n:,} values differ" for name, d, n in bn_rule))
        if bn and hl[bn].get("layers"):
            print("  hls4ml layers: " + "; ".join(s for s in hl[bn]["layers"] if "Batch" in s or "Norm" in s))
    print()

    # ---------------------------------------------------------------- 4. RTL cycles and fit
    sweep = _sweep(a, tmp, graph, models, x_rtl, board, nnz_macs)

    # ---------------------------------------------------------------- 5. FINN CNV
    cnv_res = _cnv(a, tmp, board)

    # ---------------------------------------------------------------- goals
    print("\ngoals")
    hc, fc = h0.get("compile_wall", []), t0.get("compile_wall", [])
    if fc:
        goal(f"g++ build of the csim <= {GOAL_BUILD_S:g} s", statistics.median(fc) <= GOAL_BUILD_S,
             f"fpga-flow median {statistics.median(fc):.1f} s (CPU {statistics.median(t0['compile_cpu']):.1f} s)"
             + (f"; hls4ml {statistics.median(hc):.1f} s" if hc else ""))
    else:
        why = t0.get("error", "").splitlines()[0] if t0.get("error") else "not run"
        goal(f"g++ build of the csim <= {GOAL_BUILD_S:g} s", None, f"fpga-flow csim not built ({why})")
    hp, fp = h0.get("predict_wall", []), t0.get("run_wall", [])
    if hp and fp:
        sp = _ratios(hp, fp)
        goal(f"csim per image >= {GOAL_CSIM_SPEEDUP:g}x faster than hls4ml", statistics.median(sp) >= GOAL_CSIM_SPEEDUP,
             f"{statistics.median(sp):.1f}x median per pair (min {min(sp):.1f}x); CPU "
             f"{statistics.median(h0['predict_cpu']) / statistics.median(t0['run_cpu']):.1f}x")
    else:
        why = "; ".join(f"{k}: {d['error'].splitlines()[0]}" for k, d in (("fpga-flow", t0), ("hls4ml", h0))
                        if d.get("error")) or ("hls4ml skipped" if a.skip_hls4ml else "not run")
        goal(f"csim per image >= {GOAL_CSIM_SPEEDUP:g}x faster than hls4ml", None, f"one side did not run ({why})")
    for bn in (False, True):
        y_ex = exact[bn][0]
        d_ff = _n_diff(ff[bn].get("y"), y_ex)
        d_ref = _n_diff(ff[bn].get("y"), ref[bn])
        d_h = _n_diff(hl[bn].get("y"), y_ex)
        rtl = sweep.get("rtl_bn" if bn else "rtl_main")
        rtl_txt = (f"; RTL (P={rtl['p']}) {rtl['mismatches']} mismatches on {rtl['samples']} images"
                   if rtl else "; RTL not simulated")
        name = "bit-exact " + ("with BN (folded per-channel scale)" if bn else "without BN")
        rule = sum(d for _, d, _ in bn_rule) if bn else 0
        rule_txt = (f"; folded BN vs exact BN on the same tensors: {rule} of {sum(n for _, _, n in bn_rule):,} "
                    "values differ" if bn else "")
        met = None if d_ff is None else (d_ff == 0 and d_ref == 0 and rule == 0
                                         and (rtl is None or rtl["mismatches"] == 0))
        goal(name, met, f"fpga-flow csim: {d_ff} of {y_ex.size} output values differ from exact, {d_ref} from its "
                        f"reference{rule_txt}{rtl_txt}; hls4ml: {d_h if d_h is not None else '-'} of {y_ex.size} "
                        "differ from exact")
    for row in sweep.get("rtl", []):
        if row.get("ii"):
            ratio = row["ii"] / row["bound_stage"]
            goal(f"cycles/image at P={row['p']} <= {GOAL_CYCLES:g}x nonzero MACs / lanes", ratio <= GOAL_CYCLES,
                 f"{row['ii']:,} vs {row['bound_stage']:,} ({ratio:.3f}x); {board.clock_mhz * 1e6 / row['ii']:,.0f} "
                 f"images/s at {board.clock_mhz:g} MHz")
    if h_total and ff_rom:
        goal(f"weight bits <= 1/{GOAL_BITS:g} of hls4ml's", ff_rom * GOAL_BITS <= h_total,
             f"1/{h_total / ff_rom:.1f} ({ff_rom:,} plan ROM bits vs {h_total:,}); weight-shared variant "
             f"1/{h_total / sh_rom:.1f} ({sh_rom:,})")
    else:
        goal(f"weight bits <= 1/{GOAL_BITS:g} of hls4ml's", None, "one side missing")
    if cnv_res:
        best = cnv_res.get("best")
        if best:
            fps = board.clock_mhz * 1e6 / best["fig"]["totals"]["ii"]
            goal("FINN CNV topology fits the PYNQ-Z2 (estimate)", True,
                 f"largest P {best['p']}: {fps:,.0f} images/s vs FINN {FINN_CNV['fps']} single-stream "
                 f"({FINN_CNV['fps_batched']:,} batched)")
        else:
            f = cnv_res.get("first")
            why = "" if f is None else (f": at P={f['p']} {_fits(f['fit'])}, BRAM36 {f['fig']['totals']['bram36']:g} "
                                        f"of {board.bram36}")
            goal("FINN CNV topology fits the PYNQ-Z2 (estimate)", False, f"no P of the sweep fits{why}")


def _marg(many: list[float], one: list[float], n: int) -> float:
    return (statistics.median(many) - statistics.median(one)) / max(1, n - 1)


def _timed(a: argparse.Namespace, tmp: Path, x_npy: Path, x_nchw: Path, ff: dict[bool, dict[str, Any]],
           hl: dict[bool, dict[str, Any]], workers: dict[bool, Hls4ml]) -> None:
    """Compile and run both tools, A (hls4ml) B (fpga-flow) A B ...; the BN model once each."""
    x_one = tmp / "x_one.npy"
    np.save(x_one, np.load(x_npy)[:1])
    x_one_nchw = tmp / "x_one_nchw.npy"
    np.save(x_one_nchw, np.load(x_nchw)[:1])
    for bn in (False, True):
        h, f, wk = hl[bn], ff[bn], workers.get(bn)
        h_ok = wk is not None and "error" not in h
        f_ok = "error" not in f
        n_compile = a.compile_pairs if not bn else 1
        n_pairs = a.pairs if not bn else 1
        label = "BN" if bn else "no BN"
        print(f"timing ({label}): {n_compile} compile pair(s), {n_pairs} predict/run pair(s) ...", flush=True)
        for _ in range(n_compile):
            if h_ok:
                try:
                    r = wk.call("compile")
                    h.setdefault("compile_wall", []).append(r["wall"])
                    h.setdefault("compile_cpu", []).append(r["cpu"])
                except (RuntimeError, Hls4mlTimeout) as e:
                    h["error"], h_ok = str(e), False
                    print(h["error"])
            if f_ok:
                try:
                    r = ff_compile(f["out"], a.jobs)
                    f.setdefault("compile_wall", []).append(r["wall"])
                    f.setdefault("compile_cpu", []).append(r["cpu"])
                except Exception as e:  # noqa: BLE001
                    f["error"], f_ok = _short(e), False
                    print(f"fpga-flow csim ({label}) failed: {f['error']}")
        for k in range(n_pairs):
            if h_ok:
                try:
                    r = wk.call("predict", x=str(x_nchw), y=str(wk.work / "y.npy") if k == 0 else "")
                    h.setdefault("predict_wall", []).append(r["wall"])
                    h.setdefault("predict_cpu", []).append(r["cpu"])
                    if k == 0:
                        h["y"] = np.load(wk.work / "y.npy")
                    if not bn:
                        h.setdefault("one_wall", []).append(wk.call("predict", x=str(x_one_nchw))["wall"])
                except (RuntimeError, Hls4mlTimeout) as e:
                    h["error"], h_ok = str(e), False
                    print(h["error"])
            if f_ok:
                try:
                    r = ff_run(f["out"], x_npy, a.jobs)
                    f.setdefault("run_wall", []).append(r["wall"])
                    f.setdefault("run_cpu", []).append(r["cpu"])
                    f["y"] = r["y"]
                    if not bn:
                        f.setdefault("one_wall", []).append(ff_run(f["out"], x_one, a.jobs)["wall"])
                except Exception as e:  # noqa: BLE001
                    f["error"], f_ok = _short(e), False
                    print(f"fpga-flow csim ({label}) failed: {f['error']}")


def _sweep(a: argparse.Namespace, tmp: Path, graph: Any, models: dict[bool, Path], x_rtl: Path, board: Any,
           nnz_macs: int) -> dict[str, Any]:
    """Plan estimate over P, yosys on a few, RTL cycles at P = 1, 4, 16, ... up to the largest that fits."""
    from fpga_flow.pipeline import load_and_lower

    res: dict[str, Any] = {}
    pts = {p: plan_point(graph, p, board) for p in ((1, 4) if a.quick else P_SWEEP)}
    fit_est = [p for p, pt in pts.items() if pt["fit"]["fits"]]
    p_est = max(fit_est) if fit_est else None
    synth: dict[int, dict[str, Any]] = {}
    builds: dict[int, Path] = {}

    def build_p(p: int) -> Path | None:
        if p not in builds:
            out = tmp / f"ff_p{p}"
            try:
                ff_build(models[False], out, p, x_rtl)
            except Exception as e:  # noqa: BLE001
                print(f"fpga-flow build at P={p} failed: {_short(e)}")
                return None
            builds[p] = out
        return builds[p]

    p_max = p_est
    if a.synth and p_est is not None:
        order = sorted(pts)
        cand: int | None = p_est
        while cand is not None and len(synth) < MAX_SYNTH:  # up while yosys says it fits, down while it does not
            out = build_p(cand)
            if out is None:
                break
            print(f"yosys synth at P={cand} ...", flush=True)
            try:
                synth[cand] = synth_fit(out, board, pts[cand]["fig"])
            except Exception as e:  # noqa: BLE001
                print(f"synth at P={cand} failed: {_short(e)}")
                break
            j = order.index(cand) + (1 if synth[cand]["fit"]["fits"] else -1)
            cand = order[j] if 0 <= j < len(order) and order[j] not in synth else None
        ok = [p for p, s in synth.items() if s["fit"]["fits"]]
        p_max = max(ok) if ok else None
    rtl_ps = [p for p in pts if p & (p - 1) == 0 and (p.bit_length() - 1) % 2 == 0]  # 1, 4, 16, 64
    if not a.quick:
        rtl_ps = [p for p in rtl_ps if p_max is not None and p <= p_max] + ([p_max] if p_max else [])
    rtl_ps = sorted(set(rtl_ps)) or [1]
    rows_rtl = []
    for p in rtl_ps:
        out = build_p(p)
        row = {"p": p, **{k: pts[p][k] for k in ("bound_stage", "bound_lanes", "mac_lanes")}}
        if out is not None:
            print(f"RTL simulation at P={p} ({a.rtl_n} images) ...", flush=True)
            try:
                row.update(rtl_cycles(out, pts[p]["fig"], a.rtl_n))
            except Exception as e:  # noqa: BLE001
                row["error"] = _short(e)
                print(f"RTL simulation at P={p} failed: {row['error']}")
        rows_rtl.append(row)
    # the automatic folding (no -P): lanes per layer
    print("building the automatic folding ...", flush=True)
    auto_synth: dict[str, Any] | None = None
    out_auto = tmp / "ff_auto"
    try:
        b_auto, _ = ff_build(models[False], out_auto, None, x_rtl)
    except Exception as e:  # noqa: BLE001
        b_auto = None
        print(f"fpga-flow build of the automatic folding failed: {_short(e)}")
    auto = plan_point(graph, None, board, b_auto.plan if b_auto is not None else None)  # the build's own plan
    auto_row: dict[str, Any] = {"p": "auto", **{k: auto[k] for k in ("bound_stage", "bound_lanes", "mac_lanes")}}
    try:
        if b_auto is None:
            raise RuntimeError("not built")
        print(f"RTL simulation of the automatic folding ({a.rtl_n} images) ...", flush=True)
        auto_row.update(rtl_cycles(out_auto, auto["fig"], a.rtl_n))
        if a.synth:
            print("yosys synth of the automatic folding ...", flush=True)
            auto_synth = synth_fit(out_auto, board, auto["fig"])
    except Exception as e:  # noqa: BLE001
        auto_row["error"] = _short(e)
        print(f"the automatically folded design failed: {auto_row['error']}")
    rows_rtl.append(auto_row)
    res["rtl"] = rows_rtl
    res["auto"] = {"pt": auto, "synth": auto_synth}
    done = [r for r in rows_rtl if r.get("passed") is not None and r["p"] != "auto"]
    if done:
        res["rtl_main"] = done[0]
    # the BN model in RTL at the fastest simulated P
    p_bn = max((int(r["p"]) for r in done), default=1)
    out = tmp / f"ff_bn_p{p_bn}"
    try:
        ff_build(models[True], out, p_bn, x_rtl)
        pt_bn = plan_point(load_and_lower(models[True], PRECISION), p_bn, board)
        print(f"RTL simulation of the BN model at P={p_bn} ...", flush=True)
        res["rtl_bn"] = {"p": p_bn, "pt": pt_bn, **rtl_cycles(out, pt_bn["fig"], a.rtl_n)}
    except Exception as e:  # noqa: BLE001
        print(f"BN model RTL at P={p_bn} failed: {_short(e)}")

    # ---- print
    clock = board.clock_mhz * 1e6
    print(f"\n4. fpga-flow hardware on the {board.name} ({board.part}, {board.clock_mhz:g} MHz; LUT {board.lut:,}, "
          f"FF {board.ff:,}, DSP {board.dsp}, BRAM36 {board.bram36}); fit includes the DMA platform")
    rows = []
    for p, pt in pts.items():
        t = pt["fig"]["totals"]
        s = synth.get(p)
        syn = "-" if s is None else (f"LUT {s['counts']['lut']:,} FF {s['counts']['ff']:,} DSP {s['counts']['dsp']} "
                                     f"BRAM36 {s['counts']['bram36']:g}: {_fits(s['fit'])} ({s['seconds']:.0f} s)")
        rows.append([f"P={p}", f"{pt['mac_lanes']}", f"{t['ii']:,}", f"{pt['bound_stage']:,}",
                     f"{t['ii'] / pt['bound_stage']:.3f}", f"{clock / t['ii']:,.0f}",
                     f"{t['lut']:,}/{t['ff']:,}/{t['dsp']}/{t['bram36']:g}", _fits(pt["fit"]), syn])
    t = auto["fig"]["totals"]
    s = auto_synth
    syn = "-" if s is None else (f"LUT {s['counts']['lut']:,} FF {s['counts']['ff']:,} DSP {s['counts']['dsp']} "
                                 f"BRAM36 {s['counts']['bram36']:g}: {_fits(s['fit'])} ({s['seconds']:.0f} s)")
    rows.append(["auto", f"{auto['mac_lanes']}", f"{t['ii']:,}", f"{auto['bound_stage']:,}",
                 f"{t['ii'] / auto['bound_stage']:.3f}", f"{clock / t['ii']:,.0f}",
                 f"{t['lut']:,}/{t['ff']:,}/{t['dsp']}/{t['bram36']:g}", _fits(auto["fit"]), syn])
    table(rows, ["P", "MAC lanes", "plan II", "MAC bound", "II/bound", "img/s", "plan LUT/FF/DSP/BRAM36",
                 "estimate", "yosys synth"])
    folding = auto["fig"].get("folding") or {}
    lanes_txt = ", ".join(f"{n} {v}" for n, v in (folding.get("lanes") or {}).items())
    print(f"  auto: the automatic folding (build without -P): lanes {lanes_txt}; bound by "
          f"{folding.get('bound_label', '?')}: {folding.get('detail', '')}")
    print(f"  MAC bound: max over conv/fc stages of ceil(nonzero MACs / lanes) (stages overlap: the slowest "
          f"decides); board bound: {nnz_macs:,} nonzero MACs / {board.dsp} DSPs = {nnz_macs / board.dsp:,.0f} "
          f"cycles/image = {clock * board.dsp / nnz_macs:,.0f} images/s")
    if a.synth:
        print(f"  largest P that fits: estimate P={p_est}, yosys P={p_max}")
    else:
        print(f"  largest P that fits (estimate; no synth): P={p_est}")
    rows = []
    for r in rows_rtl:
        if r.get("ii"):
            label = f"P={r['p']}" if r["p"] != "auto" else "auto"
            rows.append([label, "PASS" if r["passed"] else "FAIL", f"{r['mismatches']}/{r['samples']}",
                         f"{r['ii']:,}", f"{r['latency']:,}", f"{r['bound_stage']:,}",
                         f"{r['ii'] / r['bound_stage']:.3f}", f"{r['bound_lanes']:,.0f}",
                         f"{r['ii'] / r['bound_lanes']:.2f}", f"{clock / r['ii']:,.0f}", f"{r['wall']:.0f} s"])
        else:
            rows.append([f"P={r['p']}" if r["p"] != "auto" else "auto", r.get("error", "not simulated")[:60],
                         *["-"] * 9])
    if "rtl_bn" in res:
        r = res["rtl_bn"]
        pt = r["pt"]
        rows.append([f"BN model P={r['p']}", "PASS" if r["passed"] else "FAIL", f"{r['mismatches']}/{r['samples']}",
                     f"{r['ii']:,}" if r["ii"] else "-", f"{r['latency']:,}" if r["latency"] else "-",
                     f"{pt['bound_stage']:,}", f"{r['ii'] / pt['bound_stage']:.3f}" if r["ii"] else "-",
                     f"{pt['bound_lanes']:,.0f}", f"{r['ii'] / pt['bound_lanes']:.2f}" if r["ii"] else "-",
                     f"{clock / r['ii']:,.0f}" if r["ii"] else "-",
                     f"{r['wall']:.0f} s"])
    table(rows, ["RTL (Verilator)", "result", "mismatch/img", "cycles/image (II)", "latency", "MAC bound",
                 "II/bound", "MACs/all lanes", "II/that", "img/s", "sim wall"])
    for r in [*rows_rtl, res.get("rtl_bn", {})]:
        if r.get("passed") is False:
            print(r["summary"])
    return res


def _cnv(a: argparse.Namespace, tmp: Path, board: Any) -> dict[str, Any]:
    from fpga_flow.pipeline import load_and_lower

    path = tmp / "cnv.onnx"
    export(cnv(a.seed), (3, 32, 32), path)
    g = load_and_lower(path, CNV_PRECISION)
    macs = mac_stages(g)
    nnz = sum(macs.values())
    dense = sum(int(lay.row_length) * int(lay.rows) * (int(lay.shape[1]) * int(lay.shape[2]) if len(lay.shape) == 3
                                                       else 1) for lay in g.layers if lay.name in macs)
    wts = sum(int(lay.nnz) for lay in g.layers if lay.name in macs)
    print(f"\n5. FINN CNV topology: 3x32x32 -> conv 64-64-pool-128-128-pool-256-256 (3x3, no padding) -> fc "
          f"512-512-10, {CNV_PRECISION} (8-bit weights), densities first conv {100 * CNV_KEEP_FIRST:.0f}%, convs "
          f"{100 * CNV_KEEP_CONV:.0f}%, fc {100 * CNV_KEEP_FC:.0f}%: {wts:,} nonzero weights, {nnz:,} of {dense:,} "
          f"MACs/image")
    clock = board.clock_mhz * 1e6
    pts = {}
    for p in (1, 4, 16) if a.quick else P_SWEEP:
        try:
            pts[p] = plan_point(g, p, board)
        except Exception as e:  # noqa: BLE001
            print(f"  plan at P={p} failed: {_short(e)}")
    rows = []
    for p, pt in pts.items():
        t = pt["fig"]["totals"]
        rows.append([f"fpga-flow P={p} (plan)", f"{t['ii']:,}", f"{clock / t['ii']:,.0f}", f"{t['lut']:,}",
                     f"{t['ff']:,}", f"{t['dsp']}", f"{t['bram36']:g}", _fits(pt["fit"])])
    rows.append(["FINN CNV (as quoted)", f"{clock / FINN_CNV['fps']:,.0f}",
                 f"{FINN_CNV['fps']} ({FINN_CNV['fps_batched']:,} batched)", f"{FINN_CNV['lut']:,}", "-",
                 f"{FINN_CNV['dsp']}", f"{FINN_CNV['bram36']}", "-"])
    fits = [p for p, pt in pts.items() if pt["fit"]["fits"]]
    best = pts[max(fits)] if fits else None
    res: dict[str, Any] = {"best": best}
    if best is not None and a.cnv_synth:
        out = tmp / f"cnv_p{best['p']}"
        try:
            ff_build(path, out, best["p"], _cnv_stimulus(tmp), CNV_PRECISION)
            print(f"yosys synth of CNV at P={best['p']} ...", flush=True)
            s = synth_fit(out, board, best["fig"])
            c = s["counts"]
            rows.append([f"fpga-flow P={best['p']} (yosys)", "-", "-", f"{c['lut']:,}", f"{c['ff']:,}", f"{c['dsp']}",
                         f"{c['bram36']:g}", _fits(s["fit"]) + f" ({s['seconds']:.0f} s)"])
        except Exception as e:  # noqa: BLE001
            print(f"  CNV synth failed: {_short(e)}")
    table(rows, ["design", "cycles/image", "images/s @100 MHz", "LUT", "FF", "DSP", "BRAM36", "fits PYNQ-Z2"])
    first = pts[min(pts)] if pts else None
    res["first"] = first
    if first is not None:
        rows_b = sorted(first["fig"]["layers"], key=lambda r: -r["bram36"])
        rom = sum(r["weight_bits"] for r in first["fig"]["layers"])
        print(f"  P={first['p']}: BRAM36 {first['fig']['totals']['bram36']:g} of {board.bram36}, by stage (ROMs and "
              f"the output buffer): " + ", ".join(f"{r['name']} {r['bram36']:g}" for r in rows_b[:8])
              + f"; all ROMs hold {rom:,} bits (= {rom / 36864:.0f} BRAM36 if packed full)")
    if best is not None:
        worst = max(best["fig"]["layers"], key=lambda r: r["ii"])
        print(f"  largest P that fits (estimate): {best['p']}; slowest stage {worst['name']} ({worst['ii']:,} cycles), "
              f"MAC bound {best['bound_stage']:,}; board bound {nnz / board.dsp:,.0f} cycles "
              f"({clock * board.dsp / nnz:,.0f} images/s)")
    return res


def _cnv_stimulus(tmp: Path) -> Path:
    p = tmp / "x_cnv.npy"
    np.save(p, np.random.default_rng(3).integers(0, 32, size=(2, 3 * 32 * 32)) / 32.0)
    return p


if __name__ == "__main__":
    main()
