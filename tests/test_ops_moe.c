/* The mixture-of-experts ops (include/mlxc/ops_moe.h) on one device (the
 * CPU here; tests/test_ops_moe_parity.c runs the same cases on CUDA)
 * against references written here in double precision: routing for the
 * three scorings (ties, renormalisation, scale, bias, k up to 64, experts
 * up to 512), the combine with every optional term (in place on the
 * residual too) and the grouping (ids out of range included); then the
 * router cases PyTorch computed (tests/fixtures/moe/route.txt, written by
 * scripts/make_moe_fixtures.py). */
#include "mlxc/ops_moe.h"
#include "ops_test.h"
#include "read_file.h"

static mlxc_device *dev;

/* ---- routing -------------------------------------------------------------- */

typedef struct route_case {
    mlxc_moe_scoring scoring;
    mlxc_dtype       dt;
    uint32_t         tokens, experts, k;
    bool             renorm, bias, ties;
    float            scale;
    uint32_t         n_group, topk_group; /* 0: no groups */
} route_case;

/* ids and weights (tokens, k) of the documented routing, in double, from
 * the stored logits x (tokens, experts) and bias (experts) or NULL. */
static void route_ref(const route_case *c, const double *x, const double *bias, double *ids, double *w) {
    const uint32_t E = c->experts, k = c->k;
    double *score = malloc(E * sizeof *score);
    char *taken = malloc(E);
    for (uint32_t t = 0; t < c->tokens; t++) {
        const double *row = x + (size_t)t * E;
        for (uint32_t e = 0; e < E; e++) {
            taken[e] = 0;
            score[e] = c->scoring == MLXC_MOE_SIGMOID_BIAS ? 1.0 / (1.0 + exp(-row[e])) + (bias ? bias[e] : 0.0)
                                                           : row[e];
        }
        if (c->n_group > 1) { /* runs of gsz: the topk_group best sums of two best scores; the rest taken */
            const uint32_t G = c->n_group, gsz = E / G;
            double gs[32];
            char gtaken[32] = {0};
            for (uint32_t g = 0; g < G; g++) {
                double s1 = -INFINITY, s2 = -INFINITY;
                for (uint32_t e = g * gsz; e < (g + 1) * gsz; e++) {
                    if (score[e] > s1) s2 = s1, s1 = score[e];
                    else if (score[e] > s2) s2 = score[e];
                }
                gs[g] = (double)((float)s1 + (float)s2); /* as the kernels add them, in f32 */
            }
            for (uint32_t j = 0; j < c->topk_group; j++) {
                uint32_t b = UINT32_MAX;
                for (uint32_t g = 0; g < G; g++)
                    if (!gtaken[g] && (b == UINT32_MAX || gs[g] > gs[b])) b = g;
                gtaken[b] = 1;
            }
            for (uint32_t e = 0; e < E; e++) taken[e] = !gtaken[e / gsz];
        }
        for (uint32_t j = 0; j < k; j++) { /* the best untaken score, the lower index on a tie */
            uint32_t b = UINT32_MAX;
            for (uint32_t e = 0; e < E; e++)
                if (!taken[e] && (b == UINT32_MAX || score[e] > score[b])) b = e;
            taken[b] = 1;
            ids[(size_t)t * k + j] = b;
        }
        double m = -INFINITY, sum = 0, wsum = 0;
        if (c->scoring == MLXC_MOE_SOFTMAX_TOPK) {
            for (uint32_t e = 0; e < E; e++) m = fmax(m, row[e]);
            for (uint32_t e = 0; e < E; e++) sum += exp(row[e] - m);
        } else if (c->scoring == MLXC_MOE_TOPK_SOFTMAX) {
            m = row[(uint32_t)ids[(size_t)t * k]];
            for (uint32_t j = 0; j < k; j++) sum += exp(row[(uint32_t)ids[(size_t)t * k + j]] - m);
        }
        for (uint32_t j = 0; j < k; j++) {
            const double v = row[(uint32_t)ids[(size_t)t * k + j]];
            w[(size_t)t * k + j] = c->scoring == MLXC_MOE_SIGMOID_BIAS ? 1.0 / (1.0 + exp(-v)) : exp(v - m) / sum;
            wsum += w[(size_t)t * k + j];
        }
        for (uint32_t j = 0; j < k; j++)
            w[(size_t)t * k + j] = w[(size_t)t * k + j] / (c->renorm && wsum > 0 ? wsum : 1.0) * c->scale;
    }
    free(score);
    free(taken);
}

