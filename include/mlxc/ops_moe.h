/*
 * mlxc/ops_moe.h — mixture-of-experts routing, combine and grouping on the
 * device.
 *
 * A MoE layer with `experts` experts sends each token to k of them:
 *
 *     mlxc_matmul(enc, x, w_router, logits, tokens, experts, hidden);
 *     mlxc_moe_route(enc, logits, NULL, ids, weights, &route);   // ids, weights (tokens, k)
 *     mlxc_qmatmul_experts(...ids...)  ->  expert_out (tokens, k, hidden)
 *     mlxc_moe_combine(enc, expert_out, weights, NULL, NULL, x, x, tokens, k, hidden);
 *
 * and, for prefill, mlxc_moe_group lists the (token, slot) pairs of each
 * expert so that one expert's rows can be gathered and multiplied together.
 *
 * Routing.  Per token (a row of `experts` logits, f32 or bf16) the k best
 * experts are chosen, in descending order, ties to the lower expert id,
 * NaN below every number (the order of mlxc_topk, and of a stable
 * descending sort; torch.topk itself returns tied elements in an order of
 * its own), and each gets a weight in f32:
 *   MLXC_MOE_SOFTMAX_TOPK  p = softmax(logits); the k largest p (ranked by
 *                          logit, which softmax keeps in order); w = p.
 *                          Mixtral, Qwen2/3-MoE.
 *   MLXC_MOE_SIGMOID_BIAS  s = sigmoid(logits); the k largest s + bias (bias
 *                          per expert, f32, NULL for zeros: it steers the
 *                          choice only); w = s.  DeepSeek-V3.  With n_group
 *                          > 1 the choice is group-limited as DeepSeek-V3's
 *                          (n_group 8, topk_group 4): the experts form
 *                          n_group equal runs, a run scores the sum of its
 *                          two largest s + bias, and the k come from the
 *                          topk_group best runs only (run ties to the lower
 *                          run; the experts of the other runs are left out
 *                          where the reference code sets their score to 0,
 *                          the same choice unless scores drop to 0 or below).
 *   MLXC_MOE_TOPK_SOFTMAX  the k largest logits; w = softmax over those k.
 *                          gpt-oss.
 * Then, when renormalize, w /= the sum of the token's k weights (Mixtral,
 * Qwen3-MoE norm_topk_prob, DeepSeek-V3 norm_topk_prob); then w *= scale
 * (DeepSeek-V3 routed_scaling_factor; 1 for the others).  k <= 64,
 * k <= experts <= 512.
 *
 * Combine.  s = sum_j w[t, j] * expert_out[t, j, :] + g * shared[t, :],
 * accumulated in f32 and rounded to out's dtype; g = sigmoid(gate[t]) with
 * a gate, else 1 (a shared expert without a gate, DeepSeek-V3); then out =
 * s + residual[t, :], rounded again: the bits of a combine without the
 * residual followed by mlxc_add (the same for f32).  Each of shared, gate
 * and residual is optional.  out may be the residual buffer itself (in
 * place), so a layer's experts can join the residual stream in this pass.
 *
 * Grouping.  Slot s = t * k + j is token t's j-th choice.  From ids
 * (tokens, k): counts[e] (the slots of expert e), offsets (experts + 1: the
 * exclusive scan of counts, offsets[experts] = the routed slots) and perm
 * (tokens * k): perm[offsets[e] .. offsets[e + 1]) are e's slots in
 * increasing order (a stable sort by expert); a slot whose id is >= experts
 * belongs to no expert and is listed after offsets[experts], in order, so
 * perm is always a permutation.  Deterministic on every backend (no
 * atomics).  The token of slot s is s / k.
 */
#ifndef MLXC_OPS_MOE_H
#define MLXC_OPS_MOE_H

#include "mlxc/encoder.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MLXC_MOE_MAX_K 64
#define MLXC_MOE_MAX_EXPERTS 512
#define MLXC_MOE_MAX_GROUPS 32

typedef enum mlxc_moe_scoring {
    MLXC_MOE_SOFTMAX_TOPK = 0,
    MLXC_MOE_SIGMOID_BIAS = 1,
    MLXC_MOE_TOPK_SOFTMAX = 2
} mlxc_moe_scoring;

