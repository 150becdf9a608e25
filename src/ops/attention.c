/* Front-ends of attention (include/mlxc/ops_attention.h): validation, the
 * split count and scratch size of decode, the per-backend launch shapes
 * and shared memory, and the tracked dispatches (decode: one kernel whose
 * last split per KV head merges; it writes the scratch and out). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/params_attention.h"
#include "mlxc/ops_attention.h"
#include "ops/ops_internal.h"

/* Key tile and stage counts of the CUDA kernels (attention.cuh:
 * STAGES for prefill, decode_stages(hd) for decode). */
#define ATTN_CUDA_BK     64u
#define ATTN_CUDA_STAGES 2u
#define ATTN_CPU_BK      16u
static uint32_t attn_cuda_decode_stages(uint32_t hd) { return hd <= 128u ? 3u : 2u; }

/* Dynamic shared memory of each kernel (bytes).  CUDA decode: 16 Q rows +
 * decode stages (108.8 KB at head dim 128, 3 stages; 135 KB at 256, 2),
 * within the 163 KB an sm_80 block may take. */
static uint32_t attn_smem(const mlxc_device *dev, uint32_t hd, bool prefill) {
    if (ops_is_cpu(dev)) return 2u * ATTN_CPU_BK * hd * 4u;
    if (hd > 256u) return MLXC_ATTN_SIMT_SMEM(hd); /* the plain f32 kernel */
    const uint32_t row = (hd + 8u) * 2u; /* padded 16-bit row */
    const uint32_t q_rows = prefill ? 64u : 16u;
    const uint32_t stages = prefill ? ATTN_CUDA_STAGES : attn_cuda_decode_stages(hd);
    return q_rows * row + stages * 2u * ATTN_CUDA_BK * row;
}

static uint32_t attn_dt(mlxc_dtype dt) {
    return dt == MLXC_F32 ? MLXC_ATTN_DT_F32 : dt == MLXC_F16 ? MLXC_ATTN_DT_F16 : MLXC_ATTN_DT_BF16;
}

void mlxc_attention_desc_init(mlxc_attention_desc *desc) {
    if (!desc) return;
    memset(desc, 0, sizeof *desc);
    desc->struct_size = sizeof *desc;
}

/* The caller's desc as this library's version: struct_size checked, the
 * fields it has copied, newer ones 0. */
static mlxc_status attn_load_desc(const char *op, const mlxc_attention_desc *user, mlxc_attention_desc *d) {
    MLXC_CHECK_ARG(user->struct_size >= MLXC_ATTENTION_DESC_SIZE_V1,
                   "mlxc_%s: desc struct_size %zu (start the desc from MLXC_ATTENTION_DESC_INIT or "
                   "mlxc_attention_desc_init; at least %zu)",
                   op, user->struct_size, (size_t)MLXC_ATTENTION_DESC_SIZE_V1);
    memset(d, 0, sizeof *d);
    memcpy(d, user, user->struct_size < sizeof *d ? user->struct_size : sizeof *d);
    d->struct_size = sizeof *d;
    return MLXC_OK;
}

/* The checks every attention call shares (desc only). */
static mlxc_status attn_check_desc(const char *op, const mlxc_attention_desc *d) {
    MLXC_CHECK_ARG(d->n_heads > 0 && d->n_kv_heads > 0, "mlxc_%s: n_heads %u, n_kv_heads %u must be > 0", op, d->n_heads,
                   d->n_kv_heads);
    MLXC_CHECK_ARG(d->n_heads % d->n_kv_heads == 0,
                   "mlxc_%s: n_heads %u is not a multiple of n_kv_heads %u (the GQA ratio must be a whole number)", op,
                   d->n_heads, d->n_kv_heads);
    MLXC_CHECK_ARG(d->n_heads / d->n_kv_heads <= MLXC_ATTN_MAX_RATIO,
                   "mlxc_%s: GQA ratio n_heads / n_kv_heads = %u is not supported (1..%u)", op,
                   d->n_heads / d->n_kv_heads, MLXC_ATTN_MAX_RATIO);
    MLXC_CHECK_ARG(d->head_dim == 64 || d->head_dim == 96 || d->head_dim == 128 || d->head_dim == 256 ||
                       d->head_dim == 512,
                   "mlxc_%s: head_dim %u is not supported (64, 96, 128, 256 or 512)", op, d->head_dim);
    MLXC_CHECK_ARG(d->kv_capacity > 0, "mlxc_%s: kv_capacity is 0", op);
    MLXC_CHECK_ARG(isfinite(d->scale), "mlxc_%s: scale %g is not finite", op, (double)d->scale);
    MLXC_CHECK_ARG(isfinite(d->softcap) && d->softcap >= 0.0f, "mlxc_%s: softcap %g (finite, >= 0; 0 = off)", op,
                   (double)d->softcap);
    return MLXC_OK;
}

