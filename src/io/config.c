/*
 * Model hyperparameters: Hugging Face / MLX config.json and GGUF metadata,
 * both into mlxc_model_config; MLX quantization sections and their per-layer
 * lookup.
 */
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "io/io_internal.h"

typedef struct quant_entry {
    char             *name;
    mlxc_quant_params p;
} quant_entry;

struct mlxc_quant_table {
    quant_entry  *e;      /* [n] in file order                                   */
    size_t        n;
    mlxc_io_names names;
};

static void quant_table_free(mlxc_quant_table *q) {
    if (!q) return;
    for (size_t i = 0; i < q->n; i++) free(q->e[i].name);
    free(q->e);
    mlxc_io_names_free(&q->names);
    free(q);
}

void mlxc_model_config_init(mlxc_model_config *cfg) {
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
}

/* A struct the fill functions rejected was never written: nothing to free. */
void mlxc_model_config_clear(mlxc_model_config *cfg) {
    if (!cfg || cfg->struct_size < MLXC_MODEL_CONFIG_SIZE_V1) return;
    const size_t size = cfg->struct_size;
    quant_table_free(cfg->quant_overrides);
    memset(cfg, 0, size < sizeof *cfg ? size : sizeof *cfg);
    cfg->struct_size = size;
}

static mlxc_status cfg_check_size(const char *fn, const mlxc_model_config *cfg) {
    MLXC_CHECK_ARG(cfg->struct_size >= MLXC_MODEL_CONFIG_SIZE_V1,
                   "%s: cfg struct_size %zu (start it from MLXC_MODEL_CONFIG_INIT or mlxc_model_config_init; "
                   "at least %zu)",
                   fn, cfg->struct_size, (size_t)MLXC_MODEL_CONFIG_SIZE_V1);
    return MLXC_OK;
}

/* Zero the caller's struct within its size (its contents are not ours to
 * free: it may never have been filled). */
static void cfg_zero(mlxc_model_config *cfg) {
    const size_t size = cfg->struct_size;
    memset(cfg, 0, size < sizeof *cfg ? size : sizeof *cfg);
    cfg->struct_size = size;
}

/* Hand a filled full-size config to the caller's struct of its own size. */
static void cfg_store(mlxc_model_config *cfg, mlxc_model_config *full) {
    const size_t size = cfg->struct_size;
    memcpy(cfg, full, size < sizeof *full ? size : sizeof *full);
    cfg->struct_size = size;
}

static void qname_get(const void *ctx, size_t i, const char **s, size_t *n) {
    const mlxc_quant_table *q = ctx;
    *s = q->e[i].name;
    *n = strlen(q->e[i].name);
}

/* ---- config.json ------------------------------------------------------------------ */

/* Look a field up in the text config first (multimodal models nest the
 * language model's settings there), then at the top level. */
typedef struct cfg_src { json_t *text, *root; } cfg_src;

static json_t *field(const cfg_src *s, const char *k) {
    json_t *v = s->text ? json_object_get(s->text, k) : NULL;
    if (!v || json_is_null(v)) v = json_object_get(s->root, k);
    return (v && !json_is_null(v)) ? v : NULL;
}

/* The first of `keys` that is present, as a non-negative integer. */
static mlxc_status get_int(const cfg_src *s, const char *const *keys, int64_t *out) {
    for (; *keys; keys++) {
        json_t *v = field(s, *keys);
        if (!v) continue;
        /* 4096.0 is accepted as 4096; the range check comes before the
         * cast, which is undefined for doubles outside int64 (found by
         * fuzz_config) */
        double d = json_is_real(v) ? json_real_value(v) : 0;
        if (json_is_real(v) && d >= -9.0e18 && d <= 9.0e18 && d == (double)(int64_t)d)
            *out = (int64_t)d;
        else if (json_is_integer(v))
            *out = json_integer_value(v);
        else
            return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: \"%s\" is not an integer", *keys);
        if (*out < 0) return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: \"%s\" is negative", *keys);
        return MLXC_OK;
    }
    return MLXC_OK;
}

static mlxc_status get_num(const cfg_src *s, const char *const *keys, double *out) {
    for (; *keys; keys++) {
        json_t *v = field(s, *keys);
        if (!v) continue;
        if (!json_is_number(v)) return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: \"%s\" is not a number", *keys);
        *out = json_number_value(v);
        return MLXC_OK;
    }
    return MLXC_OK;
}

/* A LongRoPE list (short_factor, long_factor) of rs into dst; *n is the
 * length both lists must share (0 until the first is read). */
