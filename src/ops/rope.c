/* Front-end of RoPE (include/mlxc/ops_rope.h): validates the layout and
 * computes the per-pair inverse frequencies the kernels share; also the
 * decode step's fused bias, q/k norm, rope and KV-cache write. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/params_rope.h"
#include "mlxc/ops_rope.h"
#include "ops/ops_internal.h"

/* The checks of a rope_desc that need no buffer; fn names the public
 * function in messages.  *rope_dim receives the rotated width. */
static mlxc_status rope_desc_check(const char *fn, const mlxc_rope_desc *d, uint32_t *rope_dim) {
    const bool multi = d->mode == MLXC_ROPE_MROPE || d->mode == MLXC_ROPE_IMROPE;
    MLXC_CHECK_ARG(multi || d->mode == MLXC_ROPE_NORM || d->mode == MLXC_ROPE_NEOX, "%s: unknown mode %d", fn,
                   (int)d->mode);
    MLXC_CHECK_ARG(d->n_heads && d->head_dim, "%s: n_heads %u, head_dim %u must be > 0", fn, d->n_heads, d->head_dim);
    *rope_dim = d->rope_dim ? d->rope_dim : d->head_dim;
    MLXC_CHECK_ARG(*rope_dim % 2 == 0 && *rope_dim <= d->head_dim && *rope_dim / 2 <= MLXC_ROPE_MAX_PAIRS,
                   "%s: rope_dim %u (even, <= head_dim %u, <= %u)", fn, *rope_dim, d->head_dim,
                   2 * MLXC_ROPE_MAX_PAIRS);
    MLXC_CHECK_ARG(d->theta_base > 0.0f && d->theta_base <= 3.4e38f, "%s: theta_base %g (> 0)", fn,
                   (double)d->theta_base);
    MLXC_CHECK_ARG(d->freq_scale > 0.0f && d->freq_scale <= 3.4e38f, "%s: freq_scale %g (> 0)", fn,
                   (double)d->freq_scale);
    MLXC_CHECK_ARG(d->attn_factor >= 0.0f && d->attn_factor <= 3.4e38f, "%s: attn_factor %g (>= 0; 0 = 1)", fn,
                   (double)d->attn_factor);
    uint64_t sect = (uint64_t)d->sections[0] + d->sections[1] + d->sections[2] + d->sections[3];
    MLXC_CHECK_ARG(!multi || sect > 0, "%s: multi-section mode with all sections 0", fn);
    return MLXC_OK;
}

/* The kernels' parameters of a checked desc: every op of the family rotates
 * by these angles (inv_freq rounded once to f32 here, see ops_rope.h). */
static void rope_params(const mlxc_rope_desc *d, uint32_t n_tokens, uint32_t rope_dim, bool has_freq_factors,
                        mlxc_p_rope *p) {
    memset(p, 0, sizeof *p);
    p->n_tokens = n_tokens;
    p->n_heads = d->n_heads;
    p->head_dim = d->head_dim;
    p->rope_dim = rope_dim;
    p->mode = (uint32_t)d->mode;
    p->has_freq_factors = has_freq_factors;
    p->mscale = d->attn_factor > 0.0f ? d->attn_factor : 1.0f;
    memcpy(p->sections, d->sections, sizeof p->sections);
    for (uint32_t i = 0; i < rope_dim / 2; i++)
        p->inv_freq[i] = (float)((double)d->freq_scale * pow((double)d->theta_base, -2.0 * i / rope_dim));
}

