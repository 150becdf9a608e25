/* Argument signatures of every built-in kernel name, shared by the backends:
 * one name has one layout everywhere, and a backend whose kernels carry no
 * signature of their own (CUDA modules) checks dispatches against these. */
#ifndef MLXC_KERNELS_SIGNATURES_H
#define MLXC_KERNELS_SIGNATURES_H

#include "mlxc/kernel.h"

typedef struct mlxc_kernel_sig_entry {
    const char           *name;
    mlxc_kernel_signature sig;
} mlxc_kernel_sig_entry;

/* NULL when `name` is not a built-in kernel. */
const mlxc_kernel_signature *mlxc_kernel_builtin_signature(const char *name);

#endif
