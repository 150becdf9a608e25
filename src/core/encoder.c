/* Encoders: one command buffer each; dispatch, barriers, auto-barriers,
 * capture, commit and wait. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

struct mlxc_encoder {
    mlxc_device       *dev;
    mlxc_cmdbuf       *cb;
    bool               committed;
    bool               has_work;        /* a dispatch or exec since the CB opened */
    bool               auto_barrier;
    mlxc_mem_ranges   *tracker;
    mlxc_op_kind       pending_kind;
    mlxc_buffer_range  pending[MLXC_MAX_TRACKED];
    uint32_t           npending;
    mlxc_graph        *capture;
    char               label[MLXC_PROFILE_LABEL_MAX];
};

static const char *k_op_names[MLXC_OP_KIND_COUNT] = {
    [MLXC_OP_OTHER] = "Other",       [MLXC_OP_RMS_NORM] = "RmsNorm",   [MLXC_OP_ELEM_MUL] = "ElemMul",
    [MLXC_OP_ELEM_ADD] = "ElemAdd",  [MLXC_OP_SDPA] = "Sdpa",          [MLXC_OP_SOFTMAX] = "Softmax",
    [MLXC_OP_MATMUL] = "MatMul",     [MLXC_OP_ROPE] = "Rope",          [MLXC_OP_COPY] = "Copy",
    [MLXC_OP_GATHER] = "Gather",     [MLXC_OP_KV_CACHE] = "KvCache",   [MLXC_OP_ACTIVATION] = "Activation",
    [MLXC_OP_NORM] = "Norm",         [MLXC_OP_SAMPLE] = "Sample",      [MLXC_OP_REDUCE] = "Reduce",
    [MLXC_OP_QMATMUL] = "QMatMul",   [MLXC_OP_MOE] = "Moe",
};

const char *mlxc_op_kind_name(mlxc_op_kind k) {
    return ((unsigned)k < MLXC_OP_KIND_COUNT) ? k_op_names[k] : "Invalid";
}

bool mlxc_op_kind_is_reorderable(mlxc_op_kind k) {
    return (unsigned)k < MLXC_OP_KIND_COUNT && k != MLXC_OP_SDPA && k != MLXC_OP_SOFTMAX;
}

/* ---- life cycle ------------------------------------------------------------- */

static mlxc_status open_cmdbuf(mlxc_encoder *enc) {
    mlxc_status s = mlxc_cmdbuf_create(enc->dev, &enc->cb);
    if (s) return s;
    MLXC_COUNT(cmd_buf, 1);
    enc->committed = false;
    enc->has_work = false;
    enc->label[0] = '\0';
    mlxc_mem_ranges_reset(enc->tracker);
    return MLXC_OK;
}

mlxc_status mlxc_encoder_create(mlxc_device *dev, mlxc_encoder **out) {
    MLXC_CHECK_ARG(dev && out, "mlxc_encoder_create: NULL argument");
    *out = NULL;
    mlxc_encoder *enc = calloc(1, sizeof *enc);
    if (!enc) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    enc->dev = dev;
    enc->auto_barrier = mlxc_env()->auto_barrier;
    mlxc_status s = mlxc_mem_ranges_create(&enc->tracker);
    if (!s) s = open_cmdbuf(enc);
    if (s) {
        mlxc_mem_ranges_destroy(enc->tracker);
        free(enc);
        return s;
    }
    mlxc_device_retain(dev);
    *out = enc;
    return MLXC_OK;
}

/* Start a new command buffer on the same encoder (sessions). */
mlxc_status mlxc_encoder_reopen(mlxc_encoder *enc) {
    mlxc_cmdbuf *old = enc->cb;
    enc->cb = NULL;
    mlxc_status s = open_cmdbuf(enc);
    mlxc_cmdbuf_dispose(old);
    return s;
}

void mlxc_encoder_destroy(mlxc_encoder *enc) {
    if (!enc) return;
    mlxc_cmdbuf_dispose(enc->cb);
    mlxc_graph_destroy(enc->capture);
    mlxc_mem_ranges_destroy(enc->tracker);
    mlxc_device *dev = enc->dev;
    free(enc);
    mlxc_device_reap(dev, false);
    mlxc_device_release(dev);
}

mlxc_device *mlxc_encoder_device(const mlxc_encoder *enc) { return enc ? enc->dev : NULL; }
bool mlxc_encoder_is_committed(const mlxc_encoder *enc) { return enc && enc->committed; }
size_t mlxc_encoder_dispatch_count(const mlxc_encoder *enc) { return (enc && enc->cb) ? enc->cb->ndispatch : 0; }
size_t mlxc_encoder_mem_ranges_len(const mlxc_encoder *enc) { return enc ? mlxc_mem_ranges_len(enc->tracker) : 0; }
bool mlxc_encoder_auto_barrier(const mlxc_encoder *enc) { return enc && enc->auto_barrier; }

