/*
 * mlxc/encoder.h — command encoding: one encoder is one command buffer.
 *
 * Dispatches between two barriers are unordered and may run concurrently
 * (on CUDA they get no edge between them).  A barrier orders everything
 * before it against everything after it.  commit() hands the command buffer
 * to the device, which runs committed buffers in commit order; wait() blocks
 * until it has completed.  An encoder records one command buffer: after a
 * commit it takes no more dispatches.
 *
 *     mlxc_encoder *enc;
 *     mlxc_encoder_create(dev, &enc);
 *     mlxc_arg args[3] = { mlxc_arg_buffer(a), mlxc_arg_buffer(out),
 *                          mlxc_arg_bytes(&n, sizeof n) };
 *     mlxc_dispatch d = { .kernel = k, .args = args, .nargs = 3,
 *                         .grid = {blocks, 1, 1}, .block = {256, 1, 1} };
 *     mlxc_encoder_dispatch(enc, &d);
 *     mlxc_encoder_barrier(enc);
 *     ...
 *     mlxc_encoder_commit_and_wait(enc);
 *     mlxc_encoder_destroy(enc);
 *
 * Tracked dispatch: mlxc_encoder_dispatch_tracked() takes the buffers the
 * dispatch reads and writes.  With auto-barrier on (MLXC_AUTO_BARRIER=1, or
 * mlxc_encoder_set_auto_barrier) the encoder emits a barrier exactly when a
 * new dispatch conflicts (read-after-write, write-after-read, write-after-
 * write on overlapping bytes of one allocation) with the dispatches since the
 * last barrier.  Off, it is the plain dispatch.
 */
#ifndef MLXC_ENCODER_H
#define MLXC_ENCODER_H

#include "mlxc/kernel.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlxc_encoder mlxc_encoder;
typedef struct mlxc_graph   mlxc_graph;

/* ---- Arguments and dispatches --------------------------------------- */

typedef enum mlxc_arg_kind {
    MLXC_ARG_BUFFER = 0,        /* the view's address: its own offset applied  */
    MLXC_ARG_BUFFER_OFFSET = 1, /* the allocation base plus exactly `offset`   */
    MLXC_ARG_BYTES = 2          /* a small by-value struct (<= 4096 bytes)     */
} mlxc_arg_kind;

typedef struct mlxc_arg {
    mlxc_arg_kind      kind;
    const mlxc_buffer *buffer;
    uint64_t           offset;
    const void        *bytes;
    uint32_t           size;
} mlxc_arg;

static inline mlxc_arg mlxc_arg_buffer(const mlxc_buffer *b) {
    mlxc_arg a = {MLXC_ARG_BUFFER, b, 0, NULL, 0};
    return a;
}
static inline mlxc_arg mlxc_arg_buffer_offset(const mlxc_buffer *b, uint64_t offset) {
    mlxc_arg a = {MLXC_ARG_BUFFER_OFFSET, b, offset, NULL, 0};
    return a;
}
static inline mlxc_arg mlxc_arg_bytes(const void *p, uint32_t n) {
    mlxc_arg a = {MLXC_ARG_BYTES, NULL, 0, p, n};
    return a;
}

/* How `grid` is read: as a count of thread groups (CUDA grid, Metal
 * dispatchThreadgroups), or as a count of threads, rounded up to whole groups
 * (Metal dispatchThreads; the kernel bounds-checks). */
typedef enum mlxc_grid_mode { MLXC_GRID_GROUPS = 0, MLXC_GRID_THREADS = 1 } mlxc_grid_mode;

typedef struct mlxc_dispatch {
    const mlxc_kernel *kernel;
    const mlxc_arg    *args;
    uint32_t           nargs;
    mlxc_dim3          grid;          /* zero components are taken as 1 */
    mlxc_dim3          block;         /* threads per group; zero -> 1   */
    uint32_t           shared_bytes;  /* dynamic shared memory per group */
    mlxc_grid_mode     grid_mode;
    /* For mlxc_encoder_dispatch_tracked: the views read and written. */
    const mlxc_buffer *const *reads;
    uint32_t           nreads;
    const mlxc_buffer *const *writes;
    uint32_t           nwrites;
} mlxc_dispatch;

/* What a dispatch is, for the graph passes and profiles.  SDPA and SOFTMAX
 * are barriers to reordering; all others may be reordered. */
