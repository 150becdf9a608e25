/* The cases of mlxc_rope_qkv_cache and the two ways to compute them on one
 * device: the fused op, and the separate ops it stands for (mlxc_add of the
 * bias, mlxc_rms_norm per head, mlxc_rope of q and of k, mlxc_kv_cache_copy
 * of k and v with the positions from the device), each run on its own.
 * Shared by the reference suite (fused == composed on the CPU, bit for bit)
 * and the parity suite (CUDA against the CPU, and fused == composed on
 * CUDA). */
#ifndef MLXC_ROPE_QKV_TEST_H
#define MLXC_ROPE_QKV_TEST_H

#include "mlxc/ops.h"
#include "ops_test.h"

typedef struct rq_case {
    mlxc_rope_mode mode;
    uint32_t       T, H, KV, D, rd; /* tokens, q heads, KV heads, head_dim, rope_dim (0: head_dim) */
    bool           ff;              /* freq_factors */
    bool           sliding;
    uint32_t       cap, pos0;       /* cache rows; the first token's position */
    float          attn_factor;
} rq_case;

/* Decode and 3-token steps over GQA and MHA, head dims 64, 128, 256 and an
 * odd 36 (the norm's tail lane), full and partial rotary; the caches wrap
 * (sliding 8: positions 6, 7, 8), drop a row past a linear cache (10, 11,
 * 12 into 12 rows), drop every k/v row (8 into 8), and keep only the last
 * two of three tokens (sliding 2).  The last is a prefill step long
 * enough (1.4M pairs) for CUDA's rope to take its vector path. */
static const rq_case rq_cases[] = {
    {MLXC_ROPE_NEOX, 1, 4, 2, 64, 0, false, false, 16, 5, 0.0f},
    {MLXC_ROPE_NORM, 3, 8, 2, 128, 0, true, false, 32, 10, 0.0f},
    {MLXC_ROPE_NEOX, 3, 6, 3, 128, 64, true, true, 8, 6, 0.0f},
    {MLXC_ROPE_NORM, 3, 2, 1, 64, 32, false, false, 12, 10, 0.0f},
    {MLXC_ROPE_NEOX, 1, 4, 4, 64, 0, false, false, 8, 8, 0.0f},
    {MLXC_ROPE_NEOX, 3, 4, 2, 128, 0, true, true, 2, 100, 0.0f},
    {MLXC_ROPE_NEOX, 1, 2, 1, 256, 128, false, false, 64, 37, 1.118f},
    {MLXC_ROPE_NORM, 3, 3, 1, 36, 20, true, true, 5, 3, 0.0f},
    {MLXC_ROPE_NEOX, 700, 32, 8, 128, 0, false, false, 1024, 3, 0.0f},
};
#define RQ_NCASES (sizeof rq_cases / sizeof *rq_cases)

/* Host inputs of one case (doubles, rounded to their dtypes on upload). */
typedef struct rq_inputs {
    double  *qkv, *bias, *qn, *kn, *ff, *cache_k, *cache_v; /* cache_*: NULL = poisoned */
    double  *pos;                                           /* (T): pos0, pos0 + 1, ... */
} rq_inputs;

/* The long case runs once per dtype (caches alike, bias and norms on):
 * enough for the vector path, and the suites stay quick. */
static inline bool rq_skip(const rq_case *c, int act_i, int cache_i, int variant) {
    return c->T > 8 && (act_i != cache_i || variant != 3);
}
/* Every case the suites run: case c, activation dtype ai, cache dtype ci,
 * variant v (bit 0 bias, bit 1 norms), the long case once per dtype. */
#define RQ_FOR_EACH(c, ai, ci, v)                                                                              \
    for (size_t c = 0; c < RQ_NCASES; c++)                                                                     \
        for (int ai = 0; ai < 3; ai++)                                                                         \
            for (int ci = 0; ci < 3; ci++)                                                                     \
                for (int v = 0; v < 4; v++)                                                                    \
                    if (!rq_skip(&rq_cases[c], ai, ci, v))
