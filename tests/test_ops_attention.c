/* Attention (include/mlxc/ops_attention.h) on the CPU against a double-
 * precision reference: decode and prefill over every GQA ratio 1..8, head
 * dims 64/96/128/256, windows shorter and longer than the context, softcap
 * on and off, caches longer than the valid length (the unused positions
 * hold NaN, so reading one shows), ring caches, device-side lengths, odd
 * lengths, prefill with a query offset; fresh random inputs and outputs
 * poisoned with NaN.  Also the argument checks, and the decode scratch
 * contract: the counter region zero on entry is enough (the partials are
 * NaN-poisoned), every call leaves the counters zero, and one scratch gives
 * correct results across lengths, descs, split counts, repeated calls in
 * one command buffer and captured-graph replays.  The contract tests also
 * run on the default device when that is not the CPU (MLXC_BACKEND=cuda).
 *
 * tests/test_ops_attention_parity.c includes this file (ATTN_NO_MAIN) and
 * runs the same cases on the CUDA device. */
#include "mlxc/ops_attention.h"
#include "ops_test.h"

/* One attention case: shapes, options and the host data (doubles holding
 * the values as stored in their dtype). */
typedef struct attn_case {
    uint32_t   H, KVH, hd, cap, len, window, q_len, q_offset;
    float      scale, softcap;
    bool       ring, prefill;
    int        len_buf;      /* 0 none, 1 u32, 2 i32 (decode)   */
    mlxc_dtype q_dt, kv_dt, out_dt;
    double    *q, *k, *v;    /* host values                     */
} attn_case;

static double ac_round(mlxc_dtype dt, double x) {
    unsigned char raw[8];
    ot_st(dt, raw, 0, x);
    return ot_ld(dt, raw, 0);
}

/* Fill q, k, v; unused cache positions hold NaN. */
static void ac_fill(attn_case *c) {
    const size_t qn = (size_t)(c->prefill ? c->q_len : 1) * c->H * c->hd;
    const size_t kn = (size_t)c->KVH * c->cap * c->hd;
    c->q = malloc(qn * sizeof(double));
    c->k = malloc(kn * sizeof(double));
    c->v = malloc(kn * sizeof(double));
    for (size_t i = 0; i < qn; i++) c->q[i] = ac_round(c->q_dt, ot_uniform(-1, 1));
    const uint32_t valid = c->ring ? c->cap : c->len;
    for (size_t i = 0; i < kn; i++) {
        const uint32_t pos = (uint32_t)((i / c->hd) % c->cap);
        const bool ok = pos < valid;
        c->k[i] = ok ? ac_round(c->kv_dt, ot_uniform(-1, 1)) : NAN;
        c->v[i] = ok ? ac_round(c->kv_dt, ot_uniform(-2, 2)) : NAN;
    }
}
static void ac_free(attn_case *c) {
    free(c->q);
    free(c->k);
    free(c->v);
}

/* out[row] = attention of query row (head h, position P) over [lo, hi). */
static void ac_ref_row(const attn_case *c, const double *qr, uint32_t h, int64_t lo, int64_t hi, double *o) {
    const uint32_t kvh = h / (c->H / c->KVH), hd = c->hd;
    double m = -INFINITY, l = 0;
    double *s = malloc((size_t)(hi > lo ? hi - lo : 1) * sizeof(double));
    for (int64_t p = lo; p < hi; p++) {
        const uint64_t slot = c->ring ? (uint64_t)p % c->cap : (uint64_t)p;
        const double *kr = c->k + ((uint64_t)kvh * c->cap + slot) * hd;
        double x = 0;
        for (uint32_t d = 0; d < hd; d++) x += qr[d] * kr[d];
        x *= c->scale;
        if (c->softcap > 0) x = c->softcap * tanh(x / c->softcap);
        s[p - lo] = x;
        if (x > m) m = x;
    }
    for (uint32_t d = 0; d < hd; d++) o[d] = 0;
    for (int64_t p = lo; p < hi; p++) {
        const uint64_t slot = c->ring ? (uint64_t)p % c->cap : (uint64_t)p;
        const double *vr = c->v + ((uint64_t)kvh * c->cap + slot) * hd, e = exp(s[p - lo] - m);
        l += e;
        for (uint32_t d = 0; d < hd; d++) o[d] += e * vr[d];
    }
    for (uint32_t d = 0; d < hd; d++) o[d] = l > 0 ? o[d] / l : 0;
    free(s);
}

