/*
 * The slice of the CUDA driver API and NVRTC that the CUDA backend uses,
 * declared here (no cuda.h needed to build) and loaded at run time with
 * dlopen, so the library builds, loads and runs its CPU path on machines
 * without a driver.  Values and struct layouts follow the driver ABI of
 * CUDA 12/13 (the versioned symbols named in the loader).
 */
#ifndef MLXC_CUDA_DRIVER_H
#define MLXC_CUDA_DRIVER_H

#include <stddef.h>
#include <stdint.h>

typedef int                      CUresult;
typedef int                      CUdevice;
typedef unsigned long long       CUdeviceptr;
typedef struct CUctx_st         *CUcontext;
typedef struct CUmod_st         *CUmodule;
typedef struct CUfunc_st        *CUfunction;
typedef struct CUkern_st        *CUkernel;
typedef struct CUstream_st      *CUstream;
typedef struct CUevent_st       *CUevent;
typedef struct CUgraph_st       *CUgraph;
typedef struct CUgraphNode_st   *CUgraphNode;
typedef struct CUgraphExec_st   *CUgraphExec;

enum {
    CUDA_SUCCESS                   = 0,
    CUDA_ERROR_INVALID_VALUE       = 1,
    CUDA_ERROR_OUT_OF_MEMORY       = 2,
    CUDA_ERROR_NOT_INITIALIZED     = 3,
    CUDA_ERROR_NO_DEVICE           = 100,
    CUDA_ERROR_NOT_FOUND           = 500,
    CUDA_ERROR_NOT_READY           = 600,
    CUDA_ERROR_ILLEGAL_ADDRESS     = 700,
    CUDA_ERROR_LAUNCH_TIMEOUT      = 702,
    CUDA_ERROR_HARDWARE_STACK_ERROR = 714,
    CUDA_ERROR_ILLEGAL_INSTRUCTION = 715,
    CUDA_ERROR_MISALIGNED_ADDRESS  = 716,
    CUDA_ERROR_INVALID_ADDRESS_SPACE = 717,
    CUDA_ERROR_INVALID_PC          = 718,
    CUDA_ERROR_LAUNCH_FAILED       = 719,
    CUDA_ERROR_UNKNOWN             = 999
};

/* Device attributes (CUdevice_attribute). */
enum {
    CU_ATTR_MAX_THREADS_PER_BLOCK       = 1,
    CU_ATTR_MAX_GRID_DIM_X              = 5,
    CU_ATTR_MAX_GRID_DIM_Y              = 6,
    CU_ATTR_MAX_GRID_DIM_Z              = 7,
    CU_ATTR_MAX_SHARED_PER_BLOCK        = 8,
    CU_ATTR_MULTIPROCESSOR_COUNT        = 16,
    CU_ATTR_MEMORY_CLOCK_RATE           = 36,
    CU_ATTR_GLOBAL_MEMORY_BUS_WIDTH     = 37,
    CU_ATTR_L2_CACHE_SIZE               = 38,
    CU_ATTR_CC_MAJOR                    = 75,
    CU_ATTR_CC_MINOR                    = 76,
    CU_ATTR_MAX_SHARED_PER_BLOCK_OPTIN  = 97
};

#define CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES             1
#define CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES 8
#define CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT 9
#define CU_STREAM_NON_BLOCKING      0x1u
#define CU_EVENT_DEFAULT            0x0u
#define CU_EVENT_DISABLE_TIMING     0x2u
#define CU_MEMHOSTALLOC_PORTABLE    0x01u
#define CU_MEMHOSTALLOC_DEVICEMAP   0x02u
#define CU_STREAM_WAIT_VALUE_GEQ    0x0u
#define CU_STREAM_WRITE_VALUE_DEFAULT 0x0u

