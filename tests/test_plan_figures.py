"""One figure per quantity: the plan's lanes, entries, DSP, BRAM36 and cycles are the ones the report,
``inspect --json``, the fit check and the generated HLS C++ and Verilog use -- read back from the
built tree, for the benchmark MLP at P = 1, 4, 16 and every storage mode."""

from __future__ import annotations

import json
import re
from pathlib import Path

import onnx
import pytest

from fpga_flow.analysis.fit import fit_report
from fpga_flow.boards import load_board
from fpga_flow.cli import main
from fpga_flow.examples import LayerSpec, QuantSpecF, benchmark_mlp, sparse_mlp

POINTS = [(p, s) for p in (1, 4, 16) for s in ("auto", "csr", "codebook_csr", "dense")]


def shared_benchmark_mlp() -> onnx.ModelProto:
    """The benchmark MLP's shapes and sparsity with 8-bit weights shared through 16-entry codebooks
    (the benchmark MLP itself has thousands of distinct 16-bit weights: no codebook)."""
    w8 = QuantSpecF(8, 6)
    return sparse_mlp(784, [LayerSpec(300, 0.9, codebook_bits=4, weight=w8), LayerSpec(100, 0.9, codebook_bits=4,
                                                                                     weight=w8),
                            LayerSpec(10, 0.9, codebook_bits=4, weight=w8, relu=False, act=None)],
                      input_quant=QuantSpecF(8, 4), seed=0)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bench")
    onnx.save(benchmark_mlp(), root / "mlp.onnx")
    onnx.save(shared_benchmark_mlp(), root / "shared.onnx")
    return {"mlp": root / "mlp.onnx", "shared": root / "shared.onnx"}


def _hls_configs(out: Path) -> dict[str, dict[str, int]]:
    """``static const unsigned k = v;`` of every ``struct <layer>_cfg`` in parameters.h."""
    text = (out / "hls" / "firmware" / "parameters.h").read_text()
    cfgs: dict[str, dict[str, int]] = {}
    for m in re.finditer(r"struct (\w+)_cfg \{(.*?)\n\};", text, re.S):
        cfgs[m.group(1)] = {k: int(v) for k, v in re.findall(r"static const unsigned (\w+) = (\d+);", m.group(2))}
    return cfgs


def _rtl_engines(out: Path) -> list[dict[str, int]]:
    """The ``#(...)`` parameters of every ff_sparse_mac instance in the generated top, in order."""
    text = (out / "rtl" / "fpga_flow_top.v").read_text()
    blocks = re.findall(r"ff_sparse_mac #\((.*?)\) u_", text, re.S)
    return [{k: int(v) for k, v in re.findall(r"\.(\w+)\((\d+)\)", b)} for b in blocks]


@pytest.mark.parametrize("parallelism,storage", POINTS, ids=[f"P{p}-{s}" for p, s in POINTS])
def test_every_consumer_reads_the_plans_figures(models: dict[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture, parallelism: int, storage: str) -> None:
    model = models["shared" if storage == "codebook_csr" else "mlp"]
    out = tmp_path / "out"
    args = ["-P", str(parallelism), "--storage", storage]
    assert main(["build", str(model), "-o", str(out), "--samples", "2", *args]) == 0
    capsys.readouterr()
    assert main(["inspect", str(model), "--json", *args]) == 0
    inspected = json.loads(capsys.readouterr().out)["plan"]
    report = json.loads((out / "report.json").read_text())
    plan = report["plan"]
    assert inspected == plan
    # the fit check and --strict read the plan's totals (plus the block design around the kernel)
    board = load_board("pynq-z2")
    assert report["fit"] == fit_report(plan, board)
    for row in report["fit"]["resources"]:
        key = row["resource"].lower()
        assert row["estimate"] == pytest.approx(plan["totals"][key])
    layers = [s for s in plan["layers"] if s["op"] == "dense"]
    assert [s["engine"] for s in layers] != []
    # the generated HLS C++ has the plan's lanes and entries per layer
    cfgs = _hls_configs(out)
    for s in layers:
        assert cfgs[s["name"]]["lanes"] == s["lanes"] and cfgs[s["name"]]["lane_len"] == s["entries"]
    # the generated Verilog has the plan's lanes and ROM words per engine, in order: the walk, or on a
    # shared input its bank schedule (the walk plus the bubbles, a lane idle for a bank)
    engines = _rtl_engines(out)
    assert [(e["P"], e["ENTRIES"]) for e in engines] == [(s["lanes"], s["rom_words"]) for s in layers]
    for s in layers:
        assert s["rom_words"] >= s["entries"]
        if s["input_copies"] >= s["lanes"]:  # per-lane copies: no schedule, no idle cycle
            assert s["rom_words"] == s["entries"] and s["bubbles"] == 0
        assert (s["input_copies"] < s["lanes"]) == (engines[layers.index(s)].get("SHARED") == 1)
    # cycles: each engine is 1 + ROM words + its pipeline; the design's II is its slowest stage
    for s in layers:
        assert s["ii"] == s["latency"] >= s["rom_words"] + 1
    assert plan["totals"]["ii"] == max(s["ii"] for s in plan["layers"])
    assert plan["totals"]["latency"] == sum(s["latency"] for s in plan["layers"])
    # DSP: one multiplier per lane of a DSP-using engine (16x16 and 8x8 bits: one DSP48E1 each)
    for s in layers:
        assert s["dsp"] == (0 if s["engine"] == "codebook_factored" else s["lanes"])
    if storage == "codebook_csr":
        assert {s["engine"] for s in layers} <= {"codebook", "codebook_factored"}
    else:
        assert {s["engine"] for s in layers} == {"dense" if storage == "dense" else "csr"}
    assert plan["totals"]["dsp"] == sum(s["dsp"] for s in plan["layers"])
    # the HLS README's table is the plan's
    readme = (out / "hls" / "README.md").read_text()
    for s in layers:
        assert f"| `{s['name']}` | {s['engine']} |" in readme
    assert f"{plan['totals']['dsp']} DSP, {plan['totals']['bram36']:g} BRAM36" in readme