mlxc_status mlxc_rope(mlxc_encoder *enc, const mlxc_buffer *x, mlxc_buffer *out, const mlxc_buffer *pos,
                      const mlxc_buffer *freq_factors, const mlxc_rope_desc *d) {
    const char *op = "rope";
    MLXC_CHECK_ARG(enc && x && out && pos && d, "mlxc_rope: NULL argument");
    mlxc_status s;
    uint32_t rope_dim, n_tokens;
    if ((s = rope_desc_check("mlxc_rope", d, &rope_dim))) return s;
    const bool multi = d->mode == MLXC_ROPE_MROPE || d->mode == MLXC_ROPE_IMROPE;
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
    rope_params(d, n_tokens, rope_dim, freq_factors != NULL, &p);

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

mlxc_status ops_rope_qkv_params(const char *op, const mlxc_buffer *qkv, const mlxc_buffer *bias,
                                const mlxc_buffer *q_norm, const mlxc_buffer *k_norm, const mlxc_buffer *q_out,
                                const mlxc_buffer *k_cache, const mlxc_buffer *v_cache, const mlxc_buffer *pos,
                                const mlxc_buffer *freq_factors, const mlxc_rope_qkv_desc *d, mlxc_p_rope_qkv *p) {
    char fn[48];
    snprintf(fn, sizeof fn, "mlxc_%s", op);
    MLXC_CHECK_ARG(qkv && q_out && k_cache && v_cache && pos && d, "%s: NULL argument", fn);
    mlxc_status s;
    uint32_t rope_dim, n_tokens;
    if ((s = rope_desc_check(fn, &d->rope, &rope_dim))) return s;
    const mlxc_rope_desc *rd = &d->rope;
    MLXC_CHECK_ARG(rd->mode == MLXC_ROPE_NORM || rd->mode == MLXC_ROPE_NEOX,
                   "%s: mode %d (NORM or NEOX; one position per token)", fn, (int)rd->mode);
    MLXC_CHECK_ARG(d->n_kv_heads && d->capacity, "%s: n_kv_heads %u, capacity %u must be > 0", fn, d->n_kv_heads,
                   d->capacity);
    MLXC_CHECK_ARG(rd->head_dim <= MLXC_ROPE_QKV_MAX_HEAD_DIM, "%s: head_dim %u (at most %u)", fn, rd->head_dim,
                   MLXC_ROPE_QKV_MAX_HEAD_DIM);
    MLXC_CHECK_ARG(!q_norm == !k_norm, "%s: q_norm and k_norm are given together or not at all", fn);
    MLXC_CHECK_ARG(d->eps >= 0.0f && d->eps <= 3.4e38f, "%s: eps %g (finite, >= 0)", fn, (double)d->eps);
    const uint64_t heads = (uint64_t)rd->n_heads + 2ull * d->n_kv_heads, row = heads * rd->head_dim;
    if (row > UINT32_MAX || (uint64_t)d->n_kv_heads * d->capacity * rd->head_dim > (uint64_t)INT64_MAX / 4)
        return mlxc_set_error(MLXC_ERR_SHAPE, "%s: heads * head_dim too large", fn);
    if ((s = ops_check_float(op, "qkv", qkv)) || (s = ops_rows_of(op, qkv, (uint32_t)row, &n_tokens))) return s;
    if (bias && ((s = ops_check_dtype(op, "bias", bias, qkv->dtype)) || (s = ops_check_elems(op, "bias", bias, row))))
        return s;
    for (int i = 0; i < 2 && q_norm; i++) {
        const mlxc_buffer *w = i ? k_norm : q_norm;
        const char *what = i ? "k_norm" : "q_norm";
        if ((s = ops_check_dtype(op, what, w, qkv->dtype)) || (s = ops_check_elems(op, what, w, rd->head_dim)))
            return s;
    }
    if ((s = ops_check_dtype(op, "q_out", q_out, qkv->dtype)) ||
        (s = ops_check_elems(op, "q_out", q_out, (uint64_t)n_tokens * rd->n_heads * rd->head_dim)))
        return s;
    const uint64_t cache_elems = (uint64_t)d->n_kv_heads * d->capacity * rd->head_dim;
    if ((s = ops_check_float(op, "k_cache", k_cache)) || (s = ops_check_dtype(op, "v_cache", v_cache, k_cache->dtype)) ||
        (s = ops_check_elems(op, "k_cache", k_cache, cache_elems)) ||
        (s = ops_check_elems(op, "v_cache", v_cache, cache_elems)))
        return s;
    if ((s = ops_check_dtype(op, "pos", pos, MLXC_I32)) || (s = ops_check_elems(op, "pos", pos, n_tokens))) return s;
    if (freq_factors && ((s = ops_check_dtype(op, "freq_factors", freq_factors, MLXC_F32)) ||
                         (s = ops_check_elems(op, "freq_factors", freq_factors, rope_dim / 2))))
        return s;
    /* The outputs are written while every input is still being read (other
     * heads, other tokens): no output may share a byte with any other operand. */
    const mlxc_buffer *outs[3] = {q_out, k_cache, v_cache};
    const mlxc_buffer *all[9] = {qkv, bias, q_norm, k_norm, pos, freq_factors, q_out, k_cache, v_cache};
    static const char *const names[9] = {"qkv", "bias", "q_norm", "k_norm", "pos", "freq_factors",
                                         "q_out", "k_cache", "v_cache"};
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < 9; i++)
            if (all[i] && i < 6 + o && ops_overlap(outs[o], all[i]))
                return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s", fn, names[6 + o], names[i]);

    memset(p, 0, sizeof *p);
    rope_params(rd, n_tokens, rope_dim, freq_factors != NULL, &p->rope);
    p->n_kv_heads = d->n_kv_heads;
    p->capacity = d->capacity;
    p->sliding = d->sliding;
    p->has_bias = bias != NULL;
    p->has_norm = q_norm != NULL;
    p->eps = d->eps;
    return MLXC_OK;
}

