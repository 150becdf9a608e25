/*
 * Quantized matmul CUDA kernels (src/kernels/params_qmatmul.h): the same
 * names and arguments as the CPU kernels of src/kernels/cpu/qmatmul.c.
 *
 *   qmv_F_X_Y   mat-vec, m <= 8: one warp per weight row; each lane takes
 *               runs of 8 consecutive values (strided by 256 over k),
 *               dequantizes them in registers and multiplies them with the
 *               m x rows held in registers as f32 sums; a shuffle tree sums
 *               the lanes.  The weights are read once, x through the cache.
 *   qmm_F_X_Y   any m: a block owns a 32 x 32 output tile; per chunk of 64
 *               values of k, the x tile and the dequantized weight tile go
 *               to shared memory as f32 and each thread sums its outputs.
 *               The plain correct path (no tensor cores yet).
 *   qmoet_F_X_Y the expert-routed mat-vec through qmvt (the formats with a
 *               ring): grid.y the (token, expert) pair, its blocks qmvt's.
 *   qmoef_F_bf16_bf16, qmoec_F_bf16_bf16  the same through the fused
 *               mat-vec qmvf; qmoec then adds the experts' weighted sum
 *               to the residual (the last block of each tile's pairs).
 *   qmoer_F_bf16_bf16, qmoerc_F_bf16_bf16  the same through the int8
 *               walk qmvr (int8 activations).
 *   qmoe_F_X_Y  expert-routed mat-vec (also for dense experts: F f32, f16,
 *               bf16): one warp per (token-expert pair,
 *               weight row), the expert's rows picked by the device ids.
 *   qgather_F_Y rows of W dequantized (embedding gather, or the whole
 *               matrix as a scratch for the dense GEMM): one thread per run
 *               of 8 values, grid-stride.
 *
 * One template body serves every format: deq8<F, B> dequantizes the 8
 * values e .. e + 7 (e a multiple of 8) of one weight row with the
 * formats' own formulas.  Both kernels are correct for any grid and block
 * size (params_elementwise.h): the mat-vec falls back to one thread per row when the
 * block is not whole warps.
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "bulk_copy.cuh"
#include "common.cuh"
#include "kquant.cuh"
#include "kernels/params_qmatmul.h"
#define MLXC_QI_F16(h) __half2float(__ushort_as_half((unsigned short)(h)))
#include "quant/quant_iq.h"

namespace mlxc_qmm {

using mlxc_kq::dp4a_us;
using mlxc_kq::k4_pair;

__device__ __forceinline__ float f16(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf16(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }
__device__ __forceinline__ float ld16(const uint8_t *p) { return f16((uint16_t)(p[0] | p[1] << 8)); }
/* The GGML blocks that hold an f16 are 2-byte aligned (the front-end
 * checks the view; their sizes are even), and so are their code bytes at
 * an even offset: an f16 in one 16-bit load, eight bytes in four (byte t
 * of the word is byte t at p), where a byte at a time took eight. */
__device__ __forceinline__ float ld16a(const uint8_t *p) { return f16(*(const uint16_t *)p); }
__device__ __forceinline__ uint64_t ld8a(const uint8_t *p) {
    const uint16_t *h = (const uint16_t *)p;
    return (uint64_t)h[0] | (uint64_t)h[1] << 16 | (uint64_t)h[2] << 32 | (uint64_t)h[3] << 48;
}

/* 2^(e - 127) for e in 0..254 (0 is the subnormal 2^-127), NaN for 255. */
__device__ __forceinline__ float e8m0(uint32_t e) {
    return e == 255 ? __int_as_float(0x7fc00000) : e == 0 ? __int_as_float(0x00400000) : __int_as_float(e << 23);
}
/* 2^(e - 128), GGML's MXFP4 scale (its code book is doubled). */
__device__ __forceinline__ float e8m0_half(uint32_t e) {
    return e == 255 ? __int_as_float(0x7fc00000) : e < 2 ? __int_as_float(0x00200000 << e) : __int_as_float((e - 1) << 23);
}
__device__ __forceinline__ float e4m3(uint32_t v) {
    const uint32_t e = (v >> 3) & 15, m = v & 7;
    float f = e == 0 ? (float)m * 0x1p-9f : (float)(8 + m) * __int_as_float((int)(e - 10 + 127) << 23);
    if (e == 15 && m == 7) f = __int_as_float(0x7fc00000);
    return (v & 0x80) ? -f : f;
}
__device__ __forceinline__ float e2m1(uint32_t c) {
    const uint32_t mg = c & 7;
    const float v = mg < 4 ? 0.5f * (float)mg : mg == 4 ? 2.0f : mg == 5 ? 3.0f : mg == 6 ? 4.0f : 6.0f;
    return (c & 8) ? -v : v;
}
/* The IQ4_NL code book (MLXC_IQ4NL_INIT) as bytes of two words, so the
 * lookup stays in registers. */
__device__ __forceinline__ int iq4nl(uint32_t c) {
    const uint64_t t = (c & 8) ? 0x7159453526190d01ull : 0xf6eaddcfbfad9881ull;
    return (int8_t)(uint8_t)(t >> (8 * (c & 7)));
}
__device__ __forceinline__ float scale_at(const void *s, uint32_t sdtype, uint64_t i) {
    if (sdtype == MLXC_QS_F32) return ((const float *)s)[i];
    const uint16_t h = ((const uint16_t *)s)[i];
    return sdtype == MLXC_QS_F16 ? f16(h) : bf16(h);
}
/* Nibble j (0..31) of a Q4_0-style block: low nibbles first, then high. */
__device__ __forceinline__ uint32_t nib(const uint8_t *qs, uint32_t j) { return j < 16 ? qs[j] & 15 : qs[j - 16] >> 4; }
__device__ __forceinline__ void k4(const uint8_t *s, uint32_t j, float *d, float *m) {
    if (j < 4) *d = (float)(s[j] & 63), *m = (float)(s[j + 4] & 63);
    else *d = (float)((s[j + 4] & 15) | ((s[j - 4] >> 6) << 4)), *m = (float)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
}

/* Values e .. e + 7 of weight row r into v. */
template <int F, int B>
__device__ __forceinline__ void deq8(const uint8_t *__restrict__ w, const void *__restrict__ scales,
                                     const void *__restrict__ biases, const mlxc_p_qmatmul &p, uint32_t r, uint32_t e,
                                     float v[8]) {
    if constexpr (F == MLXC_QMMF_Q4_0T) {
        /* values e .. e + 7 of block b: code bytes (e % 16) .. + 7, two of
         * the row's 4-byte slots, low or high nibbles */
        const uint32_t b = e / 32, h = r % MLXC_Q4T_ROWS, i = b % 4, j0 = e % 32, by = j0 % 16;
        const uint8_t *rec = w + mlxc_q4t_record(p.row_bytes, r, b);
        const float d = f16(*(const uint16_t *)(rec + MLXC_Q4T_SCALE(h, i)));
        const uint32_t q0 = *(const uint32_t *)(rec + MLXC_Q4T_CODE(h, i, by / 4)),
                       q1 = *(const uint32_t *)(rec + MLXC_Q4T_CODE(h, i, by / 4 + 1)), sh = j0 < 16 ? 0 : 4;
#pragma unroll
        for (int t = 0; t < 8; t++) v[t] = d * (float)((int)(((t < 4 ? q0 : q1) >> (8 * (t % 4) + sh)) & 15) - 8);
        return;
    }
    const uint8_t *row = w + (uint64_t)r * p.row_bytes;
    if constexpr (F == MLXC_QMMF_F32 || F == MLXC_QMMF_F16 || F == MLXC_QMMF_BF16) {
        /* dense experts: rows of values, 4- or 2-byte aligned */
#pragma unroll
        for (int t = 0; t < 8; t++)
            v[t] = F == MLXC_QMMF_F32 ? ((const float *)row)[e + t]
                   : F == MLXC_QMMF_F16 ? f16(((const uint16_t *)row)[e + t])
                                        : bf16(((const uint16_t *)row)[e + t]);
        return;
    }
    if (F == MLXC_QMMF_AFFINE) {
        /* 8 values of B bits are B whole bytes at byte e * B / 8. */
        const uint8_t *at = row + (uint64_t)e * B / 8;
        uint64_t bits = 0;
        /* Rows start on word boundaries (the front-end checks the view) and
         * e is a multiple of 8, so `at` is aligned to the power of two in B
         * (at most 4: the view need only start on a word). */
        if (B == 8) bits = (uint64_t)((const uint32_t *)at)[0] | (uint64_t)((const uint32_t *)at)[1] << 32;
        else if (B == 4) bits = *(const uint32_t *)at;
        else if (B == 2) bits = *(const uint16_t *)at;
        else if (B == 6) {
            const uint16_t *h = (const uint16_t *)at;
            bits = (uint64_t)h[0] | (uint64_t)h[1] << 16 | (uint64_t)h[2] << 32;
        } else {
#pragma unroll
            for (int b = 0; b < B; b++) bits |= (uint64_t)at[b] << (8 * b);
        }
        /* the group: k is whole groups, and MLX's are powers of two (a
         * shift, not a 64-bit division) */
        const uint32_t g = p.group;
        const uint64_t gi = (g & (g - 1)) == 0 ? (uint64_t)r * (p.k >> (__ffs(g) - 1)) + (e >> (__ffs(g) - 1))
                                               : (uint64_t)r * (p.k / g) + e / g;
        const float s = scale_at(scales, p.sdtype, gi), bb = scale_at(biases, p.sdtype, gi);
#pragma unroll
        for (int t = 0; t < 8; t++) v[t] = s * (float)((bits >> (B * t)) & ((1u << B) - 1)) + bb;
        return;
    }
    if (F == MLXC_QMMF_MXFP4 || F == MLXC_QMMF_NVFP4 || F == MLXC_QMMF_MXFP8) {
        const uint64_t gi = ((uint64_t)r * p.k + e) / p.group;
        const uint32_t sb = ((const uint8_t *)scales)[gi];
        const float s = F == MLXC_QMMF_NVFP4 ? e4m3(sb) : e8m0(sb);
        /* 4 or 8 bytes at a word boundary (as the affine words). */
        const uint32_t *at = (const uint32_t *)(row + (F == MLXC_QMMF_MXFP8 ? e : e / 2));
        const uint32_t w0 = at[0], w1 = F == MLXC_QMMF_MXFP8 ? at[1] : 0u;
#pragma unroll
        for (int t = 0; t < 8; t++)
            v[t] = (F == MLXC_QMMF_MXFP8 ? e4m3(((t < 4 ? w0 : w1) >> (8 * (t % 4))) & 0xff) : e2m1((w0 >> (4 * t)) & 15)) * s;
        return;
    }
    const uint32_t be = F == MLXC_QMMF_Q2_K || F == MLXC_QMMF_Q3_K || F == MLXC_QMMF_Q4_K || F == MLXC_QMMF_Q5_K ||
                                F == MLXC_QMMF_Q6_K || F == MLXC_QMMF_IQ4_XS
                            ? 256
                        : mlxc_qf_qi_type(F) ? mlxc_qf_block_elems(F)
                                             : 32;
    const uint8_t *b = row + (uint64_t)(e / be) * mlxc_qf_block_bytes(F);
    const uint32_t j0 = e % be;
    /* the 32-value blocks below: values j0 .. j0 + 7 (j0 a multiple of 8)
     * are the low (j0 < 16) or high nibbles of code bytes j0 % 16 .. + 7 */
    const uint32_t nsh = j0 < 16 ? 0 : 4;
    if (F == MLXC_QMMF_Q4_0 || F == MLXC_QMMF_IQ4_NL) {
        const float d = ld16a(b);
        const uint64_t q = ld8a(b + 2 + j0 % 16);
#pragma unroll
        for (int t = 0; t < 8; t++) {
            const uint32_t c = (uint32_t)(q >> (8 * t + nsh)) & 15;
            v[t] = F == MLXC_QMMF_Q4_0 ? d * (float)((int)c - 8) : d * (float)iq4nl(c);
        }
    } else if (F == MLXC_QMMF_Q4_1) {
        const float d = ld16a(b), m = ld16a(b + 2);
        const uint64_t q = ld8a(b + 4 + j0 % 16);
#pragma unroll
        for (int t = 0; t < 8; t++) v[t] = (float)((uint32_t)(q >> (8 * t + nsh)) & 15) * d + m;
    } else if (F == MLXC_QMMF_Q5_0 || F == MLXC_QMMF_Q5_1) {
        const bool one = F == MLXC_QMMF_Q5_1;
        const float d = ld16a(b), m = one ? ld16a(b + 2) : 0.0f;
        const uint8_t *qh = b + (one ? 4 : 2), *qs = b + (one ? 8 : 6);
        const uint32_t h = (uint32_t)((const uint16_t *)qh)[0] | (uint32_t)((const uint16_t *)qh)[1] << 16;
        const uint64_t q = ld8a(qs + j0 % 16);
#pragma unroll
        for (int t = 0; t < 8; t++) {
            const uint32_t c = ((uint32_t)(q >> (8 * t + nsh)) & 15) | ((h >> (j0 + t)) & 1) << 4;
            v[t] = one ? (float)c * d + m : (float)((int)c - 16) * d;
        }
    } else if (F == MLXC_QMMF_Q8_0) {
        const float d = ld16a(b);
        const uint64_t q = ld8a(b + 2 + j0);
#pragma unroll
        for (int t = 0; t < 8; t++) v[t] = (float)(int8_t)(uint8_t)(q >> (8 * t)) * d;
    } else if (F == MLXC_QMMF_GGML_MXFP4) {
        const float d = e8m0_half(b[0]);
#pragma unroll
        for (int t = 0; t < 8; t++) v[t] = 2.0f * e2m1(nib(b + 1, j0 + t)) * d;
    } else if (F == MLXC_QMMF_Q2_K) { /* scales[16] qs[64] d dmin */
        const uint32_t h = j0 / 128, jj = (j0 % 128) / 32, l0 = j0 % 32, sc = b[h * 8 + jj * 2 + l0 / 16];
        const float dl = ld16(b + 80) * (float)(sc & 15), ml = ld16(b + 82) * (float)(sc >> 4);
#pragma unroll
        for (int t = 0; t < 8; t++) v[t] = dl * (float)((b[16 + h * 32 + l0 + t] >> (2 * jj)) & 3) - ml;
    } else if (F == MLXC_QMMF_Q3_K) { /* hmask[32] qs[64] scales[12] d */
        const uint32_t h = j0 / 128, jj = (j0 % 128) / 32, l0 = j0 % 32, si = h * 8 + jj * 2 + l0 / 16;
        const uint8_t *s = b + 96;
        const int lo = si < 8 ? s[si] & 15 : s[si - 8] >> 4, hi = (s[8 + si % 4] >> (2 * (si / 4))) & 3;
        const float dl = ld16(b + 108) * (float)((lo | hi << 4) - 32);
#pragma unroll
        for (int t = 0; t < 8; t++) {
            const uint32_t l = l0 + t;
            const int q = (int)((b[32 + h * 32 + l] >> (2 * jj)) & 3) - (((b[l] >> (h * 4 + jj)) & 1) ? 0 : 4);
            v[t] = dl * (float)q;
        }
    } else if (F == MLXC_QMMF_Q4_K || F == MLXC_QMMF_Q5_K) { /* d dmin scales[12] (qh[32]) qs[128] */
        const bool five = F == MLXC_QMMF_Q5_K;
        const uint32_t c = j0 / 64, hi = (j0 % 64) / 32, l0 = j0 % 32;
        float sc, mn;
        k4(b + 4, 2 * c + hi, &sc, &mn);
        const float dl = ld16(b) * sc, ml = ld16(b + 2) * mn;
#pragma unroll
        for (int t = 0; t < 8; t++) {
            const uint32_t l = l0 + t, byte = b[(five ? 48 : 16) + c * 32 + l];
            uint32_t q = hi ? byte >> 4 : byte & 15;
            if (five) q |= ((b[16 + l] >> (2 * c + hi)) & 1) << 4;
            v[t] = dl * (float)q - ml;
        }
    } else if (F == MLXC_QMMF_Q6_K) { /* ql[128] qh[64] scales[16] d */
        const uint32_t h = j0 / 128, qu = (j0 % 128) / 32, l0 = j0 % 32;
        const float dl = ld16(b + 208) * (float)(int8_t)b[192 + h * 8 + l0 / 16 + 2 * qu];
#pragma unroll
        for (int t = 0; t < 8; t++) {
            const uint32_t l = l0 + t, lb = b[h * 64 + l + (qu & 1) * 32], lo = qu >= 2 ? lb >> 4 : lb & 15;
            const uint32_t hb = (b[128 + h * 32 + l] >> (2 * qu)) & 3;
            v[t] = dl * (float)((int)(lo | hb << 4) - 32);
        }
    } else if (F == MLXC_QMMF_IQ4_XS) { /* d scales_h scales_l[4] qs[128] */
        const uint32_t ib = j0 / 32, jj0 = j0 % 32, sh = (uint32_t)(b[2] | b[3] << 8);
        const int ls = (int)(((b[4 + ib / 2] >> (4 * (ib % 2))) & 15) | ((sh >> (2 * ib)) & 3) << 4);
        const float dl = ld16(b) * (float)(ls - 32);
#pragma unroll
        for (int t = 0; t < 8; t++) v[t] = dl * (float)iq4nl(nib(b + 8 + ib * 16, jj0 + t));
    } else if (mlxc_qf_qi_type(F) != 0) {
        /* the code-book, ternary and NVFP4 blocks: the format layer's decoder */
        mlxc_qi_deq8(mlxc_qf_qi_type(F), b, j0, v);
    }
}

template <typename X> __device__ __forceinline__ float ldx(const X *x, uint64_t i);
template <> __device__ __forceinline__ float ldx<float>(const float *x, uint64_t i) { return __ldg(x + i); }
template <> __device__ __forceinline__ float ldx<uint16_t>(const uint16_t *x, uint64_t i) { return bf16(__ldg(x + i)); }
template <typename Y> __device__ __forceinline__ void sty(Y *y, uint64_t i, float v);
template <> __device__ __forceinline__ void sty<float>(float *y, uint64_t i, float v) { y[i] = v; }
template <> __device__ __forceinline__ void sty<uint16_t>(uint16_t *y, uint64_t i, float v) {
    y[i] = __bfloat16_as_ushort(__float2bfloat16_rn(v));
}

/* y[i] as f32, and v rounded as sty would store it (for the residual add). */
__device__ __forceinline__ float ldy(const float *y, uint64_t i) { return y[i]; }
__device__ __forceinline__ float ldy(const uint16_t *y, uint64_t i) { return bf16(y[i]); }
__device__ __forceinline__ float rnd(const float *, float v) { return v; }
__device__ __forceinline__ float rnd(const uint16_t *, float v) {
    return bf16(__bfloat16_as_ushort(__float2bfloat16_rn(v)));
}

/* x[i .. i + 7] as f32; `vec`: x is 16-byte aligned (i is a multiple of 8,
 * so the runs are too). */
__device__ __forceinline__ void ld8(const float *__restrict__ x, uint64_t i, bool vec, float o[8]) {
    if (vec) {
        const float4 a = __ldg((const float4 *)(x + i)), b = __ldg((const float4 *)(x + i) + 1);
        o[0] = a.x, o[1] = a.y, o[2] = a.z, o[3] = a.w, o[4] = b.x, o[5] = b.y, o[6] = b.z, o[7] = b.w;
    } else {
#pragma unroll
        for (int t = 0; t < 8; t++) o[t] = __ldg(x + i + t);
    }
}
__device__ __forceinline__ void ld8(const uint16_t *__restrict__ x, uint64_t i, bool vec, float o[8]) {
    if (vec) {
        const uint4 a = __ldg((const uint4 *)(x + i));
        const uint32_t u[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
        for (int t = 0; t < 4; t++) o[2 * t] = __uint_as_float(u[t] << 16), o[2 * t + 1] = __uint_as_float(u[t] & 0xffff0000u);
    } else {
#pragma unroll
        for (int t = 0; t < 8; t++) o[t] = bf16(__ldg(x + i + t));
    }
}

/* acc[i] += v . x[i, e .. e + 7] for the M rows; vec as ld8 (k is a
 * multiple of 8: every group and block is). */
template <int M, typename X>
__device__ __forceinline__ void fma8(const X *__restrict__ x, uint32_t m, uint32_t k, uint32_t e, bool vec,
                                     const float v[8], float acc[M]) {
#pragma unroll
    for (int i = 0; i < M; i++) {
        if (i < (int)m) {
            float xv[8], s = 0.0f;
            ld8(x, (uint64_t)i * k + e, vec, xv);
#pragma unroll
            for (int t = 0; t < 8; t++) s = fmaf(v[t], xv[t], s);
            acc[i] += s;
        }
    }
}

/* ---------------------------------------------------------------------------
 * Tensor-core mat-vec (m <= 8) for the formats most models ship in: MLX
 * affine 4 and 8 bits, GGML Q4_0, Q4_1, Q8_0, Q4_K and Q6_K.
 *
 * One mma.m16n8k16 (bf16 in, f32 accumulate) multiplies the x rows (the A
 * operand: row i = token i, rows 8..15 zero) by 8 weight rows (the B
 * operand).  Thread (g, t) = (lane / 4, lane % 4) supplies the k slots
 * {2t, 2t+1, 2t+8, 2t+9} of token g and of weight row g, and receives
 * C[token g][weight rows 2t, 2t+1].  Which physical k each slot stands for
 * is free as long as x and W agree, so each thread takes the values its
 * own 32-bit load of packed codes holds.  The codes become bf16 exactly:
 * a byte c < 128 under 0x43 is the bf16 128 + c (__byte_perm), and one
 * bf16x2 FMA subtracts the offset.  Every mma's 16 values lie inside one
 * scale group, so the scales (and the affine bias times the x sum, which a
 * second mma against ones gives) are applied in f32 after the mma: the
 * products are exact and the sums are f32, as in the CPU reference.  An f32
 * x is split into a bf16 high part and a bf16 low part (two mmas).
 *
 * A block owns QTC_ROWS weight rows; its warps split k into chunks
 * (interleaved, so the warps of a block read neighbouring bytes) and add
 * their partial sums through shared memory in a fixed order.
 * ------------------------------------------------------------------------- */
#define QTC_RT   2              /* 8-row tiles per block                   */
#define QTC_ROWS (8 * QTC_RT)   /* weight rows per block                   */
#define QTC_MAXW 32             /* warps per block at most                 */
#define QTC_RED  8              /* warps whose sums one reduction round holds */
#define QTC_WARPS MLXC_QMVT_WARPS /* warps of the shared-memory path           */
static_assert(QTC_ROWS == MLXC_QMVT_ROWS, "the front-end's rows per block");

struct XP { /* one step's A fragment of token g: slots (2t, 2t+1), (2t+8, 2t+9) */
    uint32_t h0, h2, l0, l2;
};

__device__ __forceinline__ void mma16(float c[4], uint32_t a0, uint32_t a2, uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(0u), "r"(a2), "r"(0u), "r"(b0), "r"(b1));
}
/* c += x(step) . W(step); the low part too when x is f32. */
template <typename X> __device__ __forceinline__ void mmax(float c[4], const XP &a, uint32_t b0, uint32_t b1) {
    mma16(c, a.h0, a.h2, b0, b1);
    if (sizeof(X) == 4) mma16(c, a.l0, a.l2, b0, b1);
}
/* bf16x2 a * 1 + nb: subtracts the code offset exactly. */
__device__ __forceinline__ uint32_t bsub(uint32_t a, uint32_t nb) {
    uint32_t r;
    asm("fma.rn.bf16x2 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(0x3f803f80u), "r"(nb));
    return r;
}
/* bf16 -128, -136 (-(128 + 8)) and -160 (-(128 + 32)), paired. */
#define QTC_N128 0xc300c300u
#define QTC_N136 0xc308c308u
#define QTC_N160 0xc320c320u
/* Bytes 0, 1 and 2, 3 of q (each < 128) as bf16 pairs, minus the offset. */
__device__ __forceinline__ void codes(uint32_t q, uint32_t nb, uint32_t &b0, uint32_t &b1) {
    b0 = bsub(__byte_perm(q, 0x43434343u, 0x4140), nb);
    b1 = bsub(__byte_perm(q, 0x43434343u, 0x4342), nb);
}

/* f32 pairs as bf16x2 high and low parts (a in the low half). */
__device__ __forceinline__ void split2(float a, float b, uint32_t &h, uint32_t &l) {
    const __nv_bfloat162 hh = __floats2bfloat162_rn(a, b);
    const __nv_bfloat162 ll = __floats2bfloat162_rn(a - __low2float(hh), b - __high2float(hh));
    h = *(const uint32_t *)&hh;
    l = *(const uint32_t *)&ll;
}
/* x[i .. i + 3] of one token in natural pairs (x0, x1), (x2, x3); zeros
 * for a token beyond m (xr NULL).  i is a multiple of 4. */
__device__ __forceinline__ void xnat(const uint16_t *xr, bool xv, uint32_t i, XP &a) {
    const uint2 u = *(const uint2 *)(xr + i);
    a.l0 = a.l2 = 0;
    a.h0 = xv ? u.x : 0u, a.h2 = xv ? u.y : 0u;
}
__device__ __forceinline__ void xnat(const float *xr, bool xv, uint32_t i, XP &a) {
    const float4 u = *(const float4 *)(xr + i);
    split2(xv ? u.x : 0.0f, xv ? u.y : 0.0f, a.h0, a.l0);
    split2(xv ? u.z : 0.0f, xv ? u.w : 0.0f, a.h2, a.l2);
}
/* The 8 nibbles of q (nibble i at bits 4i) as bf16 pairs 128 + code:
 * o[j] = (nibble j, nibble j + 4).  One LOP3 a pair: the 128 offset is
 * taken out after the mma through the x sum. */
__device__ __forceinline__ uint32_t lop_nib(uint32_t q) {
    uint32_t r;
    /* (q & 0x000f000f) | 0x43004300 in one instruction (the second
     * constant in a register: LOP3 takes one immediate) */
    asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(r) : "r"(q), "n"(0x000f000f), "r"(0x43004300u));
    return r;
}
__device__ __forceinline__ void nib8(uint32_t q, uint32_t o[4]) {
    o[0] = lop_nib(q);
    o[1] = lop_nib(q >> 4);
    o[2] = lop_nib(q >> 8);
    o[3] = lop_nib(q >> 12);
}
/* x[i .. i + 3] of one token as (x0, x2), (x1, x3): the pairs nib8 makes
 * of a GGML Q4 word (its bytes hold values j and j + 16).  i % 4 == 0. */
__device__ __forceinline__ void xq4(const uint16_t *xr, bool xv, uint32_t i, XP &a) {
    uint2 u = *(const uint2 *)(xr + i);
    if (!xv) u = make_uint2(0, 0);
    a.l0 = a.l2 = 0;
    a.h0 = __byte_perm(u.x, u.y, 0x5410), a.h2 = __byte_perm(u.x, u.y, 0x7632);
}
__device__ __forceinline__ void xq4(const float *xr, bool xv, uint32_t i, XP &a) {
    float4 u = *(const float4 *)(xr + i);
    if (!xv) u = make_float4(0, 0, 0, 0);
    split2(u.x, u.z, a.h0, a.l0);
    split2(u.y, u.w, a.h2, a.l2);
}
/* x[i .. i + 7] as the pairs nib8 makes of an affine word (value j in
 * nibble j): s0 = (x0, x4), (x2, x6); s1 = (x1, x5), (x3, x7). */
__device__ __forceinline__ void xa4(const uint16_t *xr, bool xv, uint32_t i, XP &s0, XP &s1) {
    s0.l0 = s0.l2 = s1.l0 = s1.l2 = 0;
    uint4 u = *(const uint4 *)(xr + i);
    if (!xv) u = make_uint4(0, 0, 0, 0);
    s0.h0 = __byte_perm(u.x, u.z, 0x5410), s0.h2 = __byte_perm(u.y, u.w, 0x5410);
    s1.h0 = __byte_perm(u.x, u.z, 0x7632), s1.h2 = __byte_perm(u.y, u.w, 0x7632);
}
__device__ __forceinline__ void xa4(const float *xr, bool xv, uint32_t i, XP &s0, XP &s1) {
    float4 u = *(const float4 *)(xr + i), v = *((const float4 *)(xr + i) + 1);
    if (!xv) u = v = make_float4(0, 0, 0, 0);
    split2(u.x, v.x, s0.h0, s0.l0);
    split2(u.z, v.z, s0.h2, s0.l2);
    split2(u.y, v.y, s1.h0, s1.l0);
    split2(u.w, v.w, s1.h2, s1.l2);
}
/* c += sum of the step's x (against a B of ones). */
template <typename X> __device__ __forceinline__ void xsum(float c[4], const XP &a) {
    mmax<X>(c, a, 0x3f803f80u, 0x3f803f80u);
}
/* 4 bytes at p: one load when 4-aligned, else two 2-byte loads. */
template <bool W4 = false> __device__ __forceinline__ uint32_t ld32(const uint8_t *p) {
    if (W4) return *(const uint32_t *)p;
    const uint16_t *h = (const uint16_t *)p;
    return (uint32_t)h[0] | (uint32_t)h[1] << 16;
}
__device__ __forceinline__ float ldh(const uint8_t *p) { return f16(*(const uint16_t *)p); }
template <int SD> __device__ __forceinline__ float scale_t(const void *s, uint64_t i) {
    if (SD == MLXC_QS_F32) return ((const float *)s)[i];
    const uint16_t h = ((const uint16_t *)s)[i];
    return SD == MLXC_QS_F16 ? f16(h) : bf16(h);
}

/* Where thread (g, t)'s bytes are: its code row g, its output rows a = 2t
 * and b = 2t + 1 (GGML block headers), and the affine scales and biases
 * of rows a and b, each at the first chunk the caller counts from. */
struct Rows {
    const uint8_t *g, *a, *b;
    const void *sa, *sb, *ba, *bb;
    uint32_t group;
};

