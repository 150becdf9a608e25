/*
 * Opening a model: the architecture from the config, every tensor the
 * forward pass reads bound by its GGUF or Hugging Face name to one layout
 * (struct mlxc_model), shapes checked against the config, small vectors
 * (norm weights, biases) converted to the activation dtype, rope frequency
 * factors prepared, and the tokenizer from the same file or directory.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/env.h"
#include "model/llm_internal.h"
#include "quant/quant_blocks.h"
#include "mlxc/ops.h"
#include "mlxc/ops_elementwise.h"
#include "mlxc/ops_layout.h"
#include "mlxc/ops_moe.h"
#include "mlxc/ops_qmatmul.h"

const char *mlxc_arch_name(mlxc_arch arch) {
    switch (arch) {
    case MLXC_ARCH_LLAMA: return "llama";
    case MLXC_ARCH_QWEN2: return "qwen2";
    case MLXC_ARCH_QWEN3: return "qwen3";
    case MLXC_ARCH_GEMMA2: return "gemma2";
    case MLXC_ARCH_GEMMA3: return "gemma3";
    case MLXC_ARCH_PHI3: return "phi3";
    case MLXC_ARCH_QWEN3_MOE: return "qwen3moe";
    case MLXC_ARCH_QWEN2_MOE: return "qwen2moe";
    }
    return "unknown";
}

/* Hugging Face class names and model types, GGUF general.architecture. */
static const struct { const char *name; mlxc_arch arch; } k_arch_names[] = {
    {"LlamaForCausalLM", MLXC_ARCH_LLAMA},   {"MistralForCausalLM", MLXC_ARCH_LLAMA},
    {"Qwen2ForCausalLM", MLXC_ARCH_QWEN2},   {"Qwen3ForCausalLM", MLXC_ARCH_QWEN3},
    {"llama", MLXC_ARCH_LLAMA},              {"mistral", MLXC_ARCH_LLAMA},
    {"qwen2", MLXC_ARCH_QWEN2},              {"qwen3", MLXC_ARCH_QWEN3},
    {"Gemma2ForCausalLM", MLXC_ARCH_GEMMA2}, {"Gemma3ForCausalLM", MLXC_ARCH_GEMMA3},
    {"gemma2", MLXC_ARCH_GEMMA2},            {"gemma3", MLXC_ARCH_GEMMA3},
    {"gemma3_text", MLXC_ARCH_GEMMA3},
    {"Phi3ForCausalLM", MLXC_ARCH_PHI3},     {"phi3", MLXC_ARCH_PHI3},
    {"Qwen3MoeForCausalLM", MLXC_ARCH_QWEN3_MOE}, {"qwen3_moe", MLXC_ARCH_QWEN3_MOE},
    {"qwen3moe", MLXC_ARCH_QWEN3_MOE},
    {"Qwen2MoeForCausalLM", MLXC_ARCH_QWEN2_MOE}, {"qwen2_moe", MLXC_ARCH_QWEN2_MOE},
    {"qwen2moe", MLXC_ARCH_QWEN2_MOE},
    /* Mixtral: Llama's layers with a mixture of experts (GGUF: "llama"
     * with an expert count) */
    {"MixtralForCausalLM", MLXC_ARCH_LLAMA}, {"mixtral", MLXC_ARCH_LLAMA},
};

static mlxc_status find_arch(mlxc_model *m) {
    const mlxc_model_config *cfg = &m->cfg;
    for (size_t i = 0; i < sizeof k_arch_names / sizeof *k_arch_names; i++)
        if (!strcmp(cfg->architecture, k_arch_names[i].name) || !strcmp(cfg->model_type, k_arch_names[i].name)) {
            m->arch = k_arch_names[i].arch;
            /* Mistral's and Phi-3's sliding windows are on whenever given;
             * Qwen2 configs carry one that is off (use_sliding_window false) */
            bool mistral = !strcmp(cfg->architecture, "MistralForCausalLM") || !strcmp(cfg->model_type, "mistral");
            if ((mistral || m->arch == MLXC_ARCH_PHI3) && cfg->sliding_window > 0)
                m->window = cfg->sliding_window > INT32_MAX ? INT32_MAX : (uint32_t)cfg->sliding_window;
            return MLXC_OK;
        }
    return mlxc_set_error(MLXC_ERR_UNSUPPORTED,
                          "model: unknown architecture \"%s\" (model_type \"%s\"); this build runs "
                          "llama, mistral, mixtral, qwen2, qwen2_moe, qwen3, qwen3_moe, gemma2, gemma3 and phi3",
                          cfg->architecture[0] ? cfg->architecture : "(none)",
                          cfg->model_type[0] ? cfg->model_type : "(none)");
}

/* ---- binding -------------------------------------------------------------------------- */

/* One tensor role: its name in each format ("%d" is the layer). */
typedef struct role {
    const char *hf, *gguf;
} role;

static const role R_EMBD   = {"model.embed_tokens.weight", "token_embd.weight"};
static const role R_NORM   = {"model.norm.weight", "output_norm.weight"};
static const role R_OUT    = {"lm_head.weight", "output.weight"};
static const role R_FREQS  = {NULL, "rope_freqs.weight"};
static const role R_ANORM  = {"model.layers.%d.input_layernorm.weight", "blk.%d.attn_norm.weight"};
static const role R_Q      = {"model.layers.%d.self_attn.q_proj.weight", "blk.%d.attn_q.weight"};
static const role R_K      = {"model.layers.%d.self_attn.k_proj.weight", "blk.%d.attn_k.weight"};
static const role R_V      = {"model.layers.%d.self_attn.v_proj.weight", "blk.%d.attn_v.weight"};
static const role R_O      = {"model.layers.%d.self_attn.o_proj.weight", "blk.%d.attn_output.weight"};
static const role R_BQ     = {"model.layers.%d.self_attn.q_proj.bias", "blk.%d.attn_q.bias"};
static const role R_BK     = {"model.layers.%d.self_attn.k_proj.bias", "blk.%d.attn_k.bias"};
static const role R_BV     = {"model.layers.%d.self_attn.v_proj.bias", "blk.%d.attn_v.bias"};
static const role R_QNORM  = {"model.layers.%d.self_attn.q_norm.weight", "blk.%d.attn_q_norm.weight"};
static const role R_KNORM  = {"model.layers.%d.self_attn.k_norm.weight", "blk.%d.attn_k_norm.weight"};
static const role R_FNORM  = {"model.layers.%d.post_attention_layernorm.weight", "blk.%d.ffn_norm.weight"};
static const role R_GATE   = {"model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight"};
static const role R_UP     = {"model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight"};
static const role R_DOWN   = {"model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight"};
/* Gemma norms each block's input and output: its post_attention_layernorm
 * is the attention output's norm, not the MLP input's as in Llama. */
static const role R_G_PANORM = {"model.layers.%d.post_attention_layernorm.weight", "blk.%d.post_attention_norm.weight"};
static const role R_G_FNORM  = {"model.layers.%d.pre_feedforward_layernorm.weight", "blk.%d.ffn_norm.weight"};
static const role R_G_PFNORM = {"model.layers.%d.post_feedforward_layernorm.weight", "blk.%d.post_ffw_norm.weight"};
/* Phi-3: q, k, v stacked in one tensor, and gate over up (GGUF's ffn_up
 * holds both halves); LongRoPE's divisors as GGUF tensors */
static const role R_QKV    = {"model.layers.%d.self_attn.qkv_proj.weight", "blk.%d.attn_qkv.weight"};
static const role R_GATEUP = {"model.layers.%d.mlp.gate_up_proj.weight", "blk.%d.ffn_up.weight"};
static const role R_RF_SHORT = {NULL, "rope_factors_short.weight"};
static const role R_RF_LONG  = {NULL, "rope_factors_long.weight"};
/* The mixture of experts: the router and the stacked experts, as mlx-lm
 * names them for Qwen (mlp.) and Mixtral (block_sparse_moe.), and as
 * llama.cpp does; a Hugging Face directory's one tensor an expert below. */
static const role R_ROUTER[2] = {{"model.layers.%d.mlp.gate.weight", "blk.%d.ffn_gate_inp.weight"},
                                 {"model.layers.%d.block_sparse_moe.gate.weight", NULL}};
static const role R_EGATE[2] = {{"model.layers.%d.mlp.switch_mlp.gate_proj.weight", "blk.%d.ffn_gate_exps.weight"},
                                {"model.layers.%d.block_sparse_moe.switch_mlp.gate_proj.weight", NULL}};
static const role R_EUP[2] = {{"model.layers.%d.mlp.switch_mlp.up_proj.weight", "blk.%d.ffn_up_exps.weight"},
                              {"model.layers.%d.block_sparse_moe.switch_mlp.up_proj.weight", NULL}};
static const role R_EDOWN[2] = {{"model.layers.%d.mlp.switch_mlp.down_proj.weight", "blk.%d.ffn_down_exps.weight"},
                                {"model.layers.%d.block_sparse_moe.switch_mlp.down_proj.weight", NULL}};
/* A Hugging Face directory's experts, one dense tensor each (the second
 * %d the expert): Qwen's names, and Mixtral's w1 (gate), w3 (up), w2 (down) */
static const char *const R_HF_EXPERT[2][3] = {
    {"model.layers.%d.mlp.experts.%d.gate_proj.weight", "model.layers.%d.mlp.experts.%d.up_proj.weight",
     "model.layers.%d.mlp.experts.%d.down_proj.weight"},
    {"model.layers.%d.block_sparse_moe.experts.%d.w1.weight", "model.layers.%d.block_sparse_moe.experts.%d.w3.weight",
     "model.layers.%d.block_sparse_moe.experts.%d.w2.weight"}};