typedef enum mlxc_op_kind {
    MLXC_OP_OTHER = 0,
    MLXC_OP_RMS_NORM,
    MLXC_OP_ELEM_MUL,
    MLXC_OP_ELEM_ADD,
    MLXC_OP_SDPA,
    MLXC_OP_SOFTMAX,
    MLXC_OP_MATMUL,
    MLXC_OP_ROPE,
    MLXC_OP_COPY,
    MLXC_OP_GATHER,
    MLXC_OP_KV_CACHE,
    MLXC_OP_ACTIVATION,
    MLXC_OP_NORM,
    MLXC_OP_SAMPLE,
    MLXC_OP_REDUCE,
    MLXC_OP_QMATMUL,
    MLXC_OP_MOE,
    MLXC_OP_KIND_COUNT
} mlxc_op_kind;

/* "RmsNorm", "ElemMul", "ElemAdd", "Sdpa", "Softmax", "Other", ... */
MLXC_API const char *mlxc_op_kind_name(mlxc_op_kind kind);
MLXC_API bool        mlxc_op_kind_is_reorderable(mlxc_op_kind kind);

/* ---- Encoder ---------------------------------------------------------- */

/* A new encoder with a new command buffer (cmd_buf counter +1).  Auto-barrier
 * starts as MLXC_AUTO_BARRIER says. */
MLXC_API mlxc_status mlxc_encoder_create(mlxc_device *dev, mlxc_encoder **out);
/* Destroy.  Uncommitted work is discarded; committed work runs to completion
 * and its resources are released when it does.  NULL is ignored. */
MLXC_API void        mlxc_encoder_destroy(mlxc_encoder *enc);
MLXC_API mlxc_device *mlxc_encoder_device(const mlxc_encoder *enc);

/* Record a dispatch (dispatch counter +1, also in capture mode). */
MLXC_API mlxc_status mlxc_encoder_dispatch(mlxc_encoder *enc, const mlxc_dispatch *d);
/* Record a dispatch with its read/write sets (see the top of this file).  In
 * capture mode the sets are stored on the captured node. */
MLXC_API mlxc_status mlxc_encoder_dispatch_tracked(mlxc_encoder *enc, const mlxc_dispatch *d);
/* Order everything before against everything after.  In capture mode a
 * barrier node is appended (counter +0); before the first dispatch of the
 * command buffer it is a no-op (+0); otherwise barrier +1. */
MLXC_API mlxc_status mlxc_encoder_barrier(mlxc_encoder *enc);
/* A barrier, then an empty auto-barrier tracker. */
MLXC_API mlxc_status mlxc_encoder_force_barrier_and_reset_tracker(mlxc_encoder *enc);
/* Tag the next dispatch only (then back to MLXC_OP_OTHER). */
MLXC_API mlxc_status mlxc_encoder_set_op_kind(mlxc_encoder *enc, mlxc_op_kind kind);
/* Attach read/write sets to the next dispatch only (for the graph passes);
 * views are retained until then. */
MLXC_API mlxc_status mlxc_encoder_set_pending_ranges(mlxc_encoder *enc,
                                                     const mlxc_buffer *const *reads, uint32_t nreads,
                                                     const mlxc_buffer *const *writes, uint32_t nwrites);
MLXC_API mlxc_status mlxc_encoder_set_auto_barrier(mlxc_encoder *enc, bool on);
MLXC_API bool        mlxc_encoder_auto_barrier(const mlxc_encoder *enc);
/* Ranges currently held by the auto-barrier tracker. */
MLXC_API size_t      mlxc_encoder_mem_ranges_len(const mlxc_encoder *enc);
/* Dispatches recorded into the current command buffer. */
MLXC_API size_t      mlxc_encoder_dispatch_count(const mlxc_encoder *enc);

/* Commit without blocking.  The labelled forms name the command buffer for
 * profiles and traces; with MLXC_PROFILE_CB set, commit_labeled waits (so
 * the GPU time can be recorded) and counts a sync. */
MLXC_API mlxc_status mlxc_encoder_commit(mlxc_encoder *enc);
MLXC_API mlxc_status mlxc_encoder_commit_labeled(mlxc_encoder *enc, const char *label);
/* Block until the committed command buffer completes.  MLXC_ERR_STATE if
 * nothing was committed; MLXC_ERR_COMMAND_BUFFER if it failed. */