/* The reference output (rounded to out_dt). */
static double *ac_reference(const attn_case *c) {
    const uint32_t rows = c->prefill ? c->q_len : 1, hd = c->hd;
    double *o = malloc((size_t)rows * c->H * hd * sizeof(double));
    for (uint32_t t = 0; t < rows; t++)
        for (uint32_t h = 0; h < c->H; h++) {
            int64_t lo, hi;
            if (c->prefill) {
                const int64_t P = (int64_t)c->q_offset + t;
                hi = P + 1 < (int64_t)c->len ? P + 1 : (int64_t)c->len;
                lo = c->window && P + 1 > (int64_t)c->window ? P + 1 - c->window : 0;
            } else {
                hi = c->len;
                if (!c->ring && hi > c->cap) hi = c->cap;
                lo = c->window && hi > (int64_t)c->window ? hi - c->window : 0;
                if (c->ring && hi - lo > (int64_t)c->cap) lo = hi - c->cap;
            }
            double *orow = o + ((size_t)t * c->H + h) * hd;
            ac_ref_row(c, c->q + ((size_t)t * c->H + h) * hd, h, lo, hi, orow);
            for (uint32_t d = 0; d < hd; d++) orow[d] = ac_round(c->out_dt, orow[d]);
        }
    return o;
}

static mlxc_attention_desc ac_desc(const attn_case *c) {
    mlxc_attention_desc d = {sizeof(mlxc_attention_desc), c->H, c->KVH, c->hd, c->cap, c->len, c->window, c->scale, c->softcap,
                             c->ring, c->q_len, c->q_offset};
    return d;
}

/* Bytes of the decode scratch's counter region (ops_attention.h). */
static size_t ac_counter_bytes(uint32_t n_kv_heads) { return 4096u * (((size_t)n_kv_heads + 1023u) / 1024u); }

/* A decode scratch of `bytes`: the counter region zero, as the contract
 * asks, and everything after it NaN, so a partial read before it is
 * written shows. */
static mlxc_buffer *ac_scratch(mlxc_device *dev, size_t bytes, uint32_t n_kv_heads) {
    ot_buf sc = ot_out(dev, MLXC_F32, bytes / 4);
    const size_t cb = ac_counter_bytes(n_kv_heads);
    unsigned char *zero = calloc(1, cb);
    if (cb <= bytes) CHECK_OK(mlxc_buffer_write(sc.b, 0, zero, cb));
    free(zero);
    free(sc.h);
    return sc.b;
}

/* Whether the counter region of scratch is all zero again. */
static bool ac_counters_zero(const mlxc_buffer *scratch, uint32_t n_kv_heads) {
    const size_t cb = ac_counter_bytes(n_kv_heads);
    unsigned char *raw = malloc(cb);
    bool zero = mlxc_buffer_read(scratch, 0, raw, cb) == MLXC_OK;
    for (size_t i = 0; zero && i < cb; i++) zero = raw[i] == 0;
    free(raw);
    return zero;
}

/* Run the case on `dev`; returns the output (host doubles) or NULL. */
static double *ac_run(mlxc_device *dev, const attn_case *c) {
    const uint32_t rows = c->prefill ? c->q_len : 1;
    const size_t qn = (size_t)rows * c->H * c->hd, kn = (size_t)c->KVH * c->cap * c->hd;
    ot_buf q = ot_alloc(dev, c->q_dt, qn), k = ot_alloc(dev, c->kv_dt, kn), v = ot_alloc(dev, c->kv_dt, kn);
    memcpy(q.h, c->q, qn * sizeof(double));
    memcpy(k.h, c->k, kn * sizeof(double));
    memcpy(v.h, c->v, kn * sizeof(double));
    ot_upload(&q);
    ot_upload(&k);
    ot_upload(&v);
    ot_buf out = ot_out(dev, c->out_dt, qn);
    mlxc_attention_desc d = ac_desc(c);
    mlxc_buffer *scratch = NULL, *lb = NULL;
    ot_buf lbuf = {0};
    double *res = NULL;
    if (c->prefill) {
        OT_RUN(dev, mlxc_attention_prefill(enc, q.b, k.b, v.b, out.b, &d));
    } else {
        size_t sb = 0;
        CHECK_OK(mlxc_attention_decode_scratch_bytes(dev, &d, &sb));
        scratch = ac_scratch(dev, sb, c->KVH);
        if (c->len_buf) {
            /* L = kv_len + len_buf[0]: split the length between the two. */
            lbuf = ot_alloc(dev, c->len_buf == 1 ? MLXC_U32 : MLXC_I32, 1);
            lbuf.h[0] = c->len - 1;
            d.kv_len = 1;
            ot_upload(&lbuf);
            lb = lbuf.b;
        }
        OT_RUN(dev, mlxc_attention_decode(enc, q.b, k.b, v.b, out.b, scratch, lb, &d));
        CHECK_MSG(ac_counters_zero(scratch, c->KVH), "decode left a counter set");
    }
    ot_download(&out);
    res = malloc(qn * sizeof(double));
    memcpy(res, out.h, qn * sizeof(double));
    mlxc_buffer_release(scratch);
    if (lb) ot_free(&lbuf);
    ot_free(&q);
    ot_free(&k);
    ot_free(&v);
    ot_free(&out);
    return res;
}

