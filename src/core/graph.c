/* Captured graphs: replay, the fusion pass (rules from graph_rules.h), the lookahead
 * reorder pass, and instantiation into reusable executables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "core/graph_rules.h"

typedef struct gnode {
    bool               barrier;
    bool               automatic;   /* barrier placed from ranges, not by the caller */
    const mlxc_kernel *kernel;
    mlxc_arg          *args;        /* buffers retained, bytes owned */
    uint32_t           nargs;
    mlxc_dim3          grid, block;
    uint32_t           shared_bytes;
    mlxc_grid_mode     grid_mode;
    mlxc_op_kind       kind;
    mlxc_buffer_range *ranges;      /* reads (SRC) then writes (DST) */
    uint32_t           nranges;
} gnode;

struct mlxc_graph {
    gnode  *nodes;
    size_t  n, cap;
};

mlxc_status mlxc_graph_new(mlxc_graph **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    return MLXC_OK;
}

static void node_free(gnode *nd) {
    for (uint32_t i = 0; i < nd->nargs; i++) {
        if (nd->args[i].kind == MLXC_ARG_BYTES) free((void *)nd->args[i].bytes);
        else mlxc_buffer_release((mlxc_buffer *)nd->args[i].buffer);
    }
    free(nd->args);
    free(nd->ranges);
    memset(nd, 0, sizeof *nd);
}

void mlxc_graph_destroy(mlxc_graph *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n; i++) node_free(&g->nodes[i]);
    free(g->nodes);
    free(g);
}

static gnode *push(mlxc_graph *g) {
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 128;
        gnode *v = realloc(g->nodes, nc * sizeof *v);
        if (!v) return NULL;
        g->nodes = v;
        g->cap = nc;
    }
    gnode *nd = &g->nodes[g->n++];
    memset(nd, 0, sizeof *nd);
    return nd;
}

mlxc_status mlxc_graph_append_barrier(mlxc_graph *g, bool automatic) {
    gnode *nd = push(g);
    if (!nd) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    nd->barrier = true;
    nd->automatic = automatic;
    return MLXC_OK;
}

/* Deep-copy a dispatch into a node (retaining buffers, copying bytes). */
static mlxc_status node_fill(gnode *nd, const mlxc_dispatch *d, mlxc_op_kind kind, const mlxc_buffer_range *r,
                             uint32_t nr) {
    MLXC_CHECK_ARG(d->kernel, "dispatch: NULL kernel");
    MLXC_CHECK_ARG(d->nargs <= MLXC_MAX_KERNEL_ARGS && (d->nargs == 0 || d->args), "dispatch: bad argument list");
    const mlxc_kernel *k = d->kernel;
    if (k->has_sig && k->sig.nparams != d->nargs)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "kernel %s takes %u arguments, dispatch passes %u", k->name,
                              k->sig.nparams, d->nargs);
    nd->kernel = k;
    nd->grid = d->grid;
    nd->block = d->block;
    nd->shared_bytes = d->shared_bytes;
    nd->grid_mode = d->grid_mode;
    nd->kind = kind;
    nd->args = calloc(d->nargs ? d->nargs : 1, sizeof *nd->args);
    if (!nd->args) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < d->nargs; i++) {
        const mlxc_arg *a = &d->args[i];
        if (a->kind == MLXC_ARG_BYTES) {
            if (!a->bytes || a->size == 0 || a->size > 4096)
                return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "dispatch of %s: argument %u has %u bytes", k->name, i, a->size);
            void *copy = malloc(a->size);
            if (!copy) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
            memcpy(copy, a->bytes, a->size);
            nd->args[i] = mlxc_arg_bytes(copy, a->size);
        } else if (a->kind == MLXC_ARG_BUFFER || a->kind == MLXC_ARG_BUFFER_OFFSET) {
            if (!a->buffer) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "dispatch of %s: argument %u is a NULL buffer", k->name, i);
            nd->args[i] = *a;
            mlxc_buffer_retain((mlxc_buffer *)a->buffer);
        } else {
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "dispatch of %s: argument %u has invalid kind", k->name, i);
        }
        nd->nargs = i + 1;
    }
    if (nr) {
        nd->ranges = malloc(nr * sizeof *r);
        if (!nd->ranges) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
        memcpy(nd->ranges, r, nr * sizeof *r);
        nd->nranges = nr;
    }
    return MLXC_OK;
}

