/*
 * By-value parameters of the hadamard family (include/mlxc/ops_hadamard.h):
 * the normalized fast Walsh-Hadamard transform and the TurboQuant-style
 * quantized KV cache built on it, shared by the CPU kernels, the CUDA
 * kernels and the front-end.  DT is f32, f16 or bf16; HD 64, 128 or 256;
 * B (bits) 2, 3, 4 or 8.
 *
 *   hadamard_DT(x, mlxc_p_hadamard)            in place, one row of dim each
 *   tq_kv_copy_DT(src, codes, norms, pos, mlxc_p_tq_copy)
 *       one (token, KV head) row each: rotate, quantize, pack, store the norm
 *   tq_dequant_DT(codes, norms, out, mlxc_p_tq_dequant)   DT: out's dtype
 *       one cache row each: unpack, scale, rotate back
 *   tq_decode_hdHD_bB(q, kc, kn, vc, vn, len_buf, scratch, mlxc_p_tq_decode)
 *       one work item per (KV head, split): the partial (m, l, acc) of
 *       every query head of the group over the split's keys, in the
 *       rotated space
 *   tq_decode_combine(scratch, out, mlxc_p_tq_decode)
 *       one work item per query head: merge the splits, rotate back
 *
 * Rotation.  R x = H S x / sqrt(n): S = diag(s_0 .. s_{n-1}) the sign flips
 * (all +1 without signs), H the Sylvester Hadamard matrix (H[i][j] =
 * (-1)^popcount(i & j)); R is orthonormal and R^-1 = S H / sqrt(n).
 * s_i = mlxc_had_sign(seed, i) below.
 *
 * Cache row (one position of one KV head): head_dim codes of B bits,
 * packed LSB-first as one bit stream (code i is bits [i*B, i*B + B) of
 * the row, little-endian), so every 8 codes are B bytes and a row is
 * head_dim * B / 8 bytes; and its norm ||x|| (f16 or f32, norm_dtype).
 * Code i is the index of the nearest Lloyd-Max centroid (MLXC_TQ_CODEBOOK_B,
 * N(0, 1)) to z_i = (H S x)_i / ||x||, which is (R x)_i * sqrt(n) / ||x||:
 * about N(0, 1) for any x.  The row decodes to
 *     x^ = S H c / n * ||x||,   c_i = codebook[code i].
 * A zero vector stores norm 0 and decodes to zeros.
 *
 * Decode scratch (f32), with S = n_splits, written by tq_decode and read by
 * tq_decode_combine (so it needs no initial value):
 *   acc[n_heads][S][head_dim]   sum of p * ||v|| * c(v) over the split, in
 *                               the rotated space
 *   ml [n_heads][S][2]          (m, l) as in params_attention.h: m = max of
 *                               logit * log2(e) (-inf: no key), l = sum of
 *                               2^(logit * log2(e) - m)
 * Split s covers [lo + s*chunk, lo + (s+1)*chunk) clipped to [lo, L),
 * chunk = round_up(ceil((L - lo) / S), MLXC_TQ_TILE), L and lo as in
 * ops_attention.h.
 *
 * tq_decode on CUDA needs MLXC_TQ_CUDA_THREADS threads per block and
 * mlxc_tq_decode_smem(HD, B) bytes of dynamic shared memory (the family's
 * exception to params_elementwise.h's "any block size"); the other kernels
 * run with any grid and block.
 */
#ifndef MLXC_KERNELS_PARAMS_HADAMARD_H
#define MLXC_KERNELS_PARAMS_HADAMARD_H

#include <stdint.h>

#ifdef __CUDACC__
#define MLXC_TQ_FN static __host__ __device__ __forceinline__
#else
#define MLXC_TQ_FN static inline
#endif

#define MLXC_HAD_MIN_DIM 64u
#define MLXC_HAD_MAX_DIM 8192u

#define MLXC_TQ_DT_F32  0u
#define MLXC_TQ_DT_F16  1u
#define MLXC_TQ_DT_BF16 2u

#define MLXC_TQ_LEN_NONE 0u
#define MLXC_TQ_LEN_U32  1u
#define MLXC_TQ_LEN_I32  2u

