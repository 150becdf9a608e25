/* Builds a family's two tables from its one list, src/kernels/F.def: the
 * CPU table mlxc_cpu_kernels_F (the MLXC_KERNEL rows, name -> function) and
 * the signature table mlxc_kernel_sigs_F (every row, CUDA-only ones too) that
 * src/kernels/signatures.c serves to every backend.  Both come from the same
 * rows, so a name cannot have one layout on the CPU and another on CUDA.
 * cpu/F.c includes this last, with every function the list names in scope,
 * after defining MLXC_FAMILY_NAME (F) and MLXC_FAMILY_DEF ("kernels/F.def");
 * no include guard: one use per translation unit. */
#include "kernels/cpu/ops_cpu.h"
#include "kernels/signatures.h"

#define MLXC_FT_CAT_(a, b) a##b
#define MLXC_FT_CAT(a, b) MLXC_FT_CAT_(a, b)
#define MLXC_FT_CPU MLXC_FT_CAT(mlxc_cpu_kernels_, MLXC_FAMILY_NAME)
#define MLXC_FT_SIGS MLXC_FT_CAT(mlxc_kernel_sigs_, MLXC_FAMILY_NAME)

#define MLXC_KERNEL(NAME, FN, NPTR, PT) {NAME, FN, OPS_SIG##NPTR(sizeof(PT))},
#define MLXC_KERNEL_CUDA(NAME, NPTR, PT)
const mlxc_cpu_builtin MLXC_FT_CPU[] = {
#include MLXC_FAMILY_DEF
};
const size_t MLXC_FT_CAT(MLXC_FT_CPU, _count) = sizeof MLXC_FT_CPU / sizeof *MLXC_FT_CPU;

#define MLXC_KERNEL(NAME, FN, NPTR, PT) {NAME, OPS_SIG##NPTR(sizeof(PT))},
#define MLXC_KERNEL_CUDA(NAME, NPTR, PT) {NAME, OPS_SIG##NPTR(sizeof(PT))},
const mlxc_kernel_sig_entry MLXC_FT_SIGS[] = {
#include MLXC_FAMILY_DEF
};
const size_t MLXC_FT_CAT(MLXC_FT_SIGS, _count) = sizeof MLXC_FT_SIGS / sizeof *MLXC_FT_SIGS;

#undef MLXC_FT_CAT_
#undef MLXC_FT_CAT
#undef MLXC_FT_CPU
#undef MLXC_FT_SIGS
