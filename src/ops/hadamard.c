/* Front-ends of the hadamard family (include/mlxc/ops_hadamard.h): the
 * transform, the quantized KV cache's copy and dequantize, and its decode
 * attention (the splits, then their merge: two tracked dispatches with a
 * barrier between them). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/params_hadamard.h"
#include "mlxc/ops_hadamard.h"
#include "ops/ops_internal.h"

float mlxc_hadamard_sign(uint32_t seed, uint32_t i) { return mlxc_had_sign(seed, i); }

static bool is_pow2(uint32_t n) { return n && !(n & (n - 1)); }

static uint32_t had_dt(mlxc_dtype dt) {
    return dt == MLXC_F32 ? MLXC_TQ_DT_F32 : dt == MLXC_F16 ? MLXC_TQ_DT_F16 : MLXC_TQ_DT_BF16;
}

mlxc_status mlxc_hadamard(mlxc_encoder *enc, mlxc_buffer *x, const mlxc_hadamard_desc *d) {
    const char *op = "hadamard";
    MLXC_CHECK_ARG(enc && x && d, "mlxc_hadamard: NULL argument");
    MLXC_CHECK_ARG(is_pow2(d->dim) && d->dim >= MLXC_HAD_MIN_DIM && d->dim <= MLXC_HAD_MAX_DIM,
                   "mlxc_hadamard: dim %u (a power of two, %u..%u)", d->dim, MLXC_HAD_MIN_DIM, MLXC_HAD_MAX_DIM);
    mlxc_status s;
    uint32_t rows;
    if ((s = ops_check_float(op, "x", x)) || (s = ops_rows_of(op, x, d->dim, &rows))) return s;
    mlxc_p_hadamard p = {rows, d->dim, (d->signs ? MLXC_HAD_SIGNS : 0u) | (d->inverse ? MLXC_HAD_INVERSE : 0u),
                         d->seed};
    char name[32];
    snprintf(name, sizeof name, "hadamard_%s", ops_float_sfx(x->dtype));
    mlxc_arg args[2] = {mlxc_arg_buffer(x), mlxc_arg_bytes(&p, sizeof p)};
    mlxc_device *dev = mlxc_encoder_device(enc);
    /* CUDA: a block per row, a butterfly pair or more per thread and round */
    ops_launch l = {.kernel = name, .kind = MLXC_OP_OTHER, .args = args, .nargs = 2,
                    .groups = ops_row_groups(dev, rows, d->dim), .block = d->dim / 2 < 1024 ? d->dim / 2 : 1024,
                    .reads = {x}, .writes = {x}};
    return ops_dispatch(enc, op, &l);
}

/* The checks of a cache (codes, norms) against its desc. */
static mlxc_status tq_check_cache(const char *op, const mlxc_buffer *codes, const mlxc_buffer *norms,
                                  const mlxc_tq_cache_desc *d) {
    MLXC_CHECK_ARG(d->kv_heads && d->capacity, "mlxc_%s: kv_heads %u, capacity %u must be > 0", op, d->kv_heads,
                   d->capacity);
    MLXC_CHECK_ARG(d->head_dim == 64 || d->head_dim == 128 || d->head_dim == 256, "mlxc_%s: head_dim %u (64, 128 or 256)",
                   op, d->head_dim);
    MLXC_CHECK_ARG(d->bits == 2 || d->bits == 3 || d->bits == 4 || d->bits == 8, "mlxc_%s: bits %u (2, 3, 4 or 8)", op,
                   d->bits);
    mlxc_status s;
    if ((s = ops_check_dtype(op, "codes", codes, MLXC_U8))) return s;
    if (norms->dtype != MLXC_F16 && norms->dtype != MLXC_F32)
        return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_%s: norms has dtype %s (f16 or f32)", op,
                              mlxc_dtype_name(norms->dtype));
    const uint64_t rows = (uint64_t)d->kv_heads * d->capacity;
    if (rows > UINT32_MAX) return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_%s: kv_heads * capacity too large", op);
    if ((s = ops_check_elems(op, "codes", codes, rows * MLXC_TQ_ROW_BYTES(d->head_dim, d->bits))) ||
        (s = ops_check_elems(op, "norms", norms, rows)))
        return s;
    if (mlxc_buffer_offset(codes) % 8u) /* the CUDA kernels read rows as 8-byte words */
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: codes start at byte %zu of their allocation "
                              "(a multiple of 8 is needed)", op, mlxc_buffer_offset(codes));
    if (ops_overlap(codes, norms)) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: codes and norms overlap", op);
    return MLXC_OK;
}