/* Per format: VALS values of a row per chunk; load() reads thread t's
 * codes of row g and the scales of its output rows a = 2t, b = 2t + 1;
 * run() multiplies and adds into acc[2] (rows a, b of token g). */
template <int F, int B> struct QT;

template <> struct QT<MLXC_QMMF_AFFINE, 4> {
    static constexpr uint32_t VALS = 32, U = 2;
    struct Xc { XP s0, s1; };
    struct Wc { uint32_t q; float s[2], b[2]; };
    template <typename X> __device__ static void xload(const X *xr, bool xv, uint32_t c, uint32_t t, Xc &x) {
        xa4(xr, xv, c * 32 + t * 8, x.s0, x.s1);
    }
    template <int SD, bool W4>
    __device__ static void load(const Rows &R, uint32_t c, uint32_t t, Wc &o) {
        o.q = *(const uint32_t *)(R.g + c * 16 + t * 4);
        const uint32_t gi = c * 32 / R.group;
        o.s[0] = scale_t<SD>(R.sa, gi), o.s[1] = scale_t<SD>(R.sb, gi);
        o.b[0] = scale_t<SD>(R.ba, gi), o.b[1] = scale_t<SD>(R.bb, gi);
    }
    template <typename X> __device__ static void run(const Xc &x, const float xs, const Wc &o, float acc[2]) {
        uint32_t b[4];
        float cc[4] = {0, 0, 0, 0};
        nib8(o.q, b);
        mmax<X>(cc, x.s0, b[0], b[2]);
        mmax<X>(cc, x.s1, b[1], b[3]);
        /* cc holds sum x (128 + q) */
        acc[0] += o.s[0] * (cc[0] - 128.0f * xs) + o.b[0] * xs;
        acc[1] += o.s[1] * (cc[1] - 128.0f * xs) + o.b[1] * xs;
    }
    template <typename X> __device__ static float xsum_of(const Xc &x) {
        float c[4] = {0, 0, 0, 0};
        xsum<X>(c, x.s0);
        xsum<X>(c, x.s1);
        return c[0];
    }
};

template <> struct QT<MLXC_QMMF_AFFINE, 8> {
    static constexpr uint32_t VALS = 16, U = 2;
    struct Xc { XP s; };
    struct Wc { uint32_t q; float s[2], b[2]; };
    template <typename X> __device__ static void xload(const X *xr, bool xv, uint32_t c, uint32_t t, Xc &x) {
        xnat(xr, xv, c * 16 + t * 4, x.s);
    }
    template <int SD, bool W4>
    __device__ static void load(const Rows &R, uint32_t c, uint32_t t, Wc &o) {
        o.q = *(const uint32_t *)(R.g + c * 16 + t * 4);
        const uint32_t gi = c * 16 / R.group;
        o.s[0] = scale_t<SD>(R.sa, gi), o.s[1] = scale_t<SD>(R.sb, gi);
        o.b[0] = scale_t<SD>(R.ba, gi), o.b[1] = scale_t<SD>(R.bb, gi);
    }
    template <typename X> __device__ static void run(const Xc &x, const float xs, const Wc &o, float acc[2]) {
        uint32_t b0, b1;
        float lo[4] = {0, 0, 0, 0}, hi[4] = {0, 0, 0, 0};
        codes(o.q & 0x0f0f0f0fu, QTC_N128, b0, b1);
        mmax<X>(lo, x.s, b0, b1);
        codes((o.q >> 4) & 0x0f0f0f0fu, QTC_N128, b0, b1);
        mmax<X>(hi, x.s, b0, b1);
        acc[0] += o.s[0] * (16.0f * hi[0] + lo[0]) + o.b[0] * xs;
        acc[1] += o.s[1] * (16.0f * hi[1] + lo[1]) + o.b[1] * xs;
    }
    template <typename X> __device__ static float xsum_of(const Xc &x) {
        float c[4] = {0, 0, 0, 0};
        xsum<X>(c, x.s);
        return c[0];
    }
};

/* Q4_0 (d, qs[16]) and Q4_1 (d, m, qs[16]): thread t holds bytes 4t..4t+3
 * of qs: values 4t.. (low nibbles) and 16 + 4t.. (high nibbles). */
template <int F> struct QT_q4 {
    static constexpr bool ONE = F == MLXC_QMMF_Q4_1;
    static constexpr uint32_t VALS = 32, U = 2, BB = ONE ? 20 : 18;
    struct Xc { XP lo, hi; };
    struct Wc { uint32_t q; float d[2], m[2]; };
    template <typename X> __device__ static void xload(const X *xr, bool xv, uint32_t c, uint32_t t, Xc &x) {
        xq4(xr, xv, c * 32 + t * 4, x.lo);
        xq4(xr, xv, c * 32 + 16 + t * 4, x.hi);
    }
    template <int SD, bool W4>
    __device__ static void load(const Rows &R, uint32_t c, uint32_t t, Wc &o) {
        o.q = ld32<ONE && W4>(R.g + c * BB + (ONE ? 4 : 2) + t * 4);
#pragma unroll
        for (int j = 0; j < 2; j++) {
            const uint8_t *b = (j ? R.b : R.a) + c * BB;
            o.d[j] = ldh(b);
            o.m[j] = ONE ? ldh(b + 2) : 0.0f;
        }
    }
    template <typename X> __device__ static void run(const Xc &x, const float xs, const Wc &o, float acc[2]) {
        /* Byte j holds values j (low nibble) and j + 16 (high): nib8's
         * even pairs are low nibbles of bytes (0, 2) and (1, 3). */
        uint32_t b[4];
        float cc[4] = {0, 0, 0, 0};
        nib8(o.q, b);
        mmax<X>(cc, x.lo, b[0], b[2]);
        mmax<X>(cc, x.hi, b[1], b[3]);
        /* cc holds sum x (128 + q); Q4_0's code offset is 8 more */
        constexpr float OFF = ONE ? 128.0f : 136.0f;
        acc[0] += o.d[0] * (cc[0] - OFF * xs) + (ONE ? o.m[0] * xs : 0.0f);
        acc[1] += o.d[1] * (cc[1] - OFF * xs) + (ONE ? o.m[1] * xs : 0.0f);
    }
    template <typename X> __device__ static float xsum_of(const Xc &x) {
        float c[4] = {0, 0, 0, 0};
        xsum<X>(c, x.lo);
        xsum<X>(c, x.hi);
        return c[0];
    }
};
template <> struct QT<MLXC_QMMF_Q4_0, 0> : QT_q4<MLXC_QMMF_Q4_0> {};
template <> struct QT<MLXC_QMMF_Q4_1, 0> : QT_q4<MLXC_QMMF_Q4_1> {};

/* Q8_0 (d, qs[32] int8): thread t holds values 8t .. 8t + 7.  A signed
 * byte v is (v ^ 0x80) - 128 = 16 (hi - 8) + lo with hi, lo its nibbles. */
template <> struct QT<MLXC_QMMF_Q8_0, 0> {
    static constexpr uint32_t VALS = 32, U = 1;
    struct Xc { XP s[2]; };
    struct Wc { uint32_t q[2]; float d[2]; };
    template <typename X> __device__ static void xload(const X *xr, bool xv, uint32_t c, uint32_t t, Xc &x) {
        xnat(xr, xv, c * 32 + t * 8, x.s[0]);
        xnat(xr, xv, c * 32 + t * 8 + 4, x.s[1]);
    }
    template <int SD, bool W4>
    __device__ static void load(const Rows &R, uint32_t c, uint32_t t, Wc &o) {
        o.q[0] = ld32(R.g + c * 34 + 2 + t * 8);
        o.q[1] = ld32(R.g + c * 34 + 6 + t * 8);
        o.d[0] = ldh(R.a + c * 34), o.d[1] = ldh(R.b + c * 34);
    }
    template <typename X> __device__ static void run(const Xc &x, const float, const Wc &o, float acc[2]) {
        uint32_t b0, b1;
        float lo[4] = {0, 0, 0, 0}, hi[4] = {0, 0, 0, 0};
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const uint32_t u = o.q[i] ^ 0x80808080u;
            codes(u & 0x0f0f0f0fu, QTC_N128, b0, b1);
            mmax<X>(lo, x.s[i], b0, b1);
            codes((u >> 4) & 0x0f0f0f0fu, QTC_N136, b0, b1);
            mmax<X>(hi, x.s[i], b0, b1);
        }
        acc[0] += o.d[0] * (16.0f * hi[0] + lo[0]);
        acc[1] += o.d[1] * (16.0f * hi[1] + lo[1]);
    }
    template <typename X> __device__ static float xsum_of(const Xc &) { return 0.0f; }
};

/* Q4_K (d, dmin, scales[12], qs[128] per 256 values): a chunk is 64
 * values, qs bytes 32j .. 32j + 31 of super-block c / 4 (j = c % 4): low
 * nibbles are sub-block 2j, high nibbles 2j + 1.  Thread t holds bytes
 * 8t .. 8t + 7 of them. */
__device__ __forceinline__ uint32_t byte_of(const uint32_t s[3], uint32_t i) {
    const uint32_t v = i < 4 ? s[0] : i < 8 ? s[1] : s[2];
    return (v >> (8 * (i % 4))) & 255;
}
/* d * scale and dmin * min of sub-blocks 2j and 2j + 1 of the Q4_K / Q5_K
 * super-block at b (d, dmin, then the 12 bytes of 6-bit scales and mins). */
template <bool W4> __device__ __forceinline__ void k4_scales(const uint8_t *b, uint32_t j, float s2[2], float m2[2]) {
    const uint32_t dd = ld32<W4>(b), s[3] = {ld32<W4>(b + 4), ld32<W4>(b + 8), ld32<W4>(b + 12)};
    const float d = f16((uint16_t)dd), dmin = f16((uint16_t)(dd >> 16));
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const uint32_t sub = 2 * j + h;
        uint32_t sc, mn;
        if (sub < 4) sc = byte_of(s, sub) & 63, mn = byte_of(s, sub + 4) & 63;
        else
            sc = (byte_of(s, sub + 4) & 15) | (byte_of(s, sub - 4) >> 6) << 4,
            mn = (byte_of(s, sub + 4) >> 4) | (byte_of(s, sub) >> 6) << 4;
        s2[h] = d * (float)sc;
        m2[h] = dmin * (float)mn;
    }
}
/* Rows a, b (acc[0], acc[1]) of one Q4_K / Q5_K chunk: the codes of
 * sub-blocks 2j (lo) and 2j + 1 (hi) against x, each scaled, less the
 * mins times the sub-blocks' x sums xsl, xsh. */
template <typename X>
__device__ __forceinline__ void k4_run2(const XP xlo[2], const XP xhi[2], float xsl, float xsh, const uint32_t qlo[2],
                                        const uint32_t qhi[2], const float s[2][2], const float m[2][2], float acc[2]) {
    uint32_t b0, b1;
    float lo[4] = {0, 0, 0, 0}, hi[4] = {0, 0, 0, 0};
#pragma unroll
    for (int i = 0; i < 2; i++) {
        codes(qlo[i], QTC_N128, b0, b1);
        mmax<X>(lo, xlo[i], b0, b1);
        codes(qhi[i], QTC_N128, b0, b1);
        mmax<X>(hi, xhi[i], b0, b1);
    }
#pragma unroll
    for (int r = 0; r < 2; r++) acc[r] += s[r][0] * lo[r] - m[r][0] * xsl + s[r][1] * hi[r] - m[r][1] * xsh;
}
template <> struct QT<MLXC_QMMF_Q4_K, 0> {
    static constexpr uint32_t VALS = 64, U = 1;
    struct Xc { XP lo[2], hi[2]; };
    struct Wc { uint32_t q[2]; float s[2][2], m[2][2]; };
    template <typename X> __device__ static void xload(const X *xr, bool xv, uint32_t c, uint32_t t, Xc &x) {
#pragma unroll
        for (int i = 0; i < 2; i++) {
            xnat(xr, xv, c * 64 + t * 8 + i * 4, x.lo[i]);
            xnat(xr, xv, c * 64 + 32 + t * 8 + i * 4, x.hi[i]);
        }
    }
    template <int SD, bool W4>
    __device__ static void load(const Rows &R, uint32_t c, uint32_t t, Wc &o) {
        const uint32_t sb = c / 4, j = c % 4;
#pragma unroll
        for (int i = 0; i < 2; i++) o.q[i] = ld32<W4>(R.g + sb * 144 + 16 + j * 32 + t * 8 + i * 4);
#pragma unroll
        for (int r = 0; r < 2; r++) k4_scales<W4>((r ? R.b : R.a) + sb * 144, j, o.s[r], o.m[r]);
    }
    /* The two sub-blocks' x sums come in packed: xs holds sub-block 2j in
     * xsl and 2j + 1 in xsh (see xsum2). */
    template <typename X> __device__ static void run2(const Xc &x, float xsl, float xsh, const Wc &o, float acc[2]) {
        const uint32_t lo[2] = {o.q[0] & 0x0f0f0f0fu, o.q[1] & 0x0f0f0f0fu};
        const uint32_t hi[2] = {(o.q[0] >> 4) & 0x0f0f0f0fu, (o.q[1] >> 4) & 0x0f0f0f0fu};
        k4_run2<X>(x.lo, x.hi, xsl, xsh, lo, hi, o.s, o.m, acc);
    }
    template <typename X> __device__ static void xsum2(const Xc &x, float &xsl, float &xsh) {
        float a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0};
        xsum<X>(a, x.lo[0]);
        xsum<X>(a, x.lo[1]);
        xsum<X>(b, x.hi[0]);
        xsum<X>(b, x.hi[1]);
        xsl = a[0], xsh = b[0];
    }
};

/* Q5_K (d, dmin, scales[12], qh[32], qs[128]): Q4_K's walk with a fifth
 * bit: value l of sub-block 2j (low nibble of qs[32j + l]) takes bit 2j of
 * qh[l], of sub-block 2j + 1 (high nibble) bit 2j + 1.  Thread t's 8 code
 * bytes (l = 8t .. 8t + 7) become two words of 5-bit codes per sub-block. */
template <> struct QT<MLXC_QMMF_Q5_K, 0> {
    using K4 = QT<MLXC_QMMF_Q4_K, 0>;
    static constexpr uint32_t VALS = 64, U = 1;
    using Xc = K4::Xc;
    struct Wc { uint32_t lo[2], hi[2]; float s[2][2], m[2][2]; };
    template <typename X> __device__ static void xload(const X *xr, bool xv, uint32_t c, uint32_t t, Xc &x) {
        K4::xload<X>(xr, xv, c, t, x);
    }
    template <int SD, bool W4>
    __device__ static void load(const Rows &R, uint32_t c, uint32_t t, Wc &o) {
        const uint32_t sb = c / 4, j = c % 4;
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const uint32_t q = ld32<W4>(R.g + sb * 176 + 48 + j * 32 + t * 8 + i * 4);
            const uint32_t h = ld32<W4>(R.g + sb * 176 + 16 + t * 8 + i * 4);
            o.lo[i] = (q & 0x0f0f0f0fu) | ((h >> (2 * j)) & 0x01010101u) << 4;
            o.hi[i] = ((q >> 4) & 0x0f0f0f0fu) | ((h >> (2 * j + 1)) & 0x01010101u) << 4;
        }
#pragma unroll
        for (int r = 0; r < 2; r++) k4_scales<W4>((r ? R.b : R.a) + sb * 176, j, o.s[r], o.m[r]);
    }
    template <typename X> __device__ static void run2(const Xc &x, float xsl, float xsh, const Wc &o, float acc[2]) {
        k4_run2<X>(x.lo, x.hi, xsl, xsh, o.lo, o.hi, o.s, o.m, acc);
    }
    template <typename X> __device__ static void xsum2(const Xc &x, float &xsl, float &xsh) {
        K4::xsum2<X>(x, xsl, xsh);
    }
};

/* Q6_K (ql[128], qh[64], scales[16] int8, d per 256 values): a chunk is
 * one half h (128 values).  Value h*128 + 32 qu + l (l < 32) is the nibble
 * of ql[64h + l + 32 (qu & 1)] (high for qu >= 2) with bits 2qu of
 * qh[32h + l] above it, minus 32, times scales[8h + 2qu + l / 16].  Thread
 * t holds l = 16 l16 + 4t .. + 3 for l16 = 0, 1: each (l16, qu) step is
 * one 16-value sub-block. */
template <> struct QT<MLXC_QMMF_Q6_K, 0> {
    static constexpr uint32_t VALS = 128, U = 1;
    struct Xc { XP s[2][4]; };
    struct Wc { uint32_t a[2], b[2], h[2]; float s[2][8]; };
    template <typename X> __device__ static void xload(const X *xr, bool xv, uint32_t c, uint32_t t, Xc &x) {
#pragma unroll
        for (int l16 = 0; l16 < 2; l16++)
#pragma unroll
            for (int qu = 0; qu < 4; qu++) xnat(xr, xv, c * 128 + qu * 32 + l16 * 16 + t * 4, x.s[l16][qu]);
    }
    template <int SD, bool W4>
    __device__ static void load(const Rows &R, uint32_t c, uint32_t t, Wc &o) {
        const uint8_t *b = R.g + (c / 2) * 210;
        const uint32_t h = c % 2;
#pragma unroll
        for (int l16 = 0; l16 < 2; l16++) {
            const uint32_t l = l16 * 16 + t * 4;
            o.a[l16] = ld32(b + h * 64 + l);
            o.b[l16] = ld32(b + h * 64 + 32 + l);
            o.h[l16] = ld32(b + 128 + h * 32 + l);
        }
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const uint8_t *br = (r ? R.b : R.a) + (c / 2) * 210;
            const float d = ldh(br + 208);
            const uint32_t s01 = ld32(br + 192 + h * 8), s23 = ld32(br + 196 + h * 8);
#pragma unroll
            for (int i = 0; i < 8; i++) o.s[r][i] = d * (float)(int8_t)(((i < 4 ? s01 : s23) >> (8 * (i % 4))) & 255);
        }
    }
    template <typename X> __device__ static void run(const Xc &x, const float, const Wc &o, float acc[2]) {
#pragma unroll
        for (int l16 = 0; l16 < 2; l16++) {
            const uint32_t a = o.a[l16], bq = o.b[l16], h = o.h[l16];
            const uint32_t q[4] = {(a & 0x0f0f0f0fu) | ((h << 4) & 0x30303030u),
                                   (bq & 0x0f0f0f0fu) | ((h << 2) & 0x30303030u),
                                   ((a >> 4) & 0x0f0f0f0fu) | (h & 0x30303030u),
                                   ((bq >> 4) & 0x0f0f0f0fu) | ((h >> 2) & 0x30303030u)};
#pragma unroll
            for (int qu = 0; qu < 4; qu++) {
                uint32_t b0, b1;
                float cc[4] = {0, 0, 0, 0};
                codes(q[qu], QTC_N160, b0, b1);
                mmax<X>(cc, x.s[l16][qu], b0, b1);
                acc[0] += o.s[0][2 * qu + l16] * cc[0];
                acc[1] += o.s[1][2 * qu + l16] * cc[1];
            }
        }
    }
    template <typename X> __device__ static float xsum_of(const Xc &) { return 0.0f; }
};

/* Adapters: every format as run(x, sums, w, acc) with its own sums. */
template <int F, int B> struct QTS {
    struct S { float a; };
    template <typename X> __device__ static void sums(const typename QT<F, B>::Xc &x, S &s) { s.a = QT<F, B>::template xsum_of<X>(x); }
    template <typename X>
    __device__ static void run(const typename QT<F, B>::Xc &x, const S &s, const typename QT<F, B>::Wc &o, float acc[2]) {
        QT<F, B>::template run<X>(x, s.a, o, acc);
    }
};
/* Q4_K and Q5_K: two sub-blocks a chunk, each with its own x sum. */
template <int F> struct QTS2 {
    using Q = QT<F, 0>;
    struct S { float l, h; };
    template <typename X> __device__ static void sums(const typename Q::Xc &x, S &s) { Q::template xsum2<X>(x, s.l, s.h); }
    template <typename X>
    __device__ static void run(const typename Q::Xc &x, const S &s, const typename Q::Wc &o, float acc[2]) {
        Q::template run2<X>(x, s.l, s.h, o, acc);
    }
};
template <> struct QTS<MLXC_QMMF_Q4_K, 0> : QTS2<MLXC_QMMF_Q4_K> {};
template <> struct QTS<MLXC_QMMF_Q5_K, 0> : QTS2<MLXC_QMMF_Q5_K> {};

template <int F, int B> struct has_qt { static constexpr bool v = false; };
template <> struct has_qt<MLXC_QMMF_AFFINE, 4> { static constexpr bool v = true; };
template <> struct has_qt<MLXC_QMMF_AFFINE, 8> { static constexpr bool v = true; };
template <> struct has_qt<MLXC_QMMF_Q4_0, 0> { static constexpr bool v = true; };
template <> struct has_qt<MLXC_QMMF_Q4_1, 0> { static constexpr bool v = true; };
template <> struct has_qt<MLXC_QMMF_Q8_0, 0> { static constexpr bool v = true; };
template <> struct has_qt<MLXC_QMMF_Q4_K, 0> { static constexpr bool v = true; };
template <> struct has_qt<MLXC_QMMF_Q5_K, 0> { static constexpr bool v = true; };
template <> struct has_qt<MLXC_QMMF_Q6_K, 0> { static constexpr bool v = true; };

/* Thread t's codes and fold scales of UU chunks, and the x of token g for
 * them: chunk cb + u * step of the rows R (byte position) is chunk
 * cx + u * step of k (x position). */
template <int F, int B, int UU, int SD, bool W4, typename X> struct QTChunks {
    typename QT<F, B>::Xc x[UU];
    typename QT<F, B>::Wc w[UU][QTC_RT];
    __device__ __forceinline__ void load(const X *xr, bool xv, const Rows R[QTC_RT], uint32_t cb, uint32_t cx,
                                         uint32_t step, uint32_t t) {
#pragma unroll
        for (int u = 0; u < UU; u++) {
            QT<F, B>::xload(xr, xv, cx + u * step, t, x[u]);
#pragma unroll
            for (int r = 0; r < QTC_RT; r++) QT<F, B>::template load<SD, W4>(R[r], cb + u * step, t, w[u][r]);
        }
    }
    __device__ __forceinline__ void run(float acc[QTC_RT][2]) const {
        using S = QTS<F, B>;
#pragma unroll
        for (int u = 0; u < UU; u++) {
            typename S::S s;
            S::template sums<X>(x[u], s);
#pragma unroll
            for (int r = 0; r < QTC_RT; r++) S::template run<X>(x[u], s, w[u][r], acc[r]);
        }
    }
};

/* Chunks wid, wid + nw, ... below nch (bytes from cb0, x from cx0), U at a
 * time, into acc. */
template <int F, int B, int SD, bool W4, int U, typename X>
__device__ __forceinline__ void qtc_walk(const X *xr, bool xv, const Rows R[QTC_RT], uint32_t cb0, uint32_t cx0,
                                         uint32_t nch, uint32_t wid, uint32_t nw, uint32_t t,
                                         float acc[QTC_RT][2]) {
    uint32_t c = wid;
    for (; c + (U - 1) * nw < nch; c += U * nw) {
        QTChunks<F, B, U, SD, W4, X> q;
        q.load(xr, xv, R, cb0 + c, cx0 + c, nw, t);
        q.run(acc);
    }
    for (; c < nch; c += nw) {
        QTChunks<F, B, 1, SD, W4, X> q;
        q.load(xr, xv, R, cb0 + c, cx0 + c, nw, t);
        q.run(acc);
    }
}

/* The warps' partial sums of the tile added in warp order, stored: up to
 * QTC_RED warps a round through `red`, the running sums in `tot`. */
struct QtcRed {
    float red[QTC_RED][QTC_ROWS][8];
    float tot[QTC_ROWS * 8];
};
template <bool A = false, bool ADD = false, typename Y>
__device__ __forceinline__ void qtc_store(QtcRed &R, const float acc[QTC_RT][2], Y *y, uint64_t tile, uint32_t n,
                                          uint32_t m, uint32_t g, uint32_t t, uint32_t wid, uint32_t nw) {
    static_assert(QTC_RT == 2, "the A layout's four sums fill acc");
    for (uint32_t base = 0; base < nw; base += QTC_RED) {
        if (wid >= base && wid < base + QTC_RED) {
            if (A) {
                /* rows g, g + 8 by tokens 2t, 2t + 1 */
                R.red[wid - base][g][2 * t] = acc[0][0];
                R.red[wid - base][g][2 * t + 1] = acc[0][1];
                R.red[wid - base][g + 8][2 * t] = acc[1][0];
                R.red[wid - base][g + 8][2 * t + 1] = acc[1][1];
            } else {
#pragma unroll
                for (int r = 0; r < QTC_RT; r++) {
                    R.red[wid - base][r * 8 + 2 * t][g] = acc[r][0];
                    R.red[wid - base][r * 8 + 2 * t + 1][g] = acc[r][1];
                }
            }
        }
        __syncthreads();
        const uint32_t cnt = nw - base < QTC_RED ? nw - base : QTC_RED;
        for (uint32_t o = threadIdx.x; o < QTC_ROWS * 8; o += blockDim.x) {
            float s = base ? R.tot[o] : 0.0f;
            for (uint32_t v = 0; v < cnt; v++) s += R.red[v][o / 8][o % 8];
            R.tot[o] = s;
        }
        __syncthreads();
    }
    for (uint32_t o = threadIdx.x; o < QTC_ROWS * 8; o += blockDim.x) {
        const uint32_t row = o / 8, tok = o % 8;
        if (tok < m && tile + row < n) {
            const uint64_t i = (uint64_t)tok * n + tile + row;
            /* ADD: y + the sum as y's dtype stores it (the residual add) */
            if (ADD) sty(y, i, ldy(y, i) + rnd(y, R.tot[o]));
            else sty(y, i, R.tot[o]);
        }
    }
    __syncthreads();
}

/* Register path: every thread reads its bytes from global memory. */
template <int F, int B, int SD, bool W4, typename X, typename Y>
__device__ __forceinline__ void qmv_tc_reg(const X *__restrict__ x, const uint8_t *__restrict__ w,
                                           const void *__restrict__ sc, const void *__restrict__ bi, Y *__restrict__ y,
                                           const mlxc_p_qmatmul &p, QtcRed &red) {
    const uint32_t lane = threadIdx.x % 32, g = lane / 4, t = lane % 4, wid = threadIdx.x / 32, nw = blockDim.x / 32;
    const uint32_t m = p.m < 8 ? p.m : 8, n = p.n, nch = p.k / QT<F, B>::VALS;
    const uint32_t es = SD == MLXC_QS_F32 ? 4 : 2, gpr = p.group ? p.k / p.group : 0;
    /* Tokens beyond m read token 0's row and use zeros. */
    const bool xv = g < m;
    const X *xr = x + (xv ? (uint64_t)g * p.k : 0);
    for (uint64_t tile = (uint64_t)blockIdx.x * QTC_ROWS; tile < n; tile += (uint64_t)gridDim.x * QTC_ROWS) {
        Rows R[QTC_RT];
#pragma unroll
        for (int r = 0; r < QTC_RT; r++) {
            /* Rows past n read row n - 1 and are never stored. */
            const uint64_t row = tile + r * 8 + g, rowa = tile + r * 8 + 2 * t;
            const uint64_t rg = row < n ? row : n - 1, ra = rowa < n ? rowa : n - 1,
                           rb = rowa + 1 < n ? rowa + 1 : n - 1;
            R[r].g = w + rg * p.row_bytes, R[r].a = w + ra * p.row_bytes, R[r].b = w + rb * p.row_bytes;
            R[r].sa = (const uint8_t *)sc + ra * gpr * es, R[r].sb = (const uint8_t *)sc + rb * gpr * es;
            R[r].ba = (const uint8_t *)bi + ra * gpr * es, R[r].bb = (const uint8_t *)bi + rb * gpr * es;
            R[r].group = p.group;
        }
        float acc[QTC_RT][2] = {};
        qtc_walk<F, B, SD, W4, QT<F, B>::U>(xr, xv, R, 0, 0, nch, wid, nw, t, acc);
        qtc_store(red, acc, y, tile, n, m, g, t, wid, nw);
    }
}

/* ---------------------------------------------------------------------------
 * The 4-bit formats (MLX affine 4, Q4_0, Q4_1) on the shared-memory ring
 * take the weights as the mma's A operand instead: thread (g, t) supplies
 * the codes of rows g and g + 8 (one 32-bit word each, nib8's pairs) and
 * the x of token g as B, and receives C[rows g, g + 8][tokens 2t, 2t + 1].
 * All 16 rows of the block go through each mma (no zero half), and the
 * scales a thread applies are those of the rows it loaded.
 * ------------------------------------------------------------------------- */
template <int F, int B> struct has_qa {
    static constexpr bool v = F == MLXC_QMMF_Q4_0 || F == MLXC_QMMF_Q4_1 || F == MLXC_QMMF_Q4_K || F == MLXC_QMMF_Q8_0 ||
                              (F == MLXC_QMMF_AFFINE && B == 4);
};
/* Values of a row one A-operand chunk covers. */
template <int F> struct qa_vals { static constexpr uint32_t v = F == MLXC_QMMF_Q4_K ? 64 : 32; };

