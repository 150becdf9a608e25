/*
 * Small pieces of the int8 walks over K-quant and 4-bit codes, shared by
 * the library's mat-vec (qmatmul.cu) and the design probe
 * bench/cuda/matvec_ring.cu, so that the probe unpacks scales and takes
 * products exactly as the library does.
 */
#ifndef MLXC_KERNELS_CUDA_KQUANT_CUH
#define MLXC_KERNELS_CUDA_KQUANT_CUH

#include <stdint.h>

namespace mlxc_kq {

/* Unsigned bytes of a times signed bytes of b, added to c. */
__device__ __forceinline__ int dp4a_us(uint32_t a, int b, int c) {
    int d;
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

/* The 6-bit scales and mins of sub-blocks 2j and 2j + 1 from a Q4_K /
 * Q5_K super-block's scale words s0, s1, s2 (bytes 4 .. 15), as the bytes
 * (scale 2j, scale 2j + 1, min 2j, min 2j + 1) of one word. */
__device__ __forceinline__ uint32_t k4_pair(uint32_t s0, uint32_t s1, uint32_t s2, uint32_t j) {
    const uint32_t sh = 16 * (j & 1), a = (s0 >> sh) & 0xffff, b = (s1 >> sh) & 0xffff, c = (s2 >> sh) & 0xffff;
    const uint32_t sc = j < 2 ? a & 0x3f3f : (c & 0x0f0f) | ((a >> 2) & 0x3030);
    const uint32_t mn = j < 2 ? b & 0x3f3f : ((c >> 4) & 0x0f0f) | ((b >> 2) & 0x3030);
    return sc | mn << 16;
}

} // namespace mlxc_kq

#endif
