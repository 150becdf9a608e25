/*
 * Prefill flash attention on Hopper (sm_90a): attn_prefill_sm90_hdHD_KV
 * (params_attention.h), included by attention.cu after the mma.sync
 * kernels, whose helpers (prefill_range, ld_dt, st2_dt, cp_async16) it uses.
 *
 * One CTA per (128-query tile, head), heaviest causal tiles first, three
 * warpgroups:
 *   - warpgroup 0 produces: it streams the K and V tiles (128 keys each) of
 *     the CTA's key range into STAGES shared-memory stages with cp.async, in
 *     the 128-byte swizzle wgmma reads (wgmma_sm90.cuh), and signals each
 *     with an mbarrier (fullK, fullV) that completes when its copies land;
 *     it waits on the stage's emptyK (emptyV) barrier before refilling its
 *     K (V) half.  STAGES is 3 at head dim 128 (224 KB with Q), 6 at 64.
 *     It gives its registers away (setmaxnreg 40).
 *   - warpgroups 1 and 2 consume (setmaxnreg 232): each owns 64 query rows,
 *     converted to the K/V dtype: at head dim 64 held in registers as the A
 *     fragments, at 128 stored in its part of sQ (in registers the 32 more
 *     would spill).  Per tile:
 *       S = Q K^T      wgmma m64n128k16, Q from registers or shared memory,
 *                      K from shared memory
 *       online softmax in f32 registers (log2 domain), masks only on tiles
 *                      that cross a row's [lo, hi); tiles no row of the
 *                      warpgroup sees are skipped
 *       O += P V       wgmma m64nHDk16, P from registers (the S
 *                      accumulators rounded to the K/V dtype: their layout
 *                      is the A fragment), V as the transposed B operand
 *     pipelined within the warpgroup: S of tile j is issued, then P V of
 *     tile j - 1, and the softmax of tile j runs while P V is in flight
 *     (the two warpgroups also overlap each other's softmax and MMAs).
 *     A warp releases K of a stage (arrives on emptyK) once S has read it,
 *     V once P V has: K of tile j + STAGES can load while P V of tile j runs.  The output is normalised, rounded, staged
 *     through the warpgroup's sQ and written in 16-byte rows.
 *
 * The numerics are those of the mma.sync kernel: Q and P rounded to the K/V
 * dtype, f32 accumulation, exp2 of logit * log2(e) - running max; a row
 * that sees no key gets zeros.  The exp2 is ex2.approx.ftz (probabilities
 * below 2^-126 are 0) and, with no softcap and a positive scale, its
 * argument is one FFMA (logit * scale * log2(e) - max): within rounding of
 * the mma.sync kernel's.
 *
 * Launch contract (the grid convention of params_elementwise.h): any grid (items are
 * walked grid-stride, a snake over the blocks per round so that the
 * heaviest-first order stays balanced when the grid is smaller than the
 * work).  The fast path needs sm_90a, a block of exactly
 * MLXC_ATTN_SM90_THREADS threads, MLXC_ATTN_SM90_SMEM(HD) bytes of dynamic
 * shared memory 1024-byte aligned and 16-byte aligned K and V; any other
 * launch (or architecture) runs `plain`, the same function in f32 without
 * rounding Q or P.
 */
#include <type_traits>

#include "wgmma_sm90.cuh"

