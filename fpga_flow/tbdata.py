"""Testbench stimulus and expected files (``OUT/tb_data/``), shared by every simulator.

* ``input_mantissas.txt``: one sample per line, the input vector as decimal integer mantissas
  of the input type, separated by single spaces.
* ``expected_mantissas.txt``: the same for the output vector (the Python reference's result).
* ``meta.json``: sample count, element counts, fixed-point types and stream formats.

Integers (not floats) make the comparison exact and the files readable by C++, cocotb and humans.

``meta.json`` holds ``n_samples``, ``n_inputs``, ``n_outputs``; ``input_type`` and ``output_type``
in the neutral JSON form of :meth:`fpga_flow.fixed.FixedType.to_json`, e.g.
``{"width": 8, "integer": 1, "signed": true, "rounding": "RND_CONV", "overflow": "SAT"}``; and
``input_stream`` / ``output_stream`` as ``{"width", "per_beat", "tdata_bits", "beats"}``
(:mod:`fpga_flow.stream`). :func:`read_tb_data` also reads the type strings
(``"ap_fixed<8,1,AP_RND_CONV,AP_SAT>"``) that projects built before the neutral form hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fpga_flow.errors import FlowError
from fpga_flow.fixed import FixedType, parse_fixed_type
from fpga_flow.stream import StreamFormat, stream_format

__all__ = ["TbData", "read_meta_type", "read_tb_data", "write_tb_data"]

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
        "input_type": data.in_type.to_json(),
        "output_type": data.out_type.to_json(),
        "input_stream": {"width": data.in_stream.width, "per_beat": data.in_stream.per_beat,
                         "tdata_bits": data.in_stream.tdata_bits, "beats": data.in_stream.beats},
        "output_stream": {"width": data.out_stream.width, "per_beat": data.out_stream.per_beat,
                          "tdata_bits": data.out_stream.tdata_bits, "beats": data.out_stream.beats},
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def read_meta_type(meta: Mapping[str, object], key: str, source: str = META_FILE) -> FixedType:
    """The fixed-point type ``meta[key]`` of a ``meta.json``: the neutral JSON form, or a type string
    (``ap_fixed<...>`` or ``fixed<...>``) as projects built before the neutral form hold it.

    A missing or malformed entry is a :class:`~fpga_flow.errors.FlowError` naming ``source`` and ``key``.
    """
    if key not in meta:
        raise FlowError(f"{source} has no {key!r}; rebuild the project with 'fpga-flow build'")
    value = meta[key]
    try:
        if isinstance(value, str):
            return parse_fixed_type(value)
        if isinstance(value, Mapping):
            return FixedType.from_json(value)
    except ValueError as e:
        raise FlowError(f"{source}: {key}: {e}; rebuild the project with 'fpga-flow build'") from None
    raise FlowError(f"{source}: {key} must be a fixed-point type such as {json.dumps(FixedType(8, 1).to_json())}, "
                    f"got {value!r}; rebuild the project with 'fpga-flow build'")


def read_tb_data(folder: Path) -> TbData:
    """Read what :func:`write_tb_data` wrote (also the string types of older projects)."""
    path = folder / META_FILE
    meta = json.loads(path.read_text())
    return TbData(
        inputs=_read_matrix(folder / INPUT_FILE, meta["n_inputs"]),
        expected=_read_matrix(folder / EXPECTED_FILE, meta["n_outputs"]),
        in_type=read_meta_type(meta, "input_type", str(path)),
        out_type=read_meta_type(meta, "output_type", str(path)),
    )
