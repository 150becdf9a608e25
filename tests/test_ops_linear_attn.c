/* The linear-attention ops on the CPU device (include/mlxc/ops_linear_attn.h):
 *
 *  - against double-precision references written here (the delta rule
 *    token by token, the convolution, the gates, the gated norm);
 *  - the chunked delta rule equals the recurrent one, outputs and final
 *    state, and a chunked prefill continued by single-token decodes equals
 *    one recurrent pass;
 *  - against the transformers Qwen3-Next functions themselves: fixtures of
 *    scripts/make_linear_attn_fixtures.py (tests/fixtures/linear_attn),
 *    whose inputs the test draws again from the same generator.
 *
 * Bounds (normalized error, ||out - ref|| / ||ref||).  f32 against the
 * double reference and against torch: 2e-5.  Both sides run the same
 * operations in f32 in another order; with unit-norm keys and beta < 1 each
 * step of the delta rule is a contraction (I - beta k k^T scaled by
 * exp(g) <= 1), so the rounding of earlier tokens does not grow, and what
 * remains is a few f32 ulps of dot products of length <= 128 (measured:
 * below 1e-6).  The chunked form against the recurrent one: the same 2e-5
 * (the triangular solve reorders the same sums).  16-bit outputs: the
 * dtype's bound of ops_test.h (one rounding of the result). */
#include "mlxc/ops_linear_attn.h"
#include "ops_test.h"
#include "read_file.h"

static mlxc_device *dev;

#define TOL32 2e-5

/* ---- the fixtures' generator (scripts/make_linear_attn_fixtures.py) ---- */

static uint64_t la_x;
static void la_fill(double *h, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) {
        la_x ^= la_x << 13;
        la_x ^= la_x >> 7;
        la_x ^= la_x << 17;
        const double u = (double)((la_x >> 16) & 0xffffff);
        h[i] = (float)(lo + (hi - lo) * u / 16777216.0);
    }
}
static ot_buf la_buf(mlxc_dtype dt, size_t n, double lo, double hi) {
    ot_buf b = ot_alloc(dev, dt, n);
    la_fill(b.h, n, lo, hi);
    ot_upload(&b);
    return b;
}

/* ---- double-precision references ---------------------------------------------- */

typedef struct gdn_case {
    uint32_t T, HK, HV, DK, DV;
    int      l2norm;
    double   scale; /* 0: 1/sqrt(DK) */
} gdn_case;

/* The delta rule token by token (n_seq 1): S (HV, DK, DV) updated in place,
 * out (T, HV, DV). */
static void gdn_ref(const gdn_case *c, const double *q, const double *k, const double *v, const double *g,
                    const double *beta, double *S, double *out) {
    const uint32_t DK = c->DK, DV = c->DV;
    const double scale = c->scale > 0 ? c->scale : 1.0 / sqrt((double)DK);
    double qv[256], kv[256], d[256];
    for (uint32_t t = 0; t < c->T; t++)
        for (uint32_t h = 0; h < c->HV; h++) {
            const uint32_t kh = h / (c->HV / c->HK);
            double nq = 0, nk = 0;
            for (uint32_t i = 0; i < DK; i++) {
                qv[i] = q[((size_t)t * c->HK + kh) * DK + i];
                kv[i] = k[((size_t)t * c->HK + kh) * DK + i];
                nq += qv[i] * qv[i];
                nk += kv[i] * kv[i];
            }
            const double iq = c->l2norm ? 1.0 / sqrt(nq + 1e-6) : 1.0, ik = c->l2norm ? 1.0 / sqrt(nk + 1e-6) : 1.0;
            for (uint32_t i = 0; i < DK; i++) {
                qv[i] *= iq * scale;
                kv[i] *= ik;
            }
            double *Sh = S + (size_t)h * DK * DV;
            const double e = exp(g[(size_t)t * c->HV + h]), b = beta[(size_t)t * c->HV + h];
            for (uint32_t j = 0; j < DV; j++) d[j] = 0;
            for (uint32_t i = 0; i < DK; i++)
                for (uint32_t j = 0; j < DV; j++) {
                    Sh[i * DV + j] *= e;
                    d[j] += Sh[i * DV + j] * kv[i];
                }
            const double *vr = v + ((size_t)t * c->HV + h) * DV;
            for (uint32_t j = 0; j < DV; j++) d[j] = b * (vr[j] - d[j]);
            double *o = out + ((size_t)t * c->HV + h) * DV;
            for (uint32_t j = 0; j < DV; j++) o[j] = 0;
            for (uint32_t i = 0; i < DK; i++)
                for (uint32_t j = 0; j < DV; j++) {
                    Sh[i * DV + j] += kv[i] * d[j];
                    o[j] += Sh[i * DV + j] * qv[i];
                }
        }
}

