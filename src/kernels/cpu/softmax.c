/* Row softmax with the attention extras: y = softmax(x * scale + mask) with
 * an optional additive mask (q_len, cols) shared by every head and an
 * optional causal limit (see mlxc_p_softmax).  f32 throughout; a fully
 * masked row gives zeros, not NaN. */
#include "kernels/params_softmax.h"
#include "kernels/cpu/ops_cpu.h"

/* Three passes over the columns j < nv a row can see (the causal limit):
 * the max, the sum of exp(logit - max) in eight fixed lanes (j % 8), and
 * the scaled exps; four columns at a time through ops_exp4, the last
 * partial chunk padded with -inf (exp 0).  Columns past nv get zeros.
 * Rows of up to SM_KEEP visible columns keep their exps (the same values)
 * for the last pass instead of computing them again. */
#define SM_KEEP 4096u
#define SOFTMAX(SFX, T, LD, ST)                                                 \
    /* Logits of columns j..j+3 (those below nv; -inf past it). */             \
    static inline ops_v4f logit4_##SFX(const T *xr, const T *mr, const mlxc_p_softmax *p, uint32_t nv, uint32_t j) { \
        float f[4];                                                            \
        if (j + 4 <= nv) {                                                     \
            const ops_v4f v = ops_ld4_##SFX(xr + j) * p->scale;               \
            return p->has_mask ? v + ops_ld4_##SFX(mr + j) : v;                \
        }                                                                      \
        for (uint32_t k = 0; k < 4; k++) {                                     \
            f[k] = -INFINITY;                                                  \
            if (j + k < nv) {                                                  \
                f[k] = LD(xr[j + k]) * p->scale;                               \
                if (p->has_mask) f[k] = f[k] + LD(mr[j + k]);                  \
            }                                                                  \
        }                                                                      \
        ops_v4f v;                                                             \
        memcpy(&v, f, 16);                                                     \
        return v;                                                              \
    }                                                                          \
    static void softmax_##SFX(const mlxc_cpu_launch *l) {                      \
        const T *x = l->args[0], *mask = l->args[1];                           \
        T *out = l->args[2];                                                   \
        const mlxc_p_softmax *p = l->args[3];                                  \
        const uint32_t cols = p->cols;                                         \
        float kept[SM_KEEP + 8];                                               \
        uint64_t r0, r1;                                                       \
        mlxc_cpu_slice(l, p->rows, &r0, &r1);                                  \
        for (uint64_t r = r0; r < r1; r++) {                                   \
            const uint32_t q = (uint32_t)(r % p->q_len);                       \
            const uint64_t lim = p->causal ? (uint64_t)p->q_offset + q : UINT64_MAX; \
            const uint32_t nv = lim < cols ? (uint32_t)lim + 1 : cols;         \
            const T *xr = x + r * cols, *mr = mask + (uint64_t)q * cols;       \
            T *o = out + r * cols;                                             \
            ops_v4f vm = ops_v4_splat(-INFINITY);                              \
            for (uint32_t j = 0; j < nv; j += 4) {                             \
                const ops_v4f v = logit4_##SFX(xr, mr, p, nv, j);              \
                vm = ops_v4_sel(v > vm, v, vm);                                \
            }                                                                  \
            float m = vm[0];                                                   \
            for (uint32_t k = 1; k < 4; k++) m = vm[k] > m ? vm[k] : m;        \
            if (m == -INFINITY) {                                              \
                for (uint32_t j = 0; j < cols; j++) o[j] = ST(0.0f);           \
                continue;                                                      \
            }                                                                  \
            /* Rows that fit keep their exps for the last pass. */             \
            const int keep = nv <= SM_KEEP;                                    \
            ops_v4f a0 = ops_v4_splat(0.0f), a1 = a0, ex;                      \
            uint32_t j = 0;                                                    \
            for (; j + 8 <= nv; j += 8) {                                      \
                a0 += ex = ops_exp4(logit4_##SFX(xr, mr, p, nv, j) - m);       \
                if (keep) memcpy(kept + j, &ex, 16);                           \
                a1 += ex = ops_exp4(logit4_##SFX(xr, mr, p, nv, j + 4) - m);   \
                if (keep) memcpy(kept + j + 4, &ex, 16);                       \
            }                                                                  \
            if (j < nv) {                                                      \
                a0 += ex = ops_exp4(logit4_##SFX(xr, mr, p, nv, j) - m);       \
                if (keep) memcpy(kept + j, &ex, 16);                           \
            }                                                                  \
            if (j + 4 < nv) {                                                  \
                a1 += ex = ops_exp4(logit4_##SFX(xr, mr, p, nv, j + 4) - m);   \
                if (keep) memcpy(kept + j + 4, &ex, 16);                       \
            }                                                                  \
            const float sum = ((a0[0] + a0[1]) + (a0[2] + a0[3])) + ((a1[0] + a1[1]) + (a1[2] + a1[3])); \
            const float inv = 1.0f / sum;                                      \
            for (j = 0; j < nv; j += 4) {                                      \
                if (keep) memcpy(&ex, kept + j, 16);                           \
                else ex = ops_exp4(logit4_##SFX(xr, mr, p, nv, j) - m);        \
                const ops_v4f e = ex * inv;                                    \
                if (j + 4 <= nv) {                                             \
                    ops_st4_##SFX(o + j, e);                                   \
                    continue;                                                  \
                }                                                              \
                for (uint32_t k = 0; k < nv - j; k++) o[j + k] = ST(e[k]);     \
            }                                                                  \
            for (j = nv; j < cols; j++) o[j] = ST(0.0f);                       \
        }                                                                      \
    }
OPS_FLOAT_DTYPES(SOFTMAX)

#define MLXC_FAMILY_NAME softmax
#define MLXC_FAMILY_DEF "kernels/softmax.def"
#include "kernels/cpu/family_tables.h"