mlxc_status mlxc_tq_kv_cache_copy(mlxc_encoder *enc, const mlxc_buffer *src, mlxc_buffer *codes, mlxc_buffer *norms,
                                  const mlxc_tq_cache_desc *d, uint32_t pos, const mlxc_buffer *pos_buf) {
    const char *op = "tq_kv_cache_copy";
    MLXC_CHECK_ARG(enc && src && codes && norms && d, "mlxc_tq_kv_cache_copy: NULL argument");
    mlxc_status s;
    if ((s = tq_check_cache(op, codes, norms, d)) || (s = ops_check_float(op, "src", src))) return s;
    if (pos_buf && (s = ops_check_dtype(op, "pos_buf", pos_buf, MLXC_I32))) return s;
    if (pos_buf && mlxc_buffer_elements(pos_buf) < 1)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_tq_kv_cache_copy: pos_buf is empty");
    uint32_t n;
    if ((s = ops_rows_of(op, src, d->kv_heads * d->head_dim, &n))) return s;
    if (!d->sliding && !pos_buf && (uint64_t)pos + n > d->capacity)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE,
                              "mlxc_tq_kv_cache_copy: positions %u..%llu overflow the linear cache of %u", pos,
                              (unsigned long long)pos + n - 1, d->capacity);
    if (ops_overlap(src, codes) || ops_overlap(src, norms) ||
        (pos_buf && (ops_overlap(pos_buf, codes) || ops_overlap(pos_buf, norms))))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_tq_kv_cache_copy: src or pos_buf overlaps the cache");
    char name[32];
    snprintf(name, sizeof name, "tq_kv_copy_%s", ops_float_sfx(src->dtype));
    mlxc_p_tq_copy p = {n, d->kv_heads, d->head_dim, d->capacity, pos, d->sliding, pos_buf != NULL,
                        d->bits, d->seed, had_dt(norms->dtype), {0, 0}};
    mlxc_arg args[5] = {mlxc_arg_buffer(src), mlxc_arg_buffer(codes), mlxc_arg_buffer(norms),
                        mlxc_arg_buffer(pos_buf ? pos_buf : src), mlxc_arg_bytes(&p, sizeof p)};
    mlxc_device *dev = mlxc_encoder_device(enc);
    ops_launch l = {.kernel = name, .kind = MLXC_OP_KV_CACHE, .args = args, .nargs = 5,
                    .groups = ops_row_groups(dev, (uint64_t)n * d->kv_heads, d->head_dim), .block = 128,
                    .reads = {src, pos_buf}, .writes = {codes, norms}};
    return ops_dispatch(enc, op, &l);
}

