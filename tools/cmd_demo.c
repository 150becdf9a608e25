/* `mlxc demo`: the default job.  Runs a small transformer-like block (norm,
 * gate, residual) three ways — a plain encoder with auto-barriers, a
 * five-stage session with device fences, and a captured graph that is fused,
 * reordered, instantiated and replayed — checks they agree, and reports
 * dispatches, barriers, command buffers, fences and timings. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "mlxc/mlxc.h"
#include "opt.h"

#define ROWS 64
#define DIM 1024
#define LAYERS 5

typedef struct demo {
    mlxc_device *dev;
    mlxc_buffer *x, *w, *gate, *h, *y;   /* x, gate, h, y: (ROWS, DIM); w: (DIM) */
} demo;

#define TRY(call)                                                                    \
    do {                                                                             \
        mlxc_status st_ = (call);                                                    \
        if (st_ != MLXC_OK) {                                                        \
            fprintf(stderr, "mlxc demo: %s failed: %s (%s)\n", #call, mlxc_status_name(st_), mlxc_last_error()); \
            return 1;                                                                \
        }                                                                            \
    } while (0)

/* One block: h = rms_norm(x) * w; y = h * gate; x = x + y. */
static int encode_block(mlxc_encoder *enc, demo *d) {
    TRY(mlxc_rms_norm(enc, d->x, d->w, d->h, DIM, 1e-5f));
    TRY(mlxc_mul(enc, d->h, d->gate, d->y));
    TRY(mlxc_add(enc, d->x, d->y, d->x));
    return 0;
}

static void fill(float *v, size_t n, unsigned *seed, float scale) {
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        v[i] = scale * ((float)(*seed >> 8) / 16777216.0f - 0.5f);
    }
}

static int reset_inputs(demo *d, const float *x0) {
    TRY(mlxc_buffer_write(d->x, 0, x0, sizeof(float) * ROWS * DIM));
    return 0;
}

static double checksum(demo *d, float *tmp) {
    if (mlxc_buffer_read(d->x, 0, tmp, sizeof(float) * ROWS * DIM) != MLXC_OK) return NAN;
    double s = 0;
    for (size_t i = 0; i < ROWS * DIM; i++) s += tmp[i] * (double)((i % 7) + 1);
    return s;
}

static void delta(const char *what, const mlxc_counters *a, const mlxc_counters *b) {
    printf("  %-34s dispatch %3llu  barrier %3llu  cmd_buf %2llu  sync %2llu  auto_barrier %3llu  concurrent %3llu\n",
           what, (unsigned long long)(b->dispatch - a->dispatch), (unsigned long long)(b->barrier - a->barrier),
           (unsigned long long)(b->cmd_buf - a->cmd_buf), (unsigned long long)(b->sync - a->sync),
           (unsigned long long)(b->auto_barrier - a->auto_barrier),
           (unsigned long long)(b->auto_barrier_concurrent - a->auto_barrier_concurrent));
}

