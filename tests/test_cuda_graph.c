/* CUDA command buffers: concurrency inside a graph-mode command buffer,
 * barriers and tracked ranges as edges, graph replay equal to immediate
 * execution, the executable cache updating nodes in place, and device-side
 * session fences.
 *
 * Overlap is observed, not inferred: two spin kernels each write their own
 * start and end %globaltimer; without an edge between them their intervals
 * must intersect, with one they must not. */
#include "kernels/params_elementwise.h"
#include "kernels/params_norm.h"
#include "harness.h"
#include "mlxc/mlxc.h"
#ifdef MLXC_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

#ifdef MLXC_HAVE_CUDA
static mlxc_device *dev;

static const char *const spin_src =
    "struct P { unsigned long long ns; };\n"
    "__device__ unsigned long long now_ns() { unsigned long long t; asm volatile(\"mov.u64 %0, %%globaltimer;\" : \"=l\"(t)); return t; }\n"
    "extern \"C\" __global__ void cu_spin(unsigned long long *out, P p) {\n"
    "  if (threadIdx.x != 0 || blockIdx.x != 0) return;\n"
    "  unsigned long long t0 = now_ns();\n"
    "  while (now_ns() - t0 < p.ns) {}\n"
    "  out[0] = t0; out[1] = now_ns();\n"
    "}\n";

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float rndf(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    float v = (float)((rng >> 20) & 0xffffff) / 8388608.0f - 1.0f;
    return v == 0.0f ? 0.5f : v;
}

static mlxc_buffer *alloc_f32(size_t n) {
    mlxc_buffer *b = NULL;
    int64_t sh[1] = {(int64_t)n};
    if (mlxc_buffer_alloc(dev, n * 4, MLXC_F32, 1, sh, &b) != MLXC_OK) {
        fprintf(stderr, "alloc: %s\n", mlxc_last_error());
        exit(1);
    }
    return b;
}

static mlxc_buffer *random_f32(size_t n) {
    mlxc_buffer *b = alloc_f32(n);
    float *h = malloc(n * 4);
    for (size_t i = 0; i < n; i++) h[i] = rndf();
    if (mlxc_buffer_write(b, 0, h, n * 4) != MLXC_OK) exit(1);
    free(h);
    return b;
}

/* Two spins of `ns` each into t1 and t2; `mode` 0: no barrier, 1: barrier,
 * 2: tracked with disjoint writes, 3: tracked, both writing one range. */
static void spin_pair(int mode, uint64_t out[4]) {
    const mlxc_kernel *k;
    CHECK_OK(mlxc_kernel_get(dev, "cu_spin", &k));
    mlxc_buffer *t = NULL, *t1 = NULL, *t2 = NULL, *shared = NULL;
    int64_t sh[1] = {2};
    CHECK_OK(mlxc_buffer_alloc(dev, 64, MLXC_U8, 0, NULL, &t));
    CHECK_OK(mlxc_buffer_view(t, 0, MLXC_I64, 1, sh, &t1));
    CHECK_OK(mlxc_buffer_view(t, 16, MLXC_I64, 1, sh, &t2));
    CHECK_OK(mlxc_buffer_alloc(dev, 64, MLXC_U8, 0, NULL, &shared));
    struct { uint64_t ns; } p = {2000000};
    mlxc_arg a1[2] = {mlxc_arg_buffer(t1), mlxc_arg_bytes(&p, sizeof p)};
    mlxc_arg a2[2] = {mlxc_arg_buffer(t2), mlxc_arg_bytes(&p, sizeof p)};
    const mlxc_buffer *w1[1] = {mode == 3 ? shared : t1}, *w2[1] = {mode == 3 ? shared : t2};
    mlxc_dispatch d1 = {.kernel = k, .args = a1, .nargs = 2, .grid = {1, 1, 1}, .block = {32, 1, 1},
                        .writes = w1, .nwrites = 1};
    mlxc_dispatch d2 = {.kernel = k, .args = a2, .nargs = 2, .grid = {1, 1, 1}, .block = {32, 1, 1},
                        .writes = w2, .nwrites = 1};
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_OK(mlxc_encoder_set_auto_barrier(enc, false));
    if (mode >= 2) {
        CHECK_OK(mlxc_encoder_dispatch_tracked(enc, &d1));
        CHECK_OK(mlxc_encoder_dispatch_tracked(enc, &d2));
    } else {
        CHECK_OK(mlxc_encoder_dispatch(enc, &d1));
        if (mode == 1) CHECK_OK(mlxc_encoder_barrier(enc));
        CHECK_OK(mlxc_encoder_dispatch(enc, &d2));
    }
    CHECK_OK(mlxc_encoder_commit_and_wait(enc));
    mlxc_encoder_destroy(enc);
    CHECK_OK(mlxc_buffer_read(t, 0, out, 32));
    mlxc_buffer_release(t1);
    mlxc_buffer_release(t2);
    mlxc_buffer_release(t);
    mlxc_buffer_release(shared);
}