#define MLXC_TQ_CUDA_THREADS 128u
#define MLXC_TQ_TILE         128u /* keys per tile of a decode block */
#define MLXC_TQ_MAX_GROUP    8u   /* query heads per KV head         */

/* Bytes of a packed cache row. */
#define MLXC_TQ_ROW_BYTES(hd, bits) ((uint32_t)(hd) * (uint32_t)(bits) / 8u)

/* Dynamic shared memory of tq_decode on CUDA: K and V tiles (rows padded
 * by 8 bytes so that a thread per key reads them without bank conflicts),
 * the V scales of a tile, the rotated queries, the tile's probabilities,
 * the codebook and the running (m, l, correction) of each query head. */
MLXC_TQ_FN uint32_t mlxc_tq_decode_smem(uint32_t hd, uint32_t bits) {
    return 2u * MLXC_TQ_TILE * (MLXC_TQ_ROW_BYTES(hd, bits) + 8u) + MLXC_TQ_TILE * 4u +
           MLXC_TQ_MAX_GROUP * hd * 4u + MLXC_TQ_MAX_GROUP * MLXC_TQ_TILE * 4u + 256u * 4u +
           3u * MLXC_TQ_MAX_GROUP * 4u;
}

/* The sign s_i of the rotation with `seed`: a 32-bit integer hash of
 * (seed, i), its low bit.  Part of the cache format: a cache written with
 * one seed must be read with the same. */
MLXC_TQ_FN float mlxc_had_sign(uint32_t seed, uint32_t i) {
    uint32_t h = i * 0x9e3779b9u ^ seed;
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    h *= 0x846ca68bu;
    h ^= h >> 16;
    return (h & 1u) ? -1.0f : 1.0f;
}

/* Flags of mlxc_p_hadamard. */
#define MLXC_HAD_SIGNS   1u /* apply the sign flips                     */
#define MLXC_HAD_INVERSE 2u /* R^-1: transform first, then the signs    */

typedef struct mlxc_p_hadamard {
    uint32_t rows, dim;
    uint32_t flags;
    uint32_t seed;
} mlxc_p_hadamard;

/* Write n_tokens rows of src (n_tokens, kv_heads, head_dim) at positions
 * start .. start + n_tokens - 1, start = pos (+ pos_buf[0], an i32, when
 * use_pos_buf), as mlxc_p_kv_copy: a linear cache drops rows past its
 * capacity, a sliding one wraps (only the last `capacity` tokens). */
typedef struct mlxc_p_tq_copy {
    uint32_t n_tokens, kv_heads, head_dim, capacity;
    uint32_t pos, sliding, use_pos_buf;
    uint32_t bits, seed, norm_dtype;
    uint32_t pad[2];
} mlxc_p_tq_copy;

/* Decode `rows` cache rows (codes, norms) into out (rows, head_dim). */
typedef struct mlxc_p_tq_dequant {
    uint32_t rows, head_dim, bits, seed;
    uint32_t norm_dtype;
    uint32_t pad[3];
} mlxc_p_tq_dequant;

typedef struct mlxc_p_tq_decode {
    uint32_t n_heads, n_kv_heads, head_dim, capacity;
    uint32_t kv_len;   /* L = kv_len + len_buf[0] (len_mode != NONE) */
    uint32_t len_mode; /* MLXC_TQ_LEN_*                              */
    uint32_t window;   /* 0 = none                                   */
    uint32_t ring;     /* slot = position % capacity                 */
    uint32_t n_splits;
    uint32_t bits, seed;
    uint32_t q_dtype, out_dtype, norm_dtype;
    float    scale, softcap;
} mlxc_p_tq_decode;

/* The Lloyd-Max centroids (scripts/make_tq_codebooks.py). */
/* Generated by scripts/make_tq_codebooks.py: Lloyd-Max centroids of N(0, 1),
 * ascending.  Distortion E[(Z - Q(Z))^2]: 2-bit 0.117482, 3-bit 0.0345478, 4-bit 0.00950101, 8-bit 4.11851e-05. */
#define MLXC_TQ_CODEBOOK_2 \
    { \
    -1.510417608e+00f, -4.527800346e-01f, 4.527800346e-01f, 1.510417608e+00f \
    }
