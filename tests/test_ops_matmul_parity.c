/* Dense matmul parity: the same mlxc_matmul calls on the CPU device and on
 * the CUDA device over the same random inputs (never zero), outputs
 * poisoned first, compared by normalized error (y f32 1e-5, y bf16 1.6e-2:
 * two roundings apart at most).  Covers every dtype combination (f16 x with
 * f16 w too, whose f32-y GEMM is cuBLASLt's where it is present), the mat-vec
 * fast path (k a multiple of the vector) and its plain path (odd k), the
 * tensor-core GEMM with partial tiles and its plain path, and the kernels
 * launched by hand with odd grids and block sizes (params_elementwise.h: any launch
 * shape is correct).  Exits 77 "SKIP: no CUDA device" without a GPU. */
#ifdef MLXC_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif
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

static ot_buf view_at(ot_buf *parent, size_t elem_off, size_t n);

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
    /* k % 32 == 0 with bf16 w and x takes the tensor-core path for m >= 2 */
    static const struct { uint32_t n, k; } nk[] = {{1, 1},      {67, 129},  {130, 1000}, {33, 1001},
                                                   {300, 4096}, {5, 14344}, {67, 1024},  {1000, 64}};
    static const uint32_t ms[] = {1, 2, 3, 5, 8};
    for (int wi = 0; wi < 3; wi++)
        for (int xi = 0; xi < 2; xi++)
            for (int yi = 0; yi < 2; yi++)
                for (size_t s = 0; s < sizeof nk / sizeof *nk; s++)
                    for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
                        one(ms[mi], nk[s].n, nk[s].k, k_w[wi], k_xy[xi], k_xy[yi]);
    for (int yi = 0; yi < 2; yi++)
        for (size_t s = 0; s < sizeof nk / sizeof *nk; s++)
            for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
                one(ms[mi], nk[s].n, nk[s].k, MLXC_F16, MLXC_F16, k_xy[yi]);
}

static void par_gemm(void) {
    static const struct { uint32_t m, n, k; } c[] = {{9, 130, 264},   {33, 257, 4104}, {300, 100, 1001},
                                                     {129, 129, 64},  {200, 300, 8},   {512, 1024, 4096},
                                                     {9, 8, 8},       {17, 136, 72},   {1000, 2048, 1024}};
    for (size_t s = 0; s < sizeof c / sizeof *c; s++) {
        one(c[s].m, c[s].n, c[s].k, MLXC_BF16, MLXC_BF16, MLXC_F32);
        one(c[s].m, c[s].n, c[s].k, MLXC_BF16, MLXC_BF16, MLXC_BF16);
        one(c[s].m, c[s].n, c[s].k, MLXC_F16, MLXC_F16, MLXC_F32); /* cuBLASLt where n, k % 8 == 0 */
    }
    /* the plain path of the other combinations */
    for (int wi = 0; wi < 3; wi++)
        for (int xi = 0; xi < 2; xi++) one(40, 70, 300, k_w[wi], k_xy[xi], MLXC_F32);
    one(40, 70, 300, MLXC_F16, MLXC_F16, MLXC_F32);
    one(40, 72, 304, MLXC_F16, MLXC_F16, MLXC_BF16);
}

/* A library GEMM of w and x of dtype dt (x uniform in +-xr, or p_rand's
 * range for xr 0) into an f32 y that is a view 16 bytes into its
 * allocation, the CPU against the GPU at each shape; skipped (saying so)
 * where cuBLASLt is not loaded. */
typedef struct { uint32_t m, n, k; } mnk;
static void lt_cases(const char *name, mlxc_dtype dt, double xr, const mnk *c, size_t nc, const char *label) {
    const mlxc_kernel *kb = NULL, *kn = NULL;
    if (mlxc_kernel_get(gpu, "gemm_lt_bf16_bf16_f32", &kb) != MLXC_OK) {
        printf("  cuBLASLt not available (%s): %s runs our own kernel\n", mlxc_last_error(), label);
        return;
    }
    CHECK_OK(mlxc_kernel_get(gpu, name, &kn));
    for (size_t s = 0; s < nc; s++) {
        const uint32_t m = c[s].m, n = c[s].n, k = c[s].k;
        pair x = p_rand(dt, (size_t)m * k), w = p_rand(dt, (size_t)n * k);
        if (xr > 0) {
            for (size_t i = 0; i < (size_t)m * k; i++) x.c.h[i] = x.g.h[i] = ot_uniform(-xr, xr);
            ot_upload(&x.c);
            ot_upload(&x.g);
        }
        pair whole = p_out(MLXC_F32, (size_t)m * n + 4);
        pair y = {view_at(&whole.c, 4, (size_t)m * n), view_at(&whole.g, 4, (size_t)m * n)};
        OT_RUN(cpu, mlxc_matmul(enc, x.c.b, w.c.b, y.c.b, m, n, k));
        OT_RUN(gpu, mlxc_matmul(enc, x.g.b, w.g.b, y.g.b, m, n, k));
        compare(&y, MLXC_F32, label, m, n, k);
        p_free(&x);
        p_free(&w);
        p_free(&y);
        p_free(&whole);
    }
}

