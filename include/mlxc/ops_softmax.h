/*
 * mlxc/ops_softmax.h — row softmax, and the attention form that scales,
 * masks and limits causally in the same pass.
 *
 * x and out are (rows, cols) of f32, f16 or bf16, computed in f32; out may
 * be x itself.  A row whose every column is masked comes out as zeros (not
 * NaN), as in flash attention.
 *
 *     // scores: (heads, q_len, k_len), k cached after q_offset earlier tokens
 *     mlxc_scale_mask_softmax_desc sd = {.cols = k_len, .q_len = q_len,
 *         .scale = 1 / sqrtf(head_dim), .causal = true, .q_offset = k_len - q_len};
 *     mlxc_scale_mask_softmax(enc, scores, NULL, probs, &sd);
 */
#ifndef MLXC_OPS_SOFTMAX_H
#define MLXC_OPS_SOFTMAX_H

#include "mlxc/encoder.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out = softmax(x) over rows of `cols`.   x, out: (rows, cols) */
MLXC_API mlxc_status mlxc_softmax(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *out, uint32_t cols);

typedef struct mlxc_scale_mask_softmax_desc {
    uint32_t cols;      /* keys per row                                     */
    uint32_t q_len;     /* queries per head: row r is query r % q_len       */
    float    scale;     /* applied to x before the mask                     */
    bool     causal;    /* mask column j > q_offset + query                 */
    uint32_t q_offset;  /* absolute position of query 0 among the columns   */
} mlxc_scale_mask_softmax_desc;

/* out = softmax(x * scale + mask[q, :]) with the causal limit when asked.
 *   x, out: (rows, cols), rows a multiple of q_len (heads * q_len)
 *   mask:   (q_len, cols) additive (0 or -inf, or a bias), x's dtype, or NULL */
MLXC_API mlxc_status mlxc_scale_mask_softmax(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *mask,
                                             mlxc_buffer *out, const mlxc_scale_mask_softmax_desc *desc);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_OPS_SOFTMAX_H */
