/* The CPU backend: a FIFO queue thread that executes committed command
 * buffers in order, and a worker pool that runs the thread groups of every
 * dispatch in one barrier group concurrently.  Timelines are counters with a
 * condition variable; timestamps come from the monotonic clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/internal.h"
#include "kernels/cpu/cpu_kernels.h"

#define CPU_SHARED_BYTES (64 * 1024)
#define CPU_MAX_THREADS_PER_GROUP 1024

/* Spin this long before sleeping: short command buffers finish sooner than
 * a sleeping thread can be woken. */
#define CPU_SPIN_NS 30000

/* ---- worker pool --------------------------------------------------------------- */

typedef struct work_item {
    const mlxc_cmd_dispatch *d;
    uint64_t                 g0, g1;   /* linear group range [g0, g1) */
} work_item;

typedef struct cpu_pool {
    pthread_t      *threads;
    int             nthreads;          /* pool threads (the queue thread also works) */
    pthread_mutex_t lock;
    pthread_cond_t  wake, idle;
    uint64_t        generation;
    int             busy;
    bool            stop;
    /* current job */
    work_item      *items;
    size_t          nitems;
    _Atomic size_t  next;
    _Atomic int     fault;
    void          **scratch;           /* per worker, CPU_SHARED_BYTES, 64-aligned */
} cpu_pool;

static void run_items(cpu_pool *p, void *scratch) {
    void *argv[MLXC_MAX_KERNEL_ARGS];
    uint32_t argsz[MLXC_MAX_KERNEL_ARGS];
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= p->nitems) return;
        const work_item *it = &p->items[i];
        const mlxc_cmd_dispatch *d = it->d;
        for (uint32_t a = 0; a < d->nargs; a++) {
            argv[a] = d->args[a].is_ptr ? d->args[a].host : (void *)d->args[a].bytes;
            argsz[a] = d->args[a].is_ptr ? 0 : d->args[a].size;
        }
        int fault = 0;
        mlxc_cpu_launch l = {
            .args = argv, .arg_sizes = argsz, .nargs = d->nargs, .grid = d->grid, .block = d->block,
            .shared = scratch, .shared_bytes = d->shared_bytes,
            .constants = d->kernel->constants, .nconstants = d->kernel->nconstants, .fault = &fault,
        };
        mlxc_cpu_kernel_fn fn = (mlxc_cpu_kernel_fn)(uintptr_t)d->kernel->impl;
        uint64_t gxy = (uint64_t)d->grid.x * d->grid.y;
        for (uint64_t g = it->g0; g < it->g1 && !fault; g++) {
            l.group.x = (uint32_t)(g % d->grid.x);
            l.group.y = (uint32_t)((g / d->grid.x) % d->grid.y);
            l.group.z = (uint32_t)(g / gxy);
            fn(&l);
        }
        if (fault) atomic_store(&p->fault, fault);
    }
}

static void *worker_main(void *arg) {
    void **a = arg;
    cpu_pool *p = a[0];
    void *scratch = a[1];
    free(a);
    uint64_t seen = 0;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (!p->stop && p->generation == seen) {
            /* Barrier groups follow each other within microseconds: stay hot. */
            uint64_t t0 = mlxc_now_ns();
            while (!p->stop && p->generation == seen && mlxc_now_ns() - t0 < CPU_SPIN_NS) {
                pthread_mutex_unlock(&p->lock);
                sched_yield();
                pthread_mutex_lock(&p->lock);
            }
        }
        while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->lock);
        if (p->stop) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->lock);
        run_items(p, scratch);
        pthread_mutex_lock(&p->lock);
        if (--p->busy == 0) pthread_cond_signal(&p->idle);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Run every dispatch in `ds` concurrently; returns a fault code (0: none). */