static mlxc_status get_factors(json_t *rs, const char *key, float *dst, int32_t *n) {
    json_t *a = json_object_get(rs, key);
    if (!a || json_is_null(a)) return MLXC_OK;
    size_t len = json_is_array(a) ? json_array_size(a) : 0;
    if (!len || len > MLXC_MAX_ROPE_FACTORS)
        return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: rope \"%s\" is not a list of 1 to %d numbers", key,
                              MLXC_MAX_ROPE_FACTORS);
    if (*n && (size_t)*n != len)
        return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: rope \"%s\" has %zu entries, the other list %d", key,
                              len, (int)*n);
    for (size_t i = 0; i < len; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_number(v) || !(json_number_value(v) > 0))
            return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: rope \"%s\"[%zu] is not a positive number", key, i);
        dst[i] = (float)json_number_value(v);
    }
    *n = (int32_t)len;
    return MLXC_OK;
}

static void copy_str(char *dst, size_t cap, const char *s) {
    snprintf(dst, cap, "%s", s);
}

/* An entry that sets any quantization parameter (as opposed to a model
 * section that merely sits in the same object). */
static bool is_qparams(json_t *v) {
    return json_is_object(v) &&
           (json_object_get(v, "bits") || json_object_get(v, "group_size") || json_object_get(v, "mode"));
}

static mlxc_status parse_qparams(json_t *o, const mlxc_quant_params *def, const char *what, mlxc_quant_params *p) {
    *p = *def;
    p->quantized = true;
    json_t *b = json_object_get(o, "bits"), *g = json_object_get(o, "group_size"), *m = json_object_get(o, "mode");
    if (m) {
        if (!json_is_string(m) || mlxc_qformat_from_mlx_mode(json_string_value(m), &p->mode))
            return mlxc_set_error(MLXC_ERR_FORMAT,
                                  "config.json: %s: \"mode\" must be \"affine\", \"mxfp4\", \"nvfp4\" or \"mxfp8\"", what);
    }
    /* The microscaling modes fix bits and group size; a file may omit them. */
    int mbits = p->mode == MLXC_QF_MLX_MXFP8 ? 8 : 4, mgroup = p->mode == MLXC_QF_MLX_NVFP4 ? 16 : 32;
    if (m && p->mode != MLXC_QF_MLX_AFFINE) p->bits = mbits, p->group_size = mgroup;
    if (b) {
        if (!json_is_integer(b) || json_integer_value(b) < 1 || json_integer_value(b) > 8)
            return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: %s: \"bits\" must be an integer in 1..8", what);
        p->bits = (int)json_integer_value(b);
    }
    if (g) {
        if (!json_is_integer(g) || json_integer_value(g) < 1 || json_integer_value(g) > (1 << 20))
            return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: %s: \"group_size\" must be a positive integer", what);
        p->group_size = (int)json_integer_value(g);
    }
    if (p->mode != MLXC_QF_MLX_AFFINE && (p->bits != mbits || p->group_size != mgroup))
        return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: %s: mode %s has %d bits and group size %d, not %d and %d",
                              what, mlxc_qformat_name(p->mode), mbits, mgroup, p->bits, p->group_size);
    return MLXC_OK;
}

static mlxc_status parse_quant(json_t *q, mlxc_model_config *cfg) {
    if (!json_is_object(q)) return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: \"quantization\" is not an object");
    mlxc_quant_params def = {.quantized = true, .bits = 0, .group_size = 0, .mode = MLXC_QF_MLX_AFFINE};
    mlxc_status st = parse_qparams(q, &def, "quantization", &cfg->quant);
    if (st) return st;
    if (!cfg->quant.bits || !cfg->quant.group_size)
        return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: \"quantization\" lacks \"bits\" or \"group_size\"");
    cfg->has_quantization = true;

    /* Per-layer entries: an object with bits/group_size, or a bool (false:
     * left unquantized, true: the default). */
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(q, k, v) {
        if (json_is_boolean(v) || is_qparams(v)) n++;
    }
    if (n == 0) return MLXC_OK;
    mlxc_quant_table *t = calloc(1, sizeof *t);
    if (!t || !(t->e = calloc(n, sizeof *t->e))) {
        free(t);
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
    }
    cfg->quant_overrides = t;
    json_object_foreach(q, k, v) {
        mlxc_quant_params p;
        if (json_is_boolean(v)) {
            p = cfg->quant;
            p.quantized = json_is_true(v);
        } else if (is_qparams(v)) {
            char what[96];
            snprintf(what, sizeof what, "quantization entry \"%.64s\"", k);
            if ((st = parse_qparams(v, &cfg->quant, what, &p))) return st;
        } else {
            continue;
        }
        if (!(t->e[t->n].name = strdup(k))) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
        t->e[t->n++].p = p;
    }
    size_t dup;
    return mlxc_io_names_build(&t->names, t->n, qname_get, t, &dup);   /* JSON keys are unique */
}

