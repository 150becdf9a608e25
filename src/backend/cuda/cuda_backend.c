/*
 * CUDA backend: devices, memory, kernels, timelines, and the vtable.
 * Command buffers and graphs are in cuda_cmdbuf.c and the files it lists
 * (cuda_cmdbuf.h), NVRTC in cuda_nvrtc.c.
 */
#include "backend/cuda/cuda_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mlxc_cuda_stats_atomic mlxc_cuda_g_stats;

void mlxc_cuda_stats_get(mlxc_cuda_stats *out) {
    if (!out) return;
    out->nvrtc_compiles = atomic_load(&mlxc_cuda_g_stats.nvrtc_compiles);
    out->disk_hits = atomic_load(&mlxc_cuda_g_stats.disk_hits);
    out->memory_hits = atomic_load(&mlxc_cuda_g_stats.memory_hits);
    out->graph_builds = atomic_load(&mlxc_cuda_g_stats.graph_builds);
    out->graph_hits = atomic_load(&mlxc_cuda_g_stats.graph_hits);
    out->node_updates = atomic_load(&mlxc_cuda_g_stats.node_updates);
    out->graph_launches = atomic_load(&mlxc_cuda_g_stats.graph_launches);
    out->kernel_launches = atomic_load(&mlxc_cuda_g_stats.kernel_launches);
}

void mlxc_cuda_stats_reset(void) {
    atomic_store(&mlxc_cuda_g_stats.nvrtc_compiles, 0);
    atomic_store(&mlxc_cuda_g_stats.disk_hits, 0);
    atomic_store(&mlxc_cuda_g_stats.memory_hits, 0);
    atomic_store(&mlxc_cuda_g_stats.graph_builds, 0);
    atomic_store(&mlxc_cuda_g_stats.graph_hits, 0);
    atomic_store(&mlxc_cuda_g_stats.node_updates, 0);
    atomic_store(&mlxc_cuda_g_stats.graph_launches, 0);
    atomic_store(&mlxc_cuda_g_stats.kernel_launches, 0);
}

mlxc_status mlxc_cuda_set_graph_mode(mlxc_device *dev, int on) {
    MLXC_CHECK_ARG(dev, "mlxc_cuda_set_graph_mode: NULL device");
    if (dev->be != &mlxc_cuda_backend) return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "not a CUDA device");
    cu_of(dev)->graph_mode = on ? 1 : 0;
    return MLXC_OK;
}

int mlxc_cuda_graph_mode(const mlxc_device *dev) {
    return dev && dev->be == &mlxc_cuda_backend ? cu_of(dev)->graph_mode : 0;
}

/* ---- errors and context -------------------------------------------------------- */

mlxc_status cu_fail(mlxc_device *dev, CUresult r, const char *what) {
    char msg[200];
    mlxc_cu_describe(r, msg, sizeof msg);
    if (mlxc_cu_is_sticky(r)) {
        char why[300];
        snprintf(why, sizeof why, "%s: %s", what, msg);
        mlxc_device_mark_lost(dev, why);
        return mlxc_set_error(MLXC_ERR_DEVICE_LOST, "%s failed: %s (device lost)", what, msg);
    }
    if (r == CUDA_ERROR_OUT_OF_MEMORY)
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "%s: %s", what, msg);
    return mlxc_set_error(MLXC_ERR_INTERNAL, "%s failed: %s", what, msg);
}

mlxc_status cu_bind(cu_dev *cu) {
    const mlxc_cu_api *api = mlxc_cu();
    CUcontext cur = NULL;
    if (api->CtxGetCurrent(&cur) == CUDA_SUCCESS && cur == cu->ctx) return MLXC_OK;
    CUresult r = api->CtxSetCurrent(cu->ctx);
    if (r != CUDA_SUCCESS) {
        char msg[200];
        mlxc_cu_describe(r, msg, sizeof msg);
        return mlxc_set_error(MLXC_ERR_INTERNAL, "cuCtxSetCurrent: %s", msg);
    }
    return MLXC_OK;
}

mlxc_status cu_enter(mlxc_device *dev) {
    if (atomic_load(&dev->lost)) return mlxc_set_error(MLXC_ERR_DEVICE_LOST, "device %s is lost", dev->caps.name);
    return cu_bind(cu_of(dev));
}

/* ---- events and time ----------------------------------------------------------- */

CUevent cu_event_get(cu_dev *cu) {
    if (cu->nevents) return cu->events[--cu->nevents];
    CUevent e = NULL;
    if (mlxc_cu()->EventCreate(&e, CU_EVENT_DEFAULT) != CUDA_SUCCESS) return NULL;
    return e;
}

void cu_event_put(cu_dev *cu, CUevent e) {
    if (!e) return;
    if (cu->nevents == cu->cap_events) {
        size_t nc = cu->cap_events ? cu->cap_events * 2 : 64;
        CUevent *v = realloc(cu->events, nc * sizeof *v);
        if (!v) {
            mlxc_cu()->EventDestroy(e);
            return;
        }
        cu->events = v;
        cu->cap_events = nc;
    }
    cu->events[cu->nevents++] = e;
}

