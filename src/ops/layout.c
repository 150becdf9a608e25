/* Front-ends of the layout ops: copy, strided copy, transpose_2d, permute_021,
 * embedding gather, kv_cache_copy (include/mlxc/ops_layout.h). */
#include <stdio.h>

#include "kernels/params_layout.h"
#include "mlxc/ops_layout.h"
#include "ops/ops_internal.h"

/* "x8" .. "x64" for elements of 1, 2, 4, 8 bytes. */
static const char *width_sfx(mlxc_dtype dt) {
    switch (mlxc_dtype_size(dt)) {
    case 1: return "x8";
    case 2: return "x16";
    case 4: return "x32";
    case 8: return "x64";
    default: return NULL;
    }
}

/* One past the largest element index the copy touches, or an error. */
static mlxc_status strided_extent(const char *what, int ndim, const uint64_t *shape, const uint64_t *stride,
                                  uint64_t limit) {
    uint64_t last = 0;
    for (int i = 0; i < ndim; i++) {
        uint64_t t;
        if (__builtin_mul_overflow(shape[i] - 1, stride[i], &t) || __builtin_add_overflow(last, t, &last))
            return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "mlxc_copy_strided: %s indices overflow", what);
    }
    if (last >= limit)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE,
                              "mlxc_copy_strided: %s index %llu is outside its %llu elements", what,
                              (unsigned long long)last, (unsigned long long)limit);
    return MLXC_OK;
}

/* The strided-copy dispatch, shared by copy_strided and permute_021 (op
 * names the public function in messages). */
static mlxc_status strided(mlxc_encoder *enc, const char *op, const mlxc_buffer *src, mlxc_buffer *dst,
                           const mlxc_p_copy_strided *p) {
    char name[32];
    snprintf(name, sizeof name, "copy_strided_%s", width_sfx(src->dtype));
    const uint64_t rows = p->shape[0] * p->shape[1];
    mlxc_device *dev = mlxc_encoder_device(enc);
    mlxc_arg args[3] = {mlxc_arg_buffer(src), mlxc_arg_buffer(dst), mlxc_arg_bytes(p, sizeof *p)};
    ops_launch l = {.kernel = name, .kind = MLXC_OP_COPY, .args = args, .nargs = 3,
                    .groups = ops_row_groups(dev, rows, p->shape[2]), .block = ops_row_block(p->shape[2]),
                    .reads = {src}, .writes = {dst}};
    if (!ops_is_cpu(dev)) { /* CUDA: grid-stride over 16-byte pieces (or elements) */
        l.groups = ops_groups(dev, rows * p->shape[2] / (16 / mlxc_dtype_size(src->dtype)) + 1, 256);
        l.block = 256;
    }
    return ops_dispatch(enc, op, &l);
}

static mlxc_status same_width(const char *op, const mlxc_buffer *src, const mlxc_buffer *dst) {
    if (src->dtype != dst->dtype)
        return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_%s: src is %s, dst %s (a copy keeps the dtype)", op,
                              mlxc_dtype_name(src->dtype), mlxc_dtype_name(dst->dtype));
    if (!width_sfx(src->dtype))
        return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_%s: dtype %s", op, mlxc_dtype_name(src->dtype));
    return MLXC_OK;
}

mlxc_status mlxc_copy_strided(mlxc_encoder *enc, const mlxc_buffer *src, mlxc_buffer *dst, const mlxc_strided_copy *c) {
    MLXC_CHECK_ARG(enc && src && dst && c, "mlxc_copy_strided: NULL argument");
    MLXC_CHECK_ARG(c->ndim >= 1 && c->ndim <= 3, "mlxc_copy_strided: ndim %d (1 to 3)", c->ndim);
    mlxc_status s;
    if ((s = same_width("copy_strided", src, dst))) return s;
    /* Right-align into three dimensions. */
    mlxc_p_copy_strided p = {{1, 1, 1}, {0, 0, 0}, {0, 0, 0}};
    for (int i = 0; i < c->ndim; i++) {
        int j = 3 - c->ndim + i;
        if (c->shape[i] == 0) return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_copy_strided: shape[%d] is 0", i);
        if (c->shape[i] > 1 && c->dst_stride[i] == 0)
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_copy_strided: dst_stride[%d] is 0", i);
        p.shape[j] = c->shape[i];
        p.src_stride[j] = c->src_stride[i];
        p.dst_stride[j] = c->dst_stride[i];
    }
    uint64_t rows, total;
    if (__builtin_mul_overflow(p.shape[0], p.shape[1], &rows) || __builtin_mul_overflow(rows, p.shape[2], &total))
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_copy_strided: shape overflows");
    if ((s = strided_extent("src", 3, p.shape, p.src_stride, (uint64_t)mlxc_buffer_elements(src))) ||
        (s = strided_extent("dst", 3, p.shape, p.dst_stride, (uint64_t)mlxc_buffer_elements(dst))))
        return s;
    if (ops_overlap(src, dst))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_copy_strided: src and dst overlap");
    return strided(enc, "copy_strided", src, dst, &p);
}

