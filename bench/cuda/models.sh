#!/usr/bin/env bash
# One device call: random-weight Llama models at real shapes
# (scripts/make_random_models.py; 30b-a3b: Qwen3-30B-A3B's mixture of
# experts), each timed with `mlxc bench` as llama-bench measures (pp512,
# tg128, 3 repetitions).
#
#   bash bench/cuda/models.sh BUILD_DIR VOCAB.gguf [SHAPE:TYPE[:VOCAB.gguf] ...]
#   MLXC_BENCH_ARGS adds mlxc bench flags (e.g. --act f32; the default on
#   a GPU is bf16); MLXC_BACKEND (default cuda) picks mlxc's device.
#   (default 1b:q4_0 1b:q8_0 1b:q4_k_m 1b:f16 7b:q4_0 7b:q4_k_m)
#   A third field gives that model its own vocabulary (smollm2:q4_1:V.gguf).
#   LLAMA_BENCH=PATH/llama-bench also times each model with llama.cpp, same
#   file and settings (-ngl 99 -fa 1 -p 512 -n 128 -r 3), right after mlxc,
#   and ends with one table of both.  It is not built here: give a binary.
#   BENCH_DEPTH=N runs both tools' tests after N tokens in the context (-d N,
#   the rows "pp512 @ dN" and "tg128 @ dN"; N + 512 within the model's
#   positions, 4096 for make_random_models.py's shapes).
#   TYPE mlx4 makes an MLX 4-bit directory instead (make_random_models.py
#   mlx4; MLX_TOKENIZER=DIR names the tokenizer files it copies); with
#   MLX_LM=1 MLX itself times it (python3 -m mlx_lm.benchmark -p 512 -g 128
#   -n 3: MLX's CUDA backend where the mlx-cuda wheel is installed), and the
#   table gains MLX's columns.
#   BUILD_DIR needs only its mlxc binary (the kernels are embedded): one
#   built on the workstation for the device's GPU (cmake -B build-cu
#   -DMLXC_CUDA_ARCHS=sm_90a; cmake --build build-cu --target mlxc_tool,
#   about 2 minutes on two cores) and carried as build-cu/mlxc (15 MB) saves
#   the device call its build; it finds libjansson and libpcre2 through
#   LD_LIBRARY_PATH (.cache/devdeps).
set -u
B=$1; V=$2; shift 2
specs=("$@")
[ ${#specs[@]} -eq 0 ] && specs=(1b:q4_0 1b:q8_0 1b:q4_k_m 1b:f16 7b:q4_0 7b:q4_k_m)
M=${MLXC_MODELS_DIR:-/tmp/mlxc-random-models}
L=${LLAMA_BENCH:-}
D=${BENCH_DEPTH:-0}
dflag=() sfx=""
if [ "$D" != 0 ]; then dflag=(-d "$D"); sfx=" @ d$D"; fi
mkdir -p "$M"
if [ -n "$L" ] && [ ! -x "$L" ]; then
  echo "models.sh: LLAMA_BENCH=$L is not an executable" >&2
  exit 1
fi

# md_field TEST COLUMN < TABLE: the COLUMN cell of the row whose test is TEST
# in a llama-bench style markdown table (mlxc bench prints the same
# columns), the columns found by name since llama-bench adds some by flags.
# For t/s only the mean of "mean ± sd".
md_field() {
  awk -F'|' -v test="$1" -v col="$2" '
    /^\|/ {
      for (i = 2; i < NF; i++) { v = $i; gsub(/^[ \t]+|[ \t]+$/, "", v); c[i] = v }
      hdr = 0
      for (i = 2; i < NF; i++) if (c[i] == "t/s") hdr = 1
      if (hdr) { delete idx; for (i = 2; i < NF; i++) idx[c[i]] = i; next }
      if (("test" in idx) && (col in idx) && c[idx["test"]] == test) {
        v = c[idx[col]]
        if (col == "t/s") { split(v, w, " "); v = w[1] }
        print v; exit
      }
    }'
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rows=()
for s in "${specs[@]}"; do
  IFS=: read -r shape type voc <<<"$s"
  voc=${voc:-$V}
  if [ "$type" = mlx4 ]; then
    f=$M/llama-$shape-mlx4
    [ -f "$f/config.json" ] || python3 scripts/make_random_models.py "$shape" mlx4 "$f" --tokenizer "${MLX_TOKENIZER:?mlx4 needs MLX_TOKENIZER=DIR}" || continue
  else
    f=$M/llama-$shape-$type.gguf
    [ -f "$f" ] || python3 scripts/make_random_models.py "$shape" "$type" "$f" --vocab "$voc" || continue
  fi
  MLXC_BACKEND=${MLXC_BACKEND:-cuda} "$B/mlxc" bench -m "$f" -p 512 -n 128 "${dflag[@]}" -r 3 ${MLXC_BENCH_ARGS:-} > "$tmp/mlxc" 2>&1
  grep -E "^\| [a-z0-9]+ [0-9]|per decode token|weights a decode|copy bandwidth now|weights at" "$tmp/mlxc" || tail -5 "$tmp/mlxc"
  : > "$tmp/llama"
  : > "$tmp/mlx"
  if [ -n "$L" ] && [ "$type" != mlx4 ]; then
    "$L" -m "$f" -ngl 99 -fa 1 -p 512 -n 128 "${dflag[@]}" -r 3 > "$tmp/llama" 2>&1
    grep -E "^\| [a-z0-9]+ [0-9]|^build:" "$tmp/llama" || { echo "llama-bench failed on $f:"; tail -5 "$tmp/llama"; }
  fi
  if [ -n "${MLX_LM:-}" ] && [ "$type" = mlx4 ]; then
    python3 -m mlx_lm.benchmark --model "$f" -p 512 -g 128 -n 3 > "$tmp/mlx" 2>&1
    grep -E "^Averages" "$tmp/mlx" || { echo "mlx_lm.benchmark failed on $f:"; tail -5 "$tmp/mlx"; }
  fi
  size=$(md_field "pp512$sfx" size < "$tmp/mlxc"); [ -n "$size" ] || size=$(md_field "pp512$sfx" size < "$tmp/llama")
  mlx_pp=$(sed -nE 's/^Averages: prompt_tps=([0-9.]+).*/\1/p' "$tmp/mlx")
  mlx_tg=$(sed -nE 's/^Averages: .*generation_tps=([0-9.]+).*/\1/p' "$tmp/mlx")
  # mlxc's tg128: its fraction of the copy bandwidth and kernels a token
  frac=$(sed -nE "s/^tg128$sfx: weights at .*, ([0-9.]+%) of the copy.*/\1/p" "$tmp/mlxc")
  kern=$(sed -nE "s/^tg128$sfx: per decode token ([0-9.]+) dispatches.*/\1/p" "$tmp/mlxc")
  rows+=("$shape $type$sfx|${size:--}|$(md_field "pp512$sfx" t/s < "$tmp/mlxc")|$(md_field "pp512$sfx" t/s < "$tmp/llama")|$(md_field "tg128$sfx" t/s < "$tmp/mlxc")|$(md_field "tg128$sfx" t/s < "$tmp/llama")|$mlx_pp|$mlx_tg|$frac|$kern")
done

[ -n "$L" ] || [ -n "${MLX_LM:-}" ] || exit 0
echo
echo "| model | size | mlxc pp512 | llama.cpp pp512 | mlxc tg128 | llama.cpp tg128 | mlxc/llama.cpp tg | MLX pp512 | MLX tg128 | mlxc/MLX tg | mlxc tg128 of copy | kernels a token |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for r in "${rows[@]}"; do
  IFS='|' read -r model size mp lp mt lt xp xt frac kern <<<"$r"
  ratio=$(awk -v a="$mt" -v b="$lt" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')
  xratio=$(awk -v a="$mt" -v b="$xt" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')
  echo "| $model | $size | ${mp:--} | ${lp:--} | ${mt:--} | ${lt:--} | $ratio | ${xp:--} | ${xt:--} | $xratio | ${frac:--} | ${kern:--} |"
done
