/*
 * A design probe, not part of the library: an exact Q4_0 mat-vec (m = 1,
 * bf16 x, f32 sums, as the CPU reference) on the tensor cores, with the
 * weights repacked so that every load is whole and coalesced.
 *
 *   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o matvec_mma bench/cuda/matvec_mma.cu
 *   ./matvec_mma [--quick]   # tables on stdout; exits 1 if a check fails
 *
 * The math: one mma.m16n8k16 (bf16, f32 accumulate) takes the weights as
 * the A operand, 16 rows, thread (g, t) supplying rows g and g + 8; x is
 * the B operand, the same in all 8 columns, so every thread gets its rows'
 * sums.  The 16 k slots of one mma all come from one 32-value block (one
 * scale): thread t's slots are 4 values of its own word of the block.
 * Codes become bf16 128 + q with one LOP3 a pair; the offset 136 comes out
 * through the block's x sum, or (EX) is subtracted before the mma exactly.
 *
 * The layouts, both from the GGUF blocks (codes as stored, f16 scales):
 * - rows: a row in super-chunks of four blocks (64 bytes), where lane t of
 *   a quad owns 16 bytes whose word i is word t of block i; the scales
 *   apart, [n][k / 32].  A warp's load reads 64 bytes of each of 8 rows.
 * - tiles: 16-row tiles; a tile's super-chunk c is one 1152-byte record
 *   (rows 0-7's codes with lane l's 16 bytes at 16 l, rows 8-15's, then the
 *   16 rows' 4 scales), records of a tile in k order.  A warp's load reads
 *   512 contiguous bytes, and a warp's slice of a tile is one stream.
 * Rows are padded to a multiple of 128 values (zero codes and scales).
 *
 * Two ways to keep bytes in flight:
 * - qmx, registers: each lane loads U super-chunks of its two rows a step
 *   (PF: the next step's loads issued before this step's math).
 * - qmt, the copy engine: each warp owns NS shared-memory stages of U
 *   records; lane 0 starts a bulk copy (cp.async.bulk onto the stage's
 *   mbarrier, L2 evict-first) NS steps ahead.
 * S warps of a block split k for one row tile; their sums meet in shared
 * memory in a fixed order.  Each block's first loads start before
 * griddepcontrol.wait.  Every variant is checked against a double-precision
 * reference, then timed cold (weights rotated over more than 4x the 60 MB
 * L2) in stream order, and as a chain of a 7B layer's four mat-vecs x 8 in
 * one graph with programmatic dependent launch, the decode step's setting.
 * Read-only twins of the same access give the ceiling rows.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <type_traits>
#include <vector>

#include "probe.cuh"
#include "../../src/kernels/cuda/bulk_copy.cuh"

__device__ __forceinline__ uint32_t lop_nib(uint32_t q) {
    uint32_t r;
    asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(r) : "r"(q), "n"(0x000f000f), "r"(0x43004300u));
    return r;
}
__device__ __forceinline__ uint32_t bsub(uint32_t a) { /* bf16x2 a - 136 */
    uint32_t r;
    asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(0x3f803f80u), "r"(0xc308c308u));
    return r;
}
__device__ __forceinline__ void mma(float d[4], const float c[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                    uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%10,%11,%12,%13};"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}
__device__ __forceinline__ float h2f_d(uint32_t h) { return __half2float(__ushort_as_half((unsigned short)h)); }
__device__ __forceinline__ uint4 ldcs4(const uint8_t *p) { return __ldcs((const uint4 *)p); }
__device__ __forceinline__ uint2 ldcs2(const uint16_t *p) { return __ldcs((const uint2 *)p); }

struct Args {
    const uint8_t *w;
    const uint16_t *sc;
    const uint16_t *x; /* bf16 */
    float *y;
    uint32_t n, k, S;
};

/* Shared memory: x as B fragments, [block B][t] -> uint4 {b0, b1 of the
 * block's first mma, b0, b1 of its second}, then the blocks' x sums. */
__device__ __forceinline__ uint32_t pack2(uint16_t lo, uint16_t hi) { return (uint32_t)lo | (uint32_t)hi << 16; }

/* q >> s on the FMA pipe (IMAD.HI) rather than the integer ALU, which the
 * LOP3s keep busy */
template <bool MH> __device__ __forceinline__ uint32_t shr(uint32_t q, int sft) {
    return MH ? __umulhi(q, 1u << (32 - sft)) : q >> sft;
}
/* One super-chunk (4 blocks) of rows g and g + 8 into acc0, acc1: codes
 * qA, qB (lane t's 16 bytes of each row), their 4 f16 scales sA, sB, the
 * blocks 4 c .. 4 c + 3 of x in smx / sxs.  EX: codes made q - 8 before the
 * mma, else 128 + q and the offset taken out through the x sums.  RO: the
 * bytes only folded into xr (the read-only twins). */
template <bool EX, bool MH, bool RO>
__device__ __forceinline__ void chunk_math(uint4 qA, uint4 qB, uint2 sA, uint2 sB, uint32_t c, uint32_t t,
                                           const uint4 *smx, const float *sxs, float &acc0, float &acc1, uint32_t &xr) {
    const uint32_t wA[4] = {qA.x, qA.y, qA.z, qA.w}, wB[4] = {qB.x, qB.y, qB.z, qB.w};
    const uint32_t hA[4] = {sA.x & 0xffffu, sA.x >> 16, sA.y & 0xffffu, sA.y >> 16};
    const uint32_t hB[4] = {sB.x & 0xffffu, sB.x >> 16, sB.y & 0xffffu, sB.y >> 16};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        if (RO) {
            xr ^= wA[i] ^ wB[i] ^ hA[i] ^ hB[i];
            continue;
        }
        const uint32_t B = 4 * c + i;
        const uint4 xf = smx[4 * B + t];
        const float z[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        float cc[4], d[4];
        uint32_t p0 = lop_nib(wA[i]), p1 = lop_nib(wB[i]), p2 = lop_nib(shr<MH>(wA[i], 8)), p3 = lop_nib(shr<MH>(wB[i], 8));
        uint32_t r0 = lop_nib(shr<MH>(wA[i], 4)), r1 = lop_nib(shr<MH>(wB[i], 4)), r2 = lop_nib(shr<MH>(wA[i], 12)),
                 r3 = lop_nib(shr<MH>(wB[i], 12));
        if (EX) {
            p0 = bsub(p0), p1 = bsub(p1), p2 = bsub(p2), p3 = bsub(p3);
            r0 = bsub(r0), r1 = bsub(r1), r2 = bsub(r2), r3 = bsub(r3);
        }
        mma(cc, z, p0, p1, p2, p3, xf.x, xf.y);
        mma(d, cc, r0, r1, r2, r3, xf.z, xf.w);
        const float sx = EX ? 0.0f : -136.0f * sxs[B];
        acc0 = fmaf(h2f_d(hA[i]), d[0] + sx, acc0);
        acc1 = fmaf(h2f_d(hB[i]), d[2] + sx, acc1);
    }
}

/* x (k bf16 values, zero past k) into shared memory as B fragments:
 * smx[4 B + t] = {b0, b1 of block B's first mma, b0, b1 of its second} for
 * lane t of a quad, and sxs[B] the block's sum.  Whole warps run every
 * round (the quad sums shuffle). */
__device__ __forceinline__ void stage_x(const uint16_t *x, uint32_t k, uint32_t NB, uint4 *smx, float *sxs) {
    for (uint32_t i0 = 0; i0 < 4 * NB; i0 += blockDim.x) { /* whole warps: the quad sums shuffle */
        const uint32_t i = i0 + threadIdx.x, B = i / 4, tt = i % 4, base = 32 * B + 4 * tt;
        uint16_t v[8];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            v[j] = base + j < k ? x[base + j] : 0;
            v[4 + j] = base + 16 + j < k ? x[base + 16 + j] : 0;
        }
        if (i < 4 * NB) smx[i] = make_uint4(pack2(v[0], v[2]), pack2(v[1], v[3]), pack2(v[4], v[6]), pack2(v[5], v[7]));
        float sum = 0.0f;
#pragma unroll
        for (int j = 0; j < 8; j++) sum += __uint_as_float((uint32_t)v[j] << 16);
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        if (i < 4 * NB && tt == 0) sxs[B] = sum;
    }
}

