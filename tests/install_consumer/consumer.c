/* Links against an installed mlxc: the version it was compiled against and
 * the one it runs with must agree, and the CPU device must open. */
#include <stdio.h>
#include <string.h>

#include "mlxc/mlxc.h"

int main(void) {
    printf("mlxc %s (compiled against %s)\n", mlxc_version(), MLXC_VERSION_STRING);
    if (strcmp(mlxc_version(), MLXC_VERSION_STRING) != 0 || mlxc_version_number() != MLXC_VERSION_NUMBER) {
        fprintf(stderr, "version mismatch\n");
        return 1;
    }
    mlxc_device *dev = NULL;
    if (mlxc_device_open(MLXC_BACKEND_CPU, 0, &dev) != MLXC_OK) {
        fprintf(stderr, "cannot open the CPU device: %s\n", mlxc_last_error());
        return 1;
    }
    printf("device: %s\n", mlxc_device_name(dev));
    mlxc_device_close(dev);
    return 0;
}