/* The period of a layer_types list ("sliding_attention" / "full_attention")
 * where layer i is global exactly when (i + 1) % period == 0; 0 when the
 * list has another form (the caller then knows nothing of it). */
static int64_t layer_types_period(json_t *lt) {
    size_t n = json_array_size(lt);
    int64_t period = (int64_t)n + 1;   /* no global layer */
    for (size_t i = 0; i < n; i++) {
        const char *t = json_string_value(json_array_get(lt, i));
        if (t && !strcmp(t, "full_attention")) {
            period = (int64_t)i + 1;
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *t = json_string_value(json_array_get(lt, i));
        bool global = ((int64_t)i + 1) % period == 0;
        if (!t || strcmp(t, global ? "full_attention" : "sliding_attention")) return 0;
    }
    return period;
}

/* Gemma's local / global layers: softcaps, the attention scale, the local
 * rope base (transformers 4: rope_local_base_freq; 5: the
 * "sliding_attention" entry of rope_parameters) and the layer pattern. */
static mlxc_status parse_local_global(const cfg_src *s, mlxc_model_config *cfg) {
    static const char *const k_acap[] = {"attn_logit_softcapping", NULL};
    static const char *const k_fcap[] = {"final_logit_softcapping", NULL};
    static const char *const k_qpas[] = {"query_pre_attn_scalar", NULL};
    static const char *const k_local[] = {"rope_local_base_freq", NULL};
    static const char *const k_pat[] = {"sliding_window_pattern", NULL};
    static const char *const k_theta[] = {"rope_theta", NULL};
    mlxc_status st;
    if ((st = get_num(s, k_acap, &cfg->attn_logit_softcap)) || (st = get_num(s, k_fcap, &cfg->final_logit_softcap)) ||
        (st = get_num(s, k_qpas, &cfg->query_pre_attn_scalar)) || (st = get_num(s, k_local, &cfg->rope_local_theta)) ||
        (st = get_int(s, k_pat, &cfg->sliding_window_pattern)))
        return st;
    if (cfg->attn_logit_softcap < 0 || cfg->final_logit_softcap < 0 || cfg->query_pre_attn_scalar < 0 ||
        cfg->rope_local_theta < 0)
        return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: a softcap, query_pre_attn_scalar or "
                                               "rope_local_base_freq is negative");
    json_t *rp = field(s, "rope_parameters");
    json_t *loc = rp && json_is_object(rp) ? json_object_get(rp, "sliding_attention") : NULL;
    if (loc && json_is_object(loc) && cfg->rope_local_theta == 0) {
        cfg_src r = {.text = NULL, .root = loc};
        if ((st = get_num(&r, k_theta, &cfg->rope_local_theta))) return st;
    }
    json_t *lt = field(s, "layer_types");
    if (lt && !json_is_array(lt)) return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: \"layer_types\" is not an array");
    if (lt && cfg->sliding_window_pattern == 0) cfg->sliding_window_pattern = layer_types_period(lt);
    return MLXC_OK;
}

