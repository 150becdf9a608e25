/* Status names, the thread-local error message, dtypes, float conversions,
 * environment flags and the process-wide counters. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* ---- dtypes ------------------------------------------------------------- */

static const struct { size_t size; const char *name; } k_dtypes[MLXC_DTYPE_COUNT] = {
    [MLXC_F32] = {4, "f32"}, [MLXC_F16] = {2, "f16"}, [MLXC_BF16] = {2, "bf16"},
    [MLXC_U8] = {1, "u8"},   [MLXC_U16] = {2, "u16"}, [MLXC_U32] = {4, "u32"},
    [MLXC_I8] = {1, "i8"},   [MLXC_I16] = {2, "i16"}, [MLXC_I32] = {4, "i32"},
    [MLXC_I64] = {8, "i64"},
};

size_t mlxc_dtype_size(mlxc_dtype dt) {
    return ((unsigned)dt < MLXC_DTYPE_COUNT) ? k_dtypes[dt].size : 0;
}

const char *mlxc_dtype_name(mlxc_dtype dt) {
    return ((unsigned)dt < MLXC_DTYPE_COUNT) ? k_dtypes[dt].name : "invalid";
}

/* ---- 16-bit floats ------------------------------------------------------- */

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

uint16_t mlxc_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);                                          /* RNE */
    return (uint16_t)(u >> 16);
}

float mlxc_bf16_to_f32(uint16_t b) { return bits_f32((uint32_t)b << 16); }

uint16_t mlxc_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);          /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);         /* overflow to inf
                                                                        (65520 rounds up) */
    if (a < 0x38800000u) {                                           /* subnormal or zero */
        /* Add 0.5 (as f32) so the FPU rounds to the f16 subnormal grid. */
        float r = bits_f32(a) + 0.5f;
        return (uint16_t)(sign | (f32_bits(r) - 0x3f000000u));
    }
    uint32_t mant_odd = (a >> 13) & 1u;
    a += 0xc8000fffu + mant_odd;   /* rebias exponent (-112 << 23) and round to nearest even */
    return (uint16_t)(sign | (a >> 13));
}

float mlxc_f16_to_f32(uint16_t h) {
    uint32_t sign = ((uint32_t)h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
        float v = (float)mant * 5.9604644775390625e-8f; /* 2^-24 */
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

/* ---- environment ---------------------------------------------------------- */

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

/* ---- counters and clock ---------------------------------------------------- */

mlxc_counter_state mlxc_g_counters;

void mlxc_counters_get(mlxc_counters *out) {
    if (!out) return;
    out->sync = atomic_load_explicit(&mlxc_g_counters.sync, memory_order_relaxed);
    out->dispatch = atomic_load_explicit(&mlxc_g_counters.dispatch, memory_order_relaxed);
    out->cmd_buf = atomic_load_explicit(&mlxc_g_counters.cmd_buf, memory_order_relaxed);
    out->barrier = atomic_load_explicit(&mlxc_g_counters.barrier, memory_order_relaxed);
    out->barrier_ns = atomic_load_explicit(&mlxc_g_counters.barrier_ns, memory_order_relaxed);
    out->auto_barrier = atomic_load_explicit(&mlxc_g_counters.auto_barrier, memory_order_relaxed);
    out->auto_barrier_concurrent =
        atomic_load_explicit(&mlxc_g_counters.auto_barrier_concurrent, memory_order_relaxed);
}

void mlxc_counters_reset(void) {
    atomic_store(&mlxc_g_counters.sync, 0);
    atomic_store(&mlxc_g_counters.dispatch, 0);
    atomic_store(&mlxc_g_counters.cmd_buf, 0);
    atomic_store(&mlxc_g_counters.barrier, 0);
    atomic_store(&mlxc_g_counters.barrier_ns, 0);
    atomic_store(&mlxc_g_counters.auto_barrier, 0);
    atomic_store(&mlxc_g_counters.auto_barrier_concurrent, 0);
}

uint64_t mlxc_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
