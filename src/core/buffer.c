/* Allocations (storage), buffer views, and the power-of-two pool. */
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static _Atomic uint64_t g_next_alloc_id = 1;

/* Wrapped memory with no release hook: nothing to free. */
static void wrap_noop(void *user) { (void)user; }

void mlxc_storage_retain(mlxc_storage *st) {
    atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
}

void mlxc_storage_release(mlxc_storage *st) {
    if (!st) return;
    if (atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) != 1) return;
    mlxc_device *dev = st->dev;
    if (st->on_release) st->on_release(st->user);
    else dev->be->mem_free(dev, st);
    free(st);
    mlxc_device_release(dev);
}

/* Validate a shape and compute its element count. */
static mlxc_status shape_elements(int ndim, const int64_t *shape, int64_t *count) {
    if (ndim < 0 || ndim > MLXC_MAX_DIMS)
        return mlxc_set_error(MLXC_ERR_SHAPE, "ndim %d outside 0..%d", ndim, MLXC_MAX_DIMS);
    if (ndim > 0 && !shape) return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "shape is NULL with ndim %d", ndim);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return mlxc_set_error(MLXC_ERR_SHAPE, "shape[%d] = %lld is negative", i, (long long)shape[i]);
        if (shape[i] != 0 && n > INT64_MAX / shape[i])
            return mlxc_set_error(MLXC_ERR_SHAPE, "shape overflows 64 bits");
        n *= shape[i];
    }
    *count = n;
    return MLXC_OK;
}

/* Fill dtype/shape of `b` for a view of `bytes` bytes. */
static mlxc_status set_layout(mlxc_buffer *b, size_t bytes, mlxc_dtype dtype, int ndim,
                              const int64_t *shape, bool exact) {
    size_t es = mlxc_dtype_size(dtype);
    if (es == 0) return mlxc_set_error(MLXC_ERR_DTYPE, "invalid dtype %d", (int)dtype);
    int64_t n;
    mlxc_status st = shape_elements(ndim, shape, &n);
    if (st) return st;
    b->dtype = dtype;
    if (ndim == 0) {
        if (bytes % es) return mlxc_set_error(MLXC_ERR_SHAPE, "%zu bytes is not a whole number of %s", bytes, mlxc_dtype_name(dtype));
        b->ndim = 1;
        b->shape[0] = (int64_t)(bytes / es);
        return MLXC_OK;
    }
    if ((uint64_t)n > SIZE_MAX / es) return mlxc_set_error(MLXC_ERR_SHAPE, "shape too large");
    size_t need = (size_t)n * es;
    if (exact ? need != bytes : need > bytes)
        return mlxc_set_error(MLXC_ERR_SHAPE, "shape needs %zu bytes of %s but the buffer has %zu", need,
                              mlxc_dtype_name(dtype), bytes);
    b->ndim = ndim;
    memcpy(b->shape, shape, (size_t)ndim * sizeof *shape);
    return MLXC_OK;
}

static mlxc_status storage_new(mlxc_device *dev, size_t bytes, mlxc_storage **out) {
    if (atomic_load(&dev->lost)) return mlxc_set_error(MLXC_ERR_DEVICE_LOST, "device %s is lost", dev->caps.name);
    mlxc_storage *st = calloc(1, sizeof *st);
    if (!st) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    st->dev = dev;
    st->bytes = bytes;
    st->id = atomic_fetch_add(&g_next_alloc_id, 1);
    atomic_store(&st->refs, 1);
    mlxc_device_reap(dev, false);
    mlxc_status s = dev->be->mem_alloc(dev, st);
    if (s) { free(st); return s; }
    mlxc_device_retain(dev);
    *out = st;
    return MLXC_OK;
}

