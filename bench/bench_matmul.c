/* Dense matmul on CUDA: the mat-vec (decode) as a fraction of the copy
 * bandwidth and the GEMM (prefill) as a fraction of cuBLAS.
 *
 *   bench_matmul [--no-torch] [--gemm-only]
 *
 * --gemm-only skips the copy and mat-vec rows.
 *
 * Mat-vec: (k, n) = (4096, 14336) and (14336, 4096), m = 1 and 4..8, bf16,
 * f16 and f32 weights, bf16 x and y.  Three weight buffers (each >= 117 MB,
 * over the 50 MB L2) are rotated so no iteration finds its weights in L2.
 * Bytes counted: weights + x + y.  Each iteration is one dispatch followed
 * by a barrier in one command buffer (a CUDA graph: the launch gaps are in
 * the time); best of 3 command buffers of ITERS.  The copy row times
 * mlxc_copy of 256 MiB (two pairs of buffers rotated) the same way (bytes read + written): the ceiling.
 *
 * GEMM: m = 512, 2048, 4096 against (k, n) = (4096, 14336), (14336, 4096),
 * (2048, 8192), (8192, 2048), bf16 x, w, y; TFLOP/s = 2 m n k / time.  The
 * cuBLAS reference is torch.nn.functional.linear on the same shapes (python3
 * with torch on the device), timed with CUDA events, median of 20. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlxc/mlxc.h"
#include "mlxc/ops_matmul.h"

#define ITERS 30
#define NROT  3
#define COPY_CEILING 3.0e12

static mlxc_device *gpu;

static mlxc_buffer *rand_buf(mlxc_dtype dt, size_t n) {
    mlxc_buffer *b = NULL;
    int64_t sh[1] = {(int64_t)n};
    if (mlxc_buffer_alloc(gpu, n * mlxc_dtype_size(dt), dt, 1, sh, &b) != MLXC_OK) {
        fprintf(stderr, "alloc: %s\n", mlxc_last_error());
        exit(1);
    }
    /* Random values in [-1, 1) written in 16 MiB pieces (never zeros). */
    const size_t es = mlxc_dtype_size(dt), chunk = (16u << 20) / es;
    unsigned char *h = malloc(chunk * es);
    uint64_t s = 0x9e3779b97f4a7c15ull ^ n;
    for (size_t off = 0; off < n; off += chunk) {
        size_t c = n - off < chunk ? n - off : chunk;
        for (size_t i = 0; i < c; i++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            float v = (float)((s >> 40) & 0xffff) / 32768.0f - 1.0f + 1.0f / 65536.0f;
            if (dt == MLXC_F32) memcpy(h + i * 4, &v, 4);
            else {
                uint16_t u = dt == MLXC_BF16 ? mlxc_f32_to_bf16(v) : mlxc_f32_to_f16(v);
                memcpy(h + i * 2, &u, 2);
            }
        }
        if (mlxc_buffer_write(b, off * es, h, c * es) != MLXC_OK) exit(1);
    }
    free(h);
    return b;
}

/* Seconds per iteration: ITERS calls of `run(i)` with a barrier after each,
 * one command buffer, device time; best of 3 after a warm-up. */
typedef mlxc_status (*bench_fn)(mlxc_encoder *enc, int i, void *ctx);
static double time_iters(bench_fn fn, void *ctx) {
    double best = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        mlxc_encoder *enc = NULL;
        if (mlxc_encoder_create(gpu, &enc)) return NAN;
        mlxc_status st = MLXC_OK;
        for (int i = 0; i < ITERS && !st; i++) {
            st = fn(enc, i, ctx);
            if (!st) st = mlxc_encoder_barrier(enc);
        }
        if (!st) st = mlxc_encoder_commit_and_wait(enc);
        uint64_t g0 = 0, g1 = 0;
        if (st || mlxc_encoder_gpu_time(enc, &g0, &g1) != MLXC_OK || g1 <= g0) {
            fprintf(stderr, "run failed: %s\n", mlxc_last_error());
            mlxc_encoder_destroy(enc);
            return NAN;
        }
        mlxc_encoder_destroy(enc);
        double t = (double)(g1 - g0) * 1e-9 / ITERS;
        if (rep > 0 && t < best) best = t;
    }
    return best;
}

typedef struct mm_ctx {
    mlxc_buffer *x, *w[NROT], *y;
    uint32_t m, n, k;
} mm_ctx;

