/*
 * Linear-attention kernels (src/kernels/params_linear_attn.h); the math and
 * the chunked form are explained at the top of src/kernels/cpu/linear_attn.c,
 * which these follow operation for operation (f32, the state f32).
 *
 *   short_conv      one thread per (sequence, channel), tokens in order, the
 *                   window in registers
 *   gdn_gating      elementwise
 *   rms_norm_gated  one block per row
 *   gdn_recurrent   one block per (sequence, value head, 32 value columns):
 *                   lane = column, warp w holds rows [8w, 8w + 8) of that
 *                   column of the state in registers across all tokens;
 *                   S^T k and S^T q reduce over the warps through shared
 *                   memory.  The state is read and written once per call.
 *   gdn_chunked     one block of 64 threads per (sequence, value head, 64
 *                   value columns), thread = column: a chunk's q and k, the
 *                   triangular system and the corrections sit in shared
 *                   memory; every product with the state touches only the
 *                   thread's own column, so the state needs no
 *                   synchronisation, and stays in global memory.
 */
#include "kernels/params_linear_attn.h"
#include "common.cuh"

namespace mlxc_ops {

__device__ __forceinline__ float silu(float v) { return v / (1.0f + expf(-v)); }

template <typename T>
__device__ __forceinline__ void short_conv(const T *x, const T *w, T *state, T *out, const mlxc_p_short_conv &p) {
    const uint32_t C = p.channels, W = p.width, T_ = p.seq_len;
    const uint64_t items = (uint64_t)p.n_seq * C;
    for (uint64_t it = global_index(); it < items; it += global_stride()) {
        const uint64_t s = it / C, c = it % C;
        float win[3], wc[4];
#pragma unroll
        for (uint32_t j = 0; j < 3; j++) win[j] = j + 1 < W ? conv<T>::load(state[(s * (W - 1) + j) * C + c]) : 0.0f;
#pragma unroll
        for (uint32_t j = 0; j < 4; j++) wc[j] = j < W ? conv<T>::load(w[c * W + j]) : 0.0f;
        const float wl = W == 2 ? wc[1] : W == 3 ? wc[2] : wc[3];
        for (uint32_t tok = 0; tok < T_; tok++) {
            const uint64_t at = (s * T_ + tok) * C + c;
            const float xi = conv<T>::load(x[at]);
            /* the taps in order, the newest input last (indices kept
             * compile-time so the window stays in registers) */
            float acc = 0.0f;
#pragma unroll
            for (uint32_t j = 0; j < 3; j++)
                if (j + 1 < W) acc += wc[j] * win[j];
            acc += wl * xi;
#pragma unroll
            for (uint32_t j = 0; j < 3; j++)
                if (j + 2 < W) win[j] = win[j + 1];
                else if (j + 2 == W) win[j] = xi;
            out[at] = conv<T>::store(p.silu ? silu(acc) : acc);
        }
#pragma unroll
        for (uint32_t j = 0; j < 3; j++)
            if (j + 1 < W) state[(s * (W - 1) + j) * C + c] = conv<T>::store(win[j]);
    }
}

__device__ __forceinline__ float softplus(float v) { return v > 20.0f ? v : log1pf(expf(v)); }

template <typename T>
__device__ __forceinline__ void gdn_gating(const T *a, const T *b, const float *a_log, const float *dt_bias, float *g,
                                           float *beta, const mlxc_p_gdn_gating &p) {
    for (uint64_t i = global_index(); i < p.n; i += global_stride()) {
        const uint32_t h = (uint32_t)(i % p.heads);
        g[i] = -expf(a_log[h]) * softplus(conv<T>::load(a[i]) + dt_bias[h]);
        beta[i] = 1.0f / (1.0f + expf(-conv<T>::load(b[i])));
    }
}

template <typename T>
__device__ __forceinline__ void rms_norm_gated(const T *x, const T *z, const T *w, T *out,
                                               const mlxc_p_rms_norm_gated &p) {
    const uint32_t t = thread_linear(), nt = thread_count(), dim = p.dim;
    for (uint64_t r = block_linear(); r < p.rows; r += block_count()) {
        const T *xr = x + r * dim, *zr = z + r * dim;
        float ss = 0.0f;
        for (uint32_t i = t; i < dim; i += nt) {
            const float v = conv<T>::load(xr[i]);
            ss += v * v;
        }
        const float inv = 1.0f / sqrtf(block_reduce<op_sum>(ss) / (float)dim + p.eps);
        /* out may be x or z: each thread reads its elements before writing them. */
        for (uint32_t i = t; i < dim; i += nt) {
            const float n = mlxc::round_to<T>(conv<T>::load(xr[i]) * inv);
            const float nw = mlxc::round_to<T>(conv<T>::load(w[i]) * n);
            out[r * dim + i] = conv<T>::store(nw * silu(conv<T>::load(zr[i])));
        }
    }
}

/* ---- gated delta rule, token by token ------------------------------------------ */

template <typename T>
__device__ __forceinline__ void gdn_recurrent(const T *q, const T *k, const T *v, const float *g, const float *beta,
                                              float *state, T *out, const mlxc_p_gdn &p) {
    constexpr uint32_t R = MLXC_GDN_ROWS, NC = MLXC_GDN_DEC_COLS;
    __shared__ float qs[MLXC_GDN_MAX_DIM], ks[MLXC_GDN_MAX_DIM]; /* (k_dim) this token's q and k */
    __shared__ float part[32][NC];                                /* (warps, columns) partial sums */
    const uint32_t tid = threadIdx.x, lane = tid & 31u, warp = tid >> 5, nw = blockDim.x >> 5;
    const uint32_t DK = p.k_dim, DV = p.v_dim, HK = p.k_heads, HV = p.v_heads, T_ = p.seq_len;
    const uint32_t tiles = (DV + NC - 1) / NC;
    const uint64_t items = (uint64_t)p.n_seq * HV * tiles;
    for (uint64_t it = blockIdx.x; it < items; it += gridDim.x) {
        const uint64_t sh = it / tiles, s = sh / HV;
        const uint32_t h = (uint32_t)(sh % HV), kh = h / (HV / HK);
        const uint32_t c = (uint32_t)(it % tiles) * NC + lane;
        const bool cv = c < DV;
        float *S = state + sh * DK * DV; /* (k_dim, v_dim) */
        float sr[R];                     /* rows warp * R + i of column c */
#pragma unroll
        for (uint32_t i = 0; i < R; i++) {
            const uint32_t r = warp * R + i;
            sr[i] = cv && r < DK ? S[(uint64_t)r * DV + c] : 0.0f;
        }
        for (uint32_t tok = 0; tok < T_; tok++) {
            const uint64_t row = s * T_ + tok;
            float qa = 0.0f, ka = 0.0f;
            if (tid < DK) {
                qa = conv<T>::load(q[(row * HK + kh) * DK + tid]);
                ka = conv<T>::load(k[(row * HK + kh) * DK + tid]);
            }
            float qn = p.scale, kn = 1.0f;
            if (p.l2norm) {
                qn *= 1.0f / sqrtf(block_reduce<op_sum>(qa * qa) + 1e-6f);
                kn = 1.0f / sqrtf(block_reduce<op_sum>(ka * ka) + 1e-6f);
            }
            __syncthreads(); /* the previous token is done with qs, ks and part */
            if (tid < DK) {
                qs[tid] = qa * qn;
                ks[tid] = ka * kn;
            }
            __syncthreads();
            const float decay = expf(g[row * HV + h]), b = beta[row * HV + h];
            float acc = 0.0f;
#pragma unroll
            for (uint32_t i = 0; i < R; i++) {
                const uint32_t r = warp * R + i;
                sr[i] *= decay;
                acc += sr[i] * (r < DK ? ks[r] : 0.0f);
            }
            part[warp][lane] = acc;
            __syncthreads();
            float kv = 0.0f;
            for (uint32_t w = 0; w < nw; w++) kv += part[w][lane];
            const float d = cv ? b * (conv<T>::load(v[(row * HV + h) * DV + c]) - kv) : 0.0f;
            __syncthreads(); /* every warp has read part */
            acc = 0.0f;
#pragma unroll
            for (uint32_t i = 0; i < R; i++) {
                const uint32_t r = warp * R + i;
                const bool rv = r < DK;
                sr[i] += (rv ? ks[r] : 0.0f) * d;
                acc += sr[i] * (rv ? qs[r] : 0.0f);
            }
            part[warp][lane] = acc;
            __syncthreads();
            if (warp == 0 && cv) {
                float o = 0.0f;
                for (uint32_t w = 0; w < nw; w++) o += part[w][lane];
                out[(row * HV + h) * DV + c] = conv<T>::store(o);
            }
        }
#pragma unroll
        for (uint32_t i = 0; i < R; i++) {
            const uint32_t r = warp * R + i;
            if (cv && r < DK) S[(uint64_t)r * DV + c] = sr[i];
        }
        __syncthreads(); /* warp 0's reads of part before the next item */
    }
}

/* ---- gated delta rule, chunked --------------------------------------------------- */

template <typename T>
__device__ __forceinline__ void gdn_chunked(const T *q, const T *k, const T *v, const float *g, const float *beta,
                                            float *state, T *out, const mlxc_p_gdn &p) {
    constexpr uint32_t C = MLXC_GDN_CHUNK, NC = MLXC_GDN_COLS, AS = MLXC_GDN_CHUNK + 1;
    extern __shared__ float sm[];
    const uint32_t DK = p.k_dim, DV = p.v_dim, HK = p.k_heads, HV = p.v_heads, T_ = p.seq_len;
    float *Qs = sm;             /* (C, k_dim) scaled queries of the chunk */
    float *Ks = Qs + C * DK;    /* (C, k_dim) keys */
    float *A = Ks + C * DK;     /* (C, C + 1) the system, then the q.k decays */
    float *X = A + C * AS;      /* (C, NC) corrections u of the block's columns */
    float *gc = X + C * NC;     /* (C) cumulative log decay */
    float *bt = gc + C;         /* (C) beta */
    float *dl = bt + C;         /* (C) e^{gc_last - gc_j} */
    const uint32_t tid = threadIdx.x, nt = blockDim.x;
    const uint32_t tiles = (DV + NC - 1) / NC;
    const uint64_t items = (uint64_t)p.n_seq * HV * tiles;
    for (uint64_t it = blockIdx.x; it < items; it += gridDim.x) {
        const uint64_t sh = it / tiles, s = sh / HV;
        const uint32_t h = (uint32_t)(sh % HV), kh = h / (HV / HK);
        const uint32_t c = (uint32_t)(it % tiles) * NC + tid;
        const bool cv = tid < NC && c < DV;
        float *S = state + sh * DK * DV; /* (k_dim, v_dim), column c is this thread's */
        for (uint32_t c0 = 0; c0 < T_; c0 += C) {
            const uint32_t L = T_ - c0 < C ? T_ - c0 : C;
            __syncthreads(); /* the previous chunk is done with the shared arrays */
            for (uint32_t idx = tid; idx < L * DK; idx += nt) {
                const uint32_t i = idx / DK, a = idx % DK;
                const uint64_t at = ((s * T_ + c0 + i) * HK + kh) * DK + a;
                Qs[i * DK + a] = conv<T>::load(q[at]);
                Ks[i * DK + a] = conv<T>::load(k[at]);
            }
            if (tid == 0) {
                float run = 0.0f;
                for (uint32_t i = 0; i < L; i++) {
                    const uint64_t r = (s * T_ + c0 + i) * HV + h;
                    run += g[r];
                    gc[i] = run;
                    bt[i] = beta[r];
                }
            }
            __syncthreads();
            for (uint32_t i = tid; i < L; i += nt) {
                float qn = p.scale, kn = 1.0f;
                if (p.l2norm) {
                    float sq = 0.0f, sk = 0.0f;
                    for (uint32_t a = 0; a < DK; a++) {
                        sq += Qs[i * DK + a] * Qs[i * DK + a];
                        sk += Ks[i * DK + a] * Ks[i * DK + a];
                    }
                    qn *= 1.0f / sqrtf(sq + 1e-6f);
                    kn = 1.0f / sqrtf(sk + 1e-6f);
                }
                for (uint32_t a = 0; a < DK; a++) {
                    Qs[i * DK + a] *= qn;
                    Ks[i * DK + a] *= kn;
                }
                dl[i] = expf(gc[L - 1] - gc[i]);
            }
            __syncthreads();
            /* A[i][j] = beta_i (k_i . k_j) e^{gc_i - gc_j}, j < i */
            for (uint32_t idx = tid; idx < L * L; idx += nt) {
                const uint32_t i = idx / L, j = idx % L;
                if (j >= i) continue;
                float dot = 0.0f;
                for (uint32_t a = 0; a < DK; a++) dot += Ks[i * DK + a] * Ks[j * DK + a];
                A[i * AS + j] = bt[i] * dot * expf(gc[i] - gc[j]);
            }
            __syncthreads();
            if (cv) {
                /* u_i = beta_i (v_i - e^{gc_i} S0^T k_i), then (I + A) u = that */
                float acc[C];
#pragma unroll
                for (uint32_t i = 0; i < C; i++) acc[i] = 0.0f;
                for (uint32_t a = 0; a < DK; a++) {
                    const float sa = S[(uint64_t)a * DV + c];
#pragma unroll
                    for (uint32_t i = 0; i < C; i++)
                        if (i < L) acc[i] += Ks[i * DK + a] * sa;
                }
#pragma unroll
                for (uint32_t i = 0; i < C; i++)
                    if (i < L) {
                        const float vi = conv<T>::load(v[((s * T_ + c0 + i) * HV + h) * DV + c]);
                        X[i * NC + tid] = bt[i] * (vi - expf(gc[i]) * acc[i]);
                    }
                for (uint32_t i = 1; i < L; i++) {
                    float x = X[i * NC + tid];
                    for (uint32_t j = 0; j < i; j++) x -= A[i * AS + j] * X[j * NC + tid];
                    X[i * NC + tid] = x;
                }
            }
            __syncthreads(); /* everyone is done with the system */
            /* A[i][j] = (q_i . k_j) e^{gc_i - gc_j}, j <= i */
            for (uint32_t idx = tid; idx < L * L; idx += nt) {
                const uint32_t i = idx / L, j = idx % L;
                if (j > i) continue;
                float dot = 0.0f;
                for (uint32_t a = 0; a < DK; a++) dot += Qs[i * DK + a] * Ks[j * DK + a];
                A[i * AS + j] = dot * expf(gc[i] - gc[j]);
            }
            __syncthreads();
            if (cv) {
                /* o_i = e^{gc_i} S0^T q_i + sum_{j<=i} A[i][j] u_j */
                float acc[C];
#pragma unroll
                for (uint32_t i = 0; i < C; i++) acc[i] = 0.0f;
                for (uint32_t a = 0; a < DK; a++) {
                    const float sa = S[(uint64_t)a * DV + c];
#pragma unroll
                    for (uint32_t i = 0; i < C; i++)
                        if (i < L) acc[i] += Qs[i * DK + a] * sa;
                }
#pragma unroll
                for (uint32_t i = 0; i < C; i++)
                    if (i < L) {
                        float o = expf(gc[i]) * acc[i];
                        for (uint32_t j = 0; j <= i; j++) o += A[i * AS + j] * X[j * NC + tid];
                        out[((s * T_ + c0 + i) * HV + h) * DV + c] = conv<T>::store(o);
                    }
                /* S = e^{gc_last} S0 + sum_j e^{gc_last - gc_j} k_j u_j^T */
                const float el = expf(gc[L - 1]);
                for (uint32_t a = 0; a < DK; a++) {
                    float sa = el * S[(uint64_t)a * DV + c];
                    for (uint32_t j = 0; j < L; j++) sa += (dl[j] * Ks[j * DK + a]) * X[j * NC + tid];
                    S[(uint64_t)a * DV + c] = sa;
                }
            }
        }
    }
}

} // namespace mlxc_ops

