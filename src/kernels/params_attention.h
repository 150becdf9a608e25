/*
 * By-value parameter structs of the attention kernels (include/mlxc/
 * ops_attention.h), shared by the CPU kernels, the CUDA kernels and the
 * front-end.  HD is 64, 96, 128, 256 or 512; KV is f16 or bf16.
 *
 *   attn_decode_hdHD_KV(q, k, v, len_buf, scratch, out, mlxc_p_attn_decode)
 *       one work item per (kv head, split): writes the split's partial,
 *       then counts it in the KV head's counter; the item that arrives
 *       last merges the head group's partials into out and sets the
 *       counter back to zero
 *   attn_prefill_hdHD_KV(q, k, v, out, mlxc_p_attn_prefill)
 *       one work item per (query tile, head)
 *   attn_prefill_x_hdHD_KV(q, k, v, out, mask, key_lens, k_chunk, v_chunk,
 *                          mlxc_p_attn_prefill_x)
 *       the general prefill: a batch, causal or not, an additive mask,
 *       per-sequence key lengths, or a ring cache plus the chunk's own
 *       keys (see mlxc_p_attn_prefill_x); one work item per (sequence,
 *       query tile, head).  Pointers a call does not use carry any valid
 *       address (the front-end passes q)
 *   attn_prefill_sm90_hdHD_KV(q, k, v, out, mlxc_p_attn_prefill), HD 64 or 128
 *       the Hopper kernel (wgmma; attention_sm90.cuh): one work item per
 *       (MLXC_ATTN_SM90_BQ-query tile, head).  Its fast path needs sm_90a,
 *       MLXC_ATTN_SM90_THREADS threads and MLXC_ATTN_SM90_SMEM(HD) bytes of
 *       dynamic shared memory; any other launch (up to 384 threads) runs a
 *       plain f32 path, the same function.
 *
 * q and out dtypes are run-time fields (MLXC_ATTN_DT_*).  Work items are
 * covered for any grid (grid-stride); on CUDA the block must have
 * MLXC_ATTN_CUDA_THREADS threads and the dynamic shared memory the
 * front-end computes (attention kernels are the exception to params_elementwise.h's
 * "any block size").
 *
 * Scratch (f32), with S = n_splits and C = MLXC_ATTN_COUNTER_WORDS(n_kv_heads):
 *   ctr[C]                      u32 arrival counters, ctr[kvh] for KV head
 *                               kvh; zero before and after every call (the
 *                               rest of the C words are never written)
 *   acc[n_heads][S][head_dim]   unnormalised sum of p * v of the split
 *   ml [n_heads][S][2]          (m, l): m = max of logit * log2(e) over the
 *                               split (-inf when it saw no key), l = sum of
 *                               2^(logit * log2(e) - m)
 * The merge uses acc of a split only when its m > -inf (an empty split
 * writes only its ml).  A fixed counter region (4 KB up to 1024 KV heads)
 * keeps decodes of different descs from writing partials over each other's
 * counters when they share one scratch.
 *
 * A decode uses the first `live` of its S splits (mlxc_attn_live_splits:
 * at most one per split_keys keys of the span L - lo, L the valid length
 * and lo its first attended position, both known only on the device).
 * Split s < live covers the positions [lo + s*chunk, lo + (s+1)*chunk)
 * clipped to [lo, L), chunk = round_up(ceil((L - lo) / live), 16); the
 * splits from live on do nothing.  With one live split its item writes
 * out itself and touches neither the counter nor the partials.
 */
#ifndef MLXC_KERNELS_PARAMS_ATTENTION_H
#define MLXC_KERNELS_PARAMS_ATTENTION_H

#include <stdint.h>

#include "kernels/params_rope.h"

#define MLXC_ATTN_DT_F32  0u
#define MLXC_ATTN_DT_F16  1u
#define MLXC_ATTN_DT_BF16 2u

#define MLXC_ATTN_LEN_NONE 0u
#define MLXC_ATTN_LEN_U32  1u
#define MLXC_ATTN_LEN_I32  2u

#define MLXC_ATTN_CUDA_THREADS 128u
#define MLXC_ATTN_MAX_HD       512u
#define MLXC_ATTN_MAX_RATIO    16u  /* query heads per KV head */

