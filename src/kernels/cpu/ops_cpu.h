/* Shared by the op-library CPU kernels (src/kernels/cpu/F.c): the
 * argument signatures the kernel tables are built with, element loads and
 * stores per storage dtype (one at a time and four f32 lanes at a time),
 * a vectorized exp, and the total order on (value, index) that argmax and
 * top-k use. */
#ifndef MLXC_KERNELS_CPU_OPS_CPU_H
#define MLXC_KERNELS_CPU_OPS_CPU_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernels/cpu/cpu_kernels.h"

#define OPS_P MLXC_PARAM_PTR
#define OPS_B MLXC_PARAM_BYTES
/* Signatures: n pointers, then one by-value struct of `sz` bytes. */
#define OPS_SIG1(sz) {2, {OPS_P, OPS_B}, {0, sz}}
#define OPS_SIG2(sz) {3, {OPS_P, OPS_P, OPS_B}, {0, 0, sz}}
#define OPS_SIG3(sz) {4, {OPS_P, OPS_P, OPS_P, OPS_B}, {0, 0, 0, sz}}
#define OPS_SIG4(sz) {5, {OPS_P, OPS_P, OPS_P, OPS_P, OPS_B}, {0, 0, 0, 0, sz}}
#define OPS_SIG5(sz) {6, {OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_B}, {0, 0, 0, 0, 0, sz}}
#define OPS_SIG6(sz) {7, {OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_B}, {0, 0, 0, 0, 0, 0, sz}}
#define OPS_SIG7(sz) {8, {OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_B}, {0, 0, 0, 0, 0, 0, 0, sz}}
#define OPS_SIG8(sz) {9, {OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_B}, {0, 0, 0, 0, 0, 0, 0, 0, sz}}
#define OPS_SIG9(sz) {10, {OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_B}, {0, 0, 0, 0, 0, 0, 0, 0, 0, sz}}
#define OPS_SIG10(sz)                                                                                      \
    {11, {OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_B},                   \
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, sz}}
#define OPS_SIG11(sz)                                                                                      \
    {12, {OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_B},            \
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, sz}}

/* Four f32 lanes (GNU vector extension, gcc and clang): the kernels that
 * call exp or divide per element run through these so they use SIMD at
 * -O2.  Every lane computes exactly what one element alone would, so the
 * results do not depend on where a slice starts or ends. */
typedef float   ops_v4f __attribute__((vector_size(16)));
typedef int32_t ops_v4i __attribute__((vector_size(16)));

static inline ops_v4f ops_v4_sel(ops_v4i m, ops_v4f a, ops_v4f b) {
    return (ops_v4f)((m & (ops_v4i)a) | (~m & (ops_v4i)b));
}
/* The keys a decode step attends: the length L = kv_len plus the device
 * length (`add`, already read from len_buf by the caller's len_mode),
 * clamped to the cache unless it is a ring, and the first position lo (the
 * sliding window's, and a ring keeps only its last `capacity`).  The
 * attention and quantized-cache decodes share it. */
static inline void ops_decode_range(int64_t kv_len, int64_t add, uint32_t capacity, uint32_t window, uint32_t ring,
                                    int64_t *lo, int64_t *len) {
    int64_t L = kv_len + add;
    if (L < 0) L = 0;
    if (!ring && L > capacity) L = capacity;
    int64_t first = 0;
    if (window && L > window) first = L - window;
    if (ring && L - first > capacity) first = L - capacity;
    *lo = first;
    *len = L;
}

/* Where row r (token r / kv_heads, head r % kv_heads) of a KV-cache write
 * of n_tokens goes: false when it is not written (a sliding window keeps
 * the last `cap` tokens; a linear cache ends at cap), else its head and
 * slot.  start: the position of the first token.  The plain and the
 * quantized cache copies share it. */
static inline bool ops_kv_slot(uint64_t r, uint32_t kv_heads, uint64_t n_tokens, uint64_t start, uint64_t cap,
                               bool sliding, uint64_t *head, uint64_t *slot) {
    const uint64_t t = r / kv_heads, first = sliding && n_tokens > cap ? n_tokens - cap : 0;
    if (t < first) return false;
    *head = r % kv_heads;
    *slot = start + t;
    if (sliding) *slot %= cap;
    else if (*slot >= cap) return false;
    return true;
}

/* The split decode's merge for one head: the S partials (accumulator s at
 * acc + s * hd, its base-2 max and sum at ml[2 s], ml[2 s + 1]) weighted
 * 2^(m_s - M) into o (hd values); returns the merged sum (0 when every
 * split is empty).  The attention and quantized-cache decodes share it. */
