/*
 * Dense matmul CUDA kernels (src/kernels/params_matmul.h):
 *
 *     y[i, j] = sum_k x[i, k] * w[j, k]      x (m, k)  w (n, k)  y (m, n)
 *
 * W is f32, f16 or bf16, X f32 or bf16 (or f16 with f16 W), Y f32 or bf16.
 *
 * matvec_W_X_Y (m <= 8, decode) is memory-bound: the weights are read once
 * and nothing else matters.  A block owns MLXC_MATVEC_ROWS weight rows and
 * its threads stride along k in 16-byte weight vectors (8 bf16/f16 or 4
 * f32), two vectors per row in flight before the first use, loaded past L1
 * (ld.global.nc.L1::no_allocate) so that L1 keeps x.  Each x vector is
 * loaded once and used for all the block's rows; the m x rows partial sums
 * leave the warp through a transposing shuffle reduction (each step halves
 * the values a lane holds: 31 shuffles for 32 sums instead of 160), then
 * the warps' sums meet in shared memory.  For bf16 w and bf16 x with
 * m >= 2 (and k % 32 == 0) the products run on the tensor cores instead
 * (matvec_tc: 32 weight rows per block, mma.sync m16n8k16 with x as the
 * 8-column B operand), where the FMA path turns compute-bound.
 *
 * gemm_W_X_Y (prefill): for bf16 x and bf16 w, a tensor-core kernel
 * (mma.sync m16n8k16, f32 accumulators): 128 x 128 output tiles, 8 warps of
 * 64 x 32, k in steps of 64 through a 3-stage cp.async pipeline, shared
 * tiles swizzled (16-byte chunk c of row r at c ^ (r & 7)) so that cp.async
 * writes and ldmatrix reads are free of bank conflicts.  Other dtype
 * combinations, and launches or operands the fast paths cannot take (block
 * size, dynamic shared memory, k not a multiple of 8, pointers not 16-byte
 * aligned) run a plain f32 dot product per output, which is the same
 * function (params_elementwise.h: any launch shape is correct).  On sm_90a the bf16
 * GEMM runs on wgmma instead (matmul_sm90.cuh; building with
 * -DMLXC_GEMM_WGMMA=0 keeps mma.sync there too).
 */
#include <type_traits>

#include "kernels/params_matmul.h"
#include "common.cuh"
#include "wgmma_sm90.cuh"

