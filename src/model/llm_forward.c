/*
 * The transformer forward pass of the Llama family (Llama, Mistral, Qwen2,
 * Qwen3, Phi-3, and the mixtures of experts Mixtral, Qwen2-MoE and
 * Qwen3-MoE) and of Gemma 2 / 3, encoded from ops so that one code path
 * runs on every backend.  Phi-3's fused projections arrive here as
 * separate weights (row views of the fused tensor, llm_load.c).
 *
 * One call evaluates a chunk of m tokens at positions p0 .. p0 + m - 1:
 *
 *   x = embed(ids)                                       (m, dim)
 *   per layer:
 *     xb  = rms_norm(x) * attn_norm                      (m, dim)
 *     q, k, v = xb @ wq^T (+bq), xb @ wk^T, xb @ wv^T   (m, H, hd) (m, KV, hd)
 *     [Qwen3: q, k = rms_norm per head * q_norm, k_norm]
 *     q, k = rope(q, k)
 *     cache[p0 .. p0+m) = k, v
 *     att = softmax(q k^T / sqrt(hd), causal) v          (m, H, hd)
 *     x  += att @ wo^T
 *     xb  = rms_norm(x) * ffn_norm
 *     x  += (silu(xb @ wg^T) * (xb @ wu^T)) @ wd^T
 *           [a mixture of experts (Qwen3-MoE, Qwen2-MoE, Mixtral): the
 *           weighted sum of that MLP over each token's top k experts, and
 *           Qwen2-MoE's gated shared expert, moe_block]
 *   logits = rms_norm(x) * out_norm @ output^T           (n_out, vocab)
 *
 * Gemma differs in places: the embedding is scaled by sqrt(dim); each
 * block's output is normed (post_attn_norm, post_ffn_norm) before it joins
 * the residual; the attention scale is 1/sqrt(query_pre_attn_scalar), its
 * logits (Gemma 2) and the output logits may be soft-capped (c tanh(s/c));
 * the MLP is GeGLU (gelu, tanh form); local layers attend through a
 * sliding window, and in Gemma 3 rotate with their own rope base.
 *
 * Each residual add is fused into the norm that follows it.  The encoder
 * runs with auto-barrier on, so the order between dispatches comes from
 * what they read and write, not from hand-placed barriers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/llm_internal.h"
#include "mlxc/ops.h"
#include "mlxc/ops_attention.h"
#include "mlxc/ops_elementwise.h"
#include "mlxc/ops_layout.h"
#include "mlxc/ops_matmul.h"
#include "mlxc/ops_moe.h"
#include "mlxc/ops_norm.h"
#include "mlxc/ops_rope.h"
#include "mlxc/ops_sample.h"
#include "mlxc/ops_softmax.h"

/* ---- the matmul call site --------------------------------------------------------------- */

mlxc_qmm_weight llm_qmm(const llm_weight *w) {
    mlxc_qformat f = w->qformat;
    if (w->format == LLM_W_DENSE && w->w) { /* dense experts: the expert forms take them */
        const mlxc_dtype dt = mlxc_buffer_dtype(w->w);
        f = dt == MLXC_F32 ? MLXC_QF_F32 : dt == MLXC_F16 ? MLXC_QF_F16 : MLXC_QF_BF16;
    }
    return (mlxc_qmm_weight){.format = f, .bits = w->bits, .group_size = w->group_size,
                             .data = w->w, .scales = w->scales, .biases = w->biases};
}

/* mlxc_qmatmul's mat-vec kernels take up to this many rows (ops_qmatmul.h). */
#define LLM_QMV_ROWS 8

/* Quantized weights times more than LLM_QMV_ROWS rows on a GPU: the
 * weight dequantized to bf16 in `wdeq` (an (n, k) bf16 buffer, or NULL for
 * the quantized kernels), then the dense bf16 x bf16 GEMM (cuBLASLt or the
 * tensor-core kernel; the caller passes it for bf16 activations only),
 * which beats the quantized mat-mat kernel by an order of magnitude at
 * prefill sizes (bench/results/qmatmul-h200-2026-12-04.md). */
mlxc_status llm_linear(mlxc_encoder *enc, const mlxc_buffer *x, const llm_weight *w, mlxc_buffer *y, uint32_t m,
                       mlxc_buffer *wdeq) {
    switch (w->format) {
    case LLM_W_DENSE:
        return mlxc_matmul(enc, x, w->w, y, m, (uint32_t)w->rows, (uint32_t)w->cols);
    case LLM_W_QUANT: {
        mlxc_qmm_weight q = llm_qmm(w);
        const uint32_t n = (uint32_t)w->rows, k = (uint32_t)w->cols;
        if (wdeq && m > LLM_QMV_ROWS && (uint64_t)n * k == mlxc_buffer_bytes(wdeq) / 2) {
            mlxc_status s = mlxc_qembedding_gather(enc, &q, NULL, wdeq, n, k, 1.0f);
            return s ? s : mlxc_matmul(enc, x, wdeq, y, m, n, k);
        }
        return mlxc_qmatmul(enc, x, &q, y, m, n, k);
    }
    }
    return mlxc_set_error(MLXC_ERR_INTERNAL, "model: unknown weight storage %d", (int)w->format);
}

/* ---- views ---------------------------------------------------------------------------- */

/* Views made during one forward call live in the context until its
 * command buffer has completed (llm_release_views). */
typedef struct fw {
    mlxc_context *ctx;
    mlxc_model   *m;
    mlxc_status   st;
} fw;

/* A view of `b` at element `off` of `b`'s dtype with the given shape; NULL
 * (and fw->st set) on failure, which every op then rejects. */
static mlxc_buffer *view(fw *f, mlxc_buffer *b, int64_t off, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    mlxc_context *c = f->ctx;
    if (f->st) return NULL;
    if (c->n_views == c->cap_views) {
        size_t cap = c->cap_views ? c->cap_views * 2 : 256;
        mlxc_buffer **nv = realloc(c->views, cap * sizeof *nv);
        if (!nv) {
            f->st = mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "model: out of memory");
            return NULL;
        }
        c->views = nv;
        c->cap_views = cap;
    }
    mlxc_dtype dt = mlxc_buffer_dtype(b);
    int64_t shape[3] = {d0, d1, d2};
    mlxc_buffer *v;
    f->st = mlxc_buffer_view(b, (size_t)off * mlxc_dtype_size(dt), dt, ndim, shape, &v);
    if (f->st) return NULL;
    c->views[c->n_views++] = v;
    return v;
}

