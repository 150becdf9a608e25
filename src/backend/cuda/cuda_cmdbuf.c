/* The CUDA backend's command-buffer hooks: immediate mode runs each
 * command as it is recorded, graph mode cuts the list into segments at
 * commit (overview in cuda_cmdbuf.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_cmdbuf.h"

static mlxc_status ensure_started(cu_dev *cu, cu_cb *c, mlxc_device *dev) {
    if (c->started) return MLXC_OK;
    if (!c->start) c->start = cu_event_get(cu);
    if (!c->start) return mlxc_set_error(MLXC_ERR_INTERNAL, "cuEventCreate failed");
    CUresult r = mlxc_cu()->EventRecord(c->start, cu->stream);
    if (r != CUDA_SUCCESS) return cu_fail(dev, r, "cuEventRecord");
    c->started = true;
    return MLXC_OK;
}

mlxc_status cu_cb_begin(mlxc_cmdbuf *cb) {
    cu_cb *c = mlxc_cmdbuf_alloc(cb, sizeof *c);
    if (!c) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    memset(c, 0, sizeof *c);
    c->immediate = !cu_of(cb->dev)->graph_mode;
    cb->impl = c;
    return MLXC_OK;
}

mlxc_status cu_cb_record(mlxc_cmdbuf *cb, const mlxc_cmd *cmd) {
    mlxc_device *dev = cb->dev;
    cu_dev *cu = cu_of(dev);
    cu_cb *c = cb->impl;
    if (atomic_load(&dev->lost)) return mlxc_set_error(MLXC_ERR_DEVICE_LOST, "device %s is lost", dev->caps.name);
    mlxc_status s;
    if (cmd->type == MLXC_CMD_DISPATCH && (s = cu_check_dispatch(dev, cu, &cmd->u.d))) return s;
    if (!c->immediate) return MLXC_OK;
    if ((s = cu_bind(cu))) return s;
    pthread_mutex_lock(&cu->mu);
    s = ensure_started(cu, c, dev);
    if (!s) s = cu_run_cmd(cb, cu, c, cmd);
    pthread_mutex_unlock(&cu->mu);
    return s;
}

mlxc_status cu_cb_submit(mlxc_cmdbuf *cb) {
    mlxc_device *dev = cb->dev;
    cu_dev *cu = cu_of(dev);
    cu_cb *c = cb->impl;
    mlxc_status s = cu_bind(cu);
    if (s) return s;
    pthread_mutex_lock(&cu->mu);
    s = ensure_started(cu, c, dev);
    if (!s && !c->immediate) {
        if (cb->profile_dispatch) {
            for (size_t i = 0; i < cb->ncmds && !s; i++) s = cu_run_cmd(cb, cu, c, &cb->cmds[i]);
        } else {
            size_t seg = 0;
            for (size_t i = 0; i < cb->ncmds && !s; i++) {
                mlxc_cmd_type ty = cb->cmds[i].type;
                if ((ty == MLXC_CMD_DISPATCH && !cu_is_lib(&cb->cmds[i])) || ty == MLXC_CMD_BARRIER) continue;
                s = cu_run_segment(dev, cu, cb->cmds + seg, i - seg);
                if (!s) s = cu_run_cmd(cb, cu, c, &cb->cmds[i]);
                seg = i + 1;
            }
            if (!s) s = cu_run_segment(dev, cu, cb->cmds + seg, cb->ncmds - seg);
        }
    }
    if (!s && c->immediate) {
        CUresult r = cu_imm_join(cu, c);
        if (r != CUDA_SUCCESS) s = cu_fail(dev, r, "cuStreamWaitEvent");
    }
    if (!s) {
        if (!c->end) c->end = cu_event_get(cu);
        CUresult r = c->end ? mlxc_cu()->EventRecord(c->end, cu->stream) : CUDA_ERROR_OUT_OF_MEMORY;
        if (r != CUDA_SUCCESS) s = cu_fail(dev, r, "cuEventRecord");
    }
    if (!s) c->submitted = true;
    pthread_mutex_unlock(&cu->mu);
    return s;
}

bool cu_cb_poll(mlxc_cmdbuf *cb) {
    cu_cb *c = cb->impl;
    if (!c || !c->submitted || atomic_load(&cb->dev->lost)) return true;
    if (cu_bind(cu_of(cb->dev))) return true;
    return mlxc_cu()->EventQuery(c->end) != CUDA_ERROR_NOT_READY;
}

mlxc_status cu_cb_wait(mlxc_cmdbuf *cb) {
    mlxc_device *dev = cb->dev;
    cu_dev *cu = cu_of(dev);
    cu_cb *c = cb->impl;
    if (!c || !c->submitted) return mlxc_set_error(MLXC_ERR_STATE, "command buffer was not submitted");
    if (atomic_load(&dev->lost)) {
        if (!cb->error[0]) snprintf(cb->error, sizeof cb->error, "device %s is lost", dev->caps.name);
        return mlxc_set_error(MLXC_ERR_COMMAND_BUFFER, "%s", cb->error);
    }
    mlxc_status s = cu_bind(cu);
    if (s) return s;
    const mlxc_cu_api *api = mlxc_cu();
    CUresult r = api->EventSynchronize(c->end);
    if (r != CUDA_SUCCESS) {
        char msg[200];
        mlxc_cu_describe(r, msg, sizeof msg);
        snprintf(cb->error, sizeof cb->error, "%s", msg);
        if (mlxc_cu_is_sticky(r)) mlxc_device_mark_lost(dev, msg);
        return mlxc_set_error(MLXC_ERR_COMMAND_BUFFER, "command buffer failed on %s: %s", dev->caps.name, msg);
    }
    pthread_mutex_lock(&cu->mu);
    cb->start_ns = cu_event_ns(cu, c->start);
    cb->end_ns = cu_event_ns(cu, c->end);
    if (cb->end_ns < cb->start_ns) cb->end_ns = cb->start_ns;
    if (cb->profile_dispatch && cb->disp_start && c->pev) {
        for (uint32_t i = 0; i < cb->ndispatch && 2 * i + 1 < c->cap_pev; i++) {
            if (!c->pev[2 * i] || !c->pev[2 * i + 1]) continue;
            cb->disp_start[i] = cu_event_ns(cu, c->pev[2 * i]);
            cb->disp_end[i] = cu_event_ns(cu, c->pev[2 * i + 1]);
            if (cb->disp_end[i] < cb->disp_start[i]) cb->disp_end[i] = cb->disp_start[i];
        }
    }
    /* Keep the time reference within a second of recent events, where a
     * float of milliseconds still resolves tens of nanoseconds. */
    if (cb->end_ns > (uint64_t)cu->ref_ns + 1000000000ull) {
        CUevent old = cu->ref_ev;
        cu->ref_ev = c->end;
        cu->ref_ns = (int64_t)cb->end_ns;
        c->end = old;
    }
    pthread_mutex_unlock(&cu->mu);
    return MLXC_OK;
}

void cu_cb_release(mlxc_cmdbuf *cb) {
    cu_cb *c = cb->impl;
    if (!c) return;
    cu_dev *cu = cu_of(cb->dev);
    pthread_mutex_lock(&cu->mu);
    cu_event_put(cu, c->start);
    cu_event_put(cu, c->end);
    cu_event_put(cu, c->fork);
    for (int i = 0; i < CU_NSIDE; i++) cu_event_put(cu, c->join[i]);
    for (uint32_t i = 0; i < c->cap_pev; i++) cu_event_put(cu, c->pev[i]);
    pthread_mutex_unlock(&cu->mu);
    free(c->pev);
    memset(c, 0, sizeof *c);
    cb->impl = NULL;
}
