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
#define ATTN_MAX_HD MLXC_ATTN_MAX_HD
#define ATTN_MAX_ROWS MLXC_ATTN_MAX_RATIO

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

static inline float attn_mask_ld(uint32_t dt, const void *p, uint64_t i) {
    switch (dt) {
    case MLXC_ATTN_MASK_F32: return ((const float *)p)[i];
    case MLXC_ATTN_MASK_F16: return mlxc_half_f16_to_f32(((const uint16_t *)p)[i]);
    default: return mlxc_half_bf16_to_f32(((const uint16_t *)p)[i]);
    }
}

/* What attn_rows needs to find and score keys.  Position p lives in
 * k/v slot p (p % capacity when ring) when p < chunk0, else in row
 * p - chunk0 of kc/vc (rows chunk_ld elements apart). */
typedef struct attn_src {
    const uint16_t *k, *v;   /* this KV head's rows                */
    const uint16_t *kc, *vc; /* the chunk's rows of this KV head   */
    int64_t         chunk0;  /* INT64_MAX: no chunk                */
    uint64_t        chunk_ld;
    uint32_t        kv_dt;   /* MLXC_ATTN_DT_F16 or _BF16          */
    uint32_t        hd, capacity, ring;
    float           scale, softcap;
    const void     *mask;    /* NULL, or row r's bias at mask[mrow[r] + p] */
    const uint64_t *mrow;
    uint32_t        mask_dt;
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
            const int64_t pos = b0 + j;
            const uint16_t *kr, *vr;
            if (pos >= s->chunk0) {
                kr = s->kc + (uint64_t)(pos - s->chunk0) * s->chunk_ld;
                vr = s->vc + (uint64_t)(pos - s->chunk0) * s->chunk_ld;
            } else {
                const uint64_t slot = s->ring ? (uint64_t)pos % s->capacity : (uint64_t)pos;
                kr = s->k + slot * hd;
                vr = s->v + slot * hd;
            }
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
                if (s->mask) x += attn_mask_ld(s->mask_dt, s->mask, s->mrow[r] + (uint64_t)(b0 + j));
                sc[j] = x * ATTN_LOG2E;
                bm = fmaxf(bm, sc[j]);
            }
            const float mn = fmaxf(m[r], bm);
            if (mn == -INFINITY) continue; /* every key so far masked: nothing to add */
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
    const int64_t add = p->len_mode == MLXC_ATTN_LEN_U32   ? (int64_t)((const uint32_t *)len_buf)[0]
                        : p->len_mode == MLXC_ATTN_LEN_I32 ? (int64_t)((const int32_t *)len_buf)[0]
                                                            : 0;
    ops_decode_range(p->kv_len, add, p->capacity, p->window, p->ring, lo, len);
}

/* Query head h's output: its unnormalised sum o (head_dim values) over its
 * softmax sum L (zeros where L is 0: nothing attended). */
static void attn_decode_store(const mlxc_p_attn_decode *p, void *out, uint64_t h, const float *o, float L) {
    const uint32_t hd = p->head_dim;
    const float inv = L > 0.0f ? 1.0f / L : 0.0f;
    for (uint32_t d = 0; d < hd; d++) attn_st(p->out_dtype, out, h * hd + d, o[d] * inv);
}

/* Merge the first `live` of the S partials of each query head of KV head
 * kvh into out. */
static void attn_decode_merge_group(const mlxc_p_attn_decode *p, const float *acc_in, const float *ml, void *out,
                                    uint32_t kvh, uint32_t live) {
    const uint32_t hd = p->head_dim, G = p->n_heads / p->n_kv_heads, S = p->n_splits;
    for (uint64_t h = (uint64_t)kvh * G; h < (uint64_t)(kvh + 1) * G; h++) {
        float o[ATTN_MAX_HD];
        const float L = ops_merge_splits(acc_in + h * S * hd, ml + h * S * 2, live, hd, o);
        attn_decode_store(p, out, h, o, L);
    }
}

