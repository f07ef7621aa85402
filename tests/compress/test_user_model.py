"""The user's own torch model through ``compress(model, train, test, config)`` and ``--model file.py:factory``.

A ResNet-style network (residual blocks with BatchNorm, written the ordinary torch way) and a
depthwise-separable one go through every stage on scikit-learn's digits; the export, read back by
fpga_flow's reader, reproduces the fixed-point torch forward bit for bit on the whole test set.
Unsupported modules and functions fail before any training; a checkpoint replaces the dense stage.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace

import numpy as np
import onnx
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fpga_flow.cli import main as cli_main
from fpga_flow.compress import CompressConfig, UnsupportedModelError, compress, trace_model
from fpga_flow.compress.convert import convert
from fpga_flow.compress.training import predict
from fpga_flow.errors import FlowError
from fpga_flow.onnx_io import read_onnx
from fpga_flow.pipeline import load_and_lower
from fpga_flow.verify_export import verify_and_report


class Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)) + x)


class ResNet(nn.Module):
    """stem 3x3 (8x8 -> 6x6) + BN + ReLU, two residual blocks, global average (36 values), fc."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.block1 = Block(8)
        self.block2 = Block(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.stem(x)))
        x = self.block2(self.block1(x))
        return self.fc(torch.flatten(self.pool(x), 1))


class DepthwiseSeparable(nn.Module):
    """stem, depthwise 3x3 (groups=8) + pointwise 1x1, ReLU6, max pool, 3x3 average (9 values), dropout, fc."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.act0 = nn.ReLU6()
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.act1 = nn.ReLU6()
        self.pw = nn.Conv2d(8, 16, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AvgPool2d(3, stride=1)
        self.drop = nn.Dropout(0.1)
        self.fc = nn.Linear(16 * 2 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.dw(self.act0(self.stem(x)))))
        x = self.pool(torch.nn.functional.relu(self.bn2(self.pw(x))))
        return self.fc(self.drop(self.avg(x).flatten(1)))


def _config(dense_epochs: int = 5) -> CompressConfig:
    cfg = CompressConfig.for_model(quick=True)
    return replace(cfg, dense=replace(cfg.dense, epochs=dense_epochs), threads=1)


@pytest.fixture(scope="module")
def images(digits):
    return digits.x_train.reshape(-1, 1, 8, 8), digits.y_train, digits.x_test.reshape(-1, 1, 8, 8), digits.y_test


def _assert_bit_exact(result, path, x_test):
    """The file read back by fpga_flow's reader (and lowered) gives the torch model's outputs exactly."""
    y_torch = predict(result.model, x_test)  # a fresh forward of the final fixed-point torch model
    np.testing.assert_array_equal(y_torch, result.y_test)
    for graph in (read_onnx(path), load_and_lower(path)):
        np.testing.assert_array_equal(graph.run_float(x_test.astype(np.float64)), y_torch)
    verify_and_report(result)
    assert result.report["bit_exact"]["equal"] and result.report["bit_exact"]["test_samples"] == x_test.shape[0]


@pytest.fixture(scope="module")
def resnet_run(images, tmp_path_factory):
    torch.manual_seed(0)
    x_tr, y_tr, x_te, y_te = images
    path = tmp_path_factory.mktemp("resnet") / "resnet.onnx"
    result = compress(ResNet(), (x_tr, y_tr), (x_te, y_te), _config(), out=path, progress=False)
    return result, path


def test_resnet_through_the_api_is_bit_exact(resnet_run, images):
    result, path = resnet_run
    _assert_bit_exact(result, path, images[2])
    layers = result.model.layers
    assert [(lay.name, lay.kind) for lay in layers] == [
        ("stem", "conv2d"), ("block1_conv", "conv2d"), ("block2_conv", "conv2d"), ("fc", "dense")]
    # BatchNorm folded, the first ReLU fused into the stem, each block's ReLU into its addition
    assert [lay.relu for lay in layers] == [True, False, False, False]
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert "BatchNormalization" not in ops and ops.count("Add") == 2 + 1 and "GlobalAveragePool" in ops
    for lay in layers:  # the per-layer schedule, kept exactly
        assert int(lay.mask.sum()) == round(0.5 * lay.mask.numel())
        assert lay.shared and len(np.unique(lay.effective_weight().detach().numpy())) <= 16 + 1
    assert result.accuracies["final"] > 0.5


def test_depthwise_separable_through_the_api_is_bit_exact(images, tmp_path):
    torch.manual_seed(1)
    x_tr, y_tr, x_te, y_te = (torch.as_tensor(a) for a in images)
    train = DataLoader(TensorDataset(x_tr, y_tr), batch_size=100)  # a DataLoader and a Dataset
    test = TensorDataset(x_te, y_te)
    cfg = replace(_config(), final_density=(0.8, 0.7, 0.5, 0.4))  # a per-layer schedule
    result = compress(DepthwiseSeparable(), train, test, cfg, out=tmp_path / "ds.onnx", progress=False)
    _assert_bit_exact(result, tmp_path / "ds.onnx", images[2])
    assert [lay.name for lay in result.model.layers] == ["stem", "dw", "pw", "fc"]
    for lay, d in zip(result.model.layers, cfg.final_density, strict=True):
        assert int(lay.mask.sum()) == round(d * lay.mask.numel())
    convs = {n.name: n for n in onnx.load(str(tmp_path / "ds.onnx")).graph.node if n.op_type == "Conv"}
    group = {a.name: a.i for a in convs["dw_conv"].attribute}["group"]
    assert group == 8 and result.model.layers[1].weight.shape == (8, 1, 3, 3)
    assert [n.op_type for n in onnx.load(str(tmp_path / "ds.onnx")).graph.node].count("AveragePool") == 1
    # ReLU6: its activation type holds 6 (unsigned), as the report's types say
    t = result.types["stem.act"]
    assert not t.signed and t.max_mantissa * 2.0**-t.frac >= 6


def test_conversion_folds_batchnorm_and_keeps_the_float_forward():
    """Converted (BN folded, ReLU fused) == the user's model in eval mode, on random statistics."""
    torch.manual_seed(2)
    for model in (ResNet(), DepthwiseSeparable()):
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.2, 0.2)
        model = model.double().eval()
        graph = convert(model, trace_model(model, (1, 8, 8))).double()
        x = torch.rand(16, 1, 8, 8, dtype=torch.float64)
        with torch.no_grad():
            np.testing.assert_allclose(graph(x).numpy(), model(x).numpy(), rtol=1e-12, atol=1e-12)
        # the fold, computed independently in numpy for one layer
        if isinstance(model, ResNet):
            bn, conv = model.bn, model.stem
            s = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
            w = conv.weight.detach().numpy() * s[:, None, None, None]
            b = (conv.bias.detach().numpy() - bn.running_mean.numpy()) * s + bn.bias.detach().numpy()
            np.testing.assert_allclose(graph.layers[0].weight.detach().numpy(), w, rtol=1e-14)
            np.testing.assert_allclose(graph.layers[0].bias.detach().numpy(), b, rtol=1e-14, atol=1e-15)


