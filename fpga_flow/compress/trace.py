"""Trace a user's ``torch.nn.Module`` with ``torch.fx`` and check every node before any training.

:func:`trace_model` turns the module into a :class:`TracedModel`: a list of :class:`PlanNode` in
topological order, each with its per-sample output shape (one forward of a zero batch in eval mode,
the module's training flag restored). Every node is checked against what the conversion
(:mod:`fpga_flow.compress.convert`) and the export know; all problems are gathered into ONE
:class:`UnsupportedModelError` that names each module or function and lists what is supported.

Supported: ``nn.Linear``, ``nn.Conv2d`` (zero padding, dilation 1, any ``groups`` incl. depthwise),
``nn.BatchNorm1d/2d`` right after a ``Linear``/``Conv2d`` whose only user it is (folded into it),
``nn.ReLU``/``nn.ReLU6`` (also ``torch.relu``, ``F.relu``, ``F.relu6``, ``x.relu()``),
``nn.MaxPool2d`` (dilation 1, floor), ``nn.AvgPool2d`` (no padding, floor, no divisor override),
``nn.AdaptiveAvgPool2d(1)``, ``nn.Flatten`` / ``torch.flatten(x, 1)`` / ``x.flatten(1)``,
``nn.Dropout`` / ``nn.Identity`` (dropped), and the addition of two tensors of one shape
(``x + f(x)``, ``torch.add``). The output must be a vector computed by a ``Linear`` (or ``Conv2d``)
without activation.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the usual spelling
from torch import fx, nn

from fpga_flow.errors import UnsupportedError

__all__ = ["SUPPORTED", "PlanNode", "TracedModel", "UnsupportedModelError", "trace_model"]

#: What a user model may be made of (the error message lists it).
SUPPORTED = (
    "nn.Linear, nn.Conv2d (zero padding, dilation 1, groups incl. depthwise), nn.BatchNorm1d/2d (right after a "
    "Linear/Conv2d, folded into it), nn.ReLU, nn.ReLU6 (or torch.relu, F.relu, F.relu6, x.relu()), nn.MaxPool2d, "
    "nn.AvgPool2d (no padding), nn.AdaptiveAvgPool2d(1), nn.Flatten (or torch.flatten(x, 1), x.flatten(1)), "
    "nn.Dropout, nn.Identity, and residual additions x + f(x) (operator + or +=, torch.add)"
)

_ADD_FUNCS: tuple[Callable[..., Any], ...] = (operator.add, operator.iadd, torch.add)
_RELU_FUNCS: tuple[Callable[..., Any], ...] = (torch.relu, F.relu)


class UnsupportedModelError(UnsupportedError):
    """The user's model holds a module or function the compression flow cannot convert."""


@dataclass(frozen=True)
class PlanNode:
    """One traced operation. ``op``: ``input``, ``linear``, ``conv``, ``bn``, ``relu``, ``relu6``,
    ``maxpool``, ``avgpool``, ``gap``, ``flatten``, ``add`` or ``identity``; ``target`` the module's
    qualified name (module ops); ``shape`` the per-sample output shape."""

    name: str
    op: str
    inputs: tuple[str, ...]
    target: str | None
    shape: tuple[int, ...]


@dataclass(frozen=True)
class TracedModel:
    """The checked plan of a user model: nodes in topological order, the last one the output."""

    nodes: tuple[PlanNode, ...]
    input_shape: tuple[int, ...]
    name: str
    output: str  # the node whose value forward returns

    def users(self, name: str) -> list[PlanNode]:
        return [n for n in self.nodes if name in n.inputs]


def _describe(node: fx.Node, modules: dict[str, nn.Module]) -> str:
    if node.op == "call_module":
        return f"module {node.target!r} ({type(modules[str(node.target)]).__name__})"
    if node.op == "call_function":
        fn = node.target
        return f"function {getattr(fn, '__module__', '') or ''}.{getattr(fn, '__name__', str(fn))}".replace(
            "_operator.", "operator.").replace("torch._C._VariableFunctions.", "torch.")
    if node.op == "call_method":
        return f"method .{node.target}()"
    return f"{node.op} {node.target!r}"


def _pairs(*vals: Any) -> bool:  # noqa: ANN401 - torch's int-or-tuple module attributes
    return all(v in (1, (1, 1)) for v in vals)


