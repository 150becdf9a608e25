/*
 * mlxc/ops_linear_attn.h — the linear-attention layer of Qwen3-Next /
 * Qwen3.5 (the gated delta net): its short causal convolution, the gates,
 * the gated delta rule (a recurrent form for decode, a chunked form for
 * prefill) and the gated RMS norm on its output.
 *
 * Activations are f32, f16 or bf16 (one dtype per call) and computed in
 * f32; the recurrent state and the gates g and beta are always f32.  A
 * layer's step, with the projections done by the matmul ops:
 *
 *     // qkv: (tokens, 2 * k_heads * k_dim + v_heads * v_dim) after the
 *     // input projection; conv_state: (width - 1, that many channels)
 *     mlxc_short_conv(enc, qkv, conv_w, conv_state, qkv, &cd);       // + SiLU
 *     mlxc_gdn_gating(enc, a, b, a_log, dt_bias, g, beta, v_heads);
 *     // q, k, v copied out of qkv into their own buffers
 *     mlxc_gdn_chunked(enc, q, k, v, g, beta, state, o, &gd);      // prefill
 *     mlxc_gdn_recurrent(enc, q, k, v, g, beta, state, o, &gd);    // decode
 *     mlxc_rms_norm_gated(enc, o, z, norm_w, o, v_dim, eps);
 *
 * Each op checks its dtypes and element counts and returns MLXC_ERR_DTYPE,
 * MLXC_ERR_SHAPE or MLXC_ERR_INVALID_ARGUMENT without recording anything.
 */
#ifndef MLXC_OPS_LINEAR_ATTN_H
#define MLXC_OPS_LINEAR_ATTN_H

#include "mlxc/encoder.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlxc_short_conv_desc {
    uint32_t n_seq;    /* sequences, each with its own state           */
    uint32_t seq_len;  /* tokens per sequence (1: the decode step)      */
    uint32_t channels;
    uint32_t width;    /* kernel width, 2..4                            */
    bool     silu;     /* apply SiLU to the convolution                 */
} mlxc_short_conv_desc;

/* Causal depthwise conv1d over the tokens of each sequence, continuing from
 * and updating a carried state:
 *     out[t][c] = act(sum_j w[c][j] * in[t - width + 1 + j][c])
 * where in[] before token 0 is the state (the last width - 1 inputs, oldest
 * first; zeros for a fresh sequence).  On return the state holds the last
 * width - 1 inputs of the window, so a prefill followed by single-token
 * calls equals one call over all tokens.  (transformers keeps `width`
 * inputs per channel in its conv state; only the last width - 1 are read.)
 *   x, out: (n_seq, seq_len, channels)   w: (channels, width)
 *   state:  (n_seq, width - 1, channels), x's dtype (the inputs exactly)
 * out may be x itself; it must not overlap w or state. */
MLXC_API mlxc_status mlxc_short_conv(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *w, mlxc_buffer *state,
                                     mlxc_buffer *out, const mlxc_short_conv_desc *desc);

/* The gates of the delta rule, per value head h:
 *     g    = -exp(a_log[h]) * softplus(a + dt_bias[h])    (log decay, <= 0)
 *     beta = sigmoid(b)
 * softplus as torch's (the input itself above 20).
 *   a, b: (rows, heads), one float dtype   a_log, dt_bias: (heads) f32
 *   g, beta: (rows, heads) f32 */
MLXC_API mlxc_status mlxc_gdn_gating(mlxc_encoder *enc, const mlxc_buffer *a, const mlxc_buffer *b,
                                     const mlxc_buffer *a_log, const mlxc_buffer *dt_bias, mlxc_buffer *g,
                                     mlxc_buffer *beta, uint32_t heads);

/* out = rms_norm(x) * w * silu(z) per row of dim, as transformers'
 * Qwen3NextRMSNormGated: the normalised x and its product with w are each
 * rounded to the dtype (no effect in f32), the product with silu(z) too.
 *   x, z, out: (rows, dim)   w: (dim); one dtype.  out may be x or z. */
MLXC_API mlxc_status mlxc_rms_norm_gated(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *z,
                                         const mlxc_buffer *w, mlxc_buffer *out, uint32_t dim, float eps);

typedef struct mlxc_gdn_desc {
    uint32_t n_seq;    /* sequences, each with its own state                  */
    uint32_t seq_len;  /* tokens per sequence                                 */
    uint32_t k_heads;  /* query/key heads                                     */
    uint32_t v_heads;  /* value heads, a multiple of k_heads: value head h    */
                       /* reads key head h / (v_heads / k_heads)              */
    uint32_t k_dim;    /* 1..256                                              */
    uint32_t v_dim;    /* 1..256                                              */
    bool     l2norm;   /* q and k scaled to unit L2 norm first (eps 1e-6)     */
    float    scale;    /* q multiplied by it after the norm; 0: 1/sqrt(k_dim) */
} mlxc_gdn_desc;

/* The gated delta rule, token by token: per value head with state
 * S (k_dim, v_dim),
 *     S = exp(g) * S;   S += k (beta * (v - S^T k))^T;   out = S^T q
 * (transformers' torch_recurrent_gated_delta_rule).  The state is read and
 * updated in place; zeros start a fresh sequence.  Any seq_len; the decode
 * step is seq_len 1.
 *   q, k:   (n_seq, seq_len, k_heads, k_dim)
 *   v, out: (n_seq, seq_len, v_heads, v_dim), q's dtype
 *   g, beta: (n_seq, seq_len, v_heads) f32
 *   state:  (n_seq, v_heads, k_dim, v_dim) f32
 * out must not overlap the inputs or the state. */
MLXC_API mlxc_status mlxc_gdn_recurrent(mlxc_encoder *enc, const mlxc_buffer *q, const mlxc_buffer *k,
                                        const mlxc_buffer *v, const mlxc_buffer *g, const mlxc_buffer *beta,
                                        mlxc_buffer *state, mlxc_buffer *out, const mlxc_gdn_desc *desc);

/* The same outputs and final state as mlxc_gdn_recurrent (up to f32
 * rounding), computed in chunks of 64 tokens (transformers'
 * torch_chunk_gated_delta_rule): within a chunk the corrections of the
 * delta rule are one triangular solve, and the state passes from chunk to
 * chunk.  The prefill form; the last chunk may be partial.  Same buffers. */
MLXC_API mlxc_status mlxc_gdn_chunked(mlxc_encoder *enc, const mlxc_buffer *q, const mlxc_buffer *k,
                                      const mlxc_buffer *v, const mlxc_buffer *g, const mlxc_buffer *beta,
                                      mlxc_buffer *state, mlxc_buffer *out, const mlxc_gdn_desc *desc);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_OPS_LINEAR_ATTN_H */