static mlxc_moe_route_desc route_desc(const route_case *c) {
    mlxc_moe_route_desc d = {.scoring = c->scoring, .experts = c->experts, .k = c->k, .renormalize = c->renorm,
                             .scale = c->scale, .n_group = c->n_group, .topk_group = c->topk_group};
    return d;
}

/* Logits of a case: random, or drawn from five values (many ties, also
 * across the k-th place).  With groups the tied values are 0, 0.5, 1 and
 * 1.5: sigmoid(x) + sigmoid(-x) = 1 would make sums of two different
 * pairs tie in exact arithmetic, and then rounding, not the index, would
 * break the tie. */
static ot_buf route_logits(mlxc_device *d, const route_case *c) {
    const size_t n = (size_t)c->tokens * c->experts;
    ot_buf x = ot_alloc(d, c->dt, n);
    for (size_t i = 0; i < n; i++)
        x.h[i] = !c->ties ? ot_uniform(-4, 4)
                 : c->n_group > 1 ? 0.5 * (double)(ot_u32() % 4) : 0.5 * (double)((int)(ot_u32() % 5) - 2);
    ot_upload(&x);
    return x;
}

static const route_case k_route[] = {
    {MLXC_MOE_SOFTMAX_TOPK, MLXC_F32, 1, 1, 1, false, false, false, 1.0f, 0, 0},
    {MLXC_MOE_SOFTMAX_TOPK, MLXC_F32, 5, 8, 2, true, false, true, 1.0f, 0, 0},
    {MLXC_MOE_SOFTMAX_TOPK, MLXC_BF16, 7, 128, 8, true, false, false, 1.0f, 0, 0},
    {MLXC_MOE_SOFTMAX_TOPK, MLXC_BF16, 3, 60, 8, false, false, true, 1.0f, 0, 0},
    {MLXC_MOE_SOFTMAX_TOPK, MLXC_F32, 2, 512, 64, true, false, false, 1.0f, 0, 0},
    {MLXC_MOE_SOFTMAX_TOPK, MLXC_F32, 3, 64, 64, false, false, true, 1.0f, 0, 0},
    {MLXC_MOE_SIGMOID_BIAS, MLXC_F32, 6, 256, 8, true, true, false, 2.5f, 0, 0},
    {MLXC_MOE_SIGMOID_BIAS, MLXC_BF16, 4, 64, 6, true, true, true, 2.5f, 0, 0},
    {MLXC_MOE_SIGMOID_BIAS, MLXC_F32, 3, 33, 5, false, false, true, 1.0f, 0, 0},
    {MLXC_MOE_SIGMOID_BIAS, MLXC_BF16, 2, 512, 64, false, true, false, 0.5f, 0, 0},
    {MLXC_MOE_TOPK_SOFTMAX, MLXC_BF16, 9, 32, 4, false, false, false, 1.0f, 0, 0},
    {MLXC_MOE_TOPK_SOFTMAX, MLXC_F32, 4, 128, 4, false, false, true, 1.0f, 0, 0},
    {MLXC_MOE_TOPK_SOFTMAX, MLXC_F32, 2, 500, 37, true, false, false, 1.0f, 0, 0},
    {MLXC_MOE_SIGMOID_BIAS, MLXC_F32, 5, 256, 8, true, true, false, 2.5f, 8, 4},
    {MLXC_MOE_SIGMOID_BIAS, MLXC_BF16, 5, 256, 8, true, true, true, 2.5f, 8, 4},
    {MLXC_MOE_SIGMOID_BIAS, MLXC_F32, 6, 16, 4, false, true, true, 1.0f, 4, 2},
    {MLXC_MOE_SIGMOID_BIAS, MLXC_F32, 3, 512, 64, true, false, false, 1.0f, 32, 5},
    {MLXC_MOE_SIGMOID_BIAS, MLXC_BF16, 4, 64, 8, true, true, false, 1.0f, 2, 1},
};
#define NROUTE (sizeof k_route / sizeof *k_route)

