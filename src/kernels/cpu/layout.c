/* Layout op-library kernels: strided copy (up to 3-D), batched 2-D
 * transpose, embedding gather and the KV-cache write.  Copies move bits:
 * their results are exact on every backend. */
#include "kernels/params_layout.h"
#include "kernels/cpu/ops_cpu.h"

/* dst[di] = src[si] for elements of w bytes (1, 2, 4 or 8, a constant in
 * each entry point), moved as integers of that width. */
OPS_ALWAYS_INLINE void mv(uint32_t w, void *dst, uint64_t di, const void *src, uint64_t si) {
    switch (w) {
    case 1: ((uint8_t *)dst)[di] = ((const uint8_t *)src)[si]; break;
    case 2: ((uint16_t *)dst)[di] = ((const uint16_t *)src)[si]; break;
    case 4: ((uint32_t *)dst)[di] = ((const uint32_t *)src)[si]; break;
    default: ((uint64_t *)dst)[di] = ((const uint64_t *)src)[si]; break;
    }
}

/* ---- strided copy ------------------------------------------------------------- */

/* copy_strided(src, dst, p) with w-byte elements: rows are the (i0, i1)
 * pairs, each copying shape[2] elements (one memcpy when both sides are
 * contiguous along it). */
OPS_ALWAYS_INLINE void copy_strided(const mlxc_cpu_launch *l, uint32_t w) {
    const void *src = l->args[0]; /* (shape) at src_stride */
    void *dst = l->args[1];       /* (shape) at dst_stride */
    const mlxc_p_copy_strided *p = l->args[2];
    const uint64_t n1 = p->shape[1], n2 = p->shape[2];
    const uint64_t ss2 = p->src_stride[2], ds2 = p->dst_stride[2];
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->shape[0] * n1, &lo, &hi);
    for (uint64_t r = lo; r < hi; r++) {
        const uint64_t i0 = r / n1, i1 = r % n1;
        const void *s = (const char *)src + (i0 * p->src_stride[0] + i1 * p->src_stride[1]) * w; /* (n2) */
        void *d = (char *)dst + (i0 * p->dst_stride[0] + i1 * p->dst_stride[1]) * w;             /* (n2) */
        if (ss2 == 1 && ds2 == 1) memcpy(d, s, n2 * w);
        else for (uint64_t j = 0; j < n2; j++) mv(w, d, j * ds2, s, j * ss2);
    }
}

/* ---- transpose ----------------------------------------------------------------- */

/* transpose(src, dst, p) with w-byte elements, in tile x tile tiles (64
 * for 4-byte elements, 32 otherwise: the faster on a 2-core EPYC, see
 * bench/bench_ops_cpu.c), each read row by row into a local buffer and
 * written out column by column from it: both sides of memory then run
 * along rows (the direct strided walk of a large power-of-two row pitch
 * hits one cache set over and over). */
