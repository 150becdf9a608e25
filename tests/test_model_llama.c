/* The forward pass against Hugging Face transformers: each tiny fixture
 * model (tests/fixtures/models, scripts/make_model_fixtures.py) loaded on the
 * CPU device must give the reference logits of its prompt (every position)
 * and of each greedy decode step within a relative error of 1e-4 (f32
 * weights, f32 KV cache), and the same greedy continuation; the same model
 * as an F32 GGUF file (q/k permuted as llama.cpp writes them) likewise.
 * Chunked prefill, f16/bf16 caches (the attention ops where the head size
 * allows) and truncation are checked against the same numbers.  phi3-tiny
 * (fused projections split into row views, partial rotary, LongRoPE, a
 * sliding window) runs every check, and its long factors one more. */
#include <jansson.h>
#include <math.h>
#include <sys/stat.h>

#include "harness.h"
#include "mlxc/mlxc.h"
#include "read_file.h"

#define MAX_TOK 64

typedef struct ref {
    char     name[64];
    int32_t  prompt[MAX_TOK], greedy[MAX_TOK];
    size_t   n_prompt, n_greedy, vocab, steps;
    float   *prefill;   /* (n_prompt, vocab) */
    float   *decode;    /* (steps, vocab)    */
} ref;

static mlxc_device *g_dev;        /* the device of the pass now running     */
static double g_tol32 = 1e-4;      /* f32 weights and cache: 1e-4 on the CPU */
static const char *g_fix, *g_gen;

static void *read_all_file(const char *path, size_t *n) {
    return read_file(path, n);
}

static bool load_ref(const char *name, ref *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    char p[1024];
    snprintf(p, sizeof p, "%s/%s/ref.json", g_fix, name);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    if (!j) { fprintf(stderr, "  cannot read %s: %s\n", p, je.text); return false; }
    json_t *pr = json_object_get(j, "prompt"), *gr = json_object_get(j, "greedy");
    r->vocab = (size_t)json_integer_value(json_object_get(j, "vocab"));
    r->steps = (size_t)json_integer_value(json_object_get(j, "decode_steps"));
    for (size_t i = 0; i < json_array_size(pr) && i < MAX_TOK; i++) r->prompt[r->n_prompt++] = (int32_t)json_integer_value(json_array_get(pr, i));
    for (size_t i = 0; i < json_array_size(gr) && i < MAX_TOK; i++) r->greedy[r->n_greedy++] = (int32_t)json_integer_value(json_array_get(gr, i));
    json_decref(j);
    size_t n;
    snprintf(p, sizeof p, "%s/%s/ref_prefill.f32", g_fix, name);
    r->prefill = read_all_file(p, &n);
    if (!r->prefill || n != r->n_prompt * r->vocab * 4) return false;
    snprintf(p, sizeof p, "%s/%s/ref_decode.f32", g_fix, name);
    r->decode = read_all_file(p, &n);
    return r->decode && n == r->steps * r->vocab * 4 && r->n_greedy == r->steps + 1;
}

static void free_ref(ref *r) {
    free(r->prefill);
    free(r->decode);
}

/* max |a - b| / max |b| over one row */
static double rel_err(const float *a, const float *b, size_t n) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= e)) e = d;   /* NaN counts as infinite */
        if (fabs(b[i]) > m) m = fabs(b[i]);
    }
    return m > 0 ? e / m : e;
}

static int32_t argmax(const float *x, size_t n) {
    size_t k = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[k]) k = i;
    return (int32_t)k;
}

/* Prefill + greedy decode of `r` on a model at `path`; returns the worst
 * relative error seen (and checks the greedy ids). */
static double run_ref(const char *path, const ref *r, mlxc_dtype kv, uint32_t n_batch, double tol) {
    mlxc_model *m = NULL;
    mlxc_context *c = NULL;
    double worst = 0;
    CHECK_OK(mlxc_model_open(g_dev, path, &m));
    if (!m) return INFINITY;
    CHECK_EQ_INT(mlxc_model_vocab_size(m), r->vocab);
    mlxc_context_params cp = {.n_ctx = 32, .n_batch = n_batch, .kv_dtype = kv};
    CHECK_OK(mlxc_context_create_ex(m, &cp, &c));
    if (!c) { mlxc_model_close(m); return INFINITY; }
    float *all = malloc(r->n_prompt * r->vocab * 4), *row = malloc(r->vocab * 4);
    CHECK_OK(mlxc_context_eval_all(c, r->prompt, r->n_prompt, all));
    for (size_t i = 0; i < r->n_prompt; i++) {
        double e = rel_err(all + i * r->vocab, r->prefill + i * r->vocab, r->vocab);
        CHECK_MSG(e <= tol, "%s kv %s: prompt position %zu rel err %.3g", path, mlxc_dtype_name(kv), i, e);
        if (e > worst) worst = e;
    }
    CHECK_OK(mlxc_context_logits(c, row, r->vocab));
    CHECK(memcmp(row, all + (r->n_prompt - 1) * r->vocab, r->vocab * 4) == 0);
    int32_t tok = argmax(row, r->vocab);
    CHECK_EQ_INT(tok, r->greedy[0]);
    for (size_t s = 0; s < r->steps; s++) {
        tok = r->greedy[s];   /* follow the reference path even after a mismatch */
        CHECK_OK(mlxc_context_eval(c, &tok, 1));
        CHECK_OK(mlxc_context_logits(c, row, r->vocab));
        double e = rel_err(row, r->decode + s * r->vocab, r->vocab);
        CHECK_MSG(e <= tol, "%s kv %s: decode step %zu rel err %.3g", path, mlxc_dtype_name(kv), s, e);
        if (e > worst) worst = e;
        CHECK_EQ_INT(argmax(row, r->vocab), r->greedy[s + 1]);
    }
    CHECK_EQ_INT(mlxc_context_n_past(c), r->n_prompt + r->steps);

    /* truncate back into the prompt and decode again: the same numbers */
    CHECK_OK(mlxc_context_truncate(c, (uint32_t)r->n_prompt - 3));
    CHECK_OK(mlxc_context_eval(c, r->prompt + r->n_prompt - 3, 3));
    CHECK_OK(mlxc_context_logits(c, row, r->vocab));
    double e = rel_err(row, r->prefill + (r->n_prompt - 1) * r->vocab, r->vocab);
    CHECK_MSG(e <= tol, "%s after truncate: rel err %.3g", path, e);
    free(all);
    free(row);
    mlxc_context_free(c);
    mlxc_model_close(m);
    return worst;
}

/* Logits of the reference path (the prompt, every position, then each
 * greedy decode step) on the model at `path`: (n_prompt + steps, vocab),
 * NULL on failure. */
static float *path_logits_ex(const char *path, const ref *r, const mlxc_model_options *opt) {
    mlxc_model *m = NULL;
    mlxc_context *c = NULL;
    CHECK_OK(mlxc_model_open_ex(g_dev, path, opt, &m));
    if (!m) return NULL;
    mlxc_context_params cp = {.n_ctx = 32, .kv_dtype = MLXC_F32};
    CHECK_OK(mlxc_context_create_ex(m, &cp, &c));
    float *all = c ? malloc((r->n_prompt + r->steps) * r->vocab * 4) : NULL;
    bool ok = all && mlxc_context_eval_all(c, r->prompt, r->n_prompt, all) == MLXC_OK;
    for (size_t s = 0; ok && s < r->steps; s++) {
        int32_t tok = r->greedy[s];
        ok = mlxc_context_eval(c, &tok, 1) == MLXC_OK &&
             mlxc_context_logits(c, all + (r->n_prompt + s) * r->vocab, r->vocab) == MLXC_OK;
    }
    CHECK_MSG(ok, "%s: %s", path, mlxc_last_error());
    mlxc_context_free(c);
    mlxc_model_close(m);
    if (!ok) { free(all); return NULL; }
    return all;
}

static float *path_logits(const char *path, const ref *r) { return path_logits_ex(path, r, NULL); }

/* The logits of GGUF file p opened with opt and with alt (bf16
 * activations; the fused step or not): equal bit for bit on the CPU,
 * within bf16 rounding on a GPU, where other kernels run.  label names
 * the alternative in the messages. */
static void same_weights_logits(const char *p, const ref *r, const mlxc_model_options *alt, bool fused,
                                const char *label) {
    const bool cpu = mlxc_device_backend(g_dev) == MLXC_BACKEND_CPU;
    const mlxc_model_options opt = {.load_flags = MLXC_LOAD_COPY, .act_dtype = MLXC_BF16};
    setenv("MLXC_FUSED_DECODE", fused ? (cpu ? "2" : "1") : "0", 1);
    float *a = path_logits_ex(p, r, &opt), *b = path_logits_ex(p, r, alt);
    unsetenv("MLXC_FUSED_DECODE");
    if (a && b) {
        double e = 0;
        for (size_t k = 0; k < r->n_prompt + r->steps; k++) {
            double ek = rel_err(b + k * r->vocab, a + k * r->vocab, r->vocab);
            if (ek > e) e = ek;
        }
        const size_t n = (r->n_prompt + r->steps) * r->vocab;
        if (cpu) CHECK_MSG(memcmp(a, b, n * 4) == 0, "%s %s: logits differ (%.3g)", p, label, e);
        else CHECK_MSG(e <= 2e-2, "%s %s: rel err %.3g", p, label, e);
        const char *base = strrchr(p, '/');
        printf("       %-26s %s%s: rel err %.2e\n", base ? base + 1 : p, label, fused ? " (fused step)" : "", e);
    }
    free(a);
    free(b);
}

/* The path the random-weight models (scripts/make_random_models.py tiny,
 * the llama vocabulary) are run on: a prompt and four tokens fed after it,
 * whatever they predict (their logits compared between two forms). */
static ref random_tiny_ref(void) {
    ref r = {.n_prompt = 6, .steps = 4, .vocab = 32000};
    const int32_t prompt[6] = {1, 450, 4996, 17354, 1701, 29916}, next[4] = {432, 5321, 29889, 13};
    memcpy(r.prompt, prompt, sizeof prompt);
    memcpy(r.greedy, next, sizeof next);
    return r;
}

