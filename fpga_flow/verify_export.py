"""The export of ``fpga-flow compress``, proved: read back, run by the bit-exact reference, equal to torch.

:func:`fpga_flow.compress.compress` trains and exports; it knows neither the ONNX reader nor the
pipeline (the dependency direction of DESIGN.md: ``compress`` -> fixed-point types and the ONNX
writer). This module, beside the pipeline, closes the loop:

* :func:`verify_export` reads the exported file exactly as ``fpga-flow run`` does (read, lower,
  reference) and requires its outputs to equal the fake-quantized torch forward bit for bit
  (otherwise :class:`ExportMismatch`);
* :func:`verify_and_report` runs that check on the whole test set of a
  :class:`~fpga_flow.compress.CompressResult`, then builds the compression report from the model
  read back (:mod:`fpga_flow.compress.report`) and writes it, with the plots and the stimulus.

Importing this module does not import torch.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx

from fpga_flow.errors import FlowError
from fpga_flow.onnx_io import read_onnx
from fpga_flow.pipeline import load_and_lower

if TYPE_CHECKING:
    from fpga_flow.compress.flow import CompressResult

__all__ = ["ExportMismatch", "verify_and_report", "verify_export"]


class ExportMismatch(FlowError):
    """The exported model, read back and run by the reference, differs from the torch forward."""


def verify_export(model: str | Path, x: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Run the ONNX file ``model`` as ``fpga-flow run`` does (read, lower, reference) on ``x``.

    Returns the reference outputs (float64, each value exact); raises :class:`ExportMismatch`
    unless they equal ``expected`` (the torch forward on ``x``) bit for bit.
    """
    graph = load_and_lower(model)
    y_ref = graph.run_float(np.asarray(x, dtype=np.float64))
    if y_ref.shape != expected.shape or not np.array_equal(y_ref, expected):
        if y_ref.shape == expected.shape:
            what = f"{int(np.sum(y_ref != expected))} of {expected.size} outputs differ"
        else:
            what = f"outputs of shape {y_ref.shape}, expected {expected.shape}"
        raise ExportMismatch(
            f"{model}: the reference run of the exported model differs from the torch forward "
            f"({what}); this is a bug in fpga_flow.compress, please report it"
        )
    return y_ref


def verify_and_report(
    result: CompressResult, report_dir: str | Path | None = None, log: Callable[[str], None] | None = None
) -> CompressResult:
    """Check ``result``'s export on its whole test set, then build the compression report.

    Fills ``result.report`` (and ``result.accuracies["exported_reference"]``, the reference's
    accuracy on the test set); with ``report_dir`` also writes ``compression_report.json``/``.md``,
    the plots and the stimulus there and lists them in ``result.files``. Returns ``result``.
    Raises :class:`ExportMismatch` when the export is not bit-exact.
    """
    from fpga_flow.compress.report import build_report, write_report

    say = log or (lambda _m: None)
    t0 = time.perf_counter()
    data = result.data
    with _model_file(result) as path:
        y_ref = verify_export(path, data.x_test, result.y_test)
        graph = read_onnx(path)
    result.accuracies["exported_reference"] = float(np.mean(y_ref.argmax(axis=1) == data.y_test))
    dt = time.perf_counter() - t0
    result.timings["export"] = result.timings.get("export", 0.0) + dt
    result.timings["total"] = result.timings.get("total", 0.0) + dt
    where = result.onnx_path if result.onnx_path is not None else "(not written)"
    say(f"exported {where}: reference == torch bit for bit on {data.x_test.shape[0]} test samples")
    report = build_report(
        model=result.model,
        graph=graph,
        data=data,
        config=result.config,
        accuracies=result.accuracies,
        types=result.types,
        timings=result.timings,
        bit_exact_samples=int(data.x_test.shape[0]),
    )
    if result.onnx_path is not None:
        result.files["onnx"] = result.onnx_path
        report["onnx"] = str(result.onnx_path)
    result.report = report
    if report_dir is not None:
        result.files.update(
            write_report(report, Path(report_dir), snapshots=result.snapshots, codebooks=result.codebooks,
                         stimulus=result.stimulus())
        )
    return result


@contextmanager
def _model_file(result: CompressResult) -> Iterator[Path]:
    """The exported file (a temporary copy of ``result.proto`` when the flow wrote none)."""
    if result.onnx_path is not None:
        yield result.onnx_path
        return
    with tempfile.TemporaryDirectory(prefix="fpga_flow_export_") as tmp:
        path = Path(tmp) / "model.onnx"
        onnx.save(result.proto, str(path))
        yield path
