/* Helpers shared by the runtime tests: open the device under test (the
 * MLXC_BACKEND environment picks it; a CUDA run without a GPU skips), random
 * data, and the test kernels, registered as C functions on the CPU and as
 * CUDA source on a GPU so that every test runs unchanged on both. */
#ifndef MLXC_TEST_UTIL_H
#define MLXC_TEST_UTIL_H

#include <stdint.h>
#include <time.h>

#include "harness.h"
#include "mlxc/mlxc.h"

static inline mlxc_device *tu_open(void) {
    mlxc_device *dev = NULL;
    mlxc_status st = mlxc_device_open(MLXC_BACKEND_AUTO, 0, &dev);
    if (st != MLXC_OK) {
        const char *b = getenv("MLXC_BACKEND");
        if (b && strcmp(b, "cuda") == 0 && st == MLXC_ERR_NO_DEVICE)
            SKIP_ALL("MLXC_BACKEND=cuda but no CUDA device: %s", mlxc_last_error());
        fprintf(stderr, "cannot open a device: %s\n", mlxc_last_error());
        exit(1);
    }
    return dev;
}

static inline int tu_is_cuda(mlxc_device *dev) { return mlxc_device_backend(dev) == MLXC_BACKEND_CUDA; }

static uint64_t tu_rng __attribute__((unused)) = 0x9e3779b97f4a7c15ull;
static inline void tu_seed(uint64_t s) { tu_rng = s * 0x9e3779b97f4a7c15ull + 1; }
static inline uint32_t tu_u32(void) {
    tu_rng ^= tu_rng << 13;
    tu_rng ^= tu_rng >> 7;
    tu_rng ^= tu_rng << 17;
    return (uint32_t)(tu_rng >> 16);
}
/* Uniform in [-1, 1), never exactly zero. */
static inline float tu_uniform(void) {
    float v = (float)(tu_u32() & 0xffffff) / 8388608.0f - 1.0f;
    return v == 0.0f ? 0.5f : v;
}
static inline void tu_fill(float *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = tu_uniform();
}

static inline mlxc_buffer *tu_alloc_f32(mlxc_device *dev, int64_t n) {
    mlxc_buffer *b = NULL;
    int64_t shape[1] = {n};
    if (mlxc_buffer_alloc(dev, (size_t)n * 4, MLXC_F32, 1, shape, &b) != MLXC_OK) {
        fprintf(stderr, "alloc failed: %s\n", mlxc_last_error());
        exit(1);
    }
    return b;
}

static inline uint64_t tu_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- test kernels --------------------------------------------------------- */

/* spin_stamp(out u64[2], {u64 ns}): record a start time, busy-wait `ns`,
 * record the end time (device clock; one thread does the work). */
typedef struct tu_p_spin { uint64_t ns; } tu_p_spin;
static inline void tu_cpu_spin_stamp(const mlxc_cpu_launch *l) {
    uint64_t *out = l->args[0];
    const tu_p_spin *p = l->args[1];
    uint64_t t0 = tu_now_ns();
    while (tu_now_ns() - t0 < p->ns) {}
    out[0] = t0;
    out[1] = tu_now_ns();
}
static const char *const tu_cuda_spin_stamp =
    "struct P { unsigned long long ns; };\n"
    "__device__ unsigned long long now_ns() { unsigned long long t; asm volatile(\"mov.u64 %0, %%globaltimer;\" : \"=l\"(t)); return t; }\n"
    "extern \"C\" __global__ void spin_stamp(unsigned long long *out, P p) {\n"
    "  if (threadIdx.x != 0 || blockIdx.x != 0) return;\n"
    "  unsigned long long t0 = now_ns();\n"
    "  while (now_ns() - t0 < p.ns) {}\n"
    "  out[0] = t0; out[1] = now_ns();\n"
    "}\n";

