/*
 * Chat templates, the public face: parsing and freeing, rendering from
 * messages (C structs or JSON), and finding a model's template text in its
 * files.  JSON values become template values here, so the interpreter
 * itself (chat_parse.c, chat_eval.c) never sees jansson.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tokenizer/chat_internal.h"

#define DEFAULT_MAX_MEMORY ((size_t)512 << 20)
#define MAX_FILE_BYTES     ((size_t)256 << 20)

mlxc_status mlxc_chat_template_parse(const char *src, size_t len, mlxc_chat_template **out) {
    MLXC_CHECK_ARG(out && (src || !len), "mlxc_chat_template_parse: NULL argument");
    *out = NULL;
    mlxc_chat_template *t = calloc(1, sizeof *t);
    if (!t) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "chat template: out of memory");
    /* the tree is a few times the text at most; the limit only stops a runaway */
    t->arena.limit = len * 64 + ((size_t)16 << 20);
    mlxc_status st = chat_parse(t, src ? src : "", len);
    if (st) {
        mlxc_chat_template_free(t);
        return st;
    }
    *out = t;
    return MLXC_OK;
}

void mlxc_chat_template_free(mlxc_chat_template *t) {
    if (!t) return;
    chat_arena_free(&t->arena);
    free(t);
}

/* ---- values from JSON ---------------------------------------------------------------------- */

static bool from_json(chat_arena *ar, json_t *j, chat_value *out, int depth) {
    memset(out, 0, sizeof *out);
    if (depth > CHAT_MAX_DEPTH) return false;
    switch (json_typeof(j)) {
    case JSON_NULL: out->kind = CV_NONE; return true;
    case JSON_TRUE: case JSON_FALSE: out->kind = CV_BOOL; out->u.b = json_is_true(j); return true;
    case JSON_INTEGER: out->kind = CV_INT; out->u.i = json_integer_value(j); return true;
    case JSON_REAL: out->kind = CV_FLOAT; out->u.f = json_real_value(j); return true;
    case JSON_STRING:
        *out = chat_str(ar, json_string_value(j), json_string_length(j));
        return out->kind == CV_STR;
    case JSON_ARRAY: {
        chat_list *l = chat_alloc(ar, sizeof *l);
        if (!l) return false;
        for (size_t i = 0; i < json_array_size(j); i++) {
            chat_value v;
            if (!from_json(ar, json_array_get(j, i), &v, depth + 1) || !chat_list_push(ar, l, v)) return false;
        }
        out->kind = CV_LIST;
        out->u.list = l;
        return true;
    }
    case JSON_OBJECT: {
        chat_dict *d = chat_alloc(ar, sizeof *d);
        if (!d) return false;
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            chat_value key = chat_str(ar, k, strlen(k)), val;
            if (key.kind != CV_STR || !from_json(ar, v, &val, depth + 1) || !chat_dict_set(ar, d, key, val)) return false;
        }
        out->kind = CV_DICT;
        out->u.dict = d;
        return true;
    }
    }
    return false;
}

static mlxc_status nomem(void) { return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "chat template: out of memory"); }

static bool set_var(chat_arena *ar, chat_dict *vars, const char *name, chat_value v) {
    chat_value k = chat_str(ar, name, strlen(name));
    return k.kind == CV_STR && chat_dict_set(ar, vars, k, v);
}

/* The variables every render has, then the messages. */
static mlxc_status render_with(const mlxc_chat_template *t, chat_arena *ar, chat_value messages,
                               const mlxc_chat_options *opt, char **text, size_t *len) {
    chat_dict *vars = chat_alloc(ar, sizeof *vars);
    if (!vars) return nomem();
    if (opt && opt->vars_json) {
        json_error_t je;
        json_t *j = json_loads(opt->vars_json, JSON_DECODE_ANY, &je);
        if (!j || !json_is_object(j)) {
            json_decref(j);
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "chat template: vars_json is not a JSON object%s%s",
                                  j ? "" : ": ", j ? "" : je.text);
        }
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            chat_value cv;
            if (!from_json(ar, v, &cv, 0) || !set_var(ar, vars, k, cv)) {
                json_decref(j);
                return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "chat template: vars_json too large or too deep");
            }
        }
        json_decref(j);
    }
    chat_value b = {.kind = CV_BOOL};
    b.u.b = opt && opt->add_generation_prompt;
    chat_value none = {.kind = CV_NONE};
    chat_value bos = opt && opt->bos_token ? chat_str(ar, opt->bos_token, strlen(opt->bos_token)) : none;
    chat_value eos = opt && opt->eos_token ? chat_str(ar, opt->eos_token, strlen(opt->eos_token)) : none;
    if (bos.kind == CV_UNDEF || eos.kind == CV_UNDEF || !set_var(ar, vars, "messages", messages) ||
        !set_var(ar, vars, "add_generation_prompt", b) || !set_var(ar, vars, "bos_token", bos) ||
        !set_var(ar, vars, "eos_token", eos))
        return nomem();
    chat_value vv = {.kind = CV_DICT};
    vv.u.dict = vars;
    return chat_render(t, ar, &vv, opt, text, len);
}

