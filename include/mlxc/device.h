/*
 * mlxc/device.h — devices, buffers and the buffer pool.
 *
 * A device is one execution target: the CPU backend (always present) or one
 * NVIDIA GPU through the CUDA backend.  Buffers are allocations on a device,
 * always zero-filled when created, reference counted, and addressed through
 * views: a view is a byte range of its parent's allocation with its own dtype
 * and shape, and keeps the allocation alive.
 *
 *     mlxc_device *dev;
 *     mlxc_device_open(MLXC_BACKEND_AUTO, 0, &dev);
 *     int64_t shape[1] = {1024};
 *     mlxc_buffer *x;
 *     mlxc_buffer_alloc(dev, 4096, MLXC_F32, 1, shape, &x);
 *     mlxc_buffer_write(x, 0, host_data, 4096);
 *     ...
 *     mlxc_buffer_release(x);
 *     mlxc_device_close(dev);
 */
#ifndef MLXC_DEVICE_H
#define MLXC_DEVICE_H

#include "mlxc/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlxc_device mlxc_device;
typedef struct mlxc_buffer mlxc_buffer;
typedef struct mlxc_pool   mlxc_pool;

typedef enum mlxc_backend_kind {
    MLXC_BACKEND_AUTO = 0,   /* CUDA when a driver and a GPU are usable and the
                                library was built with its CUDA kernels, else
                                CPU; MLXC_BACKEND in the environment overrides */
    MLXC_BACKEND_CPU  = 1,
    MLXC_BACKEND_CUDA = 2
} mlxc_backend_kind;

typedef struct mlxc_device_caps {
    mlxc_backend_kind backend;
    char     name[128];            /* "NVIDIA H100 80GB HBM3", "CPU (16 threads)" */
    int      compute_units;        /* SMs, or CPU worker threads               */
    int      max_threads_per_group;
    size_t   max_shared_bytes;     /* per thread group                         */
    uint64_t total_memory;         /* bytes                                    */
    int      arch_major, arch_minor; /* compute capability; 0 on the CPU       */
    bool     host_visible;         /* buffers have host pointers               */
    bool     dispatch_timestamps;  /* per-dispatch profiling is supported      */
    bool     graphs;               /* instantiated graphs replay natively      */
    bool     runtime_compile;      /* mlxc_kernel_register_source works        */
    /* Sizing a working set that misses the cache (benchmarks rotate
     * operands past it): the GPU's L2, or the CPU's largest cache level;
     * 0 when unknown. */
    uint64_t l2_bytes;
    /* Memory interface as the driver reports it (CUDA; 0 on the CPU or
     * when unknown): bus width in bits and memory clock in kHz. */
    int      memory_bus_bits;
    int      memory_clock_khz;
} mlxc_device_caps;

/* Name of a backend kind ("auto", "cpu", "cuda"). */
MLXC_API const char *mlxc_backend_name(mlxc_backend_kind kind);

/* Number of devices of a kind that can be opened (CPU: 1; CUDA: 0 when no
 * driver or GPU is present).  Never fails for a valid kind. */
MLXC_API mlxc_status mlxc_device_count(mlxc_backend_kind kind, int *count);

/* Open device `index` of `kind`. AUTO resolves as described above. */
MLXC_API mlxc_status mlxc_device_open(mlxc_backend_kind kind, int index, mlxc_device **out);
/* Release the caller's reference; the device is torn down once every buffer,
 * encoder and in-flight command buffer on it is gone.  Waits for in-flight
 * work.  NULL is accepted and ignored. */
MLXC_API void        mlxc_device_close(mlxc_device *dev);
MLXC_API const char *mlxc_device_name(const mlxc_device *dev);
MLXC_API mlxc_backend_kind mlxc_device_backend(const mlxc_device *dev);
MLXC_API mlxc_status mlxc_device_caps_get(const mlxc_device *dev, mlxc_device_caps *caps);
/* Block until every command buffer committed on the device has completed.
 * Returns MLXC_ERR_COMMAND_BUFFER if one of them failed. */
