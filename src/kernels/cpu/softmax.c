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
/* Logits of columns j..j+3 of one row (those below nv; -inf past it). */
OPS_ALWAYS_INLINE ops_v4f logit4(ops_dtype t, const void *xr, /* (cols) */ const void *mr, /* (cols) */
                                 const mlxc_p_softmax *p, uint32_t nv, uint32_t j) {
    float f[4];
    if (j + 4 <= nv) {
        const ops_v4f v = ops_ld4(t, xr, j) * p->scale;
        return p->has_mask ? v + ops_ld4(t, mr, j) : v;
    }
    for (uint32_t k = 0; k < 4; k++) {
        f[k] = -INFINITY;
        if (j + k < nv) {
            f[k] = ops_ld(t, xr, j + k) * p->scale;
            if (p->has_mask) f[k] = f[k] + ops_ld(t, mr, j + k);
        }
    }
    ops_v4f v;
    memcpy(&v, f, 16);
    return v;
}

OPS_ALWAYS_INLINE void softmax(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *x = l->args[0];    /* (rows, cols), rows = heads * q_len */
    const void *mask = l->args[1]; /* (q_len, cols), read when has_mask */
    void *out = l->args[2];        /* (rows, cols) */
    const mlxc_p_softmax *p = l->args[3];
    const uint32_t cols = p->cols;
    const size_t es = t == OPS_F32 ? 4 : 2;
    float kept[SM_KEEP + 8]; /* (nv) exps of the row, when nv <= SM_KEEP */
    uint64_t r0, r1;
    mlxc_cpu_slice(l, p->rows, &r0, &r1);
    for (uint64_t r = r0; r < r1; r++) {
        const uint32_t q = (uint32_t)(r % p->q_len);
        const uint64_t lim = p->causal ? (uint64_t)p->q_offset + q : UINT64_MAX;
        const uint32_t nv = lim < cols ? (uint32_t)lim + 1 : cols;
        const void *xr = (const char *)x + r * cols * es;              /* (cols) */
        const void *mr = (const char *)mask + (uint64_t)q * cols * es; /* (cols) */
        void *o = (char *)out + r * cols * es;                         /* (cols) */
        ops_v4f vm = ops_v4_splat(-INFINITY);
        for (uint32_t j = 0; j < nv; j += 4) {
            const ops_v4f v = logit4(t, xr, mr, p, nv, j);
            vm = ops_v4_sel(v > vm, v, vm);
        }
        float m = vm[0];
        for (uint32_t k = 1; k < 4; k++) m = vm[k] > m ? vm[k] : m;
        if (m == -INFINITY) {
            for (uint32_t j = 0; j < cols; j++) ops_st(t, o, j, 0.0f);
            continue;
        }
        /* Rows that fit keep their exps for the last pass. */
        const int keep = nv <= SM_KEEP;
        ops_v4f a0 = ops_v4_splat(0.0f), a1 = a0, ex;
        uint32_t j = 0;
        for (; j + 8 <= nv; j += 8) {
            a0 += ex = ops_exp4(logit4(t, xr, mr, p, nv, j) - m);
            if (keep) memcpy(kept + j, &ex, 16);
            a1 += ex = ops_exp4(logit4(t, xr, mr, p, nv, j + 4) - m);
            if (keep) memcpy(kept + j + 4, &ex, 16);
        }
        if (j < nv) {
            a0 += ex = ops_exp4(logit4(t, xr, mr, p, nv, j) - m);
            if (keep) memcpy(kept + j, &ex, 16);
        }
        if (j + 4 < nv) {
            a1 += ex = ops_exp4(logit4(t, xr, mr, p, nv, j + 4) - m);
            if (keep) memcpy(kept + j + 4, &ex, 16);
        }
        const float sum = ((a0[0] + a0[1]) + (a0[2] + a0[3])) + ((a1[0] + a1[1]) + (a1[2] + a1[3]));
        const float inv = 1.0f / sum;
        for (j = 0; j < nv; j += 4) {
            if (keep) memcpy(&ex, kept + j, 16);
            else ex = ops_exp4(logit4(t, xr, mr, p, nv, j) - m);
            const ops_v4f e = ex * inv;
            if (j + 4 <= nv) {
                ops_st4(t, o, j, e);
                continue;
            }
            for (uint32_t k = 0; k < nv - j; k++) ops_st(t, o, j + k, e[k]);
        }
        for (j = nv; j < cols; j++) ops_st(t, o, j, 0.0f);
    }
}

static void softmax_f32(const mlxc_cpu_launch *l) { softmax(l, OPS_F32); }
static void softmax_f16(const mlxc_cpu_launch *l) { softmax(l, OPS_F16); }
static void softmax_bf16(const mlxc_cpu_launch *l) { softmax(l, OPS_BF16); }

#define MLXC_FAMILY_NAME softmax
#define MLXC_FAMILY_DEF "kernels/softmax.def"
#include "kernels/cpu/family_tables.h"
