/* Model directories and the loading API: a sharded MLX-quantized directory
 * (index, shards, config.json with per-layer overrides), a single-file MLX
 * directory with "quantization_config" only, a GGUF file through the same
 * API; config.json parsing and the MLX quantization lookup rules; progress
 * and cancellation; and every loading error (missing shard, missing tensor,
 * truncated file, unknown dtype, shape mismatch, bad shard names, ...). */
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "io_test.h"
#include "mlxc/mlxc.h"
#include "mlxc/weights.h"
#include "read_file.h"


static mlxc_device *g_dev;
static char g_tmp[512];

static void fx(char *out, size_t cap, const char *rel) { snprintf(out, cap, "%s/%s", fixture_dir(), rel); }

/* ---- temp directories ------------------------------------------------------------------ */

static void copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    char buf[65536];
    size_t n;
    while (a && b && (n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    if (a) fclose(a);
    if (b) fclose(b);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) { fputs(text, f); fclose(f); }
}

/* A fresh copy of the sharded fixture in its own directory. */
static void fresh_sharded(char *dir, size_t cap, const char *name) {
    snprintf(dir, cap, "%s/%s", g_tmp, name);
    mkdir(dir, 0755);
    static const char *const files[] = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                        "model.safetensors.index.json", "config.json"};
    for (int i = 0; i < 4; i++) {
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/sharded/%s", fixture_dir(), files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        copy_file(a, b);
    }
}

static void replace_in_file(const char *path, const char *from, const char *to) {
    size_t n;
    char *s = read_file(path, &n);
    if (!s) return;
    /* memmem: safetensors files start with NUL bytes */
    char *at = memmem(s, n, from, strlen(from));
    if (!at) { free(s); return; }
    FILE *f = fopen(path, "wb");
    fwrite(s, 1, (size_t)(at - s), f);
    fputs(to, f);
    size_t rest = (size_t)(at - s) + strlen(from);
    fwrite(s + rest, 1, n - rest, f);
    fclose(f);
    free(s);
}

/* ---- the sharded directory --------------------------------------------------------------- */

