/* Row softmax with the attention extras: y = softmax(x * scale + mask) with
 * an optional additive mask (q_len, cols) shared by every head and an
 * optional causal limit (see mlxc_p_softmax).  f32 throughout; a fully
 * masked row gives zeros, not NaN. */
#include "kernels/cpu/ops_cpu.h"

#define SOFTMAX(SFX, T, LD, ST)                                                 \
    static inline float logit_##SFX(const T *xr, const T *mr, const mlxc_p_softmax *p, uint32_t lim, uint32_t j) { \
        if (j > lim) return -INFINITY;                                         \
        float v = LD(xr[j]) * p->scale;                                        \
        return p->has_mask ? v + LD(mr[j]) : v;                                \
    }                                                                          \
    static void softmax_##SFX(const mlxc_cpu_launch *l) {                      \
        const T *x = l->args[0], *mask = l->args[1];                           \
        T *out = l->args[2];                                                   \
        const mlxc_p_softmax *p = l->args[3];                                  \
        const uint32_t cols = p->cols;                                         \
        uint64_t r0, r1;                                                       \
        mlxc_cpu_slice(l, p->rows, &r0, &r1);                                  \
        for (uint64_t r = r0; r < r1; r++) {                                   \
            const uint32_t q = (uint32_t)(r % p->q_len);                       \
            const uint32_t lim = p->causal ? p->q_offset + q : UINT32_MAX;     \
            const T *xr = x + r * cols, *mr = mask + (uint64_t)q * cols;       \
            T *o = out + r * cols;                                             \
            float m = -INFINITY;                                               \
            for (uint32_t j = 0; j < cols; j++) m = fmaxf(m, logit_##SFX(xr, mr, p, lim, j)); \
            if (m == -INFINITY) {                                              \
                for (uint32_t j = 0; j < cols; j++) o[j] = ST(0.0f);           \
                continue;                                                      \
            }                                                                  \
            float acc[8] = {0};                                                \
            uint32_t j = 0;                                                    \
            for (; j + 8 <= cols; j += 8)                                      \
                for (uint32_t k = 0; k < 8; k++) acc[k] += expf(logit_##SFX(xr, mr, p, lim, j + k) - m); \
            for (; j < cols; j++) acc[0] += expf(logit_##SFX(xr, mr, p, lim, j) - m); \
            const float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])); \
            const float inv = 1.0f / sum;                                      \
            for (j = 0; j < cols; j++) o[j] = ST(expf(logit_##SFX(xr, mr, p, lim, j) - m) * inv); \
        }                                                                      \
    }
OPS_FLOAT_DTYPES(SOFTMAX)

#define ENTRIES(SFX, T, LD, ST) {"softmax_" #SFX, softmax_##SFX, OPS_SIG3(sizeof(mlxc_p_softmax))},
const mlxc_cpu_builtin mlxc_cpu_kernels_ops_softmax[] = {OPS_FLOAT_DTYPES(ENTRIES)};
const size_t mlxc_cpu_kernels_ops_softmax_count =
    sizeof mlxc_cpu_kernels_ops_softmax / sizeof *mlxc_cpu_kernels_ops_softmax;
