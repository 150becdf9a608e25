/*
 * A context: one sequence's KV cache and the activation buffers of one
 * chunk, and evaluation in chunks of n_batch tokens (one command buffer
 * each).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/env.h"
#include "model/llm_internal.h"
#include "mlxc/ops_attention.h"

/* Largest logits block kept on the device, and largest score block of the
 * composed attention (bytes): they bound the chunk, not the context. */
#define LLM_LOGITS_BYTES (64u << 20)
#define LLM_SCORES_BYTES (256u << 20)

mlxc_context_params mlxc_context_default_params(void) {
    mlxc_context_params p = {.n_ctx = 0, .n_batch = 0, .kv_dtype = MLXC_F16, .decode_graph = true};
    return p;
}

mlxc_decode_act mlxc_context_decode_act(const mlxc_context *ctx) {
    return ctx && ctx->act_q8 ? MLXC_DECODE_ACT_Q8 : MLXC_DECODE_ACT_EXACT;
}

mlxc_status mlxc_context_create(mlxc_model *m, uint32_t n_ctx, mlxc_context **out) {
    mlxc_context_params p = mlxc_context_default_params();
    p.n_ctx = n_ctx;
    return mlxc_context_create_ex(m, &p, out);
}

static mlxc_status alloc(mlxc_device *dev, mlxc_dtype dt, int64_t d0, int64_t d1, int64_t d2, mlxc_buffer **out) {
    int64_t shape[3] = {d0, d1, d2};
    int nd = d2 ? 3 : d1 ? 2 : 1;
    uint64_t n = (uint64_t)d0 * (uint64_t)(d1 ? d1 : 1) * (uint64_t)(d2 ? d2 : 1);
    if (n == 0 || n > (UINT64_C(1) << 40))
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "context: a buffer of %llu elements", (unsigned long long)n);
    return mlxc_buffer_alloc(dev, (size_t)n * mlxc_dtype_size(dt), dt, nd, shape, out);
}

/* Device bytes of a context's buffers (what mlxc_context_create_ex
 * allocates, less the small ones), for the memory check before any is. */
static uint64_t context_bytes(const mlxc_model *m, const mlxc_context *c, uint32_t nlog) {
    uint64_t H = (uint64_t)m->n_heads, KV = (uint64_t)m->n_kv_heads, hd = (uint64_t)m->head_dim;
    uint64_t nb = c->n_batch, n_ctx = c->n_ctx, a = mlxc_dtype_size(m->act), kv = mlxc_dtype_size(c->kv_dtype);
    uint64_t bytes = 2 * (uint64_t)m->n_layers * KV * n_ctx * hd * kv;
    bytes += nb * (3 * (uint64_t)m->dim + 2 * H * hd + 2 * KV * hd + 2 * (uint64_t)m->ff) * a;
    bytes += (uint64_t)nlog * (uint64_t)m->vocab * 4;
    if (m->n_experts)
        bytes += nb * ((uint64_t)m->n_experts * a + (uint64_t)m->n_experts_used *
                                                      (8 + (3 * (uint64_t)m->expert_ff + (uint64_t)m->dim) * a) +
                       (m->shared_ff ? (2 * (uint64_t)m->shared_ff + (uint64_t)m->dim + 1) * a : 0));
    if (!c->fused_attn) {
        bytes += 2 * H * nb * hd * a + H * nb * n_ctx * 4 + KV * hd * n_ctx * kv;
        if (m->window && m->window < n_ctx) bytes += nb * n_ctx * 4;
    }
    return bytes;
}

