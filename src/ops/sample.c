/* Front-ends of argmax, top-k and softmax sampling (include/mlxc/ops_sample.h). */
#include <stdio.h>

#include "kernels/params_sample.h"
#include "mlxc/ops_sample.h"
#include "ops/ops_internal.h"

/* Dtype of x and the row count; names kernel `<op>_<dtype>` into `name`. */
static mlxc_status rows_and_name(const char *op, const mlxc_buffer *x, uint32_t n, uint32_t *rows, char *name,
                                 size_t cap) {
    mlxc_status s;
    if ((s = ops_check_float(op, "x", x)) || (s = ops_rows_of(op, x, n, rows))) return s;
    snprintf(name, cap, "%s_%s", op, ops_float_sfx(x->dtype));
    return MLXC_OK;
}

mlxc_status mlxc_argmax(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *idx, mlxc_buffer *val, uint32_t n) {
    const char *op = "argmax";
    MLXC_CHECK_ARG(enc && x && idx && val, "mlxc_argmax: NULL argument");
    mlxc_status s;
    uint32_t rows;
    char name[32];
    if ((s = rows_and_name(op, x, n, &rows, name, sizeof name))) return s;
    if ((s = ops_check_dtype(op, "idx", idx, MLXC_U32)) || (s = ops_check_dtype(op, "val", val, MLXC_F32)) ||
        (s = ops_check_elems(op, "idx", idx, rows)) || (s = ops_check_elems(op, "val", val, rows)))
        return s;
    mlxc_p_rows p = {rows, n};
    mlxc_arg args[4] = {mlxc_arg_buffer(x), mlxc_arg_buffer(idx), mlxc_arg_buffer(val), mlxc_arg_bytes(&p, sizeof p)};
    ops_launch l = {.kernel = name, .kind = MLXC_OP_SAMPLE, .args = args, .nargs = 4,
                    .groups = ops_row_groups(mlxc_encoder_device(enc), rows, n), .block = ops_row_block(n),
                    .reads = {x}, .writes = {idx, val}};
    return ops_dispatch(enc, op, &l);
}

mlxc_status mlxc_topk(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *val, mlxc_buffer *idx, uint32_t n,
                      uint32_t k) {
    const char *op = "topk";
    MLXC_CHECK_ARG(enc && x && idx && val, "mlxc_topk: NULL argument");
    MLXC_CHECK_ARG(k >= 1 && k <= 64 && k <= n, "mlxc_topk: k = %u (1 to 64, at most n = %u)", k, n);
    mlxc_status s;
    uint32_t rows;
    char name[32];
    if ((s = rows_and_name(op, x, n, &rows, name, sizeof name))) return s;
    if ((s = ops_check_dtype(op, "idx", idx, MLXC_U32)) || (s = ops_check_dtype(op, "val", val, MLXC_F32)) ||
        (s = ops_check_elems(op, "idx", idx, (uint64_t)rows * k)) ||
        (s = ops_check_elems(op, "val", val, (uint64_t)rows * k)))
        return s;
    mlxc_p_topk p = {rows, n, k, 0};
    mlxc_arg args[4] = {mlxc_arg_buffer(x), mlxc_arg_buffer(val), mlxc_arg_buffer(idx), mlxc_arg_bytes(&p, sizeof p)};
    ops_launch l = {.kernel = name, .kind = MLXC_OP_SAMPLE, .args = args, .nargs = 4,
                    .groups = ops_row_groups(mlxc_encoder_device(enc), rows, n), .block = ops_row_block(n),
                    .reads = {x}, .writes = {val, idx}};
    return ops_dispatch(enc, op, &l);
}

mlxc_status mlxc_sample_softmax(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *uniforms,
                                mlxc_buffer *token, mlxc_buffer *logprob, uint32_t n, float temperature, float u) {
    const char *op = "sample_softmax";
    MLXC_CHECK_ARG(enc && x && token, "mlxc_sample_softmax: NULL argument");
    MLXC_CHECK_ARG(temperature >= 0.0f && temperature <= 3.4e38f, "mlxc_sample_softmax: temperature %g (>= 0)",
                   (double)temperature);
    MLXC_CHECK_ARG(uniforms || (u >= 0.0f && u < 1.0f), "mlxc_sample_softmax: u = %g is not in [0, 1)", (double)u);
    mlxc_status s;
    uint32_t rows;
    char name[32];
    if ((s = ops_check_float(op, "x", x)) || (s = ops_rows_of(op, x, n, &rows))) return s;
    snprintf(name, sizeof name, "sample_%s", ops_float_sfx(x->dtype));
    if ((s = ops_check_dtype(op, "token", token, MLXC_U32)) || (s = ops_check_elems(op, "token", token, rows)))
        return s;
    if (logprob && ((s = ops_check_dtype(op, "logprob", logprob, MLXC_F32)) ||
                    (s = ops_check_elems(op, "logprob", logprob, rows))))
        return s;
    if (uniforms && ((s = ops_check_dtype(op, "uniforms", uniforms, MLXC_F32)) ||
                     (s = ops_check_elems(op, "uniforms", uniforms, rows))))
        return s;
    mlxc_p_sample p = {rows, n, temperature, uniforms ? 0.0f : u, uniforms != NULL, logprob != NULL};
    mlxc_arg args[5] = {mlxc_arg_buffer(x), mlxc_arg_buffer(uniforms ? uniforms : x), mlxc_arg_buffer(token),
                        mlxc_arg_buffer(logprob ? logprob : token), mlxc_arg_bytes(&p, sizeof p)};
    ops_launch l = {.kernel = name, .kind = MLXC_OP_SAMPLE, .args = args, .nargs = 5,
                    .groups = ops_row_groups(mlxc_encoder_device(enc), rows, n), .block = ops_row_block(n),
                    .reads = {x, uniforms}, .writes = {token, logprob}};
    return ops_dispatch(enc, op, &l);
}
