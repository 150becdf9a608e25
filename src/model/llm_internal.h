/*
 * The model layer's internal description: one layout of weights that both
 * GGUF and Hugging Face names bind to (llm_load.c), the per-context run
 * state (llm_context.c) and the forward pass that reads both (llm_forward.c).
 * Only public headers of the layers below are used.
 */
#ifndef MLXC_MODEL_LLM_INTERNAL_H
#define MLXC_MODEL_LLM_INTERNAL_H

#include "core/error.h"   /* mlxc_set_error: the library's one error channel */
#include "mlxc/mlxc.h"
#include "mlxc/model.h"
#include "mlxc/ops_qmatmul.h"

/* How a linear layer's weight is stored: the matmul call site dispatches on
 * it, so a storage kind adds a case in llm_linear() and nothing else. */
typedef enum llm_weight_format {
    LLM_W_DENSE = 0,      /* f32 / f16 / bf16, row-major (out, in)            */
    LLM_W_QUANT           /* any format mlxc_qmatmul reads (GGML blocks, MLX) */
} llm_weight_format;

typedef struct llm_weight {
    mlxc_buffer      *w;          /* dense: (rows, cols); quantized: the packed data */
    mlxc_buffer      *scales;     /* MLX formats only                          */
    mlxc_buffer      *biases;     /* MLX affine only                           */
    llm_weight_format format;
    mlxc_qformat      qformat;    /* LLM_W_QUANT: the layout                   */
    uint32_t          bits, group_size; /* LLM_W_QUANT, MLX formats            */
    int64_t           rows, cols; /* logical (out features, in features)       */
} llm_weight;

typedef struct llm_layer {
    mlxc_buffer *attn_norm;       /* (dim) act dtype                           */
    llm_weight   wq;              /* (n_heads * head_dim, dim)                 */
    llm_weight   wk;              /* (n_kv_heads * head_dim, dim)              */
    llm_weight   wv;              /* (n_kv_heads * head_dim, dim)              */
    llm_weight   wo;              /* (dim, n_heads * head_dim)                 */
    mlxc_buffer *bq, *bk, *bv;    /* Qwen2: (q_dim), (kv_dim), (kv_dim) or NULL */
    mlxc_buffer *q_norm, *k_norm; /* Qwen3: (head_dim) or NULL                 */
    mlxc_buffer *post_attn_norm;  /* Gemma: (dim) on the attention output, or NULL */
    mlxc_buffer *ffn_norm;        /* (dim)                                     */
    mlxc_buffer *post_ffn_norm;   /* Gemma: (dim) on the MLP output, or NULL   */
    llm_weight   w_gate;          /* (ff, dim)                                 */
    llm_weight   w_up;            /* (ff, dim)                                 */
    llm_weight   w_down;          /* (dim, ff)                                 */
    /* The decode step's fused projections (GPU): wqkv stacks the rows of
     * wq, wk and (qkv_parts 3) wv, whose weights are then row views of it,
     * so one mat-vec computes them; qkv_parts 0 when they differ in storage
     * (or on the CPU).  w_gate_up likewise stacks w_gate and w_up (w NULL
     * when not fused). */
    llm_weight   wqkv;
    int          qkv_parts;
    mlxc_buffer *bqkv;            /* with wqkv: bq, bk, bv stacked, or NULL    */
    /* mlxc_qmatmul_fused takes these (llm_forward.c's fused decode step):
     * wqkv with the attention norm (all three, or q and k with wv beside
     * it in a second fused mat-vec: a mix such as Q4_K_M's Q6_K v), wo adding into the
     * residual, w_gate_up with the MLP norm, w_down after silu_mul adding
     * into the residual */
    bool         fuse_qkv, fuse_wo, fuse_gate_up, fuse_down;
    llm_weight   w_gate_up;
    /* A mixture-of-experts MLP (model n_experts > 0) instead of w_gate,
     * w_up and w_down: the router (n_experts, dim) and each expert's
     * matrices stacked, quantized: (n_experts * expert_ff, dim) for gate
     * and up, (n_experts * dim, expert_ff) for down */
    llm_weight   router;
    llm_weight   exp_gate, exp_up, exp_down;
    /* gate and up stacked expert by expert where their storage matches
     * (device copies only): expert e's rows [2e * expert_ff, (2e + 1) *
     * expert_ff) are its gate, the next expert_ff its up, so one expert
     * launch of width 2 expert_ff computes both and mlxc_swiglu takes the
     * rows; exp_gate and exp_up are then empty (w NULL) */
    llm_weight   exp_gate_up;
    bool         fuse_exp_down;   /* with exp_gate_up and bf16 activations:
                                   * the fused step's down projection takes
                                   * silu_mul as its prologue
                                   * (mlxc_qmatmul_experts_fused) */
    /* Qwen2-MoE's shared expert, a SwiGLU MLP of width shared_ff every
     * token takes, scaled by sigmoid(shared_gate . x) (w NULL: none) */
    llm_weight   sh_gate, sh_up, sh_down, sh_router;
    uint32_t     window;          /* sliding window of this layer; 0 = global  */
    float        rope_theta;      /* this layer's rope base (Gemma 3: local ones differ) */
    float        rope_freq_scale;
    mlxc_buffer *rope_freqs;      /* (head_dim / 2) or NULL                    */
} llm_layer;

