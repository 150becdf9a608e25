/*
 * libFuzzer harness for the tokenizers.  The first byte picks what the rest
 * is: text to encode (and decode again) with one of three small built-in
 * tokenizers (byte-level BPE, BERT WordPiece, SentencePiece-style BPE with
 * byte fallback), or a tokenizer.json to load and then use.  Checks beyond
 * "no crash": byte-level BPE decodes back to the (sanitised) input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlxc/tokenizer.h"

/* tokenizer 0: every GPT-2 byte character (made at start-up), then these */
static const char *BPE_TAIL =
    " \"\\u0120h\": 256, \"he\": 257, \"ll\": 258, \"hell\": 259, \"hello\": 260, \"<|end|>\": 261},"
    " \"merges\": [\"h e\", \"l l\", \"he ll\", \"hell o\", \"\\u0120 h\"]},"
    " \"added_tokens\": [{\"id\": 261, \"content\": \"<|end|>\", \"special\": true, \"rstrip\": true}],"
    " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": true},"
    " {\"type\": \"ByteLevel\", \"add_prefix_space\": false}]}, \"decoder\": {\"type\": \"ByteLevel\"}}";

static unsigned byte_cp(unsigned b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    unsigned n = 0;
    for (unsigned i = 0; i < b; i++)
        if (!((i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE)) n++;
    return 0x100 + n;
}

static char *bpe_json(void) {
    size_t cap = 16384, n = 0;
    char *j = malloc(cap);
    if (!j) abort();
    n += (size_t)snprintf(j + n, cap - n, "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
    for (unsigned b = 0; b < 256; b++) {
        unsigned cp = byte_cp(b);
        if (cp == '"' || cp == '\\') n += (size_t)snprintf(j + n, cap - n, "\"\\%c\": %u,", (char)cp, b);
        else n += (size_t)snprintf(j + n, cap - n, "\"\\u%04x\": %u,", cp, b);
    }
    snprintf(j + n, cap - n, "%s", BPE_TAIL);
    return j;
}

static const char *JSONS[3] = {
    NULL,
    "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"max_input_chars_per_word\": 20,"
    " \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 2, \"a\": 3, \"##b\": 4, \"ab\": 5, \"##a\": 6, \"e\": 7, \".\": 8}},"
    " \"added_tokens\": [{\"id\": 1, \"content\": \"[CLS]\", \"special\": true}, {\"id\": 2, \"content\": \"[SEP]\", \"special\": true}],"
    " \"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": true}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
    " \"post_processor\": {\"type\": \"BertProcessing\", \"cls\": [\"[CLS]\", 1], \"sep\": [\"[SEP]\", 2]},"
    " \"decoder\": {\"type\": \"WordPiece\"}}",
    "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"fuse_unk\": true, \"unk_token\": \"<unk>\","
    " \"vocab\": {\"<unk>\": 0, \"<s>\": 1, \"<0x41>\": 2, \"<0xC3>\": 3, \"<0xA9>\": 4, \"\\u2581\": 5, \"a\": 6, \"b\": 7,"
    " \"\\u2581a\": 8, \"ab\": 9, \"\\u2581ab\": 10}, \"merges\": [\"a b\", \"\\u2581 a\", \"\\u2581a b\", \"\\u2581 ab\"]},"
    " \"added_tokens\": [{\"id\": 1, \"content\": \"<s>\", \"special\": true}],"
    " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\\u2581\"},"
    " {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\\u2581\"}, {\"type\": \"NFC\"}]},"
    " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\"}},"
    " {\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {\"<s>\": {\"ids\": [1]}}},"
    " \"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\"}, {\"type\": \"ByteFallback\"},"
    " {\"type\": \"Strip\", \"start\": 1}]}}",
};

static mlxc_tokenizer *g_tok[3];

static void exercise(const mlxc_tokenizer *t, const uint8_t *data, size_t size, unsigned flags, int roundtrip) {
    int32_t *ids;
    size_t n;
    if (mlxc_tokenizer_encode(t, (const char *)data, size, flags & 3, &ids, &n) != MLXC_OK) return;
    char *text;
    size_t len;
    if (mlxc_tokenizer_decode(t, ids, n, (flags >> 2) & 3, &text, &len) == MLXC_OK) {
        if (roundtrip && !(flags & 3)) {
            /* byte-level BPE without specials: ASCII text comes back as is */
            int ascii = 1;
            for (size_t i = 0; i < size; i++) ascii &= data[i] < 0x80;
            if (ascii && (len != size || memcmp(text, data, size) != 0)) abort();
        }
        free(text);
    }
    for (size_t i = 0; i < n && i < 4; i++) {
        char piece[64];
        size_t pl;
        mlxc_tokenizer_token_piece(t, ids[i], piece, sizeof piece, &pl);
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_tok[0]) {
        char *bpe = bpe_json();
        JSONS[0] = bpe;
        for (int i = 0; i < 3; i++)
            if (mlxc_tokenizer_load_json_memory(JSONS[i], strlen(JSONS[i]), &g_tok[i]) != MLXC_OK) abort();
        free(bpe);
    }
    if (size < 1) return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    if ((sel & 0xC0) == 0xC0) {
        mlxc_tokenizer *t;
        if (mlxc_tokenizer_load_json_memory((const char *)data, size, &t) == MLXC_OK) {
            exercise(t, (const uint8_t *)"Hello, World! 123 \xc3\xa9\xff <s>", 25, sel & 15, 0);
            exercise(t, data, size > 256 ? 256 : size, 0, 0);
            mlxc_tokenizer_free(t);
        }
        return 0;
    }
    int which = (sel >> 4) % 3;
    exercise(g_tok[which], data, size, sel & 15, which == 0);
    return 0;
}
