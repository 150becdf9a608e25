/*
 * GGUF reader (versions 2 and 3).
 *
 * The whole file is validated at open, walking it once with a bounds-checked
 * cursor: every length and count is checked against the bytes that remain
 * before anything is allocated for it, so a hostile file cannot make us
 * allocate more than a small multiple of its own size.  String arrays get an
 * index of element pointers and nested arrays a table of element values, so
 * that element access afterwards is O(1) and needs no further checks.
 */
#include <stdlib.h>

#include "io/io_internal.h"

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DEPTH 64           /* arrays of arrays of ...                  */
#define GGUF_MAX_KEY 65535          /* the spec's limit on key length           */
#define GGUF_MAX_ALIGNMENT ((uint64_t)1 << 30)

/* Index of one array value. */
typedef struct gguf_arr {
    const uint8_t  **str;    /* [count] STRING elements: their length field   */
    mlxc_gguf_value *sub;    /* [count] ARRAY elements                        */
} gguf_arr;

typedef struct gguf_kv {
    const char     *key;     /* [key_len], not NUL-terminated                  */
    size_t          key_len;
    mlxc_gguf_value v;
} gguf_kv;

typedef struct gguf_block { struct gguf_block *next; } gguf_block;

struct mlxc_gguf {
    mlxc_io_map           *map;
    uint32_t               version;
    size_t                 alignment;
    size_t                 data_off, data_size;
    gguf_kv               *kv;        /* [nkv] in file order                    */
    size_t                 nkv;
    mlxc_io_names          kv_names;
    mlxc_gguf_tensor_info *tensors;   /* [ntensors] in file order               */
    size_t                 ntensors;
    mlxc_io_names          t_names;
    gguf_block            *blocks;    /* every array index allocation           */
};

/* ---- ggml types ------------------------------------------------------------------ */

/* The table (block and type sizes) lives in src/quant (quant_types.c): io
 * depends on quant for it, the one place that knows the formats. */

static const char *const k_value_names[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                                            "bool", "string", "array", "uint64", "int64", "float64"};

const char *mlxc_gguf_type_name(mlxc_gguf_type t) {
    return (unsigned)t <= MLXC_GGUF_FLOAT64 ? k_value_names[t] : "invalid";
}