/* One item per (KV head, split), as on CUDA: a live split's item writes
 * its partial and counts it in the head's counter (acquire-release, so the
 * last to arrive sees every other item's partial); the last merges and
 * resets the counter to zero for the next call.  One live split writes out
 * directly; the items past the live splits do nothing. */
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
    int64_t chunk;
    const uint32_t live = mlxc_attn_live_splits(L - lo, S, p->split_keys, &chunk);
    uint64_t i0, i1;
    mlxc_cpu_slice(l, (uint64_t)p->n_kv_heads * S, &i0, &i1);
    for (uint64_t it = i0; it < i1; it++) {
        const uint32_t kvh = (uint32_t)(it / S), sp = (uint32_t)(it % S);
        if (sp >= live) continue;
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
            const attn_src src = {.k = k + (uint64_t)kvh * p->capacity * hd, .v = v + (uint64_t)kvh * p->capacity * hd,
                                  .chunk0 = INT64_MAX, .kv_dt = kv_dt, .hd = hd, .capacity = p->capacity,
                                  .ring = p->ring, .scale = p->scale, .softcap = p->softcap};
            attn_rows(&src, qf, G, rlo, rhi, s_lo, s_hi, m, ls, acc, kb, vb);
        }
        if (live == 1) {
            for (uint32_t g = 0; g < G; g++) attn_decode_store(p, out, (uint64_t)kvh * G + g, acc + g * hd, ls[g]);
            continue;
        }
        for (uint32_t g = 0; g < G; g++) {
            const uint64_t row = ((uint64_t)kvh * G + g) * S + sp;
            ml_out[row * 2] = m[g];
            ml_out[row * 2 + 1] = ls[g];
            if (m[g] > -INFINITY)
                for (uint32_t d = 0; d < hd; d++) acc_out[row * hd + d] = acc[g * hd + d];
        }
        if (__atomic_add_fetch(&ctr[kvh], 1u, __ATOMIC_ACQ_REL) == live) {
            __atomic_store_n(&ctr[kvh], 0u, __ATOMIC_RELAXED);
            attn_decode_merge_group(p, acc_out, ml_out, out, kvh, live);
        }
    }
}

/* The key range [lo, hi) of query i of sequence b (mlxc_p_attn_prefill_x). */
static void attn_prefill_range(const mlxc_p_attn_prefill_x *p, int64_t klen, uint32_t i, int64_t *lo, int64_t *hi) {
    const int64_t P = (int64_t)p->q_offset + i;
    if (p->ring) {
        const int64_t w = p->window ? p->window : p->capacity;
        *hi = P + 1;
        *lo = P + 1 > w ? P + 1 - w : 0;
        return;
    }
    if (!p->causal) {
        *lo = 0;
        *hi = klen;
        return;
    }
    *hi = P + 1 < klen ? P + 1 : klen;
    *lo = p->window && P + 1 > (int64_t)p->window ? P + 1 - p->window : 0;
}