/* The f16 library GEMM resolves wherever the bf16 one does, and agrees with
 * the CPU at the model's prefill shapes (1B Llama: dim 2048, ff 8192), x
 * of a wider range than +-1 (f16 keeps 11 significant bits at any
 * magnitude up to 65504). */
static void par_lt_f16(void) {
    static const mnk c[] = {{512, 2048, 2048}, {512, 8192, 2048}, {512, 2048, 8192}, {77, 512, 2048}};
    lt_cases("gemm_lt_f16_f16_f32", MLXC_F16, 40, c, sizeof c / sizeof *c, "w f16 x f16 y f32 (cuBLASLt)");
}

/* The f32 library GEMM (f32 compute, not TF32), likewise within the f32
 * bound: a MoE router's prefill shape (512 tokens, 128 experts, hidden
 * 2048), a layer's, and small odd ones. */
static void par_lt_f32(void) {
    static const mnk c[] = {{512, 128, 2048}, {512, 2048, 2048}, {77, 136, 72}, {9, 8, 8}};
    lt_cases("gemm_lt_f32_f32_f32", MLXC_F32, 0, c, sizeof c / sizeof *c, "w f32 x f32 y f32 (cuBLASLt)");
}

/* y as a view one element into its allocation (the model layer's scratch
 * views are like that): the GEMM's pair stores must not assume an 8-byte
 * aligned row even where the index is even. */
static ot_buf view_at(ot_buf *parent, size_t elem_off, size_t n) {
    ot_buf v = {NULL, parent->dt, n, calloc(n, sizeof(double))};
    int64_t shape[1] = {(int64_t)n};
    CHECK_OK(mlxc_buffer_view(parent->b, elem_off * mlxc_dtype_size(parent->dt), parent->dt, 1, shape, &v.b));
    return v;
}
static void par_view_offset(void) {
    static const struct { uint32_t m, n, k; } c[] = {{11, 517, 64}, {9, 64, 64}, {20, 160, 64}, {7, 517, 64}};
    for (size_t s = 0; s < sizeof c / sizeof *c; s++)
        for (int yi = 0; yi < 2; yi++) {
            const uint32_t m = c[s].m, n = c[s].n, k = c[s].k;
            pair x = p_rand(MLXC_BF16, (size_t)m * k), w = p_rand(MLXC_BF16, (size_t)n * k);
            pair whole = p_out(k_xy[yi], (size_t)m * n + 1);
            pair y = {view_at(&whole.c, 1, (size_t)m * n), view_at(&whole.g, 1, (size_t)m * n)};
            OT_RUN(cpu, mlxc_matmul(enc, x.c.b, w.c.b, y.c.b, m, n, k));
            OT_RUN(gpu, mlxc_matmul(enc, x.g.b, w.g.b, y.g.b, m, n, k));
            compare(&y, k_xy[yi], "y a view at one element", m, n, k);
            p_free(&x);
            p_free(&w);
            p_free(&y);
            p_free(&whole);
        }
}

/* Odd launches: grids 1 and 7, blocks of 32, 96, 100 (a partial warp: the
 * plain path) and 512; the GEMM with and without its shared memory, and
 * the tensor-core GEMM with m <= 8. */
