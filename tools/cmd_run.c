/*
 * `mlxc run -m MODEL -p PROMPT [-n N] [sampling flags] [-c N] [--json]`
 *
 * Opens a GGUF file or a model directory on the default device
 * (MLXC_BACKEND picks it), tokenizes the prompt with the model's own
 * tokenizer (BOS added as the model does), and streams the continuation to
 * stdout, closing with a line of prompt and generation speed on stderr.
 * --json prints one JSON object instead: the prompt's ids, each generated
 * id with its log-probability and text, the whole text and the timings.
 * Ctrl-C stops the generation after the current token.  A prompt that is
 * not valid UTF-8 is warned about once (the tokenizer replaces the bytes).
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "mlxc/mlxc.h"
#include "opt.h"

static const char k_usage[] =
    "usage: mlxc run -m MODEL -p PROMPT [-n N] [options]\n"
    "  -m, --model PATH       a .gguf file or a model directory (safetensors + config.json)\n"
    "  -p, --prompt TEXT      the prompt\n"
    "  -n, --n-predict N      tokens to generate (default 64)\n"
    "  -c, --ctx-size N       context (KV cache) positions (default: prompt + n, at least 256,\n"
    "                         at most the model's trained context)\n"
    "  --temp T               temperature; 0 is greedy (default 0.8)\n"
    "  --top-k K              keep the K most likely tokens; 0 = off (default 40)\n"
    "  --top-p P              nucleus sampling threshold in (0, 1] (default 0.95)\n"
    "  --min-p P              drop tokens below P x the best one's probability (default 0.05)\n"
    "  --repeat-penalty R     penalty of recent tokens; 1 = off (default 1)\n"
    "  --repeat-last-n N      tokens the penalty looks back at; -1 = all (default 64)\n"
    "  --seed S               random seed (default 0)\n"
    "  --kv f16|bf16|f32      KV cache dtype (default f16)\n"
    "  --act auto|f32|bf16    activation dtype (default auto: bf16 on a GPU, f32 on the CPU)\n"
    MLXC_TOOL_Q8_USAGE
    "  --ignore-eos           keep generating after the end-of-sequence token\n"
    "  --no-bos               do not add the model's BOS token\n"
    "  --chat                 the prompt as one user turn of a chat, formatted by the model's chat\n"
    "                         template (a plain \"User: ...\" prompt when it has none)\n"
    "  --json                 one JSON object: prompt ids, generated ids and log-probs, timings\n"
    "environment: MLXC_BACKEND=auto|cpu|cuda chooses the device\n";

/* dec holds the prompt, then the generated tokens the tokenizer knows (a
 * model's vocabulary may be padded past it): decoding them together gives
 * each new token's text as it reads after the prompt (a SentencePiece
 * word's space, a character split across tokens). */
typedef struct run_state {
    const mlxc_tokenizer *tok;
    bool      json;
    int32_t  *ids;         /* (cap) generated tokens                    */
    float    *lp;          /* (cap) their log-probs                     */
    size_t    n, cap;
    int32_t  *dec;         /* (n0 + cap) prompt + decodable generated   */
    size_t    n0, n_dec;
    size_t    printed;     /* bytes of the decoded text already written */
    int32_t   eos;
    bool      hit_eos;
    mlxc_status err;
} run_state;

static bool on_token(int32_t t, float lp, void *user) {
    run_state *r = user;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        int32_t *ni = realloc(r->ids, cap * sizeof *ni);
        if (ni) r->ids = ni;
        float *nl = ni ? realloc(r->lp, cap * sizeof *nl) : NULL;
        if (nl) r->lp = nl;
        int32_t *nd = nl ? realloc(r->dec, (r->n0 + cap) * sizeof *nd) : NULL;
        if (!nd) return false;
        r->dec = nd;
        r->cap = cap;
    }
    r->ids[r->n] = t;
    r->lp[r->n] = lp;
    r->n++;
    if (r->tok && (size_t)t < mlxc_tokenizer_vocab_size(r->tok)) r->dec[r->n_dec++] = t;
    if (t == r->eos) r->hit_eos = true;
    if (!r->json && r->tok) {
        char *text;
        size_t len;
        if (mlxc_tokenizer_decode(r->tok, r->dec, r->n_dec, MLXC_DECODE_SKIP_SPECIAL, &text, &len) == MLXC_OK) {
            size_t upto = mlxc_utf8_complete(text, len);
            if (upto > r->printed) {
                fwrite(text + r->printed, 1, upto - r->printed, stdout);
                fflush(stdout);
                r->printed = upto;
            }
            free(text);
        }
    }
    return !mlxc_stop_requested();
}

static bool progress(uint64_t done, uint64_t total, void *user) {
    int *last = user;   /* the percentage shown, so the bar redraws only on a change */
    int pct = total ? (int)(100.0 * (double)done / (double)total) : 100;
    if (pct == *last) return !mlxc_stop_requested();
    *last = pct;
    int w = 40, k = pct * w / 100;
    fprintf(stderr, "\rloading [%.*s%*s] %3d%%", k, "########################################", w - k, "", pct);
    if (pct >= 100) fputc('\n', stderr);
    return !mlxc_stop_requested();
}

