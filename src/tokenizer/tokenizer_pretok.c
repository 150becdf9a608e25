/*
 * Normalizers (text → text) and pre-tokenizers (text → words), in the
 * Hugging Face tokenizers model: each pre-tokenizer step splits every piece
 * the previous step produced, and a regex split keeps the unmatched gaps as
 * pieces of their own (behaviour "Isolated"), which is also how llama.cpp
 * applies its list of regexes.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"

/* ---- normalizers ------------------------------------------------------------------ */

static mlxc_status put_cp(mlxc_bytes *o, uint32_t cp) {
    char u[4];
    return mlxc_bytes_put(o, u, mlxc_utf8_put(cp, u));
}

static mlxc_status decode_all(const char *s, size_t n, mlxc_cpbuf *cps) {
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += mlxc_utf8_next((const uint8_t *)s + i, n - i, &cp, NULL);
        mlxc_status st = mlxc_cpbuf_push(cps, cp);
        if (st) return st;
    }
    return MLXC_OK;
}

static bool is_cjk(uint32_t c) {
    /* BERT's "Chinese character" blocks, as in the reference implementations */
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static mlxc_status norm_cps(const mlxc_norm_step *s, const char *in, size_t n, mlxc_bytes *o) {
    mlxc_cpbuf a = {0}, b = {0};
    mlxc_status st = decode_all(in, n, &a);
    if (st) goto done;
    switch (s->kind) {
    case MLXC_NORM_BERT:
        for (size_t i = 0; i < a.n && !st; i++) {
            uint32_t c = a.v[i];
            if (s->clean_text) {
                bool tnr = c == '\t' || c == '\n' || c == '\r';
                bool ctl = s->hf_tables ? mlxc_uc_hf_bert_removed(c) : mlxc_uc_is_other(c);
                if (c == 0 || c == MLXC_UC_REPLACEMENT || (!tnr && ctl)) continue;
                if (tnr || mlxc_uc_is_white_space(c)) c = ' ';
            }
            if (s->chinese && is_cjk(c)) {
                if (!(st = mlxc_cpbuf_push(&b, ' ')) && !(st = mlxc_cpbuf_push(&b, c)))
                    st = mlxc_cpbuf_push(&b, ' ');
            } else {
                st = mlxc_cpbuf_push(&b, c);
            }
        }
        if (st) goto done;
        if (s->strip_accents) {
            a.n = 0;
            if ((st = mlxc_uc_nfd_append(b.v, b.n, &a))) goto done;
            b.n = 0;
            for (size_t i = 0; i < a.n && !st; i++)
                if (!(s->hf_tables ? mlxc_uc_hf_bert_mark(a.v[i]) : mlxc_uc_category(a.v[i]) == MLXC_UC_Mn))
                    st = mlxc_cpbuf_push(&b, a.v[i]);
            if (st) goto done;
        }
        for (size_t i = 0; i < b.n && !st; i++) {
            if (!s->lowercase) { st = put_cp(o, b.v[i]); continue; }
            uint32_t l[3];
            size_t k = mlxc_uc_lower(b.v[i], l);
            for (size_t j = 0; j < k && !st; j++) st = put_cp(o, l[j]);
        }
        break;
    case MLXC_NORM_LOWERCASE:
        for (size_t i = 0; i < a.n && !st; i++) {
            uint32_t l[3];
            size_t k = mlxc_uc_lower(a.v[i], l);
            for (size_t j = 0; j < k && !st; j++) st = put_cp(o, l[j]);
        }
        break;
    case MLXC_NORM_NFD:
    case MLXC_NORM_NFC:
        if ((st = mlxc_uc_nfd_append(a.v, a.n, &b))) goto done;
        if (s->kind == MLXC_NORM_NFC) mlxc_uc_compose(&b);
        for (size_t i = 0; i < b.n && !st; i++) st = put_cp(o, b.v[i]);
        break;
    case MLXC_NORM_STRIP_ACCENTS:
        for (size_t i = 0; i < a.n && !st; i++)
            if (mlxc_uc_category(a.v[i]) != MLXC_UC_Mn) st = put_cp(o, a.v[i]);
        break;
    case MLXC_NORM_STRIP: {
        size_t lo = 0, hi = a.n;
        if (s->left) while (lo < hi && mlxc_uc_is_white_space(a.v[lo])) lo++;
        if (s->right) while (hi > lo && mlxc_uc_is_white_space(a.v[hi - 1])) hi--;
        for (size_t i = lo; i < hi && !st; i++) st = put_cp(o, a.v[i]);
        break;
    }
    default:
        st = mlxc_set_error(MLXC_ERR_INTERNAL, "tokenizer: bad normalizer");
    }
done:
    mlxc_cpbuf_free(&a);
    mlxc_cpbuf_free(&b);
    return st;
}

static mlxc_status norm_step(const mlxc_norm_step *s, const char *in, size_t n, mlxc_bytes *o) {
    mlxc_status st = MLXC_OK;
    switch (s->kind) {
    case MLXC_NORM_REPLACE:
        for (size_t i = 0; i < n && !st;) {
            if (s->alen && i + s->alen <= n && memcmp(in + i, s->a, s->alen) == 0) {
                st = mlxc_bytes_put(o, s->b, s->blen);
                i += s->alen;
            } else {
                st = mlxc_bytes_put(o, in + i, 1);
                i++;
            }
        }
        return st;
    case MLXC_NORM_PREPEND:
        if (n && (st = mlxc_bytes_put(o, s->a, s->alen))) return st;
        return mlxc_bytes_put(o, in, n);
    case MLXC_NORM_LOWERCASE: {
        /* ASCII text needs no decoding */
        size_t i = 0;
        while (i < n && (uint8_t)in[i] < 0x80) i++;
        if (i == n) {
            if ((st = mlxc_bytes_put(o, in, n))) return st;
            for (size_t k = o->n - n; k < o->n; k++)
                if (o->v[k] >= 'A' && o->v[k] <= 'Z') o->v[k] = (char)(o->v[k] + 32);
            return MLXC_OK;
        }
        return norm_cps(s, in, n, o);
    }
    default:
        return norm_cps(s, in, n, o);
    }
}

mlxc_status mlxc_tok_normalize(const mlxc_tokenizer *t, const char *s, size_t n, bool first, mlxc_bytes *out) {
    (void)first;
    out->n = 0;
    mlxc_status st = mlxc_bytes_put(out, s, n);
    if (st || !t->n_norm) return st;
    mlxc_bytes tmp = {0};
    for (size_t i = 0; i < t->n_norm && !st; i++) {
        tmp.n = 0;
        if ((st = mlxc_bytes_put(&tmp, "", 0))) break;
        if ((st = norm_step(&t->norm[i], out->v, out->n, &tmp))) break;
        mlxc_bytes x = *out;
        *out = tmp;
        tmp = x;
    }
    free(tmp.v);
    return st;
}

/* ---- pre-tokenizers ------------------------------------------------------------------- */

typedef struct piece { size_t a, b; bool m; } piece;
typedef struct pieces { piece *v; size_t n, cap; } pieces;

static mlxc_status pieces_push(pieces *p, size_t a, size_t b, bool m) {
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 64;
        piece *nv = realloc(p->v, nc * sizeof *nv);
        if (!nv) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        p->v = nv;
        p->cap = nc;
    }
    p->v[p->n++] = (piece){ a, b, m };
    return MLXC_OK;
}