__device__ __forceinline__ void mmaA(float c[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                     uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
template <typename X>
__device__ __forceinline__ void mmaAx(float c[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, const XP &x) {
    mmaA(c, a0, a1, a2, a3, x.h0, x.h2);
    if (sizeof(X) == 4) mmaA(c, a0, a1, a2, a3, x.l0, x.l2);
}

/* One chunk (32 values of rows g and g + 8) of thread t. */
template <int F, int SD> struct QAw {
    uint32_t q[2];
    float s[2], b[2]; /* scale (d) and bias (m; 0 for Q4_0) of rows g, g + 8 */
};
template <int F, int SD, bool A4>
__device__ __forceinline__ void qa_load(const uint8_t *rg, const uint8_t *rh, const uint8_t *sg, const uint8_t *sh,
                                        const uint8_t *bg, const uint8_t *bh, uint32_t gsh, uint32_t c, uint32_t t,
                                        QAw<F, SD> &o) {
    if constexpr (F == MLXC_QMMF_AFFINE) {
        o.q[0] = *(const uint32_t *)(rg + c * 16 + t * 4);
        o.q[1] = *(const uint32_t *)(rh + c * 16 + t * 4);
        const uint32_t gi = (c * 32) >> gsh; /* the group (a power of two: the ring's) */
        o.s[0] = scale_t<SD>(sg, gi), o.s[1] = scale_t<SD>(sh, gi);
        o.b[0] = scale_t<SD>(bg, gi), o.b[1] = scale_t<SD>(bh, gi);
    } else {
        constexpr bool ONE = F == MLXC_QMMF_Q4_1;
        constexpr uint32_t BB = ONE ? 20 : 18;
        const uint8_t *a = rg + c * BB, *b = rh + c * BB;
        o.q[0] = ld32<ONE || A4>(a + (ONE ? 4 : 2) + t * 4);
        o.q[1] = ld32<ONE || A4>(b + (ONE ? 4 : 2) + t * 4);
        o.s[0] = ldh(a), o.s[1] = ldh(b);
        o.b[0] = ONE ? ldh(a + 2) : 0.0f, o.b[1] = ONE ? ldh(b + 2) : 0.0f;
    }
}
/* acc: C[row g][2t], C[row g][2t + 1], C[row g + 8][2t], C[row g + 8][2t + 1]. */
/* The x sums of tokens 2t, 2t + 1 over a chunk's fragments (an A of ones),
 * or the sums the fused prologue made (xq: one token, both columns). */
template <typename X, int N, bool PX>
__device__ __forceinline__ void qa_xsums(const XP *xf, const float *xq, float xs[2]) {
    if constexpr (PX) {
        xs[0] = xs[1] = *xq;
        return;
    }
    float c[4] = {0, 0, 0, 0};
#pragma unroll
    for (int i = 0; i < N; i++) mmaAx<X>(c, 0x3f803f80u, 0x3f803f80u, 0x3f803f80u, 0x3f803f80u, xf[i]);
    xs[0] = c[0], xs[1] = c[1];
}
template <int F, int SD, typename X, bool PX>
__device__ __forceinline__ void qa_run(const typename QT<F, F == MLXC_QMMF_AFFINE ? 4 : 0>::Xc &x, const float *xq,
                                       const QAw<F, SD> &o, float acc[4]) {
    /* x's two fragments: .s0/.s1 (affine) or .lo/.hi (GGML) */
    const XP *xf = (const XP *)&x;
    uint32_t a[4], b[4];
    nib8(o.q[0], a);
    nib8(o.q[1], b);
    float cc[4] = {0, 0, 0, 0}, xs[2];
    mmaAx<X>(cc, a[0], b[0], a[2], b[2], xf[0]);
    mmaAx<X>(cc, a[1], b[1], a[3], b[3], xf[1]);
    qa_xsums<X, 2, PX>(xf, xq, xs);
    /* cc holds sum x (128 + q); Q4_0's code offset is 8 more */
    constexpr float OFF = F == MLXC_QMMF_Q4_0 ? 136.0f : 128.0f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const float v = fmaf(-OFF, xs[i % 2], cc[i]);
        acc[i] = F == MLXC_QMMF_Q4_0 ? fmaf(o.s[i / 2], v, acc[i])
                                     : fmaf(o.s[i / 2], v, fmaf(o.b[i / 2], xs[i % 2], acc[i]));
    }
}
/* Q4_K: a chunk is the sub-block pair (2j, 2j + 1) of super-block c / 4
 * (j = c % 4): thread t holds bytes 8t .. 8t + 7 of the pair's 32 code
 * bytes of rows g and g + 8 (low nibbles: sub-block 2j, high: 2j + 1), and
 * the rows' sub-block scales d * sc and minimums dmin * m. */
struct QAKw {
    uint32_t q[2][2];        /* [row g, g + 8][word]                 */
    float s[2][2], m[2][2];  /* [row][sub-block 2j, 2j + 1]          */
};
__device__ __forceinline__ void qak_load(const uint8_t *rg, const uint8_t *rh, uint32_t c, uint32_t t, QAKw &o) {
    const uint32_t sb = c / 4, j = c % 4, sh = 16 * (j & 1);
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const uint8_t *b = (r ? rh : rg) + sb * 144;
        const uint2 q = *(const uint2 *)(b + 16 + j * 32 + t * 8);
        o.q[r][0] = q.x, o.q[r][1] = q.y;
        const uint4 hd = *(const uint4 *)b; /* d, dmin; the 12 scale bytes */
        const float d = f16((uint16_t)hd.x), dmin = f16((uint16_t)(hd.x >> 16));
        /* The 6-bit scales and minimums of sub-blocks 2j, 2j + 1 as byte
         * pairs, without branches: sub-blocks 0..3 keep them whole in bytes
         * 0..7, sub-blocks 4..7 split them over bytes 8..11 (low 4 bits) and
         * the top 2 bits of bytes 0..7. */
        const uint32_t a = hd.y >> sh, bb = hd.z >> sh, e = hd.w >> sh;
        const uint32_t sc = j < 2 ? a & 0x3f3fu : (e & 0x0f0fu) | ((a >> 2) & 0x3030u);
        const uint32_t mn = j < 2 ? bb & 0x3f3fu : ((e >> 4) & 0x0f0fu) | ((bb >> 2) & 0x3030u);
        o.s[r][0] = d * (float)(sc & 0xff), o.s[r][1] = d * (float)(sc >> 8);
        o.m[r][0] = dmin * (float)(mn & 0xff), o.m[r][1] = dmin * (float)(mn >> 8);
    }
}
/* x of the chunk as nib8's pairs: sub-block 2j in lo, 2j + 1 in hi. */
template <typename X>
__device__ __forceinline__ void qak_xload(const X *xr, bool xv, uint32_t c, uint32_t t,
                                          typename QT<MLXC_QMMF_Q4_K, 0>::Xc &x) {
#pragma unroll
    for (int i = 0; i < 2; i++) {
        xq4(xr, xv, c * 64 + t * 8 + i * 4, x.lo[i]);
        xq4(xr, xv, c * 64 + 32 + t * 8 + i * 4, x.hi[i]);
    }
}
template <typename X, bool PX>
__device__ __forceinline__ void qak_run(const typename QT<MLXC_QMMF_Q4_K, 0>::Xc &x, const float *xq, const QAKw &o,
                                        float acc[4]) {
    float cl[4] = {0, 0, 0, 0}, ch[4] = {0, 0, 0, 0}, xl[2], xh[2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        uint32_t a[4], b[4];
        nib8(o.q[0][i], a);
        nib8(o.q[1][i], b);
        mmaAx<X>(cl, a[0], b[0], a[2], b[2], x.lo[i]);
        mmaAx<X>(ch, a[1], b[1], a[3], b[3], x.hi[i]);
    }
    qa_xsums<X, 2, PX>(x.lo, xq, xl);
    qa_xsums<X, 2, PX>(x.hi, xq + 1, xh);
    /* cl, ch hold sum x (128 + q) of each sub-block */
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int r = i / 2;
        float v = fmaf(o.s[r][0], fmaf(-128.0f, xl[i % 2], cl[i]), acc[i]);
        v = fmaf(o.s[r][1], fmaf(-128.0f, xh[i % 2], ch[i]), v);
        v = fmaf(-o.m[r][0], xl[i % 2], v);
        acc[i] = fmaf(-o.m[r][1], xh[i % 2], v);
    }
}

/* Q8_0: a chunk is one block; thread t holds bytes 4t .. 4t + 3 and
 * 16 + 4t .. 19 + 4t of the codes of rows g and g + 8.  A code q becomes
 * u = q + 128 (flip the sign bit) and u's nibbles go through the mma
 * separately (lo + 16 hi; each 128 + nibble is an exact bf16). */
struct QA8w {
    uint32_t q[2][2]; /* [row g, g + 8][word], sign bits flipped */
    float d[2];
};
template <bool A4>
__device__ __forceinline__ void qa8_load(const uint8_t *rg, const uint8_t *rh, uint32_t c, uint32_t t, QA8w &o) {
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const uint8_t *b = (r ? rh : rg) + c * 34;
        o.q[r][0] = ld32<A4>(b + 2 + t * 4) ^ 0x80808080u;
        o.q[r][1] = ld32<A4>(b + 18 + t * 4) ^ 0x80808080u;
        o.d[r] = ldh(b);
    }
}
template <typename X> __device__ __forceinline__ void qa8_xload(const X *xr, bool xv, uint32_t c, uint32_t t, XP x[2]) {
    xq4(xr, xv, c * 32 + t * 4, x[0]);
    xq4(xr, xv, c * 32 + 16 + t * 4, x[1]);
}
template <typename X, bool PX>
__device__ __forceinline__ void qa8_run(const XP x[2], const float *xq, const QA8w &o, float acc[4]) {
    float lo[4] = {0, 0, 0, 0}, hi[4] = {0, 0, 0, 0}, xs[2];
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const uint32_t a = o.q[0][i], b = o.q[1][i];
        /* bytes (0, 2) and (1, 3) of each word: the x pairs of xq4 */
        mmaAx<X>(lo, lop_nib(a), lop_nib(b), lop_nib(a >> 8), lop_nib(b >> 8), x[i]);
        mmaAx<X>(hi, lop_nib(a >> 4), lop_nib(b >> 4), lop_nib(a >> 12), lop_nib(b >> 12), x[i]);
    }
    qa_xsums<X, 2, PX>(x, xq, xs);
    /* lo + 16 hi = sum x (128 + lo_nibble) + 16 sum x (128 + hi_nibble)
     * = sum x u + 2176 sum x, and u = q + 128 */
#pragma unroll
    for (int i = 0; i < 4; i++) acc[i] = fmaf(o.d[i / 2], fmaf(16.0f, hi[i], fmaf(-2304.0f, xs[i % 2], lo[i])), acc[i]);
}

/* x[i .. i + 3] stored by the fused prologue as (x0, x2, x1, x3): xq4's
 * pairs in one 8-byte load.  i % 4 == 0. */
__device__ __forceinline__ void xq4p(const uint16_t *xr, uint32_t i, XP &a) {
    const uint2 u = *(const uint2 *)(xr + i);
    a.l0 = a.l2 = 0;
    a.h0 = u.x, a.h2 = u.y;
}
/* x[i .. i + 7] stored as (x0, x4, x2, x6, x1, x5, x3, x7): xa4's pairs in
 * one 16-byte load.  i % 8 == 0. */
__device__ __forceinline__ void xa4p(const uint16_t *xr, uint32_t i, XP &s0, XP &s1) {
    const uint4 u = *(const uint4 *)(xr + i);
    s0.l0 = s0.l2 = s1.l0 = s1.l2 = 0;
    s0.h0 = u.x, s0.h2 = u.y, s1.h0 = u.z, s1.h2 = u.w;
}
/* The x of the fused prologue (qvf_prologue) for a format: bf16 in the
 * order that makes each chunk's fragments whole loads, and the sum of
 * every 32 values. */
struct XPre {
    const uint16_t *x;
    const float *sum;
};

/* Per format, what the walk needs: the x fragments of a chunk (Xf), the
 * thread's codes and scales of rows g and g + 8 (W), and how to load and
 * multiply them.  PX: x comes from the fused prologue (XPre), else as
 * stored (xq4, xa4) with its sums from the mma.  A4: the codes of this
 * walk's chunks are 4-byte aligned (GGML blocks of 18 or 34 bytes at an
 * odd chunk). */
template <bool PX, bool A4> struct QA8P {
    const uint8_t *rg, *rh;
    struct Xf {
        XP x[2];
        const float *s;
    };
    using W = QA8w;
    template <typename X> __device__ void xload(const X *xr, bool xv, uint32_t c, uint32_t t, Xf &x) const {
        if constexpr (PX) {
            xq4p((const uint16_t *)xr, c * 32 + t * 4, x.x[0]);
            xq4p((const uint16_t *)xr, c * 32 + 16 + t * 4, x.x[1]);
            x.s = sum + c;
        } else {
            qa8_xload(xr, xv, c, t, x.x);
            x.s = nullptr;
        }
    }
    __device__ void load(uint32_t c, uint32_t t, W &o) const { qa8_load<A4>(rg, rh, c, t, o); }
    template <typename X> __device__ void run(const Xf &x, const W &o, float acc[4]) const {
        qa8_run<X, PX>(x.x, x.s, o, acc);
    }
    const float *sum;
};
template <bool PX> struct QAKP {
    const uint8_t *rg, *rh;
    struct Xf {
        QT<MLXC_QMMF_Q4_K, 0>::Xc x;
        const float *s;
    };
    using W = QAKw;
    template <typename X> __device__ void xload(const X *xr, bool xv, uint32_t c, uint32_t t, Xf &x) const {
        if constexpr (PX) {
#pragma unroll
            for (int i = 0; i < 2; i++) {
                xq4p((const uint16_t *)xr, c * 64 + t * 8 + i * 4, x.x.lo[i]);
                xq4p((const uint16_t *)xr, c * 64 + 32 + t * 8 + i * 4, x.x.hi[i]);
            }
            x.s = sum + 2 * c;
        } else {
            qak_xload(xr, xv, c, t, x.x);
            x.s = nullptr;
        }
    }
    __device__ void load(uint32_t c, uint32_t t, W &o) const { qak_load(rg, rh, c, t, o); }
    template <typename X> __device__ void run(const Xf &x, const W &o, float acc[4]) const {
        qak_run<X, PX>(x.x, x.s, o, acc);
    }
    const float *sum;
};
template <int F, int SD, bool PX, bool A4> struct QA4P {
    const uint8_t *rg, *rh, *sg, *sh, *bg, *bh;
    uint32_t gsh; /* log2 of the affine group */
    const float *sum;
    using Q = QT<F, F == MLXC_QMMF_AFFINE ? 4 : 0>;
    struct Xf {
        typename Q::Xc x;
        const float *s;
    };
    using W = QAw<F, SD>;
    template <typename X> __device__ void xload(const X *xr, bool xv, uint32_t c, uint32_t t, Xf &x) const {
        if constexpr (PX) {
            const XP *f = (const XP *)&x.x;
            if constexpr (F == MLXC_QMMF_AFFINE) xa4p((const uint16_t *)xr, c * 32 + t * 8, (XP &)f[0], (XP &)f[1]);
            else {
                xq4p((const uint16_t *)xr, c * 32 + t * 4, (XP &)f[0]);
                xq4p((const uint16_t *)xr, c * 32 + 16 + t * 4, (XP &)f[1]);
            }
            x.s = sum + c;
        } else {
            Q::xload(xr, xv, c, t, x.x);
            x.s = nullptr;
        }
    }
    __device__ void load(uint32_t c, uint32_t t, W &o) const {
        qa_load<F, SD, A4>(rg, rh, sg, sh, bg, bh, gsh, c, t, o);
    }
    template <typename X> __device__ void run(const Xf &x, const W &o, float acc[4]) const {
        qa_run<F, SD, X, PX>(x.x, x.s, o, acc);
    }
};
/* Chunks wid, wid + nw, ... below nch of one stage, two at a time. */
template <typename X, class P>
__device__ __forceinline__ void qa_walk_p(const P &pol, const X *xr, bool xv, uint32_t nch, uint32_t wid, uint32_t nw,
                                          uint32_t t, float acc[4]) {
    uint32_t c = wid;
    for (; c + nw < nch; c += 2 * nw) {
        typename P::Xf x0, x1;
        typename P::W w0, w1;
        pol.xload(xr, xv, c, t, x0);
        pol.xload(xr, xv, c + nw, t, x1);
        pol.load(c, t, w0);
        pol.load(c + nw, t, w1);
        pol.template run<X>(x0, w0, acc);
        pol.template run<X>(x1, w1, acc);
    }
    for (; c < nch; c += nw) {
        typename P::Xf x0;
        typename P::W w0;
        pol.xload(xr, xv, c, t, x0);
        pol.load(c, t, w0);
        pol.template run<X>(x0, w0, acc);
    }
}
/* xsum: the fused prologue's sums (PX), else null.  nw is even, so every
 * chunk of a warp has its first chunk's (wid's) parity. */
template <int F, int SD, bool PX, typename X>
__device__ __forceinline__ void qa_walk(const X *xr, const float *xsum, bool xv, const uint8_t *rg, const uint8_t *rh,
                                        const uint8_t *sg, const uint8_t *sh, const uint8_t *bg, const uint8_t *bh,
                                        uint32_t group, uint32_t nch, uint32_t wid, uint32_t nw, uint32_t t,
                                        float acc[4]) {
    const bool odd = (wid & 1) && !(nw & 1);
    const uint32_t gsh = group ? 31 - __clz(group) : 0;
    if constexpr (F == MLXC_QMMF_Q8_0) {
        if (odd) qa_walk_p(QA8P<PX, true>{rg, rh, xsum}, xr, xv, nch, wid, nw, t, acc);
        else qa_walk_p(QA8P<PX, false>{rg, rh, xsum}, xr, xv, nch, wid, nw, t, acc);
    } else if constexpr (F == MLXC_QMMF_Q4_K) {
        qa_walk_p(QAKP<PX>{rg, rh, xsum}, xr, xv, nch, wid, nw, t, acc);
    } else if constexpr (F == MLXC_QMMF_Q4_0) {
        if (odd) qa_walk_p(QA4P<F, SD, PX, true>{rg, rh, sg, sh, bg, bh, gsh, xsum}, xr, xv, nch, wid, nw, t, acc);
        else qa_walk_p(QA4P<F, SD, PX, false>{rg, rh, sg, sh, bg, bh, gsh, xsum}, xr, xv, nch, wid, nw, t, acc);
    } else {
        qa_walk_p(QA4P<F, SD, PX, false>{rg, rh, sg, sh, bg, bh, gsh, xsum}, xr, xv, nch, wid, nw, t, acc);
    }
}

/* Shared-memory path: the rows of the block's tiles stream through a ring
 * of P stages of SV values each (16-byte cp.async, no registers held),
 * together with the x values they multiply, so the block keeps P - 1
 * stages of loads in flight while its warps multiply the current one out
 * of shared memory.  The ring runs across the block's tiles (the stages
 * of the next tile load while the last ones of the current tile are
 * multiplied): with a grid of a few blocks per SM it never drains until
 * the end.  Sizes: mlxc_qmvt_ring_of, which this table must match. */
template <int F, int B, bool FZ = false> struct QTStage;
struct QTRows16 { static constexpr uint32_t PAD = 16; static constexpr bool SHIFT = false; };
template <int B, bool FZ> struct QTStage<MLXC_QMMF_AFFINE, B, FZ> : QTRows16 {
    static constexpr uint32_t SV = B == 8 ? 512 : FZ ? MLXC_QMVF_A4_SV : 1024, UNIT = 32, UB = 4 * B,
                              P = B == 4 && FZ ? MLXC_QMVF_A4_STAGES : 4;
};
template <bool FZ> struct QTStage<MLXC_QMMF_Q4_0, 0, FZ> : QTRows16 { static constexpr uint32_t SV = 2048, UNIT = 32, UB = 18, P = MLXC_QMVT_Q4_STAGES; };
/* Q4_1 rows of any whole blocks (SmolLM2's 576 values: 360 bytes), shifted
 * by a multiple of 4 bytes (20-byte blocks), so its 4-byte loads hold */
template <bool FZ> struct QTStage<MLXC_QMMF_Q4_1, 0, FZ> {
    static constexpr uint32_t SV = 2048, UNIT = 32, UB = 20, P = MLXC_QMVT_Q4_STAGES, PAD = 16;
    static constexpr bool SHIFT = true;
};
template <bool FZ> struct QTStage<MLXC_QMMF_Q8_0, 0, FZ> : QTRows16 { static constexpr uint32_t SV = 1024, UNIT = 32, UB = 34, P = 3; };
template <bool FZ> struct QTStage<MLXC_QMMF_Q4_K, 0, FZ> : QTRows16 { static constexpr uint32_t SV = 2048, UNIT = 256, UB = 144, P = 3; };
template <bool FZ> struct QTStage<MLXC_QMMF_Q5_K, 0, FZ> : QTRows16 { static constexpr uint32_t SV = 2048, UNIT = 256, UB = 176, P = 3; };
/* rows of 210-byte blocks, shifted */
template <bool FZ> struct QTStage<MLXC_QMMF_Q6_K, 0, FZ> {
    static constexpr uint32_t SV = 2048, UNIT = 256, UB = 210, P = MLXC_QMVT_Q6K_STAGES, PAD = 32;
    static constexpr bool SHIFT = true;
};
template <int F, int B> struct has_smem { static constexpr bool v = F == MLXC_QMMF_AFFINE || F == MLXC_QMMF_Q4_0 || F == MLXC_QMMF_Q4_1 || F == MLXC_QMMF_Q8_0 || F == MLXC_QMMF_Q4_K || F == MLXC_QMMF_Q5_K || F == MLXC_QMMF_Q6_K; };

__device__ __forceinline__ void cp16(void *dst, const void *src) {
    const uint32_t d = (uint32_t)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(d), "l"(src) : "memory");
}
/* 8 and 4 bytes (the affine scales of rows that are not whole 16-byte units). */
__device__ __forceinline__ void cp8(void *dst, const void *src) {
    const uint32_t d = (uint32_t)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 8;" ::"r"(d), "l"(src) : "memory");
}
__device__ __forceinline__ void cp4(void *dst, const void *src) {
    const uint32_t d = (uint32_t)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(d), "l"(src) : "memory");
}
/* A shifted row's 16-byte unit at src (16-byte aligned) of which it needs
 * the first n (1..16) bytes: the whole unit where it lies inside the
 * weight (the bytes past n belong to the next row or stage and are never
 * read from the slot), else, at the weight's end, only those n bytes and
 * zeros, with plain loads: a cp.async with a source size below 16 reads
 * only that many bytes, but compute-sanitizer reports it as a 16-byte
 * read (measured on the H200), and it happens once a kernel. */
