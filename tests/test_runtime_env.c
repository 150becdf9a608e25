/* Environment flags read once per process (tests/runtime.cmake sets
 * MLXC_AUTO_BARRIER=1, MLXC_UNRETAINED_REFS=1, MLXC_CPU_THREADS=3,
 * MLXC_BACKEND=cpu for this program). */
#include "core/internal.h"
#include "test_util.h"

static void test_flags(void) {
    mlxc_env_flags f;
    mlxc_env_get(&f);
    CHECK(f.auto_barrier);
    CHECK(f.unretained_refs);
    CHECK_EQ_INT(f.cpu_threads, 3);
    CHECK_EQ_INT(f.backend, MLXC_BACKEND_CPU);
    CHECK(!f.profile_cb && !f.profile_dispatch);
}

static void test_effects(void) {
    mlxc_device *dev;
    CHECK_OK(mlxc_device_open(MLXC_BACKEND_AUTO, 0, &dev)); /* MLXC_BACKEND=cpu */
    CHECK(mlxc_device_backend(dev) == MLXC_BACKEND_CPU);
    mlxc_device_caps c;
    CHECK_OK(mlxc_device_caps_get(dev, &c));
    CHECK_EQ_INT(c.compute_units, 3);
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK(mlxc_encoder_auto_barrier(enc)); /* default from the environment */
    mlxc_buffer *a = tu_alloc_f32(dev, 64), *b = tu_alloc_f32(dev, 64);
    mlxc_counters c0, c1;
    mlxc_counters_get(&c0);
    CHECK_OK(mlxc_add(enc, a, a, b));
    CHECK_OK(mlxc_add(enc, b, b, a));
    mlxc_counters_get(&c1);
    CHECK_EQ_INT(c1.auto_barrier - c0.auto_barrier, 1);
    /* Unretained: the command buffer holds no extra reference. */
    CHECK_EQ_INT(atomic_load(&a->st->refs), 1);
    CHECK_OK(mlxc_encoder_commit_and_wait(enc));
    mlxc_encoder_destroy(enc);
    mlxc_buffer_release(a);
    mlxc_buffer_release(b);
    mlxc_device_close(dev);
}

int main(void) {
    RUN(test_flags);
    RUN(test_effects);
    HARNESS_END();
}
