"""Read-only estimates of an HLS plan: stored weight bits, cycles per sample, DSPs and BRAM36.

These are first-order figures computed from the arrays the backend actually writes, not from
synthesis; they let the report compare layers, kernels and parallelism against a board.

* weight bits: every constant array of the layer (values or codes, column indices, row-end
  bits, row-to-lane map, bias) plus the codebook; ``rom_bits`` splits them by array.
* cycles: each kernel is three pipelined loops (II=1) -- load ``n_in`` inputs, ``lane_len`` MAC
  steps, emit ``n_out`` outputs -- plus :data:`LOOP_DEPTH` cycles of pipeline fill per loop. The
  design is a DATAFLOW chain, so a new sample starts every ``interval_cycles`` (the slowest
  process); ``latency_cycles`` adds all processes up (an upper bound: neighbours overlap).
* DSP: one multiplier per lane (``ceil(a/25) * ceil(b/18)`` DSP48 slices for an ``a x b`` bit
  product, none when an operand has at most 4 bits); the factored codebook kernel multiplies by
  constants in LUTs and uses none.
* BRAM36: each memory (a ROM per lane, the input bank(s), the per-lane result slots) in its
  cheapest BRAM18/BRAM36 aspect ratio; memories under :data:`LUTRAM_MAX_BITS` bits are left to
  LUTs or registers, as HLS does.
"""

from __future__ import annotations

import math

from .plan import ElementwisePlan, GraphPlan, MacPlan

__all__ = ["LOOP_DEPTH", "LUTRAM_MAX_BITS", "ROM_NAMES", "bram36", "estimate_plan", "mult_dsp"]

#: Names of the constant arrays in ``rom_bits`` (plan role -> report key).
ROM_NAMES = {"w": "values", "code": "codes", "col": "col_idx", "last": "row_end", "lane": "row_lane",
             "slot": "row_slot", "b": "bias"}

#: Pipeline fill cycles counted per loop.
LOOP_DEPTH = 4

#: Memories of at most this many bits are assumed to be registers or LUTRAM.
LUTRAM_MAX_BITS = 1024

_BRAM36 = ((32768, 1), (16384, 2), (8192, 4), (4096, 9), (2048, 18), (1024, 36), (512, 72))
_BRAM18 = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


def bram36(depth: int, width: int) -> float:
    """BRAM36 blocks (0.5 per BRAM18) of one ``depth x width`` memory."""
    if depth * width <= LUTRAM_MAX_BITS:
        return 0.0
    full = min(math.ceil(depth / d) * math.ceil(width / w) for d, w in _BRAM36)
    half = min(math.ceil(depth / d) * math.ceil(width / w) for d, w in _BRAM18)
    return float(min(full, 0.5 * half))


def mult_dsp(a: int, b: int) -> int:
    """DSP48 slices of one ``a x b`` bit multiplier (0 when an operand has at most 4 bits)."""
    lo, hi = sorted((a, b))
    if lo <= 4:
        return 0
    return math.ceil(hi / 25) * math.ceil(lo / 18)


def _mac_estimate(p: MacPlan) -> dict:
    lay = p.layer
    rom_bits = {ROM_NAMES[r.role]: r.n_bits for r in p.roms}
    if p.codebook is not None:
        rom_bits["codebook"] = int(p.codebook.size) * lay.weight_type.width
    weight_bits = sum(rom_bits.values())
    cycles = lay.n_in + p.lane_len + lay.n_out + 3 * LOOP_DEPTH
    if p.kernel == "codebook_factored":
        dsp = 0
    else:
        dsp = p.lanes * mult_dsp(lay.weight_type.width, p.in_type.width)
    memories: list[tuple[int, int]] = []
    for r in p.roms:
        if r.values.ndim == 2:
            memories += [(r.shape[1], r.bits)] * r.shape[0]
        else:
            memories.append((r.shape[0], r.bits))
    banks = 1 if p.kernel == "dense" else p.lanes
    memories += [(lay.n_in, p.in_type.width)] * banks
    memories += [(p.slots, lay.acc_type.width)] * p.lanes
    est = {
        "name": lay.name,
        "op": lay.op,
        "kernel": p.kernel,
        "reason": p.choice.reason,
        "n_in": lay.n_in,
        "n_out": lay.n_out,
        "nnz": lay.nnz,
        "codebook_size": lay.codebook_size,
        "lanes": p.lanes,
        "lane_len": p.lane_len,
        "multiplies": p.choice.multiplies,
        "weight_bits": weight_bits,
        "rom_bits": rom_bits,
        "cycles": cycles,
        "dsp": dsp,
        "bram36": sum(bram36(d, w) for d, w in memories),
    }
    return est


def _elementwise_estimate(p: ElementwisePlan) -> dict:
    return {
        "name": p.layer.name,
        "op": p.layer.op,
        "kernel": p.kernel,
        "reason": "element-wise",
        "n_in": p.layer.size,
        "n_out": p.layer.size,
        "nnz": 0,
        "codebook_size": None,
        "lanes": 1,
        "lane_len": 0,
        "multiplies": 0,
        "weight_bits": 0,
        "rom_bits": {},
        "cycles": p.layer.size + LOOP_DEPTH,
        "dsp": 0,
        "bram36": 0.0,
    }


def estimate_plan(plan: GraphPlan) -> dict:
    """Per-layer and total estimates of ``plan`` (JSON-serializable, deterministic)."""
    layers = [_mac_estimate(p) if isinstance(p, MacPlan) else _elementwise_estimate(p) for p in plan.layers]
    stream_cycles = [plan.in_stream.n_elems + LOOP_DEPTH, plan.out_stream.n_elems + LOOP_DEPTH]
    all_cycles = [e["cycles"] for e in layers] + stream_cycles
    return {
        "parallelism": plan.parallelism,
        "layers": layers,
        "streams": {
            "input": {"n": plan.in_stream.n_elems, "width": plan.in_stream.width,
                      "per_beat": plan.in_stream.per_beat, "tdata_bits": plan.in_stream.tdata_bits,
                      "beats": plan.in_stream.beats},
            "output": {"n": plan.out_stream.n_elems, "width": plan.out_stream.width,
                       "per_beat": plan.out_stream.per_beat, "tdata_bits": plan.out_stream.tdata_bits,
                       "beats": plan.out_stream.beats},
        },
        "totals": {
            "weight_bits": sum(e["weight_bits"] for e in layers),
            "dsp": sum(e["dsp"] for e in layers),
            "bram36": sum(e["bram36"] for e in layers),
            "interval_cycles": max(all_cycles),
            "latency_cycles": sum(all_cycles),
        },
    }  # fmt: skip