static void arena_init(chat_arena *ar, const mlxc_chat_options *opt) {
    memset(ar, 0, sizeof *ar);
    ar->limit = opt && opt->max_memory ? opt->max_memory : DEFAULT_MAX_MEMORY;
}

mlxc_status mlxc_chat_template_render(const mlxc_chat_template *t, const mlxc_chat_message *msgs, size_t n,
                                      const mlxc_chat_options *opt, char **text, size_t *len) {
    MLXC_CHECK_ARG(t && text && (msgs || !n), "mlxc_chat_template_render: NULL argument");
    *text = NULL;
    if (len) *len = 0;
    for (size_t i = 0; i < n; i++)
        MLXC_CHECK_ARG(msgs[i].role && msgs[i].content, "mlxc_chat_template_render: message %zu has a NULL field", i);
    chat_arena ar;
    arena_init(&ar, opt);
    mlxc_status st = MLXC_OK;
    chat_list *l = chat_alloc(&ar, sizeof *l);
    if (!l) st = nomem();
    for (size_t i = 0; !st && i < n; i++) {
        chat_dict *d = chat_alloc(&ar, sizeof *d);
        chat_value m = {.kind = CV_DICT};
        m.u.dict = d;
        if (!d || !set_var(&ar, d, "role", chat_str(&ar, msgs[i].role, strlen(msgs[i].role))) ||
            !set_var(&ar, d, "content", chat_str(&ar, msgs[i].content, strlen(msgs[i].content))) ||
            !chat_list_push(&ar, l, m))
            st = mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "chat template: the messages exceed the memory limit");
    }
    if (!st) {
        chat_value ms = {.kind = CV_LIST};
        ms.u.list = l;
        st = render_with(t, &ar, ms, opt, text, len);
    }
    chat_arena_free(&ar);
    return st;
}

mlxc_status mlxc_chat_template_render_json(const mlxc_chat_template *t, const char *json, size_t json_len,
                                           const mlxc_chat_options *opt, char **text, size_t *len) {
    MLXC_CHECK_ARG(t && text && json, "mlxc_chat_template_render_json: NULL argument");
    *text = NULL;
    if (len) *len = 0;
    json_error_t je;
    json_t *j = json_loadb(json, json_len, JSON_DECODE_ANY, &je);
    if (!j) return mlxc_set_error(MLXC_ERR_FORMAT, "chat template: messages: %s (line %d)", je.text, je.line);
    if (!json_is_array(j)) {
        json_decref(j);
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "chat template: messages must be a JSON array");
    }
    chat_arena ar;
    arena_init(&ar, opt);
    chat_value ms;
    mlxc_status st = from_json(&ar, j, &ms, 0) ? MLXC_OK
                   : mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "chat template: messages too large or too deep");
    json_decref(j);
    if (!st) st = render_with(t, &ar, ms, opt, text, len);
    chat_arena_free(&ar);
    return st;
}

/* ---- finding the template ---------------------------------------------------------------------- */

static mlxc_status read_all(const char *path, char **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return mlxc_set_error(errno == ENOENT ? MLXC_ERR_NOT_FOUND : MLXC_ERR_IO, "chat template: cannot open %s: %s",
                              path, strerror(errno));
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    mlxc_status st = b ? MLXC_OK : nomem();
    while (!st) {
        if (n + 1 >= cap) {
            if (cap >= MAX_FILE_BYTES) {
                st = mlxc_set_error(MLXC_ERR_FORMAT, "chat template: %s is larger than %zu bytes", path, MAX_FILE_BYTES);
                break;
            }
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                st = nomem();
                break;
            }
            b = nb;
            cap *= 2;
        }
        size_t k = fread(b + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0) {
            if (ferror(f)) st = mlxc_set_error(MLXC_ERR_IO, "chat template: cannot read %s", path);
            break;
        }
    }
    fclose(f);
    if (st) {
        free(b);
        return st;
    }
    b[n] = 0;
    *data = b;
    *len = n;
    return MLXC_OK;
}

