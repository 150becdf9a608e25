/* Every op-library front-end's validation: NULL arguments, dtypes, shapes,
 * extents, overlap, out-of-range parameters, KV-cache overflow, buffers of
 * another device.  Each failure must return the documented status, leave a
 * message, and record nothing (the encoder's dispatch count is unchanged).
 * Also: the CUDA signature table matches the CPU kernel table both ways. */
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/signatures.h"
#include "mlxc/ops_moe.h"
#include "mlxc/ops_linear_attn.h"
#include "ops_test.h"

static mlxc_device *dev;
static mlxc_encoder *enc;

static mlxc_buffer *buf(mlxc_dtype dt, int64_t n) {
    mlxc_buffer *b = NULL;
    int64_t shape[1] = {n};
    if (mlxc_buffer_alloc(dev, (size_t)n * mlxc_dtype_size(dt), dt, 1, shape, &b) != MLXC_OK) exit(1);
    return b;
}
static mlxc_buffer *view(mlxc_buffer *p, size_t off, mlxc_dtype dt, int64_t n) {
    mlxc_buffer *v = NULL;
    int64_t shape[1] = {n};
    if (mlxc_buffer_view(p, off, dt, 1, shape, &v) != MLXC_OK) exit(1);
    return v;
}

/* A failing call records nothing. */
#define FAILS(call, want)                                                                      \
    do {                                                                                       \
        size_t n0_ = mlxc_encoder_dispatch_count(enc);                                         \
        CHECK_ERR(call, want);                                                                 \
        CHECK_EQ_INT(mlxc_encoder_dispatch_count(enc), n0_);                                   \
    } while (0)

#define BAD_ARG MLXC_ERR_INVALID_ARGUMENT

static void err_elementwise(void) {
    mlxc_buffer *a = buf(MLXC_F32, 10), *b = buf(MLXC_F32, 10), *h = buf(MLXC_F16, 10), *s = buf(MLXC_F32, 9);
    mlxc_buffer *u = buf(MLXC_U32, 10);
    FAILS(mlxc_scale(NULL, a, b, 1.0f), BAD_ARG);
    FAILS(mlxc_scale(enc, NULL, b, 1.0f), BAD_ARG);
    FAILS(mlxc_scale(enc, a, NULL, 1.0f), BAD_ARG);
    FAILS(mlxc_scale(enc, a, b, NAN), BAD_ARG);
    FAILS(mlxc_scale(enc, u, u, 1.0f), MLXC_ERR_DTYPE);
    FAILS(mlxc_scale(enc, a, h, 1.0f), MLXC_ERR_DTYPE);
    FAILS(mlxc_scale(enc, a, s, 1.0f), MLXC_ERR_SHAPE);
    FAILS(mlxc_softcap(enc, a, b, 0.0f), BAD_ARG);
    FAILS(mlxc_softcap(enc, a, b, -3.0f), BAD_ARG);
    FAILS(mlxc_softcap(enc, a, b, INFINITY), BAD_ARG);
    FAILS(mlxc_gelu(enc, a, s), MLXC_ERR_SHAPE);
    FAILS(mlxc_silu_mul(enc, a, NULL, b), BAD_ARG);
    FAILS(mlxc_silu_mul(enc, a, h, b), MLXC_ERR_DTYPE);
    FAILS(mlxc_silu_mul(enc, a, s, b), MLXC_ERR_SHAPE);
    FAILS(mlxc_sigmoid_mul(enc, a, b, s), MLXC_ERR_SHAPE);
    mlxc_buffer *a5 = buf(MLXC_F32, 5), *h5 = buf(MLXC_F16, 5);
    FAILS(mlxc_swiglu(enc, a, NULL, 1, 5), BAD_ARG);
    FAILS(mlxc_swiglu(NULL, a, a5, 1, 5), BAD_ARG);
    FAILS(mlxc_swiglu(enc, a, a5, 0, 5), BAD_ARG);
    FAILS(mlxc_swiglu(enc, a, a5, 1, 0), BAD_ARG);
    FAILS(mlxc_swiglu(enc, a, h5, 1, 5), MLXC_ERR_DTYPE);
    FAILS(mlxc_swiglu(enc, u, u, 1, 5), MLXC_ERR_DTYPE);
    FAILS(mlxc_swiglu(enc, a, a5, 2, 5), MLXC_ERR_SHAPE);  /* x holds 1 row of 10 */
    FAILS(mlxc_swiglu(enc, a, b, 1, 5), MLXC_ERR_SHAPE);   /* out holds 10, not 5 */
    FAILS(mlxc_swiglu(enc, a, a, 1, 5), MLXC_ERR_SHAPE);
    mlxc_buffer *a10v = NULL;
    int64_t shp5[1] = {5};
    CHECK_OK(mlxc_buffer_view(a, 0, MLXC_F32, 1, shp5, &a10v));
    FAILS(mlxc_swiglu(enc, a, a10v, 1, 5), BAD_ARG);        /* out overlaps x */
    mlxc_buffer_release(a10v);
    mlxc_buffer_release(a5);
    mlxc_buffer_release(h5);
    FAILS(mlxc_sigmoid_mul(enc, NULL, b, a), BAD_ARG);
    FAILS(mlxc_cast(enc, a, NULL), BAD_ARG);
    FAILS(mlxc_cast(enc, u, a), MLXC_ERR_DTYPE);
    FAILS(mlxc_cast(enc, a, u), MLXC_ERR_DTYPE);
    mlxc_buffer *h9 = buf(MLXC_F16, 9);
    FAILS(mlxc_cast(enc, a, h9), MLXC_ERR_SHAPE);
    mlxc_buffer_release(h9);
    mlxc_buffer_release(a); mlxc_buffer_release(b); mlxc_buffer_release(h); mlxc_buffer_release(s);
    mlxc_buffer_release(u);
}