__device__ __forceinline__ void cp16_upto(uint8_t *dst, const uint8_t *src, uint32_t n, const uint8_t *wend) {
    if (src + 16 <= wend) {
        cp16(dst, src);
        return;
    }
#pragma unroll 1
    for (uint32_t i = 0; i < 16; i++) dst[i] = i < n ? __ldg(src + i) : (uint8_t)0;
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_wait() { asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory"); }
__device__ __forceinline__ uint32_t dyn_smem() {
    uint32_t r;
    asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(r));
    return r;
}

/* What both ring walks (qmvt, qmvf) need of a launch: the table above
 * matching the front-end's (mlxc_qmvt_ring_of), a block of QTC_WARPS
 * warps, a weight the ring takes with 16-byte aligned views, and `smem`
 * bytes of dynamic shared memory. */
template <int F, int B, bool FZ = false>
__device__ __forceinline__ bool qring_ok(const uint8_t *w, const void *sc, const void *bi, const mlxc_p_qmatmul &p,
                                         uint32_t smem) {
    using S = QTStage<F, B, FZ>;
    mlxc_qmvt_ring r;
    const uint32_t es = p.sdtype == MLXC_QS_F32 ? 4 : 2;
    if (!mlxc_qmvt_ring_of(F, B, FZ, &r) || r.sv != S::SV || r.unit != S::UNIT || r.ub != S::UB || r.stages != S::P ||
        r.pad != S::PAD || r.shift != (uint32_t)S::SHIFT)
        return false;
    if (blockDim.x != 32 * QTC_WARPS || ((uintptr_t)w & 15) ||
        !mlxc_qmv_ring_takes(F, B, FZ, p.k, p.row_bytes, p.group, es) || dyn_smem() < smem)
        return false;
    return F != MLXC_QMMF_AFFINE || (((uintptr_t)sc | (uintptr_t)bi) & 15) == 0;
}

/* Whether the launch gave qmvt's ring its memory and the views suit
 * 16-byte copies (else the register path runs). */
template <int F, int B, typename X>
__device__ __forceinline__ bool qtc_smem_ok(const X *x, const uint8_t *w, const void *sc, const void *bi,
                                            const mlxc_p_qmatmul &p) {
    if constexpr (!has_smem<F, B>::v) return false;
    else {
        const uint32_t es = p.sdtype == MLXC_QS_F32 ? 4 : 2;
        return qring_ok<F, B>(w, sc, bi, p, mlxc_qmvt_smem_bytes(F, B, p.m, sizeof(X), p.group, es)) &&
               ((uintptr_t)x & 15) == 0 && ((uint64_t)p.k * sizeof(X)) % 16 == 0;
    }
}

/* The fused mat-vec's extras (mlxc_p_qmvf): x' is made once per block in
 * shared memory after the ring (FZ), instead of x riding the ring. */
struct QFuse {
    const uint16_t *aux, *g;
    uint32_t pro, epi;
    float eps;
};

/* x' of the fused mat-vec (bf16, k values) into shared memory: every
 * block makes it whole (k is a few thousand values, read from L2).  The
 * loads are 16 bytes and all issued before any is used (a thread holds up
 * to QVF_R of them), so the prologue costs about one L2 round trip after
 * the wait; x, aux and g are 16-byte aligned and k a multiple of 8
 * (qvf_smem_ok). */
#define QVF_R 4
__device__ __forceinline__ void qvf_bf8(uint4 v, float f[8]) {
    const uint32_t u[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) f[2 * i] = __uint_as_float(u[i] << 16), f[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
}
__device__ __forceinline__ uint4 qvf_pack8(const float f[8]) {
    uint32_t u[4];
#pragma unroll
    for (int i = 0; i < 4; i++)
        u[i] = (uint32_t)__bfloat16_as_ushort(__float2bfloat16_rn(f[2 * i])) |
               (uint32_t)__bfloat16_as_ushort(__float2bfloat16_rn(f[2 * i + 1])) << 16;
    return make_uint4(u[0], u[1], u[2], u[3]);
}
/* The int8 activations of qmvr (MLXC_QMVF_ACT_Q8): the prologue stores
 * x' as int8 (k bytes) and, per 32 values, its scale and the scale times
 * the code sum (float2) after them, both in the 2k bytes x' would take.
 * 8 values (a thread's piece) quantized against the amax of the 4 lanes
 * that hold one 32-value block; lanes past k8 pass zeros.  PLAIN keeps
 * the values' order (8-bit codes; Q4_K, whose code bytes' low nibbles are
 * consecutive values); else the even values' bytes go in the first word and the odd
 * ones' in the second (the order of an MLX 4-bit word's low and high
 * nibbles). */
template <bool PLAIN>
__device__ __forceinline__ void q8x_put(uint32_t i, uint32_t k8, uint4 v, int8_t *xq, float2 *xd) {
    float f[8];
    qvf_bf8(v, f);
    float am = 0.0f;
#pragma unroll
    for (int j = 0; j < 8; j++) am = fmaxf(am, fabsf(f[j]));
    am = fmaxf(am, __shfl_xor_sync(0xffffffffu, am, 1));
    am = fmaxf(am, __shfl_xor_sync(0xffffffffu, am, 2));
    const float d = am / 127.0f, id = am > 0.0f ? 127.0f / am : 0.0f;
    int sq = 0;
    uint32_t w[2] = {0, 0};
#pragma unroll
    for (int j = 0; j < 8; j++) {
        const int q = __float2int_rn(f[j] * id);
        sq += q;
        if (PLAIN) w[j / 4] |= (uint32_t)(q & 0xff) << (8 * (j % 4));
        else w[j % 2] |= (uint32_t)(q & 0xff) << (8 * (j / 2));
    }
    sq += __shfl_xor_sync(0xffffffffu, sq, 1);
    sq += __shfl_xor_sync(0xffffffffu, sq, 2);
    if (i < k8) ((uint2 *)xq)[i] = make_uint2(w[0], w[1]);
    if (i % 4 == 0 && i < k8) xd[i / 4] = make_float2(d, d * (float)sq);
}
/* 8 bf16 values (v0, v1 in .x, ...) in the order the A-operand walk of
 * format F loads them (xq4p, xa4p); as they are for the other walks. */
template <int F, int B> __device__ __forceinline__ uint4 qvf_perm(uint4 u) {
    if constexpr (!has_qa<F, B>::v && F != MLXC_QMMF_Q4_0T) return u;
    else if constexpr (F == MLXC_QMMF_AFFINE)
        return make_uint4(__byte_perm(u.x, u.z, 0x5410), __byte_perm(u.y, u.w, 0x5410), __byte_perm(u.x, u.z, 0x7632),
                          __byte_perm(u.y, u.w, 0x7632));
    else
        return make_uint4(__byte_perm(u.x, u.y, 0x5410), __byte_perm(u.x, u.y, 0x7632), __byte_perm(u.z, u.w, 0x5410),
                          __byte_perm(u.z, u.w, 0x7632));
}
/* Q8: x' as int8 and per-32 (d, d sum q) into xf's 2k bytes (q8x_put,
 * qmvr); else bf16 in the walk's order. */
template <int F, int B, bool Q8 = false, typename X>
__device__ __forceinline__ void qvf_prologue(const X *__restrict__ x, const QFuse *fz, uint32_t k, X *xf, float *xsum,
                                             QtcRed &red) {
    static_assert(sizeof(X) == 2, "the fused mat-vec is bf16");
    const uint4 *x4 = (const uint4 *)x, *o4 = (const uint4 *)(fz->pro == MLXC_QMVF_RMS_NORM ? fz->g : fz->aux);
    uint4 *d4 = (uint4 *)xf;
    const uint32_t k8 = k / 8, nt = blockDim.x;
    const bool two = fz->pro != MLXC_QMVF_NONE;
    uint4 xv[QVF_R], ov[QVF_R];
    float ss = 0.0f;
#pragma unroll
    for (int r = 0; r < QVF_R; r++) {
        const uint32_t i = threadIdx.x + r * nt;
        if (i < k8) {
            xv[r] = __ldg(x4 + i);
            if (two) ov[r] = __ldg(o4 + i);
        }
    }
    /* past QVF_R chunks a thread: the rest once more from memory (k > 8192) */
    for (uint32_t i = threadIdx.x + QVF_R * nt; i < k8 && fz->pro == MLXC_QMVF_RMS_NORM; i += nt) {
        float f[8];
        qvf_bf8(__ldg(x4 + i), f);
#pragma unroll
        for (int j = 0; j < 8; j++) ss = fmaf(f[j], f[j], ss);
    }
    float inv = 1.0f;
    if (fz->pro == MLXC_QMVF_RMS_NORM) {
#pragma unroll
        for (int r = 0; r < QVF_R; r++) {
            if (threadIdx.x + r * nt < k8) {
                float f[8];
                qvf_bf8(xv[r], f);
#pragma unroll
                for (int j = 0; j < 8; j++) ss = fmaf(f[j], f[j], ss);
            }
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, off);
        if (threadIdx.x % 32 == 0) red.tot[threadIdx.x / 32] = ss;
        __syncthreads();
        float tot = 0.0f;
        for (uint32_t i = 0; i < nt / 32; i++) tot += red.tot[i];
        inv = 1.0f / sqrtf(tot / (float)k + fz->eps);
    }
    auto make = [&](uint4 a4, uint4 b4) {
        float a[8], b[8], o[8];
        qvf_bf8(a4, a);
        if (fz->pro == MLXC_QMVF_NONE) return a4;
        qvf_bf8(b4, b);
#pragma unroll
        for (int j = 0; j < 8; j++)
            o[j] = fz->pro == MLXC_QMVF_RMS_NORM ? a[j] * inv * b[j] : a[j] * (1.0f / (1.0f + __expf(-a[j]))) * b[j];
        return qvf_pack8(o);
    };
    /* x' in the walk's order, and the sum of each 32 values (4 lanes'
     * pieces: nt is whole warps, so the 4 lanes of a group are neighbours
     * and every lane runs each shuffle) */
    auto put = [&](uint32_t i, uint4 v) {
        if constexpr (Q8) {
            /* both inside x's 2k bytes */
            q8x_put<!(F == MLXC_QMMF_AFFINE && B == 4)>(i, k8, v, (int8_t *)xf, (float2 *)((uint8_t *)xf + k));
            return;
        }
        float f[8];
        qvf_bf8(v, f);
        float sm = ((f[0] + f[1]) + (f[2] + f[3])) + ((f[4] + f[5]) + (f[6] + f[7]));
        if (i >= k8) sm = 0.0f;
        else d4[i] = qvf_perm<F, B>(v);
        sm += __shfl_xor_sync(0xffffffffu, sm, 1);
        sm += __shfl_xor_sync(0xffffffffu, sm, 2);
        if (i % 4 == 0 && i < k8) xsum[i / 4] = sm;
    };
#pragma unroll
    for (int r = 0; r < QVF_R; r++) {
        const uint32_t i = threadIdx.x + r * nt;
        put(i, i < k8 ? make(xv[r], two ? ov[r] : xv[r]) : make_uint4(0, 0, 0, 0));
    }
    for (uint32_t i0 = QVF_R * nt; i0 < k8; i0 += nt) {
        const uint32_t i = i0 + threadIdx.x;
        put(i, i < k8 ? make(__ldg(x4 + i), two ? __ldg(o4 + i) : x4[i]) : make_uint4(0, 0, 0, 0));
    }
    __syncthreads();
}

/* A block's place in a walk: its index and the number of blocks of the
 * walk, the launch's (grid.x) or a part's share of the grid where one
 * kernel runs two walks (qmvp); base (qmvr) the first row of the matrix
 * within w, scales and biases (an expert's rows of a stacked weight,
 * qmoer). */
struct QBlk {
    uint32_t id, n, base = 0;
};
__device__ __forceinline__ QBlk qblk() { return {blockIdx.x, gridDim.x, 0}; }

template <int F, int B, int SD, bool FZ = false, typename X, typename Y>
__device__ __forceinline__ void qmv_tc_smem(const X *__restrict__ x, const uint8_t *__restrict__ w,
                                            const void *__restrict__ sc, const void *__restrict__ bi,
                                            Y *__restrict__ y, const mlxc_p_qmatmul &p, QtcRed &red,
                                            uint8_t *smem, const QFuse *fz = nullptr, QBlk bk = qblk()) {
    using S = QTStage<F, B, FZ>;
    constexpr bool AFF = F == MLXC_QMMF_AFFINE;
    constexpr uint32_t SB = S::SV / S::UNIT * S::UB, RS = SB + S::PAD, ES = SD == MLXC_QS_F32 ? 4 : 2;
    static_assert(SB % 16 == 0 && (!S::SHIFT || S::PAD >= 16), "stages of whole 16-byte units; room for the shift");
    const uint32_t lane = threadIdx.x % 32, g = lane / 4, t = lane % 4, wid = threadIdx.x / 32, nw = QTC_WARPS;
    const uint32_t m = p.m < 8 ? p.m : 8, n = p.n, rowb = p.row_bytes, nst = (rowb + SB - 1) / SB;
    const uint32_t gpr = AFF ? p.k / p.group : 0, SS = AFF ? S::SV / p.group * ES : 0; /* scale bytes per stage row */
    const uint32_t sgr = AFF ? mlxc_qmv_scale_granule(p.k, p.group, ES, S::SV) : 16;
    const uint32_t wbytes = QTC_ROWS * RS + 2 * QTC_ROWS * SS, XB = S::SV * (uint32_t)sizeof(X);
    const uint32_t stage_bytes = wbytes + (FZ ? 0 : m * XB);
    const uint64_t ntile = (n + QTC_ROWS - 1) / QTC_ROWS;
    const uint32_t mine = bk.id < ntile ? (uint32_t)((ntile - 1 - bk.id) / bk.n + 1) : 0;
    const uint64_t total = (uint64_t)mine * nst;
    const bool xv = g < m;
    /* This thread's 16-byte pieces of a whole stage, the same in every
     * stage: row r_j, destination and source offsets (computed once, so a
     * stage costs each thread a few adds per copy). */
    /* Shifted rows (S::SHIFT): row r's bytes start (r * rowb) % 16 bytes
     * past a 16-byte boundary (the same in every tile and stage: tiles
     * are 16 rows, stages whole 16-byte units), so its piece is copied
     * from that boundary, one 16-byte unit more, the last unit whole
     * except at the weight's end (cp16_upto: never past the weight). */
    constexpr uint32_t P16 = SB / 16 + (S::SHIFT ? 1 : 0);
    constexpr uint32_t W16 = QTC_ROWS * P16, WJ = (W16 + 32 * QTC_WARPS - 1) / (32 * QTC_WARPS);
    constexpr uint32_t X16 = S::SV * (uint32_t)sizeof(X) / 16;
    static_assert((X16 & (X16 - 1)) == 0, "x pieces per token a power of two");
    auto shift_of = [&](uint32_t r) -> uint32_t { return S::SHIFT ? (uint32_t)(((uint64_t)r * rowb) & 15) : 0; };
    uint32_t wr[WJ], wdst[WJ], wn[WJ];
    uint64_t wsrc[WJ];
#pragma unroll
    for (uint32_t j = 0; j < WJ; j++) {
        const uint32_t i = threadIdx.x + j * 32 * QTC_WARPS, r = i / P16, col = i % P16;
        wr[j] = i < W16 ? r : 0xffffffffu;
        wdst[j] = r * RS + col * 16;
        wsrc[j] = ((uint64_t)r * rowb & ~(uint64_t)15) + col * 16;
        const int lim = (int)(shift_of(r) + SB) - (int)(col * 16); /* the row's bytes from this unit on */
        wn[j] = lim <= 0 ? 0 : lim >= 16 ? 16 : (uint32_t)lim;
    }
    /* Stage st of the block's tile i into ring slot `slot`.  Rows past n
     * are not copied (their sums are never stored).  The stage counters
     * advance by one (no division in the loop). */
    uint32_t ii = 0, ist = 0, islot = 0;
    /* The weights (and scales) of stage `st_` of tile `i_` into ring slot
     * `slot_`: they do not depend on an earlier kernel. */
    auto copy_w = [&](uint32_t i_, uint32_t st_, uint32_t slot_) {
        if (i_ >= mine) return;
        const uint64_t tile = (bk.id + (uint64_t)i_ * bk.n) * QTC_ROWS;
        const uint32_t off = st_ * SB, have = rowb - off < SB ? rowb - off : SB;
        uint8_t *buf = smem + slot_ * stage_bytes;
        const uint8_t *base = w + tile * rowb + off, *wend = w + (uint64_t)n * rowb;
        const uint64_t left = n - tile;
        if (have == SB) {
#pragma unroll
            for (uint32_t j = 0; j < WJ; j++) {
                if (wr[j] >= left) continue;
                if (!S::SHIFT || wn[j] == 16) cp16(buf + wdst[j], base + wsrc[j]);
                else if (wn[j]) cp16_upto(buf + wdst[j], base + wsrc[j], wn[j], wend);
            }
        } else if constexpr (S::SHIFT) {
            const uint32_t v16 = (have + 15) / 16 + 1;
            for (uint32_t i = threadIdx.x; i < QTC_ROWS * v16; i += blockDim.x) {
                const uint32_t r = i / v16, col = i % v16;
                const int lim = (int)(shift_of(r) + have) - (int)(col * 16);
                if (r >= left || lim <= 0) continue;
                cp16_upto(buf + r * RS + col * 16, base + ((uint64_t)r * rowb & ~(uint64_t)15) + col * 16,
                          lim >= 16 ? 16u : (uint32_t)lim, wend);
            }
        } else {
            const uint32_t v16 = have / 16;
            for (uint32_t i = threadIdx.x; i < QTC_ROWS * v16; i += blockDim.x) {
                const uint32_t r = i / v16, col = i % v16;
                if (r < left) cp16(buf + r * RS + col * 16, base + (uint64_t)r * rowb + col * 16);
            }
        }
        if constexpr (AFF) {
            uint8_t *sbuf = buf + QTC_ROWS * RS;
            if (sgr == 16 && have == SB) {
                /* a whole stage of 16-byte scale rows (the common case:
                 * no divisions beyond the one by s16) */
                const uint32_t s16 = SS / 16;
                for (uint32_t i = threadIdx.x; i < 2 * QTC_ROWS * s16; i += blockDim.x) {
                    const uint32_t which = i / (QTC_ROWS * s16), r = (i / s16) % QTC_ROWS, col = i % s16;
                    const uint64_t row = tile + r < n ? tile + r : n - 1;
                    const uint8_t *src = (const uint8_t *)(which ? bi : sc) + row * gpr * ES + (uint64_t)st_ * SS;
                    cp16(sbuf + which * QTC_ROWS * SS + r * SS + col * 16, src + col * 16);
                }
                return;
            }
            /* this stage's scales and biases of each row, in pieces of
             * sgr bytes (a partial last stage has fewer) */
            const uint32_t hs = have / S::UB * S::UNIT / p.group * ES, np = hs / sgr;
            for (uint32_t i = threadIdx.x; i < 2 * QTC_ROWS * np; i += blockDim.x) {
                const uint32_t which = i / (QTC_ROWS * np), r = (i / np) % QTC_ROWS, col = (i % np) * sgr;
                const uint64_t row = tile + r < n ? tile + r : n - 1;
                const uint8_t *src = (const uint8_t *)(which ? bi : sc) + row * gpr * ES + (uint64_t)st_ * SS + col;
                uint8_t *dst = sbuf + which * QTC_ROWS * SS + r * SS + col;
                if (sgr == 16) cp16(dst, src);
                else if (sgr == 8) cp8(dst, src);
                else cp4(dst, src);
            }
        }
    };
    /* The x values stage `st_` multiplies: an earlier kernel's output. */
    auto copy_x = [&](uint32_t i_, uint32_t st_, uint32_t slot_) {
        if (FZ || i_ >= mine) return;
        const uint32_t off = st_ * SB, have = rowb - off < SB ? rowb - off : SB;
        uint8_t *xb = smem + slot_ * stage_bytes + wbytes;
        const uint8_t *xsrc = (const uint8_t *)(x + (uint64_t)st_ * S::SV);
        const uint32_t x16 = have == SB ? X16 : have / S::UB * S::UNIT * (uint32_t)sizeof(X) / 16;
        for (uint32_t i = threadIdx.x; i < m * x16; i += blockDim.x) {
            const uint32_t tok = i / x16, col = i % x16;
            cp16(xb + tok * XB + col * 16, xsrc + (uint64_t)tok * p.k * sizeof(X) + col * 16);
        }
    };
    auto advance = [&](uint32_t &i_, uint32_t &st_, uint32_t &slot_) {
        if (++st_ == nst) st_ = 0, i_++;
        if (++slot_ == S::P) slot_ = 0;
    };
    auto issue = [&]() {
        copy_w(ii, ist, islot);
        copy_x(ii, ist, islot);
        cp_commit();
        advance(ii, ist, islot);
    };
    /* The first stages' weights load before the wait for the kernel this
     * one depends on (programmatic dependent launch: MLXC_PDL_WAIT), so
     * they stream while that kernel finishes; x only after it. */
    {
        uint32_t i_ = ii, st_ = ist, slot_ = islot;
#pragma unroll
        for (uint32_t k = 0; k + 1 < S::P; k++) {
            copy_w(i_, st_, slot_);
            advance(i_, st_, slot_);
        }
    }
    MLXC_PDL_WAIT();
    X *xfull = (X *)(smem + S::P * stage_bytes);
    float *xsum = (float *)(smem + S::P * stage_bytes + (p.k * 2 + 15) / 16 * 16);
    if constexpr (FZ) {
        if (mine) qvf_prologue<F, B>(x, fz, p.k, xfull, xsum, red);
    }
#pragma unroll
    for (uint32_t k = 0; k + 1 < S::P; k++) {
        copy_x(ii, ist, islot);
        cp_commit();
        advance(ii, ist, islot);
    }
    float acc[QTC_RT][2] = {};
    uint32_t ci = 0, st = 0, slot = 0;
    for (uint64_t L = 0; L < total; L++) {
        cp_wait<S::P - 2>();
        __syncthreads();
        issue();
        const uint8_t *buf = smem + slot * stage_bytes, *sbuf = buf + QTC_ROWS * RS;
        const X *xs = FZ ? xfull + (uint64_t)st * S::SV : (const X *)(buf + wbytes) + (xv ? g : 0) * S::SV;
        const uint32_t vals = (rowb - st * SB < SB ? rowb - st * SB : SB) / S::UB * S::UNIT;
        if constexpr (has_qa<F, B>::v) {
            /* tokens past m read token 0's x: their columns are never stored */
            qa_walk<F, SD, FZ, X>(xs, FZ ? xsum + st * (S::SV / 32) : nullptr, true, buf + g * RS + shift_of(g),
                              buf + (g + 8) * RS + shift_of(g + 8), sbuf + g * SS, sbuf + (g + 8) * SS,
                              sbuf + (QTC_ROWS + g) * SS, sbuf + (QTC_ROWS + g + 8) * SS, p.group, vals / qa_vals<F>::v, wid,
                              nw, t, &acc[0][0]);
        } else {
            Rows R[QTC_RT];
#pragma unroll
            for (int r = 0; r < QTC_RT; r++) {
                const uint32_t a = r * 8 + 2 * t;
                R[r].g = buf + (r * 8 + g) * RS + shift_of(r * 8 + g);
                R[r].a = buf + a * RS + shift_of(a), R[r].b = buf + (a + 1) * RS + shift_of(a + 1);
                R[r].sa = sbuf + a * SS, R[r].sb = sbuf + (a + 1) * SS;
                R[r].ba = sbuf + QTC_ROWS * SS + a * SS, R[r].bb = sbuf + QTC_ROWS * SS + (a + 1) * SS;
                R[r].group = p.group;
            }
            /* From shared memory two chunks at a time are enough. */
            qtc_walk<F, B, SD, true, (QT<F, B>::U < 2 ? QT<F, B>::U : 2)>(xs, xv, R, 0, 0, vals / QT<F, B>::VALS,
                                                                           wid, nw, t, acc);
        }
        if (st == nst - 1) {
            const uint64_t tile = (bk.id + (uint64_t)ci * bk.n) * QTC_ROWS;
            if (FZ && fz->epi == MLXC_QMVF_ADD) {
                qtc_store<has_qa<F, B>::v, true>(red, acc, y, tile, n, m, g, t, wid, nw);
            } else {
                qtc_store<has_qa<F, B>::v>(red, acc, y, tile, n, m, g, t, wid, nw);
            }
#pragma unroll
            for (int r = 0; r < QTC_RT; r++) acc[r][0] = acc[r][1] = 0.0f;
        }
        if (++st == nst) st = 0, ci++;
        if (++slot == S::P) slot = 0;
    }
    cp_wait<0>();
}

/* Whether qmv_tc takes this launch: whole warps, aligned x, k whole chunks. */
template <int F, int B, typename X>
__device__ __forceinline__ bool qtc_ok(const X *x, const mlxc_p_qmatmul &p) {
    return has_qt<F, B>::v && blockDim.x % 32 == 0 && blockDim.x <= 32 * QTC_MAXW && ((uintptr_t)x & 15) == 0 &&
           p.k % QT<F, B>::VALS == 0 && p.k % 8 == 0;
}

/* The scale dtype and the 4-byte alignment of the rows as template
 * arguments, so that the loads carry no branches. */
template <int F, int B, typename X, typename Y>
__device__ __forceinline__ void qmv_tc(const X *__restrict__ x, const uint8_t *__restrict__ w,
                                       const void *__restrict__ sc, const void *__restrict__ bi, Y *__restrict__ y,
                                       const mlxc_p_qmatmul &p) {
    __shared__ __align__(16) QtcRed red;
    if constexpr (has_smem<F, B>::v) {
        extern __shared__ __align__(16) uint8_t qtc_ring[];
        if (qtc_smem_ok<F, B>(x, w, sc, bi, p)) {
            if (F != MLXC_QMMF_AFFINE) qmv_tc_smem<F, B, 0>(x, w, sc, bi, y, p, red, qtc_ring);
            else if (p.sdtype == MLXC_QS_F32) qmv_tc_smem<F, B, MLXC_QS_F32>(x, w, sc, bi, y, p, red, qtc_ring);
            else if (p.sdtype == MLXC_QS_F16) qmv_tc_smem<F, B, MLXC_QS_F16>(x, w, sc, bi, y, p, red, qtc_ring);
            else qmv_tc_smem<F, B, MLXC_QS_BF16>(x, w, sc, bi, y, p, red, qtc_ring);
            return;
        }
    }
    MLXC_PDL_WAIT();
    const bool w4 = ((uintptr_t)w & 3) == 0 && p.row_bytes % 4 == 0;
    if (F == MLXC_QMMF_AFFINE) {
        if (p.sdtype == MLXC_QS_F32) qmv_tc_reg<F, B, MLXC_QS_F32, true>(x, w, sc, bi, y, p, red);
        else if (p.sdtype == MLXC_QS_F16) qmv_tc_reg<F, B, MLXC_QS_F16, true>(x, w, sc, bi, y, p, red);
        else qmv_tc_reg<F, B, MLXC_QS_BF16, true>(x, w, sc, bi, y, p, red);
    } else if (F == MLXC_QMMF_Q4_1 || F == MLXC_QMMF_Q4_K || F == MLXC_QMMF_Q5_K) {
        if (w4) qmv_tc_reg<F, B, 0, true>(x, w, sc, bi, y, p, red);
        else qmv_tc_reg<F, B, 0, false>(x, w, sc, bi, y, p, red);
    } else {
        qmv_tc_reg<F, B, 0, false>(x, w, sc, bi, y, p, red);
    }
}

template <int F, int B, typename X, typename Y>
__device__ __forceinline__ void qmv(const X *__restrict__ x, const uint8_t *__restrict__ w,
                                    const void *__restrict__ scales, const void *__restrict__ biases, Y *__restrict__ y,
                                    const mlxc_p_qmatmul &p) {
    const uint32_t m = p.m < MLXC_QMV_MAX_M ? p.m : MLXC_QMV_MAX_M, n = p.n, k = p.k;
    float v[8];
    const bool vec = ((uintptr_t)x & 15) == 0;
    if (blockDim.x % 32 != 0) {
        /* Not whole warps: one thread per row, no shuffles. */
        const uint64_t stride = (uint64_t)gridDim.x * blockDim.x;
        for (uint64_t r = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; r < n; r += stride) {
            float acc[MLXC_QMV_MAX_M] = {0};
            for (uint32_t e = 0; e < k; e += 8) {
                deq8<F, B>(w, scales, biases, p, (uint32_t)r, e, v);
                fma8<MLXC_QMV_MAX_M>(x, m, k, e, vec, v, acc);
            }
            for (uint32_t i = 0; i < m; i++) sty(y, (uint64_t)i * n + r, acc[i]);
        }
        return;
    }
    const uint32_t lane = threadIdx.x % 32, nw = blockDim.x / 32;
    const uint64_t stride = (uint64_t)gridDim.x * nw;
    for (uint64_t r = (uint64_t)blockIdx.x * nw + threadIdx.x / 32; r < n; r += stride) {
        float acc[MLXC_QMV_MAX_M] = {0};
        uint32_t e = lane * 8;
        /* Two runs in flight per lane: their loads issue before either is used. */
        for (; e + 256 < k; e += 512) {
            float u[8];
            deq8<F, B>(w, scales, biases, p, (uint32_t)r, e, v);
            deq8<F, B>(w, scales, biases, p, (uint32_t)r, e + 256, u);
            fma8<MLXC_QMV_MAX_M>(x, m, k, e, vec, v, acc);
            fma8<MLXC_QMV_MAX_M>(x, m, k, e + 256, vec, u, acc);
        }
        if (e < k) {
            deq8<F, B>(w, scales, biases, p, (uint32_t)r, e, v);
            fma8<MLXC_QMV_MAX_M>(x, m, k, e, vec, v, acc);
        }
#pragma unroll
        for (int i = 0; i < MLXC_QMV_MAX_M; i++) {
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) acc[i] += __shfl_xor_sync(0xffffffffu, acc[i], o);
        }
        if (lane == 0)
            for (uint32_t i = 0; i < m; i++) sty(y, (uint64_t)i * n + r, acc[i]);
    }
}

/* qmvt: the tensor-core mat-vec where the launch allows it (whole warps,
 * aligned x), else the warp-per-row body. */
template <int F, int B, typename X, typename Y>
__device__ __forceinline__ void qmvt(const X *__restrict__ x, const uint8_t *__restrict__ w,
                                     const void *__restrict__ scales, const void *__restrict__ biases,
                                     Y *__restrict__ y, const mlxc_p_qmatmul &p) {
    if (qtc_ok<F, B>(x, p)) {
        qmv_tc<F, B>(x, w, scales, biases, y, p);
    } else {
        MLXC_PDL_WAIT();
        qmv<F, B>(x, w, scales, biases, y, p);
    }
}

#define QMM_KC 64
/* The f32 tiles of the mat-mat: x rows and dequantized weight rows through
 * shared memory, KC values of k at a time. */
struct QmmTile {
    float xs[MLXC_QMM_BM][QMM_KC + 1], ws[MLXC_QMM_BN][QMM_KC + 1], acc[MLXC_QMM_BM][MLXC_QMM_BN];
};
/* acc = x rows . weight rows^T for one tile: x row i is xrow(i) (UINT64_MAX
 * for none: zeros), weight row r is wrow0 + r for r < nr.  Ends with the
 * block synchronized and acc complete. */
template <int F, int B, typename X, typename XRow>
__device__ __forceinline__ void qmm_tile(QmmTile &T, const X *__restrict__ x, const uint8_t *__restrict__ w,
                                         const void *__restrict__ scales, const void *__restrict__ biases,
                                         const mlxc_p_qmatmul &p, XRow xrow, uint32_t wrow0, uint32_t nr) {
    const uint32_t k = p.k, tid = threadIdx.x, nt = blockDim.x;
    for (uint32_t o = tid; o < MLXC_QMM_BM * MLXC_QMM_BN; o += nt) T.acc[o / MLXC_QMM_BN][o % MLXC_QMM_BN] = 0.0f;
    for (uint32_t kc = 0; kc < k; kc += QMM_KC) {
        __syncthreads();
        for (uint32_t o = tid; o < MLXC_QMM_BM * QMM_KC; o += nt) {
            const uint32_t i = o / QMM_KC, q = o % QMM_KC;
            const uint64_t row = xrow(i);
            T.xs[i][q] = row != UINT64_MAX && kc + q < k ? ldx(x, row * k + kc + q) : 0.0f;
        }
        for (uint32_t o = tid; o < MLXC_QMM_BN * (QMM_KC / 8); o += nt) {
            const uint32_t r = o / (QMM_KC / 8), q = (o % (QMM_KC / 8)) * 8;
            float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            if (r < nr && kc + q < k) deq8<F, B>(w, scales, biases, p, wrow0 + r, kc + q, v);
#pragma unroll
            for (int u = 0; u < 8; u++) T.ws[r][q + u] = v[u];
        }
        __syncthreads();
        for (uint32_t o = tid; o < MLXC_QMM_BM * MLXC_QMM_BN; o += nt) {
            const uint32_t i = o / MLXC_QMM_BN, c = o % MLXC_QMM_BN;
            float sum = 0.0f;
#pragma unroll 8
            for (uint32_t q = 0; q < QMM_KC; q++) sum = fmaf(T.xs[i][q], T.ws[c][q], sum);
            T.acc[i][c] += sum;
        }
    }
    __syncthreads();
}

template <int F, int B, typename X, typename Y>
__device__ __forceinline__ void qmm(const X *__restrict__ x, const uint8_t *__restrict__ w,
                                    const void *__restrict__ scales, const void *__restrict__ biases, Y *__restrict__ y,
                                    const mlxc_p_qmatmul &p) {
    __shared__ QmmTile T;
    const uint32_t m = p.m, n = p.n, tid = threadIdx.x, nt = blockDim.x;
    const uint32_t tm = (m + MLXC_QMM_BM - 1) / MLXC_QMM_BM, tn = (n + MLXC_QMM_BN - 1) / MLXC_QMM_BN;
    for (uint64_t t = blockIdx.x; t < (uint64_t)tm * tn; t += gridDim.x) {
        const uint32_t i0 = (uint32_t)(t % tm) * MLXC_QMM_BM, c0 = (uint32_t)(t / tm) * MLXC_QMM_BN;
        qmm_tile<F, B>(T, x, w, scales, biases, p, [&](uint32_t i) { return i0 + i < m ? (uint64_t)(i0 + i) : UINT64_MAX; },
                       c0, n - c0 < MLXC_QMM_BN ? n - c0 : MLXC_QMM_BN);
        for (uint32_t o = tid; o < MLXC_QMM_BM * MLXC_QMM_BN; o += nt) {
            const uint32_t i = o / MLXC_QMM_BN, c = o % MLXC_QMM_BN;
            if (i0 + i < m && c0 + c < n) sty(y, (uint64_t)(i0 + i) * n + c0 + c, T.acc[i][c]);
        }
        __syncthreads();
    }
}

/* 8 values to out[i .. i + 7] (i a multiple of 8) as one 16-byte store
 * (bf16) or two (f32) where out is 16-byte aligned; rounded as sty. */
__device__ __forceinline__ void st8(float *out, uint64_t i, const float v[8], bool vec) {
    if (vec) {
        ((float4 *)(out + i))[0] = make_float4(v[0], v[1], v[2], v[3]);
        ((float4 *)(out + i))[1] = make_float4(v[4], v[5], v[6], v[7]);
    } else {
#pragma unroll
        for (int t = 0; t < 8; t++) out[i + t] = v[t];
    }
}
__device__ __forceinline__ void st8(uint16_t *out, uint64_t i, const float v[8], bool vec) {
    if (vec) *(uint4 *)(out + i) = qvf_pack8(v);
    else {
#pragma unroll
        for (int t = 0; t < 8; t++) sty(out, i + t, v[t]);
    }
}

/* out[r, e .. e + 7] for every (row, run of 8) unit, grid-stride.  A
 * thread's units u, u + stride, ... of 8 values (row r, values e ..
 * e + 7): the row and run advance by stride's quotient and remainder, so
 * the loop divides once, not at every unit. */
template <int F, int B, typename Y>
__device__ __forceinline__ void qgather(const uint32_t *__restrict__ ids, const uint8_t *__restrict__ w,
                                        const void *__restrict__ scales, const void *__restrict__ biases,
                                        Y *__restrict__ out, const mlxc_p_qgather &g) {
    const mlxc_p_qmatmul &p = g.q;
    const uint32_t runs = p.k / 8;
    const uint64_t units = (uint64_t)p.m * runs, stride = (uint64_t)gridDim.x * blockDim.x;
    const uint64_t u0 = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (u0 >= units || runs == 0) return;
    const bool vec = ((uintptr_t)out & 15) == 0;
    const uint64_t dq = stride / runs;
    const uint32_t dr = (uint32_t)(stride % runs);
    uint64_t r = u0 / runs;
    uint32_t j = (uint32_t)(u0 % runs);
    for (uint64_t u = u0; u < units; u += stride) {
        const uint32_t e = j * 8, src = g.has_ids ? ids[r] : (uint32_t)r;
        float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        if (src < p.n) deq8<F, B>(w, scales, biases, p, src, e, v);
#pragma unroll
        for (int t = 0; t < 8; t++) v[t] *= g.scale;
        st8(out, r * p.k + e, v, vec);
        r += dq;
        j += dr;
        if (j >= runs) j -= runs, r++;
    }
}

/* Expert-routed mat-vec: one warp per (pair, weight row) unit, grid-stride
 * (the plain path, one thread per unit, when the block is not whole warps). */
template <int F, int B, typename X, typename Y>
__device__ __forceinline__ void qmoe(const X *__restrict__ x, const uint8_t *__restrict__ w,
                                     const void *__restrict__ scales, const void *__restrict__ biases,
                                     const uint32_t *__restrict__ ids, Y *__restrict__ y, const mlxc_p_qmoe &mp) {
    const mlxc_p_qmatmul &p = mp.q;
    const uint32_t n = p.n, k = p.k;
    const uint64_t units = (uint64_t)p.m * n;
    const bool vec = ((uintptr_t)x & 15) == 0, whole = blockDim.x % 32 == 0;
    const uint32_t lane = whole ? threadIdx.x % 32 : 0, step = whole ? 256 : 8;
    const uint64_t per_block = whole ? blockDim.x / 32 : blockDim.x;
    const uint64_t first = (uint64_t)blockIdx.x * per_block + (whole ? threadIdx.x / 32 : threadIdx.x);
    for (uint64_t u = first; u < units; u += (uint64_t)gridDim.x * per_block) {
        const uint32_t pair = (uint32_t)(u / n), r = (uint32_t)(u % n), e = ids[pair];
        const X *xt = x + (uint64_t)(pair / mp.topk) * k;
        float acc[1] = {0.0f}, v[8];
        if (e < mp.experts)
            for (uint32_t q = lane * 8; q < k; q += step) {
                deq8<F, B>(w, scales, biases, p, e * n + r, q, v);
                fma8<1>(xt, 1, k, q, vec, v, acc);
            }
        if (whole)
            for (int o = 16; o > 0; o >>= 1) acc[0] += __shfl_xor_sync(0xffffffffu, acc[0], o);
        if (lane == 0) sty(y, (uint64_t)pair * n + r, acc[0]);
    }
}

/* The (token, expert) pair of this block (grid.y) in qmoet and qmoef: for
 * an id past the experts its y row (n values at yp) is zeroed and the
 * result false; else the expert's first row of the stacked weight and its
 * scales and biases (MLX affine; the block formats carry theirs). */
template <int F, typename Y>
__device__ __forceinline__ bool qmoe_pair(uint32_t e, Y *yp, const mlxc_p_qmatmul &p, uint32_t experts,
                                          const void *&se, const void *&be, uint64_t &row0) {
    if (e >= experts) {
        for (uint64_t r = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; r < p.n; r += (uint64_t)gridDim.x * blockDim.x)
            sty(yp, r, 0.0f);
        return false;
    }
    row0 = (uint64_t)e * p.n;
    if (F == MLXC_QMMF_AFFINE) {
        const uint64_t off = row0 * (p.k / p.group) * (p.sdtype == MLXC_QS_F32 ? 4 : 2);
        se = (const uint8_t *)se + off;
        be = (const uint8_t *)be + off;
    }
    return true;
}

/* This block's pair (grid.y) of an expert-routed mat-vec: its y row and,
 * where its expert is in range (ok; qmoe_pair, which zeroes the row
 * otherwise), the expert's first row and scales. */
template <typename Y> struct QmoeBlk {
    Y *yp;
    const void *se, *be;
    uint64_t row0;
    bool ok;
};
template <int F, typename Y>
__device__ __forceinline__ QmoeBlk<Y> qmoe_blk(const uint32_t *__restrict__ ids, Y *y, const mlxc_p_qmatmul &p, uint32_t experts,
                                               const void *scales, const void *biases) {
    QmoeBlk<Y> b = {y + (uint64_t)blockIdx.y * p.n, scales, biases, 0, false};
    b.ok = qmoe_pair<F>(ids[blockIdx.y], b.yp, p, experts, b.se, b.be, b.row0);
    return b;
}

/* Expert-routed mat-vec through the tensor-core mat-vec (qmoet, the
 * formats with a ring): grid.y is the (token, expert) pair, and the pair's
 * grid.x blocks run qmvt over its expert's n rows, which start at row
 * ids[pair] * n (scales and biases likewise).  The ids are what an earlier
 * kernel (the routing) wrote, so the wait comes first: the weights cannot be
 * requested before it, as qmvt's are.  An id past the experts gives a zero
 * row, as qmoe's. */
template <int F, int B, typename X, typename Y>
__device__ __forceinline__ void qmoet(const X *__restrict__ x, const uint8_t *__restrict__ w,
                                      const void *__restrict__ scales, const void *__restrict__ biases,
                                      const uint32_t *__restrict__ ids, Y *__restrict__ y, const mlxc_p_qmoe &mp) {
    MLXC_PDL_WAIT();
    mlxc_p_qmatmul p = mp.q;
    p.m = 1;
    const QmoeBlk<Y> b = qmoe_blk<F>(ids, y, p, mp.experts, scales, biases);
    if (!b.ok) return;
    qmvt<F, B>(x + (uint64_t)(blockIdx.y / mp.topk) * p.k, w + b.row0 * p.row_bytes, b.se, b.be, b.yp, p);
}

/* Expert-grouped mat-mat (qmoeg, params_qmatmul.h): a block owns a unit
 * (expert or the unrouted tail, tile of BN weight rows) and walks the
 * expert's slots BM at a time through the tiles of qmm (f32 in shared
 * memory), the x rows gathered through perm.  Grid-stride over units. */
template <int F, int B, typename X, typename Y>
__device__ __forceinline__ void qmoeg(const X *__restrict__ x, const uint8_t *__restrict__ w,
                                      const void *__restrict__ scales, const void *__restrict__ biases,
                                      const uint32_t *__restrict__ offsets, const uint32_t *__restrict__ perm,
                                      Y *__restrict__ y, const mlxc_p_qmoe &mp) {
    __shared__ QmmTile T;
    __shared__ uint32_t sl[MLXC_QMM_BM];
    const mlxc_p_qmatmul &p = mp.q;
    const uint32_t n = p.n, slots = p.m, E = mp.experts, tid = threadIdx.x, nt = blockDim.x;
    const uint32_t tn = (n + MLXC_QMM_BN - 1) / MLXC_QMM_BN;
    for (uint64_t u = blockIdx.x; u < (uint64_t)(E + 1) * tn; u += gridDim.x) {
        const uint32_t e = (uint32_t)(u / tn), c0 = (uint32_t)(u % tn) * MLXC_QMM_BN;
        uint32_t lo = e < E ? offsets[e] : offsets[E], hi = e < E ? offsets[e + 1] : slots;
        if (hi > slots) hi = slots;
        if (lo > hi) lo = hi;
        for (uint32_t s0 = lo; s0 < hi; s0 += MLXC_QMM_BM) {
            const uint32_t sr = hi - s0 < MLXC_QMM_BM ? hi - s0 : MLXC_QMM_BM;
            for (uint32_t o = tid; o < MLXC_QMM_BM; o += nt) sl[o] = o < sr ? perm[s0 + o] : 0xffffffffu;
            /* the unrouted tail multiplies nothing: zero rows */
            qmm_tile<F, B>(T, x, w, scales, biases, p,
                           [&](uint32_t i) { return sl[i] < slots ? (uint64_t)(sl[i] / mp.topk) : UINT64_MAX; },
                           e * n + c0, e < E ? (n - c0 < MLXC_QMM_BN ? n - c0 : MLXC_QMM_BN) : 0);
            for (uint32_t o = tid; o < MLXC_QMM_BM * MLXC_QMM_BN; o += nt) {
                const uint32_t i = o / MLXC_QMM_BN, c = o % MLXC_QMM_BN, slot = sl[i];
                if (i < sr && slot < slots && c0 + c < n) sty(y, (uint64_t)slot * n + c0 + c, T.acc[i][c]);
            }
            __syncthreads(); /* sl and acc are read before the next tile */
        }
    }
}

/* ---------------------------------------------------------------------------
 * qmoegt: the expert-grouped mat-mat on the tensor cores (bf16 x and y;
 * params_qmatmul.h).  A unit is (tile of BM sorted slots of one expert, or
 * of the unrouted tail, tile of BN of the expert's weight rows); units
 * are numbered slot tile first, so the blocks that share x rows run
 * together.  k goes BK values a step through two shared stages: the x
 * rows of the tile's slots, gathered through perm, by cp.async, and the
 * weight rows dequantized (deq8) and rounded to bf16 by the threads, both
 * as rows of BK bf16 whose 16-byte chunk c of row r sits at c ^ (r % 8)
 * (ldmatrix reads 8 rows of one chunk column without bank conflicts).
 * Four warps of 32 x 32 outputs, mma.sync m16n8k16, f32 sums.  The stage
 * for step kt + 1 is written while step kt multiplies: the x rows' copy
 * is issued and the weight values decoded before the mma, stored after.
 * ------------------------------------------------------------------------- */
#define QG_BM MLXC_QMOEGT_BM
#define QG_BN MLXC_QMOEGT_BN
#define QG_BK MLXC_QMOEGT_BK
#define QG_NT MLXC_QMOEGT_THREADS
#define QG_STAGE ((QG_BM + QG_BN) * QG_BK * 2)
static_assert(QG_BK == 64 && QG_BM == 64 && QG_BN == 64 && QG_NT == 128, "the warp layout below");
static_assert(MLXC_QMOEGT_SMEM == 2 * QG_STAGE, "the front-end's shared memory");

__device__ __forceinline__ uint32_t qg_swz(uint32_t r, uint32_t c) { return r * (QG_BK * 2) + ((c ^ (r & 7u)) << 4); }
__device__ __forceinline__ void qg_ldm4(uint32_t a, uint32_t (&r)[4]) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}
__device__ __forceinline__ void qg_mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
                 "{%8, %9}, {%0, %1, %2, %3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void qg_cp16(uint32_t dst, const void *src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0) : "memory");
}

