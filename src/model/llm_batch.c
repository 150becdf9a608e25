/*
 * A batch: n_seq contexts, one per sequence, and the decode step that runs
 * one token of several of them through a single forward pass.  The pass
 * borrows the first context's activation buffers (n rows of them) and
 * writes its logits to the batch's own rows, so that no sequence's last
 * logits are overwritten by another's step; rows then go back to each
 * sequence's context on the device.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/llm_internal.h"
#include "mlxc/ops_layout.h"

struct mlxc_batch {
    mlxc_model    *m;
    uint32_t       n_seq;
    mlxc_context **seq;       /* (n_seq) each sequence's cache and prefill buffers */
    mlxc_buffer   *logits;    /* (n_seq, vocab) f32: a batched step's rows      */
    /* The last batched step as a replayed graph, for the sequence list it
     * was captured with (the positions come from device buffers, as in a
     * context's decode graph, so only the list shapes the step). */
    mlxc_graph      *graph;
    mlxc_graph_exec *exec;
    uint32_t         key_n, key[MLXC_BATCH_MAX_SEQ];
};

mlxc_status mlxc_batch_create(mlxc_model *m, uint32_t n_seq, const mlxc_context_params *p, mlxc_batch **out) {
    MLXC_CHECK_ARG(m && out, "mlxc_batch_create: NULL argument");
    *out = NULL;
    if (n_seq < 1 || n_seq > MLXC_BATCH_MAX_SEQ)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "batch: %u sequences, 1 .. %d allowed", n_seq,
                              MLXC_BATCH_MAX_SEQ);
    mlxc_context_params dp = p ? *p : mlxc_context_default_params();
    mlxc_batch *b = calloc(1, sizeof *b);
    mlxc_context **seq = calloc(n_seq, sizeof *seq);
    if (!b || !seq) {
        free(b);
        free(seq);
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "batch: out of memory");
    }
    b->m = m;
    b->n_seq = n_seq;
    b->seq = seq;
    mlxc_status st = MLXC_OK;
    for (uint32_t s = 0; s < n_seq && !st; s++) st = mlxc_context_create_ex(m, &dp, &b->seq[s]);
    if (st) goto fail;
    /* a step's n rows go through the first context's activation buffers */
    mlxc_context *c0 = b->seq[0];
    if (c0->n_batch < n_seq || mlxc_buffer_bytes(c0->logits) < (size_t)n_seq * (size_t)m->vocab * 4) {
        st = mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT,
                            "batch: a context of %u positions (chunks of %u tokens) cannot hold a step of %u sequences",
                            c0->n_ctx, c0->n_batch, n_seq);
        goto fail;
    }
    int64_t shape[2] = {n_seq, m->vocab};
    if ((st = mlxc_buffer_alloc(m->dev, (size_t)n_seq * (size_t)m->vocab * 4, MLXC_F32, 2, shape, &b->logits)))
        goto fail;
    *out = b;
    return MLXC_OK;
fail:
    mlxc_batch_free(b);
    return st;
}

static void drop_graph(mlxc_batch *b) {
    mlxc_graph_exec_destroy(b->exec);
    mlxc_graph_destroy(b->graph);
    b->exec = NULL;
    b->graph = NULL;
    b->key_n = 0;
}

void mlxc_batch_free(mlxc_batch *b) {
    if (!b) return;
    drop_graph(b);
    for (uint32_t s = 0; b->seq && s < b->n_seq; s++) mlxc_context_free(b->seq[s]);
    free(b->seq);
    mlxc_buffer_release(b->logits);
    free(b);
}

uint32_t mlxc_batch_n_seq(const mlxc_batch *b) { return b ? b->n_seq : 0; }

uint32_t mlxc_batch_n_past(const mlxc_batch *b, uint32_t seq) {
    return b && seq < b->n_seq ? b->seq[seq]->n_past : 0;
}

