/* Front-ends of the elementwise ops: add, mul, scale, softcap, gelu, silu_mul,
 * swiglu, sigmoid_mul, cast (include/mlxc/ops_elementwise.h). */
#include <stdio.h>
#include <string.h>

#include "kernels/params_elementwise.h"
#include "mlxc/ops_elementwise.h"
#include "ops/ops_internal.h"

/* Elements handled per group before the device cap applies. */
#define ELEMS_PER_GROUP 4096

/* out = f(x[, y]) for kernel `<op>_<dtype>`, inputs of one dtype and count.
 * Kernels with a factor take mlxc_p_scale{n, s}, the others {n}. */
static mlxc_status elementwise(mlxc_encoder *enc, const char *op, mlxc_op_kind kind, const mlxc_buffer *x,
                               const mlxc_buffer *y, mlxc_buffer *out, bool has_factor, float factor) {
    MLXC_CHECK_ARG(enc && x && out, "mlxc_%s: NULL argument", op);
    mlxc_status s;
    if ((s = ops_check_float(op, "x", x))) return s;
    if ((s = ops_check_dtype(op, "out", out, x->dtype))) return s;
    if (y && (s = ops_check_dtype(op, "the second input", y, x->dtype))) return s;
    uint64_t n = (uint64_t)mlxc_buffer_elements(x);
    if ((s = ops_check_elems(op, "out", out, n))) return s;
    if (y && (s = ops_check_elems(op, "the second input", y, n))) return s;
    mlxc_p_scale ps = {n, factor, 0};
    mlxc_p_elementwise pe = {n};
    char name[48];
    snprintf(name, sizeof name, "%s_%s", op, ops_float_sfx(x->dtype));
    mlxc_arg args[4];
    uint32_t na = 0;
    args[na++] = mlxc_arg_buffer(x);
    if (y) args[na++] = mlxc_arg_buffer(y);
    args[na++] = mlxc_arg_buffer(out);
    args[na++] = has_factor ? mlxc_arg_bytes(&ps, sizeof ps) : mlxc_arg_bytes(&pe, sizeof pe);
    mlxc_device *dev = mlxc_encoder_device(enc);
    ops_launch l = {.kernel = name, .kind = kind, .args = args, .nargs = na,
                    .groups = ops_groups(dev, n, ELEMS_PER_GROUP), .block = 256,
                    .reads = {x, y}, .writes = {out}};
    return ops_dispatch(enc, op, &l);
}

static mlxc_status scaled(mlxc_encoder *enc, const char *op, mlxc_op_kind kind, const mlxc_buffer *x,
                          mlxc_buffer *out, float s) {
    return elementwise(enc, op, kind, x, NULL, out, true, s);
}

static mlxc_status plain(mlxc_encoder *enc, const char *op, mlxc_op_kind kind, const mlxc_buffer *x,
                         const mlxc_buffer *y, mlxc_buffer *out) {
    return elementwise(enc, op, kind, x, y, out, false, 0.0f);
}

mlxc_status mlxc_scale(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *out, float s) {
    MLXC_CHECK_ARG(s == s, "mlxc_scale: the factor is NaN");
    return scaled(enc, "scale", MLXC_OP_ELEM_MUL, x, out, s);
}

mlxc_status mlxc_softcap(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *out, float cap) {
    MLXC_CHECK_ARG(cap > 0.0f && cap <= 3.4e38f, "mlxc_softcap: cap must be finite and > 0 (got %g)", (double)cap);
    return scaled(enc, "softcap", MLXC_OP_ACTIVATION, x, out, cap);
}

mlxc_status mlxc_gelu(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *out) {
    return plain(enc, "gelu", MLXC_OP_ACTIVATION, x, NULL, out);
}