/* Qwen2-MoE's shared expert and its gate */
static const role R_SH_GATE = {"model.layers.%d.mlp.shared_expert.gate_proj.weight", "blk.%d.ffn_gate_shexp.weight"};
static const role R_SH_UP = {"model.layers.%d.mlp.shared_expert.up_proj.weight", "blk.%d.ffn_up_shexp.weight"};
static const role R_SH_DOWN = {"model.layers.%d.mlp.shared_expert.down_proj.weight", "blk.%d.ffn_down_shexp.weight"};
static const role R_SH_ROUTER = {"model.layers.%d.mlp.shared_expert_gate.weight", "blk.%d.ffn_gate_inp_shexp.weight"};

typedef struct binder {
    mlxc_model        *m;
    mlxc_weights      *w;
    mlxc_encoder      *enc;        /* casts of small vectors to the act dtype */
    mlxc_load_options  lopt;       /* progress through per_tensor_progress   */
    mlxc_load_progress_fn user_progress;
    void              *user;
    uint64_t           done, total;/* bytes of whole tensors loaded, of all   */
    bool               gguf;
    bool               norm_plus_one; /* Gemma HF/MLX norms: the kernels take 1 + w */
    bool               count_weights; /* the weights count against m->mem_budget */
    bool               mapped;     /* weights read from the file's mapping    */
    bool               as_affine;  /* Q4_0 / Q8_0 stored as MLX affine        */
    bool               tiles;      /* Q4_0 linear weights stored as Q4_0 tiles */
    mlxc_status        st;
    char               name[256];
} binder;

static mlxc_status own(mlxc_model *m, mlxc_buffer *b) {
    if (m->n_owned == m->cap_owned) {
        size_t cap = m->cap_owned ? m->cap_owned * 2 : 64;
        mlxc_buffer **nb = realloc(m->owned, cap * sizeof *nb);
        if (!nb) {
            mlxc_buffer_release(b);
            return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "model: out of memory");
        }
        m->owned = nb;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = b;
    return MLXC_OK;
}

/* The tensor of `r` in layer `layer` (-1: none), or SIZE_MAX when absent. */
static size_t lookup(binder *b, const role *r, int layer) {
    const char *fmt = b->gguf ? r->gguf : r->hf;
    if (!fmt) return SIZE_MAX;
    snprintf(b->name, sizeof b->name, fmt, layer);
    size_t i;
    if (mlxc_weights_find(b->w, b->name, &i) != MLXC_OK) {
        mlxc_clear_error();
        return SIZE_MAX;
    }
    return i;
}

static void shape_str(const int64_t *s, int n, char *buf, size_t cap) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "(");
    for (int i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %lld" : "%lld", (long long)s[i]);
    if (k < cap) snprintf(buf + k, cap - k, ")");
}

static mlxc_status check_shape(binder *b, const mlxc_tensor_info *ti, int ndim, const int64_t *want) {
    bool ok = ti->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = ti->shape[i] == want[i];
    if (ok) return MLXC_OK;
    char have[96], need[96];
    shape_str(ti->shape, ti->ndim, have, sizeof have);
    shape_str(want, ndim, need, sizeof need);
    return mlxc_set_error(MLXC_ERR_SHAPE, "model: tensor %s has shape %s, the config needs %s", b->name, have, need);
}

/* The weights layer reports progress per tensor; the user sees the model. */
static bool per_tensor_progress(uint64_t done, uint64_t total, void *user) {
    binder *b = user;
    (void)total;
    return b->user_progress(b->done + done, b->total, b->user);
}

static mlxc_status load_tensor(binder *b, size_t i, mlxc_buffer **out) {
    mlxc_status st = mlxc_weights_load(b->w, i, b->m->dev, &b->lopt, out);
    if (st) return st;
    mlxc_tensor_info ti;
    if (mlxc_weights_info(b->w, i, &ti) == MLXC_OK) b->done += ti.bytes;
    b->m->weight_bytes += mlxc_buffer_bytes(*out);
    return own(b->m, *out);
}

/* Whether a tensor holds plain float values (F32, F16 or BF16): what a
 * dense weight, a norm or a bias must be. */
static bool float_tensor(const mlxc_tensor_info *ti) {
    return ti->dtype_exact && (ti->dtype == MLXC_F32 || ti->dtype == MLXC_F16 || ti->dtype == MLXC_BF16);
}

/* A vector of n elements in the activation dtype.  Absent: *out = NULL and
 * MLXC_OK when optional, MLXC_ERR_NOT_FOUND naming it otherwise. */
static mlxc_status bind_vec(binder *b, const role *r, int layer, int64_t n, bool optional, mlxc_buffer **out) {
    *out = NULL;
    size_t i = lookup(b, r, layer);
    if (i == SIZE_MAX) {
        if (optional) return MLXC_OK;
        return mlxc_set_error(MLXC_ERR_NOT_FOUND, "model: tensor %s is missing", b->name);
    }
    mlxc_tensor_info ti;
    mlxc_status st = mlxc_weights_info(b->w, i, &ti);
    if (st) return st;
    if ((st = check_shape(b, &ti, 1, &n))) return st;
    if (!float_tensor(&ti))
        return mlxc_set_error(MLXC_ERR_DTYPE, "model: tensor %s is %s; norms and biases must be F32, F16 or BF16",
                              b->name, ti.dtype_name);
    mlxc_buffer *raw;
    if ((st = load_tensor(b, i, &raw))) return st;
    if (ti.dtype == b->m->act) {
        *out = raw;
        return MLXC_OK;
    }
    int64_t shape[1] = {n};
    mlxc_buffer *conv;
    if ((st = mlxc_buffer_alloc(b->m->dev, (size_t)n * mlxc_dtype_size(b->m->act), b->m->act, 1, shape, &conv)))
        return st;
    if ((st = own(b->m, conv))) return st;
    if ((st = mlxc_cast(b->enc, raw, conv))) return st;
    *out = conv;
    return MLXC_OK;
}

/* A norm's weight.  Gemma scales by 1 + w; llama.cpp's converter stores
 * 1 + w in GGUF files, Hugging Face and MLX store w, so those get the 1
 * added here, once, into a buffer of their own (the loaded one may be the
 * file's read-only mapping). */
static mlxc_status bind_norm(binder *b, const role *r, int layer, int64_t n, bool optional, mlxc_buffer **out) {
    mlxc_status st = bind_vec(b, r, layer, n, optional, out);
    if (st || !*out || !b->norm_plus_one) return st;
    mlxc_model *m = b->m;
    size_t es = mlxc_dtype_size(m->act);
    int64_t shape[1] = {n};
    mlxc_buffer *ones, *sum;
    if ((st = mlxc_buffer_alloc(m->dev, (size_t)n * es, m->act, 1, shape, &ones))) return st;
    if ((st = own(m, ones))) return st;
    unsigned char *host = malloc((size_t)n * es);
    if (!host) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "model: out of memory");
    const uint16_t one16 = 0x3F80;   /* 1.0 in bf16 */
    const float one32 = 1.0f;
    for (int64_t i = 0; i < n; i++) memcpy(host + (size_t)i * es, m->act == MLXC_F32 ? (const void *)&one32 : (const void *)&one16, es);
    st = mlxc_buffer_write(ones, 0, host, (size_t)n * es);
    free(host);
    if (st) return st;
    if ((st = mlxc_buffer_alloc(m->dev, (size_t)n * es, m->act, 1, shape, &sum))) return st;
    if ((st = own(m, sum))) return st;
    if ((st = mlxc_add(b->enc, *out, ones, sum))) return st;
    *out = sum;
    return MLXC_OK;
}

/* A device buffer of `bytes` from host memory, owned by the model. */
static mlxc_status upload_new(binder *b, const void *src, size_t bytes, mlxc_dtype dt, int64_t rows, int64_t cols,
                              mlxc_buffer **out) {
    int64_t shape[2] = {rows, cols};
    mlxc_status st = mlxc_buffer_alloc(b->m->dev, bytes, dt, 2, shape, out);
    if (st || (st = own(b->m, *out))) return st;
    b->m->weight_bytes += bytes;
    return mlxc_buffer_write(*out, 0, src, bytes);
}

/* Tensor i loaded through a host conversion: its file bytes counted done,
 * and the progress callback told (which may stop the load). */
static mlxc_status converted(binder *b, size_t i) {
    mlxc_tensor_info ti;
    if (mlxc_weights_info(b->w, i, &ti) == MLXC_OK) b->done += ti.bytes;
    if (b->user_progress && !b->user_progress(b->done, b->total, b->user))
        return mlxc_set_error(MLXC_ERR_STATE, "model: loading stopped by the progress callback");
    return MLXC_OK;
}

/* GGUF Q4_0 / Q8_0 tensor i (descriptor d) as MLX affine codes, f16 scales
 * and biases of group 32 (mlxc_ggml_to_affine).  MLXC_ERR_UNSUPPORTED
 * (the error cleared) where a block's scale does not convert: the caller
 * loads the blocks then. */
