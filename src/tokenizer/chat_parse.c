/*
 * Chat templates, part one: from template text to a parse tree.
 *
 * The text is split into text, {{ expression }}, {% statement %} and
 * {# comment #} pieces, with whitespace handled as Jinja does under the
 * settings Hugging Face renders chat templates with: newlines normalised,
 * one trailing newline dropped, `-` strips all whitespace on its side,
 * trim_blocks drops the newline after a statement or comment tag and
 * lstrip_blocks the spaces and tabs before one on its line (`+` keeps them).
 * Statements and expressions are then parsed by recursive descent with
 * Jinja's precedence (or < and < not < comparisons < + - < ~ < * / // % <
 * ** < unary < postfix, filters and tests binding to the primary).  Depth
 * is bounded so that no input recurses without limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/chat_internal.h"

/* ---- arena ---------------------------------------------------------------------- */

struct chat_block {
    chat_block *next;
    size_t      used, cap;
    _Alignas(16) unsigned char data[];
};

void *chat_alloc(chat_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (a->limit && (a->total + n > a->limit || n > a->limit)) {
        a->over = true;
        return NULL;
    }
    chat_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    a->total += n;
    memset(p, 0, n);
    return p;
}

void chat_arena_free(chat_arena *a) {
    chat_block *b = a->head;
    while (b) {
        chat_block *nx = b->next;
        free(b);
        b = nx;
    }
    a->head = NULL;
    a->total = 0;
}

chat_value chat_str(chat_arena *a, const char *s, size_t n) {
    chat_value v = {.kind = CV_UNDEF};
    char *p = chat_alloc(a, n + 1);
    if (!p) return v;
    if (n) memcpy(p, s, n);
    v.kind = CV_STR;
    v.u.str.s = p;
    v.u.str.n = n;
    return v;
}

bool chat_list_push(chat_arena *a, chat_list *l, chat_value v) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        chat_value *nv = chat_alloc(a, cap * sizeof *nv);
        if (!nv) return false;
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return true;
}

const chat_value *chat_dict_get(const chat_dict *d, const char *k, size_t n) {
    for (size_t i = 0; d && i < d->n; i++)
        if (d->k[i].u.str.n == n && memcmp(d->k[i].u.str.s, k, n) == 0) return &d->v[i];
    return NULL;
}

bool chat_dict_set(chat_arena *a, chat_dict *d, chat_value key, chat_value v) {
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].u.str.n == key.u.str.n && memcmp(d->k[i].u.str.s, key.u.str.s, key.u.str.n) == 0) {
            d->v[i] = v;
            return true;
        }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        chat_value *nk = chat_alloc(a, cap * sizeof *nk), *nv = chat_alloc(a, cap * sizeof *nv);
        if (!nk || !nv) return false;
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof *nk);
            memcpy(nv, d->v, d->n * sizeof *nv);
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = key;
    d->v[d->n++] = v;
    return true;
}

/* ---- pieces of the template ------------------------------------------------------------ */

enum { PC_TEXT, PC_VAR, PC_BLOCK, PC_COMMENT };

typedef struct piece {
    int         kind;
    const char *s;          /* text, or the inside of the tag                 */
    size_t      n;
    int         line;
} piece;

typedef struct parser {
    mlxc_chat_template *t;
    chat_arena *ar;
    piece      *pc;
    size_t      npc, ipc;
    /* the tag being parsed */
    const char *p, *end;
    int         line;
    int         depth;
    mlxc_status err;
} parser;

static mlxc_status perr(parser *P, mlxc_status st, const char *fmt, const char *what, size_t n) {
    if (P->err) return P->err;
    char buf[96];
    size_t k = n < sizeof buf - 1 ? n : sizeof buf - 1;
    if (what) memcpy(buf, what, k);
    buf[what ? k : 0] = 0;
    P->err = mlxc_set_error(st, "chat template, line %d: %s%s%s%s", P->line, fmt, what ? " '" : "", buf,
                            what ? "'" : "");
    return P->err;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Where the tag opened at s (after "{{" or "{%") ends: the offset of the
 * final '}' of its closing "}}" / "%}", skipping strings and what brackets
 * enclose (as Jinja's lexer balances them); 0 when it never closes. */
static size_t tag_end(const char *s, size_t n, char close) {
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\'' || c == '"') {
            for (i++; i < n && s[i] != c; i++)
                if (s[i] == '\\') i++;
            continue;
        }
        if (c == '(' || c == '[' || c == '{') {
            depth++;
            continue;
        }
        if ((c == ')' || c == ']' || c == '}') && depth > 0) {
            depth--;
            continue;
        }
        if (depth == 0 && c == close && i + 1 < n && s[i + 1] == '}') return i + 1;
    }
    return 0;
}

static bool push_piece(parser *P, size_t *cap, piece pc) {
    if (P->npc == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        piece *np = chat_alloc(P->ar, c * sizeof *np);
        if (!np) return false;
        if (P->npc) memcpy(np, P->pc, P->npc * sizeof *np);
        P->pc = np;
        *cap = c;
    }
    P->pc[P->npc++] = pc;
    return true;
}

static int count_lines(const char *s, size_t n) {
    int k = 0;
    for (size_t i = 0; i < n; i++) k += s[i] == '\n';
    return k;
}

