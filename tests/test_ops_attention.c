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
#include "rope_qkv_test.h"

/* One attention case: shapes, options and the host data (doubles holding
 * the values as stored in their dtype). */
typedef struct attn_case {
    uint32_t   H, KVH, hd, cap, len, window, q_len, q_offset;
    float      scale, softcap;
    bool       ring, prefill;
    int        len_buf;      /* 0 none, 1 u32, 2 i32 (decode)   */
    mlxc_dtype q_dt, kv_dt, out_dt;
    /* the general prefill (mlxc_attention_prefill_masked / _ring) */
    uint32_t   batch;        /* 0 = 1                           */
    bool       non_causal;
    int        mask;         /* 0 none; the mask's leading dims: 1 (q, kv),
                                2 (H, q, kv), 3 (B, 1, q, kv), 4 (B, H, q, kv) */
    mlxc_dtype mask_dt;
    int        klens;        /* 0 none, 1 u32, 2 i32 key lengths */
    bool       chunked;      /* ring prefill: k/v a ring, kc/vc the chunk */
    double    *q, *k, *v;    /* host values                     */
    double    *mk;           /* mask values                     */
    int64_t   *kl;           /* key lengths                     */
    double    *kc, *vc;      /* chunk keys and values           */
} attn_case;

static uint32_t ac_batch(const attn_case *c) { return c->batch ? c->batch : 1; }
static size_t ac_qn(const attn_case *c) { return (size_t)ac_batch(c) * (c->prefill ? c->q_len : 1) * c->H * c->hd; }
static size_t ac_kn(const attn_case *c) { return (size_t)ac_batch(c) * c->KVH * c->cap * c->hd; }
static size_t ac_cn(const attn_case *c) { return (size_t)ac_batch(c) * c->q_len * c->KVH * c->hd; }
/* Mask elements and the (batch, head) strides of the mask. */
static size_t ac_mask_n(const attn_case *c, size_t *bs, size_t *hs) {
    const size_t plane = (size_t)c->q_len * c->len;
    const size_t mh = c->mask == 2 || c->mask == 4 ? c->H : 1, mb = c->mask >= 3 ? ac_batch(c) : 1;
    if (hs) *hs = mh > 1 ? plane : 0;
    if (bs) *bs = mb > 1 ? mh * plane : 0;
    return c->mask ? mb * mh * plane : 0;
}

static double ac_round(mlxc_dtype dt, double x) {
    unsigned char raw[8];
    ot_st(dt, raw, 0, x);
    return ot_ld(dt, raw, 0);
}

/* Fill q, k, v (and the mask, key lengths, chunk); unused cache positions
 * hold NaN. */
static void ac_fill(attn_case *c) {
    const size_t qn = ac_qn(c), kn = ac_kn(c);
    c->q = malloc(qn * sizeof(double));
    c->k = malloc(kn * sizeof(double));
    c->v = malloc(kn * sizeof(double));
    c->mk = NULL;
    c->kl = NULL;
    c->kc = c->vc = NULL;
    for (size_t i = 0; i < qn; i++) c->q[i] = ac_round(c->q_dt, ot_uniform(-1, 1));
    if (c->mask) {
        const size_t mn = ac_mask_n(c, NULL, NULL);
        c->mk = malloc(mn * sizeof(double));
        /* biases of a few units and some hidden keys (-inf) */
        for (size_t i = 0; i < mn; i++) c->mk[i] = ot_u32() % 5 == 0 ? -INFINITY : ac_round(c->mask_dt, ot_uniform(-3, 3));
    }
    if (c->klens) {
        c->kl = malloc(ac_batch(c) * sizeof(int64_t));
        for (uint32_t b = 0; b < ac_batch(c); b++) c->kl[b] = b % 3 == 2 ? (int64_t)c->len + 5 : (int64_t)(ot_u32() % (c->len + 1));
        if (c->klens == 2 && ac_batch(c) > 1) c->kl[1] = -3; /* a negative length reads as 0 */
    }
    if (c->chunked) {
        const size_t cn = ac_cn(c);
        c->kc = malloc(cn * sizeof(double));
        c->vc = malloc(cn * sizeof(double));
        for (size_t i = 0; i < cn; i++) {
            c->kc[i] = ac_round(c->kv_dt, ot_uniform(-1, 1));
            c->vc[i] = ac_round(c->kv_dt, ot_uniform(-2, 2));
        }
    }
    /* slots that hold a key: a ring that wrapped holds all, a ring prefill
     * the positions before q_offset */
    const uint32_t valid = c->chunked ? (c->q_offset < c->cap ? c->q_offset : c->cap) : c->ring ? c->cap : c->len;
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
    free(c->mk);
    free(c->kl);
    free(c->kc);
    free(c->vc);
}

/* Key (v: value) row of position p for head h of sequence b. */
static const double *ac_key(const attn_case *c, bool val, uint32_t b, uint32_t h, int64_t p) {
    const uint32_t kvh = h / (c->H / c->KVH);
    if (c->chunked && p >= (int64_t)c->q_offset)
        return (val ? c->vc : c->kc) + (((size_t)b * c->q_len + (size_t)(p - c->q_offset)) * c->KVH + kvh) * c->hd;
    const uint64_t slot = c->ring || c->chunked ? (uint64_t)p % c->cap : (uint64_t)p;
    return (val ? c->v : c->k) + (((size_t)b * c->KVH + kvh) * c->cap + slot) * c->hd;
}

/* out[row] = attention of query row (sequence b, head h) over [lo, hi),
 * plus mrow[p] when mrow is given. */
static void ac_ref_row(const attn_case *c, const double *qr, uint32_t b, uint32_t h, int64_t lo, int64_t hi,
                       const double *mrow, double *o) {
    const uint32_t hd = c->hd;
    double m = -INFINITY, l = 0;
    double *s = malloc((size_t)(hi > lo ? hi - lo : 1) * sizeof(double));
    for (int64_t p = lo; p < hi; p++) {
        const double *kr = ac_key(c, false, b, h, p);
        double x = 0;
        for (uint32_t d = 0; d < hd; d++) x += qr[d] * kr[d];
        x *= c->scale;
        if (c->softcap > 0) x = c->softcap * tanh(x / c->softcap);
        if (mrow) x += mrow[p];
        s[p - lo] = x;
        if (x > m) m = x;
    }
    for (uint32_t d = 0; d < hd; d++) o[d] = 0;
    for (int64_t p = lo; p < hi && m > -INFINITY; p++) {
        const double *vr = ac_key(c, true, b, h, p), e = exp(s[p - lo] - m);
        l += e;
        for (uint32_t d = 0; d < hd; d++) o[d] += e * vr[d];
    }
    for (uint32_t d = 0; d < hd; d++) o[d] = l > 0 ? o[d] / l : 0;
    free(s);
}

