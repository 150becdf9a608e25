/* The topology of a segment of dispatches and barriers - edges from the
 * tracked ranges, or from the barriers - and the CUDA graph built from it
 * (overview in cuda_cmdbuf.h). */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_cmdbuf.h"

void cu_topo_free(cu_topo *t) {
    free(t->d);
    free(t->group);
    free(t->dep_off);
    free(t->deps);
    free(t->plain);
    memset(t, 0, sizeof *t);
}

static int dep_push(cu_topo *t, uint32_t v) {
    if (t->ndeps == t->cap_deps) {
        size_t nc = t->cap_deps ? t->cap_deps * 2 : 256;
        uint32_t *p = realloc(t->deps, nc * sizeof *p);
        if (!p) return -1;
        t->deps = p;
        t->cap_deps = nc;
    }
    t->deps[t->ndeps++] = v;
    return 0;
}

/* Live accesses per allocation, for range-derived edges. */
typedef struct rrec { uint64_t p0, p1; uint32_t node, next; } rrec;
typedef struct rslot { uint64_t id; uint32_t reads, writes; bool used; } rslot;
#define RNIL UINT32_MAX

static rslot *rslot_find(rslot *tab, size_t cap, uint64_t id) {
    size_t i = (size_t)(id * 0x9e3779b97f4a7c15ull) & (cap - 1);
    while (tab[i].used && tab[i].id != id) i = (i + 1) & (cap - 1);
    if (!tab[i].used) {
        tab[i].used = true;
        tab[i].id = id;
        tab[i].reads = tab[i].writes = RNIL;
    }
    return &tab[i];
}

/* The table of allocations (*cap slots, a power of two at least twice the
 * ranges of the segment) and the pool of access records, one per range.
 * -1: out of memory (nothing left allocated). */
static int rtab_new(const cu_topo *t, rslot **tab, size_t *cap, rrec **pool) {
    size_t nr = 0;
    for (uint32_t j = 0; j < t->k; j++) nr += t->d[j]->ranges.n;
    *cap = 16;
    while (*cap < 2 * nr) *cap <<= 1;
    *tab = calloc(*cap, sizeof **tab);
    *pool = malloc((nr ? nr : 1) * sizeof **pool);
    if (*tab && *pool) return 0;
    free(*tab);
    free(*pool);
    return -1;
}

static int range_edges(cu_topo *t) {
    size_t cap;
    rslot *tab;
    rrec *pool;
    if (rtab_new(t, &tab, &cap, &pool)) return -1;
    uint32_t *stamp = malloc(t->k * sizeof *stamp);
    t->dep_off = malloc((t->k + 1) * sizeof *t->dep_off);
    if (!stamp || !t->dep_off) {
        free(tab);
        free(pool);
        free(stamp);
        return -1;
    }
    for (uint32_t j = 0; j < t->k; j++) stamp[j] = RNIL;
    uint32_t npool = 0;
    int rc = 0;
    for (uint32_t j = 0; j < t->k && !rc; j++) {
        t->dep_off[j] = (uint32_t)t->ndeps;
        const mlxc_range_set *rs = &t->d[j]->ranges;
        /* Edges to every live access this one conflicts with. */
        for (uint32_t q = 0; q < rs->n && !rc; q++) {
            const mlxc_buffer_range *r = &rs->r[q];
            rslot *sl = rslot_find(tab, cap, r->alloc_id);
            for (int list = 0; list < 2; list++) {
                if (list == 0 && r->role != MLXC_RANGE_DST) continue; /* read/read never conflicts */
                for (uint32_t e = list == 0 ? sl->reads : sl->writes; e != RNIL; e = pool[e].next) {
                    if (pool[e].p0 >= r->p1 || r->p0 >= pool[e].p1) continue;
                    uint32_t node = pool[e].node;
                    if (stamp[node] == j) continue;
                    stamp[node] = j;
                    if (dep_push(t, node)) { rc = -1; break; }
                }
            }
        }
        /* A write retires the accesses it covers, then this dispatch's
         * accesses become live. */
        for (uint32_t q = 0; q < rs->n && !rc; q++) {
            const mlxc_buffer_range *r = &rs->r[q];
            if (r->role != MLXC_RANGE_DST) continue;
            rslot *sl = rslot_find(tab, cap, r->alloc_id);
            for (int list = 0; list < 2; list++) {
                uint32_t *link = list == 0 ? &sl->reads : &sl->writes;
                while (*link != RNIL) {
                    rrec *e = &pool[*link];
                    if (e->p0 >= r->p0 && e->p1 <= r->p1 && e->node != j)
                        *link = e->next;
                    else
                        link = &e->next;
                }
            }
        }
        for (uint32_t q = 0; q < rs->n && !rc; q++) {
            const mlxc_buffer_range *r = &rs->r[q];
            if (r->p1 <= r->p0) continue;
            rslot *sl = rslot_find(tab, cap, r->alloc_id);
            uint32_t *head = r->role == MLXC_RANGE_DST ? &sl->writes : &sl->reads;
            pool[npool] = (rrec){r->p0, r->p1, j, *head};
            *head = npool++;
        }
    }
    t->dep_off[t->k] = (uint32_t)t->ndeps;
    free(tab);
    free(pool);
    free(stamp);
    return rc;
}

