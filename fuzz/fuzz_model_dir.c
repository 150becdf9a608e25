/*
 * libFuzzer harness for opening a model directory: config.json, the
 * weights and the tokenizer files read together by mlxc_model_open, on the
 * CPU.  The input is the directory's files one after the other, separated
 * by the line "--8<--": config.json, model.safetensors, tokenizer.json (a
 * part that is absent leaves its file out).  A model that opens evaluates
 * two tokens in a small context, samples, and encodes a text with its
 * tokenizer.  The seed (fuzz/corpus/model_dir/) is a tiny Llama made by
 * scripts/make_fuzz_seeds.py.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlxc/mlxc.h"

static const char SEP[] = "\n--8<--\n";
static const char *const FILES[3] = {"config.json", "model.safetensors", "tokenizer.json"};

static char g_dir[64];
static mlxc_device *g_dev;

static void write_file(const char *name, const uint8_t *p, size_t n) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

static const uint8_t *find_sep(const uint8_t *p, size_t n) {
    size_t k = sizeof SEP - 1;
    for (size_t i = 0; i + k <= n; i++)
        if (p[i] == '\n' && memcmp(p + i, SEP, k) == 0) return p + i;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_dev) {
        /* tmpfs when there is one: the files are rewritten for every input */
        snprintf(g_dir, sizeof g_dir, "%s", access("/dev/shm", W_OK) == 0 ? "/dev/shm/mlxc-fuzz-XXXXXX" : "/tmp/mlxc-fuzz-XXXXXX");
        if (!mkdtemp(g_dir) || mlxc_device_open(MLXC_BACKEND_CPU, 0, &g_dev) != MLXC_OK) abort();
    }
    const uint8_t *p = data, *end = data + size;
    for (int i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", g_dir, FILES[i]);
        unlink(path);
        if (!p) continue;
        const uint8_t *s = find_sep(p, (size_t)(end - p));
        write_file(FILES[i], p, (size_t)((s ? s : end) - p));
        p = s ? s + sizeof SEP - 1 : NULL;
    }
    mlxc_model *m;
    if (mlxc_model_open(g_dev, g_dir, &m) != MLXC_OK) return 0;
    mlxc_context_params cp = mlxc_context_default_params();
    cp.n_ctx = 4;
    cp.kv_dtype = MLXC_F32;
    mlxc_context *ctx;
    if (mlxc_context_create_ex(m, &cp, &ctx) == MLXC_OK) {
        int64_t v = mlxc_model_vocab_size(m);
        int32_t ids[2] = {0, (int32_t)(v > 1 ? v - 1 : 0)};
        if (mlxc_context_eval(ctx, ids, 2) == MLXC_OK) {
            mlxc_sampler_params sp = mlxc_sampler_default_params();
            mlxc_sampler *s;
            if (mlxc_sampler_create(&sp, &s) == MLXC_OK) {
                int32_t t;
                if (mlxc_sampler_sample(s, ctx, &t, NULL) == MLXC_OK && (t < 0 || t >= v)) abort();
                mlxc_sampler_free(s);
            }
        }
        mlxc_context_free(ctx);
    }
    const mlxc_tokenizer *tok = mlxc_model_tokenizer(m);
    if (tok) {
        int32_t *ids;
        size_t n;
        if (mlxc_tokenizer_encode(tok, "Hello, world!  ", 15, MLXC_TOKENIZE_ADD_SPECIAL, &ids, &n) == MLXC_OK) free(ids);
    }
    mlxc_model_close(m);
    return 0;
}
