/*
 * mlxc/chat.h — a model's chat template: the Jinja program that turns a
 * conversation into the prompt text the model was trained on.
 *
 * Instruct models ship their template as text: GGUF metadata
 * `tokenizer.chat_template`, `chat_template` in a Hugging Face
 * tokenizer_config.json, or a chat_template.jinja / chat_template.json file
 * beside it.  mlxc renders it with its own interpreter for the subset of
 * Jinja those templates use, with the settings Hugging Face transformers
 * uses in apply_chat_template (trim_blocks, lstrip_blocks, loop controls,
 * `raise_exception`, `strftime_now`, tojson as json.dumps with
 * ensure_ascii=False), so that the text equals transformers' byte for byte:
 *
 *     mlxc_chat_template *t;
 *     if (mlxc_chat_template_parse(src, strlen(src), &t)) { puts(mlxc_last_error()); ... }
 *     mlxc_chat_message msgs[] = {{"system", "Be brief."}, {"user", "Hi!"}};
 *     mlxc_chat_options o = {.add_generation_prompt = true, .bos_token = "<s>", .eos_token = "</s>"};
 *     char *text; size_t len;
 *     mlxc_chat_template_render(t, msgs, 2, &o, &text, &len);   // free(text)
 *     mlxc_chat_template_free(t);
 *
 * The text contains the special tokens as text ("<|im_start|>"): tokenize
 * it with MLXC_TOKENIZE_PARSE_SPECIAL and without MLXC_TOKENIZE_ADD_SPECIAL
 * (the template writes the BOS itself when the model wants one).
 *
 * The language: text, {{ expressions }}, {% statements %}, {# comments #},
 * whitespace control with - and +.  Statements: if / elif / else, for (with
 * an else branch, a filter condition, two loop variables, loop.index,
 * index0, revindex, revindex0, first, last, length, previtem, nextitem),
 * break / continue, set (names, namespace attributes, block form), macro
 * with default arguments, generation blocks (rendered as their body).
 * Expressions: literals (strings, numbers, true/false/none, lists, dicts),
 * arithmetic, ~ and + on strings, comparisons, and / or / not, in / not in,
 * conditional expressions, attribute and item access, slices (a[1:],
 * a[::-1]), filters (trim, length, count, tojson, upper, lower, default,
 * join, first, last, list, items, string, int, float, abs, capitalize,
 * title, replace, reverse, unique, select, reject, selectattr, rejectattr,
 * map, safe, indent, wordcount...), tests (defined, undefined, none, string,
 * number, integer, float, boolean, true, false, mapping, iterable,
 * sequence, callable, odd, even, divisibleby, equalto / eq / ne / gt / ...,
 * in), string methods (strip, lstrip, rstrip, split, startswith, endswith,
 * upper, lower, replace, title, capitalize, join, find, count; not format),
 * dict methods (items, keys, values, get), printf-style str % args
 * (%s %d %i %r), globals range, namespace, dict, raise_exception and
 * strftime_now.  scripts/chat_template_diff.py compares random templates
 * with transformers.
 *
 * Every failure is a status with a message, never an abort: a syntax error
 * (MLXC_ERR_FORMAT, with the line), a construct this interpreter does not
 * know (MLXC_ERR_UNSUPPORTED), the template's own raise_exception or a type
 * error while rendering (MLXC_ERR_INVALID_ARGUMENT, the template's message),
 * and limits a hostile template reaches (MLXC_ERR_OUT_OF_RANGE: nesting
 * deeper than 256 levels, output or memory past the options' limits, more
 * evaluation steps than allowed, a string longer than the output limit, a
 * range() of more than a million items).  Integers are 64-bit (an overflow
 * is MLXC_ERR_UNSUPPORTED where Python would grow the number).  A parsed template is immutable and may be
 * rendered from several threads at once.
 */
#ifndef MLXC_CHAT_H
#define MLXC_CHAT_H

#include "mlxc/common.h"
#include "mlxc/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlxc_chat_template mlxc_chat_template;

/* One turn: role "system", "user", "assistant", "tool", ...; content text
 * (NUL-terminated). */
typedef struct mlxc_chat_message {
    const char *role;
    const char *content;
} mlxc_chat_message;

/* Rendering options (zero-initialise; NULL means all defaults). */
typedef struct mlxc_chat_options {
    bool        add_generation_prompt;  /* end with the assistant's header           */
    const char *bos_token;              /* the variables bos_token / eos_token;       */
    const char *eos_token;              /* NULL: none (the template sees none)        */
    /* Further variables as a JSON object, e.g. {"enable_thinking": false} or
     * {"tools": [...]}; NULL for none. */
    const char *vars_json;
    size_t      max_output;             /* bytes of text; 0: 64 MiB                   */
    size_t      max_memory;             /* bytes of values while rendering; 0: 512 MiB */
    /* Evaluation steps (a node evaluated, or 64 bytes or items processed);
     * 0: 10 million, some thousand times what real templates take. */
    uint64_t    max_steps;
} mlxc_chat_options;

/* Parse a template (src[0..len), UTF-8; need not be NUL-terminated). */
MLXC_API mlxc_status mlxc_chat_template_parse(const char *src, size_t len, mlxc_chat_template **out);
/* NULL is accepted. */
MLXC_API void        mlxc_chat_template_free(mlxc_chat_template *t);

/* Render msgs[0..n) into a new NUL-terminated string (*text, *len without
 * the NUL; release with free()). */
MLXC_API mlxc_status mlxc_chat_template_render(const mlxc_chat_template *t, const mlxc_chat_message *msgs,
                                               size_t n, const mlxc_chat_options *opt, char **text, size_t *len);
/* The same with the messages as a JSON array of objects (json[0..json_len)),
 * so that a message may carry more than role and content (a list of content
 * parts, tool_calls, reasoning_content). */
MLXC_API mlxc_status mlxc_chat_template_render_json(const mlxc_chat_template *t, const char *json, size_t json_len,
                                                    const mlxc_chat_options *opt, char **text, size_t *len);

/* ---- finding a model's template ---------------------------------------------------- */

/* The template text of a model: a .gguf file (tokenizer.chat_template), a
 * tokenizer_config.json or chat_template.json file, a .jinja file, or a
 * model directory (chat_template.jinja, then chat_template.json, then
 * tokenizer_config.json's chat_template).  Where a file holds several named
 * templates, the one named "default".  Into a new NUL-terminated string
 * (free()).  MLXC_ERR_NOT_FOUND when the model has none. */
MLXC_API mlxc_status mlxc_chat_template_read(const char *path, char **text, size_t *len);
/* The same from an open GGUF handle. */
MLXC_API mlxc_status mlxc_chat_template_read_gguf(const mlxc_gguf *g, char **text, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_CHAT_H */
