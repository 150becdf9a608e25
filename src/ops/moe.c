/* Front-ends of the mixture-of-experts ops (include/mlxc/ops_moe.h):
 * argument checks, then one dispatch each.  CUDA routes a token per warp
 * (four warps a block), combines a 16-byte vector (or an element) per
 * thread, and groups in one block; the CPU takes runs of tokens per group
 * and groups on one.  The fused router is one CUDA kernel (a warp an
 * expert, four a block), elsewhere the norm, matmul and route ops. */
#include <math.h>
#include <stdio.h>

#include "kernels/params_moe.h"
#include "mlxc/ops_matmul.h"
#include "mlxc/ops_moe.h"
#include "mlxc/ops_norm.h"
#include "ops/ops_internal.h"

/* f32 or bf16, the dtypes the moe kernels are built for. */
static mlxc_status check_act(const char *op, const char *what, const mlxc_buffer *b) {
    if (b->dtype != MLXC_F32 && b->dtype != MLXC_BF16)
        return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_%s: %s has dtype %s (f32 or bf16)", op, what,
                              mlxc_dtype_name(b->dtype));
    return MLXC_OK;
}

/* The same view: one allocation, one byte range. */
static bool same_view(const mlxc_buffer *a, const mlxc_buffer *b) {
    return a->st == b->st && a->offset == b->offset && a->bytes == b->bytes;
}

/* The checks of a route desc (mlxc_moe_route's messages name it). */
static mlxc_status check_route_desc(const mlxc_moe_route_desc *desc) {
    const mlxc_moe_route_desc d = *desc;
    MLXC_CHECK_ARG(d.scoring == MLXC_MOE_SOFTMAX_TOPK || d.scoring == MLXC_MOE_SIGMOID_BIAS ||
                       d.scoring == MLXC_MOE_TOPK_SOFTMAX,
                   "mlxc_moe_route: unknown scoring %d", (int)d.scoring);
    MLXC_CHECK_ARG(d.experts >= 1 && d.experts <= MLXC_MOE_MAX_EXPERTS, "mlxc_moe_route: experts = %u (1 to %d)",
                   d.experts, MLXC_MOE_MAX_EXPERTS);
    MLXC_CHECK_ARG(d.k >= 1 && d.k <= MLXC_MOE_MAX_K && d.k <= d.experts,
                   "mlxc_moe_route: k = %u (1 to %d, at most experts = %u)", d.k, MLXC_MOE_MAX_K, d.experts);
    MLXC_CHECK_ARG(isfinite(d.scale), "mlxc_moe_route: scale %g is not finite", (double)d.scale);
    if (d.n_group > 1) {
        MLXC_CHECK_ARG(d.scoring == MLXC_MOE_SIGMOID_BIAS, "mlxc_moe_route: n_group needs MLXC_MOE_SIGMOID_BIAS");
        MLXC_CHECK_ARG(d.n_group <= MLXC_MOE_MAX_GROUPS && d.experts % d.n_group == 0 && d.experts / d.n_group >= 2,
                       "mlxc_moe_route: n_group = %u (at most %u, dividing experts = %u into runs of 2 or more)",
                       d.n_group, MLXC_MOE_MAX_GROUPS, d.experts);
        MLXC_CHECK_ARG(d.topk_group >= 1 && d.topk_group <= d.n_group &&
                           d.k <= d.topk_group * (d.experts / d.n_group),
                       "mlxc_moe_route: topk_group = %u (1 to n_group = %u, keeping at least k = %u experts)",
                       d.topk_group, d.n_group, d.k);
    } else {
        MLXC_CHECK_ARG(d.topk_group <= 1, "mlxc_moe_route: topk_group = %u without groups (n_group = %u)",
                       d.topk_group, d.n_group);
    }
    return MLXC_OK;
}

/* The params of a route of `tokens` rows (desc checked). */
static mlxc_p_moe_route route_params(const mlxc_moe_route_desc *d, uint32_t tokens, bool bias) {
    return (mlxc_p_moe_route){tokens,      d->experts, d->k, (uint32_t)d->scoring, d->renormalize, bias, d->scale,
                              d->n_group > 1 ? d->n_group : 1, d->n_group > 1 ? d->topk_group : 1, 0};
}