mlxc_status mlxc_context_create_ex(mlxc_model *m, const mlxc_context_params *p, mlxc_context **out) {
    MLXC_CHECK_ARG(m && p && out, "mlxc_context_create: NULL argument");
    *out = NULL;
    if (p->kv_dtype != MLXC_F16 && p->kv_dtype != MLXC_BF16 && p->kv_dtype != MLXC_F32)
        return mlxc_set_error(MLXC_ERR_DTYPE, "context: the KV cache dtype must be f16, bf16 or f32, not %s",
                              mlxc_dtype_name(p->kv_dtype));
    if (p->decode_act != MLXC_DECODE_ACT_AUTO && p->decode_act != MLXC_DECODE_ACT_EXACT &&
        p->decode_act != MLXC_DECODE_ACT_Q8)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "context: decode_act %d is not AUTO, EXACT or Q8",
                              (int)p->decode_act);
    uint32_t n_ctx = p->n_ctx;
    if (n_ctx == 0) {
        int64_t train = m->cfg.max_position_embeddings;
        n_ctx = train > 0 && train < 4096 ? (uint32_t)train : 4096;
    }
    if (n_ctx > (1u << 24)) return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "context: n_ctx %u is too large", n_ctx);
    if (m->cfg.max_position_embeddings > 0 && n_ctx > m->cfg.max_position_embeddings)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE,
                              "context: n_ctx %u is more than the %lld positions the model was trained for "
                              "(max_position_embeddings)",
                              n_ctx, (long long)m->cfg.max_position_embeddings);
    mlxc_context *c = calloc(1, sizeof *c);
    if (!c) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "context: out of memory");
    c->m = m;
    c->n_ctx = n_ctx;
    c->kv_dtype = p->kv_dtype;
    int64_t H = m->n_heads, KV = m->n_kv_heads, hd = m->head_dim;
    c->fused_attn = p->kv_dtype != MLXC_F32 && (hd == 64 || hd == 96 || hd == 128 || hd == 256) && H / KV <= 8;
    c->use_graph = p->decode_graph && c->fused_attn;
    c->overlap = c->use_graph && mlxc_env_int("MLXC_DECODE_OVERLAP", 1) != 0;
    /* the fused decode step: Gemma's block-output norms and GeGLU sit
     * between the mat-vecs it fuses */
    const long fz = mlxc_env_int("MLXC_FUSED_DECODE", 1); /* 2: on the CPU too (tests) */
    c->fused_step = (fz == 2 || (fz == 1 && mlxc_device_backend(m->dev) != MLXC_BACKEND_CPU)) && m->act == MLXC_BF16 &&
                    !m->gelu && !m->layers[0].post_attn_norm;
    /* int8 activations by default on a GPU: the walk they allow is 1.1-1.3x
     * the exact step's tokens/s on the H200 (bench/results) */
    const bool q8 = p->decode_act == MLXC_DECODE_ACT_Q8 ||
                    (p->decode_act == MLXC_DECODE_ACT_AUTO && mlxc_device_backend(m->dev) != MLXC_BACKEND_CPU);
    c->act_q8 = mlxc_env_int("MLXC_DECODE_Q8", q8 ? 1 : 0) != 0;
    /* the step's last kernel with the final norm and the greedy pick
     * (an H100 decoded 1-3% faster with it, fused-head-2026-12-07.md) */
    c->fused_head = mlxc_env_int("MLXC_FUSED_HEAD", 1) != 0;
    uint32_t nb = p->n_batch ? p->n_batch : 512;
    if (nb > n_ctx) nb = n_ctx;
    uint64_t lrows = LLM_LOGITS_BYTES / ((uint64_t)m->vocab * 4);
    if (!c->fused_attn) {
        uint64_t srows = LLM_SCORES_BYTES / ((uint64_t)H * n_ctx * 4);
        if (srows < nb) nb = srows ? (uint32_t)srows : 1;
    }
    c->n_batch = nb;
    uint32_t nlog = lrows < nb ? (lrows ? (uint32_t)lrows : 1) : nb;
    mlxc_device *dev = m->dev;
    mlxc_dtype A = m->act;
    mlxc_status st;
    uint64_t need = context_bytes(m, c, nlog);
    if (m->mem_budget && m->mem_weights + need > m->mem_budget) {
        char a[32], w[32], t[32];
        st = mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY,
                            "context: %u positions take %s beside %s of weights, more than the %s of memory "
                            "(a smaller n_ctx or a 16-bit KV cache takes less)",
                            n_ctx, llm_bytes_str(need, a, sizeof a), llm_bytes_str(m->mem_weights, w, sizeof w),
                            llm_bytes_str(m->mem_budget, t, sizeof t));
        goto fail;
    }
    c->k_cache = calloc((size_t)m->n_layers, sizeof *c->k_cache);
    c->v_cache = calloc((size_t)m->n_layers, sizeof *c->v_cache);
    if (!c->k_cache || !c->v_cache) {
        st = mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "context: out of memory");
        goto fail;
    }
    for (int64_t l = 0; l < m->n_layers; l++)
        if ((st = alloc(dev, c->kv_dtype, KV, n_ctx, hd, &c->k_cache[l])) ||
            (st = alloc(dev, c->kv_dtype, KV, n_ctx, hd, &c->v_cache[l])))
            goto fail;
    int64_t bias_cols = H * hd > KV * hd ? H * hd : KV * hd;
    if ((st = alloc(dev, MLXC_U32, nb, 0, 0, &c->ids)) || (st = alloc(dev, MLXC_I32, nb, 0, 0, &c->pos)) ||
        (st = alloc(dev, A, nb, m->dim, 0, &c->x)) || (st = alloc(dev, A, nb, m->dim, 0, &c->xb)) ||
        (st = alloc(dev, A, nb, m->dim, 0, &c->xb2)) || (st = alloc(dev, A, nb, H, hd, &c->q)) ||
        (st = alloc(dev, A, nb, KV, hd, &c->k)) || (st = alloc(dev, A, nb, KV, hd, &c->v)) ||
        (st = alloc(dev, A, nb, H, hd, &c->att)) || (st = alloc(dev, A, nb, m->ff, 0, &c->gate)) ||
        (st = alloc(dev, A, nb, m->ff, 0, &c->up)) || (st = alloc(dev, MLXC_F32, nlog, m->vocab, 0, &c->logits)) ||
        (st = alloc(dev, MLXC_U32, 1, 0, 0, &c->top_id)) || (st = alloc(dev, MLXC_F32, 1, 0, 0, &c->top_lp)) ||
        (st = alloc(dev, MLXC_U32, MLXC_QMM_ARGMAX_SCRATCH, 0, 0, &c->pick)))
        goto fail;
    if (m->layers[0].bq && (st = alloc(dev, A, nb, bias_cols, 0, &c->bias_rows))) goto fail;
    if (m->n_experts) {
        const int64_t E = m->n_experts, k = m->n_experts_used;
        if ((st = alloc(dev, A, nb, E, 0, &c->moe_logits)) || (st = alloc(dev, MLXC_U32, nb, k, 0, &c->moe_ids)) ||
            (st = alloc(dev, MLXC_F32, nb, k, 0, &c->moe_w)) || (st = alloc(dev, MLXC_U32, 1, 0, 0, &c->moe_ctr)) ||
            (st = alloc(dev, A, (int64_t)nb * k, m->expert_ff, 0, &c->moe_gate)) ||
            (st = alloc(dev, A, (int64_t)nb * k, 2 * m->expert_ff, 0, &c->moe_up)) ||
            (st = alloc(dev, A, (int64_t)nb * k, m->dim, 0, &c->moe_out)) ||
            (st = alloc(dev, MLXC_U32, E, 0, 0, &c->moe_counts)) ||
            (st = alloc(dev, MLXC_U32, E + 1, 0, 0, &c->moe_offsets)) ||
            (st = alloc(dev, MLXC_U32, (int64_t)nb * k, 0, 0, &c->moe_perm)))
            goto fail;
        if (m->shared_ff &&
            ((st = alloc(dev, A, nb, m->shared_ff, 0, &c->sh_gate)) ||
             (st = alloc(dev, A, nb, m->shared_ff, 0, &c->sh_up)) || (st = alloc(dev, A, nb, m->dim, 0, &c->sh_out)) ||
             (st = alloc(dev, A, nb, 1, 0, &c->sh_logit))))
            goto fail;
    }
    /* the gather writes f32 or the table's dtype; other activations get a cast */
    if (m->tok_embd && A != MLXC_F32 && A != mlxc_buffer_dtype(m->tok_embd) && (st = alloc(dev, MLXC_F32, nb, m->dim, 0, &c->emb)))
        goto fail;
    if (m->layers[0].k_norm && (st = alloc(dev, A, nb, KV, hd, &c->kn))) goto fail;
    /* one token's row of the stacked projections (llm_forward.c) */
    bool stacked_gu = false;
    for (int64_t l = 0; l < m->n_layers; l++) stacked_gu |= m->layers[l].w_gate_up.w != NULL;
    /* (every model: unstacked projections write their parts into it too);
     * a batched step's rows when this context lends its buffers to one */
    c->qkv_rows = nb < MLXC_BATCH_MAX_SEQ ? nb : MLXC_BATCH_MAX_SEQ;
    if ((st = alloc(dev, A, c->qkv_rows, (H + 2 * KV) * hd, 0, &c->qkv))) goto fail;
    if (stacked_gu && (st = alloc(dev, A, 1, 2 * m->ff, 0, &c->gu))) goto fail;
    if (m->layers[0].post_attn_norm && (st = alloc(dev, A, nb, m->dim, 0, &c->post))) goto fail;
    /* GPU prefill of a quantized model: room for its largest layer weight
     * dequantized to bf16 (llm_linear).  The output head uses it too when
     * it fits. */
    if (mlxc_device_backend(dev) != MLXC_BACKEND_CPU && nb > 8 && A == MLXC_BF16) {
        int64_t most = 0;
        for (int64_t l = 0; l < m->n_layers; l++) {
            const llm_weight *ws[] = {&m->layers[l].wq, &m->layers[l].wk,     &m->layers[l].wv,  &m->layers[l].wo,
                                      &m->layers[l].w_gate, &m->layers[l].w_up, &m->layers[l].w_down};
            for (size_t i = 0; i < sizeof ws / sizeof *ws; i++)
                if (ws[i]->format == LLM_W_QUANT && ws[i]->rows * ws[i]->cols > most) most = ws[i]->rows * ws[i]->cols;
        }
        if (most && (st = alloc(dev, MLXC_BF16, most, 0, 0, &c->wdeq))) goto fail;
        /* f16 and f32 dense weights (a GGUF MoE's F32 router among them):
         * room for an activation chunk in the weight's dtype (the widest
         * input) and a layer output in f32 (the widest output; the head
         * writes the f32 logits itself), for their GEMMs (linear()). */
        int64_t in = 0, in32 = 0, outw = 0;
        for (int64_t l = 0; l < m->n_layers; l++) {
            const llm_layer *L = &m->layers[l];
            const llm_weight *ws[] = {&L->wq,     &L->wk,   &L->wv,    &L->wo,      &L->w_gate, &L->w_up,
                                      &L->w_down, &L->router, &L->sh_gate, &L->sh_up, &L->sh_down, &L->sh_router};
            for (size_t i = 0; i < sizeof ws / sizeof *ws; i++) {
                const bool h = llm_weight_is_f16(ws[i]), s = llm_weight_is_f32(ws[i]);
                if (h && ws[i]->cols > in) in = ws[i]->cols;
                if (s && ws[i]->cols > in32) in32 = ws[i]->cols;
                if ((h || s) && ws[i]->rows > outw) outw = ws[i]->rows;
            }
        }
        if (llm_weight_is_f16(&m->output) && m->output.cols > in) in = m->output.cols;
        if (llm_weight_is_f32(&m->output) && m->output.cols > in32) in32 = m->output.cols;
        if (in && (st = alloc(dev, MLXC_F16, nb, in, 0, &c->xh))) goto fail;
        if (in32 && (st = alloc(dev, MLXC_F32, nb, in32, 0, &c->xf))) goto fail;
        if (outw && (st = alloc(dev, MLXC_F32, nb, outw, 0, &c->yf))) goto fail;
    }
    if (c->fused_attn) {
        mlxc_attention_desc d = {.struct_size = sizeof(mlxc_attention_desc), .n_heads = (uint32_t)H, .n_kv_heads = (uint32_t)KV, .head_dim = (uint32_t)hd,
                                 .kv_capacity = n_ctx, .kv_len = 1, .scale = 1.0f};
        size_t sb;
        if ((st = mlxc_attention_decode_scratch_bytes(dev, &d, &sb))) goto fail;
        int64_t shape[1] = {(int64_t)(sb / 4)};
        if ((st = mlxc_buffer_alloc(dev, sb, MLXC_F32, 1, shape, &c->attn_scratch))) goto fail;
    } else {
        if ((st = alloc(dev, A, H, nb, hd, &c->qh)) || (st = alloc(dev, A, H, nb, hd, &c->oh)) ||
            (st = alloc(dev, MLXC_F32, H, nb, n_ctx, &c->scores)) ||
            (st = alloc(dev, c->kv_dtype, KV, hd, n_ctx, &c->vt)))
            goto fail;
        if (m->window && m->window < n_ctx) {
            if ((st = alloc(dev, MLXC_F32, nb, n_ctx, 0, &c->mask))) goto fail;
            c->mask_host = malloc((size_t)nb * n_ctx * 4);
            if (!c->mask_host) {
                st = mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "context: out of memory");
                goto fail;
            }
        }
    }
    *out = c;
    return MLXC_OK;