typedef struct mlxc_moe_route_desc {
    mlxc_moe_scoring scoring;
    uint32_t         experts;     /* 1 .. 512 */
    uint32_t         k;           /* 1 .. min(64, experts) */
    bool             renormalize; /* divide the k weights by their sum */
    float            scale;       /* multiplies every weight; finite (1 for none) */
    uint32_t         n_group;     /* 0 or 1: no groups; else MLXC_MOE_SIGMOID_BIAS, 2 .. 32,
                                     dividing experts into runs of 2 or more */
    uint32_t         topk_group;  /* runs kept, 1 .. n_group, k <= topk_group * experts / n_group */
} mlxc_moe_route_desc;

/* Top-k routing of each row of router logits (see above).
 *   logits: (tokens, experts) f32 or bf16   bias: (experts) f32 or NULL
 *   (MLXC_MOE_SIGMOID_BIAS only)   ids: (tokens, k) u32   weights: (tokens, k) f32 */
MLXC_API mlxc_status mlxc_moe_route(mlxc_encoder *enc, const mlxc_buffer *logits, const mlxc_buffer *bias,
                                    mlxc_buffer *ids, mlxc_buffer *weights, const mlxc_moe_route_desc *desc);

/* A MoE layer's router for a few tokens (decode) in one pass where the
 * device has it:
 *     normed = mlxc_rms_norm(x, norm, eps)      (when norm is given)
 *     logits = mlxc_matmul(normed or x, w)      (w: (experts, dim))
 *     mlxc_moe_route(logits, bias) -> ids, weights
 * with desc->experts experts.
 *   x: (tokens, dim) f32 or bf16   norm: (dim) as x, or NULL   eps >= 0
 *   w: (experts, dim) f32, f16 or bf16   bias: as mlxc_moe_route's
 *   normed: (tokens, dim) as x, given exactly when norm is   logits:
 *   (tokens, experts) as x   ids, weights: as mlxc_moe_route's
 *   counter: one u32 or more, zero the first time a call uses it; each
 *   call leaves it zero.  Two calls that may run at the same time must not
 *   share it (as the attention decode scratch, ops_attention.h).
 * Outputs overlap no input and each other.  On CUDA, for up to 8 tokens
 * with dim a multiple of 8, x, norm and w 16-byte aligned and x' (tokens *
 * dim f32, with 2 * dim more) plus the logits within the shared memory of
 * a block, one kernel: every
 * block norms x itself (normed has the bits of mlxc_rms_norm on the same
 * device), a warp per expert makes the logits (summed in another order
 * than mlxc_matmul's: they agree to f32 rounding before the store), and
 * the last block to finish routes them (the ids and weights of
 * mlxc_moe_route on those logits, bit for bit).  Elsewhere (the CPU, other
 * shapes) it encodes the three ops (with a barrier after each where the
 * encoder does not place them itself); counter is then not touched. */
MLXC_API mlxc_status mlxc_moe_route_fused(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *norm, float eps,
                                          const mlxc_buffer *w, const mlxc_buffer *bias, mlxc_buffer *normed,
                                          mlxc_buffer *logits, mlxc_buffer *ids, mlxc_buffer *weights,
                                          mlxc_buffer *counter, uint32_t tokens, uint32_t dim,
                                          const mlxc_moe_route_desc *desc);

/* Weighted sum of the expert outputs, plus an optional gated shared expert
 * and an optional residual, in one pass.
 *   expert_out: (tokens, k, hidden) f32 or bf16   weights: (tokens, k) f32
 *   shared: (tokens, hidden) or NULL   gate: (tokens) f32 or the dtype of
 *   expert_out, or NULL (needs shared)   residual: (tokens, hidden) or NULL
 *   out: (tokens, hidden); shared, residual and out have expert_out's dtype.
 * out overlaps no input except that it may be exactly the residual view. */
MLXC_API mlxc_status mlxc_moe_combine(mlxc_encoder *enc, const mlxc_buffer *expert_out, const mlxc_buffer *weights,
                                      const mlxc_buffer *shared, const mlxc_buffer *gate,
                                      const mlxc_buffer *residual, mlxc_buffer *out, uint32_t tokens, uint32_t k,
                                      uint32_t hidden);

/* Stable grouping of the slots by expert (see above).
 *   ids: (tokens, k) u32   counts: (experts) u32   offsets: (experts + 1) u32
 *   perm: (tokens, k) u32; experts 1 .. 512; outputs overlap nothing. */
MLXC_API mlxc_status mlxc_moe_group(mlxc_encoder *enc, const mlxc_buffer *ids, mlxc_buffer *counts,
                                    mlxc_buffer *offsets, mlxc_buffer *perm, uint32_t tokens, uint32_t k,
                                    uint32_t experts);

#ifdef __cplusplus
}
#endif
#endif /* MLXC_OPS_MOE_H */
