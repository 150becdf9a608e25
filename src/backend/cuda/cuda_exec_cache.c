/* CUDA graph executables cached per device by topology: a commit whose
 * segment matches a cached topology patches the changed kernel nodes and
 * launches; otherwise a graph is built, instantiated and cached (LRU). */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_cmdbuf.h"

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

static uint32_t blob_len(const mlxc_cmd_dispatch *d) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < d->nargs; i++) n += d->args[i].is_ptr ? 8u : d->args[i].size;
    return n;
}


/* The cache key: everything that fixes the graph's shape, nothing that a
 * node update can change (argument values). */
static mlxc_status topo_key(cu_dev *cu, const cu_topo *t, size_t *nkey, uint64_t *hash) {
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
        /* whether j's edges are plain (an earlier dispatch writes what j
         * reads before its wait): the same edges for other reasons must not
         * reuse a graph with programmatic ones */
        const uint64_t plain = (uint64_t)(t->plain && t->plain[j]) << 40;
        if (t->ranges) {
            uint32_t a = t->dep_off[j], b = t->dep_off[j + 1];
            w[m++] = (b - a) | plain;
            for (uint32_t q = a; q < b; q++) w[m++] = t->deps[q];
        } else {
            w[m++] = t->group[j] | plain;
        }
    }
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < m; i++) h = (h ^ w[i]) * 1099511628211ull;
    *nkey = m;
    *hash = h;
    return MLXC_OK;
}

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
static bool gexec_update(cu_gexec *e, const cu_topo *t) {
    const mlxc_cu_api *api = mlxc_cu();
    void *pp[MLXC_MAX_KERNEL_ARGS];
    CUDA_KERNEL_NODE_PARAMS_v2 p;
    for (uint32_t j = 0; j < t->k; j++) {
        unsigned char *b = e->blob + e->blob_off[j];
        if (blob_same(t->d[j], b)) continue;
        cu_node_params(t->d[j], pp, &p);
        if (api->GraphExecKernelNodeSetParams(e->exec, e->nodes[j], &p) != CUDA_SUCCESS) return false;
        blob_write(t->d[j], b);
        CU_STAT(node_updates, 1);
    }
    return true;
}

static CUresult gexec_create(const cu_topo *t, cu_gexec *e) {
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
    CUresult r = cu_graph_build(t, &e->graph, e->nodes);
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
mlxc_status cu_run_segment(mlxc_device *dev, cu_dev *cu, const mlxc_cmd *cmds, size_t n) {
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
        CUresult r = cu_launch_one(cu, only);
        return r == CUDA_SUCCESS ? MLXC_OK : cu_fail(dev, r, "cuLaunchKernel");
    }
    cu_topo t;
    mlxc_status s = cu_topo_build(cu, cmds, n, &t);
    if (s) return s;
    size_t nkey = 0;
    uint64_t hash = 0;
    if ((s = topo_key(cu, &t, &nkey, &hash))) {
        cu_topo_free(&t);
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
                cu_topo_free(&t);
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
            cu_topo_free(&t);
            return cu_fail(dev, r, "building a CUDA graph");
        }
        e->key = malloc(nkey * sizeof *e->key);
        if (!e->key) {
            gexec_free(e);
            cu_topo_free(&t);
            return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        memcpy(e->key, cu->key, nkey * sizeof *e->key);
        e->nkey = nkey;
        e->hash = hash;
        cu->ngcache++;
    }
    e->used = ++cu->gclock;
    cu_topo_free(&t);
    CU_STAT(graph_launches, 1);
    CUresult r = api->GraphLaunch(e->exec, cu->stream);
    return r == CUDA_SUCCESS ? MLXC_OK : cu_fail(dev, r, "cuGraphLaunch");
}
