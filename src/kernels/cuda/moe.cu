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

template <typename T>
__device__ __forceinline__ void moe_route(const T *logits, const float *bias, uint32_t *ids, float *weights,
                                          const mlxc_p_moe_route &p) {
    __shared__ u64 gks[32][MLXC_P_MOE_MAX_GROUPS]; /* per warp of the block: its token's run keys */
    const uint32_t t = thread_linear(), lane = t & 31u, W = warp_width();
    const unsigned mask = lanes_mask(W);
    const uint64_t wpb = (thread_count() + 31u) / 32u;
    const uint32_t E = p.experts, k = p.k;
    for (uint64_t r = block_linear() * wpb + t / 32u; r < p.tokens; r += block_count() * wpb) {
        const T *row = logits + r * E;   /* (experts) */
        uint32_t *id = ids + r * k;      /* (k) */
        float *w = weights + r * k;      /* (k) */
        lane_keys kc;
        kc.live = 0, kc.lane = lane, kc.W = W;
#pragma unroll
        for (uint32_t c = 0; c < PER; c++) {
            const uint32_t e = lane + c * W;
            kc.hi[c] = e < E ? (uint32_t)(rank_key(route_score(row, bias, p, e), e) >> 32) : 0;
            kc.live |= (e < E ? 1u : 0u) << c;
        }
        const uint32_t gsz = p.n_group > 1 ? E / p.n_group : E;
        const uint32_t groups = p.n_group > 1 ? allowed_groups(row, bias, p, kc, gks[t / 32u]) : 1u;
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
            m = conv<T>::load(row[id[0]]);
            for (uint32_t j = lane; j < k; j += W) ls += expf(conv<T>::load(row[id[j]]) - m);
            sum = warp_all<op_sum>(ls, W, mask);
        }
        /* the k weights, their sum when renormalising, then the stores */
        float lw = 0.0f;
        if (p.renorm)
            for (uint32_t j = lane; j < k; j += W) {
                const float x = conv<T>::load(row[id[j]]);
                lw += p.scoring == MLXC_P_MOE_SIGMOID_BIAS ? sigmoid_f(x) : expf(x - m) / sum;
            }
        const float wsum = p.renorm ? warp_all<op_sum>(lw, W, mask) : 0.0f;
        const float norm = p.renorm && wsum > 0.0f ? wsum : 1.0f;
        for (uint32_t j = lane; j < k; j += W) {
            const float x = conv<T>::load(row[id[j]]);
            const float wj = p.scoring == MLXC_P_MOE_SIGMOID_BIAS ? sigmoid_f(x) : expf(x - m) / sum;
            w[j] = wj / norm * p.scale;
        }
        __syncwarp(mask); /* every lane has read the ids before the next token's are written */
    }
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

extern "C" __global__ void __launch_bounds__(1024, 1) moe_group(const uint32_t *ids, uint32_t *counts,
                                                                uint32_t *offsets, uint32_t *perm,
                                                                mlxc_p_moe_group p) { MLXC_PDL_WAIT();
    mlxc_ops::moe_group(ids, counts, offsets, perm, p);
}
