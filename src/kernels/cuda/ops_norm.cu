/*
 * Op-library normalisations (src/kernels/params_ops.h): rms_norm with the
 * residual add fused, l2_norm, layer_norm.  One thread block per row
 * (grid-stride over rows); sums in f32 through block_reduce.
 *
 * rms_norm_residual rounds s = x + r to the storage type before squaring,
 * as add followed by rms_norm would, and writes the sum last so that `sum`
 * may be x or r itself: element i is read and written by one thread only.
 */
#include "ops_common.cuh"

namespace mlxc_ops {

template <typename T>
__device__ __forceinline__ void rms_norm_residual(const T *x, const T *res, const T *w, T *out, T *sum,
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

template <typename T> __device__ __forceinline__ void l2_norm(const T *x, T *out, const mlxc_p_norm &p) {
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
__device__ __forceinline__ void layer_norm(const T *x, const T *w, const T *b, T *out, const mlxc_p_norm &p) {
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

} // namespace mlxc_ops

#define OPS_NORM(T, sfx)                                                                        \
    extern "C" __global__ void rms_norm_residual_##sfx(const T *x, const T *r, const T *w, T *out, T *sum, \
                                                       mlxc_p_norm p) {                         \
        mlxc_ops::rms_norm_residual<T>(x, r, w, out, sum, p);                                   \
    }                                                                                           \
    extern "C" __global__ void l2_norm_##sfx(const T *x, T *out, mlxc_p_norm p) {               \
        mlxc_ops::l2_norm<T>(x, out, p);                                                        \
    }                                                                                           \
    extern "C" __global__ void layer_norm_##sfx(const T *x, const T *w, const T *b, T *out, mlxc_p_norm p) { \
        mlxc_ops::layer_norm<T>(x, w, b, out, p);                                               \
    }
OPS_NORM(float, f32)
OPS_NORM(__half, f16)
OPS_NORM(__nv_bfloat16, bf16)
#undef OPS_NORM
