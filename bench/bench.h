/* bench/bench.h — what every benchmark program shares.
 *
 *   - the device: the first CUDA device, else the CPU (--cpu forces it);
 *     on CUDA a second, CPU device is the reference every variant is
 *     checked against before it is timed;
 *   - the copy ceiling, measured once per run: mlxc_copy of a buffer well
 *     over the cache (bytes read + bytes written / median time), the
 *     denominator of every "of ceiling" fraction;
 *   - the cache size from mlxc_device_caps (l2_bytes), which sizes the
 *     rotating operand sets so that no iteration finds its inputs in cache;
 *   - device timing: one command buffer of `iters` dispatches, a barrier
 *     after each, timed by mlxc_encoder_gpu_time; median of BENCH_REPS;
 *   - a closing line with the command line and the commit that give the
 *     figures.
 * Only the public API is used (include/mlxc/).  Header-only: each bench is
 * one program. */
#ifndef MLXC_BENCH_H
#define MLXC_BENCH_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crash.h"
#include "mlxc/mlxc.h"
#include "mlxc_git_commit.h" /* MLXC_GIT_COMMIT, generated at build time */

#ifndef MLXC_GIT_COMMIT
#define MLXC_GIT_COMMIT "unknown"
#endif

#define BENCH_REPS  5   /* timed command buffers (after one warm-up): the median */
#define BENCH_MAXOP 8
#define BENCH_MAXSETS 64

typedef struct bench_state {
    mlxc_device     *dev;      /* timed */
    mlxc_device     *ref;      /* the CPU reference; NULL when dev is the CPU */
    mlxc_device_caps caps;
    double           ceiling;  /* bytes/s of the copy */
    uint64_t         rotate;   /* bytes a rotation's sets span at least */
    int              iters;    /* dispatches per command buffer */
    const char      *filter;   /* --filter: only labels containing it */
    int              argc;
    char           **argv;
    int              checked, failed;
} bench_state;

static bench_state bench_g;

static inline double bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One iteration's work: dispatch into `enc`, iteration `i`. */
typedef mlxc_status (*bench_iter_fn)(mlxc_encoder *enc, int i, void *ctx);

/* Seconds per call of one command buffer of `iters` calls of fn, device
 * time (the host clock where the device gives none); NAN on failure.
 * tracked 0: a barrier after each call (each starts after the one before
 * has ended); 1: the decode step's form, auto-barrier on and no barrier of
 * the caller's, so that a call's edge to the one before is programmatic
 * where the GPU has it (it is scheduled early and waits inside). */
static inline double bench_cb_seconds(mlxc_device *dev, int iters, bench_iter_fn fn, void *ctx, int tracked) {
    mlxc_encoder *enc = NULL;
    if (mlxc_encoder_create(dev, &enc) != MLXC_OK) return NAN;
    mlxc_status st = tracked ? mlxc_encoder_set_auto_barrier(enc, true) : MLXC_OK;
    for (int i = 0; i < iters && !st; i++) {
        st = fn(enc, i, ctx);
        if (!st && !tracked) st = mlxc_encoder_barrier(enc);
    }
    double h0 = bench_now_ns();
    if (!st) st = mlxc_encoder_commit_and_wait(enc);
    double ns = bench_now_ns() - h0;
    uint64_t g0 = 0, g1 = 0;
    if (st) {
        fprintf(stderr, "bench: run failed: %s\n", mlxc_last_error());
        mlxc_encoder_destroy(enc);
        return NAN;
    }
    if (mlxc_encoder_gpu_time(enc, &g0, &g1) == MLXC_OK && g1 > g0) ns = (double)(g1 - g0);
    mlxc_encoder_destroy(enc);
    return ns * 1e-9 / iters;
}

/* Seconds per iteration: bench_cb_seconds' median over BENCH_REPS command
 * buffers after a warm-up.  NAN on failure. */
