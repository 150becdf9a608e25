/*
 * The per-word models: BPE merging by rank (byte-level and tokenizer.json
 * BPE), BPE merging by score (llama.cpp's SentencePiece), and WordPiece.
 *
 * Both BPE flavours keep the word's symbols in a doubly linked list and the
 * candidate pairs in a binary heap ordered by (priority, left position), so
 * a word of n characters costs O(n log n), never O(n^2).  A stale heap entry
 * (one of its symbols has merged since) is recognised by the symbols' ids
 * or lengths no longer matching, and dropped when popped.  Words already
 * seen in the same call come from a small cache.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"

bool mlxc_tok_find_merge(const mlxc_tokenizer *t, int32_t a, int32_t b, uint32_t *rank, int32_t *res);

#define OOM() mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "tokenizer: out of memory")

typedef struct sym {
    int32_t id;          /* string id (token, virtual merge part) or -1    */
    int32_t prev, next;  /* -1 at the ends                                  */
    size_t  off, len;    /* bytes of the (mapped) word                      */
} sym;

typedef struct cand {
    double  pri;         /* lower merges first                              */
    int32_t left, right;
    int32_t lid, rid;    /* ids the symbols had when queued (rank merges)   */
    size_t  size;        /* combined length when queued (score merges)      */
    int32_t res;
} cand;

#define CACHE_MAX_WORD 256
#define CACHE_SLOTS    (1u << 15)

struct mlxc_tok_work {
    sym   *syms;  size_t nsyms, capsyms;
    cand  *heap;  size_t nheap, capheap;
    mlxc_bytes mapped;
    /* word cache: open addressing over (word bytes → ids) */
    uint32_t  *slot_key;     /* offset+1 into keys, 0 = empty                   */
    uint32_t  *slot_klen, *slot_ids, *slot_nids;
    mlxc_bytes keys;
    mlxc_ids   cids;
    size_t     ncached;
};

mlxc_status mlxc_tok_work_create(mlxc_tok_work **out) {
    mlxc_tok_work *w = calloc(1, sizeof *w);
    if (!w) return OOM();
    *out = w;
    return MLXC_OK;
}

void mlxc_tok_work_free(mlxc_tok_work *w) {
    if (!w) return;
    free(w->syms); free(w->heap); free(w->mapped.v);
    free(w->slot_key); free(w->slot_klen); free(w->slot_ids); free(w->slot_nids);
    free(w->keys.v); free(w->cids.v);
    free(w);
}

/* ---- heap ------------------------------------------------------------------------- */

static bool cand_less(const cand *a, const cand *b) {
    if (a->pri != b->pri) return a->pri < b->pri;
    return a->left < b->left;
}

static mlxc_status heap_push(mlxc_tok_work *w, const cand *c) {
    if (w->nheap == w->capheap) {
        size_t nc = w->capheap ? w->capheap * 2 : 64;
        cand *nh = realloc(w->heap, nc * sizeof *nh);
        if (!nh) return OOM();
        w->heap = nh;
        w->capheap = nc;
    }
    size_t i = w->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(c, &w->heap[p])) break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = *c;
    return MLXC_OK;
}

static cand heap_pop(mlxc_tok_work *w) {
    cand top = w->heap[0];
    cand last = w->heap[--w->nheap];
    size_t i = 0, n = w->nheap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const cand *best = &last;
        if (l < n && cand_less(&w->heap[l], best)) { m = l; best = &w->heap[l]; }
        if (r < n && cand_less(&w->heap[r], best)) { m = r; }
        if (m == i) break;
        w->heap[i] = w->heap[m];
        i = m;
    }
    if (n) w->heap[i] = last;
    return top;
}

static mlxc_status sym_push(mlxc_tok_work *w, int32_t id, size_t off, size_t len) {
    if (w->nsyms == w->capsyms) {
        size_t nc = w->capsyms ? w->capsyms * 2 : 64;
        sym *ns = realloc(w->syms, nc * sizeof *ns);
        if (!ns) return OOM();
        w->syms = ns;
        w->capsyms = nc;
    }
    int32_t i = (int32_t)w->nsyms++;
    w->syms[i] = (sym){ id, i - 1, -1, off, len };
    if (i > 0) w->syms[i - 1].next = i;
    return MLXC_OK;
}