/* Split count of decode.  CPU: about two items per worker.  CUDA: one block
 * per SM in one wave (floor(SMs / n_kv_heads): equal chunks of keys, every
 * block streams one long split with its cp.async pipeline full), at least
 * 8.  Measured on the H100 with K/V rotated through HBM (bench/results/
 * attention-h100-2026-11-23.md, 3-stage kernel): 32/8 heads, 16 splits
 * (128 blocks) beat 33 (264 blocks, two per SM) and 66 at every context
 * >= 2048 (68% vs 63% and 54% of 3.0 TB/s at 16k); 32/32 heads, 8 splits
 * (256 blocks) beat 16 up to 8k and tie it at 16k-32k.
 * Never more than one split per 64 keys of the longest length.
 * MLXC_ATTN_DECODE_SPLITS=n forces n (capped likewise; for tuning). */
static uint32_t attn_splits(const mlxc_device *dev, const mlxc_attention_desc *d) {
    uint64_t maxlen = d->kv_capacity;
    if (d->window && d->window < maxlen) maxlen = d->window;
    const uint64_t cap = (maxlen + 63) / 64;
    const uint64_t cu = dev->caps.compute_units > 0 ? (uint64_t)dev->caps.compute_units : 1;
    uint64_t s;
    if (ops_is_cpu(dev)) s = (2 * cu + d->n_kv_heads - 1) / d->n_kv_heads;
    else {
        s = cu / d->n_kv_heads;
        if (s < 8) s = 8;
    }
    const long env = mlxc_env_int("MLXC_ATTN_DECODE_SPLITS", 0);
    if (env > 0 && env <= INT32_MAX) s = (uint64_t)env;
    if (s > cap) s = cap;
    if (s > 1024) s = 1024;
    return s ? (uint32_t)s : 1;
}

/* Keys a live split of decode covers at least (mlxc_attn_live_splits): the
 * split count above is fixed when the call is recorded, for the longest
 * length, while the length itself is read on the device; a short one then
 * uses fewer splits, and one split of at most this many keys writes out
 * without the partials, the counter and the merge.  64 keys: the rule
 * above, applied to the length of the call.  Measured (bench/results/
 * attention-live-splits-2026-12-05.md): tg128 +1.5-2.2% on the H200,
 * neutral on the H100; 256 or 512 keys gain 2-3% more at tg128 but cost
 * 2-7 us a call at cold 512-2048-key contexts and up to 7x at head dim
 * 512.  MLXC_ATTN_SPLIT_KEYS=n sets n (0: every split live; for tuning). */
static uint32_t attn_split_keys(void) {
    const long env = mlxc_env_int("MLXC_ATTN_SPLIT_KEYS", 64);
    return env >= 0 && env <= INT32_MAX ? (uint32_t)env : 64u;
}

/* MLXC_ATTN_TRIGGER: where the fused decode attention lets the next kernel
 * be scheduled (params_attention.h).  After the key tiles by default: the
 * o projection's blocks then stream their first weights during the warps'
 * combine rather than beside the q/k/v staging and the tiles, whose L2
 * round trips are the attention's critical path (H100: the 7B and 1B
 * Q4_K_M decode 0.9% faster than at the wait, the other models within
 * their spread; bench/results/attn-trigger-2026-12-08.md). */
static uint32_t attn_trigger(void) {
    const long env = mlxc_env_int("MLXC_ATTN_TRIGGER", MLXC_ATTN_TRIGGER_TILES);
    return env >= 0 && env <= (long)MLXC_ATTN_TRIGGER_EXIT ? (uint32_t)env : MLXC_ATTN_TRIGGER_TILES;
}

/* Scratch bytes of S splits (params_attention.h): the counter region, then
 * acc and (m, l) per (query head, split). */
static size_t attn_scratch_bytes(const mlxc_attention_desc *d, uint32_t S) {
    return (size_t)MLXC_ATTN_COUNTER_WORDS(d->n_kv_heads) * sizeof(uint32_t) +
           (size_t)d->n_heads * S * (d->head_dim + 2u) * sizeof(float);
}

mlxc_status mlxc_attention_decode_scratch_bytes(const mlxc_device *dev, const mlxc_attention_desc *user,
                                                size_t *bytes) {
    MLXC_CHECK_ARG(dev && user && bytes, "mlxc_attention_decode_scratch_bytes: NULL argument");
    mlxc_attention_desc desc_, *desc = &desc_;
    mlxc_status s = attn_load_desc("attention_decode_scratch_bytes", user, desc);
    if (!s) s = attn_check_desc("attention_decode_scratch_bytes", desc);
    if (s) return s;
    *bytes = attn_scratch_bytes(desc, attn_splits(dev, desc));
    return MLXC_OK;
}