mlxc_status mlxc_encoder_set_auto_barrier(mlxc_encoder *enc, bool on) {
    MLXC_CHECK_ARG(enc, "mlxc_encoder_set_auto_barrier: NULL encoder");
    enc->auto_barrier = on;
    mlxc_mem_ranges_reset(enc->tracker);
    return MLXC_OK;
}

mlxc_status mlxc_encoder_set_op_kind(mlxc_encoder *enc, mlxc_op_kind kind) {
    MLXC_CHECK_ARG(enc, "mlxc_encoder_set_op_kind: NULL encoder");
    MLXC_CHECK_ARG((unsigned)kind < MLXC_OP_KIND_COUNT, "mlxc_encoder_set_op_kind: invalid kind %d", (int)kind);
    enc->pending_kind = kind;
    return MLXC_OK;
}

mlxc_status mlxc_encoder_set_pending_ranges(mlxc_encoder *enc, const mlxc_buffer *const *reads, uint32_t nreads,
                                            const mlxc_buffer *const *writes, uint32_t nwrites) {
    MLXC_CHECK_ARG(enc, "mlxc_encoder_set_pending_ranges: NULL encoder");
    MLXC_CHECK_ARG(nreads + nwrites <= MLXC_MAX_TRACKED, "more than %d tracked buffers", MLXC_MAX_TRACKED);
    mlxc_status s = mlxc_ranges_from_sets(reads, nreads, writes, nwrites, enc->pending);
    if (s) { enc->npending = 0; return s; }
    enc->npending = nreads + nwrites;
    return MLXC_OK;
}

/* ---- recording -------------------------------------------------------------- */

static mlxc_status writable(mlxc_encoder *enc) {
    if (enc->committed)
        return mlxc_set_error(MLXC_ERR_STATE, "the encoder's command buffer was already committed");
    if (atomic_load(&enc->dev->lost))
        return mlxc_set_error(MLXC_ERR_DEVICE_LOST, "device %s is lost", enc->dev->caps.name);
    return MLXC_OK;
}

/* Append a resolved dispatch to the live command buffer. */
mlxc_status mlxc_encoder_record(mlxc_encoder *enc, const mlxc_dispatch *d, mlxc_op_kind kind,
                                const mlxc_buffer_range *ranges, uint32_t nranges) {
    mlxc_status s = writable(enc);
    if (s) return s;
    mlxc_range_set rs = {(mlxc_buffer_range *)ranges, nranges};
    mlxc_cmd cmd;
    if ((s = mlxc_resolve_dispatch(enc->cb, d, kind, &rs, &cmd))) return s;
    if ((s = mlxc_cmdbuf_append(enc->cb, &cmd))) return s;
    enc->has_work = true;
    return MLXC_OK;
}

static mlxc_status issue_barrier(mlxc_encoder *enc, bool automatic) {
    if (enc->capture) return mlxc_graph_append_barrier(enc->capture, automatic);
    mlxc_status s = writable(enc);
    if (s) return s;
    if (!enc->has_work) return MLXC_OK; /* nothing to order yet */
    bool timed = mlxc_env()->profile_barriers;
    uint64_t t0 = timed ? mlxc_now_ns() : 0;
    mlxc_cmd cmd = {.type = MLXC_CMD_BARRIER};
    cmd.u.barrier.automatic = automatic;
    if ((s = mlxc_cmdbuf_append(enc->cb, &cmd))) return s;
    MLXC_COUNT(barrier, 1);
    if (timed) MLXC_COUNT(barrier_ns, mlxc_now_ns() - t0);
    return MLXC_OK;
}

mlxc_status mlxc_encoder_barrier(mlxc_encoder *enc) {
    MLXC_CHECK_ARG(enc, "mlxc_encoder_barrier: NULL encoder");
    return issue_barrier(enc, false);
}

mlxc_status mlxc_encoder_barrier_internal(mlxc_encoder *enc, bool automatic) {
    return issue_barrier(enc, automatic);
}

mlxc_status mlxc_encoder_force_barrier_and_reset_tracker(mlxc_encoder *enc) {
    MLXC_CHECK_ARG(enc, "mlxc_encoder_force_barrier_and_reset_tracker: NULL encoder");
    mlxc_status s = issue_barrier(enc, false);
    mlxc_mem_ranges_reset(enc->tracker);
    return s;
}

static mlxc_status dispatch_common(mlxc_encoder *enc, const mlxc_dispatch *d, const mlxc_buffer_range *r,
                                   uint32_t nr) {
    mlxc_op_kind kind = enc->pending_kind;
    enc->pending_kind = MLXC_OP_OTHER;
    MLXC_COUNT(dispatch, 1);
    if (enc->capture) return mlxc_graph_append_dispatch(enc->capture, d, kind, r, nr);
    return mlxc_encoder_record(enc, d, kind, r, nr);
}