namespace mlxc_mm {

using mlxc::block_count;
using mlxc::block_linear;
using mlxc::conv;
using mlxc::thread_count;
using mlxc::thread_linear;

typedef __nv_bfloat16 bf16;

/* ---- small helpers ----------------------------------------------------------------- */

/* 16 bytes that are read once: past L1, so that L1 keeps what is reused. */
__device__ __forceinline__ uint4 ld_stream(const void *p) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

__device__ __forceinline__ void bf16x2_to_f32(uint32_t u, float &lo, float &hi) {
    lo = __uint_as_float(u << 16);
    hi = __uint_as_float(u & 0xffff0000u);
}
__device__ __forceinline__ void f16x2_to_f32(uint32_t u, float &lo, float &hi) {
    __half2 h = *reinterpret_cast<__half2 *>(&u);
    float2 f = __half22float2(h);
    lo = f.x;
    hi = f.y;
}

/* A 16-byte weight vector as floats: VEC = 16 / sizeof(W) of them. */
template <typename W> struct wvec;
template <> struct wvec<float> {
    static constexpr int VEC = 4;
    static __device__ __forceinline__ void cvt(uint4 v, float (&f)[4]) {
        f[0] = __uint_as_float(v.x);
        f[1] = __uint_as_float(v.y);
        f[2] = __uint_as_float(v.z);
        f[3] = __uint_as_float(v.w);
    }
};
template <> struct wvec<__half> {
    static constexpr int VEC = 8;
    static __device__ __forceinline__ void cvt(uint4 v, float (&f)[8]) {
        f16x2_to_f32(v.x, f[0], f[1]);
        f16x2_to_f32(v.y, f[2], f[3]);
        f16x2_to_f32(v.z, f[4], f[5]);
        f16x2_to_f32(v.w, f[6], f[7]);
    }
};
template <> struct wvec<bf16> {
    static constexpr int VEC = 8;
    static __device__ __forceinline__ void cvt(uint4 v, float (&f)[8]) {
        bf16x2_to_f32(v.x, f[0], f[1]);
        bf16x2_to_f32(v.y, f[2], f[3]);
        bf16x2_to_f32(v.z, f[4], f[5]);
        bf16x2_to_f32(v.w, f[6], f[7]);
    }
};

/* VEC consecutive x values (aligned to VEC elements) as floats, through the
 * read-only path: x is reread by every block. */
template <typename X, int VEC> struct xvec;
template <> struct xvec<float, 4> {
    static __device__ __forceinline__ void load(const float *p, float (&f)[4]) {
        float4 a = __ldg(reinterpret_cast<const float4 *>(p));
        f[0] = a.x; f[1] = a.y; f[2] = a.z; f[3] = a.w;
    }
};
template <> struct xvec<float, 8> {
    static __device__ __forceinline__ void load(const float *p, float (&f)[8]) {
        float4 a = __ldg(reinterpret_cast<const float4 *>(p)), b = __ldg(reinterpret_cast<const float4 *>(p) + 1);
        f[0] = a.x; f[1] = a.y; f[2] = a.z; f[3] = a.w;
        f[4] = b.x; f[5] = b.y; f[6] = b.z; f[7] = b.w;
    }
};
template <> struct xvec<bf16, 4> {
    static __device__ __forceinline__ void load(const bf16 *p, float (&f)[4]) {
        uint2 a = __ldg(reinterpret_cast<const uint2 *>(p));
        bf16x2_to_f32(a.x, f[0], f[1]);
        bf16x2_to_f32(a.y, f[2], f[3]);
    }
};
template <> struct xvec<bf16, 8> {
    static __device__ __forceinline__ void load(const bf16 *p, float (&f)[8]) {
        uint4 a = __ldg(reinterpret_cast<const uint4 *>(p));
        bf16x2_to_f32(a.x, f[0], f[1]);
        bf16x2_to_f32(a.y, f[2], f[3]);
        bf16x2_to_f32(a.z, f[4], f[5]);
        bf16x2_to_f32(a.w, f[6], f[7]);
    }
};

/* f16 x goes with f16 w alone, whose vectors hold 8 values. */
template <> struct xvec<__half, 8> {
    static __device__ __forceinline__ void load(const __half *p, float (&f)[8]) {
        uint4 a = __ldg(reinterpret_cast<const uint4 *>(p));
        f16x2_to_f32(a.x, f[0], f[1]);
        f16x2_to_f32(a.y, f[2], f[3]);
        f16x2_to_f32(a.z, f[4], f[5]);
        f16x2_to_f32(a.w, f[6], f[7]);
    }
};

__device__ __forceinline__ bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

/* ---- the plain path: one f32 dot product per output (any launch) --------------------- */

template <typename W, typename X, typename Y>
__device__ void mm_plain(const X *x, const W *w, Y *y, const mlxc_p_matmul &p) {
    const uint64_t total = (uint64_t)p.m * p.n, stride = block_count() * thread_count();
    for (uint64_t o = block_linear() * thread_count() + thread_linear(); o < total; o += stride) {
        const uint64_t i = o / p.n, j = o % p.n;
        const X *xr = x + i * p.k;
        const W *wr = w + j * p.k;
        float s = 0.0f;
        for (uint32_t q = 0; q < p.k; q++) s += conv<X>::load(xr[q]) * conv<W>::load(wr[q]);
        y[o] = conv<Y>::store(s);
    }
}

/* D += A B, one m16n8k16 tensor-core step (bf16 in, f32 accumulate). */
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* ---- mat-vec -------------------------------------------------------------------------- */

constexpr int R = MLXC_MATVEC_ROWS;

/* The warps' partial sums of the mat-vec: [warp][value]. */
__shared__ float mv_red[32][32];

__host__ __device__ constexpr int pow2_at_least(int v) { return v <= 1 ? 1 : 2 * pow2_at_least((v + 1) / 2); }

/* One halving step of warp_transpose_sum: exchange half the H*2 values
 * with the lane O apart, keep the half that this lane's bit O selects. */
template <int H, int O, int NV> __device__ __forceinline__ void transpose_step(float (&v)[NV], uint32_t lane) {
    if constexpr (H >= 1) {
        const bool up = (lane & (uint32_t)O) != 0;
#pragma unroll
        for (int j = 0; j < H; j++) {
            const float send = up ? v[j] : v[j + H], keep = up ? v[j + H] : v[j];
            v[j] = keep + __shfl_xor_sync(0xffffffffu, send, O);
        }
        transpose_step<H / 2, O / 2, NV>(v, lane);
    }
}

/* Sum v[0..NV) over the warp; afterwards lane l holds the total of value
 * l >> (5 - log2 NV) (NV a power of two <= 32): NV - 1 shuffles to halve
 * the values down to one, then plain butterflies over the remaining lanes. */
template <int NV> __device__ __forceinline__ float warp_transpose_sum(float (&v)[NV], uint32_t lane) {
    static_assert(NV >= 1 && NV <= 32 && (NV & (NV - 1)) == 0, "NV: a power of two <= 32");
    transpose_step<NV / 2, 16, NV>(v, lane);
    float s = v[0];
#pragma unroll
    for (int o = 16 / NV; o >= 1; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
    return s;
}

/* The fast path: thread_count() a multiple of 32 (<= 1024), w 16-byte
 * aligned, x aligned to VEC elements, k a multiple of VEC. */
template <typename W, typename X, typename Y, int M>
__device__ __forceinline__ void matvec_fast(const X *x, const W *w, Y *y, const mlxc_p_matmul &p) {
    constexpr int VEC = wvec<W>::VEC, NV = pow2_at_least(M * R);
    const uint32_t t = thread_linear(), nt = thread_count(), lane = t & 31u, warp = t >> 5, nwarps = nt >> 5;
    const uint32_t nvec = p.k / VEC, n = p.n, k = p.k;
    for (uint64_t r0 = block_linear() * R; r0 < n; r0 += block_count() * R) {
        const W *wr[R];
#pragma unroll
        for (int r = 0; r < R; r++) wr[r] = w + (r0 + r < n ? r0 + r : n - 1) * (uint64_t)k; /* clamped: discarded */
        float acc[NV];
#pragma unroll
        for (int j = 0; j < NV; j++) acc[j] = 0.0f;

        /* acc[i * R + r] += dot(x[i, c*VEC ..], w_r[c*VEC ..]) for one vector c */
        auto fma_vec = [&](uint32_t c, const uint4 (&wv)[R]) {
            float wf[R][VEC];
#pragma unroll
            for (int r = 0; r < R; r++) wvec<W>::cvt(wv[r], wf[r]);
#pragma unroll
            for (int i = 0; i < M; i++) {
                float xf[VEC];
                xvec<X, VEC>::load(x + (uint64_t)i * k + (uint64_t)c * VEC, xf);
#pragma unroll
                for (int r = 0; r < R; r++)
#pragma unroll
                    for (int e = 0; e < VEC; e++) acc[i * R + r] = fmaf(xf[e], wf[r][e], acc[i * R + r]);
            }
        };
        /* Two vectors per row in flight; one for larger m, whose x values
         * and sums take the registers (and whose arithmetic per weight
         * vector hides more of the latency). */
        constexpr bool PAIRS = M <= (sizeof(X) == 4 && VEC == 8 ? 2 : 6);
        uint32_t c = t;
        for (; PAIRS && c + nt < nvec; c += 2 * nt) {
            uint4 w0[R], w1[R];
#pragma unroll
            for (int r = 0; r < R; r++) {
                w0[r] = ld_stream(wr[r] + (uint64_t)c * VEC);
                w1[r] = ld_stream(wr[r] + (uint64_t)(c + nt) * VEC);
            }
            fma_vec(c, w0);
            fma_vec(c + nt, w1);
        }
        for (; c < nvec; c += nt) {
            uint4 w0[R];
#pragma unroll
            for (int r = 0; r < R; r++) w0[r] = ld_stream(wr[r] + (uint64_t)c * VEC);
            fma_vec(c, w0);
        }

        const float s = warp_transpose_sum<NV>(acc, lane);
        constexpr uint32_t SPAN = 32 / NV; /* lanes that hold one value */
        if (lane % SPAN == 0) mv_red[warp][lane / SPAN] = s;
        __syncthreads();
        if (t < (uint32_t)(M * R)) {
            float tot = 0.0f;
            for (uint32_t q = 0; q < nwarps; q++) tot += mv_red[q][t];
            const uint32_t i = t / R, r = t % R;
            if (r0 + r < n) y[(uint64_t)i * n + r0 + r] = conv<Y>::store(tot);
        }
        __syncthreads(); /* mv_red is reused by the next rows */
    }
}

/* The tensor-core path for bf16 w and bf16 x with m >= MLXC_MATVEC_TC_MIN_M:
 * the FMA path turns compute-bound there (up to 8 x rows per weight
 * vector).  A block owns tiles of TC_ROWS = 16 TILES weight rows
 * (grid-stride), its warps split k in chunks of 32.  Lane (g, q) =
 * (lane / 4, lane % 4) loads the 16 bytes at k = 32 c + 8 q of weight rows
 * g + 8 h (h < 2 TILES) and of x row g (zeros for g >= m); its 8 values feed
 * two m16n8k16 steps per 16-row tile, whose k order within the chunk is
 * thereby permuted the same way for A (w) and B (x), which a sum over k
 * does not see.  U chunks are in flight per warp.  D[w row][x row] sums in
 * f32 and the warps' tiles meet in shared memory.  Needs k % 32 == 0,
 * 16-byte aligned w and x rows, thread_count() a multiple of 32 (<= 1024). */
constexpr int TC_ROWS = MLXC_MATVEC_TC_ROWS, TC_TILES = TC_ROWS / 16, TC_U = MLXC_MATVEC_TC_INFLIGHT;
static_assert(TC_ROWS % 16 == 0, "MLXC_MATVEC_TC_ROWS: a multiple of 16");
__shared__ float mv_tc_red[32][TC_ROWS][8];

template <typename Y>
__device__ __forceinline__ void matvec_tc(const bf16 *x, const bf16 *w, Y *y, const mlxc_p_matmul &p) {
    constexpr int H = 2 * TC_TILES; /* weight rows per lane */
    const uint32_t t = thread_linear(), nt = thread_count(), lane = t & 31u, warp = t >> 5, nwarps = nt >> 5;
    const uint32_t g = lane >> 2, q = lane & 3u, n = p.n, k = p.k, m = p.m, nchunk = k / 32;
    const bf16 *xr = x + (uint64_t)(g < m ? g : 0) * k + 8 * q;
    for (uint64_t r0 = block_linear() * TC_ROWS; r0 < n; r0 += block_count() * TC_ROWS) {
        const bf16 *wr[H];
#pragma unroll
        for (int h = 0; h < H; h++) {
            const uint64_t r = r0 + g + 8 * h;
            wr[h] = w + (r < n ? r : n - 1) * (uint64_t)k + 8 * q; /* clamped rows: discarded */
        }
        float d[TC_TILES][4];
#pragma unroll
        for (int tile = 0; tile < TC_TILES; tile++) d[tile][0] = d[tile][1] = d[tile][2] = d[tile][3] = 0.0f;
        auto step = [&](const uint4 (&wv)[H], uint4 xv) {
            if (g >= m) xv = make_uint4(0, 0, 0, 0);
#pragma unroll
            for (int half = 0; half < 2; half++) {
                const uint32_t b0 = half ? xv.z : xv.x, b1 = half ? xv.w : xv.y;
#pragma unroll
                for (int tile = 0; tile < TC_TILES; tile++) {
                    const uint4 &lo = wv[2 * tile], &hi = wv[2 * tile + 1]; /* rows g, g + 8 of the tile */
                    const uint32_t a[4] = {half ? lo.z : lo.x, half ? hi.z : hi.x, half ? lo.w : lo.y,
                                           half ? hi.w : hi.y};
                    mma_bf16(d[tile], a, b0, b1);
                }
            }
        };
        uint32_t c = warp;
        for (; c + (TC_U - 1) * nwarps < nchunk; c += TC_U * nwarps) {
            uint4 wv[TC_U][H], xv[TC_U];
#pragma unroll
            for (int u = 0; u < TC_U; u++) {
#pragma unroll
                for (int h = 0; h < H; h++) wv[u][h] = ld_stream(wr[h] + (uint64_t)(c + u * nwarps) * 32);
                xv[u] = __ldg(reinterpret_cast<const uint4 *>(xr + (uint64_t)(c + u * nwarps) * 32));
            }
#pragma unroll
            for (int u = 0; u < TC_U; u++) step(wv[u], xv[u]);
        }
        for (; c < nchunk; c += nwarps) {
            uint4 wv[H];
#pragma unroll
            for (int h = 0; h < H; h++) wv[h] = ld_stream(wr[h] + (uint64_t)c * 32);
            step(wv, __ldg(reinterpret_cast<const uint4 *>(xr + (uint64_t)c * 32)));
        }
        /* D fragment: d[tile][0..1] = row g, cols 2q, 2q+1; [2..3] = row g + 8 */
#pragma unroll
        for (int tile = 0; tile < TC_TILES; tile++)
#pragma unroll
            for (int e = 0; e < 4; e++) mv_tc_red[warp][16 * tile + g + 8 * (e >> 1)][2 * q + (e & 1)] = d[tile][e];
        __syncthreads();
        for (uint32_t o = t; o < TC_ROWS * m; o += nt) {
            const uint32_t r = o % TC_ROWS, i = o / TC_ROWS;
            float tot = 0.0f;
            for (uint32_t v = 0; v < nwarps; v++) tot += mv_tc_red[v][r][i];
            if (r0 + r < n) y[(uint64_t)i * n + r0 + r] = conv<Y>::store(tot);
        }
        __syncthreads(); /* mv_tc_red is reused by the next tile */
    }
}

template <typename W, typename X, typename Y>
__device__ __forceinline__ void matvec(const X *x, const W *w, Y *y, const mlxc_p_matmul &p) {
    constexpr int VEC = wvec<W>::VEC;
    const uint32_t nt = thread_count();
    const bool fast = nt % 32 == 0 && nt <= 1024 && p.m <= MLXC_MATVEC_MAX_M && p.k % VEC == 0 && aligned16(w) &&
                      ((uintptr_t)x % (VEC * sizeof(X))) == 0;
    if (!fast) {
        mm_plain<W, X, Y>(x, w, y, p);
        return;
    }
    if constexpr (std::is_same<W, bf16>::value && std::is_same<X, bf16>::value) {
        if (p.m >= MLXC_MATVEC_TC_MIN_M && p.k % 32 == 0 && aligned16(x)) {
            matvec_tc<Y>(x, w, y, p);
            return;
        }
    }
    switch (p.m) {
    case 1: matvec_fast<W, X, Y, 1>(x, w, y, p); break;
    case 2: matvec_fast<W, X, Y, 2>(x, w, y, p); break;
    case 3: matvec_fast<W, X, Y, 3>(x, w, y, p); break;
    case 4: matvec_fast<W, X, Y, 4>(x, w, y, p); break;
    case 5: matvec_fast<W, X, Y, 5>(x, w, y, p); break;
    case 6: matvec_fast<W, X, Y, 6>(x, w, y, p); break;
    case 7: matvec_fast<W, X, Y, 7>(x, w, y, p); break;
    default: matvec_fast<W, X, Y, 8>(x, w, y, p); break;
    }
}

/* ---- tensor-core GEMM (bf16 x, bf16 w) -------------------------------------------------- */

constexpr int BM = MLXC_GEMM_BM, BN = MLXC_GEMM_BN, BK = MLXC_GEMM_BK, STAGES = MLXC_GEMM_STAGES;
constexpr int NTH = MLXC_GEMM_THREADS;
constexpr uint32_t STAGE_BYTES = (BM + BN) * BK * 2;
static_assert(BK == 64, "rows of 128 bytes: the swizzle below assumes eight 16-byte chunks");
static_assert(BM == 128 && BN == 128 && NTH == 256, "the warp layout below is 2 x 4 warps of 64 x 32");
static_assert(MLXC_GEMM_SHARED == STAGES * STAGE_BYTES, "params_matmul.h and the kernel disagree");

/* Byte offset of 16-byte chunk c of row r in a [rows][64] bf16 tile. */
__device__ __forceinline__ uint32_t swz(uint32_t r, uint32_t c) { return r * 128u + ((c ^ (r & 7u)) << 4); }

__device__ __forceinline__ void cp_async16(uint32_t dst, const void *src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;"); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N)); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t addr, uint32_t &a, uint32_t &b, uint32_t &c, uint32_t &d) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(a), "=r"(b), "=r"(c), "=r"(d)
                 : "r"(addr));
}


template <typename Y> __device__ __forceinline__ void store2(Y *y, uint64_t idx, uint32_t col, uint32_t n, float a, float b) {
    /* A pair store needs the pair's address aligned, not only an even
     * index: y may be a view whose offset is a multiple of one element. */
    if (col + 1 < n && (reinterpret_cast<uintptr_t>(y + idx) & (2 * sizeof(Y) - 1)) == 0) {
        if constexpr (sizeof(Y) == 4) {
            *reinterpret_cast<float2 *>(y + idx) = make_float2(a, b);
        } else {
            *reinterpret_cast<__nv_bfloat162 *>(y + idx) = __floats2bfloat162_rn(a, b);
        }
    } else {
        y[idx] = conv<Y>::store(a);
        if (col + 1 < n) y[idx + 1] = conv<Y>::store(b);
    }
}

/* Tile (tm, tn) for linear tile index `tile`: GEMM_GROUP tile rows walk the
 * n tiles together, so a band of w stays in L2 while they use it. */
constexpr uint32_t GEMM_GROUP = 8;
__device__ __forceinline__ void gemm_tile_coords(uint64_t tile, uint32_t tiles_m, uint32_t tiles_n, uint32_t &tm,
                                                 uint32_t &tn) {
    const uint32_t per_group = GEMM_GROUP * tiles_n, g = (uint32_t)(tile / per_group), in = (uint32_t)(tile % per_group);
    const uint32_t first = g * GEMM_GROUP, gsz = tiles_m - first < GEMM_GROUP ? tiles_m - first : GEMM_GROUP;
    tm = first + in % gsz;
    tn = in / gsz;
}

/* Stage `s` <- k tile `kt` of output tile (tm, tn): 4 chunks of A (x rows)
 * and 4 of B (w rows) per thread, zero-filled past the edges, in the
 * swizzled layout both the ldmatrix and the wgmma paths read. */
__device__ __forceinline__ void gemm_load_stage(const bf16 *x, const bf16 *w, uint32_t m, uint32_t n, uint32_t k,
                                                uint32_t sbase, uint32_t t, uint32_t tm, uint32_t tn, uint32_t s,
                                                uint32_t kt) {
    const uint32_t a_s = sbase + s * STAGE_BYTES, b_s = a_s + BM * BK * 2;
#pragma unroll
    for (int q = 0; q < 4; q++) {
        const uint32_t idx = t + q * NTH, row = idx >> 3, c = idx & 7u, gk = kt * BK + c * 8;
        const uint32_t gm = tm * BM + row, gn = tn * BN + row;
        const bool va = gm < m && gk < k, vb = gn < n && gk < k;
        cp_async16(a_s + swz(row, c), va ? (const void *)(x + (uint64_t)gm * k + gk) : (const void *)x, va);
        cp_async16(b_s + swz(row, c), vb ? (const void *)(w + (uint64_t)gn * k + gk) : (const void *)w, vb);
    }
}

template <typename Y>
__device__ __forceinline__ void gemm_tc(const bf16 *x, const bf16 *w, Y *y, const mlxc_p_matmul &p, unsigned char *smem) {
    const uint32_t m = p.m, n = p.n, k = p.k;
    const uint32_t t = thread_linear(), lane = t & 31u, warp = t >> 5;
    const uint32_t wm = warp >> 2, wn = warp & 3u;
    const uint32_t tiles_m = (m + BM - 1) / BM, tiles_n = (n + BN - 1) / BN, nk = (k + BK - 1) / BK;
    const uint32_t sbase = (uint32_t)__cvta_generic_to_shared(smem);

    for (uint64_t tile = block_linear(); tile < (uint64_t)tiles_m * tiles_n; tile += block_count()) {
        uint32_t tm, tn;
        gemm_tile_coords(tile, tiles_m, tiles_n, tm, tn);
        auto load = [&](uint32_t s, uint32_t kt) { gemm_load_stage(x, w, m, n, k, sbase, t, tm, tn, s, kt); };

#pragma unroll
        for (int s = 0; s < STAGES - 1; s++) {
            if ((uint32_t)s < nk) load(s, s);
            cp_async_commit();
        }
        float acc[4][4][4];
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

        for (uint32_t kt = 0; kt < nk; kt++) {
            cp_async_wait<STAGES - 2>();
            __syncthreads(); /* stage kt landed; everyone is done with stage kt - 1 */
            const uint32_t nxt = kt + STAGES - 1;
            if (nxt < nk) load(nxt % STAGES, nxt);
            cp_async_commit();
            const uint32_t a_s = sbase + (kt % STAGES) * STAGE_BYTES, b_s = a_s + BM * BK * 2;
#pragma unroll
            for (uint32_t kk = 0; kk < BK / 16; kk++) {
                uint32_t a[4][4], b[4][2];
#pragma unroll
                for (int mi = 0; mi < 4; mi++) {
                    const uint32_t row = wm * 64 + mi * 16 + (lane & 15u), c = kk * 2 + (lane >> 4);
                    ldmatrix_x4(a_s + swz(row, c), a[mi][0], a[mi][1], a[mi][2], a[mi][3]);
                }
#pragma unroll
                for (int nj = 0; nj < 2; nj++) {
                    const uint32_t row = wn * 32 + nj * 16 + (lane & 7u) + ((lane >> 4) << 3);
                    const uint32_t c = kk * 2 + ((lane >> 3) & 1u);
                    ldmatrix_x4(b_s + swz(row, c), b[2 * nj][0], b[2 * nj][1], b[2 * nj + 1][0], b[2 * nj + 1][1]);
                }
#pragma unroll
                for (int mi = 0; mi < 4; mi++)
#pragma unroll
                    for (int ni = 0; ni < 4; ni++) mma_bf16(acc[mi][ni], a[mi], b[ni][0], b[ni][1]);
            }
        }
        cp_async_wait<0>();
        __syncthreads(); /* the next tile's prologue overwrites the stages */

#pragma unroll
        for (int mi = 0; mi < 4; mi++)
#pragma unroll
            for (int ni = 0; ni < 4; ni++) {
                const uint32_t row = tm * BM + wm * 64 + mi * 16 + (lane >> 2);
                const uint32_t col = tn * BN + wn * 32 + ni * 8 + (lane & 3u) * 2;
                if (col >= n) continue;
                if (row < m) store2(y, (uint64_t)row * n + col, col, n, acc[mi][ni][0], acc[mi][ni][1]);
                if (row + 8 < m) store2(y, (uint64_t)(row + 8) * n + col, col, n, acc[mi][ni][2], acc[mi][ni][3]);
            }
    }
}

/* The Hopper path (wgmma; sm_90a only).  MLXC_GEMM_WGMMA=0 at build time
 * keeps the mma.sync kernel on Hopper too. */
#ifndef MLXC_GEMM_WGMMA
#define MLXC_GEMM_WGMMA 1
#endif
#if MLXC_GEMM_WGMMA && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define MLXC_MM_SM90 1
#include "matmul_sm90.cuh"
#else
#define MLXC_MM_SM90 0
#endif

__device__ __forceinline__ uint32_t dynamic_smem_bytes() {
    uint32_t v;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(v));
    return v;
}

