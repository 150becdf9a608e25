/* Command buffers: the recorded command list, its arena, retained storage,
 * submission, waiting and the device's in-flight list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

struct mlxc_arena_chunk {
    mlxc_arena_chunk *next;
    size_t            used, cap;
    _Alignas(16) unsigned char data[];
};

void *mlxc_cmdbuf_alloc(mlxc_cmdbuf *cb, size_t bytes) {
    bytes = (bytes + 15) & ~(size_t)15;
    mlxc_arena_chunk *c = cb->arena;
    if (!c || c->cap - c->used < bytes) {
        size_t cap = bytes > 16384 ? bytes : 16384;
        mlxc_arena_chunk *n = malloc(sizeof *n + cap);
        if (!n) return NULL;
        n->next = c;
        n->used = 0;
        n->cap = cap;
        cb->arena = n;
        c = n;
    }
    void *p = c->data + c->used;
    c->used += bytes;
    return p;
}

mlxc_status mlxc_cmdbuf_create(mlxc_device *dev, mlxc_cmdbuf **out) {
    *out = NULL;
    if (atomic_load(&dev->lost)) return mlxc_set_error(MLXC_ERR_DEVICE_LOST, "device %s is lost", dev->caps.name);
    mlxc_cmdbuf *cb = calloc(1, sizeof *cb);
    if (!cb) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    cb->dev = dev;
    const mlxc_env_flags *env = mlxc_env();
    cb->profile_cb = env->profile_cb || env->profile_dispatch;
    cb->profile_dispatch = env->profile_dispatch;
    atomic_store(&cb->state, MLXC_CB_RECORDING);
    if (dev->be->cb_begin) {
        mlxc_status s = dev->be->cb_begin(cb);
        if (s) { free(cb); return s; }
    }
    mlxc_device_retain(dev);
    *out = cb;
    return MLXC_OK;
}

mlxc_status mlxc_cmdbuf_append(mlxc_cmdbuf *cb, const mlxc_cmd *cmd) {
    if (cb->ncmds == cb->cap) {
        size_t nc = cb->cap ? cb->cap * 2 : 64;
        mlxc_cmd *v = realloc(cb->cmds, nc * sizeof *v);
        if (!v) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
        cb->cmds = v;
        cb->cap = nc;
    }
    cb->cmds[cb->ncmds] = *cmd;
    if (cmd->type == MLXC_CMD_DISPATCH) cb->cmds[cb->ncmds].u.d.index = cb->ndispatch++;
    if (cb->dev->be->cb_record) {
        mlxc_status s = cb->dev->be->cb_record(cb, &cb->cmds[cb->ncmds]);
        if (s) {
            if (cmd->type == MLXC_CMD_DISPATCH) cb->ndispatch--;
            return s;
        }
    }
    cb->ncmds++;
    return MLXC_OK;
}

mlxc_status mlxc_cmdbuf_retain_storage(mlxc_cmdbuf *cb, mlxc_storage *st) {
    if (mlxc_env()->unretained_refs) return MLXC_OK;
    /* Consecutive dispatches often reuse a buffer: skip the obvious repeat. */
    if (cb->nretained && cb->retained[cb->nretained - 1] == st) return MLXC_OK;
    if (cb->nretained == cb->cap_retained) {
        size_t nc = cb->cap_retained ? cb->cap_retained * 2 : 32;
        mlxc_storage **v = realloc(cb->retained, nc * sizeof *v);
        if (!v) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
        cb->retained = v;
        cb->cap_retained = nc;
    }
    mlxc_storage_retain(st);
    cb->retained[cb->nretained++] = st;
    return MLXC_OK;
}

