/*
 * kernel_trace: the kernels a process runs, with their device start and end
 * times, as CSV -- the timeline of a replayed decode step (graph nodes and
 * programmatic dependent launch included), for machines without Nsight
 * Systems.  A CUPTI injection library, not part of mlxc: the CUDA driver
 * loads it into any process that sets CUDA_INJECTION64_PATH.
 *
 *   gcc -O2 -shared -fPIC -I$CUPTI/include -I$CUDA/include -o libkernel_trace.so bench/cuda/kernel_trace.c \
 *       -L$CUPTI/lib -l:libcupti.so.13 -Wl,-rpath,'$ORIGIN'
 *   CUDA_INJECTION64_PATH=$PWD/libkernel_trace.so MLXC_KERNEL_TRACE=trace.csv [MLXC_KERNEL_TRACE_API=1] \
 *       mlxc bench -m model.gguf -p 0 -n 8 -r 1
 *   python3 bench/cuda/kernel_trace.py trace.csv 196     # the last tokens' kernels
 *
 * CUPTI comes from the PyPI wheel nvidia-cuda-cupti (headers and
 * libcupti.so.13).  Rows: start_ns, end_ns, graph id (0: a plain launch),
 * stream, grid x, block x, kernel name (last, as written); and one row per
 * CUDA driver call the host made, named "api:" and the call, with the
 * host's start and end on the same clock (so a gap between kernels can be
 * set against the calls that filled it).
 */
#include <cupti.h>
#include <stdio.h>
#include <stdlib.h>

static FILE *g_out;

static void CUPTIAPI buffer_requested(uint8_t **buf, size_t *size, size_t *max_records) {
    *size = (size_t)8 << 20;
    *buf = aligned_alloc(8, *size);
    *max_records = 0;
}

static void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buf, size_t size, size_t valid) {
    (void)ctx, (void)stream, (void)size;
    CUpti_Activity *r = NULL;
    while (g_out && cuptiActivityGetNextRecord(buf, valid, &r) == CUPTI_SUCCESS) {
        if (r->kind == CUPTI_ACTIVITY_KIND_DRIVER) {
            const CUpti_ActivityAPI *a = (const CUpti_ActivityAPI *)r;
            const char *name = NULL;
            cuptiGetCallbackName(CUPTI_CB_DOMAIN_DRIVER_API, a->cbid, &name);
            fprintf(g_out, "%llu,%llu,0,0,0,0,api:%s\n", (unsigned long long)a->start, (unsigned long long)a->end,
                    name ? name : "?");
            continue;
        }
        if (r->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL && r->kind != CUPTI_ACTIVITY_KIND_KERNEL) continue;
        const CUpti_ActivityKernel10 *k = (const CUpti_ActivityKernel10 *)r;
        fprintf(g_out, "%llu,%llu,%u,%u,%d,%d,%s\n", (unsigned long long)k->start, (unsigned long long)k->end,
                k->graphId, k->streamId, k->gridX, k->blockX, k->name ? k->name : "?");
    }
    size_t dropped = 0;
    if (cuptiActivityGetNumDroppedRecords(ctx, stream, &dropped) == CUPTI_SUCCESS && dropped)
        fprintf(stderr, "kernel_trace: %zu records dropped\n", dropped);
    free(buf);
}

static void finish(void) {
    cuptiActivityFlushAll(1);
    if (g_out) fclose(g_out);
    g_out = NULL;
}

/* Called by the CUDA driver when it loads the library. */
int InitializeInjection(void) {
    const char *path = getenv("MLXC_KERNEL_TRACE"), *api = getenv("MLXC_KERNEL_TRACE_API");
    g_out = fopen(path && *path ? path : "kernel_trace.csv", "w");
    if (!g_out) return 0;
    fprintf(g_out, "start_ns,end_ns,graph,stream,grid,block,name\n");
    if (cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed) != CUPTI_SUCCESS ||
        cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) != CUPTI_SUCCESS ||
        (api && *api && *api != '0' && cuptiActivityEnable(CUPTI_ACTIVITY_KIND_DRIVER) != CUPTI_SUCCESS)) {
        fprintf(stderr, "kernel_trace: CUPTI activity tracing unavailable\n");
        fclose(g_out);
        g_out = NULL;
        return 0;
    }
    atexit(finish);
    return 1;
}
