#!/bin/sh
# Every kernel family of src/kernels/families.def is one set of files:
# F.def (its kernel list, from which cpu/F.c builds the CPU and signature
# tables), params_F.h, cpu/F.c, cuda/F.cu and ops/F.c; every .def and .cu
# of src/kernels is a family (the CUDA backend loads the embedded
# module named mlxc_kernel_family_of(kernel), the .cu stem).
# Every CUDA kernel begins with MLXC_PDL_WAIT().
# Usage: check_families.sh SOURCE_DIR
root=${1:-.}
cd "$root" || exit 2
fail=0
fams=$(sed -nE 's/^MLXC_FAMILY\(([a-z0-9_]+)\)$/\1/p' src/kernels/families.def)
[ -n "$fams" ] || { echo "no families in src/kernels/families.def"; exit 1; }
for f in $fams; do
    for p in src/kernels/$f.def src/kernels/params_$f.h src/kernels/cpu/$f.c src/kernels/cuda/$f.cu src/ops/$f.c; do
        [ -f "$p" ] || { echo "family $f: $p is missing"; fail=1; }
    done
    grep -q "^#define MLXC_FAMILY_DEF \"kernels/$f.def\"$" src/kernels/cpu/$f.c 2>/dev/null ||
        { echo "family $f: src/kernels/cpu/$f.c does not build its tables from $f.def"; fail=1; }
done
for def in src/kernels/*.def; do
    stem=$(basename "$def" .def)
    [ "$stem" = families ] && continue
    echo "$fams" | grep -qx "$stem" || { echo "$def is not a family of src/kernels/families.def"; fail=1; }
done
for cu in src/kernels/cuda/*.cu; do
    stem=$(basename "$cu" .cu)
    echo "$fams" | grep -qx "$stem" || { echo "$cu is not a family of src/kernels/families.def"; fail=1; }
done
# Every built-in CUDA kernel may be started early in a graph (programmatic
# dependent launch, cuda_graph_build.c): each one's body must begin with
# MLXC_PDL_WAIT() (common.cuh), one per __global__ definition, or with
# MLXC_PDL_INSIDE() where the kernel waits later itself.
for cu in src/kernels/cuda/*.cu src/kernels/cuda/*.cuh; do
    kernels=$(grep -o '__global__' "$cu" | wc -l)
    waits=$(grep -oE '\{ MLXC_PDL_(WAIT|INSIDE)\(\);' "$cu" | wc -l)
    [ "$kernels" = "$waits" ] ||
        { echo "$cu: $kernels __global__ kernels, $waits begin with MLXC_PDL_WAIT() or MLXC_PDL_INSIDE()"; fail=1; }
done
[ $fail = 0 ] && echo "families: $(echo "$fams" | wc -l), each with its list, params, CPU, CUDA and op files"
exit $fail