struct mlxc_model {
    mlxc_device       *dev;
    mlxc_arch          arch;
    mlxc_model_config  cfg;       /* defaults filled in                        */
    mlxc_tokenizer    *tok;       /* NULL when none                            */
    char              *chat_template; /* the model's template text; NULL when none */
    int64_t            dim;       /* hidden size                               */
    int64_t            n_layers, n_heads, n_kv_heads, head_dim, ff, vocab;
    float              eps;
    uint32_t           window;    /* the sliding window (Mistral, Gemma's local layers); 0 = none */
    float              attn_scale;/* 1/sqrt(head_dim), Gemma 1/sqrt(query_pre_attn_scalar) */
    float              attn_softcap, final_softcap; /* Gemma 2; 0 = off           */
    float              embd_scale;/* 1, Gemma sqrt(dim)                         */
    bool               gelu;      /* GeGLU (gelu tanh) instead of SwiGLU        */
    /* Mixture of experts (Qwen3-MoE, Mixtral): every layer's MLP routes each
     * token to n_experts_used of n_experts SwiGLU experts of width
     * expert_ff (softmax over the router's logits, the top k, their weights
     * renormalized when moe_norm); 0 experts: a dense model */
    int64_t            n_experts, n_experts_used, expert_ff;
    bool               moe_norm;
    int64_t            shared_ff; /* Qwen2-MoE's shared expert; 0: none       */
    mlxc_dtype         act;       /* activation dtype (f32 or bf16)            */
    mlxc_rope_mode     rope_mode; /* NEOX; NORM for GGUF llama (permuted q/k)  */
    float              rope_theta, rope_freq_scale;
    int64_t            rope_dim;  /* rotated dimensions of a head (<= head_dim)  */
    mlxc_buffer       *rope_freqs;/* (rope_dim / 2) f32 divisors, or NULL       */
    /* LongRoPE: the divisors of a context longer than rope_orig_ctx (then
     * used at every position, as llama.cpp does; transformers switches per
     * call once the sequence passes it), or NULL */
    mlxc_buffer       *rope_freqs_long; /* (rope_dim / 2) f32                   */
    uint32_t           rope_orig_ctx;
    float              rope_attn_factor; /* LongRoPE's scale of cos and sin; 1 = none */
    mlxc_buffer       *tok_embd;  /* (vocab, dim) dense, or NULL when quantized */
    llm_weight         embd;      /* the embedding table, whatever its storage */
    mlxc_buffer       *out_norm;  /* (dim)                                     */
    llm_weight         output;    /* (vocab, dim); the embedding when tied     */
    llm_layer         *layers;    /* (n_layers)                                */
    mlxc_buffer      **owned;     /* every buffer the model holds              */
    size_t             n_owned, cap_owned;
    uint64_t           weight_bytes;
    uint64_t           mem_budget;  /* bytes the weights and a context may take; 0: no limit */
    uint64_t           mem_weights; /* of weight_bytes, those that count against it */
};

/* A dense weight stored in f16 (the f16 GEMM's; llm_forward.c). */
static inline bool llm_weight_is_f16(const llm_weight *w) {
    return w->format == LLM_W_DENSE && w->w && mlxc_buffer_dtype(w->w) == MLXC_F16;
}
static inline bool llm_weight_is_f32(const llm_weight *w) {
    return w->format == LLM_W_DENSE && w->w && mlxc_buffer_dtype(w->w) == MLXC_F32;
}

/* y (m, w.rows) = x (m, w.cols) @ w^T, whatever w's storage. */
mlxc_status llm_linear(mlxc_encoder *enc, const mlxc_buffer *x, const llm_weight *w, mlxc_buffer *y, uint32_t m,
                       mlxc_buffer *wdeq);

/* The kernels' view of a quantized weight. */
mlxc_qmm_weight llm_qmm(const llm_weight *w);

/* n bytes for a message: "1.50 GiB", "12.00 MiB" or "4096 bytes" in buf. */
const char *llm_bytes_str(uint64_t n, char *buf, size_t cap);

