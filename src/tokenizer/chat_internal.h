/*
 * The chat-template interpreter's shared description: an arena, the parse
 * tree (chat_parse.c builds it from the template text) and the values the
 * evaluator (chat_eval.c) computes with.  Everything a template or a render
 * allocates lives in one arena, freed at once: a hostile template cannot
 * leak, and a memory limit is one counter.
 */
#ifndef MLXC_TOKENIZER_CHAT_INTERNAL_H
#define MLXC_TOKENIZER_CHAT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "mlxc/chat.h"

/* Nesting of blocks, expressions and macro calls, in the parser and the
 * evaluator alike (real templates nest a dozen levels). */
#define CHAT_MAX_DEPTH 256

/* ---- arena ---------------------------------------------------------------------- */
typedef struct chat_block chat_block;
typedef struct chat_arena {
    chat_block *head;
    size_t      total, limit;   /* bytes taken, the most allowed               */
    bool        over;           /* an allocation was refused for the limit     */
} chat_arena;

void *chat_alloc(chat_arena *a, size_t n);      /* zeroed; NULL past the limit */
void  chat_arena_free(chat_arena *a);

/* ---- values ----------------------------------------------------------------------- */
typedef enum chat_kind {
    CV_UNDEF = 0, CV_NONE, CV_BOOL, CV_INT, CV_FLOAT, CV_STR, CV_LIST, CV_DICT,
    CV_NS,        /* namespace(): a dict whose attributes `set` may change       */
    CV_FUNC,      /* a global, a bound method or a macro                           */
} chat_kind;

typedef struct chat_list chat_list;
typedef struct chat_dict chat_dict;
typedef struct chat_node chat_node;

typedef struct chat_value {
    chat_kind kind;
    union {
        bool       b;
        int64_t    i;
        double     f;
        struct { const char *s; size_t n; } str;
        chat_list *list;
        chat_dict *dict;                          /* CV_DICT, CV_NS              */
        struct { int id; const struct chat_value *self; const chat_node *macro; } fn;
    } u;
} chat_value;

struct chat_list { size_t n, cap; chat_value *v; bool tuple; };   /* tuple: prints as (a, b) */
struct chat_dict { size_t n, cap; chat_value *k; chat_value *v; };   /* keys: strings */

/* ---- parse tree --------------------------------------------------------------------- */
typedef enum chat_node_kind {
    /* statements */
    CN_BODY,      /* kids: statements in order                                  */
    CN_TEXT,      /* s, n                                                       */
    CN_OUTPUT,    /* a: expression                                              */
    CN_IF,        /* a: condition, b: then body, c: else body (a CN_IF for elif) */
    CN_FOR,       /* kids: target names (1 or 2), a: iterable, b: body, c: else, d: filter */
    CN_SET,       /* s: name, (attr: obj name in s, member in s2), a: value    */
    CN_SET_BLOCK, /* s: name, b: body                                           */
    CN_BREAK, CN_CONTINUE,
    CN_MACRO,     /* s: name, kids: params (CN_NAME / CN_KWARG), b: body         */
    /* expressions */
    CN_LIT,       /* lit                                                        */
    CN_NAME,      /* s                                                          */
    CN_ATTR,      /* a . s                                                      */
    CN_INDEX,     /* a [ b ]                                                    */
    CN_SLICE,     /* a [ b : c : d ] (NULL parts left out)                       */
    CN_CALL,      /* a ( kids )                                                 */
    CN_FILTER,    /* a | s ( kids )                                             */
    CN_TEST,      /* a is [not] s ( kids ); op 1 when negated                   */
    CN_KWARG,     /* s = a                                                      */
    CN_BINOP,     /* a op b                                                     */
    CN_UNARY,     /* op a                                                       */
    CN_AND, CN_OR, CN_NOT,
    CN_COND,      /* b if a else c                                              */
    CN_LISTLIT,   /* kids                                                       */
    CN_DICTLIT,   /* kids: key, value, key, value ...                           */
} chat_node_kind;

enum {   /* CN_BINOP / CN_UNARY operators */
    OP_ADD = 1, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN, OP_NEG, OP_POS
};

struct chat_node {
    chat_node_kind kind;
    int            op;
    int            line;
    const char    *s, *s2;
    size_t         n, n2;
    chat_value     lit;
    chat_node     *a, *b, *c, *d;
    chat_node    **kids;
    size_t         nkids;
};

struct mlxc_chat_template {
    chat_arena arena;
    chat_node *root;     /* CN_BODY */
};

/* chat_parse.c: the tree of src[0..len) in t->arena. */
mlxc_status chat_parse(mlxc_chat_template *t, const char *src, size_t len);

/* chat_eval.c: render the tree with `vars` (a CV_DICT of the top-level
 * variables) into a new malloc'd string. */
mlxc_status chat_render(const mlxc_chat_template *t, chat_arena *ar, const chat_value *vars,
                        const mlxc_chat_options *opt, char **text, size_t *len);

/* helpers shared by the two */
chat_value chat_str(chat_arena *a, const char *s, size_t n);   /* copies; CV_UNDEF on no memory */
bool       chat_dict_set(chat_arena *a, chat_dict *d, chat_value key, chat_value v);
const chat_value *chat_dict_get(const chat_dict *d, const char *k, size_t n);
bool       chat_list_push(chat_arena *a, chat_list *l, chat_value v);

#endif /* MLXC_TOKENIZER_CHAT_INTERNAL_H */