mlxc_status llm_rows(mlxc_buffer *b, int64_t r0, int64_t nrows, int64_t cols, mlxc_buffer **out) {
    mlxc_dtype dt = mlxc_buffer_dtype(b);
    int64_t shape[2] = {nrows, cols};
    return mlxc_buffer_view(b, (size_t)(r0 * cols) * mlxc_dtype_size(dt), dt, 2, shape, out);
}

#define TRY(call)                              \
    do {                                       \
        mlxc_status st_ = (call);              \
        if (st_) return f->st ? f->st : st_;   \
    } while (0)

/* ---- attention ------------------------------------------------------------------------ */

/* f16 or f32 weights times bf16 activations, more than LLM_QMV_ROWS rows
 * on a GPU: the GEMM in the weight's dtype on cuBLASLt (mlxc_matmul has no
 * tensor-core f16 x bf16 GEMM, and runs an f32 x bf16 one a thread an
 * element; converting the weights to bf16 would drop bits of each).  The
 * chunk is converted to the weight's dtype in the context's xh (f16) or xf
 * (f32).  f32 is exact; f16 is exact for bf16 values of magnitude 2^-14 ..
 * 65504 (bf16 has 8 significant bits, f16 11) and rounds only smaller ones
 * (to f16's subnormal steps of 2^-24); a value past 65504 would become inf,
 * as in other engines that run f16 models on f16 GEMMs.  The f32 result
 * goes to y directly or through yf and one rounding to bf16, the rounding
 * the bf16 GEMM makes.  false where this does not apply; true with the
 * status in *st where it ran. */
static bool linear_cast(fw *f, mlxc_encoder *enc, const mlxc_buffer *x, const llm_weight *w, mlxc_buffer *y,
                        uint32_t m, mlxc_status *st) {
    mlxc_context *c = f->ctx;
    const uint64_t n = (uint64_t)w->rows, k = (uint64_t)w->cols;
    const mlxc_dtype yd = mlxc_buffer_dtype(y);
    const bool h = llm_weight_is_f16(w);
    mlxc_buffer *scratch = h ? c->xh : c->xf;
    const size_t es = h ? 2 : 4;
    if (!scratch || !(h || llm_weight_is_f32(w)) || m <= LLM_QMV_ROWS || mlxc_buffer_dtype(x) != MLXC_BF16 ||
        (uint64_t)m * k > mlxc_buffer_bytes(scratch) / es)
        return false;
    if (yd != MLXC_F32 && (yd != MLXC_BF16 || !c->yf || (uint64_t)m * n > mlxc_buffer_bytes(c->yf) / 4)) return false;
    mlxc_buffer *xc = view(f, scratch, 0, 2, m, (int64_t)k, 0);                    /* (m, k) f16 or f32 */
    mlxc_buffer *yf = yd == MLXC_F32 ? y : view(f, c->yf, 0, 2, m, (int64_t)n, 0); /* (m, n) f32 */
    *st = f->st; /* a failed view */
    if (!*st) *st = mlxc_cast(enc, x, xc);
    if (!*st) *st = mlxc_matmul(enc, xc, w->w, yf, m, (uint32_t)n, (uint32_t)k);
    if (!*st && yf != y) *st = mlxc_cast(enc, yf, y);
    return true;
}

/* The attention ops: f16/bf16 caches, head sizes 64/96/128/256. */
/* llm_linear with the context's bf16 scratch as an (n, k) view where the
 * dequantize-then-GEMM path applies (GPU, bf16 activations, prefill), or
 * the f16 or f32 GEMM (linear_cast). */
static mlxc_status linear(fw *f, mlxc_encoder *enc, const mlxc_buffer *x, const llm_weight *w, mlxc_buffer *y,
                          uint32_t m) {
    mlxc_status st;
    if (linear_cast(f, enc, x, w, y, m, &st)) return st;
    mlxc_buffer *deq = NULL, *scratch = f->ctx->wdeq;
    if (scratch && w->format == LLM_W_QUANT && m > LLM_QMV_ROWS && mlxc_buffer_dtype(x) == MLXC_BF16 &&
        (uint64_t)w->rows * (uint64_t)w->cols <= mlxc_buffer_bytes(scratch) / 2)
        deq = view(f, scratch, 0, 2, w->rows, w->cols, 0);
    if (f->st) return f->st;
    return llm_linear(enc, x, w, y, m, deq);
}

/* The attention desc of layer l over kc's cache (kv_len 1: set by the
 * caller where it is read). */
static mlxc_attention_desc attn_desc(fw *f, int l, const mlxc_context *kc) {
    const mlxc_model *M = f->m;
    return (mlxc_attention_desc){.struct_size = sizeof(mlxc_attention_desc), .n_heads = (uint32_t)M->n_heads,
                                 .n_kv_heads = (uint32_t)M->n_kv_heads, .head_dim = (uint32_t)M->head_dim,
                                 .kv_capacity = kc->n_ctx, .kv_len = 1, .window = M->layers[l].window,
                                 .scale = M->attn_scale, .softcap = M->attn_softcap};
}

/* Rows r .. r + m - 1 of the pass (queries at positions p0 ..) attend to
 * kc's cache: kc is the context itself, or in a batched decode step the
 * sequence whose token row r is (then m = 1). */
static mlxc_status attention_fused(fw *f, mlxc_encoder *enc, int l, uint32_t p0, uint32_t m, uint32_t r,
                                   const mlxc_context *kc) {
    mlxc_context *c = f->ctx;
    mlxc_model *M = f->m;
    int64_t H = M->n_heads, hd = M->head_dim, off = (int64_t)r * H * hd;
    mlxc_attention_desc d = attn_desc(f, l, kc);
    d.kv_len = p0 + m;
    if (m == 1) {
        /* the length comes from the position buffer (L = 1 + pos[r]), so a
         * captured decode step replays at any position; the partials go to
         * the sequence's own scratch, so that a batched step's rows share no
         * buffer and their attentions run side by side in its graph */
        mlxc_buffer *q = view(f, c->q, off, 2, H, hd, 0), *o = view(f, c->att, off, 2, H, hd, 0);
        d.kv_len = 1;
        return mlxc_attention_decode(enc, q, kc->k_cache[l], kc->v_cache[l], o, kc->attn_scratch,
                                     view(f, c->pos, r, 1, 1, 0, 0), &d);
    }
    d.q_len = m;
    d.q_offset = p0;
    mlxc_buffer *q = view(f, c->q, off, 3, m, H, hd), *o = view(f, c->att, off, 3, m, H, hd);
    return mlxc_attention_prefill(enc, q, kc->k_cache[l], kc->v_cache[l], o, &d);
}