/* Checks shared by permute_021 and transpose_2d: dense (d0, d1, d2) src and
 * dst of one element width, not overlapping. */
static mlxc_status dense_3d_check(const mlxc_encoder *enc, const char *op, const mlxc_buffer *src,
                                  const mlxc_buffer *dst, uint32_t d0, uint32_t d1, uint32_t d2) {
    MLXC_CHECK_ARG(enc && src && dst, "mlxc_%s: NULL argument", op);
    MLXC_CHECK_ARG(d0 && d1 && d2, "mlxc_%s: a zero dimension (%u, %u, %u)", op, d0, d1, d2);
    mlxc_status s;
    const uint64_t n = (uint64_t)d0 * d1 * d2;
    if ((s = same_width(op, src, dst)) || (s = ops_check_elems(op, "src", src, n)) ||
        (s = ops_check_elems(op, "dst", dst, n)))
        return s;
    if (ops_overlap(src, dst)) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: src and dst overlap", op);
    return MLXC_OK;
}

mlxc_status mlxc_permute_021(mlxc_encoder *enc, const mlxc_buffer *src, mlxc_buffer *dst, uint32_t a, uint32_t b,
                             uint32_t c) {
    mlxc_status s = dense_3d_check(enc, "permute_021", src, dst, a, b, c);
    if (s) return s;
    /* Iterate over dst (b, a, c): dst is written contiguously. */
    mlxc_p_copy_strided p = {{b, a, c}, {c, (uint64_t)b * c, 1}, {(uint64_t)a * c, c, 1}};
    return strided(enc, "permute_021", src, dst, &p);
}

mlxc_status mlxc_transpose_2d(mlxc_encoder *enc, const mlxc_buffer *src, mlxc_buffer *dst, uint32_t batch,
                              uint32_t rows, uint32_t cols) {
    mlxc_status s = dense_3d_check(enc, "transpose_2d", src, dst, batch, rows, cols);
    if (s) return s;
    char name[32];
    snprintf(name, sizeof name, "transpose_%s", width_sfx(src->dtype));
    mlxc_p_transpose p = {batch, rows, cols};
    mlxc_device *dev = mlxc_encoder_device(enc);
    const uint64_t tiles = (uint64_t)batch * ((rows + 31) / 32) * ((cols + 31) / 32);
    /* CUDA: the kernel's 64 x 64 tiles at 256 threads; 2-byte elements
     * with rows and columns in eights, its 128 x 64 tiles */
    uint64_t tiles64 = (uint64_t)batch * ((rows + 63) / 64) * ((cols + 63) / 64);
    if (mlxc_dtype_size(src->dtype) == 2 && rows % 8 == 0 && cols % 8 == 0)
        tiles64 = (uint64_t)batch * ((rows + 127) / 128) * ((cols + 63) / 64);
    mlxc_arg args[3] = {mlxc_arg_buffer(src), mlxc_arg_buffer(dst), mlxc_arg_bytes(&p, sizeof p)};
    ops_launch l = {.kernel = name, .kind = MLXC_OP_COPY, .args = args, .nargs = 3,
                    .groups = ops_is_cpu(dev) ? ops_groups(dev, tiles, 16) : ops_groups(dev, tiles64, 1),
                    .block = 256, .reads = {src}, .writes = {dst}};
    return ops_dispatch(enc, "transpose_2d", &l);
}

