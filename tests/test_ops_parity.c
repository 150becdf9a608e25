/* Op-library parity, in the manner of ggml's test-backend-ops: every op x
 * dtype x a range of shapes runs through the same front-end on the CPU
 * device and on the CUDA device, over the same random inputs (never zero),
 * with outputs poisoned (NaN) first; the CUDA result is compared with the
 * CPU's by normalized error, with a bound per output dtype (f32 1e-5,
 * f16 2e-3, bf16 1.6e-2: two roundings apart at most), or exactly for
 * copies, gathers, casts, argmax and top-k.  The row kernels are also
 * launched directly with odd grids and block sizes (partial warps), which
 * they must handle (src/kernels/params_elementwise.h).
 *
 *   test_ops_parity          the parity suite (exit 77 without a GPU)
 *   MLXC_OPS_PARITY_SELF=1   the second device is a CPU device too (checks
 *                            the harness and the CPU kernels' launch shapes)
 */
#include "kernels/params_elementwise.h"
#include "kernels/params_layout.h"
#include "kernels/params_norm.h"
#include "kernels/params_rope.h"
#include "kernels/params_sample.h"
#include "kernels/params_softmax.h"
#include "ops_test.h"
#include "rope_qkv_test.h"

static mlxc_device *cpu, *gpu;

/* ---- paired buffers: one on each device, same contents ------------------------ */

typedef struct pbuf {
    ot_buf c, g;
} pbuf;

static pbuf p_from_host(mlxc_dtype dt, size_t n, const double *h) {
    pbuf p = {ot_alloc(cpu, dt, n), ot_alloc(gpu, dt, n)};
    memcpy(p.c.h, h, n * sizeof *h);
    memcpy(p.g.h, h, n * sizeof *h);
    ot_upload(&p.c);
    ot_upload(&p.g);
    return p;
}
static pbuf p_rand(mlxc_dtype dt, size_t n, double lo, double hi) {
    double *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = ot_uniform(lo, hi);
    pbuf p = p_from_host(dt, n, h);
    free(h);
    return p;
}
static pbuf p_out(mlxc_dtype dt, size_t n) {
    pbuf p = {ot_out(cpu, dt, n), ot_out(gpu, dt, n)};
    return p;
}
static void p_free(pbuf *p) {
    ot_free(&p->c);
    ot_free(&p->g);
}
/* Parity bound for an output dtype (tol 0: exact). */
static double p_tol(mlxc_dtype dt) { return dt == MLXC_F32 ? 1e-5 : dt == MLXC_F16 ? 2e-3 : 1.6e-2; }

static int g_cases;

/* Download both sides and compare the CUDA result with the CPU's. */
#define P_CHECK(pb, tol, ...)                                                                  \
    do {                                                                                       \
        ot_download(&(pb)->c);                                                                 \
        ot_download(&(pb)->g);                                                                 \
        g_cases++;                                                                             \
        if ((tol) == 0) OT_EXACT(&(pb)->g, (pb)->c.h, __VA_ARGS__);                            \
        else OT_CLOSE(&(pb)->g, (pb)->c.h, (tol), __VA_ARGS__);                                \
    } while (0)

/* Run `call` on both devices; B(p) names p's buffer on the current side. */
#define B(p) (side ? (p).g.b : (p).c.b)
#define P_RUN(call)                                                                            \
    for (int side = 0; side < 2; side++) OT_RUN(side ? gpu : cpu, call)

/* ---- parity cases ----------------------------------------------------------------- */

static const size_t k_sizes[] = {1, 7, 33, 255, 1000, 4099, 65537};
static const struct { uint32_t rows, dim; } k_rows[] = {{1, 1}, {3, 7}, {5, 33}, {2, 257}, {1, 4099}, {17, 64}, {4, 8192}};
#define NSIZES (sizeof k_sizes / sizeof *k_sizes)
#define NROWS (sizeof k_rows / sizeof *k_rows)

