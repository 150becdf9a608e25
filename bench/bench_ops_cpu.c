/* CPU op kernels at LLM-like shapes: time per call, GB/s (inputs read once
 * plus outputs written once) and the fraction of a plain memcpy of the same
 * bytes on this machine (the ceiling).
 *
 *   bench_ops_cpu            every op
 *   bench_ops_cpu NAME...    only the ops whose label contains one of NAME
 *
 * Each figure is the best of 5 command buffers of ITERS calls after one
 * warm-up, timed by the host clock around commit-and-wait. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlxc/mlxc.h"
#include "mlxc/ops_elementwise.h"
#include "mlxc/ops_layout.h"
#include "mlxc/ops_norm.h"
#include "mlxc/ops_rope.h"
#include "mlxc/ops_sample.h"
#include "mlxc/ops_softmax.h"

#define ITERS 5
#define REPS  5

static mlxc_device *dev;
static int          g_argc;
static char       **g_argv;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static mlxc_buffer *buf(mlxc_dtype dt, size_t n) {
    mlxc_buffer *b = NULL;
    int64_t shape[1] = {(int64_t)n};
    if (mlxc_buffer_alloc(dev, n * mlxc_dtype_size(dt), dt, 1, shape, &b) != MLXC_OK) {
        fprintf(stderr, "alloc: %s\n", mlxc_last_error());
        exit(1);
    }
    return b;
}

/* Uniform values in [-4, 4] of dtype dt (f32, f16, bf16), or zeros for the rest. */
static mlxc_buffer *rnd(mlxc_dtype dt, size_t n) {
    mlxc_buffer *b = buf(dt, n);
    const size_t es = mlxc_dtype_size(dt);
    unsigned char *h = calloc(n, es);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        const float v = (float)((int)(s % 8001) - 4000) / 1000.0f;
        if (dt == MLXC_F32) memcpy(h + 4 * i, &v, 4);
        else if (dt == MLXC_BF16) ((uint16_t *)h)[i] = mlxc_f32_to_bf16(v);
        else if (dt == MLXC_F16) ((uint16_t *)h)[i] = mlxc_f32_to_f16(v);
    }
    mlxc_buffer_write(b, 0, h, n * es);
    free(h);
    return b;
}

typedef struct ctx {
    mlxc_buffer *a, *b, *c, *d, *e;
    uint32_t     u0, u1, u2;
    mlxc_rope_desc rope;
    mlxc_scale_mask_softmax_desc sm;
} ctx;
typedef mlxc_status (*op_fn)(mlxc_encoder *enc, ctx *c);

/* Best seconds per call, 0 on failure. */
static double time_op(op_fn fn, ctx *c) {
    double best = 0;
    for (int rep = 0; rep <= REPS; rep++) {
        mlxc_encoder *enc = NULL;
        if (mlxc_encoder_create(dev, &enc)) return 0;
        mlxc_status st = MLXC_OK;
        const double t0 = now_s();
        for (int i = 0; i < ITERS && !st; i++) st = fn(enc, c);
        if (!st) st = mlxc_encoder_commit_and_wait(enc);
        const double t = (now_s() - t0) / ITERS;
        mlxc_encoder_destroy(enc);
        if (st) {
            fprintf(stderr, "failed: %s\n", mlxc_last_error());
            return 0;
        }
        if (rep > 0 && (best == 0 || t < best)) best = t;
    }
    return best;
}

/* memcpy of `bytes` split as read bytes/2 + write bytes/2, best of REPS. */
static double memcpy_s(double bytes) {
    const size_t n = (size_t)(bytes / 2);
    char *s = malloc(n ? n : 1), *d = malloc(n ? n : 1);
    memset(s, 1, n), memset(d, 2, n);
    double best = 0;
    for (int rep = 0; rep <= REPS; rep++) {
        const double t0 = now_s();
        for (int i = 0; i < ITERS; i++) memcpy(d, s, n), s[i] ^= d[n - 1 - i];
        const double t = (now_s() - t0) / ITERS;
        if (rep > 0 && (best == 0 || t < best)) best = t;
    }
    free(s), free(d);
    return best;
}

static int wanted(const char *label) {
    if (g_argc < 2) return 1;
    for (int i = 1; i < g_argc; i++)
        if (strstr(label, g_argv[i])) return 1;
    return 0;
}

