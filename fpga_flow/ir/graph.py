"""The IR graph: layers in topological order, edges by producer name, and its reference executor."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from fpga_flow.fixed import Dequant, FixedType, overflow_label, to_float
from fpga_flow.ir.layers import DenseLayer, GraphError, InputLayer, Layer, MacLayer, layer_kind

__all__ = ["Graph", "GraphError"]

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Graph:
    """A small typed dataflow graph. ``layers`` are topologically ordered.

    ``notes`` say what the reader left out of the model (e.g. a final Softmax: the outputs are the
    logits), for the report; passes keep them."""

    name: str
    layers: tuple[Layer, ...]
    outputs: tuple[str, ...]
    notes: tuple[str, ...] = ()
    #: Per output (same order), how its mantissas become real values when its scale is not a power
    #: of two (:class:`~fpga_flow.fixed.Dequant`, applied on the host); empty or None: ``2^-frac``.
    dequant: tuple[Dequant | None, ...] = ()

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

    def mac_layers(self) -> tuple[MacLayer, ...]:
        """The layers with weights (dense and convolution), in order."""
        return tuple(lay for lay in self.layers if isinstance(lay, MacLayer))

    def replace_layers(self, layers: list[Layer] | tuple[Layer, ...], outputs: tuple[str, ...] | None = None) -> Graph:
        return Graph(self.name, tuple(layers), self.outputs if outputs is None else outputs, self.notes, self.dequant)

    def output_dequant(self, name: str) -> Dequant | None:
        """How output ``name``'s mantissas become real values (None: mantissa x 2^-frac)."""
        idx = self.outputs.index(name)
        return self.dequant[idx] if idx < len(self.dequant) else None

    def output_values(self, name: str, m: np.ndarray) -> np.ndarray:
        """Output ``name``'s real values (float64) from its mantissas ``m``."""
        dq = self.output_dequant(name)
        return dq.values(m) if dq is not None else to_float(m, self.layer(name).out_type)

    # ------------------------------------------------------------------ checks
    def verify(self) -> Graph:
        """Check names, kinds, edges, order, shapes and types; raise :class:`GraphError`. Returns self."""
        seen: dict[str, Layer] = {}
        if not self.layers:
            raise GraphError("graph has no layers")
        for lay in self.layers:
            if not _IDENT.match(lay.name):
                raise GraphError(f"layer name {lay.name!r} is not a legal identifier")
            if lay.name in seen:
                raise GraphError(f"duplicate layer name {lay.name!r}")
            layer_kind(lay)
            if not isinstance(lay.out_type, FixedType):
                raise GraphError(f"layer {lay.name}: out_type must be a FixedType")
            if not isinstance(lay.shape, tuple) or not lay.shape or any(int(d) < 1 for d in lay.shape):
                raise GraphError(f"layer {lay.name}: shape {lay.shape!r} must be a tuple of positive sizes")
            want = type(lay).n_inputs
            if want is None:
                if not lay.inputs:
                    raise GraphError(f"layer {lay.name}: expected at least one input")
            elif len(lay.inputs) != want:
                raise GraphError(f"layer {lay.name}: expected {want} input(s), got {len(lay.inputs)}")
            for src in lay.inputs:
                if src not in seen:
                    raise GraphError(f"layer {lay.name}: input {src!r} is not an earlier layer")
            lay.check([seen[i] for i in lay.inputs])
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

        ``x`` is a float array ``(batch, *shape)`` or ``(batch, features)`` for a single-input graph
        (quantized by the input layer), or already-quantized mantissas when ``quantized`` is true.
        Every value is an int64 array ``(batch, *layer.shape)``.
        """
        ins = self.inputs
        feeds = x if isinstance(x, dict) else {ins[0].name: x}
        vals: dict[str, np.ndarray] = {}
        types: dict[str, FixedType] = {}
        for lay in self.layers:
            with overflow_label(lay.name):  # a recording caller (fixed.record_overflows) sees which layer
                if isinstance(lay, InputLayer):
                    data = feeds[lay.name]
                    if quantized:
                        data = np.asarray(data, dtype=np.int64)
                        vals[lay.name] = data.reshape((data.shape[0], *lay.shape))
                    else:
                        vals[lay.name] = lay.quantize(data)
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
        m, _ = self.run(x)
        return self.output_values(self.outputs[0], m)

