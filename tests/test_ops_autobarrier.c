/* Auto-barrier through the op library: a chain of ops with read-after-write,
 * write-after-read and write-after-write hazards (and some independent
 * ops), encoded once with mlxc_encoder_set_auto_barrier(enc, true) and no
 * barriers, once with auto-barrier off and a barrier after every op.  Both
 * must produce the same bytes in every buffer, the first with barriers
 * inferred (auto_barrier > 0) and some dispatches found independent
 * (auto_barrier_concurrent > 0).  Runs on the default device (MLXC_BACKEND);
 * tests/ops.cmake gives the CPU four workers so that concurrency is real;
 * at these sizes the same chain without any barrier does give other bytes. */
#include "ops_test.h"
#include "test_util.h"

enum { T = 64, HEADS = 16, HD = 64, HID = HEADS * HD, VOCAB = 50, CAP = 16, NBUF = 16 };

typedef struct chain {
    mlxc_buffer *b[NBUF];
} chain;

static mlxc_buffer *mk(mlxc_device *dev, mlxc_dtype dt, size_t n, uint64_t seed) {
    ot_buf t = ot_alloc(dev, dt, n);
    ot_rng = seed * 0x9e3779b97f4a7c15ull + 7;
    for (size_t i = 0; i < n; i++)
        t.h[i] = dt == MLXC_U32 ? (double)(ot_u32() % VOCAB) : dt == MLXC_I32 ? (double)(i % T + 3) : ot_uniform(-1, 1);
    ot_upload(&t);
    free(t.h);
    return t.b;
}

/* Encode the chain; with `autob` no barriers (the encoder infers them),
 * without it a barrier after every op. */
