/* Every op-library CPU kernel against a double-precision reference written
 * here: fresh random inputs (never zeros), outputs poisoned with NaN first
 * (so an unwritten element fails), odd sizes and single/long rows, and a
 * normalized error bound per output dtype (f32 1e-6, f16 1e-3, bf16 8e-3);
 * copies, gathers, casts, argmax, top-k and sampling must be exact.
 *
 * The reference computes from the dtype-rounded inputs.  RoPE's angle is
 * part of the op's contract (theta = pos * inv_freq in f32, inv_freq
 * rounded once, see ops_rope.h), so the reference forms theta the same way
 * and rotates in double. */
#include <time.h>

#include "ops_test.h"
#include "rope_qkv_test.h"

static mlxc_device *dev;

static const size_t k_sizes[] = {1, 7, 33, 255, 1000, 4099};
static const struct { uint32_t rows, dim; } k_rows[] = {{1, 1}, {3, 7}, {5, 33}, {2, 257}, {1, 4099}, {17, 64}};
#define NSIZES (sizeof k_sizes / sizeof *k_sizes)
#define NROWS (sizeof k_rows / sizeof *k_rows)

static double sigmoid_d(double x) { return 1.0 / (1.0 + exp(-x)); }

/* ---- elementwise ----------------------------------------------------------------- */

static void test_unary(void) {
    for (int di = 0; di < 3; di++)
        for (size_t si = 0; si < NSIZES; si++) {
            mlxc_dtype dt = ot_float_dtypes[di];
            size_t n = k_sizes[si];
            ot_buf x = ot_rand(dev, dt, n, -4, 4), o = ot_out(dev, dt, n);
            double *ref = malloc(n * sizeof *ref);
            for (int op = 0; op < 3; op++) {
                ot_poison(&o);
                if (op == 0) OT_RUN(dev, mlxc_scale(enc, x.b, o.b, -1.75f));
                if (op == 1) OT_RUN(dev, mlxc_softcap(enc, x.b, o.b, 1.5f));
                if (op == 2) OT_RUN(dev, mlxc_gelu(enc, x.b, o.b));
                ot_download(&o);
                for (size_t i = 0; i < n; i++) {
                    double v = x.h[i];
                    ref[i] = op == 0 ? v * -1.75 : op == 1 ? tanh(v / 1.5) * 1.5
                                                           : 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
                }
                OT_CLOSE(&o, ref, ot_tol(dt), "op %d %s n=%zu", op, mlxc_dtype_name(dt), n);
            }
            /* In place. */
            OT_RUN(dev, mlxc_scale(enc, x.b, x.b, 2.0f));
            for (size_t i = 0; i < n; i++) ref[i] = x.h[i] * 2;
            ot_download(&x);
            OT_EXACT(&x, ref, "scale in place %s", mlxc_dtype_name(dt));
            free(ref);
            ot_free(&x);
            ot_free(&o);
        }
}

static void test_binary_act(void) {
    for (int di = 0; di < 3; di++)
        for (size_t si = 0; si < NSIZES; si++) {
            mlxc_dtype dt = ot_float_dtypes[di];
            size_t n = k_sizes[si];
            ot_buf a = ot_rand(dev, dt, n, -6, 6), b = ot_rand(dev, dt, n, -3, 3), o = ot_out(dev, dt, n);
            double *ref = malloc(n * sizeof *ref);
            OT_RUN(dev, mlxc_silu_mul(enc, a.b, b.b, o.b));
            ot_download(&o);
            for (size_t i = 0; i < n; i++) ref[i] = a.h[i] * sigmoid_d(a.h[i]) * b.h[i];
            OT_CLOSE(&o, ref, ot_tol(dt), "silu_mul %s n=%zu", mlxc_dtype_name(dt), n);
            ot_poison(&o);
            OT_RUN(dev, mlxc_sigmoid_mul(enc, a.b, b.b, o.b));
            ot_download(&o);
            for (size_t i = 0; i < n; i++) ref[i] = a.h[i] * sigmoid_d(b.h[i]);
            OT_CLOSE(&o, ref, ot_tol(dt), "sigmoid_mul %s n=%zu", mlxc_dtype_name(dt), n);
            free(ref);
            ot_free(&a);
            ot_free(&b);
            ot_free(&o);
        }
}

/* swiglu on rows of [gate | up]: against the double reference, and equal
 * to silu_mul on the two halves copied apart (the same values by
 * contract); whole and partial 16-byte frags, and an x view one value off
 * its buffer's start (the unaligned path). */
