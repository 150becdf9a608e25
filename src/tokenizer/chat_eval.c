/*
 * Chat templates, part two: rendering a parse tree.
 *
 * Values follow Python's rules where templates can see them, because the
 * reference is Jinja running in Python: str() of None is "None", of a list
 * its repr, 1 == 1.0 == True, `+` does not mix strings and numbers, a
 * missing key or attribute is undefined (which prints as nothing, iterates
 * as nothing and fails when dereferenced).  Scopes follow Jinja: a loop body
 * (and a macro) gets its own, `if` does not; namespace() is how a loop
 * changes a value outside itself.  Every allocation comes from the render's
 * arena; output, memory, steps and depth are bounded.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/chat_internal.h"

enum {   /* CV_FUNC ids */
    F_RANGE = 1, F_NAMESPACE, F_DICT, F_RAISE, F_STRFTIME, F_MACRO,
    /* string methods */
    F_S_STRIP, F_S_LSTRIP, F_S_RSTRIP, F_S_SPLIT, F_S_STARTSWITH, F_S_ENDSWITH, F_S_UPPER, F_S_LOWER,
    F_S_REPLACE, F_S_TITLE, F_S_CAPITALIZE, F_S_JOIN, F_S_FIND, F_S_COUNT,
    /* dict methods */
    F_D_ITEMS, F_D_KEYS, F_D_VALUES, F_D_GET,
};

typedef struct scope {
    struct scope *parent;
    chat_dict     vars;
} scope;

typedef struct outbuf {
    char  *s;
    size_t n, cap;
} outbuf;

typedef struct ev {
    chat_arena *ar;
    outbuf     *out;
    size_t      max_out;
    uint64_t    steps, max_steps;
    int         depth;
    mlxc_status err;
    scope      *sc, *top;
    int         brk;       /* 1: break, 2: continue pending */
} ev;

typedef struct args {
    size_t      n, nk;
    chat_value *v;             /* positional                            */
    const char **kn;           /* keyword names                         */
    size_t      *kl;
    chat_value  *kv;
} args;

static const chat_value UNDEF = {.kind = CV_UNDEF};

static void everr(ev *E, mlxc_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void everr(ev *E, mlxc_status st, const char *fmt, ...) {
    if (E->err) return;
    char buf[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    E->err = mlxc_set_error(st, "chat template: %s", buf);
}

static void oom(ev *E) {
    if (E->ar->over)
        everr(E, MLXC_ERR_OUT_OF_RANGE, "rendering needs more memory than allowed (%zu bytes)", E->ar->limit);
    else
        everr(E, MLXC_ERR_OUT_OF_MEMORY, "out of memory");
}

static void *ealloc(ev *E, size_t n) {
    void *p = chat_alloc(E->ar, n);
    if (!p) oom(E);
    return p;
}

/* ---- growing strings in the arena ---------------------------------------------------------- */

typedef struct sb {
    char  *s;
    size_t n, cap;
} sb;

/* Work proportional to n bytes or items counts against the step budget (one
 * step per 64), so that a loop over a large string cannot run unbounded
 * within few steps. */
static bool charge(ev *E, size_t n) {
    if (E->err) return false;
    E->steps += n >> 6;
    if (E->steps > E->max_steps) {
        everr(E, MLXC_ERR_OUT_OF_RANGE, "rendering takes more than %llu steps", (unsigned long long)E->max_steps);
        return false;
    }
    return true;
}

/* The first occurrence of needle[0..m) in hay[0..n) at or after `from`, or n. */
static size_t find_bytes(const char *hay, size_t n, size_t from, const char *needle, size_t m) {
    if (from > n) return n;
    if (m == 0) return from;
    const char *p = memmem(hay + from, n - from, needle, m);
    return p ? (size_t)(p - hay) : n;
}

static bool sb_put(ev *E, sb *b, const char *s, size_t n) {
    if (E->err || !charge(E, n)) return false;
    if (b->n + n > E->max_out) {   /* no string may outgrow the text it would be part of */
        everr(E, MLXC_ERR_OUT_OF_RANGE, "a string longer than the output limit (%zu bytes)", E->max_out);
        return false;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) {
            if (cap > ((size_t)1 << 40)) {
                oom(E);
                return false;
            }
            cap *= 2;
        }
        char *ns = ealloc(E, cap);
        if (!ns) return false;
        if (b->n) memcpy(ns, b->s, b->n);
        b->s = ns;
        b->cap = cap;
    }
    if (n) memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return true;
}

static bool sb_puts(ev *E, sb *b, const char *s) { return sb_put(E, b, s, strlen(s)); }

static chat_value sb_value(sb *b) {
    chat_value v = {.kind = CV_STR};
    v.u.str.s = b->s ? b->s : "";
    v.u.str.n = b->n;
    return v;
}

static chat_value mkstr(const char *s, size_t n) {
    chat_value v = {.kind = CV_STR};
    v.u.str.s = s;
    v.u.str.n = n;
    return v;
}

static chat_value mkint(int64_t i) {
    chat_value v = {.kind = CV_INT};
    v.u.i = i;
    return v;
}

static chat_value mkbool(bool b) {
    chat_value v = {.kind = CV_BOOL};
    v.u.b = b;
    return v;
}

static chat_value mkfloat(double f) {
    chat_value v = {.kind = CV_FLOAT};
    v.u.f = f;
    return v;
}

static chat_value newlist(ev *E) {
    chat_value v = {.kind = CV_LIST};
    v.u.list = ealloc(E, sizeof *v.u.list);
    if (!v.u.list) v.kind = CV_UNDEF;
    return v;
}

static chat_value newdict(ev *E, chat_kind k) {
    chat_value v = {.kind = k};
    v.u.dict = ealloc(E, sizeof *v.u.dict);
    if (!v.u.dict) v.kind = CV_UNDEF;
    return v;
}

static bool push(ev *E, chat_value l, chat_value x) {
    if (E->err) return false;
    if (!chat_list_push(E->ar, l.u.list, x)) {
        oom(E);
        return false;
    }
    return true;
}

static bool dset(ev *E, chat_dict *d, const char *k, size_t n, chat_value v) {
    if (E->err) return false;
    if (!chat_dict_set(E->ar, d, mkstr(k, n), v)) {
        oom(E);
        return false;
    }
    return true;
}

static const char *kind_name(chat_value v) {
    switch (v.kind) {
    case CV_UNDEF: return "undefined";
    case CV_NONE: return "NoneType";
    case CV_BOOL: return "bool";
    case CV_INT: return "int";
    case CV_FLOAT: return "float";
    case CV_STR: return "str";
    case CV_LIST: return "list";
    case CV_DICT: return "dict";
    case CV_NS: return "Namespace";
    case CV_FUNC: return "function";
    }
    return "?";
}

static bool truthy(chat_value v) {
    switch (v.kind) {
    case CV_UNDEF: case CV_NONE: return false;
    case CV_BOOL: return v.u.b;
    case CV_INT: return v.u.i != 0;
    case CV_FLOAT: return v.u.f != 0;
    case CV_STR: return v.u.str.n != 0;
    case CV_LIST: return v.u.list->n != 0;
    case CV_DICT: return v.u.dict->n != 0;
    default: return true;
    }
}

/* ---- Python's str() and repr() ---------------------------------------------------------------- */

/* repr(float): the shortest digits that read back the same, fixed notation
 * for exponents -4..15, else scientific with a two-digit exponent. */
static void float_repr(double x, char *out, size_t cap) {
    if (isnan(x)) { snprintf(out, cap, "nan"); return; }
    if (isinf(x)) { snprintf(out, cap, x < 0 ? "-inf" : "inf"); return; }
    char buf[40];
    int p;
    for (p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, x);
        if (strtod(buf, NULL) == x) break;
    }
    char dig[24];
    int nd = 0, neg = buf[0] == '-';
    const char *q = buf + neg;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9' && nd < 23) dig[nd++] = *q;
    int e = atoi(q + 1);
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    dig[nd] = 0;
    size_t k = 0;
    char o[64];
    if (neg) o[k++] = '-';
    if (e >= -4 && e < 16) {
        if (e >= 0) {
            for (int i = 0; i <= e; i++) o[k++] = i < nd ? dig[i] : '0';
            o[k++] = '.';
            if (nd > e + 1)
                for (int i = e + 1; i < nd; i++) o[k++] = dig[i];
            else o[k++] = '0';
        } else {
            o[k++] = '0';
            o[k++] = '.';
            for (int i = 0; i < -e - 1; i++) o[k++] = '0';
            for (int i = 0; i < nd; i++) o[k++] = dig[i];
        }
        o[k] = 0;
    } else {
        o[k++] = dig[0];
        if (nd > 1) {
            o[k++] = '.';
            for (int i = 1; i < nd; i++) o[k++] = dig[i];
        }
        snprintf(o + k, sizeof o - k, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    snprintf(out, cap, "%s", o);
}

static bool put_repr(ev *E, sb *b, chat_value v, int depth);

static bool put_str(ev *E, sb *b, chat_value v, int depth) {
    char num[64];
    switch (v.kind) {
    case CV_UNDEF: return true;
    case CV_NONE: return sb_puts(E, b, "None");
    case CV_BOOL: return sb_puts(E, b, v.u.b ? "True" : "False");
    case CV_INT: snprintf(num, sizeof num, "%lld", (long long)v.u.i); return sb_puts(E, b, num);
    case CV_FLOAT: float_repr(v.u.f, num, sizeof num); return sb_puts(E, b, num);
    case CV_STR: return sb_put(E, b, v.u.str.s, v.u.str.n);
    default: return put_repr(E, b, v, depth);
    }
}

static bool put_repr(ev *E, sb *b, chat_value v, int depth) {
    if (depth > CHAT_MAX_DEPTH) {
        everr(E, MLXC_ERR_OUT_OF_RANGE, "value nested too deeply to print");
        return false;
    }
    switch (v.kind) {
    case CV_STR: {
        bool sq = memchr(v.u.str.s, '\'', v.u.str.n) != NULL, dq = memchr(v.u.str.s, '"', v.u.str.n) != NULL;
        char quote = sq && !dq ? '"' : '\'';
        sb_put(E, b, &quote, 1);
        for (size_t i = 0; i < v.u.str.n; i++) {
            unsigned char c = (unsigned char)v.u.str.s[i];
            char esc[8];
            if (c == '\\') sb_puts(E, b, "\\\\");
            else if (c == (unsigned char)quote) { esc[0] = '\\'; esc[1] = (char)c; sb_put(E, b, esc, 2); }
            else if (c == '\n') sb_puts(E, b, "\\n");
            else if (c == '\r') sb_puts(E, b, "\\r");
            else if (c == '\t') sb_puts(E, b, "\\t");
            else if (c < 0x20 || c == 0x7f) { snprintf(esc, sizeof esc, "\\x%02x", c); sb_puts(E, b, esc); }
            else sb_put(E, b, (const char *)&c, 1);
        }
        return sb_put(E, b, &quote, 1);
    }
    case CV_LIST:
        sb_puts(E, b, v.u.list->tuple ? "(" : "[");
        for (size_t i = 0; i < v.u.list->n; i++) {
            if (i) sb_puts(E, b, ", ");
            put_repr(E, b, v.u.list->v[i], depth + 1);
        }
        if (v.u.list->tuple && v.u.list->n == 1) sb_puts(E, b, ",");
        return sb_puts(E, b, v.u.list->tuple ? ")" : "]");
    case CV_DICT: case CV_NS:
        sb_puts(E, b, v.kind == CV_NS ? "<Namespace {" : "{");
        for (size_t i = 0; i < v.u.dict->n; i++) {
            if (i) sb_puts(E, b, ", ");
            put_repr(E, b, v.u.dict->k[i], depth + 1);
            sb_puts(E, b, ": ");
            put_repr(E, b, v.u.dict->v[i], depth + 1);
        }
        return sb_puts(E, b, v.kind == CV_NS ? "}>" : "}");
    case CV_FUNC: return sb_puts(E, b, "<function>");
    case CV_UNDEF: return true;
    default: return put_str(E, b, v, depth);
    }
}

static chat_value to_str(ev *E, chat_value v) {
    if (v.kind == CV_STR) return v;
    sb b = {0};
    put_str(E, &b, v, 0);
    return sb_value(&b);
}

/* ---- JSON as Python's json.dumps(ensure_ascii=False) writes it ---------------------------------- */

static bool put_json(ev *E, sb *b, chat_value v, int indent, bool sort, int level) {
    if (E->err) return false;
    if (level > CHAT_MAX_DEPTH) {
        everr(E, MLXC_ERR_OUT_OF_RANGE, "value nested too deeply for tojson");
        return false;
    }
    char num[64];
    switch (v.kind) {
    case CV_NONE: return sb_puts(E, b, "null");
    case CV_BOOL: return sb_puts(E, b, v.u.b ? "true" : "false");
    case CV_INT: snprintf(num, sizeof num, "%lld", (long long)v.u.i); return sb_puts(E, b, num);
    case CV_FLOAT:
        if (isnan(v.u.f)) return sb_puts(E, b, "NaN");
        if (isinf(v.u.f)) return sb_puts(E, b, v.u.f < 0 ? "-Infinity" : "Infinity");
        float_repr(v.u.f, num, sizeof num);
        return sb_puts(E, b, num);
    case CV_STR:
        sb_puts(E, b, "\"");
        for (size_t i = 0; i < v.u.str.n; i++) {
            unsigned char c = (unsigned char)v.u.str.s[i];
            char esc[8];
            switch (c) {
            case '"': sb_puts(E, b, "\\\""); break;
            case '\\': sb_puts(E, b, "\\\\"); break;
            case '\n': sb_puts(E, b, "\\n"); break;
            case '\r': sb_puts(E, b, "\\r"); break;
            case '\t': sb_puts(E, b, "\\t"); break;
            case '\b': sb_puts(E, b, "\\b"); break;
            case '\f': sb_puts(E, b, "\\f"); break;
            default:
                if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); sb_puts(E, b, esc); }
                else sb_put(E, b, (const char *)&c, 1);
            }
        }
        return sb_puts(E, b, "\"");
    case CV_LIST: case CV_DICT: {
        bool is_list = v.kind == CV_LIST;
        size_t n = is_list ? v.u.list->n : v.u.dict->n;
        if (n == 0) return sb_puts(E, b, is_list ? "[]" : "{}");
        size_t *order = NULL;
        if (!is_list && sort) {   /* insertion sort of key indices by bytes (= code points) */
            order = ealloc(E, n * sizeof *order);
            if (!order) return false;
            for (size_t i = 0; i < n; i++) {
                size_t j = i;
                chat_value ki = v.u.dict->k[i];
                while (j > 0) {
                    chat_value kj = v.u.dict->k[order[j - 1]];
                    size_t m = ki.u.str.n < kj.u.str.n ? ki.u.str.n : kj.u.str.n;
                    int c = memcmp(kj.u.str.s, ki.u.str.s, m);
                    if (c < 0 || (c == 0 && kj.u.str.n <= ki.u.str.n)) break;
                    order[j] = order[j - 1];
                    j--;
                }
                order[j] = i;
            }
        }
        sb_puts(E, b, is_list ? "[" : "{");
        for (size_t i = 0; i < n; i++) {
            if (i) sb_puts(E, b, indent >= 0 ? "," : ", ");
            if (indent >= 0) {
                sb_puts(E, b, "\n");
                for (int s = 0; s < indent * (level + 1); s++) sb_puts(E, b, " ");
            }
            if (is_list) {
                put_json(E, b, v.u.list->v[i], indent, sort, level + 1);
            } else {
                size_t k = order ? order[i] : i;
                put_json(E, b, v.u.dict->k[k], indent, sort, level + 1);
                sb_puts(E, b, ": ");
                put_json(E, b, v.u.dict->v[k], indent, sort, level + 1);
            }
        }
        if (indent >= 0) {
            sb_puts(E, b, "\n");
            for (int s = 0; s < indent * level; s++) sb_puts(E, b, " ");
        }
        return sb_puts(E, b, is_list ? "]" : "}");
    }
    default:
        everr(E, MLXC_ERR_INVALID_ARGUMENT, "object of type %s is not JSON serializable", kind_name(v));
        return false;
    }
}

