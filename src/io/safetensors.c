/*
 * safetensors reader.
 *
 * The header is parsed once at open with jansson (duplicate keys rejected;
 * jansson also rejects invalid UTF-8 and NUL bytes in strings) and every
 * tensor entry is checked the way the reference implementation does: known
 * dtype, non-negative shape whose byte size does not overflow and equals the
 * data range, and ranges that tile the data section exactly (sorted by
 * offset: no gap, no overlap, nothing after the last tensor).
 */
#include <jansson.h>
#include <stdlib.h>

#include "io/io_internal.h"

typedef struct st_tensor {
    char         *name;
    mlxc_st_dtype dtype;
    int           ndim;
    int64_t       shape[MLXC_MAX_DIMS];
    uint64_t      elements, offset, bytes;
} st_tensor;

struct mlxc_safetensors {
    mlxc_io_map  *map;
    size_t        data_off;
    st_tensor    *t;          /* [n] sorted by offset                            */
    size_t        n;
    mlxc_io_names names;
    char        **meta_key, **meta_val;   /* [nmeta]                              */
    size_t        nmeta;
};

/* ---- dtypes ------------------------------------------------------------------------ */

typedef struct st_dtype_desc { const char *name; unsigned bits; int mlxc; } st_dtype_desc;

static const st_dtype_desc k_dtypes[MLXC_ST_DTYPE_COUNT] = {
    [MLXC_ST_BOOL] = {"BOOL", 8, -1},          [MLXC_ST_U8] = {"U8", 8, MLXC_U8},
    [MLXC_ST_I8] = {"I8", 8, MLXC_I8},         [MLXC_ST_U16] = {"U16", 16, MLXC_U16},
    [MLXC_ST_I16] = {"I16", 16, MLXC_I16},     [MLXC_ST_F16] = {"F16", 16, MLXC_F16},
    [MLXC_ST_BF16] = {"BF16", 16, MLXC_BF16},  [MLXC_ST_U32] = {"U32", 32, MLXC_U32},
    [MLXC_ST_I32] = {"I32", 32, MLXC_I32},     [MLXC_ST_F32] = {"F32", 32, MLXC_F32},
    [MLXC_ST_U64] = {"U64", 64, -1},           [MLXC_ST_I64] = {"I64", 64, MLXC_I64},
    [MLXC_ST_F64] = {"F64", 64, -1},           [MLXC_ST_C64] = {"C64", 64, -1},
    [MLXC_ST_F8_E5M2] = {"F8_E5M2", 8, -1},    [MLXC_ST_F8_E4M3] = {"F8_E4M3", 8, -1},
    [MLXC_ST_F8_E4M3FNUZ] = {"F8_E4M3FNUZ", 8, -1}, [MLXC_ST_F8_E5M2FNUZ] = {"F8_E5M2FNUZ", 8, -1},
    [MLXC_ST_F8_E8M0] = {"F8_E8M0", 8, -1},    [MLXC_ST_F6_E2M3] = {"F6_E2M3", 6, -1},
    [MLXC_ST_F6_E3M2] = {"F6_E3M2", 6, -1},    [MLXC_ST_F4] = {"F4", 4, -1},
};

const char *mlxc_st_dtype_name(mlxc_st_dtype dt) {
    return (unsigned)dt < MLXC_ST_DTYPE_COUNT ? k_dtypes[dt].name : NULL;
}

unsigned mlxc_st_dtype_bits(mlxc_st_dtype dt) {
    return (unsigned)dt < MLXC_ST_DTYPE_COUNT ? k_dtypes[dt].bits : 0;
}

bool mlxc_st_dtype_parse(const char *name, mlxc_st_dtype *out) {
    if (!name) return false;
    for (int i = 0; i < MLXC_ST_DTYPE_COUNT; i++)
        if (strcmp(name, k_dtypes[i].name) == 0) {
            if (out) *out = (mlxc_st_dtype)i;
            return true;
        }
    return false;
}

mlxc_dtype mlxc_st_dtype_to_mlxc(mlxc_st_dtype dt, bool *exact) {
    bool ok = (unsigned)dt < MLXC_ST_DTYPE_COUNT && k_dtypes[dt].mlxc >= 0;
    if (exact) *exact = ok;
    return ok ? (mlxc_dtype)k_dtypes[dt].mlxc : MLXC_U8;
}

