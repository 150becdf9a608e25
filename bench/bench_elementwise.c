/* Elementwise family: silu_mul, gelu, sigmoid_mul, cast, scale, softcap at
 * LLM shapes (FFN activations of 512 tokens, a [4096, 4096] scale), f32
 * and bf16.  Each variant is checked against the CPU device (fresh random
 * inputs, poisoned outputs, normalized error), then timed over operand
 * sets rotated past the cache.  Bytes = each input read once + each
 * output written once; % = fraction of the measured copy ceiling.
 *
 *   bench_elementwise [--cpu] [--filter TEXT] [--iters N] */
#include "bench.h"

static mlxc_status do_silu_mul(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    return mlxc_silu_mul(enc, S[0], S[1], S[2]);
}
static mlxc_status do_gelu(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) { return mlxc_gelu(enc, S[0], S[1]); }
static mlxc_status do_sigmoid_mul(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    return mlxc_sigmoid_mul(enc, S[0], S[1], S[2]);
}
static mlxc_status do_cast(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) { return mlxc_cast(enc, S[0], S[1]); }
static mlxc_status do_scale(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    return mlxc_scale(enc, S[0], S[1], 0.5f);
}
static mlxc_status do_softcap(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    return mlxc_softcap(enc, S[0], S[1], 30.0f);
}

static void family(mlxc_dtype dt) {
    char label[96];
    const char *dn = mlxc_dtype_name(dt);
    const size_t es = mlxc_dtype_size(dt);
    const double tol = bench_tol(dt);
    static const uint32_t ffn[3] = {8192, 11008, 14336};
    for (int fi = 0; fi < 3; fi++) {
        const size_t nf = (size_t)512 * ffn[fi];
        snprintf(label, sizeof label, "silu_mul %s [512, %u]", dn, ffn[fi]);
        bench_variant v = {label, 3, {BIN(dt, nf), BIN(dt, nf), BOUT(dt, nf, tol)}, 3.0 * nf * es, do_silu_mul, NULL};
        bench_variant_run(&v);
    }
    const size_t nf = (size_t)512 * 14336;
    snprintf(label, sizeof label, "gelu %s [512, 14336]", dn);
    bench_variant g = {label, 2, {BIN(dt, nf), BOUT(dt, nf, tol)}, 2.0 * nf * es, do_gelu, NULL};
    bench_variant_run(&g);
    snprintf(label, sizeof label, "sigmoid_mul %s [512, 14336]", dn);
    bench_variant sm = {label, 3, {BIN(dt, nf), BIN(dt, nf), BOUT(dt, nf, tol)}, 3.0 * nf * es, do_sigmoid_mul, NULL};
    bench_variant_run(&sm);
    if (dt != MLXC_BF16) {
        snprintf(label, sizeof label, "cast %s->bf16 [512, 14336]", dn);
        bench_variant c = {label, 2, {BIN(dt, nf), BOUT(MLXC_BF16, nf, 0)}, (double)nf * (es + 2), do_cast, NULL};
        bench_variant_run(&c);
    }
    const size_t n = (size_t)4096 * 4096;
    snprintf(label, sizeof label, "scale %s [4096, 4096]", dn);
    bench_variant s = {label, 2, {BIN(dt, n), BOUT(dt, n, tol)}, 2.0 * n * es, do_scale, NULL};
    bench_variant_run(&s);
    snprintf(label, sizeof label, "softcap %s [4096, 4096]", dn);
    bench_variant sc = {label, 2, {BIN_R(dt, n, -60, 60), BOUT(dt, n, tol)}, 2.0 * n * es, do_softcap, NULL};
    bench_variant_run(&sc);
}

int main(int argc, char **argv) {
    if (bench_init(argc, argv, "bench_elementwise") != argc) {
        fprintf(stderr, "usage: bench_elementwise [--cpu] [--filter TEXT] [--iters N]\n");
        return 2;
    }
    bench_table_header();
    family(MLXC_F32);
    family(MLXC_BF16);
    return bench_end();
}
