"""An automatically folded MLP (different lanes per layer) through both backends: the HLS C
simulation (g++) and the RTL simulation (Verilator, cocotb) equal the bit-exact reference, and the
RTL's II and latency equal the plan's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest

from fpga_flow.cli import main
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.sim.rtl_sim import find_verilator

N_SAMPLES = 10


@pytest.fixture(scope="module")
def folded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("folded")
    model = root / "mlp.onnx"
    onnx.save(sparse_mlp(24, [LayerSpec(16, 0.5), LayerSpec(8, 0.5, codebook_bits=2),
                              LayerSpec(4, 0.3, relu=False, act=None)], seed=11), model)
    out = root / "out"
    assert main(["build", str(model), "-o", str(out), "--target-ii", "30", "--samples", str(N_SAMPLES),
                 "--strict"]) == 0
    return out


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def test_the_folding_gives_each_layer_its_own_lanes(folded: Path) -> None:
    r = _report(folded)
    fold = r["plan"]["folding"]
    lanes = fold["lanes"]
    assert len(set(lanes.values())) > 1, lanes
    assert fold["mode"] == "target" and fold["bound"] == "target" and r["plan"]["totals"]["ii"] <= 30
    assert r["options"]["parallelism"] is None
    rows = {row["name"]: row["lanes"] for row in r["plan"]["layers"] if row["op"] != "stream"}
    assert rows == lanes
    top = (folded / "rtl" / "fpga_flow_top.v").read_text()
    assert "Parallelism per layer (automatic folding, " in top
    md = (folded / "report.md").read_text()
    assert "Automatic folding (target II 30 cycles)" in md and "Bound by **the target**" in md


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
@pytest.mark.timeout(600)
def test_csim_is_bit_exact(folded: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["csim", str(folded)]) == 0
    assert f"all {N_SAMPLES} samples equal the bit-exact reference" in capsys.readouterr().out


@pytest.mark.skipif(find_verilator() is None, reason="verilator not installed")
@pytest.mark.timeout(900)
def test_cosim_is_bit_exact_and_measures_the_plan(folded: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["cosim", str(folded), "--seed", "2"]) == 0
    assert "PASS" in capsys.readouterr().out
    r = _report(folded)
    c, est = r["cosim"], r["plan"]["totals"]
    assert c["passed"] is True and c["mismatches"] == 0 and c["samples"] == N_SAMPLES
    assert c["ii"] == est["ii"] and c["latency"] == est["latency"]


#: Feature-map designs with lanes per layer: a stage after a window engine with fewer, more and as
#: many lanes as its producer (uniform P never makes the first two), and a residual block.
CNN_LANES = {
    "lenet": {"conv1": 4, "pool1": 1, "conv2": 3, "pool2": 5, "fc1": 2, "fc2": 1},
    "maxpool": {"conv1": 2, "pool1": 3, "fc": 4},
    "residual": {"conv1": 3, "conv2": 1, "sum_in0": 2, "sum_in1": 1, "sum": 4, "fc": 2},
}


def _cnn_case(kind: str, auto: bool):  # noqa: ANN202 - (graph, plan, lanes)
    from fpga_flow.hw import fold, plan_design
    from tests.cnn_graphs import cnn_graph

    g = cnn_graph(kind)
    if auto:
        lanes = dict(fold(g, budget={"lut": 6000, "ff": 1e9, "dsp": 1e9, "bram36": 1e9, "uram": 1e9}).lanes_requested)
    else:
        lanes = CNN_LANES[kind]
    return g, plan_design(g, lanes), lanes


CNN_CASES = [(k, False) for k in CNN_LANES] + [("lenet", True)]
CNN_IDS = [f"{k}-{'auto' if a else 'mixed'}" for k, a in CNN_CASES]
#: csim spells the same per-layer lanes as the RTL: two cases suffice there (the RTL runs all)
CSIM_CASES = [c for c, i in zip(CNN_CASES, CNN_IDS, strict=True) if i in ("residual-mixed", "lenet-auto")]
CSIM_IDS = ["residual-mixed", "lenet-auto"]


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
@pytest.mark.timeout(600)
@pytest.mark.parametrize(("kind", "auto"), CSIM_CASES, ids=CSIM_IDS)
def test_cnn_with_lanes_per_layer_csim_is_bit_exact(kind: str, auto: bool, tmp_path: Path) -> None:
    import numpy as np

    from fpga_flow.sim.csim import run_csim
    from tests.backends.hls.models import write_project
    from tests.cnn_graphs import cnn_inputs

    g, plan, lanes = _cnn_case(kind, auto)
    assert len({p.lanes for p in plan.hardware_layers}) > 1
    x = cnn_inputs(g, 6)
    write_project(g, tmp_path, lanes, x)  # type: ignore[arg-type] # plan_design takes the mapping
    res = run_csim(tmp_path, opt="-O1", log=None)
    assert res.ok and res.mismatches == 0, res.first_mismatches
    np.testing.assert_array_equal(res.outputs, g.execute(x)[g.outputs[0]].reshape(len(x), -1))


@pytest.mark.skipif(find_verilator() is None, reason="verilator not installed")
@pytest.mark.timeout(900)
@pytest.mark.parametrize(("kind", "auto"), CNN_CASES, ids=CNN_IDS)
def test_cnn_with_lanes_per_layer_rtl_is_bit_exact(kind: str, auto: bool, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from fpga_flow.backends.rtl import emit_rtl
    from fpga_flow.sim.rtl_sim import run_rtl_sim
    from fpga_flow.tbdata import TbData, write_tb_data
    from tests.cnn_graphs import cnn_inputs

    monkeypatch.setenv("MAKEFLAGS", f"{os.environ.get('MAKEFLAGS', '')} OPT_FAST=-O0 OPT_SLOW=-O0".strip())
    g, plan, _ = _cnn_case(kind, auto)
    emit_rtl(plan, tmp_path / "rtl")
    n = 5
    x = cnn_inputs(g, n)
    vals = g.execute(x)
    inp, out = g.inputs[0], g.output_layers[0]
    write_tb_data(tmp_path / "tb", TbData(vals[inp.name].reshape(n, -1), vals[out.name].reshape(n, -1),
                                          inp.out_type, out.out_type))
    res = run_rtl_sim(tmp_path / "rtl", tmp_path / "tb", build_dir=tmp_path / "build", seed=4)
    assert res.passed, res.summary()
    assert res.ii == plan.ii and res.latency == plan.latency