class WithLSTM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(8, 8, batch_first=True)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x.reshape(x.shape[0], 8, 8))
        return self.fc(out[:, -1])


class WithSigmoid(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.sigmoid(self.fc1(x)))


@pytest.mark.parametrize(("model_cls", "shape", "named"), [
    (WithLSTM, (1, 8, 8), "LSTM"), (WithSigmoid, (64,), "torch.sigmoid")], ids=["lstm", "sigmoid"])
def test_unsupported_module_fails_before_training(model_cls, shape, named, digits):
    torch.manual_seed(3)
    model = model_cls()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls = []
    model.register_forward_pre_hook(lambda _m, _a: calls.append(1))
    x_tr, x_te = digits.x_train.reshape(-1, *shape), digits.x_test.reshape(-1, *shape)
    with pytest.raises(UnsupportedModelError) as e:
        compress(model, (x_tr, digits.y_train), (x_te, digits.y_test), _config(dense_epochs=100), progress=False)
    msg = str(e.value)
    assert named in msg and "Supported: nn.Linear, nn.Conv2d" in msg and "nn.AdaptiveAvgPool2d(1)" in msg
    assert isinstance(e.value, FlowError)
    assert not calls  # no forward ran: nothing trained
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_checkpoint_replaces_the_dense_stage(images, tmp_path):
    torch.manual_seed(4)
    donor = DepthwiseSeparable()
    for m in donor.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.8, 1.2)
    ckpt = {k: v.clone() for k, v in donor.state_dict().items()}
    torch.save({"state_dict": ckpt}, tmp_path / "w.pt")
    x_tr, y_tr, x_te, y_te = images
    model = DepthwiseSeparable()  # other initial weights
    cfg = replace(_config(dense_epochs=1000), prune_steps=1)  # a dense stage this long would be noticed
    result = compress(model, (x_tr, y_tr), (x_te, y_te), cfg, checkpoint=tmp_path / "w.pt", progress=False)
    # the user's module holds the checkpoint, untrained
    assert all(torch.equal(v, ckpt[k]) for k, v in model.state_dict().items())
    dense = result.snapshots["dense"]
    np.testing.assert_array_equal(dense["stem"], ckpt["stem.weight"].double().numpy())  # no BN: as given
    s = (ckpt["bn1.weight"] / torch.sqrt(ckpt["bn1.running_var"] + 1e-5)).double().numpy()
    np.testing.assert_allclose(dense["dw"], ckpt["dw.weight"].double().numpy() * s[:, None, None, None], rtol=1e-6)
    np.testing.assert_array_equal(dense["fc"], ckpt["fc.weight"].double().numpy())
    with pytest.raises(FlowError, match="does not fit model"):
        compress(ResNet(), (x_tr, y_tr), (x_te, y_te), cfg, checkpoint=ckpt, progress=False)
    with pytest.raises(FlowError, match="final_density takes 1 value or 4"):
        compress(DepthwiseSeparable(), train=(x_tr, y_tr), test=(x_te, y_te),
                 config=replace(cfg, final_density=(0.5, 0.5)), progress=False)


