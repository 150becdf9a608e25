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
            const float *l = lane_sum;
            const float ss = __fadd_rn(__fadd_rn(__fadd_rn(a0, l[1]), __fadd_rn(l[2], l[3])),
                                       __fadd_rn(__fadd_rn(l[4], l[5]), __fadd_rn(l[6], l[7])));
            inv_sh = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(__fdiv_rn(ss, (float)dim), p.eps)));
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