/* The same attention from matmul, softmax and layout ops: any cache dtype
 * (f32 for the CPU reference), any head size.  Per head h (KV head g):
 *   scores_h = q_h k_g^T          (m, L)      L = p0 + m keys
 *   probs    = softmax(scale * scores, causal from position p0)
 *   o_h      = probs_h v_g        (m, hd)     through v_g^T (hd, L)          */
static mlxc_status attention_composed(fw *f, mlxc_encoder *enc, int l, uint32_t p0, uint32_t m, uint32_t r,
                                      const mlxc_context *kc) {
    mlxc_context *c = f->ctx;
    mlxc_model *M = f->m;
    int64_t H = M->n_heads, KV = M->n_kv_heads, hd = M->head_dim, L = p0 + m, cap = kc->n_ctx;
    int64_t group = H / KV, off = (int64_t)r * H * hd;
    mlxc_buffer *q = view(f, c->q, off, 3, m, H, hd);
    mlxc_buffer *qh = view(f, c->qh, 0, 3, H, m, hd);                  /* (H, m, hd) */
    TRY(mlxc_permute_021(enc, q, qh, m, (uint32_t)H, (uint32_t)hd));
    for (int64_t g = 0; g < KV; g++) {
        mlxc_buffer *vg = view(f, kc->v_cache[l], g * cap * hd, 2, L, hd, 0);  /* (L, hd) */
        mlxc_buffer *vt = view(f, c->vt, g * hd * cap, 2, hd, L, 0);           /* (hd, L) */
        TRY(mlxc_transpose_2d(enc, vg, vt, 1, (uint32_t)L, (uint32_t)hd));
    }
    for (int64_t h = 0; h < H; h++) {
        mlxc_buffer *kg = view(f, kc->k_cache[l], (h / group) * cap * hd, 2, L, hd, 0);
        mlxc_buffer *qv = view(f, c->qh, h * m * hd, 2, m, hd, 0);
        mlxc_buffer *sv = view(f, c->scores, h * m * L, 2, m, L, 0);
        TRY(mlxc_matmul(enc, qv, kg, sv, m, (uint32_t)L, (uint32_t)hd));
    }
    mlxc_buffer *s = view(f, c->scores, 0, 2, H * m, L, 0);
    mlxc_scale_mask_softmax_desc sd = {.cols = (uint32_t)L, .q_len = m, .scale = M->attn_scale,
                                       .causal = true, .q_offset = p0};
    /* c tanh(scale s / c) = scale * c' tanh(s / c') with c' = c / scale:
     * the cap on the raw scores, then the softmax's own scale */
    if (M->attn_softcap > 0) TRY(mlxc_softcap(enc, s, s, M->attn_softcap / M->attn_scale));
    /* (m, L) window; a batched step's row r has its own at row r of the buffer */
    mlxc_buffer *mask = c->mask && M->layers[l].window ? view(f, c->mask, (int64_t)r * c->n_ctx, 2, m, L, 0) : NULL;
    TRY(mlxc_scale_mask_softmax(enc, s, mask, s, &sd));
    for (int64_t h = 0; h < H; h++) {
        mlxc_buffer *sv = view(f, c->scores, h * m * L, 2, m, L, 0);
        mlxc_buffer *vt = view(f, c->vt, (h / group) * hd * cap, 2, hd, L, 0);
        mlxc_buffer *ov = view(f, c->oh, h * m * hd, 2, m, hd, 0);
        TRY(mlxc_matmul(enc, sv, vt, ov, m, (uint32_t)hd, (uint32_t)L));
    }
    mlxc_buffer *oh = view(f, c->oh, 0, 3, H, m, hd), *o = view(f, c->att, off, 3, m, H, hd);
    return mlxc_permute_021(enc, oh, o, (uint32_t)H, m, (uint32_t)hd);
}

/* y (m, n) += bias (n), broadcast over the rows. */
static mlxc_status add_bias(fw *f, mlxc_encoder *enc, mlxc_buffer *y, mlxc_buffer *bias, uint32_t m, int64_t n) {
    if (m == 1) return mlxc_add(enc, y, bias, y);
    mlxc_buffer *rows = view(f, f->ctx->bias_rows, 0, 2, m, n, 0);
    mlxc_strided_copy sc = {.ndim = 2, .shape = {m, (uint64_t)n}, .src_stride = {0, 1}, .dst_stride = {(uint64_t)n, 1}};
    TRY(mlxc_copy_strided(enc, bias, rows, &sc));
    return mlxc_add(enc, y, rows, y);
}

/* The fused step's fuse descriptor for weight w (k columns): int8
 * activations where the context asks for them and the GPU's int8 mat-vec
 * takes w (the same choice on every backend, so the CPU twin runs what
 * the GPU runs). */
static mlxc_qmm_fuse fuse_of(fw *f, const llm_weight *w, mlxc_qmm_prologue pro, mlxc_qmm_epilogue epi) {
    mlxc_qmm_weight q = llm_qmm(w);
    const bool q8 = f->ctx->act_q8 && !mlxc_qmatmul_fused_q8_fast(&q, (uint32_t)w->cols);
    return (mlxc_qmm_fuse){.pro = pro, .epi = epi, .eps = f->m->eps, .act = q8 ? MLXC_QMM_ACT_Q8 : MLXC_QMM_ACT_EXACT};
}

/* Whether the fused step's output head takes the final norm in its
 * prologue: a quantized head the int8 walk multiplies (f32 logits are
 * that walk's alone, mlxc_qmatmul_fused). */
static bool head_fused(fw *f) {
    const llm_weight *w = &f->m->output;
    if (w->format != LLM_W_QUANT || !w->w || !f->ctx->act_q8 || !f->m->out_norm) return false;
    mlxc_qmm_weight q = llm_qmm(w);
    if (mlxc_qmatmul_fused_q8_fast(&q, (uint32_t)w->cols) == MLXC_OK) return true;
    mlxc_clear_error();
    return false;
}

/* The attention's output projection: into xb2, or (wo_add, one token)
 * added into the residual by the fused mat-vec. */
