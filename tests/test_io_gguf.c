/* GGUF reader: files written by the Python `gguf` package (v2, v3, custom
 * alignment, every metadata kind including nested arrays, every ggml type)
 * compared with what gguf.GGUFReader read back (manifest.json, written by
 * scripts/make_io_fixtures.py), then hostile inputs built here byte by byte:
 * every prefix of a valid file, lying lengths and counts, bad alignment,
 * overlapping and out-of-file tensors, bad UTF-8, deep nesting, and random
 * byte flips.  Run it under ASan (-DMLXC_SANITIZE=ON) to check for
 * out-of-bounds reads. */
#include <jansson.h>
#include <math.h>

#include "harness.h"
#include "io_test.h"
#include "mlxc/mlxc.h"
#include "mlxc/gguf.h"
#include "mlxc/weights.h"
#include "read_file.h"



static uint64_t hex64(const char *s) { return strtoull(s, NULL, 16); }

static json_t *g_manifest;
static mlxc_device *g_dev;

/* ---- comparison with the manifest ------------------------------------------------- */

static void check_value(const mlxc_gguf_value *v, json_t *want, const char *key) {
    switch (v->type) {
    case MLXC_GGUF_STRING:
        CHECK_MSG(json_is_string(want) && json_string_length(want) == v->len &&
                      memcmp(json_string_value(want), v->data, v->len) == 0, "%s", key);
        break;
    case MLXC_GGUF_BOOL: {
        int64_t x;
        CHECK_OK(mlxc_gguf_value_int(v, &x));
        CHECK_MSG(json_is_boolean(want) && (x != 0) == json_is_true(want), "%s", key);
        break;
    }
    case MLXC_GGUF_FLOAT32: case MLXC_GGUF_FLOAT64: {
        double x;
        CHECK_OK(mlxc_gguf_value_float(v, &x));
        double w = json_number_value(want);
        if (v->type == MLXC_GGUF_FLOAT32) CHECK_MSG((float)x == (float)w, "%s: %g vs %g", key, x, w);
        else CHECK_MSG(x == w, "%s: %g vs %g", key, x, w);
        break;
    }
    case MLXC_GGUF_UINT64: {
        uint64_t x;
        CHECK_OK(mlxc_gguf_value_uint(v, &x));
        /* values above INT64_MAX are written as decimal text */
        uint64_t w = json_is_string(want) ? strtoull(json_string_value(want), NULL, 10) : (uint64_t)json_integer_value(want);
        CHECK_MSG(w == x, "%s", key);
        break;
    }
    case MLXC_GGUF_ARRAY: {
        CHECK_MSG(json_is_array(want) && json_array_size(want) == v->count, "%s: count %llu", key,
                  (unsigned long long)v->count);
        if (!json_is_array(want)) break;
        for (uint64_t i = 0; i < v->count && i < json_array_size(want); i++) {
            mlxc_gguf_value e;
            CHECK_OK(mlxc_gguf_value_elem(v, i, &e));
            CHECK_EQ_INT(e.type, v->elem);
            check_value(&e, json_array_get(want, i), key);
        }
        break;
    }
    default: {
        int64_t x;
        CHECK_OK(mlxc_gguf_value_int(v, &x));
        CHECK_MSG(json_is_integer(want) && json_integer_value(want) == x, "%s: %lld", key, (long long)x);
    }
    }
}

