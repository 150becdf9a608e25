/* safetensors reader: files written by the `safetensors` package (every
 * dtype of the format through safetensors.serialize, numpy arrays through
 * safetensors.numpy) compared with what safetensors.deserialize read back
 * (manifest.json from scripts/make_io_fixtures.py); buffers (zero copy and
 * copied, alive after close); then hostile headers built here: every prefix
 * of a valid file, lying lengths, malformed and deeply nested JSON,
 * duplicate keys, bad UTF-8, bad dtypes and shapes, overflowing sizes,
 * overlapping, gapped and out-of-file ranges. */
#include <jansson.h>

#include "harness.h"
#include "io_test.h"
#include "mlxc/mlxc.h"
#include "mlxc/safetensors.h"



static json_t *g_manifest;
static mlxc_device *g_dev;

static void compare_file(const char *name, json_t *m) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fixture_dir(), name);
    mlxc_safetensors *st = NULL;
    CHECK_OK(mlxc_safetensors_open(path, &st));
    if (!st || !m) return;
    CHECK_EQ_INT(mlxc_safetensors_data_offset(st), 8 + json_integer_value(json_object_get(m, "header_len")));
    json_t *meta = json_object_get(m, "metadata");
    CHECK_EQ_INT(mlxc_safetensors_metadata_count(st), json_object_size(meta));
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        const char *got = NULL;
        CHECK_OK(mlxc_safetensors_metadata_get(st, k, &got));
        CHECK(got && strcmp(got, json_string_value(v)) == 0);
    }
    json_t *ts = json_object_get(m, "tensors");
    CHECK_EQ_INT(mlxc_safetensors_count(st), json_array_size(ts));
    size_t i;
    json_t *t;
    json_array_foreach(ts, i, t) {
        const char *tn = json_string_value(json_object_get(t, "name"));
        size_t idx = 0;
        CHECK_OK(mlxc_safetensors_find(st, tn, &idx));
        mlxc_st_tensor_info ti;
        CHECK_OK(mlxc_safetensors_tensor_at(st, idx, &ti));
        CHECK(strcmp(ti.name, tn) == 0);
        /* deserialize() reports dtypes by their header names */
        const char *want_dt = json_string_value(json_object_get(t, "dtype"));
        mlxc_st_dtype parsed;
        CHECK_MSG(mlxc_st_dtype_parse(want_dt, &parsed) && parsed == ti.dtype, "%s: %s vs %s", tn, want_dt,
                  mlxc_st_dtype_name(ti.dtype));
        json_t *shape = json_object_get(t, "shape");
        CHECK_EQ_INT(ti.ndim, json_array_size(shape));
        for (int d = 0; d < ti.ndim; d++) CHECK_EQ_INT(ti.shape[d], json_integer_value(json_array_get(shape, (size_t)d)));
        json_t *off = json_object_get(t, "offsets");
        CHECK_EQ_INT(ti.offset, json_integer_value(json_array_get(off, 0)));
        CHECK_EQ_INT(ti.offset + ti.bytes, json_integer_value(json_array_get(off, 1)));
        uint64_t want = strtoull(json_string_value(json_object_get(t, "sum64")), NULL, 16);
        CHECK_MSG(sum64(ti.data, ti.bytes) == want, "tensor %s", tn);
        for (int copy = 0; copy < 2; copy++) {
            mlxc_buffer *b = NULL;
            CHECK_OK(mlxc_safetensors_tensor_buffer(st, idx, g_dev, copy ? MLXC_LOAD_COPY : 0, &b));
            if (!b) continue;
            CHECK_EQ_INT(mlxc_buffer_dtype(b), ti.mlxc_dtype);
            if (ti.dtype_exact && ti.ndim > 0) {
                int64_t sh[MLXC_MAX_DIMS];
                mlxc_buffer_shape(b, sh);
                CHECK_EQ_INT(mlxc_buffer_ndim(b), ti.ndim);
                for (int d = 0; d < ti.ndim; d++) CHECK_EQ_INT(sh[d], ti.shape[d]);
            } else if (!ti.dtype_exact) {
                CHECK_EQ_INT(mlxc_buffer_dtype(b), MLXC_U8);
                CHECK_EQ_INT(mlxc_buffer_bytes(b), ti.bytes);
            }
            uint8_t *hp = mlxc_buffer_host_ptr(b);
            CHECK(hp != NULL);
            if (hp) CHECK_MSG(sum64(hp, ti.bytes) == want, "buffer of %s", tn);
            size_t esz = mlxc_dtype_size(ti.mlxc_dtype);
            bool aligned = (uintptr_t)ti.data % esz == 0;
            if (!copy && aligned && ti.bytes) CHECK_MSG((const void *)hp == ti.data, "%s should be zero copy", tn);
            if (copy) CHECK((const void *)hp != ti.data);
            mlxc_buffer_release(b);
        }
    }
    mlxc_safetensors_close(st);
}