/* Unit mt (slot tiles numbered expert by expert, the tail last) as its
 * group g (E: the tail) and slots lo .. hi of perm; false past the last.
 * Warp-wide: 32 groups a round, a prefix sum of their tile counts. */
template <uint32_t BM = QG_BM>
__device__ __forceinline__ bool qg_find(const uint32_t *__restrict__ offsets, uint32_t E, uint32_t slots, uint32_t mt,
                                        uint32_t lane, uint32_t &g, uint32_t &lo, uint32_t &hi) {
    uint32_t base = 0; /* tiles of the groups before this round */
    for (uint32_t g0 = 0; g0 <= E; g0 += 32) {
        const uint32_t e = g0 + lane;
        uint32_t a = 0, b = 0;
        if (e <= E) {
            a = offsets[e < E ? e : E];
            b = e < E ? offsets[e + 1] : slots;
            if (b > slots) b = slots;
            if (a > b) a = b;
        }
        const uint32_t t = (b - a + BM - 1) / BM;
        uint32_t incl = t;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            const uint32_t v = __shfl_up_sync(0xffffffffu, incl, o);
            if (lane >= (uint32_t)o) incl += v;
        }
        const uint32_t total = __shfl_sync(0xffffffffu, incl, 31);
        if (mt < base + total) {
            const uint32_t hit = __ffs(__ballot_sync(0xffffffffu, mt < base + incl)) - 1;
            const uint32_t before = __shfl_sync(0xffffffffu, base + incl - t, hit);
            const uint32_t ha = __shfl_sync(0xffffffffu, a, hit), hb = __shfl_sync(0xffffffffu, b, hit);
            g = g0 + hit;
            lo = ha + (mt - before) * BM;
            hi = hb;
            return true;
        }
        base += total;
    }
    return false;
}

/* Any other launch: one output a thread, grid-stride over (sorted slot,
 * row); a sorted slot's expert by bisecting the offsets. */
template <int F, int B, typename Y>
__device__ __forceinline__ void qmoegt_plain(const uint16_t *__restrict__ x, const uint8_t *__restrict__ w,
                                             const void *__restrict__ scales, const void *__restrict__ biases,
                                             const uint32_t *__restrict__ offsets, const uint32_t *__restrict__ perm,
                                             Y *__restrict__ y, const mlxc_p_qmoe &mp) {
    const mlxc_p_qmatmul &p = mp.q;
    const uint32_t n = p.n, k = p.k, slots = p.m, E = mp.experts;
    const uint64_t units = (uint64_t)slots * n, nt = (uint64_t)blockDim.x * blockDim.y * blockDim.z;
    const uint64_t t0 = (uint64_t)(blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x * nt + blockIdx.x * nt +
                        (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    const uint64_t stride = (uint64_t)gridDim.x * gridDim.y * gridDim.z * nt;
    for (uint64_t u = t0; u < units; u += stride) {
        const uint32_t j = (uint32_t)(u / n), r = (uint32_t)(u % n), slot = perm[j];
        if (slot >= slots) continue;
        uint32_t lo = 0, hi = E; /* the last e with offsets[e] <= j, E for the tail */
        if (j >= offsets[E]) lo = E;
        else
            while (lo + 1 < hi) {
                const uint32_t mid = (lo + hi) / 2;
                if (offsets[mid] <= j) lo = mid;
                else hi = mid;
            }
        float acc = 0.0f, v[8];
        if (lo < E && j >= offsets[lo])
            for (uint32_t q = 0; q < k; q += 8) {
                deq8<F, B>(w, scales, biases, p, lo * n + r, q, v);
#pragma unroll
                for (int t = 0; t < 8; t++) acc = fmaf(v[t], bf16(x[(uint64_t)(slot / mp.topk) * k + q + t]), acc);
            }
        sty(y, (uint64_t)slot * n + r, acc);
    }
}


/* ---------------------------------------------------------------------------
 * qmoeg2: qmoegt's raw-tile path (params_qmatmul.h).  A unit is (tile of
 * G2_BM sorted slots of one expert or of the tail, tile of G2_BN of the
 * expert's weight rows).  Each k step of G2_BK values copies by cp.async,
 * into a ring of 2 to 4 stages, the raw bytes of the tile's weight rows
 * (G2<F>::STEP bytes a row, whole 16-byte units; the affine scales and
 * biases beside them) and the bf16 x rows of its slots (row r's 16-byte
 * chunk c at c ^ (r % 8), for ldmatrix).  Each of the MLXC_QMOEG2_THREADS
 * / 32 warps multiplies its m16 tiles of weight rows (the A operand) by
 * the 32 slots (four n8 tiles, B).  A 32-value block's codes become exact
 * bf16 integers (Q4_0: code - 8; Q4_K, affine: the code), its two k16
 * products are summed apart and then scaled by the block's d (and, for a
 * min or bias, the block's x sums times it are added) into the f32 sums.
 * The weights are thus not rounded to bf16 at all: each product is exact
 * until the f32 sums.
 * ------------------------------------------------------------------------- */
#define G2_BM MLXC_QMOEG2_BM
#define G2_BN MLXC_QMOEG2_BN
#define G2_BK MLXC_QMOEG2_BK
static_assert(G2_BM == 32 && G2_BN == 128 && G2_BK == 256 && MLXC_QMOEG2_THREADS % 32 == 0 &&
                  G2_BN % (MLXC_QMOEG2_THREADS / 2) == 0, "the warp layout below");

template <int F> struct G2;
/* Where a row's scales and biases of the step are (the MLX affine form:
 * sbh bytes each, the biases bb bytes after the scales), their dtype and
 * log2 of the group over 32. */
struct G2Side {
    uint32_t bb, sd, gsh;
};
/* Q4_0: blocks of 18 bytes, d then 16 code bytes; byte j holds values j
 * (low nibble) and j + 16 (high).  Lane (g, t) of a tile takes bytes 2t,
 * 2t + 1, 2t + 8, 2t + 9 of rows g and g + 8: the low nibbles are the
 * A fragment of values 0 .. 15, the high ones of values 16 .. 31. */
template <> struct G2<MLXC_QMMF_Q4_0> {
    static constexpr uint32_t STEP = G2_BK / 32 * 18, SRC = STEP, BLOCKS = G2_BK / 32;
    static constexpr bool MIN = false, SIDE = false, SPLIT = false;
    __device__ static void frag(const uint8_t *r0, const uint8_t *r1, const uint8_t *, const uint8_t *, const G2Side &,
                                uint32_t b, uint32_t t, uint32_t (&lo)[4], uint32_t (&hi)[4], float (&d)[2],
                                float (&)[2]) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const uint8_t *blk = (h ? r1 : r0) + b * 18;
            const uint16_t *qs = (const uint16_t *)(blk + 2);
            const uint32_t q = __byte_perm(qs[t], qs[t + 4], 0x5410);
            const uint32_t l = q & 0x0f0f0f0fu, u = (q >> 4) & 0x0f0f0f0fu;
            /* a0, a2 (row g: values 2t.., 2t + 8..), a1, a3 (row g + 8) */
            codes(l, QTC_N136, lo[h], lo[2 + h]);
            codes(u, QTC_N136, hi[h], hi[2 + h]);
            d[h] = ld16a(blk);
        }
    }
};

/* Q4_K: a k step is one super-block (d, dmin, 12 bytes of 6-bit scales
 * and mins, 128 code bytes); sub-block b's values i are the low (b even)
 * or high nibbles of code bytes 32 (b / 2) + i, each d * scale * code -
 * dmin * min.  Lane (g, t) takes bytes 2t, 2t + 1, 2t + 8, 2t + 9 of the
 * first 16 and of the second 16 of them, rows g and g + 8. */
template <> struct G2<MLXC_QMMF_Q4_K> {
    static constexpr uint32_t STEP = 144, SRC = STEP, BLOCKS = 8;
    static constexpr bool MIN = true, SIDE = false, SPLIT = false;
    __device__ static void frag(const uint8_t *r0, const uint8_t *r1, const uint8_t *, const uint8_t *, const G2Side &,
                                uint32_t b, uint32_t t, uint32_t (&lo)[4], uint32_t (&hi)[4], float (&d)[2],
                                float (&m)[2]) {
        const uint32_t sh = 4 * (b & 1u);
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const uint8_t *sb = h ? r1 : r0;
            const uint16_t *qs = (const uint16_t *)(sb + 16 + 32 * (b >> 1));
            const uint32_t qa = __byte_perm(qs[t], qs[t + 4], 0x5410), qb = __byte_perm(qs[t + 8], qs[t + 12], 0x5410);
            codes((qa >> sh) & 0x0f0f0f0fu, QTC_N128, lo[h], lo[2 + h]);
            codes((qb >> sh) & 0x0f0f0f0fu, QTC_N128, hi[h], hi[2 + h]);
            const uint32_t dd = *(const uint32_t *)sb;
            float sc, mn;
            k4(sb + 4, b, &sc, &mn);
            d[h] = f16((uint16_t)dd) * sc;
            m[h] = f16((uint16_t)(dd >> 16)) * mn;
        }
    }
};

/* MLX affine 4-bit: 16 code bytes a 32-value block, value j in nibble
 * j % 8 of word j / 8 (low nibble first); each value scale * code + bias
 * of its group.  Lane (g, t) takes byte t of the block's four words: its
 * nibbles are values 2t and 2t + 1 of words 0 .. 3 (values 0 .. 7, 8 ..
 * 15, 16 .. 23, 24 .. 31). */
template <> struct G2<MLXC_QMMF_AFFINE> {
    static constexpr uint32_t STEP = G2_BK / 2, SRC = STEP, BLOCKS = G2_BK / 32;
    static constexpr bool MIN = true, SIDE = true, SPLIT = false;
    /* byte t of q (zeros above) as the bf16 pair (low nibble, high nibble) */
    __device__ static uint32_t pair(uint32_t q, uint32_t sel) {
        const uint32_t v = __byte_perm(q, 0u, sel);
        return bsub(lop_nib(v * 0x1001u), QTC_N128); /* nibble 1 to bits 16 .. 19 */
    }
    __device__ static void frag(const uint8_t *r0, const uint8_t *r1, const uint8_t *s0, const uint8_t *s1,
                                const G2Side &sd, uint32_t b, uint32_t t, uint32_t (&lo)[4], uint32_t (&hi)[4],
                                float (&d)[2], float (&m)[2]) {
        const uint32_t sel = 0x4440u | t, gi = b >> sd.gsh;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const uint4 q = *(const uint4 *)((h ? r1 : r0) + 16 * b);
            lo[h] = pair(q.x, sel), lo[2 + h] = pair(q.y, sel);
            hi[h] = pair(q.z, sel), hi[2 + h] = pair(q.w, sel);
            const uint8_t *sr = h ? s1 : s0;
            d[h] = scale_at(sr, sd.sd, gi);
            m[h] = -scale_at(sr + sd.bb, sd.sd, gi);
        }
    }
};

/* Q6_K: a k step is one super-block (ql[128], qh[64], scales[16] int8, d)
 * of 210 bytes, so a row's step starts 2-byte aligned only: it is copied
 * as the 14 16-byte units from the one at or below its start (SRC bytes
 * read, STEP bytes a row of the stage) and read from its offset there.
 * Block b is half b / 4 (128 values), quarter j = b % 4 of it: value l
 * (< 32) is the nibble (high for j >= 2) of ql[64 (b / 4) + 32 (j % 2) + l]
 * with bits 2j of qh[32 (b / 4) + l] above it, minus 32; values 0 .. 15
 * take scales[8 (b / 4) + 2j], 16 .. 31 the next one (d lo and hi). */
template <> struct G2<MLXC_QMMF_Q6_K> {
    static constexpr uint32_t STEP = 224, SRC = 210, BLOCKS = 8;
    static constexpr bool MIN = false, SIDE = false, SPLIT = true;
    __device__ static void frag(const uint8_t *r0, const uint8_t *r1, const uint8_t *, const uint8_t *, const G2Side &,
                                uint32_t b, uint32_t t, uint32_t (&lo)[4], uint32_t (&hi)[4], float (&d)[2],
                                float (&dh)[2]) {
        const uint32_t half = b >> 2, j = b & 3u, sh = 4 * (j >> 1), hs = 2 * j;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const uint8_t *sb = h ? r1 : r0;
            const uint16_t *ql = (const uint16_t *)(sb + 64 * half + 32 * (j & 1u)), *qh = (const uint16_t *)(sb + 128 + 32 * half);
            const uint32_t la = __byte_perm(ql[t], ql[t + 4], 0x5410), lb = __byte_perm(ql[t + 8], ql[t + 12], 0x5410);
            const uint32_t ha = __byte_perm(qh[t], qh[t + 4], 0x5410), hb = __byte_perm(qh[t + 8], qh[t + 12], 0x5410);
            codes(((la >> sh) & 0x0f0f0f0fu) | (((ha >> hs) & 0x03030303u) << 4), QTC_N160, lo[h], lo[2 + h]);
            codes(((lb >> sh) & 0x0f0f0f0fu) | (((hb >> hs) & 0x03030303u) << 4), QTC_N160, hi[h], hi[2 + h]);
            const uint32_t s2 = *(const uint16_t *)(sb + 192 + 8 * half + 2 * j);
            const float dd = ld16a(sb + 208);
            d[h] = dd * (float)(int8_t)(s2 & 255u);
            dh[h] = dd * (float)(int8_t)(s2 >> 8);
        }
    }
};

/* acc[i][j] += A(lo, hi) . B(x lo, x hi), the block's two k16 halves
 * summed apart (c) and scaled by d of rows g (c0, c1) and g + 8. */
__device__ __forceinline__ void g2_mma(float (&acc)[4], const uint32_t (&lo)[4], const uint32_t (&hi)[4],
                                       const uint32_t (&xb)[4], const float (&d)[2]) {
    float c[4];
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%10, %10, %10, %10};"
        : "=f"(c[0]), "=f"(c[1]), "=f"(c[2]), "=f"(c[3])
        : "r"(lo[0]), "r"(lo[1]), "r"(lo[2]), "r"(lo[3]), "r"(xb[0]), "r"(xb[1]), "f"(0.0f));
    qg_mma(c, hi, xb[2], xb[3]);
    acc[0] = fmaf(d[0], c[0], acc[0]);
    acc[1] = fmaf(d[0], c[1], acc[1]);
    acc[2] = fmaf(d[1], c[2], acc[2]);
    acc[3] = fmaf(d[1], c[3], acc[3]);
}
/* The formats with a min: acc -= m (rows g, g + 8) x the block's x sums
 * of slots 2t, 2t + 1 (cs). */
__device__ __forceinline__ void g2_min(float (&acc)[4], const float (&m)[2], const float (&cs)[2]) {
    acc[0] = fmaf(-m[0], cs[0], acc[0]);
    acc[1] = fmaf(-m[0], cs[1], acc[1]);
    acc[2] = fmaf(-m[1], cs[0], acc[2]);
    acc[3] = fmaf(-m[1], cs[1], acc[3]);
}

/* The formats with a scale a k16 half (Q6_K): acc += d . A(lo) B(x lo) +
 * dh . A(hi) B(x hi), rows g (c0, c1) and g + 8. */
__device__ __forceinline__ void g2_mma2(float (&acc)[4], const uint32_t (&lo)[4], const uint32_t (&hi)[4],
                                        const uint32_t (&xb)[4], const float (&d)[2], const float (&dh)[2]) {
    float c[4] = {0, 0, 0, 0}, e[4] = {0, 0, 0, 0};
    qg_mma(c, lo, xb[0], xb[1]);
    qg_mma(e, hi, xb[2], xb[3]);
    acc[0] = fmaf(dh[0], e[0], fmaf(d[0], c[0], acc[0]));
    acc[1] = fmaf(dh[0], e[1], fmaf(d[0], c[1], acc[1]));
    acc[2] = fmaf(dh[1], e[2], fmaf(d[1], c[2], acc[2]));
    acc[3] = fmaf(dh[1], e[3], fmaf(d[1], c[3], acc[3]));
}

/* W warps of G2_BN / W weight rows each (MI m16 tiles); the stages that
 * fit the dynamic shared memory, 2 to 4. */