MODEL_FILE = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        x = torch.relu(self.conv2(x) + x)
        return self.fc(torch.flatten(self.pool(x), 1))


def make():
    torch.manual_seed(5)
    return Net()
'''


def test_cli_compresses_a_model_file_with_an_npz(images, tmp_path):
    x_tr, y_tr, x_te, y_te = images
    (tmp_path / "net.py").write_text(textwrap.dedent(MODEL_FILE))
    np.savez(tmp_path / "data.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    out = tmp_path / "net.onnx"
    threads = torch.get_num_threads()
    rc = cli_main(["compress", "--model", f"{tmp_path / 'net.py'}:make", "--data", str(tmp_path / "data.npz"),
                   "-o", str(out), "--quick", "--threads", "1", "--no-progress", "--density", "0.6"])
    torch.set_num_threads(threads)
    assert rc == 0
    rep = tmp_path / "net_report"
    report = json.loads((rep / "compression_report.json").read_text())
    assert [lay["name"] for lay in report["layers"]] == ["conv", "conv2", "fc"]
    assert report["bit_exact"]["equal"] and report["bit_exact"]["test_samples"] == x_te.shape[0]
    assert all(lay["nonzero"] == round(0.6 * lay["weights"]) for lay in report["layers"])
    x, y = np.load(rep / "stimulus_x.npy"), np.load(rep / "stimulus_y.npy")
    assert x.shape == (256, 1, 8, 8)
    np.testing.assert_array_equal(load_and_lower(out).run_float(x.astype(np.float64)), y)
    # a checkpoint file goes in with --checkpoint
    torch.save(_factory_state(tmp_path / "net.py"), tmp_path / "w.pt")
    rc = cli_main(["compress", "--model", f"{tmp_path / 'net.py'}:make", "--data", str(tmp_path / "data.npz"),
                   "--checkpoint", str(tmp_path / "w.pt"), "-o", str(tmp_path / "net2.onnx"), "--quick",
                   "--threads", "1", "--no-progress"])
    torch.set_num_threads(threads)
    assert rc == 0 and (tmp_path / "net2.onnx").is_file()


def _factory_state(path):
    from fpga_flow.compress.cli_inputs import load_factory

    return load_factory(f"{path}:make").state_dict()


def test_cli_model_errors_name_the_fix(images, tmp_path, capsys):
    x_tr, y_tr, x_te, y_te = images
    (tmp_path / "net.py").write_text(textwrap.dedent(MODEL_FILE))
    np.savez(tmp_path / "data.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    np.savez(tmp_path / "partial.npz", x_train=x_tr, y_train=y_tr)
    out = ["-o", str(tmp_path / "m.onnx")]
    data = ["--data", str(tmp_path / "data.npz")]
    cases = [
        (["--model", str(tmp_path / "nope.py") + ":make", *data], "not found"),
        (["--model", str(tmp_path / "net.py") + ":build", *data], "no function 'build'"),
        (["--model", str(tmp_path / "net.py"), *data], "FILE.py:FACTORY"),
        (["--model", str(tmp_path / "net.py") + ":make"], "needs --data"),
        (["--model", str(tmp_path / "net.py") + ":make", "--data", str(tmp_path / "partial.npz")],
         "missing array(s) x_test, y_test"),
        (["--model", str(tmp_path / "net.py") + ":make", "--data", str(tmp_path / "none.npz")], "not found"),
        (["--dataset", "digits", *data], "go with --model"),
    ]
    for args, expect in cases:
        assert cli_main(["compress", *args, *out, "--no-progress"]) == 2, args
        assert expect in capsys.readouterr().err, args
    assert not (tmp_path / "m.onnx").exists()


class Odd(nn.Module):
    """Standalone activations (a ReLU after a pool, a ReLU6 after an addition) and an in-place sum."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.b = nn.Conv2d(4, 4, 1)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.pool(self.a(x)))
        z = self.b(y)
        z += y
        return self.fc(nn.functional.relu6(z).flatten(1))


def test_standalone_activations_and_in_place_sum_are_bit_exact(images, tmp_path):
    torch.manual_seed(6)
    x_tr, y_tr, x_te, y_te = images
    result = compress(Odd(), (x_tr, y_tr), (x_te, y_te), _config(dense_epochs=1), out=tmp_path / "odd.onnx",
                      progress=False)
    _assert_bit_exact(result, tmp_path / "odd.onnx", x_te)
    kinds = [n.kind for n in result.model.nodes]
    assert kinds == ["layer", "maxpool", "act", "layer", "add", "flatten", "layer"]


def test_torch_dataset_and_arrays_give_the_same_data(digits):
    from fpga_flow.compress.user import to_arrays

    x, y = digits.x_test.reshape(-1, 1, 8, 8), digits.y_test
    ds = TensorDataset(torch.as_tensor(x), torch.as_tensor(y))
    for src in ((x, y), ds, DataLoader(ds, batch_size=7)):
        xa, ya = to_arrays(src, "test")
        np.testing.assert_array_equal(xa, x)
        np.testing.assert_array_equal(ya, y)
    with pytest.raises(FlowError, match="expected"):
        to_arrays([1, 2, 3], "test")  # type: ignore[arg-type]