namespace mlxc_attn {
namespace sm90 {

constexpr int NTH = (int)MLXC_ATTN_SM90_THREADS, BQ = (int)MLXC_ATTN_SM90_BQ, BK = (int)MLXC_ATTN_SM90_BK;

/* Optimisation bits of the fast path (OPT), all set in the library's
 * kernels; the others are built only by dev/cuda/attention_prefill_ab.cu:
 *   OPT_PROD  producer: each thread copies one fixed 16-byte column of rows
 *             r0, r0 + RP, ...: one base address per tile, the swizzled
 *             offsets are immediates (was ~20 integer instructions per copy)
 *   OPT_EXP   ex2.approx.ftz for the probabilities (exp2f adds a denormal
 *             fix-up: a compare and two multiplies per element)
 *   OPT_DESC  wgmma descriptors built once per tile, per-k offsets added
 *   OPT_TREE  softmax row max / sum in 4 partial chains (softmax_tile)
 *   OPT_FUSE  softmax scale folded into the exponent's FFMA (softmax_tile) */
constexpr int OPT_PROD = 1, OPT_EXP = 2, OPT_DESC = 4, OPT_TREE = 8, OPT_FUSE = 16, OPT_ALL = 31;

__device__ __forceinline__ uint32_t dynamic_smem_bytes() {
    uint32_t v;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(v));
    return v;
}
__device__ __forceinline__ bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

/* One work item: query tile qt (rows [t0, t0 + BQ)) of head h; the CTA's
 * key range [blo, bhi) in ntiles tiles of BK keys from blo. */
struct item_t {
    uint32_t h;
    int64_t t0, last, blo, bhi;
    int ntiles;
};

/* Walk the items of this block: round r covers items [r*G, r*G + G), block
 * b takes r*G + b on even rounds and r*G + G - 1 - b on odd ones; item i is
 * query tile ntq - 1 - i / H (heaviest first) of head i % H. */
template <typename F> __device__ __forceinline__ void for_each_item(const mlxc_p_attn_prefill &p, F fn) {
    const uint64_t ntq = (p.q_len + BQ - 1) / BQ, n = ntq * p.n_heads, G = mlxc::block_count(),
                   b = mlxc::block_linear();
    for (uint64_t base = 0, r = 0; base < n; base += G, r++) {
        const uint64_t i = base + ((r & 1) ? G - 1 - b : b);
        if (i >= n) continue;
        item_t it;
        const uint64_t qt = ntq - 1 - i / p.n_heads;
        it.h = (uint32_t)(i % p.n_heads);
        it.t0 = (int64_t)qt * BQ;
        it.last = it.t0 + BQ - 1 < (int64_t)p.q_len - 1 ? it.t0 + BQ - 1 : (int64_t)p.q_len - 1;
        int64_t x0, x1;
        prefill_range(p, it.t0, it.blo, x0);
        prefill_range(p, it.last, x1, it.bhi);
        it.ntiles = it.blo < it.bhi ? (int)((it.bhi - it.blo + BK - 1) / BK) : 0;
        fn(it);
    }
}

/* The plain path: one thread per (query row, head, 16 output dims), an
 * online softmax over the row's keys in f32, K and V read from global. */
template <typename T, int HD>
__device__ void plain(const void *q, const T *k, const T *v, void *out, const mlxc_p_attn_prefill &p) {
    constexpr int DC = 16;
    const uint32_t H = p.n_heads, G = p.n_heads / p.n_kv_heads;
    const uint64_t units = (uint64_t)p.q_len * H * (HD / DC);
    const uint64_t stride = mlxc::block_count() * mlxc::thread_count();
    for (uint64_t u = mlxc::block_linear() * mlxc::thread_count() + mlxc::thread_linear(); u < units; u += stride) {
        const uint32_t d0 = (uint32_t)(u % (HD / DC)) * DC;
        const uint64_t rh = u / (HD / DC);
        const uint32_t h = (uint32_t)(rh % H);
        const int64_t row = (int64_t)(rh / H);
        int64_t lo, hi;
        prefill_range(p, row, lo, hi);
        const uint64_t qb = ((uint64_t)row * H + h) * HD;
        const T *kh = k + (uint64_t)(h / G) * p.capacity * HD, *vh = v + (uint64_t)(h / G) * p.capacity * HD;
        float m = -INFINITY, l = 0.0f, o[DC];
#pragma unroll
        for (int d = 0; d < DC; d++) o[d] = 0.0f;
        for (int64_t j = lo; j < hi; j++) {
            float s = 0.0f;
            for (int d = 0; d < HD; d++) s += ld_dt(p.q_dtype, q, qb + d) * mlxc::conv<T>::load(kh[j * HD + d]);
            float x = s * p.scale;
            if (p.softcap > 0.0f) x = p.softcap * tanhf(x / p.softcap);
            x *= LOG2E;
            const float mn = fmaxf(m, x), corr = exp2f(m - mn), e = exp2f(x - mn);
            m = mn;
            l = l * corr + e;
#pragma unroll
            for (int d = 0; d < DC; d++) o[d] = o[d] * corr + e * mlxc::conv<T>::load(vh[j * HD + d0 + d]);
        }
        const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
        for (int d = 0; d < DC; d += 2) st2_dt(p.out_dtype, out, qb + d0 + d, o[d] * inv, o[d + 1] * inv);
    }
}

#if MLXC_WG_SM90

template <int HD> struct cfg {
    static constexpr int ST = (int)MLXC_ATTN_SM90_STAGES(HD);
    static constexpr uint32_t WQ = 64u * HD * 2u;        /* one consumer's Q rows (and output staging) */
    static constexpr uint32_t KV = (uint32_t)BK * HD * 2u; /* one K or V tile */
    static constexpr uint32_t STAGE0 = 2u * WQ;          /* stage s: K at STAGE0 + 2s*KV, V after it */
    /* mbarriers: fullK[ST], fullV[ST], emptyK[ST], emptyV[ST] */
    static constexpr uint32_t BAR = STAGE0 + (uint32_t)ST * 2u * KV;
    static constexpr uint32_t FULL_K = BAR, FULL_V = BAR + ST * 8, EMPTY_K = BAR + 2 * ST * 8, EMPTY_V = BAR + 3 * ST * 8;
    static_assert(BAR + ST * 32 == MLXC_ATTN_SM90_SMEM(HD), "the front-end's shared memory size");
    static_assert(HD % 64 == 0 && HD <= 128, "64-element column blocks; registers");
};

__device__ __forceinline__ void st_shared16(uint32_t addr, uint4 v) {
    asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};" ::"r"(addr), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w)
                 : "memory");
}
__device__ __forceinline__ uint4 ld_shared16(uint32_t addr) {
    uint4 v;
    asm volatile("ld.shared.v4.b32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr)
                 : "memory");
    return v;
}
__device__ __forceinline__ void st_shared4(uint32_t addr, uint32_t v) {
    asm volatile("st.shared.b32 [%0], %1;" ::"r"(addr), "r"(v) : "memory");
}