/* Event times are differences from a reference event (float ms, about 0.5 us
 * resolution).  Float precision falls with distance, so once an event is
 * more than a second past the reference it becomes the new reference, its
 * host-scale time carried over. */
uint64_t cu_event_ns(cu_dev *cu, CUevent e) {
    float ms = 0.0f;
    if (mlxc_cu()->EventElapsedTime(&ms, cu->ref_ev, e) != CUDA_SUCCESS) return 0;
    int64_t ns = cu->ref_ns + (int64_t)((double)ms * 1e6);
    return ns > 0 ? (uint64_t)ns : 0;
}

/* ---- devices -------------------------------------------------------------------- */

static mlxc_status cu_device_count(int *count) {
    *count = 0;
    const mlxc_cu_api *api = mlxc_cu();
    if (!api) return MLXC_OK;
    int n = 0;
    if (api->DeviceGetCount(&n) != CUDA_SUCCESS) return MLXC_OK;
    *count = n;
    return MLXC_OK;
}

static int env_flag(const char *name, int dflt) {
    const char *v = mlxc_env_str(name);
    if (!v || !*v) return dflt;
    return strcmp(v, "0") != 0 && strcmp(v, "off") != 0 && strcmp(v, "false") != 0;
}

static void cu_free_dev(cu_dev *cu, bool lost);