template <int U, int NW, int MINB, bool PF, bool EX, bool RO, bool TL>
__global__ void __launch_bounds__(32 * NW, MINB) qmx(Args a) {
    extern __shared__ __align__(16) uint4 smx[];
    const uint32_t k = a.k, kp = (k + 127) & ~127u, NB = kp / 32, NC = kp / 128, S = a.S, G = NW / S;
    float *sxs = (float *)(smx + 4 * NB);
    __shared__ float red[2][NW][16];
    const uint32_t lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3, wi = threadIdx.x >> 5;
    const uint32_t s = wi % S, gi = wi / S;
    const bool active = gi < G;
    const uint32_t CS = (NC + S - 1) / S, c0 = s * CS, c1 = min(c0 + CS, NC);
    const uint64_t rb = kp / 2, sb = kp / 32, ntiles = (a.n + 15) / 16;
    /* step iteration: tile tb (block-uniform), chunk cc of the slice; every
     * warp takes ceil(CS / U) steps a tile, so the barriers match */
    const uint32_t cend = c0 + CS;
    uint64_t tb = blockIdx.x;
    uint32_t cc = c0;
    uint4 qa[2][U], qb[2][U];
    uint2 sa[2][U], sbv[2][U];
    auto load = [&](auto BUF, uint64_t tile_b, uint32_t c) {
        constexpr int L = decltype(BUF)::value;
        const uint64_t rt = tile_b * G + gi;
        uint64_t ra = rt * 16 + g, rbw = ra + 8;
        if (ra >= a.n) ra = a.n - 1;
        if (rbw >= a.n) rbw = a.n - 1;
        const uint8_t *wa = a.w + ra * rb + 16 * t, *wb = a.w + rbw * rb + 16 * t;
        /* TL: the tile's super-chunk c is one 1152-byte record: rows 0-7's
         * codes (lane l's 16 bytes at 16 l), rows 8-15's, then 16 rows x 4
         * f16 scales */
        const uint8_t *tr = a.w + (rt * NC + c) * 1152;
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (active && c + u < c1) {
                if (TL) {
                    const uint8_t *rec = tr + 1152 * u;
                    qa[L][u] = ldcs4(rec + 16 * lane);
                    qb[L][u] = ldcs4(rec + 512 + 16 * lane);
                    sa[L][u] = ldcs2((const uint16_t *)(rec + 1024 + 8 * g));
                    sbv[L][u] = ldcs2((const uint16_t *)(rec + 1088 + 8 * g));
                } else {
                    qa[L][u] = ldcs4(wa + 64 * (c + u));
                    qb[L][u] = ldcs4(wb + 64 * (c + u));
                    sa[L][u] = ldcs2(a.sc + ra * sb + 4 * (c + u));
                    sbv[L][u] = ldcs2(a.sc + rbw * sb + 4 * (c + u));
                }
            } else {
                qa[L][u] = qb[L][u] = make_uint4(0, 0, 0, 0);
                sa[L][u] = sbv[L][u] = make_uint2(0, 0);
            }
        }
    };
    using I0 = std::integral_constant<int, 0>;
    using I1 = std::integral_constant<int, 1>;
    if (tb * G < ntiles) load(I0{}, tb, cc);
    asm volatile("griddepcontrol.wait;\n\tgriddepcontrol.launch_dependents;" ::: "memory");
    /* stage x */
    stage_x(a.x, k, NB, smx, sxs);
    __syncthreads();
    float acc0 = 0.0f, acc1 = 0.0f;
    uint32_t rbuf = 0, xr = 0;
    auto step = [&](auto CUR) -> bool {
        constexpr int C = decltype(CUR)::value;
        uint64_t ntb = tb;
        uint32_t ncc = cc + U;
        if (ncc >= cend) ncc = c0, ntb = tb + gridDim.x;
        const bool more = ntb * G < ntiles;
        if constexpr (PF) {
            if (more) load(std::integral_constant<int, C ^ 1>{}, ntb, ncc);
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (!(cc + u < c1)) break;
            chunk_math<EX, false, RO>(qa[C][u], qb[C][u], sa[C][u], sbv[C][u], cc + u, t, smx, sxs, acc0, acc1, xr);
        }
        if constexpr (!PF) {
            if (more) load(I0{}, ntb, ncc);
        }
        if (ntb != tb) { /* the tile's slices are done */
            const uint64_t rt = tb * G + gi, r = rt * 16 + g;
            if (RO) acc0 = (float)(xr & 1), acc1 = 0.0f;
            if (S == 1) {
                if (active && t == 0) {
                    if (r < a.n) a.y[r] = acc0;
                    if (r + 8 < a.n) a.y[r + 8] = acc1;
                }
            } else {
                if (active && t == 0) red[rbuf][wi][g] = acc0, red[rbuf][wi][g + 8] = acc1;
                __syncthreads();
                if (active && s == 0 && lane < 16 && rt * 16 + lane < a.n) {
                    float v = 0.0f;
                    for (uint32_t i = 0; i < S; i++) v += red[rbuf][wi + i][lane];
                    a.y[rt * 16 + lane] = v;
                }
                rbuf ^= 1;
            }
            acc0 = acc1 = 0.0f;
        }
        tb = ntb, cc = ncc;
        return more;
    };
    if (tb * G < ntiles) {
        if constexpr (PF) {
            while (step(I0{}) && step(I1{})) {
            }
        } else {
            while (step(I0{})) {
            }
        }
    }
}