static double silu_d(double v) { return v / (1.0 + exp(-v)); }

/* ---- the delta rule ------------------------------------------------------------- */

typedef struct gdn_io {
    ot_buf q, k, v, g, beta, state;
} gdn_io;

/* Random inputs of case c in dtype dt (g and beta f32), the state random
 * when has_state. */
static gdn_io gdn_inputs(const gdn_case *c, mlxc_dtype dt, double qk_amp, int has_state) {
    gdn_io io;
    io.q = la_buf(dt, (size_t)c->T * c->HK * c->DK, -qk_amp, qk_amp);
    io.k = la_buf(dt, (size_t)c->T * c->HK * c->DK, -qk_amp, qk_amp);
    io.v = la_buf(dt, (size_t)c->T * c->HV * c->DV, -1, 1);
    io.g = la_buf(MLXC_F32, (size_t)c->T * c->HV, -1.2, -0.01);
    io.beta = la_buf(MLXC_F32, (size_t)c->T * c->HV, 0.05, 0.95);
    io.state = ot_alloc(dev, MLXC_F32, (size_t)c->HV * c->DK * c->DV);
    if (has_state) la_fill(io.state.h, io.state.n, -0.5, 0.5);
    ot_upload(&io.state);
    return io;
}
static void gdn_free(gdn_io *io) {
    ot_free(&io->q); ot_free(&io->k); ot_free(&io->v);
    ot_free(&io->g); ot_free(&io->beta); ot_free(&io->state);
}
static mlxc_gdn_desc gdn_desc(const gdn_case *c, uint32_t T) {
    mlxc_gdn_desc d = {1, T, c->HK, c->HV, c->DK, c->DV, c->l2norm != 0, (float)c->scale};
    return d;
}

/* Run one form over the whole case from io's initial state (left as it
 * was); out and the final state come back in *out, *st. */
static void gdn_run_form(const gdn_case *c, gdn_io *io, int chunked, mlxc_dtype dt, ot_buf *out, ot_buf *st) {
    *out = ot_out(dev, dt, (size_t)c->T * c->HV * c->DV);
    *st = ot_alloc(dev, MLXC_F32, io->state.n);
    memcpy(st->h, io->state.h, st->n * sizeof(double));
    ot_upload(st);
    const mlxc_gdn_desc d = gdn_desc(c, c->T);
    if (chunked) OT_RUN(dev, mlxc_gdn_chunked(enc, io->q.b, io->k.b, io->v.b, io->g.b, io->beta.b, st->b, out->b, &d));
    else OT_RUN(dev, mlxc_gdn_recurrent(enc, io->q.b, io->k.b, io->v.b, io->g.b, io->beta.b, st->b, out->b, &d));
    ot_download(out);
    ot_download(st);
}

static const gdn_case k_cases[] = {
    {1, 1, 1, 4, 4, 1, 0},        {5, 2, 2, 16, 8, 0, 0.25},   {64, 1, 2, 32, 32, 1, 0},
    {65, 2, 4, 64, 16, 1, 0},     {130, 2, 4, 128, 128, 1, 0}, {129, 1, 1, 256, 256, 1, 0},
    {200, 3, 6, 24, 40, 1, 0.5},
};
#define NCASES (sizeof k_cases / sizeof *k_cases)

static void gdn_vs_double(void) {
    for (size_t ci = 0; ci < NCASES; ci++)
        for (int di = 0; di < 2; di++) {
            const gdn_case *c = &k_cases[ci];
            const mlxc_dtype dt = di ? MLXC_BF16 : MLXC_F32;
            la_x = 0x9e3779b97f4a7c15ull + ci;
            gdn_io io = gdn_inputs(c, dt, c->l2norm ? 1.0 : 0.3, ci % 2);
            double *S = malloc(io.state.n * sizeof *S), *ref = malloc((size_t)c->T * c->HV * c->DV * sizeof *ref);
            memcpy(S, io.state.h, io.state.n * sizeof *S);
            gdn_ref(c, io.q.h, io.k.h, io.v.h, io.g.h, io.beta.h, S, ref);
            for (int chunked = 0; chunked < 2; chunked++) {
                ot_buf out, st;
                gdn_run_form(c, &io, chunked, dt, &out, &st);
                const double tol = dt == MLXC_F32 ? TOL32 : ot_tol(dt);
                OT_CLOSE(&out, ref, tol, "%s out T %u HK %u HV %u DK %u DV %u %s", chunked ? "chunked" : "recurrent",
                         c->T, c->HK, c->HV, c->DK, c->DV, mlxc_dtype_name(dt));
                /* The state stays f32: only the inputs' rounding (already
                 * in the reference) separates it from the double one. */
                OT_CLOSE(&st, S, TOL32, "%s state T %u DK %u DV %u %s", chunked ? "chunked" : "recurrent", c->T, c->DK,
                         c->DV, mlxc_dtype_name(dt));
                ot_free(&out);
                ot_free(&st);
            }
            free(S);
            free(ref);
            gdn_free(&io);
        }
}