static void par_elementwise(void) {
    for (int di = 0; di < 3; di++)
        for (size_t si = 0; si < NSIZES; si++) {
            mlxc_dtype dt = ot_float_dtypes[di];
            size_t n = k_sizes[si];
            pbuf a = p_rand(dt, n, -5, 5), b = p_rand(dt, n, -3, 3), o = p_out(dt, n);
            for (int op = 0; op < 5; op++) {
                ot_poison(&o.c);
                ot_poison(&o.g);
                if (op == 0) P_RUN(mlxc_scale(enc, B(a), B(o), 0.3f));
                if (op == 1) P_RUN(mlxc_softcap(enc, B(a), B(o), 2.0f));
                if (op == 2) P_RUN(mlxc_gelu(enc, B(a), B(o)));
                if (op == 3) P_RUN(mlxc_silu_mul(enc, B(a), B(b), B(o)));
                if (op == 4) P_RUN(mlxc_sigmoid_mul(enc, B(a), B(b), B(o)));
                P_CHECK(&o, p_tol(dt), "elementwise op %d %s n=%zu", op, mlxc_dtype_name(dt), n);
            }
            for (int d2 = 0; d2 < 3; d2++) {
                pbuf c = p_out(ot_float_dtypes[d2], n);
                P_RUN(mlxc_cast(enc, B(a), B(c)));
                P_CHECK(&c, 0, "cast %s -> %s n=%zu", mlxc_dtype_name(dt), mlxc_dtype_name(ot_float_dtypes[d2]), n);
                p_free(&c);
            }
            p_free(&a);
            p_free(&b);
            p_free(&o);
        }
}

/* swiglu on rows of [gate | up], aligned and one value off (k_rows' dims
 * as the half width). */
static void par_swiglu(void) {
    for (int di = 0; di < 3; di++)
        for (size_t ri = 0; ri < NROWS; ri++)
            for (int off = 0; off < 2; off++) {
                const mlxc_dtype dt = ot_float_dtypes[di];
                const uint32_t rows = k_rows[ri].rows, n = k_rows[ri].dim;
                const size_t tot = (size_t)rows * n;
                pbuf x = p_rand(dt, 2 * tot + 1, -6, 6), o = p_out(dt, tot);
                int64_t shape[2] = {rows, 2 * (int64_t)n};
                mlxc_buffer *xv[2] = {NULL, NULL};
                for (int sd = 0; sd < 2; sd++)
                    if (mlxc_buffer_view(sd ? x.g.b : x.c.b, (size_t)off * mlxc_dtype_size(dt), dt, 2, shape, &xv[sd])) {
                        fprintf(stderr, "view: %s\n", mlxc_last_error());
                        exit(1);
                    }
                P_RUN(mlxc_swiglu(enc, xv[side], B(o), rows, n));
                P_CHECK(&o, p_tol(dt), "swiglu %s %ux%u off %d", mlxc_dtype_name(dt), rows, n, off);
                mlxc_buffer_release(xv[0]);
                mlxc_buffer_release(xv[1]);
                p_free(&x);
                p_free(&o);
            }
}