static void err_layout(void) {
    mlxc_buffer *a = buf(MLXC_F32, 60), *b = buf(MLXC_F32, 60), *h = buf(MLXC_F16, 60), *c = buf(MLXC_F32, 59);
    mlxc_strided_copy sc = {2, {6, 10}, {10, 1}, {10, 1}};
    FAILS(mlxc_copy_strided(enc, a, b, NULL), BAD_ARG);
    FAILS(mlxc_copy_strided(enc, a, h, &sc), MLXC_ERR_DTYPE);
    FAILS(mlxc_copy_strided(enc, a, c, &sc), MLXC_ERR_OUT_OF_RANGE); /* dst too small */
    FAILS(mlxc_copy_strided(enc, c, a, &sc), MLXC_ERR_OUT_OF_RANGE); /* src too small */
    FAILS(mlxc_copy_strided(enc, a, a, &sc), BAD_ARG);               /* overlap */
    mlxc_strided_copy bad = sc;
    bad.ndim = 4;
    FAILS(mlxc_copy_strided(enc, a, b, &bad), BAD_ARG);
    bad.ndim = 0;
    FAILS(mlxc_copy_strided(enc, a, b, &bad), BAD_ARG);
    bad = sc;
    bad.shape[1] = 0;
    FAILS(mlxc_copy_strided(enc, a, b, &bad), MLXC_ERR_SHAPE);
    bad = sc;
    bad.dst_stride[0] = 0;
    FAILS(mlxc_copy_strided(enc, a, b, &bad), BAD_ARG);
    bad = sc;
    bad.src_stride[0] = UINT64_MAX / 2;
    FAILS(mlxc_copy_strided(enc, a, b, &bad), MLXC_ERR_OUT_OF_RANGE); /* index overflow */
    FAILS(mlxc_transpose_2d(enc, a, b, 1, 0, 60), BAD_ARG);
    FAILS(mlxc_transpose_2d(enc, a, b, 1, 7, 9), MLXC_ERR_SHAPE);
    FAILS(mlxc_transpose_2d(enc, a, h, 1, 6, 10), MLXC_ERR_DTYPE);
    FAILS(mlxc_transpose_2d(enc, a, a, 1, 6, 10), BAD_ARG);
    FAILS(mlxc_permute_021(enc, a, b, 2, 3, 11), MLXC_ERR_SHAPE);
    FAILS(mlxc_permute_021(enc, a, NULL, 2, 3, 10), BAD_ARG);
    FAILS(mlxc_permute_021(enc, a, b, 0, 3, 10), BAD_ARG);
    /* Overlapping views of one allocation. */
    mlxc_buffer *big = buf(MLXC_F32, 100), *v1 = view(big, 0, MLXC_F32, 60), *v2 = view(big, 160, MLXC_F32, 60);
    FAILS(mlxc_permute_021(enc, v1, v2, 2, 3, 10), BAD_ARG);
    mlxc_buffer_release(v1); mlxc_buffer_release(v2); mlxc_buffer_release(big);

    /* embedding gather: table (vocab, dim), u32 ids, out f32 or table dtype */
    mlxc_buffer *tab = buf(MLXC_BF16, 40), *ids = buf(MLXC_U32, 3), *ids_i = buf(MLXC_I32, 3);
    mlxc_buffer *o = buf(MLXC_F32, 24), *oh = buf(MLXC_F16, 24);
    FAILS(mlxc_embedding_gather(enc, tab, ids, o, 0, 1.0f), BAD_ARG);
    FAILS(mlxc_embedding_gather(enc, tab, ids, o, 6, 1.0f), MLXC_ERR_SHAPE); /* 40 not rows of 6 */
    FAILS(mlxc_embedding_gather(enc, tab, ids_i, o, 8, 1.0f), MLXC_ERR_DTYPE);
    FAILS(mlxc_embedding_gather(enc, tab, ids, oh, 8, 1.0f), MLXC_ERR_DTYPE);
    FAILS(mlxc_embedding_gather(enc, ids, ids, o, 8, 1.0f), MLXC_ERR_DTYPE);
    FAILS(mlxc_embedding_gather(enc, tab, ids, o, 4, 1.0f), MLXC_ERR_SHAPE); /* out not 3 x 4 */
    FAILS(mlxc_embedding_gather(enc, tab, ids, o, 8, NAN), BAD_ARG);
    FAILS(mlxc_embedding_gather(enc, NULL, ids, o, 8, 1.0f), BAD_ARG);

    /* kv cache: src (n, 2, 4), cache (2, 8, 4) */
    mlxc_buffer *src = buf(MLXC_F32, 3 * 8), *cache = buf(MLXC_BF16, 2 * 8 * 4), *pos = buf(MLXC_I32, 1);
    mlxc_buffer *posu = buf(MLXC_U32, 1);
    mlxc_kv_cache_desc kd = {2, 4, 8, false};
    CHECK_OK(mlxc_kv_cache_copy(enc, src, cache, &kd, 5, NULL)); /* positions 5, 6, 7: fits */
    FAILS(mlxc_kv_cache_copy(enc, src, cache, &kd, 6, NULL), MLXC_ERR_OUT_OF_RANGE);
    FAILS(mlxc_kv_cache_copy(enc, src, cache, &kd, UINT32_MAX, NULL), MLXC_ERR_OUT_OF_RANGE);
    CHECK_OK(mlxc_kv_cache_copy(enc, src, cache, &kd, 6, pos)); /* device position: not checkable here */
    kd.sliding = true;
    CHECK_OK(mlxc_kv_cache_copy(enc, src, cache, &kd, 6, NULL)); /* a ring wraps */
    kd.sliding = false;
    FAILS(mlxc_kv_cache_copy(enc, src, cache, &kd, 0, posu), MLXC_ERR_DTYPE);
    FAILS(mlxc_kv_cache_copy(enc, src, cache, NULL, 0, NULL), BAD_ARG);
    mlxc_kv_cache_desc k0 = {2, 4, 0, false};
    FAILS(mlxc_kv_cache_copy(enc, src, cache, &k0, 0, NULL), BAD_ARG);
    mlxc_kv_cache_desc k5 = {2, 5, 8, false};
    FAILS(mlxc_kv_cache_copy(enc, src, cache, &k5, 0, NULL), MLXC_ERR_SHAPE); /* src not rows of 10 */
    mlxc_kv_cache_desc k16 = {2, 4, 16, false};
    FAILS(mlxc_kv_cache_copy(enc, src, cache, &k16, 0, NULL), MLXC_ERR_SHAPE); /* cache extent */
    FAILS(mlxc_kv_cache_copy(enc, ids, cache, &kd, 0, NULL), MLXC_ERR_DTYPE);
    FAILS(mlxc_kv_cache_copy(enc, src, src, &kd, 0, NULL), MLXC_ERR_SHAPE);
    mlxc_buffer_release(a); mlxc_buffer_release(b); mlxc_buffer_release(h); mlxc_buffer_release(c);
    mlxc_buffer_release(tab); mlxc_buffer_release(ids); mlxc_buffer_release(ids_i); mlxc_buffer_release(o);
    mlxc_buffer_release(oh); mlxc_buffer_release(src); mlxc_buffer_release(cache); mlxc_buffer_release(pos);
    mlxc_buffer_release(posu);
}

static void err_select(void) {
    mlxc_buffer *x = buf(MLXC_F32, 30), *idx = buf(MLXC_U32, 3), *val = buf(MLXC_F32, 3), *ii = buf(MLXC_I32, 3);
    mlxc_buffer *tv = buf(MLXC_F32, 12), *ti = buf(MLXC_U32, 12), *u = buf(MLXC_F32, 3);
    FAILS(mlxc_argmax(enc, x, idx, val, 0), BAD_ARG);
    FAILS(mlxc_argmax(enc, x, idx, val, 7), MLXC_ERR_SHAPE);
    FAILS(mlxc_argmax(enc, x, ii, val, 10), MLXC_ERR_DTYPE);
    FAILS(mlxc_argmax(enc, x, idx, idx, 10), MLXC_ERR_DTYPE);
    FAILS(mlxc_argmax(enc, x, idx, val, 15), MLXC_ERR_SHAPE); /* 2 rows, idx has 3 */
    FAILS(mlxc_argmax(enc, idx, idx, val, 1), MLXC_ERR_DTYPE);
    FAILS(mlxc_argmax(enc, x, NULL, val, 10), BAD_ARG);
    FAILS(mlxc_topk(enc, x, tv, ti, 10, 0), BAD_ARG);
    FAILS(mlxc_topk(enc, x, tv, ti, 10, 65), BAD_ARG);
    FAILS(mlxc_topk(enc, x, tv, ti, 10, 11), BAD_ARG);
    FAILS(mlxc_topk(enc, x, tv, ti, 10, 3), MLXC_ERR_SHAPE); /* wants 9 */
    FAILS(mlxc_topk(enc, x, ti, tv, 10, 4), MLXC_ERR_DTYPE);
    FAILS(mlxc_sample_softmax(enc, x, NULL, idx, val, 10, -1.0f, 0.5f), BAD_ARG);
    FAILS(mlxc_sample_softmax(enc, x, NULL, idx, val, 10, NAN, 0.5f), BAD_ARG);
    FAILS(mlxc_sample_softmax(enc, x, NULL, idx, val, 10, 1.0f, 1.0f), BAD_ARG);
    FAILS(mlxc_sample_softmax(enc, x, NULL, idx, val, 10, 1.0f, -0.1f), BAD_ARG);
    FAILS(mlxc_sample_softmax(enc, x, NULL, ii, val, 10, 1.0f, 0.5f), MLXC_ERR_DTYPE);
    FAILS(mlxc_sample_softmax(enc, x, idx, idx, val, 10, 1.0f, 0.5f), MLXC_ERR_DTYPE); /* uniforms u32 */
    FAILS(mlxc_sample_softmax(enc, x, tv, idx, val, 10, 1.0f, 0.5f), MLXC_ERR_SHAPE);
    FAILS(mlxc_sample_softmax(enc, x, u, idx, tv, 10, 1.0f, 0.5f), MLXC_ERR_SHAPE);
    FAILS(mlxc_sample_softmax(enc, x, u, idx, val, 11, 1.0f, 0.5f), MLXC_ERR_SHAPE);
    CHECK_OK(mlxc_sample_softmax(enc, x, u, idx, NULL, 10, 1.0f, 7.0f)); /* u ignored with a buffer */
    mlxc_buffer_release(x); mlxc_buffer_release(idx); mlxc_buffer_release(val); mlxc_buffer_release(ii);
    mlxc_buffer_release(tv); mlxc_buffer_release(ti); mlxc_buffer_release(u);
}

