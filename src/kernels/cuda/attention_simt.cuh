/*
 * The plain f32 attention kernel (attention.cu): head dim 512 (decode and
 * the causal prefill), whose tensor-core state would not fit the
 * registers and whose K/V stages would not fit shared memory, and the
 * general prefill attn_prefill_x_* at every head dim (batches, non-causal,
 * additive masks, key lengths, ring chunks).  Slower than the tensor-core
 * kernels, but simple enough to trust: every product in f32, Q and K/V
 * read at their own precision.
 *
 * A block walks up to ROWS query rows (decode: the query heads of one KV
 * head; prefill: ROWS consecutive queries of one head), each with its own
 * key range, over tiles of SBK keys:
 *   1. the tile's K and V rows, converted to f32, into shared memory (rows
 *      padded by one float, so the 16 keys of a warp's dot products fall
 *      in distinct banks);
 *   2. the ROWS x SBK logits, two per thread, each a dot product over HD
 *      (scale, softcap, the additive bias, the log2 domain; a key outside a
 *      row's range is -inf);
 *   3. the online softmax of each row by one thread (running max m and
 *      sum l in shared memory, in the log2 domain as the other kernels);
 *   4. O = O * corr + P V: thread i owns the accumulator elements
 *      e = i + n * NT of the ROWS x HD block (HD / 8 registers).
 * Shared memory: MLXC_ATTN_SIMT_SMEM(HD) (params_attention.h).
 */
#ifndef MLXC_KERNELS_CUDA_ATTENTION_SIMT_CUH
#define MLXC_KERNELS_CUDA_ATTENTION_SIMT_CUH

#include "attention.cuh"

namespace mlxc_attn {

constexpr int SROWS = MLXC_ATTN_SIMT_ROWS;
constexpr int SBK = MLXC_ATTN_SIMT_BK;

/* Store one value of a run-time dtype. */
__device__ __forceinline__ void st1_dt(uint32_t dt, void *p, uint64_t i, float a) {
    if (dt == MLXC_ATTN_DT_F32) static_cast<float *>(p)[i] = a;
    else if (dt == MLXC_ATTN_DT_F16) static_cast<__half *>(p)[i] = __float2half_rn(a);
    else static_cast<__nv_bfloat16 *>(p)[i] = __float2bfloat16_rn(a);
}

__device__ __forceinline__ float ld_mask(uint32_t dt, const void *p, uint64_t i) {
    if (dt == MLXC_ATTN_MASK_F32) return static_cast<const float *>(p)[i];
    if (dt == MLXC_ATTN_MASK_F16) return __half2float(static_cast<const __half *>(p)[i]);
    return __bfloat162float(static_cast<const __nv_bfloat16 *>(p)[i]);
}

__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }

/* The rows' state shared by the steps of simt_rows. */
struct simt_rows_state {
    int64_t lo[SROWS], hi[SROWS]; /* key range of each row (empty: lo = hi)   */
    uint64_t mrow[SROWS];         /* the row's bias at mask[mrow + position]  */
    float m[SROWS], l[SROWS], corr[SROWS];
};

/* The rows of sQ (ROWS x HD f32, rows past nrows zero) against their key
 * ranges in rs; acc receives the unnormalised sums and rs.m / rs.l the
 * softmax state.  key_row(pos, &k, &v) gives the K and V rows of a
 * position; mask (may be NULL) holds the additive bias of dtype mask_dt.
 * Every thread of the block calls it; it begins and ends with a barrier. */
