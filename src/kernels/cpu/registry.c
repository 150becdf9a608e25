/* Name lookup over the CPU kernel tables (one table per kernel file). */
#include "kernels/cpu/cpu_kernels.h"

extern const mlxc_cpu_builtin mlxc_cpu_kernels_basic[];
extern const size_t mlxc_cpu_kernels_basic_count;

static const struct { const mlxc_cpu_builtin *v; const size_t *n; } k_tables[] = {
    {mlxc_cpu_kernels_basic, &mlxc_cpu_kernels_basic_count},
};

const mlxc_cpu_builtin *mlxc_cpu_builtin_find(const char *name) {
    for (size_t t = 0; t < sizeof k_tables / sizeof *k_tables; t++)
        for (size_t i = 0; i < *k_tables[t].n; i++)
            if (strcmp(k_tables[t].v[i].name, name) == 0) return &k_tables[t].v[i];
    return NULL;
}
