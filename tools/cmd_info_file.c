#include <stdio.h>
#include "commands.h"
/* Placeholder until the model-file reader lands. */
int mlxc_cmd_info_file(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "mlxc info FILE: not available in this build\n");
    return 2;
}