/* ---- comparisons ------------------------------------------------------------------------------- */

static bool is_num(chat_value v) { return v.kind == CV_INT || v.kind == CV_FLOAT || v.kind == CV_BOOL; }
static double num_f(chat_value v) { return v.kind == CV_FLOAT ? v.u.f : v.kind == CV_INT ? (double)v.u.i : (double)v.u.b; }
static int64_t num_i(chat_value v) { return v.kind == CV_INT ? v.u.i : (int64_t)v.u.b; }

static bool equal(chat_value a, chat_value b, int depth) {
    if (depth > CHAT_MAX_DEPTH) return false;
    if (is_num(a) && is_num(b)) {
        if (a.kind == CV_FLOAT || b.kind == CV_FLOAT) return num_f(a) == num_f(b);
        return num_i(a) == num_i(b);
    }
    if (a.kind != b.kind) return false;
    switch (a.kind) {
    case CV_UNDEF: case CV_NONE: return true;
    case CV_STR: return a.u.str.n == b.u.str.n && memcmp(a.u.str.s, b.u.str.s, a.u.str.n) == 0;
    case CV_LIST:
        if (a.u.list->n != b.u.list->n) return false;
        for (size_t i = 0; i < a.u.list->n; i++)
            if (!equal(a.u.list->v[i], b.u.list->v[i], depth + 1)) return false;
        return true;
    case CV_DICT: case CV_NS:
        if (a.kind == CV_NS) return a.u.dict == b.u.dict;
        if (a.u.dict->n != b.u.dict->n) return false;
        for (size_t i = 0; i < a.u.dict->n; i++) {
            const chat_value *o = chat_dict_get(b.u.dict, a.u.dict->k[i].u.str.s, a.u.dict->k[i].u.str.n);
            if (!o || !equal(a.u.dict->v[i], *o, depth + 1)) return false;
        }
        return true;
    case CV_FUNC: return a.u.fn.id == b.u.fn.id && a.u.fn.self == b.u.fn.self && a.u.fn.macro == b.u.fn.macro;
    default: return false;
    }
}

/* <0, 0, >0; sets an error for types Python does not order */
static int order(ev *E, chat_value a, chat_value b, int depth) {
    if (is_num(a) && is_num(b)) {
        if (a.kind == CV_FLOAT || b.kind == CV_FLOAT) {
            double x = num_f(a), y = num_f(b);
            return x < y ? -1 : x > y ? 1 : 0;
        }
        int64_t x = num_i(a), y = num_i(b);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.kind == CV_STR && b.kind == CV_STR) {
        size_t m = a.u.str.n < b.u.str.n ? a.u.str.n : b.u.str.n;
        int c = memcmp(a.u.str.s, b.u.str.s, m);
        return c ? c : (a.u.str.n < b.u.str.n ? -1 : a.u.str.n > b.u.str.n ? 1 : 0);
    }
    if (a.kind == CV_LIST && b.kind == CV_LIST && depth < CHAT_MAX_DEPTH) {
        for (size_t i = 0; i < a.u.list->n && i < b.u.list->n; i++) {
            if (!equal(a.u.list->v[i], b.u.list->v[i], 0)) return order(E, a.u.list->v[i], b.u.list->v[i], depth + 1);
        }
        return a.u.list->n < b.u.list->n ? -1 : a.u.list->n > b.u.list->n ? 1 : 0;
    }
    everr(E, MLXC_ERR_INVALID_ARGUMENT, "'<' not supported between %s and %s", kind_name(a), kind_name(b));
    return 0;
}

static bool contains(ev *E, chat_value hay, chat_value x) {
    switch (hay.kind) {
    case CV_STR:
        if (x.kind != CV_STR) {
            everr(E, MLXC_ERR_INVALID_ARGUMENT, "'in <string>' needs a string on the left, not %s", kind_name(x));
            return false;
        }
        if (!charge(E, hay.u.str.n)) return false;
        return find_bytes(hay.u.str.s, hay.u.str.n, 0, x.u.str.s, x.u.str.n) + x.u.str.n <= hay.u.str.n;
    case CV_LIST:
        if (!charge(E, hay.u.list->n)) return false;
        for (size_t i = 0; i < hay.u.list->n; i++)
            if (equal(hay.u.list->v[i], x, 0)) return true;
        return false;
    case CV_DICT: case CV_NS:
        if (!charge(E, hay.u.dict->n)) return false;
        return x.kind == CV_STR && chat_dict_get(hay.u.dict, x.u.str.s, x.u.str.n) != NULL;
    case CV_UNDEF: return false;
    default:
        everr(E, MLXC_ERR_INVALID_ARGUMENT, "argument of type %s is not iterable", kind_name(hay));
        return false;
    }
}

/* ---- iteration --------------------------------------------------------------------------------- */

static size_t utf8_len(const char *s, size_t n, size_t i) {
    unsigned char c = (unsigned char)s[i];
    size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    return i + k <= n ? k : n - i;
}

