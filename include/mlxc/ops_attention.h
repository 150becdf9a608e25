/*
 * mlxc/ops_attention.h — scaled dot-product attention over a KV cache:
 * decode (one query token, the KV length split across thread groups, the
 * query heads of a KV head processed together) and prefill (flash-attention
 * tiling with online softmax, causal with a query offset).
 *
 * Layouts (row-major, head_dim contiguous):
 *   decode   q, out: (n_heads, head_dim)
 *   prefill  q, out: (q_len, n_heads, head_dim)
 *   k, v:            (n_kv_heads, kv_capacity, head_dim), the KV cache layout
 *                    of mlxc_kv_cache_copy; only the valid positions are read
 * q and out are f32, f16 or bf16 (independently); k and v are f16 or bf16
 * (the same dtype).  Query head h reads KV head h / (n_heads / n_kv_heads);
 * n_heads / n_kv_heads is a whole number 1..16.  head_dim is 64, 96, 128,
 * 256 or 512 (512: Gemma 4's global layers; on CUDA a plain f32 kernel,
 * slower than the tensor-core kernels of the others).
 *
 * A logit is s = scale * (q . k); with softcap c > 0 it becomes c*tanh(s/c).
 * Query at position P attends key positions j with j <= P and, when window
 * > 0, j > P - window (the last `window` positions).  Softmax and the value
 * sum accumulate in f32.  A query that sees no key gets zeros, never NaN.
 *
 * Decode: the valid length is L = kv_len + len_buf[0] when len_buf (a u32
 * or i32 scalar on the device) is given, else kv_len; the query is position
 * L - 1.  Give len_buf = the position buffer of mlxc_kv_cache_copy and
 * kv_len = 1, and a captured graph replays at any length.  With ring = true
 * the cache is a ring (position p lives in slot p % kv_capacity, as
 * mlxc_kv_cache_copy's sliding mode writes it) and only the last
 * kv_capacity positions are attended; otherwise L beyond kv_capacity is an
 * error when host-known and clamped to kv_capacity when read from len_buf.
 *
 * Decode scratch.  The work is split over the KV length: each split writes
 * a partial (running max, sum, f32 accumulator) to `scratch` and counts
 * itself in a per-KV-head counter kept at the start of scratch; the split
 * that arrives last merges the partials into `out` and sets its counter
 * back to zero, all within one dispatch.  So:
 *   - scratch is f32, at least mlxc_attention_decode_scratch_bytes bytes
 *     (counters included), starts at a multiple of 16 bytes of its
 *     allocation, and overlaps no operand;
 *   - scratch must be all zero the first time a decode uses it.  A fresh
 *     mlxc_buffer_alloc buffer is (buffers are zero-filled); a pooled or
 *     reused buffer that held other data must be cleared first (e.g. with
 *     mlxc_buffer_write of zeros).  The counter region is the first
 *     4096 * ceil(n_kv_heads / 1024) bytes; every decode leaves its
 *     counters zero again and writes partials only past that region, so
 *     one scratch serves any sequence of decodes (other lengths, descs and
 *     layers with n_kv_heads <= 1024, repeated commits, captured-graph
 *     replays) without being cleared again;
 *   - two decodes that may run at the same time must not share a scratch.
 *     Decodes on one encoder are ordered when auto-barrier is on (each
 *     writes scratch) or when a barrier separates them; without either, or
 *     across command buffers that may overlap, give each its own scratch.
 * A decode that fails on the device (a lost device) may leave counters
 * set: clear the scratch before using it again.
 *
 * Prefill: query i (0 <= i < q_len) is position q_offset + i; keys are the
 * positions 0 .. kv_len - 1 of a linear cache (kv_len <= kv_capacity; ring
 * must be false).  q_offset + q_len may exceed kv_len: those queries see
 * only the first kv_len keys.
 *
 * Batches and encoders (prefill only).  With batch = B > 1, q and out are
 * (B, q_len, n_heads, head_dim) and k, v (B, n_kv_heads, kv_capacity,
 * head_dim): B independent sequences of the same shape.  non_causal = true
 * lets every query see every key 0 .. kv_len - 1 (BERT-style encoders,
 * vision towers; window must be 0).  mlxc_attention_prefill_masked adds an
 * additive mask and/or per-sequence key lengths (padding), causal or not.
 *
 * Chunked prefill into a sliding-window ring (mlxc_attention_prefill_ring):
 * k and v are a ring of W = kv_capacity slots (position p in slot p % W, as
 * mlxc_kv_cache_copy's sliding mode writes them) holding the positions
 * before q_offset; the chunk's own keys and values come separately, so a
 * chunk longer than the free slots never reads a slot it overwrote.  The
 * result equals full causal attention with the window mask; write the chunk
 * into the ring afterwards.
 *
 *     mlxc_attention_desc d = MLXC_ATTENTION_DESC_INIT;
 *     d.n_heads = 32; d.n_kv_heads = 8; d.head_dim = 128;
 *     d.kv_capacity = 8192; d.kv_len = 1; d.scale = 0.08838834764f;
 *     size_t sb;
 *     mlxc_attention_decode_scratch_bytes(dev, &d, &sb);   // once
 *     mlxc_attention_decode(enc, q, kc, vc, out, scratch, pos, &d);
 */