/* Runs case c on device d; ids and weights are returned (downloaded). */
static void route_run(mlxc_device *d, const route_case *c, ot_buf *x, ot_buf *bias, ot_buf *ids, ot_buf *w) {
    const size_t tk = (size_t)c->tokens * c->k;
    *ids = ot_out(d, MLXC_U32, tk);
    *w = ot_out(d, MLXC_F32, tk);
    const mlxc_moe_route_desc desc = route_desc(c);
    OT_RUN(d, mlxc_moe_route(enc, x->b, bias ? bias->b : NULL, ids->b, w->b, &desc));
    ot_download(ids);
    ot_download(w);
}

static void check_route_on(mlxc_device *d) {
    for (size_t ci = 0; ci < NROUTE; ci++) {
        const route_case *c = &k_route[ci];
        const size_t tk = (size_t)c->tokens * c->k;
        ot_buf x = route_logits(d, c), bias = {0}, ids, w;
        if (c->bias) {
            bias = ot_alloc(d, MLXC_F32, c->experts);
            for (uint32_t e = 0; e < c->experts; e++) bias.h[e] = c->ties ? 0.25 * (ot_u32() % 4) : ot_uniform(-0.2, 0.2);
            ot_upload(&bias);
        }
        double *rid = malloc(tk * sizeof *rid), *rw = malloc(tk * sizeof *rw);
        route_ref(c, x.h, c->bias ? bias.h : NULL, rid, rw);
        route_run(d, c, &x, c->bias ? &bias : NULL, &ids, &w);
        OT_EXACT(&ids, rid, "route ids case %zu", ci);
        OT_CLOSE(&w, rw, 2e-6, "route weights case %zu", ci);
        free(rid);
        free(rw);
        ot_free(&x);
        ot_free(&ids);
        ot_free(&w);
        if (c->bias) ot_free(&bias);
    }
}

/* ---- the fused router ------------------------------------------------------ */

/* A route case (its scoring, dtype, experts, k, bias) with its own token
 * count (0: the case's), dim, router dtype and whether x is normed first. */
typedef struct router_case {
    size_t     route;
    uint32_t   tokens, dim;
    mlxc_dtype wdt;
    bool       norm;
} router_case;
static const router_case k_router[] = {
    {2, 1, 2048, MLXC_F32, true},   /* a Qwen3-MoE decode step: 128 experts, top 8, bf16 */
    {2, 0, 256, MLXC_F32, true},    /* 7 tokens */
    {0, 0, 64, MLXC_F32, true},     /* one expert, f32 */
    {6, 0, 136, MLXC_F16, false},   /* sigmoid + bias, 6 tokens, no norm */
    {14, 0, 1024, MLXC_BF16, true}, /* runs of experts, 5 tokens */
    {10, 0, 512, MLXC_BF16, true},  /* 9 tokens: more than CUDA's one pass takes */
    {11, 0, 100, MLXC_BF16, true},  /* dim not a multiple of 8 */
    {11, 0, 160, MLXC_BF16, true},  /* the softmax over the k chosen, 4 tokens */
    {4, 0, 128, MLXC_F32, true},    /* 512 experts, k 64 */
    {2, 1, 4096, MLXC_F32, true},   /* Qwen3-235B-A22B's: past the row CUDA holds in registers */
};
#define NROUTER (sizeof k_router / sizeof *k_router)

typedef struct router_io {
    ot_buf x, g, w, bias, normed, logits, ids, wts;
} router_io;