static void par_layout(void) {
    static const mlxc_dtype dts[4] = {MLXC_U8, MLXC_BF16, MLXC_F32, MLXC_I64};
    static const uint32_t shp[][3] = {{1, 1, 1}, {1, 7, 3}, {3, 33, 65}, {2, 64, 32}, {1, 1, 300}, {4, 129, 257}, {2, 136, 200}};
    for (int di = 0; di < 4; di++)
        for (size_t k = 0; k < sizeof shp / sizeof *shp; k++) {
            uint32_t A = shp[k][0], R = shp[k][1], C = shp[k][2];
            size_t n = (size_t)A * R * C;
            pbuf s = p_rand(dts[di], n, 1, 120), d = p_out(dts[di], n);
            P_RUN(mlxc_transpose_2d(enc, B(s), B(d), A, R, C));
            P_CHECK(&d, 0, "transpose %ux%ux%u %s", A, R, C, mlxc_dtype_name(dts[di]));
            P_RUN(mlxc_permute_021(enc, B(s), B(d), A, R, C));
            P_CHECK(&d, 0, "permute %ux%ux%u %s", A, R, C, mlxc_dtype_name(dts[di]));
            mlxc_strided_copy sc = {3, {A, C, R / 2 + 1}, {(uint64_t)R * C, 1, (uint64_t)C}, {(uint64_t)R * C, R / 2 + 1, 1}};
            pbuf d2 = p_out(dts[di], n);
            P_RUN(mlxc_copy_strided(enc, B(s), B(d2), &sc));
            P_CHECK(&d2, 0, "copy_strided %ux%ux%u %s", A, R, C, mlxc_dtype_name(dts[di]));
            p_free(&d2);
            p_free(&s);
            p_free(&d);
        }
    /* Embedding gather and the KV cache, every dtype pair. */
    static const struct { mlxc_dtype t, o; } gc[] = {{MLXC_F32, MLXC_F32}, {MLXC_F16, MLXC_F16}, {MLXC_F16, MLXC_F32},
                                                     {MLXC_BF16, MLXC_BF16}, {MLXC_BF16, MLXC_F32}};
    for (size_t ci = 0; ci < 5; ci++)
        for (uint32_t dim = 1; dim <= 4096; dim *= 8) {
            uint32_t vocab = 301, n = 37;
            pbuf tab = p_rand(gc[ci].t, (size_t)vocab * dim, -3, 3);
            double ids[37];
            for (uint32_t i = 0; i < n; i++) ids[i] = ot_u32() % (vocab + 3);
            pbuf id = p_from_host(MLXC_U32, n, ids), o = p_out(gc[ci].o, (size_t)n * dim);
            P_RUN(mlxc_embedding_gather(enc, B(tab), B(id), B(o), dim, ci % 2 ? 1.0f : 3.5f));
            P_CHECK(&o, 0, "gather %zu dim %u", ci, dim);
            p_free(&tab);
            p_free(&id);
            p_free(&o);
        }
    static const struct { uint32_t T, H, D, cap, pos; bool sliding; } kc[] = {
        {1, 8, 128, 64, 63, false}, {37, 4, 64, 128, 5, false}, {5, 2, 96, 16, 14, true}, {40, 2, 128, 32, 7, true}};
    for (size_t c = 0; c < 4; c++)
        for (int si = 0; si < 3; si++)
            for (int ci = 0; ci < 3; ci++) {
                mlxc_kv_cache_desc kd = {kc[c].H, kc[c].D, kc[c].cap, kc[c].sliding};
                pbuf src = p_rand(ot_float_dtypes[si], (size_t)kc[c].T * kc[c].H * kc[c].D, -2, 2);
                pbuf cache = p_rand(ot_float_dtypes[ci], (size_t)kc[c].H * kc[c].cap * kc[c].D, 4, 8);
                double pv = kc[c].pos;
                pbuf pos = p_from_host(MLXC_I32, 1, &pv);
                P_RUN(mlxc_kv_cache_copy(enc, B(src), B(cache), &kd, 0, B(pos)));
                P_CHECK(&cache, 0, "kv case %zu %d -> %d", c, si, ci);
                p_free(&src);
                p_free(&cache);
                p_free(&pos);
            }
}

static void par_select(void) {
    static const struct { uint32_t rows, n, k; } cases[] = {{1, 1, 1}, {3, 7, 7}, {5, 33, 4}, {2, 257, 64},
                                                            {1, 4099, 10}, {17, 64, 1}, {2, 151936, 40}};
    for (int di = 0; di < 3; di++)
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
            mlxc_dtype dt = ot_float_dtypes[di];
            uint32_t R = cases[c].rows, n = cases[c].n, k = cases[c].k;
            double *h = malloc((size_t)R * n * sizeof *h);
            for (size_t i = 0; i < (size_t)R * n; i++) h[i] = (int)(ot_u32() % 2001) * 0.01 - 10.0 + 0.005;
            pbuf x = p_from_host(dt, (size_t)R * n, h);
            free(h);
            pbuf idx = p_out(MLXC_U32, R), val = p_out(MLXC_F32, R);
            pbuf tv = p_out(MLXC_F32, (size_t)R * k), ti = p_out(MLXC_U32, (size_t)R * k);
            P_RUN(mlxc_argmax(enc, B(x), B(idx), B(val), n));
            P_CHECK(&idx, 0, "argmax idx %s case %zu", mlxc_dtype_name(dt), c);
            P_CHECK(&val, 0, "argmax val %s case %zu", mlxc_dtype_name(dt), c);
            P_RUN(mlxc_topk(enc, B(x), B(tv), B(ti), n, k));
            P_CHECK(&ti, 0, "topk idx %s case %zu", mlxc_dtype_name(dt), c);
            P_CHECK(&tv, 0, "topk val %s case %zu", mlxc_dtype_name(dt), c);
            /* Sampling: tokens may differ only where u * sum lies within
             * rounding of a boundary; count such rows, allow very few. */
            for (int ti2 = 0; ti2 < 3; ti2++) {
                float temp = ti2 == 0 ? 0.0f : ti2 == 1 ? 0.7f : 1.5f;
                double us[17];
                for (uint32_t r = 0; r < R; r++) us[r] = ot_uniform(0, 0.999);
                pbuf u = p_from_host(MLXC_F32, R, us), tok = p_out(MLXC_U32, R), lp = p_out(MLXC_F32, R);
                P_RUN(mlxc_sample_softmax(enc, B(x), B(u), B(tok), B(lp), n, temp, 0.0f));
                ot_download(&tok.c);
                ot_download(&tok.g);
                int diff = 0;
                for (uint32_t r = 0; r < R; r++) diff += tok.c.h[r] != tok.g.h[r];
                CHECK_MSG(diff == 0 || (temp > 0 && diff <= 1 && R > 4), "sample %s case %zu T=%g: %d of %u tokens differ",
                          mlxc_dtype_name(dt), c, (double)temp, diff, R);
                if (diff == 0) P_CHECK(&lp, 1e-4, "sample logprob %s case %zu", mlxc_dtype_name(dt), c);
                p_free(&u);
                p_free(&tok);
                p_free(&lp);
            }
            p_free(&x); p_free(&idx); p_free(&val); p_free(&tv); p_free(&ti);
        }
}

