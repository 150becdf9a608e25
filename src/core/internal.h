/*
 * Internal structures shared by the core and the backends.  Nothing here is
 * public API.  A backend sees devices, allocations (storage), kernels,
 * command buffers (lists of resolved commands), timelines and graph
 * executables; it knows nothing of ops.
 */
#ifndef MLXC_CORE_INTERNAL_H
#define MLXC_CORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

/* Core's own public headers only: the umbrella mlxc.h would bring in ops,
 * io and tokenizer, which core and the backends must not see. */
#include "mlxc/common.h"
#include "mlxc/device.h"
#include "mlxc/kernel.h"
#include "mlxc/encoder.h"
#include "mlxc/session.h"
#include "mlxc/graph.h"
#include "mlxc/profile.h"
#include "core/env.h"
#include "core/error.h"

/* Monotonic host clock in ns. */
uint64_t mlxc_now_ns(void);

/* ---- process counters ---------------------------------------------------- */

typedef struct mlxc_counter_state {
    _Atomic uint64_t sync, dispatch, cmd_buf, barrier, barrier_ns, auto_barrier,
        auto_barrier_concurrent;
} mlxc_counter_state;
extern mlxc_counter_state mlxc_g_counters;
#define MLXC_COUNT(field, n) atomic_fetch_add_explicit(&mlxc_g_counters.field, (n), memory_order_relaxed)

/* ---- storage: one device allocation --------------------------------------- */

typedef struct mlxc_storage {
    _Atomic int   refs;
    mlxc_device  *dev;
    uint64_t      id;        /* unique per process                           */
    uint64_t      addr;      /* device address of byte 0                     */
    void         *host;      /* host address of byte 0, or NULL              */
    size_t        bytes;
    void         *impl;      /* backend private                              */
    void        (*on_release)(void *user);   /* wrapped host memory           */
    void         *user;
} mlxc_storage;

struct mlxc_buffer {
    _Atomic int   refs;
    mlxc_storage *st;
    size_t        offset;    /* bytes from the start of the allocation       */
    size_t        bytes;     /* extent of this view                          */
    mlxc_dtype    dtype;
    int           ndim;
    int64_t       shape[MLXC_MAX_DIMS];
};

void mlxc_storage_retain(mlxc_storage *st);
void mlxc_storage_release(mlxc_storage *st);

/* ---- kernels --------------------------------------------------------------- */

struct mlxc_kernel {
    char                  name[MLXC_MAX_KERNEL_NAME];
    mlxc_constant         constants[MLXC_MAX_KERNEL_CONSTANTS];
    uint32_t              nconstants;
    bool                  has_sig;
    mlxc_kernel_signature sig;
    void                 *impl;   /* backend: CPU function, CUfunction, ...   */
    uint64_t              generation; /* registration generation it came from */
};

/* ---- commands ----------------------------------------------------------------- */

/* One resolved argument.  For pointers `value` is the device address the
 * kernel receives and `host` its host address (NULL where not visible);
 * for by-value bytes `bytes`/`size` point into the command buffer's arena. */
typedef struct mlxc_rarg {
    uint64_t    value;
    void       *host;
    const void *bytes;
    uint32_t    size;
    bool        is_ptr;
} mlxc_rarg;

typedef struct mlxc_range_set {
    mlxc_buffer_range *r;    /* reads first (SRC), then writes (DST)          */
    uint32_t           n;
} mlxc_range_set;

typedef struct mlxc_cmd_dispatch {
    const mlxc_kernel *kernel;
    mlxc_rarg         *args;          /* nargs entries, in the arena           */
    uint32_t           nargs;
    mlxc_dim3          grid;          /* thread groups (THREADS mode resolved) */
    mlxc_dim3          block;
    uint32_t           shared_bytes;
    mlxc_op_kind       op_kind;
    uint32_t           index;         /* ordinal within the command buffer     */
    mlxc_range_set     ranges;        /* tracked ranges (may be empty)         */
} mlxc_cmd_dispatch;

