/* Linear-attention kernels (src/kernels/params_linear_attn.h), written as
 * reference code: plain loops in f32, the recurrent state f32 throughout.
 *
 * The gated delta rule, per value head with state S (k_dim, v_dim) and
 * q scaled (after the optional L2 norm) by `scale`, for each token:
 *     S  = exp(g) * S
 *     d  = beta * (v - S^T k)          (v_dim)
 *     S += k d^T
 *     o  = S^T q                        (v_dim)
 * The chunked form gives the same outputs and final state from chunks of
 * C = MLXC_GDN_CHUNK tokens.  With gc the cumulative sum of g inside the
 * chunk and S0 the state before it, the state before token i is
 *     S_i = e^{gc_i} S0 + sum_{j<i} e^{gc_i - gc_j} k_j u_j^T
 * where u_j = beta_j (v_j - S_j^T k_j) is token j's correction.  Writing
 * S_j out turns the corrections into one unit lower triangular system
 *     u_i + sum_{j<i} beta_i (k_i . k_j) e^{gc_i - gc_j} u_j
 *         = beta_i (v_i - e^{gc_i} S0^T k_i)
 * solved by forward substitution; then
 *     o_i = e^{gc_i} S0^T q_i + sum_{j<=i} (q_i . k_j) e^{gc_i - gc_j} u_j
 *     S   = e^{gc_last} S0 + sum_j e^{gc_last - gc_j} k_j u_j^T. */
#include <stdlib.h>

#include "kernels/params_linear_attn.h"
#include "kernels/cpu/ops_cpu.h"

static inline float silu(float v) { return v / (1.0f + expf(-v)); }

/* ---- short causal convolution ------------------------------------------------ */

/* short_conv(x, w, state, out, p): per (sequence, channel), the last
 * width - 1 inputs slide through a window that starts as the state and
 * is written back as the state at the end. */
OPS_ALWAYS_INLINE void short_conv(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *x = l->args[0]; /* (n_seq, seq_len, channels) */
    const void *w = l->args[1]; /* (channels, width) */
    void *state = l->args[2];   /* (n_seq, width - 1, channels) */
    void *out = l->args[3];     /* (n_seq, seq_len, channels), may be x */
    const mlxc_p_short_conv *p = l->args[4];
    const uint32_t C = p->channels, W = p->width, T = p->seq_len;
    uint64_t i0, i1;
    mlxc_cpu_slice(l, (uint64_t)p->n_seq * C, &i0, &i1);
    for (uint64_t it = i0; it < i1; it++) {
        const uint64_t s = it / C, c = it % C;
        float win[4]; /* (width - 1) previous inputs, oldest first */
        float wc[4];  /* (width) the channel's taps */
        for (uint32_t j = 0; j + 1 < W; j++) win[j] = ops_ld(t, state, (s * (W - 1) + j) * C + c);
        for (uint32_t j = 0; j < W; j++) wc[j] = ops_ld(t, w, c * W + j);
        for (uint32_t tok = 0; tok < T; tok++) {
            const uint64_t at = (s * T + tok) * C + c;
            const float xi = ops_ld(t, x, at);
            float acc = 0.0f;
            for (uint32_t j = 0; j + 1 < W; j++) acc += wc[j] * win[j];
            acc += wc[W - 1] * xi;
            for (uint32_t j = 0; j + 2 < W; j++) win[j] = win[j + 1];
            win[W - 2] = xi;
            ops_st(t, out, at, p->silu ? silu(acc) : acc);
        }
        for (uint32_t j = 0; j + 1 < W; j++) ops_st(t, state, (s * (W - 1) + j) * C + c, win[j]);
    }
}

/* ---- gates and the gated norm ------------------------------------------------- */

/* softplus as torch computes it (threshold 20: the input itself above). */
static inline float softplus(float v) { return v > 20.0f ? v : log1pf(expf(v)); }

/* gdn_gating(a, b, a_log, dt_bias, g, beta, p):
 * g = -exp(a_log) * softplus(a + dt_bias), beta = sigmoid(b). */