/* Split src into pieces, applying the whitespace rules. */
static mlxc_status split(parser *P, const char *src, size_t len) {
    size_t cap = 0, i = 0;
    int line = 1;
    bool line_starting = true;  /* the previous tag swallowed a newline (or none yet) */
    bool strip_next = false;    /* the previous tag ended with '-'                    */
    while (i <= len) {
        /* next tag */
        size_t j = i;
        while (j + 1 < len && !(src[j] == '{' && (src[j + 1] == '{' || src[j + 1] == '%' || src[j + 1] == '#'))) j++;
        if (j + 1 >= len) j = len;
        const char *ts = src + i;
        size_t tn = j - i;
        int tkind = j < len ? (src[j + 1] == '{' ? PC_VAR : src[j + 1] == '%' ? PC_BLOCK : PC_COMMENT) : -1;
        char om = j < len && j + 2 < len ? src[j + 2] : 0;   /* '-' / '+' after the opener */
        if (strip_next)
            while (tn && is_ws(*ts)) ts++, tn--;
        if (tkind >= 0 && om == '-') {
            while (tn && is_ws(ts[tn - 1])) tn--;
        } else if ((tkind == PC_BLOCK || tkind == PC_COMMENT) && om != '+') {
            size_t l = tn;
            while (l && (ts[l - 1] == ' ' || ts[l - 1] == '\t')) l--;
            if ((l > 0 && ts[l - 1] == '\n') || (l == 0 && line_starting)) tn = l;
        }
        if (tn) {
            piece pc = {PC_TEXT, ts, tn, line};
            if (!push_piece(P, &cap, pc)) return perr(P, MLXC_ERR_OUT_OF_MEMORY, "out of memory", NULL, 0);
        }
        line += count_lines(src + i, j - i);
        if (tkind < 0) break;
        /* the tag */
        size_t body = j + 2, e;
        P->line = line;
        if (tkind == PC_COMMENT) {
            e = body;
            while (e + 1 < len && !(src[e] == '#' && src[e + 1] == '}')) e++;
            if (e + 1 >= len) return perr(P, MLXC_ERR_FORMAT, "unclosed comment", NULL, 0);
            e++;   /* at '}' */
        } else {
            size_t k = tag_end(src + body, len - body, tkind == PC_VAR ? '}' : '%');
            if (!k) return perr(P, MLXC_ERR_FORMAT, tkind == PC_VAR ? "unclosed {{" : "unclosed {%", NULL, 0);
            e = body + k;   /* at the final '}' */
        }
        size_t inner0 = body, inner1 = e - 1;   /* [inner0, inner1) before the closer's first char */
        if (inner0 < inner1 && (src[inner0] == '-' || src[inner0] == '+')) inner0++;
        char cm = inner1 > inner0 ? src[inner1 - 1] : 0;
        if (inner1 > inner0 && (cm == '-' || cm == '+')) inner1--;
        else cm = 0;
        line_starting = false;
        strip_next = cm == '-';
        i = e + 1;
        if (tkind != PC_VAR && cm != '-' && cm != '+' && i < len && src[i] == '\n') {
            i++;
            line++;
            line_starting = true;
        }
        line += count_lines(src + j, e + 1 - j);
        if (tkind == PC_COMMENT) continue;
        /* {% raw %} ... {% endraw %}: the text between, as it is */
        const char *in = src + inner0;
        size_t inn = inner1 - inner0;
        while (inn && is_ws(*in)) in++, inn--;
        while (inn && is_ws(in[inn - 1])) inn--;
        /* (Jinja's raw tag takes no '+' before its "%}": that one is an unknown tag) */
        if (tkind == PC_BLOCK && inn == 3 && memcmp(in, "raw", 3) == 0 && cm != '+') {
            if (cm == '-')
                while (i < len && is_ws(src[i])) {
                    line += src[i] == '\n';
                    i++;
                }
            size_t r = i;
            for (;;) {
                while (r + 1 < len && !(src[r] == '{' && src[r + 1] == '%')) r++;
                if (r + 1 >= len) return perr(P, MLXC_ERR_FORMAT, "unclosed raw block", NULL, 0);
                size_t q = r + 2;
                bool dash = q < len && src[q] == '-';
                if (q < len && (src[q] == '-' || src[q] == '+')) q++;
                while (q < len && is_ws(src[q])) q++;
                if (len - q >= 6 && memcmp(src + q, "endraw", 6) == 0) {
                    size_t k = tag_end(src + r + 2, len - r - 2, '%');
                    if (!k) return perr(P, MLXC_ERR_FORMAT, "unclosed {%", NULL, 0);
                    size_t tl = r - i;
                    if (dash)
                        while (tl && is_ws(src[i + tl - 1])) tl--;
                    piece pc = {PC_TEXT, src + i, tl, line};
                    if (tl && !push_piece(P, &cap, pc)) return perr(P, MLXC_ERR_OUT_OF_MEMORY, "out of memory", NULL, 0);
                    size_t ce = r + 2 + k;
                    strip_next = src[ce - 2] == '-';
                    line += count_lines(src + i, ce + 1 - i);
                    i = ce + 1;
                    if (!strip_next && src[ce - 2] != '+' && i < len && src[i] == '\n') {
                        i++;
                        line++;
                        line_starting = true;
                    }
                    break;
                }
                r += 2;
            }
            continue;
        }
        piece pc = {tkind, src + inner0, inner1 - inner0, P->line};
        if (!push_piece(P, &cap, pc)) return perr(P, MLXC_ERR_OUT_OF_MEMORY, "out of memory", NULL, 0);
    }
    return MLXC_OK;
}