static int pool_run(cpu_pool *p, const mlxc_cmd_dispatch *const *ds, size_t n, work_item **buf, size_t *cap) {
    int total_threads = p->nthreads + 1;
    size_t need = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t g = (uint64_t)ds[i]->grid.x * ds[i]->grid.y * ds[i]->grid.z;
        uint64_t chunks = (uint64_t)total_threads * 4;
        need += (size_t)(g < chunks ? g : chunks);
    }
    if (need > *cap) {
        work_item *v = realloc(*buf, need * sizeof *v);
        if (!v) return -1;
        *buf = v;
        *cap = need;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t g = (uint64_t)ds[i]->grid.x * ds[i]->grid.y * ds[i]->grid.z;
        uint64_t chunks = (uint64_t)total_threads * 4;
        if (chunks > g) chunks = g;
        uint64_t per = (g + chunks - 1) / chunks;
        for (uint64_t g0 = 0; g0 < g; g0 += per) {
            (*buf)[k].d = ds[i];
            (*buf)[k].g0 = g0;
            (*buf)[k].g1 = g0 + per < g ? g0 + per : g;
            k++;
        }
    }
    p->items = *buf;
    p->nitems = k;
    atomic_store(&p->next, 0);
    atomic_store(&p->fault, 0);
    bool parallel = p->nthreads > 0 && k > 1;
    if (parallel) {
        pthread_mutex_lock(&p->lock);
        p->busy = p->nthreads;
        p->generation++;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    run_items(p, p->scratch[p->nthreads]);
    if (parallel) {
        pthread_mutex_lock(&p->lock);
        while (p->busy > 0) pthread_cond_wait(&p->idle, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
    return atomic_load(&p->fault);
}

/* ---- device -------------------------------------------------------------------------- */

typedef struct cpu_kernel_entry { char name[MLXC_MAX_KERNEL_NAME]; mlxc_cpu_kernel_fn fn; } cpu_kernel_entry;

typedef struct cpu_cb {
    _Atomic bool done;
    bool         failed;
} cpu_cb;

typedef struct cpu_device {
    cpu_pool         pool;
    pthread_t        queue_thread;
    pthread_mutex_t  qlock;
    pthread_cond_t   qcond;        /* new work or stop     */
    pthread_cond_t   done_cond;    /* a buffer completed   */
    mlxc_cmdbuf    **queue;
    size_t           qhead, qtail, qcap;
    bool             running;      /* a popped buffer is executing */
    bool             stop;
    pthread_mutex_t  klock;
    cpu_kernel_entry *user;
    size_t           nuser;
    pthread_mutex_t  tlock;        /* timelines */
    pthread_cond_t   tcond;
} cpu_device;

typedef struct cpu_timeline { uint64_t value; } cpu_timeline;

static mlxc_status cpu_device_count(int *count) {
    *count = 1;
    return MLXC_OK;
}

/* The largest cache level cpu0 reports (the size a working set must exceed
 * to come from memory); 0 when sysfs says nothing. */
static uint64_t largest_cache_bytes(void) {
    uint64_t best = 0;
    for (int i = 0; i < 16; i++) {
        char path[96];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        unsigned long long v = 0;
        char unit = 0;
        int n = fscanf(f, "%llu%c", &v, &unit);
        fclose(f);
        if (n < 1) continue;
        if (n == 2 && (unit == 'K' || unit == 'k')) v <<= 10;
        else if (n == 2 && (unit == 'M' || unit == 'm')) v <<= 20;
        else if (n == 2 && (unit == 'G' || unit == 'g')) v <<= 30;
        if (v > best) best = v;
    }
    return best;
}

static int default_threads(void) {
    int n = mlxc_env()->cpu_threads;
    if (n > 0) return n;
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)c : 1;
}

static void execute(mlxc_device *dev, mlxc_cmdbuf *cb);

static void *queue_main(void *arg) {
    mlxc_device *dev = arg;
    cpu_device *cd = dev->impl;
    pthread_mutex_lock(&cd->qlock);
    for (;;) {
        if (!cd->stop && cd->qhead == cd->qtail) {
            /* Poll a little before sleeping: the next commit often follows soon. */
            uint64_t t0 = mlxc_now_ns();
            while (!cd->stop && cd->qhead == cd->qtail && mlxc_now_ns() - t0 < CPU_SPIN_NS) {
                pthread_mutex_unlock(&cd->qlock);
                sched_yield();
                pthread_mutex_lock(&cd->qlock);
            }
        }
        while (!cd->stop && cd->qhead == cd->qtail) pthread_cond_wait(&cd->qcond, &cd->qlock);
        if (cd->qhead == cd->qtail && cd->stop) break;
        mlxc_cmdbuf *cb = cd->queue[cd->qhead % cd->qcap];
        cd->qhead++;
        cd->running = true;
        pthread_mutex_unlock(&cd->qlock);
        execute(dev, cb);
        pthread_mutex_lock(&cd->qlock);
        cd->running = false;
        atomic_store(&((cpu_cb *)cb->impl)->done, true);
        pthread_cond_broadcast(&cd->done_cond);
    }
    pthread_mutex_unlock(&cd->qlock);
    return NULL;
}

static void cpu_device_close(mlxc_device *dev);

static mlxc_status cpu_device_open(mlxc_device *dev, int index) {
    (void)index;
    cpu_device *cd = calloc(1, sizeof *cd);
    if (!cd) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    dev->impl = cd;
    int nt = default_threads();
    cpu_pool *p = &cd->pool;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->idle, NULL);
    pthread_mutex_init(&cd->qlock, NULL);
    pthread_cond_init(&cd->qcond, NULL);
    pthread_cond_init(&cd->done_cond, NULL);
    pthread_mutex_init(&cd->klock, NULL);
    pthread_mutex_init(&cd->tlock, NULL);
    pthread_cond_init(&cd->tcond, NULL);
    p->scratch = calloc((size_t)nt, sizeof *p->scratch);
    p->threads = calloc((size_t)nt, sizeof *p->threads);
    cd->qcap = 256;
    cd->queue = calloc(cd->qcap, sizeof *cd->queue);
    if (!p->scratch || !p->threads || !cd->queue) goto oom;
    for (int i = 0; i < nt; i++)
        if (!(p->scratch[i] = aligned_alloc(64, CPU_SHARED_BYTES))) goto oom;
    for (int i = 0; i < nt - 1; i++) {
        void **a = malloc(2 * sizeof *a);
        if (!a) goto oom;
        a[0] = p;
        a[1] = p->scratch[i];
        if (pthread_create(&p->threads[i], NULL, worker_main, a) != 0) { free(a); goto oom; }
        p->nthreads++;
    }
    if (pthread_create(&cd->queue_thread, NULL, queue_main, dev) != 0) goto oom;
    /* The queue thread works too: give it the last scratch slot. */
    p->scratch[p->nthreads] = p->scratch[nt - 1];
    if (p->nthreads != nt - 1) p->scratch[nt - 1] = NULL;
    mlxc_device_caps *c = &dev->caps;
    c->backend = MLXC_BACKEND_CPU;
    snprintf(c->name, sizeof c->name, "CPU (%d threads)", nt);
    c->compute_units = nt;
    c->max_threads_per_group = CPU_MAX_THREADS_PER_GROUP;
    c->max_shared_bytes = CPU_SHARED_BYTES;
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    c->total_memory = (pages > 0 && psize > 0) ? (uint64_t)pages * (uint64_t)psize : 0;
    c->host_visible = true;
    c->dispatch_timestamps = true;
    c->graphs = false;
    c->runtime_compile = false;
    c->l2_bytes = largest_cache_bytes();
    return MLXC_OK;
oom:
    cpu_device_close(dev);
    return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "cannot start the CPU worker threads");
}

