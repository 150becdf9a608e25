/* Quantized matmul (include/mlxc/ops_qmatmul.h) on the CPU device against a
 * double-precision reference (every weight element dequantized by its own
 * index, tests/qmatmul_test.h, then a double dot): every format, m = 1..8
 * (mat-vec), 9 and 33 (mat-mat), k a multiple of 256 and not (where the
 * format allows), odd n; fresh random inputs, outputs poisoned with NaN,
 * the error bounded per output dtype (f32: 1e-6 of the sums of |x w|, the
 * f32 dequantize and sum's roundings; bf16: 8e-3 of the result, its one
 * rounding).  Also:
 * any grid gives the same bits, and every error the front-end reports. */
#include "kernels/params_qmatmul.h"
#include "mlxc/ops_moe.h"
#include "mlxc/ops_sample.h"
#include "qmatmul_test.h"

static mlxc_device *dev;

#define QT_TOL_BF16 8e-3
/* f32 y: ||y - ref|| / ||sum |x w| ||, a few f32 roundings of each sum's
 * terms at most (k <= 768: 96 additions a lane) */
#define QT_TOL_F32_ABS 1e-6

static void qcase(const qt_format *f, uint32_t m, uint32_t n, uint32_t k, mlxc_dtype xd, mlxc_dtype yd) {
    qt_weight w = qt_weight_rand(*f, n, k);
    qt_dev_weight dw = qt_upload(dev, &w);
    ot_buf x = ot_rand(dev, xd, (size_t)m * k, -1, 1), y = ot_out(dev, yd, (size_t)m * n);
    double *wd = malloc((size_t)k * sizeof *wd), *ref = malloc((size_t)m * n * sizeof *ref);
    double err2 = 0, mag2 = 0; /* f32 y: the error against the sums of |x w| */
    for (uint32_t j = 0; j < n; j++) {
        for (uint32_t q = 0; q < k; q++) wd[q] = qt_elem(&w, j, q);
        for (uint32_t i = 0; i < m; i++) {
            double s = 0, a = 0;
            for (uint32_t q = 0; q < k; q++) s += x.h[(size_t)i * k + q] * wd[q], a += fabs(x.h[(size_t)i * k + q] * wd[q]);
            ref[(size_t)i * n + j] = s;
            mag2 += a * a;
        }
    }
    char lab[48];
    /* The reference's weights against the format layer's dequantize: equal
     * up to f32 rounding, or up to the scales' rounding where mx.dequantize
     * rounds an affine value to f16 / bf16 (the op keeps it in f32). */
    float *lw = malloc((size_t)n * k * sizeof *lw);
    if (lw) {
        CHECK_OK(qt_layer_dequantize(&w, lw));
        double num = 0, den = 0;
        for (uint32_t j = 0; j < n; j++)
            for (uint32_t q = 0; q < k; q++) {
                const double a = qt_elem(&w, j, q), d = lw[(size_t)j * k + q];
                num += (a - d) * (a - d), den += d * d;
            }
        const double e = sqrt(num / (den > 0 ? den : 1));
        const double bound = f->f == MLXC_QF_MLX_AFFINE && f->sdt != MLXC_F32 ? 4e-3 : 1e-7;
        if (!(e <= bound)) {
            fprintf(stderr, "  FAIL [%s]: the reference dequantizes %s unlike the format layer: nerr %.3g\n",
                    th_current, qt_label(f, lab, sizeof lab), e);
            th_checks_failed_in_test++;
        }
    }
    free(lw);
    OT_RUN(dev, mlxc_qmatmul(enc, x.b, &dw.w, y.b, m, n, k));
    ot_download(&y);
    if (yd == MLXC_BF16) {
        OT_CLOSE(&y, ref, QT_TOL_BF16, "%s m=%u n=%u k=%u x %s y %s", qt_label(f, lab, sizeof lab), m, n, k,
                 mlxc_dtype_name(xd), mlxc_dtype_name(yd));
    } else {
        /* An f32 sum's rounding error is bounded by the sum of |x w|, not by
         * |sum|, which cancellation can make small (one output of k = 256
         * random terms now and then lies far below their typical size) */
        for (size_t i = 0; i < (size_t)m * n; i++) {
            const double d = y.h[i] - ref[i];
            err2 += isnan(d) ? INFINITY : d * d;
        }
        const double e = sqrt(err2 / (mag2 > 0 ? mag2 : 1));
        if (!(e <= QT_TOL_F32_ABS)) {
            fprintf(stderr, "  FAIL [%s]: error %.3g of the sums of |x w| > %.3g: %s m=%u n=%u k=%u x %s y f32\n",
                    th_current, e, QT_TOL_F32_ABS, qt_label(f, lab, sizeof lab), m, n, k, mlxc_dtype_name(xd));
            th_checks_failed_in_test++;
        }
    }
    free(wd);
    free(ref);
    ot_free(&x);
    ot_free(&y);
    qt_dev_free(&dw);
    qt_weight_free(&w);
}

/* k values for a format: 256-multiples and, where the group allows, not. */
static size_t qt_ks(const qt_format *f, uint32_t ks[4]) {
    size_t c = 0;
    ks[c++] = 256;
    ks[c++] = 768;
    if (f->group < 256) ks[c++] = 3 * f->group;      /* 96, 192, 384, 48 */
    if (f->group <= 32) ks[c++] = 256 + 5 * f->group; /* 416, 336 */
    return c;
}

static void all_formats(void) {
    static const uint32_t ms[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 33};
    static const uint32_t ns[] = {1, 7, 37};
    static const mlxc_dtype dts[2] = {MLXC_F32, MLXC_BF16};
    unsigned combo = 0;
    for (size_t fi = 0; fi < QT_NFORMATS; fi++) {
        uint32_t ks[4];
        const size_t nk = qt_ks(&qt_formats[fi], ks);
        for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
            for (size_t ki = 0; ki < nk; ki++, combo++)
                qcase(&qt_formats[fi], ms[mi], ns[(mi + ki) % 3], ks[ki], dts[combo % 2], dts[(combo / 2) % 2]);
    }
}

/* A tall one with many CPU tiles in both directions. */
static void large(void) {
    const qt_format f4 = {MLXC_QF_Q4_K, 0, 256, MLXC_U8}, a4 = {MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16};
    qcase(&f4, 70, 131, 1024, MLXC_BF16, MLXC_F32);
    qcase(&a4, 8, 300, 2048 + 64, MLXC_F32, MLXC_F32);
}

/* Any grid covers the work with the same bits, qmv and qmm alike. */
static void launch_shapes(void) {
    const qt_format f = {MLXC_QF_Q6_K, 0, 256, MLXC_U8};
    const uint32_t m = 5, n = 100, k = 512;
    qt_weight w = qt_weight_rand(f, n, k);
    qt_dev_weight dw = qt_upload(dev, &w);
    ot_buf x = ot_rand(dev, MLXC_F32, (size_t)m * k, -1, 1), y = ot_out(dev, MLXC_F32, (size_t)m * n);
    OT_RUN(dev, mlxc_qmatmul(enc, x.b, &dw.w, y.b, m, n, k));
    ot_download(&y);
    double *want = malloc((size_t)m * n * sizeof *want);
    memcpy(want, y.h, (size_t)m * n * sizeof *want);
    mlxc_p_qmatmul p = {m, n, k, MLXC_QMMF_Q6_K, 0, 256, 0, (uint32_t)w.row_bytes};
    static const char *const names[2] = {"qmv_q6_k_f32_f32", "qmm_q6_k_f32_f32"};
    static const uint32_t grids[] = {1, 2, 3, 1000};
    for (int nm = 0; nm < 2; nm++)
        for (size_t g = 0; g < sizeof grids / sizeof *grids; g++) {
            const mlxc_kernel *kern = NULL;
            CHECK_OK(mlxc_kernel_get(dev, names[nm], &kern));
            if (!kern) continue;
            ot_poison(&y);
            mlxc_arg args[6] = {mlxc_arg_buffer(x.b),    mlxc_arg_buffer(dw.data), mlxc_arg_buffer(dw.data),
                                mlxc_arg_buffer(dw.data), mlxc_arg_buffer(y.b),    mlxc_arg_bytes(&p, sizeof p)};
            mlxc_dispatch d = {.kernel = kern, .args = args, .nargs = 6, .grid = {grids[g], 1, 1}, .block = {1, 1, 1}};
            OT_RUN(dev, mlxc_encoder_dispatch(enc, &d));
            ot_download(&y);
            OT_EXACT(&y, want, "%s grid %u", names[nm], grids[g]);
        }
    free(want);
    ot_free(&x);
    ot_free(&y);
    qt_dev_free(&dw);
    qt_weight_free(&w);
}

/* Rows of the table dequantized, through ids (one past the table: zeros)
 * and without (the whole matrix), every format, f32 and bf16 out. */
static void gather(void) {
    for (size_t fi = 0; fi < QT_NFORMATS; fi++) {
        const qt_format *f = &qt_formats[fi];
        const uint32_t n = 13, k = f->group < 256 ? 5 * f->group : 512;
        qt_weight w = qt_weight_rand(*f, n, k);
        qt_dev_weight dw = qt_upload(dev, &w);
        static const uint32_t idv[5] = {3, 0, 13 + 5, 12, 3};
        ot_buf ids = ot_alloc(dev, MLXC_U32, 5);
        for (int i = 0; i < 5; i++) ids.h[i] = idv[i];
        ot_upload(&ids);
        char lab[48];
        for (int full = 0; full < 2; full++) {
            const mlxc_dtype od = (fi + (size_t)full) % 2 ? MLXC_BF16 : MLXC_F32;
            const uint32_t rows = full ? n : 5;
            const float scale = full ? 1.0f : 0.5f;
            ot_buf out = ot_out(dev, od, (size_t)rows * k);
            double *ref = malloc((size_t)rows * k * sizeof *ref);
            for (uint32_t r = 0; r < rows; r++) {
                const uint32_t src = full ? r : idv[r];
                for (uint32_t q = 0; q < k; q++) ref[(size_t)r * k + q] = src < n ? qt_elem(&w, src, q) * scale : 0.0;
            }
            OT_RUN(dev, mlxc_qembedding_gather(enc, &dw.w, full ? NULL : ids.b, out.b, n, k, scale));
            ot_download(&out);
            OT_CLOSE(&out, ref, od == MLXC_F32 ? 1e-6 : 8e-3, "gather %s %s out %s", qt_label(f, lab, sizeof lab),
                     full ? "all rows" : "ids", mlxc_dtype_name(od));
            for (uint32_t q = 0; q < k && !full; q++)
                if (out.h[2 * (size_t)k + q] != 0.0) {
                    CHECK(out.h[2 * (size_t)k + q] == 0.0); /* the id past the table */
                    break;
                }
            free(ref);
            ot_free(&out);
        }
        ot_free(&ids);
        qt_dev_free(&dw);
        qt_weight_free(&w);
    }
}

static mlxc_buffer *view(mlxc_buffer *b, size_t off, mlxc_dtype dt, int64_t n) {
    mlxc_buffer *v = NULL;
    if (mlxc_buffer_view(b, off, dt, 1, &n, &v) != MLXC_OK) {
        fprintf(stderr, "view: %s\n", mlxc_last_error());
        exit(1);
    }
    return v;
}

/* The expert-routed form equals the plain op on each expert's matrix (views
 * of the stacked weight) bit for bit; an id past the experts gives zeros. */
