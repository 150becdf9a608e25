/*
 * mlxc/ops_rope.h — rotary position embedding (RoPE) in every layout the
 * supported model families use.
 *
 * x and out are (n_tokens, n_heads, head_dim) of f32, f16 or bf16 and may be
 * the same buffer.  The first rope_dim elements of each head are rotated in
 * pairs, the rest pass through (partial rotary).  Pair i turns by
 *
 *     theta = pos * inv_freq[i]  (then / freq_factors[i], when given),
 *     inv_freq[i] = freq_scale * theta_base^(-2i / rope_dim)
 *
 * with inv_freq rounded once to f32 here, so every backend rotates by the
 * same angles.  attn_factor scales the rotated elements (transformers'
 * attention_scaling: cos and sin times it; the pass-through ones are not).  freq_scale is the linear scaling factor (1 = none, 0.25 for
 * a 4x linear context extension); freq_factors (Llama 3 / Phi long-context
 * "rope_freqs") is an f32 (rope_dim / 2) device buffer.  Positions are i32
 * device data, so a replayed decode graph needs no new parameters.
 *
 *   NORM    pairs (2i, 2i+1)                       Llama in GGUF order, GPT-J
 *   NEOX    pairs (i, i + rope_dim/2)              HF/MLX Llama, Qwen, Gemma
 *   MROPE   NeoX pairs; pair i takes its position from section
 *           s = which of sections[0..3] contains i % sum(sections)   Qwen2-VL
 *   IMROPE  as MROPE with sections interleaved: sector = i % sum,
 *           s = 1 if sector % 3 == 1 and sector < 3*sections[1], 2 likewise,
 *           0 if sector % 3 == 0 and sector < 3*sections[0], else 3  Qwen3.5
 * Positions: (n_tokens) i32 for NORM/NEOX; (4, n_tokens) i32 for the
 * multi-section modes (row s holds the positions of section s).
 */
#ifndef MLXC_OPS_ROPE_H
#define MLXC_OPS_ROPE_H

#include "mlxc/encoder.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mlxc_rope_mode {
    MLXC_ROPE_NORM   = 0,
    MLXC_ROPE_NEOX   = 2,
    MLXC_ROPE_MROPE  = 8,
    MLXC_ROPE_IMROPE = 40
} mlxc_rope_mode;

typedef struct mlxc_rope_desc {
    mlxc_rope_mode mode;
    uint32_t       n_heads;
    uint32_t       head_dim;
    uint32_t       rope_dim;     /* even, <= head_dim, <= 512; 0 = head_dim */
    float          theta_base;   /* e.g. 10000, 1e6                        */
    float          freq_scale;   /* 1 = no scaling                         */
    uint32_t       sections[4];  /* MROPE / IMROPE only                    */
    float          attn_factor;  /* cos and sin times this (LongRoPE, YaRN);
                                    0 = 1                                  */
} mlxc_rope_desc;

/*   x, out: (n_tokens, n_heads, head_dim)   pos: (n_tokens) or (4, n_tokens) i32
 *   freq_factors: (rope_dim / 2) f32 or NULL */
MLXC_API mlxc_status mlxc_rope(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *out, const mlxc_buffer *pos,
                               const mlxc_buffer *freq_factors, const mlxc_rope_desc *desc);

/*
 * The decode step's work between the q/k/v projection and attention, in one
 * dispatch.  One projection over the stacked [wq; wk; wv] weight writes each
 * token's q heads, then its k heads, then its v heads; this op then
 *
 *   1. adds bias (Qwen2's bq, bk, bv), when given;
 *   2. RMS-normalises each q head times q_norm and each k head times
 *      k_norm over head_dim (Qwen3, Gemma 3), when given;
 *   3. rotates q and k as mlxc_rope does;
 *   4. writes the rotated k and the v of token t to row pos[t] of every KV
 *      head of k_cache and v_cache, converted to the caches' dtype.
 *
 * The result is bit for bit that of the separate ops on the same backend:
 * mlxc_add, mlxc_rms_norm(x, w, out, head_dim, eps), mlxc_rope on q and on
 * k, mlxc_kv_cache_copy of k and v with pos as its pos_buf (which writes at
 * pos[0] + t: the same rows when the positions are consecutive, as a
 * forward step's are); every intermediate is rounded to qkv's dtype as
 * their buffers would round it.
 *
 *   qkv:    (n_tokens, n_heads + 2 n_kv_heads, head_dim) f32, f16 or bf16
 *   bias:   NULL or (n_heads + 2 n_kv_heads, head_dim), qkv's dtype
 *   q_norm, k_norm: both NULL or both (head_dim), qkv's dtype
 *   q_out:  (n_tokens, n_heads, head_dim), qkv's dtype: the rotated q
 *   k_cache, v_cache: (n_kv_heads, capacity, head_dim), one float dtype (any)
 *   pos:    (n_tokens) i32 device positions, distinct, so that a replayed
 *           graph needs no new parameters
 *   freq_factors: (rope_dim / 2) f32 or NULL, as mlxc_rope
 *
 * Slots as mlxc_kv_cache_copy picks them: a sliding cache (a ring) takes
 * pos[t] % capacity and keeps only the last `capacity` tokens of a call; a
 * linear cache drops a token whose position is at or past its capacity (or
 * negative).  rope.mode is NORM or NEOX, rope.n_heads the q heads, head_dim
 * at most 512.  No output may overlap another operand.
 *
 *     mlxc_rope_qkv_desc d = {.rope = {MLXC_ROPE_NEOX, 32, 128, 0, 1e6f, 1.0f},
 *                             .n_kv_heads = 8, .capacity = 4096, .eps = 1e-6f};
 *     mlxc_rope_qkv_cache(enc, qkv, NULL, q_norm, k_norm, q, k_cache, v_cache,
 *                         pos_i32, NULL, &d);
 */
typedef struct mlxc_rope_qkv_desc {
    mlxc_rope_desc rope;       /* NORM or NEOX; n_heads = the q heads      */
    uint32_t       n_kv_heads;
    uint32_t       capacity;   /* cache rows per KV head                   */
    bool           sliding;    /* as mlxc_kv_cache_desc.sliding            */
    float          eps;        /* the q/k norms' epsilon (finite, >= 0)    */
} mlxc_rope_qkv_desc;

MLXC_API mlxc_status mlxc_rope_qkv_cache(mlxc_encoder *enc, const mlxc_buffer *qkv, const mlxc_buffer *bias,
                                         const mlxc_buffer *q_norm, const mlxc_buffer *k_norm, mlxc_buffer *q_out,
                                         mlxc_buffer *k_cache, mlxc_buffer *v_cache, const mlxc_buffer *pos,
                                         const mlxc_buffer *freq_factors, const mlxc_rope_qkv_desc *desc);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_OPS_ROPE_H */