/* A model's logits along r's path through the step of separate exact ops
 * (*apart) and through the fused step with int8 activations (*q8). */
static void exact_and_q8_logits(const char *p, const ref *r, float **apart, float **q8) {
    const bool cpu = mlxc_device_backend(g_dev) == MLXC_BACKEND_CPU;
    const mlxc_model_options opt = {.load_flags = MLXC_LOAD_COPY, .act_dtype = MLXC_BF16};
    setenv("MLXC_FUSED_DECODE", "0", 1);
    *apart = path_logits_ex(p, r, &opt);
    setenv("MLXC_FUSED_DECODE", cpu ? "2" : "1", 1);
    setenv("MLXC_DECODE_Q8", "1", 1);
    *q8 = path_logits_ex(p, r, &opt);
    unsetenv("MLXC_FUSED_DECODE");
    unsetenv("MLXC_DECODE_Q8");
}

/* The path of a fixture made at test time (MLXC_MODEL_GEN) into p, or
 * false with a skip line when it is missing. */
static bool gen_fixture(const char *name, char *p, size_t np) {
    snprintf(p, np, "%s/%s", g_gen, name);
    struct stat sb;
    if (stat(p, &sb) == 0) return true;
    printf("       skip: %s is missing\n", p);
    return false;
}

/* The fused decode step's logits of p along r's path (bf16 activations)
 * against `apart`, the same path through separate ops: the same bits on
 * the CPU, within bf16 rounding on a GPU.  Prints label with the error. */
static void fused_step_vs(const char *p, const ref *r, const float *apart, const char *label) {
    const bool cpu = mlxc_device_backend(g_dev) == MLXC_BACKEND_CPU;
    setenv("MLXC_FUSED_DECODE", cpu ? "2" : "1", 1);
    const mlxc_model_options bfc = {.act_dtype = MLXC_BF16, .load_flags = MLXC_LOAD_COPY};
    float *fz = path_logits_ex(p, r, &bfc);
    unsetenv("MLXC_FUSED_DECODE");
    CHECK_MSG(fz && apart, "%s: no logits to compare", label);
    if (apart && fz) {
        const size_t n = (r->n_prompt + r->steps) * r->vocab;
        double e = 0;
        for (size_t k = 0; k < r->n_prompt + r->steps; k++) {
            const double ek = rel_err(fz + k * r->vocab, apart + k * r->vocab, r->vocab);
            if (ek > e) e = ek;
        }
        printf("       %s: rel err %.2e\n", label, e);
        if (cpu) CHECK_MSG(memcmp(fz, apart, n * 4) == 0, "%s: logits differ (%.3g)", label, e);
        else CHECK_MSG(e <= 2e-2, "%s: rel err %.3g", label, e);
    }
    free(fz);
}

/* Q4_0 tiles (mlxc_model_options.ggml_tiles) on a random Q4_0 model whose
 * projections the tiles take (scripts/make_random_models.py tiny: hidden
 * 256, ffn 768): the same weights, so on the CPU the same logits bit for
 * bit as the blocks, on a GPU within bf16 rounding (the tile walk sums in
 * another order), with the fused step and without; the same weight bytes. */
static void test_ggml_tiles(void) {
    char p[1024];
    if (!gen_fixture("random-tiny-q4_0.gguf", p, sizeof p)) return;
    ref r = random_tiny_ref();
    const mlxc_model_options tiles = {.load_flags = MLXC_LOAD_COPY, .act_dtype = MLXC_BF16, .ggml_tiles = true};
    for (int fz = 0; fz < 2; fz++) same_weights_logits(p, &r, &tiles, fz, "as Q4_0 tiles");
    mlxc_model *m0 = NULL, *m1 = NULL;
    mlxc_model_options opt = {.load_flags = MLXC_LOAD_COPY};
    CHECK_OK(mlxc_model_open_ex(g_dev, p, &opt, &m0));
    opt.ggml_tiles = true;
    CHECK_OK(mlxc_model_open_ex(g_dev, p, &opt, &m1));
    if (m0 && m1)
        CHECK_MSG(mlxc_model_weight_bytes(m1) == mlxc_model_weight_bytes(m0), "Q4_0 tiles: %llu bytes, as blocks %llu",
                  (unsigned long long)mlxc_model_weight_bytes(m1), (unsigned long long)mlxc_model_weight_bytes(m0));
    mlxc_model_close(m0);
    mlxc_model_close(m1);
}

/* A random Q4_K_M model (scripts/make_random_models.py tiny q4_k_m: layer
 * 1's v in Q6_K beside its Q4_K q and k, as llama.cpp's recipe puts it):
 * the fused decode step, which runs that layer's q/k and v mat-vecs as one
 * pair (mlxc_qmatmul_fused_pair: q and k with int8 activations, v exact),
 * against the step of separate exact ops, over a prompt and four decode
 * steps: within test_fused_step_q8's 5e-2. */
static void test_mixed_qkv(void) {
    char p[1024];
    if (!gen_fixture("random-tiny-q4_k_m.gguf", p, sizeof p)) return;
    ref r = random_tiny_ref();
    const bool cpu = mlxc_device_backend(g_dev) == MLXC_BACKEND_CPU;
    float *a = NULL, *b = NULL;
    exact_and_q8_logits(p, &r, &a, &b);
    if (a && b) {
        double e = 0;
        for (size_t k = 0; k < r.n_prompt + r.steps; k++) {
            double ek = rel_err(b + k * r.vocab, a + k * r.vocab, r.vocab);
            if (ek > e) e = ek;
        }
        CHECK_MSG(e <= 5e-2, "%s: fused int8-activation step against separate ops: rel err %.3g", p, e);
        if (cpu) CHECK_MSG(e > 0, "%s: MLXC_DECODE_Q8 changed nothing on the CPU", p);
        printf("       random-tiny-q4_k_m fused int8-activation step against separate ops: rel err %.2e\n", e);
    }
    free(a);
    free(b);
}

/* The fused step of a mixture of experts whose router is dense (random
 * tiny Qwen3-MoE in Q4_K_M, the router F32 as llama.cpp writes it): the
 * MLP norm, the router and the route in one pass on a GPU
 * (mlxc_moe_route_fused: the norm's bits, the route's bits on its logits),
 * its three ops on the CPU.  Against the step of separate exact ops: the
 * same bits on the CPU, within bf16 rounding on a GPU; with int8
 * activations (the experts' gate/up and Q4_K down too, through
 * mlxc_qmatmul_experts_fused) within 5e-2, and not the same. */
static void test_moe_router_step(void) {
    char p[1024];
    if (!gen_fixture("random-tiny-moe-q4_k_m.gguf", p, sizeof p)) return;
    ref r = random_tiny_ref();
    const mlxc_model_options opt = {.load_flags = MLXC_LOAD_COPY, .act_dtype = MLXC_BF16};
    setenv("MLXC_DECODE_Q8", "0", 1);
    setenv("MLXC_FUSED_DECODE", "0", 1);
    float *a = path_logits_ex(p, &r, &opt);
    unsetenv("MLXC_FUSED_DECODE");
    fused_step_vs(p, &r, a, "random-tiny-moe-q4_k_m fused step (one-pass router) against separate ops");
    unsetenv("MLXC_DECODE_Q8");
    free(a);
    /* int8 activations: the experts' gate/up and Q4_K down through the
     * int8 walk, within test_mixed_qkv's 5e-2 of the exact separate ops */
    float *ex = NULL, *q8 = NULL;
    exact_and_q8_logits(p, &r, &ex, &q8);
    CHECK_MSG(ex && q8, "%s: no logits to compare", p);
    if (ex && q8) {
        double e = 0;
        for (size_t k = 0; k < r.n_prompt + r.steps; k++) {
            const double ek = rel_err(q8 + k * r.vocab, ex + k * r.vocab, r.vocab);
            if (ek > e) e = ek;
        }
        CHECK_MSG(e <= 5e-2 && e > 0, "%s: fused int8-activation step against separate ops: rel err %.3g", p, e);
        printf("       random-tiny-moe-q4_k_m fused int8-activation step against separate ops: rel err %.2e\n", e);
    }
    free(ex);
    free(q8);
}

/* A random model whose every weight is one of the code-book, ternary and
 * NVFP4 GGML types (scripts/make_random_models.py tiny books: the embedding
 * TQ2_0, the head IQ3_S, the projections IQ2_XXS .. NVFP4 in turn) against
 * its twin holding the same values dequantized by the gguf package as F32:
 * the quantized gather and matmul of every such type inside a model, within
 * the f32 bound (0 on the CPU: the kernels dequantize to the same floats),
 * over a prompt and four decode steps. */
static void test_code_book_formats(void) {
    char p[1024], pd[1024];
    snprintf(p, sizeof p, "%s/random-tiny-books.gguf", g_gen);
    snprintf(pd, sizeof pd, "%s/random-tiny-books-deq.gguf", g_gen);
    struct stat sb;
    if (stat(p, &sb) != 0 || stat(pd, &sb) != 0) {
        printf("       skip: %s or its twin is missing\n", p);
        return;
    }
    ref r = random_tiny_ref();
    float *d = path_logits(pd, &r);
    float *q = path_logits(p, &r);
    if (q && d) {
        double e = 0;
        size_t agree = 0;
        for (size_t k = 0; k < r.n_prompt + r.steps; k++) {
            const double ek = rel_err(q + k * r.vocab, d + k * r.vocab, r.vocab);
            if (ek > e) e = ek;
            agree += argmax(q + k * r.vocab, r.vocab) == argmax(d + k * r.vocab, r.vocab);
        }
        CHECK_MSG(e <= g_tol32, "random-tiny-books vs its dequantized twin: rel err %.3g", e);
        printf("       %-26s vs dequantized f32 %.2e, top-1 %zu/%zu\n", "random-tiny-books.gguf", e, agree,
               r.n_prompt + r.steps);
    }
    free(q);
    free(d);
}