static void par_norm(void) {
    for (int di = 0; di < 3; di++)
        for (size_t k = 0; k < NROWS; k++) {
            mlxc_dtype dt = ot_float_dtypes[di];
            uint32_t R = k_rows[k].rows, D = k_rows[k].dim;
            size_t n = (size_t)R * D;
            pbuf x = p_rand(dt, n, -2, 2), r = p_rand(dt, n, -2, 2), w = p_rand(dt, D, 0.5, 1.5), b = p_rand(dt, D, -1, 1);
            pbuf o = p_out(dt, n), s = p_out(dt, n);
            P_RUN(mlxc_rms_norm_residual(enc, B(x), B(r), B(w), B(o), B(s), D, 1e-6f));
            P_CHECK(&o, p_tol(dt), "rms_residual %s %ux%u", mlxc_dtype_name(dt), R, D);
            P_CHECK(&s, 0, "rms_residual sum %s %ux%u", mlxc_dtype_name(dt), R, D);
            P_RUN(mlxc_rms_norm_residual(enc, B(x), B(r), NULL, B(o), NULL, D, 1e-6f));
            P_CHECK(&o, p_tol(dt), "rms_residual no weight %s %ux%u", mlxc_dtype_name(dt), R, D);
            P_RUN(mlxc_l2_norm(enc, B(x), B(o), D, 1e-6f));
            P_CHECK(&o, p_tol(dt), "l2_norm %s %ux%u", mlxc_dtype_name(dt), R, D);
            P_RUN(mlxc_layer_norm(enc, B(x), B(w), B(b), B(o), D, 1e-5f));
            P_CHECK(&o, D == 1 ? 1e-30 : p_tol(dt), "layer_norm %s %ux%u", mlxc_dtype_name(dt), R, D);
            p_free(&x); p_free(&r); p_free(&w); p_free(&b); p_free(&o); p_free(&s);
        }
}

