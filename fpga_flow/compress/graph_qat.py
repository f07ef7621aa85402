"""Fixed-point types for a :class:`~fpga_flow.compress.graphnet.CompressibleGraph` (the graph form of
:func:`fpga_flow.compress.qat.quantize_model`, which calls it).

As for a sequential network: the input, each layer's weights, bias and (but the output layer's)
activation get a type of the policy's width from the observed ranges; so do the nodes that round:
an addition's and an average's result, and a standalone ReLU6's (keys ``"<node>.act"``). An
activation after a ReLU is unsigned; a layer's output feeding an addition unfused is signed; an
average is signed when its input is.
"""

from __future__ import annotations

import numpy as np
import torch

from fpga_flow.compress.graphnet import ActNode, AddNode, AvgNode, CompressibleGraph
from fpga_flow.compress.layers import CompressibleLayer
from fpga_flow.compress.quant import check_quant_type, choose_type
from fpga_flow.fixed import FixedType

__all__ = ["observe_graph_ranges", "quantize_graph", "type_keys"]


def _rounding_nodes(model: CompressibleGraph) -> list[str]:
    return [n.name for n in model.nodes
            if isinstance(m := model.ops[n.name], AddNode | AvgNode) or (isinstance(m, ActNode) and m.cap is not None)]


def type_keys(model: CompressibleGraph) -> set[str]:
    """Every key a type override may name."""
    keys = {"input"} | {f"{lay.name}.{k}" for lay in model.layers for k in ("weight", "bias", "act")}
    return keys | {f"{name}.act" for name in _rounding_nodes(model)}


@torch.no_grad()
def observe_graph_ranges(model: CompressibleGraph, x: np.ndarray, batch: int = 1024) -> dict[str, float]:
    """Largest magnitudes as :func:`fpga_flow.compress.qat.observe_ranges`, plus ``<node>.act`` of
    additions, averages and ReLU6 nodes, and ``<node>.min`` (the smallest value) of every node."""
    out: dict[str, float] = {"input": float(np.abs(x).max()), "input_min": float(x.min())}
    for lay in model.layers:
        out[f"{lay.name}.weight"] = float((lay.weight * lay.mask).abs().max().item())
        out[f"{lay.name}.bias"] = float(lay.bias.abs().max().item())
    for n in model.nodes:
        out[f"{n.name}.act"], out[f"{n.name}.min"] = 0.0, 0.0
    for i in range(0, x.shape[0], batch):
        vals = model.run(torch.as_tensor(x[i: i + batch]))
        for n in model.nodes:
            v = vals[n.name]
            out[f"{n.name}.act"] = max(out[f"{n.name}.act"], float(v.abs().max().item()))
            out[f"{n.name}.min"] = min(out[f"{n.name}.min"], float(v.min().item()))
    return out


def quantize_graph(model: CompressibleGraph, x_calib: np.ndarray, policy: object) -> dict[str, FixedType]:
    """Type every tensor of ``model`` (in place), switch it to float64; returns the types by key.

    ``policy`` is a :class:`fpga_flow.compress.qat.TypePolicy`."""
    from fpga_flow.compress.qat import TypePolicy

    assert isinstance(policy, TypePolicy)
    unknown = set(policy.overrides) - type_keys(model)
    if unknown:
        raise ValueError(f"unknown type override(s) {sorted(unknown)}")
    unknown = set(policy.layer_weight_width) - {lay.name for lay in model.layers}
    if unknown:
        raise ValueError(f"layer_weight_width names unknown layer(s) {sorted(unknown)}")
    ranges = observe_graph_ranges(model, np.asarray(x_calib, dtype=np.float32))
    types: dict[str, FixedType] = {}

    def pick(key: str, width: int, signed: bool, cap: float | None = None) -> FixedType:
        r = ranges[key] if cap is None else max(ranges[key], cap)
        t = policy.overrides.get(key) or choose_type(r, width, signed, policy.rounding)
        check_quant_type(t)
        types[key] = t
        return t

    pick("input", policy.input_width, ranges["input_min"] < 0)
    model.input_type = types["input"]
    last = model.nodes[-1].name
    for n in model.nodes:  # in order: an average's signedness follows its (already typed) input
        m = model.ops[n.name]
        if isinstance(m, CompressibleLayer):
            w = pick(f"{m.name}.weight", policy.layer_weight_width.get(m.name, policy.weight_width), True)
            b = pick(f"{m.name}.bias", policy.bias_width, True)
            a = pick(f"{m.name}.act", policy.act_width, not m.relu, model.caps.get(n.name)) if n.name != last else None
            m.set_types(w, b, a)
        elif isinstance(m, AddNode):
            m.act_type = pick(f"{n.name}.act", policy.act_width, not m.relu, m.cap)
        elif isinstance(m, ActNode) and m.cap is not None:
            m.act_type = pick(f"{n.name}.act", policy.act_width, False, m.cap)
        elif isinstance(m, AvgNode):
            src = model.source_types()[n.inputs[0]]
            m.act_type = pick(f"{n.name}.act", policy.act_width, src is None or src.signed)
    model.double()
    model.check_exact()
    return types