/* Head dim 512 on CUDA, and the general prefill (attn_prefill_x_*) at every
 * head dim, run a plain f32 kernel (attention.cu, `simt`): blocks of
 * MLXC_ATTN_SIMT_ROWS query rows walk tiles of MLXC_ATTN_SIMT_BK keys held
 * as f32 in shared memory (rows padded by one float against bank
 * conflicts), with the logits of the tile and the rows' softmax state. */
#define MLXC_ATTN_SIMT_ROWS 16u
#define MLXC_ATTN_SIMT_BK   16u
#define MLXC_ATTN_SIMT_SMEM(hd)                                                                 \
    ((MLXC_ATTN_SIMT_ROWS * (hd) + 2u * MLXC_ATTN_SIMT_BK * ((hd) + 1u) +                      \
      MLXC_ATTN_SIMT_ROWS * MLXC_ATTN_SIMT_BK + 4u * MLXC_ATTN_SIMT_ROWS +                      \
      ((hd) > 256u ? MLXC_ATTN_SIMT_ROWS * (hd) : 0u)) * 4u)

/* Mask dtypes of attn_prefill_x (0 = no mask). */
#define MLXC_ATTN_MASK_NONE 0u
#define MLXC_ATTN_MASK_F32  1u
#define MLXC_ATTN_MASK_F16  2u
#define MLXC_ATTN_MASK_BF16 3u
#define MLXC_ATTN_SPLIT_ALIGN  16u
/* u32 counter words at the start of the decode scratch (a multiple of 1024,
 * so the partials after them stay 16-byte aligned). */
#define MLXC_ATTN_COUNTER_WORDS(n_kv_heads) ((((uint64_t)(n_kv_heads) + 1023u) / 1024u) * 1024u)

/* The Hopper prefill: a producer warpgroup and two consumer warpgroups of
 * 64 query rows; K/V tiles of BK keys in STAGES stages; Q, the stages, then
 * 4 mbarriers per stage (K and V full, K and V empty). */
#define MLXC_ATTN_SM90_THREADS 384u
#define MLXC_ATTN_SM90_BQ      128u
#define MLXC_ATTN_SM90_BK      128u
#define MLXC_ATTN_SM90_STAGES(hd) ((hd) <= 64u ? 6u : 3u)
#define MLXC_ATTN_SM90_SMEM(hd)                                                                       \
    (MLXC_ATTN_SM90_BQ * (hd) * 2u + MLXC_ATTN_SM90_STAGES(hd) * 2u * MLXC_ATTN_SM90_BK * (hd) * 2u + \
     MLXC_ATTN_SM90_STAGES(hd) * 4u * 8u)

typedef struct mlxc_p_attn_decode {
    uint32_t n_heads, n_kv_heads, head_dim, capacity;
    uint32_t kv_len;      /* L = kv_len + len_buf[0] (len_mode != NONE)   */
    uint32_t len_mode;    /* MLXC_ATTN_LEN_*                              */
    uint32_t window;      /* 0 = none                                     */
    uint32_t ring;        /* slot = position % capacity                   */
    uint32_t n_splits;    /* splits of the scratch (the most a call uses) */
    uint32_t q_dtype, out_dtype;
    float    scale, softcap;
    uint32_t split_keys;  /* keys a live split covers at least; 0: any     */
    uint32_t trigger;     /* attn_decode_qkv: MLXC_ATTN_TRIGGER_*          */
    uint32_t pad;
} mlxc_p_attn_decode;

/* Where attn_decode_qkv lets the next kernel be scheduled (programmatic
 * dependent launch; the next kernel's blocks then stream their first
 * weights while this one runs): at its wait, after the q/k/v staging,
 * after the key tiles (the front-end's default), or at its exit. */
#define MLXC_ATTN_TRIGGER_WAIT  0u
#define MLXC_ATTN_TRIGGER_STAGE 1u
#define MLXC_ATTN_TRIGGER_TILES 2u
#define MLXC_ATTN_TRIGGER_EXIT  3u