static inline double bench_time_on_as(mlxc_device *dev, int iters, bench_iter_fn fn, void *ctx, int tracked) {
    double t[BENCH_REPS];
    for (int rep = -1; rep < BENCH_REPS; rep++) {
        const double s = bench_cb_seconds(dev, iters, fn, ctx, tracked);
        if (isnan(s)) return NAN;
        if (rep >= 0) t[rep] = s;
    }
    qsort(t, BENCH_REPS, sizeof *t, bench_cmp_double);
    return t[BENCH_REPS / 2];
}
static inline double bench_time_on(mlxc_device *dev, int iters, bench_iter_fn fn, void *ctx) {
    return bench_time_on_as(dev, iters, fn, ctx, 0);
}
static inline double bench_time(bench_iter_fn fn, void *ctx) {
    return bench_time_on(bench_g.dev, bench_g.iters, fn, ctx);
}

/* A buffer on `dev` of n elements, every byte `fill`. */
static inline mlxc_buffer *bench_alloc(mlxc_device *dev, mlxc_dtype dt, size_t n) {
    mlxc_buffer *b = NULL;
    int64_t sh[1] = {(int64_t)n};
    if (mlxc_buffer_alloc(dev, n * mlxc_dtype_size(dt), dt, 1, sh, &b) != MLXC_OK) {
        fprintf(stderr, "bench: alloc of %zu %s: %s\n", n, mlxc_dtype_name(dt), mlxc_last_error());
        exit(1);
    }
    return b;
}