static void err_norm(void) {
    mlxc_buffer *x = buf(MLXC_BF16, 32), *r = buf(MLXC_BF16, 32), *w = buf(MLXC_BF16, 8), *o = buf(MLXC_BF16, 32);
    mlxc_buffer *s = buf(MLXC_BF16, 32), *wf = buf(MLXC_F32, 8), *w7 = buf(MLXC_BF16, 7), *o31 = buf(MLXC_BF16, 31);
    FAILS(mlxc_rms_norm_residual(enc, x, NULL, w, o, s, 8, 1e-6f), BAD_ARG);
    FAILS(mlxc_rms_norm_residual(enc, x, r, w, o, s, 0, 1e-6f), BAD_ARG);
    FAILS(mlxc_rms_norm_residual(enc, x, r, w, o, s, 8, -1.0f), BAD_ARG);
    FAILS(mlxc_rms_norm_residual(enc, x, r, w, o, s, 8, NAN), BAD_ARG);
    FAILS(mlxc_rms_norm_residual(enc, x, r, wf, o, s, 8, 1e-6f), MLXC_ERR_DTYPE);
    FAILS(mlxc_rms_norm_residual(enc, x, r, w7, o, s, 8, 1e-6f), MLXC_ERR_SHAPE);
    FAILS(mlxc_rms_norm_residual(enc, x, r, w, o31, s, 8, 1e-6f), MLXC_ERR_SHAPE);
    FAILS(mlxc_rms_norm_residual(enc, x, r, w, o, s, 5, 1e-6f), MLXC_ERR_SHAPE);
    FAILS(mlxc_rms_norm_residual(enc, x, r, w, x, s, 8, 1e-6f), BAD_ARG); /* out overlaps x */
    FAILS(mlxc_rms_norm_residual(enc, x, r, w, o, o, 8, 1e-6f), BAD_ARG); /* out overlaps sum */
    CHECK_OK(mlxc_rms_norm_residual(enc, x, r, w, o, r, 8, 1e-6f));      /* sum in place of r */
    mlxc_buffer *big = buf(MLXC_BF16, 40), *p1 = view(big, 0, MLXC_BF16, 32), *p2 = view(big, 16, MLXC_BF16, 32);
    FAILS(mlxc_rms_norm_residual(enc, p1, r, w, o, p2, 8, 1e-6f), BAD_ARG); /* sum partly overlaps x */
    FAILS(mlxc_l2_norm(enc, x, o31, 8, 1e-6f), MLXC_ERR_SHAPE);
    FAILS(mlxc_l2_norm(enc, x, w, 8, 1e-6f), MLXC_ERR_SHAPE);
    FAILS(mlxc_l2_norm(enc, w, wf, 8, 1e-6f), MLXC_ERR_DTYPE);
    FAILS(mlxc_l2_norm(enc, x, NULL, 8, 1e-6f), BAD_ARG);
    FAILS(mlxc_layer_norm(enc, x, w, w7, o, 8, 1e-5f), MLXC_ERR_SHAPE);
    FAILS(mlxc_layer_norm(enc, x, wf, NULL, o, 8, 1e-5f), MLXC_ERR_DTYPE);
    FAILS(mlxc_layer_norm(enc, x, w, w, o, 8, INFINITY), BAD_ARG);
    mlxc_buffer_release(x); mlxc_buffer_release(r); mlxc_buffer_release(w); mlxc_buffer_release(o);
    mlxc_buffer_release(s); mlxc_buffer_release(wf); mlxc_buffer_release(w7); mlxc_buffer_release(o31);
    mlxc_buffer_release(p1); mlxc_buffer_release(p2); mlxc_buffer_release(big);
}

static void err_rope(void) {
    /* 3 tokens x 2 heads x 8 */
    mlxc_buffer *x = buf(MLXC_F16, 48), *o = buf(MLXC_F16, 48), *pos = buf(MLXC_I32, 3), *pos4 = buf(MLXC_I32, 12);
    mlxc_buffer *posu = buf(MLXC_U32, 3), *ff = buf(MLXC_F32, 4), *ff3 = buf(MLXC_F32, 3), *of = buf(MLXC_F32, 48);
    mlxc_rope_desc d = {MLXC_ROPE_NEOX, 2, 8, 0, 10000.0f, 1.0f, {0}, 0.0f};
    CHECK_OK(mlxc_rope(enc, x, o, pos, ff, &d));
    FAILS(mlxc_rope(enc, x, o, NULL, NULL, &d), BAD_ARG);
    FAILS(mlxc_rope(enc, x, o, pos, NULL, NULL), BAD_ARG);
    FAILS(mlxc_rope(enc, x, o, posu, NULL, &d), MLXC_ERR_DTYPE);
    FAILS(mlxc_rope(enc, x, o, pos4, NULL, &d), MLXC_ERR_SHAPE);
    FAILS(mlxc_rope(enc, x, o, pos, ff3, &d), MLXC_ERR_SHAPE);
    FAILS(mlxc_rope(enc, x, of, pos, NULL, &d), MLXC_ERR_DTYPE);
    mlxc_rope_desc b = d;
    b.mode = (mlxc_rope_mode)1;
    FAILS(mlxc_rope(enc, x, o, pos, NULL, &b), BAD_ARG);
    b = d;
    b.rope_dim = 7;
    FAILS(mlxc_rope(enc, x, o, pos, NULL, &b), BAD_ARG);
    b.rope_dim = 10;
    FAILS(mlxc_rope(enc, x, o, pos, NULL, &b), BAD_ARG);
    b = d;
    b.theta_base = 0.0f;
    FAILS(mlxc_rope(enc, x, o, pos, NULL, &b), BAD_ARG);
    b = d;
    b.freq_scale = -1.0f;
    FAILS(mlxc_rope(enc, x, o, pos, NULL, &b), BAD_ARG);
    b = d;
    b.attn_factor = -0.5f;
    FAILS(mlxc_rope(enc, x, o, pos, NULL, &b), BAD_ARG);
    b.attn_factor = NAN;
    FAILS(mlxc_rope(enc, x, o, pos, NULL, &b), BAD_ARG);
    b = d;
    b.head_dim = 5;
    FAILS(mlxc_rope(enc, x, o, pos, NULL, &b), BAD_ARG); /* rope_dim = head_dim odd */
    b.head_dim = 6;
    b.rope_dim = 6;
    FAILS(mlxc_rope(enc, x, o, pos, NULL, &b), MLXC_ERR_SHAPE); /* 48 not rows of 12 */
    b = d;
    b.mode = MLXC_ROPE_MROPE;
    FAILS(mlxc_rope(enc, x, o, pos4, NULL, &b), BAD_ARG); /* all sections 0 */
    b.sections[0] = 2;
    b.sections[1] = 2;
    CHECK_OK(mlxc_rope(enc, x, o, pos4, NULL, &b));
    FAILS(mlxc_rope(enc, x, o, pos, NULL, &b), MLXC_ERR_SHAPE); /* multi needs (4, n) */
    mlxc_buffer *big = buf(MLXC_F16, 60), *p1 = view(big, 0, MLXC_F16, 48), *p2 = view(big, 8, MLXC_F16, 48);
    FAILS(mlxc_rope(enc, p1, p2, pos, NULL, &d), BAD_ARG); /* partial overlap */
    CHECK_OK(mlxc_rope(enc, p1, p1, pos, NULL, &d));      /* in place */
    mlxc_buffer_release(x); mlxc_buffer_release(o); mlxc_buffer_release(pos); mlxc_buffer_release(pos4);
    mlxc_buffer_release(posu); mlxc_buffer_release(ff); mlxc_buffer_release(ff3); mlxc_buffer_release(of);
    mlxc_buffer_release(p1); mlxc_buffer_release(p2); mlxc_buffer_release(big);
}