static void compare_file(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fixture_dir(), name);
    json_t *m = json_object_get(g_manifest, name);
    CHECK(m != NULL);
    if (!m) return;
    mlxc_gguf *g = NULL;
    CHECK_OK(mlxc_gguf_open(path, &g));
    if (!g) return;
    CHECK_EQ_INT(mlxc_gguf_version(g), json_integer_value(json_object_get(m, "version")));
    CHECK_EQ_INT(mlxc_gguf_alignment(g), json_integer_value(json_object_get(m, "alignment")));
    CHECK_EQ_INT(mlxc_gguf_data_offset(g), json_integer_value(json_object_get(m, "data_offset")));
    json_t *kvs = json_object_get(m, "kv");
    CHECK_EQ_INT(mlxc_gguf_kv_count(g), json_array_size(kvs));
    size_t i;
    json_t *kv;
    json_array_foreach(kvs, i, kv) {
        const char *key = json_string_value(json_object_get(kv, "key"));
        mlxc_gguf_value v;
        CHECK_OK(mlxc_gguf_find(g, key, &v));
        CHECK_EQ_INT(v.type, json_integer_value(json_object_get(kv, "type")));
        if (v.type == MLXC_GGUF_ARRAY) CHECK_EQ_INT(v.elem, json_integer_value(json_object_get(kv, "elem")));
        check_value(&v, json_object_get(kv, "value"), key);
        /* the same entry through enumeration */
        const char *k2;
        size_t klen;
        mlxc_gguf_value v2;
        CHECK_OK(mlxc_gguf_kv_at(g, i, &k2, &klen, &v2));
        CHECK(klen == strlen(key) && memcmp(k2, key, klen) == 0);
    }
    json_t *ts = json_object_get(m, "tensors");
    CHECK_EQ_INT(mlxc_gguf_tensor_count(g), json_array_size(ts));
    json_t *t;
    json_array_foreach(ts, i, t) {
        const char *tn = json_string_value(json_object_get(t, "name"));
        size_t idx = 0;
        CHECK_OK(mlxc_gguf_tensor_find(g, tn, &idx));
        mlxc_gguf_tensor_info ti;
        CHECK_OK(mlxc_gguf_tensor_at(g, idx, &ti));
        CHECK_EQ_INT(ti.type, json_integer_value(json_object_get(t, "type")));
        json_t *dims = json_object_get(t, "dims");
        CHECK_EQ_INT(ti.ndim, json_array_size(dims));
        for (size_t d = 0; d < ti.ndim && d < json_array_size(dims); d++)
            CHECK_EQ_INT(ti.dims[d], json_integer_value(json_array_get(dims, d)));
        CHECK_EQ_INT(ti.offset, json_integer_value(json_object_get(t, "offset")));
        CHECK_EQ_INT(ti.bytes, json_integer_value(json_object_get(t, "bytes")));
        uint64_t want = hex64(json_string_value(json_object_get(t, "sum64")));
        CHECK_MSG(sum64(ti.data, ti.bytes) == want, "tensor %s", tn);
        CHECK(mlxc_ggml_type_name(ti.type) != NULL);

        for (int copy = 0; copy < 2; copy++) {
            mlxc_buffer *b = NULL;
            CHECK_OK(mlxc_gguf_tensor_buffer(g, idx, g_dev, copy ? MLXC_LOAD_COPY : 0, &b));
            if (!b) continue;
            mlxc_dtype dt;
            bool exact = ti.type == MLXC_GGML_F32 || ti.type == MLXC_GGML_F16 || ti.type == MLXC_GGML_BF16 ||
                         ti.type == MLXC_GGML_I8 || ti.type == MLXC_GGML_I16 || ti.type == MLXC_GGML_I32 ||
                         ti.type == MLXC_GGML_I64;
            dt = mlxc_buffer_dtype(b);
            if (exact) {
                int64_t shape[MLXC_MAX_DIMS];
                mlxc_buffer_shape(b, shape);
                CHECK_EQ_INT(mlxc_buffer_ndim(b), ti.ndim);
                for (uint32_t d = 0; d < ti.ndim; d++) CHECK_EQ_INT(shape[d], ti.dims[ti.ndim - 1 - d]);
            } else {
                CHECK_EQ_INT(dt, MLXC_U8);
                CHECK_EQ_INT(mlxc_buffer_bytes(b), ti.bytes);
            }
            void *hp = mlxc_buffer_host_ptr(b);
            CHECK(hp != NULL);
            if (hp) CHECK_MSG(sum64(hp, ti.bytes) == want, "buffer of %s (copy %d)", tn, copy);
            /* GGUF data is aligned, so the CPU buffer wraps the file */
            if (copy) CHECK(hp != ti.data);
            else CHECK(hp == ti.data);
            mlxc_buffer_release(b);
        }
    }
    mlxc_gguf_close(g);
}

static void test_v3(void) { compare_file("v3.gguf"); }
static void test_v2(void) { compare_file("v2.gguf"); }
static void test_align64(void) { compare_file("align64.gguf"); }

