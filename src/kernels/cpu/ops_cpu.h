/* Shared by the op-library CPU kernels (ops_*.c): per-dtype load/store
 * macros, the dtype lists the kernel tables are generated from, and the
 * total order on (value, index) that argmax and top-k use. */
#ifndef MLXC_KERNELS_CPU_OPS_CPU_H
#define MLXC_KERNELS_CPU_OPS_CPU_H

#include <math.h>
#include <stdint.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/params_ops.h"

#define OPS_F32_LD(x) (x)
#define OPS_F32_ST(x) (x)

/* M(sfx, storage type, load to f32, store from f32) for every float dtype. */
#define OPS_FLOAT_DTYPES(M)                                   \
    M(f32, float, OPS_F32_LD, OPS_F32_ST)                     \
    M(f16, uint16_t, mlxc_f16_to_f32, mlxc_f32_to_f16)        \
    M(bf16, uint16_t, mlxc_cpu_bf16_load, mlxc_cpu_bf16_store)

#define OPS_P MLXC_PARAM_PTR
#define OPS_B MLXC_PARAM_BYTES
/* Signatures: n pointers, then one by-value struct of `sz` bytes. */
#define OPS_SIG2(sz) {3, {OPS_P, OPS_P, OPS_B}, {0, 0, sz}}
#define OPS_SIG3(sz) {4, {OPS_P, OPS_P, OPS_P, OPS_B}, {0, 0, 0, sz}}
#define OPS_SIG4(sz) {5, {OPS_P, OPS_P, OPS_P, OPS_P, OPS_B}, {0, 0, 0, 0, sz}}
#define OPS_SIG5(sz) {6, {OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_B}, {0, 0, 0, 0, 0, sz}}

/* A key whose unsigned order is the order argmax/top-k rank elements by:
 * larger value first, then lower index; NaN ranks below everything and
 * -0 equals +0.  The high word orders the float, the low word is ~index. */
static inline uint64_t ops_rank_key(float v, uint32_t index) {
    uint32_t u;
    if (v != v) u = 0;
    else {
        if (v == 0.0f) v = 0.0f;
        memcpy(&u, &v, 4);
        u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    }
    return ((uint64_t)u << 32) | (uint32_t)~index;
}
static inline uint32_t ops_rank_index(uint64_t key) { return ~(uint32_t)key; }

#endif