template <typename W, typename X, typename Y>
__device__ __forceinline__ void gemm(const X *x, const W *w, Y *y, const mlxc_p_matmul &p, unsigned char *smem) {
    if constexpr (sizeof(W) == 2 && sizeof(X) == 2 && !std::is_same<W, __half>::value && !std::is_same<X, __half>::value) {
        if (thread_count() == NTH && dynamic_smem_bytes() >= MLXC_GEMM_SHARED && p.k % 8 == 0 && aligned16(x) &&
            aligned16(w)) {
#if MLXC_MM_SM90
            /* wgmma's swizzle is on absolute address bits: the stages must
             * start 1024-byte aligned (the dynamic shared memory of a kernel
             * without static shared memory does). */
            if (((uint32_t)__cvta_generic_to_shared(smem) & 1023u) == 0) {
                gemm_wg<Y>(x, w, y, p, smem);
                return;
            }
#else
            gemm_tc<Y>(x, w, y, p, smem);
            return;
#endif
        }
    }
    mm_plain<W, X, Y>(x, w, y, p);
}

} // namespace mlxc_mm

extern __shared__ __align__(128) unsigned char mlxc_mm_smem[];

/* Register caps of the mat-vec: 128 gives two 256-thread blocks per SM (the
 * second hides the first one's reduction) without spilling, except with f32
 * x and 16-bit w, whose m = 8 path holds 16 x values per weight vector:
 * those get 168 (one block per SM).  sm_80 code needs 168 throughout. */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
