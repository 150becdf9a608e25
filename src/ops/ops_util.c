/* Shared front-end helpers of the op library (see ops_internal.h). */
#include <stdio.h>

#include "ops/ops_internal.h"

const char *ops_float_sfx(mlxc_dtype dt) {
    switch (dt) {
    case MLXC_F32: return "f32";
    case MLXC_F16: return "f16";
    case MLXC_BF16: return "bf16";
    default: return NULL;
    }
}

bool ops_is_cpu(const mlxc_device *dev) { return dev->caps.backend == MLXC_BACKEND_CPU; }

uint32_t ops_groups(const mlxc_device *dev, uint64_t n, uint64_t per_group) {
    uint64_t g = (n + per_group - 1) / per_group;
    uint64_t cap = (uint64_t)(dev->caps.compute_units > 0 ? dev->caps.compute_units : 1) * (ops_is_cpu(dev) ? 8 : 32);
    if (g > cap) g = cap;
    return g ? (uint32_t)g : 1;
}

uint64_t ops_cpu_tile_groups(const mlxc_device *dev, uint64_t tiles) {
    const uint64_t cap = (uint64_t)(dev->caps.compute_units > 0 ? dev->caps.compute_units : 1) * 16;
    return tiles > cap ? cap : tiles;
}

uint32_t ops_row_groups(const mlxc_device *dev, uint64_t rows, uint64_t row_elems) {
    if (ops_is_cpu(dev)) {
        uint64_t per = row_elems >= 16384 ? 1 : 16384 / (row_elems ? row_elems : 1);
        return ops_groups(dev, rows, per);
    }
    const uint64_t cap = 65535u * 16u;
    return rows == 0 ? 1 : rows < cap ? (uint32_t)rows : (uint32_t)cap;
}

uint32_t ops_row_block(uint64_t row_elems) {
    return row_elems >= 8192 ? 1024 : row_elems >= 1024 ? 256 : 128;
}

mlxc_status ops_check_float(const char *op, const char *what, const mlxc_buffer *b) {
    if (!ops_float_sfx(b->dtype))
        return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_%s: %s has dtype %s (f32, f16 or bf16)", op, what,
                              mlxc_dtype_name(b->dtype));
    return MLXC_OK;
}

mlxc_status ops_check_dtype(const char *op, const char *what, const mlxc_buffer *b, mlxc_dtype want) {
    if (b->dtype != want)
        return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_%s: %s has dtype %s, want %s", op, what, mlxc_dtype_name(b->dtype),
                              mlxc_dtype_name(want));
    return MLXC_OK;
}

mlxc_status ops_check_elems(const char *op, const char *what, const mlxc_buffer *b, uint64_t want) {
    int64_t n = mlxc_buffer_elements(b);
    if ((uint64_t)n != want)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_%s: %s has %lld elements, want %llu", op, what, (long long)n,
                              (unsigned long long)want);
    return MLXC_OK;
}

mlxc_status ops_rows_of(const char *op, const mlxc_buffer *x, uint32_t dim, uint32_t *rows) {
    if (dim == 0) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: row length is 0", op);
    int64_t n = mlxc_buffer_elements(x);
    if (n <= 0 || n % dim)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_%s: %lld elements are not whole rows of %u", op, (long long)n, dim);
    if (n / dim > UINT32_MAX) return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_%s: more than 2^32 - 1 rows", op);
    *rows = (uint32_t)(n / dim);
    return MLXC_OK;
}

bool ops_overlap(const mlxc_buffer *a, const mlxc_buffer *b) {
    return a->st == b->st && a->offset < b->offset + b->bytes && b->offset < a->offset + a->bytes;
}

mlxc_status ops_dispatch(mlxc_encoder *enc, const char *op, const ops_launch *l) {
    mlxc_device *dev = mlxc_encoder_device(enc);
    enum { NR = sizeof l->reads / sizeof *l->reads, NW = sizeof l->writes / sizeof *l->writes };
    const mlxc_buffer *reads[NR], *writes[NW];
    uint32_t nr = 0, nw = 0;
    for (int i = 0; i < NR + NW; i++) {
        const mlxc_buffer *b = i < NR ? l->reads[i] : l->writes[i - NR];
        if (!b) continue;
        if (mlxc_buffer_device(b) != dev)
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: a buffer lives on another device than the encoder", op);
        if (i < NR) reads[nr++] = b;
        else writes[nw++] = b;
    }
    if (l->shared > dev->caps.max_shared_bytes)
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "mlxc_%s: %s needs %u bytes of shared memory, the device has %zu", op,
                              l->kernel, l->shared, dev->caps.max_shared_bytes);
    const mlxc_kernel *k;
    mlxc_status s = mlxc_kernel_get(dev, l->kernel, &k);
    if (s) return s;
    mlxc_dispatch d = {.kernel = k, .args = l->args, .nargs = l->nargs, .grid = {l->groups ? l->groups : 1, 1, 1},
                       .block = {l->block ? l->block : 256, 1, 1}, .shared_bytes = l->shared, .reads = reads,
                       .nreads = nr, .writes = writes, .nwrites = nw};
    if ((s = mlxc_encoder_set_op_kind(enc, l->kind))) return s;
    return mlxc_encoder_dispatch_tracked(enc, &d);
}