/* ---- tokens inside a tag ---------------------------------------------------------------- */

enum { TK_END, TK_NAME, TK_INT, TK_FLOAT, TK_STR, TK_OP };

typedef struct token {
    int         kind;
    const char *s;        /* the source text (TK_STR: without the quotes)    */
    size_t      n;
} token;

static token peek_tok(parser *P) {
    const char *p = P->p;
    while (p < P->end && is_ws(*p)) p++;
    token t = {TK_END, p, 0};
    if (p >= P->end) return t;
    char c = *p;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
        const char *q = p;
        while (q < P->end && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '_' || (*q >= '0' && *q <= '9'))) q++;
        t.kind = TK_NAME;
        t.n = (size_t)(q - p);
        return t;
    }
    if (c >= '0' && c <= '9') {
        const char *q = p;
        while (q < P->end && ((*q >= '0' && *q <= '9') || *q == '_')) q++;
        t.kind = TK_INT;
        if (q + 1 < P->end && *q == '.' && q[1] >= '0' && q[1] <= '9') {
            q++;
            while (q < P->end && ((*q >= '0' && *q <= '9') || *q == '_')) q++;
            t.kind = TK_FLOAT;
        }
        if (q < P->end && (*q == 'e' || *q == 'E')) {
            const char *r = q + 1;
            if (r < P->end && (*r == '+' || *r == '-')) r++;
            if (r < P->end && *r >= '0' && *r <= '9') {
                while (r < P->end && *r >= '0' && *r <= '9') r++;
                q = r;
                t.kind = TK_FLOAT;
            }
        }
        t.n = (size_t)(q - p);
        return t;
    }
    if (c == '\'' || c == '"') {
        const char *q = p + 1;
        while (q < P->end && *q != c) q += (*q == '\\' && q + 1 < P->end) ? 2 : 1;
        if (q >= P->end) {
            t.kind = TK_OP;   /* an unclosed string: reported by the caller as a stray quote */
            t.n = 1;
            return t;
        }
        t.kind = TK_STR;
        t.s = p + 1;
        t.n = (size_t)(q - p - 1);
        return t;
    }
    static const char *const ops[] = {"//", "**", "==", "!=", "<=", ">=", NULL};
    for (int i = 0; ops[i]; i++)
        if (P->end - p >= 2 && p[0] == ops[i][0] && p[1] == ops[i][1]) {
            t.kind = TK_OP;
            t.n = 2;
            return t;
        }
    t.kind = TK_OP;
    t.n = 1;
    return t;
}

static token next_tok(parser *P) {
    token t = peek_tok(P);
    P->p = t.s + t.n + (t.kind == TK_STR ? 1 : 0);
    return t;
}

static bool tok_is(token t, const char *s) {
    size_t n = strlen(s);
    return (t.kind == TK_OP || t.kind == TK_NAME) && t.n == n && memcmp(t.s, s, n) == 0;
}

static bool accept(parser *P, const char *s) {
    if (tok_is(peek_tok(P), s)) {
        next_tok(P);
        return true;
    }
    return false;
}

static bool expect(parser *P, const char *s) {
    token t = peek_tok(P);
    if (tok_is(t, s)) {
        next_tok(P);
        return true;
    }
    char msg[64];
    snprintf(msg, sizeof msg, "expected '%s', found", s);
    perr(P, MLXC_ERR_FORMAT, msg, t.kind == TK_END ? "end of tag" : t.s, t.kind == TK_END ? 10 : t.n);
    return false;
}

static chat_node *node(parser *P, chat_node_kind k) {
    chat_node *n = chat_alloc(P->ar, sizeof *n);
    if (!n) {
        perr(P, MLXC_ERR_OUT_OF_MEMORY, "out of memory", NULL, 0);
        return NULL;
    }
    n->kind = k;
    n->line = P->line;
    return n;
}

static bool add_kid(parser *P, chat_node *n, chat_node *k, size_t *cap) {
    if (!k) return false;
    if (n->nkids == *cap) {
        size_t c = *cap ? *cap * 2 : 4;
        chat_node **nk = chat_alloc(P->ar, c * sizeof *nk);
        if (!nk) {
            perr(P, MLXC_ERR_OUT_OF_MEMORY, "out of memory", NULL, 0);
            return false;
        }
        if (n->nkids) memcpy(nk, n->kids, n->nkids * sizeof *nk);
        n->kids = nk;
        *cap = c;
    }
    n->kids[n->nkids++] = k;
    return true;
}

/* A string literal's value: Python's escapes (Jinja decodes them with
 * unicode-escape); an unknown escape stays as written. */
