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
from fractions import Fraction
from pathlib import Path

import numpy as np

from fpga_flow.errors import FlowError
from fpga_flow.fixed import (
    Dequant,
    FixedType,
    fraction_text,
    from_float,
    parse_fixed_type,
    parse_fraction,
    quantize_scaled,
    to_float,
)
from fpga_flow.stream import StreamFormat, stream_format

__all__ = ["TbData", "read_meta", "read_meta_type", "read_tb_data", "write_tb_data"]

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
    #: the input's scale when it is not 2^-frac (``InputLayer.factor``/``zero_point``)
    in_factor: Fraction = Fraction(1)
    in_zero_point: int = 0
    #: how the outputs become real values when their scale is not 2^-frac (None: mantissa x 2^-frac)
    out_dequant: Dequant | None = None

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Float inputs ``(n, n_inputs)`` to mantissas, exactly as the model's input layer does."""
        if self.in_factor != 1 or self.in_zero_point != 0:
            return quantize_scaled(x, self.in_type, self.in_factor, self.in_zero_point)
        return from_float(x, self.in_type)

    def output_values(self, m: np.ndarray) -> np.ndarray:
        """Output mantissas to their real values (float64)."""
        return self.out_dequant.values(m) if self.out_dequant is not None else to_float(m, self.out_type)

    @property
    def in_stream(self) -> StreamFormat:
        return stream_format(self.in_type.width, self.in_type.signed, int(self.inputs.shape[1]))

    @property
    def out_stream(self) -> StreamFormat:
        return stream_format(self.out_type.width, self.out_type.signed, int(self.expected.shape[1]))


def _write_matrix(path: Path, m: np.ndarray) -> None:
    path.write_text("".join(" ".join(str(int(v)) for v in row) + "\n" for row in np.asarray(m, dtype=np.int64)))


REBUILD = "rebuild the project with 'fpga-flow build'"


def _read_matrix(path: Path, n_rows: int, n_cols: int, what: str) -> np.ndarray:
    """The ``(n_rows, n_cols)`` mantissas of ``path``; the row count and every row's length checked against
    ``meta.json``."""
    if not path.is_file():
        raise FlowError(f"{path} is missing; {REBUILD}")
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FlowError(f"{path}: not a readable text file ({e}); {REBUILD}") from None
    rows = [line.split() for line in lines if line.strip()]
    if len(rows) != n_rows:
        raise FlowError(f"{path} holds {len(rows)} sample(s) but {META_FILE} says n_samples = {n_rows}; {REBUILD}")
    for i, row in enumerate(rows):
        if len(row) != n_cols:
            raise FlowError(f"{path}: sample {i} has {len(row)} values, {META_FILE} says {n_cols} ({what}); {REBUILD}")
    try:
        m = np.array([[int(v, 10) for v in row] for row in rows], dtype=np.int64)
    except (ValueError, OverflowError) as e:
        raise FlowError(f"{path}: not decimal 64-bit integers ({e}); {REBUILD}") from None
    return m.reshape(n_rows, n_cols)


def _count(meta: Mapping[str, object], key: str, source: str, least: int) -> int:
    v = meta.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < least:
        raise FlowError(f"{source}: {key} must be an integer of at least {least}, got {v!r}; {REBUILD}")
    return v


def _check_stream(meta: Mapping[str, object], key: str, fmt: StreamFormat, source: str) -> None:
    if key not in meta:  # projects built before the stream formats were recorded
        return
    want = {"width": fmt.width, "per_beat": fmt.per_beat, "tdata_bits": fmt.tdata_bits, "beats": fmt.beats}
    if meta[key] != want:
        raise FlowError(f"{source}: {key} {json.dumps(meta[key])} does not match its type and element count "
                        f"(expected {json.dumps(want)}); {REBUILD}")


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
    if data.in_factor != 1 or data.in_zero_point != 0:
        meta["input_scale"] = {"factor": fraction_text(data.in_factor), "zero_point": data.in_zero_point}
    if data.out_dequant is not None:
        meta["output_dequant"] = data.out_dequant.to_json()
    (folder / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def _read_scales(meta: Mapping[str, object], src: str) -> tuple[Fraction, int, Dequant | None]:
    """The optional ``input_scale`` and ``output_dequant`` entries of a ``meta.json``."""
    factor, zero, dequant = Fraction(1), 0, None
    try:
        sc = meta.get("input_scale")
        if sc is not None:
            if not isinstance(sc, dict):
                raise ValueError("input_scale must be an object")
            factor = parse_fraction(sc.get("factor"))
            zp = sc.get("zero_point", 0)
            if not isinstance(zp, int) or factor <= 0:
                raise ValueError("input_scale needs a positive factor and an integer zero_point")
            zero = zp
        dq = meta.get("output_dequant")
        if dq is not None:
            if not isinstance(dq, dict):
                raise ValueError("output_dequant must be an object")
            dequant = Dequant.from_json(dq)
    except (ValueError, ZeroDivisionError) as e:
        raise FlowError(f"{src}: {e}; {REBUILD}") from None
    return factor, zero, dequant


def read_meta_type(meta: Mapping[str, object], key: str, source: str = META_FILE) -> FixedType:
    """The fixed-point type ``meta[key]`` of a ``meta.json``: the neutral JSON form, or a type string
    (``ap_fixed<...>`` or ``fixed<...>``) as projects built before the neutral form hold it.

    A missing or malformed entry is a :class:`~fpga_flow.errors.FlowError` naming ``source`` and ``key``.
    """
    if key not in meta:
        raise FlowError(f"{source} has no {key!r}; {REBUILD}")
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


def read_meta(folder: Path) -> dict[str, object]:
    """The parsed ``meta.json`` of ``folder`` (a FlowError naming the file when it is missing or not a JSON object)."""
    path = folder / META_FILE
    if not path.is_file():
        raise FlowError(f"{path} is missing; {REBUILD}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FlowError(f"{path}: not readable JSON ({e}); {REBUILD}") from None
    if not isinstance(meta, dict):
        raise FlowError(f"{path}: expected a JSON object, got {type(meta).__name__}; {REBUILD}")
    return meta


def read_tb_data(folder: Path) -> TbData:
    """Read what :func:`write_tb_data` wrote (also the string types of older projects).

    Everything is checked against ``meta.json``: ``n_samples`` rows in both files, ``n_inputs`` /
    ``n_outputs`` integers per row, the stream formats those of the types. Anything else is a
    :class:`~fpga_flow.errors.FlowError` naming the file."""
    folder = Path(folder)
    path = folder / META_FILE
    meta = read_meta(folder)
    src = str(path)
    n = _count(meta, "n_samples", src, 1)
    n_in = _count(meta, "n_inputs", src, 1)
    n_out = _count(meta, "n_outputs", src, 1)
    in_type = read_meta_type(meta, "input_type", src)
    out_type = read_meta_type(meta, "output_type", src)
    factor, zero, dequant = _read_scales(meta, src)
    data = TbData(
        inputs=_read_matrix(folder / INPUT_FILE, n, n_in, "n_inputs"),
        expected=_read_matrix(folder / EXPECTED_FILE, n, n_out, "n_outputs"),
        in_type=in_type,
        out_type=out_type,
        in_factor=factor,
        in_zero_point=zero,
        out_dequant=dequant,
    )
    _check_stream(meta, "input_stream", data.in_stream, src)
    _check_stream(meta, "output_stream", data.out_stream, src)
    return data
