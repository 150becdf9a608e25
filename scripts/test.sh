#!/usr/bin/env bash
# The test command: set up, build, and run every suite — the normal build
# (CPU tests; CUDA tests skip without a GPU), then AddressSanitizer +
# UndefinedBehaviorSanitizer, ThreadSanitizer on the threaded tests, and a
# short fuzzing run.  MLXC_TEST_QUICK=1 runs the normal suite only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
models_ok=1
bash scripts/fetch_models.sh >/dev/null || { models_ok=0; echo "test: model download failed; the real-model tests will skip"; }

gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
jobs="$(nproc)"

echo "== build and test (release) =="
bash scripts/build.sh
(cd build && ctest --output-on-failure -j"$jobs")
[ "${MLXC_TEST_QUICK:-0}" = 1 ] && exit 0

echo "== AddressSanitizer + UndefinedBehaviorSanitizer (CPU backend) =="
cmake -S . -B build-asan "${gen[@]}" -DCMAKE_BUILD_TYPE=Debug -DMLXC_SANITIZE=ON -DMLXC_CUDA=OFF >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j"$jobs")

echo "== ThreadSanitizer (threaded runtime tests) =="
cmake -S . -B build-tsan "${gen[@]}" -DCMAKE_BUILD_TYPE=Debug -DMLXC_TSAN=ON -DMLXC_CUDA=OFF >/dev/null
cmake --build build-tsan -j"$jobs" --target test_runtime_threads test_runtime_semantics test_runtime_profile
# Some kernels randomise mmap beyond what TSan maps; run without ASLR there.
norand=()
setarch "$(uname -m)" -R true 2>/dev/null && norand=(setarch "$(uname -m)" -R)
for t in test_runtime_threads test_runtime_semantics; do
  TSAN_OPTIONS=halt_on_error=1 MLXC_CPU_THREADS=4 "${norand[@]}" build-tsan/$t
done
TSAN_OPTIONS=halt_on_error=1 MLXC_PROFILE_CB=1 MLXC_PROFILE_DISPATCH=1 MLXC_PROFILE_BARRIERS=1 \
  "${norand[@]}" build-tsan/test_runtime_profile

if [ -f scripts/ci_fuzz.sh ]; then
  echo "== fuzzing (short) =="
  bash scripts/ci_fuzz.sh
fi
echo "test: all suites passed"
