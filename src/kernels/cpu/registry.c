/* Name lookup over the CPU kernel tables, one per family (families.def). */
#include "kernels/cpu/cpu_kernels.h"

#define MLXC_FAMILY(F)                           \
    extern const mlxc_cpu_builtin mlxc_cpu_kernels_##F[]; \
    extern const size_t mlxc_cpu_kernels_##F##_count;
#include "kernels/families.def"

static const struct { const mlxc_cpu_builtin *v; const size_t *n; } k_tables[] = {
#define MLXC_FAMILY(F) {mlxc_cpu_kernels_##F, &mlxc_cpu_kernels_##F##_count},
#include "kernels/families.def"
};

const mlxc_cpu_builtin *mlxc_cpu_builtin_find(const char *name) {
    for (size_t t = 0; t < sizeof k_tables / sizeof *k_tables; t++)
        for (size_t i = 0; i < *k_tables[t].n; i++)
            if (strcmp(k_tables[t].v[i].name, name) == 0) return &k_tables[t].v[i];
    return NULL;
}

const mlxc_cpu_builtin *mlxc_cpu_builtin_at(size_t i) {
    for (size_t t = 0; t < sizeof k_tables / sizeof *k_tables; t++) {
        if (i < *k_tables[t].n) return &k_tables[t].v[i];
        i -= *k_tables[t].n;
    }
    return NULL;
}
