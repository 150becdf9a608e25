/* Quantized matmul parity: the same mlxc_qmatmul calls on the CPU device
 * and on the CUDA device over the same random quantized weights and inputs,
 * outputs poisoned first, compared by normalized error (y f32 1e-5, y bf16
 * 1.6e-2: two roundings apart at most).  Every format x m = 1..8 (the
 * mat-vec) and m in 9..600 (the mat-mat), k a multiple of 256 and not
 * where the format allows, odd n; both kernels launched by hand with odd
 * grids and block sizes (params_elementwise.h: any launch shape is correct); and the
 * quantized embedding gather and the expert-routed mat-vec, every format.
 * Exits 77 "SKIP: no CUDA device" without a GPU. */
#include <ctype.h>

#include "kernels/params_qmatmul.h"
#include "mlxc/ops_moe.h"
#include "qmatmul_test.h"

static mlxc_device *cpu, *gpu;
static int g_cases;

/* The kernels' format code (src/kernels/params_qmatmul.h) of a public one. */
static uint32_t qt_kernel_code(mlxc_qformat f) {
    switch (f) {
    case MLXC_QF_MLX_AFFINE: return MLXC_QMMF_AFFINE;
    case MLXC_QF_MLX_MXFP4: return MLXC_QMMF_MXFP4;
    case MLXC_QF_MLX_NVFP4: return MLXC_QMMF_NVFP4;
    case MLXC_QF_MLX_MXFP8: return MLXC_QMMF_MXFP8;
    case MLXC_QF_Q4_0: return MLXC_QMMF_Q4_0;
    case MLXC_QF_Q4_1: return MLXC_QMMF_Q4_1;
    case MLXC_QF_Q5_0: return MLXC_QMMF_Q5_0;
    case MLXC_QF_Q5_1: return MLXC_QMMF_Q5_1;
    case MLXC_QF_Q8_0: return MLXC_QMMF_Q8_0;
    case MLXC_QF_Q2_K: return MLXC_QMMF_Q2_K;
    case MLXC_QF_Q3_K: return MLXC_QMMF_Q3_K;
    case MLXC_QF_Q4_K: return MLXC_QMMF_Q4_K;
    case MLXC_QF_Q5_K: return MLXC_QMMF_Q5_K;
    case MLXC_QF_Q6_K: return MLXC_QMMF_Q6_K;
    case MLXC_QF_IQ4_NL: return MLXC_QMMF_IQ4_NL;
    case MLXC_QF_IQ4_XS: return MLXC_QMMF_IQ4_XS;
    case MLXC_QF_MXFP4: return MLXC_QMMF_GGML_MXFP4;
    case MLXC_QF_NVFP4: return MLXC_QMMF_GGML_NVFP4;
    case MLXC_QF_IQ2_XXS: return MLXC_QMMF_IQ2_XXS;
    case MLXC_QF_IQ2_XS: return MLXC_QMMF_IQ2_XS;
    case MLXC_QF_IQ2_S: return MLXC_QMMF_IQ2_S;
    case MLXC_QF_IQ3_XXS: return MLXC_QMMF_IQ3_XXS;
    case MLXC_QF_IQ3_S: return MLXC_QMMF_IQ3_S;
    case MLXC_QF_IQ1_S: return MLXC_QMMF_IQ1_S;
    case MLXC_QF_IQ1_M: return MLXC_QMMF_IQ1_M;
    case MLXC_QF_TQ1_0: return MLXC_QMMF_TQ1_0;
    case MLXC_QF_TQ2_0: return MLXC_QMMF_TQ2_0;
    default: return 0;
    }
}

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
static void p_free(pair *p) {
    ot_free(&p->c);
    ot_free(&p->g);
}

/* The kernels' name for a format: lower case, GGML's MXFP4 and NVFP4
 * "gmxfp4" and "gnvfp4". */
static void kernel_fmt(const qt_format *f, char *fmt, size_t size) {
    if (f->f == MLXC_QF_MLX_AFFINE) snprintf(fmt, size, "affine%u", f->bits);
    else if (f->f == MLXC_QF_MXFP4) snprintf(fmt, size, "gmxfp4");
    else if (f->f == MLXC_QF_NVFP4) snprintf(fmt, size, "gnvfp4");
    else {
        const char *s = mlxc_qformat_name(f->f);
        size_t i = 0;
        if (strncmp(s, "mlx-", 4) == 0) s += 4;
        for (; s[i] && i + 1 < size; i++) fmt[i] = (char)tolower((unsigned char)s[i]);
        fmt[i] = 0;
    }
}

/* y on both devices through the front-end; when block != 0 the GPU side is
 * dispatched by hand with `grid` x `block` under the front-end's name. */
/* When set, hand launches use this kernel prefix instead of qmv/qmm. */
static const char *g_prefix;
/* Dynamic shared memory of hand launches. */
static uint32_t g_shared;

static void one(const qt_format *f, uint32_t m, uint32_t n, uint32_t k, mlxc_dtype xd, mlxc_dtype yd, uint32_t grid,
                uint32_t block) {
    qt_weight w = qt_weight_rand(*f, n, k);
    qt_dev_weight wc = qt_upload(cpu, &w), wg = qt_upload(gpu, &w);
    pair x = p_rand(xd, (size_t)m * k), y = {ot_out(cpu, yd, (size_t)m * n), ot_out(gpu, yd, (size_t)m * n)};
    OT_RUN(cpu, mlxc_qmatmul(enc, x.c.b, &wc.w, y.c.b, m, n, k));
    if (!block) {
        OT_RUN(gpu, mlxc_qmatmul(enc, x.g.b, &wg.w, y.g.b, m, n, k));
    } else {
        char name[48], fmt[16];
        kernel_fmt(f, fmt, sizeof fmt);
        snprintf(name, sizeof name, "%s_%s_%s_%s", g_prefix ? g_prefix : m <= MLXC_QMV_MAX_M ? "qmv" : "qmm", fmt,
                 xd == MLXC_F32 ? "f32" : "bf16", yd == MLXC_F32 ? "f32" : "bf16");
        const mlxc_kernel *kern = NULL;
        CHECK_OK(mlxc_kernel_get(gpu, name, &kern));
        const uint32_t sd = f->sdt == MLXC_F32 ? MLXC_QS_F32 : f->sdt == MLXC_F16 ? MLXC_QS_F16 : MLXC_QS_BF16;
        mlxc_p_qmatmul p = {m, n, k, qt_kernel_code(f->f), f->bits, f->group, f->f == MLXC_QF_MLX_AFFINE ? sd : 0,
                            (uint32_t)w.row_bytes};
        const mlxc_buffer *sc = wg.scales ? wg.scales : wg.data, *bi = wg.biases ? wg.biases : sc;
        mlxc_arg args[6] = {mlxc_arg_buffer(x.g.b), mlxc_arg_buffer(wg.data), mlxc_arg_buffer(sc),
                            mlxc_arg_buffer(bi),    mlxc_arg_buffer(y.g.b),   mlxc_arg_bytes(&p, sizeof p)};
        mlxc_dispatch d = {.kernel = kern, .args = args, .nargs = 6, .grid = {grid, 1, 1}, .block = {block, 1, 1},
                           .shared_bytes = g_shared};
        if (kern) OT_RUN(gpu, mlxc_encoder_dispatch(enc, &d));
    }
    ot_download(&y.c);
    ot_download(&y.g);
    g_cases++;
    char lab[48];
    OT_CLOSE(&y.g, y.c.h, tol(yd), "%s m=%u n=%u k=%u x %s y %s grid %u block %u", qt_label(f, lab, sizeof lab), m,
             n, k, mlxc_dtype_name(xd), mlxc_dtype_name(yd), grid, block);
    p_free(&x);
    p_free(&y);
    qt_dev_free(&wc);
    qt_dev_free(&wg);
    qt_weight_free(&w);
}

static const mlxc_dtype k_dt[2] = {MLXC_F32, MLXC_BF16};

static void par_matvec(void) {
    unsigned combo = 0;
    for (size_t fi = 0; fi < QT_NFORMATS; fi++) {
        const qt_format *f = &qt_formats[fi];
        const uint32_t ks[3] = {256, 2048, f->group < 256 ? 13 * f->group : 1280};
        for (uint32_t m = 1; m <= 8; m++)
            for (int ki = 0; ki < 3; ki++, combo++)
                one(f, m, ki == 1 ? 301 : 37, ks[ki], k_dt[combo % 2], k_dt[(combo / 2) % 2], 0, 0);
    }
}

static void par_matmat(void) {
    static const uint32_t ms[] = {9, 17, 33, 100, 600};
    unsigned combo = 0;
    for (size_t fi = 0; fi < QT_NFORMATS; fi++) {
        const qt_format *f = &qt_formats[fi];
        for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++, combo++) {
            const uint32_t k = mi % 2 ? 512 : (f->group < 256 ? 5 * f->group : 768);
            one(f, ms[mi], mi == 4 ? 67 : 131, k, k_dt[combo % 2], k_dt[(combo / 2) % 2], 0, 0);
        }
    }
}