static mlxc_status buffer_over(mlxc_storage *st, size_t offset, size_t bytes, mlxc_dtype dtype, int ndim,
                               const int64_t *shape, bool exact, mlxc_buffer **out) {
    mlxc_buffer *b = calloc(1, sizeof *b);
    if (!b) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    mlxc_status s = set_layout(b, bytes, dtype, ndim, shape, exact);
    if (s) { free(b); return s; }
    atomic_store(&b->refs, 1);
    b->st = st;
    b->offset = offset;
    b->bytes = bytes;
    mlxc_storage_retain(st);
    *out = b;
    return MLXC_OK;
}

mlxc_status mlxc_buffer_alloc(mlxc_device *dev, size_t bytes, mlxc_dtype dtype, int ndim,
                              const int64_t *shape, mlxc_buffer **out) {
    MLXC_CHECK_ARG(dev && out, "mlxc_buffer_alloc: NULL device or output");
    *out = NULL;
    MLXC_CHECK_ARG(bytes > 0, "mlxc_buffer_alloc: zero bytes");
    mlxc_buffer probe;
    mlxc_status s = set_layout(&probe, bytes, dtype, ndim, shape, false);
    if (s) return s;
    mlxc_storage *st;
    if ((s = storage_new(dev, bytes, &st))) return s;
    s = buffer_over(st, 0, bytes, dtype, ndim, shape, false, out);
    mlxc_storage_release(st);
    return s;
}

mlxc_status mlxc_buffer_wrap_host(mlxc_device *dev, void *ptr, size_t bytes, mlxc_dtype dtype, int ndim,
                                  const int64_t *shape, void (*on_release)(void *), void *user,
                                  mlxc_buffer **out) {
    MLXC_CHECK_ARG(dev && ptr && out, "mlxc_buffer_wrap_host: NULL argument");
    *out = NULL;
    MLXC_CHECK_ARG(bytes > 0, "mlxc_buffer_wrap_host: zero bytes");
    if (!dev->caps.host_visible)
        return mlxc_set_error(MLXC_ERR_UNSUPPORTED, "device %s cannot address host memory", dev->caps.name);
    mlxc_buffer probe;
    mlxc_status s = set_layout(&probe, bytes, dtype, ndim, shape, false);
    if (s) return s;
    mlxc_storage *st = calloc(1, sizeof *st);
    if (!st) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    st->dev = dev;
    st->bytes = bytes;
    st->id = atomic_fetch_add(&g_next_alloc_id, 1);
    st->host = ptr;
    st->addr = (uint64_t)(uintptr_t)ptr;
    st->on_release = on_release ? on_release : wrap_noop;
    st->user = user;
    atomic_store(&st->refs, 1);
    mlxc_device_retain(dev);
    s = buffer_over(st, 0, bytes, dtype, ndim, shape, false, out);
    if (s) st->on_release = wrap_noop; /* a failed wrap never calls the hook */
    mlxc_storage_release(st);
    return s;
}

mlxc_status mlxc_buffer_view(mlxc_buffer *parent, size_t byte_offset, mlxc_dtype dtype, int ndim,
                             const int64_t *shape, mlxc_buffer **out) {
    MLXC_CHECK_ARG(parent && out, "mlxc_buffer_view: NULL parent or output");
    *out = NULL;
    size_t es = mlxc_dtype_size(dtype);
    if (!es) return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_buffer_view: invalid dtype %d", (int)dtype);
    if (byte_offset > parent->bytes)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "view offset %zu beyond the parent's %zu bytes", byte_offset,
                              parent->bytes);
    size_t abs = parent->offset + byte_offset;
    if (abs % es)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "view offset %zu is not aligned to %s", abs,
                              mlxc_dtype_name(dtype));
    size_t bytes;
    if (ndim == 0) {
        bytes = parent->bytes - byte_offset;
        bytes -= bytes % es;
    } else {
        int64_t n;
        mlxc_status s = shape_elements(ndim, shape, &n);
        if (s) return s;
        if ((uint64_t)n > SIZE_MAX / es) return mlxc_set_error(MLXC_ERR_SHAPE, "view shape too large");
        bytes = (size_t)n * es;
    }
    if (bytes > parent->bytes - byte_offset)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "view [%zu, %zu) outside the parent's %zu bytes", byte_offset,
                              byte_offset + bytes, parent->bytes);
    if (bytes == 0) return mlxc_set_error(MLXC_ERR_SHAPE, "empty view");
    return buffer_over(parent->st, abs, bytes, dtype, ndim, shape, true, out);
}