/* Bytes of a fixed-size value kind; 0 for STRING/ARRAY/invalid. */
static size_t scalar_size(uint32_t t) {
    switch (t) {
    case MLXC_GGUF_UINT8: case MLXC_GGUF_INT8: case MLXC_GGUF_BOOL: return 1;
    case MLXC_GGUF_UINT16: case MLXC_GGUF_INT16: return 2;
    case MLXC_GGUF_UINT32: case MLXC_GGUF_INT32: case MLXC_GGUF_FLOAT32: return 4;
    case MLXC_GGUF_UINT64: case MLXC_GGUF_INT64: case MLXC_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

/* ---- the parse cursor -------------------------------------------------------------- */

typedef struct cursor {
    mlxc_gguf     *g;
    const uint8_t *p;        /* file start                                       */
    size_t         size, pos;
    char           ctx[160]; /* what is being read, for messages                 */
} cursor;

__attribute__((format(printf, 2, 3)))
static mlxc_status fail(cursor *c, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mlxc_set_error(MLXC_ERR_FORMAT, "%s: GGUF: %s%s%s (at byte %zu of %zu)", c->g->map->path, c->ctx,
                          c->ctx[0] ? ": " : "", msg, c->pos, c->size);
}

static size_t remaining(const cursor *c) { return c->size - c->pos; }

static mlxc_status rd_u32(cursor *c, const char *what, uint32_t *v) {
    if (remaining(c) < 4) return fail(c, "file ends inside %s", what);
    *v = mlxc_io_rd32(c->p + c->pos);
    c->pos += 4;
    return MLXC_OK;
}

static mlxc_status rd_u64(cursor *c, const char *what, uint64_t *v) {
    if (remaining(c) < 8) return fail(c, "file ends inside %s", what);
    *v = mlxc_io_rd64(c->p + c->pos);
    c->pos += 8;
    return MLXC_OK;
}

/* A length-prefixed string; *s points into the file. */
static mlxc_status rd_str(cursor *c, const char *what, const uint8_t **s, uint64_t *len) {
    mlxc_status st = rd_u64(c, what, len);
    if (st) return st;
    if (*len > remaining(c))
        return fail(c, "%s length %llu exceeds the %zu bytes left in the file", what, (unsigned long long)*len,
                    remaining(c));
    *s = c->p + c->pos;
    c->pos += (size_t)*len;
    return MLXC_OK;
}

static void *g_alloc(mlxc_gguf *g, size_t bytes) {
    gguf_block *b = malloc(sizeof(gguf_block) + (bytes ? bytes : 1));
    if (!b) return NULL;
    b->next = g->blocks;
    g->blocks = b;
    return b + 1;
}

static mlxc_status parse_value(cursor *c, uint32_t type, int depth, mlxc_gguf_value *out);

static mlxc_status parse_array(cursor *c, int depth, mlxc_gguf_value *out) {
    uint32_t elem;
    uint64_t count;
    mlxc_status st = rd_u32(c, "array element type", &elem);
    if (st) return st;
    if (elem > MLXC_GGUF_FLOAT64) return fail(c, "invalid array element type %u", elem);
    if ((st = rd_u64(c, "array length", &count))) return st;
    out->type = MLXC_GGUF_ARRAY;
    out->elem = (mlxc_gguf_type)elem;
    out->count = count;
    out->data = c->p + c->pos;
    out->len = 0;
    out->priv = NULL;
    size_t es = scalar_size(elem);
    if (es) {
        uint64_t bytes;
        if (!mlxc_io_mul_u64(count, es, &bytes) || bytes > remaining(c))
            return fail(c, "array of %llu %s elements exceeds the %zu bytes left", (unsigned long long)count,
                        mlxc_gguf_type_name(elem), remaining(c));
        c->pos += (size_t)bytes;
        return MLXC_OK;
    }
    /* Each string element takes at least 8 bytes, each array element 12:
     * checking the count against that bounds the index we allocate. */
    size_t min = elem == MLXC_GGUF_STRING ? 8 : 12;
    if (count > remaining(c) / min)
        return fail(c, "array of %llu %s elements cannot fit in the %zu bytes left", (unsigned long long)count,
                    mlxc_gguf_type_name(elem), remaining(c));
    gguf_arr *a = g_alloc(c->g, sizeof *a);
    if (!a) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
    a->str = NULL;
    a->sub = NULL;
    out->priv = a;
    if (elem == MLXC_GGUF_STRING) {
        a->str = g_alloc(c->g, (size_t)count * sizeof *a->str);
        if (!a->str) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory (%llu strings)",
                                           (unsigned long long)count);
        for (uint64_t i = 0; i < count; i++) {
            a->str[i] = c->p + c->pos;
            const uint8_t *s;
            uint64_t len;
            if ((st = rd_str(c, "string array element", &s, &len))) return st;
        }
        return MLXC_OK;
    }
    if (depth + 1 > GGUF_MAX_DEPTH) return fail(c, "arrays nested deeper than %d", GGUF_MAX_DEPTH);
    a->sub = g_alloc(c->g, (size_t)count * sizeof *a->sub);
    if (!a->sub) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory (%llu arrays)",
                                       (unsigned long long)count);
    for (uint64_t i = 0; i < count; i++)
        if ((st = parse_value(c, MLXC_GGUF_ARRAY, depth + 1, &a->sub[i]))) return st;
    return MLXC_OK;
}

static mlxc_status parse_value(cursor *c, uint32_t type, int depth, mlxc_gguf_value *out) {
    memset(out, 0, sizeof *out);
    if (type > MLXC_GGUF_FLOAT64) return fail(c, "invalid value type %u", type);
    size_t es = scalar_size(type);
    if (es) {
        if (remaining(c) < es) return fail(c, "file ends inside a %s value", mlxc_gguf_type_name(type));
        out->type = (mlxc_gguf_type)type;
        out->count = 1;
        out->data = c->p + c->pos;
        c->pos += es;
        return MLXC_OK;
    }
    if (type == MLXC_GGUF_STRING) {
        out->type = MLXC_GGUF_STRING;
        out->count = 1;
        return rd_str(c, "string value", &out->data, &out->len);
    }
    return parse_array(c, depth, out);
}

/* ---- value conversions --------------------------------------------------------------- */