static void test_sharded(void) {
    char dir[1024];
    fx(dir, sizeof dir, "sharded");
    mlxc_weights *w = NULL;
    CHECK_OK(mlxc_weights_open(dir, &w));
    if (!w) return;
    CHECK_EQ_INT(mlxc_weights_format(w), MLXC_FORMAT_SAFETENSORS);
    CHECK_EQ_INT(mlxc_weights_file_count(w), 2);
    CHECK_EQ_INT(mlxc_weights_count(w), 15);
    CHECK(mlxc_weights_gguf(w) == NULL);
    CHECK(mlxc_weights_safetensors(w, 1) != NULL);
    /* sorted by name */
    for (size_t i = 1; i < mlxc_weights_count(w); i++) {
        mlxc_tensor_info a, b;
        mlxc_weights_info(w, i - 1, &a);
        mlxc_weights_info(w, i, &b);
        CHECK(strcmp(a.name, b.name) < 0);
    }
    size_t i;
    mlxc_tensor_info t;
    CHECK_OK(mlxc_weights_find(w, "model.norm.weight", &i));
    CHECK_OK(mlxc_weights_info(w, i, &t));
    CHECK(strcmp(t.dtype_name, "F32") == 0 && t.dtype == MLXC_F32 && t.ndim == 1 && t.shape[0] == 64);
    CHECK_EQ_INT(t.ggml_type, -1);
    CHECK(strstr(mlxc_weights_file_path(w, t.file), "00002") != NULL);
    CHECK_ERR(mlxc_weights_find(w, "model.nope", &i), MLXC_ERR_NOT_FOUND);

    const mlxc_model_config *c = mlxc_weights_config(w);
    CHECK(c != NULL);
    if (c) {
        CHECK(strcmp(c->architecture, "LlamaForCausalLM") == 0);
        CHECK(strcmp(c->model_type, "llama") == 0);
        CHECK_EQ_INT(c->hidden_size, 64);
        CHECK_EQ_INT(c->intermediate_size, 128);
        CHECK_EQ_INT(c->num_layers, 2);
        CHECK_EQ_INT(c->num_heads, 4);
        CHECK_EQ_INT(c->num_kv_heads, 2);
        CHECK_EQ_INT(c->head_dim, 16);
        CHECK_EQ_INT(c->vocab_size, 96);
        CHECK_EQ_INT(c->max_position_embeddings, 2048);
        CHECK(c->rope_theta == 500000.0);
        CHECK(c->norm_eps == 1e-5);
        CHECK(!c->tie_word_embeddings);
        CHECK(c->rope_scaling.present && strcmp(c->rope_scaling.type, "llama3") == 0);
        CHECK(c->rope_scaling.factor == 8.0 && c->rope_scaling.high_freq_factor == 4.0);
        CHECK_EQ_INT(c->rope_scaling.original_max_position_embeddings, 8192);
        CHECK(c->has_quantization && c->quant.bits == 4 && c->quant.group_size == 32);
        CHECK_EQ_INT(mlxc_model_config_quant_override_count(c), 3);
    }

    /* triples, with bits and group size from the lookup rules */
    CHECK_EQ_INT(mlxc_weights_quant_count(w), 4);
    mlxc_quant_triple q;
    CHECK_OK(mlxc_weights_quant_find(w, "model.layers.0.mlp.down_proj.weight", &q));
    CHECK(strcmp(q.stem, "model.layers.0.mlp.down_proj") == 0);
    CHECK(q.params.bits == 8 && q.params.group_size == 64 && q.rows == 64 && q.cols == 128);
    CHECK(q.biases != SIZE_MAX);
    CHECK_OK(mlxc_weights_quant_find(w, "language_model.model.layers.1.mlp.up_proj", &q));
    CHECK(q.params.bits == 2 && q.params.group_size == 32 && q.rows == 128 && q.cols == 64);
    CHECK_OK(mlxc_weights_quant_find(w, "model.embed_tokens.scales", &q));
    CHECK(q.params.bits == 4 && q.rows == 96 && q.cols == 64);
    CHECK_ERR(mlxc_weights_quant_find(w, "lm_head.weight", &q), MLXC_ERR_NOT_FOUND);

    /* one descriptor for a triple (by stem or member) and for a dense tensor */
    mlxc_qweight d;
    CHECK_OK(mlxc_weights_qweight(w, "model.layers.0.mlp.down_proj.scales", &d));
    CHECK(d.format == MLXC_QF_MLX_AFFINE && d.bits == 8 && d.group_size == 64 && d.rows == 64 && d.cols == 128);
    CHECK(d.data && d.scales && d.biases && d.data_bytes == 64 * 128 && d.scales_bytes == d.biases_bytes);
    CHECK_OK(mlxc_weights_qweight(w, "lm_head.weight", &d));
    CHECK(d.format == MLXC_QF_F16 && d.rows == 96 && d.cols == 64 && d.data_bytes == 96 * 64 * 2 && !d.scales);
    CHECK_ERR(mlxc_weights_qweight(w, "no.such.tensor", &d), MLXC_ERR_NOT_FOUND);
    CHECK_ERR(mlxc_weights_qweight(w, NULL, &d), MLXC_ERR_INVALID_ARGUMENT);

    /* totals: 30848 bytes; parameters = unpacked quantized weights + plain tensors */
    CHECK_EQ_INT(mlxc_weights_total_bytes(w), 30848);
    uint64_t want = 96 * 64 + 64 * 64 + 64 * 128 + 128 * 64 + 64 + 64 + 96 * 64;
    CHECK_EQ_INT(mlxc_weights_param_count(w), want);
    mlxc_weights_close(w);

    /* the index file itself opens the same set */
    char ip[1024];
    fx(ip, sizeof ip, "sharded/model.safetensors.index.json");
    CHECK_OK(mlxc_weights_open(ip, &w));
    if (w) CHECK_EQ_INT(mlxc_weights_count(w), 15);
    mlxc_weights_close(w);
    /* and one shard alone is a plain safetensors file (config beside it) */
    fx(ip, sizeof ip, "sharded/model-00002-of-00002.safetensors");
    CHECK_OK(mlxc_weights_open(ip, &w));
    if (w) CHECK_EQ_INT(mlxc_weights_count(w), 5);
    mlxc_weights_close(w);
}

typedef struct prog { uint64_t last, total; int calls; bool monotonic; int stop_after; } prog;

static bool on_progress(uint64_t done, uint64_t total, void *user) {
    prog *p = user;
    if (done < p->last) p->monotonic = false;
    p->last = done;
    p->total = total;
    p->calls++;
    return p->stop_after == 0 || p->calls < p->stop_after;
}

