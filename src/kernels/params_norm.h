/*
 * By-value parameters of the normalisation kernels (grid convention:
 * params_elementwise.h); sums in f32.
 *
 *   rms_norm_DT(x, w, out, mlxc_p_rms_norm)     rows of dim; w ignored when
 *       has_weight == 0 (pass any valid pointer)
 *   rms_norm_mul_DT(x, w, s, out, mlxc_p_rms_norm)
 *       out = round(round(norm(x) * w) * s): the fusion of rms_norm and a
 *       following mul, bit-identical to the two kernels run in sequence
 *   rms_norm_residual_DT(x, r, w, out, sum, mlxc_p_norm)
 *   l2_norm_DT(x, out, mlxc_p_norm)
 *   layer_norm_DT(x, w, b, out, mlxc_p_norm)
 */
#ifndef MLXC_KERNELS_PARAMS_NORM_H
#define MLXC_KERNELS_PARAMS_NORM_H

#include <stdint.h>

typedef struct mlxc_p_rms_norm {
    uint32_t rows;
    uint32_t dim;
    float    eps;
    uint32_t has_weight;
} mlxc_p_rms_norm;

/* rms_norm_residual, l2_norm, layer_norm. */
typedef struct mlxc_p_norm {
    uint32_t rows, dim;
    float    eps;
    uint32_t has_weight;
    uint32_t has_bias;
    uint32_t write_sum;
} mlxc_p_norm;

#endif /* MLXC_KERNELS_PARAMS_NORM_H */