/* ---------------------------------------------------------------------------
 * The same math with the tile records streamed into shared memory by the
 * copy engine: each warp owns NS stages of U records (U x 1152 bytes),
 * lane 0 starts a bulk copy (cp.async.bulk, completing on the stage's
 * mbarrier) NS steps ahead, so a warp keeps NS x U x 1152 bytes in flight
 * without holding them in registers.  The first NS copies start before
 * griddepcontrol.wait.
 * ------------------------------------------------------------------------- */
template <int U, int NS, int NW, bool RO, bool MH = false>
__global__ void __launch_bounds__(32 * NW) qmt(Args a) {
    extern __shared__ __align__(16) uint4 smx[];
    __shared__ __align__(8) uint64_t bars[NW][NS];
    __shared__ float red[2][NW][16];
    const uint32_t k = a.k, kp = (k + 127) & ~127u, NB = kp / 32, NC = kp / 128, S = a.S, G = NW / S;
    float *sxs = (float *)(smx + 4 * NB);
    const uint32_t lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3, wi = threadIdx.x >> 5;
    const uint32_t s = wi % S, gi = wi / S;
    const uint32_t CS = (NC + S - 1) / S, c0 = s * CS, c1 = min(c0 + CS, NC), SPT = (CS + U - 1) / U;
    const uint64_t ntiles = (a.n + 15) / 16;
    uint8_t *ring = (uint8_t *)(sxs + ((NB + 3) & ~3u)) + (size_t)wi * NS * U * 1152;
    const uint64_t pol = mlxc_bulk::evict_first();
    /* step j: tile blockIdx.x + (j / SPT) gridDim.x, chunks c0 + (j % SPT) U .. */
    auto tile_of = [&](uint32_t j) { return (uint64_t)blockIdx.x + (uint64_t)(j / SPT) * gridDim.x; };
    auto nvalid = [&](uint32_t j) -> uint32_t {
        const uint32_t c = c0 + (j % SPT) * U;
        if (tile_of(j) * G + gi >= ntiles || c >= c1) return 0;
        return min((uint32_t)U, c1 - c);
    };
    auto issue = [&](uint32_t j) {
        const uint32_t nv = nvalid(j);
        if (lane == 0 && nv) {
            const uint64_t rt = tile_of(j) * G + gi;
            const uint32_t c = c0 + (j % SPT) * U;
            mlxc_bulk::copy(ring + (j % NS) * U * 1152, a.w + (rt * NC + c) * 1152, nv * 1152, &bars[wi][j % NS], pol);
        }
    };
    if (lane == 0)
        for (int i = 0; i < NS; i++) mlxc_bulk::bar_init(&bars[wi][i]);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    __syncwarp();
    for (uint32_t j = 0; j < NS; j++) issue(j);
    asm volatile("griddepcontrol.wait;\n\tgriddepcontrol.launch_dependents;" ::: "memory");
    stage_x(a.x, k, NB, smx, sxs);
    __syncthreads();
    float acc0 = 0.0f, acc1 = 0.0f;
    uint32_t rbuf = 0, xr = 0, phase = 0;
    for (uint32_t j = 0; tile_of(j) * G < ntiles; j++) {
        const uint32_t nv = nvalid(j), st = j % NS, cc = c0 + (j % SPT) * U;
        if (nv) {
            mlxc_bulk::bar_wait(&bars[wi][st], (phase >> st) & 1);
            phase ^= 1u << st;
        }
        const uint8_t *stg = ring + st * U * 1152;
#pragma unroll
        for (int u = 0; u < U; u++) {
            if ((uint32_t)u >= nv) break;
            const uint8_t *rec = stg + u * 1152;
            const uint4 qA = *(const uint4 *)(rec + 16 * lane), qB = *(const uint4 *)(rec + 512 + 16 * lane);
            const uint2 sA = *(const uint2 *)(rec + 1024 + 8 * g), sB = *(const uint2 *)(rec + 1088 + 8 * g);
            chunk_math<false, MH, RO>(qA, qB, sA, sB, cc + u, t, smx, sxs, acc0, acc1, xr);
        }
        /* the stage is read: refill it NS steps ahead */
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        __syncwarp();
        issue(j + NS);
        if (j % SPT == SPT - 1) { /* the tile's slices are done */
            const uint64_t rt = tile_of(j) * G + gi, r = rt * 16 + g;
            if (RO) acc0 = (float)(xr & 1), acc1 = 0.0f;
            if (S == 1) {
                if (t == 0) {
                    if (r < a.n) a.y[r] = acc0;
                    if (r + 8 < a.n) a.y[r + 8] = acc1;
                }
            } else {
                if (t == 0) red[rbuf][wi][g] = acc0, red[rbuf][wi][g + 8] = acc1;
                __syncthreads();
                if (s == 0 && lane < 16 && rt * 16 + lane < a.n) {
                    float v = 0.0f;
                    for (uint32_t i = 0; i < S; i++) v += red[rbuf][wi + i][lane];
                    a.y[rt * 16 + lane] = v;
                }
                rbuf ^= 1;
            }
            acc0 = acc1 = 0.0f;
        }
    }
}