static mlxc_status bind_as_affine(binder *b, size_t i, const mlxc_qweight *d, llm_weight *out) {
    const uint32_t bits = d->format == MLXC_QF_Q4_0 ? 4 : 8;
    const size_t rows = (size_t)d->rows, wpr = (size_t)d->cols * bits / 32, gpr = (size_t)d->cols / 32;
    uint32_t *wq = malloc(rows * wpr * 4);
    uint16_t *sb = malloc(rows * gpr * 4);
    if (!wq || !sb) {
        free(wq), free(sb);
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "model: out of memory converting %s", b->name);
    }
    mlxc_status st = mlxc_ggml_to_affine(d, wq, sb, sb + rows * gpr);
    if (st == MLXC_ERR_UNSUPPORTED) mlxc_clear_error();
    if (!st && !(st = upload_new(b, wq, rows * wpr * 4, MLXC_U32, d->rows, (int64_t)wpr, &out->w)) &&
        !(st = upload_new(b, sb, rows * gpr * 2, MLXC_F16, d->rows, (int64_t)gpr, &out->scales)))
        st = upload_new(b, sb + rows * gpr, rows * gpr * 2, MLXC_F16, d->rows, (int64_t)gpr, &out->biases);
    free(wq), free(sb);
    if (st) return st;
    out->qformat = MLXC_QF_MLX_AFFINE;
    out->bits = bits;
    out->group_size = 32;
    return converted(b, i);
}

/* GGUF Q4_0 tensor i (descriptor d) as Q4_0 tiles (mlxc_ggml_to_tiles: the
 * same values and bytes, regrouped for the GPU's streaming mat-vec). */
static mlxc_status bind_tiles(binder *b, size_t i, const mlxc_qweight *d, llm_weight *out) {
    const size_t bytes = (size_t)d->data_bytes;
    uint8_t *t = malloc(bytes ? bytes : 1);
    if (!t) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "model: out of memory converting %s", b->name);
    mlxc_status st = mlxc_ggml_to_tiles(d, t, bytes);
    if (!st) st = upload_new(b, t, bytes, MLXC_U8, d->rows, (int64_t)(bytes / (size_t)d->rows), &out->w);
    free(t);
    if (st) return st;
    out->qformat = MLXC_QF_Q4_0_TILES;
    return converted(b, i);
}

/* The restatements a GGUF weight may take where the options ask for them
 * (binder as_affine, tiles): the projections take both; the embedding
 * keeps its blocks (the gather's and the tied head's form) but may be
 * affine; experts keep their file form (the experts' kernels are not
 * measured on the others). */
enum { CONV_AFFINE = 1, CONV_TILES = 2, CONV_ALL = CONV_AFFINE | CONV_TILES };

/* A quantized weight: the packed data as raw bytes (or MLX's uint32 words),
 * scales and biases beside it for the MLX formats, loaded as the dense
 * weights are (zero copy where the device can read the mapping). */
static mlxc_status bind_quant(binder *b, size_t i, int64_t rows, int64_t cols, unsigned conv, llm_weight *out) {
    mlxc_quant_triple qt;
    bool triple = !b->gguf && mlxc_weights_quant_find(b->w, b->name, &qt) == MLXC_OK;
    mlxc_clear_error();
    mlxc_qweight d;
    mlxc_status st = mlxc_weights_qweight(b->w, b->name, &d);
    if (st) return st;
    int64_t have[2] = {d.rows, d.cols}, want[2] = {rows, cols};
    if (d.rows != rows || d.cols != cols) {
        char hs[96], ws[96];
        shape_str(have, 2, hs, sizeof hs);
        shape_str(want, 2, ws, sizeof ws);
        return mlxc_set_error(MLXC_ERR_SHAPE, "model: tensor %s has shape %s, the config needs %s", b->name, hs, ws);
    }
    if (cols > UINT32_MAX || rows > UINT32_MAX || mlxc_qmm_row_bytes(d.format, d.bits, d.group_size, (uint32_t)cols) == 0)
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED,
                              "model: tensor %s is %s (%u bits, group %u); the quantized matmul does not read it",
                              b->name, mlxc_qformat_name(d.format) ? mlxc_qformat_name(d.format) : "?", d.bits,
                              d.group_size);
    out->format = LLM_W_QUANT;
    out->qformat = d.format;
    out->bits = d.bits;
    out->group_size = d.group_size;
    out->rows = rows;
    out->cols = cols;
    if (!triple && b->as_affine && (conv & CONV_AFFINE) && (d.format == MLXC_QF_Q4_0 || d.format == MLXC_QF_Q8_0)) {
        st = bind_as_affine(b, i, &d, out);
        if (st != MLXC_ERR_UNSUPPORTED) return st;
        out->w = out->scales = out->biases = NULL;
    }
    if (!triple && b->tiles && (conv & CONV_TILES) && d.format == MLXC_QF_Q4_0 && rows % MLXC_Q4T_ROWS == 0 &&
        cols % MLXC_Q4T_COLS == 0)
        return bind_tiles(b, i, &d, out);
    if (!triple) {
        /* the kernels read f16 block headers: an odd GGUF alignment gets a copy */
        const mlxc_gguf *g = mlxc_weights_gguf(b->w);
        unsigned flags = b->lopt.flags;
        if (g && mlxc_gguf_alignment(g) % 4) b->lopt.flags |= MLXC_LOAD_COPY;
        st = load_tensor(b, i, &out->w);
        b->lopt.flags = flags;
        return st;
    }
    if ((st = load_tensor(b, qt.weight, &out->w)) || (st = load_tensor(b, qt.scales, &out->scales))) return st;
    if (qt.biases != SIZE_MAX) return load_tensor(b, qt.biases, &out->biases);
    return MLXC_OK;
}

/* Whether tensor b->name (info ti) is quantized: an MLX triple, or a GGUF
 * block type. */
static bool quantized_at(binder *b, const mlxc_tensor_info *ti) {
    mlxc_quant_triple qt;
    const bool triple = !b->gguf && mlxc_weights_quant_find(b->w, b->name, &qt) == MLXC_OK;
    mlxc_clear_error();
    return triple || (b->gguf && ti->ggml_type >= 0 && !ti->dtype_exact);
}

/* A linear layer's weight of (rows, cols), dense or quantized (conv: the
 * restatements it may take). */
static mlxc_status bind_linear_as(binder *b, const role *r, int layer, int64_t rows, int64_t cols, unsigned conv,
                                  llm_weight *out) {
    memset(out, 0, sizeof *out);
    size_t i = lookup(b, r, layer);
    if (i == SIZE_MAX) return mlxc_set_error(MLXC_ERR_NOT_FOUND, "model: tensor %s is missing", b->name);
    mlxc_tensor_info ti;
    mlxc_status st = mlxc_weights_info(b->w, i, &ti);
    if (st) return st;
    if (quantized_at(b, &ti)) return bind_quant(b, i, rows, cols, conv, out);
    if (!float_tensor(&ti))
        return mlxc_set_error(MLXC_ERR_DTYPE,
                              "model: tensor %s is %s; a linear weight must be F32, F16, BF16 or quantized", b->name,
                              ti.dtype_name);
    int64_t want[2] = {rows, cols};
    if ((st = check_shape(b, &ti, 2, want))) return st;
    out->format = LLM_W_DENSE;
    out->rows = rows;
    out->cols = cols;
    return load_tensor(b, i, &out->w);
}

static mlxc_status bind_linear(binder *b, const role *r, int layer, int64_t rows, int64_t cols, llm_weight *out) {
    return bind_linear_as(b, r, layer, rows, cols, CONV_ALL, out);
}

/* Rows [r0, r0 + rows) of a buffer holding `total` equal rows (dense
 * values, GGML blocks, MLX words, scales or biases alike), or NULL for NULL. */
static mlxc_status row_view(binder *b, mlxc_buffer *buf, int64_t total, int64_t r0, int64_t rows, mlxc_buffer **out) {
    *out = NULL;
    if (!buf) return MLXC_OK;
    size_t bytes = mlxc_buffer_bytes(buf);
    mlxc_dtype dt = mlxc_buffer_dtype(buf);
    size_t es = mlxc_dtype_size(dt);
    if (bytes % (size_t)total || (bytes / (size_t)total) % es)
        return mlxc_set_error(MLXC_ERR_SHAPE, "model: tensor %s (%zu bytes) does not split into %lld rows", b->name,
                              bytes, (long long)total);
    size_t rb = bytes / (size_t)total;
    int64_t shape[2] = {rows, (int64_t)(rb / es)};
    mlxc_status st = mlxc_buffer_view(buf, (size_t)r0 * rb, dt, 2, shape, out);
    return st ? st : own(b->m, *out);
}

/* A fused projection (Phi-3's qkv_proj, gate_up_proj): one tensor of n
 * stacked row blocks, loaded whole and handed out as n weights that view
 * their rows, so the forward pass multiplies by each part as by a separate
 * weight (no copy, and no strided split of a fused output). */
static mlxc_status bind_fused(binder *b, const role *r, int layer, int64_t cols, int n, const int64_t *rows,
                              llm_weight *const *out, llm_weight *whole_out) {
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += rows[i];
    llm_weight whole;
    mlxc_status st = bind_linear(b, r, layer, total, cols, &whole);
    if (!st) *whole_out = whole;
    int64_t r0 = 0;
    for (int i = 0; i < n && !st; i++) {
        llm_weight *o = out[i];
        *o = whole;
        o->rows = rows[i];
        if (!(st = row_view(b, whole.w, total, r0, rows[i], &o->w)) &&
            !(st = row_view(b, whole.scales, total, r0, rows[i], &o->scales)))
            st = row_view(b, whole.biases, total, r0, rows[i], &o->biases);
        r0 += rows[i];
    }
    return st;
}

/* q, k, v of layer l: three tensors, or Phi-3's one (unless the file has
 * them apart, which llama.cpp's Phi-3 also reads). */
static mlxc_status bind_qkv(binder *b, int l, llm_layer *L, int64_t qd, int64_t kvd) {
    mlxc_model *m = b->m;
    if (m->arch == MLXC_ARCH_PHI3 && lookup(b, &R_Q, l) == SIZE_MAX) {
        const int64_t rows[3] = {qd, kvd, kvd};
        llm_weight *const out[3] = {&L->wq, &L->wk, &L->wv};
        L->qkv_parts = 3;
        return bind_fused(b, &R_QKV, l, m->dim, 3, rows, out, &L->wqkv);
    }
    mlxc_status st;
    if ((st = bind_linear(b, &R_Q, l, qd, m->dim, &L->wq)) || (st = bind_linear(b, &R_K, l, kvd, m->dim, &L->wk)))
        return st;
    return bind_linear(b, &R_V, l, kvd, m->dim, &L->wv);
}