/* Byte offset of 16-byte chunk c (8 elements) of row r in a swizzled tile of R rows. */
template <int R> __device__ __forceinline__ uint32_t swz(int r, int c) {
    return (uint32_t)(c >> 3) * (R * 128u) + (uint32_t)r * 128u + ((uint32_t)((c & 7) ^ (r & 7)) << 4);
}

/* cp.async of 16 bytes that always copies (the full-tile path). */
__device__ __forceinline__ void cp_async16_all(uint32_t dst, const void *src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(src));
}


template <typename T, int HD, int OPT>
__device__ __forceinline__ void producer(const T *k, const T *v, const mlxc_p_attn_prefill &p, uint32_t sbase) {
    using C = cfg<HD>;
    constexpr int CH = HD / 8;
    const int tid = (int)threadIdx.x; /* 0..127 */
    const uint32_t G = p.n_heads / p.n_kv_heads;
    uint32_t it = 0;
    /* OPT_PROD: thread tid copies chunk c of rows r0 + RP n, n < NP; RP is a
     * multiple of 8, so the swizzle (row & 7) is r0's for every n. */
    constexpr int RP = 128 / CH, NP = BK / RP;
    static_assert(RP % 8 == 0 && BK % RP == 0, "rows per pass");
    const int c0 = tid % CH, r0 = tid / CH;
    const uint32_t soff = swz<BK>(r0, c0);
    for_each_item(p, [&](const item_t &I) {
        const T *kh = k + (uint64_t)(I.h / G) * p.capacity * HD, *vh = v + (uint64_t)(I.h / G) * p.capacity * HD;
        for (int j = 0; j < I.ntiles; j++, it++) {
            const uint32_t s = it % C::ST, u = it / C::ST;
            const int64_t key0 = I.blo + (int64_t)j * BK;
            const uint32_t sk = sbase + C::STAGE0 + 2 * s * C::KV, sv = sk + C::KV;
            if constexpr ((OPT & OPT_PROD) != 0) {
                const int64_t left = I.bhi - key0 - r0; /* rows r0 + RP n valid iff RP n < left */
                const bool full = key0 + BK <= I.bhi;
                auto tile = [&](const T *src, uint32_t dst) {
                    const T *g = src + (key0 + r0) * HD + c0 * 8;
                    if (full) {
#pragma unroll
                        for (int n = 0; n < NP; n++) cp_async16_all(dst + soff + n * RP * 128, g + n * RP * HD);
                    } else {
#pragma unroll
                        for (int n = 0; n < NP; n++) {
                            const bool ok = RP * n < left;
                            cp_async16(dst + soff + n * RP * 128, ok ? g + n * RP * HD : src, ok);
                        }
                    }
                };
                if (u > 0) mlxc_wg::mbar_wait(sbase + C::EMPTY_K + s * 8, (u - 1) & 1);
                tile(kh, sk);
                mlxc_wg::mbar_arrive_cp_async(sbase + C::FULL_K + s * 8);
                if (u > 0) mlxc_wg::mbar_wait(sbase + C::EMPTY_V + s * 8, (u - 1) & 1);
                tile(vh, sv);
                mlxc_wg::mbar_arrive_cp_async(sbase + C::FULL_V + s * 8);
            } else {
                auto tile = [&](const T *src, uint32_t dst) {
#pragma unroll 4
                    for (int i = tid; i < BK * CH; i += 128) {
                        const int row = i / CH, c = i % CH;
                        const int64_t pos = key0 + row;
                        const bool valid = pos < I.bhi;
                        cp_async16(dst + swz<BK>(row, c), src + (valid ? pos : 0) * HD + c * 8, valid);
                    }
                };
                if (u > 0) mlxc_wg::mbar_wait(sbase + C::EMPTY_K + s * 8, (u - 1) & 1);
                tile(kh, sk);
                mlxc_wg::mbar_arrive_cp_async(sbase + C::FULL_K + s * 8);
                if (u > 0) mlxc_wg::mbar_wait(sbase + C::EMPTY_V + s * 8, (u - 1) & 1);
                tile(vh, sv);
                mlxc_wg::mbar_arrive_cp_async(sbase + C::FULL_V + s * 8);
            }
        }
    });
    cp_async_wait<0>();
}

