/* The table of MLXC_* environment variables and the flags read once. */
#include <stdlib.h>
#include <string.h>

#include "core/env.h"
#include "core/internal.h"

typedef enum env_kind { ENV_BOOL, ENV_INT, ENV_STRING, ENV_PATH } env_kind;

typedef struct env_var {
    const char *name;
    env_kind    kind;
    const char *dflt;
    const char *doc;
} env_var;

/* Every MLXC_* variable the library reads; the README's table lists the same
 * names (tests/check_env.sh). */
static const env_var k_env[] = {
    {"MLXC_BACKEND", ENV_STRING, "auto", "device kind chosen for MLXC_BACKEND_AUTO: auto, cpu or cuda"},
    {"MLXC_AUTO_BARRIER", ENV_BOOL, "0", "1: tracked dispatches infer barriers"},
    {"MLXC_PROFILE_CB", ENV_BOOL, "", "set: per-label command-buffer device time"},
    {"MLXC_PROFILE_DISPATCH", ENV_BOOL, "", "set: per-dispatch timestamps, serialised"},
    {"MLXC_PROFILE_BARRIERS", ENV_BOOL, "0", "1: time spent issuing barriers"},
    {"MLXC_UNRETAINED_REFS", ENV_BOOL, "0", "1: command buffers do not keep their buffers alive"},
    {"MLXC_CPU_THREADS", ENV_INT, "0", "CPU backend worker threads (0: one per core)"},
    {"MLXC_CUDA_GRAPHS", ENV_BOOL, "1", "0: CUDA command buffers as immediate launches, not graphs"},
    {"MLXC_CUDA_RANGE_EDGES", ENV_BOOL, "1", "0: graph mode orders by barriers only"},
    {"MLXC_CUDA_PDL", ENV_BOOL, "1", "0: no programmatic dependent launch between graph kernels"},
    {"MLXC_FUSED_DECODE", ENV_INT, "1", "0: decode without the fused mat-vecs; 1: fused on a GPU; 2: on the CPU too"},
    {"MLXC_DECODE_OVERLAP", ENV_INT, "1", "0: a GPU decode step returns finished, not while it runs (mlxc_context_eval)"},
    {"MLXC_GENERATE_FEED", ENV_BOOL, "1", "0: greedy mlxc_generate reads each token before it queues the next step"},
    {"MLXC_FUSED_HEAD", ENV_INT, "1", "1 or 0: the fused decode step ends in one kernel (final norm, head, greedy pick) or in three (default 1)"},
    {"MLXC_QMVR_WAVES", ENV_INT, "1", "the int8 mat-vec's grid: at most N times the blocks that fit at once (0: a block a tile)"},
    {"MLXC_DECODE_Q8", ENV_INT, "", "1 or 0: the fused decode step's int8 activations on or off, over mlxc_context_params.decode_act (default: on a GPU)"},
    {"MLXC_GGML_AS_AFFINE", ENV_INT, "", "1 or 0: GGUF Q4_0 / Q8_0 stored as MLX affine on or off (mlxc_model_options.ggml_as_affine)"},
    {"MLXC_GGML_TILES", ENV_INT, "", "1 or 0: GGUF Q4_0 linear weights stored as Q4_0 tiles on a GPU on or off (mlxc_model_options.ggml_tiles)"},
    {"MLXC_CUDA_DISABLE", ENV_BOOL, "0", "1: hide the CUDA driver"},
    {"MLXC_CACHE_DIR", ENV_PATH, "", "where NVRTC-compiled kernels are cached"},
    {"MLXC_CUBLASLT", ENV_BOOL, "1", "0: bf16 GEMMs on CUDA use our own kernel, not cuBLASLt"},
    {"MLXC_CUBLASLT_PATH", ENV_PATH, "", "a file to load as libcublasLt"},
    {"MLXC_NVRTC_PATH", ENV_PATH, "", "a file to load as libnvrtc"},
    {"MLXC_ATTN_DECODE_SPLITS", ENV_INT, "0", "decode attention: KV splits per head (0: from the SM count)"},
    {"MLXC_ATTN_SPLIT_KEYS", ENV_INT, "64", "decode attention: keys a live split covers at least (0: every split live)"},
    {"MLXC_ATTN_TRIGGER", ENV_INT, "2", "fused decode attention: the next kernel scheduled at its wait (0), after the q/k/v staging (1), after the key tiles (2, default) or at its exit (3)"},
    {"MLXC_ATTN_FUSED_ROPE", ENV_BOOL, "1", "0: decode attention over a q/k/v row as two dispatches (rope/cache, then attention)"},
    {"MLXC_ATTN_PREFILL", ENV_STRING, "", "prefill attention: mma forces the mma.sync kernel on Hopper (comparisons)"},
    {"MLXC_ATTN_PREFILL_GRID", ENV_INT, "0", "prefill attention on CUDA: cap the grid at N blocks"},
    {"MLXC_TQ_DECODE_SPLITS", ENV_INT, "0", "quantized-KV decode attention: splits per KV head (0: from the SM count)"},
};

static const env_var *env_find(const char *name) {
    for (size_t i = 0; i < sizeof k_env / sizeof k_env[0]; i++)
        if (strcmp(k_env[i].name, name) == 0) return &k_env[i];
    return NULL;
}

const char *mlxc_env_str(const char *name) {
    return name && env_find(name) ? getenv(name) : NULL;
}

long mlxc_env_int(const char *name, long dflt) {
    const char *v = mlxc_env_str(name);
    if (!v || !*v) return dflt;
    char *end;
    long n = strtol(v, &end, 10);
    return end == v ? dflt : n;
}

static mlxc_env_flags g_env;
static pthread_once_t g_env_once = PTHREAD_ONCE_INIT;

static bool env_is_one(const char *name) {
    const char *v = mlxc_env_str(name);
    return v && strcmp(v, "1") == 0;
}
static bool env_is_set(const char *name) {
    const char *v = mlxc_env_str(name);
    return v && v[0] != '\0';
}

static void env_load(void) {
    const char *b = mlxc_env_str("MLXC_BACKEND");
    g_env.backend = MLXC_BACKEND_AUTO;
    if (b && (strcmp(b, "cpu") == 0 || strcmp(b, "CPU") == 0)) g_env.backend = MLXC_BACKEND_CPU;
    if (b && (strcmp(b, "cuda") == 0 || strcmp(b, "CUDA") == 0)) g_env.backend = MLXC_BACKEND_CUDA;
    g_env.auto_barrier = env_is_one("MLXC_AUTO_BARRIER");
    g_env.profile_cb = env_is_set("MLXC_PROFILE_CB");
    g_env.profile_dispatch = env_is_set("MLXC_PROFILE_DISPATCH");
    g_env.profile_barriers = env_is_one("MLXC_PROFILE_BARRIERS");
    g_env.unretained_refs = env_is_one("MLXC_UNRETAINED_REFS");
    const char *t = mlxc_env_str("MLXC_CPU_THREADS");
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
