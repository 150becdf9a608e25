/*
 * libFuzzer harness for the tokenizer built from GGUF metadata
 * (mlxc_tokenizer_load_gguf_handle).  The first byte picks the form of the
 * rest:
 *   bit 7 set    a whole GGUF file, opened from memory;
 *   bit 7 clear  a vocabulary, turned into a valid GGUF here so that every
 *                input reaches the tokenizer builder: the rest up to the
 *                first NUL NUL is lines, each a token ("<type><text>", the
 *                low three bits of <type> the GGUF token type, 0 meaning 1)
 *                or, when bit 3 of the first byte is set, a merge
 *                ("\x08<left> <right>"); after the NUL NUL comes
 *                the text to encode.  Bits 0-1 pick tokenizer.ggml.model
 *                (gpt2, llama, bert), bits 2-5 the pre-tokenizer, bit 6 adds
 *                BOS/EOS ids and add_bos_token.
 * Each tokenizer that loads encodes the text (plain and parsing special
 * tokens, with and without BOS), decodes the ids, and reads their pieces.
 * Seeds: fuzz/corpus/tokenizer_gguf/, made by scripts/make_fuzz_seeds.py.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mlxc/gguf.h"
#include "mlxc/tokenizer.h"

/* ---- a minimal GGUF v3 writer (metadata only, no tensors) ---------------------------- */

typedef struct wbuf { uint8_t *p; size_t n, cap; } wbuf;