MLXC_API mlxc_status mlxc_device_synchronize(mlxc_device *dev);
/* True once a command buffer failure made the device unusable. */
MLXC_API bool        mlxc_device_is_lost(const mlxc_device *dev);

/* ---- Buffers --------------------------------------------------------- */

/* Allocate `bytes` (> 0) of zero-filled device memory.  `shape` has `ndim`
 * entries (0 <= ndim <= MLXC_MAX_DIMS, each >= 0); ndim 0 means a flat
 * buffer of bytes / dtype_size elements.  The shape must fit in the bytes. */
MLXC_API mlxc_status mlxc_buffer_alloc(mlxc_device *dev, size_t bytes, mlxc_dtype dtype,
                                       int ndim, const int64_t *shape, mlxc_buffer **out);

/* Wrap caller-owned host memory as a buffer (zero copy) on a host-visible
 * device.  `on_release(user)` runs when the last reference is gone, and
 * never when the call fails (the caller still owns the memory then).
 * Not zero-filled.  MLXC_ERR_UNSUPPORTED on devices without host access. */
MLXC_API mlxc_status mlxc_buffer_wrap_host(mlxc_device *dev, void *ptr, size_t bytes,
                                           mlxc_dtype dtype, int ndim, const int64_t *shape,
                                           void (*on_release)(void *user), void *user,
                                           mlxc_buffer **out);

/* A view of `parent` starting `byte_offset` bytes into the parent view, with
 * its own dtype and shape.  The range must lie inside the parent view and the
 * absolute offset must be a multiple of the dtype size. */
MLXC_API mlxc_status mlxc_buffer_view(mlxc_buffer *parent, size_t byte_offset, mlxc_dtype dtype,
                                      int ndim, const int64_t *shape, mlxc_buffer **out);

MLXC_API mlxc_buffer *mlxc_buffer_retain(mlxc_buffer *buf);   /* returns buf */
MLXC_API void         mlxc_buffer_release(mlxc_buffer *buf);  /* NULL ignored */

MLXC_API size_t      mlxc_buffer_bytes(const mlxc_buffer *buf);    /* view extent      */
MLXC_API size_t      mlxc_buffer_offset(const mlxc_buffer *buf);   /* from allocation  */
MLXC_API size_t      mlxc_buffer_alloc_bytes(const mlxc_buffer *buf);
MLXC_API mlxc_dtype  mlxc_buffer_dtype(const mlxc_buffer *buf);
MLXC_API int         mlxc_buffer_ndim(const mlxc_buffer *buf);
/* Copies ndim entries into `shape` (room for MLXC_MAX_DIMS). */
MLXC_API mlxc_status mlxc_buffer_shape(const mlxc_buffer *buf, int64_t *shape);
MLXC_API int64_t     mlxc_buffer_elements(const mlxc_buffer *buf);
MLXC_API mlxc_device *mlxc_buffer_device(const mlxc_buffer *buf);
/* Identity of the underlying allocation (views of one allocation share it). */
MLXC_API uint64_t    mlxc_buffer_alloc_id(const mlxc_buffer *buf);
/* Device address of the view's first byte (a host address on the CPU). */
MLXC_API uint64_t    mlxc_buffer_device_address(const mlxc_buffer *buf);

/* Copy between host memory and the view, at `offset` bytes into the view.
 * Synchronous; not ordered against command buffers still in flight. */
