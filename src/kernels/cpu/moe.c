/* Mixture-of-experts kernels (src/kernels/params_moe.h), written as the
 * reference the CUDA ones are checked against: routing (a score per
 * expert, the k best, their weights), the weighted combine of the expert
 * outputs, and the stable grouping of token slots by expert for prefill. */
#include "kernels/params_moe.h"
#include "kernels/cpu/ops_cpu.h"

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* The value expert e is ranked by (params_moe.h). */
OPS_ALWAYS_INLINE float route_score(ops_dtype t, const void *row, const float *bias, const mlxc_p_moe_route *p,
                                    uint32_t e) {
    const float x = ops_ld(t, row, e);
    if (p->scoring != MLXC_P_MOE_SIGMOID_BIAS) return x;
    return sigmoidf(x) + (p->use_bias ? bias[e] : 0.0f);
}

/* The runs of experts that may be chosen, one bit per run (params_moe.h):
 * each run's two best keys name the values of its score, and topk_group
 * rounds pick the best run keys (unique: they carry the run index). */
OPS_ALWAYS_INLINE uint32_t allowed_groups(ops_dtype t, const void *row, const float *bias, const uint64_t *key,
                                          /* (experts) */ const mlxc_p_moe_route *p) {
    if (p->n_group <= 1) return 1u;
    const uint32_t gsz = p->experts / p->n_group;
    uint64_t gkey[MLXC_P_MOE_MAX_GROUPS]; /* (n_group) */
    for (uint32_t g = 0; g < p->n_group; g++) {
        uint64_t k1 = 0, k2 = 0; /* the two best keys of run g */
        for (uint32_t e = g * gsz; e < (g + 1) * gsz; e++) {
            if (key[e] > k1) k2 = k1, k1 = key[e];
            else if (key[e] > k2) k2 = key[e];
        }
        const float s1 = route_score(t, row, bias, p, ops_rank_index(k1));
        const float s2 = route_score(t, row, bias, p, ops_rank_index(k2));
        gkey[g] = ops_rank_key(s1 + s2, g);
    }
    uint32_t mask = 0;
    uint64_t prev = UINT64_MAX;
    for (uint32_t j = 0; j < p->topk_group; j++) {
        uint64_t best = 0;
        for (uint32_t g = 0; g < p->n_group; g++)
            if (gkey[g] < prev && gkey[g] > best) best = gkey[g];
        mask |= 1u << ops_rank_index(best);
        prev = best;
    }
    return mask;
}

/* moe_route(logits, bias, ids, weights, p): per token, the rank keys of
 * all experts (0, below every key, for experts of runs left out), then k
 * rounds of "the best key below the last one chosen"
 * (keys are unique: they carry the index), then the chosen experts'
 * weights. */
OPS_ALWAYS_INLINE void moe_route(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *logits = l->args[0]; /* (tokens, experts) */
    const float *bias = l->args[1];  /* (experts), read when use_bias */
    uint32_t *ids = l->args[2];      /* (tokens, k) */
    float *weights = l->args[3];     /* (tokens, k) */
    const mlxc_p_moe_route *p = l->args[4];
    const uint32_t E = p->experts, k = p->k;
    const size_t es = t == OPS_F32 ? 4 : 2;
    uint64_t key[512]; /* (experts) */
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->tokens, &lo, &hi);
    for (uint64_t r = lo; r < hi; r++) {
        const void *row = (const char *)logits + r * E * es; /* (experts) */
        uint32_t *id = ids + r * k;                          /* (k) */
        float *w = weights + r * k;                          /* (k) */
        for (uint32_t e = 0; e < E; e++) key[e] = ops_rank_key(route_score(t, row, bias, p, e), e);
        const uint32_t groups = allowed_groups(t, row, bias, key, p);
        if (p->n_group > 1)
            for (uint32_t e = 0; e < E; e++)
                if (!(groups >> (e / (E / p->n_group)) & 1u)) key[e] = 0;
        uint64_t prev = UINT64_MAX;
        for (uint32_t j = 0; j < k; j++) {
            uint64_t best = 0;
            for (uint32_t e = 0; e < E; e++)
                if (key[e] < prev && key[e] > best) best = key[e];
            id[j] = ops_rank_index(best);
            prev = best;
        }
        /* softmax over every expert: max and sum of exp (in f32, in order) */
        float m = -INFINITY, sum = 0.0f;
        if (p->scoring == MLXC_P_MOE_SOFTMAX_TOPK) {
            for (uint32_t e = 0; e < E; e++) m = fmaxf(m, ops_ld(t, row, e));
            for (uint32_t e = 0; e < E; e++) sum += expf(ops_ld(t, row, e) - m);
        } else if (p->scoring == MLXC_P_MOE_TOPK_SOFTMAX) {
            m = ops_ld(t, row, id[0]); /* the largest chosen logit */
            for (uint32_t j = 0; j < k; j++) sum += expf(ops_ld(t, row, id[j]) - m);
        }
        float wsum = 0.0f;
        for (uint32_t j = 0; j < k; j++) {
            const float x = ops_ld(t, row, id[j]);
            w[j] = p->scoring == MLXC_P_MOE_SIGMOID_BIAS ? sigmoidf(x) : expf(x - m) / sum;
            wsum += w[j];
        }
        const float norm = p->renorm && wsum > 0.0f ? wsum : 1.0f;
        for (uint32_t j = 0; j < k; j++) w[j] = w[j] / norm * p->scale;
    }
}