static void par_rope(void) {
    static const struct { mlxc_rope_mode mode; uint32_t T, H, D, rd; bool ff; uint32_t sec[4]; } cases[] = {
        {MLXC_ROPE_NORM, 1, 1, 2, 0, false, {0}},     {MLXC_ROPE_NORM, 9, 32, 128, 0, false, {0}},
        {MLXC_ROPE_NEOX, 17, 8, 128, 0, true, {0}},   {MLXC_ROPE_NEOX, 3, 4, 96, 32, false, {0}},
        {MLXC_ROPE_NEOX, 2, 2, 512, 512, false, {0}}, {MLXC_ROPE_MROPE, 6, 4, 128, 0, false, {24, 20, 20, 0}},
        {MLXC_ROPE_IMROPE, 5, 3, 256, 64, true, {11, 11, 10, 0}}};
    for (int di = 0; di < 3; di++)
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
            mlxc_dtype dt = ot_float_dtypes[di];
            mlxc_rope_desc d = {cases[c].mode, cases[c].H, cases[c].D, cases[c].rd, c % 2 ? 1e6f : 10000.0f, 1.0f, {0},
                                c == 2 || c == 3 ? 1.118f : 0.0f};   /* LongRoPE's scale, full and partial */
            memcpy(d.sections, cases[c].sec, sizeof d.sections);
            uint32_t T = cases[c].T, rd = d.rope_dim ? d.rope_dim : d.head_dim;
            bool multi = d.mode == MLXC_ROPE_MROPE || d.mode == MLXC_ROPE_IMROPE;
            size_t n = (size_t)T * d.n_heads * d.head_dim;
            pbuf x = p_rand(dt, n, -2, 2), o = p_out(dt, n), ff = p_rand(MLXC_F32, rd / 2, 1, 8);
            double ph[4 * 17];
            for (uint32_t i = 0; i < T * (multi ? 4 : 1); i++) ph[i] = ot_u32() % 200; /* small |theta|: sincosf agree */
            pbuf pos = p_from_host(MLXC_I32, (size_t)T * (multi ? 4 : 1), ph);
            P_RUN(mlxc_rope(enc, B(x), B(o), B(pos), cases[c].ff ? B(ff) : NULL, &d));
            P_CHECK(&o, p_tol(dt), "rope case %zu %s", c, mlxc_dtype_name(dt));
            P_RUN(mlxc_rope(enc, B(x), B(x), B(pos), cases[c].ff ? B(ff) : NULL, &d));
            P_CHECK(&x, p_tol(dt), "rope in place case %zu %s", c, mlxc_dtype_name(dt));
            p_free(&x); p_free(&o); p_free(&ff); p_free(&pos);
        }
}

/* The fused decode step (mlxc_rope_qkv_cache): the CUDA result against the
 * CPU's, outputs and caches poisoned first (rows a cache does not take stay
 * NaN on both), by normalized error where the rotation's sincosf enters (q,
 * k) and exactly for v; and on CUDA the fused op against the separate ops
 * it replaces, bit for bit (its contract on every backend). */
static void par_rope_qkv(void) {
    RQ_FOR_EACH(c, ai, ci, v) {
        const rq_case *k = &rq_cases[c];
        const mlxc_dtype act = ot_float_dtypes[ai], cdt = ot_float_dtypes[ci];
        const bool bias = v & 1, norm = v & 2;
        rq_inputs in = rq_make(k, false);
        rq_out oc = rq_fused(cpu, k, &in, act, cdt, bias, norm);
        rq_out og = rq_fused(gpu, k, &in, act, cdt, bias, norm);
        pbuf q = {oc.q, og.q}, kc = {oc.k, og.k}, vc = {oc.v, og.v};
        P_CHECK(&q, p_tol(act), "rope_qkv q case %zu %s/%s bias %d norm %d", c, mlxc_dtype_name(act),
                mlxc_dtype_name(cdt), bias, norm);
        P_CHECK(&kc, p_tol(act) > p_tol(cdt) ? p_tol(act) : p_tol(cdt),
                "rope_qkv k cache case %zu %s/%s bias %d norm %d", c, mlxc_dtype_name(act),
                mlxc_dtype_name(cdt), bias, norm);
        P_CHECK(&vc, 0, "rope_qkv v cache case %zu %s/%s bias %d norm %d", c, mlxc_dtype_name(act),
                mlxc_dtype_name(cdt), bias, norm);
        rq_out rg = rq_composed(gpu, k, &in, act, cdt, bias, norm);
        g_cases++;
        CHECK_MSG(rq_same_bytes(&og.q, &rg.q) && rq_same_bytes(&og.k, &rg.k) && rq_same_bytes(&og.v, &rg.v),
                  "rope_qkv case %zu %s/%s bias %d norm %d: fused differs from the separate ops on %s "
                  "(q %d, k %d, v %d)",
                  c, mlxc_dtype_name(act), mlxc_dtype_name(cdt), bias, norm, mlxc_device_name(gpu),
                  rq_same_bytes(&og.q, &rg.q), rq_same_bytes(&og.k, &rg.k), rq_same_bytes(&og.v, &rg.v));
        rq_free_out(&oc);
        rq_free_out(&og);
        rq_free_out(&rg);
        rq_free_inputs(&in);
    }
}