fail:
    mlxc_context_free(c);
    return st;
}

void mlxc_context_free(mlxc_context *c) {
    if (!c) return;
    (void)llm_ctx_sync(c);
    mlxc_graph_exec_destroy(c->decode_exec);
    mlxc_graph_destroy(c->decode_graph);
    mlxc_graph_exec_destroy(c->feed_exec);
    mlxc_graph_destroy(c->feed_graph);
    for (int64_t l = 0; c->k_cache && l < c->m->n_layers; l++) mlxc_buffer_release(c->k_cache[l]);
    for (int64_t l = 0; c->v_cache && l < c->m->n_layers; l++) mlxc_buffer_release(c->v_cache[l]);
    free(c->k_cache);
    free(c->v_cache);
    mlxc_buffer *bufs[] = {c->ids, c->pos, c->x,  c->xb,     c->xb2,    c->post,   c->q,      c->k,
                           c->v,   c->att, c->kn, c->qkv, c->gu, c->emb, c->gate,   c->up,     c->bias_rows, c->logits, c->top_id, c->top_lp, c->pick,
                           c->attn_scratch, c->qh, c->oh,   c->scores, c->vt, c->mask, c->wdeq, c->xh, c->xf, c->yf,
                           c->moe_logits, c->moe_ids, c->moe_w, c->moe_ctr, c->moe_gate, c->moe_up, c->moe_out, c->moe_counts,
                           c->moe_offsets, c->moe_perm, c->sh_gate, c->sh_up, c->sh_out, c->sh_logit};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) mlxc_buffer_release(bufs[i]);
    llm_release_views(c);
    free(c->views);
    free(c->mask_host);
    free(c);
}

