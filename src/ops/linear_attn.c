/* Front-ends of the linear-attention ops (include/mlxc/ops_linear_attn.h):
 * short_conv, gdn_gating, rms_norm_gated, gdn_recurrent and gdn_chunked,
 * each one kernel <op>_<dtype> (src/kernels/params_linear_attn.h). */
#include <math.h>
#include <stdio.h>

#include "kernels/params_linear_attn.h"
#include "mlxc/ops_linear_attn.h"
#include "ops/ops_internal.h"

mlxc_status mlxc_short_conv(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *w, mlxc_buffer *state,
                            mlxc_buffer *out, const mlxc_short_conv_desc *d) {
    const char *op = "short_conv";
    MLXC_CHECK_ARG(enc && x && w && state && out && d, "mlxc_short_conv: NULL argument");
    MLXC_CHECK_ARG(d->width >= 2 && d->width <= 4, "mlxc_short_conv: width %u is not 2..4", d->width);
    MLXC_CHECK_ARG(d->n_seq > 0 && d->seq_len > 0 && d->channels > 0, "mlxc_short_conv: a zero extent (%u, %u, %u)",
                   d->n_seq, d->seq_len, d->channels);
    const uint64_t n = (uint64_t)d->n_seq * d->seq_len * d->channels;
    mlxc_status s;
    if ((s = ops_check_float(op, "x", x)) || (s = ops_check_dtype(op, "w", w, x->dtype)) ||
        (s = ops_check_dtype(op, "state", state, x->dtype)) || (s = ops_check_dtype(op, "out", out, x->dtype)) ||
        (s = ops_check_elems(op, "x", x, n)) || (s = ops_check_elems(op, "out", out, n)) ||
        (s = ops_check_elems(op, "w", w, (uint64_t)d->channels * d->width)) ||
        (s = ops_check_elems(op, "state", state, (uint64_t)d->n_seq * (d->width - 1) * d->channels)))
        return s;
    if (ops_overlap(x, out) && (x->offset != out->offset || x->bytes != out->bytes))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: out partly overlaps x", op);
    if (ops_overlap(out, w) || ops_overlap(out, state) || ops_overlap(x, state) || ops_overlap(w, state))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: the state overlaps x, w or out, or out overlaps w", op);
    mlxc_p_short_conv p = {d->n_seq, d->seq_len, d->channels, d->width, d->silu, 0};
    char name[32];
    snprintf(name, sizeof name, "short_conv_%s", ops_float_sfx(x->dtype));
    mlxc_arg args[5] = {mlxc_arg_buffer(x), mlxc_arg_buffer(w), mlxc_arg_buffer(state), mlxc_arg_buffer(out),
                        mlxc_arg_bytes(&p, sizeof p)};
    mlxc_device *dev = mlxc_encoder_device(enc);
    const uint64_t items = (uint64_t)d->n_seq * d->channels;
    ops_launch l = {.kernel = name, .kind = MLXC_OP_ACTIVATION, .args = args, .nargs = 5,
                    .groups = ops_groups(dev, items, ops_is_cpu(dev) ? 1 + 16384 / d->seq_len : 256),
                    .block = 256, .reads = {x, w, state}, .writes = {out, state}};
    return ops_dispatch(enc, op, &l);
}

mlxc_status mlxc_gdn_gating(mlxc_encoder *enc, const mlxc_buffer *a, const mlxc_buffer *b, const mlxc_buffer *a_log,
                            const mlxc_buffer *dt_bias, mlxc_buffer *g, mlxc_buffer *beta, uint32_t heads) {
    const char *op = "gdn_gating";
    MLXC_CHECK_ARG(enc && a && b && a_log && dt_bias && g && beta, "mlxc_gdn_gating: NULL argument");
    mlxc_status s;
    uint32_t rows;
    if ((s = ops_check_float(op, "a", a)) || (s = ops_check_dtype(op, "b", b, a->dtype)) ||
        (s = ops_check_dtype(op, "a_log", a_log, MLXC_F32)) || (s = ops_check_dtype(op, "dt_bias", dt_bias, MLXC_F32)) ||
        (s = ops_check_dtype(op, "g", g, MLXC_F32)) || (s = ops_check_dtype(op, "beta", beta, MLXC_F32)) ||
        (s = ops_rows_of(op, a, heads, &rows)) || (s = ops_check_elems(op, "b", b, (uint64_t)rows * heads)) ||
        (s = ops_check_elems(op, "g", g, (uint64_t)rows * heads)) ||
        (s = ops_check_elems(op, "beta", beta, (uint64_t)rows * heads)) ||
        (s = ops_check_elems(op, "a_log", a_log, heads)) || (s = ops_check_elems(op, "dt_bias", dt_bias, heads)))
        return s;
    const mlxc_buffer *ins[4] = {a, b, a_log, dt_bias};
    for (int i = 0; i < 4; i++)
        if (ops_overlap(ins[i], g) || ops_overlap(ins[i], beta))
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: g or beta overlaps an input", op);
    if (ops_overlap(g, beta)) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: g overlaps beta", op);
    const uint64_t n = (uint64_t)rows * heads;
    mlxc_p_gdn_gating p = {n, heads, 0};
    char name[32];
    snprintf(name, sizeof name, "gdn_gating_%s", ops_float_sfx(a->dtype));
    mlxc_arg args[7] = {mlxc_arg_buffer(a), mlxc_arg_buffer(b), mlxc_arg_buffer(a_log), mlxc_arg_buffer(dt_bias),
                        mlxc_arg_buffer(g), mlxc_arg_buffer(beta), mlxc_arg_bytes(&p, sizeof p)};
    mlxc_device *dev = mlxc_encoder_device(enc);
    ops_launch l = {.kernel = name, .kind = MLXC_OP_ACTIVATION, .args = args, .nargs = 7,
                    .groups = ops_groups(dev, n, ops_is_cpu(dev) ? 16384 : 256), .block = 256,
                    .reads = {a, b, a_log, dt_bias}, .writes = {g, beta}};
    return ops_dispatch(enc, op, &l);
}

