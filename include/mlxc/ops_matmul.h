/*
 * mlxc/ops_matmul.h — dense matrix multiplication against a weight matrix
 * stored as in MLX, PyTorch's Linear and safetensors: row-major (n, k), one
 * row per output feature.
 *
 *     y[i, j] = sum_k x[i, k] * w[j, k]        x (m, k)  w (n, k)  y (m, n)
 *
 * Supported dtypes (every combination; products and sums in f32, a bf16 y
 * rounded once at the end):
 *
 *     w  f32, f16 or bf16        the weights
 *     x  f32 or bf16             the activations, m rows; f16 too when w
 *                                is f16 (else MLXC_ERR_DTYPE)
 *     y  f32 or bf16
 *
 * m <= 8 runs the mat-vec kernel (decode: the weights are streamed once,
 * every x row reused per weight load); a larger m runs the GEMM (prefill; on
 * CUDA bf16 x with bf16 w, and f16 x with f16 w into an f32 y, use the
 * tensor cores through cuBLASLt, loaded at run time, when it is present and
 * x, w, y start 16-byte aligned with k and n multiples of 8; bf16 x bf16
 * falls back to our own tensor-core kernel, the other combinations to a
 * plain f32 kernel).  An f16 x holds what the caller put there: converting
 * activations to f16 (finite up to 65504) is the caller's choice.  x, w and y are contiguous; each view's byte offset
 * must be a multiple of its element size, and y may not overlap x or w.
 *
 *     // logits = h @ lm_head^T for one token
 *     mlxc_matmul(enc, h, lm_head, logits, 1, vocab, hidden);
 */
#ifndef MLXC_OPS_MATMUL_H
#define MLXC_OPS_MATMUL_H

#include "mlxc/encoder.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y = x @ w^T.  x holds m*k elements, w n*k and y m*n (any shape with
 * those counts); m, n, k >= 1 and at most 2^31 - 1. */
MLXC_API mlxc_status mlxc_matmul(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *w, mlxc_buffer *y,
                                 uint32_t m, uint32_t n, uint32_t k);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_OPS_MATMUL_H */
