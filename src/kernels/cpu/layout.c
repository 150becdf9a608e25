/* Layout op-library kernels: strided copy (up to 3-D), batched 2-D
 * transpose, embedding gather and the KV-cache write.  Copies move bits:
 * their results are exact on every backend. */
#include "kernels/params_layout.h"
#include "kernels/cpu/ops_cpu.h"

/* ---- strided copy ------------------------------------------------------------- */

/* Rows are the (i0, i1) pairs; each row copies shape[2] elements. */
#define COPY_STRIDED(NAME, T)                                                   \
    static void NAME(const mlxc_cpu_launch *l) {                               \
        const T *src = l->args[0];                                             \
        T *dst = l->args[1];                                                   \
        const mlxc_p_copy_strided *p = l->args[2];                             \
        const uint64_t n1 = p->shape[1], n2 = p->shape[2];                     \
        const uint64_t ss2 = p->src_stride[2], ds2 = p->dst_stride[2];         \
        uint64_t lo, hi;                                                       \
        mlxc_cpu_slice(l, p->shape[0] * n1, &lo, &hi);                         \
        for (uint64_t r = lo; r < hi; r++) {                                   \
            const uint64_t i0 = r / n1, i1 = r % n1;                           \
            const T *s = src + i0 * p->src_stride[0] + i1 * p->src_stride[1];  \
            T *d = dst + i0 * p->dst_stride[0] + i1 * p->dst_stride[1];        \
            if (ss2 == 1 && ds2 == 1) memcpy(d, s, n2 * sizeof(T));            \
            else for (uint64_t j = 0; j < n2; j++) d[j * ds2] = s[j * ss2];    \
        }                                                                      \
    }

COPY_STRIDED(copy_strided_x8, uint8_t)
COPY_STRIDED(copy_strided_x16, uint16_t)
COPY_STRIDED(copy_strided_x32, uint32_t)
COPY_STRIDED(copy_strided_x64, uint64_t)

/* ---- transpose ----------------------------------------------------------------- */

/* TILE x TILE tiles (64 for 4-byte elements, 32 otherwise: the faster on
 * a 2-core EPYC, see bench/bench_ops_cpu.c), each read row by row into a local buffer and written out
 * column by column from it: both sides of memory then run along rows
 * (the direct strided walk of a large power-of-two row pitch hits one
 * cache set over and over). */
#define TRANSPOSE(NAME, T, TR_TILE)                                             \
    static void NAME(const mlxc_cpu_launch *l) {                               \
        const T *src = l->args[0];                                             \
        T *dst = l->args[1];                                                   \
        const mlxc_p_transpose *p = l->args[2];                                \
        const uint64_t R = p->rows, C = p->cols;                               \
        const uint64_t tr = (R + TR_TILE - 1) / TR_TILE, tc = (C + TR_TILE - 1) / TR_TILE; \
        T tile[TR_TILE * TR_TILE];                                             \
        uint64_t lo, hi;                                                       \
        mlxc_cpu_slice(l, p->batch * tr * tc, &lo, &hi);                       \
        for (uint64_t t = lo; t < hi; t++) {                                   \
            const uint64_t b = t / (tr * tc), r0 = (t / tc) % tr * TR_TILE, c0 = t % tc * TR_TILE; \
            const T *s = src + b * R * C;                                      \
            T *d = dst + b * R * C;                                            \
            const uint64_t nr = R - r0 < TR_TILE ? R - r0 : TR_TILE;           \
            const uint64_t nc = C - c0 < TR_TILE ? C - c0 : TR_TILE;           \
            for (uint64_t r = 0; r < nr; r++)                                  \
                memcpy(tile + r * TR_TILE, s + (r0 + r) * C + c0, nc * sizeof(T)); \
            if (nr == TR_TILE) {                                               \
                for (uint64_t c = 0; c < nc; c++) {                            \
                    T *dr = d + (c0 + c) * R + r0;                             \
                    for (uint32_t r = 0; r < TR_TILE; r++) dr[r] = tile[r * TR_TILE + c]; \
                }                                                              \
            } else {                                                           \
                for (uint64_t c = 0; c < nc; c++)                              \
                    for (uint64_t r = 0; r < nr; r++) d[(c0 + c) * R + r0 + r] = tile[r * TR_TILE + c]; \
            }                                                                  \
        }                                                                      \
    }

TRANSPOSE(transpose_x8, uint8_t, 32u)
TRANSPOSE(transpose_x16, uint16_t, 32u)
TRANSPOSE(transpose_x32, uint32_t, 64u)
TRANSPOSE(transpose_x64, uint64_t, 32u)

/* ---- embedding gather ------------------------------------------------------------ */

