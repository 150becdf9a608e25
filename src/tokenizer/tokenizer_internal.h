/*
 * The tokenizer's one internal description.  Both vocabulary sources (GGUF
 * metadata: tokenizer_gguf.c, tokenizer.json: tokenizer_json.c) fill a
 * struct mlxc_tokenizer through the builder calls below; the algorithms
 * (tokenizer_model.c: BPE by rank, BPE by score, WordPiece;
 * tokenizer_pretok.c: normalizers and pre-tokenizers) read only this struct.
 */
#ifndef MLXC_TOKENIZER_INTERNAL_H
#define MLXC_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.h"
#include "mlxc/gguf.h"
#include "mlxc/tokenizer.h"
#include "tokenizer/unicode.h"

/* Token attributes (llama.cpp's token types, as bits). */
enum {
    MLXC_TOKA_NORMAL  = 1,
    MLXC_TOKA_CONTROL = 2,    /* BOS, EOS, [CLS], <|im_start|>: special        */
    MLXC_TOKA_USER    = 4,    /* user-defined / added, not special             */
    MLXC_TOKA_UNKNOWN = 8,
    MLXC_TOKA_BYTE    = 16,   /* <0xNN>                                        */
    MLXC_TOKA_UNUSED  = 32
};

/* ---- strings: vocabulary plus "virtual" strings (merge parts that are not
 * tokens), in one arena, with an open-addressing hash. -------------------- */
typedef struct mlxc_tok_strings {
    char     *data;            /* all strings back to back                      */
    size_t    len, cap;
    uint32_t *off;             /* [n + 1] offsets into data                    */
    size_t    n, capn;
    uint32_t *slots;           /* hash: 0 = empty, else index + 1               */
    size_t    mask;            /* slots count - 1 (power of two)                */
} mlxc_tok_strings;

/* ---- normalizers ------------------------------------------------------------ */
typedef enum mlxc_norm_kind {
    MLXC_NORM_BERT = 0,        /* clean text, CJK spacing, accents, lowercase   */
    MLXC_NORM_LOWERCASE,
    MLXC_NORM_NFD,
    MLXC_NORM_NFC,
    MLXC_NORM_STRIP_ACCENTS,   /* drop Mn (after NFD)                           */
    MLXC_NORM_REPLACE,         /* literal a → b                                 */
    MLXC_NORM_PREPEND,         /* a + text (non-empty text only)                */
    MLXC_NORM_STRIP            /* whitespace at the left / right                */
} mlxc_norm_kind;

typedef struct mlxc_norm_step {
    mlxc_norm_kind kind;
    char  *a, *b;
    size_t alen, blen;
    bool   clean_text, chinese, strip_accents, lowercase;   /* BERT          */
    bool   hf_tables;          /* BERT: Hugging Face's character classes     */
    bool   left, right;                                     /* STRIP         */
} mlxc_norm_step;

/* ---- pre-tokenizers: each step splits every current piece further -------------- */
typedef enum mlxc_pre_kind {
    MLXC_PRE_REGEX = 0,        /* PCRE2 pattern, split behaviour                */
    MLXC_PRE_LITERAL,          /* split on a literal string                      */
    MLXC_PRE_BERT,             /* whitespace split + isolated punctuation        */
    MLXC_PRE_WHITESPACE,       /* \w+|[^\w\s]+                                    */
    MLXC_PRE_WHITESPACE_SPLIT, /* split on whitespace                            */
    MLXC_PRE_PUNCT,            /* punctuation, split behaviour                   */
    MLXC_PRE_DIGITS,           /* digits (individual or runs), isolated          */
    MLXC_PRE_METASPACE,        /* ' ' → replacement, prepend, split             */
    MLXC_PRE_BYTELEVEL_PREFIX  /* ByteLevel add_prefix_space                      */
} mlxc_pre_kind;

typedef enum mlxc_split_behavior {
    MLXC_SPLIT_ISOLATED = 0, MLXC_SPLIT_REMOVED, MLXC_SPLIT_MERGED_PREV,
    MLXC_SPLIT_MERGED_NEXT, MLXC_SPLIT_CONTIGUOUS
} mlxc_split_behavior;