static mlxc_status dup_out(const char *s, size_t n, char **text, size_t *len) {
    char *c = malloc(n + 1);
    if (!c) return nomem();
    memcpy(c, s, n);
    c[n] = 0;
    *text = c;
    if (len) *len = n;
    return MLXC_OK;
}

/* `chat_template` of a tokenizer_config.json / chat_template.json: a
 * string, or a list of {name, template} of which "default" is taken. */
static mlxc_status from_config(const char *path, char **text, size_t *len) {
    char *data;
    size_t n;
    mlxc_status st = read_all(path, &data, &n);
    if (st) return st;
    json_error_t je;
    json_t *j = json_loadb(data, n, 0, &je);
    free(data);
    if (!j) return mlxc_set_error(MLXC_ERR_FORMAT, "chat template: %s: %s (line %d)", path, je.text, je.line);
    json_t *ct = json_object_get(j, "chat_template");
    if (json_is_array(ct)) {
        json_t *pick = NULL;
        for (size_t i = 0; i < json_array_size(ct); i++) {
            json_t *e = json_array_get(ct, i);
            const char *nm = json_string_value(json_object_get(e, "name"));
            if (nm && strcmp(nm, "default") == 0) pick = json_object_get(e, "template");
        }
        ct = pick;
    }
    if (!json_is_string(ct)) {
        json_decref(j);
        return mlxc_set_error(MLXC_ERR_NOT_FOUND, "chat template: %s has no chat_template", path);
    }
    st = dup_out(json_string_value(ct), json_string_length(ct), text, len);
    json_decref(j);
    return st;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

mlxc_status mlxc_chat_template_read_gguf(const mlxc_gguf *g, char **text, size_t *len) {
    MLXC_CHECK_ARG(g && text, "mlxc_chat_template_read_gguf: NULL argument");
    *text = NULL;
    const char *s;
    size_t n;
    if (mlxc_gguf_get_string(g, "tokenizer.chat_template", &s, &n) != MLXC_OK)
        return mlxc_set_error(MLXC_ERR_NOT_FOUND, "chat template: the GGUF file has no tokenizer.chat_template");
    return dup_out(s, n, text, len);
}

mlxc_status mlxc_chat_template_read(const char *path, char **text, size_t *len) {
    MLXC_CHECK_ARG(path && text, "mlxc_chat_template_read: NULL argument");
    *text = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return mlxc_set_error(MLXC_ERR_NOT_FOUND, "chat template: %s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) {
        if (ends_with(path, ".gguf")) {
            mlxc_gguf *g;
            mlxc_status st = mlxc_gguf_open(path, &g);
            if (st) return st;
            st = mlxc_chat_template_read_gguf(g, text, len);
            mlxc_gguf_close(g);
            return st;
        }
        if (ends_with(path, ".json")) return from_config(path, text, len);
        size_t n;
        mlxc_status st = read_all(path, text, &n);
        if (!st && len) *len = n;
        return st;
    }
    size_t pl = strlen(path) + 32;
    char *p = malloc(pl);
    if (!p) return nomem();
    static const char *const names[] = {"chat_template.jinja", "chat_template.json", "tokenizer_config.json"};
    mlxc_status st = MLXC_ERR_NOT_FOUND;
    for (int i = 0; i < 3; i++) {
        snprintf(p, pl, "%s/%s", path, names[i]);
        if (stat(p, &sb) != 0) continue;
        if (i == 0) {
            size_t n;
            st = read_all(p, text, &n);
            if (!st && len) *len = n;
        } else {
            st = from_config(p, text, len);
        }
        if (st != MLXC_ERR_NOT_FOUND) break;
    }
    free(p);
    if (st == MLXC_ERR_NOT_FOUND)
        return mlxc_set_error(MLXC_ERR_NOT_FOUND, "chat template: %s has none (chat_template.jinja, "
                                                  "chat_template.json, tokenizer_config.json)", path);
    return st;
}
