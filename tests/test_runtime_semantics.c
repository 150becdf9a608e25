/* The semantics carried over from mlx-native (design.md section 4), one test
 * per numbered rule, plus capture/replay and the randomized graph passes. */
#include <math.h>

#include "core/internal.h"
#include "test_util.h"

static mlxc_device *dev;

static void delta(const mlxc_counters *a, const mlxc_counters *b, mlxc_counters *d) {
    d->sync = b->sync - a->sync;
    d->dispatch = b->dispatch - a->dispatch;
    d->cmd_buf = b->cmd_buf - a->cmd_buf;
    d->barrier = b->barrier - a->barrier;
    d->auto_barrier = b->auto_barrier - a->auto_barrier;
    d->auto_barrier_concurrent = b->auto_barrier_concurrent - a->auto_barrier_concurrent;
}

static void spin_dispatch(mlxc_encoder *enc, mlxc_buffer *stamps, uint64_t ns) {
    tu_p_spin p = {ns};
    mlxc_arg args[2] = {mlxc_arg_buffer(stamps), mlxc_arg_bytes(&p, sizeof p)};
    mlxc_dispatch d = {.kernel = tu_kernel(dev, "spin_stamp"), .args = args, .nargs = 2, .grid = {1, 1, 1},
                       .block = {32, 1, 1}};
    CHECK_OK(mlxc_encoder_dispatch(enc, &d));
}

/* 1. Dispatches between barriers may run concurrently; a barrier orders them. */
static void test_1_concurrency_and_barrier_order(void) {
    mlxc_device_caps caps;
    mlxc_device_caps_get(dev, &caps);
    if (!tu_is_cuda(dev) && caps.compute_units < 2) {
        printf("  (one CPU worker: overlap not observable, ordering still checked)\n");
    }
    int64_t s2[1] = {2};
    mlxc_buffer *a, *b;
    CHECK_OK(mlxc_buffer_alloc(dev, 16, MLXC_I64, 1, s2, &a));
    CHECK_OK(mlxc_buffer_alloc(dev, 16, MLXC_I64, 1, s2, &b));
    const uint64_t ns = 40 * 1000 * 1000;
    for (int with_barrier = 0; with_barrier < 2; with_barrier++) {
        mlxc_encoder *enc;
        CHECK_OK(mlxc_encoder_create(dev, &enc));
        spin_dispatch(enc, a, ns);
        if (with_barrier) CHECK_OK(mlxc_encoder_barrier(enc));
        spin_dispatch(enc, b, ns);
        CHECK_OK(mlxc_encoder_commit_and_wait(enc));
        mlxc_encoder_destroy(enc);
        uint64_t ta[2], tb[2];
        CHECK_OK(mlxc_buffer_read(a, 0, ta, 16));
        CHECK_OK(mlxc_buffer_read(b, 0, tb, 16));
        bool overlap = ta[0] < tb[1] && tb[0] < ta[1];
        if (with_barrier) {
            CHECK_MSG(ta[1] <= tb[0], "a [%" PRIu64 ", %" PRIu64 "] must end before b starts at %" PRIu64, ta[0], ta[1], tb[0]);
        } else if (caps.compute_units >= 2 || tu_is_cuda(dev)) {
            CHECK_MSG(overlap, "a [%" PRIu64 ", %" PRIu64 "] b [%" PRIu64 ", %" PRIu64 "]", ta[0], ta[1], tb[0], tb[1]);
        }
    }
    mlxc_buffer_release(a);
    mlxc_buffer_release(b);
}

/* 2. Barrier counting: capture +0 (a node), before the first dispatch +0,
 *    otherwise +1 each. */
static void test_2_barrier_counting(void) {
    mlxc_buffer *x = tu_alloc_f32(dev, 64);
    mlxc_counters c0, c1, d;
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    mlxc_counters_get(&c0);
    CHECK_OK(mlxc_encoder_barrier(enc)); /* before any dispatch */
    mlxc_counters_get(&c1);
    delta(&c0, &c1, &d);
    CHECK_EQ_INT(d.barrier, 0);
    CHECK_OK(mlxc_add(enc, x, x, x));
    mlxc_counters_get(&c0);
    CHECK_OK(mlxc_encoder_barrier(enc));
    CHECK_OK(mlxc_encoder_barrier(enc));
    CHECK_OK(mlxc_encoder_barrier(enc));
    mlxc_counters_get(&c1);
    delta(&c0, &c1, &d);
    CHECK_EQ_INT(d.barrier, 3);
    CHECK_OK(mlxc_encoder_start_capture(enc));
    mlxc_counters_get(&c0);
    CHECK_OK(mlxc_encoder_barrier(enc));
    mlxc_counters_get(&c1);
    delta(&c0, &c1, &d);
    CHECK_EQ_INT(d.barrier, 0);
    mlxc_graph *g;
    CHECK_OK(mlxc_encoder_take_capture(enc, &g));
    CHECK_EQ_INT(mlxc_graph_barrier_count(g), 1);
    CHECK_EQ_INT(mlxc_graph_node_count(g), 1);
    mlxc_graph_destroy(g);
    CHECK_OK(mlxc_encoder_commit_and_wait(enc));
    mlxc_encoder_destroy(enc);
    mlxc_buffer_release(x);
}

