/*
 * CUDA command buffers, commit-time graphs and graph executables.
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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend.h"

CUdeviceptr cu_timeline_addr(const mlxc_timeline *tl);

#define CU_NSIDE 3

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

#define CU_GCACHE_CAP 64

struct cu_gexec {
    uint64_t       hash;
    uint64_t      *key;
    size_t         nkey;
    CUgraph        graph;
    CUgraphExec    exec;
    CUgraphNode   *nodes;      /* kernel node of each dispatch          */
    uint32_t       k;
    uint32_t      *blob_off;   /* [k + 1] into blob                     */
    unsigned char *blob;       /* argument bytes last set on each node  */
    uint64_t       used;
};

/* ---- launching one dispatch ------------------------------------------------------ */

/* Pointers to each argument's value, as cuLaunchKernel and kernel nodes
 * take them (the values live in the command buffer's arena). */
static void param_ptrs(const mlxc_cmd_dispatch *d, void **pp) {
    for (uint32_t i = 0; i < d->nargs; i++)
        pp[i] = d->args[i].is_ptr ? (void *)&d->args[i].value : (void *)d->args[i].bytes;
}

static mlxc_status check_dispatch(mlxc_device *dev, cu_dev *cu, const mlxc_cmd_dispatch *d) {
    cu_func *f = d->kernel->impl;
    if (!f) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "kernel %s is not a CUDA kernel", d->kernel->name);
    if (f->nparams != UINT32_MAX) {
        if (d->nargs != f->nparams)
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "kernel %s takes %u arguments, dispatch passes %u",
                                  d->kernel->name, f->nparams, d->nargs);
        for (uint32_t i = 0; i < d->nargs; i++) {
            uint32_t sz = d->args[i].is_ptr ? 8u : d->args[i].size;
            if (sz != f->sizes[i])
                return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT,
                                      "kernel %s: argument %u is %u bytes, the parameter is %u bytes", d->kernel->name,
                                      i, sz, f->sizes[i]);
        }
    }
    if (f->lib) return f->lib_check ? f->lib_check(f, d) : MLXC_OK;
    if (d->grid.x > 0x7fffffffu || d->grid.y > 65535u || d->grid.z > 65535u)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "kernel %s: grid %u x %u x %u exceeds the CUDA limits",
                              d->kernel->name, d->grid.x, d->grid.y, d->grid.z);
    if ((int)d->shared_bytes > f->shared_limit) {
        pthread_mutex_lock(&cu->mu);
        CUresult r = CUDA_SUCCESS;
        if ((int)d->shared_bytes > f->shared_limit) {
            r = mlxc_cu()->FuncSetAttribute(f->fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, (int)d->shared_bytes);
            if (r == CUDA_SUCCESS) f->shared_limit = (int)d->shared_bytes;
        }
        pthread_mutex_unlock(&cu->mu);
        if (r != CUDA_SUCCESS) {
            char msg[200];
            mlxc_cu_describe(r, msg, sizeof msg);
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "kernel %s: %u bytes of dynamic shared memory: %s",
                                  d->kernel->name, d->shared_bytes, msg);
        }
    }
    (void)dev;
    return MLXC_OK;
}

static CUresult launch_on(CUstream st, const mlxc_cmd_dispatch *d) {
    const cu_func *f = d->kernel->impl;
    if (f->lib) return f->lib(f, st, d);
    void *pp[MLXC_MAX_KERNEL_ARGS];
    param_ptrs(d, pp);
    CU_STAT(kernel_launches, 1);
    return mlxc_cu()->LaunchKernel(f->fn, d->grid.x, d->grid.y, d->grid.z, d->block.x, d->block.y, d->block.z,
                                   d->shared_bytes, st, d->nargs ? pp : NULL, NULL);
}

static CUresult launch_one(cu_dev *cu, const mlxc_cmd_dispatch *d) { return launch_on(cu->stream, d); }

/* A library routine (cuBLASLt) rather than a kernel: it is launched on the
 * stream, never made a graph node. */
static bool is_lib(const mlxc_cmd *c) {
    return c->type == MLXC_CMD_DISPATCH && ((const cu_func *)c->u.d.kernel->impl)->lib;
}

/* ---- topology of a segment --------------------------------------------------------- */

