/* Dense matmul parity: the same mlxc_matmul calls on the CPU device and on
 * the CUDA device over the same random inputs (never zero), outputs
 * poisoned first, compared by normalized error (y f32 1e-5, y bf16 1.6e-2:
 * two roundings apart at most).  Covers every dtype combination, the mat-vec
 * fast path (k a multiple of the vector) and its plain path (odd k), the
 * tensor-core GEMM with partial tiles and its plain path, and the kernels
 * launched by hand with odd grids and block sizes (params.h: any launch
 * shape is correct).  Exits 77 "SKIP: no CUDA device" without a GPU. */
#include "kernels/params_matmul.h"
#include "mlxc/ops_matmul.h"
#include "ops_test.h"

static mlxc_device *cpu, *gpu;
static int g_cases;

static const mlxc_dtype k_w[3] = {MLXC_F32, MLXC_F16, MLXC_BF16};
static const mlxc_dtype k_xy[2] = {MLXC_F32, MLXC_BF16};

static double tol(mlxc_dtype y) { return y == MLXC_F32 ? 1e-5 : 1.6e-2; }

typedef struct pair {
    ot_buf c, g;
} pair;

static pair p_rand(mlxc_dtype dt, size_t n) {
    pair p = {ot_alloc(cpu, dt, n), ot_alloc(gpu, dt, n)};
    for (size_t i = 0; i < n; i++) p.c.h[i] = p.g.h[i] = ot_uniform(-1, 1);
    ot_upload(&p.c);
    ot_upload(&p.g);
    return p;
}
static pair p_out(mlxc_dtype dt, size_t n) {
    pair p = {ot_out(cpu, dt, n), ot_out(gpu, dt, n)};
    return p;
}
static void p_free(pair *p) {
    ot_free(&p->c);
    ot_free(&p->g);
}

/* The kernel by hand on the GPU (grid, block, shared); the CPU side
 * through the front-end. */
static void raw_gpu(const char *name, pair *x, pair *w, pair *y, uint32_t m, uint32_t n, uint32_t k, uint32_t grid,
                    uint32_t block, uint32_t shared) {
    const mlxc_kernel *kern = NULL;
    CHECK_OK(mlxc_kernel_get(gpu, name, &kern));
    if (!kern) return;
    mlxc_p_matmul p = {m, n, k, 0};
    mlxc_arg args[4] = {mlxc_arg_buffer(x->g.b), mlxc_arg_buffer(w->g.b), mlxc_arg_buffer(y->g.b),
                        mlxc_arg_bytes(&p, sizeof p)};
    mlxc_dispatch d = {.kernel = kern, .args = args, .nargs = 4, .grid = {grid, 1, 1}, .block = {block, 1, 1},
                       .shared_bytes = shared};
    OT_RUN(gpu, mlxc_encoder_dispatch(enc, &d));
}

static void compare(pair *y, mlxc_dtype ydt, const char *what, uint32_t m, uint32_t n, uint32_t k) {
    ot_download(&y->c);
    ot_download(&y->g);
    g_cases++;
    OT_CLOSE(&y->g, y->c.h, tol(ydt), "%s m=%u n=%u k=%u", what, m, n, k);
}

static void one(uint32_t m, uint32_t n, uint32_t k, mlxc_dtype wd, mlxc_dtype xd, mlxc_dtype yd) {
    pair x = p_rand(xd, (size_t)m * k), w = p_rand(wd, (size_t)n * k), y = p_out(yd, (size_t)m * n);
    OT_RUN(cpu, mlxc_matmul(enc, x.c.b, w.c.b, y.c.b, m, n, k));
    OT_RUN(gpu, mlxc_matmul(enc, x.g.b, w.g.b, y.g.b, m, n, k));
    char what[64];
    snprintf(what, sizeof what, "w %s x %s y %s", mlxc_dtype_name(wd), mlxc_dtype_name(xd), mlxc_dtype_name(yd));
    compare(&y, yd, what, m, n, k);
    p_free(&x);
    p_free(&w);
    p_free(&y);
}