mlxc_status ops_rope_qkv_dispatch(mlxc_encoder *enc, const mlxc_buffer *qkv, const mlxc_buffer *bias,
                                  const mlxc_buffer *q_norm, const mlxc_buffer *k_norm, mlxc_buffer *q_out,
                                  mlxc_buffer *k_cache, mlxc_buffer *v_cache, const mlxc_buffer *pos,
                                  const mlxc_buffer *freq_factors, const mlxc_p_rope_qkv *p) {
    const uint64_t heads = (uint64_t)p->rope.n_heads + 2ull * p->n_kv_heads;
    const uint32_t rope_dim = p->rope.rope_dim, head_dim = p->rope.head_dim;
    char name[48];
    snprintf(name, sizeof name, "rope_qkv_cache_%s_%s", ops_float_sfx(qkv->dtype), ops_float_sfx(k_cache->dtype));
    mlxc_arg args[10] = {mlxc_arg_buffer(qkv), mlxc_arg_buffer(bias ? bias : qkv),
                         mlxc_arg_buffer(q_norm ? q_norm : qkv), mlxc_arg_buffer(k_norm ? k_norm : qkv),
                         mlxc_arg_buffer(q_out), mlxc_arg_buffer(k_cache), mlxc_arg_buffer(v_cache),
                         mlxc_arg_buffer(pos), mlxc_arg_buffer(freq_factors ? freq_factors : pos),
                         mlxc_arg_bytes(p, sizeof *p)};
    mlxc_device *dev = mlxc_encoder_device(enc);
    const uint64_t rows = (uint64_t)p->rope.n_tokens * heads;
    /* CPU: runs of head rows.  CUDA: a block per (token, head) row (a
     * decode step is 48 to 100 rows: every row on its own SM), a thread
     * per rotated pair, 64 to 256 threads. */
    const uint32_t pairs = (rope_dim / 2 + 31) / 32 * 32;
    ops_launch l = {.kernel = name, .kind = MLXC_OP_ROPE, .args = args, .nargs = 10,
                    .groups = ops_is_cpu(dev) ? ops_row_groups(dev, rows, head_dim) : ops_groups(dev, rows, 1),
                    .block = ops_is_cpu(dev) ? ops_row_block(head_dim) / 2 : pairs < 64 ? 64 : pairs,
                    .reads = {qkv, bias, q_norm, k_norm, pos, freq_factors},
                    .writes = {q_out, k_cache, v_cache}};
    return ops_dispatch(enc, "rope_qkv_cache", &l);
}

mlxc_status mlxc_rope_qkv_cache(mlxc_encoder *enc, const mlxc_buffer *qkv, const mlxc_buffer *bias,
                                const mlxc_buffer *q_norm, const mlxc_buffer *k_norm, mlxc_buffer *q_out,
                                mlxc_buffer *k_cache, mlxc_buffer *v_cache, const mlxc_buffer *pos,
                                const mlxc_buffer *freq_factors, const mlxc_rope_qkv_desc *d) {
    MLXC_CHECK_ARG(enc, "mlxc_rope_qkv_cache: NULL argument");
    mlxc_p_rope_qkv p;
    mlxc_status s = ops_rope_qkv_params("rope_qkv_cache", qkv, bias, q_norm, k_norm, q_out, k_cache, v_cache, pos,
                                        freq_factors, d, &p);
    return s ? s : ops_rope_qkv_dispatch(enc, qkv, bias, q_norm, k_norm, q_out, k_cache, v_cache, pos, freq_factors, &p);
}
