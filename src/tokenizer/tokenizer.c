/*
 * Tokenizer core: the vocabulary tables every source fills (strings, merges,
 * added tokens), the encode pipeline (special-token partition → normalizer
 * → pre-tokenizer → model per word → post-processor) and decoding.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tokenizer/tokenizer_internal.h"

#define OOM() mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "tokenizer: out of memory")

char *mlxc_tok_strdup(const char *s, size_t len) {
    char *p = malloc(len + 1);
    if (!p) return NULL;
    if (len) memcpy(p, s, len);
    p[len] = 0;
    return p;
}

/* ---- growable arrays ------------------------------------------------------------ */

static bool grow(void **v, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem) return false;
        nc *= 2;
    }
    void *nv = realloc(*v, nc * elem);
    if (!nv) return false;
    *v = nv;
    *cap = nc;
    return true;
}

mlxc_status mlxc_ids_push(mlxc_ids *ids, int32_t id) {
    if (ids->n == ids->cap && !grow((void **)&ids->v, &ids->cap, ids->n + 1, sizeof *ids->v)) return OOM();
    ids->v[ids->n++] = id;
    return MLXC_OK;
}

mlxc_status mlxc_bytes_put(mlxc_bytes *b, const char *s, size_t n) {
    if (n > SIZE_MAX - b->n - 1) return OOM();
    if (!grow((void **)&b->v, &b->cap, b->n + n + 1, 1)) return OOM();
    if (n) memcpy(b->v + b->n, s, n);
    b->n += n;
    b->v[b->n] = 0;
    return MLXC_OK;
}

mlxc_status mlxc_spans_push(mlxc_spans *s, size_t off, size_t len) {
    if (s->n == s->cap && !grow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v)) return OOM();
    s->v[s->n].off = off;
    s->v[s->n].len = len;
    s->n++;
    return MLXC_OK;
}

/* ---- strings ---------------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

const char *mlxc_tok_str(const mlxc_tokenizer *t, int32_t id, size_t *len) {
    const mlxc_tok_strings *S = &t->str;
    *len = S->off[id + 1] - S->off[id];
    return S->data + S->off[id];
}

int32_t mlxc_tok_lookup(const mlxc_tokenizer *t, const char *s, size_t len) {
    const mlxc_tok_strings *S = &t->str;
    if (!S->slots) return -1;
    size_t i = (size_t)hash_bytes(s, len) & S->mask;
    for (;;) {
        uint32_t v = S->slots[i];
        if (!v) return -1;
        uint32_t id = v - 1;
        size_t l = S->off[id + 1] - S->off[id];
        if (l == len && memcmp(S->data + S->off[id], s, len) == 0) return (int32_t)id;
        i = (i + 1) & S->mask;
    }
}

static mlxc_status strings_rehash(mlxc_tok_strings *S, size_t nslots) {
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots) return OOM();
    free(S->slots);
    S->slots = slots;
    S->mask = nslots - 1;
    for (size_t id = 0; id < S->n; id++) {
        size_t i = (size_t)hash_bytes(S->data + S->off[id], S->off[id + 1] - S->off[id]) & S->mask;
        while (slots[i]) i = (i + 1) & S->mask;
        slots[i] = (uint32_t)id + 1;
    }
    return MLXC_OK;
}

/* Append s as a new string (no duplicate check). */
static mlxc_status strings_append(mlxc_tok_strings *S, const char *s, size_t len, int32_t *id) {
    if (S->n >= INT32_MAX - 1 || len > UINT32_MAX - S->len)
        return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: vocabulary too large");
    if (!grow((void **)&S->off, &S->capn, S->n + 2, sizeof *S->off)) return OOM();
    if (!grow((void **)&S->data, &S->cap, S->len + len + 1, 1)) return OOM();
    if (S->n == 0) S->off[0] = 0;
    if (len) memcpy(S->data + S->len, s, len);
    S->len += len;
    S->off[S->n + 1] = (uint32_t)S->len;
    *id = (int32_t)S->n;
    S->n++;
    if (!S->slots || S->n * 2 > S->mask + 1) {
        size_t ns = S->slots ? (S->mask + 1) * 2 : 1024;
        while (ns < S->n * 2) ns *= 2;
        return strings_rehash(S, ns);
    }
    size_t i = (size_t)hash_bytes(s, len) & S->mask;
    while (S->slots[i]) i = (i + 1) & S->mask;
    S->slots[i] = (uint32_t)*id + 1;
    return MLXC_OK;
}

mlxc_status mlxc_tok_intern(mlxc_tokenizer *t, const char *s, size_t len, int32_t *id) {
    int32_t f = mlxc_tok_lookup(t, s, len);
    if (f >= 0) { *id = f; return MLXC_OK; }
    return strings_append(&t->str, s, len, id);
}