static void test_swiglu(void) {
    static const uint32_t shp[][2] = {{1, 1}, {3, 7}, {5, 33}, {2, 257}, {8, 768}, {17, 64}, {3, 1000}};
    for (int di = 0; di < 3; di++)
        for (size_t si = 0; si < sizeof shp / sizeof *shp; si++)
            for (int off = 0; off < 2; off++) {
                const mlxc_dtype dt = ot_float_dtypes[di];
                const uint32_t rows = shp[si][0], n = shp[si][1];
                const size_t tot = (size_t)rows * n;
                ot_buf xb = ot_rand(dev, dt, 2 * tot + 1, -6, 6), o = ot_out(dev, dt, tot);
                ot_buf g = ot_alloc(dev, dt, tot), u = ot_alloc(dev, dt, tot), o2 = ot_out(dev, dt, tot);
                int64_t shape[2] = {rows, 2 * (int64_t)n};
                mlxc_buffer *x = NULL;
                if (mlxc_buffer_view(xb.b, (size_t)off * mlxc_dtype_size(dt), dt, 2, shape, &x) != MLXC_OK) {
                    fprintf(stderr, "view: %s\n", mlxc_last_error());
                    exit(1);
                }
                double *ref = malloc(tot * sizeof *ref);
                for (uint32_t r = 0; r < rows; r++)
                    for (uint32_t i = 0; i < n; i++) {
                        const double a = xb.h[off + (size_t)r * 2 * n + i], b = xb.h[off + (size_t)r * 2 * n + n + i];
                        ref[(size_t)r * n + i] = a * sigmoid_d(a) * b;
                        g.h[(size_t)r * n + i] = a;
                        u.h[(size_t)r * n + i] = b;
                    }
                ot_upload(&g);
                ot_upload(&u);
                OT_RUN(dev, mlxc_swiglu(enc, x, o.b, rows, n));
                ot_download(&o);
                OT_CLOSE(&o, ref, ot_tol(dt), "swiglu %s %ux%u off %d", mlxc_dtype_name(dt), rows, n, off);
                OT_RUN(dev, mlxc_silu_mul(enc, g.b, u.b, o2.b));
                ot_download(&o2);
                OT_EXACT(&o, o2.h, "swiglu = silu_mul %s %ux%u off %d", mlxc_dtype_name(dt), rows, n, off);
                free(ref);
                mlxc_buffer_release(x);
                ot_free(&xb);
                ot_free(&o);
                ot_free(&g);
                ot_free(&u);
                ot_free(&o2);
            }
}

static void test_cast(void) {
    for (int si = 0; si < 3; si++)
        for (int di = 0; di < 3; di++)
            for (size_t ni = 0; ni < NSIZES; ni++) {
                mlxc_dtype sdt = ot_float_dtypes[si], ddt = ot_float_dtypes[di];
                size_t n = k_sizes[ni];
                ot_buf s = ot_rand(dev, sdt, n, -70000, 70000), d = ot_out(dev, ddt, n);
                OT_RUN(dev, mlxc_cast(enc, s.b, d.b));
                ot_download(&d);
                /* The exact expectation: one rounding of the source value. */
                double *ref = malloc(n * sizeof *ref);
                unsigned char tmp[8];
                for (size_t i = 0; i < n; i++) {
                    ot_st(ddt, tmp, 0, s.h[i]);
                    ref[i] = ot_ld(ddt, tmp, 0);
                }
                OT_EXACT(&d, ref, "cast %s -> %s n=%zu", mlxc_dtype_name(sdt), mlxc_dtype_name(ddt), n);
                free(ref);
                ot_free(&s);
                ot_free(&d);
            }
}

/* ---- layout ------------------------------------------------------------------------ */

static void test_copy_strided(void) {
    static const mlxc_dtype dts[4] = {MLXC_U8, MLXC_BF16, MLXC_F32, MLXC_I64};
    for (int di = 0; di < 4; di++)
        for (int c = 0; c < 5; c++) {
            mlxc_strided_copy sc;
            memset(&sc, 0, sizeof sc);
            size_t ns, nd;
            if (c == 0) { /* 1-D gather of every 3rd element into a stride-2 destination */
                sc = (mlxc_strided_copy){1, {37}, {3}, {2}};
                ns = 37 * 3, nd = 37 * 2;
            } else if (c == 1) { /* 2-D sub-block of a wider matrix */
                sc = (mlxc_strided_copy){2, {9, 13}, {20, 1}, {13, 1}};
                ns = 9 * 20, nd = 9 * 13;
            } else if (c == 2) { /* 3-D with a broadcast source dimension */
                sc = (mlxc_strided_copy){3, {3, 5, 7}, {7, 0, 1}, {35, 7, 1}};
                ns = 21, nd = 105;
            } else if (c == 3) { /* 3-D transposing the inner two */
                sc = (mlxc_strided_copy){3, {2, 11, 6}, {66, 1, 11}, {66, 6, 1}};
                ns = nd = 132;
            } else { /* one long contiguous row */
                sc = (mlxc_strided_copy){1, {5000}, {1}, {1}};
                ns = nd = 5000;
            }
            mlxc_dtype dt = dts[di];
            ot_buf s = ot_rand(dev, dt, ns, 1, 120), d = ot_out(dev, dt, nd);
            double *ref = malloc(nd * sizeof *ref);
            /* Untouched destination elements keep the poison. */
            ot_download(&d);
            memcpy(ref, d.h, nd * sizeof *ref);
            uint64_t sh[3] = {1, 1, 1}, ss[3] = {0}, ds[3] = {0};
            for (int i = 0; i < sc.ndim; i++) {
                sh[3 - sc.ndim + i] = sc.shape[i];
                ss[3 - sc.ndim + i] = sc.src_stride[i];
                ds[3 - sc.ndim + i] = sc.dst_stride[i];
            }
            for (uint64_t i0 = 0; i0 < sh[0]; i0++)
                for (uint64_t i1 = 0; i1 < sh[1]; i1++)
                    for (uint64_t i2 = 0; i2 < sh[2]; i2++)
                        ref[i0 * ds[0] + i1 * ds[1] + i2 * ds[2]] = s.h[i0 * ss[0] + i1 * ss[1] + i2 * ss[2]];
            OT_RUN(dev, mlxc_copy_strided(enc, s.b, d.b, &sc));
            ot_download(&d);
            OT_EXACT(&d, ref, "copy_strided case %d %s", c, mlxc_dtype_name(dt));
            free(ref);
            ot_free(&s);
            ot_free(&d);
        }
}