/* The fused decode step (norms, silu and residual adds inside the
 * mat-vecs, llm_forward.c's layer_fused) against the step of separate
 * kernels, bf16 activations, the quantized fixtures.  On the CPU
 * (MLXC_FUSED_DECODE=2) the fused mat-vec rounds as the ops it replaces,
 * so the logits are equal bit for bit; on a GPU its norm sums in another
 * order, so they agree within bf16 rounding. */
static void test_fused_step(void) {
    static const char *const files[][2] = {{"llama-tiny", "llama-tiny-q4_0.gguf"}, {"llama-tiny", "llama-tiny-q8_0.gguf"},
                                           {"llama-tiny", "llama-tiny-mlx4"},      {"phi3-tiny", "phi3-tiny-q8_0.gguf"},
                                           {"phi3-tiny", "phi3-tiny-mlx4"},
                                           /* v and down in Q8_0: q, k stacked, v fused apart */
                                           {"llama-tiny", "llama-tiny-q4_0-mix.gguf"}};
    const bool cpu = mlxc_device_backend(g_dev) == MLXC_BACKEND_CPU;
    const mlxc_model_options opt = {.load_flags = MLXC_LOAD_COPY, .act_dtype = MLXC_BF16};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        ref r;
        CHECK(load_ref(files[i][0], &r));
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", g_gen, files[i][1]);
        struct stat sb;
        if (stat(p, &sb) == 0) {
            setenv("MLXC_FUSED_DECODE", "0", 1);
            float *apart = path_logits_ex(p, &r, &opt);
            setenv("MLXC_FUSED_DECODE", cpu ? "2" : "1", 1);
            float *fused = path_logits_ex(p, &r, &opt);
            unsetenv("MLXC_FUSED_DECODE");
            if (apart && fused) {
                double e = 0;
                for (size_t k = r.n_prompt; k < r.n_prompt + r.steps; k++) {
                    double ek = rel_err(fused + k * r.vocab, apart + k * r.vocab, r.vocab);
                    if (ek > e) e = ek;
                }
                const size_t n = (r.n_prompt + r.steps) * r.vocab;
                if (cpu) CHECK_MSG(memcmp(apart, fused, n * 4) == 0, "%s: fused decode step differs (rel err %.3g)", p, e);
                else CHECK_MSG(e <= 5e-2, "%s: fused decode step rel err %.3g", p, e);
                printf("       %-26s fused decode step vs separate kernels: rel err %.2e\n", files[i][1], e);
            }
            free(apart);
            free(fused);
        }
        free_ref(&r);
    }
}

/* GGUF Q4_0 and Q8_0 loaded as MLX affine (mlxc_model_options
 * .ggml_as_affine): the same weights, so the same logits as the blocks
 * give, prompt and decode, fused step and separate kernels.  On the CPU
 * the affine and block row dots form each value and sum alike: equal bit
 * for bit; on a GPU other kernels run (another summation order). */
static void test_ggml_as_affine(void) {
    static const char *const files[] = {"llama-tiny-q4_0.gguf", "llama-tiny-q8_0.gguf", "llama-tiny-q4_0-mix.gguf"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        for (int fz = 0; fz < 2; fz++) {
            ref r;
            CHECK(load_ref("llama-tiny", &r));
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", g_gen, files[i]);
            struct stat sb;
            if (stat(p, &sb) == 0) {
                mlxc_model_options opt = {.load_flags = MLXC_LOAD_COPY, .act_dtype = MLXC_BF16, .ggml_as_affine = true};
                same_weights_logits(p, &r, &opt, fz, "as MLX affine");
                /* the conversion took place: 20 bytes a Q4_0 block of 18, 36 a Q8_0 block of 34 */
                if (fz == 0) {
                    mlxc_model *m0 = NULL, *m1 = NULL;
                    opt.ggml_as_affine = false;
                    CHECK_OK(mlxc_model_open_ex(g_dev, p, &opt, &m0));
                    opt.ggml_as_affine = true;
                    CHECK_OK(mlxc_model_open_ex(g_dev, p, &opt, &m1));
                    if (m0 && m1)
                        CHECK_MSG(mlxc_model_weight_bytes(m1) > mlxc_model_weight_bytes(m0),
                                  "%s as affine: %llu bytes, as blocks %llu", p,
                                  (unsigned long long)mlxc_model_weight_bytes(m1),
                                  (unsigned long long)mlxc_model_weight_bytes(m0));
                    mlxc_model_close(m0);
                    mlxc_model_close(m1);
                }
            }
            free_ref(&r);
        }
}

/* The fused step over int8 activations (MLXC_DECODE_Q8: x' quantized per
 * 32 values before each MLX 4-bit mat-vec with bf16 scales, as a bf16
 * model converts, and each GGUF Q4_0 / Q8_0 one loaded as MLX affine 4- /
 * 8-bit; on a GPU the register walk)
 * against the exact step of separate kernels and against transformers'
 * f32 logits.  The int8 rounding adds to the weights' own error: bounded
 * by the 4-bit formats' bound against transformers (as test_quantized;
 * Q8_0 by twice its 3e-2), and against the exact step by 5e-2 of the
 * largest logit (measured on the CPU: 1.6e-2 and 1.7e-2 for MLX 4-bit,
 * 2.1e-2 and 2.2e-2 for Q4_0 and Q8_0, the Q8_0 one 2.2e-2 against
 * transformers).  A GPU fuses only the
 * projections its fast paths take: none of the tiny MLX models' (there
 * the two steps are the same, said so), the GGUF ones' as affine (on the
 * H200 1.55e-2 and 1.46e-2 against the exact step, Q8_0 2.0e-2 against
 * transformers); the kernel's parity suite and the 1B/7B benchmarks cover
 * the rest of the GPU's walk. */
static void test_fused_step_q8(void) {
    static const struct { const char *model, *name; double tol_ref; } v[] = {
        {"llama-tiny", "llama-tiny-mlx4-bf16", 3.5e-1}, {"phi3-tiny", "phi3-tiny-mlx4-bf16", 4.5e-1},
        /* GGUF blocks as MLX affine (MLXC_GGML_AS_AFFINE), as --q8 loads them on a GPU */
        {"llama-tiny", "llama-tiny-q4_0.gguf", 3.5e-1}, {"llama-tiny", "llama-tiny-q8_0.gguf", 6e-2}};
    const bool cpu = mlxc_device_backend(g_dev) == MLXC_BACKEND_CPU;
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        ref r;
        CHECK(load_ref(v[i].model, &r));
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", g_gen, v[i].name);
        struct stat sb;
        if (stat(p, &sb) == 0) {
            if (strstr(v[i].name, ".gguf")) setenv("MLXC_GGML_AS_AFFINE", "1", 1);
            float *apart = NULL, *q8 = NULL;
            exact_and_q8_logits(p, &r, &apart, &q8);
            unsetenv("MLXC_GGML_AS_AFFINE");
            if (apart && q8) {
                double e = 0, e_ref = 0;
                size_t agree = 0;
                for (size_t k = r.n_prompt; k < r.n_prompt + r.steps; k++) {
                    const float *want = r.decode + (k - r.n_prompt) * r.vocab;
                    double ek = rel_err(q8 + k * r.vocab, apart + k * r.vocab, r.vocab);
                    double er = rel_err(q8 + k * r.vocab, want, r.vocab);
                    if (ek > e) e = ek;
                    if (er > e_ref) e_ref = er;
                    agree += argmax(q8 + k * r.vocab, r.vocab) == argmax(apart + k * r.vocab, r.vocab);
                }
                CHECK_MSG(e <= 5e-2, "%s: int8-activation step vs exact step rel err %.3g", p, e);
                CHECK_MSG(e_ref <= v[i].tol_ref, "%s: int8-activation step vs transformers f32 rel err %.3g", p,
                          e_ref);
                printf("       %-26s int8-activation step vs exact %.2e, vs transformers f32 %.2e, top-1 as exact "
                       "%zu/%zu%s\n", v[i].name, e, e_ref, agree, r.steps,
                       e == 0 && !cpu ? " (no projection fused on this device: the same step)" : "");
                if (cpu) CHECK_MSG(e > 0, "%s: MLXC_DECODE_Q8 changed nothing on the CPU", p);
            }
            free(apart);
            free(q8);
        }
        free_ref(&r);
    }
}

/* llama-tiny and phi3-tiny quantized (GGUF Q8_0, Q4_0 from gguf.quants;
 * MLX 4-bit g64 from mx.quantize).  The exact check: the same model with the quantized
 * values dequantized to f32 (the "-deq" twin) within the f32 bound (on the
 * CPU it measures 0: the kernels dequantize to the same f32 values).
 * Against transformers' f32 model the error is the format's own, and large
 * on these random weights with their nearly flat logits: measured 2.0e-2
 * (Q8_0) and 0.25-0.35 (4-bit) of the largest logit, bounded with some
 * room; top-1 agreement is printed, not checked (10/17 for 4-bit). */
