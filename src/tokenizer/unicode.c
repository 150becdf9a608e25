/*
 * UTF-8 and Unicode property helpers for the tokenizers (see unicode.h).
 * Lookups are binary searches over the generated tables.
 */
#include "tokenizer/unicode.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

size_t mlxc_utf8_next(const uint8_t *s, size_t n, uint32_t *cp, bool *valid) {
    uint8_t b0 = s[0];
    if (valid) *valid = true;
    if (b0 < 0x80) { *cp = b0; return 1; }
    size_t need;
    uint32_t v;
    uint8_t lo = 0x80, hi = 0xBF;   /* allowed range of the second byte */
    if (b0 >= 0xC2 && b0 <= 0xDF)      { need = 1; v = b0 & 0x1F; }
    else if (b0 >= 0xE0 && b0 <= 0xEF) { need = 2; v = b0 & 0x0F;
        if (b0 == 0xE0) lo = 0xA0;          /* no overlongs   */
        if (b0 == 0xED) hi = 0x9F; }        /* no surrogates  */
    else if (b0 >= 0xF0 && b0 <= 0xF4) { need = 3; v = b0 & 0x07;
        if (b0 == 0xF0) lo = 0x90;          /* no overlongs   */
        if (b0 == 0xF4) hi = 0x8F; }        /* <= U+10FFFF    */
    else { *cp = MLXC_UC_REPLACEMENT; if (valid) *valid = false; return 1; }
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= n) break;
        uint8_t b = s[i];
        uint8_t l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (b < l || b > h) break;
        v = (v << 6) | (b & 0x3F);
    }
    if (i <= need) {   /* truncated or broken: replace the maximal subpart */
        *cp = MLXC_UC_REPLACEMENT;
        if (valid) *valid = false;
        return i;
    }
    *cp = v;
    return need + 1;
}

size_t mlxc_utf8_put(uint32_t cp, char out[4]) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t mlxc_utf8_valid_prefix(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        uint32_t cp; bool ok;
        size_t k = mlxc_utf8_next(s + i, n - i, &cp, &ok);
        if (!ok) return i;
        i += k;
    }
    return n;
}

mlxc_status mlxc_utf8_sanitize(const char *s, size_t n, char **out, size_t *out_len) {
    const uint8_t *u = (const uint8_t *)s;
    /* Worst case: every byte becomes three. */
    if (n > (SIZE_MAX - 1) / 3)
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "tokenizer: text too large");
    char *o = malloc(n * 3 + 1);
    if (!o) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    size_t i = 0, j = 0;
    while (i < n) {
        if (u[i] < 0x80) { o[j++] = (char)u[i++]; continue; }
        uint32_t cp; bool ok;
        size_t k = mlxc_utf8_next(u + i, n - i, &cp, &ok);
        if (ok) memcpy(o + j, s + i, k), j += k;
        else j += mlxc_utf8_put(MLXC_UC_REPLACEMENT, o + j);
        i += k;
    }
    o[j] = 0;
    *out = o;
    *out_len = j;
    return MLXC_OK;
}

static const mlxc_ucd_range *range_find(const mlxc_ucd_range *t, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < t[mid].first) hi = mid;
        else if (cp > t[mid].last) lo = mid + 1;
        else return &t[mid];
    }
    return NULL;
}

static const mlxc_ucd_map *map_find(const mlxc_ucd_map *t, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < t[mid].cp) hi = mid;
        else if (cp > t[mid].cp) lo = mid + 1;
        else return &t[mid];
    }
    return NULL;
}

int mlxc_uc_category(uint32_t cp) {
    /* ASCII fast path keeps the hot loops of WordPiece cheap. */
    const mlxc_ucd_range *r = range_find(mlxc_ucd_category, mlxc_ucd_category_count, cp);
    return r ? (int)r->value : MLXC_UC_Cn;
}

