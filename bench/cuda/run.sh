#!/usr/bin/env bash
# One device call: build, then the phases named on the command line, each
# logging to $OUT (or ./out):
#
#   suite   the whole ctest on the CPU and on CUDA (graph and immediate modes)
#   cuda    the CUDA-only test programs, verbose
#   san     compute-sanitizer memcheck + racecheck on the CUDA tests
#   bench   every bench_<family> program (fractions of the copy bandwidth
#           measured in the same run) and the command-buffer benchmark
#   qmm     quantized matmul parity and bench_qmatmul
#   trace   the decode timeline of each model in $MLXC_TRACE_MODELS
#           (space-separated "PATH:KERNELS_A_TOKEN"), through
#           bench/cuda/kernel_trace.c; CUPTI from the nvidia-cuda-cupti
#           wheel unpacked into .cache/cupti on the workstation:
#             pip download --no-deps nvidia-cuda-cupti==13.0.85 -d /tmp/w &&
#             python3 -m zipfile -e /tmp/w/*.whl /tmp/w/x &&
#             mkdir -p .cache/cupti && cp -r /tmp/w/x/nvidia/cu13/{include,lib} .cache/cupti/
#
#   bash bench/cuda/run.sh suite cuda        (no phase: suite cuda san bench)
set -u
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
B=${MLXC_DEVICE_BUILD:-build-device}
export MLXC_CACHE_DIR=/tmp/mlxc-cache
phases=("$@")
[ ${#phases[@]} -eq 0 ] && phases=(suite cuda san bench)
{
  echo "## machine"; date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
  nvcc --version | tail -2; echo "commit ${MLXC_COMMIT:-unknown}"
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
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${MLXC_DEVICE_CMAKE:-} > "$OUT/build.log" 2>&1 &&
  cmake --build $B -j ${MLXC_DEVICE_JOBS:-16} >> "$OUT/build.log" 2>&1
rc=$?
echo "build rc=$rc in $(( $(date +%s) - t0 )) s"
if [ $rc -ne 0 ]; then grep -E "error|FAILED" "$OUT/build.log" | head -30; tail -20 "$OUT/build.log"; exit 1; fi

has() { local p; for p in "${phases[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }

run_suite() { # label, env...
  local label=$1; shift
  echo "### $label"
  ( cd $B && env "$@" ctest -j4 --timeout 300 --output-on-failure 2>&1 | grep -vE "^\s*(Start|Test command)" )
}
if has suite; then
  {
    echo "# suite"
    run_suite "CPU (MLXC_BACKEND=cpu)" MLXC_BACKEND=cpu
    run_suite "CUDA, graph mode (MLXC_BACKEND=cuda)" MLXC_BACKEND=cuda
    run_suite "CUDA, immediate mode (MLXC_BACKEND=cuda MLXC_CUDA_GRAPHS=0)" MLXC_BACKEND=cuda MLXC_CUDA_GRAPHS=0
  } > "$OUT/suite.log" 2>&1
  grep -E "^###|tests passed|tests failed|\(Failed\)|\(Timeout\)|FAIL" "$OUT/suite.log" | head -60
fi

if has cuda; then
  for t in test_cuda_parity test_cuda_graph test_cuda_nvrtc test_cuda_fault test_ops_qmatmul_parity test_model_llama; do
    echo "--- $t"; (cd $B && MLXC_BACKEND=cuda ./$t 2>&1 | tail -25)
  done > "$OUT/cuda_tests.log" 2>&1
  grep -E "^---|passed|FAIL|SKIP|err" "$OUT/cuda_tests.log" | head -60
fi

if has qmm; then
  ( cd $B && MLXC_BACKEND=cuda ./test_ops_qmatmul_parity 2>&1 | tail -30 ) > "$OUT/qmm_parity.log" 2>&1
  grep -E "passed|FAIL" "$OUT/qmm_parity.log" | head -30
  ( cd $B && ./bench_qmatmul ${MLXC_QMM_ARGS:-} 2>&1 ) > "$OUT/qmm_bench.md"
  tail -80 "$OUT/qmm_bench.md"
fi

if has san; then
  {
    for tool in memcheck racecheck; do
      for t in test_cuda_parity test_cuda_graph test_runtime_api test_runtime_semantics; do
        [ -x $B/$t ] || continue
        echo "### $tool $t"
        (cd $B && MLXC_BACKEND=cuda timeout 240 compute-sanitizer --tool $tool --error-exitcode 9 ./$t > "$OUT/san_$tool.$t.log" 2>&1; echo "exit $?")
        grep -E "passed|SUMMARY" "$OUT/san_$tool.$t.log"
        grep -E "^========= (Program hit|Invalid|Error|Race|Warning)" "$OUT/san_$tool.$t.log" | sed 's/0x[0-9a-f]*/0x../g' | sort | uniq -c | head -12
      done
    done
  } > "$OUT/sanitizer.log" 2>&1
  rm -f "$OUT"/san_*.log
  cat "$OUT/sanitizer.log"
fi

if has bench; then
  for b in elementwise layout sample norm rope softmax matmul attention hadamard; do
    echo "# bench_$b"; (cd $B && ./bench_$b ${MLXC_BENCH_ARGS:-} 2>&1)
  done > "$OUT/bench_families.md" 2>&1
  grep -E "ceiling|FAIL|reproduce|^# bench" "$OUT/bench_families.md" | head -40
  ( cd $B && ./bench_cuda_graphs 50 ) > "$OUT/bench_graphs.md" 2>&1
fi

if has trace; then
  C=$PWD/.cache/cupti
  if [ ! -d "$C/include" ]; then
    echo "trace: no CUPTI in .cache/cupti (see the top of this script)"
  else
    gcc -O2 -shared -fPIC -I"$C/include" -I"$(dirname "$(command -v nvcc)")/../include" \
      -o "$B/libkernel_trace.so" bench/cuda/kernel_trace.c \
      -L"$C/lib" -l:libcupti.so.13 -Wl,-rpath,"$C/lib" || exit 1
    for mk in ${MLXC_TRACE_MODELS:-}; do
      m=${mk%:*}; k=${mk##*:}; t="$OUT/trace-$(basename "$m").csv"
      echo "# trace $(basename "$m")"
      CUDA_INJECTION64_PATH=$PWD/$B/libkernel_trace.so MLXC_KERNEL_TRACE="$t" MLXC_KERNEL_TRACE_API=1 \
        MLXC_BACKEND=cuda $B/mlxc bench -m "$m" -p 0 -n 16 -r 1 2>&1 | grep -E "tg16|kernel_trace"
      python3 bench/cuda/kernel_trace.py "$t" "$k" 4
    done > "$OUT/trace.md" 2>&1
    cat "$OUT/trace.md"
  fi
fi