static void err_rope_qkv(void) {
    /* 3 tokens x (2 q + 1 k + 1 v heads) x 8; a cache of 4 rows */
    mlxc_buffer *qkv = buf(MLXC_F16, 96), *bias = buf(MLXC_F16, 32), *qn = buf(MLXC_F16, 8), *kn = buf(MLXC_F16, 8);
    mlxc_buffer *q = buf(MLXC_F16, 48), *kc = buf(MLXC_BF16, 32), *vc = buf(MLXC_BF16, 32), *pos = buf(MLXC_I32, 3);
    mlxc_buffer *ff = buf(MLXC_F32, 4), *ff3 = buf(MLXC_F32, 3), *b31 = buf(MLXC_F16, 31), *bf = buf(MLXC_F32, 32);
    mlxc_buffer *qn7 = buf(MLXC_F16, 7), *qnb = buf(MLXC_BF16, 8), *q47 = buf(MLXC_F16, 47), *qf = buf(MLXC_F32, 48);
    mlxc_buffer *kc31 = buf(MLXC_BF16, 31), *vcf = buf(MLXC_F32, 32), *kcu = buf(MLXC_U16, 32), *pos2 = buf(MLXC_I32, 2);
    mlxc_buffer *posu = buf(MLXC_U32, 3), *qkvu = buf(MLXC_U16, 96), *qkv95 = buf(MLXC_F16, 95);
    mlxc_rope_qkv_desc d = {{MLXC_ROPE_NEOX, 2, 8, 0, 10000.0f, 1.0f, {0}, 0.0f}, 1, 4, false, 1e-6f};
    CHECK_OK(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, pos, ff, &d));
    CHECK_OK(mlxc_rope_qkv_cache(enc, qkv, NULL, NULL, NULL, q, kc, vc, pos, NULL, &d));
    FAILS(mlxc_rope_qkv_cache(NULL, qkv, bias, qn, kn, q, kc, vc, pos, ff, &d), BAD_ARG);
    FAILS(mlxc_rope_qkv_cache(enc, NULL, bias, qn, kn, q, kc, vc, pos, ff, &d), BAD_ARG);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, NULL, kc, vc, pos, ff, &d), BAD_ARG);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, NULL, vc, pos, ff, &d), BAD_ARG);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, NULL, pos, ff, &d), BAD_ARG);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, NULL, ff, &d), BAD_ARG);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, pos, ff, NULL), BAD_ARG);
    /* one norm without the other */
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, NULL, q, kc, vc, pos, ff, &d), BAD_ARG);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, NULL, kn, q, kc, vc, pos, ff, &d), BAD_ARG);
    /* dtypes */
    FAILS(mlxc_rope_qkv_cache(enc, qkvu, NULL, NULL, NULL, q, kc, vc, pos, NULL, &d), MLXC_ERR_DTYPE);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bf, qn, kn, q, kc, vc, pos, ff, &d), MLXC_ERR_DTYPE);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qnb, kn, q, kc, vc, pos, ff, &d), MLXC_ERR_DTYPE);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, qnb, q, kc, vc, pos, ff, &d), MLXC_ERR_DTYPE);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, qf, kc, vc, pos, ff, &d), MLXC_ERR_DTYPE);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kcu, vc, pos, ff, &d), MLXC_ERR_DTYPE);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vcf, pos, ff, &d), MLXC_ERR_DTYPE); /* k, v differ */
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, posu, ff, &d), MLXC_ERR_DTYPE);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, pos, pos, &d), MLXC_ERR_DTYPE);
    /* sizes */
    FAILS(mlxc_rope_qkv_cache(enc, qkv95, NULL, NULL, NULL, q, kc, vc, pos, NULL, &d), MLXC_ERR_SHAPE);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, b31, qn, kn, q, kc, vc, pos, ff, &d), MLXC_ERR_SHAPE);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn7, kn, q, kc, vc, pos, ff, &d), MLXC_ERR_SHAPE);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q47, kc, vc, pos, ff, &d), MLXC_ERR_SHAPE);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc31, vc, pos, ff, &d), MLXC_ERR_SHAPE);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, pos2, ff, &d), MLXC_ERR_SHAPE);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, pos, ff3, &d), MLXC_ERR_SHAPE);
    /* the desc */
    mlxc_rope_qkv_desc b = d;
    b.rope.mode = MLXC_ROPE_MROPE;
    b.rope.sections[0] = 4;
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, pos, ff, &b), BAD_ARG); /* NORM or NEOX only */
    b.rope.mode = MLXC_ROPE_IMROPE;
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, pos, ff, &b), BAD_ARG);
    b.rope.mode = (mlxc_rope_mode)1;
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, pos, ff, &b), BAD_ARG);
    b = d;
    b.rope.rope_dim = 10;
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, pos, ff, &b), BAD_ARG);
    b = d;
    b.rope.theta_base = -1.0f;
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, pos, ff, &b), BAD_ARG);
    b = d;
    b.n_kv_heads = 0;
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, pos, ff, &b), BAD_ARG);
    b = d;
    b.capacity = 0;
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, pos, ff, &b), BAD_ARG);
    b = d;
    b.capacity = 8; /* the caches hold 4 rows */
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, pos, ff, &b), MLXC_ERR_SHAPE);
    b = d;
    b.eps = -1.0f;
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, pos, ff, &b), BAD_ARG);
    b.eps = NAN;
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, pos, ff, &b), BAD_ARG);
    b = d;
    b.rope.n_heads = 1;
    b.rope.head_dim = 1024;
    b.rope.rope_dim = 64;
    FAILS(mlxc_rope_qkv_cache(enc, qkv, bias, qn, kn, q, kc, vc, pos, ff, &b), BAD_ARG); /* head_dim > 512 */
    /* overlap: q_out on qkv, the caches on each other or on q_out */
    mlxc_buffer *big = buf(MLXC_F16, 160), *qkvv = view(big, 0, MLXC_F16, 96), *qv = view(big, 96 * 2 - 16, MLXC_F16, 48);
    mlxc_buffer *kv2 = buf(MLXC_BF16, 48), *kcv = view(kv2, 0, MLXC_BF16, 32), *vcv = view(kv2, 16, MLXC_BF16, 32);
    mlxc_buffer *qh = view(kv2, 0, MLXC_F16, 48);
    FAILS(mlxc_rope_qkv_cache(enc, qkvv, NULL, NULL, NULL, qv, kc, vc, pos, NULL, &d), BAD_ARG);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, NULL, NULL, NULL, q, kcv, vcv, pos, NULL, &d), BAD_ARG);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, NULL, NULL, NULL, q, kc, kc, pos, NULL, &d), BAD_ARG);
    FAILS(mlxc_rope_qkv_cache(enc, qkv, NULL, NULL, NULL, qh, kcv, vc, pos, NULL, &d), BAD_ARG);
    CHECK_OK(mlxc_rope_qkv_cache(enc, qkv, NULL, NULL, NULL, q, kc, vc, pos, NULL, &d));
    mlxc_buffer *all[] = {qkv, bias, qn, kn, q, kc, vc, pos, ff, ff3, b31, bf, qn7, qnb, q47, qf, kc31, vcf, kcu,
                          pos2, posu, qkvu, qkv95, qkvv, qv, big, kcv, vcv, qh, kv2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) mlxc_buffer_release(all[i]);
}