static mlxc_status parse_root(json_t *root, mlxc_model_config *cfg) {
    if (!json_is_object(root)) return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: not a JSON object");
    cfg_src s = {.text = NULL, .root = root};
    json_t *tc = json_object_get(root, "text_config");
    if (tc && json_is_object(tc)) s.text = tc;
    else if (tc && !json_is_null(tc)) return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: \"text_config\" is not an object");

    json_t *a = json_object_get(root, "architectures");
    if (a && !json_is_null(a)) {
        if (!json_is_array(a)) return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: \"architectures\" is not an array");
        json_t *a0 = json_array_get(a, 0);
        if (a0 && !json_is_string(a0))
            return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: \"architectures\"[0] is not a string");
        if (a0) copy_str(cfg->architecture, sizeof cfg->architecture, json_string_value(a0));
    }
    json_t *mt = field(&s, "model_type");
    if (mt) {
        if (!json_is_string(mt)) return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: \"model_type\" is not a string");
        copy_str(cfg->model_type, sizeof cfg->model_type, json_string_value(mt));
    }
    mlxc_status st;
    static const char *const k_hidden[] = {"hidden_size", "n_embd", "d_model", "dim", NULL};
    static const char *const k_inter[] = {"intermediate_size", "n_inner", "ffn_dim", "hidden_dim", NULL};
    static const char *const k_layers[] = {"num_hidden_layers", "n_layer", "num_layers", "n_layers", NULL};
    static const char *const k_heads[] = {"num_attention_heads", "n_head", "n_heads", NULL};
    static const char *const k_kv[] = {"num_key_value_heads", "n_kv_heads", "num_kv_heads", NULL};
    static const char *const k_hd[] = {"head_dim", NULL};
    static const char *const k_vocab[] = {"vocab_size", NULL};
    static const char *const k_pos[] = {"max_position_embeddings", "n_positions", "max_seq_len", NULL};
    static const char *const k_sw[] = {"sliding_window", NULL};
    static const char *const k_theta[] = {"rope_theta", NULL};
    static const char *const k_eps[] = {"rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "norm_eps",
                                        "norm_epsilon", NULL};
    if ((st = get_int(&s, k_hidden, &cfg->hidden_size)) || (st = get_int(&s, k_inter, &cfg->intermediate_size)) ||
        (st = get_int(&s, k_layers, &cfg->num_layers)) || (st = get_int(&s, k_heads, &cfg->num_heads)) ||
        (st = get_int(&s, k_kv, &cfg->num_kv_heads)) || (st = get_int(&s, k_hd, &cfg->head_dim)) ||
        (st = get_int(&s, k_vocab, &cfg->vocab_size)) || (st = get_int(&s, k_pos, &cfg->max_position_embeddings)) ||
        (st = get_int(&s, k_sw, &cfg->sliding_window)) || (st = get_num(&s, k_theta, &cfg->rope_theta)) ||
        (st = get_num(&s, k_eps, &cfg->norm_eps)))
        return st;
    static const char *const k_nexp[] = {"num_experts", "num_local_experts", "n_routed_experts", NULL};
    static const char *const k_kexp[] = {"num_experts_per_tok", NULL};
    static const char *const k_fexp[] = {"moe_intermediate_size", NULL};
    static const char *const k_step[] = {"decoder_sparse_step", NULL};
    static const char *const k_shexp[] = {"shared_expert_intermediate_size", NULL};
    int64_t step = 0;
    if ((st = get_int(&s, k_nexp, &cfg->num_experts)) || (st = get_int(&s, k_kexp, &cfg->num_experts_used)) ||
        (st = get_int(&s, k_fexp, &cfg->moe_intermediate_size)) || (st = get_int(&s, k_step, &step)) ||
        (st = get_int(&s, k_shexp, &cfg->shared_expert_intermediate_size)))
        return st;
    json_t *mlp_only = field(&s, "mlp_only_layers");
    if (mlp_only && !json_is_array(mlp_only))
        return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: \"mlp_only_layers\" is not an array");
    cfg->moe_dense_layers = step > 1 || (mlp_only && json_array_size(mlp_only) > 0);
    json_t *ntp = field(&s, "norm_topk_prob");
    if (ntp && !json_is_boolean(ntp))
        return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: \"norm_topk_prob\" is not a bool");
    cfg->norm_topk_prob = ntp ? json_is_true(ntp) : -1;
    json_t *tie = field(&s, "tie_word_embeddings");
    if (tie) {
        if (!json_is_boolean(tie))
            return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: \"tie_word_embeddings\" is not a bool");
        cfg->tie_word_embeddings = json_is_true(tie);
    }
    /* transformers 4 writes rope_theta + rope_scaling; transformers 5 one
     * rope_parameters object holding both (keyed by layer type where local
     * and global layers differ: then the "full_attention" entry). */
    json_t *rs = field(&s, "rope_scaling");
    const char *rs_name = "rope_scaling";
    json_t *rp = field(&s, "rope_parameters");
    if (rp && json_is_object(rp) && json_is_object(json_object_get(rp, "full_attention")))
        rp = json_object_get(rp, "full_attention");
    if (rp && !json_is_object(rp))
        return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: \"rope_parameters\" is not an object");
    if (rp) {
        cfg_src r = {.text = NULL, .root = rp};
        if (cfg->rope_theta == 0 && (st = get_num(&r, k_theta, &cfg->rope_theta))) return st;
        json_t *t = json_object_get(rp, "rope_type");
        if (!rs && !(t && json_is_string(t) && strcmp(json_string_value(t), "default") == 0)) {
            rs = rp;
            rs_name = "rope_parameters";
        }
    }
    if (rs) {
        if (!json_is_object(rs)) return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: \"%s\" is not an object", rs_name);
        cfg_src r = {.text = NULL, .root = rs};
        cfg->rope_scaling.present = true;
        json_t *t = json_object_get(rs, "rope_type");
        if (!t) t = json_object_get(rs, "type");
        if (t) {
            if (!json_is_string(t)) return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: %s type is not a string", rs_name);
            copy_str(cfg->rope_scaling.type, sizeof cfg->rope_scaling.type, json_string_value(t));
        }
        static const char *const k_f[] = {"factor", NULL}, *const k_lo[] = {"low_freq_factor", NULL},
                                 *const k_hi[] = {"high_freq_factor", NULL},
                                 *const k_orig[] = {"original_max_position_embeddings", NULL};
        static const char *const k_af[] = {"attention_factor", NULL};
        if ((st = get_num(&r, k_f, &cfg->rope_scaling.factor)) ||
            (st = get_num(&r, k_lo, &cfg->rope_scaling.low_freq_factor)) ||
            (st = get_num(&r, k_hi, &cfg->rope_scaling.high_freq_factor)) ||
            (st = get_int(&r, k_orig, &cfg->rope_scaling.original_max_position_embeddings)) ||
            (st = get_num(&r, k_af, &cfg->rope_attn_factor)) ||
            (st = get_factors(rs, "short_factor", cfg->rope_short_factor, &cfg->n_rope_factors)) ||
            (st = get_factors(rs, "long_factor", cfg->rope_long_factor, &cfg->n_rope_factors)))
            return st;
        /* Phi-3 configs keep the pretraining context at the top level */
        static const char *const k_orig_top[] = {"original_max_position_embeddings", NULL};
        if (!cfg->rope_scaling.original_max_position_embeddings &&
            (st = get_int(&s, k_orig_top, &cfg->rope_scaling.original_max_position_embeddings)))
            return st;
    }
    if (cfg->num_heads && !cfg->num_kv_heads) cfg->num_kv_heads = cfg->num_heads;
    if (cfg->num_heads && !cfg->head_dim && cfg->hidden_size) cfg->head_dim = cfg->hidden_size / cfg->num_heads;
    if ((st = parse_local_global(&s, cfg))) return st;
    /* partial rotary: at the top level (transformers 4) or among the rope
     * parameters (transformers 5), where a "default" rope leaves rs unset */
    static const char *const k_prf[] = {"partial_rotary_factor", NULL};
    double prf = 0;
    if ((st = get_num(&s, k_prf, &prf))) return st;
    json_t *ro = rp ? rp : rs;
    if (prf == 0 && ro && json_is_object(ro)) {
        cfg_src r = {.text = NULL, .root = ro};
        if ((st = get_num(&r, k_prf, &prf))) return st;
    }
    if (prf != 0) {
        if (!(prf > 0 && prf <= 1))
            return mlxc_set_error(MLXC_ERR_FORMAT, "config.json: \"partial_rotary_factor\" %g is not in (0, 1]", prf);
        cfg->rope_dim = (int64_t)((double)cfg->head_dim * prf);   /* transformers truncates the same way */
    }

    json_t *q = json_object_get(root, "quantization");
    if (!q || json_is_null(q)) {
        /* MLX writes both; others (GPTQ, AWQ, ...) only quantization_config,
         * which we read when it has MLX's fields. */
        json_t *qc = json_object_get(root, "quantization_config");
        if (qc && json_is_object(qc) && json_object_get(qc, "bits") && json_object_get(qc, "group_size")) q = qc;
        else q = NULL;
    }
    if (q) return parse_quant(q, cfg);
    return MLXC_OK;
}

