/* Argument signatures of the dense matmul kernels (src/kernels/params_matmul.h)
 * for backends whose kernels carry none of their own (CUDA): every name is
 * (x, w, y, mlxc_p_matmul), as in the CPU table of src/kernels/cpu/ops_matmul.c;
 * the library GEMMs (src/core/libcall.h, CUDA only) are (x, w, y, mlxc_lib_gemm). */
#include "core/libcall.h"
#include "kernels/cpu/ops_cpu.h"
#include "kernels/params_matmul.h"
#include "kernels/signatures.h"

#define MM_SIG OPS_SIG3(sizeof(mlxc_p_matmul))
#define MM_Y(OP, W, X) {OP "_" W "_" X "_f32", MM_SIG}, {OP "_" W "_" X "_bf16", MM_SIG}
#define MM_X(OP, W) MM_Y(OP, W, "f32"), MM_Y(OP, W, "bf16")
#define MM_W(OP) MM_X(OP, "f32"), MM_X(OP, "f16"), MM_X(OP, "bf16")

#define LT_SIG OPS_SIG3(sizeof(mlxc_lib_gemm))

const mlxc_kernel_sig_entry mlxc_kernel_sigs_matmul[] = {
    MM_W("matvec"), MM_W("gemm"), {"gemm_lt_bf16_bf16_bf16", LT_SIG}, {"gemm_lt_bf16_bf16_f32", LT_SIG}};
const size_t mlxc_kernel_sigs_matmul_count = sizeof mlxc_kernel_sigs_matmul / sizeof *mlxc_kernel_sigs_matmul;