static void test_quantized(void) {
    static const struct { const char *model, *name, *deq; double tol_ref; } v[] = {
        {"llama-tiny", "llama-tiny-q8_0.gguf", "llama-tiny-q8_0-deq.gguf", 3e-2},
        {"llama-tiny", "llama-tiny-q4_0.gguf", "llama-tiny-q4_0-deq.gguf", 3.5e-1},
        {"llama-tiny", "llama-tiny-mlx4", "llama-tiny-mlx4-deq", 3.5e-1},
        /* fused qkv and gate/up split by rows of blocks, of packed words */
        {"phi3-tiny", "phi3-tiny-q8_0.gguf", "phi3-tiny-q8_0-deq.gguf", 3e-2},
        {"phi3-tiny", "phi3-tiny-mlx4", "phi3-tiny-mlx4-deq", 4.5e-1},
    };
    ref r;
    memset(&r, 0, sizeof r);
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        if (strcmp(r.name, v[i].model)) {
            free_ref(&r);
            CHECK(load_ref(v[i].model, &r));
        }
        char p[1024], pd[1024];
        snprintf(p, sizeof p, "%s/%s", g_gen, v[i].name);
        snprintf(pd, sizeof pd, "%s/%s", g_gen, v[i].deq);
        struct stat sb;
        if (stat(p, &sb) != 0) {
            printf("       %-26s absent (mlx not importable when the fixtures were made): skipped\n", v[i].name);
            continue;
        }
        float *q = path_logits(p, &r), *d = path_logits(pd, &r);
        if (q && d) {
            double e_deq = 0, e_ref = 0;
            size_t agree = 0, rows = r.n_prompt + r.steps;
            for (size_t k = 0; k < rows; k++) {
                const float *want = k < r.n_prompt ? r.prefill + k * r.vocab : r.decode + (k - r.n_prompt) * r.vocab;
                double ed = rel_err(q + k * r.vocab, d + k * r.vocab, r.vocab);
                double er = rel_err(q + k * r.vocab, want, r.vocab);
                if (ed > e_deq) e_deq = ed;
                if (er > e_ref) e_ref = er;
                agree += argmax(q + k * r.vocab, r.vocab) == argmax(want, r.vocab);
            }
            CHECK_MSG(e_deq <= g_tol32, "%s vs its dequantized twin: rel err %.3g", v[i].name, e_deq);
            CHECK_MSG(e_ref <= v[i].tol_ref, "%s vs transformers f32: rel err %.3g", v[i].name, e_ref);
            printf("       %-26s vs dequantized f32 %.2e, vs transformers f32 %.2e, top-1 %zu/%zu\n", v[i].name,
                   e_deq, e_ref, agree, rows);
        }
        free(q);
        free(d);
    }
    free_ref(&r);
}

static const char *const k_models[] = {"llama-tiny", "qwen2-tiny", "qwen3-tiny", "mistral-tiny", "gemma2-tiny",
                                       "gemma3-tiny", "phi3-tiny"};
#define N_MODELS 7
/* mistral-tiny has no GGUF form (llama.cpp's llama layout has no window) */
#define HAS_GGUF(i) (strcmp(k_models[i], "mistral-tiny") != 0)

/* Weights copied rather than mapped get the decode step's stacked q/k/v and
 * gate/up projections (one mat-vec each, llm_load.c); its logits must equal
 * the separate projections' bit for bit, in every architecture (Qwen2's
 * biases, Qwen3's and Gemma 3's q/k norms, Gemma's GeGLU) and storage. */
static void test_stacked_projections(void) {
    const mlxc_model_options copy = {.load_flags = MLXC_LOAD_COPY};
    for (size_t i = 0; i < N_MODELS + 2; i++) {
        const char *name = i < N_MODELS ? k_models[i] : "llama-tiny";
        ref r;
        CHECK(load_ref(name, &r));
        char p[1024];
        if (i < N_MODELS) snprintf(p, sizeof p, "%s/%s", g_fix, name);
        else snprintf(p, sizeof p, "%s/%s", g_gen, i == N_MODELS ? "llama-tiny-q4_0.gguf" : "llama-tiny-mlx4");
        struct stat sb;
        if (stat(p, &sb) == 0) {
            float *mapped = path_logits(p, &r), *stacked = path_logits_ex(p, &r, &copy);
            size_t n = (r.n_prompt + r.steps) * r.vocab;
            CHECK_MSG(mapped && stacked && memcmp(mapped, stacked, n * 4) == 0, "%s: stacked projections differ", p);
            free(mapped);
            free(stacked);
        }
        free_ref(&r);
    }
}

/* Model p with bf16 activations against r's logits (mlx-lm's), within
 * test_bf16_activations' bound: the largest relative error, and the
 * logits in *all (the caller frees them). */
static double bf16_err(const char *p, const ref *r, float **all) {
    const mlxc_model_options bf = {.act_dtype = MLXC_BF16};
    *all = path_logits_ex(p, r, &bf);
    double eb = INFINITY;
    for (size_t k = 0; *all && k < r->n_prompt + r->steps; k++) {
        const float *want = k < r->n_prompt ? r->prefill + k * r->vocab : r->decode + (k - r->n_prompt) * r->vocab;
        const double ek = rel_err(*all + k * r->vocab, want, r->vocab);
        eb = k == 0 || ek > eb ? ek : eb;
    }
    CHECK_MSG(eb <= 6e-2, "%s bf16 activations: rel err %.3g", p, eb);
    return eb;
}

/* Mixtures of experts: qwen3moe-tiny (Qwen3-MoE: 8 experts of width 32, 2
 * a token, renormalized), mixtral-tiny (Mixtral: 8 of width 32, 2, the
 * softmax over those two) and qwen2moe-tiny (Qwen2-MoE: q/k/v biases, 8 of
 * width 32, 2, not renormalized, plus a shared expert of width 64 under a
 * sigmoid gate), MLX 4-bit directories
 * (scripts/make_moe_model_fixture.py), against the logits of mlx-lm itself
 * on the same quantized weights: the prompt in one chunk (its experts
 * grouped, mlxc_moe_group + mlxc_qmatmul_grouped) and in chunks of 3 (a
 * slot at a time, mlxc_qmatmul_experts, as each decode step), and the same
 * weights as GGUF Q4_1 (make_model_fixtures.py writes them at test time: an
 * MLX 4-bit group of 32 whose scale and bias are f16 values is a Q4_1
 * block; Mixtral as llama.cpp's "llama" with experts, q and k permuted).
 * And a model whose experts are not quantized. */
static void test_moe(void) {
    static const struct { const char *name; mlxc_arch arch; } v[] = {{"qwen3moe-tiny", MLXC_ARCH_QWEN3_MOE},
                                                                     {"mixtral-tiny", MLXC_ARCH_LLAMA},
                                                                     {"qwen2moe-tiny", MLXC_ARCH_QWEN2_MOE}};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        ref r;
        if (!load_ref(v[i].name, &r)) {
            CHECK_MSG(false, "%s: reference missing", v[i].name);
            free_ref(&r);
            continue;
        }
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", g_fix, v[i].name);
        mlxc_model *m = NULL;
        CHECK_OK(mlxc_model_open(g_dev, p, &m));
        if (m) CHECK_EQ_INT(mlxc_model_arch(m), v[i].arch);
        /* a decode token reads 2 of the 8 experts: less than the weights,
         * more than the weights without any expert */
        if (m)
            CHECK_MSG(mlxc_model_decode_weight_bytes(m) < mlxc_model_weight_bytes(m) &&
                          mlxc_model_decode_weight_bytes(m) > mlxc_model_weight_bytes(m) / 4,
                      "%s: decode reads %llu of %llu weight bytes", v[i].name,
                      (unsigned long long)mlxc_model_decode_weight_bytes(m), (unsigned long long)mlxc_model_weight_bytes(m));
        mlxc_model_close(m);
        double e = run_ref(p, &r, MLXC_F32, 0, g_tol32), e3 = run_ref(p, &r, MLXC_F32, 3, g_tol32);
        printf("       %-13s mlx4 vs mlx-lm: max rel err %.2e (chunks of 3: %.2e)\n", v[i].name, e, e3);
        /* bf16 activations (a GPU's default; there the fused decode step
         * with the experts between its kernels), within test_bf16_activations' bound */
        float *all = NULL;
        const double eb = bf16_err(p, &r, &all);
        printf("       %-13s bf16 activations: max rel err %.2e\n", v[i].name, eb);
        /* the fused decode step (its norms and adds around the experts;
         * the router quantized, so the norm runs apart from it) */
        char label[96];
        snprintf(label, sizeof label, "%s fused step", v[i].name);
        fused_step_vs(p, &r, all, label);
        free(all);
        snprintf(p, sizeof p, "%s/%s-q4_1.gguf", g_gen, v[i].name);
        struct stat sb;
        if (stat(p, &sb) == 0) {
            e = run_ref(p, &r, MLXC_F32, 0, g_tol32);
            printf("       %-13s gguf Q4_1 vs mlx-lm: max rel err %.2e\n", v[i].name, e);
        } else {
            CHECK_MSG(false, "%s is missing", p);
        }
        free_ref(&r);
    }
    /* a dense model reads all its weights every token but one row of its
     * token embeddings (llama-tiny: 517 x 64, its own output head), or all
     * of them where the head is the same table (gemma3-tiny) */
    {
        char p[1024];
        snprintf(p, sizeof p, "%s/llama-tiny", g_fix);
        mlxc_model *m = NULL;
        CHECK_OK(mlxc_model_open(g_dev, p, &m));
        if (m) {
            const uint64_t skip = mlxc_model_weight_bytes(m) - mlxc_model_decode_weight_bytes(m);
            CHECK_MSG(skip == 516u * 64u * 4u || skip == 516u * 64u * 2u, "llama-tiny: %llu bytes not read a token",
                      (unsigned long long)skip);
        }
        mlxc_model_close(m);
        m = NULL;
        snprintf(p, sizeof p, "%s/gemma3-tiny", g_fix);
        CHECK_OK(mlxc_model_open(g_dev, p, &m));
        if (m) CHECK(mlxc_model_decode_weight_bytes(m) == mlxc_model_weight_bytes(m));
        mlxc_model_close(m);
        CHECK(mlxc_model_decode_weight_bytes(NULL) == 0);
    }
    /* experts not quantized (qwen3moe-tiny-f32, mlx-lm's f32 logits): a
     * Hugging Face directory (one tensor an expert, stacked at load), the
     * same experts stacked as an MLX directory names them, and as GGUF F32;
     * the dense expert forms of mlxc_qmatmul_experts / _grouped */
    ref r;
    if (!load_ref("qwen3moe-tiny-f32", &r)) {
        CHECK_MSG(false, "qwen3moe-tiny-f32: reference missing");
    } else {
        static const char *const forms[3] = {"hf", "stacked", "gguf"};
        for (int fi = 0; fi < 3; fi++) {
            char p[1024];
            if (fi == 0) snprintf(p, sizeof p, "%s/qwen3moe-tiny-f32", g_fix);
            else snprintf(p, sizeof p, "%s/qwen3moe-tiny-f32%s", g_gen, fi == 1 ? "-stacked" : ".gguf");
            struct stat sb;
            if (stat(p, &sb) != 0) {
                CHECK_MSG(false, "%s is missing", p);
                continue;
            }
            const double e = run_ref(p, &r, MLXC_F32, 0, g_tol32), e3 = run_ref(p, &r, MLXC_F32, 3, g_tol32);
            printf("       qwen3moe-tiny-f32 %-7s vs mlx-lm: max rel err %.2e (chunks of 3: %.2e)\n", forms[fi], e, e3);
            /* bf16 activations: on a GPU the f32 weights' prefill GEMMs
             * (the chunk cast to f32, cuBLASLt's f32 GEMM) */
            float *all = NULL;
            const double eb = bf16_err(p, &r, &all);
            printf("       qwen3moe-tiny-f32 %-7s bf16 activations: max rel err %.2e\n", forms[fi], eb);
            /* the fused decode step around dense experts (the attention's
             * weights F32: its norms run apart, and so the MoE norm too) */
            char label[96];
            snprintf(label, sizeof label, "qwen3moe-tiny-f32 %s fused step", forms[fi]);
            fused_step_vs(p, &r, all, label);
            free(all);
        }
    }
    free_ref(&r);
}