/* The general prefill: one item per (sequence, ATTN_TQ-query tile, head). */
static void attn_prefill_x(const mlxc_cpu_launch *l, const mlxc_p_attn_prefill_x *p, const void *q,
                           const uint16_t *k, const uint16_t *v, void *out, const void *mask, const void *key_lens,
                           const uint16_t *kc, const uint16_t *vc, uint32_t kv_dt) {
    const uint32_t hd = p->head_dim, G = p->n_heads / p->n_kv_heads, H = p->n_heads;
    const uint32_t tiles = (p->q_len + ATTN_TQ - 1) / ATTN_TQ;
    const uint64_t q_seq = (uint64_t)p->q_len * H * hd, kv_seq = (uint64_t)p->n_kv_heads * p->capacity * hd;
    const uint64_t chunk_seq = (uint64_t)p->q_len * p->n_kv_heads * hd;
    float *kb = l->shared, *vb = kb + (size_t)ATTN_BK * hd;
    uint64_t i0, i1;
    mlxc_cpu_slice(l, (uint64_t)p->batch * tiles * H, &i0, &i1);
    for (uint64_t it = i0; it < i1; it++) {
        const uint32_t h = (uint32_t)(it % H), t0 = (uint32_t)(it / H % tiles) * ATTN_TQ;
        const uint32_t b = (uint32_t)(it / H / tiles);
        const uint32_t nr = p->q_len - t0 < ATTN_TQ ? p->q_len - t0 : ATTN_TQ;
        int64_t klen = p->kv_len;
        if (p->len_mode != MLXC_ATTN_LEN_NONE) {
            const int64_t kl = p->len_mode == MLXC_ATTN_LEN_U32 ? (int64_t)((const uint32_t *)key_lens)[b]
                                                                : (int64_t)((const int32_t *)key_lens)[b];
            if (kl < klen) klen = kl < 0 ? 0 : kl;
        }
        float qf[ATTN_TQ * ATTN_MAX_HD], m[ATTN_TQ], ls[ATTN_TQ], acc[ATTN_TQ * ATTN_MAX_HD];
        int64_t rlo[ATTN_TQ], rhi[ATTN_TQ], blo = INT64_MAX, bhi = 0;
        uint64_t mrow[ATTN_TQ];
        for (uint32_t r = 0; r < nr; r++) {
            const uint64_t row = (uint64_t)b * q_seq + ((uint64_t)(t0 + r) * H + h) * hd;
            for (uint32_t d = 0; d < hd; d++) qf[r * hd + d] = attn_ld(p->q_dtype, q, row + d);
            attn_prefill_range(p, klen, t0 + r, &rlo[r], &rhi[r]);
            if (rlo[r] < rhi[r]) {
                if (rlo[r] < blo) blo = rlo[r];
                if (rhi[r] > bhi) bhi = rhi[r];
            }
            mrow[r] = b * p->mask_bstride + h * p->mask_hstride + (uint64_t)(t0 + r) * p->kv_len;
            m[r] = -INFINITY;
            ls[r] = 0.0f;
            for (uint32_t d = 0; d < hd; d++) acc[r * hd + d] = 0.0f;
        }
        if (blo < bhi) {
            const uint64_t kvh = h / G;
            const attn_src src = {
                .k = k + b * kv_seq + kvh * p->capacity * hd, .v = v + b * kv_seq + kvh * p->capacity * hd,
                .kc = p->ring ? kc + b * chunk_seq + kvh * hd : NULL, .vc = p->ring ? vc + b * chunk_seq + kvh * hd : NULL,
                .chunk0 = p->ring ? (int64_t)p->q_offset : INT64_MAX, .chunk_ld = (uint64_t)p->n_kv_heads * hd,
                .kv_dt = kv_dt, .hd = hd, .capacity = p->capacity, .ring = p->ring, .scale = p->scale,
                .softcap = p->softcap, .mask = p->mask_dtype != MLXC_ATTN_MASK_NONE ? mask : NULL, .mrow = mrow,
                .mask_dt = p->mask_dtype};
            attn_rows(&src, qf, nr, rlo, rhi, blo, bhi, m, ls, acc, kb, vb);
        }
        for (uint32_t r = 0; r < nr; r++) {
            const uint64_t row = (uint64_t)b * q_seq + ((uint64_t)(t0 + r) * H + h) * hd;
            const float inv = ls[r] > 0.0f ? 1.0f / ls[r] : 0.0f;
            for (uint32_t d = 0; d < hd; d++) attn_st(p->out_dtype, out, row + d, acc[r * hd + d] * inv);
        }
    }
}

/* The causal single-sequence prefill is the general one with its defaults. */
static void attn_prefill(const mlxc_cpu_launch *l, uint32_t kv_dt) {
    const mlxc_p_attn_prefill *p = l->args[4];
    const mlxc_p_attn_prefill_x px = {.n_heads = p->n_heads, .n_kv_heads = p->n_kv_heads, .head_dim = p->head_dim,
                                      .capacity = p->capacity, .q_len = p->q_len, .q_offset = p->q_offset,
                                      .kv_len = p->kv_len, .window = p->window, .q_dtype = p->q_dtype,
                                      .out_dtype = p->out_dtype, .scale = p->scale, .softcap = p->softcap,
                                      .batch = 1, .causal = 1};
    attn_prefill_x(l, &px, l->args[0], l->args[1], l->args[2], l->args[3], NULL, NULL, NULL, NULL, kv_dt);
}

static void attn_prefill_xk(const mlxc_cpu_launch *l, uint32_t kv_dt) {
    attn_prefill_x(l, l->args[8], l->args[0], l->args[1], l->args[2], l->args[3], l->args[4], l->args[5], l->args[6],
                   l->args[7], kv_dt);
}

#define KV_DTYPES(M, HD) M(HD, f16, MLXC_ATTN_DT_F16) M(HD, bf16, MLXC_ATTN_DT_BF16)
#define HEAD_DIMS(M) KV_DTYPES(M, 64) KV_DTYPES(M, 96) KV_DTYPES(M, 128) KV_DTYPES(M, 256) KV_DTYPES(M, 512)

#define DEFINE(HD, SFX, DT)                                                                        \
    static void attn_decode_hd##HD##_##SFX(const mlxc_cpu_launch *l) { attn_decode(l, DT); }      \
    static void attn_prefill_hd##HD##_##SFX(const mlxc_cpu_launch *l) { attn_prefill(l, DT); }    \
    static void attn_prefill_x_hd##HD##_##SFX(const mlxc_cpu_launch *l) { attn_prefill_xk(l, DT); }
HEAD_DIMS(DEFINE)

#define MLXC_FAMILY_NAME attention
#define MLXC_FAMILY_DEF "kernels/attention.def"
#include "kernels/cpu/family_tables.h"