/* The fused kernel dispatched by hand with grids and blocks the front-end
 * never picks (fewer threads than the norm's 8 lanes, partial warps, fewer
 * blocks than rows): on each device the result must not move by a bit. */
static void par_rope_qkv_shapes(void) {
    static const uint32_t blocks[] = {1, 5, 33, 1024}, grids[] = {1, 4, 200};
    const size_t cases[] = {1, 7};
    for (size_t ci = 0; ci < 2; ci++)
        for (int ai = 0; ai < 3; ai += 2) {
            const rq_case *k = &rq_cases[cases[ci]];
            const mlxc_dtype act = ot_float_dtypes[ai], cdt = MLXC_BF16;
            const uint32_t NH = rq_nh(k), rd = k->rd ? k->rd : k->D;
            rq_inputs in = rq_make(k, false);
            mlxc_p_rope_qkv p;
            memset(&p, 0, sizeof p);
            p.rope = (mlxc_p_rope){k->T, k->H, k->D, rd, (uint32_t)k->mode, k->ff, {0}, 1.0f, {0}};
            const mlxc_rope_desc d = rq_rope_desc(k, k->H);
            for (uint32_t i = 0; i < rd / 2; i++) /* as the front-end forms it (ops_rope.h) */
                p.rope.inv_freq[i] = (float)((double)d.freq_scale * pow((double)d.theta_base, -2.0 * i / rd));
            p.n_kv_heads = k->KV;
            p.capacity = k->cap;
            p.sliding = k->sliding;
            p.has_bias = 1;
            p.has_norm = 1;
            p.eps = RQ_EPS;
            for (int side = 0; side < 2; side++) {
                mlxc_device *dev = side ? gpu : cpu;
                rq_out ref = rq_fused(dev, k, &in, act, cdt, true, true);
                ot_buf qkv = rq_upload(dev, act, (size_t)k->T * NH * k->D, in.qkv);
                ot_buf b = rq_upload(dev, act, (size_t)NH * k->D, in.bias), qn = rq_upload(dev, act, k->D, in.qn);
                ot_buf kn = rq_upload(dev, act, k->D, in.kn), ff = rq_upload(dev, MLXC_F32, rd / 2, in.ff);
                ot_buf pos = rq_upload(dev, MLXC_I32, k->T, in.pos);
                char name[48];
                snprintf(name, sizeof name, "rope_qkv_cache_%s_bf16", act == MLXC_F32 ? "f32" : "bf16");
                const mlxc_kernel *kern = NULL;
                CHECK_OK(mlxc_kernel_get(dev, name, &kern));
                for (size_t bi = 0; bi < 4 && kern; bi++)
                    for (size_t gi = 0; gi < 3; gi++) {
                        rq_out o = {ot_out(dev, act, ref.q.n), ot_out(dev, cdt, ref.k.n), ot_out(dev, cdt, ref.v.n)};
                        mlxc_arg args[10] = {mlxc_arg_buffer(qkv.b), mlxc_arg_buffer(b.b), mlxc_arg_buffer(qn.b),
                                             mlxc_arg_buffer(kn.b), mlxc_arg_buffer(o.q.b), mlxc_arg_buffer(o.k.b),
                                             mlxc_arg_buffer(o.v.b), mlxc_arg_buffer(pos.b),
                                             mlxc_arg_buffer(k->ff ? ff.b : pos.b), mlxc_arg_bytes(&p, sizeof p)};
                        mlxc_dispatch dd = {.kernel = kern, .args = args, .nargs = 10, .grid = {grids[gi], 1, 1},
                                            .block = {blocks[bi], 1, 1}};
                        OT_RUN(dev, mlxc_encoder_dispatch(enc, &dd));
                        g_cases++;
                        CHECK_MSG(rq_same_bytes(&o.q, &ref.q) && rq_same_bytes(&o.k, &ref.k) && rq_same_bytes(&o.v, &ref.v),
                                  "rope_qkv case %zu %s on %s, grid %u block %u: differs from the op's own launch",
                                  cases[ci], mlxc_dtype_name(act), mlxc_device_name(dev), grids[gi], blocks[bi]);
                        rq_free_out(&o);
                    }
                rq_free_out(&ref);
                ot_free(&qkv); ot_free(&b); ot_free(&qn); ot_free(&kn); ot_free(&ff); ot_free(&pos);
            }
            rq_free_inputs(&in);
        }
}

