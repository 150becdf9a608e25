/* mlxc — the command-line tool: run, inspect and benchmark. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "mlxc/mlxc.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mlxc <command> [options]\n"
            "\n"
            "commands:\n"
            "  run -m MODEL -p TEXT generate text from a prompt (-n N, --temp, --top-k, --top-p, --min-p,\n"
            "                       --repeat-penalty, --seed, -c N, --json; run --help for all)\n"
            "  perplexity -m MODEL -f FILE   perplexity of a text in chunks of -c N tokens (--json)\n"
            "  info                 backends, devices and their capabilities\n"
            "  info FILE|DIR        describe a GGUF / safetensors file or a model directory (--json)\n"
            "  tokenize --vocab V   token ids of a text (--file F | TEXT) [--bos] [--decode]\n"
            "  demo                 run a multi-stage workload through encoders, a session and a\n"
            "                       captured graph replay, and report what ran (the default job)\n"
            "  version              print the library version\n"
            "\n"
            "environment: MLXC_BACKEND=auto|cpu|cuda, MLXC_AUTO_BARRIER=1, MLXC_PROFILE_CB=1,\n"
            "  MLXC_PROFILE_DISPATCH=1, MLXC_PROFILE_BARRIERS=1, MLXC_UNRETAINED_REFS=1, MLXC_CPU_THREADS=N\n");
}

int main(int argc, char **argv) {
    if (argc < 2) return mlxc_cmd_demo(argc - 1, argv + 1);
    const char *cmd = argv[1];
    if (strcmp(cmd, "info") == 0) {
        for (int i = 2; i < argc; i++)
            if (argv[i][0] != '-') return mlxc_cmd_info_file(argc - 1, argv + 1);
        return mlxc_cmd_info(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "run") == 0) return mlxc_cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "perplexity") == 0) return mlxc_cmd_perplexity(argc - 1, argv + 1);
    if (strcmp(cmd, "tokenize") == 0) return mlxc_cmd_tokenize(argc - 1, argv + 1);
    if (strcmp(cmd, "demo") == 0) return mlxc_cmd_demo(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("mlxc %s\n", mlxc_version());
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "mlxc: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