static inline uint32_t rq_nh(const rq_case *c) { return c->H + 2 * c->KV; }
static inline size_t rq_cache_n(const rq_case *c) { return (size_t)c->KV * c->cap * c->D; }

static inline double *rq_rand(size_t n, double lo, double hi) {
    double *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = ot_uniform(lo, hi);
    return h;
}
static inline rq_inputs rq_make(const rq_case *c, bool cache_init) {
    const uint32_t rd = c->rd ? c->rd : c->D;
    rq_inputs in = {rq_rand((size_t)c->T * rq_nh(c) * c->D, -2, 2), rq_rand((size_t)rq_nh(c) * c->D, -1, 1),
                    rq_rand(c->D, 0.5, 1.5), rq_rand(c->D, 0.5, 1.5), rq_rand(rd / 2, 1, 8),
                    cache_init ? rq_rand(rq_cache_n(c), 3, 5) : NULL, cache_init ? rq_rand(rq_cache_n(c), -5, -3) : NULL,
                    malloc(c->T * sizeof(double))};
    for (uint32_t t = 0; t < c->T; t++) in.pos[t] = c->pos0 + t;
    return in;
}
static inline void rq_free_inputs(rq_inputs *in) {
    free(in->qkv); free(in->bias); free(in->qn); free(in->kn); free(in->ff); free(in->cache_k); free(in->cache_v);
    free(in->pos);
}

static inline ot_buf rq_upload(mlxc_device *dev, mlxc_dtype dt, size_t n, const double *h) {
    ot_buf b = ot_alloc(dev, dt, n);
    memcpy(b.h, h, n * sizeof *h);
    ot_upload(&b);
    return b;
}
static inline ot_buf rq_cache(mlxc_device *dev, mlxc_dtype dt, const rq_case *c, const double *init) {
    if (init) return rq_upload(dev, dt, rq_cache_n(c), init);
    return ot_out(dev, dt, rq_cache_n(c));
}

static inline mlxc_rope_desc rq_rope_desc(const rq_case *c, uint32_t heads) {
    mlxc_rope_desc d = {c->mode, heads, c->D, c->rd, c->D == 128 ? 1e6f : 10000.0f, 1.0f, {0}, c->attn_factor};
    return d;
}

/* The outputs of one way: q (T, H, D) and the two caches. */
typedef struct rq_out {
    ot_buf q, k, v;
} rq_out;
static inline void rq_free_out(rq_out *o) {
    ot_free(&o->q); ot_free(&o->k); ot_free(&o->v);
}

#define RQ_EPS 1e-6f

/* The fused op on dev. */
static inline rq_out rq_fused(mlxc_device *dev, const rq_case *c, const rq_inputs *in, mlxc_dtype act, mlxc_dtype cdt,
                              bool bias, bool norm) {
    const uint32_t NH = rq_nh(c), rd = c->rd ? c->rd : c->D;
    ot_buf qkv = rq_upload(dev, act, (size_t)c->T * NH * c->D, in->qkv), b = rq_upload(dev, act, (size_t)NH * c->D, in->bias);
    ot_buf qn = rq_upload(dev, act, c->D, in->qn), kn = rq_upload(dev, act, c->D, in->kn);
    ot_buf ff = rq_upload(dev, MLXC_F32, rd / 2, in->ff), pos = rq_upload(dev, MLXC_I32, c->T, in->pos);
    rq_out o = {ot_out(dev, act, (size_t)c->T * c->H * c->D), rq_cache(dev, cdt, c, in->cache_k),
                rq_cache(dev, cdt, c, in->cache_v)};
    mlxc_rope_qkv_desc d = {rq_rope_desc(c, c->H), c->KV, c->cap, c->sliding, RQ_EPS};
    OT_RUN(dev, mlxc_rope_qkv_cache(enc, qkv.b, bias ? b.b : NULL, norm ? qn.b : NULL, norm ? kn.b : NULL, o.q.b, o.k.b,
                                    o.v.b, pos.b, c->ff ? ff.b : NULL, &d));
    ot_free(&qkv); ot_free(&b); ot_free(&qn); ot_free(&kn); ot_free(&ff); ot_free(&pos);
    return o;
}