static const char *ac_str(const attn_case *c, char *buf, size_t n) {
    snprintf(buf, n, "%s H=%u KVH=%u hd=%u cap=%u len=%u win=%u cap=%g ring=%d lb=%d q_len=%u off=%u %s/%s/%s",
             c->prefill ? "prefill" : "decode", c->H, c->KVH, c->hd, c->cap, c->len, c->window, (double)c->softcap,
             c->ring, c->len_buf, c->q_len, c->q_offset, mlxc_dtype_name(c->q_dt), mlxc_dtype_name(c->kv_dt),
             mlxc_dtype_name(c->out_dt));
    return buf;
}

/* The case list; `i` picks dtypes and options so that the set covers every
 * combination across cases while each stays small. */
static const uint32_t k_hds[4] = {64, 96, 128, 256};

static attn_case ac_decode_case(uint32_t i) {
    static const uint32_t lens[] = {1, 37, 129, 300, 17, 64, 511, 5};
    attn_case c;
    memset(&c, 0, sizeof c);
    const uint32_t ratio = i % 8 + 1;
    c.KVH = i % 3 == 0 ? 1 : 2;
    c.H = c.KVH * ratio;
    c.hd = k_hds[(i / 2) % 4];
    c.len = lens[i % 8];
    c.cap = c.len + (i % 4) * 13;
    c.window = i % 5 == 1 ? 7 : i % 5 == 3 ? 10000 : 0;
    c.softcap = i % 3 == 2 ? 1.5f : 0.0f;
    c.scale = 4.0f / sqrtf((float)c.hd);
    c.ring = i % 7 == 4;
    if (c.ring) c.len = c.cap + 11 + i % 5; /* wrapped around */
    c.len_buf = (int)(i % 3);
    c.q_dt = i % 2 ? MLXC_BF16 : MLXC_F32;
    c.kv_dt = (i / 3) % 2 ? MLXC_F16 : MLXC_BF16;
    c.out_dt = i % 4 == 1 ? MLXC_BF16 : i % 4 == 2 ? MLXC_F16 : MLXC_F32;
    return c;
}

static attn_case ac_prefill_case(uint32_t i) {
    static const uint32_t qlens[] = {1, 5, 37, 70, 16, 129};
    attn_case c;
    memset(&c, 0, sizeof c);
    const uint32_t ratio = i % 8 + 1;
    c.prefill = true;
    c.KVH = i % 2 ? 1 : 2;
    c.H = c.KVH * ratio;
    c.hd = k_hds[(i / 2 + i) % 4];
    c.q_len = qlens[i % 6];
    c.q_offset = i % 3 == 1 ? 13 : i % 3 == 2 ? 64 : 0;
    c.len = c.q_offset + c.q_len - (i % 5 == 4 ? (c.q_len + 1) / 2 : 0); /* some queries past kv_len */
    c.cap = c.len + (i % 4) * 9 + (c.len == 0 ? 3 : 0);
    c.window = i % 4 == 1 ? 9 : i % 4 == 3 ? 5000 : 0;
    c.softcap = i % 3 == 0 ? 2.0f : 0.0f;
    c.scale = 4.0f / sqrtf((float)c.hd);
    c.q_dt = i % 3 == 2 ? MLXC_F32 : i % 3 == 1 ? MLXC_F16 : MLXC_BF16;
    c.kv_dt = i % 2 ? MLXC_F16 : MLXC_BF16;
    c.out_dt = i % 4 == 0 ? MLXC_F32 : i % 4 == 1 ? MLXC_BF16 : MLXC_F16;
    return c;
}

#define N_DECODE_CASES 48u
#define N_PREFILL_CASES 32u

/* Normalized error bound of a kernel that accumulates in f32 from rounded
 * inputs, by output dtype. */
static double ac_tol(mlxc_dtype out) { return out == MLXC_F32 ? 2e-5 : out == MLXC_F16 ? 1.5e-3 : 8e-3; }

/* ---- the decode scratch contract (ops_attention.h, "Decode scratch") ---- */

