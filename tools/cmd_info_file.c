/*
 * `mlxc info FILE|DIR [--json] [--load] [--copy] [--no-tensors] [--metadata]`:
 * describe a GGUF or safetensors file, or a model directory: format, the
 * GGUF metadata a user looks for (name, file type, context length,
 * tokenizer and token counts, special tokens, chat template), architecture,
 * hyperparameters, quantization, the tensor table in layer order and a
 * summary; --metadata lists every GGUF metadata entry.  --load also loads
 * every tensor into buffers on the device (MLXC_BACKEND picks it) with a
 * progress bar on stderr and reports the throughput of a copy (a device that
 * maps the file moves nothing: no throughput); --copy forces a copy where
 * the CPU backend would wrap the mapping.
 */
#include <ctype.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "mlxc/mlxc.h"
#include "mlxc/weights.h"

typedef struct bar { double start, last; bool shown; } bar;

/* Drawn only once loading has taken more than a moment, at most 10 times
 * a second, and only on a terminal unless forced. */
static bool progress_cb(uint64_t done, uint64_t total, void *user) {
    bar *b = user;
    double t = mlxc_tool_now_s();
    if (t - b->start < 0.3 || (t - b->last < 0.1 && done < total)) return true;
    b->last = t;
    b->shown = true;
    int w = 40, fill = total ? (int)((double)done / (double)total * w) : w;
    double gbs = (double)done / (t - b->start) / 1e9;
    fprintf(stderr, "\r[%.*s%*s] %5.1f%%  %.2f / %.2f GB  %.2f GB/s", fill,
            "########################################", w - fill, "", total ? 100.0 * (double)done / (double)total : 100.0,
            (double)done / 1e9, (double)total / 1e9, gbs);
    fflush(stderr);
    return true;
}

static void shape_str(char *s, size_t cap, const mlxc_tensor_info *t) {
    size_t o = (size_t)snprintf(s, cap, "[");
    for (int d = 0; d < t->ndim && o < cap; d++)
        o += (size_t)snprintf(s + o, cap - o, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (o < cap) snprintf(s + o, cap - o, "]");
}

static void human(char *s, size_t cap, double bytes) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (bytes >= 1024 && i < 4) { bytes /= 1024; i++; }
    snprintf(s, cap, i ? "%.2f %s" : "%.0f %s", bytes, u[i]);
}

/* The integer fields of a config: the text name, the JSON key, where. */
static const struct {
    const char *text, *json;
    size_t      off;
} k_int_fields[] = {
    {"hidden_size", "hidden_size", offsetof(mlxc_model_config, hidden_size)},
    {"intermediate_size", "intermediate_size", offsetof(mlxc_model_config, intermediate_size)},
    {"num_layers", "num_layers", offsetof(mlxc_model_config, num_layers)},
    {"num_heads", "num_heads", offsetof(mlxc_model_config, num_heads)},
    {"num_kv_heads", "num_kv_heads", offsetof(mlxc_model_config, num_kv_heads)},
    {"head_dim", "head_dim", offsetof(mlxc_model_config, head_dim)},
    {"vocab_size", "vocab_size", offsetof(mlxc_model_config, vocab_size)},
    {"max_positions", "max_position_embeddings", offsetof(mlxc_model_config, max_position_embeddings)},
    {"sliding_window", "sliding_window", offsetof(mlxc_model_config, sliding_window)},
    {"num_experts", "num_experts", offsetof(mlxc_model_config, num_experts)},
    {"experts_per_token", "num_experts_per_tok", offsetof(mlxc_model_config, num_experts_used)},
    {"expert_ffn", "moe_intermediate_size", offsetof(mlxc_model_config, moe_intermediate_size)},
};
#define N_INT_FIELDS (sizeof k_int_fields / sizeof *k_int_fields)

static int64_t int_field(const mlxc_model_config *c, size_t i) {
    int64_t v;
    memcpy(&v, (const char *)c + k_int_fields[i].off, sizeof v);
    return v;
}