/* The items a for loop (or a filter) walks: a list as it is, a dict's keys,
 * a string's characters, nothing for undefined. */
static chat_value as_list(ev *E, chat_value v) {
    if (v.kind == CV_LIST) return v;
    if (v.kind == CV_UNDEF) return newlist(E);
    if (!charge(E, v.kind == CV_STR ? v.u.str.n : v.kind == CV_DICT ? v.u.dict->n : 0)) return UNDEF;
    chat_value l = newlist(E);
    if (E->err) return UNDEF;
    if (v.kind == CV_DICT) {
        for (size_t i = 0; i < v.u.dict->n; i++) push(E, l, v.u.dict->k[i]);
        return l;
    }
    if (v.kind == CV_STR) {
        for (size_t i = 0; i < v.u.str.n;) {
            size_t k = utf8_len(v.u.str.s, v.u.str.n, i);
            push(E, l, mkstr(v.u.str.s + i, k));
            i += k;
        }
        return l;
    }
    everr(E, MLXC_ERR_INVALID_ARGUMENT, "'%s' object is not iterable", kind_name(v));
    return UNDEF;
}

/* ---- scopes -------------------------------------------------------------------------------------- */

static const chat_value *lookup(ev *E, const char *s, size_t n) {
    for (scope *sc = E->sc; sc; sc = sc->parent) {
        const chat_value *v = chat_dict_get(&sc->vars, s, n);
        if (v) return v;
    }
    return NULL;
}

static chat_value global_fn(const char *s, size_t n) {
    static const struct { const char *name; int id; } g[] = {
        {"range", F_RANGE}, {"namespace", F_NAMESPACE}, {"dict", F_DICT},
        {"raise_exception", F_RAISE}, {"strftime_now", F_STRFTIME}, {NULL, 0}};
    for (int i = 0; g[i].name; i++)
        if (strlen(g[i].name) == n && memcmp(g[i].name, s, n) == 0) {
            chat_value v = {.kind = CV_FUNC};
            v.u.fn.id = g[i].id;
            return v;
        }
    return UNDEF;
}

/* ---- evaluation ---------------------------------------------------------------------------------- */

static chat_value eval(ev *E, const chat_node *n);
static void exec_body(ev *E, const chat_node *body);

static bool step(ev *E) {
    if (E->err) return false;
    if (++E->steps > E->max_steps) {
        everr(E, MLXC_ERR_OUT_OF_RANGE, "rendering takes more than %llu steps", (unsigned long long)E->max_steps);
        return false;
    }
    return true;
}

static bool emit(ev *E, const char *s, size_t n) {
    outbuf *o = E->out;
    if (E->err) return false;
    if (o->n + n > E->max_out) {
        everr(E, MLXC_ERR_OUT_OF_RANGE, "the rendered text exceeds %zu bytes", E->max_out);
        return false;
    }
    if (o->n + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->n + n + 1) cap *= 2;
        char *ns = realloc(o->s, cap);
        if (!ns) {
            everr(E, MLXC_ERR_OUT_OF_MEMORY, "out of memory");
            return false;
        }
        o->s = ns;
        o->cap = cap;
    }
    memcpy(o->s + o->n, s, n);
    o->n += n;
    o->s[o->n] = 0;
    return true;
}

static bool name_is(const char *s, size_t n, const char *lit) { return strlen(lit) == n && memcmp(s, lit, n) == 0; }

static chat_value method(ev *E, chat_value self, int id) {
    chat_value *p = ealloc(E, sizeof *p);
    if (!p) return UNDEF;
    *p = self;
    chat_value v = {.kind = CV_FUNC};
    v.u.fn.id = id;
    v.u.fn.self = p;
    return v;
}

static chat_value get_attr(ev *E, chat_value obj, const char *s, size_t n) {
    if (obj.kind == CV_UNDEF) {
        everr(E, MLXC_ERR_INVALID_ARGUMENT, "'%.*s' of an undefined value", (int)(n > 64 ? 64 : n), s);
        return UNDEF;
    }
    if (obj.kind == CV_STR) {
        static const struct { const char *name; int id; } m[] = {
            {"strip", F_S_STRIP}, {"lstrip", F_S_LSTRIP}, {"rstrip", F_S_RSTRIP}, {"split", F_S_SPLIT},
            {"startswith", F_S_STARTSWITH}, {"endswith", F_S_ENDSWITH}, {"upper", F_S_UPPER}, {"lower", F_S_LOWER},
            {"replace", F_S_REPLACE}, {"title", F_S_TITLE}, {"capitalize", F_S_CAPITALIZE}, {"join", F_S_JOIN},
            {"find", F_S_FIND}, {"count", F_S_COUNT}, {NULL, 0}};
        for (int i = 0; m[i].name; i++)
            if (name_is(s, n, m[i].name)) return method(E, obj, m[i].id);
        return UNDEF;
    }
    if (obj.kind == CV_DICT) {
        static const struct { const char *name; int id; } m[] = {
            {"items", F_D_ITEMS}, {"keys", F_D_KEYS}, {"values", F_D_VALUES}, {"get", F_D_GET}, {NULL, 0}};
        for (int i = 0; m[i].name; i++)
            if (name_is(s, n, m[i].name)) return method(E, obj, m[i].id);
    }
    if (obj.kind == CV_DICT || obj.kind == CV_NS) {
        const chat_value *v = chat_dict_get(obj.u.dict, s, n);
        return v ? *v : UNDEF;
    }
    return UNDEF;
}

static int64_t clampi(int64_t i, int64_t len) {
    if (i < 0) i += len;
    return i < 0 ? 0 : i > len ? len : i;
}

static chat_value get_item(ev *E, chat_value obj, chat_value key) {
    if (obj.kind == CV_UNDEF) {
        everr(E, MLXC_ERR_INVALID_ARGUMENT, "subscript of an undefined value");
        return UNDEF;
    }
    if ((obj.kind == CV_LIST || obj.kind == CV_STR) && (key.kind == CV_INT || key.kind == CV_BOOL)) {
        int64_t len = obj.kind == CV_LIST ? (int64_t)obj.u.list->n : (int64_t)obj.u.str.n;
        int64_t i = num_i(key);
        if (i < 0) i += len;
        if (i < 0 || i >= len) return UNDEF;
        if (obj.kind == CV_LIST) return obj.u.list->v[i];
        /* a string indexes by character */
        chat_value chars = as_list(E, obj);
        if (E->err) return UNDEF;
        int64_t cl = (int64_t)chars.u.list->n, ci = num_i(key);
        if (ci < 0) ci += cl;
        return ci >= 0 && ci < cl ? chars.u.list->v[ci] : UNDEF;
    }
    if ((obj.kind == CV_DICT || obj.kind == CV_NS) && key.kind == CV_STR) {
        const chat_value *v = chat_dict_get(obj.u.dict, key.u.str.s, key.u.str.n);
        if (v) return *v;
        return get_attr(E, obj, key.u.str.s, key.u.str.n);
    }
    if (key.kind == CV_STR) return get_attr(E, obj, key.u.str.s, key.u.str.n);
    return UNDEF;
}

static chat_value slice(ev *E, chat_value obj, const chat_node *n) {
    chat_value parts[3] = {UNDEF, UNDEF, UNDEF};
    const chat_node *pn[3] = {n->b, n->c, n->d};
    for (int i = 0; i < 3; i++) {
        if (!pn[i]) continue;
        parts[i] = eval(E, pn[i]);
        if (E->err) return UNDEF;
        if (parts[i].kind == CV_NONE) parts[i] = UNDEF;
        else if (parts[i].kind != CV_INT && parts[i].kind != CV_BOOL) {
            everr(E, MLXC_ERR_INVALID_ARGUMENT, "slice indices must be integers, not %s", kind_name(parts[i]));
            return UNDEF;
        }
    }
    if (obj.kind == CV_UNDEF) {
        everr(E, MLXC_ERR_INVALID_ARGUMENT, "slice of an undefined value");
        return UNDEF;
    }
    bool is_str = obj.kind == CV_STR;
    chat_value items = is_str ? as_list(E, obj) : obj.kind == CV_LIST ? obj : UNDEF;
    if (E->err) return UNDEF;
    if (items.kind != CV_LIST) return UNDEF;   /* Jinja: a failed subscript is undefined */
    int64_t len = (int64_t)items.u.list->n;
    int64_t stepv = parts[2].kind == CV_UNDEF ? 1 : num_i(parts[2]);
    if (stepv == 0) {
        everr(E, MLXC_ERR_INVALID_ARGUMENT, "slice step cannot be zero");
        return UNDEF;
    }
    int64_t start, stop;
    if (stepv > 0) {
        start = parts[0].kind == CV_UNDEF ? 0 : clampi(num_i(parts[0]), len);
        stop = parts[1].kind == CV_UNDEF ? len : clampi(num_i(parts[1]), len);
    } else {
        if (parts[0].kind == CV_UNDEF) start = len - 1;
        else {
            start = num_i(parts[0]);
            if (start < 0) start += len;
            if (start < 0) start = -1;
            if (start >= len) start = len - 1;
        }
        if (parts[1].kind == CV_UNDEF) stop = -1;
        else {
            stop = num_i(parts[1]);
            if (stop < 0) stop += len;
            if (stop < 0) stop = -1;
            if (stop >= len) stop = len - 1;
        }
    }
    chat_value out = newlist(E);
    if (E->err) return UNDEF;
    out.u.list->tuple = items.u.list->tuple;
    sb b = {0};
    for (int64_t i = start; stepv > 0 ? i < stop : i > stop; i += stepv) {
        if (is_str) sb_put(E, &b, items.u.list->v[i].u.str.s, items.u.list->v[i].u.str.n);
        else push(E, out, items.u.list->v[i]);
        if (E->err) return UNDEF;
    }
    return is_str ? sb_value(&b) : out;
}

/* ---- calls ------------------------------------------------------------------------------------- */

static bool eval_args(ev *E, const chat_node *n, args *a) {
    memset(a, 0, sizeof *a);
    if (!n->nkids) return true;
    a->v = ealloc(E, n->nkids * sizeof *a->v);
    a->kv = ealloc(E, n->nkids * sizeof *a->kv);
    a->kn = ealloc(E, n->nkids * sizeof *a->kn);
    a->kl = ealloc(E, n->nkids * sizeof *a->kl);
    if (E->err) return false;
    for (size_t i = 0; i < n->nkids; i++) {
        const chat_node *k = n->kids[i];
        if (k->kind == CN_KWARG) {
            a->kn[a->nk] = k->s;
            a->kl[a->nk] = k->n;
            a->kv[a->nk++] = eval(E, k->a);
        } else {
            a->v[a->n++] = eval(E, k);
        }
        if (E->err) return false;
    }
    return true;
}

