/* Front-ends of rms_norm, rms_norm_residual, l2_norm and layer_norm (include/mlxc/ops_norm.h). */
#include <stdio.h>
#include <string.h>

#include "kernels/params_norm.h"
#include "mlxc/ops_norm.h"
#include "ops/ops_internal.h"

/* Shared checks: dtypes, eps, rows of x; `row_bufs` must have x's shape,
 * `vec_bufs` (dim) elements; NULL entries are skipped. */
static mlxc_status norm_check(const char *op, const mlxc_buffer *x, uint32_t dim, float eps,
                              const mlxc_buffer *const *row_bufs, int nrow, const mlxc_buffer *const *vec_bufs,
                              int nvec, mlxc_p_norm *p) {
    MLXC_CHECK_ARG(eps >= 0.0f && eps <= 3.4e38f, "mlxc_%s: eps = %g (finite, >= 0)", op, (double)eps);
    mlxc_status s;
    uint32_t rows;
    if ((s = ops_check_float(op, "x", x)) || (s = ops_rows_of(op, x, dim, &rows))) return s;
    for (int i = 0; i < nrow + nvec; i++) {
        const mlxc_buffer *b = i < nrow ? row_bufs[i] : vec_bufs[i - nrow];
        if (!b) continue;
        if ((s = ops_check_dtype(op, "an operand", b, x->dtype))) return s;
        if ((s = ops_check_elems(op, i < nrow ? "a (rows, dim) operand" : "a (dim) operand", b,
                                 i < nrow ? (uint64_t)rows * dim : dim)))
            return s;
    }
    *p = (mlxc_p_norm){rows, dim, eps, 0, 0, 0};
    return MLXC_OK;
}

/* Launch shape.  CUDA rows of whole 16-byte frags (the kernels' vector
 * paths): up to 32 * per_lane frags, warp teams with per_lane frags a lane,
 * 256 threads a block; longer rows, one block per row with per_lane frags
 * a thread (a [1, 4096] decode row is then launch-bound).  per_lane is what
 * the kernel keeps in registers: 2 for rms_norm_residual (two inputs), 4
 * for the others.  Other rows, and
 * the CPU, one group per row (or run of rows). */
static void norm_shape(const mlxc_device *dev, mlxc_dtype dt, const mlxc_p_norm *p, uint32_t per_lane,
                       uint32_t *groups, uint32_t *block) {
    const uint32_t per = 16 / (uint32_t)mlxc_dtype_size(dt);
    *groups = ops_row_groups(dev, p->rows, p->dim);
    *block = ops_row_block(p->dim);
    if (ops_is_cpu(dev) || p->dim % per) return;
    const uint32_t nv = p->dim / per;
    if ((uint64_t)p->rows * nv <= 65536) per_lane = 1; /* decode: a thread per frag (for_rows) */
    if (nv <= 32 * per_lane) { /* the kernel's team_width */
        uint32_t width = 1;
        while (width * per_lane < nv) width <<= 1;
        const uint64_t rows_per_block = 256 / width;
        *block = 256;
        *groups = ops_row_groups(dev, (p->rows + rows_per_block - 1) / rows_per_block, 1);
        return;
    }
    uint32_t b = ((nv + per_lane - 1) / per_lane + 31) / 32 * 32;
    *block = b < 64 ? 64 : b > 1024 ? 1024 : b;
}

static mlxc_status norm_launch(mlxc_encoder *enc, const char *op, mlxc_op_kind kind, const mlxc_buffer *x,
                               const mlxc_arg *args, uint32_t nargs, const mlxc_p_norm *p,
                               const mlxc_buffer *const reads[4], const mlxc_buffer *const writes[2]) {
    char name[48];
    snprintf(name, sizeof name, "%s_%s", op, ops_float_sfx(x->dtype));
    uint32_t groups, block;
    norm_shape(mlxc_encoder_device(enc), x->dtype, p, strcmp(op, "rms_norm_residual") ? 4 : 2, &groups, &block);
    ops_launch l = {.kernel = name, .kind = kind, .args = args, .nargs = nargs,
                    .groups = groups, .block = block,
                    .reads = {reads[0], reads[1], reads[2], reads[3]}, .writes = {writes[0], writes[1]}};
    return ops_dispatch(enc, op, &l);
}

