/*
 * Run-time loading of the CUDA driver (libcuda.so.1) and NVRTC (libnvrtc).
 *
 * Nothing links against CUDA: a machine without a driver gets NULL from
 * mlxc_cu() and the backend reports zero devices.  Versioned entry points are
 * looked up by their ABI names (the _v2 forms that cuda.h maps the plain
 * names to), with the older name as a fallback where the signature is the
 * same.
 */
#include "backend/cuda/cuda_driver.h"
#include "core/env.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mlxc_cu_api     g_cu;
static const mlxc_cu_api *g_cu_ptr;
static pthread_once_t  g_cu_once = PTHREAD_ONCE_INIT;

static mlxc_nvrtc_api  g_nvrtc;
static const mlxc_nvrtc_api *g_nvrtc_ptr;
static pthread_once_t  g_nvrtc_once = PTHREAD_ONCE_INIT;

/* Resolve the first of `names` (NULL-terminated) the library exports.
 * Writing through a void** keeps ISO C quiet about object/function pointer
 * conversion. */
static int sym(void *lib, void *fnptr, const char *const *names) {
    for (const char *const *n = names; *n; n++) {
        void *p = dlsym(lib, *n);
        if (p) {
            memcpy(fnptr, &p, sizeof p);
            return 1;
        }
    }
    return 0;
}

#define NEED(field, ...)                                                  \
    do {                                                                  \
        static const char *const names_[] = {__VA_ARGS__, NULL};          \
        if (!sym(lib, &api.field, names_)) {                              \
            ok = 0;                                                       \
        }                                                                 \
    } while (0)
#define WANT(field, ...)                                                  \
    do {                                                                  \
        static const char *const names_[] = {__VA_ARGS__, NULL};          \
        (void)sym(lib, &api.field, names_);                               \
    } while (0)

