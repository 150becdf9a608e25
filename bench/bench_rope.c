/* RoPE family: NeoX rotation in place, head_dim 128, theta 500000, over
 * 4096 tokens and a decode row, 16 and 32 heads, f32 and bf16.  Each
 * variant is checked against the CPU device (positions below 200, where
 * the two sides' sin/cos agree to the bound), then timed over operand sets
 * rotated past the cache.  Bytes = the rows read and written.
 *
 *   bench_rope [--cpu] [--filter TEXT] [--iters N] */
#include "bench.h"

static mlxc_status do_rope(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    return mlxc_rope(enc, S[0], S[0], S[1], NULL, (const mlxc_rope_desc *)a);
}

static void family(mlxc_dtype dt) {
    char label[96];
    const char *dn = mlxc_dtype_name(dt);
    const size_t es = mlxc_dtype_size(dt);
    static const uint32_t hid[2] = {2048, 4096};
    static const uint32_t toks[2] = {4096, 1};
    for (int ti = 0; ti < 2; ti++)
        for (int hi = 0; hi < 2; hi++) {
            const uint32_t T = toks[ti], H = hid[hi], nh = H / 128;
            const size_t n = (size_t)T * H;
            const mlxc_rope_desc rd = {MLXC_ROPE_NEOX, nh, 128, 0, 500000.0f, 1.0f, {0}, 0.0f};
            snprintf(label, sizeof label, "rope neox %s [%u, %u, 128] in place", dn, T, nh);
            bench_variant v = {label, 2, {BINOUT(dt, n, bench_tol(dt)), BINT(MLXC_I32, T, 200)}, 2.0 * n * es,
                               do_rope, &rd};
            bench_variant_run(&v);
        }
}

int main(int argc, char **argv) {
    if (bench_init(argc, argv, "bench_rope") != argc) {
        fprintf(stderr, "usage: bench_rope [--cpu] [--filter TEXT] [--iters N]\n");
        return 2;
    }
    bench_table_header();
    family(MLXC_F32);
    family(MLXC_BF16);
    return bench_end();
}