mlxc_status mlxc_gguf_value_int(const mlxc_gguf_value *v, int64_t *out) {
    MLXC_CHECK_ARG(v && out, "mlxc_gguf_value_int: NULL argument");
    const uint8_t *d = v->data;
    switch (v->type) {
    case MLXC_GGUF_UINT8: *out = d[0]; return MLXC_OK;
    case MLXC_GGUF_BOOL: *out = d[0] != 0; return MLXC_OK;
    case MLXC_GGUF_INT8: *out = (int8_t)d[0]; return MLXC_OK;
    case MLXC_GGUF_UINT16: *out = mlxc_io_rd16(d); return MLXC_OK;
    case MLXC_GGUF_INT16: *out = (int16_t)mlxc_io_rd16(d); return MLXC_OK;
    case MLXC_GGUF_UINT32: *out = mlxc_io_rd32(d); return MLXC_OK;
    case MLXC_GGUF_INT32: *out = (int32_t)mlxc_io_rd32(d); return MLXC_OK;
    case MLXC_GGUF_INT64: *out = (int64_t)mlxc_io_rd64(d); return MLXC_OK;
    case MLXC_GGUF_UINT64: {
        uint64_t u = mlxc_io_rd64(d);
        if (u > (uint64_t)INT64_MAX)
            return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "GGUF: uint64 value %llu does not fit int64",
                                  (unsigned long long)u);
        *out = (int64_t)u;
        return MLXC_OK;
    }
    default:
        return mlxc_set_error(MLXC_ERR_DTYPE, "GGUF: a %s value is not an integer", mlxc_gguf_type_name(v->type));
    }
}

mlxc_status mlxc_gguf_value_uint(const mlxc_gguf_value *v, uint64_t *out) {
    MLXC_CHECK_ARG(v && out, "mlxc_gguf_value_uint: NULL argument");
    if (v->type == MLXC_GGUF_UINT64) { *out = mlxc_io_rd64(v->data); return MLXC_OK; }
    int64_t s;
    mlxc_status st = mlxc_gguf_value_int(v, &s);
    if (st) return st;
    if (s < 0)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "GGUF: negative value %lld where unsigned expected",
                              (long long)s);
    *out = (uint64_t)s;
    return MLXC_OK;
}

mlxc_status mlxc_gguf_value_float(const mlxc_gguf_value *v, double *out) {
    MLXC_CHECK_ARG(v && out, "mlxc_gguf_value_float: NULL argument");
    if (v->type == MLXC_GGUF_FLOAT32) {
        uint32_t u = mlxc_io_rd32(v->data);
        float f;
        memcpy(&f, &u, 4);
        *out = f;
        return MLXC_OK;
    }
    if (v->type == MLXC_GGUF_FLOAT64) {
        uint64_t u = mlxc_io_rd64(v->data);
        memcpy(out, &u, 8);
        return MLXC_OK;
    }
    if (v->type == MLXC_GGUF_UINT64) { *out = (double)mlxc_io_rd64(v->data); return MLXC_OK; }
    if (v->type == MLXC_GGUF_BOOL || v->type == MLXC_GGUF_STRING || v->type == MLXC_GGUF_ARRAY || !scalar_size(v->type))
        return mlxc_set_error(MLXC_ERR_DTYPE, "GGUF: a %s value is not a number", mlxc_gguf_type_name(v->type));
    int64_t s;
    mlxc_status st = mlxc_gguf_value_int(v, &s);
    if (st) return st;
    *out = (double)s;
    return MLXC_OK;
}

mlxc_status mlxc_gguf_value_elem(const mlxc_gguf_value *arr, uint64_t i, mlxc_gguf_value *out) {
    MLXC_CHECK_ARG(arr && out, "mlxc_gguf_value_elem: NULL argument");
    if (arr->type != MLXC_GGUF_ARRAY)
        return mlxc_set_error(MLXC_ERR_DTYPE, "GGUF: a %s value is not an array", mlxc_gguf_type_name(arr->type));
    if (i >= arr->count)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "GGUF: element %llu of an array of %llu",
                              (unsigned long long)i, (unsigned long long)arr->count);
    memset(out, 0, sizeof *out);
    size_t es = scalar_size(arr->elem);
    if (es) {
        out->type = arr->elem;
        out->count = 1;
        out->data = arr->data + i * es;
        return MLXC_OK;
    }
    const gguf_arr *a = arr->priv;
    if (arr->elem == MLXC_GGUF_STRING) {
        out->type = MLXC_GGUF_STRING;
        out->count = 1;
        out->len = mlxc_io_rd64(a->str[i]);
        out->data = a->str[i] + 8;
        return MLXC_OK;
    }
    *out = a->sub[i];
    return MLXC_OK;
}

/* ---- open -------------------------------------------------------------------------------- */

static void kv_name_get(const void *ctx, size_t i, const char **s, size_t *n) {
    const mlxc_gguf *g = ctx;
    *s = g->kv[i].key;
    *n = g->kv[i].key_len;
}

static void t_name_get(const void *ctx, size_t i, const char **s, size_t *n) {
    const mlxc_gguf *g = ctx;
    *s = g->tensors[i].name;
    *n = g->tensors[i].name_len;
}

