/*
 * By-value parameters of the mixture-of-experts kernels (grid convention:
 * params_elementwise.h).  DT is f32 or bf16; arithmetic in f32.
 *
 *   moe_route_DT(logits, bias, ids, weights, mlxc_p_moe_route)
 *       logits (tokens, experts) DT, bias (experts) f32 (read when use_bias),
 *       ids (tokens, k) u32, weights (tokens, k) f32
 *   moe_combine_DT(expert_out, weights, shared, gate, residual, out, mlxc_p_moe_combine)
 *       expert_out (tokens, k, hidden) DT, weights (tokens, k) f32,
 *       shared (tokens, hidden) DT, gate (tokens) DT or f32 (gate_f32),
 *       residual (tokens, hidden) DT, out (tokens, hidden) DT
 *   moe_group(ids, counts, offsets, perm, mlxc_p_moe_group)
 *       ids (slots) u32, counts (experts) u32, offsets (experts + 1) u32,
 *       perm (slots) u32
 *
 * Routing ranks experts by a score with the (value, lower index, NaN last)
 * order of top-k (ops_rank_key): the logit for the softmax scorings, which
 * softmax does not reorder, and sigmoid(logit) + bias for the sigmoid one.
 */
#ifndef MLXC_KERNELS_PARAMS_MOE_H
#define MLXC_KERNELS_PARAMS_MOE_H

#include <stdint.h>

/* Scorings; the values of mlxc_moe_scoring (include/mlxc/ops_moe.h). */
#define MLXC_P_MOE_SOFTMAX_TOPK 0u /* w = softmax(logits)[id] */
#define MLXC_P_MOE_SIGMOID_BIAS 1u /* rank sigmoid(x) + bias, w = sigmoid(x)[id] */
#define MLXC_P_MOE_TOPK_SOFTMAX 2u /* w = softmax over the k chosen logits */

/* The k largest experts per token, in descending rank; then, when
 * renorm, w /= sum of the k w (left as is when that sum is not > 0);
 * then w *= scale.  n_group > 1 (sigmoid scoring only): the experts form
 * n_group runs of experts / n_group, a run scores the sum of its two
 * largest ranking values (the larger first, in f32), and only the experts
 * of the topk_group best runs (ties to the lower run) can be chosen. */
#define MLXC_P_MOE_MAX_GROUPS 32u /* MLXC_MOE_MAX_GROUPS */
typedef struct mlxc_p_moe_route {
    uint32_t tokens, experts, k;
    uint32_t scoring;
    uint32_t renorm;
    uint32_t use_bias;
    float    scale;
    uint32_t n_group, topk_group;
    uint32_t pad;
} mlxc_p_moe_route;

/* moe_router_W_DT(x, norm, w, bias, normed, logits, ids, weights, counter,
 * mlxc_p_moe_router), CUDA only (ops/moe.c encodes rms_norm, matmul and
 * moe_route where it does not run): x (tokens, dim) DT; norm (dim) DT,
 * read when use_norm; w (experts, dim) W (f32, f16 or bf16); bias as
 * moe_route's; normed (tokens, dim) DT, written when write_normed; logits
 * (tokens, experts) DT; ids, weights as moe_route's; counter one u32,
 * zero before the launch and again after it.  x' = rms_norm(x, norm, eps)
 * (the bits of the rms_norm kernel) or x; logits = round(x' . w^T);
 * then moe_route of the logits with `route` (route.tokens = tokens). */
typedef struct mlxc_p_moe_router {
    mlxc_p_moe_route route;
    uint32_t         dim, use_norm, write_normed;
    float            eps;
} mlxc_p_moe_router;

/* Its launch: a warp an expert, MLXC_MOE_ROUTER_WARPS a block, at most
 * MLXC_MOE_ROUTER_TOKENS tokens; the dynamic shared memory: x' (tokens,
 * dim) f32, the norm's weights (dim) f32, the squares (8, dim / 8 + 1)
 * f32, the logits (tokens, experts) of es bytes. */
#define MLXC_MOE_ROUTER_WARPS 4u
#define MLXC_MOE_ROUTER_TOKENS 8u
static inline uint64_t mlxc_moe_router_smem(uint32_t tokens, uint32_t dim, uint32_t experts, uint32_t es) {
    return (uint64_t)tokens * dim * 4 + (uint64_t)dim * 4 + 8 * ((uint64_t)dim / 8 + 1) * 4 +
           (uint64_t)tokens * experts * es;
}

/* s = sum_j w[t, j] * expert_out[t, j] (j in order) + g * shared, g =
 * sigmoid(gate[t]) when use_gate, else 1, rounded to DT; out = s, or with
 * use_residual round(s + residual) (a combine, then an add).  The shared
 * term only when use_shared. */
typedef struct mlxc_p_moe_combine {
    uint32_t tokens, k, hidden;
    uint32_t use_shared, use_gate, gate_f32, use_residual;
    uint32_t pad;
} mlxc_p_moe_combine;

/* Slots s = t * k + j grouped by expert, stable: counts[e] = #{s : ids[s]
 * = e}, offsets = the exclusive scan of counts with offsets[experts] the
 * number of slots whose id is < experts, perm[offsets[e] + r] = the r-th
 * slot (in slot order) routed to e; slots whose id is >= experts follow,
 * in slot order, so perm is always a permutation of [0, slots). */
typedef struct mlxc_p_moe_group {
    uint32_t slots, experts;
} mlxc_p_moe_group;

#endif /* MLXC_KERNELS_PARAMS_MOE_H */