static void err_softmax(void) {
    mlxc_buffer *x = buf(MLXC_F32, 24), *o = buf(MLXC_F32, 24), *m = buf(MLXC_F32, 12), *mh = buf(MLXC_F16, 12);
    mlxc_scale_mask_softmax_desc d = {6, 2, 0.5f, true, 0};
    CHECK_OK(mlxc_scale_mask_softmax(enc, x, m, o, &d));
    FAILS(mlxc_softmax(enc, x, o, 0), BAD_ARG);
    FAILS(mlxc_softmax(enc, x, o, 5), MLXC_ERR_SHAPE);
    FAILS(mlxc_softmax(enc, x, mh, 6), MLXC_ERR_DTYPE);
    FAILS(mlxc_scale_mask_softmax(enc, x, m, o, NULL), BAD_ARG);
    FAILS(mlxc_scale_mask_softmax(enc, x, mh, o, &d), MLXC_ERR_DTYPE);
    mlxc_scale_mask_softmax_desc b = d;
    b.q_len = 3;
    FAILS(mlxc_scale_mask_softmax(enc, x, m, o, &b), MLXC_ERR_SHAPE); /* 4 rows, q_len 3 */
    b.q_len = 4;
    FAILS(mlxc_scale_mask_softmax(enc, x, m, o, &b), MLXC_ERR_SHAPE); /* mask extent */
    b = d;
    b.q_len = 0;
    FAILS(mlxc_scale_mask_softmax(enc, x, m, o, &b), BAD_ARG);
    b = d;
    b.scale = INFINITY;
    FAILS(mlxc_scale_mask_softmax(enc, x, m, o, &b), BAD_ARG);
    b = d;
    b.q_offset = UINT32_MAX;
    FAILS(mlxc_scale_mask_softmax(enc, x, m, o, &b), BAD_ARG);
    FAILS(mlxc_scale_mask_softmax(enc, x, m, m, &d), MLXC_ERR_SHAPE);
    CHECK_OK(mlxc_softmax(enc, x, x, 6)); /* in place */
    mlxc_buffer_release(x); mlxc_buffer_release(o); mlxc_buffer_release(m); mlxc_buffer_release(mh);
}

