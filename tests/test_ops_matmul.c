/* Dense matmul (include/mlxc/ops_matmul.h) on the CPU device against a
 * double-precision reference: every (w, x, y) dtype combination (f16 x with
 * f16 w too), m = 1..8
 * (the mat-vec) and 33 (the GEMM), n and k off every tile size, k = 1 and a
 * long k; fresh random inputs (never zero), outputs poisoned with NaN first,
 * the normalized error bounded per output dtype (f32 1e-5, bf16 8e-3: the
 * one rounding of the result).  Also: the kernels under odd grids give the
 * same bits, the GEMM of m <= 8 rows equals the mat-vec bit for bit, and
 * the front-end's errors. */
#include "kernels/params_matmul.h"
#include "mlxc/ops_matmul.h"
#include "ops_test.h"

static mlxc_device *dev;

static const mlxc_dtype k_w[3] = {MLXC_F32, MLXC_F16, MLXC_BF16};
static const mlxc_dtype k_xy[2] = {MLXC_F32, MLXC_BF16};

static double mm_tol(mlxc_dtype y) { return y == MLXC_F32 ? 1e-5 : 8e-3; }

/* ref (m, n) = x (m, k) . w (n, k)^T in double, from the stored values. */
static void mm_ref(const ot_buf *x, const ot_buf *w, double *ref, uint32_t m, uint32_t n, uint32_t k) {
    for (uint32_t i = 0; i < m; i++)
        for (uint32_t j = 0; j < n; j++) {
            double s = 0;
            for (uint32_t q = 0; q < k; q++) s += x->h[(size_t)i * k + q] * w->h[(size_t)j * k + q];
            ref[(size_t)i * n + j] = s;
        }
}

static void mm_one(uint32_t m, uint32_t n, uint32_t k, mlxc_dtype wd, mlxc_dtype xd, mlxc_dtype yd) {
    ot_buf x = ot_rand(dev, xd, (size_t)m * k, -1, 1);
    ot_buf w = ot_rand(dev, wd, (size_t)n * k, -1, 1);
    ot_buf y = ot_out(dev, yd, (size_t)m * n);
    double *ref = malloc((size_t)m * n * sizeof *ref);
    mm_ref(&x, &w, ref, m, n, k);
    OT_RUN(dev, mlxc_matmul(enc, x.b, w.b, y.b, m, n, k));
    ot_download(&y);
    OT_CLOSE(&y, ref, mm_tol(yd), "m=%u n=%u k=%u w %s x %s y %s", m, n, k, mlxc_dtype_name(wd),
             mlxc_dtype_name(xd), mlxc_dtype_name(yd));
    free(ref);
    ot_free(&x);
    ot_free(&w);
    ot_free(&y);
}

static void mm_case(uint32_t m, uint32_t n, uint32_t k) {
    for (int wi = 0; wi < 3; wi++)
        for (int xi = 0; xi < 2; xi++)
            for (int yi = 0; yi < 2; yi++) mm_one(m, n, k, k_w[wi], k_xy[xi], k_xy[yi]);
    /* f16 x goes with f16 w only */
    for (int yi = 0; yi < 2; yi++) mm_one(m, n, k, MLXC_F16, MLXC_F16, k_xy[yi]);
}

static const struct { uint32_t n, k; } k_nk[] = {{1, 1}, {7, 1}, {5, 3}, {67, 129}, {130, 257}, {33, 1000}, {3, 4099}, {65, 64}};

static void matvec_shapes(void) {
    for (uint32_t m = 1; m <= 8; m++)
        for (size_t s = 0; s < sizeof k_nk / sizeof *k_nk; s++) mm_case(m, k_nk[s].n, k_nk[s].k);
    mm_case(1, 9, 20011); /* long k: many k blocks */
}

static void gemm_shapes(void) {
    for (size_t s = 0; s < sizeof k_nk / sizeof *k_nk; s++) mm_case(33, k_nk[s].n, k_nk[s].k);
    mm_case(9, 70, 300);
    mm_case(100, 131, 513);
    mm_case(35, 5, 9001);
}

/* Dispatch kernel `name` by hand with the given grid. */
static void raw(const char *name, ot_buf *x, ot_buf *w, ot_buf *y, uint32_t m, uint32_t n, uint32_t k, uint32_t grid) {
    const mlxc_kernel *kern = NULL;
    CHECK_OK(mlxc_kernel_get(dev, name, &kern));
    if (!kern) return;
    mlxc_p_matmul p = {m, n, k, 0};
    mlxc_arg args[4] = {mlxc_arg_buffer(x->b), mlxc_arg_buffer(w->b), mlxc_arg_buffer(y->b),
                        mlxc_arg_bytes(&p, sizeof p)};
    mlxc_dispatch d = {.kernel = kern, .args = args, .nargs = 4, .grid = {grid, 1, 1}, .block = {64, 1, 1}};
    OT_RUN(dev, mlxc_encoder_dispatch(enc, &d));
    ot_download(y);
}

/* Any grid covers the work with the same bits; the GEMM of m <= 8 rows
 * equals the mat-vec. */