/* Inputs of case r on d (the same values on every device), outputs poisoned. */
static router_io router_inputs(mlxc_device *d, const router_case *r) {
    const route_case *c = &k_route[r->route];
    const uint32_t T = r->tokens ? r->tokens : c->tokens, E = c->experts, D = r->dim;
    router_io io = {0};
    ot_rng = 4242 + r->route * 131 + D;
    io.x = ot_rand(d, c->dt, (size_t)T * D, -1, 1);
    io.g = ot_rand(d, c->dt, D, 0.5, 1.5);
    io.w = ot_rand(d, r->wdt, (size_t)E * D, -0.2, 0.2);
    if (c->bias) io.bias = ot_rand(d, MLXC_F32, E, -0.2, 0.2);
    if (r->norm) io.normed = ot_out(d, c->dt, (size_t)T * D);
    io.logits = ot_out(d, c->dt, (size_t)T * E);
    io.ids = ot_out(d, MLXC_U32, (size_t)T * c->k);
    io.wts = ot_out(d, MLXC_F32, (size_t)T * c->k);
    return io;
}

static void router_free(router_io *io) {
    ot_buf *b[8] = {&io->x, &io->g, &io->w, &io->bias, &io->normed, &io->logits, &io->ids, &io->wts};
    for (int i = 0; i < 8; i++)
        if (b[i]->b) ot_free(b[i]);
}

/* The fused op (fused) or its three ops on d; every output downloaded. */
static void router_run(mlxc_device *d, const router_case *r, router_io *io, bool fused, ot_buf *ctr) {
    const route_case *c = &k_route[r->route];
    const uint32_t T = r->tokens ? r->tokens : c->tokens, E = c->experts, D = r->dim;
    const mlxc_moe_route_desc desc = route_desc(c);
    mlxc_buffer *bias = c->bias ? io->bias.b : NULL, *in = r->norm ? io->normed.b : io->x.b;
    if (fused) {
        OT_RUN(d, mlxc_moe_route_fused(enc, io->x.b, r->norm ? io->g.b : NULL, 1e-5f, io->w.b, bias,
                                       r->norm ? io->normed.b : NULL, io->logits.b, io->ids.b, io->wts.b, ctr->b, T,
                                       D, &desc));
    } else {
        if (r->norm) OT_RUN(d, mlxc_rms_norm(enc, io->x.b, io->g.b, io->normed.b, D, 1e-5f));
        OT_RUN(d, mlxc_matmul(enc, in, io->w.b, io->logits.b, T, E, D));
        OT_RUN(d, mlxc_moe_route(enc, io->logits.b, bias, io->ids.b, io->wts.b, &desc));
    }
    ot_buf *o[4] = {&io->normed, &io->logits, &io->ids, &io->wts};
    for (int i = 0; i < 4; i++)
        if (o[i]->b) ot_download(o[i]);
}

/* On device d: the fused router against its three ops there (normed bit
 * for bit, logits within the dtype's rounding), its ids and weights
 * against the double reference of routing on its own logits, the counter
 * back at zero, a second call bit for bit the first; then its refusals. */
