#!/usr/bin/env bash
# Install what building and testing mlxc needs on a fresh Debian machine:
# the C libraries (jansson, PCRE2), pkg-config, clang with libFuzzer for the
# fuzzers, and the Python packages the test fixtures are made with.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v ninja >/dev/null || need+=(ninja-build)
command -v clang >/dev/null || need+=(clang)
[ -f /usr/include/jansson.h ] || need+=(libjansson-dev)
[ -f /usr/include/pcre2.h ] || need+=(libpcre2-dev)
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need+=(libclang-rt-dev)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

py="${PYTHON:-python3}"
# Always through pip: it is quick when satisfied, and upgrades packages that
# are present but older than the minimum versions the fixtures need.
"$py" -m pip install -q -r scripts/requirements-test.txt
