/* The README's ten-line example, compiled and checked. */
#include <math.h>

#include "test_util.h"

static void test_readme(void) {
    mlxc_device *dev;  mlxc_encoder *enc;  mlxc_buffer *x, *w, *y;
    int64_t shape[2] = {4, 1024}, wshape[1] = {1024};
    dev = tu_open(); /* mlxc_device_open(MLXC_BACKEND_AUTO, 0, &dev), skipping a CUDA run without a GPU */
    CHECK_OK(mlxc_buffer_alloc(dev, 4 * 1024 * 4, MLXC_F32, 2, shape, &x));
    CHECK_OK(mlxc_buffer_alloc(dev, 1024 * 4, MLXC_F32, 1, wshape, &w));
    CHECK_OK(mlxc_buffer_alloc(dev, 4 * 1024 * 4, MLXC_F32, 2, shape, &y));
    static float hx[4 * 1024], hw[1024], hy[4 * 1024];
    tu_fill(hx, 4 * 1024);
    tu_fill(hw, 1024);
    CHECK_OK(mlxc_buffer_write(x, 0, hx, sizeof hx));
    CHECK_OK(mlxc_buffer_write(w, 0, hw, sizeof hw));
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_OK(mlxc_encoder_set_auto_barrier(enc, true));
    CHECK_OK(mlxc_rms_norm(enc, x, w, y, 1024, 1e-5f));
    CHECK_OK(mlxc_add(enc, y, x, y));
    CHECK_OK(mlxc_encoder_commit_and_wait_labeled(enc, "block"));
    CHECK_OK(mlxc_buffer_read(y, 0, hy, sizeof hy));
    /* Against a double-precision reference. */
    double err = 0, ref2 = 0;
    for (int r = 0; r < 4; r++) {
        double ss = 0;
        for (int i = 0; i < 1024; i++) ss += (double)hx[r * 1024 + i] * hx[r * 1024 + i];
        double inv = 1.0 / sqrt(ss / 1024 + 1e-5);
        for (int i = 0; i < 1024; i++) {
            double want = hx[r * 1024 + i] * inv * hw[i] + hx[r * 1024 + i];
            err += (hy[r * 1024 + i] - want) * (hy[r * 1024 + i] - want);
            ref2 += want * want;
        }
    }
    CHECK_MSG(sqrt(err / ref2) < 1e-6, "normalized error %g", sqrt(err / ref2));
    mlxc_encoder_destroy(enc);
    mlxc_buffer_release(x);
    mlxc_buffer_release(w);
    mlxc_buffer_release(y);
    mlxc_device_close(dev);
}

int main(void) {
    RUN(test_readme);
    HARNESS_END();
}
