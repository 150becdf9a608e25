/*
 * mlxc/weights.h — model weights and hyperparameters from files and directories.
 *
 * One interface over the layouts a user brings:
 *   - a single `*.safetensors` file, or a directory with `model.safetensors`,
 *     a sharded set (`model.safetensors.index.json` + shards), or other
 *     `*.safetensors` files (an MLX or Hugging Face model directory);
 *   - a `*.gguf` file, or a directory holding exactly one.
 * Hyperparameters come from the directory's `config.json` or from the GGUF
 * metadata (`<arch>.embedding_length`, `<arch>.block_count`, ...), into the
 * same mlxc_model_config, so both kinds are described the same way.
 *
 *     mlxc_weights *w;
 *     if (mlxc_weights_open("models/SmolLM2-135M", &w)) { puts(mlxc_last_error()); ... }
 *     const mlxc_model_config *cfg = mlxc_weights_config(w);
 *     mlxc_load_options opt = { .progress = print_bar };
 *     mlxc_buffer **bufs = calloc(mlxc_weights_count(w), sizeof *bufs);
 *     mlxc_weights_load_all(w, dev, &opt, bufs);     // bufs[i] is tensor i
 *     ...
 *     mlxc_weights_close(w);                         // buffers stay valid
 *
 * Every failure returns a status and a message that names the file and the
 * tensor: a missing shard or tensor (MLXC_ERR_NOT_FOUND), a truncated or
 * malformed file (MLXC_ERR_FORMAT), an unreadable one (MLXC_ERR_IO), a dtype
 * that cannot load (MLXC_ERR_DTYPE), a shape that disagrees with the config
 * or its quantization partner (MLXC_ERR_SHAPE).
 */
#ifndef MLXC_WEIGHTS_H
#define MLXC_WEIGHTS_H

#include <stddef.h>

#include "mlxc/common.h"
#include "mlxc/device.h"
#include "mlxc/gguf.h"
#include "mlxc/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- hyperparameters ------------------------------------------------------------ */

typedef struct mlxc_rope_scaling {
    bool    present;
    char    type[32];              /* "linear", "dynamic", "yarn", "llama3", ...    */
    double  factor;                /* 0 when absent                                 */
    double  low_freq_factor;       /* llama3                                        */
    double  high_freq_factor;      /* llama3                                        */
    int64_t original_max_position_embeddings;
} mlxc_rope_scaling;

/* MLX quantization of one tensor ("mode" in config.json; affine when absent). */
typedef struct mlxc_quant_params {
    bool         quantized;        /* false: the tensor is stored unquantized       */
    int          bits;             /* affine 2..8; mxfp4/nvfp4 4; mxfp8 8            */
    int          group_size;       /* affine 32, 64, 128; mx* 32; nvfp4 16           */
    mlxc_qformat mode;             /* MLXC_QF_MLX_AFFINE, _MXFP4, _NVFP4, _MXFP8     */
} mlxc_quant_params;

typedef struct mlxc_quant_table mlxc_quant_table;   /* per-layer overrides (opaque) */

/* LongRoPE lists hold one divisor per rotated pair: head_dim 512 at most. */
#define MLXC_MAX_ROPE_FACTORS 256

/* 0 / "" / false mean "not given".  Counts are per model.
 *
 * The library fills this struct, and it grows as more hyperparameters are
 * read; struct_size tells the library how much the caller has room for.
 * Start every one from MLXC_MODEL_CONFIG_INIT or mlxc_model_config_init
 * before the parse/load/from_gguf calls; a struct_size of 0 or below the
 * first version is MLXC_ERR_INVALID_ARGUMENT, and fields past a smaller
 * struct_size are left alone. */