static void par_launch_k(uint32_t k);
static void par_launch(void) {
    par_launch_k(520); /* the FMA mat-vec */
    par_launch_k(544); /* k % 32 == 0: the tensor-core mat-vec */
}
static void par_launch_k(uint32_t k) {
    const uint32_t m = 6, n = 77;
    pair x = p_rand(MLXC_BF16, (size_t)m * k), w = p_rand(MLXC_BF16, (size_t)n * k), y = p_out(MLXC_F32, (size_t)m * n);
    OT_RUN(cpu, mlxc_matmul(enc, x.c.b, w.c.b, y.c.b, m, n, k));
    static const uint32_t grids[] = {1, 7}, blocks[] = {32, 96, 100, 256, 512};
    for (size_t g = 0; g < 2; g++)
        for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
            ot_poison(&y.g);
            raw_gpu("matvec_bf16_bf16_f32", &x, &w, &y, m, n, k, grids[g], blocks[b], 0);
            char what[64];
            snprintf(what, sizeof what, "matvec k %u grid %u block %u", k, grids[g], blocks[b]);
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

/* Our own tensor-core GEMM at a full-tile shape (the front-end gives such
 * shapes to cuBLASLt where it is present). */
static void par_own_gemm(void) {
    const uint32_t m = 512, n = 1024, k = 4096;
    pair x = p_rand(MLXC_BF16, (size_t)m * k), w = p_rand(MLXC_BF16, (size_t)n * k), y = p_out(MLXC_BF16, (size_t)m * n);
    OT_RUN(cpu, mlxc_matmul(enc, x.c.b, w.c.b, y.c.b, m, n, k));
    const uint32_t grid = (m / MLXC_GEMM_BM) * (n / MLXC_GEMM_BN);
    raw_gpu("gemm_bf16_bf16_bf16", &x, &w, &y, m, n, k, grid, MLXC_GEMM_THREADS, MLXC_GEMM_SHARED);
    compare(&y, MLXC_BF16, "own tensor-core gemm", m, n, k);
    p_free(&x);
    p_free(&w);
    p_free(&y);
}

/* The cuBLASLt GEMM (a library call, not a kernel) inside every kind of
 * command buffer, between kernels: two scales of x (a CUDA graph in graph
 * mode), two GEMMs of the scaled x and a third GEMM of the first one's
 * output, then two element-wise ops of that (another graph).  Committed
 * twice with new buffers (the cached graphs updated), in the other command
 * buffer mode, and as an instantiated mlxc_graph launched twice. */
enum { LT_M = 96, LT_N = 256, LT_K = 512 };
typedef struct lt_set {
    pair x, xs, xn, w, y, y2, z, zs, zc;
} lt_set;

static lt_set lt_new(void) {
    const size_t mk = LT_M * LT_K, mn = LT_M * LT_N;
    lt_set s = {p_rand(MLXC_BF16, mk),         p_out(MLXC_BF16, mk),       p_out(MLXC_BF16, mk),
                p_rand(MLXC_BF16, LT_N * LT_K), p_out(MLXC_BF16, mn),       p_out(MLXC_F32, mn),
                p_out(MLXC_F32, mn),           p_out(MLXC_F32, mn),        p_out(MLXC_F32, mn)};
    return s;
}

#define LT_SIDE(p) (gpu_side ? (p).g.b : (p).c.b)
static mlxc_status lt_encode(mlxc_encoder *enc, lt_set *s, bool gpu_side) {
    /* barriers from the tracked ranges (at instantiation for a capture) */
    mlxc_status st = mlxc_encoder_set_auto_barrier(enc, true);
    if (!st) st = mlxc_scale(enc, LT_SIDE(s->x), LT_SIDE(s->xs), 0.5f);
    if (!st) st = mlxc_scale(enc, LT_SIDE(s->x), LT_SIDE(s->xn), -1.0f);
    if (!st) st = mlxc_matmul(enc, LT_SIDE(s->xs), LT_SIDE(s->w), LT_SIDE(s->y), LT_M, LT_N, LT_K);
    if (!st) st = mlxc_matmul(enc, LT_SIDE(s->xn), LT_SIDE(s->w), LT_SIDE(s->y2), LT_M, LT_N, LT_K);
    /* z (m, n) = y (m, k' = n) w'^T, w' the first n x n elements of w */
    mlxc_buffer *wv = NULL;
    const int64_t shape[1] = {(int64_t)LT_N * LT_N};
    if (!st) st = mlxc_buffer_view(LT_SIDE(s->w), 0, MLXC_BF16, 1, shape, &wv);
    if (!st) st = mlxc_matmul(enc, LT_SIDE(s->y), wv, LT_SIDE(s->z), LT_M, LT_N, LT_N);
    mlxc_buffer_release(wv);
    if (!st) st = mlxc_scale(enc, LT_SIDE(s->z), LT_SIDE(s->zs), 2.0f);
    if (!st) st = mlxc_softcap(enc, LT_SIDE(s->z), LT_SIDE(s->zc), 30.0f);
    return st;
}
#undef LT_SIDE

static void lt_check(lt_set *s, const char *what) {
    OT_RUN(cpu, lt_encode(enc, s, false));
    /* z and what follows are f32 but computed from the bf16 y, whose
     * roundings may differ by an ulp between the backends: bf16 bound. */
    static const struct { size_t off; mlxc_dtype tol_dt; uint32_t k; const char *name; } outs[] = {
        {offsetof(lt_set, y), MLXC_BF16, LT_K, "y = (x/2) w^T"},
        {offsetof(lt_set, y2), MLXC_F32, LT_K, "y2 = -x w^T"},
        {offsetof(lt_set, z), MLXC_BF16, LT_N, "z = y w'^T"},
        {offsetof(lt_set, zs), MLXC_BF16, LT_N, "2 z"},
        {offsetof(lt_set, zc), MLXC_BF16, LT_N, "softcap z"}};
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) {
        char msg[80];
        snprintf(msg, sizeof msg, "%s: %s", what, outs[i].name);
        compare((pair *)((char *)s + outs[i].off), outs[i].tol_dt, msg, LT_M, LT_N, outs[i].k);
    }
}