mlxc_buffer *mlxc_buffer_retain(mlxc_buffer *buf) {
    if (buf) atomic_fetch_add_explicit(&buf->refs, 1, memory_order_relaxed);
    return buf;
}

void mlxc_buffer_release(mlxc_buffer *buf) {
    if (!buf) return;
    if (atomic_fetch_sub_explicit(&buf->refs, 1, memory_order_acq_rel) != 1) return;
    mlxc_storage_release(buf->st);
    free(buf);
}

size_t mlxc_buffer_bytes(const mlxc_buffer *b) { return b ? b->bytes : 0; }
size_t mlxc_buffer_offset(const mlxc_buffer *b) { return b ? b->offset : 0; }
size_t mlxc_buffer_alloc_bytes(const mlxc_buffer *b) { return b ? b->st->bytes : 0; }
mlxc_dtype mlxc_buffer_dtype(const mlxc_buffer *b) { return b ? b->dtype : MLXC_DTYPE_COUNT; }
int mlxc_buffer_ndim(const mlxc_buffer *b) { return b ? b->ndim : 0; }
mlxc_device *mlxc_buffer_device(const mlxc_buffer *b) { return b ? b->st->dev : NULL; }
uint64_t mlxc_buffer_alloc_id(const mlxc_buffer *b) { return b ? b->st->id : 0; }
uint64_t mlxc_buffer_device_address(const mlxc_buffer *b) { return b ? b->st->addr + b->offset : 0; }

mlxc_status mlxc_buffer_shape(const mlxc_buffer *b, int64_t *shape) {
    MLXC_CHECK_ARG(b && shape, "mlxc_buffer_shape: NULL argument");
    memcpy(shape, b->shape, (size_t)b->ndim * sizeof *shape);
    return MLXC_OK;
}

int64_t mlxc_buffer_elements(const mlxc_buffer *b) {
    if (!b) return 0;
    int64_t n = 1;
    for (int i = 0; i < b->ndim; i++) n *= b->shape[i];
    return n;
}

void *mlxc_buffer_host_ptr(const mlxc_buffer *b) {
    return (b && b->st->host) ? (char *)b->st->host + b->offset : NULL;
}

static mlxc_status check_io(const mlxc_buffer *b, size_t offset, const void *p, size_t n, const char *what) {
    MLXC_CHECK_ARG(b && p, "%s: NULL buffer or host pointer", what);
    MLXC_CHECK_ARG(n > 0, "%s: zero bytes", what);
    if (offset > b->bytes || n > b->bytes - offset)
        return mlxc_set_error(MLXC_ERR_OUT_OF_RANGE, "%s: [%zu, %zu) outside the view's %zu bytes", what, offset,
                              offset + n, b->bytes);
    if (atomic_load(&b->st->dev->lost))
        return mlxc_set_error(MLXC_ERR_DEVICE_LOST, "%s: device is lost", what);
    return MLXC_OK;
}

mlxc_status mlxc_buffer_write(mlxc_buffer *b, size_t offset, const void *src, size_t n) {
    mlxc_status s = check_io(b, offset, src, n, "mlxc_buffer_write");
    if (s) return s;
    return b->st->dev->be->mem_write(b->st->dev, b->st, b->offset + offset, src, n);
}