typedef struct mlxc_model_config {
    size_t   struct_size;          /* sizeof(mlxc_model_config) of the caller       */
    char     architecture[64];     /* HF "architectures"[0] or GGUF general.architecture */
    char     model_type[64];       /* HF "model_type" (GGUF: the architecture)      */
    int64_t  hidden_size;
    int64_t  intermediate_size;
    int64_t  num_layers;
    int64_t  num_heads;
    int64_t  num_kv_heads;         /* = num_heads when the file does not say        */
    int64_t  head_dim;             /* = hidden_size / num_heads when not given      */
    int64_t  vocab_size;
    int64_t  max_position_embeddings;
    int64_t  sliding_window;
    double   rope_theta;
    double   norm_eps;             /* rms_norm_eps, layer_norm_eps, ...             */
    bool     tie_word_embeddings;
    mlxc_rope_scaling rope_scaling;
    /* MLX "quantization" (or "quantization_config") section */
    bool     has_quantization;
    mlxc_quant_params quant;       /* the model-wide default                        */
    mlxc_quant_table *quant_overrides;   /* per-layer entries; NULL when none       */
    /* Gemma 2 / 3 (config.json keys; GGUF <arch>.attn_logit_softcapping,
     * <arch>.final_logit_softcapping, <arch>.rope.freq_base_swa) */
    double   attn_logit_softcap;   /* attention logits s -> c tanh(s / c); 0 = off  */
    double   final_logit_softcap;  /* the same on the output logits                 */
    double   query_pre_attn_scalar;/* attention scale 1 / sqrt(this) (GGUF: from
                                      <arch>.attention.scale, 1 / scale^2)      */
    double   rope_local_theta;     /* rope base of the sliding-window layers        */
    /* Local (sliding-window) and global layers alternate: layer i is global
     * when (i + 1) % pattern == 0.  From "sliding_window_pattern", or
     * derived from "layer_types" when that list has this form (a pattern
     * above num_layers: every layer local). */
    int64_t  sliding_window_pattern;
    /* Partial rotary and LongRoPE (Phi-3): */
    int64_t  rope_dim;             /* rotated dimensions of each head: head_dim *
                                      partial_rotary_factor, GGUF rope.dimension_count;
                                      0 = all of head_dim                            */
    double   rope_attn_factor;     /* LongRoPE's scale of cos and sin (attention_factor,
                                      GGUF rope.scaling.attn_factor); 0 = not given  */
    int32_t  n_rope_factors;       /* LongRoPE: entries of the two lists below (rope_dim
                                      / 2); 0 = none (GGUF keeps them as tensors)   */
    float    rope_short_factor[MLXC_MAX_ROPE_FACTORS]; /* frequency divisors up to the */
    float    rope_long_factor[MLXC_MAX_ROPE_FACTORS];  /* original context, and past it */
    /* Mixture of experts (Qwen3-MoE, Mixtral): */
    int64_t  num_experts;          /* num_experts, num_local_experts; GGUF <arch>.expert_count;
                                      0 = a dense model                             */
    int64_t  num_experts_used;     /* num_experts_per_tok; GGUF expert_used_count   */
    int64_t  moe_intermediate_size;/* an expert's FFN width; GGUF
                                      expert_feed_forward_length; 0 = intermediate_size */
    int32_t  norm_topk_prob;       /* the k routing weights renormalized: 1, 0, or -1
                                      when the file does not say                    */
    int32_t  moe_dense_layers;     /* layers a sparse step or mlp_only_layers keeps dense
                                      (decoder_sparse_step > 1 or a non-empty list): 1 */
    int64_t  shared_expert_intermediate_size; /* Qwen2-MoE's shared expert; GGUF
                                      expert_shared_feed_forward_length; 0 = none  */
} mlxc_model_config;

/* An initializer: struct_size set, nothing given. */
#define MLXC_MODEL_CONFIG_INIT {.struct_size = sizeof(mlxc_model_config)}
/* Size of the first version (through quant_overrides): the smallest
 * struct_size accepted. */
#define MLXC_MODEL_CONFIG_SIZE_V1 (offsetof(mlxc_model_config, quant_overrides) + sizeof(mlxc_quant_table *))
/* Zero *cfg and set its struct_size (NULL is ignored). */
MLXC_API void mlxc_model_config_init(mlxc_model_config *cfg);