/* 3. Counter deltas for dispatch, replay, command buffers, syncs, reset. */
static void test_3_counter_deltas(void) {
    mlxc_buffer *x = tu_alloc_f32(dev, 64);
    mlxc_counters c0, c1, d;
    mlxc_counters_get(&c0);
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_OK(mlxc_add(enc, x, x, x));
    CHECK_OK(mlxc_encoder_commit(enc));
    CHECK_OK(mlxc_encoder_wait(enc));
    mlxc_encoder_destroy(enc);
    mlxc_counters_get(&c1);
    delta(&c0, &c1, &d);
    CHECK_EQ_INT(d.dispatch, 1);
    CHECK_EQ_INT(d.cmd_buf, 1);
    CHECK_EQ_INT(d.sync, 0);  /* commit + wait is not a sync */
    mlxc_counters_get(&c0);
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_OK(mlxc_add(enc, x, x, x));
    CHECK_OK(mlxc_encoder_commit_labeled(enc, "counters.labeled"));
    CHECK_OK(mlxc_encoder_wait(enc));
    mlxc_encoder_destroy(enc);
    mlxc_counters_get(&c1);
    delta(&c0, &c1, &d);
    CHECK_EQ_INT(d.sync, mlxc_profile_cb_enabled() ? 1 : 0);
    /* Capture counts dispatches; replay does not. */
    mlxc_counters_get(&c0);
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_OK(mlxc_encoder_start_capture(enc));
    CHECK_OK(mlxc_add(enc, x, x, x));
    CHECK_OK(mlxc_mul(enc, x, x, x));
    mlxc_graph *g;
    CHECK_OK(mlxc_encoder_take_capture(enc, &g));
    mlxc_counters_get(&c1);
    delta(&c0, &c1, &d);
    CHECK_EQ_INT(d.dispatch, 2);
    mlxc_counters_get(&c0);
    CHECK_OK(mlxc_graph_encode_with_barriers(g, enc, NULL)); /* the mul reads the add's output */
    CHECK_OK(mlxc_encoder_commit_and_wait(enc));
    mlxc_counters_get(&c1);
    delta(&c0, &c1, &d);
    CHECK_EQ_INT(d.dispatch, 0);
    CHECK_EQ_INT(d.sync, 1);
    CHECK_EQ_INT(d.cmd_buf, 0);
    CHECK_EQ_INT(mlxc_encoder_dispatch_count(enc), 2);
    mlxc_encoder_destroy(enc);
    mlxc_graph_destroy(g);
    mlxc_counters_reset();
    mlxc_counters_get(&c1);
    CHECK(c1.sync == 0 && c1.dispatch == 0 && c1.cmd_buf == 0 && c1.barrier == 0 && c1.barrier_ns == 0 &&
          c1.auto_barrier == 0 && c1.auto_barrier_concurrent == 0);
    mlxc_buffer_release(x);
}

/* 4. BUFFER carries the view's offset, BUFFER_OFFSET exactly the given one;
 *    capture records the same offsets and replay honours them. */
static void test_4_buffer_offsets(void) {
    enum { N = 64 };
    mlxc_buffer *base = tu_alloc_f32(dev, N), *out1 = tu_alloc_f32(dev, 8), *out2 = tu_alloc_f32(dev, 8);
    float h[N];
    tu_fill(h, N);
    CHECK_OK(mlxc_buffer_write(base, 0, h, sizeof h));
    int64_t s8[1] = {8};
    mlxc_buffer *view;
    CHECK_OK(mlxc_buffer_view(base, 16 * 4, MLXC_F32, 1, s8, &view));
    tu_p_n p = {8};
    const mlxc_kernel *k = tu_kernel(dev, "inc_one");
    mlxc_arg a1[3] = {mlxc_arg_buffer(view), mlxc_arg_buffer(out1), mlxc_arg_bytes(&p, sizeof p)};
    mlxc_arg a2[3] = {mlxc_arg_buffer_offset(view, 40 * 4), mlxc_arg_buffer(out2), mlxc_arg_bytes(&p, sizeof p)};
    for (int captured = 0; captured < 2; captured++) {
        mlxc_encoder *enc;
        CHECK_OK(mlxc_encoder_create(dev, &enc));
        if (captured) CHECK_OK(mlxc_encoder_start_capture(enc));
        mlxc_dispatch d = {.kernel = k, .args = a1, .nargs = 3, .grid = {1, 1, 1}, .block = {32, 1, 1}};
        CHECK_OK(mlxc_encoder_dispatch(enc, &d));
        d.args = a2;
        CHECK_OK(mlxc_encoder_dispatch(enc, &d));
        if (captured) {
            mlxc_graph *g;
            CHECK_OK(mlxc_encoder_take_capture(enc, &g));
            CHECK_OK(mlxc_graph_encode_sequential(g, enc, NULL));
            mlxc_graph_destroy(g);
        }
        CHECK_OK(mlxc_encoder_commit_and_wait(enc));
        mlxc_encoder_destroy(enc);
        float r1[8], r2[8];
        CHECK_OK(mlxc_buffer_read(out1, 0, r1, sizeof r1));
        CHECK_OK(mlxc_buffer_read(out2, 0, r2, sizeof r2));
        int ok1 = 1, ok2 = 1;
        for (int i = 0; i < 8; i++) {
            ok1 &= r1[i] == h[16 + i] + 1.0f;
            ok2 &= r2[i] == h[40 + i] + 1.0f;
        }
        CHECK_MSG(ok1, "BUFFER must apply the view offset (captured=%d)", captured);
        CHECK_MSG(ok2, "BUFFER_OFFSET must apply exactly the given offset (captured=%d)", captured);
    }
    mlxc_buffer_release(view);
    mlxc_buffer_release(base);
    mlxc_buffer_release(out1);
    mlxc_buffer_release(out2);
}