mlxc_status mlxc_tok_add_token(mlxc_tokenizer *t, const char *s, size_t len, float score, uint8_t attr) {
    if (t->str.n != t->n_vocab)
        return mlxc_set_error(MLXC_ERR_INTERNAL, "tokenizer: tokens must be added before merges");
    if (mlxc_tok_lookup(t, s, len) >= 0)
        return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: duplicate token '%.*s' (id %zu)",
                              (int)(len > 64 ? 64 : len), s, t->n_vocab);
    size_t n = t->n_vocab;
    if (n == t->vocab_cap) {
        size_t nc = n ? n * 2 : 256;
        float *ns = realloc(t->scores, nc * sizeof *ns);
        if (!ns) return OOM();
        t->scores = ns;
        uint8_t *na = realloc(t->attr, nc);
        if (!na) return OOM();
        t->attr = na;
        t->vocab_cap = nc;
    }
    int32_t id;
    mlxc_status st = strings_append(&t->str, s, len, &id);
    if (st) return st;
    t->scores[n] = score;
    t->attr[n] = attr;
    t->n_vocab++;
    if (len > t->max_token_len) t->max_token_len = len;
    return MLXC_OK;
}

/* ---- merges ------------------------------------------------------------------------ */

static uint64_t merge_key(int32_t a, int32_t b) {
    /* +1 so that the empty marker 0 is never a key */
    return ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
}

static size_t merge_slot(uint64_t k, size_t mask) {
    k ^= k >> 33; k *= 0xff51afd7ed558ccdull; k ^= k >> 33;
    return (size_t)k & mask;
}

static mlxc_status merges_grow(mlxc_tokenizer *t) {
    size_t ns = t->merge_keys ? (t->merge_mask + 1) * 2 : 1024;
    uint64_t *k = calloc(ns, sizeof *k);
    uint32_t *r = malloc(ns * sizeof *r), *x = malloc(ns * sizeof *x);
    if (!k || !r || !x) { free(k); free(r); free(x); return OOM(); }
    for (size_t i = 0; t->merge_keys && i <= t->merge_mask; i++) {
        if (!t->merge_keys[i]) continue;
        size_t j = merge_slot(t->merge_keys[i], ns - 1);
        while (k[j]) j = (j + 1) & (ns - 1);
        k[j] = t->merge_keys[i];
        r[j] = t->merge_rank[i];
        x[j] = t->merge_res[i];
    }
    free(t->merge_keys); free(t->merge_rank); free(t->merge_res);
    t->merge_keys = k; t->merge_rank = r; t->merge_res = x;
    t->merge_mask = ns - 1;
    return MLXC_OK;
}

mlxc_status mlxc_tok_add_merge(mlxc_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                               uint32_t rank) {
    int32_t ia, ib, ir;
    mlxc_status st;
    if ((st = mlxc_tok_intern(t, a, alen, &ia))) return st;
    if ((st = mlxc_tok_intern(t, b, blen, &ib))) return st;
    if (alen + blen < alen) return OOM();
    char stackbuf[256];
    char *cat = alen + blen <= sizeof stackbuf ? stackbuf : malloc(alen + blen);
    if (!cat) return OOM();
    memcpy(cat, a, alen);
    memcpy(cat + alen, b, blen);
    st = mlxc_tok_intern(t, cat, alen + blen, &ir);
    if (cat != stackbuf) free(cat);
    if (st) return st;
    if (!t->merge_keys || (t->n_merges + 1) * 2 > t->merge_mask + 1)
        if ((st = merges_grow(t))) return st;
    uint64_t k = merge_key(ia, ib);
    size_t j = merge_slot(k, t->merge_mask);
    while (t->merge_keys[j]) {
        if (t->merge_keys[j] == k) return MLXC_OK;   /* first (best) rank wins */
        j = (j + 1) & t->merge_mask;
    }
    t->merge_keys[j] = k;
    t->merge_rank[j] = rank;
    t->merge_res[j] = (uint32_t)ir;
    t->n_merges++;
    return MLXC_OK;
}

/* Used by the BPE model: rank and result of merging string ids a, b. */
bool mlxc_tok_find_merge(const mlxc_tokenizer *t, int32_t a, int32_t b, uint32_t *rank, int32_t *res);
bool mlxc_tok_find_merge(const mlxc_tokenizer *t, int32_t a, int32_t b, uint32_t *rank, int32_t *res) {
    if (!t->merge_keys || a < 0 || b < 0) return false;
    uint64_t k = merge_key(a, b);
    size_t j = merge_slot(k, t->merge_mask);
    while (t->merge_keys[j]) {
        if (t->merge_keys[j] == k) {
            *rank = t->merge_rank[j];
            *res = (int32_t)t->merge_res[j];
            return true;
        }
        j = (j + 1) & t->merge_mask;
    }
    return false;
}

/* ---- other builder calls ------------------------------------------------------------ */