static chat_value unescape(parser *P, const char *s, size_t n) {
    char *o = chat_alloc(P->ar, n + 1);
    chat_value v = {.kind = CV_UNDEF};
    if (!o) {
        perr(P, MLXC_ERR_OUT_OF_MEMORY, "out of memory", NULL, 0);
        return v;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 >= n) {
            o[k++] = s[i];
            continue;
        }
        char c = s[++i];
        uint32_t cp = 0;
        int digits = 0;
        switch (c) {
        case 'n': o[k++] = '\n'; continue;
        case 't': o[k++] = '\t'; continue;
        case 'r': o[k++] = '\r'; continue;
        case 'a': o[k++] = '\a'; continue;
        case 'b': o[k++] = '\b'; continue;
        case 'f': o[k++] = '\f'; continue;
        case 'v': o[k++] = '\v'; continue;
        case '\\': o[k++] = '\\'; continue;
        case '\'': o[k++] = '\''; continue;
        case '"': o[k++] = '"'; continue;
        case '\n': continue;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
            if (c >= '0' && c <= '7') {
                int m = 0;
                while (m < 3 && i < n && s[i] >= '0' && s[i] <= '7') cp = cp * 8 + (uint32_t)(s[i++] - '0'), m++;
                i--;
                digits = -1;
                break;
            }
            o[k++] = '\\';
            o[k++] = c;
            continue;
        }
        if (digits > 0) {
            if (i + (size_t)digits >= n) {
                perr(P, MLXC_ERR_FORMAT, "truncated escape in a string", NULL, 0);
                return v;
            }
            for (int m = 0; m < digits; m++) {
                char h = s[i + 1 + (size_t)m];
                int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                if (d < 0) {
                    perr(P, MLXC_ERR_FORMAT, "bad escape in a string", NULL, 0);
                    return v;
                }
                cp = cp * 16 + (uint32_t)d;
            }
            i += (size_t)digits;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
        /* its UTF-8 is never longer than the escape that wrote it */
        if (cp < 0x80) o[k++] = (char)cp;
        else if (cp < 0x800) { o[k++] = (char)(0xC0 | (cp >> 6)); o[k++] = (char)(0x80 | (cp & 63)); }
        else if (cp < 0x10000) { o[k++] = (char)(0xE0 | (cp >> 12)); o[k++] = (char)(0x80 | ((cp >> 6) & 63)); o[k++] = (char)(0x80 | (cp & 63)); }
        else { o[k++] = (char)(0xF0 | (cp >> 18)); o[k++] = (char)(0x80 | ((cp >> 12) & 63)); o[k++] = (char)(0x80 | ((cp >> 6) & 63)); o[k++] = (char)(0x80 | (cp & 63)); }
    }
    v.kind = CV_STR;
    v.u.str.s = o;
    v.u.str.n = k;
    return v;
}

/* ---- expressions ---------------------------------------------------------------------------- */

static chat_node *parse_expr(parser *P);
static chat_node *parse_unary(parser *P, bool with_filter);

static bool enter(parser *P) {
    if (++P->depth > CHAT_MAX_DEPTH) {
        perr(P, MLXC_ERR_OUT_OF_RANGE, "nesting deeper than 256 levels", NULL, 0);
        return false;
    }
    return true;
}

/* ( args ) after a call, filter or test: positional, then name=value. */
static bool parse_args(parser *P, chat_node *n) {
    size_t cap = 0;
    if (accept(P, ")")) return true;
    for (;;) {
        token t = peek_tok(P);
        const char *save = P->p;
        chat_node *arg = NULL;
        if (t.kind == TK_NAME) {
            next_tok(P);
            if (tok_is(peek_tok(P), "=")) {
                next_tok(P);
                arg = node(P, CN_KWARG);
                if (!arg) return false;
                arg->s = t.s;
                arg->n = t.n;
                if (!(arg->a = parse_expr(P))) return false;
            } else {
                P->p = save;
            }
        }
        if (!arg && !(arg = parse_expr(P))) return false;
        if (!add_kid(P, n, arg, &cap)) return false;
        if (accept(P, ")")) return true;
        if (!expect(P, ",")) return false;
        if (accept(P, ")")) return true;
    }
}