static void check_router_on(mlxc_device *d) {
    ot_buf ctr = ot_alloc(d, MLXC_U32, 1);
    ot_upload(&ctr);
    for (size_t ri = 0; ri < NROUTER; ri++) {
        const router_case *r = &k_router[ri];
        const route_case *c = &k_route[r->route];
        const uint32_t T = r->tokens ? r->tokens : c->tokens;
        const size_t tk = (size_t)T * c->k;
        router_io f = router_inputs(d, r), s = router_inputs(d, r);
        router_run(d, r, &f, true, &ctr);
        router_run(d, r, &s, false, &ctr);
        if (r->norm) OT_EXACT(&f.normed, s.normed.h, "router %zu normed vs rms_norm", ri);
        OT_CLOSE(&f.logits, s.logits.h, ot_tol(c->dt), "router %zu logits vs matmul", ri);
        route_case cc = *c;
        cc.tokens = T;
        double *rid = malloc(tk * sizeof *rid), *rw = malloc(tk * sizeof *rw);
        route_ref(&cc, f.logits.h, c->bias ? f.bias.h : NULL, rid, rw);
        OT_EXACT(&f.ids, rid, "router %zu ids vs the reference on its logits", ri);
        OT_CLOSE(&f.wts, rw, 2e-6, "router %zu weights vs the reference on its logits", ri);
        ot_download(&ctr);
        CHECK_MSG(ctr.h[0] == 0.0, "router %zu: the counter is %g after the call", ri, ctr.h[0]);
        /* again, into poisoned outputs */
        router_io g = router_inputs(d, r);
        router_run(d, r, &g, true, &ctr);
        if (r->norm) OT_EXACT(&g.normed, f.normed.h, "router %zu normed, second call", ri);
        OT_EXACT(&g.logits, f.logits.h, "router %zu logits, second call", ri);
        OT_EXACT(&g.ids, f.ids.h, "router %zu ids, second call", ri);
        OT_EXACT(&g.wts, f.wts.h, "router %zu weights, second call", ri);
        free(rid);
        free(rw);
        router_free(&f);
        router_free(&s);
        router_free(&g);
    }
    /* refusals */
    const router_case *r = &k_router[1];
    const route_case *c = &k_route[r->route];
    router_io io = router_inputs(d, r);
    const mlxc_moe_route_desc desc = route_desc(c);
    mlxc_encoder *enc = NULL;
    CHECK_OK(mlxc_encoder_create(d, &enc));
    const uint32_t T = c->tokens, D = r->dim;
    CHECK(mlxc_moe_route_fused(enc, io.x.b, io.g.b, 1e-5f, io.w.b, NULL, NULL, io.logits.b, io.ids.b, io.wts.b,
                               ctr.b, T, D, &desc) == MLXC_ERR_INVALID_ARGUMENT); /* a norm without normed */
    CHECK(mlxc_moe_route_fused(enc, io.x.b, io.g.b, 1e-5f, io.w.b, NULL, io.normed.b, io.logits.b, io.ids.b, io.wts.b,
                               NULL, T, D, &desc) == MLXC_ERR_INVALID_ARGUMENT); /* no counter */
    CHECK(mlxc_moe_route_fused(enc, io.x.b, io.g.b, 1e-5f, io.w.b, NULL, io.normed.b, io.logits.b, io.ids.b, io.wts.b,
                               io.wts.b, T, D, &desc) == MLXC_ERR_DTYPE); /* an f32 counter */
    CHECK(mlxc_moe_route_fused(enc, io.x.b, io.g.b, 1e-5f, io.w.b, NULL, io.normed.b, io.logits.b, io.ids.b, io.wts.b,
                               ctr.b, T, D + 8, &desc) == MLXC_ERR_SHAPE); /* x is not (tokens, dim) */
    CHECK(mlxc_moe_route_fused(enc, io.x.b, io.g.b, 1e-5f, io.w.b, NULL, io.normed.b, io.logits.b, io.ids.b,
                               io.logits.b, ctr.b, T, D, &desc) != MLXC_OK); /* weights on the logits */
    CHECK(mlxc_moe_route_fused(enc, io.x.b, io.g.b, 1e-5f, io.w.b, NULL, io.normed.b, io.x.b, io.ids.b, io.wts.b,
                               ctr.b, T, D, &desc) != MLXC_OK); /* logits over x */
    CHECK(mlxc_moe_route_fused(enc, io.x.b, io.g.b, 1e-5f, io.ids.b, NULL, io.normed.b, io.logits.b, io.ids.b,
                               io.wts.b, ctr.b, T, D, &desc) == MLXC_ERR_DTYPE); /* a u32 router */
    mlxc_moe_route_desc bad = desc;
    bad.k = bad.experts + 1;
    CHECK(mlxc_moe_route_fused(enc, io.x.b, io.g.b, 1e-5f, io.w.b, NULL, io.normed.b, io.logits.b, io.ids.b, io.wts.b,
                               ctr.b, T, D, &bad) == MLXC_ERR_INVALID_ARGUMENT);
    CHECK(mlxc_moe_route_fused(enc, io.x.b, io.g.b, -1.0f, io.w.b, NULL, io.normed.b, io.logits.b, io.ids.b, io.wts.b,
                               ctr.b, T, D, &desc) == MLXC_ERR_INVALID_ARGUMENT);
    mlxc_clear_error();
    mlxc_encoder_destroy(enc);
    router_free(&io);
    ot_free(&ctr);
}