static void put(wbuf *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2 + 64;
        uint8_t *p = realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void put_u32(wbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(wbuf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(wbuf *b, const char *s, size_t n) { put_u64(b, n); put(b, s, n); }
static void put_key(wbuf *b, const char *k, uint32_t type) { put_str(b, k, strlen(k)); put_u32(b, type); }
static void kv_str(wbuf *b, const char *k, const char *v) { put_key(b, k, MLXC_GGUF_STRING); put_str(b, v, strlen(v)); }
static void kv_u32(wbuf *b, const char *k, uint32_t v) { put_key(b, k, MLXC_GGUF_UINT32); put_u32(b, v); }
static void kv_bool(wbuf *b, const char *k, uint8_t v) { put_key(b, k, MLXC_GGUF_BOOL); put(b, &v, 1); }

typedef struct span { const char *s; size_t n; } span;

static const char *const MODELS[3] = {"gpt2", "llama", "bert"};
static const char *const PRES[16] = {"default", "llama3", "qwen2", "deepseek-llm", "deepseek-coder", "deepseek-v3",
                                     "falcon", "smollm", "gpt-2", "poro-chat", "viking", "tekken", "gpt-4o",
                                     "seed-coder", "chatglm-bpe", "no-such-pre"};

/* The GGUF form of a structured input; NULL when it has no token. */
static uint8_t *build_gguf(uint8_t sel, const uint8_t *data, size_t size, size_t *out_len, span *text) {
    span tok[512], mer[512];
    uint8_t type[512];
    size_t nt = 0, nm = 0, end = size;
    for (size_t i = 0; i + 1 < size; i++)
        if (data[i] == 0 && data[i + 1] == 0) { end = i; break; }
    text->s = end + 2 <= size ? (const char *)data + end + 2 : "";
    text->n = end + 2 <= size ? size - end - 2 : 0;
    for (size_t a = 0; a < end;) {
        size_t e = a;
        while (e < end && data[e] != '\n') e++;
        if (e > a) {
            if ((data[a] & 8) && nm < 512) mer[nm++] = (span){(const char *)data + a + 1, e - a - 1};
            else if (!(data[a] & 8) && nt < 512) {
                type[nt] = (data[a] & 7) ? (data[a] & 7) : 1;
                tok[nt++] = (span){(const char *)data + a + 1, e - a - 1};
            }
        }
        a = e + 1;
    }
    if (nt == 0) return NULL;
    wbuf b = {0};
    bool specials = sel & 0x40;
    uint64_t n_kv = 5 + (nm ? 1 : 0) + (specials ? 3 : 0);
    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, 0);      /* tensors */
    put_u64(&b, n_kv);
    kv_str(&b, "tokenizer.ggml.model", MODELS[(sel & 3) % 3]);
    kv_str(&b, "tokenizer.ggml.pre", PRES[(sel >> 2) & 15]);
    put_key(&b, "tokenizer.ggml.tokens", MLXC_GGUF_ARRAY);
    put_u32(&b, MLXC_GGUF_STRING);
    put_u64(&b, nt);
    for (size_t i = 0; i < nt; i++) put_str(&b, tok[i].s, tok[i].n);
    put_key(&b, "tokenizer.ggml.token_type", MLXC_GGUF_ARRAY);
    put_u32(&b, MLXC_GGUF_INT32);
    put_u64(&b, nt);
    for (size_t i = 0; i < nt; i++) put_u32(&b, type[i]);
    put_key(&b, "tokenizer.ggml.scores", MLXC_GGUF_ARRAY);
    put_u32(&b, MLXC_GGUF_FLOAT32);
    put_u64(&b, nt);
    for (size_t i = 0; i < nt; i++) {
        float s = -(float)i - (float)tok[i].n * 0.5f;
        put(&b, &s, 4);
    }
    if (nm) {
        put_key(&b, "tokenizer.ggml.merges", MLXC_GGUF_ARRAY);
        put_u32(&b, MLXC_GGUF_STRING);
        put_u64(&b, nm);
        for (size_t i = 0; i < nm; i++) put_str(&b, mer[i].s, mer[i].n);
    }
    if (specials) {
        kv_u32(&b, "tokenizer.ggml.bos_token_id", 0);
        kv_u32(&b, "tokenizer.ggml.eos_token_id", (uint32_t)(nt - 1));
        kv_bool(&b, "tokenizer.ggml.add_bos_token", 1);
    }
    while (b.n % 32) put(&b, "", 1);   /* the (empty) data section starts aligned */
    *out_len = b.n;
    return b.p;
}

static void exercise(const mlxc_tokenizer *t, const char *text, size_t n) {
    for (unsigned flags = 0; flags < 4; flags++) {
        int32_t *ids;
        size_t ni;
        if (mlxc_tokenizer_encode(t, text, n, flags, &ids, &ni) != MLXC_OK) continue;
        char *out;
        size_t len;
        if (mlxc_tokenizer_decode(t, ids, ni, flags & 1 ? MLXC_DECODE_SKIP_SPECIAL : MLXC_DECODE_REPLACE_INVALID, &out,
                                  &len) == MLXC_OK)
            free(out);
        for (size_t i = 0; i < ni && i < 8; i++) {
            char piece[32];
            size_t pl;
            mlxc_tokenizer_token_piece(t, ids[i], piece, sizeof piece, &pl);
            if ((size_t)ids[i] >= mlxc_tokenizer_vocab_size(t)) abort();
        }
        free(ids);
    }
    int32_t bad[3] = {-1, (int32_t)mlxc_tokenizer_vocab_size(t), 0};
    char *out;
    size_t len;
    if (mlxc_tokenizer_decode(t, bad, 3, 0, &out, &len) == MLXC_OK) free(out);   /* must refuse, not crash */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    uint8_t *file = NULL;
    size_t flen = size;
    span text = {"Hello  world\t\t123 <s> \xc3\xa9\xff", 24};
    if (!(sel & 0x80)) {
        file = build_gguf(sel, data, size, &flen, &text);
        if (!file) return 0;
    }
    mlxc_gguf *g;
    if (mlxc_gguf_open_memory(file ? file : data, flen, &g) == MLXC_OK) {
        mlxc_tokenizer *t;
        if (mlxc_tokenizer_load_gguf_handle(g, &t) == MLXC_OK) {
            exercise(t, text.s, text.n > 4096 ? 4096 : text.n);
            mlxc_tokenizer_free(t);
        }
        mlxc_gguf_close(g);
    }
    free(file);
    return 0;
}