static void print_config_text(const mlxc_model_config *c) {
    if (c->architecture[0]) printf("architecture        %s\n", c->architecture);
    if (c->model_type[0]) printf("model_type          %s\n", c->model_type);
    for (size_t i = 0; i < N_INT_FIELDS; i++)
        if (int_field(c, i)) printf("%-20s%lld\n", k_int_fields[i].text, (long long)int_field(c, i));
    if (c->rope_theta) printf("rope_theta          %g\n", c->rope_theta);
    if (c->rope_scaling.present)
        printf("rope_scaling        %s factor %g\n", c->rope_scaling.type[0] ? c->rope_scaling.type : "?",
               c->rope_scaling.factor);
    if (c->norm_eps) printf("norm_eps            %g\n", c->norm_eps);
    printf("tie_embeddings      %s\n", c->tie_word_embeddings ? "yes" : "no");
    if (c->has_quantization) {
        printf("quantization        %s, %d bits, group %d\n", mlxc_qformat_name(c->quant.mode), c->quant.bits,
               c->quant.group_size);
        for (size_t i = 0; i < mlxc_model_config_quant_override_count(c); i++) {
            const char *n;
            mlxc_quant_params p;
            mlxc_model_config_quant_override_at(c, i, &n, &p);
            if (p.quantized) printf("  %-40s %s, %d bits, group %d\n", n, mlxc_qformat_name(p.mode), p.bits, p.group_size);
            else printf("  %-40s not quantized\n", n);
        }
    }
}

/* The weight format through the one descriptor (mlxc_weights_qweight), so
 * that GGUF, dense and MLX tensors read alike; "-" for what is not a weight. */
static const char *tensor_format(const mlxc_weights *w, const char *name) {
    mlxc_qweight d;
    const char *f = mlxc_weights_qweight(w, name, &d) == MLXC_OK ? mlxc_qformat_name(d.format) : NULL;
    mlxc_clear_error();
    return f ? f : "-";
}

static json_t *config_json(const mlxc_model_config *c) {
    json_t *o = json_object();
    json_object_set_new(o, "architecture", json_string(c->architecture));
    json_object_set_new(o, "model_type", json_string(c->model_type));
    for (size_t i = 0; i < N_INT_FIELDS; i++)
        json_object_set_new(o, k_int_fields[i].json, json_integer(int_field(c, i)));
    json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    json_object_set_new(o, "norm_eps", json_real(c->norm_eps));
    json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_word_embeddings));
    if (c->rope_scaling.present) {
        json_t *r = json_object();
        json_object_set_new(r, "type", json_string(c->rope_scaling.type));
        json_object_set_new(r, "factor", json_real(c->rope_scaling.factor));
        json_object_set_new(r, "low_freq_factor", json_real(c->rope_scaling.low_freq_factor));
        json_object_set_new(r, "high_freq_factor", json_real(c->rope_scaling.high_freq_factor));
        json_object_set_new(r, "original_max_position_embeddings",
                            json_integer(c->rope_scaling.original_max_position_embeddings));
        json_object_set_new(o, "rope_scaling", r);
    }
    if (c->has_quantization) {
        json_t *q = json_object();
        json_object_set_new(q, "mode", json_string(mlxc_qformat_name(c->quant.mode)));
        json_object_set_new(q, "bits", json_integer(c->quant.bits));
        json_object_set_new(q, "group_size", json_integer(c->quant.group_size));
        json_t *ov = json_object();
        for (size_t i = 0; i < mlxc_model_config_quant_override_count(c); i++) {
            const char *n;
            mlxc_quant_params p;
            mlxc_model_config_quant_override_at(c, i, &n, &p);
            if (!p.quantized) { json_object_set_new(ov, n, json_false()); continue; }
            json_t *e = json_object();
            json_object_set_new(e, "mode", json_string(mlxc_qformat_name(p.mode)));
            json_object_set_new(e, "bits", json_integer(p.bits));
            json_object_set_new(e, "group_size", json_integer(p.group_size));
            json_object_set_new(ov, n, e);
        }
        json_object_set_new(q, "overrides", ov);
        json_object_set_new(o, "quantization", q);
    }
    return o;
}


/* ---- tensor order: blk.2 before blk.10 ------------------------------------------------ */

/* Names compared with runs of digits as numbers, so that layers list in
 * layer order rather than string order. */
static int natural_cmp(const char *a, const char *b) {
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0' && isdigit((unsigned char)a[1])) a++;
            while (*b == '0' && isdigit((unsigned char)b[1])) b++;
            size_t la = 0, lb = 0;
            while (isdigit((unsigned char)a[la])) la++;
            while (isdigit((unsigned char)b[lb])) lb++;
            if (la != lb) return la < lb ? -1 : 1;
            int c = memcmp(a, b, la);
            if (c) return c;
            a += la;
            b += lb;
            continue;
        }
        if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return *a ? 1 : *b ? -1 : 0;
}