/* ------------------------------------------------------------------ host */
static float h2f(uint16_t h) {
    __half x;
    memcpy(&x, &h, 2);
    return __half2float(x);
}
static uint16_t f2bf(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}
static float bf2f(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
typedef void (*kfn)(Args);
static int sms;
struct Variant {
    const char *name;
    kfn f;
    int nw, minb, ro, tl, ring; /* ring: bytes of TMA stages a block (0: none) */
};
#define V(U, NW, MB, PF, EX, RO, TL, NAME) {NAME, qmx<U, NW, MB, PF, EX, RO, TL>, NW, MB, RO, TL, 0}
#define T(U, NS, NW, RO, NAME) {NAME, qmt<U, NS, NW, RO>, NW, 2, RO, 1, NW * NS * U * 1152}
#define TM(U, NS, NW, NAME) {NAME, qmt<U, NS, NW, false, true>, NW, 2, 0, 1, NW * NS * U * 1152}
static const Variant vs[] = {
    V(4, 8, 2, false, false, false, true, "tiles U4 8w x2"),
    T(2, 3, 8, false, "tma U2 NS3 8w"),
    TM(2, 3, 8, "tma U2 NS3 8w mulhi"),
    T(1, 4, 8, false, "tma U1 NS4 8w"),
    TM(1, 4, 8, "tma U1 NS4 8w mulhi"),
    T(4, 2, 8, false, "tma U4 NS2 8w"),
    TM(4, 2, 8, "tma U4 NS2 8w mulhi"),
    T(2, 2, 8, false, "tma U2 NS2 8w"),
    T(1, 3, 8, false, "tma U1 NS3 8w"),
    V(4, 8, 2, false, false, true, true, "read only tiles U4 8w x2"),
    T(2, 3, 8, true, "read only tma U2 NS3 8w"),
};
static const int NV = sizeof(vs) / sizeof(vs[0]);
static size_t smem_bytes(uint32_t k) {
    const uint32_t kp = (k + 127) & ~127u;
    return (size_t)kp / 32 * 4 * 16 + (size_t)kp / 32 * 4;
}
static int fit_cache[64][4];
static void launch(const Variant &v, Args a, cudaStream_t st, bool pdl) {
    const uint64_t ntiles = (a.n + 15) / 16, G = v.nw / a.S;
    const size_t smem = smem_bytes(a.k) + v.ring;
    const int vi = (int)(&v - vs), kb = a.k <= 2048 ? 0 : a.k <= 4096 ? 1 : a.k <= 11008 ? 2 : 3;
    if (!fit_cache[vi][kb]) {
        CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fit_cache[vi][kb], v.f, 32 * v.nw, smem));
        if (!fit_cache[vi][kb]) fit_cache[vi][kb] = -1;
    }
    const int fit = fit_cache[vi][kb];
    if (fit < 0) {
        fprintf(stderr, "%s: no block fits at k = %u\n", v.name, a.k);
        exit(2);
    }
    uint64_t grid = (ntiles + G - 1) / G;
    if (grid > (uint64_t)sms * fit) grid = (uint64_t)sms * fit;
    cudaLaunchConfig_t lc = {};
    lc.gridDim = dim3((unsigned)grid);
    lc.blockDim = dim3(32 * v.nw);
    lc.dynamicSmemBytes = smem;
    lc.stream = st;
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    lc.attrs = at;
    lc.numAttrs = pdl ? 1 : 0;
    CK(cudaLaunchKernelEx(&lc, v.f, a));
}

