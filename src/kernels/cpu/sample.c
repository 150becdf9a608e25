/* Selection op-library kernels: argmax, top-k and softmax sampling, one
 * row (of logits) per step.  They rank elements by ops_rank_key: larger
 * value first, ties to the lower index, NaN last. */
#include "kernels/params_sample.h"
#include "kernels/cpu/ops_cpu.h"

/* The index ops_rank_key ranks first in row[0, n), without a key per
 * element: the largest non-NaN value m by a four-lane max, then the first
 * index holding a value == m (so -0 and +0 tie, the lower index wins);
 * index 0 when every element is NaN. */
OPS_ALWAYS_INLINE uint32_t argmax_row(ops_dtype t, const void *row, /* (n) */ uint32_t n) {
    ops_v4f vm = ops_v4_splat(-INFINITY);
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const ops_v4f v = ops_ld4(t, row, i);
        vm = ops_v4_sel(v > vm, v, vm);
    }
    float m = vm[0];
    for (uint32_t k = 1; k < 4; k++) m = vm[k] > m ? vm[k] : m;
    for (; i < n; i++) m = ops_ld(t, row, i) > m ? ops_ld(t, row, i) : m;
    for (i = 0; i + 4 <= n; i += 4) {
        const ops_v4i eq = ops_ld4(t, row, i) == m;
        if ((eq[0] | eq[1]) | (eq[2] | eq[3])) return i + (eq[0] ? 0 : eq[1] ? 1 : eq[2] ? 2 : 3);
    }
    for (; i < n; i++)
        if (ops_ld(t, row, i) == m) return i;
    return 0;
}

/* argmax(x, idx, val, p): the best index of each row and its value. */
OPS_ALWAYS_INLINE void argmax(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *x = l->args[0]; /* (rows, n) */
    uint32_t *idx = l->args[1]; /* (rows) */
    float *val = l->args[2];    /* (rows) */
    const mlxc_p_rows *p = l->args[3];
    const size_t es = t == OPS_F32 ? 4 : 2;
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->rows, &lo, &hi);
    for (uint64_t r = lo; r < hi; r++) {
        const void *row = (const char *)x + r * p->n * es; /* (n) */
        idx[r] = argmax_row(t, row, p->n);
        val[r] = ops_ld(t, row, idx[r]);
    }
}

/* topk(x, val, idx, p): a descending list of the k best keys, kept by
 * insertion (an element below the k-th is rejected at once). */
OPS_ALWAYS_INLINE void topk(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *x = l->args[0]; /* (rows, n) */
    float *val = l->args[1];    /* (rows, k) */
    uint32_t *idx = l->args[2]; /* (rows, k) */
    const mlxc_p_topk *p = l->args[3];
    const uint32_t k = p->k;
    const size_t es = t == OPS_F32 ? 4 : 2;
    uint64_t keys[64]; /* (k) the best keys so far, descending */
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->rows, &lo, &hi);
    for (uint64_t r = lo; r < hi; r++) {
        const void *row = (const char *)x + r * p->n * es; /* (n) */
        uint32_t have = 0;
        /* Once the list is full, a value below tv cannot enter (tv: the
         * k-th value, -inf while that is NaN): chunks of four with none
         * >= tv skip the key test. */
        float tv = -INFINITY;
        for (uint32_t i = 0; i < p->n; i++) {
            if (have == k && i % 4 == 0 && i + 4 <= p->n) {
                const ops_v4i ge = ops_ld4(t, row, i) >= tv;
                if (!((ge[0] | ge[1]) | (ge[2] | ge[3]))) {
                    i += 3;
                    continue;
                }
            }
            const uint64_t key = ops_rank_key(ops_ld(t, row, i), i);
            if (have == k && key <= keys[k - 1]) continue;
            uint32_t j = have < k ? have++ : k - 1;
            for (; j > 0 && keys[j - 1] < key; j--) keys[j] = keys[j - 1];
            keys[j] = key;
            if (have == k) {
                const float kth = ops_ld(t, row, ops_rank_index(keys[k - 1]));
                tv = kth == kth ? kth : -INFINITY;
            }
        }
        for (uint32_t j = 0; j < k; j++) {
            const uint32_t i = ops_rank_index(keys[j]);
            idx[r * k + j] = i;
            val[r * k + j] = ops_ld(t, row, i);
        }
    }
}

/* sample(x, uniforms, token, logprob, p); see params_sample.h.
 * p_i = exp((x_i - max) / T); the sums run in double.  When rounding leaves
 * u * sum at or past the last partial sum, the last index with p_i > 0 wins. */
OPS_ALWAYS_INLINE void sample(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *x = l->args[0];         /* (rows, n) logits */
    const float *uniforms = l->args[1]; /* (rows), read when use_u_buf */
    uint32_t *token = l->args[2];       /* (rows) */
    float *logprob = l->args[3];        /* (rows), written when write_logprob */
    const mlxc_p_sample *p = l->args[4];
    const uint32_t n = p->n;
    const float inv_t = p->temperature > 0.0f ? 1.0f / p->temperature : 1.0f;
    const size_t es = t == OPS_F32 ? 4 : 2;
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->rows, &lo, &hi);
    for (uint64_t r = lo; r < hi; r++) {
        const void *row = (const char *)x + r * n * es; /* (n) */
        const uint32_t amax = argmax_row(t, row, n);
        const float m = ops_ld(t, row, amax);
        double sum = 0.0;
        for (uint32_t i = 0; i < n; i++) sum += expf((ops_ld(t, row, i) - m) * inv_t);
        uint32_t tok = amax;
        if (p->temperature > 0.0f) {
            const double u = p->use_u_buf ? uniforms[r] : p->u;
            const double target = u * sum;
            double c = 0.0;
            uint32_t last = amax;
            tok = UINT32_MAX;
            for (uint32_t i = 0; i < n && tok == UINT32_MAX; i++) {
                const float e = expf((ops_ld(t, row, i) - m) * inv_t);
                if (e > 0.0f) last = i;
                c += e;
                if (c > target) tok = i;
            }
            if (tok == UINT32_MAX) tok = last;
        }
        token[r] = tok;
        if (p->write_logprob) logprob[r] = (float)((double)((ops_ld(t, row, tok) - m) * inv_t) - log(sum));
    }
}

/* One entry point per kernel name. */
static void argmax_f32(const mlxc_cpu_launch *l) { argmax(l, OPS_F32); }
static void argmax_f16(const mlxc_cpu_launch *l) { argmax(l, OPS_F16); }
static void argmax_bf16(const mlxc_cpu_launch *l) { argmax(l, OPS_BF16); }
static void topk_f32(const mlxc_cpu_launch *l) { topk(l, OPS_F32); }
static void topk_f16(const mlxc_cpu_launch *l) { topk(l, OPS_F16); }
static void topk_bf16(const mlxc_cpu_launch *l) { topk(l, OPS_BF16); }
static void sample_f32(const mlxc_cpu_launch *l) { sample(l, OPS_F32); }
static void sample_f16(const mlxc_cpu_launch *l) { sample(l, OPS_F16); }
static void sample_bf16(const mlxc_cpu_launch *l) { sample(l, OPS_BF16); }

#define MLXC_FAMILY_NAME sample
#define MLXC_FAMILY_DEF "kernels/sample.def"
#include "kernels/cpu/family_tables.h"
