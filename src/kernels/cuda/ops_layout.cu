/*
 * Op-library layout kernels (src/kernels/params_ops.h): strided copy,
 * batched 2-D transpose (32x32 tiles through shared memory, both sides
 * coalesced), embedding gather and the KV-cache write.  Copies move bits
 * or convert once, so results equal the CPU backend's exactly.
 */
#include "ops_common.cuh"

namespace mlxc_ops {

template <typename T>
__device__ __forceinline__ void copy_strided(const T *__restrict__ src, T *__restrict__ dst,
                                             const mlxc_p_copy_strided &p) {
    const uint64_t n1 = p.shape[1], n2 = p.shape[2];
    const uint64_t total = p.shape[0] * n1 * n2;
    for (uint64_t e = global_index(); e < total; e += global_stride()) {
        const uint64_t i2 = e % n2, r = e / n2, i1 = r % n1, i0 = r / n1;
        dst[i0 * p.dst_stride[0] + i1 * p.dst_stride[1] + i2 * p.dst_stride[2]] =
            src[i0 * p.src_stride[0] + i1 * p.src_stride[1] + i2 * p.src_stride[2]];
    }
}

constexpr uint32_t TILE = 32;

template <typename T>
__device__ __forceinline__ void transpose(const T *__restrict__ src, T *__restrict__ dst, const mlxc_p_transpose &p) {
    __shared__ T tile[TILE][TILE + 1];
    const uint64_t R = p.rows, C = p.cols;
    const uint64_t tr = (R + TILE - 1) / TILE, tc = (C + TILE - 1) / TILE, tiles = p.batch * tr * tc;
    const uint32_t t = thread_linear(), nt = thread_count();
    for (uint64_t k = block_linear(); k < tiles; k += block_count()) {
        const uint64_t b = k / (tr * tc), r0 = (k / tc) % tr * TILE, c0 = k % tc * TILE;
        const T *s = src + b * R * C;
        T *d = dst + b * R * C;
        /* Read rows of the tile (consecutive threads: consecutive columns). */
        for (uint32_t e = t; e < TILE * TILE; e += nt) {
            const uint32_t r = e / TILE, c = e % TILE;
            if (r0 + r < R && c0 + c < C) tile[r][c] = s[(r0 + r) * C + c0 + c];
        }
        __syncthreads();
        /* Write rows of the transposed tile (consecutive threads: consecutive rows of src). */
        for (uint32_t e = t; e < TILE * TILE; e += nt) {
            const uint32_t c = e / TILE, r = e % TILE;
            if (r0 + r < R && c0 + c < C) d[(c0 + c) * R + r0 + r] = tile[r][c];
        }
        __syncthreads();
    }
}

template <typename TT, typename TO>
__device__ __forceinline__ void gather(const TT *__restrict__ table, const uint32_t *__restrict__ ids,
                                       TO *__restrict__ out, const mlxc_p_gather &p) {
    const uint64_t dim = p.dim, total = (uint64_t)p.n_ids * dim;
    for (uint64_t e = global_index(); e < total; e += global_stride()) {
        const uint64_t i = e / dim, j = e % dim;
        const uint32_t id = ids[i];
        out[e] = id < p.vocab ? conv<TO>::store(conv<TT>::load(table[(uint64_t)id * dim + j]) * p.scale)
                              : conv<TO>::store(0.0f);
    }
}

template <typename TS, typename TC>
__device__ __forceinline__ void kv_copy(const TS *__restrict__ src, TC *__restrict__ cache,
                                        const int32_t *__restrict__ pos, const mlxc_p_kv_copy &p) {
    const uint64_t hd = p.head_dim, cap = p.capacity, H = p.kv_heads, T = p.n_tokens;
    const uint64_t start = (uint64_t)p.pos + (p.use_pos_buf ? (uint32_t)pos[0] : 0u);
    const uint64_t first = p.sliding && T > cap ? T - cap : 0;
    const uint64_t total = T * H * hd;
    for (uint64_t e = global_index(); e < total; e += global_stride()) {
        const uint64_t j = e % hd, row = e / hd, h = row % H, t = row / H;
        if (t < first) continue;
        uint64_t slot = start + t;
        if (p.sliding) slot %= cap;
        else if (slot >= cap) continue;
        cache[(h * cap + slot) * hd + j] = conv<TC>::store(conv<TS>::load(src[e]));
    }
}

} // namespace mlxc_ops

#define OPS_WIDTH(T, w)                                                                         \
    extern "C" __global__ void copy_strided_##w(const T *src, T *dst, mlxc_p_copy_strided p) {  \
        mlxc_ops::copy_strided<T>(src, dst, p);                                                 \
    }                                                                                           \
    extern "C" __global__ void transpose_##w(const T *src, T *dst, mlxc_p_transpose p) {        \
        mlxc_ops::transpose<T>(src, dst, p);                                                    \
    }
OPS_WIDTH(uint8_t, x8)
OPS_WIDTH(uint16_t, x16)
OPS_WIDTH(uint32_t, x32)
OPS_WIDTH(unsigned long long, x64)

#define OPS_GATHER(TT, t, TO, o)                                                                \
    extern "C" __global__ void embedding_gather_##t##_##o(const TT *table, const uint32_t *ids, TO *out, \
                                                          mlxc_p_gather p) {                    \
        mlxc_ops::gather<TT, TO>(table, ids, out, p);                                           \
    }
OPS_GATHER(float, f32, float, f32)
OPS_GATHER(__half, f16, __half, f16)
OPS_GATHER(__half, f16, float, f32)
OPS_GATHER(__nv_bfloat16, bf16, __nv_bfloat16, bf16)
OPS_GATHER(__nv_bfloat16, bf16, float, f32)

#define OPS_KV(TS, s, TC, c)                                                                    \
    extern "C" __global__ void kv_cache_copy_##s##_##c(const TS *src, TC *cache, const int32_t *pos, \
                                                       mlxc_p_kv_copy p) {                      \
        mlxc_ops::kv_copy<TS, TC>(src, cache, pos, p);                                          \
    }
#define OPS_KV_FROM(TS, s) OPS_KV(TS, s, float, f32) OPS_KV(TS, s, __half, f16) OPS_KV(TS, s, __nv_bfloat16, bf16)
OPS_KV_FROM(float, f32)
OPS_KV_FROM(__half, f16)
OPS_KV_FROM(__nv_bfloat16, bf16)

#undef OPS_WIDTH
#undef OPS_GATHER
#undef OPS_KV
#undef OPS_KV_FROM