mlxc_status mlxc_encoder_dispatch(mlxc_encoder *enc, const mlxc_dispatch *d) {
    MLXC_CHECK_ARG(enc && d, "mlxc_encoder_dispatch: NULL argument");
    mlxc_buffer_range r[MLXC_MAX_TRACKED];
    uint32_t nr = enc->npending;
    memcpy(r, enc->pending, nr * sizeof *r);
    enc->npending = 0;
    return dispatch_common(enc, d, r, nr);
}

mlxc_status mlxc_encoder_dispatch_tracked(mlxc_encoder *enc, const mlxc_dispatch *d) {
    MLXC_CHECK_ARG(enc && d, "mlxc_encoder_dispatch_tracked: NULL argument");
    MLXC_CHECK_ARG(d->nreads + d->nwrites <= MLXC_MAX_TRACKED, "dispatch_tracked: more than %d tracked buffers",
                   MLXC_MAX_TRACKED);
    mlxc_buffer_range r[MLXC_MAX_TRACKED];
    enc->npending = 0;
    mlxc_status s = mlxc_ranges_from_sets(d->reads, d->nreads, d->writes, d->nwrites, r);
    if (s) return s;
    uint32_t nr = d->nreads + d->nwrites;
    if (!enc->capture && enc->auto_barrier) {
        if ((s = writable(enc))) return s;
        bool concurrent;
        mlxc_mem_ranges_check_ranges(enc->tracker, r, nr, &concurrent);
        if (concurrent) {
            MLXC_COUNT(auto_barrier_concurrent, 1);
        } else {
            if ((s = issue_barrier(enc, true))) return s;
            mlxc_mem_ranges_reset(enc->tracker);
            MLXC_COUNT(auto_barrier, 1);
        }
        if ((s = mlxc_mem_ranges_add_ranges(enc->tracker, r, nr))) return s;
    }
    return dispatch_common(enc, d, r, nr);
}

/* ---- commit and wait ------------------------------------------------------------ */

static void set_label(mlxc_encoder *enc, const char *label) {
    snprintf(enc->label, sizeof enc->label, "%s", label);
    snprintf(enc->cb->label, sizeof enc->cb->label, "%s", label);
}

/* Append a command that is not a dispatch (session waits and signals). */
mlxc_status mlxc_encoder_append_sync(mlxc_encoder *enc, mlxc_cmd_type type, mlxc_timeline *tl, uint64_t value) {
    mlxc_status s = writable(enc);
    if (s) return s;
    mlxc_cmd cmd = {.type = type};
    cmd.u.sync.tl = tl;
    cmd.u.sync.value = value;
    return mlxc_cmdbuf_append(enc->cb, &cmd);
}

mlxc_status mlxc_encoder_commit(mlxc_encoder *enc) {
    MLXC_CHECK_ARG(enc, "mlxc_encoder_commit: NULL encoder");
    if (enc->committed) return mlxc_set_error(MLXC_ERR_STATE, "the command buffer was already committed");
    if (!enc->cb->label[0]) snprintf(enc->cb->label, sizeof enc->cb->label, "%s", "(unlabeled)");
    mlxc_status s = mlxc_cmdbuf_submit(enc->cb);
    enc->committed = true;
    mlxc_device_reap(enc->dev, false);
    return s;
}

mlxc_status mlxc_encoder_wait(mlxc_encoder *enc) {
    MLXC_CHECK_ARG(enc, "mlxc_encoder_wait: NULL encoder");
    if (!enc->committed)
        return mlxc_set_error(MLXC_ERR_STATE, "mlxc_encoder_wait: the command buffer was never committed");
    return mlxc_cmdbuf_wait(enc->cb);
}

mlxc_status mlxc_encoder_commit_and_wait(mlxc_encoder *enc) {
    MLXC_CHECK_ARG(enc, "mlxc_encoder_commit_and_wait: NULL encoder");
    MLXC_COUNT(sync, 1);
    mlxc_status s = mlxc_encoder_commit(enc);
    if (s) return s;
    return mlxc_cmdbuf_wait(enc->cb);
}

mlxc_status mlxc_encoder_commit_and_wait_labeled(mlxc_encoder *enc, const char *label) {
    MLXC_CHECK_ARG(enc && label && label[0], "mlxc_encoder_commit_and_wait_labeled: NULL encoder or empty label");
    if (enc->committed) return mlxc_set_error(MLXC_ERR_STATE, "the command buffer was already committed");
    set_label(enc, label);
    return mlxc_encoder_commit_and_wait(enc);
}

