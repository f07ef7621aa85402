"""Planners of the feature-map layers: convolution, pooling, per-channel scale and element-wise
layers on a ``(C, H, W)`` map all become one ``window`` engine (see :class:`~fpga_flow.hw.plan.WindowPlan`).

The work of a window engine is its output channels (rows), each costing its taps per output
pixel: the nonzero weights of a convolution row (zero taps are neither stored nor multiplied),
``kh * kw`` for a pooling window, one for a scale or an element-wise layer. Rows are dealt to
``min(parallelism, channels)`` lanes balanced by taps (:func:`~fpga_flow.hw.schedule.make_schedule`);
every lane then walks the same ``entries`` per output pixel (dummy rows fill the shorter ones), so
the cycles grow with ``taps x output pixels / lanes``, never with the dense MAC count.

Lane operations (``WindowPlan.op``):

* ``mac``: ``bias + sum(w * x)`` (convolution; a scale: one tap of weight ``m_c``, bias ``o_c``);
* ``sum``: ``sum(x)`` with every weight the constant ``2^-k`` (no multiplier): average pooling over
  ``2^k`` elements, ReLU and requantization on a map (one tap, ``k = 0``);
* ``max``: the running maximum (max pooling; a padding tap reads the smallest input value).

What is refused, with the layer named: an average whose divisor is not one power of two for
every window (``count_include_pad=0`` with padding, or a window of 9), a scale whose divisors are
not powers of two (both need the multiplier requantization of a later engine).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fpga_flow.errors import UnsupportedError
from fpga_flow.fixed import FixedType
from fpga_flow.hw.plan import LayerPlan, MacFields, Rom, WindowPlan, bits_for
from fpga_flow.hw.planners import (
    _check_constant,
    lane_count,
    register_planner,
    row_nnz,
    sparse_lane_arrays,
)
from fpga_flow.hw.schedule import Schedule, make_schedule
from fpga_flow.ir import (
    Activation,
    AddLayer,
    AvgPool2dLayer,
    ConcatLayer,
    Conv2dLayer,
    DenseWeights,
    Layer,
    MaxPool2dLayer,
    QuantizeLayer,
    ReluLayer,
    ScaleLayer,
    csr_from_dense,
)

__all__ = ["TapFields", "is_feature_map", "plan_window_layer", "tap_fields", "tap_sources"]


@dataclass(frozen=True, eq=False)
class TapFields:
    """Where each lane entry of a window engine reads, relative to its output pixel's window
    (``lanes x entries`` arrays): ``ky``, ``kx`` in the kernel, the input ``bank`` and ``offset``
    ``(ky * W_in + kx) * slots_in + chan_slot[ci]``. The address of the tap of output pixel
    ``(oy, ox)`` is ``((oy * sh - top) * W_in + ox * sw - left) * slots_in + offset``; a tap whose
    ``(oy * sh - top + ky, ox * sw - left + kx)`` falls outside the map is padding."""

    offset: np.ndarray
    ky: np.ndarray
    kx: np.ndarray
    bank: np.ndarray
    src: np.ndarray  # which input (``p.in_buffers[src]``) the entry reads: 0 but for a merge

    @property
    def offset_bits(self) -> int:
        return bits_for(int(self.offset.max()) + 1)

    @property
    def ky_bits(self) -> int:
        return bits_for(int(self.ky.max()) + 1)

    @property
    def kx_bits(self) -> int:
        return bits_for(int(self.kx.max()) + 1)


def tap_sources(p: LayerPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per lane entry of a window plan: the input it reads, its channel there, ky and kx."""
    w = p.window
    assert w is not None
    kh, kw = w.kernel
    col = np.asarray(p.arrays["col"], np.int64)
    cv, rest = np.divmod(col, kh * kw)
    ky, kx = np.divmod(rest, kw)
    starts = np.cumsum([0, *w.source_channels])
    src = np.searchsorted(starts, cv, side="right") - 1
    return src, cv - starts[src], ky, kx


def tap_fields(p: LayerPlan) -> TapFields:
    """The :class:`TapFields` of a window plan whose input buffers are planned."""
    w = p.window
    assert w is not None
    bufs = p.in_buffers or ((p.in_buffer,) if p.in_buffer is not None else ())
    assert len(bufs) == len(w.source_channels) and all(b.fm is not None for b in bufs)
    src, ci, ky, kx = tap_sources(p)
    offset = np.zeros_like(ci)
    bank = np.zeros_like(ci)
    for s, buf in enumerate(bufs):
        fm = buf.fm
        assert fm is not None
        m = src == s
        offset[m] = (ky[m] * fm.width + kx[m]) * fm.slots + np.asarray(fm.chan_slot, np.int64)[ci[m]]
        bank[m] = np.asarray(fm.chan_bank, np.int64)[ci[m]]
    return TapFields(offset, ky, kx, bank, src)


