/* Attention on the CPU (src/kernels/params_attention.h): split-KV decode
 * (the last split of a KV head to finish merges the head's partials) and
 * prefill over (query tile, head) items.  Both run one routine: a set of
 * query rows (the heads of a KV group, or a tile of tokens) walks blocks of
 * keys, each block converted to f32 once in the worker's scratch, with an
 * online softmax per row in the log2 domain (the CUDA kernels keep the same
 * m/l/acc, so the scratch layout is shared). */
#include "kernels/cpu/ops_cpu.h"
#include "kernels/params_attention.h"

#define ATTN_LOG2E 1.4426950408889634f
#define ATTN_BK 16u         /* keys per block                  */
#define ATTN_TQ 8u          /* prefill query rows per item     */
#define ATTN_MAX_HD 256u
#define ATTN_MAX_ROWS 8u

static inline float attn_ld(uint32_t dt, const void *p, uint64_t i) {
    switch (dt) {
    case MLXC_ATTN_DT_F32: return ((const float *)p)[i];
    case MLXC_ATTN_DT_F16: return mlxc_half_f16_to_f32(((const uint16_t *)p)[i]);
    default: return mlxc_half_bf16_to_f32(((const uint16_t *)p)[i]);
    }
}
static inline void attn_st(uint32_t dt, void *p, uint64_t i, float v) {
    switch (dt) {
    case MLXC_ATTN_DT_F32: ((float *)p)[i] = v; break;
    case MLXC_ATTN_DT_F16: ((uint16_t *)p)[i] = mlxc_half_f32_to_f16(v); break;
    default: ((uint16_t *)p)[i] = mlxc_half_f32_to_bf16(v); break;
    }
}