mlxc_status mlxc_tok_create(mlxc_tokenizer **out) {
    mlxc_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return OOM();
    for (int i = 0; i < MLXC_TOKEN_ROLE_COUNT; i++) t->role[i] = -1;
    for (int i = 0; i < 256; i++) t->byte_tok[i] = t->bl_tok[i] = -1;
    t->fuse_unk = false;
    *out = t;
    return MLXC_OK;
}

mlxc_status mlxc_tok_add_added(mlxc_tokenizer *t, int32_t id, bool special, bool lstrip, bool rstrip) {
    if (id < 0 || (size_t)id >= t->n_vocab)
        return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: added token id %d outside the vocabulary (%zu)",
                              id, t->n_vocab);
    size_t len;
    mlxc_tok_str(t, id, &len);
    if (len == 0) return MLXC_OK;   /* an empty string never matches */
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].id == id) {
            t->added[i].special = special; t->added[i].lstrip = lstrip; t->added[i].rstrip = rstrip;
            return MLXC_OK;
        }
    mlxc_added_token *na = realloc(t->added, (t->n_added + 1) * sizeof *na);
    if (!na) return OOM();
    t->added = na;
    t->added[t->n_added++] = (mlxc_added_token){ id, special, lstrip, rstrip };
    return MLXC_OK;
}

mlxc_status mlxc_tok_add_norm(mlxc_tokenizer *t, const mlxc_norm_step *s) {
    mlxc_norm_step *n = realloc(t->norm, (t->n_norm + 1) * sizeof *n);
    if (!n) return OOM();
    t->norm = n;
    t->norm[t->n_norm++] = *s;
    return MLXC_OK;
}

mlxc_status mlxc_tok_add_pre(mlxc_tokenizer *t, const mlxc_pre_step *s) {
    mlxc_pre_step *n = realloc(t->pre, (t->n_pre + 1) * sizeof *n);
    if (!n) return OOM();
    t->pre = n;
    t->pre[t->n_pre++] = *s;
    return MLXC_OK;
}

/* \s in PCRE2's UCP mode is "Z or \t\n\v\f\r"; the references (Oniguruma in
 * Hugging Face tokenizers, llama.cpp's tables) use the White_Space property,
 * which adds U+0085.  Rewrite \s and \S so both agree. */
#define WS_CLASS "\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}"

static mlxc_status rewrite_ws(const char *p, size_t n, mlxc_bytes *o) {
    int depth = 0;   /* inside [...] */
    mlxc_status st = MLXC_OK;
    for (size_t i = 0; i < n && !st; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char d = p[i + 1];
            if (d == 's') st = depth ? mlxc_bytes_put(o, WS_CLASS, strlen(WS_CLASS))
                                     : mlxc_bytes_put(o, "[" WS_CLASS "]", strlen(WS_CLASS) + 2);
            else if (d == 'S' && !depth) st = mlxc_bytes_put(o, "[^" WS_CLASS "]", strlen(WS_CLASS) + 3);
            else st = mlxc_bytes_put(o, p + i, 2);
            i++;
            continue;
        }
        if (c == '[' && !depth) {
            depth = 1;
            st = mlxc_bytes_put(o, p + i, 1);
            /* a ']' right after '[' or '[^' is literal */
            if (i + 1 < n && p[i + 1] == '^') { if (!st) st = mlxc_bytes_put(o, "^", 1); i++; }
            if (i + 1 < n && p[i + 1] == ']') { if (!st) st = mlxc_bytes_put(o, "]", 1); i++; }
            continue;
        }
        if (c == ']' && depth) depth = 0;
        st = mlxc_bytes_put(o, &c, 1);
    }
    return st;
}

mlxc_status mlxc_tok_add_regex(mlxc_tokenizer *t, const char *pattern, size_t len, mlxc_split_behavior b,
                               bool invert) {
    mlxc_bytes pat = {0};
    mlxc_status st = rewrite_ws(pattern, len, &pat);
    if (st) { free(pat.v); return st; }
    int err;
    PCRE2_SIZE eoff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(pat.v ? pat.v : ""), pat.n,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &err, &eoff, NULL);
    free(pat.v);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: bad pre-tokenizer regex '%.*s': %s at %zu",
                              (int)(len > 80 ? 80 : len), pattern, (const char *)msg, (size_t)eoff);
    }
    mlxc_pre_step s = { .kind = MLXC_PRE_REGEX, .re = re, .behavior = b, .invert = invert };
    s.jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
    st = mlxc_tok_add_pre(t, &s);
    if (st) pcre2_code_free(re);
    return st;
}

/* GPT-2's byte ↔ unicode table: printable Latin-1 bytes map to themselves,
 * the other 68 bytes to U+0100.. in byte order. */
uint32_t mlxc_tok_byte_to_cp(uint8_t b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) return b;
    uint32_t n = 0;
    for (int i = 0; i < b; i++)
        if (!((i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE)) n++;
    return 0x100 + n;
}

