"""Compression report: storage in three accountings, accuracies, plots (``compression_report.*``).

Storage of the weights and biases, in bits:

* **dense float32**: every weight and bias in 32 bits (the paper's baseline).
* **hardware format**: what the backends store for each shared layer, from the exported model read
  back by :func:`fpga_flow.onnx_io.read_onnx` (in :mod:`fpga_flow.verify_export`) and costed by
  :func:`fpga_flow.analysis.storage.storage_cost` (codebook-CSR): per nonzero a column index of
  ``ceil(log2 n_in)`` bits and a code of ``ceil(log2 K)`` bits, ``n_out + 1`` row pointers of
  ``bitlen(nnz)`` bits, the ``K`` codebook values in the weight type; plus each bias in its type.
  A convolution is its 2-D storage: one row per output channel, ``n_in = C_in/groups * kh * kw``
  columns (the flattened ``(ci, ky, kx)`` window).
* **Huffman**: the same content with the code indices and the relative column indices (zeros
  skipped since the previous nonzero of the row, over those columns) each Huffman-coded per layer
  (:mod:`fpga_flow.compress.huffman`; the streams are really encoded and decoded back, and the
  canonical code tables are counted), row pointers, codebook and biases as in the hardware format.

Ratios are dense float32 bits over each of the other two, and hardware over Huffman.

With ``config.sensitivity`` the report also holds the per-layer sensitivity table (``sensitivity``;
a Markdown table, the plot ``sensitivity.png``) and, when a target density chose the per-layer
densities, the allocation and the preset's densities it replaced
(:mod:`fpga_flow.compress.sensitivity`). ``threads`` is the torch thread count the run used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fpga_flow.compress.huffman import absolute_columns, decode, encode, huffman_code, relative_columns
from fpga_flow.fixed import FixedType, Overflow, Rounding

if TYPE_CHECKING:
    from fpga_flow.compress.data import Dataset
    from fpga_flow.compress.flow import CompressConfig
    from fpga_flow.compress.graphnet import Compressible
    from fpga_flow.ir import Graph

__all__ = ["build_report", "huffman_layer", "markdown", "write_report"]

#: The paper's row for LeNet-300-100 on MNIST (Han, Mao, Dally 2015, Table 1).
PAPER_LENET300 = {
    "model": "LeNet-300-100",
    "dataset": "MNIST",
    "compression_ratio": 40,
    "top1_error_dense": 0.0164,
    "top1_error_compressed": 0.0158,
    "weights_kept": 0.08,
    "size_dense_kb": 1070,
    "size_compressed_kb": 27,
}

#: The paper's LeNet-5 on MNIST (Table 1; per layer Table 3: weights kept after pruning and the
#: codebook bits of the quantized weights). The paper's ``ip1``/``ip2`` are ``fc1``/``fc2`` here.
PAPER_LENET5 = {
    "model": "LeNet-5",
    "dataset": "MNIST",
    "compression_ratio": 39,
    "top1_error_dense": 0.0080,
    "top1_error_compressed": 0.0074,
    "weights_kept": 0.08,
    "size_dense_kb": 1720,
    "size_compressed_kb": 44,
    "layers": {
        "conv1": {"paper_name": "conv1", "weights": 500, "kept": 0.66, "codebook_bits": 8},
        "conv2": {"paper_name": "conv2", "weights": 25000, "kept": 0.12, "codebook_bits": 8},
        "fc1": {"paper_name": "ip1", "weights": 400000, "kept": 0.08, "codebook_bits": 5},
        "fc2": {"paper_name": "ip2", "weights": 5000, "kept": 0.19, "codebook_bits": 5},
    },
}

#: The paper's figures by example name.
PAPER = {"lenet300": PAPER_LENET300, "lenet5": PAPER_LENET5}


def huffman_layer(row_ptr: np.ndarray, col_idx: np.ndarray, codes: np.ndarray, code_bits: int,
                  col_bits: int) -> dict:
    """Huffman-code one CSR layer's code indices and relative column indices; verify the decode.

    Returns the payload and table bits of each stream and the mean bits per nonzero.
    """
    out: dict = {}
    streams = {"codes": (np.asarray(codes, dtype=np.int64), code_bits),
               "relative_columns": (relative_columns(row_ptr, col_idx), col_bits)}
    for name, (s, sym_bits) in streams.items():
        code = huffman_code(s)
        data, nbits = encode(s, code)
        back = decode(data, nbits, code, count=s.size)
        if not np.array_equal(back, s):  # pragma: no cover - would be a bug in huffman.py
            raise AssertionError(f"Huffman round trip failed for {name}")
        if name == "relative_columns" and not np.array_equal(absolute_columns(row_ptr, back), col_idx):
            raise AssertionError("relative column indices do not restore the columns")  # pragma: no cover
        table = code.table_bits(sym_bits)
        out[name] = {
            "symbols": int(s.size),
            "distinct": len(code.lengths),
            "payload_bits": int(nbits),
            "table_bits": int(table),
            "fixed_width_bits": int(s.size * sym_bits),
            "bits_per_symbol": float(nbits / s.size) if s.size else 0.0,
        }
    return out


def build_report(*, model: Compressible, graph: Graph, data: Dataset, config: CompressConfig,
                 accuracies: Mapping[str, float], types: Mapping[str, FixedType], timings: Mapping[str, float],
                 bit_exact_samples: int) -> dict[str, Any]:
    """The report as a JSON-ready dict (see the module doc for the accounting).

    ``graph`` is the exported model as read back by :func:`fpga_flow.onnx_io.read_onnx` (not
    lowered: its layers hold the codebook-CSR weights the export wrote); its MAC layers (dense and
    convolution) are the model's weighted layers, in order.
    """
    from fpga_flow.analysis.storage import storage_cost
    from fpga_flow.ir import CodebookCsrWeights

    mac_layers = graph.mac_layers()
    if len(mac_layers) != len(model.layers):  # pragma: no cover - the export writes one per layer
        raise AssertionError(f"read back {len(mac_layers)} MAC layers for {len(model.layers)} weighted layers")
    layers: list[dict[str, Any]] = []
    tot = {"dense_float32": 0, "hardware": 0, "huffman": 0, "pruned_csr_float32": 0}
    for lay_t, lay in zip(model.layers, mac_layers, strict=True):
        w = lay.weights
        if not isinstance(w, CodebookCsrWeights):  # pragma: no cover - export always shares
            raise AssertionError(f"layer {lay.name}: expected codebook storage after export")
        cost = storage_cost(lay)
        assert cost.codebook is not None and cost.code_bits is not None
        n_out, n_in = lay.rows, lay.row_length
        n_w = n_in * n_out
        bias_bits = n_out * lay.bias_type.width
        dense_bits = (n_w + n_out) * 32
        hw_bits = cost.codebook + bias_bits
        huff = huffman_layer(w.row_ptr, w.col_idx, w.codes, cost.code_bits, cost.col_bits)
        ptr_bits = (n_out + 1) * cost.ptr_bits
        book_bits = int(w.codebook.size) * lay.weight_type.width
        huff_bits = (
            huff["codes"]["payload_bits"] + huff["codes"]["table_bits"]
            + huff["relative_columns"]["payload_bits"] + huff["relative_columns"]["table_bits"]
            + ptr_bits + book_bits + bias_bits
        )
        pruned_csr = lay.nnz * (32 + cost.col_bits) + ptr_bits + n_out * 32
        tot["dense_float32"] += dense_bits
        tot["hardware"] += hw_bits
        tot["huffman"] += huff_bits
        tot["pruned_csr_float32"] += pruned_csr
        layers.append({
            "name": lay_t.name,
            "kind": lay_t.kind,
            "weight_shape": [int(d) for d in lay_t.weight.shape],
            "n_in": n_in,
            "n_out": n_out,
            "weights": n_w,
            "nonzero": lay.nnz,
            "density": lay.nnz / n_w,
            "codebook_size": int(w.codebook.size),
            "distinct_nonzero_values": int(np.unique(w.values).size),
            "weight_type": lay.weight_type.to_json(),
            "bias_type": lay.bias_type.to_json(),
            "activation_type": act_t.to_json() if (act_t := types.get(f"{lay_t.name}.act")) is not None else None,
            "code_bits": cost.code_bits,
            "col_bits": cost.col_bits,
            "row_ptr_bits": cost.ptr_bits,
            "bits": {
                "dense_float32": dense_bits,
                "hardware": hw_bits,
                "huffman": huff_bits,
                "pruned_csr_float32": pruned_csr,
                "bias": bias_bits,
                "row_ptr": ptr_bits,
                "codebook": book_bits,
                "storage_cost": cost.as_dict(),
            },
            "huffman": huff,
        })
    ratios = {
        "hardware": tot["dense_float32"] / tot["hardware"],
        "huffman": tot["dense_float32"] / tot["huffman"],
        "huffman_vs_hardware": tot["hardware"] / tot["huffman"],
        "pruned_only": tot["dense_float32"] / tot["pruned_csr_float32"],
    }
    n_w = sum(x["weights"] for x in layers)
    nnz = sum(x["nonzero"] for x in layers)
    cfg = _config_dict(config)
    sens = getattr(config, "sensitivity", None)
    if isinstance(cfg, dict) and isinstance(cfg.get("sensitivity"), dict):  # the settings; results below
        cfg["sensitivity"] = {k: cfg["sensitivity"][k] for k in ("densities", "target_density")}
    return {
        "model": {"name": model.name, "architecture": model.describe(), "input_shape": list(model.input_shape),
                  "dataset": data.name, "train_samples": int(data.x_train.shape[0]),
                  "test_samples": int(data.x_test.shape[0])},
        "accuracy": {k: float(v) for k, v in accuracies.items()},
        "accuracy_drop_pp": 100.0 * (accuracies["dense"] - accuracies["final"]),
        "bit_exact": {"test_samples": bit_exact_samples, "equal": True,
                      "what": "fpga-flow reference (read_onnx + lower + run_float) == torch float64 forward"},
        "bits": tot,
        "ratios": ratios,
        "density": nnz / n_w,
        "types": {k: v.to_json() for k, v in types.items()},
        "layers": layers,
        "timings_s": {k: round(float(v), 2) for k, v in timings.items()},
        "threads": getattr(config, "threads", None),
        "config": cfg,
        "sensitivity": sens.to_report() if sens is not None and sens.table is not None else None,
        "paper": PAPER.get(model.name),
    }


def _config_dict(config: object) -> Any:
    """The config as JSON data: fixed-point types in their neutral form, modes by name."""
    from dataclasses import fields, is_dataclass

    def conv(v: object) -> Any:
        if isinstance(v, FixedType):
            return v.to_json()
        if isinstance(v, Rounding | Overflow):
            return v.name
        if is_dataclass(v) and not isinstance(v, type):
            return {f.name: conv(getattr(v, f.name)) for f in fields(v)}
        if isinstance(v, Mapping):
            return {str(k): conv(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [conv(x) for x in v]
        if hasattr(v, "value"):
            return v.value
        return v

    return conv(config)


def _type_text(t: Mapping[str, object]) -> str:
    """A type of the report (neutral JSON form) in the neutral notation, ``fixed<8,1,RND_CONV,SAT>``."""
    return str(FixedType.from_json(t))


def markdown(report: dict) -> str:
    """Human-readable Markdown of :func:`build_report`'s dict."""
    a, b, r = report["accuracy"], report["bits"], report["ratios"]
    m = report["model"]
    lines = [
        f"# Compression report: {m['name']} ({m['architecture']}) on {m['dataset']}",
        "",
        "## Accuracy (test set, top-1)",
        "",
        "| stage | accuracy |",
        "| --- | ---: |",
    ]
    labels = [("dense", "dense float32"), ("pruned", "pruned (float)"),
              ("quantized_before_finetune", "fixed point, before QAT"), ("quantized", "fixed point after QAT"),
              ("shared_before_finetune", "weight-shared, before centroid fine-tuning"),
              ("final", "final (shared, fine-tuned)"), ("exported_reference", "exported, fpga-flow reference")]
    for key, label in labels:
        if key in a:
            lines.append(f"| {label} | {100 * a[key]:.2f}% |")
    lines += [
        "",
        f"Final vs dense: {-report['accuracy_drop_pp']:+.2f} percentage points. The exported model, read back and run "
        f"by the fpga-flow reference, equals the torch forward bit for bit on {report['bit_exact']['test_samples']} "
        "test samples.",
        "",
        "## Storage (weights and biases)",
        "",
        "| accounting | bits | KiB | ratio vs dense |",
        "| --- | ---: | ---: | ---: |",
        f"| dense float32 | {b['dense_float32']} | {b['dense_float32'] / 8192:.1f} | 1.0x |",
        f"| pruned only, CSR with float32 values | {b['pruned_csr_float32']} | {b['pruned_csr_float32'] / 8192:.1f} "
        f"| {r['pruned_only']:.1f}x |",
        f"| hardware format (codebook CSR) | {b['hardware']} | {b['hardware'] / 8192:.1f} | {r['hardware']:.1f}x |",
        f"| Huffman-coded | {b['huffman']} | {b['huffman'] / 8192:.1f} | {r['huffman']:.1f}x |",
        "",
        f"Huffman over hardware format: {r['huffman_vs_hardware']:.2f}x. "
        f"Overall density {100 * report['density']:.2f}%.",
        "",
        "## Layers",
        "",
        "| layer | shape | density | K | weight type | bias type | activation type | code / col bits "
        "| Huffman bits per code / col | hardware bits | Huffman bits |",
        "| --- | --- | ---: | ---: | --- | --- | --- | --- | --- | ---: | ---: |",
    ]
    for lay in report["layers"]:
        h = lay["huffman"]
        lines.append(
            f"| {lay['name']} | {_shape_text(lay)} | {100 * lay['density']:.2f}% | {lay['codebook_size']} "
            f"| `{_type_text(lay['weight_type'])}` | `{_type_text(lay['bias_type'])}` "
            f"| `{_type_text(lay['activation_type']) if lay['activation_type'] else '(accumulator)'}` "
            f"| {lay['code_bits']} / {lay['col_bits']} "
            f"| {h['codes']['bits_per_symbol']:.2f} / {h['relative_columns']['bits_per_symbol']:.2f} "
            f"| {lay['bits']['hardware']} | {lay['bits']['huffman']} |"
        )
    if report.get("sensitivity"):
        from fpga_flow.compress.sensitivity import markdown_lines

        lines += markdown_lines(report["sensitivity"])
    if report.get("paper"):
        lines += _paper_lines(report)
    lines += [
        "",
        "## Time",
        "",
        " | ".join(f"{k} {v:.1f} s" for k, v in report["timings_s"].items()),
        "",
    ]
    if report.get("threads") is not None:
        lines += [f"torch CPU threads: {report['threads']} (another count may change the last bits of the "
                  "float sums, hence of the results; a fixed count is deterministic).", ""]
    if report.get("plots"):
        lines += ["## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in report["plots"]] + [""]
    return "\n".join(lines)


def _shape_text(lay: Mapping[str, Any]) -> str:
    """``n_in x n_out`` of a dense layer; the weight shape and the row length of a convolution."""
    if lay.get("kind") == "conv2d":
        return f"{'x'.join(map(str, lay['weight_shape']))} ({lay['n_out']} rows of {lay['n_in']})"
    return f"{lay['n_in']}x{lay['n_out']}"


def _paper_lines(report: dict) -> list[str]:
    """The paper's row next to this run's (and, when the paper gives them, per-layer figures)."""
    p, a, r, m = report["paper"], report["accuracy"], report["ratios"], report["model"]
    lines = [
        "",
        f"## Reference: Deep Compression (Han, Mao, Dally 2015), {p['model']}",
        "",
        "| | data set | top-1 error dense -> compressed | weights kept | compression |",
        "| --- | --- | --- | ---: | ---: |",
        f"| paper | {p['dataset']} | {100 * p['top1_error_dense']:.2f}% -> {100 * p['top1_error_compressed']:.2f}% "
        f"| {100 * p['weights_kept']:.0f}% | {p['compression_ratio']}x |",
        f"| this run | {m['dataset']} | {100 * (1 - a['dense']):.2f}% -> {100 * (1 - a['final']):.2f}% "
        f"| {100 * report['density']:.1f}% | {r['huffman']:.1f}x (Huffman), {r['hardware']:.1f}x (hardware) |",
    ]
    if p.get("layers"):
        lines += [
            "",
            "| layer (paper's name) | weights | kept: paper | kept: this run | codebook bits: paper | this run |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for lay in report["layers"]:
            ref = p["layers"].get(lay["name"])
            if ref is None:
                continue
            lines.append(
                f"| {lay['name']} ({ref['paper_name']}) | {lay['weights']} | {100 * ref['kept']:.0f}% "
                f"| {100 * lay['density']:.1f}% | {ref['codebook_bits']} | {lay['code_bits']} |"
            )
    return lines


def _plots(report: dict, out: Path, snapshots: dict, codebooks: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for lay in report["layers"]:
        name = lay["name"]
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
        dense = snapshots["dense"][name].ravel()
        axes[0].hist(dense, bins=120, color="#4c72b0")
        axes[0].set_title(f"{name}: dense weights ({dense.size})")
        axes[0].set_xlabel("weight")
        axes[0].set_ylabel("count")
        pruned = snapshots["pruned"][name].ravel()
        kept = pruned[pruned != 0]
        axes[1].hist(kept, bins=120, color="#55a868", label=f"after pruning ({kept.size} kept)")
        book = np.asarray(codebooks[name]).ravel()
        lw, alpha = (0.8, 0.8) if book.size <= 64 else (0.3, 0.5)  # 256 lines would hide the histogram
        for i, c in enumerate(book):
            axes[1].axvline(c, color="#c44e52", lw=lw, alpha=alpha, label="codebook centroids" if i == 0 else None)
        axes[1].set_title(f"{name}: pruned weights and K={lay['codebook_size']} shared values")
        axes[1].set_xlabel("weight")
        axes[1].legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        p = out / f"weights_{name}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    names = [lay["name"] for lay in report["layers"]]
    dens = [100 * lay["density"] for lay in report["layers"]]
    bars = ax.bar(names, dens, color="#4c72b0")
    for bar, d in zip(bars, dens, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{d:.1f}%", ha="center", va="bottom")
    ax.set_ylabel("weights kept (%)")
    ax.set_title("per-layer density after pruning")
    ax.set_ylim(0, max(dens) * 1.2)
    fig.tight_layout()
    p = out / "density.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)
    if report.get("sensitivity") and report["sensitivity"].get("table"):
        from fpga_flow.compress.sensitivity import plot_sensitivity

        paths.append(plot_sensitivity(report["sensitivity"], out / "sensitivity.png"))
    return paths


def write_report(report: dict, out_dir: Path, *, snapshots: dict, codebooks: dict,
                 stimulus: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> dict[str, Path]:
    """Write ``compression_report.json`` and ``.md``, the PNG plots and (optionally) a stimulus
    (``stimulus_x.npy`` float32 inputs, ``stimulus_y.npy`` the expected float64 outputs that
    ``fpga-flow run`` reproduces exactly, ``stimulus_labels.npy``) into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    plots = _plots(report, out_dir, snapshots, codebooks)
    report["plots"] = [str(p) for p in plots]
    for p in plots:
        files[p.stem] = p
    if stimulus is not None:
        for key, arr in zip(("stimulus_x", "stimulus_y", "stimulus_labels"), stimulus, strict=True):
            p = out_dir / f"{key}.npy"
            np.save(p, arr)
            files[key] = p
    files["report_json"] = out_dir / "compression_report.json"
    files["report_md"] = out_dir / "compression_report.md"
    report["files"] = {k: str(v) for k, v in files.items()}
    _atomic_write(files["report_json"], json.dumps(report, indent=2) + "\n")
    _atomic_write(files["report_md"], markdown(report))
    return files


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