typedef struct mlxc_pre_step {
    mlxc_pre_kind       kind;
    pcre2_code         *re;
    bool                jit;
    mlxc_split_behavior behavior;
    bool                invert;
    char               *lit;          /* LITERAL / METASPACE replacement       */
    size_t              lit_len;
    bool                individual;   /* DIGITS                                 */
    int                 prepend;      /* METASPACE: 0 never, 1 first, 2 always  */
    bool                split;        /* METASPACE                              */
    bool                hf_tables;    /* BERT: Hugging Face's punctuation       */
} mlxc_pre_step;

/* ---- added / special tokens matched in text ------------------------------------ */
typedef struct mlxc_added_token {
    int32_t id;
    bool    special;           /* control: skipped by DECODE_SKIP_SPECIAL       */
    bool    lstrip, rstrip;
} mlxc_added_token;

/* ---- decoding ------------------------------------------------------------------- */
typedef enum mlxc_decode_mode {
    MLXC_DEC_BYTELEVEL = 0,    /* GPT-2 unicode → bytes                          */
    MLXC_DEC_METASPACE,        /* ▁ → space, <0xNN> → byte                       */
    MLXC_DEC_WORDPIECE,        /* "##" joins, others space-separated, cleanup    */
    MLXC_DEC_WPM_GGUF          /* llama.cpp BERT vocab: ▁ marks word starts       */
} mlxc_decode_mode;

#define MLXC_TOK_MAX_POST 8

struct mlxc_tokenizer {
    mlxc_tokenizer_kind kind;
    mlxc_tok_strings    str;          /* ids 0..n_vocab-1 are tokens           */
    size_t              n_vocab;
    size_t              vocab_cap;    /* allocated entries of scores/attr       */
    float              *scores;       /* [n_vocab]                               */
    uint8_t            *attr;         /* [n_vocab] MLXC_TOKA_*                   */
    size_t              max_token_len;

    /* merges: (left string id, right string id) → rank, result string id */
    uint64_t           *merge_keys;   /* open addressing, key 0 = empty          */
    uint32_t           *merge_rank;
    uint32_t           *merge_res;
    size_t              merge_mask;
    size_t              n_merges;

    /* model behaviour */
    bool     byte_level;              /* bytes → GPT-2 unicode before BPE        */
    bool     score_merges;            /* SPM: merge the best-scoring pair        */
    bool     byte_fallback;           /* unknown chars → <0xNN> tokens          */
    bool     ignore_merges;           /* whole word in vocab wins               */
    bool     fuse_unk;
    int32_t  byte_tok[256];           /* <0xNN> ids, or -1                       */
    int32_t  bl_tok[256];             /* byte-level single-char ids, or -1        */
    char     bl_utf8[256][2];         /* GPT-2 unicode char of each byte          */
    uint8_t  bl_len[256];
    int16_t  bl_rev[0x180];           /* cp → byte, -1                            */
    bool     spm_escape;              /* GGUF llama: ' ' → ▁                     */
    bool     spm_space_prefix;        /* GGUF llama: prepend ' ' per segment      */
    bool     spm_split_ok;            /* no token holds "X▁" (X not ▁): the text
                                         may be cut before such a ▁ exactly    */

    /* WordPiece */
    char    *wp_cont;  size_t wp_cont_len;    /* "##" (tokenizer.json) or ""    */
    char    *wp_start; size_t wp_start_len;   /* "" or "▁" (GGUF)              */
    size_t   wp_max_chars;                    /* 0: no limit                      */

    mlxc_norm_step *norm;  size_t n_norm;
    mlxc_pre_step  *pre;   size_t n_pre;

    mlxc_added_token *added; size_t n_added;  /* sorted by id                    */
    uint8_t           added_first[256];       /* first bytes of added tokens      */
    uint8_t           plain_first[256];       /* ... of the non-special ones      */
    size_t            n_plain;                /* non-special added tokens         */
    uint32_t          added_start[257];       /* added_by_byte[added_start[b] ..
                                                 added_start[b + 1]): the added
                                                 tokens whose text begins with b */
    uint32_t         *added_by_byte;          /* (n_added) indices into added    */

    int32_t  role[MLXC_TOKEN_ROLE_COUNT];
    int32_t  post_prefix[MLXC_TOK_MAX_POST]; size_t n_post_prefix;
    int32_t  post_suffix[MLXC_TOK_MAX_POST]; size_t n_post_suffix;