static void cpu_device_close(mlxc_device *dev) {
    cpu_device *cd = dev->impl;
    if (!cd) return;
    cpu_pool *p = &cd->pool;
    if (cd->queue) {
        pthread_mutex_lock(&cd->qlock);
        cd->stop = true;
        pthread_cond_broadcast(&cd->qcond);
        pthread_mutex_unlock(&cd->qlock);
        if (cd->queue_thread) pthread_join(cd->queue_thread, NULL);
    }
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
    if (p->scratch) {
        for (int i = 0; i <= p->nthreads; i++) free(p->scratch[i]);
        free(p->scratch);
    }
    free(p->threads);
    free(cd->queue);
    free(cd->user);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&cd->qlock);
    pthread_cond_destroy(&cd->qcond);
    pthread_cond_destroy(&cd->done_cond);
    pthread_mutex_destroy(&cd->klock);
    pthread_mutex_destroy(&cd->tlock);
    pthread_cond_destroy(&cd->tcond);
    free(cd);
    dev->impl = NULL;
}

/* ---- memory ---------------------------------------------------------------------------- */

/* Large allocations come straight from mmap: the kernel hands out zeroed
 * pages (no memset pass over fresh memory) and can back them with huge pages. */
#define CPU_MMAP_MIN (1u << 20)