/* Checks of q, k, v, out against the desc (q rows: 1 for decode; seqs
 * caches of n_kv_heads x kv_capacity rows). */
static mlxc_status attn_check_bufs(const char *op, const mlxc_buffer *q, const mlxc_buffer *k, const mlxc_buffer *v,
                                   const mlxc_buffer *out, const mlxc_attention_desc *d, uint64_t q_rows,
                                   uint64_t seqs) {
    mlxc_status s;
    const uint64_t qn = q_rows * d->n_heads * d->head_dim;
    const uint64_t kvn = seqs * d->n_kv_heads * d->kv_capacity * d->head_dim;
    if ((s = ops_check_float(op, "q", q)) || (s = ops_check_float(op, "out", out))) return s;
    if (k->dtype != MLXC_F16 && k->dtype != MLXC_BF16)
        return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_%s: k has dtype %s (f16 or bf16)", op, mlxc_dtype_name(k->dtype));
    if ((s = ops_check_dtype(op, "v", v, k->dtype))) return s;
    if ((s = ops_check_elems(op, "q", q, qn)) || (s = ops_check_elems(op, "out", out, qn)) ||
        (s = ops_check_elems(op, "k", k, kvn)) || (s = ops_check_elems(op, "v", v, kvn)))
        return s;
    if (ops_overlap(out, q) || ops_overlap(out, k) || ops_overlap(out, v))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: out overlaps q, k or v", op);
    return MLXC_OK;
}

/* ops_dispatch of one attention kernel (tagged SDPA) that reads reads[0 ..
 * nreads) (NULL entries skipped) and writes ws[0 .. nws); `block` threads
 * per group on CUDA. */
static mlxc_status attn_dispatch_w(mlxc_encoder *enc, const char *op, const char *kernel, const mlxc_arg *args,
                                   uint32_t nargs, uint32_t groups, uint32_t block, uint32_t shared,
                                   const mlxc_buffer *const *reads, uint32_t nreads, const mlxc_buffer *const *ws,
                                   uint32_t nws) {
    ops_launch l = {.kernel = kernel, .kind = MLXC_OP_SDPA, .args = args, .nargs = nargs, .groups = groups,
                    .block = block, .shared = shared};
    for (uint32_t i = 0; i < nreads; i++) l.reads[i] = reads[i];
    for (uint32_t i = 0; i < nws; i++) l.writes[i] = ws[i];
    return ops_dispatch(enc, op, &l);
}

/* attn_dispatch_w with the one written buffer w. */
static mlxc_status attn_dispatch(mlxc_encoder *enc, const char *op, const char *kernel, const mlxc_arg *args,
                                 uint32_t nargs, uint32_t groups, uint32_t block, uint32_t shared,
                                 const mlxc_buffer *const *reads, uint32_t nreads, const mlxc_buffer *w) {
    const mlxc_buffer *ws[1] = {w};
    return attn_dispatch_w(enc, op, kernel, args, nargs, groups, block, shared, reads, nreads, ws, 1);
}

/* The checks of a decode (desc loaded) and its kernel's parameters: *S
 * splits, *need scratch bytes. */
static mlxc_status attn_decode_params(const char *op, const mlxc_device *dev, const mlxc_buffer *q, const mlxc_buffer *k,
                                      const mlxc_buffer *v, const mlxc_buffer *out, const mlxc_buffer *scratch,
                                      const mlxc_buffer *len_buf, const mlxc_attention_desc *d, mlxc_p_attn_decode *p,
                                      size_t *need) {
    mlxc_status s = attn_check_desc(op, d);
    if (s || (s = attn_check_bufs(op, q, k, v, out, d, 1, 1))) return s;
    MLXC_CHECK_ARG(d->batch <= 1, "mlxc_%s: batch %u (decode takes one sequence)", op, d->batch);
    MLXC_CHECK_ARG(!d->non_causal, "mlxc_%s: non_causal is a prefill option", op);
    MLXC_CHECK_ARG(d->ring || len_buf || d->kv_len <= d->kv_capacity,
                   "mlxc_%s: kv_len %u exceeds kv_capacity %u of a linear cache", op, d->kv_len, d->kv_capacity);
    uint32_t len_mode = MLXC_ATTN_LEN_NONE;
    if (len_buf) {
        if (len_buf->dtype != MLXC_U32 && len_buf->dtype != MLXC_I32)
            return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_%s: len_buf has dtype %s (u32 or i32)", op,
                                  mlxc_dtype_name(len_buf->dtype));
        if (mlxc_buffer_elements(len_buf) < 1) return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_%s: len_buf is empty", op);
        len_mode = len_buf->dtype == MLXC_U32 ? MLXC_ATTN_LEN_U32 : MLXC_ATTN_LEN_I32;
    }
    if ((s = ops_check_dtype(op, "scratch", scratch, MLXC_F32))) return s;
    const uint32_t S = attn_splits(dev, d);
    *need = attn_scratch_bytes(d, S);
    if (scratch->bytes < *need)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_%s: scratch has %zu bytes, needs %zu "
                              "(mlxc_attention_decode_scratch_bytes)", op, scratch->bytes, *need);
    if (mlxc_buffer_offset(scratch) % 16u)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: scratch starts at byte %zu of its "
                              "allocation (a multiple of 16 is needed)", op, mlxc_buffer_offset(scratch));
    if (ops_overlap(scratch, q) || ops_overlap(scratch, k) || ops_overlap(scratch, v) || ops_overlap(scratch, out) ||
        (len_buf && (ops_overlap(scratch, len_buf) || ops_overlap(out, len_buf))))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: scratch or out overlaps an operand", op);
    *p = (mlxc_p_attn_decode){d->n_heads, d->n_kv_heads, d->head_dim, d->kv_capacity, d->kv_len, len_mode, d->window,
                              d->ring, S, attn_dt(q->dtype), attn_dt(out->dtype), d->scale, d->softcap,
                              attn_split_keys(), attn_trigger(), 0};
    return MLXC_OK;
}

