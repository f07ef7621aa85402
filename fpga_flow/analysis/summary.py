"""Per-layer summary rows (what ``fpga-flow inspect`` prints and the build report embeds)."""

from __future__ import annotations

from typing import Any

from fpga_flow.analysis.storage import storage_cost
from fpga_flow.ir import Conv2dLayer, Graph, MacLayer

__all__ = ["layer_rows", "totals"]


def layer_rows(graph: Graph) -> list[dict[str, Any]]:
    """One dict per layer: op, shape, types (neutral JSON form), sparsity, storage and its bit costs."""
    rows: list[dict[str, Any]] = []
    for lay in graph.layers:
        row: dict[str, Any] = {
            "name": lay.name,
            "origin": lay.origin,
            "op": lay.op,
            "inputs": list(lay.inputs),
            "shape": list(lay.shape),
            "output_type": lay.out_type.to_json(),
        }
        if isinstance(lay, Conv2dLayer):
            row.update(in_shape=list(lay.in_shape), kernel=list(lay.kernel), stride=list(lay.stride),
                       pads=list(lay.pads), groups=lay.groups)
        if isinstance(lay, MacLayer):
            cost = storage_cost(lay)
            total = lay.row_length * lay.rows
            row.update(
                n_in=lay.row_length,
                n_out=lay.rows,
                activation=lay.activation.value,
                weights=total,
                nonzeros=lay.nnz,
                density=round(lay.nnz / total, 6) if total else 0.0,
                weight_type=lay.weight_type.to_json(),
                bias_type=lay.bias_type.to_json(),
                accumulator_type=lay.acc_type.to_json(),
                codebook_size=lay.codebook_size if lay.codebook_size is not None else cost.codebook_entries,
                storage=lay.storage,
                bits_dense=cost.dense,
                bits_csr=cost.csr,
                bits_codebook=cost.codebook,
                bits_stored=cost.bits(lay.storage),
            )
        rows.append(row)
    return rows


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums over the layers with weights (dense and convolution)."""
    dense = [r for r in rows if "weights" in r]
    t = {
        "weights": sum(r["weights"] for r in dense),
        "nonzeros": sum(r["nonzeros"] for r in dense),
        "bits_dense": sum(r["bits_dense"] for r in dense),
        "bits_stored": sum(r["bits_stored"] for r in dense),
    }
    t["density"] = round(t["nonzeros"] / t["weights"], 6) if t["weights"] else 0.0
    t["compression_vs_dense"] = round(t["bits_dense"] / t["bits_stored"], 3) if t["bits_stored"] else None
    return t
