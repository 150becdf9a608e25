/*
 * Helpers of the op-library CUDA kernels (ops_*.cu): grid-stride indices,
 * the (value, index) rank key shared with the CPU kernels, and block-wide
 * reductions and scans that work for any block size up to 1024 (the grid
 * convention of params.h: a kernel is correct for every launch shape).
 *
 * Reductions combine in a fixed tree (lane shuffles, then one warp over the
 * warp results), so a given launch shape always gives the same bits.
 */
#ifndef MLXC_KERNELS_CUDA_OPS_COMMON_CUH
#define MLXC_KERNELS_CUDA_OPS_COMMON_CUH

#include "common.cuh"
#include "kernels/params_ops.h"

namespace mlxc_ops {

using mlxc::block_count;
using mlxc::block_linear;
using mlxc::conv;
using mlxc::thread_count;
using mlxc::thread_linear;

typedef unsigned long long u64;

__device__ __forceinline__ uint64_t global_index() { return block_linear() * thread_count() + thread_linear(); }
__device__ __forceinline__ uint64_t global_stride() { return block_count() * thread_count(); }

/* Larger value first, then lower index; NaN below everything; -0 == +0
 * (ops_rank_key in src/kernels/cpu/ops_cpu.h). */
__device__ __forceinline__ u64 rank_key(float v, uint32_t index) {
    uint32_t u;
    if (v != v) u = 0;
    else {
        if (v == 0.0f) v = 0.0f;
        u = __float_as_uint(v);
        u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    }
    return ((u64)u << 32) | (uint32_t)~index;
}
__device__ __forceinline__ uint32_t rank_index(u64 key) { return ~(uint32_t)key; }

struct op_sum { template <typename T> static __device__ __forceinline__ T apply(T a, T b) { return a + b; } };
struct op_max {
    static __device__ __forceinline__ float apply(float a, float b) { return fmaxf(a, b); }
    static __device__ __forceinline__ u64 apply(u64 a, u64 b) { return a > b ? a : b; }
};

/* Lanes of this thread's warp that exist (the last warp may be partial). */
__device__ __forceinline__ uint32_t warp_width() {
    const uint32_t t = thread_linear(), nt = thread_count();
    const uint32_t base = t & ~31u;
    return nt - base >= 32 ? 32 : nt - base;
}
__device__ __forceinline__ unsigned lanes_mask(uint32_t width) {
    return width >= 32 ? 0xffffffffu : ((1u << width) - 1u);
}

/* Reduce v over the first `width` lanes; lane 0 gets the result. */
template <typename OP, typename T> __device__ __forceinline__ T warp_reduce(T v, uint32_t width) {
    const uint32_t lane = thread_linear() & 31u;
    const unsigned mask = lanes_mask(warp_width());
    for (uint32_t o = 16; o > 0; o >>= 1) {
        const T other = __shfl_down_sync(mask, v, o);
        if (lane + o < width) v = OP::apply(v, other);
    }
    return v;
}

/* The block-wide OP of v, returned to every thread.  Every thread of the
 * block must call it (it synchronises). */
template <typename OP, typename T> __device__ T block_reduce(T v) {
    __shared__ T sh[33];
    const uint32_t t = thread_linear(), lane = t & 31u, warp = t >> 5;
    const uint32_t nwarps = (thread_count() + 31u) >> 5;
    v = warp_reduce<OP>(v, warp_width());
    __syncthreads(); /* an earlier call may still be reading sh[32] */
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = sh[lane < nwarps ? lane : 0];
        v = warp_reduce<OP>(v, nwarps);
        if (lane == 0) sh[32] = v;
    }
    __syncthreads();
    return sh[32];
}

/* Inclusive prefix sum of v over the block's threads, in thread order;
 * *total receives the sum of all.  Every thread must call it. */
__device__ float block_inclusive_scan(float v, float *total) {
    __shared__ float wsum[33];
    const uint32_t t = thread_linear(), lane = t & 31u, warp = t >> 5;
    const uint32_t nwarps = (thread_count() + 31u) >> 5;
    const uint32_t width = warp_width();
    const unsigned mask = lanes_mask(width);
    for (uint32_t o = 1; o < 32; o <<= 1) {
        const float other = __shfl_up_sync(mask, v, o);
        if (lane >= o) v += other;
    }
    __syncthreads();
    if (lane == width - 1) wsum[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float w = wsum[lane < nwarps ? lane : 0];
        const unsigned m0 = lanes_mask(width);
        for (uint32_t o = 1; o < 32; o <<= 1) {
            const float other = __shfl_up_sync(m0, w, o);
            if (lane >= o) w += other;
        }
        __syncwarp(m0); /* every lane has read wsum before any writes it */
        if (lane < nwarps) wsum[lane] = w; /* inclusive over warps */
        if (lane == nwarps - 1) wsum[32] = w;
    }
    __syncthreads();
    if (warp > 0) v += wsum[warp - 1];
    *total = wsum[32];
    return v;
}

} // namespace mlxc_ops

#endif
