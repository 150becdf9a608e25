#!/usr/bin/env bash
# Workstation side of a device call that runs prebuilt binaries
# (bench/cuda/steps.sh runs them there): writes .cache/dev/, which the call
# carries as one path (about 35 MB; the carry limit is 64 MiB with the
# tracked files).  Each part is made once and kept; delete it to remake.
#
#   bash bench/cuda/pack.sh [BUILD_DIR [BIN ...]]
#
#   BUILD_DIR  a CUDA build for the device's GPU (default build-cu:
#              cmake -S . -B build-cu -G Ninja -DCMAKE_BUILD_TYPE=Release
#              -DMLXC_CUDA=ON -DMLXC_CUDA_ARCHS=sm_90a)
#   BIN        its programs to carry, stripped and xz'd into
#              .cache/dev/bin/ (default: mlxc test_ops_qmatmul_parity
#              test_model_llama bench_qmatmul; the kernels are embedded)
#
# BASE=DIR also packs DIR/mlxc as bin/mlxc-base (a build of the commit to
# compare with, e.g. from `git worktree add /tmp/base REV`: steps.sh's
# abbin step alternates the two binaries on one machine).
#
# Also: libjansson and libpcre2 (the device image lacks them), the model
# tests' generated fixtures (make_model_fixtures.py --test-data, without
# the random-tiny models, which steps.sh regenerates there), the llama
# SentencePiece vocabulary, SmolLM2's tokenizer as a GGUF of tokenizer.*
# keys (for random-weight SmolLM2-shaped models), and the gguf wheel
# (the device has numpy but not gguf).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build-cu}; shift || true
bins=("$@"); [ ${#bins[@]} -eq 0 ] && bins=(mlxc test_ops_qmatmul_parity test_model_llama bench_qmatmul)
D=.cache/dev
mkdir -p $D/bin $D/lib $D/whl
for b in "${bins[@]}"; do
  [ -x "$B/$b" ] || { echo "pack: $B/$b is not built" >&2; exit 1; }
  strip -o "$D/bin/$b" "$B/$b" && xz -f -T2 -6 "$D/bin/$b"
done
rm -f $D/bin/mlxc-base.xz
if [ -n "${BASE:-}" ]; then
  [ -x "$BASE/mlxc" ] || { echo "pack: $BASE/mlxc is not built" >&2; exit 1; }
  strip -o "$D/bin/mlxc-base" "$BASE/mlxc" && xz -f -T2 -6 "$D/bin/mlxc-base"
fi
for l in libjansson.so.4 libpcre2-8.so.0; do
  [ -f $D/lib/$l ] || cp "$(ldconfig -p | awk -v l=$l '$1 == l {print $NF; exit}')" $D/lib/
done
if [ ! -f $D/fixtures.tar.xz ]; then
  t=$(mktemp -d)
  python3 scripts/make_model_fixtures.py tests/fixtures/models --test-data "$t" > /dev/null
  tar cJf $D/fixtures.tar.xz -C "$t" .
  rm -rf "$t"
fi
[ -f $D/vocab.gguf ] || cp ../shared/data/vocab/ggml-vocab-llama-spm.gguf $D/vocab.gguf
ls $D/whl/gguf-*.whl > /dev/null 2>&1 || python3 -m pip download -q --no-deps gguf==0.19.0 -d $D/whl
if [ ! -f $D/smollm2-vocab.gguf ]; then
  src=$(bash scripts/fetch_models.sh | awk '$1 == "smollm2" {print $2}')
  python3 - "$src" $D/smollm2-vocab.gguf <<'PY'
import sys
import gguf
r = gguf.GGUFReader(sys.argv[1])
w = gguf.GGUFWriter(sys.argv[2], "llama")
V = gguf.GGUFValueType
for k, f in r.fields.items():
    if not k.startswith("tokenizer."):
        continue
    t = f.types[0]
    if t == V.ARRAY:
        st = f.types[1]
        if st == V.STRING:
            v = [bytes(f.parts[i]).decode("utf-8", errors="surrogateescape") for i in f.data]
        else:
            v = [f.parts[i].tolist()[0] for i in f.data]
        w.add_key_value(k, v, t, sub_type=st)
    elif t == V.STRING:
        w.add_key_value(k, bytes(f.parts[f.data[0]]).decode(), t)
    else:
        w.add_key_value(k, f.parts[f.data[0]].tolist()[0], t)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
PY
fi
du -sh $D