/* Logits of one S tile to probabilities, in place: scale (and softcap), the
 * mask when MASK (column c of row r is visible iff rlo[r] <= c < rhi[r],
 * relative to the tile), the running max m and sum l of this thread's two
 * rows; corr = the factor the output rows must be multiplied by. */
/* 2^x; -inf gives 0, results below 2^-126 flush to 0 (a probability that
 * small is 0 after rounding P to the K/V dtype's use in P V anyway). */
__device__ __forceinline__ float ex2_ftz(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
template <bool FAST> __device__ __forceinline__ float pexp2(float x) { return FAST ? ex2_ftz(x) : exp2f(x); }

/* TREE: the row max and sum in 4 independent partial chains per row (each
 * thread holds 32 values of each of its two rows: one chain is 32 dependent
 * FMNMX / FADD).  FUSE (no softcap, sl2 > 0): the max taken on the raw
 * logits (the scale is positive, so it commutes with max) and the scale
 * folded into the exponent: p = 2^(s sl2 - mu) in one FFMA. */
template <bool MASK, bool CAP, bool FAST, bool TREE, bool FUSE>
__device__ __forceinline__ void softmax_tile(float (&s)[BK / 2], const int (&rlo)[2], const int (&rhi)[2], int t,
                                             float sl2, float scale, float softcap, float (&m)[2], float (&l)[2],
                                             float (&corr)[2]) {
    static_assert(!(FUSE && CAP), "the softcap is not linear");
    constexpr int NP = TREE ? 4 : 1;
    float mx[2][NP];
#pragma unroll
    for (int r = 0; r < 2; r++)
#pragma unroll
        for (int i = 0; i < NP; i++) mx[r][i] = -INFINITY;
#pragma unroll
    for (int n = 0; n < BK / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            float x;
            if (CAP) x = softcap * tanhf(s[4 * n + e] * scale / softcap) * LOG2E;
            else if (FUSE) x = s[4 * n + e];
            else x = s[4 * n + e] * sl2;
            if (MASK) {
                const int c = 8 * n + 2 * t + (e & 1);
                if (c < rlo[e >> 1] || c >= rhi[e >> 1]) x = -INFINITY;
            }
            s[4 * n + e] = x;
            const int i = TREE ? (n & 1) * 2 + (e & 1) : 0;
            mx[e >> 1][i] = fmaxf(mx[e >> 1][i], x);
        }
    float mu[2], ls[2][NP];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float v = mx[r][0];
        if (TREE) v = fmaxf(fmaxf(mx[r][0], mx[r][1]), fmaxf(mx[r][2], mx[r][3]));
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
        if (FUSE) v *= sl2; /* -inf stays -inf (sl2 > 0) */
        const float mn = fmaxf(m[r], v);
        mu[r] = mn == -INFINITY ? 0.0f : mn; /* a row that saw nothing yet: p = 0 */
        corr[r] = pexp2<FAST>(m[r] - mu[r]);
        m[r] = mn;
#pragma unroll
        for (int i = 0; i < NP; i++) ls[r][i] = 0.0f;
    }
#pragma unroll
    for (int n = 0; n < BK / 8; n++)
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const float x = s[4 * n + e];
            const float pr = pexp2<FAST>(FUSE ? fmaf(x, sl2, -mu[e >> 1]) : x - mu[e >> 1]);
            s[4 * n + e] = pr;
            ls[e >> 1][TREE ? (n & 1) * 2 + (e & 1) : 0] += pr;
        }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const float sum = TREE ? (ls[r][0] + ls[r][1]) + (ls[r][2] + ls[r][3]) : ls[r][0];
        l[r] = l[r] * corr[r] + sum;
    }
}