mlxc_status mlxc_graph_append_dispatch(mlxc_graph *g, const mlxc_dispatch *d, mlxc_op_kind kind,
                                       const mlxc_buffer_range *r, uint32_t nr) {
    gnode *nd = push(g);
    if (!nd) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    mlxc_status s = node_fill(nd, d, kind, r, nr);
    if (s) {
        node_free(nd);
        g->n--;
    }
    return s;
}

size_t mlxc_graph_node_count(const mlxc_graph *g) { return g ? g->n : 0; }

size_t mlxc_graph_dispatch_count(const mlxc_graph *g) {
    size_t c = 0;
    for (size_t i = 0; g && i < g->n; i++) c += !g->nodes[i].barrier;
    return c;
}

size_t mlxc_graph_barrier_count(const mlxc_graph *g) {
    size_t c = 0;
    for (size_t i = 0; g && i < g->n; i++) c += g->nodes[i].barrier;
    return c;
}

size_t mlxc_graph_unannotated_count(const mlxc_graph *g) {
    size_t c = 0;
    for (size_t i = 0; g && i < g->n; i++) c += !g->nodes[i].barrier && g->nodes[i].nranges == 0;
    return c;
}

mlxc_status mlxc_graph_node(const mlxc_graph *g, size_t i, mlxc_graph_node_info *out) {
    MLXC_CHECK_ARG(g && out, "mlxc_graph_node: NULL argument");
    if (i >= g->n) return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "node %zu of %zu", i, g->n);
    const gnode *nd = &g->nodes[i];
    memset(out, 0, sizeof *out);
    out->is_barrier = nd->barrier;
    if (nd->barrier) return MLXC_OK;
    out->kernel = nd->kernel->name;
    out->op_kind = nd->kind;
    out->nargs = nd->nargs;
    for (uint32_t r = 0; r < nd->nranges; r++) {
        if (nd->ranges[r].role == MLXC_RANGE_SRC) out->nreads++;
        else out->nwrites++;
    }
    return MLXC_OK;
}

static mlxc_dispatch node_dispatch(const gnode *nd) {
    mlxc_dispatch d = {0};
    d.kernel = nd->kernel;
    d.args = nd->args;
    d.nargs = nd->nargs;
    d.grid = nd->grid;
    d.block = nd->block;
    d.shared_bytes = nd->shared_bytes;
    d.grid_mode = nd->grid_mode;
    return d;
}

/* ---- replay --------------------------------------------------------------------- */

mlxc_status mlxc_graph_encode_sequential(const mlxc_graph *g, mlxc_encoder *enc, size_t *barriers_out) {
    MLXC_CHECK_ARG(g && enc, "mlxc_graph_encode_sequential: NULL argument");
    size_t nb = 0;
    for (size_t i = 0; i < g->n; i++) {
        const gnode *nd = &g->nodes[i];
        mlxc_status s;
        if (nd->barrier) {
            if ((s = mlxc_encoder_barrier_internal(enc, nd->automatic))) return s;
            nb++;
            continue;
        }
        mlxc_dispatch d = node_dispatch(nd);
        if ((s = mlxc_encoder_record(enc, &d, nd->kind, nd->ranges, nd->nranges))) return s;
    }
    if (barriers_out) *barriers_out = nb;
    return MLXC_OK;
}

