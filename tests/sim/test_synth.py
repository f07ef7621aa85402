"""``fpga-flow synth``: yosys synth_xilinx on a built project, cell counting, the fit section."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest

from fpga_flow.boards import load_board
from fpga_flow.cli import main
from fpga_flow.errors import FlowError
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.sim.synth import count_cells, parse_stat_json, run_synth, yosys_family

needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed (apt-get install yosys)")

#: What ``tee -o stat.json stat -json`` writes after ``synth_xilinx -flatten`` (yosys 0.23, trimmed).
STAT_JSON = """
{
   "creator": "Yosys 0.23 (git sha1 7ce5011c24b)",
   "invocation": "stat -json ",
   "modules": {
      "\\\\fpga_flow_top": {
         "num_cells": 9,
         "num_cells_by_type": {"CARRY4": 61, "DSP48E1": 4, "FDRE": 458, "FDSE": 25, "INV": 57, "LUT2": 85,
                               "LUT6": 104, "MUXF7": 20, "RAM32M": 62}
      }
   },
      "design": {
         "num_cells": 9,
         "num_cells_by_type": {"CARRY4": 61, "DSP48E1": 4, "FDRE": 458, "FDSE": 25, "INV": 57, "LUT2": 85,
                               "LUT6": 104, "MUXF7": 20, "RAM32M": 62}
      }
}
"""


def test_parse_stat_json_design_totals() -> None:
    cells = parse_stat_json(STAT_JSON, "fpga_flow_top")
    assert cells["DSP48E1"] == 4 and cells["RAM32M"] == 62 and cells["FDRE"] == 458
    c = count_cells(cells)
    assert c["lut_logic"] == 57 + 85 + 104  # INV is a LUT1
    assert c["lutram"] == 4 * 62  # RAM32M: one SLICEM, 4 LUTs
    assert c["lut"] == 57 + 85 + 104 + 4 * 62
    assert c["ff"] == 458 + 25
    assert c["dsp"] == 4 and c["bram36"] == 0 and c["carry"] == 61 and c["unmapped"] == 0


def test_parse_stat_json_top_module_only() -> None:
    data = json.loads(STAT_JSON)
    del data["design"]
    assert parse_stat_json(json.dumps(data), "fpga_flow_top")["LUT6"] == 104
    with pytest.raises(FlowError, match="stat -json"):
        parse_stat_json("not json")


def test_count_cells_categories() -> None:
    c = count_cells({"LUT6_2": 3, "LUT1": 1, "SRLC32E": 5, "SRL16E": 1, "RAM64X1D": 2, "RAM128X1D": 1,
                     "FDCE": 7, "FDPE": 1, "LDCE": 2, "DSP48E2": 3, "RAMB36E2": 2, "RAMB18E2": 3,
                     "URAM288": 1, "$_DFF_P_": 4})
    assert c["lut_logic"] == 4 and c["srl"] == 6 and c["lutram"] == 2 * 2 + 4
    assert c["lut"] == 4 + 6 + 8
    assert c["ff"] == 8 and c["latch"] == 2
    assert c["dsp"] == 3
    assert (c["ramb36"], c["ramb18"], c["bram36"]) == (2, 3, 3.5)
    assert c["uram"] == 1 and c["unmapped"] == 4


def test_family_from_board_part() -> None:
    fams = {b: load_board(b).yosys_family for b in ("pynq-z2", "arty-a7-100t", "zcu102", "zcu104",
                                                   "ultra96-v2", "kv260", "alveo-u250")}
    assert fams == {"pynq-z2": "xc7", "arty-a7-100t": "xc7", "zcu102": "xcup", "zcu104": "xcup",
                    "ultra96-v2": "xcup", "kv260": "xcup", "alveo-u250": "xcup"}
    assert yosys_family("xcku040-ffva1156-2-e") == "xcu"
    assert yosys_family("xcvu9p-flga2104-2L-e") == "xcup"
    with pytest.raises(FlowError, match="family"):
        yosys_family("5cgxfc7c7f23c8")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    model = root / "tiny.onnx"
    onnx.save(sparse_mlp(12, [LayerSpec(6, 0.5), LayerSpec(3, 0.5, relu=False, act=None)], seed=3), model)
    out = root / "out"
    assert main(["build", str(model), "-o", str(out), "-P", "2", "--samples", "4"]) == 0
    return out


def test_not_a_project_and_missing_yosys(tmp_path: Path, project: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["synth", str(tmp_path)]) == 2
    assert "not an fpga-flow project" in capsys.readouterr().err
    before = (project / "report.json").read_text()
    assert main(["synth", str(project), "--yosys", str(tmp_path / "no-yosys")]) == 2
    err = capsys.readouterr().err
    assert "yosys not found" in err and "apt-get install yosys" in err and "make setup" in err
    assert (project / "report.json").read_text() == before  # a failed synth leaves the report alone


@needs_yosys
@pytest.mark.timeout(600)
def test_synth_counts_and_fit(project: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["synth", str(project)]) == 0
    printed = capsys.readouterr().out
    assert "LUT" in printed and "BRAM36" in printed and "fits pynq-z2" in printed
    r = json.loads((project / "report.json").read_text())
    s = r["synth"]
    assert s["family"] == "xc7" and s["tool"].startswith("Yosys ") and s["top"] == "fpga_flow_top"
    for k in ("lut", "lut_logic", "lutram", "srl", "ff", "dsp", "ramb36", "ramb18", "uram", "unmapped"):
        assert isinstance(s[k], int) and s[k] >= 0, k
    assert s["lut"] == s["lut_logic"] + s["lutram"] + s["srl"] > 0
    assert s["ff"] > 0 and s["unmapped"] == 0 and s["uram"] == 0
    assert s["bram36"] == s["ramb36"] + s["ramb18"] / 2
    # one multiplier per MAC lane: 8-bit weights x 8-bit activations map to one DSP48E1 each
    plan = r["plan"]
    mac = [row for row in plan["layers"] if row["dsp"] > 0]
    assert [row["engine"] for row in mac] == ["csr", "csr"] and all(row["dsp"] == row["lanes"] for row in mac)
    lanes = sum(row["lanes"] for row in mac)
    assert s["dsp"] == plan["totals"]["dsp"] == lanes == 4 and plan["dsp_slice"] == "DSP48E1"
    assert s["cells"]["DSP48E1"] == 4
    fit = r["fit"]
    assert fit["basis"] == "synth" and fit["fits"]
    rows = {row["resource"]: row for row in fit["resources"]}
    assert rows["LUT"]["synth"] == s["lut"] and rows["FF"]["synth"] == s["ff"] and rows["DSP"]["synth"] == 4
    assert rows["LUT"]["used"] == s["lut"] + fit["platform"]["lut"]
    assert (project / "synth" / "yosys.log").is_file() and (project / "synth" / "stat.json").is_file()
    md = (project / "report.md").read_text()
    assert "## Synthesis (yosys)" in md and "(synthesis, DMA and interconnect included)" in md


@needs_yosys
@pytest.mark.timeout(600)
def test_synth_is_deterministic(project: Path) -> None:
    board = load_board("pynq-z2")
    a = run_synth(project, board, log=None)
    b = run_synth(project, board.part, log=None)  # a part name works too
    assert a.family == b.family == board.yosys_family == "xc7"
    assert a.cells == b.cells and a.counts == b.counts
