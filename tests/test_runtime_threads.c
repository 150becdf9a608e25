/* Several threads, each with its own encoder (and session), on one device:
 * results are right and nothing races (run under ThreadSanitizer in CI). */
#include <pthread.h>

#include "test_util.h"

enum { THREADS = 4, ITERS = 40, N = 2048 };

static mlxc_device *dev;
static _Atomic int failures;

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg;
    mlxc_buffer *a = tu_alloc_f32(dev, N), *b = tu_alloc_f32(dev, N), *c = tu_alloc_f32(dev, N);
    float ha[N], hb[N], got[N];
    for (int i = 0; i < N; i++) {
        ha[i] = (float)(id + 1);
        hb[i] = (float)i;
    }
    mlxc_buffer_write(a, 0, ha, sizeof ha);
    mlxc_buffer_write(b, 0, hb, sizeof hb);
    for (int it = 0; it < ITERS; it++) {
        mlxc_encoder *enc;
        if (mlxc_encoder_create(dev, &enc) != MLXC_OK) { failures++; break; }
        mlxc_encoder_set_auto_barrier(enc, (it & 1) != 0);
        int bad = mlxc_add(enc, a, b, c) != MLXC_OK;
        if (!(it & 1)) bad |= mlxc_encoder_barrier(enc) != MLXC_OK;
        bad |= mlxc_mul(enc, c, a, c) != MLXC_OK;
        bad |= (it % 3 == 0 ? mlxc_encoder_commit_and_wait(enc)
                            : (mlxc_encoder_commit(enc) != MLXC_OK ? MLXC_ERR_INTERNAL : mlxc_encoder_wait(enc))) != MLXC_OK;
        mlxc_encoder_destroy(enc);
        bad |= mlxc_buffer_read(c, 0, got, sizeof got) != MLXC_OK;
        for (int i = 0; i < N && !bad; i++) bad |= got[i] != ((float)i + (float)(id + 1)) * (float)(id + 1);
        if (bad) failures++;
    }
    /* A session per thread too. */
    mlxc_session *s;
    if (mlxc_session_create(dev, &s) == MLXC_OK) {
        for (int st = 0; st < 4; st++) {
            if (mlxc_add(mlxc_session_encoder(s), a, b, c) != MLXC_OK) failures++;
            if (mlxc_session_fence_stage(s, "thread.stage") != MLXC_OK) failures++;
            if (st < 3 && mlxc_session_reset_for_next_stage(s) != MLXC_OK) failures++;
        }
        if (mlxc_session_wait(s) != MLXC_OK) failures++;
        mlxc_session_destroy(s);
    } else {
        failures++;
    }
    mlxc_buffer_release(a);
    mlxc_buffer_release(b);
    mlxc_buffer_release(c);
    return NULL;
}

static void test_threads(void) {
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    CHECK_EQ_INT(failures, 0);
}

int main(void) {
    dev = tu_open();
    RUN(test_threads);
    mlxc_device_close(dev);
    HARNESS_END();
}
