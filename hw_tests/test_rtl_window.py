"""ff_window (with ff_mac_lane, ff_requant) on its own against numpy: a sparse convolution with
asymmetric padding and stride 2 reading a two-bank map, max pooling with padding on signed
inputs (a padding tap must never win, even over all-negative windows), average pooling (the sum
mode), dummy rows (more lanes than a lane's share of channels), two-input merges (a residual add and
a concat reading two buffers of different layouts: each input's own words per pixel, banks and
address width), the padded convolution again on a shared input map (one copy of its banks read
through the planner's bank schedule: bubbles, per-bank tap offsets), and the engine's cycle count.

The plan is the planner's (``plan_window_layer``) with buffers attached here; the ROM words and
parameters are the Verilog backend's (``spell_engine``); the expected outputs are computed here,
independently, by explicit loops over the padded map."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from hwutil import HW_TESTS, lib_sources, needs_verilator

from fpga_flow.backends.rtl import spell_engine
from fpga_flow.backends.rtl.emit import write_mem
from fpga_flow.fixed import FixedType, Overflow, Rounding, cast
from fpga_flow.hw import BufferPlan, LayerPlan
from fpga_flow.hw.design import window_banking
from fpga_flow.hw.engines import ENGINE_MODELS, WINDOW_DRAIN, bank_addr_bits, window_entry_bits
from fpga_flow.hw.plan import FeatureMapLayout, bits_for
from fpga_flow.hw.window import plan_window_layer, tap_fields
from fpga_flow.ir import (
    Activation,
    AddLayer,
    AvgPool2dLayer,
    ConcatLayer,
    Conv2dLayer,
    Layer,
    MaxPool2dLayer,
    csr_from_dense,
)
from fpga_flow.ir.accum import overflow_free_accumulator_type
from fpga_flow.sim.rtl_sim import run_cocotb_module

LIB = ("ff_requant.v", "ff_codebook.v", "ff_act_mem.v", "ff_mac_lane.v", "ff_window.v")
#: Unoptimized C++ for the Verilated model: these simulations are short, the compile is the cost.
FAST_BUILD = "OPT_FAST=-O0 OPT_SLOW=-O0"


@dataclass(frozen=True)
class Case:
    layer: Layer
    in_type: FixedType
    in_fm: FeatureMapLayout
    lanes: int
    x: np.ndarray  # (n, C, H, W) input mantissas (a merge: every input's channels one after another)
    want: np.ndarray  # (n, C_out, OH, OW) expected output mantissas
    #: a merge: the layout of each input (``in_fm`` is the first)
    src_fms: tuple[FeatureMapLayout, ...] = ()
    #: the input map is shared (one copy per group of lanes, read through a bank schedule)
    shared: bool = False

    @property
    def fms(self) -> tuple[FeatureMapLayout, ...]:
        return self.src_fms or (self.in_fm,)


def _fm_buffer(index: int, name: str, width: int, fm: FeatureMapLayout, read_ports: int,
               shared: bool = False) -> BufferPlan:
    bank_of, addr_of = fm.bank_addr()
    banks = int(np.max(fm.chan_bank)) + 1
    return BufferPlan(index, name, width, banks, bits_for(int(addr_of.max()) + 1), bits_for(banks), read_ports,
                      bank_of, addr_of, fm=fm, groups=1 if shared else 0)


def _plan(case: Case) -> LayerPlan:
    """The planner's window plan with the harness's buffers: the case's input layout (one read port
    per lane), the output pixel-major by the schedule (one read port); then the engine's cycles."""
    lay = case.layer
    fm = case.in_fm
    shapes = [(f.channels, f.height, f.width) for f in case.fms]
    p = plan_window_layer(lay, case.in_type, shapes[0], case.lanes, src_shapes=shapes,
                          src_types=[case.in_type] * len(shapes))
    ins = tuple(_fm_buffer(k, f"x{k}", case.in_type.width, f, p.lanes, case.shared) for k, f in enumerate(case.fms))
    s = p.schedule
    c, h, w = (int(v) for v in lay.shape)
    out_fm = FeatureMapLayout(c, h, w, s.slots, s.row_lane.copy(), s.row_slot.copy())
    out_buf = _fm_buffer(len(ins), lay.name, lay.out_type.width, out_fm, 1)
    assert fm is case.fms[0]
    p = replace(p, in_buffer=ins[0], out_buffer=out_buf, in_buffers=ins, out_buffers=(out_buf,))
    if case.shared:
        p = replace(p, banking=window_banking(p, ins[0]))
    return replace(p, cycles=ENGINE_MODELS[p.engine].cycles(p))


