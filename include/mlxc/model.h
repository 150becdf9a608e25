/*
 * mlxc/model.h — run a language model: open it, evaluate tokens through a KV
 * cache, read logits, sample, generate.
 *
 * A model is weights + hyperparameters + tokenizer from one GGUF file or one
 * Hugging Face / MLX directory (config.json, f32/f16/bf16 safetensors, sharded
 * or not, tokenizer.json).  Weights may be quantized: GGUF block types
 * (Q4_0 .. Q8_0, the K-quants, IQ1 .. IQ4, TQ1_0/TQ2_0, MXFP4, NVFP4) and MLX (weight, scales,
 * biases) triples (config "quantization": affine 2-8 bits, mxfp4, nvfp4,
 * mxfp8) stay packed on the device and multiply through mlxc_qmatmul; a
 * quantized embedding is gathered row by row, a tied output head multiplies
 * by the same table.  A mixture-of-experts model (Qwen3-MoE, Qwen2-MoE, Mixtral: GGUF
 * files and MLX quantized directories) routes each token's MLP through its
 * top k experts on the device (mlxc_moe_route, mlxc_qmatmul_experts /
 * _grouped, mlxc_moe_combine); its experts may be quantized or dense (a
 * Hugging Face directory's one tensor an expert is stacked at load).
 * A context is one sequence: a KV cache of n_ctx
 * positions and the buffers one forward pass needs.  Every step is encoded
 * from the op library (mlxc/ops_*.h) into command buffers, so the same code
 * runs on the CPU and on CUDA.
 *
 *     mlxc_model *m;
 *     mlxc_context *ctx;
 *     if (mlxc_model_open(dev, "SmolLM2-135M", &m)) { puts(mlxc_last_error()); ... }
 *     mlxc_context_create(m, 2048, &ctx);
 *     mlxc_context_eval(ctx, prompt_ids, n_prompt);        // prefill, in chunks
 *     int32_t tok;
 *     for (int i = 0; i < 32; i++) {
 *         mlxc_sampler_sample(s, ctx, &tok, NULL);         // or argmax of mlxc_context_logits
 *         mlxc_context_eval(ctx, &tok, 1);                 // decode one token
 *     }
 *     mlxc_context_free(ctx);
 *     mlxc_model_close(m);
 *
 * Architectures: the Llama family ("LlamaForCausalLM" / GGUF "llama": Llama
 * 1/2/3 with llama3 or linear rope scaling, SmolLM2; "MistralForCausalLM"
 * with its sliding window), Qwen2 (q/k/v biases), Qwen3 (q/k RMS norms),
 * the Gemma 2 / Gemma 3 text models ("Gemma2ForCausalLM",
 * "Gemma3ForCausalLM" / GGUF "gemma2", "gemma3": sliding-window layers
 * alternating with global ones, Gemma 3's separate rope base for the local
 * layers, Gemma 2's attention and final logit softcaps; Gemma's norms
 * scale by 1 + w, which GGUF files store already added) and Phi-3 /
 * Phi-3.5 ("Phi3ForCausalLM" / "phi3": fused qkv and gate/up projections,
 * partial rotary, LongRoPE, sliding window).  LongRoPE uses its
 * long-context frequencies in a context longer than the pretraining length
 * (original_max_position_embeddings) and the short ones otherwise, at every
 * position, as llama.cpp does (transformers switches per call, once the
 * sequence itself grows past that length).  Weight
 * names as GGUF writes them (`blk.N.attn_q.weight`) and as Hugging Face
 * writes them (`model.layers.N.self_attn.q_proj.weight`) bind to one internal
 * layout.  GGUF llama files store q and k rows permuted for rope on adjacent
 * pairs (llama.cpp's converter); those run with adjacent-pair rope, which
 * gives the same attention as the unpermuted weights with NeoX rope.
 *
 * Failures return a status and a message naming the cause: an unknown
 * architecture (MLXC_ERR_UNSUPPORTED), a missing tensor (MLXC_ERR_NOT_FOUND,
 * naming it), a tensor of the wrong shape (MLXC_ERR_SHAPE, naming it and
 * both shapes), a weight dtype this build cannot multiply (MLXC_ERR_DTYPE /
 * MLXC_ERR_UNSUPPORTED), evaluation past the cache (MLXC_ERR_OUT_OF_RANGE),
 * an empty token list or invalid sampling values (MLXC_ERR_INVALID_ARGUMENT),
 * a context longer than the model was trained for (MLXC_ERR_OUT_OF_RANGE),
 * weights or a KV cache larger than the device's memory
 * (MLXC_ERR_OUT_OF_MEMORY, before allocating).
 */
