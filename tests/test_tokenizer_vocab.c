/*
 * llama.cpp's tokenizer test vectors (MLXC_SHARED_DIR/data/vocab/): for each
 * ggml-vocab-*.gguf, `.inp` holds the inputs separated by lines
 * "__ggml_vocab_test__" and `.out` one line of expected ids per input.  The
 * inputs are split exactly as llama.cpp's test-tokenizer-0 splits them (on
 * "\n__ggml_vocab_test__\n", so an input keeps its own leading and trailing
 * newlines), and encoded with no special tokens added and no special-token
 * parsing.  Every vector of every vocabulary must match.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "mlxc/tokenizer.h"
#include "read_file.h"

#define VOCAB_DIR MLXC_SHARED_DIR "/data/vocab/"

static void run_vocab(const char *name) {
    char path[512], inp[600], out[600];
    snprintf(path, sizeof path, VOCAB_DIR "ggml-vocab-%s.gguf", name);
    snprintf(inp, sizeof inp, "%s.inp", path);
    snprintf(out, sizeof out, "%s.out", path);
    mlxc_tokenizer *tok = NULL;
    CHECK_OK(mlxc_tokenizer_load(path, &tok));
    if (!tok) return;
    size_t il, ol;
    char *in = read_file(inp, &il), *ex = read_file(out, &ol);
    CHECK(in && ex);
    if (!in || !ex) { free(in); free(ex); mlxc_tokenizer_free(tok); return; }

    static const char sep[] = "\n__ggml_vocab_test__\n";
    const size_t seplen = sizeof sep - 1;
    char *ol_cur = ex;
    size_t pos = 0, nvec = 0, nbad = 0;
    while (pos < il) {
        char *next = strstr(in + pos, sep);
        size_t end = next ? (size_t)(next - in) : il;
        /* expected line */
        char *nl = strchr(ol_cur, '\n');
        if (!nl && !*ol_cur) { CHECK_MSG(0, "%s: more inputs than output lines", name); break; }
        if (nl) *nl = 0;
        int32_t want[4096];
        size_t nw = 0;
        for (char *p = ol_cur; *p;) {
            char *e;
            long v = strtol(p, &e, 10);
            if (e == p) { p++; continue; }
            if (nw < 4096) want[nw++] = (int32_t)v;
            p = e;
        }
        ol_cur = nl ? nl + 1 : ol_cur + strlen(ol_cur);

        int32_t *ids = NULL;
        size_t n = 0;
        CHECK_OK(mlxc_tokenizer_encode(tok, in + pos, end - pos, 0, &ids, &n));
        bool same = n == nw && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
        if (!same) {
            nbad++;
            fprintf(stderr, "  %s vector %zu: '%.*s'\n    want:", name, nvec, (int)(end - pos), in + pos);
            for (size_t i = 0; i < nw; i++) fprintf(stderr, " %d", want[i]);
            fprintf(stderr, "\n    got: ");
            for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
            fprintf(stderr, "\n");
        }
        free(ids);
        nvec++;
        if (!next) break;
        pos = end + seplen;
    }
    CHECK_MSG(nbad == 0, "%s: %zu of %zu vectors differ", name, nbad, nvec);
    CHECK_MSG(nvec >= 40, "%s: only %zu vectors read", name, nvec);
    printf("  %s: %zu vectors, %zu differ\n", name, nvec, nbad);
    free(in);
    free(ex);
    mlxc_tokenizer_free(tok);
}

static void test_gpt2(void) { run_vocab("gpt-2"); }
static void test_llama_spm(void) { run_vocab("llama-spm"); }
static void test_phi3(void) { run_vocab("phi-3"); }
static void test_deepseek_llm(void) { run_vocab("deepseek-llm"); }
static void test_bert_bge(void) { run_vocab("bert-bge"); }

int main(void) {
    struct stat sb;
    if (stat(VOCAB_DIR, &sb) != 0) SKIP_ALL("%s is missing", VOCAB_DIR);
    RUN(test_gpt2);
    RUN(test_llama_spm);
    RUN(test_phi3);
    RUN(test_deepseek_llm);
    RUN(test_bert_bge);
    HARNESS_END();
}
