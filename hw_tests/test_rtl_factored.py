"""ff_sparse_mac in factored codebook mode (FACTORED=1, lanes ff_factored_lane) against an
independent Python-int reference: random codebook CSR layers, 1 and 3 lanes, K = 2, 4, 16 codes,
single-entry rows, empty rows (a zero code), signed and unsigned inputs and weights, ReLU,
several output rounding / overflow modes, samples back to back, and the cycle count
1 + ENTRIES + DRAIN with DRAIN = 5 + CB_BITS. The ROM words are built here, not by the planner.
Plus a Verilator -Wall lint of the factored engine and a check that it maps to no DSP."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hwutil import HW_TESTS, lib_sources, needs_verilator

from fpga_flow.backends.rtl.emit import write_mem
from fpga_flow.fixed import FixedType, Overflow, Rounding, cast
from fpga_flow.sim.rtl_sim import lint_verilog, run_cocotb_module

LIB = ("ff_requant.v", "ff_codebook.v", "ff_act_mem.v", "ff_mac_lane.v", "ff_factored_lane.v", "ff_sparse_mac.v")
HARNESS = HW_TESTS / "rtl" / "factored_harness.v"
RND = {Rounding.TRN: 0, Rounding.TRN_ZERO: 1, Rounding.RND: 2, Rounding.RND_ZERO: 3, Rounding.RND_MIN_INF: 4,
       Rounding.RND_INF: 5, Rounding.RND_CONV: 6}
OVF = {Overflow.WRAP: 0, Overflow.SAT: 1, Overflow.SAT_ZERO: 2, Overflow.SAT_SYM: 3}


def drain(cb_bits: int) -> int:
    """ff_sparse_mac's DRAIN for FACTORED=1 (its header comment)."""
    return 5 + cb_bits


def clog2(n: int) -> int:
    return max(1, (int(n) - 1).bit_length())


def signed_width(lo: int, hi: int) -> int:
    """The narrowest signed width holding every integer of [lo, hi]."""
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


@dataclass(frozen=True)
class Case:
    lanes: int
    cb_bits: int
    n_codes: int  # nonzero codebook entries (<= 2^cb_bits, one less when there are empty rows)
    x_t: FixedType
    w_t: FixedType
    b_t: FixedType
    out_t: FixedType
    relu: bool
    n_in: int
    n_out: int
    empty_rows: int
    single_rows: int
    acc_extra_frac: int = 0  # SHIFT_P > 0 when set
    bubbles: int = 0  # invalid (valid=0, garbage) entries inserted between a lane's entries
    seed: int = 0


@dataclass
class Built:
    params: dict[str, object]
    words: list[int]
    rom_width: int
    x: np.ndarray
    want: np.ndarray
    bank_of: list[int]
    addr_of: list[int]
    entries: int