mlxc_status mlxc_tok_finish(mlxc_tokenizer *t) {
    if (t->n_vocab == 0) return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: empty vocabulary");
    for (int i = 0; i < 0x180; i++) t->bl_rev[i] = -1;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = mlxc_tok_byte_to_cp((uint8_t)b);
        char u[4];
        size_t k = mlxc_utf8_put(cp, u);
        memcpy(t->bl_utf8[b], u, 2);
        t->bl_len[b] = (uint8_t)k;
        t->bl_rev[cp] = (int16_t)b;
        int32_t id = mlxc_tok_lookup(t, u, k);
        t->bl_tok[b] = (id >= 0 && (size_t)id < t->n_vocab) ? id : -1;
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        id = mlxc_tok_lookup(t, hex, 6);
        t->byte_tok[b] = (id >= 0 && (size_t)id < t->n_vocab) ? id : -1;
    }
    for (int r = 0; r < MLXC_TOKEN_ROLE_COUNT; r++)
        if (t->role[r] >= 0 && (size_t)t->role[r] >= t->n_vocab)
            return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: special token id %d outside the vocabulary (%zu)",
                                  t->role[r], t->n_vocab);
    for (size_t i = 0; i < t->n_post_prefix; i++)
        if (t->post_prefix[i] < 0 || (size_t)t->post_prefix[i] >= t->n_vocab)
            return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: post-processor id %d outside the vocabulary",
                                  t->post_prefix[i]);
    for (size_t i = 0; i < t->n_post_suffix; i++)
        if (t->post_suffix[i] < 0 || (size_t)t->post_suffix[i] >= t->n_vocab)
            return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: post-processor id %d outside the vocabulary",
                                  t->post_suffix[i]);
    /* SentencePiece by score merges over the whole text; when no token
     * holds a ▁ after a non-▁ character, no merge can cross the point before
     * such a ▁, and the text can be cut there into words (same result,
     * smaller heaps, and the word cache applies). */
    t->spm_split_ok = t->score_merges;
    for (size_t id = 0; id < t->n_vocab && t->spm_split_ok; id++) {
        size_t len;
        const char *s = mlxc_tok_str(t, (int32_t)id, &len);
        for (size_t i = 1; i + 3 <= len; i++) {
            if (memcmp(s + i, "\xe2\x96\x81", 3) != 0) continue;
            if (i < 3 || memcmp(s + i - 3, "\xe2\x96\x81", 3) != 0) { t->spm_split_ok = false; break; }
        }
    }
    memset(t->added_first, 0, sizeof t->added_first);
    memset(t->plain_first, 0, sizeof t->plain_first);
    memset(t->added_start, 0, sizeof t->added_start);
    t->n_plain = 0;
    free(t->added_by_byte);
    t->added_by_byte = malloc((t->n_added ? t->n_added : 1) * sizeof *t->added_by_byte);
    if (!t->added_by_byte) return OOM();
    /* added tokens bucketed by first byte (a counting sort; an empty token
     * never matches and is left out) */
    for (size_t i = 0; i < t->n_added; i++) {
        size_t len;
        const char *s = mlxc_tok_str(t, t->added[i].id, &len);
        if (len) t->added_start[(uint8_t)s[0] + 1]++;
    }
    for (int b = 0; b < 256; b++) t->added_start[b + 1] += t->added_start[b];
    uint32_t fill[256];
    memcpy(fill, t->added_start, sizeof fill);
    for (size_t i = 0; i < t->n_added; i++) {
        size_t len;
        const char *s = mlxc_tok_str(t, t->added[i].id, &len);
        if (!len) continue;
        uint8_t b = (uint8_t)s[0];
        t->added_by_byte[fill[b]++] = (uint32_t)i;
        t->added_first[b] = 1;
        if (!t->added[i].special) {
            t->plain_first[b] = 1;
            t->n_plain++;
        }
        if (t->added[i].special) t->attr[t->added[i].id] |= MLXC_TOKA_CONTROL;
    }
    return MLXC_OK;
}

/* ---- lifetime ------------------------------------------------------------------------ */

void mlxc_tokenizer_free(mlxc_tokenizer *t) {
    if (!t) return;
    free(t->str.data); free(t->str.off); free(t->str.slots);
    free(t->scores); free(t->attr);
    free(t->merge_keys); free(t->merge_rank); free(t->merge_res);
    free(t->wp_cont); free(t->wp_start);
    for (size_t i = 0; i < t->n_norm; i++) { free(t->norm[i].a); free(t->norm[i].b); }
    free(t->norm);
    for (size_t i = 0; i < t->n_pre; i++) { if (t->pre[i].re) pcre2_code_free(t->pre[i].re); free(t->pre[i].lit); }
    free(t->pre);
    free(t->added);
    free(t->added_by_byte);
    free(t);
}