static void par_softmax(void) {
    static const struct { uint32_t heads, q, cols; float scale; bool mask, causal; uint32_t off; } cases[] = {
        {1, 1, 1, 1.0f, false, false, 0},    {3, 1, 7, 1.0f, false, false, 0},    {2, 1, 32000, 1.0f, false, false, 0},
        {4, 6, 40, 0.125f, true, true, 34},  {8, 16, 16, 0.5f, false, true, 0}, {3, 5, 1025, 0.088f, true, false, 0}};
    for (int di = 0; di < 3; di++)
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
            mlxc_dtype dt = ot_float_dtypes[di];
            uint32_t Q = cases[c].q, C = cases[c].cols, R = cases[c].heads * Q;
            pbuf x = p_rand(dt, (size_t)R * C, -8, 8), o = p_out(dt, (size_t)R * C);
            double *mh = malloc((size_t)Q * C * sizeof *mh);
            for (size_t i = 0; i < (size_t)Q * C; i++) mh[i] = ot_u32() % 6 == 0 ? -INFINITY : ot_uniform(-2, 1);
            pbuf m = p_from_host(dt, (size_t)Q * C, mh);
            free(mh);
            mlxc_scale_mask_softmax_desc d = {C, Q, cases[c].scale, cases[c].causal, cases[c].off};
            P_RUN(mlxc_scale_mask_softmax(enc, B(x), cases[c].mask ? B(m) : NULL, B(o), &d));
            P_CHECK(&o, p_tol(dt), "softmax case %zu %s", c, mlxc_dtype_name(dt));
            P_RUN(mlxc_softmax(enc, B(x), B(x), C));
            P_CHECK(&x, p_tol(dt), "softmax in place case %zu %s", c, mlxc_dtype_name(dt));
            p_free(&x); p_free(&o); p_free(&m);
        }
}

/* The row kernels dispatched by hand with grids and blocks the front-ends
 * never choose (a single group, partial warps, more groups than rows). */
static void raw_dispatch(mlxc_device *dev, const char *kernel, mlxc_buffer *const *bufs, int nb, const void *p,
                         uint32_t psize, uint32_t grid, uint32_t block) {
    const mlxc_kernel *k = NULL;
    CHECK_OK(mlxc_kernel_get(dev, kernel, &k));
    if (!k) return;
    mlxc_arg args[8];
    for (int i = 0; i < nb; i++) args[i] = mlxc_arg_buffer(bufs[i]);
    args[nb] = mlxc_arg_bytes(p, psize);
    mlxc_dispatch d = {.kernel = k, .args = args, .nargs = (uint32_t)nb + 1, .grid = {grid, 1, 1}, .block = {block, 1, 1}};
    OT_RUN(dev, mlxc_encoder_dispatch(enc, &d));
}

