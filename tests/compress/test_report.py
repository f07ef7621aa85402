"""The compression report writes fixed-point types in the neutral form (JSON for tools, notation for people)."""

from __future__ import annotations

import json

from fpga_flow.compress.flow import CompressConfig
from fpga_flow.compress.qat import TypePolicy
from fpga_flow.compress.report import _config_dict, _type_text
from fpga_flow.fixed import FixedType, Overflow, Rounding


def test_config_types_are_neutral_json():
    t = FixedType(8, 1, True, Rounding.RND_CONV, Overflow.SAT)
    cfg = CompressConfig(types=TypePolicy(rounding=Rounding.TRN, overrides={"fc1.weight": t}))
    d = _config_dict(cfg)
    text = json.dumps(d)  # JSON-ready
    assert "AP_" not in text and "ap_fixed" not in text
    assert d["types"]["rounding"] == "TRN"
    assert d["types"]["overrides"]["fc1.weight"] == t.to_json()
    assert FixedType.from_json(d["types"]["overrides"]["fc1.weight"]) == t
    assert d["dense"]["epochs"] == cfg.dense.epochs and d["hidden"] == list(cfg.hidden)


def test_markdown_type_text_is_the_neutral_notation():
    assert _type_text(FixedType(8, 1, True, Rounding.RND_CONV, Overflow.SAT).to_json()) == "fixed<8,1,RND_CONV,SAT>"
    assert _type_text(FixedType(16, -3, False).to_json()) == "ufixed<16,-3>"