static inline float ops_merge_splits(const float *acc, const float *ml, uint32_t S, uint32_t hd, float *o) {
    float M = -INFINITY, L = 0.0f;
    for (uint32_t s = 0; s < S; s++) M = fmaxf(M, ml[s * 2]);
    for (uint32_t d = 0; d < hd; d++) o[d] = 0.0f;
    if (M > -INFINITY)
        for (uint32_t s = 0; s < S; s++) {
            const float ms = ml[s * 2];
            if (!(ms > -INFINITY)) continue;
            const float w = exp2f(ms - M);
            L += w * ml[s * 2 + 1];
            for (uint32_t d = 0; d < hd; d++) o[d] += w * acc[(size_t)s * hd + d];
        }
    return L;
}

static inline ops_v4f ops_v4_splat(float x) { return (ops_v4f){x, x, x, x}; }

typedef uint32_t ops_v4u __attribute__((vector_size(16)));

/* Four consecutive elements to and from f32 lanes, per storage dtype; the
 * same values as ops_ld/ops_st below (the mlxc_half_* conversions)
 * element by element. */
static inline ops_v4f ops_ld4_f32(const float *p) {
    ops_v4f v;
    memcpy(&v, p, 16);
    return v;
}
static inline void ops_st4_f32(float *p, ops_v4f v) { memcpy(p, &v, 16); }
static inline ops_v4f ops_ld4_bf16(const uint16_t *p) {
    const ops_v4u u = {p[0], p[1], p[2], p[3]};
    return (ops_v4f)(u << 16);
}
/* mlxc_half_f32_to_bf16 per lane: quiet NaN, else round to nearest even. */
static inline void ops_st4_bf16(uint16_t *p, ops_v4f v) {
    const ops_v4u u = (ops_v4u)v;
    const ops_v4i nan = (ops_v4i)(u & 0x7fffffffu) > 0x7f800000;
    const ops_v4u q = (u >> 16) | 0x40u, rn = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const ops_v4u r = ((ops_v4u)nan & q) | (~(ops_v4u)nan & rn);
    p[0] = (uint16_t)r[0], p[1] = (uint16_t)r[1], p[2] = (uint16_t)r[2], p[3] = (uint16_t)r[3];
}
/* f16 to f32 without a call: the exponent and mantissa bits moved into
 * place and scaled by 2^112 (exact, subnormals included), Inf/NaN given
 * the f32 all-ones exponent, then the sign: mlxc_half_f16_to_f32 per lane. */
static inline ops_v4f ops_ld4_f16(const uint16_t *p) {
    const ops_v4u h = {p[0], p[1], p[2], p[3]};
    const ops_v4u em = h & 0x7fffu, sign = (h & 0x8000u) << 16;
    const ops_v4u fin = (ops_v4u)((ops_v4f)(em << 13) * 0x1p112f);
    const ops_v4u inf = (em << 13) | 0x7f800000u;
    const ops_v4u big = (ops_v4u)((ops_v4i)em >= 0x7c00);
    return (ops_v4f)(sign | (big & inf) | (~big & fin));
}
static inline void ops_st4_f16(uint16_t *p, ops_v4f v) {
    for (int k = 0; k < 4; k++) p[k] = mlxc_half_f32_to_f16(v[k]);
}

/* The storage dtype of a kernel name, for kernel bodies written once: a
 * body takes it as a constant and is always inlined into its per-dtype
 * entry point, so the switches below fold away and each entry point is the
 * loop a hand-written one would be. */
typedef enum { OPS_F32, OPS_F16, OPS_BF16 } ops_dtype;
#define OPS_ALWAYS_INLINE static inline __attribute__((always_inline))

/* Element i of p (dtype t), as f32. */
OPS_ALWAYS_INLINE float ops_ld(ops_dtype t, const void *p, uint64_t i) {
    switch (t) {
    case OPS_F32: return ((const float *)p)[i];
    case OPS_F16: return mlxc_half_f16_to_f32(((const uint16_t *)p)[i]);
    default:      return mlxc_half_bf16_to_f32(((const uint16_t *)p)[i]);
    }
}
/* p[i] = v rounded once (nearest even) to dtype t. */
OPS_ALWAYS_INLINE void ops_st(ops_dtype t, void *p, uint64_t i, float v) {
    switch (t) {
    case OPS_F32: ((float *)p)[i] = v; break;
    case OPS_F16: ((uint16_t *)p)[i] = mlxc_half_f32_to_f16(v); break;
    default:      ((uint16_t *)p)[i] = mlxc_half_f32_to_bf16(v); break;
    }
}
/* v rounded to dtype t and back: what a store then a load would give. */
OPS_ALWAYS_INLINE float ops_round(ops_dtype t, float v) {
    switch (t) {
    case OPS_F32: return v;
    case OPS_F16: return mlxc_half_f16_to_f32(mlxc_half_f32_to_f16(v));
    default:      return mlxc_half_bf16_to_f32(mlxc_half_f32_to_bf16(v));
    }
}
/* Elements i..i+3 of p as four f32 lanes, and back. */
OPS_ALWAYS_INLINE ops_v4f ops_ld4(ops_dtype t, const void *p, uint64_t i) {
    switch (t) {
    case OPS_F32: return ops_ld4_f32((const float *)p + i);
    case OPS_F16: return ops_ld4_f16((const uint16_t *)p + i);
    default:      return ops_ld4_bf16((const uint16_t *)p + i);
    }
}
OPS_ALWAYS_INLINE void ops_st4(ops_dtype t, void *p, uint64_t i, ops_v4f v) {
    switch (t) {
    case OPS_F32: ops_st4_f32((float *)p + i, v); break;
    case OPS_F16: ops_st4_f16((uint16_t *)p + i, v); break;
    default:      ops_st4_bf16((uint16_t *)p + i, v); break;
    }
}