static chat_node *parse_primary(parser *P) {
    token t = next_tok(P);
    chat_node *n = NULL;
    if (t.kind == TK_NAME) {
        if (tok_is(t, "true") || tok_is(t, "True") || tok_is(t, "false") || tok_is(t, "False")) {
            if (!(n = node(P, CN_LIT))) return NULL;
            n->lit.kind = CV_BOOL;
            n->lit.u.b = t.s[0] == 't' || t.s[0] == 'T';
        } else if (tok_is(t, "none") || tok_is(t, "None")) {
            if (!(n = node(P, CN_LIT))) return NULL;
            n->lit.kind = CV_NONE;
        } else {
            if (!(n = node(P, CN_NAME))) return NULL;
            n->s = t.s;
            n->n = t.n;
        }
        return n;
    }
    if (t.kind == TK_INT || t.kind == TK_FLOAT) {
        char buf[64];
        size_t k = 0;
        for (size_t i = 0; i < t.n && k < sizeof buf - 1; i++)
            if (t.s[i] != '_') buf[k++] = t.s[i];
        buf[k] = 0;
        if (!(n = node(P, CN_LIT))) return NULL;
        if (t.kind == TK_INT) {
            char *e;
            unsigned long long v = strtoull(buf, &e, 10);
            if (v > (unsigned long long)INT64_MAX) {
                perr(P, MLXC_ERR_UNSUPPORTED, "integer literal too large", t.s, t.n);
                return NULL;
            }
            n->lit.kind = CV_INT;
            n->lit.u.i = (int64_t)v;
        } else {
            n->lit.kind = CV_FLOAT;
            n->lit.u.f = strtod(buf, NULL);
        }
        return n;
    }
    if (t.kind == TK_STR) {
        if (!(n = node(P, CN_LIT))) return NULL;
        n->lit = unescape(P, t.s, t.n);
        if (P->err) return NULL;
        /* adjacent string literals concatenate, as in Python */
        while (peek_tok(P).kind == TK_STR) {
            token u = next_tok(P);
            chat_value w = unescape(P, u.s, u.n);
            if (P->err) return NULL;
            char *j = chat_alloc(P->ar, n->lit.u.str.n + w.u.str.n + 1);
            if (!j) {
                perr(P, MLXC_ERR_OUT_OF_MEMORY, "out of memory", NULL, 0);
                return NULL;
            }
            memcpy(j, n->lit.u.str.s, n->lit.u.str.n);
            memcpy(j + n->lit.u.str.n, w.u.str.s, w.u.str.n);
            n->lit.u.str.s = j;
            n->lit.u.str.n += w.u.str.n;
        }
        return n;
    }
    if (tok_is(t, "(")) {
        if (accept(P, ")")) {   /* the empty tuple */
            if ((n = node(P, CN_LISTLIT))) n->op = 1;
            return n;
        }
        chat_node *e = parse_expr(P);
        if (!e) return NULL;
        if (tok_is(peek_tok(P), ",")) {   /* a tuple: a list will do */
            if (!(n = node(P, CN_LISTLIT))) return NULL;
            n->op = 1;
            size_t cap = 0;
            if (!add_kid(P, n, e, &cap)) return NULL;
            while (accept(P, ",")) {
                if (tok_is(peek_tok(P), ")")) break;
                if (!add_kid(P, n, parse_expr(P), &cap)) return NULL;
            }
            e = n;
        }
        if (!expect(P, ")")) return NULL;
        return e;
    }
    if (tok_is(t, "[")) {
        if (!(n = node(P, CN_LISTLIT))) return NULL;
        size_t cap = 0;
        while (!accept(P, "]")) {
            if (!add_kid(P, n, parse_expr(P), &cap)) return NULL;
            if (accept(P, "]")) break;
            if (!expect(P, ",")) return NULL;
        }
        return n;
    }
    if (tok_is(t, "{")) {
        if (!(n = node(P, CN_DICTLIT))) return NULL;
        size_t cap = 0;
        while (!accept(P, "}")) {
            if (!add_kid(P, n, parse_expr(P), &cap)) return NULL;
            if (!expect(P, ":")) return NULL;
            if (!add_kid(P, n, parse_expr(P), &cap)) return NULL;
            if (accept(P, "}")) break;
            if (!expect(P, ",")) return NULL;
        }
        return n;
    }
    perr(P, MLXC_ERR_FORMAT, "unexpected", t.kind == TK_END ? "end of tag" : t.s, t.kind == TK_END ? 10 : t.n);
    return NULL;
}

static chat_node *parse_postfix(parser *P, chat_node *n) {
    for (;;) {
        if (!n) return NULL;
        token t = peek_tok(P);
        if (tok_is(t, ".")) {
            next_tok(P);
            token a = next_tok(P);
            chat_node *m = node(P, a.kind == TK_INT ? CN_INDEX : CN_ATTR);
            if (!m) return NULL;
            m->a = n;
            if (a.kind == TK_INT) {   /* x.0 is x[0] */
                if (!(m->b = node(P, CN_LIT))) return NULL;
                m->b->lit.kind = CV_INT;
                m->b->lit.u.i = strtoll(a.s, NULL, 10);
            } else if (a.kind == TK_NAME) {
                m->s = a.s;
                m->n = a.n;
            } else {
                perr(P, MLXC_ERR_FORMAT, "expected an attribute name after '.'", NULL, 0);
                return NULL;
            }
            n = m;
        } else if (tok_is(t, "[")) {
            next_tok(P);
            chat_node *idx[3] = {NULL, NULL, NULL};
            int part = 0;
            bool slice = false;
            for (;;) {
                token u = peek_tok(P);
                if (tok_is(u, "]")) break;
                if (tok_is(u, ":")) {
                    next_tok(P);
                    slice = true;
                    if (++part > 2) {
                        perr(P, MLXC_ERR_FORMAT, "too many ':' in a slice", NULL, 0);
                        return NULL;
                    }
                    continue;
                }
                if (idx[part]) {
                    expect(P, "]");
                    return NULL;
                }
                if (!(idx[part] = parse_expr(P))) return NULL;
            }
            next_tok(P);
            chat_node *m = node(P, slice ? CN_SLICE : CN_INDEX);
            if (!m) return NULL;
            m->a = n;
            m->b = idx[0];
            m->c = idx[1];
            m->d = idx[2];
            if (!slice && !idx[0]) {
                perr(P, MLXC_ERR_FORMAT, "empty subscript", NULL, 0);
                return NULL;
            }
            n = m;
        } else if (tok_is(t, "(")) {
            next_tok(P);
            chat_node *m = node(P, CN_CALL);
            if (!m) return NULL;
            m->a = n;
            if (!parse_args(P, m)) return NULL;
            n = m;
        } else {
            return n;
        }
    }
}