static void test_typed_getters(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/v3.gguf", fixture_dir());
    mlxc_gguf *g = NULL;
    CHECK_OK(mlxc_gguf_open(path, &g));
    if (!g) return;
    int64_t i;
    double f;
    bool b;
    uint64_t u;
    const char *s;
    size_t len, n;
    mlxc_gguf_type et;
    CHECK_OK(mlxc_gguf_get_int(g, "t.i8", &i));
    CHECK_EQ_INT(i, -100);
    CHECK_OK(mlxc_gguf_get_int(g, "t.bool_true", &i));
    CHECK_EQ_INT(i, 1);
    CHECK_OK(mlxc_gguf_get_float(g, "t.i32", &f));
    CHECK(f == -2000000000.0);
    CHECK_OK(mlxc_gguf_get_float(g, "t.f32", &f));
    CHECK(f == 3.25);
    CHECK_OK(mlxc_gguf_get_bool(g, "t.bool_false", &b));
    CHECK(!b);
    CHECK_ERR(mlxc_gguf_get_int(g, "t.u64", &i), MLXC_ERR_OUT_OF_RANGE);   /* 1.8e19 > INT64_MAX */
    CHECK_OK(mlxc_gguf_get_uint(g, "t.u64", &u));
    CHECK(u == 18000000000000000000ull);
    CHECK_ERR(mlxc_gguf_get_uint(g, "t.i8", &u), MLXC_ERR_OUT_OF_RANGE);
    CHECK_ERR(mlxc_gguf_get_int(g, "t.f32", &i), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_gguf_get_int(g, "t.str", &i), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_gguf_get_float(g, "t.str", &f), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_gguf_get_float(g, "t.bool_true", &f), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_gguf_get_bool(g, "t.u8", &b), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_gguf_get_string(g, "t.u8", &s, &len), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_gguf_get_int(g, "no.such.key", &i), MLXC_ERR_NOT_FOUND);
    CHECK_OK(mlxc_gguf_get_string(g, "t.str", &s, &len));
    CHECK(len == strlen("héllo wörld") && memcmp(s, "héllo wörld", len) == 0);
    CHECK_OK(mlxc_gguf_get_array_info(g, "tokenizer.ggml.tokens", &et, &n));
    CHECK_EQ_INT(et, MLXC_GGUF_STRING);
    CHECK_EQ_INT(n, 2003);
    CHECK_OK(mlxc_gguf_get_array_string(g, "tokenizer.ggml.tokens", 1003, &s, &len));
    CHECK(len == 7 && memcmp(s, "tok1000", 7) == 0);
    CHECK_OK(mlxc_gguf_get_array_string(g, "tokenizer.ggml.tokens", 2002, &s, &len));
    CHECK(len == 7 && memcmp(s, "tok1999", 7) == 0);
    CHECK_ERR(mlxc_gguf_get_array_string(g, "tokenizer.ggml.tokens", 2003, &s, &len), MLXC_ERR_OUT_OF_RANGE);
    CHECK_ERR(mlxc_gguf_get_array_int(g, "tokenizer.ggml.tokens", 0, &i), MLXC_ERR_DTYPE);
    CHECK_OK(mlxc_gguf_get_array_float(g, "tokenizer.ggml.scores", 5, &f));
    CHECK(f == -5.0);
    CHECK_OK(mlxc_gguf_get_array_int(g, "t.arr_i16", 0, &i));
    CHECK_EQ_INT(i, -32768);
    CHECK_OK(mlxc_gguf_get_array_float(g, "t.arr_u32", 1, &f));
    CHECK(f == 4294967295.0);
    CHECK_ERR(mlxc_gguf_get_array_string(g, "t.arr_u8", 0, &s, &len), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_gguf_get_array_info(g, "t.u8", &et, &n), MLXC_ERR_DTYPE);
    const void *data;
    CHECK_OK(mlxc_gguf_get_array_data(g, "t.arr_i32", &data, &n));
    CHECK_EQ_INT(n, 3);
    int32_t first;
    memcpy(&first, data, 4);
    CHECK_EQ_INT(first, -7);
    CHECK_ERR(mlxc_gguf_get_array_data(g, "t.arr_str", &data, &n), MLXC_ERR_DTYPE);
    /* nested: t.nested3 = [[[1,2],[3]],[[4,5,6]]] */
    mlxc_gguf_value v, e1, e2, e3;
    CHECK_OK(mlxc_gguf_find(g, "t.nested3", &v));
    CHECK_OK(mlxc_gguf_value_elem(&v, 1, &e1));
    CHECK_EQ_INT(e1.type, MLXC_GGUF_ARRAY);
    CHECK_OK(mlxc_gguf_value_elem(&e1, 0, &e2));
    CHECK_EQ_INT(e2.count, 3);
    CHECK_OK(mlxc_gguf_value_elem(&e2, 2, &e3));
    CHECK_OK(mlxc_gguf_value_int(&e3, &i));
    CHECK_EQ_INT(i, 6);
    CHECK_ERR(mlxc_gguf_value_elem(&e2, 3, &e3), MLXC_ERR_OUT_OF_RANGE);
    CHECK_ERR(mlxc_gguf_value_elem(&e3, 0, &e2), MLXC_ERR_DTYPE);
    /* hyperparameters from metadata */
    mlxc_model_config cfg = MLXC_MODEL_CONFIG_INIT;
    CHECK_OK(mlxc_model_config_from_gguf(g, &cfg));
    CHECK(strcmp(cfg.architecture, "llama") == 0);
    CHECK_EQ_INT(cfg.hidden_size, 64);
    CHECK_EQ_INT(cfg.num_layers, 2);
    CHECK_EQ_INT(cfg.intermediate_size, 128);
    CHECK_EQ_INT(cfg.num_heads, 4);
    CHECK_EQ_INT(cfg.num_kv_heads, 2);
    CHECK_EQ_INT(cfg.head_dim, 16);
    CHECK_EQ_INT(cfg.max_position_embeddings, 4096);
    CHECK_EQ_INT(cfg.vocab_size, 2003);
    CHECK(cfg.rope_theta == 10000.0);
    CHECK((float)cfg.norm_eps == 1e-5f);
    CHECK(cfg.tie_word_embeddings);   /* token_embd.weight and no output.weight */
    mlxc_model_config_clear(&cfg);
    mlxc_gguf_close(g);
}