/* ---- word cache -------------------------------------------------------------------- */

static uint32_t whash(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static bool cache_get(mlxc_tok_work *w, const char *s, size_t n, mlxc_ids *out, mlxc_status *st) {
    if (!w->slot_key || n > CACHE_MAX_WORD) return false;
    uint32_t i = whash(s, n) & (CACHE_SLOTS - 1);
    while (w->slot_key[i]) {
        if (w->slot_klen[i] == n && memcmp(w->keys.v + w->slot_key[i] - 1, s, n) == 0) {
            for (uint32_t k = 0; k < w->slot_nids[i] && !*st; k++)
                *st = mlxc_ids_push(out, w->cids.v[w->slot_ids[i] + k]);
            return true;
        }
        i = (i + 1) & (CACHE_SLOTS - 1);
    }
    return false;
}

static void cache_put(mlxc_tok_work *w, const char *s, size_t n, const int32_t *ids, size_t nids) {
    if (n > CACHE_MAX_WORD || w->ncached >= CACHE_SLOTS / 2) return;
    if (w->keys.n + n + 1 > UINT32_MAX || w->cids.n + nids > UINT32_MAX) return;
    if (!w->slot_key) {
        w->slot_key = calloc(CACHE_SLOTS, sizeof(uint32_t));
        w->slot_klen = malloc(CACHE_SLOTS * sizeof(uint32_t));
        w->slot_ids = malloc(CACHE_SLOTS * sizeof(uint32_t));
        w->slot_nids = malloc(CACHE_SLOTS * sizeof(uint32_t));
        if (!w->slot_key || !w->slot_klen || !w->slot_ids || !w->slot_nids) {
            free(w->slot_key); free(w->slot_klen); free(w->slot_ids); free(w->slot_nids);
            w->slot_key = w->slot_klen = w->slot_ids = w->slot_nids = NULL;
            return;   /* the cache is an optimisation only */
        }
    }
    size_t koff = w->keys.n, ioff = w->cids.n;
    if (mlxc_bytes_put(&w->keys, s, n)) return;
    for (size_t k = 0; k < nids; k++)
        if (mlxc_ids_push(&w->cids, ids[k])) return;
    uint32_t i = whash(s, n) & (CACHE_SLOTS - 1);
    while (w->slot_key[i]) i = (i + 1) & (CACHE_SLOTS - 1);
    w->slot_key[i] = (uint32_t)koff + 1;
    w->slot_klen[i] = (uint32_t)n;
    w->slot_ids[i] = (uint32_t)ioff;
    w->slot_nids[i] = (uint32_t)nids;
    w->ncached++;
}

/* ---- BPE by rank ---------------------------------------------------------------------- */

static mlxc_status rank_cand(const mlxc_tokenizer *t, mlxc_tok_work *w, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return MLXC_OK;
    uint32_t rank;
    int32_t res;
    if (!mlxc_tok_find_merge(t, w->syms[l].id, w->syms[r].id, &rank, &res)) return MLXC_OK;
    cand c = { .pri = rank, .left = l, .right = r, .lid = w->syms[l].id, .rid = w->syms[r].id, .res = res };
    return heap_push(w, &c);
}

static mlxc_status emit_unk(const mlxc_tokenizer *t, mlxc_ids *out, bool *prev_unk) {
    int32_t unk = t->role[MLXC_TOKEN_UNK];
    if (unk < 0) return MLXC_OK;
    if (t->fuse_unk && *prev_unk) return MLXC_OK;
    *prev_unk = true;
    return mlxc_ids_push(out, unk);
}

static mlxc_status bpe_rank_word(const mlxc_tokenizer *t, mlxc_tok_work *w, const char *s, size_t n, mlxc_ids *out) {
    mlxc_status st;
    w->nsyms = 0;
    w->nheap = 0;
    /* initial symbols: one per character */
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = mlxc_utf8_next((const uint8_t *)s + i, n - i, &cp, NULL);
        int32_t id = mlxc_tok_lookup(t, s + i, k);
        if ((id < 0 || (size_t)id >= t->n_vocab) && !t->byte_level && t->byte_fallback) {
            bool all = true;
            for (size_t j = 0; j < k; j++) all = all && t->byte_tok[(uint8_t)s[i + j]] >= 0;
            if (all) {
                for (size_t j = 0; j < k; j++)
                    if ((st = sym_push(w, t->byte_tok[(uint8_t)s[i + j]], i + j, 1))) return st;
                i += k;
                continue;
            }
        }
        if ((st = sym_push(w, id, i, k))) return st;
        i += k;
    }
    for (int32_t i = 0; i + 1 < (int32_t)w->nsyms; i++)
        if ((st = rank_cand(t, w, i, i + 1))) return st;
    while (w->nheap) {
        cand c = heap_pop(w);
        sym *L = &w->syms[c.left], *R = &w->syms[c.right];
        if (L->len == 0 || R->len == 0 || L->next != c.right || L->id != c.lid || R->id != c.rid) continue;
        L->len += R->len;
        L->id = c.res;
        R->len = 0;
        L->next = R->next;
        if (R->next >= 0) w->syms[R->next].prev = c.left;
        if ((st = rank_cand(t, w, L->prev, c.left))) return st;
        if ((st = rank_cand(t, w, c.left, L->next))) return st;
    }
    bool prev_unk = false;
    for (int32_t i = 0; i >= 0 && (size_t)i < w->nsyms; i = w->syms[i].next) {
        const sym *y = &w->syms[i];
        if (y->len == 0) continue;
        if (y->id >= 0 && (size_t)y->id < t->n_vocab) {
            prev_unk = false;
            if ((st = mlxc_ids_push(out, y->id))) return st;
            continue;
        }
        if (t->byte_level) {
            /* llama.cpp: a piece that is not a token falls back to its bytes
             * (as one-character tokens) where the vocabulary has them */
            for (size_t j = 0; j < y->len; j++) {
                int32_t id = mlxc_tok_lookup(t, s + y->off + j, 1);
                if (id >= 0 && (size_t)id < t->n_vocab && (st = mlxc_ids_push(out, id))) return st;
            }
            continue;
        }
        if ((st = emit_unk(t, out, &prev_unk))) return st;
    }
    return MLXC_OK;
}