static int cmp_by_offset(const void *a, const void *b) {
    const mlxc_gguf_tensor_info *x = *(const mlxc_gguf_tensor_info *const *)a;
    const mlxc_gguf_tensor_info *y = *(const mlxc_gguf_tensor_info *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset ? 1 : 0;
}

static mlxc_status parse(mlxc_gguf *g) {
    cursor c = {.g = g, .p = g->map->data, .size = g->map->size, .pos = 0};
    mlxc_status st;
    c.ctx[0] = 0;
    if (c.size < 4 || memcmp(c.p, "GGUF", 4) != 0) {
        if (c.size == 0) return fail(&c, "the file is empty");
        if (c.size < 4) return fail(&c, "file of %zu bytes is too short for the magic", c.size);
        return fail(&c, "not a GGUF file: it starts with %02x %02x %02x %02x, not the magic \"GGUF\"", c.p[0], c.p[1],
                    c.p[2], c.p[3]);
    }
    c.pos = 4;
    uint32_t version;
    if ((st = rd_u32(&c, "version", &version))) return st;
    if (version == 0x02000000u || version == 0x03000000u)
        return fail(&c, "big-endian GGUF files are not supported");
    if (version == 1) return fail(&c, "GGUF version 1 is not supported (versions 2 and 3 are)");
    if (version != 2 && version != 3) return fail(&c, "unknown GGUF version %u", version);
    g->version = version;
    uint64_t nt, nkv;
    if ((st = rd_u64(&c, "tensor count", &nt)) || (st = rd_u64(&c, "metadata count", &nkv))) return st;
    /* A key/value takes at least 13 bytes (key length, type, a 1-byte value)
     * and a tensor info 24 (name length, dims count, type, offset). */
    if (nkv > remaining(&c) / 13)
        return fail(&c, "metadata count %llu cannot fit in a file of %zu bytes", (unsigned long long)nkv, c.size);
    if (nt > remaining(&c) / 24)
        return fail(&c, "tensor count %llu cannot fit in a file of %zu bytes", (unsigned long long)nt, c.size);
    g->kv = calloc(nkv ? nkv : 1, sizeof *g->kv);
    g->tensors = calloc(nt ? nt : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");

    for (uint64_t i = 0; i < nkv; i++) {
        snprintf(c.ctx, sizeof c.ctx, "metadata entry %llu", (unsigned long long)i);
        const uint8_t *key;
        uint64_t klen;
        if ((st = rd_str(&c, "key", &key, &klen))) return st;
        if (klen == 0) return fail(&c, "empty key");
        if (klen > GGUF_MAX_KEY) return fail(&c, "key of %llu bytes (limit %d)", (unsigned long long)klen, GGUF_MAX_KEY);
        if (!mlxc_io_utf8_valid(key, (size_t)klen)) return fail(&c, "key is not valid UTF-8");
        char shown[96];
        mlxc_io_name_for_msg(shown, sizeof shown, (const char *)key, (size_t)klen);
        snprintf(c.ctx, sizeof c.ctx, "metadata \"%s\"", shown);
        uint32_t type;
        if ((st = rd_u32(&c, "value type", &type))) return st;
        gguf_kv *kv = &g->kv[i];
        kv->key = (const char *)key;
        kv->key_len = (size_t)klen;
        if ((st = parse_value(&c, type, 0, &kv->v))) return st;
        g->nkv = (size_t)i + 1;
    }
    c.ctx[0] = 0;
    size_t dup;
    if ((st = mlxc_io_names_build(&g->kv_names, g->nkv, kv_name_get, g, &dup))) return st;
    if (dup != SIZE_MAX) {
        char shown[96];
        mlxc_io_name_for_msg(shown, sizeof shown, g->kv[dup].key, g->kv[dup].key_len);
        return fail(&c, "duplicate metadata key \"%s\"", shown);
    }

    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    size_t ai;
    if (mlxc_io_names_find(&g->kv_names, kv_name_get, g, "general.alignment", 17, &ai)) {
        uint64_t a;
        const mlxc_gguf_value *v = &g->kv[ai].v;
        if (v->type == MLXC_GGUF_STRING || v->type == MLXC_GGUF_ARRAY || v->type == MLXC_GGUF_FLOAT32 ||
            v->type == MLXC_GGUF_FLOAT64 || v->type == MLXC_GGUF_BOOL)
            return fail(&c, "general.alignment is a %s, not an integer", mlxc_gguf_type_name(v->type));
        if (mlxc_gguf_value_uint(v, &a) != MLXC_OK || a == 0 || (a & (a - 1)) != 0 || a > GGUF_MAX_ALIGNMENT) {
            mlxc_clear_error();
            return fail(&c, "general.alignment must be a power of two up to 2^30");
        }
        g->alignment = (size_t)a;
    }

    for (uint64_t i = 0; i < nt; i++) {
        snprintf(c.ctx, sizeof c.ctx, "tensor info %llu", (unsigned long long)i);
        mlxc_gguf_tensor_info *t = &g->tensors[i];
        const uint8_t *name;
        uint64_t nlen;
        if ((st = rd_str(&c, "tensor name", &name, &nlen))) return st;
        if (nlen > GGUF_MAX_KEY) return fail(&c, "tensor name of %llu bytes", (unsigned long long)nlen);
        if (!mlxc_io_utf8_valid(name, (size_t)nlen)) return fail(&c, "tensor name is not valid UTF-8");
        char shown[96];
        mlxc_io_name_for_msg(shown, sizeof shown, (const char *)name, (size_t)nlen);
        snprintf(c.ctx, sizeof c.ctx, "tensor \"%s\"", shown);
        t->name = (const char *)name;
        t->name_len = (size_t)nlen;
        uint32_t nd;
        if ((st = rd_u32(&c, "dimension count", &nd))) return st;
        if (nd > MLXC_GGUF_MAX_DIMS) return fail(&c, "%u dimensions (at most %d)", nd, MLXC_GGUF_MAX_DIMS);
        t->ndim = nd;
        uint64_t elems = 1;
        for (uint32_t d = 0; d < MLXC_GGUF_MAX_DIMS; d++) t->dims[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            if ((st = rd_u64(&c, "dimension", &t->dims[d]))) return st;
            if (t->dims[d] > (uint64_t)INT64_MAX)
                return fail(&c, "dimension %u is %llu (negative as int64)", d, (unsigned long long)t->dims[d]);
            if (!mlxc_io_mul_u64(elems, t->dims[d], &elems) || elems > (uint64_t)INT64_MAX)
                return fail(&c, "element count overflows");
        }
        t->elements = elems;
        if ((st = rd_u32(&c, "tensor type", &t->type))) return st;
        uint32_t blk, tsz;
        if (!mlxc_ggml_type_info(t->type, &blk, &tsz)) return fail(&c, "unknown ggml type %u", t->type);
        if (t->dims[0] % blk != 0)
            return fail(&c, "row length %llu is not a multiple of the %s block size %u",
                        (unsigned long long)t->dims[0], mlxc_ggml_type_name(t->type), blk);
        if (!mlxc_io_mul_u64(elems / blk, tsz, &t->bytes)) return fail(&c, "byte size overflows");
        if ((st = rd_u64(&c, "tensor offset", &t->offset))) return st;
        if (t->offset % g->alignment != 0)
            return fail(&c, "offset %llu is not a multiple of the alignment %zu", (unsigned long long)t->offset,
                        g->alignment);
        g->ntensors = (size_t)i + 1;
    }
    c.ctx[0] = 0;
    if ((st = mlxc_io_names_build(&g->t_names, g->ntensors, t_name_get, g, &dup))) return st;
    if (dup != SIZE_MAX) {
        char shown[96];
        mlxc_io_name_for_msg(shown, sizeof shown, g->tensors[dup].name, g->tensors[dup].name_len);
        return fail(&c, "duplicate tensor name \"%s\"", shown);
    }

    /* The data section starts at the next multiple of the alignment. */
    size_t pad = (g->alignment - c.pos % g->alignment) % g->alignment;
    if (pad > remaining(&c)) {
        if (g->ntensors > 0) return fail(&c, "file ends before the data section");
        pad = remaining(&c);   /* no tensors: trailing padding may be absent */
    }
    g->data_off = c.pos + pad;
    g->data_size = c.size - g->data_off;

    for (size_t i = 0; i < g->ntensors; i++) {
        mlxc_gguf_tensor_info *t = &g->tensors[i];
        if (t->offset > g->data_size || t->bytes > g->data_size - t->offset) {
            char shown[96];
            mlxc_io_name_for_msg(shown, sizeof shown, t->name, t->name_len);
            return mlxc_set_error(MLXC_ERR_FORMAT,
                                  "%s: GGUF: tensor \"%s\": bytes [%llu, %llu) of the data section lie outside it "
                                  "(%zu bytes; file truncated?)",
                                  g->map->path, shown, (unsigned long long)t->offset,
                                  (unsigned long long)t->offset + (unsigned long long)t->bytes, g->data_size);
        }
        t->data = g->map->data + g->data_off + t->offset;
    }
    /* Overlapping tensors would alias each other's buffers. */
    if (g->ntensors > 1) {
        const mlxc_gguf_tensor_info **ord = malloc(g->ntensors * sizeof *ord);
        if (!ord) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
        for (size_t i = 0; i < g->ntensors; i++) ord[i] = &g->tensors[i];
        qsort(ord, g->ntensors, sizeof *ord, cmp_by_offset);
        for (size_t i = 1; i < g->ntensors; i++) {
            const mlxc_gguf_tensor_info *a = ord[i - 1], *b = ord[i];
            if (a->bytes && b->bytes && b->offset < a->offset + a->bytes) {
                char sa[96], sb[96];
                mlxc_io_name_for_msg(sa, sizeof sa, a->name, a->name_len);
                mlxc_io_name_for_msg(sb, sizeof sb, b->name, b->name_len);
                free(ord);
                return mlxc_set_error(MLXC_ERR_FORMAT, "%s: GGUF: tensors \"%s\" and \"%s\" overlap",
                                      g->map->path, sa, sb);
            }
        }
        free(ord);
    }
    return MLXC_OK;
}

static mlxc_status open_map(mlxc_io_map *m, mlxc_gguf **out) {
    mlxc_gguf *g = calloc(1, sizeof *g);
    if (!g) { mlxc_io_map_release(m); return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory"); }
    g->map = m;
    mlxc_status st = parse(g);
    if (st) { mlxc_gguf_close(g); return st; }
    *out = g;
    return MLXC_OK;
}

mlxc_status mlxc_gguf_open(const char *path, mlxc_gguf **out) {
    MLXC_CHECK_ARG(path && out, "mlxc_gguf_open: NULL argument");
    *out = NULL;
    mlxc_io_map *m;
    mlxc_status st = mlxc_io_map_file(path, &m);
    if (st) return st;
    return open_map(m, out);
}

mlxc_status mlxc_gguf_open_memory(const void *data, size_t size, mlxc_gguf **out) {
    MLXC_CHECK_ARG(out, "mlxc_gguf_open_memory: NULL argument");
    *out = NULL;
    mlxc_io_map *m;
    mlxc_status st = mlxc_io_map_memory(data, size, &m);
    if (st) return st;
    return open_map(m, out);
}

void mlxc_gguf_close(mlxc_gguf *g) {
    if (!g) return;
    for (gguf_block *b = g->blocks; b;) {
        gguf_block *n = b->next;
        free(b);
        b = n;
    }
    mlxc_io_names_free(&g->kv_names);
    mlxc_io_names_free(&g->t_names);
    free(g->kv);
    free(g->tensors);
    mlxc_io_map_release(g->map);
    free(g);
}

uint32_t mlxc_gguf_version(const mlxc_gguf *g) { return g ? g->version : 0; }
size_t mlxc_gguf_alignment(const mlxc_gguf *g) { return g ? g->alignment : 0; }
const void *mlxc_gguf_data(const mlxc_gguf *g) { return g ? g->map->data + g->data_off : NULL; }
size_t mlxc_gguf_data_offset(const mlxc_gguf *g) { return g ? g->data_off : 0; }
size_t mlxc_gguf_data_size(const mlxc_gguf *g) { return g ? g->data_size : 0; }
size_t mlxc_gguf_file_size(const mlxc_gguf *g) { return g ? g->map->size : 0; }

/* ---- metadata access --------------------------------------------------------------------- */

size_t mlxc_gguf_kv_count(const mlxc_gguf *g) { return g ? g->nkv : 0; }

mlxc_status mlxc_gguf_kv_at(const mlxc_gguf *g, size_t i, const char **key, size_t *key_len,
                            mlxc_gguf_value *value) {
    MLXC_CHECK_ARG(g, "mlxc_gguf_kv_at: NULL handle");
    if (i >= g->nkv)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "GGUF: metadata index %zu of %zu", i, g->nkv);
    if (key) *key = g->kv[i].key;
    if (key_len) *key_len = g->kv[i].key_len;
    if (value) *value = g->kv[i].v;
    return MLXC_OK;
}

mlxc_status mlxc_gguf_find(const mlxc_gguf *g, const char *key, mlxc_gguf_value *value) {
    MLXC_CHECK_ARG(g && key, "mlxc_gguf_find: NULL argument");
    size_t i;
    if (!mlxc_io_names_find(&g->kv_names, kv_name_get, g, key, strlen(key), &i))
        return mlxc_set_error(MLXC_ERR_NOT_FOUND, "GGUF: no metadata key \"%s\"", key);
    if (value) *value = g->kv[i].v;
    return MLXC_OK;
}

mlxc_status mlxc_gguf_get_string(const mlxc_gguf *g, const char *key, const char **s, size_t *len) {
    mlxc_gguf_value v;
    mlxc_status st = mlxc_gguf_find(g, key, &v);
    if (st) return st;
    if (v.type != MLXC_GGUF_STRING)
        return mlxc_set_error(MLXC_ERR_DTYPE, "GGUF: \"%s\" is a %s, not a string", key, mlxc_gguf_type_name(v.type));
    if (s) *s = (const char *)v.data;
    if (len) *len = (size_t)v.len;
    return MLXC_OK;
}

#define KEYED(conv, T)                                                                 \
    mlxc_status st = mlxc_gguf_find(g, key, &v);                                        \
    if (st) return st;                                                                 \
    T tmp;                                                                             \
    st = conv(&v, &tmp);                                                               \
    if (st == MLXC_ERR_DTYPE)                                                          \
        return mlxc_set_error(st, "GGUF: \"%s\" is a %s, which does not convert", key,  \
                              mlxc_gguf_type_name(v.type));                            \
    if (st) return st;                                                                 \
    if (out) *out = tmp;                                                               \
    return MLXC_OK

mlxc_status mlxc_gguf_get_int(const mlxc_gguf *g, const char *key, int64_t *out) {
    mlxc_gguf_value v;
    KEYED(mlxc_gguf_value_int, int64_t);
}

mlxc_status mlxc_gguf_get_uint(const mlxc_gguf *g, const char *key, uint64_t *out) {
    mlxc_gguf_value v;
    KEYED(mlxc_gguf_value_uint, uint64_t);
}

mlxc_status mlxc_gguf_get_float(const mlxc_gguf *g, const char *key, double *out) {
    mlxc_gguf_value v;
    KEYED(mlxc_gguf_value_float, double);
}

mlxc_status mlxc_gguf_get_bool(const mlxc_gguf *g, const char *key, bool *out) {
    mlxc_gguf_value v;
    mlxc_status st = mlxc_gguf_find(g, key, &v);
    if (st) return st;
    if (v.type != MLXC_GGUF_BOOL)
        return mlxc_set_error(MLXC_ERR_DTYPE, "GGUF: \"%s\" is a %s, not a bool", key, mlxc_gguf_type_name(v.type));
    if (out) *out = v.data[0] != 0;
    return MLXC_OK;
}

static mlxc_status find_array(const mlxc_gguf *g, const char *key, mlxc_gguf_value *v) {
    mlxc_status st = mlxc_gguf_find(g, key, v);
    if (st) return st;
    if (v->type != MLXC_GGUF_ARRAY)
        return mlxc_set_error(MLXC_ERR_DTYPE, "GGUF: \"%s\" is a %s, not an array", key, mlxc_gguf_type_name(v->type));
    return MLXC_OK;
}

mlxc_status mlxc_gguf_get_array_info(const mlxc_gguf *g, const char *key, mlxc_gguf_type *elem, size_t *count) {
    mlxc_gguf_value v;
    mlxc_status st = find_array(g, key, &v);
    if (st) return st;
    if (elem) *elem = v.elem;
    if (count) *count = (size_t)v.count;
    return MLXC_OK;
}

static mlxc_status array_elem(const mlxc_gguf *g, const char *key, size_t i, mlxc_gguf_value *e) {
    mlxc_gguf_value v;
    mlxc_status st = find_array(g, key, &v);
    if (st) return st;
    if (i >= v.count)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "GGUF: \"%s\" has %llu elements; index %zu", key,
                              (unsigned long long)v.count, i);
    return mlxc_gguf_value_elem(&v, i, e);
}

mlxc_status mlxc_gguf_get_array_string(const mlxc_gguf *g, const char *key, size_t i, const char **s, size_t *len) {
    mlxc_gguf_value e;
    mlxc_status st = array_elem(g, key, i, &e);
    if (st) return st;
    if (e.type != MLXC_GGUF_STRING)
        return mlxc_set_error(MLXC_ERR_DTYPE, "GGUF: \"%s\" is an array of %s, not of strings", key,
                              mlxc_gguf_type_name(e.type));
    if (s) *s = (const char *)e.data;
    if (len) *len = (size_t)e.len;
    return MLXC_OK;
}

mlxc_status mlxc_gguf_get_array_int(const mlxc_gguf *g, const char *key, size_t i, int64_t *out) {
    mlxc_gguf_value e;
    mlxc_status st = array_elem(g, key, i, &e);
    if (st) return st;
    int64_t tmp;
    if ((st = mlxc_gguf_value_int(&e, &tmp)) == MLXC_ERR_DTYPE)
        return mlxc_set_error(st, "GGUF: \"%s\" is an array of %s, not of integers", key, mlxc_gguf_type_name(e.type));
    if (st) return st;
    if (out) *out = tmp;
    return MLXC_OK;
}

mlxc_status mlxc_gguf_get_array_float(const mlxc_gguf *g, const char *key, size_t i, double *out) {
    mlxc_gguf_value e;
    mlxc_status st = array_elem(g, key, i, &e);
    if (st) return st;
    double tmp;
    if ((st = mlxc_gguf_value_float(&e, &tmp)) == MLXC_ERR_DTYPE)
        return mlxc_set_error(st, "GGUF: \"%s\" is an array of %s, not of numbers", key, mlxc_gguf_type_name(e.type));
    if (st) return st;
    if (out) *out = tmp;
    return MLXC_OK;
}

mlxc_status mlxc_gguf_get_array_data(const mlxc_gguf *g, const char *key, const void **data, size_t *count) {
    mlxc_gguf_value v;
    mlxc_status st = find_array(g, key, &v);
    if (st) return st;
    if (!scalar_size(v.elem))
        return mlxc_set_error(MLXC_ERR_DTYPE, "GGUF: \"%s\" is an array of %s, which has no flat data", key,
                              mlxc_gguf_type_name(v.elem));
    if (data) *data = v.data;
    if (count) *count = (size_t)v.count;
    return MLXC_OK;
}

/* ---- tensors ----------------------------------------------------------------------------- */

size_t mlxc_gguf_tensor_count(const mlxc_gguf *g) { return g ? g->ntensors : 0; }

mlxc_status mlxc_gguf_tensor_at(const mlxc_gguf *g, size_t i, mlxc_gguf_tensor_info *info) {
    MLXC_CHECK_ARG(g && info, "mlxc_gguf_tensor_at: NULL argument");
    if (i >= g->ntensors)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "GGUF: tensor index %zu of %zu", i, g->ntensors);
    *info = g->tensors[i];
    return MLXC_OK;
}

