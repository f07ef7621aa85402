"""The IR graph: layers in topological order, edges by producer name, and its reference executor."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from fpga_flow.fixed import FixedType, to_float
from fpga_flow.ir.accum import accumulator_bound
from fpga_flow.ir.layers import DenseLayer, InputLayer, Layer

__all__ = ["Graph", "GraphError"]

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class GraphError(ValueError):
    """The graph breaks an IR invariant (shape, type, name, edge)."""


@dataclass(frozen=True)
class Graph:
    """A small typed dataflow graph. ``layers`` are topologically ordered."""

    name: str
    layers: tuple[Layer, ...]
    outputs: tuple[str, ...]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def layer(self, name: str) -> Layer:
        for lay in self.layers:
            if lay.name == name:
                return lay
        raise KeyError(name)

    @property
    def inputs(self) -> tuple[InputLayer, ...]:
        return tuple(lay for lay in self.layers if isinstance(lay, InputLayer))

    @property
    def output_layers(self) -> tuple[Layer, ...]:
        return tuple(self.layer(n) for n in self.outputs)

    def consumers(self, name: str) -> tuple[Layer, ...]:
        return tuple(lay for lay in self.layers if name in lay.inputs)

    def dense_layers(self) -> tuple[DenseLayer, ...]:
        return tuple(lay for lay in self.layers if isinstance(lay, DenseLayer))

    def replace_layers(self, layers: list[Layer] | tuple[Layer, ...], outputs: tuple[str, ...] | None = None) -> Graph:
        return Graph(self.name, tuple(layers), self.outputs if outputs is None else outputs)

    # ------------------------------------------------------------------ checks
    def verify(self) -> Graph:
        """Check names, edges, order, shapes and types; raise :class:`GraphError`. Returns self."""
        seen: dict[str, Layer] = {}
        if not self.layers:
            raise GraphError("graph has no layers")
        for lay in self.layers:
            if not _IDENT.match(lay.name):
                raise GraphError(f"layer name {lay.name!r} is not a legal identifier")
            if lay.name in seen:
                raise GraphError(f"duplicate layer name {lay.name!r}")
            if not isinstance(lay.out_type, FixedType):
                raise GraphError(f"layer {lay.name}: out_type must be a FixedType")
            if isinstance(lay, InputLayer):
                if lay.inputs:
                    raise GraphError(f"input layer {lay.name} cannot have inputs")
            else:
                if len(lay.inputs) != 1:
                    raise GraphError(f"layer {lay.name}: expected exactly one input, got {len(lay.inputs)}")
                for src in lay.inputs:
                    if src not in seen:
                        raise GraphError(f"layer {lay.name}: input {src!r} is not an earlier layer")
                src = seen[lay.inputs[0]]
                if isinstance(lay, DenseLayer):
                    _verify_dense(lay, src)
                elif lay.shape != src.shape:
                    raise GraphError(f"layer {lay.name}: shape {lay.shape} differs from its input {src.shape}")
            seen[lay.name] = lay
        if not self.outputs:
            raise GraphError("graph has no outputs")
        for o in self.outputs:
            if o not in seen:
                raise GraphError(f"graph output {o!r} is not a layer")
        if not self.inputs:
            raise GraphError("graph has no input layer")
        return self

    # --------------------------------------------------------------- execution
    def execute(self, x: np.ndarray | dict[str, np.ndarray], *, quantized: bool = False) -> dict[str, np.ndarray]:
        """Run every layer's reference; returns mantissas per layer name.

        ``x`` is a float array ``(batch, features)`` for a single-input graph (quantized by the
        input layer), or already-quantized mantissas when ``quantized`` is true.
        """
        ins = self.inputs
        feeds = x if isinstance(x, dict) else {ins[0].name: x}
        vals: dict[str, np.ndarray] = {}
        types: dict[str, FixedType] = {}
        for lay in self.layers:
            if isinstance(lay, InputLayer):
                data = feeds[lay.name]
                vals[lay.name] = np.asarray(data, dtype=np.int64) if quantized else lay.quantize(data)
            else:
                vals[lay.name] = lay.reference([vals[i] for i in lay.inputs], [types[i] for i in lay.inputs])
            types[lay.name] = lay.out_type
        return vals

    def run(self, x: np.ndarray) -> tuple[np.ndarray, FixedType]:
        """Mantissas and type of the (first) output for float input ``x``."""
        out = self.layer(self.outputs[0])
        return self.execute(x)[out.name], out.out_type

    def run_float(self, x: np.ndarray) -> np.ndarray:
        """Output values as float64 (each exactly the fixed-point value the hardware produces)."""
        m, t = self.run(x)
        return to_float(m, t)


def _verify_dense(lay: DenseLayer, src: Layer) -> None:
    if src.size != lay.n_in:
        raise GraphError(f"layer {lay.name}: n_in={lay.n_in} but input {src.name} has {src.size} features")
    if lay.shape != (lay.n_out,):
        raise GraphError(f"layer {lay.name}: shape {lay.shape} must be ({lay.n_out},)")
    if lay.weights.shape != (lay.n_out, lay.n_in):
        raise GraphError(f"layer {lay.name}: weights shape {lay.weights.shape} != ({lay.n_out}, {lay.n_in})")
    if lay.bias.shape != (lay.n_out,):
        raise GraphError(f"layer {lay.name}: bias shape {lay.bias.shape} != ({lay.n_out},)")
    fp = lay.weight_type.frac + src.out_type.frac
    if lay.acc_type.frac < max(fp, lay.bias_type.frac):
        raise GraphError(
            f"layer {lay.name}: accumulator {lay.acc_type} has {lay.acc_type.frac} fractional bits, "
            f"needs {max(fp, lay.bias_type.frac)} to hold products and bias exactly"
        )
    vals = lay.weights.values if not hasattr(lay.weights, "codebook") else lay.weights.codebook
    for what, arr, t in (("weight", vals, lay.weight_type), ("bias", lay.bias, lay.bias_type)):
        if arr.size and (arr.min() < t.min_mantissa or arr.max() > t.max_mantissa):
            raise GraphError(f"layer {lay.name}: a {what} mantissa is outside {t}")
    bound = accumulator_bound(lay, src.out_type)
    if bound > lay.acc_type.max_mantissa or -bound < lay.acc_type.min_mantissa:
        raise GraphError(
            f"layer {lay.name}: accumulator {lay.acc_type} can overflow (partial sums reach {bound} LSBs)"
        )