#ifndef MLXC_MODEL_H
#define MLXC_MODEL_H

#include "mlxc/common.h"
#include "mlxc/device.h"
#include "mlxc/weights.h"
#include "mlxc/tokenizer.h"
#include "mlxc/chat.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlxc_model   mlxc_model;
typedef struct mlxc_context mlxc_context;
typedef struct mlxc_sampler mlxc_sampler;

/* ---- model ------------------------------------------------------------------------ */

typedef enum mlxc_arch {
    MLXC_ARCH_LLAMA = 1,   /* Llama 1/2/3, SmolLM2, Mistral (sliding window),
                              Mixtral (with experts)                            */
    MLXC_ARCH_QWEN2 = 2,   /* + q/k/v biases                                    */
    MLXC_ARCH_QWEN3 = 3,   /* + q/k RMS norms per head                          */
    MLXC_ARCH_GEMMA2 = 4,  /* GeGLU, (1 + w) norms around both blocks, scaled
                              embedding, local/global layers, logit softcaps  */
    MLXC_ARCH_GEMMA3 = 5,  /* Gemma 2's layout + q/k norms, a local rope base */
    MLXC_ARCH_PHI3   = 6,  /* fused qkv and gate/up, partial rotary, LongRoPE   */
    MLXC_ARCH_QWEN3_MOE = 7, /* Qwen3's attention, a mixture of experts as the MLP */
    MLXC_ARCH_QWEN2_MOE = 8  /* Qwen2's attention, experts plus a gated shared one */
} mlxc_arch;

/* "llama", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "qwen3moe", "qwen2moe";
 * "unknown" otherwise. */
MLXC_API const char *mlxc_arch_name(mlxc_arch arch);

typedef struct mlxc_model_options {
    mlxc_load_progress_fn progress;   /* called while weights load; may be NULL    */
    void                 *user;
    unsigned              load_flags; /* mlxc_load_options flags (MLXC_LOAD_COPY)  */
    bool                  no_tokenizer; /* do not look for one                     */
    /* Activations, norm weights and biases: MLXC_F32 (the default, also for
     * a zero-initialised struct, on every device: MLXC_F32 is 0, so f32
     * stays requestable) or MLXC_BF16 (half the activation traffic, and on
     * CUDA prefill on the tensor cores for bf16, f16 and quantized weights;
     * logits stay f32).  The mlxc tools pick bf16 on a GPU by default. */
    mlxc_dtype            act_dtype;
    /* Bytes of device memory the weights and each context (with the
     * weights) may take; 0: the device's total memory, except that
     * weights a CPU device maps from the file do not count.  A model or
     * context that would not fit is refused with MLXC_ERR_OUT_OF_MEMORY
     * before anything is allocated. */
    uint64_t              memory_budget;
    /* Store GGUF Q4_0 and Q8_0 weights as MLX affine 4- and 8-bit of group
     * 32 (mlxc_ggml_to_affine: the same values; 11% and 6% more bytes),
     * which the GPU's int8 decode walk reads in 16-byte units where it
     * cannot read the 18- and 34-byte blocks (mlxc_qmatmul_fused_q8_fast).
     * Each tensor is converted on the host as it loads, into a device copy;
     * one whose scales do not convert stays as stored.  The environment
     * variable MLXC_GGML_AS_AFFINE=1 or 0 overrides it. */
    bool                  ggml_as_affine;
    /* Store GGUF Q4_0 linear weights (rows a multiple of 16, columns of
     * 128) as Q4_0 tiles (mlxc_ggml_to_tiles: the same values and bytes),
     * which a GPU's decode mat-vec streams through the copy engine (on the
     * CPU the results are the blocks' bit for bit).
     * Not the default: on an H100, 7B Q4_0 tg128 473 against 448 with the
     * blocks, but 1B 1576 against 1655, and tiles for only some of a
     * model's weights are slower than either
     * (bench/results/decode-attn-qkv-2026-12-05.md).  The token embedding
     * keeps its blocks.  The environment variable MLXC_GGML_TILES=1 or 0
     * overrides it. */
    bool                  ggml_tiles;
} mlxc_model_options;

/* Open the model at `path` (a .gguf file, or a directory) on `dev`: read the
 * configuration, bind and load every tensor the architecture needs, and
 * load the tokenizer when the file or directory has one. */
MLXC_API mlxc_status mlxc_model_open(mlxc_device *dev, const char *path, mlxc_model **out);
/* The same with options (opt may be NULL). */
MLXC_API mlxc_status mlxc_model_open_ex(mlxc_device *dev, const char *path, const mlxc_model_options *opt,
                                        mlxc_model **out);