/* The decode over a fused q/k/v projection row (attn_decode_qkv_hdHD_KV:
 * qkv, bias, q_norm, k_norm, q_out, k, v, pos, freq_factors, scratch, out,
 * mlxc_p_attn_decode_qkv; CUDA only).  a is the decode of the roped q
 * (a.len_mode I32, a.kv_len 1: the query at position pos[0] sees keys up to
 * it); r the bias, q/k norms, rope and cache write of rope_qkv_cache for one
 * token.  Each block stages its KV head's q rows (and, in the block whose
 * keys hold pos[0], the new k and v rows) in shared memory: the dynamic
 * shared memory of attn_decode_hdHD plus MLXC_ATTN_QKV_SMEM(G, HD) bytes. */
typedef struct mlxc_p_attn_decode_qkv {
    mlxc_p_attn_decode a;
    mlxc_p_rope_qkv    r;
} mlxc_p_attn_decode_qkv;
/* G + 2 staged f32 rows, the new k and v rows in the caches' 16-bit dtype,
 * and eight lane sums plus one inverse norm per staged row. */
#define MLXC_ATTN_QKV_SMEM(G, hd) ((((G) + 2u) * (hd) * 4u + 2u * (hd) * 2u + ((G) + 2u) * 9u * 4u + 15u) / 16u * 16u)

#ifdef __CUDACC__
#define MLXC_ATTN_HD __host__ __device__
#else
#define MLXC_ATTN_HD
#endif

/* The live splits of a decode over span keys with S splits: min(S,
 * ceil(span / split_keys)), at least 1 (split_keys 0: S); *chunk gets the
 * keys of each, round_up(ceil(span / live), MLXC_ATTN_SPLIT_ALIGN). */
MLXC_ATTN_HD static inline uint32_t mlxc_attn_live_splits(int64_t span, uint32_t S, uint32_t split_keys,
                                                          int64_t *chunk) {
    uint32_t live = S ? S : 1;
    if (split_keys) {
        const int64_t most = (span + split_keys - 1) / split_keys;
        if (most < (int64_t)live) live = most > 1 ? (uint32_t)most : 1u;
    }
    const int64_t c = (span + live - 1) / live;
    *chunk = (c + MLXC_ATTN_SPLIT_ALIGN - 1) / MLXC_ATTN_SPLIT_ALIGN * MLXC_ATTN_SPLIT_ALIGN;
    return live;
}

typedef struct mlxc_p_attn_prefill {
    uint32_t n_heads, n_kv_heads, head_dim, capacity;
    uint32_t q_len, q_offset, kv_len, window;
    uint32_t q_dtype, out_dtype;
    float    scale, softcap;
} mlxc_p_attn_prefill;

/* The general prefill.  Sequence b (0 <= b < batch) has q and out rows
 * q[b][i][h] (q_len x n_heads x head_dim each) and the cache k[b], v[b]
 * (n_kv_heads x capacity x head_dim each).  Query i is position
 * q_offset + i and sees the keys j with:
 *   causal:  j <= position, j > position - window when window > 0;
 *   else:    every j;
 * and j < klen(b) = min(kv_len, key_lens[b]) (key_lens given: len_mode
 * != NONE; negative lengths read as 0).  The additive mask, when given,
 * adds mask[b * mask_bstride + h * mask_hstride + i * kv_len + j] to the
 * scaled (and softcapped) logit; -inf masks a key.
 * ring: k and v are a ring of `capacity` slots holding the positions
 * before q_offset (position p in slot p % capacity) and k_chunk, v_chunk
 * (batch x q_len x n_kv_heads x head_dim) the chunk's own keys: position
 * p >= q_offset is row p - q_offset of the chunk.  Ring calls are causal,
 * with window (1 .. capacity) as given; kv_len, key lengths and the mask
 * are not used. */
typedef struct mlxc_p_attn_prefill_x {
    uint64_t mask_bstride, mask_hstride; /* elements; 0 = broadcast     */
    uint32_t n_heads, n_kv_heads, head_dim, capacity;
    uint32_t q_len, q_offset, kv_len, window;
    uint32_t q_dtype, out_dtype;
    float    scale, softcap;
    uint32_t batch, causal, ring;
    uint32_t mask_dtype;                 /* MLXC_ATTN_MASK_*            */
    uint32_t len_mode;                   /* key_lens: MLXC_ATTN_LEN_*   */
    uint32_t pad[3];
} mlxc_p_attn_prefill_x;

#endif /* MLXC_KERNELS_PARAMS_ATTENTION_H */