def build(c: Case, n_samples: int = 3) -> Built:
    rng = np.random.default_rng(c.seed)
    k_all = 1 << c.cb_bits
    # codebook: distinct nonzero weight mantissas, padded with zeros (the zero code serves empty rows)
    pool = np.arange(c.w_t.min_mantissa, c.w_t.max_mantissa + 1)
    pool = pool[pool != 0]
    vals = rng.choice(pool, size=c.n_codes, replace=False)
    if c.n_codes > 2:  # the extremes of the weight type
        vals[0], vals[1] = c.w_t.max_mantissa, (c.w_t.min_mantissa if c.w_t.signed else 1)
    codebook = np.zeros(k_all, np.int64)
    slots = rng.permutation(k_all)[: c.n_codes]  # the zero entries land anywhere in the table
    codebook[slots] = vals
    zero_code = int(np.flatnonzero(codebook == 0)[0]) if (codebook == 0).any() else None
    assert c.empty_rows == 0 or zero_code is not None

    # rows: empty, single-entry, and random ones (several entries of the same code)
    rows: list[list[tuple[int, int]]] = []  # (col, code)
    kinds = ["empty"] * c.empty_rows + ["single"] * c.single_rows
    kinds += ["random"] * (c.n_out - len(kinds))
    kinds = [kinds[i] for i in rng.permutation(c.n_out)]
    for kind in kinds:
        if kind == "empty":
            rows.append([])
            continue
        n = 1 if kind == "single" else int(rng.integers(2, c.n_in + 1))
        cols = np.sort(rng.choice(c.n_in, size=n, replace=False))
        # bias the codes towards one code so that one S_k collects many inputs
        codes = np.where(rng.random(n) < 0.5, slots[0], rng.choice(slots, size=n))
        rows.append([(int(a), int(b)) for a, b in zip(cols, codes, strict=True)])
    bias = rng.integers(c.b_t.min_mantissa, c.b_t.max_mantissa + 1, size=c.n_out)

    # types of the engine: accumulator frac, SHIFT_P / SHIFT_B, exact W_ACC and SUM_W
    acc_frac = c.w_t.frac + c.x_t.frac + c.acc_extra_frac
    acc_frac = max(acc_frac, c.b_t.frac)
    shift_p = acc_frac - (c.w_t.frac + c.x_t.frac)
    shift_b = acc_frac - c.b_t.frac
    xlo, xhi = c.x_t.min_mantissa, c.x_t.max_mantissa
    lo = hi = 0
    count_max = 1
    for j, row in enumerate(rows):
        b = int(bias[j]) << shift_b
        rlo = rhi = b
        for _, code in row:
            w = int(codebook[code])
            rlo += min(w * xlo, w * xhi) << shift_p
            rhi += max(w * xlo, w * xhi) << shift_p
        lo, hi = min(lo, rlo), max(hi, rhi)
        for code in set(k for _, k in row):
            count_max = max(count_max, sum(1 for _, k in row if k == code))
    w_acc = signed_width(lo, hi)
    sum_w = signed_width(count_max * xlo, count_max * xhi)  # the tightest: S_k wraps beyond it

    # lanes: rows dealt largest first to the lightest lane; row r -> (lane, ordinal)
    cost = [max(1, len(r)) for r in rows]
    lane_rows: list[list[int]] = [[] for _ in range(c.lanes)]
    load = [0] * c.lanes
    for r in sorted(range(c.n_out), key=lambda r: (-cost[r], r)):
        lane = min(range(c.lanes), key=lambda i: (load[i], i))
        lane_rows[lane].append(r)
        load[lane] += cost[r]
    bank_of, addr_of = [0] * c.n_out, [0] * c.n_out

    # entries: code [WF], input address [AW_IN], input bank [BW_IN], bias, first, last, valid
    wf, aw_in, bw_in, bias_w = c.cb_bits, clog2(c.n_in), 1, c.b_t.width
    f_addr, f_bank = wf, wf + aw_in
    f_bias = f_bank + bw_in
    f_first = f_bias + bias_w
    entry_w = f_first + 3
    lanes_e: list[list[int]] = []
    for lane, rl in enumerate(lane_rows):
        seq: list[int] = []
        for ordinal, r in enumerate(rl):
            bank_of[r], addr_of[r] = lane, ordinal
            ents = rows[r] or [(0, zero_code)]  # an empty row: one entry of the zero code
            for i, (col, code) in enumerate(ents):
                e = code | (col << f_addr) | (1 << (f_first + 2))
                if i == 0:
                    e |= ((int(bias[r]) & ((1 << bias_w) - 1)) << f_bias) | (1 << f_first)
                if i == len(ents) - 1:
                    e |= 1 << (f_first + 1)
                seq.append(e)
        for _ in range(c.bubbles):  # invalid entries full of garbage (valid bit clear)
            pos = int(rng.integers(0, len(seq) + 1))
            seq.insert(pos, int(rng.integers(0, 1 << (entry_w - 1))))
        lanes_e.append(seq)
    entries = max(len(s) for s in lanes_e)
    words = [0] * entries
    for lane, seq in enumerate(lanes_e):
        for k in range(entries):
            # padding at a lane's end: valid clear, garbage elsewhere
            e = seq[k] if k < len(seq) else int(rng.integers(0, 1 << (entry_w - 1)))
            words[k] |= e << (lane * entry_w)

    # stimulus: extremes first (the widest sums), then random
    x = rng.integers(xlo, xhi + 1, size=(n_samples, c.n_in))
    x[0] = xhi
    if n_samples > 1:
        x[1] = xlo
    # reference: bias + sum w * x in Python ints, ReLU, then the cast to the output type
    acc = np.zeros((n_samples, c.n_out), np.int64)
    for s in range(n_samples):
        for j, row in enumerate(rows):
            a = int(bias[j]) << shift_b
            for col, code in row:
                a += (int(codebook[code]) * int(x[s, col])) << shift_p
            assert -(1 << (w_acc - 1)) <= a < (1 << (w_acc - 1))
            acc[s, j] = max(a, 0) if c.relu else a
    want = cast(acc, acc_frac, c.out_t, src_signed=True)

    w_w = c.w_t.width
    packed = 0
    for i, v in enumerate(codebook):
        packed |= (int(v) & ((1 << w_w) - 1)) << (i * w_w)
    bits = w_w << c.cb_bits
    max_rows = max(len(r) for r in lane_rows)
    params: dict[str, object] = {
        "P": c.lanes, "ENTRIES": entries, "EAW": clog2(entries), "ROM_FILE": '"rom.mem"',
        "W_X": c.x_t.width, "X_SIGNED": int(c.x_t.signed), "WF": wf, "W_W": w_w, "W_SIGNED": int(c.w_t.signed),
        "CB": 1, "CB_BITS": c.cb_bits, "CODEBOOK": f"{bits}'h{packed:0{(bits + 3) // 4}x}",
        "BIAS_W": bias_w, "B_SIGNED": int(c.b_t.signed), "W_ACC": w_acc, "SHIFT_P": shift_p, "SHIFT_B": shift_b,
        "AW_IN": aw_in, "BW_IN": bw_in, "W_OUT": c.out_t.width, "OUT_SIGNED": int(c.out_t.signed),
        "RQ_SHIFT": acc_frac - c.out_t.frac, "RND": RND[c.out_t.rounding], "OVF": OVF[c.out_t.overflow],
        "RELU": int(c.relu), "AW_OUT": clog2(max_rows), "BW_OUT": clog2(c.lanes), "FACTORED": 1, "SUM_W": sum_w,
    }
    return Built(params, words, c.lanes * entry_w, x, want, bank_of, addr_of, entries)


