#!/usr/bin/env bash
# make demo: the main job end to end on package-provided data.
set -euo pipefail
OUT=demo_out
mkdir -p "$OUT"
echo "== 1. an example 784-300-100-10 QONNX MLP, 90% pruned, first layer weight-shared"
python - <<'PY'
import numpy as np, onnx
from fpga_flow.examples import LayerSpec, sparse_mlp
m = sparse_mlp(784, [LayerSpec(300, codebook_bits=4), LayerSpec(100), LayerSpec(10, relu=False, act=None)],
               name="demo_lenet300")
onnx.save(m, "demo_out/model.onnx")
np.save("demo_out/x.npy", np.random.default_rng(0).uniform(-4, 4, size=(100, 784)))
PY
echo "== 2. fpga-flow inspect"
fpga-flow inspect "$OUT/model.onnx"
echo "== 3. fpga-flow run (bit-exact fixed-point reference)"
fpga-flow run "$OUT/model.onnx" --input "$OUT/x.npy" --output "$OUT/y.npy"
python -c "import numpy as np; y=np.load('$OUT/y.npy'); print('first output row:', y[0])"