static inline uint64_t bench_rng(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Store v as dtype dt at element i of raw. */
static inline void bench_store(mlxc_dtype dt, void *raw, size_t i, double v) {
    unsigned char *p = raw;
    switch (dt) {
    case MLXC_F32: { float f = (float)v; memcpy(p + 4 * i, &f, 4); break; }
    case MLXC_F16: { uint16_t u = mlxc_f32_to_f16((float)v); memcpy(p + 2 * i, &u, 2); break; }
    case MLXC_BF16: { uint16_t u = mlxc_f32_to_bf16((float)v); memcpy(p + 2 * i, &u, 2); break; }
    case MLXC_U32: case MLXC_I32: { int32_t x = (int32_t)v; memcpy(p + 4 * i, &x, 4); break; }
    case MLXC_I64: { int64_t x = (int64_t)v; memcpy(p + 8 * i, &x, 8); break; }
    case MLXC_U16: case MLXC_I16: { int16_t x = (int16_t)v; memcpy(p + 2 * i, &x, 2); break; }
    default: p[i] = (unsigned char)(int)v; break;
    }
}
static inline double bench_load(mlxc_dtype dt, const void *raw, size_t i) {
    const unsigned char *p = raw;
    switch (dt) {
    case MLXC_F32: { float f; memcpy(&f, p + 4 * i, 4); return f; }
    case MLXC_F16: { uint16_t u; memcpy(&u, p + 2 * i, 2); return mlxc_f16_to_f32(u); }
    case MLXC_BF16: { uint16_t u; memcpy(&u, p + 2 * i, 2); return mlxc_bf16_to_f32(u); }
    case MLXC_U32: { uint32_t x; memcpy(&x, p + 4 * i, 4); return x; }
    case MLXC_I32: { int32_t x; memcpy(&x, p + 4 * i, 4); return x; }
    case MLXC_I64: { int64_t x; memcpy(&x, p + 8 * i, 8); return (double)x; }
    case MLXC_U16: { uint16_t x; memcpy(&x, p + 2 * i, 2); return x; }
    case MLXC_I16: { int16_t x; memcpy(&x, p + 2 * i, 2); return x; }
    case MLXC_I8: return (double)(signed char)p[i];
    default: return p[i];
    }
}
static inline int bench_is_float(mlxc_dtype dt) { return dt == MLXC_F32 || dt == MLXC_F16 || dt == MLXC_BF16; }

/* Fill a buffer from host values produced in 16 MiB pieces: floats uniform
 * in [lo, hi) (never exactly zero), integers i % mod. */
static inline void bench_fill(mlxc_buffer *b, double lo, double hi, uint32_t mod, uint64_t seed) {
    const mlxc_dtype dt = mlxc_buffer_dtype(b);
    const size_t es = mlxc_dtype_size(dt), n = mlxc_buffer_bytes(b) / es, chunk = ((size_t)16 << 20) / es;
    unsigned char *h = malloc(chunk * es);
    uint64_t s = 0x9e3779b97f4a7c15ull ^ (seed * 0x2545f4914f6cdd1dull) ^ n;
    if (!s) s = 1;
    for (size_t off = 0; off < n; off += chunk) {
        size_t c = n - off < chunk ? n - off : chunk;
        for (size_t i = 0; i < c; i++) {
            double v;
            if (bench_is_float(dt)) {
                v = lo + (hi - lo) * ((double)(bench_rng(&s) >> 11) / 9007199254740992.0);
                if (v == 0) v = (hi - lo) * 1e-3;
            } else {
                v = (double)((off + i) % (mod ? mod : 1000));
            }
            bench_store(dt, h, i, v);
        }
        if (mlxc_buffer_write(b, off * es, h, c * es) != MLXC_OK) {
            fprintf(stderr, "bench: write: %s\n", mlxc_last_error());
            exit(1);
        }
    }
    free(h);
}

/* Every byte 0xff: NaN in a float, an impossible index in an integer. */
static inline void bench_poison(mlxc_buffer *b) {
    size_t bytes = mlxc_buffer_bytes(b);
    unsigned char *h = malloc(bytes);
    memset(h, 0xff, bytes);
    mlxc_buffer_write(b, 0, h, bytes);
    free(h);
}

static mlxc_status bench_copy_iter(mlxc_encoder *enc, int i, void *ctx) {
    mlxc_buffer **b = ctx;
    return mlxc_copy(enc, b[i % 2], b[2 + i % 2]);
}

/* The ceiling: mlxc_copy between two pairs of buffers (rotated, so one
 * iteration never reads what the last wrote), each at least 5x the cache
 * and 256 MiB on a GPU (64 MiB on a CPU). */
static inline double bench_measure_ceiling(size_t *bytes_out) {
    const bool cpu = bench_g.caps.backend == MLXC_BACKEND_CPU;
    size_t bytes = cpu ? ((size_t)64 << 20) : ((size_t)256 << 20);
    if (bench_g.caps.l2_bytes * 5 > bytes) bytes = (size_t)bench_g.caps.l2_bytes * 5;
    bytes = (bytes + 255) / 256 * 256;
    mlxc_buffer *b[4];
    /* A GPU allocation copies zeros as fast as anything else (and filling
     * it from the host costs seconds); host memory never written may be
     * the kernel's one shared zero page, which the cache holds: write the
     * sources there. */
    for (int i = 0; i < 4; i++) {
        b[i] = bench_alloc(bench_g.dev, MLXC_F32, bytes / 4);
        if (bench_g.caps.host_visible && i < 2) bench_fill(b[i], -1, 1, 0, (uint64_t)i + 1);
    }
    double t = bench_time(bench_copy_iter, b);
    for (int i = 0; i < 4; i++) mlxc_buffer_release(b[i]);
    *bytes_out = bytes;
    return 2.0 * (double)bytes / t;
}

/* Opens the devices, measures the ceiling and prints the header.  Options
 * every bench takes: --cpu (time the CPU device), --filter TEXT (only the
 * rows whose label contains TEXT), --iters N.  Returns the index of the
 * first argument it did not consume (argc when all were). */
static inline int bench_init(int argc, char **argv, const char *what) {
    bench_on_crash();
    bench_g.argc = argc;
    bench_g.argv = argv;
    int force_cpu = 0, iters = 0, a = 1;
    for (; a < argc; a++) {
        if (strcmp(argv[a], "--cpu") == 0) force_cpu = 1;
        else if (strcmp(argv[a], "--filter") == 0 && a + 1 < argc) bench_g.filter = argv[++a];
        else if (strcmp(argv[a], "--iters") == 0 && a + 1 < argc) iters = atoi(argv[++a]);
        else break;
    }
    int ncuda = 0;
    if (!force_cpu) mlxc_device_count(MLXC_BACKEND_CUDA, &ncuda);
    mlxc_backend_kind kind = ncuda > 0 ? MLXC_BACKEND_CUDA : MLXC_BACKEND_CPU;
    if (mlxc_device_open(kind, 0, &bench_g.dev) != MLXC_OK) {
        fprintf(stderr, "bench: cannot open the %s device: %s\n", mlxc_backend_name(kind), mlxc_last_error());
        exit(1);
    }
    /* MLXC_BENCH_SELF=1: check the CPU against a second CPU device (a test
     * of the checking itself where there is no GPU) */
    const char *self = getenv("MLXC_BENCH_SELF");
    bool want_ref = kind != MLXC_BACKEND_CPU || (self && self[0] == '1');
    if (want_ref && mlxc_device_open(MLXC_BACKEND_CPU, 0, &bench_g.ref) != MLXC_OK) {
        fprintf(stderr, "bench: cannot open the CPU device: %s\n", mlxc_last_error());
        exit(1);
    }
    mlxc_device_caps_get(bench_g.dev, &bench_g.caps);
    bench_g.iters = iters > 0 ? iters : kind == MLXC_BACKEND_CPU ? 3 : 50;
    /* Sets spanning 5x the cache (256 MiB when the cache size is unknown) */
    bench_g.rotate = bench_g.caps.l2_bytes ? 5 * bench_g.caps.l2_bytes : ((uint64_t)256 << 20);
    size_t cb = 0;
    bench_g.ceiling = bench_measure_ceiling(&cb);
    printf("%s on %s (%s, cache %.1f MiB", what, bench_g.caps.name, mlxc_backend_name(kind),
           (double)bench_g.caps.l2_bytes / 1048576.0);
    if (bench_g.caps.memory_bus_bits && bench_g.caps.memory_clock_khz)
        printf(", %d-bit bus at %d MHz", bench_g.caps.memory_bus_bits, bench_g.caps.memory_clock_khz / 1000);
    printf(")\n%d iterations per command buffer (a barrier after each), median of %d, device time\n",
           bench_g.iters, BENCH_REPS);
    printf("ceiling: mlxc_copy of %.0f MiB, %.1f GB/s (read + write); %% below = fraction of it\n",
           (double)cb / 1048576.0, bench_g.ceiling / 1e9);
    printf("checks: %s\n\n", bench_g.ref ? "every variant against the CPU device first (normalized error)"
                                          : "none (no second device: the CPU is timed alone)");
    return a;
}

/* Closes the devices and prints how to reproduce the figures; the exit
 * status (1 when a check failed). */
static inline int bench_end(void) {
    mlxc_device_close(bench_g.dev);
    mlxc_device_close(bench_g.ref);
    if (bench_g.checked) printf("\n%d variants checked, %d failed\n", bench_g.checked, bench_g.failed);
    printf("\nreproduce:");
    for (int i = 0; i < bench_g.argc; i++) {
        const char *a = bench_g.argv[i];
        if (a[strcspn(a, " \t\"'$[]*?;&|<>()\\")]) printf(" '%s'", a);
        else printf(" %s", a);
    }
    printf("   (commit %s, mlxc %s)\n", MLXC_GIT_COMMIT, mlxc_version());
    return bench_g.failed ? 1 : 0;
}

/* ---- a variant: operands, a call, bytes moved ------------------------------------------- */

typedef enum { BENCH_IN = 0, BENCH_OUT = 1, BENCH_INOUT = 2 } bench_role;

typedef struct bench_operand {
    mlxc_dtype dt;
    size_t     elems;
    bench_role role;
    double     lo, hi; /* float inputs: uniform in [lo, hi); both 0: [-1, 1) */
    uint32_t   mod;    /* integer inputs: element i holds i % mod (0: 1000) */
    double     tol;    /* outputs: normalized-error bound; 0 exact; < 0 unchecked */
} bench_operand;

typedef mlxc_status (*bench_call)(mlxc_encoder *enc, mlxc_buffer *const *op, const void *arg);

typedef struct bench_variant {
    const char   *label;
    int           nop;
    bench_operand op[BENCH_MAXOP];
    double        bytes; /* each input read once + each output written once */
    bench_call    call;
    const void   *arg;
} bench_variant;

/* ||out - ref|| / ||ref|| (absolute when ref is all zero); a NaN on one
 * side only, or an infinity that differs, is infinite. */
static inline double bench_nerr(const double *out, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(out[i]) != isnan(ref[i])) return INFINITY;
        if (isnan(ref[i]) || out[i] == ref[i]) continue;
        if (isinf(out[i]) || isinf(ref[i])) return INFINITY;
        double d = out[i] - ref[i];
        num += d * d;
    }
    for (size_t i = 0; i < n; i++)
        if (!isnan(ref[i]) && !isinf(ref[i])) den += ref[i] * ref[i];
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static inline double *bench_download(const mlxc_buffer *b) {
    const mlxc_dtype dt = mlxc_buffer_dtype(b);
    const size_t es = mlxc_dtype_size(dt), n = mlxc_buffer_bytes(b) / es;
    unsigned char *raw = malloc(n * es);
    double *h = malloc(n * sizeof *h);
    if (mlxc_buffer_read(b, 0, raw, n * es) != MLXC_OK) {
        fprintf(stderr, "bench: read: %s\n", mlxc_last_error());
        exit(1);
    }
    for (size_t i = 0; i < n; i++) h[i] = bench_load(dt, raw, i);
    free(raw);
    return h;
}