/* Every fixture in one file form (dir: the committed HF directory, else
 * the generated GGUF), f32 KV cache, against transformers' logits. */
static void check_f32_form(bool gguf, const char *label) {
    for (size_t i = 0; i < N_MODELS; i++) {
        if (gguf && !HAS_GGUF(i)) continue;
        ref r;
        CHECK(load_ref(k_models[i], &r));
        char p[1024];
        if (gguf) snprintf(p, sizeof p, "%s/%s.gguf", g_gen, k_models[i]);
        else snprintf(p, sizeof p, "%s/%s", g_fix, k_models[i]);
        double e = run_ref(p, &r, MLXC_F32, 0, g_tol32);
        printf("       %-11s %s max rel err %.2e\n", k_models[i], label, e);
        free_ref(&r);
    }
}
static void test_hf_f32(void) { check_f32_form(false, "safetensors f32 KV:"); }
static void test_gguf_f32(void) { check_f32_form(true, "gguf f32 KV:       "); }

/* LongRoPE (phi3-tiny): a context longer than the pretraining length
 * runs on the long factors at every position; transformers' logits of
 * the prompt on those (ref_prefill_long.f32), from the HF directory and
 * the GGUF file (factors as tensors, attention factor as metadata). */
static void test_long_rope(void) {
    ref r;
    CHECK(load_ref("phi3-tiny", &r));
    char p[1024];
    snprintf(p, sizeof p, "%s/phi3-tiny/ref.json", g_fix);
    json_t *j = json_load_file(p, 0, NULL);
    uint32_t n_ctx = (uint32_t)json_integer_value(json_object_get(json_object_get(j, "long_rope"), "n_ctx"));
    json_decref(j);
    snprintf(p, sizeof p, "%s/phi3-tiny/ref_prefill_long.f32", g_fix);
    size_t n;
    float *want = read_all_file(p, &n);
    CHECK(want && n == r.n_prompt * r.vocab * 4 && n_ctx > 32);
    for (int gguf = 0; gguf < 2 && want && n_ctx > 32; gguf++) {
        if (gguf) snprintf(p, sizeof p, "%s/phi3-tiny.gguf", g_gen);
        else snprintf(p, sizeof p, "%s/phi3-tiny", g_fix);
        mlxc_model *m = NULL;
        mlxc_context *c = NULL;
        CHECK_OK(mlxc_model_open(g_dev, p, &m));
        mlxc_context_params cp = {.n_ctx = n_ctx, .kv_dtype = MLXC_F32};
        if (m) CHECK_OK(mlxc_context_create_ex(m, &cp, &c));
        float *all = malloc(r.n_prompt * r.vocab * 4);
        double e = INFINITY, e_short = 0;
        if (c && mlxc_context_eval_all(c, r.prompt, r.n_prompt, all) == MLXC_OK) {
            e = 0;
            for (size_t k = 0; k < r.n_prompt; k++) {
                double ek = rel_err(all + k * r.vocab, want + k * r.vocab, r.vocab);
                double es = rel_err(all + k * r.vocab, r.prefill + k * r.vocab, r.vocab);
                if (ek > e) e = ek;
                if (es > e_short) e_short = es;
            }
        }
        CHECK_MSG(e <= g_tol32, "%s n_ctx %u: long-factor logits rel err %.3g", p, n_ctx, e);
        CHECK_MSG(e_short > 1e-2, "%s n_ctx %u: the long factors changed nothing (%.3g)", p, n_ctx, e_short);
        printf("       phi3-tiny   %s n_ctx %u (long factors): max rel err %.2e (%.2e from the short ones)\n",
               gguf ? "gguf       " : "safetensors", n_ctx, e, e_short);
        free(all);
        mlxc_context_free(c);
        mlxc_model_close(m);
    }
    free(want);
    free_ref(&r);
}

/* phi3-tiny with q/k/v and gate/up stored apart binds them as such. */
static void test_phi3_split(void) {
    ref r;
    CHECK(load_ref("phi3-tiny", &r));
    char p[1024];
    snprintf(p, sizeof p, "%s/phi3-tiny-split", g_gen);
    double e = run_ref(p, &r, MLXC_F32, 0, g_tol32);
    printf("       phi3-tiny   q/k/v, gate/up apart: max rel err %.2e\n", e);
    free_ref(&r);
}

/* Prompts longer than a chunk: the chunks see the cache the earlier ones wrote. */
static void test_chunked_prefill(void) {
    for (size_t i = 0; i < N_MODELS; i++) {
        ref r;
        CHECK(load_ref(k_models[i], &r));
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", g_fix, k_models[i]);
        run_ref(p, &r, MLXC_F32, 4, g_tol32);
        run_ref(p, &r, MLXC_F32, 1, g_tol32);
        free_ref(&r);
    }
}

/* 16-bit caches: qwen3-tiny, mistral-tiny and gemma3-tiny (head_dim 64)
 * run the attention ops (mistral and gemma3 with their sliding windows),
 * the others the composed attention over an f16/bf16 cache. */
static void test_half_caches(void) {
    for (size_t i = 0; i < N_MODELS; i++) {
        ref r;
        CHECK(load_ref(k_models[i], &r));
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", g_fix, k_models[i]);
        double e16 = run_ref(p, &r, MLXC_F16, 0, 5e-3);
        double eb16 = run_ref(p, &r, MLXC_BF16, 0, 3e-2);
        double e16c = run_ref(p, &r, MLXC_F16, 3, 5e-3);
        printf("       %-11s f16 KV %.2e, bf16 KV %.2e, f16 KV chunked %.2e\n", k_models[i], e16, eb16, e16c);
        free_ref(&r);
    }
}

typedef struct collected {
    int32_t ids[MAX_TOK];
    float   lp[MAX_TOK];
    size_t  n;
} collected;

static bool collect(int32_t t, float lp, void *user) {
    collected *c = user;
    if (c->n < MAX_TOK) { c->ids[c->n] = t; c->lp[c->n] = lp; c->n++; }
    return true;
}

/* f16 and bf16 weights (two shards and an index): the 16-bit matmul path
 * and the norm vectors converted at load.  The reference is the f32 model,
 * so the bound is the weights' rounding; the greedy ids are not compared
 * (a near tie may flip). */
static void test_half_weights(void) {
    for (size_t i = 0; i < N_MODELS; i++) {
        ref r;
        CHECK(load_ref(k_models[i], &r));
        char p[1024];
        double e[2];
        for (int h = 0; h < 2; h++) {
            snprintf(p, sizeof p, "%s/%s-%s", g_gen, k_models[i], h ? "bf16" : "f16");
            mlxc_model *m = NULL;
            mlxc_context *c = NULL;
            CHECK_OK(mlxc_model_open(g_dev, p, &m));
            mlxc_context_params cp = {.n_ctx = 32, .kv_dtype = MLXC_F32};
            if (m) CHECK_OK(mlxc_context_create_ex(m, &cp, &c));
            float *all = malloc(r.n_prompt * r.vocab * 4);
            e[h] = INFINITY;
            if (c && mlxc_context_eval_all(c, r.prompt, r.n_prompt, all) == MLXC_OK) {
                e[h] = 0;
                for (size_t k = 0; k < r.n_prompt; k++) {
                    double ek = rel_err(all + k * r.vocab, r.prefill + k * r.vocab, r.vocab);
                    if (ek > e[h]) e[h] = ek;
                }
            }
            CHECK_MSG(e[h] <= (h ? 5e-2 : 5e-3), "%s: rel err %.3g", p, e[h]);
            free(all);
            mlxc_context_free(c);
            mlxc_model_close(m);
        }
        printf("       %-11s f16 weights %.2e, bf16 weights %.2e\n", k_models[i], e[0], e[1]);
        free_ref(&r);
    }
}

/* bf16 activations (f32, bf16 and f16 weights, bf16 and f32 caches): the
 * bound of bf16 rounding in the residual stream.  With f16 weights a GPU
 * prefill (11 rows) converts the activations to f16 for the f16 GEMM. */
