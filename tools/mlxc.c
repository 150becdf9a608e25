/* mlxc — the command-line tool: run, inspect and benchmark. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "mlxc/mlxc.h"

/* The commands only; each command's options are in its own --help. */
static void usage(FILE *f) {
    fprintf(f,
            "usage: mlxc <command> [options]\n"
            "\n"
            "commands:\n"
            "  run -m MODEL -p TEXT        generate text from a prompt\n"
            "  chat -m MODEL               a conversation on stdin through the model's chat template\n"
            "  bench -m MODEL              prompt processing and generation speed (llama-bench's table)\n"
            "  perplexity -m MODEL -f FILE perplexity of a text\n"
            "  info [FILE|DIR]             backends and devices, or a GGUF / safetensors file or model directory\n"
            "  tokenize --vocab V TEXT     token ids of a text\n"
            "  demo                        encoders, sessions and graph replay on a small workload\n"
            "  version                     print the library version\n"
            "\n"
            "`mlxc COMMAND --help` lists a command's options.\n"
            "environment: MLXC_BACKEND=auto|cpu|cuda chooses the device (README.md lists the rest)\n");
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
} k_commands[] = {
    {"run", mlxc_cmd_run},
    {"chat", mlxc_cmd_chat},
    {"bench", mlxc_cmd_bench},
    {"perplexity", mlxc_cmd_perplexity},
    {"info", mlxc_cmd_info},
    {"tokenize", mlxc_cmd_tokenize},
    {"demo", mlxc_cmd_demo},
    {"version", mlxc_cmd_version},
};

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    for (size_t i = 0; i < sizeof k_commands / sizeof *k_commands; i++)
        if (!strcmp(cmd, k_commands[i].name)) return k_commands[i].fn(argc - 1, argv + 1);
    if (!strcmp(cmd, "--version")) return mlxc_cmd_version(1, argv + 1);
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        /* `mlxc help COMMAND` is `mlxc COMMAND --help` */
        if (argc > 2)
            for (size_t i = 0; i < sizeof k_commands / sizeof *k_commands; i++)
                if (!strcmp(argv[2], k_commands[i].name)) {
                    char *help[] = {argv[2], "--help", NULL};
                    return k_commands[i].fn(2, help);
                }
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "mlxc: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