static void par_matvec(void) {
    static const struct { uint32_t n, k; } nk[] = {{1, 1}, {67, 129}, {130, 1000}, {33, 1001}, {300, 4096}, {5, 14344}};
    static const uint32_t ms[] = {1, 2, 3, 5, 8};
    for (int wi = 0; wi < 3; wi++)
        for (int xi = 0; xi < 2; xi++)
            for (int yi = 0; yi < 2; yi++)
                for (size_t s = 0; s < sizeof nk / sizeof *nk; s++)
                    for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
                        one(ms[mi], nk[s].n, nk[s].k, k_w[wi], k_xy[xi], k_xy[yi]);
}

static void par_gemm(void) {
    static const struct { uint32_t m, n, k; } c[] = {{9, 130, 264}, {33, 257, 4104}, {300, 100, 1001}, {129, 129, 64},
                                                     {200, 300, 8}, {512, 1024, 4096}};
    for (size_t s = 0; s < sizeof c / sizeof *c; s++) {
        one(c[s].m, c[s].n, c[s].k, MLXC_BF16, MLXC_BF16, MLXC_F32);
        one(c[s].m, c[s].n, c[s].k, MLXC_BF16, MLXC_BF16, MLXC_BF16);
    }
    /* the plain path of the other combinations */
    for (int wi = 0; wi < 3; wi++)
        for (int xi = 0; xi < 2; xi++) one(40, 70, 300, k_w[wi], k_xy[xi], MLXC_F32);
}

/* Odd launches: grids 1 and 7, blocks of 32, 96, 100 (a partial warp: the
 * plain path) and 512; the GEMM with and without its shared memory, and
 * the tensor-core GEMM with m <= 8. */
static void par_launch(void) {
    const uint32_t m = 6, n = 77, k = 520;
    pair x = p_rand(MLXC_BF16, (size_t)m * k), w = p_rand(MLXC_BF16, (size_t)n * k), y = p_out(MLXC_F32, (size_t)m * n);
    OT_RUN(cpu, mlxc_matmul(enc, x.c.b, w.c.b, y.c.b, m, n, k));
    static const uint32_t grids[] = {1, 7}, blocks[] = {32, 96, 100, 256, 512};
    for (size_t g = 0; g < 2; g++)
        for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
            ot_poison(&y.g);
            raw_gpu("matvec_bf16_bf16_f32", &x, &w, &y, m, n, k, grids[g], blocks[b], 0);
            char what[64];
            snprintf(what, sizeof what, "matvec grid %u block %u", grids[g], blocks[b]);
            compare(&y, MLXC_F32, what, m, n, k);
            ot_poison(&y.g);
            raw_gpu("gemm_bf16_bf16_f32", &x, &w, &y, m, n, k, grids[g], blocks[b], 0);
            snprintf(what, sizeof what, "gemm plain grid %u block %u", grids[g], blocks[b]);
            compare(&y, MLXC_F32, what, m, n, k);
        }
    for (size_t g = 0; g < 2; g++) {
        ot_poison(&y.g);
        raw_gpu("gemm_bf16_bf16_f32", &x, &w, &y, m, n, k, grids[g], MLXC_GEMM_THREADS, MLXC_GEMM_SHARED);
        compare(&y, MLXC_F32, grids[g] == 1 ? "gemm tensor cores grid 1" : "gemm tensor cores grid 7", m, n, k);
    }
    p_free(&x);
    p_free(&w);
    p_free(&y);
}

int main(void) {
    int n = 0;
    mlxc_device_count(MLXC_BACKEND_CUDA, &n);
    if (n == 0) SKIP_ALL("no CUDA device");
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &cpu) != MLXC_OK || mlxc_device_open(MLXC_BACKEND_CUDA, 0, &gpu) != MLXC_OK) {
        fprintf(stderr, "cannot open the devices: %s\n", mlxc_last_error());
        return 1;
    }
    printf("matmul parity: %s vs %s\n", mlxc_device_name(gpu), mlxc_device_name(cpu));
    RUN(par_launch);
    RUN(par_gemm);
    RUN(par_matvec);
    printf("%d comparisons\n", g_cases);
    mlxc_device_close(gpu);
    mlxc_device_close(cpu);
    HARNESS_END();
}