static void test_transpose_permute(void) {
    static const mlxc_dtype dts[4] = {MLXC_U8, MLXC_F16, MLXC_F32, MLXC_I64};
    static const uint32_t shp[][3] = {{1, 1, 1}, {1, 7, 3}, {3, 33, 65}, {2, 64, 32}, {1, 1, 300}, {1, 129, 1}};
    for (int di = 0; di < 4; di++)
        for (size_t k = 0; k < sizeof shp / sizeof *shp; k++) {
            uint32_t B = shp[k][0], R = shp[k][1], C = shp[k][2];
            size_t n = (size_t)B * R * C;
            ot_buf s = ot_rand(dev, dts[di], n, 1, 120), d = ot_out(dev, dts[di], n);
            double *ref = malloc(n * sizeof *ref);
            OT_RUN(dev, mlxc_transpose_2d(enc, s.b, d.b, B, R, C));
            ot_download(&d);
            for (uint32_t b = 0; b < B; b++)
                for (uint32_t r = 0; r < R; r++)
                    for (uint32_t c = 0; c < C; c++) ref[((size_t)b * C + c) * R + r] = s.h[((size_t)b * R + r) * C + c];
            OT_EXACT(&d, ref, "transpose %ux%ux%u %s", B, R, C, mlxc_dtype_name(dts[di]));
            ot_poison(&d);
            OT_RUN(dev, mlxc_permute_021(enc, s.b, d.b, B, R, C));
            ot_download(&d);
            for (uint32_t a = 0; a < B; a++)
                for (uint32_t b = 0; b < R; b++)
                    for (uint32_t c = 0; c < C; c++) ref[((size_t)b * B + a) * C + c] = s.h[((size_t)a * R + b) * C + c];
            OT_EXACT(&d, ref, "permute_021 %ux%ux%u %s", B, R, C, mlxc_dtype_name(dts[di]));
            free(ref);
            ot_free(&s);
            ot_free(&d);
        }
}

static void test_embedding(void) {
    static const struct { mlxc_dtype t, o; } combos[] = {{MLXC_F32, MLXC_F32}, {MLXC_F16, MLXC_F16}, {MLXC_F16, MLXC_F32},
                                                         {MLXC_BF16, MLXC_BF16}, {MLXC_BF16, MLXC_F32}};
    static const uint32_t dims[] = {1, 7, 64, 1000};
    for (size_t ci = 0; ci < 5; ci++)
        for (size_t k = 0; k < 4; k++) {
            uint32_t vocab = 37, dim = dims[k], n = 1 + (uint32_t)k * 5;
            ot_buf tab = ot_rand(dev, combos[ci].t, (size_t)vocab * dim, -3, 3);
            ot_buf ids = ot_alloc(dev, MLXC_U32, n);
            for (uint32_t i = 0; i < n; i++) ids.h[i] = ot_u32() % vocab;
            if (n > 3) ids.h[2] = vocab + 5; /* out of range: zero row */
            ot_upload(&ids);
            ot_buf o = ot_out(dev, combos[ci].o, (size_t)n * dim);
            double *ref = malloc(o.n * sizeof *ref);
            for (int sc = 0; sc < 2; sc++) {
                float scale = sc ? 2.71875f : 1.0f;
                ot_poison(&o);
                OT_RUN(dev, mlxc_embedding_gather(enc, tab.b, ids.b, o.b, dim, scale));
                ot_download(&o);
                for (uint32_t i = 0; i < n; i++)
                    for (uint32_t j = 0; j < dim; j++) {
                        uint32_t id = (uint32_t)ids.h[i];
                        ref[(size_t)i * dim + j] = id < vocab ? tab.h[(size_t)id * dim + j] * scale : 0.0;
                    }
                if (!sc) OT_EXACT(&o, ref, "gather %zu dim %u", ci, dim);
                else OT_CLOSE(&o, ref, ot_tol(combos[ci].o), "gather scaled %zu dim %u", ci, dim);
            }
            free(ref);
            ot_free(&tab);
            ot_free(&ids);
            ot_free(&o);
        }
}

/* The cache after writing src at start (linear or ring), computed here. */
static void kv_ref(double *cache, const double *src, mlxc_dtype cdt, uint32_t T, uint32_t H, uint32_t D, uint32_t cap,
                   uint64_t start, bool sliding) {
    unsigned char tmp[8];
    for (uint32_t t = 0; t < T; t++) {
        if (sliding && T > cap && t < T - cap) continue;
        uint64_t slot = start + t;
        if (sliding) slot %= cap;
        else if (slot >= cap) continue;
        for (uint32_t h = 0; h < H; h++)
            for (uint32_t d = 0; d < D; d++) {
                ot_st(cdt, tmp, 0, src[((size_t)t * H + h) * D + d]);
                cache[((size_t)h * cap + slot) * D + d] = ot_ld(cdt, tmp, 0);
            }
    }
}