mlxc_status mlxc_graph_encode_with_barriers(const mlxc_graph *g, mlxc_encoder *enc, size_t *barriers_out) {
    MLXC_CHECK_ARG(g && enc, "mlxc_graph_encode_with_barriers: NULL argument");
    mlxc_mem_ranges *mr;
    mlxc_status s = mlxc_mem_ranges_create(&mr);
    if (s) return s;
    size_t nb = 0;
    for (size_t i = 0; i < g->n && !s; i++) {
        const gnode *nd = &g->nodes[i];
        if (nd->barrier) {
            s = mlxc_encoder_barrier_internal(enc, nd->automatic);
            mlxc_mem_ranges_reset(mr);
            nb++;
            continue;
        }
        if (nd->nranges) {
            bool concurrent;
            mlxc_mem_ranges_check_ranges(mr, nd->ranges, nd->nranges, &concurrent);
            if (!concurrent) {
                if ((s = mlxc_encoder_barrier_internal(enc, true))) break;
                mlxc_mem_ranges_reset(mr);
                nb++;
            }
            if ((s = mlxc_mem_ranges_add_ranges(mr, nd->ranges, nd->nranges))) break;
        }
        mlxc_dispatch d = node_dispatch(nd);
        s = mlxc_encoder_record(enc, &d, nd->kind, nd->ranges, nd->nranges);
    }
    mlxc_mem_ranges_destroy(mr);
    if (!s && barriers_out) *barriers_out = nb;
    return s;
}

/* ---- fusion: windows of dispatches that a rule replaces by one ------------------------ */

bool mlxc_graph_arg_same_view(const mlxc_arg *a, const mlxc_arg *b) {
    if (a->kind == MLXC_ARG_BYTES || b->kind == MLXC_ARG_BYTES) return false;
    uint64_t oa = a->kind == MLXC_ARG_BUFFER ? a->buffer->offset : a->offset;
    uint64_t ob = b->kind == MLXC_ARG_BUFFER ? b->buffer->offset : b->offset;
    return a->buffer->st == b->buffer->st && oa == ob;
}

bool mlxc_graph_range_read_after(const mlxc_graph_rule_window *win, const mlxc_buffer_range *w) {
    const mlxc_graph *g = win->g;
    for (size_t i = win->end; i < g->n; i++) {
        const gnode *nd = &g->nodes[i];
        if (nd->barrier) continue;
        if (nd->nranges == 0) return true; /* unknown: assume it does */
        bool overwritten = false;
        for (uint32_t r = 0; r < nd->nranges; r++) {
            const mlxc_buffer_range *x = &nd->ranges[r];
            if (x->alloc_id != w->alloc_id || !(x->p0 < w->p1 && w->p0 < x->p1)) continue;
            if (x->role == MLXC_RANGE_SRC) return true;
            if (x->p0 <= w->p0 && x->p1 >= w->p1) overwritten = true;
        }
        if (overwritten) return false;
    }
    return false;
}

/* The window of `span` dispatch nodes that starts at node i: the nodes may
 * follow each other directly (a captured tracked graph has no barrier
 * nodes) or with barriers between them.  False when the graph ends first. */
static bool window_at(const mlxc_graph *g, size_t i, uint32_t span, size_t idx[MLXC_GRAPH_RULE_MAX_SPAN]) {
    idx[0] = i;
    size_t k = i;
    for (uint32_t s = 1; s < span; s++) {
        k++;
        while (k < g->n && g->nodes[k].barrier) k++;
        if (k >= g->n) return false;
        idx[s] = k;
    }
    return true;
}

/* Replace nodes [i, j] by the fused node, with the barriers it needs; the
 * graph index of the fused node goes to *at_out. */