def _inputs(rng: np.random.Generator, t: FixedType, shape: tuple[int, int, int], n: int) -> np.ndarray:
    x = rng.integers(t.min_mantissa, t.max_mantissa + 1, size=(n, *shape))
    x[0] = t.max_mantissa
    x[1] = t.min_mantissa
    if t.signed:  # all negative: a zero read for a padding tap would win the maximum
        x[2] = rng.integers(t.min_mantissa, 0, size=shape)
    return x


def _padded(x: np.ndarray, pads: tuple[int, int, int, int], fill: int) -> np.ndarray:
    top, left, bottom, right = pads
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)


def _conv_case(rng: np.random.Generator) -> Case:
    """3x3 CSR convolution, stride 2, pads (top 1, left 2, bottom 2, right 1), ReLU, one row without
    nonzeros (its output is the bias), the input in two banks as a 2-lane stage writes it."""
    in_t = FixedType(7, 3, True)
    out_t = FixedType(7, 3, False, Rounding.RND, Overflow.SAT)
    wt, bt = FixedType(5, 1, True), FixedType(9, 4, True)
    c_in, h, w, c_out, k, stride, pads = 3, 6, 8, 5, (3, 3), (2, 2), (1, 2, 2, 1)
    wm = rng.integers(wt.min_mantissa, wt.max_mantissa + 1, size=(c_out, c_in * 9))
    wm[rng.random(wm.shape) < 0.5] = 0
    wm[1] = 0
    bias = rng.integers(bt.min_mantissa // 2, bt.max_mantissa // 2 + 1, size=c_out)
    oh, ow = (h + pads[0] + pads[2] - k[0]) // stride[0] + 1, (w + pads[1] + pads[3] - k[1]) // stride[1] + 1
    lay = Conv2dLayer(name="conv", inputs=("x",), shape=(c_out, oh, ow), out_type=out_t, weights=csr_from_dense(wm),
                      weight_type=wt, bias=bias, bias_type=bt, acc_type=wt, activation=Activation.RELU,
                      in_shape=(c_in, h, w), kernel=k, stride=stride, pads=pads)
    lay = replace(lay, acc_type=overflow_free_accumulator_type(lay, in_t))
    fm = FeatureMapLayout(c_in, h, w, 2, np.array([0, 1, 0]), np.array([0, 0, 1]))
    x = _inputs(rng, in_t, (c_in, h, w), 5)
    # reference: explicit loops over the zero-padded map
    xp = _padded(x, pads, 0)
    fa = lay.acc_type.frac
    sp, sb = fa - (wt.frac + in_t.frac), fa - bt.frac
    acc = np.zeros((len(x), c_out, oh, ow), np.int64)
    for co in range(c_out):
        for oy in range(oh):
            for ox in range(ow):
                s = np.zeros(len(x), np.int64)
                for ci in range(c_in):
                    for ky in range(3):
                        for kx in range(3):
                            s += wm[co, (ci * 3 + ky) * 3 + kx] * xp[:, ci, oy * stride[0] + ky, ox * stride[1] + kx]
                acc[:, co, oy, ox] = (s << sp) + (int(bias[co]) << sb)
    want = cast(np.maximum(acc, 0), fa, out_t, src_signed=True)
    assert np.array_equal(want, lay.reference([x.reshape(len(x), -1)], [in_t]).reshape(want.shape))
    return Case(lay, in_t, fm, 2, x, want)


def _maxpool_case(rng: np.random.Generator) -> Case:
    """3x3 max pooling, stride 2, padding 1, signed input, 4 channels on 3 lanes (dummy rows), the
    input as the stream unpacker writes it (one bank, pixel * C + c)."""
    in_t = FixedType(6, 2, True)
    c, h, w = 4, 7, 6
    oh, ow = (h + 2 - 3) // 2 + 1, (w + 2 - 3) // 2 + 1
    lay = MaxPool2dLayer(name="pool", inputs=("x",), shape=(c, oh, ow), out_type=in_t, kernel=(3, 3),
                         stride=(2, 2), pads=(1, 1, 1, 1))
    fm = FeatureMapLayout(c, h, w, c, np.zeros(c, np.int64), np.arange(c))
    x = _inputs(rng, in_t, (c, h, w), 5)
    xp = _padded(x, (1, 1, 1, 1), in_t.min_mantissa - 1)  # below every input: never the maximum
    want = np.zeros((len(x), c, oh, ow), np.int64)
    for oy in range(oh):
        for ox in range(ow):
            want[:, :, oy, ox] = xp[:, :, oy * 2 : oy * 2 + 3, ox * 2 : ox * 2 + 3].max(axis=(2, 3))
    assert np.array_equal(want, lay.reference([x], [in_t]))
    return Case(lay, in_t, fm, 3, x, want)


def _avgpool_case(rng: np.random.Generator) -> Case:
    """2x2 average pooling (the sum mode: sum, then / 4 by the binary point), rounded to a narrower
    type, 3 channels on 2 lanes from a two-bank input."""
    in_t = FixedType(8, 4, False)
    out_t = FixedType(6, 2, False, Rounding.RND_CONV, Overflow.SAT)
    c, h, w = 3, 6, 5
    oh, ow = h // 2, w // 2
    lay = AvgPool2dLayer(name="avg", inputs=("x",), shape=(c, oh, ow), out_type=out_t, kernel=(2, 2), stride=(2, 2))
    fm = FeatureMapLayout(c, h, w, 2, np.array([1, 0, 1]), np.array([0, 0, 1]))
    x = _inputs(rng, in_t, (c, h, w), 5)
    s = np.zeros((len(x), c, oh, ow), np.int64)
    for oy in range(oh):
        for ox in range(ow):
            s[:, :, oy, ox] = x[:, :, oy * 2 : oy * 2 + 2, ox * 2 : ox * 2 + 2].sum(axis=(2, 3))
    want = cast(s, in_t.frac + 2, out_t, src_signed=False)
    assert np.array_equal(want, lay.reference([x], [in_t]))
    return Case(lay, in_t, fm, 2, x, want)


def _add_case(rng: np.random.Generator) -> Case:
    """A residual add of two 3-channel maps on 2 lanes, rounded and saturated to a narrower type: input
    0 as a 2-lane stage writes it (two banks, 2 words per pixel), input 1 as the unpacker does (one
    bank, 3 words per pixel)."""
    in_t = FixedType(7, 3, True)
    out_t = FixedType(6, 2, True, Rounding.RND, Overflow.SAT)
    c, h, w = 3, 3, 4
    lay = AddLayer(name="add", inputs=("a", "b"), shape=(c, h, w), out_type=out_t)
    fm0 = FeatureMapLayout(c, h, w, 2, np.array([0, 1, 0]), np.array([0, 0, 1]))
    fm1 = FeatureMapLayout(c, h, w, 3, np.zeros(c, np.int64), np.arange(c))
    xa, xb = _inputs(rng, in_t, (c, h, w), 5), _inputs(rng, in_t, (c, h, w), 5)
    xb[0] = in_t.min_mantissa  # max + min, then min + max
    want = cast(xa + xb, in_t.frac, out_t, src_signed=True)
    assert np.array_equal(want, lay.reference([xa, xb], [in_t, in_t]))
    return Case(lay, in_t, fm0, 2, np.concatenate([xa, xb], axis=1), want, (fm0, fm1))


def _concat_case(rng: np.random.Generator) -> Case:
    """A concat of a 2-channel and a 3-channel map on 3 lanes (5 channels: dummy rows), each input in
    its own banks and words per pixel."""
    in_t = FixedType(6, 2, False)
    h, w = 2, 3
    lay = ConcatLayer(name="cat", inputs=("a", "b"), shape=(5, h, w), out_type=in_t)
    fm0 = FeatureMapLayout(2, h, w, 1, np.array([0, 1]), np.array([0, 0]))
    fm1 = FeatureMapLayout(3, h, w, 2, np.array([1, 0, 1]), np.array([0, 0, 1]))
    xa, xb = _inputs(rng, in_t, (2, h, w), 4), _inputs(rng, in_t, (3, h, w), 4)
    want = np.concatenate([xa, xb], axis=1)
    assert np.array_equal(want, lay.reference([xa, xb], [in_t, in_t]))
    return Case(lay, in_t, fm0, 3, want, want, (fm0, fm1))


def _conv_shared_case(rng: np.random.Generator) -> Case:
    """The padded stride-2 convolution on 3 lanes reading its two-bank map shared (one copy): the
    lanes contend for 2 banks, so the schedule has bubbles."""
    return replace(_conv_case(rng), lanes=3, shared=True)


CASES = {"conv_pad_s2": _conv_case, "maxpool_pad": _maxpool_case, "avgpool_sum": _avgpool_case,
         "add_two_maps": _add_case, "concat_two_maps": _concat_case, "conv_pad_s2_shared": _conv_shared_case}
OPS = {"conv_pad_s2": "mac", "maxpool_pad": "max", "avgpool_sum": "sum", "add_two_maps": "sum",
       "concat_two_maps": "sum", "conv_pad_s2_shared": "mac"}


@needs_verilator
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", list(CASES))
def test_window_engine_matches_numpy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    case = CASES[name](np.random.default_rng(7))
    plan = _plan(case)
    w = plan.window
    assert w is not None and plan.engine == "window" and plan.lanes == case.lanes
    assert w.op == OPS[name]
    # every lane walks exactly `slots` rows per pixel (dummy rows included)
    assert all(int(row.sum()) == plan.slots for row in plan.arrays["last"][:, : plan.entries])
    eng = spell_engine(plan, "l1_win")
    walk = plan.banking.cycles if plan.banking is not None else plan.entries  # ROM words per pixel
    assert (plan.banking is not None) == case.shared
    if case.shared:
        assert plan.banking.bubbles > 0 and eng.params["SHARED"] == 1 and eng.params["GROUPS"] == 1
    assert eng.module == "ff_window" and len(eng.rom_words) == walk
    assert eng.params["MAX_MODE"] == int(w.op == "max") and eng.params["IDENTITY"] == int(w.op != "mac")
    n_src = len(case.fms)
    assert eng.params.get("N_SRC", 1) == n_src
    # a merge's entry adds the input field and takes the widest input's bank (the cost model counts both)
    assert eng.rom_width == plan.lanes * window_entry_bits(plan) + bank_addr_bits(plan)
    assert tap_fields(plan).offset.shape == (plan.lanes, plan.entries)
    assert plan.cycles.ii == plan.cycles.latency == 1 + w.out_pixels * walk + WINDOW_DRAIN
    write_mem(tmp_path / eng.rom_file, eng.rom_words, eng.rom_width)
    inb, outb = plan.in_buffer, plan.out_buffer
    assert inb is not None and outb is not None
    params: dict[str, object] = dict(eng.params)
    params.update(IN_BANKS=max(b.banks for b in plan.in_buffers), BW_OUT=outb.bank_bits,
                  ROM_FILE=f'"{eng.rom_file}"')
    params.pop("BANKS_IN", None)  # the harness passes its IN_BANKS
    if eng.codebook_literal:
        params["CODEBOOK"] = eng.codebook_literal
    if eng.slots_literal:  # as one sized literal (a simulator's -G takes no concatenation)
        slots = [b.fm.slots for b in plan.in_buffers if b.fm is not None]
        assert eng.slots_literal == "{" + ", ".join(f"32'd{v}" for v in reversed(slots)) + "}"
        params["SLOTS_SRC"] = f"{32 * len(slots)}'h{sum(v << (32 * k) for k, v in enumerate(slots)):x}"
    n = len(case.x)
    # every input's elements one after another (each in its own buffer's layout)
    bufs = plan.in_buffers
    data = {
        "inputs": case.x.reshape(n, -1).tolist(), "expected": case.want.reshape(n, -1).tolist(),
        "in_bank": np.concatenate([b.bank_of for b in bufs]).tolist(),
        "in_addr": np.concatenate([b.addr_of for b in bufs]).tolist(),
        "in_src": [k for k, b in enumerate(bufs) for _ in range(b.n_elems)],
        "bank_of": outb.bank_of.tolist(), "addr_of": outb.addr_of.tolist(), "w_x": case.in_type.width,
        "w_out": case.layer.out_type.width, "out_signed": int(case.layer.out_type.signed),
        "engine_cycles": plan.cycles.latency,
    }
    (tmp_path / "case.json").write_text(json.dumps(data))
    monkeypatch.setenv("MAKEFLAGS", f"{os.environ.get('MAKEFLAGS', '')} {FAST_BUILD}".strip())
    run = run_cocotb_module(
        [*lib_sources(*LIB), HW_TESTS / "rtl" / "window_harness.v"], "window_harness", "cocotb_window",
        tmp_path / "build", parameters=params, env={"FPGA_FLOW_WINDOW_CASE": str(tmp_path / "case.json")},
        data_files=[tmp_path / eng.rom_file],
    )
    assert run.passed, run.log_tail()