static mlxc_status attn_out(fw *f, mlxc_encoder *enc, const llm_layer *L, uint32_t m, bool wo_add) {
    mlxc_context *c = f->ctx;
    mlxc_model *M = f->m;
    const int64_t qd = M->n_heads * M->head_dim;
    if (wo_add) {
        const mlxc_qmm_fuse add = fuse_of(f, &L->wo, MLXC_QMM_PRO_NONE, MLXC_QMM_EPI_ADD);
        mlxc_qmm_weight q = llm_qmm(&L->wo);
        return mlxc_qmatmul_fused(enc, view(f, c->att, 0, 1, qd, 0, 0), NULL, NULL, &q, view(f, c->x, 0, 1, M->dim, 0, 0),
                                  (uint32_t)M->dim, (uint32_t)qd, &add);
    }
    return linear(f, enc, view(f, c->att, 0, 2, m, qd, 0), &L->wo, view(f, c->xb2, 0, 2, m, M->dim, 0), m);
}

/* Row r of ctx->qkv (one token's stacked q, k, v rows, of kc's sequence
 * at position p0): its bias, q/k norms, rope and cache write in one
 * dispatch and then its attention, or all of it in one
 * (mlxc_attention_decode_qkv); the row's output in ctx->att.  rd: the
 * layer's rope, whatever its n_heads. */
static mlxc_status qkv_row_attention(fw *f, mlxc_encoder *enc, int l, uint32_t r, uint32_t p0, const mlxc_context *kc,
                                     const mlxc_rope_desc *rd, mlxc_buffer *freqs) {
    mlxc_context *c = f->ctx;
    const mlxc_model *M = f->m;
    const llm_layer *L = &M->layers[l];
    const int64_t H = M->n_heads, KV = M->n_kv_heads, hd = M->head_dim, qd = H * hd;
    mlxc_rope_qkv_desc qkd = {.rope = *rd, .n_kv_heads = (uint32_t)KV, .capacity = kc->n_ctx, .eps = M->eps};
    qkd.rope.n_heads = (uint32_t)H; /* the row's q heads */
    mlxc_buffer *qkv = view(f, c->qkv, (int64_t)r * (H + 2 * KV) * hd, 3, 1, H + 2 * KV, hd);
    mlxc_buffer *pos = view(f, c->pos, r, 1, 1, 0, 0);
    if (c->fused_attn) {
        mlxc_attention_desc d = attn_desc(f, l, kc);
        TRY(mlxc_attention_decode_qkv(enc, qkv, L->bqkv, L->q_norm, L->k_norm, view(f, c->q, (int64_t)r * qd, 2, H, hd, 0),
                                      kc->k_cache[l], kc->v_cache[l], pos, freqs,
                                      view(f, c->att, (int64_t)r * qd, 2, H, hd, 0), kc->attn_scratch, &qkd, &d));
        return MLXC_OK;
    }
    TRY(mlxc_rope_qkv_cache(enc, qkv, L->bqkv, L->q_norm, L->k_norm, view(f, c->q, (int64_t)r * qd, 3, 1, H, hd),
                            kc->k_cache[l], kc->v_cache[l], pos, freqs, &qkd));
    return attention_composed(f, enc, l, p0, 1, r, kc);
}

/* qkv_done: the stacked q/k/v row is already in ctx->qkv (the fused
 * decode step's normed projections). */