/* filters and tests after a unary expression */
static chat_node *parse_filters(parser *P, chat_node *n) {
    for (;;) {
        if (!n) return NULL;
        token t = peek_tok(P);
        if (tok_is(t, "|")) {
            next_tok(P);
            token f = next_tok(P);
            if (f.kind != TK_NAME) {
                perr(P, MLXC_ERR_FORMAT, "expected a filter name after '|'", NULL, 0);
                return NULL;
            }
            chat_node *m = node(P, CN_FILTER);
            if (!m) return NULL;
            m->a = n;
            m->s = f.s;
            m->n = f.n;
            if (accept(P, "(") && !parse_args(P, m)) return NULL;
            n = parse_postfix(P, m);
        } else if (tok_is(t, "is")) {
            next_tok(P);
            chat_node *m = node(P, CN_TEST);
            if (!m) return NULL;
            m->a = n;
            if (accept(P, "not")) m->op = 1;
            token f = next_tok(P);
            if (f.kind != TK_NAME) {
                perr(P, MLXC_ERR_FORMAT, "expected a test name after 'is'", NULL, 0);
                return NULL;
            }
            m->s = f.s;
            m->n = f.n;
            if (accept(P, "(")) {
                if (!parse_args(P, m)) return NULL;
            } else {
                /* one argument without parentheses: `is divisibleby 3`, `is equalto 'x'` */
                token u = peek_tok(P);
                if (u.kind == TK_STR || u.kind == TK_INT || u.kind == TK_FLOAT || tok_is(u, "[") || tok_is(u, "{") ||
                    (u.kind == TK_NAME && !tok_is(u, "and") && !tok_is(u, "or") && !tok_is(u, "else") &&
                     !tok_is(u, "if") && !tok_is(u, "in") && !tok_is(u, "is") && !tok_is(u, "not") &&
                     !tok_is(u, "recursive"))) {
                    size_t cap = 0;
                    if (!enter(P)) return NULL;
                    chat_node *arg = parse_postfix(P, parse_primary(P));
                    P->depth--;
                    if (!arg || !add_kid(P, m, arg, &cap)) return NULL;
                }
            }
            n = m;
        } else {
            return n;
        }
    }
}

static chat_node *parse_unary(parser *P, bool with_filter) {
    if (!enter(P)) return NULL;
    chat_node *n;
    token t = peek_tok(P);
    if (tok_is(t, "-") || tok_is(t, "+")) {
        next_tok(P);
        n = node(P, CN_UNARY);
        if (!n) return NULL;
        n->op = t.s[0] == '-' ? OP_NEG : OP_POS;
        n->a = parse_unary(P, false);
        if (!n->a) return NULL;
    } else {
        n = parse_postfix(P, parse_primary(P));
    }
    if (with_filter) n = parse_filters(P, n);
    P->depth--;
    return n;
}