static mlxc_status run_mm(mlxc_encoder *enc, int i, void *ctx) {
    mm_ctx *c = ctx;
    return mlxc_matmul(enc, c->x, c->w[i % NROT], c->y, c->m, c->n, c->k);
}
static mlxc_status run_copy(mlxc_encoder *enc, int i, void *ctx) {
    mlxc_buffer **b = ctx;
    return mlxc_copy(enc, b[i % 2], b[2 + i % 2]);
}

/* torch's (cuBLAS) TFLOP/s for each GEMM shape, read from python3. */
#define NG 12
static double g_torch[NG];
static const char *const k_torch_py =
    "import torch,sys\n"
    "shapes=[tuple(map(int,a.split(','))) for a in sys.argv[1:]]\n"
    "for (m,n,k) in shapes:\n"
    "  x=torch.rand(m,k,device='cuda',dtype=torch.bfloat16)-0.5\n"
    "  w=torch.rand(n,k,device='cuda',dtype=torch.bfloat16)-0.5\n"
    "  for _ in range(5): y=torch.nn.functional.linear(x,w)\n"
    "  ts=[]\n"
    "  for _ in range(20):\n"
    "    a=torch.cuda.Event(enable_timing=True);b=torch.cuda.Event(enable_timing=True)\n"
    "    a.record();y=torch.nn.functional.linear(x,w);b.record();b.synchronize();ts.append(a.elapsed_time(b)*1e-3)\n"
    "  ts.sort();t=ts[len(ts)//2]\n"
    "  print('%d %d %d %.6e %.2f'%(m,n,k,t,2*m*n*k/t/1e12),flush=True)\n";

static void torch_ref(const uint32_t (*shapes)[3], int n) {
    FILE *f = fopen("/tmp/mlxc_bench_matmul_torch.py", "w");
    if (!f) return;
    fputs(k_torch_py, f);
    fclose(f);
    char cmd[1024];
    int len = snprintf(cmd, sizeof cmd, "python3 /tmp/mlxc_bench_matmul_torch.py");
    for (int i = 0; i < n; i++)
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " %u,%u,%u", shapes[i][0], shapes[i][1], shapes[i][2]);
    FILE *p = popen(cmd, "r");
    if (!p) return;
    char line[256];
    while (fgets(line, sizeof line, p)) {
        unsigned m, nn, k;
        double t, tf;
        if (sscanf(line, "%u %u %u %lf %lf", &m, &nn, &k, &t, &tf) == 5)
            for (int i = 0; i < n; i++)
                if (shapes[i][0] == m && shapes[i][1] == nn && shapes[i][2] == k) g_torch[i] = tf;
    }
    pclose(p);
}

