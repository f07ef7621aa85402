"""Convolutional models made BY the tools users have (tests only): ``torch.onnx.export`` (TorchScript
exporter at opset 13 and 18, the dynamo exporter at 18, a dynamic batch) and Brevitas
``export_qonnx`` (LeNet-5 with and without BatchNorm2d, an MLP with BatchNorm1d between QuantLinear
and QuantReLU, FINN's tutorial style).

Nothing here imitates an exporter by hand: every ONNX graph is what the tool writes for a small,
seeded torch module. Each factory is deterministic (fixed seeds, CPU, no data files) and small, so a
whole test file runs in seconds. Results are cached per process (building a Brevitas export takes
a second or two); callers get a fresh copy of the ModelProto.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import warnings

import numpy as np
import onnx

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import torch
    from torch import nn

__all__ = [
    "FLOAT_VARIANTS",
    "UNSUPPORTED",
    "BrevitasMlpBn",
    "DepthwiseGapCNN",
    "QuantLeNet5",
    "QuantResCNN",
    "TorchCNN",
    "brevitas_lenet5",
    "brevitas_mlp_bn1d",
    "brevitas_rescnn",
    "depthwise_gap_onnx",
    "export_torch",
    "float_cnn_onnx",
    "images",
    "save",
    "unsupported_onnx",
]

#: (opset, dynamo, dynamic batch) of each float export variant the tests read.
FLOAT_VARIANTS: dict[str, tuple[int, bool, bool]] = {
    "ts13": (13, False, False),
    "ts18": (18, False, False),
    "dynamo18": (18, True, False),
    "ts13_dynbatch": (13, False, True),
    "dynamo18_dynbatch": (18, True, True),
}


def images(n: int, shape: tuple[int, ...], seed: int = 0, scale: float = 1.0) -> np.ndarray:
    """Deterministic float32-representable test images ``(n, *shape)`` as float64."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(-scale, scale, size=(n, *shape))).astype(np.float32).astype(np.float64)


def _nontrivial_bn(bn: nn.BatchNorm1d | nn.BatchNorm2d, gen: torch.Generator) -> None:
    """Give a BatchNorm non-trivial affine parameters and running statistics (eval-mode use)."""
    c = bn.num_features
    with torch.no_grad():
        bn.weight.copy_(0.5 + torch.rand(c, generator=gen))
        bn.weight[0] = -bn.weight[0]  # a negative gamma: the folded multiplier changes sign
        bn.bias.copy_(torch.randn(c, generator=gen) * 0.3)
        bn.running_mean.copy_(torch.randn(c, generator=gen) * 0.2)
        bn.running_var.copy_(0.4 + torch.rand(c, generator=gen))


# ----------------------------------------------------------------------------- float torch models
class TorchCNN(nn.Module):
    """Conv (pad 1, stride 1) + BN + ReLU, a second conv, a residual add then BN + ReLU, MaxPool,
    two branches (conv pad 1 stride 2 | AvgPool pad 1 stride 2) concatenated on channels, a conv
    with pad 0, flatten, Linear. Input (N, 2, 10, 10).

    ``view_flatten`` flattens with ``x.view(x.size(0), -1)`` (a Shape/Gather/Unsqueeze/Concat chain
    feeding Reshape in a dynamic-batch TorchScript export) instead of ``torch.flatten``.
    """

    in_shape = (2, 10, 10)

    def __init__(self, view_flatten: bool = False) -> None:
        super().__init__()
        self.view_flatten = view_flatten
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.avg = nn.AvgPool2d(3, stride=2, padding=1)
        self.conv4 = nn.Conv2d(10, 5, 2, stride=1, padding=0)
        self.fc = nn.Linear(5 * 2 * 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(self.bn1(self.conv1(x)))  # (4,10,10)
        b = self.conv2(a)  # (4,10,10)
        r = torch.relu(self.bn2(a + b))  # residual add, then a BN the exporter cannot fold into a conv
        p = self.pool(r)  # (4,5,5)
        c = torch.cat([torch.relu(self.conv3(p)), self.avg(p)], dim=1)  # (6+4,3,3)
        d = torch.relu(self.conv4(c))  # (5,2,2)
        f = d.view(d.size(0), -1) if self.view_flatten else torch.flatten(d, 1)
        return self.fc(f)


class DepthwiseGapCNN(nn.Module):
    """Conv (pad 0) + ReLU, a depthwise conv (groups = C, stride 2, pad 1) + ReLU, AvgPool with
    count_include_pad=False, AdaptiveAvgPool2d(1) (GlobalAveragePool), flatten, Linear.
    Input (N, 3, 9, 9)."""

    in_shape = (3, 9, 9)

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3)  # (6,7,7)
        self.dw = nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=6)  # (6,4,4)
        self.avg = nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False)  # (6,5,5)
        self.gap = nn.AdaptiveAvgPool2d(1)  # (6,1,1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.dw(torch.relu(self.conv(x))))
        return self.fc(torch.flatten(self.gap(self.avg(y)), 1))


