/* The hadamard family on the CPU (src/kernels/params_hadamard.h): the
 * normalized fast Walsh-Hadamard transform, and the TurboQuant-style KV
 * cache on top of it (quantize into the cache, decode it back, and decode
 * attention that reads the codes directly).  Written as the reference the
 * CUDA kernels are checked against: one row or one (KV head, split) at a
 * time, f32 arithmetic, no tricks. */
#include <string.h>

#include "kernels/cpu/ops_cpu.h"
#include "kernels/params_hadamard.h"

#define TQ_LOG2E 1.4426950408889634f
#define TQ_MAX_HD 256u

static const float tq_cb2[4] = MLXC_TQ_CODEBOOK_2;
static const float tq_cb3[8] = MLXC_TQ_CODEBOOK_3;
static const float tq_cb4[16] = MLXC_TQ_CODEBOOK_4;
static const float tq_cb8[256] = MLXC_TQ_CODEBOOK_8;

static const float *tq_codebook(uint32_t bits) {
    return bits == 2 ? tq_cb2 : bits == 3 ? tq_cb3 : bits == 4 ? tq_cb4 : tq_cb8;
}

/* x <- H x in place (unnormalized, Sylvester order): log2(n) rounds of
 * butterflies (a, b) -> (a + b, a - b) on pairs h apart. */
static void fwht(float *x, uint32_t n) {
    for (uint32_t h = 1; h < n; h *= 2)
        for (uint32_t i = 0; i < n; i += 2 * h)
            for (uint32_t j = i; j < i + h; j++) {
                const float a = x[j], b = x[j + h];
                x[j] = a + b;
                x[j + h] = a - b;
            }
}

/* R x (or R^-1 x when inverse) in place, signs when asked. */
static void rotate(float *x, uint32_t n, bool signs, uint32_t seed, bool inverse) {
    if (signs && !inverse)
        for (uint32_t i = 0; i < n; i++) x[i] *= mlxc_had_sign(seed, i);
    fwht(x, n);
    const float s = 1.0f / sqrtf((float)n);
    for (uint32_t i = 0; i < n; i++) x[i] *= s;
    if (signs && inverse)
        for (uint32_t i = 0; i < n; i++) x[i] *= mlxc_had_sign(seed, i);
}

/* hadamard_DT(x, p): each row of dim through R or R^-1, in f32. */
static void hadamard(const mlxc_cpu_launch *l, ops_dtype t) {
    void *x = l->args[0]; /* (rows, dim), in place */
    const mlxc_p_hadamard *p = l->args[1];
    float *row = l->shared; /* (dim): 32 KB at most, within the worker's scratch */
    uint64_t r0, r1;
    mlxc_cpu_slice(l, p->rows, &r0, &r1);
    for (uint64_t r = r0; r < r1; r++) {
        for (uint32_t i = 0; i < p->dim; i++) row[i] = ops_ld(t, x, r * p->dim + i);
        rotate(row, p->dim, p->flags & MLXC_HAD_SIGNS, p->seed, p->flags & MLXC_HAD_INVERSE);
        for (uint32_t i = 0; i < p->dim; i++) ops_st(t, x, r * p->dim + i, row[i]);
    }
}

/* ---- the quantized cache ---------------------------------------------------------- */

/* Index of the centroid nearest z: the number of midpoints below z
 * (binary search; the CUDA kernel computes the midpoints alike). */