#ifndef MLXC_OPS_ATTENTION_H
#define MLXC_OPS_ATTENTION_H

#include <stddef.h>

#include "mlxc/encoder.h"
#include "mlxc/ops_rope.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The desc grows as attention learns new options; struct_size tells the
 * library which version the caller filled.  Start every desc from
 * MLXC_ATTENTION_DESC_INIT or mlxc_attention_desc_init (struct_size set,
 * every option off); a desc with struct_size 0 or smaller than the first
 * version is rejected (MLXC_ERR_INVALID_ARGUMENT), and fields past a
 * smaller struct_size read as 0. */
typedef struct mlxc_attention_desc {
    size_t   struct_size;  /* sizeof(mlxc_attention_desc) of the caller    */
    uint32_t n_heads;      /* query heads                                  */
    uint32_t n_kv_heads;   /* divides n_heads, ratio 1..16                 */
    uint32_t head_dim;     /* 64, 96, 128, 256 or 512                      */
    uint32_t kv_capacity;  /* positions per KV head in k and v             */
    uint32_t kv_len;       /* valid keys (decode: plus len_buf[0])         */
    uint32_t window;       /* sliding window; 0 = none                     */
    float    scale;        /* logit scale, usually 1/sqrt(head_dim)        */
    float    softcap;      /* c of c*tanh(s/c); 0 = off                    */
    bool     ring;         /* decode only: the cache is a ring             */
    uint32_t q_len;        /* prefill only: query tokens                   */
    uint32_t q_offset;     /* prefill only: position of query 0            */
    /* version 2 */
    uint32_t batch;        /* prefill only: sequences; 0 reads as 1        */
    bool     non_causal;   /* prefill only: every query sees every key     */
} mlxc_attention_desc;

/* An initializer: struct_size set, everything else 0.  In C also usable as
 * (mlxc_attention_desc){.struct_size = sizeof(mlxc_attention_desc), ...}. */
#define MLXC_ATTENTION_DESC_INIT {sizeof(mlxc_attention_desc), 0, 0, 0, 0, 0, 0, 0.0f, 0.0f, false, 0, 0, 0, false}

/* Size of the first version of the desc (through q_offset): the smallest
 * struct_size accepted. */
#define MLXC_ATTENTION_DESC_SIZE_V1 (offsetof(mlxc_attention_desc, q_offset) + sizeof(uint32_t))

/* Zero *desc and set its struct_size (NULL is ignored). */
MLXC_API void mlxc_attention_desc_init(mlxc_attention_desc *desc);

/* Scratch bytes mlxc_attention_decode needs on `dev` for `desc`: the
 * counter region (4 bytes per KV head, rounded up to 4 KB) plus a partial
 * per (query head, split).  The split count depends on the device and on
 * kv_capacity/window, not on kv_len. */
MLXC_API mlxc_status mlxc_attention_decode_scratch_bytes(const mlxc_device *dev, const mlxc_attention_desc *desc,
                                                         size_t *bytes);

/*   q, out: (n_heads, head_dim)   k, v: (n_kv_heads, kv_capacity, head_dim)
 *   scratch: f32, >= mlxc_attention_decode_scratch_bytes, zero at first use
 *   (see "Decode scratch" above)   len_buf: NULL or one u32/i32 */
MLXC_API mlxc_status mlxc_attention_decode(mlxc_encoder *enc, const mlxc_buffer *q, const mlxc_buffer *k,
                                           const mlxc_buffer *v, mlxc_buffer *out, mlxc_buffer *scratch,
                                           const mlxc_buffer *len_buf, const mlxc_attention_desc *desc);

