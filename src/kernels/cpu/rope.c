/* Rotary position embedding, every mode of mlxc_p_rope: adjacent pairs,
 * NeoX halves, partial rotary, frequency factors and the multi-section
 * MROPE / IMROPE position layouts.  x and out may be the same buffer. */
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

/* rope(x, out, pos, freq_factors, p): one (token, head) row per step; the
 * angles of a token are computed once for all its heads in the slice. */
OPS_ALWAYS_INLINE void rope(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *x = l->args[0];     /* (n_tokens, n_heads, head_dim) */
    void *out = l->args[1];         /* (n_tokens, n_heads, head_dim); may be x */
    const int32_t *pos = l->args[2]; /* (n_tokens) or (4, n_tokens) */
    const float *ff = l->args[3];   /* (rope_dim / 2), read when has_freq_factors */
    const mlxc_p_rope *p = l->args[4];
    const uint32_t hd = p->head_dim, half = p->rope_dim / 2;
    const int adjacent = p->mode == MLXC_ROPE_MODE_NORM;
    const size_t es = t == OPS_F32 ? 4 : 2;
    float cs[MLXC_ROPE_MAX_PAIRS], sn[MLXC_ROPE_MAX_PAIRS]; /* (half) */
    uint64_t cached = UINT64_MAX;
    uint64_t lo, hi;
    mlxc_cpu_slice(l, (uint64_t)p->n_tokens * p->n_heads, &lo, &hi);
    for (uint64_t r = lo; r < hi; r++) {
        const uint32_t tok = (uint32_t)(r / p->n_heads);
        if (tok != cached) {
            for (uint32_t i = 0; i < half; i++) {
                float theta = rope_position(pos, p, tok, i) * p->inv_freq[i];
                if (p->has_freq_factors) theta = theta / ff[i];
                cs[i] = cosf(theta) * p->mscale;
                sn[i] = sinf(theta) * p->mscale;
            }
            cached = tok;
        }
        const void *xr = (const char *)x + r * hd * es; /* (head_dim) */
        void *o = (char *)out + r * hd * es;            /* (head_dim) */
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
        /* The elements past rope_dim pass through as they are, bit for bit. */
        if (o != xr && hd > p->rope_dim)
            memcpy((char *)o + p->rope_dim * es, (const char *)xr + p->rope_dim * es, (hd - p->rope_dim) * es);
    }
}

static void rope_f32(const mlxc_cpu_launch *l) { rope(l, OPS_F32); }
static void rope_f16(const mlxc_cpu_launch *l) { rope(l, OPS_F16); }
static void rope_bf16(const mlxc_cpu_launch *l) { rope(l, OPS_BF16); }

#define MLXC_FAMILY_NAME rope
#define MLXC_FAMILY_DEF "kernels/rope.def"
#include "kernels/cpu/family_tables.h"
