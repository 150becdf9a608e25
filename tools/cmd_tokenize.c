#include <stdio.h>
#include "commands.h"
/* Placeholder until the tokenizer lands. */
int mlxc_cmd_tokenize(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "mlxc tokenize: not available in this build\n");
    return 2;
}
