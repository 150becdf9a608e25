/* Quantized matmul on CUDA: first every format checked against the CPU
 * device (normalized error, f32 x and y), then the mat-vec (decode) timed
 * as a fraction of the device-to-device copy bandwidth measured in the same
 * run.
 *
 *   bench_qmatmul [--check-only] [--no-prefill] [--prefill-only] [--moe-prefill-only] [--moe-decode-only]
 *                 [--only NAME] [--shapes KxN,KxN,...]
 *
 * --only NAME: the mat-vec checks and timings of the formats whose label
 * contains NAME (e.g. q4_0, affine4), and neither MoE nor prefill.
 * --prefill-only: the prefill table alone (no checks).
 * --shapes: the mat-vec shapes instead of the two below (at most 8), e.g. a
 * model's projections: 4096x12288,4096x4096,4096x22016,11008x4096.
 *
 * Mat-vec: (k, n) = (4096, 14336) and (14336, 4096), m = 1 and 8, bf16 x
 * and y, every format (MLX affine at group 64 with bf16 scales, and 4- and
 * 8-bit at group 32 with f16 scales).  Weight
 * sets (the same random bytes at different addresses) are rotated so that
 * they total at least 4x the L2 (from the device caps): no iteration
 * finds its weights in L2, as in decode.  Bytes counted: packed weights +
 * scales + biases + x + y.  Each iteration is one dispatch followed by a
 * barrier in one command buffer; best of 3 command buffers of ITERS.  The
 * "PDL" columns time the same ITERS as the decode step runs them, tracked
 * with auto-barriers: consecutive mat-vecs overlap through programmatic
 * dependent launch (time_iters_as).
 *
 * Prefill: m = 512 and 2048 on the same shapes for affine4 g64, Q4_K and
 * Q8_0: the mat-mat kernel, the whole matrix dequantized to a bf16 scratch
 * then the dense GEMM (cuBLASLt where present), and the dense GEMM alone
 * (the rate to compare with), in TFLOP/s; and the dequantize pass alone
 * (weight bytes read + bf16 bytes written) as a fraction of copy.
 *
 * MoE decode: 128 experts of 768 x 2048 and of 2048 x 768, top 8, one
 * token, bf16 and int8 activations (moe() below; alone with
 * --moe-decode-only); MoE prefill: 512 tokens of the same experts grouped
 * (moe_prefill(), alone with --moe-prefill-only). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "crash.h"
#include "mlxc/mlxc.h"
#include "mlxc/ops_matmul.h"
#include "mlxc/ops_moe.h"
#include "kernels/params_qmatmul.h"
#include "qmatmul_test.h"

#define ITERS   30
/* The L2 from the device caps (60 MB, the H200's, when the driver does not say) */
static double g_l2_bytes = 60.0 * 1e6;
#define L2_BYTES g_l2_bytes
#define MAX_ROT 64

static mlxc_device *gpu, *cpu;

/* Best of 3 command buffers of ITERS (after a first one), as
 * bench_cb_seconds times them.  tracked: the decode step's form,
 * auto-barrier on and no barrier of the caller's, so that each mat-vec's
 * edge to the one before (y written by both) is programmatic where the
 * GPU has it: a kernel issues its first weight loads while the one before
 * finishes.  Else a barrier after each dispatch (a plain edge: each kernel
 * starts after the one before ends). */
static double time_iters_as(bench_iter_fn fn, void *ctx, int tracked) {
    double best = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        const double t = bench_cb_seconds(gpu, ITERS, fn, ctx, tracked);
        if (isnan(t)) return NAN;
        if (rep > 0 && t < best) best = t;
    }
    return best;
}
static double time_iters(bench_iter_fn fn, void *ctx) { return time_iters_as(fn, ctx, 0); }

static mlxc_status run_copy(mlxc_encoder *enc, int i, void *ctx) {
    mlxc_buffer **b = ctx;
    return mlxc_copy(enc, b[i % 2], b[2 + i % 2]);
}

typedef struct qctx {
    qt_dev_weight w[MAX_ROT];
    int           nrot;
    mlxc_buffer  *x, *y;
    uint32_t      m, n, k;
} qctx;

static mlxc_status run_q(mlxc_encoder *enc, int i, void *ctx) {
    qctx *c = ctx;
    return mlxc_qmatmul(enc, c->x, &c->w[i % c->nrot].w, c->y, c->m, c->n, c->k);
}

/* The fused decode mat-vec (the decode step's form: RMS norm in front,
 * or none, as the o projection's), exact or over int8 activations. */