/* A decode case's operands on a device; lb is a u32 length buffer. */
typedef struct ac_bufs {
    ot_buf q, k, v, out, lb;
} ac_bufs;

static ac_bufs ac_upload(mlxc_device *dev, const attn_case *c) {
    const size_t qn = (size_t)c->H * c->hd, kn = (size_t)c->KVH * c->cap * c->hd;
    ac_bufs b;
    b.q = ot_alloc(dev, c->q_dt, qn);
    b.k = ot_alloc(dev, c->kv_dt, kn);
    b.v = ot_alloc(dev, c->kv_dt, kn);
    memcpy(b.q.h, c->q, qn * sizeof(double));
    memcpy(b.k.h, c->k, kn * sizeof(double));
    memcpy(b.v.h, c->v, kn * sizeof(double));
    ot_upload(&b.q);
    ot_upload(&b.k);
    ot_upload(&b.v);
    b.out = ot_out(dev, c->out_dt, qn);
    b.lb = ot_alloc(dev, MLXC_U32, 1);
    return b;
}
static void ac_bufs_free(ac_bufs *b) {
    ot_free(&b->q);
    ot_free(&b->k);
    ot_free(&b->v);
    ot_free(&b->out);
    ot_free(&b->lb);
}

/* Download `out` and compare it with the reference of c at length len. */
static void ac_check_out(attn_case *c, ot_buf *out, uint32_t len, const char *what) {
    char s[256];
    ot_download(out);
    const uint32_t keep = c->len;
    c->len = len;
    double *ref = ac_reference(c);
    OT_CLOSE(out, ref, ac_tol(c->out_dt) > 1.2e-2 ? ac_tol(c->out_dt) : 1.2e-2, "%s, length %u: %s", what, len,
             ac_str(c, s, sizeof s));
    c->len = keep;
    free(ref);
}

static attn_case ac_contract_case(uint32_t H, uint32_t KVH, uint32_t hd, uint32_t cap, uint32_t window, bool ring) {
    attn_case c;
    memset(&c, 0, sizeof c);
    c.H = H;
    c.KVH = KVH;
    c.hd = hd;
    c.cap = cap;
    c.len = cap;
    c.window = window;
    c.ring = ring;
    c.scale = 4.0f / sqrtf((float)hd);
    c.q_dt = MLXC_F32;
    c.kv_dt = MLXC_BF16;
    c.out_dt = MLXC_F32;
    ac_fill(&c);
    return c;
}

/* One scratch, zeroed once, under a sequence of decodes of three descs at
 * several lengths (host-known and from len_buf), first with the device's
 * split rule, then with 37 forced splits (two merge rounds, trailing empty
 * splits); the counters are zero after every call. */
static void scratch_sequence_on(mlxc_device *dev) {
    attn_case cs[3] = {ac_contract_case(16, 2, 128, 2500, 0, false), ac_contract_case(8, 8, 64, 300, 50, false),
                       ac_contract_case(12, 4, 256, 640, 0, true)};
    static const uint32_t lens[3][3] = {{2500, 1, 333}, {300, 17, 64}, {900, 641, 2}};
    size_t most = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass) setenv("MLXC_ATTN_DECODE_SPLITS", "37", 1);
        for (int i = 0; i < 3; i++) {
            mlxc_attention_desc d = ac_desc(&cs[i]);
            size_t sb = 0;
            CHECK_OK(mlxc_attention_decode_scratch_bytes(dev, &d, &sb));
            if (sb > most) most = sb;
        }
    }
    unsetenv("MLXC_ATTN_DECODE_SPLITS");
    mlxc_buffer *scratch = ac_scratch(dev, most, 8);
    ac_bufs b[3];
    for (int i = 0; i < 3; i++) b[i] = ac_upload(dev, &cs[i]);
    for (int pass = 0; pass < 2; pass++) {
        if (pass) setenv("MLXC_ATTN_DECODE_SPLITS", "37", 1);
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 3; i++) {
                attn_case *c = &cs[i];
                mlxc_attention_desc d = ac_desc(c);
                const uint32_t len = lens[i][j];
                const bool dev_len = (i + j) % 2 == 1;
                d.kv_len = dev_len ? 1 : len;
                if (dev_len) {
                    b[i].lb.h[0] = len - 1;
                    ot_upload(&b[i].lb);
                }
                ot_poison(&b[i].out);
                OT_RUN(dev, mlxc_attention_decode(enc, b[i].q.b, b[i].k.b, b[i].v.b, b[i].out.b, scratch,
                                                  dev_len ? b[i].lb.b : NULL, &d));
                ac_check_out(c, &b[i].out, len, pass ? "37 splits" : "default splits");
                CHECK_MSG(ac_counters_zero(scratch, 8), "pass %d, desc %d, length %u left a counter set", pass, i, len);
            }
    }
    unsetenv("MLXC_ATTN_DECODE_SPLITS");
    for (int i = 0; i < 3; i++) {
        ac_bufs_free(&b[i]);
        ac_free(&cs[i]);
    }
    mlxc_buffer_release(scratch);
}

