/*
 * Mixture-of-experts kernels (src/kernels/params_moe.h).
 *
 * moe_route: a warp per token (grid-stride over the warps of the grid; a
 * partial last warp works with the lanes it has).  Each lane keeps the
 * rank keys of experts lane, lane + W, ... (8 of them in registers, the
 * rest recomputed when needed), and k rounds of a warp
 * max pick "the best key below the last one chosen": keys are unique
 * (they carry the index), so this is top-k in the order of the CPU kernel,
 * exactly, whatever the launch shape.  With runs of experts (n_group > 1)
 * the warp first scores each run by its two best keys and leaves out the
 * experts of the runs not kept.  Lane 0 writes the ids; the lanes then
 * share the weight work.
 *
 * moe_combine: a thread per 16-byte vector of out (per element when rows
 * are not whole vectors or a pointer is not aligned), the k expert rows
 * summed in order in f32, one rounding at the store.
 *
 * moe_router: the decode router in one pass (a block norms the tokens,
 * a warp makes an expert's logits, the last block routes: see below).
 *
 * moe_group: one block (blocks past the first have nothing to do).  Two
 * passes over the slots in rounds of one slot per thread: within a warp,
 * __match_any_sync gives each slot the lanes with the same expert, so the
 * lowest such lane writes the warp's count of that expert, with no atomics;
 * a scan of those counts over the warps, per expert, orders the warps.
 * The first pass only counts; the scan of the counts gives the offsets; the
 * second pass places slot s at offsets[e] + (slots of e before s), which is
 * a stable sort and the same bits every run.
 */
#include "kernels/params_moe.h"
#include "common.cuh"