static inline void bench_operand_init(mlxc_buffer *b, const bench_operand *o, uint64_t seed) {
    if (o->role == BENCH_OUT) bench_poison(b);
    else bench_fill(b, o->lo == 0 && o->hi == 0 ? -1 : o->lo, o->lo == 0 && o->hi == 0 ? 1 : o->hi, o->mod, seed);
}

static inline mlxc_status bench_run_once(mlxc_device *dev, const bench_variant *v, mlxc_buffer *const *op) {
    mlxc_encoder *enc = NULL;
    mlxc_status st = mlxc_encoder_create(dev, &enc);
    if (!st) st = v->call(enc, op, v->arg);
    if (!st) st = mlxc_encoder_commit_and_wait(enc);
    mlxc_encoder_destroy(enc);
    return st;
}

/* Fresh random inputs and poisoned outputs on both devices, the variant
 * run once on each, every output compared.  Writes the worst error (over
 * the outputs' own bounds) into *worst; false when a bound is exceeded. */
static inline bool bench_check(const bench_variant *v, double *worst, const char **why) {
    static uint64_t seed = 1;
    mlxc_buffer *c[BENCH_MAXOP] = {0}, *g[BENCH_MAXOP] = {0};
    bool ok = true;
    *worst = 0;
    *why = "";
    seed++;
    for (int i = 0; i < v->nop; i++) {
        c[i] = bench_alloc(bench_g.ref, v->op[i].dt, v->op[i].elems);
        g[i] = bench_alloc(bench_g.dev, v->op[i].dt, v->op[i].elems);
        bench_operand_init(c[i], &v->op[i], seed * 16 + (uint64_t)i);
        bench_operand_init(g[i], &v->op[i], seed * 16 + (uint64_t)i);
    }
    if (bench_run_once(bench_g.ref, v, c) != MLXC_OK || bench_run_once(bench_g.dev, v, g) != MLXC_OK) {
        ok = false;
        *why = mlxc_last_error();
    }
    for (int i = 0; ok && i < v->nop; i++) {
        if (v->op[i].role == BENCH_IN || v->op[i].tol < 0) continue;
        double *hc = bench_download(c[i]), *hg = bench_download(g[i]);
        size_t n = v->op[i].elems;
        double e = bench_nerr(hg, hc, n);
        if (v->op[i].tol == 0)
            for (size_t k = 0; k < n && e == 0; k++)
                if (!(hg[k] == hc[k] || (isnan(hg[k]) && isnan(hc[k])))) e = INFINITY;
        if (e > *worst) *worst = e;
        if (!(e <= v->op[i].tol)) {
            ok = false;
            *why = "error over the bound";
        }
        free(hc);
        free(hg);
    }
    for (int i = 0; i < v->nop; i++) {
        mlxc_buffer_release(c[i]);
        mlxc_buffer_release(g[i]);
    }
    return ok;
}

