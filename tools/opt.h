/* One small option parser for every sub-command of the mlxc tool, so that
 * they all behave alike: `-h`/`--help` prints the usage on stdout (exit 0);
 * an unknown option, a missing value or a bad value prints what is wrong
 * and the usage on stderr (exit 2).  Options take their value from the next
 * argument or after '=' (`--temp=0`); `--` ends the options. */
#ifndef MLXC_TOOLS_OPT_H
#define MLXC_TOOLS_OPT_H

#include <stdbool.h>
#include <stdint.h>

typedef enum cli_kind {
    CLI_FLAG,     /* bool *: set to true                                 */
    CLI_STRING,   /* const char **                                       */
    CLI_INT,      /* long *: a decimal integer in [lo, hi]               */
    CLI_FLOAT,    /* float *: a finite number                            */
    CLI_U64,      /* uint64_t *: a non-negative decimal integer          */
    CLI_CHOICE,   /* int *: the index of the value in `choices`          */
} cli_kind;

typedef struct cli_opt {
    const char *names;     /* '|'-separated spellings: "-m|--model"     */
    cli_kind    kind;
    void       *dst;
    long        lo, hi;    /* CLI_INT: the accepted range                */
    const char *choices;   /* CLI_CHOICE: '|'-separated values           */
} cli_opt;

/* Table entries, one per kind. */
#define CLI_OPT_FLAG(names, dst)            {(names), CLI_FLAG, (dst), 0, 0, NULL}
#define CLI_OPT_STRING(names, dst)          {(names), CLI_STRING, (dst), 0, 0, NULL}
#define CLI_OPT_INT(names, dst, lo, hi)     {(names), CLI_INT, (dst), (lo), (hi), NULL}
#define CLI_OPT_FLOAT(names, dst)           {(names), CLI_FLOAT, (dst), 0, 0, NULL}
#define CLI_OPT_U64(names, dst)             {(names), CLI_U64, (dst), 0, 0, NULL}
#define CLI_OPT_CHOICE(names, dst, choices) {(names), CLI_CHOICE, (dst), 0, 0, (choices)}
#define CLI_OPT_END                         {NULL, CLI_FLAG, NULL, 0, 0, NULL}

typedef struct cli_cmd {
    const char    *name;         /* "run": messages read "mlxc run: ..." */
    const char    *usage;        /* the whole usage text                 */
    const cli_opt *opts;         /* ends with an entry whose names is NULL */
    const char   **operands;     /* (max_operands) positional arguments  */
    int            max_operands;
    int            n_operands;   /* out                                  */
} cli_cmd;

/* Parse argv[1..argc) (argv[0] is the command's name).  Returns -1 when the
 * command should go on, else the exit code: 0 after --help, 2 after an error
 * (both with the usage printed). */
int cli_parse(cli_cmd *c, int argc, char **argv);

/* "mlxc NAME: MESSAGE", a blank line and the usage on stderr; returns 2. */
int cli_usage_error(const cli_cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