/* Three decodes at different lengths on one scratch in one command buffer
 * (ordered by auto-barrier, then by explicit barriers), and a captured
 * graph of two decodes replayed at four device-side lengths. */
static void scratch_replay_on(mlxc_device *dev) {
    attn_case c = ac_contract_case(8, 2, 128, 1000, 0, false);
    mlxc_attention_desc d = ac_desc(&c);
    size_t sb = 0;
    CHECK_OK(mlxc_attention_decode_scratch_bytes(dev, &d, &sb));
    mlxc_buffer *scratch = ac_scratch(dev, sb, c.KVH);
    ac_bufs b = ac_upload(dev, &c);
    ot_buf outs[3];
    for (int i = 0; i < 3; i++) outs[i] = ot_out(dev, c.out_dt, (size_t)c.H * c.hd);
    static const uint32_t lens[3] = {1000, 5, 517};
    for (int mode = 0; mode < 2; mode++) {
        mlxc_encoder *enc = NULL;
        CHECK_OK(mlxc_encoder_create(dev, &enc));
        if (!enc) break;
        CHECK_OK(mlxc_encoder_set_auto_barrier(enc, mode == 0));
        for (int i = 0; i < 3; i++) {
            ot_poison(&outs[i]);
            mlxc_attention_desc di = d;
            di.kv_len = lens[i];
            if (mode == 1 && i > 0) CHECK_OK(mlxc_encoder_barrier(enc));
            CHECK_OK(mlxc_attention_decode(enc, b.q.b, b.k.b, b.v.b, outs[i].b, scratch, NULL, &di));
        }
        CHECK_OK(mlxc_encoder_commit_and_wait(enc));
        mlxc_encoder_destroy(enc);
        for (int i = 0; i < 3; i++) ac_check_out(&c, &outs[i], lens[i], mode ? "one command buffer, barriers"
                                                                              : "one command buffer, auto-barrier");
        CHECK_MSG(ac_counters_zero(scratch, c.KVH), "command buffer (mode %d) left a counter set", mode);
    }
    /* The captured graph: L = 1 + lb[0] into outs[0], then L = 1 into outs[1]. */
    mlxc_encoder *cap = NULL;
    CHECK_OK(mlxc_encoder_create(dev, &cap));
    mlxc_graph *g = NULL;
    mlxc_graph_exec *ex = NULL;
    if (cap) {
        CHECK_OK(mlxc_encoder_start_capture(cap));
        mlxc_attention_desc d1 = d;
        d1.kv_len = 1;
        CHECK_OK(mlxc_attention_decode(cap, b.q.b, b.k.b, b.v.b, outs[0].b, scratch, b.lb.b, &d1));
        CHECK_OK(mlxc_encoder_barrier(cap));
        CHECK_OK(mlxc_attention_decode(cap, b.q.b, b.k.b, b.v.b, outs[1].b, scratch, NULL, &d1));
        CHECK_OK(mlxc_encoder_take_capture(cap, &g));
        mlxc_encoder_destroy(cap);
    }
    if (g) CHECK_OK(mlxc_graph_instantiate(g, dev, &ex));
    static const uint32_t rlens[4] = {1000, 64, 999, 1};
    for (int r = 0; r < 4 && ex; r++) {
        b.lb.h[0] = rlens[r] - 1;
        ot_upload(&b.lb);
        ot_poison(&outs[0]);
        ot_poison(&outs[1]);
        mlxc_encoder *enc = NULL;
        CHECK_OK(mlxc_encoder_create(dev, &enc));
        if (!enc) break;
        CHECK_OK(mlxc_graph_exec_launch(ex, enc));
        CHECK_OK(mlxc_encoder_commit_and_wait(enc));
        mlxc_encoder_destroy(enc);
        ac_check_out(&c, &outs[0], rlens[r], "graph replay");
        ac_check_out(&c, &outs[1], 1, "graph replay, second decode");
        CHECK_MSG(ac_counters_zero(scratch, c.KVH), "replay %d left a counter set", r);
    }
    mlxc_graph_exec_destroy(ex);
    mlxc_graph_destroy(g);
    for (int i = 0; i < 3; i++) ot_free(&outs[i]);
    ac_bufs_free(&b);
    ac_free(&c);
    mlxc_buffer_release(scratch);
}

