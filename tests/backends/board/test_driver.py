"""The PYNQ driver: the packing the board uses is the packing the testbenches use, bit for bit.

Without a board: the generated package is imported from the project tree (pynq absent), its
codec is compared with ``fpga_flow.stream`` on the ``tb_data/`` files the RTL and C testbenches
consume, and ``FpgaFlowOverlay.predict`` runs against a fake ``pynq`` whose AXI DMA behaves like
the real one in simple mode (a receive transfer ends at TLAST) and whose kernel is the bit-exact
reference fed through ``fpga_flow.stream``.
"""

from __future__ import annotations

import json
import py_compile
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import onnx
import pytest

from fpga_flow import fixed, stream
from fpga_flow.backends.board import DRIVER_PACKAGE, emit_board
from fpga_flow.boards import load_board
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.fixed import to_float
from fpga_flow.ir import Graph
from fpga_flow.onnx_io import read_onnx
from fpga_flow.pipeline import lower, make_stimulus
from fpga_flow.tbdata import TbData, read_tb_data, write_tb_data

from .helpers import load_driver, mlp, narrow_io


def codebook_mlp() -> Graph:
    """From ONNX: a pruned + codebook-shared QONNX MLP, 24 -> 16 -> 4 (accumulator output)."""
    model = sparse_mlp(24, [LayerSpec(16, sparsity=0.6, codebook_bits=3), LayerSpec(4, relu=False, act=None)], seed=5)
    return lower(read_onnx(model))


GRAPHS = {"mlp": mlp, "narrow_io": narrow_io, "codebook_onnx": codebook_mlp}


def project(root: Path, graph: Graph, board: str = "pynq-z2", n: int = 24) -> TbData:
    """The pieces of ``fpga-flow build`` the driver needs: tb_data/ (as the pipeline writes it) and the board files."""
    x = make_stimulus(graph, n)
    vals = graph.execute(x)
    tb = TbData(vals[graph.inputs[0].name], vals[graph.outputs[0]], graph.inputs[0].out_type,
                graph.output_layers[0].out_type)
    write_tb_data(root / "tb_data", tb)
    emit_board(graph, load_board(board), root, parallelism=2)
    return tb


def _beats(fmt: stream.StreamFormat, m: np.ndarray) -> list[int]:
    return [w for sample in fmt.pack(m) for w in sample]


def test_shared_modules_are_byte_copies(tmp_path):
    emit_board(mlp(), load_board("kv260"), tmp_path)
    pkg = tmp_path / "driver" / DRIVER_PACKAGE
    for mod in (stream, fixed):
        src = Path(mod.__file__)
        assert (pkg / src.name).read_bytes() == src.read_bytes()