static void launch_shapes(void) {
    const uint32_t m = 5, n = 200, k = 777;
    ot_buf x = ot_rand(dev, MLXC_BF16, (size_t)m * k, -1, 1), w = ot_rand(dev, MLXC_F16, (size_t)n * k, -1, 1);
    ot_buf y = ot_out(dev, MLXC_F32, (size_t)m * n);
    OT_RUN(dev, mlxc_matmul(enc, x.b, w.b, y.b, m, n, k));
    ot_download(&y);
    double *want = malloc((size_t)m * n * sizeof *want);
    memcpy(want, y.h, (size_t)m * n * sizeof *want);
    static const uint32_t grids[] = {1, 2, 3, 4, 1000};
    for (size_t g = 0; g < sizeof grids / sizeof *grids; g++) {
        ot_poison(&y);
        raw("matvec_f16_bf16_f32", &x, &w, &y, m, n, k, grids[g]);
        OT_EXACT(&y, want, "matvec grid %u", grids[g]);
        ot_poison(&y);
        raw("gemm_f16_bf16_f32", &x, &w, &y, m, n, k, grids[g]);
        OT_EXACT(&y, want, "gemm (m=%u) grid %u", m, grids[g]);
    }
    free(want);
    ot_free(&x);
    ot_free(&w);
    ot_free(&y);
}

static mlxc_buffer *alloc(mlxc_dtype dt, int64_t n) {
    mlxc_buffer *b = NULL;
    if (mlxc_buffer_alloc(dev, (size_t)n * mlxc_dtype_size(dt), dt, 1, &n, &b) != MLXC_OK) exit(1);
    return b;
}

static void errors(void) {
    mlxc_buffer *x = alloc(MLXC_F32, 64), *w = alloc(MLXC_BF16, 128), *y = alloc(MLXC_F32, 32);
    mlxc_buffer *xh = alloc(MLXC_F16, 64), *wi = alloc(MLXC_I32, 128), *raw8 = alloc(MLXC_U8, 1024);
    mlxc_buffer *wh = alloc(MLXC_F16, 128), *wf = alloc(MLXC_F32, 128);
    mlxc_encoder *enc = NULL;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    if (!enc) return;
    /* x (4, 16), w (8, 16), y (4, 8) */
    CHECK_OK(mlxc_matmul(enc, x, w, y, 4, 8, 16));
    CHECK_ERR(mlxc_matmul(enc, NULL, w, y, 4, 8, 16), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_matmul(enc, x, w, y, 0, 8, 16), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_matmul(enc, x, w, y, 4, 8, 0), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_matmul(enc, xh, w, y, 4, 8, 16), MLXC_ERR_DTYPE);  /* f16 x, bf16 w */
    CHECK_ERR(mlxc_matmul(enc, xh, wf, y, 4, 8, 16), MLXC_ERR_DTYPE); /* f16 x, f32 w */
    CHECK_OK(mlxc_matmul(enc, xh, wh, y, 4, 8, 16));                  /* f16 x, f16 w */
    CHECK_ERR(mlxc_matmul(enc, xh, wh, xh, 4, 2, 16), MLXC_ERR_DTYPE); /* y f16 */
    CHECK_ERR(mlxc_matmul(enc, x, wi, y, 4, 8, 16), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_matmul(enc, x, w, xh, 4, 8, 16), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_matmul(enc, x, w, y, 4, 8, 15), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_matmul(enc, x, w, y, 2, 8, 32), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_matmul(enc, x, w, y, 4, 16, 8), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_matmul(enc, x, w, x, 4, 8, 16), MLXC_ERR_SHAPE);
    /* A view of x's bytes as y: overlap. */
    mlxc_buffer *yx = NULL, *mis = NULL;
    int64_t s32[1] = {32};
    CHECK_OK(mlxc_buffer_view(x, 0, MLXC_F32, 1, s32, &yx));
    if (yx) CHECK_ERR(mlxc_matmul(enc, x, w, yx, 4, 8, 16), MLXC_ERR_INVALID_ARGUMENT);
    /* An f32 view two bytes into a byte buffer: misaligned. */
    if (mlxc_buffer_view(raw8, 2, MLXC_F32, 1, s32, &mis) == MLXC_OK)
        CHECK_ERR(mlxc_matmul(enc, x, w, mis, 4, 8, 16), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_buffer_release(yx);
    mlxc_buffer_release(mis);
    CHECK_OK(mlxc_encoder_commit_and_wait(enc));
    mlxc_encoder_destroy(enc);
    mlxc_buffer_release(x); mlxc_buffer_release(w); mlxc_buffer_release(y);
    mlxc_buffer_release(xh); mlxc_buffer_release(wi); mlxc_buffer_release(raw8);
    mlxc_buffer_release(wh); mlxc_buffer_release(wf);
}

int main(void) {
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &dev) != MLXC_OK) {
        fprintf(stderr, "cannot open the CPU device: %s\n", mlxc_last_error());
        return 1;
    }
    RUN(errors);
    RUN(launch_shapes);
    RUN(matvec_shapes);
    RUN(gemm_shapes);
    mlxc_device_close(dev);
    HARNESS_END();
}
