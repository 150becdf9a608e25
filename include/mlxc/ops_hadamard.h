/*
 * mlxc/ops_hadamard.h — the normalized fast Walsh-Hadamard transform, and a
 * TurboQuant-style quantized KV cache built on it.
 *
 * The rotation.  For a row x of n values (n a power of two, 64..8192),
 *     R x = H S x / sqrt(n)
 * with H the Sylvester Hadamard matrix (H[i][j] = (-1)^popcount(i & j)) and
 * S = diag(s_i) random sign flips (all +1 when signs are off).  R is
 * orthonormal (R^-1 = S H / sqrt(n)), so it keeps norms and dot products
 * while spreading any one large channel evenly over all n.  The signs come
 * from a 32-bit seed, not a buffer: s_i = mlxc_hadamard_sign(seed, i), a
 * fixed integer hash, the same on every backend and in every version.
 *
 * The quantized KV cache.  Each cached row x (one position of one KV head,
 * head_dim 64, 128 or 256) is stored as
 *   - head_dim codes of `bits` (2, 3, 4 or 8) bits: code i is the index of
 *     the Lloyd-Max centroid of N(0, 1) nearest to (H S x)_i / ||x||, which
 *     is (R x)_i * sqrt(head_dim) / ||x|| and close to N(0, 1) whatever x
 *     is (the rotation is what makes one codebook fit every row, outlier
 *     channels included);
 *   - its norm ||x|| (f16 or f32).
 * Codes are packed LSB-first as one bit stream per row (code i is bits
 * [i*bits, (i+1)*bits) of the row, bytes little-endian), so a row takes
 * head_dim * bits / 8 bytes:
 *   codes: u8 (kv_heads, capacity, head_dim * bits / 8)
 *   norms: f16 or f32 (kv_heads, capacity)
 * against head_dim * 2 bytes per row in an f16 cache (at head dim 128:
 * 34, 50, 66, 130 bytes for 2, 3, 4, 8 bits with f16 norms, vs 256).  The
 * row decodes to x^ = S H c / head_dim * ||x|| with c_i the centroid of
 * code i.  Since each centroid is the mean of its cell, the decoded dot
 * product q . x^ has no bias in expectation; the relative error of a row
 * is about the codebook's distortion (0.117, 0.0345, 0.0095, 4.1e-5 for
 * 2, 3, 4, 8 bits: an error of 34%, 19%, 10%, 0.6% of the row's norm).
 * f16 norms saturate at 65504.
 *
 * Decode attention reads the codes directly, with no decoded copy of the
 * cache: it rotates each query once (q' = R q), takes logits as
 * ||k|| / sqrt(head_dim) * (q' . c(k)), sums the values as
 * p * ||v|| / sqrt(head_dim) * c(v) in the rotated space and rotates that
 * sum back at the end.  Semantics otherwise as mlxc_attention_decode
 * (ops_attention.h): GQA with n_heads / n_kv_heads of 1..8 (not 16:
 * a decode thread keeps the value sums of every query head of its group
 * in registers), scale, softcap, sliding window, ring caches, the length
 * from a device buffer; no masks.
 * K and V share bits and seed; the seed must be the one the cache was
 * written with.
 *
 *     mlxc_tq_cache_desc cd = {.kv_heads = 8, .head_dim = 128, .capacity = 32768,
 *                              .bits = 4, .seed = 1234};
 *     mlxc_tq_kv_cache_copy(enc, k_new, k_codes, k_norms, &cd, 0, pos_i32);
 *     mlxc_tq_kv_cache_copy(enc, v_new, v_codes, v_norms, &cd, 0, pos_i32);
 *     mlxc_tq_attention_desc ad = {.n_heads = 32, .n_kv_heads = 8, .head_dim = 128,
 *                                  .kv_capacity = 32768, .kv_len = 1, .scale = 0.0883883f,
 *                                  .bits = 4, .seed = 1234};
 *     mlxc_tq_attention_decode(enc, q, k_codes, k_norms, v_codes, v_norms, out,
 *                              scratch, pos_i32, &ad);
 */
#ifndef MLXC_OPS_HADAMARD_H
#define MLXC_OPS_HADAMARD_H

#include <stddef.h>

#include "mlxc/encoder.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlxc_hadamard_desc {
    uint32_t dim;     /* row length: a power of two, 64..8192          */
    bool     signs;   /* apply the sign flips of `seed`                */
    bool     inverse; /* R^-1 (transform, then signs) instead of R     */
    uint32_t seed;    /* the signs' seed, read when signs              */
} mlxc_hadamard_desc;

/* s_i of the rotation with `seed`: +1.0f or -1.0f. */
MLXC_API float mlxc_hadamard_sign(uint32_t seed, uint32_t i);

/* x <- R x (or R^-1 x) for each row of dim, in place, computed in f32.
 *   x: (rows, dim) f32, f16 or bf16
 * A dim that is not a power of two in 64..8192 is MLXC_ERR_INVALID_ARGUMENT. */