/* Odd launches: grid 1 and 3, blocks of 32, 96, 100 (not whole warps) and 1. */
static void par_launch(void) {
    static const struct { uint32_t grid, block; } l[] = {{1, 32}, {3, 96}, {2, 100}, {5, 1}, {1, 1024}};
    const qt_format fs[3] = {{MLXC_QF_Q4_K, 0, 256, MLXC_U8}, {MLXC_QF_MLX_AFFINE, 3, 64, MLXC_BF16},
                             {MLXC_QF_Q5_0, 0, 32, MLXC_U8}};
    for (int fi = 0; fi < 3; fi++)
        for (size_t i = 0; i < sizeof l / sizeof *l; i++) {
            one(&fs[fi], 3, 41, 768, MLXC_F32, MLXC_F32, l[i].grid, l[i].block);
            one(&fs[fi], 40, 41, 768, MLXC_BF16, MLXC_F32, l[i].grid, l[i].block);
        }
    /* The tensor-core mat-vec (at most MLXC_QMVT_THREADS threads a block):
     * both of its paths (whole warps) and the warp-per-row fallback. */
    static const struct { uint32_t grid, block; } lt[] = {{1, 32}, {3, 96}, {2, 100}, {5, 1}, {1, 256}, {2, 64}};
    const qt_format ft[8] = {{MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, {MLXC_QF_MLX_AFFINE, 8, 32, MLXC_F32},
                             {MLXC_QF_Q4_0, 0, 32, MLXC_U8},         {MLXC_QF_Q4_1, 0, 32, MLXC_U8},
                             {MLXC_QF_Q8_0, 0, 32, MLXC_U8},         {MLXC_QF_Q4_K, 0, 256, MLXC_U8},
                             {MLXC_QF_Q6_K, 0, 256, MLXC_U8},        {MLXC_QF_Q5_K, 0, 256, MLXC_U8}};
    g_prefix = "qmvt";
    for (int fi = 0; fi < 8; fi++)
        for (size_t i = 0; i < sizeof lt / sizeof *lt; i++) {
            one(&ft[fi], 3, 41, 768, MLXC_F32, MLXC_F32, lt[i].grid, lt[i].block);
            one(&ft[fi], 8, 19, 2048, MLXC_BF16, MLXC_BF16, lt[i].grid, lt[i].block);
        }
    /* The shared-memory ring given its memory: one or two blocks walking
     * several 16-row tiles (the ring runs on across them), k of 2 to 4
     * stages and one ending in a partial stage. */
    for (int fi = 0; fi < 8; fi++) {
        const qt_format *f = &ft[fi];
        const uint32_t es = f->sdt == MLXC_F32 ? 4 : 2, code = qt_kernel_code(f->f);
        static const struct { uint32_t m, n, k, grid; mlxc_dtype xd, yd; } c[] = {
            {1, 41, 2048, 1, MLXC_BF16, MLXC_BF16}, {3, 57, 2048, 2, MLXC_F32, MLXC_F32},
            {8, 41, 4096, 1, MLXC_BF16, MLXC_F32},  {5, 70, 1792, 3, MLXC_F32, MLXC_BF16}};
        for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
            g_shared = mlxc_qmvt_smem_bytes(code, f->bits, c[i].m, c[i].xd == MLXC_F32 ? 4 : 2, f->group, es);
            one(f, c[i].m, c[i].n, c[i].k, c[i].xd, c[i].yd, c[i].grid, MLXC_QMVT_THREADS);
        }
    }
    /* Q4_1's ring takes rows off 16-byte boundaries (shifted): SmolLM2's
     * 576 values (360-byte rows) and 1120 (700 bytes: every shift) */
    static const struct { uint32_t m, n, k, grid; mlxc_dtype xd, yd; } cs[] = {
        {1, 37, 576, 2, MLXC_BF16, MLXC_BF16}, {8, 45, 1120, 1, MLXC_F32, MLXC_BF16}, {3, 29, 2720, 3, MLXC_BF16, MLXC_F32}};
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        g_shared = mlxc_qmvt_smem_bytes(MLXC_QMMF_Q4_1, 0, cs[i].m, cs[i].xd == MLXC_F32 ? 4 : 2, 32, 2);
        one(&ft[3], cs[i].m, cs[i].n, cs[i].k, cs[i].xd, cs[i].yd, cs[i].grid, MLXC_QMVT_THREADS);
    }
    g_shared = 0;
    g_prefix = NULL;
}

/* The gather (ids, one past the table, and the whole matrix), every format. */
static void par_gather(void) {
    for (size_t fi = 0; fi < QT_NFORMATS; fi++) {
        const qt_format *f = &qt_formats[fi];
        const uint32_t n = 37, k = f->group < 256 ? 7 * f->group : 768;
        qt_weight w = qt_weight_rand(*f, n, k);
        qt_dev_weight wc = qt_upload(cpu, &w), wg = qt_upload(gpu, &w);
        pair ids = {ot_alloc(cpu, MLXC_U32, 6), ot_alloc(gpu, MLXC_U32, 6)};
        static const uint32_t idv[6] = {5, 36, 0, 37, 1000, 5};
        for (int i = 0; i < 6; i++) ids.c.h[i] = ids.g.h[i] = idv[i];
        ot_upload(&ids.c);
        ot_upload(&ids.g);
        for (int full = 0; full < 2; full++) {
            const mlxc_dtype od = k_dt[(fi + (size_t)full) % 2];
            const size_t rows = full ? n : 6;
            pair out = {ot_out(cpu, od, rows * k), ot_out(gpu, od, rows * k)};
            OT_RUN(cpu, mlxc_qembedding_gather(enc, &wc.w, full ? NULL : ids.c.b, out.c.b, n, k, 0.75f));
            OT_RUN(gpu, mlxc_qembedding_gather(enc, &wg.w, full ? NULL : ids.g.b, out.g.b, n, k, 0.75f));
            ot_download(&out.c);
            ot_download(&out.g);
            g_cases++;
            char lab[48];
            OT_CLOSE(&out.g, out.c.h, od == MLXC_F32 ? 1e-6 : 8e-3, "gather %s %s", qt_label(f, lab, sizeof lab),
                     full ? "all rows" : "ids");
            p_free(&out);
        }
        p_free(&ids);
        qt_dev_free(&wc);
        qt_dev_free(&wg);
        qt_weight_free(&w);
    }
}

/* The dequantize pass launched by hand on a small grid (each thread walks
 * many units: its row and run advance by the stride's quotient and
 * remainder), into an output that starts 16-byte aligned and one that
 * does not (the scalar stores); nothing outside the view is written (the
 * poison around it stays on both devices). */