static chat_node *binop(parser *P, int op, chat_node *a, chat_node *b) {
    if (!a || !b) return NULL;
    chat_node *n = node(P, CN_BINOP);
    if (!n) return NULL;
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static chat_node *parse_pow(parser *P) {
    chat_node *n = parse_unary(P, true);
    while (n && accept(P, "**")) n = binop(P, OP_POW, n, parse_unary(P, true));
    return n;
}

static chat_node *parse_math2(parser *P) {
    chat_node *n = parse_pow(P);
    for (;;) {
        if (!n) return NULL;
        token t = peek_tok(P);
        int op = tok_is(t, "*") ? OP_MUL : tok_is(t, "/") ? OP_DIV : tok_is(t, "//") ? OP_FLOORDIV : tok_is(t, "%") ? OP_MOD : 0;
        if (!op) return n;
        next_tok(P);
        n = binop(P, op, n, parse_pow(P));
    }
}

static chat_node *parse_concat(parser *P) {
    chat_node *n = parse_math2(P);
    while (n && accept(P, "~")) n = binop(P, OP_CONCAT, n, parse_math2(P));
    return n;
}

static chat_node *parse_math1(parser *P) {
    chat_node *n = parse_concat(P);
    for (;;) {
        if (!n) return NULL;
        token t = peek_tok(P);
        int op = tok_is(t, "+") ? OP_ADD : tok_is(t, "-") ? OP_SUB : 0;
        if (!op) return n;
        next_tok(P);
        n = binop(P, op, n, parse_concat(P));
    }
}

static chat_node *parse_compare(parser *P) {
    chat_node *n = parse_math1(P);
    chat_node *result = NULL;
    for (;;) {
        if (!n) return NULL;
        token t = peek_tok(P);
        int op = tok_is(t, "==") ? OP_EQ : tok_is(t, "!=") ? OP_NE : tok_is(t, "<") ? OP_LT : tok_is(t, "<=") ? OP_LE
               : tok_is(t, ">") ? OP_GT : tok_is(t, ">=") ? OP_GE : tok_is(t, "in") ? OP_IN : 0;
        if (!op && tok_is(t, "not")) {
            const char *save = P->p;
            next_tok(P);
            if (accept(P, "in")) op = OP_NOTIN;
            else P->p = save;
            if (op) goto have;
        }
        if (!op) return result ? result : n;
        next_tok(P);
    have:;
        chat_node *rhs = parse_math1(P);
        if (!rhs) return NULL;
        /* a < b < c is a < b and b < c */
        chat_node *cmp = binop(P, op, result ? (result->kind == CN_AND ? result->b->b : result->b) : n, rhs);
        if (!cmp) return NULL;
        if (!result) result = cmp;
        else {
            chat_node *a = node(P, CN_AND);
            if (!a) return NULL;
            a->a = result;
            a->b = cmp;
            result = a;
        }
        n = rhs;
    }
}

static chat_node *parse_not(parser *P) {
    if (tok_is(peek_tok(P), "not")) {
        next_tok(P);
        if (!enter(P)) return NULL;
        chat_node *n = node(P, CN_NOT);
        if (!n || !(n->a = parse_not(P))) return NULL;
        P->depth--;
        return n;
    }
    return parse_compare(P);
}

static chat_node *parse_and(parser *P) {
    chat_node *n = parse_not(P);
    while (n && accept(P, "and")) {
        chat_node *m = node(P, CN_AND);
        if (!m) return NULL;
        m->a = n;
        if (!(m->b = parse_not(P))) return NULL;
        n = m;
    }
    return n;
}

static chat_node *parse_or(parser *P) {
    chat_node *n = parse_and(P);
    while (n && accept(P, "or")) {
        chat_node *m = node(P, CN_OR);
        if (!m) return NULL;
        m->a = n;
        if (!(m->b = parse_and(P))) return NULL;
        n = m;
    }
    return n;
}

/* a conditional expression: x if cond [else y] */
static chat_node *parse_expr(parser *P) {
    if (!enter(P)) return NULL;
    chat_node *n = parse_or(P);
    while (n && tok_is(peek_tok(P), "if")) {
        next_tok(P);
        chat_node *m = node(P, CN_COND);
        if (!m) return NULL;
        m->b = n;
        if (!(m->a = parse_or(P))) return NULL;
        if (accept(P, "else") && !(m->c = parse_expr(P))) return NULL;
        n = m;
    }
    P->depth--;
    return n;
}

/* ---- statements ------------------------------------------------------------------------------ */

static bool tag_done(parser *P) {
    token t = peek_tok(P);
    if (t.kind == TK_END) return true;
    perr(P, MLXC_ERR_FORMAT, "unexpected", t.s, t.n);
    return false;
}

/* Enter the tag of piece i: its tokens become current. */
static void open_tag(parser *P, size_t i) {
    P->p = P->pc[i].s;
    P->end = P->pc[i].s + P->pc[i].n;
    P->line = P->pc[i].line;
}

/* The keyword of block piece i (its first name), into *kw. */
static token tag_keyword(parser *P, size_t i) {
    open_tag(P, i);
    return peek_tok(P);
}

static chat_node *parse_body(parser *P, const char *const *ends, token *which);

static bool is_end(token t, const char *const *ends) {
    for (int i = 0; ends && ends[i]; i++)
        if (tok_is(t, ends[i])) return true;
    return false;
}

static chat_node *parse_if(parser *P) {
    if (!enter(P)) return NULL;   /* each elif is one level deeper */
    chat_node *n = node(P, CN_IF);
    if (!n || !(n->a = parse_expr(P)) || !tag_done(P)) return NULL;
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    token w;
    if (!(n->b = parse_body(P, ends, &w))) return NULL;
    if (tok_is(w, "elif")) {
        if (!(n->c = parse_if(P))) return NULL;   /* consumes through endif */
        P->depth--;
        return n;
    }
    if (tok_is(w, "else")) {
        if (!tag_done(P)) return NULL;
        static const char *const ends2[] = {"endif", NULL};
        if (!(n->c = parse_body(P, ends2, &w))) return NULL;
    }
    if (!tag_done(P)) return NULL;
    P->depth--;
    return n;
}

static chat_node *parse_for(parser *P) {
    chat_node *n = node(P, CN_FOR);
    if (!n) return NULL;
    size_t cap = 0;
    do {
        token v = next_tok(P);
        if (v.kind != TK_NAME) {
            perr(P, MLXC_ERR_FORMAT, "expected a loop variable", NULL, 0);
            return NULL;
        }
        chat_node *nm = node(P, CN_NAME);
        if (!nm) return NULL;
        nm->s = v.s;
        nm->n = v.n;
        if (!add_kid(P, n, nm, &cap)) return NULL;
    } while (accept(P, ","));
    if (n->nkids > 2) {
        perr(P, MLXC_ERR_UNSUPPORTED, "more than two loop variables", NULL, 0);
        return NULL;
    }
    if (!expect(P, "in")) return NULL;
    if (!(n->a = parse_or(P))) return NULL;   /* `if` after it is the loop filter */
    if (accept(P, "if") && !(n->d = parse_expr(P))) return NULL;
    if (accept(P, "recursive")) {
        perr(P, MLXC_ERR_UNSUPPORTED, "recursive loops are not supported", NULL, 0);
        return NULL;
    }
    if (!tag_done(P)) return NULL;
    static const char *const ends[] = {"else", "endfor", NULL};
    token w;
    if (!(n->b = parse_body(P, ends, &w))) return NULL;
    if (tok_is(w, "else")) {
        if (!tag_done(P)) return NULL;
        static const char *const ends2[] = {"endfor", NULL};
        if (!(n->c = parse_body(P, ends2, &w))) return NULL;
    }
    if (!tag_done(P)) return NULL;
    return n;
}

static chat_node *parse_set(parser *P) {
    token v = next_tok(P);
    if (v.kind != TK_NAME) {
        perr(P, MLXC_ERR_FORMAT, "expected a name after 'set'", NULL, 0);
        return NULL;
    }
    chat_node *n = node(P, CN_SET);
    if (!n) return NULL;
    n->s = v.s;
    n->n = v.n;
    if (accept(P, ".")) {
        token a = next_tok(P);
        if (a.kind != TK_NAME) {
            perr(P, MLXC_ERR_FORMAT, "expected an attribute name", NULL, 0);
            return NULL;
        }
        n->s2 = a.s;
        n->n2 = a.n;
    } else if (tok_is(peek_tok(P), ",")) {
        perr(P, MLXC_ERR_UNSUPPORTED, "tuple assignment in set is not supported", NULL, 0);
        return NULL;
    }
    if (peek_tok(P).kind == TK_END && !n->s2) {   /* {% set x %} ... {% endset %} */
        n->kind = CN_SET_BLOCK;
        static const char *const ends[] = {"endset", NULL};
        token w;
        if (!(n->b = parse_body(P, ends, &w)) || !tag_done(P)) return NULL;
        return n;
    }
    if (!expect(P, "=")) return NULL;
    if (!(n->a = parse_expr(P)) || !tag_done(P)) return NULL;
    return n;
}

static chat_node *parse_macro(parser *P) {
    token v = next_tok(P);
    if (v.kind != TK_NAME) {
        perr(P, MLXC_ERR_FORMAT, "expected a macro name", NULL, 0);
        return NULL;
    }
    chat_node *n = node(P, CN_MACRO);
    if (!n) return NULL;
    n->s = v.s;
    n->n = v.n;
    if (!expect(P, "(")) return NULL;
    size_t cap = 0;
    while (!accept(P, ")")) {
        token a = next_tok(P);
        if (a.kind != TK_NAME) {
            perr(P, MLXC_ERR_FORMAT, "expected a parameter name", NULL, 0);
            return NULL;
        }
        chat_node *pn = node(P, CN_NAME);
        if (!pn) return NULL;
        pn->s = a.s;
        pn->n = a.n;
        if (accept(P, "=")) {
            pn->kind = CN_KWARG;
            if (!(pn->a = parse_expr(P))) return NULL;
        }
        if (!add_kid(P, n, pn, &cap)) return NULL;
        if (accept(P, ")")) break;
        if (!expect(P, ",")) return NULL;
    }
    if (!tag_done(P)) return NULL;
    static const char *const ends[] = {"endmacro", NULL};
    token w;
    if (!(n->b = parse_body(P, ends, &w))) return NULL;
    /* {% endmacro name %} may repeat the name */
    token t = peek_tok(P);
    if (t.kind == TK_NAME) next_tok(P);
    if (!tag_done(P)) return NULL;
    return n;
}

/* Statements until a block tag whose keyword is one of `ends` (that tag's
 * keyword is consumed and returned in *which, its tokens current); with
 * ends NULL, until the end of the template. */
static chat_node *parse_body(parser *P, const char *const *ends, token *which) {
    if (!enter(P)) return NULL;
    chat_node *body = node(P, CN_BODY);
    if (!body) return NULL;
    size_t cap = 0;
    while (P->ipc < P->npc) {
        size_t i = P->ipc++;
        piece *pc = &P->pc[i];
        P->line = pc->line;
        if (pc->kind == PC_TEXT) {
            chat_node *t = node(P, CN_TEXT);
            if (!t) return NULL;
            t->s = pc->s;
            t->n = pc->n;
            if (!add_kid(P, body, t, &cap)) return NULL;
            continue;
        }
        if (pc->kind == PC_VAR) {
            open_tag(P, i);
            chat_node *o = node(P, CN_OUTPUT);
            if (!o || !(o->a = parse_expr(P)) || !tag_done(P)) return NULL;
            if (!add_kid(P, body, o, &cap)) return NULL;
            continue;
        }
        token kw = tag_keyword(P, i);
        if (is_end(kw, ends)) {
            next_tok(P);
            *which = kw;
            P->depth--;
            return body;
        }
        next_tok(P);
        chat_node *s = NULL;
        if (tok_is(kw, "if")) s = parse_if(P);
        else if (tok_is(kw, "for")) s = parse_for(P);
        else if (tok_is(kw, "set")) s = parse_set(P);
        else if (tok_is(kw, "macro")) s = parse_macro(P);
        else if (tok_is(kw, "break") || tok_is(kw, "continue")) {
            if ((s = node(P, kw.s[0] == 'b' ? CN_BREAK : CN_CONTINUE)) && !tag_done(P)) return NULL;
        } else if (tok_is(kw, "generation")) {
            /* transformers' assistant-mask marker: render the body */
            static const char *const ends2[] = {"endgeneration", NULL};
            token w;
            if (!tag_done(P) || !(s = parse_body(P, ends2, &w)) || !tag_done(P)) return NULL;
        } else if (kw.kind == TK_NAME) {
            perr(P, MLXC_ERR_UNSUPPORTED, "unsupported or misplaced statement", kw.s, kw.n);
            return NULL;
        } else {
            perr(P, MLXC_ERR_FORMAT, "expected a statement", NULL, 0);
            return NULL;
        }
        if (!s || !add_kid(P, body, s, &cap)) return NULL;
    }
    if (ends) {
        char msg[80];
        snprintf(msg, sizeof msg, "missing {%% %s %%}", ends[0]);
        perr(P, MLXC_ERR_FORMAT, msg, NULL, 0);
        return NULL;
    }
    P->depth--;
    return body;
}

mlxc_status chat_parse(mlxc_chat_template *t, const char *src, size_t len) {
    parser P = {.t = t, .ar = &t->arena, .line = 1};
    /* newlines normalised to \n and one trailing newline dropped, as Jinja's lexer does */
    char *norm = chat_alloc(&t->arena, len + 1);
    if (!norm) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "chat template: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            norm[k++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            norm[k++] = src[i];
        }
    }
    if (k && norm[k - 1] == '\n') k--;
    mlxc_status st = split(&P, norm, k);
    if (st) return st;
    token w;
    t->root = parse_body(&P, NULL, &w);
    if (!t->root) return P.err ? P.err : mlxc_set_error(MLXC_ERR_INTERNAL, "chat template: parse failed");
    return MLXC_OK;
}