static void cu_load(void) {
    /* MLXC_CUDA_DISABLE lets a user (or a test) hide the GPU entirely. */
    const char *off = mlxc_env_str("MLXC_CUDA_DISABLE");
    if (off && *off && strcmp(off, "0") != 0) return;
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) lib = dlopen("libcuda.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    mlxc_cu_api api;
    memset(&api, 0, sizeof api);
    int ok = 1;
    NEED(Init, "cuInit");
    NEED(DriverGetVersion, "cuDriverGetVersion");
    NEED(GetErrorName, "cuGetErrorName");
    NEED(GetErrorString, "cuGetErrorString");
    NEED(DeviceGetCount, "cuDeviceGetCount");
    NEED(DeviceGet, "cuDeviceGet");
    NEED(DeviceGetName, "cuDeviceGetName");
    NEED(DeviceGetAttribute, "cuDeviceGetAttribute");
    NEED(DeviceTotalMem, "cuDeviceTotalMem_v2");
    NEED(DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    NEED(DevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease");
    NEED(DevicePrimaryCtxReset, "cuDevicePrimaryCtxReset_v2", "cuDevicePrimaryCtxReset");
    NEED(CtxSetCurrent, "cuCtxSetCurrent");
    NEED(CtxGetCurrent, "cuCtxGetCurrent");
    NEED(StreamCreate, "cuStreamCreate");
    NEED(StreamDestroy, "cuStreamDestroy_v2");
    NEED(StreamSynchronize, "cuStreamSynchronize");
    NEED(StreamQuery, "cuStreamQuery");
    NEED(StreamWaitEvent, "cuStreamWaitEvent");
    NEED(StreamWriteValue64, "cuStreamWriteValue64_v2", "cuStreamWriteValue64");
    NEED(StreamWaitValue64, "cuStreamWaitValue64_v2", "cuStreamWaitValue64");
    NEED(MemAlloc, "cuMemAlloc_v2");
    NEED(MemFree, "cuMemFree_v2");
    NEED(MemGetInfo, "cuMemGetInfo_v2");
    NEED(MemsetD8Async, "cuMemsetD8Async");
    NEED(MemHostAlloc, "cuMemHostAlloc");
    NEED(MemFreeHost, "cuMemFreeHost");
    NEED(MemHostGetDevicePointer, "cuMemHostGetDevicePointer_v2");
    NEED(MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
    NEED(MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
    NEED(ModuleLoadData, "cuModuleLoadData");
    NEED(ModuleUnload, "cuModuleUnload");
    NEED(ModuleGetFunction, "cuModuleGetFunction");
    NEED(FuncSetAttribute, "cuFuncSetAttribute");
    WANT(FuncGetParamInfo, "cuFuncGetParamInfo");
    WANT(FuncGetAttribute, "cuFuncGetAttribute");
    NEED(LaunchKernel, "cuLaunchKernel");
    NEED(EventCreate, "cuEventCreate");
    NEED(EventDestroy, "cuEventDestroy_v2");
    NEED(EventRecord, "cuEventRecord");
    NEED(EventQuery, "cuEventQuery");
    NEED(EventSynchronize, "cuEventSynchronize");
    NEED(EventElapsedTime, "cuEventElapsedTime_v2", "cuEventElapsedTime");
    NEED(GraphCreate, "cuGraphCreate");
    NEED(GraphDestroy, "cuGraphDestroy");
    NEED(GraphAddKernelNode, "cuGraphAddKernelNode_v2");
    NEED(GraphAddEmptyNode, "cuGraphAddEmptyNode");
    WANT(GraphAddDependencies, "cuGraphAddDependencies_v2");
    NEED(GraphInstantiate, "cuGraphInstantiateWithFlags");
    NEED(GraphLaunch, "cuGraphLaunch");
    NEED(GraphExecDestroy, "cuGraphExecDestroy");
    NEED(GraphExecKernelNodeSetParams, "cuGraphExecKernelNodeSetParams_v2");
    NEED(GraphExecUpdate, "cuGraphExecUpdate_v2");
    if (!ok || api.Init(0) != CUDA_SUCCESS) {
        dlclose(lib);
        return;
    }
    api.DriverGetVersion(&api.driver_version);
    /* The library stays loaded for the life of the process: unloading a
     * driver with live contexts is never safe. */
    g_cu = api;
    g_cu_ptr = &g_cu;
}

const mlxc_cu_api *mlxc_cu(void) {
    pthread_once(&g_cu_once, cu_load);
    return g_cu_ptr;
}

void mlxc_cu_describe(CUresult r, char *buf, size_t cap) {
    const char *name = NULL, *str = NULL;
    if (g_cu_ptr) {
        if (g_cu.GetErrorName(r, &name) != CUDA_SUCCESS) name = NULL;
        if (g_cu.GetErrorString(r, &str) != CUDA_SUCCESS) str = NULL;
    }
    if (name)
        snprintf(buf, cap, "%s: %s", name, str ? str : "");
    else
        snprintf(buf, cap, "CUDA error %d", r);
}

/* ---- NVRTC ---------------------------------------------------------------- */

void *mlxc_cuda_lib_open(const char *env_var, const char *const *sonames) {
    const char *env = env_var ? mlxc_env_str(env_var) : NULL;
    if (env && *env) {
        void *lib = dlopen(env, RTLD_NOW | RTLD_LOCAL);
        if (lib) return lib;
    }
    for (const char *const *n = sonames; *n; n++) {
        void *lib = dlopen(*n, RTLD_NOW | RTLD_LOCAL);
        if (lib) return lib;
    }
    /* The toolkit's usual folders, for machines whose loader path does not
     * list them. */
    const char *home = getenv("CUDA_HOME");
    const char *const dirs[] = {"/usr/local/cuda/lib64", home && *home ? home : NULL};
    for (size_t d = 0; d < sizeof dirs / sizeof *dirs; d++) {
        if (!dirs[d]) continue;
        for (const char *const *n = sonames; *n; n++) {
            char path[1024];
            snprintf(path, sizeof path, "%s%s/%s", dirs[d], d ? "/lib64" : "", *n);
            void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (lib) return lib;
        }
    }
    return NULL;
}

static void *nvrtc_open(void) {
    /* Newest first. */
    static const char *const names[] = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so", NULL};
    return mlxc_cuda_lib_open("MLXC_NVRTC_PATH", names);
}

static void nvrtc_load(void) {
    void *lib = nvrtc_open();
    if (!lib) return;
    mlxc_nvrtc_api api;
    memset(&api, 0, sizeof api);
    int ok = 1;
    NEED(Version, "nvrtcVersion");
    NEED(GetErrorString, "nvrtcGetErrorString");
    NEED(CreateProgram, "nvrtcCreateProgram");
    NEED(DestroyProgram, "nvrtcDestroyProgram");
    NEED(CompileProgram, "nvrtcCompileProgram");
    NEED(GetProgramLogSize, "nvrtcGetProgramLogSize");
    NEED(GetProgramLog, "nvrtcGetProgramLog");
    NEED(GetCUBINSize, "nvrtcGetCUBINSize");
    NEED(GetCUBIN, "nvrtcGetCUBIN");
    if (!ok || api.Version(&api.major, &api.minor) != 0) {
        dlclose(lib);
        return;
    }
    g_nvrtc = api;
    g_nvrtc_ptr = &g_nvrtc;
}

const mlxc_nvrtc_api *mlxc_nvrtc(void) {
    pthread_once(&g_nvrtc_once, nvrtc_load);
    return g_nvrtc_ptr;
}
