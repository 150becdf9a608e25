/* The runtime's own kernels (src/kernels/params.h) and the lookup over every
 * signature table (the op library's is src/kernels/signatures_ops.c). */
#include <string.h>

#include "kernels/params.h"
#include "kernels/signatures.h"

#define P MLXC_PARAM_PTR
#define B MLXC_PARAM_BYTES
#define EW ((uint32_t)sizeof(mlxc_p_elementwise))
#define RN ((uint32_t)sizeof(mlxc_p_rms_norm))
#define SIG3(sz) {4, {P, P, P, B}, {0, 0, 0, sz}}
#define F3(OP, SIG) {OP "_f32", SIG}, {OP "_f16", SIG}, {OP "_bf16", SIG}

static const mlxc_kernel_sig_entry k_basic[] = {
    F3("add", SIG3(EW)),
    F3("mul", SIG3(EW)),
    {"copy_bytes", {3, {P, P, B}, {0, 0, EW}}},
    F3("rms_norm", SIG3(RN)),
    F3("rms_norm_mul", ((mlxc_kernel_signature){5, {P, P, P, P, B}, {0, 0, 0, 0, RN}})),
};

extern const mlxc_kernel_sig_entry mlxc_kernel_sigs_ops[];
extern const size_t mlxc_kernel_sigs_ops_count;

const mlxc_kernel_signature *mlxc_kernel_builtin_signature(const char *name) {
    for (size_t i = 0; i < sizeof k_basic / sizeof *k_basic; i++)
        if (strcmp(k_basic[i].name, name) == 0) return &k_basic[i].sig;
    for (size_t i = 0; i < mlxc_kernel_sigs_ops_count; i++)
        if (strcmp(mlxc_kernel_sigs_ops[i].name, name) == 0) return &mlxc_kernel_sigs_ops[i].sig;
    extern const mlxc_kernel_sig_entry mlxc_kernel_sigs_matmul[];
    extern const size_t mlxc_kernel_sigs_matmul_count;
    for (size_t i = 0; i < mlxc_kernel_sigs_matmul_count; i++)
        if (strcmp(mlxc_kernel_sigs_matmul[i].name, name) == 0) return &mlxc_kernel_sigs_matmul[i].sig;
    extern const mlxc_kernel_sig_entry mlxc_kernel_sigs_attention[];
    extern const size_t mlxc_kernel_sigs_attention_count;
    for (size_t i = 0; i < mlxc_kernel_sigs_attention_count; i++)
        if (strcmp(mlxc_kernel_sigs_attention[i].name, name) == 0) return &mlxc_kernel_sigs_attention[i].sig;
    extern const mlxc_kernel_sig_entry mlxc_kernel_sigs_qmatmul[];
    extern const size_t mlxc_kernel_sigs_qmatmul_count;
    for (size_t i = 0; i < mlxc_kernel_sigs_qmatmul_count; i++)
        if (strcmp(mlxc_kernel_sigs_qmatmul[i].name, name) == 0) return &mlxc_kernel_sigs_qmatmul[i].sig;
    return NULL;
}
