/* Sub-commands of the mlxc tool; each takes its own name as argv[0] and
 * returns the process exit code (0 done, 1 failed, 2 bad usage). */
#ifndef MLXC_TOOLS_COMMANDS_H
#define MLXC_TOOLS_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mlxc/mlxc.h"

/* `mlxc info [FILE|DIR] [--json] [--load] [--copy] [--no-tensors] [--metadata]` (tools/cmd_info.c). */
int mlxc_cmd_info(int argc, char **argv);
/* `mlxc tokenize --vocab FILE|DIR [--file TEXT | TEXT] [--bos] [--decode]` (tools/cmd_tokenize.c). */
int mlxc_cmd_tokenize(int argc, char **argv);
/* `mlxc run -m MODEL -p PROMPT [-n N] [sampling] [--json]`: generate text (tools/cmd_run.c). */
int mlxc_cmd_run(int argc, char **argv);
/* `mlxc chat -m MODEL [--system TEXT] [sampling]`: a conversation on stdin (tools/cmd_chat.c). */
int mlxc_cmd_chat(int argc, char **argv);
/* `mlxc bench -m MODEL [-p N] [-n N] [-r N] [-o md|json]`: speed (tools/cmd_bench.c). */
int mlxc_cmd_bench(int argc, char **argv);
/* `mlxc perplexity -m MODEL -f FILE [-c N] [--json]`: score a text (tools/cmd_perplexity.c). */
int mlxc_cmd_perplexity(int argc, char **argv);
/* `mlxc demo`: encoders, sessions and graph replay (tools/cmd_demo.c). */
int mlxc_cmd_demo(int argc, char **argv);
/* `mlxc version` (tools/cmd_info.c). */
int mlxc_cmd_version(int argc, char **argv);

/* What `mlxc info FILE|DIR` shows (tools/cmd_info_file.c). */
typedef struct mlxc_info_opts {
    bool json, load, copy, tensors, metadata;
} mlxc_info_opts;
int mlxc_info_file(const char *path, const mlxc_info_opts *o);
/* GGUF general.file_type (llama.cpp's numbering of a file's dominant
 * weight type) as "Q4_K_M", ...; "?" when unknown (tools/cmd_info_file.c). */
const char *mlxc_tool_file_type_name(int64_t t);

/* --act auto|f32|bf16 of run, chat and bench, from the choice's index:
 * auto is bf16 on a GPU (half the activation bytes, and prefill on the
 * tensor-core GEMMs of bf16, f16 and dequantized weights) and f32 on the
 * CPU (the reference precision; the library's own default everywhere). */
#define MLXC_TOOL_ACT_CHOICES "auto|f32|bf16"
static inline mlxc_dtype mlxc_tool_act_dtype(int choice, const mlxc_device *dev) {
    if (choice == 1) return MLXC_F32;
    if (choice == 2) return MLXC_BF16;
    return mlxc_device_backend(dev) == MLXC_BACKEND_CPU ? MLXC_F32 : MLXC_BF16;
}

/* The usage lines of --decode and --q8 (mlxc_context_params.decode_act) in
 * run, chat and bench; the choices are in mlxc_decode_act's order. */
#define MLXC_TOOL_DECODE_CHOICES "auto|exact|q8"
#define MLXC_TOOL_Q8_USAGE                                                                                            \
    "  --decode auto|exact|q8 the decode step's activations: q8 multiplies int8 activations\n"                      \
    "                         (llama.cpp's q8_1 numerics) where the GPU's int8 mat-vec takes\n"                      \
    "                         the weights (MLX 4-bit and 8-bit, Q4_K, Q5_K; GGUF Q4_0 / Q8_0\n"                      \
    "                         with MLXC_GGML_AS_AFFINE=1), exact keeps bf16 activations;\n"                          \
    "                         auto (default): q8 on a GPU, exact on the CPU; see README\n"                           \
    "  --q8                   the same as --decode q8\n"

/* decode_act from --decode's choice and the --q8 flag; -1 when they
 * disagree. */
static inline int mlxc_tool_decode_act(int choice, bool q8) {
    if (q8 && choice != MLXC_DECODE_ACT_AUTO && choice != MLXC_DECODE_ACT_Q8) return -1;
    return q8 ? MLXC_DECODE_ACT_Q8 : choice;
}

/* Seconds on the monotonic clock, for the timings the commands print. */
static inline double mlxc_tool_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --kv f16|bf16|f32 of run, chat, bench and perplexity, from the choice's index. */
#define MLXC_TOOL_KV_CHOICES "f16|bf16|f32"
static inline mlxc_dtype mlxc_tool_kv_dtype(int choice) {
    return choice == 0 ? MLXC_F16 : choice == 1 ? MLXC_BF16 : MLXC_F32;
}

/* The sampling options of run and chat (llama.cpp's names) as option-table
 * entries: into the sampler parameters sp, with --top-k and
 * --repeat-last-n parsed into the longs top_k and last_n (copy them into sp
 * after parsing). */
#define MLXC_TOOL_SAMPLER_OPTS(sp, top_k, last_n)                                                                     \
    CLI_OPT_FLOAT("--temp", &(sp).temperature), CLI_OPT_INT("--top-k", &(top_k), 0, INT32_MAX),                       \
        CLI_OPT_FLOAT("--top-p", &(sp).top_p), CLI_OPT_FLOAT("--min-p", &(sp).min_p),                                 \
        CLI_OPT_FLOAT("--repeat-penalty", &(sp).repeat_penalty),                                                      \
        CLI_OPT_INT("--repeat-last-n", &(last_n), -1, INT32_MAX), CLI_OPT_U64("--seed", &(sp).seed)

/* Warn once on stderr, as "mlxc CMD: ...", when text[0..len) is not valid
 * UTF-8 (the tokenizer replaces the invalid bytes by U+FFFD) (tools/utf8_warn.c). */
void mlxc_warn_invalid_utf8(const char *cmd, const char *text, size_t len);

/* Streaming generated text (tools/stream.c): after mlxc_stop_on_sigint(),
 * Ctrl-C makes mlxc_stop_requested() true instead of killing the process;
 * mlxc_utf8_complete(s, n) is the length of the longest prefix of s[0..n)
 * that does not end inside a UTF-8 sequence (so a streamed character is
 * never printed in halves). */
void   mlxc_stop_on_sigint(void);
int    mlxc_stop_requested(void);
size_t mlxc_utf8_complete(const char *s, size_t n);

/* The prompt of a conversation as the model formats it (tools/cmd_chat.c):
 * its chat template (or template_path's), else a plain "Role: text" prompt
 * after a warning on stderr naming `who`.  The model must have a tokenizer. */
typedef struct chat_format chat_format;
mlxc_status chat_format_open(const mlxc_model *m, const char *template_path, const char *who, chat_format **out);
/* Whether a real template (not the plain fallback) formats the prompt. */
bool        chat_format_templated(const chat_format *f);
/* More template variables, a JSON object (kept by reference; NULL: none). */
void        chat_format_set_vars(chat_format *f, const char *vars_json);
/* The token ids of msgs[0..n) with the assistant's turn opened (free()). */
mlxc_status chat_format_ids(const chat_format *f, const mlxc_chat_message *msgs, size_t n, int32_t **ids,
                            size_t *n_ids);
void        chat_format_close(chat_format *f);

#endif