OPS_ALWAYS_INLINE void gdn_gating(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *a = l->args[0];         /* (rows, heads) */
    const void *b = l->args[1];         /* (rows, heads) */
    const float *a_log = l->args[2];    /* (heads) */
    const float *dt_bias = l->args[3];  /* (heads) */
    float *g = l->args[4];              /* (rows, heads) */
    float *beta = l->args[5];           /* (rows, heads) */
    const mlxc_p_gdn_gating *p = l->args[6];
    uint64_t i0, i1;
    mlxc_cpu_slice(l, p->n, &i0, &i1);
    for (uint64_t i = i0; i < i1; i++) {
        const uint32_t h = (uint32_t)(i % p->heads);
        g[i] = -expf(a_log[h]) * softplus(ops_ld(t, a, i) + dt_bias[h]);
        beta[i] = 1.0f / (1.0f + expf(-ops_ld(t, b, i)));
    }
}

/* rms_norm_gated(x, z, w, out, p): out = round(w * round(x * inv_rms)) *
 * silu(z), rounded: the roundings of the transformers module (the norm is
 * cast back to the input dtype before the weight, the weight product is
 * in the input dtype), none of them visible in f32. */
OPS_ALWAYS_INLINE void rms_norm_gated(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *x = l->args[0]; /* (rows, dim) */
    const void *z = l->args[1]; /* (rows, dim) */
    const void *w = l->args[2]; /* (dim) */
    void *out = l->args[3];     /* (rows, dim) */
    const mlxc_p_rms_norm_gated *p = l->args[4];
    const uint32_t dim = p->dim;
    uint64_t r0, r1;
    mlxc_cpu_slice(l, p->rows, &r0, &r1);
    for (uint64_t r = r0; r < r1; r++) {
        const uint64_t base = r * dim;
        float ss = 0.0f;
        for (uint32_t i = 0; i < dim; i++) {
            const float v = ops_ld(t, x, base + i);
            ss += v * v;
        }
        const float inv = 1.0f / sqrtf(ss / (float)dim + p->eps);
        for (uint32_t i = 0; i < dim; i++) {
            const float n = ops_round(t, ops_ld(t, x, base + i) * inv);
            const float nw = ops_round(t, ops_ld(t, w, i) * n);
            ops_st(t, out, base + i, nw * silu(ops_ld(t, z, base + i)));
        }
    }
}

/* ---- gated delta rule ---------------------------------------------------------- */

/* dst = src (n values of dtype t) in f32, scaled to unit L2 norm when
 * l2norm (as transformers' l2norm: x / sqrt(sum x^2 + 1e-6)), then by s. */
static void load_vec(ops_dtype t, const void *src, uint64_t at, uint32_t n, int l2norm, float s, float *dst) {
    for (uint32_t i = 0; i < n; i++) dst[i] = ops_ld(t, src, at + i);
    if (l2norm) {
        float ss = 0.0f;
        for (uint32_t i = 0; i < n; i++) ss += dst[i] * dst[i];
        s *= 1.0f / sqrtf(ss + 1e-6f);
    }
    for (uint32_t i = 0; i < n; i++) dst[i] *= s;
}

/* gdn_recurrent(q, k, v, g, beta, state, out, p): token by token, per
 * (sequence, value head). */
OPS_ALWAYS_INLINE void gdn_recurrent(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *q = l->args[0];      /* (n_seq, seq_len, k_heads, k_dim) */
    const void *k = l->args[1];      /* (n_seq, seq_len, k_heads, k_dim) */
    const void *v = l->args[2];      /* (n_seq, seq_len, v_heads, v_dim) */
    const float *g = l->args[3];     /* (n_seq, seq_len, v_heads) */
    const float *beta = l->args[4];  /* (n_seq, seq_len, v_heads) */
    float *state = l->args[5];       /* (n_seq, v_heads, k_dim, v_dim) */
    void *out = l->args[6];          /* (n_seq, seq_len, v_heads, v_dim) */
    const mlxc_p_gdn *p = l->args[7];
    const uint32_t T = p->seq_len, HK = p->k_heads, HV = p->v_heads, DK = p->k_dim, DV = p->v_dim;
    float qv[MLXC_GDN_MAX_DIM], kv[MLXC_GDN_MAX_DIM], d[MLXC_GDN_MAX_DIM];
    uint64_t i0, i1;
    mlxc_cpu_slice(l, (uint64_t)p->n_seq * HV, &i0, &i1);
    for (uint64_t it = i0; it < i1; it++) {
        const uint64_t s = it / HV;
        const uint32_t h = (uint32_t)(it % HV), kh = h / (HV / HK);
        float *S = state + it * DK * DV; /* (k_dim, v_dim) */
        for (uint32_t tok = 0; tok < T; tok++) {
            const uint64_t row = s * T + tok;
            load_vec(t, q, (row * HK + kh) * DK, DK, p->l2norm, p->scale, qv);
            load_vec(t, k, (row * HK + kh) * DK, DK, p->l2norm, 1.0f, kv);
            const float decay = expf(g[row * HV + h]), b = beta[row * HV + h];
            const uint64_t vat = (row * HV + h) * DV;
            /* S = decay * S, then d = beta * (v - S^T k) */
            for (uint32_t j = 0; j < DV; j++) d[j] = 0.0f;
            for (uint32_t i = 0; i < DK; i++)
                for (uint32_t j = 0; j < DV; j++) {
                    S[i * DV + j] *= decay;
                    d[j] += S[i * DV + j] * kv[i];
                }
            for (uint32_t j = 0; j < DV; j++) d[j] = b * (ops_ld(t, v, vat + j) - d[j]);
            /* S += k d^T, then o = S^T q */
            float o[MLXC_GDN_MAX_DIM];
            for (uint32_t j = 0; j < DV; j++) o[j] = 0.0f;
            for (uint32_t i = 0; i < DK; i++)
                for (uint32_t j = 0; j < DV; j++) {
                    S[i * DV + j] += kv[i] * d[j];
                    o[j] += S[i * DV + j] * qv[i];
                }
            for (uint32_t j = 0; j < DV; j++) ops_st(t, out, vat + j, o[j]);
        }
    }
}