static void par_launch_shapes(void) {
    static const uint32_t blocks[] = {1, 32, 96, 1000, 1024};
    static const uint32_t grids[] = {1, 3, 50};
    /* 3001: the element paths; 4096: 16-byte frags, a block per row; 128:
     * frags, warp teams (whole-warp blocks) */
    static const uint32_t dims[] = {3001, 4096, 128};
    const uint32_t R = 7;
    for (size_t dd = 0; dd < sizeof dims / sizeof *dims; dd++)
    for (int di = 0; di < 3; di++)
        for (size_t bi = 0; bi < 5; bi++)
            for (size_t gi = 0; gi < 3; gi++) {
                mlxc_dtype dt = ot_float_dtypes[di];
                const char *sfx = dt == MLXC_F32 ? "f32" : dt == MLXC_F16 ? "f16" : "bf16";
                uint32_t g = grids[gi], bl = blocks[bi], D = dims[dd];
                char name[48];
                pbuf x = p_rand(dt, (size_t)R * D, -3, 3), r = p_rand(dt, (size_t)R * D, -3, 3), w = p_rand(dt, D, 0.5, 1.5);
                pbuf o = p_out(dt, (size_t)R * D), s = p_out(dt, (size_t)R * D);
                for (int side = 0; side < 2; side++) {
                    mlxc_device *dev = side ? gpu : cpu;
                    mlxc_p_norm pn = {R, D, 1e-6f, 1, 0, 1};
                    mlxc_buffer *nb[5] = {B(x), B(r), B(w), B(o), B(s)};
                    snprintf(name, sizeof name, "rms_norm_residual_%s", sfx);
                    raw_dispatch(dev, name, nb, 5, &pn, sizeof pn, g, bl);
                }
                P_CHECK(&o, p_tol(dt), "rms_residual grid %u block %u %s", g, bl, sfx);
                P_CHECK(&s, 0, "rms_residual sum grid %u block %u %s", g, bl, sfx);
                for (int side = 0; side < 2; side++) {
                    mlxc_device *dev = side ? gpu : cpu;
                    mlxc_p_softmax ps = {R, D, 0.5f, 0, 1, R, D - R - 5, 0};
                    mlxc_buffer *sb[3] = {B(x), B(x), B(o)};
                    snprintf(name, sizeof name, "softmax_%s", sfx);
                    raw_dispatch(dev, name, sb, 3, &ps, sizeof ps, g, bl);
                }
                P_CHECK(&o, p_tol(dt), "softmax grid %u block %u %s", g, bl, sfx);
                pbuf idx = p_out(MLXC_U32, R), val = p_out(MLXC_F32, R), lp = p_out(MLXC_F32, R);
                for (int side = 0; side < 2; side++) {
                    mlxc_device *dev = side ? gpu : cpu;
                    mlxc_p_rows pr = {R, D};
                    mlxc_buffer *ab[3] = {B(x), B(idx), B(val)};
                    snprintf(name, sizeof name, "argmax_%s", sfx);
                    raw_dispatch(dev, name, ab, 3, &pr, sizeof pr, g, bl);
                }
                P_CHECK(&idx, 0, "argmax grid %u block %u %s", g, bl, sfx);
                for (int side = 0; side < 2; side++) {
                    mlxc_device *dev = side ? gpu : cpu;
                    mlxc_p_sample pp = {R, D, 0.0f, 0.5f, 0, 1};
                    mlxc_buffer *sb[4] = {B(x), B(x), B(idx), B(lp)};
                    snprintf(name, sizeof name, "sample_%s", sfx);
                    raw_dispatch(dev, name, sb, 4, &pp, sizeof pp, g, bl);
                }
                P_CHECK(&idx, 0, "sample (T=0) grid %u block %u %s", g, bl, sfx);
                P_CHECK(&lp, 1e-4, "sample logprob grid %u block %u %s", g, bl, sfx);
                pbuf tv = p_out(MLXC_F32, (size_t)R * 10), ti = p_out(MLXC_U32, (size_t)R * 10);
                for (int side = 0; side < 2; side++) {
                    mlxc_device *dev = side ? gpu : cpu;
                    mlxc_p_topk pk = {R, D, 10, 0};
                    mlxc_buffer *kb[3] = {B(x), B(tv), B(ti)};
                    snprintf(name, sizeof name, "topk_%s", sfx);
                    raw_dispatch(dev, name, kb, 3, &pk, sizeof pk, g, bl);
                }
                P_CHECK(&ti, 0, "topk grid %u block %u %s D %u", g, bl, sfx, D);
                P_CHECK(&tv, 0, "topk val grid %u block %u %s D %u", g, bl, sfx, D);
                p_free(&tv); p_free(&ti);
                p_free(&x); p_free(&r); p_free(&w); p_free(&o); p_free(&s);
                p_free(&idx); p_free(&val); p_free(&lp);
            }
}

int main(int argc, char **argv) {
    /* MLXC_OPS_PARITY_SELF=1 runs the suite CPU against CPU: a check of the
     * harness itself (and of the CPU kernels under odd launch shapes). */
    ot_parity_devices("parity", true, &cpu, &gpu);
    RUN(par_elementwise);
    RUN(par_swiglu);
    RUN(par_layout);
    RUN(par_select);
    RUN(par_norm);
    RUN(par_rope);
    RUN(par_rope_qkv);
    RUN(par_rope_qkv_shapes);
    RUN(par_softmax);
    RUN(par_launch_shapes);
    printf("%d comparisons\n", g_cases);
    mlxc_device_close(gpu);
    mlxc_device_close(cpu);
    HARNESS_END();
}
