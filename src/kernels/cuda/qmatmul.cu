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
 *   qmoe_F_X_Y  expert-routed mat-vec: one warp per (token-expert pair,
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

#include "kernels/params_qmatmul.h"

namespace mlxc_qmm {

__device__ __forceinline__ float f16(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf16(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }
__device__ __forceinline__ float ld16(const uint8_t *p) { return f16((uint16_t)(p[0] | p[1] << 8)); }

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
    const uint8_t *row = w + (uint64_t)r * p.row_bytes;
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
        const uint64_t gi = ((uint64_t)r * p.k + e) / p.group;
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
                            : 32;
    const uint8_t *b = row + (uint64_t)(e / be) * mlxc_qf_block_bytes(F);
    const uint32_t j0 = e % be;
    if (F == MLXC_QMMF_Q4_0 || F == MLXC_QMMF_IQ4_NL) {
        const float d = ld16(b);
#pragma unroll
        for (int t = 0; t < 8; t++)
            v[t] = F == MLXC_QMMF_Q4_0 ? d * (float)((int)nib(b + 2, j0 + t) - 8) : d * (float)iq4nl(nib(b + 2, j0 + t));
    } else if (F == MLXC_QMMF_Q4_1) {
        const float d = ld16(b), m = ld16(b + 2);
#pragma unroll
        for (int t = 0; t < 8; t++) v[t] = (float)nib(b + 4, j0 + t) * d + m;
    } else if (F == MLXC_QMMF_Q5_0 || F == MLXC_QMMF_Q5_1) {
        const bool one = F == MLXC_QMMF_Q5_1;
        const float d = ld16(b), m = one ? ld16(b + 2) : 0.0f;
        const uint8_t *qh = b + (one ? 4 : 2), *qs = b + (one ? 8 : 6);
        const uint32_t h = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
#pragma unroll
        for (int t = 0; t < 8; t++) {
            const uint32_t q = nib(qs, j0 + t) | ((h >> (j0 + t)) & 1) << 4;
            v[t] = one ? (float)q * d + m : (float)((int)q - 16) * d;
        }
    } else if (F == MLXC_QMMF_Q8_0) {
        const float d = ld16(b);
#pragma unroll
        for (int t = 0; t < 8; t++) v[t] = (float)(int8_t)b[2 + j0 + t] * d;
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

#define QMM_KC 64
template <int F, int B, typename X, typename Y>
__device__ __forceinline__ void qmm(const X *__restrict__ x, const uint8_t *__restrict__ w,
                                    const void *__restrict__ scales, const void *__restrict__ biases, Y *__restrict__ y,
                                    const mlxc_p_qmatmul &p) {
    __shared__ float xs[MLXC_QMM_BM][QMM_KC + 1], ws[MLXC_QMM_BN][QMM_KC + 1], acc[MLXC_QMM_BM][MLXC_QMM_BN];
    const uint32_t m = p.m, n = p.n, k = p.k, tid = threadIdx.x, nt = blockDim.x;
    const uint32_t tm = (m + MLXC_QMM_BM - 1) / MLXC_QMM_BM, tn = (n + MLXC_QMM_BN - 1) / MLXC_QMM_BN;
    for (uint64_t t = blockIdx.x; t < (uint64_t)tm * tn; t += gridDim.x) {
        const uint32_t i0 = (uint32_t)(t % tm) * MLXC_QMM_BM, c0 = (uint32_t)(t / tm) * MLXC_QMM_BN;
        for (uint32_t o = tid; o < MLXC_QMM_BM * MLXC_QMM_BN; o += nt) acc[o / MLXC_QMM_BN][o % MLXC_QMM_BN] = 0.0f;
        for (uint32_t kc = 0; kc < k; kc += QMM_KC) {
            __syncthreads();
            for (uint32_t o = tid; o < MLXC_QMM_BM * QMM_KC; o += nt) {
                const uint32_t i = o / QMM_KC, q = o % QMM_KC;
                xs[i][q] = (i0 + i < m && kc + q < k) ? ldx(x, (uint64_t)(i0 + i) * k + kc + q) : 0.0f;
            }
            for (uint32_t o = tid; o < MLXC_QMM_BN * (QMM_KC / 8); o += nt) {
                const uint32_t r = o / (QMM_KC / 8), q = (o % (QMM_KC / 8)) * 8;
                float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                if (c0 + r < n && kc + q < k) deq8<F, B>(w, scales, biases, p, c0 + r, kc + q, v);
#pragma unroll
                for (int u = 0; u < 8; u++) ws[r][q + u] = v[u];
            }
            __syncthreads();
            for (uint32_t o = tid; o < MLXC_QMM_BM * MLXC_QMM_BN; o += nt) {
                const uint32_t i = o / MLXC_QMM_BN, c = o % MLXC_QMM_BN;
                float s = 0.0f;
#pragma unroll 8
                for (uint32_t q = 0; q < QMM_KC; q++) s = fmaf(xs[i][q], ws[c][q], s);
                acc[i][c] += s;
            }
        }
        __syncthreads();
        for (uint32_t o = tid; o < MLXC_QMM_BM * MLXC_QMM_BN; o += nt) {
            const uint32_t i = o / MLXC_QMM_BN, c = o % MLXC_QMM_BN;
            if (i0 + i < m && c0 + c < n) sty(y, (uint64_t)(i0 + i) * n + c0 + c, acc[i][c]);
        }
        __syncthreads();
    }
}

/* out[r, e .. e + 7] for every (row, run of 8) unit, grid-stride. */
template <int F, int B, typename Y>
__device__ __forceinline__ void qgather(const uint32_t *__restrict__ ids, const uint8_t *__restrict__ w,
                                        const void *__restrict__ scales, const void *__restrict__ biases,
                                        Y *__restrict__ out, const mlxc_p_qgather &g) {
    const mlxc_p_qmatmul &p = g.q;
    const uint64_t runs = p.k / 8, units = (uint64_t)p.m * runs;
    const uint64_t stride = (uint64_t)gridDim.x * blockDim.x;
    for (uint64_t u = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; u < units; u += stride) {
        const uint64_t r = u / runs;
        const uint32_t e = (uint32_t)(u % runs) * 8, src = g.has_ids ? ids[r] : (uint32_t)r;
        float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        if (src < p.n) deq8<F, B>(w, scales, biases, p, src, e, v);
#pragma unroll
        for (int t = 0; t < 8; t++) sty(out, r * p.k + e + t, v[t] * g.scale);
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

} // namespace mlxc_qmm

/* extern "C" entry points: {qmv, qmm} x format x X x Y (X, Y: f32 float,
 * bf16 uint16_t bits). */
#define QMM_ENTRY(OP, NAME, F, B, XS, XT, YS, YT)                                                                     \
    extern "C" __global__ void OP##_##NAME##_##XS##_##YS(const XT *x, const uint8_t *w, const void *scales,           \
                                                         const void *biases, YT *y, mlxc_p_qmatmul p) {               \
        mlxc_qmm::OP<F, B>(x, w, scales, biases, y, p);                                                               \
    }
#define QMM_XY(OP, NAME, F, B)                                                                                        \
    QMM_ENTRY(OP, NAME, F, B, f32, float, f32, float)                                                                 \
    QMM_ENTRY(OP, NAME, F, B, f32, float, bf16, uint16_t)                                                             \
    QMM_ENTRY(OP, NAME, F, B, bf16, uint16_t, f32, float)                                                             \
    QMM_ENTRY(OP, NAME, F, B, bf16, uint16_t, bf16, uint16_t)
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
    QMM_XY(OP, gmxfp4, MLXC_QMMF_GGML_MXFP4, 0)

QMM_FORMATS(qmv)
QMM_FORMATS(qmm)

#define QGATHER_ENTRY(NAME, F, B, YS, YT)                                                                            \
    extern "C" __global__ void qgather_##NAME##_##YS(const uint32_t *ids, const uint8_t *w, const void *scales,       \
                                                      const void *biases, YT *out, mlxc_p_qgather p) {                \
        mlxc_qmm::qgather<F, B>(ids, w, scales, biases, out, p);                                                     \
    }
#undef QMM_XY
#define QMM_XY(OP, NAME, F, B) QGATHER_ENTRY(NAME, F, B, f32, float) QGATHER_ENTRY(NAME, F, B, bf16, uint16_t)
QMM_FORMATS(qgather)

#define QMOE_ENTRY(NAME, F, B, XS, XT, YS, YT)                                                                        \
    extern "C" __global__ void qmoe_##NAME##_##XS##_##YS(const XT *x, const uint8_t *w, const void *scales,           \
                                                          const void *biases, const uint32_t *ids, YT *y,             \
                                                          mlxc_p_qmoe p) {                                            \
        mlxc_qmm::qmoe<F, B>(x, w, scales, biases, ids, y, p);                                                       \
    }
#undef QMM_XY
#define QMM_XY(OP, NAME, F, B)                                                                                        \
    QMOE_ENTRY(NAME, F, B, f32, float, f32, float)                                                                    \
    QMOE_ENTRY(NAME, F, B, f32, float, bf16, uint16_t)                                                                \
    QMOE_ENTRY(NAME, F, B, bf16, uint16_t, f32, float)                                                                \
    QMOE_ENTRY(NAME, F, B, bf16, uint16_t, bf16, uint16_t)
QMM_FORMATS(qmoe)
