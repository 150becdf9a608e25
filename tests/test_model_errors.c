/* Bad input to the model layer: each case a clear status and a message
 * naming the cause, never a crash.  The broken model copies come from
 * scripts/make_model_fixtures.py --test-data. */
#include <math.h>

#include "harness.h"
#include "mlxc/mlxc.h"

static mlxc_device *g_dev;
static const char *g_fix, *g_gen;

static void path_of(char *p, size_t cap, const char *dir, const char *name) { snprintf(p, cap, "%s/%s", dir, name); }

static void test_missing_tensor(void) {
    char p[1024];
    path_of(p, sizeof p, g_gen, "bad-missing");
    mlxc_model *m = (mlxc_model *)1;
    CHECK_ERR(mlxc_model_open(g_dev, p, &m), MLXC_ERR_NOT_FOUND);
    CHECK(m == NULL);
    CHECK_MSG(strstr(mlxc_last_error(), "model.layers.1.mlp.up_proj.weight") != NULL, "%s", mlxc_last_error());
}

/* Gemma's post-feedforward norm is required of Gemma alone. */
static void test_missing_gemma_norm(void) {
    char p[1024];
    path_of(p, sizeof p, g_gen, "bad-gemma-missing");
    mlxc_model *m = NULL;
    CHECK_ERR(mlxc_model_open(g_dev, p, &m), MLXC_ERR_NOT_FOUND);
    CHECK_MSG(strstr(mlxc_last_error(), "model.layers.5.post_feedforward_layernorm.weight") != NULL, "%s",
              mlxc_last_error());
}

static void test_misshapen_tensor(void) {
    char p[1024];
    path_of(p, sizeof p, g_gen, "bad-shape");
    mlxc_model *m = NULL;
    CHECK_ERR(mlxc_model_open(g_dev, p, &m), MLXC_ERR_SHAPE);
    CHECK_MSG(strstr(mlxc_last_error(), "model.layers.0.self_attn.k_proj.weight") != NULL &&
                  strstr(mlxc_last_error(), "(48, 64)") && strstr(mlxc_last_error(), "(32, 64)"),
              "%s", mlxc_last_error());
}

static void test_unknown_arch(void) {
    char p[1024];
    path_of(p, sizeof p, g_gen, "bad-arch");
    mlxc_model *m = NULL;
    CHECK_ERR(mlxc_model_open(g_dev, p, &m), MLXC_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(mlxc_last_error(), "FooForCausalLM") != NULL, "%s", mlxc_last_error());
}

/* Each broken file names what is wrong: the tensor (missing or misshapen,
 * fused ones too, in HF and GGUF names), the architecture, the rope lists,
 * a mixture of experts' counts, layout or a dense expert stack's shape. */
static void test_broken_files(void) {
    static const struct { const char *name; mlxc_status st; const char *want[3]; } v[] = {
        {"bad-missing.gguf", MLXC_ERR_NOT_FOUND, {"blk.1.ffn_down.weight is missing"}},
        {"bad-arch.gguf", MLXC_ERR_UNSUPPORTED, {"unknown architecture \"foo\""}},
        {"bad-phi3-missing", MLXC_ERR_NOT_FOUND, {"model.layers.1.mlp.gate_up_proj.weight is missing"}},
        {"bad-phi3-missing.gguf", MLXC_ERR_NOT_FOUND, {"blk.0.attn_qkv.weight is missing"}},
        {"bad-phi3-shape", MLXC_ERR_SHAPE, {"model.layers.0.self_attn.qkv_proj.weight", "(96, 64)", "(128, 64)"}},
        {"bad-phi3-rope", MLXC_ERR_FORMAT, {"LongRoPE", "of 4 entries", "has 3"}},
        /* mixtures of experts (qwen3moe-tiny broken) */
        {"bad-moe-topk", MLXC_ERR_FORMAT, {"8 experts, 9 a token"}},
        {"bad-moe-step", MLXC_ERR_UNSUPPORTED, {"decoder_sparse_step"}},
        {"bad-moe-missing", MLXC_ERR_NOT_FOUND, {"model.layers.1.mlp.switch_mlp.up_proj.weight is missing"}},
        {"bad-moe-shape", MLXC_ERR_SHAPE, {"model.layers.0.mlp.switch_mlp.gate_proj.weight", "(8, 33, 64)",
                                           "(8, 32, 64)"}},
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        char p[1024];
        path_of(p, sizeof p, g_gen, v[i].name);
        mlxc_model *m = (mlxc_model *)1;
        CHECK_ERR(mlxc_model_open(g_dev, p, &m), v[i].st);
        CHECK(m == NULL);
        for (int k = 0; k < 3 && v[i].want[k]; k++)
            CHECK_MSG(strstr(mlxc_last_error(), v[i].want[k]) != NULL, "%s: \"%s\" not in: %s", v[i].name, v[i].want[k],
                      mlxc_last_error());
    }
}