OPS_ALWAYS_INLINE void transpose(const mlxc_cpu_launch *l, uint32_t w) {
    const void *src = l->args[0]; /* (batch, rows, cols) */
    void *dst = l->args[1];       /* (batch, cols, rows) */
    const mlxc_p_transpose *p = l->args[2];
    const uint32_t tile = w == 4 ? 64u : 32u;
    const uint64_t R = p->rows, C = p->cols;
    const uint64_t tr = (R + tile - 1) / tile, tc = (C + tile - 1) / tile;
    union { /* (tile, tile) elements, the member of width w */
        uint8_t  x8[32 * 32];
        uint16_t x16[32 * 32];
        uint32_t x32[64 * 64];
        uint64_t x64[32 * 32];
    } tb;
    void *buf = w == 1 ? (void *)tb.x8 : w == 2 ? (void *)tb.x16 : w == 4 ? (void *)tb.x32 : (void *)tb.x64;
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->batch * tr * tc, &lo, &hi);
    for (uint64_t t = lo; t < hi; t++) {
        const uint64_t b = t / (tr * tc), r0 = (t / tc) % tr * tile, c0 = t % tc * tile;
        const char *s = (const char *)src + b * R * C * w; /* (R, C) */
        char *d = (char *)dst + b * R * C * w;             /* (C, R) */
        const uint64_t nr = R - r0 < tile ? R - r0 : tile;
        const uint64_t nc = C - c0 < tile ? C - c0 : tile;
        for (uint64_t r = 0; r < nr; r++) memcpy((char *)buf + r * tile * w, s + ((r0 + r) * C + c0) * w, nc * w);
        if (nr == tile) {
            for (uint64_t c = 0; c < nc; c++) {
                char *dr = d + ((c0 + c) * R + r0) * w; /* (tile) */
                for (uint32_t r = 0; r < tile; r++) mv(w, dr, r, buf, r * tile + c);
            }
        } else {
            for (uint64_t c = 0; c < nc; c++)
                for (uint64_t r = 0; r < nr; r++) mv(w, d, (c0 + c) * R + r0 + r, buf, r * tile + c);
        }
    }
}

/* ---- embedding gather ------------------------------------------------------------ */

/* embedding_gather(table, ids, out, p): out[i, :] = table[ids[i], :] *
 * scale, read as dtype tt and stored as to; ids past the vocabulary give
 * zeros. */
OPS_ALWAYS_INLINE void embedding_gather(const mlxc_cpu_launch *l, ops_dtype tt, ops_dtype to) {
    const void *table = l->args[0];   /* (vocab, dim) */
    const uint32_t *ids = l->args[1]; /* (n_ids) */
    void *out = l->args[2];           /* (n_ids, dim) */
    const mlxc_p_gather *p = l->args[3];
    const uint64_t dim = p->dim;
    const float scale = p->scale;
    const size_t tes = tt == OPS_F32 ? 4 : 2, oes = to == OPS_F32 ? 4 : 2;
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->n_ids, &lo, &hi);
    for (uint64_t i = lo; i < hi; i++) {
        void *o = (char *)out + i * dim * oes; /* (dim) */
        const uint32_t id = ids[i];
        if (id >= p->vocab) {
            for (uint64_t j = 0; j < dim; j++) ops_st(to, o, j, 0.0f);
            continue;
        }
        const void *row = (const char *)table + (uint64_t)id * dim * tes; /* (dim) */
        for (uint64_t j = 0; j < dim; j++) ops_st(to, o, j, ops_ld(tt, row, j) * scale);
    }
}

/* ---- KV cache copy ------------------------------------------------------------------ */

/* kv_cache_copy(src, cache, pos, p): one (token, head) row of head_dim per
 * step, converted from dtype ts to tc; see mlxc_p_kv_copy. */
OPS_ALWAYS_INLINE void kv_cache_copy(const mlxc_cpu_launch *l, ops_dtype ts, ops_dtype tc) {
    const void *src = l->args[0];    /* (n_tokens, kv_heads, head_dim) */
    void *cache = l->args[1];        /* (kv_heads, capacity, head_dim) */
    const int32_t *pos = l->args[2]; /* (1), read when use_pos_buf */
    const mlxc_p_kv_copy *p = l->args[3];
    const uint64_t hd = p->head_dim, cap = p->capacity, T = p->n_tokens;
    const uint64_t start = (uint64_t)p->pos + (p->use_pos_buf ? (uint32_t)pos[0] : 0u);
    const size_t ses = ts == OPS_F32 ? 4 : 2, ces = tc == OPS_F32 ? 4 : 2;
    uint64_t lo, hi;
    mlxc_cpu_slice(l, T * p->kv_heads, &lo, &hi);
    for (uint64_t r = lo; r < hi; r++) {
        uint64_t h, slot;
        if (!ops_kv_slot(r, p->kv_heads, T, start, cap, p->sliding, &h, &slot)) continue;
        const void *s = (const char *)src + r * hd * ses;      /* (head_dim) */
        void *d = (char *)cache + (h * cap + slot) * hd * ces; /* (head_dim) */
        for (uint64_t j = 0; j < hd; j++) ops_st(tc, d, j, ops_ld(ts, s, j));
    }
}