static uint32_t tq_quantize(float z, const float *cb, uint32_t levels) {
    uint32_t lo = 0, hi = levels - 1;
    while (lo < hi) {
        const uint32_t mid = (lo + hi) / 2;
        if (z > 0.5f * (cb[mid] + cb[mid + 1])) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Code i of a packed row (bits [i*bits, i*bits + bits), LSB-first). */
static uint32_t tq_code(const uint8_t *row, uint32_t i, uint32_t bits) {
    const uint32_t bit = i * bits, byte = bit >> 3, sh = bit & 7u;
    uint32_t v = row[byte];
    if (sh + bits > 8u) v |= (uint32_t)row[byte + 1] << 8;
    return (v >> sh) & ((1u << bits) - 1u);
}

static float tq_norm_ld(uint32_t dt, const void *norms, uint64_t i) {
    return dt == MLXC_TQ_DT_F32 ? ((const float *)norms)[i] : mlxc_half_f16_to_f32(((const uint16_t *)norms)[i]);
}

/* tq_kv_copy_DT(src, codes, norms, pos, p): one (token, head) row per
 * step: z = H S x / ||x||, each z_i to its nearest centroid, the codes
 * packed into the row's slot and the norm beside them. */
static void tq_kv_copy(const mlxc_cpu_launch *l, ops_dtype ts) {
    const void *src = l->args[0];    /* (n_tokens, kv_heads, head_dim) */
    uint8_t *codes = l->args[1];     /* (kv_heads, capacity, row bytes) */
    void *norms = l->args[2];        /* (kv_heads, capacity) f16 or f32 */
    const int32_t *pos = l->args[3]; /* (1), read when use_pos_buf */
    const mlxc_p_tq_copy *p = l->args[4];
    const uint32_t hd = p->head_dim, rb = MLXC_TQ_ROW_BYTES(hd, p->bits), levels = 1u << p->bits;
    const uint64_t cap = p->capacity, T = p->n_tokens;
    const uint64_t start = (uint64_t)p->pos + (p->use_pos_buf ? (uint32_t)pos[0] : 0u);
    const float *cb = tq_codebook(p->bits);
    uint64_t lo, hi;
    mlxc_cpu_slice(l, T * p->kv_heads, &lo, &hi);
    for (uint64_t r = lo; r < hi; r++) {
        uint64_t h, slot;
        if (!ops_kv_slot(r, p->kv_heads, T, start, cap, p->sliding, &h, &slot)) continue;
        float x[TQ_MAX_HD], ss = 0.0f;
        uint8_t packed[TQ_MAX_HD] = {0};
        for (uint32_t i = 0; i < hd; i++) {
            x[i] = ops_ld(ts, src, r * hd + i);
            ss += x[i] * x[i];
        }
        const float norm = sqrtf(ss), inv = norm > 0.0f ? 1.0f / norm : 0.0f;
        for (uint32_t i = 0; i < hd; i++) x[i] *= mlxc_had_sign(p->seed, i);
        fwht(x, hd);
        for (uint32_t i = 0; i < hd; i++) {
            const uint32_t c = tq_quantize(x[i] * inv, cb, levels), bit = i * p->bits;
            packed[bit >> 3] |= (uint8_t)(c << (bit & 7u));
            if ((bit & 7u) + p->bits > 8u) packed[(bit >> 3) + 1] |= (uint8_t)(c >> (8u - (bit & 7u)));
        }
        const uint64_t row = h * cap + slot;
        memcpy(codes + row * rb, packed, rb);
        if (p->norm_dtype == MLXC_TQ_DT_F32) ((float *)norms)[row] = norm;
        else ((uint16_t *)norms)[row] = mlxc_half_f32_to_f16(norm < 65504.0f ? norm : 65504.0f);
    }
}

/* tq_dequant_DT(codes, norms, out, p): x^ = S H c / n * ||x|| per row. */
static void tq_dequant(const mlxc_cpu_launch *l, ops_dtype to) {
    const uint8_t *codes = l->args[0]; /* (rows, row bytes) */
    const void *norms = l->args[1];    /* (rows) */
    void *out = l->args[2];            /* (rows, head_dim) */
    const mlxc_p_tq_dequant *p = l->args[3];
    const uint32_t hd = p->head_dim, rb = MLXC_TQ_ROW_BYTES(hd, p->bits);
    const float *cb = tq_codebook(p->bits);
    uint64_t r0, r1;
    mlxc_cpu_slice(l, p->rows, &r0, &r1);
    for (uint64_t r = r0; r < r1; r++) {
        float x[TQ_MAX_HD];
        const float s = tq_norm_ld(p->norm_dtype, norms, r) / (float)hd;
        for (uint32_t i = 0; i < hd; i++) x[i] = cb[tq_code(codes + r * rb, i, p->bits)];
        fwht(x, hd);
        for (uint32_t i = 0; i < hd; i++) ops_st(to, out, r * hd + i, x[i] * s * mlxc_had_sign(p->seed, i));
    }
}

/* ---- decode attention over the quantized cache ------------------------------------- */

/* The decode length L and first attended position lo (ops_attention.h). */
static void tq_decode_range(const mlxc_p_tq_decode *p, const void *len_buf, int64_t *lo, int64_t *len) {
    const int64_t add = p->len_mode == MLXC_TQ_LEN_U32   ? (int64_t)((const uint32_t *)len_buf)[0]
                        : p->len_mode == MLXC_TQ_LEN_I32 ? (int64_t)((const int32_t *)len_buf)[0]
                                                          : 0;
    ops_decode_range(p->kv_len, add, p->capacity, p->window, p->ring, lo, len);
}

/* One item per (KV head, split).  Each query head of the group is rotated
 * once (q' = H S q * scale / n), so a logit is ||k|| * (q' . c(k)): the
 * dot product of the rotated query with the key's centroids.  Values add
 * up as p * ||v|| * c(v), still rotated; tq_decode_combine rotates the
 * merged sum back. */
static void tq_decode(const mlxc_cpu_launch *l) {
    const void *q = l->args[0];                         /* (n_heads, head_dim) */
    const uint8_t *kc = l->args[1], *vc = l->args[3];   /* (n_kv_heads, capacity, row bytes) */
    const void *kn = l->args[2], *vn = l->args[4];      /* (n_kv_heads, capacity) */
    const void *len_buf = l->args[5];                   /* (1) when len_mode */
    float *scratch = l->args[6];                        /* acc, then ml */
    const mlxc_p_tq_decode *p = l->args[7];
    const uint32_t hd = p->head_dim, G = p->n_heads / p->n_kv_heads, S = p->n_splits;
    const uint32_t rb = MLXC_TQ_ROW_BYTES(hd, p->bits);
    const float *cb = tq_codebook(p->bits);
    float *acc_out = scratch, *ml_out = scratch + (size_t)p->n_heads * S * hd;
    int64_t lo, L;
    tq_decode_range(p, len_buf, &lo, &L);
    int64_t chunk = (L - lo + S - 1) / S;
    chunk = (chunk + MLXC_TQ_TILE - 1) / MLXC_TQ_TILE * MLXC_TQ_TILE;
    uint64_t i0, i1;
    mlxc_cpu_slice(l, (uint64_t)p->n_kv_heads * S, &i0, &i1);
    for (uint64_t it = i0; it < i1; it++) {
        const uint32_t kvh = (uint32_t)(it / S), sp = (uint32_t)(it % S);
        int64_t s_lo = lo + (int64_t)sp * chunk, s_hi = s_lo + chunk;
        if (s_hi > L) s_hi = L;
        for (uint32_t g = 0; g < G; g++) {
            const uint64_t h = (uint64_t)kvh * G + g;
            float qr[TQ_MAX_HD], acc[TQ_MAX_HD], m = -INFINITY, ls = 0.0f;
            for (uint32_t d = 0; d < hd; d++) qr[d] = ops_ld((ops_dtype)p->q_dtype, q, h * hd + d) * mlxc_had_sign(p->seed, d);
            fwht(qr, hd);
            for (uint32_t d = 0; d < hd; d++) qr[d] *= p->scale / (float)hd;
            for (uint32_t d = 0; d < hd; d++) acc[d] = 0.0f;
            for (int64_t j = s_lo; j < s_hi; j++) {
                const uint64_t slot = p->ring ? (uint64_t)j % p->capacity : (uint64_t)j;
                const uint64_t row = (uint64_t)kvh * p->capacity + slot;
                float dot = 0.0f;
                for (uint32_t d = 0; d < hd; d++) dot += qr[d] * cb[tq_code(kc + row * rb, d, p->bits)];
                float x = dot * tq_norm_ld(p->norm_dtype, kn, row);
                if (p->softcap > 0.0f) x = p->softcap * tanhf(x / p->softcap);
                x *= TQ_LOG2E;
                const float mn = fmaxf(m, x), corr = exp2f(m - mn), pj = exp2f(x - mn);
                const float w = pj * tq_norm_ld(p->norm_dtype, vn, row);
                for (uint32_t d = 0; d < hd; d++) acc[d] = acc[d] * corr + w * cb[tq_code(vc + row * rb, d, p->bits)];
                ls = ls * corr + pj;
                m = mn;
            }
            const uint64_t prow = h * S + sp;
            ml_out[prow * 2] = m;
            ml_out[prow * 2 + 1] = ls;
            for (uint32_t d = 0; d < hd; d++) acc_out[prow * hd + d] = acc[d];
        }
    }
}

/* tq_decode_combine(scratch, out, p): per query head, the splits merged
 * (weights 2^(m_s - M)), divided by l, rotated back: out = S H acc / (l n). */
static void tq_decode_combine(const mlxc_cpu_launch *l) {
    const float *scratch = l->args[0];
    void *out = l->args[1]; /* (n_heads, head_dim) */
    const mlxc_p_tq_decode *p = l->args[2];
    const uint32_t hd = p->head_dim, S = p->n_splits;
    const float *acc_in = scratch, *ml = scratch + (size_t)p->n_heads * S * hd;
    uint64_t h0, h1;
    mlxc_cpu_slice(l, p->n_heads, &h0, &h1);
    for (uint64_t h = h0; h < h1; h++) {
        float o[TQ_MAX_HD];
        const float L = ops_merge_splits(acc_in + h * S * hd, ml + h * S * 2, S, hd, o);
        const float inv = L > 0.0f ? 1.0f / (L * (float)hd) : 0.0f;
        fwht(o, hd);
        for (uint32_t d = 0; d < hd; d++)
            ops_st((ops_dtype)p->out_dtype, out, h * hd + d, o[d] * inv * mlxc_had_sign(p->seed, d));
    }
}

#define DTYPES(M) M(f32, OPS_F32) M(f16, OPS_F16) M(bf16, OPS_BF16)
#define DEFINE_DT(SFX, DT)                                                                       \
    static void hadamard_##SFX(const mlxc_cpu_launch *l) { hadamard(l, DT); }                     \
    static void tq_kv_copy_##SFX(const mlxc_cpu_launch *l) { tq_kv_copy(l, DT); }                 \
    static void tq_dequant_##SFX(const mlxc_cpu_launch *l) { tq_dequant(l, DT); }
DTYPES(DEFINE_DT)
/* The CUDA decode kernels are specialised per head dim and bits; the CPU
 * reads both from the params. */
#define DEFINE_DEC(HD, B) \
    static void tq_decode_hd##HD##_b##B(const mlxc_cpu_launch *l) { tq_decode(l); }
#define DEFINE_DEC_BITS(HD) DEFINE_DEC(HD, 2) DEFINE_DEC(HD, 3) DEFINE_DEC(HD, 4) DEFINE_DEC(HD, 8)
DEFINE_DEC_BITS(64)
DEFINE_DEC_BITS(128)
DEFINE_DEC_BITS(256)

#define MLXC_FAMILY_NAME hadamard
#define MLXC_FAMILY_DEF "kernels/hadamard.def"
#include "kernels/cpu/family_tables.h"