static void test_load_all(void) {
    char dir[1024];
    fx(dir, sizeof dir, "sharded");
    mlxc_weights *w = NULL;
    CHECK_OK(mlxc_weights_open(dir, &w));
    if (!w) return;
    size_t n = mlxc_weights_count(w);
    mlxc_buffer **bufs = calloc(n, sizeof *bufs);
    for (int copy = 0; copy < 2; copy++) {
        prog p = {.monotonic = true};
        mlxc_load_options opt = {.flags = copy ? MLXC_LOAD_COPY : 0, .progress = on_progress, .user = &p};
        CHECK_OK(mlxc_weights_load_all(w, g_dev, &opt, bufs));
        CHECK(p.monotonic && p.last == p.total && p.total == mlxc_weights_total_bytes(w) && p.calls >= (int)n);
        for (size_t i = 0; i < n; i++) {
            mlxc_tensor_info t;
            mlxc_weights_info(w, i, &t);
            CHECK(bufs[i] != NULL);
            if (!bufs[i]) continue;
            CHECK_EQ_INT(mlxc_buffer_dtype(bufs[i]), t.dtype);
            CHECK_EQ_INT(mlxc_buffer_bytes(bufs[i]), t.bytes);
            /* same bytes as the file */
            const mlxc_safetensors *st = mlxc_weights_safetensors(w, t.file);
            size_t li;
            CHECK_OK(mlxc_safetensors_find(st, t.name, &li));
            mlxc_st_tensor_info si;
            mlxc_safetensors_tensor_at(st, li, &si);
            CHECK(memcmp(mlxc_buffer_host_ptr(bufs[i]), si.data, t.bytes) == 0);
            mlxc_buffer_release(bufs[i]);
        }
    }
    /* cancellation: the callback says stop after 3 chunks */
    prog p = {.monotonic = true, .stop_after = 3};
    mlxc_load_options opt = {.progress = on_progress, .user = &p};
    CHECK_ERR(mlxc_weights_load_all(w, g_dev, &opt, bufs), MLXC_ERR_STATE);
    for (size_t i = 0; i < n; i++) CHECK(bufs[i] == NULL);
    /* one tensor */
    mlxc_buffer *b = NULL;
    CHECK_OK(mlxc_weights_load(w, 0, g_dev, NULL, &b));
    mlxc_buffer_release(b);
    CHECK_ERR(mlxc_weights_load(w, n, g_dev, NULL, &b), MLXC_ERR_OUT_OF_RANGE);
    free(bufs);
    mlxc_weights_close(w);
}

static void test_mlx_single(void) {
    char dir[1024];
    fx(dir, sizeof dir, "mlx_single");
    mlxc_weights *w = NULL;
    CHECK_OK(mlxc_weights_open(dir, &w));
    if (!w) return;
    const mlxc_model_config *c = mlxc_weights_config(w);
    CHECK(c && c->has_quantization && c->quant.bits == 3 && c->quant.group_size == 64);
    if (c) {
        CHECK(strcmp(c->model_type, "qwen2") == 0 && c->norm_eps == 1e-6 && c->sliding_window == 4096);
        CHECK(c->tie_word_embeddings && c->head_dim == 8 && c->num_kv_heads == 8);
    }
    mlxc_quant_triple q;
    CHECK_OK(mlxc_weights_quant_at(w, 0, &q));
    CHECK(q.params.bits == 3 && q.rows == 32 && q.cols == 64);
    mlxc_weights_close(w);
}

static void test_gguf_through_weights(void) {
    char p[1024];
    fx(p, sizeof p, "v3.gguf");
    mlxc_weights *w = NULL;
    CHECK_OK(mlxc_weights_open(p, &w));
    if (!w) return;
    CHECK_EQ_INT(mlxc_weights_format(w), MLXC_FORMAT_GGUF);
    CHECK(mlxc_weights_gguf(w) != NULL);
    const mlxc_model_config *c = mlxc_weights_config(w);
    CHECK(c && c->hidden_size == 64 && c->num_layers == 2);
    size_t i;
    mlxc_tensor_info t;
    CHECK_OK(mlxc_weights_find(w, "t.q4_k", &i));
    mlxc_weights_info(w, i, &t);
    /* GGUF dims [512, 2] become the row-major shape [2, 512] */
    CHECK(strcmp(t.dtype_name, "Q4_K") == 0 && t.ggml_type == MLXC_GGML_Q4_K && !t.dtype_exact);
    CHECK(t.ndim == 2 && t.shape[0] == 2 && t.shape[1] == 512 && t.bytes == 2 * 2 * 144);
    CHECK_OK(mlxc_weights_find(w, "t.bf16", &i));
    mlxc_weights_info(w, i, &t);
    /* written as raw bytes [2, 4] with raw_dtype BF16: 2 rows of 2 values */
    CHECK(t.dtype == MLXC_BF16 && t.dtype_exact && t.ndim == 2 && t.shape[0] == 2 && t.shape[1] == 2);
    mlxc_buffer *b = NULL;
    CHECK_OK(mlxc_weights_load(w, i, g_dev, NULL, &b));
    if (b) CHECK_EQ_INT(mlxc_buffer_dtype(b), MLXC_BF16);
    mlxc_buffer_release(b);
    CHECK_EQ_INT(mlxc_weights_quant_count(w), 0);
    /* the descriptor of a GGUF tensor: the same struct as for an MLX triple */
    mlxc_qweight d;
    CHECK_OK(mlxc_weights_qweight(w, "t.q4_k", &d));
    CHECK(d.format == MLXC_QF_Q4_K && d.group_size == 256 && d.block_bytes == 144 && d.rows == 2 && d.cols == 512);
    CHECK(d.data && d.data_bytes == 2 * 2 * 144 && !d.scales && !d.biases);
    float *deq = malloc(2 * 512 * sizeof *deq);
    CHECK_OK(mlxc_qweight_dequantize(&d, deq, 2 * 512));
    free(deq);
    CHECK_OK(mlxc_weights_qweight(w, "t.bf16", &d));
    CHECK(d.format == MLXC_QF_BF16 && d.rows == 2 && d.cols == 2);
    mlxc_weights_close(w);
}