mlxc_status llm_capture(mlxc_context *vc, llm_encode_fn fn, void *arg, mlxc_graph **g, mlxc_graph_exec **exec) {
    mlxc_device *dev = vc->m->dev;
    mlxc_encoder *enc;
    *g = NULL;
    *exec = NULL;
    mlxc_status st = mlxc_encoder_create(dev, &enc);
    if (st) return st;
    mlxc_encoder_set_auto_barrier(enc, true);
    st = mlxc_encoder_start_capture(enc);
    if (!st) st = fn(enc, arg);
    mlxc_graph *cg = NULL;
    mlxc_status st2 = mlxc_encoder_take_capture(enc, &cg);
    if (!st) st = st2;
    mlxc_encoder_destroy(enc);
    llm_release_views(vc); /* the graph holds what it names */
    if (!st) st = mlxc_graph_instantiate(cg, dev, exec);
    if (st) {
        mlxc_graph_destroy(cg);
        *exec = NULL;
        return st;
    }
    *g = cg;
    return MLXC_OK;
}

mlxc_status llm_replay(mlxc_device *dev, mlxc_graph_exec *exec, const char *label, mlxc_encoder **running) {
    if (running) *running = NULL;
    mlxc_encoder *enc;
    mlxc_status st = mlxc_encoder_create(dev, &enc);
    if (st) return st;
    st = mlxc_graph_exec_launch(exec, enc);
    if (!st) st = running ? mlxc_encoder_commit_labeled(enc, label) : mlxc_encoder_commit_and_wait_labeled(enc, label);
    if (!st && running) {
        *running = enc;
        return MLXC_OK;
    }
    if (running && mlxc_encoder_is_committed(enc)) (void)mlxc_encoder_wait(enc);
    mlxc_encoder_destroy(enc);
    return st;
}