/* A view of rows [r0, r0 + nrows) of a row-major (*, cols) buffer. */
mlxc_status llm_rows(mlxc_buffer *b, int64_t r0, int64_t nrows, int64_t cols, mlxc_buffer **out);

struct mlxc_context {
    mlxc_model  *m;
    uint32_t     n_ctx, n_batch, n_past;
    mlxc_dtype   kv_dtype;
    bool         fused_attn;      /* the attention ops take this shape         */
    bool         fused_step;      /* one token: the fused mat-vecs where the
                                   * layer's weights allow (GPU, bf16, the
                                   * Llama family; MLXC_FUSED_DECODE=0: off) */
    bool         use_graph;       /* decode by replaying decode_exec           */
    bool         act_q8;          /* the fused step's int8 activations (decode_act resolved) */
    bool         fused_head;      /* the fused step ends in mlxc_qmatmul_fused_argmax
                                   * (MLXC_FUSED_HEAD, default 1)             */
    mlxc_graph  *decode_graph;    /* the captured decode step (holds its buffers) */
    mlxc_graph_exec *decode_exec;
    mlxc_graph  *feed_graph;      /* the same step reading its token from top_id:
                                   * the last step's pick, fed back on the device */
    mlxc_graph_exec *feed_exec;
    bool         feed_top;        /* while it is encoded                        */
    bool         overlap;         /* a replayed decode step (use_graph) returns
                                     before it finishes                         */
    mlxc_encoder *pending;        /* that step, until llm_ctx_sync waits for it */
    bool         have_logits;
    mlxc_buffer **k_cache;        /* (n_layers) of (n_kv_heads, n_ctx, head_dim) */
    mlxc_buffer **v_cache;        /* (n_layers) of (n_kv_heads, n_ctx, head_dim) */
    /* activations for one chunk of up to n_batch tokens (act dtype) */
    mlxc_buffer *ids;             /* (n_batch) u32                             */
    mlxc_buffer *pos;             /* (n_batch) i32                             */
    mlxc_buffer *x;               /* (n_batch, dim) the residual stream        */
    mlxc_buffer *emb;             /* (n_batch, dim) f32 rows before a cast, or NULL */
    mlxc_buffer *xb;              /* (n_batch, dim) normed input of a block    */
    mlxc_buffer *xb2;             /* (n_batch, dim) a block's output           */
    mlxc_buffer *post;            /* (n_batch, dim) Gemma: the block output normed, or NULL */
    mlxc_buffer *q;               /* (n_batch, n_heads, head_dim)              */
    mlxc_buffer *k;               /* (n_batch, n_kv_heads, head_dim)           */
    mlxc_buffer *v;               /* (n_batch, n_kv_heads, head_dim)           */
    mlxc_buffer *att;             /* (n_batch, n_heads, head_dim)              */
    mlxc_buffer *kn;              /* (n_batch, n_kv_heads, head_dim) Qwen3 k norm */
    mlxc_buffer *qkv;             /* (qkv_rows, (n_heads + 2 n_kv_heads) * head_dim):
                                   * a token's q, k, v side by side; a batched
                                   * step's rows (llm_forward.c)             */
    uint32_t     qkv_rows;
    mlxc_buffer *gu;              /* (2 ff): its stacked gate and up, or NULL */
    mlxc_buffer *gate;            /* (n_batch, ff)                             */
    mlxc_buffer *up;              /* (n_batch, ff)                             */
    mlxc_buffer *bias_rows;       /* (n_batch, max(q_dim, kv_dim)) broadcast bias */
    /* the mixture of experts (NULL in a dense model) */
    mlxc_buffer *moe_logits;      /* (n_batch, n_experts) the router's          */
    mlxc_buffer *moe_ids;         /* (n_batch, k) u32 each token's experts       */
    mlxc_buffer *moe_w;           /* (n_batch, k) f32 their weights              */
    mlxc_buffer *moe_ctr;         /* (1) u32: the fused router's counter (zero)  */
    mlxc_buffer *moe_gate;        /* (n_batch * k, expert_ff) per slot           */
    mlxc_buffer *moe_up;          /* (n_batch * k, 2 expert_ff): the stacked
                                   * experts' gate and up rows (exp_gate_up),
                                   * or up, (slots, expert_ff), at its start    */
    mlxc_buffer *moe_out;         /* (n_batch * k, dim) the experts' outputs     */
    mlxc_buffer *moe_counts;      /* (n_experts) u32, mlxc_moe_group's (prefill) */
    mlxc_buffer *moe_offsets;     /* (n_experts + 1) u32                         */
    mlxc_buffer *moe_perm;        /* (n_batch * k) u32                           */
    mlxc_buffer *sh_gate;         /* (n_batch, shared_ff) the shared expert's    */
    mlxc_buffer *sh_up;           /* (n_batch, shared_ff)                        */
    mlxc_buffer *sh_out;          /* (n_batch, dim)                              */
    mlxc_buffer *sh_logit;        /* (n_batch, 1) its gate's logit               */
    mlxc_buffer *logits;          /* (n_batch, vocab) f32                      */
    mlxc_buffer *top_id;          /* (1) u32 argmax of the last token's logits */
    mlxc_buffer *top_lp;          /* (1) f32 its log-probability               */
    mlxc_buffer *pick;            /* (MLXC_QMM_ARGMAX_SCRATCH) u32: the fused
                                   * head's pick across blocks (zero)        */
    mlxc_buffer *attn_scratch;    /* decode attention partials (fused path)    */
    mlxc_buffer *wdeq;            /* GPU prefill: one quantized layer weight
                                   * dequantized to bf16 for the dense GEMM,
                                   * or NULL (CPU, dense models)               */
    mlxc_buffer *xh;              /* GPU prefill, f16 weights: (n_batch, widest
                                   * input) f16 activations, or NULL          */
    mlxc_buffer *xf;              /* GPU prefill, f32 weights: (n_batch, widest
                                   * input) f32 activations, or NULL          */
    mlxc_buffer *yf;              /* and (n_batch, widest output) f32, or NULL */
    /* the composed attention (f32 caches, other head sizes) */
    mlxc_buffer *qh;              /* (n_heads, n_batch, head_dim)              */
    mlxc_buffer *oh;              /* (n_heads, n_batch, head_dim)              */
    mlxc_buffer *scores;          /* (n_heads, n_batch, n_ctx) f32             */
    mlxc_buffer *vt;              /* (n_kv_heads, head_dim, n_ctx)             */
    mlxc_buffer *mask;            /* (n_batch, n_ctx) f32 sliding-window mask, or NULL */
    float       *mask_host;       /* (n_batch * n_ctx) its host copy           */
    /* A batched decode step (llm_batch.c): row i of the pass is one token
     * of rows[i], which supplies its cache and position; NULL otherwise. */
    mlxc_context **rows;
    mlxc_buffer **views;          /* made while encoding, released after the wait */
    size_t       n_views, cap_views;
};