/* Drop the edges another path already implies (j after i and after i's
 * dependent h: the edge i -> j adds nothing): fewer edges to launch, and
 * in a chain each kernel keeps one dependency, the one a programmatic edge
 * overlaps.  Bitsets of each node's ancestors, for segments of up to
 * REDUCE_MAX dispatches (k^2 / 8 bytes). */
#define REDUCE_MAX 4096u
static int reduce_edges(cu_topo *t) {
    const uint32_t k = t->k, words = (k + 63) / 64;
    if (k > REDUCE_MAX || k < 3) return 0;
    uint64_t *reach = calloc((size_t)k * words, sizeof *reach);
    if (!reach) return -1;
    size_t w = 0;
    for (uint32_t j = 0; j < k; j++) {
        uint32_t a = t->dep_off[j], b = t->dep_off[j + 1];
        /* newest first: an older dependency is implied by a newer one or not at all */
        for (uint32_t x = a + 1; x < b; x++)
            for (uint32_t y = x; y > a && t->deps[y - 1] < t->deps[y]; y--) {
                uint32_t tmp = t->deps[y];
                t->deps[y] = t->deps[y - 1];
                t->deps[y - 1] = tmp;
            }
        uint64_t *rj = reach + (size_t)j * words;
        t->dep_off[j] = (uint32_t)w;
        for (uint32_t x = a; x < b; x++) {
            const uint32_t d = t->deps[x];
            if (rj[d / 64] >> (d % 64) & 1) continue;
            const uint64_t *rd = reach + (size_t)d * words;
            for (uint32_t i = 0; i < words; i++) rj[i] |= rd[i];
            rj[d / 64] |= 1ull << (d % 64);
            t->deps[w++] = d;
        }
    }
    t->dep_off[k] = (uint32_t)w;
    t->ndeps = w;
    free(reach);
    return 0;
}

/* A kernel that reads before it waits (cu_func.pdl_late: every tracked
 * read after the first pdl_late) may start early only if no earlier dispatch of the
 * segment writes what it reads then: programmatic edges chain, so an
 * ancestor may still be running when it starts.  Otherwise its edges are
 * plain, which orders it after every ancestor (each one waits for its own
 * before it completes).  Without ranges nothing is known: plain. */
