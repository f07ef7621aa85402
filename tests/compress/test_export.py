"""Export -> onnx.checker -> read_onnx -> run equals the fake-quantized torch forward bit for bit."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from fpga_flow.cli import main as cli_main
from fpga_flow.compress import export_onnx, share_weights
from fpga_flow.compress.training import predict
from fpga_flow.ir import CodebookCsrWeights, DenseLayer
from fpga_flow.onnx_io import read_onnx
from fpga_flow.pipeline import load_and_lower
from fpga_flow.verify_export import ExportMismatch, verify_export
from tests.exact_onnx import run_exact

QD = "qonnx.custom_op.general"


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


@pytest.mark.parametrize("shared", [False, True], ids=["fixed-point", "shared"])
def test_export_read_run_is_bit_exact_on_the_test_set(quantized_model, digits, tmp_path, shared):
    m = quantized_model
    if shared:
        share_weights(m, 4)
    path = tmp_path / "m.onnx"
    proto = export_onnx(m, path)
    onnx.checker.check_model(onnx.load(str(path)))
    x = digits.x_test
    y_torch = predict(m, x)
    for graph in (read_onnx(path), load_and_lower(path)):
        y_ref = graph.run_float(x.astype(np.float64))
        np.testing.assert_array_equal(y_ref, y_torch)
    assert np.unique(y_torch).size > 100  # not vacuous
    np.testing.assert_array_equal(verify_export(path, x, y_torch), y_torch)
    # the reader sees what was meant: pruned weights absent, K codebook entries, the chosen types
    dense = read_onnx(proto).dense_layers()
    for lay_t, lay in zip(m.layers, dense, strict=True):
        assert isinstance(lay, DenseLayer)
        assert lay.weight_type == lay_t.weight_type and lay.bias_type == lay_t.bias_type
        assert lay.nnz == int(lay_t.mask.sum()) or not shared
        if shared:
            assert isinstance(lay.weights, CodebookCsrWeights) and lay.weights.codebook.size == 16


def test_verify_export_names_a_mismatch(quantized_model, digits, tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(quantized_model, path)
    x = digits.x_test[:8]
    y = predict(quantized_model, x)
    y_off = y.copy()
    y_off[3, 1] += 2.0**-20
    with pytest.raises(ExportMismatch, match=r"1 of 80 outputs differ.*bug in fpga_flow\.compress"):
        verify_export(path, x, y_off)
    with pytest.raises(ExportMismatch, match="shape"):
        verify_export(path, x, y[:, :5])


def test_verify_and_report_reads_back_an_unwritten_export(quantized_model, digits, tmp_path):
    """compress(out=None) keeps the export in memory; the check and the report still read it back."""
    from fpga_flow.compress import CompressConfig, CompressResult
    from fpga_flow.verify_export import verify_and_report

    m = quantized_model
    dense = {lay.name: lay.effective_weight().detach().double().numpy().copy() for lay in m.layers}
    share_weights(m, 4)
    types = {"input": m.input_type}
    for lay in m.layers:
        types |= {f"{lay.name}.weight": lay.weight_type, f"{lay.name}.bias": lay.bias_type}
        if lay.act_type is not None:
            types[f"{lay.name}.act"] = lay.act_type
    y = predict(m, digits.x_test)
    final = float(np.mean(y.argmax(1) == digits.y_test))
    result = CompressResult(
        m, export_onnx(m), None, digits, CompressConfig(stimulus_samples=10), {"dense": final, "final": final},
        types, {"export": 0.5, "total": 2.0}, y, {"dense": dense, "pruned": dense},
        {lay.name: lay.codebook().detach().numpy() for lay in m.layers},
    )
    logged: list[str] = []
    assert verify_and_report(result, tmp_path / "rep", log=logged.append) is result
    n = digits.x_test.shape[0]
    assert logged == [f"exported (not written): reference == torch bit for bit on {n} test samples"]
    r = result.report
    assert r["accuracy"]["exported_reference"] == final and r["bit_exact"]["test_samples"] == n
    assert "onnx" not in r and "onnx" not in result.files
    assert result.timings["export"] > 0.5 and result.timings["total"] > 2.0
    assert all(lay["codebook_size"] == 16 for lay in r["layers"])
    np.testing.assert_array_equal(np.load(result.files["stimulus_y"]), y[:10])
    assert result.files["report_md"].read_text().startswith("# Compression report")


def test_exported_graph_follows_contract_2(quantized_model, tmp_path):
    m = quantized_model
    share_weights(m, 3)
    proto = export_onnx(m)
    g = proto.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    (inp,) = [i for i in g.input if i.name not in inits]
    dims = inp.type.tensor_type.shape.dim
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert dims[0].dim_param and dims[1].dim_value == 64
    quants = [n for n in g.node if n.op_type == "Quant"]
    assert all(n.domain == QD for n in quants)
    assert g.node[0].op_type == "Quant" and g.node[0].input[0] == inp.name
    for n in quants:
        a = _attrs(n)
        assert a["narrow"] == 0 and a["rounding_mode"] in (b"ROUND", b"FLOOR")
        scale, zp, bw = (inits[n.input[i]] for i in (1, 2, 3))
        assert scale.dtype == np.float32 and scale.shape == () and np.log2(scale) == np.round(np.log2(scale))
        assert zp == 0 and bw == int(bw)
    gathers = [n for n in g.node if n.op_type == "Gather"]
    assert len(gathers) == 3
    for n, lay in zip(gathers, m.layers, strict=True):
        book, idx = inits[n.input[0]], inits[n.input[1]]
        assert book.dtype == np.float32 and book[0] == 0.0 and book.size == 9 and np.unique(book).size == 9
        assert idx.dtype == np.int64 and idx.shape == (lay.n_in, lay.n_out)
        np.testing.assert_array_equal(idx.T != 0, lay.mask.numpy())
    relu_quants = [n for n in quants if n.input[0].endswith("_relu")]
    assert len(relu_quants) == 2 and all(_attrs(n)["signed"] == 0 for n in relu_quants)
    assert [n.op_type for n in g.node].count("MatMul") == 3


def test_independent_exact_interpreter_agrees(quantized_model, digits):
    m = quantized_model
    share_weights(m, 4)
    proto = export_onnx(m)
    x = digits.x_test[:2]
    exact = run_exact(proto, x.astype(np.float64))
    y = predict(m, x)
    assert all(Fraction(float(a)) == b for a, b in zip(y.ravel(), exact.ravel(), strict=True))


def test_fpga_flow_run_cli_reproduces_torch(quantized_model, digits, tmp_path):
    m = quantized_model
    share_weights(m, 4)
    path = tmp_path / "m.onnx"
    export_onnx(m, path)
    np.save(tmp_path / "x.npy", digits.x_test)
    assert cli_main(["run", str(path), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), predict(m, digits.x_test))


def test_qonnx_executes_the_export(quantized_model, digits):
    pytest.importorskip("qonnx")
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    m = quantized_model
    share_weights(m, 4)
    proto = export_onnx(m)
    x = digits.x_test[:16]
    for vi in (proto.graph.input[0], proto.graph.output[0]):
        vi.type.tensor_type.shape.dim[0].dim_value = x.shape[0]  # qonnx executes a fixed batch
    model = ModelWrapper(proto).transform(InferShapes())
    out = execute_onnx(model, {"input": x.astype(np.float32)})["output"]
    # qonnx runs MatMul in float32: close to the exact result, same predictions
    y = predict(m, x)
    np.testing.assert_allclose(out, y, rtol=0, atol=1e-4 * np.abs(y).max())
    assert np.array_equal(out.argmax(1), y.argmax(1))


def test_export_refuses_a_float_model(pruned_model):
    with pytest.raises(ValueError, match="fixed-point"):
        export_onnx(pruned_model)
    assert pruned_model.dtype == torch.float32
