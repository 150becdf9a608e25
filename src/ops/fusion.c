/* mlxc_graph_fuse and the rules it applies (src/core/graph_rules.h): the op
 * layer knows which kernels fuse and how their parameters combine; core only
 * walks the graph and splices what a rule returns. */
#include <stdio.h>
#include <string.h>

#include "core/graph_rules.h"
#include "kernels/params_elementwise.h"
#include "kernels/params_norm.h"
#include "ops/ops_internal.h"

/* The dtype suffix of `name` after `prefix`, or NULL when the name is not
 * that kernel family in a float dtype. */
static const char *dtype_suffix(const char *name, const char *prefix) {
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0) return NULL;
    const char *sfx = name + n;
    if (strcmp(sfx, "f32") && strcmp(sfx, "f16") && strcmp(sfx, "bf16")) return NULL;
    return sfx;
}

/* rms_norm, then a mul reading the norm's output (its reading it is the
 * dependency that makes the pair fusable), becomes one rms_norm_mul that
 * never writes the intermediate; only when nothing later reads it. */
static mlxc_status rms_norm_mul_rule(const mlxc_graph_rule_window *w, mlxc_graph_rule_out *out, bool *matched) {
    const mlxc_graph_rule_node *norm = &w->nodes[0], *mul = &w->nodes[1];
    *matched = false;
    if (norm->kind != MLXC_OP_RMS_NORM || norm->d.nargs != 4) return MLXC_OK;
    const char *sfx = dtype_suffix(norm->kernel, "rms_norm_");
    if (!sfx) return MLXC_OK;
    if (mul->kind != MLXC_OP_ELEM_MUL || mul->d.nargs != 4) return MLXC_OK;
    const char *msfx = dtype_suffix(mul->kernel, "mul_");
    if (!msfx || strcmp(sfx, msfx) != 0) return MLXC_OK;
    const mlxc_arg *na = norm->d.args, *ma = mul->d.args;
    const mlxc_arg *nout = &na[2];
    int other;
    if (mlxc_graph_arg_same_view(&ma[0], nout)) other = 1;
    else if (mlxc_graph_arg_same_view(&ma[1], nout)) other = 0;
    else return MLXC_OK;
    if (mlxc_graph_arg_same_view(&ma[other], nout)) return MLXC_OK; /* x*x: keep as is */
    const mlxc_p_rms_norm *np = na[3].bytes;
    const mlxc_p_elementwise *mp = ma[3].bytes;
    if (na[3].size != sizeof *np || ma[3].size != sizeof *mp) return MLXC_OK;
    if ((uint64_t)np->rows * np->dim != mp->n) return MLXC_OK;
    /* The norm's output must be dead after the multiply. */
    mlxc_buffer_range nw = {0};
    bool have_w = false;
    for (uint32_t r = 0; r < norm->nranges; r++)
        if (norm->ranges[r].role == MLXC_RANGE_DST) { nw = norm->ranges[r]; have_w = true; }
    if (!have_w || mlxc_graph_range_read_after(w, &nw)) return MLXC_OK;
    char fname[MLXC_MAX_KERNEL_NAME];
    snprintf(fname, sizeof fname, "rms_norm_mul_%s", sfx);
    const mlxc_kernel *fk;
    if (mlxc_kernel_get(w->dev, fname, &fk) != MLXC_OK) { mlxc_clear_error(); return MLXC_OK; }
    /* The fused node: (x, w, s, out, params), launched as the norm was;
     * it reads what the norm read and what the mul read besides the
     * intermediate, and writes what the mul wrote. */
    out->args[0] = na[0];
    out->args[1] = na[1];
    out->args[2] = ma[other];
    out->args[3] = ma[2];
    out->args[4] = na[3];
    uint32_t nr = 0;
    for (uint32_t r = 0; r < norm->nranges && nr < MLXC_MAX_TRACKED; r++)
        if (norm->ranges[r].role == MLXC_RANGE_SRC) out->ranges[nr++] = norm->ranges[r];
    for (uint32_t r = 0; r < mul->nranges && nr < MLXC_MAX_TRACKED; r++) {
        const mlxc_buffer_range *x = &mul->ranges[r];
        if (x->role == MLXC_RANGE_SRC && x->alloc_id == nw.alloc_id && x->p0 == nw.p0 && x->p1 == nw.p1) continue;
        out->ranges[nr++] = *x;
    }
    out->nranges = nr;
    out->d = norm->d;
    out->d.kernel = fk;
    out->d.args = out->args;
    out->d.nargs = 5;
    out->kind = MLXC_OP_OTHER;
    *matched = true;
    return MLXC_OK;
}

static const mlxc_graph_rule rule_rms_norm_mul = {"rms_norm_mul", 2, rms_norm_mul_rule};

static const mlxc_graph_rule *const rules[] = {&rule_rms_norm_mul};

mlxc_status mlxc_graph_fuse(mlxc_graph *g, mlxc_device *dev, size_t *fused_out) {
    return mlxc_graph_fuse_rules(g, dev, rules, sizeof rules / sizeof rules[0], fused_out);
}
