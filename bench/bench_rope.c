/* RoPE family: NeoX rotation in place, head_dim 128, theta 500000, over
 * 4096 tokens and a decode row, 16 and 32 heads, f32 and bf16.  Each
 * variant is checked against the CPU device (positions below 200, where
 * the two sides' sin/cos agree to the bound), then timed over operand sets
 * rotated past the cache.  Bytes = the rows read and written.  Also the
 * decode step's fused bias / q-k norm / rope / KV-cache write
 * (mlxc_rope_qkv_cache) at Qwen3-8B's shape (32 q heads, 8 KV heads, norms)
 * and Qwen2.5-7B's (28 and 4, biases), bf16 with a bf16 cache of 4096
 * rows, one token and 512; bytes = the qkv row, bias or norms, q and the
 * cache rows written (not the whole cache).
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

typedef struct qkv_arg {
    mlxc_rope_qkv_desc d;
    bool               bias, norm;
} qkv_arg;

static mlxc_status do_rope_qkv(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    const qkv_arg *q = a;
    return mlxc_rope_qkv_cache(enc, S[0], q->bias ? S[1] : NULL, q->norm ? S[2] : NULL, q->norm ? S[3] : NULL, S[4],
                               S[5], S[6], S[7], NULL, &q->d);
}

static void fused(void) {
    static const struct { const char *model; uint32_t H, KV; bool bias, norm; } shapes[2] = {
        {"qwen3-8b", 32, 8, false, true}, {"qwen2.5-7b", 28, 4, true, false}};
    static const uint32_t toks[2] = {1, 512};
    const mlxc_dtype dt = MLXC_BF16;
    const uint32_t hd = 128, cap = 4096;
    char label[96];
    for (int si = 0; si < 2; si++)
        for (int ti = 0; ti < 2; ti++) {
            const uint32_t T = toks[ti], H = shapes[si].H, KV = shapes[si].KV, NH = H + 2 * KV;
            const qkv_arg a = {{{MLXC_ROPE_NEOX, H, hd, 0, 1e6f, 1.0f, {0}, 0.0f}, KV, cap, false, 1e-6f},
                               shapes[si].bias, shapes[si].norm};
            const double row = (double)NH * hd * 2;
            const double bytes = T * row + (a.bias ? row : 0) + (a.norm ? 2.0 * hd * 2 : 0) + (double)T * H * hd * 2 +
                                 2.0 * T * KV * hd * 2;
            snprintf(label, sizeof label, "rope_qkv_cache %s bf16 [%u, %u+2x%u, 128]", shapes[si].model, T, H, KV);
            bench_variant v = {label, 8,
                               {BIN_R(dt, (size_t)T * NH * hd, -2, 2), BIN(dt, (size_t)NH * hd),
                                BIN_R(dt, hd, 0.5, 1.5), BIN_R(dt, hd, 0.5, 1.5), BOUT(dt, (size_t)T * H * hd, bench_tol(dt)),
                                BINOUT(dt, (size_t)KV * cap * hd, bench_tol(dt)), BINOUT(dt, (size_t)KV * cap * hd, bench_tol(dt)),
                                BINT(MLXC_I32, T, cap)}, /* distinct positions: one writer a row */
                               bytes, do_rope_qkv, &a};
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
    fused();
    return bench_end();
}
