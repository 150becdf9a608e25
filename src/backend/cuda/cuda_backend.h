/*
 * CUDA backend: internal state shared by its files, and a few hooks that
 * tests and benchmarks use (not public API).
 *
 * One device = the GPU's primary context and ONE stream.  Everything a
 * device does (uploads, downloads, command buffers in commit order, timeline
 * signals and waits) is ordered on that stream; concurrency comes from inside
 * a command buffer, where graph mode turns the dispatches between barriers
 * into independent nodes of a CUDA graph.
 */
#ifndef MLXC_BACKEND_CUDA_H
#define MLXC_BACKEND_CUDA_H

#include <pthread.h>
#include <stdatomic.h>

#include "backend/cuda/cuda_driver.h"
#include "core/internal.h"

/* ---- hooks for tests and benchmarks ------------------------------------------ */

typedef struct mlxc_cuda_stats {
    uint64_t nvrtc_compiles;   /* NVRTC runs                                   */
    uint64_t disk_hits;        /* cubins served from the disk cache            */
    uint64_t memory_hits;      /* modules served from a device's memory cache  */
    uint64_t graph_builds;     /* CUDA graphs built and instantiated           */
    uint64_t graph_hits;       /* commits served by a cached executable        */
    uint64_t node_updates;     /* kernel nodes updated in place                */
    uint64_t graph_launches;   /* cuGraphLaunch calls (commits and replays)    */
    uint64_t kernel_launches;  /* cuLaunchKernel calls                         */
} mlxc_cuda_stats;

void mlxc_cuda_stats_get(mlxc_cuda_stats *out);
void mlxc_cuda_stats_reset(void);
/* Graph mode (1) or immediate mode (0) for command buffers opened from now
 * on; the default comes from MLXC_CUDA_GRAPHS at device open. */
mlxc_status mlxc_cuda_set_graph_mode(mlxc_device *dev, int on);
int         mlxc_cuda_graph_mode(const mlxc_device *dev);

/* ---- internals ----------------------------------------------------------------- */

typedef struct mlxc_cuda_stats_atomic {
    _Atomic uint64_t nvrtc_compiles, disk_hits, memory_hits, graph_builds, graph_hits, node_updates,
        graph_launches, kernel_launches;
} mlxc_cuda_stats_atomic;
extern mlxc_cuda_stats_atomic mlxc_cuda_g_stats;
#define CU_STAT(field, n) atomic_fetch_add_explicit(&mlxc_cuda_g_stats.field, (n), memory_order_relaxed)

struct cu_func;
/* A library routine standing in for a kernel (cuBLASLt): enqueue the
 * dispatch's work on `stream`; check builds what it needs ahead of time. */
typedef CUresult (*cu_lib_fn)(const struct cu_func *f, CUstream stream, const mlxc_cmd_dispatch *d);
typedef mlxc_status (*cu_lib_check_fn)(const struct cu_func *f, const mlxc_cmd_dispatch *d);

/* A resolved kernel (mlxc_kernel.impl): a CUfunction, or a library routine
 * (fn NULL, lib set). */
typedef struct cu_func {
    CUfunction      fn;
    cu_lib_fn       lib;
    cu_lib_check_fn lib_check;
    void           *lib_ctx;           /* the routine's per-device state       */
    int             lib_arg;           /* a routine-defined variant            */
    uint32_t        nparams;           /* UINT32_MAX: not known               */
    uint32_t        sizes[MLXC_MAX_KERNEL_ARGS];
    int             shared_limit;      /* dynamic shared memory allowed so far */
    int             carveout_max;      /* the largest shared-memory carveout asked */
    bool            pdl;               /* a built-in: griddepcontrol.wait comes
                                          before its first access (MLXC_PDL_WAIT),
                                          so a graph may start it early        */
    uint8_t         pdl_late;          /* > 0: reads what it tracks after its
                                          first pdl_late reads (a mat-vec's
                                          weights) before that wait            */
    struct cu_func *next;
} cu_func;

typedef struct cu_source {
    char             *name, *src;
    uint32_t          nparams;   /* from the caller's signature, or UINT32_MAX */
    struct cu_source *next;
} cu_source;

typedef struct cu_module {
    uint64_t          key[2];
    CUmodule          mod;
    struct cu_module *next;
} cu_module;

typedef struct cu_gexec cu_gexec;
typedef struct cu_lt cu_lt;

/* Slots of mlxc_buffer_write_queued's pinned ring. */
#define CU_QW_SLOTS 16