/* 5. Op kind and pending ranges apply to the next dispatch only. */
static void test_5_next_dispatch_only(void) {
    mlxc_buffer *x = tu_alloc_f32(dev, 16), *y = tu_alloc_f32(dev, 16);
    const mlxc_kernel *k;
    CHECK_OK(mlxc_kernel_get(dev, "add_f32", &k));
    uint64_t n = 16;
    mlxc_arg args[4] = {mlxc_arg_buffer(x), mlxc_arg_buffer(x), mlxc_arg_buffer(y), mlxc_arg_bytes(&n, 8)};
    mlxc_dispatch d = {.kernel = k, .args = args, .nargs = 4, .grid = {1, 1, 1}, .block = {64, 1, 1}};
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_OK(mlxc_encoder_start_capture(enc));
    CHECK_OK(mlxc_encoder_set_op_kind(enc, MLXC_OP_SDPA));
    const mlxc_buffer *r[1] = {x}, *w[1] = {y};
    CHECK_OK(mlxc_encoder_set_pending_ranges(enc, r, 1, w, 1));
    CHECK_OK(mlxc_encoder_dispatch(enc, &d));
    CHECK_OK(mlxc_encoder_dispatch(enc, &d));
    mlxc_graph *g;
    CHECK_OK(mlxc_encoder_take_capture(enc, &g));
    mlxc_graph_node_info i0, i1;
    CHECK_OK(mlxc_graph_node(g, 0, &i0));
    CHECK_OK(mlxc_graph_node(g, 1, &i1));
    CHECK(i0.op_kind == MLXC_OP_SDPA && i1.op_kind == MLXC_OP_OTHER);
    CHECK(i0.nreads == 1 && i0.nwrites == 1);
    CHECK(i1.nreads == 0 && i1.nwrites == 0);
    CHECK_EQ_INT(mlxc_graph_unannotated_count(g), 1);
    CHECK(strcmp(i0.kernel, "add_f32") == 0);
    CHECK_ERR(mlxc_graph_node(g, 2, &i0), MLXC_ERR_OUT_OF_RANGE);
    CHECK(strcmp(mlxc_op_kind_name(MLXC_OP_SDPA), "Sdpa") == 0);
    CHECK(!mlxc_op_kind_is_reorderable(MLXC_OP_SOFTMAX) && mlxc_op_kind_is_reorderable(MLXC_OP_OTHER));
    mlxc_graph_destroy(g);
    mlxc_encoder_destroy(enc);
    mlxc_buffer_release(x);
    mlxc_buffer_release(y);
}

/* 6a. The tracker: exact ranges, RAW/WAR/WAW, read/read, allocations. */
static void test_6_mem_ranges(void) {
    mlxc_buffer *a = tu_alloc_f32(dev, 16), *b = tu_alloc_f32(dev, 16);
    mlxc_mem_ranges *mr;
    CHECK_OK(mlxc_mem_ranges_create(&mr));
    CHECK_EQ_INT(mlxc_mem_ranges_len(mr), 0);
    /* The seed's sequence: write a, read b; then read a conflicts. */
    const mlxc_buffer *ra[1] = {a}, *rb[1] = {b};
    bool ok;
    CHECK_OK(mlxc_mem_ranges_check(mr, rb, 1, ra, 1, &ok));
    CHECK(ok);
    CHECK_OK(mlxc_mem_ranges_add(mr, rb, 1, ra, 1));
    CHECK_EQ_INT(mlxc_mem_ranges_len(mr), 2);
    CHECK_OK(mlxc_mem_ranges_check(mr, ra, 1, NULL, 0, &ok));
    CHECK(!ok);                                          /* RAW */
    CHECK_EQ_INT(mlxc_mem_ranges_barriers_forced(mr), 1);
    mlxc_mem_ranges_reset(mr);
    CHECK_EQ_INT(mlxc_mem_ranges_len(mr), 0);
    CHECK_OK(mlxc_mem_ranges_check(mr, ra, 1, NULL, 0, &ok));
    CHECK(ok);
    /* WAR, WAW, read/read. */
    CHECK_OK(mlxc_mem_ranges_add(mr, ra, 1, NULL, 0));
    CHECK_OK(mlxc_mem_ranges_check(mr, ra, 1, NULL, 0, &ok));
    CHECK(ok);                                           /* read/read */
    CHECK_OK(mlxc_mem_ranges_check(mr, NULL, 0, ra, 1, &ok));
    CHECK(!ok);                                          /* WAR */
    mlxc_mem_ranges_reset(mr);
    CHECK_OK(mlxc_mem_ranges_add(mr, NULL, 0, ra, 1));
    CHECK_OK(mlxc_mem_ranges_check(mr, NULL, 0, ra, 1, &ok));
    CHECK(!ok);                                          /* WAW */
    CHECK_OK(mlxc_mem_ranges_check(mr, NULL, 0, rb, 1, &ok));
    CHECK(ok);                                           /* another allocation */
    /* Exact view ranges: disjoint and touching views of one allocation. */
    int64_t s4[1] = {4};
    mlxc_buffer *v0, *v1, *v2;
    CHECK_OK(mlxc_buffer_view(b, 0, MLXC_F32, 1, s4, &v0));   /* [0, 16)  */
    CHECK_OK(mlxc_buffer_view(b, 16, MLXC_F32, 1, s4, &v1));  /* [16, 32) touches v0 */
    CHECK_OK(mlxc_buffer_view(b, 8, MLXC_F32, 1, s4, &v2));   /* [8, 24) overlaps both */
    mlxc_mem_ranges_reset(mr);
    const mlxc_buffer *w0[1] = {v0}, *w1[1] = {v1}, *w2[1] = {v2};
    CHECK_OK(mlxc_mem_ranges_add(mr, NULL, 0, w0, 1));
    CHECK_OK(mlxc_mem_ranges_check(mr, NULL, 0, w1, 1, &ok));
    CHECK(ok);
    CHECK_OK(mlxc_mem_ranges_check(mr, w2, 1, NULL, 0, &ok));
    CHECK(!ok);
    mlxc_buffer_range r;
    CHECK_OK(mlxc_buffer_range_of(v1, MLXC_RANGE_DST, &r));
    CHECK(r.p0 == 16 && r.p1 == 32 && r.alloc_id == mlxc_buffer_alloc_id(b) && r.role == MLXC_RANGE_DST);
    CHECK_EQ_INT(mlxc_mem_ranges_checks(mr), 9);
    CHECK_ERR(mlxc_mem_ranges_check(mr, NULL, 1, NULL, 0, &ok), MLXC_ERR_INVALID_ARGUMENT);
    CHECK_ERR(mlxc_mem_ranges_check(NULL, NULL, 0, NULL, 0, &ok), MLXC_ERR_INVALID_ARGUMENT);
    mlxc_mem_ranges_destroy(mr);
    mlxc_buffer_release(v0);
    mlxc_buffer_release(v1);
    mlxc_buffer_release(v2);
    mlxc_buffer_release(a);
    mlxc_buffer_release(b);
}