/* argument i, or the keyword `name`, or undefined */
static chat_value arg(const args *a, size_t i, const char *name) {
    if (i < a->n) return a->v[i];
    for (size_t k = 0; name && k < a->nk; k++)
        if (name_is(a->kn[k], a->kl[k], name)) return a->kv[k];
    return UNDEF;
}

static bool want_str(ev *E, chat_value v, const char *what) {
    if (v.kind == CV_STR) return true;
    everr(E, MLXC_ERR_INVALID_ARGUMENT, "%s must be a string, not %s", what, kind_name(v));
    return false;
}

static bool in_set(char c, chat_value chars) {
    if (chars.kind != CV_STR) return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    return memchr(chars.u.str.s, c, chars.u.str.n) != NULL;
}

static chat_value strip(chat_value s, chat_value chars, bool left, bool right) {
    size_t a = 0, b = s.u.str.n;
    if (left)
        while (a < b && in_set(s.u.str.s[a], chars)) a++;
    if (right)
        while (b > a && in_set(s.u.str.s[b - 1], chars)) b--;
    return mkstr(s.u.str.s + a, b - a);
}

/* ASCII case changes.  mode 0 lower, 1 upper, 2 str.title() (a word starts
 * after any non-letter), 3 capitalize, 4 Jinja's title filter (a word starts
 * after whitespace, '-', '(', '{', '[' or '<'). */
static chat_value change_case(ev *E, chat_value s, int mode) {
    char *o = ealloc(E, s.u.str.n + 1);
    if (!o) return UNDEF;
    bool start = true;
    for (size_t i = 0; i < s.u.str.n; i++) {
        char c = s.u.str.s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool up = mode == 1 || ((mode == 2 || mode == 4) && start) || (mode == 3 && i == 0);
        if (up && c >= 'a' && c <= 'z') c = (char)(c - 32);
        else if (!up && mode != 1 && c >= 'A' && c <= 'Z') c = (char)(c + 32);
        o[i] = c;
        if (mode == 2) start = !alpha && !((unsigned char)c >= 0x80);
        if (mode == 4) start = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || c == ' ' || c == '\t' ||
                               c == '\n' || c == '\r' || c == '\f' || c == '\v';
    }
    return mkstr(o, s.u.str.n);
}

static chat_value replace(ev *E, chat_value s, chat_value from, chat_value to, int64_t count) {
    if (!want_str(E, from, "replace's first argument") || !want_str(E, to, "replace's second argument")) return UNDEF;
    sb b = {0};
    size_t i = 0;
    int64_t done = 0;
    if (from.u.str.n == 0) {   /* Python inserts `to` around every character */
        for (; i <= s.u.str.n; ) {
            if (count < 0 || done < count) { sb_put(E, &b, to.u.str.s, to.u.str.n); done++; }
            if (i == s.u.str.n) break;
            size_t k = utf8_len(s.u.str.s, s.u.str.n, i);
            sb_put(E, &b, s.u.str.s + i, k);
            i += k;
            if (E->err) return UNDEF;
        }
        return sb_value(&b);
    }
    while (i < s.u.str.n) {
        size_t at = count >= 0 && done >= count ? s.u.str.n
                  : find_bytes(s.u.str.s, s.u.str.n, i, from.u.str.s, from.u.str.n);
        if (at + from.u.str.n > s.u.str.n) at = s.u.str.n;
        sb_put(E, &b, s.u.str.s + i, at - i);
        if (at == s.u.str.n) break;
        sb_put(E, &b, to.u.str.s, to.u.str.n);
        i = at + from.u.str.n;
        done++;
        if (E->err) return UNDEF;
    }
    if (!b.s) return mkstr("", 0);
    return sb_value(&b);
}

static chat_value join(ev *E, chat_value items, chat_value sep, chat_value attr) {
    chat_value l = as_list(E, items);
    if (E->err) return UNDEF;
    sb b = {0};
    sb_put(E, &b, "", 0);
    for (size_t i = 0; i < l.u.list->n; i++) {
        if (i && sep.kind == CV_STR) sb_put(E, &b, sep.u.str.s, sep.u.str.n);
        chat_value x = l.u.list->v[i];
        if (attr.kind == CV_STR) x = get_item(E, x, attr);
        put_str(E, &b, x, 0);
        if (E->err) return UNDEF;
    }
    return sb_value(&b);
}

static chat_value split(ev *E, chat_value s, chat_value sep, chat_value maxsplit) {
    chat_value out = newlist(E);
    if (E->err) return UNDEF;
    int64_t max = maxsplit.kind == CV_INT ? maxsplit.u.i : -1, done = 0;
    const char *p = s.u.str.s;
    size_t n = s.u.str.n;
    if (sep.kind == CV_UNDEF || sep.kind == CV_NONE) {   /* runs of whitespace, none empty */
        size_t i = 0;
        while (i < n) {
            while (i < n && in_set(p[i], UNDEF)) i++;
            if (i >= n) break;
            if (max >= 0 && done >= max) {
                size_t e = n;
                while (e > i && in_set(p[e - 1], UNDEF)) e--;
                push(E, out, mkstr(p + i, e - i));
                break;
            }
            size_t j = i;
            while (j < n && !in_set(p[j], UNDEF)) j++;
            push(E, out, mkstr(p + i, j - i));
            done++;
            i = j;
            if (E->err) return UNDEF;
        }
        return out;
    }
    if (!want_str(E, sep, "split's separator")) return UNDEF;
    if (sep.u.str.n == 0) {
        everr(E, MLXC_ERR_INVALID_ARGUMENT, "empty separator");
        return UNDEF;
    }
    if (!charge(E, n)) return UNDEF;
    size_t last = 0;
    while (max < 0 || done < max) {
        size_t at = find_bytes(p, n, last, sep.u.str.s, sep.u.str.n);
        if (at + sep.u.str.n > n) break;
        push(E, out, mkstr(p + last, at - last));
        last = at + sep.u.str.n;
        done++;
        if (E->err) return UNDEF;
    }
    push(E, out, mkstr(p + last, n - last));
    return out;
}

static chat_value dict_items(ev *E, chat_value d) {
    chat_value out = newlist(E);
    for (size_t i = 0; !E->err && i < d.u.dict->n; i++) {
        chat_value pair = newlist(E);
        if (E->err) return UNDEF;
        pair.u.list->tuple = true;
        push(E, pair, d.u.dict->k[i]);
        push(E, pair, d.u.dict->v[i]);
        push(E, out, pair);
    }
    return E->err ? UNDEF : out;
}

static chat_value call_macro(ev *E, const chat_node *m, const args *a);

