/*
 * Signatures of the built-in CUDA kernels (the .cu files in src/kernels/cuda), the same
 * names and layouts as the CPU kernels (src/kernels/params.h).  The registry
 * uses them to reject wrong argument counts and kinds before a launch; at
 * resolve time they are cross-checked against the module's own parameter
 * info where the driver reports it.
 */
#include <string.h>

#include "backend/cuda/cuda_backend.h"
#include "kernels/params.h"

#define P MLXC_PARAM_PTR
#define B MLXC_PARAM_BYTES
#define EW ((uint32_t)sizeof(mlxc_p_elementwise))
#define RN ((uint32_t)sizeof(mlxc_p_rms_norm))

typedef struct builtin {
    const char           *name;
    mlxc_kernel_signature sig;
} builtin;

static const builtin g_builtins[] = {
    {"add_f32", {4, {P, P, P, B}, {0, 0, 0, EW}}},
    {"add_f16", {4, {P, P, P, B}, {0, 0, 0, EW}}},
    {"add_bf16", {4, {P, P, P, B}, {0, 0, 0, EW}}},
    {"mul_f32", {4, {P, P, P, B}, {0, 0, 0, EW}}},
    {"mul_f16", {4, {P, P, P, B}, {0, 0, 0, EW}}},
    {"mul_bf16", {4, {P, P, P, B}, {0, 0, 0, EW}}},
    {"copy_bytes", {3, {P, P, B}, {0, 0, EW}}},
    {"rms_norm_f32", {4, {P, P, P, B}, {0, 0, 0, RN}}},
    {"rms_norm_f16", {4, {P, P, P, B}, {0, 0, 0, RN}}},
    {"rms_norm_bf16", {4, {P, P, P, B}, {0, 0, 0, RN}}},
    {"rms_norm_mul_f32", {5, {P, P, P, P, B}, {0, 0, 0, 0, RN}}},
    {"rms_norm_mul_f16", {5, {P, P, P, P, B}, {0, 0, 0, 0, RN}}},
    {"rms_norm_mul_bf16", {5, {P, P, P, P, B}, {0, 0, 0, 0, RN}}},
};

const mlxc_kernel_signature *cu_builtin_sig(const char *name) {
    for (size_t i = 0; i < sizeof g_builtins / sizeof g_builtins[0]; i++)
        if (strcmp(g_builtins[i].name, name) == 0) return &g_builtins[i].sig;
    return NULL;
}