/* ---- combine -------------------------------------------------------------- */

typedef struct combine_case {
    mlxc_dtype dt;
    uint32_t   tokens, k, hidden;
    int        shared;   /* 0 none, 1 ungated, 2 gate in f32, 3 gate in dt */
    int        residual; /* 0 none, 1 separate, 2 in place (out is the residual) */
} combine_case;

static const combine_case k_combine[] = {
    {MLXC_F32, 1, 1, 1, 0, 0},     {MLXC_F32, 3, 8, 64, 2, 1},   {MLXC_BF16, 5, 8, 2048, 3, 2},
    {MLXC_BF16, 2, 4, 37, 1, 1},   {MLXC_F32, 4, 6, 130, 0, 2},  {MLXC_BF16, 1, 64, 512, 2, 0},
    {MLXC_F32, 17, 2, 8, 3, 2},    {MLXC_BF16, 3, 1, 4096, 1, 2},
};
#define NCOMBINE (sizeof k_combine / sizeof *k_combine)

/* out (tokens, hidden) of the documented combine, in double. */
static void combine_ref(const combine_case *c, const double *y, const double *w, const double *sh, const double *g,
                        const double *res, double *out) {
    for (uint32_t t = 0; t < c->tokens; t++)
        for (uint32_t h = 0; h < c->hidden; h++) {
            const size_t o = (size_t)t * c->hidden + h;
            double acc = 0;
            for (uint32_t j = 0; j < c->k; j++) acc += w[(size_t)t * c->k + j] * y[((size_t)t * c->k + j) * c->hidden + h];
            if (c->shared) acc += (c->shared >= 2 ? 1.0 / (1.0 + exp(-g[t])) : 1.0) * sh[o];
            if (c->residual) acc = ot_round(c->dt, acc) + res[o]; /* rounded, then added */
            out[o] = acc;
        }
}

/* Runs case ci on d with fresh data; returns the output (downloaded) and
 * writes the reference into ref (tokens * hidden) when non-NULL. */
static ot_buf combine_run(mlxc_device *d, size_t ci, uint64_t seed, double *ref) {
    const combine_case *c = &k_combine[ci];
    const size_t th = (size_t)c->tokens * c->hidden, tk = (size_t)c->tokens * c->k;
    ot_rng = seed;
    ot_buf y = ot_rand(d, c->dt, th * c->k, -2, 2), w = ot_rand(d, MLXC_F32, tk, 0, 1);
    ot_buf sh = {0}, g = {0}, res = {0}, out;
    if (c->shared) sh = ot_rand(d, c->dt, th, -2, 2);
    if (c->shared >= 2) g = ot_rand(d, c->shared == 2 ? MLXC_F32 : c->dt, c->tokens, -3, 3);
    if (c->residual) res = ot_rand(d, c->dt, th, -2, 2);
    if (ref) combine_ref(c, y.h, w.h, sh.h, g.h, res.h, ref);
    if (c->residual == 2) {
        out = res; /* in place */
        res.h = NULL;
    } else {
        out = ot_out(d, c->dt, th);
    }
    const mlxc_buffer *rb = c->residual == 1 ? res.b : c->residual == 2 ? out.b : NULL;
    OT_RUN(d, mlxc_moe_combine(enc, y.b, w.b, c->shared ? sh.b : NULL, c->shared >= 2 ? g.b : NULL, rb, out.b,
                               c->tokens, c->k, c->hidden));
    ot_download(&out);
    ot_free(&y);
    ot_free(&w);
    if (c->shared) ot_free(&sh);
    if (c->shared >= 2) ot_free(&g);
    if (c->residual == 1) ot_free(&res);
    return out;
}