static mlxc_status attention_block(fw *f, mlxc_encoder *enc, int l, uint32_t p0, uint32_t m, bool qkv_done,
                                   bool wo_add) {
    mlxc_context *c = f->ctx;
    mlxc_model *M = f->m;
    const llm_layer *L = &M->layers[l];
    int64_t H = M->n_heads, KV = M->n_kv_heads, hd = M->head_dim, qd = H * hd, kvd = KV * hd;
    mlxc_buffer *xb = view(f, c->xb, 0, 2, m, M->dim, 0);
    mlxc_buffer *q3 = view(f, c->q, 0, 3, m, H, hd), *k3 = view(f, c->k, 0, 3, m, KV, hd);
    /* the projections' outputs: q, k, v apart, or one token's stacked row */
    mlxc_buffer *qsrc = q3, *ksrc = k3, *vsrc = view(f, c->v, 0, 3, m, KV, hd);
    mlxc_rope_desc rd = {.mode = M->rope_mode, .head_dim = (uint32_t)hd, .rope_dim = (uint32_t)M->rope_dim,
                         .theta_base = L->rope_theta, .freq_scale = L->rope_freq_scale,
                         .attn_factor = M->rope_attn_factor};
    /* LongRoPE: the long list for a context past the pretraining length */
    mlxc_buffer *freqs = L->rope_freqs;
    if (M->rope_freqs_long && freqs == M->rope_freqs && c->n_ctx > M->rope_orig_ctx) freqs = M->rope_freqs_long;
    mlxc_buffer *pos = view(f, c->pos, 0, 1, m, 0, 0);
    if (m == 1 && !c->rows) {
        /* one token: q, k, v side by side in one row, from the stacked
         * weight or into its parts */
        if (L->qkv_parts) {
            int64_t n = L->qkv_parts == 3 ? qd + 2 * kvd : qd + kvd;
            if (!qkv_done) TRY(linear(f, enc, xb, &L->wqkv, view(f, c->qkv, 0, 2, 1, n, 0), 1));
        } else {
            TRY(linear(f, enc, xb, &L->wq, view(f, c->qkv, 0, 2, 1, qd, 0), 1));
            TRY(linear(f, enc, xb, &L->wk, view(f, c->qkv, qd, 2, 1, kvd, 0), 1));
        }
        if (L->qkv_parts != 3 && !qkv_done) TRY(linear(f, enc, xb, &L->wv, view(f, c->qkv, qd + kvd, 2, 1, kvd, 0), 1));
        if (!L->bq || L->bqkv) {
            TRY(qkv_row_attention(f, enc, l, 0, p0, c, &rd, freqs));
            return attn_out(f, enc, L, 1, wo_add);
        }
        qsrc = view(f, c->qkv, 0, 3, 1, H, hd);
        ksrc = view(f, c->qkv, qd, 3, 1, KV, hd);
        vsrc = view(f, c->qkv, qd + kvd, 3, 1, KV, hd);
    } else if (c->rows && L->qkv_parts == 3 && (!L->bq || L->bqkv) && m <= c->qkv_rows) {
        /* a batched step over the stacked weight: one mat-vec for every
         * row's q, k, v, then each row's bias, q/k norms, rope and cache
         * write in one dispatch into its own sequence's cache (the ops
         * this replaces give the same bits) and its attention */
        const int64_t n = qd + 2 * kvd;
        TRY(linear(f, enc, xb, &L->wqkv, view(f, c->qkv, 0, 2, m, n, 0), m));
        for (uint32_t r = 0; r < m; r++) TRY(qkv_row_attention(f, enc, l, r, c->rows[r]->n_past, c->rows[r], &rd, freqs));
        return attn_out(f, enc, L, m, wo_add);
    } else {
        TRY(linear(f, enc, xb, &L->wq, view(f, c->q, 0, 2, m, qd, 0), m));
        TRY(linear(f, enc, xb, &L->wk, view(f, c->k, 0, 2, m, kvd, 0), m));
        TRY(linear(f, enc, xb, &L->wv, view(f, c->v, 0, 2, m, kvd, 0), m));
    }
    if (L->bq) TRY(add_bias(f, enc, qsrc, L->bq, m, qd));
    if (L->bk) TRY(add_bias(f, enc, ksrc, L->bk, m, kvd));
    if (L->bv) TRY(add_bias(f, enc, vsrc, L->bv, m, kvd));

    if (L->q_norm) {   /* Qwen3: RMS norm of each head's q and k before rope */
        mlxc_buffer *qn = view(f, c->att, 0, 3, m, H, hd), *kn = view(f, c->kn, 0, 3, m, KV, hd);
        TRY(mlxc_rms_norm(enc, qsrc, L->q_norm, qn, (uint32_t)hd, M->eps));
        TRY(mlxc_rms_norm(enc, ksrc, L->k_norm, kn, (uint32_t)hd, M->eps));
        qsrc = qn;
        ksrc = kn;
    }
    rd.n_heads = (uint32_t)H;
    TRY(mlxc_rope(enc, qsrc, q3, pos, freqs, &rd));
    rd.n_heads = (uint32_t)KV;
    TRY(mlxc_rope(enc, ksrc, k3, pos, freqs, &rd));

    /* the start position is read on the device (pos[0] = p0; the context
     * checked the capacity), as a replayed decode graph needs */
    mlxc_kv_cache_desc kd = {.kv_heads = (uint32_t)KV, .head_dim = (uint32_t)hd, .capacity = c->n_ctx};
    if (!c->rows) {
        mlxc_buffer *p_0 = view(f, c->pos, 0, 1, 1, 0, 0);
        TRY(mlxc_kv_cache_copy(enc, k3, c->k_cache[l], &kd, 0, p_0));
        TRY(mlxc_kv_cache_copy(enc, vsrc, c->v_cache[l], &kd, 0, p_0));
        TRY(c->fused_attn ? attention_fused(f, enc, l, p0, m, 0, c) : attention_composed(f, enc, l, p0, m, 0, c));
    } else {
        /* a batched decode step: every row is one sequence's next token,
         * written to and attending over that sequence's own cache */
        for (uint32_t r = 0; r < m; r++) {
            const mlxc_context *kc = c->rows[r];
            mlxc_buffer *p_r = view(f, c->pos, r, 1, 1, 0, 0);
            kd.capacity = kc->n_ctx;
            TRY(mlxc_kv_cache_copy(enc, view(f, c->k, (int64_t)r * KV * hd, 3, 1, KV, hd), kc->k_cache[l], &kd, 0, p_r));
            TRY(mlxc_kv_cache_copy(enc, view(f, c->v, (int64_t)r * KV * hd, 3, 1, KV, hd), kc->v_cache[l], &kd, 0, p_r));
            TRY(c->fused_attn ? attention_fused(f, enc, l, kc->n_past, 1, r, kc)
                              : attention_composed(f, enc, l, kc->n_past, 1, r, kc));
        }
    }
    return attn_out(f, enc, L, m, wo_add);
}

/* The experts' product of x (the slots' rows through ids, or grouped by
 * expert through offsets and perm) with w of width n into y (slots, n). */
static mlxc_status experts_mm(mlxc_encoder *enc, const mlxc_buffer *x, const llm_weight *w, const mlxc_buffer *ids,
                              const mlxc_buffer *offsets, const mlxc_buffer *perm, mlxc_buffer *y, uint32_t m,
                              uint32_t k, uint32_t E, uint32_t n, uint32_t kdim) {
    const mlxc_qmm_weight q = llm_qmm(w);
    if (offsets) return mlxc_qmatmul_grouped(enc, x, &q, offsets, perm, y, m, k, E, n, kdim);
    return mlxc_qmatmul_experts(enc, x, &q, ids, y, m, k, E, n, kdim);
}

/* Layer l's mixture of experts on the m normed rows of xb, into xb2 (as
 * a dense MLP leaves its output), or in the fused decode step (`fused`)
 * straight into the residual x: the router's logits, each token's top k experts and weights
 * (mlxc_moe_route), every chosen expert's SwiGLU on its token, and the
 * weighted sum (mlxc_moe_combine).  Gate and up are one product where the
 * loader stacked them (exp_gate_up, then mlxc_swiglu, or in the fused
 * step the down projection's own prologue where its format allows:
 * mlxc_qmatmul_experts_fused), else two.  A chunk
 * of more than LLM_QMV_ROWS tokens runs the experts grouped
 * (mlxc_moe_group), each expert's rows read once per tile of its tokens;
 * fewer run them one slot at a time.  The down projection's slots are its
 * own tokens (one expert each), so the grouping serves both.  Qwen2-MoE
 * adds a shared expert that every token takes, weighted by the sigmoid of
 * its own gate. */
