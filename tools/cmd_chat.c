/*
 * `mlxc chat -m MODEL [--system TEXT] [-n N] [sampling flags]`: a
 * conversation on the terminal.
 *
 * Each line read from stdin is a user turn; the whole conversation is
 * rendered through the model's chat template (mlxc/chat.h) and tokenized,
 * the tokens the KV cache already holds (the common prefix with the last
 * turn's prompt and reply) are kept, only the rest is evaluated, and the
 * reply streams to stdout until the end-of-turn token.  `/exit` or the end
 * of input ends the chat.  A model without a template gets a plain
 * "Role: text" prompt, with a warning.
 *
 * The prompt building is shared with `mlxc run --chat` (chat_format_*,
 * declared in commands.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "mlxc/mlxc.h"
#include "opt.h"

/* ---- the prompt of a conversation ----------------------------------------------------------- */

/* The fallback for models without a template: plain text, the model's BOS
 * added by the tokenizer. */
static const char FALLBACK[] =
    "{% for m in messages %}{{ m.role | capitalize }}: {{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}";

struct chat_format {
    const mlxc_tokenizer *tok;
    mlxc_chat_template   *tmpl;
    bool                  templated;   /* the model's (or the given) template */
    char                  bos[256], eos[256];
    bool                  has_bos, has_eos;
    const char           *vars_json;   /* further template variables, or NULL */
};

static void token_string(const mlxc_tokenizer *tok, mlxc_token_role role, char *buf, size_t cap, bool *has) {
    int32_t id = mlxc_tokenizer_special_id(tok, role);
    const char *s;
    size_t n;
    *has = false;
    if (id < 0 || mlxc_tokenizer_token_text(tok, id, &s, &n) || n >= cap) return;
    memcpy(buf, s, n);
    buf[n] = 0;
    *has = true;
}

mlxc_status chat_format_open(const mlxc_model *m, const char *template_path, const char *who, chat_format **out) {
    *out = NULL;
    const mlxc_tokenizer *tok = mlxc_model_tokenizer(m);
    if (!tok) return MLXC_ERR_INVALID_ARGUMENT;   /* the callers check first */
    chat_format *f = calloc(1, sizeof *f);
    if (!f) return MLXC_ERR_OUT_OF_MEMORY;
    f->tok = tok;
    char *owned = NULL;
    const char *src = mlxc_model_chat_template(m);
    mlxc_status st = MLXC_OK;
    if (template_path) {
        size_t len;
        if ((st = mlxc_chat_template_read(template_path, &owned, &len))) {
            free(f);
            return st;
        }
        src = owned;
    }
    if (src) {
        st = mlxc_chat_template_parse(src, strlen(src), &f->tmpl);
        if (st) {
            fprintf(stderr, "%s: warning: the chat template does not parse (%s); using a plain prompt\n", who,
                    mlxc_last_error());
            st = MLXC_OK;
        } else {
            f->templated = true;
        }
    } else {
        fprintf(stderr, "%s: warning: the model has no chat template; using a plain \"User: ...\" prompt\n", who);
    }
    free(owned);
    if (!f->tmpl && (st = mlxc_chat_template_parse(FALLBACK, sizeof FALLBACK - 1, &f->tmpl))) {
        free(f);
        return st;
    }
    token_string(tok, MLXC_TOKEN_BOS, f->bos, sizeof f->bos, &f->has_bos);
    token_string(tok, MLXC_TOKEN_EOS, f->eos, sizeof f->eos, &f->has_eos);
    *out = f;
    return MLXC_OK;
}

void chat_format_close(chat_format *f) {
    if (!f) return;
    mlxc_chat_template_free(f->tmpl);
    free(f);
}

bool chat_format_templated(const chat_format *f) { return f && f->templated; }

void chat_format_set_vars(chat_format *f, const char *vars_json) { f->vars_json = vars_json; }

mlxc_status chat_format_ids(const chat_format *f, const mlxc_chat_message *msgs, size_t n, int32_t **ids,
                            size_t *n_ids) {
    mlxc_chat_options o = {
        .add_generation_prompt = true,
        .bos_token = f->has_bos ? f->bos : NULL,
        .eos_token = f->has_eos ? f->eos : NULL,
        .vars_json = f->vars_json,
    };
    char *text;
    size_t len;
    mlxc_status st = mlxc_chat_template_render(f->tmpl, msgs, n, &o, &text, &len);
    if (st) return st;
    /* the template writes the special tokens (BOS included) as text; the
     * plain fallback leaves the BOS to the tokenizer and parses nothing */
    unsigned flags = f->templated ? MLXC_TOKENIZE_PARSE_SPECIAL : MLXC_TOKENIZE_ADD_SPECIAL;
    st = mlxc_tokenizer_encode(f->tok, text, len, flags, ids, n_ids);
    free(text);
    return st;
}