static void experts(void) {
    const uint32_t E = 5, n = 19, tokens = 3, topk = 2, pairs = tokens * topk;
    static const uint32_t idv[6] = {4, 0, 2, 2, 7, 1};
    for (size_t fi = 0; fi < QT_NFORMATS; fi++) {
        const qt_format *f = &qt_formats[fi];
        const uint32_t k = f->group < 256 ? 5 * f->group : 512;
        const mlxc_dtype xd = fi % 2 ? MLXC_BF16 : MLXC_F32, yd = fi % 3 ? MLXC_F32 : MLXC_BF16;
        qt_weight w = qt_weight_rand(*f, E * n, k);
        qt_dev_weight dw = qt_upload(dev, &w);
        ot_buf x = ot_rand(dev, xd, (size_t)tokens * k, -1, 1), y = ot_out(dev, yd, (size_t)pairs * n);
        ot_buf ids = ot_alloc(dev, MLXC_U32, pairs), yp = ot_out(dev, yd, (size_t)pairs * n);
        for (uint32_t i = 0; i < pairs; i++) ids.h[i] = idv[i];
        ot_upload(&ids);
        OT_RUN(dev, mlxc_qmatmul_experts(enc, x.b, &dw.w, ids.b, y.b, tokens, topk, E, n, k));
        ot_download(&y);
        double *want = calloc((size_t)pairs * n, sizeof *want);
        const size_t xes = mlxc_dtype_size(xd), yes = mlxc_dtype_size(yd), ng = k / f->group;
        const size_t ses = qt_is_mlx(f->f) ? mlxc_dtype_size(f->sdt) : 1;
        for (uint32_t pr = 0; pr < pairs; pr++) {
            const uint32_t e = idv[pr];
            if (e >= E) continue;
            mlxc_buffer *xv = view(x.b, (size_t)(pr / topk) * k * xes, xd, k);
            mlxc_buffer *yv = view(yp.b, (size_t)pr * n * yes, yd, n);
            mlxc_buffer *wv = view(dw.data, (size_t)e * n * w.row_bytes, MLXC_U8, (int64_t)(n * w.row_bytes));
            mlxc_buffer *sv = dw.scales ? view(dw.scales, (size_t)e * n * ng * ses, f->sdt, (int64_t)(n * ng)) : NULL;
            mlxc_buffer *bv = dw.biases ? view(dw.biases, (size_t)e * n * ng * ses, f->sdt, (int64_t)(n * ng)) : NULL;
            mlxc_qmm_weight we = {f->f, f->bits, f->group, wv, sv, bv};
            OT_RUN(dev, mlxc_qmatmul(enc, xv, &we, yv, 1, n, k));
            mlxc_buffer_release(xv), mlxc_buffer_release(yv), mlxc_buffer_release(wv);
            mlxc_buffer_release(sv), mlxc_buffer_release(bv);
        }
        ot_download(&yp);
        for (size_t i = 0; i < (size_t)pairs * n; i++) want[i] = idv[i / n] < E ? yp.h[i] : 0.0;
        char lab[48];
        OT_EXACT(&y, want, "experts %s", qt_label(f, lab, sizeof lab));
        free(want);
        ot_free(&x), ot_free(&y), ot_free(&ids), ot_free(&yp);
        qt_dev_free(&dw);
        qt_weight_free(&w);
    }
}

static mlxc_buffer *alloc(mlxc_dtype dt, int64_t n) {
    mlxc_buffer *b = NULL;
    if (mlxc_buffer_alloc(dev, (size_t)n * mlxc_dtype_size(dt), dt, 1, &n, &b) != MLXC_OK) exit(1);
    return b;
}

