"""HLS identifiers (suffixes never collide, unsafe layer names are refused) and the window engines'
spelling: the kernel by op and storage, its config, the README rows, clear refusals; a map read by
two kernels (a residual add, a concatenation): the fork and one stream per reader."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fpga_flow.backends.hls.context import (
    SUFFIXES,
    WINDOW_KERNELS,
    check_name,
    copy_ident,
    ident,
    kernel_of,
    readme_context,
    top_context,
)
from fpga_flow.boards import load_board
from fpga_flow.errors import UnsupportedError
from fpga_flow.render import render
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


# ----------------------------------------------------------------------------- maps read twice
@pytest.mark.parametrize("parallelism", [1, 3])
def test_residual_forks_the_map_read_twice(parallelism):
    """conv1 is read by conv2 and by the add's widening: one producer stream, a stream_fork right after
    conv1, one stream per reader (graph order); the merge kernel reads one stream per input."""
    plan = _cnn_plan("residual", parallelism)
    assert not plan.is_chain
    top = top_context(plan)
    calls = top["calls"]
    names = [c["name"] for c in calls]
    forks = [c for c in calls if c["fork"]]
    assert [(f["name"], f["src"], f["dsts"]) for f in forks] == [("conv1", "conv1_s", ["conv1_s0", "conv1_s1"])]
    assert forks[0]["n"] == plan.layer("conv1").layer.size and forks[0]["x_t"] == "conv1_type"
    assert calls.index(forks[0]) == names.index("conv1") + 1 < names.index("conv2")  # right after conv1
    by = {c["name"]: c for c in calls if not c["fork"]}
    assert (by["conv2"]["src"], by["sum_in0"]["src"]) == ("conv1_s0", "conv1_s1")
    merge = by["sum"]
    assert merge["func"] == "window_merge_layer" and merge["src"] == "sum_in0_s, sum_in1_s"
    assert merge["x_t"] == "sum_in0_type" and merge["dst"] == "sum_s"
    assert merge["args"] == [ident("sum", r) for r in ("col", "last", "lane", "slot")]
    streams = {s["ident"]: s for s in top["streams"]}
    assert {"conv1_s", "conv1_s0", "conv1_s1", "sum_in0_s", "sum_in1_s", "sum_s"} <= set(streams)
    assert streams["conv1_s0"]["type"] == streams["conv1_s1"]["type"] == "conv1_type"
    assert streams["conv1_s0"]["depth"] == plan.layer("conv1").layer.size and streams["conv1_s"]["depth"] == 0
    assert top["first_stream"] == "x_in_s" and top["last_stream"] == "fc_s"
    cfg = dict(next(c for c in top["configs"] if c["name"] == "sum")["consts"])
    assert (cfg["src_c0"], cfg["src_c1"], cfg["in_c"], cfg["out_c"]) == (4, 4, 8, 4)

    cpp = render("hls/fpga_flow_top.cpp.j2", top)
    assert "fpga_flow::stream_fork<fpga_flow_model::conv1_type, 256>(conv1_s, conv1_s0, conv1_s1);" in cpp
    for s in ("conv1_s0", "conv1_s1"):
        assert f'hls::stream<fpga_flow_model::conv1_type> {s}("{s}");' in cpp
        assert f"#pragma HLS STREAM variable={s} depth=256" in cpp
        assert cpp.count(f"{s},") + cpp.count(f"{s});") == 2  # written by the fork, read by one kernel
    assert "        sum_in0_s, sum_in1_s, sum_s," in cpp


def test_concat_forks_the_input():
    """The model input is read by conv1 and by the max pool: the unpacker's stream is forked."""
    top = top_context(_cnn_plan("concat"))
    forks = [c for c in top["calls"] if c["fork"]]
    assert [(f["name"], f["src"], f["dsts"]) for f in forks] == [("x_in", "x_in_s", ["x_in_s0", "x_in_s1"])]
    assert top["calls"][0] is forks[0] and top["first_stream"] == "x_in_s"
    by = {c["name"]: c for c in top["calls"] if not c["fork"]}
    assert (by["conv1"]["src"], by["pool0"]["src"]) == ("x_in_s0", "x_in_s1")
    assert by["cat"]["func"] == "window_merge_layer" and by["cat"]["src"] == "cat_in0_s, cat_in1_s"


def test_copy_identifiers_never_collide():
    assert copy_ident("conv1", 0) == "conv1_s0"
    names = {copy_ident(n, k) for n in ("a", "a_s", "a_s1", "a_s0") for k in range(12)}
    names |= {ident(n, r) for n in ("a", "a_s", "a_s1", "a_s0") for r in SUFFIXES}
    assert len(names) == 4 * (12 + len(SUFFIXES))


@pytest.mark.parametrize("kind", MERGE_KINDS)
def test_merge_refusals(kind):
    plan = _cnn_plan(kind)
    merge = next(p for p in plan.layers if p.window is not None and len(p.window.source_channels) > 1)
    assert kernel_of(merge)[0] == "window_merge_layer"
    assert merge.window is not None
    with pytest.raises(UnsupportedError, match="reading 2 maps with op 'max'"):
        kernel_of(replace(merge, window=replace(merge.window, op="max")))
    with pytest.raises(UnsupportedError, match="reading 5 maps"):
        kernel_of(replace(merge, window=replace(merge.window, source_channels=(1,) * 5)))