static mlxc_status cu_device_open(mlxc_device *dev, int index) {
    const mlxc_cu_api *api = mlxc_cu();
    if (!api) return mlxc_set_error(MLXC_ERR_NO_DEVICE, "no CUDA driver");
    cu_dev *cu = calloc(1, sizeof *cu);
    if (!cu) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    pthread_mutex_init(&cu->mu, NULL);
    dev->impl = cu;
    CUresult r;
    char msg[200];
#define OPEN_CHECK(call, what)                                                             \
    do {                                                                                   \
        if ((r = (call)) != CUDA_SUCCESS) {                                                \
            mlxc_cu_describe(r, msg, sizeof msg);                                          \
            /* A sticky error earlier in this process poisons the GPU until  \
             * the process exits (CUDA offers no in-process recovery). */    \
            mlxc_status st_ = mlxc_set_error(r == CUDA_ERROR_OUT_OF_MEMORY ? MLXC_ERR_OUT_OF_MEMORY \
                                             : mlxc_cu_is_sticky(r)        ? MLXC_ERR_DEVICE_LOST \
                                                                           : MLXC_ERR_NO_DEVICE, \
                                             "CUDA device %d: %s: %s", index, what, msg);  \
            cu_free_dev(cu, false);                                                        \
            dev->impl = NULL;                                                              \
            return st_;                                                                    \
        }                                                                                  \
    } while (0)
    OPEN_CHECK(api->DeviceGet(&cu->cudev, index), "cuDeviceGet");
    OPEN_CHECK(api->DevicePrimaryCtxRetain(&cu->ctx, cu->cudev), "cuDevicePrimaryCtxRetain");
    OPEN_CHECK(api->CtxSetCurrent(cu->ctx), "cuCtxSetCurrent");
    OPEN_CHECK(api->StreamCreate(&cu->stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    for (int i = 0; i < 3; i++) OPEN_CHECK(api->StreamCreate(&cu->side[i], CU_STREAM_NON_BLOCKING), "cuStreamCreate");

    mlxc_device_caps *c = &dev->caps;
    c->backend = MLXC_BACKEND_CUDA;
    OPEN_CHECK(api->DeviceGetName(c->name, (int)sizeof c->name, cu->cudev), "cuDeviceGetName");
    int v = 0;
    OPEN_CHECK(api->DeviceGetAttribute(&v, CU_ATTR_MULTIPROCESSOR_COUNT, cu->cudev), "attribute");
    c->compute_units = v;
    OPEN_CHECK(api->DeviceGetAttribute(&v, CU_ATTR_MAX_THREADS_PER_BLOCK, cu->cudev), "attribute");
    c->max_threads_per_group = v;
    if (api->DeviceGetAttribute(&v, CU_ATTR_MAX_SHARED_PER_BLOCK_OPTIN, cu->cudev) != CUDA_SUCCESS || v <= 0)
        OPEN_CHECK(api->DeviceGetAttribute(&v, CU_ATTR_MAX_SHARED_PER_BLOCK, cu->cudev), "attribute");
    c->max_shared_bytes = (size_t)v;
    OPEN_CHECK(api->DeviceGetAttribute(&c->arch_major, CU_ATTR_CC_MAJOR, cu->cudev), "attribute");
    OPEN_CHECK(api->DeviceGetAttribute(&c->arch_minor, CU_ATTR_CC_MINOR, cu->cudev), "attribute");
    size_t total = 0;
    OPEN_CHECK(api->DeviceTotalMem(&total, cu->cudev), "cuDeviceTotalMem");
    c->total_memory = total;
    /* Informational only: a driver that does not report them leaves 0. */
    if (api->DeviceGetAttribute(&v, CU_ATTR_L2_CACHE_SIZE, cu->cudev) == CUDA_SUCCESS && v > 0)
        c->l2_bytes = (uint64_t)v;
    if (api->DeviceGetAttribute(&v, CU_ATTR_GLOBAL_MEMORY_BUS_WIDTH, cu->cudev) == CUDA_SUCCESS && v > 0)
        c->memory_bus_bits = v;
    if (api->DeviceGetAttribute(&v, CU_ATTR_MEMORY_CLOCK_RATE, cu->cudev) == CUDA_SUCCESS && v > 0)
        c->memory_clock_khz = v;
    c->host_visible = false;
    c->dispatch_timestamps = true;
    c->graphs = true;
    c->runtime_compile = mlxc_nvrtc() != NULL;

    /* Time reference: an event recorded now, anchored to the host clock
     * once it has completed. */
    OPEN_CHECK(api->EventCreate(&cu->ref_ev, CU_EVENT_DEFAULT), "cuEventCreate");
    OPEN_CHECK(api->EventRecord(cu->ref_ev, cu->stream), "cuEventRecord");
    OPEN_CHECK(api->EventSynchronize(cu->ref_ev), "cuEventSynchronize");
    cu->ref_ns = (int64_t)mlxc_now_ns();
#undef OPEN_CHECK

    /* Graph mode is the default: see bench/results/cuda-*.md for the
     * measurements behind it.  MLXC_CUDA_GRAPHS=0 launches as encoded. */
    cu->graph_mode = env_flag("MLXC_CUDA_GRAPHS", 1);
    cu->range_edges = env_flag("MLXC_CUDA_RANGE_EDGES", 1);
    /* Programmatic dependent launch: in a graph, a built-in kernel is
     * scheduled while the kernel before it finishes and waits for it in
     * griddepcontrol.wait, which hides the launch gap between dependent
     * kernels (bench/results/models-h200-*.md).  MLXC_CUDA_PDL=0 turns it
     * off. */
    cu->pdl = env_flag("MLXC_CUDA_PDL", 1) && c->arch_major >= 9 && api->GraphAddDependencies;
    return MLXC_OK;
}

static void cu_free_dev(cu_dev *cu, bool lost) {
    const mlxc_cu_api *api = mlxc_cu();
    if (cu->ctx) (void)api->CtxSetCurrent(cu->ctx);
    if (cu->stream) (void)api->StreamSynchronize(cu->stream);
    cu_gcache_clear(cu);
    cu_lt_free(cu);
    for (cu_func *f = cu->funcs; f;) {
        cu_func *n = f->next;
        free(f);
        f = n;
    }
    for (cu_source *s = cu->sources; s;) {
        cu_source *n = s->next;
        free(s->name);
        free(s->src);
        free(s);
        s = n;
    }
    for (cu_module *m = cu->modules; m;) {
        cu_module *n = m->next;
        (void)api->ModuleUnload(m->mod);
        free(m);
        m = n;
    }
    for (size_t i = 0; cu->builtin && i < mlxc_cuda_nmodules; i++)
        if (cu->builtin[i]) (void)api->ModuleUnload(cu->builtin[i]);
    free(cu->builtin);
    for (size_t i = 0; i < cu->nevents; i++) (void)api->EventDestroy(cu->events[i]);
    free(cu->events);
    for (int i = 0; i < 2; i++) {
        if (cu->stage[i]) (void)api->MemFreeHost(cu->stage[i]);
        if (cu->stage_ev[i]) (void)api->EventDestroy(cu->stage_ev[i]);
    }
    if (cu->qw) (void)api->MemFreeHost(cu->qw);
    for (int i = 0; i < CU_QW_SLOTS; i++)
        if (cu->qw_ev[i]) (void)api->EventDestroy(cu->qw_ev[i]);
    if (cu->qr) (void)api->MemFreeHost(cu->qr);
    for (int i = 0; i < MLXC_BUFFER_READ_SLOTS; i++)
        if (cu->qr_ev[i]) (void)api->EventDestroy(cu->qr_ev[i]);
    if (cu->ref_ev) (void)api->EventDestroy(cu->ref_ev);
    for (int i = 0; i < 3; i++)
        if (cu->side[i]) (void)api->StreamDestroy(cu->side[i]);
    if (cu->stream) (void)api->StreamDestroy(cu->stream);
    free(cu->key);
    if (cu->ctx) {
        (void)api->DevicePrimaryCtxRelease(cu->cudev);
        /* A sticky error poisons the primary context for the whole process;
         * resetting it lets a device opened later start clean. */
        if (lost) (void)api->DevicePrimaryCtxReset(cu->cudev);
    }
    pthread_mutex_destroy(&cu->mu);
    free(cu);
}

static void cu_device_close(mlxc_device *dev) {
    cu_dev *cu = cu_of(dev);
    if (!cu) return;
    cu_free_dev(cu, atomic_load(&dev->lost));
    dev->impl = NULL;
}

static mlxc_status cu_synchronize(mlxc_device *dev) {
    cu_dev *cu = cu_of(dev);
    mlxc_status s = cu_enter(dev);
    if (s) return s;
    CUresult r = mlxc_cu()->StreamSynchronize(cu->stream);
    if (r != CUDA_SUCCESS) return cu_fail(dev, r, "cuStreamSynchronize");
    return MLXC_OK;
}

/* ---- memory -------------------------------------------------------------------- */

static mlxc_status cu_mem_alloc(mlxc_device *dev, mlxc_storage *st) {
    cu_dev *cu = cu_of(dev);
    mlxc_status s = cu_enter(dev);
    if (s) return s;
    const mlxc_cu_api *api = mlxc_cu();
    CUdeviceptr p = 0;
    CUresult r = api->MemAlloc(&p, st->bytes);
    if (r == CUDA_ERROR_OUT_OF_MEMORY)
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "cuMemAlloc of %zu bytes on %s: out of device memory",
                              st->bytes, dev->caps.name);
    if (r != CUDA_SUCCESS) return cu_fail(dev, r, "cuMemAlloc");
    /* Zero-fill on the device's stream: everything that later uses the
     * buffer (uploads, command buffers) is ordered after it. */
    r = api->MemsetD8Async(p, 0, st->bytes, cu->stream);
    if (r != CUDA_SUCCESS) {
        (void)api->MemFree(p);
        return cu_fail(dev, r, "cuMemsetD8Async");
    }
    st->addr = p;
    st->host = NULL;
    st->impl = NULL;
    return MLXC_OK;
}

static void cu_mem_free(mlxc_device *dev, mlxc_storage *st) {
    cu_dev *cu = cu_of(dev);
    if (!st->addr || !cu) return;
    if (cu_bind(cu) == MLXC_OK) (void)mlxc_cu()->MemFree(st->addr);
    st->addr = 0;
}

/* Large transfers go through two pinned chunks, so the host copy of one
 * chunk overlaps the DMA of the other.  Serialised per device. */
#define CU_STAGE_BYTES ((size_t)4 << 20)

static mlxc_status stage_init(mlxc_device *dev, cu_dev *cu) {
    if (cu->stage[0]) return MLXC_OK;
    const mlxc_cu_api *api = mlxc_cu();
    for (int i = 0; i < 2; i++) {
        CUresult r = api->MemHostAlloc(&cu->stage[i], CU_STAGE_BYTES, CU_MEMHOSTALLOC_PORTABLE);
        if (r != CUDA_SUCCESS) return cu_fail(dev, r, "cuMemHostAlloc (staging)");
        r = api->EventCreate(&cu->stage_ev[i], CU_EVENT_DISABLE_TIMING);
        if (r != CUDA_SUCCESS) return cu_fail(dev, r, "cuEventCreate");
        cu->stage_used[i] = 0;
    }
    cu->stage_bytes = CU_STAGE_BYTES;
    return MLXC_OK;
}

static mlxc_status cu_mem_write(mlxc_device *dev, mlxc_storage *st, size_t off, const void *src, size_t n) {
    cu_dev *cu = cu_of(dev);
    mlxc_status s = cu_enter(dev);
    if (s || n == 0) return s;
    const mlxc_cu_api *api = mlxc_cu();
    pthread_mutex_lock(&cu->mu);
    s = stage_init(dev, cu);
    CUresult r = CUDA_SUCCESS;
    const char *what = "";
    int last = 0;
    for (size_t done = 0, k = 0; !s && done < n; k ^= 1) {
        size_t len = n - done < cu->stage_bytes ? n - done : cu->stage_bytes;
        if (cu->stage_used[k] && (r = api->EventSynchronize(cu->stage_ev[k])) != CUDA_SUCCESS) { what = "cuEventSynchronize"; break; }
        memcpy(cu->stage[k], (const char *)src + done, len);
        if ((r = api->MemcpyHtoDAsync(st->addr + off + done, cu->stage[k], len, cu->stream)) != CUDA_SUCCESS) { what = "cuMemcpyHtoDAsync"; break; }
        if ((r = api->EventRecord(cu->stage_ev[k], cu->stream)) != CUDA_SUCCESS) { what = "cuEventRecord"; break; }
        cu->stage_used[k] = 1;
        last = (int)k;
        done += len;
    }
    /* Synchronous: the data is on the device when this returns. */
    if (!s && r == CUDA_SUCCESS && (r = api->EventSynchronize(cu->stage_ev[last])) != CUDA_SUCCESS) what = "cuEventSynchronize";
    cu->stage_used[0] = cu->stage_used[1] = 0;
    pthread_mutex_unlock(&cu->mu);
    if (s) return s;
    if (r != CUDA_SUCCESS) return cu_fail(dev, r, what);
    return MLXC_OK;
}

/* n pinned slots of MLXC_BUFFER_QUEUED_MAX bytes and an event each, made
 * on first use (*mem NULL until then); cu->mu is held. */
static CUresult pinned_slots(unsigned char **mem, CUevent *ev, int n, const char **what) {
    const mlxc_cu_api *api = mlxc_cu();
    if (*mem) return CUDA_SUCCESS;
    void *p = NULL;
    CUresult r = api->MemHostAlloc(&p, (size_t)n * MLXC_BUFFER_QUEUED_MAX, CU_MEMHOSTALLOC_PORTABLE);
    if (r != CUDA_SUCCESS) *what = "cuMemHostAlloc (queued copies)";
    for (int i = 0; i < n && r == CUDA_SUCCESS; i++)
        if (!ev[i] && (r = api->EventCreate(&ev[i], CU_EVENT_DISABLE_TIMING)) != CUDA_SUCCESS) *what = "cuEventCreate";
    if (r == CUDA_SUCCESS) *mem = p;
    else if (p) (void)api->MemFreeHost(p);
    return r;
}

/* A queued write: src into the next of CU_QW_SLOTS pinned slots (waiting
 * only for that slot's previous copy, CU_QW_SLOTS writes ago), copied on
 * the stream after everything submitted so far; no wait for it. */
static mlxc_status cu_mem_write_queued(mlxc_device *dev, mlxc_storage *st, size_t off, const void *src, size_t n) {
    cu_dev *cu = cu_of(dev);
    mlxc_status s = cu_enter(dev);
    if (s) return s;
    const mlxc_cu_api *api = mlxc_cu();
    CUresult r = CUDA_SUCCESS;
    const char *what = "";
    pthread_mutex_lock(&cu->mu);
    if (!cu->qw && (r = pinned_slots(&cu->qw, cu->qw_ev, CU_QW_SLOTS, &what)) == CUDA_SUCCESS)
        cu->qw_used = 0, cu->qw_next = 0;
    if (r == CUDA_SUCCESS) {
        const unsigned k = cu->qw_next;
        unsigned char *slot = cu->qw + (size_t)k * MLXC_BUFFER_QUEUED_MAX;
        if ((cu->qw_used >> k & 1u) && (r = api->EventSynchronize(cu->qw_ev[k])) != CUDA_SUCCESS)
            what = "cuEventSynchronize";
        if (r == CUDA_SUCCESS) {
            memcpy(slot, src, n);
            if ((r = api->MemcpyHtoDAsync(st->addr + off, slot, n, cu->stream)) != CUDA_SUCCESS) what = "cuMemcpyHtoDAsync";
            else if ((r = api->EventRecord(cu->qw_ev[k], cu->stream)) != CUDA_SUCCESS) what = "cuEventRecord";
            else cu->qw_used |= 1u << k, cu->qw_next = (k + 1) % CU_QW_SLOTS;
        }
    }
    pthread_mutex_unlock(&cu->mu);
    return r == CUDA_SUCCESS ? MLXC_OK : cu_fail(dev, r, what);
}

/* A queued read: n bytes into pinned slot `slot` by a copy on the stream
 * after everything submitted so far, its event recorded behind it; no
 * wait (a slot's earlier copy is ahead of it on the stream). */
static mlxc_status cu_mem_read_queued(mlxc_device *dev, mlxc_storage *st, size_t off, size_t n, unsigned slot) {
    mlxc_status s = cu_enter(dev);
    if (s) return s;
    cu_dev *cu = cu_of(dev);
    const char *what = "cuMemcpyDtoHAsync";
    pthread_mutex_lock(&cu->mu);
    CUresult r = pinned_slots(&cu->qr, cu->qr_ev, MLXC_BUFFER_READ_SLOTS, &what);
    if (r == CUDA_SUCCESS)
        r = mlxc_cu()->MemcpyDtoHAsync(cu->qr + (size_t)slot * MLXC_BUFFER_QUEUED_MAX, st->addr + off, n, cu->stream);
    if (r == CUDA_SUCCESS && (r = mlxc_cu()->EventRecord(cu->qr_ev[slot], cu->stream)) != CUDA_SUCCESS)
        what = "cuEventRecord";
    pthread_mutex_unlock(&cu->mu);
    return r == CUDA_SUCCESS ? MLXC_OK : cu_fail(dev, r, what);
}

/* The wait for slot `slot`'s queued read, then its bytes. */
static mlxc_status cu_mem_read_wait(mlxc_device *dev, unsigned slot, void *dst, size_t n) {
    cu_dev *cu = cu_of(dev);
    mlxc_status s = cu_enter(dev);
    if (s) return s;
    CUresult r = cu->qr ? mlxc_cu()->EventSynchronize(cu->qr_ev[slot]) : CUDA_ERROR_INVALID_VALUE;
    if (r != CUDA_SUCCESS) return cu_fail(dev, r, "cuEventSynchronize (queued read)");
    memcpy(dst, cu->qr + (size_t)slot * MLXC_BUFFER_QUEUED_MAX, n);
    return MLXC_OK;
}

static mlxc_status cu_mem_read(mlxc_device *dev, mlxc_storage *st, size_t off, void *dst, size_t n) {
    cu_dev *cu = cu_of(dev);
    mlxc_status s = cu_enter(dev);
    if (s || n == 0) return s;
    const mlxc_cu_api *api = mlxc_cu();
    pthread_mutex_lock(&cu->mu);
    s = stage_init(dev, cu);
    CUresult r = CUDA_SUCCESS;
    const char *what = "";
    /* Chunk k is copied out of staging while chunk k+1 is in flight. */
    size_t pend_off = 0, pend_len = 0;
    int pend_k = -1;
    for (size_t done = 0, k = 0; !s && done < n; k ^= 1) {
        size_t len = n - done < cu->stage_bytes ? n - done : cu->stage_bytes;
        if ((r = api->MemcpyDtoHAsync(cu->stage[k], st->addr + off + done, len, cu->stream)) != CUDA_SUCCESS) { what = "cuMemcpyDtoHAsync"; break; }
        if ((r = api->EventRecord(cu->stage_ev[k], cu->stream)) != CUDA_SUCCESS) { what = "cuEventRecord"; break; }
        if (pend_k >= 0) {
            if ((r = api->EventSynchronize(cu->stage_ev[pend_k])) != CUDA_SUCCESS) { what = "cuEventSynchronize"; break; }
            memcpy((char *)dst + pend_off, cu->stage[pend_k], pend_len);
        }
        pend_k = (int)k;
        pend_off = done;
        pend_len = len;
        done += len;
    }
    if (!s && r == CUDA_SUCCESS && pend_k >= 0) {
        if ((r = api->EventSynchronize(cu->stage_ev[pend_k])) != CUDA_SUCCESS)
            what = "cuEventSynchronize";
        else
            memcpy((char *)dst + pend_off, cu->stage[pend_k], pend_len);
    }
    pthread_mutex_unlock(&cu->mu);
    if (s) return s;
    if (r != CUDA_SUCCESS) return cu_fail(dev, r, what);
    return MLXC_OK;
}

/* ---- kernels ------------------------------------------------------------------- */

/* `known`: the parameter count from a signature table, or UINT32_MAX. */
static mlxc_status func_new(mlxc_device *dev, cu_dev *cu, CUmodule mod, const char *name, uint32_t known,
                            cu_func **out) {
    const mlxc_cu_api *api = mlxc_cu();
    CUfunction fn = NULL;
    CUresult r = api->ModuleGetFunction(&fn, mod, name);
    if (r == CUDA_ERROR_NOT_FOUND)
        return mlxc_set_error(MLXC_ERR_NOT_FOUND, "CUDA kernel %s: no such entry point (is it extern \"C\"?)", name);
    if (r != CUDA_SUCCESS) return cu_fail(dev, r, "cuModuleGetFunction");
    cu_func *f = calloc(1, sizeof *f);
    if (!f) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    f->fn = fn;
    f->nparams = UINT32_MAX;
    f->shared_limit = 48 * 1024;
    /* Parameter sizes from the driver (CUDA >= 12.4): wrong argument counts
     * and sizes are then rejected even for kernels registered without a
     * signature.  With a known count only those parameters are asked about:
     * probing past the end is an API error (compute-sanitizer reports it). */
    if (api->FuncGetParamInfo) {
        uint32_t n = 0, lim = known != UINT32_MAX ? known : MLXC_MAX_KERNEL_ARGS;
        for (; n <= lim; n++) {
            if (n == known) break;
            size_t po = 0, ps = 0;
            if (api->FuncGetParamInfo(fn, n, &po, &ps) != CUDA_SUCCESS) break;
            if (n < MLXC_MAX_KERNEL_ARGS) f->sizes[n] = (uint32_t)ps;
        }
        if (n <= MLXC_MAX_KERNEL_ARGS) f->nparams = n;
    }
    /* Kernels with a large static shared memory ring (the streaming
     * mat-vec) ask for the largest shared-memory carveout, or the default
     * split fits one block per SM. */
    int sbytes = 0;
    if (api->FuncGetAttribute && api->FuncGetAttribute(&sbytes, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, fn) == CUDA_SUCCESS &&
        sbytes >= 32 * 1024) {
        (void)api->FuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, 100);
        f->carveout_max = 1;
    }
    /* Without the attribute, static and dynamic shared memory together
     * stay within 48 KB. */
    if (sbytes > 0 && sbytes < f->shared_limit) f->shared_limit -= sbytes;
    f->next = cu->funcs;
    cu->funcs = f;
    *out = f;
    return MLXC_OK;
}