static void errors(void) {
    /* x (2, 128), W (4, 128) affine 4-bit g64: 256 bytes, 8 scales; y (2, 4) */
    mlxc_buffer *x = alloc(MLXC_F32, 256), *y = alloc(MLXC_F32, 8), *wq = alloc(MLXC_U32, 64);
    mlxc_buffer *sc = alloc(MLXC_BF16, 8), *bi = alloc(MLXC_BF16, 8), *sc7 = alloc(MLXC_BF16, 7);
    mlxc_buffer *sci = alloc(MLXC_I32, 8), *bh = alloc(MLXC_F16, 8), *xh = alloc(MLXC_F16, 256);
    mlxc_buffer *q40 = alloc(MLXC_U8, 4 * 4 * 18), *raw8 = alloc(MLXC_U8, 1024), *mxs = alloc(MLXC_U8, 16);
    mlxc_encoder *enc = NULL;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    if (!enc) return;
    mlxc_qmm_weight w = {MLXC_QF_MLX_AFFINE, 4, 64, wq, sc, bi}, v;
    CHECK_OK(mlxc_qmatmul(enc, x, &w, y, 2, 4, 128));
    CHECK_ERR(mlxc_qmatmul(enc, x, NULL, y, 2, 4, 128), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_qmatmul(enc, x, &w, y, 0, 4, 128), MLXC_ERR_INVALID_ARGUMENT);
    /* k not a multiple of the group / the block */
    CHECK_ERR(mlxc_qmatmul(enc, x, &w, y, 2, 4, 96), MLXC_ERR_SHAPE);
    mlxc_qmm_weight g = {MLXC_QF_Q4_K, 0, 0, q40, NULL, NULL};
    CHECK_ERR(mlxc_qmatmul(enc, x, &g, y, 2, 4, 128), MLXC_ERR_SHAPE);
    g.format = MLXC_QF_Q4_0;
    CHECK_OK(mlxc_qmatmul(enc, x, &g, y, 2, 4, 128));
    /* unsupported bits, group, format */
    v = w, v.bits = 7;
    CHECK_ERR(mlxc_qmatmul(enc, x, &v, y, 2, 4, 128), MLXC_ERR_INVALID_ARGUMENT);
    v = w, v.bits = 1;
    CHECK_ERR(mlxc_qmatmul(enc, x, &v, y, 2, 4, 128), MLXC_ERR_INVALID_ARGUMENT);
    v = w, v.group_size = 16;
    CHECK_ERR(mlxc_qmatmul(enc, x, &v, y, 2, 4, 128), MLXC_ERR_INVALID_ARGUMENT);
    v = w, v.format = (mlxc_qformat)(MLXC_QF_GGML + MLXC_GGML_Q1_0); /* no reference, no kernel */
    CHECK_ERR(mlxc_qmatmul(enc, x, &v, y, 2, 4, 128), MLXC_ERR_UNSUPPORTED);
    v = w, v.format = (mlxc_qformat)12345;
    CHECK_ERR(mlxc_qmatmul(enc, x, &v, y, 2, 4, 128), MLXC_ERR_UNSUPPORTED);
    v = w, v.format = MLXC_QF_F32;
    CHECK_ERR(mlxc_qmatmul(enc, x, &v, y, 2, 4, 128), MLXC_ERR_UNSUPPORTED);
    mlxc_qmm_weight mx = {MLXC_QF_MLX_MXFP4, 8, 0, wq, mxs, NULL};
    CHECK_ERR(mlxc_qmatmul(enc, x, &mx, y, 2, 4, 128), MLXC_ERR_INVALID_ARGUMENT);
    mx.bits = 0;
    CHECK_OK(mlxc_qmatmul(enc, x, &mx, y, 2, 4, 128));
    mx.scales = sc;
    CHECK_ERR(mlxc_qmatmul(enc, x, &mx, y, 2, 4, 128), MLXC_ERR_DTYPE);
    /* scales of the wrong shape or dtype; biases missing or of another dtype */
    v = w, v.scales = sc7;
    CHECK_ERR(mlxc_qmatmul(enc, x, &v, y, 2, 4, 128), MLXC_ERR_SHAPE);
    v = w, v.scales = sci;
    CHECK_ERR(mlxc_qmatmul(enc, x, &v, y, 2, 4, 128), MLXC_ERR_DTYPE);
    v = w, v.biases = bh;
    CHECK_ERR(mlxc_qmatmul(enc, x, &v, y, 2, 4, 128), MLXC_ERR_DTYPE);
    v = w, v.biases = NULL;
    CHECK_ERR(mlxc_qmatmul(enc, x, &v, y, 2, 4, 128), MLXC_ERR_INVALID_ARGUMENT);
    v = w, v.scales = NULL;
    CHECK_ERR(mlxc_qmatmul(enc, x, &v, y, 2, 4, 128), MLXC_ERR_INVALID_ARGUMENT);
    /* weight data of the wrong size (the rows of another n) */
    CHECK_ERR(mlxc_qmatmul(enc, x, &w, y, 1, 8, 128), MLXC_ERR_SHAPE);
    /* x and y: dtype, shape */
    CHECK_ERR(mlxc_qmatmul(enc, xh, &w, y, 2, 4, 128), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_qmatmul(enc, x, &w, bh, 2, 4, 128), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_qmatmul(enc, x, &w, y, 3, 4, 128), MLXC_ERR_SHAPE);
    /* misaligned weight views: MLX words at byte 2, GGML blocks at byte 1 */
    mlxc_buffer *mis = NULL, *mis1 = NULL, *yx = NULL, *yw = NULL;
    int64_t s256[1] = {256}, s288[1] = {288}, s8[1] = {8};
    CHECK_OK(mlxc_buffer_view(raw8, 2, MLXC_U8, 1, s256, &mis));
    v = w, v.data = mis;
    if (mis) CHECK_ERR(mlxc_qmatmul(enc, x, &v, y, 2, 4, 128), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_OK(mlxc_buffer_view(raw8, 1, MLXC_U8, 1, s288, &mis1));
    g.data = mis1;
    if (mis1) CHECK_ERR(mlxc_qmatmul(enc, x, &g, y, 2, 4, 128), MLXC_ERR_INVALID_ARGUMENT);
    /* y overlapping x or the weight */
    CHECK_OK(mlxc_buffer_view(x, 0, MLXC_F32, 1, s8, &yx));
    if (yx) CHECK_ERR(mlxc_qmatmul(enc, x, &w, yx, 2, 4, 128), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_OK(mlxc_buffer_view(wq, 0, MLXC_F32, 1, s8, &yw));
    if (yw) CHECK_ERR(mlxc_qmatmul(enc, x, &w, yw, 2, 4, 128), MLXC_ERR_INVALID_ARGUMENT);
    /* the gather: ids of another dtype, out of the wrong size or dtype, k off the group */
    mlxc_buffer *ids = alloc(MLXC_U32, 2), *idf = alloc(MLXC_F32, 2), *o2 = alloc(MLXC_F32, 256);
    CHECK_OK(mlxc_qembedding_gather(enc, &w, ids, o2, 4, 128, 1.0f));
    mlxc_qmm_weight g0 = {MLXC_QF_Q4_0, 0, 0, q40, NULL, NULL};
    CHECK_OK(mlxc_qembedding_gather(enc, &g0, ids, o2, 4, 128, 1.0f));
    CHECK_ERR(mlxc_qembedding_gather(enc, &w, idf, o2, 4, 128, 1.0f), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_qembedding_gather(enc, &w, NULL, o2, 4, 128, 1.0f), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_qembedding_gather(enc, &w, ids, xh, 4, 128, 1.0f), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_qembedding_gather(enc, &w, ids, o2, 4, 96, 1.0f), MLXC_ERR_SHAPE);
    /* the expert-routed form: ids dtype and count, the stacked weight's size */
    CHECK_OK(mlxc_qmatmul_experts(enc, x, &w, ids, y, 2, 1, 1, 4, 128));
    CHECK_ERR(mlxc_qmatmul_experts(enc, x, &w, idf, y, 2, 1, 1, 4, 128), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_qmatmul_experts(enc, x, &w, ids, y, 1, 1, 1, 4, 128), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_qmatmul_experts(enc, x, &w, ids, y, 2, 1, 2, 4, 128), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_qmatmul_experts(enc, x, &w, ids, y, 2, 1, 1, 4, 96), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_qmatmul_experts(enc, x, &w, ids, x, 2, 1, 1, 4, 128), MLXC_ERR_SHAPE);
    /* the grouped form: offsets and perm dtype and count (their contents
     * are device data: whatever they hold, the run stays in bounds) */
    CHECK_OK(mlxc_qmatmul_grouped(enc, x, &w, ids, ids, y, 2, 1, 1, 4, 128));
    CHECK_ERR(mlxc_qmatmul_grouped(enc, x, &w, idf, ids, y, 2, 1, 1, 4, 128), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_qmatmul_grouped(enc, x, &w, ids, idf, y, 2, 1, 1, 4, 128), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_qmatmul_grouped(enc, x, &w, ids, ids, y, 1, 1, 1, 4, 128), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_qmatmul_grouped(enc, x, &w, o2, ids, y, 2, 1, 1, 4, 128), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_qmatmul_grouped(enc, x, &w, ids, ids, y, 2, 1, 2, 4, 128), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_qmatmul_grouped(enc, x, &w, ids, ids, y, 2, 1, 1, 4, 96), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_qmatmul_grouped(enc, x, &w, ids, ids, y, 2, 0, 1, 4, 128), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_qmatmul_grouped(enc, x, &w, NULL, ids, y, 2, 1, 1, 4, 128), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_buffer_release(ids);
    mlxc_buffer_release(idf);
    mlxc_buffer_release(o2);
    mlxc_buffer_release(mis);
    mlxc_buffer_release(mis1);
    mlxc_buffer_release(yx);
    mlxc_buffer_release(yw);
    CHECK_OK(mlxc_encoder_commit_and_wait(enc));
    mlxc_encoder_destroy(enc);
    mlxc_buffer *all[] = {x, y, wq, sc, bi, sc7, sci, bh, xh, q40, raw8, mxs};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) mlxc_buffer_release(all[i]);
    /* the helpers */
    CHECK(mlxc_qmm_row_bytes(MLXC_QF_Q4_K, 0, 0, 512) == 288);
    CHECK(mlxc_qmm_row_bytes(MLXC_QF_Q4_K, 0, 0, 500) == 0);
    CHECK(mlxc_qmm_row_bytes(MLXC_QF_MLX_AFFINE, 3, 32, 96) == 36);
    CHECK(mlxc_qmm_row_bytes(MLXC_QF_BF16, 0, 0, 256) == 512);   /* dense: the expert forms take them */
    CHECK(mlxc_qmm_row_bytes(MLXC_QF_INVALID, 0, 0, 256) == 0);
}

/* The grouped form equals the expert-routed one bit for bit, with the
 * grouping made by mlxc_moe_group: more slots per expert than one tile,
 * two tiles of rows, ids past the experts (zero rows). */
static void grouped(void) {
    const uint32_t E = 6, n = 45, tokens = 37, topk = 3, pairs = tokens * topk;
    for (size_t fi = 0; fi < QT_NFORMATS; fi++) {
        const qt_format *f = &qt_formats[fi];
        const uint32_t k = f->group < 256 ? 3 * f->group : 512;
        const mlxc_dtype xd = fi % 2 ? MLXC_BF16 : MLXC_F32, yd = fi % 3 ? MLXC_F32 : MLXC_BF16;
        qt_weight w = qt_weight_rand(*f, E * n, k);
        qt_dev_weight dw = qt_upload(dev, &w);
        ot_buf x = ot_rand(dev, xd, (size_t)tokens * k, -1, 1), y = ot_out(dev, yd, (size_t)pairs * n);
        ot_buf want = ot_out(dev, yd, (size_t)pairs * n), ids = ot_alloc(dev, MLXC_U32, pairs);
        ot_buf counts = ot_alloc(dev, MLXC_U32, E), offsets = ot_alloc(dev, MLXC_U32, E + 1),
               perm = ot_alloc(dev, MLXC_U32, pairs);
        /* mostly expert 2, some past the experts */
        for (uint32_t i = 0; i < pairs; i++) ids.h[i] = (i * 7 + fi) % 11 < 5 ? 2 : (i * 5 + fi) % (E + 2);
        ot_upload(&ids);
        OT_RUN(dev, mlxc_moe_group(enc, ids.b, counts.b, offsets.b, perm.b, tokens, topk, E));
        OT_RUN(dev, mlxc_qmatmul_grouped(enc, x.b, &dw.w, offsets.b, perm.b, y.b, tokens, topk, E, n, k));
        OT_RUN(dev, mlxc_qmatmul_experts(enc, x.b, &dw.w, ids.b, want.b, tokens, topk, E, n, k));
        ot_download(&y);
        ot_download(&want);
        char lab[48];
        OT_EXACT(&y, want.h, "grouped %s", qt_label(f, lab, sizeof lab));
        ot_free(&x), ot_free(&y), ot_free(&want), ot_free(&ids), ot_free(&counts), ot_free(&offsets), ot_free(&perm);
        qt_dev_free(&dw);
        qt_weight_free(&w);
    }
}

/* Dense experts (MLXC_QF_F32, F16, BF16: models whose experts are not
 * quantized): mlxc_qmatmul_experts against a double reference of the
 * stored values (an id past the experts a zero row), f32 y within 1e-6 of
 * the sums of |x w| and bf16 y within its rounding; mlxc_qmatmul_grouped
 * equal to it bit for bit; mlxc_qmatmul refuses them. */
static void experts_dense(void) {
    static const mlxc_qformat fs[3] = {MLXC_QF_F32, MLXC_QF_F16, MLXC_QF_BF16};
    static const mlxc_dtype wd[3] = {MLXC_F32, MLXC_F16, MLXC_BF16};
    const uint32_t E = 5, n = 21, k = 72, tokens = 11, topk = 2, pairs = tokens * topk;
    for (int fi = 0; fi < 3; fi++) {
        const mlxc_dtype xd = fi % 2 ? MLXC_BF16 : MLXC_F32, yd = fi == 2 ? MLXC_BF16 : MLXC_F32;
        ot_buf w = ot_rand(dev, wd[fi], (size_t)E * n * k, -0.5, 0.5); /* h: the stored values */
        ot_buf x = ot_rand(dev, xd, (size_t)tokens * k, -1, 1), y = ot_out(dev, yd, (size_t)pairs * n);
        ot_buf g = ot_out(dev, yd, (size_t)pairs * n), ids = ot_alloc(dev, MLXC_U32, pairs);
        ot_buf counts = ot_alloc(dev, MLXC_U32, E), offsets = ot_alloc(dev, MLXC_U32, E + 1),
               perm = ot_alloc(dev, MLXC_U32, pairs);
        for (uint32_t i = 0; i < pairs; i++) ids.h[i] = (i * 3 + (uint32_t)fi) % (E + 1); /* E: past the experts */
        ot_upload(&ids);
        const mlxc_qmm_weight q = {fs[fi], 0, 0, w.b, NULL, NULL};
        OT_RUN(dev, mlxc_qmatmul_experts(enc, x.b, &q, ids.b, y.b, tokens, topk, E, n, k));
        OT_RUN(dev, mlxc_moe_group(enc, ids.b, counts.b, offsets.b, perm.b, tokens, topk, E));
        OT_RUN(dev, mlxc_qmatmul_grouped(enc, x.b, &q, offsets.b, perm.b, g.b, tokens, topk, E, n, k));
        ot_download(&y);
        ot_download(&g);
        double *ref = calloc((size_t)pairs * n, sizeof *ref), err2 = 0, mag2 = 0;
        for (uint32_t pr = 0; pr < pairs; pr++)
            for (uint32_t r = 0; r < n && ids.h[pr] < E; r++) {
                double sum = 0, a = 0;
                for (uint32_t c = 0; c < k; c++) {
                    const double t = x.h[(size_t)(pr / topk) * k + c] * w.h[((size_t)ids.h[pr] * n + r) * k + c];
                    sum += t, a += fabs(t);
                }
                ref[(size_t)pr * n + r] = sum;
                err2 += (y.h[(size_t)pr * n + r] - sum) * (y.h[(size_t)pr * n + r] - sum), mag2 += a * a;
            }
        const char *name = mlxc_qformat_name(fs[fi]);
        if (yd == MLXC_F32) CHECK_MSG(sqrt(err2 / mag2) <= 1e-6, "dense experts %s: error %.3g", name, sqrt(err2 / mag2));
        else OT_CLOSE(&y, ref, 8e-3, "dense experts %s", name);
        OT_EXACT(&g, y.h, "dense experts %s grouped", name);
        mlxc_buffer *xv = view(x.b, 0, xd, k), *yv = view(y.b, 0, yd, n);
        mlxc_encoder *enc = NULL;
        CHECK_OK(mlxc_encoder_create(dev, &enc));
        if (enc) CHECK_ERR(mlxc_qmatmul(enc, xv, &q, yv, 1, n, k), MLXC_ERR_UNSUPPORTED);
        mlxc_encoder_destroy(enc);
        mlxc_buffer_release(xv), mlxc_buffer_release(yv);
        free(ref);
        ot_free(&w), ot_free(&x), ot_free(&y), ot_free(&g), ot_free(&ids), ot_free(&counts), ot_free(&offsets),
            ot_free(&perm);
    }
}

/* mlxc_qmatmul_fused_pair on the CPU: the pair of q/k (Q4_K, Q5_K with
 * int8 activations: one dispatch of the pair's kernel; Q4_0 exact: two)
 * and v (Q6_K, exact or int8) equals two mlxc_qmatmul_fused calls bit for
 * bit, with and without the norm; and what it refuses. */
static void fused_pair(void) {
    const qt_format *f1s = qt_pair_qk, q6 = qt_pair_v;
    const uint32_t k = 512, n1 = 72, n2 = 40;
    for (int fi = 0; fi < 3; fi++)
        for (int c = 0; c < 4; c++) {
            const int pro = c % 2, v8 = c / 2;
            qt_weight w1 = qt_weight_rand(f1s[fi], n1, k), w2 = qt_weight_rand(q6, n2, k);
            qt_dev_weight d1 = qt_upload(dev, &w1), d2 = qt_upload(dev, &w2);
            ot_buf x = ot_rand(dev, MLXC_BF16, k, -1, 1), g = ot_rand(dev, MLXC_BF16, k, -1, 1);
            ot_buf y = ot_out(dev, MLXC_BF16, n1 + n2), s = ot_out(dev, MLXC_BF16, n1 + n2);
            const mlxc_qmm_fuse f1 = {.pro = pro ? MLXC_QMM_PRO_RMS_NORM : MLXC_QMM_PRO_NONE, .eps = 1e-5f,
                                      .act = fi < 2 ? MLXC_QMM_ACT_Q8 : MLXC_QMM_ACT_EXACT},
                                f2 = {.pro = f1.pro, .eps = 1e-5f, .act = v8 ? MLXC_QMM_ACT_Q8 : MLXC_QMM_ACT_EXACT};
            mlxc_buffer *v[2][2];
            const int64_t sh[2] = {n1, n2};
            for (int o = 0; o < 2; o++)
                for (int part = 0; part < 2; part++)
                    CHECK_OK(mlxc_buffer_view((o ? &s : &y)->b, part ? (size_t)n1 * 2 : 0, MLXC_BF16, 1, &sh[part],
                                              &v[o][part]));
            const mlxc_buffer *gb = pro ? g.b : NULL;
            OT_RUN(dev, mlxc_qmatmul_fused_pair(enc, x.b, gb, &d1.w, v[0][0], n1, &f1, &d2.w, v[0][1], n2, &f2, k));
            OT_RUN(dev, mlxc_qmatmul_fused(enc, x.b, NULL, gb, &d1.w, v[1][0], n1, k, &f1));
            OT_RUN(dev, mlxc_qmatmul_fused(enc, x.b, NULL, gb, &d2.w, v[1][1], n2, k, &f2));
            ot_download(&y), ot_download(&s);
            char lab[48];
            OT_EXACT(&y, s.h, "fused pair %s + Q6_K%s prologue %d", qt_label(&f1s[fi], lab, sizeof lab),
                     v8 ? " int8" : "", pro);
            if (fi == 0 && c == 1) {
                mlxc_encoder *enc = NULL;
                CHECK_OK(mlxc_encoder_create(dev, &enc));
                const mlxc_qmm_fuse add = {.pro = f1.pro, .epi = MLXC_QMM_EPI_ADD, .eps = 1e-5f}, none = {.eps = 1e-5f},
                                    silu = {.pro = MLXC_QMM_PRO_SILU_MUL}, eps2 = {.pro = f1.pro, .eps = 1e-6f};
                /* the epilogue, the prologues, the eps, outputs that overlap, NULL */
                CHECK_ERR(mlxc_qmatmul_fused_pair(enc, x.b, g.b, &d1.w, v[0][0], n1, &f1, &d2.w, v[0][1], n2, &add, k),
                          MLXC_ERR_INVALID_ARGUMENT);
                CHECK_ERR(mlxc_qmatmul_fused_pair(enc, x.b, g.b, &d1.w, v[0][0], n1, &f1, &d2.w, v[0][1], n2, &none, k),
                          MLXC_ERR_INVALID_ARGUMENT);
                CHECK_ERR(mlxc_qmatmul_fused_pair(enc, x.b, g.b, &d1.w, v[0][0], n1, &silu, &d2.w, v[0][1], n2, &silu,
                                                  k),
                          MLXC_ERR_INVALID_ARGUMENT);
                CHECK_ERR(mlxc_qmatmul_fused_pair(enc, x.b, g.b, &d1.w, v[0][0], n1, &f1, &d2.w, v[0][1], n2, &eps2, k),
                          MLXC_ERR_INVALID_ARGUMENT);
                mlxc_buffer *ov = NULL; /* y2 over y1's last 8 values */
                CHECK_OK(mlxc_buffer_view(y.b, (size_t)(n1 - 8) * 2, MLXC_BF16, 1, &sh[1], &ov));
                CHECK_ERR(mlxc_qmatmul_fused_pair(enc, x.b, g.b, &d1.w, v[0][0], n1, &f1, &d2.w, ov, n2, &f2, k),
                          MLXC_ERR_INVALID_ARGUMENT);
                mlxc_buffer_release(ov);
                CHECK_ERR(mlxc_qmatmul_fused_pair(enc, x.b, g.b, &d1.w, v[0][0], n1, &f1, NULL, v[0][1], n2, &f2, k),
                          MLXC_ERR_INVALID_ARGUMENT);
                /* a part's own errors: y2 too short for n2 */
                CHECK_ERR(mlxc_qmatmul_fused_pair(enc, x.b, g.b, &d1.w, v[0][0], n1, &f1, &d2.w, v[0][1], n2 + 1, &f2,
                                                  k),
                          MLXC_ERR_SHAPE);
                mlxc_encoder_destroy(enc);
            }
            for (int o = 0; o < 2; o++)
                for (int part = 0; part < 2; part++) mlxc_buffer_release(v[o][part]);
            ot_free(&x), ot_free(&g), ot_free(&y), ot_free(&s);
            qt_dev_free(&d1), qt_dev_free(&d2);
            qt_weight_free(&w1), qt_weight_free(&w2);
        }
}

/* x' (xp, downloaded here) quantized into xq (uploaded) as the int8
 * activations are: per 32 values, scale max / 127, round to nearest even. */
static void q8_ref(ot_buf *xp, ot_buf *xq, uint32_t k) {
    ot_download(xp);
    for (uint32_t b = 0; b < k; b += 32) {
        float a = 0.0f;
        for (uint32_t j = 0; j < 32; j++) a = fmaxf(a, fabsf((float)xp->h[b + j]));
        const float d = a / 127.0f, id = a > 0.0f ? 127.0f / a : 0.0f;
        for (uint32_t j = 0; j < 32; j++) xq->h[b + j] = d * nearbyintf((float)xp->h[b + j] * id);
    }
    ot_upload(xq);
}

/* f32 y (an output head's logits) with MLXC_QMM_ACT_Q8: x' as fused_q8
 * makes it, multiplied as f32 by mlxc_qmatmul into f32 (unrounded), then
 * y0 + that for the add: bit for bit.  f32 y without int8 activations, or
 * of a weight the int8 walk does not take, or in a pair: refused. */
static void fused_q8_f32(void) {
    static const qt_format fmts[] = {
        {MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, {MLXC_QF_MLX_AFFINE, 8, 32, MLXC_F16},
        {MLXC_QF_Q4_K, 0, 256, MLXC_U8},        {MLXC_QF_Q6_K, 0, 256, MLXC_U8},
    };
    for (size_t fi = 0; fi < sizeof fmts / sizeof *fmts; fi++)
        for (int epi = 0; epi < 2; epi++) {
            const uint32_t n = 45, k = 1024;
            qt_weight w = qt_weight_rand(fmts[fi], n, k);
            qt_dev_weight dw = qt_upload(dev, &w);
            ot_buf x = ot_rand(dev, MLXC_BF16, k, -2, 2), g = ot_rand(dev, MLXC_BF16, k, 0.5, 1.5);
            ot_buf y0 = ot_rand(dev, MLXC_F32, n, -4, 4), y = ot_out(dev, MLXC_F32, n);
            ot_buf xp = ot_out(dev, MLXC_BF16, k), xq = ot_out(dev, MLXC_F32, k), want = ot_out(dev, MLXC_F32, n);
            for (size_t i = 0; i < n; i++) y.h[i] = y0.h[i];
            ot_upload(&y);
            const mlxc_qmm_fuse fz = {.pro = MLXC_QMM_PRO_RMS_NORM, .epi = (mlxc_qmm_epilogue)epi, .eps = 1e-5f,
                                      .act = MLXC_QMM_ACT_Q8};
            OT_RUN(dev, mlxc_qmatmul_fused(enc, x.b, NULL, g.b, &dw.w, y.b, n, k, &fz));
            OT_RUN(dev, mlxc_rms_norm(enc, x.b, g.b, xp.b, k, 1e-5f));
            q8_ref(&xp, &xq, k);
            OT_RUN(dev, mlxc_qmatmul(enc, xq.b, &dw.w, want.b, 1, n, k));
            ot_download(&want);
            if (epi)
                for (size_t i = 0; i < n; i++) want.h[i] = (float)y0.h[i] + (float)want.h[i];
            ot_download(&y);
            char lab[48];
            OT_EXACT(&y, want.h, "fused q8 f32 %s epilogue %d", qt_label(&fmts[fi], lab, sizeof lab), epi);
            if (fi == 0 && epi == 0) {
                mlxc_encoder *e2 = NULL;
                CHECK_OK(mlxc_encoder_create(dev, &e2));
                const mlxc_qmm_fuse exact = {.pro = MLXC_QMM_PRO_RMS_NORM, .eps = 1e-5f};
                CHECK_ERR(mlxc_qmatmul_fused(e2, x.b, NULL, g.b, &dw.w, y.b, n, k, &exact), MLXC_ERR_UNSUPPORTED);
                qt_weight w0 = qt_weight_rand((qt_format){MLXC_QF_Q4_0, 0, 32, MLXC_U8}, n, k);
                qt_dev_weight d0 = qt_upload(dev, &w0);
                CHECK_ERR(mlxc_qmatmul_fused(e2, x.b, NULL, g.b, &d0.w, y.b, n, k, &fz), MLXC_ERR_UNSUPPORTED);
                CHECK_ERR(mlxc_qmatmul_fused_pair(e2, x.b, g.b, &dw.w, y.b, n, &fz, &dw.w, want.b, n, &fz, k),
                          MLXC_ERR_INVALID_ARGUMENT);
                qt_dev_free(&d0);
                qt_weight_free(&w0);
                mlxc_encoder_destroy(e2);
            }
            ot_free(&x), ot_free(&g), ot_free(&y0), ot_free(&y), ot_free(&xp), ot_free(&xq), ot_free(&want);
            qt_dev_free(&dw);
            qt_weight_free(&w);
        }
}

/* mlxc_qmatmul_fused_argmax on the CPU: the f32 fused mat-vec and the
 * greedy mlxc_sample_softmax, bit for bit (with and without logprob), the
 * scratch untouched; then the refusals. */
static void fused_argmax(void) {
    static const qt_format fmts[] = {{MLXC_QF_Q6_K, 0, 256, MLXC_U8}, {MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}};
    for (size_t fi = 0; fi < sizeof fmts / sizeof *fmts; fi++)
        for (int lp = 0; lp < 2; lp++) {
            const uint32_t n = 301, k = 512;
            qt_weight w = qt_weight_rand(fmts[fi], n, k);
            qt_dev_weight dw = qt_upload(dev, &w);
            ot_buf x = ot_rand(dev, MLXC_BF16, k, -2, 2), g = ot_rand(dev, MLXC_BF16, k, 0.5, 1.5);
            ot_buf y = ot_out(dev, MLXC_F32, n), y2 = ot_out(dev, MLXC_F32, n), tok = ot_out(dev, MLXC_U32, 1),
                   tok2 = ot_out(dev, MLXC_U32, 1), l = ot_out(dev, MLXC_F32, 1), l2 = ot_out(dev, MLXC_F32, 1),
                   scr = ot_rand(dev, MLXC_U32, MLXC_QMM_ARGMAX_SCRATCH, 0, 0);
            const mlxc_qmm_fuse fz = {.pro = MLXC_QMM_PRO_RMS_NORM, .eps = 1e-5f, .act = MLXC_QMM_ACT_Q8};
            OT_RUN(dev, mlxc_qmatmul_fused_argmax(enc, x.b, g.b, &dw.w, y.b, tok.b, lp ? l.b : NULL, scr.b, n, k, &fz));
            OT_RUN(dev, mlxc_qmatmul_fused(enc, x.b, NULL, g.b, &dw.w, y2.b, n, k, &fz));
            OT_RUN(dev, mlxc_sample_softmax(enc, y2.b, NULL, tok2.b, lp ? l2.b : NULL, n, 0.0f, 0.0f));
            ot_download(&y), ot_download(&y2), ot_download(&tok), ot_download(&tok2), ot_download(&scr);
            char lab[48];
            OT_EXACT(&y, y2.h, "fused argmax %s: y", qt_label(&fmts[fi], lab, sizeof lab));
            OT_EXACT(&tok, tok2.h, "fused argmax %s: token", qt_label(&fmts[fi], lab, sizeof lab));
            if (lp) {
                ot_download(&l), ot_download(&l2);
                OT_EXACT(&l, l2.h, "fused argmax %s: logprob", qt_label(&fmts[fi], lab, sizeof lab));
            }
            for (size_t i = 0; i < scr.n; i++) CHECK_MSG(scr.h[i] == 0, "scratch word %zu written", i);
            if (fi == 0 && lp == 0) {
                mlxc_encoder *e2 = NULL;
                CHECK_OK(mlxc_encoder_create(dev, &e2));
                const mlxc_qmm_fuse add = {.pro = MLXC_QMM_PRO_RMS_NORM, .epi = MLXC_QMM_EPI_ADD, .eps = 1e-5f,
                                           .act = MLXC_QMM_ACT_Q8},
                                    exact = {.pro = MLXC_QMM_PRO_RMS_NORM, .eps = 1e-5f};
                CHECK_ERR(mlxc_qmatmul_fused_argmax(e2, x.b, g.b, &dw.w, y.b, tok.b, NULL, scr.b, n, k, &add),
                          MLXC_ERR_INVALID_ARGUMENT);
                CHECK_ERR(mlxc_qmatmul_fused_argmax(e2, x.b, g.b, &dw.w, y.b, tok.b, NULL, scr.b, n, k, &exact),
                          MLXC_ERR_INVALID_ARGUMENT);
                CHECK_ERR(mlxc_qmatmul_fused_argmax(e2, x.b, g.b, &dw.w, y.b, l.b, NULL, scr.b, n, k, &fz),
                          MLXC_ERR_DTYPE);
                CHECK_ERR(mlxc_qmatmul_fused_argmax(e2, x.b, g.b, &dw.w, y.b, tok.b, NULL, tok2.b, n, k, &fz),
                          MLXC_ERR_SHAPE);
                CHECK_ERR(mlxc_qmatmul_fused_argmax(e2, x.b, g.b, &dw.w, y.b, tok.b, NULL, NULL, n, k, &fz),
                          MLXC_ERR_INVALID_ARGUMENT);
                mlxc_buffer *tv = NULL; /* the token inside y */
                CHECK_OK(mlxc_buffer_view(y.b, 4, MLXC_U32, 1, (const int64_t[]){1}, &tv));
                CHECK_ERR(mlxc_qmatmul_fused_argmax(e2, x.b, g.b, &dw.w, y.b, tv, NULL, scr.b, n, k, &fz),
                          MLXC_ERR_INVALID_ARGUMENT);
                mlxc_buffer_release(tv);
                mlxc_encoder_destroy(e2);
            }
            ot_free(&x), ot_free(&g), ot_free(&y), ot_free(&y2), ot_free(&tok), ot_free(&tok2), ot_free(&l),
                ot_free(&l2), ot_free(&scr);
            qt_dev_free(&dw);
            qt_weight_free(&w);
        }
}

/* MLXC_QMM_ACT_Q8 on the CPU: x' made by the ops as above, quantized here
 * to int8 per 32 values (scale max / 127, round to nearest even) and
 * multiplied as f32 by mlxc_qmatmul, then the epilogue: bit for bit. */
static void fused_q8(void) {
    static const qt_format fmts[] = {
        {MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, {MLXC_QF_MLX_AFFINE, 4, 32, MLXC_F16},
        {MLXC_QF_MLX_AFFINE, 4, 128, MLXC_F16}, {MLXC_QF_Q4_0, 0, 32, MLXC_U8},
    };
    for (size_t fi = 0; fi < sizeof fmts / sizeof *fmts; fi++)
        for (int c = 0; c < 6; c++) {
            const int pro = c % 3, epi = c / 3;
            const uint32_t n = 37, k = c == 2 ? 4096 : 1280;
            qt_weight w = qt_weight_rand(fmts[fi], n, k);
            qt_dev_weight dw = qt_upload(dev, &w);
            ot_buf x = ot_rand(dev, MLXC_BF16, k, -2, 2), aux = ot_rand(dev, MLXC_BF16, k, -1, 1);
            ot_buf g = ot_rand(dev, MLXC_BF16, k, 0.5, 1.5), y0 = ot_rand(dev, MLXC_BF16, n, -4, 4);
            ot_buf y = ot_rand(dev, MLXC_BF16, n, 0, 0), xp = ot_out(dev, MLXC_BF16, k), xq = ot_out(dev, MLXC_F32, k);
            ot_buf t = ot_out(dev, MLXC_BF16, n), want = ot_out(dev, MLXC_BF16, n);
            for (size_t i = 0; i < n; i++) y.h[i] = y0.h[i];
            ot_upload(&y);
            const mlxc_qmm_fuse fz = {.pro = (mlxc_qmm_prologue)pro, .epi = (mlxc_qmm_epilogue)epi, .eps = 1e-5f,
                                      .act = MLXC_QMM_ACT_Q8};
            OT_RUN(dev, mlxc_qmatmul_fused(enc, x.b, pro == MLXC_QMM_PRO_SILU_MUL ? aux.b : NULL,
                                           pro == MLXC_QMM_PRO_RMS_NORM ? g.b : NULL, &dw.w, y.b, n, k, &fz));
            if (pro == MLXC_QMM_PRO_RMS_NORM) OT_RUN(dev, mlxc_rms_norm(enc, x.b, g.b, xp.b, k, 1e-5f));
            else if (pro == MLXC_QMM_PRO_SILU_MUL) OT_RUN(dev, mlxc_silu_mul(enc, x.b, aux.b, xp.b));
            else OT_RUN(dev, mlxc_copy(enc, x.b, xp.b));
            q8_ref(&xp, &xq, k);
            OT_RUN(dev, mlxc_qmatmul(enc, xq.b, &dw.w, epi ? t.b : want.b, 1, n, k));
            if (epi) OT_RUN(dev, mlxc_add(enc, y0.b, t.b, want.b));
            ot_download(&y);
            ot_download(&want);
            char lab[48];
            OT_EXACT(&y, want.h, "fused q8 %s k=%u prologue %d epilogue %d", qt_label(&fmts[fi], lab, sizeof lab), k,
                     pro, epi);
            /* the int8 values moved the result, but not far */
            ot_buf e = ot_out(dev, MLXC_BF16, n);
            const mlxc_qmm_fuse fx = {.pro = fz.pro, .epi = fz.epi, .eps = fz.eps};
            for (size_t i = 0; i < n; i++) e.h[i] = y0.h[i];
            ot_upload(&e);
            OT_RUN(dev, mlxc_qmatmul_fused(enc, x.b, pro == MLXC_QMM_PRO_SILU_MUL ? aux.b : NULL,
                                           pro == MLXC_QMM_PRO_RMS_NORM ? g.b : NULL, &dw.w, e.b, n, k, &fx));
            ot_download(&e);
            double num = 0, den = 0, moved = 0;
            for (size_t i = 0; i < n; i++)
                num += fabs(y.h[i] - e.h[i]), den += fabs(e.h[i] - (epi ? y0.h[i] : 0.0)), moved += y.h[i] != e.h[i];
            CHECK_MSG(moved > 0 && num <= 0.05 * den, "fused q8 %s: %g of the exact result's size apart (%g rows differ)",
                  qt_label(&fmts[fi], lab, sizeof lab), den > 0 ? num / den : num, moved);
            ot_free(&x), ot_free(&aux), ot_free(&g), ot_free(&y0), ot_free(&y), ot_free(&xp), ot_free(&xq);
            ot_free(&t), ot_free(&want), ot_free(&e);
            qt_dev_free(&dw);
            qt_weight_free(&w);
        }
    /* what the GPU's int8 mat-vec takes */
    static const struct {
        qt_format f;
        uint32_t k;
        bool ok;
    } takes[] = {
        {{MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, 4096, true},  {{MLXC_QF_MLX_AFFINE, 4, 128, MLXC_F16}, 32768, true},
        {{MLXC_QF_MLX_AFFINE, 4, 32, MLXC_F16}, 4128, true},   {{MLXC_QF_MLX_AFFINE, 4, 64, MLXC_F32}, 4096, false},
        {{MLXC_QF_MLX_AFFINE, 8, 64, MLXC_BF16}, 4096, true},  {{MLXC_QF_MLX_AFFINE, 4, 128, MLXC_F16}, 32896, false},
        {{MLXC_QF_MLX_AFFINE, 8, 32, MLXC_F16}, 14336, true},  {{MLXC_QF_MLX_AFFINE, 6, 64, MLXC_F16}, 4096, false},
        {{MLXC_QF_Q4_0, 0, 32, MLXC_U8}, 4096, false},         {{MLXC_QF_Q4_K, 0, 256, MLXC_U8}, 4096, true},
        {{MLXC_QF_Q4_K, 0, 256, MLXC_U8}, 32768, true},        {{MLXC_QF_Q4_K, 0, 256, MLXC_U8}, 33024, false},
        {{MLXC_QF_Q6_K, 0, 256, MLXC_U8}, 4096, true},         {{MLXC_QF_Q5_K, 0, 256, MLXC_U8}, 11008, true},
        {{MLXC_QF_Q6_K, 0, 256, MLXC_U8}, 16384, true},        {{MLXC_QF_Q6_K, 0, 256, MLXC_U8}, 16640, false},
        {{MLXC_QF_Q8_0, 0, 32, MLXC_U8}, 4096, false},
    };
    for (size_t i = 0; i < sizeof takes / sizeof *takes; i++) {
        qt_weight w = qt_weight_rand(takes[i].f, 2, takes[i].k);
        qt_dev_weight dw = qt_upload(dev, &w);
        mlxc_status st = mlxc_qmatmul_fused_q8_fast(&dw.w, takes[i].k);
        CHECK_MSG(takes[i].ok ? st == MLXC_OK : st == MLXC_ERR_UNSUPPORTED, "q8_fast case %zu: status %d", i, (int)st);
        qt_dev_free(&dw);
        qt_weight_free(&w);
    }
}

/* The fused decode mat-vec against the ops it folds in, bit for bit: the
 * prologue's rms_norm or silu_mul into a bf16 vector, mlxc_qmatmul, then
 * the epilogue's add. */
static const qt_format k_fused[] = {
    {MLXC_QF_Q4_0, 0, 32, MLXC_U8}, {MLXC_QF_Q4_1, 0, 32, MLXC_U8},         {MLXC_QF_Q8_0, 0, 32, MLXC_U8},
    {MLXC_QF_Q4_K, 0, 256, MLXC_U8}, {MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, {MLXC_QF_MLX_AFFINE, 8, 32, MLXC_F16},
    {MLXC_QF_Q6_K, 0, 256, MLXC_U8}, {MLXC_QF_Q5_K, 0, 256, MLXC_U8},
};
static void fused(void) {
    for (size_t fi = 0; fi < sizeof k_fused / sizeof *k_fused; fi++)
        for (int pro = 0; pro < 3; pro++)
            for (int epi = 0; epi < 2; epi++) {
                const qt_format *f = &k_fused[fi];
                const uint32_t n = 67, k = fi % 2 ? 512 : 1280;
                qt_weight w = qt_weight_rand(*f, n, k);
                qt_dev_weight dw = qt_upload(dev, &w);
                ot_buf x = ot_rand(dev, MLXC_BF16, k, -2, 2), aux = ot_rand(dev, MLXC_BF16, k, -1, 1);
                ot_buf g = ot_rand(dev, MLXC_BF16, k, 0.5, 1.5), y0 = ot_rand(dev, MLXC_BF16, n, -4, 4);
                ot_buf y = ot_rand(dev, MLXC_BF16, n, 0, 0), xp = ot_out(dev, MLXC_BF16, k), t = ot_out(dev, MLXC_BF16, n);
                ot_buf want = ot_out(dev, MLXC_BF16, n);
                for (size_t i = 0; i < n; i++) y.h[i] = y0.h[i];
                ot_upload(&y);
                const mlxc_qmm_fuse fz = {.pro = (mlxc_qmm_prologue)pro, .epi = (mlxc_qmm_epilogue)epi, .eps = 1e-5f};
                OT_RUN(dev, mlxc_qmatmul_fused(enc, x.b, pro == MLXC_QMM_PRO_SILU_MUL ? aux.b : NULL,
                                               pro == MLXC_QMM_PRO_RMS_NORM ? g.b : NULL, &dw.w, y.b, n, k, &fz));
                if (pro == MLXC_QMM_PRO_RMS_NORM) OT_RUN(dev, mlxc_rms_norm(enc, x.b, g.b, xp.b, k, 1e-5f));
                else if (pro == MLXC_QMM_PRO_SILU_MUL) OT_RUN(dev, mlxc_silu_mul(enc, x.b, aux.b, xp.b));
                else OT_RUN(dev, mlxc_copy(enc, x.b, xp.b));
                OT_RUN(dev, mlxc_qmatmul(enc, xp.b, &dw.w, epi ? t.b : want.b, 1, n, k));
                if (epi) OT_RUN(dev, mlxc_add(enc, y0.b, t.b, want.b));
                ot_download(&y);
                ot_download(&want);
                char lab[48];
                OT_EXACT(&y, want.h, "fused %s prologue %d epilogue %d", qt_label(f, lab, sizeof lab), pro, epi);
                ot_free(&x), ot_free(&aux), ot_free(&g), ot_free(&y0), ot_free(&y), ot_free(&xp), ot_free(&t);
                ot_free(&want);
                qt_dev_free(&dw);
                qt_weight_free(&w);
            }
    /* what it refuses */
    qt_weight w = qt_weight_rand(k_fused[0], 8, 64), w6 = qt_weight_rand((qt_format){MLXC_QF_Q6_K, 0, 256, MLXC_U8}, 8, 256);
    qt_weight w5 = qt_weight_rand((qt_format){MLXC_QF_Q3_K, 0, 256, MLXC_U8}, 8, 256);
    qt_dev_weight dw = qt_upload(dev, &w), d6 = qt_upload(dev, &w6), d5 = qt_upload(dev, &w5);
    mlxc_buffer *x = alloc(MLXC_BF16, 64), *xf = alloc(MLXC_F32, 64), *y = alloc(MLXC_BF16, 8), *g = alloc(MLXC_BF16, 64);
    mlxc_buffer *g7 = alloc(MLXC_BF16, 63);
    mlxc_encoder *enc = NULL;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    const mlxc_qmm_fuse nrm = {.pro = MLXC_QMM_PRO_RMS_NORM, .epi = MLXC_QMM_EPI_STORE, .eps = 1e-5f},
                        bad = {.pro = (mlxc_qmm_prologue)7};
    const mlxc_qmm_fuse nan_eps = {.pro = MLXC_QMM_PRO_RMS_NORM, .epi = MLXC_QMM_EPI_ADD, .eps = NAN};
    const mlxc_qmm_fuse bad_act = {.pro = MLXC_QMM_PRO_RMS_NORM, .eps = 1e-5f, .act = (mlxc_qmm_act)5};
    CHECK_ERR(mlxc_qmatmul_fused(enc, x, NULL, g, &dw.w, y, 8, 64, &bad_act), MLXC_ERR_INVALID_ARGUMENT);
    /* the GPU's int8 mat-vec takes Q6_K (k a multiple of 256), not Q3_K */
    CHECK_OK(mlxc_qmatmul_fused_q8_fast(&d6.w, 256));
    CHECK_ERR(mlxc_qmatmul_fused_q8_fast(&d5.w, 256), MLXC_ERR_UNSUPPORTED);
    /* formats without a fused mat-vec (Q3_K) */
    CHECK_ERR(mlxc_qmatmul_fused_supported(&d5.w), MLXC_ERR_UNSUPPORTED);
    CHECK_OK(mlxc_qmatmul_fused_supported(&dw.w));
    CHECK_OK(mlxc_qmatmul_fused_supported(&d6.w));
    CHECK_ERR(mlxc_qmatmul_fused(enc, x, NULL, g, &d5.w, y, 8, 256, &nrm), MLXC_ERR_UNSUPPORTED);
    CHECK_ERR(mlxc_qmatmul_fused(enc, x, NULL, NULL, &dw.w, y, 8, 64, &nrm), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_qmatmul_fused(enc, x, g, g, &dw.w, y, 8, 64, &nrm), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_qmatmul_fused(enc, x, NULL, g, &dw.w, y, 8, 64, &bad), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_qmatmul_fused(enc, x, NULL, g, &dw.w, y, 8, 64, &nan_eps), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_qmatmul_fused(enc, xf, NULL, g, &dw.w, y, 8, 64, &nrm), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_qmatmul_fused(enc, x, NULL, g7, &dw.w, y, 8, 64, &nrm), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_qmatmul_fused(enc, x, NULL, g, &dw.w, y, 8, 48, &nrm), MLXC_ERR_SHAPE);
    mlxc_buffer *gy = NULL; /* y inside g */
    const int64_t eight = 8;
    CHECK_OK(mlxc_buffer_view(g, 16, MLXC_BF16, 1, &eight, &gy));
    CHECK_ERR(mlxc_qmatmul_fused(enc, x, NULL, g, &dw.w, gy, 8, 64, &nrm), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_buffer_release(gy);
    CHECK_ERR(mlxc_qmatmul_fused(enc, x, NULL, g, &dw.w, y, 8, 64, NULL), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_encoder_destroy(enc);
    /* the GPU's fast path: whole 16-byte rows; affine k in whole stages */
    struct { qt_format f; uint32_t k; mlxc_status want; } fast[] = {
        {k_fused[0], 11008, MLXC_OK},                       /* 6192-byte Q4_0 rows   */
        {k_fused[1], 576, MLXC_OK},                         /* SmolLM2: 360-byte rows, shifted */
        {k_fused[1], 2048, MLXC_OK},
        {k_fused[4], 4096, MLXC_OK},
        {k_fused[4], 11008, MLXC_OK},                       /* Llama-2-7B down: a partial stage */
        {k_fused[4], 576, MLXC_ERR_UNSUPPORTED},            /* 9 two-byte scales a row */
        {k_fused[5], 11008, MLXC_OK},
        {k_fused[5], 1536, MLXC_OK},
        /* Q6_K: any whole blocks (rows off 16-byte boundaries are shifted) */
        {(qt_format){MLXC_QF_Q6_K, 0, 256, MLXC_U8}, 4096, MLXC_OK},
        {(qt_format){MLXC_QF_Q6_K, 0, 256, MLXC_U8}, 11008, MLXC_OK}, /* 9030-byte rows */
        {(qt_format){MLXC_QF_Q6_K, 0, 256, MLXC_U8}, 2304, MLXC_OK},
        {(qt_format){MLXC_QF_Q5_K, 0, 256, MLXC_U8}, 4096, MLXC_OK},
        {(qt_format){MLXC_QF_Q3_K, 0, 256, MLXC_U8}, 4096, MLXC_ERR_UNSUPPORTED},
    };
    for (size_t i = 0; i < sizeof fast / sizeof *fast; i++) {
        qt_weight wf = qt_weight_rand(fast[i].f, 2, fast[i].k);
        qt_dev_weight df = qt_upload(dev, &wf);
        if (fast[i].want == MLXC_OK) CHECK_OK(mlxc_qmatmul_fused_fast(&df.w, fast[i].k));
        else CHECK_ERR(mlxc_qmatmul_fused_fast(&df.w, fast[i].k), fast[i].want);
        qt_dev_free(&df);
        qt_weight_free(&wf);
    }
    CHECK_ERR(mlxc_qmatmul_fused_fast(NULL, 64), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_qmatmul_fused_fast(&dw.w, 0), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_buffer_release(x), mlxc_buffer_release(xf), mlxc_buffer_release(y), mlxc_buffer_release(g);
    mlxc_buffer_release(g7);
    qt_dev_free(&dw), qt_dev_free(&d6), qt_dev_free(&d5);
    qt_weight_free(&w), qt_weight_free(&w6), qt_weight_free(&w5);
}

/* The down projection with the experts' combine against the two ops it
 * folds together, bit for bit: mlxc_qmatmul_experts_fused with a pair a
 * row, then mlxc_moe_combine into the residual.  One token (SILU_MUL on
 * stacked [gate | up] rows, a MoE layer's down) and three (NONE on rows 3
 * values apart), an id past the experts among the pairs; the counters
 * stay zero. */
static void experts_combine(void) {
    const uint32_t E = 6, topk = 4;
    static const uint32_t idv[12] = {5, 0, 2, 9, 1, 1, 3, 4, 0, 5, 2, 3};
    for (size_t fi = 0; fi < sizeof k_fused / sizeof *k_fused; fi++)
        for (int c = 0; c < 2; c++) {
            const qt_format *f = &k_fused[fi];
            const int pro = c ? MLXC_QMM_PRO_NONE : MLXC_QMM_PRO_SILU_MUL;
            const uint32_t tokens = c ? 3 : 1, pairs = tokens * topk, n = c ? 37 : 64, k = fi % 2 ? 512 : 768,
                           xs = pro == MLXC_QMM_PRO_SILU_MUL ? 2 * k : k + 3, nctr = tokens * ((n + 15) / 16);
            qt_weight w = qt_weight_rand(*f, E * n, k);
            qt_dev_weight dw = qt_upload(dev, &w);
            ot_buf x = ot_rand(dev, MLXC_BF16, (size_t)pairs * xs, -2, 2), rw = ot_rand(dev, MLXC_F32, pairs, 0, 1);
            ot_buf ids = ot_alloc(dev, MLXC_U32, pairs), ctr = ot_alloc(dev, MLXC_U32, nctr);
            ot_buf y = ot_out(dev, MLXC_BF16, (size_t)pairs * n), wy = ot_out(dev, MLXC_BF16, (size_t)pairs * n);
            ot_buf res = ot_rand(dev, MLXC_BF16, (size_t)tokens * n, -2, 2), want = ot_alloc(dev, MLXC_BF16, res.n);
            for (uint32_t i = 0; i < pairs; i++) ids.h[i] = idv[i];
            memcpy(want.h, res.h, res.n * sizeof *res.h);
            ot_upload(&ids), ot_upload(&ctr), ot_upload(&want);
            mlxc_buffer *aux = pro == MLXC_QMM_PRO_SILU_MUL ? view(x.b, (size_t)k * 2, MLXC_BF16, (int64_t)pairs * xs - k)
                                                           : NULL;
            const mlxc_qmm_fuse fz = {.pro = (mlxc_qmm_prologue)pro};
            OT_RUN(dev, mlxc_qmatmul_experts_combine(enc, x.b, aux, NULL, &dw.w, ids.b, rw.b, y.b, res.b, ctr.b, tokens,
                                                     topk, E, n, k, xs, &fz));
            OT_RUN(dev, mlxc_qmatmul_experts_fused(enc, x.b, aux, NULL, &dw.w, ids.b, wy.b, pairs, 1, E, n, k, xs, &fz));
            OT_RUN(dev, mlxc_moe_combine(enc, wy.b, rw.b, NULL, NULL, want.b, want.b, tokens, topk, n));
            ot_download(&y), ot_download(&wy), ot_download(&res), ot_download(&want), ot_download(&ctr);
            char lab[48];
            OT_EXACT(&y, wy.h, "experts_combine %s tokens %u: y", qt_label(f, lab, sizeof lab), tokens);
            OT_EXACT(&res, want.h, "experts_combine %s tokens %u: resid", qt_label(f, lab, sizeof lab), tokens);
            for (uint32_t i = 0; i < nctr; i++) CHECK(ctr.h[i] == 0);
            mlxc_buffer_release(aux);
            ot_free(&x), ot_free(&rw), ot_free(&ids), ot_free(&ctr), ot_free(&y), ot_free(&wy), ot_free(&res),
                ot_free(&want);
            qt_dev_free(&dw);
            qt_weight_free(&w);
        }
    /* what it refuses (n = 32: two counters a token) */
    qt_weight w = qt_weight_rand(k_fused[0], 4 * 32, 64);
    qt_dev_weight dw = qt_upload(dev, &w);
    mlxc_buffer *x = alloc(MLXC_BF16, 128), *y = alloc(MLXC_BF16, 64), *r = alloc(MLXC_BF16, 32);
    mlxc_buffer *ids = alloc(MLXC_U32, 2), *rw = alloc(MLXC_F32, 2), *rwb = alloc(MLXC_BF16, 2);
    mlxc_buffer *ctr = alloc(MLXC_U32, 2), *ctr1 = alloc(MLXC_U32, 1), *r31 = alloc(MLXC_BF16, 31);
    mlxc_buffer *ry = view(y, 0, MLXC_BF16, 32); /* the residual inside y */
    mlxc_encoder *e = NULL;
    CHECK_OK(mlxc_encoder_create(dev, &e));
    const mlxc_qmm_fuse none = {0}, add = {.epi = MLXC_QMM_EPI_ADD};
    CHECK_OK(mlxc_qmatmul_experts_combine(e, x, NULL, NULL, &dw.w, ids, rw, y, r, ctr, 1, 2, 4, 32, 64, 64, &none));
    /* then one argument wrong each: no weights, the add
     * epilogue, bf16 weights, a residual one short, one counter for two
     * tiles, the residual inside y, x holding one pair's row of x_stride
     * 100, not two */
    const struct {
        mlxc_buffer *rw, *r, *ctr;
        uint32_t xs;
        const mlxc_qmm_fuse *f;
        mlxc_status want;
    } cases[] = {{NULL, r, ctr, 64, &none, MLXC_ERR_INVALID_ARGUMENT},
                 {rw, r, ctr, 64, &add, MLXC_ERR_INVALID_ARGUMENT},
                 {rwb, r, ctr, 64, &none, MLXC_ERR_DTYPE},
                 {rw, r31, ctr, 64, &none, MLXC_ERR_SHAPE},
                 {rw, r, ctr1, 64, &none, MLXC_ERR_SHAPE},
                 {rw, ry, ctr, 64, &none, MLXC_ERR_INVALID_ARGUMENT},
                 {rw, r, ctr, 100, &none, MLXC_ERR_SHAPE}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECK_ERR(mlxc_qmatmul_experts_combine(e, x, NULL, NULL, &dw.w, ids, cases[i].rw, y, cases[i].r, cases[i].ctr, 1,
                                               2, 4, 32, 64, cases[i].xs, cases[i].f),
                  cases[i].want);
    mlxc_encoder_destroy(e);
    mlxc_buffer_release(x), mlxc_buffer_release(y), mlxc_buffer_release(r), mlxc_buffer_release(ids);
    mlxc_buffer_release(rw), mlxc_buffer_release(rwb), mlxc_buffer_release(ctr), mlxc_buffer_release(ctr1);
    mlxc_buffer_release(r31), mlxc_buffer_release(ry);
    qt_dev_free(&dw);
    qt_weight_free(&w);
}

/* The expert-routed forms with int8 activations (MLXC_QMM_ACT_Q8, the
 * int8 walk's formats): each pair's row equals mlxc_qmatmul_fused with
 * int8 activations of its token's x' on the whole stacked weight, bit for
 * bit (SILU_MUL on stacked rows, RMS_NORM on rows 8 values apart, an id
 * past the experts); the combine form equals it then mlxc_moe_combine. */
static void experts_q8(void) {
    static const qt_format fmts[5] = {{MLXC_QF_Q4_K, 0, 256, MLXC_U8},        {MLXC_QF_Q5_K, 0, 256, MLXC_U8},
                                      {MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, {MLXC_QF_MLX_AFFINE, 8, 32, MLXC_F16},
                                      {MLXC_QF_Q6_K, 0, 256, MLXC_U8}};
    const uint32_t E = 4, n = 48, k = 512, tokens = 2, topk = 3, pairs = tokens * topk;
    static const uint32_t idv[6] = {3, 0, 9, 2, 1, 3};
    for (int fi = 0; fi < 5; fi++)
        for (int pro = 1; pro < 3; pro++) {
            const uint32_t xs = pro == MLXC_QMM_PRO_SILU_MUL ? 2 * k : k + 8;
            qt_weight w = qt_weight_rand(fmts[fi], E * n, k);
            qt_dev_weight dw = qt_upload(dev, &w);
            ot_buf x = ot_rand(dev, MLXC_BF16, (size_t)pairs * xs, -2, 2), g = ot_rand(dev, MLXC_BF16, k, 0.5, 1.5);
            ot_buf ids = ot_alloc(dev, MLXC_U32, pairs), rw = ot_rand(dev, MLXC_F32, pairs, 0, 1);
            ot_buf y = ot_out(dev, MLXC_BF16, (size_t)pairs * n), all = ot_out(dev, MLXC_BF16, (size_t)E * n);
            ot_buf xp = ot_out(dev, MLXC_BF16, k), yc = ot_out(dev, MLXC_BF16, (size_t)pairs * n);
            ot_buf yp = ot_out(dev, MLXC_BF16, (size_t)pairs * n), ctr = ot_alloc(dev, MLXC_U32, tokens * 3);
            ot_buf res = ot_rand(dev, MLXC_BF16, (size_t)tokens * n, -2, 2), want = ot_alloc(dev, MLXC_BF16, res.n);
            for (uint32_t i = 0; i < pairs; i++) ids.h[i] = idv[i];
            memcpy(want.h, res.h, res.n * sizeof *res.h);
            ot_upload(&ids), ot_upload(&ctr), ot_upload(&want);
            const int64_t na = (int64_t)pairs * xs - k;
            mlxc_buffer *aux = pro == MLXC_QMM_PRO_SILU_MUL ? view(x.b, (size_t)k * 2, MLXC_BF16, na) : NULL;
            mlxc_buffer *gb = pro == MLXC_QMM_PRO_RMS_NORM ? g.b : NULL;
            const mlxc_qmm_fuse fz = {.pro = (mlxc_qmm_prologue)pro, .eps = 1e-5f, .act = MLXC_QMM_ACT_Q8},
                                none = {.act = MLXC_QMM_ACT_Q8};
            /* token t's pairs; then each pair its own row (the down form) */
            OT_RUN(dev, mlxc_qmatmul_experts_fused(enc, x.b, aux, gb, &dw.w, ids.b, y.b, tokens, topk, E, n, k,
                                                   (uint32_t)((uint64_t)xs * topk), &fz));
            OT_RUN(dev, mlxc_qmatmul_experts_fused(enc, x.b, aux, gb, &dw.w, ids.b, yp.b, pairs, 1, E, n, k, xs, &fz));
            if (pro == MLXC_QMM_PRO_SILU_MUL)
                OT_RUN(dev, mlxc_qmatmul_experts_combine(enc, x.b, aux, gb, &dw.w, ids.b, rw.b, yc.b, res.b, ctr.b,
                                                         tokens, topk, E, n, k, xs, &fz));
            ot_download(&y), ot_download(&yp), ot_download(&yc), ot_download(&res), ot_download(&ctr);
            double *wy = malloc(sizeof(double) * pairs * n), *wp = malloc(sizeof(double) * pairs * n);
            for (uint32_t s = 0; s < pairs; s++) {
                for (int form = 0; form < 2; form++) {
                    /* x' of the pair's row: token s / topk's (form 0) or its own (form 1) */
                    const size_t row = form ? s : (size_t)(s / topk) * topk;
                    mlxc_buffer *xr = view(x.b, row * xs * 2, MLXC_BF16, k);
                    mlxc_buffer *ur = aux ? view(x.b, (row * xs + k) * 2, MLXC_BF16, k) : NULL;
                    if (pro == MLXC_QMM_PRO_SILU_MUL) OT_RUN(dev, mlxc_silu_mul(enc, xr, ur, xp.b));
                    else OT_RUN(dev, mlxc_rms_norm(enc, xr, g.b, xp.b, k, 1e-5f));
                    OT_RUN(dev, mlxc_qmatmul_fused(enc, xp.b, NULL, NULL, &dw.w, all.b, E * n, k, &none));
                    ot_download(&all);
                    for (uint32_t r = 0; r < n; r++)
                        (form ? wp : wy)[(size_t)s * n + r] = idv[s] < E ? all.h[(size_t)idv[s] * n + r] : 0.0;
                    mlxc_buffer_release(xr), mlxc_buffer_release(ur);
                }
            }
            char lab[48];
            qt_label(&fmts[fi], lab, sizeof lab);
            OT_EXACT(&y, wy, "experts_fused int8 %s prologue %d", lab, pro);
            OT_EXACT(&yp, wp, "experts_fused int8 %s prologue %d, a pair a row", lab, pro);
            if (pro == MLXC_QMM_PRO_SILU_MUL) {
                OT_RUN(dev, mlxc_moe_combine(enc, yp.b, rw.b, NULL, NULL, want.b, want.b, tokens, topk, n));
                ot_download(&want);
                OT_EXACT(&yc, wp, "experts_combine int8 %s: y", lab);
                OT_EXACT(&res, want.h, "experts_combine int8 %s: resid", lab);
                for (uint32_t i = 0; i < ctr.n; i++) CHECK(ctr.h[i] == 0);
            }
            free(wy), free(wp);
            mlxc_buffer_release(aux);
            ot_free(&x), ot_free(&g), ot_free(&ids), ot_free(&rw), ot_free(&y), ot_free(&all), ot_free(&xp);
            ot_free(&yc), ot_free(&yp), ot_free(&ctr), ot_free(&res), ot_free(&want);
            qt_dev_free(&dw);
            qt_weight_free(&w);
        }
}

/* Q4_0 tiles (MLXC_QF_Q4_0_TILES) give Q4_0's results bit for bit: the
 * same values, dequantized and summed in the same order, through the
 * mat-vec (m 1, 3, 8), the mat-mat (m 20), the fused mat-vec (every
 * prologue and epilogue), the gather and the expert-routed mat-vec; shapes
 * the tiles do not take, and a misaligned view, are refused. */
/* The expert-routed fused mat-vec against the ops it folds in, bit for
 * bit: the prologue's rms_norm or silu_mul of each token's row, then
 * mlxc_qmatmul_experts (an id past the experts gives zeros).  SILU_MUL
 * runs on stacked [gate | up] rows (x the rows, aux the view k values on,
 * x_stride 2k), as a MoE layer's down projection reads them. */
static void experts_fused(void) {
    const uint32_t E = 4, n = 37, tokens = 3, topk = 2, pairs = tokens * topk;
    static const uint32_t idv[6] = {3, 0, 1, 9, 2, 3};
    for (size_t fi = 0; fi < sizeof k_fused / sizeof *k_fused; fi++)
        for (int pro = 0; pro < 3; pro++) {
            const qt_format *f = &k_fused[fi];
            const uint32_t k = fi % 2 ? 512 : 768, xs = pro == MLXC_QMM_PRO_SILU_MUL ? 2 * k : k + 8 * (uint32_t)pro;
            qt_weight w = qt_weight_rand(*f, E * n, k);
            qt_dev_weight dw = qt_upload(dev, &w);
            ot_buf x = ot_rand(dev, MLXC_BF16, (size_t)tokens * xs, -2, 2), g = ot_rand(dev, MLXC_BF16, k, 0.5, 1.5);
            ot_buf ids = ot_alloc(dev, MLXC_U32, pairs), y = ot_out(dev, MLXC_BF16, (size_t)pairs * n);
            ot_buf xp = ot_out(dev, MLXC_BF16, (size_t)tokens * k), want = ot_out(dev, MLXC_BF16, (size_t)pairs * n);
            for (uint32_t i = 0; i < pairs; i++) ids.h[i] = idv[i];
            ot_upload(&ids);
            mlxc_buffer *aux = pro == MLXC_QMM_PRO_SILU_MUL ? view(x.b, (size_t)k * 2, MLXC_BF16, (int64_t)tokens * xs - k)
                                                           : NULL;
            const mlxc_qmm_fuse fz = {.pro = (mlxc_qmm_prologue)pro, .eps = 1e-5f};
            OT_RUN(dev, mlxc_qmatmul_experts_fused(enc, x.b, aux, pro == MLXC_QMM_PRO_RMS_NORM ? g.b : NULL, &dw.w,
                                                   ids.b, y.b, tokens, topk, E, n, k, xs, &fz));
            for (uint32_t t = 0; t < tokens; t++) {
                mlxc_buffer *xt = view(x.b, (size_t)t * xs * 2, MLXC_BF16, k);
                mlxc_buffer *ut = pro == MLXC_QMM_PRO_SILU_MUL ? view(x.b, ((size_t)t * xs + k) * 2, MLXC_BF16, k) : NULL;
                mlxc_buffer *pt = view(xp.b, (size_t)t * k * 2, MLXC_BF16, k);
                if (pro == MLXC_QMM_PRO_RMS_NORM) OT_RUN(dev, mlxc_rms_norm(enc, xt, g.b, pt, k, 1e-5f));
                else if (pro == MLXC_QMM_PRO_SILU_MUL) OT_RUN(dev, mlxc_silu_mul(enc, xt, ut, pt));
                else OT_RUN(dev, mlxc_copy(enc, xt, pt));
                mlxc_buffer_release(xt), mlxc_buffer_release(ut), mlxc_buffer_release(pt);
            }
            OT_RUN(dev, mlxc_qmatmul_experts(enc, xp.b, &dw.w, ids.b, want.b, tokens, topk, E, n, k));
            ot_download(&y);
            ot_download(&want);
            char lab[48];
            OT_EXACT(&y, want.h, "experts_fused %s prologue %d", qt_label(f, lab, sizeof lab), pro);
            mlxc_buffer_release(aux);
            ot_free(&x), ot_free(&g), ot_free(&ids), ot_free(&y), ot_free(&xp), ot_free(&want);
            qt_dev_free(&dw);
            qt_weight_free(&w);
        }
    /* what it refuses */
    qt_weight w = qt_weight_rand(k_fused[0], 4 * 8, 64), w3 = qt_weight_rand((qt_format){MLXC_QF_Q3_K, 0, 256, MLXC_U8}, 32, 256);
    qt_dev_weight dw = qt_upload(dev, &w), d3 = qt_upload(dev, &w3);
    mlxc_buffer *x = alloc(MLXC_BF16, 128), *xf = alloc(MLXC_F32, 128), *y = alloc(MLXC_BF16, 16), *g = alloc(MLXC_BF16, 64);
    mlxc_buffer *ids = alloc(MLXC_U32, 2), *idf = alloc(MLXC_F32, 2), *x1 = alloc(MLXC_BF16, 100);
    mlxc_encoder *e = NULL;
    CHECK_OK(mlxc_encoder_create(dev, &e));
    const mlxc_qmm_fuse nrm = {.pro = MLXC_QMM_PRO_RMS_NORM, .eps = 1e-5f}, none = {0};
    const mlxc_qmm_fuse add = {.pro = MLXC_QMM_PRO_RMS_NORM, .epi = MLXC_QMM_EPI_ADD, .eps = 1e-5f};
    const mlxc_qmm_fuse q8 = {.pro = MLXC_QMM_PRO_RMS_NORM, .eps = 1e-5f, .act = MLXC_QMM_ACT_Q8};
    CHECK_OK(mlxc_qmatmul_experts_fused(e, x, NULL, g, &dw.w, ids, y, 2, 1, 4, 8, 64, 64, &nrm));
    CHECK_OK(mlxc_qmatmul_experts_fused(e, x, NULL, NULL, &dw.w, ids, y, 1, 2, 4, 8, 64, 64, &none));
    CHECK_ERR(mlxc_qmatmul_experts_fused(e, x, NULL, g, &dw.w, ids, y, 2, 1, 4, 8, 64, 64, NULL), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_qmatmul_experts_fused(e, x, NULL, g, &dw.w, ids, y, 2, 1, 4, 8, 64, 64, &add), MLXC_ERR_INVALID_ARGUMENT);
    /* int8 activations: the CPU twin takes every format, CUDA the int8 walk's (not Q4_0) */
    if (mlxc_device_backend(dev) == MLXC_BACKEND_CPU)
        CHECK_OK(mlxc_qmatmul_experts_fused(e, x, NULL, g, &dw.w, ids, y, 2, 1, 4, 8, 64, 64, &q8));
    else
        CHECK_ERR(mlxc_qmatmul_experts_fused(e, x, NULL, g, &dw.w, ids, y, 2, 1, 4, 8, 64, 64, &q8), MLXC_ERR_UNSUPPORTED);
    CHECK_ERR(mlxc_qmatmul_experts_fused(e, x, NULL, NULL, &dw.w, ids, y, 2, 1, 4, 8, 64, 64, &nrm), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_qmatmul_experts_fused(e, x, NULL, g, &dw.w, ids, y, 2, 1, 4, 8, 64, 32, &nrm), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_qmatmul_experts_fused(e, xf, NULL, g, &dw.w, ids, y, 2, 1, 4, 8, 64, 64, &nrm), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_qmatmul_experts_fused(e, x1, NULL, g, &dw.w, ids, y, 2, 1, 4, 8, 64, 64, &nrm), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_qmatmul_experts_fused(e, x, NULL, g, &dw.w, idf, y, 2, 1, 4, 8, 64, 64, &nrm), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_qmatmul_experts_fused(e, x, NULL, g, &dw.w, ids, y, 2, 1, 5, 8, 64, 64, &nrm), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_qmatmul_experts_fused(e, x, NULL, g, &d3.w, ids, y, 2, 1, 1, 32, 256, 256, &nrm), MLXC_ERR_UNSUPPORTED);
    mlxc_buffer *yx = view(x, 0, MLXC_BF16, 16); /* y inside x */
    CHECK_ERR(mlxc_qmatmul_experts_fused(e, x, NULL, g, &dw.w, ids, yx, 2, 1, 4, 8, 64, 64, &nrm), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_buffer_release(yx);
    mlxc_encoder_destroy(e);
    mlxc_buffer_release(x), mlxc_buffer_release(xf), mlxc_buffer_release(y), mlxc_buffer_release(g);
    mlxc_buffer_release(ids), mlxc_buffer_release(idf), mlxc_buffer_release(x1);
    qt_dev_free(&dw), qt_dev_free(&d3);
    qt_weight_free(&w), qt_weight_free(&w3);
}

static void tiles(void) {
    static const qt_format q4 = {MLXC_QF_Q4_0, 0, 32, MLXC_U8};
    static const uint32_t shapes[3][2] = {{48, 384}, {32, 1024}, {16, 128}};
    for (int si = 0; si < 3; si++) {
        const uint32_t n = shapes[si][0], k = shapes[si][1];
        qt_weight w = qt_weight_rand(q4, n, k);
        qt_dev_weight dq = qt_upload(dev, &w), dt = qt_upload_tiles(dev, &w);
        static const uint32_t ms[4] = {1, 3, 8, 20};
        for (int mi = 0; mi < 4; mi++) {
            const uint32_t m = ms[mi];
            ot_buf x = ot_rand(dev, MLXC_BF16, (size_t)m * k, -1, 1), a = ot_out(dev, MLXC_F32, (size_t)m * n),
                   b = ot_out(dev, MLXC_F32, (size_t)m * n);
            OT_RUN(dev, mlxc_qmatmul(enc, x.b, &dq.w, a.b, m, n, k));
            OT_RUN(dev, mlxc_qmatmul(enc, x.b, &dt.w, b.b, m, n, k));
            ot_download(&a);
            ot_download(&b);
            OT_EXACT(&b, a.h, "tiles m=%u n=%u k=%u", m, n, k);
            ot_free(&x), ot_free(&a), ot_free(&b);
        }
        for (int c = 0; c < 6; c++) {
            const int pro = c % 3, epi = c / 3;
            ot_buf x = ot_rand(dev, MLXC_BF16, k, -2, 2), aux = ot_rand(dev, MLXC_BF16, k, -1, 1);
            ot_buf g = ot_rand(dev, MLXC_BF16, k, 0.5, 1.5), a = ot_rand(dev, MLXC_BF16, n, -4, 4);
            ot_buf b = ot_out(dev, MLXC_BF16, n);
            for (size_t i = 0; i < n; i++) b.h[i] = a.h[i];
            ot_upload(&b);
            const mlxc_qmm_fuse fz = {.pro = (mlxc_qmm_prologue)pro, .epi = (mlxc_qmm_epilogue)epi, .eps = 1e-5f};
            const mlxc_buffer *ua = pro == MLXC_QMM_PRO_SILU_MUL ? aux.b : NULL, *ug = pro == MLXC_QMM_PRO_RMS_NORM ? g.b : NULL;
            OT_RUN(dev, mlxc_qmatmul_fused(enc, x.b, ua, ug, &dq.w, a.b, n, k, &fz));
            OT_RUN(dev, mlxc_qmatmul_fused(enc, x.b, ua, ug, &dt.w, b.b, n, k, &fz));
            ot_download(&a);
            ot_download(&b);
            OT_EXACT(&b, a.h, "tiles fused n=%u k=%u prologue %d epilogue %d", n, k, pro, epi);
            ot_free(&x), ot_free(&aux), ot_free(&g), ot_free(&a), ot_free(&b);
        }
        {
            ot_buf a = ot_out(dev, MLXC_F32, (size_t)n * k), b = ot_out(dev, MLXC_F32, (size_t)n * k);
            OT_RUN(dev, mlxc_qembedding_gather(enc, &dq.w, NULL, a.b, n, k, 0.5f));
            OT_RUN(dev, mlxc_qembedding_gather(enc, &dt.w, NULL, b.b, n, k, 0.5f));
            ot_download(&a);
            ot_download(&b);
            OT_EXACT(&b, a.h, "tiles gather n=%u k=%u", n, k);
            ot_free(&a), ot_free(&b);
        }
        if (n % 32 == 0) { /* two experts of n / 2 rows */
            const uint32_t E = 2, ne = n / 2, tokens = 3, topk = 2;
            ot_buf x = ot_rand(dev, MLXC_BF16, (size_t)tokens * k, -1, 1), ids = ot_out(dev, MLXC_U32, tokens * topk);
            ot_buf a = ot_out(dev, MLXC_F32, (size_t)tokens * topk * ne), b = ot_out(dev, MLXC_F32, (size_t)tokens * topk * ne);
            for (size_t i = 0; i < tokens * topk; i++) ids.h[i] = (double)(i % E);
            ot_upload(&ids);
            OT_RUN(dev, mlxc_qmatmul_experts(enc, x.b, &dq.w, ids.b, a.b, tokens, topk, E, ne, k));
            OT_RUN(dev, mlxc_qmatmul_experts(enc, x.b, &dt.w, ids.b, b.b, tokens, topk, E, ne, k));
            ot_download(&a);
            ot_download(&b);
            OT_EXACT(&b, a.h, "tiles experts n=%u k=%u", ne, k);
            ot_free(&x), ot_free(&ids), ot_free(&a), ot_free(&b);
        }
        qt_dev_free(&dq), qt_dev_free(&dt);
        qt_weight_free(&w);
    }
    /* n off the 16-row tile, k off the 128-column chunk, a misaligned view */
    qt_weight w = qt_weight_rand(q4, 48, 384);
    qt_dev_weight dt = qt_upload_tiles(dev, &w);
    ot_buf x = ot_rand(dev, MLXC_F32, 384, -1, 1), y = ot_out(dev, MLXC_F32, 48);
    mlxc_encoder *e = NULL;
    CHECK_OK(mlxc_encoder_create(dev, &e));
    mlxc_buffer *v = NULL;
    CHECK_OK(mlxc_buffer_view(dt.data, 0, MLXC_U8, 1, (int64_t[]){40 * 216}, &v));
    mlxc_qmm_weight wv = dt.w;
    wv.data = v;
    CHECK_ERR(mlxc_qmatmul(e, x.b, &wv, y.b, 1, 40, 384), MLXC_ERR_SHAPE);
    mlxc_buffer_release(v);
    CHECK_OK(mlxc_buffer_view(dt.data, 0, MLXC_U8, 1, (int64_t[]){48 * 198}, &v));
    wv.data = v;
    CHECK_ERR(mlxc_qmatmul(e, x.b, &wv, y.b, 1, 48, 352), MLXC_ERR_SHAPE);
    mlxc_buffer_release(v);
    CHECK_OK(mlxc_buffer_view(dt.data, 8, MLXC_U8, 1, (int64_t[]){16 * 216}, &v));
    wv.data = v;
    CHECK_ERR(mlxc_qmatmul(e, x.b, &wv, y.b, 1, 16, 384), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_buffer_release(v);
    mlxc_encoder_destroy(e);
    ot_free(&x), ot_free(&y);
    qt_dev_free(&dt);
    qt_weight_free(&w);
}

int main(void) {
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &dev) != MLXC_OK) {
        fprintf(stderr, "cannot open the CPU device: %s\n", mlxc_last_error());
        return 1;
    }
    RUN(errors);
    RUN(launch_shapes);
    RUN(all_formats);
    RUN(large);
    RUN(gather);
    RUN(experts);
    RUN(grouped);
    RUN(experts_dense);
    RUN(fused);
    RUN(fused_q8);
    RUN(fused_q8_f32);
    RUN(fused_argmax);
    RUN(fused_pair);
    RUN(experts_fused);
    RUN(experts_combine);
    RUN(experts_q8);
    RUN(tiles);
    mlxc_device_close(dev);
    HARNESS_END();
}
