/* Rotary position embedding, every mode of mlxc_p_rope: adjacent pairs,
 * NeoX halves, partial rotary, frequency factors and the multi-section
 * MROPE / IMROPE position layouts.  x and out may be the same buffer.
 * Also the decode step's fused bias, q/k norm, rope and KV-cache write
 * (rope_qkv_cache), built from the same pieces as the separate kernels. */
#include "kernels/params_rope.h"
#include "kernels/cpu/ops_cpu.h"

/* The position that rotates pair i of token t (see mlxc_p_rope). */
static inline float rope_position(const int32_t *pos, const mlxc_p_rope *p, uint32_t t, uint32_t i) {
    if (p->mode != MLXC_ROPE_MODE_MROPE && p->mode != MLXC_ROPE_MODE_IMROPE) return (float)pos[t];
    const uint32_t *s = p->sections;
    const uint32_t sector = i % (s[0] + s[1] + s[2] + s[3]);
    uint32_t sec;
    if (p->mode == MLXC_ROPE_MODE_IMROPE) {
        if (sector % 3 == 1 && sector < 3 * s[1]) sec = 1;
        else if (sector % 3 == 2 && sector < 3 * s[2]) sec = 2;
        else if (sector % 3 == 0 && sector < 3 * s[0]) sec = 0;
        else sec = 3;
    } else {
        sec = sector < s[0] ? 0 : sector < s[0] + s[1] ? 1 : sector < s[0] + s[1] + s[2] ? 2 : 3;
    }
    return (float)pos[(uint64_t)sec * p->n_tokens + t];
}

/* The cosines and sines of token tok's pairs (half of them), times mscale:
 * rope and rope_qkv_cache share them, so they rotate by the same bits. */
OPS_ALWAYS_INLINE void rope_angles(const int32_t *pos, const float *ff, const mlxc_p_rope *p, uint32_t tok,
                                   float *cs, /* (half) */ float *sn /* (half) */) {
    for (uint32_t i = 0; i < p->rope_dim / 2; i++) {
        float theta = rope_position(pos, p, tok, i) * p->inv_freq[i];
        if (p->has_freq_factors) theta = theta / ff[i];
        cs[i] = cosf(theta) * p->mscale;
        sn[i] = sinf(theta) * p->mscale;
    }
}

/* Rotate one head row xr into o (may be xr), rounding to the dtype; the
 * elements past rope_dim pass through as they are, bit for bit. */
OPS_ALWAYS_INLINE void rope_row(ops_dtype t, const mlxc_p_rope *p, const float *cs, const float *sn,
                                const void *xr, /* (head_dim) */ void *o /* (head_dim) */) {
    const uint32_t hd = p->head_dim, half = p->rope_dim / 2;
    const int adjacent = p->mode == MLXC_ROPE_MODE_NORM;
    const size_t es = t == OPS_F32 ? 4 : 2;
    uint32_t i0 = 0;
    if (!adjacent) /* NeoX halves: four pairs at a time */
        for (; i0 + 4 <= half; i0 += 4) {
            ops_v4f c4, s4;
            memcpy(&c4, cs + i0, 16), memcpy(&s4, sn + i0, 16);
            const ops_v4f a = ops_ld4(t, xr, i0), b = ops_ld4(t, xr, i0 + half);
            ops_st4(t, o, i0, a * c4 - b * s4);
            ops_st4(t, o, i0 + half, a * s4 + b * c4);
        }
    for (uint32_t i = i0; i < half; i++) {
        const uint32_t ia = adjacent ? 2 * i : i, ib = adjacent ? 2 * i + 1 : i + half;
        const float a = ops_ld(t, xr, ia), b = ops_ld(t, xr, ib);
        ops_st(t, o, ia, a * cs[i] - b * sn[i]);
        ops_st(t, o, ib, a * sn[i] + b * cs[i]);
    }
    if (o != xr && hd > p->rope_dim)
        memcpy((char *)o + p->rope_dim * es, (const char *)xr + p->rope_dim * es, (hd - p->rope_dim) * es);
}

/* rope(x, out, pos, freq_factors, p): one (token, head) row per step; the
 * angles of a token are computed once for all its heads in the slice. */
OPS_ALWAYS_INLINE void rope(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *x = l->args[0];     /* (n_tokens, n_heads, head_dim) */
    void *out = l->args[1];         /* (n_tokens, n_heads, head_dim); may be x */
    const int32_t *pos = l->args[2]; /* (n_tokens) or (4, n_tokens) */
    const float *ff = l->args[3];   /* (rope_dim / 2), read when has_freq_factors */
    const mlxc_p_rope *p = l->args[4];
    const uint32_t hd = p->head_dim;
    const size_t es = t == OPS_F32 ? 4 : 2;
    float cs[MLXC_ROPE_MAX_PAIRS], sn[MLXC_ROPE_MAX_PAIRS]; /* (half) */
    uint64_t cached = UINT64_MAX;
    uint64_t lo, hi;
    mlxc_cpu_slice(l, (uint64_t)p->n_tokens * p->n_heads, &lo, &hi);
    for (uint64_t r = lo; r < hi; r++) {
        const uint32_t tok = (uint32_t)(r / p->n_heads);
        if (tok != cached) {
            rope_angles(pos, ff, p, tok, cs, sn);
            cached = tok;
        }
        rope_row(t, p, cs, sn, (const char *)x + r * hd * es, (char *)out + r * hd * es);
    }
}

/* rope_qkv_cache(qkv, bias, q_norm, k_norm, q_out, k_cache, v_cache, pos,
 * freq_factors, p): one (token, head) row of the fused projection per step,
 * q heads, then k heads, then v heads.  Each stage stores to a row of the
 * activations' dtype t, as the separate ops' buffers would (add, rms_norm,
 * rope), through the same code as those kernels (ops_sum_sq: rms_norm's
 * lanes; rope_row), then converts into the cache's dtype tc. */