int mlxc_cmd_demo(int argc, char **argv) {
    const char *trace = NULL;
    long replays = 200;
    const cli_opt opts[] = {
        CLI_OPT_STRING("--trace", &trace),
        CLI_OPT_INT("--replays", &replays, 1, 1000000),
        CLI_OPT_END,
    };
    cli_cmd c = {"demo",
                 "usage: mlxc demo [--trace FILE.json] [--replays N]\n"
                 "  a small transformer-like block run three ways (an encoder with auto-barriers, a fenced\n"
                 "  session, a fused and replayed graph); prints dispatches, barriers, fences and timings\n"
                 "  --trace FILE   write a Chrome/Perfetto trace (with MLXC_PROFILE_CB / MLXC_PROFILE_DISPATCH)\n"
                 "  --replays N    graph replays to time (default 200)\n",
                 opts, NULL, 0, 0};
    int prc = cli_parse(&c, argc, argv);
    if (prc >= 0) return prc;
    demo d = {0};
    TRY(mlxc_device_open(MLXC_BACKEND_AUTO, 0, &d.dev));
    printf("mlxc demo on %s (%s backend)\n", mlxc_device_name(d.dev), mlxc_backend_name(mlxc_device_backend(d.dev)));
    int64_t shape[2] = {ROWS, DIM}, wshape[1] = {DIM};
    size_t bytes = sizeof(float) * ROWS * DIM;
    TRY(mlxc_buffer_alloc(d.dev, bytes, MLXC_F32, 2, shape, &d.x));
    TRY(mlxc_buffer_alloc(d.dev, bytes, MLXC_F32, 2, shape, &d.gate));
    TRY(mlxc_buffer_alloc(d.dev, bytes, MLXC_F32, 2, shape, &d.h));
    TRY(mlxc_buffer_alloc(d.dev, bytes, MLXC_F32, 2, shape, &d.y));
    TRY(mlxc_buffer_alloc(d.dev, sizeof(float) * DIM, MLXC_F32, 1, wshape, &d.w));
    float *x0 = malloc(bytes), *tmp = malloc(bytes), *g = malloc(bytes), w[DIM];
    if (!x0 || !tmp || !g) return 1;
    unsigned seed = 12345;
    fill(x0, ROWS * DIM, &seed, 2.0f);
    fill(g, ROWS * DIM, &seed, 1.0f);
    fill(w, DIM, &seed, 1.0f);
    TRY(mlxc_buffer_write(d.gate, 0, g, bytes));
    TRY(mlxc_buffer_write(d.w, 0, w, sizeof w));
    printf("workload: %d blocks of rms_norm -> mul -> add over (%d x %d) f32\n\n", LAYERS, ROWS, DIM);

    /* 1. One encoder, auto-barriers inferred from each op's reads and writes. */
    mlxc_counters c0, c1;
    if (reset_inputs(&d, x0)) return 1;
    mlxc_counters_get(&c0);
    mlxc_encoder *enc;
    TRY(mlxc_encoder_create(d.dev, &enc));
    TRY(mlxc_encoder_set_auto_barrier(enc, true));
    for (int l = 0; l < LAYERS; l++)
        if (encode_block(enc, &d)) return 1;
    TRY(mlxc_encoder_commit_and_wait_labeled(enc, "demo.encoder"));
    uint64_t s0, e0;
    TRY(mlxc_encoder_gpu_time(enc, &s0, &e0));
    mlxc_encoder_destroy(enc);
    mlxc_counters_get(&c1);
    double ref = checksum(&d, tmp);
    printf("1. encoder, auto-barrier (device time %.1f us)\n", (double)(e0 - s0) / 1e3);
    delta("", &c0, &c1);

    /* 2. A session: one command buffer per block, fenced on the device. */
    if (reset_inputs(&d, x0)) return 1;
    mlxc_counters_get(&c0);
    mlxc_session *sess;
    TRY(mlxc_session_create(d.dev, &sess));
    for (int l = 0; l < LAYERS; l++) {
        mlxc_encoder *se = mlxc_session_encoder(sess);
        TRY(mlxc_encoder_set_auto_barrier(se, true));
        if (encode_block(se, &d)) return 1;
        TRY(mlxc_session_fence_stage(sess, "demo.session.block"));
        if (l + 1 < LAYERS) TRY(mlxc_session_reset_for_next_stage(sess));
    }
    TRY(mlxc_session_wait(sess));
    mlxc_counters_get(&c1);
    double sess_sum = checksum(&d, tmp);
    printf("2. session: fence_value %llu, wait_count %llu, wait_value %llu, completed %llu\n",
           (unsigned long long)mlxc_session_fence_value(sess), (unsigned long long)mlxc_session_wait_count(sess),
           (unsigned long long)mlxc_session_wait_value(sess), (unsigned long long)mlxc_session_completed_value(sess));
    delta("", &c0, &c1);
    mlxc_session_destroy(sess);

    /* 3. Capture once, fuse and reorder, instantiate, replay many times. */
    mlxc_counters_get(&c0);
    TRY(mlxc_encoder_create(d.dev, &enc));
    TRY(mlxc_encoder_start_capture(enc));
    for (int l = 0; l < LAYERS; l++)
        if (encode_block(enc, &d)) return 1;
    mlxc_graph *graph;
    TRY(mlxc_encoder_take_capture(enc, &graph));
    mlxc_encoder_destroy(enc);
    size_t before = mlxc_graph_dispatch_count(graph), fused = 0, moved = 0;
    TRY(mlxc_graph_fuse(graph, d.dev, &fused));
    TRY(mlxc_graph_reorder(graph, &moved));
    mlxc_graph_exec *exec;
    TRY(mlxc_graph_instantiate(graph, d.dev, &exec));
    mlxc_counters_get(&c1);
    printf("3. graph: captured %zu dispatches; fused %zu rms_norm+mul pairs -> %zu dispatches, %zu barriers; reorder moved %zu\n",
           before, fused, mlxc_graph_dispatch_count(graph), mlxc_graph_barrier_count(graph), moved);
    delta("capture + instantiate", &c0, &c1);
    if (reset_inputs(&d, x0)) return 1;
    mlxc_counters_get(&c0);
    TRY(mlxc_encoder_create(d.dev, &enc));
    TRY(mlxc_graph_exec_launch(exec, enc));
    TRY(mlxc_encoder_commit_and_wait_labeled(enc, "demo.replay"));
    mlxc_encoder_destroy(enc);
    mlxc_counters_get(&c1);
    double replay_sum = checksum(&d, tmp);
    delta("one replay", &c0, &c1);
    /* Timing: many replays, one command buffer each. */
    uint64_t total = 0;
    for (int r = 0; r < replays; r++) {
        TRY(mlxc_encoder_create(d.dev, &enc));
        TRY(mlxc_graph_exec_launch(exec, enc));
        TRY(mlxc_encoder_commit_and_wait(enc));
        uint64_t s, e;
        TRY(mlxc_encoder_gpu_time(enc, &s, &e));
        total += e - s;
        mlxc_encoder_destroy(enc);
    }
    printf("   %ld replays: %.1f us device time each (%zu dispatches)\n\n", replays, (double)total / replays / 1e3,
           mlxc_graph_dispatch_count(graph));
    mlxc_graph_exec_destroy(exec);
    mlxc_graph_destroy(graph);

    /* The three paths compute the same function; fusion keeps results exact. */
    int ok = ref == sess_sum && ref == replay_sum && isfinite(ref);
    printf("checksums: encoder %.6f, session %.6f, replay %.6f -> %s\n", ref, sess_sum, replay_sum,
           ok ? "identical" : "MISMATCH");
    if (trace) {
        TRY(mlxc_profile_write_trace(trace));
        size_t ncb = mlxc_profile_cb_entries(NULL, 0), nd = mlxc_profile_dispatch_entries(NULL, 0);
        printf("trace written to %s (%zu command-buffer labels, %zu dispatches)%s\n", trace, ncb, nd,
               ncb || nd ? "" : ": set MLXC_PROFILE_CB / MLXC_PROFILE_DISPATCH to record them");
    }
    mlxc_buffer_release(d.x);
    mlxc_buffer_release(d.gate);
    mlxc_buffer_release(d.h);
    mlxc_buffer_release(d.y);
    mlxc_buffer_release(d.w);
    mlxc_device_close(d.dev);
    free(x0);
    free(tmp);
    free(g);
    return ok ? 0 : 1;
}