mlxc_status mlxc_silu_mul(mlxc_encoder *enc, const mlxc_buffer *gate, const mlxc_buffer *up, mlxc_buffer *out) {
    MLXC_CHECK_ARG(up, "mlxc_silu_mul: NULL argument");
    return plain(enc, "silu_mul", MLXC_OP_ACTIVATION, gate, up, out);
}

mlxc_status mlxc_swiglu(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *out, uint32_t rows, uint32_t n) {
    MLXC_CHECK_ARG(enc && x && out, "mlxc_swiglu: NULL argument");
    MLXC_CHECK_ARG(rows > 0 && n > 0, "mlxc_swiglu: rows %u and n %u must be positive", rows, n);
    mlxc_status s;
    if ((s = ops_check_float("swiglu", "x", x)) || (s = ops_check_dtype("swiglu", "out", out, x->dtype))) return s;
    const uint64_t total = (uint64_t)rows * n;
    if ((s = ops_check_elems("swiglu", "x", x, 2 * total)) || (s = ops_check_elems("swiglu", "out", out, total))) return s;
    if (ops_overlap(out, x)) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_swiglu: out overlaps x");
    mlxc_p_glu p = {total, n, 0};
    char name[32];
    snprintf(name, sizeof name, "swiglu_%s", ops_float_sfx(x->dtype));
    mlxc_arg args[3] = {mlxc_arg_buffer(x), mlxc_arg_buffer(out), mlxc_arg_bytes(&p, sizeof p)};
    mlxc_device *dev = mlxc_encoder_device(enc);
    ops_launch l = {.kernel = name, .kind = MLXC_OP_ACTIVATION, .args = args, .nargs = 3,
                    .groups = ops_groups(dev, total, ELEMS_PER_GROUP), .block = 256, .reads = {x}, .writes = {out}};
    return ops_dispatch(enc, "swiglu", &l);
}

mlxc_status mlxc_sigmoid_mul(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *g, mlxc_buffer *out) {
    MLXC_CHECK_ARG(g, "mlxc_sigmoid_mul: NULL argument");
    return plain(enc, "sigmoid_mul", MLXC_OP_ACTIVATION, x, g, out);
}

mlxc_status mlxc_cast(mlxc_encoder *enc, const mlxc_buffer *src, mlxc_buffer *dst) {
    MLXC_CHECK_ARG(enc && src && dst, "mlxc_cast: NULL argument");
    mlxc_status s;
    if ((s = ops_check_float("cast", "src", src)) || (s = ops_check_float("cast", "dst", dst))) return s;
    uint64_t n = (uint64_t)mlxc_buffer_elements(src);
    if ((s = ops_check_elems("cast", "dst", dst, n))) return s;
    if (src->dtype == dst->dtype) return mlxc_copy(enc, src, dst);
    char name[48];
    snprintf(name, sizeof name, "cast_%s_%s", ops_float_sfx(src->dtype), ops_float_sfx(dst->dtype));
    mlxc_p_elementwise p = {n};
    mlxc_arg args[3] = {mlxc_arg_buffer(src), mlxc_arg_buffer(dst), mlxc_arg_bytes(&p, sizeof p)};
    mlxc_device *dev = mlxc_encoder_device(enc);
    ops_launch l = {.kernel = name, .kind = MLXC_OP_COPY, .args = args, .nargs = 3,
                    .groups = ops_groups(dev, n, ELEMS_PER_GROUP), .block = 256, .reads = {src}, .writes = {dst}};
    return ops_dispatch(enc, "cast", &l);
}

static mlxc_status binary(mlxc_encoder *enc, const mlxc_buffer *a, const mlxc_buffer *b, mlxc_buffer *out,
                          const char *op, mlxc_op_kind kind) {
    MLXC_CHECK_ARG(enc && a && b && out, "mlxc_%s: NULL argument", op);
    const char *sfx = ops_float_sfx(a->dtype);
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
    mlxc_dispatch d = {.kernel = k, .args = args, .nargs = 4, .grid = {ops_groups(dev, (uint64_t)n, 4096), 1, 1},
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
