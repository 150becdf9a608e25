/* Argument signatures of every built-in kernel, one table per family
 * (families.def), for backends whose kernels carry no signature of their
 * own (CUDA): the backend checks a dispatch against the entry of its name.
 * Each entry equals the CPU table entry of the same name (tests/
 * test_ops_errors.c checks that both ways); the Hopper prefill kernels
 * (attn_prefill_sm90_*) and the library GEMMs (gemm_lt_*) exist on CUDA only. */
#include <string.h>

#include "core/libcall.h"
#include "kernels/cpu/ops_cpu.h"
#include "kernels/params_attention.h"
#include "kernels/params_elementwise.h"
#include "kernels/params_layout.h"
#include "kernels/params_matmul.h"
#include "kernels/params_norm.h"
#include "kernels/params_qmatmul.h"
#include "kernels/params_rope.h"
#include "kernels/params_sample.h"
#include "kernels/params_softmax.h"
#include "kernels/signatures.h"

#define S2(PT) OPS_SIG2(sizeof(PT))
#define S3(PT) OPS_SIG3(sizeof(PT))
#define S4(PT) OPS_SIG4(sizeof(PT))
#define S5(PT) OPS_SIG5(sizeof(PT))
#define S6(PT) OPS_SIG6(sizeof(PT))
/* One entry per float dtype suffix. */
#define F3(OP, SIG) {OP "_f32", SIG}, {OP "_f16", SIG}, {OP "_bf16", SIG}

static const mlxc_kernel_sig_entry k_elementwise[] = {
    F3("add", S3(mlxc_p_elementwise)), F3("mul", S3(mlxc_p_elementwise)),
    F3("scale", S2(mlxc_p_scale)), F3("softcap", S2(mlxc_p_scale)), F3("gelu", S2(mlxc_p_elementwise)),
    F3("silu_mul", S3(mlxc_p_elementwise)), F3("sigmoid_mul", S3(mlxc_p_elementwise)),
    {"cast_f32_f16", S2(mlxc_p_elementwise)}, {"cast_f32_bf16", S2(mlxc_p_elementwise)},
    {"cast_f16_f32", S2(mlxc_p_elementwise)}, {"cast_bf16_f32", S2(mlxc_p_elementwise)},
    {"cast_f16_bf16", S2(mlxc_p_elementwise)}, {"cast_bf16_f16", S2(mlxc_p_elementwise)},
};

#define WIDTHS(OP, SIG) {OP "_x8", SIG}, {OP "_x16", SIG}, {OP "_x32", SIG}, {OP "_x64", SIG}
#define KV(S) {"kv_cache_copy_" S "_f32", S3(mlxc_p_kv_copy)}, {"kv_cache_copy_" S "_f16", S3(mlxc_p_kv_copy)}, \
              {"kv_cache_copy_" S "_bf16", S3(mlxc_p_kv_copy)}
static const mlxc_kernel_sig_entry k_layout[] = {
    {"copy_bytes", S2(mlxc_p_elementwise)},
    WIDTHS("copy_strided", S2(mlxc_p_copy_strided)), WIDTHS("transpose", S2(mlxc_p_transpose)),
    {"embedding_gather_f32_f32", S3(mlxc_p_gather)}, {"embedding_gather_f16_f16", S3(mlxc_p_gather)},
    {"embedding_gather_f16_f32", S3(mlxc_p_gather)}, {"embedding_gather_bf16_bf16", S3(mlxc_p_gather)},
    {"embedding_gather_bf16_f32", S3(mlxc_p_gather)},
    KV("f32"), KV("f16"), KV("bf16"),
};

static const mlxc_kernel_sig_entry k_sample[] = {
    F3("argmax", S3(mlxc_p_rows)), F3("topk", S3(mlxc_p_topk)), F3("sample", S4(mlxc_p_sample)),
};

static const mlxc_kernel_sig_entry k_norm[] = {
    F3("rms_norm", S3(mlxc_p_rms_norm)), F3("rms_norm_mul", S4(mlxc_p_rms_norm)),
    F3("rms_norm_residual", S5(mlxc_p_norm)), F3("l2_norm", S2(mlxc_p_norm)), F3("layer_norm", S4(mlxc_p_norm)),
};

static const mlxc_kernel_sig_entry k_rope[] = {F3("rope", S4(mlxc_p_rope))};

static const mlxc_kernel_sig_entry k_softmax[] = {F3("softmax", S3(mlxc_p_softmax))};

#define MM_SIG S3(mlxc_p_matmul)
#define MM_Y(OP, W, X) {OP "_" W "_" X "_f32", MM_SIG}, {OP "_" W "_" X "_bf16", MM_SIG}
#define MM_X(OP, W) MM_Y(OP, W, "f32"), MM_Y(OP, W, "bf16")
#define MM_W(OP) MM_X(OP, "f32"), MM_X(OP, "f16"), MM_X(OP, "bf16")
/* The library GEMMs (src/core/libcall.h, CUDA only) take (x, w, y, mlxc_lib_gemm). */
#define LT_SIG S3(mlxc_lib_gemm)
static const mlxc_kernel_sig_entry k_matmul[] = {
    MM_W("matvec"), MM_W("gemm"), {"gemm_lt_bf16_bf16_bf16", LT_SIG}, {"gemm_lt_bf16_bf16_f32", LT_SIG}};

