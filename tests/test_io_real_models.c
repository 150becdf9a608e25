/* Real models from PyPI (scripts/fetch_models.sh): SmolLM2-135M-Instruct
 * Q4_1 GGUF and all-MiniLM-L6-v2 safetensors.  Every tensor mlxc reads (from
 * the mapping and through a loaded buffer) must have the bytes the Python
 * gguf / safetensors packages read (models.json, from
 * scripts/make_io_fixtures.py --models), and the hyperparameters must match
 * the files.  Skips (77) when the models were not fetched. */
#include <jansson.h>

#include "harness.h"
#include "io_test.h"
#include "mlxc/mlxc.h"
#include "mlxc/weights.h"



static json_t *g_models;
static mlxc_device *g_dev;

static void check_all_loaded(mlxc_weights *w, json_t *tensors, bool gguf) {
    size_t n = mlxc_weights_count(w);
    CHECK_EQ_INT(n, json_array_size(tensors));
    mlxc_buffer **bufs = calloc(n, sizeof *bufs);
    CHECK_OK(mlxc_weights_load_all(w, g_dev, NULL, bufs));
    size_t i;
    json_t *t;
    size_t matched = 0;
    json_array_foreach(tensors, i, t) {
        const char *name = json_string_value(json_object_get(t, "name"));
        size_t idx;
        CHECK_OK(mlxc_weights_find(w, name, &idx));
        mlxc_tensor_info ti;
        mlxc_weights_info(w, idx, &ti);
        uint64_t want = strtoull(json_string_value(json_object_get(t, "sum64")), NULL, 16);
        if (gguf) {
            CHECK_EQ_INT(ti.ggml_type, json_integer_value(json_object_get(t, "type")));
            CHECK_EQ_INT(ti.bytes, json_integer_value(json_object_get(t, "bytes")));
            json_t *dims = json_object_get(t, "dims");
            CHECK_EQ_INT(ti.ndim, json_array_size(dims));
            for (int d = 0; d < ti.ndim; d++)   /* GGUF dims are reversed */
                CHECK_EQ_INT(ti.shape[d], json_integer_value(json_array_get(dims, (size_t)(ti.ndim - 1 - d))));
        } else {
            CHECK(strcmp(ti.dtype_name, json_string_value(json_object_get(t, "dtype"))) == 0);
            json_t *sh = json_object_get(t, "shape");
            CHECK_EQ_INT(ti.ndim, json_array_size(sh));
            for (int d = 0; d < ti.ndim; d++) CHECK_EQ_INT(ti.shape[d], json_integer_value(json_array_get(sh, (size_t)d)));
        }
        if (bufs[idx]) {
            const void *hp = mlxc_buffer_host_ptr(bufs[idx]);
            CHECK_MSG(hp && sum64(hp, ti.bytes) == want, "%s", name);
            if (hp && sum64(hp, ti.bytes) == want) matched++;
        }
    }
    printf("       %zu of %zu tensors equal to the Python package's bytes\n", matched, n);
    for (size_t k = 0; k < n; k++) mlxc_buffer_release(bufs[k]);
    free(bufs);
}

static void test_smollm2_gguf(void) {
    json_t *m = json_object_get(g_models, "smollm2");
    if (!m) { printf("       (smollm2 not fetched)\n"); return; }
    const char *path = json_string_value(json_object_get(m, "path"));
    mlxc_weights *w = NULL;
    CHECK_OK(mlxc_weights_open(path, &w));
    if (!w) return;
    const mlxc_gguf *g = mlxc_weights_gguf(w);
    CHECK(g != NULL);
    CHECK_EQ_INT(mlxc_gguf_version(g), json_integer_value(json_object_get(m, "version")));
    CHECK_EQ_INT(mlxc_gguf_kv_count(g), json_integer_value(json_object_get(m, "kv_count")));
    const mlxc_model_config *c = mlxc_weights_config(w);
    CHECK(c != NULL);
    if (c) {
        CHECK(strcmp(c->architecture, json_string_value(json_object_get(m, "architecture"))) == 0);
        CHECK_EQ_INT(c->hidden_size, json_integer_value(json_object_get(m, "embedding_length")));
        CHECK_EQ_INT(c->num_layers, json_integer_value(json_object_get(m, "block_count")));
        CHECK_EQ_INT(c->vocab_size, json_integer_value(json_object_get(m, "vocab")));
        CHECK(c->num_heads > 0 && c->num_kv_heads > 0 && c->rope_theta > 0 && c->norm_eps > 0);
    }
    const char *tok;
    size_t len;
    CHECK_OK(mlxc_gguf_get_array_string(g, "tokenizer.ggml.tokens", 1000, &tok, &len));
    const char *want = json_string_value(json_object_get(m, "token_1000"));
    CHECK(want && len == strlen(want) && memcmp(tok, want, len) == 0);
    check_all_loaded(w, json_object_get(m, "tensors"), true);
    mlxc_weights_close(w);
}

static void test_minilm_safetensors(void) {
    json_t *m = json_object_get(g_models, "minilm");
    if (!m) { printf("       (minilm not fetched)\n"); return; }
    const char *dir = json_string_value(json_object_get(m, "path"));
    mlxc_weights *w = NULL;
    CHECK_OK(mlxc_weights_open(dir, &w));
    if (!w) return;
    CHECK_EQ_INT(mlxc_weights_format(w), MLXC_FORMAT_SAFETENSORS);
    const mlxc_model_config *c = mlxc_weights_config(w);
    json_t *cj = json_object_get(m, "config");
    CHECK(c != NULL);
    if (c) {
        CHECK(strcmp(c->model_type, json_string_value(json_object_get(cj, "model_type"))) == 0);
        CHECK_EQ_INT(c->hidden_size, json_integer_value(json_object_get(cj, "hidden_size")));
        CHECK_EQ_INT(c->num_layers, json_integer_value(json_object_get(cj, "num_hidden_layers")));
        CHECK_EQ_INT(c->num_heads, json_integer_value(json_object_get(cj, "num_attention_heads")));
        CHECK_EQ_INT(c->intermediate_size, json_integer_value(json_object_get(cj, "intermediate_size")));
        CHECK_EQ_INT(c->vocab_size, json_integer_value(json_object_get(cj, "vocab_size")));
        CHECK(c->norm_eps == json_number_value(json_object_get(cj, "layer_norm_eps")));
    }
    check_all_loaded(w, json_object_get(m, "tensors"), false);
    mlxc_weights_close(w);
}

int main(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models.json", fixture_dir());
    json_error_t e;
    g_models = json_load_file(path, 0, &e);
    if (!g_models) SKIP_ALL("no %s (run scripts/fetch_models.sh, then scripts/make_io_fixtures.py --models)", path);
    if (!json_object_get(g_models, "smollm2") && !json_object_get(g_models, "minilm"))
        SKIP_ALL("models not fetched: run scripts/fetch_models.sh (cache $MLXC_MODELS_DIR or ~/.cache/mlxc-models)");
    if (!(g_dev = io_test_cpu_device())) return 1;
    RUN(test_smollm2_gguf);
    RUN(test_minilm_safetensors);
    mlxc_device_close(g_dev);
    json_decref(g_models);
    HARNESS_END();
}
