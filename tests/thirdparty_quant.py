"""Quantized ONNX models written by real third-party tools (tests only).

Each builder trains a small network on scikit-learn's 8x8 digits and exports it with the tool
itself (Brevitas ``export_qonnx`` / ``export_onnx_qcdq``, onnxruntime ``quantize_static``), so the
graphs are exactly what those tools write: float (non power-of-two) scales, zero points, Clip
nodes, int32 biases and all. Nothing is hand-imitated and nothing is post-processed.

What the tools write (brevitas 0.13.4, onnxruntime 1.32, torch 2.13):

* Brevitas fixes the batch dimension to 1 (the export sample) and lists the float biases as graph
  inputs as well as initializers; the final Linear's output is not quantized. ``export_onnx_qcdq``
  writes the weights as int8 initializers -> Clip (narrow range, also at 8 bits) ->
  DequantizeLinear (no weight QuantizeLinear), and returns None (so it is read back from a file).
* onnxruntime quantizes the float biases to int32 (scale s_x * s_w), quantizes the final output
  too, and with asymmetric uint8 activations drops the ReLU (the uint8 saturation at zero point 0
  does it).

Every builder is deterministic (fixed seeds, one torch thread) and cached per process.
"""

from __future__ import annotations

import functools
import os
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np
import onnx

N_TEST = 64
N_CALIB = 100


@dataclass(frozen=True)
class Built:
    model: onnx.ModelProto
    x: np.ndarray  # float32 test inputs, (N_TEST, 64) or (N_TEST, 1, 8, 8)
    name: str
    y: np.ndarray | None = None  # true digit labels of ``x``
    accuracy: float | None = None  # float (torch) accuracy of the trained network on ``x``


@functools.cache
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): 8x8 digits scaled to [0, 1], fixed shuffled split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(x))
    x, y = x[perm], y[perm]
    return x[N_TEST:], y[N_TEST:], x[:N_TEST], y[:N_TEST]


def _setup_torch(seed: int):
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    return torch


def _train(net, cnn: bool, seed: int, steps: int = 300, lr: float = 1e-2):
    """A few epochs of Adam (batch 64) on the training digits; returns the test accuracy."""
    torch = _setup_torch(seed)
    xtr, ytr, xte, yte = digits()
    shape = (-1, 1, 8, 8) if cnn else (-1, 64)
    xt, yt = torch.from_numpy(xtr).reshape(shape), torch.from_numpy(ytr)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(steps):
        idx = torch.randint(0, len(xt), (64,), generator=gen)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(_plain(net(xt[idx])), yt[idx])
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        pred = _plain(net(torch.from_numpy(xte).reshape(shape))).argmax(1).numpy()
    return float((pred == yte).mean())


def _plain(t):
    """A Brevitas QuantTensor's float value (or the tensor itself)."""
    return t.value if hasattr(t, "value") and not hasattr(t, "numpy") else t


def _test_x(cnn: bool) -> tuple[np.ndarray, np.ndarray]:
    _, _, xte, yte = digits()
    return (xte.reshape(-1, 1, 8, 8) if cnn else xte).copy(), yte


# ----------------------------------------------------------------------------------- Brevitas


def _brevitas_mlp(weight_quant=None, bias_quant=None, weight_bit_width: int | None = None, bn: bool = False):
    import torch
    from brevitas import nn as qnn

    kw = {}
    if weight_quant is not None:
        kw["weight_quant"] = weight_quant
    if bias_quant is not None:
        kw["bias_quant"] = bias_quant
    if weight_bit_width is not None:
        kw["weight_bit_width"] = weight_bit_width
    return torch.nn.Sequential(
        qnn.QuantIdentity(return_quant_tensor=True),
        qnn.QuantLinear(64, 32, bias=True, **kw),
        *([torch.nn.BatchNorm1d(32)] if bn else []),
        qnn.QuantReLU(return_quant_tensor=True),
        qnn.QuantLinear(32, 10, bias=True, **kw),
    )


def _brevitas_cnn(weight_bit_width: int | None = None):
    import torch
    from brevitas import nn as qnn

    kw = {} if weight_bit_width is None else {"weight_bit_width": weight_bit_width}
    return torch.nn.Sequential(
        qnn.QuantIdentity(return_quant_tensor=True),
        qnn.QuantConv2d(1, 8, 3, padding=0, bias=True, **kw),
        qnn.QuantReLU(return_quant_tensor=True),
        torch.nn.MaxPool2d(2),  # brevitas 0.13 has no QuantMaxPool2d; max-pool passes QuantTensors through
        torch.nn.Flatten(),
        qnn.QuantLinear(8 * 3 * 3, 10, bias=True, **kw),
    )


