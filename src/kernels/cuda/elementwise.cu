/*
 * Elementwise kernels.
 *
 *   add_{f32,f16,bf16}(a, b, out, mlxc_p_elementwise)   out = a + b
 *   mul_{f32,f16,bf16}(a, b, out, mlxc_p_elementwise)   out = a * b
 *
 * Arithmetic is done in f32 and rounded once to the storage type, as on the
 * CPU: results are bit-identical across backends.  When all three pointers
 * are 16-byte aligned each thread moves 16 bytes per access (one vector per
 * operand); the tail and unaligned views take the scalar loop.
 */
#include "kernels/params_elementwise.h"
#include "common.cuh"

namespace mlxc {

struct op_add { static __device__ __forceinline__ float apply(float x, float y) { return x + y; } };
struct op_mul { static __device__ __forceinline__ float apply(float x, float y) { return x * y; } };

template <typename T, typename OP>
__device__ __forceinline__ void binary(const T *__restrict__ a, const T *__restrict__ b, T *__restrict__ out,
                                       uint64_t n) {
    constexpr int VEC = 16 / sizeof(T);
    const uint64_t tid = block_linear() * thread_count() + thread_linear();
    const uint64_t stride = block_count() * thread_count();
    uint64_t head = 0;
    if ((((uintptr_t)a | (uintptr_t)b | (uintptr_t)out) & 15) == 0) {
        const uint64_t nv = n / VEC;
        const uint4 *av = reinterpret_cast<const uint4 *>(a);
        const uint4 *bv = reinterpret_cast<const uint4 *>(b);
        uint4 *ov = reinterpret_cast<uint4 *>(out);
        for (uint64_t i = tid; i < nv; i += stride) {
            uint4 x = av[i], y = bv[i], z;
            const T *xs = reinterpret_cast<const T *>(&x);
            const T *ys = reinterpret_cast<const T *>(&y);
            T *zs = reinterpret_cast<T *>(&z);
#pragma unroll
            for (int j = 0; j < VEC; j++) zs[j] = conv<T>::store(OP::apply(conv<T>::load(xs[j]), conv<T>::load(ys[j])));
            ov[i] = z;
        }
        head = nv * VEC;
    }
    for (uint64_t i = head + tid; i < n; i += stride)
        out[i] = conv<T>::store(OP::apply(conv<T>::load(a[i]), conv<T>::load(b[i])));
}

} // namespace mlxc

#define MLXC_BINARY(name, T, OP)                                                                   \
    extern "C" __global__ void name(const T *a, const T *b, T *out, mlxc_p_elementwise p) { MLXC_PDL_WAIT();       \
        mlxc::binary<T, OP>(a, b, out, p.n);                                                     \
    }

MLXC_BINARY(add_f32, float, mlxc::op_add)
MLXC_BINARY(add_f16, __half, mlxc::op_add)
MLXC_BINARY(add_bf16, __nv_bfloat16, mlxc::op_add)
MLXC_BINARY(mul_f32, float, mlxc::op_mul)
MLXC_BINARY(mul_f16, __half, mlxc::op_mul)
MLXC_BINARY(mul_bf16, __nv_bfloat16, mlxc::op_mul)

/*
 * Unary and gated elementwise kernels (src/kernels/params_elementwise.h): scale, softcap,
 * gelu (tanh form), silu_mul, swiglu, sigmoid_mul and the casts.  Grid-stride loops
 * over 16-byte frags (8 elements of a 16-bit type, 4 of f32) with a scalar
 * tail, f32 arithmetic with the accurate libdevice functions (tanhf, expf),
 * one rounding to the storage type.
 */