def fx(w: int, i: int, signed: bool = True, q: Rounding = Rounding.TRN, o: Overflow = Overflow.WRAP) -> FixedType:
    return FixedType(w, i, signed, q, o)


CASES = {
    # 1 lane, K = 2 (one real code + the zero code), signed x, empty and single rows
    "p1_k2_signed_rndconv_sat": Case(1, 1, 1, fx(8, 3), fx(6, 2), fx(8, 3),
                                     fx(8, 4, True, Rounding.RND_CONV, Overflow.SAT), False, 10, 7, 2, 2),
    # 3 lanes, K = 2 (both codes real, no empty rows), unsigned x, ReLU, TRN_ZERO / SAT_SYM
    "p3_k2_unsigned_relu_trnzero_satsym": Case(3, 1, 2, fx(7, 2, False), fx(5, 1), fx(9, 4),
                                               fx(7, 3, True, Rounding.TRN_ZERO, Overflow.SAT_SYM), True, 12, 11,
                                               0, 3, seed=1),
    # 3 lanes, K = 4, unsigned x, ReLU, TRN / WRAP, unsigned bias, invalid bubbles in the lanes
    "p3_k4_unsigned_relu_trn_wrap": Case(3, 2, 3, fx(6, 3, False), fx(6, 2), fx(7, 2, False),
                                         fx(6, 3, True, Rounding.TRN, Overflow.WRAP), True, 12, 12, 2, 3,
                                         bubbles=3, seed=2),
    # 1 lane, K = 4, signed x, unsigned output, RND_MIN_INF / SAT_ZERO, SHIFT_P > 0
    "p1_k4_signed_rndmininf_satzero": Case(1, 2, 4, fx(8, 4), fx(7, 3), fx(10, 2),
                                           fx(6, 5, False, Rounding.RND_MIN_INF, Overflow.SAT_ZERO), False, 9, 8,
                                           0, 2, acc_extra_frac=2, seed=3),
    # 3 lanes, K = 16 (15 real codes + zero), signed x, unsigned weights, RND_INF / SAT
    "p3_k16_signed_uweights_rndinf_sat": Case(3, 4, 15, fx(8, 2), fx(6, 3, False), fx(8, 5),
                                              fx(9, 6, True, Rounding.RND_INF, Overflow.SAT), False, 14, 12, 1, 3,
                                              seed=4),
    # 1 lane, K = 16 (all real), unsigned x, ReLU, RND_ZERO / SAT, a wide output
    "p1_k16_unsigned_relu_rndzero": Case(1, 4, 16, fx(8, 4, False), fx(8, 3), fx(8, 4),
                                         fx(12, 8, False, Rounding.RND_ZERO, Overflow.SAT), True, 10, 9, 0, 2,
                                         seed=5),
}