/* A buffer of another device is refused before anything is recorded. */
static void err_moe(void) {
    /* routing: 4 tokens x 8 experts, k 2 */
    mlxc_buffer *lg = buf(MLXC_F32, 32), *lh = buf(MLXC_F16, 32), *lu = buf(MLXC_U32, 32), *l31 = buf(MLXC_F32, 31);
    mlxc_buffer *ids = buf(MLXC_U32, 8), *w = buf(MLXC_F32, 8), *idf = buf(MLXC_F32, 8), *wu = buf(MLXC_U32, 8);
    mlxc_buffer *ids7 = buf(MLXC_U32, 7), *bias = buf(MLXC_F32, 8), *bias7 = buf(MLXC_F32, 7), *biash = buf(MLXC_BF16, 8);
    mlxc_buffer *big = buf(MLXC_F32, 1026), *bigi = buf(MLXC_U32, 130), *bigw = buf(MLXC_F32, 130);
    const mlxc_moe_route_desc d = {.scoring = MLXC_MOE_SOFTMAX_TOPK, .experts = 8, .k = 2, .renormalize = true,
                                   .scale = 1.0f};
    FAILS(mlxc_moe_route(NULL, lg, NULL, ids, w, &d), BAD_ARG);
    FAILS(mlxc_moe_route(enc, NULL, NULL, ids, w, &d), BAD_ARG);
    FAILS(mlxc_moe_route(enc, lg, NULL, NULL, w, &d), BAD_ARG);
    FAILS(mlxc_moe_route(enc, lg, NULL, ids, NULL, &d), BAD_ARG);
    FAILS(mlxc_moe_route(enc, lg, NULL, ids, w, NULL), BAD_ARG);
    mlxc_moe_route_desc e = d;
    e.k = 9; /* k > experts */
    FAILS(mlxc_moe_route(enc, lg, NULL, ids, w, &e), BAD_ARG);
    e.k = 0;
    FAILS(mlxc_moe_route(enc, lg, NULL, ids, w, &e), BAD_ARG);
    e = d;
    e.experts = 513; /* experts > 512 (1026 logits: 2 rows) */
    FAILS(mlxc_moe_route(enc, big, NULL, bigi, bigw, &e), BAD_ARG);
    e.experts = 0;
    FAILS(mlxc_moe_route(enc, lg, NULL, ids, w, &e), BAD_ARG);
    e.experts = 513;
    e.k = 65; /* k > 64 */
    FAILS(mlxc_moe_route(enc, big, NULL, bigi, bigw, &e), BAD_ARG);
    e = d;
    e.scoring = (mlxc_moe_scoring)3;
    FAILS(mlxc_moe_route(enc, lg, NULL, ids, w, &e), BAD_ARG);
    e = d;
    e.scale = NAN;
    FAILS(mlxc_moe_route(enc, lg, NULL, ids, w, &e), BAD_ARG);
    FAILS(mlxc_moe_route(enc, lg, bias, ids, w, &d), BAD_ARG); /* a bias with softmax */
    FAILS(mlxc_moe_route(enc, lh, NULL, ids, w, &d), MLXC_ERR_DTYPE);
    FAILS(mlxc_moe_route(enc, lu, NULL, ids, w, &d), MLXC_ERR_DTYPE);
    FAILS(mlxc_moe_route(enc, l31, NULL, ids, w, &d), MLXC_ERR_SHAPE);
    FAILS(mlxc_moe_route(enc, lg, NULL, idf, w, &d), MLXC_ERR_DTYPE);
    FAILS(mlxc_moe_route(enc, lg, NULL, ids, wu, &d), MLXC_ERR_DTYPE);
    FAILS(mlxc_moe_route(enc, lg, NULL, ids7, w, &d), MLXC_ERR_SHAPE);
    e = d;
    e.scoring = MLXC_MOE_SIGMOID_BIAS;
    FAILS(mlxc_moe_route(enc, lg, bias7, ids, w, &e), MLXC_ERR_SHAPE);
    FAILS(mlxc_moe_route(enc, lg, biash, ids, w, &e), MLXC_ERR_DTYPE);
    e.n_group = 4, e.topk_group = 2; /* runs of 2 experts, 4 kept: k 2 is fine */
    CHECK_OK(mlxc_moe_route(enc, lg, bias, ids, w, &e));
    e.n_group = 3; /* does not divide 8 */
    FAILS(mlxc_moe_route(enc, lg, bias, ids, w, &e), BAD_ARG);
    e.n_group = 8; /* runs of 1 */
    FAILS(mlxc_moe_route(enc, lg, bias, ids, w, &e), BAD_ARG);
    e.n_group = 4, e.topk_group = 5;
    FAILS(mlxc_moe_route(enc, lg, bias, ids, w, &e), BAD_ARG);
    e.topk_group = 0;
    FAILS(mlxc_moe_route(enc, lg, bias, ids, w, &e), BAD_ARG);
    e.topk_group = 1, e.k = 3; /* one run of 2 kept: fewer than k experts */
    FAILS(mlxc_moe_route(enc, lg, bias, ids, w, &e), BAD_ARG);
    e.k = 2;
    e.n_group = 0, e.topk_group = 2; /* topk_group without groups */
    FAILS(mlxc_moe_route(enc, lg, bias, ids, w, &e), BAD_ARG);
    mlxc_moe_route_desc f = d;
    f.n_group = 4, f.topk_group = 2; /* groups with softmax */
    FAILS(mlxc_moe_route(enc, lg, NULL, ids, w, &f), BAD_ARG);
    e.n_group = 64, e.experts = 512, e.topk_group = 1; /* more than 32 groups */
    FAILS(mlxc_moe_route(enc, big, NULL, bigi, bigw, &e), BAD_ARG);
    e = d;
    e.scoring = MLXC_MOE_SIGMOID_BIAS;
    mlxc_buffer *u16 = buf(MLXC_U32, 16), *ida = view(u16, 0, MLXC_U32, 8), *wa = view(u16, 16, MLXC_F32, 8);
    FAILS(mlxc_moe_route(enc, lg, NULL, ida, wa, &d), BAD_ARG); /* ids and weights overlap */
    CHECK_OK(mlxc_moe_route(enc, lg, bias, ids, w, &e));
    CHECK_OK(mlxc_moe_route(enc, lg, NULL, ids, w, &d));

    /* combine: 2 tokens, k 2, hidden 4 */
    mlxc_buffer *y = buf(MLXC_F32, 16), *yb = buf(MLXC_BF16, 16), *yh = buf(MLXC_F16, 16), *y15 = buf(MLXC_F32, 15);
    mlxc_buffer *cw = buf(MLXC_F32, 4), *cwb = buf(MLXC_BF16, 4), *sh = buf(MLXC_F32, 8), *shb = buf(MLXC_BF16, 8);
    mlxc_buffer *g = buf(MLXC_F32, 2), *gh = buf(MLXC_F16, 2), *g3 = buf(MLXC_F32, 3), *res = buf(MLXC_F32, 8);
    mlxc_buffer *out = buf(MLXC_F32, 8), *outb = buf(MLXC_BF16, 8), *out7 = buf(MLXC_F32, 7);
    FAILS(mlxc_moe_combine(NULL, y, cw, NULL, NULL, NULL, out, 2, 2, 4), BAD_ARG);
    FAILS(mlxc_moe_combine(enc, NULL, cw, NULL, NULL, NULL, out, 2, 2, 4), BAD_ARG);
    FAILS(mlxc_moe_combine(enc, y, NULL, NULL, NULL, NULL, out, 2, 2, 4), BAD_ARG);
    FAILS(mlxc_moe_combine(enc, y, cw, NULL, NULL, NULL, NULL, 2, 2, 4), BAD_ARG);
    FAILS(mlxc_moe_combine(enc, y, cw, NULL, g, NULL, out, 2, 2, 4), BAD_ARG); /* a gate without shared */
    FAILS(mlxc_moe_combine(enc, y, cw, NULL, NULL, NULL, out, 0, 2, 4), BAD_ARG);
    FAILS(mlxc_moe_combine(enc, yh, cw, NULL, NULL, NULL, out, 2, 2, 4), MLXC_ERR_DTYPE);
    FAILS(mlxc_moe_combine(enc, y, cwb, NULL, NULL, NULL, out, 2, 2, 4), MLXC_ERR_DTYPE);
    FAILS(mlxc_moe_combine(enc, y, cw, NULL, NULL, NULL, outb, 2, 2, 4), MLXC_ERR_DTYPE);
    FAILS(mlxc_moe_combine(enc, y, cw, shb, NULL, NULL, out, 2, 2, 4), MLXC_ERR_DTYPE);
    FAILS(mlxc_moe_combine(enc, y, cw, sh, gh, NULL, out, 2, 2, 4), MLXC_ERR_DTYPE);
    FAILS(mlxc_moe_combine(enc, y15, cw, NULL, NULL, NULL, out, 2, 2, 4), MLXC_ERR_SHAPE);
    FAILS(mlxc_moe_combine(enc, y, cw, NULL, NULL, NULL, out7, 2, 2, 4), MLXC_ERR_SHAPE);
    FAILS(mlxc_moe_combine(enc, y, cw, sh, g3, NULL, out, 2, 2, 4), MLXC_ERR_SHAPE);
    FAILS(mlxc_moe_combine(enc, y, cw, NULL, NULL, NULL, out, 2, 3, 4), MLXC_ERR_SHAPE);
    FAILS(mlxc_moe_combine(enc, y, cw, sh, NULL, NULL, sh, 2, 2, 4), BAD_ARG); /* out is an input */
    mlxc_buffer *ov = view(res, 0, MLXC_F32, 8);
    CHECK_OK(mlxc_moe_combine(enc, y, cw, sh, g, res, ov, 2, 2, 4)); /* in place: the same bytes */
    mlxc_buffer *big2 = buf(MLXC_F32, 9), *ov2 = view(big2, 4, MLXC_F32, 8), *rv2 = view(big2, 0, MLXC_F32, 8);
    FAILS(mlxc_moe_combine(enc, y, cw, NULL, NULL, rv2, ov2, 2, 2, 4), BAD_ARG); /* a shifted residual */
    CHECK_OK(mlxc_moe_combine(enc, yb, cw, shb, g, NULL, outb, 2, 2, 4)); /* an f32 gate with bf16 */

    /* grouping: 4 tokens, k 2, 8 experts */
    mlxc_buffer *cnt = buf(MLXC_U32, 8), *off = buf(MLXC_U32, 9), *perm = buf(MLXC_U32, 8), *off8 = buf(MLXC_U32, 8);
    mlxc_buffer *cnti = buf(MLXC_I32, 8), *cnt513 = buf(MLXC_U32, 513), *off514 = buf(MLXC_U32, 514);
    FAILS(mlxc_moe_group(NULL, ids, cnt, off, perm, 4, 2, 8), BAD_ARG);
    FAILS(mlxc_moe_group(enc, ids, NULL, off, perm, 4, 2, 8), BAD_ARG);
    FAILS(mlxc_moe_group(enc, ids, cnt, off, perm, 4, 2, 0), BAD_ARG);
    FAILS(mlxc_moe_group(enc, ids, cnt513, off514, perm, 4, 2, 513), BAD_ARG);
    FAILS(mlxc_moe_group(enc, ids, cnt, off, perm, 0, 2, 8), BAD_ARG);
    FAILS(mlxc_moe_group(enc, ids, cnt, off, perm, 65536, 65536, 8), BAD_ARG);
    FAILS(mlxc_moe_group(enc, w, cnt, off, perm, 4, 2, 8), MLXC_ERR_DTYPE);
    FAILS(mlxc_moe_group(enc, ids, cnti, off, perm, 4, 2, 8), MLXC_ERR_DTYPE);
    FAILS(mlxc_moe_group(enc, ids, cnt, off8, perm, 4, 2, 8), MLXC_ERR_SHAPE);
    FAILS(mlxc_moe_group(enc, ids, cnt, off, perm, 4, 3, 8), MLXC_ERR_SHAPE);
    FAILS(mlxc_moe_group(enc, ids, cnt, off, ids, 4, 2, 8), BAD_ARG); /* perm is ids */
    CHECK_OK(mlxc_moe_group(enc, ids, cnt, off, perm, 4, 2, 8));

    mlxc_buffer *all[] = {lg, lh, lu, l31, ids, w, idf, wu, ids7, bias, bias7, biash, big, bigi, bigw, u16, ida, wa,
                          y, yb, yh, y15, cw, cwb, sh, shb, g, gh, g3, res, out, outb, out7, ov, big2, ov2, rv2,
                          cnt, off, perm, off8, cnti, cnt513, off514};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) mlxc_buffer_release(all[i]);
}