template <int F>
__device__ __forceinline__ void qmoeg2(const uint16_t *__restrict__ x, const uint8_t *__restrict__ w,
                                       const uint8_t *__restrict__ scales, const uint8_t *__restrict__ biases,
                                       const uint32_t *__restrict__ offsets, const uint32_t *__restrict__ perm,
                                       uint16_t *__restrict__ y, const mlxc_p_qmoe &mp) {
    extern __shared__ __align__(128) unsigned char qg_smem[];
    __shared__ uint32_t sl[G2_BM], xr[G2_BM], unit[3];
    const mlxc_p_qmatmul &p = mp.q;
    /* a stage: the codes (CB), the scales and the biases (SBH bytes a
     * row each), then x */
    constexpr uint32_t W = MLXC_QMOEG2_THREADS / 32, NT = 32 * W, MI = G2_BN / 16 / W, STEP = G2<F>::STEP;
    constexpr uint32_t CB = G2_BN * STEP, WCH = CB / 16, XCH = G2_BM * G2_BK / 8;
    static_assert(STEP % 16 == 0 && MI >= 1 && G2_BM * G2_BN * 2 <= CB + G2_BM * G2_BK * 2, "whole chunks; y fits");
    const uint32_t SBH = mlxc_qmoeg2_side_step(p.format, p.group, p.sdtype), WB = CB + 2 * G2_BN * SBH;
    const uint32_t STAGE = WB + G2_BM * G2_BK * 2, S = dyn_smem() / STAGE < 4 ? dyn_smem() / STAGE : 4;
    const G2Side sd = {G2_BN * SBH, p.sdtype, p.group == 128 ? 2u : p.group == 64 ? 1u : 0u};
    const uint32_t n = p.n, k = p.k, slots = p.m, E = mp.experts, rb = p.row_bytes;
    const uint32_t tid = threadIdx.x, lane = tid & 31u, warp = tid >> 5, gq = lane >> 2, t = lane & 3u;
    const uint32_t tn = (n + G2_BN - 1) / G2_BN, nk = k / G2_BK;
    const uint32_t sbase = (uint32_t)__cvta_generic_to_shared(qg_smem);
    const bool yvec = n % 8 == 0 && !((uintptr_t)y & 15);
    for (uint64_t u = blockIdx.x; u < mlxc_qmoeg2_units(slots, E, n); u += gridDim.x) {
        const uint32_t mt = (uint32_t)(u / tn), c0 = (uint32_t)(u % tn) * G2_BN;
        if (warp == 0) {
            uint32_t g = 0, lo = 0, hi = 0;
            const bool any = qg_find<G2_BM>(offsets, E, slots, mt, lane, g, lo, hi);
            if (lane == 0) unit[0] = any ? g : 0xffffffffu, unit[1] = lo, unit[2] = hi;
        }
        __syncthreads();
        const uint32_t g = unit[0], lo = unit[1], sr = unit[2] - lo < G2_BM ? unit[2] - lo : G2_BM;
        if (g == 0xffffffffu) break; /* units only grow past the last tile */
        if (tid < G2_BM) {
            const uint32_t s_ = tid < sr ? perm[lo + tid] : 0xffffffffu;
            sl[tid] = s_;
            xr[tid] = s_ < slots ? s_ / mp.topk : 0xffffffffu;
        }
        __syncthreads();
        const uint32_t nr = g < E ? (n - c0 < G2_BN ? n - c0 : G2_BN) : 0;

        float acc[MI][4][4];
#pragma unroll
        for (int i = 0; i < (int)MI; i++)
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

        if (nr) {
            const uint8_t *wt = w + ((uint64_t)g * n + c0) * rb, *wend = w + (uint64_t)E * n * rb;
            /* where row r's step kt starts in its stage row: the offset
             * of its bytes in their 16-byte unit (w is 16-byte aligned) */
            const uint32_t wt32 = (uint32_t)(uintptr_t)wt;
            auto at = [&](uint32_t r, uint32_t kt) -> uint32_t {
                return G2<F>::SRC == STEP ? 0u : (wt32 + r * rb + kt * G2<F>::SRC) & 15u;
            };
            auto load = [&](uint32_t kt) {
                const uint32_t s_ = sbase + (kt % S) * STAGE;
#pragma unroll
                for (uint32_t q = 0; q < (WCH + NT - 1) / NT; q++) {
                    const uint32_t c = tid + q * NT, r = c / (STEP / 16), o = c % (STEP / 16) * 16;
                    if (WCH % NT && c >= WCH) break;
                    const bool v = r < nr;
                    if constexpr (G2<F>::SRC == STEP) {
                        qg_cp16(s_ + r * STEP + o, v ? (const void *)(wt + (uint64_t)r * rb + kt * STEP + o) : (const void *)w, v);
                    } else {
                        /* the unit o of those at or below the row's SRC bytes,
                         * whole (the bytes past the step are never read from
                         * the slot) but at the weight's end (cp16_upto) */
                        const uint8_t *a = wt + (uint64_t)r * rb + kt * G2<F>::SRC;
                        const uint8_t *u = (const uint8_t *)((uintptr_t)a & ~(uintptr_t)15) + o;
                        const uint32_t left = (uint32_t)(a + G2<F>::SRC - u);
                        if (v) cp16_upto(qg_smem + (s_ - sbase) + r * STEP + o, u, left < 16 ? left : 16u, wend);
                        else qg_cp16(s_ + r * STEP + o, w, false);
                    }
                }
                if constexpr (G2<F>::SIDE) {
                    /* SBH / 4 words a row of the scales, then of the biases */
                    const uint32_t wr = SBH / 4, gr = k / G2_BK * SBH; /* a row's bytes of scales */
                    for (uint32_t c = tid; c < 2 * G2_BN * wr; c += NT) {
                        const uint32_t a = c / (G2_BN * wr), r = c % (G2_BN * wr) / wr, o = c % wr * 4;
                        const bool v = r < nr;
                        const uint8_t *src = (a ? biases : scales) + ((uint64_t)g * n + c0 + r) * gr + kt * SBH + o;
                        asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(s_ + CB + a * G2_BN * SBH + r * SBH + o),
                                     "l"(v ? (const void *)src : (const void *)scales), "r"(v ? 4 : 0) : "memory");
                    }
                }
#pragma unroll
                for (uint32_t q = 0; q < (XCH + NT - 1) / NT; q++) {
                    const uint32_t c = tid + q * NT, r = c / (G2_BK / 8), cc = c % (G2_BK / 8);
                    if (XCH % NT && c >= XCH) break;
                    const uint32_t xrow = xr[r];
                    const bool v = xrow != 0xffffffffu;
                    qg_cp16(s_ + WB + r * (G2_BK * 2) + ((cc ^ (r & 7u)) << 4),
                            v ? (const void *)(x + (uint64_t)xrow * k + kt * G2_BK + cc * 8) : (const void *)x, v);
                }
            };
            for (uint32_t s_ = 0; s_ + 1 < S; s_++) {
                if (s_ < nk) load(s_);
                asm volatile("cp.async.commit_group;" ::: "memory");
            }
            for (uint32_t kt = 0; kt < nk; kt++) {
                /* stage kt is in once at most S - 2 later groups are pending */
                if (S == 2) asm volatile("cp.async.wait_group 0;" ::: "memory");
                else if (S == 3) asm volatile("cp.async.wait_group 1;" ::: "memory");
                else asm volatile("cp.async.wait_group 2;" ::: "memory");
                __syncthreads(); /* stage kt is in; stage kt - 1 is free */
                if (kt + S - 1 < nk) load(kt + S - 1);
                asm volatile("cp.async.commit_group;" ::: "memory");
                const unsigned char *wsb = qg_smem + (kt % S) * STAGE;
                const uint32_t xs = sbase + (kt % S) * STAGE + WB;
#pragma unroll 2
                for (uint32_t b = 0; b < G2<F>::BLOCKS; b++) {
                    uint32_t xb[4][4];
#pragma unroll
                    for (int j = 0; j < 4; j++) {
                        const uint32_t r = j * 8 + (lane & 7u);
                        qg_ldm4(xs + r * (G2_BK * 2) + (((4 * b + (lane >> 3)) ^ (r & 7u)) << 4), xb[j]);
                    }
                    float cs[4][2]; /* the block's x sums of slots 8j + 2t, + 1 */
                    if constexpr (G2<F>::MIN) {
                        const uint32_t ones[4] = {0x3f803f80u, 0x3f803f80u, 0x3f803f80u, 0x3f803f80u};
#pragma unroll
                        for (int j = 0; j < 4; j++) {
                            float c[4] = {0, 0, 0, 0};
                            qg_mma(c, ones, xb[j][0], xb[j][1]);
                            qg_mma(c, ones, xb[j][2], xb[j][3]);
                            cs[j][0] = c[0], cs[j][1] = c[1];
                        }
                    }
#pragma unroll
                    for (int i = 0; i < (int)MI; i++) {
                        uint32_t lo4[4], hi4[4];
                        float d[2], m[2];
                        const uint32_t r0 = warp * (G2_BN / W) + 16 * i + gq;
                        G2<F>::frag(wsb + r0 * STEP + at(r0, kt), wsb + (r0 + 8) * STEP + at(r0 + 8, kt),
                                    wsb + CB + r0 * SBH, wsb + CB + (r0 + 8) * SBH, sd, b, t, lo4, hi4, d, m);
#pragma unroll
                        for (int j = 0; j < 4; j++) {
                            if constexpr (G2<F>::SPLIT) g2_mma2(acc[i][j], lo4, hi4, xb[j], d, m);
                            else g2_mma(acc[i][j], lo4, hi4, xb[j], d);
                            if constexpr (G2<F>::MIN) g2_min(acc[i][j], m, cs[j]);
                        }
                    }
                }
            }
            asm volatile("cp.async.wait_group 0;" ::: "memory");
        }
        /* C: rows (128 / W) w + 16i + gq (+ 8), slots 8j + 2t (+ 1), as
         * bf16 into a (slot, row) tile over the stages, then whole rows of
         * y; the tail's slots get zero rows */
        __syncthreads(); /* every warp is past its last stage */
        uint16_t *yt = (uint16_t *)qg_smem;
#pragma unroll
        for (int i = 0; i < (int)MI; i++)
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const uint32_t r = warp * (G2_BN / W) + 16 * i + gq + 8 * (e >> 1), si = 8 * j + 2 * t + (e & 1);
                    yt[si * G2_BN + r] = __bfloat16_as_ushort(__float2bfloat16_rn(acc[i][j][e]));
                }
        __syncthreads();
        const uint32_t rows = n - c0 < G2_BN ? n - c0 : G2_BN;
        for (uint32_t c = tid; c < G2_BM * (G2_BN / 8); c += NT) {
            const uint32_t si = c / (G2_BN / 8), r0 = c % (G2_BN / 8) * 8, slot = sl[si];
            if (si >= sr || slot >= slots || r0 >= rows) continue;
            uint16_t *dst = y + (uint64_t)slot * n + c0 + r0;
            if (yvec && r0 + 8 <= rows) *(uint4 *)dst = *(const uint4 *)(yt + si * G2_BN + r0);
            else
                for (uint32_t q = 0; q < 8 && r0 + q < rows; q++) dst[q] = yt[si * G2_BN + r0 + q];
        }
        __syncthreads(); /* sl, xr, unit and the stages are rewritten by the next unit */
    }
}

template <int F, int B, typename Y>
__device__ __forceinline__ void qmoegt(const uint16_t *__restrict__ x, const uint8_t *__restrict__ w,
                                       const void *__restrict__ scales, const void *__restrict__ biases,
                                       const uint32_t *__restrict__ offsets, const uint32_t *__restrict__ perm,
                                       Y *__restrict__ y, const mlxc_p_qmoe &mp) {
    extern __shared__ __align__(128) unsigned char qg_smem[];
    __shared__ uint32_t sl[QG_BM], unit[3];
    const mlxc_p_qmatmul &p = mp.q;
    const uint32_t n = p.n, k = p.k, slots = p.m, E = mp.experts;
    const bool tiled = blockDim.y * blockDim.z == 1 && k % 8 == 0 && !((uintptr_t)x & 15);
    if constexpr (sizeof(Y) == 2 && (F == MLXC_QMMF_Q4_0 || F == MLXC_QMMF_Q4_K || F == MLXC_QMMF_Q6_K ||
                                     (F == MLXC_QMMF_AFFINE && B == 4))) {
        /* Q6_K's rows are read from the 16-byte units around them */
        if (tiled && blockDim.x == MLXC_QMOEG2_THREADS && mlxc_qmoeg2_takes(F, B, p.group, k) &&
            dyn_smem() >= 2 * mlxc_qmoeg2_stage(F, B, p.group, p.sdtype) && !((uintptr_t)w & 15) &&
            (p.row_bytes % 16 == 0 || F == MLXC_QMMF_Q6_K) && !((uintptr_t)scales & 3) && !((uintptr_t)biases & 3)) {
            qmoeg2<F>(x, w, (const uint8_t *)scales, (const uint8_t *)biases, offsets, perm, y, mp);
            return;
        }
    }
    if (!tiled || blockDim.x != QG_NT || dyn_smem() < MLXC_QMOEGT_SMEM) {
        qmoegt_plain<F, B>(x, w, scales, biases, offsets, perm, y, mp);
        return;
    }
    const uint32_t tid = threadIdx.x, lane = tid & 31u, warp = tid >> 5, wm = warp >> 1, wn = warp & 1u;
    const uint32_t tn = (n + QG_BN - 1) / QG_BN, nk = (k + QG_BK - 1) / QG_BK;
    const uint32_t sbase = (uint32_t)__cvta_generic_to_shared(qg_smem);
    for (uint64_t u = blockIdx.x; u < mlxc_qmoegt_units(slots, E, n); u += gridDim.x) {
        const uint32_t mt = (uint32_t)(u / tn), c0 = (uint32_t)(u % tn) * QG_BN;
        if (warp == 0) {
            uint32_t g = 0, lo = 0, hi = 0;
            const bool any = qg_find(offsets, E, slots, mt, lane, g, lo, hi);
            if (lane == 0) unit[0] = any ? g : 0xffffffffu, unit[1] = lo, unit[2] = hi;
        }
        __syncthreads();
        const uint32_t g = unit[0], lo = unit[1], sr = unit[2] - lo < QG_BM ? unit[2] - lo : QG_BM;
        if (g == 0xffffffffu) break; /* units only grow past the last tile */
        if (tid < QG_BM) sl[tid] = tid < sr ? perm[lo + tid] : 0xffffffffu;
        __syncthreads();
        const uint32_t nr = g < E ? (n - c0 < QG_BN ? n - c0 : QG_BN) : 0;

        float acc[2][4][4];
#pragma unroll
        for (int i = 0; i < 2; i++)
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

        if (nr) {
            /* thread's four chunks of each operand: rows tid / 8 + 16 q, chunk tid % 8 */
            const uint32_t cc = tid & 7u, r0 = tid >> 3;
            auto load_x = [&](uint32_t s, uint32_t kt) {
                const uint32_t a_s = sbase + s * QG_STAGE, gk = kt * QG_BK + cc * 8;
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    const uint32_t r = r0 + 16 * q, slot = sl[r];
                    const bool v = slot < slots && gk < k;
                    qg_cp16(a_s + qg_swz(r, cc), v ? (const void *)(x + (uint64_t)(slot / mp.topk) * k + gk) : (const void *)x, v);
                }
            };
            auto deq_w = [&](uint32_t kt, uint4 (&wv)[4]) {
                const uint32_t gk = kt * QG_BK + cc * 8;
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    const uint32_t r = r0 + 16 * q;
                    float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                    if (r < nr && gk < k) deq8<F, B>(w, scales, biases, p, g * n + c0 + r, gk, v);
                    wv[q] = qvf_pack8(v);
                }
            };
            auto store_w = [&](uint32_t s, const uint4 (&wv)[4]) {
                unsigned char *b_s = qg_smem + s * QG_STAGE + QG_BM * QG_BK * 2;
#pragma unroll
                for (int q = 0; q < 4; q++) *(uint4 *)(b_s + qg_swz(r0 + 16 * q, cc)) = wv[q];
            };
            uint4 wv[4];
            load_x(0, 0);
            asm volatile("cp.async.commit_group;" ::: "memory");
            deq_w(0, wv);
            store_w(0, wv);
            for (uint32_t kt = 0; kt < nk; kt++) {
                asm volatile("cp.async.wait_group 0;" ::: "memory");
                __syncthreads(); /* stage kt is complete; stage kt + 1 is free */
                const bool more = kt + 1 < nk;
                if (more) {
                    load_x((kt + 1) & 1u, kt + 1);
                    deq_w(kt + 1, wv);
                }
                asm volatile("cp.async.commit_group;" ::: "memory");
                const uint32_t a_s = sbase + (kt & 1u) * QG_STAGE, b_s = a_s + QG_BM * QG_BK * 2;
#pragma unroll
                for (uint32_t kk = 0; kk < QG_BK / 16; kk++) {
                    uint32_t a[2][4], b[4][2];
#pragma unroll
                    for (int mi = 0; mi < 2; mi++)
                        qg_ldm4(a_s + qg_swz(wm * 32 + mi * 16 + (lane & 15u), kk * 2 + (lane >> 4)), a[mi]);
#pragma unroll
                    for (int nj = 0; nj < 2; nj++) {
                        uint32_t t4[4];
                        qg_ldm4(b_s + qg_swz(wn * 32 + nj * 16 + (lane & 7u) + ((lane >> 4) << 3),
                                             kk * 2 + ((lane >> 3) & 1u)),
                                t4);
                        b[2 * nj][0] = t4[0], b[2 * nj][1] = t4[1], b[2 * nj + 1][0] = t4[2], b[2 * nj + 1][1] = t4[3];
                    }
#pragma unroll
                    for (int mi = 0; mi < 2; mi++)
#pragma unroll
                        for (int ni = 0; ni < 4; ni++) qg_mma(acc[mi][ni], a[mi], b[ni][0], b[ni][1]);
                }
                if (more) store_w((kt + 1) & 1u, wv);
            }
            asm volatile("cp.async.wait_group 0;" ::: "memory");
        }
        /* the tail's slots get zero rows */
#pragma unroll
        for (int mi = 0; mi < 2; mi++)
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const uint32_t i = wm * 32 + mi * 16 + (lane >> 2) + 8 * h, slot = sl[i];
                if (i >= sr || slot >= slots) continue;
#pragma unroll
                for (int ni = 0; ni < 4; ni++) {
                    const uint32_t c = c0 + wn * 32 + ni * 8 + (lane & 3u) * 2;
                    if (c < n) sty(y, (uint64_t)slot * n + c, acc[mi][ni][2 * h]);
                    if (c + 1 < n) sty(y, (uint64_t)slot * n + c + 1, acc[mi][ni][2 * h + 1]);
                }
            }
        __syncthreads(); /* sl, unit and the stages are rewritten by the next unit */
    }
}

/* ---------------------------------------------------------------------------
 * qmvr: the fused mat-vec over int8 activations (MLXC_QMVF_ACT_Q8), MLX
 * affine 4- and 8-bit, Q4_K, Q5_K and Q6_K.  The ring walks above spend 2.5 or more
 * instructions a weight and stream x' from shared memory for every row; a
 * chain of plain reads of the same sizes reaches 90% of copy bandwidth
 * (bench/cuda/read_ceiling.cu), the ring walk 36%.  Here each warp holds
 * x' for its slice of k (4096 values) in registers, as int8, for the
 * whole kernel, and walks rows RR at a time: a row's unit of codes is one
 * coalesced 16-byte load a lane, its products 4 or 8 dp4a.  Slices of a
 * row (k > 4096) meet in shared memory, double-buffered so a tile costs
 * one barrier.  Pipelined (MLXC_QMVR_PIPE_IN: affine 4-bit, Q4_K, Q6_K) a
 * warp walks one row at a time and loads the next tile's weights into a
 * second register set before this tile's products, the first tile before
 * the kernel waits for the one before it; otherwise two rows at a time,
 * the first tile prefetched into L2 before that wait.  Launch:
 * mlxc_qmvr_takes, 32
 * MLXC_QMVR_WARPS threads, mlxc_qmvr_smem_bytes(k) of shared memory,
 * tiles of mlxc_qmvr_rows rows.
 *
 * A lane's unit j is u = cb + 32 j of a row's units:
 * - affine 4-bit: the 16 code bytes of values 32u .. 32u + 31 (bytes 16u
 *   of the row; the even values in the low nibbles), scale and bias of
 *   group u >> GSH; x' is stored even values apart from odd ones.
 * - affine 8-bit: the 16 codes of values 16u .. 16u + 15, twice the units
 *   a lane (JJ = 2 J) and half the rows at a time (MLXC_QMVR_R8), the same
 *   bytes in flight; x' in order.
 * - Q4_K: 16-byte piece u % 8 of super-block u / 8 (144 bytes: d, dmin,
 *   12 bytes of scales, 128 of codes).  Piece 2j + h holds in its low
 *   nibbles values 64j + 16h .. + 15 of the super-block (sub-block 2j) and
 *   in its high nibbles the 16 values 32 further (sub-block 2j + 1); the
 *   lane also loads the super-block's first 16 bytes (d, dmin, scales: one
 *   load for the 8 lanes of a super-block).  x' is stored in order.  Units
 *   a lane holds are 4 super-blocks (576 bytes) apart, and its piece of a
 *   super-block is the same in each.
 * - Q5_K: as Q4_K in 176-byte super-blocks (d, dmin, scales, then 32
 *   bytes of fifth bits, then the codes): piece u % 8 at 48 + 16 (u % 8),
 *   and the 16 fifth-bit bytes of its values at 16 + 16 (u % 2) (bits
 *   2j and 2j + 1 for sub-blocks 2j, 2j + 1), one row at a time
 *   (MLXC_QMVR_R8: three 16-byte loads a unit).
 * - Q6_K: 210-byte super-blocks (ql[128] low nibbles, qh[64] top bits,
 *   16 int8 scales, d), 2-byte aligned, so a unit is read as 4-byte words
 *   from the aligned word at or below it and shifted 2 bytes where the
 *   super-block is not 4-byte aligned (the last word only then, so no
 *   read leaves the super-block's words).  Unit u % 8 = 4 h + a of
 *   super-block u / 8 holds l = 8a .. 8a + 7 of half h: values
 *   128 h + 32 qu + l for qu = 0 .. 3 are the low nibbles of ql[64 h + l]
 *   (qu 0) and ql[64 h + 32 + l] (qu 1), their high nibbles (qu 2, 3),
 *   each with bits 2 qu of qh[32 h + l] above it, minus 32, times
 *   scales[8 h + 2 qu + a / 2] and d: three 8-byte pieces, the 8 scale
 *   bytes of half h and d, 13 words a unit, MLXC_QMVR_J6 units a lane.
 *   x' in order; a unit's x' is 8 values of 4 blocks of 32, each with
 *   its scale and -32 times its code sum (the dot's start).
 * ------------------------------------------------------------------------- */
template <int SD> __device__ __forceinline__ float qmvr_sc(uint16_t h) { return SD == MLXC_QS_F16 ? f16(h) : bf16(h); }

/* A Q6_K unit's words: 3 of each 8-byte piece (ql at 64 h + 8 a and 32
 * further, qh at 128 + 32 h + 8 a), 3 of the scales of half h, d. */
struct Q6u {
    uint32_t w[9], s[3];
    uint16_t d;
};
/* The 8 bytes from word i of a Q6_K window, shifted by al (0 or 16) bits */
__device__ __forceinline__ uint2 q6_piece(const uint32_t *w, uint32_t al) {
    return make_uint2(__funnelshift_r(w[0], w[1], al), __funnelshift_r(w[1], w[2], al));
}

/* JX: JX units a lane and J R / JX rows a warp at a time (J the format's
 * units a lane, mlxc_qmvr_j; mlxc_qmoer_rows the same rule): 1 the
 * expert walk's short rows (mlxc_qmoer_j), the same loads in flight; 0
 * the default walk. */
template <int F, int BITS, int SD, int GSH, int JX = 0, typename Y = uint16_t, uint32_t OTH = 0>
__device__ __forceinline__ void qmvr(const uint16_t *__restrict__ x, const QFuse *fz, const uint8_t *__restrict__ w,
                                     const uint16_t *__restrict__ sc, const uint16_t *__restrict__ bi,
                                     Y *__restrict__ y, const mlxc_p_qmatmul &p, QtcRed &red, uint8_t *smem,
                                     QBlk bk = qblk()) {
    /* K4: a 16-byte K-quant walk (Q4_K, or Q5_K with K5); K6 Q6_K's */
    constexpr bool K5 = F == MLXC_QMMF_Q5_K, K4 = F == MLXC_QMMF_Q4_K || K5, K6 = F == MLXC_QMMF_Q6_K,
                   A8 = F == MLXC_QMMF_AFFINE && BITS == 8;
    static_assert(K4 || K6 || (F == MLXC_QMMF_AFFINE && (BITS == 4 || BITS == 8)),
                  "qmvr: MLX affine 4/8-bit, Q4_K, Q5_K, Q6_K");
    static_assert(JX == 0 || MLXC_QMVR_SHORT(F, BITS), "qmvr: short rows for the walks MLXC_QMVR_SHORT names");
    /* PIPE: a row a warp at a time, the next tile's loads issued before
     * this tile's products (two register sets; MLXC_QMVR_PIPE_IN, OTH the
     * walk beside it) */
    constexpr bool PIPE = JX == 0 && MLXC_QMVR_PIPE_IN(F, BITS, OTH);
    constexpr int JF = K6 ? MLXC_QMVR_J6 : MLXC_QMVR_J, J = JX ? JX : JF, JJ = A8 ? 2 * J : J,
                  RR = JX ? JF * MLXC_QMVR_R / JX : PIPE ? 1 : A8 || K5 ? MLXC_QMVR_R8 : MLXC_QMVR_R;
    constexpr uint32_t SB = K6 ? 210 : K5 ? 176 : 144, QO = K5 ? 48 : 16; /* super-block bytes, its codes' offset */
    /* sizes of the arrays a walk does not use */
    constexpr int XO = A8 ? 1 : JJ, KM = K4 ? JJ : 1, K6M = K6 ? JJ : 1, QM = K6 ? 1 : JJ;
    /* units a scale group spans on a lane's next unit (group = 32 << GSH) */
    constexpr uint32_t JS = A8 ? 16u >> GSH : 32u >> GSH, GU = A8 ? GSH + 1 : GSH;
    constexpr uint32_t WJ = K4 || K6 ? 4 * SB : 512; /* row bytes between a lane's units */
    const uint32_t k = p.k, nch = A8 ? k / 16 : k / 32,
                   S = JX ? mlxc_qmvr_slices_j(k, JX) : mlxc_qmvr_slices(F, k), G = MLXC_QMVR_WARPS / S;
    const uint64_t n = p.n, rb = p.row_bytes, gpr = k >> (5 + GSH), tile = (uint64_t)G * RR;
    const uint32_t lane = threadIdx.x % 32, wi = threadIdx.x / 32, s = wi % S, gi = wi / S;
    /* the lane's unit j is cb + 32 j: code bytes cw + WJ j of a row (Q4_K:
     * its super-block's head at ch + WJ j), scale cs + JS j (affine) */
    const uint32_t cb = s * 32 * JJ + lane, cs = cb >> GU;
    const uint32_t ch = SB * (cb / 8), cw = K4 ? ch + QO + 16 * (cb % 8) : cb * 16, pj = cb % 8 / 2;
    const uint32_t cq = ch + 16 + 16 * (cb % 2); /* Q5_K: the fifth bits of the lane's values */
    /* Q6_K: the unit's half h and eighth a of it (unit cb % 8 = 4 h + a),
     * its words from the super-block's first: the three pieces' (o6) and
     * the scales' (os); sel6 picks its 4 scales of the 8 */
    const uint32_t h6 = cb % 8 / 4, a6 = cb % 4, o6[3] = {16 * h6 + 2 * a6, 16 * h6 + 2 * a6 + 8, 32 + 8 * h6 + 2 * a6},
                   os6 = 48 + 2 * h6, sel6 = a6 / 2 ? 0x7531u : 0x6420u;
    const bool active = gi < G;
    bool on[JJ]; /* the lane's unit j lies in the row */
#pragma unroll
    for (int j = 0; j < JJ; j++) on[j] = active && cb + 32 * j < nch;
    /* a tile's weights: rows t0 + gi RR .. (the last row for those past n) */
    struct Ld {
        uint4 q[RR][QM], hd[RR][KM], q5[RR][K5 ? JJ : 1];
        uint16_t hs[RR][K4 || K6 ? 1 : JJ], hb[RR][K4 || K6 ? 1 : JJ];
        Q6u q6[RR][K6M];
        uint32_t al6[RR]; /* Q6_K: the row's shift (the super-blocks' words) */
    };
    auto load = [&](Ld &L, uint64_t t0) {
        const uint64_t r0 = t0 + (uint64_t)gi * RR;
#pragma unroll
        for (int r = 0; r < RR; r++) {
            const uint64_t row = bk.base + (r0 + r < n ? r0 + r : n - 1);
            const uint8_t *wr = w + row * rb;
            const uintptr_t u6 = (uintptr_t)(wr + ch);
            L.al6[r] = (uint32_t)(u6 & 2) * 8;
#pragma unroll
            for (int j = 0; j < JJ; j++) {
                if constexpr (K6) {
                    /* units a lane holds are 4 super-blocks (210 words) apart */
                    const uint32_t *b4 = (const uint32_t *)(u6 & ~(uintptr_t)3) + 210 * j;
                    Q6u &o = L.q6[r][j];
#pragma unroll
                    for (int i = 0; i < 9; i++) o.w[i] = 0;
                    o.s[0] = o.s[1] = o.s[2] = 0, o.d = 0;
                    if (on[j]) {
#pragma unroll
                        for (int pc = 0; pc < 3; pc++) {
                            o.w[3 * pc] = __ldcs(b4 + o6[pc]), o.w[3 * pc + 1] = __ldcs(b4 + o6[pc] + 1);
                            if (L.al6[r]) o.w[3 * pc + 2] = __ldcs(b4 + o6[pc] + 2);
                        }
                        o.s[0] = __ldcs(b4 + os6), o.s[1] = __ldcs(b4 + os6 + 1);
                        if (L.al6[r]) o.s[2] = __ldcs(b4 + os6 + 2);
                        o.d = __ldcs((const unsigned short *)(u6 + 840 * j + 208));
                    }
                } else if constexpr (K4) {
                    L.q[r][j] = L.hd[r][j] = make_uint4(0, 0, 0, 0);
                    if (on[j])
                        L.q[r][j] = __ldcs((const uint4 *)(wr + cw + WJ * j)),
                        L.hd[r][j] = __ldcs((const uint4 *)(wr + ch + WJ * j));
                    if constexpr (K5) L.q5[r][j] = on[j] ? __ldcs((const uint4 *)(wr + cq + WJ * j)) : L.hd[r][j];
                } else {
                    const uint16_t *sr = sc + row * gpr + cs, *br = bi + row * gpr + cs;
                    L.q[r][j] = make_uint4(0, 0, 0, 0);
                    L.hs[r][j] = L.hb[r][j] = 0;
                    if (on[j]) {
                        L.q[r][j] = __ldcs((const uint4 *)(wr + cw + WJ * j));
                        L.hs[r][j] = __ldg(sr + JS * j), L.hb[r][j] = __ldg(br + JS * j);
                    }
                }
            }
        }
    };
    Ld cur;
    if constexpr (PIPE) {
        /* the first tile into registers: the weights do not depend on the
         * kernel before */
        if (active) load(cur, (uint64_t)bk.id * tile);
    } else {
        const uint64_t r0 = (uint64_t)bk.id * tile + (uint64_t)gi * RR;
#pragma unroll
        for (int r = 0; r < RR; r++)
#pragma unroll
            for (int j = 0; j < JJ; j++)
                if (r0 + r < n && on[j]) {
                    const uint8_t *u = w + (bk.base + r0 + r) * rb + (K6 ? ch : cw) + WJ * j;
                    asm volatile("prefetch.global.L2 [%0];" ::"l"(u + (K6 ? 64 * h6 + 8 * a6 : 0)));
                    if constexpr (K6) asm volatile("prefetch.global.L2 [%0];" ::"l"(u + 128 + 32 * h6 + 8 * a6));
                }
    }
    MLXC_PDL_WAIT();
    qvf_prologue<F, K4 || K6 ? 0 : BITS, true>(x, fz, k, (uint16_t *)smem, nullptr, red);
    const int8_t *xq = (const int8_t *)smem;
    const float2 *xd = (const float2 *)(smem + k);
    /* x' of unit j: affine 4-bit xe / xo the even / odd values' bytes, dx
     * the scale, dxs the scale times the code sum; 8-bit xe the 16 values,
     * dx their block's scale, dxs that times their code sum; Q4_K xe / xo
     * the low / high nibbles' 16 values, dx / dxs their scales (dxs over
     * 16: the high nibbles are multiplied unshifted), ml / mh the scales
     * times the code sums; Q6_K xe / xo the 8 values of blocks qu = 0, 1
     * / 2, 3 (two words each), d6 each block's scale, n6 -32 times its
     * code sum */
    int xe[JJ][4], xo[XO][4], n6[K6M][4];
    float dx[JJ], dxs[JJ], ml[KM], mh[KM], d6[K6M][4];
#pragma unroll
    for (int j = 0; j < JJ; j++) {
        const uint32_t c = cb + 32 * j;
        uint4 a = make_uint4(0, 0, 0, 0), b = a;
        float2 t = make_float2(0.0f, 0.0f), t2 = t;
        if constexpr (K4) {
            /* values 256 (c / 8) + 64 pj + 16 (c % 2), and 32 further */
            const uint32_t v0 = 256 * (c / 8) + 64 * pj + 16 * (c % 2), c0 = 8 * (c / 8) + 2 * pj;
            if (on[j]) a = *(const uint4 *)(xq + v0), b = *(const uint4 *)(xq + v0 + 32), t = xd[c0], t2 = xd[c0 + 1];
            xe[j][0] = (int)a.x, xe[j][1] = (int)a.y, xe[j][2] = (int)a.z, xe[j][3] = (int)a.w;
            xo[j][0] = (int)b.x, xo[j][1] = (int)b.y, xo[j][2] = (int)b.z, xo[j][3] = (int)b.w;
            int sl = 0, sh = 0;
#pragma unroll
            for (int i = 0; i < 4; i++) sl = __dp4a(xe[j][i], 0x01010101, sl), sh = __dp4a(xo[j][i], 0x01010101, sh);
            dx[j] = t.x, dxs[j] = K5 ? t2.x : t2.x * (1.0f / 16.0f), ml[j] = t.x * (float)sl, mh[j] = t2.x * (float)sh;
        } else if constexpr (K6) {
            /* values 256 (c / 8) + 128 h + 8 a + 32 qu */
            const uint32_t v0 = 256 * (c / 8) + 128 * h6 + 8 * a6;
#pragma unroll
            for (int qu = 0; qu < 4; qu++) {
                const uint2 v = on[j] ? *(const uint2 *)(xq + v0 + 32 * qu) : make_uint2(0, 0);
                if (qu < 2) xe[j][2 * qu] = (int)v.x, xe[j][2 * qu + 1] = (int)v.y;
                else xo[j][2 * qu - 4] = (int)v.x, xo[j][2 * qu - 3] = (int)v.y;
                d6[j][qu] = on[j] ? xd[v0 / 32 + qu].x : 0.0f;
                n6[j][qu] = -32 * __dp4a((int)v.x, 0x01010101, __dp4a((int)v.y, 0x01010101, 0));
            }
        } else if constexpr (A8) {
            if (on[j]) a = *(const uint4 *)(xq + 16 * c), t = xd[c / 2];
            xe[j][0] = (int)a.x, xe[j][1] = (int)a.y, xe[j][2] = (int)a.z, xe[j][3] = (int)a.w;
            int sm = 0;
#pragma unroll
            for (int i = 0; i < 4; i++) sm = __dp4a(xe[j][i], 0x01010101, sm);
            dx[j] = t.x, dxs[j] = t.x * (float)sm;
        } else {
            if (on[j]) a = ((const uint4 *)(xq + 32 * c))[0], b = ((const uint4 *)(xq + 32 * c))[1], t = xd[c];
            xe[j][0] = (int)a.x, xo[j][0] = (int)a.y, xe[j][1] = (int)a.z, xo[j][1] = (int)a.w;
            xe[j][2] = (int)b.x, xo[j][2] = (int)b.y, xe[j][3] = (int)b.z, xo[j][3] = (int)b.w;
            dx[j] = t.x, dxs[j] = t.y;
        }
    }
    float *part = &red.red[0][0][0]; /* [2][MLXC_QMVR_WARPS][RR] */
    uint32_t buf = 0;
    for (uint64_t t0 = (uint64_t)bk.id * tile; t0 < n; t0 += (uint64_t)bk.n * tile, buf ^= 1) {
        const uint64_t r0 = t0 + (uint64_t)gi * RR;
        Ld nx;
        if constexpr (PIPE) {
            if (active && t0 + (uint64_t)bk.n * tile < n) load(nx, t0 + (uint64_t)bk.n * tile);
        } else {
            load(cur, t0);
        }
        float acc[RR];
#pragma unroll
        for (int r = 0; r < RR; r++) {
            acc[r] = 0.0f;
#pragma unroll
            for (int j = 0; j < JJ; j++) {
                if constexpr (K6) {
                    /* per word i (4 values of l) the codes of blocks qu:
                     * low nibbles of ql (qu 0) and ql + 32 (qu 1), their
                     * high nibbles (qu 2, 3), qh's bits 2 qu above */
                    const Q6u &o = cur.q6[r][j];
                    const uint2 ql = q6_piece(o.w, cur.al6[r]), qm = q6_piece(o.w + 3, cur.al6[r]),
                                qh = q6_piece(o.w + 6, cur.al6[r]), s8 = q6_piece(o.s, cur.al6[r]);
                    const uint32_t scl = __byte_perm(s8.x, s8.y, sel6);
                    int dt[4] = {n6[j][0], n6[j][1], n6[j][2], n6[j][3]};
#pragma unroll
                    for (int i = 0; i < 2; i++) {
                        const uint32_t a = i ? ql.y : ql.x, b = i ? qm.y : qm.x, hb2 = i ? qh.y : qh.x;
                        dt[0] = __dp4a((int)((a & 0x0f0f0f0fu) | (hb2 << 4 & 0x30303030u)), xe[j][i], dt[0]);
                        dt[1] = __dp4a((int)((b & 0x0f0f0f0fu) | (hb2 << 2 & 0x30303030u)), xe[j][2 + i], dt[1]);
                        dt[2] = __dp4a((int)((a >> 4 & 0x0f0f0f0fu) | (hb2 & 0x30303030u)), xo[j][i], dt[2]);
                        dt[3] = __dp4a((int)((b >> 4 & 0x0f0f0f0fu) | (hb2 >> 2 & 0x30303030u)), xo[j][2 + i], dt[3]);
                    }
                    float t = 0.0f;
#pragma unroll
                    for (int qu = 0; qu < 4; qu++)
                        t = fmaf((float)(int8_t)(uint8_t)(scl >> (8 * qu)) * d6[j][qu], (float)dt[qu], t);
                    acc[r] = fmaf(f16(o.d), t, acc[r]);
                } else {
                    const uint32_t wd[4] = {cur.q[r][j].x, cur.q[r][j].y, cur.q[r][j].z, cur.q[r][j].w};
                    int lo = 0, hi = 0;
                    if constexpr (A8) {
#pragma unroll
                        for (int i = 0; i < 4; i++) lo = dp4a_us(wd[i], xe[j][i], lo);
                    } else if constexpr (K5) {
                        /* the codes with their fifth bits: bit 2 pj of a value's
                         * byte for the low nibbles, 2 pj + 1 for the high */
                        const uint32_t hw[4] = {cur.q5[r][j].x, cur.q5[r][j].y, cur.q5[r][j].z, cur.q5[r][j].w};
#pragma unroll
                        for (int i = 0; i < 4; i++) {
                            const uint32_t l5 = (wd[i] & 0x0f0f0f0fu) | (hw[i] >> (2 * pj) & 0x01010101u) << 4;
                            const uint32_t h5 = (wd[i] >> 4 & 0x0f0f0f0fu) | (hw[i] >> (2 * pj + 1) & 0x01010101u) << 4;
                            lo = dp4a_us(l5, xe[j][i], lo);
                            hi = dp4a_us(h5, xo[j][i], hi);
                        }
                    } else {
#pragma unroll
                        for (int i = 0; i < 4; i++) {
                            lo = dp4a_us(wd[i] & 0x0f0f0f0fu, xe[j][i], lo);
                            hi = dp4a_us(wd[i] & 0xf0f0f0f0u, xo[j][i], hi); /* 16 times the high nibbles */
                        }
                    }
                    if constexpr (A8) {
                        acc[r] = fmaf(qmvr_sc<SD>(cur.hs[r][j]), dx[j] * (float)lo,
                                      fmaf(qmvr_sc<SD>(cur.hb[r][j]), dxs[j], acc[r]));
                    } else if constexpr (K4) {
                        /* d sc q - dmin m per sub-block (k4_pair): the low
                         * nibbles' sub-block 2 pj, the high ones' 2 pj + 1 */
                        const uint4 h = cur.hd[r][j];
                        const uint32_t sm = k4_pair(h.y, h.z, h.w, pj);
                        const float d = f16((uint16_t)h.x), dmin = f16((uint16_t)(h.x >> 16));
                        const float t = fmaf((float)(sm & 0xff), dx[j] * (float)lo,
                                             (float)((sm >> 8) & 0xff) * (dxs[j] * (float)hi));
                        const float u = fmaf((float)((sm >> 16) & 0xff), ml[j], (float)(sm >> 24) * mh[j]);
                        acc[r] = fmaf(d, t, fmaf(-dmin, u, acc[r]));
                    } else {
                        acc[r] = fmaf(qmvr_sc<SD>(cur.hs[r][j]), dx[j] * (float)(lo + (hi >> 4)),
                                      fmaf(qmvr_sc<SD>(cur.hb[r][j]), dxs[j], acc[r]));
                    }
                }
            }
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
        }
        float v = acc[0];
#pragma unroll
        for (int r = 1; r < RR; r++) v = lane == (uint32_t)r ? acc[r] : v;
        if (S > 1) {
            if (active && lane < RR) part[(buf * MLXC_QMVR_WARPS + wi) * RR + lane] = v;
            __syncthreads();
            v = 0.0f;
            if (active && s == 0 && lane < RR)
                for (uint32_t i = 0; i < S; i++) v += part[(buf * MLXC_QMVR_WARPS + gi * S + i) * RR + lane];
        }
        if (active && s == 0 && lane < RR && r0 + lane < n) {
            const uint64_t o = r0 + lane;
            sty(y, o, fz->epi == MLXC_QMVF_ADD ? ldy(y, o) + rnd(y, v) : v);
        }
        if constexpr (PIPE) cur = nx;
    }
}
template <int BITS, int SD, int JX = 0, typename Y = uint16_t, uint32_t OTH = 0>
__device__ __forceinline__ void qmvr_g(const uint16_t *x, const QFuse *fz, const uint8_t *w, const uint16_t *sc,
                                       const uint16_t *bi, Y *y, const mlxc_p_qmatmul &p, QtcRed &red,
                                       uint8_t *smem, QBlk bk) {
    if (p.group == 32) qmvr<MLXC_QMMF_AFFINE, BITS, SD, 0, JX, Y, OTH>(x, fz, w, sc, bi, y, p, red, smem, bk);
    else if (p.group == 64) qmvr<MLXC_QMMF_AFFINE, BITS, SD, 1, JX, Y, OTH>(x, fz, w, sc, bi, y, p, red, smem, bk);
    else qmvr<MLXC_QMMF_AFFINE, BITS, SD, 2, JX, Y, OTH>(x, fz, w, sc, bi, y, p, red, smem, bk);
}
/* One int8-walk kernel's body: affine by the scales' dtype and group, the
 * K-quants with their f16 scales. */