/* Parse config.json text (not NUL-terminated).  MLXC_ERR_FORMAT on malformed
 * JSON, duplicate keys or fields of the wrong kind.  Release with
 * mlxc_model_config_clear(). */
MLXC_API mlxc_status mlxc_model_config_parse(const char *json, size_t len, mlxc_model_config *cfg);
/* Read `path`: a config.json file, or a directory holding one. */
MLXC_API mlxc_status mlxc_model_config_load(const char *path, mlxc_model_config *cfg);
/* The same facts from GGUF metadata (general.architecture, <arch>.*). */
MLXC_API mlxc_status mlxc_model_config_from_gguf(const mlxc_gguf *g, mlxc_model_config *cfg);
/* Free the overrides and zero *cfg, keeping its struct_size.  NULL is
 * accepted. */
MLXC_API void        mlxc_model_config_clear(mlxc_model_config *cfg);

/* Quantization of `tensor_name`, looked up as MLX does: the exact name, then
 * the name without .weight/.scales/.biases, then without a leading
 * "language_model.", then with one added; the model default otherwise.
 * MLXC_ERR_NOT_FOUND when the config has no quantization section. */
MLXC_API mlxc_status mlxc_model_config_quant(const mlxc_model_config *cfg, const char *tensor_name,
                                             mlxc_quant_params *out);
/* Per-layer override entries, in file order (for listing). */
MLXC_API size_t      mlxc_model_config_quant_override_count(const mlxc_model_config *cfg);
MLXC_API mlxc_status mlxc_model_config_quant_override_at(const mlxc_model_config *cfg, size_t i,
                                                         const char **name, mlxc_quant_params *out);

/* ---- weights ---------------------------------------------------------------------- */

typedef enum mlxc_file_format {
    MLXC_FORMAT_SAFETENSORS = 1,
    MLXC_FORMAT_GGUF        = 2
} mlxc_file_format;

MLXC_API const char *mlxc_file_format_name(mlxc_file_format f);   /* "safetensors", "gguf" */

typedef struct mlxc_weights mlxc_weights;

typedef struct mlxc_tensor_info {
    const char  *name;                 /* NUL-terminated, owned by the handle         */
    const char  *dtype_name;           /* "BF16", "F8_E4M3", "Q4_K", ...              */
    mlxc_dtype   dtype;                /* the buffer's dtype                          */
    bool         dtype_exact;          /* false: raw bytes (U8) of dtype_name         */
    int          ggml_type;            /* GGUF: mlxc_ggml_type; safetensors: -1       */
    int          ndim;
    int64_t      shape[MLXC_MAX_DIMS]; /* row-major (GGUF dims reversed)              */
    uint64_t     elements;
    uint64_t     bytes;
    size_t       file;                 /* index into the file list                    */
} mlxc_tensor_info;

/* Open a file or directory as described at the top.  Every file is mapped
 * and validated now; sharded sets are checked against their index (a missing
 * shard, a tensor the index names but its shard lacks, a tensor in two
 * shards: all errors).  A config.json beside the weights is read when
 * present (a malformed one is an error). */
MLXC_API mlxc_status mlxc_weights_open(const char *path, mlxc_weights **out);
/* NULL is accepted.  Buffers made from it stay valid. */
MLXC_API void        mlxc_weights_close(mlxc_weights *w);

MLXC_API mlxc_file_format mlxc_weights_format(const mlxc_weights *w);
MLXC_API size_t      mlxc_weights_file_count(const mlxc_weights *w);
MLXC_API const char *mlxc_weights_file_path(const mlxc_weights *w, size_t i);   /* NULL if out of range */
/* The GGUF handle (GGUF models) or NULL. */
MLXC_API const mlxc_gguf *mlxc_weights_gguf(const mlxc_weights *w);
/* safetensors shard i, or NULL. */
MLXC_API const mlxc_safetensors *mlxc_weights_safetensors(const mlxc_weights *w, size_t i);
/* Hyperparameters (from config.json or GGUF metadata); NULL when there are none. */
MLXC_API const mlxc_model_config *mlxc_weights_config(const mlxc_weights *w);