static void report(const char *label, double bytes, op_fn fn, ctx *c) {
    const double t = time_op(fn, c), m = memcpy_s(bytes);
    if (t <= 0) return;
    printf("| %-40s | %9.1f | %8.1f | %7.2f | %7.2f | %5.1f%% |\n", label, bytes / 1e6, t * 1e6, bytes / t / 1e9,
           bytes / m / 1e9, 100.0 * m / t);
    fflush(stdout);
}

static mlxc_status op_gelu(mlxc_encoder *e, ctx *c) { return mlxc_gelu(e, c->a, c->b); }
static mlxc_status op_silu(mlxc_encoder *e, ctx *c) { return mlxc_silu_mul(e, c->a, c->b, c->c); }
static mlxc_status op_softcap(mlxc_encoder *e, ctx *c) { return mlxc_softcap(e, c->a, c->b, 30.0f); }
static mlxc_status op_softmax(mlxc_encoder *e, ctx *c) { return mlxc_softmax(e, c->a, c->b, c->u0); }
static mlxc_status op_smsm(mlxc_encoder *e, ctx *c) { return mlxc_scale_mask_softmax(e, c->a, c->c, c->b, &c->sm); }
static mlxc_status op_transpose(mlxc_encoder *e, ctx *c) { return mlxc_transpose_2d(e, c->a, c->b, 1, c->u0, c->u1); }
static mlxc_status op_layer(mlxc_encoder *e, ctx *c) { return mlxc_layer_norm(e, c->a, c->c, c->d, c->b, c->u0, 1e-5f); }
static mlxc_status op_rms(mlxc_encoder *e, ctx *c) {
    return mlxc_rms_norm_residual(e, c->a, c->c, c->d, c->b, c->e, c->u0, 1e-5f);
}
static mlxc_status op_rope(mlxc_encoder *e, ctx *c) { return mlxc_rope(e, c->a, c->b, c->c, NULL, &c->rope); }
static mlxc_status op_argmax(mlxc_encoder *e, ctx *c) { return mlxc_argmax(e, c->a, c->b, c->c, c->u0); }
static mlxc_status op_topk(mlxc_encoder *e, ctx *c) { return mlxc_topk(e, c->a, c->b, c->c, c->u0, c->u1); }
static mlxc_status op_sample(mlxc_encoder *e, ctx *c) {
    return mlxc_sample_softmax(e, c->a, NULL, c->b, c->c, c->u0, 0.8f, 0.37f);
}

static void free_ctx(ctx *c) {
    mlxc_buffer *all[5] = {c->a, c->b, c->c, c->d, c->e};
    for (int i = 0; i < 5; i++)
        if (all[i]) mlxc_buffer_release(all[i]);
    memset(c, 0, sizeof *c);
}