/* 6b. Tracked dispatch: gate off is the plain dispatch and moves no auto
 *     counter; on, conflicts emit one barrier each and reset the tracker. */
static void test_6_tracked_counters(void) {
    mlxc_buffer *a = tu_alloc_f32(dev, 32), *b = tu_alloc_f32(dev, 32), *c = tu_alloc_f32(dev, 32);
    mlxc_counters c0, c1, d;
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_OK(mlxc_encoder_set_auto_barrier(enc, false));
    mlxc_counters_get(&c0);
    CHECK_OK(mlxc_add(enc, a, b, c));
    CHECK_OK(mlxc_add(enc, c, b, a)); /* would conflict */
    mlxc_counters_get(&c1);
    delta(&c0, &c1, &d);
    CHECK_EQ_INT(d.auto_barrier, 0);
    CHECK_EQ_INT(d.auto_barrier_concurrent, 0);
    CHECK_EQ_INT(d.barrier, 0);
    CHECK_EQ_INT(mlxc_encoder_mem_ranges_len(enc), 0);
    /* discarded, not run: without a barrier the two adds race on c (the
     * thread sanitizer saw it when they happened to overlap) */
    mlxc_encoder_destroy(enc);

    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_OK(mlxc_encoder_set_auto_barrier(enc, true));
    CHECK(mlxc_encoder_auto_barrier(enc));
    mlxc_counters_get(&c0);
    CHECK_OK(mlxc_add(enc, a, a, b));   /* group 1: read a, write b */
    CHECK_OK(mlxc_mul(enc, a, a, c));   /* read a, write c: concurrent */
    CHECK_EQ_INT(mlxc_encoder_mem_ranges_len(enc), 6);
    CHECK_OK(mlxc_add(enc, b, c, a));   /* reads b, c; writes a: conflict */
    CHECK_EQ_INT(mlxc_encoder_mem_ranges_len(enc), 3);
    mlxc_counters_get(&c1);
    delta(&c0, &c1, &d);
    CHECK_EQ_INT(d.auto_barrier, 1);
    CHECK_EQ_INT(d.auto_barrier_concurrent, 2); /* the first dispatch and the mul */
    CHECK_EQ_INT(d.barrier, 1);
    CHECK_OK(mlxc_encoder_force_barrier_and_reset_tracker(enc));
    CHECK_EQ_INT(mlxc_encoder_mem_ranges_len(enc), 0);
    CHECK_OK(mlxc_encoder_commit_and_wait(enc));
    mlxc_encoder_destroy(enc);
    mlxc_buffer_release(a);
    mlxc_buffer_release(b);
    mlxc_buffer_release(c);
}

/* 6c. A case where the missing barrier changes the result: a slow writer
 *     and a reader in one group.  Tracked + auto-barrier gets it right. */
