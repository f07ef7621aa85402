"""HLS identifiers (suffixes never collide, unsafe layer names are refused) and the window engines'
spelling: the kernel by op and storage, its config, the README rows, clear refusals."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fpga_flow.backends.hls.context import (
    SUFFIXES,
    WINDOW_KERNELS,
    check_name,
    ident,
    kernel_of,
    readme_context,
    top_context,
)
from fpga_flow.boards import load_board
from fpga_flow.errors import UnsupportedError
from tests.backends.hls.models import plan as plan_of
from tests.cnn_graphs import MERGE_KINDS, cnn_graph


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


# ----------------------------------------------------------------------------- window engines
def _cnn_plan(kind: str, parallelism: int = 3):
    return plan_of(cnn_graph(kind), parallelism)


@pytest.mark.parametrize(
    ("kind", "layer", "func"),
    [
        ("conv_s1", "conv1", "window_mac_layer"),
        ("conv_same_codebook", "conv1", "window_codebook_layer"),
        ("bn", "bn1", "window_mac_layer"),
        ("maxpool", "pool1", "window_max_layer"),
        ("avgpool", "pool1", "window_sum_layer"),
        ("relu_map", "relu1", "window_sum_layer"),
        ("relu_map", "q1", "window_sum_layer"),
    ],
)
def test_window_kernel_by_op_and_storage(kind, layer, func):
    plan = _cnn_plan(kind)
    p = plan.layer(layer)
    assert kernel_of(p)[0] == func
    call = next(c for c in top_context(plan)["calls"] if c["name"] == layer)
    assert call["func"] == func
    assert call["args"] == [ident(layer, role) for role in WINDOW_KERNELS[func.split("_")[1]][1]]
    assert {a.removeprefix(layer) for a in call["args"]} == {SUFFIXES[r.role] for r in p.roms}


def test_window_config_spells_the_geometry():
    plan = _cnn_plan("conv_s2_pad")
    p = plan.layer("conv1")
    cfg = next(c for c in top_context(plan)["configs"] if c["name"] == "conv1")
    assert cfg["summary"] == (
        f"window kernel (conv 3x3, stride 2, pads 1/0/2/1), 3x8x8 -> 4x5x4, {p.layer.nnz} nonzero taps, "
        f"{p.lanes} lane(s), {p.entries} entries per pixel"
    )
    consts = dict(cfg["consts"])
    # the padded map holds every tap: 8 + 1 + 2 rows, 8 + 0 + 1 columns
    assert (consts["ph"], consts["pw"], consts["pad_t"], consts["pad_l"]) == (11, 9, 1, 0)
    assert (consts["lane_len"], consts["slots"], consts["pixels"]) == (p.entries, p.slots, 20)
    assert (consts["shift_p"], consts["shift_b"]) == (p.fields.shift_p, p.fields.shift_b)
    types = dict(cfg["types"])
    assert types["acc_t"] == "ap_fixed<16,6>" and types["col_t"] == f"ap_uint<{p.col_bits}>"
    pool = next(c for c in top_context(_cnn_plan("avgpool"))["configs"] if c["name"] == "pool1")
    assert pool["summary"].startswith("window kernel (average pool 2x2, stride 2, sum / 2^2), 4x7x7 -> 4x3x3, 16 taps")
    assert set(dict(pool["types"])) == {"acc_t", "col_t", "lane_t", "slot_t"}


def test_readme_rows_of_window_layers():
    plan = _cnn_plan("lenet")
    rows = {r["name"]: r for r in readme_context(plan, load_board("pynq-z2"))["rows"]}
    assert rows["conv1"]["shape"] == "1x12x12 -> 4x10x10" and rows["conv1"]["kernel"] == "window (conv 3x3)"
    assert rows["pool1"]["kernel"] == "window (max pool 2x2, stride 2)" and rows["pool1"]["nnz"] == "-"
    assert rows["fc1"]["shape"] == "24 -> 12" and rows["fc1"]["kernel"] == "csr"


def test_window_refusals():
    plan = _cnn_plan("maxpool")
    p = plan.layer("pool1")
    assert p.window is not None and p.fields is not None
    with pytest.raises(UnsupportedError, match="window op 'median' has no HLS spelling"):
        kernel_of(replace(p, window=replace(p.window, op="median")))
    with pytest.raises(UnsupportedError, match="takes ROMs col, last, lane, slot"):
        kernel_of(replace(p, roms=p.roms[:-1]))
    conv = plan.layer("conv1")
    assert conv.fields is not None
    wide = replace(plan, layers=tuple(replace(q, fields=replace(conv.fields, acc_bits=70)) if q is conv else q
                                      for q in plan.layers))
    with pytest.raises(UnsupportedError, match="70-bit accumulator"):
        top_context(wide)


@pytest.mark.parametrize("kind", MERGE_KINDS)
def test_a_map_read_twice_is_refused(kind):
    plan = _cnn_plan(kind)
    with pytest.raises(UnsupportedError, match="reads a map twice"):
        top_context(plan)
    merge = next(p for p in plan.layers if p.window is not None and len(p.window.source_channels) > 1)
    with pytest.raises(UnsupportedError, match="reading 2 maps"):
        kernel_of(merge)
