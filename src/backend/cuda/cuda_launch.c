/* Checking one CUDA dispatch against its resolved kernel, and launching it
 * on a stream: a kernel through cuLaunchKernel, a library routine through
 * its own entry (cu_func.lib). */

#include "backend/cuda/cuda_cmdbuf.h"

/* Pointers to each argument's value, as cuLaunchKernel and kernel nodes
 * take them (the values live in the command buffer's arena). */
void cu_param_ptrs(const mlxc_cmd_dispatch *d, void **pp) {
    for (uint32_t i = 0; i < d->nargs; i++)
        pp[i] = d->args[i].is_ptr ? (void *)&d->args[i].value : (void *)d->args[i].bytes;
}

mlxc_status cu_check_dispatch(mlxc_device *dev, cu_dev *cu, const mlxc_cmd_dispatch *d) {
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
    /* A launch with a large dynamic ring (the streaming mat-vec) asks for
     * the largest carveout once, as kernels with a large static one do:
     * the default split fits one such block per SM. */
    if (d->shared_bytes >= 32 * 1024 && !f->carveout_max) {
        pthread_mutex_lock(&cu->mu);
        if (!f->carveout_max)
            (void)mlxc_cu()->FuncSetAttribute(f->fn, CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT, 100);
        f->carveout_max = 1;
        pthread_mutex_unlock(&cu->mu);
    }
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

CUresult cu_launch_on(CUstream st, const mlxc_cmd_dispatch *d) {
    const cu_func *f = d->kernel->impl;
    if (f->lib) return f->lib(f, st, d);
    void *pp[MLXC_MAX_KERNEL_ARGS];
    cu_param_ptrs(d, pp);
    CU_STAT(kernel_launches, 1);
    return mlxc_cu()->LaunchKernel(f->fn, d->grid.x, d->grid.y, d->grid.z, d->block.x, d->block.y, d->block.z,
                                   d->shared_bytes, st, d->nargs ? pp : NULL, NULL);
}

CUresult cu_launch_one(cu_dev *cu, const mlxc_cmd_dispatch *d) { return cu_launch_on(cu->stream, d); }

/* A library routine (cuBLASLt) rather than a kernel: it is launched on the
 * stream, never made a graph node. */
bool cu_is_lib(const mlxc_cmd *c) {
    return c->type == MLXC_CMD_DISPATCH && ((const cu_func *)c->u.d.kernel->impl)->lib;
}
