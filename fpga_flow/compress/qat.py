"""Choose per-tensor fixed-point types from observed ranges and turn a model into its QAT form.

:func:`quantize_model` gives the input, every weight matrix, bias vector and hidden activation a
:class:`~fpga_flow.fixed.FixedType` of the policy's width whose range just holds the observed
maximum magnitude (:func:`fpga_flow.compress.quant.choose_type`), unless the user gives the type.
Hidden activations follow a ReLU, so their type is unsigned. The last layer keeps its exact
accumulator (no output requantization): its output type is whatever the accumulator needs, and the
exported graph ends at the bias ``Add``.

The model is converted to float64, where the fake-quantized forward is bit-exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from fpga_flow.compress.model import CompressibleMLP
from fpga_flow.compress.quant import check_quant_type, choose_type, fake_quant
from fpga_flow.fixed import FixedType, Rounding

__all__ = ["TypePolicy", "observe_ranges", "quantize_model"]


@dataclass(frozen=True)
class TypePolicy:
    """Widths of the automatically chosen types and user-given types that override them.

    ``overrides`` keys: ``"input"``, ``"<layer>.weight"``, ``"<layer>.bias"``, ``"<layer>.act"``
    (layer names ``fc1``, ``fc2``, ...). ``rounding`` is RND_CONV (QONNX ROUND) or TRN (FLOOR).
    """

    input_width: int = 8
    weight_width: int = 8
    bias_width: int = 16
    act_width: int = 8
    rounding: Rounding = Rounding.RND_CONV
    overrides: Mapping[str, FixedType] = field(default_factory=dict)


@torch.no_grad()
def observe_ranges(model: CompressibleMLP, x: np.ndarray, batch: int = 4096) -> dict[str, float]:
    """Largest magnitudes: ``input``, per layer ``<name>.weight`` (kept weights), ``<name>.bias``,
    ``<name>.act`` (output after ReLU, float forward over ``x``); ``input_min`` too."""
    out: dict[str, float] = {"input": float(np.abs(x).max()), "input_min": float(x.min())}
    for lay in model.layers:
        out[f"{lay.name}.weight"] = float((lay.weight * lay.mask).abs().max().item())
        out[f"{lay.name}.bias"] = float(lay.bias.abs().max().item())
        out[f"{lay.name}.act"] = 0.0
    for i in range(0, x.shape[0], batch):
        h = torch.as_tensor(x[i : i + batch]).to(model.dtype)
        if model.input_type is not None:
            h = fake_quant(h, model.input_type)
        for lay in model.layers:
            h = lay(h)
            out[f"{lay.name}.act"] = max(out[f"{lay.name}.act"], float(h.abs().max().item()))
    return out


def quantize_model(
    model: CompressibleMLP, x_calib: np.ndarray, policy: TypePolicy = TypePolicy()
) -> dict[str, FixedType]:
    """Give every tensor of ``model`` a fixed-point type (in place) and switch it to float64.

    Ranges come from the model's current weights and a float forward over ``x_calib``. Returns the
    chosen types by key (``input``, ``fc1.weight``, ``fc1.bias``, ``fc1.act``, ...). Raises
    ``ValueError`` when a type is not a QONNX Quant or the forward would not be exact in float64.
    """
    unknown = set(policy.overrides) - {"input"} - {
        f"{lay.name}.{k}" for lay in model.layers for k in ("weight", "bias", "act")
    }
    if unknown:
        raise ValueError(f"unknown type override(s) {sorted(unknown)}")
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
        w = pick(f"{lay.name}.weight", policy.weight_width, True)
        b = pick(f"{lay.name}.bias", policy.bias_width, True)
        a = pick(f"{lay.name}.act", policy.act_width, not lay.relu) if lay is not last else None
        lay.set_types(w, b, a)
    model.input_type = in_t
    model.double()
    model.check_exact()
    return types
