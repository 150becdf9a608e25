/* Linear-attention family (Qwen3-Next's gated delta net): the delta rule's
 * decode step at 32 value heads over 16 key heads of 128 (1 and 8
 * sequences), whose cost is reading and writing the f32 state once, so
 * its fraction of the copy ceiling is the figure to read; the chunked
 * prefill and the recurrent form over 4096 tokens (compute-bound: read
 * the microseconds); the short convolution over the 8192 q/k/v channels
 * and the gated norm, decode and prefill.  bf16 activations, f32 state.
 * Each variant is checked against the CPU device, then timed over operand
 * sets rotated past the cache.
 *
 *   bench_linear_attn [--cpu] [--filter TEXT] [--iters N] */
#include "bench.h"

enum { HK = 16, HV = 32, D = 128, CONV_C = 2 * HK * D + HV * D };

typedef struct la_arg {
    uint32_t ns, T;
} la_arg;

static mlxc_gdn_desc gdn_desc(const la_arg *a) {
    mlxc_gdn_desc d = {a->ns, a->T, HK, HV, D, D, true, 0};
    return d;
}
static mlxc_status do_recurrent(mlxc_encoder *enc, mlxc_buffer *const *S, const void *arg) {
    const mlxc_gdn_desc d = gdn_desc(arg);
    return mlxc_gdn_recurrent(enc, S[0], S[1], S[2], S[3], S[4], S[5], S[6], &d);
}
static mlxc_status do_chunked(mlxc_encoder *enc, mlxc_buffer *const *S, const void *arg) {
    const mlxc_gdn_desc d = gdn_desc(arg);
    return mlxc_gdn_chunked(enc, S[0], S[1], S[2], S[3], S[4], S[5], S[6], &d);
}
static mlxc_status do_conv(mlxc_encoder *enc, mlxc_buffer *const *S, const void *arg) {
    const la_arg *a = arg;
    const mlxc_short_conv_desc d = {a->ns, a->T, CONV_C, 4, true};
    return mlxc_short_conv(enc, S[0], S[1], S[2], S[3], &d);
}
static mlxc_status do_norm(mlxc_encoder *enc, mlxc_buffer *const *S, const void *arg) {
    (void)arg;
    return mlxc_rms_norm_gated(enc, S[0], S[1], S[2], S[3], D, 1e-6f);
}

int main(int argc, char **argv) {
    if (bench_init(argc, argv, "bench_linear_attn") != argc) {
        fprintf(stderr, "usage: bench_linear_attn [--cpu] [--filter TEXT] [--iters N]\n");
        return 2;
    }
    bench_table_header();
    const mlxc_dtype dt = MLXC_BF16;
    const double tol = bench_tol(dt);
    char label[96];
    /* The delta rule: decode (1 and 8 sequences), then 4096-token prefills. */
    static const la_arg gdn[] = {{1, 1}, {8, 1}, {1, 4096}};
    for (size_t i = 0; i < sizeof gdn / sizeof *gdn; i++) {
        const la_arg *a = &gdn[i];
        const size_t rows = (size_t)a->ns * a->T, nq = rows * HK * D, nv = rows * HV * D, ng = rows * HV;
        const size_t ns = (size_t)a->ns * HV * D * D;
        const double bytes = (double)(2 * nq + 2 * nv) * 2 + (double)ng * 8 + (double)ns * 8;
        for (int chunked = 0; chunked < 2; chunked++) {
            if (chunked && a->T == 1) continue; /* decode is the recurrent form */
            snprintf(label, sizeof label, "gdn_%s bf16 [%u x %u] %u/%u heads of %u", chunked ? "chunked" : "recurrent",
                     a->ns, a->T, HK, HV, D);
            bench_variant v = {label, 7,
                               {BIN(dt, nq), BIN(dt, nq), BIN(dt, nv), BIN_R(MLXC_F32, ng, -1.2, -0.01),
                                BIN_R(MLXC_F32, ng, 0.05, 0.95), BINOUT(MLXC_F32, ns, 1e-5), BOUT(dt, nv, tol)},
                               bytes, chunked ? do_chunked : do_recurrent, a};
            bench_variant_run(&v);
        }
    }
    /* The convolution and the gated norm at decode and at 4096 tokens. */
    static const la_arg toks[] = {{1, 1}, {1, 4096}};
    for (size_t i = 0; i < 2; i++) {
        const la_arg *a = &toks[i];
        const size_t n = (size_t)a->T * CONV_C, ns = (size_t)3 * CONV_C;
        snprintf(label, sizeof label, "short_conv bf16 [%u, %u] width 4 + silu", a->T, CONV_C);
        bench_variant c = {label, 4, {BIN(dt, n), BIN(dt, (size_t)CONV_C * 4), BINOUT(dt, ns, 0), BOUT(dt, n, tol)},
                           (double)(2 * n + 4 * CONV_C + 2 * ns) * 2, do_conv, a};
        bench_variant_run(&c);
        const size_t m = (size_t)a->T * HV * D;
        snprintf(label, sizeof label, "rms_norm_gated bf16 [%u, %u]", a->T * HV, D);
        bench_variant r = {label, 4, {BIN(dt, m), BIN(dt, m), BIN_R(dt, D, 0.5, 1.5), BOUT(dt, m, tol)},
                           (double)(3 * m + D) * 2, do_norm, NULL};
        bench_variant_run(&r);
    }
    return bench_end();
}
