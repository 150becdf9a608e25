/*
 * Graph rewrite rules: the interface between mlxc_graph_fuse (core) and the
 * fusions the op layer knows.  Core knows no op: it walks the graph, shows
 * each rule a window of consecutive dispatch nodes (kernel names, op kinds,
 * arguments, ranges; barrier nodes between them skipped) and, when a rule
 * returns a replacement dispatch, splices it in place of the whole window,
 * placing the barriers and copying the arguments and ranges itself.  A rule
 * decides only whether the window fuses and what the fused dispatch is.
 */
#ifndef MLXC_CORE_GRAPH_RULES_H
#define MLXC_CORE_GRAPH_RULES_H

#include "core/internal.h"
#include "mlxc/encoder.h"
#include "mlxc/kernel.h"

/* The most dispatch nodes one rule may look at. */
#define MLXC_GRAPH_RULE_MAX_SPAN 4

/* One dispatch node of the window, as the graph holds it (read only). */
typedef struct mlxc_graph_rule_node {
    const char              *kernel;   /* the kernel's name                     */
    mlxc_op_kind             kind;
    mlxc_dispatch            d;        /* kernel, args, grid, block, shared
                                          bytes, grid mode (no reads/writes)    */
    const mlxc_buffer_range *ranges;   /* reads (SRC) then writes (DST)         */
    uint32_t                 nranges;
} mlxc_graph_rule_node;

typedef struct mlxc_graph_rule_window {
    mlxc_device                *dev;
    const mlxc_graph           *g;
    const mlxc_graph_rule_node *nodes; /* `n` dispatch nodes, in graph order  */
    uint32_t                    n;
    size_t                      end;   /* graph index just after the window   */
} mlxc_graph_rule_window;

/* The dispatch that replaces a window.  `d.args` may point at `args` (or at
 * the window's arguments) and `d.reads`/`d.writes` are ignored: the node's
 * ranges are `ranges`.  Core deep-copies all of it before the window's
 * nodes are freed. */
typedef struct mlxc_graph_rule_out {
    mlxc_dispatch     d;
    mlxc_op_kind      kind;
    mlxc_arg          args[MLXC_MAX_KERNEL_ARGS];
    mlxc_buffer_range ranges[MLXC_MAX_TRACKED];
    uint32_t          nranges;
} mlxc_graph_rule_out;

typedef struct mlxc_graph_rule {
    const char *name;
    uint32_t    span;   /* dispatch nodes in the window, 1..MLXC_GRAPH_RULE_MAX_SPAN */
    /* Set *matched and fill `out` when the window fuses.  An error aborts
     * the pass; a missing kernel is no error, just no match. */
    mlxc_status (*apply)(const mlxc_graph_rule_window *w, mlxc_graph_rule_out *out, bool *matched);
} mlxc_graph_rule;

/* Do two buffer arguments name the same bytes (same allocation, same
 * offset as the kernel sees it)?  Never for BYTES arguments. */
bool mlxc_graph_arg_same_view(const mlxc_arg *a, const mlxc_arg *b);

/* Does any node after the window read bytes of `r` before something
 * overwrites all of it?  A node without ranges counts as reading it. */
bool mlxc_graph_range_read_after(const mlxc_graph_rule_window *w, const mlxc_buffer_range *r);

/* The fusion pass: at each dispatch node, try `rules` in order on the window
 * that starts there; the first that matches replaces it.  Core owns no rule:
 * the public mlxc_graph_fuse is defined by the op layer (src/ops/fusion.c),
 * which passes its own table, so the dependency points from ops to core. */
mlxc_status mlxc_graph_fuse_rules(mlxc_graph *g, mlxc_device *dev, const mlxc_graph_rule *const *rules,
                                  size_t nrules, size_t *fused_out);

#endif /* MLXC_CORE_GRAPH_RULES_H */