typedef struct mlxc_timeline mlxc_timeline;
typedef struct mlxc_cmdbuf   mlxc_cmdbuf;

typedef enum mlxc_cmd_type {
    MLXC_CMD_DISPATCH = 0,
    MLXC_CMD_BARRIER,
    MLXC_CMD_WAIT,      /* wait until timeline >= value before anything later */
    MLXC_CMD_SIGNAL,    /* set timeline = value once everything before is done */
    MLXC_CMD_EXEC       /* run an instantiated graph                            */
} mlxc_cmd_type;

typedef struct mlxc_cmd {
    mlxc_cmd_type type;
    union {
        mlxc_cmd_dispatch d;
        /* automatic: placed from read/write ranges (auto-barrier, recomputed
         * replay), so a backend may replace it by finer range edges; a
         * barrier the caller placed orders everything and must be kept. */
        struct { bool automatic; } barrier;
        struct { mlxc_timeline *tl; uint64_t value; } sync;
        struct { struct mlxc_graph_exec *exec; } exec;
    } u;
} mlxc_cmd;

typedef enum mlxc_cb_state {
    MLXC_CB_RECORDING = 0,
    MLXC_CB_COMMITTED,
    MLXC_CB_COMPLETED,
    MLXC_CB_FAILED
} mlxc_cb_state;

typedef struct mlxc_arena_chunk mlxc_arena_chunk;

struct mlxc_cmdbuf {
    mlxc_device      *dev;
    mlxc_cmd         *cmds;
    size_t            ncmds, cap;
    uint32_t          ndispatch;         /* dispatch commands recorded        */
    mlxc_arena_chunk *arena;             /* stable storage for args/ranges    */
    mlxc_storage    **retained;          /* kept alive until completion       */
    size_t            nretained, cap_retained;
    char              label[MLXC_PROFILE_LABEL_MAX];
    bool              profile_cb;        /* record start/end                  */
    bool              profile_dispatch;  /* record per-dispatch times, serial */
    _Atomic int       state;             /* mlxc_cb_state                     */
    uint64_t          start_ns, end_ns;  /* device clock, set by the backend  */
    uint64_t         *disp_start, *disp_end; /* [ndispatch], when profiling   */
    char              error[256];        /* failure detail from the backend   */
    void             *impl;              /* backend private                   */
    mlxc_cmdbuf      *next_inflight;     /* device's in-flight list           */
    struct mlxc_graph_exec **execs;      /* executables launched (held)       */
    size_t            nexecs;
};

/* Arena allocation inside a command buffer (8-byte aligned, stable). */
void *mlxc_cmdbuf_alloc(mlxc_cmdbuf *cb, size_t bytes);

/* ---- timelines (session fences) ----------------------------------------------- */

struct mlxc_timeline {
    mlxc_device *dev;
    void        *impl;
};

/* ---- graph executables ----------------------------------------------------------- */

typedef struct mlxc_graph_exec {
    _Atomic int   refs;      /* the caller's, plus one per command buffer using it */
    mlxc_device  *dev;
    mlxc_cmdbuf  *plan;      /* the resolved dispatches and barriers          */
    void         *impl;      /* backend executable, or NULL: replay the plan  */
} mlxc_graph_exec_t;

/* ---- backend interface ------------------------------------------------------------ */

