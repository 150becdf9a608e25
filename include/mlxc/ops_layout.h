/*
 * mlxc/ops_layout.h — data movement: strided copy, transpose, permute,
 * embedding gather and the KV-cache write.
 *
 * Copies move elements bit for bit (any dtype of 1, 2, 4 or 8 bytes; source
 * and destination share it), so their results are identical on every
 * backend.  Strides and shapes count elements.  Every op validates dtypes,
 * shapes and extents (no index can leave a view), tags its op kind and
 * dispatches tracked.
 *
 * A decode step writes the new key of every KV head into the cache at the
 * current position, read from device memory so that a replayed graph needs
 * no new parameters:
 *
 *     mlxc_kv_cache_desc kv = {.kv_heads = 8, .head_dim = 128, .capacity = 4096};
 *     mlxc_kv_cache_copy(enc, k_new, k_cache, &kv, 0, pos_i32);
 */
#ifndef MLXC_OPS_LAYOUT_H
#define MLXC_OPS_LAYOUT_H

#include "mlxc/encoder.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dst[i0*ds0 + i1*ds1 + i2*ds2] = src[i0*ss0 + i1*ss1 + i2*ss2] for every
 * index below `shape` (ndim 1..3; the shape and strides of the first ndim
 * dimensions are used, outermost first).  Strides are in elements and may
 * be 0 on the source (broadcast), not on the destination.  Every index
 * reached must lie inside its view; the destination must not overlap the
 * source. */
typedef struct mlxc_strided_copy {
    int      ndim;
    uint64_t shape[3];
    uint64_t src_stride[3];
    uint64_t dst_stride[3];
} mlxc_strided_copy;

MLXC_API mlxc_status mlxc_copy_strided(mlxc_encoder *enc, const mlxc_buffer *src, mlxc_buffer *dst,
                                       const mlxc_strided_copy *c);

/* dst[b, c, r] = src[b, r, c].   src: (batch, rows, cols)  dst: (batch, cols, rows)
 * batch 1 is the plain 2-D transpose. */
MLXC_API mlxc_status mlxc_transpose_2d(mlxc_encoder *enc, const mlxc_buffer *src, mlxc_buffer *dst,
                                       uint32_t batch, uint32_t rows, uint32_t cols);

/* dst[j, i, k] = src[i, j, k].   src: (a, b, c)  dst: (b, a, c)
 * e.g. (seq, heads, head_dim) -> (heads, seq, head_dim). */
MLXC_API mlxc_status mlxc_permute_021(mlxc_encoder *enc, const mlxc_buffer *src, mlxc_buffer *dst,
                                      uint32_t a, uint32_t b, uint32_t c);

/* out[i, :] = table[ids[i], :] * scale.
 *   table: (vocab, dim) f32, f16 or bf16     ids: (n) u32
 *   out:   (n, dim) f32 or the table's dtype
 * scale 1 gives the rows exactly (Gemma passes sqrt(hidden)).  Ids are
 * device data and cannot be checked here: an id >= vocab gives a zero row. */
MLXC_API mlxc_status mlxc_embedding_gather(mlxc_encoder *enc, const mlxc_buffer *table, const mlxc_buffer *ids,
                                           mlxc_buffer *out, uint32_t dim, float scale);

/* A KV cache of one layer: (kv_heads, capacity, head_dim).  Linear caches
 * hold positions [0, capacity); a sliding-window cache is a ring: position
 * p lives in slot p % capacity. */
typedef struct mlxc_kv_cache_desc {
    uint32_t kv_heads;
    uint32_t head_dim;
    uint32_t capacity;
    bool     sliding;
} mlxc_kv_cache_desc;

/* Write the n new tokens of src at positions start .. start + n - 1:
 *   src:   (n, kv_heads, head_dim) f32, f16 or bf16
 *   cache: (kv_heads, capacity, head_dim) f32, f16 or bf16 (converted)
 *   pos_buf: NULL, or an i32 (1) device buffer; start = pos + pos_buf[0]
 * With pos_buf NULL the start is known here: a linear cache refuses to
 * overflow (MLXC_ERR_OUT_OF_RANGE).  With pos_buf the device drops the rows
 * of a linear cache that fall past the capacity.  A sliding cache wraps,
 * and when n > capacity only the last `capacity` tokens are written. */
MLXC_API mlxc_status mlxc_kv_cache_copy(mlxc_encoder *enc, const mlxc_buffer *src, mlxc_buffer *cache,
                                        const mlxc_kv_cache_desc *desc, uint32_t pos,
                                        const mlxc_buffer *pos_buf);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_OPS_LAYOUT_H */