/* The exact bytes of scratch a decode uses (counters read and written,
 * partials written): its prefix, as a view. */
static mlxc_status attn_scratch_view(mlxc_buffer *scratch, size_t need, mlxc_buffer **sv) {
    int64_t shape[1] = {(int64_t)(need / sizeof(float))};
    return mlxc_buffer_view(scratch, 0, MLXC_F32, 1, shape, sv);
}

/* The dispatch of a decode whose checks attn_decode_params made (p, need). */
static mlxc_status attn_decode_dispatch(mlxc_encoder *enc, const mlxc_buffer *q, const mlxc_buffer *k,
                                        const mlxc_buffer *v, mlxc_buffer *out, mlxc_buffer *scratch,
                                        const mlxc_buffer *len_buf, const mlxc_p_attn_decode *p, size_t need) {
    mlxc_device *dev = mlxc_encoder_device(enc);
    mlxc_buffer *sv = NULL;
    mlxc_status s = attn_scratch_view(scratch, need, &sv);
    if (s) return s;
    char name[40];
    snprintf(name, sizeof name, "attn_decode_hd%u_%s", p->head_dim, ops_float_sfx(k->dtype));
    mlxc_arg a[7] = {mlxc_arg_buffer(q), mlxc_arg_buffer(k), mlxc_arg_buffer(v), mlxc_arg_buffer(len_buf ? len_buf : q),
                     mlxc_arg_buffer(sv), mlxc_arg_buffer(out), mlxc_arg_bytes(p, sizeof *p)};
    const mlxc_buffer *r[4] = {q, k, v, len_buf}, *w[2] = {sv, out};
    const uint32_t items = p->n_kv_heads * p->n_splits;
    const uint32_t groups = ops_is_cpu(dev) ? ops_groups(dev, items, 1) : items;
    s = attn_dispatch_w(enc, "attention_decode", name, a, 7, groups, MLXC_ATTN_CUDA_THREADS,
                        attn_smem(dev, p->head_dim, false), r, 4, w, 2);
    mlxc_buffer_release(sv);
    return s;
}

mlxc_status mlxc_attention_decode(mlxc_encoder *enc, const mlxc_buffer *q, const mlxc_buffer *k, const mlxc_buffer *v,
                                  mlxc_buffer *out, mlxc_buffer *scratch, const mlxc_buffer *len_buf,
                                  const mlxc_attention_desc *user) {
    const char *op = "attention_decode";
    MLXC_CHECK_ARG(enc && q && k && v && out && scratch && user, "mlxc_attention_decode: NULL argument");
    mlxc_attention_desc d;
    mlxc_p_attn_decode p;
    size_t need;
    mlxc_status s = attn_load_desc(op, user, &d);
    if (s || (s = attn_decode_params(op, mlxc_encoder_device(enc), q, k, v, out, scratch, len_buf, &d, &p, &need)))
        return s;
    return attn_decode_dispatch(enc, q, k, v, out, scratch, len_buf, &p, need);
}

/* Whether attention_decode_qkv runs as one kernel: on CUDA at head dims up
 * to 256 (the tensor-core decode), unless MLXC_ATTN_FUSED_ROPE=0 asks for
 * the two dispatches it replaces. */
static bool attn_qkv_fused(const mlxc_device *dev, uint32_t hd) {
    return !ops_is_cpu(dev) && hd <= 256u && mlxc_env_int("MLXC_ATTN_FUSED_ROPE", 1) != 0;
}