/* gate and up of layer l: two tensors, or Phi-3's one (gate rows first;
 * a file with a separate gate has them apart). */
static mlxc_status bind_gate_up(binder *b, int l, llm_layer *L) {
    mlxc_model *m = b->m;
    if (m->arch == MLXC_ARCH_PHI3 && lookup(b, &R_GATE, l) == SIZE_MAX) {
        const int64_t rows[2] = {m->ff, m->ff};
        llm_weight *const out[2] = {&L->w_gate, &L->w_up};
        return bind_fused(b, &R_GATEUP, l, m->dim, 2, rows, out, &L->w_gate_up);
    }
    mlxc_status st = bind_linear(b, &R_GATE, l, m->ff, m->dim, &L->w_gate);
    return st ? st : bind_linear(b, &R_UP, l, m->ff, m->dim, &L->w_up);
}

/* The role of r[2] (Qwen3-MoE's names, Mixtral's) that layer l's file
 * has; the first when neither. */
static const role *moe_role(binder *b, const role r[2], int l) {
    return lookup(b, &r[0], l) == SIZE_MAX && lookup(b, &r[1], l) != SIZE_MAX ? &r[1] : &r[0];
}

/* A stack of dense experts (E, rows / E, cols) or (rows, cols), F32, F16
 * or BF16 (an MLX or GGUF model not quantized), loaded as it is: the
 * expert forms take dense rows (mlxc_qmatmul_experts). */
static mlxc_status bind_experts_dense(binder *b, size_t i, const mlxc_tensor_info *ti, int64_t rows, int64_t cols,
                                      llm_weight *out) {
    memset(out, 0, sizeof *out);
    const int64_t E = b->m->n_experts;
    if (!float_tensor(ti))
        return mlxc_set_error(MLXC_ERR_DTYPE, "model: the experts %s are %s (F32, F16, BF16 or quantized)", b->name,
                              ti->dtype_name);
    const int64_t want3[3] = {E, rows / E, cols}, want2[2] = {rows, cols};
    mlxc_status st = ti->ndim == 3 ? check_shape(b, ti, 3, want3) : check_shape(b, ti, 2, want2);
    if (st) return st;
    out->format = LLM_W_DENSE;
    out->rows = rows;
    out->cols = cols;
    return load_tensor(b, i, &out->w);
}

/* Projection `which` (0 gate, 1 up, 2 down) of layer l's experts from a
 * Hugging Face directory, one dense tensor an expert (Qwen's or Mixtral's
 * names), stacked into one (rows, cols) buffer in their dtype.
 * MLXC_ERR_NOT_FOUND (the error set) when expert 0 has neither name. */
static mlxc_status bind_experts_hf(binder *b, int l, int which, int64_t rows, int64_t cols, llm_weight *out) {
    memset(out, 0, sizeof *out);
    const int64_t E = b->m->n_experts, er = rows / E;
    size_t i;
    int form = 0;
    for (form = 0; form < 2; form++) {
        snprintf(b->name, sizeof b->name, R_HF_EXPERT[form][which], l, 0);
        if (mlxc_weights_find(b->w, b->name, &i) == MLXC_OK) break;
    }
    mlxc_clear_error();
    if (form == 2) return mlxc_set_error(MLXC_ERR_NOT_FOUND, "model: layer %d has no experts", l);
    mlxc_status st = MLXC_OK;
    size_t es = 0;
    for (int64_t e = 0; e < E && !st; e++) {
        snprintf(b->name, sizeof b->name, R_HF_EXPERT[form][which], l, (int)e);
        mlxc_tensor_info ti;
        const int64_t want[2] = {er, cols};
        if (mlxc_weights_find(b->w, b->name, &i)) return mlxc_set_error(MLXC_ERR_NOT_FOUND, "model: tensor %s is missing", b->name);
        if ((st = mlxc_weights_info(b->w, i, &ti))) return st;
        if (!float_tensor(&ti) || (e > 0 && ti.dtype != mlxc_buffer_dtype(out->w)))
            return mlxc_set_error(MLXC_ERR_DTYPE, "model: expert tensor %s is %s (F32, F16 or BF16, as expert 0)",
                                  b->name, ti.dtype_name);
        if ((st = check_shape(b, &ti, 2, want))) return st;
        const mlxc_safetensors *sf = mlxc_weights_safetensors(b->w, ti.file);
        size_t j;
        mlxc_st_tensor_info si;
        if (!sf || (st = mlxc_safetensors_find(sf, b->name, &j)) || (st = mlxc_safetensors_tensor_at(sf, j, &si)))
            return st ? st : mlxc_set_error(MLXC_ERR_INTERNAL, "model: %s has no safetensors file", b->name);
        if (e == 0) {
            es = mlxc_dtype_size(ti.dtype);
            const int64_t shape[2] = {rows, cols};
            if ((st = mlxc_buffer_alloc(b->m->dev, (size_t)(rows * cols) * es, ti.dtype, 2, shape, &out->w)) ||
                (st = own(b->m, out->w)))
                return st;
            b->m->weight_bytes += (uint64_t)(rows * cols) * es;
        }
        if (!(st = mlxc_buffer_write(out->w, (size_t)(e * er * cols) * es, si.data, (size_t)si.bytes)))
            st = converted(b, i);
    }
    out->format = LLM_W_DENSE;
    out->rows = rows;
    out->cols = cols;
    return st;
}

/* Layer l's mixture of experts: the router, dense or quantized, and the
 * experts' stacked matrices, quantized (in their file form) or dense (a
 * stack, or a Hugging Face directory's one tensor an expert). */
static mlxc_status bind_moe(binder *b, int l, llm_layer *L) {
    mlxc_model *m = b->m;
    const int64_t E = m->n_experts, eff = m->expert_ff;
    mlxc_status st = bind_linear(b, moe_role(b, R_ROUTER, l), l, E, m->dim, &L->router);
    if (st) return st;
    struct { const role *r; int64_t rows, cols; llm_weight *w; } e[3] = {
        {R_EGATE, E * eff, m->dim, &L->exp_gate}, {R_EUP, E * eff, m->dim, &L->exp_up},
        {R_EDOWN, E * m->dim, eff, &L->exp_down}};
    for (int i = 0; i < 3 && !st; i++) {
        const role *r = moe_role(b, e[i].r, l);
        const size_t ti_i = lookup(b, r, l);
        mlxc_tensor_info ti;
        if (ti_i == SIZE_MAX) {
            /* no stack: a Hugging Face directory's experts, one tensor each */
            mlxc_clear_error();
            if (!b->gguf) {
                st = bind_experts_hf(b, l, i, e[i].rows, e[i].cols, e[i].w);
                if (st != MLXC_ERR_NOT_FOUND) continue;
                lookup(b, r, l); /* name the stack in the error */
            }
            return mlxc_set_error(MLXC_ERR_NOT_FOUND, "model: tensor %s is missing", b->name);
        }
        if ((st = mlxc_weights_info(b->w, ti_i, &ti))) return st;
        st = quantized_at(b, &ti) ? bind_linear_as(b, r, l, e[i].rows, e[i].cols, 0, e[i].w)
                                  : bind_experts_dense(b, ti_i, &ti, e[i].rows, e[i].cols, e[i].w);
    }
    if (st || !m->shared_ff) return st;
    /* the shared expert: an MLP like a dense layer's, and its gate (1, dim) */
    if ((st = bind_linear(b, &R_SH_GATE, l, m->shared_ff, m->dim, &L->sh_gate)) ||
        (st = bind_linear(b, &R_SH_UP, l, m->shared_ff, m->dim, &L->sh_up)) ||
        (st = bind_linear(b, &R_SH_DOWN, l, m->dim, m->shared_ff, &L->sh_down)))
        return st;
    return bind_linear(b, &R_SH_ROUTER, l, 1, m->dim, &L->sh_router);
}

/* ---- the decode step's fused projections --------------------------------------------- */

/* Stored alike: the same storage, format, bits, group, columns and buffer
 * dtypes, so their rows stack into one weight that one kernel reads. */
static bool same_storage(const llm_weight *a, const llm_weight *b) {
    if (a->format != b->format || a->cols != b->cols || a->qformat != b->qformat || a->bits != b->bits ||
        a->group_size != b->group_size)
        return false;
    const mlxc_buffer *pa[3] = {a->w, a->scales, a->biases}, *pb[3] = {b->w, b->scales, b->biases};
    for (int i = 0; i < 3; i++)
        if ((pa[i] == NULL) != (pb[i] == NULL) || (pa[i] && mlxc_buffer_dtype(pa[i]) != mlxc_buffer_dtype(pb[i])))
            return false;
    return true;
}

/* Drop b from the model's buffers (it must be one of them). */
static void disown(mlxc_model *m, mlxc_buffer *b) {
    for (size_t i = m->n_owned; i-- > 0;) {
        if (m->owned[i] != b) continue;
        m->owned[i] = m->owned[--m->n_owned];
        m->weight_bytes -= mlxc_buffer_bytes(b);
        mlxc_buffer_release(b);
        return;
    }
}

/* Buffer c of a weight: 0 the data, 1 the scales, 2 the biases. */
static mlxc_buffer **weight_buf(llm_weight *w, int c) { return c == 0 ? &w->w : c == 1 ? &w->scales : &w->biases; }