mlxc_status mlxc_buffer_write_queued(mlxc_buffer *b, size_t offset, const void *src, size_t n) {
    MLXC_CHECK_ARG(n <= MLXC_BUFFER_QUEUED_MAX, "mlxc_buffer_write_queued: %zu bytes (at most %d)", n,
                   MLXC_BUFFER_QUEUED_MAX);
    mlxc_status s = check_io(b, offset, src, n, "mlxc_buffer_write_queued");
    if (s) return s;
    mlxc_device *dev = b->st->dev;
    if (dev->be->mem_write_queued) return dev->be->mem_write_queued(dev, b->st, b->offset + offset, src, n);
    if ((s = dev->be->synchronize(dev))) return s;
    return dev->be->mem_write(dev, b->st, b->offset + offset, src, n);
}

/* The queued reads of a device: slot i holds the read whose ticket is seq
 * (ticket t lives in slot (t - 1) % MLXC_BUFFER_READ_SLOTS), its size, and
 * its bytes where the backend reads at once (no mem_read_queued). */
struct mlxc_read_ring {
    pthread_mutex_t mu;   /* the ring and the backend's slots */
    uint64_t        next; /* the last ticket given */
    struct {
        uint64_t      seq;
        size_t        n;
        unsigned char data[MLXC_BUFFER_QUEUED_MAX];
    } slot[MLXC_BUFFER_READ_SLOTS];
};

void mlxc_read_ring_free(mlxc_read_ring *rr) {
    if (!rr) return;
    pthread_mutex_destroy(&rr->mu);
    free(rr);
}

mlxc_status mlxc_buffer_read_queued(const mlxc_buffer *b, size_t offset, size_t n, mlxc_read_ticket *ticket) {
    MLXC_CHECK_ARG(ticket, "mlxc_buffer_read_queued: NULL ticket");
    MLXC_CHECK_ARG(n <= MLXC_BUFFER_QUEUED_MAX, "mlxc_buffer_read_queued: %zu bytes (at most %d)", n,
                   MLXC_BUFFER_QUEUED_MAX);
    *ticket = 0;
    mlxc_status s = check_io(b, offset, b, n, "mlxc_buffer_read_queued");
    if (s) return s;
    mlxc_device *dev = b->st->dev;
    pthread_mutex_lock(&dev->lock);
    if (!dev->reads && (dev->reads = calloc(1, sizeof *dev->reads))) pthread_mutex_init(&dev->reads->mu, NULL);
    mlxc_read_ring *rr = dev->reads;
    pthread_mutex_unlock(&dev->lock);
    if (!rr) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "mlxc_buffer_read_queued: out of memory");
    pthread_mutex_lock(&rr->mu);
    const uint64_t seq = rr->next + 1;
    const unsigned k = (unsigned)((seq - 1) % MLXC_BUFFER_READ_SLOTS);
    if (dev->be->mem_read_queued) s = dev->be->mem_read_queued(dev, b->st, b->offset + offset, n, k);
    else if (!(s = dev->be->synchronize(dev))) s = dev->be->mem_read(dev, b->st, b->offset + offset, rr->slot[k].data, n);
    if (!s) {
        rr->next = seq;
        rr->slot[k].seq = seq;
        rr->slot[k].n = n;
        *ticket = seq;
    }
    pthread_mutex_unlock(&rr->mu);
    return s;
}