static void test_bf16_activations(void) {
    for (size_t i = 0; i < N_MODELS; i++) {
        ref r;
        CHECK(load_ref(k_models[i], &r));
        char p[1024];
        double worst = 0;
        for (int v = 0; v < 4; v++) {
            if (v < 2) snprintf(p, sizeof p, "%s/%s", g_fix, k_models[i]);
            else snprintf(p, sizeof p, "%s/%s-%s", g_gen, k_models[i], v == 2 ? "bf16" : "f16");
            mlxc_model_options mo = {.act_dtype = MLXC_BF16};
            mlxc_model *m = NULL;
            mlxc_context *c = NULL;
            CHECK_OK(mlxc_model_open_ex(g_dev, p, &mo, &m));
            mlxc_context_params cp = {.n_ctx = 32, .n_batch = v == 1 ? 5 : 0, .kv_dtype = v ? MLXC_BF16 : MLXC_F32};
            if (m) CHECK_OK(mlxc_context_create_ex(m, &cp, &c));
            float *all = malloc(r.n_prompt * r.vocab * 4), *row = malloc(r.vocab * 4);
            double e = INFINITY;
            if (c && mlxc_context_eval_all(c, r.prompt, r.n_prompt, all) == MLXC_OK) {
                e = 0;
                for (size_t k = 0; k < r.n_prompt; k++) {
                    double ek = rel_err(all + k * r.vocab, r.prefill + k * r.vocab, r.vocab);
                    if (ek > e) e = ek;
                }
                for (size_t s = 0; s < r.steps; s++) {
                    CHECK_OK(mlxc_context_eval(c, &r.greedy[s], 1));
                    CHECK_OK(mlxc_context_logits(c, row, r.vocab));
                    double ek = rel_err(row, r.decode + s * r.vocab, r.vocab);
                    if (ek > e) e = ek;
                }
            }
            CHECK_MSG(e <= 6e-2, "%s bf16 activations (variant %d): rel err %.3g", p, v, e);
            if (e > worst) worst = e;
            free(all);
            free(row);
            mlxc_context_free(c);
            mlxc_model_close(m);
        }
        printf("       %-11s bf16 activations: max rel err %.2e\n", k_models[i], worst);
        free_ref(&r);
    }
    mlxc_model_options bad = {.act_dtype = MLXC_F16};
    mlxc_model *m = NULL;
    char p[1024];
    snprintf(p, sizeof p, "%s/llama-tiny", g_fix);
    CHECK_ERR(mlxc_model_open_ex(g_dev, p, &bad, &m), MLXC_ERR_DTYPE);
}

/* The reference of fixture `name` and its model opened on g_dev; false,
 * with nothing left to release, when either fails (a failed check). */
static bool open_fixture(const char *name, ref *r, mlxc_model **m) {
    *m = NULL;
    if (!load_ref(name, r)) {
        CHECK_MSG(false, "%s: no reference", name);
        return false;
    }
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", g_fix, name);
    CHECK_OK(mlxc_model_open(g_dev, p, m));
    if (!*m) free_ref(r);
    return *m != NULL;
}

/* Whether contexts c[0] and c[1] hold bit-equal logits, read into a and
 * b (vocab floats each). */
static bool same_logits(mlxc_context *const *c, size_t vocab, float *a, float *b) {
    CHECK_OK(mlxc_context_logits(c[0], a, vocab));
    CHECK_OK(mlxc_context_logits(c[1], b, vocab));
    return memcmp(a, b, vocab * 4) == 0;
}

/* What a comparison of two contexts held. */
static void free_pair(mlxc_context **c, mlxc_model *m, ref *r, float *a, float *b) {
    free(a);
    free(b);
    mlxc_context_free(c[0]);
    mlxc_context_free(c[1]);
    mlxc_model_close(m);
    free_ref(r);
}

/* Decode through the replayed graph gives the same bits as decode encoded
 * step by step, at every position (after a truncate and a reset too), and
 * a replayed step records no new dispatch. */
static void test_decode_graph(void) {
    const char *names[3] = {"qwen3-tiny", "mistral-tiny", "gemma3-tiny"};
    for (int i = 0; i < 3; i++) {
        ref r;
        CHECK(load_ref(names[i], &r));
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", g_fix, names[i]);
        mlxc_model *m = NULL;
        CHECK_OK(mlxc_model_open(g_dev, p, &m));
        if (!m) { free_ref(&r); continue; }
        mlxc_context *c[2] = {NULL, NULL};
        for (int g = 0; g < 2; g++) {
            mlxc_context_params cp = mlxc_context_default_params();
            cp.n_ctx = 32;
            cp.kv_dtype = MLXC_BF16;
            cp.decode_graph = g == 1;
            CHECK_OK(mlxc_context_create_ex(m, &cp, &c[g]));
        }
        float *a = malloc(r.vocab * 4), *b = malloc(r.vocab * 4);
        for (int round = 0; round < 3 && c[0] && c[1]; round++) {
            for (int g = 0; g < 2; g++) {
                if (round == 1) CHECK_OK(mlxc_context_truncate(c[g], 5));
                if (round == 2) CHECK_OK(mlxc_context_reset(c[g]));
                if (round != 1) CHECK_OK(mlxc_context_eval(c[g], r.prompt, r.n_prompt));
            }
            for (size_t s = 0; s < r.steps; s++) {
                mlxc_counters c0, c1;
                CHECK_OK(mlxc_context_eval(c[0], &r.greedy[s], 1));
                mlxc_counters_get(&c0);
                CHECK_OK(mlxc_context_eval(c[1], &r.greedy[s], 1));
                mlxc_counters_get(&c1);
                if (round > 0 || s > 0) CHECK_EQ_INT(c1.dispatch - c0.dispatch, 0);
                CHECK_MSG(same_logits(c, r.vocab, a, b), "%s round %d step %zu: replay differs (rel err %.3g)",
                          names[i], round, s, rel_err(b, a, r.vocab));
            }
        }
        free_pair(c, m, &r, a, b);
    }
}

/* A replayed decode step returns while it runs (mlxc_context_eval's
 * overlap): the steps evaluated in a row with nothing read in between,
 * then mlxc_context_sync and the logits, give the bits of the same steps
 * with MLXC_DECODE_OVERLAP=0; again after a truncate, whose positions
 * hold. */
static void test_decode_overlap(void) {
    ref r;
    mlxc_model *m = NULL;
    if (!open_fixture("qwen3-tiny", &r, &m)) return;
    mlxc_context *c[2] = {NULL, NULL};
    for (int o = 0; o < 2; o++) {
        if (o == 0) setenv("MLXC_DECODE_OVERLAP", "0", 1);
        mlxc_context_params cp = mlxc_context_default_params();
        cp.n_ctx = 32;
        cp.kv_dtype = MLXC_BF16;
        CHECK_OK(mlxc_context_create_ex(m, &cp, &c[o]));
        unsetenv("MLXC_DECODE_OVERLAP");
    }
    float *a = malloc(r.vocab * 4), *b = malloc(r.vocab * 4);
    for (int round = 0; round < 2 && c[0] && c[1]; round++) {
        for (int o = 0; o < 2; o++) {
            if (round == 0) CHECK_OK(mlxc_context_eval(c[o], r.prompt, r.n_prompt));
            else CHECK_OK(mlxc_context_truncate(c[o], (uint32_t)r.n_prompt + 1));
            for (size_t s = round; s < r.steps; s++) CHECK_OK(mlxc_context_eval(c[o], &r.greedy[s], 1));
            CHECK_OK(mlxc_context_sync(c[o]));
        }
        CHECK_EQ_INT(mlxc_context_n_past(c[0]), mlxc_context_n_past(c[1]));
        CHECK_MSG(same_logits(c, r.vocab, a, b), "round %d: overlapped steps differ (rel err %.3g)", round,
                  rel_err(b, a, r.vocab));
    }
    CHECK_ERR(mlxc_context_sync(NULL), MLXC_ERR_INVALID_ARGUMENT);
    free_pair(c, m, &r, a, b);
}

/* Stops after `limit` tokens (the callback's false). */
typedef struct capped {
    collected got;
    size_t    limit;
} capped;
static bool collect_capped(int32_t t, float lp, void *user) {
    capped *c = user;
    collect(t, lp, &c->got);
    return c->got.n < c->limit;
}

/* Greedy generation with each pick fed back on the device (the default
 * where the decode step replays) gives the plain loop's tokens, logprobs
 * and context length (MLXC_GENERATE_FEED=0): to n_gen, stopped by the
 * callback (the step queued for the next token dropped), and stopped by a
 * full cache. */
static void test_generate_fed(void) {
    ref r;
    mlxc_model *m = NULL;
    if (!open_fixture("qwen3-tiny", &r, &m)) return;
    static const struct { uint32_t n_gen, extra_ctx; size_t limit; } runs[] = {{8, 16, 100}, {8, 16, 3}, {8, 4, 100}};
    for (size_t k = 0; k < sizeof runs / sizeof *runs && m; k++) {
        capped got[2];
        uint32_t n_past[2] = {0, 0};
        for (int fed = 0; fed < 2; fed++) {
            mlxc_context *c = NULL;
            mlxc_sampler *s = NULL;
            mlxc_context_params cp = mlxc_context_default_params();
            cp.n_ctx = (uint32_t)r.n_prompt + runs[k].extra_ctx;
            cp.kv_dtype = MLXC_BF16;
            CHECK_OK(mlxc_context_create_ex(m, &cp, &c));
            mlxc_sampler_params sp = mlxc_sampler_default_params();
            sp.temperature = 0;
            CHECK_OK(mlxc_sampler_create(&sp, &s));
            got[fed] = (capped){.got = {.n = 0}, .limit = runs[k].limit};
            if (!fed) setenv("MLXC_GENERATE_FEED", "0", 1);
            if (c && s)
                CHECK_OK(mlxc_generate(c, s, r.prompt, r.n_prompt, runs[k].n_gen, false, collect_capped, &got[fed], NULL));
            unsetenv("MLXC_GENERATE_FEED");
            n_past[fed] = mlxc_context_n_past(c);
            /* the context goes on from where it stopped */
            if (c && got[fed].got.n && n_past[fed] < cp.n_ctx)
                CHECK_OK(mlxc_context_eval(c, &got[fed].got.ids[got[fed].got.n - 1], 1));
            mlxc_sampler_free(s);
            mlxc_context_free(c);
        }
        CHECK_EQ_INT(got[1].got.n, got[0].got.n);
        CHECK_EQ_INT(n_past[1], n_past[0]);
        CHECK_MSG(memcmp(got[1].got.ids, got[0].got.ids, got[0].got.n * sizeof(int32_t)) == 0 &&
                      memcmp(got[1].got.lp, got[0].got.lp, got[0].got.n * sizeof(float)) == 0,
                  "run %zu: the fed loop's tokens or logprobs differ", k);
    }
    mlxc_model_close(m);
    free_ref(&r);
}