static void err_linear_attn(void) {
    /* short_conv: 2 sequences x 3 tokens x 8 channels, width 4 */
    mlxc_buffer *x = buf(MLXC_F32, 48), *o = buf(MLXC_F32, 48), *w = buf(MLXC_F32, 32), *st = buf(MLXC_F32, 48);
    mlxc_buffer *xh = buf(MLXC_BF16, 48), *st5 = buf(MLXC_F32, 47);
    mlxc_short_conv_desc cd = {2, 3, 8, 4, true};
    CHECK_OK(mlxc_short_conv(enc, x, w, st, o, &cd));
    CHECK_OK(mlxc_short_conv(enc, x, w, st, x, &cd)); /* in place */
    FAILS(mlxc_short_conv(enc, x, w, st, o, NULL), BAD_ARG);
    FAILS(mlxc_short_conv(enc, NULL, w, st, o, &cd), BAD_ARG);
    mlxc_short_conv_desc cb = cd;
    cb.width = 5;
    FAILS(mlxc_short_conv(enc, x, w, st, o, &cb), BAD_ARG);
    cb.width = 1;
    FAILS(mlxc_short_conv(enc, x, w, st, o, &cb), BAD_ARG);
    cb = cd;
    cb.seq_len = 0;
    FAILS(mlxc_short_conv(enc, x, w, st, o, &cb), BAD_ARG);
    FAILS(mlxc_short_conv(enc, x, w, st5, o, &cd), MLXC_ERR_SHAPE); /* state of the wrong shape */
    FAILS(mlxc_short_conv(enc, xh, w, st, o, &cd), MLXC_ERR_DTYPE);
    FAILS(mlxc_short_conv(enc, x, w, st, xh, &cd), MLXC_ERR_DTYPE);
    FAILS(mlxc_short_conv(enc, x, w, st, st, &cd), BAD_ARG); /* out is the state */
    cb = cd;
    cb.width = 3; /* w and state now of the wrong shape */
    FAILS(mlxc_short_conv(enc, x, w, st, o, &cb), MLXC_ERR_SHAPE);
    mlxc_buffer *u = buf(MLXC_U32, 48);
    FAILS(mlxc_short_conv(enc, u, w, st, o, &cd), MLXC_ERR_DTYPE);
    mlxc_buffer_release(u); mlxc_buffer_release(xh); mlxc_buffer_release(st5);
    mlxc_buffer_release(x); mlxc_buffer_release(o); mlxc_buffer_release(w); mlxc_buffer_release(st);

    /* gating: 3 rows of 4 heads */
    mlxc_buffer *a = buf(MLXC_BF16, 12), *b = buf(MLXC_BF16, 12), *al = buf(MLXC_F32, 4), *dt = buf(MLXC_F32, 4);
    mlxc_buffer *g = buf(MLXC_F32, 12), *be = buf(MLXC_F32, 12), *alh = buf(MLXC_BF16, 4), *gh = buf(MLXC_BF16, 12);
    CHECK_OK(mlxc_gdn_gating(enc, a, b, al, dt, g, be, 4));
    FAILS(mlxc_gdn_gating(enc, a, b, alh, dt, g, be, 4), MLXC_ERR_DTYPE);
    FAILS(mlxc_gdn_gating(enc, a, b, al, dt, gh, be, 4), MLXC_ERR_DTYPE);
    FAILS(mlxc_gdn_gating(enc, a, b, al, dt, g, be, 5), MLXC_ERR_SHAPE);
    FAILS(mlxc_gdn_gating(enc, a, b, al, dt, g, be, 6), MLXC_ERR_SHAPE); /* a_log of 4 */
    FAILS(mlxc_gdn_gating(enc, a, b, al, dt, g, g, 4), BAD_ARG);
    FAILS(mlxc_gdn_gating(enc, a, b, al, NULL, g, be, 4), BAD_ARG);
    mlxc_buffer_release(a); mlxc_buffer_release(b); mlxc_buffer_release(al); mlxc_buffer_release(dt);
    mlxc_buffer_release(g); mlxc_buffer_release(be); mlxc_buffer_release(alh); mlxc_buffer_release(gh);

    /* rms_norm_gated: 2 rows of 8 */
    mlxc_buffer *nx = buf(MLXC_F16, 16), *nz = buf(MLXC_F16, 16), *nw = buf(MLXC_F16, 8), *no = buf(MLXC_F16, 16);
    mlxc_buffer *nzf = buf(MLXC_F32, 16), *nw9 = buf(MLXC_F16, 9);
    CHECK_OK(mlxc_rms_norm_gated(enc, nx, nz, nw, no, 8, 1e-6f));
    CHECK_OK(mlxc_rms_norm_gated(enc, nx, nz, nw, nz, 8, 1e-6f)); /* in place over z */
    FAILS(mlxc_rms_norm_gated(enc, nx, nzf, nw, no, 8, 1e-6f), MLXC_ERR_DTYPE);
    FAILS(mlxc_rms_norm_gated(enc, nx, nz, nw9, no, 8, 1e-6f), MLXC_ERR_SHAPE);
    FAILS(mlxc_rms_norm_gated(enc, nx, nz, nw, no, 5, 1e-6f), MLXC_ERR_SHAPE);
    FAILS(mlxc_rms_norm_gated(enc, nx, nz, nw, no, 8, -1.0f), BAD_ARG);
    FAILS(mlxc_rms_norm_gated(enc, nx, nz, nw, nw, 8, 1e-6f), MLXC_ERR_SHAPE);
    mlxc_buffer_release(nx); mlxc_buffer_release(nz); mlxc_buffer_release(nw); mlxc_buffer_release(no);
    mlxc_buffer_release(nzf); mlxc_buffer_release(nw9);

    /* the delta rule: 1 sequence x 2 tokens, 1 key head of 4, 2 value heads of 3 */
    mlxc_buffer *q = buf(MLXC_BF16, 8), *k = buf(MLXC_BF16, 8), *v = buf(MLXC_BF16, 12), *out = buf(MLXC_BF16, 12);
    mlxc_buffer *gg = buf(MLXC_F32, 4), *bb = buf(MLXC_F32, 4), *S = buf(MLXC_F32, 24), *Sh = buf(MLXC_BF16, 24);
    mlxc_buffer *S23 = buf(MLXC_F32, 23), *qf = buf(MLXC_F32, 8), *ggh = buf(MLXC_BF16, 4);
    mlxc_gdn_desc d = {1, 2, 1, 2, 4, 3, true, 0};
    for (int chunked = 0; chunked < 2; chunked++) {
        mlxc_status (*fn)(mlxc_encoder *, const mlxc_buffer *, const mlxc_buffer *, const mlxc_buffer *,
                          const mlxc_buffer *, const mlxc_buffer *, mlxc_buffer *, mlxc_buffer *,
                          const mlxc_gdn_desc *) = chunked ? mlxc_gdn_chunked : mlxc_gdn_recurrent;
        CHECK_OK(fn(enc, q, k, v, gg, bb, S, out, &d));
        FAILS(fn(enc, q, k, v, gg, bb, S, out, NULL), BAD_ARG);
        FAILS(fn(enc, q, k, v, gg, bb, NULL, out, &d), BAD_ARG);
        FAILS(fn(enc, q, k, v, gg, bb, S23, out, &d), MLXC_ERR_SHAPE); /* state of the wrong shape */
        FAILS(fn(enc, q, k, v, gg, bb, Sh, out, &d), MLXC_ERR_DTYPE);  /* the state is f32 */
        FAILS(fn(enc, qf, k, v, gg, bb, S, out, &d), MLXC_ERR_DTYPE);
        FAILS(fn(enc, q, k, v, ggh, bb, S, out, &d), MLXC_ERR_DTYPE);  /* g is f32 */
        FAILS(fn(enc, q, k, v, gg, bb, S, v, &d), BAD_ARG);            /* out is v */
        mlxc_gdn_desc e = d;
        e.k_dim = 257; /* head dims above 256 */
        FAILS(fn(enc, q, k, v, gg, bb, S, out, &e), BAD_ARG);
        e = d;
        e.v_dim = 300;
        FAILS(fn(enc, q, k, v, gg, bb, S, out, &e), BAD_ARG);
        e = d;
        e.v_heads = 3; /* 3 value heads over 2 key heads */
        e.k_heads = 2;
        FAILS(fn(enc, q, k, v, gg, bb, S, out, &e), BAD_ARG);
        e = d;
        e.k_heads = 0;
        FAILS(fn(enc, q, k, v, gg, bb, S, out, &e), BAD_ARG);
        e = d;
        e.seq_len = 3;
        FAILS(fn(enc, q, k, v, gg, bb, S, out, &e), MLXC_ERR_SHAPE);
        e = d;
        e.scale = NAN;
        FAILS(fn(enc, q, k, v, gg, bb, S, out, &e), BAD_ARG);
    }
    mlxc_buffer_release(q); mlxc_buffer_release(k); mlxc_buffer_release(v); mlxc_buffer_release(out);
    mlxc_buffer_release(gg); mlxc_buffer_release(bb); mlxc_buffer_release(S); mlxc_buffer_release(Sh);
    mlxc_buffer_release(S23); mlxc_buffer_release(qf); mlxc_buffer_release(ggh);
}

