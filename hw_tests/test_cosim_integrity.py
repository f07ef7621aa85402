"""``fpga-flow cosim`` simulates the tree as it is: a ROM file deleted from ``rtl/`` after an earlier run is
refused (one line naming it, exit 2) and never replaced by the stale copy in ``OUT/sim_build/``, not even
by the library runner that has no report to check; a changed ``meta.json`` is refused and nothing is
written to ``--output``. The backpressure phase's stalls scale with the design's II, so they slow even a
compute-bound design down."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from hwutil import needs_verilator

from fpga_flow.cli import main
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.sim.rtl_sim import BUILD_STAMP, run_rtl_sim
from fpga_flow.tbdata import META_FILE

N_IN = 20


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cosim_integrity")
    model = root / "mlp.onnx"
    onnx.save(sparse_mlp(N_IN, [LayerSpec(9, 0.6), LayerSpec(5, 0.5, codebook_bits=2),
                                LayerSpec(3, 0.4, relu=False, act=None)], seed=5), model)
    out = root / "out"
    assert main(["build", str(model), "-o", str(out), "--samples", "4", "-P", "1"]) == 0  # a slow design: stalls show
    return out


def _only_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@needs_verilator
@pytest.mark.timeout(600)
def test_a_deleted_rom_is_refused_and_never_taken_from_the_old_build(built: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    shutil.copytree(built, out)
    assert main(["cosim", str(out)]) == 0  # fills OUT/sim_build/verilator, ROM copies included
    printed = capsys.readouterr().out
    cycles = {m[0]: (int(m[1]), int(m[2])) for m in re.findall(r"(ideal|backpressure)\s+(\d+)/\d+ samples, "
                                                                r"0 mismatch\(es\), (\d+) cycles", printed)}
    assert set(cycles) == {"ideal", "backpressure"}, printed
    (n_ideal, c_ideal), (n_bp, c_bp) = cycles["ideal"], cycles["backpressure"]
    assert n_bp == 3 * n_ideal  # three passes: both sides, output only, input only
    # a compute-bound design (II 76 cycles, 3 input beats, 1 output beat) is really stalled
    assert c_bp / n_bp > 1.3 * c_ideal / n_ideal, printed
    bdir = out / "sim_build" / "verilator"
    rom = sorted((out / "rtl").glob("*.mem"))[0]
    assert (bdir / rom.name).is_file() and (bdir / BUILD_STAMP).is_file()
    rom.unlink()
    capsys.readouterr()
    assert main(["cosim", str(out)]) == 2
    line = _only_error(capsys)
    assert line == (f"fpga-flow cosim: error: {rom} is missing (report.json records it); "
                    "rebuild the project with 'fpga-flow build'")
    # the runner itself (no report to check): the build folder is made afresh, so the ROM is simply absent
    res = run_rtl_sim(out / "rtl", out / "tb_data", build_dir=bdir, phases=("ideal",))
    assert not (bdir / rom.name).exists()
    assert not res.passed


@needs_verilator
@pytest.mark.timeout(600)
def test_a_changed_output_type_is_refused_and_nothing_is_written(built: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    shutil.copytree(built, out)
    meta_path = out / "tb_data" / META_FILE
    meta = json.loads(meta_path.read_text())
    meta["output_type"]["integer"] += 1  # every output would read doubled
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    np.save(tmp_path / "x.npy", np.random.default_rng(2).uniform(-3, 3, size=(3, N_IN)))
    for argv in (["cosim", str(out)],
                 ["cosim", str(out), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]):
        assert main(argv) == 2
        line = _only_error(capsys)
        assert f"{meta_path} was changed after the build" in line and "fpga-flow build" in line
    assert not (tmp_path / "y.npy").exists()
    assert not (out / "sim_build").exists() and not (out / "hls" / "csim_build").exists()