int main(int argc, char **argv) {
    g_argc = argc, g_argv = argv;
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &dev) != MLXC_OK) {
        fprintf(stderr, "device: %s\n", mlxc_last_error());
        return 1;
    }
    printf("mlxc CPU ops on %s; best of %d x %d calls\n\n", mlxc_device_name(dev), REPS, ITERS);
    printf("| %-40s | %9s | %8s | %7s | %7s | %6s |\n", "op", "MB", "us", "GB/s", "memcpy", "of cpy");
    printf("|%s|%s|%s|%s|%s|%s|\n", "------------------------------------------", "-----------",
           "----------", "---------", "---------", "--------");
    const mlxc_dtype dts[3] = {MLXC_F32, MLXC_BF16, MLXC_F16};
    const char *dn[3] = {"f32", "bf16", "f16"};
    char label[96];
    ctx c = {0};
    for (int di = 0; di < 3; di++) {
        const mlxc_dtype dt = dts[di];
        const double es = (double)mlxc_dtype_size(dt);
        const size_t n1 = 512 * 4096, n2 = 512 * 14336;
        snprintf(label, sizeof label, "gelu %s [512,14336]", dn[di]);
        if (wanted(label)) {
            c.a = rnd(dt, n2), c.b = buf(dt, n2);
            report(label, 2 * es * n2, op_gelu, &c), free_ctx(&c);
        }
        snprintf(label, sizeof label, "silu_mul %s [512,14336]", dn[di]);
        if (wanted(label)) {
            c.a = rnd(dt, n2), c.b = rnd(dt, n2), c.c = buf(dt, n2);
            report(label, 3 * es * n2, op_silu, &c), free_ctx(&c);
        }
        snprintf(label, sizeof label, "softcap %s [512,4096]", dn[di]);
        if (wanted(label)) {
            c.a = rnd(dt, n1), c.b = buf(dt, n1);
            report(label, 2 * es * n1, op_softcap, &c), free_ctx(&c);
        }
        snprintf(label, sizeof label, "softmax %s [32*512,512]", dn[di]);
        if (wanted(label)) {
            c.a = rnd(dt, 32 * 512 * 512), c.b = buf(dt, 32 * 512 * 512), c.u0 = 512;
            report(label, 2 * es * 32 * 512 * 512, op_softmax, &c), free_ctx(&c);
        }
        snprintf(label, sizeof label, "scale_mask_softmax causal %s [32*512,512]", dn[di]);
        if (wanted(label)) {
            c.a = rnd(dt, 32 * 512 * 512), c.b = buf(dt, 32 * 512 * 512), c.c = rnd(dt, 512 * 512);
            c.sm = (mlxc_scale_mask_softmax_desc){.cols = 512, .q_len = 512, .scale = 0.088f, .causal = true};
            report(label, (2 * 32 + 1) * es * 512 * 512, op_smsm, &c), free_ctx(&c);
        }
        snprintf(label, sizeof label, "transpose %s [512,4096]", dn[di]);
        if (wanted(label)) {
            c.a = rnd(dt, n1), c.b = buf(dt, n1), c.u0 = 512, c.u1 = 4096;
            report(label, 2 * es * n1, op_transpose, &c), free_ctx(&c);
        }
        snprintf(label, sizeof label, "layer_norm %s [512,4096]", dn[di]);
        if (wanted(label)) {
            c.a = rnd(dt, n1), c.b = buf(dt, n1), c.c = rnd(dt, 4096), c.d = rnd(dt, 4096), c.u0 = 4096;
            report(label, 2 * es * n1, op_layer, &c), free_ctx(&c);
        }
        snprintf(label, sizeof label, "rms_norm_residual %s [512,4096]", dn[di]);
        if (wanted(label)) {
            c.a = rnd(dt, n1), c.c = rnd(dt, n1), c.d = rnd(dt, 4096), c.b = buf(dt, n1), c.e = buf(dt, n1);
            c.u0 = 4096;
            report(label, 4 * es * n1, op_rms, &c), free_ctx(&c);
        }
        snprintf(label, sizeof label, "rope neox %s [512,32,128]", dn[di]);
        if (wanted(label)) {
            c.a = rnd(dt, n1), c.b = buf(dt, n1), c.c = buf(MLXC_I32, 512);
            int32_t pos[512];
            for (int i = 0; i < 512; i++) pos[i] = i;
            mlxc_buffer_write(c.c, 0, pos, sizeof pos);
            c.rope = (mlxc_rope_desc){.mode = MLXC_ROPE_NEOX, .n_heads = 32, .head_dim = 128, .theta_base = 1e6f,
                                      .freq_scale = 1.0f};
            report(label, 2 * es * n1, op_rope, &c), free_ctx(&c);
        }
        const size_t V = 151936;
        snprintf(label, sizeof label, "argmax %s [32,151936]", dn[di]);
        if (wanted(label)) {
            c.a = rnd(dt, 32 * V), c.b = buf(MLXC_U32, 32), c.c = buf(MLXC_F32, 32), c.u0 = (uint32_t)V;
            report(label, es * 32 * V, op_argmax, &c), free_ctx(&c);
        }
        snprintf(label, sizeof label, "topk 50 %s [32,151936]", dn[di]);
        if (wanted(label)) {
            c.a = rnd(dt, 32 * V), c.b = buf(MLXC_F32, 32 * 50), c.c = buf(MLXC_U32, 32 * 50);
            c.u0 = (uint32_t)V, c.u1 = 50;
            report(label, es * 32 * V, op_topk, &c), free_ctx(&c);
        }
        snprintf(label, sizeof label, "sample %s [32,151936]", dn[di]);
        if (wanted(label)) {
            c.a = rnd(dt, 32 * V), c.b = buf(MLXC_U32, 32), c.c = buf(MLXC_F32, 32), c.u0 = (uint32_t)V;
            report(label, es * 32 * V, op_sample, &c), free_ctx(&c);
        }
    }
    mlxc_device_close(dev);
    return 0;
}
