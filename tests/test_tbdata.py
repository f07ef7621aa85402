"""``OUT/tb_data/``: the neutral type form in ``meta.json``, round trips, and older projects' strings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fpga_flow.backends.hls.spelling import cpp_type
from fpga_flow.errors import FlowError
from fpga_flow.fixed import FixedType, Overflow, Rounding
from fpga_flow.tbdata import META_FILE, TbData, read_meta_type, read_tb_data, write_tb_data

R, O = Rounding, Overflow
ALL_MODES = [(q, o) for q in Rounding for o in Overflow]


def _data(tin: FixedType, tout: FixedType) -> TbData:
    return TbData(np.array([[1, -2, 3], [0, 5, -7]]), np.array([[7, 8], [-1, 0]]), tin, tout)


@pytest.mark.parametrize("q, o", ALL_MODES)
def test_meta_round_trip_every_mode_pair(tmp_path, q: Rounding, o: Overflow):
    d = _data(FixedType(8, 4, True, q, o), FixedType(6, -2, False, q, o))
    write_tb_data(tmp_path, d)
    r = read_tb_data(tmp_path)
    assert (r.in_type, r.out_type) == (d.in_type, d.out_type)
    np.testing.assert_array_equal(r.inputs, d.inputs)
    np.testing.assert_array_equal(r.expected, d.expected)


def test_meta_json_holds_the_neutral_form(tmp_path):
    d = _data(FixedType(8, 1, True, R.RND_CONV, O.SAT), FixedType(18, 20, False))
    write_tb_data(tmp_path, d)
    text = (tmp_path / META_FILE).read_text()
    meta = json.loads(text)
    assert meta["input_type"] == {"width": 8, "integer": 1, "signed": True, "rounding": "RND_CONV",
                                  "overflow": "SAT"}
    assert meta["output_type"] == {"width": 18, "integer": 20, "signed": False, "rounding": "TRN",
                                   "overflow": "WRAP"}
    assert "ap_" not in text.lower()
    assert (meta["n_samples"], meta["n_inputs"], meta["n_outputs"]) == (2, 3, 2)
    s = d.in_stream
    assert meta["input_stream"] == {"width": s.width, "per_beat": s.per_beat, "tdata_bits": s.tdata_bits,
                                    "beats": s.beats}


@pytest.mark.parametrize("spelling", ["cpp", "neutral"])
def test_reads_the_type_strings_of_older_projects(tmp_path, spelling):
    d = _data(FixedType(8, 4, True, R.RND_CONV, O.SAT), FixedType(18, 7))
    write_tb_data(tmp_path, d)
    meta = json.loads((tmp_path / META_FILE).read_text())
    for key, t in (("input_type", d.in_type), ("output_type", d.out_type)):
        meta[key] = cpp_type(t) if spelling == "cpp" else str(t)
    (tmp_path / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    if spelling == "cpp":
        assert meta["input_type"] == "ap_fixed<8,4,AP_RND_CONV,AP_SAT>"  # what builds before wrote
    r = read_tb_data(tmp_path)
    assert (r.in_type, r.out_type) == (d.in_type, d.out_type)


@pytest.mark.parametrize(
    "value, match",
    [
        ({"width": 8, "integer": 4, "signed": True, "rounding": "RND_CONV"}, "input_type: .*lacks key.*'overflow'"),
        ({"width": 8, "integer": 4, "signed": True, "rounding": "NEAREST", "overflow": "SAT"},
         "input_type: .*'rounding' must be one of"),
        ("ap_fixed<8", "input_type: cannot parse"),
        (8, "input_type must be a fixed-point type"),
    ],
)
def test_malformed_meta_type_is_a_flow_error_naming_file_and_key(tmp_path, value, match):
    write_tb_data(tmp_path, _data(FixedType(8, 4), FixedType(6, 2)))
    meta = json.loads((tmp_path / META_FILE).read_text())
    meta["input_type"] = value
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(FlowError, match=match) as info:
        read_tb_data(tmp_path)
    assert META_FILE in str(info.value) and "fpga-flow build" in str(info.value)


def test_missing_meta_type_is_named():
    with pytest.raises(FlowError, match="has no 'output_type'"):
        read_meta_type({"input_type": FixedType(8, 4).to_json()}, "output_type")
    assert read_meta_type({"t": FixedType(8, 4).to_json()}, "t") == FixedType(8, 4)
