/*
 * mlxc/ops_sample.h — selection on the device: argmax, top-k, and softmax
 * sampling, each over the rows of a (rows, n) tensor of f32, f16 or bf16.
 *
 * Elements are ranked by value, ties going to the lower index; NaN ranks
 * below every number.  The caller supplies the randomness of sampling (a
 * uniform in [0, 1) per row, from the host or from a device buffer that a
 * replayed graph can refill), so results are reproducible.
 *
 *     mlxc_sample_softmax(enc, logits, NULL, token, logprob, vocab, 0.8f, u);
 */
#ifndef MLXC_OPS_SAMPLE_H
#define MLXC_OPS_SAMPLE_H

#include "mlxc/encoder.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per row: the index of the largest element and its value.
 *   x: (rows, n)   idx: (rows) u32   val: (rows) f32 */
MLXC_API mlxc_status mlxc_argmax(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *idx, mlxc_buffer *val,
                                 uint32_t n);

/* Per row: the k largest elements, sorted descending (1 <= k <= 64, k <= n).
 *   x: (rows, n)   val: (rows, k) f32   idx: (rows, k) u32 */
MLXC_API mlxc_status mlxc_topk(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *val, mlxc_buffer *idx,
                               uint32_t n, uint32_t k);

/* Per row, draw a token from softmax(x / temperature):
 *   p_i = exp((x_i - max) / T);  token = the first i with
 *   p_0 + ... + p_i > u * sum(p), u = uniforms[row] (or `u` when uniforms
 *   is NULL);  logprob = log(p_token / sum(p)).
 * temperature 0 picks the argmax, with logprob under softmax(x).
 *   x: (rows, n)   uniforms: (rows) f32 or NULL   token: (rows) u32
 *   logprob: (rows) f32 or NULL
 * temperature >= 0; u in [0, 1). */
MLXC_API mlxc_status mlxc_sample_softmax(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *uniforms,
                                         mlxc_buffer *token, mlxc_buffer *logprob, uint32_t n,
                                         float temperature, float u);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_OPS_SAMPLE_H */
