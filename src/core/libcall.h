/*
 * Library calls behind kernel names.  A backend may answer a kernel name
 * with a vendor library routine instead of a kernel of its own (cuBLASLt on
 * CUDA: src/backend/cuda/cuda_blaslt.c).  The op front-end dispatches such a
 * name like any kernel - tracked, in command buffers, graphs and profiles -
 * and its BYTES argument is one of the descriptors below: the call in the
 * library's own terms, so that a backend reads no op's parameter struct.
 *
 *   gemm_lt_bf16_bf16_bf16(x, w, y, mlxc_lib_gemm)   y bf16
 *   gemm_lt_bf16_bf16_f32 (x, w, y, mlxc_lib_gemm)   y f32
 *   gemm_lt_f16_f16_f32   (x, w, y, mlxc_lib_gemm)   x, w f16, y f32
 *
 * A name resolves only where the library is present; the front-end keeps
 * its own kernel otherwise.
 */
#ifndef MLXC_CORE_LIBCALL_H
#define MLXC_CORE_LIBCALL_H

#include <stdint.h>

/* y (m, n) = x (m, k) w (n, k)^T, all three row-major with the given
 * distance in elements between consecutive rows; products and sums in f32.
 * The element types are in the kernel name. */
typedef struct mlxc_lib_gemm {
    uint32_t m, n, k;
    uint32_t ld_x;   /* >= k */
    uint32_t ld_w;   /* >= k */
    uint32_t ld_y;   /* >= n */
} mlxc_lib_gemm;

#endif /* MLXC_CORE_LIBCALL_H */
