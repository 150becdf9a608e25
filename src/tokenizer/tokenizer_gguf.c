/*
 * Tokenizer from GGUF metadata (`tokenizer.ggml.*`), with llama.cpp's
 * semantics: model gpt2 → byte-level BPE with the pre-tokenizer regexes
 * that `tokenizer.ggml.pre` names, llama → SentencePiece BPE by score with
 * byte fallback, bert → WordPiece over a vocabulary whose word-initial
 * pieces carry "▁".  Every array is checked (kind, length against the token
 * count), every special id against the vocabulary size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"

#define K(x) "tokenizer.ggml." x

/* Pre-tokenizer regex sets, by llama.cpp's `tokenizer.ggml.pre` names. */
#define RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RX_LLAMA3 "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2 "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_CJK "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
/* DeepSeek LLM's letter class (cased letters of many scripts), as code points */
#define RX_DS_LETTERS "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}" \
    "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}" \
    "\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}" \
    "\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}" \
    "\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}" \
    "\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}" \
    "\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}" \
    "\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}" \
    "\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}" \
    "\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}" \
    "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}" \
    "\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}" \
    "\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+"

typedef struct pre_def {
    const char *names;          /* '|'-separated tokenizer.ggml.pre values  */
    const char *rx[6];
    bool        ignore_merges;
    bool        add_bos;
} pre_def;

