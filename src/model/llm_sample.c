/*
 * Sampling on the host from a row of logits, and the generation loop.
 *
 * The chain runs in llama.cpp's order (penalty, top-k, top-p, min-p,
 * temperature, draw) over the vocabulary; one token costs a few passes over
 * n_vocab floats, small next to a forward pass.  A replayed decode graph
 * will want the same chain on the device (the sample ops cover argmax,
 * top-k and a temperature draw; penalty, top-p and min-p are not ops yet).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/env.h"
#include "model/llm_internal.h"

struct mlxc_sampler {
    mlxc_sampler_params p;
    uint64_t  rng;
    int32_t  *hist;       /* accepted tokens, a ring of hist_cap           */
    size_t    hist_n, hist_cap, hist_head;
    float    *work;       /* (n_vocab) adjusted logits                     */
    int32_t  *idx;        /* (n_vocab) candidate ids                       */
    size_t    cap;
};

mlxc_sampler_params mlxc_sampler_default_params(void) {
    mlxc_sampler_params p = {.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                             .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0};
    return p;
}

mlxc_status mlxc_sampler_create(const mlxc_sampler_params *p, mlxc_sampler **out) {
    MLXC_CHECK_ARG(p && out, "mlxc_sampler_create: NULL argument");
    *out = NULL;
    if (!(p->temperature >= 0) || isinf(p->temperature))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "sampler: temperature %g must be >= 0", p->temperature);
    if (p->top_k < 0) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "sampler: top_k %d must be >= 0", p->top_k);
    if (!(p->top_p > 0 && p->top_p <= 1))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "sampler: top_p %g must be in (0, 1]", p->top_p);
    if (!(p->min_p >= 0 && p->min_p <= 1))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "sampler: min_p %g must be in [0, 1]", p->min_p);
    if (!(p->repeat_penalty > 0) || isinf(p->repeat_penalty))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "sampler: repeat_penalty %g must be > 0",
                              p->repeat_penalty);
    if (p->repeat_last_n < -1)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "sampler: repeat_last_n %d must be >= -1", p->repeat_last_n);
    mlxc_sampler *s = calloc(1, sizeof *s);
    if (!s) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "sampler: out of memory");
    s->p = *p;
    mlxc_sampler_reset(s);
    *out = s;
    return MLXC_OK;
}

void mlxc_sampler_free(mlxc_sampler *s) {
    if (!s) return;
    free(s->hist);
    free(s->work);
    free(s->idx);
    free(s);
}

void mlxc_sampler_reset(mlxc_sampler *s) {
    if (!s) return;
    s->hist_n = s->hist_head = 0;
    s->rng = s->p.seed ^ UINT64_C(0x9E3779B97F4A7C15);
}

void mlxc_sampler_accept(mlxc_sampler *s, int32_t token) {
    if (!s || s->p.repeat_last_n == 0) return;
    if (s->hist_n == s->hist_cap) {
        size_t limit = s->p.repeat_last_n > 0 ? (size_t)s->p.repeat_last_n : SIZE_MAX;
        if (s->hist_cap < limit) {   /* grow (unbounded window, or not full yet) */
            size_t cap = s->hist_cap ? s->hist_cap * 2 : 64;
            if (cap > limit) cap = limit;
            int32_t *nh = malloc(cap * sizeof *nh);
            if (!nh) return;   /* the penalty then sees fewer tokens; never fatal */
            for (size_t i = 0; i < s->hist_n; i++) nh[i] = s->hist[(s->hist_head + i) % s->hist_cap];
            free(s->hist);
            s->hist = nh;
            s->hist_cap = cap;
            s->hist_head = 0;
        } else {   /* the window is full: drop the oldest */
            s->hist_head = (s->hist_head + 1) % s->hist_cap;
            s->hist_n--;
        }
    }
    s->hist[(s->hist_head + s->hist_n) % s->hist_cap] = token;
    s->hist_n++;
}