mlxc_status mlxc_gguf_tensor_find(const mlxc_gguf *g, const char *name, size_t *index) {
    MLXC_CHECK_ARG(g && name, "mlxc_gguf_tensor_find: NULL argument");
    size_t i;
    if (!mlxc_io_names_find(&g->t_names, t_name_get, g, name, strlen(name), &i))
        return mlxc_set_error(MLXC_ERR_NOT_FOUND, "%s: GGUF: no tensor \"%s\"", g->map->path, name);
    if (index) *index = i;
    return MLXC_OK;
}

/* The dtype a ggml type keeps in a buffer; false: raw bytes. */
bool mlxc_gguf_ggml_dtype(uint32_t type, mlxc_dtype *dt) {
    switch (type) {
    case MLXC_GGML_F32: *dt = MLXC_F32; return true;
    case MLXC_GGML_F16: *dt = MLXC_F16; return true;
    case MLXC_GGML_BF16: *dt = MLXC_BF16; return true;
    case MLXC_GGML_I8: *dt = MLXC_I8; return true;
    case MLXC_GGML_I16: *dt = MLXC_I16; return true;
    case MLXC_GGML_I32: *dt = MLXC_I32; return true;
    case MLXC_GGML_I64: *dt = MLXC_I64; return true;
    default: *dt = MLXC_U8; return false;
    }
}