mlxc_status mlxc_attention_decode_qkv(mlxc_encoder *enc, const mlxc_buffer *qkv, const mlxc_buffer *bias,
                                      const mlxc_buffer *q_norm, const mlxc_buffer *k_norm, mlxc_buffer *q_out,
                                      mlxc_buffer *k_cache, mlxc_buffer *v_cache, const mlxc_buffer *pos,
                                      const mlxc_buffer *freq_factors, mlxc_buffer *out, mlxc_buffer *scratch,
                                      const mlxc_rope_qkv_desc *rope, const mlxc_attention_desc *attn) {
    const char *op = "attention_decode_qkv";
    MLXC_CHECK_ARG(enc && qkv && q_out && k_cache && v_cache && pos && out && scratch && rope && attn,
                   "mlxc_attention_decode_qkv: NULL argument");
    mlxc_device *dev = mlxc_encoder_device(enc);
    mlxc_p_attn_decode_qkv p;
    size_t need;
    mlxc_attention_desc d_, *d = &d_;
    mlxc_status s = ops_rope_qkv_params(op, qkv, bias, q_norm, k_norm, q_out, k_cache, v_cache, pos, freq_factors,
                                        rope, &p.r);
    if (s || (s = attn_load_desc(op, attn, d))) return s;
    MLXC_CHECK_ARG(p.r.rope.n_tokens == 1, "mlxc_%s: qkv holds %u rows (one token's)", op, p.r.rope.n_tokens);
    MLXC_CHECK_ARG(rope->rope.n_heads == d->n_heads && rope->n_kv_heads == d->n_kv_heads &&
                       rope->rope.head_dim == d->head_dim,
                   "mlxc_%s: rope desc heads %u / %u, head_dim %u against attention desc %u / %u, %u", op,
                   rope->rope.n_heads, rope->n_kv_heads, rope->rope.head_dim, d->n_heads, d->n_kv_heads, d->head_dim);
    MLXC_CHECK_ARG(rope->capacity == d->kv_capacity && rope->sliding == d->ring,
                   "mlxc_%s: rope desc capacity %u, sliding %d against attention desc kv_capacity %u, ring %d", op,
                   rope->capacity, (int)rope->sliding, d->kv_capacity, (int)d->ring);
    d->kv_len = 1; /* the query at pos[0] sees keys up to it */
    if ((s = attn_decode_params(op, dev, q_out, k_cache, v_cache, out, scratch, pos, d, &p.a, &need))) return s;
    const mlxc_buffer *in[6] = {qkv, bias, q_norm, k_norm, freq_factors, pos};
    for (int i = 0; i < 6; i++)
        if (in[i] && (ops_overlap(out, in[i]) || ops_overlap(scratch, in[i])))
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_%s: out or scratch overlaps an input", op);
    if (!attn_qkv_fused(dev, d->head_dim)) {
        /* the two dispatches it stands for (the CPU's reference), of the
         * parameters checked above */
        if ((s = ops_rope_qkv_dispatch(enc, qkv, bias, q_norm, k_norm, q_out, k_cache, v_cache, pos, freq_factors,
                                       &p.r)))
            return s;
        /* the attention reads what the first wrote: with auto-barrier on
         * the tracker orders them, otherwise a barrier does */
        if (!mlxc_encoder_auto_barrier(enc) && (s = mlxc_encoder_barrier(enc))) return s;
        return attn_decode_dispatch(enc, q_out, k_cache, v_cache, out, scratch, pos, &p.a, need);
    }
    mlxc_buffer *sv = NULL;
    if ((s = attn_scratch_view(scratch, need, &sv))) return s;
    char name[48];
    snprintf(name, sizeof name, "attn_decode_qkv_hd%u_%s", d->head_dim, ops_float_sfx(k_cache->dtype));
    mlxc_arg a[12] = {mlxc_arg_buffer(qkv),    mlxc_arg_buffer(bias ? bias : qkv), mlxc_arg_buffer(q_norm ? q_norm : qkv),
                      mlxc_arg_buffer(k_norm ? k_norm : qkv), mlxc_arg_buffer(q_out), mlxc_arg_buffer(k_cache),
                      mlxc_arg_buffer(v_cache), mlxc_arg_buffer(pos), mlxc_arg_buffer(freq_factors ? freq_factors : pos),
                      mlxc_arg_buffer(sv), mlxc_arg_buffer(out), mlxc_arg_bytes(&p, sizeof p)};
    /* read after the kernel waits for the one before: the first six (absent
     * operands stand in as qkv, so the count holds); before it: pos and the
     * caches (cuda_backend.c: pdl_late) */
    const mlxc_buffer *r[9] = {qkv, bias ? bias : qkv, q_norm ? q_norm : qkv, k_norm ? k_norm : qkv,
                               freq_factors ? freq_factors : qkv, sv, pos, k_cache, v_cache};
    const mlxc_buffer *w[5] = {q_out, k_cache, v_cache, sv, out};
    const uint32_t G = d->n_heads / d->n_kv_heads;
    s = attn_dispatch_w(enc, op, name, a, 12, d->n_kv_heads * p.a.n_splits, MLXC_ATTN_CUDA_THREADS,
                        attn_smem(dev, d->head_dim, false) + MLXC_ATTN_QKV_SMEM(G, d->head_dim), r, 9, w, 5);
    mlxc_buffer_release(sv);
    return s;
}