typedef struct cu_dev {
    CUdevice     cudev;
    CUcontext    ctx;
    CUstream     stream;
    CUstream     side[3];          /* immediate mode: concurrent dispatches    */
    int          graph_mode;       /* 1: graphs at commit; 0: launch as encoded */
    int          range_edges;      /* edges from tracked ranges when complete   */
    int          pdl;              /* programmatic edges into built-in kernels
                                      (sm_90 and newer, CUDA >= 12.3)          */
    pthread_mutex_t mu;            /* stream order, events, caches, staging     */

    CUmodule    *builtin;          /* per embedded module, loaded lazily; NULL
                                      until the first built-in is resolved    */
    cu_func     *funcs;
    cu_source   *sources;
    cu_module   *modules;

    CUevent     *events;           /* free timing events                        */
    size_t       nevents, cap_events;

    void        *stage[2];         /* pinned staging for uploads/downloads      */
    CUevent      stage_ev[2];
    int          stage_used[2];
    size_t       stage_bytes;
    unsigned char *qw;             /* pinned slots of queued writes (CU_QW_SLOTS
                                      x MLXC_BUFFER_QUEUED_MAX), NULL until used */
    CUevent      qw_ev[CU_QW_SLOTS]; /* each slot's copy, recorded on the stream */
    unsigned     qw_used, qw_next; /* slots recorded (bit mask); the next one   */
    unsigned char *qr;             /* pinned slots of queued reads
                                      (MLXC_BUFFER_READ_SLOTS x
                                      MLXC_BUFFER_QUEUED_MAX), NULL until used */
    CUevent      qr_ev[MLXC_BUFFER_READ_SLOTS]; /* each slot's copy          */

    CUevent      ref_ev;           /* device-time reference...                  */
    int64_t      ref_ns;           /* ...and its host-clock value               */

    cu_gexec    *gcache;           /* executables by topology (LRU)             */
    cu_lt       *lt;               /* cuBLASLt handle and plans, or NULL        */
    size_t       ngcache;
    uint64_t     gclock;

    /* scratch for building topologies (under mu) */
    uint64_t    *key;
    size_t       cap_key;
} cu_dev;

static inline cu_dev *cu_of(const mlxc_device *dev) { return (cu_dev *)dev->impl; }

/* Make the device's context current on this thread. */
mlxc_status cu_bind(cu_dev *cu);
/* The entry of every device operation: MLXC_ERR_DEVICE_LOST once the device
 * is lost, else cu_bind. */
mlxc_status cu_enter(mlxc_device *dev);
/* Turn a driver failure into a status: sticky errors mark the device lost. */
mlxc_status cu_fail(mlxc_device *dev, CUresult r, const char *what);

CUevent cu_event_get(cu_dev *cu);          /* under mu */
void    cu_event_put(cu_dev *cu, CUevent e); /* under mu */
/* Device time of a completed event, in ns on the host clock's scale. */
uint64_t cu_event_ns(cu_dev *cu, CUevent e);

/* Built-in kernels: the signature of `name`, or NULL. */
const mlxc_kernel_signature *cu_builtin_sig(const char *name);
/* The embedded kernel modules: one fatbin per .cu of src/kernels/cuda, named
 * by its stem (the kernel family); the table is generated by
 * cmake/cuda.cmake and is empty when the library was built without nvcc. */
typedef struct cu_embedded {
    const char          *name;
    const unsigned char *image;
    const size_t        *size;
} cu_embedded;
extern const cu_embedded mlxc_cuda_modules[];
extern const size_t      mlxc_cuda_nmodules;
/* The embedded module holding built-in kernel `name`, or NULL when not
 * known (the resolver then searches the modules). */
const char *cu_builtin_family(const char *name);

/* NVRTC: compile `src` (kernel `name`, constants as -D defines) for the
 * device's architecture, through the memory and disk caches; returns the
 * loaded module. */
mlxc_status cu_nvrtc_module(mlxc_device *dev, const char *name, const char *src, const mlxc_constant *c,
                            uint32_t nc, CUmodule *out);

/* cuBLASLt (cuda_blaslt.c): whether `name` is one of its kernel names;
 * resolve it (MLXC_ERR_NOT_FOUND when the library is absent); free the
 * device's handle and plans. */
bool        cu_lt_name(const char *name);
mlxc_status cu_lt_resolve(mlxc_device *dev, cu_dev *cu, mlxc_kernel *k, cu_func **out);
void        cu_lt_free(cu_dev *cu);

/* Command buffers and graphs (cuda_cmdbuf.c, cuda_instantiate.c, cuda_exec_cache.c;
 * the files and their shared declarations: cuda_cmdbuf.h). */
mlxc_status cu_cb_begin(mlxc_cmdbuf *cb);
mlxc_status cu_cb_record(mlxc_cmdbuf *cb, const mlxc_cmd *cmd);
mlxc_status cu_cb_submit(mlxc_cmdbuf *cb);
bool        cu_cb_poll(mlxc_cmdbuf *cb);
mlxc_status cu_cb_wait(mlxc_cmdbuf *cb);
void        cu_cb_release(mlxc_cmdbuf *cb);
mlxc_status cu_exec_create(mlxc_graph_exec_t *exec);
void        cu_exec_destroy(mlxc_graph_exec_t *exec);
void        cu_gcache_clear(cu_dev *cu);

#endif /* MLXC_BACKEND_CUDA_H */