#ifndef ATTN_NO_MAIN

static mlxc_device *g_cpu, *g_dev;

static void scratch_sequence(void) { scratch_sequence_on(g_dev); }
static void scratch_replay(void) { scratch_replay_on(g_dev); }

static void check_case(attn_case *c) {
    char s[256];
    ac_fill(c);
    double *ref = ac_reference(c), *out = ac_run(g_cpu, c);
    const size_t n = (size_t)(c->prefill ? c->q_len : 1) * c->H * c->hd;
    size_t w;
    const double e = ot_nerr(out, ref, n, &w);
    CHECK_MSG(e <= ac_tol(c->out_dt), "nerr %.3g at [%zu] %.9g vs %.9g: %s", e, w, out[w], ref[w], ac_str(c, s, sizeof s));
    free(ref);
    free(out);
    ac_free(c);
}

static void decode_cases(void) {
    for (uint32_t i = 0; i < N_DECODE_CASES; i++) {
        attn_case c = ac_decode_case(i);
        check_case(&c);
    }
}

static void prefill_cases(void) {
    for (uint32_t i = 0; i < N_PREFILL_CASES; i++) {
        attn_case c = ac_prefill_case(i);
        check_case(&c);
    }
}

/* Decode equals the last row of a prefill over the same cache. */
static void decode_matches_prefill(void) {
    attn_case c = ac_prefill_case(3);
    c.q_offset = 0;
    c.q_len = 40;
    c.len = 40;
    c.cap = 40;
    c.window = 0;
    c.out_dt = MLXC_F32;
    c.q_dt = MLXC_F32;
    ac_fill(&c);
    double *pre = ac_run(g_cpu, &c);
    attn_case dc = c;
    dc.prefill = false;
    dc.q = c.q + (size_t)39 * c.H * c.hd;
    double *dec = ac_run(g_cpu, &dc);
    size_t w;
    double e = ot_nerr(dec, pre + (size_t)39 * c.H * c.hd, (size_t)c.H * c.hd, &w);
    CHECK_MSG(e <= 1e-5, "decode vs prefill last row nerr %.3g", e);
    free(pre);
    free(dec);
    ac_free(&c);
}

/* A fully masked decode (length 0) and prefill rows past the window give
 * zeros, not NaN. */
static void empty_rows_are_zero(void) {
    attn_case c = ac_decode_case(0);
    c.len = 0;
    c.cap = 16;
    c.len_buf = 0;
    c.out_dt = MLXC_F32;
    ac_fill(&c);
    double *o = ac_run(g_cpu, &c);
    for (size_t i = 0; i < (size_t)c.H * c.hd; i++) CHECK_MSG(o[i] == 0.0, "[%zu] = %g", i, o[i]);
    free(o);
    ac_free(&c);
    /* i32 length buffer holding a negative value: length 0 too. */
    c = ac_decode_case(2);
    c.len_buf = 2;
    c.len = 0;
    c.cap = 16;
    c.out_dt = MLXC_F32;
    ac_fill(&c);
    o = ac_run(g_cpu, &c);
    for (size_t i = 0; i < (size_t)c.H * c.hd; i++) CHECK_MSG(o[i] == 0.0, "[%zu] = %g", i, o[i]);
    free(o);
    ac_free(&c);
    /* Prefill: kv_len 0 gives zeros for every query. */
    c = ac_prefill_case(2);
    c.len = 0;
    ac_fill(&c);
    o = ac_run(g_cpu, &c);
    for (size_t i = 0; i < (size_t)c.q_len * c.H * c.hd; i++) CHECK_MSG(o[i] == 0.0, "[%zu] = %g", i, o[i]);
    free(o);
    ac_free(&c);
}

/* The same recorded arguments at two device-side lengths (a replayed graph
 * changes only the length buffer). */