template <int F, int BITS, int JX = 0, typename Y = uint16_t, uint32_t OTH = 0>
__device__ __forceinline__ void qmvr_run(const uint16_t *x, const QFuse *fz, const uint8_t *w, const uint16_t *sc,
                                         const uint16_t *bi, Y *y, const mlxc_p_qmatmul &p, QtcRed &red,
                                         uint8_t *smem, QBlk bk = qblk()) {
    if constexpr (F != MLXC_QMMF_AFFINE) qmvr<F, 0, MLXC_QS_F16, 0, JX, Y, OTH>(x, fz, w, sc, bi, y, p, red, smem, bk);
    else if (p.sdtype == MLXC_QS_F16) qmvr_g<BITS, MLXC_QS_F16, JX, Y, OTH>(x, fz, w, sc, bi, y, p, red, smem, bk);
    else qmvr_g<BITS, MLXC_QS_BF16, JX, Y, OTH>(x, fz, w, sc, bi, y, p, red, smem, bk);
}
/* A qmvr kernel's whole body (its own and qmvp's part a): the block's
 * reduction scratch and x' in shared memory, the fused prologue, the walk
 * (y bf16, or f32: the output head's logits). */
template <int F, int BITS, typename Y = uint16_t, uint32_t OTH = 0>
__device__ __forceinline__ void qmvr_kernel(const uint16_t *x, const uint16_t *aux, const uint16_t *g, const uint8_t *w,
                                            const void *scales, const void *biases, Y *y,
                                            const mlxc_p_qmvf &vp, QBlk bk = qblk()) {
    __shared__ __align__(16) QtcRed red;
    extern __shared__ __align__(16) uint8_t qvr_smem[];
    const QFuse fz = {aux, g, vp.pro, vp.epi, vp.eps};
    qmvr_run<F, BITS, 0, Y, OTH>(x, &fz, w, (const uint16_t *)scales, (const uint16_t *)biases, y, vp.q, red, qvr_smem,
                                 bk);
}

/* The greedy pick after the int8 walk stored f32 y (qmvr_F_bf16_f32_argmax,
 * mlxc_p_qmva): the block's rows (its tiles of `tile` rows, as qmvr
 * strides them) reduced to the largest non-NaN value and its first index,
 * then the sum of exp(y - that max) over them, into scratch; the last
 * block to count itself combines the blocks in order (the max, its first
 * index, the sums scaled to it) as mlxc_sample_softmax's greedy pick
 * does: token the first index of the largest non-NaN value (0 if none),
 * logprob y[token] - max - log(sum). */
__device__ __forceinline__ void qmv_best(float &m, uint32_t &i, float om, uint32_t oi) {
    if (om > m || (om == m && oi < i)) m = om, i = oi;
}
__device__ __forceinline__ void qmv_argmax(const float *y, uint32_t *__restrict__ token, float *__restrict__ logprob,
                                           uint32_t *scratch, const mlxc_p_qmva &pa, uint32_t tile) {
    __shared__ float wm[MLXC_QMVR_WARPS], ws[MLXC_QMVR_WARPS];
    __shared__ uint32_t wi[MLXC_QMVR_WARPS], last_sh;
    const uint64_t n = pa.v.q.n, ntile = (n + tile - 1) / tile;
    const uint64_t mine = blockIdx.x < ntile ? (ntile - 1 - blockIdx.x) / gridDim.x + 1 : 0;
    const uint32_t lane = threadIdx.x % 32, w = threadIdx.x / 32, nw = blockDim.x / 32;
    __syncthreads(); /* the block's stores of y */
    auto row = [&](uint64_t i) { return (blockIdx.x + i / tile * gridDim.x) * tile + i % tile; };
    float m = -INFINITY, sum = 0.0f;
    uint32_t mi = 0xffffffffu;
    for (uint64_t i = threadIdx.x; i < mine * tile; i += blockDim.x) {
        const uint64_t r = row(i);
        if (r < n) qmv_best(m, mi, __ldcg(y + r), (uint32_t)r);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        qmv_best(m, mi, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, mi, o));
    if (lane == 0) wm[w] = m, wi[w] = mi;
    __syncthreads();
    m = wm[0], mi = wi[0];
    for (uint32_t k = 1; k < nw; k++) qmv_best(m, mi, wm[k], wi[k]);
    for (uint64_t i = threadIdx.x; i < mine * tile; i += blockDim.x) {
        const uint64_t r = row(i);
        if (r < n && m > -INFINITY) sum += expf(__ldcg(y + r) - m);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (lane == 0) ws[w] = sum;
    __syncthreads();
    if (threadIdx.x == 0) {
        float t = 0.0f;
        for (uint32_t k = 0; k < nw; k++) t += ws[k];
        uint32_t *p = scratch + 1 + 4 * (uint64_t)blockIdx.x;
        p[0] = __float_as_uint(m), p[1] = __float_as_uint(t), p[2] = mi;
        __threadfence();
        last_sh = atomicAdd(scratch, 1u) == gridDim.x - 1;
    }
    __syncthreads();
    if (!last_sh || w != 0) return;
    __threadfence();
    float M = -INFINITY;
    uint32_t I = 0xffffffffu;
    for (uint32_t b = lane; b < gridDim.x; b += 32)
        qmv_best(M, I, __uint_as_float(__ldcg(scratch + 1 + 4 * b)), __ldcg(scratch + 3 + 4 * b));
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        qmv_best(M, I, __shfl_xor_sync(0xffffffffu, M, o), __shfl_xor_sync(0xffffffffu, I, o));
    float tot = 0.0f;
    for (uint32_t b = lane; b < gridDim.x; b += 32) {
        const float bm = __uint_as_float(__ldcg(scratch + 1 + 4 * b));
        if (bm > -INFINITY) tot += __uint_as_float(__ldcg(scratch + 2 + 4 * b)) * expf(bm - M);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) tot += __shfl_xor_sync(0xffffffffu, tot, o);
    if (lane == 0) {
        const uint32_t tok = I == 0xffffffffu ? 0u : I;
        token[0] = tok;
        if (pa.write_lp) logprob[0] = (__ldcg(y + tok) - M) - logf(tot);
        scratch[0] = 0u;
    }
}

/* The experts' combine after an expert-routed mat-vec whose grid.x block
 * owns tiles blockIdx.x, blockIdx.x + gridDim.x, ... of TR rows in every
 * pair (qmoec, qmoerc): each block counts itself in its counter (one per
 * token and grid.x block) after a fence; the last of the token's `group`
 * blocks with that grid.x has every pair's rows of those tiles and adds
 * their weighted sum to the residual with moe_combine's arithmetic (f32
 * sum in j's order, a pair whose id is past the experts adding w * 0,
 * rounded, plus the residual, rounded), then sets the counter back to
 * zero. */
__device__ __forceinline__ void qmoe_combine(const uint32_t *__restrict__ ids, const float *__restrict__ rw,
                                             const uint16_t *y, uint16_t *__restrict__ resid,
                                             uint32_t *__restrict__ ctr, const mlxc_p_qmoef &mp, uint32_t TR) {
    __shared__ uint32_t last_sh;
    const uint32_t G = mp.group, tok = blockIdx.y / G, n = mp.v.q.n;
    /* every pair's stores are seen once its fence precedes its count */
    uint32_t *c = ctr + (uint64_t)tok * gridDim.x + blockIdx.x;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) last_sh = atomicAdd(c, 1u) == G - 1;
    __syncthreads();
    if (!last_sh) return;
    __threadfence();
    const uint32_t *ti = ids + (uint64_t)tok * G;
    const float *tw = rw + (uint64_t)tok * G;
    const uint16_t *yt = y + (uint64_t)tok * G * n;
    uint16_t *rt = resid + (uint64_t)tok * n;
    const uint64_t ntile = (n + TR - 1) / TR;
    const uint64_t mine = blockIdx.x < ntile ? (ntile - 1 - blockIdx.x) / gridDim.x + 1 : 0;
    for (uint64_t i = threadIdx.x; i < mine * TR; i += blockDim.x) {
        const uint64_t r = (blockIdx.x + i / TR * gridDim.x) * TR + i % TR;
        if (r >= n) continue;
        float acc = 0.0f;
        for (uint32_t j = 0; j < G; j++)
            acc = fmaf(tw[j], ti[j] < mp.experts ? bf16(__ldcg(yt + (uint64_t)j * n + r)) : 0.0f, acc);
        sty(rt, r, bf16(__bfloat16_as_ushort(__float2bfloat16_rn(acc))) + bf16(rt[r]));
    }
    if (threadIdx.x == 0) *c = 0u;
}

/* The expert-routed int8 walk (qmoer, qmoerc; params_qmatmul.h): grid.y
 * the (token, expert) pair, whose grid.x blocks run qmvr on its rows of
 * x and aux and its expert's rows, each block owning the same tiles of
 * mlxc_qmvr_rows rows in every pair; with COMB then the experts' combine
 * (qmoe_combine).  The entry waits first (the ids are the routing's). */
template <int F, int BITS, bool COMB>
__device__ __forceinline__ void qmoer(const uint16_t *x, const uint16_t *aux, const uint16_t *g, const uint8_t *w,
                                      const void *scales, const void *biases, const uint32_t *__restrict__ ids,
                                      const float *rw, uint16_t *y, uint16_t *resid, uint32_t *ctr,
                                      const mlxc_p_qmoef &mp) {
    const mlxc_p_qmatmul &p = mp.v.q;
    const QmoeBlk<uint16_t> b = qmoe_blk<F>(ids, y, p, mp.experts, scales, biases);
    if (b.ok) {
        /* the expert's rows as the walk's base row (fewer live registers
         * than offset pointers: the walk fits 128 a thread); short rows
         * (mlxc_qmoer_j) hold more rows a warp */
        __shared__ __align__(16) QtcRed red;
        extern __shared__ __align__(16) uint8_t qvr_smem[];
        const uint64_t xo = (uint64_t)(blockIdx.y / mp.topk) * mp.x_stride;
        const QFuse fz = {aux + xo, g, mp.v.pro, mp.v.epi, mp.v.eps};
        const QBlk bk{blockIdx.x, gridDim.x, (uint32_t)b.row0};
        uint16_t *yp = b.yp;
        const uint16_t *sc = (const uint16_t *)scales, *bi = (const uint16_t *)biases;
        if constexpr (MLXC_QMVR_SHORT(F, BITS)) {
            if (mlxc_qmoer_j(F, BITS, p.k)) qmvr_run<F, BITS, 1>(x + xo, &fz, w, sc, bi, yp, p, red, qvr_smem, bk);
            else qmvr_run<F, BITS, 0, uint16_t, MLXC_QMVR_IN_EXPERTS>(x + xo, &fz, w, sc, bi, yp, p, red, qvr_smem, bk);
        } else {
            qmvr_run<F, BITS, 0, uint16_t, MLXC_QMVR_IN_EXPERTS>(x + xo, &fz, w, sc, bi, yp, p, red, qvr_smem, bk);
        }
    }
    if constexpr (COMB) qmoe_combine(ids, rw, y, resid, ctr, mp, mlxc_qmoer_rows(F, BITS, p.k));
}

/* qmvf: the fused mat-vec.  The ring path where the launch suits it (the
 * front-end's), else one thread per row reading global memory, correct
 * for any launch shape.  Either way block bk.id owns tiles bk.id,
 * bk.id + bk.n, ... of the rows: of QTC_ROWS rows on the ring, of
 * blockDim.x rows in the generic body, or with OWN of QTC_ROWS there too,
 * so that the caller knows which rows a block stored (qmoec). */
template <int F, int B>
__device__ __forceinline__ bool qvf_smem_ok(const uint16_t *x, const uint16_t *aux, const uint16_t *g, const uint8_t *w,
                                            const void *sc, const void *bi, const mlxc_p_qmatmul &p) {
    const uint32_t es = p.sdtype == MLXC_QS_F32 ? 4 : 2;
    return p.m == 1 && qring_ok<F, B, true>(w, sc, bi, p, mlxc_qmvf_smem_bytes(F, B, p.k, p.group, es)) &&
           (((uintptr_t)x | (uintptr_t)aux | (uintptr_t)g) & 15) == 0;
}

template <int F, int B, bool OWN = false>
__device__ __forceinline__ void qmvf(const uint16_t *__restrict__ x, const uint16_t *__restrict__ aux,
                                     const uint16_t *__restrict__ g, const uint8_t *__restrict__ w,
                                     const void *__restrict__ sc, const void *__restrict__ bi, uint16_t *__restrict__ y,
                                     const mlxc_p_qmvf &vp, QBlk bk = qblk()) {
    __shared__ __align__(16) QtcRed red;
    extern __shared__ __align__(16) uint8_t qtc_ring[];
    const mlxc_p_qmatmul &p = vp.q;
    const QFuse fz = {aux, g, vp.pro, vp.epi, vp.eps};
    if constexpr (has_smem<F, B>::v) {
        if (qvf_smem_ok<F, B>(x, aux, g, w, sc, bi, p)) {
            if (F != MLXC_QMMF_AFFINE) qmv_tc_smem<F, B, 0, true>(x, w, sc, bi, y, p, red, qtc_ring, &fz, bk);
            else if (p.sdtype == MLXC_QS_F32) qmv_tc_smem<F, B, MLXC_QS_F32, true>(x, w, sc, bi, y, p, red, qtc_ring, &fz, bk);
            else if (p.sdtype == MLXC_QS_F16) qmv_tc_smem<F, B, MLXC_QS_F16, true>(x, w, sc, bi, y, p, red, qtc_ring, &fz, bk);
            else qmv_tc_smem<F, B, MLXC_QS_BF16, true>(x, w, sc, bi, y, p, red, qtc_ring, &fz, bk);
            return;
        }
    }
    MLXC_PDL_WAIT();
    const uint32_t n = p.n, k = p.k;
    /* every thread its own inv_rms: slow, for launches nobody tunes */
    float inv = 1.0f;
    if (vp.pro == MLXC_QMVF_RMS_NORM) {
        float ss = 0.0f;
        for (uint32_t i = 0; i < k; i++) ss = fmaf(bf16(x[i]), bf16(x[i]), ss);
        inv = 1.0f / sqrtf(ss / (float)k + vp.eps);
    }
    auto row = [&](uint64_t r) {
        float acc = 0.0f, v[8];
        for (uint32_t e = 0; e < k; e += 8) {
            deq8<F, B>(w, sc, bi, p, (uint32_t)r, e, v);
#pragma unroll
            for (int j = 0; j < 8; j++) {
                const float a = bf16(x[e + j]);
                float xp = vp.pro == MLXC_QMVF_RMS_NORM   ? a * inv * bf16(g[e + j])
                           : vp.pro == MLXC_QMVF_SILU_MUL ? a * (1.0f / (1.0f + __expf(-a))) * bf16(aux[e + j])
                                                          : a;
                xp = bf16(__bfloat16_as_ushort(__float2bfloat16_rn(xp)));
                acc = fmaf(v[j], xp, acc);
            }
        }
        sty(y, r, vp.epi == MLXC_QMVF_ADD ? ldy(y, r) + rnd(y, acc) : acc);
    };
    if constexpr (OWN) {
        for (uint64_t r0 = (uint64_t)bk.id * QTC_ROWS; r0 < n; r0 += (uint64_t)bk.n * QTC_ROWS)
            for (uint64_t r = r0 + threadIdx.x; r < r0 + QTC_ROWS && r < n; r += blockDim.x) row(r);
    } else {
        const uint64_t stride = (uint64_t)bk.n * blockDim.x;
        for (uint64_t r = (uint64_t)bk.id * blockDim.x + threadIdx.x; r < n; r += stride) row(r);
    }
}

/* The expert-routed fused mat-vec (qmoef, params_qmatmul.h): grid.y is
 * the (token, expert) pair, and the pair's grid.x blocks run qmvf on its
 * token's rows of x and aux and its expert's rows, as qmoet runs qmvt.
 * The entry waits first: the ids are the routing's, so the weights cannot
 * be requested before it. */
template <int F, int B>
__device__ __forceinline__ void qmoef(const uint16_t *__restrict__ x, const uint16_t *__restrict__ aux,
                                      const uint16_t *__restrict__ g, const uint8_t *__restrict__ w,
                                      const void *__restrict__ scales, const void *__restrict__ biases,
                                      const uint32_t *__restrict__ ids, uint16_t *__restrict__ y,
                                      const mlxc_p_qmoef &mp) {
    const mlxc_p_qmatmul &p = mp.v.q;
    const QmoeBlk<uint16_t> b = qmoe_blk<F>(ids, y, p, mp.experts, scales, biases);
    if (!b.ok) return;
    const uint64_t xo = (uint64_t)(blockIdx.y / mp.topk) * mp.x_stride;
    qmvf<F, B>(x + xo, aux + xo, g, w + b.row0 * p.row_bytes, b.se, b.be, b.yp, mp.v);
}

/* The expert-routed fused mat-vec and the experts' combine in one pass
 * (qmoec, params_qmatmul.h): pair s = t * group + j runs qmvf on its own
 * rows of x and aux (s * x_stride on) and expert ids[s]'s rows into y + s
 * * n, as qmoef, each block of grid.x owning the same tiles of QTC_ROWS
 * rows in every pair; then qmoe_combine.  The combine is spread over the
 * grid.x blocks: no block waits for another. */
template <int F, int B>
__device__ __forceinline__ void qmoec(const uint16_t *__restrict__ x, const uint16_t *__restrict__ aux,
                                      const uint16_t *__restrict__ g, const uint8_t *__restrict__ w,
                                      const void *__restrict__ scales, const void *__restrict__ biases,
                                      const uint32_t *__restrict__ ids, const float *__restrict__ rw, uint16_t *y,
                                      uint16_t *__restrict__ resid, uint32_t *__restrict__ ctr, const mlxc_p_qmoef &mp) {
    const mlxc_p_qmatmul &p = mp.v.q;
    const QmoeBlk<uint16_t> b = qmoe_blk<F>(ids, y, p, mp.experts, scales, biases);
    if (b.ok) {
        const uint64_t xo = (uint64_t)blockIdx.y * mp.x_stride;
        qmvf<F, B, true>(x + xo, aux + xo, g, w + b.row0 * p.row_bytes, b.se, b.be, b.yp, mp.v);
    }
    qmoe_combine(ids, rw, y, resid, ctr, mp, QTC_ROWS);
}

/* ---------------------------------------------------------------------------
 * qmvf_q4_0t: the fused mat-vec of Q4_0 tiles (MLXC_Q4T_*, quant_blocks.h).
 *
 * The math: one mma.m16n8k16 (bf16 in, f32 accumulate) takes a tile's 16
 * weight rows as the A operand, thread (g, t) = (lane / 4, lane % 4)
 * supplying rows g and g + 8, and x' as the B operand, the same in every
 * column, so each thread receives its two rows' sums.  The 16 k slots of an
 * mma come from one 32-value block (one scale): thread t's slots are the 4
 * values of its own word of the block, which the tile record holds where
 * the thread's 16-byte slot is.  The codes become bf16 (q - 8) exactly
 * (lop_nib, then bsub), so the products are exact and each block's sum is
 * f32 before its scale multiplies it, as in the CPU reference.
 *
 * The stream: warp (row group gi, slice s) of a block walks records of its
 * slice of k for tile blockIdx.x * G + gi (then + gridDim.x * G, ...), a
 * step of MLXC_Q4T_UNITS records at a time.  Its lane 0 copies each step
 * into one of the warp's MLXC_Q4T_STAGES shared-memory stages with the copy
 * engine (cp.async.bulk onto the stage's mbarrier, L2 evict-first),
 * MLXC_Q4T_STAGES steps ahead; the first copies start before the wait for
 * the kernel before, since the weights do not depend on it.  The slices of
 * a tile meet in shared memory in a fixed order.  Every warp takes the
 * same number of steps a tile, so the block's barriers match.
 * ------------------------------------------------------------------------- */
/* The copy engine's bulk copies and mbarriers are sm_90 features: before
 * it, qmvf_q4_0t runs qmvf's generic body. */
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
/* Whether the tile walk takes this launch (the front-end's); else qmvf's
 * generic body runs. */