static void par_gather_launch(void) {
    static const qt_format fs[4] = {{MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, {MLXC_QF_Q4_0, 0, 32, MLXC_U8},
                                    {MLXC_QF_Q5_K, 0, 256, MLXC_U8}, {MLXC_QF_Q6_K, 0, 256, MLXC_U8}};
    static const char *const names[4] = {"affine4", "q4_0", "q5_k", "q6_k"};
    for (int fi = 0; fi < 4; fi++)
        for (int shift = 0; shift < 2; shift++) {
            const qt_format *f = &fs[fi];
            const uint32_t n = 37, k = 768;
            const mlxc_dtype od = k_dt[(fi + shift) % 2];
            const size_t off = shift ? 2 : 0, es = mlxc_dtype_size(od);
            qt_weight w = qt_weight_rand(*f, n, k);
            qt_dev_weight wc = qt_upload(cpu, &w), wg = qt_upload(gpu, &w);
            pair whole = {ot_out(cpu, od, (size_t)n * k + 8), ot_out(gpu, od, (size_t)n * k + 8)};
            const int64_t shp[2] = {n, k};
            mlxc_buffer *vc = NULL, *vg = NULL;
            CHECK_OK(mlxc_buffer_view(whole.c.b, off * es, od, 2, shp, &vc));
            CHECK_OK(mlxc_buffer_view(whole.g.b, off * es, od, 2, shp, &vg));
            OT_RUN(cpu, mlxc_qembedding_gather(enc, &wc.w, NULL, vc, n, k, 0.75f));
            char name[48];
            snprintf(name, sizeof name, "qgather_%s_%s", names[fi], od == MLXC_F32 ? "f32" : "bf16");
            const mlxc_kernel *kern = NULL;
            CHECK_OK(mlxc_kernel_get(gpu, name, &kern));
            const uint32_t sd = f->sdt == MLXC_F32 ? MLXC_QS_F32 : f->sdt == MLXC_F16 ? MLXC_QS_F16 : MLXC_QS_BF16;
            mlxc_p_qgather gp = {{n, n, k, qt_kernel_code(f->f), f->bits, f->group,
                                  f->f == MLXC_QF_MLX_AFFINE ? sd : 0, (uint32_t)w.row_bytes},
                                 0, 0.75f};
            const mlxc_buffer *sc = wg.scales ? wg.scales : wg.data, *bi = wg.biases ? wg.biases : sc;
            mlxc_arg args[6] = {mlxc_arg_buffer(wg.data), mlxc_arg_buffer(wg.data), mlxc_arg_buffer(sc),
                                mlxc_arg_buffer(bi),      mlxc_arg_buffer(vg),      mlxc_arg_bytes(&gp, sizeof gp)};
            mlxc_dispatch d = {.kernel = kern, .args = args, .nargs = 6, .grid = {3, 1, 1}, .block = {64, 1, 1}};
            if (kern && vg) OT_RUN(gpu, mlxc_encoder_dispatch(enc, &d));
            ot_download(&whole.c);
            ot_download(&whole.g);
            g_cases++;
            char lab[48];
            OT_CLOSE(&whole.g, whole.c.h, od == MLXC_F32 ? 1e-6 : 8e-3, "gather %s by hand (grid 3 x 64) at element %zu",
                     qt_label(f, lab, sizeof lab), off);
            mlxc_buffer_release(vc);
            mlxc_buffer_release(vg);
            p_free(&whole);
            qt_dev_free(&wc);
            qt_dev_free(&wg);
            qt_weight_free(&w);
        }
}

/* The expert-grouped mat-mat: ids grouped by mlxc_moe_group on each
 * device, more slots than a tile for one expert, ids past the experts. */
static void par_grouped(void) {
    const uint32_t E = 6, n = 45, tokens = 29, topk = 3, pairs = tokens * topk;
    for (size_t fi = 0; fi < QT_NFORMATS; fi++) {
        const qt_format *f = &qt_formats[fi];
        const uint32_t k = f->group < 256 ? 5 * f->group : 768;
        const mlxc_dtype xd = k_dt[fi % 2], yd = k_dt[(fi / 2) % 2];
        qt_weight w = qt_weight_rand(*f, E * n, k);
        qt_dev_weight wc = qt_upload(cpu, &w), wg = qt_upload(gpu, &w);
        pair x = p_rand(xd, (size_t)tokens * k), y = {ot_out(cpu, yd, (size_t)pairs * n), ot_out(gpu, yd, (size_t)pairs * n)};
        pair ids = {ot_alloc(cpu, MLXC_U32, pairs), ot_alloc(gpu, MLXC_U32, pairs)};
        pair cnt = {ot_alloc(cpu, MLXC_U32, E), ot_alloc(gpu, MLXC_U32, E)};
        pair off = {ot_alloc(cpu, MLXC_U32, E + 1), ot_alloc(gpu, MLXC_U32, E + 1)};
        pair perm = {ot_alloc(cpu, MLXC_U32, pairs), ot_alloc(gpu, MLXC_U32, pairs)};
        for (uint32_t i = 0; i < pairs; i++) ids.c.h[i] = ids.g.h[i] = (i * 7 + fi) % 11 < 5 ? 4 : (i * 5 + fi) % (E + 2);
        ot_upload(&ids.c);
        ot_upload(&ids.g);
        OT_RUN(cpu, mlxc_moe_group(enc, ids.c.b, cnt.c.b, off.c.b, perm.c.b, tokens, topk, E));
        OT_RUN(gpu, mlxc_moe_group(enc, ids.g.b, cnt.g.b, off.g.b, perm.g.b, tokens, topk, E));
        OT_RUN(cpu, mlxc_qmatmul_grouped(enc, x.c.b, &wc.w, off.c.b, perm.c.b, y.c.b, tokens, topk, E, n, k));
        OT_RUN(gpu, mlxc_qmatmul_grouped(enc, x.g.b, &wg.w, off.g.b, perm.g.b, y.g.b, tokens, topk, E, n, k));
        ot_download(&y.c);
        ot_download(&y.g);
        g_cases++;
        char lab[48];
        OT_CLOSE(&y.g, y.c.h, tol(yd), "grouped %s x %s y %s", qt_label(f, lab, sizeof lab), mlxc_dtype_name(xd),
                 mlxc_dtype_name(yd));
        p_free(&x), p_free(&y), p_free(&ids), p_free(&cnt), p_free(&off), p_free(&perm);
        qt_dev_free(&wc), qt_dev_free(&wg), qt_weight_free(&w);
    }
}

/* One grouped case with bf16 x and y on both devices (the GPU's
 * tensor-core kernel, qmoegt): 600 slots over 12 experts, one expert with
 * several slot tiles, some empty, ids past the experts (the tail), n and k
 * not multiples of the tiles.  hand: the GPU kernel launched by hand with
 * a block it does not tile (96 threads, 7 blocks: the plain path), or
 * without its shared memory. */
static void grouped_tc(const mlxc_qmm_weight *wc, const mlxc_qmm_weight *wg, const char *kname, const char *label,
                       uint32_t E, uint32_t n, uint32_t k, int hand) {
    const uint32_t tokens = 150, topk = 4, pairs = tokens * topk;
    pair x = p_rand(MLXC_BF16, (size_t)tokens * k);
    pair y = {ot_out(cpu, MLXC_BF16, (size_t)pairs * n), ot_out(gpu, MLXC_BF16, (size_t)pairs * n)};
    pair ids = {ot_alloc(cpu, MLXC_U32, pairs), ot_alloc(gpu, MLXC_U32, pairs)};
    pair cnt = {ot_alloc(cpu, MLXC_U32, E), ot_alloc(gpu, MLXC_U32, E)};
    pair off = {ot_alloc(cpu, MLXC_U32, E + 1), ot_alloc(gpu, MLXC_U32, E + 1)};
    pair perm = {ot_alloc(cpu, MLXC_U32, pairs), ot_alloc(gpu, MLXC_U32, pairs)};
    for (uint32_t i = 0; i < pairs; i++) /* expert 3 takes about 40%; 7 and 9 none; E, E + 1 the tail */
        ids.c.h[i] = ids.g.h[i] = (i * 13) % 5 < 2 ? 3 : (uint32_t[]){0, 1, 2, 4, 5, 6, 8, 10, 11, 12, 13}[(i * 7) % 11];
    ot_upload(&ids.c);
    ot_upload(&ids.g);
    OT_RUN(cpu, mlxc_moe_group(enc, ids.c.b, cnt.c.b, off.c.b, perm.c.b, tokens, topk, E));
    OT_RUN(gpu, mlxc_moe_group(enc, ids.g.b, cnt.g.b, off.g.b, perm.g.b, tokens, topk, E));
    OT_RUN(cpu, mlxc_qmatmul_grouped(enc, x.c.b, wc, off.c.b, perm.c.b, y.c.b, tokens, topk, E, n, k));
    if (!hand) {
        OT_RUN(gpu, mlxc_qmatmul_grouped(enc, x.g.b, wg, off.g.b, perm.g.b, y.g.b, tokens, topk, E, n, k));
    } else {
        char name[48];
        snprintf(name, sizeof name, "qmoegt_%s_bf16_bf16", kname);
        const mlxc_kernel *kern = NULL;
        CHECK_OK(mlxc_kernel_get(gpu, name, &kern));
        uint32_t bits = wg->bits, group = wg->group_size; /* as qt_formats gives them */
        const uint32_t dense = wg->format == MLXC_QF_F32 ? 4 : wg->format == MLXC_QF_F16 || wg->format == MLXC_QF_BF16 ? 2 : 0;
        if (dense) bits = 8 * dense, group = 1;
        const mlxc_dtype sdt = wg->scales ? mlxc_buffer_dtype(wg->scales) : MLXC_U8;
        const uint32_t sd = wg->format != MLXC_QF_MLX_AFFINE ? 0 : sdt == MLXC_F32 ? MLXC_QS_F32 : sdt == MLXC_F16 ? MLXC_QS_F16 : MLXC_QS_BF16;
        mlxc_p_qmoe mp = {{pairs, n, k, qt_kernel_code(wg->format), bits, group, sd,
                           (uint32_t)mlxc_qmm_row_bytes(wg->format, wg->bits, wg->group_size, k)},
                          topk, E};
        if (dense) mp.q.format = wg->format == MLXC_QF_F32 ? MLXC_QMMF_F32 : wg->format == MLXC_QF_F16 ? MLXC_QMMF_F16 : MLXC_QMMF_BF16;
        const mlxc_buffer *sc = wg->scales ? wg->scales : wg->data, *bi = wg->biases ? wg->biases : sc;
        mlxc_arg args[8] = {mlxc_arg_buffer(x.g.b),   mlxc_arg_buffer(wg->data),  mlxc_arg_buffer(sc),
                            mlxc_arg_buffer(bi),      mlxc_arg_buffer(off.g.b),   mlxc_arg_buffer(perm.g.b),
                            mlxc_arg_buffer(y.g.b),   mlxc_arg_bytes(&mp, sizeof mp)};
        /* hands 3 and 4: the raw-tile path with 2 and 4 stages, 7 blocks
         * for all units */
        mlxc_dispatch d = {.kernel = kern, .args = args, .nargs = 8, .grid = {7, 1, 1},
                           .block = {hand == 1 ? 96 : hand >= 3 ? MLXC_QMOEG2_THREADS : MLXC_QMOEGT_THREADS, 1, 1},
                           .shared_bytes = hand >= 3 ? (hand == 3 ? 2 : 4) * mlxc_qmoeg2_stage(mp.q.format, mp.q.bits,
                                                                                             mp.q.group, mp.q.sdtype)
                                                     : 0};
        if (kern) OT_RUN(gpu, mlxc_encoder_dispatch(enc, &d));
    }
    ot_download(&y.c);
    ot_download(&y.g);
    g_cases++;
    OT_CLOSE(&y.g, y.c.h, tol(MLXC_BF16), "grouped (tensor cores) %s n=%u k=%u%s", label, n, k,
             hand == 1 ? " (hand launch, 96 threads)" : hand == 2 ? " (hand launch, no shared memory)"
             : hand == 3 ? " (hand launch, raw tiles: 2 stages, 7 blocks)"
             : hand == 4 ? " (hand launch, raw tiles: 4 stages, 7 blocks)" : "");
    p_free(&x), p_free(&y), p_free(&ids), p_free(&cnt), p_free(&off), p_free(&perm);
}

static void par_grouped_tc(void) {
    const uint32_t E = 12, n = 200;
    for (size_t fi = 0; fi < QT_NFORMATS; fi++) {
        const qt_format *f = &qt_formats[fi];
        const uint32_t k = f->group < 256 ? 10 * f->group : 512;
        qt_weight w = qt_weight_rand(*f, E * n, k);
        qt_dev_weight wc = qt_upload(cpu, &w), wg = qt_upload(gpu, &w);
        char lab[48], kn[16];
        qt_label(f, lab, sizeof lab);
        kernel_fmt(f, kn, sizeof kn);
        for (int hand = 0; hand < (fi % 4 == 0 ? 3 : 1); hand++) grouped_tc(&wc.w, &wg.w, kn, lab, E, n, k, hand);
        qt_dev_free(&wc), qt_dev_free(&wg), qt_weight_free(&w);
        /* the raw-tile path (k a multiple of its step): 3 steps, so the
         * stage ring wraps */
        const uint32_t k2 = 3 * MLXC_QMOEG2_BK;
        if (!mlxc_qmoeg2_takes(qt_kernel_code(f->f), f->bits, f->group, k2)) continue;
        w = qt_weight_rand(*f, E * n, k2);
        wc = qt_upload(cpu, &w), wg = qt_upload(gpu, &w);
        grouped_tc(&wc.w, &wg.w, kn, lab, E, n, k2, 0);
        grouped_tc(&wc.w, &wg.w, kn, lab, E, n, k2, 3);
        grouped_tc(&wc.w, &wg.w, kn, lab, E, n, k2, 4);
        qt_dev_free(&wc), qt_dev_free(&wg), qt_weight_free(&w);
    }
    static const mlxc_qformat fs[3] = {MLXC_QF_F32, MLXC_QF_F16, MLXC_QF_BF16};
    static const char *const kn[3] = {"f32", "f16", "bf16"};
    for (int fi = 0; fi < 3; fi++) {
        const uint32_t k = 200;
        pair w = p_rand(ot_float_dtypes[fi], (size_t)E * n * k);
        const mlxc_qmm_weight wc = {fs[fi], 0, 0, w.c.b, NULL, NULL}, wg = {fs[fi], 0, 0, w.g.b, NULL, NULL};
        for (int hand = 0; hand < 2; hand++) grouped_tc(&wc, &wg, kn[fi], mlxc_qformat_name(fs[fi]), E, n, k, hand);
        p_free(&w);
    }
}

/* Dense experts (MLXC_QF_F32, F16, BF16): the expert-routed mat-vec and
 * the grouped mat-mat on both devices, the same stored values and ids. */
static void par_experts_dense(void) {
    static const mlxc_qformat fs[3] = {MLXC_QF_F32, MLXC_QF_F16, MLXC_QF_BF16};
    const uint32_t E = 8, n = 45, k = 200, tokens = 13, topk = 4, pairs = tokens * topk;
    for (int fi = 0; fi < 3; fi++) {
        const mlxc_dtype xd = k_dt[fi % 2], yd = k_dt[(fi / 2) % 2];
        pair w = p_rand(ot_float_dtypes[fi], (size_t)E * n * k), x = p_rand(xd, (size_t)tokens * k);
        pair y = {ot_out(cpu, yd, (size_t)pairs * n), ot_out(gpu, yd, (size_t)pairs * n)};
        pair yg = {ot_out(cpu, yd, (size_t)pairs * n), ot_out(gpu, yd, (size_t)pairs * n)};
        pair ids = {ot_alloc(cpu, MLXC_U32, pairs), ot_alloc(gpu, MLXC_U32, pairs)};
        pair cnt = {ot_alloc(cpu, MLXC_U32, E), ot_alloc(gpu, MLXC_U32, E)};
        pair off = {ot_alloc(cpu, MLXC_U32, E + 1), ot_alloc(gpu, MLXC_U32, E + 1)};
        pair perm = {ot_alloc(cpu, MLXC_U32, pairs), ot_alloc(gpu, MLXC_U32, pairs)};
        for (uint32_t i = 0; i < pairs; i++) ids.c.h[i] = ids.g.h[i] = (i * 5 + (uint32_t)fi) % (E + 1);
        ot_upload(&ids.c);
        ot_upload(&ids.g);
        const mlxc_qmm_weight wc = {fs[fi], 0, 0, w.c.b, NULL, NULL}, wg = {fs[fi], 0, 0, w.g.b, NULL, NULL};
        OT_RUN(cpu, mlxc_qmatmul_experts(enc, x.c.b, &wc, ids.c.b, y.c.b, tokens, topk, E, n, k));
        OT_RUN(gpu, mlxc_qmatmul_experts(enc, x.g.b, &wg, ids.g.b, y.g.b, tokens, topk, E, n, k));
        OT_RUN(cpu, mlxc_moe_group(enc, ids.c.b, cnt.c.b, off.c.b, perm.c.b, tokens, topk, E));
        OT_RUN(gpu, mlxc_moe_group(enc, ids.g.b, cnt.g.b, off.g.b, perm.g.b, tokens, topk, E));
        OT_RUN(cpu, mlxc_qmatmul_grouped(enc, x.c.b, &wc, off.c.b, perm.c.b, yg.c.b, tokens, topk, E, n, k));
        OT_RUN(gpu, mlxc_qmatmul_grouped(enc, x.g.b, &wg, off.g.b, perm.g.b, yg.g.b, tokens, topk, E, n, k));
        ot_download(&y.c), ot_download(&y.g), ot_download(&yg.c), ot_download(&yg.g);
        g_cases += 2;
        const char *name = mlxc_qformat_name(fs[fi]);
        OT_CLOSE(&y.g, y.c.h, tol(yd), "dense experts %s x %s y %s", name, mlxc_dtype_name(xd), mlxc_dtype_name(yd));
        OT_CLOSE(&yg.g, yg.c.h, tol(yd), "dense grouped %s x %s y %s", name, mlxc_dtype_name(xd), mlxc_dtype_name(yd));
        p_free(&w), p_free(&x), p_free(&y), p_free(&yg), p_free(&ids), p_free(&cnt), p_free(&off), p_free(&perm);
    }
}

/* The expert-routed mat-vec: 8 experts of (n, k), 3 tokens x top 4 with an
 * id past the experts, every format. */
static void par_experts(void) {
    const uint32_t E = 8, n = 45, tokens = 3, topk = 4, pairs = tokens * topk;
    static const uint32_t idv[12] = {7, 0, 3, 5, 1, 1, 2, 9, 6, 4, 0, 7};
    for (size_t fi = 0; fi < QT_NFORMATS; fi++) {
        const qt_format *f = &qt_formats[fi];
        const uint32_t k = f->group < 256 ? 9 * f->group : 768;
        const mlxc_dtype xd = k_dt[fi % 2], yd = k_dt[(fi / 2) % 2];
        qt_weight w = qt_weight_rand(*f, E * n, k);
        qt_dev_weight wc = qt_upload(cpu, &w), wg = qt_upload(gpu, &w);
        pair x = p_rand(xd, (size_t)tokens * k), y = {ot_out(cpu, yd, (size_t)pairs * n), ot_out(gpu, yd, (size_t)pairs * n)};
        pair ids = {ot_alloc(cpu, MLXC_U32, pairs), ot_alloc(gpu, MLXC_U32, pairs)};
        for (uint32_t i = 0; i < pairs; i++) ids.c.h[i] = ids.g.h[i] = idv[i];
        ot_upload(&ids.c);
        ot_upload(&ids.g);
        OT_RUN(cpu, mlxc_qmatmul_experts(enc, x.c.b, &wc.w, ids.c.b, y.c.b, tokens, topk, E, n, k));
        OT_RUN(gpu, mlxc_qmatmul_experts(enc, x.g.b, &wg.w, ids.g.b, y.g.b, tokens, topk, E, n, k));
        ot_download(&y.c);
        ot_download(&y.g);
        g_cases++;
        char lab[48];
        OT_CLOSE(&y.g, y.c.h, tol(yd), "experts %s x %s y %s", qt_label(f, lab, sizeof lab), mlxc_dtype_name(xd),
                 mlxc_dtype_name(yd));
        p_free(&x), p_free(&y), p_free(&ids);
        qt_dev_free(&wc), qt_dev_free(&wg), qt_weight_free(&w);
    }
}

/* The expert-routed fused mat-vec on both devices, every fused format:
 * each prologue, SILU_MUL on stacked [gate | up] rows (aux the view k
 * values on, x_stride 2k, one expert a slot as a MoE down projection runs
 * it), RMS_NORM with 16-byte rows and NONE with rows 3 values apart (off
 * 16-byte boundaries: the generic body for the tokens after the first);
 * an id past the experts; and Qwen3-30B-A3B's down shape (2048 x 768). */
static void par_experts_fused(void) {
    static const qt_format fmts[] = {
        {MLXC_QF_Q4_0, 0, 32, MLXC_U8},  {MLXC_QF_Q4_1, 0, 32, MLXC_U8},         {MLXC_QF_Q8_0, 0, 32, MLXC_U8},
        {MLXC_QF_Q4_K, 0, 256, MLXC_U8}, {MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, {MLXC_QF_MLX_AFFINE, 8, 32, MLXC_F16},
        {MLXC_QF_Q6_K, 0, 256, MLXC_U8}, {MLXC_QF_Q5_K, 0, 256, MLXC_U8},
    };
    static const uint32_t idv[8] = {7, 0, 3, 9, 1, 1, 2, 6};
    for (size_t fi = 0; fi < sizeof fmts / sizeof *fmts; fi++)
        for (int c = 0; c < 4; c++) {
            const int pro = c == 3 ? MLXC_QMM_PRO_SILU_MUL : c;
            const bool big = c == 3;
            const uint32_t E = 8, n = big ? 2048 : 45, k = 768, tokens = pro == MLXC_QMM_PRO_SILU_MUL ? 8 : 4,
                           topk = pro == MLXC_QMM_PRO_SILU_MUL ? 1 : 2, pairs = tokens * topk;
            const uint32_t xs = pro == MLXC_QMM_PRO_SILU_MUL ? 2 * k : pro == MLXC_QMM_PRO_RMS_NORM ? k + 8 : k + 3;
            qt_weight w = qt_weight_rand(fmts[fi], E * n, k);
            qt_dev_weight wc = qt_upload(cpu, &w), wg = qt_upload(gpu, &w);
            pair x = p_rand(MLXC_BF16, (size_t)tokens * xs), g = p_rand(MLXC_BF16, k);
            pair y = {ot_out(cpu, MLXC_BF16, (size_t)pairs * n), ot_out(gpu, MLXC_BF16, (size_t)pairs * n)};
            pair ids = {ot_alloc(cpu, MLXC_U32, pairs), ot_alloc(gpu, MLXC_U32, pairs)};
            for (uint32_t i = 0; i < pairs; i++) ids.c.h[i] = ids.g.h[i] = idv[i % 8];
            ot_upload(&ids.c);
            ot_upload(&ids.g);
            mlxc_buffer *aux[2] = {NULL, NULL};
            if (pro == MLXC_QMM_PRO_SILU_MUL) {
                const int64_t na = (int64_t)tokens * xs - k;
                CHECK_OK(mlxc_buffer_view(x.c.b, (size_t)k * 2, MLXC_BF16, 1, &na, &aux[0]));
                CHECK_OK(mlxc_buffer_view(x.g.b, (size_t)k * 2, MLXC_BF16, 1, &na, &aux[1]));
            }
            const bool ug = pro == MLXC_QMM_PRO_RMS_NORM;
            const mlxc_qmm_fuse fz = {.pro = (mlxc_qmm_prologue)pro, .eps = 1e-5f};
            OT_RUN(cpu, mlxc_qmatmul_experts_fused(enc, x.c.b, aux[0], ug ? g.c.b : NULL, &wc.w, ids.c.b, y.c.b, tokens,
                                                   topk, E, n, k, xs, &fz));
            OT_RUN(gpu, mlxc_qmatmul_experts_fused(enc, x.g.b, aux[1], ug ? g.g.b : NULL, &wg.w, ids.g.b, y.g.b, tokens,
                                                   topk, E, n, k, xs, &fz));
            ot_download(&y.c);
            ot_download(&y.g);
            g_cases++;
            char lab[48];
            OT_CLOSE(&y.g, y.c.h, tol(MLXC_BF16), "experts_fused %s n=%u prologue %d x_stride %u",
                     qt_label(&fmts[fi], lab, sizeof lab), n, pro, xs);
            mlxc_buffer_release(aux[0]), mlxc_buffer_release(aux[1]);
            p_free(&x), p_free(&g), p_free(&y), p_free(&ids);
            qt_dev_free(&wc), qt_dev_free(&wg), qt_weight_free(&w);
        }
}

/* One expert-routed case of 8 experts, top 8 (an id past the experts
 * among them) on both devices, outputs poisoned.  comb: the down
 * projection with the experts' combine (mlxc_qmatmul_experts_combine; x a
 * row a pair, aux k values on when the prologue is SILU_MUL), run `reps`
 * times on the same counters, y and the residual checked against the CPU,
 * bit for bit against the GPU's experts_fused then moe_combine, and the
 * counters left zero; else mlxc_qmatmul_experts_fused of one x a token,
 * y checked against the CPU. */
static void par_moe_case(const qt_format *f, uint32_t tokens, uint32_t n, uint32_t k, uint32_t xs, bool comb,
                         const mlxc_qmm_fuse *fz, int reps) {
    static const uint32_t idv[16] = {7, 0, 3, 9, 1, 5, 2, 6, 4, 4, 0, 1, 2, 3, 6, 7};
    const uint32_t E = 8, topk = 8, pairs = tokens * topk, nctr = tokens * ((n + 15) / 16);
    qt_weight w = qt_weight_rand(*f, E * n, k);
    qt_dev_weight wc = qt_upload(cpu, &w), wg = qt_upload(gpu, &w);
    pair x = p_rand(MLXC_BF16, (size_t)(comb ? pairs : tokens) * xs), rw = p_rand(MLXC_F32, pairs);
    pair res = p_rand(MLXC_BF16, (size_t)tokens * n);
    pair y = {ot_out(cpu, MLXC_BF16, (size_t)pairs * n), ot_out(gpu, MLXC_BF16, (size_t)pairs * n)};
    pair ids = {ot_alloc(cpu, MLXC_U32, pairs), ot_alloc(gpu, MLXC_U32, pairs)};
    pair ctr = {ot_alloc(cpu, MLXC_U32, nctr), ot_alloc(gpu, MLXC_U32, nctr)};
    ot_buf gy = ot_out(gpu, MLXC_BF16, (size_t)pairs * n), gres = ot_alloc(gpu, MLXC_BF16, res.g.n);
    for (uint32_t i = 0; i < pairs; i++) ids.c.h[i] = ids.g.h[i] = idv[i % 16];
    memcpy(gres.h, res.g.h, res.g.n * sizeof *gres.h);
    ot_upload(&ids.c), ot_upload(&ids.g), ot_upload(&ctr.c), ot_upload(&ctr.g), ot_upload(&gres);
    mlxc_buffer *aux[2] = {NULL, NULL};
    if (fz->pro == MLXC_QMM_PRO_SILU_MUL) {
        const int64_t na = (int64_t)pairs * xs - k;
        CHECK_OK(mlxc_buffer_view(x.c.b, (size_t)k * 2, MLXC_BF16, 1, &na, &aux[0]));
        CHECK_OK(mlxc_buffer_view(x.g.b, (size_t)k * 2, MLXC_BF16, 1, &na, &aux[1]));
    }
    char lab[96], l0[48];
    snprintf(lab, sizeof lab, "%s%s n=%u k=%u", qt_label(f, l0, sizeof l0), fz->act == MLXC_QMM_ACT_Q8 ? " int8" : "",
             n, k);
    for (int rep = 0; rep < reps; rep++) {
        if (!comb) {
            OT_RUN(cpu, mlxc_qmatmul_experts_fused(enc, x.c.b, NULL, NULL, &wc.w, ids.c.b, y.c.b, tokens, topk, E, n, k,
                                                   xs, fz));
            OT_RUN(gpu, mlxc_qmatmul_experts_fused(enc, x.g.b, NULL, NULL, &wg.w, ids.g.b, y.g.b, tokens, topk, E, n, k,
                                                   xs, fz));
            continue;
        }
        OT_RUN(cpu, mlxc_qmatmul_experts_combine(enc, x.c.b, aux[0], NULL, &wc.w, ids.c.b, rw.c.b, y.c.b, res.c.b,
                                                 ctr.c.b, tokens, topk, E, n, k, xs, fz));
        OT_RUN(gpu, mlxc_qmatmul_experts_combine(enc, x.g.b, aux[1], NULL, &wg.w, ids.g.b, rw.g.b, y.g.b, res.g.b,
                                                 ctr.g.b, tokens, topk, E, n, k, xs, fz));
        OT_RUN(gpu, mlxc_qmatmul_experts_fused(enc, x.g.b, aux[1], NULL, &wg.w, ids.g.b, gy.b, pairs, 1, E, n, k, xs, fz));
        OT_RUN(gpu, mlxc_moe_combine(enc, gy.b, rw.g.b, NULL, NULL, gres.b, gres.b, tokens, topk, n));
    }
    ot_download(&y.c), ot_download(&y.g);
    g_cases++;
    OT_CLOSE(&y.g, y.c.h, tol(MLXC_BF16), "experts %s: y", lab);
    if (comb) {
        ot_download(&res.c), ot_download(&res.g), ot_download(&gy), ot_download(&gres), ot_download(&ctr.g);
        OT_CLOSE(&res.g, res.c.h, tol(MLXC_BF16), "experts_combine %s: resid", lab);
        OT_EXACT(&y.g, gy.h, "experts_combine %s: y against experts_fused", lab);
        OT_EXACT(&res.g, gres.h, "experts_combine %s: resid against moe_combine", lab);
        for (uint32_t i = 0; i < nctr; i++)
            if (ctr.g.h[i] != 0) {
                CHECK(ctr.g.h[i] == 0);
                break;
            }
    }
    mlxc_buffer_release(aux[0]), mlxc_buffer_release(aux[1]);
    p_free(&x), p_free(&rw), p_free(&res), p_free(&y), p_free(&ids), p_free(&ctr);
    ot_free(&gy), ot_free(&gres);
    qt_dev_free(&wc), qt_dev_free(&wg), qt_weight_free(&w);
}

/* The down projection with the experts' combine
 * (mlxc_qmatmul_experts_combine), exact activations: Qwen3-30B-A3B's down
 * (2048 x 768, SILU_MUL on stacked [gate | up] rows, one token) and an odd
 * n with rows 3 values apart (NONE: the generic body for the pairs off
 * 16-byte boundaries), two tokens; each run twice (par_moe_case). */
static void par_experts_combine(void) {
    static const qt_format fmts[] = {
        {MLXC_QF_Q4_K, 0, 256, MLXC_U8}, {MLXC_QF_Q6_K, 0, 256, MLXC_U8},         {MLXC_QF_Q4_0, 0, 32, MLXC_U8},
        {MLXC_QF_Q8_0, 0, 32, MLXC_U8},  {MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, {MLXC_QF_Q5_K, 0, 256, MLXC_U8},
    };
    const mlxc_qmm_fuse silu = {.pro = MLXC_QMM_PRO_SILU_MUL}, none = {.pro = MLXC_QMM_PRO_NONE};
    for (size_t fi = 0; fi < sizeof fmts / sizeof *fmts; fi++) {
        par_moe_case(&fmts[fi], 1, 2048, 768, 2 * 768, true, &silu, 2);
        par_moe_case(&fmts[fi], 2, 45, 768, 768 + 3, true, &none, 2);
    }
}

/* The expert-routed forms with int8 activations (the int8 walk a pair,
 * qmoer and qmoerc) against the CPU twin, which quantizes x' the same
 * way: Qwen3-30B-A3B's gate/up (1536 x 2048, one x a token: the default
 * walk), its down with the combine (2048 x 768, SILU_MUL on stacked rows:
 * the short-row walk, one unit a lane), and the down form of two tokens
 * with n = 45 (a part of one tile), k = 512 (par_moe_case). */
static void par_experts_q8(void) {
    static const qt_format fmts[] = {{MLXC_QF_Q4_K, 0, 256, MLXC_U8},        {MLXC_QF_Q5_K, 0, 256, MLXC_U8},
                                     {MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, {MLXC_QF_MLX_AFFINE, 8, 32, MLXC_F16},
                                     {MLXC_QF_Q6_K, 0, 256, MLXC_U8}};
    const mlxc_qmm_fuse silu = {.pro = MLXC_QMM_PRO_SILU_MUL, .act = MLXC_QMM_ACT_Q8}, none = {.act = MLXC_QMM_ACT_Q8};
    for (size_t fi = 0; fi < sizeof fmts / sizeof *fmts; fi++) {
        /* an expert of whole 16-byte units: Q6_K's 420-byte rows by 4 */
        const uint32_t odd = fmts[fi].f == MLXC_QF_Q6_K ? 44 : 45;
        par_moe_case(&fmts[fi], 1, 1536, 2048, 2048, false, &none, 1);
        par_moe_case(&fmts[fi], 1, 2048, 768, 2 * 768, true, &silu, 1);
        par_moe_case(&fmts[fi], 2, odd, 512, 2 * 512, true, &silu, 1);
    }
}

/* Weights an earlier dispatch of the same command buffer writes: the
 * streaming mat-vec loads its first weights before it waits for the kernels
 * it depends on (programmatic dependent launch in a CUDA graph), which the
 * backend must not allow here.  The GPU copy starts as garbage and a copy
 * kernel writes the real weights (and scales) just before the mat-vec. */
static void par_written_weights(void) {
    const qt_format fmts[2] = {{MLXC_QF_Q4_0, 0, 32, MLXC_U8}, {MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}};
    for (int fi = 0; fi < 2; fi++) {
        const uint32_t n = 4096 + 16, k = 4096;
        qt_weight w = qt_weight_rand(fmts[fi], n, k);
        qt_dev_weight wc = qt_upload(cpu, &w), src = qt_upload(gpu, &w), wg = qt_upload(gpu, &w);
        mlxc_buffer *dst[3] = {wg.data, wg.scales, wg.biases};
        for (int b = 0; b < 3; b++) {
            if (!dst[b]) continue;
            size_t bytes = mlxc_buffer_bytes(dst[b]);
            unsigned char *junk = malloc(bytes);
            for (size_t i = 0; i < bytes; i++) junk[i] = (unsigned char)(i * 131 + 7);
            CHECK_OK(mlxc_buffer_write(dst[b], 0, junk, bytes));
            free(junk);
        }
        pair x = p_rand(MLXC_BF16, k), y = {ot_out(cpu, MLXC_F32, n), ot_out(gpu, MLXC_F32, n)};
        OT_RUN(cpu, mlxc_qmatmul(enc, x.c.b, &wc.w, y.c.b, 1, n, k));
        mlxc_encoder *enc = NULL;
        CHECK_OK(mlxc_encoder_create(gpu, &enc));
        if (enc) {
            mlxc_encoder_set_auto_barrier(enc, true);
            CHECK_OK(mlxc_copy(enc, src.data, wg.data));
            if (src.scales) CHECK_OK(mlxc_copy(enc, src.scales, wg.scales));
            if (src.biases) CHECK_OK(mlxc_copy(enc, src.biases, wg.biases));
            CHECK_OK(mlxc_qmatmul(enc, x.g.b, &wg.w, y.g.b, 1, n, k));
            CHECK_OK(mlxc_encoder_commit_and_wait(enc));
            mlxc_encoder_destroy(enc);
        }
        ot_download(&y.c);
        ot_download(&y.g);
        char lab[48];
        OT_CLOSE(&y.g, y.c.h, tol(MLXC_F32), "%s weights written in the same command buffer", qt_label(&fmts[fi], lab, sizeof lab));
        g_cases++;
        p_free(&x);
        p_free(&y);
        qt_dev_free(&wc);
        qt_dev_free(&src);
        qt_dev_free(&wg);
        qt_weight_free(&w);
    }
}

/* The fused decode mat-vec on both devices: every prologue and epilogue,
 * the formats it takes, the decode shapes' k (down's 14336 for Q4_0,
 * 11008 and 1152 for affine: a partial last ring stage; Q6_K's 11008 and
 * 2304 and Q4_1's 576 and 1120, rows that start off 16-byte
 * boundaries and partial stages), y
 * starting from the same random residual; one hand launch with an odd
 * grid and block and no shared memory (the kernel's any-launch path). */
static void par_fused(void) {
    static const qt_format fmts[] = {
        {MLXC_QF_Q4_0, 0, 32, MLXC_U8},  {MLXC_QF_Q4_1, 0, 32, MLXC_U8},         {MLXC_QF_Q8_0, 0, 32, MLXC_U8},
        {MLXC_QF_Q4_K, 0, 256, MLXC_U8}, {MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, {MLXC_QF_MLX_AFFINE, 8, 32, MLXC_F16},
        {MLXC_QF_Q6_K, 0, 256, MLXC_U8}, {MLXC_QF_Q5_K, 0, 256, MLXC_U8},
    };
    static const uint32_t q6k_k[7] = {4096, 4096, 4096, 14336, 11008, 2304, 4096};
    for (size_t fi = 0; fi < sizeof fmts / sizeof *fmts; fi++)
        for (int c = 0; c < 7; c++) {
            const int pro = c % 3, epi = (c / 3) % 2, hand = c == 6;
            /* affine: k of partial ring stages (Llama-2's 11008; 1152,
             * whose scale rows copy in 4- or 8-byte pieces) */
            const bool q6 = fmts[fi].f == MLXC_QF_Q6_K || fmts[fi].f == MLXC_QF_Q5_K; /* k: whole 256-value blocks */
            const uint32_t n = 1003, k = q6 ? q6k_k[c] : fi == 0 && c >= 4 ? 14336 : fi == 1 && c >= 4 ? 576 + 544 * (uint32_t)(c - 4)
                                       : fi >= 4 && c == 4 ? 11008 : fi >= 4 && c == 5 ? 1152 : 4096;
            qt_weight w = qt_weight_rand(fmts[fi], n, k);
            qt_dev_weight wc = qt_upload(cpu, &w), wg = qt_upload(gpu, &w);
            pair x = p_rand(MLXC_BF16, k), aux = p_rand(MLXC_BF16, k), g = p_rand(MLXC_BF16, k), y = p_rand(MLXC_BF16, n);
            const mlxc_qmm_fuse fz = {.pro = (mlxc_qmm_prologue)pro, .epi = (mlxc_qmm_epilogue)epi, .eps = 1e-5f};
            const bool ua = pro == MLXC_QMM_PRO_SILU_MUL, ug = pro == MLXC_QMM_PRO_RMS_NORM;
            if (!epi) { /* STORE: poisoned outputs */
                ot_poison(&y.c);
                ot_poison(&y.g);
            }
            OT_RUN(cpu, mlxc_qmatmul_fused(enc, x.c.b, ua ? aux.c.b : NULL, ug ? g.c.b : NULL, &wc.w, y.c.b, n, k, &fz));
            if (!hand) {
                OT_RUN(gpu, mlxc_qmatmul_fused(enc, x.g.b, ua ? aux.g.b : NULL, ug ? g.g.b : NULL, &wg.w, y.g.b, n, k, &fz));
            } else {
                char name[48], fmt[16];
                kernel_fmt(&fmts[fi], fmt, sizeof fmt);
                snprintf(name, sizeof name, "qmvf_%s_bf16_bf16", fmt);
                const mlxc_kernel *kern = NULL;
                CHECK_OK(mlxc_kernel_get(gpu, name, &kern));
                const uint32_t sd = fmts[fi].sdt == MLXC_F32 ? MLXC_QS_F32 : fmts[fi].sdt == MLXC_F16 ? MLXC_QS_F16 : MLXC_QS_BF16;
                mlxc_p_qmvf vp = {{1, n, k, qt_kernel_code(fmts[fi].f), fmts[fi].bits, fmts[fi].group,
                                   fmts[fi].f == MLXC_QF_MLX_AFFINE ? sd : 0, (uint32_t)w.row_bytes},
                                  (uint32_t)pro, (uint32_t)epi, 1e-5f, 0, 0};
                const mlxc_buffer *sc = wg.scales ? wg.scales : wg.data, *bi = wg.biases ? wg.biases : sc;
                mlxc_arg args[8] = {mlxc_arg_buffer(x.g.b),  mlxc_arg_buffer(aux.g.b), mlxc_arg_buffer(g.g.b),
                                    mlxc_arg_buffer(wg.data), mlxc_arg_buffer(sc),     mlxc_arg_buffer(bi),
                                    mlxc_arg_buffer(y.g.b),  mlxc_arg_bytes(&vp, sizeof vp)};
                mlxc_dispatch d = {.kernel = kern, .args = args, .nargs = 8, .grid = {5, 1, 1}, .block = {96, 1, 1}};
                if (kern) OT_RUN(gpu, mlxc_encoder_dispatch(enc, &d));
            }
            ot_download(&y.c);
            ot_download(&y.g);
            g_cases++;
            char lab[48];
            OT_CLOSE(&y.g, y.c.h, tol(MLXC_BF16), "fused %s k=%u prologue %d epilogue %d%s", qt_label(&fmts[fi], lab, sizeof lab),
                     k, pro, epi, hand ? " (hand launch)" : "");
            p_free(&x), p_free(&aux), p_free(&g), p_free(&y);
            qt_dev_free(&wc), qt_dev_free(&wg);
            qt_weight_free(&w);
        }
}

/* The fused mat-vec over int8 activations (MLXC_QMM_ACT_Q8: the GPU's
 * register walk) on both devices: MLX affine 4-bit, groups 32/64/128,
 * f16 and bf16 scales, 8-bit groups 32 and 64 (Q8_0 as affine, and
 * MLX's), Q4_K, Q5_K and Q6_K; k of one slice (4096), several (11008: 3;
 * 14336: 4), a part slice (4128 for affine) and a slice of half or a
 * quarter of the lanes (2048, 1024: a 1B model's rows), every prologue
 * and epilogue; n odd (Q6_K's 210-byte super-blocks then start on every
 * 2-byte boundary, the last one's words ending where the weight does). */
static void par_fused_q8(void) {
    static const qt_format fmts[] = {
        {MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, {MLXC_QF_MLX_AFFINE, 4, 32, MLXC_F16},
        {MLXC_QF_MLX_AFFINE, 4, 128, MLXC_BF16}, {MLXC_QF_Q4_K, 0, 256, MLXC_U8},
        {MLXC_QF_MLX_AFFINE, 8, 32, MLXC_F16},  {MLXC_QF_MLX_AFFINE, 8, 64, MLXC_BF16},
        {MLXC_QF_Q5_K, 0, 256, MLXC_U8},        {MLXC_QF_Q6_K, 0, 256, MLXC_U8},
    };
    static const uint32_t ks[] = {4096, 11008, 14336, 4128, 2048, 1024};
    for (size_t fi = 0; fi < sizeof fmts / sizeof *fmts; fi++)
        for (int c = 0; c < 6; c++) {
            const int pro = c % 3, epi = c / 3;
            const uint32_t kc = ks[(fi + (size_t)c) % (sizeof ks / sizeof *ks)];
            const uint32_t n = 1003, k = kc % fmts[fi].group ? 4096 : kc;
            qt_weight w = qt_weight_rand(fmts[fi], n, k);
            qt_dev_weight wc = qt_upload(cpu, &w), wg = qt_upload(gpu, &w);
            pair x = p_rand(MLXC_BF16, k), aux = p_rand(MLXC_BF16, k), g = p_rand(MLXC_BF16, k), y = p_rand(MLXC_BF16, n);
            const mlxc_qmm_fuse fz = {.pro = (mlxc_qmm_prologue)pro, .epi = (mlxc_qmm_epilogue)epi, .eps = 1e-5f,
                                      .act = MLXC_QMM_ACT_Q8};
            const bool ua = pro == MLXC_QMM_PRO_SILU_MUL, ug = pro == MLXC_QMM_PRO_RMS_NORM;
            if (!epi) {
                ot_poison(&y.c);
                ot_poison(&y.g);
            }
            CHECK_OK(mlxc_qmatmul_fused_q8_fast(&wg.w, k));
            OT_RUN(cpu, mlxc_qmatmul_fused(enc, x.c.b, ua ? aux.c.b : NULL, ug ? g.c.b : NULL, &wc.w, y.c.b, n, k, &fz));
            OT_RUN(gpu, mlxc_qmatmul_fused(enc, x.g.b, ua ? aux.g.b : NULL, ug ? g.g.b : NULL, &wg.w, y.g.b, n, k, &fz));
            ot_download(&y.c);
            ot_download(&y.g);
            g_cases++;
            char lab[48];
            OT_CLOSE(&y.g, y.c.h, tol(MLXC_BF16), "fused q8 %s k=%u prologue %d epilogue %d",
                     qt_label(&fmts[fi], lab, sizeof lab), k, pro, epi);
            p_free(&x), p_free(&aux), p_free(&g), p_free(&y);
            qt_dev_free(&wc), qt_dev_free(&wg);
            qt_weight_free(&w);
        }
    /* a weight the register walk does not take: refused on the GPU */
    qt_weight w = qt_weight_rand((qt_format){MLXC_QF_Q4_1, 0, 32, MLXC_U8}, 64, 256);
    qt_dev_weight wg = qt_upload(gpu, &w);
    pair x = p_rand(MLXC_BF16, 256), y = p_rand(MLXC_BF16, 64);
    const mlxc_qmm_fuse fz = {.act = MLXC_QMM_ACT_Q8};
    mlxc_encoder *enc = NULL;
    CHECK_OK(mlxc_encoder_create(gpu, &enc));
    CHECK_ERR(mlxc_qmatmul_fused(enc, x.g.b, NULL, NULL, &wg.w, y.g.b, 64, 256, &fz), MLXC_ERR_UNSUPPORTED);
    mlxc_encoder_destroy(enc);
    p_free(&x), p_free(&y);
    qt_dev_free(&wg);
    qt_weight_free(&w);
}

/* The int8 walk with f32 y (the fused step's output head: the final norm
 * in its prologue, the logits stored unrounded): GPU against CPU within
 * the bf16 bound (x' rounds to bf16 on both; the norm's sum is ordered
 * differently), store and add, odd n, outputs poisoned for the store. */
static void par_fused_q8_f32(void) {
    static const qt_format fmts[] = {
        {MLXC_QF_Q6_K, 0, 256, MLXC_U8},        {MLXC_QF_Q4_K, 0, 256, MLXC_U8},
        {MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, {MLXC_QF_MLX_AFFINE, 8, 32, MLXC_F16},
        {MLXC_QF_Q5_K, 0, 256, MLXC_U8},
    };
    for (size_t fi = 0; fi < sizeof fmts / sizeof *fmts; fi++)
        for (int epi = 0; epi < 2; epi++) {
            const uint32_t n = epi ? 3001 : 32003, k = fi % 2 ? 4096 : 2048;
            qt_weight w = qt_weight_rand(fmts[fi], n, k);
            qt_dev_weight wc = qt_upload(cpu, &w), wg = qt_upload(gpu, &w);
            pair x = p_rand(MLXC_BF16, k), g = p_rand(MLXC_BF16, k), y = p_rand(MLXC_F32, n);
            const mlxc_qmm_fuse fz = {.pro = MLXC_QMM_PRO_RMS_NORM, .epi = (mlxc_qmm_epilogue)epi, .eps = 1e-5f,
                                      .act = MLXC_QMM_ACT_Q8};
            if (!epi) {
                ot_poison(&y.c);
                ot_poison(&y.g);
            }
            OT_RUN(cpu, mlxc_qmatmul_fused(enc, x.c.b, NULL, g.c.b, &wc.w, y.c.b, n, k, &fz));
            OT_RUN(gpu, mlxc_qmatmul_fused(enc, x.g.b, NULL, g.g.b, &wg.w, y.g.b, n, k, &fz));
            ot_download(&y.c);
            ot_download(&y.g);
            g_cases++;
            char lab[48];
            OT_CLOSE(&y.g, y.c.h, tol(MLXC_BF16), "fused q8 f32 y %s n=%u k=%u epilogue %d",
                     qt_label(&fmts[fi], lab, sizeof lab), n, k, epi);
            p_free(&x), p_free(&g), p_free(&y);
            qt_dev_free(&wc), qt_dev_free(&wg);
            qt_weight_free(&w);
        }
}

/* mlxc_qmatmul_fused_argmax on the GPU (one kernel: each block's rows
 * reduced, the last block combining): y against the CPU's within the bf16
 * bound; token the first index of the largest value of the GPU's own y
 * and logprob within 1e-5 of that y's log-softmax there (the CPU's token
 * may differ where two logits lie closer than y's rounding); twice, the
 * scratch left zero.  The last case's weight is one block of rows written
 * twice (rows i and h + i alike), so its largest value ties across blocks
 * and the lower index must win. */
static void par_fused_argmax(void) {
    static const struct {
        qt_format f;
        uint32_t  n, k;
        bool      twice;
    } cs[] = {
        {{MLXC_QF_Q6_K, 0, 256, MLXC_U8}, 32000, 2048, false},
        {{MLXC_QF_Q4_K, 0, 256, MLXC_U8}, 32003, 4096, false},
        {{MLXC_QF_MLX_AFFINE, 4, 64, MLXC_BF16}, 49152, 576, false},
        {{MLXC_QF_MLX_AFFINE, 8, 32, MLXC_F16}, 5001, 1024, false},
        {{MLXC_QF_Q6_K, 0, 256, MLXC_U8}, 16000, 2048, true},
    };
    for (size_t ci = 0; ci < sizeof cs / sizeof *cs; ci++) {
        const uint32_t n = cs[ci].n, k = cs[ci].k;
        qt_weight w = qt_weight_rand(cs[ci].f, n, k);
        if (cs[ci].twice) memcpy(w.data + (size_t)w.row_bytes * (n / 2), w.data, (size_t)w.row_bytes * (n / 2));
        qt_dev_weight wc = qt_upload(cpu, &w), wg = qt_upload(gpu, &w);
        pair x = p_rand(MLXC_BF16, k), g = p_rand(MLXC_BF16, k), y = p_rand(MLXC_F32, n), tok = p_rand(MLXC_U32, 1),
             lp = p_rand(MLXC_F32, 1);
        ot_buf scr = ot_alloc(gpu, MLXC_U32, MLXC_QMM_ARGMAX_SCRATCH), scc = ot_alloc(cpu, MLXC_U32, MLXC_QMM_ARGMAX_SCRATCH);
        for (size_t i = 0; i < scr.n; i++) scr.h[i] = scc.h[i] = 0;
        ot_upload(&scr), ot_upload(&scc);
        const mlxc_qmm_fuse fz = {.pro = MLXC_QMM_PRO_RMS_NORM, .eps = 1e-5f, .act = MLXC_QMM_ACT_Q8};
        char lab[48];
        qt_label(&cs[ci].f, lab, sizeof lab);
        for (int run = 0; run < 2; run++) {
            ot_poison(&y.c), ot_poison(&y.g), ot_poison(&tok.g), ot_poison(&lp.g);
            OT_RUN(cpu, mlxc_qmatmul_fused_argmax(enc, x.c.b, g.c.b, &wc.w, y.c.b, tok.c.b, lp.c.b, scc.b, n, k, &fz));
            OT_RUN(gpu, mlxc_qmatmul_fused_argmax(enc, x.g.b, g.g.b, &wg.w, y.g.b, tok.g.b, lp.g.b, scr.b, n, k, &fz));
            ot_download(&y.c), ot_download(&y.g), ot_download(&tok.g), ot_download(&lp.g), ot_download(&scr);
            g_cases++;
            OT_CLOSE(&y.g, y.c.h, tol(MLXC_BF16), "fused argmax %s n=%u k=%u: y", lab, n, k);
            uint32_t best = 0;
            for (uint32_t i = 1; i < n; i++)
                if (y.g.h[i] > y.g.h[best]) best = i;
            double sum = 0.0;
            for (uint32_t i = 0; i < n; i++) sum += exp(y.g.h[i] - y.g.h[best]);
            const double want_lp = -log(sum);
            CHECK_MSG((uint32_t)tok.g.h[0] == best, "fused argmax %s n=%u: token %u, the GPU's y has its first largest at %u",
                      lab, n, (uint32_t)tok.g.h[0], best);
            CHECK_MSG(fabs(lp.g.h[0] - want_lp) <= 1e-5 * (1.0 + fabs(want_lp)),
                      "fused argmax %s n=%u: logprob %.9g, want %.9g", lab, n, lp.g.h[0], want_lp);
            if (cs[ci].twice)
                CHECK_MSG(best < n / 2 && y.g.h[best] == y.g.h[best + n / 2],
                          "fused argmax %s: the tie at %u and %u", lab, best, best + n / 2);
            CHECK_MSG(scr.h[0] == 0, "fused argmax %s: the scratch's counter left at %g", lab, scr.h[0]);
        }
        p_free(&x), p_free(&g), p_free(&y), p_free(&tok), p_free(&lp);
        ot_free(&scr), ot_free(&scc);
        qt_dev_free(&wc), qt_dev_free(&wg);
        qt_weight_free(&w);
    }
}

/* mlxc_qmatmul_fused_pair: the q/k weight (Q4_K or Q5_K with int8
 * activations: one kernel with the v weight's walk on the GPU; Q4_0
 * exact: two dispatches) and the v weight (Q6_K, exact or int8) of one x,
 * with and without the norm, into the two halves of one row (the model's qkv
 * row).  On each device the pair equals two mlxc_qmatmul_fused calls bit
 * for bit; the GPU's against the CPU's within the bf16 bound.  Then the
 * refusals: other prologues or epilogues, outputs that overlap. */
static void par_fused_pair(void) {
    const qt_format *f1s = qt_pair_qk, q6 = qt_pair_v;
    /* n1 = 6000: on a GPU the two parts' groups exceed one wave of
     * blocks, so the parts share it by their weight bytes, each striding
     * over its groups; the last case at k = 11008 (a 7B's down
     * projection's k: 3 slices of a row leave warps of a block idle) */
    const uint32_t n1 = 6000, n2 = 520;
    for (int fi = 0; fi < 3; fi++)
        for (int c = 0; c < 4; c++) {
            const int pro = c % 2, v8 = c / 2;
            const uint32_t k = c == 3 ? 11008 : 2048;
            qt_weight w1 = qt_weight_rand(f1s[fi], n1, k), w2 = qt_weight_rand(q6, n2, k);
            qt_dev_weight c1 = qt_upload(cpu, &w1), g1 = qt_upload(gpu, &w1), c2 = qt_upload(cpu, &w2),
                          g2 = qt_upload(gpu, &w2);
            pair x = p_rand(MLXC_BF16, k), g = p_rand(MLXC_BF16, k), y = p_rand(MLXC_BF16, n1 + n2),
                 s = p_rand(MLXC_BF16, n1 + n2);
            ot_poison(&y.c), ot_poison(&y.g), ot_poison(&s.c), ot_poison(&s.g);
            const mlxc_qmm_fuse f1 = {.pro = pro ? MLXC_QMM_PRO_RMS_NORM : MLXC_QMM_PRO_NONE, .eps = 1e-5f,
                                      .act = fi < 2 ? MLXC_QMM_ACT_Q8 : MLXC_QMM_ACT_EXACT},
                                f2 = {.pro = f1.pro, .eps = 1e-5f, .act = v8 ? MLXC_QMM_ACT_Q8 : MLXC_QMM_ACT_EXACT};
            mlxc_buffer *v[2][2][2]; /* [device][pair or singles][part] */
            const int64_t sh[2][1] = {{n1}, {n2}};
            for (int d = 0; d < 2; d++)
                for (int o = 0; o < 2; o++)
                    for (int part = 0; part < 2; part++)
                        CHECK_OK(mlxc_buffer_view((o ? (d ? &s.g : &s.c) : (d ? &y.g : &y.c))->b,
                                                  part ? (size_t)n1 * 2 : 0, MLXC_BF16, 1, sh[part], &v[d][o][part]));
            for (int d = 0; d < 2; d++) {
                mlxc_device *dev = d ? gpu : cpu;
                const mlxc_qmm_weight *a = d ? &g1.w : &c1.w, *b = d ? &g2.w : &c2.w;
                const mlxc_buffer *xb = d ? x.g.b : x.c.b, *gb = pro ? (d ? g.g.b : g.c.b) : NULL;
                OT_RUN(dev, mlxc_qmatmul_fused_pair(enc, xb, gb, a, v[d][0][0], n1, &f1, b, v[d][0][1], n2, &f2, k));
                OT_RUN(dev, mlxc_qmatmul_fused(enc, xb, NULL, gb, a, v[d][1][0], n1, k, &f1));
                OT_RUN(dev, mlxc_qmatmul_fused(enc, xb, NULL, gb, b, v[d][1][1], n2, k, &f2));
            }
            ot_download(&y.c), ot_download(&y.g), ot_download(&s.c), ot_download(&s.g);
            char lab[48];
            qt_label(&f1s[fi], lab, sizeof lab);
            const char *vl = v8 ? "Q6_K int8" : "Q6_K";
            g_cases++;
            CHECK_MSG(memcmp(y.c.h, s.c.h, (n1 + n2) * sizeof *y.c.h) == 0, "fused pair %s + %s (CPU) != two calls", lab, vl);
            CHECK_MSG(memcmp(y.g.h, s.g.h, (n1 + n2) * sizeof *y.g.h) == 0, "fused pair %s + %s (GPU) != two calls", lab, vl);
            OT_CLOSE(&y.g, y.c.h, tol(MLXC_BF16), "fused pair %s + %s prologue %d", lab, vl, pro);
            if (fi == 0 && c == 1) {
                /* refused: another epilogue, two prologues, overlapping outputs */
                mlxc_encoder *enc = NULL;
                CHECK_OK(mlxc_encoder_create(gpu, &enc));
                const mlxc_qmm_fuse add = {.pro = f1.pro, .epi = MLXC_QMM_EPI_ADD, .eps = 1e-5f},
                                    none = {.eps = 1e-5f};
                CHECK_ERR(mlxc_qmatmul_fused_pair(enc, x.g.b, g.g.b, &g1.w, v[1][0][0], n1, &f1, &g2.w, v[1][0][1], n2,
                                                  &add, k),
                          MLXC_ERR_INVALID_ARGUMENT);
                CHECK_ERR(mlxc_qmatmul_fused_pair(enc, x.g.b, g.g.b, &g1.w, v[1][0][0], n1, &f1, &g2.w, v[1][0][1], n2,
                                                  &none, k),
                          MLXC_ERR_INVALID_ARGUMENT);
                mlxc_buffer *ov = NULL; /* y2 over y1's last 8 values */
                CHECK_OK(mlxc_buffer_view(y.g.b, (size_t)(n1 - 8) * 2, MLXC_BF16, 1, sh[1], &ov));
                CHECK_ERR(mlxc_qmatmul_fused_pair(enc, x.g.b, g.g.b, &g1.w, v[1][0][0], n1, &f1, &g2.w, ov, n2, &f2, k),
                          MLXC_ERR_INVALID_ARGUMENT);
                mlxc_buffer_release(ov);
                mlxc_encoder_destroy(enc);
            }
            for (int d = 0; d < 2; d++)
                for (int o = 0; o < 2; o++)
                    for (int part = 0; part < 2; part++) mlxc_buffer_release(v[d][o][part]);
            p_free(&x), p_free(&g), p_free(&y), p_free(&s);
            qt_dev_free(&c1), qt_dev_free(&g1), qt_dev_free(&c2), qt_dev_free(&g2);
            qt_weight_free(&w1), qt_weight_free(&w2);
        }
}

/* Q4_0 tiles (MLXC_QF_Q4_0_TILES) on both devices: the mat-vec and mat-mat
 * (deq8's tile addressing), the gather, and the fused mat-vec: the tile
 * walk (qmvf_q4_0t through the front-end) at k of one record pair up to
 * 14336 and n from one tile to 4096, every prologue and epilogue; then
 * hand launches: a grid of 5 blocks of the walk's shape with S = 2 (each
 * block striding over several tile groups), and an odd shape (the generic
 * body). */
static void par_tiles(void) {
    static const qt_format q4 = {MLXC_QF_Q4_0, 0, 32, MLXC_U8};
    static const uint32_t shapes[6][2] = {{48, 384}, {1008, 4096}, {4096, 4096}, {1024, 11008}, {4096, 14336}, {16, 128}};
    for (int si = 0; si < 6; si++) {
        const uint32_t n = shapes[si][0], k = shapes[si][1];
        qt_weight w = qt_weight_rand(q4, n, k);
        qt_dev_weight wc = qt_upload_tiles(cpu, &w), wg = qt_upload_tiles(gpu, &w);
        char lab[48];
        snprintf(lab, sizeof lab, "Q4_0-tiles");
        if (si == 0 || si == 5) {
            static const uint32_t ms[4] = {1, 5, 8, 33};
            for (int mi = 0; mi < 4; mi++)
                for (int d = 0; d < 2; d++) {
                    const uint32_t m = ms[mi];
                    pair x = p_rand(k_dt[d], (size_t)m * k);
                    pair y = {ot_out(cpu, k_dt[1 - d], (size_t)m * n), ot_out(gpu, k_dt[1 - d], (size_t)m * n)};
                    OT_RUN(cpu, mlxc_qmatmul(enc, x.c.b, &wc.w, y.c.b, m, n, k));
                    OT_RUN(gpu, mlxc_qmatmul(enc, x.g.b, &wg.w, y.g.b, m, n, k));
                    ot_download(&y.c), ot_download(&y.g);
                    g_cases++;
                    OT_CLOSE(&y.g, y.c.h, tol(k_dt[1 - d]), "%s m=%u n=%u k=%u", lab, m, n, k);
                    p_free(&x), p_free(&y);
                }
            pair o = {ot_out(cpu, MLXC_BF16, (size_t)n * k), ot_out(gpu, MLXC_BF16, (size_t)n * k)};
            OT_RUN(cpu, mlxc_qembedding_gather(enc, &wc.w, NULL, o.c.b, n, k, 0.75f));
            OT_RUN(gpu, mlxc_qembedding_gather(enc, &wg.w, NULL, o.g.b, n, k, 0.75f));
            ot_download(&o.c), ot_download(&o.g);
            g_cases++;
            OT_CLOSE(&o.g, o.c.h, 8e-3, "%s gather n=%u k=%u", lab, n, k);
            p_free(&o);
        }
        for (int c = 0; c < 8; c++) {
            const int pro = c % 3, epi = (c / 3) % 2, hand = c >= 6 ? c - 5 : 0;
            pair x = p_rand(MLXC_BF16, k), aux = p_rand(MLXC_BF16, k), g = p_rand(MLXC_BF16, k), y = p_rand(MLXC_BF16, n);
            const mlxc_qmm_fuse fz = {.pro = (mlxc_qmm_prologue)pro, .epi = (mlxc_qmm_epilogue)epi, .eps = 1e-5f};
            const bool ua = pro == MLXC_QMM_PRO_SILU_MUL, ug = pro == MLXC_QMM_PRO_RMS_NORM;
            if (!epi) ot_poison(&y.c), ot_poison(&y.g);
            OT_RUN(cpu, mlxc_qmatmul_fused(enc, x.c.b, ua ? aux.c.b : NULL, ug ? g.c.b : NULL, &wc.w, y.c.b, n, k, &fz));
            if (!hand) {
                OT_RUN(gpu, mlxc_qmatmul_fused(enc, x.g.b, ua ? aux.g.b : NULL, ug ? g.g.b : NULL, &wg.w, y.g.b, n, k, &fz));
            } else {
                const mlxc_kernel *kern = NULL;
                CHECK_OK(mlxc_kernel_get(gpu, "qmvf_q4_0t_bf16_bf16", &kern));
                mlxc_p_qmvf vp = {{1, n, k, MLXC_QMMF_Q4_0T, 0, 32, 0, (uint32_t)w.row_bytes}, (uint32_t)pro, (uint32_t)epi,
                                  1e-5f, 0, 2};
                mlxc_arg args[8] = {mlxc_arg_buffer(x.g.b),   mlxc_arg_buffer(aux.g.b),  mlxc_arg_buffer(g.g.b),
                                    mlxc_arg_buffer(wg.data), mlxc_arg_buffer(wg.data),  mlxc_arg_buffer(wg.data),
                                    mlxc_arg_buffer(y.g.b),   mlxc_arg_bytes(&vp, sizeof vp)};
                mlxc_dispatch d = {.kernel = kern, .args = args, .nargs = 8, .grid = {hand == 1 ? 5 : 7, 1, 1},
                                   .block = {hand == 1 ? 32 * MLXC_Q4T_WARPS : 96, 1, 1},
                                   .shared_bytes = hand == 1 ? mlxc_q4t_smem_bytes(k) : 0};
                if (kern) OT_RUN(gpu, mlxc_encoder_dispatch(enc, &d));
            }
            ot_download(&y.c), ot_download(&y.g);
            g_cases++;
            OT_CLOSE(&y.g, y.c.h, tol(MLXC_BF16), "%s fused n=%u k=%u prologue %d epilogue %d%s", lab, n, k, pro, epi,
                     hand == 1 ? " (hand launch, 5 blocks)" : hand == 2 ? " (hand launch, odd shape)" : "");
            p_free(&x), p_free(&aux), p_free(&g), p_free(&y);
        }
        qt_dev_free(&wc), qt_dev_free(&wg);
        qt_weight_free(&w);
    }
}

int main(void) {
    ot_parity_devices("qmatmul parity", false, &cpu, &gpu);
    RUN(par_launch);
    RUN(par_matvec);
    RUN(par_matmat);
    RUN(par_gather);
    RUN(par_experts);
    RUN(par_grouped);
    RUN(par_grouped_tc);
    RUN(par_experts_dense);
    RUN(par_written_weights);
    RUN(par_gather_launch);
    RUN(par_fused);
    RUN(par_fused_q8);
    RUN(par_fused_q8_f32);
    RUN(par_fused_argmax);
    RUN(par_fused_pair);
    RUN(par_experts_fused);
    RUN(par_experts_combine);
    RUN(par_experts_q8);
    RUN(par_tiles);
    printf("%d comparisons\n", g_cases);
    mlxc_device_close(gpu);
    mlxc_device_close(cpu);
    HARNESS_END();
}