static void device_length_changes(void) {
    attn_case c = ac_decode_case(5);
    c.cap = 200;
    c.len = 200;
    c.ring = false;
    c.window = 0;
    c.out_dt = MLXC_F32;
    ac_fill(&c);
    mlxc_attention_desc d = ac_desc(&c);
    d.kv_len = 0;
    size_t sb;
    CHECK_OK(mlxc_attention_decode_scratch_bytes(g_cpu, &d, &sb));
    const size_t qn = (size_t)c.H * c.hd, kn = (size_t)c.KVH * c.cap * c.hd;
    ot_buf q = ot_alloc(g_cpu, c.q_dt, qn), k = ot_alloc(g_cpu, c.kv_dt, kn), v = ot_alloc(g_cpu, c.kv_dt, kn);
    memcpy(q.h, c.q, qn * 8);
    memcpy(k.h, c.k, kn * 8);
    memcpy(v.h, c.v, kn * 8);
    ot_upload(&q);
    ot_upload(&k);
    ot_upload(&v);
    ot_buf out = ot_out(g_cpu, MLXC_F32, qn), lb = ot_alloc(g_cpu, MLXC_U32, 1);
    mlxc_buffer *sc = ac_scratch(g_cpu, sb, c.KVH);
    static const uint32_t lens[3] = {3, 200, 77};
    for (int r = 0; r < 3; r++) {
        lb.h[0] = lens[r];
        ot_upload(&lb);
        OT_RUN(g_cpu, mlxc_attention_decode(enc, q.b, k.b, v.b, out.b, sc, lb.b, &d));
        CHECK(ac_counters_zero(sc, c.KVH));
        ot_download(&out);
        c.len = lens[r];
        double *ref = ac_reference(&c);
        OT_CLOSE(&out, ref, 2e-5, "length %u", lens[r]);
        free(ref);
    }
    ot_free(&q);
    ot_free(&k);
    ot_free(&v);
    ot_free(&out);
    mlxc_buffer_release(sc);
    ot_free(&lb);
    ac_free(&c);
}