static void test_6_missing_barrier_changes_result(void) {
    mlxc_device_caps caps;
    mlxc_device_caps_get(dev, &caps);
    enum { N = 256 };
    mlxc_buffer *src = tu_alloc_f32(dev, N), *dst = tu_alloc_f32(dev, N);
    const mlxc_kernel *slow = tu_kernel(dev, "slow_fill");
#ifdef __SANITIZE_THREAD__
    /* The untracked half is a deliberate race; ThreadSanitizer runs skip it. */
    for (int tracked = 1; tracked < 2; tracked++) {
#else
    for (int tracked = 0; tracked < 2; tracked++) {
#endif
        float old[N];
        for (int i = 0; i < N; i++) old[i] = 3.0f;
        CHECK_OK(mlxc_buffer_write(src, 0, old, sizeof old));
        mlxc_encoder *enc;
        CHECK_OK(mlxc_encoder_create(dev, &enc));
        CHECK_OK(mlxc_encoder_set_auto_barrier(enc, true));
        tu_p_slow p = {N, 7.0f, 30 * 1000 * 1000};
        mlxc_arg args[2] = {mlxc_arg_buffer(src), mlxc_arg_bytes(&p, sizeof p)};
        const mlxc_buffer *w[1] = {src};
        mlxc_dispatch d = {.kernel = slow, .args = args, .nargs = 2, .grid = {1, 1, 1}, .block = {64, 1, 1},
                           .writes = w, .nwrites = 1};
        if (tracked) {
            CHECK_OK(mlxc_encoder_dispatch_tracked(enc, &d));
            CHECK_OK(mlxc_copy(enc, src, dst));        /* tracked: sees the conflict */
        } else {
            CHECK_OK(mlxc_encoder_dispatch(enc, &d));  /* untracked: no barrier */
            const mlxc_kernel *cp;
            CHECK_OK(mlxc_kernel_get(dev, "copy_bytes", &cp));
            uint64_t nb = N * 4;
            mlxc_arg ca[3] = {mlxc_arg_buffer(src), mlxc_arg_buffer(dst), mlxc_arg_bytes(&nb, 8)};
            mlxc_dispatch cd = {.kernel = cp, .args = ca, .nargs = 3, .grid = {1, 1, 1}, .block = {64, 1, 1}};
            CHECK_OK(mlxc_encoder_dispatch(enc, &cd));
        }
        CHECK_OK(mlxc_encoder_commit_and_wait(enc));
        mlxc_encoder_destroy(enc);
        float got[N];
        CHECK_OK(mlxc_buffer_read(dst, 0, got, sizeof got));
        if (tracked) {
            CHECK_MSG(got[0] == 7.0f && got[N - 1] == 7.0f, "auto-barrier: reader must see the write (got %g)", got[0]);
        } else if (!tu_is_cuda(dev) && caps.compute_units >= 2) {
            CHECK_MSG(got[0] == 3.0f, "without a barrier the reader runs alongside the writer (got %g)", got[0]);
        }
    }
    mlxc_buffer_release(src);
    mlxc_buffer_release(dst);
}

/* A random program over a few buffers (views included) of add/mul/copy/
 * rms_norm; run with hand-placed barriers after every op and with tracked
 * auto-barriers: the bytes must be identical. */
enum { NB = 6, LEN = 512, DIM = 64 };
typedef struct prog_op { int kind; int a, b, out; } prog_op;

static void random_program(prog_op *ops, int n) {
    for (int i = 0; i < n; i++) {
        ops[i].kind = (int)(tu_u32() % 4);
        ops[i].a = (int)(tu_u32() % NB);
        ops[i].b = (int)(tu_u32() % NB);
        do ops[i].out = (int)(tu_u32() % NB);
        while (ops[i].kind == 3 && ops[i].out == ops[i].a); /* rms_norm in place is not allowed to alias */
    }
}

static mlxc_status encode_op(mlxc_encoder *enc, mlxc_buffer **bufs, mlxc_buffer *w, const prog_op *op) {
    switch (op->kind) {
    case 0: return mlxc_add(enc, bufs[op->a], bufs[op->b], bufs[op->out]);
    case 1: return mlxc_mul(enc, bufs[op->a], bufs[op->b], bufs[op->out]);
    case 2: return op->a == op->out ? mlxc_add(enc, bufs[op->a], bufs[op->b], bufs[op->out])
                                    : mlxc_copy(enc, bufs[op->a], bufs[op->out]);
    default: return mlxc_rms_norm(enc, bufs[op->a], w, bufs[op->out], DIM, 1e-5f);
    }
}

static void make_buffers(mlxc_buffer *base, mlxc_buffer **bufs) {
    /* Six views of one allocation plus separate allocations: exercises exact
     * ranges within an allocation. */
    for (int i = 0; i < NB; i++) {
        int64_t s[1] = {LEN};
        CHECK_OK(mlxc_buffer_view(base, (size_t)i * LEN * 4, MLXC_F32, 1, s, &bufs[i]));
    }
}

static int run_program(const prog_op *ops, int n, int mode, const float *init, const float *wv, float *out) {
    /* mode 0: barrier after every op; 1: tracked auto-barrier; 2: capture,
     * fuse, reorder, replay; 3: capture, instantiate, launch twice (idempotent
     * programs are not assumed: reset between launches). */
    mlxc_buffer *base = tu_alloc_f32(dev, NB * LEN), *bufs[NB], *w = tu_alloc_f32(dev, DIM);
    make_buffers(base, bufs);
    CHECK_OK(mlxc_buffer_write(base, 0, init, NB * LEN * 4));
    CHECK_OK(mlxc_buffer_write(w, 0, wv, DIM * 4));
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_OK(mlxc_encoder_set_auto_barrier(enc, mode == 1));
    if (mode >= 2) CHECK_OK(mlxc_encoder_start_capture(enc));
    for (int i = 0; i < n; i++) {
        CHECK_OK(encode_op(enc, bufs, w, &ops[i]));
        if (mode == 0) CHECK_OK(mlxc_encoder_barrier(enc));
    }
    if (mode >= 2) {
        mlxc_graph *g;
        CHECK_OK(mlxc_encoder_take_capture(enc, &g));
        if (mode == 2) {
            size_t fused = 0, moved = 0;
            CHECK_OK(mlxc_graph_fuse(g, dev, &fused));
            CHECK_OK(mlxc_graph_reorder(g, &moved));
            CHECK_OK(mlxc_graph_encode_sequential(g, enc, NULL));
        } else {
            mlxc_graph_exec *ex;
            CHECK_OK(mlxc_graph_encode_with_barriers(g, enc, NULL));
            CHECK_OK(mlxc_encoder_commit_and_wait(enc));
            mlxc_encoder_destroy(enc);
            CHECK_OK(mlxc_buffer_write(base, 0, init, NB * LEN * 4));
            CHECK_OK(mlxc_graph_instantiate(g, dev, &ex));
            CHECK_OK(mlxc_encoder_create(dev, &enc));
            CHECK_OK(mlxc_graph_exec_launch(ex, enc));
            mlxc_graph_exec_destroy(ex); /* the command buffer keeps it alive */
        }
        mlxc_graph_destroy(g);
    }
    CHECK_OK(mlxc_encoder_commit_and_wait(enc));
    mlxc_encoder_destroy(enc);
    CHECK_OK(mlxc_buffer_read(base, 0, out, NB * LEN * 4));
    for (int i = 0; i < NB; i++) mlxc_buffer_release(bufs[i]);
    mlxc_buffer_release(base);
    mlxc_buffer_release(w);
    return 0;
}

static void test_6_parity_tracked_vs_explicit_and_graph_passes(void) {
    static float init[NB * LEN], ref[NB * LEN], got[NB * LEN], wv[DIM];
    for (int trial = 0; trial < 12; trial++) {
        tu_seed(1000 + (uint64_t)trial);
        for (int i = 0; i < NB * LEN; i++) init[i] = tu_uniform() * 0.9f;
        for (int i = 0; i < DIM; i++) wv[i] = tu_uniform();
        prog_op ops[40];
        int n = 10 + trial * 2;
        random_program(ops, n);
        run_program(ops, n, 0, init, wv, ref);
        /* Fusion does not write the norm's output when nothing in the graph
         * reads it afterwards, so a buffer whose last writer is a norm is
         * compared only where fusion is off. */
        bool norm_last[NB] = {false};
        for (int i = 0; i < n; i++) norm_last[ops[i].out] = ops[i].kind == 3;
        for (int mode = 1; mode <= 3; mode++) {
            run_program(ops, n, mode, init, wv, got);
            for (int b = 0; b < NB; b++) {
                if (mode == 2 && norm_last[b]) continue;
                CHECK_MSG(memcmp(ref + b * LEN, got + b * LEN, LEN * 4) == 0,
                          "trial %d mode %d: buffer %d differs from explicit barriers", trial, mode, b);
            }
        }
    }
}

/* Fusion turns norm+mul into one dispatch and keeps results bit-identical,
 * for every float dtype. */
static void test_fusion_rms_norm_mul(void) {
    mlxc_dtype dts[3] = {MLXC_F32, MLXC_F16, MLXC_BF16};
    for (int t = 0; t < 3; t++) {
        size_t es = mlxc_dtype_size(dts[t]);
        enum { ROWS = 9, D = 100 };
        int64_t s[2] = {ROWS, D}, sw[1] = {D};
        mlxc_buffer *x, *w, *g, *h, *out;
        CHECK_OK(mlxc_buffer_alloc(dev, ROWS * D * es, dts[t], 2, s, &x));
        CHECK_OK(mlxc_buffer_alloc(dev, ROWS * D * es, dts[t], 2, s, &g));
        CHECK_OK(mlxc_buffer_alloc(dev, ROWS * D * es, dts[t], 2, s, &h));
        CHECK_OK(mlxc_buffer_alloc(dev, ROWS * D * es, dts[t], 2, s, &out));
        CHECK_OK(mlxc_buffer_alloc(dev, D * es, dts[t], 1, sw, &w));
        unsigned char raw[ROWS * D * 4];
        float f[ROWS * D];
        mlxc_buffer *fill[3] = {x, g, w};
        for (int b = 0; b < 3; b++) {
            size_t n = (size_t)(b == 2 ? D : ROWS * D);
            tu_fill(f, n);
            for (size_t i = 0; i < n; i++) {
                if (dts[t] == MLXC_F32) memcpy(raw + 4 * i, &f[i], 4);
                else {
                    uint16_t v = dts[t] == MLXC_F16 ? mlxc_f32_to_f16(f[i] * 3) : mlxc_f32_to_bf16(f[i] * 3);
                    memcpy(raw + 2 * i, &v, 2);
                }
            }
            CHECK_OK(mlxc_buffer_write(fill[b], 0, raw, n * es));
        }
        unsigned char r1[ROWS * D * 4], r2[ROWS * D * 4];
        for (int fused = 0; fused < 2; fused++) {
            mlxc_encoder *enc;
            CHECK_OK(mlxc_encoder_create(dev, &enc));
            CHECK_OK(mlxc_encoder_start_capture(enc));
            CHECK_OK(mlxc_rms_norm(enc, x, w, h, D, 1e-6f));
            CHECK_OK(mlxc_encoder_barrier(enc));
            CHECK_OK(mlxc_mul(enc, h, g, out));
            mlxc_graph *gr;
            CHECK_OK(mlxc_encoder_take_capture(enc, &gr));
            size_t nf = 0;
            if (fused) {
                CHECK_OK(mlxc_graph_fuse(gr, dev, &nf));
                CHECK_EQ_INT(nf, 1);
                CHECK_EQ_INT(mlxc_graph_dispatch_count(gr), 1);
                CHECK_EQ_INT(mlxc_graph_barrier_count(gr), 0);
            }
            CHECK_OK(mlxc_graph_encode_sequential(gr, enc, NULL));
            CHECK_OK(mlxc_encoder_commit_and_wait(enc));
            mlxc_encoder_destroy(enc);
            mlxc_graph_destroy(gr);
            CHECK_OK(mlxc_buffer_read(out, 0, fused ? r2 : r1, ROWS * D * es));
        }
        CHECK_MSG(memcmp(r1, r2, ROWS * D * es) == 0, "fused %s differs", mlxc_dtype_name(dts[t]));
        /* Not fused when the norm's output is read later. */
        mlxc_encoder *enc;
        CHECK_OK(mlxc_encoder_create(dev, &enc));
        CHECK_OK(mlxc_encoder_start_capture(enc));
        CHECK_OK(mlxc_rms_norm(enc, x, w, h, D, 1e-6f));
        CHECK_OK(mlxc_mul(enc, h, g, out));
        CHECK_OK(mlxc_add(enc, h, out, g));
        mlxc_graph *gr;
        CHECK_OK(mlxc_encoder_take_capture(enc, &gr));
        size_t nf = 9;
        CHECK_OK(mlxc_graph_fuse(gr, dev, &nf));
        CHECK_EQ_INT(nf, 0);
        mlxc_graph_destroy(gr);
        mlxc_encoder_destroy(enc);
        mlxc_buffer_release(x);
        mlxc_buffer_release(w);
        mlxc_buffer_release(g);
        mlxc_buffer_release(h);
        mlxc_buffer_release(out);
    }
}

/* Reorder pulls independent dispatches together, stops at SDPA/SOFTMAX,
 * and refuses graphs without ranges. */
static void test_reorder(void) {
    mlxc_buffer *a = tu_alloc_f32(dev, 64), *b = tu_alloc_f32(dev, 64), *c = tu_alloc_f32(dev, 64),
                *d = tu_alloc_f32(dev, 64);
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_OK(mlxc_encoder_start_capture(enc));
    CHECK_OK(mlxc_add(enc, a, a, b));  /* 0: b = 2a            */
    CHECK_OK(mlxc_add(enc, b, b, b));  /* 1: depends on 0     */
    CHECK_OK(mlxc_add(enc, c, c, d));  /* 2: independent      */
    mlxc_graph *g;
    CHECK_OK(mlxc_encoder_take_capture(enc, &g));
    size_t moved = 0;
    CHECK_OK(mlxc_graph_reorder(g, &moved));
    CHECK_EQ_INT(moved, 1);
    CHECK_EQ_INT(mlxc_graph_dispatch_count(g), 3);
    CHECK_EQ_INT(mlxc_graph_barrier_count(g), 1);  /* {0, 2} | {1} */
    mlxc_graph_node_info i1;
    CHECK_OK(mlxc_graph_node(g, 2, &i1));
    CHECK(i1.is_barrier);
    mlxc_graph_destroy(g);
    /* An SDPA-kind node stops the lookahead. */
    CHECK_OK(mlxc_encoder_start_capture(enc));
    CHECK_OK(mlxc_add(enc, a, a, b));
    CHECK_OK(mlxc_add(enc, b, b, b));
    CHECK_OK(mlxc_encoder_set_op_kind(enc, MLXC_OP_SDPA));
    const mlxc_kernel *k;
    CHECK_OK(mlxc_kernel_get(dev, "add_f32", &k));
    uint64_t n = 64;
    mlxc_arg args[4] = {mlxc_arg_buffer(d), mlxc_arg_buffer(d), mlxc_arg_buffer(d), mlxc_arg_bytes(&n, 8)};
    const mlxc_buffer *rd[1] = {d}, *wd[1] = {d};
    mlxc_dispatch dd = {.kernel = k, .args = args, .nargs = 4, .grid = {1, 1, 1}, .block = {64, 1, 1},
                        .reads = rd, .nreads = 1, .writes = wd, .nwrites = 1};
    CHECK_OK(mlxc_encoder_dispatch_tracked(enc, &dd));
    CHECK_OK(mlxc_add(enc, c, c, c));
    CHECK_OK(mlxc_encoder_take_capture(enc, &g));
    CHECK_OK(mlxc_graph_reorder(g, &moved));
    CHECK_EQ_INT(moved, 0);
    mlxc_graph_destroy(g);
    /* Unannotated dispatches: refused, graph unchanged. */
    CHECK_OK(mlxc_encoder_start_capture(enc));
    dd.nreads = dd.nwrites = 0;
    CHECK_OK(mlxc_encoder_dispatch(enc, &dd));
    CHECK_OK(mlxc_encoder_take_capture(enc, &g));
    CHECK_ERR(mlxc_graph_reorder(g, &moved), MLXC_ERR_STATE);
    CHECK_EQ_INT(mlxc_graph_node_count(g), 1);
    mlxc_graph_destroy(g);
    mlxc_encoder_destroy(enc);
    mlxc_buffer_release(a);
    mlxc_buffer_release(b);
    mlxc_buffer_release(c);
    mlxc_buffer_release(d);
}

/* 9. Sessions: 5 stages give 5 command buffers (10 with separate encoders),
 *    fence_value 5, wait_count 4, wait_value 4, with per-step state. */
static void test_9_session(void) {
    mlxc_buffer *a = tu_alloc_f32(dev, 4), *b = tu_alloc_f32(dev, 4), *out = tu_alloc_f32(dev, 4);
    float ha[4] = {1, 2, 3, 4}, hb[4] = {10, 20, 30, 40};
    CHECK_OK(mlxc_buffer_write(a, 0, ha, 16));
    CHECK_OK(mlxc_buffer_write(b, 0, hb, 16));
    mlxc_counters c0, c1;
    mlxc_counters_get(&c0);
    for (int i = 0; i < 5; i++) {
        for (int k = 0; k < 2; k++) {
            mlxc_encoder *enc;
            CHECK_OK(mlxc_encoder_create(dev, &enc));
            CHECK_OK(mlxc_add(enc, a, b, out));
            CHECK_OK(mlxc_encoder_commit_labeled(enc, k ? "plain.ffn" : "plain.attn"));
            mlxc_encoder_destroy(enc);
        }
    }
    CHECK_OK(mlxc_device_synchronize(dev));
    mlxc_counters_get(&c1);
    CHECK_EQ_INT(c1.cmd_buf - c0.cmd_buf, 10);

    mlxc_counters_get(&c0);
    mlxc_session *s;
    CHECK_OK(mlxc_session_create(dev, &s));
    CHECK_EQ_INT(mlxc_session_fence_value(s), 0);
    CHECK_EQ_INT(mlxc_session_wait_count(s), 0);
    CHECK_EQ_INT(mlxc_session_wait_value(s), 0);
    CHECK(!mlxc_session_has_event(s));
    CHECK(!mlxc_session_is_drained(s));
    for (int i = 0; i < 5; i++) {
        CHECK_OK(mlxc_add(mlxc_session_encoder(s), a, b, out));
        CHECK_OK(mlxc_encoder_barrier(mlxc_session_encoder(s)));
        CHECK_OK(mlxc_add(mlxc_session_encoder(s), out, b, out));
        CHECK_OK(mlxc_session_fence_stage(s, "session.stage"));
        CHECK_EQ_INT(mlxc_session_fence_value(s), i + 1);
        CHECK(mlxc_session_is_fence_pending(s));
        CHECK(mlxc_session_is_drained(s));
        CHECK(mlxc_session_has_event(s));
        CHECK_OK(mlxc_session_fence_stage(s, "again")); /* drained: no-op */
        CHECK_EQ_INT(mlxc_session_fence_value(s), i + 1);
        if (i < 4) {
            CHECK_OK(mlxc_session_reset_for_next_stage(s));
            CHECK_EQ_INT(mlxc_session_wait_count(s), i + 1);
            CHECK_EQ_INT(mlxc_session_wait_value(s), i + 1);
            CHECK(!mlxc_session_is_fence_pending(s));
            CHECK(!mlxc_session_is_drained(s));
        }
    }
    CHECK_OK(mlxc_session_wait(s));
    mlxc_counters_get(&c1);
    CHECK_EQ_INT(c1.cmd_buf - c0.cmd_buf, 5);
    CHECK_EQ_INT(c1.sync - c0.sync, 0);
    CHECK_EQ_INT(mlxc_session_fence_value(s), 5);
    CHECK_EQ_INT(mlxc_session_wait_count(s), 4);
    CHECK_EQ_INT(mlxc_session_wait_value(s), 4);
    CHECK_EQ_INT(mlxc_session_completed_value(s), 5);
    float got[4];
    CHECK_OK(mlxc_buffer_read(out, 0, got, 16));
    CHECK(got[0] == 21.0f && got[3] == 84.0f);
    /* The fifth fence is still pending: the next stage waits for it. */
    CHECK_OK(mlxc_session_reset_for_next_stage(s));
    CHECK_EQ_INT(mlxc_session_wait_count(s), 5);
    /* After a commit without a fence the next stage does not wait. */
    CHECK_OK(mlxc_add(mlxc_session_encoder(s), a, b, out));
    CHECK_OK(mlxc_session_commit_stage(s));
    CHECK(mlxc_session_is_drained(s) && !mlxc_session_is_fence_pending(s));
    CHECK_OK(mlxc_session_reset_for_next_stage(s));
    CHECK_EQ_INT(mlxc_session_wait_count(s), 5);
    CHECK_OK(mlxc_session_reset_for_next_stage(s)); /* not drained: no-op */
    CHECK_OK(mlxc_session_commit_and_wait(s));
    mlxc_session_destroy(s);
    CHECK_ERR(mlxc_session_fence_stage(NULL, NULL), MLXC_ERR_INVALID_ARGUMENT);
    CHECK(mlxc_session_encoder(NULL) == NULL);
    mlxc_buffer_release(a);
    mlxc_buffer_release(b);
    mlxc_buffer_release(out);
}

/* 11. Retained references: buffers released right after encoding stay
 *     alive until the command buffer completes (ASan checks the rest). */
static void test_11_retained_refs(void) {
    if (mlxc_env()->unretained_refs) return;
    enum { N = 4096 };
    mlxc_buffer *a = tu_alloc_f32(dev, N), *b = tu_alloc_f32(dev, N), *keep = tu_alloc_f32(dev, N);
    float h[N];
    tu_fill(h, N);
    CHECK_OK(mlxc_buffer_write(a, 0, h, sizeof h));
    mlxc_encoder *enc;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    CHECK_OK(mlxc_add(enc, a, a, b));
    CHECK_OK(mlxc_encoder_barrier(enc));
    CHECK_OK(mlxc_copy(enc, b, keep));
    CHECK(atomic_load(&a->st->refs) >= 2);
    mlxc_buffer_release(a);
    mlxc_buffer_release(b);
    CHECK_OK(mlxc_encoder_commit(enc));
    CHECK_OK(mlxc_encoder_wait(enc));
    mlxc_encoder_destroy(enc);
    float got[N];
    CHECK_OK(mlxc_buffer_read(keep, 0, got, sizeof got));
    int ok = 1;
    for (int i = 0; i < N; i++) ok &= got[i] == h[i] + h[i];
    CHECK(ok);
    mlxc_buffer_release(keep);
}

/* Destroying a committed but unwaited encoder is safe; work completes. */
static void test_destroy_in_flight(void) {
    mlxc_buffer *x = tu_alloc_f32(dev, 1 << 16), *y = tu_alloc_f32(dev, 1 << 16);
    for (int i = 0; i < 20; i++) {
        mlxc_encoder *enc;
        CHECK_OK(mlxc_encoder_create(dev, &enc));
        CHECK_OK(mlxc_add(enc, x, x, y));
        CHECK_OK(mlxc_encoder_commit(enc));
        mlxc_encoder_destroy(enc);
    }
    CHECK_OK(mlxc_device_synchronize(dev));
    mlxc_buffer_release(x);
    mlxc_buffer_release(y);
}

int main(void) {
    dev = tu_open();
    printf("device: %s\n", mlxc_device_name(dev));
    RUN(test_1_concurrency_and_barrier_order);
    RUN(test_2_barrier_counting);
    RUN(test_3_counter_deltas);
    RUN(test_4_buffer_offsets);
    RUN(test_5_next_dispatch_only);
    RUN(test_6_mem_ranges);
    RUN(test_6_tracked_counters);
    RUN(test_6_missing_barrier_changes_result);
    RUN(test_6_parity_tracked_vs_explicit_and_graph_passes);
    RUN(test_fusion_rms_norm_mul);
    RUN(test_reorder);
    RUN(test_9_session);
    RUN(test_11_retained_refs);
    RUN(test_destroy_in_flight);
    mlxc_device_close(dev);
    HARNESS_END();
}