/* The reference output (rounded to out_dt). */
static double *ac_reference(const attn_case *c) {
    const uint32_t rows = c->prefill ? c->q_len : 1, hd = c->hd;
    double *o = malloc(ac_qn(c) * sizeof(double));
    size_t mbs, mhs;
    ac_mask_n(c, &mbs, &mhs);
    for (uint32_t b = 0; b < ac_batch(c); b++)
        for (uint32_t t = 0; t < rows; t++)
            for (uint32_t h = 0; h < c->H; h++) {
                int64_t lo, hi;
                if (c->chunked) {
                    const int64_t P = (int64_t)c->q_offset + t, w = c->window ? c->window : c->cap;
                    hi = P + 1;
                    lo = P + 1 > w ? P + 1 - w : 0;
                } else if (c->prefill) {
                    int64_t klen = c->len;
                    if (c->klens && c->kl[b] < klen) klen = c->kl[b] < 0 ? 0 : c->kl[b];
                    const int64_t P = (int64_t)c->q_offset + t;
                    if (c->non_causal) {
                        lo = 0;
                        hi = klen;
                    } else {
                        hi = P + 1 < klen ? P + 1 : klen;
                        lo = c->window && P + 1 > (int64_t)c->window ? P + 1 - c->window : 0;
                    }
                } else {
                    hi = c->len;
                    if (!c->ring && hi > c->cap) hi = c->cap;
                    lo = c->window && hi > (int64_t)c->window ? hi - c->window : 0;
                    if (c->ring && hi - lo > (int64_t)c->cap) lo = hi - c->cap;
                }
                const double *mrow = c->mask ? c->mk + b * mbs + h * mhs + (size_t)t * c->len : NULL;
                const size_t row = ((size_t)b * rows + t) * c->H + h;
                double *orow = o + row * hd;
                ac_ref_row(c, c->q + row * hd, b, h, lo, hi, mrow, orow);
                for (uint32_t d = 0; d < hd; d++) orow[d] = ac_round(c->out_dt, orow[d]);
            }
    return o;
}