static mlxc_status moe_block(fw *f, mlxc_encoder *enc, int l, uint32_t m, bool fused, const mlxc_buffer *norm) {
    mlxc_context *c = f->ctx;
    mlxc_model *M = f->m;
    const llm_layer *L = &M->layers[l];
    const uint32_t E = (uint32_t)M->n_experts, k = (uint32_t)M->n_experts_used, eff = (uint32_t)M->expert_ff,
                   dim = (uint32_t)M->dim, slots = m * k;
    mlxc_buffer *xb = view(f, c->xb, 0, 2, m, dim, 0);
    mlxc_buffer *logits = view(f, c->moe_logits, 0, 2, m, E, 0);
    mlxc_buffer *ids = view(f, c->moe_ids, 0, 2, m, k, 0), *w = view(f, c->moe_w, 0, 2, m, k, 0);
    mlxc_buffer *gate = view(f, c->moe_gate, 0, 2, slots, eff, 0);
    mlxc_buffer *eo = view(f, c->moe_out, 0, 2, slots, dim, 0);
    mlxc_buffer *slot_ids = view(f, c->moe_ids, 0, 2, slots, 1, 0); /* the down projection's: slot s its own token */
    const mlxc_moe_route_desc rd = {.scoring = MLXC_MOE_SOFTMAX_TOPK, .experts = E, .k = k, .renormalize = M->moe_norm,
                                    .scale = 1.0f};
    if (norm) {
        /* the norm into xb, the router and the route: one pass */
        TRY(mlxc_moe_route_fused(enc, view(f, c->x, 0, 2, m, dim, 0), norm, M->eps, L->router.w, NULL, xb, logits, ids, w,
                                 c->moe_ctr, m, dim, &rd));
    } else {
        TRY(linear(f, enc, xb, &L->router, logits, m));
        TRY(mlxc_moe_route(enc, logits, NULL, ids, w, &rd));
    }
    mlxc_buffer *offsets = NULL, *perm = NULL;
    if (m > LLM_QMV_ROWS) {
        offsets = view(f, c->moe_offsets, 0, 1, E + 1, 0, 0);
        perm = view(f, c->moe_perm, 0, 1, slots, 0, 0);
        TRY(mlxc_moe_group(enc, ids, view(f, c->moe_counts, 0, 1, E, 0, 0), offsets, perm, m, k, E));
    }
    bool down_done = false;
    if (L->exp_gate_up.w) {
        mlxc_buffer *gu = view(f, c->moe_up, 0, 2, slots, 2 * eff, 0);
        const mlxc_qmm_fuse gf = fuse_of(f, &L->exp_gate_up, MLXC_QMM_PRO_NONE, MLXC_QMM_EPI_STORE);
        if (fused && L->fuse_exp_down && gf.act == MLXC_QMM_ACT_Q8) {
            /* the fused step's int8 activations (the int8 walk a pair) */
            const mlxc_qmm_weight qg = llm_qmm(&L->exp_gate_up);
            TRY(mlxc_qmatmul_experts_fused(enc, xb, NULL, NULL, &qg, ids, gu, m, k, E, 2 * eff, dim, dim, &gf));
        } else {
            TRY(experts_mm(enc, xb, &L->exp_gate_up, ids, offsets, perm, gu, m, k, E, 2 * eff, dim));
        }
        if (fused && L->fuse_exp_down) {
            /* down reads the [gate | up] rows through silu_mul itself (the
             * combine stays a kernel of its own: folded into the down
             * projection's last blocks, mlxc_qmatmul_experts_combine, it
             * measured 0.4-0.9 us a layer slower on an H100) */
            const mlxc_qmm_fuse glu = fuse_of(f, &L->exp_down, MLXC_QMM_PRO_SILU_MUL, MLXC_QMM_EPI_STORE);
            const mlxc_qmm_weight qd = llm_qmm(&L->exp_down);
            mlxc_buffer *up = view(f, c->moe_up, eff, 1, (int64_t)slots * 2 * eff - eff, 0, 0);
            TRY(mlxc_qmatmul_experts_fused(enc, gu, up, NULL, &qd, slot_ids, eo, slots, 1, E, dim, eff, 2 * eff, &glu));
            down_done = true;
        } else {
            TRY(mlxc_swiglu(enc, gu, gate, slots, eff));
        }
    } else {
        mlxc_buffer *up = view(f, c->moe_up, 0, 2, slots, eff, 0);
        TRY(experts_mm(enc, xb, &L->exp_gate, ids, offsets, perm, gate, m, k, E, eff, dim));
        TRY(experts_mm(enc, xb, &L->exp_up, ids, offsets, perm, up, m, k, E, eff, dim));
        TRY(mlxc_silu_mul(enc, gate, up, gate));
    }
    /* the down projection: slot s is its own token (k = 1) */
    if (!down_done)
        TRY(experts_mm(enc, gate, &L->exp_down, slot_ids, offsets, perm, eo, slots, 1, E, dim, eff));
    mlxc_buffer *shared = NULL, *sgate = NULL;
    if (M->shared_ff) {
        /* Qwen2-MoE's shared expert on every token, its gate's logit the
         * combine's sigmoid weight */
        const uint32_t sff = (uint32_t)M->shared_ff;
        mlxc_buffer *sg = view(f, c->sh_gate, 0, 2, m, sff, 0), *su = view(f, c->sh_up, 0, 2, m, sff, 0);
        shared = view(f, c->sh_out, 0, 2, m, dim, 0);
        sgate = view(f, c->sh_logit, 0, 1, m, 0, 0);
        TRY(linear(f, enc, xb, &L->sh_gate, sg, m));
        TRY(linear(f, enc, xb, &L->sh_up, su, m));
        TRY(mlxc_silu_mul(enc, sg, su, sg));
        TRY(linear(f, enc, sg, &L->sh_down, shared, m));
        TRY(linear(f, enc, xb, &L->sh_router, view(f, c->sh_logit, 0, 2, m, 1, 0), m));
    }
    mlxc_buffer *x = fused ? view(f, c->x, 0, 2, m, dim, 0) : NULL;
    return mlxc_moe_combine(enc, eo, w, shared, sgate, x, fused ? x : view(f, c->xb2, 0, 2, m, dim, 0), m, k, dim);
}

/* gu_done: the stacked gate/up row is already in ctx->gu; down_add: the
 * down projection reads it through silu_mul and adds into the residual
 * (the fused decode step), or a MoE layer's combine adds its sum there. */