/* ---- the chat ---------------------------------------------------------------------------------- */

static const char k_usage[] =
    "usage: mlxc chat -m MODEL [options]   (user turns on stdin; /exit or end of input ends)\n"
    "  -m, --model PATH       a .gguf file or a model directory\n"
    "  --system TEXT          a system message first\n"
    "  --chat-template FILE   a template (.jinja, tokenizer_config.json, .gguf) instead of the model's\n"
    "  --chat-vars JSON       more template variables, e.g. '{\"enable_thinking\": false}'\n"
    "  -n, --n-predict N      most tokens per reply (default 512)\n"
    "  -c, --ctx-size N       context (KV cache) positions for the whole chat (default: the model's\n"
    "                         trained context, at most 4096)\n"
    "  --temp T, --top-k K, --top-p P, --min-p P, --repeat-penalty R, --repeat-last-n N, --seed S\n"
    "                         sampling, as mlxc run (default temp 0.8, top-k 40, top-p 0.95, min-p 0.05)\n"
    "  --kv f16|bf16|f32      KV cache dtype (default f16)\n"
    "  --act auto|f32|bf16    activation dtype (default auto: bf16 on a GPU, f32 on the CPU)\n"
    MLXC_TOOL_Q8_USAGE
    "  --no-reuse             evaluate the whole conversation every turn (no KV cache reuse)\n"
    "  --verbose              per turn on stderr: tokens reused from the cache, evaluated, generated\n"
    "environment: MLXC_BACKEND=auto|cpu|cuda chooses the device\n";

#define MAX_STOP 8

typedef struct reply {
    const mlxc_tokenizer *tok;
    int32_t  *ids;          /* (cap) the reply's tokens, the stop token not included */
    size_t    n, cap;
    size_t    reported;     /* tokens mlxc_generate handed over (the stop token too) */
    size_t    printed;      /* bytes of the decoded reply already written            */
    int32_t   stop[MAX_STOP];
    int       n_stop;
    bool      stopped, failed;
} reply;

static bool on_token(int32_t t, float lp, void *user) {
    (void)lp;
    reply *r = user;
    r->reported++;
    for (int i = 0; i < r->n_stop; i++)
        if (t == r->stop[i]) {
            r->stopped = true;
            return false;
        }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        int32_t *ni = realloc(r->ids, cap * sizeof *ni);
        if (!ni) {
            r->failed = true;
            return false;
        }
        r->ids = ni;
        r->cap = cap;
    }
    r->ids[r->n++] = t;
    char *text;
    size_t len;
    if ((size_t)t < mlxc_tokenizer_vocab_size(r->tok) &&
        mlxc_tokenizer_decode(r->tok, r->ids, r->n, MLXC_DECODE_SKIP_SPECIAL, &text, &len) == MLXC_OK) {
        size_t upto = mlxc_utf8_complete(text, len);
        if (upto > r->printed) {
            fwrite(text + r->printed, 1, upto - r->printed, stdout);
            fflush(stdout);
            r->printed = upto;
        }
        free(text);
    }
    return !mlxc_stop_requested();
}

/* The tokens that end a turn: the EOS and the end-of-turn markers of the
 * common chat formats, where the vocabulary has them. */
static int stop_tokens(const mlxc_tokenizer *tok, int32_t *out) {
    static const char *const marks[] = {"<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>",
                                        "</s>", NULL};
    int n = 0;
    int32_t eos = mlxc_tokenizer_special_id(tok, MLXC_TOKEN_EOS);
    if (eos >= 0) out[n++] = eos;
    for (int i = 0; marks[i] && n < MAX_STOP; i++) {
        int32_t id;
        if (mlxc_tokenizer_token_id(tok, marks[i], strlen(marks[i]), &id) == MLXC_OK) {
            if (id != eos) out[n++] = id;
        } else {
            mlxc_clear_error();
        }
    }
    return n;
}

/* The conversation: messages with owned strings. */
typedef struct convo {
    mlxc_chat_message *m;
    size_t n, cap;
} convo;