static chat_value call(ev *E, chat_value f, const args *a) {
    if (f.kind != CV_FUNC) {
        everr(E, MLXC_ERR_INVALID_ARGUMENT, "'%s' object is not callable", kind_name(f));
        return UNDEF;
    }
    chat_value self = f.u.fn.self ? *f.u.fn.self : UNDEF;
    switch (f.u.fn.id) {
    case F_RANGE: {
        chat_value x = arg(a, 0, NULL), y = arg(a, 1, NULL), z = arg(a, 2, NULL);
        int64_t start = 0, stop, st = 1;
        if (!is_num(x) || (y.kind != CV_UNDEF && !is_num(y)) || (z.kind != CV_UNDEF && !is_num(z)) ||
            x.kind == CV_FLOAT || y.kind == CV_FLOAT || z.kind == CV_FLOAT) {
            everr(E, MLXC_ERR_INVALID_ARGUMENT, "range() takes integers");
            return UNDEF;
        }
        if (y.kind == CV_UNDEF) stop = num_i(x);
        else { start = num_i(x); stop = num_i(y); }
        if (z.kind != CV_UNDEF) st = num_i(z);
        if (st == 0) {
            everr(E, MLXC_ERR_INVALID_ARGUMENT, "range() step must not be zero");
            return UNDEF;
        }
        double count = ((double)stop - (double)start) / (double)st;
        if (count > 1e6) {
            everr(E, MLXC_ERR_OUT_OF_RANGE, "range() of more than a million items");
            return UNDEF;
        }
        chat_value out = newlist(E);
        for (int64_t i = start; st > 0 ? i < stop : i > stop; i += st) {
            if (!step(E) || !push(E, out, mkint(i))) return UNDEF;
            if ((st > 0 && i > INT64_MAX - st) || (st < 0 && i < INT64_MIN - st)) break;
        }
        return out;
    }
    case F_NAMESPACE: case F_DICT: {
        chat_value ns = newdict(E, f.u.fn.id == F_NAMESPACE ? CV_NS : CV_DICT);
        if (E->err) return UNDEF;
        for (size_t i = 0; i < a->n; i++) {   /* namespace(d) / dict(d) copies a mapping */
            chat_value d = a->v[i];
            if (d.kind != CV_DICT && d.kind != CV_NS) {
                everr(E, MLXC_ERR_INVALID_ARGUMENT, "%s() takes a mapping or keywords", f.u.fn.id == F_DICT ? "dict" : "namespace");
                return UNDEF;
            }
            for (size_t k = 0; k < d.u.dict->n; k++)
                dset(E, ns.u.dict, d.u.dict->k[k].u.str.s, d.u.dict->k[k].u.str.n, d.u.dict->v[k]);
        }
        for (size_t i = 0; i < a->nk; i++) dset(E, ns.u.dict, a->kn[i], a->kl[i], a->kv[i]);
        return E->err ? UNDEF : ns;
    }
    case F_RAISE: {
        chat_value m = to_str(E, arg(a, 0, NULL));
        if (E->err) return UNDEF;
        everr(E, MLXC_ERR_INVALID_ARGUMENT, "%.*s", (int)(m.u.str.n > 256 ? 256 : m.u.str.n), m.u.str.s);
        return UNDEF;
    }
    case F_STRFTIME: {
        chat_value fmt = arg(a, 0, NULL);
        if (!want_str(E, fmt, "strftime_now's format")) return UNDEF;
        char fbuf[128], obuf[256];
        size_t fl = fmt.u.str.n < sizeof fbuf - 1 ? fmt.u.str.n : sizeof fbuf - 1;
        memcpy(fbuf, fmt.u.str.s, fl);
        fbuf[fl] = 0;
        time_t now = time(NULL);
        struct tm tmv;
        localtime_r(&now, &tmv);
        size_t k = strftime(obuf, sizeof obuf, fbuf, &tmv);
        chat_value s = chat_str(E->ar, obuf, k);
        if (s.kind == CV_UNDEF) oom(E);
        return s;
    }
    case F_MACRO: return call_macro(E, f.u.fn.macro, a);
    case F_S_STRIP: case F_S_LSTRIP: case F_S_RSTRIP: {
        chat_value chars = arg(a, 0, "chars");
        if (chars.kind != CV_UNDEF && chars.kind != CV_NONE && !want_str(E, chars, "strip's argument")) return UNDEF;
        return strip(self, chars, f.u.fn.id != F_S_RSTRIP, f.u.fn.id != F_S_LSTRIP);
    }
    case F_S_SPLIT: return split(E, self, arg(a, 0, "sep"), arg(a, 1, "maxsplit"));
    case F_S_STARTSWITH: case F_S_ENDSWITH: {
        chat_value p = arg(a, 0, NULL);
        chat_value cands = p.kind == CV_LIST ? p : UNDEF;
        size_t nc = cands.kind == CV_LIST ? cands.u.list->n : 1;
        for (size_t i = 0; i < nc; i++) {
            chat_value x = cands.kind == CV_LIST ? cands.u.list->v[i] : p;
            if (!want_str(E, x, "startswith/endswith's argument")) return UNDEF;
            if (x.u.str.n > self.u.str.n) continue;
            const char *at = f.u.fn.id == F_S_STARTSWITH ? self.u.str.s : self.u.str.s + self.u.str.n - x.u.str.n;
            if (memcmp(at, x.u.str.s, x.u.str.n) == 0) return mkbool(true);
        }
        return mkbool(false);
    }
    case F_S_UPPER: return change_case(E, self, 1);
    case F_S_LOWER: return change_case(E, self, 0);
    case F_S_TITLE: return change_case(E, self, 2);
    case F_S_CAPITALIZE: return change_case(E, self, 3);
    case F_S_REPLACE: {
        chat_value c = arg(a, 2, "count");
        return replace(E, self, arg(a, 0, "old"), arg(a, 1, "new"), c.kind == CV_INT ? c.u.i : -1);
    }
    case F_S_JOIN: return join(E, arg(a, 0, NULL), self, UNDEF);
    case F_S_FIND: case F_S_COUNT: {
        chat_value x = arg(a, 0, NULL);
        if (!want_str(E, x, "the argument")) return UNDEF;
        if (!charge(E, self.u.str.n)) return UNDEF;
        int64_t cnt = 0;
        for (size_t i = 0; i + x.u.str.n <= self.u.str.n;) {
            size_t at = find_bytes(self.u.str.s, self.u.str.n, i, x.u.str.s, x.u.str.n);
            if (at + x.u.str.n > self.u.str.n) break;
            if (f.u.fn.id == F_S_FIND) {   /* Python counts characters, not bytes */
                int64_t ch = 0;
                for (size_t k = 0; k < at; k += utf8_len(self.u.str.s, self.u.str.n, k)) ch++;
                return mkint(ch);
            }
            cnt++;
            if (x.u.str.n == 0 && at == self.u.str.n) break;
            i = at + (x.u.str.n ? x.u.str.n : 1);
        }
        if (x.u.str.n == 0 && f.u.fn.id == F_S_COUNT) cnt = (int64_t)self.u.str.n + 1;   /* Python: len + 1 */
        return mkint(f.u.fn.id == F_S_FIND ? -1 : cnt);
    }
    case F_D_ITEMS: return dict_items(E, self);
    case F_D_KEYS: case F_D_VALUES: {
        chat_value out = newlist(E);
        for (size_t i = 0; !E->err && i < self.u.dict->n; i++)
            push(E, out, f.u.fn.id == F_D_KEYS ? self.u.dict->k[i] : self.u.dict->v[i]);
        return E->err ? UNDEF : out;
    }
    case F_D_GET: {
        chat_value k = arg(a, 0, NULL);
        const chat_value *v = k.kind == CV_STR ? chat_dict_get(self.u.dict, k.u.str.s, k.u.str.n) : NULL;
        if (v) return *v;
        chat_value d = arg(a, 1, "default");
        return d.kind == CV_UNDEF ? (chat_value){.kind = CV_NONE} : d;
    }
    }
    everr(E, MLXC_ERR_INTERNAL, "unknown function");
    return UNDEF;
}

/* ---- tests -------------------------------------------------------------------------------------- */

static bool test(ev *E, chat_value v, const char *s, size_t n, const args *a) {
#define T(name) name_is(s, n, name)
    if (T("defined")) return v.kind != CV_UNDEF;
    if (T("undefined")) return v.kind == CV_UNDEF;
    if (T("none")) return v.kind == CV_NONE;
    if (T("string")) return v.kind == CV_STR;
    if (T("number")) return is_num(v);   /* Python counts a bool as a number, not as an integer */
    if (T("integer")) return v.kind == CV_INT;
    if (T("float")) return v.kind == CV_FLOAT;
    if (T("boolean")) return v.kind == CV_BOOL;
    if (T("true")) return v.kind == CV_BOOL && v.u.b;
    if (T("false")) return v.kind == CV_BOOL && !v.u.b;
    if (T("mapping")) return v.kind == CV_DICT;
    if (T("iterable")) return v.kind == CV_LIST || v.kind == CV_DICT || v.kind == CV_STR || v.kind == CV_UNDEF;
    if (T("sequence")) return v.kind == CV_LIST || v.kind == CV_DICT || v.kind == CV_STR;
    if (T("callable")) return v.kind == CV_FUNC;
    if (T("lower") || T("upper")) {
        if (v.kind != CV_STR) return false;
        bool any = false;
        for (size_t i = 0; i < v.u.str.n; i++) {
            char c = v.u.str.s[i];
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
                any = true;
                if ((c >= 'a' && c <= 'z') != T("lower")) return false;
            }
        }
        return any;
    }
    if (T("odd") || T("even") || T("divisibleby")) {
        if (!is_num(v)) {
            everr(E, MLXC_ERR_INVALID_ARGUMENT, "test '%.*s' needs a number", (int)n, s);
            return false;
        }
        if (v.kind == CV_FLOAT) {   /* Python: x % 2 == 1 */
            double r = fmod(v.u.f, 2.0);
            if (r < 0) r += 2.0;
            if (T("odd")) return r == 1.0;
            if (T("even")) return r == 0.0;
        }
        int64_t x = num_i(v);
        if (T("odd")) return x % 2 != 0;
        if (T("even")) return x % 2 == 0;
        chat_value d = arg(a, 0, "num");
        if (d.kind != CV_INT || d.u.i == 0) {
            everr(E, MLXC_ERR_INVALID_ARGUMENT, "divisibleby needs a non-zero integer");
            return false;
        }
        return d.u.i == -1 ? true : x % d.u.i == 0;
    }
    chat_value o = arg(a, 0, NULL);
    if (T("equalto") || T("eq") || T("==") || T("sameas")) return equal(v, o, 0);
    if (T("ne") || T("!=")) return !equal(v, o, 0);
    if (T("lt") || T("lessthan")) return order(E, v, o, 0) < 0;
    if (T("le")) return order(E, v, o, 0) <= 0;
    if (T("gt") || T("greaterthan")) return order(E, v, o, 0) > 0;
    if (T("ge")) return order(E, v, o, 0) >= 0;
    if (T("in")) return contains(E, o, v);
#undef T
    everr(E, MLXC_ERR_UNSUPPORTED, "unknown test '%.*s'", (int)(n > 64 ? 64 : n), s);
    return false;
}

/* ---- filters ------------------------------------------------------------------------------------ */

static chat_value filter(ev *E, chat_value v, const char *s, size_t n, const args *a);

/* select/reject/selectattr/rejectattr: keep the items whose test (by name,
 * default truthiness) passes, or fails */
static chat_value select_items(ev *E, chat_value v, const args *a, bool attr, bool keep) {
    chat_value l = truthy(v) ? as_list(E, v) : newlist(E);   /* Jinja walks only a true value */
    if (E->err) return UNDEF;
    size_t first = attr ? 1 : 0;
    chat_value an = attr ? arg(a, 0, NULL) : UNDEF;
    if (attr && !want_str(E, an, "the attribute name")) return UNDEF;
    chat_value tn = arg(a, first, NULL);
    if (tn.kind != CV_UNDEF && !want_str(E, tn, "the test name")) return UNDEF;
    args ta = {0};
    if (a->n > first + 1) {
        ta.n = a->n - first - 1;
        ta.v = a->v + first + 1;
    }
    chat_value out = newlist(E);
    for (size_t i = 0; !E->err && i < l.u.list->n; i++) {
        chat_value x = l.u.list->v[i];
        chat_value y = attr ? get_item(E, x, an) : x;
        if (E->err) return UNDEF;
        bool ok = tn.kind == CV_UNDEF ? truthy(y) : test(E, y, tn.u.str.s, tn.u.str.n, &ta);
        if (ok == keep) push(E, out, x);
    }
    return E->err ? UNDEF : out;
}