/* gdn_chunked(q, k, v, g, beta, state, out, p): the chunked form (see the
 * top of this file), per (sequence, value head). */
OPS_ALWAYS_INLINE void gdn_chunked(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *q = l->args[0];      /* (n_seq, seq_len, k_heads, k_dim) */
    const void *k = l->args[1];      /* (n_seq, seq_len, k_heads, k_dim) */
    const void *v = l->args[2];      /* (n_seq, seq_len, v_heads, v_dim) */
    const float *g = l->args[3];     /* (n_seq, seq_len, v_heads) */
    const float *beta = l->args[4];  /* (n_seq, seq_len, v_heads) */
    float *state = l->args[5];       /* (n_seq, v_heads, k_dim, v_dim) */
    void *out = l->args[6];          /* (n_seq, seq_len, v_heads, v_dim) */
    const mlxc_p_gdn *p = l->args[7];
    const uint32_t T = p->seq_len, HK = p->k_heads, HV = p->v_heads, DK = p->k_dim, DV = p->v_dim;
    const uint32_t C = MLXC_GDN_CHUNK;
    uint64_t i0, i1;
    mlxc_cpu_slice(l, (uint64_t)p->n_seq * HV, &i0, &i1);
    if (i0 >= i1) return;
    /* One allocation carved into the chunk's working set. */
    float *Q = malloc(((size_t)2 * C * DK + (size_t)C * C + (size_t)C * DV + (size_t)2 * DV + 2 * C) * sizeof(float));
    if (!Q) {
        *l->fault = 1;
        return;
    }
    float *K = Q + (size_t)C * DK;   /* (C, k_dim) keys of the chunk */
    float *A = K + (size_t)C * DK;   /* (C, C) the system, then q.k decays */
    float *U = A + (size_t)C * C;    /* (C, v_dim) the corrections u */
    float *acc = U + (size_t)C * DV; /* (v_dim) */
    float *row = acc + DV;           /* (v_dim) */
    float *gc = row + DV;            /* (C) cumulative log decay */
    float *bt = gc + C;              /* (C) beta */
    for (uint64_t it = i0; it < i1; it++) {
        const uint64_t s = it / HV;
        const uint32_t h = (uint32_t)(it % HV), kh = h / (HV / HK);
        float *S = state + it * DK * DV; /* (k_dim, v_dim) */
        for (uint32_t c0 = 0; c0 < T; c0 += C) {
            const uint32_t L = T - c0 < C ? T - c0 : C;
            float run = 0.0f;
            for (uint32_t i = 0; i < L; i++) {
                const uint64_t r = s * T + c0 + i;
                load_vec(t, q, (r * HK + kh) * DK, DK, p->l2norm, p->scale, Q + (size_t)i * DK);
                load_vec(t, k, (r * HK + kh) * DK, DK, p->l2norm, 1.0f, K + (size_t)i * DK);
                run += g[r * HV + h];
                gc[i] = run;
                bt[i] = beta[r * HV + h];
            }
            /* A[i][j] = beta_i (k_i . k_j) e^{gc_i - gc_j}, j < i */
            for (uint32_t i = 0; i < L; i++)
                for (uint32_t j = 0; j < i; j++) {
                    float dot = 0.0f;
                    for (uint32_t a = 0; a < DK; a++) dot += K[(size_t)i * DK + a] * K[(size_t)j * DK + a];
                    A[i * C + j] = bt[i] * dot * expf(gc[i] - gc[j]);
                }
            /* U_i = beta_i (v_i - e^{gc_i} S0^T k_i), then (I + A) U = that */
            for (uint32_t i = 0; i < L; i++) {
                for (uint32_t c = 0; c < DV; c++) acc[c] = 0.0f;
                for (uint32_t a = 0; a < DK; a++)
                    for (uint32_t c = 0; c < DV; c++) acc[c] += K[(size_t)i * DK + a] * S[(size_t)a * DV + c];
                const uint64_t vat = ((s * T + c0 + i) * HV + h) * DV;
                const float e = expf(gc[i]);
                for (uint32_t c = 0; c < DV; c++) row[c] = bt[i] * (ops_ld(t, v, vat + c) - e * acc[c]);
                for (uint32_t j = 0; j < i; j++)
                    for (uint32_t c = 0; c < DV; c++) row[c] -= A[i * C + j] * U[(size_t)j * DV + c];
                for (uint32_t c = 0; c < DV; c++) U[(size_t)i * DV + c] = row[c];
            }
            /* o_i = e^{gc_i} S0^T q_i + sum_{j<=i} (q_i . k_j) e^{gc_i - gc_j} u_j */
            for (uint32_t i = 0; i < L; i++) {
                for (uint32_t c = 0; c < DV; c++) acc[c] = 0.0f;
                for (uint32_t a = 0; a < DK; a++)
                    for (uint32_t c = 0; c < DV; c++) acc[c] += Q[(size_t)i * DK + a] * S[(size_t)a * DV + c];
                const float e = expf(gc[i]);
                for (uint32_t c = 0; c < DV; c++) row[c] = e * acc[c];
                for (uint32_t j = 0; j <= i; j++) {
                    float dot = 0.0f;
                    for (uint32_t a = 0; a < DK; a++) dot += Q[(size_t)i * DK + a] * K[(size_t)j * DK + a];
                    const float f = dot * expf(gc[i] - gc[j]);
                    for (uint32_t c = 0; c < DV; c++) row[c] += f * U[(size_t)j * DV + c];
                }
                const uint64_t oat = ((s * T + c0 + i) * HV + h) * DV;
                for (uint32_t c = 0; c < DV; c++) ops_st(t, out, oat + c, row[c]);
            }
            /* S = e^{gc_last} S0 + sum_j e^{gc_last - gc_j} k_j u_j^T */
            const float glast = gc[L - 1], elast = expf(glast);
            for (uint32_t a = 0; a < DK; a++) {
                for (uint32_t c = 0; c < DV; c++) row[c] = elast * S[(size_t)a * DV + c];
                for (uint32_t j = 0; j < L; j++) {
                    const float f = expf(glast - gc[j]) * K[(size_t)j * DK + a];
                    for (uint32_t c = 0; c < DV; c++) row[c] += f * U[(size_t)j * DV + c];
                }
                for (uint32_t c = 0; c < DV; c++) S[(size_t)a * DV + c] = row[c];
            }
        }
    }
    free(Q);
}

/* One entry point per kernel name. */
#define LA_ENTRIES(OP)                                                           \
    static void OP##_f32(const mlxc_cpu_launch *l) { OP(l, OPS_F32); }          \
    static void OP##_f16(const mlxc_cpu_launch *l) { OP(l, OPS_F16); }          \
    static void OP##_bf16(const mlxc_cpu_launch *l) { OP(l, OPS_BF16); }
LA_ENTRIES(short_conv)
LA_ENTRIES(gdn_gating)
LA_ENTRIES(rms_norm_gated)
LA_ENTRIES(gdn_recurrent)
LA_ENTRIES(gdn_chunked)
#undef LA_ENTRIES

/* Seven pointers: the gated delta rule's q, k, v, g, beta, state, out. */
#ifndef OPS_SIG7
#define OPS_SIG7(sz) {8, {OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_P, OPS_B}, {0, 0, 0, 0, 0, 0, 0, sz}}
#endif

#define MLXC_FAMILY_NAME linear_attn
#define MLXC_FAMILY_DEF "kernels/linear_attn.def"
#include "kernels/cpu/family_tables.h"