typedef struct topo {
    uint32_t                  k;
    const mlxc_cmd_dispatch **d;       /* [k]                               */
    int                       ranges;  /* edges from ranges (else barriers) */
    uint32_t                 *group;   /* [k] barrier group                 */
    uint32_t                 *dep_off; /* [k + 1] (range mode)              */
    uint32_t                 *deps;
    size_t                    ndeps, cap_deps;
} topo;

static void topo_free(topo *t) {
    free(t->d);
    free(t->group);
    free(t->dep_off);
    free(t->deps);
    memset(t, 0, sizeof *t);
}

static int dep_push(topo *t, uint32_t v) {
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

static int range_edges(topo *t) {
    size_t nr = 0;
    for (uint32_t j = 0; j < t->k; j++) nr += t->d[j]->ranges.n;
    size_t cap = 16;
    while (cap < 2 * nr) cap <<= 1;
    rslot *tab = calloc(cap, sizeof *tab);
    rrec *pool = malloc((nr ? nr : 1) * sizeof *pool);
    uint32_t *stamp = malloc(t->k * sizeof *stamp);
    t->dep_off = malloc((t->k + 1) * sizeof *t->dep_off);
    if (!tab || !pool || !stamp || !t->dep_off) {
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

static mlxc_status topo_build(cu_dev *cu, const mlxc_cmd *cmds, size_t n, topo *t) {
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
        topo_free(t);
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
    if (t->ranges && range_edges(t)) {
        topo_free(t);
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    return MLXC_OK;
}

static uint32_t blob_len(const mlxc_cmd_dispatch *d) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < d->nargs; i++) n += d->args[i].is_ptr ? 8u : d->args[i].size;
    return n;
}

/* The cache key: everything that fixes the graph's shape, nothing that a
 * node update can change (argument values). */
static mlxc_status topo_key(cu_dev *cu, const topo *t, size_t *nkey, uint64_t *hash) {
    size_t need = 1 + (size_t)t->k * 6 + t->ndeps;
    if (need > cu->cap_key) {
        uint64_t *p = realloc(cu->key, need * sizeof *p);
        if (!p) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
        cu->key = p;
        cu->cap_key = need;
    }
    uint64_t *w = cu->key;
    size_t m = 0;
    w[m++] = ((uint64_t)t->ranges << 40) | t->k;
    for (uint32_t j = 0; j < t->k; j++) {
        const mlxc_cmd_dispatch *d = t->d[j];
        const cu_func *f = d->kernel->impl;
        w[m++] = (uint64_t)(uintptr_t)f->fn;
        w[m++] = d->grid.x | ((uint64_t)d->grid.y << 32);
        w[m++] = d->grid.z | ((uint64_t)d->block.x << 32);
        w[m++] = d->block.y | ((uint64_t)d->block.z << 32);
        w[m++] = d->shared_bytes | ((uint64_t)d->nargs << 32) | ((uint64_t)blob_len(d) << 40);
        if (t->ranges) {
            uint32_t a = t->dep_off[j], b = t->dep_off[j + 1];
            w[m++] = b - a;
            for (uint32_t q = a; q < b; q++) w[m++] = t->deps[q];
        } else {
            w[m++] = t->group[j];
        }
    }
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < m; i++) h = (h ^ w[i]) * 1099511628211ull;
    *nkey = m;
    *hash = h;
    return MLXC_OK;
}

static void node_params(const mlxc_cmd_dispatch *d, void **pp, CUDA_KERNEL_NODE_PARAMS_v2 *p) {
    memset(p, 0, sizeof *p);
    const cu_func *f = d->kernel->impl;
    param_ptrs(d, pp);
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

/* Build a CUDA graph for the topology; nodes[j] is dispatch j's node. */
static CUresult graph_build(const topo *t, CUgraph *gout, CUgraphNode *nodes) {
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
            node_params(t->d[j], pp, &p);
            r = api->GraphAddKernelNode(&nodes[j], g, deps, nd, &p);
        }
    } else {
        /* Groups are contiguous runs of equal group ids. */
        uint32_t pa = 0, pb = 0; /* previous group [pa, pb) */
        for (uint32_t a = 0; a < t->k && r == CUDA_SUCCESS;) {
            uint32_t b = a;
            while (b < t->k && t->group[b] == t->group[a]) b++;
            size_t nd = 0;
            if (pb > pa) {
                if (pb - pa == 1 || b - a == 1) {
                    for (uint32_t q = pa; q < pb; q++) deps[nd++] = nodes[q];
                } else {
                    CUgraphNode join = NULL;
                    r = api->GraphAddEmptyNode(&join, g, &nodes[pa], pb - pa);
                    deps[nd++] = join;
                }
            }
            for (uint32_t j = a; j < b && r == CUDA_SUCCESS; j++) {
                node_params(t->d[j], pp, &p);
                r = api->GraphAddKernelNode(&nodes[j], g, deps, nd, &p);
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

/* ---- the executable cache ------------------------------------------------------- */

static void gexec_free(cu_gexec *e) {
    const mlxc_cu_api *api = mlxc_cu();
    /* An executable still running is freed by the driver when it finishes. */
    if (e->exec) (void)api->GraphExecDestroy(e->exec);
    if (e->graph) (void)api->GraphDestroy(e->graph);
    free(e->key);
    free(e->nodes);
    free(e->blob_off);
    free(e->blob);
    memset(e, 0, sizeof *e);
}

void cu_gcache_clear(cu_dev *cu) {
    for (size_t i = 0; i < cu->ngcache; i++) gexec_free(&cu->gcache[i]);
    free(cu->gcache);
    cu->gcache = NULL;
    cu->ngcache = 0;
}

static void blob_write(const mlxc_cmd_dispatch *d, unsigned char *dst) {
    for (uint32_t i = 0; i < d->nargs; i++) {
        if (d->args[i].is_ptr) {
            memcpy(dst, &d->args[i].value, 8);
            dst += 8;
        } else {
            memcpy(dst, d->args[i].bytes, d->args[i].size);
            dst += d->args[i].size;
        }
    }
}

static bool blob_same(const mlxc_cmd_dispatch *d, const unsigned char *b) {
    for (uint32_t i = 0; i < d->nargs; i++) {
        if (d->args[i].is_ptr) {
            if (memcmp(b, &d->args[i].value, 8)) return false;
            b += 8;
        } else {
            if (memcmp(b, d->args[i].bytes, d->args[i].size)) return false;
            b += d->args[i].size;
        }
    }
    return true;
}

/* Patch a cached executable for this segment's arguments.  false: an
 * update was refused and the entry must be rebuilt. */
static bool gexec_update(cu_gexec *e, const topo *t) {
    const mlxc_cu_api *api = mlxc_cu();
    void *pp[MLXC_MAX_KERNEL_ARGS];
    CUDA_KERNEL_NODE_PARAMS_v2 p;
    for (uint32_t j = 0; j < t->k; j++) {
        unsigned char *b = e->blob + e->blob_off[j];
        if (blob_same(t->d[j], b)) continue;
        node_params(t->d[j], pp, &p);
        if (api->GraphExecKernelNodeSetParams(e->exec, e->nodes[j], &p) != CUDA_SUCCESS) return false;
        blob_write(t->d[j], b);
        CU_STAT(node_updates, 1);
    }
    return true;
}

static CUresult gexec_create(const topo *t, cu_gexec *e) {
    memset(e, 0, sizeof *e);
    e->k = t->k;
    e->nodes = calloc(t->k, sizeof *e->nodes);
    e->blob_off = malloc(((size_t)t->k + 1) * sizeof *e->blob_off);
    if (!e->nodes || !e->blob_off) {
        gexec_free(e);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    uint32_t off = 0;
    for (uint32_t j = 0; j < t->k; j++) {
        e->blob_off[j] = off;
        off += blob_len(t->d[j]);
    }
    e->blob_off[t->k] = off;
    e->blob = malloc(off ? off : 1);
    if (!e->blob) {
        gexec_free(e);
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    for (uint32_t j = 0; j < t->k; j++) blob_write(t->d[j], e->blob + e->blob_off[j]);
    CUresult r = graph_build(t, &e->graph, e->nodes);
    if (r == CUDA_SUCCESS) r = mlxc_cu()->GraphInstantiate(&e->exec, e->graph, 0);
    if (r != CUDA_SUCCESS) {
        e->exec = NULL;
        gexec_free(e);
        return r;
    }
    CU_STAT(graph_builds, 1);
    return CUDA_SUCCESS;
}

/* Run dispatches/barriers cmds[0..n) as one unit on the stream (under mu). */
static mlxc_status run_segment(mlxc_device *dev, cu_dev *cu, const mlxc_cmd *cmds, size_t n) {
    uint32_t k = 0;
    const mlxc_cmd_dispatch *only = NULL;
    for (size_t i = 0; i < n; i++)
        if (cmds[i].type == MLXC_CMD_DISPATCH) {
            k++;
            only = &cmds[i].u.d;
        }
    if (k == 0) return MLXC_OK;
    if (k == 1) {
        /* One kernel: a plain launch is cheaper than a one-node graph. */
        CUresult r = launch_one(cu, only);
        return r == CUDA_SUCCESS ? MLXC_OK : cu_fail(dev, r, "cuLaunchKernel");
    }
    topo t;
    mlxc_status s = topo_build(cu, cmds, n, &t);
    if (s) return s;
    size_t nkey = 0;
    uint64_t hash = 0;
    if ((s = topo_key(cu, &t, &nkey, &hash))) {
        topo_free(&t);
        return s;
    }
    const mlxc_cu_api *api = mlxc_cu();
    cu_gexec *e = NULL;
    for (size_t i = 0; i < cu->ngcache; i++) {
        cu_gexec *c = &cu->gcache[i];
        if (c->hash == hash && c->nkey == nkey && memcmp(c->key, cu->key, nkey * sizeof *c->key) == 0) {
            e = c;
            break;
        }
    }
    if (e && !gexec_update(e, &t)) {
        gexec_free(e);
        *e = cu->gcache[--cu->ngcache];
        e = NULL;
    }
    if (e) {
        CU_STAT(graph_hits, 1);
    } else {
        if (!cu->gcache) {
            cu->gcache = calloc(CU_GCACHE_CAP, sizeof *cu->gcache);
            if (!cu->gcache) {
                topo_free(&t);
                return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
            }
        }
        if (cu->ngcache == CU_GCACHE_CAP) {
            size_t lru = 0;
            for (size_t i = 1; i < cu->ngcache; i++)
                if (cu->gcache[i].used < cu->gcache[lru].used) lru = i;
            gexec_free(&cu->gcache[lru]);
            cu->gcache[lru] = cu->gcache[--cu->ngcache];
        }
        e = &cu->gcache[cu->ngcache];
        CUresult r = gexec_create(&t, e);
        if (r != CUDA_SUCCESS) {
            topo_free(&t);
            return cu_fail(dev, r, "building a CUDA graph");
        }
        e->key = malloc(nkey * sizeof *e->key);
        if (!e->key) {
            gexec_free(e);
            topo_free(&t);
            return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        memcpy(e->key, cu->key, nkey * sizeof *e->key);
        e->nkey = nkey;
        e->hash = hash;
        cu->ngcache++;
    }
    e->used = ++cu->gclock;
    topo_free(&t);
    CU_STAT(graph_launches, 1);
    CUresult r = api->GraphLaunch(e->exec, cu->stream);
    return r == CUDA_SUCCESS ? MLXC_OK : cu_fail(dev, r, "cuGraphLaunch");
}

/* ---- stream-level commands ------------------------------------------------------- */

typedef struct cu_exec { CUgraph graph; CUgraphExec exec; } cu_exec;

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
        CUresult r = launch_one(cu, &plan->cmds[i].u.d);
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
static CUresult imm_join(cu_dev *cu, cu_cb *c) {
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
        return launch_one(cu, d);
    }
    int i = (int)((c->gn - 1) % CU_NSIDE);
    if (!(c->side_used & (1u << i))) {
        if ((r = api->StreamWaitEvent(cu->side[i], c->fork, 0)) != CUDA_SUCCESS) return r;
        c->side_used |= 1u << i;
    }
    c->gn++;
    return launch_on(cu->side[i], d);
}

/* One command on the stream, in order (immediate mode and profiling). */
static mlxc_status run_cmd(mlxc_cmdbuf *cb, cu_dev *cu, cu_cb *c, const mlxc_cmd *cmd) {
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
            if (r == CUDA_SUCCESS) r = launch_one(cu, d);
            if (r == CUDA_SUCCESS) r = api->EventRecord(ev[1], cu->stream);
            return r == CUDA_SUCCESS ? MLXC_OK : cu_fail(dev, r, "cuLaunchKernel");
        }
        CUresult r = c->immediate ? imm_dispatch(cu, c, d) : launch_one(cu, d);
        return r == CUDA_SUCCESS ? MLXC_OK : cu_fail(dev, r, "cuLaunchKernel");
    }
    case MLXC_CMD_BARRIER: {
        CUresult r = c->immediate ? imm_join(cu, c) : CUDA_SUCCESS;
        return r == CUDA_SUCCESS ? MLXC_OK : cu_fail(dev, r, "barrier (cuStreamWaitEvent)");
    }
    case MLXC_CMD_WAIT:
    case MLXC_CMD_SIGNAL:
    case MLXC_CMD_EXEC: {
        /* Stream-level commands order against everything in the buffer. */
        CUresult r = c->immediate ? imm_join(cu, c) : CUDA_SUCCESS;
        if (r != CUDA_SUCCESS) return cu_fail(dev, r, "cuStreamWaitEvent");
        return cmd->type == MLXC_CMD_EXEC ? run_exec(dev, cu, cmd->u.exec.exec) : run_sync(dev, cu, cmd);
    }
    }
    return mlxc_set_error(MLXC_ERR_INTERNAL, "unknown command type %d", (int)cmd->type);
}

static mlxc_status ensure_started(cu_dev *cu, cu_cb *c, mlxc_device *dev) {
    if (c->started) return MLXC_OK;
    if (!c->start) c->start = cu_event_get(cu);
    if (!c->start) return mlxc_set_error(MLXC_ERR_INTERNAL, "cuEventCreate failed");
    CUresult r = mlxc_cu()->EventRecord(c->start, cu->stream);
    if (r != CUDA_SUCCESS) return cu_fail(dev, r, "cuEventRecord");
    c->started = true;
    return MLXC_OK;
}

/* ---- the command-buffer hooks ------------------------------------------------------ */

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
    if (cmd->type == MLXC_CMD_DISPATCH && (s = check_dispatch(dev, cu, &cmd->u.d))) return s;
    if (!c->immediate) return MLXC_OK;
    if ((s = cu_bind(cu))) return s;
    pthread_mutex_lock(&cu->mu);
    s = ensure_started(cu, c, dev);
    if (!s) s = run_cmd(cb, cu, c, cmd);
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
            for (size_t i = 0; i < cb->ncmds && !s; i++) s = run_cmd(cb, cu, c, &cb->cmds[i]);
        } else {
            size_t seg = 0;
            for (size_t i = 0; i < cb->ncmds && !s; i++) {
                mlxc_cmd_type ty = cb->cmds[i].type;
                if ((ty == MLXC_CMD_DISPATCH && !is_lib(&cb->cmds[i])) || ty == MLXC_CMD_BARRIER) continue;
                s = run_segment(dev, cu, cb->cmds + seg, i - seg);
                if (!s) s = run_cmd(cb, cu, c, &cb->cmds[i]);
                seg = i + 1;
            }
            if (!s) s = run_segment(dev, cu, cb->cmds + seg, cb->ncmds - seg);
        }
    }
    if (!s && c->immediate) {
        CUresult r = imm_join(cu, c);
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

/* ---- instantiated graphs ------------------------------------------------------------- */

mlxc_status cu_exec_create(mlxc_graph_exec_t *exec) {
    mlxc_device *dev = exec->dev;
    cu_dev *cu = cu_of(dev);
    const mlxc_cmdbuf *plan = exec->plan;
    exec->impl = NULL;
    if (!plan || plan->ncmds == 0) return MLXC_OK;
    for (size_t i = 0; i < plan->ncmds; i++) {
        mlxc_cmd_type ty = plan->cmds[i].type;
        /* replayed from the plan, one launch at a time */
        if ((ty != MLXC_CMD_DISPATCH && ty != MLXC_CMD_BARRIER) || is_lib(&plan->cmds[i])) return MLXC_OK;
        if (ty == MLXC_CMD_DISPATCH) {
            mlxc_status s = check_dispatch(dev, cu, &plan->cmds[i].u.d);
            if (s) return s;
        }
    }
    mlxc_status s = cu_bind(cu);
    if (s) return s;
    pthread_mutex_lock(&cu->mu);
    topo t;
    s = topo_build(cu, plan->cmds, plan->ncmds, &t);
    if (s) {
        pthread_mutex_unlock(&cu->mu);
        return s;
    }
    cu_exec *x = calloc(1, sizeof *x);
    CUgraphNode *nodes = calloc(t.k ? t.k : 1, sizeof *nodes);
    CUresult r = (x && nodes) ? graph_build(&t, &x->graph, nodes) : CUDA_ERROR_OUT_OF_MEMORY;
    if (r == CUDA_SUCCESS) r = mlxc_cu()->GraphInstantiate(&x->exec, x->graph, 0);
    topo_free(&t);
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