static void test_kv_cache(void) {
    static const struct { uint32_t T, H, D, cap, pos; bool sliding, use_buf; } cases[] = {
        {1, 2, 8, 16, 0, false, false},  {5, 3, 7, 16, 11, false, false}, {1, 1, 128, 9, 8, false, true},
        {4, 2, 8, 16, 14, false, true},  /* device position: the rows past the end are dropped */
        {3, 2, 8, 8, 6, true, false},    /* ring wraps */
        {11, 2, 5, 4, 3, true, true},    /* more tokens than the window: the last four survive */
        {1, 4, 64, 32, 1000, true, true}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int si = 0; si < 3; si++)
            for (int ci = 0; ci < 3; ci++) {
                uint32_t T = cases[c].T, H = cases[c].H, D = cases[c].D, cap = cases[c].cap;
                mlxc_dtype sdt = ot_float_dtypes[si], cdt = ot_float_dtypes[ci];
                ot_buf src = ot_rand(dev, sdt, (size_t)T * H * D, -2, 2);
                ot_buf cache = ot_rand(dev, cdt, (size_t)H * cap * D, 5, 9);
                double *ref = malloc(cache.n * sizeof *ref);
                memcpy(ref, cache.h, cache.n * sizeof *ref);
                ot_buf pb = ot_alloc(dev, MLXC_I32, 1);
                uint32_t host_pos = cases[c].use_buf ? 1 : cases[c].pos;
                pb.h[0] = cases[c].pos - 1;
                ot_upload(&pb);
                mlxc_kv_cache_desc kd = {H, D, cap, cases[c].sliding};
                OT_RUN(dev, mlxc_kv_cache_copy(enc, src.b, cache.b, &kd, host_pos, cases[c].use_buf ? pb.b : NULL));
                ot_download(&cache);
                kv_ref(ref, src.h, cdt, T, H, D, cap, cases[c].pos, cases[c].sliding);
                OT_EXACT(&cache, ref, "kv case %zu %s -> %s", c, mlxc_dtype_name(sdt), mlxc_dtype_name(cdt));
                free(ref);
                ot_free(&src);
                ot_free(&cache);
                ot_free(&pb);
            }
}

/* ---- selection ----------------------------------------------------------------------- */

/* The rank of a value: larger first, NaN last (as the kernels rank). */
static int ranks_before(double a, uint32_t ia, double b, uint32_t ib) {
    if (isnan(a)) return 0;
    if (isnan(b)) return 1;
    return a > b || (a == b && ia < ib);
}

static void test_argmax_topk(void) {
    static const struct { uint32_t rows, n, k; } cases[] = {{1, 1, 1}, {3, 7, 7}, {5, 33, 4}, {2, 257, 64}, {1, 4099, 10}, {17, 64, 1}};
    for (int di = 0; di < 3; di++)
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
            mlxc_dtype dt = ot_float_dtypes[di];
            uint32_t R = cases[c].rows, n = cases[c].n, k = cases[c].k;
            ot_buf x = ot_alloc(dev, dt, (size_t)R * n);
            for (size_t i = 0; i < x.n; i++) x.h[i] = (double)(int)(ot_u32() % 41) - 20.0 + 0.5; /* many ties */
            if (n > 5) x.h[3] = NAN;
            ot_upload(&x);
            ot_buf idx = ot_out(dev, MLXC_U32, R), val = ot_out(dev, MLXC_F32, R);
            ot_buf tv = ot_out(dev, MLXC_F32, (size_t)R * k), ti = ot_out(dev, MLXC_U32, (size_t)R * k);
            OT_RUN(dev, mlxc_argmax(enc, x.b, idx.b, val.b, n));
            OT_RUN(dev, mlxc_topk(enc, x.b, tv.b, ti.b, n, k));
            ot_download(&idx);
            ot_download(&val);
            ot_download(&tv);
            ot_download(&ti);
            double *ri = malloc(R * sizeof *ri), *rv = malloc(R * sizeof *rv);
            double *rti = malloc((size_t)R * k * sizeof *rti), *rtv = malloc((size_t)R * k * sizeof *rtv);
            for (uint32_t r = 0; r < R; r++) {
                const double *row = x.h + (size_t)r * n;
                /* Selection sort of the first k by rank. */
                uint32_t *order = malloc(n * sizeof *order);
                for (uint32_t i = 0; i < n; i++) order[i] = i;
                for (uint32_t j = 0; j < k; j++) {
                    uint32_t b = j;
                    for (uint32_t i = j + 1; i < n; i++)
                        if (ranks_before(row[order[i]], order[i], row[order[b]], order[b])) b = i;
                    uint32_t t = order[j];
                    order[j] = order[b];
                    order[b] = t;
                    rti[(size_t)r * k + j] = order[j];
                    rtv[(size_t)r * k + j] = row[order[j]];
                }
                ri[r] = rti[(size_t)r * k];
                rv[r] = rtv[(size_t)r * k];
                free(order);
            }
            OT_EXACT(&idx, ri, "argmax idx %s case %zu", mlxc_dtype_name(dt), c);
            OT_EXACT(&val, rv, "argmax val %s case %zu", mlxc_dtype_name(dt), c);
            OT_EXACT(&ti, rti, "topk idx %s case %zu", mlxc_dtype_name(dt), c);
            OT_EXACT(&tv, rtv, "topk val %s case %zu", mlxc_dtype_name(dt), c);
            free(ri); free(rv); free(rti); free(rtv);
            ot_free(&x); ot_free(&idx); ot_free(&val); ot_free(&tv); ot_free(&ti);
        }
}