namespace mlxc_ops {

__device__ __forceinline__ float sigmoid_f(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Warp-wide OP of v over the warp's first W lanes, to every lane. */
template <typename OP, typename T> __device__ __forceinline__ T warp_all(T v, uint32_t W, unsigned mask) {
    v = warp_reduce<OP>(v, W);
    return __shfl_sync(mask, v, 0);
}

template <typename T>
__device__ __forceinline__ float route_score(const T *row, const float *bias, const mlxc_p_moe_route &p, uint32_t e) {
    const float x = conv<T>::load(row[e]);
    if (p.scoring != MLXC_P_MOE_SIGMOID_BIAS) return x;
    return sigmoid_f(x) + (p.use_bias ? bias[e] : 0.0f);
}

/* Keys a lane holds in registers: 256 experts over a full warp (DeepSeek-V3);
 * more are recomputed from the row, which stays in L1, each round.  16
 * spilled under the 64 registers that 1024-thread blocks leave. */
constexpr uint32_t PER = 8;

/* The rank keys of one token's experts lane + c * W (c < PER) held by a
 * lane: only the high words (the low word is ~index, known from c, which
 * halves the registers), and a bit per c for the experts that exist and
 * may be chosen; key() is 0, below every key, for the others. */
struct lane_keys {
    uint32_t hi[PER];
    uint32_t live;
    uint32_t lane, W;
    __device__ __forceinline__ u64 key(uint32_t c) const {
        return live >> c & 1u ? ((u64)hi[c] << 32) | (uint32_t)~(lane + c * W) : 0;
    }
};

/* The runs of experts that may be chosen, one bit per run (params_moe.h),
 * for the warp's token: per run, its two best keys by two warp maxes (the
 * lane holding the best offers its second), lane 0 storing the run's key
 * in gk; then topk_group rounds of the best run key below the last.
 * Experts past PER * W are recomputed.
 * Every lane of the warp calls it and gets the mask. */
template <typename T>
__device__ __forceinline__ uint32_t allowed_groups(const T *row, const float *bias, const mlxc_p_moe_route &p,
                                                   const lane_keys &kc, u64 *gk /* (n_group) this warp's */) {
    const uint32_t lane = thread_linear() & 31u, W = warp_width();
    const unsigned mask = lanes_mask(W);
    const uint32_t E = p.experts, G = p.n_group, gsz = E / G;
    for (uint32_t g = 0; g < G; g++) {
        const uint32_t lo = g * gsz, hi = lo + gsz;
        u64 k1 = 0, k2 = 0; /* this lane's two best keys of run g */
#pragma unroll
        for (uint32_t c = 0; c < PER; c++) {
            const uint32_t e = lane + c * W;
            if (e >= lo && e < hi) {
                const u64 key = kc.key(c);
                if (key > k1) k2 = k1, k1 = key;
                else if (key > k2) k2 = key;
            }
        }
        for (uint32_t e = lane + PER * W; e < E; e += W)
            if (e >= lo && e < hi) {
                const u64 key = rank_key(route_score(row, bias, p, e), e);
                if (key > k1) k2 = k1, k1 = key;
                else if (key > k2) k2 = key;
            }
        const u64 b1 = warp_all<op_max>(k1, W, mask);
        const u64 b2 = warp_all<op_max>(k1 == b1 ? k2 : k1, W, mask);
        if (lane == 0) {
            const float s1 = route_score(row, bias, p, rank_index(b1)), s2 = route_score(row, bias, p, rank_index(b2));
            gk[g] = rank_key(s1 + s2, g);
        }
    }
    __syncwarp(mask); /* lane 0's run keys are seen by every lane */
    uint32_t groups = 0;
    u64 prev = ~0ull;
    for (uint32_t j = 0; j < p.topk_group; j++) {
        u64 best = 0;
        for (uint32_t g = lane; g < G; g += W) best = gk[g] < prev && gk[g] > best ? gk[g] : best;
        best = warp_all<op_max>(best, W, mask);
        groups |= 1u << rank_index(best);
        prev = best;
    }
    __syncwarp(mask); /* every lane has read gk before the next token's are stored */
    return groups;
}

/* A token's k weights by the calling warp from its (experts) logits row and
 * its chosen ids idr (k, readable by every lane) into w (k). */
template <typename T>
__device__ __forceinline__ void route_weights(const T *row, const uint32_t *idr, float *w, const mlxc_p_moe_route &p) {
    const uint32_t lane = thread_linear() & 31u, W = warp_width();
    const unsigned mask = lanes_mask(W);
    const uint32_t E = p.experts, k = p.k;
    /* the softmax's max and sum (f32) */
    float m = 0.0f, sum = 1.0f;
    if (p.scoring == MLXC_P_MOE_SOFTMAX_TOPK) {
        float lm = -INFINITY, ls = 0.0f;
        for (uint32_t e = lane; e < E; e += W) lm = fmaxf(lm, conv<T>::load(row[e]));
        m = warp_all<op_max>(lm, W, mask);
        for (uint32_t e = lane; e < E; e += W) ls += expf(conv<T>::load(row[e]) - m);
        sum = warp_all<op_sum>(ls, W, mask);
    } else if (p.scoring == MLXC_P_MOE_TOPK_SOFTMAX) {
        float ls = 0.0f;
        m = conv<T>::load(row[idr[0]]);
        for (uint32_t j = lane; j < k; j += W) ls += expf(conv<T>::load(row[idr[j]]) - m);
        sum = warp_all<op_sum>(ls, W, mask);
    }
    /* the k weights, their sum when renormalising, then the stores */
    float lw = 0.0f;
    if (p.renorm)
        for (uint32_t j = lane; j < k; j += W) {
            const float x = conv<T>::load(row[idr[j]]);
            lw += p.scoring == MLXC_P_MOE_SIGMOID_BIAS ? sigmoid_f(x) : expf(x - m) / sum;
        }
    const float wsum = p.renorm ? warp_all<op_sum>(lw, W, mask) : 0.0f;
    const float norm = p.renorm && wsum > 0.0f ? wsum : 1.0f;
    for (uint32_t j = lane; j < k; j += W) {
        const float x = conv<T>::load(row[idr[j]]);
        const float wj = p.scoring == MLXC_P_MOE_SIGMOID_BIAS ? sigmoid_f(x) : expf(x - m) / sum;
        w[j] = wj / norm * p.scale;
    }
}

/* One token's route by the calling warp: row its (experts) logits, id and
 * w its (k) outputs, gk the warp's (n_group) run keys in shared memory. */
template <typename T>
__device__ __forceinline__ void route_row(const T *row, const float *bias, uint32_t *id, float *w,
                                          const mlxc_p_moe_route &p, u64 *gk) {
    const uint32_t lane = thread_linear() & 31u, W = warp_width();
    const unsigned mask = lanes_mask(W);
    const uint32_t E = p.experts, k = p.k;
    lane_keys kc;
    kc.live = 0, kc.lane = lane, kc.W = W;
#pragma unroll
    for (uint32_t c = 0; c < PER; c++) {
        const uint32_t e = lane + c * W;
        kc.hi[c] = e < E ? (uint32_t)(rank_key(route_score(row, bias, p, e), e) >> 32) : 0;
        kc.live |= (e < E ? 1u : 0u) << c;
    }
    const uint32_t gsz = p.n_group > 1 ? E / p.n_group : E;
    const uint32_t groups = p.n_group > 1 ? allowed_groups(row, bias, p, kc, gk) : 1u;
    if (p.n_group > 1) {
#pragma unroll
        for (uint32_t c = 0; c < PER; c++) {
            const uint32_t e = lane + c * W;
            if (e < E && !(groups >> (e / gsz) & 1u)) kc.live &= ~(1u << c);
        }
    }
    u64 prev = ~0ull;
    for (uint32_t j = 0; j < k; j++) {
        u64 best = 0;
#pragma unroll
        for (uint32_t c = 0; c < PER; c++) {
            const u64 key = kc.key(c);
            best = key < prev && key > best ? key : best;
        }
        for (uint32_t e = lane + PER * W; e < E; e += W) {
            const u64 key = groups >> (e / gsz) & 1u ? rank_key(route_score(row, bias, p, e), e) : 0;
            best = key < prev && key > best ? key : best;
        }
        best = warp_all<op_max>(best, W, mask);
        if (lane == 0) id[j] = rank_index(best);
        prev = best;
    }
    __syncwarp(mask); /* the ids lane 0 wrote are seen by every lane */
    route_weights<T>(row, id, w, p);
    __syncwarp(mask); /* every lane has read the ids before the next token's are written */
}

template <typename T>
__device__ __forceinline__ void moe_route(const T *logits, const float *bias, uint32_t *ids, float *weights,
                                          const mlxc_p_moe_route &p) {
    __shared__ u64 gks[32][MLXC_P_MOE_MAX_GROUPS]; /* per warp of the block: its token's run keys */
    const uint32_t t = thread_linear();
    const uint64_t wpb = (thread_count() + 31u) / 32u;
    for (uint64_t r = block_linear() * wpb + t / 32u; r < p.tokens; r += block_count() * wpb)
        route_row<T>(logits + r * p.experts, bias, ids + r * p.k, weights + r * p.k, p, gks[t / 32u]);
}

/* The decode router in one pass (params_moe.h): each block makes x' of
 * every token in shared memory (the norm in the rms_norm kernel's order:
 * eight lanes each sum the squares of the elements of their residue mod 8
 * in order, then one combine, so x' has its bits), then the logits of
 * ROUTER_WARPS experts, a warp each, over rows of 16-byte loads (their
 * first lines prefetched to L2 before the wait for the previous kernel).
 * The last block to count itself in `counter` (after a fence) reads
 * every logit back, routes them (the k best by their ranks, all threads at
 * once; with runs of experts, a token a warp as moe_route) and sets the
 * counter to zero.
 * Every global read is a batch of independent 16-byte loads: the latency
 * of a load chain, not bytes, is what such a small kernel waits on.  The
 * squares are made by every thread and stored lane-major (row j holds the
 * squares of elements j, j + 8, ..., padded by one against bank
 * conflicts), so the eight sums walk rows of registers-batched loads.
 * dim is a multiple of 8, x and g 16-byte aligned (ops/moe.c). */
constexpr uint32_t ROUTER_WARPS = MLXC_MOE_ROUTER_WARPS, ROUTER_TOKENS = MLXC_MOE_ROUTER_TOKENS, ROUTER_BATCH = 4;
constexpr uint32_t ROUTER_MAX_EXPERTS = 512, ROUTER_MAX_K = 64; /* MLXC_MOE_MAX_EXPERTS, MLXC_MOE_MAX_K */
/* 16-byte loads of its expert's row a lane holds in registers from before
 * the wait (dim up to 2048 in f32, 4096 in f16 / bf16); the rest of a
 * longer row is read after it */
constexpr uint32_t ROUTER_HOLD = 16;

template <typename T> struct vec8;
template <> struct vec8<float> {
    static constexpr uint32_t N = 4; /* values a 16-byte load */
    __device__ static void cvt(uint4 v, float *f) {
        f[0] = __uint_as_float(v.x), f[1] = __uint_as_float(v.y), f[2] = __uint_as_float(v.z), f[3] = __uint_as_float(v.w);
    }
    __device__ static void get(const float *p, float *f) { cvt(__ldg((const uint4 *)p), f); }
};
template <typename H> struct vec8h {
    static constexpr uint32_t N = 8;
    __device__ static void cvt(uint4 v, float *f) {
        const H *h = (const H *)&v;
#pragma unroll
        for (int i = 0; i < 8; i++) f[i] = conv<H>::load(h[i]);
    }
    __device__ static void get(const H *p, float *f) { cvt(__ldg((const uint4 *)p), f); }
};
template <> struct vec8<__half> : vec8h<__half> {};
template <> struct vec8<__nv_bfloat16> : vec8h<__nv_bfloat16> {};

/* dst[0 .. n) = src as floats, 16 bytes a load, ROUTER_BATCH loads a
 * thread in flight; sq (when not NULL) the squares, lane-major. */
template <typename T>
__device__ __forceinline__ void router_load(const T *__restrict__ src, float *dst, float *sq, uint32_t n) {
    constexpr uint32_t VN = vec8<T>::N;
    const uint32_t tid = threadIdx.x, nt = blockDim.x, nv = n / VN, m8 = n / 8 + 1;
    for (uint32_t b = tid; b < nv; b += ROUTER_BATCH * nt) {
        float f[ROUTER_BATCH][VN];
#pragma unroll
        for (uint32_t r = 0; r < ROUTER_BATCH; r++)
            if (b + r * nt < nv) vec8<T>::get(src + (uint64_t)(b + r * nt) * VN, f[r]);
#pragma unroll
        for (uint32_t r = 0; r < ROUTER_BATCH; r++) {
            const uint32_t v = b + r * nt;
            if (v >= nv) break;
#pragma unroll
            for (uint32_t j = 0; j < VN; j++) {
                const uint32_t i = v * VN + j;
                dst[i] = f[r][j];
                if (sq) sq[(i % 8) * m8 + i / 8] = __fmul_rn(f[r][j], f[r][j]);
            }
        }
    }
}

template <typename WT, typename T>
__device__ __forceinline__ void moe_router(const T *__restrict__ x, const T *__restrict__ g, const WT *__restrict__ w,
                                           const float *bias, T *normed, T *logits, uint32_t *ids, float *weights,
                                           uint32_t *counter, const mlxc_p_moe_router &p) {
    /* (tokens, dim) x', (dim) g, (8, dim / 8 + 1) squares, then (tokens,
     * experts) logits: mlxc_moe_router_smem bytes */
    extern __shared__ __align__(16) float rt_xs[];
    __shared__ u64 gks[ROUTER_TOKENS][MLXC_P_MOE_MAX_GROUPS];
    __shared__ u64 rk_keys[ROUTER_MAX_EXPERTS];
    __shared__ uint32_t rk_ids[ROUTER_MAX_K];
    __shared__ float lane_sum[8];
    __shared__ float inv_sh;
    __shared__ uint32_t last_sh;
    const uint32_t tid = threadIdx.x, nt = blockDim.x, lane = tid & 31u, warp = tid >> 5;
    const uint32_t dim = p.dim, E = p.route.experts, NT = p.route.tokens, m8 = dim / 8 + 1;
    const uint32_t e = blockIdx.x * (nt / 32u) + warp; /* this warp's expert */
    constexpr uint32_t VN = vec8<WT>::N;
    const WT *wr = w + (uint64_t)(e < E ? e : 0) * dim;
    /* the weights wait for nothing: the row's first ROUTER_HOLD loads a
     * lane into registers, the lines past them to L2 */
    constexpr uint32_t HV = 32u * ROUTER_HOLD * VN; /* values held by the warp */
    uint4 held[ROUTER_HOLD];
#pragma unroll
    for (uint32_t c = 0; c < ROUTER_HOLD; c++) {
        const uint32_t i = (lane + 32u * c) * VN;
        held[c] = e < E && i < dim ? __ldg((const uint4 *)(wr + i)) : make_uint4(0, 0, 0, 0);
    }
    for (uint32_t i = HV + lane * (128u / sizeof(WT)); i < dim && e < E; i += 32u * (128u / sizeof(WT)))
        asm volatile("prefetch.global.L2 [%0];" ::"l"(wr + i));
    float *gs = rt_xs + (uint64_t)NT * dim, *sq = gs + dim;
    T *lg = (T *)(sq + 8 * m8);
    if (p.use_norm) router_load<T>(g, gs, nullptr, dim);
    MLXC_PDL_WAIT();
    for (uint32_t r = 0; r < NT; r++) {
        float *xs = rt_xs + (uint64_t)r * dim;
        router_load<T>(x + (uint64_t)r * dim, xs, p.use_norm ? sq : nullptr, dim);
        if (!p.use_norm) continue;
        __syncthreads();
        if (tid < 8) {
            /* lane tid's squares in order, the next eight loaded while the
             * current eight are added */
            const float *row = sq + tid * m8;
            const uint32_t n8 = dim / 8;
            float acc = 0.0f, v[8], nx[8];
            uint32_t j = 0;
#pragma unroll
            for (int u = 0; u < 8; u++) v[u] = u < (int)n8 ? row[u] : 0.0f;
            for (; j + 8 <= n8; j += 8) {
#pragma unroll
                for (int u = 0; u < 8; u++) nx[u] = j + 8 + u < n8 ? row[j + 8 + u] : 0.0f;
#pragma unroll
                for (int u = 0; u < 8; u++) acc = __fadd_rn(acc, v[u]);
#pragma unroll
                for (int u = 0; u < 8; u++) v[u] = nx[u];
            }
            for (; j < n8; j++) acc = __fadd_rn(acc, row[j]);
            lane_sum[tid] = acc;
        }
        __syncthreads();
        if (tid == 0) inv_sh = rms_inv8(lane_sum[0], lane_sum, dim, p.eps);
        __syncthreads();
        const float inv = inv_sh;
        for (uint32_t i = tid; i < dim; i += nt) {
            const T v = conv<T>::store(__fmul_rn(__fmul_rn(xs[i], inv), gs[i]));
            xs[i] = conv<T>::load(v);
            if (p.write_normed && blockIdx.x == 0) normed[(uint64_t)r * dim + i] = v;
        }
        __syncthreads(); /* sq, lane_sum and inv_sh are read before the next token's */
    }
    __syncthreads();
    if (e < E) {
        float acc[ROUTER_TOKENS];
#pragma unroll
        for (uint32_t r = 0; r < ROUTER_TOKENS; r++) acc[r] = 0.0f;
        /* the lane's values i = (lane + 32 c) VN + j in order: the held
         * loads, then the rest of the row */
        auto dot = [&](uint32_t i, const float *f) {
#pragma unroll
            for (uint32_t r = 0; r < ROUTER_TOKENS; r++) {
                if (r >= NT) break;
                const float *xs = rt_xs + (uint64_t)r * dim + i;
#pragma unroll
                for (uint32_t j = 0; j < VN; j++) acc[r] = fmaf(f[j], xs[j], acc[r]);
            }
        };
#pragma unroll
        for (uint32_t c = 0; c < ROUTER_HOLD; c++) {
            const uint32_t i = (lane + 32u * c) * VN;
            if (i >= dim) break;
            float f[VN];
            vec8<WT>::cvt(held[c], f);
            dot(i, f);
        }
#pragma unroll 8
        for (uint32_t i = HV + lane * VN; i < dim; i += 32u * VN) {
            float f[VN];
            vec8<WT>::get(wr + i, f);
            dot(i, f);
        }
#pragma unroll
        for (uint32_t r = 0; r < ROUTER_TOKENS; r++) {
            if (r >= NT) break;
            float a = acc[r];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
            if (lane == 0) logits[(uint64_t)r * E + e] = conv<T>::store(a);
        }
    }
    /* the last block to finish routes: every block's logits are seen once
     * its fence precedes its count */
    __threadfence();
    __syncthreads();
    if (tid == 0) last_sh = atomicAdd(counter, 1u) == gridDim.x - 1;
    __syncthreads();
    if (!last_sh) return;
    __threadfence();
    for (uint32_t i = tid; i < NT * E; i += nt) lg[i] = __ldcg(logits + i);
    __syncthreads();
    if (p.route.n_group > 1) {
        for (uint32_t r = warp; r < NT; r += nt / 32u)
            route_row<T>(lg + (uint64_t)r * E, bias, ids + (uint64_t)r * p.route.k, weights + (uint64_t)r * p.route.k,
                         p.route, gks[r]);
    } else {
        /* the k best by rank, every thread at once: expert e's rank is the
         * count of keys above its own (keys are unique), so the expert of
         * rank j is the j-th a warp's k rounds of maxima would pick; then
         * warp 0 makes the weights as moe_route does */
        const uint32_t k = p.route.k;
        for (uint32_t r = 0; r < NT; r++) {
            const T *row = lg + (uint64_t)r * E;
            for (uint32_t x_ = tid; x_ < E; x_ += nt) rk_keys[x_] = rank_key(route_score(row, bias, p.route, x_), x_);
            __syncthreads();
            for (uint32_t x_ = tid; x_ < E; x_ += nt) {
                const u64 ke = rk_keys[x_];
                uint32_t rank = 0;
#pragma unroll 8
                for (uint32_t q = 0; q < E; q++) rank += rk_keys[q] > ke ? 1u : 0u;
                if (rank < k) rk_ids[rank] = x_;
            }
            __syncthreads();
            if (warp == 0) {
                for (uint32_t j = lane; j < k; j += 32u) ids[(uint64_t)r * k + j] = rk_ids[j];
                route_weights<T>(row, rk_ids, weights + (uint64_t)r * k, p.route);
            }
            __syncthreads(); /* rk_keys and rk_ids are read before the next token's */
        }
    }
    if (tid == 0) *counter = 0u;
}

template <typename T>
__device__ __forceinline__ float gate_of(const void *gate, uint64_t r, const mlxc_p_moe_combine &p) {
    if (!p.use_gate) return 1.0f;
    return sigmoid_f(p.gate_f32 ? ((const float *)gate)[r] : conv<T>::load(((const T *)gate)[r]));
}

template <typename T>
__device__ __forceinline__ void moe_combine(const T *y, const float *w, const T *shared, const void *gate,
                                            const T *residual, T *out, const mlxc_p_moe_combine &p) {
    constexpr uint32_t N = vec_n<T>::N;
    typedef frag<T, N> F;
    const uint32_t H = p.hidden, k = p.k;
    const uint64_t total = (uint64_t)p.tokens * H;
    const bool vec = H % N == 0 && aligned16(y) && aligned16(out) && (!p.use_shared || aligned16(shared)) &&
                     (!p.use_residual || aligned16(residual));
    if (vec) {
        for (uint64_t v = global_index(); v < total / N; v += global_stride()) {
            const uint64_t o = v * N, r = o / H, h = o % H;
            float acc[N];
#pragma unroll
            for (uint32_t i = 0; i < N; i++) acc[i] = 0.0f;
            for (uint32_t j = 0; j < k; j++) {
                const float wj = w[r * k + j];
                F f;
                f.load(y + (r * k + j) * H + h);
#pragma unroll
                for (uint32_t i = 0; i < N; i++) acc[i] += wj * f.get(i);
            }
            if (p.use_shared) {
                const float g = gate_of<T>(gate, r, p);
                F f;
                f.load(shared + o);
#pragma unroll
                for (uint32_t i = 0; i < N; i++) acc[i] += g * f.get(i);
            }
            if (p.use_residual) {
                F f;
                f.load(residual + o);
#pragma unroll
                for (uint32_t i = 0; i < N; i++) acc[i] = conv<T>::load(conv<T>::store(acc[i])) + f.get(i);
            }
            F f;
            f.pack(acc);
            f.store(out + o);
        }
        return;
    }
    for (uint64_t o = global_index(); o < total; o += global_stride()) {
        const uint64_t r = o / H, h = o % H;
        float acc = 0.0f;
        for (uint32_t j = 0; j < k; j++) acc += w[r * k + j] * conv<T>::load(y[(r * k + j) * H + h]);
        if (p.use_shared) acc += gate_of<T>(gate, r, p) * conv<T>::load(shared[o]);
        if (p.use_residual) acc = conv<T>::load(conv<T>::store(acc)) + conv<T>::load(residual[o]);
        out[o] = conv<T>::store(acc);
    }
}

constexpr uint32_t GROUP_BUCKETS = 513; /* 512 experts + the slots of no expert */

__device__ __forceinline__ void moe_group(const uint32_t *ids, uint32_t *counts, uint32_t *offsets, uint32_t *perm,
                                          const mlxc_p_moe_group &p) {
    __shared__ uint32_t base[GROUP_BUCKETS];      /* per bucket: slots before this round (+ its start) */
    __shared__ uint32_t round_n[GROUP_BUCKETS];   /* per bucket: slots of this round */
    __shared__ uint16_t wc[32][GROUP_BUCKETS];    /* per warp, per bucket: count, then warps before */
    if (block_linear() != 0) return;
    const uint32_t t = thread_linear(), nt = thread_count(), lane = t & 31u, warp = t >> 5;
    const uint32_t nw = (nt + 31u) / 32u, W = warp_width();
    const unsigned mask = lanes_mask(W);
    const uint32_t E = p.experts, B = E + 1, S = p.slots;
    for (uint32_t b = t; b < B; b += nt) base[b] = 0;
    for (int pass = 0; pass < 2; pass++) {
        __syncthreads();
        for (uint32_t r0 = 0; r0 < S; r0 += nt) {
            for (uint32_t b = lane; b < B; b += W) wc[warp][b] = 0;
            __syncwarp(mask);
            const uint32_t s = r0 + t;
            const bool have = s < S;
            const uint32_t bucket = have ? (ids[s] < E ? ids[s] : E) : 0xffffffffu;
            const unsigned same = __match_any_sync(mask, bucket);
            const uint32_t rank = __popc(same & ((1u << lane) - 1u));
            if (have && rank == 0) wc[warp][bucket] = (uint16_t)__popc(same);
            __syncthreads();
            for (uint32_t b = t; b < B; b += nt) {
                uint32_t run = 0;
                for (uint32_t q = 0; q < nw; q++) {
                    const uint32_t c = wc[q][b];
                    wc[q][b] = (uint16_t)run;
                    run += c;
                }
                round_n[b] = run;
            }
            __syncthreads();
            if (pass == 1 && have) perm[base[bucket] + wc[warp][bucket] + rank] = s;
            __syncthreads();
            for (uint32_t b = t; b < B; b += nt) base[b] += round_n[b];
        }
        __syncthreads();
        if (pass == 1) break;
        /* counts, then their exclusive scan by warp 0, W0 lanes a step */
        for (uint32_t e = t; e < E; e += nt) counts[e] = base[e];
        __syncthreads(); /* the counts are read before the scan rewrites base */
        if (warp == 0) {
            uint32_t carry = 0;
            for (uint32_t c0 = 0; c0 < B; c0 += W) {
                const uint32_t b = c0 + lane;
                const uint32_t v = b < B ? base[b] : 0;
                uint32_t incl = v;
                for (uint32_t o = 1; o < 32; o <<= 1) {
                    const uint32_t other = __shfl_up_sync(mask, incl, o);
                    if (lane >= o) incl += other;
                }
                if (b < B) {
                    base[b] = carry + incl - v; /* the start of bucket b */
                    if (b <= E) offsets[b] = carry + incl - v;
                }
                carry += __shfl_sync(mask, incl, W - 1);
            }
        }
    }
}

} // namespace mlxc_ops

#define MOE_KERNELS(T, sfx)                                                                                      \
    extern "C" __global__ void __launch_bounds__(1024) moe_route_##sfx(const T *logits, const float *bias,       \
                                                                       uint32_t *ids, float *weights,            \
                                                                       mlxc_p_moe_route p) { MLXC_PDL_WAIT();                     \
        mlxc_ops::moe_route<T>(logits, bias, ids, weights, p);                                                  \
    }                                                                                                            \
    extern "C" __global__ void __launch_bounds__(1024) moe_combine_##sfx(const T *y, const float *w,             \
                                                                         const T *shared, const void *gate,      \
                                                                         const T *residual, T *out,              \
                                                                         mlxc_p_moe_combine p) { MLXC_PDL_WAIT();                 \
        mlxc_ops::moe_combine<T>(y, w, shared, gate, residual, out, p);                                         \
    }