/* ---- config.json ------------------------------------------------------------------------------ */

static mlxc_status parse(const char *s, mlxc_model_config *c) { return mlxc_model_config_parse(s, strlen(s), c); }

static void test_config_parse(void) {
    mlxc_model_config c = {0};
    /* a struct not started from the initializer is refused, never written */
    CHECK_ERR(parse("{\"hidden_size\":32}", &c), MLXC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(mlxc_last_error(), "struct_size") != NULL);
    CHECK_ERR(mlxc_model_config_load(MLXC_SOURCE_DIR, &c), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(c.hidden_size, 0);
    mlxc_model_config_clear(&c);
    mlxc_model_config_init(&c);
    CHECK(c.struct_size == sizeof c);
    /* nested text_config (multimodal), HF aliases, rope_scaling "type" */
    CHECK_OK(parse("{\"architectures\":[\"Gemma3ForConditionalGeneration\"],\"model_type\":\"gemma3\","
                   "\"text_config\":{\"hidden_size\":32,\"num_attention_heads\":2,\"sliding_window\":512,"
                   "\"rope_scaling\":{\"type\":\"linear\",\"factor\":2.0},\"layer_norm_eps\":1e-6},"
                   "\"hidden_size\":999,\"vocab_size\":100}", &c));
    CHECK_EQ_INT(c.hidden_size, 32);   /* text_config wins */
    CHECK_EQ_INT(c.vocab_size, 100);   /* falls back to the top level */
    CHECK_EQ_INT(c.head_dim, 16);
    CHECK_EQ_INT(c.sliding_window, 512);
    CHECK(c.norm_eps == 1e-6 && strcmp(c.rope_scaling.type, "linear") == 0 && c.rope_scaling.factor == 2.0);
    CHECK(!c.has_quantization);
    mlxc_quant_params qp;
    CHECK_ERR(mlxc_model_config_quant(&c, "x.weight", &qp), MLXC_ERR_NOT_FOUND);
    mlxc_model_config_clear(&c);
    CHECK_OK(parse("{\"n_embd\":768,\"n_layer\":12,\"n_head\":12,\"sliding_window\":null}", &c));
    CHECK(c.hidden_size == 768 && c.num_layers == 12 && c.num_heads == 12 && c.sliding_window == 0);
    mlxc_model_config_clear(&c);
    /* Phi-3 (transformers 4): LongRoPE as "su" with the pretraining length
     * at the top level; partial rotary there too */
    CHECK_OK(parse("{\"hidden_size\":64,\"num_attention_heads\":4,\"partial_rotary_factor\":0.75,"
                   "\"original_max_position_embeddings\":4096,\"rope_scaling\":{\"type\":\"su\","
                   "\"short_factor\":[1,1.5,2,2.5,3,3.5],\"long_factor\":[2,3,4,5,6,7]}}", &c));
    CHECK(c.rope_dim == 12 && c.n_rope_factors == 6 && c.rope_short_factor[1] == 1.5f && c.rope_long_factor[5] == 7.0f);
    CHECK(c.rope_scaling.original_max_position_embeddings == 4096 && !strcmp(c.rope_scaling.type, "su"));
    CHECK(c.rope_attn_factor == 0);
    mlxc_model_config_clear(&c);
    /* transformers 5: everything in rope_parameters, attention_factor given */
    CHECK_OK(parse("{\"hidden_size\":64,\"num_attention_heads\":4,\"rope_parameters\":{\"rope_type\":\"longrope\","
                   "\"partial_rotary_factor\":0.5,\"original_max_position_embeddings\":256,\"attention_factor\":1.2,"
                   "\"short_factor\":[1,1,1,1],\"long_factor\":[2,2,2,2]}}", &c));
    CHECK(c.rope_dim == 8 && c.n_rope_factors == 4 && c.rope_attn_factor == 1.2);
    CHECK(c.rope_scaling.original_max_position_embeddings == 256 && !strcmp(c.rope_scaling.type, "longrope"));
    mlxc_model_config_clear(&c);
    /* a default rope keeps partial rotary among its parameters */
    CHECK_OK(parse("{\"hidden_size\":64,\"num_attention_heads\":2,\"rope_parameters\":{\"rope_type\":\"default\","
                   "\"rope_theta\":10000,\"partial_rotary_factor\":0.25}}", &c));
    CHECK(c.rope_dim == 8 && !c.rope_scaling.present);
    mlxc_model_config_clear(&c);
    CHECK_ERR(parse("{\"partial_rotary_factor\":1.5}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"rope_scaling\":{\"type\":\"su\",\"short_factor\":[1,2],\"long_factor\":[1]}}", &c),
              MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"rope_scaling\":{\"type\":\"su\",\"short_factor\":[1,\"2\"]}}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"rope_scaling\":{\"type\":\"su\",\"short_factor\":[1,0]}}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"rope_scaling\":{\"type\":\"su\",\"long_factor\":{}}}", &c), MLXC_ERR_FORMAT);

    /* wrong kinds and bad JSON */
    CHECK_ERR(parse("{\"hidden_size\":\"big\"}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"hidden_size\":-1}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"hidden_size\":1.5}", &c), MLXC_ERR_FORMAT);
    /* reals beyond int64 (a fuzz_config find: the cast was undefined) */
    CHECK_ERR(parse("{\"hidden_size\":3.3e107}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"text_config\":{\"num_hidden_layers\":-1e300}}", &c), MLXC_ERR_FORMAT);
    CHECK_OK(parse("{\"hidden_size\":4096.0}", &c));
    CHECK_EQ_INT(c.hidden_size, 4096);
    mlxc_model_config_clear(&c);
    CHECK_ERR(parse("{\"rms_norm_eps\":\"x\"}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"tie_word_embeddings\":1}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"architectures\":\"Llama\"}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"rope_scaling\":5}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"text_config\":[]}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"a\":1,\"a\":2}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("[1]", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"quantization\":{\"bits\":4}}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"quantization\":{\"bits\":9,\"group_size\":64}}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"quantization\":{\"bits\":4,\"group_size\":0}}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"quantization\":{\"bits\":4,\"group_size\":64,\"x\":{\"bits\":\"4\"}}}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"quantization\":3}", &c), MLXC_ERR_FORMAT);
    /* deep nesting: an error, not a crash */
    size_t depth = 50000;
    char *deep = malloc(2 * depth + 16);
    size_t o = (size_t)sprintf(deep, "{\"a\":");
    for (size_t i = 0; i < depth; i++) deep[o++] = '[';
    for (size_t i = 0; i < depth; i++) deep[o++] = ']';
    deep[o++] = '}';
    CHECK_ERR(mlxc_model_config_parse(deep, o, &c), MLXC_ERR_FORMAT);
    free(deep);
}

