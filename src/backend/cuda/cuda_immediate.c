/* Commands run one at a time on the stream: immediate mode (a barrier
 * group fanned out over the side streams), per-dispatch profiling, and the
 * stream-level commands (timeline waits and signals, executable launches). */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_cmdbuf.h"

static mlxc_status run_exec(mlxc_device *dev, cu_dev *cu, const mlxc_graph_exec_t *x) {
    if (x->impl) {
        CU_STAT(graph_launches, 1);
        CUresult r = mlxc_cu()->GraphLaunch(((const cu_exec *)x->impl)->exec, cu->stream);
        return r == CUDA_SUCCESS ? MLXC_OK : cu_fail(dev, r, "cuGraphLaunch");
    }
    /* No native executable: replay the plan's dispatches in order. */
    const mlxc_cmdbuf *plan = x->plan;
    for (size_t i = 0; plan && i < plan->ncmds; i++) {
        if (plan->cmds[i].type != MLXC_CMD_DISPATCH) continue;
        CUresult r = cu_launch_one(cu, &plan->cmds[i].u.d);
        if (r != CUDA_SUCCESS) return cu_fail(dev, r, "cuLaunchKernel");
    }
    return MLXC_OK;
}

static mlxc_status run_sync(mlxc_device *dev, cu_dev *cu, const mlxc_cmd *c) {
    CUdeviceptr addr = cu_timeline_addr(c->u.sync.tl);
    if (!addr) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "timeline without device storage");
    CUresult r;
    if (c->type == MLXC_CMD_WAIT)
        r = mlxc_cu()->StreamWaitValue64(cu->stream, addr, c->u.sync.value, CU_STREAM_WAIT_VALUE_GEQ);
    else
        r = mlxc_cu()->StreamWriteValue64(cu->stream, addr, c->u.sync.value, CU_STREAM_WRITE_VALUE_DEFAULT);
    return r == CUDA_SUCCESS ? MLXC_OK : cu_fail(dev, r, c->type == MLXC_CMD_WAIT ? "cuStreamWaitValue64" : "cuStreamWriteValue64");
}

static mlxc_status ensure_pev(cu_cb *c, uint32_t index) {
    if (2 * (index + 1) <= c->cap_pev) return MLXC_OK;
    uint32_t nc = c->cap_pev ? c->cap_pev : 16;
    while (nc < 2 * (index + 1)) nc *= 2;
    CUevent *v = realloc(c->pev, nc * sizeof *v);
    if (!v) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    memset(v + c->cap_pev, 0, (nc - c->cap_pev) * sizeof *v);
    c->pev = v;
    c->cap_pev = nc;
    return MLXC_OK;
}

/* Immediate mode: join the side streams into the main one (a barrier). */
CUresult cu_imm_join(cu_dev *cu, cu_cb *c) {
    const mlxc_cu_api *api = mlxc_cu();
    CUresult r = CUDA_SUCCESS;
    for (int i = 0; i < CU_NSIDE && r == CUDA_SUCCESS; i++) {
        if (!(c->side_used & (1u << i))) continue;
        if (!c->join[i] && !(c->join[i] = cu_event_get(cu))) return CUDA_ERROR_OUT_OF_MEMORY;
        r = api->EventRecord(c->join[i], cu->side[i]);
        if (r == CUDA_SUCCESS) r = api->StreamWaitEvent(cu->stream, c->join[i], 0);
    }
    c->side_used = 0;
    if (c->gn) c->fork_stale = true;
    c->gn = 0;
    return r;
}

/* Immediate mode: launch a dispatch of the current barrier group. */
static CUresult imm_dispatch(cu_dev *cu, cu_cb *c, const mlxc_cmd_dispatch *d) {
    const mlxc_cu_api *api = mlxc_cu();
    CUresult r;
    if (c->gn == 0) {
        /* Mark the group's start, for dispatches that join it later. */
        if (c->fork_stale || !c->fork) {
            if (!c->fork && !(c->fork = cu_event_get(cu))) return CUDA_ERROR_OUT_OF_MEMORY;
            if ((r = api->EventRecord(c->fork, cu->stream)) != CUDA_SUCCESS) return r;
            c->fork_stale = false;
        }
        c->gn++;
        return cu_launch_one(cu, d);
    }
    int i = (int)((c->gn - 1) % CU_NSIDE);
    if (!(c->side_used & (1u << i))) {
        if ((r = api->StreamWaitEvent(cu->side[i], c->fork, 0)) != CUDA_SUCCESS) return r;
        c->side_used |= 1u << i;
    }
    c->gn++;
    return cu_launch_on(cu->side[i], d);
}

/* One command on the stream, in order (immediate mode and profiling). */
mlxc_status cu_run_cmd(mlxc_cmdbuf *cb, cu_dev *cu, cu_cb *c, const mlxc_cmd *cmd) {
    mlxc_device *dev = cb->dev;
    const mlxc_cu_api *api = mlxc_cu();
    switch (cmd->type) {
    case MLXC_CMD_DISPATCH: {
        const mlxc_cmd_dispatch *d = &cmd->u.d;
        if (cb->profile_dispatch) {
            mlxc_status s = ensure_pev(c, d->index);
            if (s) return s;
            CUevent *ev = &c->pev[2 * d->index];
            if (!ev[0]) ev[0] = cu_event_get(cu);
            if (!ev[1]) ev[1] = cu_event_get(cu);
            if (!ev[0] || !ev[1]) return mlxc_set_error(MLXC_ERR_INTERNAL, "cuEventCreate failed");
            CUresult r = api->EventRecord(ev[0], cu->stream);
            if (r == CUDA_SUCCESS) r = cu_launch_one(cu, d);
            if (r == CUDA_SUCCESS) r = api->EventRecord(ev[1], cu->stream);
            return r == CUDA_SUCCESS ? MLXC_OK : cu_fail(dev, r, "cuLaunchKernel");
        }
        CUresult r = c->immediate ? imm_dispatch(cu, c, d) : cu_launch_one(cu, d);
        return r == CUDA_SUCCESS ? MLXC_OK : cu_fail(dev, r, "cuLaunchKernel");
    }
    case MLXC_CMD_BARRIER: {
        CUresult r = c->immediate ? cu_imm_join(cu, c) : CUDA_SUCCESS;
        return r == CUDA_SUCCESS ? MLXC_OK : cu_fail(dev, r, "barrier (cuStreamWaitEvent)");
    }
    case MLXC_CMD_WAIT:
    case MLXC_CMD_SIGNAL:
    case MLXC_CMD_EXEC: {
        /* Stream-level commands order against everything in the buffer. */
        CUresult r = c->immediate ? cu_imm_join(cu, c) : CUDA_SUCCESS;
        if (r != CUDA_SUCCESS) return cu_fail(dev, r, "cuStreamWaitEvent");
        return cmd->type == MLXC_CMD_EXEC ? run_exec(dev, cu, cmd->u.exec.exec) : run_sync(dev, cu, cmd);
    }
    }
    return mlxc_set_error(MLXC_ERR_INTERNAL, "unknown command type %d", (int)cmd->type);
}