static void test_all_dtypes(void) {
    const char *n = "st_all_dtypes.safetensors";
    compare_file(n, json_object_get(g_manifest, n));
    /* every dtype of the format is in the file and recognised */
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fixture_dir(), n);
    mlxc_safetensors *st = NULL;
    CHECK_OK(mlxc_safetensors_open(path, &st));
    if (!st) return;
    bool seen[MLXC_ST_DTYPE_COUNT] = {0};
    for (size_t i = 0; i < mlxc_safetensors_count(st); i++) {
        mlxc_st_tensor_info ti;
        mlxc_safetensors_tensor_at(st, i, &ti);
        seen[ti.dtype] = true;
    }
    for (int d = 0; d < MLXC_ST_DTYPE_COUNT; d++) {
        /* the package cannot write the F6 kinds; everything else it can */
        if (d == MLXC_ST_F6_E2M3 || d == MLXC_ST_F6_E3M2) continue;
        CHECK_MSG(seen[d], "dtype %s not in the fixture", mlxc_st_dtype_name((mlxc_st_dtype)d));
    }
    size_t i;
    CHECK_OK(mlxc_safetensors_find(st, "t_bfloat16", &i));
    mlxc_st_tensor_info ti;
    mlxc_safetensors_tensor_at(st, i, &ti);
    CHECK(ti.dtype == MLXC_ST_BF16 && ti.mlxc_dtype == MLXC_BF16 && ti.dtype_exact);
    CHECK_OK(mlxc_safetensors_find(st, "t_float8_e4m3fn", &i));
    mlxc_safetensors_tensor_at(st, i, &ti);
    CHECK(ti.dtype == MLXC_ST_F8_E4M3 && ti.mlxc_dtype == MLXC_U8 && !ti.dtype_exact);
    CHECK_OK(mlxc_safetensors_find(st, "t_float4_e2m1fn_x2", &i));
    mlxc_safetensors_tensor_at(st, i, &ti);
    CHECK(ti.dtype == MLXC_ST_F4 && ti.bytes * 2 == ti.elements);
    CHECK_OK(mlxc_safetensors_find(st, "scalar", &i));
    mlxc_safetensors_tensor_at(st, i, &ti);
    CHECK(ti.ndim == 0 && ti.elements == 1 && ti.bytes == 4);
    CHECK_OK(mlxc_safetensors_find(st, "empty", &i));
    mlxc_safetensors_tensor_at(st, i, &ti);
    CHECK(ti.elements == 0 && ti.bytes == 0);
    CHECK_ERR(mlxc_safetensors_find(st, "nope", &i), MLXC_ERR_NOT_FOUND);
    const char *v;
    CHECK_OK(mlxc_safetensors_metadata_get(st, "format", &v));
    CHECK(strcmp(v, "mlxc-test") == 0);
    CHECK_ERR(mlxc_safetensors_metadata_get(st, "nope", &v), MLXC_ERR_NOT_FOUND);
    mlxc_safetensors_close(st);
}

static void test_numpy(void) {
    const char *n = "st_numpy.safetensors";
    compare_file(n, json_object_get(g_manifest, n));
}