/* ---- parse -------------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static mlxc_status fail(const mlxc_safetensors *st, const char *tensor, const char *fmt, ...) {
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (tensor) {
        char shown[96];
        mlxc_io_name_for_msg(shown, sizeof shown, tensor, strlen(tensor));
        return mlxc_set_error(MLXC_ERR_FORMAT, "%s: safetensors: tensor \"%s\": %s", st->map->path, shown, msg);
    }
    return mlxc_set_error(MLXC_ERR_FORMAT, "%s: safetensors: %s", st->map->path, msg);
}

static void name_get(const void *ctx, size_t i, const char **s, size_t *n) {
    const mlxc_safetensors *st = ctx;
    *s = st->t[i].name;
    *n = strlen(st->t[i].name);
}

static int cmp_offset(const void *a, const void *b) {
    const st_tensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* A JSON integer >= 0 as uint64; false otherwise. */
static bool json_u64(const json_t *j, uint64_t *v) {
    if (!json_is_integer(j) || json_integer_value(j) < 0) return false;
    *v = (uint64_t)json_integer_value(j);
    return true;
}

static mlxc_status parse_tensor(mlxc_safetensors *st, const char *name, json_t *e, uint64_t data_size,
                                st_tensor *t) {
    if (!json_is_object(e)) return fail(st, name, "entry is not an object");
    json_t *jd = json_object_get(e, "dtype"), *js = json_object_get(e, "shape"),
           *jo = json_object_get(e, "data_offsets");
    if (!jd || !js || !jo) return fail(st, name, "entry lacks %s", !jd ? "\"dtype\"" : !js ? "\"shape\"" : "\"data_offsets\"");
    /* Other fields are ignored, as the reference implementation does. */
    if (!json_is_string(jd)) return fail(st, name, "\"dtype\" is not a string");
    if (!mlxc_st_dtype_parse(json_string_value(jd), &t->dtype))
        return fail(st, name, "unknown dtype \"%.32s\"", json_string_value(jd));
    if (!json_is_array(js)) return fail(st, name, "\"shape\" is not an array");
    size_t nd = json_array_size(js);
    if (nd > MLXC_MAX_DIMS) return fail(st, name, "rank %zu is above mlxc's limit of %d", nd, MLXC_MAX_DIMS);
    t->ndim = (int)nd;
    uint64_t elems = 1;
    for (size_t d = 0; d < nd; d++) {
        uint64_t v;
        if (!json_u64(json_array_get(js, d), &v)) return fail(st, name, "shape[%zu] is not a non-negative integer", d);
        t->shape[d] = (int64_t)v;
        if (!mlxc_io_mul_u64(elems, v, &elems) || elems > (uint64_t)INT64_MAX)
            return fail(st, name, "element count overflows");
    }
    t->elements = elems;
    uint64_t bits;
    if (!mlxc_io_mul_u64(elems, k_dtypes[t->dtype].bits, &bits))
        return fail(st, name, "byte size overflows");
    if (bits % 8 != 0)
        return fail(st, name, "%llu elements of %s do not fill whole bytes", (unsigned long long)elems,
                    k_dtypes[t->dtype].name);
    if (!json_is_array(jo) || json_array_size(jo) != 2) return fail(st, name, "\"data_offsets\" is not [begin, end]");
    uint64_t b, en;
    if (!json_u64(json_array_get(jo, 0), &b) || !json_u64(json_array_get(jo, 1), &en))
        return fail(st, name, "\"data_offsets\" are not non-negative integers");
    if (en < b) return fail(st, name, "data_offsets [%llu, %llu] end before they begin", (unsigned long long)b,
                            (unsigned long long)en);
    if (en > data_size)
        return fail(st, name, "data_offsets [%llu, %llu] reach past the %llu-byte data section (file truncated?)",
                    (unsigned long long)b, (unsigned long long)en, (unsigned long long)data_size);
    if (en - b != bits / 8)
        return fail(st, name, "shape needs %llu bytes of %s but data_offsets give %llu",
                    (unsigned long long)(bits / 8), k_dtypes[t->dtype].name, (unsigned long long)(en - b));
    t->offset = b;
    t->bytes = en - b;
    t->name = strdup(name);
    if (!t->name) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
    return MLXC_OK;
}

static mlxc_status parse_metadata(mlxc_safetensors *st, json_t *m) {
    if (!json_is_object(m)) return fail(st, NULL, "\"__metadata__\" is not an object");
    size_t n = json_object_size(m);
    st->meta_key = calloc(n ? n : 1, sizeof(char *));
    st->meta_val = calloc(n ? n : 1, sizeof(char *));
    if (!st->meta_key || !st->meta_val) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
        if (!json_is_string(v)) return fail(st, NULL, "\"__metadata__\" value of \"%.64s\" is not a string", k);
        st->meta_key[st->nmeta] = strdup(k);
        st->meta_val[st->nmeta] = strdup(json_string_value(v));
        st->nmeta++;
        if (!st->meta_key[st->nmeta - 1] || !st->meta_val[st->nmeta - 1])
            return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return MLXC_OK;
}

