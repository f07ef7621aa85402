"""``SWEEP/cache/``: one JSON file per point key, so an interrupted sweep resumes where it stopped.

An entry holds the point, the fpga-flow version, every stage result computed so far and the
point's error (one line, with the stage that failed). Files are written atomically (a temporary
file renamed into place), so a sweep killed mid-write leaves either the old entry or the new one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fpga_flow.sweep.points import DesignPoint, fpga_flow_version

__all__ = ["PointCache"]


class PointCache:
    """The cache folder of a sweep (``SWEEP/cache/<key>.json``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, point: DesignPoint) -> Path:
        """The entry file of ``point``."""
        return self.folder / f"{point.key}.json"

    def get(self, point: DesignPoint) -> dict[str, Any] | None:
        """The entry of ``point``, or None (also for an unreadable or foreign file: it is recomputed)."""
        try:
            data = json.loads(self.path(point).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("key") != point.key or not isinstance(data.get("stages"), dict):
            return None
        return data

    def put(self, point: DesignPoint, stages: dict[str, Any], error: str | None, host: str | None) -> dict[str, Any]:
        """Write the entry of ``point`` (atomically) and return it."""
        entry = {"key": point.key, "version": fpga_flow_version(), "point": asdict(point), "stages": stages,
                 "error": error, "host": host}
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=self.folder)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(entry, f, indent=1, sort_keys=True)
            os.replace(tmp, self.path(point))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return entry
