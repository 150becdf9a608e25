/*
 * Op-library elementwise kernels (src/kernels/params_ops.h): scale, softcap,
 * gelu (tanh form), silu_mul, sigmoid_mul and the casts.  Grid-stride loops
 * over elements, f32 arithmetic with the accurate libdevice functions
 * (tanhf, expf), one rounding to the storage type.
 */
#include "ops_common.cuh"

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

template <typename T, typename F>
__device__ __forceinline__ void unary(const T *x, T *out, uint64_t n, float s) {
    for (uint64_t i = global_index(); i < n; i += global_stride())
        out[i] = conv<T>::store(F::f(conv<T>::load(x[i]), s));
}

template <typename T, typename F>
__device__ __forceinline__ void binary(const T *a, const T *b, T *out,
                                       uint64_t n) {
    for (uint64_t i = global_index(); i < n; i += global_stride())
        out[i] = conv<T>::store(F::f(conv<T>::load(a[i]), conv<T>::load(b[i])));
}

template <typename TS, typename TD>
__device__ __forceinline__ void cast(const TS *src, TD *dst, uint64_t n) {
    for (uint64_t i = global_index(); i < n; i += global_stride()) dst[i] = conv<TD>::store(conv<TS>::load(src[i]));
}

} // namespace mlxc_ops

/* x and out may be one buffer (in place): no on the entry points. */
#define OPS_UNARY_S(op, F, T, sfx)                                                              \
    extern "C" __global__ void op##_##sfx(const T *x, T *out, mlxc_p_scale p) {                 \
        mlxc_ops::unary<T, F>(x, out, p.n, p.s);                                                \
    }
#define OPS_UNARY(op, F, T, sfx)                                                                \
    extern "C" __global__ void op##_##sfx(const T *x, T *out, mlxc_p_elementwise p) {           \
        mlxc_ops::unary<T, F>(x, out, p.n, 0.0f);                                               \
    }
#define OPS_BINARY(op, F, T, sfx)                                                               \
    extern "C" __global__ void op##_##sfx(const T *a, const T *b, T *out, mlxc_p_elementwise p) { \
        mlxc_ops::binary<T, F>(a, b, out, p.n);                                                 \
    }
#define OPS_ALL_DTYPES(M, op, F) M(op, F, float, f32) M(op, F, __half, f16) M(op, F, __nv_bfloat16, bf16)

OPS_ALL_DTYPES(OPS_UNARY_S, scale, mlxc_ops::f_scale)
OPS_ALL_DTYPES(OPS_UNARY_S, softcap, mlxc_ops::f_softcap)
OPS_ALL_DTYPES(OPS_UNARY, gelu, mlxc_ops::f_gelu)
OPS_ALL_DTYPES(OPS_BINARY, silu_mul, mlxc_ops::f_silu_mul)
OPS_ALL_DTYPES(OPS_BINARY, sigmoid_mul, mlxc_ops::f_sigmoid_mul)

#define OPS_CAST(TS, s, TD, d)                                                                  \
    extern "C" __global__ void cast_##s##_##d(const TS *src, TD *dst, mlxc_p_elementwise p) {   \
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
