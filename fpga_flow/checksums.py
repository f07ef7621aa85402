"""A built tree verifies itself: the checksums of ``tb_data/`` and of the ROM files of ``rtl/``.

``fpga-flow build`` records, in ``report.json``, section ``"checksums"``::

    {"algorithm": "sha256",
     "files": {"rtl/l1_fc0_matmul.mem": "<hex>", ..., "tb_data/expected_mantissas.txt": "<hex>",
               "tb_data/input_mantissas.txt": "<hex>", "tb_data/meta.json": "<hex>"}}

(paths relative to the project, ``/``-separated). ``fpga-flow csim`` and ``cosim`` call
:func:`verify_project` before they simulate: every recorded file must exist with its checksum, and
``tb_data/meta.json`` must agree with the report's input and output types and input size. A tree
that does not match is refused with a :class:`~fpga_flow.errors.FlowError` naming the file; the
fix is a new ``fpga-flow build``. The HLS C++ and the Verilog sources are not recorded: a user
may edit them on purpose (the simulators always rebuild from what is there); the stimulus, the
expected outputs, their metadata and the ROM files are data the build derived from the model.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from fpga_flow.errors import FlowError
from fpga_flow.fixed import FixedType
from fpga_flow.tbdata import EXPECTED_FILE, INPUT_FILE, META_FILE, TbData, read_tb_data

__all__ = [
    "ALGORITHM", "DATA_SUFFIXES", "SECTION", "TB_FILES", "file_digest", "tree_checksums", "verify_checksums",
    "verify_project",
]

#: The report section holding the checksums.
SECTION = "checksums"
ALGORITHM = "sha256"
#: Files a design loads at simulation time ($readmemh/$readmemb): the ROM files of ``rtl/``.
DATA_SUFFIXES = (".mem", ".dat", ".hex", ".txt")
#: The ``tb_data/`` files, relative to the project.
TB_FILES = tuple(f"tb_data/{name}" for name in (EXPECTED_FILE, INPUT_FILE, META_FILE))
_REBUILD = "rebuild the project with 'fpga-flow build'"
_REPORT = "report.json"


def file_digest(path: Path) -> str:
    """The hex sha256 of the file ``path``."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _recorded_files(out_dir: Path) -> list[str]:
    rtl = out_dir / "rtl"
    roms = sorted(f"rtl/{p.name}" for p in rtl.iterdir() if p.is_file() and p.suffix in DATA_SUFFIXES) \
        if rtl.is_dir() else []
    return sorted([*roms, *(f for f in TB_FILES if (out_dir / f).is_file())])


def tree_checksums(out_dir: Path) -> dict[str, Any]:
    """The ``"checksums"`` report section of the tree ``out_dir``: ``tb_data/`` and the ROM files of ``rtl/``."""
    out_dir = Path(out_dir)
    return {"algorithm": ALGORITHM, "files": {rel: file_digest(out_dir / rel) for rel in _recorded_files(out_dir)}}


def _recorded(out_dir: Path, report: Mapping[str, Any]) -> dict[str, str]:
    src = out_dir / _REPORT
    section = report.get(SECTION)
    if section is None:
        raise FlowError(f"{src} records no checksums of tb_data/ and the ROM files (the project was built by an "
                        f"older fpga-flow); {_REBUILD}")
    files = section.get("files") if isinstance(section, Mapping) else None
    if not isinstance(section, Mapping) or section.get("algorithm") != ALGORITHM or not isinstance(files, Mapping):
        raise FlowError(f"{src}: the {SECTION!r} section is malformed; {_REBUILD}")
    for rel, digest in files.items():
        p = PurePosixPath(str(rel))
        if (p.is_absolute() or ".." in p.parts or len(p.parts) != 2 or p.parts[0] not in ("rtl", "tb_data")
                or not isinstance(digest, str) or len(digest) != 64):
            raise FlowError(f"{src}: the {SECTION!r} section is malformed (entry {rel!r}); {_REBUILD}")
    missing = [f for f in TB_FILES if f not in files]
    if missing:
        raise FlowError(f"{src}: the {SECTION!r} section does not cover {', '.join(missing)}; {_REBUILD}")
    return {str(k): str(v) for k, v in files.items()}


def verify_checksums(out_dir: Path, report: Mapping[str, Any]) -> None:
    """Every file ``report["checksums"]`` records exists in ``out_dir`` with its checksum, else a FlowError
    naming the first file that is missing or changed (and the fix: a new build)."""
    out_dir = Path(out_dir)
    for rel, digest in sorted(_recorded(out_dir, report).items()):
        path = out_dir / rel
        if not path.is_file():
            raise FlowError(f"{path} is missing (report.json records it); {_REBUILD}")
        try:
            actual = file_digest(path)
        except OSError as e:
            raise FlowError(f"{path} cannot be read ({e.strerror or e}); {_REBUILD}") from None
        if actual != digest:
            raise FlowError(f"{path} was changed after the build (its {ALGORITHM} differs from the one report.json "
                            f"records); {_REBUILD}")


def _report_type(report: Mapping[str, Any], key: str, src: Path) -> FixedType | None:
    if key not in report:
        return None
    try:
        return FixedType.from_json(report[key])
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise FlowError(f"{src}: {key} is not a fixed-point type ({e}); {_REBUILD}") from None


def _check_meta(out_dir: Path, tb: TbData, report: Mapping[str, Any]) -> None:
    src, meta = out_dir / _REPORT, out_dir / "tb_data" / META_FILE
    for key, have in (("input_type", tb.in_type), ("output_type", tb.out_type)):
        want = _report_type(report, key, src)
        if want is not None and want != have:
            raise FlowError(f"{meta}: {key} {have} does not match the project's {want} (report.json); {_REBUILD}")
    shape = report.get("input_shape")
    if shape is not None:
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
            raise FlowError(f"{src}: input_shape must be a list of integers, got {shape!r}; {_REBUILD}")
        if math.prod(shape) != tb.inputs.shape[1]:
            raise FlowError(f"{meta}: n_inputs {tb.inputs.shape[1]} does not match the project's input shape "
                            f"{tuple(shape)} (report.json); {_REBUILD}")


def verify_project(out_dir: Path, report: Mapping[str, Any]) -> TbData:
    """Check the tree ``out_dir`` against its ``report``: the checksums of ``tb_data/`` and the ROM files
    (:func:`verify_checksums`), then ``tb_data/`` itself (:func:`fpga_flow.tbdata.read_tb_data`) and its
    types and input size against the report. Returns the verified stimulus; a FlowError names the first
    file that does not match."""
    out_dir = Path(out_dir)
    verify_checksums(out_dir, report)
    tb = read_tb_data(out_dir / "tb_data")
    _check_meta(out_dir, tb, report)
    return tb