static const mlxc_weights *g_sort_w;   /* qsort has no context argument */

static int cmp_tensor(const void *x, const void *y) {
    mlxc_tensor_info a, b;
    mlxc_weights_info(g_sort_w, *(const size_t *)x, &a);
    mlxc_weights_info(g_sort_w, *(const size_t *)y, &b);
    int c = natural_cmp(a.name, b.name);
    return c ? c : strcmp(a.name, b.name);
}

/* The tensors' indices in layer order (NULL when out of memory). */
static size_t *tensor_order(const mlxc_weights *w, size_t n) {
    size_t *ord = malloc((n ? n : 1) * sizeof *ord);
    if (!ord) return NULL;
    for (size_t i = 0; i < n; i++) ord[i] = i;
    g_sort_w = w;
    qsort(ord, n, sizeof *ord, cmp_tensor);
    return ord;
}

/* ---- GGUF metadata -------------------------------------------------------------------- */

const char *mlxc_tool_file_type_name(int64_t t) {
    static const char *const names[] = {
        [0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [7] = "Q8_0", [8] = "Q5_0", [9] = "Q5_1",
        [10] = "Q2_K", [11] = "Q3_K_S", [12] = "Q3_K_M", [13] = "Q3_K_L", [14] = "Q4_K_S", [15] = "Q4_K_M",
        [16] = "Q5_K_S", [17] = "Q5_K_M", [18] = "Q6_K", [19] = "IQ2_XXS", [20] = "IQ2_XS", [21] = "Q2_K_S",
        [22] = "IQ3_XS", [23] = "IQ3_XXS", [24] = "IQ1_S", [25] = "IQ4_NL", [26] = "IQ3_S", [27] = "IQ3_M",
        [28] = "IQ2_S", [29] = "IQ2_M", [30] = "IQ4_XS", [31] = "IQ1_M", [32] = "BF16", [36] = "TQ1_0",
        [37] = "TQ2_0", [38] = "MXFP4_MOE",
    };
    return t >= 0 && (size_t)t < sizeof names / sizeof *names && names[t] ? names[t] : "?";
}

/* What a user looks for first in a GGUF file, in one place for text and JSON. */
typedef struct gguf_summary {
    const char *name, *arch, *tok_model, *tok_pre;
    size_t      name_len, arch_len, tok_model_len, tok_pre_len;
    int64_t     file_type, context_length, bos, eos;
    int         add_bos, add_eos;          /* -1: not set */
    size_t      chat_template_bytes;       /* 0: none     */
    size_t      n_tokens, n_merges;
    size_t      n_type[7];                 /* tokens per tokenizer.ggml.token_type (1..6) */
} gguf_summary;

static void summarize_gguf(const mlxc_gguf *g, gguf_summary *s) {
    memset(s, 0, sizeof *s);
    s->file_type = s->context_length = s->bos = s->eos = -1;
    s->add_bos = s->add_eos = -1;
    if (mlxc_gguf_get_string(g, "general.name", &s->name, &s->name_len)) s->name = NULL;
    if (mlxc_gguf_get_string(g, "general.architecture", &s->arch, &s->arch_len)) s->arch = NULL;
    if (mlxc_gguf_get_string(g, "tokenizer.ggml.model", &s->tok_model, &s->tok_model_len)) s->tok_model = NULL;
    if (mlxc_gguf_get_string(g, "tokenizer.ggml.pre", &s->tok_pre, &s->tok_pre_len)) s->tok_pre = NULL;
    if (mlxc_gguf_get_int(g, "general.file_type", &s->file_type)) s->file_type = -1;
    if (s->arch && s->arch_len < 64) {
        char key[96];
        snprintf(key, sizeof key, "%.*s.context_length", (int)s->arch_len, s->arch);
        if (mlxc_gguf_get_int(g, key, &s->context_length)) s->context_length = -1;
    }
    if (mlxc_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &s->bos)) s->bos = -1;
    if (mlxc_gguf_get_int(g, "tokenizer.ggml.eos_token_id", &s->eos)) s->eos = -1;
    bool b;
    if (!mlxc_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b)) s->add_bos = b;
    if (!mlxc_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b)) s->add_eos = b;
    const char *tpl;
    size_t tl;
    if (!mlxc_gguf_get_string(g, "tokenizer.chat_template", &tpl, &tl)) s->chat_template_bytes = tl ? tl : 1;
    mlxc_gguf_type elem;
    if (mlxc_gguf_get_array_info(g, "tokenizer.ggml.tokens", &elem, &s->n_tokens)) s->n_tokens = 0;
    if (mlxc_gguf_get_array_info(g, "tokenizer.ggml.merges", &elem, &s->n_merges)) s->n_merges = 0;
    size_t nt = 0;
    if (!mlxc_gguf_get_array_info(g, "tokenizer.ggml.token_type", &elem, &nt))
        for (size_t i = 0; i < nt; i++) {
            int64_t t;
            if (!mlxc_gguf_get_array_int(g, "tokenizer.ggml.token_type", i, &t) && t >= 1 && t <= 6) s->n_type[t]++;
        }
    mlxc_clear_error();   /* absent keys are not failures */
}

