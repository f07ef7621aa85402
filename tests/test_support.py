"""Names, stream packing, testbench files, boards and the resource resolver."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fpga_flow.boards import load_board
from fpga_flow.errors import FlowError
from fpga_flow.fixed import FixedType
from fpga_flow.names import RESERVED, NameTable
from fpga_flow.resources import ap_types_include_dir, boards_dir, templates_dir
from fpga_flow.stream import StreamFormat, stream_format
from fpga_flow.tbdata import TbData, read_tb_data, write_tb_data

ROOT = Path(__file__).resolve().parents[1]


def test_hostile_names_are_legal_unique_identifiers():
    t = NameTable()
    raw = ["input", "out", "int", '"; system("x"); //', "../x", "ünïcödé", "int", "", "1abc", "a__b", "module"]
    got = [t.add(n) for n in raw]
    assert len(set(got)) == len(got)
    for g in got:
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", g) and "__" not in g
        assert g.lower() not in RESERVED


def test_stream_pack_unpack_round_trip_little_end_first():
    fmt = stream_format(12, True, 10)
    assert (fmt.per_beat, fmt.tdata_bits, fmt.beats) == (5, 64, 2)
    m = np.array([[-2048, 2047, -1, 0, 5, 6, 7, 8, 9, -10]])
    beats = fmt.pack(m)
    assert beats[0][0] & 0xFFF == 0x800 and (beats[0][0] >> 12) & 0xFFF == 0x7FF
    assert beats[0][1] >> (12 * 5) == 0  # unused slots of the last beat are zero
    np.testing.assert_array_equal(fmt.unpack(beats), m)
    np.testing.assert_array_equal(fmt.unpack(beats[0]), m)
    u = StreamFormat(8, False, 1, 3)
    assert u.tdata_bits == 8 and u.unpack(u.pack(np.array([[255, 0, 128]])))[0].tolist() == [255, 0, 128]


def test_tb_data_round_trip(tmp_path):
    d = TbData(np.array([[1, -2, 3]]), np.array([[7, 8]]), FixedType(8, 4), FixedType(6, 2, False))
    write_tb_data(tmp_path, d)
    r = read_tb_data(tmp_path)
    np.testing.assert_array_equal(r.inputs, d.inputs)
    np.testing.assert_array_equal(r.expected, d.expected)
    assert r.in_type == d.in_type and r.out_type == d.out_type
    assert (tmp_path / "input_mantissas.txt").read_text() == "1 -2 3\n"


def test_unknown_board_lists_known_ones():
    with pytest.raises(FlowError, match="pynq-z2"):
        load_board("pynq-z3")
    assert load_board("pynq-z2").clock_period_ns == 10.0


def test_resources_found_in_checkout():
    assert (boards_dir() / "pynq-z2.json").is_file()
    assert templates_dir().is_dir()
    assert (ap_types_include_dir() / "ap_fixed.h").is_file()


def test_wheel_ships_templates_and_boards(tmp_path):
    """`pip install .` (not editable) must find templates/ and boards/ through the one resolver."""
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                        str(tmp_path / "whl"), str(ROOT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    wheel = next((tmp_path / "whl").glob("fpga_flow-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "fpga_flow/_boards/pynq-z2.json" in names
    assert any(n.startswith("fpga_flow/_templates/") for n in names)
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                        str(wheel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    code = ("import fpga_flow.resources as r, fpga_flow; "
            "print(fpga_flow.__file__); print(r.boards_dir()); print(r.templates_dir())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert all(line.startswith(str(target)) for line in lines), lines
    shipped = {n.removeprefix("fpga_flow/_templates/") for n in names if n.startswith("fpga_flow/_templates/")}
    in_repo = {p.relative_to(ROOT / "templates").as_posix() for p in (ROOT / "templates").rglob("*") if p.is_file()}
    assert in_repo - shipped == set()
    for module in ("backends/hls/__init__.py", "backends/rtl/emit.py", "backends/board/__init__.py", "sim/csim.py",
                   "analysis/fit.py", "commands/build.py"):
        assert f"fpga_flow/{module}" in names
    # a whole build from the installed wheel: every template and board file is found there
    import onnx

    from fpga_flow.examples import LayerSpec, sparse_mlp

    onnx.save(sparse_mlp(12, [LayerSpec(6, codebook_bits=2), LayerSpec(3, relu=False, act=None)]), tmp_path / "m.onnx")
    site = [p for p in sys.path if p.endswith("site-packages")]
    env = {"PYTHONPATH": ":".join([str(target), *site]), "PATH": "/usr/bin:/bin"}
    code = "import sys; from fpga_flow.cli import main; sys.exit(main(sys.argv[1:]))"
    r = subprocess.run([sys.executable, "-c", code, "build", "m.onnx", "-o", "out", "--board", "pynq-z2"],
                       capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "fits pynq-z2" in r.stdout
    shipped_stream = tmp_path / "out/driver/fpga_flow_driver/stream.py"
    assert shipped_stream.read_bytes() == (ROOT / "fpga_flow/stream.py").read_bytes()


def test_load_input_shapes_and_errors(tmp_path):
    from fpga_flow.inputs import load_input

    p = tmp_path / "x.npy"
    np.save(p, np.arange(6, dtype=np.int16))
    x = load_input(p, 6)
    assert x.dtype == np.float64 and x.shape == (1, 6)  # one sample
    np.save(p, np.zeros((4, 2, 3, 1), np.float32))
    assert load_input(p, 6).shape == (4, 6)  # trailing dimensions flattened
    for arr, msg in ((np.zeros((4, 5)), r"expected shape \(N, 6\), got \(4, 5\)"),
                     (np.array([["a"] * 6]), "expected a numeric array"),
                     (np.array([[0, 1, 2, 3, 4, np.nan]]), "NaN or infinity")):
        np.save(p, arr)
        with pytest.raises(FlowError, match=msg):
            load_input(p, 6)
    with pytest.raises(FlowError, match="no such file"):
        load_input(tmp_path / "missing.npy", 6)
    (tmp_path / "bad.npy").write_text("not numpy")
    with pytest.raises(FlowError, match="not a .npy file"):
        load_input(tmp_path / "bad.npy", 6)
