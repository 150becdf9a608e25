/*
 * The hadamard family on CUDA (src/kernels/params_hadamard.h; the CPU file
 * src/kernels/cpu/hadamard.c is the reference):
 *   hadamard_DT        a block per row (grid-stride): the row in shared
 *                      memory, log2(n) rounds of butterflies, one sync each
 *   tq_kv_copy_DT      a block per (token, KV head) row: norm (block
 *                      reduce), rotate, quantize, a thread per 8 codes packs
 *   tq_dequant_DT      a block per cache row: centroids, rotate back
 *   tq_decode_hdHD_bB  a block per (KV head, split), 128 threads: the group's
 *                      queries rotated once into shared memory; per tile of
 *                      128 keys, the K and V codes staged in shared memory
 *                      (rows padded by 8 bytes), a thread per key for the
 *                      logits of every query head (codes unpacked from
 *                      64-bit words, compile-time shifts, the queries read
 *                      as 16-byte broadcasts), one warp per head for the
 *                      online softmax, then a thread per (key group, 8
 *                      coordinates) for the rotated value sums (one load of
 *                      B bytes gives its 8 codes), the key groups summed at
 *                      the end of the split
 *   tq_decode_combine  a block per query head: merge the splits, rotate back
 */
#include "kernels/params_hadamard.h"
#include "common.cuh"

namespace mlxc_tq {

__constant__ float cb2[4] = MLXC_TQ_CODEBOOK_2;
__constant__ float cb3[8] = MLXC_TQ_CODEBOOK_3;
__constant__ float cb4[16] = MLXC_TQ_CODEBOOK_4;
__constant__ float cb8[256] = MLXC_TQ_CODEBOOK_8;

__device__ __forceinline__ const float *codebook(uint32_t bits) {
    return bits == 2 ? cb2 : bits == 3 ? cb3 : bits == 4 ? cb4 : cb8;
}

constexpr float LOG2E = 1.4426950408889634f;

__device__ __forceinline__ float ld_dt(uint32_t dt, const void *p, uint64_t i) {
    if (dt == MLXC_TQ_DT_F32) return ((const float *)p)[i];
    if (dt == MLXC_TQ_DT_F16) return __half2float(((const __half *)p)[i]);
    return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
}
__device__ __forceinline__ void st_dt(uint32_t dt, void *p, uint64_t i, float v) {
    if (dt == MLXC_TQ_DT_F32) ((float *)p)[i] = v;
    else if (dt == MLXC_TQ_DT_F16) ((__half *)p)[i] = __float2half_rn(v);
    else ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v);
}
__device__ __forceinline__ float norm_ld(uint32_t dt, const void *p, uint64_t i) {
    return dt == MLXC_TQ_DT_F32 ? ((const float *)p)[i] : __half2float(((const __half *)p)[i]);
}

/* buf <- H buf over `rows` rows of n (in shared memory), every thread of
 * the block taking butterflies; synchronises before and after each round. */
__device__ void fwht_shared(float *buf, uint32_t n, uint32_t rows) {
    const uint32_t t = mlxc::thread_linear(), nt = mlxc::thread_count(), half = n / 2;
    __syncthreads();
    for (uint32_t h = 1; h < n; h *= 2) {
        for (uint32_t k = t; k < rows * half; k += nt) {
            const uint32_t r = k / half, kk = k % half;
            const uint32_t i = r * n + (kk / h) * 2 * h + kk % h;
            const float a = buf[i], b = buf[i + h];
            buf[i] = a + b;
            buf[i + h] = a - b;
        }
        __syncthreads();
    }
}