/* Load embedded module i (under mu). */
static mlxc_status builtin_load(mlxc_device *dev, cu_dev *cu, size_t i) {
    if (cu->builtin[i]) return MLXC_OK;
    CUresult r = mlxc_cu()->ModuleLoadData(&cu->builtin[i], mlxc_cuda_modules[i].image);
    if (r == CUDA_SUCCESS) return MLXC_OK;
    cu->builtin[i] = NULL;
    char msg[200];
    mlxc_cu_describe(r, msg, sizeof msg);
    return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "loading the embedded CUDA kernels %s on %s (sm_%d%d): %s",
                          mlxc_cuda_modules[i].name, dev->caps.name, dev->caps.arch_major, dev->caps.arch_minor, msg);
}

/* The module of built-in `name` (under mu).  Modules are loaded only when
 * needed: the family's own when the name maps to one, else the loaded ones
 * are asked first and the others loaded one at a time until one has it. */
static mlxc_status builtin_find(mlxc_device *dev, cu_dev *cu, const char *name, CUmodule *out) {
    const mlxc_cu_api *api = mlxc_cu();
    size_t n = mlxc_cuda_nmodules;
    if (n == 0)
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "CUDA kernel %s: the library was built without nvcc (no built-in CUDA kernels)",
                              name);
    if (!cu->builtin && !(cu->builtin = calloc(n, sizeof *cu->builtin)))
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    const char *fam = cu_builtin_family(name);
    for (size_t i = 0; fam && i < n; i++) {
        if (strcmp(mlxc_cuda_modules[i].name, fam) != 0) continue;
        mlxc_status s = builtin_load(dev, cu, i);
        if (s) return s;
        *out = cu->builtin[i];
        return MLXC_OK;
    }
    /* Pass 0: the loaded modules; pass 1: load the rest in turn. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            if ((cu->builtin[i] != NULL) != (pass == 0)) continue;
            mlxc_status s = builtin_load(dev, cu, i);
            if (s) return s;
            CUfunction fn = NULL;
            CUresult r = api->ModuleGetFunction(&fn, cu->builtin[i], name);
            if (r == CUDA_SUCCESS) {
                *out = cu->builtin[i];
                return MLXC_OK;
            }
            if (r != CUDA_ERROR_NOT_FOUND) return cu_fail(dev, r, "cuModuleGetFunction");
        }
    }
    return mlxc_set_error(MLXC_ERR_NOT_FOUND, "CUDA kernel %s: in none of the %zu embedded modules (is it extern \"C\"?)",
                          name, n);
}

static mlxc_status cu_kernel_resolve(mlxc_device *dev, mlxc_kernel *k) {
    cu_dev *cu = cu_of(dev);
    mlxc_status s = cu_enter(dev);
    if (s) return s;
    pthread_mutex_lock(&cu->mu);
    cu_func *f = NULL;
    const cu_source *src = NULL;
    for (const cu_source *e = cu->sources; e; e = e->next)
        if (strcmp(e->name, k->name) == 0) { src = e; break; }
    if (!src && cu_lt_name(k->name)) {
        s = cu_lt_resolve(dev, cu, k, &f);
    } else if (src) {
        /* Registered source wins over a built-in of the same name. */
        CUmodule mod = NULL;
        s = cu_nvrtc_module(dev, k->name, src->src, k->constants, k->nconstants, &mod);
        /* A caller's signature gives the count, so the driver is not probed
         * past the last parameter. */
        if (!s) s = func_new(dev, cu, mod, k->name, src->nparams, &f);
    } else {
        const mlxc_kernel_signature *sig = cu_builtin_sig(k->name);
        if (!sig) {
            pthread_mutex_unlock(&cu->mu);
            return mlxc_set_error(MLXC_ERR_NOT_FOUND, "no CUDA kernel named %s", k->name);
        }
        CUmodule mod = NULL;
        s = builtin_find(dev, cu, k->name, &mod);
        if (s) {
            pthread_mutex_unlock(&cu->mu);
            return s;
        }
        s = func_new(dev, cu, mod, k->name, sig->nparams, &f);
        if (!s) {
            f->pdl = true;
            /* the streaming mat-vecs load their first weights before they
             * wait (qmatmul.cu, MLXC_PDL_INSIDE): qmvt tracks x then the
             * weight, qmvf and qmvr x, aux and g then the weight, qmvp x
             * and g then its two weights (ops/qmatmul.c); the fused-rope decode attention its first
             * K/V tiles (attention.cu): six operands, then pos and the
             * caches (ops/attention.c); the one-pass MoE router its norm's
             * weights (moe.cu): x, then the norm, the router and the bias
             * (ops/moe.c) */
            f->pdl_late = strncmp(k->name, "qmvt_", 5) == 0 || strncmp(k->name, "moe_router_", 11) == 0 ? 1
                          : strncmp(k->name, "qmvf_", 5) == 0 || strncmp(k->name, "qmvr_", 5) == 0 ? 3
                          : strncmp(k->name, "qmvp_", 5) == 0                                      ? 2
                          : strncmp(k->name, "attn_decode_qkv_", 16) == 0                          ? 6
                                                                                                   : 0;
            if (f->nparams != UINT32_MAX && f->nparams != sig->nparams) {
                pthread_mutex_unlock(&cu->mu);
                return mlxc_set_error(MLXC_ERR_INTERNAL, "built-in CUDA kernel %s: table says %u parameters, module %u",
                                      k->name, sig->nparams, f->nparams);
            }
            for (uint32_t i = 0; f->nparams != UINT32_MAX && i < sig->nparams; i++) {
                uint32_t want = sig->kinds[i] == MLXC_PARAM_PTR ? 8 : sig->sizes[i];
                if (f->sizes[i] != want) {
                    pthread_mutex_unlock(&cu->mu);
                    return mlxc_set_error(MLXC_ERR_INTERNAL, "built-in CUDA kernel %s: parameter %u is %u bytes in the module, %u in the table",
                                          k->name, i, f->sizes[i], want);
                }
            }
            f->nparams = sig->nparams;
            for (uint32_t i = 0; i < sig->nparams; i++)
                f->sizes[i] = sig->kinds[i] == MLXC_PARAM_PTR ? 8 : sig->sizes[i];
            k->has_sig = true;
            k->sig = *sig;
        }
    }
    pthread_mutex_unlock(&cu->mu);
    if (s) return s;
    k->impl = f;
    return MLXC_OK;
}

