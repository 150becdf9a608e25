/*
 * `mlxc tokenize --vocab FILE|DIR [--file TEXT | TEXT] [--bos] [--decode]
 *                [--parse-special] [--skip-special] [--transformers]`
 *
 * Prints the token ids of the text on one line, separated by single spaces
 * (the convention of llama.cpp's tokenizer tests: no special tokens added,
 * special-token text not parsed).  --bos adds the model's special tokens
 * (BOS, or [CLS] ... [SEP]); --parse-special recognises special-token text.
 * --decode reads ids (whitespace-separated, from the operand or the file)
 * and prints their text instead.  The text comes byte for byte from the
 * file (NUL bytes and invalid UTF-8 included) or from the operand; invalid
 * UTF-8 is replaced by U+FFFD, with a warning on stderr.
 * --transformers tokenizes a GGUF byte-level vocabulary as Hugging Face
 * transformers' GGUF converter does instead of as llama.cpp does (see
 * mlxc_tokenizer_options in mlxc/tokenizer.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "mlxc/tokenizer.h"
#include "opt.h"

static const char k_usage[] =
    "usage: mlxc tokenize --vocab FILE|DIR [--file TEXT | TEXT] [--bos] [--decode]\n"
    "                     [--parse-special] [--skip-special] [--transformers]\n"
    "  --vocab V         a .gguf file, a tokenizer.json, or a model directory\n"
    "  --file F          read the text (or, with --decode, the ids) from F ('-': stdin)\n"
    "  --bos             add the model's special tokens (BOS / [CLS] ... [SEP])\n"
    "  --parse-special   recognise special-token text such as <|im_start|>\n"
    "  --decode          read token ids and print their text\n"
    "  --skip-special    with --decode: leave out control tokens\n"
    "  --transformers    GGUF gpt2 vocabularies: pre-tokenize as transformers' GGUF\n"
    "                    converter does (GPT-2 regex), not as llama.cpp does\n";

static int read_all(const char *path, char **data, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "mlxc tokenize: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        if (n == cap) {
            char *nb = realloc(b, cap * 2);
            if (!nb) { free(b); b = NULL; break; }
            b = nb;
            cap *= 2;
        }
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    bool err = ferror(f) != 0;
    if (f != stdin) fclose(f);
    if (!b || err) {
        fprintf(stderr, "mlxc tokenize: cannot read %s\n", path);
        free(b);
        return -1;
    }
    *data = b;
    *len = n;
    return 0;
}

static int do_decode(const mlxc_tokenizer *tok, const char *text, size_t len, unsigned flags) {
    size_t cap = 256, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return 1;
    size_t i = 0;
    while (i < len) {
        while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r' || text[i] == ','))
            i++;
        if (i >= len) break;
        char num[32];
        size_t k = 0;
        while (i < len && k < sizeof num - 1 && text[i] != ' ' && text[i] != '\n' && text[i] != '\t' &&
               text[i] != '\r' && text[i] != ',')
            num[k++] = text[i++];
        num[k] = 0;
        char *end;
        errno = 0;
        long v = strtol(num, &end, 10);
        if (*end || errno || v < INT32_MIN || v > INT32_MAX) {
            fprintf(stderr, "mlxc tokenize: '%s' is not a token id\n", num);
            free(ids);
            return 1;
        }
        if (n == cap) {
            int32_t *ni = realloc(ids, cap * 2 * sizeof *ni);
            if (!ni) { free(ids); return 1; }
            ids = ni;
            cap *= 2;
        }
        ids[n++] = (int32_t)v;
    }
    char *out;
    size_t olen;
    mlxc_status st = mlxc_tokenizer_decode(tok, ids, n, flags, &out, &olen);
    free(ids);
    if (st) {
        fprintf(stderr, "mlxc tokenize: %s\n", mlxc_last_error());
        return 1;
    }
    fwrite(out, 1, olen, stdout);
    fputc('\n', stdout);
    free(out);
    return 0;
}

int mlxc_cmd_tokenize(int argc, char **argv) {
    const char *vocab = NULL, *file = NULL, *text = NULL;
    bool bos = false, decode = false, parse = false, skip = false, hf = false;
    const cli_opt opts[] = {
        CLI_OPT_STRING("--vocab", &vocab),
        CLI_OPT_STRING("--file", &file),
        CLI_OPT_FLAG("--bos", &bos),
        CLI_OPT_FLAG("--decode", &decode),
        CLI_OPT_FLAG("--parse-special", &parse),
        CLI_OPT_FLAG("--skip-special", &skip),
        CLI_OPT_FLAG("--transformers", &hf),
        CLI_OPT_END,
    };
    cli_cmd c = {"tokenize", k_usage, opts, &text, 1, 0};
    int prc = cli_parse(&c, argc, argv);
    if (prc >= 0) return prc;
    if (!vocab) return cli_usage_error(&c, "--vocab FILE|DIR is required");
    if (!file && !text) return cli_usage_error(&c, "give the text as an operand or with --file");
    if (file && text) return cli_usage_error(&c, "give the text as an operand or with --file, not both");
    mlxc_tokenizer *tok;
    mlxc_tokenizer_options opt = { .gguf_transformers_compat = hf };
    if (mlxc_tokenizer_load_ex(vocab, &opt, &tok) != MLXC_OK) {
        fprintf(stderr, "mlxc tokenize: %s\n", mlxc_last_error());
        return 1;
    }
    char *data = NULL;
    size_t len = 0;
    if (file) {
        if (read_all(file, &data, &len)) { mlxc_tokenizer_free(tok); return 1; }
    } else {
        len = strlen(text);
    }
    const char *src = data ? data : text;
    int rc = 0;
    if (decode) {
        rc = do_decode(tok, src, len, skip ? MLXC_DECODE_SKIP_SPECIAL : 0);
    } else {
        mlxc_warn_invalid_utf8("tokenize", src, len);
        int32_t *ids;
        size_t n;
        unsigned flags = (bos ? MLXC_TOKENIZE_ADD_SPECIAL : 0) | (parse ? MLXC_TOKENIZE_PARSE_SPECIAL : 0);
        if (mlxc_tokenizer_encode(tok, src, len, flags, &ids, &n) != MLXC_OK) {
            fprintf(stderr, "mlxc tokenize: %s\n", mlxc_last_error());
            rc = 1;
        } else {
            /* one line, ids separated by single spaces; buffered in chunks */
            char buf[1 << 14];
            size_t b = 0;
            for (size_t i = 0; i < n; i++) {
                if (b > sizeof buf - 16) { fwrite(buf, 1, b, stdout); b = 0; }
                b += (size_t)snprintf(buf + b, sizeof buf - b, i ? " %d" : "%d", ids[i]);
            }
            fwrite(buf, 1, b, stdout);
            fputc('\n', stdout);
            free(ids);
        }
    }
    free(data);
    mlxc_tokenizer_free(tok);
    return rc;
}
