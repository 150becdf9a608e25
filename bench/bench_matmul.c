/* Dense matmul: the mat-vec (decode) as a fraction of the measured copy
 * ceiling and the GEMM (prefill) as a fraction of cuBLAS.
 *
 *   bench_matmul [--filter TEXT] [--iters N] [--no-torch] [--gemm-only]
 *
 * Exits 77 without a CUDA device.  --gemm-only skips the mat-vec rows.
 *
 * Mat-vec: (k, n) = (4096, 14336) and (14336, 4096), m = 1 and 4..8, bf16,
 * f16 and f32 weights, bf16 x and y.  Each variant is checked against the
 * CPU device first (bench/bench.h), then timed over operand sets rotated
 * past the L2 (sized from the device caps).  Bytes counted: weights + x + y.
 * Each iteration is one dispatch followed by a barrier in one command
 * buffer (a CUDA graph: the launch gaps are in the time); median of 5.
 *
 * GEMM: m = 512, 2048, 4096 against (k, n) = (4096, 14336), (14336, 4096),
 * (2048, 8192), (8192, 2048), bf16 x, w, y; TFLOP/s = 2 m n k / time.  The
 * m = 512 shapes are checked against the CPU device.  The cuBLAS reference
 * is torch.nn.functional.linear on the same shapes (python3 with torch on
 * the device), timed with CUDA events, median of 20.
 *
 * f16 GEMM: f16 x and w, f32 y (cuBLASLt's f16 GEMM, what a model with f16
 * weights runs at prefill) at the 1B Llama's shapes, m = 512: (k, n) =
 * (2048, 2048), (2048, 8192), (8192, 2048); checked against the CPU device,
 * TFLOP/s as above (compare the bf16 rows of the same k and n). */
#include "bench.h"
#include "mlxc/ops_matmul.h"

#define GEMM_ITERS 30

typedef struct mm_arg {
    uint32_t m, n, k;
} mm_arg;

