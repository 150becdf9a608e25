/* Op front-ends for the runtime's own kernels: add, mul, copy, rms_norm. */
#include <stdio.h>

#include "core/internal.h"
#include "kernels/params.h"

static const char *float_suffix(mlxc_dtype dt) {
    switch (dt) {
    case MLXC_F32: return "f32";
    case MLXC_F16: return "f16";
    case MLXC_BF16: return "bf16";
    default: return NULL;
    }
}

/* Groups for `n` units of work: one per ~4096 units, bounded by what the
 * device can keep busy (CPU: a few per worker; GPU: enough blocks to fill it). */
static uint32_t groups_for(const mlxc_device *dev, uint64_t n, uint64_t per_group) {
    uint64_t g = (n + per_group - 1) / per_group;
    uint64_t cap = dev->caps.backend == MLXC_BACKEND_CPU ? (uint64_t)dev->caps.compute_units * 8
                                                         : (uint64_t)dev->caps.compute_units * 32;
    if (cap == 0) cap = 1;
    if (g > cap) g = cap;
    return g ? (uint32_t)g : 1;
}

static mlxc_status binary(mlxc_encoder *enc, const mlxc_buffer *a, const mlxc_buffer *b, mlxc_buffer *out,
                          const char *op, mlxc_op_kind kind) {
    MLXC_CHECK_ARG(enc && a && b && out, "mlxc_%s: NULL argument", op);
    const char *sfx = float_suffix(a->dtype);
    if (!sfx) return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_%s: dtype %s (f32, f16 or bf16)", op, mlxc_dtype_name(a->dtype));
    if (b->dtype != a->dtype || out->dtype != a->dtype)
        return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_%s: dtypes %s, %s -> %s differ", op, mlxc_dtype_name(a->dtype),
                              mlxc_dtype_name(b->dtype), mlxc_dtype_name(out->dtype));
    int64_t n = mlxc_buffer_elements(a);
    if (mlxc_buffer_elements(b) != n || mlxc_buffer_elements(out) != n)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_%s: element counts %lld, %lld -> %lld differ", op, (long long)n,
                              (long long)mlxc_buffer_elements(b), (long long)mlxc_buffer_elements(out));
    mlxc_device *dev = mlxc_encoder_device(enc);
    char name[32];
    snprintf(name, sizeof name, "%s_%s", op, sfx);
    const mlxc_kernel *k;
    mlxc_status s = mlxc_kernel_get(dev, name, &k);
    if (s) return s;
    mlxc_p_elementwise p = {(uint64_t)n};
    mlxc_arg args[4] = {mlxc_arg_buffer(a), mlxc_arg_buffer(b), mlxc_arg_buffer(out), mlxc_arg_bytes(&p, sizeof p)};
    const mlxc_buffer *reads[2] = {a, b};
    const mlxc_buffer *writes[1] = {out};
    mlxc_dispatch d = {.kernel = k, .args = args, .nargs = 4, .grid = {groups_for(dev, (uint64_t)n, 4096), 1, 1},
                       .block = {256, 1, 1}, .reads = reads, .nreads = 2, .writes = writes, .nwrites = 1};
    if ((s = mlxc_encoder_set_op_kind(enc, kind))) return s;
    return mlxc_encoder_dispatch_tracked(enc, &d);
}

mlxc_status mlxc_add(mlxc_encoder *enc, const mlxc_buffer *a, const mlxc_buffer *b, mlxc_buffer *out) {
    return binary(enc, a, b, out, "add", MLXC_OP_ELEM_ADD);
}

mlxc_status mlxc_mul(mlxc_encoder *enc, const mlxc_buffer *a, const mlxc_buffer *b, mlxc_buffer *out) {
    return binary(enc, a, b, out, "mul", MLXC_OP_ELEM_MUL);
}

