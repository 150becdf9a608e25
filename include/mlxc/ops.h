/*
 * mlxc/ops.h — op front-ends: validate, choose a kernel and grid, dispatch.
 *
 * Each op checks dtypes, shapes and sizes, tags its op kind and dispatches
 * tracked (so auto-barrier sees its reads and writes).  Outputs are caller
 * allocated.  The same front-end runs on every backend.
 */
#ifndef MLXC_OPS_H
#define MLXC_OPS_H

#include "mlxc/encoder.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out = a + b, elementwise; f32, f16 or bf16; equal dtypes and element counts. */
MLXC_API mlxc_status mlxc_add(mlxc_encoder *enc, const mlxc_buffer *a, const mlxc_buffer *b,
                              mlxc_buffer *out);
/* out = a * b, elementwise. */
MLXC_API mlxc_status mlxc_mul(mlxc_encoder *enc, const mlxc_buffer *a, const mlxc_buffer *b,
                              mlxc_buffer *out);
/* Copy the bytes of src into dst (equal byte sizes; any dtype). */
MLXC_API mlxc_status mlxc_copy(mlxc_encoder *enc, const mlxc_buffer *src, mlxc_buffer *dst);
/* out[r,:] = x[r,:] / sqrt(mean(x[r,:]^2) + eps) * w  over rows of `dim`
 * elements; `w` (dim elements, same dtype) may be NULL for no weight. */
MLXC_API mlxc_status mlxc_rms_norm(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *w,
                                   mlxc_buffer *out, uint32_t dim, float eps);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_OPS_H */
