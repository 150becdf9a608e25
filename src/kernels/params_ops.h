/*
 * By-value parameter structs of the op-library kernels (tiers 1-2).  Shared
 * by the CPU kernels (C), the CUDA kernels (.cu) and the op front-ends
 * (src/ops), so every kernel name has one argument layout on every backend.
 * The grid convention of params.h holds: every kernel covers all of its work
 * for any grid >= 1 and any block size.
 *
 * Kernels (DT is f32, f16 or bf16; all arithmetic in f32, 16-bit results
 * rounded to nearest even; "rows" kernels reduce each row in f32):
 *
 *   scale_DT(x, out, mlxc_p_scale)                 out = x * s
 *   softcap_DT(x, out, mlxc_p_scale)               out = tanh(x / s) * s
 *   gelu_DT(x, out, mlxc_p_elementwise)            tanh-form GELU
 *   silu_mul_DT(gate, up, out, mlxc_p_elementwise) out = silu(gate) * up
 *   sigmoid_mul_DT(x, g, out, mlxc_p_elementwise)  out = x * sigmoid(g)
 *   cast_A_B(src, dst, mlxc_p_elementwise)         A != B in {f32, f16, bf16}
 *
 *   copy_strided_xW(src, dst, mlxc_p_copy_strided) W = element bits 8/16/32/64
 *   transpose_xW(src, dst, mlxc_p_transpose)       [batch, rows, cols] ->
 *                                                  [batch, cols, rows]
 *   embedding_gather_T_O(table, ids, out, mlxc_p_gather)
 *       T_O in f32_f32, f16_f16, f16_f32, bf16_bf16, bf16_f32; ids u32
 *   kv_cache_copy_S_C(src, cache, pos, mlxc_p_kv_copy)  S, C in {f32,f16,bf16}
 *
 *   argmax_DT(x, idx, val, mlxc_p_rows)            idx u32 [rows], val f32
 *   topk_DT(x, val, idx, mlxc_p_topk)              val f32, idx u32 [rows, k]
 *   sample_DT(x, uniforms, token, logprob, mlxc_p_sample)
 *
 *   rms_norm_residual_DT(x, r, w, out, sum, mlxc_p_norm)
 *   l2_norm_DT(x, out, mlxc_p_norm)
 *   layer_norm_DT(x, w, b, out, mlxc_p_norm)
 *   rope_DT(x, out, pos, freq_factors, mlxc_p_rope)
 *   softmax_DT(x, mask, out, mlxc_p_softmax)       also scale/mask/causal
 *
 * Optional pointer arguments (a weight, a position buffer, ...) are still
 * passed: the front-end gives any valid buffer and a flag says not to use it.
 */
#ifndef MLXC_KERNELS_PARAMS_OPS_H
#define MLXC_KERNELS_PARAMS_OPS_H

#include <stdint.h>

#include "kernels/params.h"

/* scale_* (s = factor), softcap_* (s = cap c). */
typedef struct mlxc_p_scale {
    uint64_t n;
    float    s;
    uint32_t pad;
} mlxc_p_scale;

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

/* Row-wise reductions over (rows, n). */
typedef struct mlxc_p_rows {
    uint32_t rows, n;
} mlxc_p_rows;

typedef struct mlxc_p_topk {
    uint32_t rows, n, k, pad;
} mlxc_p_topk;

/* Softmax sampling of each row of logits with its own uniform u in [0, 1):
 * token = the first i with cumsum(p)[i] > u * sum(p), p = exp((x - max) / T)
 * (temperature 0: the argmax).  use_u_buf: u = uniforms[row], else `u`. */
typedef struct mlxc_p_sample {
    uint32_t rows, n;
    float    temperature;
    float    u;
    uint32_t use_u_buf;
    uint32_t write_logprob;
} mlxc_p_sample;

/* rms_norm_residual, l2_norm, layer_norm. */
typedef struct mlxc_p_norm {
    uint32_t rows, dim;
    float    eps;
    uint32_t has_weight;
    uint32_t has_bias;
    uint32_t write_sum;
} mlxc_p_norm;

/* RoPE modes (ggml's numbering, as mlx-native uses it). */
#define MLXC_ROPE_MODE_NORM   0u   /* adjacent pairs (2i, 2i+1)                 */
#define MLXC_ROPE_MODE_NEOX   2u   /* halves (i, i + rope_dim/2)                */
#define MLXC_ROPE_MODE_MROPE  8u   /* NeoX pairs, contiguous position sections */
#define MLXC_ROPE_MODE_IMROPE 40u  /* NeoX pairs, sections interleaved (% 3)   */
#define MLXC_ROPE_MAX_PAIRS   256u

/* x, out: (n_tokens, n_heads, head_dim).  Pair i (0 <= i < rope_dim/2)
 * rotates by theta = pos * inv_freq[i] (then / freq_factors[i] when
 * has_freq_factors), all in f32; inv_freq is computed by the front-end
 * (freq_scale * base^(-2i/rope_dim), rounded once) so every backend uses the
 * same angles.  Elements past rope_dim pass through.  Positions: i32
 * (n_tokens) for NORM/NEOX, (4, n_tokens) for MROPE/IMROPE. */
typedef struct mlxc_p_rope {
    uint32_t n_tokens, n_heads, head_dim, rope_dim;
    uint32_t mode;
    uint32_t has_freq_factors;
    uint32_t sections[4];
    float    inv_freq[MLXC_ROPE_MAX_PAIRS];
} mlxc_p_rope;

/* softmax over rows of `cols`: y = softmax(x * scale + mask) where row r is
 * query q = r % q_len; mask (q_len, cols) when has_mask; causal masks
 * column j > q_offset + q.  A row with every column masked gives zeros. */
typedef struct mlxc_p_softmax {
    uint32_t rows, cols;
    float    scale;
    uint32_t has_mask;
    uint32_t causal;
    uint32_t q_len;
    uint32_t q_offset;
    uint32_t pad;
} mlxc_p_softmax;

#endif /* MLXC_KERNELS_PARAMS_OPS_H */