static void check_combine_on(mlxc_device *d) {
    for (size_t ci = 0; ci < NCOMBINE; ci++) {
        const combine_case *c = &k_combine[ci];
        double *ref = malloc((size_t)c->tokens * c->hidden * sizeof *ref);
        ot_buf out = combine_run(d, ci, 0x9e3779b97f4a7c15ull + ci, ref);
        OT_CLOSE(&out, ref, ot_tol(c->dt), "combine case %zu", ci);
        ot_free(&out);
        free(ref);
    }
}

/* ---- grouping ------------------------------------------------------------- */

static const struct { uint32_t tokens, k, experts, bad; } k_group[] = {
    {1, 1, 1, 0}, {1, 8, 128, 0}, {7, 2, 8, 0}, {100, 8, 64, 5}, {512, 8, 128, 0}, {300, 6, 512, 0},
    {33, 64, 512, 3}, {2000, 4, 3, 0},
};
#define NGROUP (sizeof k_group / sizeof *k_group)

/* Random ids (or a skewed draw: half the slots on one expert), `bad` of
 * them out of range; counts, offsets and perm by a stable counting sort. */
static void group_run(mlxc_device *d, size_t ci, uint64_t seed, ot_buf *cnt, ot_buf *off, ot_buf *perm, double *rc,
                      double *ro, double *rp) {
    const uint32_t T = k_group[ci].tokens, K = k_group[ci].k, E = k_group[ci].experts, S = T * K;
    ot_rng = seed;
    ot_buf ids = ot_alloc(d, MLXC_U32, S);
    for (uint32_t s = 0; s < S; s++) ids.h[s] = (ot_u32() & 1) ? E / 2 : ot_u32() % E;
    for (uint32_t b = 0; b < k_group[ci].bad; b++) ids.h[ot_u32() % S] = E + (ot_u32() % 3 ? 0 : 1000);
    ot_upload(&ids);
    *cnt = ot_out(d, MLXC_U32, E);
    *off = ot_out(d, MLXC_U32, E + 1);
    *perm = ot_out(d, MLXC_U32, S);
    OT_RUN(d, mlxc_moe_group(enc, ids.b, cnt->b, off->b, perm->b, T, K, E));
    ot_download(cnt);
    ot_download(off);
    ot_download(perm);
    if (rc) {
        uint32_t at = 0;
        for (uint32_t e = 0; e <= E; e++) { /* bucket E: the slots of no expert */
            if (e < E) rc[e] = 0;
            ro[e] = at;
            for (uint32_t s = 0; s < S; s++)
                if (e < E ? ids.h[s] == e : ids.h[s] >= E) {
                    if (e < E) rc[e]++;
                    rp[at++] = s;
                }
        }
    }
    ot_free(&ids);
}

static void check_group_on(mlxc_device *d) {
    for (size_t ci = 0; ci < NGROUP; ci++) {
        const uint32_t E = k_group[ci].experts, S = k_group[ci].tokens * k_group[ci].k;
        double *rc = malloc(E * sizeof *rc), *ro = malloc((E + 1) * sizeof *ro), *rp = malloc(S * sizeof *rp);
        ot_buf cnt, off, perm;
        group_run(d, ci, 77 + ci, &cnt, &off, &perm, rc, ro, rp);
        OT_EXACT(&cnt, rc, "group counts case %zu", ci);
        OT_EXACT(&off, ro, "group offsets case %zu", ci);
        OT_EXACT(&perm, rp, "group perm case %zu", ci);
        ot_free(&cnt);
        ot_free(&off);
        ot_free(&perm);
        free(rc);
        free(ro);
        free(rp);
    }
}

/* ---- the PyTorch cases ------------------------------------------------------- */

