/* Sub-commands of the mlxc tool; each returns the process exit code. */
#ifndef MLXC_TOOLS_COMMANDS_H
#define MLXC_TOOLS_COMMANDS_H

/* `mlxc info` with no operand: backends and devices (tools/cmd_info.c). */
int mlxc_cmd_info(int argc, char **argv);
/* `mlxc info FILE|DIR [--json]`: a model file or directory (tools/cmd_info_file.c). */
int mlxc_cmd_info_file(int argc, char **argv);
/* `mlxc tokenize --vocab FILE|DIR [--file TEXT | TEXT] [--bos] [--decode]` (tools/cmd_tokenize.c). */
int mlxc_cmd_tokenize(int argc, char **argv);
/* `mlxc run -m MODEL -p PROMPT [-n N] [sampling] [--json]`: generate text (tools/cmd_run.c). */
int mlxc_cmd_run(int argc, char **argv);
/* `mlxc perplexity -m MODEL -f FILE [-c N] [--json]`: score a text (tools/cmd_perplexity.c). */
int mlxc_cmd_perplexity(int argc, char **argv);
/* `mlxc demo`: the default main job (tools/cmd_demo.c). */
int mlxc_cmd_demo(int argc, char **argv);

#endif
