/* Host-side cost of the runtime: nanoseconds per encoded dispatch (plain,
 * tracked with auto-barrier off and on, captured), per barrier, per commit
 * (empty command buffer, commit + wait), per graph replay.  Runs on the
 * device MLXC_BACKEND picks (default: CUDA if usable, else the CPU).
 *
 *   build/bench_runtime_host [dispatches per command buffer, default 1000]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernels/params_elementwise.h"
#include "kernels/params_norm.h"
#include "mlxc/mlxc.h"

static uint64_t now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define CK(x) do { mlxc_status s_ = (x); if (s_) { fprintf(stderr, "%s: %s\n", #x, mlxc_last_error()); exit(1); } } while (0)

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

enum { REPS = 15 };

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    if (n < 1) n = 1000;
    mlxc_device *dev;
    CK(mlxc_device_open(MLXC_BACKEND_AUTO, 0, &dev));
    mlxc_buffer *a, *b;
    int64_t s[1] = {64};
    CK(mlxc_buffer_alloc(dev, 256, MLXC_F32, 1, s, &a));
    CK(mlxc_buffer_alloc(dev, 256, MLXC_F32, 1, s, &b));
    const mlxc_kernel *k;
    CK(mlxc_kernel_get(dev, "add_f32", &k));
    mlxc_p_elementwise p = {64};
    mlxc_arg args[4] = {mlxc_arg_buffer(a), mlxc_arg_buffer(a), mlxc_arg_buffer(b), mlxc_arg_bytes(&p, sizeof p)};
    const mlxc_buffer *rd[1] = {a}, *wr[1] = {b};
    mlxc_dispatch d = {.kernel = k, .args = args, .nargs = 4, .grid = {1, 1, 1}, .block = {64, 1, 1},
                       .reads = rd, .nreads = 1, .writes = wr, .nwrites = 1};
    const char *names[] = {"dispatch (plain)", "dispatch_tracked, auto-barrier off", "dispatch_tracked, auto-barrier on",
                           "dispatch in capture mode", "barrier (between dispatches)", "commit (empty CB) + wait",
                           "encoder create + destroy", "graph replay, per node (plan)"};
    enum { NB = 8 };
    uint64_t t[NB][REPS];
    for (int r = 0; r < REPS; r++) {
        for (int mode = 0; mode < 5; mode++) {
            mlxc_encoder *enc;
            CK(mlxc_encoder_create(dev, &enc));
            if (mode == 2) CK(mlxc_encoder_set_auto_barrier(enc, true));
            else CK(mlxc_encoder_set_auto_barrier(enc, false));
            if (mode == 3) CK(mlxc_encoder_start_capture(enc));
            uint64_t t0 = now();
            for (int i = 0; i < n; i++) {
                if (mode == 0 || mode == 4) CK(mlxc_encoder_dispatch(enc, &d));
                else CK(mlxc_encoder_dispatch_tracked(enc, &d));
                if (mode == 4) CK(mlxc_encoder_barrier(enc));
            }
            uint64_t t1 = now();
            t[mode][r] = (t1 - t0) / (uint64_t)n;
            if (mode == 3) {
                mlxc_graph *g;
                CK(mlxc_encoder_take_capture(enc, &g));
                mlxc_graph_destroy(g);
            }
            mlxc_encoder_destroy(enc); /* uncommitted: discarded */
        }
        /* barrier cost: (dispatch+barrier) - dispatch */
        t[4][r] = t[4][r] > t[0][r] ? t[4][r] - t[0][r] : 0;
        uint64_t t0 = now();
        for (int i = 0; i < 200; i++) {
            mlxc_encoder *enc;
            CK(mlxc_encoder_create(dev, &enc));
            CK(mlxc_encoder_commit_and_wait(enc));
            mlxc_encoder_destroy(enc);
        }
        uint64_t t1 = now();
        for (int i = 0; i < 200; i++) {
            mlxc_encoder *enc;
            CK(mlxc_encoder_create(dev, &enc));
            mlxc_encoder_destroy(enc);
        }
        uint64_t t2 = now();
        t[6][r] = (t2 - t1) / 200;
        t[5][r] = (t1 - t0) / 200 - t[6][r];
        /* replay: launching an instantiated graph of n nodes into a CB. */
        mlxc_encoder *enc;
        CK(mlxc_encoder_create(dev, &enc));
        CK(mlxc_encoder_start_capture(enc));
        for (int i = 0; i < n; i++) CK(mlxc_encoder_dispatch(enc, &d));
        mlxc_graph *g;
        CK(mlxc_encoder_take_capture(enc, &g));
        mlxc_graph_exec *ex;
        CK(mlxc_graph_instantiate(g, dev, &ex));
        uint64_t t3 = now();
        CK(mlxc_graph_exec_launch(ex, enc));
        uint64_t t4 = now();
        t[7][r] = (t4 - t3) / (uint64_t)n;
        mlxc_encoder_destroy(enc);
        mlxc_graph_exec_destroy(ex);
        mlxc_graph_destroy(g);
    }
    printf("mlxc host cost on %s, %d dispatches per command buffer, median of %d\n", mlxc_device_name(dev), n, REPS);
    printf("| operation | ns |\n|---|---|\n");
    for (int i = 0; i < NB; i++) {
        qsort(t[i], REPS, sizeof t[i][0], cmp_u64);
        printf("| %s | %llu |\n", names[i], (unsigned long long)t[i][REPS / 2]);
    }
    mlxc_buffer_release(a);
    mlxc_buffer_release(b);
    mlxc_device_close(dev);
    return 0;
}
