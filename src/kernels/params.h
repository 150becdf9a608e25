/*
 * By-value parameter structs of the built-in kernels.  Shared by the CPU
 * kernels (C), the CUDA kernels (.cu) and the op front-ends, so that every
 * kernel name has one argument layout on every backend.
 *
 * Grid convention: a kernel covers all of its work for any grid >= 1 and any
 * block size (CPU kernels split work into contiguous chunks per group, CUDA
 * kernels use grid-stride loops), so each backend may pick its own grid.
 *
 *   add_{f32,f16,bf16}(a, b, out, mlxc_p_elementwise)       out = a + b
 *   mul_{f32,f16,bf16}(a, b, out, mlxc_p_elementwise)       out = a * b
 *   copy_bytes(src, dst, mlxc_p_elementwise{n = bytes})
 *   rms_norm_{f32,f16,bf16}(x, w, out, mlxc_p_rms_norm)     rows of dim; w
 *       ignored when has_weight == 0 (pass any valid pointer)
 *   rms_norm_mul_{f32,f16,bf16}(x, w, s, out, mlxc_p_rms_norm)
 *       out = round(round(norm(x) * w) * s): the fusion of rms_norm and a
 *       following mul, bit-identical to the two kernels run in sequence
 *
 * Reductions accumulate in f32; 16-bit results round to nearest even.
 */
#ifndef MLXC_KERNELS_PARAMS_H
#define MLXC_KERNELS_PARAMS_H

#include <stdint.h>

typedef struct mlxc_p_elementwise {
    uint64_t n;
} mlxc_p_elementwise;

typedef struct mlxc_p_rms_norm {
    uint32_t rows;
    uint32_t dim;
    float    eps;
    uint32_t has_weight;
} mlxc_p_rms_norm;

#endif /* MLXC_KERNELS_PARAMS_H */
