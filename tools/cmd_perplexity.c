/*
 * `mlxc perplexity -m MODEL -f FILE [-c N] [--kv f16|bf16|f32] [--json]`
 *
 * Tokenizes FILE with the model's tokenizer (BOS added as the model does),
 * cuts the tokens into chunks of N (default 512; the last chunk may be
 * shorter), evaluates each chunk from an empty cache and scores every
 * position of it but the first: the negative log-likelihood of token j+1
 * given tokens 0..j of the chunk.  Prints the perplexity exp(mean NLL);
 * --json prints one JSON object with the per-chunk figures and, for each
 * scored position, the model's top-1 id (for agreement checks against
 * another implementation).
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "mlxc/mlxc.h"
#include "opt.h"

static const char k_usage[] =
    "usage: mlxc perplexity -m MODEL -f FILE [-c N] [--kv f16|bf16|f32] [--json]\n"
    "  -m, --model PATH   a .gguf file or a model directory\n"
    "  -f, --file FILE    the text to score\n"
    "  -c, --ctx-size N   tokens per chunk (default 512)\n"
    "  --kv DTYPE         KV cache dtype (default f16)\n"
    "  --json             per-chunk perplexity and each scored position's top-1 id\n";

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        if (n == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) { free(b); b = NULL; break; }
            b = nb;
        }
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    if (ferror(f)) { free(b); b = NULL; }
    fclose(f);
    *len = n;
    return b;
}

int mlxc_cmd_perplexity(int argc, char **argv) {
    const char *model = NULL, *file = NULL;
    long n_chunk = 512;
    bool json = false;
    mlxc_dtype kv = MLXC_F16;
    int kv_i = 0;
    const cli_opt opts[] = {
        CLI_OPT_STRING("-m|--model", &model),
        CLI_OPT_STRING("-f|--file", &file),
        CLI_OPT_INT("-c|--ctx-size", &n_chunk, 2, 1 << 20),
        CLI_OPT_CHOICE("--kv", &kv_i, MLXC_TOOL_KV_CHOICES),
        CLI_OPT_FLAG("--json", &json),
        CLI_OPT_END,
    };
    cli_cmd cmd = {"perplexity", k_usage, opts, NULL, 0, 0};
    int prc = cli_parse(&cmd, argc, argv);
    if (prc >= 0) return prc;
    kv = mlxc_tool_kv_dtype(kv_i);
    if (!model || !file) return cli_usage_error(&cmd, "%s is required", !model ? "-m MODEL" : "-f FILE");
    size_t tlen;
    char *text = slurp(file, &tlen);
    if (!text) {
        fprintf(stderr, "mlxc perplexity: cannot read %s: %s\n", file, strerror(errno));
        return 1;
    }
    int rc = 1;
    mlxc_device *dev = NULL;
    mlxc_model *m = NULL;
    mlxc_context *ctx = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    json_t *out = NULL, *chunks = NULL, *top1 = NULL;
    size_t n_ids = 0;
    if (mlxc_device_open(MLXC_BACKEND_AUTO, 0, &dev) || mlxc_model_open(dev, model, &m)) goto fail;
    if (!mlxc_model_tokenizer(m)) {
        fprintf(stderr, "mlxc perplexity: %s has no tokenizer\n", model);
        goto out;
    }
    mlxc_warn_invalid_utf8("perplexity", text, tlen);
    if (mlxc_tokenizer_encode(mlxc_model_tokenizer(m), text, tlen, MLXC_TOKENIZE_ADD_SPECIAL, &ids, &n_ids)) goto fail;
    if (n_ids < 2) {
        fprintf(stderr, "mlxc perplexity: %s has fewer than 2 tokens\n", file);
        goto out;
    }
    if ((size_t)n_chunk > n_ids) n_chunk = (long)n_ids;
    mlxc_context_params cp = mlxc_context_default_params();
    cp.n_ctx = (uint32_t)n_chunk;
    cp.kv_dtype = kv;
    if (mlxc_context_create_ex(m, &cp, &ctx)) goto fail;
    size_t V = (size_t)mlxc_model_vocab_size(m);
    logits = malloc((size_t)n_chunk * V * sizeof *logits);
    if (!logits) goto fail;
    if (json) {
        out = json_object();
        chunks = json_array();
        top1 = json_array();
    }
    double nll = 0;
    size_t scored = 0;
    for (size_t s = 0; s + 1 < n_ids; s += (size_t)n_chunk) {
        size_t n = n_ids - s < (size_t)n_chunk ? n_ids - s : (size_t)n_chunk;
        if (n < 2) break;
        if (mlxc_context_reset(ctx) || mlxc_context_eval_all(ctx, ids + s, n, logits)) goto fail;
        double cnll = 0;
        for (size_t j = 0; j + 1 < n; j++) {
            const float *row = logits + j * V;
            float mx = row[0];
            size_t best = 0;
            for (size_t t = 1; t < V; t++)
                if (row[t] > mx) { mx = row[t]; best = t; }
            double z = 0;
            for (size_t t = 0; t < V; t++) z += exp((double)row[t] - mx);
            cnll += -((double)row[ids[s + j + 1]] - mx - log(z));
            if (top1) json_array_append_new(top1, json_integer((json_int_t)best));
        }
        nll += cnll;
        scored += n - 1;
        if (chunks) {
            json_t *c = json_object();
            json_object_set_new(c, "tokens", json_integer((json_int_t)n));
            json_object_set_new(c, "ppl", json_real(exp(cnll / (double)(n - 1))));
            json_array_append_new(chunks, c);
        } else {
            fprintf(stderr, "[%zu] %.4f\n", s / (size_t)n_chunk + 1, exp(cnll / (double)(n - 1)));
        }
    }
    double ppl = exp(nll / (double)scored);
    if (json) {
        json_object_set_new(out, "model", json_string(model));
        json_object_set_new(out, "tokens", json_integer((json_int_t)n_ids));
        json_object_set_new(out, "chunk", json_integer(n_chunk));
        json_object_set_new(out, "scored", json_integer((json_int_t)scored));
        json_object_set_new(out, "ppl", json_real(ppl));
        json_object_set_new(out, "chunks", chunks);
        json_object_set_new(out, "top1", top1);
        chunks = top1 = NULL;
        char *s = json_dumps(out, JSON_REAL_PRECISION(10));
        if (s) puts(s);
        free(s);
    } else {
        printf("perplexity %.4f over %zu scored tokens (%zu tokens, chunks of %ld)\n", ppl, scored, n_ids, n_chunk);
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "mlxc perplexity: %s\n", mlxc_last_error());
    rc = 1;
out:
    json_decref(out);
    json_decref(chunks);
    json_decref(top1);
    free(logits);
    free(ids);
    free(text);
    mlxc_context_free(ctx);
    mlxc_model_close(m);
    mlxc_device_close(dev);
    return rc;
}
