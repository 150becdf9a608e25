/*
 * By-value parameters of the elementwise kernels, shared by the CPU kernels
 * (C), the CUDA kernels (.cu) and the op front-ends (src/ops), so every
 * kernel name has one argument layout on every backend.  DT is f32, f16 or
 * bf16; arithmetic in f32, one rounding to the storage type.
 *
 * Grid convention: a kernel covers all of its work for any grid >= 1 and any
 * block size (CPU kernels split work into contiguous chunks per group, CUDA
 * kernels use grid-stride loops), so each backend may pick its own grid.
 * Reductions accumulate in f32; 16-bit results round to nearest even.
 * Optional pointer arguments (a weight, a position buffer, ...) are still
 * passed: the front-end gives any valid buffer and a flag says not to use it.
 *
 *   add_DT(a, b, out, mlxc_p_elementwise)          out = a + b
 *   mul_DT(a, b, out, mlxc_p_elementwise)          out = a * b
 *   scale_DT(x, out, mlxc_p_scale)                 out = x * s
 *   softcap_DT(x, out, mlxc_p_scale)               out = tanh(x / s) * s
 *   gelu_DT(x, out, mlxc_p_elementwise)            tanh-form GELU
 *   silu_mul_DT(gate, up, out, mlxc_p_elementwise) out = silu(gate) * up
 *   sigmoid_mul_DT(x, g, out, mlxc_p_elementwise)  out = x * sigmoid(g)
 *   swiglu_DT(x, out, mlxc_p_glu)                  out[i] = silu(x[r, c]) * x[r, half + c],
 *                                                  r = i / half, c = i % half, rows of 2 half
 *   cast_A_B(src, dst, mlxc_p_elementwise)         A != B in {f32, f16, bf16}
 */
#ifndef MLXC_KERNELS_PARAMS_ELEMENTWISE_H
#define MLXC_KERNELS_PARAMS_ELEMENTWISE_H

#include <stdint.h>

typedef struct mlxc_p_elementwise {
    uint64_t n;
} mlxc_p_elementwise;

/* scale_* (s = factor), softcap_* (s = cap c). */
typedef struct mlxc_p_scale {
    uint64_t n;
    float    s;
    uint32_t pad;
} mlxc_p_scale;

/* swiglu_*: n output values, rows of `half` (x rows of 2 half). */
typedef struct mlxc_p_glu {
    uint64_t n;
    uint32_t half;
    uint32_t pad;
} mlxc_p_glu;

#endif /* MLXC_KERNELS_PARAMS_ELEMENTWISE_H */