/* More than the device's memory (here a budget smaller than the tiny
 * model): refused before anything is allocated, naming the sizes; a
 * context that would not fit beside the weights likewise. */
static void test_memory_budget(void) {
    char p[1024];
    path_of(p, sizeof p, g_fix, "llama-tiny");
    mlxc_model_options mo = {.memory_budget = 100000};
    mlxc_model *m = (mlxc_model *)1;
    CHECK_ERR(mlxc_model_open_ex(g_dev, p, &mo, &m), MLXC_ERR_OUT_OF_MEMORY);
    CHECK(m == NULL);
    CHECK_MSG(strstr(mlxc_last_error(), "the weights take") && strstr(mlxc_last_error(), "memory_budget"), "%s",
              mlxc_last_error());
    mo.memory_budget = 900000;   /* the weights (612 KB) and a small context */
    CHECK_OK(mlxc_model_open_ex(g_dev, p, &mo, &m));
    if (!m) return;
    mlxc_context *c = (mlxc_context *)1;
    mlxc_context_params cp = {.n_ctx = 256, .kv_dtype = MLXC_F32};
    CHECK_ERR(mlxc_context_create_ex(m, &cp, &c), MLXC_ERR_OUT_OF_MEMORY);
    CHECK(c == NULL);
    CHECK_MSG(strstr(mlxc_last_error(), "256 positions take") != NULL, "%s", mlxc_last_error());
    cp.n_ctx = 16;
    CHECK_OK(mlxc_context_create_ex(m, &cp, &c));
    int32_t toks[3] = {0, 5, 6};
    if (c) CHECK_OK(mlxc_context_eval(c, toks, 3));
    mlxc_context_free(c);
    mlxc_model_close(m);
    /* no budget: the device's memory, far above this model */
    CHECK_OK(mlxc_model_open(g_dev, p, &m));
    mlxc_model_close(m);
}

static void test_not_a_model(void) {
    mlxc_model *m = NULL;
    CHECK_ERR(mlxc_model_open(g_dev, "/no/such/model", &m), MLXC_ERR_NOT_FOUND);
    CHECK_ERR(mlxc_model_open(NULL, g_fix, &m), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_model_open(g_dev, NULL, &m), MLXC_ERR_INVALID_ARGUMENT);
}