static mlxc_status encode_decode(mlxc_encoder *enc, void *arg) {
    mlxc_context *c = arg;
    return llm_forward(c, enc, c->n_past, 1, 1);
}

mlxc_status llm_ctx_sync(mlxc_context *c) {
    if (!c || !c->pending) return MLXC_OK;
    mlxc_status st = mlxc_encoder_wait(c->pending);
    mlxc_encoder_destroy(c->pending);
    c->pending = NULL;
    return st;
}

/* A decode step as a replayed graph.  Nothing in the step depends on the
 * position on the host: rope, the KV write and the attention length all
 * read it from ctx->pos, so one capture serves every position.
 * With overlap the step is left running: it waits for the step before
 * (which ran while this one was queued and its graph launched) and returns
 * that one's status; whatever reads the results waits for this one
 * (llm_ctx_sync).  The device then no longer idles between steps while
 * the host waits, writes the id and position and launches the graph
 * (bench/results/decode-overlap-2026-12-05.md). */
static mlxc_status replay_step(mlxc_context *c, llm_encode_fn fn, mlxc_graph **g, mlxc_graph_exec **exec) {
    mlxc_status st;
    if (!*exec && (st = llm_capture(c, fn, c, g, exec))) return st;
    mlxc_encoder *enc = NULL;
    st = llm_replay(c->m->dev, *exec, "model.decode", c->overlap ? &enc : NULL);
    const mlxc_status before = llm_ctx_sync(c); /* the step before (none without overlap) */
    c->pending = enc;
    if (!st) st = before;
    if (!st) c->n_past += 1;
    return st;
}