static mlxc_status ffn_block(fw *f, mlxc_encoder *enc, int l, uint32_t m, bool gu_done, bool down_add) {
    mlxc_context *c = f->ctx;
    mlxc_model *M = f->m;
    const llm_layer *L = &M->layers[l];
    if (M->n_experts) return moe_block(f, enc, l, m, down_add, NULL);
    mlxc_buffer *xb = view(f, c->xb, 0, 2, m, M->dim, 0);
    mlxc_buffer *act = view(f, c->gate, 0, 2, m, M->ff, 0);            /* (m, ff) */
    mlxc_buffer *gate = act, *up;
    if (m == 1 && !c->rows && L->w_gate_up.w && c->gu) {
        /* one mat-vec over the stacked rows: gate, then up */
        if (!gu_done) TRY(linear(f, enc, xb, &L->w_gate_up, view(f, c->gu, 0, 2, 1, 2 * M->ff, 0), 1));
        gate = view(f, c->gu, 0, 2, 1, M->ff, 0);
        up = view(f, c->gu, M->ff, 2, 1, M->ff, 0);
        if (down_add) {
            const mlxc_qmm_fuse glu = fuse_of(f, &L->w_down, MLXC_QMM_PRO_SILU_MUL, MLXC_QMM_EPI_ADD);
            mlxc_qmm_weight q = llm_qmm(&L->w_down);
            return mlxc_qmatmul_fused(enc, view(f, c->gu, 0, 1, M->ff, 0, 0), view(f, c->gu, M->ff, 1, M->ff, 0, 0), NULL,
                                      &q, view(f, c->x, 0, 1, M->dim, 0, 0), (uint32_t)M->dim, (uint32_t)M->ff, &glu);
        }
    } else {
        up = view(f, c->up, 0, 2, m, M->ff, 0);
        TRY(linear(f, enc, xb, &L->w_gate, gate, m));
        TRY(linear(f, enc, xb, &L->w_up, up, m));
    }
    if (M->gelu) {
        TRY(mlxc_gelu(enc, gate, gate));
        TRY(mlxc_mul(enc, gate, up, act));
    } else {
        TRY(mlxc_silu_mul(enc, gate, up, act));
    }
    return linear(f, enc, act, &L->w_down, view(f, c->xb2, 0, 2, m, M->dim, 0), m);
}

/* A block's output as it joins the residual: xb2, or Gemma's norm of it. */
static mlxc_buffer *block_out(fw *f, mlxc_encoder *enc, mlxc_buffer *xb2, const mlxc_buffer *norm, uint32_t m) {
    if (!norm || f->st) return xb2;
    mlxc_buffer *out = view(f, f->ctx->post, 0, 2, m, f->m->dim, 0);
    mlxc_status st = mlxc_rms_norm(enc, xb2, norm, out, (uint32_t)f->m->dim, f->m->eps);
    if (st && !f->st) f->st = st;
    return f->st ? NULL : out;
}

/* The norm in front of a block of the fused step: inside the mat-vec of
 * w into values off .. off + n of y when `fuse` and the residual is
 * current, else the separate norm into xb (adding `pending` to the
 * residual first).  *fused says which ran. */
static mlxc_status norm_in(fw *f, mlxc_encoder *enc, const mlxc_buffer *norm, const llm_weight *w, bool fuse,
                           mlxc_buffer *y, int64_t off, int64_t n, mlxc_buffer *pending, bool *fused) {
    mlxc_context *c = f->ctx;
    mlxc_model *M = f->m;
    const uint32_t dim = (uint32_t)M->dim;
    mlxc_buffer *x = view(f, c->x, 0, 2, 1, dim, 0), *xb = view(f, c->xb, 0, 2, 1, dim, 0);
    *fused = fuse && !pending;
    if (*fused) {
        const mlxc_qmm_fuse nrm = fuse_of(f, w, MLXC_QMM_PRO_RMS_NORM, MLXC_QMM_EPI_STORE);
        mlxc_qmm_weight q = llm_qmm(w);
        return mlxc_qmatmul_fused(enc, view(f, c->x, 0, 1, dim, 0, 0), NULL, norm, &q, view(f, y, off, 1, n, 0, 0),
                                  (uint32_t)n, dim, &nrm);
    }
    if (pending) return mlxc_rms_norm_residual(enc, pending, x, norm, xb, x, dim, M->eps);
    return mlxc_rms_norm(enc, x, norm, xb, dim, M->eps);
}

/* One layer of the fused decode step (one token on a GPU, the Llama
 * family): the attention norm inside the q/k/v mat-vec, the residual adds
 * inside the wo and down mat-vecs, the MLP norm inside the gate/up one and
 * silu_mul inside down: with the attention that ropes q and k and writes
 * the cache itself (mlxc_attention_decode_qkv), five kernels (where v
 * is stored apart from q and k, as in Q4_K_M, its mat-vec runs beside
 * theirs: mlxc_qmatmul_fused_pair).  A mixture of experts with a dense
 * router norms x inside the router's pass, which also routes
 * (mlxc_moe_route_fused), then the experts' gate/up, their down reading
 * it through silu_mul (both with int8 activations where the int8 walk
 * takes the weight), and the combine adding into the residual: four
 * kernels for the MLP, seven for the layer.  A weight the fused
 * mat-vec does not take (Q2_K, Q3_K, the IQ types, or one off the GPU's
 * fast path) gets the separate norm or add instead; *pending is then the
 * block output the next norm must add to the residual (NULL: the residual
 * is current). */
static mlxc_status layer_fused(fw *f, mlxc_encoder *enc, int l, uint32_t p0, mlxc_buffer **pending) {
    mlxc_context *c = f->ctx;
    mlxc_model *M = f->m;
    const llm_layer *L = &M->layers[l];
    mlxc_buffer *xb2 = view(f, c->xb2, 0, 2, 1, M->dim, 0);
    bool fused;
    /* attention: q, k (and v) in one mat-vec, or q/k and v (another
     * format) as one pair of mat-vecs */
    if (L->fuse_qkv && !*pending && L->qkv_parts == 2) {
        const uint32_t dim = (uint32_t)M->dim;
        const mlxc_qmm_fuse f1 = fuse_of(f, &L->wqkv, MLXC_QMM_PRO_RMS_NORM, MLXC_QMM_EPI_STORE),
                            f2 = fuse_of(f, &L->wv, MLXC_QMM_PRO_RMS_NORM, MLXC_QMM_EPI_STORE);
        const mlxc_qmm_weight q1 = llm_qmm(&L->wqkv), q2 = llm_qmm(&L->wv);
        TRY(mlxc_qmatmul_fused_pair(enc, view(f, c->x, 0, 1, dim, 0, 0), L->attn_norm, &q1,
                                    view(f, c->qkv, 0, 1, L->wqkv.rows, 0, 0), (uint32_t)L->wqkv.rows, &f1, &q2,
                                    view(f, c->qkv, L->wqkv.rows, 1, L->wv.rows, 0, 0), (uint32_t)L->wv.rows, &f2, dim));
        fused = true;
    } else {
        TRY(norm_in(f, enc, L->attn_norm, &L->wqkv, L->fuse_qkv, c->qkv, 0, L->wqkv.rows, *pending, &fused));
    }
    TRY(attention_block(f, enc, l, p0, 1, fused, L->fuse_wo));
    *pending = L->fuse_wo ? NULL : xb2;
    /* MLP: a mixture of experts with a dense router norms x in its router's
     * pass (mlxc_moe_route_fused) */
    if (M->n_experts && !*pending && L->router.format == LLM_W_DENSE && !M->shared_ff) {
        TRY(moe_block(f, enc, l, 1, true, L->ffn_norm));
        return MLXC_OK;
    }
    TRY(norm_in(f, enc, L->ffn_norm, &L->w_gate_up, L->fuse_gate_up, c->gu, 0, 2 * M->ff, *pending, &fused));
    /* a dense MLP's down mat-vec, or the experts' combine, adds into the residual */
    const bool add = L->fuse_down || M->n_experts;
    TRY(ffn_block(f, enc, l, 1, fused, add));
    *pending = add ? NULL : xb2;
    return MLXC_OK;
}