static int print_json(const char *model, const run_state *r, const int32_t *prompt, size_t n_prompt,
                      const mlxc_generate_stats *st, const char *stop) {
    json_t *o = json_object(), *pi = json_array(), *gen = json_array();
    for (size_t i = 0; i < n_prompt; i++) json_array_append_new(pi, json_integer(prompt[i]));
    const int32_t *gids = r->ids;
    for (size_t i = 0; i < r->n; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "id", json_integer(gids[i]));
        json_object_set_new(e, "logprob", json_real(r->lp[i]));
        char buf[256];
        size_t len = 0;
        if (r->tok && mlxc_tokenizer_token_piece(r->tok, gids[i], buf, sizeof buf, &len) == MLXC_OK) {
            /* a piece may be part of a UTF-8 character: then its bytes */
            json_t *ps = json_stringn(buf, len);
            if (!ps) {
                ps = json_array();
                for (size_t b = 0; b < len; b++) json_array_append_new(ps, json_integer((unsigned char)buf[b]));
            }
            json_object_set_new(e, "piece", ps);
        }
        json_array_append_new(gen, e);
    }
    json_object_set_new(o, "model", json_string(model));
    json_object_set_new(o, "prompt_ids", pi);
    json_object_set_new(o, "generated", gen);
    if (r->tok) {
        char *text;
        size_t len;
        if (mlxc_tokenizer_decode(r->tok, r->dec + r->n0, r->n_dec - r->n0,
                                  MLXC_DECODE_SKIP_SPECIAL | MLXC_DECODE_REPLACE_INVALID, &text,
                                  &len) == MLXC_OK) {
            json_object_set_new(o, "text", json_stringn(text, len));
            free(text);
        }
    }
    json_object_set_new(o, "stop", json_string(stop));
    json_t *t = json_object();
    json_object_set_new(t, "prompt_tokens", json_integer(st->n_prompt));
    json_object_set_new(t, "prompt_s", json_real(st->prompt_s));
    json_object_set_new(t, "prompt_tok_s", json_real(st->prompt_s > 0 ? st->n_prompt / st->prompt_s : 0));
    json_object_set_new(t, "gen_tokens", json_integer(st->n_gen));
    json_object_set_new(t, "gen_s", json_real(st->gen_s));
    json_object_set_new(t, "gen_tok_s", json_real(st->gen_s > 0 ? st->n_gen / st->gen_s : 0));
    json_object_set_new(o, "timings", t);
    char *s = json_dumps(o, JSON_REAL_PRECISION(9));   /* one line: a script reads it line by line */
    json_decref(o);
    if (!s) return 1;
    puts(s);
    free(s);
    return 0;
}

