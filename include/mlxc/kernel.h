/*
 * mlxc/kernel.h — the per-device kernel registry.
 *
 * A kernel is a name.  Each backend resolves names among its own kernels: the
 * CPU backend among C functions (src/kernels/cpu, or registered at run time
 * with mlxc_kernel_register_cpu), the CUDA backend among the entry points of
 * the embedded fatbin (or CUDA C registered with mlxc_kernel_register_source).
 * Every name an op uses exists on both backends with the same argument layout.
 *
 * Handles returned by mlxc_kernel_get* are owned by the device and stay valid
 * until it closes.  Specialization constants are part of the cache key.
 */
#ifndef MLXC_KERNEL_H
#define MLXC_KERNEL_H

#include "mlxc/device.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlxc_kernel mlxc_kernel;

#define MLXC_MAX_KERNEL_ARGS      32
#define MLXC_MAX_KERNEL_CONSTANTS 16
#define MLXC_MAX_KERNEL_NAME      96

typedef struct mlxc_dim3 { uint32_t x, y, z; } mlxc_dim3;

typedef enum mlxc_constant_kind { MLXC_CONST_BOOL = 0, MLXC_CONST_INT = 1 } mlxc_constant_kind;

/* A specialization constant: index, kind and value (bools are 0/1). */
typedef struct mlxc_constant {
    uint32_t           index;
    mlxc_constant_kind kind;
    int32_t            value;
} mlxc_constant;

/* What a kernel parameter is: a device pointer, or a by-value struct of
 * `size` bytes (size 0: any size). */
typedef enum mlxc_param_kind { MLXC_PARAM_PTR = 0, MLXC_PARAM_BYTES = 1 } mlxc_param_kind;

typedef struct mlxc_kernel_signature {
    uint32_t        nparams;
    mlxc_param_kind kinds[MLXC_MAX_KERNEL_ARGS];
    uint32_t        sizes[MLXC_MAX_KERNEL_ARGS];
} mlxc_kernel_signature;

/* What a CPU kernel receives for one thread group.  args[i] is a host pointer
 * for pointer parameters and a pointer to the bytes for by-value parameters.
 * `shared` is per-worker scratch of `shared_bytes` (the dispatch's dynamic
 * shared memory), 64-byte aligned.  The function runs once per group, on
 * any worker, possibly concurrently with other groups of the same and other
 * dispatches of its barrier group. */
typedef struct mlxc_cpu_launch {
    void *const         *args;
    const uint32_t      *arg_sizes;
    uint32_t             nargs;
    mlxc_dim3            grid;        /* thread groups in the dispatch */
    mlxc_dim3            block;       /* threads per group (a hint)    */
    mlxc_dim3            group;       /* this group's index            */
    void                *shared;
    size_t               shared_bytes;
    const mlxc_constant *constants;
    uint32_t             nconstants;
    int                 *fault;       /* set non-zero to fail the command
                                         buffer, as a device fault would */
} mlxc_cpu_launch;

typedef void (*mlxc_cpu_kernel_fn)(const mlxc_cpu_launch *launch);

/* Look a kernel up by name (compiles/loads on first use; cached). */
MLXC_API mlxc_status mlxc_kernel_get(mlxc_device *dev, const char *name, const mlxc_kernel **out);
/* The same with specialization constants; at most MLXC_MAX_KERNEL_CONSTANTS. */
MLXC_API mlxc_status mlxc_kernel_get_specialized(mlxc_device *dev, const char *name,
                                                 const mlxc_constant *constants, size_t n,
                                                 const mlxc_kernel **out);
/* Register CUDA C source defining `extern "C" __global__ void name(...)`,
 * compiled with NVRTC on first use.  `sig` may be NULL (arguments then are
 * not checked).  Replaces an earlier registration of the same name.
 * MLXC_ERR_UNSUPPORTED on the CPU backend. */
MLXC_API mlxc_status mlxc_kernel_register_source(mlxc_device *dev, const char *name,
                                                 const char *cuda_source,
                                                 const mlxc_kernel_signature *sig);
/* Register a C function as kernel `name` on a CPU device.  `sig` may be NULL.
 * Replaces an earlier registration.  MLXC_ERR_UNSUPPORTED on CUDA. */
MLXC_API mlxc_status mlxc_kernel_register_cpu(mlxc_device *dev, const char *name,
                                              mlxc_cpu_kernel_fn fn,
                                              const mlxc_kernel_signature *sig);

MLXC_API const char *mlxc_kernel_name(const mlxc_kernel *k);
/* Number of distinct (name, constants) entries cached on the device. */
MLXC_API size_t      mlxc_kernel_cache_size(const mlxc_device *dev);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_KERNEL_H */