mlxc_status mlxc_embedding_gather(mlxc_encoder *enc, const mlxc_buffer *table, const mlxc_buffer *ids,
                                  mlxc_buffer *out, uint32_t dim, float scale) {
    const char *op = "embedding_gather";
    MLXC_CHECK_ARG(enc && table && ids && out, "mlxc_embedding_gather: NULL argument");
    MLXC_CHECK_ARG(scale == scale, "mlxc_embedding_gather: scale is NaN");
    mlxc_status s;
    uint32_t vocab, n;
    if ((s = ops_check_float(op, "table", table)) || (s = ops_check_dtype(op, "ids", ids, MLXC_U32))) return s;
    if (out->dtype != MLXC_F32 && out->dtype != table->dtype)
        return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_embedding_gather: out is %s (f32 or the table's %s)",
                              mlxc_dtype_name(out->dtype), mlxc_dtype_name(table->dtype));
    if ((s = ops_rows_of(op, table, dim, &vocab))) return s;
    int64_t nid = mlxc_buffer_elements(ids);
    if (nid <= 0 || nid > UINT32_MAX) return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_embedding_gather: %lld ids", (long long)nid);
    n = (uint32_t)nid;
    if ((s = ops_check_elems(op, "out", out, (uint64_t)n * dim))) return s;
    char name[48];
    snprintf(name, sizeof name, "embedding_gather_%s_%s", ops_float_sfx(table->dtype), ops_float_sfx(out->dtype));
    mlxc_p_gather p = {n, dim, vocab, scale};
    mlxc_arg args[4] = {mlxc_arg_buffer(table), mlxc_arg_buffer(ids), mlxc_arg_buffer(out), mlxc_arg_bytes(&p, sizeof p)};
    mlxc_device *dev = mlxc_encoder_device(enc);
    ops_launch l = {.kernel = name, .kind = MLXC_OP_GATHER, .args = args, .nargs = 4,
                    .groups = ops_row_groups(dev, n, dim), .block = ops_row_block(dim),
                    .reads = {table, ids}, .writes = {out}};
    if (!ops_is_cpu(dev)) { /* CUDA: grid-stride over 16-byte pieces of rows */
        l.groups = ops_groups(dev, (uint64_t)n * dim / 4 + 1, 256);
        l.block = 256;
    }
    return ops_dispatch(enc, op, &l);
}

mlxc_status mlxc_kv_cache_copy(mlxc_encoder *enc, const mlxc_buffer *src, mlxc_buffer *cache,
                               const mlxc_kv_cache_desc *desc, uint32_t pos, const mlxc_buffer *pos_buf) {
    const char *op = "kv_cache_copy";
    MLXC_CHECK_ARG(enc && src && cache && desc, "mlxc_kv_cache_copy: NULL argument");
    MLXC_CHECK_ARG(desc->kv_heads && desc->head_dim && desc->capacity,
                   "mlxc_kv_cache_copy: kv_heads %u, head_dim %u, capacity %u must be > 0", desc->kv_heads,
                   desc->head_dim, desc->capacity);
    mlxc_status s;
    if ((s = ops_check_float(op, "src", src)) || (s = ops_check_float(op, "cache", cache))) return s;
    if (pos_buf && (s = ops_check_dtype(op, "pos_buf", pos_buf, MLXC_I32))) return s;
    if (pos_buf && mlxc_buffer_elements(pos_buf) < 1)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_kv_cache_copy: pos_buf is empty");
    const uint64_t row = (uint64_t)desc->kv_heads * desc->head_dim;
    if (row > UINT32_MAX) return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_kv_cache_copy: kv_heads * head_dim too large");
    uint32_t n;
    if ((s = ops_rows_of(op, src, (uint32_t)row, &n))) return s;
    if ((s = ops_check_elems(op, "cache", cache, row * desc->capacity))) return s;
    if (!desc->sliding && !pos_buf && (uint64_t)pos + n > desc->capacity)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE,
                              "mlxc_kv_cache_copy: positions %u..%llu overflow the linear cache of %u", pos,
                              (unsigned long long)pos + n - 1, desc->capacity);
    if (ops_overlap(src, cache))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_kv_cache_copy: src and cache overlap");
    char name[48];
    snprintf(name, sizeof name, "kv_cache_copy_%s_%s", ops_float_sfx(src->dtype), ops_float_sfx(cache->dtype));
    mlxc_p_kv_copy p = {n, desc->kv_heads, desc->head_dim, desc->capacity, pos, desc->sliding, pos_buf != NULL, 0};
    mlxc_arg args[4] = {mlxc_arg_buffer(src), mlxc_arg_buffer(cache), mlxc_arg_buffer(pos_buf ? pos_buf : src),
                        mlxc_arg_bytes(&p, sizeof p)};
    mlxc_device *dev = mlxc_encoder_device(enc);
    ops_launch l = {.kernel = name, .kind = MLXC_OP_KV_CACHE, .args = args, .nargs = 4,
                    .groups = ops_row_groups(dev, (uint64_t)n * desc->kv_heads, desc->head_dim),
                    .block = ops_row_block(desc->head_dim), .reads = {src, pos_buf}, .writes = {cache}};
    if (!ops_is_cpu(dev)) { /* CUDA: grid-stride over 16-byte pieces of head rows */
        l.groups = ops_groups(dev, row * n / 4 + 1, 256);
        l.block = 256;
    }
    return ops_dispatch(enc, op, &l);
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
    mlxc_dispatch d = {.kernel = k, .args = args, .nargs = 3, .grid = {ops_groups(dev, src->bytes, 16384), 1, 1},
                       .block = {256, 1, 1}, .reads = reads, .nreads = 1, .writes = writes, .nwrites = 1};
    if ((s = mlxc_encoder_set_op_kind(enc, MLXC_OP_COPY))) return s;
    return mlxc_encoder_dispatch_tracked(enc, &d);
}
