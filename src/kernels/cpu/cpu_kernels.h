/* The CPU backend's built-in kernels: one C function per kernel name, with
 * the argument layout of src/kernels/params_*.h. */
#ifndef MLXC_KERNELS_CPU_H
#define MLXC_KERNELS_CPU_H

#include <string.h>

#include "core/half.h"
#include "mlxc/kernel.h"

typedef struct mlxc_cpu_builtin {
    const char           *name;
    mlxc_cpu_kernel_fn    fn;
    mlxc_kernel_signature sig;
} mlxc_cpu_builtin;

/* NULL when no built-in has that name. */
const mlxc_cpu_builtin *mlxc_cpu_builtin_find(const char *name);
/* Entry i over every table; NULL past the end. */
const mlxc_cpu_builtin *mlxc_cpu_builtin_at(size_t i);

/* Linear index of the launch's group and the group count. */
static inline uint64_t mlxc_cpu_group_linear(const mlxc_cpu_launch *l) {
    return l->group.x + (uint64_t)l->grid.x * (l->group.y + (uint64_t)l->grid.y * l->group.z);
}
static inline uint64_t mlxc_cpu_group_count(const mlxc_cpu_launch *l) {
    return (uint64_t)l->grid.x * l->grid.y * l->grid.z;
}
/* The contiguous slice [*b, *e) of n items this group owns. */
static inline void mlxc_cpu_slice(const mlxc_cpu_launch *l, uint64_t n, uint64_t *b, uint64_t *e) {
    uint64_t g = mlxc_cpu_group_count(l), i = mlxc_cpu_group_linear(l);
    uint64_t per = (n + g - 1) / g;
    uint64_t lo = i * per;
    *b = lo < n ? lo : n;
    *e = lo + per < n ? lo + per : n;
}

#endif
