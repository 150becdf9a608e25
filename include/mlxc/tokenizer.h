/*
 * mlxc/tokenizer.h — text ↔ token ids for the model families mlxc runs.
 *
 * Three algorithms, each matching its reference bit for bit:
 *   - byte-level BPE (GPT-2, Llama 3, Qwen2, DeepSeek, SmolLM, ...): a
 *     regex pre-tokenizer (PCRE2, Unicode properties), the GPT-2 byte ↔
 *     unicode mapping, then merges by rank;
 *   - SentencePiece-style BPE (Llama 2, Phi-3, Mistral v1): spaces become
 *     "▁", a space is prepended (add_space_prefix), pieces merge by score
 *     (GGUF) or by merge rank (tokenizer.json), and characters outside the
 *     vocabulary fall back to byte tokens "<0xNN>";
 *   - WordPiece (BERT): BERT normalisation (control-character removal,
 *     CJK splitting, lower-casing, accent stripping through NFD),
 *     whitespace and punctuation splitting, greedy longest-match pieces with
 *     a "##" continuation prefix, "[UNK]" for words that do not split or
 *     are longer than max_input_chars_per_word (100).
 *
 * A tokenizer comes from a GGUF file's `tokenizer.ggml.*` metadata (model
 * gpt2 / llama / bert; `tokenizer.ggml.pre` picks the pre-tokenizer regexes
 * as llama.cpp does), from a Hugging Face tokenizer.json, or from a model
 * directory holding either:
 *
 *     mlxc_tokenizer *tok;
 *     if (mlxc_tokenizer_load("models/SmolLM2-135M", &tok)) { puts(mlxc_last_error()); ... }
 *     int32_t *ids; size_t n;
 *     mlxc_tokenizer_encode(tok, "Hello world", 11, MLXC_TOKENIZE_ADD_SPECIAL, &ids, &n);
 *     char *text; size_t len;
 *     mlxc_tokenizer_decode(tok, ids, n, MLXC_DECODE_SKIP_SPECIAL, &text, &len);
 *     free(ids); free(text);
 *     mlxc_tokenizer_free(tok);
 *
 * Text is bytes with a length (NUL bytes are ordinary characters).  Invalid
 * UTF-8 never fails and never crashes: before anything else every invalid
 * sequence (stray continuation byte, overlong form, UTF-16 surrogate, value
 * above U+10FFFF, truncated sequence, 0xC0/0xC1/0xF5..0xFF) is replaced by
 * U+FFFD, one per maximal invalid subpart (Unicode §3.9 — exactly what
 * Python's bytes.decode("utf-8", "replace") gives, so the ids equal those of
 * the Hugging Face tokenizers on that decoded string).
 *
 * Special tokens (BOS, "<|im_start|>", "[SEP]", ...) are recognised in the
 * text only with MLXC_TOKENIZE_PARSE_SPECIAL; without it their text is
 * tokenized as ordinary text.  User-defined tokens (GGUF token type 4, the
 * non-special added tokens of a tokenizer.json: runs of spaces, code
 * keywords) are always cut out of the raw text first, before normalization
 * and pre-tokenization, as llama.cpp and Hugging Face tokenizers do.  Both
 * match leftmost, longest first; lstrip/rstrip of tokenizer.json honoured.  MLXC_TOKENIZE_ADD_SPECIAL
 * adds what the model's post-processor adds (BOS for Llama, [CLS] … [SEP]
 * for BERT, nothing for GPT-2).
 *
 * A loaded tokenizer is immutable: it may be used from several threads at
 * once.  Every function returns an mlxc_status (or a plain value for the
 * accessors) and never aborts on any input.
 */
#ifndef MLXC_TOKENIZER_H
#define MLXC_TOKENIZER_H

#include "mlxc/common.h"
#include "mlxc/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlxc_tokenizer mlxc_tokenizer;

typedef enum mlxc_tokenizer_kind {
    MLXC_TOKENIZER_BPE = 0,      /* byte-level BPE (merges by rank)            */
    MLXC_TOKENIZER_SPM,          /* SentencePiece-style BPE with byte fallback */
    MLXC_TOKENIZER_WORDPIECE     /* BERT WordPiece                             */
} mlxc_tokenizer_kind;

/* Special-token roles; ids are -1 when the vocabulary has none. */
typedef enum mlxc_token_role {
    MLXC_TOKEN_BOS = 0, MLXC_TOKEN_EOS, MLXC_TOKEN_UNK, MLXC_TOKEN_SEP,
    MLXC_TOKEN_PAD, MLXC_TOKEN_CLS, MLXC_TOKEN_MASK,
    MLXC_TOKEN_ROLE_COUNT
} mlxc_token_role;

/* encode flags */
#define MLXC_TOKENIZE_ADD_SPECIAL   1u  /* add BOS/EOS/CLS/SEP as the model does   */
#define MLXC_TOKENIZE_PARSE_SPECIAL 2u  /* match special token text too             */

/* decode flags */
#define MLXC_DECODE_SKIP_SPECIAL    1u  /* leave out control tokens (BOS, [CLS]...)*/
#define MLXC_DECODE_REPLACE_INVALID 2u  /* replace invalid UTF-8 in the output by
                                           U+FFFD (maximal subparts); without it
                                           the bytes are returned as they are    */