static mlxc_status read_file(const char *path, char **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return mlxc_set_error(errno == ENOENT ? MLXC_ERR_NOT_FOUND : MLXC_ERR_IO,
                                  "tokenizer: cannot open %s: %s", path, strerror(errno));
    mlxc_bytes b = {0};
    char buf[65536];
    size_t k;
    mlxc_status st = MLXC_OK;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        if ((st = mlxc_bytes_put(&b, buf, k))) break;
    if (!st && ferror(f)) st = mlxc_set_error(MLXC_ERR_IO, "tokenizer: cannot read %s", path);
    fclose(f);
    if (st) { free(b.v); return st; }
    *data = b.v ? b.v : mlxc_tok_strdup("", 0);
    *len = b.n;
    return *data ? MLXC_OK : OOM();
}

mlxc_status mlxc_tokenizer_load_json_memory(const char *json, size_t len, mlxc_tokenizer **out) {
    MLXC_CHECK_ARG(out && (json || !len), "mlxc_tokenizer_load_json_memory: NULL argument");
    *out = NULL;
    return mlxc_tok_from_json(json ? json : "", len, out);
}

mlxc_status mlxc_tokenizer_load_json(const char *path, mlxc_tokenizer **out) {
    MLXC_CHECK_ARG(path && out, "mlxc_tokenizer_load_json: NULL argument");
    *out = NULL;
    char *data;
    size_t len;
    mlxc_status st = read_file(path, &data, &len);
    if (st) return st;
    st = mlxc_tok_from_json(data, len, out);
    free(data);
    return st;
}

mlxc_status mlxc_tokenizer_load_gguf_handle(const mlxc_gguf *g, mlxc_tokenizer **out) {
    MLXC_CHECK_ARG(g && out, "mlxc_tokenizer_load_gguf_handle: NULL argument");
    *out = NULL;
    return mlxc_tok_from_gguf(g, NULL, out);
}

static mlxc_status load_gguf(const char *path, const mlxc_tokenizer_options *opt, mlxc_tokenizer **out) {
    mlxc_gguf *g;
    mlxc_status st = mlxc_gguf_open(path, &g);
    if (st) return st;
    st = mlxc_tok_from_gguf(g, opt, out);
    mlxc_gguf_close(g);
    return st;
}

mlxc_status mlxc_tokenizer_load_gguf(const char *path, mlxc_tokenizer **out) {
    MLXC_CHECK_ARG(path && out, "mlxc_tokenizer_load_gguf: NULL argument");
    *out = NULL;
    return load_gguf(path, NULL, out);
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

mlxc_status mlxc_tokenizer_load(const char *path, mlxc_tokenizer **out) {
    return mlxc_tokenizer_load_ex(path, NULL, out);
}

mlxc_status mlxc_tokenizer_load_ex(const char *path, const mlxc_tokenizer_options *opt, mlxc_tokenizer **out) {
    MLXC_CHECK_ARG(path && out, "mlxc_tokenizer_load: NULL argument");
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return mlxc_set_error(MLXC_ERR_NOT_FOUND, "tokenizer: %s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) {
        if (ends_with(path, ".json")) return mlxc_tokenizer_load_json(path, out);
        return load_gguf(path, opt, out);
    }
    size_t pl = strlen(path);
    char *p = malloc(pl + 300);
    if (!p) return OOM();
    snprintf(p, pl + 300, "%s/tokenizer.json", path);
    if (stat(p, &sb) == 0) {
        mlxc_status st = mlxc_tokenizer_load_json(p, out);
        free(p);
        return st;
    }
    DIR *d = opendir(path);
    if (!d) { free(p); return mlxc_set_error(MLXC_ERR_IO, "tokenizer: cannot list %s", path); }
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d))) {
        if (!ends_with(e->d_name, ".gguf") || strlen(e->d_name) > 250) continue;
        if (found++) break;
        snprintf(p, pl + 300, "%s/%s", path, e->d_name);
    }
    closedir(d);
    mlxc_status st;
    if (found == 1) st = load_gguf(p, opt, out);
    else if (found == 0) st = mlxc_set_error(MLXC_ERR_NOT_FOUND, "tokenizer: %s has no tokenizer.json and no .gguf file", path);
    else st = mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "tokenizer: %s has several .gguf files; name one", path);
    free(p);
    return st;
}

/* ---- encode --------------------------------------------------------------------------- */

static bool is_ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Longest added token starting at s[0..n), or -1 (index into t->added);
 * special (control) tokens only when `special` is set.  Only the tokens
 * that begin with s[0] are tried (a vocabulary may have thousands of
 * user-defined tokens). */