mlxc_status mlxc_rms_norm_residual(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *r, const mlxc_buffer *w,
                                   mlxc_buffer *out, mlxc_buffer *sum, uint32_t dim, float eps) {
    const char *op = "rms_norm_residual";
    MLXC_CHECK_ARG(enc && x && r && out, "mlxc_rms_norm_residual: NULL argument");
    const mlxc_buffer *rows[3] = {r, out, sum}, *vecs[1] = {w};
    mlxc_p_norm p;
    mlxc_status s = norm_check(op, x, dim, eps, rows, 3, vecs, 1, &p);
    if (s) return s;
    if (ops_overlap(out, x) || ops_overlap(out, r) || (sum && ops_overlap(out, sum)))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_rms_norm_residual: out overlaps an input or sum");
    /* sum may be x or r exactly (in place), but not partly overlap them. */
    if (sum && ((ops_overlap(sum, x) && (sum->offset != x->offset || sum->bytes != x->bytes)) ||
                (ops_overlap(sum, r) && (sum->offset != r->offset || sum->bytes != r->bytes))))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_rms_norm_residual: sum partly overlaps x or r");
    p.has_weight = w != NULL;
    p.write_sum = sum != NULL;
    mlxc_arg args[6] = {mlxc_arg_buffer(x), mlxc_arg_buffer(r), mlxc_arg_buffer(w ? w : x), mlxc_arg_buffer(out),
                        mlxc_arg_buffer(sum ? sum : out), mlxc_arg_bytes(&p, sizeof p)};
    const mlxc_buffer *reads[4] = {x, r, w, NULL}, *writes[2] = {out, sum};
    return norm_launch(enc, op, MLXC_OP_RMS_NORM, x, args, 6, &p, reads, writes);
}

mlxc_status mlxc_l2_norm(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *out, uint32_t dim, float eps) {
    MLXC_CHECK_ARG(enc && x && out, "mlxc_l2_norm: NULL argument");
    const mlxc_buffer *rows[1] = {out};
    mlxc_p_norm p;
    mlxc_status s = norm_check("l2_norm", x, dim, eps, rows, 1, NULL, 0, &p);
    if (s) return s;
    mlxc_arg args[3] = {mlxc_arg_buffer(x), mlxc_arg_buffer(out), mlxc_arg_bytes(&p, sizeof p)};
    const mlxc_buffer *reads[4] = {x, NULL, NULL, NULL}, *writes[2] = {out, NULL};
    return norm_launch(enc, "l2_norm", MLXC_OP_NORM, x, args, 3, &p, reads, writes);
}

mlxc_status mlxc_layer_norm(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *w, const mlxc_buffer *b,
                            mlxc_buffer *out, uint32_t dim, float eps) {
    MLXC_CHECK_ARG(enc && x && out, "mlxc_layer_norm: NULL argument");
    const mlxc_buffer *rows[1] = {out}, *vecs[2] = {w, b};
    mlxc_p_norm p;
    mlxc_status s = norm_check("layer_norm", x, dim, eps, rows, 1, vecs, 2, &p);
    if (s) return s;
    p.has_weight = w != NULL;
    p.has_bias = b != NULL;
    mlxc_arg args[5] = {mlxc_arg_buffer(x), mlxc_arg_buffer(w ? w : x), mlxc_arg_buffer(b ? b : x),
                        mlxc_arg_buffer(out), mlxc_arg_bytes(&p, sizeof p)};
    const mlxc_buffer *reads[4] = {x, w, b, NULL}, *writes[2] = {out, NULL};
    return norm_launch(enc, "layer_norm", MLXC_OP_NORM, x, args, 5, &p, reads, writes);
}

mlxc_status mlxc_rms_norm(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *w, mlxc_buffer *out,
                          uint32_t dim, float eps) {
    MLXC_CHECK_ARG(enc && x && out, "mlxc_rms_norm: NULL argument");
    MLXC_CHECK_ARG(dim > 0, "mlxc_rms_norm: dim is 0");
    MLXC_CHECK_ARG(eps >= 0.0f && eps == eps, "mlxc_rms_norm: eps must be >= 0");
    const char *sfx = ops_float_sfx(x->dtype);
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
    mlxc_dispatch d = {.kernel = k, .args = args, .nargs = 4, .grid = {ops_groups(dev, p.rows, rows_per), 1, 1},
                       .block = {256, 1, 1}, .reads = reads, .nreads = w ? 2 : 1, .writes = writes, .nwrites = 1};
    if (dev->caps.backend != MLXC_BACKEND_CPU) d.grid.x = p.rows < 65535u * 16 ? p.rows : 65535u * 16;
    if ((s = mlxc_encoder_set_op_kind(enc, MLXC_OP_RMS_NORM))) return s;
    return mlxc_encoder_dispatch_tracked(enc, &d);
}