mlxc_status mlxc_tq_kv_dequantize(mlxc_encoder *enc, const mlxc_buffer *codes, const mlxc_buffer *norms,
                                  mlxc_buffer *out, const mlxc_tq_cache_desc *d) {
    const char *op = "tq_kv_dequantize";
    MLXC_CHECK_ARG(enc && codes && norms && out && d, "mlxc_tq_kv_dequantize: NULL argument");
    mlxc_status s;
    if ((s = tq_check_cache(op, codes, norms, d)) || (s = ops_check_float(op, "out", out))) return s;
    const uint32_t rows = d->kv_heads * d->capacity;
    if ((s = ops_check_elems(op, "out", out, (uint64_t)rows * d->head_dim))) return s;
    if (ops_overlap(out, codes) || ops_overlap(out, norms))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_tq_kv_dequantize: out overlaps the cache");
    char name[32];
    snprintf(name, sizeof name, "tq_dequant_%s", ops_float_sfx(out->dtype));
    mlxc_p_tq_dequant p = {rows, d->head_dim, d->bits, d->seed, had_dt(norms->dtype), {0, 0, 0}};
    mlxc_arg args[4] = {mlxc_arg_buffer(codes), mlxc_arg_buffer(norms), mlxc_arg_buffer(out),
                        mlxc_arg_bytes(&p, sizeof p)};
    mlxc_device *dev = mlxc_encoder_device(enc);
    ops_launch l = {.kernel = name, .kind = MLXC_OP_OTHER, .args = args, .nargs = 4,
                    .groups = ops_row_groups(dev, rows, d->head_dim), .block = 128, .reads = {codes, norms},
                    .writes = {out}};
    return ops_dispatch(enc, op, &l);
}

/* ---- decode attention ------------------------------------------------------------- */

static mlxc_status tq_check_desc(const char *op, const mlxc_tq_attention_desc *d) {
    MLXC_CHECK_ARG(d->n_heads > 0 && d->n_kv_heads > 0, "mlxc_%s: n_heads %u, n_kv_heads %u must be > 0", op, d->n_heads,
                   d->n_kv_heads);
    MLXC_CHECK_ARG(d->n_heads % d->n_kv_heads == 0 && d->n_heads / d->n_kv_heads <= MLXC_TQ_MAX_GROUP,
                   "mlxc_%s: n_heads %u / n_kv_heads %u must be a whole ratio of 1..8", op, d->n_heads, d->n_kv_heads);
    MLXC_CHECK_ARG(d->head_dim == 64 || d->head_dim == 128 || d->head_dim == 256, "mlxc_%s: head_dim %u (64, 128 or 256)",
                   op, d->head_dim);
    MLXC_CHECK_ARG(d->bits == 2 || d->bits == 3 || d->bits == 4 || d->bits == 8, "mlxc_%s: bits %u (2, 3, 4 or 8)", op,
                   d->bits);
    MLXC_CHECK_ARG(d->kv_capacity > 0, "mlxc_%s: kv_capacity is 0", op);
    MLXC_CHECK_ARG((uint64_t)d->n_kv_heads * d->kv_capacity <= UINT32_MAX, "mlxc_%s: n_kv_heads * kv_capacity too large",
                   op);
    MLXC_CHECK_ARG(isfinite(d->scale), "mlxc_%s: scale %g is not finite", op, (double)d->scale);
    MLXC_CHECK_ARG(isfinite(d->softcap) && d->softcap >= 0.0f, "mlxc_%s: softcap %g (finite, >= 0; 0 = off)", op,
                   (double)d->softcap);
    return MLXC_OK;
}

/* Splits of the context.  CUDA: two blocks per SM in one wave, at least
 * 8: a decode block unpacks codes with few warps (128 threads), so an SM
 * needs more than one to hide shared-memory latency; two fit its
 * registers (about 212 a thread: the kernel is built spill-free, which
 * takes that many) and its shared memory (28 KB at head dim 128, 4 bits;
 * 80 KB at most).
 * CPU: about two items per worker.  Never more than one split per tile of
 * the longest length.  MLXC_TQ_DECODE_SPLITS=n forces n (capped likewise;
 * for tuning). */
