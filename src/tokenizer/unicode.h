/*
 * Unicode helpers for the tokenizers: UTF-8 decoding with the standard
 * "maximal subpart" replacement of invalid sequences, general categories,
 * lower-casing, NFD/NFC.  The tables (src/model/unicode_data.c) are generated
 * by scripts/gen_unicode.py; nothing here allocates except the *_alloc
 * helpers, which report MLXC_ERR_OUT_OF_MEMORY.
 */
#ifndef MLXC_TOKENIZER_UNICODE_H
#define MLXC_TOKENIZER_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mlxc/common.h"

#define MLXC_UC_REPLACEMENT 0xFFFDu

/* General categories, in the order of scripts/gen_unicode.py (Cn is 0). */
enum {
    MLXC_UC_Cn = 0, MLXC_UC_Lu, MLXC_UC_Ll, MLXC_UC_Lt, MLXC_UC_Lm, MLXC_UC_Lo,
    MLXC_UC_Mn, MLXC_UC_Mc, MLXC_UC_Me, MLXC_UC_Nd, MLXC_UC_Nl, MLXC_UC_No,
    MLXC_UC_Pc, MLXC_UC_Pd, MLXC_UC_Ps, MLXC_UC_Pe, MLXC_UC_Pi, MLXC_UC_Pf, MLXC_UC_Po,
    MLXC_UC_Sm, MLXC_UC_Sc, MLXC_UC_Sk, MLXC_UC_So,
    MLXC_UC_Zs, MLXC_UC_Zl, MLXC_UC_Zp, MLXC_UC_Cc, MLXC_UC_Cf, MLXC_UC_Cs, MLXC_UC_Co
};

typedef struct mlxc_ucd_range { uint32_t first, last; uint32_t value; } mlxc_ucd_range;
typedef struct mlxc_ucd_map   { uint32_t cp, off, n; } mlxc_ucd_map;
typedef struct mlxc_ucd_pair  { uint32_t a, b, c; } mlxc_ucd_pair;

extern const char mlxc_unicode_version[];
extern const mlxc_ucd_range mlxc_ucd_category[];
extern const size_t mlxc_ucd_category_count;
extern const mlxc_ucd_range mlxc_ucd_ccc[];
extern const size_t mlxc_ucd_ccc_count;
extern const mlxc_ucd_map mlxc_ucd_lower[];
extern const size_t mlxc_ucd_lower_count;
extern const uint32_t *const mlxc_ucd_lower_cps;
extern const mlxc_ucd_map mlxc_ucd_nfd[];
extern const size_t mlxc_ucd_nfd_count;
extern const uint32_t *const mlxc_ucd_nfd_cps;
extern const mlxc_ucd_range mlxc_ucd_bert_removed[];
extern const size_t mlxc_ucd_bert_removed_count;
extern const mlxc_ucd_range mlxc_ucd_bert_marks[];
extern const size_t mlxc_ucd_bert_marks_count;
extern const mlxc_ucd_range mlxc_ucd_bert_punct[];
extern const size_t mlxc_ucd_bert_punct_count;
extern const mlxc_ucd_pair mlxc_ucd_compose[];
extern const size_t mlxc_ucd_compose_count;

/* Decode one code point from s[0..n) (n >= 1).  Returns the bytes consumed
 * (>= 1).  An invalid sequence (stray continuation byte, overlong form,
 * surrogate, value above U+10FFFF, truncated sequence) yields U+FFFD and
 * consumes its maximal valid prefix, or one byte: the rule of Unicode §3.9
 * that Python's errors="replace" and Rust's from_utf8_lossy follow.  *valid
 * (optional) tells whether the bytes were a well-formed character. */
size_t mlxc_utf8_next(const uint8_t *s, size_t n, uint32_t *cp, bool *valid);
/* Encode cp (must be <= 0x10FFFF) into out; returns 1..4. */
size_t mlxc_utf8_put(uint32_t cp, char out[4]);
/* Length of the first well-formed prefix of s (== n when all valid). */
size_t mlxc_utf8_valid_prefix(const uint8_t *s, size_t n);
/* A copy of s with every invalid sequence replaced by U+FFFD (EF BF BD),
 * NUL-terminated; *out must be freed. */
mlxc_status mlxc_utf8_sanitize(const char *s, size_t n, char **out, size_t *out_len);

int      mlxc_uc_category(uint32_t cp);
bool     mlxc_uc_is_white_space(uint32_t cp);   /* Unicode White_Space property */
bool     mlxc_uc_is_letter(uint32_t cp);
bool     mlxc_uc_is_number(uint32_t cp);
bool     mlxc_uc_is_punct(uint32_t cp);         /* P*                           */
bool     mlxc_uc_is_symbol(uint32_t cp);        /* S*                           */
bool     mlxc_uc_is_mark(uint32_t cp);          /* M*                           */
bool     mlxc_uc_is_other(uint32_t cp);         /* C* (Cc Cf Cs Co Cn)          */
int      mlxc_uc_ccc(uint32_t cp);
/* The classes of Hugging Face's BERT normalizer / pre-tokenizer (older
 * Unicode tables, probed from the tokenizers package): removed by
 * clean_text (besides NUL and U+FFFD), dropped by strip_accents after NFD,
 * isolated as punctuation. */
bool     mlxc_uc_hf_bert_removed(uint32_t cp);
bool     mlxc_uc_hf_bert_mark(uint32_t cp);
bool     mlxc_uc_hf_bert_punct(uint32_t cp);
/* Full lower-case mapping of one code point: writes 1..3 code points. */
size_t   mlxc_uc_lower(uint32_t cp, uint32_t out[3]);
/* Canonical decomposition of one code point: writes 1..4 code points. */
size_t   mlxc_uc_nfd(uint32_t cp, uint32_t out[4]);

/* Growable code-point array. */
typedef struct mlxc_cpbuf { uint32_t *v; size_t n, cap; } mlxc_cpbuf;
mlxc_status mlxc_cpbuf_push(mlxc_cpbuf *b, uint32_t cp);
void        mlxc_cpbuf_free(mlxc_cpbuf *b);
/* In-place canonical ordering after decomposition (stable by ccc). */
void        mlxc_uc_canonical_order(uint32_t *v, size_t n);
/* NFD of cps into out (appended). */
mlxc_status mlxc_uc_nfd_append(const uint32_t *cps, size_t n, mlxc_cpbuf *out);
/* NFC in place over a buffer that is already NFD. */
void        mlxc_uc_compose(mlxc_cpbuf *b);

#endif /* MLXC_TOKENIZER_UNICODE_H */