static mlxc_status cpu_mem_alloc(mlxc_device *dev, mlxc_storage *st) {
    (void)dev;
    size_t bytes = (st->bytes + 63) & ~(size_t)63;
    if (bytes < st->bytes) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "allocation of %zu bytes overflows", st->bytes);
    void *p;
    if (bytes >= CPU_MMAP_MIN) {
        p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "cannot map %zu bytes of host memory", st->bytes);
#ifdef MADV_HUGEPAGE
        (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    } else {
        p = aligned_alloc(64, bytes);
        if (!p) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes of host memory", st->bytes);
        memset(p, 0, bytes);
    }
    st->host = p;
    st->addr = (uint64_t)(uintptr_t)p;
    return MLXC_OK;
}

static void cpu_mem_free(mlxc_device *dev, mlxc_storage *st) {
    (void)dev;
    size_t bytes = (st->bytes + 63) & ~(size_t)63;
    if (bytes >= CPU_MMAP_MIN) munmap(st->host, bytes);
    else free(st->host);
}

static mlxc_status cpu_mem_write(mlxc_device *dev, mlxc_storage *st, size_t off, const void *src, size_t n) {
    (void)dev;
    memcpy((char *)st->host + off, src, n);
    return MLXC_OK;
}

static mlxc_status cpu_mem_read(mlxc_device *dev, mlxc_storage *st, size_t off, void *dst, size_t n) {
    (void)dev;
    memcpy(dst, (const char *)st->host + off, n);
    return MLXC_OK;
}

/* ---- kernels -------------------------------------------------------------------------------- */

static mlxc_status cpu_kernel_resolve(mlxc_device *dev, mlxc_kernel *k) {
    cpu_device *cd = dev->impl;
    pthread_mutex_lock(&cd->klock);
    for (size_t i = 0; i < cd->nuser; i++) {
        if (strcmp(cd->user[i].name, k->name) == 0) {
            k->impl = (void *)(uintptr_t)cd->user[i].fn;
            pthread_mutex_unlock(&cd->klock);
            return MLXC_OK;
        }
    }
    pthread_mutex_unlock(&cd->klock);
    const mlxc_cpu_builtin *b = mlxc_cpu_builtin_find(k->name);
    if (!b) return mlxc_set_error(MLXC_ERR_NOT_FOUND, "no CPU kernel named \"%s\"", k->name);
    k->impl = (void *)(uintptr_t)b->fn;
    k->has_sig = true;
    k->sig = b->sig;
    return MLXC_OK;
}