/* splitmix64: a uniform in [0, 1) with 53 bits. */
static double uniform(mlxc_sampler *s) {
    uint64_t z = (s->rng += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static int by_value_desc(const void *a, const void *b, void *vals) {
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    float x = ((const float *)vals)[i], y = ((const float *)vals)[j];
    if (x > y) return -1;
    if (x < y) return 1;
    return i < j ? -1 : i > j;
}

/* log softmax of the raw logits at `token` */
static float logprob_of(const float *logits, size_t n, int32_t token) {
    float mx = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += exp((double)logits[i] - mx);
    return (float)((double)logits[token] - mx - log(sum));
}

mlxc_status mlxc_sampler_sample_logits(mlxc_sampler *s, const float *logits, size_t n, int32_t *token,
                                       float *logprob) {
    MLXC_CHECK_ARG(s && logits && token, "mlxc_sampler_sample: NULL argument");
    if (n == 0 || n > INT32_MAX) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "sampler: %zu logits", n);
    if (s->cap < n) {
        float *w = realloc(s->work, n * sizeof *w);
        if (w) s->work = w;
        int32_t *ix = w ? realloc(s->idx, n * sizeof *ix) : NULL;
        if (!w || !ix) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "sampler: out of memory");
        s->idx = ix;
        s->cap = n;
    }
    float *x = s->work;
    for (size_t i = 0; i < n; i++) x[i] = isnan(logits[i]) ? -INFINITY : logits[i];
    if (s->p.repeat_penalty != 1.0f) {
        /* each distinct recent token once; idx marks the ones done */
        memset(s->idx, 0, n * sizeof *s->idx);
        for (size_t i = 0; i < s->hist_n; i++) {
            int32_t t = s->hist[(s->hist_head + i) % s->hist_cap];
            if (t < 0 || (size_t)t >= n || s->idx[t]) continue;
            s->idx[t] = 1;
            x[t] = x[t] > 0 ? x[t] / s->p.repeat_penalty : x[t] * s->p.repeat_penalty;
        }
    }
    int32_t pick = 0;
    if (s->p.temperature == 0) {
        for (size_t i = 1; i < n; i++)
            if (x[i] > x[pick]) pick = (int32_t)i;
    } else {
        /* candidates sorted by value (top-k first narrows the sort) */
        size_t nc = n;
        for (size_t i = 0; i < n; i++) s->idx[i] = (int32_t)i;
        qsort_r(s->idx, n, sizeof *s->idx, by_value_desc, x);
        if (s->p.top_k > 0 && (size_t)s->p.top_k < nc) nc = (size_t)s->p.top_k;
        /* probabilities of the candidates (before temperature, as llama.cpp) */
        float mx = x[s->idx[0]];
        double sum = 0;
        for (size_t i = 0; i < nc; i++) sum += exp((double)x[s->idx[i]] - mx);
        if (s->p.top_p < 1) {
            double cum = 0;
            size_t keep = nc;
            for (size_t i = 0; i < nc; i++) {
                cum += exp((double)x[s->idx[i]] - mx) / sum;
                if (cum >= s->p.top_p) { keep = i + 1; break; }
            }
            nc = keep;
        }
        if (s->p.min_p > 0) {
            /* p_i >= min_p * p_max  <=>  x_i >= x_max + log(min_p) */
            double lim = mx + log(s->p.min_p);
            size_t keep = 1;
            while (keep < nc && x[s->idx[keep]] >= lim) keep++;
            nc = keep;
        }
        double tsum = 0;
        for (size_t i = 0; i < nc; i++) tsum += exp(((double)x[s->idx[i]] - mx) / s->p.temperature);
        double u = uniform(s) * tsum, cum = 0;
        pick = s->idx[nc - 1];
        for (size_t i = 0; i < nc; i++) {
            cum += exp(((double)x[s->idx[i]] - mx) / s->p.temperature);
            if (cum > u) { pick = s->idx[i]; break; }
        }
    }
    *token = pick;
    if (logprob) *logprob = logprob_of(logits, n, pick);
    return MLXC_OK;
}