static mlxc_status do_mm(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    const mm_arg *p = a;
    return mlxc_matmul(enc, S[0], S[1], S[2], p->m, p->n, p->k);
}
typedef struct gemm_ctx {
    mlxc_buffer *x, *w, *y;
    mm_arg       p;
} gemm_ctx;
static mlxc_status gemm_iter(mlxc_encoder *enc, int i, void *ctx) {
    gemm_ctx *c = ctx;
    return mlxc_matmul(enc, c->x, c->w, c->y, c->p.m, c->p.n, c->p.k);
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

/* One checked run of the GEMM c (x and w of dtype `in`, y of `out`)
 * against the CPU, counted in bench_g; the error in *e. */
static bool gemm_check(const char *name, gemm_ctx *c, mlxc_dtype in, mlxc_dtype out, double *e) {
    bench_variant v = {name, 3,
                       {BIN(in, (size_t)c->p.m * c->p.k), BIN(in, (size_t)c->p.n * c->p.k),
                        BOUT(out, (size_t)c->p.m * c->p.n, bench_tol(out))},
                       0, do_mm, &c->p};
    const char *why = "";
    const bool ok = bench_check(&v, e, &why);
    bench_g.checked++;
    bench_g.failed += !ok;
    return ok;
}

static void f16_gemm_rows(void) {
    static const uint32_t nk[3][2] = {{2048, 2048}, {8192, 2048}, {2048, 8192}};
    printf("\n%-6s %6s %6s %10s  %s\n", "f16 m", "n", "k", "TFLOP/s", "check (w, x f16, y f32)");
    for (int i = 0; i < 3; i++) {
        gemm_ctx c = {NULL, NULL, NULL, {512, nk[i][0], nk[i][1]}};
        double e = 0;
        const bool ok = gemm_check("gemm f16", &c, MLXC_F16, MLXC_F32, &e);
        c.x = bench_alloc(bench_g.dev, MLXC_F16, (size_t)c.p.m * c.p.k);
        c.w = bench_alloc(bench_g.dev, MLXC_F16, (size_t)c.p.n * c.p.k);
        c.y = bench_alloc(bench_g.dev, MLXC_F32, (size_t)c.p.m * c.p.n);
        bench_fill(c.x, -1, 1, 0, 1);
        bench_fill(c.w, -1, 1, 0, 2);
        const double t = bench_time_on(bench_g.dev, GEMM_ITERS, gemm_iter, &c);
        printf("%-6u %6u %6u %10.1f  %s %.1e\n", c.p.m, c.p.n, c.p.k, 2.0 * c.p.m * c.p.n * c.p.k / t / 1e12,
               ok ? "ok" : "FAIL", e);
        mlxc_buffer_release(c.x);
        mlxc_buffer_release(c.w);
        mlxc_buffer_release(c.y);
    }
}

int main(int argc, char **argv) {
    int ndev = 0;
    mlxc_device_count(MLXC_BACKEND_CUDA, &ndev);
    if (ndev == 0 && !(argc > 1 && strcmp(argv[1], "--cpu") == 0)) { /* --cpu: the CPU device, slowly */
        printf("SKIP: no CUDA device\n");
        return 77;
    }
    int a = bench_init(argc, argv, "bench_matmul"), use_torch = 1, gemm_only = 0;
    for (; a < argc; a++) {
        if (strcmp(argv[a], "--no-torch") == 0) use_torch = 0;
        else if (strcmp(argv[a], "--gemm-only") == 0) gemm_only = 1;
        else {
            fprintf(stderr, "usage: bench_matmul [--filter TEXT] [--iters N] [--no-torch] [--gemm-only]\n");
            return 2;
        }
    }

    /* ---- mat-vec ---- */
    static const uint32_t kn[2][2] = {{4096, 14336}, {14336, 4096}};
    static const uint32_t ms[] = {1, 4, 5, 6, 7, 8};
    static const mlxc_dtype wds[3] = {MLXC_BF16, MLXC_F16, MLXC_F32};
    if (!gemm_only) bench_table_header();
    for (int wi = 0; wi < (gemm_only ? 0 : 3); wi++)
        for (int s = 0; s < 2; s++)
            for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++) {
                const mm_arg p = {ms[mi], kn[s][1], kn[s][0]};
                char label[96];
                snprintf(label, sizeof label, "matvec w %s k %u n %u m %u", mlxc_dtype_name(wds[wi]), p.k, p.n, p.m);
                const double bytes = (double)p.n * p.k * mlxc_dtype_size(wds[wi]) + 2.0 * p.m * (p.k + p.n);
                bench_variant v = {label, 3,
                                   {BIN(MLXC_BF16, (size_t)p.m * p.k), BIN(wds[wi], (size_t)p.n * p.k),
                                    BOUT(MLXC_BF16, (size_t)p.m * p.n, bench_tol(MLXC_BF16))},
                                   bytes, do_mm, &p};
                bench_variant_run(&v);
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
    char chk[NG][32];
    for (int i = 0; i < ns; i++) {
        gemm_ctx c = {NULL, NULL, NULL, {shapes[i][0], shapes[i][1], shapes[i][2]}};
        snprintf(chk[i], sizeof chk[i], "-");
        if (c.p.m == 512) {
            double e = 0;
            const bool ok = gemm_check("gemm", &c, MLXC_BF16, MLXC_BF16, &e);
            snprintf(chk[i], sizeof chk[i], "%s %.1e", ok ? "ok" : "FAIL", e);
        }
        c.x = bench_alloc(bench_g.dev, MLXC_BF16, (size_t)c.p.m * c.p.k);
        c.w = bench_alloc(bench_g.dev, MLXC_BF16, (size_t)c.p.n * c.p.k);
        c.y = bench_alloc(bench_g.dev, MLXC_BF16, (size_t)c.p.m * c.p.n);
        bench_fill(c.x, -1, 1, 0, 1);
        bench_fill(c.w, -1, 1, 0, 2);
        const double t = bench_time_on(bench_g.dev, GEMM_ITERS, gemm_iter, &c);
        ours[i] = 2.0 * c.p.m * c.p.n * c.p.k / t / 1e12;
        mlxc_buffer_release(c.x);
        mlxc_buffer_release(c.w);
        mlxc_buffer_release(c.y);
    }
    f16_gemm_rows();
    /* free the GPU for torch */
    mlxc_device_close(bench_g.dev);
    bench_g.dev = NULL;
    if (use_torch) torch_ref((const uint32_t(*)[3])shapes, ns);
    printf("\n%-6s %6s %6s %10s %12s %8s  %s\n", "gemm m", "n", "k", "TFLOP/s", "cuBLAS(torch)", "fraction", "check");
    for (int i = 0; i < ns; i++)
        printf("%-6u %6u %6u %10.1f %12.1f %7.1f%%  %s\n", shapes[i][0], shapes[i][1], shapes[i][2], ours[i], g_torch[i],
               g_torch[i] > 0 ? 100.0 * ours[i] / g_torch[i] : NAN, chk[i]);
    return bench_end();
}
