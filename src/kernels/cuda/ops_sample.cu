/*
 * Op-library selection kernels (src/kernels/params_ops.h): argmax, top-k and
 * softmax sampling.  One thread block per row (grid-stride over rows).
 * Elements are ranked by rank_key (value, then lower index, NaN last), the
 * same total order as the CPU kernels, so argmax and top-k agree exactly.
 *
 * top-k makes k passes over the row, each taking the best key below the
 * previous pick: no per-thread lists, and the row stays in L1/L2.
 *
 * Sampling gives each thread a contiguous chunk of the row: the chunk sums
 * are scanned across the block, the thread whose interval holds u * total
 * walks its chunk.  If rounding leaves u * total at or past the end, the last
 * element with p > 0 is drawn (as on the CPU).
 */
#include "ops_common.cuh"

namespace mlxc_ops {

template <typename T> __device__ __forceinline__ u64 row_best(const T *row, uint32_t n, u64 below) {
    u64 best = 0;
    for (uint32_t i = thread_linear(); i < n; i += thread_count()) {
        const u64 key = rank_key(conv<T>::load(row[i]), i);
        if (key < below && key > best) best = key;
    }
    return block_reduce<op_max>(best);
}

template <typename T>
__device__ __forceinline__ void argmax(const T *x, uint32_t *idx, float *val, const mlxc_p_rows &p) {
    for (uint64_t r = block_linear(); r < p.rows; r += block_count()) {
        const T *row = x + r * p.n;
        const u64 best = row_best(row, p.n, ~0ull);
        if (thread_linear() == 0) {
            const uint32_t i = rank_index(best);
            idx[r] = i;
            val[r] = conv<T>::load(row[i]);
        }
    }
}

template <typename T>
__device__ __forceinline__ void topk(const T *x, float *val, uint32_t *idx, const mlxc_p_topk &p) {
    for (uint64_t r = block_linear(); r < p.rows; r += block_count()) {
        const T *row = x + r * p.n;
        u64 prev = ~0ull;
        for (uint32_t j = 0; j < p.k; j++) {
            prev = row_best(row, p.n, prev);
            if (thread_linear() == 0) {
                const uint32_t i = rank_index(prev);
                idx[r * p.k + j] = i;
                val[r * p.k + j] = conv<T>::load(row[i]);
            }
        }
    }
}

template <typename T>
__device__ __forceinline__ void sample(const T *x, const float *uniforms, uint32_t *token, float *logprob,
                                       const mlxc_p_sample &p) {
    __shared__ float incl_sh[1024];
    __shared__ unsigned int pick, fallback;
    const uint32_t t = thread_linear(), nt = thread_count(), n = p.n;
    const float inv_t = p.temperature > 0.0f ? 1.0f / p.temperature : 1.0f;
    const uint32_t chunk = (n + nt - 1) / nt;
    const uint32_t lo = (uint64_t)t * chunk < n ? t * chunk : n, hi = (uint64_t)lo + chunk < n ? lo + chunk : n;
    for (uint64_t r = block_linear(); r < p.rows; r += block_count()) {
        const T *row = x + r * n;
        const uint32_t amax = rank_index(row_best(row, n, ~0ull));
        const float m = conv<T>::load(row[amax]);
        float local = 0.0f;
        for (uint32_t i = lo; i < hi; i++) local += expf((conv<T>::load(row[i]) - m) * inv_t);
        float total;
        const float incl = block_inclusive_scan(local, &total);
        incl_sh[t] = incl;
        if (t == 0) pick = 0xffffffffu, fallback = 0u;
        __syncthreads();
        uint32_t tok = amax;
        if (p.temperature > 0.0f) {
            const float target = (p.use_u_buf ? uniforms[r] : p.u) * total;
            /* The intervals [incl of the thread before, incl) chain exactly
             * and cover [0, total): one thread claims target < total. */
            const float start = t ? incl_sh[t - 1] : 0.0f;
            const bool claim = local > 0.0f && start <= target && target < incl;
            const bool at_end = local > 0.0f && target >= total && incl == total;
            if (claim || at_end) {
                float c = start;
                uint32_t chosen = 0xffffffffu, last = lo;
                for (uint32_t i = lo; i < hi; i++) {
                    const float e = expf((conv<T>::load(row[i]) - m) * inv_t);
                    if (e > 0.0f) last = i;
                    c += e;
                    if (claim && c > target) {
                        chosen = i;
                        break;
                    }
                }
                if (claim) atomicMin(&pick, chosen != 0xffffffffu ? chosen : last);
                else atomicMax(&fallback, last);
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
    extern "C" __global__ void argmax_##sfx(const T *x, uint32_t *idx, float *val, mlxc_p_rows p) { \
        mlxc_ops::argmax<T>(x, idx, val, p);                                                    \
    }                                                                                           \
    extern "C" __global__ void topk_##sfx(const T *x, float *val, uint32_t *idx, mlxc_p_topk p) { \
        mlxc_ops::topk<T>(x, val, idx, p);                                                      \
    }                                                                                           \
    extern "C" __global__ void sample_##sfx(const T *x, const float *uniforms, uint32_t *token, \
                                            float *logprob, mlxc_p_sample p) {                  \
        mlxc_ops::sample<T>(x, uniforms, token, logprob, p);                                    \
    }
OPS_SELECT(float, f32)
OPS_SELECT(__half, f16)
OPS_SELECT(__nv_bfloat16, bf16)
#undef OPS_SELECT
