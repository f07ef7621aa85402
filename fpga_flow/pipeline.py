"""The one explicit pipeline: read ONNX -> passes -> (backends). Every CLI command goes through here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fpga_flow.fixed import FixedType
from fpga_flow.ir import Graph
from fpga_flow.onnx_io import read_onnx
from fpga_flow.passes import choose_storage, fuse_activations, infer_accumulators

__all__ = ["LowerOptions", "load_and_lower", "lower"]


@dataclass(frozen=True)
class LowerOptions:
    """Options of the lowering passes."""

    storage: str = "auto"  # auto | dense | csr | codebook_csr


def lower(graph: Graph, options: LowerOptions = LowerOptions()) -> Graph:
    """Run the passes in order: fuse activations, tighten accumulators, choose storage."""
    graph = fuse_activations(graph)
    graph = infer_accumulators(graph)
    graph = choose_storage(graph, options.storage)
    return graph


def load_and_lower(
    model: str | Path, precision: FixedType | str | None = None, options: LowerOptions = LowerOptions()
) -> Graph:
    """Read an ONNX file and lower it (what ``inspect``, ``run`` and ``build`` start from)."""
    return lower(read_onnx(model, precision), options)