/* One decode step's attention from its q/k/v projection row: what
 * mlxc_rope_qkv_cache (bias, q/k norms, rope, the new k and v into the
 * caches at pos[0], the roped q into q_out) and then mlxc_attention_decode
 * of q_out (len_buf = pos, so the query at position pos[0] sees the keys
 * up to it) give, with the same buffers.  `rope` and `attn` describe the
 * same heads, head_dim and cache (rope->capacity = attn->kv_capacity,
 * rope->sliding = attn->ring); attn->kv_len is not read.
 *   qkv: (n_heads + 2 * n_kv_heads, head_dim) of one token; bias, q_norm,
 *   k_norm, freq_factors as mlxc_rope_qkv_cache; q_out (n_heads, head_dim)
 *   in qkv's dtype; k_cache, v_cache, out, scratch as mlxc_attention_decode;
 *   pos: one i32.
 * On CUDA at head dims up to 256 this is one kernel: each block ropes its
 * KV head's q rows itself, the block whose keys hold pos[0] also the new k
 * and v rows, and its first K/V tiles are requested before it waits for
 * the kernel before it in a captured graph (programmatic dependent
 * launch).  Elsewhere (the CPU, head dim 512), and with
 * MLXC_ATTN_FUSED_ROPE=0, it is the two dispatches, ordered inside (a
 * barrier between them when auto-barrier is off); every backend gives the
 * bits of those two on that backend.  Like any op, it is ordered after
 * the dispatches that write its inputs by a barrier or auto-barrier. */
MLXC_API mlxc_status mlxc_attention_decode_qkv(mlxc_encoder *enc, const mlxc_buffer *qkv, const mlxc_buffer *bias,
                                               const mlxc_buffer *q_norm, const mlxc_buffer *k_norm, mlxc_buffer *q_out,
                                               mlxc_buffer *k_cache, mlxc_buffer *v_cache, const mlxc_buffer *pos,
                                               const mlxc_buffer *freq_factors, mlxc_buffer *out, mlxc_buffer *scratch,
                                               const mlxc_rope_qkv_desc *rope, const mlxc_attention_desc *attn);

/*   q, out: ([batch,] q_len, n_heads, head_dim)
 *   k, v:   ([batch,] n_kv_heads, kv_capacity, head_dim) */
MLXC_API mlxc_status mlxc_attention_prefill(mlxc_encoder *enc, const mlxc_buffer *q, const mlxc_buffer *k,
                                            const mlxc_buffer *v, mlxc_buffer *out,
                                            const mlxc_attention_desc *desc);

/* Prefill with an additive mask and/or per-sequence key lengths (either may
 * be NULL; causal unless desc->non_causal).  Shapes as mlxc_attention_prefill.
 *   mask: f32, f16 or bf16, added to the logit (after scale and softcap;
 *         -inf hides a key), one of
 *           (q_len, kv_len)                      every sequence and head
 *           (n_heads or 1, q_len, kv_len)        per head, every sequence
 *           (batch or 1, n_heads or 1, q_len, kv_len)
 *   key_lens: u32 or i32, batch elements: sequence b sees only keys
 *         j < key_lens[b] (and < kv_len) — padding of an encoder batch.
 * A query that sees no key (everything masked) gets zeros. */
MLXC_API mlxc_status mlxc_attention_prefill_masked(mlxc_encoder *enc, const mlxc_buffer *q, const mlxc_buffer *k,
                                                   const mlxc_buffer *v, mlxc_buffer *out, const mlxc_buffer *mask,
                                                   const mlxc_buffer *key_lens, const mlxc_attention_desc *desc);

/* A chunk of prefill over a sliding-window ring (see above): queries at
 * positions q_offset .. q_offset + q_len - 1 see the last `window`
 * positions (window 0 = kv_capacity; window <= kv_capacity), taken from
 * the ring (positions < q_offset) or from the chunk.  kv_len and ring are
 * not read; non_causal must be false.
 *   q, out:           ([batch,] q_len, n_heads, head_dim)
 *   k, v:             ([batch,] n_kv_heads, kv_capacity, head_dim), the ring
 *   k_chunk, v_chunk: ([batch,] q_len, n_kv_heads, head_dim), dtype of k: the
 *                     src layout of mlxc_kv_cache_copy, which then writes
 *                     them into the ring (sliding mode) */
MLXC_API mlxc_status mlxc_attention_prefill_ring(mlxc_encoder *enc, const mlxc_buffer *q, const mlxc_buffer *k,
                                                 const mlxc_buffer *v, const mlxc_buffer *k_chunk,
                                                 const mlxc_buffer *v_chunk, mlxc_buffer *out,
                                                 const mlxc_attention_desc *desc);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_OPS_ATTENTION_H */
