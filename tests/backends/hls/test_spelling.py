"""The HLS backend's ``ap_fixed`` spelling of IR types (:mod:`fpga_flow.backends.hls.spelling`)."""

from __future__ import annotations

import pytest

from fpga_flow.backends.hls.spelling import O_MODE, Q_MODE, cpp_type
from fpga_flow.fixed import FixedType, Overflow, Rounding, parse_fixed_type

R, O = Rounding, Overflow
ALL_MODES = [(q, o) for q in Rounding for o in Overflow]
SHAPES = [(8, 3, True), (8, 3, False), (5, -2, True), (5, -2, False), (6, 9, True), (6, 9, False), (1, 1, False),
          (60, 0, True)]


def test_tables_cover_every_mode_with_its_ap_enumerator():
    assert set(Q_MODE) == set(Rounding) and set(O_MODE) == set(Overflow)
    assert all(v == "AP_" + k.name for k, v in Q_MODE.items())
    assert all(v == "AP_" + k.name for k, v in O_MODE.items())


@pytest.mark.parametrize(
    "t, text",
    [
        (FixedType(16, 6), "ap_fixed<16,6>"),
        (FixedType(6, 9, False), "ap_ufixed<6,9>"),
        (FixedType(5, -2), "ap_fixed<5,-2>"),
        (FixedType(8, 0, False, R.RND_CONV, O.SAT), "ap_ufixed<8,0,AP_RND_CONV,AP_SAT>"),
        (FixedType(8, 3, True, R.RND, O.WRAP), "ap_fixed<8,3,AP_RND,AP_WRAP>"),  # one non-default: both written
        (FixedType(8, 3, True, R.TRN, O.SAT), "ap_fixed<8,3,AP_TRN,AP_SAT>"),
        (FixedType(4, -3, False, R.RND_MIN_INF, O.SAT_SYM), "ap_ufixed<4,-3,AP_RND_MIN_INF,AP_SAT_SYM>"),
    ],
)
def test_cpp_type_by_hand(t: FixedType, text: str):
    assert cpp_type(t) == text


@pytest.mark.parametrize("q, o", ALL_MODES)
@pytest.mark.parametrize("w, i, signed", SHAPES)
def test_cpp_type_every_mode_pair(w: int, i: int, signed: bool, q: Rounding, o: Overflow):
    t = FixedType(w, i, signed, q, o)
    modes = "" if (q, o) == (Rounding.TRN, Overflow.WRAP) else f",AP_{q.name},AP_{o.name}"
    assert cpp_type(t) == f"ap_{'' if signed else 'u'}fixed<{w},{i}{modes}>"
    assert parse_fixed_type(cpp_type(t)) == t
