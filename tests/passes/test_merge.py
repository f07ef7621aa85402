"""align_merge_inputs: every Add/Concat input gets one common type through an exact widening, and the
graph computes the same bits (checked on a Brevitas residual CNN and on a hand-made graph)."""

from __future__ import annotations

import numpy as np

from fpga_flow.fixed import FixedType, Overflow, Rounding
from fpga_flow.ir import AddLayer, ConcatLayer, Graph, InputLayer, QuantizeLayer, ReluLayer
from fpga_flow.onnx_io import read_onnx
from fpga_flow.passes import align_merge_inputs, fuse_activations
from fpga_flow.passes.merge import common_type
from tests import cnn_models as cm


def test_common_type_holds_every_input_exactly() -> None:
    a = FixedType(8, 2, False)  # [0, 4) step 2^-6
    b = FixedType(6, 3, True)  # [-4, 4) step 2^-3
    t = common_type([a, b])
    assert (t.signed, t.frac, t.integer) == (True, 6, 3)
    for src in (a, b):
        assert t.min_mantissa <= src.min_mantissa << (t.frac - src.frac)
        assert src.max_mantissa << (t.frac - src.frac) <= t.max_mantissa


def test_brevitas_residual_cnn_keeps_its_bits(tmp_path) -> None:
    model, _ = cm.brevitas_rescnn(seed=3)
    g = fuse_activations(read_onnx(cm.save(model, tmp_path / "res.onnx")))
    g2 = align_merge_inputs(g)
    for lay in g2.layers:
        if isinstance(lay, AddLayer | ConcatLayer):
            types = {(g2.layer(n).out_type.width, g2.layer(n).out_type.frac, g2.layer(n).out_type.signed)
                     for n in lay.inputs}
            assert len(types) == 1, (lay.name, types)
    inserted = [lay for lay in g2.layers if lay.name not in {x.name for x in g.layers}]
    assert inserted and all(isinstance(lay, QuantizeLayer) for lay in inserted)
    x = cm.images(16, cm.QuantResCNN.in_shape, seed=5, scale=3.0)
    np.testing.assert_array_equal(g2.execute(x)[g2.outputs[0]], g.execute(x)[g.outputs[0]])


def test_inputs_of_one_type_are_left_alone() -> None:
    t = FixedType(8, 3, True, Rounding.RND_CONV, Overflow.SAT)
    inp = InputLayer("x", (), (2, 3, 3), t)
    r = ReluLayer("r", ("x",), (2, 3, 3), t)
    add = AddLayer("s", ("x", "r"), (2, 3, 3), FixedType(9, 4, True))
    g = Graph("g", (inp, r, add), ("s",)).verify()
    assert align_merge_inputs(g).layers == g.layers