/* The MLX lookup order: exact, then without .weight/.scales/.biases, then
 * without a leading "language_model.", then with one added; else the default. */
static void test_quant_lookup(void) {
    mlxc_model_config c = MLXC_MODEL_CONFIG_INIT;
    CHECK_OK(parse("{\"quantization\":{\"group_size\":64,\"bits\":4,\"mode\":\"affine\","
                   "\"exact.name.weight\":{\"bits\":2,\"group_size\":32},"
                   "\"stem.a\":{\"bits\":3},"
                   "\"stem.b\":{\"group_size\":128},"
                   "\"language_model.lm.x\":{\"bits\":5,\"group_size\":32},"
                   "\"plain.y\":{\"bits\":6,\"group_size\":32},"
                   "\"skip.me\":false,\"keep.me\":true}}", &c));
    mlxc_quant_params p;
    CHECK_OK(mlxc_model_config_quant(&c, "exact.name.weight", &p));
    CHECK(p.quantized && p.bits == 2 && p.group_size == 32);
    CHECK_OK(mlxc_model_config_quant(&c, "exact.name.scales", &p));   /* stripped: "exact.name" not listed */
    CHECK(p.bits == 4 && p.group_size == 64);
    CHECK_OK(mlxc_model_config_quant(&c, "stem.a.scales", &p));
    CHECK(p.bits == 3 && p.group_size == 64);   /* missing field takes the default */
    CHECK_OK(mlxc_model_config_quant(&c, "stem.b.biases", &p));
    CHECK(p.bits == 4 && p.group_size == 128);
    CHECK_OK(mlxc_model_config_quant(&c, "lm.x.weight", &p));   /* prefix added */
    CHECK(p.bits == 5);
    CHECK_OK(mlxc_model_config_quant(&c, "language_model.plain.y.weight", &p));   /* prefix stripped */
    CHECK(p.bits == 6);
    CHECK_OK(mlxc_model_config_quant(&c, "skip.me.weight", &p));
    CHECK(!p.quantized);
    CHECK_OK(mlxc_model_config_quant(&c, "keep.me", &p));
    CHECK(p.quantized && p.bits == 4);
    CHECK_OK(mlxc_model_config_quant(&c, "other.weight", &p));
    CHECK(p.quantized && p.bits == 4 && p.group_size == 64);
    CHECK_EQ_INT(mlxc_model_config_quant_override_count(&c), 7);
    const char *name;
    CHECK_OK(mlxc_model_config_quant_override_at(&c, 0, &name, &p));
    CHECK(strcmp(name, "exact.name.weight") == 0);
    CHECK_ERR(mlxc_model_config_quant_override_at(&c, 7, &name, &p), MLXC_ERR_OUT_OF_RANGE);
    mlxc_model_config_clear(&c);
}