OPS_ALWAYS_INLINE void rope_qkv_cache(const mlxc_cpu_launch *l, ops_dtype t, ops_dtype tc) {
    const void *qkv = l->args[0];     /* (n_tokens, n_heads + 2 n_kv_heads, head_dim) */
    const void *bias = l->args[1];    /* (n_heads + 2 n_kv_heads, head_dim), read when has_bias */
    const void *q_norm = l->args[2];  /* (head_dim), read when has_norm */
    const void *k_norm = l->args[3];  /* (head_dim), read when has_norm */
    void *q_out = l->args[4];         /* (n_tokens, n_heads, head_dim) */
    void *k_cache = l->args[5];       /* (n_kv_heads, capacity, head_dim) */
    void *v_cache = l->args[6];       /* (n_kv_heads, capacity, head_dim) */
    const int32_t *pos = l->args[7];  /* (n_tokens) */
    const float *ff = l->args[8];     /* (rope_dim / 2), read when has_freq_factors */
    const mlxc_p_rope_qkv *q = l->args[9];
    const mlxc_p_rope *p = &q->rope;
    const uint32_t hd = p->head_dim, H = p->n_heads, KV = q->n_kv_heads, NH = H + 2 * KV;
    const uint64_t T = p->n_tokens, cap = q->capacity;
    const size_t es = t == OPS_F32 ? 4 : 2;
    float cs[MLXC_ROPE_MAX_PAIRS], sn[MLXC_ROPE_MAX_PAIRS]; /* (half) */
    /* Rows of dtype t (room for f32): after the bias, the norm, the rotation. */
    _Alignas(16) unsigned char xs[MLXC_ROPE_QKV_MAX_HEAD_DIM * 4], ns[MLXC_ROPE_QKV_MAX_HEAD_DIM * 4],
        rs[MLXC_ROPE_QKV_MAX_HEAD_DIM * 4];
    uint64_t cached = UINT64_MAX;
    uint64_t lo, hi;
    mlxc_cpu_slice(l, T * NH, &lo, &hi);
    for (uint64_t r = lo; r < hi; r++) {
        const uint32_t tok = (uint32_t)(r / NH), h = (uint32_t)(r % NH);
        const void *xr = (const char *)qkv + r * hd * es; /* (head_dim) */
        const void *row = xr;
        if (q->has_bias) {
            const void *br = (const char *)bias + (uint64_t)h * hd * es; /* (head_dim) */
            for (uint32_t j = 0; j < hd; j++) ops_st(t, xs, j, ops_ld(t, xr, j) + ops_ld(t, br, j));
            row = xs;
        }
        const bool is_v = h >= H + KV;
        /* The cache slot, as mlxc_kv_cache_copy picks it (positions as
         * unsigned: a negative one is past any linear cache). */
        uint64_t slot = (uint64_t)(uint32_t)pos[tok];
        bool keep = !(q->sliding && T > cap && tok < T - cap);
        if (q->sliding) slot %= cap;
        else if (slot >= cap) keep = false;
        const uint64_t kvh = h < H ? 0 : is_v ? h - H - KV : h - H;
        if (is_v) {
            if (!keep) continue;
            void *d = (char *)v_cache + (kvh * cap + slot) * hd * (tc == OPS_F32 ? 4 : 2);
            for (uint32_t j = 0; j < hd; j++) ops_st(tc, d, j, ops_ld(t, row, j));
            continue;
        }
        if (h >= H && !keep) continue;
        if (q->has_norm) {
            const void *w = h < H ? q_norm : k_norm; /* (head_dim) */
            const float inv = 1.0f / sqrtf(ops_sum_sq(t, row, hd) / (float)hd + q->eps);
            for (uint32_t j = 0; j < hd; j++) ops_st(t, ns, j, ops_ld(t, row, j) * inv * ops_ld(t, w, j));
            row = ns;
        }
        if (tok != cached) {
            rope_angles(pos, ff, p, tok, cs, sn);
            cached = tok;
        }
        if (h < H) {
            rope_row(t, p, cs, sn, row, (char *)q_out + ((uint64_t)tok * H + h) * hd * es);
            continue;
        }
        rope_row(t, p, cs, sn, row, rs);
        void *d = (char *)k_cache + (kvh * cap + slot) * hd * (tc == OPS_F32 ? 4 : 2);
        for (uint32_t j = 0; j < hd; j++) ops_st(tc, d, j, ops_ld(t, rs, j));
    }
}

static void rope_f32(const mlxc_cpu_launch *l) { rope(l, OPS_F32); }
static void rope_f16(const mlxc_cpu_launch *l) { rope(l, OPS_F16); }
static void rope_bf16(const mlxc_cpu_launch *l) { rope(l, OPS_BF16); }
#define ROPE_QKV(S, TS, C, TC)                                                   \
    static void rope_qkv_cache_##S##_##C(const mlxc_cpu_launch *l) { rope_qkv_cache(l, TS, TC); }
#define ROPE_QKV_CACHES(S, TS)                                                   \
    ROPE_QKV(S, TS, f32, OPS_F32) ROPE_QKV(S, TS, f16, OPS_F16) ROPE_QKV(S, TS, bf16, OPS_BF16)
ROPE_QKV_CACHES(f32, OPS_F32)
ROPE_QKV_CACHES(f16, OPS_F16)
ROPE_QKV_CACHES(bf16, OPS_BF16)
#undef ROPE_QKV_CACHES
#undef ROPE_QKV

#define MLXC_FAMILY_NAME rope
#define MLXC_FAMILY_DEF "kernels/rope.def"
#include "kernels/cpu/family_tables.h"