namespace mlxc_ops {

struct f_scale { static __device__ __forceinline__ float f(float v, float s) { return v * s; } };
struct f_softcap { static __device__ __forceinline__ float f(float v, float s) { return tanhf(v / s) * s; } };
struct f_gelu {
    static __device__ __forceinline__ float f(float v, float) {
        return 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
};
__device__ __forceinline__ float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }
struct f_silu_mul { static __device__ __forceinline__ float f(float a, float b) { return a * sigmoid(a) * b; } };
struct f_sigmoid_mul { static __device__ __forceinline__ float f(float a, float b) { return a * sigmoid(b); } };

/* A frag of N elements of TS in, N of TD out (N fills whole 16-byte pieces
 * on both sides); G maps the input element j (a, and b of a second input)
 * to the output value. */
template <typename TS, typename TD, uint32_t N, typename G>
__device__ __forceinline__ frag<TD, N> map_frag(const frag<TS, N> &a, const frag<TS, N> &b, const G &g) {
    frag<TD, N> o;
    float y[N];
#pragma unroll
    for (uint32_t j = 0; j < N; j++) y[j] = g(a.get(j), b.get(j));
    o.pack(y);
    return o;
}

/* out[i] = g(a[i], b[i]) for i < n (b may be a itself for one input).  When
 * every pointer is 16-byte aligned, the first n - n % N elements go as
 * frags, two per thread in flight (grid-stride); the rest, and unaligned
 * views, one element per thread.  Each element is read and written by one
 * thread, so out may be a or b (in place). */
template <typename TS, typename TD, typename G>
__device__ __forceinline__ void map(const TS *a, const TS *b, TD *out, uint64_t n, const G &g) {
    constexpr uint32_t N = vec_n<TS>::N > vec_n<TD>::N ? vec_n<TS>::N : vec_n<TD>::N;
    const uint64_t st = global_stride();
    uint64_t done = 0;
    if (aligned16(a) && aligned16(b) && aligned16(out)) {
        const uint64_t nv = n / N;
        uint64_t i = global_index();
        for (; i + st < nv; i += 2 * st) {
            frag<TS, N> a0, b0, a1, b1;
            a0.load(a + i * N);
            b0.load(b + i * N);
            a1.load(a + (i + st) * N);
            b1.load(b + (i + st) * N);
            map_frag<TS, TD, N>(a0, b0, g).store(out + i * N);
            map_frag<TS, TD, N>(a1, b1, g).store(out + (i + st) * N);
        }
        if (i < nv) {
            frag<TS, N> a0, b0;
            a0.load(a + i * N);
            b0.load(b + i * N);
            map_frag<TS, TD, N>(a0, b0, g).store(out + i * N);
        }
        done = nv * N;
    }
    for (uint64_t i = done + global_index(); i < n; i += st)
        out[i] = conv<TD>::store(g(conv<TS>::load(a[i]), conv<TS>::load(b[i])));
}

template <typename F> struct g_unary {
    float s;
    __device__ __forceinline__ float operator()(float v, float) const { return F::f(v, s); }
};
template <typename F> struct g_binary {
    __device__ __forceinline__ float operator()(float a, float b) const { return F::f(a, b); }
};
struct g_copy {
    __device__ __forceinline__ float operator()(float v, float) const { return v; }
};

template <typename T, typename F>
__device__ __forceinline__ void unary(const T *x, T *out, uint64_t n, float s) {
    map<T, T>(x, x, out, n, g_unary<F>{s});
}

template <typename T, typename F>
__device__ __forceinline__ void binary(const T *a, const T *b, T *out, uint64_t n) {
    map<T, T>(a, b, out, n, g_binary<F>{});
}

template <typename TS, typename TD>
__device__ __forceinline__ void cast(const TS *src, TD *dst, uint64_t n) {
    map<TS, TD>(src, src, dst, n, g_copy{});
}

/* out[i] = silu(x[r, c]) * x[r, half + c], r = i / half, c = i % half:
 * frags of N when half is whole frags and both pointers are 16-byte
 * aligned (a frag then lies in one row), else one value a thread. */
template <typename T>
__device__ __forceinline__ void swiglu(const T *x, T *out, uint64_t n, uint32_t half) {
    constexpr uint32_t N = vec_n<T>::N;
    const uint64_t st = global_stride();
    const g_binary<f_silu_mul> g{};
    if (half % N == 0 && aligned16(x) && aligned16(out)) {
        const uint32_t hv = half / N;
        for (uint64_t i = global_index(); i < n / N; i += st) {
            const uint64_t r = i / hv, c = i % hv;
            frag<T, N> a, b;
            a.load(x + (r * 2 * hv + c) * N);
            b.load(x + (r * 2 * hv + hv + c) * N);
            map_frag<T, T, N>(a, b, g).store(out + i * N);
        }
        return;
    }
    for (uint64_t i = global_index(); i < n; i += st) {
        const uint64_t r = i / half, c = i % half;
        out[i] = conv<T>::store(g(conv<T>::load(x[r * 2 * half + c]), conv<T>::load(x[r * 2 * half + half + c])));
    }
}

} // namespace mlxc_ops

