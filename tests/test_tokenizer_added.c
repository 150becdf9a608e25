/*
 * Added (user-defined) tokens are cut out of the raw text before the
 * pre-tokenizer, whether or not special-token text is parsed.  The fixture
 * (tests/fixtures/tokenizer/added, made by
 * scripts/make_added_tokens_fixture.py) is a small byte-level BPE vocabulary
 * whose non-special added tokens are runs of spaces and tabs, "def " and
 * " = ", with the ids Hugging Face `tokenizers` gives each text; the same
 * vocabulary as a GGUF file (token type 4) must give the same ids.  The real
 * DeepSeek LLM vocabulary (llama.cpp's test vocabularies) has 2398
 * user-defined tokens: their text encodes to their own ids.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "mlxc/tokenizer.h"
#include "read_file.h"

#define FIX MLXC_SOURCE_DIR "/tests/fixtures/tokenizer/added/"

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void run_cases(const char *vocab) {
    mlxc_tokenizer *tok = NULL;
    CHECK_OK(mlxc_tokenizer_load(vocab, &tok));
    if (!tok) return;
    size_t len;
    char *cases = read_file(FIX "cases.txt", &len);
    CHECK(cases != NULL);
    size_t n_cases = 0, n_bad = 0;
    for (char *line = cases, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t1 || !t2) { CHECK_MSG(0, "bad case line '%s'", line); break; }
        char text[512];
        size_t tl = 0;
        for (char *h = line; h + 1 < t1 && tl < sizeof text; h += 2) text[tl++] = (char)(hexval(h[0]) * 16 + hexval(h[1]));
        unsigned flags = !strncmp(t1 + 1, "special", 7) ? MLXC_TOKENIZE_PARSE_SPECIAL : 0;
        int32_t want[256];
        size_t nw = 0;
        for (char *p = t2 + 1; *p && nw < 256;) {
            char *e;
            long v = strtol(p, &e, 10);
            if (e == p) break;
            want[nw++] = (int32_t)v;
            p = e;
        }
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK_OK(mlxc_tokenizer_encode(tok, text, tl, flags, &ids, &n));
        if (n != nw || (n && memcmp(ids, want, n * sizeof *ids))) {
            n_bad++;
            fprintf(stderr, "  %s [%s] '%.*s'\n    want:", vocab, flags ? "special" : "plain", (int)tl, text);
            for (size_t i = 0; i < nw; i++) fprintf(stderr, " %d", want[i]);
            fprintf(stderr, "\n    got: ");
            for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
            fprintf(stderr, "\n");
        }
        /* the added tokens decode to their own text */
        char *dec = NULL;
        size_t dl = 0;
        CHECK_OK(mlxc_tokenizer_decode(tok, ids, n, 0, &dec, &dl));
        CHECK_MSG(dl == tl && !memcmp(dec, text, tl), "%s: '%.*s' decodes to '%.*s'", vocab, (int)tl, text, (int)dl, dec);
        free(dec);
        free(ids);
        n_cases++;
    }
    CHECK_MSG(n_bad == 0, "%s: %zu of %zu cases differ from tokenizers", vocab, n_bad, n_cases);
    CHECK(n_cases >= 20);
    free(cases);
    mlxc_tokenizer_free(tok);
}

static void test_tokenizer_json(void) { run_cases(FIX "tokenizer.json"); }
static void test_gguf_user_defined(void) { run_cases(FIX "vocab.gguf"); }

static void test_deepseek_user_defined(void) {
    const char *path = MLXC_SHARED_DIR "/data/vocab/ggml-vocab-deepseek-llm.gguf";
    struct stat sb;
    if (stat(path, &sb) != 0) { printf("  (%s absent)\n", path); return; }
    mlxc_tokenizer *tok = NULL;
    CHECK_OK(mlxc_tokenizer_load(path, &tok));
    if (!tok) return;
    /* "ø" is a user-defined token of this vocabulary: whole, not split into bytes */
    int32_t id = -1, *ids = NULL;
    size_t n = 0;
    CHECK_OK(mlxc_tokenizer_token_id(tok, "\xc3\xb8", 2, &id));
    CHECK_OK(mlxc_tokenizer_encode(tok, "k\xc3\xb8 ", 4, 0, &ids, &n));
    bool found = false;
    for (size_t i = 0; i < n; i++) found |= ids[i] == id;
    CHECK_MSG(id >= 0 && found, "deepseek-llm: the user-defined token 'ø' (%d) is not used", id);
    free(ids);
    mlxc_tokenizer_free(tok);
}

int main(void) {
    RUN(test_tokenizer_json);
    RUN(test_gguf_user_defined);
    RUN(test_deepseek_user_defined);
    HARNESS_END();
}
