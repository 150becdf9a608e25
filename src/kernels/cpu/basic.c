/* Elementwise add/mul, byte copy, rms_norm and the fused rms_norm_mul. */
#include <math.h>
#include <stdint.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/params.h"

/* ---- elementwise ---------------------------------------------------------------- */

#define ELEMENTWISE(NAME, T, LOAD, STORE, OP)                                   \
    static void NAME(const mlxc_cpu_launch *l) {                               \
        const T *a = l->args[0], *b = l->args[1];                              \
        T *out = l->args[2];                                                   \
        const mlxc_p_elementwise *p = l->args[3];                              \
        uint64_t lo, hi;                                                       \
        mlxc_cpu_slice(l, p->n, &lo, &hi);                                     \
        for (uint64_t i = lo; i < hi; i++) out[i] = STORE(LOAD(a[i]) OP LOAD(b[i])); \
    }

#define F32_ID(x) (x)
ELEMENTWISE(add_f32, float, F32_ID, F32_ID, +)
ELEMENTWISE(mul_f32, float, F32_ID, F32_ID, *)
ELEMENTWISE(add_bf16, uint16_t, mlxc_half_bf16_to_f32, mlxc_half_f32_to_bf16, +)
ELEMENTWISE(mul_bf16, uint16_t, mlxc_half_bf16_to_f32, mlxc_half_f32_to_bf16, *)
ELEMENTWISE(add_f16, uint16_t, mlxc_half_f16_to_f32, mlxc_half_f32_to_f16, +)
ELEMENTWISE(mul_f16, uint16_t, mlxc_half_f16_to_f32, mlxc_half_f32_to_f16, *)

static void copy_bytes(const mlxc_cpu_launch *l) {
    const unsigned char *src = l->args[0];
    unsigned char *dst = l->args[1];
    const mlxc_p_elementwise *p = l->args[2];
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->n, &lo, &hi);
    if (hi > lo) memmove(dst + lo, src + lo, hi - lo);
}

/* ---- rms_norm ----------------------------------------------------------------------- */

/* 1 / sqrt(mean(x^2) + eps) with eight fixed partial sums: vectorizable and
 * deterministic, and shared by rms_norm and rms_norm_mul so both agree. */
#define INV_RMS(NAME, T, LOAD)                                                  \
    static inline float NAME(const T *x, uint32_t dim, float eps) {            \
        float acc[8] = {0};                                                    \
        uint32_t i = 0;                                                        \
        for (; i + 8 <= dim; i += 8)                                           \
            for (int k = 0; k < 8; k++) { float v = LOAD(x[i + k]); acc[k] += v * v; } \
        for (; i < dim; i++) { float v = LOAD(x[i]); acc[0] += v * v; }        \
        float ss = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])); \
        return 1.0f / sqrtf(ss / (float)dim + eps);                            \
    }

INV_RMS(inv_rms_f32, float, F32_ID)
INV_RMS(inv_rms_bf16, uint16_t, mlxc_half_bf16_to_f32)
INV_RMS(inv_rms_f16, uint16_t, mlxc_half_f16_to_f32)

/* rms_norm(x, w, out, p): row r = x[r] * inv_rms * w (w optional). */
#define RMS_NORM(NAME, T, LOAD, STORE, INV)                                     \
    static void NAME(const mlxc_cpu_launch *l) {                               \
        const T *x = l->args[0], *w = l->args[1];                              \
        T *out = l->args[2];                                                   \
        const mlxc_p_rms_norm *p = l->args[3];                                 \
        uint64_t r0, r1;                                                       \
        mlxc_cpu_slice(l, p->rows, &r0, &r1);                                  \
        for (uint64_t r = r0; r < r1; r++) {                                   \
            const T *xr = x + r * p->dim;                                      \
            T *o = out + r * p->dim;                                           \
            float inv = INV(xr, p->dim, p->eps);                               \
            if (p->has_weight)                                                 \
                for (uint32_t i = 0; i < p->dim; i++) o[i] = STORE(LOAD(xr[i]) * inv * LOAD(w[i])); \
            else                                                               \
                for (uint32_t i = 0; i < p->dim; i++) o[i] = STORE(LOAD(xr[i]) * inv); \
        }                                                                      \
    }

