"""PNG plots of a sweep (matplotlib, Agg backend): time against a resource per board, fronts highlighted,
the board's capacity drawn as a vertical line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fpga_flow.errors import FlowError

__all__ = ["PLOTTED", "plot_board"]

#: Resources plotted against the objective, one PNG each per board.
PLOTTED = ("lut", "bram36")
_LABEL = {"lut": "LUT", "bram36": "BRAM36", "ff": "FF", "dsp": "DSP", "latency": "latency (cycles)",
          "ii": "initiation interval (cycles)"}


def plot_board(rows: Sequence[dict[str, Any]], board: str, resource: str, objective: str, path: Path,
               capacity: float | None = None, platform: float | None = None) -> Path:
    """``objective`` against ``resource`` for the successful points of ``board``: one colour per model, its front
    as a step line with larger markers, the board's capacity (and, with a processing system, the capacity left
    after the platform) as vertical lines."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise FlowError("the sweep plots need matplotlib: pip install 'fpga-flow[sweep]'") from None
    ok = [r for r in rows if r["board"] == board and not r["error"] and r.get(resource) is not None]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    try:
        models = sorted({r["model"] for r in ok})
        for k, model in enumerate(models):
            mine = [r for r in ok if r["model"] == model]
            colour = f"C{k % 10}"
            name = Path(model).stem
            ax.scatter([r[resource] for r in mine], [r[objective] for r in mine], s=18, color=colour, alpha=0.45,
                       label=f"{name}")
            front = sorted((r[resource], r[objective]) for r in mine if r.get(f"front_{resource}"))
            if front:
                xs, ys = zip(*front, strict=True)
                ax.step(xs, ys, where="post", color=colour, linewidth=1.2)
                ax.scatter(xs, ys, s=60, color=colour, edgecolors="black", linewidths=0.8, zorder=3,
                           label=f"{name}: Pareto front")
            for r in mine:
                if r.get(f"front_{resource}"):
                    ax.annotate(f"P{r['parallelism']} {r['storage']}", (r[resource], r[objective]), fontsize=7,
                                xytext=(4, 4), textcoords="offset points")
        cap = capacity
        if cap:
            ax.axvline(cap, color="red", linestyle="--", linewidth=1.2, label=f"{board} capacity ({cap:g})")
            if platform:
                left = cap - platform
                ax.axvline(left, color="red", linestyle=":", linewidth=1.0,
                           label=f"capacity less DMA/interconnect ({left:g})")
        xs_all = [float(r[resource]) for r in ok] + ([float(cap)] if cap else [])
        if xs_all and min(xs_all) > 0:
            ax.set_xscale("log")
        ys_all = [float(r[objective]) for r in ok]
        if ys_all and min(ys_all) > 0 and max(ys_all) / min(ys_all) > 20:
            ax.set_yscale("log")
        ax.set_xlabel(f"{_LABEL.get(resource, resource)} (estimate)")
        ax.set_ylabel(_LABEL.get(objective, objective))
        ax.set_title(f"{board}: {objective} vs {_LABEL.get(resource, resource)}")
        ax.grid(True, alpha=0.3)
        if ok:
            ax.legend(fontsize=7, loc="best")
        else:
            ax.text(0.5, 0.5, "no successful point", ha="center", va="center", transform=ax.transAxes)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