/* Stack the rows of parts[0 .. n) into *out, and make each part a row view
 * of it.  The copies run in an encoder of their own, waited for before the
 * parts' own buffers are freed, so the weights are held twice only one
 * layer at a time. */
static mlxc_status stack_rows(binder *b, llm_weight *const *parts, int n, llm_weight *out) {
    mlxc_model *m = b->m;
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += parts[i]->rows;
    *out = *parts[0];
    out->rows = total;
    mlxc_buffer *old[3][3] = {{NULL}};
    mlxc_encoder *enc = NULL;
    mlxc_status st = mlxc_encoder_create(m->dev, &enc);
    for (int c = 0; c < 3 && !st; c++) {
        mlxc_buffer **whole = weight_buf(out, c);
        if (!*whole) continue;
        const mlxc_dtype dt = mlxc_buffer_dtype(*whole);
        size_t bytes = 0;
        for (int i = 0; i < n; i++) {
            mlxc_buffer *pb = *weight_buf(parts[i], c);
            bytes += mlxc_buffer_bytes(pb);
        }
        const size_t es = mlxc_dtype_size(dt);
        int64_t shape[2] = {total, (int64_t)(bytes / es / (size_t)total)};
        mlxc_buffer *nb;
        if ((st = mlxc_buffer_alloc(m->dev, bytes, dt, 2, shape, &nb)) || (st = own(m, nb))) break;
        m->weight_bytes += bytes;
        *whole = nb;
        size_t off = 0;
        for (int i = 0; i < n && !st; i++) {
            mlxc_buffer **pp = weight_buf(parts[i], c);
            const size_t pbytes = mlxc_buffer_bytes(*pp);
            int64_t pshape[2] = {parts[i]->rows, shape[1]};
            mlxc_buffer *v;
            if ((st = mlxc_buffer_view(nb, off, dt, 2, pshape, &v))) break;
            if ((st = own(m, v))) break;
            if ((st = mlxc_copy(enc, *pp, v))) break;
            old[c][i] = *pp;
            *pp = v;
            off += pbytes;
        }
    }
    if (!st) st = mlxc_encoder_commit_and_wait_labeled(enc, "model.load.stack");
    mlxc_encoder_destroy(enc);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < n; i++)
            if (old[c][i] && !st) disown(m, old[c][i]);
    return st;
}

/* The experts' gate and up of layer L (E matrices each) as one stack of E
 * (2 expert_ff, dim) matrices, gate over up expert by expert (a strided
 * copy a buffer: the data, the scales, the biases), their own buffers
 * freed once the copies are done. */
static mlxc_status stack_experts(binder *b, llm_layer *L) {
    mlxc_model *m = b->m;
    const uint64_t E = (uint64_t)m->n_experts;
    llm_weight gu = L->exp_gate;
    gu.rows = L->exp_gate.rows + L->exp_up.rows;
    mlxc_buffer *old[3][2] = {{NULL}};
    mlxc_encoder *enc = NULL;
    mlxc_status st = mlxc_encoder_create(m->dev, &enc);
    for (int c = 0; c < 3 && !st; c++) {
        mlxc_buffer *parts[2] = {*weight_buf(&L->exp_gate, c), *weight_buf(&L->exp_up, c)};
        if (!parts[0]) continue;
        const mlxc_dtype dt = mlxc_buffer_dtype(parts[0]);
        const size_t es = mlxc_dtype_size(dt), bytes = mlxc_buffer_bytes(parts[0]);
        const uint64_t per = bytes / es / E; /* values of one expert's matrix */
        if (mlxc_buffer_bytes(parts[1]) != bytes || per * E * es != bytes) {
            st = mlxc_set_error(MLXC_ERR_SHAPE, "model: experts' gate and up buffers of %zu and %zu bytes do not stack",
                                bytes, mlxc_buffer_bytes(parts[1]));
            break;
        }
        int64_t shape[2] = {gu.rows, (int64_t)(2 * bytes / es / (uint64_t)gu.rows)};
        mlxc_buffer *nb;
        if ((st = mlxc_buffer_alloc(m->dev, 2 * bytes, dt, 2, shape, &nb)) || (st = own(m, nb))) break;
        m->weight_bytes += 2 * bytes;
        *weight_buf(&gu, c) = nb;
        for (int i = 0; i < 2 && !st; i++) {
            /* expert e's part i goes to values (2e + i) per .. (2e + i + 1) per */
            int64_t vshape[1] = {(int64_t)(2 * E * per - i * per)};
            mlxc_buffer *v = NULL;
            const mlxc_strided_copy sc = {2, {E, per, 0}, {per, 1, 0}, {2 * per, 1, 0}};
            if (!(st = mlxc_buffer_view(nb, i * per * es, dt, 1, vshape, &v))) st = mlxc_copy_strided(enc, parts[i], v, &sc);
            mlxc_buffer_release(v);
            old[c][i] = parts[i];
        }
    }
    if (!st) st = mlxc_encoder_commit_and_wait_labeled(enc, "model.load.stack_experts");
    mlxc_encoder_destroy(enc);
    if (st) return st;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 2; i++)
            if (old[c][i]) disown(m, old[c][i]);
    L->exp_gate_up = gu;
    L->exp_gate.w = L->exp_gate.scales = L->exp_gate.biases = NULL;
    L->exp_up.w = L->exp_up.scales = L->exp_up.biases = NULL;
    return MLXC_OK;
}

/* Whether the fused decode mat-vec takes w, on a GPU on its fast path
 * (mlxc_qmatmul_fused_fast): elsewhere its any-shape path runs 10-200x
 * slower than the separate kernels (Q4_0 rows off 16-byte boundaries,
 * such as SmolLM2's 576 columns, or those columns as MLX 4-bit: 9
 * two-byte scales a row).  The CPU has one
 * path. */
static bool fusable(const mlxc_model *m, const llm_weight *w) {
    if (w->format != LLM_W_QUANT || !w->w) return false;
    mlxc_qmm_weight q = llm_qmm(w);
    const bool gpu = mlxc_device_backend(m->dev) != MLXC_BACKEND_CPU;
    if ((gpu ? mlxc_qmatmul_fused_fast(&q, (uint32_t)w->cols) : mlxc_qmatmul_fused_supported(&q)) == MLXC_OK)
        return true;
    mlxc_clear_error();
    return false;
}

/* q, k, v (or q, k) and gate, up of layer L (a dense MLP's, or the
 * experts') as stacked weights where their storage matches: the decode step
 * then reads each stack in one mat-vec (llm_forward.c).  Only where the weights are device copies: on a device
 * that reads the file's mapping, stacking would copy every weight. */
static mlxc_status stack_layer(binder *b, llm_layer *L) {
    mlxc_status st;
    if (L->qkv_parts == 0 && same_storage(&L->wq, &L->wk)) {
        int n = same_storage(&L->wq, &L->wv) ? 3 : 2;
        llm_weight *const parts[3] = {&L->wq, &L->wk, &L->wv};
        if ((st = stack_rows(b, parts, n, &L->wqkv))) return st;
        L->qkv_parts = n;
    }
    if (!L->w_gate_up.w && L->w_gate.w && same_storage(&L->w_gate, &L->w_up)) {
        llm_weight *const parts[2] = {&L->w_gate, &L->w_up};
        if ((st = stack_rows(b, parts, 2, &L->w_gate_up))) return st;
    }
    if (!L->exp_gate_up.w && L->exp_gate.w && L->exp_gate.rows == L->exp_up.rows &&
        same_storage(&L->exp_gate, &L->exp_up) && (st = stack_experts(b, L)))
        return st;
    return MLXC_OK;
}

/* Qwen2's q, k, v biases as one vector in the stacked row's order, for
 * the fused rope (llm_forward.c); small, so made on every device. */
static mlxc_status stack_biases(binder *b, llm_layer *L) {
    if (!L->bq || !L->bk || !L->bv || L->bqkv) return MLXC_OK;
    mlxc_model *m = b->m;
    mlxc_status st;
    const mlxc_buffer *bs[3] = {L->bq, L->bk, L->bv};
    size_t total = 0, off = 0;
    for (int i = 0; i < 3; i++) total += mlxc_buffer_bytes(bs[i]);
    const mlxc_dtype dt = mlxc_buffer_dtype(L->bq);
    int64_t shape[1] = {(int64_t)(total / mlxc_dtype_size(dt))};
    if ((st = mlxc_buffer_alloc(m->dev, total, dt, 1, shape, &L->bqkv)) || (st = own(m, L->bqkv))) return st;
    for (int i = 0; i < 3; i++) {
        mlxc_buffer *v;
        int64_t vs[1] = {(int64_t)(mlxc_buffer_bytes(bs[i]) / mlxc_dtype_size(dt))};
        if ((st = mlxc_buffer_view(L->bqkv, off, dt, 1, vs, &v)) || (st = own(m, v)) ||
            (st = mlxc_copy(b->enc, bs[i], v)))
            return st;
        off += mlxc_buffer_bytes(bs[i]);
    }
    return MLXC_OK;
}

/* ---- rope ---------------------------------------------------------------------------- */

/* n f32 values into a new buffer the model owns. */
static mlxc_status upload_f32(mlxc_model *m, const float *v, int64_t n, mlxc_buffer **out) {
    int64_t shape[1] = {n};
    mlxc_status st = mlxc_buffer_alloc(m->dev, (size_t)n * 4, MLXC_F32, 1, shape, out);
    if (!st && (st = own(m, *out))) *out = NULL;
    return st ? st : mlxc_buffer_write(*out, 0, v, (size_t)n * 4);
}

