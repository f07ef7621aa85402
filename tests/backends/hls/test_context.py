"""HLS identifiers: suffixes never collide, unsafe layer names are refused."""

from __future__ import annotations

import pytest

from fpga_flow.backends.hls.context import SUFFIXES, check_name, ident


def test_identifiers():
    suffixes = list(SUFFIXES.values())
    assert len(set(suffixes)) == len(suffixes)
    for a in suffixes:
        for b in suffixes:
            assert a == b or not a.endswith(b), (a, b)
    assert ident("fc1", "type") == "fc1_type"
    for bad in ("a__b", "fc_", "_x", "1x", "a-b", "a b", ""):
        with pytest.raises(ValueError):
            check_name(bad)