def is_feature_map(layer: Layer) -> bool:
    """``layer`` writes a ``(C, H, W)`` feature map."""
    return len(layer.shape) == 3


def _fm(shape: tuple[int, ...]) -> tuple[int, int, int]:
    c, h, w = (int(v) for v in shape)
    return c, h, w


def _lanes(channels: int, parallelism: int) -> int:
    return max(1, min(int(parallelism), channels))


def _pad_entries(sched: Schedule) -> int:
    """Entries per pixel once every lane walks ``slots`` rows (one entry per dummy row)."""
    return max(n + sched.slots - len(rows) for n, rows in zip(sched.lane_entries, sched.lane_rows, strict=True))


def _own_padding(col: np.ndarray, sched: Schedule) -> np.ndarray:
    """``col`` with every entry after a lane's real rows (dummy rows and padding) pointing at the
    lane's first tap: a lane then only ever addresses the banks its own channels read."""
    out = np.array(col, copy=True)
    for lane, rows in enumerate(sched.lane_rows):
        n = sum(sched.row_cost[r] for r in rows)
        out[lane, n:] = out[lane, 0]
    return out


def _log2_exact(v: int) -> int | None:
    return v.bit_length() - 1 if v > 0 and v & (v - 1) == 0 else None


def _uniform_arrays(
    channels: int, kernel: tuple[int, int], sched: Schedule, entries: int, group: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lane arrays of a weightless window op: every tap ``(c, ky, kx)`` of each channel's window
    (``group`` > 1: output channel ``c`` reads input channels ``c*group`` .. ``c*group + group - 1``)."""
    kk = kernel[0] * kernel[1] * group
    col = np.zeros((sched.lanes, entries), np.int64)
    val = np.ones((sched.lanes, entries), np.int64)
    last = np.zeros((sched.lanes, entries), np.int64)
    for lane, rows in enumerate(sched.lane_rows):
        t = 0
        for c in rows:
            col[lane, t : t + kk] = c * kk + np.arange(kk)
            last[lane, t + kk - 1] = 1
            t += kk
        for _ in range(len(rows), sched.slots):
            last[lane, t] = 1
            t += 1
    return col, val, last


def _channel_schedule(costs: list[int], parallelism: int, in_banks: np.ndarray | None) -> Schedule:
    """Channels of a depthwise stage (each reads only its own input channel) dealt to lanes.

    When the input map comes from a window engine with at most ``parallelism`` lanes
    (``in_banks[c]``: the bank holding channel ``c``), channel ``c`` goes to lane ``in_banks[c]``: each
    lane then reads one bank, and the buffer keeps one copy of the map instead of one per lane."""
    c = len(costs)
    if in_banks is not None and len(in_banks) == c and c and int(np.max(in_banks)) + 1 <= parallelism:
        n = int(np.max(in_banks)) + 1
        rows = tuple(tuple(int(ch) for ch in np.flatnonzero(np.asarray(in_banks) == lane)) for lane in range(n))
        if all(rows):
            return Schedule(tuple(max(1, int(v)) for v in costs), rows)
    return make_schedule(costs, _lanes(c, parallelism))


def _index_roms(col: np.ndarray, last: np.ndarray, sched: Schedule, col_bits: int) -> tuple[Rom, ...]:
    """The tap, row-end, lane and slot ROMs every window engine stores."""
    return (
        Rom("col", col_bits, col),
        Rom("last", 1, last),
        Rom("lane", bits_for(sched.lanes), sched.row_lane.copy()),
        Rom("slot", bits_for(sched.slots), sched.row_slot.copy()),
    )


def _weightless(
    layer: Layer,
    in_type: FixedType,
    parallelism: int,
    *,
    op: str,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pads: tuple[int, int, int, int],
    k: int,
    relu: bool,
    reason: str,
    in_banks: np.ndarray | None = None,
    group: int = 1,
) -> LayerPlan:
    """A ``sum`` (every weight ``2^-k``) or ``max`` window engine over each channel's own window
    (``group`` > 1, max only: over ``group`` input channels per output channel)."""
    c_out = _fm(layer.shape)[0]
    c_in = c_out * group
    kk = kernel[0] * kernel[1]
    sched = _channel_schedule([kk * group] * c_out, parallelism, in_banks if group == 1 else None)
    entries = _pad_entries(sched)
    col, val, last = _uniform_arrays(c_out, kernel, sched, entries, group)
    col = _own_padding(col, sched)
    x_bits = in_type.width + (0 if in_type.signed else 1)
    if op == "max":
        acc_bits, acc_frac, w_frac = max(x_bits, 2), in_type.frac, 0
    else:
        bound = kk * in_type.max_abs_mantissa
        acc_bits, acc_frac, w_frac = max(bound.bit_length() + 1, 2), in_type.frac + k, k
    fields = MacFields(2, 2, True, w_frac, 1, False, acc_frac, acc_bits, acc_frac, in_type, layer.out_type, relu)
    window = WindowPlan(
        _fm(layer.shape), _fm(layer.shape), kernel, stride, pads, op, entries
    )  # in_shape: set by the caller
    return LayerPlan(
        layer, in_type, "window", reason, sched, fields,
        roms=_index_roms(col, last, sched, bits_for(c_in * kk)),
        arrays={"col": col, "val": val, "last": last}, col_bits=bits_for(c_in * kk), window=window,
    )  # fmt: skip


def _with_in_shape(p: LayerPlan, in_shape: tuple[int, ...]) -> LayerPlan:
    assert p.window is not None
    shape = _fm(in_shape)
    return replace(p, window=replace(p.window, in_shape=shape, source_channels=(shape[0],)))


# ----------------------------------------------------------------------------- convolution
@register_planner("conv2d")
def plan_conv(layer: Layer, in_type: FixedType, parallelism: int) -> LayerPlan:
    """A convolution on the window engine: output channels dealt to lanes by nonzero taps."""
    assert isinstance(layer, Conv2dLayer)
    _check_constant(layer, "weight", layer.weight_type)
    _check_constant(layer, "bias", layer.bias_type)
    if not layer.acc_type.signed:
        raise UnsupportedError(f"layer {layer.label}: the accumulator type {layer.acc_type} must be signed")
    w = layer.weights
    lanes = lane_count(layer, parallelism)
    kk = layer.kernel[0] * layer.kernel[1]
    cg = layer.in_channels // layer.groups
    og = layer.rows // layer.groups

    def col_of(row: int, cols: np.ndarray) -> np.ndarray:  # group-local tap -> absolute (ci, ky, kx)
        return cols + (row // og) * cg * kk

    dense = isinstance(w, DenseWeights)
    # the entry carries its tap either way: walk and store the nonzero taps only (CSR)
    taps_of = replace(layer, weights=csr_from_dense(np.asarray(w.values))) if dense else layer
    sched = make_schedule(row_nnz(taps_of), lanes)
    entries = _pad_entries(sched)
    col, val, last, book = sparse_lane_arrays(taps_of, sched, entries, sched.slots, col_of)
    col = _own_padding(col, sched)
    wt, bt = layer.weight_type, layer.bias_type
    relu = layer.activation.value == "relu"
    code_bits = bits_for(int(book.size)) if book is not None else 0
    wf = code_bits if book is not None else wt.width
    fields = MacFields(
        wf,
        wt.width,
        wt.signed,
        wt.frac,
        bt.width,
        bt.signed,
        bt.frac,
        layer.acc_type.width,
        layer.acc_type.frac,
        in_type,
        layer.out_type,
        relu,
    )
    taps = layer.in_channels * kk
    window = WindowPlan(_fm(layer.in_shape), _fm(layer.shape), layer.kernel, layer.stride, layer.pads, "mac", entries)
    first = Rom("code", code_bits, val) if book is not None else Rom("w", wt.width, val, wt.frac, wt.signed)
    roms = (
        first,
        *_index_roms(col, last, sched, bits_for(taps)),
        Rom("b", bt.width, np.asarray(layer.bias, np.int64), bt.frac, bt.signed),
    )
    storage = "dense weights walked as CSR" if dense else "codebook CSR" if book is not None else "CSR"
    nnz = layer.nnz
    return LayerPlan(
        layer, in_type, "window", f"convolution, {storage} taps (zero taps neither stored nor multiplied)",
        sched, fields, roms=roms,
        arrays={"col": col, "val": val, "last": last}, codebook=book, code_bits=code_bits,
        col_bits=bits_for(taps), multiplies=nnz * window.out_pixels, window=window,
    )  # fmt: skip


def plan_window_layer(layer: Layer, in_type: FixedType, in_shape: tuple[int, ...], parallelism: int,
                      in_banks: np.ndarray | None = None, src_shapes: list[tuple[int, ...]] | None = None,
                      src_types: list[FixedType] | None = None) -> LayerPlan:
    """The window plan of a feature-map layer reading a ``in_shape`` map (what :func:`plan_design`
    calls for every feature-map layer: pooling, scale and element-wise layers need the input shape).
    ``in_banks``: the bank of each input channel when a window engine writes the map (depthwise
    stages then keep each channel in its bank's lane). ``src_shapes`` / ``src_types``: every input's
    shape and type (a residual ``Add`` or a ``Concat`` reads several)."""
    if isinstance(layer, AddLayer | ConcatLayer):
        return plan_merge(layer, src_types or [in_type], src_shapes or [in_shape], parallelism)
    if isinstance(layer, Conv2dLayer):
        return plan_conv(layer, in_type, parallelism)
    if isinstance(layer, MaxPool2dLayer):
        p = _weightless(
            layer,
            in_type,
            parallelism,
            op="max",
            kernel=layer.kernel,
            stride=layer.stride,
            pads=layer.pads,
            k=0,
            relu=layer.activation is Activation.RELU,
            reason=("max pooling" + (f" over {layer.channel_group} pixel phases" if layer.channel_group > 1 else "")
                    + (", then ReLU" if layer.activation is Activation.RELU else "")),
            in_banks=in_banks,
            group=layer.channel_group,
        )
        return _with_in_shape(p, in_shape)
    if isinstance(layer, AvgPool2dLayer):
        counts = np.unique(layer.counts(in_shape))
        k = _log2_exact(int(counts[0])) if counts.size == 1 else None
        if k is None:
            raise UnsupportedError(
                f"layer {layer.label}: average pooling divides by {', '.join(str(int(c)) for c in counts)}; the "
                "hardware divides by one power of two per layer (a 2x2 or 4x4 window, or count_include_pad=1); "
                "`fpga-flow run` (the bit-exact reference) works on this model"
            )
        p = _weightless(
            layer,
            in_type,
            parallelism,
            op="sum",
            kernel=layer.kernel,
            stride=layer.stride,
            pads=layer.pads,
            k=k,
            relu=False,
            reason=f"average pooling (sum, then / 2^{k})",
            in_banks=in_banks,
        )
        return _with_in_shape(p, in_shape)
    if isinstance(layer, ReluLayer | QuantizeLayer):
        relu = isinstance(layer, ReluLayer)
        p = _weightless(
            layer,
            in_type,
            parallelism,
            op="sum",
            kernel=(1, 1),
            stride=(1, 1),
            pads=(0, 0, 0, 0),
            k=0,
            relu=relu,
            reason="ReLU on a feature map" if relu else "requantization of a feature map",
            in_banks=in_banks,
        )
        return _with_in_shape(p, in_shape)
    if isinstance(layer, ScaleLayer):
        return _with_in_shape(plan_scale(layer, in_type, parallelism, in_banks), in_shape)
    raise UnsupportedError(
        f"layer {layer.label}: op '{layer.op}' on a feature map has no hardware planner yet (planned: conv2d, "
        "maxpool2d, avgpool2d, scale, relu, quantize); `fpga-flow inspect` and `fpga-flow run` work on this model"
    )


def plan_scale(layer: ScaleLayer, in_type: FixedType, parallelism: int, in_banks: np.ndarray | None = None
               ) -> LayerPlan:
    """A per-channel scale ``q(act(x * m_c + o_c) / 2^k_c)`` on a map: one tap of weight ``m_c``
    and bias ``o_c`` per channel, every channel aligned to the largest ``k`` (exact)."""
    ks = [_log2_exact(int(d)) for d in layer.divisor]
    if any(k is None for k in ks):
        raise UnsupportedError(
            f"layer {layer.label}: a per-channel scale divides by {sorted({int(d) for d in layer.divisor})}; "
            "the hardware divides by powers of two only; `fpga-flow run` (the bit-exact reference) works on this model"
        )
    kv = np.array([int(k) for k in ks if k is not None], np.int64)
    kmax = int(kv.max()) if kv.size else 0
    m = np.asarray(layer.mult, np.int64) << (kmax - kv)
    o = np.asarray(layer.offset, np.int64) << (kmax - kv)
    mt, ot = layer.mult_type, layer.offset_type
    wbits = max(2, max(int(v).bit_length() for v in np.abs(m)) + 1)
    obits = max(2, max(int(v).bit_length() for v in np.abs(o)) + 1)
    wt = FixedType(wbits, wbits - (mt.frac + kmax), True)
    bt = FixedType(obits, obits - (ot.frac + kmax), True)
    fa = layer.acc_type.frac + kmax
    fp = in_type.frac + wt.frac
    bound = max(
        (abs(int(a)) * in_type.max_abs_mantissa << (fa - fp)) + (abs(int(b)) << (fa - bt.frac))
        for a, b in zip(m.tolist(), o.tolist(), strict=True)
    )
    acc_bits = max(bound.bit_length() + 1, 2)
    for what, t in (("multiplier", wt), ("offset", bt)):
        if t.width > 53:
            raise UnsupportedError(f"layer {layer.label}: the {what} needs {t.width} bits, more than 53")
    c = layer.channels
    sched = _channel_schedule([1] * c, parallelism, in_banks)
    lanes = sched.lanes
    entries = _pad_entries(sched)
    col = np.zeros((lanes, entries), np.int64)
    val = np.zeros((lanes, entries), np.int64)
    last = np.ones((lanes, entries), np.int64)
    for lane, rows in enumerate(sched.lane_rows):
        col[lane, : len(rows)] = rows
        val[lane, : len(rows)] = m[list(rows)]
    col = _own_padding(col, sched)
    relu = layer.activation.value == "relu"
    fields = MacFields(
        wt.width, wt.width, True, wt.frac, bt.width, True, bt.frac, acc_bits, fa, in_type, layer.out_type, relu
    )
    shape = _fm(layer.shape)
    window = WindowPlan(shape, shape, (1, 1), (1, 1), (0, 0, 0, 0), "mac", entries)
    roms = (
        Rom("w", wt.width, val, wt.frac, True),
        *_index_roms(col, last, sched, bits_for(c)),
        Rom("b", bt.width, o, bt.frac, True),
    )
    return LayerPlan(
        layer, in_type, "window", "per-channel scale (a folded BatchNorm, Mul/Add by constants)", sched, fields,
        roms=roms, arrays={"col": col, "val": val, "last": last}, col_bits=bits_for(c),
        multiplies=c * window.out_pixels, window=window,
    )  # fmt: skip


def plan_merge(layer: AddLayer | ConcatLayer, src_types: list[FixedType], src_shapes: list[tuple[int, ...]],
               parallelism: int) -> LayerPlan:
    """A residual ``Add`` (output channel ``c`` sums tap ``c`` of every input) or a ``Concat`` (output
    channel ``c`` is one tap of the input holding it) on the window engine: ``sum`` taps of weight 1
    over the inputs' channels one after another, the exact sum cast once to the output type.

    Every input must have one type (:func:`fpga_flow.passes.align_merge_inputs` ensures it)."""
    t = src_types[0]
    if any((s.width, s.frac, s.signed) != (t.width, t.frac, t.signed) for s in src_types):
        raise UnsupportedError(
            f"layer {layer.label}: its inputs have different types ({', '.join(str(s) for s in src_types)}); "
            "the hardware reads them as one type (the lowering pass align_merge_inputs widens them)"
        )
    chans = tuple(_fm(s)[0] for s in src_shapes)
    c_out, h, w = _fm(layer.shape)
    n = len(chans)
    if isinstance(layer, AddLayer):
        taps = [[s * c_out + c for s in range(n)] for c in range(c_out)]
        reason = f"residual add of {n} maps"
    else:
        taps = [[c] for c in range(c_out)]
        reason = f"channel concatenation of {n} maps"
    sched = make_schedule([len(tp) for tp in taps], _lanes(c_out, parallelism))
    entries = _pad_entries(sched)
    col = np.zeros((sched.lanes, entries), np.int64)
    val = np.ones((sched.lanes, entries), np.int64)
    last = np.zeros((sched.lanes, entries), np.int64)
    for lane, rows in enumerate(sched.lane_rows):
        k = 0
        for c in rows:
            col[lane, k : k + len(taps[c])] = taps[c]
            last[lane, k + len(taps[c]) - 1] = 1
            k += len(taps[c])
        for _ in range(len(rows), sched.slots):
            last[lane, k] = 1
            k += 1
    col = _own_padding(col, sched)
    bound = n * t.max_abs_mantissa
    acc_bits = max(bound.bit_length() + 1, 2)
    fields = MacFields(2, 2, True, 0, 1, False, t.frac, acc_bits, t.frac, t, layer.out_type, False)
    window = WindowPlan((sum(chans), h, w), (c_out, h, w), (1, 1), (1, 1), (0, 0, 0, 0), "sum", entries, chans)
    return LayerPlan(
        layer, t, "window", reason, sched, fields, roms=_index_roms(col, last, sched, bits_for(sum(chans))),
        arrays={"col": col, "val": val, "last": last}, col_bits=bits_for(sum(chans)), window=window,
    )  # fmt: skip