/* out[i, :] = table[ids[i], :] * scale; ids past the vocabulary give zeros. */
#define GATHER(NAME, TT, LD, TO, ST)                                            \
    static void NAME(const mlxc_cpu_launch *l) {                               \
        const TT *table = l->args[0];                                          \
        const uint32_t *ids = l->args[1];                                      \
        TO *out = l->args[2];                                                  \
        const mlxc_p_gather *p = l->args[3];                                   \
        const uint64_t dim = p->dim;                                           \
        const float scale = p->scale;                                          \
        uint64_t lo, hi;                                                       \
        mlxc_cpu_slice(l, p->n_ids, &lo, &hi);                                 \
        for (uint64_t i = lo; i < hi; i++) {                                   \
            TO *o = out + i * dim;                                             \
            const uint32_t id = ids[i];                                        \
            if (id >= p->vocab) {                                              \
                for (uint64_t j = 0; j < dim; j++) o[j] = ST(0.0f);            \
                continue;                                                      \
            }                                                                  \
            const TT *row = table + (uint64_t)id * dim;                        \
            for (uint64_t j = 0; j < dim; j++) o[j] = ST(LD(row[j]) * scale);  \
        }                                                                      \
    }

GATHER(embedding_gather_f32_f32, float, OPS_F32_LD, float, OPS_F32_ST)
GATHER(embedding_gather_f16_f16, uint16_t, mlxc_half_f16_to_f32, uint16_t, mlxc_half_f32_to_f16)
GATHER(embedding_gather_f16_f32, uint16_t, mlxc_half_f16_to_f32, float, OPS_F32_ST)
GATHER(embedding_gather_bf16_bf16, uint16_t, mlxc_half_bf16_to_f32, uint16_t, mlxc_half_f32_to_bf16)
GATHER(embedding_gather_bf16_f32, uint16_t, mlxc_half_bf16_to_f32, float, OPS_F32_ST)

/* ---- KV cache copy ------------------------------------------------------------------ */

/* One (token, head) row of head_dim per step; see mlxc_p_kv_copy. */
#define KV_COPY(NAME, TS, LD, TC, ST)                                           \
    static void NAME(const mlxc_cpu_launch *l) {                               \
        const TS *src = l->args[0];                                            \
        TC *cache = l->args[1];                                                \
        const int32_t *pos = l->args[2];                                       \
        const mlxc_p_kv_copy *p = l->args[3];                                  \
        const uint64_t hd = p->head_dim, cap = p->capacity, T = p->n_tokens;   \
        const uint64_t start = (uint64_t)p->pos + (p->use_pos_buf ? (uint32_t)pos[0] : 0u); \
        const uint64_t first = p->sliding && T > cap ? T - cap : 0;            \
        uint64_t lo, hi;                                                       \
        mlxc_cpu_slice(l, T * p->kv_heads, &lo, &hi);                          \
        for (uint64_t r = lo; r < hi; r++) {                                   \
            const uint64_t t = r / p->kv_heads, h = r % p->kv_heads;           \
            if (t < first) continue;                                           \
            uint64_t slot = start + t;                                         \
            if (p->sliding) slot %= cap;                                       \
            else if (slot >= cap) continue;                                    \
            const TS *s = src + r * hd;                                        \
            TC *d = cache + (h * cap + slot) * hd;                             \
            for (uint64_t j = 0; j < hd; j++) d[j] = ST(LD(s[j]));             \
        }                                                                      \
    }

#define KV_FROM(S, TS, LDS)                                                     \
    KV_COPY(kv_cache_copy_##S##_f32, TS, LDS, float, OPS_F32_ST)               \
    KV_COPY(kv_cache_copy_##S##_f16, TS, LDS, uint16_t, mlxc_half_f32_to_f16)       \
    KV_COPY(kv_cache_copy_##S##_bf16, TS, LDS, uint16_t, mlxc_half_f32_to_bf16)
KV_FROM(f32, float, OPS_F32_LD)
KV_FROM(f16, uint16_t, mlxc_half_f16_to_f32)
KV_FROM(bf16, uint16_t, mlxc_half_bf16_to_f32)

/* copy_bytes(src, dst, mlxc_p_elementwise{n = bytes}) */
static void copy_bytes(const mlxc_cpu_launch *l) {
    const unsigned char *src = l->args[0];
    unsigned char *dst = l->args[1];
    const mlxc_p_elementwise *p = l->args[2];
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->n, &lo, &hi);
    if (hi > lo) memmove(dst + lo, src + lo, hi - lo);
}

#define MLXC_FAMILY_NAME layout
#define MLXC_FAMILY_DEF "kernels/layout.def"
#include "kernels/cpu/family_tables.h"