/* "mode" names the MLX format, at the top and per layer; the microscaling
 * modes fix bits and group size. */
static void test_quant_modes(void) {
    mlxc_model_config c;
    mlxc_quant_params p;
    CHECK_OK(parse("{\"quantization\":{\"group_size\":64,\"bits\":4,"
                   "\"a.proj\":{\"mode\":\"mxfp4\"},\"b.proj\":{\"mode\":\"nvfp4\",\"bits\":4,\"group_size\":16},"
                   "\"c.proj\":{\"mode\":\"mxfp8\"},\"d.proj\":{\"bits\":8}}}", &c));
    CHECK(c.quant.mode == MLXC_QF_MLX_AFFINE);
    CHECK_OK(mlxc_model_config_quant(&c, "a.proj.weight", &p));
    CHECK(p.mode == MLXC_QF_MLX_MXFP4 && p.bits == 4 && p.group_size == 32);
    CHECK_OK(mlxc_model_config_quant(&c, "b.proj.scales", &p));
    CHECK(p.mode == MLXC_QF_MLX_NVFP4 && p.bits == 4 && p.group_size == 16);
    CHECK_OK(mlxc_model_config_quant(&c, "c.proj", &p));
    CHECK(p.mode == MLXC_QF_MLX_MXFP8 && p.bits == 8 && p.group_size == 32);
    CHECK_OK(mlxc_model_config_quant(&c, "d.proj", &p));
    CHECK(p.mode == MLXC_QF_MLX_AFFINE && p.bits == 8 && p.group_size == 64);
    mlxc_model_config_clear(&c);
    CHECK_OK(parse("{\"quantization\":{\"mode\":\"mxfp4\",\"x\":{\"bits\":4}}}", &c));
    CHECK(c.has_quantization && c.quant.mode == MLXC_QF_MLX_MXFP4 && c.quant.bits == 4 && c.quant.group_size == 32);
    CHECK_OK(mlxc_model_config_quant(&c, "x", &p));
    CHECK(p.mode == MLXC_QF_MLX_MXFP4);   /* the default mode carries over */
    mlxc_model_config_clear(&c);
    CHECK_ERR(parse("{\"quantization\":{\"mode\":\"fp4\",\"bits\":4,\"group_size\":32}}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"quantization\":{\"mode\":4,\"bits\":4,\"group_size\":32}}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"quantization\":{\"mode\":\"nvfp4\",\"group_size\":32}}", &c), MLXC_ERR_FORMAT);
    CHECK_ERR(parse("{\"quantization\":{\"bits\":4,\"group_size\":64,\"y\":{\"mode\":\"mxfp8\",\"bits\":4}}}", &c),
              MLXC_ERR_FORMAT);
}

/* ---- loading errors ------------------------------------------------------------------------------ */

static void test_missing_shard(void) {
    char dir[1024], p[1100];
    fresh_sharded(dir, sizeof dir, "missing_shard");
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    unlink(p);
    mlxc_weights *w = NULL;
    CHECK_ERR(mlxc_weights_open(dir, &w), MLXC_ERR_NOT_FOUND);
    CHECK(strstr(mlxc_last_error(), "missing shard") != NULL);
    CHECK(w == NULL);
}