static mlxc_status decode_replay(mlxc_context *c) {
    return replay_step(c, encode_decode, &c->decode_graph, &c->decode_exec);
}

/* The decode step with its token read from top_id (llm_forward's ids). */
static mlxc_status encode_fed(mlxc_encoder *enc, void *arg) {
    mlxc_context *c = arg;
    c->feed_top = true;
    mlxc_status st = encode_decode(enc, arg);
    c->feed_top = false;
    return st;
}

bool llm_feed_ok(const mlxc_context *c) { return c->use_graph && c->overlap && !c->rows; }

/* The decode step of the last step's pick (fed on the device), at the next
 * position, replayed as decode_replay replays the plain one (left running:
 * llm_feed_ok asks for overlap). */
mlxc_status llm_decode_fed(mlxc_context *c) {
    if (c->n_past >= c->n_ctx) return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "context: full (%u positions)", c->n_ctx);
    const uint32_t p0 = c->n_past;
    mlxc_status st = mlxc_buffer_write_queued(c->pos, 0, &p0, 4);
    if (!st) st = replay_step(c, encode_fed, &c->feed_graph, &c->feed_exec);
    if (!st) c->have_logits = true;
    return st;
}

/* The pick of the step last queued and its log-probability, read in queue
 * order (before the next step overwrites them). */
mlxc_status llm_queue_pick(mlxc_context *c, mlxc_read_ticket t[2]) {
    mlxc_status st = mlxc_buffer_read_queued(c->top_id, 0, 4, &t[0]);
    return st ? st : mlxc_buffer_read_queued(c->top_lp, 0, 4, &t[1]);
}