int mlxc_cmd_run(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL;
    long n_gen = 64, n_ctx = 0;
    bool json = false, ignore_eos = false, no_bos = false, chat = false;
    mlxc_sampler_params sp = mlxc_sampler_default_params();
    mlxc_dtype kv = MLXC_F16;
    long top_k = sp.top_k, last_n = sp.repeat_last_n;
    int kv_i = 0, act_i = 0;
    bool q8 = false;
    int dec_i = 0;
    const cli_opt opts[] = {
        CLI_OPT_STRING("-m|--model", &model),
        CLI_OPT_STRING("-p|--prompt", &prompt),
        CLI_OPT_INT("-n|--n-predict", &n_gen, 0, 1 << 24),
        CLI_OPT_INT("-c|--ctx-size", &n_ctx, 1, 1 << 24),
        MLXC_TOOL_SAMPLER_OPTS(sp, top_k, last_n),
        CLI_OPT_CHOICE("--kv", &kv_i, MLXC_TOOL_KV_CHOICES),
        CLI_OPT_CHOICE("--act", &act_i, MLXC_TOOL_ACT_CHOICES),
        CLI_OPT_CHOICE("--decode", &dec_i, MLXC_TOOL_DECODE_CHOICES),
        CLI_OPT_FLAG("--q8", &q8),
        CLI_OPT_FLAG("--ignore-eos", &ignore_eos),
        CLI_OPT_FLAG("--no-bos", &no_bos),
        CLI_OPT_FLAG("--chat", &chat),
        CLI_OPT_FLAG("--json", &json),
        CLI_OPT_END,
    };
    cli_cmd c = {"run", k_usage, opts, NULL, 0, 0};
    int prc = cli_parse(&c, argc, argv);
    if (prc >= 0) return prc;
    const int dec_act = mlxc_tool_decode_act(dec_i, q8);
    if (dec_act < 0) return cli_usage_error(&c, "--q8 and --decode exact disagree");
    sp.top_k = (int32_t)top_k;
    sp.repeat_last_n = (int32_t)last_n;
    kv = mlxc_tool_kv_dtype(kv_i);
    if (!model || !prompt) return cli_usage_error(&c, "%s", !model ? "-m MODEL is required" : "-p PROMPT is required");
    mlxc_sampler *smp = NULL;
    if (mlxc_sampler_create(&sp, &smp)) return cli_usage_error(&c, "%s", mlxc_last_error());

    int rc = 1;
    mlxc_device *dev = NULL;
    mlxc_model *m = NULL;
    mlxc_context *ctx = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    run_state r = {.json = json, .eos = -1};
    mlxc_stop_on_sigint();
    if (mlxc_device_open(MLXC_BACKEND_AUTO, 0, &dev)) goto fail;
    int shown = -1;
    mlxc_model_options mo = {.progress = (!json && isatty(2)) ? progress : NULL, .user = &shown,
                             .act_dtype = mlxc_tool_act_dtype(act_i, dev)};
    if (mlxc_model_open_ex(dev, model, &mo, &m)) goto fail;
    r.tok = mlxc_model_tokenizer(m);
    if (!r.tok) {
        fprintf(stderr, "mlxc run: %s has no tokenizer\n", model);
        goto out;
    }
    mlxc_warn_invalid_utf8("run", prompt, strlen(prompt));
    if (chat) {
        /* one user turn through the model's chat template */
        chat_format *fmt;
        if (chat_format_open(m, NULL, "mlxc run --chat", &fmt)) goto fail;
        mlxc_chat_message turn = {"user", prompt};
        mlxc_status cs = chat_format_ids(fmt, &turn, 1, &ids, &n_ids);
        chat_format_close(fmt);
        if (cs) goto fail;
    } else if (mlxc_tokenizer_encode(r.tok, prompt, strlen(prompt), no_bos ? 0 : MLXC_TOKENIZE_ADD_SPECIAL, &ids,
                                     &n_ids))
        goto fail;
    if (n_ids == 0) {
        fprintf(stderr, "mlxc run: the prompt has no tokens\n");
        goto out;
    }
    r.eos = ignore_eos ? -1 : mlxc_tokenizer_special_id(r.tok, MLXC_TOKEN_EOS);
    if (n_ctx == 0) {   /* room for the answer, within what the model was trained for */
        long train = (long)mlxc_model_get_config(m)->max_position_embeddings;
        n_ctx = (long)n_ids + n_gen;
        if (n_ctx < 256) n_ctx = 256;
        if (train > 0 && n_ctx > train) n_ctx = train;
    }
    if ((long)n_ids > n_ctx) {
        fprintf(stderr, "mlxc run: the prompt has %zu tokens, the context only %ld (-c)\n", n_ids, n_ctx);
        goto out;
    }
    /* the defaults (decode steps replayed as one captured graph), then the flags */
    mlxc_context_params cp = mlxc_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.kv_dtype = kv;
    cp.decode_act = (mlxc_decode_act)dec_act;
    if (mlxc_context_create_ex(m, &cp, &ctx)) goto fail;
    mlxc_generate_stats st = {0};
    r.dec = malloc(n_ids * sizeof *r.dec);
    if (!r.dec) goto fail;
    memcpy(r.dec, ids, n_ids * sizeof *ids);
    r.n0 = r.n_dec = n_ids;
    if (!json) {
        /* the prompt as the user wrote it; the stream continues after its decoded text */
        char *text;
        size_t len;
        if (mlxc_tokenizer_decode(r.tok, ids, n_ids, MLXC_DECODE_SKIP_SPECIAL, &text, &len)) goto fail;
        r.printed = len;
        free(text);
        fputs(prompt, stdout);
        if (chat) fputc('\n', stdout);
        fflush(stdout);
    }
    if (n_gen > 0) {
        if (mlxc_generate(ctx, smp, ids, n_ids, (uint32_t)n_gen, !ignore_eos, on_token, &r, &st)) goto fail;
    } else {
        if (mlxc_context_eval(ctx, ids, n_ids)) goto fail;
        st.n_prompt = (uint32_t)n_ids;
    }
    const char *stop = mlxc_stop_requested() ? "interrupted" : r.hit_eos ? "eos" : st.n_gen < (uint32_t)n_gen ? "context" : "length";
    if (json) {
        rc = print_json(model, &r, ids, n_ids, &st, stop);
    } else {
        fputc('\n', stdout);
        fflush(stdout);
        fprintf(stderr, "prompt %u tokens, %.1f tok/s | generated %u tokens, %.1f tok/s | %s | stop: %s\n",
                st.n_prompt, st.prompt_s > 0 ? st.n_prompt / st.prompt_s : 0.0, st.n_gen,
                st.gen_s > 0 ? st.n_gen / st.gen_s : 0.0, mlxc_device_name(dev), stop);
        rc = 0;
    }
    goto out;
fail:
    fprintf(stderr, "mlxc run: %s\n", mlxc_last_error());
    rc = 1;
out:
    signal(SIGINT, SIG_DFL);
    free(ids);
    free(r.ids);
    free(r.lp);
    free(r.dec);
    mlxc_context_free(ctx);
    mlxc_model_close(m);
    mlxc_sampler_free(smp);
    mlxc_device_close(dev);
    return rc;
}
