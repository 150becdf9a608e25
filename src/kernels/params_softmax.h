/*
 * By-value parameters of the softmax kernels (grid convention:
 * params_elementwise.h).
 *
 *   softmax_DT(x, mask, out, mlxc_p_softmax)       also scale/mask/causal
 */
#ifndef MLXC_KERNELS_PARAMS_SOFTMAX_H
#define MLXC_KERNELS_PARAMS_SOFTMAX_H

#include <stdint.h>

/* softmax over rows of `cols`: y = softmax(x * scale + mask) where row r is
 * query q = r % q_len; mask (q_len, cols) when has_mask; causal masks
 * column j > q_offset + q.  A row with every column masked gives zeros. */
typedef struct mlxc_p_softmax {
    uint32_t rows, cols;
    float    scale;
    uint32_t has_mask;
    uint32_t causal;
    uint32_t q_len;
    uint32_t q_offset;
    uint32_t pad;
} mlxc_p_softmax;

#endif /* MLXC_KERNELS_PARAMS_SOFTMAX_H */