/* Turn alternating match / gap pieces of [a, b) into output spans. */
static mlxc_status apply_behavior(pieces *p, mlxc_split_behavior beh, bool invert, mlxc_spans *out) {
    if (invert)
        for (size_t i = 0; i < p->n; i++) p->v[i].m = !p->v[i].m;
    mlxc_status st = MLXC_OK;
    switch (beh) {
    case MLXC_SPLIT_ISOLATED:
        for (size_t i = 0; i < p->n && !st; i++) st = mlxc_spans_push(out, p->v[i].a, p->v[i].b - p->v[i].a);
        break;
    case MLXC_SPLIT_REMOVED:
        for (size_t i = 0; i < p->n && !st; i++)
            if (!p->v[i].m) st = mlxc_spans_push(out, p->v[i].a, p->v[i].b - p->v[i].a);
        break;
    case MLXC_SPLIT_MERGED_PREV: {
        size_t start = out->n;
        bool prev = false;
        for (size_t i = 0; i < p->n && !st; i++) {
            if (p->v[i].m && !prev && out->n > start) out->v[out->n - 1].len = p->v[i].b - out->v[out->n - 1].off;
            else st = mlxc_spans_push(out, p->v[i].a, p->v[i].b - p->v[i].a);
            prev = p->v[i].m;
        }
        break;
    }
    case MLXC_SPLIT_MERGED_NEXT: {
        /* walk backwards, attaching a match to the piece after it */
        mlxc_spans tmp = {0};
        bool prev = false;
        for (size_t i = p->n; i-- > 0 && !st;) {
            if (p->v[i].m && !prev && tmp.n) {
                mlxc_span *l = &tmp.v[tmp.n - 1];
                l->len = l->off + l->len - p->v[i].a;
                l->off = p->v[i].a;
            } else {
                st = mlxc_spans_push(&tmp, p->v[i].a, p->v[i].b - p->v[i].a);
            }
            prev = p->v[i].m;
        }
        for (size_t i = tmp.n; i-- > 0 && !st;) st = mlxc_spans_push(out, tmp.v[i].off, tmp.v[i].len);
        free(tmp.v);
        break;
    }
    case MLXC_SPLIT_CONTIGUOUS: {
        size_t start = out->n;
        bool prev = false;
        for (size_t i = 0; i < p->n && !st; i++) {
            if (p->v[i].m == prev && out->n > start) out->v[out->n - 1].len = p->v[i].b - out->v[out->n - 1].off;
            else st = mlxc_spans_push(out, p->v[i].a, p->v[i].b - p->v[i].a);
            prev = p->v[i].m;
        }
        break;
    }
    }
    return st;
}