typedef struct mlxc_backend {
    const char        *name;
    mlxc_backend_kind  kind;
    mlxc_status (*device_count)(int *count);
    /* Whether MLXC_BACKEND_AUTO may pick this backend when it has a device
     * (NULL: yes).  A CUDA backend built without its kernels says no: the
     * ops would find none of their kernels there. */
    bool        (*auto_eligible)(void);
    /* Fill dev->impl and dev->caps. */
    mlxc_status (*device_open)(mlxc_device *dev, int index);
    void        (*device_close)(mlxc_device *dev);
    mlxc_status (*synchronize)(mlxc_device *dev);

    /* st->bytes is set; fill addr, host (or NULL), impl.  Zero-filled. */
    mlxc_status (*mem_alloc)(mlxc_device *dev, mlxc_storage *st);
    void        (*mem_free)(mlxc_device *dev, mlxc_storage *st);
    mlxc_status (*mem_write)(mlxc_device *dev, mlxc_storage *st, size_t off, const void *src, size_t n);
    mlxc_status (*mem_read)(mlxc_device *dev, mlxc_storage *st, size_t off, void *dst, size_t n);
    /* Optional: n <= MLXC_BUFFER_QUEUED_MAX bytes written in queue order,
     * without waiting (NULL: synchronize, then mem_write). */
    mlxc_status (*mem_write_queued)(mlxc_device *dev, mlxc_storage *st, size_t off, const void *src, size_t n);
    /* Optional, both or neither: n <= MLXC_BUFFER_QUEUED_MAX bytes read in
     * queue order into the backend's slot `slot` (< MLXC_BUFFER_READ_SLOTS),
     * without waiting; and the wait for slot `slot`'s last read, its n
     * bytes to dst (NULL: the core synchronizes and reads at once). */
    mlxc_status (*mem_read_queued)(mlxc_device *dev, mlxc_storage *st, size_t off, size_t n, unsigned slot);
    mlxc_status (*mem_read_wait)(mlxc_device *dev, unsigned slot, void *dst, size_t n);

    /* k->name and constants are set; fill k->impl and (if known) k->sig. */
    mlxc_status (*kernel_resolve)(mlxc_device *dev, mlxc_kernel *k);
    /* `sig` (may be NULL) is the caller's signature for the new kernel. */
    mlxc_status (*kernel_register_source)(mlxc_device *dev, const char *name, const char *src,
                                          const mlxc_kernel_signature *sig);
    mlxc_status (*kernel_register_cpu)(mlxc_device *dev, const char *name, mlxc_cpu_kernel_fn fn);

    mlxc_status (*timeline_create)(mlxc_device *dev, mlxc_timeline *tl);
    void        (*timeline_destroy)(mlxc_device *dev, mlxc_timeline *tl);
    uint64_t    (*timeline_value)(mlxc_device *dev, mlxc_timeline *tl);

    /* Command buffers.  cb_begin (optional) runs when one opens; cb_record
     * (optional) sees each command as it is appended (immediate mode);
     * cb_submit hands it over (asynchronous, in submission order); cb_poll
     * says whether it finished; cb_wait blocks, fills start/end (and the
     * per-dispatch times when profiling) and returns MLXC_ERR_COMMAND_BUFFER
     * (with cb->error) if it failed; cb_release frees backend state of a
     * buffer that was never submitted or has finished. */
    mlxc_status (*cb_begin)(mlxc_cmdbuf *cb);
    mlxc_status (*cb_record)(mlxc_cmdbuf *cb, const mlxc_cmd *cmd);
    mlxc_status (*cb_submit)(mlxc_cmdbuf *cb);
    bool        (*cb_poll)(mlxc_cmdbuf *cb);
    mlxc_status (*cb_wait)(mlxc_cmdbuf *cb);
    void        (*cb_release)(mlxc_cmdbuf *cb);

    /* Optional: build a native executable for exec->plan (set exec->impl). */
    mlxc_status (*exec_create)(mlxc_graph_exec_t *exec);
    void        (*exec_destroy)(mlxc_graph_exec_t *exec);
} mlxc_backend;

extern const mlxc_backend mlxc_cpu_backend;
#ifdef MLXC_HAVE_CUDA
extern const mlxc_backend mlxc_cuda_backend;
#endif

/* ---- device ---------------------------------------------------------------------- */

typedef struct mlxc_kernel_table mlxc_kernel_table;

typedef struct mlxc_read_ring mlxc_read_ring;
void mlxc_read_ring_free(mlxc_read_ring *rr);

struct mlxc_device {
    _Atomic int         refs;
    const mlxc_backend *be;
    int                 index;
    mlxc_device_caps    caps;
    void               *impl;
    _Atomic bool        lost;
    mlxc_kernel_table  *kernels;
    pthread_mutex_t     lock;          /* kernels and the in-flight list      */
    mlxc_cmdbuf        *inflight;      /* committed, not yet reaped           */
    mlxc_read_ring     *reads;         /* queued reads (buffer.c); made under lock */
};

