/*
 * Op-library softmax (src/kernels/params_ops.h): y = softmax(x * scale +
 * mask) with the optional causal limit; one thread block per row, three
 * passes (max, sum of exp, write), f32 throughout.  A fully masked row
 * gives zeros.
 */
#include "ops_common.cuh"

namespace mlxc_ops {

template <typename T>
__device__ __forceinline__ float logit(const T *xr, const T *mr, const mlxc_p_softmax &p, uint32_t lim, uint32_t j) {
    if (j > lim) return -INFINITY;
    const float v = conv<T>::load(xr[j]) * p.scale;
    return p.has_mask ? v + conv<T>::load(mr[j]) : v;
}

template <typename T> __device__ __forceinline__ void softmax(const T *x, const T *mask, T *out, const mlxc_p_softmax &p) {
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

} // namespace mlxc_ops

#define OPS_SOFTMAX(T, sfx)                                                                     \
    extern "C" __global__ void softmax_##sfx(const T *x, const T *mask, T *out, mlxc_p_softmax p) { \
        mlxc_ops::softmax<T>(x, mask, out, p);                                                  \
    }
OPS_SOFTMAX(float, f32)
OPS_SOFTMAX(__half, f16)
OPS_SOFTMAX(__nv_bfloat16, bf16)
#undef OPS_SOFTMAX
