/* The library's version, compiled in from the generated mlxc/version.h so
 * that a program can tell which library it was loaded with. */
#include "mlxc/common.h"
#include "mlxc/version.h"

const char *mlxc_version(void) { return MLXC_VERSION_STRING; }

int mlxc_version_number(void) { return MLXC_VERSION_NUMBER; }