static chat_value filter(ev *E, chat_value v, const char *s, size_t n, const args *a) {
#define F(name) name_is(s, n, name)
    if (F("safe") || F("e") || F("escape") || F("forceescape")) {
        if (F("safe")) return v;
        /* HTML escaping, as markupsafe */
        chat_value t = to_str(E, v);
        sb b = {0};
        sb_put(E, &b, "", 0);
        for (size_t i = 0; i < t.u.str.n; i++) {
            char c = t.u.str.s[i];
            const char *r = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '"' ? "&#34;" : c == '\'' ? "&#39;" : NULL;
            if (r) sb_puts(E, &b, r);
            else sb_put(E, &b, &c, 1);
        }
        return E->err ? UNDEF : sb_value(&b);
    }
    if (F("default") || F("d")) {
        chat_value d = arg(a, 0, "default_value");
        bool boolean = truthy(arg(a, 1, "boolean"));
        if (v.kind == CV_UNDEF || (boolean && !truthy(v))) return d.kind == CV_UNDEF ? mkstr("", 0) : d;
        return v;
    }
    /* undefined reads as "" to the string filters and as nothing to the
     * sequence ones, as in Jinja; the rest refuse it */
    if (v.kind == CV_UNDEF && (F("tojson") || F("items") || F("abs") || F("int") || F("float") || F("indent") || F("dictsort") || F("reverse") ||
                               F("unique") || F("select") || F("reject") || F("selectattr") || F("rejectattr") ||
                               F("map"))) {
        everr(E, MLXC_ERR_INVALID_ARGUMENT, "filter '%.*s' of an undefined value", (int)(n > 64 ? 64 : n), s);
        return UNDEF;
    }
    if (F("trim")) {
        chat_value t = to_str(E, v);
        chat_value chars = arg(a, 0, "chars");
        return E->err ? UNDEF : strip(t, chars.kind == CV_STR ? chars : UNDEF, true, true);
    }
    if (F("length") || F("count")) {
        if (v.kind == CV_STR) {
            int64_t k = 0;
            for (size_t i = 0; i < v.u.str.n; i += utf8_len(v.u.str.s, v.u.str.n, i)) k++;
            return mkint(k);
        }
        if (v.kind == CV_LIST) return mkint((int64_t)v.u.list->n);
        if (v.kind == CV_DICT || v.kind == CV_NS) return mkint((int64_t)v.u.dict->n);
        if (v.kind == CV_UNDEF) return mkint(0);
        everr(E, MLXC_ERR_INVALID_ARGUMENT, "object of type %s has no len()", kind_name(v));
        return UNDEF;
    }
    if (F("tojson")) {
        chat_value ind = arg(a, 0, "indent");
        if (ind.kind != CV_UNDEF && ind.kind != CV_NONE && ind.kind != CV_INT) {
            everr(E, MLXC_ERR_UNSUPPORTED, "tojson indent must be an integer");
            return UNDEF;
        }
        int indent = ind.kind == CV_INT ? (int)(ind.u.i < 0 ? 0 : ind.u.i > 64 ? 64 : ind.u.i) : -1;
        sb b = {0};
        put_json(E, &b, v, indent, truthy(arg(a, 99, "sort_keys")), 0);
        return E->err ? UNDEF : sb_value(&b);
    }
    if (F("upper") || F("lower") || F("title") || F("capitalize")) {
        chat_value t = to_str(E, v);
        if (E->err) return UNDEF;
        return change_case(E, t, F("lower") ? 0 : F("upper") ? 1 : F("title") ? 4 : 3);
    }
    if (F("string")) return to_str(E, v);
    if (F("join")) return join(E, v, arg(a, 0, "d").kind == CV_UNDEF ? mkstr("", 0) : to_str(E, arg(a, 0, "d")), arg(a, 1, "attribute"));
    if (F("first") || F("last")) {
        chat_value l = as_list(E, v);
        if (E->err || l.u.list->n == 0) return UNDEF;
        return F("first") ? l.u.list->v[0] : l.u.list->v[l.u.list->n - 1];
    }
    if (F("list")) return as_list(E, v);
    if (F("items")) {
        if (v.kind != CV_DICT && v.kind != CV_NS) {
            everr(E, MLXC_ERR_INVALID_ARGUMENT, "items of a %s", kind_name(v));
            return UNDEF;
        }
        return dict_items(E, v);
    }
    if (F("reverse")) {
        if (v.kind == CV_STR) {
            chat_value l = as_list(E, v);
            sb b = {0};
            sb_put(E, &b, "", 0);
            for (size_t i = l.u.list->n; !E->err && i > 0; i--) sb_put(E, &b, l.u.list->v[i - 1].u.str.s, l.u.list->v[i - 1].u.str.n);
            return E->err ? UNDEF : sb_value(&b);
        }
        chat_value l = as_list(E, v), out = newlist(E);
        for (size_t i = l.kind == CV_LIST ? l.u.list->n : 0; !E->err && i > 0; i--) push(E, out, l.u.list->v[i - 1]);
        return E->err ? UNDEF : out;
    }
    if (F("unique")) {
        chat_value l = as_list(E, v), out = newlist(E);
        for (size_t i = 0; !E->err && i < l.u.list->n; i++)
            if (!contains(E, out, l.u.list->v[i])) push(E, out, l.u.list->v[i]);
        return E->err ? UNDEF : out;
    }
    if (F("int")) {
        if (v.kind == CV_INT) return v;
        if (v.kind == CV_BOOL) return mkint(v.u.b);
        if (v.kind == CV_FLOAT) return mkint(isfinite(v.u.f) && fabs(v.u.f) < 9e18 ? (int64_t)v.u.f : 0);
        if (v.kind == CV_STR) {
            char buf[32];
            size_t k = v.u.str.n < sizeof buf - 1 ? v.u.str.n : sizeof buf - 1;
            memcpy(buf, v.u.str.s, k);
            buf[k] = 0;
            char *e;
            long long x = strtoll(buf, &e, 10);
            return mkint(*e == 0 && k ? x : num_i(arg(a, 0, "default")));
        }
        return mkint(0);
    }
    if (F("float")) {
        if (is_num(v)) return mkfloat(num_f(v));
        if (v.kind == CV_STR) {
            char buf[64];
            size_t k = v.u.str.n < sizeof buf - 1 ? v.u.str.n : sizeof buf - 1;
            memcpy(buf, v.u.str.s, k);
            buf[k] = 0;
            char *e;
            double x = strtod(buf, &e);
            return mkfloat(*e == 0 && k ? x : 0.0);
        }
        return mkfloat(0);
    }
    if (F("abs")) {
        if (v.kind == CV_INT) return mkint(v.u.i < 0 && v.u.i != INT64_MIN ? -v.u.i : v.u.i);
        if (v.kind == CV_FLOAT) return mkfloat(fabs(v.u.f));
        if (v.kind == CV_BOOL) return mkint(v.u.b);
    }
    if (F("replace")) {
        chat_value t = to_str(E, v);
        chat_value c = arg(a, 2, "count");
        return E->err ? UNDEF : replace(E, t, arg(a, 0, "old"), arg(a, 1, "new"), c.kind == CV_INT ? c.u.i : -1);
    }
    if (F("select") || F("reject")) return select_items(E, v, a, false, F("select"));
    if (F("selectattr") || F("rejectattr")) return select_items(E, v, a, true, F("selectattr"));
    if (F("map")) {
        chat_value l = truthy(v) ? as_list(E, v) : newlist(E), out = newlist(E);
        if (E->err) return UNDEF;
        chat_value at = arg(a, 99, "attribute");
        if (at.kind == CV_STR) {
            chat_value d = arg(a, 99, "default");
            for (size_t i = 0; !E->err && i < l.u.list->n; i++) {
                chat_value y = get_item(E, l.u.list->v[i], at);
                push(E, out, y.kind == CV_UNDEF && d.kind != CV_UNDEF ? d : y);
            }
            return E->err ? UNDEF : out;
        }
        chat_value fname = arg(a, 0, NULL);
        if (!want_str(E, fname, "map's filter name")) return UNDEF;
        args fa = {0};
        if (a->n > 1) {
            fa.n = a->n - 1;
            fa.v = a->v + 1;
        }
        for (size_t i = 0; !E->err && i < l.u.list->n; i++)
            push(E, out, filter(E, l.u.list->v[i], fname.u.str.s, fname.u.str.n, &fa));
        return E->err ? UNDEF : out;
    }
    if (F("indent")) {
        if (v.kind != CV_STR) {
            everr(E, MLXC_ERR_INVALID_ARGUMENT, "indent of a %s", kind_name(v));
            return UNDEF;
        }
        chat_value t = v, w = arg(a, 0, "width");
        bool first = truthy(arg(a, 1, "first")), blank = truthy(arg(a, 2, "blank"));
        chat_value pad = w.kind == CV_STR ? w : UNDEF;
        int64_t width = w.kind == CV_INT ? (w.u.i < 0 ? 0 : w.u.i > 256 ? 256 : w.u.i) : 4;
        sb b = {0};
        sb_put(E, &b, "", 0);
        bool line_start = true;
        for (size_t i = 0; !E->err && i < t.u.str.n; i++) {
            if (line_start && (i > 0 || first)) {
                bool empty = t.u.str.s[i] == '\n';
                if (!empty || blank) {
                    if (pad.kind == CV_STR) sb_put(E, &b, pad.u.str.s, pad.u.str.n);
                    else for (int64_t k = 0; k < width; k++) sb_put(E, &b, " ", 1);
                }
            }
            sb_put(E, &b, t.u.str.s + i, 1);
            line_start = t.u.str.s[i] == '\n';
        }
        return E->err ? UNDEF : sb_value(&b);
    }
    if (F("wordcount")) {
        chat_value t = to_str(E, v);
        int64_t k = 0;
        bool in = false;
        for (size_t i = 0; i < t.u.str.n; i++) {
            char c = t.u.str.s[i];
            bool w = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || (unsigned char)c >= 0x80;
            if (w && !in) k++;
            in = w;
        }
        return mkint(k);
    }
    if (F("dictsort")) {
        if (v.kind != CV_DICT) {
            everr(E, MLXC_ERR_INVALID_ARGUMENT, "dictsort of a %s", kind_name(v));
            return UNDEF;
        }
        chat_value items = dict_items(E, v);
        if (E->err) return UNDEF;
        chat_list *l = items.u.list;
        for (size_t i = 1; i < l->n; i++) {
            chat_value x = l->v[i];
            size_t j = i;
            while (j > 0 && order(E, l->v[j - 1].u.list->v[0], x.u.list->v[0], 0) > 0) {
                l->v[j] = l->v[j - 1];
                j--;
            }
            l->v[j] = x;
        }
        return E->err ? UNDEF : items;
    }
#undef F
    everr(E, MLXC_ERR_UNSUPPORTED, "unknown filter '%.*s'", (int)(n > 64 ? 64 : n), s);
    return UNDEF;
}

/* ---- operators ---------------------------------------------------------------------------------- */

/* str % args: Python's printf-style formatting, the conversions templates
 * use (%s, %d, %i, %r, %%); args is a tuple or one value. */
