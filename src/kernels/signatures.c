/* Argument signatures of every built-in kernel, for backends whose kernels
 * carry no signature of their own (CUDA): the backend checks a dispatch
 * against the entry of its name.  Each family's table is generated, with its
 * CPU table, from the family's one list src/kernels/F.def (by
 * cpu/family_tables.h in cpu/F.c), so both backends see the same layout per
 * name; the MLXC_KERNEL_CUDA rows (the Hopper prefill kernels
 * attn_prefill_sm90_* and the library GEMMs gemm_lt_*) have no CPU kernel. */
#include <string.h>

#include "kernels/signatures.h"

#define MLXC_FAMILY(F)                                        \
    extern const mlxc_kernel_sig_entry mlxc_kernel_sigs_##F[]; \
    extern const size_t mlxc_kernel_sigs_##F##_count;
#include "kernels/families.def"

static const struct {
    const char                  *family;
    const mlxc_kernel_sig_entry *v;
    const size_t                *n;
} k_families[] = {
#define MLXC_FAMILY(F) {#F, mlxc_kernel_sigs_##F, &mlxc_kernel_sigs_##F##_count},
#include "kernels/families.def"
};

static const mlxc_kernel_sig_entry *find(const char *name, const char **family) {
    for (size_t f = 0; f < sizeof k_families / sizeof *k_families; f++)
        for (size_t i = 0; i < *k_families[f].n; i++)
            if (strcmp(k_families[f].v[i].name, name) == 0) {
                if (family) *family = k_families[f].family;
                return &k_families[f].v[i];
            }
    return NULL;
}

const mlxc_kernel_sig_entry *mlxc_kernel_builtin_at(size_t i, const char **family) {
    for (size_t f = 0; f < sizeof k_families / sizeof *k_families; f++) {
        if (i < *k_families[f].n) {
            if (family) *family = k_families[f].family;
            return &k_families[f].v[i];
        }
        i -= *k_families[f].n;
    }
    return NULL;
}

const mlxc_kernel_signature *mlxc_kernel_builtin_signature(const char *name) {
    const mlxc_kernel_sig_entry *e = find(name, NULL);
    return e ? &e->sig : NULL;
}

const char *mlxc_kernel_family_of(const char *name) {
    const char *family = NULL;
    return find(name, &family) ? family : NULL;
}
