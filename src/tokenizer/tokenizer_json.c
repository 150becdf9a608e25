/*
 * Tokenizer from a Hugging Face tokenizer.json (jansson).  Supported:
 * model BPE (byte-level or with byte_fallback) and WordPiece; normalizers
 * BertNormalizer, Lowercase, NFD, NFC, StripAccents, Strip, Replace (string
 * pattern), Prepend, Sequence; pre-tokenizers ByteLevel, Split, Sequence,
 * BertPreTokenizer, Whitespace, WhitespaceSplit, Metaspace, Digits,
 * Punctuation; post-processors TemplateProcessing, BertProcessing,
 * RobertaProcessing, ByteLevel, Sequence; added_tokens.  Anything else is
 * MLXC_ERR_UNSUPPORTED with its name, never a silent approximation.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"

#define FMT(...) mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer.json: " __VA_ARGS__)
#define UNSUP(...) mlxc_set_error(MLXC_ERR_UNSUPPORTED, "tokenizer.json: " __VA_ARGS__)

/* Hugging Face's ByteLevel regex (GPT-2's, plus a final \s+). */
#define HF_BYTELEVEL_RX "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

static const char *jstr(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool jbool(json_t *o, const char *key, bool def) {
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

typedef struct entry { int64_t id; const char *s; size_t len; uint8_t attr; } entry;

static int entry_cmp(const void *a, const void *b) {
    const entry *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static mlxc_status parse_vocab(mlxc_tokenizer *t, json_t *model, json_t *added) {
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab)) return FMT("model.vocab is not an object");
    size_t nv = json_object_size(vocab), na = json_is_array(added) ? json_array_size(added) : 0;
    entry *e = calloc(nv + na + 1, sizeof *e);
    if (!e) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    size_t n = 0;
    const char *key;
    json_t *val;
    mlxc_status st = MLXC_OK;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= INT32_MAX / 2) {
            st = FMT("model.vocab['%.40s'] is not a valid id", key);
            goto done;
        }
        e[n++] = (entry){ json_integer_value(val), key, strlen(key), MLXC_TOKA_NORMAL };
    }
    for (size_t i = 0; i < na; i++) {
        json_t *a = json_array_get(added, i);
        json_t *id = json_object_get(a, "id");
        json_t *c = json_object_get(a, "content");
        if (!json_is_integer(id) || !json_is_string(c) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= INT32_MAX / 2) {
            st = FMT("added_tokens[%zu] needs an integer id and a string content", i);
            goto done;
        }
        e[n++] = (entry){ json_integer_value(id), json_string_value(c), json_string_length(c),
                          jbool(a, "special", false) ? MLXC_TOKA_CONTROL : MLXC_TOKA_USER };
    }
    qsort(e, n, sizeof *e, entry_cmp);
    int64_t next = 0;
    for (size_t i = 0; i < n && !st; i++) {
        if (i > 0 && e[i].id == e[i - 1].id) {
            if (e[i].len != e[i - 1].len || memcmp(e[i].s, e[i - 1].s, e[i].len) != 0) {
                st = FMT("id %lld is given to two different strings", (long long)e[i].id);
                break;
            }
            if (e[i].attr != MLXC_TOKA_NORMAL) t->attr[t->n_vocab - 1] = e[i].attr;
            continue;
        }
        while (next < e[i].id && !st) {
            /* a hole in the ids: a placeholder no valid text can produce */
            char ph[24];
            int l = snprintf(ph, sizeof ph, "\xff<hole %lld>", (long long)next);
            st = mlxc_tok_add_token(t, ph, (size_t)l, 0, MLXC_TOKA_UNUSED);
            next++;
        }
        if (st) break;
        if ((st = mlxc_tok_add_token(t, e[i].s, e[i].len, 0, e[i].attr))) break;
        next = e[i].id + 1;
    }
done:
    free(e);
    return st;
}