mlxc_status mlxc_sampler_sample(mlxc_sampler *s, const mlxc_context *ctx, int32_t *token, float *logprob) {
    MLXC_CHECK_ARG(s && ctx && token, "mlxc_sampler_sample: NULL argument");
    /* greedy with no penalty to apply: the pick the forward pass made on the device */
    if (s->p.temperature == 0 && (s->p.repeat_penalty == 1.0f || s->hist_n == 0))
        return llm_context_top1(ctx, token, logprob);
    size_t n = (size_t)ctx->m->vocab;
    float *l = malloc(n * sizeof *l);
    if (!l) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "sampler: out of memory");
    mlxc_status st = mlxc_context_logits(ctx, l, n);
    if (!st) st = mlxc_sampler_sample_logits(s, l, n, token, logprob);
    free(l);
    return st;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Greedy decoding with each pick fed back on the device (llm_decode_fed):
 * the step of token i + 1 is queued before token i reaches the host, so
 * the device does not wait for the host between steps.  Token i is read
 * in queue order behind its step.  When token i ends the generation, the
 * step already queued for i + 1 is dropped (the context truncated back to
 * what the plain loop evaluates). */
static mlxc_status generate_fed(mlxc_context *ctx, mlxc_sampler *s, uint32_t n_gen, bool stop_at_eos, int32_t eos,
                                mlxc_token_fn fn, void *user, mlxc_generate_stats *stats) {
    mlxc_read_ticket t[2][2];
    mlxc_status st = llm_queue_pick(ctx, t[0]);
    for (uint32_t i = 0; i < n_gen && !st; i++) {
        const bool more = i + 1 < n_gen && ctx->n_past < ctx->n_ctx;
        if (more && !(st = llm_decode_fed(ctx))) st = llm_queue_pick(ctx, t[(i + 1) & 1]);
        int32_t tok = 0;
        float lp = 0.0f;
        if (!st) st = llm_pick_wait(ctx, t[i & 1], &tok, &lp);
        if (st) break;
        mlxc_sampler_accept(s, tok);
        if (stats) stats->n_gen++;
        const bool go = fn ? fn(tok, lp, user) : true;
        if (!go || (stop_at_eos && tok == eos)) {
            if (more) st = mlxc_context_truncate(ctx, ctx->n_past - 1); /* the step queued for a token not wanted */
            break;
        }
        if (!more) break;
    }
    return st;
}

mlxc_status mlxc_generate(mlxc_context *ctx, mlxc_sampler *s, const int32_t *prompt, size_t n_prompt, uint32_t n_gen,
                          bool stop_at_eos, mlxc_token_fn fn, void *user, mlxc_generate_stats *stats) {
    MLXC_CHECK_ARG(ctx && s && (prompt || n_prompt == 0), "mlxc_generate: NULL argument");
    if (stats) memset(stats, 0, sizeof *stats);
    if (n_prompt == 0) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "generate: empty prompt");
    double t0 = now_s();
    mlxc_status st = mlxc_context_eval(ctx, prompt, n_prompt);
    if (st) return st;
    for (size_t i = 0; i < n_prompt; i++) mlxc_sampler_accept(s, prompt[i]);
    double t1 = now_s();
    if (stats) {
        stats->n_prompt = (uint32_t)n_prompt;
        stats->prompt_s = t1 - t0;
    }
    const mlxc_tokenizer *tok = mlxc_model_tokenizer(ctx->m);
    int32_t eos = tok ? mlxc_tokenizer_special_id(tok, MLXC_TOKEN_EOS) : -1;
    if (s->p.temperature == 0 && s->p.repeat_penalty == 1.0f && llm_feed_ok(ctx) &&
        mlxc_env_int("MLXC_GENERATE_FEED", 1) != 0) {
        st = generate_fed(ctx, s, n_gen, stop_at_eos, eos, fn, user, stats);
        if (stats) stats->gen_s = now_s() - t1;
        return st;
    }
    for (uint32_t i = 0; i < n_gen; i++) {
        int32_t t;
        float lp;
        if ((st = mlxc_sampler_sample(s, ctx, &t, &lp))) break;
        mlxc_sampler_accept(s, t);
        if (stats) stats->n_gen++;
        bool go = fn ? fn(t, lp, user) : true;
        if (!go || (stop_at_eos && t == eos) || i + 1 == n_gen || ctx->n_past >= ctx->n_ctx) break;
        if ((st = mlxc_context_eval(ctx, &t, 1))) break;
    }
    if (stats) stats->gen_s = now_s() - t1;
    return st;
}