static int early_reads(cu_topo *t) {
    t->plain = calloc(t->k ? t->k : 1, 1);
    if (!t->plain) return -1;
    if (!t->ranges) {
        for (uint32_t j = 0; j < t->k; j++) t->plain[j] = ((const cu_func *)t->d[j]->kernel->impl)->pdl_late != 0;
        return 0;
    }
    /* the writes seen so far, listed per allocation (rslot.writes; reads
     * unused), so a dispatch checks its early reads against the writes to
     * the same allocations only */
    size_t cap;
    rslot *tab;
    rrec *pool;
    if (rtab_new(t, &tab, &cap, &pool)) return -1;
    uint32_t npool = 0;
    for (uint32_t j = 0; j < t->k; j++) {
        const mlxc_range_set *rj = &t->d[j]->ranges;
        const uint32_t late = ((const cu_func *)t->d[j]->kernel->impl)->pdl_late;
        for (uint32_t b = late ? late : rj->n; b < rj->n && !t->plain[j]; b++) {
            const mlxc_buffer_range *r = &rj->r[b];
            if (r->role != MLXC_RANGE_SRC) continue;
            const rslot *sl = rslot_find(tab, cap, r->alloc_id);
            for (uint32_t e = sl->writes; e != RNIL; e = pool[e].next)
                if (r->p0 < pool[e].p1 && pool[e].p0 < r->p1) {
                    t->plain[j] = 1;
                    break;
                }
        }
        for (uint32_t b = 0; b < rj->n; b++) {
            const mlxc_buffer_range *w = &rj->r[b];
            if (w->role != MLXC_RANGE_DST) continue;
            rslot *sl = rslot_find(tab, cap, w->alloc_id);
            pool[npool] = (rrec){w->p0, w->p1, j, sl->writes};
            sl->writes = npool++;
        }
    }
    free(tab);
    free(pool);
    return 0;
}