static void test_sample(void) {
    static const struct { uint32_t rows, n; float temp; } cases[] = {
        {1, 1, 1.0f}, {3, 7, 0.7f}, {5, 33, 0.0f}, {2, 257, 1.3f}, {1, 4099, 0.9f}, {17, 64, 2.0f}, {4, 1000, 0.0f}};
    for (int di = 0; di < 3; di++)
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
            for (int ub = 0; ub < 2; ub++) {
                mlxc_dtype dt = ot_float_dtypes[di];
                uint32_t R = cases[c].rows, n = cases[c].n;
                float T = cases[c].temp, u = (float)ot_uniform(0, 1);
                if (u >= 1.0f) u = 0.5f;
                ot_buf x = ot_rand(dev, dt, (size_t)R * n, -4, 4);
                ot_buf us = ot_alloc(dev, MLXC_F32, R);
                for (uint32_t r = 0; r < R; r++) us.h[r] = r == 0 ? 0.0 : ot_uniform(0, 0.999);
                ot_upload(&us);
                ot_buf tok = ot_out(dev, MLXC_U32, R), lp = ot_out(dev, MLXC_F32, R);
                OT_RUN(dev, mlxc_sample_softmax(enc, x.b, ub ? us.b : NULL, tok.b, lp.b, n, T, u));
                ot_download(&tok);
                ot_download(&lp);
                double *rt = malloc(R * sizeof *rt), *rl = malloc(R * sizeof *rl);
                for (uint32_t r = 0; r < R; r++) {
                    const double *row = x.h + (size_t)r * n;
                    double m = row[0];
                    uint32_t am = 0;
                    for (uint32_t i = 1; i < n; i++)
                        if (row[i] > m) m = row[i], am = i;
                    double it = T > 0 ? 1.0 / T : 1.0, sum = 0;
                    for (uint32_t i = 0; i < n; i++) sum += exp((row[i] - m) * it);
                    uint32_t pick = am;
                    double target = (ub ? us.h[r] : u) * sum, cum = 0, margin = INFINITY;
                    if (T > 0) {
                        pick = n - 1;
                        for (uint32_t i = 0; i < n; i++) {
                            cum += exp((row[i] - m) * it);
                            if (fabs(cum - target) < margin) margin = fabs(cum - target);
                            if (cum > target) { pick = i; break; }
                        }
                    }
                    /* A draw within float rounding of a boundary may go either way. */
                    if (tok.h[r] != pick && margin < 1e-5 * sum) pick = (uint32_t)tok.h[r];
                    rt[r] = pick;
                    rl[r] = (row[pick] - m) * it - log(sum);
                }
                OT_EXACT(&tok, rt, "sample token %s case %zu ub %d", mlxc_dtype_name(dt), c, ub);
                OT_CLOSE(&lp, rl, 1e-5, "sample logprob %s case %zu", mlxc_dtype_name(dt), c);
                free(rt); free(rl);
                ot_free(&x); ot_free(&us); ot_free(&tok); ot_free(&lp);
            }
}

/* ---- norms ----------------------------------------------------------------------------- */

static void test_rms_residual(void) {
    for (int di = 0; di < 3; di++)
        for (size_t k = 0; k < NROWS; k++)
            for (int var = 0; var < 3; var++) { /* 0: weight + sum, 1: no weight, no sum, 2: sum in place of r */
                mlxc_dtype dt = ot_float_dtypes[di];
                uint32_t R = k_rows[k].rows, D = k_rows[k].dim;
                size_t n = (size_t)R * D;
                ot_buf x = ot_rand(dev, dt, n, -2, 2), r = ot_rand(dev, dt, n, -2, 2), w = ot_rand(dev, dt, D, 0.5, 1.5);
                ot_buf o = ot_out(dev, dt, n), s = ot_out(dev, dt, n);
                double *ref = malloc(n * sizeof *ref), *rs = malloc(n * sizeof *rs);
                unsigned char tmp[8];
                for (size_t i = 0; i < n; i++) {
                    ot_st(dt, tmp, 0, x.h[i] + r.h[i]);
                    rs[i] = ot_ld(dt, tmp, 0);
                }
                for (uint32_t row = 0; row < R; row++) {
                    double ss = 0;
                    for (uint32_t j = 0; j < D; j++) ss += rs[(size_t)row * D + j] * rs[(size_t)row * D + j];
                    double inv = 1.0 / sqrt(ss / D + 1e-5);
                    for (uint32_t j = 0; j < D; j++)
                        ref[(size_t)row * D + j] = rs[(size_t)row * D + j] * inv * (var == 1 ? 1.0 : w.h[j]);
                }
                mlxc_buffer *sum = var == 0 ? s.b : var == 2 ? r.b : NULL;
                OT_RUN(dev, mlxc_rms_norm_residual(enc, x.b, r.b, var == 1 ? NULL : w.b, o.b, sum, D, 1e-5f));
                ot_download(&o);
                OT_CLOSE(&o, ref, ot_tol(dt), "rms_residual var %d %s %ux%u", var, mlxc_dtype_name(dt), R, D);
                if (var != 1) {
                    ot_buf *sb = var == 0 ? &s : &r;
                    ot_download(sb);
                    OT_EXACT(sb, rs, "rms_residual sum var %d %s", var, mlxc_dtype_name(dt));
                }
                if (var == 0) {
                    /* Bit-identical to add followed by rms_norm. */
                    ot_buf o2 = ot_out(dev, dt, n), s2 = ot_out(dev, dt, n);
                    mlxc_encoder *enc = NULL;
                    CHECK_OK(mlxc_encoder_create(dev, &enc));
                    CHECK_OK(mlxc_add(enc, x.b, r.b, s2.b));
                    CHECK_OK(mlxc_encoder_barrier(enc));
                    CHECK_OK(mlxc_rms_norm(enc, s2.b, w.b, o2.b, D, 1e-5f));
                    CHECK_OK(mlxc_encoder_commit_and_wait(enc));
                    mlxc_encoder_destroy(enc);
                    ot_download(&o2);
                    OT_EXACT(&o2, o.h, "rms_residual vs add+rms_norm %s", mlxc_dtype_name(dt));
                    ot_free(&o2);
                    ot_free(&s2);
                }
                free(ref); free(rs);
                ot_free(&x); ot_free(&r); ot_free(&w); ot_free(&o); ot_free(&s);
            }
}

