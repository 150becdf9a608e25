/*
 * Helpers shared by the CUDA kernels: storage-type conversion (16-bit floats
 * round to nearest even, as the CPU kernels do) and launch-shape-independent
 * indexing.  Every kernel covers all of its work for any grid and block
 * (the grid convention of params_elementwise.h): it flattens the grid and the block into one linear index and
 * strides by their product.
 */
#ifndef MLXC_KERNELS_CUDA_COMMON_CUH
#define MLXC_KERNELS_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

/* Programmatic dependent launch.  Every built-in kernel begins with this,
 * before its first access to global memory: in a graph the backend lets a
 * kernel be scheduled while the one it depends on is still running
 * (cuda_graph_build.c), and griddepcontrol.wait holds it until that one has
 * completed and its writes are visible.  It then lets its own dependents be
 * scheduled, so at most one kernel waits ahead of the running one.  Both
 * are no-ops in a launch without a programmatic dependency, and before
 * sm_90.  tests/check_families.sh checks every kernel has it (or
 * MLXC_PDL_INSIDE). */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(MLXC_PDL_TRIGGER_AT_EXIT)
/* (comparisons: dependents scheduled only as this kernel's blocks exit) */
#define MLXC_PDL_WAIT() asm volatile("griddepcontrol.wait;" ::: "memory")
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define MLXC_PDL_WAIT() asm volatile("griddepcontrol.wait;\n\tgriddepcontrol.launch_dependents;" ::: "memory")
#else
#define MLXC_PDL_WAIT() ((void)0)
#endif
/* The two halves of MLXC_PDL_WAIT(), for a kernel that lets its dependents
 * be scheduled later than its wait (the fused decode attention,
 * MLXC_ATTN_TRIGGER): the wait alone, and the trigger alone (a no-op in
 * the trigger-at-exit comparison build). */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define MLXC_PDL_WAIT_ONLY() asm volatile("griddepcontrol.wait;" ::: "memory")
#else
#define MLXC_PDL_WAIT_ONLY() ((void)0)
#endif
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && !defined(MLXC_PDL_TRIGGER_AT_EXIT)
#define MLXC_PDL_LAUNCH_DEPENDENTS() asm volatile("griddepcontrol.launch_dependents;" ::: "memory")
#else
#define MLXC_PDL_LAUNCH_DEPENDENTS() ((void)0)
#endif
/* Marks a kernel that calls MLXC_PDL_WAIT() itself, later, on every path
 * and before its first access to what an earlier kernel writes (the
 * streaming mat-vec loads its first weights before it). */
#define MLXC_PDL_INSIDE() ((void)0)

namespace mlxc {

template <typename T> struct conv;
template <> struct conv<float> {
    static __device__ __forceinline__ float load(float v) { return v; }
    static __device__ __forceinline__ float store(float v) { return v; }
};
template <> struct conv<__half> {
    static __device__ __forceinline__ float load(__half v) { return __half2float(v); }
    static __device__ __forceinline__ __half store(float v) { return __float2half_rn(v); }
};
template <> struct conv<__nv_bfloat16> {
    static __device__ __forceinline__ float load(__nv_bfloat16 v) { return __bfloat162float(v); }
    static __device__ __forceinline__ __nv_bfloat16 store(float v) { return __float2bfloat16_rn(v); }
};

/* Round a float to the storage type and back: the value a later kernel
 * would read if this one had stored it. */
template <typename T> __device__ __forceinline__ float round_to(float v) {
    return conv<T>::load(conv<T>::store(v));
}

__device__ __forceinline__ uint64_t block_linear() {
    return (uint64_t)blockIdx.x + (uint64_t)gridDim.x * ((uint64_t)blockIdx.y + (uint64_t)gridDim.y * blockIdx.z);
}
__device__ __forceinline__ uint64_t block_count() {
    return (uint64_t)gridDim.x * gridDim.y * gridDim.z;
}
__device__ __forceinline__ uint32_t thread_linear() {
    return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}
__device__ __forceinline__ uint32_t thread_count() {
    return blockDim.x * blockDim.y * blockDim.z;
}

} // namespace mlxc


/*
 * Family helpers: grid-stride indices,
 * the (value, index) rank key shared with the CPU kernels, and block-wide
 * reductions and scans that work for any block size up to 1024 (the grid
 * convention of params_elementwise.h: a kernel is correct for every launch shape).
 *
 * Reductions combine in a fixed tree (lane shuffles, then one warp over the
 * warp results), so a given launch shape always gives the same bits.
 */
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