/* slow_fill(dst f32[n], {u32 n; f32 value; u64 delay_ns}): wait, then write. */
typedef struct tu_p_slow { uint32_t n; float value; uint64_t delay_ns; } tu_p_slow;
static inline void tu_cpu_slow_fill(const mlxc_cpu_launch *l) {
    float *dst = l->args[0];
    const tu_p_slow *p = l->args[1];
    uint64_t t0 = tu_now_ns();
    while (tu_now_ns() - t0 < p->delay_ns) {}
    for (uint32_t i = 0; i < p->n; i++) dst[i] = p->value;
}
static const char *const tu_cuda_slow_fill =
    "struct P { unsigned int n; float value; unsigned long long delay_ns; };\n"
    "__device__ unsigned long long now_ns() { unsigned long long t; asm volatile(\"mov.u64 %0, %%globaltimer;\" : \"=l\"(t)); return t; }\n"
    "extern \"C\" __global__ void slow_fill(float *dst, P p) {\n"
    "  if (blockIdx.x != 0) return;\n"
    "  unsigned long long t0 = now_ns();\n"
    "  while (now_ns() - t0 < p.delay_ns) {}\n"
    "  for (unsigned int i = threadIdx.x; i < p.n; i += blockDim.x) dst[i] = p.value;\n"
    "}\n";

/* inc_one(in f32[n], out f32[n], {u32 n}): out = in + 1 (the seed's kernel). */
typedef struct tu_p_n { uint32_t n; } tu_p_n;
static inline void tu_cpu_inc_one(const mlxc_cpu_launch *l) {
    const float *in = l->args[0];
    float *out = l->args[1];
    const tu_p_n *p = l->args[2];
    uint64_t g = (uint64_t)l->grid.x * l->grid.y * l->grid.z;
    uint64_t i0 = l->group.x + (uint64_t)l->grid.x * (l->group.y + (uint64_t)l->grid.y * l->group.z);
    uint64_t per = (p->n + g - 1) / g;
    for (uint64_t i = i0 * per; i < (i0 + 1) * per && i < p->n; i++) out[i] = in[i] + 1.0f;
}
static const char *const tu_cuda_inc_one =
    "struct P { unsigned int n; };\n"
    "extern \"C\" __global__ void inc_one(const float *in, float *out, P p) {\n"
    "  for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += gridDim.x * blockDim.x)\n"
    "    out[i] = in[i] + 1.0f;\n"
    "}\n";

/* fault_kernel(out f32*): fails the command buffer (CPU: reports a fault;
 * CUDA: writes through an invalid address). */
static inline void tu_cpu_fault(const mlxc_cpu_launch *l) { *l->fault = 1; }
static const char *const tu_cuda_fault =
    "extern \"C\" __global__ void fault_kernel(float *out) {\n"
    "  float *bad = (float *)0x10; *bad = out[0];\n"
    "}\n";

static inline mlxc_status tu_register(mlxc_device *dev, const char *name, mlxc_cpu_kernel_fn fn, const char *cuda,
                               const mlxc_kernel_signature *sig) {
    if (tu_is_cuda(dev)) return mlxc_kernel_register_source(dev, name, cuda, sig);
    return mlxc_kernel_register_cpu(dev, name, fn, sig);
}

static inline const mlxc_kernel *tu_kernel(mlxc_device *dev, const char *name) {
    static const struct {
        const char *name;
        mlxc_cpu_kernel_fn fn;
        const char *const *cuda;
        mlxc_kernel_signature sig;
    } k[] = {
        {"spin_stamp", tu_cpu_spin_stamp, &tu_cuda_spin_stamp, {2, {MLXC_PARAM_PTR, MLXC_PARAM_BYTES}, {0, sizeof(tu_p_spin)}}},
        {"slow_fill", tu_cpu_slow_fill, &tu_cuda_slow_fill, {2, {MLXC_PARAM_PTR, MLXC_PARAM_BYTES}, {0, sizeof(tu_p_slow)}}},
        {"inc_one", tu_cpu_inc_one, &tu_cuda_inc_one,
         {3, {MLXC_PARAM_PTR, MLXC_PARAM_PTR, MLXC_PARAM_BYTES}, {0, 0, sizeof(tu_p_n)}}},
        {"fault_kernel", tu_cpu_fault, &tu_cuda_fault, {1, {MLXC_PARAM_PTR}, {0}}},
    };
    for (size_t i = 0; i < sizeof k / sizeof *k; i++) {
        if (strcmp(k[i].name, name) != 0) continue;
        const mlxc_kernel *out = NULL;
        if (mlxc_kernel_get(dev, name, &out) == MLXC_OK) return out;
        if (tu_register(dev, name, k[i].fn, *k[i].cuda, &k[i].sig) != MLXC_OK ||
            mlxc_kernel_get(dev, name, &out) != MLXC_OK) {
            fprintf(stderr, "cannot register test kernel %s: %s\n", name, mlxc_last_error());
            exit(1);
        }
        return out;
    }
    fprintf(stderr, "unknown test kernel %s\n", name);
    exit(1);
}

#endif