static void test_l2_layer_norm(void) {
    for (int di = 0; di < 3; di++)
        for (size_t k = 0; k < NROWS; k++)
            for (int var = 0; var < 3; var++) { /* layer_norm: 0 w+b, 1 none, 2 w only */
                mlxc_dtype dt = ot_float_dtypes[di];
                uint32_t R = k_rows[k].rows, D = k_rows[k].dim;
                size_t n = (size_t)R * D;
                ot_buf x = ot_rand(dev, dt, n, -1, 3), w = ot_rand(dev, dt, D, 0.5, 1.5), b = ot_rand(dev, dt, D, -1, 1);
                ot_buf o = ot_out(dev, dt, n);
                double *ref = malloc(n * sizeof *ref);
                if (var == 0) {
                    OT_RUN(dev, mlxc_l2_norm(enc, x.b, o.b, D, 1e-6f));
                    ot_download(&o);
                    for (uint32_t row = 0; row < R; row++) {
                        const double *xr = x.h + (size_t)row * D;
                        double ss = 0;
                        for (uint32_t j = 0; j < D; j++) ss += xr[j] * xr[j];
                        for (uint32_t j = 0; j < D; j++) ref[(size_t)row * D + j] = xr[j] / sqrt(ss + 1e-6);
                    }
                    OT_CLOSE(&o, ref, ot_tol(dt), "l2_norm %s %ux%u", mlxc_dtype_name(dt), R, D);
                    ot_poison(&o);
                }
                OT_RUN(dev, mlxc_layer_norm(enc, x.b, var == 1 ? NULL : w.b, var == 0 ? b.b : NULL, o.b, D, 1e-5f));
                ot_download(&o);
                for (uint32_t row = 0; row < R; row++) {
                    const double *xr = x.h + (size_t)row * D;
                    double mean = 0, var2 = 0;
                    for (uint32_t j = 0; j < D; j++) mean += xr[j];
                    mean /= D;
                    for (uint32_t j = 0; j < D; j++) var2 += (xr[j] - mean) * (xr[j] - mean);
                    double inv = 1.0 / sqrt(var2 / D + 1e-5);
                    for (uint32_t j = 0; j < D; j++)
                        ref[(size_t)row * D + j] =
                            (xr[j] - mean) * inv * (var == 1 ? 1.0 : w.h[j]) + (var == 0 ? b.h[j] : 0.0);
                }
                OT_CLOSE(&o, ref, ot_tol(dt), "layer_norm var %d %s %ux%u", var,
                         mlxc_dtype_name(dt), R, D);
                free(ref);
                ot_free(&x); ot_free(&w); ot_free(&b); ot_free(&o);
            }
}

/* ---- rope -------------------------------------------------------------------------------- */

static uint32_t rope_section(const mlxc_rope_desc *d, uint32_t i) {
    const uint32_t *s = d->sections;
    uint32_t sector = i % (s[0] + s[1] + s[2] + s[3]);
    if (d->mode == MLXC_ROPE_IMROPE) {
        if (sector % 3 == 1 && sector < 3 * s[1]) return 1;
        if (sector % 3 == 2 && sector < 3 * s[2]) return 2;
        if (sector % 3 == 0 && sector < 3 * s[0]) return 0;
        return 3;
    }
    return sector < s[0] ? 0 : sector < s[0] + s[1] ? 1 : sector < s[0] + s[1] + s[2] ? 2 : 3;
}