static mlxc_status parse_merges(mlxc_tokenizer *t, json_t *merges) {
    if (!merges || json_is_null(merges)) return MLXC_OK;
    if (!json_is_array(merges)) return FMT("model.merges is not an array");
    size_t n = json_array_size(merges);
    if (n > UINT32_MAX / 2) return FMT("too many merges");
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(merges, i);
        const char *a, *b;
        size_t al, bl;
        if (json_is_string(m)) {
            const char *s = json_string_value(m);
            size_t len = json_string_length(m);
            const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
            if (!sp || sp + 1 >= s + len) return FMT("merges[%zu] = '%.40s' is not 'left right'", i, s);
            a = s; al = (size_t)(sp - s); b = sp + 1; bl = (size_t)(s + len - sp - 1);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0)); al = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1)); bl = json_string_length(json_array_get(m, 1));
        } else {
            return FMT("merges[%zu] is neither 'a b' nor [a, b]", i);
        }
        mlxc_status st = mlxc_tok_add_merge(t, a, al, b, bl, (uint32_t)i);
        if (st) return st;
    }
    return MLXC_OK;
}

static mlxc_status parse_normalizer(mlxc_tokenizer *t, json_t *n, int depth) {
    if (!n || json_is_null(n)) return MLXC_OK;
    if (depth > 16) return FMT("normalizers nested too deeply");
    const char *type = jstr(n, "type");
    if (!type) return FMT("normalizer without a type");
    mlxc_norm_step s = {0};
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(n, "normalizers");
        if (!json_is_array(list)) return FMT("Sequence normalizer without a list");
        for (size_t i = 0; i < json_array_size(list); i++) {
            mlxc_status st = parse_normalizer(t, json_array_get(list, i), depth + 1);
            if (st) return st;
        }
        return MLXC_OK;
    } else if (!strcmp(type, "BertNormalizer")) {
        s.kind = MLXC_NORM_BERT;
        s.clean_text = jbool(n, "clean_text", true);
        s.chinese = jbool(n, "handle_chinese_chars", true);
        s.lowercase = jbool(n, "lowercase", true);
        s.strip_accents = jbool(n, "strip_accents", s.lowercase);   /* null: follows lowercase */
        s.hf_tables = true;
    } else if (!strcmp(type, "Lowercase")) {
        s.kind = MLXC_NORM_LOWERCASE;
    } else if (!strcmp(type, "NFD")) {
        s.kind = MLXC_NORM_NFD;
    } else if (!strcmp(type, "NFC")) {
        s.kind = MLXC_NORM_NFC;
    } else if (!strcmp(type, "StripAccents")) {
        s.kind = MLXC_NORM_STRIP_ACCENTS;
    } else if (!strcmp(type, "Strip")) {
        s.kind = MLXC_NORM_STRIP;
        s.left = jbool(n, "strip_left", true);
        s.right = jbool(n, "strip_right", true);
    } else if (!strcmp(type, "Replace") || !strcmp(type, "Prepend")) {
        const char *a, *b = "";
        if (!strcmp(type, "Prepend")) {
            s.kind = MLXC_NORM_PREPEND;
            a = jstr(n, "prepend");
            if (!a) return FMT("Prepend without a string");
        } else {
            s.kind = MLXC_NORM_REPLACE;
            json_t *pat = json_object_get(n, "pattern");
            a = jstr(pat, "String");
            if (!a) return UNSUP("Replace normalizer with a regex pattern");
            b = jstr(n, "content");
            if (!b) return FMT("Replace without content");
        }
        s.a = mlxc_tok_strdup(a, strlen(a));
        s.b = mlxc_tok_strdup(b, strlen(b));
        if (!s.a || !s.b) { free(s.a); free(s.b); return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "tokenizer: out of memory"); }
        s.alen = strlen(a);
        s.blen = strlen(b);
    } else if (!strcmp(type, "Precompiled") && json_is_null(json_object_get(n, "precompiled_charsmap"))) {
        return MLXC_OK;
    } else {
        return UNSUP("normalizer '%.40s' is not supported", type);
    }
    mlxc_status st = mlxc_tok_add_norm(t, &s);
    if (st) { free(s.a); free(s.b); }
    return st;
}