static const char *const k_token_types[7] = {"", "normal", "unknown", "control", "user-defined", "unused", "byte"};

static void print_gguf_text(const mlxc_gguf *g, bool with_arch) {
    gguf_summary s;
    summarize_gguf(g, &s);
    if (s.name) printf("name                %.*s\n", (int)s.name_len, s.name);
    if (s.arch && with_arch) printf("architecture        %.*s\n", (int)s.arch_len, s.arch);
    if (s.file_type >= 0) printf("file_type           %s (%lld)\n", mlxc_tool_file_type_name(s.file_type), (long long)s.file_type);
    if (s.context_length >= 0) printf("context_length      %lld\n", (long long)s.context_length);
    if (s.tok_model) {
        printf("tokenizer           %.*s", (int)s.tok_model_len, s.tok_model);
        if (s.tok_pre) printf(", pre-tokenizer %.*s", (int)s.tok_pre_len, s.tok_pre);
        printf(", %zu tokens", s.n_tokens);
        for (int t = 2; t <= 6; t++)
            if (s.n_type[t]) printf(", %zu %s", s.n_type[t], k_token_types[t]);
        if (s.n_merges) printf(", %zu merges", s.n_merges);
        printf("\n");
        printf("special tokens      bos %lld, eos %lld; add_bos %s, add_eos %s\n", (long long)s.bos, (long long)s.eos,
               s.add_bos < 0 ? "unset" : s.add_bos ? "yes" : "no", s.add_eos < 0 ? "unset" : s.add_eos ? "yes" : "no");
    }
    if (s.chat_template_bytes) printf("chat_template       present (%zu bytes)\n", s.chat_template_bytes);
    else printf("chat_template       none\n");
}

/* One metadata value in JSON: scalars as they are, strings as strings (or
 * their bytes when not UTF-8), arrays of up to 16 elements in full, longer
 * ones as their element type and count. */
static json_t *gguf_value_json(const mlxc_gguf_value *v, int depth) {
    int64_t i;
    uint64_t u;
    double f;
    switch (v->type) {
    case MLXC_GGUF_BOOL: return json_boolean(v->data[0] != 0);
    case MLXC_GGUF_FLOAT32:
    case MLXC_GGUF_FLOAT64: return mlxc_gguf_value_float(v, &f) ? json_null() : json_real(f);
    case MLXC_GGUF_UINT64: return mlxc_gguf_value_uint(v, &u) ? json_null() : u > INT64_MAX ? json_real((double)u) : json_integer((json_int_t)u);
    case MLXC_GGUF_STRING: {
        json_t *sv = json_stringn((const char *)v->data, (size_t)v->len);
        return sv ? sv : json_string("(not UTF-8)");
    }
    case MLXC_GGUF_ARRAY: {
        if (v->count > 16 || depth > 2) {
            json_t *o = json_object();
            json_object_set_new(o, "array", json_string(mlxc_gguf_type_name(v->elem)));
            json_object_set_new(o, "count", json_integer((json_int_t)v->count));
            return o;
        }
        json_t *a = json_array();
        for (uint64_t k = 0; k < v->count; k++) {
            mlxc_gguf_value e;
            json_array_append_new(a, mlxc_gguf_value_elem(v, k, &e) ? json_null() : gguf_value_json(&e, depth + 1));
        }
        return a;
    }
    default: return mlxc_gguf_value_int(v, &i) ? json_null() : json_integer(i);
    }
}