def _brevitas_export(net, x: np.ndarray, export: str) -> onnx.ModelProto:
    import torch
    from brevitas.export import export_onnx_qcdq, export_qonnx

    # export_onnx_qcdq (TorchScript path) returns None in brevitas 0.13.4: read the file it writes
    fn = {"qonnx": export_qonnx, "qcdq": export_onnx_qcdq}[export]
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        path = os.path.join(tmp, f"{export}.onnx")
        fn(net, torch.from_numpy(x[:1]), export_path=path, dynamo=False)
        return onnx.load(path)


def _brevitas(name: str, net, cnn: bool, export: str, seed: int) -> Built:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acc = _train(net, cnn, seed)
    x, y = _test_x(cnn)
    return Built(_brevitas_export(net, x, export), x, name, y, acc)


@functools.cache
def brevitas_default_mlp(per_channel: bool = False, bias_quant: type | None = None) -> Built:
    """Brevitas default quantizers (Int8 weights, Int8/Uint8 activations, float per-tensor scales),
    exported with ``export_qonnx`` (QONNX ``Quant`` nodes). ``per_channel`` uses
    ``Int8WeightPerChannelFloat``; ``bias_quant`` e.g. ``Int32Bias`` quantizes the biases too."""
    _setup_torch(1)
    wq = None
    if per_channel:
        from brevitas.quant import Int8WeightPerChannelFloat

        wq = Int8WeightPerChannelFloat
    net = _brevitas_mlp(weight_quant=wq, bias_quant=bias_quant)
    name = "brevitas_qonnx_mlp" + ("_perchannel" if per_channel else "") + (
        f"_{bias_quant.__name__.lower()}" if bias_quant is not None else "")
    return _brevitas(name, net, cnn=False, export="qonnx", seed=1)


@functools.cache
def brevitas_qcdq_mlp(weight_bit_width: int = 8) -> Built:
    """The default Brevitas MLP exported with ``export_onnx_qcdq`` (QuantizeLinear / [Clip] /
    DequantizeLinear). Below 8 bits Brevitas writes a ``Clip`` between Q and DQ of the weights."""
    _setup_torch(2)
    net = _brevitas_mlp(weight_bit_width=weight_bit_width)
    return _brevitas(f"brevitas_qcdq_mlp_w{weight_bit_width}", net, cnn=False, export="qcdq", seed=2)


@functools.cache
def brevitas_default_cnn(export: str = "qonnx") -> Built:
    """Conv(1->8, 3x3, no padding) + ReLU + MaxPool(2) + Flatten + Linear(72->10), Brevitas defaults."""
    _setup_torch(3)
    net = _brevitas_cnn()
    return _brevitas(f"brevitas_{export}_cnn", net, cnn=True, export=export, seed=3)


# ------------------------------------------------------------------------------- onnxruntime


def _float_mlp():
    import torch

    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))


def _float_cnn():
    import torch

    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=0), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(8 * 3 * 3, 10))