static mlxc_status parse_behavior(json_t *n, mlxc_split_behavior *b) {
    const char *s = jstr(n, "behavior");
    if (!s || !strcmp(s, "Isolated")) *b = MLXC_SPLIT_ISOLATED;
    else if (!strcmp(s, "Removed")) *b = MLXC_SPLIT_REMOVED;
    else if (!strcmp(s, "MergedWithPrevious")) *b = MLXC_SPLIT_MERGED_PREV;
    else if (!strcmp(s, "MergedWithNext")) *b = MLXC_SPLIT_MERGED_NEXT;
    else if (!strcmp(s, "Contiguous")) *b = MLXC_SPLIT_CONTIGUOUS;
    else return FMT("unknown split behavior '%.40s'", s);
    return MLXC_OK;
}

static mlxc_status parse_pre(mlxc_tokenizer *t, json_t *n, int depth) {
    if (!n || json_is_null(n)) return MLXC_OK;
    if (depth > 16) return FMT("pre-tokenizers nested too deeply");
    const char *type = jstr(n, "type");
    if (!type) return FMT("pre_tokenizer without a type");
    mlxc_status st;
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(n, "pretokenizers");
        if (!json_is_array(list)) return FMT("Sequence pre_tokenizer without a list");
        for (size_t i = 0; i < json_array_size(list); i++)
            if ((st = parse_pre(t, json_array_get(list, i), depth + 1))) return st;
        return MLXC_OK;
    }
    if (!strcmp(type, "ByteLevel")) {
        t->byte_level = true;
        if (jbool(n, "add_prefix_space", false)) {
            mlxc_pre_step s = { .kind = MLXC_PRE_BYTELEVEL_PREFIX };
            if ((st = mlxc_tok_add_pre(t, &s))) return st;
        }
        if (jbool(n, "use_regex", true))
            return mlxc_tok_add_regex(t, HF_BYTELEVEL_RX, strlen(HF_BYTELEVEL_RX), MLXC_SPLIT_ISOLATED, false);
        return MLXC_OK;
    }
    if (!strcmp(type, "Split")) {
        mlxc_split_behavior b;
        if ((st = parse_behavior(n, &b))) return st;
        json_t *pat = json_object_get(n, "pattern");
        const char *rx = jstr(pat, "Regex"), *lit = jstr(pat, "String");
        bool invert = jbool(n, "invert", false);
        if (rx) return mlxc_tok_add_regex(t, rx, json_string_length(json_object_get(pat, "Regex")), b, invert);
        if (!lit) return FMT("Split without a pattern");
        mlxc_pre_step s = { .kind = MLXC_PRE_LITERAL, .behavior = b, .invert = invert };
        s.lit_len = strlen(lit);
        if (!(s.lit = mlxc_tok_strdup(lit, s.lit_len))) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        if ((st = mlxc_tok_add_pre(t, &s))) free(s.lit);
        return st;
    }
    if (!strcmp(type, "BertPreTokenizer")) {
        mlxc_pre_step s = { .kind = MLXC_PRE_BERT, .hf_tables = true };
        return mlxc_tok_add_pre(t, &s);
    }
    if (!strcmp(type, "Whitespace")) return mlxc_tok_add_regex(t, "\\w+|[^\\w\\s]+", 13, MLXC_SPLIT_REMOVED, true);
    if (!strcmp(type, "WhitespaceSplit")) return mlxc_tok_add_regex(t, "\\s+", 3, MLXC_SPLIT_REMOVED, false);
    if (!strcmp(type, "Digits")) {
        const char *rx = jbool(n, "individual_digits", false) ? "\\p{N}" : "\\p{N}+";
        return mlxc_tok_add_regex(t, rx, strlen(rx), MLXC_SPLIT_ISOLATED, false);
    }
    if (!strcmp(type, "Punctuation")) {
        mlxc_split_behavior b;
        if ((st = parse_behavior(n, &b))) return st;
        const char *rx = "[\\p{P}!-/:-@\\[-`{-~]";
        return mlxc_tok_add_regex(t, rx, strlen(rx), b, false);
    }
    if (!strcmp(type, "Metaspace")) {
        const char *rep = jstr(n, "replacement");
        if (!rep) rep = "\xe2\x96\x81";
        mlxc_pre_step s = { .kind = MLXC_PRE_METASPACE, .split = jbool(n, "split", true) };
        const char *scheme = jstr(n, "prepend_scheme");
        if (scheme) s.prepend = !strcmp(scheme, "always") ? 2 : !strcmp(scheme, "first") ? 1 : 0;
        else s.prepend = jbool(n, "add_prefix_space", true) ? 2 : 0;
        s.lit_len = strlen(rep);
        if (!s.lit_len) return FMT("Metaspace with an empty replacement");
        if (!(s.lit = mlxc_tok_strdup(rep, s.lit_len))) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        if ((st = mlxc_tok_add_pre(t, &s))) free(s.lit);
        t->dec_strip_first_space = s.prepend != 0;
        return st;
    }
    return UNSUP("pre_tokenizer '%.40s' is not supported", type);
}