#define MLXC_TQ_CODEBOOK_3 \
    { \
    -2.151945705e+00f, -1.343909279e+00f, -7.560052812e-01f, -2.450941789e-01f, 2.450941789e-01f, 7.560052812e-01f, \
    1.343909279e+00f, 2.151945705e+00f \
    }
#define MLXC_TQ_CODEBOOK_4 \
    { \
    -2.732589571e+00f, -2.069017227e+00f, -1.618046386e+00f, -1.256231197e+00f, -9.423404565e-01f, -6.567591185e-01f, \
    -3.880482995e-01f, -1.283950299e-01f, 1.283950299e-01f, 3.880482995e-01f, 6.567591185e-01f, 9.423404565e-01f, \
    1.256231197e+00f, 1.618046386e+00f, 2.069017227e+00f, 2.732589571e+00f \
    }
#define MLXC_TQ_CODEBOOK_8 \
    { \
    -4.603535612e+00f, -4.186595443e+00f, -3.925637784e+00f, -3.731666262e+00f, -3.575587972e+00f, -3.444071678e+00f, \
    -3.329848470e+00f, -3.228500211e+00f, -3.137132532e+00f, -3.053742016e+00f, -2.976882134e+00f, -2.905472904e+00f, \
    -2.838685787e+00f, -2.775870653e+00f, -2.716507579e+00f, -2.660173966e+00f, -2.606521466e+00f, -2.555259397e+00f, \
    -2.506142560e+00f, -2.458962134e+00f, -2.413538744e+00f, -2.369717125e+00f, -2.327361935e+00f, -2.286354451e+00f, \
    -2.246589930e+00f, -2.207975464e+00f, -2.170428249e+00f, -2.133874148e+00f, -2.098246509e+00f, -2.063485177e+00f, \
    -2.029535665e+00f, -1.996348455e+00f, -1.963878399e+00f, -1.932084218e+00f, -1.900928058e+00f, -1.870375122e+00f, \
    -1.840393341e+00f, -1.810953088e+00f, -1.782026939e+00f, -1.753589448e+00f, -1.725616962e+00f, -1.698087453e+00f, \
    -1.670980366e+00f, -1.644276490e+00f, -1.617957841e+00f, -1.592007553e+00f, -1.566409792e+00f, -1.541149662e+00f, \
    -1.516213138e+00f, -1.491586992e+00f, -1.467258735e+00f, -1.443216559e+00f, -1.419449287e+00f, -1.395946328e+00f, \
    -1.372697633e+00f, -1.349693660e+00f, -1.326925335e+00f, -1.304384022e+00f, -1.282061497e+00f, -1.259949915e+00f, \
    -1.238041790e+00f, -1.216329968e+00f, -1.194807612e+00f, -1.173468176e+00f, -1.152305393e+00f, -1.131313252e+00f, \
    -1.110485990e+00f, -1.089818070e+00f, -1.069304174e+00f, -1.048939189e+00f, -1.028718192e+00f, -1.008636443e+00f, \
    -9.886893743e-01f, -9.688725810e-01f, -9.491818112e-01f, -9.296129591e-01f, -9.101620563e-01f, -8.908252655e-01f, \
    -8.715988732e-01f, -8.524792833e-01f, -8.334630114e-01f, -8.145466788e-01f, -7.957270074e-01f, -7.770008149e-01f, \
    -7.583650094e-01f, -7.398165857e-01f, -7.213526204e-01f, -7.029702684e-01f, -6.846667587e-01f, -6.664393910e-01f, \
    -6.482855322e-01f, -6.302026133e-01f, -6.121881261e-01f, -5.942396202e-01f, -5.763547006e-01f, -5.585310246e-01f, \
    -5.407662992e-01f, -5.230582793e-01f, -5.054047644e-01f, -4.878035973e-01f, -4.702526612e-01f, -4.527498783e-01f, \
    -4.352932072e-01f, -4.178806415e-01f, -4.005102078e-01f, -3.831799637e-01f, -3.658879965e-01f, -3.486324215e-01f, \
    -3.314113801e-01f, -3.142230386e-01f, -2.970655865e-01f, -2.799372353e-01f, -2.628362168e-01f, -2.457607821e-01f, \
    -2.287091999e-01f, -2.116797555e-01f, -1.946707493e-01f, -1.776804958e-01f, -1.607073224e-01f, -1.437495678e-01f, \
    -1.268055814e-01f, -1.098737217e-01f, -9.295235540e-02f, -7.603985639e-02f, -5.913460434e-02f, -4.223498380e-02f, \
    -2.533938310e-02f, -8.446193223e-03f, 8.446193223e-03f, 2.533938310e-02f, 4.223498380e-02f, 5.913460434e-02f, \
    7.603985639e-02f, 9.295235540e-02f, 1.098737217e-01f, 1.268055814e-01f, 1.437495678e-01f, 1.607073224e-01f, \
    1.776804958e-01f, 1.946707493e-01f, 2.116797555e-01f, 2.287091999e-01f, 2.457607821e-01f, 2.628362168e-01f, \
    2.799372353e-01f, 2.970655865e-01f, 3.142230386e-01f, 3.314113801e-01f, 3.486324215e-01f, 3.658879965e-01f, \
    3.831799637e-01f, 4.005102078e-01f, 4.178806415e-01f, 4.352932072e-01f, 4.527498783e-01f, 4.702526612e-01f, \
    4.878035973e-01f, 5.054047644e-01f, 5.230582793e-01f, 5.407662992e-01f, 5.585310246e-01f, 5.763547006e-01f, \
    5.942396202e-01f, 6.121881261e-01f, 6.302026133e-01f, 6.482855322e-01f, 6.664393910e-01f, 6.846667587e-01f, \
    7.029702684e-01f, 7.213526204e-01f, 7.398165857e-01f, 7.583650094e-01f, 7.770008149e-01f, 7.957270074e-01f, \
    8.145466788e-01f, 8.334630114e-01f, 8.524792833e-01f, 8.715988732e-01f, 8.908252655e-01f, 9.101620563e-01f, \
    9.296129591e-01f, 9.491818112e-01f, 9.688725810e-01f, 9.886893743e-01f, 1.008636443e+00f, 1.028718192e+00f, \
    1.048939189e+00f, 1.069304174e+00f, 1.089818070e+00f, 1.110485990e+00f, 1.131313252e+00f, 1.152305393e+00f, \
    1.173468176e+00f, 1.194807612e+00f, 1.216329968e+00f, 1.238041790e+00f, 1.259949915e+00f, 1.282061497e+00f, \
    1.304384022e+00f, 1.326925335e+00f, 1.349693660e+00f, 1.372697633e+00f, 1.395946328e+00f, 1.419449287e+00f, \
    1.443216559e+00f, 1.467258735e+00f, 1.491586992e+00f, 1.516213138e+00f, 1.541149662e+00f, 1.566409792e+00f, \
    1.592007553e+00f, 1.617957841e+00f, 1.644276490e+00f, 1.670980366e+00f, 1.698087453e+00f, 1.725616962e+00f, \
    1.753589448e+00f, 1.782026939e+00f, 1.810953088e+00f, 1.840393341e+00f, 1.870375122e+00f, 1.900928058e+00f, \
    1.932084218e+00f, 1.963878399e+00f, 1.996348455e+00f, 2.029535665e+00f, 2.063485177e+00f, 2.098246509e+00f, \
    2.133874148e+00f, 2.170428249e+00f, 2.207975464e+00f, 2.246589930e+00f, 2.286354451e+00f, 2.327361935e+00f, \
    2.369717125e+00f, 2.413538744e+00f, 2.458962134e+00f, 2.506142560e+00f, 2.555259397e+00f, 2.606521466e+00f, \
    2.660173966e+00f, 2.716507579e+00f, 2.775870653e+00f, 2.838685787e+00f, 2.905472904e+00f, 2.976882134e+00f, \
    3.053742016e+00f, 3.137132532e+00f, 3.228500211e+00f, 3.329848470e+00f, 3.444071678e+00f, 3.575587972e+00f, \
    3.731666262e+00f, 3.925637784e+00f, 4.186595443e+00f, 4.603535612e+00f \
    }

#endif /* MLXC_KERNELS_PARAMS_HADAMARD_H */