static const pre_def PRE_DEFS[] = {
    { "default", { "[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+", "[0-9][0-9][0-9]" }, false, false },
    { "llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2|dbrx|smaug-bpe", { RX_LLAMA3 }, true, true },
    { "deepseek-llm", { "[\\r\\n]", RX_DS_LETTERS, "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
                        "\\s+$", RX_CJK, "\\p{N}+" }, false, false },
    { "deepseek-coder", { "[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RX_CJK, "\\p{N}" }, false, false },
    { "deepseek-v3", { "\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
                       "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
      false, false },
    { "falcon", { "[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]" }, false, false },
    { "starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b", { "\\p{N}", RX_GPT2 }, false, false },
    { "gpt-2|phi-2|jina-es|jina-de|gigachat|jina-v2-es|jina-v2-de|jina-v1-en|jina-v2-code|roberta-bpe|mpt|olmo|jais|trillion|exaone4",
      { RX_GPT2 }, false, false },
    { "qwen2|deepseek-r1-qwen|stablelm2|megrez|hunyuan", { RX_QWEN2 }, false, false },
    { "chatglm-bpe|glm4", { RX_LLAMA3 }, false, false },
    { "poro-chat|bloom|gpt3-finnish", { " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+" }, false, false },
    { "viking", { " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+", "\\p{N}" }, false, false },
    { "tekken", { "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
      true, true },
    { "gpt-4o|llama4", { "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
      false, false },
    { "seed-coder", { "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
      false, false },
};

static bool name_in(const char *names, const char *s, size_t n) {
    const char *p = names;
    while (*p) {
        const char *e = strchr(p, '|');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && memcmp(p, s, n) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

static mlxc_status opt_id(const mlxc_gguf *g, const char *key, int32_t *id, size_t n_vocab) {
    int64_t v;
    mlxc_status st = mlxc_gguf_get_int(g, key, &v);
    if (st == MLXC_ERR_NOT_FOUND) { mlxc_clear_error(); return MLXC_OK; }
    if (st) return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: %s: %s", key, mlxc_last_error());
    if (v < 0 || (uint64_t)v >= n_vocab)
        return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: %s = %lld outside the vocabulary (%zu tokens)",
                              key, (long long)v, n_vocab);
    *id = (int32_t)v;
    return MLXC_OK;
}

static mlxc_status opt_bool(const mlxc_gguf *g, const char *key, bool *b) {
    bool v;
    mlxc_status st = mlxc_gguf_get_bool(g, key, &v);
    if (st == MLXC_ERR_NOT_FOUND) { mlxc_clear_error(); return MLXC_OK; }
    if (st) return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: %s: not a bool", key);
    *b = v;
    return MLXC_OK;
}

/* A numeric array of at least n elements, or absent (*present false). */
static mlxc_status opt_array(const mlxc_gguf *g, const char *key, size_t n, bool *present) {
    mlxc_gguf_type elem;
    size_t count;
    mlxc_status st = mlxc_gguf_get_array_info(g, key, &elem, &count);
    *present = false;
    if (st == MLXC_ERR_NOT_FOUND) { mlxc_clear_error(); return MLXC_OK; }
    if (st) return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: %s is not an array", key);
    if (elem == MLXC_GGUF_STRING || elem == MLXC_GGUF_ARRAY)
        return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: %s has %s elements, expected numbers", key,
                              mlxc_gguf_type_name(elem));
    if (count < n)
        return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: %s has %zu entries for %zu tokens", key, count, n);
    *present = true;
    return MLXC_OK;
}

/* Hugging Face's ByteLevel regex (GPT-2's, plus a final \s+), as the
 * transformers GGUF converter uses it. */
#define RX_HF_BYTELEVEL RX_GPT2 "|\\s+"

static mlxc_status build(const mlxc_gguf *g, mlxc_tokenizer *t, bool hf_compat) {
    const char *model, *pre = "default";
    size_t model_len, pre_len = 7;
    mlxc_status st = mlxc_gguf_get_string(g, K("model"), &model, &model_len);
    if (st == MLXC_ERR_NOT_FOUND) return mlxc_set_error(MLXC_ERR_NOT_FOUND, "tokenizer: no " K("model") " in the GGUF metadata");
    if (st) return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: " K("model") " is not a string");
    int kind;
    if (model_len == 4 && !memcmp(model, "gpt2", 4)) kind = MLXC_TOKENIZER_BPE;
    else if (model_len == 5 && !memcmp(model, "llama", 5)) kind = MLXC_TOKENIZER_SPM;
    else if (model_len == 4 && !memcmp(model, "bert", 4)) kind = MLXC_TOKENIZER_WORDPIECE;
    else return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "tokenizer: GGUF tokenizer model '%.*s' is not supported (gpt2, llama, bert are)",
                               (int)(model_len > 40 ? 40 : model_len), model);
    t->kind = (mlxc_tokenizer_kind)kind;

    mlxc_gguf_type elem;
    size_t n;
    st = mlxc_gguf_get_array_info(g, K("tokens"), &elem, &n);
    if (st == MLXC_ERR_NOT_FOUND) return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: no " K("tokens") " array");
    if (st || elem != MLXC_GGUF_STRING) return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: " K("tokens") " is not an array of strings");
    if (n == 0 || n > INT32_MAX / 2) return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: " K("tokens") " has %zu entries", n);

    bool has_scores, has_types;
    if ((st = opt_array(g, K("scores"), n, &has_scores))) return st;
    if ((st = opt_array(g, K("token_type"), n, &has_types))) return st;
    const void *score_data = NULL;
    size_t score_count = 0;
    mlxc_gguf_type score_elem = MLXC_GGUF_FLOAT32;
    if (has_scores) {
        size_t c;
        if (mlxc_gguf_get_array_info(g, K("scores"), &score_elem, &c) == MLXC_OK && score_elem == MLXC_GGUF_FLOAT32 &&
            mlxc_gguf_get_array_data(g, K("scores"), &score_data, &score_count) != MLXC_OK)
            score_data = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if ((st = mlxc_gguf_get_array_string(g, K("tokens"), i, &s, &len)))
            return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: " K("tokens") "[%zu] unreadable", i);
        char empty[32];
        if (len == 0) {   /* as llama.cpp: a unique placeholder */
            len = (size_t)snprintf(empty, sizeof empty, "[EMPTY_%zu]", i);
            s = empty;
        }
        float score = 0;
        if (score_data && i < score_count) {
            memcpy(&score, (const char *)score_data + 4 * i, 4);
        } else if (has_scores) {
            double d;
            if (mlxc_gguf_get_array_float(g, K("scores"), i, &d))
                return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: " K("scores") "[%zu] unreadable", i);
            score = (float)d;
        }
        uint8_t attr = MLXC_TOKA_NORMAL;
        if (has_types) {
            int64_t ty;
            if (mlxc_gguf_get_array_int(g, K("token_type"), i, &ty))
                return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: " K("token_type") "[%zu] unreadable", i);
            switch (ty) {
            case 2: attr = MLXC_TOKA_UNKNOWN; break;
            case 3: attr = MLXC_TOKA_CONTROL; break;
            case 4: attr = MLXC_TOKA_USER; break;
            case 5: attr = MLXC_TOKA_UNUSED; break;
            case 6: attr = MLXC_TOKA_BYTE; break;
            default: attr = MLXC_TOKA_NORMAL; break;
            }
        }
        if ((st = mlxc_tok_add_token(t, s, len, score, attr))) return st;
    }

    /* special ids: model defaults (when in range), then the metadata */
    if (kind == MLXC_TOKENIZER_SPM) {
        t->role[MLXC_TOKEN_BOS] = 1; t->role[MLXC_TOKEN_EOS] = 2; t->role[MLXC_TOKEN_UNK] = 0;
    } else if (kind == MLXC_TOKENIZER_WORDPIECE) {
        t->role[MLXC_TOKEN_CLS] = 101; t->role[MLXC_TOKEN_UNK] = 100; t->role[MLXC_TOKEN_SEP] = 102;
        t->role[MLXC_TOKEN_PAD] = 0; t->role[MLXC_TOKEN_MASK] = 103;
    }
    for (int r = 0; r < MLXC_TOKEN_ROLE_COUNT; r++)
        if (t->role[r] >= 0 && (size_t)t->role[r] >= n) t->role[r] = -1;
    static const struct { const char *key; mlxc_token_role role; } IDS[] = {
        { K("bos_token_id"), MLXC_TOKEN_BOS }, { K("eos_token_id"), MLXC_TOKEN_EOS },
        { K("unknown_token_id"), MLXC_TOKEN_UNK }, { K("seperator_token_id"), MLXC_TOKEN_SEP },
        { K("separator_token_id"), MLXC_TOKEN_SEP }, { K("padding_token_id"), MLXC_TOKEN_PAD },
        { K("cls_token_id"), MLXC_TOKEN_CLS }, { K("mask_token_id"), MLXC_TOKEN_MASK },
    };
    for (size_t i = 0; i < sizeof IDS / sizeof *IDS; i++)
        if ((st = opt_id(g, IDS[i].key, &t->role[IDS[i].role], n))) return st;

    bool add_bos = kind != MLXC_TOKENIZER_BPE, add_eos = false, add_sep = kind == MLXC_TOKENIZER_WORDPIECE;
    bool space_prefix = kind == MLXC_TOKENIZER_SPM;

    if (kind == MLXC_TOKENIZER_BPE) {
        st = mlxc_gguf_get_string(g, K("pre"), &pre, &pre_len);
        if (st == MLXC_ERR_NOT_FOUND) { mlxc_clear_error(); pre = "default"; pre_len = 7; }
        else if (st) return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: " K("pre") " is not a string");
        const pre_def *d = NULL;
        for (size_t i = 0; i < sizeof PRE_DEFS / sizeof *PRE_DEFS && !d; i++)
            if (name_in(PRE_DEFS[i].names, pre, pre_len)) d = &PRE_DEFS[i];
        if (!d) return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "tokenizer: pre-tokenizer '%.*s' is not supported",
                                      (int)(pre_len > 40 ? 40 : pre_len), pre);
        if (hf_compat) {
            if ((st = mlxc_tok_add_regex(t, RX_HF_BYTELEVEL, strlen(RX_HF_BYTELEVEL), MLXC_SPLIT_ISOLATED, false)))
                return st;
        } else {
            for (int i = 0; i < 6 && d->rx[i]; i++)
                if ((st = mlxc_tok_add_regex(t, d->rx[i], strlen(d->rx[i]), MLXC_SPLIT_ISOLATED, false))) return st;
            t->ignore_merges = d->ignore_merges;
        }
        add_bos = d->add_bos;
        t->byte_level = true;
        t->dec_mode = MLXC_DEC_BYTELEVEL;

        size_t nm;
        st = mlxc_gguf_get_array_info(g, K("merges"), &elem, &nm);
        if (st == MLXC_ERR_NOT_FOUND) return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: gpt2 vocabulary without " K("merges"));
        if (st || elem != MLXC_GGUF_STRING) return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: " K("merges") " is not an array of strings");
        if (nm > UINT32_MAX / 2) return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: too many merges");
        for (size_t i = 0; i < nm; i++) {
            const char *s;
            size_t len;
            if ((st = mlxc_gguf_get_array_string(g, K("merges"), i, &s, &len)))
                return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: " K("merges") "[%zu] unreadable", i);
            /* "left right": the separator is the first space after the first byte */
            const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
            if (!sp || sp + 1 >= s + len)
                return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: " K("merges") "[%zu] = '%.*s' is not 'left right'",
                                      i, (int)(len > 40 ? 40 : len), s);
            if ((st = mlxc_tok_add_merge(t, s, (size_t)(sp - s), sp + 1, (size_t)(s + len - sp - 1), (uint32_t)i)))
                return st;
        }
    } else if (kind == MLXC_TOKENIZER_SPM) {
        t->score_merges = true;
        t->byte_fallback = true;
        t->spm_escape = true;
        t->dec_mode = MLXC_DEC_METASPACE;
    } else {
        mlxc_norm_step ns = { .kind = MLXC_NORM_BERT, .clean_text = true, .chinese = true,
                              .strip_accents = true, .lowercase = true };
        if ((st = mlxc_tok_add_norm(t, &ns))) return st;
        mlxc_pre_step ps = { .kind = MLXC_PRE_BERT };
        if ((st = mlxc_tok_add_pre(t, &ps))) return st;
        t->wp_start = mlxc_tok_strdup("\xe2\x96\x81", 3);
        t->wp_cont = mlxc_tok_strdup("", 0);
        if (!t->wp_start || !t->wp_cont) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        t->wp_start_len = 3;
        t->dec_mode = MLXC_DEC_WPM_GGUF;
        t->dec_strip_first_space = true;
    }

    if ((st = opt_bool(g, K("add_bos_token"), &add_bos))) return st;
    if ((st = opt_bool(g, K("add_eos_token"), &add_eos))) return st;
    if ((st = opt_bool(g, K("add_sep_token"), &add_sep))) return st;
    if ((st = opt_bool(g, K("add_space_prefix"), &space_prefix))) return st;
    if (hf_compat && kind == MLXC_TOKENIZER_BPE) add_bos = t->role[MLXC_TOKEN_BOS] >= 0;
    if (kind == MLXC_TOKENIZER_SPM) {
        t->spm_space_prefix = space_prefix;
        t->dec_strip_first_space = space_prefix;
    }

    if (kind == MLXC_TOKENIZER_WORDPIECE) {
        int32_t cls = t->role[MLXC_TOKEN_CLS] >= 0 ? t->role[MLXC_TOKEN_CLS] : t->role[MLXC_TOKEN_BOS];
        if (add_bos && cls >= 0) t->post_prefix[t->n_post_prefix++] = cls;
        if (add_sep && t->role[MLXC_TOKEN_SEP] >= 0) t->post_suffix[t->n_post_suffix++] = t->role[MLXC_TOKEN_SEP];
    } else {
        if (add_bos) {
            if (t->role[MLXC_TOKEN_BOS] < 0) return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: add_bos_token without a BOS id");
            t->post_prefix[t->n_post_prefix++] = t->role[MLXC_TOKEN_BOS];
        }
        if (add_eos) {
            if (t->role[MLXC_TOKEN_EOS] < 0) return mlxc_set_error(MLXC_ERR_FORMAT, "tokenizer: add_eos_token without an EOS id");
            t->post_suffix[t->n_post_suffix++] = t->role[MLXC_TOKEN_EOS];
        }
    }

    /* text that PARSE_SPECIAL recognises: control, user-defined, unknown */
    for (size_t i = 0; i < n; i++)
        if (t->attr[i] & (MLXC_TOKA_CONTROL | MLXC_TOKA_USER | MLXC_TOKA_UNKNOWN))
            if ((st = mlxc_tok_add_added(t, (int32_t)i, (t->attr[i] & MLXC_TOKA_USER) == 0, false, false))) return st;
    return mlxc_tok_finish(t);
}

mlxc_status mlxc_tok_from_gguf(const mlxc_gguf *g, const mlxc_tokenizer_options *opt, mlxc_tokenizer **out) {
    mlxc_tokenizer *t;
    mlxc_status st = mlxc_tok_create(&t);
    if (st) return st;
    if ((st = build(g, t, opt && opt->gguf_transformers_compat))) { mlxc_tokenizer_free(t); return st; }
    *out = t;
    return MLXC_OK;
}