static mlxc_status post_ids(mlxc_tokenizer *t, json_t *specials, const char *name, bool prefix) {
    json_t *sp = json_object_get(specials, name);
    json_t *ids = json_object_get(sp, "ids");
    if (!json_is_array(ids)) return FMT("post_processor special token '%.40s' has no ids", name);
    for (size_t i = 0; i < json_array_size(ids); i++) {
        json_t *v = json_array_get(ids, i);
        if (!json_is_integer(v)) return FMT("post_processor ids must be integers");
        int64_t id = json_integer_value(v);
        if (id < 0 || id > INT32_MAX) return FMT("post_processor id %lld out of range", (long long)id);
        size_t *cnt = prefix ? &t->n_post_prefix : &t->n_post_suffix;
        if (*cnt >= MLXC_TOK_MAX_POST) return UNSUP("more than %d post-processor tokens", MLXC_TOK_MAX_POST);
        (prefix ? t->post_prefix : t->post_suffix)[(*cnt)++] = (int32_t)id;
    }
    return MLXC_OK;
}

static mlxc_status pair_id(mlxc_tokenizer *t, json_t *pair, int32_t *arr, size_t *cnt) {
    json_t *id = json_array_get(pair, 1);
    if (!json_is_array(pair) || !json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) > INT32_MAX)
        return FMT("post_processor cls/sep must be [string, id]");
    if (*cnt >= MLXC_TOK_MAX_POST) return UNSUP("too many post-processor tokens");
    (void)t;
    arr[(*cnt)++] = (int32_t)json_integer_value(id);
    return MLXC_OK;
}

static mlxc_status parse_post(mlxc_tokenizer *t, json_t *n, int depth) {
    if (!n || json_is_null(n)) return MLXC_OK;
    if (depth > 16) return FMT("post-processors nested too deeply");
    const char *type = jstr(n, "type");
    if (!type) return FMT("post_processor without a type");
    mlxc_status st;
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(n, "processors");
        if (!json_is_array(list)) return FMT("Sequence post_processor without a list");
        for (size_t i = 0; i < json_array_size(list); i++)
            if ((st = parse_post(t, json_array_get(list, i), depth + 1))) return st;
        return MLXC_OK;
    }
    if (!strcmp(type, "ByteLevel")) return MLXC_OK;
    if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        if ((st = pair_id(t, json_object_get(n, "cls"), t->post_prefix, &t->n_post_prefix))) return st;
        return pair_id(t, json_object_get(n, "sep"), t->post_suffix, &t->n_post_suffix);
    }
    if (!strcmp(type, "TemplateProcessing")) {
        json_t *single = json_object_get(n, "single"), *specials = json_object_get(n, "special_tokens");
        if (!json_is_array(single)) return FMT("TemplateProcessing without 'single'");
        bool seen_seq = false;
        for (size_t i = 0; i < json_array_size(single); i++) {
            json_t *item = json_array_get(single, i);
            json_t *sp = json_object_get(item, "SpecialToken");
            if (json_object_get(item, "Sequence")) { seen_seq = true; continue; }
            const char *name = jstr(sp, "id");
            if (!name) return FMT("TemplateProcessing item %zu is neither SpecialToken nor Sequence", i);
            if ((st = post_ids(t, specials, name, !seen_seq))) return st;
        }
        return MLXC_OK;
    }
    return UNSUP("post_processor '%.40s' is not supported", type);
}

