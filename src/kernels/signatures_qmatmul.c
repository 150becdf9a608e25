/* Argument signatures of the quantized matmul kernels
 * (src/kernels/params_qmatmul.h) for backends whose kernels carry none of
 * their own (CUDA): every name is (x, w, scales, biases, y, mlxc_p_qmatmul)
 * or, for qgather, (ids, w, scales, biases, out, mlxc_p_qgather), for qmoe
 * (x, w, scales, biases, ids, y, mlxc_p_qmoe),
 * as in the CPU table of src/kernels/cpu/qmatmul.c. */
#include "kernels/cpu/ops_cpu.h"
#include "kernels/params_qmatmul.h"
#include "kernels/signatures.h"

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

const mlxc_kernel_sig_entry mlxc_kernel_sigs_qmatmul[] = {QS_F("qmv"), QS_F("qmm"), QS_G, QS_M};
const size_t mlxc_kernel_sigs_qmatmul_count = sizeof mlxc_kernel_sigs_qmatmul / sizeof *mlxc_kernel_sigs_qmatmul;
