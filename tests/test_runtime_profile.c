/* Profiling (run with MLXC_PROFILE_CB=1 MLXC_PROFILE_DISPATCH=1 MLXC_PROFILE_BARRIERS=1,
 * set by tests/runtime.cmake): per-label command-buffer times, per-dispatch
 * entries grouped by label with per-CB indices and op kinds, and the trace. */
#include <jansson.h>

#include "test_util.h"

static mlxc_device *dev;

static void two_dispatches(const char *label, mlxc_op_kind first_kind) {
    mlxc_buffer *a = tu_alloc_f32(dev, 256), *b = tu_alloc_f32(dev, 256);
    const mlxc_kernel *k = tu_kernel(dev, "inc_one");
    tu_p_n p = {256};
    mlxc_arg args[3] = {mlxc_arg_buffer(a), mlxc_arg_buffer(b), mlxc_arg_bytes(&p, sizeof p)};
    mlxc_dispatch d = {.kernel = k, .args = args, .nargs = 3, .grid = {8, 1, 1}, .block = {32, 1, 1}};
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_OK(mlxc_encoder_set_op_kind(enc, first_kind));
    CHECK_OK(mlxc_encoder_dispatch(enc, &d));
    CHECK_OK(mlxc_encoder_barrier(enc));
    CHECK_OK(mlxc_encoder_dispatch(enc, &d));
    CHECK_OK(mlxc_encoder_commit_and_wait_labeled(enc, label));
    mlxc_encoder_destroy(enc);
    mlxc_buffer_release(a);
    mlxc_buffer_release(b);
}

static void test_env_flags(void) {
    mlxc_env_flags f;
    mlxc_env_get(&f);
    CHECK(f.profile_cb && f.profile_dispatch && f.profile_barriers);
    CHECK(mlxc_profile_cb_enabled() && mlxc_profile_dispatch_enabled());
}

static void test_dispatch_entries(void) {
    mlxc_profile_reset();
    two_dispatches("test.profile.cb", MLXC_OP_OTHER);
    mlxc_profile_dispatch_entry e[8];
    memset(e, 0, sizeof e);
    size_t n = mlxc_profile_dispatch_entries(e, 8);
    CHECK_EQ_INT(n, 2);
    for (size_t i = 0; i < n && i < 2; i++) {
        CHECK(strcmp(e[i].cb_label, "test.profile.cb") == 0);
        CHECK_EQ_INT(e[i].dispatch_index, i);
        CHECK(e[i].end_ns >= e[i].start_ns);
        CHECK(e[i].gpu_ns == e[i].end_ns - e[i].start_ns);
        CHECK(strcmp(e[i].op_kind, "Other") == 0);
        CHECK(strcmp(e[i].kernel, "inc_one") == 0);
    }
    if (n == 2) CHECK(e[1].start_ns >= e[0].end_ns); /* serialised while profiling */
    mlxc_profile_cb_entry c[4];
    size_t nc = mlxc_profile_cb_entries(c, 4);
    CHECK_EQ_INT(nc, 1);
    CHECK(strcmp(c[0].label, "test.profile.cb") == 0);
    CHECK_EQ_INT(c[0].count, 1);
    CHECK(c[0].min_ns <= c[0].max_ns && c[0].total_ns == c[0].min_ns);
    uint64_t sum = n == 2 ? e[0].gpu_ns + e[1].gpu_ns : 0;
    CHECK_MSG(c[0].total_ns + 1000000 >= sum, "cb total %" PRIu64 " vs dispatch sum %" PRIu64, c[0].total_ns, sum);
}

static void test_grouped_by_label(void) {
    mlxc_profile_reset();
    two_dispatches("test.cb.alpha", MLXC_OP_OTHER);
    two_dispatches("test.cb.beta", MLXC_OP_OTHER);
    two_dispatches("test.cb.alpha", MLXC_OP_OTHER);
    mlxc_profile_dispatch_entry e[16];
    size_t n = mlxc_profile_dispatch_entries(e, 16);
    CHECK_EQ_INT(n, 6);
    /* alpha first (first seen), all four of its entries, then beta. */
    const char *want[6] = {"test.cb.alpha", "test.cb.alpha", "test.cb.alpha", "test.cb.alpha", "test.cb.beta", "test.cb.beta"};
    uint32_t idx[6] = {0, 1, 0, 1, 0, 1};
    for (int i = 0; i < 6 && (size_t)i < n; i++) {
        CHECK_MSG(strcmp(e[i].cb_label, want[i]) == 0, "entry %d label %s", i, e[i].cb_label);
        CHECK_EQ_INT(e[i].dispatch_index, idx[i]);
    }
    mlxc_profile_cb_entry c[4];
    CHECK_EQ_INT(mlxc_profile_cb_entries(c, 4), 2);
    CHECK(strcmp(c[0].label, "test.cb.alpha") == 0 || c[0].total_ns >= c[1].total_ns);
    CHECK(c[0].total_ns >= c[1].total_ns);
    CHECK_EQ_INT(mlxc_profile_cb_entries(NULL, 0), 2);
}