static uint32_t tq_splits(const mlxc_device *dev, const mlxc_tq_attention_desc *d) {
    uint64_t maxlen = d->kv_capacity;
    if (d->window && d->window < maxlen) maxlen = d->window;
    const uint64_t cap = (maxlen + MLXC_TQ_TILE - 1) / MLXC_TQ_TILE;
    const uint64_t cu = dev->caps.compute_units > 0 ? (uint64_t)dev->caps.compute_units : 1;
    uint64_t s;
    if (ops_is_cpu(dev)) s = (2 * cu + d->n_kv_heads - 1) / d->n_kv_heads;
    else {
        s = 2 * cu / d->n_kv_heads;
        if (s < 8) s = 8;
    }
    const long env = mlxc_env_int("MLXC_TQ_DECODE_SPLITS", 0);
    if (env > 0 && env <= INT32_MAX) s = (uint64_t)env;
    if (s > cap) s = cap;
    if (s > 1024) s = 1024;
    return s ? (uint32_t)s : 1;
}

static size_t tq_scratch_bytes(const mlxc_tq_attention_desc *d, uint32_t S) {
    return (size_t)d->n_heads * S * (d->head_dim + 2u) * sizeof(float);
}

mlxc_status mlxc_tq_attention_decode_scratch_bytes(const mlxc_device *dev, const mlxc_tq_attention_desc *d,
                                                   size_t *bytes) {
    MLXC_CHECK_ARG(dev && d && bytes, "mlxc_tq_attention_decode_scratch_bytes: NULL argument");
    mlxc_status s = tq_check_desc("tq_attention_decode_scratch_bytes", d);
    if (s) return s;
    *bytes = tq_scratch_bytes(d, tq_splits(dev, d));
    return MLXC_OK;
}

/* ops_dispatch of one kernel (tagged SDPA) that reads reads[0 .. nreads)
 * (NULL entries skipped) and writes w. */
static mlxc_status tq_dispatch(mlxc_encoder *enc, const char *op, const char *kernel, const mlxc_arg *args,
                               uint32_t nargs, uint32_t groups, uint32_t block, uint32_t shared,
                               const mlxc_buffer *const *reads, uint32_t nreads, const mlxc_buffer *w) {
    ops_launch l = {.kernel = kernel, .kind = MLXC_OP_SDPA, .args = args, .nargs = nargs, .groups = groups,
                    .block = block, .shared = shared, .writes = {w}};
    for (uint32_t i = 0; i < nreads; i++) l.reads[i] = reads[i];
    return ops_dispatch(enc, op, &l);
}