static chat_value percent_format(ev *E, chat_value fmt, chat_value y) {
    bool tuple = y.kind == CV_LIST && y.u.list->tuple;
    size_t nargs = tuple ? y.u.list->n : 1, used = 0;
    sb b = {0};
    sb_put(E, &b, "", 0);
    const char *s = fmt.u.str.s;
    size_t n = fmt.u.str.n;
    for (size_t i = 0; i < n && !E->err; i++) {
        if (s[i] != '%') {
            sb_put(E, &b, s + i, 1);
            continue;
        }
        if (++i >= n) {
            everr(E, MLXC_ERR_INVALID_ARGUMENT, "incomplete format");
            return UNDEF;
        }
        if (s[i] == '%') {
            sb_put(E, &b, "%", 1);
            continue;
        }
        if (s[i] != 's' && s[i] != 'd' && s[i] != 'i' && s[i] != 'r') {
            everr(E, MLXC_ERR_UNSUPPORTED, "format conversion '%%%c' is not supported", s[i]);
            return UNDEF;
        }
        if (used >= nargs) {
            everr(E, MLXC_ERR_INVALID_ARGUMENT, "not enough arguments for format string");
            return UNDEF;
        }
        chat_value a = tuple ? y.u.list->v[used] : y;
        used++;
        if (s[i] == 's') put_str(E, &b, a, 0);
        else if (s[i] == 'r') put_repr(E, &b, a, 0);
        else if (is_num(a)) {
            char num[32];
            double f = num_f(a);
            snprintf(num, sizeof num, "%lld", a.kind == CV_FLOAT ? (long long)(isfinite(f) && fabs(f) < 9e18 ? f : 0) : (long long)num_i(a));
            sb_puts(E, &b, num);
        } else {
            everr(E, MLXC_ERR_INVALID_ARGUMENT, "%%d format: a number is required, not %s", kind_name(a));
            return UNDEF;
        }
    }
    /* Python: leftover arguments are an error unless the argument is a
     * mapping (which, to CPython, a list is too) */
    bool mapping = y.kind == CV_DICT || (y.kind == CV_LIST && !tuple);
    if (!E->err && used < nargs && !mapping) {
        everr(E, MLXC_ERR_INVALID_ARGUMENT, "not all arguments converted during string formatting");
        return UNDEF;
    }
    return E->err ? UNDEF : sb_value(&b);
}

static chat_value repeat(ev *E, chat_value seq, int64_t k) {
    if (seq.kind == CV_STR) {
        sb b = {0};
        sb_put(E, &b, "", 0);
        for (int64_t i = 0; i < k && !E->err; i++) sb_put(E, &b, seq.u.str.s, seq.u.str.n);   /* sb_put bounds it */
        return E->err ? UNDEF : sb_value(&b);
    }
    chat_value out = newlist(E);
    for (int64_t i = 0; i < k && !E->err; i++) {
        if (!step(E)) break;
        for (size_t j = 0; j < seq.u.list->n && !E->err; j++) push(E, out, seq.u.list->v[j]);
    }
    return E->err ? UNDEF : out;
}

static chat_value binop(ev *E, int op, chat_value x, chat_value y) {
    if (op == OP_CONCAT) {
        chat_value a = to_str(E, x), b = to_str(E, y);
        sb s = {0};
        sb_put(E, &s, a.u.str.s, a.u.str.n);
        sb_put(E, &s, b.u.str.s, b.u.str.n);
        return E->err ? UNDEF : sb_value(&s);
    }
    if (op == OP_EQ) return mkbool(equal(x, y, 0));
    if (op == OP_NE) return mkbool(!equal(x, y, 0));
    if (op == OP_IN) return mkbool(contains(E, y, x));
    if (op == OP_NOTIN) return mkbool(!contains(E, y, x));
    if (op == OP_LT || op == OP_LE || op == OP_GT || op == OP_GE) {
        int c = order(E, x, y, 0);
        return mkbool(op == OP_LT ? c < 0 : op == OP_LE ? c <= 0 : op == OP_GT ? c > 0 : c >= 0);
    }
    if (x.kind == CV_UNDEF || y.kind == CV_UNDEF) {
        everr(E, MLXC_ERR_INVALID_ARGUMENT, "arithmetic with an undefined value");
        return UNDEF;
    }
    if (op == OP_MOD && x.kind == CV_STR) return percent_format(E, x, y);
    if (op == OP_ADD && x.kind == CV_STR && y.kind == CV_STR) {
        sb s = {0};
        sb_put(E, &s, x.u.str.s, x.u.str.n);
        sb_put(E, &s, y.u.str.s, y.u.str.n);
        return E->err ? UNDEF : sb_value(&s);
    }
    if (op == OP_ADD && x.kind == CV_LIST && y.kind == CV_LIST) {
        chat_value out = newlist(E);
        for (size_t i = 0; !E->err && i < x.u.list->n; i++) push(E, out, x.u.list->v[i]);
        for (size_t i = 0; !E->err && i < y.u.list->n; i++) push(E, out, y.u.list->v[i]);
        return E->err ? UNDEF : out;
    }
    /* sequence * count repeats it (a bool counts as 0 or 1, as in Python) */
    bool xi = x.kind == CV_INT || x.kind == CV_BOOL, yi = y.kind == CV_INT || y.kind == CV_BOOL;
    if (op == OP_MUL && ((x.kind == CV_STR || x.kind == CV_LIST) && yi)) return repeat(E, x, num_i(y));
    if (op == OP_MUL && ((y.kind == CV_STR || y.kind == CV_LIST) && xi)) return repeat(E, y, num_i(x));
    if (!is_num(x) || !is_num(y)) {
        static const char *const names[] = {"", "+", "-", "*", "/", "//", "%", "**"};
        everr(E, MLXC_ERR_INVALID_ARGUMENT, "unsupported operand types for %s: %s and %s",
              op >= OP_ADD && op <= OP_POW ? names[op] : "?", kind_name(x), kind_name(y));
        return UNDEF;
    }
    bool fl = x.kind == CV_FLOAT || y.kind == CV_FLOAT || op == OP_DIV;
    if (op == OP_POW && !fl && num_i(y) < 0) fl = true;
    if (fl) {
        double a = num_f(x), b = num_f(y);
        if ((op == OP_DIV || op == OP_FLOORDIV || op == OP_MOD) && b == 0) {
            everr(E, MLXC_ERR_INVALID_ARGUMENT, "division by zero");
            return UNDEF;
        }
        switch (op) {
        case OP_ADD: return mkfloat(a + b);
        case OP_SUB: return mkfloat(a - b);
        case OP_MUL: return mkfloat(a * b);
        case OP_DIV: return mkfloat(a / b);
        case OP_FLOORDIV: return mkfloat(floor(a / b));
        case OP_MOD: { double r = fmod(a, b); if (r != 0 && ((r < 0) != (b < 0))) r += b; return mkfloat(r); }
        case OP_POW: return mkfloat(pow(a, b));
        }
    }
    int64_t a = num_i(x), b = num_i(y), r = 0;
    switch (op) {
    case OP_ADD: if (__builtin_add_overflow(a, b, &r)) goto overflow; return mkint(r);
    case OP_SUB: if (__builtin_sub_overflow(a, b, &r)) goto overflow; return mkint(r);
    case OP_MUL: if (__builtin_mul_overflow(a, b, &r)) goto overflow; return mkint(r);
    case OP_FLOORDIV: case OP_MOD: {
        if (b == 0) {
            everr(E, MLXC_ERR_INVALID_ARGUMENT, "integer division or modulo by zero");
            return UNDEF;
        }
        if (a == INT64_MIN && b == -1) goto overflow;
        int64_t q = a / b, m = a % b;
        if (m != 0 && ((m < 0) != (b < 0))) { q--; m += b; }
        return mkint(op == OP_MOD ? m : q);
    }
    case OP_POW: {
        int64_t res = 1;
        for (int64_t i = 0; i < b; i++)
            if (__builtin_mul_overflow(res, a, &res)) goto overflow;
        return mkint(res);
    }
    }
overflow:
    everr(E, MLXC_ERR_UNSUPPORTED, "integer overflow");
    return UNDEF;
}

/* ---- expressions -------------------------------------------------------------------------------- */

static chat_value eval_node(ev *E, const chat_node *n);

/* Left-deep chains (a + b + c ..., x | f | g ...) are as deep as they are
 * long: the depth is bounded here, not only in the parser. */
static chat_value eval(ev *E, const chat_node *n) {
    if (!step(E)) return UNDEF;
    if (++E->depth > 4 * CHAT_MAX_DEPTH) {
        everr(E, MLXC_ERR_OUT_OF_RANGE, "expressions nested deeper than %d levels", 4 * CHAT_MAX_DEPTH);
        E->depth--;
        return UNDEF;
    }
    chat_value r = eval_node(E, n);
    E->depth--;
    return r;
}

static chat_value eval_node(ev *E, const chat_node *n) {
    switch (n->kind) {
    case CN_LIT: return n->lit;
    case CN_NAME: {
        const chat_value *v = lookup(E, n->s, n->n);
        if (v) return *v;
        if (name_is(n->s, n->n, "true") || name_is(n->s, n->n, "True")) return mkbool(true);
        return global_fn(n->s, n->n);
    }
    case CN_ATTR: {
        chat_value o = eval(E, n->a);
        if (E->err) return UNDEF;
        return get_attr(E, o, n->s, n->n);
    }
    case CN_INDEX: {
        chat_value o = eval(E, n->a);
        chat_value k = E->err ? UNDEF : eval(E, n->b);
        if (E->err) return UNDEF;
        return get_item(E, o, k);
    }
    case CN_SLICE: {
        chat_value o = eval(E, n->a);
        if (E->err) return UNDEF;
        return slice(E, o, n);
    }
    case CN_CALL: {
        chat_value f = eval(E, n->a);
        args a;
        if (E->err || !eval_args(E, n, &a)) return UNDEF;
        if (++E->depth > 4 * CHAT_MAX_DEPTH) {
            everr(E, MLXC_ERR_OUT_OF_RANGE, "calls nested deeper than %d levels", 4 * CHAT_MAX_DEPTH);
            return UNDEF;
        }
        chat_value r = call(E, f, &a);
        E->depth--;
        return r;
    }
    case CN_FILTER: {
        chat_value v = eval(E, n->a);
        args a;
        if (E->err || !eval_args(E, n, &a)) return UNDEF;
        return filter(E, v, n->s, n->n, &a);
    }
    case CN_TEST: {
        chat_value v = eval(E, n->a);
        args a;
        if (E->err || !eval_args(E, n, &a)) return UNDEF;
        bool r = test(E, v, n->s, n->n, &a);
        return mkbool(n->op ? !r : r);
    }
    case CN_BINOP: {
        chat_value x = eval(E, n->a);
        chat_value y = E->err ? UNDEF : eval(E, n->b);
        if (E->err) return UNDEF;
        return binop(E, n->op, x, y);
    }
    case CN_UNARY: {
        chat_value x = eval(E, n->a);
        if (E->err) return UNDEF;
        if (!is_num(x)) {
            everr(E, MLXC_ERR_INVALID_ARGUMENT, "bad operand type for unary %c: %s", n->op == OP_NEG ? '-' : '+', kind_name(x));
            return UNDEF;
        }
        if (n->op == OP_POS) return x.kind == CV_BOOL ? mkint(x.u.b) : x;
        if (x.kind == CV_FLOAT) return mkfloat(-x.u.f);
        if (num_i(x) == INT64_MIN) {
            everr(E, MLXC_ERR_UNSUPPORTED, "integer overflow");
            return UNDEF;
        }
        return mkint(-num_i(x));
    }
    case CN_AND: {
        chat_value x = eval(E, n->a);
        if (E->err || !truthy(x)) return x;
        return eval(E, n->b);
    }
    case CN_OR: {
        chat_value x = eval(E, n->a);
        if (E->err || truthy(x)) return x;
        return eval(E, n->b);
    }
    case CN_NOT: {
        chat_value x = eval(E, n->a);
        return E->err ? UNDEF : mkbool(!truthy(x));
    }
    case CN_COND: {
        chat_value c = eval(E, n->a);
        if (E->err) return UNDEF;
        if (truthy(c)) return eval(E, n->b);
        return n->c ? eval(E, n->c) : UNDEF;
    }
    case CN_LISTLIT: {
        chat_value l = newlist(E);
        if (!E->err) l.u.list->tuple = n->op == 1;
        for (size_t i = 0; !E->err && i < n->nkids; i++) {
            chat_value x = eval(E, n->kids[i]);
            push(E, l, x);
        }
        return E->err ? UNDEF : l;
    }
    case CN_DICTLIT: {
        chat_value d = newdict(E, CV_DICT);
        for (size_t i = 0; !E->err && i + 1 < n->nkids; i += 2) {
            chat_value k = eval(E, n->kids[i]);
            chat_value v = E->err ? UNDEF : eval(E, n->kids[i + 1]);
            if (E->err) break;
            if (k.kind != CV_STR) {
                everr(E, MLXC_ERR_UNSUPPORTED, "dict keys must be strings here, not %s", kind_name(k));
                break;
            }
            dset(E, d.u.dict, k.u.str.s, k.u.str.n, v);
        }
        return E->err ? UNDEF : d;
    }
    default:
        everr(E, MLXC_ERR_INTERNAL, "not an expression");
        return UNDEF;
    }
}