template <typename T, int HD, typename Acc, typename KeyRow>
__device__ __forceinline__ void simt_rows(simt_rows_state &rs, const float *sQ, float *sK, float *sV, float *sS,
                                          Acc &acc, float scale, float softcap, const void *mask,
                                          uint32_t mask_dt, KeyRow key_row) {
    constexpr int LDK = HD + 1, NACC = SROWS * HD / NT;
    __syncthreads();
    int64_t blo = INT64_MAX, bhi = INT64_MIN;
#pragma unroll
    for (int r = 0; r < SROWS; r++)
        if (rs.lo[r] < rs.hi[r]) {
            blo = rs.lo[r] < blo ? rs.lo[r] : blo;
            bhi = rs.hi[r] > bhi ? rs.hi[r] : bhi;
        }
#pragma unroll
    for (int i = 0; i < NACC; i++) acc[i] = 0.0f;
    for (int64_t b0 = blo; b0 < bhi; b0 += SBK) {
        const int nb = bhi - b0 < SBK ? (int)(bhi - b0) : SBK;
        /* Partly unrolled: fully, at head dim 512, the hoisted loads of 64
         * rounds would not fit the registers. */
#pragma unroll 4
        for (int e = threadIdx.x; e < SBK * HD; e += NT) {
            const int j = e / HD, d = e % HD;
            float kx = 0.0f, vx = 0.0f;
            if (j < nb) {
                const T *kr, *vr;
                key_row(b0 + j, kr, vr);
                kx = to_f32(kr[d]);
                vx = to_f32(vr[d]);
            }
            sK[j * LDK + d] = kx;
            sV[j * LDK + d] = vx;
        }
        __syncthreads();
        for (int e = threadIdx.x; e < SROWS * SBK; e += NT) {
            const int r = e / SBK, j = e % SBK;
            const int64_t pos = b0 + j;
            float x = -INFINITY;
            if (j < nb && pos >= rs.lo[r] && pos < rs.hi[r]) {
                const float *qr = sQ + r * HD, *kr = sK + j * LDK;
                float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
#pragma unroll 8
                for (int d = 0; d < HD; d += 4) {
                    s0 = fmaf(qr[d], kr[d], s0);
                    s1 = fmaf(qr[d + 1], kr[d + 1], s1);
                    s2 = fmaf(qr[d + 2], kr[d + 2], s2);
                    s3 = fmaf(qr[d + 3], kr[d + 3], s3);
                }
                x = ((s0 + s1) + (s2 + s3)) * scale;
                if (softcap > 0.0f) x = softcap * tanhf(x / softcap);
                if (mask) x += ld_mask(mask_dt, mask, rs.mrow[r] + (uint64_t)pos);
                x *= LOG2E;
            }
            sS[e] = x;
        }
        __syncthreads();
        if (threadIdx.x < SROWS) {
            const int r = threadIdx.x;
            float mx = -INFINITY;
            for (int j = 0; j < nb; j++) mx = fmaxf(mx, sS[r * SBK + j]);
            const float mn = fmaxf(rs.m[r], mx);
            if (mn == -INFINITY) { /* nothing visible yet: acc stays 0 */
                for (int j = 0; j < SBK; j++) sS[r * SBK + j] = 0.0f;
                rs.corr[r] = 1.0f;
            } else {
                const float corr = exp2f(rs.m[r] - mn); /* m = -inf: 0 */
                float sum = 0.0f;
                for (int j = 0; j < SBK; j++) {
                    const float p = j < nb ? exp2f(sS[r * SBK + j] - mn) : 0.0f;
                    sS[r * SBK + j] = p;
                    sum += p;
                }
                rs.l[r] = rs.l[r] * corr + sum;
                rs.m[r] = mn;
                rs.corr[r] = corr;
            }
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < NACC; i++) {
            const int e = threadIdx.x + i * NT, r = e / HD, d = e % HD;
            float a = acc[i] * rs.corr[r];
            for (int j = 0; j < nb; j++) a = fmaf(sS[r * SBK + j], sV[j * LDK + d], a);
            acc[i] = a;
        }
        __syncthreads(); /* the tile, logits and corr are rewritten next */
    }
}

/* The dynamic shared memory of simt_rows: Q, the K and V tiles, the logits. */
/* The thread's NACC accumulator elements: registers up to head dim 256;
 * at 512 (64 per thread) they live in shared memory, in slots of their
 * own thread (consecutive threads, consecutive words), which keeps the
 * kernel within the registers without spilling. */
template <int HD, bool SMEM = (HD > 256)> struct simt_acc {
    float r[SROWS * HD / NT];
    __device__ __forceinline__ explicit simt_acc(float *) {}
    __device__ __forceinline__ float &operator[](int i) { return r[i]; }
};
template <int HD> struct simt_acc<HD, true> {
    float *p;
    __device__ __forceinline__ explicit simt_acc(float *base) : p(base + threadIdx.x) {}
    __device__ __forceinline__ float &operator[](int i) { return p[i * NT]; }
};