/* ---- 16-byte vector access ------------------------------------------------------ *
 * A frag<T, N> holds N elements of T as raw 32-bit words (N * sizeof(T) a
 * multiple of 16), loaded and stored with 16-byte accesses (LDG.E.128 /
 * STG.E.128); get/set convert one element with the same rounding as conv<T>,
 * so a vector path gives the bits of the scalar one.  Indices must be
 * compile-time constants after unrolling, or the words go to local memory. */

__device__ __forceinline__ bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

template <typename T> struct word_bits;
template <> struct word_bits<float> {
    static __device__ __forceinline__ float get(const uint32_t *w, uint32_t j) { return __uint_as_float(w[j]); }
    static __device__ __forceinline__ void set(uint32_t *w, uint32_t j, float v) { w[j] = __float_as_uint(v); }
};
__device__ __forceinline__ __half from_bits(unsigned short b, __half *) { return __ushort_as_half(b); }
__device__ __forceinline__ __nv_bfloat16 from_bits(unsigned short b, __nv_bfloat16 *) { return __ushort_as_bfloat16(b); }
__device__ __forceinline__ unsigned short to_bits(__half h) { return __half_as_ushort(h); }
__device__ __forceinline__ unsigned short to_bits(__nv_bfloat16 h) { return __bfloat16_as_ushort(h); }
template <typename T> struct half_bits {
    static __device__ __forceinline__ float get(const uint32_t *w, uint32_t j) {
        const unsigned short b = (unsigned short)(w[j >> 1] >> ((j & 1u) * 16u));
        return conv<T>::load(from_bits(b, (T *)0));
    }
    static __device__ __forceinline__ void set(uint32_t *w, uint32_t j, float v) {
        const unsigned short b = to_bits(conv<T>::store(v));
        const uint32_t sh = (j & 1u) * 16u;
        w[j >> 1] = (w[j >> 1] & ~(0xffffu << sh)) | ((uint32_t)b << sh);
    }
};
template <> struct word_bits<__half> : half_bits<__half> {};
template <> struct word_bits<__nv_bfloat16> : half_bits<__nv_bfloat16> {};

/* Two floats rounded to T and packed into one 32-bit word (a low, b high):
 * one F2FP pack instruction for a 16-bit pair instead of two conversions
 * and a merge; the rounding of each half is that of conv<T>::store. */
__device__ __forceinline__ uint32_t pack2(float a, float b, __half *) {
    const __half2 h = __floats2half2_rn(a, b);
    return *reinterpret_cast<const uint32_t *>(&h);
}
__device__ __forceinline__ uint32_t pack2(float a, float b, __nv_bfloat16 *) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
    return *reinterpret_cast<const uint32_t *>(&h);
}

template <typename T, uint32_t N> struct frag {
    static constexpr uint32_t Q = N * sizeof(T) / 16; /* 16-byte pieces */
    static_assert(Q >= 1 && Q * 16 == N * sizeof(T), "a frag is whole 16-byte pieces");
    uint4 q[Q];
    __device__ __forceinline__ void load(const T *p) {
#pragma unroll
        for (uint32_t i = 0; i < Q; i++) q[i] = reinterpret_cast<const uint4 *>(p)[i];
    }
    __device__ __forceinline__ void store(T *p) const {
#pragma unroll
        for (uint32_t i = 0; i < Q; i++) reinterpret_cast<uint4 *>(p)[i] = q[i];
    }
    __device__ __forceinline__ float get(uint32_t j) const {
        return word_bits<T>::get(reinterpret_cast<const uint32_t *>(q), j);
    }
    __device__ __forceinline__ void set(uint32_t j, float v) { word_bits<T>::set(reinterpret_cast<uint32_t *>(q), j, v); }
    /* Elements j and j + 1 (j even) from two floats: one pack for 16-bit. */
    __device__ __forceinline__ void set2(uint32_t j, float a, float b) {
        uint32_t *w = reinterpret_cast<uint32_t *>(q);
        if constexpr (sizeof(T) == 4) {
            w[j] = __float_as_uint(a);
            w[j + 1] = __float_as_uint(b);
        } else {
            w[j / 2] = pack2(a, b, (T *)0);
        }
    }
    /* All N elements as floats, and back: the whole-frag forms, which
     * round 16-bit pairs with one pack each (same bits as set). */
    __device__ __forceinline__ void unpack(float (&v)[N]) const {
#pragma unroll
        for (uint32_t j = 0; j < N; j++) v[j] = get(j);
    }
    __device__ __forceinline__ void pack(const float (&v)[N]) {
        uint32_t *w = reinterpret_cast<uint32_t *>(q);
        if constexpr (sizeof(T) == 4) {
#pragma unroll
            for (uint32_t j = 0; j < N; j++) w[j] = __float_as_uint(v[j]);
        } else {
#pragma unroll
            for (uint32_t j = 0; j < N; j += 2) w[j / 2] = pack2(v[j], v[j + 1], (T *)0);
        }
    }
};

