/* The sub-commands' option parser (tools/opt.h). */
#include "opt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_usage_error(const cli_cmd *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mlxc %s: ", c->name);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n%s", c->usage);
    return 2;
}

/* Index of s[0..n) in a '|'-separated list, or -1. */
static int list_index(const char *list, const char *s, size_t n) {
    int i = 0;
    for (const char *p = list; *p; i++) {
        const char *e = strchr(p, '|');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && memcmp(p, s, n) == 0) return i;
        if (!e) break;
        p = e + 1;
    }
    return -1;
}

static const cli_opt *find(const cli_cmd *c, const char *a, size_t n) {
    for (const cli_opt *o = c->opts; o && o->names; o++)
        if (list_index(o->names, a, n) >= 0) return o;
    return NULL;
}

static bool set_value(const cli_opt *o, const char *v) {
    char *end;
    errno = 0;
    switch (o->kind) {
    case CLI_FLAG: return false;
    case CLI_STRING: *(const char **)o->dst = v; return true;
    case CLI_INT: {
        long x = strtol(v, &end, 10);
        if (!*v || *end || errno || x < o->lo || x > o->hi) return false;
        *(long *)o->dst = x;
        return true;
    }
    case CLI_FLOAT: {
        double x = strtod(v, &end);
        if (!*v || *end || errno || !isfinite(x)) return false;
        *(float *)o->dst = (float)x;
        return true;
    }
    case CLI_U64: {
        if (!*v || *v == '-' || *v == '+') return false;
        unsigned long long x = strtoull(v, &end, 10);
        if (*end || errno) return false;
        *(uint64_t *)o->dst = x;
        return true;
    }
    case CLI_CHOICE: {
        int i = list_index(o->choices, v, strlen(v));
        if (i < 0) return false;
        *(int *)o->dst = i;
        return true;
    }
    }
    return false;
}

int cli_parse(cli_cmd *c, int argc, char **argv) {
    c->n_operands = 0;
    bool options = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
            fputs(c->usage, stdout);
            return 0;
        }
        if (options && !strcmp(a, "--")) { options = false; continue; }
        if (!options || a[0] != '-' || a[1] == 0) {   /* "-" alone is an operand (stdin) */
            if (c->n_operands >= c->max_operands)
                return c->max_operands ? cli_usage_error(c, "unexpected argument '%s'", a)
                                       : cli_usage_error(c, "takes no argument ('%s')", a);
            c->operands[c->n_operands++] = a;
            continue;
        }
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        const cli_opt *o = find(c, a, n);
        if (!o) return cli_usage_error(c, "unknown option '%.*s'", (int)n, a);
        if (o->kind == CLI_FLAG) {
            if (eq) return cli_usage_error(c, "%.*s takes no value", (int)n, a);
            *(bool *)o->dst = true;
            continue;
        }
        const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!v) return cli_usage_error(c, "%s needs a value", a);
        if (!set_value(o, v)) {
            if (o->kind == CLI_CHOICE)
                return cli_usage_error(c, "bad value '%s' for %.*s (one of %s)", v, (int)n, a, o->choices);
            if (o->kind == CLI_INT)
                return cli_usage_error(c, "bad value '%s' for %.*s (an integer in [%ld, %ld])", v, (int)n, a, o->lo, o->hi);
            return cli_usage_error(c, "bad value '%s' for %.*s", v, (int)n, a);
        }
    }
    return -1;
}