mlxc_status mlxc_rms_norm_gated(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *z, const mlxc_buffer *w,
                                mlxc_buffer *out, uint32_t dim, float eps) {
    const char *op = "rms_norm_gated";
    MLXC_CHECK_ARG(enc && x && z && w && out, "mlxc_rms_norm_gated: NULL argument");
    MLXC_CHECK_ARG(eps >= 0.0f && eps < 1.0f, "mlxc_rms_norm_gated: eps %g is not in [0, 1)", (double)eps);
    mlxc_status s;
    uint32_t rows;
    if ((s = ops_check_float(op, "x", x)) || (s = ops_check_dtype(op, "z", z, x->dtype)) ||
        (s = ops_check_dtype(op, "w", w, x->dtype)) || (s = ops_check_dtype(op, "out", out, x->dtype)) ||
        (s = ops_rows_of(op, x, dim, &rows)) || (s = ops_check_elems(op, "z", z, (uint64_t)rows * dim)) ||
        (s = ops_check_elems(op, "out", out, (uint64_t)rows * dim)) || (s = ops_check_elems(op, "w", w, dim)))
        return s;
    if ((ops_overlap(x, out) && (x->offset != out->offset || x->bytes != out->bytes)) ||
        (ops_overlap(z, out) && (z->offset != out->offset || z->bytes != out->bytes)) || ops_overlap(w, out))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: out partly overlaps x or z, or overlaps w", op);
    mlxc_p_rms_norm_gated p = {rows, dim, eps, 0};
    char name[32];
    snprintf(name, sizeof name, "rms_norm_gated_%s", ops_float_sfx(x->dtype));
    mlxc_arg args[5] = {mlxc_arg_buffer(x), mlxc_arg_buffer(z), mlxc_arg_buffer(w), mlxc_arg_buffer(out),
                        mlxc_arg_bytes(&p, sizeof p)};
    mlxc_device *dev = mlxc_encoder_device(enc);
    ops_launch l = {.kernel = name, .kind = MLXC_OP_NORM, .args = args, .nargs = 5,
                    .groups = ops_row_groups(dev, rows, dim), .block = ops_row_block(dim), .reads = {x, z, w},
                    .writes = {out}};
    return ops_dispatch(enc, op, &l);
}

