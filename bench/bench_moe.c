/* Mixture-of-experts family at the shape of Qwen3-30B-A3B (128 experts, top
 * 8, hidden 2048), at decode (1 token) and prefill (512 tokens): routing
 * for each scoring (f32 and bf16 logits; sigmoid-bias also limited to 4 of
 * 8 runs of experts, as DeepSeek-V3), the combine of the k expert
 * outputs with the residual (f32 and bf16), and the grouping of the 512 x
 * 8 slots by expert.  Each variant is checked against the CPU device (ids
 * and grouping exactly), then timed over operand sets rotated past the
 * cache.  The one-token rows are latency-bound: read their microseconds.
 * Bytes: every operand read or written once.
 *
 *   bench_moe [--cpu] [--filter TEXT] [--iters N] */
#include "bench.h"

#define EXPERTS 128u
#define TOPK 8u
#define HIDDEN 2048u

typedef struct route_arg {
    mlxc_moe_scoring scoring;
    uint32_t         tokens;
    uint32_t         n_group, topk_group;
} route_arg;

static mlxc_status do_route(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    const route_arg *r = a;
    mlxc_moe_route_desc d = {.scoring = r->scoring, .experts = EXPERTS, .k = TOPK,
                             .renormalize = r->scoring != MLXC_MOE_TOPK_SOFTMAX,
                             .scale = r->scoring == MLXC_MOE_SIGMOID_BIAS ? 2.5f : 1.0f,
                             .n_group = r->n_group, .topk_group = r->topk_group};
    return mlxc_moe_route(enc, S[0], r->scoring == MLXC_MOE_SIGMOID_BIAS ? S[3] : NULL, S[1], S[2], &d);
}
static mlxc_status do_combine(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    const uint32_t tokens = *(const uint32_t *)a;
    return mlxc_moe_combine(enc, S[0], S[1], NULL, NULL, S[2], S[3], tokens, TOPK, HIDDEN);
}
static mlxc_status do_group(mlxc_encoder *enc, mlxc_buffer *const *S, const void *a) {
    const uint32_t tokens = *(const uint32_t *)a;
    return mlxc_moe_group(enc, S[0], S[1], S[2], S[3], tokens, TOPK, EXPERTS);
}

static const char *scoring_name(mlxc_moe_scoring s) {
    return s == MLXC_MOE_SOFTMAX_TOPK ? "softmax-topk" : s == MLXC_MOE_SIGMOID_BIAS ? "sigmoid-bias" : "topk-softmax";
}

static void family(uint32_t tokens) {
    static route_arg ra[2][4];
    static uint32_t tok[2];
    const int ti = tokens > 1;
    tok[ti] = tokens;
    char label[96];
    for (int di = 0; di < 2; di++) {
        const mlxc_dtype dt = di ? MLXC_BF16 : MLXC_F32;
        const char *dn = mlxc_dtype_name(dt);
        const size_t es = mlxc_dtype_size(dt);
        /* the three scorings, then sigmoid-bias limited to 4 of 8 runs */
        for (int s = 0; s < 4; s++) {
            const mlxc_moe_scoring sc = s == 3 ? MLXC_MOE_SIGMOID_BIAS : (mlxc_moe_scoring)s;
            ra[ti][s] = (route_arg){sc, tokens, s == 3 ? 8 : 0, s == 3 ? 4 : 0};
            snprintf(label, sizeof label, "route %s%s k=%u %s [%u, %u]", scoring_name(sc), s == 3 ? " 4/8 runs" : "",
                     TOPK, dn, tokens, EXPERTS);
            bench_variant v = {label, 4,
                               {BIN_R(dt, (size_t)tokens * EXPERTS, -4, 4), BOUT(MLXC_U32, (size_t)tokens * TOPK, 0),
                                BOUT(MLXC_F32, (size_t)tokens * TOPK, 1e-5), BIN_R(MLXC_F32, EXPERTS, -0.1, 0.1)},
                               (double)tokens * EXPERTS * es + (double)tokens * TOPK * 8, do_route, &ra[ti][s]};
            bench_variant_run(&v);
        }
        snprintf(label, sizeof label, "combine k=%u +residual %s [%u, %u]", TOPK, dn, tokens, HIDDEN);
        const size_t th = (size_t)tokens * HIDDEN;
        bench_variant c = {label, 4,
                           {BIN_R(dt, th * TOPK, -2, 2), BIN_R(MLXC_F32, (size_t)tokens * TOPK, 0, 1), BIN_R(dt, th, -2, 2),
                            BOUT(dt, th, bench_tol(dt))},
                           (double)th * (TOPK + 2) * es + (double)tokens * TOPK * 4, do_combine, &tok[ti]};
        bench_variant_run(&c);
    }
    if (tokens > 1) {
        const size_t slots = (size_t)tokens * TOPK;
        snprintf(label, sizeof label, "group k=%u [%u tokens, %u experts]", TOPK, tokens, EXPERTS);
        bench_variant g = {label, 4,
                           {BINT(MLXC_U32, slots, EXPERTS), BOUT(MLXC_U32, EXPERTS, 0), BOUT(MLXC_U32, EXPERTS + 1, 0),
                            BOUT(MLXC_U32, slots, 0)},
                           (double)slots * 8 + (double)EXPERTS * 8, do_group, &tok[ti]};
        bench_variant_run(&g);
    }
}

int main(int argc, char **argv) {
    if (bench_init(argc, argv, "bench_moe") != argc) {
        fprintf(stderr, "usage: bench_moe [--cpu] [--filter TEXT] [--iters N]\n");
        return 2;
    }
    bench_table_header();
    family(1);
    family(512);
    return bench_end();
}
