"""Does the design fit the board? Resources against capacity, and what to blame when it does not.

Input (:func:`fit_report`):

* ``estimate``: ``{"totals": {"lut", "ff", "dsp", "bram36", "uram"}, "layers": [{"name", "lut",
  "ff", "dsp", "bram36", "uram", ...}]}`` -- the hardware plan's figures,
  :func:`fpga_flow.hw.plan_figures` of :func:`fpga_flow.hw.plan_design` (rows per stage: the
  stream ends and every layer). Any key may be missing: a resource without a figure is reported as
  not estimated, never as 0; rows may carry ``origin`` (the model's node name) and ``op``.
* ``synth`` (optional): measured kernel totals, e.g. from yosys on ``OUT/rtl``: ``{"lut", "ff",
  "dsp", "bram36" (or "bram18"), "uram"}``, flat or under ``"totals"``/``"resources"``. When a
  figure is present it replaces the plan's total for that resource; per-layer blame still
  comes from the plan's figures (synthesis reports are flat).

On boards with a processing system the block design adds :data:`PLATFORM_COST` (AXI DMA,
interconnects, reset) to the kernel. A resource fits when ``used <= available``; above
:data:`TIGHT_PERCENT` % it is flagged ``tight`` (placement and timing get hard).
"""

from __future__ import annotations

from typing import Any

from fpga_flow.boards import Board

__all__ = ["LABELS", "PLATFORM_COST", "RESOURCES", "TIGHT_PERCENT", "fit_error_message", "fit_report"]

#: Resources compared, in report order.
RESOURCES = ("lut", "ff", "dsp", "bram36", "uram")
#: How people spell them.
LABELS = {"lut": "LUT", "ff": "FF", "dsp": "DSP", "bram36": "BRAM36", "uram": "URAM"}
#: The block design around the kernel on a Zynq board: AXI DMA (simple mode, 2 channels),
#: AXI interconnect to its registers, SmartConnect to the HP port, processor reset.
PLATFORM_COST: dict[str, float] = {"lut": 3500, "ff": 5000, "dsp": 0, "bram36": 2.0, "uram": 0}
#: Utilization (percent) above which a resource that fits is flagged as tight.
TIGHT_PERCENT = 85.0

_HINTS = {
    "dsp": "lower --parallelism (one multiplier per MAC lane) or narrow weights/activations to at most 4 bits "
           "(LUT multipliers)",
    "bram36": "prune more, share weights (--storage codebook_csr) or choose a board with more block RAM",
    "uram": "choose a board with URAM or lower the storage",
    "lut": "lower --parallelism or prune more",
    "ff": "lower --parallelism or prune more",
}


def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    return None


def _synth_totals(synth: dict | None) -> dict[str, float]:
    """Resource figures of a synthesis result (flat, or under "totals"/"resources")."""
    if not synth:
        return {}
    src = synth
    for key in ("totals", "resources"):
        if isinstance(synth.get(key), dict):
            src = synth[key]
            break
    flat = {str(k).lower(): v for k, v in src.items()}
    out: dict[str, float] = {}
    for r in RESOURCES:
        v = _num(flat.get(r))
        if v is not None:
            out[r] = v
    if "bram36" not in out and _num(flat.get("bram18")) is not None:
        out["bram36"] = 0.5 * float(flat["bram18"])
    return out


def _capacity(board: Board) -> dict[str, int]:
    return {"lut": board.lut, "ff": board.ff, "dsp": board.dsp, "bram36": board.bram36, "uram": board.uram}


def _clean(v: float | None) -> float | int | None:
    """Integers stay integers in the JSON (0.5 BRAMs stay floats)."""
    if v is None:
        return None
    return int(v) if float(v).is_integer() else round(float(v), 3)


def _costliest(layers: list[dict], resource: str) -> dict | None:
    best = None
    for row in layers:
        v = _num(row.get(resource))
        if v is not None and v > 0 and (best is None or v > best[1]):
            best = (row, v)
    if best is None:
        return None
    row, v = best
    return {"name": str(row.get("name", "?")), "origin": str(row.get("origin", "") or ""),
            "op": str(row.get("op", "") or ""), "amount": _clean(v)}


