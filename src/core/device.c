/* Devices: backend selection, reference counting, the in-flight list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

void mlxc_kernel_table_free(mlxc_kernel_table *t);
mlxc_kernel_table *mlxc_kernel_table_new(void);

static const mlxc_backend *backend_for(mlxc_backend_kind kind) {
    switch (kind) {
    case MLXC_BACKEND_CPU: return &mlxc_cpu_backend;
#ifdef MLXC_HAVE_CUDA
    case MLXC_BACKEND_CUDA: return &mlxc_cuda_backend;
#endif
    default: return NULL;
    }
}

const char *mlxc_backend_name(mlxc_backend_kind kind) {
    switch (kind) {
    case MLXC_BACKEND_AUTO: return "auto";
    case MLXC_BACKEND_CPU: return "cpu";
    case MLXC_BACKEND_CUDA: return "cuda";
    }
    return "invalid";
}

/* CUDA devices that MLXC_BACKEND_AUTO may choose. */
static int auto_cuda_count(void) {
    const mlxc_backend *be = backend_for(MLXC_BACKEND_CUDA);
    if (!be || (be->auto_eligible && !be->auto_eligible())) return 0;
    int n = 0;
    if (be->device_count(&n) != MLXC_OK) n = 0;
    return n;
}

mlxc_status mlxc_device_count(mlxc_backend_kind kind, int *count) {
    MLXC_CHECK_ARG(count, "mlxc_device_count: NULL output");
    *count = 0;
    if (kind == MLXC_BACKEND_AUTO) {
        int n = auto_cuda_count();
        *count = n > 0 ? n : 1;
        return MLXC_OK;
    }
    if (kind != MLXC_BACKEND_CPU && kind != MLXC_BACKEND_CUDA)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "unknown backend kind %d", (int)kind);
    const mlxc_backend *be = backend_for(kind);
    if (!be) return MLXC_OK; /* built without it */
    if (be->device_count(count) != MLXC_OK) *count = 0;
    return MLXC_OK;
}

mlxc_status mlxc_device_open(mlxc_backend_kind kind, int index, mlxc_device **out) {
    MLXC_CHECK_ARG(out, "mlxc_device_open: NULL output");
    *out = NULL;
    if (kind != MLXC_BACKEND_AUTO && kind != MLXC_BACKEND_CPU && kind != MLXC_BACKEND_CUDA)
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "unknown backend kind %d", (int)kind);
    MLXC_CHECK_ARG(index >= 0, "mlxc_device_open: negative index %d", index);
    if (kind == MLXC_BACKEND_AUTO) {
        int env = mlxc_env()->backend;
        if (env != MLXC_BACKEND_AUTO) {
            kind = (mlxc_backend_kind)env;
        } else {
            int n = auto_cuda_count();
            kind = n > index ? MLXC_BACKEND_CUDA : MLXC_BACKEND_CPU;
            if (kind == MLXC_BACKEND_CPU) index = 0;
        }
    }
    const mlxc_backend *be = backend_for(kind);
    if (!be)
        return mlxc_set_error(MLXC_ERR_NO_DEVICE, "the %s backend is not built into this library",
                              mlxc_backend_name(kind));
    int n = 0;
    if (be->device_count(&n) != MLXC_OK || n == 0)
        return mlxc_set_error(MLXC_ERR_NO_DEVICE, "no %s device is available", mlxc_backend_name(kind));
    if (index >= n)
        return mlxc_set_error(MLXC_ERR_NO_DEVICE, "%s device %d requested but %d present", mlxc_backend_name(kind),
                              index, n);
    mlxc_device *dev = calloc(1, sizeof *dev);
    if (!dev) return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    dev->be = be;
    dev->index = index;
    atomic_store(&dev->refs, 1);
    pthread_mutex_init(&dev->lock, NULL);
    dev->kernels = mlxc_kernel_table_new();
    if (!dev->kernels) {
        free(dev);
        return mlxc_set_error(MLXC_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    dev->caps.backend = kind;
    mlxc_status s = be->device_open(dev, index);
    if (s) {
        mlxc_kernel_table_free(dev->kernels);
        pthread_mutex_destroy(&dev->lock);
        free(dev);
        return s;
    }
    *out = dev;
    return MLXC_OK;
}

void mlxc_device_retain(mlxc_device *dev) { atomic_fetch_add_explicit(&dev->refs, 1, memory_order_relaxed); }

void mlxc_device_release(mlxc_device *dev) {
    if (!dev) return;
    if (atomic_fetch_sub_explicit(&dev->refs, 1, memory_order_acq_rel) != 1) return;
    mlxc_device_reap(dev, true);
    mlxc_kernel_table_free(dev->kernels);
    dev->be->device_close(dev);
    pthread_mutex_destroy(&dev->lock);
    mlxc_read_ring_free(dev->reads);
    free(dev);
}

void mlxc_device_close(mlxc_device *dev) {
    if (!dev) return;
    /* Finish and free in-flight work now, so buffers it retained go away
     * while the caller still expects the device to be busy. */
    mlxc_device_reap(dev, true);
    mlxc_device_release(dev);
}

const char *mlxc_device_name(const mlxc_device *dev) { return dev ? dev->caps.name : ""; }
mlxc_backend_kind mlxc_device_backend(const mlxc_device *dev) { return dev ? dev->be->kind : MLXC_BACKEND_AUTO; }
bool mlxc_device_is_lost(const mlxc_device *dev) { return dev && atomic_load(&dev->lost); }

mlxc_status mlxc_device_caps_get(const mlxc_device *dev, mlxc_device_caps *caps) {
    MLXC_CHECK_ARG(dev && caps, "mlxc_device_caps_get: NULL argument");
    *caps = dev->caps;
    return MLXC_OK;
}

void mlxc_device_mark_lost(mlxc_device *dev, const char *why) {
    if (!atomic_exchange(&dev->lost, true))
        fprintf(stderr, "[mlxc] device %s lost: %s\n", dev->caps.name, why ? why : "command buffer failed");
}

mlxc_status mlxc_device_synchronize(mlxc_device *dev) {
    MLXC_CHECK_ARG(dev, "mlxc_device_synchronize: NULL device");
    mlxc_status first = MLXC_OK;
    /* Wait every in-flight buffer, reporting the first failure. */
    pthread_mutex_lock(&dev->lock);
    mlxc_cmdbuf *list = dev->inflight;
    dev->inflight = NULL;
    pthread_mutex_unlock(&dev->lock);
    while (list) {
        mlxc_cmdbuf *next = list->next_inflight;
        mlxc_status s = mlxc_cmdbuf_wait(list);
        if (s && !first) first = s;
        list->next_inflight = NULL;
        mlxc_cmdbuf_dispose(list);
        list = next;
    }
    if (dev->be->synchronize) {
        mlxc_status s = dev->be->synchronize(dev);
        if (s && !first) first = s;
    }
    if (!first && atomic_load(&dev->lost))
        return mlxc_set_error(MLXC_ERR_DEVICE_LOST, "device %s is lost", dev->caps.name);
    return first;
}
