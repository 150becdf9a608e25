/*
 * mlxc/common.h — status codes, data types and the error channel.
 *
 * Every mlxc function that can fail returns an mlxc_status.  MLXC_OK is 0;
 * anything else is an error, and mlxc_last_error() then gives a message for
 * the calling thread (valid until that thread's next failing mlxc call).
 * No mlxc function aborts, asserts or exits on bad input.
 */
#ifndef MLXC_COMMON_H
#define MLXC_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define MLXC_API __declspec(dllexport)
#elif defined(__GNUC__)
#define MLXC_API __attribute__((visibility("default")))
#else
#define MLXC_API
#endif

/* MLXC_VERSION_MAJOR/MINOR/PATCH/STRING: generated from the build */
#include "mlxc/version.h"

/* Largest rank a buffer shape may have. */
#define MLXC_MAX_DIMS 8

typedef enum mlxc_status {
    MLXC_OK = 0,
    MLXC_ERR_INVALID_ARGUMENT,  /* NULL handle, zero size, bad enum, ...   */
    MLXC_ERR_OUT_OF_RANGE,      /* view or read/write outside a buffer      */
    MLXC_ERR_DTYPE,             /* dtype not accepted here                  */
    MLXC_ERR_SHAPE,             /* shape does not fit the bytes or the op   */
    MLXC_ERR_OUT_OF_MEMORY,     /* host or device allocation failed         */
    MLXC_ERR_NOT_FOUND,         /* unknown kernel, tensor, key, file        */
    MLXC_ERR_UNSUPPORTED,       /* not available on this backend/build      */
    MLXC_ERR_NO_DEVICE,         /* no usable device of the requested kind   */
    MLXC_ERR_STATE,             /* call not valid in the object's state     */
    MLXC_ERR_COMMAND_BUFFER,    /* a command buffer failed on the device    */
    MLXC_ERR_DEVICE_LOST,       /* the device is unusable after a failure   */
    MLXC_ERR_COMPILE,           /* run-time kernel compilation failed       */
    MLXC_ERR_IO,                /* file system error                        */
    MLXC_ERR_FORMAT,            /* malformed or hostile file contents       */
    MLXC_ERR_INTERNAL           /* a bug in mlxc; please report             */
} mlxc_status;

/* Human-readable name of a status ("MLXC_ERR_SHAPE"). Never NULL. */
MLXC_API const char *mlxc_status_name(mlxc_status st);

/* The version of the library at run time, "MAJOR.MINOR.PATCH" (static
 * storage; never NULL).  Compare with MLXC_VERSION_STRING, the version the
 * caller was compiled against. */
MLXC_API const char *mlxc_version(void);
/* The same as a number: major * 10000 + minor * 100 + patch (as
 * MLXC_VERSION_NUMBER). */
MLXC_API int mlxc_version_number(void);

/* Message describing the calling thread's most recent failure ("" if none). */
MLXC_API const char *mlxc_last_error(void);

/* Clear the calling thread's error message. */
MLXC_API void mlxc_clear_error(void);

typedef enum mlxc_dtype {
    MLXC_F32 = 0,
    MLXC_F16,
    MLXC_BF16,
    MLXC_U8,
    MLXC_U16,
    MLXC_U32,
    MLXC_I8,
    MLXC_I16,
    MLXC_I32,
    MLXC_I64,
    MLXC_DTYPE_COUNT
} mlxc_dtype;

/* Size in bytes of one element; 0 for an invalid dtype. */
MLXC_API size_t mlxc_dtype_size(mlxc_dtype dt);
/* Lower-case name ("f32", "bf16", ...); "invalid" for an invalid dtype. */
MLXC_API const char *mlxc_dtype_name(mlxc_dtype dt);

/* Conversions between f32 and the 16-bit float formats (round to nearest
 * even; NaN stays NaN). */
MLXC_API uint16_t mlxc_f32_to_f16(float f);
MLXC_API float    mlxc_f16_to_f32(uint16_t h);
MLXC_API uint16_t mlxc_f32_to_bf16(float f);
MLXC_API float    mlxc_bf16_to_f32(uint16_t b);

/* Process-wide settings read once from the environment, on first use:
 *   MLXC_BACKEND=auto|cpu|cuda   device kind chosen for MLXC_BACKEND_AUTO
 *   MLXC_AUTO_BARRIER=1          tracked dispatch infers barriers
 *   MLXC_PROFILE_CB=<any>        per-command-buffer GPU time by label
 *   MLXC_PROFILE_DISPATCH=<any>  per-dispatch timestamps (serialises)
 *   MLXC_PROFILE_BARRIERS=1      time spent issuing barriers
 *   MLXC_UNRETAINED_REFS=1       command buffers do not retain buffers
 *   MLXC_CPU_THREADS=N           CPU backend worker threads (default: cores)
 */
typedef struct mlxc_env_flags {
    int  backend;           /* mlxc_backend_kind (see device.h)          */
    bool auto_barrier;
    bool profile_cb;
    bool profile_dispatch;
    bool profile_barriers;
    bool unretained_refs;
    int  cpu_threads;       /* 0: one per online core                    */
} mlxc_env_flags;

MLXC_API void mlxc_env_get(mlxc_env_flags *out);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_COMMON_H */
