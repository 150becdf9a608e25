/* Argument signatures of the op-library kernels (src/kernels/params_ops.h),
 * for backends whose kernels carry no signature of their own (CUDA): the
 * CUDA backend's lookup can check a dispatch of one of these names against
 * this table.  Each entry equals the CPU table entry of the same name
 * (tests/test_ops_errors.c checks that both ways). */
#include "kernels/cpu/ops_cpu.h"
#include "kernels/signatures.h"

#define S2(PT) OPS_SIG2(sizeof(PT))
#define S3(PT) OPS_SIG3(sizeof(PT))
#define S4(PT) OPS_SIG4(sizeof(PT))
#define S5(PT) OPS_SIG5(sizeof(PT))
/* One entry per float dtype suffix. */
#define F3(OP, SIG) {OP "_f32", SIG}, {OP "_f16", SIG}, {OP "_bf16", SIG}
#define WIDTHS(OP, SIG) {OP "_x8", SIG}, {OP "_x16", SIG}, {OP "_x32", SIG}, {OP "_x64", SIG}
#define KV(S) {"kv_cache_copy_" S "_f32", S3(mlxc_p_kv_copy)}, {"kv_cache_copy_" S "_f16", S3(mlxc_p_kv_copy)}, \
              {"kv_cache_copy_" S "_bf16", S3(mlxc_p_kv_copy)}

const mlxc_kernel_sig_entry mlxc_kernel_sigs_ops[] = {
    /* elementwise */
    F3("scale", S2(mlxc_p_scale)), F3("softcap", S2(mlxc_p_scale)), F3("gelu", S2(mlxc_p_elementwise)),
    F3("silu_mul", S3(mlxc_p_elementwise)), F3("sigmoid_mul", S3(mlxc_p_elementwise)),
    {"cast_f32_f16", S2(mlxc_p_elementwise)}, {"cast_f32_bf16", S2(mlxc_p_elementwise)},
    {"cast_f16_f32", S2(mlxc_p_elementwise)}, {"cast_bf16_f32", S2(mlxc_p_elementwise)},
    {"cast_f16_bf16", S2(mlxc_p_elementwise)}, {"cast_bf16_f16", S2(mlxc_p_elementwise)},
    /* layout */
    WIDTHS("copy_strided", S2(mlxc_p_copy_strided)), WIDTHS("transpose", S2(mlxc_p_transpose)),
    {"embedding_gather_f32_f32", S3(mlxc_p_gather)}, {"embedding_gather_f16_f16", S3(mlxc_p_gather)},
    {"embedding_gather_f16_f32", S3(mlxc_p_gather)}, {"embedding_gather_bf16_bf16", S3(mlxc_p_gather)},
    {"embedding_gather_bf16_f32", S3(mlxc_p_gather)},
    KV("f32"), KV("f16"), KV("bf16"),
    /* selection */
    F3("argmax", S3(mlxc_p_rows)), F3("topk", S3(mlxc_p_topk)), F3("sample", S4(mlxc_p_sample)),
    /* norms, rope, softmax */
    F3("rms_norm_residual", S5(mlxc_p_norm)), F3("l2_norm", S2(mlxc_p_norm)), F3("layer_norm", S4(mlxc_p_norm)),
    F3("rope", S4(mlxc_p_rope)), F3("softmax", S3(mlxc_p_softmax)),
};

const size_t mlxc_kernel_sigs_ops_count = sizeof mlxc_kernel_sigs_ops / sizeof *mlxc_kernel_sigs_ops;