/* A rope factor tensor of GGUF (llama3's rope_freqs, LongRoPE's lists):
 * n f32 values, kept f32 whatever the activations (the rope op reads f32).
 * Absent: *out = NULL. */
static mlxc_status bind_rope_factors(binder *b, const role *r, int64_t n, mlxc_buffer **out) {
    *out = NULL;
    size_t i = lookup(b, r, -1);
    if (i == SIZE_MAX) return MLXC_OK;
    mlxc_tensor_info ti;
    mlxc_status st = mlxc_weights_info(b->w, i, &ti);
    if (st || (st = check_shape(b, &ti, 1, &n))) return st;
    if (!ti.dtype_exact || ti.dtype != MLXC_F32)
        return mlxc_set_error(MLXC_ERR_DTYPE, "model: tensor %s is %s; rope factors must be F32", b->name, ti.dtype_name);
    return load_tensor(b, i, out);
}

/* Llama 3's frequency scaling as divisors of the plain inverse frequencies:
 * long wavelengths slowed by `factor`, short ones kept, a smooth blend in
 * between (transformers' _compute_llama3_parameters). */
static mlxc_status llama3_freqs(mlxc_model *m, const mlxc_rope_scaling *rs) {
    if (rs->factor <= 0 || rs->original_max_position_embeddings <= 0 || rs->high_freq_factor <= rs->low_freq_factor)
        return mlxc_set_error(MLXC_ERR_FORMAT,
                              "model: llama3 rope scaling needs factor, low/high_freq_factor and "
                              "original_max_position_embeddings");
    int64_t half = m->rope_dim / 2;
    float *f = malloc((size_t)half * sizeof *f);
    if (!f) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "model: out of memory");
    double old_ctx = (double)rs->original_max_position_embeddings;
    double lo_wl = old_ctx / rs->low_freq_factor, hi_wl = old_ctx / rs->high_freq_factor;
    for (int64_t i = 0; i < half; i++) {
        float inv = (float)(1.0 / pow(m->rope_theta, (double)(2 * i) / (double)m->rope_dim));
        double wl = 2 * M_PI / inv;
        double scaled;
        if (wl < hi_wl) scaled = inv;
        else if (wl > lo_wl) scaled = inv / rs->factor;
        else {
            double smooth = (old_ctx / wl - rs->low_freq_factor) / (rs->high_freq_factor - rs->low_freq_factor);
            scaled = (1 - smooth) * inv / rs->factor + smooth * inv;
        }
        f[i] = (float)(inv / scaled);
    }
    mlxc_status st = upload_f32(m, f, half, &m->rope_freqs);
    free(f);
    return st;
}

/* LongRoPE (Phi-3 long-context models): two lists of divisors of the
 * inverse frequencies, one for contexts up to the pretraining length and
 * one past it (in place: m->rope_freqs and m->rope_freqs_long), and a
 * scale of cos and sin. */
static mlxc_status longrope_finish(mlxc_model *m) {
    const mlxc_rope_scaling *rs = &m->cfg.rope_scaling;
    int64_t orig = rs->original_max_position_embeddings;
    if (orig < 2 || orig > INT32_MAX)
        return mlxc_set_error(MLXC_ERR_FORMAT, "model: LongRoPE needs original_max_position_embeddings (have %lld)",
                              (long long)orig);
    m->rope_orig_ctx = (uint32_t)orig;
    double af = m->cfg.rope_attn_factor;
    if (af <= 0) {   /* transformers' default, from the context extension */
        double factor = rs->factor > 0 ? rs->factor : (double)m->cfg.max_position_embeddings / (double)orig;
        af = factor <= 1 ? 1.0 : sqrt(1 + log(factor) / log((double)orig));
    }
    m->rope_attn_factor = (float)af;
    return MLXC_OK;
}

static mlxc_status setup_rope(binder *b) {
    mlxc_model *m = b->m;
    const mlxc_rope_scaling *rs = &m->cfg.rope_scaling;
    m->rope_theta = (float)m->cfg.rope_theta;
    m->rope_freq_scale = 1.0f;
    m->rope_attn_factor = 1.0f;
    m->rope_dim = m->cfg.rope_dim > 0 ? m->cfg.rope_dim : m->head_dim;
    if (m->rope_dim % 2 || m->rope_dim > m->head_dim)
        return mlxc_set_error(MLXC_ERR_FORMAT, "model: %lld rotated dimensions in a head of %lld (even, at most the head)",
                              (long long)m->rope_dim, (long long)m->head_dim);
    m->rope_mode = (b->gguf && m->arch == MLXC_ARCH_LLAMA) ? MLXC_ROPE_NORM : MLXC_ROPE_NEOX;
    int64_t half = m->rope_dim / 2;
    /* GGUF stores LongRoPE's lists and the llama3 divisors as tensors
     * (llama.cpp's converter). */
    mlxc_buffer *lr_short, *lr_long;
    mlxc_status st;
    if ((st = bind_rope_factors(b, &R_RF_SHORT, half, &lr_short)) ||
        (st = bind_rope_factors(b, &R_RF_LONG, half, &lr_long)))
        return st;
    if (lr_short || lr_long) {
        if (!lr_short || !lr_long)
            return mlxc_set_error(MLXC_ERR_NOT_FOUND, "model: tensor %s is missing (LongRoPE needs both lists)",
                                  lr_short ? R_RF_LONG.gguf : R_RF_SHORT.gguf);
        m->rope_freqs = lr_short;
        m->rope_freqs_long = lr_long;
        return longrope_finish(m);
    }
    st = bind_rope_factors(b, &R_FREQS, half, &m->rope_freqs);
    if (st || m->rope_freqs) return st;
    /* "su", and "yarn" on Phi-3, are older names of LongRoPE (transformers'
     * Phi3Config renames them) */
    if (rs->present && (!strcmp(rs->type, "longrope") || !strcmp(rs->type, "su") ||
                        (m->arch == MLXC_ARCH_PHI3 && !strcmp(rs->type, "yarn")))) {
        if (m->cfg.n_rope_factors != half)
            return mlxc_set_error(MLXC_ERR_FORMAT,
                                  "model: LongRoPE needs short_factor and long_factor of %lld entries (half the "
                                  "rotated dimensions), the config has %d",
                                  (long long)half, (int)m->cfg.n_rope_factors);
        if ((st = upload_f32(m, m->cfg.rope_short_factor, half, &m->rope_freqs)) ||
            (st = upload_f32(m, m->cfg.rope_long_factor, half, &m->rope_freqs_long)))
            return st;
        return longrope_finish(m);
    }
    if (!rs->present || !rs->type[0] || !strcmp(rs->type, "default")) {
        if (rs->present && rs->factor > 0 && !rs->type[0])
            return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "model: rope scaling without a type");
        return MLXC_OK;
    }
    if (!strcmp(rs->type, "llama3")) return llama3_freqs(m, rs);
    if (!strcmp(rs->type, "linear")) {
        if (rs->factor <= 0) return mlxc_set_error(MLXC_ERR_FORMAT, "model: linear rope scaling without a factor");
        m->rope_freq_scale = (float)(1.0 / rs->factor);
        return MLXC_OK;
    }
    return mlxc_set_error(MLXC_ERR_UNSUPPORTED,
                          "model: rope scaling \"%s\" is not supported (llama3, linear, longrope)", rs->type);
}

/* ---- per-layer attention ------------------------------------------------------------- */

static bool is_gemma(const mlxc_model *m) { return m->arch == MLXC_ARCH_GEMMA2 || m->arch == MLXC_ARCH_GEMMA3; }

/* The attention's scale, softcaps and each layer's window and rope.  Gemma
 * alternates sliding-window (local) layers with global ones; Gemma 3's
 * local layers rotate with their own base and without the global layers'
 * rope scaling.  Other architectures use one window (Mistral's, or none)
 * and one rope everywhere. */
static mlxc_status setup_layers(mlxc_model *m, bool gguf) {
    const mlxc_model_config *c = &m->cfg;
    double qpas = (double)m->head_dim;
    int64_t pattern = 0;
    double local_theta = m->rope_theta;
    m->embd_scale = 1.0f;
    if (is_gemma(m)) {
        m->gelu = true;
        m->embd_scale = sqrtf((float)m->dim);
        m->attn_softcap = (float)c->attn_logit_softcap;
        m->final_softcap = (float)c->final_logit_softcap;
        if (c->query_pre_attn_scalar > 0) qpas = c->query_pre_attn_scalar;
        else if (gguf && ((m->arch == MLXC_ARCH_GEMMA2 && m->n_layers == 46) ||
                          (m->arch == MLXC_ARCH_GEMMA3 && m->n_layers == 62)))
            qpas = (double)(m->dim / m->n_heads);   /* the 27B models; GGUF has no key (llama.cpp's rule) */
        if (c->sliding_window > 0) m->window = c->sliding_window > INT32_MAX ? INT32_MAX : (uint32_t)c->sliding_window;
        /* the defaults of transformers and llama.cpp where a file is silent */
        pattern = c->sliding_window_pattern > 0 ? c->sliding_window_pattern : m->arch == MLXC_ARCH_GEMMA2 ? 2 : 6;
        if (m->arch == MLXC_ARCH_GEMMA3) local_theta = c->rope_local_theta > 0 ? c->rope_local_theta : 10000.0;
    }
    m->attn_scale = 1.0f / sqrtf((float)qpas);   /* the form the Llama family always used */
    for (int64_t l = 0; l < m->n_layers; l++) {
        llm_layer *L = &m->layers[l];
        bool local = pattern > 0 && (l + 1) % pattern != 0;
        L->window = pattern == 0 || local ? m->window : 0;
        L->rope_theta = m->rope_theta;
        L->rope_freq_scale = m->rope_freq_scale;
        L->rope_freqs = m->rope_freqs;
        if (local && m->arch == MLXC_ARCH_GEMMA3) {
            L->rope_theta = (float)local_theta;
            L->rope_freq_scale = 1.0f;
            L->rope_freqs = NULL;
        }
    }
    return MLXC_OK;
}

