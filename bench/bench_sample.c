/* Sampling family over a vocabulary-sized row (Qwen's 151936): argmax,
 * top-k (k = 40) and temperature sampling, f32 and bf16.  Each variant is
 * checked against the CPU device (indices exactly), then timed over
 * operand sets rotated past the cache.  These are latency-bound single
 * rows: read their microseconds.  Bytes = the row read.
 *
 *   bench_sample [--cpu] [--filter TEXT] [--iters N] */
#include "bench.h"

#define VOCAB 151936u

static mlxc_status do_argmax(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    return mlxc_argmax(enc, S[0], S[1], S[2], VOCAB);
}
static mlxc_status do_topk(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    return mlxc_topk(enc, S[0], S[1], S[2], VOCAB, 40);
}
static mlxc_status do_sample(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    return mlxc_sample_softmax(enc, S[0], NULL, S[1], S[2], VOCAB, 0.8f, 0.37f);
}

static void family(mlxc_dtype dt) {
    char label[96];
    const char *dn = mlxc_dtype_name(dt);
    const size_t es = mlxc_dtype_size(dt);
    snprintf(label, sizeof label, "argmax %s [1, %u]", dn, VOCAB);
    bench_variant a = {label, 3, {BIN_R(dt, VOCAB, -10, 10), BOUT(MLXC_U32, 1, 0), BOUT(MLXC_F32, 1, 0)},
                       (double)VOCAB * es, do_argmax, NULL};
    bench_variant_run(&a);
    snprintf(label, sizeof label, "topk k=40 %s [1, %u]", dn, VOCAB);
    bench_variant t = {label, 3, {BIN_R(dt, VOCAB, -10, 10), BOUT(MLXC_F32, 40, 0), BOUT(MLXC_U32, 40, 0)},
                       (double)VOCAB * es, do_topk, NULL};
    bench_variant_run(&t);
    snprintf(label, sizeof label, "sample T=0.8 %s [1, %u]", dn, VOCAB);
    bench_variant s = {label, 3, {BIN_R(dt, VOCAB, -10, 10), BOUT(MLXC_U32, 1, 0), BOUT(MLXC_F32, 1, 1e-4)},
                       (double)VOCAB * es, do_sample, NULL};
    bench_variant_run(&s);
}

int main(int argc, char **argv) {
    if (bench_init(argc, argv, "bench_sample") != argc) {
        fprintf(stderr, "usage: bench_sample [--cpu] [--filter TEXT] [--iters N]\n");
        return 2;
    }
    bench_table_header();
    family(MLXC_F32);
    family(MLXC_BF16);
    return bench_end();
}
