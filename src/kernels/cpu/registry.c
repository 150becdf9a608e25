/* Name lookup over the CPU kernel tables (one table per kernel file). */
#include "kernels/cpu/cpu_kernels.h"

extern const mlxc_cpu_builtin mlxc_cpu_kernels_basic[];
extern const size_t mlxc_cpu_kernels_basic_count;
extern const mlxc_cpu_builtin mlxc_cpu_kernels_ops_elementwise[];
extern const size_t mlxc_cpu_kernels_ops_elementwise_count;
extern const mlxc_cpu_builtin mlxc_cpu_kernels_ops_layout[];
extern const size_t mlxc_cpu_kernels_ops_layout_count;
extern const mlxc_cpu_builtin mlxc_cpu_kernels_ops_sample[];
extern const size_t mlxc_cpu_kernels_ops_sample_count;
extern const mlxc_cpu_builtin mlxc_cpu_kernels_ops_norm[];
extern const size_t mlxc_cpu_kernels_ops_norm_count;
extern const mlxc_cpu_builtin mlxc_cpu_kernels_ops_rope[];
extern const size_t mlxc_cpu_kernels_ops_rope_count;
extern const mlxc_cpu_builtin mlxc_cpu_kernels_ops_softmax[];
extern const size_t mlxc_cpu_kernels_ops_softmax_count;
extern const mlxc_cpu_builtin mlxc_cpu_kernels_ops_attention[];
extern const size_t mlxc_cpu_kernels_ops_attention_count;
extern const mlxc_cpu_builtin mlxc_cpu_kernels_ops_matmul[];
extern const size_t mlxc_cpu_kernels_ops_matmul_count;
extern const mlxc_cpu_builtin mlxc_cpu_kernels_qmatmul[];
extern const size_t mlxc_cpu_kernels_qmatmul_count;

static const struct { const mlxc_cpu_builtin *v; const size_t *n; } k_tables[] = {
    {mlxc_cpu_kernels_basic, &mlxc_cpu_kernels_basic_count},
    {mlxc_cpu_kernels_ops_elementwise, &mlxc_cpu_kernels_ops_elementwise_count},
    {mlxc_cpu_kernels_ops_layout, &mlxc_cpu_kernels_ops_layout_count},
    {mlxc_cpu_kernels_ops_sample, &mlxc_cpu_kernels_ops_sample_count},
    {mlxc_cpu_kernels_ops_norm, &mlxc_cpu_kernels_ops_norm_count},
    {mlxc_cpu_kernels_ops_rope, &mlxc_cpu_kernels_ops_rope_count},
    {mlxc_cpu_kernels_ops_softmax, &mlxc_cpu_kernels_ops_softmax_count},
    {mlxc_cpu_kernels_ops_attention, &mlxc_cpu_kernels_ops_attention_count},
    {mlxc_cpu_kernels_ops_matmul, &mlxc_cpu_kernels_ops_matmul_count},
    {mlxc_cpu_kernels_qmatmul, &mlxc_cpu_kernels_qmatmul_count},
};

const mlxc_cpu_builtin *mlxc_cpu_builtin_find(const char *name) {
    for (size_t t = 0; t < sizeof k_tables / sizeof *k_tables; t++)
        for (size_t i = 0; i < *k_tables[t].n; i++)
            if (strcmp(k_tables[t].v[i].name, name) == 0) return &k_tables[t].v[i];
    return NULL;
}