template <int HD> struct simt_smem {
    float *sQ, *sK, *sV, *sS, *sAcc; /* sAcc: head dims above 256 only */
    __device__ __forceinline__ explicit simt_smem(unsigned char *base) {
        sQ = reinterpret_cast<float *>(base);
        sK = sQ + SROWS * HD;
        sV = sK + SBK * (HD + 1);
        sS = sV + SBK * (HD + 1);
        sAcc = sS + SROWS * SBK + 4 * SROWS;
    }
};

/* Decode at head dim HD with the plain kernel: one item per (KV head,
 * split), rows = the G query heads of the KV head; the partial, counter
 * and merge protocol of decode() (attention.cu). */
template <typename T, int HD>
__device__ __forceinline__ void simt_decode(const void *q, const T *k, const T *v, const void *len_buf, float *scratch,
                                            void *out, const mlxc_p_attn_decode &p) {
    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ simt_rows_state rs;
    __shared__ uint32_t s_last;
    const simt_smem<HD> sm(smem);
    constexpr int NACC = SROWS * HD / NT;
    const uint32_t G = p.n_heads / p.n_kv_heads, S = p.n_splits;

    int64_t L = p.kv_len;
    if (p.len_mode == MLXC_ATTN_LEN_U32) L += *static_cast<const uint32_t *>(len_buf);
    else if (p.len_mode == MLXC_ATTN_LEN_I32) L += *static_cast<const int32_t *>(len_buf);
    if (L < 0) L = 0;
    if (!p.ring && L > p.capacity) L = p.capacity;
    int64_t lo = 0;
    if (p.window && L > p.window) lo = L - p.window;
    if (p.ring && L - lo > p.capacity) lo = L - p.capacity;
    int64_t chunk;
    const uint32_t live = mlxc_attn_live_splits(L - lo, S, p.split_keys, &chunk);

    unsigned int *ctr = reinterpret_cast<unsigned int *>(scratch);
    float *acc_out = scratch + MLXC_ATTN_COUNTER_WORDS(p.n_kv_heads);
    float *ml_out = acc_out + (uint64_t)p.n_heads * S * HD;
    for (uint64_t item = block_linear(); item < (uint64_t)p.n_kv_heads * S; item += block_count()) {
        const uint32_t kvh = (uint32_t)(item / S), sp = (uint32_t)(item % S);
        if (sp >= live) continue; /* past the live splits: nothing to do */
        const int64_t s_lo = lo + (int64_t)sp * chunk;
        const int64_t s_hi = s_lo + chunk < L ? s_lo + chunk : L;
        if (s_lo >= s_hi) {
            for (uint32_t e = threadIdx.x; e < (live == 1 ? G * HD : G); e += NT) {
                if (live == 1) { /* nothing attended: zeros */
                    st_dt(p.out_dtype, out, (uint64_t)kvh * G * HD + e, 0.0f);
                    continue;
                }
                const uint64_t row = ((uint64_t)kvh * G + e) * S + sp;
                ml_out[row * 2] = -INFINITY;
                ml_out[row * 2 + 1] = 0.0f;
            }
        } else {
            if (threadIdx.x < SROWS) {
                const int r = threadIdx.x;
                rs.lo[r] = r < (int)G ? s_lo : 0;
                rs.hi[r] = r < (int)G ? s_hi : 0;
                rs.mrow[r] = 0;
                rs.m[r] = -INFINITY;
                rs.l[r] = 0.0f;
            }
#pragma unroll 4
            for (int e = threadIdx.x; e < SROWS * HD; e += NT) {
                const int r = e / HD, d = e % HD;
                sm.sQ[e] = r < (int)G ? ld_dt(p.q_dtype, q, ((uint64_t)kvh * G + r) * HD + d) : 0.0f;
            }
            const T *kh = k + (uint64_t)kvh * p.capacity * HD, *vh = v + (uint64_t)kvh * p.capacity * HD;
            const bool ring = p.ring != 0;
            const uint32_t cap = p.capacity;
            simt_acc<HD> acc(sm.sAcc);
            simt_rows<T, HD>(rs, sm.sQ, sm.sK, sm.sV, sm.sS, acc, p.scale, p.softcap, nullptr, 0,
                             [&](int64_t pos, const T *&kr, const T *&vr) {
                                 const uint64_t slot = ring ? (uint64_t)pos % cap : (uint64_t)pos;
                                 kr = kh + slot * HD;
                                 vr = vh + slot * HD;
                             });
#pragma unroll
            for (int i = 0; i < NACC; i++) {
                const int e = threadIdx.x + i * NT, r = e / HD, d = e % HD;
                if (r < (int)G && live == 1) /* the only live split: out itself */
                    st_dt(p.out_dtype, out, ((uint64_t)kvh * G + r) * HD + d,
                          rs.l[r] > 0.0f ? acc[i] * (1.0f / rs.l[r]) : 0.0f);
                else if (r < (int)G)
                    acc_out[(((uint64_t)kvh * G + r) * S + sp) * HD + d] = acc[i];
            }
            if (threadIdx.x < G && live > 1) {
                const uint64_t row = ((uint64_t)kvh * G + threadIdx.x) * S + sp;
                ml_out[row * 2] = rs.m[threadIdx.x];
                ml_out[row * 2 + 1] = rs.l[threadIdx.x];
            }
        }
        if (live == 1) { /* out is written: no partial to count */
            __syncthreads();
            continue;
        }
        /* Publish, count, and let the last split merge (as decode()). */
        __threadfence();
        __syncthreads();
        if (threadIdx.x == 0) {
            const unsigned int prev = atomicAdd(ctr + kvh, 1u);
            s_last = prev == live - 1;
            if (prev == live - 1) {
                ctr[kvh] = 0u;
                __threadfence();
            }
        }
        __syncthreads();
        if (s_last) decode_merge_group<HD>(acc_out, ml_out, out, kvh, G, S, live, p.out_dtype);
        __syncthreads();
    }
}