static void parse_decoder(mlxc_tokenizer *t, json_t *n, int depth) {
    if (!n || json_is_null(n) || depth > 16) return;
    const char *type = jstr(n, "type");
    if (!type) return;
    if (!strcmp(type, "Sequence")) {
        json_t *list = json_object_get(n, "decoders");
        for (size_t i = 0; json_is_array(list) && i < json_array_size(list); i++)
            parse_decoder(t, json_array_get(list, i), depth + 1);
    } else if (!strcmp(type, "ByteLevel")) {
        t->dec_mode = MLXC_DEC_BYTELEVEL;
    } else if (!strcmp(type, "Metaspace")) {
        t->dec_mode = MLXC_DEC_METASPACE;
        const char *scheme = jstr(n, "prepend_scheme");
        t->dec_strip_first_space = scheme ? strcmp(scheme, "never") != 0 : jbool(n, "add_prefix_space", true);
    } else if (!strcmp(type, "WordPiece")) {
        t->dec_mode = MLXC_DEC_WORDPIECE;
        t->dec_cleanup = jbool(n, "cleanup", true);
    } else if (!strcmp(type, "Replace") || !strcmp(type, "ByteFallback")) {
        if (t->dec_mode != MLXC_DEC_BYTELEVEL || !t->byte_level) t->dec_mode = MLXC_DEC_METASPACE;
    } else if (!strcmp(type, "Strip")) {
        json_t *start = json_object_get(n, "start");
        if (json_is_integer(start) && json_integer_value(start) > 0) t->dec_strip_first_space = true;
    }
}

static int32_t find_role(mlxc_tokenizer *t, const char *const *names) {
    for (; *names; names++) {
        int32_t id = mlxc_tok_lookup(t, *names, strlen(*names));
        if (id >= 0 && (size_t)id < t->n_vocab && (t->attr[id] & (MLXC_TOKA_CONTROL | MLXC_TOKA_USER)))
            return id;
    }
    return -1;
}