static void test_type_table(void) {
    /* block and type sizes as in ggml (GGML_QUANT_SIZES); retired numbers rejected */
    uint32_t b, s;
    CHECK(mlxc_ggml_type_info(MLXC_GGML_Q4_K, &b, &s) && b == 256 && s == 144);
    CHECK(mlxc_ggml_type_info(MLXC_GGML_Q8_0, &b, &s) && b == 32 && s == 34);
    CHECK(mlxc_ggml_type_info(MLXC_GGML_MXFP4, &b, &s) && b == 32 && s == 17);
    CHECK(mlxc_ggml_type_info(MLXC_GGML_TQ1_0, &b, &s) && b == 256 && s == 54);
    CHECK(!mlxc_ggml_type_info(4, &b, &s));
    CHECK(!mlxc_ggml_type_info(31, &b, &s));
    CHECK(!mlxc_ggml_type_info(1000, &b, &s));
    CHECK(strcmp(mlxc_ggml_type_name(MLXC_GGML_IQ2_XXS), "IQ2_XXS") == 0);
}

/* ---- a byte-level GGUF builder for hostile files ---------------------------------------- */

typedef struct bb { uint8_t *p; size_t n, cap; } bb;

static void bb_put(bb *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void bb_u32(bb *b, uint32_t v) { uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)}; bb_put(b, x, 4); }
static void bb_u64(bb *b, uint64_t v) { bb_u32(b, (uint32_t)v); bb_u32(b, (uint32_t)(v >> 32)); }
static void bb_str(bb *b, const char *s) { bb_u64(b, strlen(s)); bb_put(b, s, strlen(s)); }
static void bb_pad(bb *b, size_t a) { while (b->n % a) bb_put(b, "\0", 1); }

/* A valid little file: 3 kvs (uint32, string array, nested array), 2 F32
 * tensors of 4 and 8 elements. */
