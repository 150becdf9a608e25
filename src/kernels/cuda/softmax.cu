/*
 * Op-library softmax (src/kernels/params_softmax.h): y = softmax(x * scale +
 * mask) with the optional causal limit; one thread block per row, three
 * passes (max, sum of exp, write), f32 throughout; the vector path keeps
 * the row's logits in registers between them.  A fully masked row
 * gives zeros.
 */
#include "kernels/params_softmax.h"
#include "common.cuh"

namespace mlxc_ops {

template <typename T>
__device__ __forceinline__ float logit(const T *xr, const T *mr, const mlxc_p_softmax &p, uint32_t lim, uint32_t j) {
    if (j > lim) return -INFINITY;
    const float v = conv<T>::load(xr[j]) * p.scale;
    return p.has_mask ? v + conv<T>::load(mr[j]) : v;
}

template <typename T> __device__ __forceinline__ void softmax_scalar(const T *x, const T *mask, T *out, const mlxc_p_softmax &p) {
    const uint32_t t = thread_linear(), nt = thread_count(), cols = p.cols;
    for (uint64_t r = block_linear(); r < p.rows; r += block_count()) {
        const uint32_t q = (uint32_t)(r % p.q_len);
        const uint32_t lim = p.causal ? p.q_offset + q : 0xffffffffu;
        const T *xr = x + r * cols, *mr = mask + (uint64_t)q * cols;
        float m = -INFINITY;
        for (uint32_t j = t; j < cols; j += nt) m = fmaxf(m, logit(xr, mr, p, lim, j));
        m = block_reduce<op_max>(m);
        T *o = out + r * cols;
        if (m == -INFINITY) {
            for (uint32_t j = t; j < cols; j += nt) o[j] = conv<T>::store(0.0f);
            continue;
        }
        float acc = 0.0f;
        for (uint32_t j = t; j < cols; j += nt) acc += expf(logit(xr, mr, p, lim, j) - m);
        const float inv = 1.0f / block_reduce<op_sum>(acc);
        /* out may be x: every read of this row happened before the reduce. */
        for (uint32_t j = t; j < cols; j += nt) o[j] = conv<T>::store(expf(logit(xr, mr, p, lim, j) - m) * inv);
    }
}

/* Vector path: rows of whole 16-byte frags on aligned views, a warp team
 * (rows up to 32 * NCS frags) or a block per row; a thread's first NCS
 * frags of logits stay in registers, so the row is read once (frags past
 * the causal limit are not read at all). */
constexpr uint32_t NCS = 2;

template <typename T>
__device__ __forceinline__ void logits_frag(const T *xr, const T *mr, const mlxc_p_softmax &p, uint32_t lim, uint32_t v,
                                            float (&l)[vec_n<T>::N]) {
    constexpr uint32_t N = vec_n<T>::N;
    if ((uint64_t)v * N > lim) {
#pragma unroll
        for (uint32_t j = 0; j < N; j++) l[j] = -INFINITY;
        return;
    }
    frag<T, N> a, m;
    a.load(xr + v * N);
    if (p.has_mask) m.load(mr + v * N);
#pragma unroll
    for (uint32_t j = 0; j < N; j++) {
        const float s = a.get(j) * p.scale;
        l[j] = v * N + j > lim ? -INFINITY : p.has_mask ? s + m.get(j) : s;
    }
}

template <typename T> struct softmax_row {
    const T *x, *mask;
    T *out;
    const mlxc_p_softmax *pp;
    __device__ __forceinline__ void operator()(uint64_t r, const team &tm) const {
        constexpr uint32_t N = vec_n<T>::N;
        const mlxc_p_softmax &p = *pp;
        const uint32_t nv = p.cols / N;
        const uint32_t q = (uint32_t)(r % p.q_len);
        const uint32_t lim = p.causal ? p.q_offset + q : 0xffffffffu;
        const T *xr = x + r * p.cols, *mr = mask + (uint64_t)q * p.cols;
        T *o = out + r * p.cols;
        float l[NCS][N];
        float m = -INFINITY;
#pragma unroll
        for (uint32_t c = 0; c < NCS; c++) {
            const uint32_t v = tm.first + c * tm.step;
            if (v < nv) logits_frag(xr, mr, p, lim, v, l[c]);
#pragma unroll
            for (uint32_t j = 0; j < N; j++) m = v < nv ? fmaxf(m, l[c][j]) : m;
        }
        for (uint32_t v = tm.first + NCS * tm.step; v < nv; v += tm.step) {
            float e[N];
            logits_frag(xr, mr, p, lim, v, e);
#pragma unroll
            for (uint32_t j = 0; j < N; j++) m = fmaxf(m, e[j]);
        }
        m = tm.max(m);
        if (m == -INFINITY) {
            frag<T, N> z;
#pragma unroll
            for (uint32_t j = 0; j < N; j++) z.set(j, 0.0f);
            for (uint32_t v = tm.first; v < nv; v += tm.step) z.store(o + v * N);
            return;
        }
        float acc = 0.0f;
#pragma unroll
        for (uint32_t c = 0; c < NCS; c++) {
            const uint32_t v = tm.first + c * tm.step;
#pragma unroll
            for (uint32_t j = 0; j < N; j++) {
                l[c][j] = expf(l[c][j] - m);
                acc += v < nv ? l[c][j] : 0.0f;
            }
        }
        for (uint32_t v = tm.first + NCS * tm.step; v < nv; v += tm.step) {
            float e[N];
            logits_frag(xr, mr, p, lim, v, e);
#pragma unroll
            for (uint32_t j = 0; j < N; j++) acc += expf(e[j] - m);
        }
        const float inv = 1.0f / tm.sum(acc);
        /* out may be x: every read of this row happened before the reduce. */
#pragma unroll
        for (uint32_t c = 0; c < NCS; c++) {
            const uint32_t v = tm.first + c * tm.step;
            if (v < nv) {
                frag<T, N> y;
#pragma unroll
                for (uint32_t j = 0; j < N; j++) y.set(j, l[c][j] * inv);
                y.store(o + v * N);
            }
        }
        for (uint32_t v = tm.first + NCS * tm.step; v < nv; v += tm.step) {
            float e[N];
            logits_frag(xr, mr, p, lim, v, e);
            frag<T, N> y;
#pragma unroll
            for (uint32_t j = 0; j < N; j++) y.set(j, expf(e[j] - m) * inv);
            y.store(o + v * N);
        }
    }
};

template <typename T> __device__ __forceinline__ void softmax(const T *x, const T *mask, T *out, const mlxc_p_softmax &p) {
    if (p.cols % vec_n<T>::N == 0 && aligned16(x) && aligned16(mask) && aligned16(out))
        for_rows(p.rows, p.cols / vec_n<T>::N, NCS, softmax_row<T>{x, mask, out, &p});
    else
        softmax_scalar<T>(x, mask, out, p);
}

} // namespace mlxc_ops

#define OPS_SOFTMAX(T, sfx)                                                                     \
    extern "C" __global__ void __launch_bounds__(1024, 1) softmax_##sfx(const T *x, const T *mask, T *out, mlxc_p_softmax p) { MLXC_PDL_WAIT(); \
        mlxc_ops::softmax<T>(x, mask, out, p);                                                  \
    }
OPS_SOFTMAX(float, f32)
OPS_SOFTMAX(__half, f16)
OPS_SOFTMAX(__nv_bfloat16, bf16)
#undef OPS_SOFTMAX