mlxc_status mlxc_buffer_read_wait(mlxc_device *dev, mlxc_read_ticket ticket, void *dst, size_t n) {
    MLXC_CHECK_ARG(dev && dst, "mlxc_buffer_read_wait: NULL argument");
    MLXC_CHECK_ARG(ticket, "mlxc_buffer_read_wait: ticket 0 names no read");
    pthread_mutex_lock(&dev->lock);
    mlxc_read_ring *rr = dev->reads;
    pthread_mutex_unlock(&dev->lock);
    if (!rr)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_buffer_read_wait: ticket %llu was never given",
                              (unsigned long long)ticket);
    pthread_mutex_lock(&rr->mu);
    const unsigned k = (unsigned)((ticket - 1) % MLXC_BUFFER_READ_SLOTS);
    mlxc_status s = MLXC_OK;
    if (ticket > rr->next)
        s = mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_buffer_read_wait: ticket %llu was never given",
                           (unsigned long long)ticket);
    else if (rr->slot[k].seq != ticket)
        s = mlxc_set_error(MLXC_ERR_STATE, "mlxc_buffer_read_wait: ticket %llu's slot holds a later read (%d reads "
                           "are kept)", (unsigned long long)ticket, MLXC_BUFFER_READ_SLOTS);
    else if (n != rr->slot[k].n)
        s = mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_buffer_read_wait: %zu bytes asked, the read took %zu", n,
                           rr->slot[k].n);
    else if (dev->be->mem_read_wait)
        s = dev->be->mem_read_wait(dev, k, dst, n);
    else
        memcpy(dst, rr->slot[k].data, n);
    pthread_mutex_unlock(&rr->mu);
    return s;
}

mlxc_status mlxc_buffer_read(const mlxc_buffer *b, size_t offset, void *dst, size_t n) {
    mlxc_status s = check_io(b, offset, dst, n, "mlxc_buffer_read");
    if (s) return s;
    return b->st->dev->be->mem_read(b->st->dev, b->st, b->offset + offset, dst, n);
}

/* ---- pool ---------------------------------------------------------------- */

#define POOL_BUCKETS 64

typedef struct pool_list { mlxc_storage **v; size_t n, cap; } pool_list;

typedef struct pool_entry { mlxc_buffer *buf; int bucket; } pool_entry;

struct mlxc_pool {
    mlxc_device    *dev;
    pthread_mutex_t lock;
    pool_list       free_[POOL_BUCKETS];      /* cached storage per bucket */
    pool_entry     *in_use;
    size_t          nin_use, cap_in_use;
    size_t          allocations, reuses;
};

static int bucket_of(size_t bytes) {
    int b = 0;
    while (b < POOL_BUCKETS - 1 && ((size_t)1 << b) < bytes) b++;
    return b;
}

static bool list_push(pool_list *l, mlxc_storage *st) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        mlxc_storage **v = realloc(l->v, nc * sizeof *v);
        if (!v) return false;
        l->v = v;
        l->cap = nc;
    }
    l->v[l->n++] = st;
    return true;
}

mlxc_status mlxc_pool_create(mlxc_device *dev, mlxc_pool **out) {
    MLXC_CHECK_ARG(dev && out, "mlxc_pool_create: NULL argument");
    mlxc_pool *p = calloc(1, sizeof *p);
    if (!p) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    p->dev = dev;
    mlxc_device_retain(dev);
    pthread_mutex_init(&p->lock, NULL);
    *out = p;
    return MLXC_OK;
}

mlxc_status mlxc_pool_alloc(mlxc_pool *p, size_t bytes, mlxc_dtype dtype, int ndim, const int64_t *shape,
                            mlxc_buffer **out) {
    MLXC_CHECK_ARG(p && out, "mlxc_pool_alloc: NULL argument");
    *out = NULL;
    MLXC_CHECK_ARG(bytes > 0, "mlxc_pool_alloc: zero bytes");
    if (bytes > ((size_t)1 << (POOL_BUCKETS - 2)))
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "mlxc_pool_alloc: %zu bytes is too large", bytes);
    int b = bucket_of(bytes);
    mlxc_buffer probe;
    mlxc_status s = set_layout(&probe, bytes, dtype, ndim, shape, false);
    if (s) return s;
    pthread_mutex_lock(&p->lock);
    if (p->nin_use == p->cap_in_use) {
        size_t nc = p->cap_in_use ? p->cap_in_use * 2 : 32;
        pool_entry *v = realloc(p->in_use, nc * sizeof *v);
        if (!v) { pthread_mutex_unlock(&p->lock); return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory"); }
        p->in_use = v;
        p->cap_in_use = nc;
    }
    mlxc_storage *st = NULL;
    if (p->free_[b].n) {
        st = p->free_[b].v[--p->free_[b].n];
        p->reuses++;
    } else {
        s = storage_new(p->dev, (size_t)1 << b, &st);
        if (s) { pthread_mutex_unlock(&p->lock); return s; }
        p->allocations++;
    }
    mlxc_buffer *buf;
    s = buffer_over(st, 0, bytes, dtype, ndim, shape, false, &buf);
    mlxc_storage_release(st); /* the view holds it now */
    if (s) { pthread_mutex_unlock(&p->lock); return s; }
    p->in_use[p->nin_use].buf = buf;
    p->in_use[p->nin_use].bucket = b;
    p->nin_use++;
    pthread_mutex_unlock(&p->lock);
    *out = buf;
    return MLXC_OK;
}