mlxc_status mlxc_moe_route(mlxc_encoder *enc, const mlxc_buffer *logits, const mlxc_buffer *bias, mlxc_buffer *ids,
                           mlxc_buffer *weights, const mlxc_moe_route_desc *desc) {
    const char *op = "moe_route";
    MLXC_CHECK_ARG(enc && logits && ids && weights && desc, "mlxc_moe_route: NULL argument");
    mlxc_status s;
    if ((s = check_route_desc(desc))) return s;
    const mlxc_moe_route_desc d = *desc;
    MLXC_CHECK_ARG(!bias || d.scoring == MLXC_MOE_SIGMOID_BIAS,
                   "mlxc_moe_route: a bias is only used by MLXC_MOE_SIGMOID_BIAS");
    uint32_t tokens;
    if ((s = check_act(op, "logits", logits)) || (s = ops_rows_of(op, logits, d.experts, &tokens))) return s;
    if ((s = ops_check_dtype(op, "ids", ids, MLXC_U32)) || (s = ops_check_dtype(op, "weights", weights, MLXC_F32)) ||
        (s = ops_check_elems(op, "ids", ids, (uint64_t)tokens * d.k)) ||
        (s = ops_check_elems(op, "weights", weights, (uint64_t)tokens * d.k)))
        return s;
    if (bias && ((s = ops_check_dtype(op, "bias", bias, MLXC_F32)) || (s = ops_check_elems(op, "bias", bias, d.experts))))
        return s;
    if (ops_overlap(ids, weights) || ops_overlap(ids, logits) || ops_overlap(weights, logits) ||
        (bias && (ops_overlap(ids, bias) || ops_overlap(weights, bias))))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_moe_route: ids and weights overlap each other or an input");
    mlxc_p_moe_route p = route_params(&d, tokens, bias != NULL);
    mlxc_arg args[5] = {mlxc_arg_buffer(logits), mlxc_arg_buffer(bias ? bias : logits), mlxc_arg_buffer(ids),
                        mlxc_arg_buffer(weights), mlxc_arg_bytes(&p, sizeof p)};
    const mlxc_device *dev = mlxc_encoder_device(enc);
    /* CUDA: a warp per token, four a block */
    const uint32_t groups = ops_is_cpu(dev) ? ops_row_groups(dev, tokens, (uint64_t)d.experts * d.k)
                                            : (uint32_t)((tokens + 3u) / 4u < 65535u * 16u ? (tokens + 3u) / 4u
                                                                                           : 65535u * 16u);
    ops_launch l = {.kernel = logits->dtype == MLXC_F32 ? "moe_route_f32" : "moe_route_bf16", .kind = MLXC_OP_MOE,
                    .args = args, .nargs = 5, .groups = groups, .block = 128, .reads = {logits, bias},
                    .writes = {ids, weights}};
    return ops_dispatch(enc, op, &l);
}