static int match_added(const mlxc_tokenizer *t, const char *s, size_t n, bool special, size_t *mlen) {
    int best = -1;
    size_t bl = 0;
    uint8_t b = (uint8_t)s[0];
    for (uint32_t k = t->added_start[b]; k < t->added_start[b + 1]; k++) {
        uint32_t i = t->added_by_byte[k];
        if (t->added[i].special && !special) continue;
        size_t len;
        const char *a = mlxc_tok_str(t, t->added[i].id, &len);
        if (len > bl && len <= n && memcmp(a, s, len) == 0) { best = (int)i; bl = len; }
    }
    *mlen = bl;
    return best;
}

/* Encode one stretch of ordinary text. */
static mlxc_status encode_text(const mlxc_tokenizer *t, mlxc_tok_work *w, const char *s, size_t n,
                               bool first, mlxc_ids *out, mlxc_bytes *norm, mlxc_spans *words) {
    norm->n = 0;
    words->n = 0;
    mlxc_status st;
    if (t->spm_space_prefix || t->spm_escape) {
        /* llama.cpp's SentencePiece: a space before every stretch of text,
         * then spaces become ▁; no pre-tokenizer. */
        if (t->spm_space_prefix && (st = mlxc_bytes_put(norm, " ", 1))) return st;
        if ((st = mlxc_bytes_put(norm, s, n))) return st;
        if (t->spm_escape) {
            mlxc_bytes esc = {0};
            for (size_t i = 0; i < norm->n && !st; i++)
                st = norm->v[i] == ' ' ? mlxc_bytes_put(&esc, "\xe2\x96\x81", 3) : mlxc_bytes_put(&esc, norm->v + i, 1);
            if (st) { free(esc.v); return st; }
            free(norm->v);
            *norm = esc;
        }
        if (norm->n == 0) return MLXC_OK;
        size_t a = 0;
        if (t->spm_split_ok)
            for (size_t i = 3; i + 3 <= norm->n && !st; i++)
                if (memcmp(norm->v + i, "\xe2\x96\x81", 3) == 0 && memcmp(norm->v + i - 3, "\xe2\x96\x81", 3) != 0) {
                    st = mlxc_spans_push(words, a, i - a);
                    a = i;
                }
        if (st || (st = mlxc_spans_push(words, a, norm->n - a))) return st;
    } else {
        if ((st = mlxc_tok_normalize(t, s, n, first, norm))) return st;
        if (norm->n == 0) return MLXC_OK;
        if ((st = mlxc_tok_pretokenize(t, norm, first, words))) return st;
    }
    for (size_t i = 0; i < words->n; i++) {
        if (words->v[i].len == 0) continue;
        if ((st = mlxc_tok_model_word(t, w, norm->v + words->v[i].off, words->v[i].len, out))) return st;
    }
    return MLXC_OK;
}

mlxc_status mlxc_tokenizer_encode(const mlxc_tokenizer *t, const char *text, size_t len, unsigned flags,
                                  int32_t **ids, size_t *n_ids) {
    MLXC_CHECK_ARG(t && ids && n_ids && (text || !len), "mlxc_tokenizer_encode: NULL argument");
    MLXC_CHECK_ARG(!(flags & ~(MLXC_TOKENIZE_ADD_SPECIAL | MLXC_TOKENIZE_PARSE_SPECIAL)),
                   "mlxc_tokenizer_encode: unknown flags 0x%x", flags);
    *ids = NULL;
    *n_ids = 0;
    if (!text) text = "";
    char *clean = NULL;
    size_t clen = len;
    mlxc_status st = MLXC_OK;
    if (mlxc_utf8_valid_prefix((const uint8_t *)text, len) != len) {
        if ((st = mlxc_utf8_sanitize(text, len, &clean, &clen))) return st;
        text = clean;
    }
    len = clen;
    mlxc_ids out = {0};
    mlxc_bytes norm = {0};
    mlxc_spans words = {0};
    mlxc_tok_work *w = NULL;
    if ((st = mlxc_tok_work_create(&w))) goto done;
    if ((st = mlxc_ids_push(&out, 0))) goto done;   /* ensures a non-NULL array */
    out.n = 0;
    if (flags & MLXC_TOKENIZE_ADD_SPECIAL)
        for (size_t i = 0; i < t->n_post_prefix && !st; i++) st = mlxc_ids_push(&out, t->post_prefix[i]);
    /* Added tokens are cut out of the raw text before normalization and
     * pre-tokenization, as llama.cpp and Hugging Face tokenizers do: the
     * user-defined ones always (a run of spaces or a code keyword would
     * otherwise be split by the pre-tokenizer), the special ones only when
     * their text is to be parsed. */
    bool parse = (flags & MLXC_TOKENIZE_PARSE_SPECIAL) != 0;
    const uint8_t *first_bytes = parse ? t->added_first : t->plain_first;
    bool any = parse ? t->n_added > 0 : t->n_plain > 0;
    size_t seg = 0, i = 0;
    while (!st && i <= len) {
        size_t mlen = 0;
        int a = -1;
        if (any && i < len && first_bytes[(uint8_t)text[i]]) a = match_added(t, text + i, len - i, parse, &mlen);
        if (a < 0 && i < len) { i++; continue; }
        /* text before the token (or the tail) */
        size_t end = i;
        if (a >= 0 && t->added[a].lstrip)
            while (end > seg && is_ascii_space(text[end - 1])) end--;
        if (end > seg) st = encode_text(t, w, text + seg, end - seg, seg == 0, &out, &norm, &words);
        if (st || a < 0) break;
        st = mlxc_ids_push(&out, t->added[a].id);
        i += mlen;
        if (t->added[a].rstrip)
            while (i < len && is_ascii_space(text[i])) i++;
        seg = i;
    }
    if (!st && (flags & MLXC_TOKENIZE_ADD_SPECIAL))
        for (size_t k = 0; k < t->n_post_suffix && !st; k++) st = mlxc_ids_push(&out, t->post_suffix[k]);
done:
    mlxc_tok_work_free(w);
    free(norm.v);
    free(words.v);
    free(clean);
    if (st) { free(out.v); return st; }
    *ids = out.v;
    *n_ids = out.n;
    return MLXC_OK;
}