static void lt_free(lt_set *s) {
    pair *all[] = {&s->x, &s->xs, &s->xn, &s->w, &s->y, &s->y2, &s->z, &s->zs, &s->zc};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) p_free(all[i]);
}

static void par_lt(void) {
    const mlxc_kernel *kern = NULL;
    if (mlxc_kernel_get(gpu, "gemm_lt_bf16_bf16_bf16", &kern) != MLXC_OK) {
        printf("  cuBLASLt not available (%s): the GEMM runs our own kernel\n", mlxc_last_error());
        return;
    }
#ifdef MLXC_HAVE_CUDA
    mlxc_cuda_stats st0, st1;
    mlxc_cuda_stats_get(&st0);
#endif
    /* two live sets, so the second commit's buffers are other addresses
     * and the cached graphs' nodes are updated */
    lt_set r[2] = {lt_new(), lt_new()};
    for (int round = 0; round < 2; round++) {
        OT_RUN(gpu, lt_encode(enc, &r[round], true));
        lt_check(&r[round], round ? "graph, updated" : "graph, built");
    }
    lt_free(&r[0]);
    lt_free(&r[1]);
    lt_set s = lt_new();
#ifdef MLXC_HAVE_CUDA
    mlxc_cuda_stats_get(&st1);
    const int mode = mlxc_cuda_graph_mode(gpu);
    const char *prof = getenv("MLXC_PROFILE_DISPATCH"); /* dispatches one at a time, no graphs */
    if (mode && !(prof && *prof && strcmp(prof, "0") != 0))
        CHECK(st1.graph_hits > st0.graph_hits && st1.node_updates > st0.node_updates);
    CHECK_OK(mlxc_cuda_set_graph_mode(gpu, !mode));
    OT_RUN(gpu, lt_encode(enc, &s, true));
    lt_check(&s, mode ? "immediate" : "graph");
    CHECK_OK(mlxc_cuda_set_graph_mode(gpu, mode));
#endif

    /* captured once, instantiated, launched twice (inputs changed between) */
    mlxc_encoder *cap = NULL;
    mlxc_graph *g = NULL;
    mlxc_graph_exec *ex = NULL;
    CHECK_OK(mlxc_encoder_create(gpu, &cap));
    CHECK_OK(mlxc_encoder_start_capture(cap));
    CHECK_OK(lt_encode(cap, &s, true));
    CHECK_OK(mlxc_encoder_take_capture(cap, &g));
    mlxc_encoder_destroy(cap);
    CHECK_OK(mlxc_graph_instantiate(g, gpu, &ex));
    for (int rep = 0; rep < 2 && ex; rep++) {
        for (size_t i = 0; i < (size_t)LT_M * LT_K; i++) s.x.c.h[i] = s.x.g.h[i] = ot_uniform(-1, 1);
        ot_upload(&s.x.c);
        ot_upload(&s.x.g);
        pair *outs[] = {&s.xs, &s.xn, &s.y, &s.y2, &s.z, &s.zs, &s.zc};
        for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) ot_poison(&outs[i]->g);
        OT_RUN(gpu, mlxc_graph_exec_launch(ex, enc));
        lt_check(&s, rep ? "instantiated, second launch" : "instantiated");
    }
    mlxc_graph_exec_destroy(ex);
    mlxc_graph_destroy(g);
    lt_free(&s);
}

int main(void) {
    ot_parity_devices("matmul parity", false, &cpu, &gpu);
    RUN(par_launch);
    RUN(par_own_gemm);
    RUN(par_lt);
    RUN(par_lt_f16);
    RUN(par_lt_f32);
    RUN(par_gemm);
    RUN(par_matvec);
    RUN(par_view_offset);
    printf("%d comparisons\n", g_cases);
    mlxc_device_close(gpu);
    mlxc_device_close(cpu);
    HARNESS_END();
}