mlxc_status mlxc_moe_route_fused(mlxc_encoder *enc, const mlxc_buffer *x, const mlxc_buffer *norm, float eps,
                                 const mlxc_buffer *w, const mlxc_buffer *bias, mlxc_buffer *normed,
                                 mlxc_buffer *logits, mlxc_buffer *ids, mlxc_buffer *weights, mlxc_buffer *counter,
                                 uint32_t tokens, uint32_t dim, const mlxc_moe_route_desc *desc) {
    const char *op = "moe_route_fused";
    MLXC_CHECK_ARG(enc && x && w && logits && ids && weights && counter && desc,
                   "mlxc_moe_route_fused: NULL argument");
    MLXC_CHECK_ARG(!norm == !normed, "mlxc_moe_route_fused: norm and normed come together (or neither)");
    MLXC_CHECK_ARG(tokens >= 1 && dim >= 1, "mlxc_moe_route_fused: tokens = %u, dim = %u (each >= 1)", tokens, dim);
    MLXC_CHECK_ARG(!norm || (eps >= 0.0f && eps == eps), "mlxc_moe_route_fused: eps must be >= 0");
    mlxc_status s;
    if ((s = check_route_desc(desc))) return s;
    const uint32_t E = desc->experts;
    const uint64_t nx = (uint64_t)tokens * dim;
    if ((s = check_act(op, "x", x)) || (s = ops_check_elems(op, "x", x, nx)) ||
        (s = ops_check_dtype(op, "logits", logits, x->dtype)) ||
        (s = ops_check_elems(op, "logits", logits, (uint64_t)tokens * E)) ||
        (s = ops_check_dtype(op, "counter", counter, MLXC_U32)))
        return s;
    if (norm && ((s = ops_check_dtype(op, "norm", norm, x->dtype)) || (s = ops_check_elems(op, "norm", norm, dim)) ||
                 (s = ops_check_dtype(op, "normed", normed, x->dtype)) || (s = ops_check_elems(op, "normed", normed, nx))))
        return s;
    if (w->dtype != MLXC_F32 && w->dtype != MLXC_F16 && w->dtype != MLXC_BF16)
        return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_moe_route_fused: w has dtype %s (f32, f16 or bf16)",
                              mlxc_dtype_name(w->dtype));
    if ((s = ops_check_elems(op, "w", w, (uint64_t)E * dim))) return s;
    if (bias && ((s = ops_check_dtype(op, "bias", bias, MLXC_F32)) || (s = ops_check_elems(op, "bias", bias, E))))
        return s;
    MLXC_CHECK_ARG(!bias || desc->scoring == MLXC_MOE_SIGMOID_BIAS,
                   "mlxc_moe_route_fused: a bias is only used by MLXC_MOE_SIGMOID_BIAS");
    if (mlxc_buffer_elements(counter) < 1)
        return mlxc_set_error(MLXC_ERR_SHAPE, "mlxc_moe_route_fused: counter has no element");
    const mlxc_buffer *outs[5] = {normed, logits, ids, weights, counter}, *ins[4] = {x, norm, w, bias};
    for (int i = 0; i < 5; i++) {
        for (int j = 0; outs[i] && j < 4; j++)
            if (ins[j] && ops_overlap(outs[i], ins[j]))
                return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_moe_route_fused: an output overlaps an input");
        for (int j = i + 1; outs[i] && j < 5; j++)
            if (outs[j] && ops_overlap(outs[i], outs[j]))
                return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_moe_route_fused: two outputs overlap");
    }
    /* the one pass on CUDA: a few tokens whose x' fits the shared memory,
     * x, norm and w rows of whole 16-byte loads */
    mlxc_device *dev = mlxc_encoder_device(enc);
    const uint64_t smem = mlxc_moe_router_smem(tokens, dim, E, (uint32_t)mlxc_dtype_size(x->dtype));
    char name[40];
    snprintf(name, sizeof name, "moe_router_%s_%s", w->dtype == MLXC_F32 ? "f32" : w->dtype == MLXC_F16 ? "f16" : "bf16",
             x->dtype == MLXC_F32 ? "f32" : "bf16");
    const bool fast = !ops_is_cpu(dev) && tokens <= MLXC_MOE_ROUTER_TOKENS && dim % 8 == 0 && w->offset % 16 == 0 &&
                      x->offset % 16 == 0 && (!norm || norm->offset % 16 == 0) && smem <= dev->caps.max_shared_bytes;
    const mlxc_kernel *kern = NULL;
    if (fast && mlxc_kernel_get(dev, name, &kern) != MLXC_OK) {
        mlxc_clear_error();
        kern = NULL;
    }
    if (!kern) {
        /* the three ops, a barrier after each unless the encoder places them */
        const bool bar = !mlxc_encoder_auto_barrier(enc);
        if (norm && ((s = mlxc_rms_norm(enc, x, norm, normed, dim, eps)) || (bar && (s = mlxc_encoder_barrier(enc)))))
            return s;
        if ((s = mlxc_matmul(enc, norm ? normed : x, w, logits, tokens, E, dim)) ||
            (bar && (s = mlxc_encoder_barrier(enc))))
            return s;
        return mlxc_moe_route(enc, logits, bias, ids, weights, desc);
    }
    mlxc_p_moe_router p = {.route = route_params(desc, tokens, bias != NULL), .dim = dim, .use_norm = norm != NULL,
                           .write_normed = normed != NULL, .eps = eps};
    mlxc_arg args[10] = {mlxc_arg_buffer(x),        mlxc_arg_buffer(norm ? norm : x),   mlxc_arg_buffer(w),
                         mlxc_arg_buffer(bias ? bias : w), mlxc_arg_buffer(normed ? normed : logits),
                         mlxc_arg_buffer(logits),   mlxc_arg_buffer(ids),               mlxc_arg_buffer(weights),
                         mlxc_arg_buffer(counter),  mlxc_arg_bytes(&p, sizeof p)};
    ops_launch l = {.kernel = name, .kind = MLXC_OP_MOE, .args = args, .nargs = 10,
                    .groups = (E + MLXC_MOE_ROUTER_WARPS - 1) / MLXC_MOE_ROUTER_WARPS, .block = 32 * MLXC_MOE_ROUTER_WARPS,
                    /* x is read after the wait, the rest may be before (cuda: pdl_late) */
                    .shared = (uint32_t)smem, .reads = {x, norm, w, bias},
                    .writes = {normed, logits, ids, weights, counter}};
    return ops_dispatch(enc, op, &l);
}

