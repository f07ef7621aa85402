#!/usr/bin/env bash
# make demo-cnn: LeNet-5 end to end on Fashion-MNIST (Debian's dataset-fashion-mnist, installed by
# `make setup`): compress, build for the PYNQ-Z2, then prove csim = cosim = the bit-exact reference
# on 256 test images. Every step exits non-zero on a mismatch.
set -euo pipefail
OUT=demo_cnn_out
QUICK=${QUICK:-}            # QUICK=--quick for a short training run
P=${P:-8}                   # lanes per layer
mkdir -p "$OUT"

echo "== 1. compress LeNet-5 on Fashion-MNIST: train, prune, QAT, share weights, export QONNX"
fpga-flow compress --example lenet5 --dataset fashion-mnist -o "$OUT/model.onnx" $QUICK

echo "== 2. fpga-flow inspect: convolutions, pooling, sparsity, the plan at P=$P"
fpga-flow inspect "$OUT/model.onnx" --parallelism "$P"

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
print(f"reference vs torch: {same}/{len(ref)} images bit-identical; accuracy on them {np.mean(ref.argmax(1) == labels):.3f}")
sys.exit(0 if same == len(ref) else 1)
PY

echo "== 4. fpga-flow build for the PYNQ-Z2 at P=$P, stimulus: the 256 test images"
fpga-flow build "$OUT/model.onnx" --board pynq-z2 -o "$OUT/pynq-z2" --parallelism "$P" \
    --stimulus "$OUT/model_report/stimulus_x.npy" --strict

echo "== 5. fpga-flow csim: HLS C++ compiled with g++ and the ap_fixed headers = reference"
fpga-flow csim "$OUT/pynq-z2"

echo "== 6. fpga-flow cosim: Verilog under cocotb + Verilator, ideal stream and random stalls = reference"
fpga-flow cosim "$OUT/pynq-z2"

echo "== done: $OUT/model_report/compression_report.md, $OUT/pynq-z2/report.md, $OUT/pynq-z2/README.md"