/* ---- open ---------------------------------------------------------------------------- */

static mlxc_status check_config(mlxc_model *m, const mlxc_model_options *opt, bool gguf) {
    mlxc_model_config *c = &m->cfg;
    if (c->hidden_size <= 0 || c->num_layers <= 0 || c->num_heads <= 0 || c->intermediate_size <= 0)
        return mlxc_set_error(MLXC_ERR_FORMAT,
                              "model: the config lacks hidden_size, num_hidden_layers, num_attention_heads "
                              "or intermediate_size");
    if (c->num_kv_heads <= 0) c->num_kv_heads = c->num_heads;
    if (c->head_dim <= 0) c->head_dim = c->hidden_size / c->num_heads;
    if (c->num_heads % c->num_kv_heads)
        return mlxc_set_error(MLXC_ERR_FORMAT, "model: %lld attention heads are not a multiple of %lld KV heads",
                              (long long)c->num_heads, (long long)c->num_kv_heads);
    if (c->head_dim <= 0 || c->head_dim % 2 || c->head_dim > 512)
        return mlxc_set_error(MLXC_ERR_FORMAT, "model: head_dim %lld (even, up to 512)", (long long)c->head_dim);
    if (c->rope_theta <= 0) c->rope_theta = 10000.0;
    if (c->norm_eps <= 0) c->norm_eps = 1e-6;
    const int64_t lim = INT32_MAX / 8;
    if (c->hidden_size > lim || c->intermediate_size > lim || c->num_layers > 4096 || c->num_heads > 4096 ||
        c->num_heads * c->head_dim > lim)
        return mlxc_set_error(MLXC_ERR_FORMAT, "model: the config's sizes are out of range");
    m->dim = c->hidden_size;
    m->n_layers = c->num_layers;
    m->n_heads = c->num_heads;
    m->n_kv_heads = c->num_kv_heads;
    m->head_dim = c->head_dim;
    m->ff = c->intermediate_size;
    m->eps = (float)c->norm_eps;
    if ((m->arch == MLXC_ARCH_QWEN3_MOE || m->arch == MLXC_ARCH_QWEN2_MOE) && c->num_experts <= 0)
        return mlxc_set_error(MLXC_ERR_FORMAT, "model: a %s config without num_experts", mlxc_arch_name(m->arch));
    if (c->num_experts > 0) {
        const int64_t k = c->num_experts_used, eff = c->moe_intermediate_size > 0 ? c->moe_intermediate_size
                                                                                 : c->intermediate_size;
        if (c->num_experts > MLXC_MOE_MAX_EXPERTS || k < 1 || k > c->num_experts || k > MLXC_MOE_MAX_K)
            return mlxc_set_error(MLXC_ERR_FORMAT,
                                  "model: %lld experts, %lld a token (1 .. 64 of at most 512 experts)",
                                  (long long)c->num_experts, (long long)k);
        if (eff > lim || c->num_experts * (eff > c->hidden_size ? eff : c->hidden_size) > INT32_MAX)
            return mlxc_set_error(MLXC_ERR_FORMAT, "model: the experts' sizes are out of range");
        if (c->moe_dense_layers)
            return mlxc_set_error(MLXC_ERR_UNSUPPORTED,
                                  "model: dense layers between the mixture-of-experts ones (decoder_sparse_step "
                                  "or mlp_only_layers) are not supported");
        m->n_experts = c->num_experts;
        m->n_experts_used = k;
        m->expert_ff = eff;
        /* where the file is silent: Mixtral renormalizes (its softmax over
         * the top k is that), Qwen2-MoE does not, and Qwen3-MoE does in
         * llama.cpp (GGUF) but not by transformers' default */
        m->moe_norm = c->norm_topk_prob >= 0            ? c->norm_topk_prob != 0
                      : m->arch == MLXC_ARCH_QWEN2_MOE ? false
                                                        : gguf || m->arch == MLXC_ARCH_LLAMA;
        m->shared_ff = c->shared_expert_intermediate_size;
        if (m->shared_ff > lim) return mlxc_set_error(MLXC_ERR_FORMAT, "model: the shared expert's size is out of range");
    }
    m->act = opt ? opt->act_dtype : MLXC_F32;
    if (m->act != MLXC_F32 && m->act != MLXC_BF16)
        return mlxc_set_error(MLXC_ERR_DTYPE, "model: activations must be f32 or bf16, not %s", mlxc_dtype_name(m->act));
    return MLXC_OK;
}

const char *llm_bytes_str(uint64_t n, char *buf, size_t cap) {
    if (n >= (UINT64_C(1) << 30)) snprintf(buf, cap, "%.2f GiB", (double)n / (double)(UINT64_C(1) << 30));
    else if (n >= (UINT64_C(1) << 20)) snprintf(buf, cap, "%.2f MiB", (double)n / (double)(UINT64_C(1) << 20));
    else snprintf(buf, cap, "%llu bytes", (unsigned long long)n);
    return buf;
}

/* The device memory the model may take (the caller's budget, else the
 * device's memory), checked against the file's tensors before any is
 * loaded.  A CPU device reads weights mapped from the file unless asked to
 * copy them: those the OS pages in and out, and only an explicit budget
 * counts them. */
static mlxc_status check_budget(binder *b, const mlxc_model_options *opt) {
    mlxc_model *m = b->m;
    mlxc_device_caps caps;
    mlxc_status st = mlxc_device_caps_get(m->dev, &caps);
    if (st) return st;
    bool given = opt && opt->memory_budget;
    bool mapped = caps.host_visible && !(b->lopt.flags & MLXC_LOAD_COPY);
    b->mapped = mapped;
    m->mem_budget = given ? opt->memory_budget : caps.total_memory;
    if (mapped && !given) return MLXC_OK;
    b->count_weights = true;
    uint64_t need = mlxc_weights_total_bytes(b->w);
    /* Q4_0 / Q8_0 restated as MLX affine: 20 bytes a block of 18, 36 of 34 */
    for (size_t i = 0, n = b->as_affine ? mlxc_weights_count(b->w) : 0; i < n; i++) {
        mlxc_tensor_info ti;
        if (mlxc_weights_info(b->w, i, &ti) != MLXC_OK) continue;
        if (ti.ggml_type == MLXC_GGML_Q4_0) need += ti.bytes / 9;
        else if (ti.ggml_type == MLXC_GGML_Q8_0) need += ti.bytes / 17;
    }
    char a[32], c[32];
    if (m->mem_budget && need > m->mem_budget)
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "model: the weights take %s, more than the %s %s",
                              llm_bytes_str(need, a, sizeof a), llm_bytes_str(m->mem_budget, c, sizeof c),
                              given ? "of memory_budget" : "of memory the device has");
    return MLXC_OK;
}

static mlxc_status bind_all(binder *b) {
    mlxc_model *m = b->m;
    mlxc_status st;
    /* the embedding fixes the vocabulary: config vocab_size may count padding */
    size_t ei = lookup(b, &R_EMBD, -1);
    if (ei == SIZE_MAX) return mlxc_set_error(MLXC_ERR_NOT_FOUND, "model: tensor %s is missing", b->name);
    mlxc_tensor_info ti;
    if ((st = mlxc_weights_info(b->w, ei, &ti))) return st;
    mlxc_quant_triple qt;
    if (!b->gguf && mlxc_weights_quant_find(b->w, b->name, &qt) == MLXC_OK) {
        ti.shape[0] = qt.rows;   /* the packed words hide the column count */
        ti.shape[1] = qt.cols;
    }
    mlxc_clear_error();
    if (ti.ndim != 2 || ti.shape[1] != m->dim || ti.shape[0] <= 0 || ti.shape[0] > INT32_MAX) {
        int64_t want[2] = {m->cfg.vocab_size > 0 ? m->cfg.vocab_size : ti.shape[0], m->dim};
        return check_shape(b, &ti, 2, want);
    }
    m->vocab = ti.shape[0];
    if ((st = bind_linear_as(b, &R_EMBD, -1, m->vocab, m->dim, CONV_AFFINE, &m->embd))) return st;
    if (m->embd.format == LLM_W_DENSE) m->tok_embd = m->embd.w;
    if ((st = bind_norm(b, &R_NORM, -1, m->dim, false, &m->out_norm))) return st;
    if (lookup(b, &R_OUT, -1) != SIZE_MAX) {
        if ((st = bind_linear(b, &R_OUT, -1, m->vocab, m->dim, &m->output))) return st;
    } else if (m->cfg.tie_word_embeddings || b->gguf) {
        m->output = m->embd;   /* the same table, quantized or not */
    } else {
        return mlxc_set_error(MLXC_ERR_NOT_FOUND,
                              "model: tensor %s is missing (tie_word_embeddings is false)", b->name);
    }
    if ((st = setup_rope(b))) return st;

    int64_t qd = m->n_heads * m->head_dim, kvd = m->n_kv_heads * m->head_dim;
    m->layers = calloc((size_t)m->n_layers, sizeof *m->layers);
    if (!m->layers) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "model: out of memory");
    bool bias = m->arch == MLXC_ARCH_QWEN2 || m->arch == MLXC_ARCH_QWEN2_MOE;
    bool qk_norm = m->arch == MLXC_ARCH_QWEN3 || m->arch == MLXC_ARCH_QWEN3_MOE || m->arch == MLXC_ARCH_GEMMA3;
    bool gemma = is_gemma(m);
    for (int l = 0; l < (int)m->n_layers; l++) {
        llm_layer *L = &m->layers[l];
        if ((st = bind_norm(b, &R_ANORM, l, m->dim, false, &L->attn_norm)) ||
            (st = bind_qkv(b, l, L, qd, kvd)) ||
            (st = bind_linear(b, &R_O, l, m->dim, qd, &L->wo)) ||
            /* biases are Qwen2's by definition, and taken wherever a file has them */
            (st = bind_vec(b, &R_BQ, l, qd, !bias, &L->bq)) ||
            (st = bind_vec(b, &R_BK, l, kvd, !bias, &L->bk)) ||
            (st = bind_vec(b, &R_BV, l, kvd, !bias, &L->bv)) ||
            (st = bind_norm(b, &R_QNORM, l, m->head_dim, !qk_norm, &L->q_norm)) ||
            (st = bind_norm(b, &R_KNORM, l, m->head_dim, !qk_norm, &L->k_norm)) ||
            (st = bind_norm(b, gemma ? &R_G_FNORM : &R_FNORM, l, m->dim, false, &L->ffn_norm)) ||
            (gemma && (st = bind_norm(b, &R_G_PANORM, l, m->dim, false, &L->post_attn_norm))) ||
            (gemma && (st = bind_norm(b, &R_G_PFNORM, l, m->dim, false, &L->post_ffn_norm))) ||
            (m->n_experts && (st = bind_moe(b, l, L))) ||
            (!m->n_experts && (st = bind_gate_up(b, l, L))) ||
            (!m->n_experts && (st = bind_linear(b, &R_DOWN, l, m->dim, m->ff, &L->w_down))))
            return st;
        if ((!b->mapped && (st = stack_layer(b, L))) || (st = stack_biases(b, L))) return st;
        L->fuse_qkv = (L->qkv_parts == 3 && fusable(m, &L->wqkv)) ||
                      (L->qkv_parts == 2 && fusable(m, &L->wqkv) && fusable(m, &L->wv));
        L->fuse_wo = fusable(m, &L->wo);
        L->fuse_gate_up = fusable(m, &L->w_gate_up);
        L->fuse_down = L->w_gate_up.w && fusable(m, &L->w_down);
        L->fuse_exp_down = L->exp_gate_up.w && m->act == MLXC_BF16 && fusable(m, &L->exp_down);
        if ((L->q_norm != NULL) != (L->k_norm != NULL))
            return mlxc_set_error(MLXC_ERR_NOT_FOUND, "model: layer %d has only one of the q/k norms", l);
        if (m->rope_mode == MLXC_ROPE_NORM && L->q_norm)
            return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "model: q/k norms on permuted GGUF llama weights");
    }
    return setup_layers(m, b->gguf);
}