/* Tensors, sorted by name. */
MLXC_API size_t      mlxc_weights_count(const mlxc_weights *w);
MLXC_API mlxc_status mlxc_weights_info(const mlxc_weights *w, size_t i, mlxc_tensor_info *info);
MLXC_API mlxc_status mlxc_weights_find(const mlxc_weights *w, const char *name, size_t *index);
/* Sum of all tensors' bytes. */
MLXC_API uint64_t    mlxc_weights_total_bytes(const mlxc_weights *w);
/* Number of model parameters: elements of plain tensors, plus, for MLX
 * quantized triples, the unpacked weight elements (scales and biases not
 * counted); GGUF quantized tensors count their elements. */
MLXC_API uint64_t    mlxc_weights_param_count(const mlxc_weights *w);

/* Return false to stop the load (it then fails with MLXC_ERR_STATE). */
typedef bool (*mlxc_load_progress_fn)(uint64_t bytes_done, uint64_t bytes_total, void *user);

typedef struct mlxc_load_options {
    unsigned              flags;       /* MLXC_LOAD_COPY                               */
    mlxc_load_progress_fn progress;    /* called after each chunk; may be NULL        */
    void                 *user;
} mlxc_load_options;

/* Tensor i as a buffer on `dev` (zero copy where possible, see safetensors.h).
 * opt may be NULL. */
MLXC_API mlxc_status mlxc_weights_load(mlxc_weights *w, size_t i, mlxc_device *dev,
                                       const mlxc_load_options *opt, mlxc_buffer **out);
/* Every tensor: out[i] for tensor i (out has mlxc_weights_count entries).  On
 * failure every buffer made so far is released and out[] is all NULL. */
MLXC_API mlxc_status mlxc_weights_load_all(mlxc_weights *w, mlxc_device *dev,
                                           const mlxc_load_options *opt, mlxc_buffer **out);

/* ---- MLX quantized triples ---------------------------------------------------------- */

/* One quantized linear layer: `<stem>.weight` (U32 packed, [rows, K*bits/32]),
 * `<stem>.scales` and optional `<stem>.biases` ([rows, K/group_size]).  Shapes
 * are checked against the bits and group size from the config. */
typedef struct mlxc_quant_triple {
    const char       *stem;            /* NUL-terminated, owned by the handle         */
    size_t            weight, scales;  /* tensor indices                              */
    size_t            biases;          /* SIZE_MAX when absent                        */
    mlxc_quant_params params;
    int64_t           rows, cols;      /* unpacked weight shape (last two dims)       */
} mlxc_quant_triple;

/* Triples found at open (every `*.scales` tensor with a weight partner). */
MLXC_API size_t      mlxc_weights_quant_count(const mlxc_weights *w);
MLXC_API mlxc_status mlxc_weights_quant_at(const mlxc_weights *w, size_t i, mlxc_quant_triple *out);
/* The triple a tensor name (any of the three, or the stem) belongs to. */
MLXC_API mlxc_status mlxc_weights_quant_find(const mlxc_weights *w, const char *name, mlxc_quant_triple *out);

/* The weight descriptor (mlxc/quant.h) of a tensor, whatever the file: a
 * GGUF tensor, a dense safetensors tensor, or an MLX triple named by its stem
 * or any of its three tensors.  Host pointers into the mapping, valid while w
 * is open.  MLXC_ERR_UNSUPPORTED for tensors that are not weights (integer
 * dtypes); MLXC_ERR_FORMAT for an MLX triple without a config (the group
 * size, hence the column count, is unknown). */
MLXC_API mlxc_status mlxc_weights_qweight(const mlxc_weights *w, const char *name, mlxc_qweight *out);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_WEIGHTS_H */