RMS_NORM(rms_norm_f32, float, F32_ID, F32_ID, inv_rms_f32)
RMS_NORM(rms_norm_bf16, uint16_t, mlxc_half_bf16_to_f32, mlxc_half_f32_to_bf16, inv_rms_bf16)
RMS_NORM(rms_norm_f16, uint16_t, mlxc_half_f16_to_f32, mlxc_half_f32_to_f16, inv_rms_f16)

/* rms_norm_mul(x, w, s, out, p): the normalised value is rounded to T first,
 * exactly as rms_norm stores it, then multiplied by s and rounded again. */
#define RMS_NORM_MUL(NAME, T, LOAD, STORE, INV)                                 \
    static void NAME(const mlxc_cpu_launch *l) {                               \
        const T *x = l->args[0], *w = l->args[1], *s = l->args[2];             \
        T *out = l->args[3];                                                   \
        const mlxc_p_rms_norm *p = l->args[4];                                 \
        uint64_t r0, r1;                                                       \
        mlxc_cpu_slice(l, p->rows, &r0, &r1);                                  \
        for (uint64_t r = r0; r < r1; r++) {                                   \
            const T *xr = x + r * p->dim, *sr = s + r * p->dim;                \
            T *o = out + r * p->dim;                                           \
            float inv = INV(xr, p->dim, p->eps);                               \
            for (uint32_t i = 0; i < p->dim; i++) {                            \
                float v = LOAD(xr[i]) * inv;                                   \
                if (p->has_weight) v = v * LOAD(w[i]);                         \
                o[i] = STORE(LOAD(STORE(v)) * LOAD(sr[i]));                    \
            }                                                                  \
        }                                                                      \
    }

RMS_NORM_MUL(rms_norm_mul_f32, float, F32_ID, F32_ID, inv_rms_f32)
RMS_NORM_MUL(rms_norm_mul_bf16, uint16_t, mlxc_half_bf16_to_f32, mlxc_half_f32_to_bf16, inv_rms_bf16)
RMS_NORM_MUL(rms_norm_mul_f16, uint16_t, mlxc_half_f16_to_f32, mlxc_half_f32_to_f16, inv_rms_f16)

/* ---- table --------------------------------------------------------------------------- */

#define P MLXC_PARAM_PTR
#define B MLXC_PARAM_BYTES
#define SIG3(sz) {4, {P, P, P, B}, {0, 0, 0, sz}}
const mlxc_cpu_builtin mlxc_cpu_kernels_basic[] = {
    {"add_f32", add_f32, SIG3(sizeof(mlxc_p_elementwise))},
    {"add_f16", add_f16, SIG3(sizeof(mlxc_p_elementwise))},
    {"add_bf16", add_bf16, SIG3(sizeof(mlxc_p_elementwise))},
    {"mul_f32", mul_f32, SIG3(sizeof(mlxc_p_elementwise))},
    {"mul_f16", mul_f16, SIG3(sizeof(mlxc_p_elementwise))},
    {"mul_bf16", mul_bf16, SIG3(sizeof(mlxc_p_elementwise))},
    {"copy_bytes", copy_bytes, {3, {P, P, B}, {0, 0, sizeof(mlxc_p_elementwise)}}},
    {"rms_norm_f32", rms_norm_f32, SIG3(sizeof(mlxc_p_rms_norm))},
    {"rms_norm_f16", rms_norm_f16, SIG3(sizeof(mlxc_p_rms_norm))},
    {"rms_norm_bf16", rms_norm_bf16, SIG3(sizeof(mlxc_p_rms_norm))},
    {"rms_norm_mul_f32", rms_norm_mul_f32, {5, {P, P, P, P, B}, {0, 0, 0, 0, sizeof(mlxc_p_rms_norm)}}},
    {"rms_norm_mul_f16", rms_norm_mul_f16, {5, {P, P, P, P, B}, {0, 0, 0, 0, sizeof(mlxc_p_rms_norm)}}},
    {"rms_norm_mul_bf16", rms_norm_mul_bf16, {5, {P, P, P, P, B}, {0, 0, 0, 0, sizeof(mlxc_p_rms_norm)}}},
};

const size_t mlxc_cpu_kernels_basic_count = sizeof mlxc_cpu_kernels_basic / sizeof *mlxc_cpu_kernels_basic;