mlxc_status mlxc_encoder_commit_labeled(mlxc_encoder *enc, const char *label) {
    MLXC_CHECK_ARG(enc && label && label[0], "mlxc_encoder_commit_labeled: NULL encoder or empty label");
    if (enc->committed) return mlxc_set_error(MLXC_ERR_STATE, "the command buffer was already committed");
    /* Profiling needs the device time, so the labelled commit becomes a wait. */
    if (mlxc_env()->profile_cb) return mlxc_encoder_commit_and_wait_labeled(enc, label);
    set_label(enc, label);
    return mlxc_encoder_commit(enc);
}

mlxc_status mlxc_encoder_gpu_time(const mlxc_encoder *enc, uint64_t *start_ns, uint64_t *end_ns) {
    MLXC_CHECK_ARG(enc && start_ns && end_ns, "mlxc_encoder_gpu_time: NULL argument");
    if (!enc->committed || atomic_load(&enc->cb->state) != MLXC_CB_COMPLETED)
        return mlxc_set_error(MLXC_ERR_STATE, "mlxc_encoder_gpu_time: the command buffer has not completed (wait first)");
    *start_ns = enc->cb->start_ns;
    *end_ns = enc->cb->end_ns;
    return MLXC_OK;
}

/* ---- capture ------------------------------------------------------------------- */

mlxc_status mlxc_encoder_start_capture(mlxc_encoder *enc) {
    MLXC_CHECK_ARG(enc, "mlxc_encoder_start_capture: NULL encoder");
    if (enc->capture) return mlxc_set_error(MLXC_ERR_STATE, "the encoder is already capturing");
    return mlxc_graph_new(&enc->capture);
}

bool mlxc_encoder_is_capturing(const mlxc_encoder *enc) { return enc && enc->capture; }

mlxc_status mlxc_encoder_take_capture(mlxc_encoder *enc, mlxc_graph **out) {
    MLXC_CHECK_ARG(enc && out, "mlxc_encoder_take_capture: NULL argument");
    *out = NULL;
    if (!enc->capture) return mlxc_set_error(MLXC_ERR_STATE, "the encoder is not capturing");
    *out = enc->capture;
    enc->capture = NULL;
    return MLXC_OK;
}

/* ---- graph executables ------------------------------------------------------------ */

mlxc_status mlxc_graph_exec_launch(mlxc_graph_exec *exec, mlxc_encoder *enc) {
    MLXC_CHECK_ARG(exec && enc, "mlxc_graph_exec_launch: NULL argument");
    mlxc_status s = writable(enc);
    if (s) return s;
    if (exec->dev != enc->dev) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "executable and encoder are on different devices");
    mlxc_cmdbuf *plan = exec->plan;
    /* Order the replay against what the command buffer already holds. */
    if ((s = issue_barrier(enc, false))) return s;
    if (exec->impl) {
        mlxc_cmd cmd = {.type = MLXC_CMD_EXEC};
        cmd.u.exec.exec = exec;
        for (size_t i = 0; i < plan->nretained; i++)
            if ((s = mlxc_cmdbuf_retain_storage(enc->cb, plan->retained[i]))) return s;
        if ((s = mlxc_cmdbuf_hold_exec(enc->cb, exec))) return s;
        if ((s = mlxc_cmdbuf_append(enc->cb, &cmd))) return s;
        enc->has_work = true;
        return issue_barrier(enc, false);
    }
    /* No native executable: replay the resolved plan. */
    for (size_t i = 0; i < plan->ncmds; i++) {
        mlxc_cmd cmd = plan->cmds[i];
        if (cmd.type == MLXC_CMD_BARRIER) {
            if ((s = issue_barrier(enc, cmd.u.barrier.automatic))) return s;
            continue;
        }
        if (cmd.type != MLXC_CMD_DISPATCH) continue;
        mlxc_cmd_dispatch *d = &cmd.u.d;
        mlxc_rarg *ra = mlxc_cmdbuf_alloc(enc->cb, d->nargs * sizeof *ra + 1);
        if (!ra) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
        memcpy(ra, d->args, d->nargs * sizeof *ra);
        for (uint32_t a = 0; a < d->nargs; a++) {
            if (ra[a].is_ptr) continue;
            void *copy = mlxc_cmdbuf_alloc(enc->cb, ra[a].size);
            if (!copy) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
            memcpy(copy, ra[a].bytes, ra[a].size);
            ra[a].bytes = copy;
            ra[a].host = copy;
        }
        d->args = ra;
        d->ranges.n = 0; /* ranges point into the plan; the replay needs none */
        d->ranges.r = NULL;
        if ((s = mlxc_cmdbuf_append(enc->cb, &cmd))) return s;
        enc->has_work = true;
    }
    for (size_t i = 0; i < plan->nretained; i++)
        if ((s = mlxc_cmdbuf_retain_storage(enc->cb, plan->retained[i]))) return s;
    return issue_barrier(enc, false);
}