static void gdn_chunked_equals_recurrent(void) {
    for (size_t ci = 0; ci < NCASES; ci++) {
        const gdn_case *c = &k_cases[ci];
        la_x = 0x51ed270b27a3f1e5ull + ci;
        gdn_io io = gdn_inputs(c, MLXC_F32, c->l2norm ? 1.0 : 0.3, 1);
        ot_buf o_r, s_r, o_c, s_c;
        gdn_run_form(c, &io, 0, MLXC_F32, &o_r, &s_r);
        gdn_run_form(c, &io, 1, MLXC_F32, &o_c, &s_c);
        OT_CLOSE(&o_c, o_r.h, TOL32, "out T %u DK %u DV %u", c->T, c->DK, c->DV);
        OT_CLOSE(&s_c, s_r.h, TOL32, "state T %u DK %u DV %u", c->T, c->DK, c->DV);
        ot_free(&o_r); ot_free(&s_r); ot_free(&o_c); ot_free(&s_c);
        gdn_free(&io);
    }
}

/* Two sequences at once, a chunked prefill of the first P tokens, then
 * the rest one token at a time through the recurrent form: equal to the
 * double reference of each sequence alone. */
static void gdn_prefill_then_decode(void) {
    const gdn_case c = {70, 2, 4, 32, 16, 1, 0};
    const uint32_t NS = 2, P = 66, T = c.T;
    const size_t nq = (size_t)T * c.HK * c.DK, nv = (size_t)T * c.HV * c.DV, ng = (size_t)T * c.HV;
    const size_t ns = (size_t)c.HV * c.DK * c.DV;
    la_x = 77;
    ot_buf q = la_buf(MLXC_F32, NS * nq, -1, 1), k = la_buf(MLXC_F32, NS * nq, -1, 1);
    ot_buf v = la_buf(MLXC_F32, NS * nv, -1, 1), g = la_buf(MLXC_F32, NS * ng, -1.2, -0.01);
    ot_buf beta = la_buf(MLXC_F32, NS * ng, 0.05, 0.95), st = la_buf(MLXC_F32, NS * ns, -0.5, 0.5);
    ot_buf out = ot_out(dev, MLXC_F32, NS * nv);
    double *S = malloc(NS * ns * sizeof *S), *ref = malloc(NS * nv * sizeof *ref);
    memcpy(S, st.h, NS * ns * sizeof *S);
    for (uint32_t s = 0; s < NS; s++)
        gdn_ref(&c, q.h + s * nq, k.h + s * nq, v.h + s * nv, g.h + s * ng, beta.h + s * ng, S + s * ns, ref + s * nv);
    /* The prefill inputs are the first P tokens of each sequence: gather them. */
    ot_buf pq = ot_alloc(dev, MLXC_F32, NS * P * c.HK * c.DK), pk = ot_alloc(dev, MLXC_F32, pq.n);
    ot_buf pv = ot_alloc(dev, MLXC_F32, NS * P * c.HV * c.DV), pg = ot_alloc(dev, MLXC_F32, NS * P * c.HV);
    ot_buf pb = ot_alloc(dev, MLXC_F32, pg.n), po = ot_out(dev, MLXC_F32, pv.n);
    for (uint32_t s = 0; s < NS; s++) {
        memcpy(pq.h + (size_t)s * P * c.HK * c.DK, q.h + s * nq, (size_t)P * c.HK * c.DK * sizeof(double));
        memcpy(pk.h + (size_t)s * P * c.HK * c.DK, k.h + s * nq, (size_t)P * c.HK * c.DK * sizeof(double));
        memcpy(pv.h + (size_t)s * P * c.HV * c.DV, v.h + s * nv, (size_t)P * c.HV * c.DV * sizeof(double));
        memcpy(pg.h + (size_t)s * P * c.HV, g.h + s * ng, (size_t)P * c.HV * sizeof(double));
        memcpy(pb.h + (size_t)s * P * c.HV, beta.h + s * ng, (size_t)P * c.HV * sizeof(double));
    }
    ot_upload(&pq); ot_upload(&pk); ot_upload(&pv); ot_upload(&pg); ot_upload(&pb);
    mlxc_gdn_desc d = {NS, P, c.HK, c.HV, c.DK, c.DV, true, 0};
    OT_RUN(dev, mlxc_gdn_chunked(enc, pq.b, pk.b, pv.b, pg.b, pb.b, st.b, po.b, &d));
    ot_download(&po);
    double *pref = malloc(po.n * sizeof *pref);
    for (uint32_t s = 0; s < NS; s++)
        memcpy(pref + (size_t)s * P * c.HV * c.DV, ref + s * nv, (size_t)P * c.HV * c.DV * sizeof(double));
    OT_CLOSE(&po, pref, TOL32, "prefill of %u tokens", P);
    /* Decode: one token of both sequences a call. */
    d.seq_len = 1;
    ot_buf dq = ot_alloc(dev, MLXC_F32, NS * c.HK * c.DK), dk = ot_alloc(dev, MLXC_F32, dq.n);
    ot_buf dv = ot_alloc(dev, MLXC_F32, NS * c.HV * c.DV), dg = ot_alloc(dev, MLXC_F32, NS * c.HV);
    ot_buf db = ot_alloc(dev, MLXC_F32, dg.n), dout = ot_out(dev, MLXC_F32, dv.n);
    double dref[2 * 4 * 16];
    for (uint32_t t = P; t < T; t++) {
        for (uint32_t s = 0; s < NS; s++) {
            memcpy(dq.h + (size_t)s * c.HK * c.DK, q.h + s * nq + (size_t)t * c.HK * c.DK, c.HK * c.DK * sizeof(double));
            memcpy(dk.h + (size_t)s * c.HK * c.DK, k.h + s * nq + (size_t)t * c.HK * c.DK, c.HK * c.DK * sizeof(double));
            memcpy(dv.h + (size_t)s * c.HV * c.DV, v.h + s * nv + (size_t)t * c.HV * c.DV, c.HV * c.DV * sizeof(double));
            memcpy(dg.h + (size_t)s * c.HV, g.h + s * ng + (size_t)t * c.HV, c.HV * sizeof(double));
            memcpy(db.h + (size_t)s * c.HV, beta.h + s * ng + (size_t)t * c.HV, c.HV * sizeof(double));
            memcpy(dref + (size_t)s * c.HV * c.DV, ref + s * nv + (size_t)t * c.HV * c.DV, c.HV * c.DV * sizeof(double));
        }
        ot_upload(&dq); ot_upload(&dk); ot_upload(&dv); ot_upload(&dg); ot_upload(&db);
        OT_RUN(dev, mlxc_gdn_recurrent(enc, dq.b, dk.b, dv.b, dg.b, db.b, st.b, dout.b, &d));
        ot_download(&dout);
        OT_CLOSE(&dout, dref, TOL32, "decode token %u", t);
    }
    ot_download(&st);
    OT_CLOSE(&st, S, TOL32, "final state");
    free(S); free(ref); free(pref);
    ot_buf *all[] = {&q, &k, &v, &g, &beta, &st, &out, &pq, &pk, &pv, &pg, &pb, &po, &dq, &dk, &dv, &dg, &db, &dout};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) ot_free(all[i]);
}

