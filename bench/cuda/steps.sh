#!/usr/bin/env bash
# Device side of a call that runs the binaries bench/cuda/pack.sh carried
# in .cache/dev (no build there): the steps named on the command line, in
# order, each logged with its time since the start.  Call with
# carry [".cache/dev"] from the repository root; logs go to $OUT.
#
#   setup          libraries, gguf, the model tests' fixtures, binaries into
#                  /tmp/bin; once a machine (a warm one skips it)
#   gen:S1,S2      random-weight models (S = shape-type, as
#                  scripts/make_random_models.py names them: 7b-q4_k_m,
#                  smollm2-q4_1, ...) into $MLXC_MODELS_DIR, in the
#                  background, detached so that they outlive the call on a
#                  machine kept warm; a model made or being made is skipped
#   wait:S1,S2     wait for them
#   test:BIN       MLXC_BACKEND=cuda /tmp/bin/BIN (TENV adds variables,
#                  TTAG to the log's name)
#   ab:S           mlxc bench -p AB_P (512) -n 128 -r 3 on model S once for
#                  each entry of AB_ENVS (';'-separated environment
#                  settings, '-' for none), AB_N (2) rounds alternating
#   abbin:S        the same bench alternating /tmp/bin/mlxc-base (pack.sh's
#                  BASE) and /tmp/bin/mlxc (or the binaries ABBINS names),
#                  AB_N (2) rounds
#   copy           the device-to-device copy bandwidth (torch), the ceiling
#   table          bench/cuda/models.sh over TABLE (its SHAPE:TYPE specs),
#                  beside llama-bench where LLAMA_BENCH names one
#   ncu:S          Nsight Compute SpeedOfLight (at the real clock, not ncu's
#                  locked base clock) of the kernels matching the
#                  regex NCUK in a short mlxc bench on S (NCUS skipped,
#                  NCUC profiled)
#   sh:CMD         a command
#
#   AB_ENVS='-;MLXC_ATTN_FUSED_ROPE=0' bash bench/cuda/steps.sh setup gen:7b-q4_k_m \
#       test:test_ops_qmatmul_parity wait:7b-q4_k_m ab:7b-q4_k_m copy
set -u
R=$PWD
O=${OUT:-/tmp/out}
D=$R/.cache/dev
G=/tmp/gen BIN=/tmp/bin L=/tmp/dlog
export MLXC_MODELS_DIR=${MLXC_MODELS_DIR:-/tmp/mlxc-random-models}
M=$MLXC_MODELS_DIR
mkdir -p "$O" $L $G $M $BIN /tmp/pyg
export LD_LIBRARY_PATH=$D/lib:${LD_LIBRARY_PATH:-} PYTHONPATH=/tmp/pyg${PYTHONPATH:+:$PYTHONPATH}
export MLXC_CACHE_DIR=/tmp/mlxc-cache MLXC_MODEL_FIXTURES=$R/tests/fixtures/models MLXC_MODEL_GEN=$G
T0=$(date +%s)
log() { echo "[$(date +%T) +$(($(date +%s) - T0))s] $*"; }
vocab() { case $1 in smollm2*) echo "$D/smollm2-vocab.gguf" ;; *) echo "$D/vocab.gguf" ;; esac; }
model() { echo "$M/llama-$1.gguf"; }
# benchone S LABEL LOG CMD...: mlxc bench of model S by CMD (a binary with
# its environment), appended to LOG, its pp and tg rows printed on one line
benchone() {
  local s=$1 label=$2 log=$3 res
  shift 3
  res=$(env MLXC_BACKEND=cuda "$@" bench -m "$(model "$s")" -p ${AB_P:-512} -n 128 -r 3 2>&1)
  echo "$res" >> "$log"
  echo "$s $label $(echo "$res" | grep -E '^\| .*(pp|tg)[0-9]' | awk -F'|' '{printf "%s:%s ", $(NF-2), $(NF-1)}')" \
    "$(echo "$res" | sed -nE 's/^(tg[0-9]+): weights at .*, ([0-9.]+%) of the copy.*/\1 \2 of copy/p' | tr '\n' ' ')"
}
for st in "$@"; do
  IFS=: read -r cmd a _ <<<"$st"
  log "step $st"
  case $cmd in
  setup)
    if [ -f /tmp/setup.done ]; then log "setup: done before"; continue; fi
    python3 -m pip install -q --no-deps --no-index --target /tmp/pyg $D/whl/gguf-*.whl 2>&1 | grep -v WARNING
    tar xJf $D/fixtures.tar.xz -C $G
    for f in $D/bin/*.xz; do xz -dc "$f" > $BIN/"$(basename "$f" .xz)"; chmod +x $BIN/"$(basename "$f" .xz)"; done
    V=$D/vocab.gguf
    python3 scripts/make_random_models.py tiny q4_0 $G/random-tiny-q4_0.gguf --vocab $V > $L/gen-tiny.log 2>&1 &
    python3 scripts/make_random_models.py tiny q4_k_m $G/random-tiny-q4_k_m.gguf --vocab $V >> $L/gen-tiny.log 2>&1 &
    python3 scripts/make_random_models.py tiny-moe q4_k_m $G/random-tiny-moe-q4_k_m.gguf --vocab $V >> $L/gen-tiny.log 2>&1 &
    python3 scripts/make_random_models.py tiny books $G/random-tiny-books.gguf --deq $G/random-tiny-books-deq.gguf \
      --vocab $V >> $L/gen-tiny.log 2>&1 &
    wait
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader
    touch /tmp/setup.done
    ;;
  gen)
    for s in ${a//,/ }; do
      # made (rc=0) or being made (no rc yet): skip
      [ -f $L/gen-$s.log ] && { grep -q '^rc=0' $L/gen-$s.log || ! grep -q '^rc=' $L/gen-$s.log; } && continue
      sh=${s%-*} ty=${s##*-} # the type after the last '-' (30b-a3b-q4_k_m)
      setsid nohup bash -c "python3 scripts/make_random_models.py $sh $ty '$(model "$s")' --vocab '$(vocab "$s")' \
        > $L/gen-$s.log 2>&1; echo rc=\$? >> $L/gen-$s.log" > /dev/null 2>&1 &
    done
    ;;
  wait)
    for s in ${a//,/ }; do
      while ! grep -q '^rc=' $L/gen-$s.log 2>/dev/null; do sleep 1; done
      log "gen $s: $(tail -1 $L/gen-$s.log), $(stat -c %s "$(model "$s")" 2>/dev/null) bytes"
    done
    ;;
  test)
    t=$O/test-$a${TTAG:-}.log
    env MLXC_BACKEND=cuda ${TENV:-} $BIN/$a > "$t" 2>&1
    log "test $a ${TENV:-}: rc=$?"
    grep -E "FAIL|passed|failed|comparisons|error" "$t" | tail -8
    ;;
  ab)
    IFS=';' read -ra envs <<<"${AB_ENVS:--}"
    for ((r = 0; r < ${AB_N:-2}; r++)); do
      for e in "${envs[@]}"; do
        [ "$e" = - ] && e=""
        # $e unquoted: none, one or several VAR=value words
        benchone "$a" "r$r [${e:-default}]" "$O/ab-$a.log" $e $BIN/mlxc
      done
    done
    ;;
  abbin)
    miss=""
    for b in ${ABBINS:-mlxc-base mlxc}; do [ -x $BIN/$b ] || miss+=" $b"; done
    [ -z "$miss" ] || { log "abbin: not carried:$miss (pack.sh BASE=DIR packs mlxc-base)"; continue; }
    for ((r = 0; r < ${AB_N:-2}; r++)); do
      for b in ${ABBINS:-mlxc-base mlxc}; do benchone "$a" "r$r [$b]" "$O/abbin-$a.log" $BIN/$b; done
    done
    ;;
  copy)
    python3 - <<'PY' 2>&1 | tee "$O/copy.txt"
import torch
n = 1 << 30
a = torch.empty(2 * n, dtype=torch.uint8, device="cuda")
b = torch.empty_like(a)
for _ in range(3):
    b.copy_(a)
torch.cuda.synchronize()
s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
best = 1e9
for _ in range(10):
    s.record(); b.copy_(a); e.record(); e.synchronize()
    best = min(best, s.elapsed_time(e))
print(f"copy of 2 GiB, device to device: {best:.3f} ms, {2 * 2 * n / best / 1e6:.0f} GB/s (read + write)")
PY
    ;;
  table)
    bash bench/cuda/models.sh $BIN "$D/vocab.gguf" ${TABLE:-} 2>&1 | tee -a "$O/table.log"
    ;;
  ncu)
    t=$O/ncu-$a${TTAG:-}.log
    env MLXC_BACKEND=cuda ${TENV:-} ncu --section SpeedOfLight -k "regex:${NCUK:?ncu needs NCUK}" -s ${NCUS:-0} \
      -c ${NCUC:-4} --clock-control none $BIN/mlxc bench -m "$(model "$a")" -p 16 -n 8 -r 1 > "$t" 2>&1
    log "ncu rc=$?"
    grep -E "^  [a-z_].*\(|Duration|DRAM Throughput|Memory Throughput" "$t" | head -40
    ;;
  sh)
    eval "${st#sh:}"
    ;;
  *)
    log "unknown step $cmd"
    ;;
  esac
done
# the background logs as one file (a call returns few files)
for f in $L/*.log; do [ -f "$f" ] && { echo "== $(basename "$f")"; tail -20 "$f"; }; done > "$O/dlog.txt" 2>/dev/null
log done
