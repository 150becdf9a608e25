/* Argument signatures of every built-in kernel name, shared by the backends:
 * one name has one layout everywhere, and a backend whose kernels carry no
 * signature of their own (CUDA modules) checks dispatches against these. */
#ifndef MLXC_KERNELS_SIGNATURES_H
#define MLXC_KERNELS_SIGNATURES_H

#include <stddef.h>

#include "mlxc/kernel.h"

typedef struct mlxc_kernel_sig_entry {
    const char           *name;
    mlxc_kernel_signature sig;
} mlxc_kernel_sig_entry;

/* NULL when `name` is not a built-in kernel. */
const mlxc_kernel_signature *mlxc_kernel_builtin_signature(const char *name);

/* Entry i of all the tables, families in families.def order, and its
 * family; NULL past the end. */
const mlxc_kernel_sig_entry *mlxc_kernel_builtin_at(size_t i, const char **family);

/* The family (families.def) that holds the built-in kernel `name`, which is
 * also the stem of the CUDA source, and so the CUDA module, that defines it;
 * NULL when `name` is not a built-in kernel. */
const char *mlxc_kernel_family_of(const char *name);

#endif