static mlxc_status forward(fw *f, mlxc_encoder *enc, uint32_t p0, uint32_t m, uint32_t n_out) {
    mlxc_context *c = f->ctx;
    mlxc_model *M = f->m;
    mlxc_buffer *x = view(f, c->x, 0, 2, m, M->dim, 0);                /* (m, dim) residual */
    mlxc_buffer *xb = view(f, c->xb, 0, 2, m, M->dim, 0);              /* (m, dim) normed   */
    mlxc_buffer *xb2 = view(f, c->xb2, 0, 2, m, M->dim, 0);            /* (m, dim) block out */
    /* the tokens, or the last step's pick where it is fed back */
    mlxc_buffer *ids = c->feed_top && m == 1 ? view(f, c->top_id, 0, 1, 1, 0, 0) : view(f, c->ids, 0, 1, m, 0, 0);
    if (M->embd.format == LLM_W_QUANT) {
        /* dequantized straight into the activation dtype */
        mlxc_qmm_weight q = llm_qmm(&M->embd);
        TRY(mlxc_qembedding_gather(enc, &q, ids, x, (uint32_t)M->vocab, (uint32_t)M->dim, M->embd_scale));
    } else if (c->emb) {
        mlxc_buffer *e = view(f, c->emb, 0, 2, m, M->dim, 0);           /* (m, dim) f32 */
        TRY(mlxc_embedding_gather(enc, M->tok_embd, ids, e, (uint32_t)M->dim, M->embd_scale));
        TRY(mlxc_cast(enc, e, x));
    } else {
        TRY(mlxc_embedding_gather(enc, M->tok_embd, ids, x, (uint32_t)M->dim, M->embd_scale));
    }
    mlxc_buffer *out = xb2;                                             /* the last block's output */
    if (m == 1 && !c->rows && c->fused_step) {
        /* out: a block output still to join the residual, or NULL */
        out = NULL;
        for (int l = 0; l < (int)M->n_layers; l++) TRY(layer_fused(f, enc, l, p0, &out));
    } else {
        for (int l = 0; l < (int)M->n_layers; l++) {
            const llm_layer *L = &M->layers[l];
            if (l == 0) TRY(mlxc_rms_norm(enc, x, L->attn_norm, xb, (uint32_t)M->dim, M->eps));
            else TRY(mlxc_rms_norm_residual(enc, out, x, L->attn_norm, xb, x, (uint32_t)M->dim, M->eps));
            TRY(attention_block(f, enc, l, p0, m, false, false));
            out = block_out(f, enc, xb2, L->post_attn_norm, m);
            TRY(mlxc_rms_norm_residual(enc, out, x, L->ffn_norm, xb, x, (uint32_t)M->dim, M->eps));
            TRY(ffn_block(f, enc, l, m, false, false));
            out = block_out(f, enc, xb2, L->post_ffn_norm, m);
        }
    }
    if (n_out == 0) return MLXC_OK;
    mlxc_buffer *logits = view(f, c->logits, 0, 2, n_out, M->vocab, 0);
    if (m == 1 && !c->rows && c->fused_step && c->fused_head && !out && head_fused(f)) {
        /* the fused step's last kernel: the final norm in the int8 walk's
         * prologue, the logits stored as f32 by its epilogue, then the
         * greedy pick of them reduced across its blocks (a softcap would
         * move the log-probability: then the separate pick) */
        const mlxc_qmm_fuse nrm = fuse_of(f, &M->output, MLXC_QMM_PRO_RMS_NORM, MLXC_QMM_EPI_STORE);
        mlxc_qmm_weight q = llm_qmm(&M->output);
        mlxc_buffer *xr = view(f, c->x, 0, 1, M->dim, 0, 0), *lv = view(f, c->logits, 0, 1, M->vocab, 0, 0);
        if (M->final_softcap <= 0) {
            TRY(mlxc_qmatmul_fused_argmax(enc, xr, M->out_norm, &q, lv, c->top_id, c->top_lp, c->pick,
                                          (uint32_t)M->vocab, (uint32_t)M->dim, &nrm));
            return MLXC_OK;
        }
        TRY(mlxc_qmatmul_fused(enc, xr, NULL, M->out_norm, &q, lv, (uint32_t)M->vocab, (uint32_t)M->dim, &nrm));
    } else {
        if (out) TRY(mlxc_rms_norm_residual(enc, out, x, M->out_norm, xb, x, (uint32_t)M->dim, M->eps));
        else TRY(mlxc_rms_norm(enc, x, M->out_norm, xb, (uint32_t)M->dim, M->eps));
        mlxc_buffer *last = view(f, c->xb, (int64_t)(m - n_out) * M->dim, 2, n_out, M->dim, 0);
        TRY(linear(f, enc, last, &M->output, logits, n_out));
    }
    if (M->final_softcap > 0) TRY(mlxc_softcap(enc, logits, logits, M->final_softcap));
    /* greedy's pick of the last row, so a decode step ends in 8 bytes to read */
    mlxc_buffer *row = view(f, c->logits, (int64_t)(n_out - 1) * M->vocab, 2, 1, M->vocab, 0);
    return mlxc_sample_softmax(enc, row, NULL, c->top_id, c->top_lp, (uint32_t)M->vocab, 0.0f, 0.0f);
}

mlxc_status llm_forward(mlxc_context *ctx, mlxc_encoder *enc, uint32_t p0, uint32_t m, uint32_t n_out) {
    fw f = {.ctx = ctx, .m = ctx->m};
    return forward(&f, enc, p0, m, n_out);
}

void llm_release_views(mlxc_context *ctx) {
    for (size_t i = 0; i < ctx->n_views; i++) mlxc_buffer_release(ctx->views[i]);
    ctx->n_views = 0;
}