static mlxc_attention_desc ac_desc(const attn_case *c) {
    mlxc_attention_desc d = {.struct_size = sizeof(mlxc_attention_desc), .n_heads = c->H, .n_kv_heads = c->KVH,
                             .head_dim = c->hd, .kv_capacity = c->cap, .kv_len = c->len, .window = c->window,
                             .scale = c->scale, .softcap = c->softcap, .ring = c->ring, .q_len = c->q_len,
                             .q_offset = c->q_offset, .batch = c->batch, .non_causal = c->non_causal};
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
    const size_t qn = ac_qn(c), kn = ac_kn(c);
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
    if (c->chunked) {
        const size_t cn = ac_cn(c);
        ot_buf kc = ot_alloc(dev, c->kv_dt, cn), vc = ot_alloc(dev, c->kv_dt, cn);
        memcpy(kc.h, c->kc, cn * sizeof(double));
        memcpy(vc.h, c->vc, cn * sizeof(double));
        ot_upload(&kc);
        ot_upload(&vc);
        OT_RUN(dev, mlxc_attention_prefill_ring(enc, q.b, k.b, v.b, kc.b, vc.b, out.b, &d));
        ot_free(&kc);
        ot_free(&vc);
    } else if (c->mask || c->klens) {
        ot_buf mk = {0}, kl = {0};
        mlxc_buffer *mview = NULL;
        if (c->mask) {
            size_t bs, hs;
            const size_t mn = ac_mask_n(c, &bs, &hs);
            mk = ot_alloc(dev, c->mask_dt, mn);
            memcpy(mk.h, c->mk, mn * sizeof(double));
            ot_upload(&mk);
            int64_t shape[4];
            int nd = 0;
            if (c->mask >= 3) shape[nd++] = bs ? ac_batch(c) : 1;
            if (c->mask >= 2) shape[nd++] = hs ? c->H : 1;
            shape[nd++] = c->q_len;
            shape[nd++] = c->len;
            CHECK_OK(mlxc_buffer_view(mk.b, 0, c->mask_dt, nd, shape, &mview));
        }
        if (c->klens) {
            kl = ot_alloc(dev, c->klens == 1 ? MLXC_U32 : MLXC_I32, ac_batch(c));
            for (uint32_t b = 0; b < ac_batch(c); b++) kl.h[b] = (double)c->kl[b];
            ot_upload(&kl);
        }
        OT_RUN(dev, mlxc_attention_prefill_masked(enc, q.b, k.b, v.b, out.b, mview, kl.b, &d));
        mlxc_buffer_release(mview);
        if (c->mask) ot_free(&mk);
        if (c->klens) ot_free(&kl);
    } else if (c->prefill) {
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
    snprintf(buf, n, "%s H=%u KVH=%u hd=%u cap=%u len=%u win=%u cap=%g ring=%d lb=%d q_len=%u off=%u %s/%s/%s "
             "batch=%u noncausal=%d mask=%d/%s klens=%d chunked=%d",
             c->prefill ? "prefill" : "decode", c->H, c->KVH, c->hd, c->cap, c->len, c->window, (double)c->softcap,
             c->ring, c->len_buf, c->q_len, c->q_offset, mlxc_dtype_name(c->q_dt), mlxc_dtype_name(c->kv_dt),
             mlxc_dtype_name(c->out_dt), ac_batch(c), c->non_causal, c->mask,
             c->mask ? mlxc_dtype_name(c->mask_dt) : "-", c->klens, c->chunked);
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

/* Head dim 512 (Gemma 4's global layers) and GQA ratios up to 16. */
static const struct {
    bool     prefill;
    uint32_t H, KVH, hd, len, cap, window, q_len, q_off;
    float    softcap;
    bool     ring;
} k_wide[] = {
    {false, 16, 1, 512, 300, 310, 0, 0, 0, 0, false},   {false, 32, 2, 512, 77, 77, 0, 0, 0, 30, false},
    {false, 8, 8, 512, 1, 16, 0, 0, 0, 0, false},       {false, 16, 1, 128, 200, 205, 50, 0, 0, 0, false},
    {false, 32, 2, 256, 129, 140, 0, 0, 0, 0, false},   {false, 12, 1, 64, 100, 100, 0, 0, 0, 0, false},
    {false, 16, 1, 512, 700, 256, 0, 0, 0, 0, true},    {false, 10, 2, 96, 50, 64, 10, 0, 0, 0, false},
    {true, 4, 2, 512, 37, 40, 0, 37, 0, 0, false},      {true, 16, 1, 512, 33, 36, 9, 20, 13, 0, false},
    {true, 32, 2, 128, 70, 73, 0, 70, 0, 0, false},     {true, 16, 1, 256, 69, 72, 0, 5, 64, 2, false},
    {true, 8, 1, 512, 100, 103, 0, 129, 0, 0, false},
};
#define N_WIDE_CASES ((uint32_t)(sizeof k_wide / sizeof *k_wide))

static attn_case ac_wide_case(uint32_t i) {
    attn_case c;
    memset(&c, 0, sizeof c);
    c.prefill = k_wide[i].prefill;
    c.H = k_wide[i].H; c.KVH = k_wide[i].KVH; c.hd = k_wide[i].hd;
    c.len = k_wide[i].len; c.cap = k_wide[i].cap; c.window = k_wide[i].window;
    c.q_len = k_wide[i].q_len; c.q_offset = k_wide[i].q_off; c.softcap = k_wide[i].softcap; c.ring = k_wide[i].ring;
    c.scale = 4.0f / sqrtf((float)c.hd);
    c.len_buf = c.prefill ? 0 : (int)(i % 3);
    c.q_dt = i % 3 == 0 ? MLXC_F32 : i % 3 == 1 ? MLXC_BF16 : MLXC_F16;
    c.kv_dt = i % 2 ? MLXC_F16 : MLXC_BF16;
    c.out_dt = i % 4 == 0 ? MLXC_F32 : i % 4 == 1 ? MLXC_BF16 : i % 4 == 2 ? MLXC_F16 : MLXC_F32;
    return c;
}

/* Encoder-style prefill: batches, non-causal, additive masks of every
 * shape and dtype, per-sequence key lengths (padding). */
static const struct {
    uint32_t   hd, H, KVH, batch, q_len, len, q_off, window;
    bool       non_causal;
    int        mask;
    mlxc_dtype mask_dt;
    int        klens;
} k_enc[] = {
    {64, 4, 2, 1, 17, 17, 0, 0, true, 1, MLXC_F32, 0},    {128, 8, 2, 3, 33, 33, 0, 0, true, 4, MLXC_BF16, 1},
    {96, 4, 4, 2, 20, 25, 0, 0, true, 3, MLXC_F16, 2},    {256, 4, 1, 2, 9, 40, 31, 0, false, 2, MLXC_F32, 0},
    {512, 4, 1, 3, 24, 24, 0, 0, true, 0, MLXC_F32, 1},   {64, 16, 1, 1, 70, 70, 0, 0, true, 2, MLXC_BF16, 0},
    {128, 4, 2, 4, 1, 12, 0, 0, true, 0, MLXC_F32, 0},    {128, 2, 1, 3, 16, 16, 0, 5, false, 0, MLXC_F32, 0},
    {512, 4, 2, 1, 40, 40, 0, 0, true, 1, MLXC_BF16, 0},  {64, 6, 2, 2, 19, 19, 0, 0, false, 4, MLXC_F16, 2},
};
#define N_ENC_CASES ((uint32_t)(sizeof k_enc / sizeof *k_enc))

static attn_case ac_enc_case(uint32_t i) {
    attn_case c;
    memset(&c, 0, sizeof c);
    c.prefill = true;
    c.hd = k_enc[i].hd; c.H = k_enc[i].H; c.KVH = k_enc[i].KVH; c.batch = k_enc[i].batch;
    c.q_len = k_enc[i].q_len; c.len = k_enc[i].len; c.q_offset = k_enc[i].q_off; c.window = k_enc[i].window;
    c.cap = c.len + i % 3;
    c.non_causal = k_enc[i].non_causal; c.mask = k_enc[i].mask; c.mask_dt = k_enc[i].mask_dt;
    c.klens = k_enc[i].klens;
    c.softcap = i % 4 == 3 ? 5.0f : 0.0f;
    c.scale = 4.0f / sqrtf((float)c.hd);
    c.q_dt = i % 3 == 0 ? MLXC_BF16 : i % 3 == 1 ? MLXC_F32 : MLXC_F16;
    c.kv_dt = i % 2 ? MLXC_BF16 : MLXC_F16;
    c.out_dt = i % 4 == 0 ? MLXC_F32 : i % 4 == 1 ? MLXC_F16 : i % 4 == 2 ? MLXC_BF16 : MLXC_F32;
    return c;
}

/* Chunked prefill into a sliding-window ring: an empty ring, chunks longer
 * than the ring, a ring not yet full, one-token chunks, batches. */
static const struct { uint32_t hd, H, KVH, batch, cap, window, q_off, q_len; } k_ring[] = {
    {64, 4, 2, 1, 16, 0, 0, 10},   {128, 8, 2, 1, 16, 16, 40, 37}, {96, 4, 1, 2, 32, 20, 50, 8},
    {256, 16, 1, 1, 24, 24, 10, 30}, {512, 4, 1, 1, 16, 12, 33, 20}, {128, 4, 4, 1, 64, 64, 100, 1},
    {64, 32, 2, 2, 8, 5, 7, 19},
};
#define N_RING_CASES ((uint32_t)(sizeof k_ring / sizeof *k_ring))

static attn_case ac_ring_case(uint32_t i) {
    attn_case c;
    memset(&c, 0, sizeof c);
    c.prefill = true;
    c.chunked = true;
    c.hd = k_ring[i].hd; c.H = k_ring[i].H; c.KVH = k_ring[i].KVH; c.batch = k_ring[i].batch;
    c.cap = k_ring[i].cap; c.window = k_ring[i].window; c.q_offset = k_ring[i].q_off; c.q_len = k_ring[i].q_len;
    c.len = 0; /* not read */
    c.softcap = i % 3 == 1 ? 10.0f : 0.0f;
    c.scale = 4.0f / sqrtf((float)c.hd);
    c.q_dt = i % 2 ? MLXC_BF16 : MLXC_F32;
    c.kv_dt = i % 3 ? MLXC_BF16 : MLXC_F16;
    c.out_dt = i % 4 == 0 ? MLXC_F32 : i % 4 == 1 ? MLXC_F16 : i % 4 == 2 ? MLXC_BF16 : MLXC_F32;
    return c;
}

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

/* The split settings of scratch_sequence_on's passes: MLXC_ATTN_DECODE_SPLITS
 * and MLXC_ATTN_SPLIT_KEYS (NULL: unset). */
static const char *const k_split_pass[4][3] = {
    {NULL, NULL, "default splits"},
    {"37", NULL, "37 splits"},
    {"37", "0", "37 splits, every split live"},
    {NULL, "100000", "one live split"},
};
static void split_pass_env(int pass) {
    const char *const *e = pass >= 0 ? k_split_pass[pass] : k_split_pass[0];
    if (e[0]) setenv("MLXC_ATTN_DECODE_SPLITS", e[0], 1);
    else unsetenv("MLXC_ATTN_DECODE_SPLITS");
    if (e[1]) setenv("MLXC_ATTN_SPLIT_KEYS", e[1], 1);
    else unsetenv("MLXC_ATTN_SPLIT_KEYS");
}

/* One scratch, zeroed once, under a sequence of decodes of three descs at
 * several lengths (host-known and from len_buf), with the device's split
 * rule, with 37 forced splits (two merge rounds, trailing empty splits),
 * with every split live whatever the length, and with one live split (out
 * written by the split itself); the counters are zero after every call. */
static void scratch_sequence_on(mlxc_device *dev) {
    attn_case cs[3] = {ac_contract_case(16, 2, 128, 2500, 0, false), ac_contract_case(8, 8, 64, 300, 50, false),
                       ac_contract_case(12, 4, 256, 640, 0, true)};
    static const uint32_t lens[3][3] = {{2500, 1, 333}, {300, 17, 64}, {900, 641, 2}};
    size_t most = 0;
    for (int pass = 0; pass < 4; pass++) {
        split_pass_env(pass);
        for (int i = 0; i < 3; i++) {
            mlxc_attention_desc d = ac_desc(&cs[i]);
            size_t sb = 0;
            CHECK_OK(mlxc_attention_decode_scratch_bytes(dev, &d, &sb));
            if (sb > most) most = sb;
        }
    }
    split_pass_env(-1);
    mlxc_buffer *scratch = ac_scratch(dev, most, 8);
    ac_bufs b[3];
    for (int i = 0; i < 3; i++) b[i] = ac_upload(dev, &cs[i]);
    for (int pass = 0; pass < 4; pass++) {
        split_pass_env(pass);
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
                ac_check_out(c, &b[i].out, len, k_split_pass[pass][2]);
                CHECK_MSG(ac_counters_zero(scratch, 8), "pass %d, desc %d, length %u left a counter set", pass, i, len);
            }
    }
    split_pass_env(-1);
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

/* A sequence prefilled in chunks through a ring of W slots (after each
 * chunk its keys are written into the ring, as mlxc_kv_cache_copy's
 * sliding mode would) equals one prefill over a linear cache with the
 * window; checked on `dev` to `tol`. */
static void ring_chunks_on(mlxc_device *dev, uint32_t hd, double tol) {
    enum { N = 60, W = 16 };
    static const uint32_t chunks[] = {7, 20, 1, 16, 16};
    attn_case full;
    memset(&full, 0, sizeof full);
    full.prefill = true;
    full.H = 8; full.KVH = 2; full.hd = hd; full.q_len = N; full.len = N; full.cap = N; full.window = W;
    full.scale = 4.0f / sqrtf((float)hd);
    full.q_dt = MLXC_F32; full.kv_dt = MLXC_BF16; full.out_dt = MLXC_F32;
    ac_fill(&full);
    double *want = ac_run(dev, &full);
    const size_t kn = (size_t)full.KVH * W * hd;
    double *rk = malloc(kn * sizeof(double)), *rv = malloc(kn * sizeof(double));
    for (size_t i = 0; i < kn; i++) rk[i] = rv[i] = NAN;
    uint32_t pos = 0;
    for (size_t ci = 0; ci < sizeof chunks / sizeof *chunks; ci++) {
        const uint32_t n = chunks[ci];
        attn_case c = full;
        c.chunked = true;
        c.cap = W;
        c.q_len = n;
        c.q_offset = pos;
        c.len = 0;
        c.q = full.q + (size_t)pos * full.H * hd;
        c.k = rk;
        c.v = rv;
        c.kc = malloc((size_t)n * full.KVH * hd * sizeof(double));
        c.vc = malloc((size_t)n * full.KVH * hd * sizeof(double));
        for (uint32_t t = 0; t < n; t++)
            for (uint32_t kvh = 0; kvh < full.KVH; kvh++)
                for (uint32_t d = 0; d < hd; d++) {
                    const size_t src = ((size_t)kvh * N + pos + t) * hd + d, dst = ((size_t)t * full.KVH + kvh) * hd + d;
                    c.kc[dst] = full.k[src];
                    c.vc[dst] = full.v[src];
                }
        double *got = ac_run(dev, &c);
        size_t w;
        const double e = ot_nerr(got, want + (size_t)pos * full.H * hd, (size_t)n * full.H * hd, &w);
        CHECK_MSG(e <= tol, "ring chunk %zu (positions %u..%u) vs full windowed prefill: nerr %.3g", ci, pos,
                  pos + n - 1, e);
        free(got);
        /* the chunk into the ring */
        for (uint32_t t = 0; t < n; t++)
            for (uint32_t kvh = 0; kvh < full.KVH; kvh++)
                for (uint32_t d = 0; d < hd; d++) {
                    const size_t src = ((size_t)t * full.KVH + kvh) * hd + d;
                    const size_t dst = ((size_t)kvh * W + (pos + t) % W) * hd + d;
                    rk[dst] = c.kc[src];
                    rv[dst] = c.vc[src];
                }
        free(c.kc);
        free(c.vc);
        pos += n;
    }
    free(rk);
    free(rv);
    free(want);
    ac_free(&full);
}

/* ---- mlxc_attention_decode_qkv: a decode step from its q/k/v row ---------------- */

/* Decode steps over GQA 1..16 at head dims 64, 96, 128, 256 and 512 (the
 * two-dispatch path on every backend), full and partial rotary: short
 * caches, many splits with the new key inside a tile, at a tile's last
 * and first slots, a wrapped ring, windows, a softcap, and positions past
 * a linear cache (no row kept).  pos0 is the first of DQ_STEPS steps. */
typedef struct dq_case {
    rq_case  r; /* T = 1 */
    uint32_t window;
    float    softcap;
} dq_case;
static const dq_case dq_cases[] = {
    {{MLXC_ROPE_NEOX, 1, 4, 2, 64, 0, false, false, 16, 5, 0.0f}, 0, 0.0f},
    {{MLXC_ROPE_NORM, 1, 32, 8, 128, 0, true, false, 2048, 1000, 0.0f}, 0, 0.0f},
    {{MLXC_ROPE_NORM, 1, 8, 8, 128, 0, false, false, 300, 63, 0.0f}, 0, 0.0f},
    {{MLXC_ROPE_NEOX, 1, 6, 3, 128, 64, true, true, 96, 250, 0.0f}, 96, 0.0f},
    {{MLXC_ROPE_NEOX, 1, 4, 1, 256, 128, false, false, 200, 130, 1.118f}, 0, 30.0f},
    {{MLXC_ROPE_NORM, 1, 16, 1, 64, 32, false, false, 80, 77, 0.0f}, 0, 0.0f},
    {{MLXC_ROPE_NEOX, 1, 4, 2, 64, 0, false, false, 12, 20, 0.0f}, 0, 0.0f},
    {{MLXC_ROPE_NORM, 1, 8, 2, 96, 0, false, false, 600, 517, 0.0f}, 200, 0.0f},
    {{MLXC_ROPE_NEOX, 1, 4, 2, 512, 0, false, false, 40, 30, 0.0f}, 0, 0.0f},
};
#define DQ_NCASES (sizeof dq_cases / sizeof *dq_cases)
#define DQ_STEPS 3

/* A case's inputs: the rope inputs with filled caches, and a q/k/v row per
 * step. */
typedef struct dq_inputs {
    rq_inputs in;
    double   *qkv[DQ_STEPS];
} dq_inputs;
static dq_inputs dq_make(const dq_case *c) {
    dq_inputs d = {rq_make(&c->r, true), {NULL}};
    for (int s = 0; s < DQ_STEPS; s++) d.qkv[s] = rq_rand((size_t)rq_nh(&c->r) * c->r.D, -2, 2);
    return d;
}
static void dq_free_inputs(dq_inputs *d) {
    rq_free_inputs(&d->in);
    for (int s = 0; s < DQ_STEPS; s++) free(d->qkv[s]);
}

/* What a way leaves: the last step's q, the caches, and each step's out. */
typedef struct dq_out {
    ot_buf q, k, v, out[DQ_STEPS];
} dq_out;
static void dq_free_out(dq_out *o) {
    ot_free(&o->q); ot_free(&o->k); ot_free(&o->v);
    for (int s = 0; s < DQ_STEPS; s++) ot_free(&o->out[s]);
}
static bool dq_same(const dq_out *a, const dq_out *b) {
    bool same = rq_same_bytes(&a->q, &b->q) && rq_same_bytes(&a->k, &b->k) && rq_same_bytes(&a->v, &b->v);
    for (int s = 0; s < DQ_STEPS; s++) same = same && rq_same_bytes(&a->out[s], &b->out[s]);
    return same;
}

/* The attention desc of a decode over H / KV heads of head dim D, the
 * usual scale. */
static mlxc_attention_desc dq_attn_desc(uint32_t H, uint32_t KV, uint32_t D, uint32_t cap) {
    const mlxc_attention_desc ad = {.struct_size = sizeof ad, .n_heads = H, .n_kv_heads = KV, .head_dim = D,
                                    .kv_capacity = cap, .kv_len = 1, .scale = 1.0f / sqrtf((float)D)};
    return ad;
}

/* The steps on dev, as one op (fused) or as mlxc_rope_qkv_cache then
 * mlxc_attention_decode, each committed on its own; out is f32 for f32
 * activations, else bf16.  Every output is downloaded. */
static dq_out dq_run(mlxc_device *dev, const dq_case *c, const dq_inputs *di, mlxc_dtype act, mlxc_dtype cdt, bool bias,
                     bool norm, bool fused) {
    const rq_case *r = &c->r;
    const uint32_t NH = rq_nh(r), rd = r->rd ? r->rd : r->D;
    const mlxc_dtype odt = act == MLXC_F32 ? MLXC_F32 : MLXC_BF16;
    dq_out o = {ot_out(dev, act, (size_t)r->H * r->D), rq_cache(dev, cdt, r, di->in.cache_k),
                rq_cache(dev, cdt, r, di->in.cache_v), {{0}}};
    ot_buf b = rq_upload(dev, act, (size_t)NH * r->D, di->in.bias), qn = rq_upload(dev, act, r->D, di->in.qn);
    ot_buf kn = rq_upload(dev, act, r->D, di->in.kn), ff = rq_upload(dev, MLXC_F32, rd / 2, di->in.ff);
    mlxc_rope_qkv_desc rq = {rq_rope_desc(r, r->H), r->KV, r->cap, r->sliding, RQ_EPS};
    mlxc_attention_desc ad = dq_attn_desc(r->H, r->KV, r->D, r->cap);
    ad.window = c->window;
    ad.softcap = c->softcap;
    ad.ring = r->sliding;
    size_t sb = 0;
    CHECK_OK(mlxc_attention_decode_scratch_bytes(dev, &ad, &sb));
    ot_buf sc = ot_alloc(dev, MLXC_F32, sb / 4); /* fresh: zero */
    for (int s = 0; s < DQ_STEPS; s++) {
        const double p = r->pos0 + s;
        ot_buf qkv = rq_upload(dev, act, (size_t)NH * r->D, di->qkv[s]), pos = rq_upload(dev, MLXC_I32, 1, &p);
        o.out[s] = ot_out(dev, odt, (size_t)r->H * r->D);
        const mlxc_buffer *bb = bias ? b.b : NULL, *qb = norm ? qn.b : NULL, *kb = norm ? kn.b : NULL;
        const mlxc_buffer *fb = r->ff ? ff.b : NULL;
        if (fused) {
            OT_RUN(dev, mlxc_attention_decode_qkv(enc, qkv.b, bb, qb, kb, o.q.b, o.k.b, o.v.b, pos.b, fb, o.out[s].b, sc.b,
                                                  &rq, &ad));
        } else {
            OT_RUN(dev, mlxc_rope_qkv_cache(enc, qkv.b, bb, qb, kb, o.q.b, o.k.b, o.v.b, pos.b, fb, &rq));
            OT_RUN(dev, mlxc_attention_decode(enc, o.q.b, o.k.b, o.v.b, o.out[s].b, sc.b, pos.b, &ad));
        }
        ot_free(&qkv); ot_free(&pos);
        ot_download(&o.out[s]);
    }
    ot_download(&o.q); ot_download(&o.k); ot_download(&o.v);
    ot_free(&b); ot_free(&qn); ot_free(&kn); ot_free(&ff); ot_free(&sc);
    return o;
}

/* Every case the suites run: case c, activations f32 / bf16 (ai), caches
 * f16 / bf16 (ci), variant v (bit 0 bias, bit 1 norms); the head dim 512
 * case once. */
#define DQ_FOR_EACH(c, ai, ci, v)                                                                              \
    for (size_t c = 0; c < DQ_NCASES; c++)                                                                     \
        for (int ai = 0; ai < 2; ai++)                                                                         \
            for (int ci = 0; ci < 2; ci++)                                                                     \
                for (int v = 0; v < 4; v++)                                                                    \
                    if (dq_cases[c].r.D < 512 || (ai == 1 && ci == 1 && v == 3))
#define DQ_ACT(ai) ((ai) ? MLXC_BF16 : MLXC_F32)
#define DQ_CACHE(ci) ((ci) ? MLXC_BF16 : MLXC_F16)

/* The checks of mlxc_attention_decode_qkv beyond its two ops': the two
 * descs agree, one token's row, out and scratch apart from the inputs. */
static void decode_qkv_checks_on(mlxc_device *dev) {
    const uint32_t H = 4, KV = 2, D = 64, cap = 16;
    ot_buf qkv = ot_alloc(dev, MLXC_BF16, (H + 2 * KV) * D), qkv2 = ot_alloc(dev, MLXC_BF16, 2 * (H + 2 * KV) * D);
    ot_buf q = ot_alloc(dev, MLXC_BF16, H * D), q2 = ot_alloc(dev, MLXC_BF16, 2 * H * D), o = ot_alloc(dev, MLXC_BF16, H * D);
    ot_buf k = ot_alloc(dev, MLXC_BF16, KV * cap * D), v = ot_alloc(dev, MLXC_BF16, KV * cap * D);
    ot_buf pos = ot_alloc(dev, MLXC_I32, 1), pos2 = ot_alloc(dev, MLXC_I32, 2), pu = ot_alloc(dev, MLXC_U32, 1);
    mlxc_rope_qkv_desc rq = {{MLXC_ROPE_NEOX, H, D, 0, 10000.0f, 1.0f, {0}, 0.0f}, KV, cap, false, 1e-6f};
    mlxc_attention_desc ad = dq_attn_desc(H, KV, D, cap);
    size_t sb = 0;
    CHECK_OK(mlxc_attention_decode_scratch_bytes(dev, &ad, &sb));
    ot_buf sc = ot_alloc(dev, MLXC_F32, sb / 4);
    mlxc_encoder *enc = NULL;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
#define DQ(...) mlxc_attention_decode_qkv(enc, __VA_ARGS__)
    CHECK_OK(DQ(qkv.b, NULL, NULL, NULL, q.b, k.b, v.b, pos.b, NULL, o.b, sc.b, &rq, &ad));
    CHECK_OK(mlxc_encoder_commit_and_wait(enc));
    mlxc_encoder_destroy(enc);
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_ERR(mlxc_attention_decode_qkv(NULL, qkv.b, NULL, NULL, NULL, q.b, k.b, v.b, pos.b, NULL, o.b, sc.b, &rq, &ad),
              MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(DQ(qkv.b, NULL, NULL, NULL, q.b, k.b, v.b, pos.b, NULL, NULL, sc.b, &rq, &ad), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(DQ(qkv.b, NULL, NULL, NULL, q.b, k.b, v.b, pos.b, NULL, o.b, NULL, &rq, &ad), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(DQ(qkv.b, NULL, NULL, NULL, q.b, k.b, v.b, pos.b, NULL, o.b, sc.b, NULL, &ad), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(DQ(qkv.b, NULL, NULL, NULL, q.b, k.b, v.b, pos.b, NULL, o.b, sc.b, &rq, NULL), MLXC_ERR_INVALID_ARGUMENT);
    /* two tokens' rows */
    CHECK_ERR(DQ(qkv2.b, NULL, NULL, NULL, q2.b, k.b, v.b, pos2.b, NULL, o.b, sc.b, &rq, &ad),
              MLXC_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(mlxc_last_error(), "one token") != NULL, "rows message: %s", mlxc_last_error());
    /* the descs disagree */
    mlxc_rope_qkv_desc r2 = rq;
    r2.sliding = true;
    CHECK_ERR(DQ(qkv.b, NULL, NULL, NULL, q.b, k.b, v.b, pos.b, NULL, o.b, sc.b, &r2, &ad), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(mlxc_last_error(), "ring") != NULL, "ring message: %s", mlxc_last_error());
    mlxc_attention_desc a2 = ad;
    a2.kv_capacity = 8;
    CHECK_ERR(DQ(qkv.b, NULL, NULL, NULL, q.b, k.b, v.b, pos.b, NULL, o.b, sc.b, &rq, &a2), MLXC_ERR_INVALID_ARGUMENT);
    a2 = ad;
    a2.n_kv_heads = 4;
    CHECK_ERR(DQ(qkv.b, NULL, NULL, NULL, q.b, k.b, v.b, pos.b, NULL, o.b, sc.b, &rq, &a2), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(mlxc_last_error(), "heads") != NULL, "heads message: %s", mlxc_last_error());
    a2 = ad;
    a2.struct_size = 0;
    CHECK_ERR(DQ(qkv.b, NULL, NULL, NULL, q.b, k.b, v.b, pos.b, NULL, o.b, sc.b, &rq, &a2), MLXC_ERR_INVALID_ARGUMENT);
    /* pos as u32: rope_qkv_cache takes i32 positions */
    CHECK_ERR(DQ(qkv.b, NULL, NULL, NULL, q.b, k.b, v.b, pu.b, NULL, o.b, sc.b, &rq, &ad), MLXC_ERR_DTYPE);
    /* out over the q/k/v row; the row inside the scratch */
    mlxc_buffer *ov = NULL, *sv = NULL, *row = NULL;
    int64_t shq[1] = {(int64_t)H * D}, shs[1] = {(int64_t)(sb / 4)}, shr[1] = {(int64_t)(H + 2 * KV) * D};
    ot_buf big = ot_alloc(dev, MLXC_F32, sb / 4);
    CHECK_OK(mlxc_buffer_view(qkv.b, 0, MLXC_BF16, 1, shq, &ov));
    CHECK_ERR(DQ(qkv.b, NULL, NULL, NULL, q.b, k.b, v.b, pos.b, NULL, ov, sc.b, &rq, &ad), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_OK(mlxc_buffer_view(big.b, 0, MLXC_F32, 1, shs, &sv));
    CHECK_OK(mlxc_buffer_view(big.b, sb / 2 / 16 * 16, MLXC_BF16, 1, shr, &row));
    CHECK_ERR(DQ(row, NULL, NULL, NULL, q.b, k.b, v.b, pos.b, NULL, o.b, sv, &rq, &ad), MLXC_ERR_INVALID_ARGUMENT);
#undef DQ
    mlxc_buffer_release(ov);
    mlxc_buffer_release(sv);
    mlxc_buffer_release(row);
    mlxc_encoder_destroy(enc);
    ot_free(&qkv); ot_free(&qkv2); ot_free(&q); ot_free(&q2); ot_free(&o); ot_free(&k); ot_free(&v);
    ot_free(&pos); ot_free(&pos2); ot_free(&pu); ot_free(&sc); ot_free(&big);
}

/* On dev the one op gives the two ops' bits, every step. */
static void decode_qkv_on(mlxc_device *dev) {
    DQ_FOR_EACH(c, ai, ci, v) {
        dq_inputs di = dq_make(&dq_cases[c]);
        dq_out f = dq_run(dev, &dq_cases[c], &di, DQ_ACT(ai), DQ_CACHE(ci), v & 1, v & 2, true);
        dq_out t = dq_run(dev, &dq_cases[c], &di, DQ_ACT(ai), DQ_CACHE(ci), v & 1, v & 2, false);
        CHECK_MSG(dq_same(&f, &t), "decode_qkv case %zu %s/%s bias %d norm %d on %s: differs from rope_qkv_cache + "
                  "attention_decode", c, mlxc_dtype_name(DQ_ACT(ai)), mlxc_dtype_name(DQ_CACHE(ci)), v & 1, v >> 1,
                  mlxc_device_name(dev));
        dq_free_out(&f);
        dq_free_out(&t);
        dq_free_inputs(&di);
    }
}

#ifndef ATTN_NO_MAIN

static mlxc_device *g_cpu, *g_dev;

static void scratch_sequence(void) { scratch_sequence_on(g_dev); }
static void scratch_replay(void) { scratch_replay_on(g_dev); }
static void decode_qkv(void) { decode_qkv_on(g_cpu); }
static void decode_qkv_checks(void) { decode_qkv_checks_on(g_cpu); }

static void check_case(attn_case *c) {
    char s[256];
    ac_fill(c);
    double *ref = ac_reference(c), *out = ac_run(g_cpu, c);
    const size_t n = ac_qn(c);
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

static void wide_cases(void) {
    for (uint32_t i = 0; i < N_WIDE_CASES; i++) {
        attn_case c = ac_wide_case(i);
        check_case(&c);
    }
}

static void encoder_cases(void) {
    for (uint32_t i = 0; i < N_ENC_CASES; i++) {
        attn_case c = ac_enc_case(i);
        check_case(&c);
    }
}

static void ring_cases(void) {
    for (uint32_t i = 0; i < N_RING_CASES; i++) {
        attn_case c = ac_ring_case(i);
        check_case(&c);
    }
}

static void ring_chunks_equal_full(void) {
    ring_chunks_on(g_cpu, 128, 1e-5);
    ring_chunks_on(g_cpu, 512, 1e-5);
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
    e.n_heads = 34;
    e.n_kv_heads = 2; /* ratio 17 */
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, o.b, sc.b, NULL, &e), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(mlxc_last_error(), "GQA ratio") != NULL, "ratio message: %s", mlxc_last_error());
    e.n_kv_heads = 4; /* not a whole ratio */
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, o.b, sc.b, NULL, &e), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(mlxc_last_error(), "whole number") != NULL, "ratio message: %s", mlxc_last_error());
    e = d;
    e.head_dim = 1024;
    CHECK_ERR(mlxc_attention_prefill(enc, q4.b, k.b, v.b, o4.b, &e), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(mlxc_last_error(), "head_dim 1024 is not supported") != NULL, "head_dim message: %s",
              mlxc_last_error());
    e = d;
    e.batch = 2; /* decode takes one sequence */
    CHECK_ERR(mlxc_attention_decode(enc, q.b, k.b, v.b, o.b, sc.b, NULL, &e), MLXC_ERR_INVALID_ARGUMENT);
    e = d;
    e.non_causal = true;
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
    e = d;
    e.batch = 2; /* q4 holds one sequence */
    CHECK_ERR(mlxc_attention_prefill(enc, q4.b, k.b, v.b, o4.b, &e), MLXC_ERR_SHAPE);
    e = d;
    e.non_causal = true;
    CHECK_OK(mlxc_attention_prefill(enc, q4.b, k.b, v.b, o4.b, &e));
    e.window = 4; /* a window is causal */
    CHECK_ERR(mlxc_attention_prefill(enc, q4.b, k.b, v.b, o4.b, &e), MLXC_ERR_INVALID_ARGUMENT);
    {
        /* masks: (q_len, kv_len) = (4, 10), per head (8, 4, 10), per sequence and head (1, 8, 4, 10) */
        ot_buf mb = ot_alloc(g_cpu, MLXC_F32, 8 * 4 * 11), mi = ot_alloc(g_cpu, MLXC_I32, 4);
        ot_buf kl = ot_alloc(g_cpu, MLXC_U32, 2), klf = ot_alloc(g_cpu, MLXC_F32, 1);
        mlxc_buffer *m2 = NULL, *m3 = NULL, *m4 = NULL, *bad = NULL, *badh = NULL, *badb = NULL;
        CHECK_OK(mlxc_buffer_view(mb.b, 0, MLXC_F32, 2, (int64_t[]){4, 10}, &m2));
        CHECK_OK(mlxc_buffer_view(mb.b, 0, MLXC_F32, 3, (int64_t[]){8, 4, 10}, &m3));
        CHECK_OK(mlxc_buffer_view(mb.b, 0, MLXC_F32, 4, (int64_t[]){1, 8, 4, 10}, &m4));
        CHECK_OK(mlxc_buffer_view(mb.b, 0, MLXC_F32, 2, (int64_t[]){4, 11}, &bad));
        CHECK_OK(mlxc_buffer_view(mb.b, 0, MLXC_F32, 3, (int64_t[]){2, 4, 10}, &badh));
        CHECK_OK(mlxc_buffer_view(mb.b, 0, MLXC_F32, 4, (int64_t[]){3, 1, 4, 10}, &badb));
        CHECK_OK(mlxc_attention_prefill_masked(enc, q4.b, k.b, v.b, o4.b, m2, NULL, &d));
        CHECK_OK(mlxc_attention_prefill_masked(enc, q4.b, k.b, v.b, o4.b, m3, kl.b, &d));
        CHECK_OK(mlxc_attention_prefill_masked(enc, q4.b, k.b, v.b, o4.b, m4, NULL, &d));
        CHECK_OK(mlxc_attention_prefill_masked(enc, q4.b, k.b, v.b, o4.b, NULL, NULL, &d));
        CHECK_ERR(mlxc_attention_prefill_masked(enc, q4.b, k.b, v.b, o4.b, bad, NULL, &d), MLXC_ERR_SHAPE);
        CHECK_MSG(strstr(mlxc_last_error(), "mask must be") != NULL, "mask message: %s", mlxc_last_error());
        CHECK_ERR(mlxc_attention_prefill_masked(enc, q4.b, k.b, v.b, o4.b, badh, NULL, &d), MLXC_ERR_SHAPE);
        CHECK_MSG(strstr(mlxc_last_error(), "mask head dim") != NULL, "mask message: %s", mlxc_last_error());
        CHECK_ERR(mlxc_attention_prefill_masked(enc, q4.b, k.b, v.b, o4.b, badb, NULL, &d), MLXC_ERR_SHAPE);
        CHECK_MSG(strstr(mlxc_last_error(), "mask batch dim") != NULL, "mask message: %s", mlxc_last_error());
        CHECK_ERR(mlxc_attention_prefill_masked(enc, q4.b, k.b, v.b, o4.b, mi.b, NULL, &d), MLXC_ERR_DTYPE);
        CHECK_ERR(mlxc_attention_prefill_masked(enc, q4.b, k.b, v.b, o4.b, NULL, klf.b, &d), MLXC_ERR_DTYPE);
        e = d;
        e.kv_len = 0; /* a mask over no keys */
        CHECK_ERR(mlxc_attention_prefill_masked(enc, q4.b, k.b, v.b, o4.b, m2, NULL, &e), MLXC_ERR_INVALID_ARGUMENT);
        e = d;
        e.batch = 2;
        ot_buf q8 = ot_alloc(g_cpu, MLXC_BF16, 2 * 4 * 8 * 128), o8 = ot_alloc(g_cpu, MLXC_BF16, 2 * 4 * 8 * 128);
        ot_buf k2 = ot_alloc(g_cpu, MLXC_BF16, 2 * 2 * 64 * 128), v2 = ot_alloc(g_cpu, MLXC_BF16, 2 * 2 * 64 * 128);
        CHECK_OK(mlxc_attention_prefill_masked(enc, q8.b, k2.b, v2.b, o8.b, m4, kl.b, &e));
        CHECK_ERR(mlxc_attention_prefill_masked(enc, q8.b, k.b, v.b, o8.b, m4, kl.b, &e), MLXC_ERR_SHAPE);
        CHECK_ERR(mlxc_attention_prefill_masked(enc, q8.b, k2.b, v2.b, o8.b, m4, klf.b, &e), MLXC_ERR_DTYPE);
        ot_buf kl1 = ot_alloc(g_cpu, MLXC_U32, 1);
        CHECK_ERR(mlxc_attention_prefill_masked(enc, q8.b, k2.b, v2.b, o8.b, NULL, kl1.b, &e), MLXC_ERR_SHAPE);
        /* the ring prefill: chunk (q_len, n_kv_heads, head_dim) */
        ot_buf kc = ot_alloc(g_cpu, MLXC_BF16, 4 * 2 * 128), vc = ot_alloc(g_cpu, MLXC_BF16, 4 * 2 * 128);
        ot_buf kch = ot_alloc(g_cpu, MLXC_F16, 4 * 2 * 128);
        e = d;
        e.q_offset = 100;
        e.window = 64;
        CHECK_OK(mlxc_attention_prefill_ring(enc, q4.b, k.b, v.b, kc.b, vc.b, o4.b, &e));
        e.window = 65; /* wider than the ring */
        CHECK_ERR(mlxc_attention_prefill_ring(enc, q4.b, k.b, v.b, kc.b, vc.b, o4.b, &e), MLXC_ERR_INVALID_ARGUMENT);
        CHECK_MSG(strstr(mlxc_last_error(), "exceeds the ring") != NULL, "ring message: %s", mlxc_last_error());
        e.window = 0;
        e.non_causal = true;
        CHECK_ERR(mlxc_attention_prefill_ring(enc, q4.b, k.b, v.b, kc.b, vc.b, o4.b, &e), MLXC_ERR_INVALID_ARGUMENT);
        e.non_causal = false;
        CHECK_ERR(mlxc_attention_prefill_ring(enc, q4.b, k.b, v.b, kch.b, vc.b, o4.b, &e), MLXC_ERR_DTYPE);
        CHECK_ERR(mlxc_attention_prefill_ring(enc, q4.b, k.b, v.b, q8.b, vc.b, o4.b, &e), MLXC_ERR_SHAPE);
        mlxc_buffer *oc = NULL; /* a chunk inside out */
        CHECK_OK(mlxc_buffer_view(o4.b, 0, MLXC_BF16, 1, (int64_t[]){4 * 2 * 128}, &oc));
        CHECK_ERR(mlxc_attention_prefill_ring(enc, q4.b, k.b, v.b, oc, vc.b, o4.b, &e), MLXC_ERR_INVALID_ARGUMENT);
        mlxc_buffer_release(oc);
        CHECK_ERR(mlxc_attention_prefill_ring(enc, q4.b, k.b, v.b, NULL, vc.b, o4.b, &e), MLXC_ERR_INVALID_ARGUMENT);
        mlxc_buffer_release(m2); mlxc_buffer_release(m3); mlxc_buffer_release(m4);
        mlxc_buffer_release(bad); mlxc_buffer_release(badh); mlxc_buffer_release(badb);
        ot_free(&mb); ot_free(&mi); ot_free(&kl); ot_free(&klf); ot_free(&kl1);
        ot_free(&q8); ot_free(&o8); ot_free(&k2); ot_free(&v2); ot_free(&kc); ot_free(&vc); ot_free(&kch);
    }
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
    RUN(wide_cases);
    RUN(encoder_cases);
    RUN(ring_cases);
    RUN(ring_chunks_equal_full);
    RUN(decode_matches_prefill);
    RUN(empty_rows_are_zero);
    RUN(device_length_changes);
    RUN(argument_checks);
    RUN(decode_qkv);
    RUN(decode_qkv_checks);
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