mlxc_status mlxc_model_config_parse(const char *text, size_t len, mlxc_model_config *out) {
    MLXC_CHECK_ARG(out && (text || len == 0), "mlxc_model_config_parse: NULL argument");
    mlxc_status st = cfg_check_size("mlxc_model_config_parse", out);
    if (st) return st;
    mlxc_model_config full_, *cfg = &full_;
    mlxc_model_config_init(cfg);
    cfg_zero(out);
    json_t *root;
    st = mlxc_io_json_parse(text ? text : "", len, "config.json", &root);
    if (st) return st;
    st = parse_root(root, cfg);
    json_decref(root);
    if (st) mlxc_model_config_clear(cfg);
    else cfg_store(out, cfg);
    return st;
}

mlxc_status mlxc_model_config_load(const char *path, mlxc_model_config *cfg) {
    MLXC_CHECK_ARG(path && cfg, "mlxc_model_config_load: NULL argument");
    mlxc_status st0 = cfg_check_size("mlxc_model_config_load", cfg);
    if (st0) return st0;
    cfg_zero(cfg);
    struct stat sb;
    char *full = NULL;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if (asprintf(&full, "%s/config.json", path) < 0) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
        path = full;
    }
    char *text;
    size_t len;
    mlxc_status st = mlxc_io_read_text(path, (size_t)64 << 20, &text, &len);
    if (st == MLXC_OK) {
        st = mlxc_model_config_parse(text, len, cfg);
        if (st) {
            /* prefix the path: the parser only knows "config.json" */
            char msg[512];
            snprintf(msg, sizeof msg, "%s", mlxc_last_error());
            mlxc_set_error(st, "%s: %s", path, msg);
        }
        free(text);
    }
    free(full);
    return st;
}