MLXC_API mlxc_status mlxc_hadamard(mlxc_encoder *enc, mlxc_buffer *x, const mlxc_hadamard_desc *desc);

/* One layer's K (or V) cache in the quantized format above. */
typedef struct mlxc_tq_cache_desc {
    uint32_t kv_heads;
    uint32_t head_dim; /* 64, 128 or 256                                 */
    uint32_t capacity; /* positions per KV head                          */
    uint32_t bits;     /* 2, 3, 4 or 8                                   */
    uint32_t seed;     /* the rotation's signs                           */
    bool     sliding;  /* a ring: position p in slot p % capacity        */
} mlxc_tq_cache_desc;

/* Quantize the n new tokens of src into positions start .. start + n - 1,
 * as mlxc_kv_cache_copy (ops_layout.h) writes an f16 cache:
 *   src:   (n, kv_heads, head_dim) f32, f16 or bf16
 *   codes: u8, kv_heads * capacity * head_dim * bits / 8 elements
 *   norms: f16 or f32, kv_heads * capacity elements
 *   pos_buf: NULL, or an i32 (1) device buffer; start = pos + pos_buf[0]
 * With pos_buf NULL a linear cache refuses to overflow (MLXC_ERR_OUT_OF_RANGE);
 * with pos_buf the device drops rows past the capacity.  A sliding cache
 * wraps, and when n > capacity only the last `capacity` tokens are written. */
MLXC_API mlxc_status mlxc_tq_kv_cache_copy(mlxc_encoder *enc, const mlxc_buffer *src, mlxc_buffer *codes,
                                           mlxc_buffer *norms, const mlxc_tq_cache_desc *desc, uint32_t pos,
                                           const mlxc_buffer *pos_buf);

/* Decode every row of the cache (for checks and for what no kernel reads
 * directly): out (kv_heads, capacity, head_dim) f32, f16 or bf16. */
MLXC_API mlxc_status mlxc_tq_kv_dequantize(mlxc_encoder *enc, const mlxc_buffer *codes, const mlxc_buffer *norms,
                                           mlxc_buffer *out, const mlxc_tq_cache_desc *desc);

typedef struct mlxc_tq_attention_desc {
    uint32_t n_heads;     /* query heads                                  */
    uint32_t n_kv_heads;  /* divides n_heads, ratio 1..8                  */
    uint32_t head_dim;    /* 64, 128 or 256                               */
    uint32_t kv_capacity; /* positions per KV head in the caches          */
    uint32_t kv_len;      /* valid keys (plus len_buf[0] when given)      */
    uint32_t window;      /* sliding window; 0 = none                     */
    float    scale;       /* logit scale, usually 1/sqrt(head_dim)        */
    float    softcap;     /* c of c*tanh(s/c); 0 = off                    */
    bool     ring;        /* the caches are rings                         */
    uint32_t bits;        /* of both caches: 2, 3, 4 or 8                 */
    uint32_t seed;        /* of both caches                               */
} mlxc_tq_attention_desc;

/* Scratch bytes of mlxc_tq_attention_decode on `dev` for `desc`: a partial
 * (f32 accumulator, max, sum) per (query head, split).  The split count
 * depends on the device and on kv_capacity/window, not on kv_len.  The
 * scratch needs no initial value; two decodes that may run at the same
 * time must not share one. */
MLXC_API mlxc_status mlxc_tq_attention_decode_scratch_bytes(const mlxc_device *dev,
                                                            const mlxc_tq_attention_desc *desc, size_t *bytes);

/* Decode attention (one query token) over quantized K and V caches; two
 * tracked dispatches (the splits, then their merge) with a barrier
 * between them (the tracker's, with auto-barrier on; else an explicit
 * mlxc_encoder_barrier, which orders earlier work of the encoder too).
 *   q, out: (n_heads, head_dim) f32, f16 or bf16 (independently)
 *   k_codes, v_codes, k_norms, v_norms: as mlxc_tq_kv_cache_copy writes
 *     them (kv_heads = n_kv_heads, capacity = kv_capacity); both norms of
 *     one dtype
 *   scratch: f32, >= mlxc_tq_attention_decode_scratch_bytes
 *   len_buf: NULL or one u32/i32: L = kv_len + len_buf[0]
 * As mlxc_attention_decode: the query is position L - 1; a linear cache
 * refuses a host-known L > kv_capacity and clamps a device one. */
MLXC_API mlxc_status mlxc_tq_attention_decode(mlxc_encoder *enc, const mlxc_buffer *q, const mlxc_buffer *k_codes,
                                              const mlxc_buffer *k_norms, const mlxc_buffer *v_codes,
                                              const mlxc_buffer *v_norms, mlxc_buffer *out, mlxc_buffer *scratch,
                                              const mlxc_buffer *len_buf, const mlxc_tq_attention_desc *desc);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_OPS_HADAMARD_H */