@needs_verilator
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(CASES))
def test_factored_engine_matches_reference(tmp_path: Path, name: str) -> None:
    c = CASES[name]
    b = build(c)
    cycles = 1 + b.entries + drain(c.cb_bits)
    # the stimulus and readout fit inside one engine run, so samples follow back to back
    assert cycles > max(c.n_in, c.n_out) + 3
    write_mem(tmp_path / "rom.mem", b.words, b.rom_width)
    case = {
        "inputs": b.x.tolist(), "expected": b.want.tolist(), "bank_of": b.bank_of, "addr_of": b.addr_of,
        "w_x": c.x_t.width, "w_out": c.out_t.width, "out_signed": int(c.out_t.signed), "engine_cycles": cycles,
    }
    (tmp_path / "case.json").write_text(json.dumps(case))
    run = run_cocotb_module(
        [*lib_sources(*LIB), HARNESS], "factored_harness", "cocotb_factored", tmp_path / "build",
        parameters=b.params, env={"FPGA_FLOW_FACTORED_CASE": str(tmp_path / "case.json")},
        data_files=[tmp_path / "rom.mem"],
    )
    assert run.passed, run.log_tail()


@needs_verilator
def test_factored_engine_is_lint_clean(tmp_path: Path) -> None:
    b = build(CASES["p3_k4_unsigned_relu_trn_wrap"])
    write_mem(tmp_path / "rom.mem", b.words, b.rom_width)
    args = [f"-G{k}={v}" for k, v in b.params.items() if k != "ROM_FILE"]
    # the engine inside a design (as generated tops use it), and as a top of its own
    lint = lint_verilog([*lib_sources(*LIB), HARNESS], "factored_harness", args)
    assert lint.ok, lint.output
    args = [a for a in args if not a.startswith("-GBW_OUT=")]
    lint = lint_verilog(lib_sources(*LIB), "ff_sparse_mac", args)
    assert lint.ok, lint.output


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
@pytest.mark.timeout(600)
def test_factored_engine_uses_no_dsp(tmp_path: Path) -> None:
    """yosys synth_xilinx: the constant multiplies are shift-adds, so no DSP48E1 (the plain
    codebook engine of the same layer has one per lane)."""
    c = CASES["p3_k4_unsigned_relu_trn_wrap"]
    b = build(c)
    write_mem(tmp_path / "rom.mem", b.words, b.rom_width)
    counts = {}
    for factored in (0, 1):
        chp = " ".join(f"-set {k} {v}" for k, v in b.params.items() if k not in ("BW_OUT", "ROM_FILE", "FACTORED"))
        script = (
            f"read_verilog {' '.join(str(p) for p in lib_sources(*LIB))}; "
            f"chparam {chp} -set FACTORED {factored} ff_sparse_mac; "
            "synth_xilinx -family xc7 -top ff_sparse_mac -flatten -noiopad -noclkbuf; stat"
        )
        out = subprocess.run(["yosys", "-q", "-p", script.replace("; stat", "; tee -o stat.txt stat")],
                             cwd=tmp_path, capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stdout + out.stderr
        stat = (tmp_path / "stat.txt").read_text()
        dsp = [ln.split()[-1] for ln in stat.splitlines() if "DSP48E1" in ln]
        counts[factored] = int(dsp[-1]) if dsp else 0
    assert counts[1] == 0, counts
    assert counts[0] == c.lanes, counts