/* ---- quantization lookup -------------------------------------------------------------- */

static bool q_find(const mlxc_quant_table *t, const char *s, size_t n, mlxc_quant_params *out) {
    size_t i;
    if (!t || !mlxc_io_names_find(&t->names, qname_get, t, s, n, &i)) return false;
    *out = t->e[i].p;
    return true;
}

mlxc_status mlxc_model_config_quant(const mlxc_model_config *cfg, const char *name, mlxc_quant_params *out) {
    MLXC_CHECK_ARG(cfg && name && out, "mlxc_model_config_quant: NULL argument");
    if (!cfg->has_quantization) return mlxc_set_error(MLXC_ERR_NOT_FOUND, "model config has no quantization section");
    const mlxc_quant_table *t = cfg->quant_overrides;
    size_t n = strlen(name);
    if (q_find(t, name, n, out)) return MLXC_OK;
    static const char *const sfx[] = {".weight", ".scales", ".biases"};
    size_t bn = n;
    for (int i = 0; i < 3; i++) {
        size_t sl = strlen(sfx[i]);
        if (n >= sl && memcmp(name + n - sl, sfx[i], sl) == 0) { bn = n - sl; break; }
    }
    if (q_find(t, name, bn, out)) return MLXC_OK;
    static const char lm[] = "language_model.";
    size_t ll = sizeof lm - 1;
    if (bn >= ll && memcmp(name, lm, ll) == 0) {
        if (q_find(t, name + ll, bn - ll, out)) return MLXC_OK;
    } else if (t) {
        char *with = malloc(ll + bn + 1);
        if (!with) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of memory");
        memcpy(with, lm, ll);
        memcpy(with + ll, name, bn);
        bool hit = q_find(t, with, ll + bn, out);
        free(with);
        if (hit) return MLXC_OK;
    }
    *out = cfg->quant;
    return MLXC_OK;
}

size_t mlxc_model_config_quant_override_count(const mlxc_model_config *cfg) {
    return cfg && cfg->quant_overrides ? cfg->quant_overrides->n : 0;
}

mlxc_status mlxc_model_config_quant_override_at(const mlxc_model_config *cfg, size_t i, const char **name,
                                                mlxc_quant_params *out) {
    MLXC_CHECK_ARG(cfg, "mlxc_model_config_quant_override_at: NULL config");
    size_t n = mlxc_model_config_quant_override_count(cfg);
    if (i >= n) return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "quantization override %zu of %zu", i, n);
    if (name) *name = cfg->quant_overrides->e[i].name;
    if (out) *out = cfg->quant_overrides->e[i].p;
    return MLXC_OK;
}

/* ---- GGUF metadata ------------------------------------------------------------------------ */

/* <arch>.<suffix> as an integer; arrays (per-layer values) give their
 * largest element.  Absent: leaves *out. */
static mlxc_status gg_int(const mlxc_gguf *g, const char *arch, const char *suffix, int64_t *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    mlxc_gguf_value v;
    if (mlxc_gguf_find(g, key, &v) != MLXC_OK) { mlxc_clear_error(); return MLXC_OK; }
    mlxc_status st;
    if (v.type == MLXC_GGUF_ARRAY) {
        int64_t best = 0;
        for (uint64_t i = 0; i < v.count; i++) {
            mlxc_gguf_value e;
            int64_t x;
            if ((st = mlxc_gguf_value_elem(&v, i, &e)) || (st = mlxc_gguf_value_int(&e, &x)))
                return mlxc_set_error(MLXC_ERR_FORMAT, "GGUF: \"%s\" is not an array of integers", key);
            if (x > best) best = x;
        }
        *out = best;
        return MLXC_OK;
    }
    int64_t x;
    if ((st = mlxc_gguf_value_int(&v, &x)) || x < 0)
        return mlxc_set_error(MLXC_ERR_FORMAT, "GGUF: \"%s\" is a %s, not a non-negative integer", key,
                              mlxc_gguf_type_name(v.type));
    *out = x;
    return MLXC_OK;
}

