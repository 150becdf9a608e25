/*
 * mlxc/ops_norm.h — row normalisations beyond mlxc_rms_norm (ops.h):
 * rms_norm fused with the residual add, l2_norm, layer_norm.
 *
 * Rows are the contiguous runs of `dim` elements of x; x, the optional
 * weight/bias and the outputs share one dtype (f32, f16 or bf16).  Sums are
 * accumulated in f32.  mlxc_rms_norm with a NULL weight is the no-scale
 * form; mlxc_rms_norm_residual takes a NULL weight the same way.
 *
 *     // h = h + attn;  x = rms_norm(h) * w      (one kernel)
 *     mlxc_rms_norm_residual(enc, attn, h, w, x, h, hidden, 1e-6f);
 */
#ifndef MLXC_OPS_NORM_H
#define MLXC_OPS_NORM_H

#include "mlxc/encoder.h"

#ifdef __cplusplus
extern "C" {
#endif

/* s = x + r (rounded to the dtype);  out = s / sqrt(mean(s^2) + eps) * w.
 *   x, r, out: (rows, dim)   w: (dim) or NULL   sum: (rows, dim) or NULL
 * When `sum` is given the rounded s is stored there; it may be x or r (the
 * residual stream updated in place).  `out` must not overlap x, r or sum.
 * The result equals mlxc_add followed by mlxc_rms_norm, bit for bit, on the
 * CPU backend. */
MLXC_API mlxc_status mlxc_rms_norm_residual(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *r,
                                            const mlxc_buffer *w, mlxc_buffer *out, mlxc_buffer *sum,
                                            uint32_t dim, float eps);

/* out = x / sqrt(sum(x^2) + eps)  per row (the FLA / gated-delta-net form).
 *   x, out: (rows, dim) */
MLXC_API mlxc_status mlxc_l2_norm(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *out, uint32_t dim,
                                  float eps);

/* out = (x - mean) / sqrt(var + eps) * w + b  per row (biased variance,
 * computed from x - mean); w and b may be NULL (1 and 0).
 *   x, out: (rows, dim)   w, b: (dim) */
MLXC_API mlxc_status mlxc_layer_norm(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *w,
                                     const mlxc_buffer *b, mlxc_buffer *out, uint32_t dim, float eps);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_OPS_NORM_H */
