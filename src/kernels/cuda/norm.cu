/*
 * RMS normalisation over rows of `dim` elements.
 *
 *   rms_norm_{f32,f16,bf16}(x, w, out, mlxc_p_rms_norm)
 *       out = round((x * inv) * w),         inv = 1 / sqrt(ss / dim + eps)
 *   rms_norm_mul_{f32,f16,bf16}(x, w, s, out, mlxc_p_rms_norm)
 *       out = round(round((x * inv) * w) * s)   the fusion of rms_norm and a
 *       following mul, bit-identical to the two kernels run in sequence
 *
 * The sum of squares `ss` follows the CPU kernel's order exactly, so results
 * are bit-identical to the CPU backend for every dtype: eight partial sums,
 * lane k summing elements k, k+8, k+16, ... of the row sequentially in f32
 * (no fused multiply-add: __fmul_rn/__fadd_rn keep nvcc from contracting),
 * the dim % 8 tail added to lane 0, then ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)).
 * Eight sequential chains are latency-bound, so the whole thread group first
 * stages a chunk of the row in shared memory (coalesced) and the eight lane
 * threads sum from there.  One thread group per row, grid-stride over rows;
 * the output pass uses every thread.
 */
#include "kernels/params_norm.h"
#include "common.cuh"

namespace mlxc {

constexpr uint32_t RMS_CHUNK = 2048; /* floats staged per pass; a multiple of 8 */

template <typename T, bool FUSED>
__device__ __forceinline__ void rms_norm_rows(const T *__restrict__ x,  // [rows, dim]
                                              const T *__restrict__ w,  // [dim] (has_weight)
                                              const T *__restrict__ s,  // [rows, dim] (FUSED)
                                              T *__restrict__ out,      // [rows, dim]
                                              const mlxc_p_rms_norm p) {
    __shared__ float buf[RMS_CHUNK];
    __shared__ float lane_sum[8];
    __shared__ float inv_sh;
    const uint32_t t = thread_linear(), nt = thread_count();
    const uint32_t dim = p.dim, main = dim / 8 * 8;
    for (uint64_t row = block_linear(); row < p.rows; row += block_count()) {
        const T *xr = x + row * dim;
        float acc = 0.0f;
        for (uint32_t base = 0; base < main; base += RMS_CHUNK) {
            const uint32_t len = main - base < RMS_CHUNK ? main - base : RMS_CHUNK;
            for (uint32_t i = t; i < len; i += nt) buf[i] = conv<T>::load(xr[base + i]);
            __syncthreads();
            if (t < 8) {
#pragma unroll 8
                for (uint32_t i = t; i < len; i += 8) acc = __fadd_rn(acc, __fmul_rn(buf[i], buf[i]));
            }
            __syncthreads();
        }
        if (t < 8) lane_sum[t] = acc;
        __syncthreads();
        if (t == 0) {
            float a0 = lane_sum[0];
            for (uint32_t i = main; i < dim; i++) {
                const float v = conv<T>::load(xr[i]);
                a0 = __fadd_rn(a0, __fmul_rn(v, v));
            }
            inv_sh = mlxc_ops::rms_inv8(a0, lane_sum, dim, p.eps);
        }
        __syncthreads();
        const float inv = inv_sh;
        T *orow = out + row * dim;
        const T *srow = FUSED ? s + row * dim : nullptr;
        for (uint32_t i = t; i < dim; i += nt) {
            float y = __fmul_rn(conv<T>::load(xr[i]), inv);
            if (p.has_weight) y = __fmul_rn(y, conv<T>::load(w[i]));
            if (FUSED) y = __fmul_rn(round_to<T>(y), conv<T>::load(srow[i]));
            orow[i] = conv<T>::store(y);
        }
        /* inv_sh and buf are rewritten only after the next row's first
         * barriers, which every thread reaches after reading them. */
    }
}

} // namespace mlxc

#define MLXC_RMS(T, sfx)                                                                           \
    extern "C" __global__ void rms_norm_##sfx(const T *x, const T *w, T *out, mlxc_p_rms_norm p) { MLXC_PDL_WAIT(); \
        mlxc::rms_norm_rows<T, false>(x, w, nullptr, out, p);                                      \
    }                                                                                              \
    extern "C" __global__ void rms_norm_mul_##sfx(const T *x, const T *w, const T *s, T *out,      \
                                                  mlxc_p_rms_norm p) { MLXC_PDL_WAIT();                             \
        mlxc::rms_norm_rows<T, true>(x, w, s, out, p);                                             \
    }

MLXC_RMS(float, f32)
MLXC_RMS(__half, f16)
MLXC_RMS(__nv_bfloat16, bf16)