/* ---- decode ------------------------------------------------------------------------------ */

static bool is_special_id(const mlxc_tokenizer *t, int32_t id) {
    return (t->attr[id] & (MLXC_TOKA_CONTROL | MLXC_TOKA_UNKNOWN)) != 0;
}

/* Bytes of one token as decoded text (before first-word stripping). */
static mlxc_status piece(const mlxc_tokenizer *t, int32_t id, bool first, mlxc_bytes *o) {
    size_t len;
    const char *s = mlxc_tok_str(t, id, &len);
    uint8_t attr = t->attr[id];
    if (attr & (MLXC_TOKA_CONTROL | MLXC_TOKA_USER | MLXC_TOKA_UNKNOWN))
        return mlxc_bytes_put(o, s, len);
    if ((attr & MLXC_TOKA_BYTE) || (t->byte_fallback && len == 6 && memcmp(s, "<0x", 3) == 0)) {
        if (len == 6 && s[0] == '<' && s[5] == '>' && isxdigit((unsigned char)s[3]) && isxdigit((unsigned char)s[4])) {
            char hx[3] = { s[3], s[4], 0 };
            char b = (char)strtol(hx, NULL, 16);
            return mlxc_bytes_put(o, &b, 1);
        }
    }
    mlxc_status st = MLXC_OK;
    switch (t->dec_mode) {
    case MLXC_DEC_BYTELEVEL:
        for (size_t i = 0; i < len && !st;) {
            uint32_t cp;
            size_t k = mlxc_utf8_next((const uint8_t *)s + i, len - i, &cp, NULL);
            if (cp < 0x180 && t->bl_rev[cp] >= 0) {
                char b = (char)t->bl_rev[cp];
                st = mlxc_bytes_put(o, &b, 1);
            } else {
                st = mlxc_bytes_put(o, s + i, k);
            }
            i += k;
        }
        return st;
    case MLXC_DEC_METASPACE:
    case MLXC_DEC_WPM_GGUF:
        for (size_t i = 0; i < len && !st;) {
            if (i + 3 <= len && memcmp(s + i, "\xe2\x96\x81", 3) == 0) { st = mlxc_bytes_put(o, " ", 1); i += 3; }
            else { st = mlxc_bytes_put(o, s + i, 1); i++; }
        }
        return st;
    case MLXC_DEC_WORDPIECE:
        if (t->wp_cont_len && len >= t->wp_cont_len && memcmp(s, t->wp_cont, t->wp_cont_len) == 0)
            return mlxc_bytes_put(o, s + t->wp_cont_len, len - t->wp_cont_len);
        if (!first && (st = mlxc_bytes_put(o, " ", 1))) return st;
        return mlxc_bytes_put(o, s, len);
    }
    return mlxc_bytes_put(o, s, len);
}

/* Hugging Face's WordPiece decoder cleanup. */
static void wp_cleanup(mlxc_bytes *b) {
    static const char *from[] = { " .", " ?", " !", " ,", " ' ", " n't", " 'm", " 's", " 've", " 're" };
    static const char *to[]   = { ".",  "?",  "!",  ",",  "'",   "n't",  "'m",  "'s",  "'ve",  "'re" };
    for (size_t r = 0; r < sizeof from / sizeof *from; r++) {
        size_t fl = strlen(from[r]), tl = strlen(to[r]), j = 0;
        for (size_t i = 0; i < b->n;) {
            if (i + fl <= b->n && memcmp(b->v + i, from[r], fl) == 0) {
                memmove(b->v + j, to[r], tl);
                j += tl;
                i += fl;
            } else {
                b->v[j++] = b->v[i++];
            }
        }
        b->n = j;
    }
    if (b->v) b->v[b->n] = 0;
}

