/*
 * The MLXC_* environment variables.  Every one is listed once in the table
 * of core/env.c (name, kind, default, meaning) and read through these
 * accessors, so the README and the code cannot name different sets
 * (tests/check_env.sh compares them).
 */
#ifndef MLXC_CORE_ENV_H
#define MLXC_CORE_ENV_H

#include "mlxc/common.h"

/* The flags the core reads once per process. */
const mlxc_env_flags *mlxc_env(void);

/* The value of a table variable now (tuning knobs may change between
 * calls), or NULL if it is unset or not in the table. */
const char *mlxc_env_str(const char *name);

/* A table variable as a decimal integer; `dflt` if unset or not a number. */
long mlxc_env_int(const char *name, long dflt);

#endif /* MLXC_CORE_ENV_H */