#define MV_NREG(X, W) 168
#else
#define MV_NREG(X, W) (sizeof(X) == 4 && sizeof(W) == 2 ? 168 : 128)
#endif

/* The Hopper GEMM runs two 256-thread blocks per SM: at most 128 registers
 * (which also keeps 512-thread launches of the plain path launchable). */
#if MLXC_MM_SM90
#define GEMM_BOUNDS __maxnreg__(128)
#else
#define GEMM_BOUNDS
#endif

#define MM_KERNELS(W, WS, X, XS, Y, YS)                                                                          \
    extern "C" __global__ void __maxnreg__(MV_NREG(X, W)) matvec_##WS##_##XS##_##YS(const X *x, const W *w, Y *y, mlxc_p_matmul p) { MLXC_PDL_WAIT();         \
        mlxc_mm::matvec<W, X, Y>(x, w, y, p);                                                                    \
    }                                                                                                            \
    extern "C" __global__ void GEMM_BOUNDS gemm_##WS##_##XS##_##YS(const X *x, const W *w, Y *y, mlxc_p_matmul p) { MLXC_PDL_WAIT();           \
        mlxc_mm::gemm<W, X, Y>(x, w, y, p, mlxc_mm_smem);                                                        \
    }
#define MM_FOR_Y(W, WS, X, XS) MM_KERNELS(W, WS, X, XS, float, f32) MM_KERNELS(W, WS, X, XS, __nv_bfloat16, bf16)
#define MM_FOR_X(W, WS) MM_FOR_Y(W, WS, float, f32) MM_FOR_Y(W, WS, __nv_bfloat16, bf16)

MM_FOR_X(float, f32)
MM_FOR_X(__half, f16)
MM_FOR_Y(__half, f16, __half, f16)
MM_FOR_X(__nv_bfloat16, bf16)