static int overlaps(const uint64_t s[4]) { return s[2] < s[1] && s[0] < s[3]; }

static void test_overlap(void) {
    static const mlxc_kernel_signature spin_sig = {2, {MLXC_PARAM_PTR, MLXC_PARAM_BYTES}, {0, 8}};
    CHECK_OK(mlxc_kernel_register_source(dev, "cu_spin", spin_src, &spin_sig));
    CHECK_OK(mlxc_cuda_set_graph_mode(dev, 1));
    uint64_t s[4];
    spin_pair(0, s);
    CHECK_MSG(overlaps(s), "no barrier: [%llu, %llu] and [%llu, %llu] should overlap", (unsigned long long)s[0],
              (unsigned long long)s[1], (unsigned long long)s[2], (unsigned long long)s[3]);
    CHECK(s[1] - s[0] >= 2000000 && s[3] - s[2] >= 2000000);
    spin_pair(1, s);
    CHECK_MSG(s[2] >= s[1], "barrier: second spin started %lld ns before the first ended",
              (long long)(s[1] - s[2]));
    spin_pair(2, s);
    CHECK_MSG(overlaps(s), "disjoint tracked writes should overlap");
    spin_pair(3, s);
    CHECK_MSG(s[2] >= s[1] || s[0] >= s[3], "conflicting tracked writes must not overlap");
    /* Immediate mode: side streams give the same concurrency. */
    CHECK_OK(mlxc_cuda_set_graph_mode(dev, 0));
    spin_pair(0, s);
    CHECK_MSG(overlaps(s), "immediate mode, no barrier: should overlap");
    spin_pair(1, s);
    CHECK_MSG(s[2] >= s[1], "immediate mode, barrier: second spin started %lld ns early", (long long)(s[1] - s[2]));
    CHECK_OK(mlxc_cuda_set_graph_mode(dev, 1));
}

/* A chain like a decode step: rms_norm, muls and adds over a few buffers,
 * with barriers where one reads what the previous wrote. */
typedef struct chain { mlxc_buffer *x, *w, *s, *h[4], *out; } chain;
enum { DIM = 4096, ROWS = 2, N = DIM * ROWS, STEPS = 40 };

static void chain_encode(mlxc_encoder *enc, const chain *c) {
    CHECK_OK(mlxc_rms_norm(enc, c->x, c->w, c->h[0], DIM, 1e-5f));
    CHECK_OK(mlxc_encoder_barrier(enc));
    for (int i = 0; i < STEPS; i++) {
        mlxc_buffer *a = c->h[i % 2], *b = c->h[(i + 1) % 2];
        if (i % 3 == 0) CHECK_OK(mlxc_mul(enc, a, c->s, b));
        else if (i % 3 == 1) CHECK_OK(mlxc_add(enc, a, c->x, b));
        else CHECK_OK(mlxc_rms_norm(enc, a, c->w, b, DIM, 1e-6f));
        /* An independent side computation between the same barriers. */
        CHECK_OK(mlxc_add(enc, c->x, c->s, c->h[2 + i % 2]));
        CHECK_OK(mlxc_encoder_barrier(enc));
    }
    CHECK_OK(mlxc_copy(enc, c->h[STEPS % 2], c->out));
}

static void chain_reset(const chain *c) {
    float *z = calloc(N, 4);
    for (int i = 0; i < 4; i++) CHECK_OK(mlxc_buffer_write(c->h[i], 0, z, N * 4));
    CHECK_OK(mlxc_buffer_write(c->out, 0, z, N * 4));
    free(z);
}

