/*
 * Helpers shared by the CUDA kernels: storage-type conversion (16-bit floats
 * round to nearest even, as the CPU kernels do) and launch-shape-independent
 * indexing.  Every kernel covers all of its work for any grid and block
 * (params.h): it flattens the grid and the block into one linear index and
 * strides by their product.
 */
#ifndef MLXC_KERNELS_CUDA_COMMON_CUH
#define MLXC_KERNELS_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "kernels/params.h"

namespace mlxc {

template <typename T> struct conv;
template <> struct conv<float> {
    static __device__ __forceinline__ float load(float v) { return v; }
    static __device__ __forceinline__ float store(float v) { return v; }
};
template <> struct conv<__half> {
    static __device__ __forceinline__ float load(__half v) { return __half2float(v); }
    static __device__ __forceinline__ __half store(float v) { return __float2half_rn(v); }
};
template <> struct conv<__nv_bfloat16> {
    static __device__ __forceinline__ float load(__nv_bfloat16 v) { return __bfloat162float(v); }
    static __device__ __forceinline__ __nv_bfloat16 store(float v) { return __float2bfloat16_rn(v); }
};

/* Round a float to the storage type and back: the value a later kernel
 * would read if this one had stored it. */
template <typename T> __device__ __forceinline__ float round_to(float v) {
    return conv<T>::load(conv<T>::store(v));
}

__device__ __forceinline__ uint64_t block_linear() {
    return (uint64_t)blockIdx.x + (uint64_t)gridDim.x * ((uint64_t)blockIdx.y + (uint64_t)gridDim.y * blockIdx.z);
}
__device__ __forceinline__ uint64_t block_count() {
    return (uint64_t)gridDim.x * gridDim.y * gridDim.z;
}
__device__ __forceinline__ uint32_t thread_linear() {
    return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}
__device__ __forceinline__ uint32_t thread_count() {
    return blockDim.x * blockDim.y * blockDim.z;
}

} // namespace mlxc

#endif