static mlxc_status cu_kernel_register_source(mlxc_device *dev, const char *name, const char *src,
                                             const mlxc_kernel_signature *sig) {
    cu_dev *cu = cu_of(dev);
    if (!mlxc_nvrtc())
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "kernel %s: NVRTC (libnvrtc.so) could not be loaded", name);
    char *nm = strdup(name), *sc = strdup(src);
    if (!nm || !sc) {
        free(nm);
        free(sc);
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    pthread_mutex_lock(&cu->mu);
    cu_source *e = cu->sources;
    while (e && strcmp(e->name, name) != 0) e = e->next;
    if (e) {
        free(nm);
        free(e->src);
        e->src = sc;
        e->nparams = sig ? sig->nparams : UINT32_MAX;
    } else {
        e = calloc(1, sizeof *e);
        if (!e) {
            pthread_mutex_unlock(&cu->mu);
            free(nm);
            free(sc);
            return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
        }
        e->name = nm;
        e->src = sc;
        e->nparams = sig ? sig->nparams : UINT32_MAX;
        e->next = cu->sources;
        cu->sources = e;
    }
    pthread_mutex_unlock(&cu->mu);
    return MLXC_OK;
}

/* ---- timelines ------------------------------------------------------------------
 * A timeline is one 64-bit word in pinned, device-mapped host memory: the
 * stream writes it (cuStreamWriteValue64) and waits on it
 * (cuStreamWaitValue64 >= v) without the host, and the host reads the
 * completed value directly. */