static void test_op_kind_propagates(void) {
    mlxc_profile_reset();
    two_dispatches("test.opkind.cb", MLXC_OP_SDPA);
    mlxc_profile_dispatch_entry e[4];
    CHECK_EQ_INT(mlxc_profile_dispatch_entries(e, 4), 2);
    CHECK(strcmp(e[0].op_kind, "Sdpa") == 0);
    CHECK(strcmp(e[1].op_kind, "Other") == 0); /* next dispatch only */
}

static void test_commit_labeled_waits_while_profiling(void) {
    mlxc_counters c0, c1;
    mlxc_counters_get(&c0);
    mlxc_buffer *x = tu_alloc_f32(dev, 64);
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_OK(mlxc_add(enc, x, x, x));
    CHECK_OK(mlxc_encoder_barrier(enc));
    CHECK_OK(mlxc_add(enc, x, x, x));
    CHECK_OK(mlxc_encoder_commit_labeled(enc, "profile.async"));
    uint64_t s, e;
    CHECK_OK(mlxc_encoder_gpu_time(enc, &s, &e)); /* completed already */
    mlxc_encoder_destroy(enc);
    mlxc_counters_get(&c1);
    CHECK_EQ_INT(c1.sync - c0.sync, 1);
    CHECK(c1.barrier_ns > c0.barrier_ns); /* MLXC_PROFILE_BARRIERS=1 */
    mlxc_buffer_release(x);
}

static void test_trace(void) {
    mlxc_profile_reset();
    two_dispatches("trace.cb", MLXC_OP_RMS_NORM);
    char path[512];
    snprintf(path, sizeof path, "%s/profile_trace.json", MLXC_BINARY_DIR);
    CHECK_OK(mlxc_profile_write_trace(path));
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    CHECK_MSG(root != NULL, "trace is not valid JSON: %s", err.text);
    if (root) {
        json_t *ev = json_object_get(root, "traceEvents");
        CHECK(json_is_array(ev));
        size_t complete = 0, dispatches = 0;
        for (size_t i = 0; i < json_array_size(ev); i++) {
            json_t *e = json_array_get(ev, i);
            const char *ph = json_string_value(json_object_get(e, "ph"));
            if (ph && strcmp(ph, "X") == 0) {
                complete++;
                CHECK(json_real_value(json_object_get(e, "dur")) >= 0.0);
                const char *cat = json_string_value(json_object_get(e, "cat"));
                if (cat && strcmp(cat, "RmsNorm") == 0) dispatches++;
            }
        }
        CHECK_EQ_INT(complete, 3); /* one command buffer, two dispatches */
        CHECK_EQ_INT(dispatches, 1);
        json_decref(root);
    }
    CHECK_ERR(mlxc_profile_write_trace("/nonexistent-dir/x.json"), MLXC_ERR_IO);
    CHECK_ERR(mlxc_profile_write_trace(NULL), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_profile_reset();
    CHECK_EQ_INT(mlxc_profile_dispatch_entries(NULL, 0), 0);
    CHECK_EQ_INT(mlxc_profile_cb_entries(NULL, 0), 0);
}

int main(void) {
    /* The flags are read once, at the first mlxc call: set them before it so
     * the program also works outside ctest (ctest sets them too). */
    setenv("MLXC_PROFILE_CB", "1", 1);
    setenv("MLXC_PROFILE_DISPATCH", "1", 1);
    setenv("MLXC_PROFILE_BARRIERS", "1", 1);
    dev = tu_open();
    RUN(test_env_flags);
    RUN(test_dispatch_entries);
    RUN(test_grouped_by_label);
    RUN(test_op_kind_propagates);
    RUN(test_commit_labeled_waits_while_profiling);
    RUN(test_trace);
    mlxc_device_close(dev);
    HARNESS_END();
}
