/* Softmax family: the attention-score scale_mask_softmax (32 heads x 512
 * queries x 512 keys, causal) and the plain row softmax over a vocabulary
 * row block, f32 and bf16.  Each variant is checked against the CPU
 * device, then timed over operand sets rotated past the cache.
 *
 *   bench_softmax [--cpu] [--filter TEXT] [--iters N] */
#include "bench.h"

static mlxc_status do_sms(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    return mlxc_scale_mask_softmax(enc, S[0], NULL, S[1], (const mlxc_scale_mask_softmax_desc *)a);
}
static mlxc_status do_softmax(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    return mlxc_softmax(enc, S[0], S[1], *(const uint32_t *)a);
}

static void family(mlxc_dtype dt) {
    char label[96];
    const char *dn = mlxc_dtype_name(dt);
    const size_t es = mlxc_dtype_size(dt);
    const double tol = bench_tol(dt);
    const size_t n = (size_t)32 * 512 * 512;
    const mlxc_scale_mask_softmax_desc sd = {512, 512, 0.0884f, true, 0};
    snprintf(label, sizeof label, "scale_mask_softmax causal %s [32, 512, 512]", dn);
    bench_variant v = {label, 2, {BIN_R(dt, n, -8, 8), BOUT(dt, n, tol)}, 2.0 * n * es, do_sms, &sd};
    bench_variant_run(&v);
    static const uint32_t cols = 32000;
    const size_t nr = (size_t)64 * cols;
    snprintf(label, sizeof label, "softmax %s [64, %u]", dn, cols);
    bench_variant s = {label, 2, {BIN_R(dt, nr, -8, 8), BOUT(dt, nr, tol)}, 2.0 * nr * es, do_softmax, &cols};
    bench_variant_run(&s);
}

int main(int argc, char **argv) {
    if (bench_init(argc, argv, "bench_softmax") != argc) {
        fprintf(stderr, "usage: bench_softmax [--cpu] [--filter TEXT] [--iters N]\n");
        return 2;
    }
    bench_table_header();
    family(MLXC_F32);
    family(MLXC_BF16);
    return bench_end();
}
