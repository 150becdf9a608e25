/* Helpers shared by the op-library tests (tests/test_ops_*.c): a host
 * mirror of a device buffer (values kept as double), random fills that are
 * never zero, NaN poisoning of outputs, per-dtype error bounds and the
 * normalized-error comparison. */
#ifndef MLXC_OPS_TEST_H
#define MLXC_OPS_TEST_H

#include <math.h>

#include "harness.h"
#include "mlxc/mlxc.h"
#include "mlxc/ops_elementwise.h"
#include "mlxc/ops_layout.h"
#include "mlxc/ops_norm.h"
#include "mlxc/ops_rope.h"
#include "mlxc/ops_sample.h"
#include "mlxc/ops_softmax.h"

static uint64_t ot_rng = 0x853c49e6748fea9bull;
static inline uint32_t ot_u32(void) {
    ot_rng ^= ot_rng << 13;
    ot_rng ^= ot_rng >> 7;
    ot_rng ^= ot_rng << 17;
    return (uint32_t)(ot_rng >> 16);
}
/* Uniform in [lo, hi), never exactly 0. */
static inline double ot_uniform(double lo, double hi) {
    double v = lo + (hi - lo) * (double)(ot_u32() & 0xffffff) / 16777216.0;
    return v == 0.0 ? (hi - lo) / 7.0 + lo + 1e-3 : v;
}

/* A device buffer and its host mirror h (n doubles). */
typedef struct ot_buf {
    mlxc_buffer *b;
    mlxc_dtype   dt;
    size_t       n;
    double      *h;
} ot_buf;

static inline double ot_ld(mlxc_dtype dt, const void *p, size_t i) {
    switch (dt) {
    case MLXC_F32: return ((const float *)p)[i];
    case MLXC_F16: return mlxc_f16_to_f32(((const uint16_t *)p)[i]);
    case MLXC_BF16: return mlxc_bf16_to_f32(((const uint16_t *)p)[i]);
    case MLXC_U8: return ((const uint8_t *)p)[i];
    case MLXC_U16: return ((const uint16_t *)p)[i];
    case MLXC_U32: return ((const uint32_t *)p)[i];
    case MLXC_I32: return ((const int32_t *)p)[i];
    case MLXC_I64: return (double)((const int64_t *)p)[i];
    default: return NAN;
    }
}
static inline void ot_st(mlxc_dtype dt, void *p, size_t i, double v) {
    switch (dt) {
    case MLXC_F32: ((float *)p)[i] = (float)v; break;
    case MLXC_F16: ((uint16_t *)p)[i] = mlxc_f32_to_f16((float)v); break;
    case MLXC_BF16: ((uint16_t *)p)[i] = mlxc_f32_to_bf16((float)v); break;
    case MLXC_U8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case MLXC_U16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case MLXC_U32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case MLXC_I32: ((int32_t *)p)[i] = (int32_t)v; break;
    case MLXC_I64: ((int64_t *)p)[i] = (int64_t)v; break;
    default: break;
    }
}

/* v rounded to dt's storage (as a kernel's store rounds it). */
static inline double ot_round(mlxc_dtype dt, double v) {
    unsigned char raw[8];
    ot_st(dt, raw, 0, v);
    return ot_ld(dt, raw, 0);
}

static inline ot_buf ot_alloc(mlxc_device *dev, mlxc_dtype dt, size_t n) {
    ot_buf t = {NULL, dt, n, calloc(n, sizeof(double))};
    int64_t shape[1] = {(int64_t)n};
    if (!t.h || mlxc_buffer_alloc(dev, n * mlxc_dtype_size(dt), dt, 1, shape, &t.b) != MLXC_OK) {
        fprintf(stderr, "ot_alloc: %s\n", mlxc_last_error());
        exit(1);
    }
    return t;
}
/* Write t.h (rounded to the dtype, and t.h updated to the stored values). */
static inline void ot_upload(ot_buf *t) {
    size_t es = mlxc_dtype_size(t->dt);
    unsigned char *raw = malloc(t->n * es);
    for (size_t i = 0; i < t->n; i++) {
        ot_st(t->dt, raw, i, t->h[i]);
        t->h[i] = ot_ld(t->dt, raw, i);
    }
    if (mlxc_buffer_write(t->b, 0, raw, t->n * es) != MLXC_OK) {
        fprintf(stderr, "ot_upload: %s\n", mlxc_last_error());
        exit(1);
    }
    free(raw);
}
static inline ot_buf ot_rand(mlxc_device *dev, mlxc_dtype dt, size_t n, double lo, double hi) {
    ot_buf t = ot_alloc(dev, dt, n);
    for (size_t i = 0; i < n; i++) t.h[i] = ot_uniform(lo, hi);
    ot_upload(&t);
    return t;
}
/* All-ones bytes: NaN in every float dtype, UINT_MAX in the integer ones. */
static inline void ot_poison(ot_buf *t) {
    size_t bytes = t->n * mlxc_dtype_size(t->dt);
    unsigned char *raw = malloc(bytes);
    memset(raw, 0xff, bytes);
    mlxc_buffer_write(t->b, 0, raw, bytes);
    free(raw);
}
static inline ot_buf ot_out(mlxc_device *dev, mlxc_dtype dt, size_t n) {
    ot_buf t = ot_alloc(dev, dt, n);
    ot_poison(&t);
    return t;
}
static inline void ot_download(ot_buf *t) {
    size_t es = mlxc_dtype_size(t->dt);
    unsigned char *raw = malloc(t->n * es);
    if (mlxc_buffer_read(t->b, 0, raw, t->n * es) != MLXC_OK) {
        fprintf(stderr, "ot_download: %s\n", mlxc_last_error());
        exit(1);
    }
    for (size_t i = 0; i < t->n; i++) t->h[i] = ot_ld(t->dt, raw, i);
    free(raw);
}
static inline void ot_free(ot_buf *t) {
    mlxc_buffer_release(t->b);
    free(t->h);
    t->b = NULL;
    t->h = NULL;
}