mlxc_status mlxc_moe_combine(mlxc_encoder *enc, const mlxc_buffer *expert_out, const mlxc_buffer *weights,
                             const mlxc_buffer *shared, const mlxc_buffer *gate, const mlxc_buffer *residual,
                             mlxc_buffer *out, uint32_t tokens, uint32_t k, uint32_t hidden) {
    const char *op = "moe_combine";
    MLXC_CHECK_ARG(enc && expert_out && weights && out, "mlxc_moe_combine: NULL argument");
    MLXC_CHECK_ARG(!gate || shared, "mlxc_moe_combine: a gate needs a shared expert output");
    MLXC_CHECK_ARG(tokens >= 1 && k >= 1 && hidden >= 1, "mlxc_moe_combine: tokens %u, k %u, hidden %u (each >= 1)",
                   tokens, k, hidden);
    mlxc_status s;
    const mlxc_dtype dt = expert_out->dtype;
    const uint64_t th = (uint64_t)tokens * hidden;
    if ((s = check_act(op, "expert_out", expert_out)) ||
        (s = ops_check_elems(op, "expert_out", expert_out, th * k)) ||
        (s = ops_check_dtype(op, "weights", weights, MLXC_F32)) ||
        (s = ops_check_elems(op, "weights", weights, (uint64_t)tokens * k)) || (s = ops_check_dtype(op, "out", out, dt)) ||
        (s = ops_check_elems(op, "out", out, th)))
        return s;
    if (shared && ((s = ops_check_dtype(op, "shared", shared, dt)) || (s = ops_check_elems(op, "shared", shared, th))))
        return s;
    if (residual &&
        ((s = ops_check_dtype(op, "residual", residual, dt)) || (s = ops_check_elems(op, "residual", residual, th))))
        return s;
    if (gate) {
        if (gate->dtype != MLXC_F32 && gate->dtype != dt)
            return mlxc_set_error(MLXC_ERR_DTYPE, "mlxc_moe_combine: gate has dtype %s (f32 or %s)",
                                  mlxc_dtype_name(gate->dtype), mlxc_dtype_name(dt));
        if ((s = ops_check_elems(op, "gate", gate, tokens))) return s;
    }
    if (ops_overlap(out, expert_out) || ops_overlap(out, weights) || (shared && ops_overlap(out, shared)) ||
        (gate && ops_overlap(out, gate)) || (residual && ops_overlap(out, residual) && !same_view(out, residual)))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT,
                              "mlxc_moe_combine: out overlaps an input (only the residual view itself may be out)");
    mlxc_p_moe_combine p = {tokens, k, hidden, shared != NULL, gate != NULL, gate && gate->dtype == MLXC_F32,
                            residual != NULL, 0};
    mlxc_arg args[7] = {mlxc_arg_buffer(expert_out), mlxc_arg_buffer(weights),
                        mlxc_arg_buffer(shared ? shared : expert_out), mlxc_arg_buffer(gate ? gate : weights),
                        mlxc_arg_buffer(residual ? residual : expert_out), mlxc_arg_buffer(out),
                        mlxc_arg_bytes(&p, sizeof p)};
    const mlxc_device *dev = mlxc_encoder_device(enc);
    /* CUDA: a thread per 16-byte vector of out (8 bf16 or 4 f32) */
    const uint32_t groups = ops_is_cpu(dev) ? ops_row_groups(dev, tokens, (uint64_t)(k + 2) * hidden)
                                            : ops_groups(dev, th / (dt == MLXC_F32 ? 4 : 8) + 1, 256);
    ops_launch l = {.kernel = dt == MLXC_F32 ? "moe_combine_f32" : "moe_combine_bf16", .kind = MLXC_OP_MOE,
                    .args = args, .nargs = 7, .groups = groups, .block = 256,
                    .reads = {expert_out, weights, shared, gate, residual}, .writes = {out}};
    return ops_dispatch(enc, op, &l);
}

