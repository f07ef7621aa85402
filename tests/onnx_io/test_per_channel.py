"""Per-channel weight scales as Brevitas writes them for a pruned model: a row whose weights are all
zero gets a tiny scale (2^-36), which must not widen the layer's weight type (issue: 38-bit weights
for a 4-bit model). The expected width comes from the exported scales; the values from an
independent exact interpreter."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from fpga_flow.onnx_io import read_onnx
from tests.exact_onnx import run_exact, to_float

torch = pytest.importorskip("torch")
qnn = pytest.importorskip("brevitas.nn")


@pytest.fixture(scope="module")
def pruned_per_channel(tmp_path_factory) -> Path:
    from brevitas.export import export_qonnx
    from brevitas.quant import Int8ActPerTensorFixedPoint
    from brevitas.quant.fixed_point import Int8WeightPerChannelFixedPoint

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.q = qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True)
            self.fc = qnn.QuantLinear(16, 6, bias=False, weight_quant=Int8WeightPerChannelFixedPoint,
                                      weight_bit_width=4)

        def forward(self, x):  # noqa: ANN001, ANN201 - torch module
            return self.fc(self.q(x))

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.fc.weight[2] = 0  # a pruned row
        net.fc.weight[4] *= 0.05  # a live row with a finer scale
    net.eval()
    path = tmp_path_factory.mktemp("pc") / "pc.onnx"
    export_qonnx(net, torch.randn(1, 16), str(path))
    return path


def _weight_scales(model: onnx.ModelProto) -> np.ndarray:
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    quants = [n for n in model.graph.node if n.op_type == "Quant" and n.input[0] in inits]
    assert len(quants) == 1
    return np.asarray(inits[quants[0].input[1]], np.float64).ravel()


def test_a_pruned_row_does_not_widen_the_weight_type(pruned_per_channel):
    model = onnx.load(pruned_per_channel)
    scales = _weight_scales(model)
    exps = [-int(math.log2(s)) for s in scales]
    assert max(exps) == 36  # what Brevitas writes for the all-zero row
    live = [k for k, row in zip(exps, range(6), strict=True) if row != 2]
    graph = read_onnx(pruned_per_channel)
    (fc,) = [lay for lay in graph.layers if lay.op == "dense"]
    # 4-bit weights on the live rows' scales: 4 bits plus the spread of their exponents
    assert fc.weight_type.width == 4 + max(live) - min(live)
    assert fc.weight_type.frac == max(live)


def test_the_layer_stays_bit_exact(pruned_per_channel):
    model = onnx.load(pruned_per_channel)
    x = np.random.default_rng(3).uniform(-1, 1, size=(64, 16))
    y = read_onnx(pruned_per_channel).run_float(x)
    np.testing.assert_array_equal(y, to_float(run_exact(model, x)))