static bool convo_add(convo *c, const char *role, const char *text, size_t len) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        mlxc_chat_message *nm = realloc(c->m, cap * sizeof *nm);
        if (!nm) return false;
        c->m = nm;
        c->cap = cap;
    }
    char *r = strdup(role), *t = malloc(len + 1);
    if (!r || !t) {
        free(r);
        free(t);
        return false;
    }
    memcpy(t, text, len);
    t[len] = 0;
    c->m[c->n].role = r;
    c->m[c->n].content = t;
    c->n++;
    return true;
}

static void convo_free(convo *c) {
    for (size_t i = 0; i < c->n; i++) {
        free((char *)c->m[i].role);
        free((char *)c->m[i].content);
    }
    free(c->m);
}

int mlxc_cmd_chat(int argc, char **argv) {
    const char *model = NULL, *system = NULL, *tmpl_path = NULL, *vars = NULL;
    long n_gen = 512, n_ctx = 0;
    bool no_reuse = false, verbose = false;
    mlxc_sampler_params sp = mlxc_sampler_default_params();
    long top_k = sp.top_k, last_n = sp.repeat_last_n;
    int kv_i = 0, act_i = 0;
    bool q8 = false;
    int dec_i = 0;
    const cli_opt opts[] = {
        CLI_OPT_STRING("-m|--model", &model),
        CLI_OPT_STRING("--system", &system),
        CLI_OPT_STRING("--chat-template", &tmpl_path),
        CLI_OPT_STRING("--chat-vars", &vars),
        CLI_OPT_INT("-n|--n-predict", &n_gen, 1, 1 << 24),
        CLI_OPT_INT("-c|--ctx-size", &n_ctx, 1, 1 << 24),
        MLXC_TOOL_SAMPLER_OPTS(sp, top_k, last_n),
        CLI_OPT_CHOICE("--kv", &kv_i, MLXC_TOOL_KV_CHOICES),
        CLI_OPT_CHOICE("--act", &act_i, MLXC_TOOL_ACT_CHOICES),
        CLI_OPT_CHOICE("--decode", &dec_i, MLXC_TOOL_DECODE_CHOICES),
        CLI_OPT_FLAG("--q8", &q8),
        CLI_OPT_FLAG("--no-reuse", &no_reuse),
        CLI_OPT_FLAG("--verbose", &verbose),
        CLI_OPT_END,
    };
    cli_cmd c = {"chat", k_usage, opts, NULL, 0, 0};
    int prc = cli_parse(&c, argc, argv);
    if (prc >= 0) return prc;
    const int dec_act = mlxc_tool_decode_act(dec_i, q8);
    if (dec_act < 0) return cli_usage_error(&c, "--q8 and --decode exact disagree");
    sp.top_k = (int32_t)top_k;
    sp.repeat_last_n = (int32_t)last_n;
    mlxc_dtype kv = mlxc_tool_kv_dtype(kv_i);
    bool reuse = !no_reuse;
    if (!model) return cli_usage_error(&c, "-m MODEL is required");
    mlxc_sampler *smp = NULL;
    if (mlxc_sampler_create(&sp, &smp)) return cli_usage_error(&c, "%s", mlxc_last_error());

    int rc = 1;
    mlxc_device *dev = NULL;
    mlxc_model *m = NULL;
    mlxc_context *ctx = NULL;
    chat_format *fmt = NULL;
    convo cv = {0};
    int32_t *cache = NULL, *ids = NULL;   /* cache: the tokens the KV cache holds, in order */
    size_t n_cache = 0;
    char *line = NULL;
    size_t line_cap = 0;
    reply r = {0};
    mlxc_stop_on_sigint();
    if (mlxc_device_open(MLXC_BACKEND_AUTO, 0, &dev)) goto fail;
    mlxc_model_options mo = {.act_dtype = mlxc_tool_act_dtype(act_i, dev)};
    if (mlxc_model_open_ex(dev, model, &mo, &m)) goto fail;
    if (!mlxc_model_tokenizer(m)) {
        fprintf(stderr, "mlxc chat: %s has no tokenizer\n", model);
        goto out;
    }
    if (chat_format_open(m, tmpl_path, "mlxc chat", &fmt)) goto fail;
    chat_format_set_vars(fmt, vars);
    mlxc_context_params cp = mlxc_context_default_params();   /* n_ctx 0: the trained context, at most 4096 */
    cp.n_ctx = (uint32_t)n_ctx;
    cp.kv_dtype = kv;
    cp.decode_act = (mlxc_decode_act)dec_act;
    if (mlxc_context_create_ex(m, &cp, &ctx)) goto fail;
    n_ctx = (long)mlxc_context_n_ctx(ctx);
    cache = malloc((size_t)n_ctx * sizeof *cache);
    if (!cache) goto fail;
    r.tok = mlxc_model_tokenizer(m);
    r.n_stop = stop_tokens(r.tok, r.stop);
    if (system && !convo_add(&cv, "system", system, strlen(system))) goto fail;
    bool tty = isatty(0);
    for (int turn = 1; !mlxc_stop_requested(); turn++) {
        if (tty) {
            fputs("> ", stderr);
            fflush(stderr);
        }
        ssize_t got = getline(&line, &line_cap, stdin);
        if (got < 0) break;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (!strcmp(line, "/exit")) break;
        if (got == 0) {
            turn--;
            continue;
        }
        mlxc_warn_invalid_utf8("chat", line, (size_t)got);
        if (!convo_add(&cv, "user", line, (size_t)got)) goto fail;
        size_t n_ids;
        free(ids);
        ids = NULL;
        if (chat_format_ids(fmt, cv.m, cv.n, &ids, &n_ids)) goto fail;
        if (n_ids == 0) {
            fprintf(stderr, "mlxc chat: the conversation renders to no tokens\n");
            goto out;
        }
        if (n_ids >= (size_t)n_ctx) {
            fprintf(stderr, "mlxc chat: the conversation has %zu tokens, the context only %ld (-c)\n", n_ids, n_ctx);
            goto out;
        }
        /* keep what the cache shares with the new prompt; at least the last
         * token is evaluated again, for its logits */
        size_t keep = 0;
        if (reuse)
            while (keep < n_cache && keep < n_ids && cache[keep] == ids[keep]) keep++;
        if (keep == n_ids) keep--;
        if (mlxc_context_truncate(ctx, (uint32_t)keep)) goto fail;
        memcpy(cache + keep, ids + keep, (n_ids - keep) * sizeof *ids);
        n_cache = n_ids;
        free(r.ids);
        r.ids = NULL;
        r.n = r.cap = r.reported = r.printed = 0;
        r.stopped = r.failed = false;
        mlxc_sampler_reset(smp);
        uint32_t budget = (uint32_t)((size_t)n_ctx - n_ids);
        if (budget > (uint32_t)n_gen) budget = (uint32_t)n_gen;
        mlxc_generate_stats st = {0};
        if (mlxc_generate(ctx, smp, ids + keep, n_ids - keep, budget, false, on_token, &r, &st)) goto fail;
        if (r.failed) goto fail;
        fputc('\n', stdout);
        fflush(stdout);
        /* the cache now holds the prompt and every reported token but the last */
        uint32_t n_past = mlxc_context_n_past(ctx);
        for (size_t i = n_ids; i < n_past && i - n_ids < r.n; i++) cache[i] = r.ids[i - n_ids];
        n_cache = n_past <= n_ids + r.n ? n_past : n_ids + r.n;
        if (verbose)
            fprintf(stderr, "turn %d: prompt %zu tokens, reused %zu from the cache, evaluated %zu; reply %zu tokens%s"
                            " (%.1f tok/s)\n", turn, n_ids, keep, n_ids - keep, r.n, r.stopped ? "" : ", cut",
                    st.gen_s > 0 ? st.n_gen / st.gen_s : 0.0);
        char *text = NULL;
        size_t len = 0;
        if (mlxc_tokenizer_decode(r.tok, r.ids, r.n, MLXC_DECODE_SKIP_SPECIAL | MLXC_DECODE_REPLACE_INVALID, &text,
                                  &len))
            goto fail;
        bool added = convo_add(&cv, "assistant", text, len);
        free(text);
        if (!added) goto fail;
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "mlxc chat: %s\n", mlxc_last_error()[0] ? mlxc_last_error() : "out of memory");
    rc = 1;
out:
    signal(SIGINT, SIG_DFL);
    free(line);
    free(ids);
    free(cache);
    free(r.ids);
    convo_free(&cv);
    chat_format_close(fmt);
    mlxc_context_free(ctx);
    mlxc_model_close(m);
    mlxc_sampler_free(smp);
    mlxc_device_close(dev);
    return rc;
}
