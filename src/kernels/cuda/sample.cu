/*
 * Op-library selection kernels (src/kernels/params_sample.h): argmax, top-k and
 * softmax sampling.  One thread block per row (grid-stride over rows).
 * Elements are ranked by rank_key (value, then lower index, NaN last), the
 * same total order as the CPU kernels, so argmax and top-k agree exactly.
 *
 * top-k reads the row once, keeping candidates above a rising threshold
 * (see below).
 *
 * Sampling gives each thread a contiguous chunk of the row: the chunk sums
 * are scanned across the block, and warp 0 walks the chunk whose interval
 * holds u * total.  If rounding leaves u * total at or past the end, the last
 * element with p > 0 is drawn (as on the CPU).
 */
#include "kernels/params_sample.h"
#include "common.cuh"

namespace mlxc_ops {

/* The best rank_key of a row (to every thread).  Aligned rows go as 16-byte
 * frags, four per thread in flight; the keys carry the index, so the order
 * of visits cannot change the result. */
template <typename T> __device__ __forceinline__ u64 row_best(const T *row, uint32_t n) {
    constexpr uint32_t N = vec_n<T>::N;
    typedef frag<T, N> F;
    const uint32_t t = thread_linear(), nt = thread_count();
    u64 best = 0;
    uint32_t done = 0;
    if (aligned16(row)) {
        const uint32_t nv = n / N;
        uint32_t v = t;
        for (; v + 3 * nt < nv; v += 4 * nt) {
            F f[4];
#pragma unroll
            for (uint32_t q = 0; q < 4; q++) f[q].load(row + (uint64_t)(v + q * nt) * N);
#pragma unroll
            for (uint32_t q = 0; q < 4; q++)
#pragma unroll
                for (uint32_t j = 0; j < N; j++) {
                    const u64 key = rank_key(f[q].get(j), (v + q * nt) * N + j);
                    best = key > best ? key : best;
                }
        }
        for (; v < nv; v += nt) {
            F f;
            f.load(row + (uint64_t)v * N);
#pragma unroll
            for (uint32_t j = 0; j < N; j++) {
                const u64 key = rank_key(f.get(j), v * N + j);
                best = key > best ? key : best;
            }
        }
        done = nv * N;
    }
    for (uint32_t i = done + t; i < n; i += nt) {
        const u64 key = rank_key(conv<T>::load(row[i]), i);
        best = key > best ? key : best;
    }
    return block_reduce<op_max>(best);
}

template <typename T>
__device__ __forceinline__ void argmax(const T *x, uint32_t *idx, float *val, const mlxc_p_rows &p) {
    for (uint64_t r = block_linear(); r < p.rows; r += block_count()) {
        const T *row = x + r * p.n;
        const u64 best = row_best(row, p.n);
        if (thread_linear() == 0) {
            const uint32_t i = rank_index(best);
            idx[r] = i;
            val[r] = conv<T>::load(row[i]);
        }
    }
}

/* ---- top-k in one pass ----------------------------------------------------------- *
 * The row is read once, in waves of at most TK_WAVE elements.  Keys above
 * `thresh` (the k-th best key seen so far, 0 before k are known) are
 * appended to a shared candidate list; whenever the next wave could
 * overflow it, the list is sorted (bitonic, descending) and cut to its best
 * k, which raises the threshold.  On typical logits few keys pass after the
 * first waves, so the cost is one read of the row plus a few small sorts. */
constexpr uint32_t TK_CAP = 4096, TK_KMAX = 64, TK_WAVE = TK_CAP - TK_KMAX;

/* Sorts cand[0, count) descending (pads to a power of two with key 0, which
 * no element has); every thread calls it. */
__device__ void sort_desc(u64 *cand, uint32_t count) {
    const uint32_t t = thread_linear(), nt = thread_count();
    uint32_t size = 1;
    while (size < count) size <<= 1;
    for (uint32_t i = count + t; i < size; i += nt) cand[i] = 0;
    __syncthreads();
    for (uint32_t k = 2; k <= size; k <<= 1)
        for (uint32_t j = k >> 1; j > 0; j >>= 1) {
            for (uint32_t i = t; i < size; i += nt) {
                const uint32_t o = i ^ j;
                if (o > i) {
                    const u64 a = cand[i], b = cand[o];
                    if (((i & k) == 0) == (a < b)) {
                        cand[i] = b;
                        cand[o] = a;
                    }
                }
            }
            __syncthreads();
        }
}

/* Appends the keys with want set, one shared atomic per warp.  All lanes
 * of the warp call it together. */
__device__ __forceinline__ void push_keys(u64 key, bool want, u64 *cand, uint32_t *count) {
    const uint32_t lane = thread_linear() & 31u;
    const unsigned wm = lanes_mask(warp_width());
    const unsigned m = __ballot_sync(wm, want);
    if (!m) return;
    const uint32_t leader = __ffs(m) - 1;
    uint32_t base = 0;
    if (lane == leader) base = atomicAdd(count, (uint32_t)__popc(m));
    base = __shfl_sync(wm, base, leader);
    if (want) cand[base + __popc(m & ((1u << lane) - 1u))] = key;
}

template <typename T>
__device__ __forceinline__ void topk(const T *x, float *val, uint32_t *idx, const mlxc_p_topk &p) {
    constexpr uint32_t N = vec_n<T>::N;
    typedef frag<T, N> F;
    __shared__ u64 cand[TK_CAP];
    __shared__ uint32_t count;
    __shared__ u64 thresh;
    const uint32_t t = thread_linear(), nt = thread_count(), n = p.n, k = p.k;
    const uint32_t lane_base = t - (t & 31u); /* first thread of this warp */
    for (uint64_t r = block_linear(); r < p.rows; r += block_count()) {
        const T *row = x + r * n;
        if (t == 0) count = 0, thresh = 0;
        __syncthreads();
        const bool vec = aligned16(row);
        /* A wave: nt frags (or elements) at most, TK_WAVE elements at most. */
        const uint32_t per = vec ? N : 1;
        const uint32_t wave_threads = nt * per <= TK_WAVE ? nt : TK_WAVE / per;
        const uint32_t wave = wave_threads * per;
        const uint32_t frag_end = vec ? n - n % N : 0; /* waves below it go as frags */
        const bool in_wave = t < wave_threads, warp_in = lane_base < wave_threads;
        /* One wave: push its keys above the threshold, then cut the list
         * if the next wave could overflow it (or at the row's end). */
        const auto run_wave = [&](uint32_t base, const F &f) {
            const u64 th = thresh;
            const uint32_t first = base + t * per;
            /* The branches are the warp's: every lane calls push_keys. */
            if (warp_in && base + wave <= frag_end) {
#pragma unroll
                for (uint32_t j = 0; j < N; j++) {
                    const u64 key = in_wave ? rank_key(f.get(j), first + j) : 0;
                    push_keys(key, in_wave && key > th, cand, &count);
                }
            } else if (warp_in) {
                for (uint32_t j = 0; j < per; j++) {
                    const uint32_t i = first + j;
                    const bool ok = in_wave && i < n;
                    const u64 key = ok ? rank_key(conv<T>::load(row[i]), i) : 0;
                    push_keys(key, ok && key > th, cand, &count);
                }
            }
            __syncthreads();
            const uint32_t c = count;
            __syncthreads(); /* every thread has c before the next wave adds */
            if (c > TK_CAP - wave || base + wave >= n) {
                sort_desc(cand, c);
                if (t == 0) {
                    if (c >= k) thresh = cand[k - 1];
                    count = c < k ? c : k;
                }
                __syncthreads();
            }
        };
        /* Four waves' frags are loaded before the first is ranked. */
        for (uint64_t base = 0; base < n; base += 4 * wave) {
            F f[4];
#pragma unroll
            for (uint32_t q = 0; q < 4; q++) {
                const uint64_t b = base + (uint64_t)q * wave;
                if (in_wave && b + wave <= frag_end) f[q].load(row + b + t * per);
            }
#pragma unroll
            for (uint32_t q = 0; q < 4; q++)
                if (base + (uint64_t)q * wave < n) run_wave((uint32_t)(base + q * wave), f[q]);
        }
        for (uint32_t j = t; j < k; j += nt) {
            const uint32_t i = rank_index(cand[j]);
            idx[r * k + j] = i;
            val[r * k + j] = conv<T>::load(row[i]);
        }
        __syncthreads();
    }
}

/* exp((x - m) / T) summed over row[lo, hi) in order; lo is a multiple of
 * N, and frags go four in flight when the row is aligned. */
template <typename T>
__device__ __forceinline__ float chunk_sum(const T *row, uint32_t lo, uint32_t hi, float m, float inv_t) {
    constexpr uint32_t N = vec_n<T>::N;
    typedef frag<T, N> F;
    float sum = 0.0f;
    uint32_t i = lo;
    if (aligned16(row)) {
        for (; i + 4 * N <= hi; i += 4 * N) {
            F f[4];
#pragma unroll
            for (uint32_t q = 0; q < 4; q++) f[q].load(row + i + q * N);
#pragma unroll
            for (uint32_t q = 0; q < 4; q++)
#pragma unroll
                for (uint32_t j = 0; j < N; j++) sum += expf((f[q].get(j) - m) * inv_t);
        }
    }
    for (; i < hi; i++) sum += expf((conv<T>::load(row[i]) - m) * inv_t);
    return sum;
}

template <typename T>
__device__ __forceinline__ void sample(const T *x, const float *uniforms, uint32_t *token, float *logprob,
                                       const mlxc_p_sample &p) {
    constexpr uint32_t N = vec_n<T>::N;
    __shared__ float incl_sh[1024];
    __shared__ unsigned int pick, fallback, walk_lo, walk_hi;
    __shared__ float walk_start;
    const uint32_t t = thread_linear(), nt = thread_count(), n = p.n;
    const float inv_t = p.temperature > 0.0f ? 1.0f / p.temperature : 1.0f;
    /* contiguous chunks of a whole number of frags (the last ones may be
     * short or empty) */
    const uint32_t chunk = ((n + nt - 1) / nt + N - 1) / N * N;
    const uint32_t lo = (uint64_t)t * chunk < n ? t * chunk : n, hi = (uint64_t)lo + chunk < n ? lo + chunk : n;
    for (uint64_t r = block_linear(); r < p.rows; r += block_count()) {
        const T *row = x + r * n;
        const uint32_t amax = rank_index(row_best(row, n));
        const float m = conv<T>::load(row[amax]);
        const float local = chunk_sum(row, lo, hi, m, inv_t);
        float total;
        const float incl = block_inclusive_scan(local, &total);
        incl_sh[t] = incl;
        if (t == 0) pick = 0xffffffffu, fallback = 0u, walk_lo = 0xffffffffu;
        __syncthreads();
        uint32_t tok = amax;
        if (p.temperature > 0.0f) {
            const float target = (p.use_u_buf ? uniforms[r] : p.u) * total;
            /* The intervals [incl of the thread before, incl) chain exactly
             * and cover [0, total): one thread claims target < total, and
             * warp 0 walks its chunk. */
            const float start = t ? incl_sh[t - 1] : 0.0f;
            const bool claim = local > 0.0f && start <= target && target < incl;
            const bool at_end = local > 0.0f && target >= total && incl == total;
            if (claim) walk_lo = lo, walk_hi = hi, walk_start = start;
            if (at_end) {
                uint32_t last = lo;
                for (uint32_t i = lo; i < hi; i++)
                    if (expf((conv<T>::load(row[i]) - m) * inv_t) > 0.0f) last = i;
                atomicMax(&fallback, last);
            }
            __syncthreads();
            const uint32_t wlo = walk_lo;
            if (wlo != 0xffffffffu && t < 32) {
                /* the first i with start + cumsum(e)[i] > target: 32 elements
                 * a step, a warp scan each; if rounding never gets there,
                 * the chunk's last element with e > 0 */
                const uint32_t whi = walk_hi, lane = t, ww = warp_width();
                const unsigned wm = lanes_mask(ww);
                float c = walk_start;
                uint32_t chosen = 0xffffffffu, last = wlo;
                for (uint32_t b = wlo; b < whi; b += ww) {
                    const uint32_t i = b + lane;
                    const float e = i < whi ? expf((conv<T>::load(row[i]) - m) * inv_t) : 0.0f;
                    float sc = e;
                    for (uint32_t o = 1; o < 32; o <<= 1) {
                        const float other = __shfl_up_sync(wm, sc, o);
                        if (lane >= o) sc += other;
                    }
                    const unsigned hit = __ballot_sync(wm, i < whi && c + sc > target);
                    const unsigned pos = __ballot_sync(wm, e > 0.0f);
                    if (pos) last = b + 31 - __clz(pos);
                    if (hit) {
                        chosen = b + __ffs(hit) - 1;
                        break;
                    }
                    c += __shfl_sync(wm, sc, ww - 1);
                }
                if (lane == 0) pick = chosen != 0xffffffffu ? chosen : last;
            }
            __syncthreads();
            tok = pick != 0xffffffffu ? pick : fallback;
        }
        if (t == 0) {
            token[r] = tok;
            if (p.write_logprob) logprob[r] = (conv<T>::load(row[tok]) - m) * inv_t - logf(total);
        }
        __syncthreads(); /* pick and incl_sh are reset for the next row */
    }
}

} // namespace mlxc_ops

#define OPS_SELECT(T, sfx)                                                                      \
    extern "C" __global__ void __launch_bounds__(1024, 1) argmax_##sfx(const T *x, uint32_t *idx, float *val, mlxc_p_rows p) { MLXC_PDL_WAIT(); \
        mlxc_ops::argmax<T>(x, idx, val, p);                                                    \
    }                                                                                           \
    extern "C" __global__ void __launch_bounds__(1024, 1) topk_##sfx(const T *x, float *val, uint32_t *idx, mlxc_p_topk p) { MLXC_PDL_WAIT(); \
        mlxc_ops::topk<T>(x, val, idx, p);                                                      \
    }                                                                                           \
    extern "C" __global__ void __launch_bounds__(1024, 1) sample_##sfx(const T *x, const float *uniforms, uint32_t *token, \
                                            float *logprob, mlxc_p_sample p) { MLXC_PDL_WAIT();                  \
        mlxc_ops::sample<T>(x, uniforms, token, logprob, p);                                    \
    }
OPS_SELECT(float, f32)
OPS_SELECT(__half, f16)
OPS_SELECT(__nv_bfloat16, bf16)
#undef OPS_SELECT
