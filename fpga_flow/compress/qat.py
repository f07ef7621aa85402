"""Choose per-tensor fixed-point types from observed ranges and turn a model into its QAT form.

:func:`quantize_model` gives the input, every weight tensor (conv or linear), bias vector and hidden
activation a :class:`~fpga_flow.fixed.FixedType` of the policy's width whose range just holds the
observed maximum magnitude (:func:`fpga_flow.compress.quant.choose_type`), unless the user gives
the type. Hidden activations follow a ReLU, so their type is unsigned (a max-pool after it keeps
the type). The last layer keeps its exact accumulator (no output requantization): its output type
is whatever the accumulator needs, and the exported graph ends at the bias ``Add``.

The model is converted to float64, where the fake-quantized forward is bit-exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from fpga_flow.compress.graphnet import Compressible, CompressibleGraph
from fpga_flow.compress.layers import CompressibleLayer
from fpga_flow.compress.network import CompressibleNet
from fpga_flow.compress.quant import check_quant_type, choose_type
from fpga_flow.fixed import FixedType, Rounding

__all__ = ["TypePolicy", "observe_ranges", "quantize_model"]


@dataclass(frozen=True)
class TypePolicy:
    """Widths of the automatically chosen types and user-given types that override them.

    ``overrides`` keys: ``"input"``, ``"<layer>.weight"``, ``"<layer>.bias"``, ``"<layer>.act"``
    (layer names ``fc1``, ``conv1``, ...). ``layer_weight_width`` gives some layers their own weight
    width (a layer shared through ``K`` codebook values needs at least ``log2 K + 1`` bits, so
    8-bit codebooks need a wider weight type than 8 bits). ``rounding`` is RND_CONV (QONNX ROUND)
    or TRN (FLOOR).
    """

    input_width: int = 8
    weight_width: int = 8
    layer_weight_width: Mapping[str, int] = field(default_factory=dict)
    bias_width: int = 16
    act_width: int = 8
    rounding: Rounding = Rounding.RND_CONV
    overrides: Mapping[str, FixedType] = field(default_factory=dict)


@torch.no_grad()
def observe_ranges(model: CompressibleNet, x: np.ndarray, batch: int = 1024) -> dict[str, float]:
    """Largest magnitudes: ``input``, per layer ``<name>.weight`` (kept weights), ``<name>.bias``,
    ``<name>.act`` (output after ReLU, float forward over ``x``); ``input_min`` too."""
    out: dict[str, float] = {"input": float(np.abs(x).max()), "input_min": float(x.min())}
    for lay in model.layers:
        out[f"{lay.name}.weight"] = float((lay.weight * lay.mask).abs().max().item())
        out[f"{lay.name}.bias"] = float(lay.bias.abs().max().item())
        out[f"{lay.name}.act"] = 0.0
    for i in range(0, x.shape[0], batch):
        h = model.prepare_input(torch.as_tensor(x[i : i + batch]))
        for st in model.stages:
            h = st(h)
            if isinstance(st, CompressibleLayer):
                out[f"{st.name}.act"] = max(out[f"{st.name}.act"], float(h.abs().max().item()))
    return out


def quantize_model(
    model: Compressible, x_calib: np.ndarray, policy: TypePolicy = TypePolicy()
) -> dict[str, FixedType]:
    """Give every tensor of ``model`` a fixed-point type (in place) and switch it to float64.

    Ranges come from the model's current weights and a float forward over ``x_calib``. Returns the
    chosen types by key (``input``, ``conv1.weight``, ``fc1.bias``, ``fc1.act``, ...). Raises
    ``ValueError`` when a type is not a QONNX Quant or the forward would not be exact in float64.
    A :class:`~fpga_flow.compress.graphnet.CompressibleGraph` is typed by
    :func:`fpga_flow.compress.graph_qat.quantize_graph`.
    """
    if isinstance(model, CompressibleGraph):
        from fpga_flow.compress.graph_qat import quantize_graph

        return quantize_graph(model, x_calib, policy)
    unknown = set(policy.overrides) - {"input"} - {
        f"{lay.name}.{k}" for lay in model.layers for k in ("weight", "bias", "act")
    }
    if unknown:
        raise ValueError(f"unknown type override(s) {sorted(unknown)}")
    unknown = set(policy.layer_weight_width) - {lay.name for lay in model.layers}
    if unknown:
        raise ValueError(f"layer_weight_width names unknown layer(s) {sorted(unknown)}")
    ranges = observe_ranges(model, np.asarray(x_calib, dtype=np.float32))
    types: dict[str, FixedType] = {}

    def pick(key: str, width: int, signed: bool) -> FixedType:
        t = policy.overrides.get(key) or choose_type(ranges[key], width, signed, policy.rounding)
        check_quant_type(t)
        types[key] = t
        return t

    input_signed = ranges["input_min"] < 0
    in_t = pick("input", policy.input_width, input_signed)
    last = model.layers[-1]
    for lay in model.layers:
        w = pick(f"{lay.name}.weight", policy.layer_weight_width.get(lay.name, policy.weight_width), True)
        b = pick(f"{lay.name}.bias", policy.bias_width, True)
        a = pick(f"{lay.name}.act", policy.act_width, not lay.relu) if lay is not last else None
        lay.set_types(w, b, a)
    model.input_type = in_t
    model.double()
    model.check_exact()
    return types