static mlxc_status gg_num(const mlxc_gguf *g, const char *arch, const char *suffix, double *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    mlxc_gguf_value v;
    if (mlxc_gguf_find(g, key, &v) != MLXC_OK) { mlxc_clear_error(); return MLXC_OK; }
    if (mlxc_gguf_value_float(&v, out) != MLXC_OK)
        return mlxc_set_error(MLXC_ERR_FORMAT, "GGUF: \"%s\" is a %s, not a number", key, mlxc_gguf_type_name(v.type));
    return MLXC_OK;
}

/* <arch>.attention.sliding_window_pattern: a period (uint), or one bool
 * per layer (true: sliding window), read as mlxc_model_config's period
 * where the bools have that form (left 0 otherwise). */
static mlxc_status gg_pattern(const mlxc_gguf *g, const char *arch, int64_t *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.attention.sliding_window_pattern", arch);
    mlxc_gguf_value v;
    if (mlxc_gguf_find(g, key, &v) != MLXC_OK) { mlxc_clear_error(); return MLXC_OK; }
    int64_t x;
    if (v.type != MLXC_GGUF_ARRAY) {
        if (mlxc_gguf_value_int(&v, &x) || x < 0)
            return mlxc_set_error(MLXC_ERR_FORMAT, "GGUF: \"%s\" is a %s, not a non-negative integer", key,
                                  mlxc_gguf_type_name(v.type));
        *out = x;
        return MLXC_OK;
    }
    int64_t period = (int64_t)v.count + 1;   /* no global layer */
    for (int pass = 0; pass < 2; pass++)
        for (uint64_t i = 0; i < v.count; i++) {
            mlxc_gguf_value e;
            if (mlxc_gguf_value_elem(&v, i, &e) || mlxc_gguf_value_int(&e, &x))
                return mlxc_set_error(MLXC_ERR_FORMAT, "GGUF: \"%s\" is not an array of bools", key);
            bool global = x == 0;
            if (pass == 0 && global) {
                period = (int64_t)i + 1;
                break;
            }
            if (pass == 1 && global != (((int64_t)i + 1) % period == 0)) return MLXC_OK;
        }
    *out = period;
    return MLXC_OK;
}