def test_driver_imports_without_pynq(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynq", None)  # "import pynq" raises ImportError
    project(tmp_path, mlp())
    drv = load_driver(tmp_path)
    assert drv.load_codec().input.n == 32
    with pytest.raises(ImportError, match="needs pynq"):
        drv.FpgaFlowOverlay  # noqa: B018


@pytest.mark.parametrize("graph_name", sorted(GRAPHS))
def test_codec_round_trips_the_testbench_files(tmp_path, graph_name):
    graph = GRAPHS[graph_name]()
    project(tmp_path, graph)
    tb = read_tb_data(tmp_path / "tb_data")
    drv = load_driver(tmp_path)
    codec = drv.load_codec()
    cin, cout = codec.input, codec.output

    # the driver's formats are the testbench's (meta.json written by fpga_flow.tbdata)
    meta = json.loads((tmp_path / "tb_data" / "meta.json").read_text())
    for port, key in ((cin, "input_stream"), (cout, "output_stream")):
        f = port.fmt
        assert {"width": f.width, "per_beat": f.per_beat, "tdata_bits": f.tdata_bits, "beats": f.beats} == meta[key]
        assert port.dtype.byteorder in "<=" and port.dtype.itemsize * 8 == port.dma_bits >= f.tdata_bits
    assert cin.type.to_json() == meta["input_type"] and cout.type.to_json() == meta["output_type"]
    assert (tb.in_type, tb.out_type) == (graph.inputs[0].out_type, graph.output_layers[0].out_type)
    assert (cin.type.to_json(), cout.type.to_json()) == (tb.in_type.to_json(), tb.out_type.to_json())

    # floats -> mantissas: the same quantization as the reference's input layer
    x = make_stimulus(graph, 24)
    assert np.array_equal(codec.quantize(x), tb.inputs)
    assert np.array_equal(codec.quantize(codec.input_to_float(tb.inputs)), tb.inputs)
    assert np.array_equal(drv.read_mantissas(tmp_path / "tb_data" / "input_mantissas.txt"), tb.inputs)

    # mantissas -> send words == the beats the testbenches drive (fpga_flow.stream)
    words = codec.encode(x)
    assert words.dtype == cin.dtype and words.size == tb.inputs.shape[0] * cin.sample_words
    assert [int(w) for w in words] == _beats(tb.in_stream, tb.inputs)
    # in memory: little-endian words, element 0 in the lowest bits of the first byte
    raw = np.frombuffer(words.tobytes(), dtype=np.uint8).reshape(-1, cin.word_bytes)
    first = int(tb.inputs[0, 0]) & ((1 << cin.fmt.width) - 1)
    assert int(raw[0, 0]) == first & 0xFF
    assert not raw[:, cin.fmt.tdata_bits // 8:].any(), "bits above TDATA must be zero"

    # receive words (the beats the testbenches expect) -> mantissas and floats
    out_words = np.array(_beats(tb.out_stream, tb.expected), dtype=np.uint64).astype(cout.dtype)
    assert np.array_equal(codec.unpack(out_words), tb.expected)
    assert np.array_equal(codec.decode(out_words), to_float(tb.expected, tb.out_type))
    assert np.array_equal(codec.pack(tb.inputs), words)


@pytest.mark.parametrize("graph_name", sorted(GRAPHS))
def test_codec_reads_the_neutral_types_of_model_json(tmp_path, graph_name):
    """model.json carries each port type as FixedType.to_json(); the driver's copy of fixed.py reads it back."""
    graph = GRAPHS[graph_name]()
    project(tmp_path, graph)
    drv = load_driver(tmp_path)
    meta = json.loads(drv.MODEL_FILE.read_text())
    assert meta["format"] == 2
    want = {"input": graph.inputs[0].out_type, "output": graph.output_layers[0].out_type}
    codec = drv.load_codec()
    for key, t in want.items():
        assert meta[key]["type"] == t.to_json()
        assert set(meta[key]["type"]) == {"width", "integer", "signed", "rounding", "overflow"}
        got = getattr(codec, key).type
        # the driver's FixedType is its own class (the copied fixed.py), equal field by field
        assert type(got).__module__.endswith(".fixed") and type(got) is not fixed.FixedType
        assert (got.width, got.integer, got.signed, got.rounding.name, got.overflow.name) == (
            t.width, t.integer, t.signed, t.rounding.name, t.overflow.name)
        assert str(got) == str(t) and "ap_" not in json.dumps(meta[key])


@pytest.mark.parametrize(
    "bad, match",
    [
        ("ap_fixed<8,4,AP_RND_CONV,AP_SAT>", "JSON object"),
        ({"width": 8, "integer": 4, "signed": True, "rounding": "RND_CONV"}, "'overflow'"),
        ({"width": 8, "integer": 4, "signed": True, "rounding": "AP_RND_CONV", "overflow": "SAT"}, "'rounding'"),
        ({"width": "8", "integer": 4, "signed": True, "rounding": "TRN", "overflow": "SAT"}, "'width'"),
    ],
)
def test_codec_rejects_a_malformed_model_json_type(tmp_path, bad, match):
    project(tmp_path, mlp())
    drv = load_driver(tmp_path)
    meta = json.loads(drv.MODEL_FILE.read_text())
    meta["input"]["type"] = bad
    with pytest.raises(ValueError, match=match) as info:
        drv.StreamCodec.from_meta(meta)
    assert "model.json type" in str(info.value) and "regenerate the driver" in str(info.value)


def test_codec_rejects_a_model_json_that_disagrees_with_stream_py(tmp_path):
    project(tmp_path, mlp())
    drv = load_driver(tmp_path)
    meta = json.loads(drv.MODEL_FILE.read_text())
    meta["input"]["per_beat"] += 1
    with pytest.raises(ValueError, match="disagrees"):
        drv.StreamCodec.from_meta(meta)


# ------------------------------------------------------------------ fake pynq
class _Buffer(np.ndarray):
    physical_address = 0x1000_0000

    def flush(self) -> None:
        pass

    def invalidate(self) -> None:
        pass

    def freebuffer(self) -> None:
        pass


class _Kernel:
    """The hardware: TDATA words in, bit-exact reference, TDATA words out (fpga_flow.stream packing)."""

    def __init__(self, graph: Graph, meta: dict) -> None:
        self.graph = graph
        self.fin = stream.stream_format(meta["input"]["width"], meta["input"]["signed"], meta["input"]["n"])
        self.fout = stream.stream_format(meta["output"]["width"], meta["output"]["signed"], meta["output"]["n"])
        self.pending_in: list[int] = []
        self.out_samples: list[list[int]] = []

    def consume(self, words: list[int]) -> None:
        assert all(w >> self.fin.tdata_bits == 0 for w in words), "padding bits must be zero"
        self.pending_in += words
        while len(self.pending_in) >= self.fin.beats:
            sample, self.pending_in = self.pending_in[: self.fin.beats], self.pending_in[self.fin.beats :]
            m = self.fin.unpack([sample])
            y = self.graph.execute({self.graph.inputs[0].name: m}, quantized=True)[self.graph.outputs[0]]
            self.out_samples += self.fout.pack(y)


class _Channel:
    def __init__(self, kernel: _Kernel, send: bool, stall: bool = False) -> None:
        self.kernel, self.send, self.stall = kernel, send, stall
        self.pending = None
        self.transferred = 0

    def transfer(self, array, start=0, nbytes=0) -> None:
        assert self.pending is None, "transfer on a busy channel"
        nbytes = nbytes or array.nbytes - start
        assert start % array.itemsize == 0 and nbytes % array.itemsize == 0
        lo, hi = start // array.itemsize, (start + nbytes) // array.itemsize
        if self.send:
            self.kernel.consume([int(w) for w in array[lo:hi]])
            self.transferred = nbytes
        else:
            self.pending = (array, lo, hi)

    @property
    def idle(self) -> bool:
        if self.pending is not None and self.kernel.out_samples and not self.stall:
            array, lo, hi = self.pending
            sample = self.kernel.out_samples.pop(0)  # the S2MM transfer ends at this sample's TLAST
            assert len(sample) <= hi - lo, "S2MM buffer shorter than the packet"
            array[lo : lo + len(sample)] = sample
            self.transferred = len(sample) * array.itemsize
            self.pending = None
        return self.pending is None

    def wait(self) -> None:
        assert self.idle


def _fake_pynq(graph: Graph, meta: dict, stall: bool = False) -> types.ModuleType:
    mod = types.ModuleType("pynq")

    class Overlay:
        def __init__(self, bitfile_name, **kwargs) -> None:
            self.bitfile_name = bitfile_name
            kernel = _Kernel(graph, meta)
            dma = types.SimpleNamespace(sendchannel=_Channel(kernel, True), recvchannel=_Channel(kernel, False, stall))
            setattr(self, meta["dma"], dma)

    def allocate(shape, dtype):
        return np.zeros(shape, dtype=dtype).view(_Buffer)

    mod.Overlay = Overlay
    mod.allocate = allocate
    return mod


@pytest.mark.parametrize("graph_name", sorted(GRAPHS))
def test_predict_through_a_simple_mode_dma(tmp_path, monkeypatch, graph_name):
    graph = GRAPHS[graph_name]()
    tb = project(tmp_path, graph, board="ultra96-v2")
    (tmp_path / "driver" / "fpga_flow.bit").write_bytes(b"bit")
    drv = load_driver(tmp_path)
    meta = json.loads(drv.MODEL_FILE.read_text())
    monkeypatch.setitem(sys.modules, "pynq", _fake_pynq(graph, meta))
    ol = drv.FpgaFlowOverlay(batch_size=5)  # 24 samples: rounds of 5, 5, 5, 5, 4
    assert np.array_equal(ol.predict_mantissas(tb.inputs), tb.expected)
    x = make_stimulus(graph, 24, seed=9)
    assert np.array_equal(ol.predict(x), graph.run_float(x))
    assert np.array_equal(ol.predict(x[3]), graph.run_float(x[3:4]))
    ol.close()


def test_predict_times_out_when_the_kernel_sends_nothing(tmp_path, monkeypatch):
    graph = mlp()
    project(tmp_path, graph)
    (tmp_path / "driver" / "fpga_flow.bit").write_bytes(b"bit")
    drv = load_driver(tmp_path)
    meta = json.loads(drv.MODEL_FILE.read_text())
    monkeypatch.setitem(sys.modules, "pynq", _fake_pynq(graph, meta, stall=True))
    ol = drv.FpgaFlowOverlay(timeout=0.05)
    with pytest.raises(TimeoutError, match="output sample 1 of 2"):
        ol.predict(make_stimulus(graph, 2))


def test_overlay_names_the_missing_bitstream(tmp_path, monkeypatch):
    graph = mlp()
    project(tmp_path, graph)
    drv = load_driver(tmp_path)
    monkeypatch.setitem(sys.modules, "pynq", _fake_pynq(graph, json.loads(drv.MODEL_FILE.read_text())))
    with pytest.raises(FileNotFoundError, match="make bitstream"):
        drv.FpgaFlowOverlay()


def test_generated_python_compiles_and_is_lint_clean(tmp_path):
    project(tmp_path, mlp())
    files = sorted((tmp_path / "driver").rglob("*.py"))
    assert {f.name for f in files} == {"example.py", "__init__.py", "codec.py", "overlay.py", "stream.py", "fixed.py"}
    for f in files:
        py_compile.compile(str(f), doraise=True, cfile=str(tmp_path / "pyc" / (f.name + "c")))
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed next to this Python")
    res = subprocess.run([str(ruff), "check", "--isolated", "--no-cache", "--line-length", "120", "--target-version",
                          "py310", "--select", "E,F,W,I,B,UP", "--ignore", "E741", str(tmp_path / "driver")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_example_script_reports_bit_exact(tmp_path, monkeypatch, capsys):
    """driver/example.py, run as on the board (pynq faked), replays tb_data/ and finds it bit-exact."""
    import runpy

    graph = mlp()
    project(tmp_path, graph)
    (tmp_path / "driver" / "fpga_flow.bit").write_bytes(b"bit")
    meta = json.loads((tmp_path / "driver" / DRIVER_PACKAGE / "model.json").read_text())
    monkeypatch.setitem(sys.modules, "pynq", _fake_pynq(graph, meta))
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in [m for m in sys.modules if m.split(".")[0] == DRIVER_PACKAGE]:
        monkeypatch.delitem(sys.modules, name)
    try:
        runpy.run_path(str(tmp_path / "driver" / "example.py"), run_name="__main__")
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == DRIVER_PACKAGE]:
            del sys.modules[name]
    out = capsys.readouterr().out
    assert "24 samples: bit-exact" in out and "samples/s" in out


def _scaled_model() -> onnx.ModelProto:
    """A QONNX MLP with float scales, an input zero point and a float bias (as Brevitas' defaults
    write them): integers on the datapath, the scales applied on the host."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(4)
    qd = "qonnx.custom_op.general"
    inits = [numpy_helper.from_array(rng.normal(size=(6, 5)).astype(np.float32) * 0.3, "W"),
             numpy_helper.from_array(rng.normal(size=5).astype(np.float32) * 0.1, "b")]
    nodes = []
    for name, src, scale, zp, signed in (("xq", "x", 0.0123, 3.0, 0), ("wq", "W", 0.00897, 0.0, 1)):
        inits += [numpy_helper.from_array(np.array(scale, np.float32), name + "_s"),
                  numpy_helper.from_array(np.array(zp, np.float32), name + "_z"),
                  numpy_helper.from_array(np.array(8.0, np.float32), name + "_b")]
        nodes.append(helper.make_node("Quant", [src, name + "_s", name + "_z", name + "_b"], [name], domain=qd,
                                      signed=signed, narrow=0, rounding_mode="ROUND"))
    nodes += [helper.make_node("MatMul", ["xq", "wq"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["y"])]
    graph = helper.make_graph(nodes, "scaled", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(qd, 1)])


def test_codec_quantizes_and_dequantizes_scales_that_are_not_powers_of_two(tmp_path):
    from tests.exact_onnx import run_exact

    model = _scaled_model()
    graph = lower(read_onnx(model))
    x = np.random.default_rng(5).uniform(-1, 4, size=(24, 6))
    vals = graph.execute(x)
    inp = graph.inputs[0]
    tb = TbData(vals[inp.name], vals[graph.outputs[0]], inp.out_type, graph.output_layers[0].out_type,
                in_factor=inp.factor, in_zero_point=inp.zero_point, out_dequant=graph.output_dequant(graph.outputs[0]))
    write_tb_data(tmp_path / "tb_data", tb)
    emit_board(graph, load_board("pynq-z2"), tmp_path, parallelism=2)
    back = read_tb_data(tmp_path / "tb_data")
    assert back.in_factor == inp.factor and back.in_zero_point == 3 and back.out_dequant == tb.out_dequant
    codec = load_driver(tmp_path).load_codec()
    # floats -> mantissas as the input layer does: round(x / 0.0123) + 3 clamped to [0, 255], exactly
    q = codec.quantize(x)
    assert np.array_equal(q, tb.inputs) and np.array_equal(q, back.quantize_input(x))
    # words from the kernel -> the model's real outputs, equal to the independent exact interpreter
    words = np.array(_beats(tb.out_stream, tb.expected), dtype=np.uint64).astype(codec.output.dtype)
    exact = np.vectorize(float, otypes=[np.float64])(run_exact(model, x))
    np.testing.assert_array_equal(codec.decode(words), exact)
    np.testing.assert_array_equal(back.output_values(tb.expected), exact)
