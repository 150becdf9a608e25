/*
 * mlxc/graph.h — captured dispatch graphs: replay, optimisation, instantiation.
 *
 * A graph is the list of dispatch and barrier nodes an encoder recorded in
 * capture mode, with the op kind and read/write ranges of each dispatch.  It
 * holds references to every buffer and kernel it names.
 *
 *   encode_sequential      replays the nodes, barriers as recorded
 *   encode_with_barriers   replays, recomputing barriers from the ranges
 *                          (explicit barrier nodes still force one)
 *   fuse                   rms_norm followed by a multiply of its output
 *                          becomes one rms_norm_mul dispatch, when no later
 *                          node reads the norm's output: the fused graph
 *                          does not write that intermediate at all
 *   reorder                greedy 64-node lookahead that pulls independent
 *                          dispatches together (drops barrier nodes: replay
 *                          it with encode_with_barriers)
 *   instantiate / launch   a reusable executable: on CUDA a CUDA graph that
 *                          replays with one launch
 *
 * Replayed dispatches do not move the dispatch counter.
 */
#ifndef MLXC_GRAPH_H
#define MLXC_GRAPH_H

#include "mlxc/encoder.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlxc_graph_exec mlxc_graph_exec;

typedef struct mlxc_graph_node_info {
    bool         is_barrier;
    const char  *kernel;        /* NULL for barriers */
    mlxc_op_kind op_kind;
    uint32_t     nargs;
    uint32_t     nreads, nwrites;
} mlxc_graph_node_info;

MLXC_API void        mlxc_graph_destroy(mlxc_graph *g);
MLXC_API size_t      mlxc_graph_node_count(const mlxc_graph *g);
MLXC_API size_t      mlxc_graph_dispatch_count(const mlxc_graph *g);
MLXC_API size_t      mlxc_graph_barrier_count(const mlxc_graph *g);
/* Dispatch nodes that carry no read/write ranges. */
MLXC_API size_t      mlxc_graph_unannotated_count(const mlxc_graph *g);
MLXC_API mlxc_status mlxc_graph_node(const mlxc_graph *g, size_t i, mlxc_graph_node_info *out);

MLXC_API mlxc_status mlxc_graph_encode_sequential(const mlxc_graph *g, mlxc_encoder *enc,
                                                  size_t *barriers_out);
MLXC_API mlxc_status mlxc_graph_encode_with_barriers(const mlxc_graph *g, mlxc_encoder *enc,
                                                     size_t *barriers_out);
/* Fuse in place; `fused_out` (may be NULL) gets the number of fusions. */
MLXC_API mlxc_status mlxc_graph_fuse(mlxc_graph *g, mlxc_device *dev, size_t *fused_out);
/* Reorder in place; `moved_out` gets the number of nodes moved.  Returns
 * MLXC_ERR_STATE, leaving the graph unchanged, when a dispatch lacks ranges. */
MLXC_API mlxc_status mlxc_graph_reorder(mlxc_graph *g, size_t *moved_out);

MLXC_API mlxc_status mlxc_graph_instantiate(const mlxc_graph *g, mlxc_device *dev,
                                            mlxc_graph_exec **out);
/* Append one replay of the executable to the encoder's command buffer. */
MLXC_API mlxc_status mlxc_graph_exec_launch(mlxc_graph_exec *exec, mlxc_encoder *enc);
MLXC_API void        mlxc_graph_exec_destroy(mlxc_graph_exec *exec);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_GRAPH_H */