mlxc_status mlxc_tq_attention_decode(mlxc_encoder *enc, const mlxc_buffer *q, const mlxc_buffer *k_codes,
                                     const mlxc_buffer *k_norms, const mlxc_buffer *v_codes, const mlxc_buffer *v_norms,
                                     mlxc_buffer *out, mlxc_buffer *scratch, const mlxc_buffer *len_buf,
                                     const mlxc_tq_attention_desc *d) {
    const char *op = "tq_attention_decode";
    MLXC_CHECK_ARG(enc && q && k_codes && k_norms && v_codes && v_norms && out && scratch && d,
                   "mlxc_tq_attention_decode: NULL argument");
    mlxc_status s = tq_check_desc(op, d);
    if (s) return s;
    const mlxc_tq_cache_desc cd = {d->n_kv_heads, d->head_dim, d->kv_capacity, d->bits, d->seed, d->ring};
    if ((s = tq_check_cache(op, k_codes, k_norms, &cd)) || (s = tq_check_cache(op, v_codes, v_norms, &cd))) return s;
    if ((s = ops_check_dtype(op, "v_norms", v_norms, k_norms->dtype))) return s;
    const uint64_t qn = (uint64_t)d->n_heads * d->head_dim;
    if ((s = ops_check_float(op, "q", q)) || (s = ops_check_float(op, "out", out)) ||
        (s = ops_check_elems(op, "q", q, qn)) || (s = ops_check_elems(op, "out", out, qn)))
        return s;
    MLXC_CHECK_ARG(d->ring || len_buf || d->kv_len <= d->kv_capacity,
                   "mlxc_tq_attention_decode: kv_len %u exceeds kv_capacity %u of a linear cache", d->kv_len,
                   d->kv_capacity);
    uint32_t len_mode = MLXC_TQ_LEN_NONE;
    if (len_buf) {
        if (len_buf->dtype != MLXC_U32 && len_buf->dtype != MLXC_I32)
            return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_tq_attention_decode: len_buf has dtype %s (u32 or i32)",
                                  mlxc_dtype_name(len_buf->dtype));
        if (mlxc_buffer_elements(len_buf) < 1)
            return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_tq_attention_decode: len_buf is empty");
        len_mode = len_buf->dtype == MLXC_U32 ? MLXC_TQ_LEN_U32 : MLXC_TQ_LEN_I32;
    }
    if ((s = ops_check_dtype(op, "scratch", scratch, MLXC_F32))) return s;
    mlxc_device *dev = mlxc_encoder_device(enc);
    const uint32_t S = tq_splits(dev, d);
    const size_t need = tq_scratch_bytes(d, S);
    if (scratch->bytes < need)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_tq_attention_decode: scratch has %zu bytes, needs %zu "
                              "(mlxc_tq_attention_decode_scratch_bytes)", scratch->bytes, need);
    const mlxc_buffer *ops_[6] = {q, k_codes, k_norms, v_codes, v_norms, len_buf};
    for (int i = 0; i < 6; i++)
        if (ops_[i] && (ops_overlap(out, ops_[i]) || ops_overlap(scratch, ops_[i])))
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_tq_attention_decode: out or scratch overlaps an operand");
    if (ops_overlap(out, scratch))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_tq_attention_decode: out overlaps scratch");

    mlxc_p_tq_decode p = {d->n_heads, d->n_kv_heads, d->head_dim, d->kv_capacity, d->kv_len, len_mode, d->window,
                          d->ring, S, d->bits, d->seed, had_dt(q->dtype), had_dt(out->dtype), had_dt(k_norms->dtype),
                          d->scale, d->softcap};
    /* Track exactly the partials written and read: the prefix of scratch. */
    mlxc_buffer *sv = NULL;
    int64_t shape[1] = {(int64_t)(need / sizeof(float))};
    if ((s = mlxc_buffer_view(scratch, 0, MLXC_F32, 1, shape, &sv))) return s;
    char name[40];
    snprintf(name, sizeof name, "tq_decode_hd%u_b%u", d->head_dim, d->bits);
    mlxc_arg a[8] = {mlxc_arg_buffer(q), mlxc_arg_buffer(k_codes), mlxc_arg_buffer(k_norms),
                     mlxc_arg_buffer(v_codes), mlxc_arg_buffer(v_norms), mlxc_arg_buffer(len_buf ? len_buf : q),
                     mlxc_arg_buffer(sv), mlxc_arg_bytes(&p, sizeof p)};
    const bool cpu = ops_is_cpu(dev);
    const uint32_t items = d->n_kv_heads * S;
    s = tq_dispatch(enc, op, name, a, 8, cpu ? ops_groups(dev, items, 1) : items, MLXC_TQ_CUDA_THREADS,
                    cpu ? 0u : mlxc_tq_decode_smem(d->head_dim, d->bits), ops_, 6, sv);
    /* The merge reads every split's partial: with auto-barrier on the
     * tracker orders the two dispatches, otherwise a barrier does. */
    if (!s && !mlxc_encoder_auto_barrier(enc)) s = mlxc_encoder_barrier(enc);
    if (!s) {
        mlxc_arg c[3] = {mlxc_arg_buffer(sv), mlxc_arg_buffer(out), mlxc_arg_bytes(&p, sizeof p)};
        const mlxc_buffer *r[1] = {sv};
        s = tq_dispatch(enc, op, "tq_decode_combine", c, 3, cpu ? ops_groups(dev, d->n_heads, 1) : d->n_heads,
                        MLXC_TQ_CUDA_THREADS, 0, r, 1, out);
    }
    mlxc_buffer_release(sv);
    return s;
}
