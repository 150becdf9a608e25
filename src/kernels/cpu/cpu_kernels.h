/* The CPU backend's built-in kernels: one C function per kernel name, with
 * the argument layout of src/kernels/params.h. */
#ifndef MLXC_KERNELS_CPU_H
#define MLXC_KERNELS_CPU_H

#include <string.h>

#include "mlxc/kernel.h"

typedef struct mlxc_cpu_builtin {
    const char           *name;
    mlxc_cpu_kernel_fn    fn;
    mlxc_kernel_signature sig;
} mlxc_cpu_builtin;

/* NULL when no built-in has that name. */
const mlxc_cpu_builtin *mlxc_cpu_builtin_find(const char *name);

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

/* Inline 16-bit float conversions (round to nearest even), shared by the
 * kernels so the compiler can vectorize their loops. */
static inline float mlxc_cpu_bf16_load(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint16_t mlxc_cpu_bf16_store(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
float    mlxc_f16_to_f32(uint16_t h);
uint16_t mlxc_f32_to_f16(float f);

#endif