/* The general prefill (attn_prefill_x_*): any of batch, non-causal, mask,
 * key lengths, ring chunk.  The checks of the desc and q/k/v/out are done;
 * mask, key_lens and the chunk are checked by the callers. */
static mlxc_status attn_prefill_general(mlxc_encoder *enc, const char *op, const mlxc_buffer *q, const mlxc_buffer *k,
                                        const mlxc_buffer *v, mlxc_buffer *out, const mlxc_buffer *mask,
                                        uint64_t mask_bstride, uint64_t mask_hstride, const mlxc_buffer *key_lens,
                                        const mlxc_buffer *kc, const mlxc_buffer *vc, const mlxc_attention_desc *d) {
    mlxc_device *dev = mlxc_encoder_device(enc);
    const uint32_t batch = d->batch ? d->batch : 1;
    uint32_t mask_dt = MLXC_ATTN_MASK_NONE, len_mode = MLXC_ATTN_LEN_NONE;
    if (mask)
        mask_dt = mask->dtype == MLXC_F32 ? MLXC_ATTN_MASK_F32 : mask->dtype == MLXC_F16 ? MLXC_ATTN_MASK_F16
                                                                                          : MLXC_ATTN_MASK_BF16;
    if (key_lens) len_mode = key_lens->dtype == MLXC_U32 ? MLXC_ATTN_LEN_U32 : MLXC_ATTN_LEN_I32;
    const bool ring = kc != NULL;
    mlxc_p_attn_prefill_x p = {mask_bstride, mask_hstride, d->n_heads, d->n_kv_heads, d->head_dim, d->kv_capacity,
                               d->q_len, d->q_offset, d->kv_len, d->window, attn_dt(q->dtype), attn_dt(out->dtype),
                               d->scale, d->softcap, batch, ring || !d->non_causal, ring, mask_dt, len_mode,
                               {0, 0, 0}};
    char name[48];
    snprintf(name, sizeof name, "attn_prefill_x_hd%u_%s", d->head_dim, ops_float_sfx(k->dtype));
    mlxc_arg args[9] = {mlxc_arg_buffer(q), mlxc_arg_buffer(k), mlxc_arg_buffer(v), mlxc_arg_buffer(out),
                        mlxc_arg_buffer(mask ? mask : q), mlxc_arg_buffer(key_lens ? key_lens : q),
                        mlxc_arg_buffer(kc ? kc : q), mlxc_arg_buffer(vc ? vc : q), mlxc_arg_bytes(&p, sizeof p)};
    const mlxc_buffer *r[7] = {q, k, v, mask, key_lens, kc, vc};
    const uint32_t bq = ops_is_cpu(dev) ? 8u : MLXC_ATTN_SIMT_ROWS;
    const uint64_t items = (uint64_t)batch * ((d->q_len + bq - 1u) / bq) * d->n_heads;
    uint32_t groups;
    if (ops_is_cpu(dev)) groups = ops_groups(dev, items, 1);
    else groups = items > 65535u * 64u ? 65535u * 64u : (uint32_t)items;
    const uint32_t smem = ops_is_cpu(dev) ? attn_smem(dev, d->head_dim, true) : MLXC_ATTN_SIMT_SMEM(d->head_dim);
    return attn_dispatch(enc, op, name, args, 9, groups, MLXC_ATTN_CUDA_THREADS, smem, r, 7, out);
}

/* The prefill checks shared by the three entry points (desc loaded). */
static mlxc_status attn_prefill_check(const char *op, const mlxc_buffer *q, const mlxc_buffer *k,
                                      const mlxc_buffer *v, const mlxc_buffer *out, const mlxc_attention_desc *d,
                                      bool ring) {
    mlxc_status s = attn_check_desc(op, d);
    if (s) return s;
    const uint64_t batch = d->batch ? d->batch : 1;
    MLXC_CHECK_ARG(d->q_len > 0, "mlxc_%s: q_len is 0", op);
    MLXC_CHECK_ARG((uint64_t)d->q_offset + d->q_len <= UINT32_MAX, "mlxc_%s: q_offset %u too large", op, d->q_offset);
    MLXC_CHECK_ARG(!d->non_causal || d->window == 0,
                   "mlxc_%s: window %u with non_causal (a sliding window is causal)", op, d->window);
    if (!ring) {
        MLXC_CHECK_ARG(!d->ring, "mlxc_%s: a ring cache needs mlxc_attention_prefill_ring", op);
        MLXC_CHECK_ARG(d->kv_len <= d->kv_capacity, "mlxc_%s: kv_len %u exceeds kv_capacity %u", op, d->kv_len,
                       d->kv_capacity);
    }
    return attn_check_bufs(op, q, k, v, out, d, batch * d->q_len, batch);
}