typedef struct fctx {
    qctx         *q;
    mlxc_buffer  *g;
    mlxc_qmm_act  act;
    int           norm; /* the RMS norm prologue (g); 0: none, as the o projection's */
} fctx;
static mlxc_status run_f(mlxc_encoder *enc, int i, void *ctx) {
    fctx *f = ctx;
    qctx *c = f->q;
    const mlxc_qmm_fuse fz = {.pro = f->norm ? MLXC_QMM_PRO_RMS_NORM : MLXC_QMM_PRO_NONE,
                              .epi = MLXC_QMM_EPI_STORE, .eps = 1e-5f, .act = f->act};
    return mlxc_qmatmul_fused(enc, c->x, NULL, f->norm ? f->g : NULL, &c->w[i % c->nrot].w, c->y, c->n, c->k, &fz);
}

static mlxc_buffer *fbuf(mlxc_device *dev, mlxc_dtype dt, size_t n, const double *v) {
    mlxc_buffer *b = NULL;
    int64_t sh[1] = {(int64_t)n};
    const size_t es = mlxc_dtype_size(dt);
    unsigned char *raw = malloc(n * es);
    for (size_t i = 0; i < n; i++) ot_st(dt, raw, i, v ? v[i] : ot_uniform(-1, 1));
    if (mlxc_buffer_alloc(dev, n * es, dt, 1, sh, &b) || mlxc_buffer_write(b, 0, raw, n * es)) {
        fprintf(stderr, "alloc: %s\n", mlxc_last_error());
        exit(1);
    }
    free(raw);
    return b;
}

/* The check: one shape per format, f32 x and y, CPU vs CUDA. */
static int check(const qt_format *f) {
    const uint32_t m = 3, n = 67, k = 1024;
    qt_weight w = qt_weight_rand(*f, n, k);
    qt_dev_weight wc = qt_upload(cpu, &w), wg = qt_upload(gpu, &w);
    double *xh = malloc((size_t)m * k * sizeof *xh), *yc = malloc((size_t)m * n * sizeof *yc);
    double *yg = malloc((size_t)m * n * sizeof *yg);
    for (size_t i = 0; i < (size_t)m * k; i++) xh[i] = ot_uniform(-1, 1);
    mlxc_buffer *xc = fbuf(cpu, MLXC_F32, (size_t)m * k, xh), *xg = fbuf(gpu, MLXC_F32, (size_t)m * k, xh);
    mlxc_buffer *ybc = fbuf(cpu, MLXC_F32, (size_t)m * n, NULL), *ybg = fbuf(gpu, MLXC_F32, (size_t)m * n, NULL);
    int bad = 0;
    for (int dev = 0; dev < 2 && !bad; dev++) {
        mlxc_encoder *enc = NULL;
        mlxc_device *d = dev ? gpu : cpu;
        if (mlxc_encoder_create(d, &enc) ||
            mlxc_qmatmul(enc, dev ? xg : xc, dev ? &wg.w : &wc.w, dev ? ybg : ybc, m, n, k) ||
            mlxc_encoder_commit_and_wait(enc))
            bad = 1;
        mlxc_encoder_destroy(enc);
        float *raw = malloc((size_t)m * n * 4);
        if (!bad && mlxc_buffer_read(dev ? ybg : ybc, 0, raw, (size_t)m * n * 4)) bad = 1;
        for (size_t i = 0; i < (size_t)m * n; i++) (dev ? yg : yc)[i] = raw[i];
        free(raw);
    }
    size_t worst = 0;
    const double e = bad ? INFINITY : ot_nerr(yg, yc, (size_t)m * n, &worst);
    char lab[48];
    printf("check %-22s nerr %.2e %s%s\n", qt_label(f, lab, sizeof lab), e, e <= 1e-5 ? "ok" : "MISMATCH",
           bad ? mlxc_last_error() : "");
    mlxc_buffer_release(xc), mlxc_buffer_release(xg), mlxc_buffer_release(ybc), mlxc_buffer_release(ybg);
    qt_dev_free(&wc), qt_dev_free(&wg), qt_weight_free(&w);
    free(xh), free(yc), free(yg);
    return !(e <= 1e-5);
}

/* Prefill: the mat-mat kernel, the bf16 scratch (qembedding_gather of the
 * whole matrix) + the dense GEMM, and the dense bf16 GEMM alone. */
typedef struct pctx {
    qt_dev_weight w;
    mlxc_buffer  *x, *y, *scratch;
    uint32_t      m, n, k;
    int           mode; /* 0 qmm, 1 scratch + GEMM, 2 GEMM alone */
} pctx;