static bb valid_file(void) {
    bb b = {0};
    bb_put(&b, "GGUF", 4);
    bb_u32(&b, 3);
    bb_u64(&b, 2);   /* tensors */
    bb_u64(&b, 3);   /* kvs */
    bb_str(&b, "a.n"); bb_u32(&b, MLXC_GGUF_UINT32); bb_u32(&b, 7);
    bb_str(&b, "a.s"); bb_u32(&b, MLXC_GGUF_ARRAY); bb_u32(&b, MLXC_GGUF_STRING); bb_u64(&b, 2);
    bb_str(&b, "xy"); bb_str(&b, "z");
    bb_str(&b, "a.nest"); bb_u32(&b, MLXC_GGUF_ARRAY); bb_u32(&b, MLXC_GGUF_ARRAY); bb_u64(&b, 1);
    bb_u32(&b, MLXC_GGUF_INT8); bb_u64(&b, 2); bb_put(&b, "\x01\x02", 2);
    bb_str(&b, "t0"); bb_u32(&b, 1); bb_u64(&b, 4); bb_u32(&b, MLXC_GGML_F32); bb_u64(&b, 0);
    bb_str(&b, "t1"); bb_u32(&b, 2); bb_u64(&b, 4); bb_u64(&b, 2); bb_u32(&b, MLXC_GGML_F32); bb_u64(&b, 32);
    bb_pad(&b, 32);
    float d[4 + 8 + 4] = {0};   /* t0 (16 B), padding to 32, t1 (32 B) */
    for (int i = 0; i < 16; i++) d[i] = (float)i;
    bb_put(&b, d, 16);
    bb_put(&b, d, 16);
    bb_put(&b, d, 32);
    return b;
}

/* Open and, when it opens, touch everything reachable so ASan sees any
 * out-of-bounds read. */
static mlxc_status open_and_walk(const uint8_t *p, size_t n) {
    mlxc_gguf *g = NULL;
    mlxc_clear_error();
    mlxc_status st = mlxc_gguf_open_memory(p, n, &g);
    if (st) {
        CHECK_MSG(mlxc_last_error()[0] != 0, "failure without a message");
        CHECK(g == NULL);
        return st;
    }
    volatile uint64_t acc = 0;
    for (size_t i = 0; i < mlxc_gguf_kv_count(g); i++) {
        const char *k;
        size_t kl;
        mlxc_gguf_value v;
        mlxc_gguf_kv_at(g, i, &k, &kl, &v);
        for (size_t j = 0; j < kl; j++) acc += (uint8_t)k[j];
        /* walk arrays two levels deep */
        for (uint64_t e = 0; v.type == MLXC_GGUF_ARRAY && e < v.count; e++) {
            mlxc_gguf_value x;
            if (mlxc_gguf_value_elem(&v, e, &x)) break;
            if (x.type == MLXC_GGUF_STRING) for (uint64_t j = 0; j < x.len; j++) acc += x.data[j];
            int64_t iv;
            if (x.type != MLXC_GGUF_STRING && x.type != MLXC_GGUF_ARRAY && mlxc_gguf_value_int(&x, &iv) == MLXC_OK) acc += (uint64_t)iv;
        }
        if (v.type == MLXC_GGUF_STRING) for (uint64_t j = 0; j < v.len; j++) acc += v.data[j];
    }
    for (size_t i = 0; i < mlxc_gguf_tensor_count(g); i++) {
        mlxc_gguf_tensor_info t;
        mlxc_gguf_tensor_at(g, i, &t);
        acc += sum64(t.data, t.bytes);
    }
    (void)acc;
    mlxc_gguf_close(g);
    return MLXC_OK;
}

static void test_valid_builder(void) {
    bb b = valid_file();
    CHECK_OK(open_and_walk(b.p, b.n));
    mlxc_gguf *g = NULL;
    CHECK_OK(mlxc_gguf_open_memory(b.p, b.n, &g));
    if (g) {
        CHECK_EQ_INT(mlxc_gguf_tensor_count(g), 2);
        mlxc_gguf_tensor_info t;
        mlxc_gguf_tensor_at(g, 1, &t);
        CHECK_EQ_INT(t.elements, 8);
        float f[8];
        memcpy(f, t.data, 32);
        CHECK(f[7] == 7.0f);
        /* a buffer over caller memory is a copy */
        mlxc_buffer *buf = NULL;
        CHECK_OK(mlxc_gguf_tensor_buffer(g, 1, g_dev, 0, &buf));
        if (buf) CHECK(mlxc_buffer_host_ptr(buf) != t.data);
        mlxc_buffer_release(buf);
        mlxc_gguf_close(g);
    }
    free(b.p);
}

