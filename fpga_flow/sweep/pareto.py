"""Pareto fronts of a sweep: time (latency or II) against one resource, per model and board.

A point is on the front when no other point of the same model and board is ``<=`` in both
figures and ``<`` in one. Failed points and points without both figures take no part.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

__all__ = ["GROUP", "dominates", "pareto_front"]

#: Fronts are computed within each (model, board).
GROUP = ("model", "board")


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def dominates(a: Mapping[str, Any], b: Mapping[str, Any], x: str, y: str) -> bool:
    """``a`` is ``<=`` ``b`` in ``x`` and ``y`` and ``<`` in one of them."""
    ax, ay, bx, by = _num(a.get(x)), _num(a.get(y)), _num(b.get(x)), _num(b.get(y))
    if None in (ax, ay, bx, by):
        return False
    assert ax is not None and ay is not None and bx is not None and by is not None
    return ax <= bx and ay <= by and (ax < bx or ay < by)


def pareto_front(rows: Sequence[Mapping[str, Any]], x: str, y: str = "latency",
                 group: Sequence[str] = GROUP) -> set[int]:
    """Indices of ``rows`` on the front of ``y`` against ``x`` within their ``group`` (O(n log n) per group).

    Rows with an ``error`` or without numeric ``x`` and ``y`` are never on it; equal points are all on it."""
    groups: dict[tuple[Hashable, ...], list[tuple[float, float, int]]] = defaultdict(list)
    for i, r in enumerate(rows):
        vx, vy = _num(r.get(x)), _num(r.get(y))
        if r.get("error") or vx is None or vy is None:
            continue
        groups[tuple(r.get(g) for g in group)].append((vx, vy, i))
    front: set[int] = set()
    for members in groups.values():
        members.sort()
        best = float("inf")  # the smallest y among points with a strictly smaller x
        k = 0
        while k < len(members):
            j = k
            while j < len(members) and members[j][0] == members[k][0]:
                j += 1
            low = members[k][1]  # sorted: the smallest y of this x
            if low < best:
                front.update(i for _, vy, i in members[k:j] if vy == low)
                best = low
            k = j
    return front
