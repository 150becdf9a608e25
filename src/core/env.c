/* Environment flags, read once. */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static mlxc_env_flags g_env;
static pthread_once_t g_env_once = PTHREAD_ONCE_INIT;

static bool env_is_one(const char *name) {
    const char *v = getenv(name);
    return v && strcmp(v, "1") == 0;
}
static bool env_is_set(const char *name) {
    const char *v = getenv(name);
    return v && v[0] != '\0';
}

static void env_load(void) {
    const char *b = getenv("MLXC_BACKEND");
    g_env.backend = MLXC_BACKEND_AUTO;
    if (b && (strcmp(b, "cpu") == 0 || strcmp(b, "CPU") == 0)) g_env.backend = MLXC_BACKEND_CPU;
    if (b && (strcmp(b, "cuda") == 0 || strcmp(b, "CUDA") == 0)) g_env.backend = MLXC_BACKEND_CUDA;
    g_env.auto_barrier = env_is_one("MLXC_AUTO_BARRIER");
    g_env.profile_cb = env_is_set("MLXC_PROFILE_CB");
    g_env.profile_dispatch = env_is_set("MLXC_PROFILE_DISPATCH");
    g_env.profile_barriers = env_is_one("MLXC_PROFILE_BARRIERS");
    g_env.unretained_refs = env_is_one("MLXC_UNRETAINED_REFS");
    const char *t = getenv("MLXC_CPU_THREADS");
    long n = t ? strtol(t, NULL, 10) : 0;
    g_env.cpu_threads = (n > 0 && n <= 1024) ? (int)n : 0;
}

const mlxc_env_flags *mlxc_env(void) {
    pthread_once(&g_env_once, env_load);
    return &g_env;
}

void mlxc_env_get(mlxc_env_flags *out) {
    if (out) *out = *mlxc_env();
}
