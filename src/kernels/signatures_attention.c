/* Argument signatures of the attention kernels (src/kernels/params_attention.h),
 * for backends whose kernels carry no signature of their own (CUDA).  Each
 * entry equals the CPU table entry of the same name; the Hopper prefill
 * kernels (attn_prefill_sm90_*) exist on CUDA only. */
#include "kernels/cpu/ops_cpu.h"
#include "kernels/params_attention.h"
#include "kernels/signatures.h"

#define DEC OPS_SIG6(sizeof(mlxc_p_attn_decode))
#define PRE OPS_SIG4(sizeof(mlxc_p_attn_prefill))
#define HD(N) {"attn_decode_hd" #N "_f16", DEC}, {"attn_decode_hd" #N "_bf16", DEC}, \
              {"attn_prefill_hd" #N "_f16", PRE}, {"attn_prefill_hd" #N "_bf16", PRE}

const mlxc_kernel_sig_entry mlxc_kernel_sigs_attention[] = {
    HD(64), HD(96), HD(128), HD(256),
    {"attn_prefill_sm90_hd64_f16", PRE}, {"attn_prefill_sm90_hd64_bf16", PRE},
    {"attn_prefill_sm90_hd128_f16", PRE}, {"attn_prefill_sm90_hd128_bf16", PRE},
    {"attn_prefill_sm90qs_hd64_bf16", PRE},
    {"attn_prefill_sm90o0_hd128_bf16", PRE},
    {"attn_prefill_sm90o7_hd128_bf16", PRE},
    {"attn_prefill_sm90o15_hd128_bf16", PRE},
};
const size_t mlxc_kernel_sigs_attention_count = sizeof mlxc_kernel_sigs_attention / sizeof *mlxc_kernel_sigs_attention;