def _seeded(cls: type[nn.Module], seed: int, **kw) -> nn.Module:
    torch.manual_seed(seed)
    m = cls(**kw)
    gen = torch.Generator().manual_seed(seed + 1)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm1d | nn.BatchNorm2d):
            _nontrivial_bn(mod, gen)
    return m.eval()


@contextlib.contextmanager
def _quiet():
    """Exporters print progress and deprecation warnings; tests want a clean log."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def export_torch(module: nn.Module, example: torch.Tensor, opset: int, dynamo: bool,
                 dynamic_batch: bool = False) -> onnx.ModelProto:
    """``torch.onnx.export`` of ``module`` as the user would call it: input named ``input``, output
    ``output``; a symbolic batch dimension when ``dynamic_batch``."""
    kw: dict = {"input_names": ["input"], "output_names": ["output"], "opset_version": opset, "dynamo": dynamo}
    if dynamic_batch:
        if dynamo:
            kw["dynamic_shapes"] = {"x": {0: torch.export.Dim("N", min=1, max=1024)}}
        else:
            kw["dynamic_axes"] = {"input": {0: "N"}, "output": {0: "N"}}
    with _quiet(), torch.no_grad():
        if dynamo:
            prog = torch.onnx.export(module, (example,), None, **kw)
            return prog.model_proto
        buf = io.BytesIO()
        torch.onnx.export(module, (example,), buf, **kw)
    return onnx.load_from_string(buf.getvalue())


@functools.cache
def _float_cnn(variant: str, seed: int) -> tuple[bytes, nn.Module]:
    opset, dynamo, dyn = FLOAT_VARIANTS[variant]
    module = _seeded(TorchCNN, seed, view_flatten=dyn)
    # a static export traces one sample (input [1, C, H, W]); a dynamic one a batch of 2 (torch.export
    # specializes a dimension traced at size 1)
    example = torch.zeros((2 if dyn else 1, *TorchCNN.in_shape))
    return export_torch(module, example, opset, dynamo, dyn).SerializeToString(), module


def float_cnn_onnx(variant: str = "ts13", seed: int = 0) -> tuple[onnx.ModelProto, nn.Module]:
    """The :class:`TorchCNN` (eval mode, seeded) exported as ``FLOAT_VARIANTS[variant]``."""
    data, module = _float_cnn(variant, seed)
    return onnx.load_from_string(data), module


@functools.cache
def _depthwise(opset: int, dynamo: bool, seed: int) -> tuple[bytes, nn.Module]:
    module = _seeded(DepthwiseGapCNN, seed)
    example = torch.zeros((1, *DepthwiseGapCNN.in_shape))
    return export_torch(module, example, opset, dynamo).SerializeToString(), module


def depthwise_gap_onnx(opset: int = 13, dynamo: bool = False, seed: int = 0) -> tuple[onnx.ModelProto, nn.Module]:
    """The :class:`DepthwiseGapCNN` exported with the TorchScript (default) or dynamo exporter."""
    data, module = _depthwise(opset, dynamo, seed)
    return onnx.load_from_string(data), module


class _SigmoidHead(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)


#: Small CNNs with one thing the reader must refuse (input (N, 2, 8, 8)): what each exporter writes for
#: a dilated convolution, a ceil-mode pooling and an activation outside the supported set.
UNSUPPORTED = {
    "dilated_conv": lambda: nn.Sequential(nn.Conv2d(2, 3, 3, dilation=2), nn.ReLU(), nn.Flatten(), nn.Linear(48, 2)),
    "ceil_maxpool": lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.MaxPool2d(2, ceil_mode=True), nn.Flatten(),
                                          nn.Linear(27, 2)),
    "sigmoid": lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), _SigmoidHead(), nn.MaxPool2d(2), nn.Flatten(),
                                     nn.Linear(48, 2)),
}


@functools.cache
def _unsupported(kind: str, opset: int) -> bytes:
    torch.manual_seed(7)
    module = UNSUPPORTED[kind]().eval()
    return export_torch(module, torch.zeros((1, 2, 8, 8)), opset, dynamo=False).SerializeToString()


def unsupported_onnx(kind: str, opset: int = 13) -> onnx.ModelProto:
    """A :data:`UNSUPPORTED` model exported by the TorchScript exporter."""
    return onnx.load_from_string(_unsupported(kind, opset))


# ----------------------------------------------------------------------------- Brevitas (QONNX) models
def _brevitas():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import brevitas.nn as qnn
        from brevitas.quant import (
            Int8ActPerTensorFixedPoint,
            Int8WeightPerTensorFixedPoint,
            Int16Bias,
            Uint8ActPerTensorFixedPoint,
        )
    return qnn, Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Int16Bias, Uint8ActPerTensorFixedPoint


class QuantLeNet5(nn.Module):
    """LeNet-5 in Brevitas with power-of-two scales everywhere: an Int8 fixed-point input
    QuantIdentity, QuantConv2d(1,6,5,pad 2) [+BN] QuantReLU MaxPool, QuantConv2d(6,16,5) [+BN]
    QuantReLU MaxPool, flatten, QuantLinear 400-120-84-10 with QuantReLU between; Int8 fixed-point
    weights, Int16 biases at the accumulator scale (no conv bias when a BN follows); the last layer
    has no output quantizer. Input (N, 1, 28, 28)."""

    in_shape = (1, 28, 28)

    def __init__(self, bn: bool) -> None:
        super().__init__()
        qnn, i8act, i8w, i16b, u8act = _brevitas()
        wq = {"weight_quant": i8w}
        bq = {"bias_quant": i16b}
        self.bn = bn
        self.inp = qnn.QuantIdentity(act_quant=i8act, return_quant_tensor=True)
        conv_bias = {"bias": False} if bn else {"bias": True, **bq, "return_quant_tensor": True}
        self.conv1 = qnn.QuantConv2d(1, 6, 5, padding=2, **wq, **conv_bias)
        self.bn1 = nn.BatchNorm2d(6) if bn else nn.Identity()
        self.relu1 = qnn.QuantReLU(act_quant=u8act, return_quant_tensor=True)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = qnn.QuantConv2d(6, 16, 5, **wq, **conv_bias)
        self.bn2 = nn.BatchNorm2d(16) if bn else nn.Identity()
        self.relu2 = qnn.QuantReLU(act_quant=u8act, return_quant_tensor=True)
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = qnn.QuantLinear(400, 120, bias=True, **wq, **bq, return_quant_tensor=True)
        self.relu3 = qnn.QuantReLU(act_quant=u8act, return_quant_tensor=True)
        self.fc2 = qnn.QuantLinear(120, 84, bias=True, **wq, **bq, return_quant_tensor=True)
        self.relu4 = qnn.QuantReLU(act_quant=u8act, return_quant_tensor=True)
        self.fc3 = qnn.QuantLinear(84, 10, bias=True, **wq, **bq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        x = torch.flatten(x, 1)
        x = self.relu3(self.fc1(x))
        x = self.relu4(self.fc2(x))
        return self.fc3(x)


class BrevitasMlpBn(nn.Module):
    """FINN tutorial style MLP: QuantIdentity, then [QuantLinear(bias=False) BatchNorm1d QuantReLU]
    x 2, a last QuantLinear with an Int16 bias and no output quantizer. Input (N, 24)."""

    in_shape = (24,)

    def __init__(self) -> None:
        super().__init__()
        qnn, i8act, i8w, i16b, u8act = _brevitas()
        self.inp = qnn.QuantIdentity(act_quant=i8act, return_quant_tensor=True)
        self.fc1 = qnn.QuantLinear(24, 16, bias=False, weight_quant=i8w)
        self.bn1 = nn.BatchNorm1d(16)
        self.relu1 = qnn.QuantReLU(act_quant=u8act, return_quant_tensor=True)
        self.fc2 = qnn.QuantLinear(16, 12, bias=False, weight_quant=i8w)
        self.bn2 = nn.BatchNorm1d(12)
        self.relu2 = qnn.QuantReLU(act_quant=u8act, return_quant_tensor=True)
        self.fc3 = qnn.QuantLinear(12, 5, bias=True, weight_quant=i8w, bias_quant=i16b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        x = self.relu1(self.bn1(self.fc1(x)))
        x = self.relu2(self.bn2(self.fc2(x)))
        return self.fc3(x)


class QuantResCNN(nn.Module):
    """A Brevitas CNN with the other feature-map ops, every tensor between them quantized by a
    power-of-two Quant: QuantConv2d(pad 1, Int16 bias) QuantReLU, QuantConv2d QuantReLU, the residual
    add of the two ReLU outputs, QuantIdentity, AvgPool2d(2) QuantIdentity (the average rounded once),
    a depthwise QuantConv2d QuantReLU, torch.cat of the pooled map and that branch, AdaptiveAvgPool2d(1)
    (GlobalAveragePool) QuantIdentity, flatten, QuantLinear with an Int16 bias. Input (N, 2, 8, 8).

    ``per_channel``: conv1 and the depthwise conv use per-output-channel power-of-two weight scales
    (Int8WeightPerChannelFixedPoint: scale shape [C_out, 1, 1, 1], conv1's bias scale then [C_out])."""

    in_shape = (2, 8, 8)

    def __init__(self, per_channel: bool = False) -> None:
        super().__init__()
        qnn, i8act, i8w, i16b, u8act = _brevitas()
        wq = {"weight_quant": i8w}
        if per_channel:
            from brevitas.quant.fixed_point import Int8WeightPerChannelFixedPoint
            cq = {"weight_quant": Int8WeightPerChannelFixedPoint}
        else:
            cq = wq
        self.inp = qnn.QuantIdentity(act_quant=i8act, return_quant_tensor=True)
        self.conv1 = qnn.QuantConv2d(2, 4, 3, padding=1, bias=True, bias_quant=i16b, return_quant_tensor=True, **cq)
        self.relu1 = qnn.QuantReLU(act_quant=u8act)
        self.conv2 = qnn.QuantConv2d(4, 4, 3, padding=1, bias=False, **wq)
        self.relu2 = qnn.QuantReLU(act_quant=u8act)
        self.q_sum = qnn.QuantIdentity(act_quant=u8act)
        self.pool = nn.AvgPool2d(2)
        self.q_pool = qnn.QuantIdentity(act_quant=u8act)
        self.dw = qnn.QuantConv2d(4, 4, 3, padding=1, groups=4, bias=False, **cq)
        self.relu3 = qnn.QuantReLU(act_quant=u8act)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.q_gap = qnn.QuantIdentity(act_quant=u8act, return_quant_tensor=True)
        self.fc = qnn.QuantLinear(8, 3, bias=True, bias_quant=i16b, **wq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.relu1(self.conv1(self.inp(x)))
        b = self.relu2(self.conv2(a))
        p = self.q_pool(self.pool(self.q_sum(a + b)))  # (4, 4, 4)
        c = self.relu3(self.dw(p))
        y = self.q_gap(self.gap(torch.cat([p, c], dim=1)))  # (8, 1, 1)
        return self.fc(torch.flatten(y, 1))


def _calibrate(module: nn.Module, seed: int, steps: int = 4, batch: int = 8) -> nn.Module:
    """A few training steps on seeded random data (a random linear teacher): activation scales
    leave their initial values, weights move, BN running statistics become non-trivial."""
    gen = torch.Generator().manual_seed(seed)
    shape = module.in_shape
    n_out = None
    module.train()
    opt = torch.optim.SGD(module.parameters(), lr=0.02, momentum=0.9)
    teacher = None
    for _ in range(steps):
        x = torch.randn((batch, *shape), generator=gen) * 1.5 + 0.25
        y = module(x)
        y = y.value if hasattr(y, "value") else y
        if teacher is None:
            n_out = y.shape[1]
            teacher = torch.randn((int(np.prod(shape)), n_out), generator=gen) * 0.1
        target = x.reshape(batch, -1) @ teacher
        loss = ((y - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return module.eval()


def _export_qonnx(module: nn.Module, dynamo: bool = False) -> onnx.ModelProto:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from brevitas.export import export_qonnx
    example = torch.zeros((1, *module.in_shape))
    with _quiet(), torch.no_grad():
        model = export_qonnx(module, args=example, export_path=None, dynamo=dynamo,
                             input_names=["input"], output_names=["output"])
    return model


@functools.cache
def _lenet(bn: bool, seed: int, dynamo: bool) -> tuple[bytes, nn.Module]:
    torch.manual_seed(seed)
    module = QuantLeNet5(bn)
    if bn:
        gen = torch.Generator().manual_seed(seed + 1)
        for mod in (module.bn1, module.bn2):
            _nontrivial_bn(mod, gen)
    _calibrate(module, seed)
    return _export_qonnx(module, dynamo).SerializeToString(), module


def brevitas_lenet5(bn: bool = False, seed: int = 0, dynamo: bool = False) -> tuple[onnx.ModelProto, nn.Module]:
    """:class:`QuantLeNet5` calibrated a few steps, exported by ``brevitas.export.export_qonnx``
    (TorchScript exporter unless ``dynamo``)."""
    data, module = _lenet(bn, seed, dynamo)
    return onnx.load_from_string(data), module


@functools.cache
def _mlp(seed: int, dynamo: bool) -> tuple[bytes, nn.Module]:
    torch.manual_seed(seed)
    module = BrevitasMlpBn()
    gen = torch.Generator().manual_seed(seed + 1)
    for mod in (module.bn1, module.bn2):
        _nontrivial_bn(mod, gen)
    _calibrate(module, seed)
    return _export_qonnx(module, dynamo).SerializeToString(), module


def brevitas_mlp_bn1d(seed: int = 0, dynamo: bool = False) -> tuple[onnx.ModelProto, nn.Module]:
    """:class:`BrevitasMlpBn` calibrated a few steps, exported by ``export_qonnx``."""
    data, module = _mlp(seed, dynamo)
    return onnx.load_from_string(data), module


@functools.cache
def _rescnn(seed: int, dynamo: bool, per_channel: bool) -> tuple[bytes, nn.Module]:
    torch.manual_seed(seed)
    module = QuantResCNN(per_channel)
    _calibrate(module, seed)
    return _export_qonnx(module, dynamo).SerializeToString(), module


def brevitas_rescnn(seed: int = 0, dynamo: bool = False, per_channel: bool = False
                    ) -> tuple[onnx.ModelProto, nn.Module]:
    """:class:`QuantResCNN` calibrated a few steps, exported by ``export_qonnx``."""
    data, module = _rescnn(seed, dynamo, per_channel)
    return onnx.load_from_string(data), module


def save(model: onnx.ModelProto, path: str | os.PathLike) -> str:
    """Write ``model`` to ``path`` (the CLI reads files); returns the path as a string."""
    onnx.save(model, os.fspath(path))
    return os.fspath(path)