static void test_shards_match_manifest(void) {
    json_t *sh = json_object_get(json_object_get(g_manifest, "sharded"), "shards");
    const char *k;
    json_t *m;
    json_object_foreach(sh, k, m) {
        char name[256];
        snprintf(name, sizeof name, "sharded/%s", k);
        compare_file(name, m);
    }
}

/* A zero-copy buffer keeps the mapping alive after the reader is closed. */
static void test_buffer_outlives_reader(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/st_numpy.safetensors", fixture_dir());
    mlxc_safetensors *st = NULL;
    CHECK_OK(mlxc_safetensors_open(path, &st));
    if (!st) return;
    size_t i;
    CHECK_OK(mlxc_safetensors_find(st, "f32", &i));
    mlxc_st_tensor_info ti;
    mlxc_safetensors_tensor_at(st, i, &ti);
    float want[20];
    memcpy(want, ti.data, sizeof want);
    mlxc_buffer *b = NULL;
    CHECK_OK(mlxc_safetensors_tensor_buffer(st, i, g_dev, 0, &b));
    mlxc_safetensors_close(st);
    if (!b) return;
    float got[20];
    CHECK_OK(mlxc_buffer_read(b, 0, got, sizeof got));
    CHECK(memcmp(got, want, sizeof got) == 0);
    /* writing to it is allowed (copy-on-write pages) and leaves the file alone */
    float one = 1.0f;
    CHECK_OK(mlxc_buffer_write(b, 0, &one, 4));
    mlxc_buffer_release(b);
    CHECK_OK(mlxc_safetensors_open(path, &st));
    if (st) {
        mlxc_safetensors_tensor_at(st, i, &ti);
        CHECK(memcmp(ti.data, want, sizeof want) == 0);
        mlxc_safetensors_close(st);
    }
}

/* ---- hostile headers ----------------------------------------------------------------- */

/* A file from a header text and `data` zero bytes. */
static uint8_t *make(const char *header, size_t data, size_t *n) {
    size_t h = strlen(header);
    *n = 8 + h + data;
    uint8_t *p = calloc(1, *n ? *n : 1);
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(p + 8, header, h);
    return p;
}

static mlxc_status open_and_walk(const uint8_t *p, size_t n) {
    mlxc_safetensors *st = NULL;
    mlxc_clear_error();
    mlxc_status rc = mlxc_safetensors_open_memory(p, n, &st);
    if (rc) {
        CHECK_MSG(mlxc_last_error()[0] != 0, "failure without a message");
        CHECK(st == NULL);
        return rc;
    }
    volatile uint64_t acc = 0;
    for (size_t i = 0; i < mlxc_safetensors_count(st); i++) {
        mlxc_st_tensor_info ti;
        mlxc_safetensors_tensor_at(st, i, &ti);
        acc += sum64(ti.data, ti.bytes) + strlen(ti.name);
    }
    (void)acc;
    mlxc_safetensors_close(st);
    return MLXC_OK;
}

static void expect(const char *header, size_t data, mlxc_status want, const char *needle) {
    size_t n;
    uint8_t *p = make(header, data, &n);
    mlxc_status st = open_and_walk(p, n);
    CHECK_MSG(st == want, "%s -> %s (%s)", header, mlxc_status_name(st), mlxc_last_error());
    if (needle && want != MLXC_OK)
        CHECK_MSG(strstr(mlxc_last_error(), needle) != NULL, "%.80s: message \"%s\" lacks \"%s\"", header,
                  mlxc_last_error(), needle);
    free(p);
}

static void test_valid_headers(void) {
    expect("{}", 0, MLXC_OK, NULL);
    expect("{\"__metadata__\":null}", 0, MLXC_OK, NULL);   /* an absent Option in the reference */
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, MLXC_OK, NULL);
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}   ", 8, MLXC_OK, NULL);   /* padding */
    expect("{\"a\":{\"dtype\":\"F6_E2M3\",\"shape\":[4],\"data_offsets\":[0,3]}}", 3, MLXC_OK, NULL);
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", 8, MLXC_OK, NULL);
    expect("{\"__metadata__\":{\"x\":\"y\"},\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, MLXC_OK,
           NULL);
}

