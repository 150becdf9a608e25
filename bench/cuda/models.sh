#!/usr/bin/env bash
# One device call: random-weight Llama models at real shapes
# (scripts/make_random_models.py), each timed with `mlxc bench` as
# llama-bench measures (pp512, tg128, 3 repetitions).
#
#   bash bench/cuda/models.sh BUILD_DIR VOCAB.gguf [SHAPE:TYPE ...]
#   MLXC_BENCH_ARGS adds mlxc bench flags (e.g. --act f32; the default on
#   a GPU is bf16).
#   (default 1b:q4_0 1b:q8_0 1b:q4_k_m 1b:f16 7b:q4_0 7b:q4_k_m)
set -u
B=$1; V=$2; shift 2
specs=("$@")
[ ${#specs[@]} -eq 0 ] && specs=(1b:q4_0 1b:q8_0 1b:q4_k_m 1b:f16 7b:q4_0 7b:q4_k_m)
M=${MLXC_MODELS_DIR:-/tmp/mlxc-random-models}
mkdir -p "$M"
for s in "${specs[@]}"; do
  shape=${s%%:*}; type=${s##*:}; f=$M/llama-$shape-$type.gguf
  [ -f "$f" ] || python3 scripts/make_random_models.py "$shape" "$type" "$f" --vocab "$V" || continue
  MLXC_BACKEND=cuda "$B/mlxc" bench -m "$f" -p 512 -n 128 -r 3 ${MLXC_BENCH_ARGS:-} 2>&1 | grep -E "^\| llama|per decode token"
done
