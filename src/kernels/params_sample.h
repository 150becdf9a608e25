/*
 * By-value parameters of the selection kernels (grid convention:
 * params_elementwise.h); rows reduce in f32.
 *
 *   argmax_DT(x, idx, val, mlxc_p_rows)            idx u32 [rows], val f32
 *   topk_DT(x, val, idx, mlxc_p_topk)              val f32, idx u32 [rows, k]
 *   sample_DT(x, uniforms, token, logprob, mlxc_p_sample)
 */
#ifndef MLXC_KERNELS_PARAMS_SAMPLE_H
#define MLXC_KERNELS_PARAMS_SAMPLE_H

#include <stdint.h>

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

#endif /* MLXC_KERNELS_PARAMS_SAMPLE_H */
