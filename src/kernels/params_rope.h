/*
 * By-value parameters of the rotary embedding kernels (grid convention:
 * params_elementwise.h).
 *
 *   rope_DT(x, out, pos, freq_factors, mlxc_p_rope)
 *   rope_qkv_cache_DT_CT(qkv, bias, q_norm, k_norm, q_out, k_cache, v_cache,
 *       pos, freq_factors, mlxc_p_rope_qkv)   DT the activations' dtype, CT
 *       the caches'; bias and the norms are read when their flags are set
 */
#ifndef MLXC_KERNELS_PARAMS_ROPE_H
#define MLXC_KERNELS_PARAMS_ROPE_H

#include <stdint.h>

/* RoPE modes (ggml's numbering, as mlx-native uses it). */
#define MLXC_ROPE_MODE_NORM   0u   /* adjacent pairs (2i, 2i+1)                 */
#define MLXC_ROPE_MODE_NEOX   2u   /* halves (i, i + rope_dim/2)                */
#define MLXC_ROPE_MODE_MROPE  8u   /* NeoX pairs, contiguous position sections */
#define MLXC_ROPE_MODE_IMROPE 40u  /* NeoX pairs, sections interleaved (% 3)   */
#define MLXC_ROPE_MAX_PAIRS   256u
#define MLXC_ROPE_QKV_MAX_HEAD_DIM 512u /* rope_qkv_cache keeps a head row in shared memory */

/* x, out: (n_tokens, n_heads, head_dim).  Pair i (0 <= i < rope_dim/2)
 * rotates by theta = pos * inv_freq[i] (then / freq_factors[i] when
 * has_freq_factors), all in f32, and is scaled by mscale (cos and sin are
 * multiplied by it, so 1 changes no bit); inv_freq is computed by the front-end
 * (freq_scale * base^(-2i/rope_dim), rounded once) so every backend uses the
 * same angles.  Elements past rope_dim pass through.  Positions: i32
 * (n_tokens) for NORM/NEOX, (4, n_tokens) for MROPE/IMROPE. */
typedef struct mlxc_p_rope {
    uint32_t n_tokens, n_heads, head_dim, rope_dim;
    uint32_t mode;
    uint32_t has_freq_factors;
    uint32_t sections[4];
    float    mscale;       /* cos and sin times this (LongRoPE's attention factor); 1 = none */
    float    inv_freq[MLXC_ROPE_MAX_PAIRS];
} mlxc_p_rope;

/* The decode step after the fused q/k/v projection, one dispatch:
 *   qkv: (n_tokens, n_heads + 2 * n_kv_heads, head_dim), q heads then k then v
 *   bias: (that row) added first; q_norm, k_norm: (head_dim) RMS weights
 *   q_out: (n_tokens, n_heads, head_dim)   k_cache, v_cache: (n_kv_heads,
 *   capacity, head_dim), token t at slot pos[t] (% capacity when sliding)
 * rope.n_heads is the q heads; rope.n_tokens the tokens; every stage rounds
 * to DT as the separate ops' buffers would (see mlxc_rope_qkv_cache). */
typedef struct mlxc_p_rope_qkv {
    mlxc_p_rope rope;
    uint32_t    n_kv_heads;
    uint32_t    capacity;
    uint32_t    sliding;
    uint32_t    has_bias;
    uint32_t    has_norm;
    float       eps;
} mlxc_p_rope_qkv;

#endif /* MLXC_KERNELS_PARAMS_ROPE_H */
