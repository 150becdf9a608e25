/* Front-ends of softmax and scale_mask_softmax (include/mlxc/ops_softmax.h);
 * both run the kernel softmax_<dtype>. */
#include <stdio.h>

#include "kernels/params_softmax.h"
#include "mlxc/ops_softmax.h"
#include "ops/ops_internal.h"

static mlxc_status softmax_common(mlxc_encoder *enc, const char *op, const mlxc_buffer *x, const mlxc_buffer *mask,
                                  mlxc_buffer *out, const mlxc_scale_mask_softmax_desc *d) {
    MLXC_CHECK_ARG(d->scale == d->scale && d->scale > -3.4e38f && d->scale < 3.4e38f, "mlxc_%s: scale %g is not finite",
                   op, (double)d->scale);
    MLXC_CHECK_ARG(d->q_len > 0, "mlxc_%s: q_len is 0", op);
    MLXC_CHECK_ARG(!d->causal || (uint64_t)d->q_offset + d->q_len <= UINT32_MAX, "mlxc_%s: q_offset %u too large", op,
                   d->q_offset);
    mlxc_status s;
    uint32_t rows;
    if ((s = ops_check_float(op, "x", x)) || (s = ops_check_dtype(op, "out", out, x->dtype)) ||
        (s = ops_rows_of(op, x, d->cols, &rows)) || (s = ops_check_elems(op, "out", out, (uint64_t)rows * d->cols)))
        return s;
    if (rows % d->q_len)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_%s: %u rows are not a whole number of q_len %u", op, rows, d->q_len);
    if (mask && ((s = ops_check_dtype(op, "mask", mask, x->dtype)) ||
                 (s = ops_check_elems(op, "mask", mask, (uint64_t)d->q_len * d->cols))))
        return s;
    if (ops_overlap(x, out) && (x->offset != out->offset || x->bytes != out->bytes))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: out partly overlaps x", op);
    if (mask && ops_overlap(mask, out)) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: out overlaps the mask", op);
    mlxc_p_softmax p = {rows, d->cols, d->scale, mask != NULL, d->causal, d->q_len, d->q_offset, 0};
    char name[32];
    snprintf(name, sizeof name, "softmax_%s", ops_float_sfx(x->dtype));
    mlxc_arg args[4] = {mlxc_arg_buffer(x), mlxc_arg_buffer(mask ? mask : x), mlxc_arg_buffer(out),
                        mlxc_arg_bytes(&p, sizeof p)};
    mlxc_device *dev = mlxc_encoder_device(enc);
    ops_launch l = {.kernel = name, .kind = MLXC_OP_SOFTMAX, .args = args, .nargs = 4,
                    .groups = ops_row_groups(dev, rows, d->cols), .block = ops_row_block(d->cols),
                    .reads = {x, mask}, .writes = {out}};
    /* CUDA rows of at most 64 16-byte frags run as warp teams of up to 2
     * frags a lane (the kernel's vector path, NCS = 2): 256 threads a block */
    const uint32_t per = 16 / (uint32_t)mlxc_dtype_size(x->dtype), nv = d->cols / per;
    const uint32_t per_lane = (uint64_t)rows * nv <= 65536 ? 1 : 2; /* as for_rows */
    if (!ops_is_cpu(dev) && d->cols % per == 0 && nv <= 32 * per_lane) {
        uint32_t width = 1;
        while (width * per_lane < nv) width <<= 1;
        const uint64_t rows_per_block = 256 / width;
        l.block = 256;
        l.groups = ops_row_groups(dev, (rows + rows_per_block - 1) / rows_per_block, 1);
    }
    return ops_dispatch(enc, op, &l);
}

mlxc_status mlxc_softmax(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *out, uint32_t cols) {
    MLXC_CHECK_ARG(enc && x && out, "mlxc_softmax: NULL argument");
    mlxc_scale_mask_softmax_desc d = {cols, 1, 1.0f, false, 0};
    return softmax_common(enc, "softmax", x, NULL, out, &d);
}

mlxc_status mlxc_scale_mask_softmax(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *mask, mlxc_buffer *out,
                                    const mlxc_scale_mask_softmax_desc *desc) {
    MLXC_CHECK_ARG(enc && x && out && desc, "mlxc_scale_mask_softmax: NULL argument");
    return softmax_common(enc, "scale_mask_softmax", x, mask, out, desc);
}