MLXC_API mlxc_status mlxc_buffer_write(mlxc_buffer *buf, size_t offset, const void *src, size_t n);
MLXC_API mlxc_status mlxc_buffer_read(const mlxc_buffer *buf, size_t offset, void *dst, size_t n);
/* Largest write mlxc_buffer_write_queued takes. */
#define MLXC_BUFFER_QUEUED_MAX 4096
/* Copy n bytes (1 .. MLXC_BUFFER_QUEUED_MAX) from src into the view as a
 * step of the device's queue: after all work of the command buffers
 * committed before the call, before all work of those committed after it.
 * Returns without waiting for the device (on CUDA; the CPU backend waits
 * for the committed work, then copies); src may be reused at once.  For
 * the small per-step inputs of a replayed graph (a token id, a position)
 * while the previous step still runs. */
MLXC_API mlxc_status mlxc_buffer_write_queued(mlxc_buffer *buf, size_t offset, const void *src, size_t n);
/* Reads a device holds at once (mlxc_buffer_read_queued). */
#define MLXC_BUFFER_READ_SLOTS 16
/* A queued read, named by mlxc_buffer_read_queued (never 0). */
typedef uint64_t mlxc_read_ticket;
/* The counterpart of mlxc_buffer_write_queued: n bytes (1 ..
 * MLXC_BUFFER_QUEUED_MAX) of the view at `offset` are copied as a step of
 * the device's queue (after all work of the command buffers committed
 * before the call, before all work of those committed after it) into a
 * slot of the device; the call returns without waiting for the device (on
 * CUDA; the CPU backend waits for the committed work, then copies).
 * mlxc_buffer_read_wait then waits for that step and copies the n bytes
 * to dst.  For a replayed step's small results (a sampled id) read while
 * the next step already runs.  A device holds MLXC_BUFFER_READ_SLOTS
 * reads: a later read takes the slot of the read that many before it,
 * whose ticket then fails with MLXC_ERR_STATE. */
MLXC_API mlxc_status mlxc_buffer_read_queued(const mlxc_buffer *buf, size_t offset, size_t n,
                                             mlxc_read_ticket *ticket);
/* Wait for the queued read `ticket` of dev and copy its n bytes (as many
 * as it read) to dst. */
MLXC_API mlxc_status mlxc_buffer_read_wait(mlxc_device *dev, mlxc_read_ticket ticket, void *dst, size_t n);
/* Host pointer to the view's first byte where the device memory is host
 * visible (CPU backend); NULL otherwise. */
MLXC_API void       *mlxc_buffer_host_ptr(const mlxc_buffer *buf);

/* ---- Pool: power-of-two buckets, a per-step arena ----------------------- */

typedef struct mlxc_pool_stats {
    size_t in_use_count, in_use_bytes;   /* handed out since the last reset  */
    size_t free_count, free_bytes;       /* cached for reuse                 */
    size_t allocations;                  /* fresh device allocations made    */
    size_t reuses;                       /* requests served from the cache   */
} mlxc_pool_stats;

MLXC_API mlxc_status mlxc_pool_create(mlxc_device *dev, mlxc_pool **out);
MLXC_API void        mlxc_pool_destroy(mlxc_pool *pool);
/* A buffer of at least `bytes`, from the bucket next_pow2(bytes): reused from
 * the same bucket when one is free (contents as left), else a new zero-filled
 * allocation.  The pool keeps a reference until reset or release; the caller
 * may retain it for longer.  The returned view is exactly `bytes` long. */
MLXC_API mlxc_status mlxc_pool_alloc(mlxc_pool *pool, size_t bytes, mlxc_dtype dtype, int ndim,
                                     const int64_t *shape, mlxc_buffer **out);
/* Return one buffer handed out by this pool to its bucket. */
MLXC_API mlxc_status mlxc_pool_release(mlxc_pool *pool, mlxc_buffer *buf);
/* Return every handed-out buffer (per-token arena). */
MLXC_API mlxc_status mlxc_pool_reset(mlxc_pool *pool);
/* Free every cached buffer. */
MLXC_API mlxc_status mlxc_pool_trim(mlxc_pool *pool);
MLXC_API mlxc_status mlxc_pool_stats_get(const mlxc_pool *pool, mlxc_pool_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_DEVICE_H */
