/*
 * Hostile and edge-case input for the tokenizers: invalid UTF-8 (stray
 * continuation bytes, overlongs, surrogates, truncated sequences, 0xFF),
 * empty text, NUL bytes, huge single words, malformed tokenizer.json and
 * malformed GGUF vocabulary metadata (made in memory here).  Every call must
 * return a status (an error where the input is bad) and never crash; the
 * sanitizer build runs this too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mlxc/gguf.h"
#include "mlxc/tokenizer.h"

/* ---- a tiny byte-level BPE tokenizer.json ----------------------------------------- */

static const char *TINY_BPE =
    "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"h\": 0, \"e\": 1, \"l\": 2, \"o\": 3, \"\\u0120\": 4,"
    " \"he\": 5, \"ll\": 6, \"hell\": 7, \"hello\": 8, \"\\u0120h\": 9, \"w\": 10, \"<|end|>\": 11},"
    " \"merges\": [\"h e\", \"l l\", \"he ll\", \"hell o\", \"\\u0120 h\"]},"
    " \"added_tokens\": [{\"id\": 11, \"content\": \"<|end|>\", \"special\": true}],"
    " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false},"
    " \"decoder\": {\"type\": \"ByteLevel\"}}";

static mlxc_tokenizer *tiny(void) {
    mlxc_tokenizer *t = NULL;
    CHECK_OK(mlxc_tokenizer_load_json_memory(TINY_BPE, strlen(TINY_BPE), &t));
    return t;
}

static void test_tiny_basics(void) {
    mlxc_tokenizer *t = tiny();
    if (!t) return;
    int32_t *ids;
    size_t n;
    CHECK_OK(mlxc_tokenizer_encode(t, "hello hello", 11, 0, &ids, &n));
    /* "h e" (rank 0) wins over "Ġ h" (rank 4): hello, Ġ, hello */
    CHECK(n == 3 && ids[0] == 8 && ids[1] == 4 && ids[2] == 8);
    free(ids);
    CHECK_OK(mlxc_tokenizer_encode(t, "hello<|end|>", 12, MLXC_TOKENIZE_PARSE_SPECIAL, &ids, &n));
    CHECK(n == 2 && ids[0] == 8 && ids[1] == 11);
    free(ids);
    CHECK_OK(mlxc_tokenizer_encode(t, "hello<|end|>", 12, 0, &ids, &n));
    /* not parsed: ordinary characters; those outside this vocabulary drop */
    CHECK(n >= 1 && ids[0] == 8);
    for (size_t i = 0; i < n; i++) CHECK(ids[i] != 11);
    free(ids);
    CHECK(mlxc_tokenizer_is_special(t, 11));
    int32_t id;
    CHECK_OK(mlxc_tokenizer_token_id(t, "hello", 5, &id));
    CHECK_EQ_INT(id, 8);
    CHECK_ERR(mlxc_tokenizer_token_id(t, "nope", 4, &id), MLXC_ERR_NOT_FOUND);
    const char *s;
    size_t len;
    CHECK_OK(mlxc_tokenizer_token_text(t, 9, &s, &len));
    CHECK(len == 3 && memcmp(s, "\xc4\xa0h", 3) == 0);
    char piece[8];
    CHECK_OK(mlxc_tokenizer_token_piece(t, 9, piece, sizeof piece, &len));
    CHECK(len == 2 && memcmp(piece, " h", 2) == 0);
    CHECK_ERR(mlxc_tokenizer_token_piece(t, 9, piece, 1, &len), MLXC_ERR_OUT_OF_RANGE);
    CHECK_ERR(mlxc_tokenizer_token_text(t, 12, &s, &len), MLXC_ERR_OUT_OF_RANGE);
    CHECK_ERR(mlxc_tokenizer_token_text(t, -1, &s, &len), MLXC_ERR_OUT_OF_RANGE);
    CHECK_EQ_INT(mlxc_tokenizer_vocab_size(t), 12);
    CHECK_EQ_INT(mlxc_tokenizer_vocab_size(NULL), 0);
    mlxc_tokenizer_free(t);
    mlxc_tokenizer_free(NULL);
}