def _module_op(m: nn.Module) -> tuple[str | None, str]:
    """``(op, problem)`` for a module: ``op`` None when unsupported, ``problem`` why ("" when fine)."""
    if isinstance(m, nn.Linear):
        return "linear", ""
    if isinstance(m, nn.Conv2d):
        if isinstance(m.padding, str):
            return None, f"padding={m.padding!r} (give the padding as numbers)"
        if m.padding_mode != "zeros" or not _pairs(m.dilation):
            return None, "only zero padding and dilation 1"
        return "conv", ""
    if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
        if not m.track_running_stats:
            return None, "track_running_stats=False (no running statistics to fold)"
        return "bn", ""
    if isinstance(m, nn.ReLU6):
        return "relu6", ""
    if isinstance(m, nn.ReLU):
        return "relu", ""
    if isinstance(m, nn.MaxPool2d):
        if m.ceil_mode or m.return_indices or not _pairs(m.dilation):
            return None, "only dilation 1, ceil_mode=False, return_indices=False"
        return "maxpool", ""
    if isinstance(m, nn.AvgPool2d):
        if m.ceil_mode or m.padding not in (0, (0, 0)) or m.divisor_override is not None:
            return None, "only padding 0, ceil_mode=False and no divisor_override"
        return "avgpool", ""
    if isinstance(m, nn.AdaptiveAvgPool2d):
        if m.output_size not in (1, (1, 1)):
            return None, f"only output_size=1 (a global average), got {m.output_size}"
        return "gap", ""
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            return None, "only start_dim=1, end_dim=-1"
        return "flatten", ""
    if isinstance(m, nn.Dropout | nn.Identity):
        return "identity", ""
    return None, ""


def _function_op(node: fx.Node) -> tuple[str | None, str]:
    fn, args, kw = node.target, node.args, node.kwargs
    if node.op == "call_function":
        if fn in _ADD_FUNCS:
            if len(args) != 2 or kw or not all(isinstance(a, fx.Node) for a in args):
                return None, "only the sum of two tensors"
            return "add", ""
        if fn in _RELU_FUNCS:
            return "relu", ""
        if fn is F.relu6:
            return "relu6", ""
        if fn is torch.flatten:
            start = args[1] if len(args) > 1 else kw.get("start_dim", 0)
            end = args[2] if len(args) > 2 else kw.get("end_dim", -1)
            return ("flatten", "") if (start, end) == (1, -1) else (None, "only torch.flatten(x, 1)")
        return None, ""
    if node.op == "call_method":
        if fn == "relu":
            return "relu", ""
        if fn in ("add", "add_") and len(args) == 2 and isinstance(args[1], fx.Node) and not kw:
            return "add", ""
        if fn == "flatten":
            start = args[1] if len(args) > 1 else kw.get("start_dim", 0)
            end = args[2] if len(args) > 2 else kw.get("end_dim", -1)
            return ("flatten", "") if (start, end) == (1, -1) else (None, "only x.flatten(1)")
    return None, ""


def _tensor_inputs(node: fx.Node) -> tuple[str, ...]:
    out: list[str] = []
    for a in node.args:
        if isinstance(a, fx.Node):
            out.append(a.name)
    return tuple(out)