mlxc_status mlxc_gguf_tensor_buffer_ex(mlxc_gguf *g, size_t i, mlxc_device *dev, unsigned flags,
                                       mlxc_io_progress *prog, mlxc_buffer **out) {
    MLXC_CHECK_ARG(g && dev && out, "mlxc_gguf_tensor_buffer: NULL argument");
    *out = NULL;
    if (i >= g->ntensors)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "GGUF: tensor index %zu of %zu", i, g->ntensors);
    const mlxc_gguf_tensor_info *t = &g->tensors[i];
    mlxc_dtype dt;
    int64_t shape[MLXC_MAX_DIMS];
    int ndim;
    if (mlxc_gguf_ggml_dtype(t->type, &dt)) {
        ndim = (int)t->ndim;
        for (int d = 0; d < ndim; d++) shape[d] = (int64_t)t->dims[ndim - 1 - d];
    } else {
        ndim = 1;
        shape[0] = (int64_t)t->bytes;
    }
    if (t->bytes > SIZE_MAX)
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "GGUF: tensor too large for this host");
    return mlxc_io_make_buffer(g->map, t->data, (size_t)t->bytes, dt, ndim, shape, dev, flags, prog, out);
}

mlxc_status mlxc_gguf_tensor_buffer(mlxc_gguf *g, size_t i, mlxc_device *dev, unsigned flags, mlxc_buffer **out) {
    return mlxc_gguf_tensor_buffer_ex(g, i, dev, flags, NULL, out);
}