/* ---- loading ------------------------------------------------------------- */

/* A `.gguf` file, a tokenizer.json file (any other name ending in .json), or
 * a directory: its tokenizer.json, else its only .gguf file.
 * MLXC_ERR_IO / MLXC_ERR_NOT_FOUND for a missing file, MLXC_ERR_FORMAT for a
 * malformed vocabulary (with a message naming the field), MLXC_ERR_UNSUPPORTED
 * for a model or pre-tokenizer this build does not implement. */
MLXC_API mlxc_status mlxc_tokenizer_load(const char *path, mlxc_tokenizer **out);
MLXC_API mlxc_status mlxc_tokenizer_load_gguf(const char *path, mlxc_tokenizer **out);
/* From an open GGUF handle (the tokenizer copies what it needs). */
MLXC_API mlxc_status mlxc_tokenizer_load_gguf_handle(const mlxc_gguf *g, mlxc_tokenizer **out);
MLXC_API mlxc_status mlxc_tokenizer_load_json(const char *path, mlxc_tokenizer **out);
/* From tokenizer.json text in memory (len bytes, need not be NUL-terminated). */
MLXC_API mlxc_status mlxc_tokenizer_load_json_memory(const char *json, size_t len, mlxc_tokenizer **out);
/* NULL is accepted. */
MLXC_API void        mlxc_tokenizer_free(mlxc_tokenizer *tok);

/* Loading options (zero-initialise; NULL means all defaults). */
typedef struct mlxc_tokenizer_options {
    /* GGUF byte-level (gpt2) vocabularies: tokenize as the tokenizer that
     * Hugging Face transformers builds from a GGUF file
     * (AutoTokenizer.from_pretrained(dir, gguf_file=...)) rather than as
     * llama.cpp does.  transformers ignores `tokenizer.ggml.pre` and always
     * uses the GPT-2 ByteLevel regex, and adds the BOS id whenever there is
     * one (whatever add_bos_token says).  The two differ where the model's
     * own pre-tokenizer splits more than GPT-2's: SmolLM2 ("smollm") splits
     * every \p{N} character, so e.g. " ١٢" or "²³" tokenize differently. */
    bool gguf_transformers_compat;
} mlxc_tokenizer_options;

/* mlxc_tokenizer_load with options. */
MLXC_API mlxc_status mlxc_tokenizer_load_ex(const char *path, const mlxc_tokenizer_options *opt,
                                            mlxc_tokenizer **out);

/* ---- encode / decode ----------------------------------------------------------- */

/* Token ids of text[0..len) into a new array (*ids, *n_ids; release with
 * free(); *ids is non-NULL even when *n_ids is 0).  text may be NULL when
 * len is 0. */
MLXC_API mlxc_status mlxc_tokenizer_encode(const mlxc_tokenizer *tok, const char *text, size_t len,
                                           unsigned flags, int32_t **ids, size_t *n_ids);
/* Text of ids[0..n) into a new NUL-terminated string (*text, *len not
 * counting the NUL; release with free()).  An id outside the vocabulary is
 * MLXC_ERR_OUT_OF_RANGE.  SentencePiece and WordPiece drop the space the
 * encoder prepended to the first word; WordPiece joins "##" pieces and
 * applies the Hugging Face cleanup (" ." → "." ...). */
MLXC_API mlxc_status mlxc_tokenizer_decode(const mlxc_tokenizer *tok, const int32_t *ids, size_t n,
                                           unsigned flags, char **text, size_t *len);

/* ---- vocabulary ---------------------------------------------------------------- */

MLXC_API mlxc_tokenizer_kind mlxc_tokenizer_get_kind(const mlxc_tokenizer *tok);
/* Number of token ids (0 for NULL). */
MLXC_API size_t      mlxc_tokenizer_vocab_size(const mlxc_tokenizer *tok);
/* The vocabulary string of `id`, as stored (byte-level BPE pieces are in the
 * GPT-2 unicode alphabet, "Ġhello"; SentencePiece pieces use "▁").  Not
 * NUL-terminated; valid while the tokenizer lives. */
MLXC_API mlxc_status mlxc_tokenizer_token_text(const mlxc_tokenizer *tok, int32_t id, const char **s, size_t *len);
/* The bytes `id` stands for in decoded text (what decode of that one id
 * gives, without the first-word space stripping), into buf; *len is the
 * full length even when it exceeds cap (then MLXC_ERR_OUT_OF_RANGE). */
MLXC_API mlxc_status mlxc_tokenizer_token_piece(const mlxc_tokenizer *tok, int32_t id, char *buf, size_t cap,
                                                size_t *len);
/* Id of the vocabulary string s[0..len); MLXC_ERR_NOT_FOUND when absent. */
MLXC_API mlxc_status mlxc_tokenizer_token_id(const mlxc_tokenizer *tok, const char *s, size_t len, int32_t *id);
/* Id of a special-token role; -1 when the vocabulary has none. */
MLXC_API int32_t     mlxc_tokenizer_special_id(const mlxc_tokenizer *tok, mlxc_token_role role);
/* Whether `id` is a control/special token (skipped by MLXC_DECODE_SKIP_SPECIAL). */
MLXC_API bool        mlxc_tokenizer_is_special(const mlxc_tokenizer *tok, int32_t id);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_TOKENIZER_H */
