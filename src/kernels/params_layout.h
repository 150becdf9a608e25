/*
 * By-value parameters of the copy and layout kernels (grid convention:
 * params_elementwise.h).
 *
 *   copy_bytes(src, dst, mlxc_p_elementwise{n = bytes})
 *   copy_strided_xW(src, dst, mlxc_p_copy_strided) W = element bits 8/16/32/64
 *   transpose_xW(src, dst, mlxc_p_transpose)       [batch, rows, cols] ->
 *                                                  [batch, cols, rows]
 *   embedding_gather_T_O(table, ids, out, mlxc_p_gather)
 *       T_O in f32_f32, f16_f16, f16_f32, bf16_bf16, bf16_f32; ids u32
 *   kv_cache_copy_S_C(src, cache, pos, mlxc_p_kv_copy)  S, C in {f32,f16,bf16}
 */
#ifndef MLXC_KERNELS_PARAMS_LAYOUT_H
#define MLXC_KERNELS_PARAMS_LAYOUT_H

#include <stdint.h>

#include "kernels/params_elementwise.h"

/* A copy of up to 3 dimensions; shape and strides in elements, outermost
 * first (unused leading dimensions have shape 1). */
typedef struct mlxc_p_copy_strided {
    uint64_t shape[3];
    uint64_t src_stride[3];
    uint64_t dst_stride[3];
} mlxc_p_copy_strided;

typedef struct mlxc_p_transpose {
    uint64_t batch;
    uint32_t rows, cols;
} mlxc_p_transpose;

/* out[i, :] = table[ids[i], :] * scale; an id >= vocab gives a zero row. */
typedef struct mlxc_p_gather {
    uint32_t n_ids, dim, vocab;
    float    scale;
} mlxc_p_gather;

/* src (n_tokens, kv_heads, head_dim) -> cache (kv_heads, capacity, head_dim).
 * Token t goes to position start + t, start = pos + (use_pos_buf ? pos_buf[0]
 * : 0).  Linear: slot = position, rows past the capacity are dropped (the
 * front-end refuses that when the position is host-known).  Sliding: slot =
 * position % capacity, and only the last `capacity` tokens are written. */
typedef struct mlxc_p_kv_copy {
    uint32_t n_tokens, kv_heads, head_dim, capacity;
    uint32_t pos;
    uint32_t sliding;
    uint32_t use_pos_buf;
    uint32_t pad;
} mlxc_p_kv_copy;

#endif /* MLXC_KERNELS_PARAMS_LAYOUT_H */