static void rope_ref(double *out, const double *x, const int32_t *pos, const float *ff, const mlxc_rope_desc *d,
                     uint32_t T) {
    uint32_t rd = d->rope_dim ? d->rope_dim : d->head_dim, half = rd / 2;
    bool multi = d->mode == MLXC_ROPE_MROPE || d->mode == MLXC_ROPE_IMROPE;
    for (uint32_t t = 0; t < T; t++)
        for (uint32_t h = 0; h < d->n_heads; h++) {
            const double *xr = x + ((size_t)t * d->n_heads + h) * d->head_dim;
            double *o = out + ((size_t)t * d->n_heads + h) * d->head_dim;
            for (uint32_t i = 0; i < d->head_dim; i++) o[i] = xr[i];
            for (uint32_t i = 0; i < half; i++) {
                float inv = (float)((double)d->freq_scale * pow((double)d->theta_base, -2.0 * i / rd));
                int32_t p = multi ? pos[(size_t)rope_section(d, i) * T + t] : pos[t];
                float theta = (float)p * inv;
                if (ff) theta = theta / ff[i];
                uint32_t ia = d->mode == MLXC_ROPE_NORM ? 2 * i : i, ib = d->mode == MLXC_ROPE_NORM ? 2 * i + 1 : i + half;
                double af = d->attn_factor > 0 ? d->attn_factor : 1.0;   /* the rotated elements only */
                double c = af * cos((double)theta), s = af * sin((double)theta);
                o[ia] = xr[ia] * c - xr[ib] * s;
                o[ib] = xr[ia] * s + xr[ib] * c;
            }
        }
}

static void test_rope(void) {
    static const struct { mlxc_rope_mode mode; uint32_t T, H, D, rd; bool ff; uint32_t sec[4]; } cases[] = {
        {MLXC_ROPE_NORM, 1, 1, 2, 0, false, {0}},        {MLXC_ROPE_NORM, 5, 3, 64, 0, false, {0}},
        {MLXC_ROPE_NEOX, 7, 2, 128, 0, false, {0}},      {MLXC_ROPE_NEOX, 3, 4, 96, 32, false, {0}},
        {MLXC_ROPE_NEOX, 4, 2, 64, 64, true, {0}},       {MLXC_ROPE_NORM, 2, 5, 10, 6, true, {0}},
        {MLXC_ROPE_MROPE, 6, 2, 128, 0, false, {24, 20, 20, 0}},
        {MLXC_ROPE_IMROPE, 5, 3, 64, 64, false, {11, 11, 10, 0}},
        {MLXC_ROPE_IMROPE, 3, 2, 256, 64, true, {8, 12, 12, 0}},
        {MLXC_ROPE_MROPE, 2, 1, 32, 0, false, {2, 3, 5, 6}}};
    for (int di = 0; di < 3; di++)
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
            for (int inplace = 0; inplace < 2; inplace++) {
                mlxc_dtype dt = ot_float_dtypes[di];
                mlxc_rope_desc d = {cases[c].mode, cases[c].H, cases[c].D, cases[c].rd, c % 2 ? 1e6f : 10000.0f,
                                    c == 3 ? 0.25f : 1.0f, {0}, c == 3 || c == 5 ? 1.118f : 0.0f};
                memcpy(d.sections, cases[c].sec, sizeof d.sections);
                uint32_t T = cases[c].T, rd = d.rope_dim ? d.rope_dim : d.head_dim;
                bool multi = d.mode == MLXC_ROPE_MROPE || d.mode == MLXC_ROPE_IMROPE;
                size_t n = (size_t)T * d.n_heads * d.head_dim;
                ot_buf x = ot_rand(dev, dt, n, -2, 2), o = ot_out(dev, dt, n);
                ot_buf pos = ot_alloc(dev, MLXC_I32, (size_t)T * (multi ? 4 : 1));
                for (size_t i = 0; i < pos.n; i++) pos.h[i] = ot_u32() % 300;
                ot_upload(&pos);
                ot_buf ff = ot_rand(dev, MLXC_F32, rd / 2, 1, 8);
                int32_t *ph = malloc(pos.n * sizeof *ph);
                float *fh = malloc(ff.n * sizeof *fh);
                for (size_t i = 0; i < pos.n; i++) ph[i] = (int32_t)pos.h[i];
                for (size_t i = 0; i < ff.n; i++) fh[i] = (float)ff.h[i];
                double *ref = malloc(n * sizeof *ref);
                rope_ref(ref, x.h, ph, cases[c].ff ? fh : NULL, &d, T);
                ot_buf *res = inplace ? &x : &o;
                OT_RUN(dev, mlxc_rope(enc, x.b, res->b, pos.b, cases[c].ff ? ff.b : NULL, &d));
                ot_download(res);
                OT_CLOSE(res, ref, ot_tol(dt), "rope case %zu %s in place %d", c, mlxc_dtype_name(dt), inplace);
                free(ref); free(ph); free(fh);
                ot_free(&x); ot_free(&o); ot_free(&pos); ot_free(&ff);
            }
}

/* The fused decode step gives the bits of the separate ops (bias add,
 * per-head RMS norm, rope of q and k, KV-cache copies), for every dtype of
 * the activations and of the caches, with and without bias and norms; the
 * caches start random (the rows not written must stay) or poisoned. */