__device__ __forceinline__ bool q4t_ok(const uint16_t *x, const uint16_t *aux, const uint16_t *g, const uint8_t *w,
                                       const mlxc_p_qmvf &vp) {
    const uint32_t S = vp.slices;
    return blockDim.x == 32 * MLXC_Q4T_WARPS && (S == 1 || S == 2 || S == 4 || S == 8) && S <= MLXC_Q4T_WARPS &&
           vp.q.m == 1 && vp.q.k % MLXC_Q4T_COLS == 0 && vp.q.n % MLXC_Q4T_ROWS == 0 &&
           (((uintptr_t)x | (uintptr_t)aux | (uintptr_t)g | (uintptr_t)w) & 15) == 0 &&
           dyn_smem() >= mlxc_q4t_smem_bytes(vp.q.k);
}

__device__ __forceinline__ void qmvf_q4t(const uint16_t *__restrict__ x, const QFuse *fz, const uint8_t *__restrict__ w,
                                         uint16_t *__restrict__ y, const mlxc_p_qmvf &vp, QtcRed &red) {
    constexpr uint32_t NW = MLXC_Q4T_WARPS, U = MLXC_Q4T_UNITS, NS = MLXC_Q4T_STAGES, REC = MLXC_Q4T_RECORD;
    __shared__ __align__(8) uint64_t bars[NW][NS];
    extern __shared__ __align__(128) uint8_t q4t_smem[];
    const uint32_t k = vp.q.k, NB = k / 32, NC = k / MLXC_Q4T_COLS, S = vp.slices, G = NW / S;
    const uint32_t lane = threadIdx.x % 32, g = lane / 4, t = lane % 4, wi = threadIdx.x / 32, s = wi % S, gi = wi / S;
    const uint32_t CS = (NC + S - 1) / S, c0 = s * CS, c1 = min(c0 + CS, NC), SPT = (CS + U - 1) / U;
    const uint64_t ntiles = vp.q.n / MLXC_Q4T_ROWS;
    uint16_t *xf = (uint16_t *)q4t_smem;
    float *xsum = (float *)(q4t_smem + 2 * k);
    uint8_t *ring = q4t_smem + 2 * k + (NB * 4 + 15) / 16 * 16 + wi * NS * U * REC;
    float *part = &red.red[0][0][0]; /* [2][NW][16] */
    const uint64_t pol = mlxc_bulk::evict_first();
    /* step j: tile blockIdx.x + (j / SPT) gridDim.x of this row group,
     * records c0 + (j % SPT) U .. of the slice (nvalid of them) */
    auto tile_of = [&](uint32_t j) { return (uint64_t)blockIdx.x + (uint64_t)(j / SPT) * gridDim.x; };
    /* records of step j this warp reads: none past its slice or past the
     * last tile (a block's last row groups may have no tile) */
    auto nvalid = [&](uint32_t j) -> uint32_t {
        const uint32_t c = c0 + (j % SPT) * U;
        if (tile_of(j) * G + gi >= ntiles || c >= c1) return 0;
        return min(U, c1 - c);
    };
    auto issue = [&](uint32_t j) {
        const uint32_t nv = nvalid(j);
        if (lane == 0 && nv) {
            const uint64_t rt = tile_of(j) * G + gi;
            mlxc_bulk::copy(ring + (j % NS) * U * REC, w + (rt * NC + c0 + (j % SPT) * U) * REC, nv * REC, &bars[wi][j % NS],
                     pol);
        }
    };
    if (lane == 0)
        for (uint32_t i = 0; i < NS; i++) mlxc_bulk::bar_init(&bars[wi][i]);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    __syncwarp();
    for (uint32_t j = 0; j < NS; j++) issue(j);
    MLXC_PDL_WAIT();
    qvf_prologue<MLXC_QMMF_Q4_0T, 0>(x, fz, k, xf, xsum, red);
    float acc0 = 0.0f, acc1 = 0.0f;
    uint32_t rbuf = 0, phase = 0;
    for (uint32_t j = 0; tile_of(j) * G < ntiles; j++) {
        const uint32_t nv = nvalid(j), st = j % NS, cc = c0 + (j % SPT) * U;
        if (nv) {
            mlxc_bulk::bar_wait(&bars[wi][st], (phase >> st) & 1);
            phase ^= 1u << st;
        }
        const uint8_t *stg = ring + st * U * REC;
#pragma unroll
        for (uint32_t u = 0; u < U; u++) {
            if (u >= nv) break;
            const uint8_t *rec = stg + u * REC;
            const uint4 qA = *(const uint4 *)(rec + 16 * lane), qB = *(const uint4 *)(rec + 512 + 16 * lane);
            const uint2 sA = *(const uint2 *)(rec + 1024 + 8 * g), sB = *(const uint2 *)(rec + 1088 + 8 * g);
            const uint32_t wA[4] = {qA.x, qA.y, qA.z, qA.w}, wB[4] = {qB.x, qB.y, qB.z, qB.w};
            const uint32_t hA[4] = {sA.x & 0xffffu, sA.x >> 16, sA.y & 0xffffu, sA.y >> 16};
            const uint32_t hB[4] = {sB.x & 0xffffu, sB.x >> 16, sB.y & 0xffffu, sB.y >> 16};
#pragma unroll
            for (int i = 0; i < 4; i++) {
                /* block 4 (cc + u) + i: x' values 4t .. 4t + 3 as (x0, x2), (x1, x3)
                 * (qvf_perm), then 16 + 4t .. */
                const uint16_t *xb = xf + 32 * (4 * (cc + u) + i) + 4 * t;
                const uint2 x0 = *(const uint2 *)xb, x1 = *(const uint2 *)(xb + 16);
                /* A: the 16 x 16 weight fragment (rows g, g + 8), B: x' */
                float d[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                mmaA(d, bsub(lop_nib(wA[i]), QTC_N136), bsub(lop_nib(wB[i]), QTC_N136),
                     bsub(lop_nib(wA[i] >> 8), QTC_N136), bsub(lop_nib(wB[i] >> 8), QTC_N136), x0.x, x0.y);
                mmaA(d, bsub(lop_nib(wA[i] >> 4), QTC_N136), bsub(lop_nib(wB[i] >> 4), QTC_N136),
                     bsub(lop_nib(wA[i] >> 12), QTC_N136), bsub(lop_nib(wB[i] >> 12), QTC_N136), x1.x, x1.y);
                acc0 = fmaf(f16((uint16_t)hA[i]), d[0], acc0);
                acc1 = fmaf(f16((uint16_t)hB[i]), d[2], acc1);
            }
        }
        /* the stage is read: refill it NS steps ahead */
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        __syncwarp();
        issue(j + NS);
        if (j % SPT == SPT - 1) { /* the tile's slices are done */
            const uint64_t rt = tile_of(j) * G + gi;
            if (t == 0) part[(rbuf * NW + wi) * 16 + g] = acc0, part[(rbuf * NW + wi) * 16 + g + 8] = acc1;
            __syncthreads();
            if (s == 0 && lane < 16 && rt < ntiles) {
                float v = 0.0f;
                for (uint32_t i = 0; i < S; i++) v += part[(rbuf * NW + wi + i) * 16 + lane];
                const uint64_t o = rt * 16 + lane;
                sty(y, o, fz->epi == MLXC_QMVF_ADD ? ldy(y, o) + rnd(y, v) : v);
            }
            rbuf ^= 1;
            acc0 = acc1 = 0.0f;
        }
    }
}

#endif /* sm_90 */

} // namespace mlxc_qmm

/* extern "C" entry points: {qmv, qmm} x format x X x Y (X, Y: f32 float,
 * bf16 uint16_t bits). */
/* ENTRY(args..., X suffix, X type, Y suffix, Y type) for the four x/y
 * dtype pairs every mat-vec and mat-mat entry comes in. */
#define QM_XY_PAIRS(ENTRY, ...)                                                                                       \
    ENTRY(__VA_ARGS__, f32, float, f32, float)                                                                        \
    ENTRY(__VA_ARGS__, f32, float, bf16, uint16_t)                                                                    \
    ENTRY(__VA_ARGS__, bf16, uint16_t, f32, float)                                                                    \
    ENTRY(__VA_ARGS__, bf16, uint16_t, bf16, uint16_t)
#define QMM_ENTRY(OP, NAME, F, B, XS, XT, YS, YT)                                                                     \
    extern "C" __global__ void OP##_##NAME##_##XS##_##YS(const XT *x, const uint8_t *w, const void *scales,           \
                                                         const void *biases, YT *y, mlxc_p_qmatmul p) { MLXC_PDL_WAIT();               \
        mlxc_qmm::OP<F, B>(x, w, scales, biases, y, p);                                                               \
    }
#define QMM_XY(OP, NAME, F, B) QM_XY_PAIRS(QMM_ENTRY, OP, NAME, F, B)
#define QMM_FORMATS(OP)                                                                                               \
    QMM_XY(OP, affine2, MLXC_QMMF_AFFINE, 2)                                                                            \
    QMM_XY(OP, affine3, MLXC_QMMF_AFFINE, 3)                                                                            \
    QMM_XY(OP, affine4, MLXC_QMMF_AFFINE, 4)                                                                            \
    QMM_XY(OP, affine5, MLXC_QMMF_AFFINE, 5)                                                                            \
    QMM_XY(OP, affine6, MLXC_QMMF_AFFINE, 6)                                                                            \
    QMM_XY(OP, affine8, MLXC_QMMF_AFFINE, 8)                                                                            \
    QMM_XY(OP, mxfp4, MLXC_QMMF_MXFP4, 4)                                                                               \
    QMM_XY(OP, nvfp4, MLXC_QMMF_NVFP4, 4)                                                                               \
    QMM_XY(OP, mxfp8, MLXC_QMMF_MXFP8, 8)                                                                               \
    QMM_XY(OP, q4_0, MLXC_QMMF_Q4_0, 0)                                                                                 \
    QMM_XY(OP, q4_1, MLXC_QMMF_Q4_1, 0)                                                                                 \
    QMM_XY(OP, q5_0, MLXC_QMMF_Q5_0, 0)                                                                                 \
    QMM_XY(OP, q5_1, MLXC_QMMF_Q5_1, 0)                                                                                 \
    QMM_XY(OP, q8_0, MLXC_QMMF_Q8_0, 0)                                                                                 \
    QMM_XY(OP, q2_k, MLXC_QMMF_Q2_K, 0)                                                                                 \
    QMM_XY(OP, q3_k, MLXC_QMMF_Q3_K, 0)                                                                                 \
    QMM_XY(OP, q4_k, MLXC_QMMF_Q4_K, 0)                                                                                 \
    QMM_XY(OP, q5_k, MLXC_QMMF_Q5_K, 0)                                                                                 \
    QMM_XY(OP, q6_k, MLXC_QMMF_Q6_K, 0)                                                                                 \
    QMM_XY(OP, iq4_nl, MLXC_QMMF_IQ4_NL, 0)                                                                             \
    QMM_XY(OP, iq4_xs, MLXC_QMMF_IQ4_XS, 0)                                                                             \
    QMM_XY(OP, gmxfp4, MLXC_QMMF_GGML_MXFP4, 0)                                                                         \
    QMM_XY(OP, q4_0t, MLXC_QMMF_Q4_0T, 0)                                                                               \
    QMM_XY(OP, iq2_xxs, MLXC_QMMF_IQ2_XXS, 0)                                                                           \
    QMM_XY(OP, iq2_xs, MLXC_QMMF_IQ2_XS, 0)                                                                             \
    QMM_XY(OP, iq2_s, MLXC_QMMF_IQ2_S, 0)                                                                               \
    QMM_XY(OP, iq3_xxs, MLXC_QMMF_IQ3_XXS, 0)                                                                           \
    QMM_XY(OP, iq3_s, MLXC_QMMF_IQ3_S, 0)                                                                               \
    QMM_XY(OP, iq1_s, MLXC_QMMF_IQ1_S, 0)                                                                               \
    QMM_XY(OP, iq1_m, MLXC_QMMF_IQ1_M, 0)                                                                               \
    QMM_XY(OP, tq1_0, MLXC_QMMF_TQ1_0, 0)                                                                               \
    QMM_XY(OP, tq2_0, MLXC_QMMF_TQ2_0, 0)                                                                               \
    QMM_XY(OP, gnvfp4, MLXC_QMMF_GGML_NVFP4, 0)

QMM_FORMATS(qmv)
QMM_FORMATS(qmm)

/* qmvt_F_X_Y: at most MLXC_QMVT_THREADS threads a block (its registers). */
#define QMVT_ENTRY(NAME, F, B, XS, XT, YS, YT)                                                                        \
    extern "C" __global__ void __launch_bounds__(MLXC_QMVT_THREADS, F == MLXC_QMMF_Q6_K ? 1 : 2)                                               \
        qmvt_##NAME##_##XS##_##YS(const XT *x, const uint8_t *w, const void *scales, const void *biases, YT *y,      \
                                  mlxc_p_qmatmul p) { MLXC_PDL_INSIDE();                                                               \
        mlxc_qmm::qmvt<F, B>(x, w, scales, biases, y, p);                                                            \
    }
#define QMVT_XY(NAME, F, B) QM_XY_PAIRS(QMVT_ENTRY, NAME, F, B)
/* The formats with a ring, in qmvt and qmvf (mlxc_qmvt_ring_of). */
#define QMV_RING_FORMATS(M)                                                                                           \
    M(affine4, MLXC_QMMF_AFFINE, 4)                                                                                   \
    M(affine8, MLXC_QMMF_AFFINE, 8)                                                                                   \
    M(q4_0, MLXC_QMMF_Q4_0, 0) M(q4_1, MLXC_QMMF_Q4_1, 0) M(q8_0, MLXC_QMMF_Q8_0, 0) M(q4_k, MLXC_QMMF_Q4_K, 0)      \
    M(q5_k, MLXC_QMMF_Q5_K, 0) M(q6_k, MLXC_QMMF_Q6_K, 0)
QMV_RING_FORMATS(QMVT_XY)

#define QMVF_ENTRY(NAME, F, B)                                                                                        \
    extern "C" __global__ void __launch_bounds__(MLXC_QMVT_THREADS, MLXC_QMVF_BLOCKS)                          \
        qmvf_##NAME##_bf16_bf16(const uint16_t *x, const uint16_t *aux, const uint16_t *g, const uint8_t *w,         \
                                const void *scales, const void *biases, uint16_t *y, mlxc_p_qmvf p) { MLXC_PDL_INSIDE(); \
        mlxc_qmm::qmvf<F, B>(x, aux, g, w, scales, biases, y, p);                                                    \
    }
QMV_RING_FORMATS(QMVF_ENTRY)
#define QMOEF_ENTRY(NAME, F, B)                                                                                       \
    extern "C" __global__ void __launch_bounds__(MLXC_QMVT_THREADS, MLXC_QMVF_BLOCKS)                          \
        qmoef_##NAME##_bf16_bf16(const uint16_t *x, const uint16_t *aux, const uint16_t *g, const uint8_t *w,        \
                                 const void *scales, const void *biases, const uint32_t *ids, uint16_t *y,            \
                                 mlxc_p_qmoef p) { MLXC_PDL_WAIT();                                                  \
        mlxc_qmm::qmoef<F, B>(x, aux, g, w, scales, biases, ids, y, p);                                              \
    }
QMV_RING_FORMATS(QMOEF_ENTRY)
#define QMOEC_ENTRY(NAME, F, B)                                                                                       \
    extern "C" __global__ void __launch_bounds__(MLXC_QMVT_THREADS, MLXC_QMVF_BLOCKS)                          \
        qmoec_##NAME##_bf16_bf16(const uint16_t *x, const uint16_t *aux, const uint16_t *g, const uint8_t *w,        \
                                 const void *scales, const void *biases, const uint32_t *ids, const float *rw,         \
                                 uint16_t *y, uint16_t *resid, uint32_t *ctr, mlxc_p_qmoef p) { MLXC_PDL_WAIT();     \
        mlxc_qmm::qmoec<F, B>(x, aux, g, w, scales, biases, ids, rw, y, resid, ctr, p);                              \
    }
QMV_RING_FORMATS(QMOEC_ENTRY)
/* Q4_0 tiles: the tile walk where the launch suits it (the front-end's),
 * else qmvf's generic body. */
extern "C" __global__ void __launch_bounds__(32 * MLXC_Q4T_WARPS)
    qmvf_q4_0t_bf16_bf16(const uint16_t *x, const uint16_t *aux, const uint16_t *g, const uint8_t *w,
                         const void *scales, const void *biases, uint16_t *y, mlxc_p_qmvf p) { MLXC_PDL_INSIDE();
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (mlxc_qmm::q4t_ok(x, aux, g, w, p)) {
        __shared__ __align__(16) mlxc_qmm::QtcRed red;
        const mlxc_qmm::QFuse fz = {aux, g, p.pro, p.epi, p.eps};
        mlxc_qmm::qmvf_q4t(x, &fz, w, y, p, red);
        return;
    }
#endif
    mlxc_qmm::qmvf<MLXC_QMMF_Q4_0T, 0>(x, aux, g, w, scales, biases, y, p);
}

/* The int8 walk (act MLXC_QMVF_ACT_Q8; the front-end checked
 * mlxc_qmvr_takes and launches 32 MLXC_QMVR_WARPS threads with
 * mlxc_qmvr_smem_bytes). */
/* Q5_K's walk needs a few registers more than 128 on sm_80 (not on
 * sm_90a): one block an SM there. */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
#define QMVR_Q5K_BLOCKS 1
#else
#define QMVR_Q5K_BLOCKS MLXC_QMVR_BLOCKS
#endif
#define QMVR_ENTRY(NAME, F, BITS, MINB)                                                                               \
    extern "C" __global__ void __launch_bounds__(32 * MLXC_QMVR_WARPS, MINB)                                          \
        qmvr_##NAME##_bf16_bf16(const uint16_t *x, const uint16_t *aux, const uint16_t *g, const uint8_t *w,          \
                                const void *scales, const void *biases, uint16_t *y,                                  \
                                mlxc_p_qmvf vp) { MLXC_PDL_INSIDE();                                                  \
        mlxc_qmm::qmvr_kernel<F, BITS>(x, aux, g, w, scales, biases, y, vp);                                          \
    }
/* qmvr_F_bf16_f32: f32 y, the fused step's output head (the final norm
 * in its prologue, the logits stored as f32) */
#define QMVR_ENTRY_F32(NAME, F, BITS, MINB)                                                                           \
    extern "C" __global__ void __launch_bounds__(32 * MLXC_QMVR_WARPS, MINB)                                          \
        qmvr_##NAME##_bf16_f32(const uint16_t *x, const uint16_t *aux, const uint16_t *g, const uint8_t *w,           \
                               const void *scales, const void *biases, float *y, mlxc_p_qmvf vp) { MLXC_PDL_INSIDE(); \
        mlxc_qmm::qmvr_kernel<F, BITS, float>(x, aux, g, w, scales, biases, y, vp);                                   \
    }
/* qmvr_F_bf16_f32_argmax: that, then the greedy pick across the blocks */
#define QMVR_ENTRY_ARGMAX(NAME, F, BITS, MINB)                                                                        \
    extern "C" __global__ void __launch_bounds__(32 * MLXC_QMVR_WARPS, MINB) qmvr_##NAME##_bf16_f32_argmax(           \
        const uint16_t *x, const uint16_t *aux, const uint16_t *g, const uint8_t *w, const void *scales,              \
        const void *biases, float *y, uint32_t *token, float *logprob, uint32_t *scratch, mlxc_p_qmva pa) { MLXC_PDL_INSIDE(); \
        mlxc_qmm::qmvr_kernel<F, BITS, float>(x, aux, g, w, scales, biases, y, pa.v);                                 \
        mlxc_qmm::qmv_argmax(y, token, logprob, scratch, pa, mlxc_qmvr_rows(F, BITS, pa.v.q.k));                      \
    }
#define QMVR_ENTRIES(NAME, F, BITS, MINB)                                                                             \
    QMVR_ENTRY(NAME, F, BITS, MINB) QMVR_ENTRY_F32(NAME, F, BITS, MINB) QMVR_ENTRY_ARGMAX(NAME, F, BITS, MINB)
QMVR_ENTRIES(affine4, MLXC_QMMF_AFFINE, 4, MLXC_QMVR_BLOCKS)
QMVR_ENTRIES(affine8, MLXC_QMMF_AFFINE, 8, MLXC_QMVR_BLOCKS)
QMVR_ENTRIES(q4_k, MLXC_QMMF_Q4_K, 0, MLXC_QMVR_BLOCKS)
QMVR_ENTRIES(q5_k, MLXC_QMMF_Q5_K, 0, QMVR_Q5K_BLOCKS)
QMVR_ENTRIES(q6_k, MLXC_QMMF_Q6_K, 0, MLXC_QMVR_BLOCKS)

/* qmoer_F / qmoerc_F: the expert-routed int8 walk, without and with the
 * experts' combine, qmvr's launch bounds. */
#define QMOER_ENTRY(NAME, F, BITS, MINB)                                                                              \
    extern "C" __global__ void __launch_bounds__(32 * MLXC_QMVR_WARPS, MINB)                                          \
        qmoer_##NAME##_bf16_bf16(const uint16_t *x, const uint16_t *aux, const uint16_t *g, const uint8_t *w,         \
                                 const void *scales, const void *biases, const uint32_t *ids, uint16_t *y,            \
                                 mlxc_p_qmoef p) { MLXC_PDL_WAIT();                                                  \
        mlxc_qmm::qmoer<F, BITS, false>(x, aux, g, w, scales, biases, ids, nullptr, y, nullptr, nullptr, p);         \
    }                                                                                                                 \
    extern "C" __global__ void __launch_bounds__(32 * MLXC_QMVR_WARPS, MINB)                                          \
        qmoerc_##NAME##_bf16_bf16(const uint16_t *x, const uint16_t *aux, const uint16_t *g, const uint8_t *w,        \
                                  const void *scales, const void *biases, const uint32_t *ids, const float *rw,       \
                                  uint16_t *y, uint16_t *resid, uint32_t *ctr, mlxc_p_qmoef p) { MLXC_PDL_WAIT();    \
        mlxc_qmm::qmoer<F, BITS, true>(x, aux, g, w, scales, biases, ids, rw, y, resid, ctr, p);                     \
    }
QMOER_ENTRY(affine4, MLXC_QMMF_AFFINE, 4, MLXC_QMVR_BLOCKS)
QMOER_ENTRY(affine8, MLXC_QMMF_AFFINE, 8, MLXC_QMVR_BLOCKS)
QMOER_ENTRY(q4_k, MLXC_QMMF_Q4_K, 0, MLXC_QMVR_BLOCKS)
QMOER_ENTRY(q5_k, MLXC_QMMF_Q5_K, 0, QMVR_Q5K_BLOCKS)
QMOER_ENTRY(q6_k, MLXC_QMMF_Q6_K, 0, MLXC_QMVR_BLOCKS)

/* qmvp_F1_F2 (params_qmatmul.h): w2's walk (the first pp.blocks_b blocks:
 * qmvf's ring, or qmvr's where pp.b.act is MLXC_QMVF_ACT_Q8) and qmvr's
 * walk of w1 (the rest) in one launch, so that the q/k and v projections
 * of a layer whose v has another format run side by side in one kernel of
 * the decode step, not in two in a row.  qmvf's launch bounds (both
 * bodies' blocks are 256 threads, two an SM). */
#define QMVP_ENTRY(N1, F1, N2, F2)                                                                                    \
    extern "C" __global__ void __launch_bounds__(MLXC_QMVT_THREADS, MLXC_QMVF_BLOCKS)                                 \
        qmvp_##N1##_##N2##_bf16_bf16(const uint16_t *x, const uint16_t *g, const uint8_t *w1, const void *s1,         \
                                     const void *b1, uint16_t *y1, const uint8_t *w2, const void *s2, const void *b2, \
                                     uint16_t *y2, mlxc_p_qmvp pp) { MLXC_PDL_INSIDE();                               \
        if (blockIdx.x < pp.blocks_b && pp.b.act == MLXC_QMVF_ACT_Q8)                                                 \
            mlxc_qmm::qmvr_kernel<F2, 0, uint16_t, F1>(x, x, g, w2, s2, b2, y2, pp.b,                                  \
                                                       mlxc_qmm::QBlk{blockIdx.x, pp.blocks_b});                      \
        else if (blockIdx.x < pp.blocks_b)                                                                            \
            mlxc_qmm::qmvf<F2, 0>(x, x, g, w2, s2, b2, y2, pp.b, mlxc_qmm::QBlk{blockIdx.x, pp.blocks_b});            \
        else                                                                                                          \
            mlxc_qmm::qmvr_kernel<F1, 0, uint16_t, F2>(x, x, g, w1, s1, b1, y1, pp.a,                                 \
                                         mlxc_qmm::QBlk{blockIdx.x - pp.blocks_b, gridDim.x - pp.blocks_b});          \
    }
static_assert(32 * MLXC_QMVR_WARPS == MLXC_QMVT_THREADS, "qmvp: both parts' blocks alike");
QMVP_ENTRY(q4_k, MLXC_QMMF_Q4_K, q6_k, MLXC_QMMF_Q6_K)
QMVP_ENTRY(q5_k, MLXC_QMMF_Q5_K, q6_k, MLXC_QMMF_Q6_K)

#define QGATHER_ENTRY(NAME, F, B, YS, YT)                                                                            \
    extern "C" __global__ void qgather_##NAME##_##YS(const uint32_t *ids, const uint8_t *w, const void *scales,       \
                                                      const void *biases, YT *out, mlxc_p_qgather p) { MLXC_PDL_WAIT();                \
        mlxc_qmm::qgather<F, B>(ids, w, scales, biases, out, p);                                                     \
    }
#undef QMM_XY
#define QMM_XY(OP, NAME, F, B) QGATHER_ENTRY(NAME, F, B, f32, float) QGATHER_ENTRY(NAME, F, B, bf16, uint16_t)
QMM_FORMATS(qgather)

#define QMOE_ENTRY(NAME, F, B, XS, XT, YS, YT)                                                                        \
    extern "C" __global__ void qmoe_##NAME##_##XS##_##YS(const XT *x, const uint8_t *w, const void *scales,           \
                                                          const void *biases, const uint32_t *ids, YT *y,             \
                                                          mlxc_p_qmoe p) { MLXC_PDL_WAIT();                                            \
        mlxc_qmm::qmoe<F, B>(x, w, scales, biases, ids, y, p);                                                       \
    }
#undef QMM_XY
#define QMM_XY(OP, NAME, F, B) QM_XY_PAIRS(QMOE_ENTRY, NAME, F, B)
QMM_FORMATS(qmoe)
/* dense experts (mlxc_qmatmul_experts' MLXC_QF_F32 / F16 / BF16) */
QMM_XY(qmoe, f32, MLXC_QMMF_F32, 0)
QMM_XY(qmoe, f16, MLXC_QMMF_F16, 0)
QMM_XY(qmoe, bf16, MLXC_QMMF_BF16, 0)

/* qmoet_F_X_Y: qmvt's launch bounds, the formats with a ring; Q5_K with
 * f32 x takes one block an SM as Q6_K does (at two, the pair's offsets
 * spilled 16 bytes) */
#define QMOET_ENTRY(NAME, F, B, XS, XT, YS, YT)                                                                       \
    extern "C" __global__ void __launch_bounds__(                                                                     \
        MLXC_QMVT_THREADS, F == MLXC_QMMF_Q6_K || (F == MLXC_QMMF_Q5_K && sizeof(XT) == 4) ? 1 : 2)                   \
        qmoet_##NAME##_##XS##_##YS(const XT *x, const uint8_t *w, const void *scales, const void *biases,             \
                                   const uint32_t *ids, YT *y, mlxc_p_qmoe p) { MLXC_PDL_INSIDE();                    \
        mlxc_qmm::qmoet<F, B>(x, w, scales, biases, ids, y, p);                                                       \
    }
#define QMOET_XY(NAME, F, B) QM_XY_PAIRS(QMOET_ENTRY, NAME, F, B)
QMV_RING_FORMATS(QMOET_XY)

#define QMOEG_ENTRY(NAME, F, B, XS, XT, YS, YT)                                                                       \
    extern "C" __global__ void qmoeg_##NAME##_##XS##_##YS(const XT *x, const uint8_t *w, const void *scales,          \
                                                           const void *biases, const uint32_t *offsets,               \
                                                           const uint32_t *perm, YT *y, mlxc_p_qmoe p) { MLXC_PDL_WAIT();              \
        mlxc_qmm::qmoeg<F, B>(x, w, scales, biases, offsets, perm, y, p);                                            \
    }
#undef QMM_XY
#define QMM_XY(OP, NAME, F, B) QM_XY_PAIRS(QMOEG_ENTRY, NAME, F, B)
QMM_FORMATS(qmoeg)
QMM_XY(qmoeg, f32, MLXC_QMMF_F32, 0)
QMM_XY(qmoeg, f16, MLXC_QMMF_F16, 0)
QMM_XY(qmoeg, bf16, MLXC_QMMF_BF16, 0)

/* qmoegt_F_bf16_bf16: the tensor-core grouped mat-mat, every format.  No
 * launch bounds: with __launch_bounds__(256) ptxas held the raw-tile path
 * to 128 registers and spilled, with (256, 1) it took 152 (one block an
 * SM); unbounded it takes about 100, two 256-thread blocks an SM. */
#define QMOEGT_ENTRY(NAME, F, B)                                                                                      \
    extern "C" __global__ void                                                                                       \
        qmoegt_##NAME##_bf16_bf16(const uint16_t *x, const uint8_t *w, const void *scales, const void *biases,       \
                                  const uint32_t *offsets, const uint32_t *perm, uint16_t *y, mlxc_p_qmoe p) { MLXC_PDL_WAIT(); \
        mlxc_qmm::qmoegt<F, B>(x, w, scales, biases, offsets, perm, y, p);                                           \
    }
#undef QMM_XY
#define QMM_XY(OP, NAME, F, B) QMOEGT_ENTRY(NAME, F, B)
QMM_FORMATS(qmoegt)
QMM_XY(qmoegt, f32, MLXC_QMMF_F32, 0)
QMM_XY(qmoegt, f16, MLXC_QMMF_F16, 0)
QMM_XY(qmoegt, bf16, MLXC_QMMF_BF16, 0)