void        mlxc_device_retain(mlxc_device *dev);
void        mlxc_device_release(mlxc_device *dev);
void        mlxc_device_mark_lost(mlxc_device *dev, const char *why);
/* Bump the generation of `name` so cached kernels of that name re-resolve. */
void        mlxc_kernel_invalidate(mlxc_device *dev, const char *name);

/* ---- command buffer life cycle (core) ----------------------------------------------- */

mlxc_status mlxc_cmdbuf_create(mlxc_device *dev, mlxc_cmdbuf **out);
/* Append a command (copying args/ranges into the arena is the caller's job). */
mlxc_status mlxc_cmdbuf_append(mlxc_cmdbuf *cb, const mlxc_cmd *cmd);
mlxc_status mlxc_cmdbuf_retain_storage(mlxc_cmdbuf *cb, mlxc_storage *st);
/* Keep an executable alive until the command buffer is freed. */
mlxc_status mlxc_cmdbuf_hold_exec(mlxc_cmdbuf *cb, struct mlxc_graph_exec *exec);
mlxc_status mlxc_cmdbuf_submit(mlxc_cmdbuf *cb);
mlxc_status mlxc_cmdbuf_wait(mlxc_cmdbuf *cb);
/* Free a never-submitted buffer, or hand a submitted one to the device to be
 * freed (its retained storage released) once it has completed. */
void        mlxc_cmdbuf_dispose(mlxc_cmdbuf *cb);
/* Free completed in-flight buffers of the device (non-blocking). */
void        mlxc_device_reap(mlxc_device *dev, bool block);

/* Encoder internals used by sessions and graph replay. */
mlxc_status mlxc_encoder_reopen(mlxc_encoder *enc);
mlxc_status mlxc_encoder_record(mlxc_encoder *enc, const mlxc_dispatch *d, mlxc_op_kind kind,
                                const mlxc_buffer_range *ranges, uint32_t nranges);
mlxc_status mlxc_encoder_barrier_internal(mlxc_encoder *enc, bool automatic);
mlxc_status mlxc_encoder_append_sync(mlxc_encoder *enc, mlxc_cmd_type type, mlxc_timeline *tl, uint64_t value);

/* Resolve a public dispatch into a command (validating it). */
mlxc_status mlxc_resolve_dispatch(mlxc_cmdbuf *cb, const mlxc_dispatch *d, mlxc_op_kind kind,
                                  const mlxc_range_set *ranges, mlxc_cmd *out);

/* ---- ranges and graphs (core) ------------------------------------------------------ */

#define MLXC_MAX_TRACKED 64
bool        mlxc_ranges_disjoint(const mlxc_buffer_range *a, size_t na, const mlxc_buffer_range *b, size_t nb);
mlxc_status mlxc_ranges_from_sets(const mlxc_buffer *const *reads, uint32_t nreads,
                                  const mlxc_buffer *const *writes, uint32_t nwrites, mlxc_buffer_range *out);
mlxc_status mlxc_graph_new(mlxc_graph **out);
mlxc_status mlxc_graph_append_dispatch(mlxc_graph *g, const mlxc_dispatch *d, mlxc_op_kind kind,
                                       const mlxc_buffer_range *ranges, uint32_t nranges);
mlxc_status mlxc_graph_append_barrier(mlxc_graph *g, bool automatic);
void        mlxc_graph_exec_release(mlxc_graph_exec_t *exec);

/* ---- profiling (core) ---------------------------------------------------------------- */

void mlxc_profile_record_cb(const char *label, uint64_t start_ns, uint64_t end_ns);
void mlxc_profile_record_dispatch(const char *label, const char *kernel, mlxc_op_kind kind, uint32_t index,
                                  uint64_t start_ns, uint64_t end_ns, uint64_t bytes_read, uint64_t bytes_written);

#endif /* MLXC_CORE_INTERNAL_H */