/* ---- statements --------------------------------------------------------------------------------- */

static bool push_scope(ev *E) {
    scope *s = ealloc(E, sizeof *s);
    if (!s) return false;
    s->parent = E->sc;
    E->sc = s;
    return true;
}

/* Render `body` into a string of its own (set blocks, macros). */
static chat_value capture(ev *E, const chat_node *body) {
    outbuf o = {0}, *saved = E->out;
    E->out = &o;
    exec_body(E, body);
    E->out = saved;
    chat_value r = UNDEF;
    if (!E->err) {
        r = chat_str(E->ar, o.s ? o.s : "", o.n);
        if (r.kind == CV_UNDEF) oom(E);
    }
    free(o.s);
    return r;
}

static chat_value call_macro(ev *E, const chat_node *m, const args *a) {
    scope *saved = E->sc;
    E->sc = E->top;
    if (!push_scope(E)) {
        E->sc = saved;
        return UNDEF;
    }
    size_t pos = 0;
    for (size_t i = 0; i < m->nkids && !E->err; i++) {
        const chat_node *p = m->kids[i];
        chat_value v = UNDEF;
        bool found = false;
        for (size_t k = 0; k < a->nk; k++)
            if (a->kl[k] == p->n && memcmp(a->kn[k], p->s, p->n) == 0) {
                v = a->kv[k];
                found = true;
            }
        if (!found && pos < a->n) {
            v = a->v[pos++];
            found = true;
        }
        if (!found && p->kind == CN_KWARG) v = eval(E, p->a);
        dset(E, &E->sc->vars, p->s, p->n, v);
    }
    chat_value r = E->err ? UNDEF : capture(E, m->b);
    E->sc = saved;
    return r;
}

static void exec_for(ev *E, const chat_node *n) {
    chat_value it = eval(E, n->a);
    if (E->err) return;
    if (it.kind == CV_NONE) {
        everr(E, MLXC_ERR_INVALID_ARGUMENT, "'NoneType' object is not iterable");
        return;
    }
    chat_value items = as_list(E, it);
    if (E->err) return;
    scope *saved = E->sc;
    /* the loop filter runs before the loop: loop.length counts what passes */
    if (n->d) {
        chat_value kept = newlist(E);
        for (size_t i = 0; !E->err && i < items.u.list->n; i++) {
            if (!push_scope(E)) break;
            chat_value x = items.u.list->v[i];
            if (n->nkids == 1) dset(E, &E->sc->vars, n->kids[0]->s, n->kids[0]->n, x);
            else if (x.kind == CV_LIST && x.u.list->n == 2) {
                dset(E, &E->sc->vars, n->kids[0]->s, n->kids[0]->n, x.u.list->v[0]);
                dset(E, &E->sc->vars, n->kids[1]->s, n->kids[1]->n, x.u.list->v[1]);
            }
            chat_value c = eval(E, n->d);
            E->sc = saved;
            if (!E->err && truthy(c)) push(E, kept, x);
        }
        if (E->err) return;
        items = kept;
    }
    size_t len = items.u.list->n;
    for (size_t i = 0; i < len && !E->err; i++) {
        if (!push_scope(E)) break;
        chat_value x = items.u.list->v[i];
        if (n->nkids == 1) {
            dset(E, &E->sc->vars, n->kids[0]->s, n->kids[0]->n, x);
        } else {
            chat_value pair = x.kind == CV_LIST ? x : as_list(E, x);
            if (E->err) break;
            if (pair.u.list->n != 2) {
                everr(E, MLXC_ERR_INVALID_ARGUMENT, "cannot unpack %zu values into 2 loop variables", pair.u.list->n);
                break;
            }
            dset(E, &E->sc->vars, n->kids[0]->s, n->kids[0]->n, pair.u.list->v[0]);
            dset(E, &E->sc->vars, n->kids[1]->s, n->kids[1]->n, pair.u.list->v[1]);
        }
        chat_value loop = newdict(E, CV_DICT);
        if (E->err) break;
        chat_dict *d = loop.u.dict;
        dset(E, d, "index", 5, mkint((int64_t)i + 1));
        dset(E, d, "index0", 6, mkint((int64_t)i));
        dset(E, d, "revindex", 8, mkint((int64_t)(len - i)));
        dset(E, d, "revindex0", 9, mkint((int64_t)(len - i - 1)));
        dset(E, d, "first", 5, mkbool(i == 0));
        dset(E, d, "last", 4, mkbool(i + 1 == len));
        dset(E, d, "length", 6, mkint((int64_t)len));
        dset(E, d, "previtem", 8, i > 0 ? items.u.list->v[i - 1] : UNDEF);
        dset(E, d, "nextitem", 8, i + 1 < len ? items.u.list->v[i + 1] : UNDEF);
        dset(E, &E->sc->vars, "loop", 4, loop);
        exec_body(E, n->b);
        E->sc = saved;
        if (E->brk == 1) {
            E->brk = 0;
            break;
        }
        E->brk = 0;
    }
    E->sc = saved;
    if (!E->err && len == 0 && n->c) exec_body(E, n->c);
}

static void exec_body(ev *E, const chat_node *body) {
    if (++E->depth > 4 * CHAT_MAX_DEPTH) {
        everr(E, MLXC_ERR_OUT_OF_RANGE, "blocks nested deeper than %d levels", 4 * CHAT_MAX_DEPTH);
        return;
    }
    for (size_t i = 0; i < body->nkids && !E->err && !E->brk; i++) {
        const chat_node *n = body->kids[i];
        if (!step(E)) break;
        switch (n->kind) {
        case CN_TEXT: emit(E, n->s, n->n); break;
        case CN_OUTPUT: {
            chat_value v = eval(E, n->a);
            if (E->err) break;
            if (v.kind == CV_STR) emit(E, v.u.str.s, v.u.str.n);
            else {
                sb b = {0};
                put_str(E, &b, v, 0);
                if (b.n) emit(E, b.s, b.n);
            }
            break;
        }
        case CN_IF: {
            chat_value c = eval(E, n->a);
            if (E->err) break;
            if (truthy(c)) exec_body(E, n->b);
            else if (n->c) {
                if (n->c->kind == CN_IF) {
                    chat_node wrap = {.kind = CN_BODY, .kids = (chat_node **)&n->c, .nkids = 1};
                    exec_body(E, &wrap);
                } else {
                    exec_body(E, n->c);
                }
            }
            break;
        }
        case CN_FOR: exec_for(E, n); break;
        case CN_SET: {
            chat_value v = eval(E, n->a);
            if (E->err) break;
            if (n->s2) {
                const chat_value *o = lookup(E, n->s, n->n);
                if (!o || o->kind != CV_NS) {
                    everr(E, MLXC_ERR_INVALID_ARGUMENT, "cannot assign attribute on '%.*s', not a namespace",
                          (int)(n->n > 64 ? 64 : n->n), n->s);
                    break;
                }
                dset(E, o->u.dict, n->s2, n->n2, v);
            } else {
                dset(E, &E->sc->vars, n->s, n->n, v);
            }
            break;
        }
        case CN_SET_BLOCK: {
            chat_value v = capture(E, n->b);
            if (!E->err) dset(E, &E->sc->vars, n->s, n->n, v);
            break;
        }
        case CN_MACRO: {
            chat_value f = {.kind = CV_FUNC};
            f.u.fn.id = F_MACRO;
            f.u.fn.macro = n;
            dset(E, &E->sc->vars, n->s, n->n, f);
            break;
        }
        case CN_BREAK: E->brk = 1; break;
        case CN_CONTINUE: E->brk = 2; break;
        case CN_BODY: exec_body(E, n); break;
        default: everr(E, MLXC_ERR_INTERNAL, "not a statement"); break;
        }
    }
    E->depth--;
}

mlxc_status chat_render(const mlxc_chat_template *t, chat_arena *ar, const chat_value *vars,
                        const mlxc_chat_options *opt, char **text, size_t *len) {
    outbuf o = {0};
    ev E = {.ar = ar, .out = &o};
    E.max_out = opt && opt->max_output ? opt->max_output : (size_t)64 << 20;
    E.max_steps = opt && opt->max_steps ? opt->max_steps : 10000000ull;
    scope globals = {0}, top = {0};
    if (vars && vars->kind == CV_DICT) globals.vars = *vars->u.dict;
    top.parent = &globals;
    E.sc = E.top = &top;
    exec_body(&E, t->root);
    if (E.err) {
        free(o.s);
        return E.err;
    }
    if (!o.s) {
        o.s = malloc(1);
        if (!o.s) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "chat template: out of memory");
        o.s[0] = 0;
    }
    *text = o.s;
    if (len) *len = o.n;
    return MLXC_OK;
}
