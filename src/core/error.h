/*
 * The error setter and argument check, apart from the rest of core's
 * internals so that layers above core (io, tokenizer, ops) can report errors
 * without seeing devices, command buffers or backends.
 */
#ifndef MLXC_CORE_ERROR_H
#define MLXC_CORE_ERROR_H

#include "mlxc/common.h"

/* Record a formatted message for the calling thread and return `st`. */
mlxc_status mlxc_set_error(mlxc_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define MLXC_CHECK_ARG(cond, ...) \
    do { if (!(cond)) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, __VA_ARGS__); } while (0)

#endif /* MLXC_CORE_ERROR_H */