static void run_chain(mlxc_device *dev, bool autob, chain *c) {
    enum { TABLE, IDS, W, RES, H, XN, Q, P, A, POS, CACHE, QT, ABF, IDX, VAL, A2 };
    c->b[TABLE] = mk(dev, MLXC_BF16, (size_t)VOCAB * HID, 1);
    c->b[IDS] = mk(dev, MLXC_U32, T, 2);
    c->b[W] = mk(dev, MLXC_F32, HID, 3);
    c->b[RES] = mk(dev, MLXC_F32, (size_t)T * HID, 4);
    c->b[H] = mk(dev, MLXC_F32, (size_t)T * HID, 5);
    c->b[XN] = mk(dev, MLXC_F32, (size_t)T * HID, 6);
    c->b[Q] = mk(dev, MLXC_F32, (size_t)T * HID, 7);
    c->b[P] = mk(dev, MLXC_F32, (size_t)T * HID, 8);
    c->b[A] = mk(dev, MLXC_F32, (size_t)T * HID, 9);
    c->b[POS] = mk(dev, MLXC_I32, T, 10);
    c->b[CACHE] = mk(dev, MLXC_BF16, (size_t)HEADS * CAP * HD, 11);
    c->b[QT] = mk(dev, MLXC_F32, (size_t)T * HID, 12);
    c->b[ABF] = mk(dev, MLXC_BF16, (size_t)T * HID, 13);
    c->b[IDX] = mk(dev, MLXC_U32, T, 14);
    c->b[VAL] = mk(dev, MLXC_F32, T, 15);
    c->b[A2] = mk(dev, MLXC_F32, (size_t)T * HID, 16);
    mlxc_buffer **b = c->b;
    mlxc_encoder *enc = NULL;
    CHECK_OK(mlxc_encoder_create(dev, &enc));
    if (!enc) return;
    CHECK_OK(mlxc_encoder_set_auto_barrier(enc, autob));
#define STEP(call)                                                                             \
    do {                                                                                       \
        CHECK_OK(call);                                                                        \
        if (!autob) CHECK_OK(mlxc_encoder_barrier(enc));                                       \
    } while (0)
    mlxc_rope_desc rd = {MLXC_ROPE_NEOX, HEADS, HD, 0, 10000.0f, 1.0f, {0}, 0.0f};
    mlxc_scale_mask_softmax_desc sd = {HID, T, 0.25f, true, HID - T};
    mlxc_kv_cache_desc kd = {HEADS, HD, CAP, true};
    STEP(mlxc_embedding_gather(enc, b[TABLE], b[IDS], b[H], HID, 1.0f));             /* H = emb          */
    STEP(mlxc_cast(enc, b[TABLE], b[TABLE]));                                          /* WAR: self copy  */
    STEP(mlxc_rms_norm_residual(enc, b[H], b[RES], b[W], b[XN], b[RES], HID, 1e-6f)); /* RAW H; RES += H  */
    STEP(mlxc_rope(enc, b[XN], b[Q], b[POS], NULL, &rd));                              /* RAW XN           */
    STEP(mlxc_scale(enc, b[RES], b[A2], 0.5f));                                        /* independent      */
    STEP(mlxc_scale_mask_softmax(enc, b[Q], NULL, b[P], &sd));                         /* RAW Q            */
    STEP(mlxc_gelu(enc, b[RES], b[XN]));                                               /* WAR XN (rope)    */
    STEP(mlxc_silu_mul(enc, b[P], b[Q], b[A]));                                        /* RAW P            */
    STEP(mlxc_transpose_2d(enc, b[Q], b[QT], 1, T, HID));                              /* read Q again     */
    STEP(mlxc_sigmoid_mul(enc, b[A], b[XN], b[A]));                                    /* in place; RAW    */
    STEP(mlxc_kv_cache_copy(enc, b[A], b[CACHE], &kd, 0, b[POS]));                     /* RAW A            */
    STEP(mlxc_cast(enc, b[A], b[ABF]));                                                /* concurrent w/ kv */
    STEP(mlxc_layer_norm(enc, b[QT], b[W], b[W], b[Q], HID, 1e-5f));                   /* WAW/WAR Q        */
    STEP(mlxc_l2_norm(enc, b[Q], b[Q], HD, 1e-6f));                                    /* in place         */
    STEP(mlxc_softcap(enc, b[Q], b[A2], 0.7f));                                        /* WAW A2           */
    STEP(mlxc_argmax(enc, b[A2], b[IDX], b[VAL], HID));
    STEP(mlxc_sample_softmax(enc, b[A2], NULL, b[IDX], b[VAL], HID, 0.9f, 0.3f));      /* WAW IDX, VAL     */
#undef STEP
    CHECK_OK(mlxc_encoder_commit_and_wait(enc));
    mlxc_encoder_destroy(enc);
}

static void chain_matches(void) {
    mlxc_device *dev = tu_open();
    chain with, without;
    mlxc_counters c0, c1;
    mlxc_counters_reset();
    run_chain(dev, true, &with);
    mlxc_counters_get(&c0);
    run_chain(dev, false, &without);
    mlxc_counters_get(&c1);
    CHECK(c0.auto_barrier >= 8);
    CHECK(c0.auto_barrier_concurrent >= 2);
    CHECK(c0.barrier == c0.auto_barrier);
    CHECK_EQ_INT(c1.auto_barrier, c0.auto_barrier); /* off: the counters do not move */
    printf("  %s: %llu inferred barriers, %llu concurrent dispatches\n", mlxc_device_name(dev),
           (unsigned long long)c0.auto_barrier, (unsigned long long)c0.auto_barrier_concurrent);
    for (int i = 0; i < NBUF; i++) {
        size_t n = mlxc_buffer_bytes(with.b[i]);
        unsigned char *x = malloc(n), *y = malloc(n);
        CHECK_OK(mlxc_buffer_read(with.b[i], 0, x, n));
        CHECK_OK(mlxc_buffer_read(without.b[i], 0, y, n));
        CHECK_MSG(memcmp(x, y, n) == 0, "buffer %d differs", i);
        free(x);
        free(y);
        mlxc_buffer_release(with.b[i]);
        mlxc_buffer_release(without.b[i]);
    }
    mlxc_device_close(dev);
}

int main(void) {
    RUN(chain_matches);
    HARNESS_END();
}
