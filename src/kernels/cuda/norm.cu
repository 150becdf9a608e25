/*
 * RMS normalisation over rows of `dim` elements.
 *
 *   rms_norm_{f32,f16,bf16}(x, w, out, mlxc_p_rms_norm)
 *       out = round(x * inv * w),           inv = 1 / sqrt(sum(x^2) / dim + eps)
 *   rms_norm_mul_{f32,f16,bf16}(x, w, s, out, mlxc_p_rms_norm)
 *       out = round(round(x * inv * w) * s) the fusion of rms_norm and mul,
 *       bit-identical to the two kernels run in sequence on this backend
 *
 * One thread group per row (grid-stride over rows).  The sum of squares is
 * accumulated in f32 in a fixed order that does not depend on the launch
 * shape: 256 slots, slot s summing elements s, s+256, ... sequentially, then
 * a fixed pairwise tree over the slots.  So rms_norm and rms_norm_mul compute
 * the same `inv` whatever block size a front-end picks.  This order differs
 * from the CPU kernel's, so f32 results match the CPU to rounding (about
 * 1e-7 relative), not bit for bit.
 */
#include "common.cuh"

namespace mlxc {

constexpr uint32_t RMS_SLOTS = 256;

template <typename T, bool FUSED>
__device__ __forceinline__ void rms_norm_rows(const T *__restrict__ x,  // [rows, dim]
                                              const T *__restrict__ w,  // [dim] (has_weight)
                                              const T *__restrict__ s,  // [rows, dim] (FUSED)
                                              T *__restrict__ out,      // [rows, dim]
                                              const mlxc_p_rms_norm p) {
    __shared__ float slots[RMS_SLOTS];
    const uint32_t t = thread_linear(), nt = thread_count();
    const uint32_t dim = p.dim;
    for (uint64_t row = block_linear(); row < p.rows; row += block_count()) {
        const T *xr = x + row * dim;
        for (uint32_t sl = t; sl < RMS_SLOTS; sl += nt) {
            float acc = 0.0f;
            for (uint32_t i = sl; i < dim; i += RMS_SLOTS) {
                const float v = conv<T>::load(xr[i]);
                acc += v * v;
            }
            slots[sl] = acc;
        }
        __syncthreads();
        for (uint32_t half = RMS_SLOTS / 2; half > 0; half >>= 1) {
            for (uint32_t sl = t; sl < half; sl += nt) slots[sl] += slots[sl + half];
            __syncthreads();
        }
        const float inv = 1.0f / sqrtf(slots[0] / (float)dim + p.eps);
        /* Every thread has read slots[0] before the next row overwrites it. */
        __syncthreads();
        T *orow = out + row * dim;
        const T *srow = FUSED ? s + row * dim : nullptr;
        for (uint32_t i = t; i < dim; i += nt) {
            float y = conv<T>::load(xr[i]) * inv;
            if (p.has_weight) y = y * conv<T>::load(w[i]);
            if (FUSED) y = round_to<T>(y) * conv<T>::load(srow[i]);
            orow[i] = conv<T>::store(y);
        }
    }
}

} // namespace mlxc

#define MLXC_RMS(T, sfx)                                                                           \
    extern "C" __global__ void rms_norm_##sfx(const T *x, const T *w, T *out, mlxc_p_rms_norm p) { \
        mlxc::rms_norm_rows<T, false>(x, w, nullptr, out, p);                                      \
    }                                                                                              \
    extern "C" __global__ void rms_norm_mul_##sfx(const T *x, const T *w, const T *s, T *out,      \
                                                  mlxc_p_rms_norm p) {                             \
        mlxc::rms_norm_rows<T, true>(x, w, s, out, p);                                             \
    }

MLXC_RMS(float, f32)
MLXC_RMS(__half, f16)
MLXC_RMS(__nv_bfloat16, bf16)