/* The general prefill (mlxc_p_attn_prefill_x): one item per (sequence,
 * ROWS-query tile, head). */
template <typename T, int HD>
__device__ __forceinline__ void simt_prefill(const void *q, const T *k, const T *v, void *out, const void *mask,
                                             const void *key_lens, const T *kc, const T *vc,
                                             const mlxc_p_attn_prefill_x &p) {
    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ simt_rows_state rs;
    const simt_smem<HD> sm(smem);
    constexpr int NACC = SROWS * HD / NT;
    const uint32_t G = p.n_heads / p.n_kv_heads, H = p.n_heads;
    const uint64_t ntq = (p.q_len + SROWS - 1) / SROWS;
    const uint64_t q_seq = (uint64_t)p.q_len * H * HD, kv_seq = (uint64_t)p.n_kv_heads * p.capacity * HD;
    const uint64_t chunk_seq = (uint64_t)p.q_len * p.n_kv_heads * HD;
    for (uint64_t item = block_linear(); item < (uint64_t)p.batch * ntq * H; item += block_count()) {
        const uint32_t h = (uint32_t)(item % H), b = (uint32_t)(item / H / ntq);
        const int64_t t0 = (int64_t)(item / H % ntq) * SROWS;
        const int nrows = (int64_t)p.q_len - t0 < SROWS ? (int)((int64_t)p.q_len - t0) : SROWS;
        if (threadIdx.x < SROWS) {
            const int r = threadIdx.x;
            int64_t klen = p.kv_len;
            if (p.len_mode != MLXC_ATTN_LEN_NONE) {
                const int64_t kl = p.len_mode == MLXC_ATTN_LEN_U32
                                       ? (int64_t) static_cast<const uint32_t *>(key_lens)[b]
                                       : (int64_t) static_cast<const int32_t *>(key_lens)[b];
                if (kl < klen) klen = kl < 0 ? 0 : kl;
            }
            const int64_t P1 = (int64_t)p.q_offset + t0 + r + 1;
            int64_t lo = 0, hi = 0;
            if (r < nrows) {
                if (p.ring) {
                    const int64_t w = p.window ? p.window : p.capacity;
                    hi = P1;
                    lo = P1 > w ? P1 - w : 0;
                } else if (!p.causal) {
                    hi = klen;
                } else {
                    hi = P1 < klen ? P1 : klen;
                    lo = p.window && P1 > (int64_t)p.window ? P1 - p.window : 0;
                }
            }
            rs.lo[r] = lo < hi ? lo : hi;
            rs.hi[r] = hi;
            rs.mrow[r] = b * p.mask_bstride + h * p.mask_hstride + (uint64_t)(t0 + r) * p.kv_len;
            rs.m[r] = -INFINITY;
            rs.l[r] = 0.0f;
        }
#pragma unroll 4
        for (int e = threadIdx.x; e < SROWS * HD; e += NT) {
            const int r = e / HD, d = e % HD;
            sm.sQ[e] = r < nrows ? ld_dt(p.q_dtype, q, b * q_seq + ((uint64_t)(t0 + r) * H + h) * HD + d) : 0.0f;
        }
        const uint32_t kvh = h / G;
        const T *kh = k + b * kv_seq + (uint64_t)kvh * p.capacity * HD;
        const T *vh = v + b * kv_seq + (uint64_t)kvh * p.capacity * HD;
        const bool ring = p.ring != 0;
        const T *kch = ring ? kc + b * chunk_seq + (uint64_t)kvh * HD : nullptr;
        const T *vch = ring ? vc + b * chunk_seq + (uint64_t)kvh * HD : nullptr;
        const int64_t chunk0 = ring ? (int64_t)p.q_offset : INT64_MAX;
        const uint64_t chunk_ld = (uint64_t)p.n_kv_heads * HD;
        const uint32_t cap = p.capacity;
        simt_acc<HD> acc(sm.sAcc);
        simt_rows<T, HD>(rs, sm.sQ, sm.sK, sm.sV, sm.sS, acc, p.scale, p.softcap,
                         p.mask_dtype != MLXC_ATTN_MASK_NONE ? mask : nullptr, p.mask_dtype,
                         [&](int64_t pos, const T *&kr, const T *&vr) {
                             if (pos >= chunk0) {
                                 kr = kch + (uint64_t)(pos - chunk0) * chunk_ld;
                                 vr = vch + (uint64_t)(pos - chunk0) * chunk_ld;
                             } else {
                                 const uint64_t slot = ring ? (uint64_t)pos % cap : (uint64_t)pos;
                                 kr = kh + slot * HD;
                                 vr = vh + slot * HD;
                             }
                         });
#pragma unroll
        for (int i = 0; i < NACC; i++) {
            const int e = threadIdx.x + i * NT, r = e / HD, d = e % HD;
            if (r < nrows) {
                const float l = rs.l[r];
                st1_dt(p.out_dtype, out, b * q_seq + ((uint64_t)(t0 + r) * H + h) * HD + d, l > 0.0f ? acc[i] / l : 0.0f);
            }
        }
        __syncthreads(); /* rs and sQ are rewritten by the next item */
    }
}

/* The causal single-sequence prefill through the general one. */
template <typename T, int HD>
__device__ __forceinline__ void simt_prefill_causal(const void *q, const T *k, const T *v, void *out,
                                                    const mlxc_p_attn_prefill &p) {
    mlxc_p_attn_prefill_x x = {};
    x.n_heads = p.n_heads;
    x.n_kv_heads = p.n_kv_heads;
    x.head_dim = p.head_dim;
    x.capacity = p.capacity;
    x.q_len = p.q_len;
    x.q_offset = p.q_offset;
    x.kv_len = p.kv_len;
    x.window = p.window;
    x.q_dtype = p.q_dtype;
    x.out_dtype = p.out_dtype;
    x.scale = p.scale;
    x.softcap = p.softcap;
    x.batch = 1;
    x.causal = 1;
    simt_prefill<T, HD>(q, k, v, out, nullptr, nullptr, nullptr, nullptr, x);
}

} // namespace mlxc_attn

#endif