bool mlxc_uc_is_white_space(uint32_t cp) {
    switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

bool mlxc_uc_is_letter(uint32_t cp) { int c = mlxc_uc_category(cp); return c >= MLXC_UC_Lu && c <= MLXC_UC_Lo; }
bool mlxc_uc_is_number(uint32_t cp) { int c = mlxc_uc_category(cp); return c >= MLXC_UC_Nd && c <= MLXC_UC_No; }
bool mlxc_uc_is_punct(uint32_t cp)  { int c = mlxc_uc_category(cp); return c >= MLXC_UC_Pc && c <= MLXC_UC_Po; }
bool mlxc_uc_is_symbol(uint32_t cp) { int c = mlxc_uc_category(cp); return c >= MLXC_UC_Sm && c <= MLXC_UC_So; }
bool mlxc_uc_is_mark(uint32_t cp)   { int c = mlxc_uc_category(cp); return c >= MLXC_UC_Mn && c <= MLXC_UC_Me; }
bool mlxc_uc_is_other(uint32_t cp)  { int c = mlxc_uc_category(cp); return c == MLXC_UC_Cn || c >= MLXC_UC_Cc; }

bool mlxc_uc_hf_bert_removed(uint32_t cp) {
    return range_find(mlxc_ucd_bert_removed, mlxc_ucd_bert_removed_count, cp) != NULL;
}
bool mlxc_uc_hf_bert_mark(uint32_t cp) {
    return cp >= 0x300 && range_find(mlxc_ucd_bert_marks, mlxc_ucd_bert_marks_count, cp) != NULL;
}
bool mlxc_uc_hf_bert_punct(uint32_t cp) {
    return range_find(mlxc_ucd_bert_punct, mlxc_ucd_bert_punct_count, cp) != NULL;
}

int mlxc_uc_ccc(uint32_t cp) {
    if (cp < 0x300) return 0;
    const mlxc_ucd_range *r = range_find(mlxc_ucd_ccc, mlxc_ucd_ccc_count, cp);
    return r ? (int)r->value : 0;
}

size_t mlxc_uc_lower(uint32_t cp, uint32_t out[3]) {
    if (cp < 0x80) { out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp; return 1; }
    const mlxc_ucd_map *m = map_find(mlxc_ucd_lower, mlxc_ucd_lower_count, cp);
    if (!m || m->n > 3) { out[0] = cp; return 1; }
    for (uint32_t i = 0; i < m->n; i++) out[i] = mlxc_ucd_lower_cps[m->off + i];
    return m->n;
}

#define HANGUL_S0 0xAC00u
#define HANGUL_L0 0x1100u
#define HANGUL_V0 0x1161u
#define HANGUL_T0 0x11A7u
#define HANGUL_LN 19u
#define HANGUL_VN 21u
#define HANGUL_TN 28u
#define HANGUL_SN (HANGUL_LN * HANGUL_VN * HANGUL_TN)

size_t mlxc_uc_nfd(uint32_t cp, uint32_t out[4]) {
    if (cp < 0xC0) { out[0] = cp; return 1; }
    if (cp >= HANGUL_S0 && cp < HANGUL_S0 + HANGUL_SN) {
        uint32_t s = cp - HANGUL_S0;
        out[0] = HANGUL_L0 + s / (HANGUL_VN * HANGUL_TN);
        out[1] = HANGUL_V0 + (s % (HANGUL_VN * HANGUL_TN)) / HANGUL_TN;
        if (s % HANGUL_TN) { out[2] = HANGUL_T0 + s % HANGUL_TN; return 3; }
        return 2;
    }
    const mlxc_ucd_map *m = map_find(mlxc_ucd_nfd, mlxc_ucd_nfd_count, cp);
    if (!m || m->n > 4) { out[0] = cp; return 1; }
    for (uint32_t i = 0; i < m->n; i++) out[i] = mlxc_ucd_nfd_cps[m->off + i];
    return m->n;
}

mlxc_status mlxc_cpbuf_push(mlxc_cpbuf *b, uint32_t cp) {
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        uint32_t *nv = realloc(b->v, nc * sizeof *nv);
        if (!nv) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        b->v = nv;
        b->cap = nc;
    }
    b->v[b->n++] = cp;
    return MLXC_OK;
}

void mlxc_cpbuf_free(mlxc_cpbuf *b) {
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
}

void mlxc_uc_canonical_order(uint32_t *v, size_t n) {
    /* Insertion sort of each run of non-starters by combining class; runs
     * are short, and the sort must be stable. */
    for (size_t i = 1; i < n; i++) {
        int ci = mlxc_uc_ccc(v[i]);
        if (ci == 0) continue;
        uint32_t x = v[i];
        size_t j = i;
        while (j > 0) {
            int cj = mlxc_uc_ccc(v[j - 1]);
            if (cj == 0 || cj <= ci) break;
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

mlxc_status mlxc_uc_nfd_append(const uint32_t *cps, size_t n, mlxc_cpbuf *out) {
    size_t start = out->n;
    for (size_t i = 0; i < n; i++) {
        uint32_t d[4];
        size_t k = mlxc_uc_nfd(cps[i], d);
        for (size_t j = 0; j < k; j++) {
            mlxc_status st = mlxc_cpbuf_push(out, d[j]);
            if (st) return st;
        }
    }
    mlxc_uc_canonical_order(out->v + start, out->n - start);
    return MLXC_OK;
}

static uint32_t compose_pair(uint32_t a, uint32_t b) {
    if (a >= HANGUL_L0 && a < HANGUL_L0 + HANGUL_LN && b >= HANGUL_V0 && b < HANGUL_V0 + HANGUL_VN)
        return HANGUL_S0 + ((a - HANGUL_L0) * HANGUL_VN + (b - HANGUL_V0)) * HANGUL_TN;
    if (a >= HANGUL_S0 && a < HANGUL_S0 + HANGUL_SN && (a - HANGUL_S0) % HANGUL_TN == 0 &&
        b > HANGUL_T0 && b < HANGUL_T0 + HANGUL_TN)
        return a + (b - HANGUL_T0);
    size_t lo = 0, hi = mlxc_ucd_compose_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const mlxc_ucd_pair *p = &mlxc_ucd_compose[mid];
        if (a < p->a || (a == p->a && b < p->b)) hi = mid;
        else if (a > p->a || b > p->b) lo = mid + 1;
        else return p->c;
    }
    return 0;
}

void mlxc_uc_compose(mlxc_cpbuf *b) {
    if (b->n == 0) return;
    size_t starter = 0, out = 1;
    int last_ccc = mlxc_uc_ccc(b->v[0]) == 0 ? 0 : 256;
    if (last_ccc) starter = SIZE_MAX;
    for (size_t i = 1; i < b->n; i++) {
        uint32_t c = b->v[i];
        int cc = mlxc_uc_ccc(c);
        if (starter != SIZE_MAX && (last_ccc < cc || (last_ccc == 0 && out == starter + 1))) {
            uint32_t comp = compose_pair(b->v[starter], c);
            if (comp) { b->v[starter] = comp; continue; }
        }
        if (cc == 0) { starter = out; last_ccc = 0; }
        else last_ccc = cc;
        b->v[out++] = c;
    }
    b->n = out;
}