/* Greedy generation through the library's loop reproduces the reference. */
static void test_generate_greedy(void) {
    ref r;
    mlxc_model *m = NULL;
    mlxc_context *c = NULL;
    mlxc_sampler *s = NULL;
    if (!open_fixture("llama-tiny", &r, &m)) return;
    mlxc_context_params cp = {.n_ctx = 32, .kv_dtype = MLXC_F32};
    if (m) CHECK_OK(mlxc_context_create_ex(m, &cp, &c));
    mlxc_sampler_params sp = mlxc_sampler_default_params();
    sp.temperature = 0;
    CHECK_OK(mlxc_sampler_create(&sp, &s));
    CHECK(m && mlxc_model_tokenizer(m) != NULL);
    if (c && s) {
        collected got = {.n = 0};
        mlxc_generate_stats st;
        CHECK_OK(mlxc_generate(c, s, r.prompt, r.n_prompt, (uint32_t)r.n_greedy, false, collect, &got, &st));
        CHECK_EQ_INT(st.n_gen, r.n_greedy);
        CHECK_EQ_INT(st.n_prompt, r.n_prompt);
        CHECK_EQ_INT(got.n, r.n_greedy);
        CHECK(memcmp(got.ids, r.greedy, r.n_greedy * sizeof *got.ids) == 0);
        /* the device's pick carries the log-probability under the reference's softmax */
        for (size_t i = 0; i < got.n && i <= r.steps; i++) {
            const float *row = i == 0 ? r.prefill + (r.n_prompt - 1) * r.vocab : r.decode + (i - 1) * r.vocab;
            double mx = row[0], z = 0;
            for (size_t t = 1; t < r.vocab; t++) mx = row[t] > mx ? row[t] : mx;
            for (size_t t = 0; t < r.vocab; t++) z += exp(row[t] - mx);
            double want = row[r.greedy[i]] - mx - log(z);
            CHECK_MSG(fabs(got.lp[i] - want) < 1e-3, "token %zu: logprob %g, reference %g", i, got.lp[i], want);
        }
        /* the context now holds the prompt and all but the last token */
        CHECK_EQ_INT(mlxc_context_n_past(c), r.n_prompt + r.n_greedy - 1);
        /* sampling at temperature > 0 is reproducible from the seed */
        int32_t a[8], b[8];
        for (int rep = 0; rep < 2; rep++) {
            mlxc_sampler *s2;
            mlxc_sampler_params q = mlxc_sampler_default_params();
            q.seed = 42;
            q.temperature = 1.0f;
            q.top_k = 0;
            q.top_p = 1;
            q.min_p = 0;
            CHECK_OK(mlxc_sampler_create(&q, &s2));
            float *l = malloc(r.vocab * 4);
            memcpy(l, r.prefill + (r.n_prompt - 1) * r.vocab, r.vocab * 4);
            for (int k = 0; k < 8; k++) CHECK_OK(mlxc_sampler_sample_logits(s2, l, r.vocab, rep ? &b[k] : &a[k], NULL));
            free(l);
            mlxc_sampler_free(s2);
        }
        CHECK(memcmp(a, b, sizeof a) == 0);
    }
    mlxc_sampler_free(s);
    mlxc_context_free(c);
    mlxc_model_close(m);
    free_ref(&r);
}

/* The sampling chain on hand-made logits. */
static void test_sampler_chain(void) {
    float l[6] = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f, 0.5f};
    mlxc_sampler_params p = mlxc_sampler_default_params();
    mlxc_sampler *s;
    int32_t t;
    float lp;
    p.temperature = 0;
    CHECK_OK(mlxc_sampler_create(&p, &s));
    CHECK_OK(mlxc_sampler_sample_logits(s, l, 6, &t, &lp));
    CHECK_EQ_INT(t, 1);   /* ties go to the lower id */
    double z = 0;
    for (int i = 0; i < 6; i++) z += exp(l[i]);
    CHECK(fabs(lp - (3.0 - log(z))) < 1e-5);
    mlxc_sampler_free(s);
    /* a penalty on the leaders hands greedy to token 2 */
    p.repeat_penalty = 2.0f;
    CHECK_OK(mlxc_sampler_create(&p, &s));
    mlxc_sampler_accept(s, 1);
    mlxc_sampler_accept(s, 3);
    mlxc_sampler_accept(s, 1);
    CHECK_OK(mlxc_sampler_sample_logits(s, l, 6, &t, NULL));
    CHECK_EQ_INT(t, 2);
    mlxc_sampler_free(s);
    /* top-k 1 is greedy at any temperature; min-p 0.9 keeps only the ties at the top */
    p = mlxc_sampler_default_params();
    p.top_k = 1;
    p.temperature = 5;
    CHECK_OK(mlxc_sampler_create(&p, &s));
    for (int i = 0; i < 20; i++) {
        CHECK_OK(mlxc_sampler_sample_logits(s, l, 6, &t, NULL));
        CHECK_EQ_INT(t, 1);
    }
    mlxc_sampler_free(s);
    p = mlxc_sampler_default_params();
    p.top_k = 0;
    p.min_p = 0.9f;
    p.temperature = 5;
    CHECK_OK(mlxc_sampler_create(&p, &s));
    for (int i = 0; i < 40; i++) {
        CHECK_OK(mlxc_sampler_sample_logits(s, l, 6, &t, NULL));
        CHECK(t == 1 || t == 3);
    }
    mlxc_sampler_free(s);
    /* top-p: the first candidate alone reaches 0.3 */
    p = mlxc_sampler_default_params();
    p.top_k = 0;
    p.min_p = 0;
    p.top_p = 0.3f;
    p.temperature = 5;
    CHECK_OK(mlxc_sampler_create(&p, &s));
    for (int i = 0; i < 20; i++) {
        CHECK_OK(mlxc_sampler_sample_logits(s, l, 6, &t, NULL));
        CHECK_EQ_INT(t, 1);
    }
    mlxc_sampler_free(s);
}

/* Several sequences decoding together (mlxc_batch): each sequence's logits
 * after its prefill and after every batched step equal those of the same
 * tokens run alone through a context, whatever the other rows of the step
 * are: 1 .. n_seq sequences per step in changing orders (each list twice
 * in a row: captured, then replayed), at different positions, one
 * sequence reset and refilled while the others continue. */
#define BATCH_STEPS 10
static int32_t batch_tok(const ref *r, uint32_t s, size_t k) {
    return k == 0 ? 0 : r->greedy[(k + s) % r->n_greedy];
}
static size_t batch_prompt(const ref *r, uint32_t s, int32_t *out) {
    size_t n = 1 + (s * 3) % r->n_prompt;
    for (size_t i = 0; i < n; i++) out[i] = r->prompt[(i + s) % r->n_prompt];
    return n;
}
static void check_batch_ex(const char *name, mlxc_dtype kv, uint32_t n_seq, double tol, const mlxc_model_options *opt) {
    ref r;
    CHECK(load_ref(name, &r));
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", g_fix, name);
    mlxc_model *m = NULL;
    CHECK_OK(mlxc_model_open_ex(g_dev, p, opt, &m));
    if (!m) { free_ref(&r); return; }
    size_t V = r.vocab;
    mlxc_context_params cp = mlxc_context_default_params();
    cp.n_ctx = 32;
    cp.kv_dtype = kv;
    /* the reference: each sequence alone, logits after its prefill (k = 0)
     * and after each of its decode steps */
    float *want = malloc((size_t)n_seq * (BATCH_STEPS + 1) * V * 4);
    int32_t pr[MAX_TOK];
    for (uint32_t s = 0; s < n_seq; s++) {
        mlxc_context *c = NULL;
        CHECK_OK(mlxc_context_create_ex(m, &cp, &c));
        if (!c) break;
        size_t np = batch_prompt(&r, s, pr);
        CHECK_OK(mlxc_context_eval(c, pr, np));
        for (size_t k = 0; k <= BATCH_STEPS; k++) {
            int32_t t = batch_tok(&r, s, k);
            if (k > 0) CHECK_OK(mlxc_context_eval(c, &t, 1));
            CHECK_OK(mlxc_context_logits(c, want + ((size_t)s * (BATCH_STEPS + 1) + k) * V, V));
        }
        mlxc_context_free(c);
    }
    mlxc_batch *b = NULL;
    CHECK_OK(mlxc_batch_create(m, n_seq, &cp, &b));
    float *got = malloc((size_t)n_seq * V * 4), *one = malloc(V * 4);
    size_t done[MLXC_BATCH_MAX_SEQ] = {0};
    double worst = 0;
    for (uint32_t s = 0; s < n_seq && b; s++) {
        size_t np = batch_prompt(&r, s, pr);
        CHECK_OK(mlxc_batch_eval_seq(b, s, pr, np));
        CHECK_OK(mlxc_batch_logits(b, s, one, V));
        double e = rel_err(one, want + (size_t)s * (BATCH_STEPS + 1) * V, V);
        CHECK_MSG(e <= tol, "%s: sequence %u prefill rel err %.3g", name, s, e);
    }
    bool did_reset = false;
    for (uint32_t t = 0; t < 200 && b; t++) {
        /* 1 .. n_seq rows, in an order that changes every second step
         * (the second replays the first's captured step) */
        const uint32_t u = t / 2;
        uint32_t want_n = 1 + (u * 5) % n_seq, n = 0, seqs[MLXC_BATCH_MAX_SEQ];
        int32_t toks[MLXC_BATCH_MAX_SEQ];
        bool used[MLXC_BATCH_MAX_SEQ] = {false};
        for (uint32_t i = 0; i < 4 * n_seq && n < want_n; i++) {
            uint32_t s = (u + 3 * i + i / n_seq) % n_seq;
            if (used[s] || done[s] >= BATCH_STEPS) continue;
            used[s] = true;
            seqs[n] = s;
            toks[n++] = batch_tok(&r, s, done[s] + 1);
        }
        if (n == 0) break;
        CHECK_OK(mlxc_batch_decode(b, toks, seqs, n, got));
        for (uint32_t i = 0; i < n; i++) {
            uint32_t s = seqs[i];
            done[s]++;
            const float *w = want + ((size_t)s * (BATCH_STEPS + 1) + done[s]) * V;
            double e = rel_err(got + (size_t)i * V, w, V);
            if (e > worst) worst = e;
            CHECK_MSG(e <= tol, "%s: step %u row %u (sequence %u at %u) rel err %.3g", name, t, i, s,
                      mlxc_batch_n_past(b, s), e);
            CHECK_OK(mlxc_batch_logits(b, s, one, V));
            CHECK_MSG(memcmp(one, got + (size_t)i * V, V * 4) == 0, "%s: sequence %u's logits", name, s);
        }
        /* one sequence starts over while the others continue */
        if (!did_reset && n_seq > 2 && done[2] == 4) {
            did_reset = true;
            CHECK_OK(mlxc_batch_reset_seq(b, 2));
            CHECK_EQ_INT(mlxc_batch_n_past(b, 2), 0);
            CHECK_EQ_INT(mlxc_batch_logits(b, 2, one, V), MLXC_ERR_STATE);
            size_t np = batch_prompt(&r, 2, pr);
            CHECK_OK(mlxc_batch_eval_seq(b, 2, pr, np));
            done[2] = 0;
        }
    }
    for (uint32_t s = 0; s < n_seq && b; s++) CHECK_EQ_INT(done[s], BATCH_STEPS);
    printf("       %-12s %u sequences, %s KV%s: max rel err %.2e\n", name, n_seq, mlxc_dtype_name(kv),
           opt && (opt->load_flags & MLXC_LOAD_COPY) ? ", stacked q/k/v" : "", worst);
    free(got);
    free(one);
    free(want);
    mlxc_batch_free(b);
    mlxc_model_close(m);
    free_ref(&r);
}