struct Mat { /* one shape's weights, `sets` copies on the device */
    uint32_t k, n, kp;
    size_t wbytes, sbytes;
    std::vector<uint8_t> rep, tiled;
    std::vector<uint16_t> sc;
    size_t tbytes;
    uint8_t *dw = nullptr, *dt = nullptr;
    uint16_t *ds = nullptr;
    int sets = 0;
};
static uint64_t seed = 0x9E3779B97F4A7C15ull;
static uint32_t rnd() {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(seed >> 33);
}
static void make(Mat &m, uint32_t k, uint32_t n, int sets) {
    m.k = k, m.n = n, m.kp = (k + 127) & ~127u;
    const uint32_t nb = m.kp / 32;
    m.wbytes = (size_t)n * m.kp / 2, m.sbytes = (size_t)n * nb * 2;
    m.rep.assign(m.wbytes, 0);
    m.sc.assign((size_t)n * nb, 0);
    for (uint32_t r = 0; r < n; r++)
        for (uint32_t b = 0; b < k / 32; b++) {
            const float d = (0.001f + (float)(rnd() % 1000) * 1e-5f) * (rnd() & 1 ? 1.0f : -1.0f);
            const __half hd = __float2half(d);
            memcpy(&m.sc[(size_t)r * nb + b], &hd, 2);
            uint8_t blk[16];
            for (int j = 0; j < 16; j++) blk[j] = (uint8_t)rnd();
            /* super-chunk c = b / 4, block i = b % 4: word t of the block
             * goes to lane t's 16 bytes, word i */
            const uint32_t c = b / 4, i = b % 4;
            for (int tt = 0; tt < 4; tt++) memcpy(&m.rep[(size_t)r * m.kp / 2 + 64 * c + 16 * tt + 4 * i], blk + 4 * tt, 4);
        }
    /* the tile-major twin: per 16-row tile and super-chunk, 1152 bytes */
    const uint32_t nt = (n + 15) / 16, nc = m.kp / 128;
    m.tbytes = (size_t)nt * nc * 1152;
    m.tiled.assign(m.tbytes, 0);
    for (uint32_t r = 0; r < n; r++)
        for (uint32_t c = 0; c < nc; c++) {
            uint8_t *rec = &m.tiled[((size_t)(r / 16) * nc + c) * 1152];
            const uint32_t g = r % 8, hi = r % 16 / 8;
            for (int tt = 0; tt < 4; tt++)
                memcpy(rec + 512 * hi + 16 * (4 * g + tt), &m.rep[(size_t)r * m.kp / 2 + 64 * c + 16 * tt], 16);
            memcpy(rec + 1024 + 64 * hi + 8 * g, &m.sc[(size_t)r * nb + 4 * c], 8);
        }
    m.sets = sets;
    CK(cudaMalloc(&m.dt, m.tbytes * sets));
    for (int s = 0; s < sets; s++) CK(cudaMemcpy(m.dt + m.tbytes * s, m.tiled.data(), m.tbytes, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&m.dw, m.wbytes * sets));
    CK(cudaMalloc(&m.ds, m.sbytes * sets));
    for (int s = 0; s < sets; s++) {
        CK(cudaMemcpy(m.dw + m.wbytes * s, m.rep.data(), m.wbytes, cudaMemcpyHostToDevice));
        CK(cudaMemcpy((uint8_t *)m.ds + m.sbytes * s, m.sc.data(), m.sbytes, cudaMemcpyHostToDevice));
    }
}
/* value j (0..31) of block b of row r, from the repacked codes */
static int code(const Mat &m, uint32_t r, uint32_t b, uint32_t j) {
    const uint32_t byte = j % 16, c = b / 4, i = b % 4, tt = byte / 4;
    const uint8_t v = m.rep[(size_t)r * m.kp / 2 + 64 * c + 16 * tt + 4 * i + byte % 4];
    return j < 16 ? (v & 15) : (v >> 4);
}
static uint32_t pick_s(uint32_t k, uint32_t n, int nw, int minb) {
    /* the fewest slices whose block tiles fill the SMs' slots once */
    const uint32_t nc = ((k + 127) & ~127u) / 128, ntiles = (n + 15) / 16;
    for (uint32_t S = 1; S <= (uint32_t)nw; S *= 2) {
        if (nc / S < 2) return S > 1 ? S / 2 : 1;
        if ((uint64_t)ntiles * S / nw >= (uint64_t)sms * minb) return S;
    }
    return nw;
}