static mlxc_status split_regex(const mlxc_pre_step *s, const char *text, mlxc_span sp, pcre2_match_data *md,
                               pieces *p) {
    const char *subj = text + sp.off;
    size_t n = sp.len, pos = 0, prev = 0;
    mlxc_status st = MLXC_OK;
    while (pos <= n) {
        int rc;
        if (s->jit) rc = pcre2_jit_match(s->re, (PCRE2_SPTR)subj, n, pos, 0, md, NULL);
        else rc = pcre2_match(s->re, (PCRE2_SPTR)subj, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match(s->re, (PCRE2_SPTR)subj, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "tokenizer: regex match failed: %s", (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (ms > n || me > n || me < ms) break;
        if (me == ms) {
            /* an empty match splits nothing: step over one character */
            if (ms >= n) break;
            pos = ms + 1;
            while (pos < n && ((uint8_t)subj[pos] & 0xC0) == 0x80) pos++;
            continue;
        }
        if (ms > prev && (st = pieces_push(p, sp.off + prev, sp.off + ms, false))) return st;
        if ((st = pieces_push(p, sp.off + ms, sp.off + me, true))) return st;
        prev = pos = me;
    }
    if (prev < n) st = pieces_push(p, sp.off + prev, sp.off + n, false);
    return st;
}

static mlxc_status split_bert(const char *text, mlxc_span sp, bool hf, mlxc_spans *out) {
    size_t i = sp.off, end = sp.off + sp.len, word = i;
    mlxc_status st = MLXC_OK;
    while (i < end && !st) {
        uint32_t cp;
        size_t k = mlxc_utf8_next((const uint8_t *)text + i, end - i, &cp, NULL);
        bool ws = cp == '\t' || cp == '\n' || cp == '\r' || mlxc_uc_is_white_space(cp);
        bool pu = (cp < 0x80 && ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) ||
                                 (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))) ||
                  (hf ? mlxc_uc_hf_bert_punct(cp) : mlxc_uc_is_punct(cp));
        if (ws || pu) {
            if (i > word) st = mlxc_spans_push(out, word, i - word);
            if (!st && pu) st = mlxc_spans_push(out, i, k);
            word = i + k;
        }
        i += k;
    }
    if (!st && end > word) st = mlxc_spans_push(out, word, end - word);
    return st;
}

/* Steps that rewrite the text (Metaspace, ByteLevel's prefix space). */
static mlxc_status rewrite_step(const mlxc_pre_step *s, mlxc_bytes *text, bool first, mlxc_spans *cur,
                                mlxc_spans *next) {
    mlxc_bytes nt = {0};
    mlxc_status st = mlxc_bytes_put(&nt, "", 0);
    for (size_t i = 0; i < cur->n && !st; i++) {
        const char *w = text->v + cur->v[i].off;
        size_t n = cur->v[i].len, start = nt.n;
        if (s->kind == MLXC_PRE_BYTELEVEL_PREFIX) {
            if (!(n && w[0] == ' ')) st = mlxc_bytes_put(&nt, " ", 1);
            if (!st) st = mlxc_bytes_put(&nt, w, n);
            if (!st) st = mlxc_spans_push(next, start, nt.n - start);
            continue;
        }
        /* METASPACE: ' ' → replacement, optional prepend, split before each
         * replacement (merged with the next piece) */
        bool starts = n >= s->lit_len && memcmp(w, s->lit, s->lit_len) == 0;
        if (!starts && n && w[0] == ' ') starts = true;
        bool pre = !starts && (s->prepend == 2 || (s->prepend == 1 && first && i == 0 && cur->v[i].off == 0));
        if (pre) st = mlxc_bytes_put(&nt, s->lit, s->lit_len);
        for (size_t k = 0; k < n && !st; k++)
            st = w[k] == ' ' ? mlxc_bytes_put(&nt, s->lit, s->lit_len) : mlxc_bytes_put(&nt, w + k, 1);
        if (st) break;
        if (!s->split) { st = mlxc_spans_push(next, start, nt.n - start); continue; }
        size_t a = start;
        for (size_t k = start + 1; k + s->lit_len <= nt.n && !st; k++)
            if (memcmp(nt.v + k, s->lit, s->lit_len) == 0) {
                st = mlxc_spans_push(next, a, k - a);
                a = k;
            }
        if (!st && nt.n > a) st = mlxc_spans_push(next, a, nt.n - a);
    }
    if (st) { free(nt.v); return st; }
    free(text->v);
    *text = nt;
    return MLXC_OK;
}

mlxc_status mlxc_tok_pretokenize(const mlxc_tokenizer *t, mlxc_bytes *text, bool first, mlxc_spans *words) {
    words->n = 0;
    mlxc_status st = mlxc_spans_push(words, 0, text->n);
    if (st || !t->n_pre) return st;
    mlxc_spans next = {0};
    pieces p = {0};
    pcre2_match_data *md = NULL;
    for (size_t k = 0; k < t->n_pre && !st; k++) {
        const mlxc_pre_step *s = &t->pre[k];
        next.n = 0;
        if (s->kind == MLXC_PRE_METASPACE || s->kind == MLXC_PRE_BYTELEVEL_PREFIX) {
            st = rewrite_step(s, text, first, words, &next);
        } else if (s->kind == MLXC_PRE_BERT) {
            for (size_t i = 0; i < words->n && !st; i++) st = split_bert(text->v, words->v[i], s->hf_tables, &next);
        } else if (s->kind == MLXC_PRE_REGEX) {
            if (!md && !(md = pcre2_match_data_create(4, NULL))) {
                st = mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
                break;
            }
            for (size_t i = 0; i < words->n && !st; i++) {
                if (!words->v[i].len) continue;
                p.n = 0;
                if (!(st = split_regex(s, text->v, words->v[i], md, &p)))
                    st = apply_behavior(&p, s->behavior, s->invert, &next);
            }
        } else if (s->kind == MLXC_PRE_LITERAL) {
            for (size_t i = 0; i < words->n && !st; i++) {
                const char *w = text->v + words->v[i].off;
                size_t n = words->v[i].len, prev = 0;
                p.n = 0;
                for (size_t j = 0; s->lit_len && j + s->lit_len <= n && !st;) {
                    if (memcmp(w + j, s->lit, s->lit_len) == 0) {
                        if (j > prev) st = pieces_push(&p, words->v[i].off + prev, words->v[i].off + j, false);
                        if (!st) st = pieces_push(&p, words->v[i].off + j, words->v[i].off + j + s->lit_len, true);
                        j += s->lit_len;
                        prev = j;
                    } else {
                        j++;
                    }
                }
                if (!st && prev < n) st = pieces_push(&p, words->v[i].off + prev, words->v[i].off + n, false);
                if (!st) st = apply_behavior(&p, s->behavior, s->invert, &next);
            }
        } else {
            st = mlxc_set_error(MLXC_ERR_INTERNAL, "tokenizer: bad pre-tokenizer step");
        }
        mlxc_spans x = *words;
        *words = next;
        next = x;
    }
    free(next.v);
    free(p.v);
    if (md) pcre2_match_data_free(md);
    return st;
}