static bool is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static mlxc_status load_tokenizer(mlxc_model *m, mlxc_weights *w, const char *path) {
    mlxc_status st;
    if (mlxc_weights_format(w) == MLXC_FORMAT_GGUF) st = mlxc_tokenizer_load_gguf_handle(mlxc_weights_gguf(w), &m->tok);
    else if (is_dir(path)) st = mlxc_tokenizer_load(path, &m->tok);
    else return MLXC_OK;
    if (st == MLXC_ERR_NOT_FOUND) {
        mlxc_clear_error();
        m->tok = NULL;
        return MLXC_OK;
    }
    if (st) return st;
    /* the chat template travels with the tokenizer: GGUF metadata, or the
     * directory's chat_template.jinja / chat_template.json / tokenizer_config.json */
    if (mlxc_weights_format(w) == MLXC_FORMAT_GGUF) st = mlxc_chat_template_read_gguf(mlxc_weights_gguf(w), &m->chat_template, NULL);
    else st = mlxc_chat_template_read(path, &m->chat_template, NULL);
    if (st == MLXC_ERR_NOT_FOUND) {
        mlxc_clear_error();
        m->chat_template = NULL;
        return MLXC_OK;
    }
    return st;
}

mlxc_status mlxc_model_open(mlxc_device *dev, const char *path, mlxc_model **out) {
    return mlxc_model_open_ex(dev, path, NULL, out);
}

mlxc_status mlxc_model_open_ex(mlxc_device *dev, const char *path, const mlxc_model_options *opt, mlxc_model **out) {
    MLXC_CHECK_ARG(dev && path && out, "mlxc_model_open: NULL argument");
    *out = NULL;
    mlxc_weights *w;
    mlxc_status st = mlxc_weights_open(path, &w);
    if (st) return st;
    mlxc_model *m = calloc(1, sizeof *m);
    if (!m) {
        mlxc_weights_close(w);
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "model: out of memory");
    }
    m->dev = dev;
    const mlxc_model_config *cfg = mlxc_weights_config(w);
    binder b = {.m = m, .w = w, .gguf = mlxc_weights_format(w) == MLXC_FORMAT_GGUF,
                .user_progress = opt ? opt->progress : NULL, .user = opt ? opt->user : NULL,
                .total = mlxc_weights_total_bytes(w)};
    b.lopt.flags = opt ? opt->load_flags : 0;
    b.as_affine = b.gguf && mlxc_env_int("MLXC_GGML_AS_AFFINE", opt && opt->ggml_as_affine ? 1 : 0) != 0;
    b.tiles = b.gguf && !b.as_affine && mlxc_env_int("MLXC_GGML_TILES", opt && opt->ggml_tiles ? 1 : 0) != 0;
    if (b.user_progress) {
        b.lopt.progress = per_tensor_progress;
        b.lopt.user = &b;
    }
    if (!cfg) {
        st = mlxc_set_error(MLXC_ERR_NOT_FOUND, "model: %s has no config.json or GGUF model metadata", path);
        goto fail;
    }
    m->cfg = *cfg;
    m->cfg.quant_overrides = NULL;   /* owned by the weights handle */
    if ((st = find_arch(m)) || (st = check_config(m, opt, b.gguf)) || (st = check_budget(&b, opt))) goto fail;
    b.norm_plus_one = is_gemma(m) && !b.gguf;
    if ((st = mlxc_encoder_create(dev, &b.enc))) goto fail;
    mlxc_encoder_set_auto_barrier(b.enc, true);
    if ((st = bind_all(&b))) goto fail;
    /* tensors the architecture does not read count as done */
    if (b.user_progress && !b.user_progress(b.total, b.total, b.user)) {
        st = mlxc_set_error(MLXC_ERR_STATE, "model: loading stopped by the progress callback");
        goto fail;
    }
    if ((st = mlxc_encoder_commit_and_wait_labeled(b.enc, "model.load"))) goto fail;
    mlxc_encoder_destroy(b.enc);
    b.enc = NULL;
    if ((!opt || !opt->no_tokenizer) && (st = load_tokenizer(m, w, path))) goto fail;
    m->cfg.vocab_size = m->vocab;
    m->mem_weights = b.count_weights ? m->weight_bytes : 0;
    mlxc_weights_close(w);
    *out = m;
    return MLXC_OK;
fail:
    mlxc_encoder_destroy(b.enc);
    mlxc_weights_close(w);
    mlxc_model_close(m);
    return st;
}

void mlxc_model_close(mlxc_model *m) {
    if (!m) return;
    for (size_t i = 0; i < m->n_owned; i++) mlxc_buffer_release(m->owned[i]);
    free(m->owned);
    free(m->layers);
    mlxc_tokenizer_free(m->tok);
    free(m->chat_template);
    free(m);
}

mlxc_arch mlxc_model_arch(const mlxc_model *m) { return m ? m->arch : (mlxc_arch)0; }
mlxc_device *mlxc_model_device(const mlxc_model *m) { return m ? m->dev : NULL; }
const mlxc_model_config *mlxc_model_get_config(const mlxc_model *m) { return m ? &m->cfg : NULL; }
const mlxc_tokenizer *mlxc_model_tokenizer(const mlxc_model *m) { return m ? m->tok : NULL; }
const char *mlxc_model_chat_template(const mlxc_model *m) { return m ? m->chat_template : NULL; }
int64_t mlxc_model_vocab_size(const mlxc_model *m) { return m ? m->vocab : 0; }
uint64_t mlxc_model_weight_bytes(const mlxc_model *m) { return m ? m->weight_bytes : 0; }

/* Bytes of a weight's buffers (data, scales, biases). */
static uint64_t llm_weight_bytes(const llm_weight *w) {
    const mlxc_buffer *bs[3] = {w->w, w->scales, w->biases};
    uint64_t n = 0;
    for (int j = 0; j < 3; j++) n += bs[j] ? mlxc_buffer_bytes(bs[j]) : 0;
    return n;
}

uint64_t mlxc_model_decode_weight_bytes(const mlxc_model *m) {
    if (!m) return 0;
    /* the token embeddings: a token reads one row, unless the output head
     * is the same table (then the head reads all of it) */
    uint64_t skip = 0;
    if (m->embd.w && m->embd.w != m->output.w && m->vocab > 0) {
        const uint64_t e = llm_weight_bytes(&m->embd);
        skip = e - e / (uint64_t)m->vocab;
    }
    uint64_t experts = 0;
    for (int64_t l = 0; m->n_experts && l < m->n_layers; l++) {
        const llm_weight *ws[4] = {&m->layers[l].exp_gate, &m->layers[l].exp_up, &m->layers[l].exp_down,
                                   &m->layers[l].exp_gate_up};
        for (int i = 0; i < 4; i++) experts += llm_weight_bytes(ws[i]);
    }
    if (skip + experts > m->weight_bytes) return m->weight_bytes;
    return m->weight_bytes - skip - experts +
           (m->n_experts ? (uint64_t)((double)experts * (double)m->n_experts_used / (double)m->n_experts + 0.5) : 0);
}
