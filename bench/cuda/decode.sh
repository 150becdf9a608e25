#!/usr/bin/env bash
# One device call: the decode step's settings side by side.  For each model
# (random weights at real shapes, scripts/make_random_models.py), tg128 with
# every setting named in MLXC_DECODE_AB (environment assignments separated
# by "|", default: programmatic dependent launch on and off), then one
# profiled decode token (mlxc bench --profile: time, bytes and fraction of
# the copy bandwidth per kernel kind).
#
#   bash bench/cuda/decode.sh BUILD_DIR VOCAB.gguf SHAPE:TYPE ...
set -u
B=$1; V=$2; shift 2
M=${MLXC_MODELS_DIR:-/tmp/mlxc-random-models}
OUT=${OUT:-$PWD/out}
mkdir -p "$M" "$OUT"
IFS='|' read -r -a settings <<<"${MLXC_DECODE_AB:-MLXC_CUDA_PDL=1|MLXC_CUDA_PDL=0}"
for s in "$@"; do
  IFS=: read -r shape type voc <<<"$s"
  f=$M/llama-$shape-$type.gguf
  [ -f "$f" ] || python3 scripts/make_random_models.py "$shape" "$type" "$f" --vocab "${voc:-$V}" > /dev/null || continue
  echo "## $shape $type"
  for e in "${settings[@]}"; do
    printf '%-28s ' "$e"
    env $e MLXC_BACKEND=cuda "$B/mlxc" bench -m "$f" -p 0 -n 128 -r 3 2>&1 | grep -E "^\| llama" | awk -F'|' '{print $(NF-1)}'
  done
  MLXC_BACKEND=cuda "$B/mlxc" bench -m "$f" -p 32 --profile "$OUT/profile-$shape-$type.json" > "$OUT/profile-$shape-$type.txt" 2>&1
  head -40 "$OUT/profile-$shape-$type.txt"
done
