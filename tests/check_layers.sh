#!/bin/sh
# The layer map (design.md section 1) as a check on #include lines:
#
#   tools -> model -> {ops, io, tokenizer} -> quant -> core -> backend
#
# quant (block layouts, the GGML type table, reference (de)quantizers) sits
# beneath ops and io: the kernels read its block header and io names tensor
# types through its table.
#
# core and the backends include no op, io, quant, tokenizer or model header;
# ops no io, tokenizer or model; io, quant and tokenizer no ops or model;
# nothing but tools includes tools.  Kernels (src/kernels) sit beside the
# backends: they see core's public headers, core/half.h and their own params.
# Usage: check_layers.sh SOURCE_DIR
root=${1:-.}
cd "$root" || exit 2

# Exceptions, "file include" per line, each with the reason it is there
# and the change that will remove it.  None today.
ALLOW=''

# The layer of an included path (quoted includes are relative to src/ or
# include/; a bare name is the includer's own directory).
inc_layer() {
    case $1 in
    mlxc/common.h|mlxc/device.h|mlxc/encoder.h|mlxc/kernel.h|mlxc/graph.h|mlxc/profile.h|mlxc/session.h|mlxc/version.h) echo core ;;
    mlxc/ops*.h) echo ops ;;
    mlxc/gguf.h|mlxc/safetensors.h|mlxc/weights.h) echo io ;;
    mlxc/tokenizer.h|mlxc/chat.h) echo tokenizer ;;
    mlxc/quant*.h) echo quant ;;
    mlxc/model*.h) echo model ;;
    mlxc/mlxc.h) echo umbrella ;;
    mlxc/*) echo unknown ;;
    core/*) echo core ;;
    backend/cpu/*) echo backend_cpu ;;
    backend/cuda/*) echo backend_cuda ;;
    kernels/cpu/*) echo kernels_cpu ;;
    kernels/cuda/*) echo kernels_cuda ;;
    kernels/*) echo kernels ;;
    ops/*) echo ops ;;
    io/*) echo io ;;
    quant/*) echo quant ;;
    tokenizer/*) echo tokenizer ;;
    model/*) echo model ;;
    */*) echo unknown ;;
    *) echo self ;;
    esac
}

# The layers a file's directory may include (besides its own files).
allowed() {
    case $1 in
    src/core/*) echo "core" ;;
    src/backend/cpu/*) echo "core backend_cpu kernels_cpu kernels" ;;
    src/backend/cuda/*) echo "core backend_cuda kernels_cuda kernels" ;;
    src/kernels/cpu/*) echo "core kernels kernels_cpu quant" ;;
    src/kernels/cuda/*) echo "kernels kernels_cuda quant" ;;
    src/kernels/*) echo "core kernels kernels_cpu quant" ;;
    src/ops/*) echo "core ops kernels quant" ;;
    src/io/*) echo "core io quant" ;;
    src/quant/*) echo "core quant" ;;
    src/tokenizer/*) echo "core io tokenizer" ;;
    src/model/*) echo "core ops quant io tokenizer model kernels umbrella" ;;
    tools/*) echo "any" ;;
    *) echo "any" ;;
    esac
}

fail=0
files=$(find src tools -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) | sort)
for f in $files; do
    ok=$(allowed "$f")
    [ "$ok" = any ] && continue
    for inc in $(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/p' "$f"); do
        l=$(inc_layer "$inc")
        [ "$l" = self ] && continue
        case " $ok " in *" $l "*) continue ;; esac
        if printf '%s\n' "$ALLOW" | grep -qx "$f $inc"; then continue; fi
        echo "$f includes $inc ($l), outside its layer (may include: $ok)"
        fail=1
    done
done
# The tokenizer reports errors through core/error.h only, not the whole core.
bad=$(grep -lE '#[[:space:]]*include[[:space:]]*"core/internal.h"' src/tokenizer/* 2>/dev/null)
[ -z "$bad" ] || { echo "tokenizer files include core/internal.h: $bad"; fail=1; }
[ $fail = 0 ] && echo "layer map: $(echo "$files" | wc -l) files checked"
exit $fail