MOE_KERNELS(float, f32)
MOE_KERNELS(__nv_bfloat16, bf16)
#undef MOE_KERNELS

#define MOE_ROUTER(WT, wsfx, T, sfx)                                                                             \
    extern "C" __global__ void __launch_bounds__(32 * mlxc_ops::ROUTER_WARPS, 1)                                 \
        moe_router_##wsfx##_##sfx(const T *x, const T *g, const WT *w, const float *bias, T *normed, T *logits,  \
                                  uint32_t *ids, float *weights, uint32_t *counter,                             \
                                  mlxc_p_moe_router p) { MLXC_PDL_INSIDE();                                     \
        mlxc_ops::moe_router<WT, T>(x, g, w, bias, normed, logits, ids, weights, counter, p);                   \
    }
/* each router dtype with f32 and bf16 activations */
#define MOE_ROUTER_W(WT, wsfx) MOE_ROUTER(WT, wsfx, float, f32) MOE_ROUTER(WT, wsfx, __nv_bfloat16, bf16)
MOE_ROUTER_W(float, f32)
MOE_ROUTER_W(__half, f16)
MOE_ROUTER_W(__nv_bfloat16, bf16)
#undef MOE_ROUTER_W
#undef MOE_ROUTER

extern "C" __global__ void __launch_bounds__(1024, 1) moe_group(const uint32_t *ids, uint32_t *counts,
                                                                uint32_t *offsets, uint32_t *perm,
                                                                mlxc_p_moe_group p) { MLXC_PDL_WAIT();
    mlxc_ops::moe_group(ids, counts, offsets, perm, p);
}