static void test_rope_qkv(void) {
    int runs = 0;
    RQ_FOR_EACH(c, ai, ci, v) {
        const rq_case *k = &rq_cases[c];
        const mlxc_dtype act = ot_float_dtypes[ai], cdt = ot_float_dtypes[ci];
        const bool bias = v & 1, norm = v & 2;
        rq_inputs in = rq_make(k, (c + v) % 2 == 0);
        rq_out f = rq_fused(dev, k, &in, act, cdt, bias, norm);
        rq_out r = rq_composed(dev, k, &in, act, cdt, bias, norm);
        CHECK_MSG(rq_same_bytes(&f.q, &r.q), "rope_qkv case %zu %s/%s bias %d norm %d: q differs", c,
                  mlxc_dtype_name(act), mlxc_dtype_name(cdt), bias, norm);
        CHECK_MSG(rq_same_bytes(&f.k, &r.k), "rope_qkv case %zu %s/%s bias %d norm %d: k cache differs", c,
                  mlxc_dtype_name(act), mlxc_dtype_name(cdt), bias, norm);
        CHECK_MSG(rq_same_bytes(&f.v, &r.v), "rope_qkv case %zu %s/%s bias %d norm %d: v cache differs", c,
                  mlxc_dtype_name(act), mlxc_dtype_name(cdt), bias, norm);
        /* Every q element was written (the poison is gone). */
        ot_download(&f.q);
        bool finite = true;
        for (size_t i = 0; i < f.q.n; i++) finite = finite && isfinite(f.q.h[i]);
        CHECK_MSG(finite, "rope_qkv case %zu: q not written", c);
        rq_free_out(&f);
        rq_free_out(&r);
        rq_free_inputs(&in);
        runs++;
    }
    CHECK_EQ_INT(runs, (int)(RQ_NCASES - 1) * 36 + 3);
}

/* ---- softmax --------------------------------------------------------------------------- */

static void test_softmax(void) {
    static const struct { uint32_t heads, q, cols; float scale; bool mask, causal; uint32_t off; } cases[] = {
        {1, 1, 1, 1.0f, false, false, 0},  {3, 1, 7, 1.0f, false, false, 0},   {1, 5, 33, 1.0f, false, false, 0},
        {2, 1, 4099, 1.0f, false, false, 0}, {4, 6, 40, 0.125f, true, true, 34}, {2, 8, 8, 0.5f, false, true, 0},
        {3, 5, 257, 0.088f, true, false, 0}, {1, 4, 9, 1.0f, true, true, 2}};
    for (int di = 0; di < 3; di++)
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
            mlxc_dtype dt = ot_float_dtypes[di];
            uint32_t Q = cases[c].q, C = cases[c].cols, R = cases[c].heads * Q;
            size_t n = (size_t)R * C;
            ot_buf x = ot_rand(dev, dt, n, -8, 8), o = ot_out(dev, dt, n);
            ot_buf m = ot_rand(dev, dt, (size_t)Q * C, -2, 1);
            /* Some -inf entries; with c == 7 query 0's row is fully masked. */
            for (size_t i = 0; i < m.n; i++)
                if (ot_u32() % 5 == 0 || (c == 7 && i < C)) m.h[i] = -INFINITY;
            ot_upload(&m);
            mlxc_scale_mask_softmax_desc d = {C, Q, cases[c].scale, cases[c].causal, cases[c].off};
            bool plain = !cases[c].mask && !cases[c].causal && cases[c].scale == 1.0f;
            if (plain) OT_RUN(dev, mlxc_softmax(enc, x.b, o.b, C));
            else OT_RUN(dev, mlxc_scale_mask_softmax(enc, x.b, cases[c].mask ? m.b : NULL, o.b, &d));
            ot_download(&o);
            double *ref = malloc(n * sizeof *ref), *lg = malloc(C * sizeof *lg);
            for (uint32_t r = 0; r < R; r++) {
                uint32_t q = r % Q;
                double mx = -INFINITY, sum = 0;
                for (uint32_t j = 0; j < C; j++) {
                    lg[j] = x.h[(size_t)r * C + j] * (double)cases[c].scale + (cases[c].mask ? m.h[(size_t)q * C + j] : 0);
                    if (cases[c].causal && j > cases[c].off + q) lg[j] = -INFINITY;
                    if (lg[j] > mx) mx = lg[j];
                }
                for (uint32_t j = 0; j < C; j++) sum += mx == -INFINITY ? 0 : exp(lg[j] - mx);
                for (uint32_t j = 0; j < C; j++) ref[(size_t)r * C + j] = mx == -INFINITY ? 0 : exp(lg[j] - mx) / sum;
            }
            OT_CLOSE(&o, ref, ot_tol(dt), "softmax case %zu %s", c, mlxc_dtype_name(dt));
            free(ref); free(lg);
            ot_free(&x); ot_free(&o); ot_free(&m);
        }
}

int main(void) {
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &dev) != MLXC_OK) {
        fprintf(stderr, "no CPU device: %s\n", mlxc_last_error());
        return 1;
    }
    uint64_t t0 = 0;
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    }
    RUN(test_unary);
    RUN(test_binary_act);
    RUN(test_swiglu);
    RUN(test_cast);
    RUN(test_copy_strided);
    RUN(test_transpose_permute);
    RUN(test_embedding);
    RUN(test_kv_cache);
    RUN(test_argmax_topk);
    RUN(test_sample);
    RUN(test_rms_residual);
    RUN(test_l2_layer_norm);
    RUN(test_rope);
    RUN(test_rope_qkv);
    RUN(test_softmax);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("reference suite: %.2f s\n", ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec - t0) / 1e9);
    mlxc_device_close(dev);
    HARNESS_END();
}