mlxc_status cu_topo_build(cu_dev *cu, const mlxc_cmd *cmds, size_t n, cu_topo *t) {
    memset(t, 0, sizeof *t);
    uint32_t k = 0;
    bool all_ranges = true;
    for (size_t i = 0; i < n; i++) {
        if (cmds[i].type == MLXC_CMD_DISPATCH) {
            k++;
            if (cmds[i].u.d.ranges.n == 0) all_ranges = false;
        }
        /* A barrier the caller placed orders everything: ranges alone may
         * not describe what it protects, so keep barrier edges. */
        if (cmds[i].type == MLXC_CMD_BARRIER && !cmds[i].u.barrier.automatic) all_ranges = false;
    }
    t->k = k;
    t->d = malloc((k ? k : 1) * sizeof *t->d);
    t->group = malloc((k ? k : 1) * sizeof *t->group);
    if (!t->d || !t->group) {
        cu_topo_free(t);
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    uint32_t j = 0, g = 0;
    bool pending = false;
    for (size_t i = 0; i < n; i++) {
        if (cmds[i].type == MLXC_CMD_BARRIER) {
            if (pending) g++;
            pending = false;
        } else if (cmds[i].type == MLXC_CMD_DISPATCH) {
            t->d[j] = &cmds[i].u.d;
            t->group[j++] = g;
            pending = true;
        }
    }
    t->ranges = cu->range_edges && all_ranges && k > 0;
    t->pdl = cu->pdl;
    if ((t->ranges && (range_edges(t) || reduce_edges(t))) || (t->pdl && early_reads(t))) {
        cu_topo_free(t);
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    return MLXC_OK;
}

void cu_node_params(const mlxc_cmd_dispatch *d, void **pp, CUDA_KERNEL_NODE_PARAMS_v2 *p) {
    memset(p, 0, sizeof *p);
    const cu_func *f = d->kernel->impl;
    cu_param_ptrs(d, pp);
    p->func = f->fn;
    p->gridDimX = d->grid.x;
    p->gridDimY = d->grid.y;
    p->gridDimZ = d->grid.z;
    p->blockDimX = d->block.x;
    p->blockDimY = d->block.y;
    p->blockDimZ = d->block.z;
    p->sharedMemBytes = d->shared_bytes;
    p->kernelParams = d->nargs ? pp : NULL;
}

/* Kernel node `node` of dispatch d after the nd kernel nodes in deps: plain
 * edges, or programmatic ones when the kernel waits for them. */
static CUresult add_kernel(const cu_topo *t, CUgraph g, uint32_t j, CUgraphNode *node, const CUgraphNode *deps,
                           size_t nd, void **pp, CUDA_KERNEL_NODE_PARAMS_v2 *p) {
    const mlxc_cu_api *api = mlxc_cu();
    const mlxc_cmd_dispatch *d = t->d[j];
    cu_node_params(d, pp, p);
    if (!t->pdl || nd == 0 || !((const cu_func *)d->kernel->impl)->pdl || t->plain[j])
        return api->GraphAddKernelNode(node, g, deps, nd, p);
    CUresult r = api->GraphAddKernelNode(node, g, NULL, 0, p);
    for (size_t i = 0; i < nd && r == CUDA_SUCCESS; i++) {
        const CUgraphEdgeData e = {.from_port = CU_GRAPH_PORT_PROGRAMMATIC, .type = CU_GRAPH_DEP_PROGRAMMATIC};
        r = api->GraphAddDependencies(g, &deps[i], node, &e, 1);
    }
    return r;
}

/* Build a CUDA graph for the topology; nodes[j] is dispatch j's node. */
CUresult cu_graph_build(const cu_topo *t, CUgraph *gout, CUgraphNode *nodes) {
    const mlxc_cu_api *api = mlxc_cu();
    CUgraph g = NULL;
    CUresult r = api->GraphCreate(&g, 0);
    if (r != CUDA_SUCCESS) return r;
    void *pp[MLXC_MAX_KERNEL_ARGS];
    CUDA_KERNEL_NODE_PARAMS_v2 p;
    CUgraphNode *deps = malloc(((size_t)t->k + 1) * sizeof *deps);
    if (!deps) {
        api->GraphDestroy(g);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    if (t->ranges) {
        for (uint32_t j = 0; j < t->k && r == CUDA_SUCCESS; j++) {
            size_t nd = 0;
            for (uint32_t q = t->dep_off[j]; q < t->dep_off[j + 1]; q++) deps[nd++] = nodes[t->deps[q]];
            r = add_kernel(t, g, j, &nodes[j], deps, nd, pp, &p);
        }
    } else {
        /* Groups are contiguous runs of equal group ids. */
        uint32_t pa = 0, pb = 0; /* previous group [pa, pb) */
        for (uint32_t a = 0; a < t->k && r == CUDA_SUCCESS;) {
            uint32_t b = a;
            while (b < t->k && t->group[b] == t->group[a]) b++;
            size_t nd = 0;
            bool joined = false;   /* an empty node is no kernel: plain edges */
            if (pb > pa) {
                if (pb - pa == 1 || b - a == 1) {
                    for (uint32_t q = pa; q < pb; q++) deps[nd++] = nodes[q];
                } else {
                    CUgraphNode join = NULL;
                    r = api->GraphAddEmptyNode(&join, g, &nodes[pa], pb - pa);
                    deps[nd++] = join;
                    joined = true;
                }
            }
            for (uint32_t j = a; j < b && r == CUDA_SUCCESS; j++) {
                if (joined) {
                    cu_node_params(t->d[j], pp, &p);
                    r = api->GraphAddKernelNode(&nodes[j], g, deps, nd, &p);
                } else {
                    r = add_kernel(t, g, j, &nodes[j], deps, nd, pp, &p);
                }
            }
            pa = a;
            pb = b;
            a = b;
        }
    }
    free(deps);
    if (r != CUDA_SUCCESS) {
        api->GraphDestroy(g);
        return r;
    }
    *gout = g;
    return CUDA_SUCCESS;
}