mlxc_status mlxc_attention_prefill(mlxc_encoder *enc, const mlxc_buffer *q, const mlxc_buffer *k, const mlxc_buffer *v,
                                   mlxc_buffer *out, const mlxc_attention_desc *user) {
    const char *op = "attention_prefill";
    MLXC_CHECK_ARG(enc && q && k && v && out && user, "mlxc_attention_prefill: NULL argument");
    mlxc_attention_desc d_, *d = &d_;
    mlxc_status s = attn_load_desc(op, user, d);
    if (s || (s = attn_prefill_check(op, q, k, v, out, d, false))) return s;
    if (d->batch > 1 || d->non_causal)
        return attn_prefill_general(enc, op, q, k, v, out, NULL, 0, 0, NULL, NULL, NULL, d);
    mlxc_device *dev = mlxc_encoder_device(enc);
    mlxc_p_attn_prefill p = {d->n_heads, d->n_kv_heads, d->head_dim, d->kv_capacity, d->q_len, d->q_offset, d->kv_len,
                             d->window, attn_dt(q->dtype), attn_dt(out->dtype), d->scale, d->softcap};
    /* The Hopper kernel (wgmma, warp-specialised; attention_sm90.cuh)
     * on sm_90 for head dims 64 and 128; the mma.sync kernel elsewhere.
     * MLXC_ATTN_PREFILL=mma forces the mma.sync kernel (the bench compares
     * the two); MLXC_ATTN_PREFILL_GRID=n caps the CUDA grid at n blocks (each walks
     * several items: for tuning).  Head dim 512 runs the plain f32 kernel
     * on CUDA (MLXC_ATTN_SIMT_ROWS query rows per item). */
    const char *env = mlxc_env_str("MLXC_ATTN_PREFILL");
    const bool sm90 = !ops_is_cpu(dev) && dev->caps.arch_major == 9 && dev->caps.arch_minor == 0 &&
                      (d->head_dim == 64 || d->head_dim == 128) &&
                      dev->caps.max_shared_bytes >= MLXC_ATTN_SM90_SMEM(d->head_dim) && !(env && strcmp(env, "mma") == 0);
    char name[48];
    snprintf(name, sizeof name, "attn_prefill_%shd%u_%s", sm90 ? "sm90_" : "", d->head_dim, ops_float_sfx(k->dtype));
    mlxc_arg args[5] = {mlxc_arg_buffer(q), mlxc_arg_buffer(k), mlxc_arg_buffer(v), mlxc_arg_buffer(out),
                        mlxc_arg_bytes(&p, sizeof p)};
    const mlxc_buffer *r[3] = {q, k, v};
    const uint32_t bq = ops_is_cpu(dev) ? 8u : sm90 ? MLXC_ATTN_SM90_BQ : d->head_dim > 256u ? MLXC_ATTN_SIMT_ROWS : 64u;
    const uint64_t items = (uint64_t)(d->q_len + bq - 1u) / bq * d->n_heads;
    uint32_t groups;
    if (ops_is_cpu(dev)) groups = ops_groups(dev, items, 1);
    else groups = items > 65535u * 64u ? 65535u * 64u : (uint32_t)items;
    const long genv = mlxc_env_int("MLXC_ATTN_PREFILL_GRID", 0);
    if (!ops_is_cpu(dev) && genv > 0 && genv < (long)groups) groups = (uint32_t)genv;
    if (sm90)
        return attn_dispatch(enc, op, name, args, 5, groups, MLXC_ATTN_SM90_THREADS, MLXC_ATTN_SM90_SMEM(d->head_dim),
                             r, 3, out);
    return attn_dispatch(enc, op, name, args, 5, groups, MLXC_ATTN_CUDA_THREADS, attn_smem(dev, d->head_dim, true), r,
                         3, out);
}