static void test_every_prefix(void) {
    bb b = valid_file();
    for (size_t n = 0; n < b.n; n++) {
        /* each prefix in its own allocation so ASan catches a read past it */
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, b.p, n);
        mlxc_status st = open_and_walk(p, n);
        CHECK_MSG(st == MLXC_ERR_FORMAT, "prefix %zu of %zu -> %s", n, b.n, mlxc_status_name(st));
        free(p);
    }
    free(b.p);
}

/* Overwrite bytes at `off` of a fresh valid file and expect a format error
 * whose message contains `needle`. */
static void expect_bad(const char *what, size_t off, const void *bytes, size_t n, const char *needle) {
    bb b = valid_file();
    memcpy(b.p + off, bytes, n);
    mlxc_status st = open_and_walk(b.p, b.n);
    CHECK_MSG(st == MLXC_ERR_FORMAT, "%s -> %s", what, mlxc_status_name(st));
    CHECK_MSG(strstr(mlxc_last_error(), needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, mlxc_last_error(),
              needle);
    free(b.p);
}

static void le64(uint8_t *o, uint64_t v) { for (int i = 0; i < 8; i++) o[i] = (uint8_t)(v >> (8 * i)); }
static void le32(uint8_t *o, uint32_t v) { for (int i = 0; i < 4; i++) o[i] = (uint8_t)(v >> (8 * i)); }

/* offsets in valid_file() */
enum {
    OFF_VERSION = 4, OFF_NT = 8, OFF_NKV = 16, OFF_KEY0_LEN = 24, OFF_KEY0 = 32, OFF_TYPE0 = 35
};

static size_t find_bytes(const bb *b, const char *s, size_t n) {
    for (size_t i = 0; i + n <= b->n; i++)
        if (memcmp(b->p + i, s, n) == 0) return i;
    return SIZE_MAX;
}

static void test_lying_headers(void) {
    uint8_t x[8];
    expect_bad("magic", 0, "GGUX", 4, "magic");
    le32(x, 1); expect_bad("version 1", OFF_VERSION, x, 4, "version 1");
    le32(x, 4); expect_bad("version 4", OFF_VERSION, x, 4, "unknown GGUF version");
    le32(x, 0x03000000); expect_bad("big endian", OFF_VERSION, x, 4, "big-endian");
    le64(x, UINT64_MAX); expect_bad("tensor count", OFF_NT, x, 8, "tensor count");
    le64(x, 1ull << 40); expect_bad("kv count", OFF_NKV, x, 8, "metadata count");
    le64(x, UINT64_MAX); expect_bad("key length", OFF_KEY0_LEN, x, 8, "length");
    le64(x, 0); expect_bad("empty key", OFF_KEY0_LEN, x, 8, "");
    expect_bad("bad utf-8 key", OFF_KEY0, "\xff", 1, "UTF-8");
    expect_bad("overlong utf-8 key", OFF_KEY0, "\xc0\xae", 2, "UTF-8");
    le32(x, 13); expect_bad("value type", OFF_TYPE0, x, 4, "invalid value type");

    bb b = valid_file();
    size_t as = find_bytes(&b, "a.s", 3), nest = find_bytes(&b, "a.nest", 6), t1 = find_bytes(&b, "t1", 2);
    size_t t0 = find_bytes(&b, "t0", 2);
    free(b.p);
    /* a.s: key(3) type(4) elem(4) count(8) */
    le32(x, 99); expect_bad("array elem type", as + 3 + 4, x, 4, "invalid array element type");
    le64(x, UINT64_MAX / 2); expect_bad("array count", as + 3 + 8, x, 8, "array of");
    le64(x, 1ull << 61); expect_bad("string length in array", as + 3 + 16, x, 8, "length");
    /* a.nest: inner array of int8 with count overflowing count*size */
    le64(x, UINT64_MAX); expect_bad("inner count", nest + 6 + 4 + 4 + 8 + 4, x, 8, "array of");
    /* rename "a.s" to "a.n": the same key twice */
    expect_bad("duplicate key a.n", as, "a.n", 3, "duplicate metadata key");
    /* tensor infos: name(2) ndim(4) dims(8*ndim) type(4) offset(8) */
    le32(x, 5); expect_bad("ndim 5", t0 + 2, x, 4, "dimensions");
    le64(x, (uint64_t)INT64_MAX + 1); expect_bad("negative dim", t0 + 2 + 4, x, 8, "negative");
    le32(x, 4); expect_bad("retired type 4", t0 + 2 + 4 + 8, x, 4, "unknown ggml type");
    le32(x, 200); expect_bad("type 200", t0 + 2 + 4 + 8, x, 4, "unknown ggml type");
    le32(x, MLXC_GGML_Q4_0); expect_bad("row not whole blocks", t0 + 2 + 4 + 8, x, 4, "block size");
    le64(x, 8); expect_bad("misaligned offset", t0 + 2 + 4 + 8 + 4, x, 8, "alignment");
    le64(x, 32); expect_bad("overlap", t0 + 2 + 4 + 8 + 4, x, 8, "overlap");
    le64(x, 64); expect_bad("outside data", t1 + 2 + 4 + 16 + 4, x, 8, "outside");
    le64(x, (1ull << 62)); expect_bad("offset huge", t1 + 2 + 4 + 16 + 4, x, 8, "");
    le64(x, 1ull << 40); expect_bad("dims product huge", t1 + 2 + 4, x, 8, "outside");
    expect_bad("duplicate tensor name", t1, "t0", 2, "duplicate tensor name");
    expect_bad("bad utf-8 tensor name", t1, "\xed\xa0", 2, "UTF-8");   /* a surrogate */
    /* dims product overflows u64: dims 2^40 and 2^40 */
    {
        bb c = valid_file();
        le64(c.p + t1 + 2 + 4, 1ull << 40);
        le64(c.p + t1 + 2 + 4 + 8, 1ull << 40);
        CHECK_EQ_INT(open_and_walk(c.p, c.n), MLXC_ERR_FORMAT);
        free(c.p);
    }
}

/* general.alignment: not a power of two, zero, a string */
static void test_alignment(void) {
    const struct { uint32_t type; uint64_t v; const char *needle; } cases[] = {
        {MLXC_GGUF_UINT32, 0, "power of two"},
        {MLXC_GGUF_UINT32, 48, "power of two"},
        {MLXC_GGUF_UINT64, 1ull << 40, "power of two"},
        {MLXC_GGUF_INT32, 0xFFFFFFF0u, "power of two"},   /* negative */
        {MLXC_GGUF_STRING, 0, "not an integer"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        bb b = {0};
        bb_put(&b, "GGUF", 4);
        bb_u32(&b, 3);
        bb_u64(&b, 0);
        bb_u64(&b, 1);
        bb_str(&b, "general.alignment");
        bb_u32(&b, cases[c].type);
        if (cases[c].type == MLXC_GGUF_STRING) bb_str(&b, "32");
        else if (cases[c].type == MLXC_GGUF_UINT64) bb_u64(&b, cases[c].v);
        else bb_u32(&b, (uint32_t)cases[c].v);
        mlxc_status st = open_and_walk(b.p, b.n);
        CHECK_MSG(st == MLXC_ERR_FORMAT && strstr(mlxc_last_error(), cases[c].needle), "case %zu: %s", c,
                  mlxc_last_error());
        free(b.p);
    }
    /* a good one: 64, and a tensor at offset 64 is accepted; 32 is not */
    for (int off = 32; off <= 64; off += 32) {
        bb b = {0};
        bb_put(&b, "GGUF", 4);
        bb_u32(&b, 2);
        bb_u64(&b, 2);
        bb_u64(&b, 1);
        bb_str(&b, "general.alignment");
        bb_u32(&b, MLXC_GGUF_UINT32);
        bb_u32(&b, 64);
        bb_str(&b, "a"); bb_u32(&b, 1); bb_u64(&b, 2); bb_u32(&b, MLXC_GGML_F32); bb_u64(&b, 0);
        bb_str(&b, "b"); bb_u32(&b, 1); bb_u64(&b, 2); bb_u32(&b, MLXC_GGML_F32); bb_u64(&b, (uint64_t)off);
        bb_pad(&b, 64);
        uint8_t zero[128] = {0};
        bb_put(&b, zero, 128);
        mlxc_gguf *g = NULL;
        mlxc_status st = mlxc_gguf_open_memory(b.p, b.n, &g);
        if (off == 64) {
            CHECK_OK(st);
            if (g) CHECK_EQ_INT(mlxc_gguf_alignment(g), 64);
            if (g) CHECK_EQ_INT(mlxc_gguf_data_offset(g) % 64, 0);
        } else {
            CHECK_EQ_INT(st, MLXC_ERR_FORMAT);
        }
        mlxc_gguf_close(g);
        free(b.p);
    }
}

/* Arrays nested far deeper than any real file: an error, not a stack overflow. */
static void test_deep_nesting(void) {
    bb b = {0};
    bb_put(&b, "GGUF", 4);
    bb_u32(&b, 3);
    bb_u64(&b, 0);
    bb_u64(&b, 1);
    bb_str(&b, "deep");
    bb_u32(&b, MLXC_GGUF_ARRAY);
    for (int i = 0; i < 100000; i++) { bb_u32(&b, MLXC_GGUF_ARRAY); bb_u64(&b, 1); }
    bb_u32(&b, MLXC_GGUF_UINT8);
    bb_u64(&b, 1);
    bb_put(&b, "\x05", 1);
    mlxc_status st = open_and_walk(b.p, b.n);
    CHECK_EQ_INT(st, MLXC_ERR_FORMAT);
    CHECK(strstr(mlxc_last_error(), "nested") != NULL);
    /* 60 levels are fine */
    bb c = {0};
    bb_put(&c, "GGUF", 4);
    bb_u32(&c, 3);
    bb_u64(&c, 0);
    bb_u64(&c, 1);
    bb_str(&c, "deep");
    bb_u32(&c, MLXC_GGUF_ARRAY);
    for (int i = 0; i < 60; i++) { bb_u32(&c, MLXC_GGUF_ARRAY); bb_u64(&c, 1); }
    bb_u32(&c, MLXC_GGUF_UINT8);
    bb_u64(&c, 1);
    bb_put(&c, "\x05", 1);
    CHECK_OK(open_and_walk(c.p, c.n));
    free(b.p);
    free(c.p);
}

/* Random byte flips over a real fixture: open either fails with a message
 * or succeeds, and nothing reads out of bounds. */
static void test_random_flips(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/v3.gguf", fixture_dir());
    size_t n = 0;
    uint8_t *orig = (uint8_t *)read_file(path, &n);
    CHECK(orig != NULL);
    if (!orig) return;
    uint64_t r = 0x243F6A8885A308D3ull;
    /* only the header part matters: the data is not interpreted */
    mlxc_gguf *g0 = NULL;
    CHECK_OK(mlxc_gguf_open_memory(orig, (size_t)n, &g0));
    size_t hdr = g0 ? mlxc_gguf_data_offset(g0) : (size_t)n;
    mlxc_gguf_close(g0);
    int opened = 0, failed = 0;
    uint8_t *p = malloc((size_t)n);
    for (int it = 0; it < 3000; it++) {
        memcpy(p, orig, (size_t)n);
        int flips = 1 + (int)(r % 4);
        for (int k = 0; k < flips; k++) {
            r ^= r << 13; r ^= r >> 7; r ^= r << 17;
            p[r % hdr] = (uint8_t)(r >> 32);
        }
        if (open_and_walk(p, (size_t)n) == MLXC_OK) opened++;
        else failed++;
    }
    printf("       random flips: %d opened, %d rejected\n", opened, failed);
    CHECK(failed > 0);
    free(p);
    free(orig);
}

static void test_open_errors(void) {
    mlxc_gguf *g = NULL;
    CHECK_ERR(mlxc_gguf_open("/nonexistent/x.gguf", &g), MLXC_ERR_NOT_FOUND);
    CHECK_ERR(mlxc_gguf_open("/", &g), MLXC_ERR_IO);
    CHECK_ERR(mlxc_gguf_open(NULL, &g), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_gguf_open_memory(NULL, 0, NULL), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_gguf_open_memory("", 0, &g), MLXC_ERR_FORMAT);
    mlxc_gguf_close(NULL);
}

int main(void) {
    if (!(g_manifest = io_test_manifest()) || !(g_dev = io_test_cpu_device())) return 1;
    RUN(test_v3);
    RUN(test_v2);
    RUN(test_align64);
    RUN(test_typed_getters);
    RUN(test_type_table);
    RUN(test_valid_builder);
    RUN(test_every_prefix);
    RUN(test_lying_headers);
    RUN(test_alignment);
    RUN(test_deep_nesting);
    RUN(test_random_flips);
    RUN(test_open_errors);
    mlxc_device_close(g_dev);
    json_decref(g_manifest);
    HARNESS_END();
}