static mlxc_status build(json_t *root, mlxc_tokenizer *t) {
    if (!json_is_object(root)) return FMT("not a JSON object");
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) return FMT("no 'model' object");
    const char *type = jstr(model, "type");
    json_t *merges = json_object_get(model, "merges");
    bool wordpiece;
    if (type && !strcmp(type, "BPE")) wordpiece = false;
    else if (type && !strcmp(type, "WordPiece")) wordpiece = true;
    else if (!type && merges) wordpiece = false;
    else if (!type && json_object_get(model, "continuing_subword_prefix")) wordpiece = true;
    else return UNSUP("model type '%.40s' is not supported (BPE and WordPiece are)", type ? type : "?");

    json_t *added = json_object_get(root, "added_tokens");
    mlxc_status st = parse_vocab(t, model, added);
    if (st) return st;

    if (!wordpiece) {
        if ((st = parse_merges(t, merges))) return st;
        t->byte_fallback = jbool(model, "byte_fallback", false);
        t->fuse_unk = jbool(model, "fuse_unk", false);
        t->ignore_merges = jbool(model, "ignore_merges", false);
        const char *csp = jstr(model, "continuing_subword_prefix"), *eow = jstr(model, "end_of_word_suffix");
        if ((csp && *csp) || (eow && *eow)) return UNSUP("BPE with continuing_subword_prefix/end_of_word_suffix");
    } else {
        const char *cont = jstr(model, "continuing_subword_prefix");
        if (!cont) cont = "##";
        t->wp_cont = mlxc_tok_strdup(cont, strlen(cont));
        t->wp_start = mlxc_tok_strdup("", 0);
        if (!t->wp_cont || !t->wp_start) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        t->wp_cont_len = strlen(cont);
        json_t *mx = json_object_get(model, "max_input_chars_per_word");
        t->wp_max_chars = json_is_integer(mx) && json_integer_value(mx) > 0 ? (size_t)json_integer_value(mx) : 100;
        t->dec_mode = MLXC_DEC_WORDPIECE;
        t->dec_cleanup = true;
    }
    const char *unk = jstr(model, "unk_token");
    if (unk) {
        int32_t id = mlxc_tok_lookup(t, unk, strlen(unk));
        if (id < 0 || (size_t)id >= t->n_vocab) return FMT("unk_token '%.40s' is not in the vocabulary", unk);
        t->role[MLXC_TOKEN_UNK] = id;
    }

    if ((st = parse_normalizer(t, json_object_get(root, "normalizer"), 0))) return st;
    if ((st = parse_pre(t, json_object_get(root, "pre_tokenizer"), 0))) return st;
    if ((st = parse_post(t, json_object_get(root, "post_processor"), 0))) return st;

    if (wordpiece) t->kind = MLXC_TOKENIZER_WORDPIECE;
    else if (t->byte_level) { t->kind = MLXC_TOKENIZER_BPE; t->dec_mode = MLXC_DEC_BYTELEVEL; }
    else { t->kind = MLXC_TOKENIZER_SPM; t->dec_mode = MLXC_DEC_METASPACE; }
    parse_decoder(t, json_object_get(root, "decoder"), 0);

    if (json_is_array(added))
        for (size_t i = 0; i < json_array_size(added); i++) {
            json_t *a = json_array_get(added, i);
            int32_t id = (int32_t)json_integer_value(json_object_get(a, "id"));
            if ((st = mlxc_tok_add_added(t, id, jbool(a, "special", false), jbool(a, "lstrip", false),
                                         jbool(a, "rstrip", false)))) return st;
        }

    /* roles: the post-processor's tokens, then well-known names */
    static const char *const BOS[] = { "<s>", "<|begin_of_text|>", "<|startoftext|>", "<bos>", NULL };
    static const char *const EOS[] = { "</s>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>", "<eos>", NULL };
    static const char *const CLS[] = { "[CLS]", "<cls>", NULL };
    static const char *const SEP[] = { "[SEP]", "<sep>", NULL };
    static const char *const PAD[] = { "[PAD]", "<pad>", "<|padding|>", NULL };
    static const char *const MASK[] = { "[MASK]", "<mask>", NULL };
    t->role[MLXC_TOKEN_CLS] = find_role(t, CLS);
    t->role[MLXC_TOKEN_SEP] = find_role(t, SEP);
    t->role[MLXC_TOKEN_PAD] = find_role(t, PAD);
    t->role[MLXC_TOKEN_MASK] = find_role(t, MASK);
    t->role[MLXC_TOKEN_BOS] = t->n_post_prefix ? t->post_prefix[0] : find_role(t, BOS);
    t->role[MLXC_TOKEN_EOS] = find_role(t, EOS);
    if (!wordpiece && t->n_post_suffix) t->role[MLXC_TOKEN_EOS] = t->post_suffix[t->n_post_suffix - 1];
    return mlxc_tok_finish(t);
}

mlxc_status mlxc_tok_from_json(const char *json, size_t len, mlxc_tokenizer **out) {
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!root) return FMT("parse error at line %d: %.80s", err.line, err.text);
    mlxc_tokenizer *t;
    mlxc_status st = mlxc_tok_create(&t);
    if (!st && (st = build(root, t))) { mlxc_tokenizer_free(t); t = NULL; }
    json_decref(root);
    if (!st) *out = t;
    return st;
}
