/*
 * The pieces of a rotation every rope kernel shares (rope.cu) and the
 * decode attention that ropes its own q and k (attention.cu,
 * attn_decode_qkv): the angle of a pair, the rotation, and the q/k norm's
 * sum in rms_norm_rows' order (norm.cu).  Kept in one place so that the
 * kernels built from them give the same bits.
 */
#ifndef MLXC_KERNELS_CUDA_ROPE_CUH
#define MLXC_KERNELS_CUDA_ROPE_CUH

#include "common.cuh"
#include "kernels/params_rope.h"

namespace mlxc_ops {

/* The angle of pair i at `position`, and its sine and cosine times mscale. */
__device__ __forceinline__ void rope_angle(float position, const float *ff, const mlxc_p_rope &p, uint32_t i, float *sn,
                                           float *cs) {
    float theta = __fmul_rn(position, p.inv_freq[i]);
    if (p.has_freq_factors) theta = __fdiv_rn(theta, ff[i]);
    sincosf(theta, sn, cs);
    *sn = __fmul_rn(*sn, p.mscale);
    *cs = __fmul_rn(*cs, p.mscale);
}

/* One pair turned by (cs, sn): the one expression every rotation of the
 * family uses, so that nvcc contracts it alike in each (rope_qkv_cache and
 * attn_decode_qkv must give rope's bits). */
__device__ __forceinline__ void rope_rotate(float a, float b, float cs, float sn, float *lo, float *hi) {
    *lo = a * cs - b * sn;
    *hi = a * sn + b * cs;
}

/* Lane k (0..7) of a head row's sum of squares: xs[k], xs[k + 8], ...
 * below hd / 8 * 8, in order. */
__device__ __forceinline__ float rope_lane_sum(const float *xs, uint32_t k, uint32_t hd) {
    const uint32_t main = hd / 8 * 8;
    float acc = 0.0f;
    for (uint32_t i = k; i < main; i += 8) acc = __fadd_rn(acc, __fmul_rn(xs[i], xs[i]));
    return acc;
}

/* 1 / sqrt(mean of squares + eps) of the row xs from its eight lane sums:
 * the tail past hd / 8 * 8 into lane 0, then the fixed tree (rms_inv8). */
__device__ __forceinline__ float rope_row_inv(const float *lane, const float *xs, uint32_t hd, float eps) {
    float a0 = lane[0];
    for (uint32_t i = hd / 8 * 8; i < hd; i++) a0 = __fadd_rn(a0, __fmul_rn(xs[i], xs[i]));
    return rms_inv8(a0, lane, hd, eps);
}

/* The cache slot of a key at `pos` (kv_cache_copy's rule, ops_kv_slot on
 * the CPU): a ring (sliding) wraps it, a linear cache keeps it only below
 * its capacity; false when the key is not kept. */
__device__ __forceinline__ bool rope_cache_slot(int32_t pos, bool sliding, uint64_t cap, uint64_t *slot) {
    const uint64_t s = (uint64_t)(uint32_t)pos;
    *slot = sliding ? s % cap : s;
    return sliding || s < cap;
}

} // namespace mlxc_ops

#endif