/* NULL is accepted.  Contexts must be freed first. */
MLXC_API void        mlxc_model_close(mlxc_model *m);

MLXC_API mlxc_arch   mlxc_model_arch(const mlxc_model *m);
MLXC_API mlxc_device *mlxc_model_device(const mlxc_model *m);
/* The hyperparameters the model runs with (defaults filled in). */
MLXC_API const mlxc_model_config *mlxc_model_get_config(const mlxc_model *m);
/* The tokenizer, or NULL when the file or directory has none. */
MLXC_API const mlxc_tokenizer *mlxc_model_tokenizer(const mlxc_model *m);
/* The chat template's text (mlxc/chat.h renders it), or NULL when the model
 * has none: GGUF `tokenizer.chat_template`, or the directory's
 * chat_template.jinja, chat_template.json or tokenizer_config.json
 * (mlxc_chat_template_read).  Read with the tokenizer; valid while the
 * model is open. */
MLXC_API const char *mlxc_model_chat_template(const mlxc_model *m);
/* Rows of the logits (the output projection's size). */
MLXC_API int64_t     mlxc_model_vocab_size(const mlxc_model *m);
/* Bytes of weights on the device. */
MLXC_API uint64_t    mlxc_model_weight_bytes(const mlxc_model *m);
/* Bytes of weights one decode token reads: all of them, except that the
 * token embedding table gives one row (all of it where the output head is
 * the same table) and a mixture of experts reads its k chosen experts of E
 * (the experts' bytes times k / E, the mean over tokens); the bandwidth
 * limit of decode is this over the copy bandwidth.  0 for NULL. */
MLXC_API uint64_t    mlxc_model_decode_weight_bytes(const mlxc_model *m);

/* ---- context: one sequence and its KV cache ---------------------------------------- */

/* The fused decode step's activations.  Int8 activations (MLXC_QMM_ACT_Q8,
 * x' quantized per 32 values: llama.cpp's q8_1 numerics, which its mat-vec
 * uses by default) apply to the weights the GPU's int8 mat-vec takes
 * (mlxc_qmatmul_fused_q8_fast: MLX affine 4/8-bit, Q4_K, Q5_K, Q6_K); every
 * other weight multiplies exact bf16 activations.  Where int8 applies, the
 * CPU runs the same numerics as the GPU (its twin of the walk). */
typedef enum mlxc_decode_act {
    MLXC_DECODE_ACT_AUTO  = 0, /* int8 on a GPU, exact on the CPU (default) */
    MLXC_DECODE_ACT_EXACT = 1, /* exact bf16 activations on every backend   */
    MLXC_DECODE_ACT_Q8    = 2, /* int8 activations on every backend         */
} mlxc_decode_act;

typedef struct mlxc_context_params {
    uint32_t   n_ctx;      /* KV cache positions; 0: min(trained context, 4096); at
                              most the trained context (max_position_embeddings) */
    uint32_t   n_batch;    /* tokens per prefill chunk; 0: 512                       */
    mlxc_dtype kv_dtype;   /* MLXC_F16, MLXC_BF16 or MLXC_F32                        */
    /* Decode steps replay one captured graph (a CUDA graph on CUDA): the
     * first step records it, later ones only write the token and position
     * into device memory and launch it.  Used where the attention ops take
     * the model (f16/bf16 cache, head size 64/96/128/256); elsewhere each
     * step is encoded anew. */
    bool       decode_graph;
    /* How the fused decode step multiplies its activations (mlxc_decode_act;
     * the environment variable MLXC_DECODE_Q8=1 or 0 overrides it). */
    mlxc_decode_act decode_act;
} mlxc_context_params;

/* n_ctx 0, n_batch 0, kv_dtype F16, decode_graph true, decode_act AUTO. */
MLXC_API mlxc_context_params mlxc_context_default_params(void);

/* A context of n_ctx positions with the default parameters. */
MLXC_API mlxc_status mlxc_context_create(mlxc_model *m, uint32_t n_ctx, mlxc_context **out);
MLXC_API mlxc_status mlxc_context_create_ex(mlxc_model *m, const mlxc_context_params *p, mlxc_context **out);
/* NULL is accepted. */
MLXC_API void        mlxc_context_free(mlxc_context *ctx);
/* The activations ctx's decode step multiplies, AUTO and MLXC_DECODE_Q8
 * resolved: MLXC_DECODE_ACT_EXACT or MLXC_DECODE_ACT_Q8 (EXACT for NULL). */
MLXC_API mlxc_decode_act mlxc_context_decode_act(const mlxc_context *ctx);