/* ---- BPE by score (llama.cpp SentencePiece) --------------------------------------------- */

static mlxc_status score_cand(const mlxc_tokenizer *t, mlxc_tok_work *w, const char *s, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return MLXC_OK;
    size_t size = w->syms[l].len + w->syms[r].len;
    int32_t id = mlxc_tok_lookup(t, s + w->syms[l].off, size);
    if (id < 0 || (size_t)id >= t->n_vocab) return MLXC_OK;
    cand c = { .pri = -(double)t->scores[id], .left = l, .right = r, .size = size, .res = id };
    return heap_push(w, &c);
}

static mlxc_status bpe_score_word(const mlxc_tokenizer *t, mlxc_tok_work *w, const char *s, size_t n, mlxc_ids *out) {
    mlxc_status st;
    w->nsyms = 0;
    w->nheap = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = mlxc_utf8_next((const uint8_t *)s + i, n - i, &cp, NULL);
        if ((st = sym_push(w, -1, i, k))) return st;
        i += k;
    }
    for (int32_t i = 0; i + 1 < (int32_t)w->nsyms; i++)
        if ((st = score_cand(t, w, s, i, i + 1))) return st;
    while (w->nheap) {
        cand c = heap_pop(w);
        sym *L = &w->syms[c.left], *R = &w->syms[c.right];
        if (L->len == 0 || R->len == 0 || L->next != c.right || L->len + R->len != c.size) continue;
        L->len += R->len;
        R->len = 0;
        L->next = R->next;
        if (R->next >= 0) w->syms[R->next].prev = c.left;
        if ((st = score_cand(t, w, s, L->prev, c.left))) return st;
        if ((st = score_cand(t, w, s, c.left, L->next))) return st;
    }
    for (int32_t i = 0; i >= 0 && (size_t)i < w->nsyms; i = w->syms[i].next) {
        const sym *y = &w->syms[i];
        if (y->len == 0) continue;
        int32_t id = mlxc_tok_lookup(t, s + y->off, y->len);
        if (id >= 0 && (size_t)id < t->n_vocab) {
            if ((st = mlxc_ids_push(out, id))) return st;
            continue;
        }
        /* not a token: its bytes as <0xNN>, else as one-byte tokens, else unk */
        for (size_t j = 0; j < y->len; j++) {
            uint8_t b = (uint8_t)s[y->off + j];
            int32_t bid = t->byte_tok[b];
            if (bid < 0) {
                int32_t f = mlxc_tok_lookup(t, s + y->off + j, 1);
                bid = (f >= 0 && (size_t)f < t->n_vocab) ? f : t->role[MLXC_TOKEN_UNK];
            }
            if (bid >= 0 && (st = mlxc_ids_push(out, bid))) return st;
        }
    }
    return MLXC_OK;
}