mlxc_status mlxc_copy(mlxc_encoder *enc, const mlxc_buffer *src, mlxc_buffer *dst) {
    MLXC_CHECK_ARG(enc && src && dst, "mlxc_copy: NULL argument");
    if (src->bytes != dst->bytes)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_copy: %zu bytes into %zu", src->bytes, dst->bytes);
    mlxc_device *dev = mlxc_encoder_device(enc);
    const mlxc_kernel *k;
    mlxc_status s = mlxc_kernel_get(dev, "copy_bytes", &k);
    if (s) return s;
    mlxc_p_elementwise p = {src->bytes};
    mlxc_arg args[3] = {mlxc_arg_buffer(src), mlxc_arg_buffer(dst), mlxc_arg_bytes(&p, sizeof p)};
    const mlxc_buffer *reads[1] = {src};
    const mlxc_buffer *writes[1] = {dst};
    mlxc_dispatch d = {.kernel = k, .args = args, .nargs = 3, .grid = {groups_for(dev, src->bytes, 16384), 1, 1},
                       .block = {256, 1, 1}, .reads = reads, .nreads = 1, .writes = writes, .nwrites = 1};
    if ((s = mlxc_encoder_set_op_kind(enc, MLXC_OP_COPY))) return s;
    return mlxc_encoder_dispatch_tracked(enc, &d);
}

mlxc_status mlxc_rms_norm(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *w, mlxc_buffer *out,
                          uint32_t dim, float eps) {
    MLXC_CHECK_ARG(enc && x && out, "mlxc_rms_norm: NULL argument");
    MLXC_CHECK_ARG(dim > 0, "mlxc_rms_norm: dim is 0");
    MLXC_CHECK_ARG(eps >= 0.0f && eps == eps, "mlxc_rms_norm: eps must be >= 0");
    const char *sfx = float_suffix(x->dtype);
    if (!sfx) return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_rms_norm: dtype %s (f32, f16 or bf16)", mlxc_dtype_name(x->dtype));
    if (out->dtype != x->dtype || (w && w->dtype != x->dtype))
        return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_rms_norm: x, w and out must share a dtype");
    int64_t n = mlxc_buffer_elements(x);
    if (n % dim) return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_rms_norm: %lld elements are not rows of %u", (long long)n, dim);
    if (mlxc_buffer_elements(out) != n) return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_rms_norm: out has %lld elements, x %lld",
                                                              (long long)mlxc_buffer_elements(out), (long long)n);
    if (w && mlxc_buffer_elements(w) != dim)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_rms_norm: weight has %lld elements, dim is %u",
                              (long long)mlxc_buffer_elements(w), dim);
    if (n / dim > UINT32_MAX) return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_rms_norm: too many rows");
    mlxc_device *dev = mlxc_encoder_device(enc);
    char name[32];
    snprintf(name, sizeof name, "rms_norm_%s", sfx);
    const mlxc_kernel *k;
    mlxc_status s = mlxc_kernel_get(dev, name, &k);
    if (s) return s;
    mlxc_p_rms_norm p = {(uint32_t)(n / dim), dim, eps, w != NULL};
    mlxc_arg args[4] = {mlxc_arg_buffer(x), mlxc_arg_buffer(w ? w : x), mlxc_arg_buffer(out), mlxc_arg_bytes(&p, sizeof p)};
    const mlxc_buffer *reads[2] = {x, w};
    const mlxc_buffer *writes[1] = {out};
    uint32_t rows_per = dim >= 4096 ? 1 : 4096 / dim;
    mlxc_dispatch d = {.kernel = k, .args = args, .nargs = 4, .grid = {groups_for(dev, p.rows, rows_per), 1, 1},
                       .block = {256, 1, 1}, .reads = reads, .nreads = w ? 2 : 1, .writes = writes, .nwrites = 1};
    if (dev->caps.backend != MLXC_BACKEND_CPU) d.grid.x = p.rows < 65535u * 16 ? p.rows : 65535u * 16;
    if ((s = mlxc_encoder_set_op_kind(enc, MLXC_OP_RMS_NORM))) return s;
    return mlxc_encoder_dispatch_tracked(enc, &d);
}