static mlxc_status splice(mlxc_graph *g, size_t i, size_t j, gnode *fusedn, size_t *at_out) {
    /* Replace [first, barriers, ..., last] by [barrier, fused, barrier]: the
     * fused node does the reads of every node it replaces, so it must be
     * ordered after everything the first ran beside and before everything
     * the last ran beside.  Barriers at the ends or next to another
     * barrier are not needed. */
    bool lead = i > 0 && !g->nodes[i - 1].barrier;
    bool trail = j + 1 < g->n && !g->nodes[j + 1].barrier;
    for (size_t k = i; k <= j; k++) node_free(&g->nodes[k]);
    size_t want = (size_t)lead + 1 + (size_t)trail, have = j - i + 1;
    if (want > have) {
        if (g->n + (want - have) > g->cap) {
            gnode *v = realloc(g->nodes, (g->cap + want) * sizeof *v);
            if (!v) { node_free(fusedn); return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory"); }
            g->nodes = v;
            g->cap += want;
        }
    }
    memmove(&g->nodes[i + want], &g->nodes[j + 1], (g->n - j - 1) * sizeof *g->nodes);
    g->n = g->n - have + want;
    size_t at = i;
    /* The fused node's ranges describe all it touches, so these barriers
     * are as replaceable by range edges as the ones ranges produce. */
    bool from_ranges = fusedn->nranges > 0;
    if (lead) {
        memset(&g->nodes[at], 0, sizeof *g->nodes);
        g->nodes[at].barrier = true;
        g->nodes[at++].automatic = from_ranges;
    }
    *at_out = at;
    g->nodes[at++] = *fusedn;
    if (trail) {
        memset(&g->nodes[at], 0, sizeof *g->nodes);
        g->nodes[at].barrier = true;
        g->nodes[at].automatic = from_ranges;
    }
    return MLXC_OK;
}

mlxc_status mlxc_graph_fuse_rules(mlxc_graph *g, mlxc_device *dev, const mlxc_graph_rule *const *rules,
                                  size_t nrules, size_t *fused_out) {
    MLXC_CHECK_ARG(g && dev && (rules || !nrules), "mlxc_graph_fuse: NULL argument");
    size_t fused = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (g->nodes[i].barrier) continue;
        for (size_t ri = 0; ri < nrules; ri++) {
            const mlxc_graph_rule *rule = rules[ri];
            size_t idx[MLXC_GRAPH_RULE_MAX_SPAN];
            if (rule->span < 1 || rule->span > MLXC_GRAPH_RULE_MAX_SPAN || !window_at(g, i, rule->span, idx))
                continue;
            mlxc_graph_rule_node wn[MLXC_GRAPH_RULE_MAX_SPAN];
            for (uint32_t s = 0; s < rule->span; s++) {
                const gnode *nd = &g->nodes[idx[s]];
                wn[s] = (mlxc_graph_rule_node){nd->kernel->name, nd->kind, node_dispatch(nd), nd->ranges, nd->nranges};
            }
            size_t j = idx[rule->span - 1];
            mlxc_graph_rule_window win = {dev, g, wn, rule->span, j + 1};
            mlxc_graph_rule_out ro;
            memset(&ro, 0, sizeof ro);
            bool matched = false;
            mlxc_status s = rule->apply(&win, &ro, &matched);
            if (s) return s;
            if (!matched) continue;
            gnode fusedn;
            memset(&fusedn, 0, sizeof fusedn);
            s = node_fill(&fusedn, &ro.d, ro.kind, ro.ranges, ro.nranges);
            if (s) { node_free(&fusedn); return s; }
            size_t at = i;
            if ((s = splice(g, i, j, &fusedn, &at))) return s;
            /* Go on after the fused node: it is not itself a window start. */
            i = at;
            fused++;
            break;
        }
    }
    if (fused_out) *fused_out = fused;
    return MLXC_OK;
}

/* ---- reorder: greedy lookahead --------------------------------------------------------- */

#define REORDER_LOOKAHEAD 64