/* ---- against transformers ------------------------------------------------------- */

#define FIX_DIR MLXC_SOURCE_DIR "/tests/fixtures/linear_attn/"

static const float *fix_f32(const char *buf, size_t len, size_t *at, size_t n) {
    if (*at + n * 4 > len) return NULL;
    const float *p = (const float *)(buf + *at);
    *at += n * 4;
    return p;
}

static void gdn_vs_transformers(void) {
    static const char *const names[] = {"hd128", "hd32x48", "nonorm"};
    for (size_t fi = 0; fi < 3; fi++) {
        char path[512];
        snprintf(path, sizeof path, FIX_DIR "gdn_%s.bin", names[fi]);
        size_t len = 0;
        char *buf = read_file(path, &len);
        CHECK_MSG(buf != NULL && len >= 44, "%s", path);
        if (!buf || len < 44) { free(buf); continue; }
        uint32_t hd[10];
        float amp;
        memcpy(hd, buf, sizeof hd);
        memcpy(&amp, buf + 40, 4);
        const gdn_case c = {hd[1], hd[2], hd[3], hd[4], hd[5], (int)hd[6], 0};
        const uint32_t nt = hd[8], nr = hd[9];
        const uint32_t *toks = (const uint32_t *)(buf + 44), *rows = toks + nt;
        size_t at = 44 + 4 * (size_t)(nt + nr);
        la_x = hd[0];
        gdn_io io = gdn_inputs(&c, MLXC_F32, amp, (int)hd[7]);
        for (int form = 0; form < 2; form++) {
            const float *fo = fix_f32(buf, len, &at, (size_t)nt * c.HV * c.DV);
            const float *fs = fix_f32(buf, len, &at, (size_t)c.HV * nr * c.DV);
            CHECK_MSG(fo && fs, "%s is short", path);
            if (!fo || !fs) break;
            /* Each of our forms against each transformers function. */
            for (int chunked = 0; chunked < 2; chunked++) {
                ot_buf out, st;
                gdn_run_form(&c, &io, chunked, MLXC_F32, &out, &st);
                ot_buf ko = {NULL, MLXC_F32, (size_t)nt * c.HV * c.DV, malloc((size_t)nt * c.HV * c.DV * sizeof(double))};
                ot_buf ks = {NULL, MLXC_F32, (size_t)c.HV * nr * c.DV, malloc((size_t)c.HV * nr * c.DV * sizeof(double))};
                double *ro = malloc(ko.n * sizeof *ro), *rs = malloc(ks.n * sizeof *rs);
                for (uint32_t i = 0; i < nt; i++)
                    for (size_t j = 0; j < (size_t)c.HV * c.DV; j++) {
                        ko.h[i * c.HV * c.DV + j] = out.h[(size_t)toks[i] * c.HV * c.DV + j];
                        ro[i * c.HV * c.DV + j] = fo[i * c.HV * c.DV + j];
                    }
                for (uint32_t h = 0; h < c.HV; h++)
                    for (uint32_t r = 0; r < nr; r++)
                        for (uint32_t j = 0; j < c.DV; j++) {
                            ks.h[((size_t)h * nr + r) * c.DV + j] = st.h[((size_t)h * c.DK + rows[r]) * c.DV + j];
                            rs[((size_t)h * nr + r) * c.DV + j] = fs[((size_t)h * nr + r) * c.DV + j];
                        }
                const char *fn = form ? "torch_chunk_gated_delta_rule" : "torch_recurrent_gated_delta_rule";
                OT_CLOSE(&ko, ro, TOL32, "%s: our %s out vs %s", names[fi], chunked ? "chunked" : "recurrent", fn);
                OT_CLOSE(&ks, rs, TOL32, "%s: our %s state vs %s", names[fi], chunked ? "chunked" : "recurrent", fn);
                free(ko.h); free(ks.h); free(ro); free(rs);
                ot_free(&out);
                ot_free(&st);
            }
        }
        gdn_free(&io);
        free(buf);
    }
}