static void test_context_limits(void) {
    char p[1024];
    path_of(p, sizeof p, g_fix, "llama-tiny");
    mlxc_model *m = NULL;
    CHECK_OK(mlxc_model_open(g_dev, p, &m));
    if (!m) return;
    mlxc_context *c = NULL;
    mlxc_context_params cp = {.n_ctx = 8, .kv_dtype = MLXC_F32};
    CHECK_OK(mlxc_context_create_ex(m, &cp, &c));
    if (!c) { mlxc_model_close(m); return; }
    int32_t toks[12] = {0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    float l[517];
    /* nothing evaluated yet */
    CHECK_ERR(mlxc_context_logits(c, l, 517), MLXC_ERR_STATE);
    /* empty prompt */
    CHECK_ERR(mlxc_context_eval(c, toks, 0), MLXC_ERR_INVALID_ARGUMENT);
    /* a prompt longer than the context */
    CHECK_ERR(mlxc_context_eval(c, toks, 12), MLXC_ERR_OUT_OF_RANGE);
    CHECK_EQ_INT(mlxc_context_n_past(c), 0);
    /* a token outside the vocabulary, negative or too large */
    int32_t bad[2] = {3, 517};
    CHECK_ERR(mlxc_context_eval(c, bad, 2), MLXC_ERR_OUT_OF_RANGE);
    bad[1] = -1;
    CHECK_ERR(mlxc_context_eval(c, bad, 2), MLXC_ERR_OUT_OF_RANGE);
    /* fill the cache, then one more token is past it */
    CHECK_OK(mlxc_context_eval(c, toks, 6));
    CHECK_OK(mlxc_context_eval(c, toks + 6, 2));
    CHECK_EQ_INT(mlxc_context_n_past(c), 8);
    CHECK_ERR(mlxc_context_eval(c, toks, 1), MLXC_ERR_OUT_OF_RANGE);
    CHECK_EQ_INT(mlxc_context_n_past(c), 8);
    CHECK_ERR(mlxc_context_logits(c, l, 516), MLXC_ERR_SHAPE);
    CHECK_OK(mlxc_context_logits(c, l, 517));
    CHECK_ERR(mlxc_context_truncate(c, 9), MLXC_ERR_OUT_OF_RANGE);
    CHECK_OK(mlxc_context_reset(c));
    CHECK_EQ_INT(mlxc_context_n_past(c), 0);
    CHECK_OK(mlxc_context_eval(c, toks, 8));
    /* generation stops at the end of the cache without an error */
    CHECK_OK(mlxc_context_reset(c));
    mlxc_sampler_params sp = mlxc_sampler_default_params();
    sp.temperature = 0;
    mlxc_sampler *s = NULL;
    CHECK_OK(mlxc_sampler_create(&sp, &s));
    mlxc_generate_stats st;
    CHECK_OK(mlxc_generate(c, s, toks, 6, 100, false, NULL, NULL, &st));
    CHECK_EQ_INT(st.n_gen, 3);   /* positions 6 and 7 evaluated, the third token sampled from 7 */
    CHECK_ERR(mlxc_generate(c, s, toks, 0, 4, false, NULL, NULL, &st), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_sampler_free(s);
    mlxc_context_free(c);
    /* bad context parameters */
    cp.kv_dtype = MLXC_I32;
    CHECK_ERR(mlxc_context_create_ex(m, &cp, &c), MLXC_ERR_DTYPE);
    cp.kv_dtype = MLXC_F16;
    cp.decode_act = (mlxc_decode_act)3;
    CHECK_ERR(mlxc_context_create_ex(m, &cp, &c), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(mlxc_last_error(), "decode_act"), "%s", mlxc_last_error());
    /* AUTO is exact on the CPU; Q8 asks for int8; MLXC_DECODE_Q8 overrides both */
    cp.decode_act = MLXC_DECODE_ACT_AUTO;
    CHECK_OK(mlxc_context_create_ex(m, &cp, &c));
    CHECK_EQ_INT(mlxc_context_decode_act(c), MLXC_DECODE_ACT_EXACT);
    mlxc_context_free(c);
    cp.decode_act = MLXC_DECODE_ACT_Q8;
    CHECK_OK(mlxc_context_create_ex(m, &cp, &c));
    CHECK_EQ_INT(mlxc_context_decode_act(c), MLXC_DECODE_ACT_Q8);
    mlxc_context_free(c);
    setenv("MLXC_DECODE_Q8", "0", 1);
    CHECK_OK(mlxc_context_create_ex(m, &cp, &c));
    CHECK_EQ_INT(mlxc_context_decode_act(c), MLXC_DECODE_ACT_EXACT);
    mlxc_context_free(c);
    unsetenv("MLXC_DECODE_Q8");
    CHECK_EQ_INT(mlxc_context_decode_act(NULL), MLXC_DECODE_ACT_EXACT);
    cp.decode_act = MLXC_DECODE_ACT_AUTO;
    cp.n_ctx = 1u << 30;
    CHECK_ERR(mlxc_context_create_ex(m, &cp, &c), MLXC_ERR_OUT_OF_RANGE);
    /* past the context the model was trained for (max_position_embeddings 256) */
    cp.n_ctx = 257;
    CHECK_ERR(mlxc_context_create_ex(m, &cp, &c), MLXC_ERR_OUT_OF_RANGE);
    CHECK_MSG(strstr(mlxc_last_error(), "n_ctx 257") && strstr(mlxc_last_error(), "256 positions"), "%s",
              mlxc_last_error());
    cp.n_ctx = 256;
    CHECK_OK(mlxc_context_create_ex(m, &cp, &c));
    mlxc_context_free(c);
    /* 0: the trained context, at most 4096 */
    cp.n_ctx = 0;
    CHECK_OK(mlxc_context_create_ex(m, &cp, &c));
    CHECK_EQ_INT(mlxc_context_n_ctx(c), 256);
    mlxc_context_free(c);
    CHECK_ERR(mlxc_context_create_ex(NULL, &cp, &c), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_model_close(m);
}

static void test_sampler_values(void) {
    mlxc_sampler *s = NULL;
    mlxc_sampler_params p = mlxc_sampler_default_params();
    p.temperature = -1;
    CHECK_ERR(mlxc_sampler_create(&p, &s), MLXC_ERR_INVALID_ARGUMENT);
    p.temperature = NAN;
    CHECK_ERR(mlxc_sampler_create(&p, &s), MLXC_ERR_INVALID_ARGUMENT);
    p = mlxc_sampler_default_params();
    p.top_p = 0;
    CHECK_ERR(mlxc_sampler_create(&p, &s), MLXC_ERR_INVALID_ARGUMENT);
    p.top_p = 1.5f;
    CHECK_ERR(mlxc_sampler_create(&p, &s), MLXC_ERR_INVALID_ARGUMENT);
    p.top_p = NAN;
    CHECK_ERR(mlxc_sampler_create(&p, &s), MLXC_ERR_INVALID_ARGUMENT);
    p.top_p = -0.5f;
    CHECK_ERR(mlxc_sampler_create(&p, &s), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(mlxc_last_error(), "top_p") != NULL, "%s", mlxc_last_error());
    p = mlxc_sampler_default_params();
    p.min_p = 1.01f;
    CHECK_ERR(mlxc_sampler_create(&p, &s), MLXC_ERR_INVALID_ARGUMENT);
    p.min_p = -0.1f;
    CHECK_ERR(mlxc_sampler_create(&p, &s), MLXC_ERR_INVALID_ARGUMENT);
    p.min_p = NAN;
    CHECK_ERR(mlxc_sampler_create(&p, &s), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(mlxc_last_error(), "min_p") != NULL, "%s", mlxc_last_error());
    p = mlxc_sampler_default_params();
    p.top_k = -3;
    CHECK_ERR(mlxc_sampler_create(&p, &s), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(mlxc_last_error(), "top_k") != NULL, "%s", mlxc_last_error());
    p = mlxc_sampler_default_params();
    p.repeat_penalty = 0;
    CHECK_ERR(mlxc_sampler_create(&p, &s), MLXC_ERR_INVALID_ARGUMENT);
    p.repeat_penalty = -1.1f;
    CHECK_ERR(mlxc_sampler_create(&p, &s), MLXC_ERR_INVALID_ARGUMENT);
    p.repeat_penalty = INFINITY;
    CHECK_ERR(mlxc_sampler_create(&p, &s), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(mlxc_last_error(), "repeat_penalty") != NULL, "%s", mlxc_last_error());
    p = mlxc_sampler_default_params();
    p.temperature = -0.01f;
    CHECK_ERR(mlxc_sampler_create(&p, &s), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_MSG(strstr(mlxc_last_error(), "temperature") != NULL, "%s", mlxc_last_error());
    p.temperature = INFINITY;
    CHECK_ERR(mlxc_sampler_create(&p, &s), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_sampler_create(NULL, &s), MLXC_ERR_INVALID_ARGUMENT);
    /* the bounds themselves are valid: min_p 1 keeps the most likely token(s), top_p 1 all */
    p = mlxc_sampler_default_params();
    p.min_p = 1;
    p.top_p = 1;
    p.temperature = 1;
    CHECK_OK(mlxc_sampler_create(&p, &s));
    float lg[3] = {1.0f, 3.0f, 2.0f};
    for (int i = 0; i < 8 && s; i++) {
        int32_t tk = -1;
        CHECK_OK(mlxc_sampler_sample_logits(s, lg, 3, &tk, NULL));
        CHECK_EQ_INT(tk, 1);
    }
    mlxc_sampler_free(s);
    s = NULL;
    p = mlxc_sampler_default_params();
    p.repeat_last_n = -2;
    CHECK_ERR(mlxc_sampler_create(&p, &s), MLXC_ERR_INVALID_ARGUMENT);
    CHECK(s == NULL);
    p = mlxc_sampler_default_params();
    CHECK_OK(mlxc_sampler_create(&p, &s));
    int32_t t;
    float l[3] = {NAN, NAN, NAN};
    CHECK_ERR(mlxc_sampler_sample_logits(s, l, 0, &t, NULL), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_OK(mlxc_sampler_sample_logits(s, l, 3, &t, NULL));   /* all NaN: some id, never a crash */
    CHECK(t >= 0 && t < 3);
    mlxc_sampler_free(s);
}

int main(void) {
    g_fix = getenv("MLXC_MODEL_FIXTURES");
    g_gen = getenv("MLXC_MODEL_GEN");
    if (!g_fix) g_fix = MLXC_SOURCE_DIR "/tests/fixtures/models";
    if (!g_gen) SKIP_ALL("MLXC_MODEL_GEN not set (run through ctest)");
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &g_dev)) SKIP_ALL("no CPU device: %s", mlxc_last_error());
    RUN(test_missing_tensor);
    RUN(test_missing_gemma_norm);
    RUN(test_misshapen_tensor);
    RUN(test_unknown_arch);
    RUN(test_broken_files);
    RUN(test_memory_budget);
    RUN(test_not_a_model);
    RUN(test_context_limits);
    RUN(test_sampler_values);
    mlxc_device_close(g_dev);
    HARNESS_END();
}