mlxc_status mlxc_graph_reorder(mlxc_graph *g, size_t *moved_out) {
    MLXC_CHECK_ARG(g, "mlxc_graph_reorder: NULL graph");
    if (mlxc_graph_unannotated_count(g))
        return mlxc_set_error(MLXC_ERR_STATE, "mlxc_graph_reorder: %zu dispatches carry no read/write ranges",
                              mlxc_graph_unannotated_count(g));
    /* Work on the dispatch nodes alone; barriers are recomputed after. */
    size_t nd = 0;
    gnode *disp = malloc((g->n ? g->n : 1) * sizeof *disp);
    size_t *order = malloc((g->n ? g->n : 1) * sizeof *order);
    bool *used = calloc(g->n ? g->n : 1, 1);
    mlxc_mem_ranges *cur = NULL, *skipped = NULL;
    mlxc_status s = MLXC_OK;
    if (!disp || !order || !used || mlxc_mem_ranges_create(&cur) || mlxc_mem_ranges_create(&skipped)) {
        s = mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    for (size_t i = 0; i < g->n; i++) {
        if (g->nodes[i].barrier) node_free(&g->nodes[i]);
        else disp[nd++] = g->nodes[i];
    }
    size_t no = 0, moved = 0;
    for (size_t i0 = 0; i0 < nd; i0++) {
        if (used[i0]) continue;
        order[no++] = i0;
        used[i0] = true;
        if (!mlxc_op_kind_is_reorderable(disp[i0].kind)) continue;
        mlxc_mem_ranges_reset(cur);
        mlxc_mem_ranges_reset(skipped);
        if ((s = mlxc_mem_ranges_add_ranges(cur, disp[i0].ranges, disp[i0].nranges))) goto done;
        for (size_t i1 = i0 + 1; i1 < nd && i1 <= i0 + REORDER_LOOKAHEAD; i1++) {
            if (used[i1]) continue;
            const gnode *c = &disp[i1];
            if (!mlxc_op_kind_is_reorderable(c->kind)) break;
            bool with_cur, with_skipped;
            mlxc_mem_ranges_check_ranges(cur, c->ranges, c->nranges, &with_cur);
            mlxc_mem_ranges_check_ranges(skipped, c->ranges, c->nranges, &with_skipped);
            if (with_cur && with_skipped) {
                /* Independent of the group and of everything it jumps over. */
                order[no++] = i1;
                used[i1] = true;
                if (i1 != i0 + 1) moved++;
                if ((s = mlxc_mem_ranges_add_ranges(cur, c->ranges, c->nranges))) goto done;
            } else {
                if ((s = mlxc_mem_ranges_add_ranges(skipped, c->ranges, c->nranges))) goto done;
            }
        }
    }
    /* Rebuild: nodes in the new order with barriers where ranges conflict
     * (at most one barrier between two dispatches). */
    if (2 * nd > g->cap) {
        gnode *v = realloc(g->nodes, 2 * nd * sizeof *v);
        if (!v) { s = mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory"); g->n = 0; goto done; }
        g->nodes = v;
        g->cap = 2 * nd;
    }
    g->n = 0;
    mlxc_mem_ranges_reset(cur);
    for (size_t k = 0; k < no; k++) {
        gnode *n = &disp[order[k]];
        bool concurrent;
        mlxc_mem_ranges_check_ranges(cur, n->ranges, n->nranges, &concurrent);
        if (!concurrent) {
            memset(&g->nodes[g->n], 0, sizeof *g->nodes);
            g->nodes[g->n].barrier = true;
            g->nodes[g->n].automatic = true; /* placed from ranges */
            g->n++;
            mlxc_mem_ranges_reset(cur);
        }
        if ((s = mlxc_mem_ranges_add_ranges(cur, n->ranges, n->nranges))) goto done;
        g->nodes[g->n++] = *n;
    }
    if (moved_out) *moved_out = moved;
done:
    mlxc_mem_ranges_destroy(cur);
    mlxc_mem_ranges_destroy(skipped);
    free(disp);
    free(order);
    free(used);
    return s;
}

/* ---- instantiation ------------------------------------------------------------------------ */

/* The plan is never submitted: append without the backend's record hook. */
static mlxc_status plan_push(mlxc_cmdbuf *p, mlxc_cmd *cmd) {
    if (p->ncmds == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 64;
        mlxc_cmd *v = realloc(p->cmds, nc * sizeof *v);
        if (!v) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
        p->cmds = v;
        p->cap = nc;
    }
    if (cmd->type == MLXC_CMD_DISPATCH) cmd->u.d.index = p->ndispatch++;
    p->cmds[p->ncmds++] = *cmd;
    return MLXC_OK;
}

mlxc_status mlxc_graph_instantiate(const mlxc_graph *g, mlxc_device *dev, mlxc_graph_exec **out) {
    MLXC_CHECK_ARG(g && dev && out, "mlxc_graph_instantiate: NULL argument");
    *out = NULL;
    mlxc_graph_exec_t *ex = calloc(1, sizeof *ex);
    if (!ex) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    atomic_store(&ex->refs, 1);
    ex->dev = dev;
    mlxc_status s = mlxc_cmdbuf_create(dev, &ex->plan);
    /* Barriers as encode_with_barriers places them: explicit barrier nodes,
     * plus one wherever a dispatch's ranges conflict with its group. */
    mlxc_mem_ranges *mr = NULL;
    if (!s) s = mlxc_mem_ranges_create(&mr);
    for (size_t i = 0; i < g->n && !s; i++) {
        const gnode *nd = &g->nodes[i];
        mlxc_cmd cmd;
        bool need_barrier = nd->barrier;
        if (!nd->barrier && nd->nranges) {
            bool concurrent;
            mlxc_mem_ranges_check_ranges(mr, nd->ranges, nd->nranges, &concurrent);
            need_barrier = !concurrent;
        }
        if (need_barrier) {
            mlxc_mem_ranges_reset(mr);
            bool redundant = ex->plan->ncmds == 0 || ex->plan->cmds[ex->plan->ncmds - 1].type == MLXC_CMD_BARRIER;
            if (!redundant) {
                memset(&cmd, 0, sizeof cmd);
                cmd.type = MLXC_CMD_BARRIER;
                cmd.u.barrier.automatic = !nd->barrier || nd->automatic;
                if ((s = plan_push(ex->plan, &cmd))) break;
            }
        }
        if (nd->barrier) continue;
        if (nd->nranges && (s = mlxc_mem_ranges_add_ranges(mr, nd->ranges, nd->nranges))) break;
        {
            mlxc_dispatch d = node_dispatch(nd);
            mlxc_range_set rs = {nd->ranges, nd->nranges};
            if ((s = mlxc_resolve_dispatch(ex->plan, &d, nd->kind, &rs, &cmd))) break;
        }
        s = plan_push(ex->plan, &cmd);
    }
    mlxc_mem_ranges_destroy(mr);
    if (!s && dev->be->exec_create) s = dev->be->exec_create(ex);
    if (s) {
        mlxc_graph_exec_release(ex);
        return s;
    }
    mlxc_device_retain(dev);
    *out = ex;
    return MLXC_OK;
}

void mlxc_graph_exec_release(mlxc_graph_exec_t *ex) {
    if (!ex || atomic_fetch_sub(&ex->refs, 1) != 1) return;
    mlxc_device *dev = ex->dev;
    if (ex->impl && dev->be->exec_destroy) dev->be->exec_destroy(ex);
    if (ex->plan) mlxc_cmdbuf_dispose(ex->plan);
    free(ex);
}

void mlxc_graph_exec_destroy(mlxc_graph_exec *ex) {
    if (!ex) return;
    mlxc_device *dev = ex->dev;
    mlxc_graph_exec_release(ex);
    mlxc_device_release(dev);
}