typedef struct cu_timeline {
    volatile uint64_t *host;
    CUdeviceptr        dptr;
} cu_timeline;

static mlxc_status cu_timeline_create(mlxc_device *dev, mlxc_timeline *tl) {
    cu_dev *cu = cu_of(dev);
    mlxc_status s = cu_bind(cu);
    if (s) return s;
    const mlxc_cu_api *api = mlxc_cu();
    cu_timeline *t = calloc(1, sizeof *t);
    if (!t) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    void *p = NULL;
    CUresult r = api->MemHostAlloc(&p, 64, CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP);
    if (r != CUDA_SUCCESS) {
        free(t);
        return cu_fail(dev, r, "cuMemHostAlloc (timeline)");
    }
    memset(p, 0, 64);
    r = api->MemHostGetDevicePointer(&t->dptr, p, 0);
    if (r != CUDA_SUCCESS) {
        (void)api->MemFreeHost(p);
        free(t);
        return cu_fail(dev, r, "cuMemHostGetDevicePointer");
    }
    t->host = p;
    tl->impl = t;
    return MLXC_OK;
}

static void cu_timeline_destroy(mlxc_device *dev, mlxc_timeline *tl) {
    cu_timeline *t = tl->impl;
    if (!t) return;
    cu_dev *cu = cu_of(dev);
    if (cu_bind(cu) == MLXC_OK) {
        /* The stream may still write or wait on the word. */
        (void)mlxc_cu()->StreamSynchronize(cu->stream);
        (void)mlxc_cu()->MemFreeHost((void *)t->host);
    }
    free(t);
    tl->impl = NULL;
}