static mlxc_status cpu_kernel_register_cpu(mlxc_device *dev, const char *name, mlxc_cpu_kernel_fn fn) {
    cpu_device *cd = dev->impl;
    pthread_mutex_lock(&cd->klock);
    for (size_t i = 0; i < cd->nuser; i++) {
        if (strcmp(cd->user[i].name, name) == 0) {
            cd->user[i].fn = fn;
            pthread_mutex_unlock(&cd->klock);
            return MLXC_OK;
        }
    }
    cpu_kernel_entry *v = realloc(cd->user, (cd->nuser + 1) * sizeof *v);
    if (!v) { pthread_mutex_unlock(&cd->klock); return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory"); }
    cd->user = v;
    snprintf(v[cd->nuser].name, sizeof v[cd->nuser].name, "%s", name);
    v[cd->nuser].fn = fn;
    cd->nuser++;
    pthread_mutex_unlock(&cd->klock);
    return MLXC_OK;
}

/* ---- timelines ---------------------------------------------------------------------------------- */

static mlxc_status cpu_timeline_create(mlxc_device *dev, mlxc_timeline *tl) {
    (void)dev;
    tl->impl = calloc(1, sizeof(cpu_timeline));
    return tl->impl ? MLXC_OK : mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
}

static void cpu_timeline_destroy(mlxc_device *dev, mlxc_timeline *tl) {
    (void)dev;
    free(tl->impl);
    tl->impl = NULL;
}

static uint64_t cpu_timeline_value(mlxc_device *dev, mlxc_timeline *tl) {
    cpu_device *cd = dev->impl;
    pthread_mutex_lock(&cd->tlock);
    uint64_t v = ((cpu_timeline *)tl->impl)->value;
    pthread_mutex_unlock(&cd->tlock);
    return v;
}

/* ---- execution -------------------------------------------------------------------------------------- */

typedef struct exec_state {
    const mlxc_cmd_dispatch **group;
    size_t ngroup, capgroup;
    work_item *items;
    size_t capitems;
} exec_state;

static bool flush_group(mlxc_device *dev, mlxc_cmdbuf *cb, exec_state *es) {
    cpu_device *cd = dev->impl;
    if (!es->ngroup) return true;
    int fault;
    if (cb->profile_dispatch) {
        /* Profiling serialises dispatches so each has its own interval. */
        fault = 0;
        for (size_t i = 0; i < es->ngroup && !fault; i++) {
            uint32_t k = es->group[i]->index;
            cb->disp_start[k] = mlxc_now_ns();
            fault = pool_run(&cd->pool, &es->group[i], 1, &es->items, &es->capitems);
            cb->disp_end[k] = mlxc_now_ns();
        }
    } else {
        fault = pool_run(&cd->pool, es->group, es->ngroup, &es->items, &es->capitems);
    }
    es->ngroup = 0;
    if (fault) {
        snprintf(cb->error, sizeof cb->error, fault < 0 ? "out of host memory scheduling a dispatch"
                                                         : "a kernel reported a device fault (code %d)", fault);
        return false;
    }
    return true;
}

static void execute(mlxc_device *dev, mlxc_cmdbuf *cb) {
    cpu_device *cd = dev->impl;
    cpu_cb *cc = cb->impl;
    exec_state es = {0};
    cb->start_ns = mlxc_now_ns();
    bool ok = !atomic_load(&dev->lost);
    if (!ok) snprintf(cb->error, sizeof cb->error, "device lost before the command buffer ran");
    for (size_t i = 0; ok && i < cb->ncmds; i++) {
        const mlxc_cmd *c = &cb->cmds[i];
        switch (c->type) {
        case MLXC_CMD_DISPATCH:
            if (es.ngroup == es.capgroup) {
                size_t nc = es.capgroup ? es.capgroup * 2 : 16;
                const mlxc_cmd_dispatch **v = realloc(es.group, nc * sizeof *v);
                if (!v) { ok = false; snprintf(cb->error, sizeof cb->error, "out of host memory"); break; }
                es.group = v;
                es.capgroup = nc;
            }
            es.group[es.ngroup++] = &c->u.d;
            break;
        case MLXC_CMD_BARRIER:
            ok = flush_group(dev, cb, &es);
            break;
        case MLXC_CMD_WAIT: {
            ok = flush_group(dev, cb, &es);
            if (!ok) break;
            cpu_timeline *t = c->u.sync.tl->impl;
            pthread_mutex_lock(&cd->tlock);
            /* Buffers run in commit order, so a value not reached by now can only
             * come from a later buffer: report it rather than deadlock. */
            bool reached = t->value >= c->u.sync.value;
            pthread_mutex_unlock(&cd->tlock);
            if (!reached) {
                ok = false;
                snprintf(cb->error, sizeof cb->error,
                         "waits for timeline value %llu, which no earlier command buffer signalled",
                         (unsigned long long)c->u.sync.value);
            }
            break;
        }
        case MLXC_CMD_SIGNAL: {
            ok = flush_group(dev, cb, &es);
            if (!ok) break;
            cpu_timeline *t = c->u.sync.tl->impl;
            pthread_mutex_lock(&cd->tlock);
            if (c->u.sync.value > t->value) t->value = c->u.sync.value;
            pthread_cond_broadcast(&cd->tcond);
            pthread_mutex_unlock(&cd->tlock);
            break;
        }
        case MLXC_CMD_EXEC:
            ok = false;
            snprintf(cb->error, sizeof cb->error, "the CPU backend has no native graph executables");
            break;
        }
    }
    if (ok) ok = flush_group(dev, cb, &es);
    cb->end_ns = mlxc_now_ns();
    cc->failed = !ok;
    free(es.group);
    free(es.items);
}

static mlxc_status cpu_cb_begin(mlxc_cmdbuf *cb) {
    cb->impl = calloc(1, sizeof(cpu_cb));
    return cb->impl ? MLXC_OK : mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
}

static mlxc_status cpu_cb_submit(mlxc_cmdbuf *cb) {
    cpu_device *cd = cb->dev->impl;
    pthread_mutex_lock(&cd->qlock);
    if (cd->qtail - cd->qhead == cd->qcap) {
        size_t nc = cd->qcap * 2;
        mlxc_cmdbuf **v = malloc(nc * sizeof *v);
        if (!v) { pthread_mutex_unlock(&cd->qlock); return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory"); }
        size_t n = cd->qtail - cd->qhead;
        for (size_t i = 0; i < n; i++) v[i] = cd->queue[(cd->qhead + i) % cd->qcap];
        free(cd->queue);
        cd->queue = v;
        cd->qcap = nc;
        cd->qhead = 0;
        cd->qtail = n;
    }
    cd->queue[cd->qtail % cd->qcap] = cb;
    cd->qtail++;
    pthread_cond_signal(&cd->qcond);
    pthread_mutex_unlock(&cd->qlock);
    return MLXC_OK;
}

static bool cpu_cb_poll(mlxc_cmdbuf *cb) { return atomic_load(&((cpu_cb *)cb->impl)->done); }

static bool spin_until(_Atomic bool *flag) {
    uint64_t t0 = mlxc_now_ns();
    while (!atomic_load_explicit(flag, memory_order_acquire)) {
        if (mlxc_now_ns() - t0 > CPU_SPIN_NS) return false;
    }
    return true;
}

static mlxc_status cpu_cb_wait(mlxc_cmdbuf *cb) {
    cpu_device *cd = cb->dev->impl;
    cpu_cb *cc = cb->impl;
    if (!atomic_load(&cc->done) && !spin_until(&cc->done)) {
        pthread_mutex_lock(&cd->qlock);
        while (!atomic_load(&cc->done)) pthread_cond_wait(&cd->done_cond, &cd->qlock);
        pthread_mutex_unlock(&cd->qlock);
    }
    if (cc->failed) return mlxc_set_error(MLXC_ERR_COMMAND_BUFFER, "%s", cb->error);
    return MLXC_OK;
}

static void cpu_cb_release(mlxc_cmdbuf *cb) {
    free(cb->impl);
    cb->impl = NULL;
}

static mlxc_status cpu_synchronize(mlxc_device *dev) {
    cpu_device *cd = dev->impl;
    pthread_mutex_lock(&cd->qlock);
    /* Wait for the queue to drain: the last submitted buffer's completion. */
    while (cd->qhead != cd->qtail || cd->running) pthread_cond_wait(&cd->done_cond, &cd->qlock);
    pthread_mutex_unlock(&cd->qlock);
    return MLXC_OK;
}

const mlxc_backend mlxc_cpu_backend = {
    .name = "cpu",
    .kind = MLXC_BACKEND_CPU,
    .device_count = cpu_device_count,
    .device_open = cpu_device_open,
    .device_close = cpu_device_close,
    .synchronize = cpu_synchronize,
    .mem_alloc = cpu_mem_alloc,
    .mem_free = cpu_mem_free,
    .mem_write = cpu_mem_write,
    .mem_read = cpu_mem_read,
    .kernel_resolve = cpu_kernel_resolve,
    .kernel_register_cpu = cpu_kernel_register_cpu,
    .timeline_create = cpu_timeline_create,
    .timeline_destroy = cpu_timeline_destroy,
    .timeline_value = cpu_timeline_value,
    .cb_begin = cpu_cb_begin,
    .cb_submit = cpu_cb_submit,
    .cb_poll = cpu_cb_poll,
    .cb_wait = cpu_cb_wait,
    .cb_release = cpu_cb_release,
};