/* Evaluate tokens[0..n) at positions n_past .. n_past + n - 1, appending
 * them to the cache (n >= 1; n_past + n <= n_ctx; every id < vocab).
 * Prompts run in chunks of n_batch tokens; n == 1 is one decode step.
 * Afterwards mlxc_context_logits gives the last token's logits.  On failure
 * the cache is left as before the call.
 * A decode step on a GPU (n == 1, the replayed decode graph) returns once
 * it is queued and the step before it has finished, so the host's launch
 * of a step overlaps the device's work on the one before
 * (MLXC_DECODE_OVERLAP=0: each returns finished).  Whatever reads its
 * results waits for it (mlxc_context_logits, a sampler, eval_all), as
 * does mlxc_context_sync; a failure of the step is returned by the call
 * that waits for it. */
MLXC_API mlxc_status mlxc_context_eval(mlxc_context *ctx, const int32_t *tokens, size_t n);
/* Wait for the context's device work (a decode step still running after
 * its mlxc_context_eval); the status of that work. */
MLXC_API mlxc_status mlxc_context_sync(mlxc_context *ctx);
/* As mlxc_context_eval, and `logits` (n * vocab floats) receives every
 * token's logits, row i for tokens[i] (for scoring and perplexity). */
MLXC_API mlxc_status mlxc_context_eval_all(mlxc_context *ctx, const int32_t *tokens, size_t n, float *logits);
/* The logits of the last evaluated token into out[0..n_vocab);
 * n_vocab must be mlxc_model_vocab_size.  MLXC_ERR_STATE before any eval. */
MLXC_API mlxc_status mlxc_context_logits(const mlxc_context *ctx, float *out, size_t n_vocab);

MLXC_API uint32_t    mlxc_context_n_past(const mlxc_context *ctx);
MLXC_API uint32_t    mlxc_context_n_ctx(const mlxc_context *ctx);
/* Forget every position. */
MLXC_API mlxc_status mlxc_context_reset(mlxc_context *ctx);
/* Keep positions [0, n_keep) and forget the rest (n_keep <= n_past).  The
 * logits are invalid until the next eval. */
MLXC_API mlxc_status mlxc_context_truncate(mlxc_context *ctx, uint32_t n_keep);

/* ---- batch: several sequences decoding together ------------------------------------ */

/* n_seq independent sequences, each with its own KV cache of n_ctx
 * positions (a context each), whose decode steps run together: one token
 * of each of n sequences goes through ONE forward pass, every matmul with
 * n rows (the quantized mat-vec takes up to 8), while rope, the cache
 * write and attention run per sequence against its own cache and
 * position.  Prefill runs one sequence at a time.  Where the contexts
 * decode by a replayed graph (mlxc_context_params.decode_graph), the
 * batched step is one too: captured for a list of sequences on its first
 * step, replayed while the next steps name the same list in the same
 * order (another list captures anew).  A step of one sequence is that
 * sequence's own decode step (the fused one on a GPU). */
typedef struct mlxc_batch mlxc_batch;

/* At most this many sequences in a batch. */
#define MLXC_BATCH_MAX_SEQ 8

/* n_seq in 1 .. MLXC_BATCH_MAX_SEQ sequences, each a context made with `p`
 * (NULL: mlxc_context_default_params; n_ctx must hold at least n_seq
 * positions, the rows of a batched step). */
MLXC_API mlxc_status mlxc_batch_create(mlxc_model *m, uint32_t n_seq, const mlxc_context_params *p,
                                       mlxc_batch **out);
/* NULL is accepted. */
MLXC_API void        mlxc_batch_free(mlxc_batch *b);
MLXC_API uint32_t    mlxc_batch_n_seq(const mlxc_batch *b);
/* Positions sequence `seq` holds (0 for a bad seq). */
MLXC_API uint32_t    mlxc_batch_n_past(const mlxc_batch *b, uint32_t seq);
/* Evaluate tokens[0..n) after what sequence `seq` holds (a prefill, or any
 * number of tokens), as mlxc_context_eval does. */
MLXC_API mlxc_status mlxc_batch_eval_seq(mlxc_batch *b, uint32_t seq, const int32_t *tokens, size_t n);
/* One decode step for n sequences together: tokens[i] is appended to
 * sequence seqs[i] (1 <= n <= n_seq, seqs distinct and < n_seq, each
 * sequence with room for one more position).  `logits` (may be NULL) receives n * vocab floats, row i for
 * seqs[i].  On failure no sequence's positions change
 * (MLXC_ERR_INVALID_ARGUMENT for a bad seq list, MLXC_ERR_OUT_OF_RANGE for a
 * full sequence or a token outside the vocabulary, both found before
 * anything runs). */