static uint64_t cu_timeline_value(mlxc_device *dev, mlxc_timeline *tl) {
    (void)dev;
    cu_timeline *t = tl->impl;
    if (!t) return 0;
    return __atomic_load_n(t->host, __ATOMIC_ACQUIRE);
}

/* Used by cuda_immediate.c (declared in cuda_cmdbuf.h). */
CUdeviceptr cu_timeline_addr(const mlxc_timeline *tl);
CUdeviceptr cu_timeline_addr(const mlxc_timeline *tl) {
    const cu_timeline *t = tl->impl;
    return t ? t->dptr : 0;
}

static bool cu_auto_eligible(void) { return mlxc_cuda_nmodules > 0; }

const mlxc_backend mlxc_cuda_backend = {
    .name = "cuda",
    .kind = MLXC_BACKEND_CUDA,
    .device_count = cu_device_count,
    .auto_eligible = cu_auto_eligible,
    .device_open = cu_device_open,
    .device_close = cu_device_close,
    .synchronize = cu_synchronize,
    .mem_alloc = cu_mem_alloc,
    .mem_free = cu_mem_free,
    .mem_write = cu_mem_write,
    .mem_read = cu_mem_read,
    .mem_write_queued = cu_mem_write_queued,
    .mem_read_queued = cu_mem_read_queued,
    .mem_read_wait = cu_mem_read_wait,
    .kernel_resolve = cu_kernel_resolve,
    .kernel_register_source = cu_kernel_register_source,
    .kernel_register_cpu = NULL,
    .timeline_create = cu_timeline_create,
    .timeline_destroy = cu_timeline_destroy,
    .timeline_value = cu_timeline_value,
    .cb_begin = cu_cb_begin,
    .cb_record = cu_cb_record,
    .cb_submit = cu_cb_submit,
    .cb_poll = cu_cb_poll,
    .cb_wait = cu_cb_wait,
    .cb_release = cu_cb_release,
    .exec_create = cu_exec_create,
    .exec_destroy = cu_exec_destroy,
};