#define CHECK_SEQ(b, seq, fn)                                                                                  \
    do {                                                                                                       \
        MLXC_CHECK_ARG(b, fn ": NULL batch");                                                                  \
        if ((seq) >= (b)->n_seq)                                                                               \
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, fn ": sequence %u of a batch of %u", (unsigned)(seq), \
                                  (b)->n_seq);                                                                 \
    } while (0)

mlxc_status mlxc_batch_eval_seq(mlxc_batch *b, uint32_t seq, const int32_t *tokens, size_t n) {
    CHECK_SEQ(b, seq, "mlxc_batch_eval_seq");
    return mlxc_context_eval(b->seq[seq], tokens, n);
}

mlxc_status mlxc_batch_logits(const mlxc_batch *b, uint32_t seq, float *out, size_t n_vocab) {
    CHECK_SEQ(b, seq, "mlxc_batch_logits");
    return mlxc_context_logits(b->seq[seq], out, n_vocab);
}

mlxc_status mlxc_batch_reset_seq(mlxc_batch *b, uint32_t seq) {
    CHECK_SEQ(b, seq, "mlxc_batch_reset_seq");
    return mlxc_context_reset(b->seq[seq]);
}

/* Encode the forward pass of one batched step on c0's buffers (ids,
 * positions and the window masks already written), then each row's
 * logits to its sequence's context. */
static mlxc_status encode_step(mlxc_batch *b, mlxc_encoder *enc, mlxc_context **rows, uint32_t n) {
    mlxc_context *c0 = b->seq[0];
    mlxc_model *M = b->m;
    mlxc_status st;
    mlxc_buffer *own = c0->logits;
    c0->logits = b->logits;
    c0->rows = rows;
    st = llm_forward(c0, enc, 0, n, n);
    c0->rows = NULL;
    c0->logits = own;
    mlxc_strided_copy sc = {.ndim = 1, .shape = {(uint64_t)M->vocab}, .src_stride = {1}, .dst_stride = {1}};
    for (uint32_t i = 0; i < n && !st; i++) {
        mlxc_buffer *src = NULL, *dst = NULL;
        st = llm_rows(b->logits, i, 1, M->vocab, &src);
        if (!st) st = llm_rows(rows[i]->logits, 0, 1, M->vocab, &dst);
        if (!st) st = mlxc_copy_strided(enc, src, dst, &sc);
        mlxc_buffer_release(src);
        mlxc_buffer_release(dst);
    }
    return st;
}

typedef struct step_arg {
    mlxc_batch    *b;
    mlxc_context **rows;
    uint32_t       n;
} step_arg;
static mlxc_status encode_step_fn(mlxc_encoder *enc, void *arg) {
    step_arg *a = arg;
    return encode_step(a->b, enc, a->rows, a->n);
}

/* One batched step: replayed from the graph of this sequence list where
 * the contexts decode by graph (captured on first use), else encoded. */
static mlxc_status step(mlxc_batch *b, mlxc_context **rows, const uint32_t *seqs, uint32_t n) {
    mlxc_context *c0 = b->seq[0];
    mlxc_device *dev = b->m->dev;
    mlxc_status st;
    if (c0->use_graph) {
        if (b->key_n != n || memcmp(b->key, seqs, (size_t)n * sizeof *seqs)) {
            drop_graph(b);
            step_arg a = {b, rows, n};
            if ((st = llm_capture(c0, encode_step_fn, &a, &b->graph, &b->exec))) return st;
            b->key_n = n;
            memcpy(b->key, seqs, (size_t)n * sizeof *seqs);
        }
        return llm_replay(dev, b->exec, "model.batch_decode", NULL);
    }
    mlxc_encoder *enc;
    if ((st = mlxc_encoder_create(dev, &enc))) return st;
    mlxc_encoder_set_auto_barrier(enc, true);
    st = encode_step(b, enc, rows, n);
    if (!st) st = mlxc_encoder_commit_and_wait_labeled(enc, "model.batch_decode");
    mlxc_encoder_destroy(enc);
    llm_release_views(c0);
    return st;
}

