/* Status names and the thread-local error message. */
#include <stdarg.h>
#include <stdio.h>

#include "core/internal.h"

static _Thread_local char t_error[1024];

mlxc_status mlxc_set_error(mlxc_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t_error, sizeof t_error, fmt, ap);
    va_end(ap);
    return st;
}

const char *mlxc_last_error(void) { return t_error; }
void mlxc_clear_error(void) { t_error[0] = '\0'; }

const char *mlxc_status_name(mlxc_status st) {
    switch (st) {
    case MLXC_OK: return "MLXC_OK";
    case MLXC_ERR_INVALID_ARGUMENT: return "MLXC_ERR_INVALID_ARGUMENT";
    case MLXC_ERR_OUT_OF_RANGE: return "MLXC_ERR_OUT_OF_RANGE";
    case MLXC_ERR_DTYPE: return "MLXC_ERR_DTYPE";
    case MLXC_ERR_SHAPE: return "MLXC_ERR_SHAPE";
    case MLXC_ERR_OUT_OF_MEMORY: return "MLXC_ERR_OUT_OF_MEMORY";
    case MLXC_ERR_NOT_FOUND: return "MLXC_ERR_NOT_FOUND";
    case MLXC_ERR_UNSUPPORTED: return "MLXC_ERR_UNSUPPORTED";
    case MLXC_ERR_NO_DEVICE: return "MLXC_ERR_NO_DEVICE";
    case MLXC_ERR_STATE: return "MLXC_ERR_STATE";
    case MLXC_ERR_COMMAND_BUFFER: return "MLXC_ERR_COMMAND_BUFFER";
    case MLXC_ERR_DEVICE_LOST: return "MLXC_ERR_DEVICE_LOST";
    case MLXC_ERR_COMPILE: return "MLXC_ERR_COMPILE";
    case MLXC_ERR_IO: return "MLXC_ERR_IO";
    case MLXC_ERR_FORMAT: return "MLXC_ERR_FORMAT";
    case MLXC_ERR_INTERNAL: return "MLXC_ERR_INTERNAL";
    }
    return "MLXC_ERR_UNKNOWN";
}