MLXC_API mlxc_status mlxc_batch_decode(mlxc_batch *b, const int32_t *tokens, const uint32_t *seqs, uint32_t n,
                                       float *logits);
/* The logits of sequence seq's last evaluated token (MLXC_ERR_STATE when it
 * has none). */
MLXC_API mlxc_status mlxc_batch_logits(const mlxc_batch *b, uint32_t seq, float *out, size_t n_vocab);
/* Forget every position of sequence seq; the others keep theirs. */
MLXC_API mlxc_status mlxc_batch_reset_seq(mlxc_batch *b, uint32_t seq);

/* ---- sampling ------------------------------------------------------------------------ */

/* The chain, in llama.cpp's order: repetition penalty over the last
 * repeat_last_n accepted tokens (a positive logit divided by the penalty, a
 * negative one multiplied), top-k, top-p (nucleus), min-p (relative to the
 * most likely token), then temperature and a seeded draw.  temperature 0 is
 * greedy (the argmax after the penalty, ties to the lower id). */
typedef struct mlxc_sampler_params {
    float    temperature;     /* >= 0; 0 = greedy                           */
    int32_t  top_k;           /* 0 = off                                    */
    float    top_p;           /* (0, 1]; 1 = off                            */
    float    min_p;           /* [0, 1]; 0 = off                            */
    float    repeat_penalty;  /* > 0; 1 = off                               */
    int32_t  repeat_last_n;   /* window of the penalty; 0 = off, -1 = all   */
    uint64_t seed;
} mlxc_sampler_params;

/* temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1,
 * repeat_last_n 64, seed 0 (llama.cpp's defaults). */
MLXC_API mlxc_sampler_params mlxc_sampler_default_params(void);
/* MLXC_ERR_INVALID_ARGUMENT (naming the field) for values outside the
 * ranges above or NaN. */
MLXC_API mlxc_status mlxc_sampler_create(const mlxc_sampler_params *p, mlxc_sampler **out);
MLXC_API void        mlxc_sampler_free(mlxc_sampler *s);
/* Pick a token from logits[0..n_vocab).  *logprob (may be NULL) is the
 * token's log-probability under the model's distribution, softmax of the
 * raw logits (no penalty, filter or temperature). */
MLXC_API mlxc_status mlxc_sampler_sample_logits(mlxc_sampler *s, const float *logits, size_t n_vocab,
                                                int32_t *token, float *logprob);
/* The same from the context's last logits.  Greedy with no penalty in
 * effect reads the pick the forward pass made on the device (argmax and its
 * log-probability: 8 bytes, not the logits row). */
MLXC_API mlxc_status mlxc_sampler_sample(mlxc_sampler *s, const mlxc_context *ctx, int32_t *token,
                                         float *logprob);
/* Record a token for the repetition penalty (prompt tokens too). */
MLXC_API void        mlxc_sampler_accept(mlxc_sampler *s, int32_t token);
/* Forget the accepted tokens and restart the random stream from the seed. */
MLXC_API void        mlxc_sampler_reset(mlxc_sampler *s);

/* ---- generation ------------------------------------------------------------------------ */

/* Called once per generated token; return false to stop. */
typedef bool (*mlxc_token_fn)(int32_t token, float logprob, void *user);

typedef struct mlxc_generate_stats {
    uint32_t n_prompt, n_gen;
    double   prompt_s, gen_s;    /* wall time of prefill and of decoding       */
} mlxc_generate_stats;

/* Evaluate prompt[0..n_prompt) after what the context holds, then sample
 * and evaluate up to n_gen tokens, calling fn (may be NULL) for each.
 * Stops early at the tokenizer's EOS when stop_at_eos (the EOS token is
 * reported but not evaluated), when fn returns false, or when the cache is
 * full.  stats may be NULL.
 * Greedy sampling (temperature 0, no repetition penalty) on a context that
 * replays its decode step feeds each pick back on the device: the step of
 * token i + 1 is queued before token i reaches fn, so the device does not
 * wait for the host.  Where generation stops, the step queued for a token
 * not wanted is dropped: the context holds what the plain loop leaves, but
 * no logits (mlxc_context_logits fails until the next evaluation).
 * MLXC_GENERATE_FEED=0 keeps the plain loop. */
MLXC_API mlxc_status mlxc_generate(mlxc_context *ctx, mlxc_sampler *s, const int32_t *prompt, size_t n_prompt,
                                   uint32_t n_gen, bool stop_at_eos, mlxc_token_fn fn, void *user,
                                   mlxc_generate_stats *stats);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_MODEL_H */
