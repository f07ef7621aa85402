"""Cycle model of the generated Verilog (read-only estimate; it must match RTL simulation).

Stage times, with an ideal stream (TVALID always high, TREADY always high):

* ``ff_axis_unpack``: one beat per cycle; a sample is in the buffer ``beats_in`` cycles after its
  first beat.
* ``ff_sparse_mac``: 1 start cycle + ``entries`` ROM words (one per cycle, all lanes in lockstep)
  + ``ENGINE_DRAIN`` (5) pipeline cycles; the same for latency and initiation interval, since the
  engine finishes a sample before it starts the next.
* ``ff_axis_pack``: first beat 4 cycles after the buffer fills, then one beat per cycle
  (latency ``beats_out + 3`` to the last beat); occupancy ``beats_out + 2``.

Double buffering between stages lets every stage work on its own sample, so the initiation
interval is the slowest stage's and the latency (first input beat to last output beat) is the sum.
"""

from __future__ import annotations

from typing import Any

from fpga_flow.ir import Graph

from .plan import RtlPlan, plan_rtl

__all__ = ["estimate_cycles", "plan_cycles"]

#: Cycles from the buffer filling to the packer's first output beat, minus one.
PACK_LATENCY_EXTRA = 3
#: Packer cycles per sample beyond one per beat (start and release).
PACK_II_EXTRA = 2


def plan_cycles(plan: RtlPlan) -> dict[str, Any]:
    """Per-stage and total latency / initiation interval of a planned design."""
    stages: list[dict[str, Any]] = []
    b_in = plan.unpack.stream.beats
    stages.append({"name": "axis_in", "kind": "unpack", "latency": b_in, "ii": b_in, "beats": b_in})
    for eng in plan.engines:
        total = sum(eng.lane_entries)
        stages.append({
            "name": eng.layer,
            "kind": f"{eng.op}/{eng.storage}",
            "lanes": eng.lanes,
            "entries": eng.entries,
            "entries_lower_bound": -(-total // eng.lanes),
            "latency": eng.cycles,
            "ii": eng.cycles,
        })
    b_out = plan.pack.stream.beats
    stages.append({
        "name": "axis_out", "kind": "pack", "latency": b_out + PACK_LATENCY_EXTRA,
        "ii": b_out + PACK_II_EXTRA, "beats": b_out,
    })
    return {
        "parallelism": plan.parallelism,
        "layers": stages,
        "latency": sum(s["latency"] for s in stages),
        "ii": max(s["ii"] for s in stages),
    }


def estimate_cycles(graph: Graph, parallelism: int = 1) -> dict[str, Any]:
    """Cycles of the Verilog design for ``graph`` with ``parallelism`` lanes per layer.

    Returns ``{"parallelism", "layers": [per stage: name, kind, latency, ii, ...], "latency", "ii"}``:
    ``latency`` counts cycles from the first input beat's handshake to the last output beat's
    handshake of one sample; ``ii`` is the initiation interval (cycles between samples) when
    samples arrive back to back. Both assume no TVALID gaps and no TREADY backpressure.
    """
    return plan_cycles(plan_rtl(graph, parallelism))