mlxc_status mlxc_moe_group(mlxc_encoder *enc, const mlxc_buffer *ids, mlxc_buffer *counts, mlxc_buffer *offsets,
                           mlxc_buffer *perm, uint32_t tokens, uint32_t k, uint32_t experts) {
    const char *op = "moe_group";
    MLXC_CHECK_ARG(enc && ids && counts && offsets && perm, "mlxc_moe_group: NULL argument");
    MLXC_CHECK_ARG(experts >= 1 && experts <= MLXC_MOE_MAX_EXPERTS, "mlxc_moe_group: experts = %u (1 to %d)", experts,
                   MLXC_MOE_MAX_EXPERTS);
    MLXC_CHECK_ARG(tokens >= 1 && k >= 1 && (uint64_t)tokens * k <= UINT32_MAX,
                   "mlxc_moe_group: tokens %u x k %u slots (1 to 2^32 - 1)", tokens, k);
    const uint32_t slots = tokens * k;
    mlxc_status s;
    if ((s = ops_check_dtype(op, "ids", ids, MLXC_U32)) || (s = ops_check_elems(op, "ids", ids, slots)) ||
        (s = ops_check_dtype(op, "counts", counts, MLXC_U32)) || (s = ops_check_elems(op, "counts", counts, experts)) ||
        (s = ops_check_dtype(op, "offsets", offsets, MLXC_U32)) ||
        (s = ops_check_elems(op, "offsets", offsets, (uint64_t)experts + 1)) ||
        (s = ops_check_dtype(op, "perm", perm, MLXC_U32)) || (s = ops_check_elems(op, "perm", perm, slots)))
        return s;
    if (ops_overlap(counts, offsets) || ops_overlap(counts, perm) || ops_overlap(offsets, perm) ||
        ops_overlap(ids, counts) || ops_overlap(ids, offsets) || ops_overlap(ids, perm))
        return mlxc_set_error(MLXC_ERR_INVALID_ARGUMENT, "mlxc_moe_group: counts, offsets, perm and ids overlap");
    mlxc_p_moe_group p = {slots, experts};
    mlxc_arg args[5] = {mlxc_arg_buffer(ids), mlxc_arg_buffer(counts), mlxc_arg_buffer(offsets), mlxc_arg_buffer(perm),
                        mlxc_arg_bytes(&p, sizeof p)};
    ops_launch l = {.kernel = "moe_group", .kind = MLXC_OP_MOE, .args = args, .nargs = 5, .groups = 1, .block = 1024,
                    .reads = {ids}, .writes = {counts, offsets, perm}};
    return ops_dispatch(enc, op, &l);
}
