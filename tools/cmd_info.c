/* `mlxc info`: which backends are built and usable, and each device's caps. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "mlxc/mlxc.h"

static void print_device(mlxc_backend_kind kind, int index) {
    mlxc_device *dev;
    if (mlxc_device_open(kind, index, &dev) != MLXC_OK) {
        printf("  %s:%d  unavailable: %s\n", mlxc_backend_name(kind), index, mlxc_last_error());
        return;
    }
    mlxc_device_caps c;
    mlxc_device_caps_get(dev, &c);
    printf("  %s:%d  %s\n", mlxc_backend_name(kind), index, c.name);
    printf("      compute units %d, max threads/group %d, shared memory/group %zu KiB\n", c.compute_units,
           c.max_threads_per_group, c.max_shared_bytes / 1024);
    printf("      memory %.1f GiB%s", (double)c.total_memory / (1024.0 * 1024.0 * 1024.0),
           c.host_visible ? " (host visible)" : "");
    if (c.arch_major) printf(", compute capability %d.%d", c.arch_major, c.arch_minor);
    if (c.l2_bytes) printf(", cache %.1f MiB", (double)c.l2_bytes / (1024.0 * 1024.0));
    if (c.memory_bus_bits) printf(", %d-bit memory bus", c.memory_bus_bits);
    printf("\n      dispatch timestamps %s, native graphs %s, run-time compile %s\n",
           c.dispatch_timestamps ? "yes" : "no", c.graphs ? "yes" : "no", c.runtime_compile ? "yes" : "no");
    mlxc_device_close(dev);
}

int mlxc_cmd_info(int argc, char **argv) {
    (void)argc; (void)argv;
    printf("mlxc %s\n", mlxc_version());
    mlxc_env_flags env;
    mlxc_env_get(&env);
    int ncpu = 0, ncuda = 0;
    mlxc_device_count(MLXC_BACKEND_CPU, &ncpu);
    mlxc_device_count(MLXC_BACKEND_CUDA, &ncuda);
#ifdef MLXC_HAVE_CUDA
    const char *cuda_built = "built";
#else
    const char *cuda_built = "built (driver loaded at run time)";
#endif
    (void)cuda_built;
    printf("backends:\n  cpu   %d device\n  cuda  %d device%s%s\n", ncpu, ncuda, ncuda == 1 ? "" : "s",
           ncuda == 0 ? " (no driver, no GPU, or not built in)" : "");
    mlxc_device *dev;
    if (mlxc_device_open(MLXC_BACKEND_AUTO, 0, &dev) == MLXC_OK) {
        printf("default (MLXC_BACKEND=%s): %s\n", mlxc_backend_name((mlxc_backend_kind)env.backend), mlxc_device_name(dev));
        mlxc_device_close(dev);
    }
    printf("devices:\n");
    for (int i = 0; i < ncuda; i++) print_device(MLXC_BACKEND_CUDA, i);
    print_device(MLXC_BACKEND_CPU, 0);
    printf("settings: auto_barrier=%d profile_cb=%d profile_dispatch=%d profile_barriers=%d unretained_refs=%d cpu_threads=%d\n",
           env.auto_barrier, env.profile_cb, env.profile_dispatch, env.profile_barriers, env.unretained_refs,
           env.cpu_threads);
    return 0;
}