static void check_batch(const char *name, mlxc_dtype kv, uint32_t n_seq, double tol) {
    check_batch_ex(name, kv, n_seq, tol, NULL);
}

static void test_batch(void) {
    bool cpu = mlxc_device_backend(g_dev) == MLXC_BACKEND_CPU;
    double tol = cpu ? 1e-5 : 1e-4;
    const char *names[] = {"llama-tiny", "qwen2-tiny", "qwen3-tiny", "mistral-tiny", "gemma2-tiny", "gemma3-tiny",
                           "phi3-tiny"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) check_batch(names[i], MLXC_F32, 8, tol);
    check_batch("llama-tiny", MLXC_F32, 1, tol);
    check_batch("qwen3-tiny", MLXC_F32, 3, tol);
    /* the attention ops (16-bit caches) */
    check_batch("qwen3-tiny", MLXC_BF16, 8, cpu ? 1e-5 : 1e-3);
    check_batch("gemma3-tiny", MLXC_F16, 5, cpu ? 1e-5 : 1e-3);
    /* copied weights: q, k, v stacked, so a batched step projects every
     * row in one mat-vec and writes each row's cache in one dispatch
     * (plain, biases, q/k norms, local layers) */
    const mlxc_model_options copy = {.load_flags = MLXC_LOAD_COPY};
    const char *stacked[] = {"llama-tiny", "qwen2-tiny", "qwen3-tiny", "gemma3-tiny"};
    for (size_t i = 0; i < sizeof stacked / sizeof *stacked; i++) check_batch_ex(stacked[i], MLXC_F32, 8, tol, &copy);
    check_batch_ex("qwen3-tiny", MLXC_BF16, 8, cpu ? 1e-5 : 1e-3, &copy);
}

/* Bad input to the batch: statuses, nothing changed. */
static void test_batch_errors(void) {
    char p[1024];
    snprintf(p, sizeof p, "%s/llama-tiny", g_fix);
    mlxc_model *m = NULL;
    CHECK_OK(mlxc_model_open(g_dev, p, &m));
    if (!m) return;
    mlxc_context_params cp = mlxc_context_default_params();
    cp.n_ctx = 4;
    mlxc_batch *b = NULL;
    CHECK_EQ_INT(mlxc_batch_create(m, 0, &cp, &b), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(mlxc_batch_create(m, MLXC_BATCH_MAX_SEQ + 1, &cp, &b), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(mlxc_batch_create(m, 5, &cp, &b), MLXC_ERR_INVALID_ARGUMENT);   /* 5 rows, 4 positions */
    CHECK_EQ_INT(mlxc_batch_create(NULL, 2, &cp, &b), MLXC_ERR_INVALID_ARGUMENT);
    CHECK(b == NULL);
    CHECK_OK(mlxc_batch_create(m, 3, &cp, &b));
    if (!b) { mlxc_model_close(m); return; }
    CHECK_EQ_INT(mlxc_batch_n_seq(b), 3);
    int32_t toks[4] = {1, 2, 3, 4};
    uint32_t seqs[4] = {0, 1, 2, 0};
    float *l = malloc(2 * (size_t)mlxc_model_vocab_size(m) * 4);   /* a step of two rows */
    CHECK_EQ_INT(mlxc_batch_logits(b, 0, l, (size_t)mlxc_model_vocab_size(m)), MLXC_ERR_STATE);
    CHECK_EQ_INT(mlxc_batch_eval_seq(b, 3, toks, 1), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(mlxc_batch_logits(b, 3, l, (size_t)mlxc_model_vocab_size(m)), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(mlxc_batch_reset_seq(b, 7), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(mlxc_batch_decode(b, toks, seqs, 4, NULL), MLXC_ERR_INVALID_ARGUMENT);   /* n > n_seq */
    CHECK_EQ_INT(mlxc_batch_decode(b, toks, seqs, 0, NULL), MLXC_ERR_INVALID_ARGUMENT);
    uint32_t dup[2] = {1, 1}, out[2] = {0, 3};
    CHECK_EQ_INT(mlxc_batch_decode(b, toks, dup, 2, NULL), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(mlxc_batch_decode(b, toks, out, 2, NULL), MLXC_ERR_INVALID_ARGUMENT);
    int32_t bad[2] = {1, (int32_t)mlxc_model_vocab_size(m)};
    CHECK_EQ_INT(mlxc_batch_decode(b, bad, seqs, 2, NULL), MLXC_ERR_OUT_OF_RANGE);
    CHECK_EQ_INT(mlxc_batch_decode(NULL, toks, seqs, 1, NULL), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_EQ_INT(mlxc_batch_decode(b, NULL, seqs, 1, NULL), MLXC_ERR_INVALID_ARGUMENT);
    for (uint32_t s = 0; s < 3; s++) CHECK_EQ_INT(mlxc_batch_n_past(b, s), 0);
    /* sequence 1 full: a step with it is refused and moves no other */
    CHECK_OK(mlxc_batch_eval_seq(b, 1, toks, 4));
    CHECK_EQ_INT(mlxc_batch_decode(b, toks, seqs, 2, NULL), MLXC_ERR_OUT_OF_RANGE);
    CHECK_EQ_INT(mlxc_batch_n_past(b, 0), 0);
    CHECK_EQ_INT(mlxc_batch_eval_seq(b, 1, toks, 1), MLXC_ERR_OUT_OF_RANGE);
    uint32_t ok[2] = {2, 0};
    CHECK_OK(mlxc_batch_decode(b, toks, ok, 2, l));
    CHECK_EQ_INT(mlxc_batch_n_past(b, 2), 1);
    CHECK_EQ_INT(mlxc_batch_n_past(b, 0), 1);
    CHECK_EQ_INT(mlxc_batch_n_past(b, 1), 4);
    CHECK_EQ_INT(mlxc_batch_n_past(b, 9), 0);
    free(l);
    mlxc_batch_free(b);
    mlxc_batch_free(NULL);
    mlxc_model_close(m);
}

int main(void) {
    g_fix = getenv("MLXC_MODEL_FIXTURES");
    g_gen = getenv("MLXC_MODEL_GEN");
    if (!g_fix) g_fix = MLXC_SOURCE_DIR "/tests/fixtures/models";
    if (!g_gen) SKIP_ALL("MLXC_MODEL_GEN not set (run through ctest)");
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &g_dev)) SKIP_ALL("no CPU device: %s", mlxc_last_error());
    RUN(test_hf_f32);
    RUN(test_gguf_f32);
    RUN(test_long_rope);
    RUN(test_phi3_split);
    RUN(test_quantized);
    RUN(test_stacked_projections);
    RUN(test_fused_step);
    RUN(test_fused_step_q8);
    RUN(test_ggml_as_affine);
    RUN(test_ggml_tiles);
    RUN(test_mixed_qkv);
    RUN(test_moe_router_step);
    RUN(test_code_book_formats);
    RUN(test_moe);
    RUN(test_chunked_prefill);
    RUN(test_half_caches);
    RUN(test_half_weights);
    RUN(test_bf16_activations);
    RUN(test_decode_graph);
    RUN(test_decode_overlap);
    RUN(test_batch);
    RUN(test_batch_errors);
    RUN(test_generate_greedy);
    RUN(test_generate_fed);
    RUN(test_sampler_chain);
    mlxc_device_close(g_dev);
    /* The same forward pass on a GPU when there is one.  The bound is
     * looser: the GPU's f32 kernels sum in other orders. */
    int n_cuda = 0;
    if (mlxc_device_count(MLXC_BACKEND_CUDA, &n_cuda) == MLXC_OK && n_cuda > 0 &&
        mlxc_device_open(MLXC_BACKEND_CUDA, 0, &g_dev) == MLXC_OK) {
        printf("       on %s\n", mlxc_device_name(g_dev));
        g_tol32 = 1e-3;
        RUN(test_hf_f32);
        RUN(test_gguf_f32);
        RUN(test_long_rope);
        RUN(test_quantized);
        RUN(test_fused_step);
        RUN(test_fused_step_q8);
        RUN(test_ggml_as_affine);
        RUN(test_ggml_tiles);
        RUN(test_mixed_qkv);
        RUN(test_moe_router_step);
        RUN(test_code_book_formats);
        RUN(test_moe);
        RUN(test_chunked_prefill);
        RUN(test_half_caches);
        RUN(test_half_weights);
        RUN(test_bf16_activations);
        RUN(test_decode_graph);
        RUN(test_decode_overlap);
        RUN(test_batch);
        RUN(test_batch_errors);
        RUN(test_generate_greedy);
    RUN(test_generate_fed);
        mlxc_device_close(g_dev);
    }
    HARNESS_END();
}