static void test_replay_equals_immediate(void) {
    chain c;
    c.x = random_f32(N);
    c.w = random_f32(DIM);
    c.s = random_f32(N);
    for (int i = 0; i < 4; i++) c.h[i] = alloc_f32(N);
    c.out = alloc_f32(N);
    float *r[4];
    for (int i = 0; i < 4; i++) r[i] = malloc(N * 4);

    /* 0: immediate, 1: graph at commit, 2: instantiated graph, replayed 3x */
    for (int mode = 0; mode < 2; mode++) {
        CHECK_OK(mlxc_cuda_set_graph_mode(dev, mode));
        chain_reset(&c);
        mlxc_encoder *enc;
        CHECK_OK(mlxc_encoder_create(dev, &enc));
        chain_encode(enc, &c);
        CHECK_OK(mlxc_encoder_commit_and_wait(enc));
        mlxc_encoder_destroy(enc);
        CHECK_OK(mlxc_buffer_read(c.out, 0, r[mode], N * 4));
    }
    CHECK_OK(mlxc_cuda_set_graph_mode(dev, 1));
    mlxc_encoder *cap;
    CHECK_OK(mlxc_encoder_create(dev, &cap));
    CHECK_OK(mlxc_encoder_start_capture(cap));
    chain_encode(cap, &c);
    mlxc_graph *g = NULL;
    CHECK_OK(mlxc_encoder_take_capture(cap, &g));
    mlxc_encoder_destroy(cap);
    mlxc_graph_exec *ex = NULL;
    CHECK_OK(mlxc_graph_instantiate(g, dev, &ex));
    mlxc_cuda_stats before, after;
    for (int rep = 0; rep < 3 && ex; rep++) {
        chain_reset(&c);
        mlxc_cuda_stats_get(&before);
        mlxc_encoder *enc;
        CHECK_OK(mlxc_encoder_create(dev, &enc));
        CHECK_OK(mlxc_graph_exec_launch(ex, enc));
        CHECK_OK(mlxc_encoder_commit_and_wait(enc));
        mlxc_encoder_destroy(enc);
        mlxc_cuda_stats_get(&after);
        CHECK_EQ_INT(after.graph_launches - before.graph_launches, 1);
        CHECK_EQ_INT(after.kernel_launches - before.kernel_launches, 0);
        CHECK_OK(mlxc_buffer_read(c.out, 0, r[2 + (rep > 0)], N * 4));
    }
    CHECK_MSG(memcmp(r[0], r[1], N * 4) == 0, "graph-mode commit differs from immediate");
    CHECK_MSG(memcmp(r[0], r[2], N * 4) == 0, "instantiated graph differs from immediate");
    CHECK_MSG(memcmp(r[0], r[3], N * 4) == 0, "replay differs from the first launch");
    int nonzero = 0;
    for (int i = 0; i < N; i++) nonzero += r[0][i] != 0.0f;
    CHECK(nonzero > N / 2);
    mlxc_graph_exec_destroy(ex);
    mlxc_graph_destroy(g);
    for (int i = 0; i < 4; i++) {
        free(r[i]);
        mlxc_buffer_release(c.h[i]);
    }
    mlxc_buffer_release(c.x);
    mlxc_buffer_release(c.w);
    mlxc_buffer_release(c.s);
    mlxc_buffer_release(c.out);
}

/* Same topology, other buffers: one cached executable, nodes patched. */
static void test_cache_updates_nodes(void) {
    CHECK_OK(mlxc_cuda_set_graph_mode(dev, 1));
    enum { M = 5000 };
    mlxc_buffer *a[2], *b[2], *o[2][4];
    for (int s = 0; s < 2; s++) {
        a[s] = random_f32(M);
        b[s] = random_f32(M);
        for (int i = 0; i < 4; i++) o[s][i] = alloc_f32(M);
    }
    mlxc_cuda_stats st0, st1;
    for (int rep = 0; rep < 3; rep++)
        for (int s = 0; s < 2; s++) {
            mlxc_cuda_stats_get(&st0);
            mlxc_encoder *enc;
            CHECK_OK(mlxc_encoder_create(dev, &enc));
            CHECK_OK(mlxc_encoder_set_auto_barrier(enc, false));
            for (int i = 0; i < 4; i++) CHECK_OK(i % 2 ? mlxc_mul(enc, a[s], b[s], o[s][i]) : mlxc_add(enc, a[s], b[s], o[s][i]));
            CHECK_OK(mlxc_encoder_commit_and_wait(enc));
            mlxc_encoder_destroy(enc);
            mlxc_cuda_stats_get(&st1);
            if (rep > 0 || s > 0) {
                CHECK_EQ_INT(st1.graph_builds - st0.graph_builds, 0);
                CHECK_EQ_INT(st1.graph_hits - st0.graph_hits, 1);
                CHECK_EQ_INT(st1.node_updates - st0.node_updates, 4);
            }
            float *ha = malloc(M * 4), *hb = malloc(M * 4), *ho = malloc(M * 4);
            CHECK_OK(mlxc_buffer_read(a[s], 0, ha, M * 4));
            CHECK_OK(mlxc_buffer_read(b[s], 0, hb, M * 4));
            for (int i = 0; i < 4; i++) {
                CHECK_OK(mlxc_buffer_read(o[s][i], 0, ho, M * 4));
                int bad = 0;
                for (int e = 0; e < M; e++) bad += ho[e] != (i % 2 ? ha[e] * hb[e] : ha[e] + hb[e]);
                CHECK_MSG(bad == 0, "set %d output %d: %d wrong", s, i, bad);
            }
            free(ha);
            free(hb);
            free(ho);
        }
    for (int s = 0; s < 2; s++) {
        mlxc_buffer_release(a[s]);
        mlxc_buffer_release(b[s]);
        for (int i = 0; i < 4; i++) mlxc_buffer_release(o[s][i]);
    }
}