def fit_report(estimate: dict, board: Board, synth: dict | None = None) -> dict:
    """Resources of the design against ``board``: utilization, ``fits`` and, when it does not fit,
    the resource that overflows most and the layer that costs the most of it.

    ``estimate`` is the plan's figures (:func:`fpga_flow.hw.plan_figures`), ``synth`` optional
    measured totals (see the module docstring).

    Returns (JSON-serializable, deterministic)::

        {"board", "part", "basis": "estimate" | "synth", "platform": {...} | None,
         "resources": [{"resource", "available", "estimate", "synth", "platform", "used",
                        "utilization_percent", "fits", "tight"}, ...],
         "fits": bool, "overflow": None | {...}, "overflows": [{...}, ...], "warnings": [str, ...],
         "message": fit_error_message(...) ("" when it fits)}

    ``overflow`` is the worst of ``overflows``: ``{"resource", "label", "used", "available",
    "utilization_percent", "layer": {"name", "origin", "op", "amount"} | None, "layer_share_percent"}``.
    """
    totals = estimate.get("totals", {}) if isinstance(estimate, dict) else {}
    layers = [r for r in estimate.get("layers", []) if isinstance(r, dict)] if isinstance(estimate, dict) else []
    measured = _synth_totals(synth)
    platform = dict(PLATFORM_COST) if board.has_ps else None
    cap = _capacity(board)
    rows: list[dict] = []
    overflows: list[dict] = []
    warnings: list[str] = []
    for r in RESOURCES:
        est = _num(totals.get(r))
        syn = measured.get(r)
        kernel = syn if syn is not None else est
        plat = platform[r] if platform else 0.0
        used = None if kernel is None else kernel + plat
        avail = cap[r]
        if used is None:
            util, fits = None, True
        elif avail > 0:
            util, fits = round(100.0 * used / avail, 1), used <= avail
        else:
            util, fits = (0.0, True) if used == 0 else (None, False)
        tight = bool(fits and util is not None and util > TIGHT_PERCENT)
        rows.append({"resource": LABELS[r], "available": avail, "estimate": _clean(est), "synth": _clean(syn),
                     "platform": _clean(plat), "used": _clean(used), "utilization_percent": util, "fits": fits,
                     "tight": tight})
        if used is None:
            warnings.append(f"{LABELS[r]}: no estimate")
        elif tight:
            warnings.append(f"{LABELS[r]} at {util:.1f} % of {board.name}: placement and timing may fail")
        if not fits:
            layer = _costliest(layers, r)
            share = None
            if layer is not None and kernel:
                share = round(100.0 * float(layer["amount"]) / float(kernel), 1)
            overflows.append({"resource": r, "label": LABELS[r], "used": _clean(used), "available": avail,
                              "utilization_percent": util, "layer": layer, "layer_share_percent": share})
    overflows.sort(key=lambda o: -(o["utilization_percent"] if o["utilization_percent"] is not None else 1e300))
    if overflows and overflows[0]["resource"] == "bram36" and board.uram > 0:
        warnings.append(f"{board.name} also has {board.uram} URAM blocks; the plan places no ROM in URAM")
    fit = {
        "board": board.name,
        "part": board.part,
        "basis": "synth" if measured else "estimate",
        "platform": {k: _clean(v) for k, v in platform.items()} if platform else None,
        "resources": rows,
        "fits": not overflows,
        "overflow": overflows[0] if overflows else None,
        "overflows": overflows,
        "warnings": warnings,
    }
    fit["message"] = fit_error_message(fit)
    return fit


def fit_error_message(fit: dict) -> str:
    """One line naming the overflowing resource and the costliest layer ("" when the design fits).

    ``fpga-flow build --strict`` prints it and exits non-zero.
    """
    o = fit.get("overflow")
    if fit.get("fits", True) or not o:
        return ""
    util = o["utilization_percent"]
    pct = f"{util:.0f} %" if util is not None else "the board has none"
    msg = f"design does not fit {fit['board']} ({fit['part']}): {o['label']} {o['used']} of {o['available']} ({pct})"
    layer = o.get("layer")
    if layer:
        where = f"layer {layer['name']}"
        if layer.get("origin") and layer["origin"] != layer["name"]:
            where += f" (ONNX node '{layer['origin']}')"
        share = o.get("layer_share_percent")
        msg += f"; the most {o['label']} goes to {where}: {layer['amount']}" + (f" ({share:.0f} %)" if share else "")
    else:
        msg += "; the platform (DMA, interconnect) alone exceeds it"
    others = [f"{x['label']} {x['used']} of {x['available']}" for x in fit.get("overflows", [])[1:]]
    if others:
        msg += "; also over: " + ", ".join(others)
    basis = "synthesis" if fit.get("basis") == "synth" else "plan estimate"
    return f"{msg} ({basis}); {_HINTS.get(o['resource'], 'lower --parallelism')}"
