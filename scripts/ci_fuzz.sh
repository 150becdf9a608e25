#!/usr/bin/env bash
# Build the libFuzzer harnesses (fuzz/fuzz_*.c) with clang and run each for a
# short time.
#
#   scripts/ci_fuzz.sh [SECONDS_EACH] [BUILD_DIR]
#
# SECONDS_EACH defaults to $MLXC_FUZZ_SECONDS or 20; BUILD_DIR to
# build-fuzz-io.  New inputs go to BUILD_DIR/fuzz-work/<name>/ (the committed
# seeds in fuzz/corpus/<name>/ are only read); crashes are written to
# BUILD_DIR/fuzz-work/ as crash-* and make the script fail.  MLXC_FUZZ_ONLY
# may name a subset ("gguf safetensors").
set -euo pipefail

secs="${1:-${MLXC_FUZZ_SECONDS:-20}}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${2:-$root/build-fuzz-io}"
cc="${CC:-}"
if [[ -z "$cc" ]]; then
  for c in clang clang-18 clang-17 clang-16 clang-15 clang-14; do
    if command -v "$c" >/dev/null; then cc="$c"; break; fi
  done
fi
[[ -n "$cc" ]] || { echo "ci_fuzz: clang not found" >&2; exit 1; }

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DMLXC_FUZZ=ON -DMLXC_CUDA=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
names=()
for f in "$root"/fuzz/fuzz_*.c; do
  n="$(basename "$f" .c)"
  n="${n#fuzz_}"
  if [[ -n "${MLXC_FUZZ_ONLY:-}" && " $MLXC_FUZZ_ONLY " != *" $n "* ]]; then continue; fi
  names+=("$n")
done
work="$build/fuzz-work"
mkdir -p "$work"
status=0
# Build each harness on its own, so one that does not compile fails the run
# without keeping the others from running.
built=()
for n in "${names[@]}"; do
  if cmake --build "$build" -j"$(nproc)" --target "fuzz_$n" >"$work/build-$n.log" 2>&1; then
    built+=("$n")
  else
    grep -E "error" "$work/build-$n.log" | head -n 5
    echo "== fuzz_$n: BUILD FAILED (see $work/build-$n.log)"
    status=1
  fi
done
for n in "${built[@]}"; do
  mkdir -p "$work/$n"
  seeds=()
  [[ -d "$root/fuzz/corpus/$n" ]] && seeds+=("$root/fuzz/corpus/$n")
  echo "== fuzz_$n for ${secs}s"
  log="$work/$n.log"
  if (cd "$work" && "$build/fuzz_$n" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 "$work/$n" "${seeds[@]}") >"$log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+ *DONE" "$log" || true
    echo "   ok"
  else
    tail -n 40 "$log"
    echo "   FAILED (see $log)"
    status=1
  fi
done
exit $status