/* Five fenced stages; each waits on the device for the previous one. */
static void test_session_fences(void) {
    for (int mode = 0; mode < 2; mode++) {
        CHECK_OK(mlxc_cuda_set_graph_mode(dev, mode));
        mlxc_buffer *x = random_f32(N), *acc = alloc_f32(N), *tmp = alloc_f32(N);
        mlxc_session *s;
        CHECK_OK(mlxc_session_create(dev, &s));
        for (int i = 0; i < 5; i++) {
            mlxc_encoder *enc = mlxc_session_encoder(s);
            CHECK_OK(mlxc_add(enc, acc, x, tmp));
            CHECK_OK(mlxc_encoder_barrier(enc));
            CHECK_OK(mlxc_copy(enc, tmp, acc));
            CHECK_OK(mlxc_session_fence_stage(s, "stage"));
            if (i < 4) CHECK_OK(mlxc_session_reset_for_next_stage(s));
        }
        CHECK_OK(mlxc_session_wait(s));
        CHECK_EQ_INT(mlxc_session_fence_value(s), 5);
        CHECK_EQ_INT(mlxc_session_completed_value(s), 5);
        CHECK_EQ_INT(mlxc_session_wait_count(s), 4);
        mlxc_session_destroy(s);
        float *hx = malloc(N * 4), *ha = malloc(N * 4);
        CHECK_OK(mlxc_buffer_read(x, 0, hx, N * 4));
        CHECK_OK(mlxc_buffer_read(acc, 0, ha, N * 4));
        int bad = 0;
        for (int i = 0; i < N; i++) {
            float want = 0.0f;
            for (int k = 0; k < 5; k++) want += hx[i];
            bad += ha[i] != want;
        }
        CHECK_MSG(bad == 0, "mode %d: %d elements wrong after five fenced stages", mode, bad);
        free(hx);
        free(ha);
        mlxc_buffer_release(x);
        mlxc_buffer_release(acc);
        mlxc_buffer_release(tmp);
    }
    CHECK_OK(mlxc_cuda_set_graph_mode(dev, 1));
}

/* Device time of a command buffer is filled and ordered. */
static void test_gpu_time(void) {
    const mlxc_kernel *k;
    CHECK_OK(mlxc_kernel_get(dev, "cu_spin", &k));
    mlxc_buffer *t = NULL;
    CHECK_OK(mlxc_buffer_alloc(dev, 64, MLXC_U8, 0, NULL, &t));
    struct { uint64_t ns; } p = {1000000};
    mlxc_arg a[2] = {mlxc_arg_buffer(t), mlxc_arg_bytes(&p, sizeof p)};
    mlxc_dispatch d = {.kernel = k, .args = a, .nargs = 2, .grid = {1, 1, 1}, .block = {32, 1, 1}};
    uint64_t prev_end = 0;
    for (int i = 0; i < 3; i++) {
        mlxc_encoder *enc;
        CHECK_OK(mlxc_encoder_create(dev, &enc));
        CHECK_OK(mlxc_encoder_dispatch(enc, &d));
        CHECK_OK(mlxc_encoder_commit_and_wait(enc));
        uint64_t s = 0, e = 0;
        CHECK_OK(mlxc_encoder_gpu_time(enc, &s, &e));
        CHECK_MSG(e - s >= 900000 && e - s < 50000000, "gpu time %llu ns for a 1 ms spin", (unsigned long long)(e - s));
        CHECK(s >= prev_end);
        prev_end = e;
        mlxc_encoder_destroy(enc);
    }
    mlxc_buffer_release(t);
}
#endif

int main(void) {
#ifndef MLXC_HAVE_CUDA
    SKIP_ALL("no CUDA device (built without the CUDA backend)");
#else
    int n = 0;
    mlxc_device_count(MLXC_BACKEND_CUDA, &n);
    if (n == 0) SKIP_ALL("no CUDA device");
    if (mlxc_device_open(MLXC_BACKEND_CUDA, 0, &dev) != MLXC_OK) {
        fprintf(stderr, "cannot open the CUDA device: %s\n", mlxc_last_error());
        return 1;
    }
    RUN(test_overlap);
    RUN(test_replay_equals_immediate);
    RUN(test_cache_updates_nodes);
    RUN(test_session_fences);
    RUN(test_gpu_time);
    mlxc_device_close(dev);
    HARNESS_END();
#endif
}