/* ---- short convolution ------------------------------------------------------------ */

/* out (T, C) and the state (W-1, C) updated, one sequence, in double. */
static void conv_ref(uint32_t T, uint32_t C, uint32_t W, const double *x, const double *w, double *st, int act,
                     double *out) {
    for (uint32_t c = 0; c < C; c++)
        for (uint32_t t = 0; t < T; t++) {
            double acc = 0;
            for (uint32_t j = 0; j < W; j++) {
                const int64_t src = (int64_t)t - (int64_t)(W - 1) + j; /* < 0: the state */
                acc += w[c * W + j] * (src < 0 ? st[(size_t)(src + W - 1) * C + c] : x[(size_t)src * C + c]);
            }
            out[(size_t)t * C + c] = act ? silu_d(acc) : acc;
        }
    /* the new state: the last W-1 of (state, x) */
    double *tmp = malloc((size_t)(W - 1 + T) * C * sizeof *tmp);
    memcpy(tmp, st, (size_t)(W - 1) * C * sizeof *tmp);
    memcpy(tmp + (size_t)(W - 1) * C, x, (size_t)T * C * sizeof *tmp);
    memcpy(st, tmp + (size_t)T * C, (size_t)(W - 1) * C * sizeof *tmp);
    free(tmp);
}