static mlxc_status parse(mlxc_safetensors *st) {
    const uint8_t *p = st->map->data;
    size_t size = st->map->size;
    if (size < 8) return fail(st, NULL, "file of %zu bytes is shorter than the 8-byte header length", size);
    uint64_t hlen = mlxc_io_rd64(p);
    if (hlen > MLXC_SAFETENSORS_MAX_HEADER)
        return fail(st, NULL, "header length %llu is above the limit of %llu bytes", (unsigned long long)hlen,
                    (unsigned long long)MLXC_SAFETENSORS_MAX_HEADER);
    if (hlen > size - 8)
        return fail(st, NULL, "header length %llu exceeds the %zu bytes after it (file truncated?)",
                    (unsigned long long)hlen, size - 8);
    if (hlen < 2 || p[8] != '{') return fail(st, NULL, "header does not start with '{'");
    st->data_off = 8 + (size_t)hlen;
    uint64_t data_size = size - st->data_off;

    json_t *root;
    mlxc_status rc = mlxc_io_json_parse((const char *)p + 8, (size_t)hlen, st->map->path, &root);
    if (rc) return rc;
    if (!json_is_object(root)) { json_decref(root); return fail(st, NULL, "header is not a JSON object"); }
    size_t n = json_object_size(root);
    st->t = calloc(n ? n : 1, sizeof *st->t);
    if (!st->t) { json_decref(root); return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory"); }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (strcmp(k, "__metadata__") == 0) rc = json_is_null(v) ? MLXC_OK : parse_metadata(st, v);
        else if ((rc = parse_tensor(st, k, v, data_size, &st->t[st->n])) == MLXC_OK) st->n++;
        if (rc) break;
    }
    json_decref(root);
    if (rc) return rc;

    qsort(st->t, st->n, sizeof *st->t, cmp_offset);
    uint64_t end = 0;
    for (size_t i = 0; i < st->n; i++) {
        if (st->t[i].offset < end)
            return fail(st, st->t[i].name, "data [%llu, %llu) overlaps \"%.64s\"", (unsigned long long)st->t[i].offset,
                        (unsigned long long)(st->t[i].offset + st->t[i].bytes), st->t[i - 1].name);
        if (st->t[i].offset > end)
            return fail(st, st->t[i].name, "data starts at %llu, leaving a gap after byte %llu",
                        (unsigned long long)st->t[i].offset, (unsigned long long)end);
        end = st->t[i].offset + st->t[i].bytes;
    }
    if (end != data_size)
        return fail(st, NULL, "tensors cover %llu bytes but the data section has %llu", (unsigned long long)end,
                    (unsigned long long)data_size);
    size_t dup;
    if ((rc = mlxc_io_names_build(&st->names, st->n, name_get, st, &dup))) return rc;
    if (dup != SIZE_MAX) return fail(st, st->t[dup].name, "duplicate name");   /* unreachable: JSON keys */
    return MLXC_OK;
}