/*
 * Further normalisations (src/kernels/params_norm.h): rms_norm with the
 * residual add fused, l2_norm, layer_norm; sums in f32.  Rows of whole
 * 16-byte frags on aligned views take the vector paths below (a warp team
 * or a block per row, the row held in registers between passes); other
 * views one thread block per row, element by element (the *_scalar ones).
 *
 * rms_norm_residual rounds s = x + r to the storage type before squaring,
 * as add followed by rms_norm would, and writes the sum last so that `sum`
 * may be x or r itself: element i is read and written by one thread only.
 */
namespace mlxc_ops {

template <typename T>
__device__ __forceinline__ void rms_norm_residual_scalar(const T *x, const T *res, const T *w, T *out, T *sum,
                                                  const mlxc_p_norm &p) {
    const uint32_t t = thread_linear(), nt = thread_count(), dim = p.dim;
    for (uint64_t row = block_linear(); row < p.rows; row += block_count()) {
        const T *xr = x + row * dim, *rr = res + row * dim;
        float acc = 0.0f;
        for (uint32_t i = t; i < dim; i += nt) {
            const float s = mlxc::round_to<T>(conv<T>::load(xr[i]) + conv<T>::load(rr[i]));
            acc += s * s;
        }
        const float ss = block_reduce<op_sum>(acc);
        const float inv = 1.0f / sqrtf(ss / (float)dim + p.eps);
        T *o = out + row * dim;
        for (uint32_t i = t; i < dim; i += nt) {
            const float s = mlxc::round_to<T>(conv<T>::load(xr[i]) + conv<T>::load(rr[i]));
            const float v = s * inv;
            o[i] = conv<T>::store(p.has_weight ? v * conv<T>::load(w[i]) : v);
            if (p.write_sum) sum[row * dim + i] = conv<T>::store(s);
        }
    }
}

template <typename T> __device__ __forceinline__ void l2_norm_scalar(const T *x, T *out, const mlxc_p_norm &p) {
    const uint32_t t = thread_linear(), nt = thread_count(), dim = p.dim;
    for (uint64_t row = block_linear(); row < p.rows; row += block_count()) {
        const T *xr = x + row * dim;
        float acc = 0.0f;
        for (uint32_t i = t; i < dim; i += nt) {
            const float v = conv<T>::load(xr[i]);
            acc += v * v;
        }
        const float inv = 1.0f / sqrtf(block_reduce<op_sum>(acc) + p.eps);
        for (uint32_t i = t; i < dim; i += nt) out[row * dim + i] = conv<T>::store(conv<T>::load(xr[i]) * inv);
    }
}

template <typename T>
__device__ __forceinline__ void layer_norm_scalar(const T *x, const T *w, const T *b, T *out, const mlxc_p_norm &p) {
    const uint32_t t = thread_linear(), nt = thread_count(), dim = p.dim;
    for (uint64_t row = block_linear(); row < p.rows; row += block_count()) {
        const T *xr = x + row * dim;
        float acc = 0.0f;
        for (uint32_t i = t; i < dim; i += nt) acc += conv<T>::load(xr[i]);
        const float mean = block_reduce<op_sum>(acc) / (float)dim;
        acc = 0.0f;
        for (uint32_t i = t; i < dim; i += nt) {
            const float d = conv<T>::load(xr[i]) - mean;
            acc += d * d;
        }
        const float inv = 1.0f / sqrtf(block_reduce<op_sum>(acc) / (float)dim + p.eps);
        for (uint32_t i = t; i < dim; i += nt) {
            float v = (conv<T>::load(xr[i]) - mean) * inv;
            if (p.has_weight) v *= conv<T>::load(w[i]);
            if (p.has_bias) v += conv<T>::load(b[i]);
            out[row * dim + i] = conv<T>::store(v);
        }
    }
}


/* ---- vector paths: rows of whole 16-byte frags, 16-byte aligned ----------------- *
 * A row is spread over a team of threads (for_rows in common.cuh): the
 * whole block, or a few lanes of a warp for short rows such as 128-wide
 * heads.  Every norm walks its row the same way (row_walk): the first pass
 * loads the thread's frags and keeps the first NC in registers, a later
 * pass visits those and reloads only the rest, so a row is read from memory
 * once unless it is longer than NC frags per thread.  Values go through
 * frag::unpack / pack (16-bit pairs rounded by one pack instruction). */

constexpr uint32_t NC = 4;
constexpr uint32_t NCR = 3; /* rms_norm_residual: two inputs in flight; 4 spills at 64 registers */

/* The thread's frags of one row: v = tm.first + c * tm.step < nv.  LOAD(v)
 * returns the frag the row function works on (x, or x + r rounded). */
template <typename T, uint32_t K> struct row_walk {
    static constexpr uint32_t N = vec_n<T>::N;
    frag<T, N> cache[K];
    /* Pass 1: load every frag, keep the first K, call fn(v, values). */
    template <typename LOAD, typename FN>
    __device__ __forceinline__ void first(const team &tm, uint32_t nv, const LOAD &load, const FN &fn) {
#pragma unroll
        for (uint32_t c = 0; c < K; c++) {
            const uint32_t v = tm.first + c * tm.step;
            if (v < nv) cache[c] = load(v);
        }
        again(tm, nv, load, fn);
    }
    /* A later pass: the cached frags, then the rest reloaded. */
    template <typename LOAD, typename FN>
    __device__ __forceinline__ void again(const team &tm, uint32_t nv, const LOAD &load, const FN &fn) const {
#pragma unroll
        for (uint32_t c = 0; c < K; c++) {
            const uint32_t v = tm.first + c * tm.step;
            if (v < nv) fn(v, cache[c]);
        }
#pragma unroll 1
        for (uint32_t v = tm.first + K * tm.step; v < nv; v += tm.step) fn(v, load(v));
    }
};

/* The sum of squares of a frag's elements, and a frag scaled by s stored. */
template <uint32_t N, typename F> __device__ __forceinline__ float frag_sumsq(const F &a) {
    float f[N], acc = 0.0f;
    a.unpack(f);
#pragma unroll
    for (uint32_t j = 0; j < N; j++) acc += f[j] * f[j];
    return acc;
}
template <uint32_t N, typename F, typename T> __device__ __forceinline__ void frag_scale_store(const F &a, float sc, T *dst) {
    F out;
    float f[N];
    a.unpack(f);
#pragma unroll
    for (uint32_t j = 0; j < N; j++) f[j] *= sc;
    out.pack(f);
    out.store(dst);
}

template <typename T>
__device__ __forceinline__ void rms_row(const T *xr, const T *rr, const T *w, T *o, T *sr, uint32_t nv,
                                        const team &tm, const mlxc_p_norm &p) {
    constexpr uint32_t N = vec_n<T>::N;
    typedef frag<T, N> F;
    /* s = x + r, rounded to T */
    const auto load = [&](uint32_t v) {
        F a, b, s;
        a.load(xr + v * N);
        b.load(rr + v * N);
        float fa[N], fb[N];
        a.unpack(fa);
        b.unpack(fb);
#pragma unroll
        for (uint32_t j = 0; j < N; j++) fa[j] += fb[j];
        s.pack(fa);
        return s;
    };
    row_walk<T, NCR> rw;
    float acc = 0.0f;
    rw.first(tm, nv, load, [&](uint32_t, const F &s) { acc += frag_sumsq<N>(s); });
    const float inv = 1.0f / sqrtf(tm.sum(acc) / (float)p.dim + p.eps);
    /* The sum is written after this thread's last read of the same frag of
     * x and r (sum may be x or r). */
    rw.again(tm, nv, load, [&](uint32_t v, const F &s) {
        if (p.has_weight) {
            F out, wv;
            float f[N], fw[N];
            s.unpack(f);
            wv.load(w + v * N);
            wv.unpack(fw);
#pragma unroll
            for (uint32_t j = 0; j < N; j++) f[j] = f[j] * inv * fw[j];
            out.pack(f);
            out.store(o + v * N);
        } else {
            frag_scale_store<N>(s, inv, o + v * N);
        }
        if (p.write_sum) s.store(sr + v * N);
    });
}

template <typename T>
__device__ __forceinline__ void l2_row(const T *xr, T *o, uint32_t nv, const team &tm, const mlxc_p_norm &p) {
    constexpr uint32_t N = vec_n<T>::N;
    typedef frag<T, N> F;
    const auto load = [&](uint32_t v) {
        F a;
        a.load(xr + v * N);
        return a;
    };
    row_walk<T, NC> rw;
    float acc = 0.0f;
    rw.first(tm, nv, load, [&](uint32_t, const F &a) { acc += frag_sumsq<N>(a); });
    const float inv = 1.0f / sqrtf(tm.sum(acc) + p.eps);
    rw.again(tm, nv, load, [&](uint32_t v, const F &a) { frag_scale_store<N>(a, inv, o + v * N); });
}

template <typename T>
__device__ __forceinline__ void layer_row(const T *xr, const T *w, const T *b, T *o, uint32_t nv, const team &tm,
                                          const mlxc_p_norm &p) {
    constexpr uint32_t N = vec_n<T>::N;
    typedef frag<T, N> F;
    const auto load = [&](uint32_t v) {
        F a;
        a.load(xr + v * N);
        return a;
    };
    row_walk<T, NC> rw;
    float acc = 0.0f;
    rw.first(tm, nv, load, [&](uint32_t, const F &a) {
#pragma unroll
        for (uint32_t j = 0; j < N; j++) acc += a.get(j);
    });
    const float mean = tm.sum(acc) / (float)p.dim;
    acc = 0.0f;
    rw.again(tm, nv, load, [&](uint32_t, const F &a) {
#pragma unroll
        for (uint32_t j = 0; j < N; j++) {
            const float d = a.get(j) - mean;
            acc += d * d;
        }
    });
    const float inv = 1.0f / sqrtf(tm.sum(acc) / (float)p.dim + p.eps);
    rw.again(tm, nv, load, [&](uint32_t v, const F &a) {
        F out, wv, bv;
        if (p.has_weight) wv.load(w + v * N);
        if (p.has_bias) bv.load(b + v * N);
#pragma unroll
        for (uint32_t j = 0; j < N; j++) {
            float y = (a.get(j) - mean) * inv;
            if (p.has_weight) y *= wv.get(j);
            if (p.has_bias) y += bv.get(j);
            out.set(j, y);
        }
        out.store(o + v * N);
    });
}

template <typename T> struct rms_fn {
    const T *x, *r, *w;
    T *out, *sum;
    const mlxc_p_norm *p;
    __device__ __forceinline__ void operator()(uint64_t row, const team &tm) const {
        const uint64_t off = row * p->dim;
        rms_row<T>(x + off, r + off, w, out + off, sum + off, p->dim / vec_n<T>::N, tm, *p);
    }
};
template <typename T> struct l2_fn {
    const T *x;
    T *out;
    const mlxc_p_norm *p;
    __device__ __forceinline__ void operator()(uint64_t row, const team &tm) const {
        const uint64_t off = row * p->dim;
        l2_row<T>(x + off, out + off, p->dim / vec_n<T>::N, tm, *p);
    }
};
template <typename T> struct layer_fn {
    const T *x, *w, *b;
    T *out;
    const mlxc_p_norm *p;
    __device__ __forceinline__ void operator()(uint64_t row, const team &tm) const {
        const uint64_t off = row * p->dim;
        layer_row<T>(x + off, w, b, out + off, p->dim / vec_n<T>::N, tm, *p);
    }
};

template <typename T>
__device__ __forceinline__ void rms_norm_residual(const T *x, const T *res, const T *w, T *out, T *sum,
                                                  const mlxc_p_norm &p) {
    if (p.dim % vec_n<T>::N == 0 && aligned16(x) && aligned16(res) && aligned16(w) && aligned16(out) &&
        aligned16(sum))
        for_rows(p.rows, p.dim / vec_n<T>::N, 2, rms_fn<T>{x, res, w, out, sum, &p});
    else
        rms_norm_residual_scalar<T>(x, res, w, out, sum, p);
}

template <typename T> __device__ __forceinline__ void l2_norm(const T *x, T *out, const mlxc_p_norm &p) {
    if (p.dim % vec_n<T>::N == 0 && aligned16(x) && aligned16(out))
        for_rows(p.rows, p.dim / vec_n<T>::N, NC, l2_fn<T>{x, out, &p});
    else
        l2_norm_scalar<T>(x, out, p);
}

template <typename T>
__device__ __forceinline__ void layer_norm(const T *x, const T *w, const T *b, T *out, const mlxc_p_norm &p) {
    if (p.dim % vec_n<T>::N == 0 && aligned16(x) && aligned16(w) && aligned16(b) && aligned16(out))
        for_rows(p.rows, p.dim / vec_n<T>::N, NC, layer_fn<T>{x, w, b, out, &p});
    else
        layer_norm_scalar<T>(x, w, b, out, p);
}

} // namespace mlxc_ops

#define OPS_NORM(T, sfx)                                                                        \
    extern "C" __global__ void __launch_bounds__(1024, 1) rms_norm_residual_##sfx(const T *x, const T *r, const T *w, T *out, T *sum, \
                                                       mlxc_p_norm p) { MLXC_PDL_WAIT();                         \
        mlxc_ops::rms_norm_residual<T>(x, r, w, out, sum, p);                                   \
    }                                                                                           \
    extern "C" __global__ void __launch_bounds__(1024, 1) l2_norm_##sfx(const T *x, T *out, mlxc_p_norm p) { MLXC_PDL_WAIT();               \
        mlxc_ops::l2_norm<T>(x, out, p);                                                        \
    }                                                                                           \
    extern "C" __global__ void __launch_bounds__(1024, 1) layer_norm_##sfx(const T *x, const T *w, const T *b, T *out, mlxc_p_norm p) { MLXC_PDL_WAIT(); \
        mlxc_ops::layer_norm<T>(x, w, b, out, p);                                               \
    }
OPS_NORM(float, f32)
OPS_NORM(__half, f16)
OPS_NORM(__nv_bfloat16, bf16)
#undef OPS_NORM