mlxc_status llm_pick_wait(mlxc_context *c, const mlxc_read_ticket t[2], int32_t *token, float *logprob) {
    uint32_t id = 0;
    mlxc_status st = mlxc_buffer_read_wait(c->m->dev, t[0], &id, 4);
    if (!st) st = mlxc_buffer_read_wait(c->m->dev, t[1], logprob, 4);
    *token = (int32_t)id;
    return st;
}

/* One chunk: ids and positions to the device, the forward pass in one
 * command buffer, wait. */
static mlxc_status run_chunk(mlxc_context *c, const int32_t *tokens, uint32_t m, uint32_t n_out) {
    uint32_t p0 = c->n_past;
    if (m == 1 && c->overlap) {
        /* the id and position in queue order, behind the step in flight */
        const uint32_t id = (uint32_t)tokens[0];
        mlxc_status st = mlxc_buffer_write_queued(c->ids, 0, &id, 4);
        if (!st) st = mlxc_buffer_write_queued(c->pos, 0, &p0, 4);
        return st ? st : decode_replay(c);
    }
    mlxc_status sst = llm_ctx_sync(c);
    if (sst) return sst;
    uint32_t buf[512];
    for (uint32_t i = 0; i < m; i += 512) {
        uint32_t k = m - i < 512 ? m - i : 512;
        for (uint32_t j = 0; j < k; j++) buf[j] = (uint32_t)tokens[i + j];
        mlxc_status st = mlxc_buffer_write(c->ids, (size_t)i * 4, buf, (size_t)k * 4);
        for (uint32_t j = 0; j < k && !st; j++) buf[j] = p0 + i + j;
        if (!st) st = mlxc_buffer_write(c->pos, (size_t)i * 4, buf, (size_t)k * 4);
        if (st) return st;
    }
    if (c->mask) {
        /* the composed attention's window: query i (position p0 + i) sees
         * keys j > p0 + i - window; the causal limit is the softmax op's */
        uint32_t L = p0 + m, w = c->m->window;
        for (uint32_t i = 0; i < m; i++)
            for (uint32_t j = 0; j < L; j++)
                c->mask_host[(size_t)i * L + j] = (int64_t)j > (int64_t)(p0 + i) - (int64_t)w ? 0.0f : -INFINITY;
        mlxc_status st = mlxc_buffer_write(c->mask, 0, c->mask_host, (size_t)m * L * 4);
        if (st) return st;
    }
    if (m == 1 && c->use_graph) return decode_replay(c);
    mlxc_encoder *enc;
    mlxc_status st = mlxc_encoder_create(c->m->dev, &enc);
    if (st) return st;
    mlxc_encoder_set_auto_barrier(enc, true);
    st = llm_forward(c, enc, p0, m, n_out);
    if (!st) st = mlxc_encoder_commit_and_wait_labeled(enc, m == 1 ? "model.decode" : "model.prefill");
    mlxc_encoder_destroy(enc);
    llm_release_views(c);
    if (!st) c->n_past += m;
    return st;
}

