/* Layout family: permute_021 and transpose_2d of 4096-token activations
 * (hidden 2048 and 4096, heads of 128), f32 and bf16; the embedding gather
 * (bf16 table -> f32 rows) and the KV-cache append (prefill block and a
 * decode row at a device-held position).  Each variant is checked against
 * the CPU device (exactly: these move bytes), then timed over operand sets
 * rotated past the cache.  Bytes = each element read once + written once.
 *
 *   bench_layout [--cpu] [--filter TEXT] [--iters N] */
#include "bench.h"

typedef struct shape_arg { uint32_t a, r, c; } shape_arg;

static mlxc_status do_permute(mlxc_encoder *enc, mlxc_buffer *const *S, const void *p) {
    const shape_arg *s = p;
    return mlxc_permute_021(enc, S[0], S[1], s->a, s->r, s->c);
}
static mlxc_status do_transpose(mlxc_encoder *enc, mlxc_buffer *const *S, const void *p) {
    const shape_arg *s = p;
    return mlxc_transpose_2d(enc, S[0], S[1], s->a, s->r, s->c);
}
static mlxc_status do_gather(mlxc_encoder *enc, mlxc_buffer *const *S, const void *p) {
    return mlxc_embedding_gather(enc, S[0], S[1], S[2], 4096, 1.0f);
}
static mlxc_status do_kv(mlxc_encoder *enc, mlxc_buffer *const *S, const void *p) {
    return mlxc_kv_cache_copy(enc, S[0], S[1], (const mlxc_kv_cache_desc *)p, 0, NULL);
}
static mlxc_status do_kv_pos(mlxc_encoder *enc, mlxc_buffer *const *S, const void *p) {
    return mlxc_kv_cache_copy(enc, S[0], S[1], (const mlxc_kv_cache_desc *)p, 0, S[2]);
}

static void family(mlxc_dtype dt) {
    char label[96];
    const char *dn = mlxc_dtype_name(dt);
    const size_t es = mlxc_dtype_size(dt);
    static const uint32_t hid[2] = {2048, 4096};
    const uint32_t T = 4096;
    for (int hi = 0; hi < 2; hi++) {
        const uint32_t H = hid[hi], nh = H / 128;
        const size_t n = (size_t)T * H;
        const shape_arg pa = {T, nh, 128}, ta = {1, T, H};
        snprintf(label, sizeof label, "permute_021 %s [%u, %u, 128]", dn, T, nh);
        bench_variant p = {label, 2, {BIN(dt, n), BOUT(dt, n, 0)}, 2.0 * n * es, do_permute, &pa};
        bench_variant_run(&p);
        snprintf(label, sizeof label, "transpose_2d %s [%u, %u]", dn, T, H);
        bench_variant t = {label, 2, {BIN(dt, n), BOUT(dt, n, 0)}, 2.0 * n * es, do_transpose, &ta};
        bench_variant_run(&t);
    }
}

int main(int argc, char **argv) {
    if (bench_init(argc, argv, "bench_layout") != argc) {
        fprintf(stderr, "usage: bench_layout [--cpu] [--filter TEXT] [--iters N]\n");
        return 2;
    }
    bench_table_header();
    family(MLXC_F32);
    family(MLXC_BF16);
    const uint32_t V = 32000, Hd = 4096, T = 512;
    bench_variant g = {"embedding_gather bf16->f32 [512 of 32000, 4096]", 3,
                       {BIN(MLXC_BF16, (size_t)V * Hd), BINT(MLXC_U32, T, 1000), BOUT(MLXC_F32, (size_t)T * Hd, 0)},
                       (double)T * Hd * 6, do_gather, NULL};
    bench_variant_run(&g);
    const mlxc_kv_cache_desc kd = {8, 128, 4096, false};
    bench_variant k = {"kv_cache_copy bf16 [512, 8, 128] -> cap 4096", 2,
                       {BIN(MLXC_BF16, (size_t)T * 8 * 128), BINOUT(MLXC_BF16, (size_t)8 * 4096 * 128, 0)},
                       (double)T * 8 * 128 * 4, do_kv, &kd};
    bench_variant_run(&k);
    bench_variant k1 = {"kv_cache_copy bf16 [1, 8, 128] (device pos)", 3,
                        {BIN(MLXC_BF16, 8 * 128), BINOUT(MLXC_BF16, (size_t)8 * 4096 * 128, 0), BINT(MLXC_I32, 1, 1000)},
                        8 * 128 * 4, do_kv_pos, &kd};
    bench_variant_run(&k1);
    return bench_end();
}