static void test_bad_arguments(void) {
    mlxc_tokenizer *t = tiny();
    if (!t) return;
    int32_t *ids;
    size_t n;
    char *txt;
    size_t len;
    CHECK_ERR(mlxc_tokenizer_encode(NULL, "a", 1, 0, &ids, &n), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_tokenizer_encode(t, NULL, 3, 0, &ids, &n), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_tokenizer_encode(t, "a", 1, 0x100, &ids, &n), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_OK(mlxc_tokenizer_encode(t, NULL, 0, 0, &ids, &n));
    CHECK(ids != NULL && n == 0);
    free(ids);
    int32_t bad[] = { 0, 99 };
    CHECK_ERR(mlxc_tokenizer_decode(t, bad, 2, 0, &txt, &len), MLXC_ERR_OUT_OF_RANGE);
    int32_t neg[] = { -5 };
    CHECK_ERR(mlxc_tokenizer_decode(t, neg, 1, 0, &txt, &len), MLXC_ERR_OUT_OF_RANGE);
    CHECK_OK(mlxc_tokenizer_decode(t, NULL, 0, 0, &txt, &len));
    CHECK(txt && len == 0 && txt[0] == 0);
    free(txt);
    CHECK_ERR(mlxc_tokenizer_load(NULL, &t), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_tokenizer *u;
    CHECK_ERR(mlxc_tokenizer_load("/nonexistent/tokenizer.json", &u), MLXC_ERR_NOT_FOUND);
    CHECK_ERR(mlxc_tokenizer_load("/nonexistent/model.gguf", &u), MLXC_ERR_NOT_FOUND);
    CHECK_ERR(mlxc_tokenizer_load("/", &u), MLXC_ERR_NOT_FOUND);
    mlxc_tokenizer_free(t);
}

/* ---- invalid UTF-8 against the real vocabularies ------------------------------------ */

static const struct { const char *s; size_t n; } BAD_UTF8[] = {
    { "\x80", 1 }, { "abc\x80\x80x", 6 }, { "\xc0\x80", 2 }, { "\xc1\xbf", 2 }, { "\xe0\x80\x80", 3 },
    { "\xed\xa0\x80", 3 }, { "\xed\xbf\xbf", 3 }, { "\xf4\x90\x80\x80", 4 }, { "\xf5\x80", 2 }, { "\xff", 1 },
    { "\xfe\xff\xff", 3 }, { "x\xe2\x82", 3 }, { "\xe2\x82 y", 4 }, { "\xf0\x9f\x98", 3 }, { "\xc3", 1 },
    { "a\0b\0\0c", 6 }, { "\0", 1 }, { "", 0 }, { " ", 1 }, { "\n\n\t", 3 },
};

static void encode_decode_all(mlxc_tokenizer *t, const char *name) {
    for (size_t i = 0; i < sizeof BAD_UTF8 / sizeof *BAD_UTF8; i++) {
        int32_t *ids;
        size_t n;
        CHECK_OK(mlxc_tokenizer_encode(t, BAD_UTF8[i].s, BAD_UTF8[i].n, 0, &ids, &n));
        free(ids);
        CHECK_OK(mlxc_tokenizer_encode(t, BAD_UTF8[i].s, BAD_UTF8[i].n,
                                       MLXC_TOKENIZE_ADD_SPECIAL | MLXC_TOKENIZE_PARSE_SPECIAL, &ids, &n));
        char *txt;
        size_t len;
        CHECK_OK(mlxc_tokenizer_decode(t, ids, n, MLXC_DECODE_REPLACE_INVALID, &txt, &len));
        /* what comes back is valid UTF-8 */
        for (size_t k = 0; txt && k < len; k++) CHECK_MSG(txt[k] != '\xff', "%s: 0xFF in decoded text", name);
        free(txt);
        free(ids);
    }
}

static mlxc_tokenizer *vocab(const char *name) {
    char p[512];
    snprintf(p, sizeof p, MLXC_SHARED_DIR "/data/vocab/ggml-vocab-%s.gguf", name);
    mlxc_tokenizer *t = NULL;
    if (mlxc_tokenizer_load(p, &t) != MLXC_OK) return NULL;
    return t;
}

static void test_invalid_utf8(void) {
    const char *names[] = { "gpt-2", "llama-spm", "phi-3", "deepseek-llm", "bert-bge" };
    int loaded = 0;
    for (int i = 0; i < 5; i++) {
        mlxc_tokenizer *t = vocab(names[i]);
        if (!t) continue;
        loaded++;
        encode_decode_all(t, names[i]);
        mlxc_tokenizer_free(t);
    }
    mlxc_tokenizer *t = tiny();
    if (t) { encode_decode_all(t, "tiny"); mlxc_tokenizer_free(t); }
    printf("  %d real vocabularies\n", loaded);
}

/* byte-level BPE: invalid UTF-8 becomes U+FFFD (maximal subparts), so the
 * ids equal those of the sanitized text */
static void test_replacement_rule(void) {
    mlxc_tokenizer *t = vocab("gpt-2");
    if (!t) return;
    int32_t *a, *b;
    size_t na, nb;
    CHECK_OK(mlxc_tokenizer_encode(t, "x\xe2\x82y\xff", 5, 0, &a, &na));
    CHECK_OK(mlxc_tokenizer_encode(t, "x\xef\xbf\xbdy\xef\xbf\xbd", 8, 0, &b, &nb));
    CHECK(na == nb && memcmp(a, b, na * sizeof *a) == 0);
    char *txt;
    size_t len;
    CHECK_OK(mlxc_tokenizer_decode(t, a, na, 0, &txt, &len));
    CHECK(len == 8 && memcmp(txt, "x\xef\xbf\xbdy\xef\xbf\xbd", 8) == 0);
    free(txt);
    free(a);
    free(b);
    /* decoding a lone byte token: raw by default, U+FFFD on request */
    int32_t id;
    CHECK_OK(mlxc_tokenizer_token_id(t, "\xc3\x83", 2, &id));   /* byte 0xC3 */
    CHECK_OK(mlxc_tokenizer_decode(t, &id, 1, 0, &txt, &len));
    CHECK(len == 1 && (uint8_t)txt[0] == 0xC3);
    free(txt);
    CHECK_OK(mlxc_tokenizer_decode(t, &id, 1, MLXC_DECODE_REPLACE_INVALID, &txt, &len));
    CHECK(len == 3 && memcmp(txt, "\xef\xbf\xbd", 3) == 0);
    free(txt);
    mlxc_tokenizer_free(t);
}

static void test_huge_words(void) {
    const char *names[] = { "gpt-2", "llama-spm", "bert-bge" };
    size_t big = 1 << 20;
    char *s = malloc(big);
    for (int v = 0; v < 3; v++) {
        mlxc_tokenizer *t = vocab(names[v]);
        if (!t) continue;
        for (int pat = 0; pat < 3; pat++) {
            for (size_t i = 0; i < big; i++)
                s[i] = pat == 0 ? 'a' : pat == 1 ? (char)('a' + i % 26) : (i % 7 == 0 ? ' ' : 'z');
            int32_t *ids;
            size_t n;
            CHECK_OK(mlxc_tokenizer_encode(t, s, big, 0, &ids, &n));
            CHECK(n > 0);
            if (v == 0) {   /* byte-level BPE round-trips exactly */
                char *txt;
                size_t len;
                CHECK_OK(mlxc_tokenizer_decode(t, ids, n, 0, &txt, &len));
                CHECK(len == big && memcmp(txt, s, big) == 0);
                free(txt);
            }
            free(ids);
        }
        mlxc_tokenizer_free(t);
    }
    free(s);
}

/* ---- malformed tokenizer.json ------------------------------------------------------------- */

static void test_bad_json(void) {
    static const char *bad[] = {
        "", "{", "[]", "null", "{\"model\": 3}", "{\"model\": {\"type\": \"BPE\"}}",
        "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}, \"merges\": []}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 4000000000}, \"merges\": []}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"ab\"]}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [3]}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [[\"a\"]]}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": \"x\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"unk_token\": \"<unk>\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": {\"type\": \"NFKC\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": {}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {}}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Foo\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"post_processor\": {\"type\": \"BertProcessing\", \"cls\": [\"x\", 7], \"sep\": [\"y\", 0]}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"Z\"}}], \"special_tokens\": {}}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"added_tokens\": [{\"id\": 0, \"content\": \"b\"}]}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"added_tokens\": [{\"id\": \"x\"}]}",
        "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}, \"unk_token\": \"[UNK]\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [[[[[]]]]]}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mlxc_tokenizer *t = (mlxc_tokenizer *)1;
        mlxc_clear_error();
        mlxc_status st = mlxc_tokenizer_load_json_memory(bad[i], strlen(bad[i]), &t);
        CHECK_MSG(st != MLXC_OK && t == NULL && mlxc_last_error()[0], "bad json %zu: %s", i, bad[i]);
    }
    /* truncations of a good file never crash */
    size_t n = strlen(TINY_BPE);
    for (size_t k = 0; k < n; k++) {
        mlxc_tokenizer *t = NULL;
        if (mlxc_tokenizer_load_json_memory(TINY_BPE, k, &t) == MLXC_OK) mlxc_tokenizer_free(t);
    }
}

/* ---- malformed GGUF vocabulary metadata ------------------------------------------------------------ */

typedef struct gw { unsigned char *b; size_t n, cap; uint64_t nkv; } gw;

static void put(gw *w, const void *p, size_t n) {
    if (w->n + n > w->cap) { w->cap = (w->n + n) * 2 + 64; w->b = realloc(w->b, w->cap); }
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void put_u32(gw *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(gw *w, uint64_t v) { put(w, &v, 8); }
static void put_str(gw *w, const char *s) { put_u64(w, strlen(s)); put(w, s, strlen(s)); }
static void kv_str(gw *w, const char *k, const char *v) { put_str(w, k); put_u32(w, 8); put_str(w, v); w->nkv++; }
static void kv_u32(gw *w, const char *k, uint32_t v) { put_str(w, k); put_u32(w, 4); put_u32(w, v); w->nkv++; }
static void kv_strs(gw *w, const char *k, const char *const *v, size_t n) {
    put_str(w, k); put_u32(w, 9); put_u32(w, 8); put_u64(w, n);
    for (size_t i = 0; i < n; i++) put_str(w, v[i]);
    w->nkv++;
}
static void kv_f32s(gw *w, const char *k, size_t n) {
    put_str(w, k); put_u32(w, 9); put_u32(w, 6); put_u64(w, n);
    for (size_t i = 0; i < n; i++) { float f = -(float)i; put(w, &f, 4); }
    w->nkv++;
}
static void kv_i32s(gw *w, const char *k, size_t n, int32_t v) {
    put_str(w, k); put_u32(w, 9); put_u32(w, 5); put_u64(w, n);
    for (size_t i = 0; i < n; i++) put_u32(w, (uint32_t)v);
    w->nkv++;
}

/* Finish: header in front, padding after. */
static mlxc_status gguf_tok(gw *w, mlxc_tokenizer **out) {
    gw f = {0};
    put(&f, "GGUF", 4);
    put_u32(&f, 3);
    put_u64(&f, 0);
    put_u64(&f, w->nkv);
    put(&f, w->b, w->n);
    while (f.n % 32) put(&f, "", 1);
    free(w->b);
    mlxc_gguf *g = NULL;
    *out = NULL;
    mlxc_status st = mlxc_gguf_open_memory(f.b, f.n, &g);
    if (st == MLXC_OK) {
        st = mlxc_tokenizer_load_gguf_handle(g, out);
        mlxc_gguf_close(g);
    }
    free(f.b);
    return st;
}

static const char *const TOKS[] = { "<unk>", "<s>", "</s>", "a", "b", "ab", "\xe2\x96\x81", "\xe2\x96\x81" "a" };
#define NT (sizeof TOKS / sizeof *TOKS)

static void test_gguf_good_and_bad(void) {
    mlxc_tokenizer *t;
    gw w = {0};
    /* a valid little SPM vocabulary first */
    kv_str(&w, "tokenizer.ggml.model", "llama");
    kv_strs(&w, "tokenizer.ggml.tokens", TOKS, NT);
    kv_f32s(&w, "tokenizer.ggml.scores", NT);
    kv_i32s(&w, "tokenizer.ggml.token_type", NT, 1);
    CHECK_OK(gguf_tok(&w, &t));
    if (t) {
        int32_t *ids;
        size_t n;
        CHECK_OK(mlxc_tokenizer_encode(t, "ab a\xff", 5, MLXC_TOKENIZE_ADD_SPECIAL, &ids, &n));
        CHECK(n >= 3 && ids[0] == 1);
        free(ids);
        mlxc_tokenizer_free(t);
    }

    static const char *const dup[] = { "a", "b", "a" };
    static const char *const badm[] = { "ab" };
    static const char *const goodm[] = { "a b" };
    for (int c = 0; c < 13; c++) {
        gw v = {0};
        switch (c) {
        case 0: kv_strs(&v, "tokenizer.ggml.tokens", TOKS, NT); break;                  /* no model   */
        case 1: kv_str(&v, "tokenizer.ggml.model", "llama"); break;                      /* no tokens  */
        case 2: kv_str(&v, "tokenizer.ggml.model", "llama"); kv_f32s(&v, "tokenizer.ggml.tokens", 3); break;
        case 3: kv_str(&v, "tokenizer.ggml.model", "llama"); kv_strs(&v, "tokenizer.ggml.tokens", TOKS, NT);
                kv_f32s(&v, "tokenizer.ggml.scores", NT - 1); break;                     /* count mismatch */
        case 4: kv_str(&v, "tokenizer.ggml.model", "llama"); kv_strs(&v, "tokenizer.ggml.tokens", TOKS, NT);
                kv_i32s(&v, "tokenizer.ggml.token_type", 2, 1); break;
        case 5: kv_str(&v, "tokenizer.ggml.model", "gpt2"); kv_strs(&v, "tokenizer.ggml.tokens", TOKS, NT); break;
        case 6: kv_str(&v, "tokenizer.ggml.model", "gpt2"); kv_strs(&v, "tokenizer.ggml.tokens", TOKS, NT);
                kv_strs(&v, "tokenizer.ggml.merges", badm, 1); break;                    /* bad merge  */
        case 7: kv_str(&v, "tokenizer.ggml.model", "gpt2"); kv_strs(&v, "tokenizer.ggml.tokens", TOKS, NT);
                kv_strs(&v, "tokenizer.ggml.merges", goodm, 1); kv_str(&v, "tokenizer.ggml.pre", "no-such-pre"); break;
        case 8: kv_str(&v, "tokenizer.ggml.model", "llama"); kv_strs(&v, "tokenizer.ggml.tokens", TOKS, NT);
                kv_u32(&v, "tokenizer.ggml.bos_token_id", 1000); break;                  /* out of range */
        case 9: kv_str(&v, "tokenizer.ggml.model", "bert"); kv_strs(&v, "tokenizer.ggml.tokens", TOKS, NT);
                kv_u32(&v, "tokenizer.ggml.seperator_token_id", (uint32_t)NT); break;
        case 10: kv_str(&v, "tokenizer.ggml.model", "rwkv-9"); kv_strs(&v, "tokenizer.ggml.tokens", TOKS, NT); break;
        case 11: kv_str(&v, "tokenizer.ggml.model", "llama"); kv_strs(&v, "tokenizer.ggml.tokens", dup, 3); break;
        case 12: kv_str(&v, "tokenizer.ggml.model", "llama"); kv_strs(&v, "tokenizer.ggml.tokens", TOKS, 0); break;
        }
        mlxc_clear_error();
        mlxc_status st = gguf_tok(&v, &t);
        CHECK_MSG(st != MLXC_OK && t == NULL && mlxc_last_error()[0], "bad gguf case %d: %s", c, mlxc_status_name(st));
        if (t) mlxc_tokenizer_free(t);
    }
}

/* A gpt2 vocabulary whose merges name strings outside the vocabulary and
 * whose characters are missing still encodes without failing. */
static void test_gguf_odd_merges(void) {
    static const char *const toks[] = { "a", "b", "c" };
    static const char *const merges[] = { "a b", "ab c", "x y", "c c" };
    gw w = {0};
    kv_str(&w, "tokenizer.ggml.model", "gpt2");
    kv_strs(&w, "tokenizer.ggml.tokens", toks, 3);
    kv_strs(&w, "tokenizer.ggml.merges", merges, 4);
    mlxc_tokenizer *t;
    CHECK_OK(gguf_tok(&w, &t));
    if (!t) return;
    int32_t *ids;
    size_t n;
    CHECK_OK(mlxc_tokenizer_encode(t, "abc cc zz \xf0\x9f\x98\x80 ab", 17, MLXC_TOKENIZE_ADD_SPECIAL, &ids, &n));
    for (size_t i = 0; i < n; i++) CHECK(ids[i] >= 0 && ids[i] < 3);
    free(ids);
    mlxc_tokenizer_free(t);
}

int main(void) {
    RUN(test_tiny_basics);
    RUN(test_bad_arguments);
    RUN(test_invalid_utf8);
    RUN(test_replacement_rule);
    RUN(test_huge_words);
    RUN(test_bad_json);
    RUN(test_gguf_good_and_bad);
    RUN(test_gguf_odd_merges);
    HARNESS_END();
}