    mlxc_decode_mode dec_mode;
    bool     dec_strip_first_space;   /* drop the first leading space             */
    bool     dec_cleanup;             /* WordPiece cleanup                        */
};

/* ---- builder (tokenizer.c) ---------------------------------------------------- */
mlxc_status mlxc_tok_create(mlxc_tokenizer **out);
/* Intern s; *id is its string id (existing or new). */
mlxc_status mlxc_tok_intern(mlxc_tokenizer *t, const char *s, size_t len, int32_t *id);
/* String id of s, or -1. */
int32_t     mlxc_tok_lookup(const mlxc_tokenizer *t, const char *s, size_t len);
const char *mlxc_tok_str(const mlxc_tokenizer *t, int32_t id, size_t *len);
/* Add token n_vocab with this text; a duplicate string is MLXC_ERR_FORMAT. */
mlxc_status mlxc_tok_add_token(mlxc_tokenizer *t, const char *s, size_t len, float score, uint8_t attr);
mlxc_status mlxc_tok_add_merge(mlxc_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                               uint32_t rank);
mlxc_status mlxc_tok_add_added(mlxc_tokenizer *t, int32_t id, bool special, bool lstrip, bool rstrip);
mlxc_status mlxc_tok_add_norm(mlxc_tokenizer *t, const mlxc_norm_step *s);
mlxc_status mlxc_tok_add_pre(mlxc_tokenizer *t, const mlxc_pre_step *s);
/* Compile a pattern (\s and \S rewritten to Unicode White_Space) into a
 * REGEX step. */
mlxc_status mlxc_tok_add_regex(mlxc_tokenizer *t, const char *pattern, size_t len, mlxc_split_behavior b,
                               bool invert);
/* After the source filled everything: byte tables, merge checks, roles. */
mlxc_status mlxc_tok_finish(mlxc_tokenizer *t);
char       *mlxc_tok_strdup(const char *s, size_t len);

/* GPT-2 byte ↔ unicode mapping. */
uint32_t    mlxc_tok_byte_to_cp(uint8_t b);

/* ---- algorithms ---------------------------------------------------------------- */
typedef struct mlxc_ids { int32_t *v; size_t n, cap; } mlxc_ids;
mlxc_status mlxc_ids_push(mlxc_ids *ids, int32_t id);

typedef struct mlxc_bytes { char *v; size_t n, cap; } mlxc_bytes;
mlxc_status mlxc_bytes_put(mlxc_bytes *b, const char *s, size_t n);

/* A piece of a string: [off, off+len). */
typedef struct mlxc_span { size_t off, len; } mlxc_span;
typedef struct mlxc_spans { mlxc_span *v; size_t n, cap; } mlxc_spans;
mlxc_status mlxc_spans_push(mlxc_spans *s, size_t off, size_t len);

/* Per-call scratch (word cache and buffers); not shared between threads. */
typedef struct mlxc_tok_work mlxc_tok_work;
mlxc_status mlxc_tok_work_create(mlxc_tok_work **out);
void        mlxc_tok_work_free(mlxc_tok_work *w);

/* Normalize s[0..n) (valid UTF-8) into out. */
mlxc_status mlxc_tok_normalize(const mlxc_tokenizer *t, const char *s, size_t n, bool first_segment,
                               mlxc_bytes *out);
/* Split text into words (spans of text; text may be rewritten by METASPACE,
 * so it is in/out). */
mlxc_status mlxc_tok_pretokenize(const mlxc_tokenizer *t, mlxc_bytes *text, bool first_segment,
                                 mlxc_spans *words);
/* Tokens of one word. */
mlxc_status mlxc_tok_model_word(const mlxc_tokenizer *t, mlxc_tok_work *w, const char *word, size_t n,
                                mlxc_ids *out);

/* ---- sources ------------------------------------------------------------------------ */
mlxc_status mlxc_tok_from_gguf(const mlxc_gguf *g, const mlxc_tokenizer_options *opt, mlxc_tokenizer **out);
mlxc_status mlxc_tok_from_json(const char *json, size_t len, mlxc_tokenizer **out);

#endif /* MLXC_TOKENIZER_INTERNAL_H */