/* ---- WordPiece ------------------------------------------------------------------------------ */

static mlxc_status wordpiece_word(const mlxc_tokenizer *t, mlxc_tok_work *w, const char *s, size_t n, mlxc_ids *out) {
    int32_t unk = t->role[MLXC_TOKEN_UNK];
    if (t->wp_max_chars) {
        size_t chars = 0;
        for (size_t i = 0; i < n; i++) chars += ((uint8_t)s[i] & 0xC0) != 0x80;
        if (chars > t->wp_max_chars) return unk >= 0 ? mlxc_ids_push(out, unk) : MLXC_OK;
    }
    size_t mark = out->n;
    mlxc_bytes *buf = &w->mapped;
    mlxc_status st;
    for (size_t i = 0; i < n;) {
        const char *pre = i == 0 ? t->wp_start : t->wp_cont;
        size_t pl = i == 0 ? t->wp_start_len : t->wp_cont_len;
        size_t maxlen = t->max_token_len > pl ? t->max_token_len - pl : 0;
        size_t j = n - i > maxlen ? i + maxlen : n;
        int32_t found = -1;
        /* longest candidate first, ending only on character boundaries */
        for (; j > i; j--) {
            if (j < n && ((uint8_t)s[j] & 0xC0) == 0x80) continue;
            buf->n = 0;
            if ((st = mlxc_bytes_put(buf, pre, pl)) || (st = mlxc_bytes_put(buf, s + i, j - i))) return st;
            int32_t id = mlxc_tok_lookup(t, buf->v, buf->n);
            if (id >= 0 && (size_t)id < t->n_vocab) { found = id; break; }
        }
        if (found < 0) {
            out->n = mark;
            return unk >= 0 ? mlxc_ids_push(out, unk) : MLXC_OK;
        }
        if ((st = mlxc_ids_push(out, found))) return st;
        i = j;
    }
    return MLXC_OK;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

mlxc_status mlxc_tok_model_word(const mlxc_tokenizer *t, mlxc_tok_work *w, const char *s, size_t n, mlxc_ids *out) {
    mlxc_status st = MLXC_OK;
    if (t->score_merges && !t->spm_split_ok) return bpe_score_word(t, w, s, n, out);
    if (cache_get(w, s, n, out, &st)) return st;
    size_t mark = out->n;
    if (t->score_merges) {
        st = bpe_score_word(t, w, s, n, out);
    } else if (t->kind == MLXC_TOKENIZER_WORDPIECE) {
        st = wordpiece_word(t, w, s, n, out);
    } else {
        const char *word = s;
        size_t wn = n;
        if (t->byte_level) {
            w->mapped.n = 0;
            for (size_t i = 0; i < n && !st; i++) {
                uint8_t b = (uint8_t)s[i];
                st = mlxc_bytes_put(&w->mapped, t->bl_utf8[b], t->bl_len[b]);
            }
            if (st) return st;
            word = w->mapped.v;
            wn = w->mapped.n;
        }
        int32_t whole;
        if (t->ignore_merges && (whole = mlxc_tok_lookup(t, word, wn)) >= 0 && (size_t)whole < t->n_vocab) {
            st = mlxc_ids_push(out, whole);
        } else if (word == w->mapped.v) {
            /* bpe_rank_word reuses no buffer of its own, but keep the mapped
             * word stable while it runs */
            mlxc_bytes tmp = w->mapped;
            w->mapped = (mlxc_bytes){0};
            st = bpe_rank_word(t, w, tmp.v, tmp.n, out);
            free(w->mapped.v);
            w->mapped = tmp;
        } else {
            st = bpe_rank_word(t, w, word, wn, out);
        }
    }
    if (!st) cache_put(w, s, n, out->v + mark, out->n - mark);
    return st;
}