MLXC_API mlxc_status mlxc_encoder_wait(mlxc_encoder *enc);
/* commit + wait (sync counter +1). */
MLXC_API mlxc_status mlxc_encoder_commit_and_wait(mlxc_encoder *enc);
MLXC_API mlxc_status mlxc_encoder_commit_and_wait_labeled(mlxc_encoder *enc, const char *label);
/* Device-clock start and end of the completed command buffer, in ns. */
MLXC_API mlxc_status mlxc_encoder_gpu_time(const mlxc_encoder *enc, uint64_t *start_ns, uint64_t *end_ns);
MLXC_API bool        mlxc_encoder_is_committed(const mlxc_encoder *enc);

/* Capture: dispatches and barriers are recorded into a graph instead of the
 * command buffer, until take_capture hands the graph over (and ends capture). */
MLXC_API mlxc_status mlxc_encoder_start_capture(mlxc_encoder *enc);
MLXC_API bool        mlxc_encoder_is_capturing(const mlxc_encoder *enc);
MLXC_API mlxc_status mlxc_encoder_take_capture(mlxc_encoder *enc, mlxc_graph **out);

/* ---- Process-wide counters (atomic) ------------------------------------ */

typedef struct mlxc_counters {
    uint64_t sync;                    /* commit_and_wait calls                 */
    uint64_t dispatch;                /* dispatches recorded (capture too)     */
    uint64_t cmd_buf;                 /* command buffers opened                */
    uint64_t barrier;                 /* barriers issued                       */
    uint64_t barrier_ns;              /* time issuing them (MLXC_PROFILE_BARRIERS) */
    uint64_t auto_barrier;            /* barriers emitted by tracked dispatch  */
    uint64_t auto_barrier_concurrent; /* tracked dispatches that needed none   */
} mlxc_counters;

MLXC_API void mlxc_counters_get(mlxc_counters *out);
MLXC_API void mlxc_counters_reset(void);

/* ---- Mem-ranges: the conflict tracker behind auto-barriers ------------ */

typedef struct mlxc_mem_ranges mlxc_mem_ranges;

typedef enum mlxc_range_role { MLXC_RANGE_SRC = 0, MLXC_RANGE_DST = 1 } mlxc_range_role;

/* The exact half-open byte range [p0, p1) of a view within its allocation. */
typedef struct mlxc_buffer_range {
    uint64_t        alloc_id;
    uint64_t        p0, p1;
    mlxc_range_role role;
} mlxc_buffer_range;

MLXC_API mlxc_status mlxc_buffer_range_of(const mlxc_buffer *buf, mlxc_range_role role,
                                          mlxc_buffer_range *out);

MLXC_API mlxc_status mlxc_mem_ranges_create(mlxc_mem_ranges **out);
MLXC_API void        mlxc_mem_ranges_destroy(mlxc_mem_ranges *mr);
MLXC_API void        mlxc_mem_ranges_reset(mlxc_mem_ranges *mr);
MLXC_API size_t      mlxc_mem_ranges_len(const mlxc_mem_ranges *mr);
/* Would a dispatch reading `reads` and writing `writes` run concurrently with
 * everything recorded?  *concurrent = false counts one forced barrier. */
MLXC_API mlxc_status mlxc_mem_ranges_check(mlxc_mem_ranges *mr,
                                           const mlxc_buffer *const *reads, uint32_t nreads,
                                           const mlxc_buffer *const *writes, uint32_t nwrites,
                                           bool *concurrent);
MLXC_API mlxc_status mlxc_mem_ranges_add(mlxc_mem_ranges *mr,
                                         const mlxc_buffer *const *reads, uint32_t nreads,
                                         const mlxc_buffer *const *writes, uint32_t nwrites);
/* Range-level forms of check/add. */
MLXC_API mlxc_status mlxc_mem_ranges_check_ranges(mlxc_mem_ranges *mr, const mlxc_buffer_range *r,
                                                  size_t n, bool *concurrent);
MLXC_API mlxc_status mlxc_mem_ranges_add_ranges(mlxc_mem_ranges *mr, const mlxc_buffer_range *r,
                                                size_t n);
MLXC_API uint64_t    mlxc_mem_ranges_barriers_forced(const mlxc_mem_ranges *mr);
MLXC_API uint64_t    mlxc_mem_ranges_checks(const mlxc_mem_ranges *mr);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_ENCODER_H */