/* moe_combine(expert_out, weights, shared, gate, residual, out, p): a
 * token's row in chunks of HC, each summed over the k expert rows in f32
 * (row by row, so the reads run along rows), then the shared and residual
 * terms: rounded at the store, and before the residual is added. */
#define HC 256
OPS_ALWAYS_INLINE void moe_combine(const mlxc_cpu_launch *l, ops_dtype t) {
    const void *y = l->args[0];         /* (tokens, k, hidden) */
    const float *w = l->args[1];        /* (tokens, k) */
    const void *shared = l->args[2];    /* (tokens, hidden), read when use_shared */
    const void *gate = l->args[3];      /* (tokens), DT or f32, read when use_gate */
    const void *residual = l->args[4];  /* (tokens, hidden), read when use_residual; may be out */
    void *out = l->args[5];             /* (tokens, hidden) */
    const mlxc_p_moe_combine *p = l->args[6];
    const uint32_t k = p->k, H = p->hidden;
    float acc[HC]; /* (HC) one chunk of the token's row */
    uint64_t lo, hi;
    mlxc_cpu_slice(l, p->tokens, &lo, &hi);
    for (uint64_t r = lo; r < hi; r++) {
        float g = 1.0f;
        if (p->use_gate) g = sigmoidf(p->gate_f32 ? ((const float *)gate)[r] : ops_ld(t, gate, r));
        for (uint32_t h0 = 0; h0 < H; h0 += HC) {
            const uint32_t n = H - h0 < HC ? H - h0 : HC;
            for (uint32_t i = 0; i < n; i++) acc[i] = 0.0f;
            for (uint32_t j = 0; j < k; j++) {
                const float wj = w[r * k + j];
                const uint64_t yrow = (r * k + j) * H + h0;
                for (uint32_t i = 0; i < n; i++) acc[i] += wj * ops_ld(t, y, yrow + i);
            }
            const uint64_t o = r * H + h0;
            if (p->use_shared)
                for (uint32_t i = 0; i < n; i++) acc[i] += g * ops_ld(t, shared, o + i);
            if (p->use_residual)
                for (uint32_t i = 0; i < n; i++) acc[i] = ops_round(t, acc[i]) + ops_ld(t, residual, o + i);
            for (uint32_t i = 0; i < n; i++) ops_st(t, out, o + i, acc[i]);
        }
    }
}
#undef HC

/* moe_group(ids, counts, offsets, perm, p): a counting sort, on one group
 * (the scan is serial; other groups have nothing to do). */
static void moe_group(const mlxc_cpu_launch *l) {
    const uint32_t *ids = l->args[0]; /* (slots) */
    uint32_t *counts = l->args[1];    /* (experts) */
    uint32_t *offsets = l->args[2];   /* (experts + 1) */
    uint32_t *perm = l->args[3];      /* (slots) */
    const mlxc_p_moe_group *p = l->args[4];
    const uint32_t E = p->experts;
    if (mlxc_cpu_group_linear(l) != 0) return;
    for (uint32_t e = 0; e < E; e++) counts[e] = 0;
    for (uint32_t s = 0; s < p->slots; s++)
        if (ids[s] < E) counts[ids[s]]++;
    uint32_t sum = 0;
    for (uint32_t e = 0; e < E; e++) {
        offsets[e] = sum;
        sum += counts[e];
    }
    offsets[E] = sum;
    /* a second pass places each slot after the earlier ones of its expert;
     * offsets[e] is the start again once it is done */
    uint32_t tail = sum;
    for (uint32_t s = 0; s < p->slots; s++) {
        if (ids[s] < E) perm[offsets[ids[s]]++] = s;
        else perm[tail++] = s;
    }
    for (uint32_t e = 0; e < E; e++) offsets[e] -= counts[e];
}

/* One entry point per kernel name. */
static void moe_route_f32(const mlxc_cpu_launch *l) { moe_route(l, OPS_F32); }
static void moe_route_bf16(const mlxc_cpu_launch *l) { moe_route(l, OPS_BF16); }
static void moe_combine_f32(const mlxc_cpu_launch *l) { moe_combine(l, OPS_F32); }
static void moe_combine_bf16(const mlxc_cpu_launch *l) { moe_combine(l, OPS_BF16); }

#define MLXC_FAMILY_NAME moe
#define MLXC_FAMILY_DEF "kernels/moe.def"
#include "kernels/cpu/family_tables.h"