static mlxc_status eval(mlxc_context *c, const int32_t *tokens, size_t n, float *all) {
    MLXC_CHECK_ARG(c && (tokens || n == 0), "mlxc_context_eval: NULL argument");
    if (n == 0) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "context: no tokens to evaluate (empty prompt)");
    if (n > c->n_ctx - c->n_past)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE,
                              "context: %zu tokens after %u do not fit the context of %u positions", n, c->n_past,
                              c->n_ctx);
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->m->vocab)
            return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "context: token %d (at %zu) is outside the vocabulary of %lld",
                                  tokens[i], i, (long long)c->m->vocab);
    uint32_t start = c->n_past;
    uint32_t chunk = c->n_batch;
    size_t lrows = mlxc_buffer_bytes(c->logits) / ((size_t)c->m->vocab * 4);
    if (all && chunk > lrows) chunk = (uint32_t)lrows;
    c->have_logits = false;
    mlxc_status st = MLXC_OK;
    for (size_t i = 0; i < n && !st; i += chunk) {
        uint32_t m = (uint32_t)(n - i < chunk ? n - i : chunk);
        bool last = i + m == n;
        uint32_t n_out = all ? m : last ? 1 : 0;
        st = run_chunk(c, tokens + i, m, n_out);
        if (!st && all) st = llm_ctx_sync(c);
        if (!st && all)
            st = mlxc_buffer_read(c->logits, 0, all + i * (size_t)c->m->vocab, (size_t)m * (size_t)c->m->vocab * 4);
    }
    if (st) {
        c->n_past = start;
        return st;
    }
    /* eval_all leaves the chunk's last row where mlxc_context_logits reads */
    if (all) {
        uint32_t m_last = (uint32_t)((n - 1) % chunk + 1);
        if (m_last > 1)
            st = mlxc_buffer_write(c->logits, 0, all + (n - 1) * (size_t)c->m->vocab, (size_t)c->m->vocab * 4);
    }
    c->have_logits = st == MLXC_OK;
    return st;
}

mlxc_status mlxc_context_eval(mlxc_context *c, const int32_t *tokens, size_t n) { return eval(c, tokens, n, NULL); }

mlxc_status mlxc_context_eval_all(mlxc_context *c, const int32_t *tokens, size_t n, float *logits) {
    MLXC_CHECK_ARG(logits, "mlxc_context_eval_all: NULL logits");
    return eval(c, tokens, n, logits);
}

mlxc_status mlxc_context_logits(const mlxc_context *c, float *out, size_t n_vocab) {
    MLXC_CHECK_ARG(c && out, "mlxc_context_logits: NULL argument");
    if (n_vocab != (size_t)c->m->vocab)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_context_logits: %zu floats, the vocabulary has %lld", n_vocab,
                              (long long)c->m->vocab);
    if (!c->have_logits) return mlxc_set_error(MLXC_ERR_STATE, "mlxc_context_logits: nothing evaluated yet");
    mlxc_status st = llm_ctx_sync((mlxc_context *)c); /* the step still in flight, whose logits these are */
    return st ? st : mlxc_buffer_read(c->logits, 0, out, n_vocab * 4);
}

mlxc_status llm_context_top1(const mlxc_context *c, int32_t *token, float *logprob) {
    if (!c->have_logits) return mlxc_set_error(MLXC_ERR_STATE, "sampler: the context has evaluated nothing yet");
    uint32_t id = 0;
    mlxc_status st = llm_ctx_sync((mlxc_context *)c);
    if (!st) st = mlxc_buffer_read(c->top_id, 0, &id, 4);
    if (!st && logprob) st = mlxc_buffer_read(c->top_lp, 0, logprob, 4);
    *token = (int32_t)id;
    return st;
}

uint32_t mlxc_context_n_past(const mlxc_context *c) { return c ? c->n_past : 0; }
uint32_t mlxc_context_n_ctx(const mlxc_context *c) { return c ? c->n_ctx : 0; }

mlxc_status mlxc_context_sync(mlxc_context *c) {
    MLXC_CHECK_ARG(c, "mlxc_context_sync: NULL context");
    return llm_ctx_sync(c);
}

mlxc_status mlxc_context_reset(mlxc_context *c) {
    MLXC_CHECK_ARG(c, "mlxc_context_reset: NULL context");
    (void)llm_ctx_sync(c); /* a failed step in flight is forgotten with the positions */
    c->n_past = 0;
    c->have_logits = false;
    return MLXC_OK;
}

mlxc_status mlxc_context_truncate(mlxc_context *c, uint32_t n_keep) {
    MLXC_CHECK_ARG(c, "mlxc_context_truncate: NULL context");
    if (n_keep > c->n_past)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "mlxc_context_truncate: %u kept of %u positions", n_keep, c->n_past);
    mlxc_status st = llm_ctx_sync(c);
    if (st) return st;
    c->n_past = n_keep;
    c->have_logits = false;
    return MLXC_OK;
}