/* Elements of T in one 16-byte access. */
template <typename T> struct vec_n { static constexpr uint32_t N = 16 / sizeof(T); };

/* The sum of v over aligned groups of `width` lanes (a power of two <= 32),
 * returned to every lane of the group; every lane of the warp must call it. */
__device__ __forceinline__ float team_sum(float v, uint32_t width) {
    for (uint32_t o = width >> 1; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* A row spread over threads: this thread's frags are v = first + c * step;
 * width 0 means the whole block reduces (block_reduce), else an aligned
 * group of `width` lanes (shuffles). */
struct team {
    uint32_t first, step;
    uint32_t width;
    __device__ __forceinline__ float sum(float v) const {
        return width ? team_sum(v, width) : block_reduce<op_sum>(v);
    }
    __device__ __forceinline__ float max(float v) const {
        if (!width) return block_reduce<op_max>(v);
        for (uint32_t o = width >> 1; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
        return v;
    }
};

/* Lanes per row in team mode: the power of two that gives each lane at
 * most `per_lane` of the row's nv frags (the front-ends mirror it). */
__device__ __forceinline__ uint32_t team_width(uint32_t nv, uint32_t per_lane) {
    uint32_t width = 1;
    while (width * per_lane < nv) width <<= 1;
    return width;
}

/* Runs row_fn(row, team) over every row of nv frags: in warp teams (several
 * rows per warp) when a row is at most 32 * per_lane frags and the block is
 * whole warps, else one block per row (grid-stride); per_lane drops to 1
 * when the launch has a thread for every frag.  The team loop is
 * warp-uniform, so lanes past the last row still join the shuffles. */
template <typename ROW>
__device__ __forceinline__ void for_rows(uint64_t rows, uint32_t nv, uint32_t per_lane, const ROW &row_fn) {
    const uint32_t t = thread_linear(), nt = thread_count();
    /* a launch with a thread per frag (decode): one frag a lane, wide teams */
    if ((uint64_t)rows * nv <= block_count() * nt) per_lane = 1;
    if (nv <= 32 * per_lane && nt % 32 == 0) {
        const uint32_t width = team_width(nv, per_lane);
        const uint32_t per_warp = 32 / width, lane = t & 31u;
        const uint64_t warps = block_count() * (nt / 32);
        for (uint64_t base = (block_linear() * (nt / 32) + t / 32) * per_warp; base < rows;
             base += warps * per_warp) {
            const uint64_t row = base + lane / width;
            const uint32_t sub = lane % width;
            row_fn(row < rows ? row : 0, team{row < rows ? sub : nv, width, width});
        }
        return;
    }
    for (uint64_t row = block_linear(); row < rows; row += block_count()) row_fn(row, team{t, nt, 0});
}

/* 1 / sqrt(mean of squares + eps) of a row of n values from the sums of
 * squares of eight lanes (a0 lane 0's, the row's tail included; l[1 .. 7]
 * the others), added in the fixed tree every RMS norm of the decode step
 * uses (rms_norm, the router's norm, the rope norm). */
__device__ __forceinline__ float rms_inv8(float a0, const float *l, uint32_t n, float eps) {
    const float ss = __fadd_rn(__fadd_rn(__fadd_rn(a0, l[1]), __fadd_rn(l[2], l[3])),
                               __fadd_rn(__fadd_rn(l[4], l[5]), __fadd_rn(l[6], l[7])));
    return __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(__fdiv_rn(ss, (float)n), eps)));
}

} // namespace mlxc_ops

#endif