def trace_model(model: nn.Module, input_shape: tuple[int, ...]) -> TracedModel:
    """Trace ``model`` (per-sample input shape ``input_shape``) and check every node.

    Raises :class:`UnsupportedModelError` (one message naming every unsupported module or function,
    and the supported list) when the model cannot be traced or converted. Runs one forward of a zero
    batch in eval mode (running statistics untouched), restoring the training flag.
    """
    name = type(model).__name__
    try:
        gm = fx.symbolic_trace(model)
    except Exception as e:  # noqa: BLE001 - torch.fx raises many kinds for untraceable code
        raise UnsupportedModelError(
            f"model {name}: torch.fx cannot trace its forward ({type(e).__name__}: {e}); the forward must be "
            f"straight-line code over supported modules. Supported: {SUPPORTED}"
        ) from None
    modules = dict(gm.named_modules())
    problems: list[str] = []
    ops: dict[str, str] = {}
    for node in gm.graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        if node.op == "call_module":
            op, why = _module_op(modules[str(node.target)])
        elif node.op in ("call_function", "call_method"):
            op, why = _function_op(node)
        else:
            op, why = None, "parameters and attributes cannot be read in forward"
        if op is None:
            problems.append(_describe(node, modules) + (f": {why}" if why else ""))
        else:
            ops[node.name] = op
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        problems.append(f"forward takes {len(placeholders)} inputs; exactly one (the sample batch) is supported")
    if problems:
        raise UnsupportedModelError(
            f"model {name} cannot be compressed: unsupported {'; '.join(problems)}. Supported: {SUPPORTED}"
        )
    shapes = _shapes(gm, model, input_shape)
    nodes: list[PlanNode] = []
    out_name = ""
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            nodes.append(PlanNode(node.name, "input", (), None, tuple(input_shape)))
        elif node.op == "output":
            res = node.args[0]
            if not isinstance(res, fx.Node):
                raise UnsupportedModelError(f"model {name}: forward must return one tensor. Supported: {SUPPORTED}")
            out_name = res.name
        else:
            target = str(node.target) if node.op == "call_module" else None
            nodes.append(PlanNode(node.name, ops[node.name], _tensor_inputs(node), target, shapes[node.name]))
    traced = TracedModel(tuple(nodes), tuple(input_shape), name, out_name)
    _check_structure(traced)
    return traced


def _shapes(gm: fx.GraphModule, model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Per-sample output shape of every node (a forward of zeros, batch 2, eval mode)."""
    env: dict[str, torch.Tensor] = {}
    was_training = model.training
    model.eval()
    try:
        interp = _ShapeRecorder(gm, env)
        dtype = next((p.dtype for p in model.parameters()), torch.float32)
        with torch.no_grad():
            interp.run(torch.zeros((2, *input_shape), dtype=dtype))
    except Exception as e:  # noqa: BLE001 - a shape mismatch inside the user's forward
        raise UnsupportedModelError(
            f"model {type(model).__name__}: the forward fails on inputs of shape (N, "
            f"{', '.join(map(str, input_shape))}): {type(e).__name__}: {e}") from None
    finally:
        model.train(was_training)
    return {k: tuple(int(d) for d in v.shape[1:]) for k, v in env.items()}


class _ShapeRecorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule, env: dict[str, torch.Tensor]) -> None:
        super().__init__(gm)
        self._record = env

    def run_node(self, n: fx.Node) -> Any:  # noqa: ANN401 - whatever the node returns
        out = super().run_node(n)
        if isinstance(out, torch.Tensor):
            self._record[n.name] = out
        return out


def _check_structure(traced: TracedModel) -> None:
    name, out_name = traced.name, traced.output
    by_name = {n.name: n for n in traced.nodes}
    problems: list[str] = []
    for n in traced.nodes:
        if n.op == "bn":
            src = by_name[n.inputs[0]]
            while src.op == "identity":
                src = by_name[src.inputs[0]]
            if src.op not in ("linear", "conv") or len(traced.users(src.name)) != 1:
                problems.append(f"module {n.target!r} (BatchNorm) must directly follow a Linear or Conv2d whose only "
                                "user it is (it is folded into that layer)")
        if n.op == "add" and len({by_name[i].shape for i in n.inputs}) != 1:
            problems.append(f"addition {n.name!r} of shapes {[by_name[i].shape for i in n.inputs]} (no broadcast)")
        if n.op in ("conv", "maxpool", "avgpool", "gap") and len(by_name[n.inputs[0]].shape) != 3:
            problems.append(f"module {n.target!r} needs a feature map (C, H, W), gets {by_name[n.inputs[0]].shape}")
        if n.op == "linear" and len(by_name[n.inputs[0]].shape) != 1:
            problems.append(f"module {n.target!r} (Linear) needs a vector (flatten first), gets "
                            f"{by_name[n.inputs[0]].shape}")
    out = by_name.get(out_name)
    while out is not None and out.op == "identity":
        out = by_name[out.inputs[0]]
    if out is None or out.op not in ("linear", "conv", "bn") or len(out.shape) != 1:
        problems.append("the output must be a vector computed by a Linear (or Conv2d) layer without activation")
    if not any(n.op in ("linear", "conv") for n in traced.nodes):
        problems.append("the model has no Linear or Conv2d layer")
    if problems:
        raise UnsupportedModelError(f"model {name} cannot be compressed: {'; '.join(problems)}. Supported: {SUPPORTED}")
