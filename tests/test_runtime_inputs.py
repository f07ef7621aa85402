"""Runtime inputs and outputs of ``run``, ``csim`` and ``cosim``: every unusable file is one line, exit 2,
and nothing is written (no stray temporary file either)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest

from fpga_flow.cli import main
from fpga_flow.errors import FlowError
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.inputs import check_output_path, check_sample_count, load_input, save_output

N_IN = 12


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("inputs")
    model = root / "mlp.onnx"
    onnx.save(sparse_mlp(N_IN, [LayerSpec(6, 0.6), LayerSpec(3, 0.5, relu=False, act=None)], seed=3), model)
    out = root / "out"
    assert main(["build", str(model), "-o", str(out), "--samples", "3"]) == 0
    return model, out


def _empty_rows(p: Path) -> None:
    np.save(p, np.zeros((0, N_IN)))


def _scalar(p: Path) -> None:
    np.save(p, np.float64(1.5))


def _empty_file(p: Path) -> None:
    p.write_bytes(b"")


def _npz(p: Path) -> None:
    with p.open("wb") as f:
        np.savez(f, x=np.zeros((2, N_IN)))


def _text(p: Path) -> None:
    p.write_text("1 2 3\n")


def _folder(p: Path) -> None:
    p.mkdir()


BAD_INPUTS: dict[str, tuple[Callable[[Path], None], str]] = {
    "no rows": (_empty_rows, "holds no sample (shape (0, 12))"),
    "scalar": (_scalar, "holds a single number"),
    "empty file": (_empty_file, "the file is empty"),
    "npz": (_npz, "a .npz archive"),
    "text": (_text, "not a .npy file"),
    "folder": (_folder, "is a folder, not a .npy file"),
}


def _bad(tmp_path: Path, case: str) -> tuple[Path, str]:
    make, needle = BAD_INPUTS[case]
    p = tmp_path / "x.npy"
    make(p)
    return p, needle


def _one_error_line(capsys: pytest.CaptureFixture[str], command: str, *needles: str) -> None:
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"fpga-flow {command}: error: ")
    for n in needles:
        assert n in lines[0], lines[0]


def _nothing_written(folder: Path) -> None:
    assert not (folder / "y.npy").exists()
    assert not [p.name for p in folder.iterdir() if "tmp" in p.name]


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_run_refuses_a_bad_input(project: tuple[Path, Path], tmp_path: Path, case: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    model, _ = project
    x, needle = _bad(tmp_path, case)
    assert main(["run", str(model), "--input", str(x), "--output", str(tmp_path / "y.npy")]) == 2
    _one_error_line(capsys, "run", str(x), needle)
    _nothing_written(tmp_path)


@pytest.mark.parametrize("case", [*BAD_INPUTS, "/dev/null"])
def test_csim_refuses_a_bad_input_before_compiling(project: tuple[Path, Path], tmp_path: Path, case: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _, out = project
    if case == "/dev/null":
        x, needle = Path("/dev/null"), "not a regular file"
    else:
        x, needle = _bad(tmp_path, case)
    assert main(["csim", str(out), "--input", str(x), "--output", str(tmp_path / "y.npy")]) == 2
    _one_error_line(capsys, "csim", str(x), needle)
    _nothing_written(tmp_path)
    assert not (out / "hls" / "csim_build").exists()


@pytest.mark.parametrize("case", ["no rows", "scalar", "npz"])
def test_cosim_refuses_a_bad_input_before_any_tool(project: tuple[Path, Path], tmp_path: Path, case: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _, out = project
    x, needle = _bad(tmp_path, case)
    assert main(["cosim", str(out), "--input", str(x), "--output", str(tmp_path / "y.npy")]) == 2
    _one_error_line(capsys, "cosim", str(x), needle)
    _nothing_written(tmp_path)
    assert not (out / "sim_build").exists()


@pytest.mark.parametrize("command", ["run", "csim", "cosim"])
def test_output_that_is_a_folder_is_refused_up_front(project: tuple[Path, Path], tmp_path: Path, command: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    model, out = project
    np.save(tmp_path / "x.npy", np.zeros((2, N_IN)))
    target = tmp_path / "results"
    target.mkdir()
    head = ["run", str(model)] if command == "run" else [command, str(out)]
    assert main([*head, "--input", str(tmp_path / "x.npy"), "--output", str(target)]) == 2
    _one_error_line(capsys, command, f"--output {target}: is a folder")
    assert list(target.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "x.npy"]  # no stray results.tmp.npy


def test_run_output_is_written_exactly_where_asked(project: tuple[Path, Path], tmp_path: Path) -> None:
    model, _ = project
    x = np.random.default_rng(0).uniform(-2, 2, size=(4, N_IN))
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(model), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "d" / "y")]) == 0
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["y"]
    assert np.load(tmp_path / "d" / "y").shape == (4, 3)


def test_output_below_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(FlowError, match="is a file, not a folder"):
        check_output_path(tmp_path / "f" / "y.npy")
    with pytest.raises(FlowError, match="is a file, not a folder"):
        save_output(tmp_path / "f" / "y.npy", np.zeros(2))


def test_save_output_replaces_atomically_and_leaves_nothing(tmp_path: Path) -> None:
    p = tmp_path / "y.npy"
    save_output(p, np.arange(3.0))
    save_output(p, np.arange(4.0))
    np.testing.assert_array_equal(np.load(p), np.arange(4.0))
    assert [q.name for q in tmp_path.iterdir()] == ["y.npy"]


def test_load_input_still_takes_one_sample_and_feature_maps(tmp_path: Path) -> None:
    np.save(tmp_path / "one.npy", np.ones(N_IN))
    assert load_input(tmp_path / "one.npy", N_IN).shape == (1, N_IN)
    np.save(tmp_path / "fm.npy", np.ones((2, 3, 2, 2)))
    assert load_input(tmp_path / "fm.npy", N_IN).shape == (2, N_IN)


@pytest.mark.parametrize("n", [0, -3, True, 2.0])
def test_sample_count_must_be_a_positive_integer(n: object) -> None:
    with pytest.raises(FlowError, match="--samples must be at least 1"):
        check_sample_count(n)  # type: ignore[arg-type]
    assert check_sample_count(5) == 5


def test_build_with_zero_samples_is_one_line(project: tuple[Path, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    model, _ = project
    assert main(["build", str(model), "-o", str(tmp_path / "o"), "--samples", "0"]) == 2
    _one_error_line(capsys, "build", "--samples must be at least 1")
    assert not (tmp_path / "o").exists()