#define DEC S6(mlxc_p_attn_decode)
#define PRE S4(mlxc_p_attn_prefill)
#define HD(N) {"attn_decode_hd" #N "_f16", DEC}, {"attn_decode_hd" #N "_bf16", DEC}, \
              {"attn_prefill_hd" #N "_f16", PRE}, {"attn_prefill_hd" #N "_bf16", PRE}
static const mlxc_kernel_sig_entry k_attention[] = {
    HD(64), HD(96), HD(128), HD(256),
    {"attn_prefill_sm90_hd64_f16", PRE}, {"attn_prefill_sm90_hd64_bf16", PRE},
    {"attn_prefill_sm90_hd128_f16", PRE}, {"attn_prefill_sm90_hd128_bf16", PRE},
};

/* The quantized matmuls: (x, w, scales, biases, y, mlxc_p_qmatmul); qgather
 * (ids, w, scales, biases, out, mlxc_p_qgather); qmoe (x, w, scales, biases,
 * ids, y, mlxc_p_qmoe). */
#define QS_SIG OPS_SIG5(sizeof(mlxc_p_qmatmul))
#define QS_XY(OP, F)                                                                                                  \
    {OP "_" F "_f32_f32", QS_SIG}, {OP "_" F "_f32_bf16", QS_SIG}, {OP "_" F "_bf16_f32", QS_SIG},                    \
        {OP "_" F "_bf16_bf16", QS_SIG}
#define QS_F(OP)                                                                                                      \
    QS_XY(OP, "affine2"), QS_XY(OP, "affine3"), QS_XY(OP, "affine4"), QS_XY(OP, "affine5"), QS_XY(OP, "affine6"),     \
        QS_XY(OP, "affine8"), QS_XY(OP, "mxfp4"), QS_XY(OP, "nvfp4"), QS_XY(OP, "mxfp8"), QS_XY(OP, "q4_0"),          \
        QS_XY(OP, "q4_1"), QS_XY(OP, "q5_0"), QS_XY(OP, "q5_1"), QS_XY(OP, "q8_0"), QS_XY(OP, "q2_k"),                \
        QS_XY(OP, "q3_k"), QS_XY(OP, "q4_k"), QS_XY(OP, "q5_k"), QS_XY(OP, "q6_k"), QS_XY(OP, "iq4_nl"),              \
        QS_XY(OP, "iq4_xs"), QS_XY(OP, "gmxfp4")

#define QS_GSIG OPS_SIG5(sizeof(mlxc_p_qgather))
#define QS_GY(F) {"qgather_" F "_f32", QS_GSIG}, {"qgather_" F "_bf16", QS_GSIG}
#define QS_G                                                                                                          \
    QS_GY("affine2"), QS_GY("affine3"), QS_GY("affine4"), QS_GY("affine5"), QS_GY("affine6"), QS_GY("affine8"),       \
        QS_GY("mxfp4"), QS_GY("nvfp4"), QS_GY("mxfp8"), QS_GY("q4_0"), QS_GY("q4_1"), QS_GY("q5_0"), QS_GY("q5_1"),   \
        QS_GY("q8_0"), QS_GY("q2_k"), QS_GY("q3_k"), QS_GY("q4_k"), QS_GY("q5_k"), QS_GY("q6_k"), QS_GY("iq4_nl"),    \
        QS_GY("iq4_xs"), QS_GY("gmxfp4")

#define QS_MSIG OPS_SIG6(sizeof(mlxc_p_qmoe))
#define QS_MXY(F)                                                                                                     \
    {"qmoe_" F "_f32_f32", QS_MSIG}, {"qmoe_" F "_f32_bf16", QS_MSIG}, {"qmoe_" F "_bf16_f32", QS_MSIG},              \
        {"qmoe_" F "_bf16_bf16", QS_MSIG}
#define QS_M                                                                                                          \
    QS_MXY("affine2"), QS_MXY("affine3"), QS_MXY("affine4"), QS_MXY("affine5"), QS_MXY("affine6"),                    \
        QS_MXY("affine8"), QS_MXY("mxfp4"), QS_MXY("nvfp4"), QS_MXY("mxfp8"), QS_MXY("q4_0"), QS_MXY("q4_1"),          \
        QS_MXY("q5_0"), QS_MXY("q5_1"), QS_MXY("q8_0"), QS_MXY("q2_k"), QS_MXY("q3_k"), QS_MXY("q4_k"),               \
        QS_MXY("q5_k"), QS_MXY("q6_k"), QS_MXY("iq4_nl"), QS_MXY("iq4_xs"), QS_MXY("gmxfp4")

static const mlxc_kernel_sig_entry k_qmatmul[] = {QS_F("qmv"), QS_F("qmm"), QS_G, QS_M};

static const struct {
    const char                  *family;
    const mlxc_kernel_sig_entry *v;
    size_t                       n;
} k_families[] = {
#define MLXC_FAMILY(F) {#F, k_##F, sizeof k_##F / sizeof *k_##F},
#include "kernels/families.def"
};

static const mlxc_kernel_sig_entry *find(const char *name, const char **family) {
    for (size_t f = 0; f < sizeof k_families / sizeof *k_families; f++)
        for (size_t i = 0; i < k_families[f].n; i++)
            if (strcmp(k_families[f].v[i].name, name) == 0) {
                if (family) *family = k_families[f].family;
                return &k_families[f].v[i];
            }
    return NULL;
}

const mlxc_kernel_sig_entry *mlxc_kernel_builtin_at(size_t i, const char **family) {
    for (size_t f = 0; f < sizeof k_families / sizeof *k_families; f++) {
        if (i < k_families[f].n) {
            if (family) *family = k_families[f].family;
            return &k_families[f].v[i];
        }
        i -= k_families[f].n;
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