/* Sum of v over the block (every thread gets it). */
__device__ float block_sum(float v) {
    __shared__ float sh[33];
    const uint32_t t = mlxc::thread_linear(), lane = t & 31u, warp = t >> 5, nw = (mlxc::thread_count() + 31u) >> 5;
    for (uint32_t o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (t == 0) {
        float s = 0.0f;
        for (uint32_t w = 0; w < nw; w++) s += sh[w];
        sh[32] = s;
    }
    __syncthreads();
    return sh[32];
}

/* Index of the centroid nearest z (as the CPU: the midpoints below z). */
__device__ __forceinline__ uint32_t quantize(float z, const float *cb, uint32_t levels) {
    uint32_t lo = 0, hi = levels - 1;
    while (lo < hi) {
        const uint32_t mid = (lo + hi) / 2;
        if (z > 0.5f * (cb[mid] + cb[mid + 1])) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Code i of a packed row, for rows followed by at least one readable byte
 * (the shared tiles' padding) or whose code does not cross a byte. */
__device__ __forceinline__ uint32_t code_at(const uint8_t *row, uint32_t i, uint32_t bits) {
    const uint32_t bit = i * bits, byte = bit >> 3, sh = bit & 7u;
    uint32_t v = row[byte];
    if (sh + bits > 8u) v |= (uint32_t)row[byte + 1] << 8;
    return (v >> sh) & ((1u << bits) - 1u);
}

template <typename T> __device__ void hadamard(T *x, const mlxc_p_hadamard &p) {
    __shared__ float buf[MLXC_HAD_MAX_DIM];
    const uint32_t t = mlxc::thread_linear(), nt = mlxc::thread_count(), n = p.dim;
    const bool signs = p.flags & MLXC_HAD_SIGNS, inv = p.flags & MLXC_HAD_INVERSE;
    const float s = rsqrtf((float)n);
    for (uint64_t r = mlxc::block_linear(); r < p.rows; r += mlxc::block_count()) {
        T *row = x + r * n;
        for (uint32_t i = t; i < n; i += nt) {
            const float v = mlxc::conv<T>::load(row[i]);
            buf[i] = signs && !inv ? v * mlxc_had_sign(p.seed, i) : v;
        }
        fwht_shared(buf, n, 1);
        for (uint32_t i = t; i < n; i += nt)
            row[i] = mlxc::conv<T>::store(signs && inv ? buf[i] * s * mlxc_had_sign(p.seed, i) : buf[i] * s);
    }
}

template <typename T>
__device__ void tq_kv_copy(const T *src, uint8_t *codes, void *norms, const int32_t *pos, const mlxc_p_tq_copy &p) {
    __shared__ float buf[256];
    __shared__ uint8_t idx[256];
    const uint32_t t = mlxc::thread_linear(), nt = mlxc::thread_count(), hd = p.head_dim, B = p.bits;
    const uint32_t rb = MLXC_TQ_ROW_BYTES(hd, B), levels = 1u << B;
    const uint64_t cap = p.capacity, T_ = p.n_tokens;
    const uint64_t start = (uint64_t)p.pos + (p.use_pos_buf ? (uint32_t)pos[0] : 0u);
    const uint64_t first = p.sliding && T_ > cap ? T_ - cap : 0;
    const float *cb = codebook(B);
    for (uint64_t r = mlxc::block_linear(); r < T_ * p.kv_heads; r += mlxc::block_count()) {
        const uint64_t tok = r / p.kv_heads, h = r % p.kv_heads;
        if (tok < first) continue;
        uint64_t slot = start + tok;
        if (p.sliding) slot %= cap;
        else if (slot >= cap) continue;
        float ss = 0.0f;
        __syncthreads(); /* the previous row's packing has read idx */
        for (uint32_t i = t; i < hd; i += nt) {
            const float v = mlxc::conv<T>::load(src[r * hd + i]);
            ss += v * v;
            buf[i] = v * mlxc_had_sign(p.seed, i);
        }
        const float norm = sqrtf(block_sum(ss)), inv = norm > 0.0f ? 1.0f / norm : 0.0f;
        fwht_shared(buf, hd, 1);
        for (uint32_t i = t; i < hd; i += nt) idx[i] = (uint8_t)quantize(buf[i] * inv, cb, levels);
        __syncthreads();
        const uint64_t row = h * cap + slot;
        uint8_t *dst = codes + row * rb;
        for (uint32_t g = t; g < hd / 8; g += nt) { /* 8 codes: B bytes */
            uint64_t w = 0;
            for (uint32_t k = 0; k < 8; k++) w |= (uint64_t)idx[g * 8 + k] << (k * B);
            for (uint32_t b = 0; b < B; b++) dst[g * B + b] = (uint8_t)(w >> (8 * b));
        }
        if (t == 0) {
            if (p.norm_dtype == MLXC_TQ_DT_F32) ((float *)norms)[row] = norm;
            else ((__half *)norms)[row] = __float2half_rn(fminf(norm, 65504.0f));
        }
    }
}

template <typename T>
__device__ void tq_dequant(const uint8_t *codes, const void *norms, T *out, const mlxc_p_tq_dequant &p) {
    __shared__ float buf[256];
    const uint32_t t = mlxc::thread_linear(), nt = mlxc::thread_count(), hd = p.head_dim;
    const uint32_t rb = MLXC_TQ_ROW_BYTES(hd, p.bits);
    const float *cb = codebook(p.bits);
    for (uint64_t r = mlxc::block_linear(); r < p.rows; r += mlxc::block_count()) {
        __syncthreads(); /* the previous row's stores have read buf */
        for (uint32_t i = t; i < hd; i += nt) {
            /* the last code of a row never crosses a byte (rb is whole) */
            buf[i] = cb[code_at(codes + r * rb, i, p.bits)];
        }
        fwht_shared(buf, hd, 1);
        const float s = norm_ld(p.norm_dtype, norms, r) / (float)hd;
        for (uint32_t i = t; i < hd; i += nt) out[r * hd + i] = mlxc::conv<T>::store(buf[i] * s * mlxc_had_sign(p.seed, i));
    }
}

/* ---- decode ------------------------------------------------------------------------- */

__device__ __forceinline__ void decode_range(const mlxc_p_tq_decode &p, const void *len_buf, int64_t *lo,
                                             int64_t *len) {
    int64_t L = p.kv_len;
    if (p.len_mode == MLXC_TQ_LEN_U32) L += ((const uint32_t *)len_buf)[0];
    else if (p.len_mode == MLXC_TQ_LEN_I32) L += ((const int32_t *)len_buf)[0];
    if (L < 0) L = 0;
    if (!p.ring && L > p.capacity) L = p.capacity;
    int64_t first = 0;
    if (p.window && L > p.window) first = L - p.window;
    if (p.ring && L - first > p.capacity) first = L - p.capacity;
    *lo = first;
    *len = L;
}

template <uint32_t HD, uint32_t B>
__device__ void tq_decode(const void *q, const uint8_t *kc, const void *kn, const uint8_t *vc, const void *vn,
                          const void *len_buf, float *scratch, const mlxc_p_tq_decode &p) {
    constexpr uint32_t NT = MLXC_TQ_CUDA_THREADS, TILE = MLXC_TQ_TILE, MAXG = MLXC_TQ_MAX_GROUP;
    constexpr uint32_t RB = HD * B / 8, RS = RB + 8, WPR = RB / 8; /* 8-byte words per row */
    constexpr uint32_t CG = HD / 8;  /* V phase: a thread per 8 coordinates (B bytes of codes) */
    constexpr uint32_t KS = NT / CG; /* ... and key groups of CG threads, keys j = kg mod KS    */
    static_assert(TILE == NT, "a thread per key of a tile");
    static_assert(TILE * RS >= MAXG * HD * 4, "the K tile holds the key groups' sums at the end");
    extern __shared__ __align__(16) unsigned char smem[];
    uint8_t *ktile = smem;                     /* (TILE, RS) */
    uint8_t *vtile = ktile + TILE * RS;        /* (TILE, RS) */
    float *vsc = (float *)(vtile + TILE * RS); /* (TILE) ||v|| per key, 0 past the split */
    float *qr = vsc + TILE;                    /* (MAXG, HD) rotated, scaled queries */
    float *pt = qr + MAXG * HD;                /* (MAXG, TILE) logits, then p * ||v|| */
    float *cb = pt + MAXG * TILE;              /* (2^B) */
    float *mls = cb + 256;                     /* m[MAXG], l[MAXG], corr[MAXG] */

    const uint32_t t = threadIdx.x, lane = t & 31u, warp = t >> 5;
    const uint32_t G = p.n_heads / p.n_kv_heads, S = p.n_splits;
    const float *gcb = codebook(B);
    for (uint32_t i = t; i < (1u << B); i += NT) cb[i] = gcb[i];
    float *acc_out = scratch, *ml_out = scratch + (size_t)p.n_heads * S * HD;
    int64_t lo, L;
    decode_range(p, len_buf, &lo, &L);
    int64_t chunk = (L - lo + S - 1) / S;
    chunk = (chunk + TILE - 1) / TILE * TILE;

    for (uint64_t it = blockIdx.x; it < (uint64_t)p.n_kv_heads * S; it += gridDim.x) {
        const uint32_t kvh = (uint32_t)(it / S), sp = (uint32_t)(it % S);
        int64_t s_lo = lo + (int64_t)sp * chunk, s_hi = s_lo + chunk;
        if (s_hi > L) s_hi = L;
        __syncthreads(); /* the previous item is done with qr and mls */
        for (uint32_t i = t; i < G * HD; i += NT) {
            const uint32_t g = i / HD, d = i % HD;
            qr[i] = ld_dt(p.q_dtype, q, ((uint64_t)kvh * G + g) * HD + d) * mlxc_had_sign(p.seed, d);
        }
        if (t < MAXG) {
            mls[t] = -INFINITY;
            mls[MAXG + t] = 0.0f;
        }
        fwht_shared(qr, HD, G);
        for (uint32_t i = t; i < G * HD; i += NT) qr[i] *= p.scale / (float)HD;
        float acc[MAXG][8]; /* coordinates cg*8 .. cg*8+7 of each query head */
#pragma unroll
        for (uint32_t g = 0; g < MAXG; g++)
#pragma unroll
            for (uint32_t c = 0; c < 8; c++) acc[g][c] = 0.0f;
        const uint32_t kg = t / CG, cg = t % CG;

        for (int64_t t0 = s_lo; t0 < s_hi; t0 += TILE) {
            const uint32_t nk = (uint32_t)(s_hi - t0 < TILE ? s_hi - t0 : TILE);
            __syncthreads(); /* qr ready; the previous tile's V phase is done */
            for (uint32_t w = t; w < nk * WPR; w += NT) {
                const uint32_t j = w / WPR, o = w % WPR;
                const uint64_t pos = (uint64_t)(t0 + j), slot = p.ring ? pos % p.capacity : pos;
                const uint64_t row = (uint64_t)kvh * p.capacity + slot;
                *(uint2 *)(ktile + j * RS + o * 8) = *(const uint2 *)(kc + row * RB + o * 8);
                *(uint2 *)(vtile + j * RS + o * 8) = *(const uint2 *)(vc + row * RB + o * 8);
            }
            float knorm = 0.0f;
            {
                const uint64_t pos = (uint64_t)(t0 + t), slot = p.ring ? pos % p.capacity : pos;
                const uint64_t row = (uint64_t)kvh * p.capacity + slot;
                vsc[t] = t < nk ? norm_ld(p.norm_dtype, vn, row) : 0.0f;
                if (t < nk) knorm = norm_ld(p.norm_dtype, kn, row);
            }
            __syncthreads();
            /* logits: a thread per key, every query head of the group */
            float dot[MAXG];
#pragma unroll
            for (uint32_t g = 0; g < MAXG; g++) dot[g] = 0.0f;
            if (t < nk) {
                const uint8_t *kr = ktile + t * RS;
#pragma unroll 1
                for (uint32_t c64 = 0; c64 < HD / 64; c64++) {
                    uint64_t W[B];
#pragma unroll
                    for (uint32_t w = 0; w < B; w++) {
                        const uint2 u = *(const uint2 *)(kr + (c64 * B + w) * 8);
                        W[w] = (uint64_t)u.x | ((uint64_t)u.y << 32);
                    }
#pragma unroll
                    for (uint32_t i4 = 0; i4 < 16; i4++) {
                        float c[4];
#pragma unroll
                        for (uint32_t k = 0; k < 4; k++) {
                            const uint32_t bit = (i4 * 4 + k) * B, wi = bit / 64, sh = bit % 64;
                            uint64_t v = W[wi] >> sh;
                            if (sh + B > 64) v |= W[wi + 1] << (64 - sh);
                            c[k] = cb[v & ((1u << B) - 1u)];
                        }
                        /* one 16-byte broadcast load per head and 4 coordinates */
#pragma unroll
                        for (uint32_t g = 0; g < MAXG; g++)
                            if (g < G) {
                                const float4 qv = *(const float4 *)(qr + g * HD + c64 * 64 + i4 * 4);
                                dot[g] += qv.x * c[0] + qv.y * c[1] + qv.z * c[2] + qv.w * c[3];
                            }
                    }
                }
            }
#pragma unroll
            for (uint32_t g = 0; g < MAXG; g++) {
                if (g >= G) break;
                float x = dot[g] * knorm;
                if (p.softcap > 0.0f) x = p.softcap * tanhf(x / p.softcap);
                pt[g * TILE + t] = t < nk ? x * LOG2E : -INFINITY;
            }
            __syncthreads();
            /* online softmax: a warp per query head */
            for (uint32_t g = warp; g < G; g += NT / 32) {
                float x[TILE / 32], mx = -INFINITY;
#pragma unroll
                for (uint32_t k = 0; k < TILE / 32; k++) {
                    x[k] = pt[g * TILE + lane + 32 * k];
                    mx = fmaxf(mx, x[k]);
                }
                for (uint32_t o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
                const float m_old = mls[g], mn = fmaxf(m_old, mx);
                const float corr = mn == -INFINITY ? 1.0f : exp2f(m_old - mn);
                float sum = 0.0f;
#pragma unroll
                for (uint32_t k = 0; k < TILE / 32; k++) {
                    const uint32_t j = lane + 32 * k;
                    const float pj = mn == -INFINITY ? 0.0f : exp2f(x[k] - mn);
                    sum += pj;
                    pt[g * TILE + j] = pj * vsc[j];
                }
                for (uint32_t o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
                __syncwarp();
                if (lane == 0) {
                    mls[g] = mn;
                    mls[MAXG + g] = mls[MAXG + g] * corr + sum;
                    mls[2 * MAXG + g] = corr;
                }
            }
            __syncthreads();
            /* values: a thread per (key group, 8 coordinates) */
#pragma unroll
            for (uint32_t g = 0; g < MAXG; g++) {
                if (g >= G) break;
                const float corr = mls[2 * MAXG + g];
#pragma unroll
                for (uint32_t c = 0; c < 8; c++) acc[g][c] *= corr;
            }
            for (uint32_t j = kg; j < nk; j += KS) {
                const uint8_t *vr = vtile + j * RS + cg * B; /* the 8 codes: B bytes */
                uint64_t w;
                if (B == 8) {
                    const uint2 u = *(const uint2 *)vr;
                    w = (uint64_t)u.x | ((uint64_t)u.y << 32);
                } else if (B == 4) w = *(const uint32_t *)vr;
                else if (B == 2) w = *(const uint16_t *)vr;
                else w = (uint64_t)vr[0] | ((uint64_t)vr[1] << 8) | ((uint64_t)vr[2] << 16);
                float cv[8];
#pragma unroll
                for (uint32_t c = 0; c < 8; c++) cv[c] = cb[(w >> (c * B)) & ((1u << B) - 1u)];
#pragma unroll
                for (uint32_t g = 0; g < MAXG; g++)
                    if (g < G) {
                        const float pj = pt[g * TILE + j];
#pragma unroll
                        for (uint32_t c = 0; c < 8; c++) acc[g][c] += pj * cv[c];
                    }
            }
        }
        /* the key groups' sums into group 0, one group at a time through
         * the K tile (free now) */
        float *red = (float *)ktile; /* (MAXG, HD) */
        for (uint32_t r = 1; r < KS; r++) {
            __syncthreads();
            if (kg == r)
#pragma unroll
                for (uint32_t g = 0; g < MAXG; g++)
                    if (g < G)
#pragma unroll
                        for (uint32_t c = 0; c < 8; c++) red[g * HD + cg * 8 + c] = acc[g][c];
            __syncthreads();
            if (kg == 0)
#pragma unroll
                for (uint32_t g = 0; g < MAXG; g++)
                    if (g < G)
#pragma unroll
                        for (uint32_t c = 0; c < 8; c++) acc[g][c] += red[g * HD + cg * 8 + c];
        }
        if (kg == 0)
#pragma unroll
            for (uint32_t g = 0; g < MAXG; g++)
                if (g < G)
#pragma unroll
                    for (uint32_t c = 0; c < 8; c++)
                        acc_out[(((uint64_t)kvh * G + g) * S + sp) * HD + cg * 8 + c] = acc[g][c];
        if (t < G) {
            const uint64_t prow = ((uint64_t)kvh * G + t) * S + sp;
            ml_out[prow * 2] = mls[t];
            ml_out[prow * 2 + 1] = mls[MAXG + t];
        }
    }
}

__device__ void tq_decode_combine(const float *scratch, void *out, const mlxc_p_tq_decode &p) {
    __shared__ float o[256];
    const uint32_t t = mlxc::thread_linear(), nt = mlxc::thread_count(), hd = p.head_dim, S = p.n_splits;
    const float *acc_in = scratch, *ml = scratch + (size_t)p.n_heads * S * hd;
    for (uint64_t h = mlxc::block_linear(); h < p.n_heads; h += mlxc::block_count()) {
        float M = -INFINITY, L = 0.0f;
        for (uint32_t s = 0; s < S; s++) M = fmaxf(M, ml[(h * S + s) * 2]);
        __syncthreads(); /* the previous head's stores have read o */
        for (uint32_t d = t; d < hd; d += nt) o[d] = 0.0f;
        if (M > -INFINITY)
            for (uint32_t s = 0; s < S; s++) {
                const float ms = ml[(h * S + s) * 2];
                if (!(ms > -INFINITY)) continue;
                const float w = exp2f(ms - M);
                L += w * ml[(h * S + s) * 2 + 1];
                for (uint32_t d = t; d < hd; d += nt) o[d] += w * acc_in[(h * S + s) * hd + d];
            }
        fwht_shared(o, hd, 1);
        const float inv = L > 0.0f ? 1.0f / (L * (float)hd) : 0.0f;
        for (uint32_t d = t; d < hd; d += nt) st_dt(p.out_dtype, out, h * hd + d, o[d] * inv * mlxc_had_sign(p.seed, d));
    }
}

} // namespace mlxc_tq

#define HAD_KERNELS(T, SFX)                                                                                         \
    extern "C" __global__ void hadamard_##SFX(T *x, mlxc_p_hadamard p) { MLXC_PDL_WAIT(); mlxc_tq::hadamard<T>(x, p); }             \
    extern "C" __global__ void tq_kv_copy_##SFX(const T *src, uint8_t *codes, void *norms, const int32_t *pos,     \
                                                mlxc_p_tq_copy p) { MLXC_PDL_WAIT();                                                 \
        mlxc_tq::tq_kv_copy<T>(src, codes, norms, pos, p);                                                          \
    }                                                                                                               \
    extern "C" __global__ void tq_dequant_##SFX(const uint8_t *codes, const void *norms, T *out, mlxc_p_tq_dequant p) { MLXC_PDL_WAIT(); \
        mlxc_tq::tq_dequant<T>(codes, norms, out, p);                                                               \
    }
HAD_KERNELS(float, f32)
HAD_KERNELS(__half, f16)
HAD_KERNELS(__nv_bfloat16, bf16)
#undef HAD_KERNELS

/* One block per SM as the floor: ptxas then keeps the 64 value sums and
 * the logit state in registers (about 212) with no spill on sm_80 or
 * sm_90a; a floor of three spills. */
#define TQ_DECODE(HD, B)                                                                                            \
    extern "C" __global__ void __launch_bounds__(MLXC_TQ_CUDA_THREADS, 1)                                            \
        tq_decode_hd##HD##_b##B(const void *q, const uint8_t *kc, const void *kn, const uint8_t *vc, const void *vn, \
                                const void *len_buf, float *scratch, mlxc_p_tq_decode p) { MLXC_PDL_WAIT();                          \
        mlxc_tq::tq_decode<HD, B>(q, kc, kn, vc, vn, len_buf, scratch, p);                                          \
    }
#define TQ_DECODE_BITS(HD) TQ_DECODE(HD, 2) TQ_DECODE(HD, 3) TQ_DECODE(HD, 4) TQ_DECODE(HD, 8)
TQ_DECODE_BITS(64)
TQ_DECODE_BITS(128)
TQ_DECODE_BITS(256)
#undef TQ_DECODE_BITS
#undef TQ_DECODE

extern "C" __global__ void tq_decode_combine(const float *scratch, void *out, mlxc_p_tq_decode p) { MLXC_PDL_WAIT();
    mlxc_tq::tq_decode_combine(scratch, out, p);
}