static void test_bad_headers(void) {
    /* header length and framing */
    uint8_t short_file[5] = {1, 2, 3, 4, 5};
    CHECK_EQ_INT(open_and_walk(short_file, 5), MLXC_ERR_FORMAT);
    {
        size_t n;
        uint8_t *p = make("{}", 0, &n);
        p[0] = 100;   /* longer than the file */
        CHECK_EQ_INT(open_and_walk(p, n), MLXC_ERR_FORMAT);
        CHECK(strstr(mlxc_last_error(), "exceeds") != NULL);
        for (int i = 0; i < 8; i++) p[i] = 0xff;   /* 2^64-1: "negative" */
        CHECK_EQ_INT(open_and_walk(p, n), MLXC_ERR_FORMAT);
        CHECK(strstr(mlxc_last_error(), "limit") != NULL);
        free(p);
    }
    expect("[]", 0, MLXC_ERR_FORMAT, "'{'");
    expect(" {}", 0, MLXC_ERR_FORMAT, "'{'");
    expect("{", 0, MLXC_ERR_FORMAT, "start with");
    expect("{ ", 0, MLXC_ERR_FORMAT, "invalid JSON");
    expect("{\"a\":1,}", 0, MLXC_ERR_FORMAT, "invalid JSON");
    expect("{}x", 0, MLXC_ERR_FORMAT, "invalid JSON");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, MLXC_ERR_FORMAT, "duplicate");
    expect("{\"a\xff\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, MLXC_ERR_FORMAT, "invalid JSON");
    expect("{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, MLXC_ERR_FORMAT, "invalid JSON");
    expect("{\"a\\ud800\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, MLXC_ERR_FORMAT, "invalid JSON");
    /* entries */
    expect("{\"a\":5}", 0, MLXC_ERR_FORMAT, "not an object");
    expect("{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, MLXC_ERR_FORMAT, "dtype");
    expect("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, MLXC_ERR_FORMAT, "shape");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, MLXC_ERR_FORMAT, "data_offsets");
    expect("{\"a\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, MLXC_ERR_FORMAT, "unknown dtype");
    expect("{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, MLXC_ERR_FORMAT, "dtype");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4, MLXC_ERR_FORMAT, "shape");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, MLXC_ERR_FORMAT, "shape[0]");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, MLXC_ERR_FORMAT, "shape[0]");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, MLXC_ERR_FORMAT,
           "rank");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4611686018427387904],\"data_offsets\":[0,4]}}", 4,
           MLXC_ERR_FORMAT, "overflows");
    expect("{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", 4, MLXC_ERR_FORMAT,
           "overflows");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4, MLXC_ERR_FORMAT,
           "invalid JSON");
    expect("{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2, MLXC_ERR_FORMAT, "whole bytes");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, MLXC_ERR_FORMAT, "[begin, end]");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, MLXC_ERR_FORMAT, "[begin, end]");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, MLXC_ERR_FORMAT, "non-negative");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, MLXC_ERR_FORMAT, "end before");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 3, MLXC_ERR_FORMAT, "past");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, MLXC_ERR_FORMAT, "needs 8 bytes");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,9223372036854775807]}}", 4, MLXC_ERR_FORMAT,
           "past");
    /* ranges: overlap, gap, trailing bytes */
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, MLXC_ERR_FORMAT, "overlaps");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, MLXC_ERR_FORMAT, "gap");
    expect("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, MLXC_ERR_FORMAT, "cover");
    /* metadata */
    expect("{\"__metadata__\":[1]}", 0, MLXC_ERR_FORMAT, "__metadata__");
    expect("{\"__metadata__\":{\"k\":1}}", 0, MLXC_ERR_FORMAT, "not a string");
}

static void test_deep_json(void) {
    /* 100000 nested arrays as a tensor entry: jansson stops at its depth
     * limit instead of recursing off the stack */
    size_t depth = 100000;
    char *h = malloc(2 * depth + 16);
    size_t o = 0;
    o += (size_t)sprintf(h, "{\"a\":");
    for (size_t i = 0; i < depth; i++) h[o++] = '[';
    for (size_t i = 0; i < depth; i++) h[o++] = ']';
    h[o++] = '}';
    h[o] = 0;
    expect(h, 0, MLXC_ERR_FORMAT, "invalid JSON");
    free(h);
}

static void test_every_prefix(void) {
    const char *hdr = "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}";
    size_t n;
    uint8_t *full = make(hdr, 16, &n);
    CHECK_OK(open_and_walk(full, n));
    for (size_t k = 0; k < n; k++) {
        uint8_t *p = malloc(k ? k : 1);
        memcpy(p, full, k);
        mlxc_status st = open_and_walk(p, k);
        CHECK_MSG(st == MLXC_ERR_FORMAT, "prefix %zu of %zu -> %s", k, n, mlxc_status_name(st));
        free(p);
    }
    free(full);
}

static void test_random_flips(void) {
    const char *hdr = "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}";
    size_t n;
    uint8_t *full = make(hdr, 16, &n);
    uint8_t *p = malloc(n);
    uint64_t r = 0xB7E151628AED2A6Bull;
    int opened = 0;
    for (int it = 0; it < 5000; it++) {
        memcpy(p, full, n);
        for (int k = 0; k < 1 + (int)(r % 3); k++) {
            r ^= r << 13; r ^= r >> 7; r ^= r << 17;
            p[r % (n - 16)] = (uint8_t)(r >> 40);
        }
        if (open_and_walk(p, n) == MLXC_OK) opened++;
    }
    printf("       random flips: %d of 5000 still opened\n", opened);
    free(p);
    free(full);
}

static void test_dtype_table(void) {
    static const char *const names[] = {"BOOL", "U8", "I8", "U16", "I16", "F16", "BF16", "U32", "I32", "F32", "U64",
                                        "I64", "F64", "C64", "F8_E5M2", "F8_E4M3", "F8_E4M3FNUZ", "F8_E5M2FNUZ",
                                        "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        mlxc_st_dtype d;
        CHECK_MSG(mlxc_st_dtype_parse(names[i], &d), "%s", names[i]);
        CHECK(strcmp(mlxc_st_dtype_name(d), names[i]) == 0);
    }
    CHECK(!mlxc_st_dtype_parse("f32", NULL));
    CHECK_EQ_INT(mlxc_st_dtype_bits(MLXC_ST_F6_E3M2), 6);
    bool exact;
    CHECK_EQ_INT(mlxc_st_dtype_to_mlxc(MLXC_ST_I64, &exact), MLXC_I64);
    CHECK(exact);
    CHECK_EQ_INT(mlxc_st_dtype_to_mlxc(MLXC_ST_U64, &exact), MLXC_U8);
    CHECK(!exact);
}

static void test_open_errors(void) {
    mlxc_safetensors *st = NULL;
    CHECK_ERR(mlxc_safetensors_open("/nonexistent.safetensors", &st), MLXC_ERR_NOT_FOUND);
    CHECK_ERR(mlxc_safetensors_open("/tmp", &st), MLXC_ERR_IO);
    CHECK_ERR(mlxc_safetensors_open(NULL, &st), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_safetensors_open_memory("", 0, &st), MLXC_ERR_FORMAT);
    mlxc_safetensors_close(NULL);
}

int main(void) {
    if (!(g_manifest = io_test_manifest()) || !(g_dev = io_test_cpu_device())) return 1;
    RUN(test_all_dtypes);
    RUN(test_numpy);
    RUN(test_shards_match_manifest);
    RUN(test_buffer_outlives_reader);
    RUN(test_valid_headers);
    RUN(test_bad_headers);
    RUN(test_deep_json);
    RUN(test_every_prefix);
    RUN(test_random_flips);
    RUN(test_dtype_table);
    RUN(test_open_errors);
    mlxc_device_close(g_dev);
    json_decref(g_manifest);
    HARNESS_END();
}
