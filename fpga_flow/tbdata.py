"""Testbench stimulus and expected files (``OUT/tb_data/``), shared by every simulator.

* ``input_mantissas.txt``: one sample per line, the input vector as decimal integer mantissas
  of the input type, separated by single spaces.
* ``expected_mantissas.txt``: the same for the output vector (the Python reference's result).
* ``meta.json``: sample count, element counts, fixed-point types and stream formats.

Integers (not floats) make the comparison exact and the files readable by C++, cocotb and humans.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fpga_flow.fixed import FixedType, parse_fixed_type
from fpga_flow.stream import StreamFormat, stream_format

__all__ = ["TbData", "read_tb_data", "write_tb_data"]

INPUT_FILE = "input_mantissas.txt"
EXPECTED_FILE = "expected_mantissas.txt"
META_FILE = "meta.json"


@dataclass(frozen=True)
class TbData:
    """Stimulus and expected response, as mantissas, with their types."""

    inputs: np.ndarray
    expected: np.ndarray
    in_type: FixedType
    out_type: FixedType

    @property
    def in_stream(self) -> StreamFormat:
        return stream_format(self.in_type.width, self.in_type.signed, int(self.inputs.shape[1]))

    @property
    def out_stream(self) -> StreamFormat:
        return stream_format(self.out_type.width, self.out_type.signed, int(self.expected.shape[1]))


def _write_matrix(path: Path, m: np.ndarray) -> None:
    path.write_text("".join(" ".join(str(int(v)) for v in row) + "\n" for row in np.asarray(m, dtype=np.int64)))


def _read_matrix(path: Path, n_cols: int) -> np.ndarray:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    m = np.array(rows, dtype=np.int64).reshape(len(rows), n_cols) if rows else np.zeros((0, n_cols), np.int64)
    return m


def write_tb_data(folder: Path, data: TbData) -> None:
    """Write the three files into ``folder`` (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_matrix(folder / INPUT_FILE, data.inputs)
    _write_matrix(folder / EXPECTED_FILE, data.expected)
    meta = {
        "n_samples": int(data.inputs.shape[0]),
        "n_inputs": int(data.inputs.shape[1]),
        "n_outputs": int(data.expected.shape[1]),
        "input_type": data.in_type.cpp(),
        "output_type": data.out_type.cpp(),
        "input_stream": {"width": data.in_stream.width, "per_beat": data.in_stream.per_beat,
                         "tdata_bits": data.in_stream.tdata_bits, "beats": data.in_stream.beats},
        "output_stream": {"width": data.out_stream.width, "per_beat": data.out_stream.per_beat,
                          "tdata_bits": data.out_stream.tdata_bits, "beats": data.out_stream.beats},
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def read_tb_data(folder: Path) -> TbData:
    """Read what :func:`write_tb_data` wrote."""
    meta = json.loads((folder / META_FILE).read_text())
    return TbData(
        inputs=_read_matrix(folder / INPUT_FILE, meta["n_inputs"]),
        expected=_read_matrix(folder / EXPECTED_FILE, meta["n_outputs"]),
        in_type=parse_fixed_type(meta["input_type"]),
        out_type=parse_fixed_type(meta["output_type"]),
    )