int main(int argc, char **argv) {
    int ndev = 0;
    mlxc_device_count(MLXC_BACKEND_CUDA, &ndev);
    if (ndev == 0) {
        printf("SKIP: no CUDA device\n");
        return 0;
    }
    if (mlxc_device_open(MLXC_BACKEND_CUDA, 0, &gpu) != MLXC_OK) {
        fprintf(stderr, "open: %s\n", mlxc_last_error());
        return 1;
    }
    int use_torch = 1, gemm_only = 0;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--no-torch") == 0) use_torch = 0;
        else if (strcmp(argv[a], "--gemm-only") == 0) gemm_only = 1;
        else {
            fprintf(stderr, "usage: bench_matmul [--no-torch] [--gemm-only]\n");
            return 2;
        }
    }
    printf("bench_matmul on %s; %d iterations per command buffer (one barrier each), best of 3\n\n",
           mlxc_device_name(gpu), ITERS);

    /* ---- the ceiling: device-to-device copy ---- */
    if (!gemm_only) {
        const size_t n = (size_t)1 << 26; /* f32 elements: 256 MiB, two pairs rotated */
        mlxc_buffer *b[4] = {rand_buf(MLXC_F32, n), rand_buf(MLXC_F32, n), rand_buf(MLXC_F32, n), rand_buf(MLXC_F32, n)};
        double t = time_iters(run_copy, b);
        printf("copy 256 MiB: %.1f us, %.0f GB/s (read + write); the fractions below use %.1f TB/s\n\n", t * 1e6,
               2.0 * n * 4 / t / 1e9, COPY_CEILING / 1e12);
        for (int i = 0; i < 4; i++) mlxc_buffer_release(b[i]);
    }

    /* ---- mat-vec ---- */
    printf("%-10s %6s %6s %3s %10s %10s %9s %8s\n", "matvec w", "k", "n", "m", "time us", "MB", "GB/s", "of 3.0");
    static const uint32_t kn[2][2] = {{4096, 14336}, {14336, 4096}};
    static const uint32_t ms[] = {1, 4, 5, 6, 7, 8};
    static const mlxc_dtype wds[3] = {MLXC_BF16, MLXC_F16, MLXC_F32};
    for (int wi = 0; wi < (gemm_only ? 0 : 3); wi++)
        for (int s = 0; s < 2; s++) {
            mm_ctx c = {0};
            c.k = kn[s][0];
            c.n = kn[s][1];
            for (int r = 0; r < NROT; r++) c.w[r] = rand_buf(wds[wi], (size_t)c.n * c.k);
            c.x = rand_buf(MLXC_BF16, (size_t)8 * c.k);
            c.y = rand_buf(MLXC_BF16, (size_t)8 * c.n);
            for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++) {
                c.m = ms[mi];
                /* views of the first m rows */
                mlxc_buffer *xv = NULL, *yv = NULL, *xf = c.x, *yf = c.y;
                int64_t sx[1] = {(int64_t)c.m * c.k}, sy[1] = {(int64_t)c.m * c.n};
                mlxc_buffer_view(xf, 0, MLXC_BF16, 1, sx, &xv);
                mlxc_buffer_view(yf, 0, MLXC_BF16, 1, sy, &yv);
                c.x = xv;
                c.y = yv;
                double t = time_iters(run_mm, &c);
                double bytes = (double)c.n * c.k * mlxc_dtype_size(wds[wi]) + 2.0 * c.m * (c.k + c.n);
                printf("%-10s %6u %6u %3u %10.2f %10.2f %9.1f %7.1f%%\n", mlxc_dtype_name(wds[wi]), c.k, c.n, c.m,
                       t * 1e6, bytes / 1e6, bytes / t / 1e9, 100.0 * bytes / t / COPY_CEILING);
                c.x = xf;
                c.y = yf;
                mlxc_buffer_release(xv);
                mlxc_buffer_release(yv);
            }
            for (int r = 0; r < NROT; r++) mlxc_buffer_release(c.w[r]);
            mlxc_buffer_release(c.x);
            mlxc_buffer_release(c.y);
        }

    /* ---- GEMM ---- */
    static const uint32_t gnk[4][2] = {{14336, 4096}, {4096, 14336}, {8192, 2048}, {2048, 8192}};
    static const uint32_t gm[3] = {512, 2048, 4096};
    uint32_t shapes[NG][3];
    int ns = 0;
    for (int s = 0; s < 4; s++)
        for (int mi = 0; mi < 3; mi++) {
            shapes[ns][0] = gm[mi];
            shapes[ns][1] = gnk[s][0];
            shapes[ns][2] = gnk[s][1];
            ns++;
        }
    double ours[NG];
    for (int i = 0; i < ns; i++) {
        mm_ctx c = {0};
        c.m = shapes[i][0];
        c.n = shapes[i][1];
        c.k = shapes[i][2];
        c.x = rand_buf(MLXC_BF16, (size_t)c.m * c.k);
        for (int r = 0; r < NROT; r++) c.w[r] = r == 0 ? rand_buf(MLXC_BF16, (size_t)c.n * c.k) : c.w[0];
        c.y = rand_buf(MLXC_BF16, (size_t)c.m * c.n);
        double t = time_iters(run_mm, &c);
        ours[i] = 2.0 * c.m * c.n * c.k / t / 1e12;
        mlxc_buffer_release(c.x);
        mlxc_buffer_release(c.w[0]);
        mlxc_buffer_release(c.y);
    }
    mlxc_device_close(gpu); /* free the GPU for torch */
    if (use_torch) torch_ref((const uint32_t(*)[3])shapes, ns);
    printf("\n%-6s %6s %6s %10s %12s %8s\n", "gemm m", "n", "k", "TFLOP/s", "cuBLAS(torch)", "fraction");
    for (int i = 0; i < ns; i++)
        printf("%-6u %6u %6u %10.1f %12.1f %7.1f%%\n", shapes[i][0], shapes[i][1], shapes[i][2], ours[i], g_torch[i],
               g_torch[i] > 0 ? 100.0 * ours[i] / g_torch[i] : NAN);
    return 0;
}
