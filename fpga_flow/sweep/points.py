"""Design points of a sweep: the cross product of the options, and the key that caches each one.

A point is one ordinary build's options (model, board, parallelism, storage, precision). Its
cache key is the sha256 of the model file's bytes, the options and the fpga-flow version, so a
point computed once is never computed again while none of them changes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from fpga_flow.errors import FlowError

__all__ = ["STAGES", "DesignPoint", "expand_points", "fpga_flow_version", "model_digest", "point_key"]

#: Stages a point can run, in order: the plan's figures, C simulation, RTL simulation, yosys synthesis.
STAGES = ("estimate", "csim", "cosim", "synth")


@cache
def fpga_flow_version() -> str:
    """The installed fpga-flow version (package metadata), part of every cache key."""
    try:
        return metadata.version("fpga-flow")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def model_digest(path: Path) -> str:
    """sha256 of the model file's bytes (a FlowError when it cannot be read)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as e:
        raise FlowError(f"{path}: cannot read the model ({e.strerror or e})") from None


@dataclass(frozen=True)
class DesignPoint:
    """One build of a sweep: ``fpga-flow build MODEL --board B --parallelism P --storage S --precision T``.

    ``model_sha256`` pins the file's contents; ``samples`` is the stimulus size of the csim/cosim stages."""

    model: str
    model_sha256: str
    board: str
    parallelism: int
    storage: str = "auto"
    precision: str | None = None
    samples: int = 8

    @property
    def key(self) -> str:
        """The cache key: sha256 of the model's bytes, the options and the fpga-flow version."""
        return point_key(self)

    @property
    def point_id(self) -> str:
        """A readable, unique folder name: ``<model>_<board>_P<p>_<storage>[_<precision>]_<key[:10]>``."""
        parts = [Path(self.model).stem, self.board, f"P{self.parallelism}", self.storage]
        if self.precision:
            parts.append(self.precision)
        slug = "_".join(re.sub(r"[^A-Za-z0-9.+-]+", "-", part).strip("-") for part in parts)
        return f"{slug[:80]}_{self.key[:10]}"

    def options(self) -> dict[str, object]:
        """The options that define the point (everything but the model path)."""
        d = asdict(self)
        del d["model"], d["model_sha256"]
        return d


def point_key(point: DesignPoint) -> str:
    """sha256 over ``{"model_sha256", "options", "version"}`` as canonical JSON (the model path is not part of it:
    the same bytes under another name are the same point)."""
    blob = json.dumps({"model_sha256": point.model_sha256, "options": point.options(),
                       "version": fpga_flow_version()}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def expand_points(
    models: Sequence[Path | str], boards: Sequence[str], parallelisms: Sequence[int],
    storages: Sequence[str] = ("auto",), precisions: Sequence[str | None] = (None,), samples: int = 8,
) -> list[DesignPoint]:
    """The cross product models x boards x parallelisms x storages x precisions, in that order, without
    duplicates; model paths are made absolute. Values are not validated here: a bad board or parallelism is
    that point's error."""
    if not models or not boards or not parallelisms or not storages or not precisions:
        raise FlowError("a sweep needs at least one model, board, parallelism, storage and precision")
    paths = [str(Path(m).resolve()) for m in models]  # workers elsewhere (a shared file system) need absolute paths
    digests = {m: model_digest(Path(m)) for m in paths}
    seen: set[DesignPoint] = set()
    points: list[DesignPoint] = []
    for m, b, p, s, t in itertools.product(paths, boards, parallelisms, storages, precisions):
        pt = DesignPoint(m, digests[m], b, int(p), s, t or None, samples)
        if pt not in seen:
            seen.add(pt)
            points.append(pt)
    return points
