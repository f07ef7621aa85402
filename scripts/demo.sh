#!/usr/bin/env bash
# make demo: the main job end to end on package-provided data (Fashion-MNIST from Debian's
# dataset-fashion-mnist, installed by `make setup`). Every step exits non-zero on a mismatch.
set -euo pipefail
OUT=demo_out
QUICK=${QUICK:-}            # QUICK=--quick for a short training run
P=${P:-auto}                # MAC lanes per layer, or auto: chosen per layer (the fastest design that fits)
mkdir -p "$OUT"

echo "== 1. compress LeNet-300-100 on Fashion-MNIST: train, prune, QAT, share weights, export QONNX"
fpga-flow compress --example lenet300 --dataset fashion-mnist -o "$OUT/model.onnx" $QUICK

echo "== 2. fpga-flow inspect: layers, sparsity, types, storage chosen"
fpga-flow inspect "$OUT/model.onnx"

echo "== 3. fpga-flow run: the bit-exact fixed-point reference equals the fake-quantized torch model"
fpga-flow run "$OUT/model.onnx" --input "$OUT/model_report/stimulus_x.npy" --output "$OUT/y_ref.npy"
python - "$OUT" <<'PY'
import sys
import numpy as np
out = sys.argv[1]
ref = np.load(f"{out}/y_ref.npy")
torch_y = np.load(f"{out}/model_report/stimulus_y.npy")
labels = np.load(f"{out}/model_report/stimulus_labels.npy")
same = int(np.sum(np.all(ref == torch_y, axis=1)))
print(f"reference vs torch: {same}/{len(ref)} samples bit-identical; "
      f"accuracy on them {np.mean(ref.argmax(1) == labels):.3f}")
sys.exit(0 if same == len(ref) else 1)
PY

echo "== 4. fpga-flow build for the PYNQ-Z2 (HLS C++, Verilog, block design, driver, report)"
fpga-flow build "$OUT/model.onnx" --board pynq-z2 -o "$OUT/pynq-z2" --parallelism "$P" \
    --stimulus "$OUT/model_report/stimulus_x.npy" --strict

echo "== 5. fpga-flow csim: HLS C++ compiled with g++ and the ap_fixed headers = reference"
fpga-flow csim "$OUT/pynq-z2"

echo "== 6. fpga-flow cosim: Verilog under cocotb + Verilator with random stalls = reference"
fpga-flow cosim "$OUT/pynq-z2"

echo "== 7. fpga-flow synth: yosys synth_xilinx figures against the XC7Z020"
fpga-flow synth "$OUT/pynq-z2"

echo "== done: $OUT/model_report/compression_report.md, $OUT/pynq-z2/report.md, $OUT/pynq-z2/README.md"
