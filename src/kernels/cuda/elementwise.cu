/*
 * Elementwise binary ops and byte copy.
 *
 *   add_{f32,f16,bf16}(a, b, out, mlxc_p_elementwise)   out = a + b
 *   mul_{f32,f16,bf16}(a, b, out, mlxc_p_elementwise)   out = a * b
 *   copy_bytes(src, dst, mlxc_p_elementwise{n = bytes})
 *
 * Arithmetic is done in f32 and rounded once to the storage type, as on the
 * CPU: results are bit-identical across backends.  When all three pointers
 * are 16-byte aligned each thread moves 16 bytes per access (one vector per
 * operand); the tail and unaligned views take the scalar loop.
 */
#include "common.cuh"

namespace mlxc {

struct op_add { static __device__ __forceinline__ float apply(float x, float y) { return x + y; } };
struct op_mul { static __device__ __forceinline__ float apply(float x, float y) { return x * y; } };

template <typename T, typename OP>
__device__ __forceinline__ void binary(const T *__restrict__ a, const T *__restrict__ b, T *__restrict__ out,
                                       uint64_t n) {
    constexpr int VEC = 16 / sizeof(T);
    const uint64_t tid = block_linear() * thread_count() + thread_linear();
    const uint64_t stride = block_count() * thread_count();
    uint64_t head = 0;
    if ((((uintptr_t)a | (uintptr_t)b | (uintptr_t)out) & 15) == 0) {
        const uint64_t nv = n / VEC;
        const uint4 *av = reinterpret_cast<const uint4 *>(a);
        const uint4 *bv = reinterpret_cast<const uint4 *>(b);
        uint4 *ov = reinterpret_cast<uint4 *>(out);
        for (uint64_t i = tid; i < nv; i += stride) {
            uint4 x = av[i], y = bv[i], z;
            const T *xs = reinterpret_cast<const T *>(&x);
            const T *ys = reinterpret_cast<const T *>(&y);
            T *zs = reinterpret_cast<T *>(&z);
#pragma unroll
            for (int j = 0; j < VEC; j++) zs[j] = conv<T>::store(OP::apply(conv<T>::load(xs[j]), conv<T>::load(ys[j])));
            ov[i] = z;
        }
        head = nv * VEC;
    }
    for (uint64_t i = head + tid; i < n; i += stride)
        out[i] = conv<T>::store(OP::apply(conv<T>::load(a[i]), conv<T>::load(b[i])));
}

} // namespace mlxc

#define MLXC_BINARY(name, T, OP)                                                                   \
    extern "C" __global__ void name(const T *a, const T *b, T *out, mlxc_p_elementwise p) {       \
        mlxc::binary<T, OP>(a, b, out, p.n);                                                     \
    }

MLXC_BINARY(add_f32, float, mlxc::op_add)
MLXC_BINARY(add_f16, __half, mlxc::op_add)
MLXC_BINARY(add_bf16, __nv_bfloat16, mlxc::op_add)
MLXC_BINARY(mul_f32, float, mlxc::op_mul)
MLXC_BINARY(mul_f16, __half, mlxc::op_mul)
MLXC_BINARY(mul_bf16, __nv_bfloat16, mlxc::op_mul)

extern "C" __global__ void copy_bytes(const uint8_t *src, uint8_t *dst, mlxc_p_elementwise p) {
    const uint64_t n = p.n;
    const uint64_t tid = mlxc::block_linear() * mlxc::thread_count() + mlxc::thread_linear();
    const uint64_t stride = mlxc::block_count() * mlxc::thread_count();
    uint64_t head = 0;
    if ((((uintptr_t)src | (uintptr_t)dst) & 15) == 0) {
        const uint64_t nv = n / 16;
        const uint4 *s = reinterpret_cast<const uint4 *>(src);
        uint4 *d = reinterpret_cast<uint4 *>(dst);
        for (uint64_t i = tid; i < nv; i += stride) d[i] = s[i];
        head = nv * 16;
    }
    for (uint64_t i = head + tid; i < n; i += stride) dst[i] = src[i];
}