/* Checks shared by the two forms of the delta rule; fills the params. */
static mlxc_status gdn_check(const char *op, const mlxc_buffer *q, const mlxc_buffer *k, const mlxc_buffer *v,
                             const mlxc_buffer *g, const mlxc_buffer *beta, const mlxc_buffer *state,
                             const mlxc_buffer *out, const mlxc_gdn_desc *d, mlxc_p_gdn *p) {
    MLXC_CHECK_ARG(d->n_seq > 0 && d->seq_len > 0, "mlxc_%s: n_seq %u, seq_len %u", op, d->n_seq, d->seq_len);
    MLXC_CHECK_ARG(d->k_heads > 0 && d->v_heads % d->k_heads == 0 && d->v_heads > 0,
                   "mlxc_%s: v_heads %u is not a positive multiple of k_heads %u", op, d->v_heads, d->k_heads);
    MLXC_CHECK_ARG(d->k_dim > 0 && d->k_dim <= MLXC_GDN_MAX_DIM && d->v_dim > 0 && d->v_dim <= MLXC_GDN_MAX_DIM,
                   "mlxc_%s: head dims %u, %u (1..%u)", op, d->k_dim, d->v_dim, MLXC_GDN_MAX_DIM);
    MLXC_CHECK_ARG(isfinite(d->scale) && d->scale >= 0.0f, "mlxc_%s: scale %g", op, (double)d->scale);
    const uint64_t rows = (uint64_t)d->n_seq * d->seq_len;
    mlxc_status s;
    if ((s = ops_check_float(op, "q", q)) || (s = ops_check_dtype(op, "k", k, q->dtype)) ||
        (s = ops_check_dtype(op, "v", v, q->dtype)) || (s = ops_check_dtype(op, "out", out, q->dtype)) ||
        (s = ops_check_dtype(op, "g", g, MLXC_F32)) || (s = ops_check_dtype(op, "beta", beta, MLXC_F32)) ||
        (s = ops_check_dtype(op, "state", state, MLXC_F32)) ||
        (s = ops_check_elems(op, "q", q, rows * d->k_heads * d->k_dim)) ||
        (s = ops_check_elems(op, "k", k, rows * d->k_heads * d->k_dim)) ||
        (s = ops_check_elems(op, "v", v, rows * d->v_heads * d->v_dim)) ||
        (s = ops_check_elems(op, "out", out, rows * d->v_heads * d->v_dim)) ||
        (s = ops_check_elems(op, "g", g, rows * d->v_heads)) ||
        (s = ops_check_elems(op, "beta", beta, rows * d->v_heads)) ||
        (s = ops_check_elems(op, "state", state, (uint64_t)d->n_seq * d->v_heads * d->k_dim * d->v_dim)))
        return s;
    const mlxc_buffer *ins[5] = {q, k, v, g, beta};
    for (int i = 0; i < 5; i++)
        if (ops_overlap(ins[i], out) || ops_overlap(ins[i], state))
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: out or the state overlaps an input", op);
    if (ops_overlap(out, state)) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: out overlaps the state", op);
    *p = (mlxc_p_gdn){d->n_seq, d->seq_len, d->k_heads, d->v_heads, d->k_dim, d->v_dim, d->l2norm,
                      d->scale > 0.0f ? d->scale : 1.0f / sqrtf((float)d->k_dim)};
    return MLXC_OK;
}

static mlxc_status gdn_run(mlxc_encoder *enc, const char *op, bool chunked, const mlxc_buffer *q, const mlxc_buffer *k,
                           const mlxc_buffer *v, const mlxc_buffer *g, const mlxc_buffer *beta, mlxc_buffer *state,
                           mlxc_buffer *out, const mlxc_gdn_desc *d) {
    MLXC_CHECK_ARG(enc && q && k && v && g && beta && state && out && d, "mlxc_%s: NULL argument", op);
    mlxc_p_gdn p;
    mlxc_status s = gdn_check(op, q, k, v, g, beta, state, out, d, &p);
    if (s) return s;
    char name[32];
    snprintf(name, sizeof name, "%s_%s", chunked ? "gdn_chunked" : "gdn_recurrent", ops_float_sfx(q->dtype));
    mlxc_arg args[8] = {mlxc_arg_buffer(q),     mlxc_arg_buffer(k),     mlxc_arg_buffer(v),
                        mlxc_arg_buffer(g),     mlxc_arg_buffer(beta),  mlxc_arg_buffer(state),
                        mlxc_arg_buffer(out),   mlxc_arg_bytes(&p, sizeof p)};
    mlxc_device *dev = mlxc_encoder_device(enc);
    const uint64_t heads = (uint64_t)d->n_seq * d->v_heads;
    ops_launch l = {.kernel = name, .kind = MLXC_OP_SDPA, .args = args, .nargs = 8, .reads = {q, k, v, g, beta, state},
                    .writes = {out, state}};
    if (ops_is_cpu(dev)) {
        l.groups = ops_groups(dev, heads, 1);
        l.block = 1;
    } else if (chunked) {
        l.groups = ops_groups(dev, heads * ((d->v_dim + MLXC_GDN_COLS - 1) / MLXC_GDN_COLS), 1);
        l.block = MLXC_GDN_COLS;
        l.shared = MLXC_GDN_SMEM(d->k_dim);
    } else {
        l.groups = ops_groups(dev, heads * ((d->v_dim + MLXC_GDN_DEC_COLS - 1) / MLXC_GDN_DEC_COLS), 1);
        l.block = 32 * ((d->k_dim + MLXC_GDN_ROWS - 1) / MLXC_GDN_ROWS);
    }
    return ops_dispatch(enc, op, &l);
}

mlxc_status mlxc_gdn_recurrent(mlxc_encoder *enc, const mlxc_buffer *q, const mlxc_buffer *k, const mlxc_buffer *v,
                               const mlxc_buffer *g, const mlxc_buffer *beta, mlxc_buffer *state, mlxc_buffer *out,
                               const mlxc_gdn_desc *desc) {
    return gdn_run(enc, "gdn_recurrent", false, q, k, v, g, beta, state, out, desc);
}

mlxc_status mlxc_gdn_chunked(mlxc_encoder *enc, const mlxc_buffer *q, const mlxc_buffer *k, const mlxc_buffer *v,
                             const mlxc_buffer *g, const mlxc_buffer *beta, mlxc_buffer *state, mlxc_buffer *out,
                             const mlxc_gdn_desc *desc) {
    return gdn_run(enc, "gdn_chunked", true, q, k, v, g, beta, state, out, desc);
}