/* Fills a zeroed full-size config from GGUF metadata. */
static mlxc_status gguf_fill(const mlxc_gguf *g, mlxc_model_config *cfg) {
    const char *a;
    size_t alen;
    mlxc_status st = mlxc_gguf_get_string(g, "general.architecture", &a, &alen);
    if (st == MLXC_ERR_NOT_FOUND)
        return mlxc_set_error(st, "GGUF: no general.architecture: the file does not describe a model");
    if (st) return mlxc_set_error(MLXC_ERR_FORMAT, "GGUF: general.architecture is not a string");
    if (alen == 0 || alen >= sizeof cfg->architecture)
        return mlxc_set_error(MLXC_ERR_FORMAT, "GGUF: general.architecture has %zu bytes", alen);
    char arch[64];
    memcpy(arch, a, alen);
    arch[alen] = 0;
    if (strlen(arch) != alen) return mlxc_set_error(MLXC_ERR_FORMAT, "GGUF: general.architecture contains NUL");
    copy_str(cfg->architecture, sizeof cfg->architecture, arch);
    copy_str(cfg->model_type, sizeof cfg->model_type, arch);
    if ((st = gg_int(g, arch, "embedding_length", &cfg->hidden_size)) ||
        (st = gg_int(g, arch, "feed_forward_length", &cfg->intermediate_size)) ||
        (st = gg_int(g, arch, "block_count", &cfg->num_layers)) ||
        (st = gg_int(g, arch, "attention.head_count", &cfg->num_heads)) ||
        (st = gg_int(g, arch, "attention.head_count_kv", &cfg->num_kv_heads)) ||
        (st = gg_int(g, arch, "attention.key_length", &cfg->head_dim)) ||
        (st = gg_int(g, arch, "vocab_size", &cfg->vocab_size)) ||
        (st = gg_int(g, arch, "context_length", &cfg->max_position_embeddings)) ||
        (st = gg_int(g, arch, "attention.sliding_window", &cfg->sliding_window)) ||
        (st = gg_num(g, arch, "rope.freq_base", &cfg->rope_theta)) ||
        (st = gg_num(g, arch, "attention.layer_norm_rms_epsilon", &cfg->norm_eps)) ||
        (st = gg_int(g, arch, "rope.dimension_count", &cfg->rope_dim)) ||
        (st = gg_num(g, arch, "rope.scaling.attn_factor", &cfg->rope_attn_factor)))
        return st;
    if (cfg->norm_eps == 0 && (st = gg_num(g, arch, "attention.layer_norm_epsilon", &cfg->norm_eps))) return st;
    if ((st = gg_int(g, arch, "expert_count", &cfg->num_experts)) ||
        (st = gg_int(g, arch, "expert_used_count", &cfg->num_experts_used)) ||
        (st = gg_int(g, arch, "expert_feed_forward_length", &cfg->moe_intermediate_size)) ||
        (st = gg_int(g, arch, "expert_shared_feed_forward_length", &cfg->shared_expert_intermediate_size)))
        return st;
    int64_t wnorm = -1; /* a bool: gg_int reads it as 0 or 1, and leaves -1 where absent */
    if ((st = gg_int(g, arch, "expert_weights_norm", &wnorm))) return st;
    cfg->norm_topk_prob = wnorm < 0 ? -1 : wnorm != 0;
    if ((st = gg_num(g, arch, "attn_logit_softcapping", &cfg->attn_logit_softcap)) ||
        (st = gg_num(g, arch, "final_logit_softcapping", &cfg->final_logit_softcap)) ||
        (st = gg_num(g, arch, "rope.freq_base_swa", &cfg->rope_local_theta)) ||
        (st = gg_pattern(g, arch, &cfg->sliding_window_pattern)))
        return st;
    /* llama.cpp's attention.scale replaces 1/sqrt(head_dim): the same fact
     * as Gemma's query_pre_attn_scalar */
    double ascale = 0;
    if ((st = gg_num(g, arch, "attention.scale", &ascale))) return st;
    if (ascale > 0) cfg->query_pre_attn_scalar = 1.0 / (ascale * ascale);
    if (cfg->vocab_size == 0) {
        mlxc_gguf_type et;
        size_t n;
        if (mlxc_gguf_get_array_info(g, "tokenizer.ggml.tokens", &et, &n) == MLXC_OK) cfg->vocab_size = (int64_t)n;
        else mlxc_clear_error();
    }
    char key[160];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    const char *rt;
    size_t rtl;
    if (mlxc_gguf_get_string(g, key, &rt, &rtl) == MLXC_OK) {
        cfg->rope_scaling.present = true;
        snprintf(cfg->rope_scaling.type, sizeof cfg->rope_scaling.type, "%.*s", (int)(rtl < 31 ? rtl : 31), rt);
    } else {
        mlxc_clear_error();
    }
    if ((st = gg_num(g, arch, "rope.scaling.factor", &cfg->rope_scaling.factor)) ||
        (st = gg_int(g, arch, "rope.scaling.original_context_length",
                     &cfg->rope_scaling.original_max_position_embeddings)))
        return st;
    if (cfg->rope_scaling.factor != 0) cfg->rope_scaling.present = true;
    if (cfg->num_heads && !cfg->num_kv_heads) cfg->num_kv_heads = cfg->num_heads;
    if (cfg->num_heads && !cfg->head_dim && cfg->hidden_size) cfg->head_dim = cfg->hidden_size / cfg->num_heads;
    /* llama.cpp ties the output projection to the embedding when the file
     * has no output.weight. */
    size_t ti;
    if (mlxc_gguf_tensor_find(g, "token_embd.weight", &ti) == MLXC_OK) {
        cfg->tie_word_embeddings = mlxc_gguf_tensor_find(g, "output.weight", &ti) != MLXC_OK;
    }
    mlxc_clear_error();
    return MLXC_OK;
}

mlxc_status mlxc_model_config_from_gguf(const mlxc_gguf *g, mlxc_model_config *out) {
    MLXC_CHECK_ARG(g && out, "mlxc_model_config_from_gguf: NULL argument");
    mlxc_status st = cfg_check_size("mlxc_model_config_from_gguf", out);
    if (st) return st;
    cfg_zero(out);
    mlxc_model_config full;
    mlxc_model_config_init(&full);
    st = gguf_fill(g, &full);
    if (st == MLXC_OK) cfg_store(out, &full);
    return st;
}