static void conv_vs_double(void) {
    for (uint32_t W = 2; W <= 4; W++)
        for (int di = 0; di < 3; di++) {
            const mlxc_dtype dt = ot_float_dtypes[di];
            const uint32_t NS = 2, T = 13, C = 37;
            la_x = 1000 + W * 3 + di;
            ot_buf x = la_buf(dt, (size_t)NS * T * C, -1, 1), w = la_buf(dt, (size_t)C * W, -0.6, 0.6);
            ot_buf st = la_buf(dt, (size_t)NS * (W - 1) * C, -1, 1), out = ot_out(dev, dt, x.n);
            double *S = malloc(st.n * sizeof *S), *ref = malloc(x.n * sizeof *ref);
            memcpy(S, st.h, st.n * sizeof *S);
            for (uint32_t s = 0; s < NS; s++)
                conv_ref(T, C, W, x.h + (size_t)s * T * C, w.h, S + (size_t)s * (W - 1) * C, W != 3,
                         ref + (size_t)s * T * C);
            /* First T - 1 tokens as one call, the last alone (the decode step). */
            mlxc_short_conv_desc d = {NS, T, C, W, W != 3};
            OT_RUN(dev, mlxc_short_conv(enc, x.b, w.b, st.b, out.b, &d));
            ot_download(&out);
            ot_download(&st);
            OT_CLOSE(&out, ref, ot_tol(dt) * 2, "W %u %s", W, mlxc_dtype_name(dt));
            OT_EXACT(&st, S, "state W %u %s", W, mlxc_dtype_name(dt));
            /* In place, over the same inputs, split into prefill + decode. */
            la_x = 1000 + W * 3 + di;
            ot_buf x2 = la_buf(dt, (size_t)NS * T * C, -1, 1);
            ot_free(&w);
            w = la_buf(dt, (size_t)C * W, -0.6, 0.6);
            ot_buf st2 = la_buf(dt, (size_t)NS * (W - 1) * C, -1, 1);
            ot_buf part = ot_alloc(dev, dt, (size_t)NS * (T - 1) * C), one = ot_alloc(dev, dt, (size_t)NS * C);
            for (uint32_t s = 0; s < NS; s++) {
                memcpy(part.h + (size_t)s * (T - 1) * C, x2.h + (size_t)s * T * C, (size_t)(T - 1) * C * sizeof(double));
                memcpy(one.h + (size_t)s * C, x2.h + ((size_t)s * T + T - 1) * C, C * sizeof(double));
            }
            ot_upload(&part);
            ot_upload(&one);
            d.seq_len = T - 1;
            OT_RUN(dev, mlxc_short_conv(enc, part.b, w.b, st2.b, part.b, &d));
            d.seq_len = 1;
            OT_RUN(dev, mlxc_short_conv(enc, one.b, w.b, st2.b, one.b, &d));
            ot_download(&part);
            ot_download(&one);
            ot_download(&st2);
            ot_buf joined = ot_alloc(dev, dt, x.n);
            for (uint32_t s = 0; s < NS; s++) {
                memcpy(joined.h + (size_t)s * T * C, part.h + (size_t)s * (T - 1) * C, (size_t)(T - 1) * C * sizeof(double));
                memcpy(joined.h + ((size_t)s * T + T - 1) * C, one.h + (size_t)s * C, C * sizeof(double));
            }
            OT_EXACT(&joined, out.h, "prefill + decode == one call, W %u %s", W, mlxc_dtype_name(dt));
            OT_EXACT(&st2, S, "state after prefill + decode W %u %s", W, mlxc_dtype_name(dt));
            free(S); free(ref);
            ot_buf *all[] = {&x, &w, &st, &out, &x2, &st2, &part, &one, &joined};
            for (size_t i = 0; i < sizeof all / sizeof *all; i++) ot_free(all[i]);
        }
}