/* a . b over n (a multiple of 8) with 8 partial sums, so it vectorizes. */
static inline float attn_dot(const float *restrict a, const float *restrict b, uint32_t n) {
    float s[8] = {0};
    for (uint32_t d = 0; d < n; d += 8)
        for (uint32_t k = 0; k < 8; k++) s[k] += a[d + k] * b[d + k];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* What attn_rows needs to find and score keys. */
typedef struct attn_src {
    const uint16_t *k, *v;   /* this KV head's rows                */
    uint32_t        kv_dt;   /* MLXC_ATTN_DT_F16 or _BF16          */
    uint32_t        hd, capacity, ring;
    float           scale, softcap;
} attn_src;

/* Online softmax of `nrows` query rows (qf: nrows x hd, f32) over the key
 * positions [lo[r], hi[r]) of each row, visited block by block over
 * [blo, bhi).  m, l, acc carry the running state (log2 domain). */
static void attn_rows(const attn_src *s, const float *qf, uint32_t nrows, const int64_t *lo, const int64_t *hi,
                      int64_t blo, int64_t bhi, float *m, float *l, float *acc, float *kb, float *vb) {
    const uint32_t hd = s->hd;
    for (int64_t b0 = blo; b0 < bhi; b0 += ATTN_BK) {
        const uint32_t nb = (uint32_t)(bhi - b0 < ATTN_BK ? bhi - b0 : ATTN_BK);
        for (uint32_t j = 0; j < nb; j++) {
            const uint64_t pos = (uint64_t)(b0 + j), slot = s->ring ? pos % s->capacity : pos;
            const uint16_t *kr = s->k + slot * hd, *vr = s->v + slot * hd;
            float *kf = kb + (size_t)j * hd, *vf = vb + (size_t)j * hd;
            if (s->kv_dt == MLXC_ATTN_DT_BF16) {
                for (uint32_t d = 0; d < hd; d++) kf[d] = mlxc_half_bf16_to_f32(kr[d]);
                for (uint32_t d = 0; d < hd; d++) vf[d] = mlxc_half_bf16_to_f32(vr[d]);
            } else {
                for (uint32_t d = 0; d < hd; d++) kf[d] = mlxc_half_f16_to_f32(kr[d]);
                for (uint32_t d = 0; d < hd; d++) vf[d] = mlxc_half_f16_to_f32(vr[d]);
            }
        }
        for (uint32_t r = 0; r < nrows; r++) {
            const int64_t j0 = lo[r] > b0 ? lo[r] - b0 : 0, j1 = hi[r] < b0 + nb ? hi[r] - b0 : nb;
            if (j0 >= j1) continue;
            float sc[ATTN_BK], bm = -INFINITY;
            for (int64_t j = j0; j < j1; j++) {
                float x = attn_dot(qf + (size_t)r * hd, kb + (size_t)j * hd, hd) * s->scale;
                if (s->softcap > 0.0f) x = s->softcap * tanhf(x / s->softcap);
                sc[j] = x * ATTN_LOG2E;
                bm = fmaxf(bm, sc[j]);
            }
            const float mn = fmaxf(m[r], bm);
            const float corr = exp2f(m[r] - mn); /* m = -inf: 0 */
            float *a = acc + (size_t)r * hd, sum = 0.0f;
            for (uint32_t d = 0; d < hd; d++) a[d] *= corr;
            for (int64_t j = j0; j < j1; j++) {
                const float p = exp2f(sc[j] - mn);
                const float *vf = vb + (size_t)j * hd;
                sum += p;
                for (uint32_t d = 0; d < hd; d++) a[d] += p * vf[d];
            }
            l[r] = l[r] * corr + sum;
            m[r] = mn;
        }
    }
}

/* The decode length L and first attended position lo (see ops_attention.h). */
static void attn_decode_range(const mlxc_p_attn_decode *p, const void *len_buf, int64_t *lo, int64_t *len) {
    int64_t L = p->kv_len;
    if (p->len_mode == MLXC_ATTN_LEN_U32) L += ((const uint32_t *)len_buf)[0];
    else if (p->len_mode == MLXC_ATTN_LEN_I32) L += ((const int32_t *)len_buf)[0];
    if (L < 0) L = 0;
    if (!p->ring && L > p->capacity) L = p->capacity;
    int64_t first = 0;
    if (p->window && L > p->window) first = L - p->window;
    if (p->ring && L - first > p->capacity) first = L - p->capacity;
    *lo = first;
    *len = L;
}

/* Merge the S partials of each query head of KV head kvh into out. */
static void attn_decode_merge_group(const mlxc_p_attn_decode *p, const float *acc_in, const float *ml, void *out,
                                    uint32_t kvh) {
    const uint32_t hd = p->head_dim, G = p->n_heads / p->n_kv_heads, S = p->n_splits;
    for (uint64_t h = (uint64_t)kvh * G; h < (uint64_t)(kvh + 1) * G; h++) {
        float M = -INFINITY, L = 0.0f, o[ATTN_MAX_HD];
        for (uint32_t s = 0; s < S; s++) M = fmaxf(M, ml[(h * S + s) * 2]);
        for (uint32_t d = 0; d < hd; d++) o[d] = 0.0f;
        if (M > -INFINITY)
            for (uint32_t s = 0; s < S; s++) {
                const float ms = ml[(h * S + s) * 2];
                if (!(ms > -INFINITY)) continue;
                const float w = exp2f(ms - M);
                const float *a = acc_in + (h * S + s) * hd;
                L += w * ml[(h * S + s) * 2 + 1];
                for (uint32_t d = 0; d < hd; d++) o[d] += w * a[d];
            }
        const float inv = L > 0.0f ? 1.0f / L : 0.0f;
        for (uint32_t d = 0; d < hd; d++) attn_st(p->out_dtype, out, h * hd + d, o[d] * inv);
    }
}

/* One item per (KV head, split), as on CUDA: the item writes its partial
 * and counts it in the head's counter (acquire-release, so the last to
 * arrive sees every other item's partial); the last merges and resets the
 * counter to zero for the next call. */
static void attn_decode(const mlxc_cpu_launch *l, uint32_t kv_dt) {
    const void *q = l->args[0], *len_buf = l->args[3];
    const uint16_t *k = l->args[1], *v = l->args[2];
    float *scratch = l->args[4];
    void *out = l->args[5];
    const mlxc_p_attn_decode *p = l->args[6];
    const uint32_t hd = p->head_dim, G = p->n_heads / p->n_kv_heads, S = p->n_splits;
    float *kb = l->shared, *vb = kb + (size_t)ATTN_BK * hd;
    uint32_t *ctr = (uint32_t *)scratch;
    float *acc_out = scratch + MLXC_ATTN_COUNTER_WORDS(p->n_kv_heads), *ml_out = acc_out + (size_t)p->n_heads * S * hd;
    int64_t lo, L;
    attn_decode_range(p, len_buf, &lo, &L);
    const int64_t span = L - lo;
    int64_t chunk = (span + S - 1) / S;
    chunk = (chunk + MLXC_ATTN_SPLIT_ALIGN - 1) / MLXC_ATTN_SPLIT_ALIGN * MLXC_ATTN_SPLIT_ALIGN;
    uint64_t i0, i1;
    mlxc_cpu_slice(l, (uint64_t)p->n_kv_heads * S, &i0, &i1);
    for (uint64_t it = i0; it < i1; it++) {
        const uint32_t kvh = (uint32_t)(it / S), sp = (uint32_t)(it % S);
        int64_t s_lo = lo + (int64_t)sp * chunk, s_hi = s_lo + chunk;
        if (s_hi > L) s_hi = L;
        float qf[ATTN_MAX_ROWS * ATTN_MAX_HD], m[ATTN_MAX_ROWS], ls[ATTN_MAX_ROWS], acc[ATTN_MAX_ROWS * ATTN_MAX_HD];
        int64_t rlo[ATTN_MAX_ROWS], rhi[ATTN_MAX_ROWS];
        for (uint32_t g = 0; g < G; g++) {
            const uint64_t h = (uint64_t)kvh * G + g;
            for (uint32_t d = 0; d < hd; d++) qf[g * hd + d] = attn_ld(p->q_dtype, q, h * hd + d);
            m[g] = -INFINITY;
            ls[g] = 0.0f;
            rlo[g] = s_lo;
            rhi[g] = s_hi;
            for (uint32_t d = 0; d < hd; d++) acc[g * hd + d] = 0.0f;
        }
        if (s_lo < s_hi) {
            const attn_src src = {k + (uint64_t)kvh * p->capacity * hd, v + (uint64_t)kvh * p->capacity * hd, kv_dt,
                                  hd, p->capacity, p->ring, p->scale, p->softcap};
            attn_rows(&src, qf, G, rlo, rhi, s_lo, s_hi, m, ls, acc, kb, vb);
        }
        for (uint32_t g = 0; g < G; g++) {
            const uint64_t row = ((uint64_t)kvh * G + g) * S + sp;
            ml_out[row * 2] = m[g];
            ml_out[row * 2 + 1] = ls[g];
            if (m[g] > -INFINITY)
                for (uint32_t d = 0; d < hd; d++) acc_out[row * hd + d] = acc[g * hd + d];
        }
        if (__atomic_add_fetch(&ctr[kvh], 1u, __ATOMIC_ACQ_REL) == S) {
            __atomic_store_n(&ctr[kvh], 0u, __ATOMIC_RELAXED);
            attn_decode_merge_group(p, acc_out, ml_out, out, kvh);
        }
    }
}

static void attn_prefill(const mlxc_cpu_launch *l, uint32_t kv_dt) {
    const void *q = l->args[0];
    const uint16_t *k = l->args[1], *v = l->args[2];
    void *out = l->args[3];
    const mlxc_p_attn_prefill *p = l->args[4];
    const uint32_t hd = p->head_dim, G = p->n_heads / p->n_kv_heads;
    const uint32_t tiles = (p->q_len + ATTN_TQ - 1) / ATTN_TQ;
    float *kb = l->shared, *vb = kb + (size_t)ATTN_BK * hd;
    uint64_t i0, i1;
    mlxc_cpu_slice(l, (uint64_t)tiles * p->n_heads, &i0, &i1);
    for (uint64_t it = i0; it < i1; it++) {
        const uint32_t h = (uint32_t)(it % p->n_heads), t0 = (uint32_t)(it / p->n_heads) * ATTN_TQ;
        const uint32_t nr = p->q_len - t0 < ATTN_TQ ? p->q_len - t0 : ATTN_TQ;
        float qf[ATTN_TQ * ATTN_MAX_HD], m[ATTN_TQ], ls[ATTN_TQ], acc[ATTN_TQ * ATTN_MAX_HD];
        int64_t rlo[ATTN_TQ], rhi[ATTN_TQ], blo = INT64_MAX, bhi = 0;
        for (uint32_t r = 0; r < nr; r++) {
            const uint64_t row = (uint64_t)(t0 + r) * p->n_heads + h;
            for (uint32_t d = 0; d < hd; d++) qf[r * hd + d] = attn_ld(p->q_dtype, q, row * hd + d);
            const int64_t P = (int64_t)p->q_offset + t0 + r;
            rhi[r] = P + 1 < (int64_t)p->kv_len ? P + 1 : (int64_t)p->kv_len;
            rlo[r] = p->window && P + 1 > (int64_t)p->window ? P + 1 - p->window : 0;
            if (rlo[r] < rhi[r]) {
                if (rlo[r] < blo) blo = rlo[r];
                if (rhi[r] > bhi) bhi = rhi[r];
            }
            m[r] = -INFINITY;
            ls[r] = 0.0f;
            for (uint32_t d = 0; d < hd; d++) acc[r * hd + d] = 0.0f;
        }
        if (blo < bhi) {
            const uint64_t kvh = h / G;
            const attn_src src = {k + kvh * p->capacity * hd, v + kvh * p->capacity * hd, kv_dt, hd, p->capacity, 0,
                                  p->scale, p->softcap};
            attn_rows(&src, qf, nr, rlo, rhi, blo, bhi, m, ls, acc, kb, vb);
        }
        for (uint32_t r = 0; r < nr; r++) {
            const uint64_t row = (uint64_t)(t0 + r) * p->n_heads + h;
            const float inv = ls[r] > 0.0f ? 1.0f / ls[r] : 0.0f;
            for (uint32_t d = 0; d < hd; d++) attn_st(p->out_dtype, out, row * hd + d, acc[r * hd + d] * inv);
        }
    }
}

#define KV_DTYPES(M, HD) M(HD, f16, MLXC_ATTN_DT_F16) M(HD, bf16, MLXC_ATTN_DT_BF16)
#define HEAD_DIMS(M) KV_DTYPES(M, 64) KV_DTYPES(M, 96) KV_DTYPES(M, 128) KV_DTYPES(M, 256)

#define DEFINE(HD, SFX, DT)                                                                        \
    static void attn_decode_hd##HD##_##SFX(const mlxc_cpu_launch *l) { attn_decode(l, DT); }      \
    static void attn_prefill_hd##HD##_##SFX(const mlxc_cpu_launch *l) { attn_prefill(l, DT); }
HEAD_DIMS(DEFINE)

#define MLXC_FAMILY_NAME attention
#define MLXC_FAMILY_DEF "kernels/attention.def"
#include "kernels/cpu/family_tables.h"