static json_t *gguf_json(const mlxc_gguf *g) {
    gguf_summary s;
    summarize_gguf(g, &s);
    json_t *o = json_object();
    if (s.name) json_object_set_new(o, "name", json_stringn(s.name, s.name_len));
    if (s.arch) json_object_set_new(o, "architecture", json_stringn(s.arch, s.arch_len));
    if (s.file_type >= 0) json_object_set_new(o, "file_type", json_string(mlxc_tool_file_type_name(s.file_type)));
    if (s.context_length >= 0) json_object_set_new(o, "context_length", json_integer(s.context_length));
    if (s.tok_model) json_object_set_new(o, "tokenizer", json_stringn(s.tok_model, s.tok_model_len));
    if (s.tok_pre) json_object_set_new(o, "pre_tokenizer", json_stringn(s.tok_pre, s.tok_pre_len));
    json_object_set_new(o, "tokens", json_integer((json_int_t)s.n_tokens));
    json_t *types = json_object();
    for (int t = 1; t <= 6; t++)
        if (s.n_type[t]) json_object_set_new(types, k_token_types[t], json_integer((json_int_t)s.n_type[t]));
    json_object_set_new(o, "token_types", types);
    json_object_set_new(o, "merges", json_integer((json_int_t)s.n_merges));
    if (s.bos >= 0) json_object_set_new(o, "bos_token_id", json_integer(s.bos));
    if (s.eos >= 0) json_object_set_new(o, "eos_token_id", json_integer(s.eos));
    if (s.add_bos >= 0) json_object_set_new(o, "add_bos_token", json_boolean(s.add_bos));
    if (s.add_eos >= 0) json_object_set_new(o, "add_eos_token", json_boolean(s.add_eos));
    json_object_set_new(o, "chat_template", json_boolean(s.chat_template_bytes > 0));
    return o;
}

static json_t *gguf_metadata_json(const mlxc_gguf *g) {
    json_t *o = json_object();
    for (size_t i = 0; i < mlxc_gguf_kv_count(g); i++) {
        const char *k;
        size_t kl;
        mlxc_gguf_value v;
        if (mlxc_gguf_kv_at(g, i, &k, &kl, &v)) continue;
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(kl < 255 ? kl : 255), k);
        json_object_set_new(o, key, gguf_value_json(&v, 0));
    }
    return o;
}

/* Every metadata entry on one line each: long strings and arrays abridged. */
static void print_gguf_metadata(const mlxc_gguf *g) {
    printf("\nmetadata (%zu entries):\n", mlxc_gguf_kv_count(g));
    for (size_t i = 0; i < mlxc_gguf_kv_count(g); i++) {
        const char *k;
        size_t kl;
        mlxc_gguf_value v;
        if (mlxc_gguf_kv_at(g, i, &k, &kl, &v)) continue;
        printf("  %-44.*s ", (int)kl, k);
        if (v.type == MLXC_GGUF_STRING) {
            size_t n = (size_t)v.len;
            bool nl = memchr(v.data, '\n', n) != NULL;
            if (n > 60 || nl) printf("(a string of %zu bytes)\n", n);
            else printf("\"%.*s\"\n", (int)n, (const char *)v.data);
        } else if (v.type == MLXC_GGUF_ARRAY) {
            printf("[%llu x %s]\n", (unsigned long long)v.count, mlxc_gguf_type_name(v.elem));
        } else if (v.type == MLXC_GGUF_FLOAT32 || v.type == MLXC_GGUF_FLOAT64) {
            double f = 0;
            mlxc_gguf_value_float(&v, &f);
            printf("%g\n", f);
        } else {
            json_t *j = gguf_value_json(&v, 0);
            char *t = json_dumps(j, JSON_ENCODE_ANY);
            printf("%s\n", t ? t : "?");
            free(t);
            json_decref(j);
        }
    }
}