/* x and out may be one buffer (in place): no on the entry points. */
#define OPS_UNARY_S(op, F, T, sfx)                                                              \
    extern "C" __global__ void op##_##sfx(const T *x, T *out, mlxc_p_scale p) { MLXC_PDL_WAIT();                 \
        mlxc_ops::unary<T, F>(x, out, p.n, p.s);                                                \
    }
#define OPS_UNARY(op, F, T, sfx)                                                                \
    extern "C" __global__ void op##_##sfx(const T *x, T *out, mlxc_p_elementwise p) { MLXC_PDL_WAIT();           \
        mlxc_ops::unary<T, F>(x, out, p.n, 0.0f);                                               \
    }
#define OPS_BINARY(op, F, T, sfx)                                                               \
    extern "C" __global__ void op##_##sfx(const T *a, const T *b, T *out, mlxc_p_elementwise p) { MLXC_PDL_WAIT(); \
        mlxc_ops::binary<T, F>(a, b, out, p.n);                                                 \
    }
#define OPS_ALL_DTYPES(M, op, F) M(op, F, float, f32) M(op, F, __half, f16) M(op, F, __nv_bfloat16, bf16)

OPS_ALL_DTYPES(OPS_UNARY_S, scale, mlxc_ops::f_scale)
OPS_ALL_DTYPES(OPS_UNARY_S, softcap, mlxc_ops::f_softcap)
OPS_ALL_DTYPES(OPS_UNARY, gelu, mlxc_ops::f_gelu)
OPS_ALL_DTYPES(OPS_BINARY, silu_mul, mlxc_ops::f_silu_mul)
OPS_ALL_DTYPES(OPS_BINARY, sigmoid_mul, mlxc_ops::f_sigmoid_mul)

#define OPS_SWIGLU(T, sfx)                                                                      \
    extern "C" __global__ void swiglu_##sfx(const T *__restrict__ x, T *__restrict__ out, mlxc_p_glu p) { MLXC_PDL_WAIT(); \
        mlxc_ops::swiglu<T>(x, out, p.n, p.half);                                               \
    }
OPS_SWIGLU(float, f32)
OPS_SWIGLU(__half, f16)
OPS_SWIGLU(__nv_bfloat16, bf16)
#undef OPS_SWIGLU

#define OPS_CAST(TS, s, TD, d)                                                                  \
    extern "C" __global__ void cast_##s##_##d(const TS *src, TD *dst, mlxc_p_elementwise p) { MLXC_PDL_WAIT();   \
        mlxc_ops::cast<TS, TD>(src, dst, p.n);                                                  \
    }
OPS_CAST(float, f32, __half, f16)
OPS_CAST(float, f32, __nv_bfloat16, bf16)
OPS_CAST(__half, f16, float, f32)
OPS_CAST(__nv_bfloat16, bf16, float, f32)
OPS_CAST(__half, f16, __nv_bfloat16, bf16)
OPS_CAST(__nv_bfloat16, bf16, __half, f16)

#undef OPS_UNARY_S
#undef OPS_UNARY
#undef OPS_BINARY
#undef OPS_ALL_DTYPES
#undef OPS_CAST
