/* Norm family: rms_norm_residual (with and without the residual sum),
 * layer_norm and the per-head l2_norm over 4096 tokens and a decode row,
 * hidden 2048 and 4096, f32 and bf16.  Each variant is checked against the
 * CPU device, then timed over operand sets rotated past the cache; decode
 * rows ([1, H]) are latency-bound: read their microseconds.
 *
 *   bench_norm [--cpu] [--filter TEXT] [--iters N] */
#include "bench.h"

typedef struct norm_arg { uint32_t H; } norm_arg;

static mlxc_status do_rms(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    return mlxc_rms_norm_residual(enc, S[0], S[1], S[2], S[3], S[4], ((const norm_arg *)a)->H, 1e-6f);
}
static mlxc_status do_rms_nosum(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    return mlxc_rms_norm_residual(enc, S[0], S[1], S[2], S[3], NULL, ((const norm_arg *)a)->H, 1e-6f);
}
static mlxc_status do_layer(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    return mlxc_layer_norm(enc, S[0], S[1], S[2], S[3], ((const norm_arg *)a)->H, 1e-5f);
}
static mlxc_status do_l2(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    return mlxc_l2_norm(enc, S[0], S[1], 128, 1e-6f);
}

static void family(mlxc_dtype dt) {
    char label[96];
    const char *dn = mlxc_dtype_name(dt);
    const size_t es = mlxc_dtype_size(dt);
    const double tol = bench_tol(dt);
    static const uint32_t hid[2] = {2048, 4096};
    static const uint32_t toks[2] = {4096, 1};
    for (int ti = 0; ti < 2; ti++)
        for (int hi = 0; hi < 2; hi++) {
            const uint32_t T = toks[ti], H = hid[hi];
            const size_t n = (size_t)T * H;
            const norm_arg na = {H};
            snprintf(label, sizeof label, "rms_norm_residual %s [%u, %u]", dn, T, H);
            bench_variant r = {label, 5,
                               {BIN(dt, n), BIN(dt, n), BIN_R(dt, H, 0.5, 1.5), BOUT(dt, n, tol), BOUT(dt, n, 0)},
                               (double)(4 * n + H) * es, do_rms, &na};
            bench_variant_run(&r);
            snprintf(label, sizeof label, "rms_norm_residual %s [%u, %u] no sum", dn, T, H);
            bench_variant r2 = {label, 4, {BIN(dt, n), BIN(dt, n), BIN_R(dt, H, 0.5, 1.5), BOUT(dt, n, tol)},
                                (double)(3 * n + H) * es, do_rms_nosum, &na};
            bench_variant_run(&r2);
            snprintf(label, sizeof label, "layer_norm %s [%u, %u]", dn, T, H);
            bench_variant l = {label, 4, {BIN(dt, n), BIN_R(dt, H, 0.5, 1.5), BIN(dt, H), BOUT(dt, n, tol)},
                               (double)(2 * n + 2 * H) * es, do_layer, &na};
            bench_variant_run(&l);
            snprintf(label, sizeof label, "l2_norm %s [%u, 128]", dn, T * (H / 128));
            bench_variant l2 = {label, 2, {BIN(dt, n), BOUT(dt, n, tol)}, 2.0 * n * es, do_l2, NULL};
            bench_variant_run(&l2);
        }
}

int main(int argc, char **argv) {
    if (bench_init(argc, argv, "bench_norm") != argc) {
        fprintf(stderr, "usage: bench_norm [--cpu] [--filter TEXT] [--iters N]\n");
        return 2;
    }
    bench_table_header();
    family(MLXC_F32);
    family(MLXC_BF16);
    return bench_end();
}