template <typename T, int HD, bool QSMEM, int OPT>
__device__ __forceinline__ void consumer(const void *q, void *out, const mlxc_p_attn_prefill &p, uint32_t sbase, int w,
                                         bool q_vec, bool out_vec) {
    using C = cfg<HD>;
    constexpr int CH = HD / 8;
    const int tw = (int)threadIdx.x - 128 * (1 + w), wi = tw >> 5, lane = tw & 31, g = lane >> 2, t = lane & 3;
    const uint32_t sQ = sbase + (uint32_t)w * C::WQ, bar_id = 1 + w;
    const uint32_t H = p.n_heads;
    const float sl2 = p.scale * LOG2E;
    constexpr bool FAST_EXP = (OPT & OPT_EXP) != 0, DESC = (OPT & OPT_DESC) != 0, TREE = (OPT & OPT_TREE) != 0,
                   FUSE = (OPT & OPT_FUSE) != 0;
    uint32_t it = 0;

    auto full_k = [&](uint32_t i) { return sbase + C::FULL_K + (i % C::ST) * 8; };
    auto full_v = [&](uint32_t i) { return sbase + C::FULL_V + (i % C::ST) * 8; };
    auto parity = [&](uint32_t i) { return (i / C::ST) & 1u; };
    /* K of a stage is free once S read it, V once P V read it; each warp
     * arrives for itself (8 arrivals free a stage) */
    auto release_k = [&](uint32_t i) {
        __syncwarp();
        if (lane == 0) mlxc_wg::mbar_arrive(sbase + C::EMPTY_K + (i % C::ST) * 8);
    };
    auto release_v = [&](uint32_t i) {
        __syncwarp();
        if (lane == 0) mlxc_wg::mbar_arrive(sbase + C::EMPTY_V + (i % C::ST) * 8);
    };
    /* A tile this warpgroup does not see: released once it has landed (so
     * that an arrival never counts toward the stage's previous use). */
    auto skip = [&](uint32_t i) {
        mlxc_wg::mbar_wait(full_k(i), parity(i));
        release_k(i);
        mlxc_wg::mbar_wait(full_v(i), parity(i));
        release_v(i);
    };
    auto sk = [&](uint32_t i) { return sbase + C::STAGE0 + 2 * (i % C::ST) * C::KV; };

    for_each_item(p, [&](const item_t &I) {
        const int64_t wr0 = I.t0 + 64 * w;
        const int64_t wl = wr0 + 63 < (int64_t)p.q_len - 1 ? wr0 + 63 : (int64_t)p.q_len - 1;
        int jlo = 0, jhi = 0;
        int64_t lo_first = 0, hi_first = 0, lo_last = 0, hi_last = 0;
        if (wr0 < (int64_t)p.q_len) {
            prefill_range(p, wr0, lo_first, hi_first);
            prefill_range(p, wl, lo_last, hi_last);
            if (lo_first < hi_last) {
                jlo = (int)((lo_first - I.blo) / BK);
                jhi = (int)((hi_last - I.blo + BK - 1) / BK);
            }
        }

        /* Key limits relative to blo (clamped: a tile offset never exceeds
         * 2^30 keys): this thread's two rows, and the warpgroup's bounds of
         * the tiles that need no mask. */
        auto rel = [&](int64_t x) -> int {
            const int64_t d = x - I.blo;
            return d < -1 ? -1 : d > (1 << 30) ? (1 << 30) : (int)d;
        };
        int rl[2], rh[2];
        {
            int64_t a, b;
            prefill_range(p, wr0 + 16 * wi + g, a, b);
            rl[0] = rel(a);
            rh[0] = rel(b);
            prefill_range(p, wr0 + 16 * wi + g + 8, a, b);
            rl[1] = rel(a);
            rh[1] = rel(b);
        }
        const int full_lo = rel(lo_last), full_hi = rel(hi_first);
        /* Q of this warpgroup as T: in registers (the A fragments of S =
         * Q K^T: rows 16 wi + g and + 8, dims 16 kk + 2t (+1, +8, +9)), or
         * with QSMEM in sQ (swizzled, the A operand from shared memory). */
        uint32_t qf[QSMEM ? 1 : HD / 16][4];
        if (!QSMEM && jlo < jhi) {
            const int64_t r0 = wr0 + 16 * wi + g;
#pragma unroll
            for (int x = 0; x < 2; x++) {
                const int64_t row = r0 + 8 * x;
                const bool ok = row < (int64_t)p.q_len;
                const uint64_t e = ((uint64_t)(ok ? row : 0) * H + I.h) * HD + 2 * t;
#pragma unroll
                for (int kk = 0; kk < (QSMEM ? 0 : HD / 16); kk++)
#pragma unroll
                    for (int hf = 0; hf < 2; hf++) {
                        const uint64_t ee = e + 16 * kk + 8 * hf;
                        uint32_t v2 = 0;
                        if (ok) {
                            if (q_vec) v2 = *reinterpret_cast<const uint32_t *>(static_cast<const T *>(q) + ee);
                            else v2 = mma_t<T>::pack(ld_dt(p.q_dtype, q, ee), ld_dt(p.q_dtype, q, ee + 1));
                        }
                        qf[kk][x + 2 * hf] = v2;
                    }
            }
        }
        if (QSMEM && jlo < jhi) {
            mlxc_wg::bar_sync(bar_id, 128); /* the previous item's staging reads are done */
            for (int i = tw; i < 64 * CH; i += 128) {
                const int r = i / CH, c = i % CH;
                const int64_t row = wr0 + r;
                uint4 val = make_uint4(0, 0, 0, 0);
                if (row < (int64_t)p.q_len) {
                    const uint64_t e = ((uint64_t)row * H + I.h) * HD + c * 8;
                    if (q_vec) val = *reinterpret_cast<const uint4 *>(static_cast<const T *>(q) + e);
                    else {
                        float f[8];
#pragma unroll
                        for (int x = 0; x < 8; x++) f[x] = ld_dt(p.q_dtype, q, e + x);
                        val = make_uint4(mma_t<T>::pack(f[0], f[1]), mma_t<T>::pack(f[2], f[3]),
                                         mma_t<T>::pack(f[4], f[5]), mma_t<T>::pack(f[6], f[7]));
                    }
                }
                st_shared16(sQ + swz<64>(r, c), val);
            }
            mlxc_wg::fence_proxy_async();
            mlxc_wg::bar_sync(bar_id, 128);
        }

        float o[HD / 2], s[BK / 2];
        uint32_t pa[BK / 16][4];
        float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}, corr[2];
#pragma unroll
        for (int i = 0; i < HD / 2; i++) o[i] = 0.0f;

        /* DESC: a descriptor's low bits are the start address / 16 (below
         * 2^14 for any shared address + offset here), so the per-k operand
         * offsets are added to one descriptor built per tile. */
        const uint64_t dq0 = mlxc_wg::desc_kmajor(sQ);
        auto issue_s = [&](uint32_t i) {
            const uint32_t kb = sk(i);
            const uint64_t dk0 = mlxc_wg::desc_kmajor(kb);
#pragma unroll
            for (int kk = 0; kk < HD / 16; kk++) {
                const uint32_t ko = (kk >> 2) * (BK * 128) + (kk & 3) * 32, qo = (kk >> 2) * (64 * 128) + (kk & 3) * 32;
                const uint64_t db = DESC ? dk0 + (ko >> 4) : mlxc_wg::desc_kmajor(kb + ko);
                if constexpr (QSMEM)
                    mlxc_wg::mma_ss<T, BK>(s, DESC ? dq0 + (qo >> 4) : mlxc_wg::desc_kmajor(sQ + qo), db, kk > 0);
                else mlxc_wg::mma_rs<T, BK>(s, qf[QSMEM ? 0 : kk], db, kk > 0);
            }
        };
        auto issue_pv = [&](uint32_t i) {
            const uint32_t vb = sk(i) + C::KV;
            const uint64_t dv0 = mlxc_wg::desc_mnmajor(vb, BK * 128);
#pragma unroll
            for (int ks = 0; ks < BK / 16; ks++)
                mlxc_wg::mma_rs_tb<T, HD>(o, pa[ks],
                                          DESC ? dv0 + (uint32_t)(ks * 2048 >> 4) : mlxc_wg::desc_mnmajor(vb + ks * 2048, BK * 128),
                                          1);
        };
        /* the mask of tile j relative to its first key, and whether it is needed */
        auto tile_mask = [&](int j, int (&rlo)[2], int (&rhi)[2]) {
            const int key0 = j * BK;
#pragma unroll
            for (int r = 0; r < 2; r++) {
                const int a = rl[r] - key0, b = rh[r] - key0;
                rlo[r] = a < -1 ? -1 : a > BK ? BK : a;
                rhi[r] = b < -1 ? -1 : b > BK ? BK : b;
            }
            return !(key0 >= full_lo && key0 + BK <= full_hi);
        };
        auto softmax = [&](int j) {
            int rlo[2], rhi[2];
            const bool mask = tile_mask(j, rlo, rhi);
            if (p.softcap > 0.0f) {
                if (mask) softmax_tile<true, true, FAST_EXP, TREE, false>(s, rlo, rhi, t, sl2, p.scale, p.softcap, m, l, corr);
                else softmax_tile<false, true, FAST_EXP, TREE, false>(s, rlo, rhi, t, sl2, p.scale, p.softcap, m, l, corr);
            } else if (FUSE && sl2 > 0.0f) {
                if (mask) softmax_tile<true, false, FAST_EXP, TREE, FUSE>(s, rlo, rhi, t, sl2, p.scale, p.softcap, m, l, corr);
                else softmax_tile<false, false, FAST_EXP, TREE, FUSE>(s, rlo, rhi, t, sl2, p.scale, p.softcap, m, l, corr);
            } else {
                if (mask) softmax_tile<true, false, FAST_EXP, TREE, false>(s, rlo, rhi, t, sl2, p.scale, p.softcap, m, l, corr);
                else softmax_tile<false, false, FAST_EXP, TREE, false>(s, rlo, rhi, t, sl2, p.scale, p.softcap, m, l, corr);
            }
        };
        auto pack_p = [&]() {
#pragma unroll
            for (int ks = 0; ks < BK / 16; ks++)
#pragma unroll
                for (int x = 0; x < 4; x++) pa[ks][x] = mma_t<T>::pack(s[8 * ks + 2 * x], s[8 * ks + 2 * x + 1]);
        };

        for (int j = 0; j < jlo; j++) skip(it + j);
        /* Tile j: S_j = Q K_j^T is issued, then P_{j-1} V_{j-1}; the softmax
         * of S_j runs while P V is in flight.  The first tile is peeled and
         * every wgmma sits on a straight path (a wgmma under a branch makes
         * ptxas serialise all of them). */
        if (jlo < jhi) {
            mlxc_wg::mbar_wait(full_k(it + jlo), parity(it + jlo));
            mlxc_wg::fence_proxy_async();
            mlxc_wg::fence();
            issue_s(it + jlo);
            mlxc_wg::commit();
            mlxc_wg::wait<0>();
            mlxc_wg::keep(s);
            release_k(it + jlo);
            softmax(jlo);
            pack_p();
            for (int j = jlo + 1; j < jhi; j++) {
                mlxc_wg::mbar_wait(full_k(it + j), parity(it + j));
                mlxc_wg::mbar_wait(full_v(it + j - 1), parity(it + j - 1));
                mlxc_wg::fence_proxy_async();
                mlxc_wg::keep(s);
                mlxc_wg::keep(o);
                mlxc_wg::keep(pa);
                    mlxc_wg::fence();
                issue_s(it + j);
                mlxc_wg::commit();
                issue_pv(it + j - 1);
                mlxc_wg::commit();
                    mlxc_wg::wait<1>();
                mlxc_wg::keep(s);
                release_k(it + j);
                softmax(j);
                mlxc_wg::wait<0>();
                mlxc_wg::keep(o);
                mlxc_wg::keep(pa);
                release_v(it + j - 1);
#pragma unroll
                for (int n = 0; n < HD / 8; n++) {
                    o[4 * n] *= corr[0];
                    o[4 * n + 1] *= corr[0];
                    o[4 * n + 2] *= corr[1];
                    o[4 * n + 3] *= corr[1];
                }
                pack_p();
            }
            mlxc_wg::mbar_wait(full_v(it + jhi - 1), parity(it + jhi - 1));
            mlxc_wg::fence_proxy_async();
            mlxc_wg::keep(o);
            mlxc_wg::keep(pa);
            mlxc_wg::fence();
            issue_pv(it + jhi - 1);
            mlxc_wg::commit();
            mlxc_wg::wait<0>();
            mlxc_wg::keep(o);
            mlxc_wg::keep(pa);
            release_v(it + jhi - 1);
        }
        for (int j = jhi; j < I.ntiles; j++) skip(it + j);
        it += I.ntiles;

        /* epilogue: rows wr0 + 16 wi + g (+ 8) */
        float inv[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
            l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
            inv[r] = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
        }
        if (wr0 >= (int64_t)p.q_len) return;
        if (out_vec) {
            /* through sQ: row r at r * HD * 2 bytes, 16-byte chunk n at n ^ (r & 7) */
            mlxc_wg::bar_sync(bar_id, 128); /* every wgmma of the warpgroup that read sQ is done */
            const bool f16 = p.out_dtype == MLXC_ATTN_DT_F16;
#pragma unroll
            for (int r = 0; r < 2; r++) {
                const int rr = 16 * wi + g + 8 * r;
#pragma unroll
                for (int n = 0; n < HD / 8; n++) {
                    const float a = o[4 * n + 2 * r] * inv[r], b = o[4 * n + 2 * r + 1] * inv[r];
                    const uint32_t v = f16 ? mma_t<__half>::pack(a, b) : mma_t<__nv_bfloat16>::pack(a, b);
                    st_shared4(sQ + (uint32_t)rr * HD * 2 + ((uint32_t)(n ^ (rr & 7)) << 4) + 4 * t, v);
                }
            }
            mlxc_wg::bar_sync(bar_id, 128);
            for (int i = tw; i < 64 * CH; i += 128) {
                const int r = i / CH, c = i % CH;
                const int64_t row = wr0 + r;
                if (row >= (int64_t)p.q_len) break; /* rows grow with i */
                const uint4 val = ld_shared16(sQ + (uint32_t)r * HD * 2 + ((uint32_t)(c ^ (r & 7)) << 4));
                *reinterpret_cast<uint4 *>(static_cast<unsigned char *>(out) + (((uint64_t)row * H + I.h) * HD + c * 8) * 2) =
                    val;
            }
        } else {
#pragma unroll
            for (int r = 0; r < 2; r++) {
                const int64_t row = wr0 + 16 * wi + g + 8 * r;
                if (row >= (int64_t)p.q_len) continue;
                const uint64_t base = ((uint64_t)row * H + I.h) * HD;
#pragma unroll
                for (int n = 0; n < HD / 8; n++)
                    st2_dt(p.out_dtype, out, base + n * 8 + 2 * t, o[4 * n + 2 * r] * inv[r], o[4 * n + 2 * r + 1] * inv[r]);
            }
        }
    });
}

