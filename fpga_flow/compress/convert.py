"""Convert a traced user model (:mod:`fpga_flow.compress.trace`) into a :class:`CompressibleGraph`.

With the user's trained weights (eval-mode BatchNorm statistics), in four rewrites of the plan:

1. ``Dropout`` / ``Identity`` are dropped (their users read their input);
2. a BatchNorm is folded into the ``Linear``/``Conv2d`` before it (its only user):
   ``W' = W * g``, ``b' = (b - mean) * g + beta`` with ``g = gamma / sqrt(var + eps)`` per output
   channel (float64, then the layer's dtype);
3. a ReLU / ReLU6 whose input is a layer or an addition used by nothing else is fused into it;
4. every ``Linear``/``Conv2d`` becomes a :class:`~fpga_flow.compress.layers.CompressibleLinear` /
   :class:`~fpga_flow.compress.layers.CompressibleConv2d` holding the (folded) weights, a zero bias
   when the module had none; pooling and flattening become graph nodes.

Layer names are the torch.fx node names (``conv1``, ``block1_conv``, ...; the module path with
``_``), made unique and kept clear of the export's reserved tensor names.
"""

from __future__ import annotations

import torch
from torch import nn

from fpga_flow.compress.graphnet import ActNode, AddNode, AvgNode, CompressibleGraph, GraphNode
from fpga_flow.compress.layers import CompressibleConv2d, CompressibleLinear
from fpga_flow.compress.trace import PlanNode, TracedModel

__all__ = ["RESERVED_NAMES", "convert", "folded_parameters"]

#: Names the export uses for its own tensors (a node so named is renamed with a trailing ``_``).
RESERVED_NAMES = frozenset({"input", "input_q", "output"})


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


@torch.no_grad()
def folded_parameters(layer: nn.Linear | nn.Conv2d, bn: nn.BatchNorm1d | nn.BatchNorm2d | None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(weight, bias)`` of ``layer`` with ``bn`` (eval-mode statistics) folded in (float64)."""
    w = layer.weight.detach().double()
    b = layer.bias.detach().double() if layer.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    if bn is None:
        return w, b
    assert bn.running_mean is not None and bn.running_var is not None
    g = torch.ones_like(b) if bn.weight is None else bn.weight.detach().double()
    beta = torch.zeros_like(b) if bn.bias is None else bn.bias.detach().double()
    s = g / torch.sqrt(bn.running_var.detach().double() + bn.eps)
    w = w * s.reshape(-1, *([1] * (w.dim() - 1)))
    return w, (b - bn.running_mean.detach().double()) * s + beta


def convert(model: nn.Module, traced: TracedModel) -> CompressibleGraph:
    """The :class:`CompressibleGraph` of ``model`` (as traced and checked by ``traced``), in the dtype of
    ``model``'s weights."""
    modules = dict(model.named_modules())
    by_name = {n.name: n for n in traced.nodes}
    alias: dict[str, str] = {}

    def src(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    def users(name: str) -> list[PlanNode]:
        return [n for n in traced.nodes if any(src(i) == name for i in n.inputs) and n.name not in alias]

    input_name = next(n.name for n in traced.nodes if n.op == "input")
    # 1-2: drop identities, fold BatchNorm (the BN node becomes an alias of its layer)
    bn_of: dict[str, PlanNode] = {}
    for n in traced.nodes:
        if n.op == "identity":
            alias[n.name] = n.inputs[0]
        elif n.op == "bn":
            layer_name = src(n.inputs[0])
            bn_of[layer_name] = n
            alias[n.name] = layer_name
    # 3: fuse ReLU / ReLU6 into a layer or addition that nothing else uses
    relu_of: dict[str, PlanNode] = {}
    for n in traced.nodes:
        if n.op in ("relu", "relu6") and n.name not in alias:
            s = src(n.inputs[0])
            if s in by_name and by_name[s].op in ("linear", "conv", "add") and s not in relu_of \
                    and len(users(s)) == 1:
                relu_of[s] = n
                alias[n.name] = s
    # 4: build the nodes
    names: dict[str, str] = {input_name: "input"}
    taken: set[str] = set(RESERVED_NAMES)
    nodes: list[GraphNode] = []
    mods: dict[str, nn.Module] = {}
    caps: dict[str, float] = {}
    for n in traced.nodes:
        if n.op == "input" or n.name in alias:
            continue
        gname = n.name
        while gname in taken:
            gname += "_"
        taken.add(gname)
        names[n.name] = gname
        ins = tuple(names[src(i)] for i in n.inputs)
        relu = relu_of.get(n.name)
        cap = 6.0 if relu is not None and relu.op == "relu6" else None
        shape = relu.shape if relu is not None else n.shape
        if n.name in bn_of:
            shape = bn_of[n.name].shape
        m: nn.Module
        kind = "layer"
        if n.op in ("linear", "conv"):
            assert n.target is not None
            user = modules[n.target]
            bn = bn_of.get(n.name)
            bn_mod = modules[bn.target] if bn is not None and bn.target is not None else None
            assert isinstance(user, nn.Linear | nn.Conv2d)
            assert bn_mod is None or isinstance(bn_mod, nn.BatchNorm1d | nn.BatchNorm2d)
            w, b = folded_parameters(user, bn_mod)
            lay: CompressibleLinear | CompressibleConv2d
            if isinstance(user, nn.Linear):
                lay = CompressibleLinear(user.in_features, user.out_features, relu=relu is not None, name=gname)
            else:
                lay = CompressibleConv2d(user.in_channels, user.out_channels, _pair(user.kernel_size),
                                         stride=_pair(user.stride), padding=_pair(user.padding),  # type: ignore[arg-type]
                                         groups=user.groups, relu=relu is not None, name=gname)
            lay = lay.to(user.weight.dtype)  # the user's precision (float32 unless they chose otherwise)
            with torch.no_grad():
                lay.weight.copy_(w.to(lay.weight.dtype))
                lay.bias.copy_(b.to(lay.bias.dtype))
            m = lay
            if cap is not None:
                caps[gname] = cap
        elif n.op == "add":
            m, kind = AddNode(relu is not None, cap), "add"
        elif n.op in ("relu", "relu6"):
            m, kind = ActNode(6.0 if n.op == "relu6" else None), "act"
        elif n.op == "maxpool":
            assert n.target is not None
            pool = modules[n.target]
            assert isinstance(pool, nn.MaxPool2d)
            m, kind = pool, "maxpool"
        elif n.op == "avgpool":
            assert n.target is not None
            ap = modules[n.target]
            assert isinstance(ap, nn.AvgPool2d)
            k = _pair(ap.kernel_size)
            m, kind = AvgNode(k, _pair(ap.stride if ap.stride is not None else k), global_=False), "avg"
        elif n.op == "gap":
            m, kind = AvgNode((1, 1), (1, 1), global_=True), "avg"
        elif n.op == "flatten":
            m, kind = nn.Flatten(), "flatten"
        else:  # pragma: no cover - trace_model admits no other op
            raise AssertionError(f"cannot convert {n.op}")
        nodes.append(GraphNode(gname, kind, ins, shape))
        mods[gname] = m
    out = names[src(traced.output)]
    if nodes[-1].name != out:  # put the output last (nothing reads it)
        i = next(j for j, g in enumerate(nodes) if g.name == out)
        nodes.append(nodes.pop(i))
    return CompressibleGraph(nodes, mods, traced.input_shape, name=traced.name, caps=caps)