int mlxc_info_file(const char *path, const mlxc_info_opts *io) {
    bool as_json = io->json, load = io->load, copy = io->copy, tensors = io->tensors, zero_copy = false;
    mlxc_weights *w;
    double t0 = mlxc_tool_now_s();
    if (mlxc_weights_open(path, &w) != MLXC_OK) {
        fprintf(stderr, "mlxc info: %s\n", mlxc_last_error());
        return 1;
    }
    double t_open = mlxc_tool_now_s() - t0;
    size_t n = mlxc_weights_count(w);
    const mlxc_model_config *cfg = mlxc_weights_config(w);
    const mlxc_gguf *g = mlxc_weights_gguf(w);

    /* optional load into buffers */
    double load_s = 0;
    uint64_t total = mlxc_weights_total_bytes(w);
    char dev_name[160] = "";
    int rc = 0;
    if (load) {
        mlxc_device *dev;
        if (mlxc_device_open(MLXC_BACKEND_AUTO, 0, &dev) != MLXC_OK) {
            fprintf(stderr, "mlxc info: %s\n", mlxc_last_error());
            mlxc_weights_close(w);
            return 1;
        }
        snprintf(dev_name, sizeof dev_name, "%s", mlxc_device_name(dev));
        /* a device that sees host memory wraps the file's pages: nothing
         * moves, and a "bandwidth" would only time page-table work */
        mlxc_device_caps caps;
        zero_copy = !copy && mlxc_device_caps_get(dev, &caps) == MLXC_OK && caps.host_visible;
        mlxc_buffer **bufs = calloc(n ? n : 1, sizeof *bufs);
        bar b = {.start = mlxc_tool_now_s(), .last = 0};
        mlxc_load_options opt = {.flags = copy ? MLXC_LOAD_COPY : 0, .progress = progress_cb, .user = &b};
        double t1 = mlxc_tool_now_s();
        mlxc_status st = bufs ? mlxc_weights_load_all(w, dev, &opt, bufs) : MLXC_ERR_OUT_OF_MEMORY;
        if (st == MLXC_OK) st = mlxc_device_synchronize(dev);
        load_s = mlxc_tool_now_s() - t1;
        if (b.shown) fputc('\n', stderr);
        if (st) {
            fprintf(stderr, "mlxc info: load failed: %s\n", mlxc_last_error());
            rc = 1;
        }
        for (size_t i = 0; bufs && i < n; i++) mlxc_buffer_release(bufs[i]);
        free(bufs);
        mlxc_device_close(dev);
        if (rc) { mlxc_weights_close(w); return rc; }
    }

    uint64_t params = mlxc_weights_param_count(w);
    size_t *ord = tensor_order(w, n);   /* NULL: file order */
    if (as_json) {
        json_t *o = json_object();
        json_object_set_new(o, "path", json_string(path));
        json_object_set_new(o, "format", json_string(mlxc_file_format_name(mlxc_weights_format(w))));
        if (g) {
            json_object_set_new(o, "gguf_version", json_integer(mlxc_gguf_version(g)));
            json_object_set_new(o, "alignment", json_integer((json_int_t)mlxc_gguf_alignment(g)));
            json_object_set_new(o, "metadata_count", json_integer((json_int_t)mlxc_gguf_kv_count(g)));
            json_object_set_new(o, "gguf", gguf_json(g));
            json_object_set_new(o, "metadata", gguf_metadata_json(g));
        }
        json_t *files = json_array();
        for (size_t i = 0; i < mlxc_weights_file_count(w); i++)
            json_array_append_new(files, json_string(mlxc_weights_file_path(w, i)));
        json_object_set_new(o, "files", files);
        if (cfg) json_object_set_new(o, "config", config_json(cfg));
        if (tensors) {
            json_t *ts = json_array();
            for (size_t i = 0; i < n; i++) {
                mlxc_tensor_info t;
                mlxc_weights_info(w, ord ? ord[i] : i, &t);
                json_t *e = json_object();
                json_object_set_new(e, "name", json_string(t.name));
                json_object_set_new(e, "dtype", json_string(t.dtype_name));
                json_object_set_new(e, "format", json_string(tensor_format(w, t.name)));
                json_t *sh = json_array();
                for (int d = 0; d < t.ndim; d++) json_array_append_new(sh, json_integer(t.shape[d]));
                json_object_set_new(e, "shape", sh);
                json_object_set_new(e, "bytes", json_integer((json_int_t)t.bytes));
                json_object_set_new(e, "file", json_integer((json_int_t)t.file));
                json_array_append_new(ts, e);
            }
            json_object_set_new(o, "tensors", ts);
        }
        json_t *q = json_array();
        for (size_t i = 0; i < mlxc_weights_quant_count(w); i++) {
            mlxc_quant_triple t;
            mlxc_weights_quant_at(w, i, &t);
            json_t *e = json_object();
            json_object_set_new(e, "stem", json_string(t.stem));
            json_object_set_new(e, "format", json_string(tensor_format(w, t.stem)));
            json_object_set_new(e, "bits", json_integer(t.params.bits));
            json_object_set_new(e, "group_size", json_integer(t.params.group_size));
            json_object_set_new(e, "rows", json_integer(t.rows));
            json_object_set_new(e, "cols", json_integer(t.cols));
            json_object_set_new(e, "biases", json_boolean(t.biases != SIZE_MAX));
            json_array_append_new(q, e);
        }
        json_object_set_new(o, "quantized_layers", q);
        json_t *s = json_object();
        json_object_set_new(s, "tensor_count", json_integer((json_int_t)n));
        json_object_set_new(s, "total_bytes", json_integer((json_int_t)total));
        json_object_set_new(s, "parameters", json_integer((json_int_t)params));
        json_object_set_new(s, "open_seconds", json_real(t_open));
        if (load) {
            json_object_set_new(s, "load_seconds", json_real(load_s));
            json_object_set_new(s, "zero_copy", json_boolean(zero_copy));
            if (!zero_copy)
                json_object_set_new(s, "load_gb_per_s", json_real(load_s > 0 ? (double)total / load_s / 1e9 : 0));
            json_object_set_new(s, "device", json_string(dev_name));
        }
        json_object_set_new(o, "summary", s);
        char *text = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        if (text) { puts(text); free(text); }
        json_decref(o);
        free(ord);
        mlxc_weights_close(w);
        return 0;
    }

    printf("path                %s\n", path);
    if (g) printf("format              gguf v%u (alignment %zu, %zu metadata entries)\n", mlxc_gguf_version(g),
                  mlxc_gguf_alignment(g), mlxc_gguf_kv_count(g));
    else printf("format              safetensors (%zu file%s)\n", mlxc_weights_file_count(w),
                mlxc_weights_file_count(w) == 1 ? "" : "s");
    if (g) print_gguf_text(g, cfg == NULL);
    if (cfg) print_config_text(cfg);
    else printf("config              none (no config.json)\n");
    if (tensors && n) {
        printf("\n%-56s %-8s %-10s %-24s %12s\n", "tensor", "dtype", "format", "shape", "bytes");
        for (size_t i = 0; i < n; i++) {
            mlxc_tensor_info t;
            mlxc_weights_info(w, ord ? ord[i] : i, &t);
            char sh[96];
            shape_str(sh, sizeof sh, &t);
            printf("%-56s %-8s %-10s %-24s %12llu\n", t.name, t.dtype_name, tensor_format(w, t.name), sh,
                   (unsigned long long)t.bytes);
        }
    }
    size_t nq = mlxc_weights_quant_count(w);
    if (nq) {
        printf("\nquantized layers (%zu):\n", nq);
        for (size_t i = 0; i < nq; i++) {
            mlxc_quant_triple t;
            mlxc_weights_quant_at(w, i, &t);
            printf("  %-50s %s, %d bits, group %d, [%lld, %lld]%s\n", t.stem, tensor_format(w, t.stem),
                   t.params.bits, t.params.group_size,
                   (long long)t.rows, (long long)t.cols, t.biases == SIZE_MAX ? ", no biases" : "");
        }
    }
    char hb[32];
    human(hb, sizeof hb, (double)total);
    printf("\nsummary             %zu tensors, %s (%llu bytes), %.3fM parameters, opened in %.1f ms\n", n, hb,
           (unsigned long long)total, (double)params / 1e6, t_open * 1e3);
    if (load && zero_copy)
        printf("loaded %zu tensors  %.3f s on %s: zero copy (the buffers map the file; no data moved, so no\n"
               "                    bandwidth to report; --copy measures a copy)\n", n, load_s, dev_name);
    else if (load)
        printf("loaded %zu tensors  %.3f s on %s: %.2f GB/s (copied)\n", n, load_s, dev_name,
               load_s > 0 ? (double)total / load_s / 1e9 : 0.0);
    if (g && io->metadata) print_gguf_metadata(g);
    free(ord);
    mlxc_weights_close(w);
    return 0;
}
