/*
 * The copy engine from a kernel (sm_90): a bulk copy of global memory into
 * shared memory that completes on an mbarrier, and the barrier's init and
 * wait.  Shared by the streaming mat-vec of Q4_0 tiles (qmatmul.cu) and
 * the design probe bench/cuda/matvec_mma.cu.  Call only from sm_90 code.
 */
#ifndef MLXC_KERNELS_CUDA_BULK_COPY_CUH
#define MLXC_KERNELS_CUDA_BULK_COPY_CUH

#include <stdint.h>

namespace mlxc_bulk {

__device__ __forceinline__ uint32_t smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* An mbarrier that one arrival (the copier's) completes; the caller makes
 * it visible (fence.mbarrier_init, then a warp or block barrier). */
__device__ __forceinline__ void bar_init(uint64_t *b) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(smem_addr(b)) : "memory");
}
/* Waits until barrier b completes phase parity ph. */
__device__ __forceinline__ void bar_wait(uint64_t *b, uint32_t ph) {
    asm volatile("{\n\t.reg .pred p;\n"
                 "BW%=:\n\tmbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n\t@!p bra BW%=;\n}" ::"r"(
                     smem_addr(b)),
                 "r"(ph)
                 : "memory");
}
/* An L2 policy that evicts streamed weights first. */
__device__ __forceinline__ uint64_t evict_first() {
    uint64_t pol;
    asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(pol));
    return pol;
}
/* bytes (a multiple of 16; both addresses 16-aligned) from global src to
 * shared dst, completing on barrier b, which it arms for them. */
__device__ __forceinline__ void copy(void *dst, const void *src, uint32_t bytes, uint64_t *b, uint64_t pol) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(b)), "r"(bytes) : "memory");
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, "
                 "[%3], %4;" ::"r"(smem_addr(dst)),
                 "l"(src), "r"(bytes), "r"(smem_addr(b)), "l"(pol)
                 : "memory");
}

} // namespace mlxc_bulk

#endif