mlxc_status mlxc_tokenizer_decode(const mlxc_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                                  char **text, size_t *len) {
    MLXC_CHECK_ARG(t && text && len && (ids || !n), "mlxc_tokenizer_decode: NULL argument");
    MLXC_CHECK_ARG(!(flags & ~(MLXC_DECODE_SKIP_SPECIAL | MLXC_DECODE_REPLACE_INVALID)),
                   "mlxc_tokenizer_decode: unknown flags 0x%x", flags);
    *text = NULL;
    *len = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (size_t)ids[i] >= t->n_vocab)
            return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "mlxc_tokenizer_decode: id %d at %zu outside the vocabulary (%zu)",
                                  ids[i], i, t->n_vocab);
    mlxc_bytes o = {0};
    mlxc_status st = mlxc_bytes_put(&o, "", 0);
    bool first = true;
    for (size_t i = 0; i < n && !st; i++) {
        if ((flags & MLXC_DECODE_SKIP_SPECIAL) && is_special_id(t, ids[i])) continue;
        size_t before = o.n;
        st = piece(t, ids[i], first, &o);
        if (!st && first && t->dec_strip_first_space && o.n > before && o.v[before] == ' ') {
            memmove(o.v + before, o.v + before + 1, o.n - before - 1);
            o.n--;
            o.v[o.n] = 0;
        }
        first = false;
    }
    if (!st && t->dec_cleanup) wp_cleanup(&o);
    if (!st && (flags & MLXC_DECODE_REPLACE_INVALID) && mlxc_utf8_valid_prefix((uint8_t *)o.v, o.n) != o.n) {
        char *c;
        size_t cl;
        st = mlxc_utf8_sanitize(o.v, o.n, &c, &cl);
        if (!st) { free(o.v); o.v = c; o.n = cl; }
    }
    if (st) { free(o.v); return st; }
    *text = o.v;
    *len = o.n;
    return MLXC_OK;
}

/* ---- accessors ---------------------------------------------------------------------------- */

mlxc_tokenizer_kind mlxc_tokenizer_get_kind(const mlxc_tokenizer *t) { return t ? t->kind : MLXC_TOKENIZER_BPE; }
size_t mlxc_tokenizer_vocab_size(const mlxc_tokenizer *t) { return t ? t->n_vocab : 0; }

mlxc_status mlxc_tokenizer_token_text(const mlxc_tokenizer *t, int32_t id, const char **s, size_t *len) {
    MLXC_CHECK_ARG(t && s && len, "mlxc_tokenizer_token_text: NULL argument");
    if (id < 0 || (size_t)id >= t->n_vocab)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "mlxc_tokenizer_token_text: id %d outside the vocabulary (%zu)",
                              id, t->n_vocab);
    *s = mlxc_tok_str(t, id, len);
    return MLXC_OK;
}

mlxc_status mlxc_tokenizer_token_piece(const mlxc_tokenizer *t, int32_t id, char *buf, size_t cap, size_t *len) {
    MLXC_CHECK_ARG(t && len && (buf || !cap), "mlxc_tokenizer_token_piece: NULL argument");
    if (id < 0 || (size_t)id >= t->n_vocab)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "mlxc_tokenizer_token_piece: id %d outside the vocabulary (%zu)",
                              id, t->n_vocab);
    mlxc_bytes o = {0};
    mlxc_status st = piece(t, id, false, &o);
    if (st) { free(o.v); return st; }
    *len = o.n;
    if (o.n > cap) {
        free(o.v);
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "mlxc_tokenizer_token_piece: needs %zu bytes", *len);
    }
    if (o.n) memcpy(buf, o.v, o.n);
    free(o.v);
    return MLXC_OK;
}

mlxc_status mlxc_tokenizer_token_id(const mlxc_tokenizer *t, const char *s, size_t len, int32_t *id) {
    MLXC_CHECK_ARG(t && id && (s || !len), "mlxc_tokenizer_token_id: NULL argument");
    int32_t f = mlxc_tok_lookup(t, s ? s : "", len);
    if (f < 0 || (size_t)f >= t->n_vocab) {
        *id = -1;
        return mlxc_set_error(MLXC_ERR_NOT_FOUND, "tokenizer: '%.*s' is not in the vocabulary",
                              (int)(len > 64 ? 64 : len), s ? s : "");
    }
    *id = f;
    return MLXC_OK;
}

int32_t mlxc_tokenizer_special_id(const mlxc_tokenizer *t, mlxc_token_role role) {
    if (!t || (int)role < 0 || role >= MLXC_TOKEN_ROLE_COUNT) return -1;
    return t->role[role];
}

bool mlxc_tokenizer_is_special(const mlxc_tokenizer *t, int32_t id) {
    if (!t || id < 0 || (size_t)id >= t->n_vocab) return false;
    return is_special_id(t, id);
}