static void test_missing_tensor(void) {
    char dir[1024], p[1100];
    fresh_sharded(dir, sizeof dir, "missing_tensor");
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    replace_in_file(p, "\"model.norm.weight\"", "\"model.norm.weight\": \"model-00002-of-00002.safetensors\", \"model.ghost\"");
    mlxc_weights *w = NULL;
    CHECK_ERR(mlxc_weights_open(dir, &w), MLXC_ERR_NOT_FOUND);
    CHECK(strstr(mlxc_last_error(), "missing tensor \"model.ghost\"") != NULL);
    /* the index names the wrong shard for a tensor */
    fresh_sharded(dir, sizeof dir, "wrong_shard");
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    replace_in_file(p, "\"model.norm.weight\": \"model-00002-of-00002.safetensors\"",
                    "\"model.norm.weight\": \"model-00001-of-00002.safetensors\"");
    CHECK_ERR(mlxc_weights_open(dir, &w), MLXC_ERR_FORMAT);
    CHECK(strstr(mlxc_last_error(), "as the index says") != NULL);
}

static void test_hostile_index(void) {
    char dir[1024], p[1100];
    mlxc_weights *w = NULL;
    static const char *const bad[] = {
        "{\"weight_map\":{\"a\":\"../../etc/passwd\"}}",
        "{\"weight_map\":{\"a\":\"/etc/passwd\"}}",
        "{\"weight_map\":{\"a\":\"..\"}}",
        "{\"weight_map\":{\"a\":\"\"}}",
        "{\"weight_map\":{\"a\":5}}",
        "{\"weight_map\":{}}",
        "{\"weight_map\":[]}",
        "{\"metadata\":{}}",
        "{\"weight_map\":{\"a\":\"x\",\"a\":\"y\"}}",
        "not json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(dir, sizeof dir, "%s/bad_index_%zu", g_tmp, i);
        mkdir(dir, 0755);
        snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
        write_text(p, bad[i]);
        CHECK_ERR(mlxc_weights_open(dir, &w), MLXC_ERR_FORMAT);
    }
}

static void test_truncated_shard(void) {
    char dir[1024], p[1100];
    fresh_sharded(dir, sizeof dir, "truncated");
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
    size_t n;
    char *s = read_file(p, &n);
    CHECK(s != NULL && n > 100);
    if (!s || n <= 100) return;
    FILE *f = fopen(p, "wb");
    fwrite(s, 1, n - 100, f);
    fclose(f);
    free(s);
    mlxc_weights *w = NULL;
    CHECK_ERR(mlxc_weights_open(dir, &w), MLXC_ERR_FORMAT);
    CHECK(strstr(mlxc_last_error(), "truncated") != NULL);
}

static void test_unknown_dtype(void) {
    char dir[1024], p[1100];
    fresh_sharded(dir, sizeof dir, "unknown_dtype");
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    /* same length: the header stays consistent except for the name */
    replace_in_file(p, "\"F32\"", "\"Q32\"");
    mlxc_weights *w = NULL;
    CHECK_ERR(mlxc_weights_open(dir, &w), MLXC_ERR_FORMAT);
    CHECK(strstr(mlxc_last_error(), "unknown dtype \"Q32\"") != NULL);
}

static void test_shape_mismatch(void) {
    char dir[1024], p[1100];
    mlxc_weights *w = NULL;
    /* config says 8 bits where the packing is 4 bits */
    fresh_sharded(dir, sizeof dir, "shape_mismatch");
    snprintf(p, sizeof p, "%s/config.json", dir);
    replace_in_file(p, "\"group_size\": 32,\n  \"bits\": 4", "\"group_size\": 32,\n  \"bits\": 8");
    CHECK_ERR(mlxc_weights_open(dir, &w), MLXC_ERR_SHAPE);
    CHECK(strstr(mlxc_last_error(), "shape mismatch") != NULL);
    /* a quantized layer the config says is not quantized */
    fresh_sharded(dir, sizeof dir, "not_quantized");
    snprintf(p, sizeof p, "%s/config.json", dir);
    replace_in_file(p, "\"lm_head\": false", "\"model.embed_tokens\": false");
    CHECK_ERR(mlxc_weights_open(dir, &w), MLXC_ERR_FORMAT);
    /* malformed config.json next to good weights */
    fresh_sharded(dir, sizeof dir, "bad_config");
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_text(p, "{\"hidden_size\": }");
    CHECK_ERR(mlxc_weights_open(dir, &w), MLXC_ERR_FORMAT);
    CHECK(strstr(mlxc_last_error(), "config.json") != NULL);
}

