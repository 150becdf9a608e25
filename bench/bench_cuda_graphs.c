/* CUDA command-buffer costs: host cost per dispatch, a 500-kernel dependent
 * chain (one decode step's worth of small kernels) run immediately, as a
 * graph built at each commit, and as a replayed instantiated graph, and ten
 * independent kernels between two barriers against the sum of their times.
 *
 *   bench_cuda_graphs [reps]        (prints a markdown table)
 *
 * Times are medians over `reps` runs after warm-up; "wall" is the host clock
 * around encode + commit + wait, "gpu" the command buffer's device time
 * (start and end events). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/params_elementwise.h"
#include "kernels/params_norm.h"
#include "mlxc/mlxc.h"

/* Test hooks of the CUDA backend (src/backend/cuda/cuda_backend.h); weak so
 * the program also links without it. */
mlxc_status mlxc_cuda_set_graph_mode(mlxc_device *dev, int on) __attribute__((weak));

static mlxc_device *dev;
static int reps = 50;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#define OK(call)                                                                          \
    do {                                                                                  \
        mlxc_status st_ = (call);                                                         \
        if (st_ != MLXC_OK) {                                                             \
            fprintf(stderr, "%s:%d: %s -> %s (%s)\n", __FILE__, __LINE__, #call,          \
                    mlxc_status_name(st_), mlxc_last_error());                            \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

static mlxc_buffer *alloc_f32(size_t n, float v) {
    mlxc_buffer *b;
    int64_t sh[1] = {(int64_t)n};
    OK(mlxc_buffer_alloc(dev, n * 4, MLXC_F32, 1, sh, &b));
    float *h = malloc(n * 4);
    for (size_t i = 0; i < n; i++) h[i] = v + (float)(i % 13) * 0.25f;
    OK(mlxc_buffer_write(b, 0, h, n * 4));
    free(h);
    return b;
}

enum { CHAIN = 500, SMALL_N = 1024 };

static const mlxc_kernel *k_add;
static mlxc_buffer *cx, *ch[2];
static mlxc_p_elementwise cp = {SMALL_N};

/* h[(i+1)%2] = h[i%2] + x, a barrier between each: every kernel depends on
 * the previous one.  `tracked`: as the ops do (read/write ranges). */
static void chain_encode(mlxc_encoder *enc, int tracked) {
    for (int i = 0; i < CHAIN; i++) {
        mlxc_buffer *in = ch[i % 2], *out = ch[(i + 1) % 2];
        mlxc_arg a[4] = {mlxc_arg_buffer(in), mlxc_arg_buffer(cx), mlxc_arg_buffer(out), mlxc_arg_bytes(&cp, sizeof cp)};
        const mlxc_buffer *r[2] = {in, cx}, *w[1] = {out};
        mlxc_dispatch d = {.kernel = k_add, .args = a, .nargs = 4, .grid = {4, 1, 1}, .block = {256, 1, 1},
                           .reads = r, .nreads = 2, .writes = w, .nwrites = 1};
        OK(tracked ? mlxc_encoder_dispatch_tracked(enc, &d) : mlxc_encoder_dispatch(enc, &d));
        if (i + 1 < CHAIN) OK(mlxc_encoder_barrier(enc));
    }
}

typedef struct result { double encode_us, commit_us, wall_us, gpu_us; } result;

/* One step: encode (or launch the executable), commit, wait. */
static result chain_run(int graph_mode, int tracked, mlxc_graph_exec *ex, int cold) {
    if (mlxc_cuda_set_graph_mode) OK(mlxc_cuda_set_graph_mode(dev, graph_mode));
    int n = cold ? 1 : reps;
    double *enc_t = malloc(sizeof(double) * (size_t)n), *com_t = malloc(sizeof(double) * (size_t)n),
           *wall = malloc(sizeof(double) * (size_t)n), *gpu = malloc(sizeof(double) * (size_t)n);
    for (int it = -(cold ? 0 : 5); it < n; it++) {
        double t0 = now_us();
        mlxc_encoder *enc;
        OK(mlxc_encoder_create(dev, &enc));
        OK(mlxc_encoder_set_auto_barrier(enc, false));
        if (ex)
            OK(mlxc_graph_exec_launch(ex, enc));
        else
            chain_encode(enc, tracked);
        double t1 = now_us();
        OK(mlxc_encoder_commit(enc));
        double t2 = now_us();
        OK(mlxc_encoder_wait(enc));
        double t3 = now_us();
        uint64_t s, e;
        OK(mlxc_encoder_gpu_time(enc, &s, &e));
        mlxc_encoder_destroy(enc);
        if (it < 0) continue;
        enc_t[it] = t1 - t0;
        com_t[it] = t2 - t1;
        wall[it] = t3 - t0;
        gpu[it] = (double)(e - s) / 1e3;
    }
    result r = {median(enc_t, n), median(com_t, n), median(wall, n), median(gpu, n)};
    free(enc_t);
    free(com_t);
    free(wall);
    free(gpu);
    return r;
}

/* Ten independent one-block kernels: alone, then together between barriers. */
static void independent(double *sum_alone, double *together_gpu, double *together_wall, int graph_mode) {
    enum { K = 10, BIG = 1 << 18 };
    if (mlxc_cuda_set_graph_mode) OK(mlxc_cuda_set_graph_mode(dev, graph_mode));
    mlxc_buffer *a = alloc_f32(BIG, 1.0f), *b = alloc_f32(BIG, 2.0f), *o[K];
    for (int i = 0; i < K; i++) o[i] = alloc_f32(BIG, 0.0f);
    mlxc_p_elementwise p = {BIG};
    double *t = malloc(sizeof(double) * (size_t)reps), *w = malloc(sizeof(double) * (size_t)reps);
    *sum_alone = 0;
    for (int i = 0; i < K; i++) {
        for (int it = -3; it < reps; it++) {
            mlxc_encoder *enc;
            OK(mlxc_encoder_create(dev, &enc));
            mlxc_arg args[4] = {mlxc_arg_buffer(a), mlxc_arg_buffer(b), mlxc_arg_buffer(o[i]), mlxc_arg_bytes(&p, sizeof p)};
            mlxc_dispatch d = {.kernel = k_add, .args = args, .nargs = 4, .grid = {1, 1, 1}, .block = {256, 1, 1}};
            OK(mlxc_encoder_dispatch(enc, &d));
            OK(mlxc_encoder_commit_and_wait(enc));
            uint64_t s, e;
            OK(mlxc_encoder_gpu_time(enc, &s, &e));
            mlxc_encoder_destroy(enc);
            if (it >= 0) t[it] = (double)(e - s) / 1e3;
        }
        *sum_alone += median(t, reps);
    }
    for (int it = -3; it < reps; it++) {
        mlxc_encoder *enc;
        double t0 = now_us();
        OK(mlxc_encoder_create(dev, &enc));
        OK(mlxc_encoder_set_auto_barrier(enc, false));
        for (int i = 0; i < K; i++) {
            mlxc_arg args[4] = {mlxc_arg_buffer(a), mlxc_arg_buffer(b), mlxc_arg_buffer(o[i]), mlxc_arg_bytes(&p, sizeof p)};
            mlxc_dispatch d = {.kernel = k_add, .args = args, .nargs = 4, .grid = {1, 1, 1}, .block = {256, 1, 1}};
            OK(mlxc_encoder_dispatch(enc, &d));
        }
        OK(mlxc_encoder_barrier(enc));
        OK(mlxc_encoder_commit_and_wait(enc));
        double t1 = now_us();
        uint64_t s, e;
        OK(mlxc_encoder_gpu_time(enc, &s, &e));
        mlxc_encoder_destroy(enc);
        if (it >= 0) {
            t[it] = (double)(e - s) / 1e3;
            w[it] = t1 - t0;
        }
    }
    *together_gpu = median(t, reps);
    *together_wall = median(w, reps);
    free(t);
    free(w);
    mlxc_buffer_release(a);
    mlxc_buffer_release(b);
    for (int i = 0; i < K; i++) mlxc_buffer_release(o[i]);
}

int main(int argc, char **argv) {
    if (argc > 1) reps = atoi(argv[1]) > 0 ? atoi(argv[1]) : reps;
    int n = 0;
    mlxc_device_count(MLXC_BACKEND_CUDA, &n);
    if (n == 0 || !mlxc_cuda_set_graph_mode) {
        printf("SKIP: no CUDA device\n");
        return 77;
    }
    OK(mlxc_device_open(MLXC_BACKEND_CUDA, 0, &dev));
    mlxc_device_caps caps;
    OK(mlxc_device_caps_get(dev, &caps));
    printf("device: %s (sm_%d%d, %d SMs), %d reps, median\n\n", caps.name, caps.arch_major, caps.arch_minor,
           caps.compute_units, reps);
    OK(mlxc_kernel_get(dev, "add_f32", &k_add));
    cx = alloc_f32(SMALL_N, 0.5f);
    ch[0] = alloc_f32(SMALL_N, 0.0f);
    ch[1] = alloc_f32(SMALL_N, 0.0f);

    result imm = chain_run(0, 0, NULL, 0);
    result imm_t = chain_run(0, 1, NULL, 0);
    result gcold = chain_run(1, 0, NULL, 1);
    result gpc = chain_run(1, 0, NULL, 0);
    result gcold_t = chain_run(1, 1, NULL, 1);
    result gpc_t = chain_run(1, 1, NULL, 0);

    mlxc_encoder *cap;
    OK(mlxc_encoder_create(dev, &cap));
    OK(mlxc_encoder_start_capture(cap));
    chain_encode(cap, 1);
    mlxc_graph *g;
    OK(mlxc_encoder_take_capture(cap, &g));
    mlxc_encoder_destroy(cap);
    mlxc_graph_exec *ex;
    double ti0 = now_us();
    OK(mlxc_graph_instantiate(g, dev, &ex));
    double inst_us = now_us() - ti0;
    result rep = chain_run(1, 1, ex, 0);

    /* Check the chain computed what it should: h = 500 * x after a reset. */
    float *z = calloc(SMALL_N, 4), *hx = malloc(SMALL_N * 4), *hh = malloc(SMALL_N * 4);
    OK(mlxc_buffer_write(ch[0], 0, z, SMALL_N * 4));
    OK(mlxc_buffer_write(ch[1], 0, z, SMALL_N * 4));
    mlxc_encoder *enc;
    OK(mlxc_encoder_create(dev, &enc));
    OK(mlxc_graph_exec_launch(ex, enc));
    OK(mlxc_encoder_commit_and_wait(enc));
    mlxc_encoder_destroy(enc);
    OK(mlxc_buffer_read(cx, 0, hx, SMALL_N * 4));
    OK(mlxc_buffer_read(ch[CHAIN % 2], 0, hh, SMALL_N * 4));
    int bad = 0;
    for (int i = 0; i < SMALL_N; i++) {
        float want = 0.0f;
        for (int k = 0; k < CHAIN; k++) want += hx[i];
        bad += hh[i] != want;
    }
    printf("chain check: %s\n\n", bad ? "WRONG" : "ok");

    printf("## Host cost per dispatch (500 dependent add_f32, n=%d, barrier after each)\n\n", SMALL_N);
    printf("| mode | encode µs/dispatch | commit µs/dispatch |\n|---|---|---|\n");
    printf("| immediate (launch while encoding), plain | %.3f | %.3f |\n", imm.encode_us / CHAIN, imm.commit_us / CHAIN);
    printf("| immediate, tracked | %.3f | %.3f |\n", imm_t.encode_us / CHAIN, imm_t.commit_us / CHAIN);
    printf("| graph mode (record), plain, cached topology | %.3f | %.3f |\n", gpc.encode_us / CHAIN, gpc.commit_us / CHAIN);
    printf("| graph mode (record), tracked, cached topology | %.3f | %.3f |\n", gpc_t.encode_us / CHAIN, gpc_t.commit_us / CHAIN);
    printf("| graph mode, plain, first commit (build + instantiate) | %.3f | %.3f |\n", gcold.encode_us / CHAIN, gcold.commit_us / CHAIN);
    printf("| graph mode, tracked, first commit (build + instantiate) | %.3f | %.3f |\n\n", gcold_t.encode_us / CHAIN, gcold_t.commit_us / CHAIN);

    printf("## 500-kernel dependent chain, per kernel\n\n");
    printf("| mode | wall µs/kernel (encode+commit+wait) | gpu µs/kernel | step wall µs |\n|---|---|---|---|\n");
    printf("| immediate, plain | %.3f | %.3f | %.1f |\n", imm.wall_us / CHAIN, imm.gpu_us / CHAIN, imm.wall_us);
    printf("| immediate, tracked | %.3f | %.3f | %.1f |\n", imm_t.wall_us / CHAIN, imm_t.gpu_us / CHAIN, imm_t.wall_us);
    printf("| graph per commit, plain (cached) | %.3f | %.3f | %.1f |\n", gpc.wall_us / CHAIN, gpc.gpu_us / CHAIN, gpc.wall_us);
    printf("| graph per commit, tracked (cached) | %.3f | %.3f | %.1f |\n", gpc_t.wall_us / CHAIN, gpc_t.gpu_us / CHAIN, gpc_t.wall_us);
    printf("| graph per commit, plain, first commit | %.3f | %.3f | %.1f |\n", gcold.wall_us / CHAIN, gcold.gpu_us / CHAIN, gcold.wall_us);
    printf("| replay of instantiated graph | %.3f | %.3f | %.1f |\n", rep.wall_us / CHAIN, rep.gpu_us / CHAIN, rep.wall_us);
    printf("\ninstantiate (once): %.1f µs\n\n", inst_us);

    double sum_alone, tog_gpu, tog_wall, sum_alone_i, tog_gpu_i, tog_wall_i;
    independent(&sum_alone, &tog_gpu, &tog_wall, 1);
    independent(&sum_alone_i, &tog_gpu_i, &tog_wall_i, 0);
    printf("## Ten independent one-block add_f32 (n=2^18) between two barriers\n\n");
    printf("| mode | sum of the ten alone, gpu µs | together, gpu µs | together, wall µs | speed-up |\n|---|---|---|---|---|\n");
    printf("| graph | %.1f | %.1f | %.1f | %.2fx |\n", sum_alone, tog_gpu, tog_wall, sum_alone / tog_gpu);
    printf("| immediate | %.1f | %.1f | %.1f | %.2fx |\n", sum_alone_i, tog_gpu_i, tog_wall_i, sum_alone_i / tog_gpu_i);

    mlxc_graph_exec_destroy(ex);
    mlxc_graph_destroy(g);
    free(z);
    free(hx);
    free(hh);
    mlxc_buffer_release(cx);
    mlxc_buffer_release(ch[0]);
    mlxc_buffer_release(ch[1]);
    mlxc_device_close(dev);
    return bad ? 1 : 0;
}
