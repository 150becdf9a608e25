/* `mlxc info`: which backends are built and usable, and each device's caps;
 * `mlxc info FILE|DIR` describes a model file (tools/cmd_info_file.c). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "mlxc/mlxc.h"
#include "opt.h"

static const char k_usage[] =
    "usage: mlxc info [FILE|DIR] [--json] [--load] [--copy] [--no-tensors] [--metadata]\n"
    "  with no operand: the library version, backends, devices and their capabilities\n"
    "  FILE|DIR        a .gguf or .safetensors file, or a model directory: format, metadata,\n"
    "                  hyperparameters, quantization and the tensor table\n"
    "  --json          one JSON object instead of text\n"
    "  --load          also load every tensor onto the device (MLXC_BACKEND picks it) and time it\n"
    "  --copy          with --load: copy even where the device could map the file\n"
    "  --no-tensors    leave out the tensor table\n"
    "  --metadata      list every GGUF metadata entry (--json always has them)\n";

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

static int info_devices(void) {
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

int mlxc_cmd_info(int argc, char **argv) {
    mlxc_info_opts o = {.tensors = true};
    bool no_tensors = false;
    const cli_opt opts[] = {
        CLI_OPT_FLAG("--json", &o.json),
        CLI_OPT_FLAG("--load", &o.load),
        CLI_OPT_FLAG("--copy", &o.copy),
        CLI_OPT_FLAG("--no-tensors", &no_tensors),
        CLI_OPT_FLAG("--metadata", &o.metadata),
        CLI_OPT_END,
    };
    const char *path = NULL;
    cli_cmd c = {"info", k_usage, opts, &path, 1, 0};
    int rc = cli_parse(&c, argc, argv);
    if (rc >= 0) return rc;
    o.tensors = !no_tensors;
    o.load |= o.copy;
    if (!path) {
        if (o.json || o.load || no_tensors || o.metadata)
            return cli_usage_error(&c, "--json, --load, --copy, --no-tensors and --metadata describe a FILE|DIR");
        return info_devices();
    }
    return mlxc_info_file(path, &o);
}

int mlxc_cmd_version(int argc, char **argv) {
    cli_cmd c = {"version", "usage: mlxc version\n  print the library version\n", NULL, NULL, 0, 0};
    int rc = cli_parse(&c, argc, argv);
    if (rc >= 0) return rc;
    printf("mlxc %s\n", mlxc_version());
    return 0;
}
