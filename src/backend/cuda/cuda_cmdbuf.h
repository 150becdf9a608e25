/*
 * CUDA command buffers, commit-time graphs and graph executables: the
 * declarations the files of this one mechanism share (nothing outside
 * src/backend/cuda/cuda_*.c includes this).
 *
 * Immediate mode launches each command as it is recorded.  The first
 * dispatch after a barrier goes to the device's stream; further ones of the
 * same barrier group go round-robin to three side streams that first wait
 * for the group's start (an event recorded on the main stream before its
 * first dispatch), so they can run concurrently; a barrier (or any
 * stream-level command, or the commit) joins the side streams back into the
 * main one with events.
 *
 * Graph mode records nothing but validation while encoding.  At commit the
 * command list is cut into segments at stream-level commands (timeline
 * waits and signals, executable launches) and at library calls (cuBLASLt
 * GEMMs: launched on the stream between graph launches, ordered after
 * everything before them); each segment of two or more dispatches becomes
 * one CUDA graph launch.  Edges come from:
 *   - the tracked read/write ranges, when every dispatch of the segment has
 *     them: a dispatch depends on the earlier dispatches whose ranges
 *     conflict with its own (RAW, WAR, WAW on overlapping bytes of one
 *     allocation), found through a per-allocation list of live accesses
 *     (a write that covers an earlier access retires it, since everything
 *     later that conflicts with it also conflicts with the write);
 *   - otherwise the barriers: every dispatch after a barrier depends on
 *     every dispatch between it and the previous barrier, through one empty
 *     join node when both sides have several.
 * Executables are cached by topology (kernels, launch shapes, edges); a
 * commit with a known topology only patches the kernel nodes whose
 * arguments changed (cuGraphExecKernelNodeSetParams) and launches.
 *
 * Every command buffer records a start and an end event on the stream: the
 * end event is its completion (poll, wait, errors) and both give its device
 * time.  With per-dispatch profiling the dispatches run one at a time
 * between event pairs instead of as a graph.
 *
 * The files:
 *   cuda_cmdbuf.c        the backend's command-buffer hooks (begin, record,
 *                        submit, poll, wait, release)
 *   cuda_launch.c        checking and launching one dispatch
 *   cuda_immediate.c     commands one at a time on the stream: immediate
 *                        mode, per-dispatch profiling, stream-level commands
 *   cuda_graph_build.c   a segment's topology (edges from ranges or
 *                        barriers) and the CUDA graph built from it
 *   cuda_exec_cache.c    executables cached by topology; running a segment
 *   cuda_instantiate.c   instantiated mlxc_graphs as CUDA graph executables
 */
#ifndef MLXC_BACKEND_CUDA_CMDBUF_H
#define MLXC_BACKEND_CUDA_CMDBUF_H

#include "backend/cuda/cuda_backend.h"

/* The device address of a timeline's value (cuda_backend.c). */
CUdeviceptr cu_timeline_addr(const mlxc_timeline *tl);

#define CU_NSIDE 3

/* Backend state of one command buffer (mlxc_cmdbuf.impl). */
typedef struct cu_cb {
    bool     immediate;
    bool     started;
    bool     submitted;
    CUevent  start, end;
    /* immediate mode: the current barrier group */
    uint32_t gn;               /* dispatches in it so far               */
    bool     fork_stale;       /* `fork` does not mark its start yet    */
    uint32_t side_used;        /* side streams joined at the next barrier */
    CUevent  fork, join[CU_NSIDE];
    CUevent *pev;           /* [2 * ndispatch] when profiling dispatches */
    uint32_t cap_pev;
} cu_cb;

/* The native executable of an instantiated mlxc_graph (mlxc_graph_exec.impl). */
typedef struct cu_exec { CUgraph graph; CUgraphExec exec; } cu_exec;

/* ---- launching one dispatch (cuda_launch.c) ------------------------------------------ */

/* Pointers to each argument's value, as cuLaunchKernel and kernel nodes take them. */
void        cu_param_ptrs(const mlxc_cmd_dispatch *d, void **pp);
/* Validate a dispatch against the resolved kernel before it is recorded. */
mlxc_status cu_check_dispatch(mlxc_device *dev, cu_dev *cu, const mlxc_cmd_dispatch *d);
CUresult    cu_launch_on(CUstream st, const mlxc_cmd_dispatch *d);
CUresult    cu_launch_one(cu_dev *cu, const mlxc_cmd_dispatch *d);
/* A library routine (cuBLASLt) rather than a kernel: never a graph node. */
bool        cu_is_lib(const mlxc_cmd *c);

/* ---- topology of a segment (cuda_graph_build.c) -------------------------------------- */

typedef struct cu_topo {
    uint32_t                  k;
    const mlxc_cmd_dispatch **d;       /* [k]                               */
    int                       ranges;  /* edges from ranges (else barriers) */
    int                       pdl;     /* programmatic edges into kernels
                                          that wait for them (cu_func.pdl) */
    uint8_t                  *plain;   /* [k] 1: plain edges into dispatch j,
                                          whose early reads an earlier one writes */
    uint32_t                 *group;   /* [k] barrier group                 */
    uint32_t                 *dep_off; /* [k + 1] (range mode)              */
    uint32_t                 *deps;
    size_t                    ndeps, cap_deps;
} cu_topo;

mlxc_status cu_topo_build(cu_dev *cu, const mlxc_cmd *cmds, size_t n, cu_topo *t);
void        cu_topo_free(cu_topo *t);
void        cu_node_params(const mlxc_cmd_dispatch *d, void **pp, CUDA_KERNEL_NODE_PARAMS_v2 *p);
/* Build a CUDA graph for the topology; nodes[j] is dispatch j's node. */
CUresult    cu_graph_build(const cu_topo *t, CUgraph *gout, CUgraphNode *nodes);

/* ---- the executable cache (cuda_exec_cache.c) ---------------------------------------- */

/* Run dispatches/barriers cmds[0..n) as one unit on the stream (under mu). */
mlxc_status cu_run_segment(mlxc_device *dev, cu_dev *cu, const mlxc_cmd *cmds, size_t n);

/* ---- one command at a time (cuda_immediate.c) ---------------------------------------- */

/* One command on the stream, in order (immediate mode and profiling). */
mlxc_status cu_run_cmd(mlxc_cmdbuf *cb, cu_dev *cu, cu_cb *c, const mlxc_cmd *cmd);
/* Immediate mode: join the side streams into the main one (a barrier). */
CUresult    cu_imm_join(cu_dev *cu, cu_cb *c);

#endif /* MLXC_BACKEND_CUDA_CMDBUF_H */