mlxc_status mlxc_cmdbuf_submit(mlxc_cmdbuf *cb) {
    mlxc_device *dev = cb->dev;
    if (atomic_load(&dev->lost)) {
        atomic_store(&cb->state, MLXC_CB_FAILED);
        return mlxc_set_error(MLXC_ERR_DEVICE_LOST, "device %s is lost", dev->caps.name);
    }
    if (cb->profile_dispatch && cb->ndispatch) {
        cb->disp_start = calloc(cb->ndispatch, sizeof *cb->disp_start);
        cb->disp_end = calloc(cb->ndispatch, sizeof *cb->disp_end);
        if (!cb->disp_start || !cb->disp_end) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    atomic_store(&cb->state, MLXC_CB_COMMITTED);
    mlxc_status s = dev->be->cb_submit(cb);
    if (s) {
        atomic_store(&cb->state, MLXC_CB_FAILED);
        return s;
    }
    return MLXC_OK;
}

mlxc_status mlxc_cmdbuf_hold_exec(mlxc_cmdbuf *cb, mlxc_graph_exec_t *exec) {
    mlxc_graph_exec_t **v = realloc(cb->execs, (cb->nexecs + 1) * sizeof *v);
    if (!v) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    cb->execs = v;
    atomic_fetch_add(&exec->refs, 1);
    cb->execs[cb->nexecs++] = exec;
    return MLXC_OK;
}

static void record_profile(mlxc_cmdbuf *cb) {
    if (cb->profile_cb) mlxc_profile_record_cb(cb->label, cb->start_ns, cb->end_ns);
    if (!cb->profile_dispatch || !cb->disp_start) return;
    for (size_t i = 0; i < cb->ncmds; i++) {
        const mlxc_cmd *c = &cb->cmds[i];
        if (c->type != MLXC_CMD_DISPATCH) continue;
        uint32_t k = c->u.d.index;
        uint64_t rd = 0, wr = 0;
        for (uint32_t r = 0; r < c->u.d.ranges.n; r++) {
            const mlxc_buffer_range *br = &c->u.d.ranges.r[r];
            /* a view named twice (a weight passed as its own scales) counts once */
            bool seen = false;
            for (uint32_t q = 0; q < r && !seen; q++) {
                const mlxc_buffer_range *o = &c->u.d.ranges.r[q];
                seen = o->alloc_id == br->alloc_id && o->p0 == br->p0 && o->p1 == br->p1 && o->role == br->role;
            }
            if (!seen) *(br->role == MLXC_RANGE_DST ? &wr : &rd) += br->p1 - br->p0;
        }
        mlxc_profile_record_dispatch(cb->label, c->u.d.kernel->name, c->u.d.op_kind, k, cb->disp_start[k],
                                     cb->disp_end[k], rd, wr);
    }
}

mlxc_status mlxc_cmdbuf_wait(mlxc_cmdbuf *cb) {
    int st = atomic_load(&cb->state);
    if (st == MLXC_CB_RECORDING)
        return mlxc_set_error(MLXC_ERR_STATE, "waiting on a command buffer that was never committed");
    if (st == MLXC_CB_COMPLETED) return MLXC_OK;
    if (st == MLXC_CB_FAILED)
        return mlxc_set_error(MLXC_ERR_COMMAND_BUFFER, "command buffer failed: %s", cb->error);
    mlxc_status s = cb->dev->be->cb_wait(cb);
    if (s) {
        atomic_store(&cb->state, MLXC_CB_FAILED);
        if (!cb->error[0]) snprintf(cb->error, sizeof cb->error, "%s", mlxc_last_error());
        mlxc_device_mark_lost(cb->dev, cb->error);
        return mlxc_set_error(MLXC_ERR_COMMAND_BUFFER, "command buffer failed: %s", cb->error);
    }
    atomic_store(&cb->state, MLXC_CB_COMPLETED);
    record_profile(cb);
    return MLXC_OK;
}

static void cmdbuf_free(mlxc_cmdbuf *cb) {
    mlxc_device *dev = cb->dev;
    if (dev->be->cb_release) dev->be->cb_release(cb);
    for (size_t i = 0; i < cb->nretained; i++) mlxc_storage_release(cb->retained[i]);
    free(cb->retained);
    for (size_t i = 0; i < cb->nexecs; i++) mlxc_graph_exec_release(cb->execs[i]);
    free(cb->execs);
    while (cb->arena) {
        mlxc_arena_chunk *n = cb->arena->next;
        free(cb->arena);
        cb->arena = n;
    }
    free(cb->cmds);
    free(cb->disp_start);
    free(cb->disp_end);
    free(cb);
    mlxc_device_release(dev);
}

void mlxc_cmdbuf_dispose(mlxc_cmdbuf *cb) {
    if (!cb) return;
    int st = atomic_load(&cb->state);
    if (st == MLXC_CB_COMMITTED && !cb->dev->be->cb_poll(cb)) {
        /* Still running: the device frees it once it has completed. */
        mlxc_device *dev = cb->dev;
        pthread_mutex_lock(&dev->lock);
        cb->next_inflight = dev->inflight;
        dev->inflight = cb;
        pthread_mutex_unlock(&dev->lock);
        return;
    }
    if (st == MLXC_CB_COMMITTED) (void)mlxc_cmdbuf_wait(cb); /* finished: collect status and profile */
    cmdbuf_free(cb);
}

void mlxc_device_reap(mlxc_device *dev, bool block) {
    pthread_mutex_lock(&dev->lock);
    mlxc_cmdbuf *list = dev->inflight, *keep = NULL;
    dev->inflight = NULL;
    pthread_mutex_unlock(&dev->lock);
    while (list) {
        mlxc_cmdbuf *next = list->next_inflight;
        list->next_inflight = NULL;
        if (block || dev->be->cb_poll(list)) {
            (void)mlxc_cmdbuf_wait(list);
            cmdbuf_free(list);
        } else {
            list->next_inflight = keep;
            keep = list;
        }
        list = next;
    }
    if (keep) {
        pthread_mutex_lock(&dev->lock);
        mlxc_cmdbuf **tail = &keep;
        while (*tail) tail = &(*tail)->next_inflight;
        *tail = dev->inflight;
        dev->inflight = keep;
        pthread_mutex_unlock(&dev->lock);
    }
}

/* ---- resolving a public dispatch --------------------------------------------- */

static uint32_t nz(uint32_t v) { return v ? v : 1; }

mlxc_status mlxc_resolve_dispatch(mlxc_cmdbuf *cb, const mlxc_dispatch *d, mlxc_op_kind kind,
                                  const mlxc_range_set *ranges, mlxc_cmd *out) {
    mlxc_device *dev = cb->dev;
    MLXC_CHECK_ARG(d->kernel, "dispatch: NULL kernel");
    MLXC_CHECK_ARG(d->nargs <= MLXC_MAX_KERNEL_ARGS, "dispatch: %u arguments (at most %d)", d->nargs,
                   MLXC_MAX_KERNEL_ARGS);
    MLXC_CHECK_ARG(d->nargs == 0 || d->args, "dispatch: NULL argument array");
    MLXC_CHECK_ARG(d->grid_mode == MLXC_GRID_GROUPS || d->grid_mode == MLXC_GRID_THREADS,
                   "dispatch: invalid grid mode %d", (int)d->grid_mode);
    const mlxc_kernel *k = d->kernel;
    if (k->has_sig) {
        if (k->sig.nparams != d->nargs)
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "kernel %s takes %u arguments, dispatch passes %u",
                                  k->name, k->sig.nparams, d->nargs);
    }
    mlxc_dim3 block = {nz(d->block.x), nz(d->block.y), nz(d->block.z)};
    if ((uint64_t)block.x * block.y * block.z > (uint64_t)dev->caps.max_threads_per_group)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "dispatch of %s: %u x %u x %u threads per group exceeds %d",
                              k->name, block.x, block.y, block.z, dev->caps.max_threads_per_group);
    if (d->shared_bytes > dev->caps.max_shared_bytes)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "dispatch of %s: %u bytes of shared memory exceeds %zu",
                              k->name, d->shared_bytes, dev->caps.max_shared_bytes);
    mlxc_dim3 grid = {nz(d->grid.x), nz(d->grid.y), nz(d->grid.z)};
    if (d->grid_mode == MLXC_GRID_THREADS) {
        grid.x = (uint32_t)(((uint64_t)grid.x + block.x - 1) / block.x);
        grid.y = (uint32_t)(((uint64_t)grid.y + block.y - 1) / block.y);
        grid.z = (uint32_t)(((uint64_t)grid.z + block.z - 1) / block.z);
    }
    mlxc_rarg *ra = d->nargs ? mlxc_cmdbuf_alloc(cb, d->nargs * sizeof *ra) : NULL;
    if (d->nargs && !ra) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < d->nargs; i++) {
        const mlxc_arg *a = &d->args[i];
        memset(&ra[i], 0, sizeof ra[i]);
        switch (a->kind) {
        case MLXC_ARG_BUFFER:
        case MLXC_ARG_BUFFER_OFFSET: {
            const mlxc_buffer *b = a->buffer;
            if (!b) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "dispatch of %s: argument %u is a NULL buffer", k->name, i);
            if (b->st->dev != dev)
                return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "dispatch of %s: argument %u lives on another device", k->name, i);
            uint64_t off = a->kind == MLXC_ARG_BUFFER ? b->offset : a->offset;
            if (off > b->st->bytes)
                return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "dispatch of %s: argument %u offset %llu beyond the %zu-byte allocation",
                                      k->name, i, (unsigned long long)off, b->st->bytes);
            if (k->has_sig && k->sig.kinds[i] != MLXC_PARAM_PTR)
                return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "dispatch of %s: argument %u must be bytes, got a buffer", k->name, i);
            ra[i].is_ptr = true;
            ra[i].value = b->st->addr + off;
            ra[i].host = b->st->host ? (char *)b->st->host + off : NULL;
            mlxc_status s = mlxc_cmdbuf_retain_storage(cb, b->st);
            if (s) return s;
            break;
        }
        case MLXC_ARG_BYTES: {
            if (!a->bytes || a->size == 0 || a->size > 4096)
                return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "dispatch of %s: argument %u has %u bytes (1..4096, non-NULL)",
                                      k->name, i, a->size);
            if (k->has_sig && k->sig.kinds[i] != MLXC_PARAM_BYTES)
                return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "dispatch of %s: argument %u must be a buffer, got bytes", k->name, i);
            if (k->has_sig && k->sig.sizes[i] && k->sig.sizes[i] != a->size)
                return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "dispatch of %s: argument %u has %u bytes, kernel takes %u",
                                      k->name, i, a->size, k->sig.sizes[i]);
            void *copy = mlxc_cmdbuf_alloc(cb, a->size);
            if (!copy) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
            memcpy(copy, a->bytes, a->size);
            ra[i].bytes = copy;
            ra[i].size = a->size;
            ra[i].host = copy;
            break;
        }
        default:
            return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "dispatch of %s: argument %u has invalid kind %d", k->name, i,
                                  (int)a->kind);
        }
    }
    memset(out, 0, sizeof *out);
    out->type = MLXC_CMD_DISPATCH;
    mlxc_cmd_dispatch *cd = &out->u.d;
    cd->kernel = k;
    cd->args = ra;
    cd->nargs = d->nargs;
    cd->grid = grid;
    cd->block = block;
    cd->shared_bytes = d->shared_bytes;
    cd->op_kind = kind;
    if (ranges && ranges->n) {
        cd->ranges.r = mlxc_cmdbuf_alloc(cb, ranges->n * sizeof *ranges->r);
        if (!cd->ranges.r) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
        memcpy(cd->ranges.r, ranges->r, ranges->n * sizeof *ranges->r);
        cd->ranges.n = ranges->n;
    }
    return MLXC_OK;
}