int main(int argc, char **argv) {
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    sms = prop.multiProcessorCount;
    for (int i = 0; i < NV; i++)
        CK(cudaFuncSetAttribute(vs[i].f, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024));
    cudaStream_t st;
    CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    double cus;
    const double ceiling = probe_copy_ceiling(st, &cus);
    printf("%s, %d SMs; copy 256 MiB: %.1f us, %.0f GB/s (read + write): the ceiling below\n\n", prop.name, sms, cus,
           ceiling / 1e9);
    const bool quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    const uint32_t shapes[][2] = {{4096, 14336}, {14336, 4096}, {4096, 12288}, {4096, 4096}, {4096, 22016},
                                  {11008, 4096}, {2048, 16384}, {8192, 2048}};
    const int nsh = quick ? 2 : (int)(sizeof(shapes) / sizeof(shapes[0]));
    int bad = 0;
    uint16_t *dx;
    float *dy;
    CK(cudaMalloc(&dx, 32768 * 2));
    CK(cudaMalloc(&dy, 32768 * 4));
    std::vector<uint16_t> hx(32768);
    for (auto &v : hx) v = f2bf(((float)(rnd() % 20001) - 10000.0f) * 2e-4f);
    CK(cudaMemcpy(dx, hx.data(), hx.size() * 2, cudaMemcpyHostToDevice));

    printf("## Stream order, cold (S: k slices a row tile)\n\n| variant | k x n | S | us | GB/s | of copy | nerr |\n"
           "|---|---|---:|---:|---:|---:|---|\n");
    for (int si = 0; si < nsh; si++) {
        const uint32_t k = shapes[si][0], n = shapes[si][1];
        Mat m;
        const double mb = (double)n * k * 9 / 16;
        make(m, k, n, (int)(4 * 60e6 / mb) + 2);
        std::vector<double> ref(n), mag(n);
        for (uint32_t r = 0; r < n; r++) {
            double acc = 0, ab = 0;
            for (uint32_t b = 0; b < k / 32; b++) {
                const double d = h2f(m.sc[(size_t)r * (m.kp / 32) + b]);
                for (uint32_t j = 0; j < 32; j++) {
                    const double p = d * (code(m, r, b, j) - 8) * bf2f(hx[32 * b + j]);
                    acc += p, ab += fabs(p);
                }
            }
            ref[r] = acc, mag[r] = ab;
        }
        for (int vi = 0; vi < NV; vi++) {
            const Variant &v = vs[vi];
            const uint32_t s_auto = pick_s(k, n, v.nw, v.minb);
            for (uint32_t S = 1; S <= (uint32_t)v.nw; S *= 2) {
                if (((k + 127) / 128) / S < 1) break;
                if (!quick && S != s_auto && S != s_auto * 2 && S * 2 != s_auto) continue;
                auto wp = [&](int s) { return v.tl ? m.dt + m.tbytes * s : m.dw + m.wbytes * s; };
                Args a = {wp(0), m.ds, dx, dy, n, k, S};
                CK(cudaMemsetAsync(dy, 0xff, n * 4, st));
                launch(v, a, st, false);
                CK(cudaStreamSynchronize(st));
                CK(cudaGetLastError());
                std::vector<float> hy(n);
                CK(cudaMemcpy(hy.data(), dy, n * 4, cudaMemcpyDeviceToHost));
                double err = 0;
                for (uint32_t r = 0; r < n; r++) {
                    const double e = fabs(hy[r] - ref[r]) / (mag[r] > 0 ? mag[r] : 1);
                    err = e > err || e != e ? e : err;
                }
                const bool ok = v.ro || err <= 1e-5;
                bad |= !ok;
                for (int s = 0; s < m.sets; s++) {
                    a.w = wp(s), a.sc = (const uint16_t *)((const uint8_t *)m.ds + m.sbytes * s);
                    launch(v, a, st, false);
                }
                float best = 1e30f;
                const int iters = 10 * m.sets;
                for (int rep = 0; rep < 3; rep++) {
                    CK(cudaEventRecord(e0, st));
                    for (int i = 0; i < iters; i++) {
                        const int s = i % m.sets;
                        a.w = wp(s), a.sc = (const uint16_t *)((const uint8_t *)m.ds + m.sbytes * s);
                        launch(v, a, st, false);
                    }
                    CK(cudaEventRecord(e1, st));
                    CK(cudaEventSynchronize(e1));
                    float ms;
                    CK(cudaEventElapsedTime(&ms, e0, e1));
                    if (ms < best) best = ms;
                }
                const double tt = best * 1e-3 / iters, moved = (double)m.wbytes + m.sbytes + k * 2.0 + n * 4.0;
                printf("| %s | %u x %u | %u%s | %.2f | %.0f | %.1f%% | %.1e %s |\n", v.name, k, n, S,
                       S == s_auto ? "*" : "", tt * 1e6, moved / tt / 1e9, 100.0 * moved / tt / ceiling, err,
                       v.ro ? "(no result)" : ok ? "ok" : "MISMATCH");
                fflush(stdout);
            }
        }
        CK(cudaFree(m.dw));
        CK(cudaFree(m.dt));
        CK(cudaFree(m.ds));
    }

    /* the 7B layer chain in one graph with programmatic dependent launch */
    printf("\n## 7B layer chain (qkv 4096x12288, o 4096x4096, gate/up 4096x22016, down 11008x4096) x 8, one graph, "
           "PDL, S auto\n\n| variant | us / chain | us / kernel | GB/s | of copy |\n|---|---:|---:|---:|---:|\n");
    const uint32_t lay[4][2] = {{4096, 12288}, {4096, 4096}, {4096, 22016}, {11008, 4096}};
    Mat lm[4];
    for (int i = 0; i < 4; i++) make(lm[i], lay[i][0], lay[i][1], 8);
    double total = 0;
    for (int i = 0; i < 4; i++) total += 8.0 * (lm[i].wbytes + lm[i].sbytes);
    for (int vi = 0; vi < NV; vi++) {
        const Variant &v = vs[vi];
        CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
        for (int l = 0; l < 8; l++)
            for (int i = 0; i < 4; i++) {
                const Mat &m = lm[i];
                Args a = {v.tl ? m.dt + m.tbytes * l : m.dw + m.wbytes * l, (const uint16_t *)((const uint8_t *)m.ds + m.sbytes * l), dx, dy, m.n, m.k,
                          pick_s(m.k, m.n, v.nw, v.minb)};
                launch(v, a, st, true);
            }
        const double tt = probe_graph_seconds(st);
        printf("| %s | %.1f | %.2f | %.0f | %.1f%% |\n", v.name, tt * 1e6, tt * 1e6 / 32, total / tt / 1e9,
               100.0 * total / tt / ceiling);
        fflush(stdout);
    }
    printf("\n(bytes: codes and scales, plus x and y in the stream-order rows)\n");
    return bad;
}