/* Reads n numbers after the word `tag` at *p; false on a short line. */
static bool read_nums(char **p, const char *tag, double *v, size_t n) {
    while (**p == '#' || **p == '\n') *p = strchr(*p, '\n') ? strchr(*p, '\n') + 1 : *p + strlen(*p);
    const size_t tl = strlen(tag);
    if (strncmp(*p, tag, tl) != 0 || (*p)[tl] != ' ') return false;
    *p += tl;
    for (size_t i = 0; i < n; i++) {
        char *end;
        v[i] = strtod(*p, &end);
        if (end == *p) return false;
        *p = end;
    }
    while (**p == ' ') (*p)++;
    if (**p == '\n') (*p)++;
    return true;
}

static void check_torch_on(mlxc_device *d) {
    char *text = read_file(MLXC_SOURCE_DIR "/tests/fixtures/moe/route.txt", NULL);
    CHECK_MSG(text != NULL, "tests/fixtures/moe/route.txt is missing (scripts/make_moe_fixtures.py)");
    if (!text) return;
    int ncases = 0;
    for (char *p = text; *p;) {
        if (*p == '#' || *p == '\n') {
            char *nl = strchr(p, '\n');
            p = nl ? nl + 1 : p + strlen(p);
            continue;
        }
        char name[64], dts[8];
        int scoring, renorm, has_bias, used = 0;
        unsigned tokens, experts, k, n_group, topk_group;
        float scale;
        if (sscanf(p, "case %63s %d %7s %u %u %u %d %g %d %u %u%n", name, &scoring, dts, &tokens, &experts, &k,
                   &renorm, &scale, &has_bias, &n_group, &topk_group, &used) != 11) {
            CHECK_MSG(0, "bad case line: %.40s", p);
            break;
        }
        p += used;
        while (*p == '\n' || *p == ' ') p++;
        route_case c = {(mlxc_moe_scoring)scoring, strcmp(dts, "bf16") == 0 ? MLXC_BF16 : MLXC_F32, tokens, experts,
                        k, renorm != 0, has_bias != 0, false, scale, n_group, topk_group};
        const size_t tk = (size_t)tokens * k;
        ot_buf x = ot_alloc(d, c.dt, (size_t)tokens * experts), bias = {0}, ids, w;
        double *eid = malloc(tk * sizeof *eid), *ew = malloc(tk * sizeof *ew);
        bool ok = read_nums(&p, "logits", x.h, x.n);
        if (ok && has_bias) {
            bias = ot_alloc(d, MLXC_F32, experts);
            ok = read_nums(&p, "bias", bias.h, experts);
            ot_upload(&bias);
        }
        ok = ok && read_nums(&p, "ids", eid, tk) && read_nums(&p, "weights", ew, tk);
        CHECK_MSG(ok, "case %s: short data", name);
        if (!ok) break;
        ot_upload(&x);
        route_run(d, &c, &x, has_bias ? &bias : NULL, &ids, &w);
        OT_EXACT(&ids, eid, "torch case %s ids", name);
        OT_CLOSE(&w, ew, 2e-6, "torch case %s weights", name);
        ot_free(&x);
        ot_free(&ids);
        ot_free(&w);
        if (has_bias) ot_free(&bias);
        free(eid);
        free(ew);
        ncases++;
    }
    CHECK_MSG(ncases >= 10, "%d torch cases read", ncases);
    free(text);
}

#ifndef MOE_NO_MAIN
static void route_reference(void) { check_route_on(dev); }
static void combine_reference(void) { check_combine_on(dev); }
static void group_reference(void) { check_group_on(dev); }
static void route_torch(void) { check_torch_on(dev); }
static void router_fused(void) { check_router_on(dev); }

int main(void) {
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &dev) != MLXC_OK) {
        fprintf(stderr, "setup: %s\n", mlxc_last_error());
        return 1;
    }
    RUN(route_reference);
    RUN(route_torch);
    RUN(combine_reference);
    RUN(group_reference);
    RUN(router_fused);
    mlxc_device_close(dev);
    HARNESS_END();
}
#endif