static void argument_checks(void) {
    mlxc_attention_desc d = MLXC_ATTENTION_DESC_INIT;
    d.n_heads = 8;
    d.n_kv_heads = 2;
    d.head_dim = 128;
    d.kv_capacity = 64;
    d.kv_len = 10;
    d.scale = 0.1f;
    d.q_len = 4;
    {
        mlxc_attention_desc z;
        mlxc_attention_desc_init(&z);
        CHECK_MSG(z.struct_size == sizeof z && z.n_heads == 0 && !z.ring, "mlxc_attention_desc_init");
    }
    ot_buf q = ot_alloc(g_cpu, MLXC_F32, 8 * 128), o = ot_alloc(g_cpu, MLXC_F32, 8 * 128);
    ot_buf k = ot_alloc(g_cpu, MLXC_BF16, 2 * 64 * 128), v = ot_alloc(g_cpu, MLXC_BF16, 2 * 64 * 128);
    ot_buf kf = ot_alloc(g_cpu, MLXC_F32, 2 * 64 * 128), vh = ot_alloc(g_cpu, MLXC_F16, 2 * 64 * 128);
    ot_buf q4 = ot_alloc(g_cpu, MLXC_BF16, 4 * 8 * 128), o4 = ot_alloc(g_cpu, MLXC_BF16, 4 * 8 * 128);
    ot_buf lb = ot_alloc(g_cpu, MLXC_F32, 1);
    size_t sb;
    CHECK_OK(mlxc_attention_decode_scratch_bytes(g_cpu, &d, &sb));
    ot_buf sc = ot_alloc(g_cpu, MLXC_F32, sb / 4), small = ot_alloc(g_cpu, MLXC_F32, sb / 4 - 1);
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(g_cpu, &enc));
    mlxc_attention_desc e = d;
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, o.b, sc.b, NULL, NULL), MLXC_ERR_INVALID_ARGUMENT);
    /* a desc not started from the initializer, or of an unknown older size */
    e.struct_size = 0;
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, o.b, sc.b, NULL, &e), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(mlxc_last_error(), "struct_size") != NULL, "struct_size message: %s", mlxc_last_error());
    CHECK_ERR(mlxc_attention_prefill(enc, q4.b, k.b, v.b, o4.b, &e), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_attention_decode_scratch_bytes(g_cpu, &e, &sb), MLXC_ERR_INVALID_ARGUMENT);
    e.struct_size = MLXC_ATTENTION_DESC_SIZE_V1 - 1;
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, o.b, sc.b, NULL, &e), MLXC_ERR_INVALID_ARGUMENT);
    /* a caller built against a larger desc: its extra bytes are not read */
    e.struct_size = sizeof e + 64;
    CHECK_OK(mlxc_attention_decode_scratch_bytes(g_cpu, &e, &sb));
    e = d;
    e.head_dim = 80;
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, o.b, sc.b, NULL, &e), MLXC_ERR_INVALID_ARGUMENT);
    e = d;
    e.n_kv_heads = 3;
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, o.b, sc.b, NULL, &e), MLXC_ERR_INVALID_ARGUMENT);
    e = d;
    e.n_kv_heads = 1; /* ratio 8 is fine, but k now has the wrong size */
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, o.b, sc.b, NULL, &e), MLXC_ERR_SHAPE);
    e = d;
    e.n_heads = 18;
    e.n_kv_heads = 2; /* ratio 9 */
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, o.b, sc.b, NULL, &e), MLXC_ERR_INVALID_ARGUMENT);
    e = d;
    e.scale = NAN;
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, o.b, sc.b, NULL, &e), MLXC_ERR_INVALID_ARGUMENT);
    e = d;
    e.softcap = -1.0f;
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, o.b, sc.b, NULL, &e), MLXC_ERR_INVALID_ARGUMENT);
    e = d;
    e.kv_len = 65; /* beyond a linear cache */
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, o.b, sc.b, NULL, &e), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_attention_decode(enc, q.b, kf.b, kf.b, o.b, sc.b, NULL, &d), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, vh.b, o.b, sc.b, NULL, &d), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, o.b, small.b, NULL, &d), MLXC_ERR_SHAPE);
    /* the counter region comes first: at least 4 KB more than the partials */
    CHECK(sb >= 4096u + (size_t)8 * (128 + 2) * 4);
    {
        ot_buf big = ot_alloc(g_cpu, MLXC_F32, sb / 4 + 4);
        mlxc_buffer *mis = NULL;
        int64_t shape[1] = {(int64_t)(sb / 4)};
        CHECK_OK(mlxc_buffer_view(big.b, 4, MLXC_F32, 1, shape, &mis));
        CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, o.b, mis, NULL, &d), MLXC_ERR_INVALID_ARGUMENT);
        mlxc_buffer_release(mis);
        ot_free(&big);
    }
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, o.b, sc.b, lb.b, &d), MLXC_ERR_DTYPE);
    CHECK_ERR(mlxc_attention_decode(enc, q4.b, k.b, v.b, o.b, sc.b, NULL, &d), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, q.b, sc.b, NULL, &d), MLXC_ERR_INVALID_ARGUMENT);
    /* prefill */
    CHECK_OK(mlxc_attention_prefill(enc, q4.b, k.b, v.b, o4.b, &d));
    e = d;
    e.q_len = 0;
    CHECK_ERR(mlxc_attention_prefill(enc, q4.b, k.b, v.b, o4.b, &e), MLXC_ERR_INVALID_ARGUMENT);
    e = d;
    e.ring = true;
    CHECK_ERR(mlxc_attention_prefill(enc, q4.b, k.b, v.b, o4.b, &e), MLXC_ERR_INVALID_ARGUMENT);
    e = d;
    e.kv_len = 65;
    CHECK_ERR(mlxc_attention_prefill(enc, q4.b, k.b, v.b, o4.b, &e), MLXC_ERR_INVALID_ARGUMENT);
    e = d;
    e.q_len = 3;
    CHECK_ERR(mlxc_attention_prefill(enc, q4.b, k.b, v.b, o4.b, &e), MLXC_ERR_SHAPE);
    CHECK_ERR(mlxc_attention_prefill(enc, q4.b, k.b, v.b, q4.b, &d), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_attention_decode_scratch_bytes(g_cpu, &e, NULL), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_encoder_destroy(enc);
    ot_free(&q); ot_free(&o); ot_free(&k); ot_free(&v); ot_free(&kf); ot_free(&vh);
    ot_free(&q4); ot_free(&o4); ot_free(&lb); ot_free(&sc); ot_free(&small);
}

int main(void) {
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &g_cpu) != MLXC_OK) {
        fprintf(stderr, "cannot open the CPU device: %s\n", mlxc_last_error());
        return 1;
    }
    RUN(decode_cases);
    RUN(prefill_cases);
    RUN(decode_matches_prefill);
    RUN(empty_rows_are_zero);
    RUN(device_length_changes);
    RUN(argument_checks);
    g_dev = g_cpu;
    RUN(scratch_sequence);
    RUN(scratch_replay);
    /* The contract once more on the default device when it is not the CPU. */
    mlxc_device *other = NULL;
    if (mlxc_device_open(MLXC_BACKEND_AUTO, 0, &other) == MLXC_OK && mlxc_device_backend(other) != MLXC_BACKEND_CPU) {
        printf("scratch contract on %s\n", mlxc_device_name(other));
        g_dev = other;
        RUN(scratch_sequence);
        RUN(scratch_replay);
    }
    mlxc_device_close(other);
    mlxc_device_close(g_cpu);
    HARNESS_END();
}

#endif /* ATTN_NO_MAIN */