/* Move an in-use entry's storage back to its bucket (lock held). */
static void pool_return(mlxc_pool *p, size_t i) {
    pool_entry e = p->in_use[i];
    mlxc_storage *st = e.buf->st;
    mlxc_storage_retain(st);
    mlxc_buffer_release(e.buf);
    if (!list_push(&p->free_[e.bucket], st)) mlxc_storage_release(st);
    p->in_use[i] = p->in_use[--p->nin_use];
}

mlxc_status mlxc_pool_release(mlxc_pool *p, mlxc_buffer *buf) {
    MLXC_CHECK_ARG(p && buf, "mlxc_pool_release: NULL argument");
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->nin_use; i++) {
        if (p->in_use[i].buf == buf) {
            pool_return(p, i);
            pthread_mutex_unlock(&p->lock);
            return MLXC_OK;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return mlxc_set_error(MLXC_ERR_NOT_FOUND, "mlxc_pool_release: buffer was not handed out by this pool");
}

mlxc_status mlxc_pool_reset(mlxc_pool *p) {
    MLXC_CHECK_ARG(p, "mlxc_pool_reset: NULL pool");
    pthread_mutex_lock(&p->lock);
    while (p->nin_use) pool_return(p, p->nin_use - 1);
    pthread_mutex_unlock(&p->lock);
    return MLXC_OK;
}

mlxc_status mlxc_pool_trim(mlxc_pool *p) {
    MLXC_CHECK_ARG(p, "mlxc_pool_trim: NULL pool");
    pthread_mutex_lock(&p->lock);
    for (int b = 0; b < POOL_BUCKETS; b++) {
        for (size_t i = 0; i < p->free_[b].n; i++) mlxc_storage_release(p->free_[b].v[i]);
        p->free_[b].n = 0;
    }
    pthread_mutex_unlock(&p->lock);
    return MLXC_OK;
}

mlxc_status mlxc_pool_stats_get(const mlxc_pool *cp, mlxc_pool_stats *out) {
    MLXC_CHECK_ARG(cp && out, "mlxc_pool_stats_get: NULL argument");
    mlxc_pool *p = (mlxc_pool *)cp;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&p->lock);
    out->in_use_count = p->nin_use;
    for (size_t i = 0; i < p->nin_use; i++) out->in_use_bytes += (size_t)1 << p->in_use[i].bucket;
    for (int b = 0; b < POOL_BUCKETS; b++) {
        out->free_count += p->free_[b].n;
        out->free_bytes += p->free_[b].n * ((size_t)1 << b);
    }
    out->allocations = p->allocations;
    out->reuses = p->reuses;
    pthread_mutex_unlock(&p->lock);
    return MLXC_OK;
}

void mlxc_pool_destroy(mlxc_pool *p) {
    if (!p) return;
    mlxc_pool_reset(p);
    mlxc_pool_trim(p);
    for (int b = 0; b < POOL_BUCKETS; b++) free(p->free_[b].v);
    free(p->in_use);
    pthread_mutex_destroy(&p->lock);
    mlxc_device_release(p->dev);
    free(p);
}