mlxc_status mlxc_attention_prefill_masked(mlxc_encoder *enc, const mlxc_buffer *q, const mlxc_buffer *k,
                                          const mlxc_buffer *v, mlxc_buffer *out, const mlxc_buffer *mask,
                                          const mlxc_buffer *key_lens, const mlxc_attention_desc *user) {
    const char *op = "attention_prefill_masked";
    MLXC_CHECK_ARG(enc && q && k && v && out && user, "mlxc_attention_prefill_masked: NULL argument");
    mlxc_attention_desc d_, *d = &d_;
    mlxc_status s = attn_load_desc(op, user, d);
    if (s || (s = attn_prefill_check(op, q, k, v, out, d, false))) return s;
    const uint64_t batch = d->batch ? d->batch : 1;
    uint64_t bstride = 0, hstride = 0;
    if (mask) {
        if ((s = ops_check_float(op, "mask", mask))) return s;
        const uint64_t plane = (uint64_t)d->q_len * d->kv_len;
        const int nd = mask->ndim;
        MLXC_CHECK_ARG(d->kv_len > 0, "mlxc_attention_prefill_masked: a mask needs kv_len > 0");
        if (nd < 2 || nd > 4 || mask->shape[nd - 2] != (int64_t)d->q_len || mask->shape[nd - 1] != (int64_t)d->kv_len)
            return mlxc_set_error(MLXC_ERR_SHAPE,
                                  "mlxc_attention_prefill_masked: mask must be ([batch|1,] [n_heads|1,] q_len %u, "
                                  "kv_len %u); it has %d dims",
                                  d->q_len, d->kv_len, nd);
        const int64_t mh = nd >= 3 ? mask->shape[nd - 3] : 1, mb = nd == 4 ? mask->shape[0] : 1;
        if (mh != 1 && mh != (int64_t)d->n_heads)
            return mlxc_set_error(MLXC_ERR_SHAPE,
                                  "mlxc_attention_prefill_masked: mask head dim %lld (1 or n_heads %u)", (long long)mh,
                                  d->n_heads);
        if (mb != 1 && (uint64_t)mb != batch)
            return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_attention_prefill_masked: mask batch dim %lld (1 or batch %llu)",
                                  (long long)mb, (unsigned long long)batch);
        if ((s = ops_check_elems(op, "mask", mask, (uint64_t)mb * mh * plane))) return s;
        hstride = mh > 1 ? plane : 0;
        bstride = mb > 1 ? (uint64_t)mh * plane : 0;
        if (ops_overlap(out, mask))
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_attention_prefill_masked: out overlaps mask");
    }
    if (key_lens) {
        if (key_lens->dtype != MLXC_U32 && key_lens->dtype != MLXC_I32)
            return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_attention_prefill_masked: key_lens has dtype %s (u32 or i32)",
                                  mlxc_dtype_name(key_lens->dtype));
        if ((uint64_t)mlxc_buffer_elements(key_lens) < batch)
            return mlxc_set_error(MLXC_ERR_SHAPE,
                                  "mlxc_attention_prefill_masked: key_lens has %llu elements, batch is %llu",
                                  (unsigned long long)mlxc_buffer_elements(key_lens), (unsigned long long)batch);
        if (ops_overlap(out, key_lens))
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_attention_prefill_masked: out overlaps key_lens");
    }
    return attn_prefill_general(enc, op, q, k, v, out, mask, bstride, hstride, key_lens, NULL, NULL, d);
}

mlxc_status mlxc_attention_prefill_ring(mlxc_encoder *enc, const mlxc_buffer *q, const mlxc_buffer *k,
                                        const mlxc_buffer *v, const mlxc_buffer *k_chunk, const mlxc_buffer *v_chunk,
                                        mlxc_buffer *out, const mlxc_attention_desc *user) {
    const char *op = "attention_prefill_ring";
    MLXC_CHECK_ARG(enc && q && k && v && k_chunk && v_chunk && out && user,
                   "mlxc_attention_prefill_ring: NULL argument");
    mlxc_attention_desc d_, *d = &d_;
    mlxc_status s = attn_load_desc(op, user, d);
    if (s || (s = attn_prefill_check(op, q, k, v, out, d, true))) return s;
    MLXC_CHECK_ARG(!d->non_causal, "mlxc_attention_prefill_ring: non_causal (a ring prefill is causal)");
    MLXC_CHECK_ARG(d->window <= d->kv_capacity,
                   "mlxc_attention_prefill_ring: window %u exceeds the ring's kv_capacity %u (older keys are gone)",
                   d->window, d->kv_capacity);
    const uint64_t batch = d->batch ? d->batch : 1;
    const uint64_t cn = batch * d->q_len * d->n_kv_heads * d->head_dim;
    if ((s = ops_check_dtype(op, "k_chunk", k_chunk, k->dtype)) || (s = ops_check_dtype(op, "v_chunk", v_chunk, k->dtype)) ||
        (s = ops_check_elems(op, "k_chunk", k_chunk, cn)) || (s = ops_check_elems(op, "v_chunk", v_chunk, cn)))
        return s;
    if (ops_overlap(out, k_chunk) || ops_overlap(out, v_chunk))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_attention_prefill_ring: out overlaps k_chunk or v_chunk");
    return attn_prefill_general(enc, op, q, k, v, out, NULL, 0, 0, NULL, k_chunk, v_chunk, d);
}