/* The separate ops on dev, as the forward pass runs them (the bias
 * broadcast over the tokens on the host, as a strided copy would). */
static inline rq_out rq_composed(mlxc_device *dev, const rq_case *c, const rq_inputs *in, mlxc_dtype act,
                                 mlxc_dtype cdt, bool bias, bool norm) {
    const uint32_t NH = rq_nh(c), rd = c->rd ? c->rd : c->D, D = c->D;
    rq_out o = {ot_out(dev, act, (size_t)c->T * c->H * D), rq_cache(dev, cdt, c, in->cache_k),
                rq_cache(dev, cdt, c, in->cache_v)};
    ot_buf ff = rq_upload(dev, MLXC_F32, rd / 2, in->ff), pos = rq_upload(dev, MLXC_I32, c->T, in->pos);
    mlxc_kv_cache_desc kd = {c->KV, D, c->cap, c->sliding};
    for (int part = 0; part < 3; part++) { /* q, k, v */
        const uint32_t h0 = part == 0 ? 0 : part == 1 ? c->H : c->H + c->KV, nh = part == 0 ? c->H : c->KV;
        const size_t n = (size_t)c->T * nh * D;
        double *xh = malloc(n * sizeof *xh), *bh = malloc(n * sizeof *bh);
        for (uint32_t t = 0; t < c->T; t++)
            for (size_t j = 0; j < (size_t)nh * D; j++) {
                xh[t * (size_t)nh * D + j] = in->qkv[((size_t)t * NH + h0) * D + j];
                bh[t * (size_t)nh * D + j] = in->bias[(size_t)h0 * D + j];
            }
        ot_buf x = rq_upload(dev, act, n, xh), br = rq_upload(dev, act, n, bh), x2 = ot_out(dev, act, n);
        ot_buf w = rq_upload(dev, act, D, part == 0 ? in->qn : in->kn), x3 = ot_out(dev, act, n);
        ot_buf *cur = &x;
        if (bias) OT_RUN(dev, mlxc_add(enc, x.b, br.b, x.b));
        if (norm && part < 2) {
            OT_RUN(dev, mlxc_rms_norm(enc, cur->b, w.b, x2.b, D, RQ_EPS));
            cur = &x2;
        }
        if (part < 2) {
            mlxc_rope_desc d = rq_rope_desc(c, nh);
            OT_RUN(dev, mlxc_rope(enc, cur->b, part == 0 ? o.q.b : x3.b, pos.b, c->ff ? ff.b : NULL, &d));
            cur = &x3;
        }
        if (part > 0) OT_RUN(dev, mlxc_kv_cache_copy(enc, cur->b, part == 1 ? o.k.b : o.v.b, &kd, 0, pos.b));
        ot_free(&x); ot_free(&br); ot_free(&x2); ot_free(&w); ot_free(&x3);
        free(xh); free(bh);
    }
    ot_free(&ff); ot_free(&pos);
    return o;
}

/* The raw bytes of a and b are the same. */
static inline bool rq_same_bytes(const ot_buf *a, const ot_buf *b) {
    const size_t n = a->n * mlxc_dtype_size(a->dt);
    unsigned char *x = malloc(n), *y = malloc(n);
    bool same = a->n == b->n && a->dt == b->dt && mlxc_buffer_read(a->b, 0, x, n) == MLXC_OK &&
                mlxc_buffer_read(b->b, 0, y, n) == MLXC_OK && memcmp(x, y, n) == 0;
    free(x); free(y);
    return same;
}

#endif