mlxc_status mlxc_batch_decode(mlxc_batch *b, const int32_t *tokens, const uint32_t *seqs, uint32_t n, float *logits) {
    MLXC_CHECK_ARG(b && tokens && seqs, "mlxc_batch_decode: NULL argument");
    if (n < 1 || n > b->n_seq)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_batch_decode: %u sequences in a batch of %u", n,
                              b->n_seq);
    mlxc_context *rows[MLXC_BATCH_MAX_SEQ];
    uint32_t ids[MLXC_BATCH_MAX_SEQ], pos[MLXC_BATCH_MAX_SEQ];
    bool seen[MLXC_BATCH_MAX_SEQ] = {false};
    for (uint32_t i = 0; i < n; i++) {
        if (seqs[i] >= b->n_seq)
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_batch_decode: sequence %u of a batch of %u",
                                  seqs[i], b->n_seq);
        if (seen[seqs[i]])
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_batch_decode: sequence %u twice in one step",
                                  seqs[i]);
        seen[seqs[i]] = true;
        mlxc_context *c = b->seq[seqs[i]];
        if (c->n_past >= c->n_ctx)
            return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "mlxc_batch_decode: sequence %u is full (%u positions)",
                                  seqs[i], c->n_ctx);
        if (tokens[i] < 0 || tokens[i] >= b->m->vocab)
            return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE,
                                  "mlxc_batch_decode: token %d (at %u) is outside the vocabulary of %lld", tokens[i],
                                  i, (long long)b->m->vocab);
        rows[i] = c;
        ids[i] = (uint32_t)tokens[i];
        pos[i] = c->n_past;
    }
    if (n == 1) {
        /* one sequence: its own context's decode step (the fused one,
         * replayed), its logits copied into the batch's first row */
        mlxc_status st = mlxc_context_eval(rows[0], tokens, 1);
        if (!st) st = llm_ctx_sync(rows[0]); /* a batch step returns finished */
        if (!st && logits) st = mlxc_context_logits(rows[0], logits, (size_t)b->m->vocab);
        return st;
    }
    mlxc_context *c0 = b->seq[0];
    mlxc_status st = MLXC_OK;
    /* a sequence's own decode step may still run (mlxc_context_eval) */
    for (uint32_t i = 0; i < b->n_seq && !st; i++) st = llm_ctx_sync(b->seq[i]);
    if (!st) st = mlxc_buffer_write(c0->ids, 0, ids, (size_t)n * 4);
    if (!st) st = mlxc_buffer_write(c0->pos, 0, pos, (size_t)n * 4);
    if (!st && c0->mask) {
        /* row i's sliding window over its own L = pos + 1 keys, at row i */
        uint32_t w = b->m->window;
        for (uint32_t i = 0; i < n && !st; i++) {
            uint32_t L = pos[i] + 1;
            for (uint32_t j = 0; j < L; j++)
                c0->mask_host[j] = (int64_t)j > (int64_t)pos[i] - (int64_t)w ? 0.0f : -INFINITY;
            st = mlxc_buffer_write(c0->mask, (size_t)i * c0->n_ctx * 4, c0->mask_host, (size_t)L * 4);
        }
    }
    if (!st) st = step(b, rows, seqs, n);
    if (!st && logits) st = mlxc_buffer_read(b->logits, 0, logits, (size_t)n * (size_t)b->m->vocab * 4);
    /* the caches were written only at positions past n_past, so a failure
     * leaves every sequence as it was */
    for (uint32_t i = 0; i < n; i++) rows[i]->have_logits = false;
    if (st) return st;
    for (uint32_t i = 0; i < n; i++) {
        rows[i]->n_past += 1;
        rows[i]->have_logits = true;
    }
    return MLXC_OK;
}
