"""The resource cost model of the Verilog library (fpga_flow/hw/cost.py).

Pure-Python structure (Cost arithmetic, the memory-mapping and DSP rules it mirrors, monotonicity)
and, when yosys is installed, a few tiny modules synthesized here with ``fpga-flow synth``'s
script (``synth_xilinx -family xc7 -flatten -noiopad -noclkbuf``) whose memory mapping (BRAM36,
LUTRAM) and DSP counts the model must match exactly. About 10-20 s with yosys.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fpga_flow.hw.cost import (
    Cost,
    act_buffer_cost,
    dsp_per_product,
    dsp_slice,
    mac_engine_cost,
    map_memory,
    mux_luts,
    pack_cost,
    shared_buffer_cost,
    unpack_cost,
)

# the benchmark MLP's first layer (784 -> 300, 16-bit data and weights, RND_CONV + SAT) at `lanes` lanes
BENCH_L1 = dict(entry_bits=45, x_bits=16, x_signed=True, w_bits=16, w_signed=True, weight_field_bits=16,
                codebook=False, codebook_bits=1, bias_bits=16, acc_bits=36, out_bits=16, in_addr_bits=8,
                in_bank_bits=2, relu=True, family="xc7")


def test_cost_arithmetic() -> None:
    a = Cost(lut=10, ff=5, dsp=1, bram36=0.5, uram=0, lutram=4)
    b = Cost(lut=1, ff=2, dsp=3, bram36=1.0, uram=1, lutram=0)
    assert a + b == Cost(11, 7, 4, 1.5, 1, 4)
    assert a.times(3) == Cost(30, 15, 3, 1.5, 0, 12)
    assert a.times(0) == Cost()
    assert Cost() + a == a
    assert a.as_dict() == {"lut": 10, "ff": 5, "dsp": 1, "bram36": 0.5, "uram": 0, "lutram": 4}


def test_dsp_slice_by_family() -> None:
    assert dsp_slice("xc7") == "DSP48E1"
    assert dsp_slice("xcup") == "DSP48E2"
    assert dsp_slice("xcu") == "DSP48E2"
    with pytest.raises(ValueError, match="family"):
        dsp_slice("ice40")


def test_dsp_per_product_mirrors_mul2dsp() -> None:
    assert dsp_per_product(17, 17, "xc7") == 1  # 16-bit unsigned x 16-bit signed: 17 x 17 signed
    assert dsp_per_product(25, 18, "xc7") == 1
    assert dsp_per_product(26, 17, "xc7") == 2  # wider than 25 x 18: two slices
    assert dsp_per_product(26, 17, "xcup") == 1  # a DSP48E2 multiplies 27 x 18
    assert dsp_per_product(32, 32, "xc7") == 4
    assert dsp_per_product(4, 4, "xc7") == 0  # an 8-bit product stays in LUTs (DSP_Y_MINWIDTH = 9)
    assert dsp_per_product(4, 8, "xc7") == 1
    assert dsp_per_product(1, 16, "xc7") == 0


def test_map_memory_mirrors_memory_libmap() -> None:
    # ROMs: logic costs 1/64 per bit, so a 210 x 698 ROM (2290) beats ten RAMB36 (2572)
    assert map_memory(698, 210, writable=False, family="xc7").kind == "logic"
    m = map_memory(720, 1474, writable=False, family="xc7")  # 512 x 72 RAMB36, 3 chunks, words straddle
    assert (m.kind, m.bram36, m.chunks, m.unit_width) == ("block", 30.0, 3, 72)
    assert map_memory(45, 23298, writable=False, family="xc7").bram36 == 30.0
    assert map_memory(44, 3112, writable=False, family="xc7").bram36 == 5.0
    # RAMs (one write, one read port): 512 x 16 in one RAMB18, 64 x 16 in six RAM64M (4 LUTs each)
    assert map_memory(16, 512, writable=True, family="xc7").bram36 == 0.5
    m = map_memory(16, 64, writable=True, family="xc7")
    assert (m.kind, m.cells, m.lutram_luts) == ("distributed", 6, 24)
    m = map_memory(16, 128, writable=True, family="xc7")
    assert (m.kind, m.cells, m.chunks) == ("distributed", 12, 2)
    assert map_memory(16, 256, writable=True, family="xc7").bram36 == 0.5
    # UltraScale LUTRAM: RAM64M8 (64 x 7, 8 LUTs)
    m = map_memory(16, 64, writable=True, family="xcup")
    assert (m.kind, m.cells, m.lutram_luts) == ("distributed", 3, 24)


def test_mux_luts() -> None:
    assert [mux_luts(n) for n in (1, 2, 4, 5, 8, 16)] == [0, 1, 1, 2, 3, 5]
    assert mux_luts(64) > mux_luts(32) > mux_luts(16)


def test_engine_monotonic_in_lanes() -> None:
    prev = Cost()
    for lanes in (1, 2, 4, 8, 16):
        c = mac_engine_cost(lanes=lanes, entries=23298 // lanes + 1, out_addr_bits=max(1, 9 - lanes.bit_length() + 1),
                            **BENCH_L1)  # type: ignore[arg-type]
        assert c.dsp == lanes  # one DSP48E1 per lane: a 16 x 16 product, the accumulator in the DSP
        assert c.lut > prev.lut and c.ff > prev.ff
        prev = c


def test_buffer_monotonic_and_lutram_split() -> None:
    one = act_buffer_cost(width=16, banks=4, addr_bits=5, read_ports=1, family="xc7")
    four = act_buffer_cost(width=16, banks=4, addr_bits=5, read_ports=4, family="xc7")
    assert four.lutram == 4 * one.lutram == 4 * 4 * 6 * 4  # 4 banks x 6 RAM64M x 4 LUTs per port
    assert four.lut > one.lut and four.ff > one.ff
    assert one.lutram <= one.lut
    big = act_buffer_cost(width=16, banks=4, addr_bits=8, read_ports=4, family="xc7")
    assert big.bram36 == 8.0 and big.lutram == 0  # 16 RAMB18 of 512 x 16


def test_point_wise_engine_uses_no_dsp() -> None:
    """The point-wise lanes (IDENTITY=1) pass x through instead of multiplying by the constant 1
    (yosys would map ``x * 1`` onto a DSP before it finds the weight constant)."""
    c = mac_engine_cost(lanes=4, entries=5, entry_bits=11, x_bits=8, x_signed=True, w_bits=2, w_signed=True,
                        weight_field_bits=2, codebook=False, codebook_bits=1, bias_bits=1, acc_bits=8, out_bits=8,
                        in_addr_bits=3, in_bank_bits=2, out_addr_bits=3, relu=True, family="xc7")
    assert c.dsp == 0 and c.bram36 == 0


def test_factored_engine_uses_no_dsp() -> None:
    c = mac_engine_cost(lanes=2, entries=300, entry_bits=30, x_bits=8, x_signed=True, w_bits=8, w_signed=True,
                        weight_field_bits=3, codebook=True, codebook_bits=3, bias_bits=16, acc_bits=24, out_bits=8,
                        in_addr_bits=6, in_bank_bits=2, out_addr_bits=4, relu=True, family="xc7", factored=True,
                        sum_bits=12)
    assert c.dsp == 0 and c.lut > 0 and c.ff > 0


def test_streams() -> None:
    u = unpack_cost(width=16, per_beat=4, beats=196, tdata_bits=64, addr_bits=8, family="xc7")
    assert u.ff == 8 and u.dsp == 0 and u.bram36 == 0
    p = pack_cost(width=35, per_beat=1, beats=10, tdata_bits=40, addr_bits=2, bank_bits=2, beat_addr_bits=4,
                  family="xc7")
    assert p.lutram == 7 * 4  # the 4-deep FIFO of 41 bits: seven RAM32M


# ------------------------------------------------------------------------------------ against yosys
YOSYS = shutil.which("yosys")
needs_yosys = pytest.mark.skipif(YOSYS is None, reason="yosys not installed")


def _synth(tmp: Path, top: str, params: dict[str, int], files: dict[str, str] | None = None) -> dict[str, float]:
    """Synthesize one library module standalone with fpga-flow synth's script; count_cells' counts."""
    from fpga_flow.backends.rtl import library_dir
    from fpga_flow.sim.synth import count_cells, parse_stat_json

    for name, text in (files or {}).items():
        (tmp / name).write_text(text)
    lib = " ".join(str(p) for p in sorted(library_dir().glob("*.v")))
    ch = " ".join(f"-chparam {k} {v}" for k, v in params.items())
    (tmp / "s.ys").write_text(
        f"read_verilog -defer {lib}\nhierarchy -top {top} {ch}\n"
        f"synth_xilinx -family xc7 -top {top} -flatten -noiopad -noclkbuf\ntee -q -o stat.json stat -json\n"
    )
    r = subprocess.run([str(YOSYS), "-q", "-s", "s.ys"], cwd=tmp, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    return count_cells(parse_stat_json((tmp / "stat.json").read_text()))


@needs_yosys
@pytest.mark.parametrize(("width", "banks", "addr_bits", "ports"), [(16, 2, 8, 2), (16, 4, 5, 2)])
def test_buffer_memory_mapping_matches_yosys(tmp_path: Path, width: int, banks: int, addr_bits: int,
                                             ports: int) -> None:
    got = _synth(tmp_path, "ff_act_mem", {"W": width, "BANKS": banks, "RD_PORTS": ports, "AW": addr_bits,
                                          "BW": max(1, (banks - 1).bit_length())})
    est = act_buffer_cost(width=width, banks=banks, addr_bits=addr_bits, read_ports=ports, family="xc7")
    assert est.bram36 == got["bram36"]
    assert est.lutram == got["lutram"]
    assert est.dsp == got["dsp"] == 0
    # standalone, a one-bank buffer keeps its bank select (constant in a design): width LUTs, 1 FF per port
    lut, ff = est.lut + (width * ports if banks == 1 else 0), est.ff + (ports if banks == 1 else 0)
    assert abs(lut / got["lut"] - 1) <= 0.1 and abs(ff / got["ff"] - 1) <= 0.1


@needs_yosys
@pytest.mark.parametrize(("width", "banks", "addr_bits", "groups", "ports"), [(8, 16, 3, 1, 16), (8, 8, 4, 2, 12)])
def test_shared_buffer_matches_yosys(tmp_path: Path, width: int, banks: int, addr_bits: int, groups: int,
                                     ports: int) -> None:
    """A shared ``ff_act_mem`` (one copy per group, a bank select per read port) as the cost model counts it."""
    got = _synth(tmp_path, "ff_act_mem", {"W": width, "BANKS": banks, "RD_PORTS": ports, "AW": addr_bits,
                                          "BW": max(1, (banks - 1).bit_length()), "SHARED": 1, "GROUPS": groups})
    est = shared_buffer_cost(width=width, banks=banks, addr_bits=addr_bits, groups=groups, read_ports=ports,
                             family="xc7")
    assert est.bram36 == got["bram36"] == 0
    assert est.lutram == got["lutram"]
    assert abs(est.lut / got["lut"] - 1) <= 0.15 and abs(est.ff / got["ff"] - 1) <= 0.15


@needs_yosys
def test_engine_rom_and_dsp_match_yosys(tmp_path: Path) -> None:
    """A 2-lane CSR engine with a 600-word ROM of random entries: block RAM and DSP counts exact."""
    rng = np.random.default_rng(0)
    lanes, entries, entry_w = 2, 600, 8 + 6 + 1 + 12 + 3
    words = [int(rng.integers(0, 1 << 62)) & ((1 << (lanes * entry_w)) - 1) for _ in range(entries)]
    words = [w | (1 << (entry_w - 1)) | (1 << (2 * entry_w - 1)) for w in words]  # valid bits set
    digits = (lanes * entry_w + 3) // 4
    params = {"P": lanes, "ENTRIES": entries, "EAW": 10, "W_X": 8, "X_SIGNED": 1, "WF": 8, "W_W": 8, "W_SIGNED": 1,
              "CB": 0, "CB_BITS": 1, "BIAS_W": 12, "B_SIGNED": 1, "W_ACC": 24, "SHIFT_P": 0, "SHIFT_B": 4,
              "AW_IN": 6, "BW_IN": 1, "W_OUT": 8, "OUT_SIGNED": 0, "RQ_SHIFT": 8, "RND": 6, "OVF": 1, "RELU": 1,
              "AW_OUT": 5}
    got = _synth(tmp_path, "ff_sparse_mac", params, {"rom.mem": "".join(f"{w:0{digits}x}\n" for w in words)})
    est = mac_engine_cost(lanes=lanes, entries=entries, entry_bits=entry_w, x_bits=8, x_signed=True, w_bits=8,
                          w_signed=True, weight_field_bits=8, codebook=False, codebook_bits=1, bias_bits=12,
                          acc_bits=24, out_bits=8, in_addr_bits=6, in_bank_bits=1, out_addr_bits=5, relu=True,
                          family="xc7", rq_shift=8, rounds=True, saturates=True, shift_b=4, full_lanes=lanes)
    assert est.bram36 == got["bram36"]
    assert est.dsp == got["dsp"] == lanes
    assert abs(est.lut / got["lut"] - 1) <= 0.25 and abs(est.ff / got["ff"] - 1) <= 0.25


@needs_yosys
def test_skipping_engine_matches_yosys(tmp_path: Path) -> None:
    """``ff_skip_mac`` (4 lanes, 2 broadcasts, codebook weights) with its planned ROMs: DSP and block RAM
    exact, LUT/FF within the tolerance of a small engine (measured, estimate / yosys: LUT 0.74, FF 0.79
    here; the whole demo design at 16 lanes, buffers and streams included, 1.02 / 1.25)."""
    import sys

    from fpga_flow.backends.rtl.emit import write_mem
    from fpga_flow.backends.rtl.engines import spell_skip
    from fpga_flow.hw import plan_design
    from fpga_flow.hw.engines import ENGINE_MODELS

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hw_tests"))
    from rtl_models import make_graph

    g = make_graph("mlp3")
    plan = plan_design(g, 4, skip=frozenset({"fc2"}), skip_bcast=2)
    p = plan.layer("fc2")
    e = spell_skip(p, "skip")  # the module's default ROM_PREFIX
    write_mem(tmp_path / e.rom_file, e.rom_words, e.rom_width)
    for name, words, width in e.extra_roms:
        write_mem(tmp_path / name, words, width)
    params: dict = dict(e.params)
    assert e.codebook_literal is not None
    params["CODEBOOK"] = e.codebook_literal
    got = _synth(tmp_path, "ff_skip_mac", params)
    est = ENGINE_MODELS[p.engine].cost(p, "xc7")
    assert est.dsp == got["dsp"] == 4 and est.bram36 == got["bram36"] == 0
    assert abs(est.lut / got["lut"] - 1) <= 0.35 and abs(est.ff / got["ff"] - 1) <= 0.3, (est, got)
