/*
 * By-value parameters of the linear-attention kernels (include/mlxc/
 * ops_linear_attn.h): the short causal convolution, the gated delta rule
 * (Qwen3-Next's linear attention) in its recurrent and chunked forms, the
 * gate computation and the gated RMS norm.  DT is f32, f16 or bf16;
 * arithmetic in f32, the recurrent state always f32.
 *
 *   short_conv_DT(x, w, state, out, mlxc_p_short_conv)
 *       one work item per (sequence, channel), tokens in order
 *   gdn_gating_DT(a, b, a_log, dt_bias, g, beta, mlxc_p_gdn_gating)
 *       a, b DT; a_log, dt_bias, g, beta f32; elementwise
 *   rms_norm_gated_DT(x, z, w, out, mlxc_p_rms_norm_gated)   rows of dim
 *   gdn_recurrent_DT(q, k, v, g, beta, state, out, mlxc_p_gdn)
 *       tokens in order.  CPU: one work item per (sequence, value head).
 *       CUDA: one per (sequence, value head, MLXC_GDN_DEC_COLS value
 *       columns), the block 32 * ceil(k_dim / MLXC_GDN_ROWS) threads (one
 *       warp per MLXC_GDN_ROWS rows of the state slice, kept in registers)
 *   gdn_chunked_DT(q, k, v, g, beta, state, out, mlxc_p_gdn)
 *       chunks of MLXC_GDN_CHUNK tokens in order.  CPU: one work item per
 *       (sequence, value head).  CUDA: one per (sequence, value head,
 *       MLXC_GDN_COLS value columns), the block MLXC_GDN_COLS threads with
 *       MLXC_GDN_SMEM(k_dim) bytes of dynamic shared memory
 *
 * Work items are covered for any grid (grid-stride); the gdn kernels are,
 * like the attention kernels, the exception to params_elementwise.h's "any
 * block size" on CUDA.
 */
#ifndef MLXC_KERNELS_PARAMS_LINEAR_ATTN_H
#define MLXC_KERNELS_PARAMS_LINEAR_ATTN_H

#include <stdint.h>

#define MLXC_GDN_MAX_DIM 256u /* k_dim and v_dim */
#define MLXC_GDN_CHUNK   64u  /* tokens per chunk of the chunked form */
#define MLXC_GDN_COLS    64u  /* value columns per CUDA chunked work item */
#define MLXC_GDN_DEC_COLS 32u /* value columns per CUDA recurrent work item */
#define MLXC_GDN_ROWS    8u   /* state rows per thread of the CUDA recurrence */
/* Dynamic shared memory of gdn_chunked on CUDA: q and k of a chunk (f32,
 * CHUNK x k_dim each), the CHUNK x (CHUNK + 1) triangular system, the
 * CHUNK x COLS block of corrected values, the cumulative log decays, the
 * betas and the decays to the chunk's end. */
#define MLXC_GDN_SMEM(k_dim)                                                                 \
    ((2u * MLXC_GDN_CHUNK * (k_dim) + MLXC_GDN_CHUNK * (MLXC_GDN_CHUNK + 1u) +                 \
      MLXC_GDN_CHUNK * MLXC_GDN_COLS + 3u * MLXC_GDN_CHUNK) * 4u)

/* x, out: (n_seq, seq_len, channels); w: (channels, width);
 * state: (n_seq, width - 1, channels), the last width - 1 inputs, oldest
 * first.  out[t] = act(sum_j w[j] * in[t - width + 1 + j]). */
typedef struct mlxc_p_short_conv {
    uint32_t n_seq, seq_len, channels, width;
    uint32_t silu;
    uint32_t pad;
} mlxc_p_short_conv;

/* a, b, g, beta: (rows, heads); a_log, dt_bias: (heads). */
typedef struct mlxc_p_gdn_gating {
    uint64_t n; /* rows * heads */
    uint32_t heads;
    uint32_t pad;
} mlxc_p_gdn_gating;

/* x, z, out: (rows, dim); w: (dim). */
typedef struct mlxc_p_rms_norm_gated {
    uint32_t rows, dim;
    float    eps;
    uint32_t pad;
} mlxc_p_rms_norm_gated;

/* q, k: (n_seq, seq_len, k_heads, k_dim); v, out: (n_seq, seq_len, v_heads,
 * v_dim); g, beta: (n_seq, seq_len, v_heads) f32; state: (n_seq, v_heads,
 * k_dim, v_dim) f32.  Value head h reads key head h / (v_heads / k_heads). */
typedef struct mlxc_p_gdn {
    uint32_t n_seq, seq_len;
    uint32_t k_heads, v_heads;
    uint32_t k_dim, v_dim;
    uint32_t l2norm; /* q and k scaled to unit L2 norm (eps 1e-6) first */
    float    scale;  /* q multiplied by it (after the norm) */
} mlxc_p_gdn;

#endif /* MLXC_KERNELS_PARAMS_LINEAR_ATTN_H */