typedef struct CUDA_KERNEL_NODE_PARAMS_v2 {
    CUfunction   func;
    unsigned int gridDimX, gridDimY, gridDimZ;
    unsigned int blockDimX, blockDimY, blockDimZ;
    unsigned int sharedMemBytes;
    void       **kernelParams;
    void       **extra;
    CUkernel     kern;
    CUcontext    ctx;
} CUDA_KERNEL_NODE_PARAMS_v2;

typedef struct CUgraphExecUpdateResultInfo {
    int         result;
    CUgraphNode errorNode;
    CUgraphNode errorFromNode;
} CUgraphExecUpdateResultInfo;

/* An edge's kind (CUgraphEdgeData, CUDA >= 12.3): from_port
 * CU_GRAPH_PORT_PROGRAMMATIC with type CU_GRAPH_DEP_PROGRAMMATIC lets the
 * downstream kernel start once every block of the upstream one has
 * triggered (griddepcontrol.launch_dependents) or exited; the downstream
 * kernel's griddepcontrol.wait then waits for the upstream's completion
 * and its memory. */
typedef struct CUgraphEdgeData {
    unsigned char from_port, to_port, type, reserved[5];
} CUgraphEdgeData;
#define CU_GRAPH_PORT_PROGRAMMATIC 1
#define CU_GRAPH_DEP_PROGRAMMATIC  1