def _ort_quantize(net, cnn: bool, seed: int, name: str, per_channel: bool, symmetric_activations: bool) -> Built:
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    acc = _train(net, cnn, seed)
    x, y = _test_x(cnn)
    xtr = digits()[0][:N_CALIB]
    calib = xtr.reshape(-1, 1, 8, 8) if cnn else xtr

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter([{"input": calib[i : i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self._it, None)

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fp, qp = os.path.join(tmp, "float.onnx"), os.path.join(tmp, "quant.onnx")
        with torch.no_grad():
            torch.onnx.export(net, (torch.from_numpy(x[:1]),), fp, input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "n"}, "output": {0: "n"}}, dynamo=False)
        act = QuantType.QInt8 if symmetric_activations else QuantType.QUInt8
        quantize_static(fp, qp, _Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=act, weight_type=QuantType.QInt8,
                        extra_options={"ActivationSymmetric": symmetric_activations})
        model = onnx.load(qp)
    return Built(model, x, name, y, acc)


@functools.cache
def ort_static_mlp(per_channel: bool = False, symmetric_activations: bool = False) -> Built:
    """Float torch MLP 64-32-10, ``torch.onnx.export(dynamo=False)``, then onnxruntime
    ``quantize_static`` in QDQ format (int8 weights; uint8 asymmetric or int8 symmetric activations)."""
    _setup_torch(4)
    net = _float_mlp()
    name = "ort_qdq_mlp" + ("_perchannel" if per_channel else "") + ("_symact" if symmetric_activations else "")
    return _ort_quantize(net, False, 4, name, per_channel, symmetric_activations)


@functools.cache
def ort_static_cnn(per_channel: bool = False, symmetric_activations: bool = False) -> Built:
    """The float CNN (Conv 3x3 no padding, ReLU, MaxPool 2, Flatten, Linear), ORT ``quantize_static`` QDQ."""
    _setup_torch(5)
    net = _float_cnn()
    name = "ort_qdq_cnn" + ("_perchannel" if per_channel else "") + ("_symact" if symmetric_activations else "")
    return _ort_quantize(net, True, 5, name, per_channel, symmetric_activations)


# ------------------------------------------------------------------------------- inspection


def quant_params(model: onnx.ModelProto) -> list[tuple[str, str, np.ndarray, np.ndarray | None]]:
    """(op type, node name, scale, zero point) of every Quant / QuantizeLinear / DequantizeLinear,
    read from the initializers (or Constant nodes) the exporter wrote."""
    from onnx import numpy_helper

    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    res = []
    for n in model.graph.node:
        if n.op_type in ("Quant", "QuantizeLinear", "DequantizeLinear"):
            zp = consts.get(n.input[2]) if len(n.input) > 2 and n.input[2] else None
            res.append((n.op_type, n.name or n.output[0], consts[n.input[1]], zp))
    return res


def summary(b: Built) -> dict:
    """Op counts, a few distinct scales and the zero points of a built model (for reports)."""
    from collections import Counter

    params = quant_params(b.model)
    scales = sorted({float(v) for _, _, s, _ in params for v in np.ravel(s)})
    zps = sorted({int(v) for _, _, _, z in params if z is not None for v in np.ravel(z)})
    return {"ops": dict(Counter(n.op_type for n in b.model.graph.node)), "n_scales": len(scales),
            "scales": scales[:3] + scales[-2:] if len(scales) > 5 else scales, "zero_points": zps}


def _int32_bias() -> type:
    from brevitas.quant import Int32Bias

    return Int32Bias


# every builder variant the tests exercise, by its Built.name
ALL_BUILDERS = {
    "brevitas_qonnx_mlp": lambda: brevitas_default_mlp(),
    "brevitas_qonnx_mlp_perchannel": lambda: brevitas_default_mlp(per_channel=True),
    "brevitas_qonnx_mlp_int32bias": lambda: brevitas_default_mlp(bias_quant=_int32_bias()),
    "brevitas_qcdq_mlp_w8": lambda: brevitas_qcdq_mlp(8),
    "brevitas_qcdq_mlp_w4": lambda: brevitas_qcdq_mlp(4),
    "ort_qdq_mlp": lambda: ort_static_mlp(False, False),
    "ort_qdq_mlp_perchannel": lambda: ort_static_mlp(True, False),
    "ort_qdq_mlp_symact": lambda: ort_static_mlp(False, True),
    "ort_qdq_mlp_perchannel_symact": lambda: ort_static_mlp(True, True),
    "ort_qdq_cnn": lambda: ort_static_cnn(),
    "brevitas_qonnx_cnn": lambda: brevitas_default_cnn("qonnx"),
    "brevitas_qcdq_cnn": lambda: brevitas_default_cnn("qcdq"),
}


@functools.cache
def brevitas_default_mlp_bn(export: str = "qonnx") -> Built:
    """The default Brevitas MLP with a float ``BatchNorm1d`` between the first linear layer and its
    ``QuantReLU`` (trained, so its statistics are not the identity), QONNX or QCDQ export."""
    _setup_torch(3)
    net = _brevitas_mlp(bn=True)
    return _brevitas(f"brevitas_{export}_mlp_bn", net, cnn=False, export=export, seed=3)


ALL_BUILDERS["brevitas_qonnx_mlp_bn"] = lambda: brevitas_default_mlp_bn("qonnx")
ALL_BUILDERS["brevitas_qcdq_mlp_bn"] = lambda: brevitas_default_mlp_bn("qcdq")