static void err_other_device(void) {
    mlxc_device *other = NULL;
    CHECK_OK(mlxc_device_open(MLXC_BACKEND_CPU, 0, &other));
    if (!other) return;
    mlxc_buffer *a = buf(MLXC_F32, 8), *b = NULL;
    int64_t shape[1] = {8};
    CHECK_OK(mlxc_buffer_alloc(other, 32, MLXC_F32, 1, shape, &b));
    if (other != dev && b) FAILS(mlxc_scale(enc, a, b, 2.0f), BAD_ARG);
    mlxc_buffer_release(a);
    mlxc_buffer_release(b);
    mlxc_device_close(other);
}

/* The signature tables (src/kernels/signatures.c) and the CPU kernel tables,
 * both generated from each family's src/kernels/F.def, describe the same kernels with the same argument layouts, both ways; only
 * the Hopper prefill kernels, the library GEMMs and the fused-rope decode
 * attention are CUDA-only. */
static int sig_equal(const mlxc_kernel_signature *a, const mlxc_kernel_signature *b) {
    return a->nparams == b->nparams && memcmp(a->kinds, b->kinds, a->nparams * sizeof *a->kinds) == 0 &&
           memcmp(a->sizes, b->sizes, a->nparams * sizeof *a->sizes) == 0;
}

static void signatures_match(void) {
    size_t n = 0;
    const char *family = NULL;
    for (const mlxc_kernel_sig_entry *e; (e = mlxc_kernel_builtin_at(n, &family)) != NULL; n++) {
        CHECK_MSG(mlxc_kernel_family_of(e->name) == family, "%s: family", e->name);
        CHECK_MSG(mlxc_kernel_builtin_signature(e->name) == &e->sig, "%s twice", e->name);
        if (strncmp(e->name, "attn_prefill_sm90", 17) == 0 || strncmp(e->name, "gemm_lt_", 8) == 0 ||
            strncmp(e->name, "attn_decode_qkv_", 16) == 0 || strncmp(e->name, "moe_router_", 11) == 0 ||
            strstr(e->name, "_argmax") != NULL)
            continue;
        const mlxc_cpu_builtin *b = mlxc_cpu_builtin_find(e->name);
        CHECK_MSG(b != NULL, "%s has no CPU kernel", e->name);
        if (b) CHECK_MSG(sig_equal(&b->sig, &e->sig), "%s: signatures differ", e->name);
    }
    /* 126 + swiglu x 3 dtypes + qmoef 8 formats + attention at head dim 512 (decode and prefill x 2 KV dtypes) and
     * its general prefill (5 head dims x 2) + qmatmul: qmv and qmm 33 formats
     * (with Q4_0 tiles and the code-book, ternary and GGML NVFP4 blocks) x 4
     * dtype pairs each, qmvt 8 formats x 4, qgather 33 x 2, qmoe and qmoeg 33 x 4 each and 3 dense formats x 4 each, qmoet 8 x 4,
 * qmoegt 36 (33 formats and 3 dense, bf16 only) + moe: route and
     * combine x 2 dtypes, group; linear_attn: 5 ops x 3 dtypes; hadamard: 3
     * dtypes x 3 (transform, tq copy, tq dequant), tq decode 3 head dims x 4
     * bit widths, the combine; dense matmul with f16 x and f16 w: matvec
     * and gemm x 2 y dtypes, and its library GEMM; the f32 library GEMM; rope_qkv_cache: 3 x 3 dtype
     * pairs; the fused mat-vec qmvf: 9 formats, bf16, and its int8 walk
     * qmvr (affine 4- and 8-bit, Q4_K, Q5_K, Q6_K) with bf16 and f32 y and f32 y with the greedy pick (CUDA
     * only), and the pair qmvp (Q4_K and
     * Q5_K beside Q6_K); the decode over a fused q/k/v row: 4 head dims x 2
     * KV dtypes (CUDA only); the one-pass MoE router: 3 router x 2
     * activation dtypes (CUDA only); the expert-routed fused mat-vec with
     * the combine qmoec (8 formats) and the expert-routed int8 walk qmoer
     * and qmoerc (5 formats each). */
    CHECK_EQ_INT(n, 126 + 3 + 8 + 4 + 10 + 132 + 32 + 132 + 66 + 132 + 132 + 24 + 32 + 36 + 5 + 15 + 22 + 5 + 1 + 9 + 9 + 3 * 5 + 2 +
                        8 + 6 + 8 + 10);
    size_t ncpu = 0;
    for (const mlxc_cpu_builtin *b; (b = mlxc_cpu_builtin_at(ncpu)) != NULL; ncpu++) {
        const mlxc_kernel_signature *s = mlxc_kernel_builtin_signature(b->name);
        CHECK_MSG(s != NULL, "%s has no signature", b->name);
        if (s) CHECK_MSG(sig_equal(&b->sig, s), "%s: signatures differ", b->name);
    }
    CHECK_EQ_INT(ncpu, n - 27); /* the CUDA-only rows (5 of them qmvr_*_argmax) */
    CHECK(mlxc_kernel_family_of("no_such_kernel") == NULL);
    CHECK(strcmp(mlxc_kernel_family_of("copy_bytes"), "layout") == 0);
    CHECK(strcmp(mlxc_kernel_family_of("qmv_q4_k_bf16_bf16"), "qmatmul") == 0);
    /* Every kernel an op names resolves on the CPU. */
    static const char *const names[] = {"scale_bf16", "cast_f16_bf16", "copy_strided_x64", "transpose_x8",
                                        "embedding_gather_bf16_f32", "kv_cache_copy_f16_bf16", "sample_f16",
                                        "rms_norm_residual_f32", "layer_norm_f16", "rope_bf16", "rope_qkv_cache_bf16_f16", "softmax_f32",
                                        "qmm_affine4_f32_bf16", "qmvf_q4_k_bf16_bf16", "qgather_q8_0_f32", "qmoeg_q4_k_bf16_f32", "moe_route_bf16",
                                        "moe_combine_f32", "moe_group",
                                        "short_conv_bf16", "gdn_recurrent_f32", "gdn_chunked_bf16", "hadamard_bf16",
                                        "tq_decode_hd128_b4", "tq_decode_combine"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const mlxc_kernel *k = NULL;
        CHECK_OK(mlxc_kernel_get(dev, names[i], &k));
    }
}

int main(void) {
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &dev) != MLXC_OK || mlxc_encoder_create(dev, &enc) != MLXC_OK) {
        fprintf(stderr, "setup: %s\n", mlxc_last_error());
        return 1;
    }
    RUN(err_elementwise);
    RUN(err_layout);
    RUN(err_select);
    RUN(err_norm);
    RUN(err_rope);
    RUN(err_rope_qkv);
    RUN(err_softmax);
    RUN(err_moe);
    RUN(err_linear_attn);
    RUN(err_other_device);
    RUN(signatures_match);
    CHECK_OK(mlxc_encoder_commit_and_wait(enc)); /* the accepted calls run */
    mlxc_encoder_destroy(enc);
    mlxc_device_close(dev);
    HARNESS_END();
}