/* The driver entry points, resolved once per process. */
typedef struct mlxc_cu_api {
    int driver_version;
    CUresult (*Init)(unsigned int);
    CUresult (*DriverGetVersion)(int *);
    CUresult (*GetErrorName)(CUresult, const char **);
    CUresult (*GetErrorString)(CUresult, const char **);
    CUresult (*DeviceGetCount)(int *);
    CUresult (*DeviceGet)(CUdevice *, int);
    CUresult (*DeviceGetName)(char *, int, CUdevice);
    CUresult (*DeviceGetAttribute)(int *, int, CUdevice);
    CUresult (*DeviceTotalMem)(size_t *, CUdevice);
    CUresult (*DevicePrimaryCtxRetain)(CUcontext *, CUdevice);
    CUresult (*DevicePrimaryCtxRelease)(CUdevice);
    CUresult (*DevicePrimaryCtxReset)(CUdevice);
    CUresult (*CtxSetCurrent)(CUcontext);
    CUresult (*CtxGetCurrent)(CUcontext *);
    CUresult (*StreamCreate)(CUstream *, unsigned int);
    CUresult (*StreamDestroy)(CUstream);
    CUresult (*StreamSynchronize)(CUstream);
    CUresult (*StreamQuery)(CUstream);
    CUresult (*StreamWaitEvent)(CUstream, CUevent, unsigned int);
    CUresult (*StreamWriteValue64)(CUstream, CUdeviceptr, uint64_t, unsigned int);
    CUresult (*StreamWaitValue64)(CUstream, CUdeviceptr, uint64_t, unsigned int);
    CUresult (*MemAlloc)(CUdeviceptr *, size_t);
    CUresult (*MemFree)(CUdeviceptr);
    CUresult (*MemGetInfo)(size_t *, size_t *);
    CUresult (*MemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
    CUresult (*MemHostAlloc)(void **, size_t, unsigned int);
    CUresult (*MemFreeHost)(void *);
    CUresult (*MemHostGetDevicePointer)(CUdeviceptr *, void *, unsigned int);
    CUresult (*MemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
    CUresult (*MemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
    CUresult (*ModuleLoadData)(CUmodule *, const void *);
    CUresult (*ModuleUnload)(CUmodule);
    CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
    CUresult (*FuncSetAttribute)(CUfunction, int, int);
    CUresult (*FuncGetParamInfo)(CUfunction, size_t, size_t *, size_t *); /* may be NULL */
    CUresult (*FuncGetAttribute)(int *, int, CUfunction);                  /* may be NULL */
    CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, CUstream, void **, void **);
    CUresult (*EventCreate)(CUevent *, unsigned int);
    CUresult (*EventDestroy)(CUevent);
    CUresult (*EventRecord)(CUevent, CUstream);
    CUresult (*EventQuery)(CUevent);
    CUresult (*EventSynchronize)(CUevent);
    CUresult (*EventElapsedTime)(float *, CUevent, CUevent);
    CUresult (*GraphCreate)(CUgraph *, unsigned int);
    CUresult (*GraphDestroy)(CUgraph);
    CUresult (*GraphAddKernelNode)(CUgraphNode *, CUgraph, const CUgraphNode *, size_t,
                                   const CUDA_KERNEL_NODE_PARAMS_v2 *);
    CUresult (*GraphAddEmptyNode)(CUgraphNode *, CUgraph, const CUgraphNode *, size_t);
    /* NULL before CUDA 12.3: then no programmatic edges */
    CUresult (*GraphAddDependencies)(CUgraph, const CUgraphNode *, const CUgraphNode *, const CUgraphEdgeData *,
                                     size_t);
    CUresult (*GraphInstantiate)(CUgraphExec *, CUgraph, unsigned long long);
    CUresult (*GraphLaunch)(CUgraphExec, CUstream);
    CUresult (*GraphExecDestroy)(CUgraphExec);
    CUresult (*GraphExecKernelNodeSetParams)(CUgraphExec, CUgraphNode,
                                             const CUDA_KERNEL_NODE_PARAMS_v2 *);
    CUresult (*GraphExecUpdate)(CUgraphExec, CUgraph, CUgraphExecUpdateResultInfo *);
} mlxc_cu_api;

/* The driver API, or NULL when libcuda.so.1 is absent, lacks a needed entry
 * point, or cuInit fails (no GPU).  Loaded once. */
const mlxc_cu_api *mlxc_cu(void);

/* dlopen a CUDA library: the path in $env_var if set, else the first of
 * `sonames` (NULL-terminated) through the loader's path, then under
 * /usr/local/cuda/lib64 and $CUDA_HOME/lib64.  NULL when none loads. */
void *mlxc_cuda_lib_open(const char *env_var, const char *const *sonames);

/* "CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered". */
void mlxc_cu_describe(CUresult r, char *buf, size_t cap);

/* Sticky errors leave the context unusable: the device is lost. */
static inline int mlxc_cu_is_sticky(CUresult r) {
    return r == CUDA_ERROR_ILLEGAL_ADDRESS || r == CUDA_ERROR_LAUNCH_TIMEOUT ||
           r == CUDA_ERROR_HARDWARE_STACK_ERROR || r == CUDA_ERROR_ILLEGAL_INSTRUCTION ||
           r == CUDA_ERROR_MISALIGNED_ADDRESS || r == CUDA_ERROR_INVALID_ADDRESS_SPACE ||
           r == CUDA_ERROR_INVALID_PC || r == CUDA_ERROR_LAUNCH_FAILED || r == CUDA_ERROR_UNKNOWN;
}

/* ---- NVRTC ---------------------------------------------------------------- */

typedef struct _nvrtcProgram *nvrtcProgram;

typedef struct mlxc_nvrtc_api {
    int major, minor;
    int  (*Version)(int *, int *);
    const char *(*GetErrorString)(int);
    int  (*CreateProgram)(nvrtcProgram *, const char *, const char *, int,
                          const char *const *, const char *const *);
    int  (*DestroyProgram)(nvrtcProgram *);
    int  (*CompileProgram)(nvrtcProgram, int, const char *const *);
    int  (*GetProgramLogSize)(nvrtcProgram, size_t *);
    int  (*GetProgramLog)(nvrtcProgram, char *);
    int  (*GetCUBINSize)(nvrtcProgram, size_t *);
    int  (*GetCUBIN)(nvrtcProgram, char *);
} mlxc_nvrtc_api;

/* NVRTC, or NULL when no libnvrtc could be loaded.  Loaded once, on first
 * call (only when a kernel is registered from source or caps are asked). */
const mlxc_nvrtc_api *mlxc_nvrtc(void);

#endif /* MLXC_CUDA_DRIVER_H */