/* copy_bytes(src, dst, mlxc_p_elementwise{n = bytes}) */
static void copy_bytes(const mlxc_cpu_launch *l) {
    const unsigned char *src = l->args[0]; /* (n) */
    unsigned char *dst = l->args[1];       /* (n) */
    const mlxc_p_elementwise *p = l->args[2];
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->n, &lo, &hi);
    if (hi > lo) memmove(dst + lo, src + lo, hi - lo);
}

/* One entry point per kernel name. */
static void copy_strided_x8(const mlxc_cpu_launch *l) { copy_strided(l, 1); }
static void copy_strided_x16(const mlxc_cpu_launch *l) { copy_strided(l, 2); }
static void copy_strided_x32(const mlxc_cpu_launch *l) { copy_strided(l, 4); }
static void copy_strided_x64(const mlxc_cpu_launch *l) { copy_strided(l, 8); }
static void transpose_x8(const mlxc_cpu_launch *l) { transpose(l, 1); }
static void transpose_x16(const mlxc_cpu_launch *l) { transpose(l, 2); }
static void transpose_x32(const mlxc_cpu_launch *l) { transpose(l, 4); }
static void transpose_x64(const mlxc_cpu_launch *l) { transpose(l, 8); }
static void embedding_gather_f32_f32(const mlxc_cpu_launch *l) { embedding_gather(l, OPS_F32, OPS_F32); }
static void embedding_gather_f16_f16(const mlxc_cpu_launch *l) { embedding_gather(l, OPS_F16, OPS_F16); }
static void embedding_gather_f16_f32(const mlxc_cpu_launch *l) { embedding_gather(l, OPS_F16, OPS_F32); }
static void embedding_gather_bf16_bf16(const mlxc_cpu_launch *l) { embedding_gather(l, OPS_BF16, OPS_BF16); }
static void embedding_gather_bf16_f32(const mlxc_cpu_launch *l) { embedding_gather(l, OPS_BF16, OPS_F32); }
static void kv_cache_copy_f32_f32(const mlxc_cpu_launch *l) { kv_cache_copy(l, OPS_F32, OPS_F32); }
static void kv_cache_copy_f32_f16(const mlxc_cpu_launch *l) { kv_cache_copy(l, OPS_F32, OPS_F16); }
static void kv_cache_copy_f32_bf16(const mlxc_cpu_launch *l) { kv_cache_copy(l, OPS_F32, OPS_BF16); }
static void kv_cache_copy_f16_f32(const mlxc_cpu_launch *l) { kv_cache_copy(l, OPS_F16, OPS_F32); }
static void kv_cache_copy_f16_f16(const mlxc_cpu_launch *l) { kv_cache_copy(l, OPS_F16, OPS_F16); }
static void kv_cache_copy_f16_bf16(const mlxc_cpu_launch *l) { kv_cache_copy(l, OPS_F16, OPS_BF16); }
static void kv_cache_copy_bf16_f32(const mlxc_cpu_launch *l) { kv_cache_copy(l, OPS_BF16, OPS_F32); }
static void kv_cache_copy_bf16_f16(const mlxc_cpu_launch *l) { kv_cache_copy(l, OPS_BF16, OPS_F16); }
static void kv_cache_copy_bf16_bf16(const mlxc_cpu_launch *l) { kv_cache_copy(l, OPS_BF16, OPS_BF16); }

#define MLXC_FAMILY_NAME layout
#define MLXC_FAMILY_DEF "kernels/layout.def"
#include "kernels/cpu/family_tables.h"
