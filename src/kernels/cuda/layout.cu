/*
 * Op-library layout kernels (src/kernels/params_layout.h): strided copy,
 * batched 2-D transpose (tiles through shared memory, both sides
 * coalesced), embedding gather and the KV-cache write.  Copies whose rows
 * are whole 16-byte pieces on aligned views move 16 bytes per access.  Copies move bits
 * or convert once, so results equal the CPU backend's exactly.
 */
#include "kernels/params_layout.h"
#include "common.cuh"

namespace mlxc_ops {

template <typename T>
__device__ __forceinline__ void copy_strided_elems(const T *__restrict__ src, T *__restrict__ dst,
                                                   const mlxc_p_copy_strided &p) {
    const uint64_t n1 = p.shape[1], n2 = p.shape[2];
    const uint64_t total = p.shape[0] * n1 * n2;
    for (uint64_t e = global_index(); e < total; e += global_stride()) {
        const uint64_t i2 = e % n2, r = e / n2, i1 = r % n1, i0 = r / n1;
        dst[i0 * p.dst_stride[0] + i1 * p.dst_stride[1] + i2 * p.dst_stride[2]] =
            src[i0 * p.src_stride[0] + i1 * p.src_stride[1] + i2 * p.src_stride[2]];
    }
}

/* Rows contiguous on both sides, in whole 16-byte pieces: copy pieces,
 * with 32-bit index arithmetic when the piece count allows. */
template <typename I>
__device__ __forceinline__ void copy_rows16(const uint4 *__restrict__ src, uint4 *__restrict__ dst, I n0, I n1, I n2,
                                            const uint64_t *ss, const uint64_t *ds) {
    const I total = n0 * n1 * n2;
    for (I e = (I)global_index(); e < total; e += (I)global_stride()) {
        const I r = e / n2, i2 = e - r * n2, i0 = r / n1, i1 = r - i0 * n1;
        dst[i0 * ds[0] + i1 * ds[1] + i2] = src[i0 * ss[0] + i1 * ss[1] + i2];
    }
}

template <typename T>
__device__ __forceinline__ void copy_strided(const T *__restrict__ src, T *__restrict__ dst,
                                             const mlxc_p_copy_strided &p) {
    constexpr uint64_t N = 16 / sizeof(T);
    bool vec = p.src_stride[2] == 1 && p.dst_stride[2] == 1 && p.shape[2] % N == 0 && aligned16(src) && aligned16(dst);
    for (int d = 0; d < 2; d++) vec = vec && p.src_stride[d] % N == 0 && p.dst_stride[d] % N == 0;
    if (!vec) {
        copy_strided_elems<T>(src, dst, p);
        return;
    }
    const uint64_t ss[2] = {p.src_stride[0] / N, p.src_stride[1] / N}, ds[2] = {p.dst_stride[0] / N, p.dst_stride[1] / N};
    const uint64_t n2 = p.shape[2] / N, total = p.shape[0] * p.shape[1] * n2;
    const uint4 *s = reinterpret_cast<const uint4 *>(src);
    uint4 *d = reinterpret_cast<uint4 *>(dst);
    if (total + global_stride() < 0xffffffffull)
        copy_rows16<uint32_t>(s, d, (uint32_t)p.shape[0], (uint32_t)p.shape[1], (uint32_t)n2, ss, ds);
    else
        copy_rows16<uint64_t>(s, d, p.shape[0], p.shape[1], n2, ss, ds);
}

/* transpose: 64 x 64 tiles, 16 elements per thread in flight, when the
 * block is 256 threads (the front-end's choice) and elements are at most 4
 * bytes; anything else takes the 32 x 32 loop below.  Rows of the tile are padded to an odd number of
 * 4-byte words so the column reads hit 32 banks. */
constexpr uint32_t BIG = 64, BIG_THREADS = 256;

template <typename T>
__device__ __forceinline__ void transpose64(const T *__restrict__ src, T *__restrict__ dst, const mlxc_p_transpose &p) {
    constexpr uint32_t PAD = sizeof(T) >= 4 ? 1 : 4 / sizeof(T), K = BIG * BIG / BIG_THREADS;
    __shared__ T tile[BIG][BIG + PAD];
    const uint64_t R = p.rows, C = p.cols;
    const uint64_t tr = (R + BIG - 1) / BIG, tc = (C + BIG - 1) / BIG, tiles = p.batch * tr * tc;
    const uint32_t t = thread_linear(), lane = t % BIG, sub = t / BIG;
    for (uint64_t k = block_linear(); k < tiles; k += block_count()) {
        const uint64_t b = k / (tr * tc), r0 = (k / tc) % tr * BIG, c0 = k % tc * BIG;
        const T *s = src + b * R * C;
        T *d = dst + b * R * C;
        T v[K];
#pragma unroll
        for (uint32_t i = 0; i < K; i++) {
            const uint32_t r = sub + i * (BIG_THREADS / BIG);
            if (r0 + r < R && c0 + lane < C) v[i] = s[(r0 + r) * C + c0 + lane];
        }
#pragma unroll
        for (uint32_t i = 0; i < K; i++) tile[sub + i * (BIG_THREADS / BIG)][lane] = v[i];
        __syncthreads();
#pragma unroll
        for (uint32_t i = 0; i < K; i++) {
            const uint32_t c = sub + i * (BIG_THREADS / BIG);
            if (r0 + lane < R && c0 + c < C) d[(c0 + c) * R + r0 + lane] = tile[lane][c];
        }
        __syncthreads();
    }
}

/* transpose of 2-byte elements with 16-byte accesses on both sides, when
 * the block is 256 threads, rows and columns are multiples of 8 and both
 * views are 16-byte aligned: tiles of 128 rows x 64 columns.  A thread
 * loads the same 8 columns of two adjacent rows (2 x 16 bytes, twice), and
 * pairs them into 32-bit words (row r low, row r + 1 high: one PRMT each)
 * that are already two consecutive elements of an output row; the tile is
 * kept as [column][row pair] words, read back as 16-byte pieces of output
 * rows.  The 4-word chunks of each column are XOR-swizzled by column / 8,
 * so the word stores and the 16-byte reads are both free of bank
 * conflicts. */
constexpr uint32_t T16_ROWS = 128, T16_COLS = 64;

__device__ __forceinline__ uint32_t t16_word(uint32_t col, uint32_t pair) {
    return col * (T16_ROWS / 2) + (((pair >> 2) ^ (col >> 3)) << 2) + (pair & 3u);
}

__device__ __forceinline__ void transpose16(const uint16_t *__restrict__ src, uint16_t *__restrict__ dst,
                                            const mlxc_p_transpose &p) {
    constexpr uint32_t NT = BIG_THREADS, VECS = T16_COLS / 8;          /* 16-byte pieces per tile row */
    constexpr uint32_t LOADS = T16_ROWS / 2 * VECS / NT;                /* (pair, piece) items a thread */
    constexpr uint32_t STORES = T16_COLS * (T16_ROWS / 8) / NT;         /* output pieces a thread */
    __shared__ __align__(16) uint32_t tile[T16_COLS * T16_ROWS / 2];
    const uint64_t R = p.rows, C = p.cols;
    const uint64_t tr = (R + T16_ROWS - 1) / T16_ROWS, tc = (C + T16_COLS - 1) / T16_COLS, tiles = p.batch * tr * tc;
    const uint32_t t = thread_linear();
    for (uint64_t k = block_linear(); k < tiles; k += block_count()) {
        const uint64_t b = k / (tr * tc), r0 = (k / tc) % tr * T16_ROWS, c0 = k % tc * T16_COLS;
        const uint16_t *s = src + b * R * C;
        uint16_t *d = dst + b * R * C;
        uint4 va[LOADS], vb[LOADS];
#pragma unroll
        for (uint32_t i = 0; i < LOADS; i++) {
            const uint32_t e = t + i * NT, v = e % VECS, pair = e / VECS;
            const uint64_t r = r0 + 2 * pair, c = c0 + 8 * v;
            if (r < R && c < C) {
                va[i] = *reinterpret_cast<const uint4 *>(s + r * C + c);
                vb[i] = *reinterpret_cast<const uint4 *>(s + (r + 1) * C + c);
            }
        }
#pragma unroll
        for (uint32_t i = 0; i < LOADS; i++) {
            const uint32_t e = t + i * NT, v = e % VECS, pair = e / VECS;
            const uint32_t wa[4] = {va[i].x, va[i].y, va[i].z, va[i].w}, wb[4] = {vb[i].x, vb[i].y, vb[i].z, vb[i].w};
#pragma unroll
            for (uint32_t j = 0; j < 8; j++)
                tile[t16_word(8 * v + j, pair)] = __byte_perm(wa[j / 2], wb[j / 2], (j & 1u) ? 0x7632u : 0x5410u);
        }
        __syncthreads();
#pragma unroll
        for (uint32_t i = 0; i < STORES; i++) {
            const uint32_t e = t + i * NT, q = e % (T16_ROWS / 8), col = e / (T16_ROWS / 8);
            const uint64_t c = c0 + col, r = r0 + 8 * q;
            if (c < C && r < R)
                *reinterpret_cast<uint4 *>(d + c * R + r) = *reinterpret_cast<const uint4 *>(&tile[t16_word(col, 4 * q)]);
        }
        __syncthreads();
    }
}

constexpr uint32_t TILE = 32;

template <typename T>
__device__ __forceinline__ void transpose(const T *__restrict__ src, T *__restrict__ dst, const mlxc_p_transpose &p) {
    if constexpr (sizeof(T) == 2) {
        if (thread_count() == BIG_THREADS && p.rows % 8 == 0 && p.cols % 8 == 0 && aligned16(src) && aligned16(dst)) {
            transpose16(reinterpret_cast<const uint16_t *>(src), reinterpret_cast<uint16_t *>(dst), p);
            return;
        }
    }
    if constexpr (sizeof(T) < 8) { /* 8-byte elements: 16 in flight would spill */
        if (thread_count() == BIG_THREADS) {
            transpose64<T>(src, dst, p);
            return;
        }
    }
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
    constexpr uint32_t N = vec_n<TT>::N > vec_n<TO>::N ? vec_n<TT>::N : vec_n<TO>::N;
    if (p.dim % N == 0 && aligned16(table) && aligned16(out)) {
        /* whole frags of a row: N elements per thread, 16-byte accesses;
         * 32-bit index arithmetic when it fits (the id load waits on it) */
        const uint64_t per = p.dim / N, units = (uint64_t)p.n_ids * per;
        const bool narrow = units + global_stride() < 0xffffffffull;
        for (uint64_t u = global_index(); u < units; u += global_stride()) {
            const uint64_t i = narrow ? (uint32_t)u / (uint32_t)per : u / per, j = (u - i * per) * N;
            const uint32_t id = ids[i];
            frag<TO, N> o;
            if (id < p.vocab) {
                frag<TT, N> a;
                a.load(table + (uint64_t)id * p.dim + j);
#pragma unroll
                for (uint32_t q = 0; q < N; q++) o.set(q, a.get(q) * p.scale);
            } else {
#pragma unroll
                for (uint32_t q = 0; q < N; q++) o.set(q, 0.0f);
            }
            o.store(out + i * p.dim + j);
        }
        return;
    }
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
    constexpr uint32_t N = vec_n<TS>::N > vec_n<TC>::N ? vec_n<TS>::N : vec_n<TC>::N;
    if (hd % N == 0 && aligned16(src) && aligned16(cache)) {
        /* whole frags of a head row: N elements per thread */
        const uint64_t per = hd / N, units = T * H * per;
        for (uint64_t u = global_index(); u < units; u += global_stride()) {
            const uint64_t row = u / per, j = (u - row * per) * N, h = row % H, t = row / H;
            if (t < first) continue;
            uint64_t slot = start + t;
            if (p.sliding) slot %= cap;
            else if (slot >= cap) continue;
            frag<TS, N> a;
            frag<TC, N> o;
            a.load(src + row * hd + j);
#pragma unroll
            for (uint32_t q = 0; q < N; q++) o.set(q, a.get(q));
            o.store(cache + (h * cap + slot) * hd + j);
        }
        return;
    }
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
    extern "C" __global__ void copy_strided_##w(const T *src, T *dst, mlxc_p_copy_strided p) { MLXC_PDL_WAIT();  \
        mlxc_ops::copy_strided<T>(src, dst, p);                                                 \
    }                                                                                           \
    extern "C" __global__ void __launch_bounds__(1024, 1) transpose_##w(const T *src, T *dst, mlxc_p_transpose p) { MLXC_PDL_WAIT();        \
        mlxc_ops::transpose<T>(src, dst, p);                                                    \
    }