/* Encode the forward pass of tokens at positions p0 .. p0 + m - 1 (ids and
 * positions already in ctx->ids / ctx->pos); logits for the last `n_out`
 * tokens go to ctx->logits rows 0 .. n_out - 1. */
mlxc_status llm_forward(mlxc_context *ctx, mlxc_encoder *enc, uint32_t p0, uint32_t m, uint32_t n_out);
void        llm_release_views(mlxc_context *ctx);

/* A step captured as a graph: what fn(enc, arg) records, with auto-barrier
 * on, into *g and its instantiation *exec (both NULL on failure); the views
 * made on vc while encoding are released, the graph holding what it names
 * (a context's decode step, a batch's step). */
typedef mlxc_status (*llm_encode_fn)(mlxc_encoder *enc, void *arg);
/* Greedy generation with the pick fed back on the device: the decode step
 * whose token is the last step's pick (top_id), at the next position, left
 * running (the step before waited for); and queued reads of a step's pick
 * and its log-probability.  llm_feed_ok says whether the context can. */
bool        llm_feed_ok(const mlxc_context *c);
mlxc_status llm_decode_fed(mlxc_context *c);
mlxc_status llm_queue_pick(mlxc_context *c, mlxc_read_ticket t[2]);
mlxc_status llm_pick_wait(mlxc_context *c, const mlxc_read_ticket t[2], int32_t *token, float *logprob);
mlxc_status llm_capture(mlxc_context *vc, llm_encode_fn fn, void *arg, mlxc_graph **g, mlxc_graph_exec **exec);
/* Launch exec on dev in one command buffer labelled `label` and wait; with
 * `running`, commit without waiting and hand the encoder over (NULL on
 * failure, when nothing is left running). */
mlxc_status llm_replay(mlxc_device *dev, mlxc_graph_exec *exec, const char *label, mlxc_encoder **running);
/* Wait for the context's decode step still in flight (the overlap of
 * decode_replay), if any; its status. */
mlxc_status llm_ctx_sync(mlxc_context *c);
/* The last evaluated token's argmax and its log-probability, computed on
 * the device with the forward pass: reading them is 8 bytes, not a row. */
mlxc_status llm_context_top1(const mlxc_context *ctx, int32_t *token, float *logprob);

#endif