static mlxc_status open_map(mlxc_io_map *m, mlxc_safetensors **out) {
    mlxc_safetensors *st = calloc(1, sizeof *st);
    if (!st) { mlxc_io_map_release(m); return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory"); }
    st->map = m;
    mlxc_status rc = parse(st);
    if (rc) { mlxc_safetensors_close(st); return rc; }
    *out = st;
    return MLXC_OK;
}

mlxc_status mlxc_safetensors_open(const char *path, mlxc_safetensors **out) {
    MLXC_CHECK_ARG(path && out, "mlxc_safetensors_open: NULL argument");
    *out = NULL;
    mlxc_io_map *m;
    mlxc_status rc = mlxc_io_map_file(path, &m);
    if (rc) return rc;
    return open_map(m, out);
}

mlxc_status mlxc_safetensors_open_memory(const void *data, size_t size, mlxc_safetensors **out) {
    MLXC_CHECK_ARG(out, "mlxc_safetensors_open_memory: NULL argument");
    *out = NULL;
    mlxc_io_map *m;
    mlxc_status rc = mlxc_io_map_memory(data, size, &m);
    if (rc) return rc;
    return open_map(m, out);
}

void mlxc_safetensors_close(mlxc_safetensors *st) {
    if (!st) return;
    if (st->t)
        for (size_t i = 0; i < st->n; i++) free(st->t[i].name);
    free(st->t);
    for (size_t i = 0; i < st->nmeta; i++) { free(st->meta_key[i]); free(st->meta_val[i]); }
    free(st->meta_key);
    free(st->meta_val);
    mlxc_io_names_free(&st->names);
    mlxc_io_map_release(st->map);
    free(st);
}

const char *mlxc_safetensors_path(const mlxc_safetensors *st) { return st ? st->map->path : NULL; }
size_t mlxc_safetensors_file_size(const mlxc_safetensors *st) { return st ? st->map->size : 0; }
size_t mlxc_safetensors_data_offset(const mlxc_safetensors *st) { return st ? st->data_off : 0; }
size_t mlxc_safetensors_count(const mlxc_safetensors *st) { return st ? st->n : 0; }

mlxc_status mlxc_safetensors_tensor_at(const mlxc_safetensors *st, size_t i, mlxc_st_tensor_info *info) {
    MLXC_CHECK_ARG(st && info, "mlxc_safetensors_tensor_at: NULL argument");
    if (i >= st->n) return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "safetensors: tensor index %zu of %zu", i, st->n);
    const st_tensor *t = &st->t[i];
    memset(info, 0, sizeof *info);
    info->name = t->name;
    info->dtype = t->dtype;
    info->mlxc_dtype = mlxc_st_dtype_to_mlxc(t->dtype, &info->dtype_exact);
    info->ndim = t->ndim;
    memcpy(info->shape, t->shape, sizeof t->shape);
    info->elements = t->elements;
    info->offset = t->offset;
    info->bytes = t->bytes;
    info->data = st->map->data + st->data_off + t->offset;
    return MLXC_OK;
}

mlxc_status mlxc_safetensors_find(const mlxc_safetensors *st, const char *name, size_t *index) {
    MLXC_CHECK_ARG(st && name, "mlxc_safetensors_find: NULL argument");
    size_t i;
    if (!mlxc_io_names_find(&st->names, name_get, st, name, strlen(name), &i))
        return mlxc_set_error(MLXC_ERR_NOT_FOUND, "%s: no tensor \"%s\"", st->map->path, name);
    if (index) *index = i;
    return MLXC_OK;
}

size_t mlxc_safetensors_metadata_count(const mlxc_safetensors *st) { return st ? st->nmeta : 0; }

mlxc_status mlxc_safetensors_metadata_at(const mlxc_safetensors *st, size_t i, const char **key, const char **value) {
    MLXC_CHECK_ARG(st, "mlxc_safetensors_metadata_at: NULL handle");
    if (i >= st->nmeta)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "safetensors: metadata index %zu of %zu", i, st->nmeta);
    if (key) *key = st->meta_key[i];
    if (value) *value = st->meta_val[i];
    return MLXC_OK;
}

mlxc_status mlxc_safetensors_metadata_get(const mlxc_safetensors *st, const char *key, const char **value) {
    MLXC_CHECK_ARG(st && key, "mlxc_safetensors_metadata_get: NULL argument");
    for (size_t i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta_key[i], key) == 0) {
            if (value) *value = st->meta_val[i];
            return MLXC_OK;
        }
    return mlxc_set_error(MLXC_ERR_NOT_FOUND, "%s: no metadata key \"%s\"", st->map->path, key);
}

mlxc_status mlxc_safetensors_tensor_buffer_ex(mlxc_safetensors *st, size_t i, mlxc_device *dev, unsigned flags,
                                              mlxc_io_progress *prog, mlxc_buffer **out) {
    MLXC_CHECK_ARG(st && dev && out, "mlxc_safetensors_tensor_buffer: NULL argument");
    *out = NULL;
    mlxc_st_tensor_info ti;
    mlxc_status rc = mlxc_safetensors_tensor_at(st, i, &ti);
    if (rc) return rc;
    if (ti.bytes > SIZE_MAX) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "safetensors: tensor too large for this host");
    if (ti.dtype_exact)
        return mlxc_io_make_buffer(st->map, ti.data, (size_t)ti.bytes, ti.mlxc_dtype, ti.ndim, ti.shape, dev, flags,
                                   prog, out);
    int64_t flat = (int64_t)ti.bytes;
    return mlxc_io_make_buffer(st->map, ti.data, (size_t)ti.bytes, MLXC_U8, 1, &flat, dev, flags, prog, out);
}

mlxc_status mlxc_safetensors_tensor_buffer(mlxc_safetensors *st, size_t i, mlxc_device *dev, unsigned flags,
                                           mlxc_buffer **out) {
    return mlxc_safetensors_tensor_buffer_ex(st, i, dev, flags, NULL, out);
}