static mlxc_status run_p(mlxc_encoder *enc, int i, void *ctx) {
    (void)i;
    pctx *c = ctx;
    mlxc_status s;
    if (c->mode == 0) return mlxc_qmatmul(enc, c->x, &c->w.w, c->y, c->m, c->n, c->k);
    if (c->mode == 1) {
        if ((s = mlxc_qembedding_gather(enc, &c->w.w, NULL, c->scratch, c->n, c->k, 1.0f))) return s;
        if ((s = mlxc_encoder_barrier(enc))) return s;
    }
    return mlxc_matmul(enc, c->x, c->scratch, c->y, c->m, c->n, c->k);
}

/* The dequantize pass of the scratch path alone: the weight read, n k bf16
 * values written. */
static mlxc_status run_deq(mlxc_encoder *enc, int i, void *ctx) {
    pctx *c = ctx;
    (void)i;
    return mlxc_qembedding_gather(enc, &c->w.w, NULL, c->scratch, c->n, c->k, 1.0f);
}

static void prefill(double ceiling) {
    const qt_format fs[3] = {{MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, {MLXC_QF_Q4_K, 0, 256, MLXC_U8},
                             {MLXC_QF_Q8_0, 0, 32, MLXC_U8}};
    static const uint32_t kn[2][2] = {{4096, 14336}, {14336, 4096}};
    static const uint32_t ms[2] = {512, 2048};
    static const char *const modes[3] = {"qmm kernel", "bf16 scratch + GEMM", "dense bf16 GEMM"};
    printf("\nprefill (bf16 x and y): TFLOP/s = 2 m n k / time\n%-22s %6s %6s %5s %-20s %10s %8s\n", "format", "k",
           "n", "m", "path", "time us", "TFLOP/s");
    for (int fi = 0; fi < 3; fi++)
        for (int s = 0; s < 2; s++) {
            pctx c = {.k = kn[s][0], .n = kn[s][1]};
            qt_weight w = qt_weight_rand(fs[fi], c.n, c.k);
            c.w = qt_upload(gpu, &w);
            qt_weight_free(&w);
            c.scratch = fbuf(gpu, MLXC_BF16, (size_t)c.n * c.k, NULL);
            {
                const double t = time_iters(run_deq, &c);
                double wb = (double)mlxc_buffer_bytes(c.w.w.data);
                if (c.w.w.scales) wb += (double)mlxc_buffer_bytes(c.w.w.scales);
                if (c.w.w.biases) wb += (double)mlxc_buffer_bytes(c.w.w.biases);
                const double bytes = wb + 2.0 * c.n * c.k;
                char lab[48];
                printf("%-22s %6u %6u %5s %-20s %10.1f %8s  %.0f GB/s, %.1f%% of copy\n",
                       qt_label(&fs[fi], lab, sizeof lab), c.k, c.n, "-", "dequantize pass", t * 1e6, "-",
                       bytes / t / 1e9, 100.0 * bytes / t / ceiling);
            }
            for (int mi = 0; mi < 2; mi++) {
                c.m = ms[mi];
                c.x = fbuf(gpu, MLXC_BF16, (size_t)c.m * c.k, NULL);
                c.y = fbuf(gpu, MLXC_BF16, (size_t)c.m * c.n, NULL);
                for (c.mode = 0; c.mode < 3; c.mode++) {
                    const double t = time_iters(run_p, &c);
                    char lab[48];
                    printf("%-22s %6u %6u %5u %-20s %10.1f %8.1f\n", qt_label(&fs[fi], lab, sizeof lab), c.k, c.n, c.m,
                           modes[c.mode], t * 1e6, 2.0 * c.m * c.n * c.k / t / 1e12);
                }
                mlxc_buffer_release(c.x);
                mlxc_buffer_release(c.y);
            }
            mlxc_buffer_release(c.scratch);
            qt_dev_free(&c.w);
        }
}

/* MoE decode: 128 experts, one token, top 8, Qwen3-30B-A3B's shapes: the
 * gate's (n 768, k 2048; the eight experts share x) and the down
 * projection's (n 2048, k 768; each expert its own row of x, as the
 * fused step runs it); iteration i takes the 8 experts 8 (i % 16) .. 8 (i
 * % 16) + 7, so the bank (over the L2) is walked and each expert is cold
 * when touched.  Each through mlxc_qmatmul_experts (bf16 x), and through
 * mlxc_qmatmul_experts_fused with int8 activations where the GPU takes
 * them (the fused step's decode default).  Bytes: the 8 experts' weights
 * and scales, x and y. */
typedef struct mctx {
    qt_dev_weight w;
    mlxc_buffer  *x, *y, *ids[16];
    uint32_t      n, k, down, q8;
} mctx;

static mlxc_status run_moe(mlxc_encoder *enc, int i, void *ctx) {
    mctx *c = ctx;
    const uint32_t tokens = c->down ? 8 : 1, topk = c->down ? 1 : 8;
    if (!c->q8) return mlxc_qmatmul_experts(enc, c->x, &c->w.w, c->ids[i % 16], c->y, tokens, topk, 128, c->n, c->k);
    const mlxc_qmm_fuse f = {.act = MLXC_QMM_ACT_Q8};
    return mlxc_qmatmul_experts_fused(enc, c->x, NULL, NULL, &c->w.w, c->ids[i % 16], c->y, tokens, topk, 128, c->n,
                                      c->k, c->k, &f);
}

static void moe(double ceiling) {
    const qt_format fs[5] = {{MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, {MLXC_QF_Q4_K, 0, 256, MLXC_U8},
                             {MLXC_QF_Q6_K, 0, 256, MLXC_U8}, {MLXC_QF_Q8_0, 0, 32, MLXC_U8},
                             {MLXC_QF_MXFP4, 0, 32, MLXC_U8}};
    printf("\nMoE decode: 128 experts, top 8, one token, bf16 x and y (int8: int8 activations)\n"
           "%-22s %5s %5s %5s %10s %9s %9s %8s\n", "format", "n", "k", "x", "time us", "MB", "GB/s", "of copy");
    for (int sh = 0; sh < 2; sh++)
        for (int fi = 0; fi < 5; fi++) {
            mctx c = {.n = sh ? 2048 : 768, .k = sh ? 768 : 2048, .down = (uint32_t)sh};
            qt_weight w = qt_weight_rand(fs[fi], 128 * c.n, c.k);
            double per = (double)w.row_bytes * c.n;
            if (qt_is_mlx(fs[fi].f)) per += (double)c.n * (c.k / fs[fi].group) * mlxc_dtype_size(fs[fi].sdt) * 2;
            c.w = qt_upload(gpu, &w);
            qt_weight_free(&w);
            const uint32_t xr = sh ? 8 : 1;
            c.x = fbuf(gpu, MLXC_BF16, (size_t)xr * c.k, NULL);
            c.y = fbuf(gpu, MLXC_BF16, (size_t)8 * c.n, NULL);
            for (int sset = 0; sset < 16; sset++) {
                double v[8];
                for (int j = 0; j < 8; j++) v[j] = 8 * sset + j;
                c.ids[sset] = fbuf(gpu, MLXC_U32, 8, v);
            }
            for (c.q8 = 0; c.q8 < 2; c.q8++) {
                if (c.q8 && mlxc_qmatmul_fused_q8_fast(&c.w.w, c.k) != MLXC_OK) break;
                const double t = time_iters(run_moe, &c), bytes = 8 * per + 2.0 * (xr * c.k + 8 * c.n);
                char lab[48];
                printf("%-22s %5u %5u %5s %10.2f %9.2f %9.1f %7.1f%%\n", qt_label(&fs[fi], lab, sizeof lab), c.n, c.k,
                       c.q8 ? "int8" : "bf16", t * 1e6, bytes / 1e6, bytes / t / 1e9, 100.0 * bytes / t / ceiling);
            }
            mlxc_clear_error();
            for (int sset = 0; sset < 16; sset++) mlxc_buffer_release(c.ids[sset]);
            mlxc_buffer_release(c.x);
            mlxc_buffer_release(c.y);
            qt_dev_free(&c.w);
        }
}

/* MoE prefill: 512 tokens, top 8 of 128 experts, Qwen3-30B-A3B's gate
 * (n 768, k 2048) and down (n 2048, k 768) shapes, each token's experts
 * spread by a fixed hash (32 slots an expert on average), grouped once by
 * mlxc_moe_group; the grouped product timed, bf16 x and y.  TFLOP/s =
 * 2 slots n k / time, beside the dense bf16 GEMM of the same m, n, k (one
 * weight for every slot: the rate to compare with); the bytes are every
 * expert's weights (each is read at least once) and x, y. */
typedef struct gctx {
    qt_dev_weight w;
    mlxc_buffer  *x, *xg, *y, *off, *perm, *dense; /* xg: x's first tokens rows */
    uint32_t      n, k, mode; /* 0 grouped, 1 dense GEMM, 2 a hand launch of the raw-tile path */
    uint32_t      tokens, top; /* gate: 512 tokens' rows, 8 slots each; down: a row a slot, 1 each */
    const mlxc_kernel *kern;   /* mode 2: qmoegt_F_bf16_bf16, its threads, stages and parameters */
    uint32_t      threads, stages;
    mlxc_p_qmoe   mp;
} gctx;
#define MOE_TOK 512
#define MOE_E   128
#define MOE_TOP 8

static mlxc_status run_grouped(mlxc_encoder *enc, int i, void *ctx) {
    (void)i;
    gctx *c = ctx;
    if (c->mode == 1) return mlxc_matmul(enc, c->x, c->dense, c->y, MOE_TOK * MOE_TOP, c->n, c->k);
    if (c->mode == 2) {
        const mlxc_qmm_weight *w = &c->w.w;
        const mlxc_buffer *sc = w->scales ? w->scales : w->data, *bi = w->biases ? w->biases : sc;
        mlxc_arg args[8] = {mlxc_arg_buffer(c->xg),  mlxc_arg_buffer(w->data), mlxc_arg_buffer(sc),
                            mlxc_arg_buffer(bi),      mlxc_arg_buffer(c->off), mlxc_arg_buffer(c->perm),
                            mlxc_arg_buffer(c->y),    mlxc_arg_bytes(&c->mp, sizeof c->mp)};
        mlxc_dispatch d = {.kernel = c->kern, .args = args, .nargs = 8,
                           .grid = {(uint32_t)mlxc_qmoeg2_units(c->mp.q.m, MOE_E, c->n), 1, 1},
                           .block = {c->threads, 1, 1},
                           .shared_bytes = c->stages * mlxc_qmoeg2_stage(c->mp.q.format, c->mp.q.bits, c->mp.q.group,
                                                                         c->mp.q.sdtype)};
        return mlxc_encoder_dispatch(enc, &d);
    }
    return mlxc_qmatmul_grouped(enc, c->xg, &c->w.w, c->off, c->perm, c->y, c->tokens, c->top, MOE_E, c->n, c->k);
}

static void moe_prefill(double ceiling) {
    const qt_format fs[4] = {{MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, {MLXC_QF_Q4_0, 0, 32, MLXC_U8},
                             {MLXC_QF_Q4_K, 0, 256, MLXC_U8}, {MLXC_QF_Q6_K, 0, 256, MLXC_U8}};
    static const uint32_t nk[2][2] = {{768, 2048}, {2048, 768}};
    const uint32_t slots = MOE_TOK * MOE_TOP;
    double ids[MOE_TOK * MOE_TOP];
    for (uint32_t t = 0; t < MOE_TOK; t++) /* 8 distinct experts a token: a stride coprime with 128 */
        for (uint32_t j = 0; j < MOE_TOP; j++) ids[t * MOE_TOP + j] = (double)((t * 37u + j * 17u) % MOE_E);
    printf("\nMoE prefill: %u tokens, top %u of %u experts, bf16 x and y; TFLOP/s = 2 slots n k / time\n"
           "%-22s %6s %6s %-16s %10s %8s %9s %8s\n",
           MOE_TOK, MOE_TOP, MOE_E, "format", "n", "k", "path", "time us", "TFLOP/s", "GB/s", "of copy");
    for (int fi = 0; fi < 4; fi++)
        for (int s = 0; s < 2; s++) {
            /* gate reads each token's row for its 8 slots; down reads each
             * slot's own row (the model's calls: slot s = t * 8 + j either way,
             * so one grouping serves both) */
            gctx c = {.n = nk[s][0], .k = nk[s][1], .tokens = s ? slots : MOE_TOK, .top = s ? 1 : MOE_TOP};
            qt_weight w = qt_weight_rand(fs[fi], MOE_E * c.n, c.k);
            const uint32_t rbytes = (uint32_t)w.row_bytes;
            double wb = (double)w.row_bytes * MOE_E * c.n;
            if (qt_is_mlx(fs[fi].f)) wb += (double)MOE_E * c.n * (c.k / fs[fi].group) * mlxc_dtype_size(fs[fi].sdt) * 2;
            c.w = qt_upload(gpu, &w);
            qt_weight_free(&w);
            c.x = fbuf(gpu, MLXC_BF16, (size_t)slots * c.k, NULL); /* (slots, k), the dense GEMM's */
            const int64_t xs[1] = {(int64_t)c.tokens * c.k};
            if (mlxc_buffer_view(c.x, 0, MLXC_BF16, 1, xs, &c.xg)) {
                fprintf(stderr, "view: %s\n", mlxc_last_error());
                exit(1);
            }
            c.y = fbuf(gpu, MLXC_BF16, (size_t)slots * c.n, NULL);
            c.dense = fbuf(gpu, MLXC_BF16, (size_t)c.n * c.k, NULL);
            mlxc_buffer *idb = fbuf(gpu, MLXC_U32, slots, ids), *cnt = fbuf(gpu, MLXC_U32, MOE_E, NULL);
            c.off = fbuf(gpu, MLXC_U32, MOE_E + 1, NULL);
            c.perm = fbuf(gpu, MLXC_U32, slots, NULL);
            mlxc_encoder *enc = NULL;
            if (mlxc_encoder_create(gpu, &enc) || mlxc_moe_group(enc, idb, cnt, c.off, c.perm, MOE_TOK, MOE_TOP, MOE_E) ||
                mlxc_encoder_commit_and_wait(enc)) {
                fprintf(stderr, "moe_group: %s\n", mlxc_last_error());
                exit(1);
            }
            mlxc_encoder_destroy(enc);
            /* the raw-tile path launched by hand with 2, 3 and 4 stages */
            const uint32_t code = fs[fi].f == MLXC_QF_Q4_0   ? MLXC_QMMF_Q4_0
                                  : fs[fi].f == MLXC_QF_Q4_K ? MLXC_QMMF_Q4_K
                                  : fs[fi].f == MLXC_QF_Q6_K ? MLXC_QMMF_Q6_K
                                                             : MLXC_QMMF_AFFINE; /* affine4 g64, bf16 scales */
            char kname[48];
            snprintf(kname, sizeof kname, "qmoegt_%s_bf16_bf16",
                     code == MLXC_QMMF_Q4_0   ? "q4_0"
                     : code == MLXC_QMMF_Q4_K ? "q4_k"
                     : code == MLXC_QMMF_Q6_K ? "q6_k"
                                              : "affine4");
            const uint32_t bits = code == MLXC_QMMF_AFFINE ? 4 : 0, sd = code == MLXC_QMMF_AFFINE ? MLXC_QS_BF16 : 0;
            const int hands =
                mlxc_qmoeg2_takes(code, bits, fs[fi].group, c.k) && !mlxc_kernel_get(gpu, kname, &c.kern) ? 3 : 0;
            c.mp = (mlxc_p_qmoe){{slots, c.n, c.k, code, bits, fs[fi].group, sd, rbytes}, c.top, MOE_E};
            for (c.mode = 0; c.mode < 2 + (uint32_t)hands; c.mode++) {
                const uint32_t mode = c.mode;
                char path[32];
                if (mode >= 2) {
                    c.threads = MLXC_QMOEG2_THREADS, c.stages = mode, c.mode = 2;
                    snprintf(path, sizeof path, "raw, %u stages", c.stages);
                } else snprintf(path, sizeof path, "%s", mode ? "dense bf16 GEMM" : "grouped");
                const double t = time_iters(run_grouped, &c);
                c.mode = mode;
                const double bytes = (c.mode == 1 ? 2.0 * c.n * c.k : wb) + 2.0 * slots * (c.k + c.n);
                char lab[48];
                printf("%-22s %6u %6u %-16s %10.1f %8.1f %9.0f %7.1f%%\n", qt_label(&fs[fi], lab, sizeof lab), c.n,
                       c.k, path, t * 1e6, 2.0 * slots * c.n * c.k / t / 1e12, bytes / t / 1e9,
                       100.0 * bytes / t / ceiling);
            }
            mlxc_buffer_release(idb), mlxc_buffer_release(cnt), mlxc_buffer_release(c.off);
            mlxc_buffer_release(c.perm), mlxc_buffer_release(c.xg), mlxc_buffer_release(c.x), mlxc_buffer_release(c.y);
            mlxc_buffer_release(c.dense);
            qt_dev_free(&c.w);
        }
}

int main(int argc, char **argv) {
    bench_on_crash();
    int ndev = 0;
    mlxc_device_count(MLXC_BACKEND_CUDA, &ndev);
    if (ndev == 0) {
        printf("SKIP: no CUDA device\n");
        return 0;
    }
    if (mlxc_device_open(MLXC_BACKEND_CUDA, 0, &gpu) || mlxc_device_open(MLXC_BACKEND_CPU, 0, &cpu)) {
        fprintf(stderr, "open: %s\n", mlxc_last_error());
        return 1;
    }
    mlxc_device_caps caps;
    if (mlxc_device_caps_get(gpu, &caps) == MLXC_OK && caps.l2_bytes) g_l2_bytes = (double)caps.l2_bytes;
    int check_only = 0, no_prefill = 0, prefill_only = 0, moe_only = 0, nshape = 2;
    uint32_t kn[8][2] = {{4096, 14336}, {14336, 4096}};
    const char *only = NULL;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--check-only") == 0) check_only = 1;
        else if (strcmp(argv[a], "--no-prefill") == 0) no_prefill = 1;
        else if (strcmp(argv[a], "--prefill-only") == 0) prefill_only = 1;
        else if (strcmp(argv[a], "--moe-prefill-only") == 0) moe_only = 1;
        else if (strcmp(argv[a], "--moe-decode-only") == 0) moe_only = 2;
        else if (strcmp(argv[a], "--only") == 0 && a + 1 < argc) only = argv[++a], no_prefill = 1;
        else if (strcmp(argv[a], "--shapes") == 0 && a + 1 < argc) {
            const char *sp = argv[++a];
            for (nshape = 0; *sp && nshape < 8; nshape++) {
                unsigned kk = 0, nn = 0;
                int used = 0;
                if (sscanf(sp, "%ux%u%n", &kk, &nn, &used) != 2 || kk == 0 || nn == 0) {
                    fprintf(stderr, "--shapes: KxN[,KxN...] (at most 8)\n");
                    return 2;
                }
                kn[nshape][0] = kk, kn[nshape][1] = nn;
                sp += used;
                if (*sp == ',') sp++;
            }
        } else {
            fprintf(stderr, "usage: bench_qmatmul [--check-only] [--no-prefill] [--prefill-only] "
                            "[--moe-prefill-only] [--moe-decode-only] [--only NAME] [--shapes KxN,...]\n");
            return 2;
        }
    }
    /* The benched formats: affine at g64 bf16 for every bits, 4 and 8 at g32
     * f16, then the rest. */
    qt_format fs[8 + QT_NFORMATS]; /* the eight affine ones, then the rest of qt_formats */
    int nf = 0;
    static const uint32_t abits[6] = {2, 3, 4, 5, 6, 8};
    for (int b = 0; b < 6; b++) fs[nf++] = (qt_format){MLXC_QF_MLX_AFFINE, abits[b], 64, MLXC_BF16};
    /* the layouts GGUF Q4_0 and Q8_0 load as (mlxc_model_options.ggml_as_affine) */
    fs[nf++] = (qt_format){MLXC_QF_MLX_AFFINE, 4, 32, MLXC_F16};
    fs[nf++] = (qt_format){MLXC_QF_MLX_AFFINE, 8, 32, MLXC_F16};
    for (size_t i = 0; i < QT_NFORMATS; i++)
        if (qt_formats[i].f != MLXC_QF_MLX_AFFINE) fs[nf++] = qt_formats[i];
    if (only) {
        /* case-blind: the labels say Q4_0 and affine4 */
        char want[48];
        size_t wl = 0;
        for (; only[wl] && wl + 1 < sizeof want; wl++) want[wl] = (char)tolower((unsigned char)only[wl]);
        want[wl] = 0;
        int kept = 0;
        for (int i = 0; i < nf; i++) {
            char lab[48];
            qt_label(&fs[i], lab, sizeof lab);
            for (char *c = lab; *c; c++) *c = (char)tolower((unsigned char)*c);
            if (strstr(lab, want)) fs[kept++] = fs[i];
        }
        nf = kept;
    }
    if (prefill_only) nf = 0, only = "", no_prefill = 0; /* no checks, mat-vecs or MoE */
    if (moe_only) nf = 0, only = "", no_prefill = 1;     /* the MoE prefill or decode table alone */
    int bad = 0;
    for (int i = 0; i < nf; i++) bad |= check(&fs[i]);
    for (size_t i = 0; i < QT_NFORMATS && !only; i++)
        if (qt_formats[i].f == MLXC_QF_MLX_AFFINE) bad |= check(&qt_formats[i]);
    if (bad) printf("CPU/CUDA MISMATCH: see above\n");
    if (check_only) return bad;

    printf("\nbench_qmatmul on %s; %d iterations per command buffer (one barrier each), best of 3\n",
           mlxc_device_name(gpu), ITERS);
    const size_t cn = (size_t)1 << 26; /* f32: 256 MiB, two pairs rotated */
    mlxc_buffer *cb[4] = {fbuf(gpu, MLXC_F32, cn, NULL), fbuf(gpu, MLXC_F32, cn, NULL), fbuf(gpu, MLXC_F32, cn, NULL),
                          fbuf(gpu, MLXC_F32, cn, NULL)};
    const double tc = time_iters(run_copy, cb), ceiling = 2.0 * cn * 4 / tc;
    for (int i = 0; i < 4; i++) mlxc_buffer_release(cb[i]);
    printf("copy 256 MiB: %.1f us, %.0f GB/s (read + write): the ceiling below\n\n", tc * 1e6, ceiling / 1e9);

    printf("%-22s %6s %6s %3s %4s %10s %9s %9s %8s %9s %8s\n", "format", "k", "n", "m", "sets", "time us", "MB",
           "GB/s", "of copy", "PDL us", "of copy");
    static const uint32_t ms[2] = {1, 8};
    for (int fi = 0; fi < nf; fi++)
        for (int s = 0; s < nshape; s++) {
            qctx c = {.k = kn[s][0], .n = kn[s][1]};
            qt_weight w = qt_weight_rand(fs[fi], c.n, c.k);
            double wbytes = (double)w.row_bytes * c.n;
            if (qt_is_mlx(fs[fi].f))
                wbytes += (double)c.n * (c.k / fs[fi].group) * mlxc_dtype_size(fs[fi].sdt) *
                          (fs[fi].f == MLXC_QF_MLX_AFFINE ? 2 : 1);
            c.nrot = (int)ceil(4 * L2_BYTES / wbytes) + 1;
            if (c.nrot > MAX_ROT) c.nrot = MAX_ROT;
            for (int r = 0; r < c.nrot; r++) c.w[r] = qt_upload(gpu, &w);
            qt_weight_free(&w);
            for (int mi = 0; mi < 2; mi++) {
                c.m = ms[mi];
                c.x = fbuf(gpu, MLXC_BF16, (size_t)c.m * c.k, NULL);
                c.y = fbuf(gpu, MLXC_BF16, (size_t)c.m * c.n, NULL);
                const double t = time_iters(run_q, &c), tg = time_iters_as(run_q, &c, 1);
                const double bytes = wbytes + 2.0 * c.m * (c.k + c.n);
                char lab[48];
                printf("%-22s %6u %6u %3u %4d %10.2f %9.2f %9.1f %7.1f%% %9.2f %7.1f%%\n",
                       qt_label(&fs[fi], lab, sizeof lab), c.k, c.n, c.m, c.nrot, t * 1e6, bytes / 1e6, bytes / t / 1e9,
                       100.0 * bytes / t / ceiling, tg * 1e6, 100.0 * bytes / tg / ceiling);
                mlxc_buffer_release(c.x);
                mlxc_buffer_release(c.y);
            }
            /* the fused mat-vec, m = 1: exact, and int8 activations where
             * the GPU takes them, with the RMS norm in front and without
             * (the prologue's cost: "q8 nonorm") */
            for (int a = 0; a < 3 && mlxc_qmatmul_fused_fast(&c.w[0].w, c.k) == MLXC_OK; a++) {
                if (a >= 1 && mlxc_qmatmul_fused_q8_fast(&c.w[0].w, c.k) != MLXC_OK) break;
                c.m = 1;
                c.x = fbuf(gpu, MLXC_BF16, c.k, NULL);
                c.y = fbuf(gpu, MLXC_BF16, c.n, NULL);
                fctx f = {.q = &c, .g = fbuf(gpu, MLXC_BF16, c.k, NULL), .act = a ? MLXC_QMM_ACT_Q8 : MLXC_QMM_ACT_EXACT,
                          .norm = a < 2};
                const double t = time_iters(run_f, &f), tg = time_iters_as(run_f, &f, 1);
                const double bytes = wbytes + 2.0 * ((a < 2 ? 2.0 : 1.0) * c.k + c.n);
                char lab[48], lf[64];
                snprintf(lf, sizeof lf, "%s fused%s", qt_label(&fs[fi], lab, sizeof lab),
                         a == 2 ? " q8 nonorm" : a ? " q8" : "");
                printf("%-22s %6u %6u %3u %4d %10.2f %9.2f %9.1f %7.1f%% %9.2f %7.1f%%\n", lf, c.k, c.n, 1u, c.nrot,
                       t * 1e6, bytes / 1e6, bytes / t / 1e9, 100.0 * bytes / t / ceiling, tg * 1e6,
                       100.0 * bytes / tg / ceiling);
                mlxc_buffer_release(c.x);
                mlxc_buffer_release(c.y);
                mlxc_buffer_release(f.g);
            }
            mlxc_clear_error();
            for (int r = 0; r < c.nrot; r++) qt_dev_free(&c.w[r]);
        }
    if (!only || moe_only == 2) moe(ceiling);
    if (!only || moe_only == 1) moe_prefill(ceiling);
    if (!no_prefill) prefill(ceiling);
    mlxc_device_close(gpu);
    mlxc_device_close(cpu);
    return bad;
}