/* Normalized error bound of an output dtype. */
static inline double ot_tol(mlxc_dtype dt) {
    return dt == MLXC_F32 ? 1e-6 : dt == MLXC_F16 ? 1e-3 : 8e-3;
}

/* ||out - ref|| / ||ref|| over n values (absolute when ref is all zero);
 * any NaN in out where ref has none counts as infinite. */
static inline double ot_nerr(const double *out, const double *ref, size_t n, size_t *worst) {
    double num = 0, den = 0, wmax = -1;
    *worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(out[i]) != isnan(ref[i])) {
            *worst = i;
            return INFINITY;
        }
        if (isnan(ref[i]) || out[i] == ref[i]) continue;
        if (isinf(out[i]) || isinf(ref[i])) {
            *worst = i;
            return INFINITY;
        }
        double d = out[i] - ref[i];
        num += d * d;
        if (fabs(d) > wmax) { wmax = fabs(d); *worst = i; }
    }
    for (size_t i = 0; i < n; i++)
        if (!isnan(ref[i]) && !isinf(ref[i])) den += ref[i] * ref[i];
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Check out (downloaded) against ref within tol; prints the case on failure. */
#define OT_CLOSE(out, ref, tol, ...)                                                           \
    do {                                                                                       \
        size_t w_;                                                                             \
        double e_ = ot_nerr((out)->h, (ref), (out)->n, &w_);                                   \
        if (!(e_ <= (tol))) {                                                                  \
            fprintf(stderr, "  FAIL %s:%d [%s]: nerr %.3g > %.3g at [%zu]: %.9g vs %.9g: ", __FILE__, \
                    __LINE__, th_current, e_, (double)(tol), w_, (out)->h[w_], (ref)[w_]);     \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
            th_checks_failed_in_test++;                                                        \
        }                                                                                      \
    } while (0)

/* Exact equality (copies, gathers, indices). */
#define OT_EXACT(out, ref, ...)                                                                \
    do {                                                                                       \
        for (size_t i_ = 0; i_ < (out)->n; i_++)                                               \
            if (!((out)->h[i_] == (ref)[i_] || (isnan((out)->h[i_]) && isnan((ref)[i_])))) {   \
                fprintf(stderr, "  FAIL %s:%d [%s]: [%zu] %.9g vs %.9g: ", __FILE__, __LINE__, \
                        th_current, i_, (out)->h[i_], (ref)[i_]);                              \
                fprintf(stderr, __VA_ARGS__);                                                  \
                fputc('\n', stderr);                                                           \
                th_checks_failed_in_test++;                                                    \
                break;                                                                         \
            }                                                                                  \
    } while (0)

/* The parity suites' two devices: the CPU, and the device checked against
 * it (CUDA; with allow_self and MLXC_OPS_PARITY_SELF=1 the CPU again, a
 * check of the harness itself).  Skips the program without that device,
 * exits 1 when one does not open, and prints "SUITE: other vs cpu". */
static inline void ot_parity_devices(const char *suite, bool allow_self, mlxc_device **cpu, mlxc_device **other) {
    const char *self = allow_self ? getenv("MLXC_OPS_PARITY_SELF") : NULL;
    const mlxc_backend_kind kind = self && self[0] == '1' ? MLXC_BACKEND_CPU : MLXC_BACKEND_CUDA;
    int n = 0;
    mlxc_device_count(kind, &n);
    if (n == 0) SKIP_ALL("no CUDA device");
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, cpu) != MLXC_OK || mlxc_device_open(kind, 0, other) != MLXC_OK) {
        fprintf(stderr, "cannot open the devices: %s\n", mlxc_last_error());
        exit(1);
    }
    printf("%s: %s vs %s\n", suite, mlxc_device_name(*other), mlxc_device_name(*cpu));
}

static const mlxc_dtype ot_float_dtypes[3] = {MLXC_F32, MLXC_F16, MLXC_BF16};

/* Open an encoder, run `call` (an expression using `enc`), commit and wait. */
#define OT_RUN(dev, call)                                                                      \
    do {                                                                                       \
        mlxc_encoder *enc = NULL;                                                              \
        CHECK_OK(mlxc_encoder_create((dev), &enc));                                            \
        if (enc) {                                                                             \
            CHECK_OK(call);                                                                    \
            CHECK_OK(mlxc_encoder_commit_and_wait(enc));                                       \
            mlxc_encoder_destroy(enc);                                                         \
        }                                                                                      \
    } while (0)

#endif