#define LA_KERNELS(T, sfx)                                                                                             \
    extern "C" __global__ void short_conv_##sfx(const T *x, const T *w, T *state, T *out, mlxc_p_short_conv p) { MLXC_PDL_WAIT();      \
        mlxc_ops::short_conv<T>(x, w, state, out, p);                                                                 \
    }                                                                                                                  \
    extern "C" __global__ void gdn_gating_##sfx(const T *a, const T *b, const float *a_log, const float *dt_bias,     \
                                                float *g, float *beta, mlxc_p_gdn_gating p) { MLXC_PDL_WAIT();                          \
        mlxc_ops::gdn_gating<T>(a, b, a_log, dt_bias, g, beta, p);                                                    \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(1024, 1)                                                              \
        rms_norm_gated_##sfx(const T *x, const T *z, const T *w, T *out, mlxc_p_rms_norm_gated p) { MLXC_PDL_WAIT();                    \
        mlxc_ops::rms_norm_gated<T>(x, z, w, out, p);                                                                 \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(1024, 1)                                                              \
        gdn_recurrent_##sfx(const T *q, const T *k, const T *v, const float *g, const float *beta, float *state,      \
                            T *out, mlxc_p_gdn p) { MLXC_PDL_WAIT();                                                                    \
        mlxc_ops::gdn_recurrent<T>(q, k, v, g, beta, state, out, p);                                                  \
    }                                                                                                                  \
    extern "C" __global__ void __launch_bounds__(MLXC_GDN_COLS)                                                        \
        gdn_chunked_##sfx(const T *q, const T *k, const T *v, const float *g, const float *beta, float *state,        \
                          T *out, mlxc_p_gdn p) { MLXC_PDL_WAIT();                                                                      \
        mlxc_ops::gdn_chunked<T>(q, k, v, g, beta, state, out, p);                                                    \
    }
LA_KERNELS(float, f32)
LA_KERNELS(__half, f16)
LA_KERNELS(__nv_bfloat16, bf16)
#undef LA_KERNELS
