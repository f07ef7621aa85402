"""The plan's figures as plain data: what the report, ``inspect --json``, fit and the sweep read.

:func:`plan_figures` gives, per stage (``axis_in``, every layer, ``axis_out``), the engine, lanes,
entries, cycles and LUT/FF/DSP/BRAM36/URAM, and their totals -- the format
:func:`fpga_flow.analysis.fit.fit_report` takes as its estimate. JSON-serializable, deterministic.
"""

from __future__ import annotations

from typing import Any

from fpga_flow.hw.cost import Cost
from fpga_flow.hw.plan import DesignPlan, LayerPlan, StreamPlan

__all__ = ["RESOURCES", "ROM_NAMES", "plan_figures"]

#: Resource keys of every row and of the totals.
RESOURCES = ("lut", "ff", "dsp", "bram36", "uram")

#: Names of the constant arrays in ``rom_bits`` (plan role -> report key).
ROM_NAMES = {"w": "values", "code": "codes", "col": "col_idx", "last": "row_end", "lane": "row_lane",
             "slot": "row_slot", "b": "bias"}


def _res(c: Cost) -> dict[str, Any]:
    return {"lut": int(c.lut), "ff": int(c.ff), "dsp": int(c.dsp), "bram36": float(c.bram36), "uram": int(c.uram),
            "lutram": int(c.lutram)}


def _layer_row(p: LayerPlan) -> dict[str, Any]:
    lay = p.layer
    rom_bits = {ROM_NAMES.get(r.role, r.role): r.n_bits for r in p.roms}
    if p.codebook is not None and p.fields is not None:
        rom_bits["codebook"] = int(p.codebook.size) * p.fields.w_bits
    row: dict[str, Any] = {
        "name": lay.name,
        "origin": lay.label,
        "op": lay.op,
        "engine": p.engine if p.skip is None else f"{p.engine}+skip",
        "reason": p.reason if p.skip is None else (
            f"{p.reason}; skips zero activations: {p.skip.banks} inputs scanned per cycle, one nonzero broadcast "
            f"per cycle, FIFOs of {p.skip.depth} columns per lane (cycles: every input nonzero)"),
        "lanes": p.lanes if not p.is_alias else 0,
        "entries": p.entries if not p.is_alias else 0,
        "entries_lower_bound": p.schedule.entries_lower_bound if not p.is_alias else 0,
        "rom_words": p.rtl_entries if not p.is_alias else 0,
        "bubbles": int(p.banking.bubbles) if p.banking is not None else 0,
        "input_copies": (p.in_buffer.groups if p.in_buffer.shared else p.lanes) if p.in_buffer is not None else 0,
        "slots": p.slots if not p.is_alias else 0,
        "multiplies": int(p.multiplies),
        "codebook_entries": int(p.codebook.size) if p.codebook is not None else None,
        "weight_bits": int(p.weight_bits),
        "rom_bits": rom_bits,
        "ii": int(p.cycles.ii),
        "latency": int(p.cycles.latency),
        "hls_cycles": int(p.hls_cycles),
        **_res(p.cost),
    }
    if p.window is not None:  # a feature-map stage: its geometry and walk per output pixel
        w = p.window
        row["window"] = {"op": w.op, "in_shape": list(w.in_shape), "out_shape": list(w.out_shape),
                         "kernel": list(w.kernel), "stride": list(w.stride), "pads": list(w.pads),
                         "out_pixels": w.out_pixels, "entries_per_pixel": w.entries}
    return row


def _stream_row(s: StreamPlan) -> dict[str, Any]:
    return {
        "name": s.name, "origin": s.name, "op": "stream", "engine": "unpack" if s.name == "axis_in" else "pack",
        "reason": f"{s.fmt.n_elems} x {s.fmt.width} bits, {s.fmt.per_beat} per {s.fmt.tdata_bits}-bit beat",
        "lanes": 0, "entries": 0, "entries_lower_bound": 0, "rom_words": 0, "bubbles": 0, "input_copies": 0, "slots": 0,
        "multiplies": 0, "codebook_entries": None,
        "weight_bits": 0, "rom_bits": {}, "ii": int(s.cycles.ii), "latency": int(s.cycles.latency),
        "hls_cycles": int(s.hls_cycles), "beats": int(s.fmt.beats), "tdata_bits": int(s.fmt.tdata_bits),
        **_res(s.cost),
    }  # fmt: skip


def plan_figures(plan: DesignPlan) -> dict[str, Any]:
    """Per-stage and total figures of ``plan`` (the format of the report's ``"plan"`` section)::

        {"model": "fpga-flow plan", "parallelism", "family", "dsp_slice",
         "layers": [{"name", "origin", "op", "engine", "lanes", "entries", "ii", "latency",
                     "hls_cycles", "weight_bits", "lut", "ff", "dsp", "bram36", "uram", ...}, ...],
         "totals": {"lut", "ff", "dsp", "bram36", "uram", "lutram", "weight_bits", "ii", "latency",
                    "hls_ii", "hls_latency"}}

    With lanes per layer also ``"lanes_requested"`` (layer -> lanes asked for) and
    ``"parallelism_text"``; after an automatic folding ``"folding"``
    (:meth:`fpga_flow.hw.plan.Folding.to_json`: mode, target, lanes, what bounds the design).
    ``"parallelism"`` is then the most lanes any layer asked for.
    """
    rows = [_stream_row(plan.in_stream), *(_layer_row(p) for p in plan.layers), _stream_row(plan.out_stream)]
    totals: dict[str, Any] = _res(plan.cost)
    totals.update(weight_bits=int(plan.weight_bits), ii=int(plan.ii), latency=int(plan.latency),
                  hls_ii=int(plan.hls_ii), hls_latency=int(plan.hls_latency))
    out: dict[str, Any] = {"model": "fpga-flow plan", "parallelism": int(plan.parallelism), "family": plan.family,
                           "dsp_slice": plan.dsp_slice, "layers": rows, "totals": totals}
    if plan.per_layer:  # lanes given per layer (one P for all: the keys above only)
        out["lanes_requested"] = dict(plan.lanes_requested)
        out["parallelism_text"] = plan.parallelism_text
    if plan.folding is not None:
        out["folding"] = plan.folding.to_json()
    return out