/* Eight partial sums combined, always in this order. */
static inline float ops_sum8(const float l[8]) {
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}
/* The sum of x[j]^2 over j < dim in eight scalar lanes (lane j % 8, the
 * tail into lane 0; the compiler vectorizes them): the order every RMS norm
 * on the CPU sums in (norm.c, and rope.c's fused q/k norm), so they agree. */
OPS_ALWAYS_INLINE float ops_sum_sq(ops_dtype t, const void *x, /* (dim) */ uint32_t dim) {
    float acc[8] = {0};
    uint32_t i = 0;
    for (; i + 8 <= dim; i += 8)
        for (int k = 0; k < 8; k++) {
            const float v = ops_ld(t, x, i + k);
            acc[k] += v * v;
        }
    for (; i < dim; i++) {
        const float v = ops_ld(t, x, i);
        acc[0] += v * v;
    }
    return ops_sum8(acc);
}

/* exp(x) per lane without a libm call: x = n ln2 + r with |r| <= ln2/2
 * (Cody-Waite split of ln2), e^r by its Taylor polynomial to r^7
 * (truncation < 1e-8 relative), times 2^n built in the exponent bits.
 * Within a few ulp of expf; 0 below -87.3 (where expf is subnormal or 0),
 * clamped near 2^127 above 88.3; NaN stays NaN. */
static inline ops_v4f ops_exp4(ops_v4f x) {
    const ops_v4f lo = ops_v4_splat(-87.3f), hi = ops_v4_splat(88.3f);
    ops_v4f xc = ops_v4_sel(x > hi, hi, x);
    xc = ops_v4_sel(xc < lo, lo, xc);
    const ops_v4f n = (xc * 1.44269504f + 12582912.0f) - 12582912.0f; /* round to nearest */
    const ops_v4f r = (xc - n * 0.693359375f) + n * 2.12194440e-4f;
    ops_v4f q = ops_v4_splat(1.0f / 5040.0f);
    q = q * r + 1.0f / 720.0f;
    q = q * r + 1.0f / 120.0f;
    q = q * r + 1.0f / 24.0f;
    q = q * r + 1.0f / 6.0f;
    q = q * r + 0.5f;
    q = q * r + 1.0f;
    q = q * r + 1.0f;
    const ops_v4i bits = (__builtin_convertvector(n, ops_v4i) + 127) << 23;
    const ops_v4f e = q * (ops_v4f)bits;
    return ops_v4_sel(x < lo, ops_v4_splat(0.0f), ops_v4_sel(x != x, x, e));
}
/* silu(a) * b per lane, a / (1 + e^-a) written a * (1 / (1 + e^-a)) * b:
 * the silu_mul op and the fused mat-vec's prologue make the same bits. */
static inline ops_v4f ops_sigmoid4(ops_v4f x) { return 1.0f / (1.0f + ops_exp4(-x)); }
static inline ops_v4f ops_silu_mul4(ops_v4f a, ops_v4f b) { return a * ops_sigmoid4(a) * b; }

/* A key whose unsigned order is the order argmax/top-k rank elements by:
 * larger value first, then lower index; NaN ranks below everything and
 * -0 equals +0.  The high word orders the float, the low word is ~index. */
static inline uint64_t ops_rank_key(float v, uint32_t index) {
    uint32_t u;
    if (v != v) u = 0;
    else {
        if (v == 0.0f) v = 0.0f;
        memcpy(&u, &v, 4);
        u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    }
    return ((uint64_t)u << 32) | (uint32_t)~index;
}
static inline uint32_t ops_rank_index(uint64_t key) { return ~(uint32_t)key; }

#endif
