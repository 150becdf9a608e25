#!/usr/bin/env bash
# One device call: build, run the whole suite on the CPU and on CUDA (graph
# and immediate modes), compute-sanitizer memcheck + racecheck on the CUDA
# tests, and the command-buffer benchmark.  Logs go to $OUT (or ./out).
#
#   bash bench/cuda/run.sh [quick]
set -u
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
B=build-device
export MLXC_CACHE_DIR=/tmp/mlxc-cache
{
  echo "## machine"; date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
  nvcc --version | tail -2; ls /usr/local/cuda/lib64/libnvrtc.so* 2>/dev/null | head -3
} 2>&1 | tee "$OUT/machine.txt"

# The device image lacks jansson and pcre2 headers: the call carries them in
# .cache/devdeps (apt-get download + dpkg -x on the workstation).
D=$PWD/.cache/devdeps/root/usr
if ! pkg-config --exists jansson libpcre2-8 2>/dev/null && [ -d "$D" ]; then
  for pc in "$D"/lib/x86_64-linux-gnu/pkgconfig/*.pc; do sed -i "s|^prefix=.*|prefix=$D|" "$pc"; done
  export PKG_CONFIG_PATH=$D/lib/x86_64-linux-gnu/pkgconfig
  export LD_LIBRARY_PATH=$D/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
fi

t0=$(date +%s)
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$OUT/build.log" 2>&1 &&
  cmake --build $B -j 16 >> "$OUT/build.log" 2>&1
rc=$?
echo "build rc=$rc in $(( $(date +%s) - t0 )) s"
if [ $rc -ne 0 ]; then tail -40 "$OUT/build.log"; exit 1; fi

run_suite() { # label, env...
  local label=$1; shift
  echo "### $label"
  ( cd $B && env "$@" ctest --timeout 300 --output-on-failure 2>&1 | grep -vE "^\s*(Start|Test command)" )
}
{
  echo "# suite"
  run_suite "CPU (MLXC_BACKEND=cpu)" MLXC_BACKEND=cpu
  run_suite "CUDA, graph mode (MLXC_BACKEND=cuda)" MLXC_BACKEND=cuda
  run_suite "CUDA, immediate mode (MLXC_BACKEND=cuda MLXC_CUDA_GRAPHS=0)" MLXC_BACKEND=cuda MLXC_CUDA_GRAPHS=0
} > "$OUT/suite.log" 2>&1
grep -E "^###|tests passed|tests failed|\(Failed\)|\(Timeout\)|Skipped|FAIL" "$OUT/suite.log" | head -60

for t in test_cuda_parity test_cuda_graph test_cuda_nvrtc test_cuda_fault; do
  echo "--- $t"; (cd $B && MLXC_BACKEND=cuda ./$t 2>&1 | tail -25)
done > "$OUT/cuda_tests.log" 2>&1
grep -E "^---|passed|FAIL|SKIP" "$OUT/cuda_tests.log"

if [ "${1:-}" != quick ]; then
  {
    for tool in memcheck racecheck; do
      for t in test_cuda_parity test_cuda_graph test_runtime_api test_runtime_semantics; do
        [ -x $B/$t ] || continue
        echo "### $tool $t"
        (cd $B && MLXC_BACKEND=cuda timeout 240 compute-sanitizer --tool $tool --error-exitcode 9 ./$t > "$OUT/san_$tool.$t.log" 2>&1; echo "exit $?")
        grep -E "passed|SUMMARY" "$OUT/san_$tool.$t.log"
        # one line per distinct report (API errors name the call)
        grep -E "^========= (Program hit|Invalid|Error|Race|Warning)" "$OUT/san_$tool.$t.log" | sed 's/0x[0-9a-f]*/0x../g' | sort | uniq -c | head -12
      done
    done
  } > "$OUT/sanitizer.log" 2>&1
  rm -f "$OUT"/san_*.log
  cat "$OUT/sanitizer.log"
fi

# Twice: the spread between the runs is the noise floor.
( cd $B && ./bench_cuda_graphs 50 && echo && echo "# second run" && ./bench_cuda_graphs 50 ) > "$OUT/bench.md" 2>&1
cat "$OUT/bench.md"
