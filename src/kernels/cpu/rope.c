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
#define ROPE(SFX, T, LD, ST)                                                    \
    static void rope_##SFX(const mlxc_cpu_launch *l) {                         \
        const T *x = l->args[0];                                               \
        T *out = l->args[1];                                                   \
        const int32_t *pos = l->args[2];                                       \
        const float *ff = l->args[3];                                          \
        const mlxc_p_rope *p = l->args[4];                                     \
        const uint32_t hd = p->head_dim, half = p->rope_dim / 2;               \
        const int adjacent = p->mode == MLXC_ROPE_MODE_NORM;                   \
        float cs[MLXC_ROPE_MAX_PAIRS], sn[MLXC_ROPE_MAX_PAIRS];                \
        uint64_t cached = UINT64_MAX;                                          \
        uint64_t lo, hi;                                                       \
        mlxc_cpu_slice(l, (uint64_t)p->n_tokens * p->n_heads, &lo, &hi);       \
        for (uint64_t r = lo; r < hi; r++) {                                   \
            const uint32_t t = (uint32_t)(r / p->n_heads);                     \
            if (t != cached) {                                                 \
                for (uint32_t i = 0; i < half; i++) {                          \
                    float theta = rope_position(pos, p, t, i) * p->inv_freq[i]; \
                    if (p->has_freq_factors) theta = theta / ff[i];            \
                    cs[i] = cosf(theta);                                       \
                    sn[i] = sinf(theta);                                       \
                }                                                              \
                cached = t;                                                    \
            }                                                                  \
            const T *xr = x + r * hd;                                          \
            T *o = out + r * hd;                                               \
            uint32_t i0 = 0;                                                   \
            if (!adjacent) /* NeoX halves: four pairs at a time */             \
                for (; i0 + 4 <= half; i0 += 4) {                              \
                    ops_v4f c4, s4;                                            \
                    memcpy(&c4, cs + i0, 16), memcpy(&s4, sn + i0, 16);        \
                    const ops_v4f a = ops_ld4_##SFX(xr + i0), b = ops_ld4_##SFX(xr + i0 + half); \
                    ops_st4_##SFX(o + i0, a * c4 - b * s4);                    \
                    ops_st4_##SFX(o + i0 + half, a * s4 + b * c4);             \
                }                                                              \
            for (uint32_t i = i0; i < half; i++) {                             \
                const uint32_t ia = adjacent ? 2 * i : i, ib = adjacent ? 2 * i + 1 : i + half; \
                const float a = LD(xr[ia]), b = LD(xr[ib]);                    \
                o[ia] = ST(a * cs[i] - b * sn[i]);                             \
                o[ib] = ST(a * sn[i] + b * cs[i]);                             \
            }                                                                  \
            if (o != xr)                                                       \
                for (uint32_t i = p->rope_dim; i < hd; i++) o[i] = xr[i];      \
        }                                                                      \
    }
OPS_FLOAT_DTYPES(ROPE)

#define MLXC_FAMILY_NAME rope
#define MLXC_FAMILY_DEF "kernels/rope.def"
#include "kernels/cpu/family_tables.h"
