/* Front-end of RoPE (include/mlxc/ops_rope.h): validates the layout and
 * computes the per-pair inverse frequencies the kernels share. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/params_rope.h"
#include "mlxc/ops_rope.h"
#include "ops/ops_internal.h"

mlxc_status mlxc_rope(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *out, const mlxc_buffer *pos,
                      const mlxc_buffer *freq_factors, const mlxc_rope_desc *d) {
    const char *op = "rope";
    MLXC_CHECK_ARG(enc && x && out && pos && d, "mlxc_rope: NULL argument");
    const bool multi = d->mode == MLXC_ROPE_MROPE || d->mode == MLXC_ROPE_IMROPE;
    MLXC_CHECK_ARG(multi || d->mode == MLXC_ROPE_NORM || d->mode == MLXC_ROPE_NEOX, "mlxc_rope: unknown mode %d",
                   (int)d->mode);
    MLXC_CHECK_ARG(d->n_heads && d->head_dim, "mlxc_rope: n_heads %u, head_dim %u must be > 0", d->n_heads, d->head_dim);
    const uint32_t rope_dim = d->rope_dim ? d->rope_dim : d->head_dim;
    MLXC_CHECK_ARG(rope_dim % 2 == 0 && rope_dim <= d->head_dim && rope_dim / 2 <= MLXC_ROPE_MAX_PAIRS,
                   "mlxc_rope: rope_dim %u (even, <= head_dim %u, <= %u)", rope_dim, d->head_dim,
                   2 * MLXC_ROPE_MAX_PAIRS);
    MLXC_CHECK_ARG(d->theta_base > 0.0f && d->theta_base <= 3.4e38f, "mlxc_rope: theta_base %g (> 0)",
                   (double)d->theta_base);
    MLXC_CHECK_ARG(d->freq_scale > 0.0f && d->freq_scale <= 3.4e38f, "mlxc_rope: freq_scale %g (> 0)",
                   (double)d->freq_scale);
    MLXC_CHECK_ARG(d->attn_factor >= 0.0f && d->attn_factor <= 3.4e38f, "mlxc_rope: attn_factor %g (>= 0; 0 = 1)",
                   (double)d->attn_factor);
    uint64_t sect = (uint64_t)d->sections[0] + d->sections[1] + d->sections[2] + d->sections[3];
    MLXC_CHECK_ARG(!multi || sect > 0, "mlxc_rope: multi-section mode with all sections 0");
    mlxc_status s;
    uint32_t n_tokens;
    if ((s = ops_check_float(op, "x", x)) || (s = ops_check_dtype(op, "out", out, x->dtype))) return s;
    const uint64_t row = (uint64_t)d->n_heads * d->head_dim;
    if (row > UINT32_MAX) return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_rope: n_heads * head_dim too large");
    if ((s = ops_rows_of(op, x, (uint32_t)row, &n_tokens)) || (s = ops_check_elems(op, "out", out, (uint64_t)n_tokens * row)))
        return s;
    if ((s = ops_check_dtype(op, "pos", pos, MLXC_I32)) ||
        (s = ops_check_elems(op, "pos", pos, (uint64_t)n_tokens * (multi ? 4 : 1))))
        return s;
    if (freq_factors && ((s = ops_check_dtype(op, "freq_factors", freq_factors, MLXC_F32)) ||
                         (s = ops_check_elems(op, "freq_factors", freq_factors, rope_dim / 2))))
        return s;
    if (ops_overlap(x, out) && (x->offset != out->offset || x->bytes != out->bytes))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_rope: out partly overlaps x (in place needs the same view)");

    mlxc_p_rope p;
    memset(&p, 0, sizeof p);
    p.n_tokens = n_tokens;
    p.n_heads = d->n_heads;
    p.head_dim = d->head_dim;
    p.rope_dim = rope_dim;
    p.mode = (uint32_t)d->mode;
    p.has_freq_factors = freq_factors != NULL;
    p.mscale = d->attn_factor > 0.0f ? d->attn_factor : 1.0f;
    memcpy(p.sections, d->sections, sizeof p.sections);
    for (uint32_t i = 0; i < rope_dim / 2; i++)
        p.inv_freq[i] = (float)((double)d->freq_scale * pow((double)d->theta_base, -2.0 * i / rope_dim));

    char name[32];
    snprintf(name, sizeof name, "rope_%s", ops_float_sfx(x->dtype));
    mlxc_arg args[5] = {mlxc_arg_buffer(x), mlxc_arg_buffer(out), mlxc_arg_buffer(pos),
                        mlxc_arg_buffer(freq_factors ? freq_factors : pos), mlxc_arg_bytes(&p, sizeof p)};
    mlxc_device *dev = mlxc_encoder_device(enc);
    const uint64_t rows = (uint64_t)n_tokens * d->n_heads;
    /* CUDA: grid-stride over groups of 16 bytes' worth of pairs for 4 heads
     * (2 in f32: the kernel's rope_heads), 256 threads a block, or a thread per pair
     * for up to 64K pairs (decode: the kernel then takes its latency path);
     * the CPU, runs of rows. */
    const uint64_t pairs = rows * (rope_dim / 2);
    const uint64_t units = pairs <= 65536 ? pairs : pairs / (16 / mlxc_dtype_size(x->dtype)) / (mlxc_dtype_size(x->dtype) == 4 ? 2 : 4) + 1;
    ops_launch l = {.kernel = name, .kind = MLXC_OP_ROPE, .args = args, .nargs = 5,
                    .groups = ops_is_cpu(dev) ? ops_row_groups(dev, rows, d->head_dim) : ops_groups(dev, units, 256),
                    .block = ops_is_cpu(dev) ? ops_row_block(d->head_dim) / 2 : 256,
                    .reads = {x, pos, freq_factors}, .writes = {out}};
    return ops_dispatch(enc, op, &l);
}