/* Operand sets for timing, rotated so that together they span
 * bench_g.rotate bytes and each iteration reads memory, not cache. */
typedef struct bench_rot {
    const bench_variant *v;
    int                  nsets;
    mlxc_buffer         *op[BENCH_MAXSETS][BENCH_MAXOP];
} bench_rot;

static mlxc_status bench_rot_iter(mlxc_encoder *enc, int i, void *ctx) {
    bench_rot *r = ctx;
    return r->v->call(enc, r->op[i % r->nsets], r->v->arg);
}

/* Check (when there is a reference device), then time one variant; prints
 * one row: bytes, sets, time, GB/s, fraction of the ceiling, check. */
static inline void bench_variant_run(const bench_variant *v) {
    if (bench_g.filter && !strstr(v->label, bench_g.filter)) return;
    char chk[64] = "-";
    if (bench_g.ref) {
        double e = 0;
        const char *why = "";
        bool ok = bench_check(v, &e, &why);
        bench_g.checked++;
        if (!ok) bench_g.failed++;
        if (ok) snprintf(chk, sizeof chk, "ok %.1e", e);
        else snprintf(chk, sizeof chk, "FAIL %.1e", e);
        if (!ok) fprintf(stderr, "bench: %s: check failed: %s\n", v->label, why);
    }
    bench_rot r = {v, 0, {{0}}};
    uint64_t set = 0;
    for (int i = 0; i < v->nop; i++) set += (v->op[i].elems * mlxc_dtype_size(v->op[i].dt) + 255) / 256 * 256;
    uint64_t n = (bench_g.rotate + set - 1) / set;
    r.nsets = n < 2 ? 2 : n > BENCH_MAXSETS ? BENCH_MAXSETS : (int)n;
    /* Set 0 from the host; the others copied from it on the device (the
     * values do not matter to the timing, the addresses do). */
    mlxc_encoder *fill = NULL;
    if (mlxc_encoder_create(bench_g.dev, &fill) != MLXC_OK) fill = NULL;
    for (int k = 0; k < r.nsets; k++)
        for (int i = 0; i < v->nop; i++) {
            r.op[k][i] = bench_alloc(bench_g.dev, v->op[i].dt, v->op[i].elems);
            if (k > 0 && fill && mlxc_copy(fill, r.op[0][i], r.op[k][i]) == MLXC_OK) continue;
            /* outputs hold values too: an in-place or accumulating op must
             * not start from NaN */
            bench_operand op = v->op[i];
            op.role = BENCH_IN;
            bench_operand_init(r.op[k][i], &op, (uint64_t)k * 16 + (uint64_t)i + 7);
        }
    if (fill && mlxc_encoder_commit_and_wait(fill) != MLXC_OK) {
        fprintf(stderr, "bench: filling the operand sets: %s\n", mlxc_last_error());
        exit(1);
    }
    mlxc_encoder_destroy(fill);
    double t = bench_time(bench_rot_iter, &r);
    for (int k = 0; k < r.nsets; k++)
        for (int i = 0; i < v->nop; i++) mlxc_buffer_release(r.op[k][i]);
    if (isnan(t)) {
        printf("%-50s failed\n", v->label);
        bench_g.failed++;
        return;
    }
    printf("%-50s %9.2f MB %2d sets %9.2f us %8.1f GB/s %5.1f%%  %s\n", v->label, v->bytes / 1e6, r.nsets, t * 1e6,
           v->bytes / t / 1e9, 100.0 * v->bytes / t / bench_g.ceiling, chk);
    fflush(stdout);
}

static inline void bench_table_header(void) {
    printf("%-50s %12s %7s %12s %13s %6s  %s\n", "kernel (shape)", "bytes", "", "time", "bandwidth", "ceil", "check");
}

/* Operand shorthands for variant tables. */
#define BIN(dt, n)            {(dt), (n), BENCH_IN, 0, 0, 0, 0}
#define BIN_R(dt, n, lo, hi)  {(dt), (n), BENCH_IN, (lo), (hi), 0, 0}
#define BINT(dt, n, mod)      {(dt), (n), BENCH_IN, 0, 0, (mod), 0}
#define BOUT(dt, n, tol)      {(dt), (n), BENCH_OUT, 0, 0, 0, (tol)}
#define BINOUT(dt, n, tol)    {(dt), (n), BENCH_INOUT, 0, 0, 0, (tol)}

/* The parity bound of an output dtype (as the parity tests use). */
static inline double bench_tol(mlxc_dtype dt) { return dt == MLXC_F32 ? 1e-5 : dt == MLXC_F16 ? 2e-3 : 1.6e-2; }

#endif /* MLXC_BENCH_H */