static void conv_vs_transformers(void) {
    static const char *const names[] = {"w4", "w2"};
    for (int fi = 0; fi < 2; fi++) {
        char path[512];
        snprintf(path, sizeof path, FIX_DIR "conv_%s.bin", names[fi]);
        size_t len = 0;
        char *buf = read_file(path, &len);
        CHECK_MSG(buf != NULL && len >= 16, "%s", path);
        if (!buf || len < 16) { free(buf); continue; }
        uint32_t hd[4];
        memcpy(hd, buf, sizeof hd);
        const uint32_t T = hd[1], C = hd[2], W = hd[3];
        size_t at = 16;
        const float *fo = fix_f32(buf, len, &at, (size_t)T * C), *fs = fix_f32(buf, len, &at, (size_t)(W - 1) * C);
        CHECK(fo && fs);
        if (fo && fs) {
            la_x = hd[0];
            ot_buf x = la_buf(MLXC_F32, (size_t)T * C, -1, 1), w = la_buf(MLXC_F32, (size_t)C * W, -0.6, 0.6);
            ot_buf st = la_buf(MLXC_F32, (size_t)(W - 1) * C, -1, 1), out = ot_out(dev, MLXC_F32, x.n);
            mlxc_short_conv_desc d = {1, T, C, W, true};
            OT_RUN(dev, mlxc_short_conv(enc, x.b, w.b, st.b, out.b, &d));
            ot_download(&out);
            ot_download(&st);
            double *ro = malloc(out.n * sizeof *ro), *rs = malloc(st.n * sizeof *rs);
            for (size_t i = 0; i < out.n; i++) ro[i] = fo[i];
            for (size_t i = 0; i < st.n; i++) rs[i] = fs[i];
            OT_CLOSE(&out, ro, TOL32, "conv_%s vs causal_conv1d_update", names[fi]);
            OT_EXACT(&st, rs, "conv_%s state", names[fi]);
            free(ro); free(rs);
            ot_free(&x); ot_free(&w); ot_free(&st); ot_free(&out);
        }
        free(buf);
    }
}

/* ---- gates and the gated norm -------------------------------------------------- */

static double softplus_d(double v) { return v > 20 ? v : log1p(exp(v)); }

static void gating(void) {
    /* Against transformers' formula. */
    char *buf;
    size_t len = 0;
    CHECK((buf = read_file(FIX_DIR "gate_h8.bin", &len)) != NULL && len >= 12);
    if (buf && len >= 12) {
        uint32_t hd[3];
        memcpy(hd, buf, sizeof hd);
        const uint32_t R = hd[1], H = hd[2];
        size_t at = 12;
        const float *fg = fix_f32(buf, len, &at, (size_t)R * H), *fb = fix_f32(buf, len, &at, (size_t)R * H);
        CHECK(fg && fb);
        if (fg && fb) {
            la_x = hd[0];
            ot_buf a = la_buf(MLXC_F32, (size_t)R * H, -4, 4), b = la_buf(MLXC_F32, (size_t)R * H, -4, 4);
            ot_buf al = la_buf(MLXC_F32, H, -2, 2), dtb = la_buf(MLXC_F32, H, -1, 1);
            ot_buf g = ot_out(dev, MLXC_F32, a.n), be = ot_out(dev, MLXC_F32, a.n);
            OT_RUN(dev, mlxc_gdn_gating(enc, a.b, b.b, al.b, dtb.b, g.b, be.b, H));
            ot_download(&g);
            ot_download(&be);
            double *rg = malloc(a.n * sizeof *rg), *rb = malloc(a.n * sizeof *rb);
            for (size_t i = 0; i < a.n; i++) {
                rg[i] = fg[i];
                rb[i] = fb[i];
            }
            OT_CLOSE(&g, rg, 1e-6, "g vs transformers");
            OT_CLOSE(&be, rb, 1e-6, "beta vs transformers");
            free(rg); free(rb);
            ot_free(&a); ot_free(&b); ot_free(&al); ot_free(&dtb); ot_free(&g); ot_free(&be);
        }
    }
    free(buf);
    /* Every input dtype against double, arguments past softplus' threshold included. */
    for (int di = 0; di < 3; di++) {
        const mlxc_dtype dt = ot_float_dtypes[di];
        const uint32_t R = 33, H = 12;
        la_x = 500 + di;
        ot_buf a = la_buf(dt, (size_t)R * H, -30, 30), b = la_buf(dt, (size_t)R * H, -8, 8);
        ot_buf al = la_buf(MLXC_F32, H, -2, 2), dtb = la_buf(MLXC_F32, H, -1, 1);
        ot_buf g = ot_out(dev, MLXC_F32, a.n), be = ot_out(dev, MLXC_F32, a.n);
        OT_RUN(dev, mlxc_gdn_gating(enc, a.b, b.b, al.b, dtb.b, g.b, be.b, H));
        ot_download(&g);
        ot_download(&be);
        double *rg = malloc(a.n * sizeof *rg), *rb = malloc(a.n * sizeof *rb);
        for (size_t i = 0; i < a.n; i++) {
            const uint32_t h = (uint32_t)(i % H);
            rg[i] = -exp(al.h[h]) * softplus_d((double)(float)(a.h[i] + dtb.h[h]));
            rb[i] = 1.0 / (1.0 + exp(-b.h[i]));
        }
        OT_CLOSE(&g, rg, 1e-6, "g %s", mlxc_dtype_name(dt));
        OT_CLOSE(&be, rb, 1e-6, "beta %s", mlxc_dtype_name(dt));
        free(rg); free(rb);
        ot_free(&a); ot_free(&b); ot_free(&al); ot_free(&dtb); ot_free(&g); ot_free(&be);
    }
}