static void test_dir_errors(void) {
    char dir[1024], p[1100], q[1100];
    mlxc_weights *w = NULL;
    CHECK_ERR(mlxc_weights_open("/nonexistent/model", &w), MLXC_ERR_NOT_FOUND);
    snprintf(dir, sizeof dir, "%s/empty", g_tmp);
    mkdir(dir, 0755);
    CHECK_ERR(mlxc_weights_open(dir, &w), MLXC_ERR_NOT_FOUND);
    /* two GGUF files: ambiguous */
    snprintf(dir, sizeof dir, "%s/two_gguf", g_tmp);
    mkdir(dir, 0755);
    fx(p, sizeof p, "v3.gguf");
    snprintf(q, sizeof q, "%s/a.gguf", dir);
    copy_file(p, q);
    snprintf(q, sizeof q, "%s/b.gguf", dir);
    copy_file(p, q);
    CHECK_ERR(mlxc_weights_open(dir, &w), MLXC_ERR_INVALID_ARGUMENT);
    unlink(q);
    CHECK_OK(mlxc_weights_open(dir, &w));   /* one is fine */
    mlxc_weights_close(w);
    /* the same tensor in two files without an index */
    snprintf(dir, sizeof dir, "%s/dup_tensor", g_tmp);
    mkdir(dir, 0755);
    fx(p, sizeof p, "st_numpy.safetensors");
    snprintf(q, sizeof q, "%s/a.safetensors", dir);
    copy_file(p, q);
    snprintf(q, sizeof q, "%s/b.safetensors", dir);
    copy_file(p, q);
    CHECK_ERR(mlxc_weights_open(dir, &w), MLXC_ERR_FORMAT);
    CHECK(strstr(mlxc_last_error(), "appears in both") != NULL);
    /* scales without a weight */
    snprintf(dir, sizeof dir, "%s/orphan_scales", g_tmp);
    mkdir(dir, 0755);
    snprintf(q, sizeof q, "%s/model.safetensors", dir);
    {
        const char *h = "{\"x.scales\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}";
        size_t hl = strlen(h);
        FILE *f = fopen(q, "wb");
        for (int i = 0; i < 8; i++) fputc((int)((hl >> (8 * i)) & 0xff), f);
        fputs(h, f);
        fwrite("\0\0\0\0", 1, 4, f);
        fclose(f);
    }
    CHECK_ERR(mlxc_weights_open(dir, &w), MLXC_ERR_NOT_FOUND);
    /* a packed weight that is not U32 */
    snprintf(dir, sizeof dir, "%s/bad_packed", g_tmp);
    mkdir(dir, 0755);
    snprintf(q, sizeof q, "%s/model.safetensors", dir);
    {
        const char *h = "{\"x.weight\":{\"dtype\":\"F16\",\"shape\":[1,2],\"data_offsets\":[0,4]},"
                        "\"x.scales\":{\"dtype\":\"F16\",\"shape\":[1,1],\"data_offsets\":[4,6]}}";
        size_t hl = strlen(h);
        FILE *f = fopen(q, "wb");
        for (int i = 0; i < 8; i++) fputc((int)((hl >> (8 * i)) & 0xff), f);
        fputs(h, f);
        fwrite("\0\0\0\0\0\0", 1, 6, f);
        fclose(f);
    }
    snprintf(q, sizeof q, "%s/config.json", dir);
    write_text(q, "{\"quantization\":{\"bits\":4,\"group_size\":16}}");
    CHECK_ERR(mlxc_weights_open(dir, &w), MLXC_ERR_DTYPE);
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "%s/io_tmp_XXXXXX", MLXC_BINARY_DIR);
    if (!mkdtemp(g_tmp)) {
        snprintf(g_tmp, sizeof g_tmp, "/tmp/mlxc_io_XXXXXX");
        if (!mkdtemp(g_tmp)) { perror("mkdtemp"); return 1; }
    }
    char probe[1024];
    fx(probe, sizeof probe, "manifest.json");
    if (access(probe, R_OK) != 0) {
        fprintf(stderr, "no fixtures in %s: run scripts/make_io_fixtures.py %s\n", fixture_dir(), fixture_dir());
        return 1;
    }
    if (!(g_dev = io_test_cpu_device())) return 1;
    RUN(test_sharded);
    RUN(test_load_all);
    RUN(test_mlx_single);
    RUN(test_gguf_through_weights);
    RUN(test_config_parse);
    RUN(test_quant_lookup);
    RUN(test_quant_modes);
    RUN(test_missing_shard);
    RUN(test_missing_tensor);
    RUN(test_hostile_index);
    RUN(test_truncated_shard);
    RUN(test_unknown_dtype);
    RUN(test_shape_mismatch);
    RUN(test_dir_errors);
    mlxc_device_close(g_dev);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    HARNESS_END();
}