OPS_WIDTH(uint8_t, x8)
OPS_WIDTH(uint16_t, x16)
OPS_WIDTH(uint32_t, x32)
OPS_WIDTH(unsigned long long, x64)

#define OPS_GATHER(TT, t, TO, o)                                                                \
    extern "C" __global__ void embedding_gather_##t##_##o(const TT *table, const uint32_t *ids, TO *out, \
                                                          mlxc_p_gather p) { MLXC_PDL_WAIT();                    \
        mlxc_ops::gather<TT, TO>(table, ids, out, p);                                           \
    }
OPS_GATHER(float, f32, float, f32)
OPS_GATHER(__half, f16, __half, f16)
OPS_GATHER(__half, f16, float, f32)
OPS_GATHER(__nv_bfloat16, bf16, __nv_bfloat16, bf16)
OPS_GATHER(__nv_bfloat16, bf16, float, f32)

#define OPS_KV(TS, s, TC, c)                                                                    \
    extern "C" __global__ void kv_cache_copy_##s##_##c(const TS *src, TC *cache, const int32_t *pos, \
                                                       mlxc_p_kv_copy p) { MLXC_PDL_WAIT();                      \
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

/* copy_bytes(src, dst, mlxc_p_elementwise{n = bytes}): 16-byte accesses when
 * both pointers are aligned, then a byte tail. */
extern "C" __global__ void copy_bytes(const uint8_t *src, uint8_t *dst, mlxc_p_elementwise p) { MLXC_PDL_WAIT();
    const uint64_t n = p.n;
    const uint64_t tid = mlxc::block_linear() * mlxc::thread_count() + mlxc::thread_linear();
    const uint64_t stride = mlxc::block_count() * mlxc::thread_count();
    uint64_t head = 0;
    if ((((uintptr_t)src | (uintptr_t)dst) & 15) == 0) {
        const uint64_t nv = n / 16;
        const uint4 *s = reinterpret_cast<const uint4 *>(src);
        uint4 *d = reinterpret_cast<uint4 *>(dst);
        for (uint64_t i = tid; i < nv; i += stride) d[i] = s[i];
        head = nv * 16;
    }
    for (uint64_t i = head + tid; i < n; i += stride) dst[i] = src[i];
}