static double round_dt(mlxc_dtype dt, double v) {
    return dt == MLXC_F32 ? v : dt == MLXC_F16 ? mlxc_f16_to_f32(mlxc_f32_to_f16((float)v))
                                               : mlxc_bf16_to_f32(mlxc_f32_to_bf16((float)v));
}

static void norm_gated(void) {
    char *buf;
    size_t len = 0;
    CHECK((buf = read_file(FIX_DIR "norm_d64.bin", &len)) != NULL && len >= 16);
    if (buf && len >= 16) {
        uint32_t hd[3];
        float eps;
        memcpy(hd, buf, sizeof hd);
        memcpy(&eps, buf + 12, 4);
        const uint32_t R = hd[1], D = hd[2];
        size_t at = 16;
        const float *fo = fix_f32(buf, len, &at, (size_t)R * D);
        CHECK(fo != NULL);
        if (fo) {
            la_x = hd[0];
            ot_buf x = la_buf(MLXC_F32, (size_t)R * D, -2, 2), z = la_buf(MLXC_F32, (size_t)R * D, -2, 2);
            ot_buf w = la_buf(MLXC_F32, D, 0.5, 1.5), out = ot_out(dev, MLXC_F32, x.n);
            OT_RUN(dev, mlxc_rms_norm_gated(enc, x.b, z.b, w.b, out.b, D, eps));
            ot_download(&out);
            double *ro = malloc(out.n * sizeof *ro);
            for (size_t i = 0; i < out.n; i++) ro[i] = fo[i];
            OT_CLOSE(&out, ro, 1e-6, "vs Qwen3NextRMSNormGated");
            free(ro);
            ot_free(&x); ot_free(&z); ot_free(&w); ot_free(&out);
        }
    }
    free(buf);
    for (int di = 0; di < 3; di++) {
        const mlxc_dtype dt = ot_float_dtypes[di];
        const uint32_t R = 9, D = 128;
        la_x = 900 + di;
        ot_buf x = la_buf(dt, (size_t)R * D, -2, 2), z = la_buf(dt, (size_t)R * D, -3, 3);
        ot_buf w = la_buf(dt, D, 0.5, 1.5), out = ot_out(dev, dt, x.n);
        OT_RUN(dev, mlxc_rms_norm_gated(enc, x.b, z.b, w.b, out.b, D, 1e-6f));
        ot_download(&out);
        double *ref = malloc(x.n * sizeof *ref);
        for (uint32_t r = 0; r < R; r++) {
            double ss = 0;
            for (uint32_t i = 0; i < D; i++) ss += x.h[r * D + i] * x.h[r * D + i];
            const double inv = 1.0 / sqrt(ss / D + 1e-6);
            for (uint32_t i = 0; i < D; i++) {
                const double n = round_dt(dt, x.h[r * D + i] * inv), nw = round_dt(dt, w.h[i] * n);
                ref[r * D + i] = nw * silu_d(z.h[r * D + i]);
            }
        }
        OT_CLOSE(&out, ref, dt == MLXC_F32 ? 1e-6 : ot_tol(dt), "%s", mlxc_dtype_name(dt));
        /* in place over x */
        OT_RUN(dev, mlxc_rms_norm_gated(enc, x.b, z.b, w.b, x.b, D, 1e-6f));
        ot_download(&x);
        OT_EXACT(&x, out.h, "in place %s", mlxc_dtype_name(dt));
        free(ref);
        ot_free(&x); ot_free(&z); ot_free(&w); ot_free(&out);
    }
}

int main(void) {
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &dev) != MLXC_OK) {
        fprintf(stderr, "cannot open the CPU device: %s\n", mlxc_last_error());
        return 1;
    }
    RUN(gdn_vs_double);
    RUN(gdn_chunked_equals_recurrent);
    RUN(gdn_prefill_then_decode);
    RUN(gdn_vs_transformers);
    RUN(conv_vs_double);
    RUN(conv_vs_transformers);
    RUN(gating);
    RUN(norm_gated);
    mlxc_device_close(dev);
    HARNESS_END();
}