#endif /* MLXC_WG_SM90 */

extern __shared__ __align__(1024) unsigned char sm90_smem[];

template <typename T, int HD, bool QSMEM, int OPT = OPT_ALL>
__device__ __forceinline__ void prefill(const void *q, const T *k, const T *v, void *out, const mlxc_p_attn_prefill &p) {
#if MLXC_WG_SM90
    using C = cfg<HD>;
    const uint32_t sbase = smem_addr(sm90_smem);
    if (blockDim.x == NTH && mlxc::thread_count() == NTH && dynamic_smem_bytes() >= MLXC_ATTN_SM90_SMEM(HD) &&
        (sbase & 1023u) == 0 && aligned16(k) && aligned16(v)) {
        const int wg = (int)threadIdx.x / 128;
        if (threadIdx.x == 0) {
            for (int s = 0; s < C::ST; s++) {
                mlxc_wg::mbar_init(sbase + C::FULL_K + s * 8, 128); /* full: every producer thread's copies */
                mlxc_wg::mbar_init(sbase + C::FULL_V + s * 8, 128);
                mlxc_wg::mbar_init(sbase + C::EMPTY_K + s * 8, 8); /* empty: every consumer warp */
                mlxc_wg::mbar_init(sbase + C::EMPTY_V + s * 8, 8);
            }
            asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
        }
        __syncthreads();
        if (wg == 0) {
            mlxc_wg::setmaxnreg_dec<40>();
            producer<T, HD, OPT>(k, v, p, sbase);
        } else {
            mlxc_wg::setmaxnreg_inc<232>();
            const uint32_t tdt = std::is_same<T, __half>::value ? MLXC_ATTN_DT_F16 : MLXC_ATTN_DT_BF16;
            consumer<T, HD, QSMEM, OPT>(q, out, p, sbase, wg - 1, p.q_dtype == tdt && aligned16(q),
                            p.out_dtype != MLXC_ATTN_DT_F32 && aligned16(out));
        }
        return;
    }
#endif
    plain<T, HD>(q, k, v, out, p);
}

} // namespace sm90
} // namespace mlxc_attn

#define ATTN_SM90_KERNELS(HD, T, SFX)                                                                              \
    extern "C" __global__ void __launch_bounds__(MLXC_ATTN_SM90_THREADS, 1)                                        \
        attn_prefill_sm90_hd##HD##_##SFX(const void *q, const T *k, const T *v, void *out, mlxc_p_attn_prefill p) { MLXC_PDL_WAIT(); \
        mlxc_attn::sm90::prefill<T, HD, (HD > 64)>(q, k, v, out, p);                                                    \
    }
ATTN_SM90_KERNELS(64, __half, f16)
ATTN_SM90_KERNELS(64, __nv_bfloat16, bf16)
ATTN_SM90_KERNELS(128, __half, f16)
ATTN_SM90_KERNELS(128, __nv_bfloat16, bf16)
#undef ATTN_SM90_KERNELS
