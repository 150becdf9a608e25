/* Instantiated mlxc_graphs: the plan becomes one CUDA graph executable,
 * unless it holds a library call or a stream-level command (then the plan
 * is replayed launch by launch, cuda_immediate.c). */
#include <stdlib.h>

#include "backend/cuda/cuda_cmdbuf.h"

mlxc_status cu_exec_create(mlxc_graph_exec_t *exec) {
    mlxc_device *dev = exec->dev;
    cu_dev *cu = cu_of(dev);
    const mlxc_cmdbuf *plan = exec->plan;
    exec->impl = NULL;
    if (!plan || plan->ncmds == 0) return MLXC_OK;
    for (size_t i = 0; i < plan->ncmds; i++) {
        mlxc_cmd_type ty = plan->cmds[i].type;
        /* replayed from the plan, one launch at a time */
        if ((ty != MLXC_CMD_DISPATCH && ty != MLXC_CMD_BARRIER) || cu_is_lib(&plan->cmds[i])) return MLXC_OK;
        if (ty == MLXC_CMD_DISPATCH) {
            mlxc_status s = cu_check_dispatch(dev, cu, &plan->cmds[i].u.d);
            if (s) return s;
        }
    }
    mlxc_status s = cu_bind(cu);
    if (s) return s;
    pthread_mutex_lock(&cu->mu);
    cu_topo t;
    s = cu_topo_build(cu, plan->cmds, plan->ncmds, &t);
    if (s) {
        pthread_mutex_unlock(&cu->mu);
        return s;
    }
    cu_exec *x = calloc(1, sizeof *x);
    CUgraphNode *nodes = calloc(t.k ? t.k : 1, sizeof *nodes);
    CUresult r = (x && nodes) ? cu_graph_build(&t, &x->graph, nodes) : CUDA_ERROR_OUT_OF_MEMORY;
    if (r == CUDA_SUCCESS) r = mlxc_cu()->GraphInstantiate(&x->exec, x->graph, 0);
    cu_topo_free(&t);
    free(nodes);
    if (r != CUDA_SUCCESS) {
        if (x && x->graph) mlxc_cu()->GraphDestroy(x->graph);
        free(x);
        pthread_mutex_unlock(&cu->mu);
        return cu_fail(dev, r, "instantiating a CUDA graph");
    }
    CU_STAT(graph_builds, 1);
    pthread_mutex_unlock(&cu->mu);
    exec->impl = x;
    return MLXC_OK;
}

void cu_exec_destroy(mlxc_graph_exec_t *exec) {
    cu_exec *x = exec->impl;
    if (!x) return;
    cu_dev *cu = cu_of(exec->dev);
    if (cu && cu_bind(cu) == MLXC_OK) {
        if (x->exec) (void)mlxc_cu()->GraphExecDestroy(x->exec);
        if (x->graph) (void)mlxc_cu()->GraphDestroy(x->graph);
    }
    free(x);
    exec->impl = NULL;
}
