/* Devices, buffers, views, the pool, the kernel registry, and every kind of
 * bad input the core API must reject with a status and a message. */
#include <math.h>

#include "core/internal.h"
#include "test_util.h"

static mlxc_device *dev;

static void test_status_and_dtypes(void) {
    CHECK(strcmp(mlxc_status_name(MLXC_OK), "MLXC_OK") == 0);
    CHECK(strcmp(mlxc_status_name(MLXC_ERR_COMMAND_BUFFER), "MLXC_ERR_COMMAND_BUFFER") == 0);
    CHECK_EQ_INT(mlxc_dtype_size(MLXC_F32), 4);
    CHECK_EQ_INT(mlxc_dtype_size(MLXC_BF16), 2);
    CHECK_EQ_INT(mlxc_dtype_size(MLXC_I64), 8);
    CHECK_EQ_INT(mlxc_dtype_size((mlxc_dtype)99), 0);
    CHECK(strcmp(mlxc_dtype_name(MLXC_F16), "f16") == 0);
    CHECK(strcmp(mlxc_dtype_name((mlxc_dtype)-1), "invalid") == 0);
}

static void test_half_conversions(void) {
    /* Every finite f16 round-trips exactly through f32. */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        float f = mlxc_f16_to_f32((uint16_t)h);
        CHECK_MSG(mlxc_f32_to_f16(f) == h || (h == 0x8000 && mlxc_f32_to_f16(f) == 0x8000), "h=%04x", h);
    }
    CHECK(mlxc_f32_to_f16(1.0f) == 0x3c00);
    CHECK(mlxc_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(mlxc_f32_to_f16(65520.0f) == 0x7c00);           /* rounds to infinity */
    CHECK(mlxc_f32_to_f16(1.0f + 1.0f / 2048.0f) == 0x3c00); /* tie to even */
    CHECK(mlxc_f32_to_f16(5.960464477539063e-08f) == 0x0001);
    CHECK(isnan(mlxc_f16_to_f32(mlxc_f32_to_f16(NAN))));
    CHECK(mlxc_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(mlxc_f32_to_bf16(1.00390625f) == 0x3f80);        /* tie to even (down) */
    CHECK(mlxc_f32_to_bf16(1.01171875f) == 0x3f82);        /* tie to even (up) */
    CHECK(isnan(mlxc_bf16_to_f32(mlxc_f32_to_bf16(NAN))));
    for (uint32_t b = 0; b < 0x10000; b += 7) {
        if ((b & 0x7f80) == 0x7f80) continue;
        CHECK(mlxc_f32_to_bf16(mlxc_bf16_to_f32((uint16_t)b)) == b);
    }
}

static void test_device(void) {
    mlxc_device_caps c;
    CHECK_OK(mlxc_device_caps_get(dev, &c));
    CHECK(c.name[0] != '\0');
    CHECK(c.compute_units > 0);
    CHECK(c.max_threads_per_group >= 256);
    CHECK(strcmp(mlxc_device_name(dev), c.name) == 0);
    /* 0 means unknown; a reported cache is at least a few KiB and smaller
     * than the memory */
    CHECK(c.l2_bytes == 0 || (c.l2_bytes >= 4096 && (c.total_memory == 0 || c.l2_bytes < c.total_memory)));
    CHECK(c.memory_bus_bits >= 0 && c.memory_clock_khz >= 0);
    CHECK(strcmp(mlxc_version(), MLXC_VERSION_STRING) == 0 && mlxc_version_number() == MLXC_VERSION_NUMBER);
    int n = -1;
    CHECK_OK(mlxc_device_count(MLXC_BACKEND_CPU, &n));
    CHECK_EQ_INT(n, 1);
    mlxc_device *cpu;
    CHECK_OK(mlxc_device_open(MLXC_BACKEND_CPU, 0, &cpu));
    CHECK(mlxc_device_backend(cpu) == MLXC_BACKEND_CPU);
    mlxc_device_close(cpu);
    mlxc_device *d2 = (mlxc_device *)1;
    CHECK_ERR(mlxc_device_open(MLXC_BACKEND_CPU, 1, &d2), MLXC_ERR_NO_DEVICE);
    CHECK(d2 == NULL);
    CHECK_ERR(mlxc_device_open((mlxc_backend_kind)7, 0, &d2), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_device_open(MLXC_BACKEND_CPU, -1, &d2), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_device_open(MLXC_BACKEND_CPU, 0, NULL), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_device_count(MLXC_BACKEND_CPU, NULL), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_device_caps_get(NULL, &c), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_device_close(NULL);
    CHECK(!mlxc_device_is_lost(dev));
}

static void test_buffers(void) {
    int64_t shape[2] = {16, 8};
    mlxc_buffer *b;
    CHECK_OK(mlxc_buffer_alloc(dev, 512, MLXC_F32, 2, shape, &b));
    CHECK_EQ_INT(mlxc_buffer_bytes(b), 512);
    CHECK_EQ_INT(mlxc_buffer_elements(b), 128);
    CHECK_EQ_INT(mlxc_buffer_ndim(b), 2);
    CHECK(mlxc_buffer_dtype(b) == MLXC_F32);
    int64_t s[MLXC_MAX_DIMS];
    CHECK_OK(mlxc_buffer_shape(b, s));
    CHECK(s[0] == 16 && s[1] == 8);
    /* Zero-filled on allocation. */
    float host[128];
    memset(host, 0xff, sizeof host);
    CHECK_OK(mlxc_buffer_read(b, 0, host, sizeof host));
    int zeros = 1;
    for (int i = 0; i < 128; i++) zeros &= host[i] == 0.0f;
    CHECK(zeros);
    /* Round trip. */
    tu_fill(host, 128);
    CHECK_OK(mlxc_buffer_write(b, 0, host, sizeof host));
    float back[128];
    CHECK_OK(mlxc_buffer_read(b, 0, back, sizeof back));
    CHECK(memcmp(host, back, sizeof host) == 0);
    /* A view: offset, extent, and it keeps the allocation alive. */
    int64_t vs[1] = {8};
    mlxc_buffer *v;
    CHECK_OK(mlxc_buffer_view(b, 64, MLXC_F32, 1, vs, &v));
    CHECK_EQ_INT(mlxc_buffer_offset(v), 64);
    CHECK_EQ_INT(mlxc_buffer_bytes(v), 32);
    CHECK_EQ_INT(mlxc_buffer_alloc_bytes(v), 512);
    CHECK(mlxc_buffer_alloc_id(v) == mlxc_buffer_alloc_id(b));
    CHECK(mlxc_buffer_device_address(v) == mlxc_buffer_device_address(b) + 64);
    mlxc_buffer *vv;
    CHECK_OK(mlxc_buffer_view(v, 16, MLXC_F32, 0, NULL, &vv)); /* view of a view: to the end */
    CHECK_EQ_INT(mlxc_buffer_offset(vv), 80);
    CHECK_EQ_INT(mlxc_buffer_bytes(vv), 16);
    mlxc_buffer_release(b);
    float got[8];
    CHECK_OK(mlxc_buffer_read(v, 0, got, sizeof got));
    CHECK(memcmp(got, host + 16, sizeof got) == 0);
    if (mlxc_device_backend(dev) == MLXC_BACKEND_CPU) CHECK(mlxc_buffer_host_ptr(v) != NULL);
    /* Bad input. */
    mlxc_buffer *x = (mlxc_buffer *)1;
    CHECK_ERR(mlxc_buffer_alloc(dev, 0, MLXC_F32, 0, NULL, &x), MLXC_ERR_INVALID_ARGUMENT);
    CHECK(x == NULL);
    CHECK_ERR(mlxc_buffer_alloc(NULL, 4, MLXC_F32, 0, NULL, &x), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_buffer_alloc(dev, 4, MLXC_F32, 0, NULL, NULL), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_buffer_alloc(dev, 64, (mlxc_dtype)42, 0, NULL, &x), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_buffer_alloc(dev, 64, MLXC_F32, 2, shape, &x), MLXC_ERR_SHAPE);   /* 512 > 64 */
    int64_t neg[1] = {-3};
    CHECK_ERR(mlxc_buffer_alloc(dev, 64, MLXC_F32, 1, neg, &x), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_buffer_alloc(dev, 64, MLXC_F32, 9, shape, &x), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_buffer_alloc(dev, 6, MLXC_F32, 0, NULL, &x), MLXC_ERR_SHAPE);     /* 6 bytes of f32 */
    CHECK_ERR(mlxc_buffer_alloc(dev, 8, MLXC_F32, 1, NULL, &x), MLXC_ERR_INVALID_ARGUMENT);
    int64_t big[1] = {9};
    CHECK_ERR(mlxc_buffer_view(v, 0, MLXC_F32, 1, big, &x), MLXC_ERR_OUT_OF_RANGE);
    CHECK_ERR(mlxc_buffer_view(v, 64, MLXC_F32, 1, vs, &x), MLXC_ERR_OUT_OF_RANGE);
    CHECK_ERR(mlxc_buffer_view(v, 33, MLXC_U8, 0, NULL, &x), MLXC_ERR_OUT_OF_RANGE);
    CHECK_ERR(mlxc_buffer_view(v, 2, MLXC_F32, 0, NULL, &x), MLXC_ERR_INVALID_ARGUMENT); /* misaligned */
    CHECK_ERR(mlxc_buffer_view(NULL, 0, MLXC_F32, 0, NULL, &x), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_buffer_view(v, 0, (mlxc_dtype)42, 0, NULL, &x), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_buffer_read(v, 0, got, 33), MLXC_ERR_OUT_OF_RANGE);
    CHECK_ERR(mlxc_buffer_read(v, 32, got, 1), MLXC_ERR_OUT_OF_RANGE);
    CHECK_ERR(mlxc_buffer_read(v, SIZE_MAX, got, 2), MLXC_ERR_OUT_OF_RANGE);
    CHECK_ERR(mlxc_buffer_write(v, 0, NULL, 4), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_buffer_write(NULL, 0, host, 4), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_buffer_read(v, 0, got, 0), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_buffer_shape(NULL, s), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_buffer_release(vv);
    mlxc_buffer_release(v);
    mlxc_buffer_release(NULL);
    CHECK(mlxc_buffer_retain(NULL) == NULL);
}

static int g_released;
static void on_release(void *u) { g_released = *(int *)u; }

static void test_wrap_host(void) {
    static float mem[64];
    int tag = 7;
    mlxc_buffer *b = NULL;
    if (mlxc_device_backend(dev) != MLXC_BACKEND_CPU) {
        CHECK_ERR(mlxc_buffer_wrap_host(dev, mem, sizeof mem, MLXC_F32, 0, NULL, NULL, NULL, &b), MLXC_ERR_UNSUPPORTED);
        return;
    }
    mem[3] = 42.0f;
    g_released = 0;
    CHECK_OK(mlxc_buffer_wrap_host(dev, mem, sizeof mem, MLXC_F32, 0, NULL, on_release, &tag, &b));
    CHECK(mlxc_buffer_host_ptr(b) == mem);
    float v;
    CHECK_OK(mlxc_buffer_read(b, 12, &v, 4));
    CHECK(v == 42.0f);
    mlxc_buffer_release(b);
    CHECK_EQ_INT(g_released, 7);
    CHECK_ERR(mlxc_buffer_wrap_host(dev, NULL, 4, MLXC_F32, 0, NULL, NULL, NULL, &b), MLXC_ERR_INVALID_ARGUMENT);
}

static void test_pool(void) {
    mlxc_pool *p;
    CHECK_OK(mlxc_pool_create(dev, &p));
    mlxc_buffer *a, *b, *c;
    CHECK_OK(mlxc_pool_alloc(p, 1000, MLXC_U8, 0, NULL, &a));
    CHECK_EQ_INT(mlxc_buffer_bytes(a), 1000);
    CHECK_EQ_INT(mlxc_buffer_alloc_bytes(a), 1024);
    CHECK_OK(mlxc_pool_alloc(p, 3000, MLXC_U8, 0, NULL, &b));
    mlxc_pool_stats st;
    CHECK_OK(mlxc_pool_stats_get(p, &st));
    CHECK_EQ_INT(st.in_use_count, 2);
    CHECK_EQ_INT(st.in_use_bytes, 1024 + 4096);
    CHECK_EQ_INT(st.allocations, 2);
    uint64_t id_a = mlxc_buffer_alloc_id(a);
    CHECK_OK(mlxc_pool_reset(p));
    CHECK_OK(mlxc_pool_stats_get(p, &st));
    CHECK_EQ_INT(st.in_use_count, 0);
    CHECK_EQ_INT(st.free_count, 2);
    /* Same bucket is reused; another bucket allocates. */
    CHECK_OK(mlxc_pool_alloc(p, 600, MLXC_F32, 0, NULL, &c));
    CHECK(mlxc_buffer_alloc_id(c) == id_a);
    CHECK_OK(mlxc_pool_alloc(p, 70000, MLXC_U8, 0, NULL, &a));
    CHECK_OK(mlxc_pool_stats_get(p, &st));
    CHECK_EQ_INT(st.reuses, 1);
    CHECK_EQ_INT(st.allocations, 3);
    CHECK_OK(mlxc_pool_release(p, c));
    CHECK_OK(mlxc_pool_stats_get(p, &st));
    CHECK_EQ_INT(st.in_use_count, 1);
    mlxc_buffer *foreign = tu_alloc_f32(dev, 4);
    CHECK_ERR(mlxc_pool_release(p, foreign), MLXC_ERR_NOT_FOUND);
    mlxc_buffer_release(foreign);
    CHECK_ERR(mlxc_pool_alloc(p, 0, MLXC_U8, 0, NULL, &a), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_pool_alloc(NULL, 8, MLXC_U8, 0, NULL, &a), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_OK(mlxc_pool_trim(p));
    mlxc_pool_destroy(p);
}

static void test_kernel_registry(void) {
    const mlxc_kernel *k1, *k2, *k3, *k4;
    size_t before = mlxc_kernel_cache_size(dev);
    CHECK_OK(mlxc_kernel_get(dev, "add_f32", &k1));
    CHECK_OK(mlxc_kernel_get(dev, "add_f32", &k2));
    CHECK(k1 == k2);
    CHECK(strcmp(mlxc_kernel_name(k1), "add_f32") == 0);
    mlxc_constant c1[2] = {{0, MLXC_CONST_BOOL, 1}, {1, MLXC_CONST_INT, 32}};
    mlxc_constant c2[2] = {{0, MLXC_CONST_BOOL, 1}, {1, MLXC_CONST_INT, 64}};
    CHECK_OK(mlxc_kernel_get_specialized(dev, "add_f32", c1, 2, &k3));
    CHECK_OK(mlxc_kernel_get_specialized(dev, "add_f32", c2, 2, &k4));
    CHECK(k3 != k1 && k3 != k4);
    const mlxc_kernel *k5;
    CHECK_OK(mlxc_kernel_get_specialized(dev, "add_f32", c1, 2, &k5));
    CHECK(k5 == k3);
    CHECK_EQ_INT(mlxc_kernel_cache_size(dev), before + 3);
    const mlxc_kernel *bad = (const mlxc_kernel *)1;
    CHECK_ERR(mlxc_kernel_get(dev, "no_such_kernel", &bad), MLXC_ERR_NOT_FOUND);
    CHECK(bad == NULL);
    CHECK_ERR(mlxc_kernel_get(dev, "", &bad), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_kernel_get(dev, "bad name!", &bad), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_kernel_get(NULL, "add_f32", &bad), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_constant cbad = {0, (mlxc_constant_kind)5, 1};
    CHECK_ERR(mlxc_kernel_get_specialized(dev, "add_f32", &cbad, 1, &bad), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_kernel_get_specialized(dev, "add_f32", c1, 99, &bad), MLXC_ERR_INVALID_ARGUMENT);
    if (tu_is_cuda(dev)) {
        CHECK_ERR(mlxc_kernel_register_cpu(dev, "x", tu_cpu_inc_one, NULL), MLXC_ERR_UNSUPPORTED);
    } else {
        CHECK_ERR(mlxc_kernel_register_source(dev, "x", "extern \"C\" __global__ void x() {}", NULL), MLXC_ERR_UNSUPPORTED);
    }
}

/* A kernel registered at run time (the seed's increment kernel) runs, and
 * re-registering a name replaces it. */
static void test_runtime_kernel(void) {
    const mlxc_kernel *k = tu_kernel(dev, "inc_one");
    enum { N = 1000 };
    mlxc_buffer *in = tu_alloc_f32(dev, N), *out = tu_alloc_f32(dev, N);
    float h[N], got[N];
    tu_fill(h, N);
    CHECK_OK(mlxc_buffer_write(in, 0, h, sizeof h));
    tu_p_n p = {N};
    mlxc_arg args[3] = {mlxc_arg_buffer(in), mlxc_arg_buffer(out), mlxc_arg_bytes(&p, sizeof p)};
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    mlxc_dispatch d = {.kernel = k, .args = args, .nargs = 3, .grid = {7, 1, 1}, .block = {128, 1, 1}};
    CHECK_OK(mlxc_encoder_dispatch(enc, &d));
    CHECK_OK(mlxc_encoder_commit_and_wait(enc));
    mlxc_encoder_destroy(enc);
    CHECK_OK(mlxc_buffer_read(out, 0, got, sizeof got));
    int ok = 1;
    for (int i = 0; i < N; i++) ok &= got[i] == h[i] + 1.0f;
    CHECK(ok);
    mlxc_buffer_release(in);
    mlxc_buffer_release(out);
}

/* Dispatch validation: argument counts, kinds, sizes, NULLs, limits. */
static void test_dispatch_validation(void) {
    const mlxc_kernel *k;
    CHECK_OK(mlxc_kernel_get(dev, "add_f32", &k));
    mlxc_buffer *a = tu_alloc_f32(dev, 16);
    uint64_t n = 16;
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    mlxc_arg three[3] = {mlxc_arg_buffer(a), mlxc_arg_buffer(a), mlxc_arg_buffer(a)};
    mlxc_dispatch d = {.kernel = k, .args = three, .nargs = 3, .grid = {1, 1, 1}, .block = {32, 1, 1}};
    CHECK_ERR(mlxc_encoder_dispatch(enc, &d), MLXC_ERR_INVALID_ARGUMENT);            /* 3 of 4 args */
    mlxc_arg wrongkind[4] = {mlxc_arg_buffer(a), mlxc_arg_buffer(a), mlxc_arg_buffer(a), mlxc_arg_buffer(a)};
    d.args = wrongkind;
    d.nargs = 4;
    CHECK_ERR(mlxc_encoder_dispatch(enc, &d), MLXC_ERR_INVALID_ARGUMENT);            /* buffer for bytes */
    uint32_t small = 16;
    mlxc_arg wrongsize[4] = {mlxc_arg_buffer(a), mlxc_arg_buffer(a), mlxc_arg_buffer(a), mlxc_arg_bytes(&small, 4)};
    d.args = wrongsize;
    CHECK_ERR(mlxc_encoder_dispatch(enc, &d), MLXC_ERR_INVALID_ARGUMENT);            /* 4 bytes, wants 8 */
    mlxc_arg nullbuf[4] = {mlxc_arg_buffer(NULL), mlxc_arg_buffer(a), mlxc_arg_buffer(a), mlxc_arg_bytes(&n, 8)};
    d.args = nullbuf;
    CHECK_ERR(mlxc_encoder_dispatch(enc, &d), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_arg past[4] = {mlxc_arg_buffer_offset(a, 65), mlxc_arg_buffer(a), mlxc_arg_buffer(a), mlxc_arg_bytes(&n, 8)};
    d.args = past;
    CHECK_ERR(mlxc_encoder_dispatch(enc, &d), MLXC_ERR_OUT_OF_RANGE);
    mlxc_arg good[4] = {mlxc_arg_buffer(a), mlxc_arg_buffer(a), mlxc_arg_buffer(a), mlxc_arg_bytes(&n, 8)};
    d.args = good;
    d.block.x = 100000;
    CHECK_ERR(mlxc_encoder_dispatch(enc, &d), MLXC_ERR_INVALID_ARGUMENT);
    d.block.x = 32;
    d.shared_bytes = 1u << 30;
    CHECK_ERR(mlxc_encoder_dispatch(enc, &d), MLXC_ERR_INVALID_ARGUMENT);
    d.shared_bytes = 0;
    d.kernel = NULL;
    CHECK_ERR(mlxc_encoder_dispatch(enc, &d), MLXC_ERR_INVALID_ARGUMENT);
    d.kernel = k;
    d.grid_mode = (mlxc_grid_mode)9;
    CHECK_ERR(mlxc_encoder_dispatch(enc, &d), MLXC_ERR_INVALID_ARGUMENT);
    d.grid_mode = MLXC_GRID_THREADS;
    d.grid.x = 16;
    CHECK_OK(mlxc_encoder_dispatch(enc, &d));
    const mlxc_buffer *nulls[1] = {NULL};
    d.reads = nulls;
    d.nreads = 1;
    CHECK_ERR(mlxc_encoder_dispatch_tracked(enc, &d), MLXC_ERR_INVALID_ARGUMENT);
    d.nreads = 1000;
    CHECK_ERR(mlxc_encoder_dispatch_tracked(enc, &d), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_encoder_dispatch(NULL, &d), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_encoder_dispatch(enc, NULL), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_encoder_set_op_kind(enc, (mlxc_op_kind)999), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_encoder_barrier(NULL), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_encoder_commit_labeled(enc, ""), MLXC_ERR_INVALID_ARGUMENT);
    /* A buffer of another device. */
    mlxc_device *other;
    CHECK_OK(mlxc_device_open(MLXC_BACKEND_CPU, 0, &other));
    mlxc_buffer *ob = tu_alloc_f32(other, 16);
    mlxc_arg foreign[4] = {mlxc_arg_buffer(ob), mlxc_arg_buffer(a), mlxc_arg_buffer(a), mlxc_arg_bytes(&n, 8)};
    d.args = foreign;
    d.nreads = 0;
    CHECK_ERR(mlxc_encoder_dispatch(enc, &d), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_buffer_release(ob);
    mlxc_device_close(other);
    CHECK_OK(mlxc_encoder_commit_and_wait(enc));
    mlxc_encoder_destroy(enc);
    mlxc_buffer_release(a);
}

/* Encoder state errors: wait before commit, commit twice, dispatch after. */
static void test_encoder_states(void) {
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_ERR(mlxc_encoder_wait(enc), MLXC_ERR_STATE);
    uint64_t s, e;
    CHECK_ERR(mlxc_encoder_gpu_time(enc, &s, &e), MLXC_ERR_STATE);
    CHECK_ERR(mlxc_encoder_take_capture(enc, NULL), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_graph *g;
    CHECK_ERR(mlxc_encoder_take_capture(enc, &g), MLXC_ERR_STATE);
    CHECK_OK(mlxc_encoder_commit(enc));
    CHECK(mlxc_encoder_is_committed(enc));
    CHECK_ERR(mlxc_encoder_commit(enc), MLXC_ERR_STATE);
    mlxc_buffer *a = tu_alloc_f32(dev, 4);
    CHECK_ERR(mlxc_add(enc, a, a, a), MLXC_ERR_STATE);
    CHECK_OK(mlxc_encoder_wait(enc));
    CHECK_OK(mlxc_encoder_wait(enc)); /* waiting again is fine */
    CHECK_OK(mlxc_encoder_gpu_time(enc, &s, &e));
    CHECK(e >= s);
    mlxc_encoder_destroy(enc);
    mlxc_encoder_destroy(NULL);
    CHECK_ERR(mlxc_encoder_create(NULL, &enc), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_buffer_release(a);
}

/* Op front-ends reject dtype and shape mismatches. */
static void test_op_validation(void) {
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    mlxc_buffer *a = tu_alloc_f32(dev, 16), *b = tu_alloc_f32(dev, 8), *h, *i32;
    int64_t s16[1] = {16};
    CHECK_OK(mlxc_buffer_alloc(dev, 32, MLXC_F16, 1, s16, &h));
    CHECK_OK(mlxc_buffer_alloc(dev, 64, MLXC_I32, 1, s16, &i32));
    CHECK_ERR(mlxc_add(enc, a, b, a), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_add(enc, a, h, a), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_mul(enc, i32, i32, i32), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_add(enc, NULL, a, a), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_copy(enc, a, b), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_rms_norm(enc, a, NULL, a, 5, 1e-5f), MLXC_ERR_SHAPE);     /* 16 not rows of 5 */
    CHECK_ERR(mlxc_rms_norm(enc, a, b, a, 16, 1e-5f), MLXC_ERR_SHAPE);       /* weight 8 != 16 */
    CHECK_ERR(mlxc_rms_norm(enc, a, NULL, a, 0, 1e-5f), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_rms_norm(enc, a, NULL, h, 16, 1e-5f), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_rms_norm(enc, a, NULL, a, 16, -1.0f), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(mlxc_encoder_dispatch_count(enc), 0);
    mlxc_encoder_destroy(enc); /* uncommitted work is discarded */
    mlxc_buffer_release(a);
    mlxc_buffer_release(b);
    mlxc_buffer_release(h);
    mlxc_buffer_release(i32);
}

/* mlxc_buffer_write_queued is a step of the device's queue: a copy
 * committed before it (and not yet waited for) reads the old bytes, one
 * committed after it the new, and its source may be reused at once; 40
 * small writes in a row (more than the pinned slots) land in order; bad
 * sizes are refused. */
static void test_write_queued(void) {
    enum { N = 1024 }; /* 4096 bytes: the largest queued write */
    mlxc_buffer *src = tu_alloc_f32(dev, N), *d1 = tu_alloc_f32(dev, N), *d2 = tu_alloc_f32(dev, N);
    static float a[N], b[N], out[N];
    tu_fill(a, N);
    for (int i = 0; i < N; i++) b[i] = -a[i] - 1.0f;
    CHECK_OK(mlxc_buffer_write(src, 0, a, sizeof a));
    mlxc_encoder *e1 = NULL, *e2 = NULL;
    CHECK_OK(mlxc_encoder_create(dev, &e1));
    CHECK_OK(mlxc_encoder_create(dev, &e2));
    CHECK_OK(mlxc_copy(e1, src, d1));
    CHECK_OK(mlxc_encoder_commit(e1));
    CHECK_OK(mlxc_buffer_write_queued(src, 0, b, sizeof b));
    for (int i = 0; i < N; i++) b[i] = 7.0f; /* reused at once */
    CHECK_OK(mlxc_copy(e2, src, d2));
    CHECK_OK(mlxc_encoder_commit(e2));
    CHECK_OK(mlxc_encoder_wait(e1));
    CHECK_OK(mlxc_encoder_wait(e2));
    CHECK_OK(mlxc_buffer_read(d1, 0, out, sizeof out));
    CHECK_MSG(memcmp(out, a, sizeof out) == 0, "the copy committed before the queued write saw it");
    CHECK_OK(mlxc_buffer_read(d2, 0, out, sizeof out));
    int ok = 1;
    for (int i = 0; i < N; i++) ok &= out[i] == -a[i] - 1.0f;
    CHECK_MSG(ok, "the copy committed after the queued write did not see it");
    mlxc_encoder_destroy(e1);
    mlxc_encoder_destroy(e2);
    /* 40 writes of one float each, element i % 8, then a copy: the last
     * value of each element */
    for (int i = 0; i < 40; i++) {
        const float v = (float)i;
        CHECK_OK(mlxc_buffer_write_queued(src, (size_t)(i % 8) * 4, &v, 4));
    }
    CHECK_OK(mlxc_encoder_create(dev, &e1));
    CHECK_OK(mlxc_copy(e1, src, d1));
    CHECK_OK(mlxc_encoder_commit_and_wait(e1));
    mlxc_encoder_destroy(e1);
    CHECK_OK(mlxc_buffer_read(d1, 0, out, 8 * 4));
    for (int j = 0; j < 8; j++) CHECK_MSG(out[j] == (float)(32 + j), "element %d: %g after 40 queued writes", j, out[j]);
    CHECK_ERR(mlxc_buffer_write_queued(src, 0, a, MLXC_BUFFER_QUEUED_MAX + 4), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_buffer_write_queued(src, 4, a, MLXC_BUFFER_QUEUED_MAX), MLXC_ERR_OUT_OF_RANGE);
    CHECK_ERR(mlxc_buffer_write_queued(src, 0, a, 0), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_buffer_write_queued(NULL, 0, a, 4), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_buffer_release(src);
    mlxc_buffer_release(d1);
    mlxc_buffer_release(d2);
}

/* mlxc_buffer_read_queued is a step of the device's queue too: a read
 * queued before a committed copy sees the old bytes, one queued after it
 * the new; 20 reads after 20 queued writes see each value in turn, the 4
 * oldest tickets giving MLXC_ERR_STATE once their slots are reused; bad
 * sizes and tickets are refused. */
static void test_read_queued(void) {
    enum { N = 1024 };
    mlxc_buffer *src = tu_alloc_f32(dev, N), *d = tu_alloc_f32(dev, N);
    static float a[N], b[N], out[N];
    tu_fill(a, N);
    for (int i = 0; i < N; i++) b[i] = -a[i] - 1.0f;
    CHECK_OK(mlxc_buffer_write(d, 0, a, sizeof a));
    CHECK_OK(mlxc_buffer_write(src, 0, b, sizeof b));
    mlxc_read_ticket t1 = 0, t2 = 0;
    CHECK_OK(mlxc_buffer_read_queued(d, 0, sizeof a, &t1));
    mlxc_encoder *e = NULL;
    CHECK_OK(mlxc_encoder_create(dev, &e));
    CHECK_OK(mlxc_copy(e, src, d));
    CHECK_OK(mlxc_encoder_commit(e));
    CHECK_OK(mlxc_buffer_read_queued(d, 0, sizeof a, &t2));
    CHECK_MSG(t1 && t2 && t2 != t1, "tickets %llu, %llu", (unsigned long long)t1, (unsigned long long)t2);
    CHECK_OK(mlxc_buffer_read_wait(dev, t2, out, sizeof out));
    CHECK_MSG(memcmp(out, b, sizeof out) == 0, "the read queued after the copy did not see it");
    CHECK_OK(mlxc_buffer_read_wait(dev, t1, out, sizeof out));
    CHECK_MSG(memcmp(out, a, sizeof out) == 0, "the read queued before the copy saw it");
    CHECK_OK(mlxc_encoder_wait(e));
    mlxc_encoder_destroy(e);
    mlxc_read_ticket t[20];
    for (int i = 0; i < 20; i++) {
        const float v = (float)i;
        CHECK_OK(mlxc_buffer_write_queued(d, 8, &v, 4));
        CHECK_OK(mlxc_buffer_read_queued(d, 8, 4, &t[i]));
    }
    for (int i = 0; i < 20; i++) {
        float v = -1.0f;
        if (i < 20 - MLXC_BUFFER_READ_SLOTS) {
            CHECK_ERR(mlxc_buffer_read_wait(dev, t[i], &v, 4), MLXC_ERR_STATE);
            continue;
        }
        CHECK_OK(mlxc_buffer_read_wait(dev, t[i], &v, 4));
        CHECK_MSG(v == (float)i, "read %d saw %g", i, v);
    }
    mlxc_read_ticket tb = 0;
    CHECK_ERR(mlxc_buffer_read_queued(d, 0, 0, &tb), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_buffer_read_queued(d, 0, MLXC_BUFFER_QUEUED_MAX + 4, &tb), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_buffer_read_queued(d, sizeof a - 4, 8, &tb), MLXC_ERR_OUT_OF_RANGE);
    CHECK_ERR(mlxc_buffer_read_queued(d, 0, 4, NULL), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_buffer_read_queued(NULL, 0, 4, &tb), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_buffer_read_wait(dev, t[19], out, 8), MLXC_ERR_INVALID_ARGUMENT); /* it read 4 bytes */
    CHECK_ERR(mlxc_buffer_read_wait(dev, 0, out, 4), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_buffer_read_wait(dev, t[19] + 100, out, 4), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_buffer_read_wait(NULL, t[19], out, 4), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_buffer_release(src);
    mlxc_buffer_release(d);
}

int main(void) {
    dev = tu_open();
    printf("device: %s\n", mlxc_device_name(dev));
    RUN(test_status_and_dtypes);
    RUN(test_half_conversions);
    RUN(test_device);
    RUN(test_buffers);
    RUN(test_wrap_host);
    RUN(test_pool);
    RUN(test_kernel_registry);
    RUN(test_runtime_kernel);
    RUN(test_dispatch_validation);
    RUN(test_encoder_states);
    RUN(test_op_validation);
    RUN(test_write_queued);
    RUN(test_read_queued);
    mlxc_device_close(dev);
    HARNESS_END();
}
